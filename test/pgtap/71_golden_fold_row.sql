-- test/pgtap/71_golden_fold_row.sql: the live re-fold's fast path, cdp_internal.golden_fold_row
-- (src/golden_fold_row.c: the row of one person folded from its records' columns), gives exactly
-- the row of the general path, golden_row(golden_id, golden_fold_docs(<golden_record_doc_of of each
-- record>, rules), status, status_at, last_visit, rules_version), on generated persons of 1 to 13
-- records under several rule sets: NULL and empty values, ties on every rule (same trust, same
-- updated_at, same value in several records, values of equal length), validated given as true,
-- 'yes', false, missing or in an extra that is not an object, records without a source (trust 0),
-- updated_at infinite or NULL, dates before 1900 in a time zone whose offset then had seconds,
-- identifiers, duplicated and NULL contacts, handles with nested, numeric, empty and scalar values,
-- rule lists that repeat a rule or are empty, keys that are not columns; records given in any
-- order.  Then the live path: golden_compute (which golden_refold and the merge run) on persons
-- made by upsert_record and link_records equals the general path on the same records.  And its
-- refusals.
BEGIN;
SELECT plan(14);

SET LOCAL TIME ZONE 'Europe/Moscow';
SELECT setseed(0.35) IS NULL AS seeded \gset
CREATE TEMP TABLE fr_recs AS
WITH g AS (
  SELECT c, k,
         random() r1, random() r2, random() r3, random() r4, random() r5, random() r6, random() r7, random() r8, random() r9
    FROM generate_series(1, 1200) c, LATERAL generate_series(1, 1 + (c % 7) * (c % 3)) k)
SELECT c, k,
       ROW(c * 100 + (k * 37) % 11 + k * 13,
           CASE WHEN r1 < 0.1 THEN NULL ELSE 1 + (r1 * 3)::int END,
           CASE WHEN r2 < 0.1 THEN NULL WHEN r2 < 0.5 THEN 50 ELSE (r2 * 100)::int END,
           (ARRAY['Иванов', 'Иванова', 'Ivanov', '', NULL, 'Иванов', 'Петров-Водкин'])[1 + (r6 * 6)::int],
           (ARRAY['Анна', 'Аня', 'Anna', NULL])[1 + (r7 * 3)::int],
           CASE WHEN r8 < 0.5 THEN NULL ELSE 'Петровна' END,
           (ARRAY[date '1980-01-02', date '1980-02-01', NULL, date '1850-06-01'])[1 + (r4 * 3)::int],
           (ARRAY['F', 'M', NULL])[1 + (r3 * 2)::int],
           CASE WHEN r6 < 0.2 THEN NULL WHEN r6 < 0.3 THEN '{}'::cdp.phone[]
                ELSE ARRAY['+7916000000' || (r7 * 3)::int, '+7926000000' || (r8 * 2)::int, NULL]::cdp.phone[] END,
           CASE WHEN r7 < 0.5 THEN ARRAY['a@b.ru', 'B' || (r1 * 2)::int || '@mail.ru', 'a@b.ru']::cdp.email[] END,
           CASE WHEN r1 < 0.5 THEN '112-233-445 95'::cdp.snils END,
           CASE WHEN r2 < 0.3 THEN '1234567890123452'::cdp.oms WHEN r2 < 0.4 THEN '7700000000000016'::cdp.oms END,
           (ARRAY['ул. Ленина, 1', 'Ленина 1', 'г. Москва, ул. Ленина, д. 1', NULL])[1 + (r8 * 3)::int],
           (ARRAY['Москва', 'Moscow', 'Казань', ''])[1 + (r9 * 3)::int],
           CASE WHEN r8 < 0.3 THEN NULL WHEN r8 < 0.4 THEN '["x"]'::jsonb WHEN r8 < 0.45 THEN '"vk"'::jsonb
                ELSE jsonb_build_object('vk', 'id' || (r2 * 2)::int, 'telegram', CASE WHEN r3 < 0.5 THEN 't1' ELSE '' END,
                                        'ok', NULL, 'max', CASE WHEN r4 < 0.3 THEN '{"a": 1}'::jsonb WHEN r4 < 0.6 THEN '12.50'::jsonb END) END,
           CASE WHEN r3 < 0.1 THEN NULL WHEN r3 < 0.15 THEN '[true]'::jsonb WHEN r3 < 0.3 THEN '{"validated": "Yes"}'::jsonb
                WHEN r3 < 0.7 THEN '{"validated": false}'::jsonb ELSE '{"validated": true}'::jsonb END,
           CASE WHEN r4 < 0.05 THEN NULL WHEN r4 < 0.1 THEN timestamptz '1880-03-01 12:00:00+02:30:17'
                ELSE timestamptz '2020-01-01 00:00:00Z' + (r4 * 4)::int * interval '1 day' + r5 * interval '1 hour' END,
           CASE WHEN r5 < 0.05 THEN NULL WHEN r5 < 0.1 THEN timestamptz 'infinity' WHEN r5 < 0.3 THEN timestamptz '1969-12-31 23:59:59Z'
                ELSE timestamptz '2021-01-01 00:00:00Z' + (r5 * 5)::int * interval '1 day' END
       )::cdp_internal.golden_fold_input AS rec,
       r9
  FROM g;
CREATE TEMP TABLE fr_rules (n int, rules jsonb);
INSERT INTO fr_rules VALUES
 (1, cdp.golden_default_rules()),
 (2, '{"family_name": ["trusted"], "given_name": ["recent", "trusted"], "city": ["frequent", "complete"], "address": ["complete"], "sex": ["validated"], "birth_date": [], "oms": ["recent"]}'),
 (3, '{"family_name": ["complete", "frequent", "recent", "trusted", "validated"], "given_name": ["validated", "validated"], "snils": ["frequent"], "phones": ["recent"], "record_id": ["trusted"], "patronymic": ["frequent", "recent"]}'),
 (4, '{}');

SELECT cmp_ok((SELECT count(DISTINCT c) FROM fr_recs WHERE c IN (SELECT c FROM fr_recs GROUP BY c HAVING count(*) > 1)), '>', 500::bigint,
              'most generated persons have several records');

-- each person's row both ways (records in a random order: both sort them by record id); the
-- status arguments vary too
CREATE TEMP TABLE fr_cmp AS
SELECT r.n, p.c,
       cdp_internal.golden_fold_row(p.c, p.recs, r.rules, 7, p.status, p.status_at, p.last_visit) AS fast,
       cdp_internal.golden_row(p.c, cdp_internal.golden_fold_docs(p.docs, r.rules), p.status, p.status_at, p.last_visit, 7) AS general
  FROM (SELECT f.c,
               array_agg(f.rec ORDER BY f.r9) AS recs,
               array_agg(cdp_internal.golden_record_doc_of((f.rec).record_id, (f.rec).source_id, (f.rec).trust, (f.rec).family_name,
                   (f.rec).given_name, (f.rec).patronymic, (f.rec).birth_date, (f.rec).sex, (f.rec).phones, (f.rec).emails,
                   (f.rec).snils, (f.rec).oms, (f.rec).address, (f.rec).city, (f.rec).handles, (f.rec).extra,
                   (f.rec).created_at, (f.rec).updated_at) ORDER BY f.k) AS docs,
               CASE f.c % 3 WHEN 0 THEN 'archived' END AS status,
               CASE f.c % 3 WHEN 0 THEN timestamptz '2022-02-02 10:00Z' END AS status_at,
               CASE WHEN f.c % 4 = 0 THEN timestamptz '2023-03-03 11:00Z' END AS last_visit
          FROM fr_recs f GROUP BY f.c) p,
       fr_rules r;

SELECT is((SELECT count(*) FROM fr_cmp WHERE (fast).golden_id IS NULL OR general IS NULL), 0::bigint,
          'every person gets a row both ways');
SELECT is_empty(format($$SELECT c FROM fr_cmp WHERE n = %s AND (fast::text IS DISTINCT FROM general::text
                                                              OR to_jsonb(fast) IS DISTINCT FROM to_jsonb(general))$$, n),
                format('golden_fold_row equals golden_row(golden_fold_docs(...)): rule set %s', n))
  FROM generate_series(1, 4) n ORDER BY n;
-- the fixture reaches what it is meant to: winners decided past the first rule, contacts merged
SELECT cmp_ok((SELECT count(*) FROM fr_cmp WHERE n = 1 AND jsonb_array_length((fast).phones) > 2
                 AND (fast).phones::text LIKE '%"sources": [%,%'), '>', 50::bigint,
              'many rows have contacts from several records');
SELECT cmp_ok((SELECT count(DISTINCT (fast).family_name) FROM fr_cmp WHERE n IN (1, 3)), '>=', 4::bigint,
              'the winners of the family name vary');

-- the live path: persons made by ingest and merged by link_records, folded by golden_compute,
-- equal the general path over the same records
SELECT count(cdp.register_source(s, 'internal', t)) AS n_sources FROM (VALUES ('fr_reg', 70), ('fr_lab', 70), ('fr_web', 20)) v(s, t) \gset
SELECT count(cdp.upsert_record((ARRAY['fr_reg', 'fr_lab', 'fr_web'])[1 + k % 3], 'fr' || k,
        jsonb_build_object('family_name', (ARRAY['Зуева', 'Зуева', 'Зуева-Ким', ''])[1 + k % 4],
                           'given_name', (ARRAY['Яна', 'Яна', 'Янина'])[1 + k % 3],
                           'birth_date', CASE WHEN k % 5 <> 0 THEN '1990-0' || (1 + k % 2) || '-15' END,
                           'sex', 'F',
                           'phones', jsonb_build_array('+7916555000' || (k % 3)),
                           'snils', CASE WHEN k % 2 = 0 THEN '112-233-445 95' END,
                           'city', (ARRAY['Казань', 'Kazan'])[1 + k % 2],
                           'validated', k % 7 = 0,
                           'handles', jsonb_build_object('telegram', '@zu' || (k % 2)))))
  FROM generate_series(1, 60) k;
SELECT count(cdp.link_records(a.record_id, b.record_id, NULL))
  FROM (SELECT record_id, row_number() OVER (ORDER BY record_id) AS i FROM cdp.record r
          JOIN cdp.source s USING (source_id) WHERE s.name LIKE 'fr\_%') a
  JOIN (SELECT record_id, row_number() OVER (ORDER BY record_id) AS i FROM cdp.record r
          JOIN cdp.source s USING (source_id) WHERE s.name LIKE 'fr\_%') b ON b.i = a.i + 1 AND a.i % 6 <> 0;
SELECT cmp_ok((SELECT max(record_count) FROM cdp.patient), '>=', 5, 'the live persons have several records');
SELECT is_empty($$
  WITH ids AS (SELECT array_agg(golden_id) AS ids FROM cdp.patient),
  rl AS (SELECT * FROM cdp.survivorship_rules_as_of('infinity')),
  general AS (
    SELECT cdp_internal.golden_row(r.golden_id, cdp_internal.golden_fold_docs(array_agg(cdp_internal.golden_record_doc_of(
               r.record_id, r.source_id, s.trust, r.family_name, r.given_name, r.patronymic, r.birth_date, r.sex, r.phones,
               r.emails, r.snils, r.oms, r.address, r.city, r.handles, r.extra, r.created_at, r.updated_at)), rl.rules),
               p.status, p.status_at, NULL, rl.version) AS row
      FROM cdp.record r LEFT JOIN cdp.source s ON s.source_id = r.source_id
      JOIN cdp.patient p ON p.golden_id = r.golden_id CROSS JOIN rl
     GROUP BY r.golden_id, p.status, p.status_at, rl.rules, rl.version)
  SELECT (g.row).golden_id FROM general g
    FULL JOIN (SELECT c FROM ids, cdp_internal.golden_compute(ids.ids) c) f ON (f.c).golden_id = (g.row).golden_id
   WHERE g.row::text IS DISTINCT FROM f.c::text$$,
  'golden_compute (the fast path) equals the general path on live persons');
SELECT is_empty($$
  SELECT p.golden_id FROM cdp.patient p
    JOIN (SELECT c FROM (SELECT array_agg(golden_id) AS ids FROM cdp.patient) i, cdp_internal.golden_compute(i.ids) c) f
      ON (f.c).golden_id = p.golden_id
   WHERE p::text IS DISTINCT FROM f.c::text$$,
  'the stored profiles are the re-fold''s rows');

-- refusals
SELECT throws_ok($$SELECT cdp_internal.golden_fold_row(1, NULL, '{}', 1, NULL, NULL, NULL)$$, '22004',
                 'argument "recs" of cdp_internal.golden_fold_row must not be null', 'NULL records are refused');
SELECT throws_ok($$SELECT cdp_internal.golden_fold_row(1, (SELECT array_agg(rec) FROM fr_recs WHERE c = 5), '[]', 1, NULL, NULL, NULL)$$,
                 '22023', 'survivorship rules must be a JSON object', 'rules that are not an object are refused as by the fold');
SELECT throws_ok($$SELECT cdp_internal.golden_fold_row(1, ARRAY[NULL::cdp_internal.golden_fold_input], '{"city": ["newest"]}', 1, NULL, NULL, NULL)$$,
                 '22023', 'unknown survivorship rule "newest" for attribute "city"', 'an unknown rule is refused as by the fold');

SELECT * FROM finish();
ROLLBACK;
