-- test/pgtap/66_match_dateless_ambiguous.sql: a record without a birth date whose pairs would link it
-- to two persons who cannot be one (a father and the son named after him, sharing the family's phone)
-- is not linked to either: it waits in the review queue with the reason `ambiguous` (issue 12,
-- session 39); the same record where only one such person exists is linked; full and incremental
-- runs and match_record agree.
BEGIN;
SELECT plan(16);

SELECT cdp.register_source(n) FROM unnest(ARRAY['reg', 'lab', 'app']) n;
-- the Petrovs: a father and the son named after him, both with their dates, sharing the family's
-- phone, each with a second record of his own; then a record with the name and the phone only
SELECT cdp.upsert_record('reg', 'f1', '{"family_name": "Петров", "given_name": "Дмитрий", "patronymic": "Сергеевич", "birth_date": "1970-05-05", "sex": "M", "phones": ["+79161234567"]}');
SELECT cdp.upsert_record('lab', 'f2', '{"family_name": "Петров", "given_name": "Дмитрий", "patronymic": "Сергеевич", "birth_date": "1970-05-05", "sex": "M", "phones": ["+79161234567"]}');
SELECT cdp.upsert_record('reg', 's1', '{"family_name": "Петров", "given_name": "Дмитрий", "patronymic": "Дмитриевич", "birth_date": "1998-02-02", "sex": "M", "phones": ["+79161234567"]}');
SELECT cdp.upsert_record('lab', 's2', '{"family_name": "Петров", "given_name": "Дмитрий", "patronymic": "Дмитриевич", "birth_date": "1998-02-02", "sex": "M", "phones": ["+79161234567"]}');
SELECT cdp.upsert_record('app', 'r1', '{"family_name": "Петров", "given_name": "Дмитрий", "sex": "M", "phones": ["+79161234567"]}');
-- the Orlovs: the father only, and the same kind of record: nothing to choose between
SELECT cdp.upsert_record('reg', 'g1', '{"family_name": "Орлов", "given_name": "Павел", "patronymic": "Ильич", "birth_date": "1965-07-08", "sex": "M", "phones": ["+79267654321"]}');
SELECT cdp.upsert_record('lab', 'g2', '{"family_name": "Орлов", "given_name": "Павел", "patronymic": "Ильич", "birth_date": "1965-07-08", "sex": "M", "phones": ["+79267654321"]}');
SELECT cdp.upsert_record('app', 'q1', '{"family_name": "Орлов", "given_name": "Павел", "sex": "M", "phones": ["+79267654321"]}');

-- the Sidorovs: a father and the son named after him again, and a record that shares the phone with
-- both and the e-mail and address with the father only: its evidence says whose it is
SELECT cdp.upsert_record('reg', 'h1', '{"family_name": "Сидоров", "given_name": "Олег", "patronymic": "Петрович", "birth_date": "1968-04-09", "sex": "M", "phones": ["+79031112233"], "emails": ["sidorov.o@example.org"], "address": "ул. Лесная, д. 5, кв. 12"}');
SELECT cdp.upsert_record('reg', 'k1', '{"family_name": "Сидоров", "given_name": "Олег", "patronymic": "Олегович", "birth_date": "1995-10-11", "sex": "M", "phones": ["+79031112233"]}');
SELECT cdp.upsert_record('app', 'w1', '{"family_name": "Сидоров", "given_name": "Олег", "sex": "M", "phones": ["+79031112233"], "emails": ["sidorov.o@example.org"], "address": "ул. Лесная, д. 5, кв. 12"}');

CREATE FUNCTION pg_temp.same(a text, b text) RETURNS boolean LANGUAGE sql AS $$
	SELECT (SELECT golden_id FROM cdp.record WHERE source_key = a) = (SELECT golden_id FROM cdp.record WHERE source_key = b) $$;
CREATE FUNCTION pg_temp.rid(k text) RETURNS bigint LANGUAGE sql AS $$ SELECT record_id FROM cdp.record WHERE source_key = k $$;
-- the persons as sets of source keys, for comparing runs
CREATE FUNCTION pg_temp.persons() RETURNS SETOF text LANGUAGE sql AS $$
	SELECT string_agg(source_key, ',' ORDER BY source_key) FROM cdp.record GROUP BY golden_id $$;

SELECT ok((cdp.run_matching('full') ->> 'processed')::int > 0, 'a full run');
SELECT ok(pg_temp.same('f1', 'f2') AND pg_temp.same('s1', 's2'), 'the father''s and the son''s records are each one person');
SELECT ok(NOT pg_temp.same('f1', 's1'), 'and the father is not the son');
SELECT ok(NOT pg_temp.same('r1', 'f1') AND NOT pg_temp.same('r1', 's1'),
          'the record with the name and the phone only is linked to neither');
SELECT ok(EXISTS (SELECT 1 FROM cdp.review_queue q
                   WHERE q.reason = 'ambiguous'
                     AND pg_temp.rid('r1') IN (q.record_a, q.record_b)),
          'it waits in the review queue as ambiguous');
SELECT ok(pg_temp.same('q1', 'g1'), 'the same kind of record is linked where only one person fits it');
SELECT ok(pg_temp.same('w1', 'h1') AND NOT pg_temp.same('w1', 'k1'),
          'and where its pairs say far more for one of the two (the e-mail and the address too), it is that one''s');

-- full again: nothing changes (a second run on the same data links nothing more)
CREATE TEMP TABLE p1 AS SELECT * FROM pg_temp.persons() p;
SELECT is((cdp.run_matching('full') ->> 'linked')::int, 0, 'a second full run links nothing');
SELECT set_eq('SELECT * FROM pg_temp.persons()', 'SELECT * FROM p1', 'and keeps the persons');

-- incremental: the dateless record arrives after the others
SELECT cdp.upsert_record('app', 'r2', '{"family_name": "Петров", "given_name": "Дмитрий", "sex": "M", "phones": ["+79161234567"], "emails": ["petrov@example.org"]}');
SELECT ok((cdp.run_matching('incremental') ->> 'processed')::int > 0, 'an incremental run');
SELECT ok(NOT pg_temp.same('r2', 'f1') AND NOT pg_temp.same('r2', 's1'),
          'a later record with the name and the phone only is linked to neither either');
-- match_record of a third such record, before any run has seen it
SELECT cdp.upsert_record('reg', 'r3', '{"family_name": "Петров", "given_name": "Дмитрий", "sex": "M", "phones": ["+79161234567"]}');
SELECT is((SELECT count(*) FROM cdp.match_record(pg_temp.rid('r3')) m WHERE m.decision = 'link'), 0::bigint,
          'match_record says link to nobody for a third one');
-- control: without the birth-date constraint (no birth_date in disagree_never) the plan reads no
-- dates and the rule is off: the record with the name and the phone only is linked
SELECT cdp.configure_matching(jsonb_set((SELECT settings FROM cdp_internal.match_settings WHERE active),
	'{rules,disagree_never}', '["given_name", "patronymic"]')) IS NOT NULL AS cfg \gset
SELECT cdp.run_matching('full') IS NOT NULL AS run \gset
SELECT ok(pg_temp.same('r1', 'f1') OR pg_temp.same('r1', 's1'), 'control: without the constraint it is linked');

-- the plan itself: a father (1), a son (2) and a dateless record (3) both pairs would link
SELECT results_eq($$SELECT action::text, reason FROM cdp_internal._match_run_plan(ARRAY[1, 2], ARRAY[1, 2]::bigint[], ARRAY[3, 3]::bigint[],
                     ARRAY[0.95, 0.95], ARRAY[0, 0], ARRAY[1, 2, 3]::bigint[], ARRAY[1, 2, 3]::bigint[], ARRAY['19700505', '19980202', NULL],
                     NULL, 0, NULL, NULL, NULL, NULL, 0.9, 0.5, ARRAY['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'], 20, 0.5) ORDER BY ord$$,
                  $$VALUES ('h', 'i'), ('h', 'i')$$,
                  'the plan holds both pairs of the dateless record with the ninth reason');
SELECT results_eq($$SELECT action::text, reason FROM cdp_internal._match_run_plan(ARRAY[1, 2], ARRAY[1, 2]::bigint[], ARRAY[3, 3]::bigint[],
                     ARRAY[0.95, 0.95], ARRAY[0, 0], ARRAY[1, 2, 3]::bigint[], ARRAY[1, 2, 3]::bigint[], ARRAY['19700505', '19980202', NULL],
                     NULL, 0, NULL, NULL, NULL, NULL, 0.9, 0.5, ARRAY['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'], 20, 0.5) ORDER BY ord$$,
                  $$VALUES ('l', NULL::text), ('h', 'e')$$,
                  'without that reason the rule is off: the first pair links, the second contradicts');
SELECT throws_ok($$SELECT * FROM cdp_internal._match_run_plan(ARRAY[1, 2], ARRAY[1, 2]::bigint[], ARRAY[3, 3]::bigint[],
                     ARRAY[0.95, 0.95], ARRAY[0, 0], ARRAY[1, 2, 3]::bigint[], ARRAY[1, 2, 3]::bigint[], ARRAY['19700505', '19980202', NULL],
                     NULL, 0, NULL, NULL, NULL, NULL, 0.9, 0.5, ARRAY['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'], 20, 0.5)$$,
                 '2202E', 'arrays given to _match_link_plan do not match in length', 'a reason too many is refused');

SELECT * FROM finish();
ROLLBACK;
