-- test/pgtap/68_find_patient_roles.sql: a lookup whose names, read by what the words are
-- (name_roles), leave it without any key is made with the names as the desk typed them, not
-- refused (issue 12, session 41).  «Владимир Бабич» typed as family and given name reads as a given
-- name and a patronymic (-ич) with no family name: no blocking rule can use that, and find_patient
-- refused the lookup (22023) although «Бабич Владимир» is stored.  As typed, the any-order name
-- rule meets him; a family name alone is still refused.
BEGIN;
SELECT plan(7);

SELECT cdp.register_source('reception', 'internal', 80) IS NOT NULL AS src \gset
SELECT cdp.upsert_record('reception', 'b1', '{"family_name": "Бабич", "given_name": "Владимир", "patronymic": "Петрович", "birth_date": "1971-03-14", "phone": "+7 916 555-10-01"}') IS NOT NULL AS r1 \gset
SELECT cdp.upsert_record('reception', 'b2', '{"family_name": "Бабич", "given_name": "Виктор", "birth_date": "1980-07-02"}') IS NOT NULL AS r2 \gset
SELECT cdp.upsert_record('reception', 'b3', '{"family_name": "Иванов", "given_name": "Владимир", "birth_date": "1965-11-20"}') IS NOT NULL AS r3 \gset
SELECT (cdp.run_matching('full') ->> 'processed')::int AS processed \gset

SELECT is(cdp.name_roles('Владимир', 'Бабич', NULL), ARRAY[NULL, 'Владимир', 'Бабич'],
          'the premise: «Владимир Бабич» reads as a given name and a patronymic, no family name');
SELECT lives_ok($$SELECT * FROM cdp.find_patient('{"family_name": "Владимир", "given_name": "Бабич"}')$$,
                'a lookup of «Владимир Бабич» typed as family and given name is made');
SELECT is((SELECT f.golden_id FROM cdp.find_patient('{"family_name": "Владимир", "given_name": "Бабич"}') f
            ORDER BY f.probability DESC LIMIT 1),
          (SELECT golden_id FROM cdp.record WHERE source_key = 'b1'),
          'and finds «Бабич Владимир» first');
SELECT is((SELECT f.golden_id FROM cdp.find_patient('{"family_name": "Владимир", "given_name": "Бабич", "birth_date": "1971-03-14"}') f
            ORDER BY f.probability DESC LIMIT 1),
          (SELECT golden_id FROM cdp.record WHERE source_key = 'b1'),
          'with his birth date too');
SELECT is((SELECT persons FROM cdp.find_patient_namesakes('{"family_name": "Владимир", "given_name": "Бабич"}')), 1::bigint,
          'find_patient_namesakes counts him: a family and a given name agree in either order');
SELECT throws_ok($$SELECT * FROM cdp.find_patient('{"family_name": "Бабич"}')$$, '22023', NULL,
                 'a family name alone is still refused');
SELECT is((SELECT persons FROM cdp.find_patient_namesakes('{"family_name": "Бабич", "given_name": "Владимир"}')), 1::bigint,
          'the names in their own order count him as before');

SELECT * FROM finish();
ROLLBACK;
