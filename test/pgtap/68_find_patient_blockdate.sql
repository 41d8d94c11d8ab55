-- test/pgtap/68_find_patient_blockdate.sql: find_patient splits its candidates by the birth dates the
-- block key index carries (cdp_internal.match_block.birth_date, session 28, issue 18), no longer by
-- the records' own (read through the primary key cdp.record_pkey, record_find_by_id before session 31).  The two must give the same persons in the
-- same order: here twenty «Иванова Мария» born on different days (one a digit off the day asked
-- for, one with day and month exchanged), eight without a date, and a few other names sharing a
-- word, looked up with each of several dates: the orders session 27's definition gave; and a
-- record whose date changed since its keys were written (queued) is split by its record's date.
BEGIN;
SELECT plan(10);

SELECT cdp.register_source('reg') IS NOT NULL AS src \gset
-- twenty «Иванова Мария», each born on another day: iv5 on 04.03.1961, iv6 a digit off it
-- (06.03.1961), iv7 with day and month exchanged (03.04.1961), each with her own patronymic (so
-- not linked), and iv5b, another person born on the day iv5 was
SELECT cdp.upsert_record('reg', 'iv' || i, jsonb_build_object('family_name', 'Иванова', 'given_name', 'Мария', 'sex', 'F',
         'patronymic', CASE i WHEN 5 THEN 'Петровна' WHEN 6 THEN 'Ивановна' WHEN 7 THEN 'Олеговна' END,
         'birth_date', CASE i WHEN 5 THEN '1961-03-04' WHEN 6 THEN '1961-03-06' WHEN 7 THEN '1961-04-03' ELSE (date '1950-01-01' + i * 811)::text END))
  FROM generate_series(1, 20) i;
SELECT cdp.upsert_record('reg', 'iv5b', '{"family_name":"Иванова","given_name":"Мария","patronymic":"Сергеевна","birth_date":"1961-03-04","sex":"F"}');
-- eight without a date, each with her own patronymic
SELECT cdp.upsert_record('reg', 'n' || i, jsonb_build_object('family_name', 'Иванова', 'given_name', 'Мария', 'patronymic', p, 'sex', 'F'))
  FROM unnest(ARRAY['Алексеевна', 'Борисовна', 'Викторовна', 'Глебовна', 'Денисовна', 'Евгеньевна', 'Игоревна', 'Кирилловна'])
       WITH ORDINALITY v(p, i);
-- others sharing a word, some born on the day asked for
SELECT cdp.upsert_record('reg', 'o' || i, jsonb_build_object('family_name', f, 'given_name', g, 'birth_date', d))
  FROM (VALUES (1, 'Иванова', 'Елена', '1961-03-04'), (2, 'Петрова', 'Мария', '1961-03-04'),
               (3, 'Ivanova', 'Maria', NULL), (4, 'Иванов', 'Иван', '1961-03-04')) v(i, f, g, d);
SELECT is((cdp.run_matching() ->> 'processed')::int > 0, true, 'the records are matched');

-- every block row carries its record's birth date
SELECT is((SELECT count(*)::int FROM cdp_internal.match_block m JOIN cdp.record r USING (record_id)
            WHERE m.birth_date IS DISTINCT FROM r.birth_date), 0,
          'after a run every block row carries its record''s birth date');

CREATE TEMP TABLE q (k int, a jsonb, n int);
INSERT INTO q
SELECT row_number() OVER (ORDER BY i, n), jsonb_build_object('family_name', 'Иванова', 'given_name', 'Мария', 'birth_date', d), n
  FROM unnest(ARRAY['1961-03-04', '1961-03-05', '1961-04-03', '1955-05-17', '2001-01-01']) WITH ORDINALITY v(d, i), unnest(ARRAY[10, 40]) n;
-- (per lookup: the persons listed in order, each with its probability, and the records)
CREATE TEMP TABLE byblock AS
SELECT q.k, x.* FROM q CROSS JOIN LATERAL (
  SELECT array_agg(f.g ORDER BY o) AS gs, array_agg(round(f.p::numeric, 6) ORDER BY o) AS ps,
         array_agg(r.source_key ORDER BY o) AS keys
    FROM cdp.find_patient(q.a, q.n) WITH ORDINALITY f(g, p, rid, s, o) JOIN cdp.record r ON r.record_id = f.rid) x;
SELECT is((SELECT count(*)::int FROM byblock WHERE cardinality(keys) >= 10), 10, 'ten lookups, each lists at least ten persons');
SELECT is((SELECT keys FROM byblock WHERE k = 1),
          '{iv5,iv5b,iv7,iv6,o1,o2,o4,n1,n2,n3}'::text[],
          'the namesakes born on the day asked for, with day and month exchanged, a digit off, then those sharing a word born that day, then without a date');
SELECT is((SELECT keys FROM byblock WHERE k = 2)[1:13],
          '{iv5,iv5b,iv7,iv6,o1,o2,o4,n1,n2,n3,n4,n5,n6}'::text[],
          'asked for forty, the same first ten, then more without a date');
SELECT is((SELECT count(*)::int FROM byblock b, unnest(b.keys) WITH ORDINALITY u(key, o)
            WHERE b.k = 2 AND u.key ~ '^iv' AND u.key NOT IN ('iv5', 'iv5b', 'iv6', 'iv7')
              AND u.o < (SELECT max(v.o) FROM unnest(b.keys) WITH ORDINALITY v(key, o) WHERE v.key ~ '^n')), 0,
          'the namesakes born on other days (the second pass) come after every namesake without a date');

-- the orders session 27's definition gives (candidates split by the records' own dates, read
-- through cdp.record_pkey), for each of the ten lookups; the second pass runs for 2001-01-01
-- (nine persons without a date or born near it, then iv1)
SELECT is((SELECT array_agg(b.keys::text ORDER BY b.k) FROM byblock b),
          ARRAY['{iv5,iv5b,iv7,iv6,o1,o2,o4,n1,n2,n3}',
                '{iv5,iv5b,iv7,iv6,o1,o2,o4,n1,n2,n3,n4,n5,n6,n7,n8,o3,iv1,iv2,iv3,iv4,iv8,iv9,iv10,iv11,iv12,iv13,iv14,iv15,iv16,iv17,iv18,iv19,iv20}',
                '{iv5,iv6,iv5b,n1,n2,n3,n4,n5,n6,n7}',
                '{iv5,iv6,iv5b,n1,n2,n3,n4,n5,n6,n7,n8,o3,o1,o4,iv1,iv2,iv3,iv4,iv7,iv8,iv9,iv10,iv11,iv12,iv13,iv14,iv15,iv16,iv17,iv18,iv19,iv20}',
                '{iv7,iv5,iv5b,n1,n2,n3,n4,n5,n6,n7}',
                '{iv7,iv5,iv5b,n1,n2,n3,n4,n5,n6,n7,n8,o3,o1,o2,o4,iv1,iv2,iv3,iv4,iv6,iv8,iv9,iv10,iv11,iv12,iv13,iv14,iv15,iv16,iv17,iv18,iv19,iv20}',
                '{n1,n2,n3,n4,n5,n6,n7,n8,o3,iv1}',
                '{n1,n2,n3,n4,n5,n6,n7,n8,o3,iv1,iv2,iv3,iv4,iv5,iv6,iv7,iv8,iv9,iv10,iv11,iv12,iv13,iv14,iv15,iv16,iv17,iv18,iv19,iv20,iv5b}',
                '{n1,n2,n3,n4,n5,n6,n7,n8,o3,iv1}',
                '{n1,n2,n3,n4,n5,n6,n7,n8,o3,iv1,iv2,iv3,iv4,iv5,iv6,iv7,iv8,iv9,iv10,iv11,iv12,iv13,iv14,iv15,iv16,iv17,iv18,iv19,iv20,iv5b}'],
          'all ten lookups list the persons session 27''s split by the records'' dates listed, in its order');

-- a record changed since its keys were written: iv9 now born on the day asked for.  Its block rows
-- still carry the old date, which contradicts the day asked for; it is queued, so find_patient
-- reads its date from the record and scores it in the first pass: it agrees, and comes before the
-- namesakes without a date (split by its block rows' date it would wait for a second pass that
-- the first ten make unnecessary).  (Two hundred and one records registered after it keep it out of
-- the newest queued records that a lookup also scores with features computed now, so only the
-- split can bring it into the first ten.)
SELECT cdp.upsert_record('reg', 'iv9', '{"family_name":"Иванова","given_name":"Мария","patronymic":"Львовна","sex":"F","birth_date":"1961-03-04"}');
SELECT cdp.upsert_record('reg', 'z' || i, jsonb_build_object('family_name', 'Смирнов', 'given_name', 'Пётр', 'birth_date', (date '1930-01-01' + i)::text))
  FROM generate_series(1, 201) i;
SELECT is((SELECT count(*)::int FROM cdp_internal.match_block m JOIN cdp.record r USING (record_id)
            WHERE r.source_key = 'iv9' AND m.birth_date IS DISTINCT FROM r.birth_date) > 0, true,
          'a changed record''s block rows keep the old date until it is matched again');
SELECT ok((SELECT min(o) FILTER (WHERE r.source_key = 'iv9') < min(o) FILTER (WHERE r.source_key ~ '^n')
             FROM cdp.find_patient('{"family_name":"Иванова","given_name":"Мария","birth_date":"1961-03-04"}', 10)
                  WITH ORDINALITY f(g, p, rid, s, o) JOIN cdp.record r ON r.record_id = f.rid),
          'the changed record born on the day asked for agrees: among the first ten, before the namesakes without a date');
-- an incremental run re-keys it: its block rows carry the new date
SELECT cdp.run_matching();
SELECT is((SELECT count(*)::int FROM cdp_internal.match_block m JOIN cdp.record r USING (record_id)
            WHERE m.birth_date IS DISTINCT FROM r.birth_date), 0,
          'after the next run every block row carries its record''s birth date again');

SELECT * FROM finish();
ROLLBACK;
