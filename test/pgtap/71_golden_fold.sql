-- test/pgtap/71_golden_fold.sql: the C survivorship fold (cdp.golden_fold, src/golden_fold.c)
-- gives exactly what the SQL oracle (cdp_test.golden_fold_sql, test/oracles/golden_fold.sql) gives, on generated clusters of 1 to
-- 13 records under several rule sets, with and without lineage; and its errors on bad input.
-- cdp_internal.golden_fold_docs (the same fold of documents in any order) equals it on them.
-- Generated documents vary every field the fold reads: missing and null values, empty strings,
-- ties on trust / recency / frequency / length, timestamps before 1970, validated true, false and
-- missing, record ids missing (one-record clusters only: two records without an id that tie on
-- every rule are ordered arbitrarily by the SQL version), contacts that are not arrays, empty and
-- duplicated contact values, handles with empty values.
BEGIN;
\ir ../oracles/golden_fold.sql
SELECT plan(36);

SELECT setseed(0.42) IS NULL AS seeded \gset
CREATE TEMP TABLE fold_docs AS
WITH recs AS (
  SELECT c, k,
         random() r1, random() r2, random() r3, random() r4, random() r5, random() r6, random() r7, random() r8, random() r9
    FROM generate_series(1, 1500) c, LATERAL generate_series(1, 1 + (c % 7) * (c % 3)) k)
SELECT c, jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
  'record_id', CASE WHEN r9 < 0.3 AND (c % 7) * (c % 3) = 0 THEN NULL ELSE c * 100 + (k * 37) % 11 + k * 13 END,
  'source_id', CASE WHEN r1 < 0.1 THEN NULL ELSE 1 + (r1 * 3)::int END,
  'trust', CASE WHEN r2 < 0.1 THEN NULL WHEN r2 < 0.5 THEN 50 ELSE (r2 * 100)::int END,
  'validated', CASE WHEN r3 < 0.1 THEN NULL ELSE r3 > 0.7 END,
  'created_at', CASE WHEN r4 < 0.05 THEN NULL ELSE timestamptz '2020-01-01 00:00:00Z' + (r4 * 4)::int * interval '1 day' + r5 * interval '1 hour' END,
  'updated_at', CASE WHEN r5 < 0.05 THEN NULL WHEN r5 < 0.3 THEN timestamptz '1969-12-31 23:59:59Z' ELSE timestamptz '2021-01-01 00:00:00Z' + (r5 * 5)::int * interval '1 day' END,
  'family_name', (ARRAY['Иванов', 'Иванова', 'Ivanov', '', NULL, 'Иванов', 'Петров-Водкин'])[1 + (r6 * 6)::int],
  'given_name', (ARRAY['Анна', 'Аня', 'Anna', NULL])[1 + (r7 * 3)::int],
  'patronymic', CASE WHEN r8 < 0.5 THEN NULL ELSE 'Петровна' END,
  'sex', (ARRAY['F', 'M', NULL])[1 + (r3 * 2)::int],
  'birth_date', (ARRAY['1980-01-02', '1980-02-01', NULL])[1 + (r4 * 2)::int],
  'snils', CASE WHEN r1 < 0.5 THEN '112-233-445 95' END,
  'oms', CASE WHEN r2 < 0.3 THEN '1234567890123456' END,
  'address', (ARRAY['ул. Ленина, 1', 'Ленина 1', 'г. Москва, ул. Ленина, д. 1', NULL])[1 + (r8 * 3)::int],
  'city', (ARRAY['Москва', 'Moscow', 'Казань', ''])[1 + (r9 * 3)::int],
  'phones', CASE WHEN r6 < 0.2 THEN NULL WHEN r6 < 0.3 THEN '"+79160000000"'::jsonb
                 ELSE jsonb_build_array('+7916' || (r7 * 3)::int, '+7926' || (r8 * 2)::int, '', NULL) - (CASE WHEN r9 < 0.5 THEN 0 ELSE 1 END) END,
  'emails', CASE WHEN r7 < 0.5 THEN jsonb_build_array('a@b.ru', 'B' || (r1 * 2)::int || '@mail.ru') END,
  'handles', CASE WHEN r8 < 0.3 THEN NULL WHEN r8 < 0.4 THEN '["x"]'::jsonb
                  ELSE jsonb_build_object('vk', 'id' || (r2 * 2)::int, 'telegram', CASE WHEN r3 < 0.5 THEN 't1' ELSE '' END, 'ok', NULL) END
)) ORDER BY k) AS d
FROM recs GROUP BY c;
CREATE TEMP TABLE fold_rules (n int, rules jsonb);
INSERT INTO fold_rules VALUES
 (1, cdp.golden_default_rules()),
 (2, '{"family_name": ["trusted"], "given_name": ["recent", "trusted"], "city": ["frequent", "complete"], "address": ["complete"], "sex": ["validated"], "birth_date": []}'),
 (3, '{"family_name": ["complete", "frequent", "recent", "trusted", "validated"], "given_name": ["validated", "validated"], "snils": ["frequent"], "phones": ["recent"], "record_id": ["trusted"]}'),
 (4, '{}');

SELECT cmp_ok((SELECT count(*) FROM fold_docs WHERE jsonb_array_length(d) > 1), '>', 800::bigint,
              'most generated clusters have several records');
SELECT is((SELECT count(*) FROM fold_docs WHERE jsonb_array_length(d) = 1 AND d -> 0 -> 'record_id' IS NULL) > 0, true,
          'some one-record clusters have no record id');

-- the C fold equals the SQL fold, cluster by cluster, for each rule set, with and without lineage
SELECT is_empty(format($$SELECT d.c FROM fold_docs d, fold_rules r
                          WHERE r.n = %s AND cdp.golden_fold(d.d, r.rules, %L) IS DISTINCT FROM cdp_test.golden_fold_sql(d.d, r.rules, %L)$$,
                       n, l, l),
                format('C fold equals the SQL fold: rule set %s, with_lineage %s', n, l))
  FROM generate_series(1, 4) n, (VALUES (true), (false)) v(l) ORDER BY n, l;

-- cdp_internal.golden_fold_docs (the live re-fold's entry, session 29) takes the documents in any
-- order and folds them in record id order: the same as golden_fold of the documents ordered by record
-- id (the generated clusters are: k orders their record ids), here shuffled
SELECT is_empty($$SELECT d.c FROM fold_docs d, fold_rules r
                   WHERE cdp_internal.golden_fold_docs(ARRAY(SELECT e FROM jsonb_array_elements(d.d) e ORDER BY random()), r.rules)
                         IS DISTINCT FROM cdp.golden_fold(d.d, r.rules, false)$$,
                'golden_fold_docs of shuffled documents equals golden_fold of them in record id order, every rule set');
SELECT is(cdp_internal.golden_fold_docs('{}', cdp.golden_default_rules()), cdp.golden_fold('[]', cdp.golden_default_rules(), false),
          'golden_fold_docs of no documents is golden_fold of an empty array');

-- cdp_internal.golden_row (C since issue 16) builds the row its former PL/pgSQL body built
CREATE FUNCTION pg_temp.golden_row_sql(golden_id bigint, fold jsonb, status text, status_at timestamptz,
	last_visit timestamptz, rules_version int) RETURNS cdp.patient LANGUAGE plpgsql AS $f$
BEGIN
	RETURN ROW(golden_id, coalesce(status, 'active'), status_at,
	       (fold ->> 'registered_on')::date, (fold ->> 'validated')::boolean,
	       fold -> 'attributes' ->> 'family_name', fold -> 'attributes' ->> 'given_name',
	       fold -> 'attributes' ->> 'patronymic', fold -> 'attributes' ->> 'sex',
	       (fold -> 'attributes' ->> 'birth_date')::date,
	       fold -> 'phones', fold -> 'emails', fold -> 'handles',
	       (fold -> 'attributes' ->> 'snils')::cdp.snils, (fold -> 'attributes' ->> 'oms')::cdp.oms,
	       fold -> 'attributes' ->> 'address', fold -> 'attributes' ->> 'city',
	       last_visit, (fold ->> 'record_count')::int, (fold ->> 'updated_at')::timestamptz,
	       rules_version)::cdp.patient;
END
$f$;
SELECT is_empty($$SELECT d.c FROM fold_docs d, fold_rules r,
                          (VALUES (NULL::text, NULL::timestamptz, NULL::timestamptz, 0),
                                  ('archived', timestamptz '2024-01-02 03:04:05Z', timestamptz '2025-01-01Z', 7)) s(st, sat, lv, rv),
                          LATERAL (SELECT cdp.golden_fold(d.d, r.rules, false) #- '{attributes,oms}' AS f) x  -- its OMS fails the check digit
                   WHERE r.n IN (1, 2)
                     AND cdp_internal.golden_row(d.c, x.f, s.st, s.sat, s.lv, s.rv)::text
                         IS DISTINCT FROM pg_temp.golden_row_sql(d.c, x.f, s.st, s.sat, s.lv, s.rv)::text$$,
                'golden_row (C) builds the same row as the former PL/pgSQL body on every generated cluster');
SELECT is_empty($$SELECT 1 FROM (VALUES (NULL::jsonb), ('{}'), ('{"attributes": null, "record_count": 2, "validated": true}'),
                                         ('{"attributes": {"family_name": 5, "city": null}, "phones": null, "registered_on": "2020-02-03"}'),
                                         ('{"attributes": {"oms": "1234 5678 9012 3452", "snils": "112-233-445 95"}}')) v(f)
                   WHERE cdp_internal.golden_row(1, v.f, NULL, NULL, NULL, 3)::text
                         IS DISTINCT FROM pg_temp.golden_row_sql(1, v.f, NULL, NULL, NULL, 3)::text$$,
                'golden_row (C) equals the former body on a null fold, an empty one, JSON nulls and numbers');

-- cdp_internal.golden_record_doc_of (the live fold's input since issue 16) builds from a row's
-- columns exactly what golden_record_doc(to_jsonb(row), trust) builds from its JSON
CREATE TEMP TABLE doc_rows AS
SELECT i AS record_id, CASE WHEN i % 11 = 0 THEN NULL ELSE 1 + i % 3 END AS source_id,
       CASE WHEN i % 13 = 0 THEN NULL ELSE (i * 7) % 101 END AS trust,
       (ARRAY['Иванов', '', NULL, 'O''Brien "x"'])[1 + i % 4] AS family_name,
       (ARRAY['Анна', NULL])[1 + i % 2] AS given_name, CASE WHEN i % 3 = 0 THEN 'Петровна' END AS patronymic,
       CASE i % 4 WHEN 0 THEN NULL WHEN 1 THEN date '1980-02-29' WHEN 2 THEN date '0044-03-15 BC' ELSE 'infinity'::date END AS birth_date,
       (ARRAY['F', 'M', NULL])[1 + i % 3] AS sex,
       CASE i % 4 WHEN 0 THEN NULL WHEN 1 THEN '{}'::cdp.phone[]
            WHEN 2 THEN ARRAY['+79160000000', NULL]::cdp.phone[] ELSE ARRAY['8 916 000-00-01', '+7 926 111 2233']::cdp.phone[] END AS phones,
       CASE i % 3 WHEN 0 THEN NULL WHEN 1 THEN ARRAY['A.B@Mail.RU']::cdp.email[] ELSE ARRAY[NULL, 'x@y.ru']::cdp.email[] END AS emails,
       CASE WHEN i % 2 = 0 THEN '112-233-445 95'::cdp.snils END AS snils,
       CASE WHEN i % 5 = 0 THEN '1234 5678 9012 3452'::cdp.oms END AS oms,
       CASE WHEN i % 3 = 1 THEN 'ул. Ленина, 1' END AS address, (ARRAY['Москва', '', NULL])[1 + i % 3] AS city,
       (ARRAY['{"vk": "id1"}'::jsonb, '[]', '"x"', 'null', NULL, '{"tg": {"a": [1, null]}}'])[1 + i % 6] AS handles,
       (ARRAY['{"validated": "YES"}'::jsonb, '{"validated": true}', '{"validated": "0"}', '{"validated": 1}',
              '[{"validated": true}]', '"validated"', 'null', NULL, '{"x": 1}'])[1 + i % 9] AS extra,
       CASE WHEN i % 7 = 0 THEN NULL ELSE timestamptz '2024-03-31 01:30:00.123456Z' + i * interval '17 minutes' END AS created_at,
       CASE WHEN i % 8 = 0 THEN NULL WHEN i % 8 = 1 THEN '-infinity'::timestamptz ELSE timestamptz '1969-12-31 23:59:59Z' + i * interval '1 day' END AS updated_at
  FROM generate_series(1, 400) i;
SELECT is((SELECT count(*) FROM doc_rows d
            WHERE cdp_internal.golden_record_doc_of(d.record_id, d.source_id, d.trust, d.family_name, d.given_name, d.patronymic,
                    d.birth_date, d.sex, d.phones, d.emails, d.snils, d.oms, d.address, d.city, d.handles, d.extra, d.created_at, d.updated_at)
                  IS DISTINCT FROM cdp.golden_record_doc(to_jsonb(d) - 'trust', d.trust)), 0::bigint,
          'golden_record_doc_of equals golden_record_doc of the row''s JSON on 400 varied rows');
SET LOCAL TimeZone = 'America/St_Johns';
SELECT is((SELECT count(*) FROM doc_rows d
            WHERE cdp_internal.golden_record_doc_of(d.record_id, d.source_id, d.trust, d.family_name, d.given_name, d.patronymic,
                    d.birth_date, d.sex, d.phones, d.emails, d.snils, d.oms, d.address, d.city, d.handles, d.extra, d.created_at, d.updated_at)
                  IS DISTINCT FROM cdp.golden_record_doc(to_jsonb(d) - 'trust', d.trust)), 0::bigint,
          'golden_record_doc_of equals golden_record_doc of the row''s JSON in a time zone with a half-hour offset');
RESET TimeZone;
SELECT is(cdp_internal.golden_record_doc_of(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
          cdp.golden_record_doc('{}', NULL), 'golden_record_doc_of of all nulls is the document of an empty record');
SELECT throws_ok($$SELECT cdp_internal.golden_record_doc_of(1, 1, 50, NULL, NULL, NULL, NULL, NULL, ARRAY[['+79160000000']]::cdp.phone[],
                                                              NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)$$,
                 '2202E', 'phones of a source record must be a one-dimensional array', 'golden_record_doc_of refuses a two-dimensional array');

-- and in another session time zone (documents carry offsets; output is UTC either way)
SET LOCAL TimeZone = 'Asia/Vladivostok';
SELECT is_empty($$SELECT d.c FROM fold_docs d, fold_rules r
                   WHERE r.n IN (1, 2) AND cdp.golden_fold(d.d, r.rules, true) IS DISTINCT FROM cdp_test.golden_fold_sql(d.d, r.rules, true)$$,
                'C fold equals the SQL fold in another time zone');
RESET TimeZone;

-- odd value types the SQL version also folds: ids and trust as strings, trust NaN / fractional /
-- negative, validated as yes/off/1, infinite and year-44 / year-10000 timestamps, names that are
-- numbers, objects, arrays or booleans, contacts with non-string elements
SELECT setseed(0.7) IS NULL AS seeded \gset
CREATE TEMP TABLE odd AS
SELECT c, jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
  'record_id', CASE WHEN random() < 0.2 THEN to_jsonb((c * 10 + k)::text) ELSE to_jsonb(c * 10 + k) END,
  'source_id', CASE WHEN random() < 0.2 THEN to_jsonb('2'::text) ELSE to_jsonb(1 + k % 2) END,
  'trust', (ARRAY['"80"'::jsonb, '80.0', '79.99', '-5', 'null', '"NaN"'])[1 + (random() * 5)::int],
  'validated', (ARRAY['"yes"'::jsonb, '"off"', 'true', 'false', '"1"', 'null'])[1 + (random() * 5)::int],
  'created_at', (ARRAY['"2020-01-01T00:00:00Z"'::jsonb, '"infinity"', '"-infinity"', '"2020-01-01 03:00:00+03"', '"0044-03-15T00:00:00Z"', 'null'])[1 + (random() * 5)::int],
  'updated_at', (ARRAY['"2021-01-01T00:00:00Z"'::jsonb, '"infinity"', '"1969-12-31T23:59:59Z"', '"2021-01-01T00:00:00.000001Z"', '"10000-01-01T00:00:00Z"', 'null'])[1 + (random() * 5)::int],
  'family_name', (ARRAY['"Иванов"'::jsonb, '5', '{"a": 1}', '[1, 2]', 'true', '""', '"Ё"'])[1 + (random() * 6)::int],
  'city', (ARRAY['"a"'::jsonb, '"b"', '"ab"', '"B"', '"é"', '"e"'])[1 + (random() * 5)::int],
  'phones', (ARRAY['["1", 1, null, "", {"x": 1}]'::jsonb, '[]', '{"a": 1}', '["1"]', '[true]'])[1 + (random() * 4)::int],
  'handles', (ARRAY['{"vk": "1", "ok": 2, "tg": null, "x": ""}'::jsonb, '{"b": "1", "a": "1"}', '[]', '{"vk": {"n": 1}}'])[1 + (random() * 3)::int]
)) ORDER BY k) d
FROM generate_series(1, 400) c, generate_series(1, 1 + c % 5) k GROUP BY c;
SELECT is_empty($$SELECT o.c FROM odd o,
                     (VALUES (cdp.golden_default_rules() || '{"city": ["complete", "frequent"]}'),
                             ('{"family_name": ["trusted", "recent"], "city": ["validated"]}'::jsonb)) v(r),
                     (VALUES (true), (false)) w(l)
                   WHERE cdp.golden_fold(o.d, v.r, w.l) IS DISTINCT FROM cdp_test.golden_fold_sql(o.d, v.r, w.l)$$,
                'C fold equals the SQL fold on odd value types');

-- the same on documents built by cdp.golden_record_doc from record rows of a live database shape
SELECT is((SELECT cdp.golden_fold(x, cdp.golden_default_rules())) , cdp_test.golden_fold_sql(x, cdp.golden_default_rules()),
          'C fold equals the SQL fold on golden_record_doc documents')
  FROM (SELECT jsonb_build_array(
          cdp.golden_record_doc('{"record_id": 1, "source_id": 1, "created_at": "2020-01-01T00:00:00Z", "updated_at": "2020-01-01T00:00:00Z", "family_name": "Ivanov", "phones": ["+7 916 123-45-67"], "snils": "11223344595"}', 90),
          cdp.golden_record_doc('{"record_id": 2, "source_id": 2, "created_at": "2021-01-01T00:00:00+03:00", "updated_at": "2023-01-01T00:00:00Z", "family_name": "Ivanoff", "phones": ["+79161234567", "+79160000000"], "extra": {"validated": "yes"}}', 10)) x) s;

-- the C golden_record_doc equals its SQL oracle (cdp_test.golden_record_doc_sql)
SELECT is_empty($$
  SELECT x FROM (VALUES ('{}'::jsonb, NULL::int),
    ('{"validated": "YES", "phones": [null, "8 916 123 45 67"], "emails": ["A@B.RU"], "snils": "11223344595", "oms": "1234567890123452"}', 5),
    ('{"validated": null, "extra": {"validated": "T"}}', 0),
    ('{"extra": [1], "validated": false}', 100),
    ('{"phones": "x", "handles": {"vk": 1}, "record_id": "12", "source_id": 3, "created_at": "2020-01-01T00:00:00+03:00"}', 7),
    ('{"record_id": 5, "family_name": "", "given_name": {"a": 1}, "sex": "F", "birth_date": "1980-01-02", "emails": [], "extra": {"validated": "1"}}', 50)) v(x, t)
  WHERE cdp.golden_record_doc(x, t) IS DISTINCT FROM cdp_test.golden_record_doc_sql(x, t)$$,
  'C golden_record_doc equals the SQL version');
SELECT throws_ok($$SELECT cdp.golden_record_doc('{"phones": ["123"]}', 1)$$, '22P02', NULL, 'a bad phone in a record document');
SELECT throws_ok($$SELECT cdp.golden_record_doc('[]', 1)$$, '22023', 'a source record must be a JSON object', 'a record document not an object');

-- bad input: clear errors
SELECT throws_ok($$SELECT cdp.golden_fold(NULL, '{}')$$, '22004',
                 'argument "recs" of cdp.golden_fold must not be null', 'null records');
SELECT throws_ok($$SELECT cdp.golden_fold('{"record_id": 1}', '{}')$$, '22023',
                 'records of the survivorship fold must be a JSON array', 'records not an array');
SELECT throws_ok($$SELECT cdp.golden_fold('[{"record_id": 1}, 5]', '{}')$$, '22023',
                 'record 2 of the survivorship fold is not a JSON object', 'a record not an object');
SELECT throws_ok($$SELECT cdp.golden_fold('[]', '["trusted"]')$$, '22023',
                 'survivorship rules must be a JSON object', 'rules not an object');
SELECT throws_ok($$SELECT cdp.golden_fold('[]', '{"city": ["newest"]}')$$, '22023',
                 'unknown survivorship rule "newest" for attribute "city"', 'unknown rule name');
SELECT throws_ok($$SELECT cdp.golden_fold('[]', '{"city": "recent"}')$$, '22023',
                 'survivorship rules for attribute "city" must be an array', 'rule list not an array');
SELECT throws_ok($$SELECT cdp.golden_fold('[{"record_id": "x1"}, {"record_id": 2}]', '{}')$$, '22P02',
                 'invalid input syntax for type bigint: "x1"', 'record id not an integer');

SELECT throws_ok($$SELECT cdp_internal.golden_fold_docs(NULL, '{}')$$, '22004',
                 'argument "docs" of cdp_internal.golden_fold_docs must not be null', 'golden_fold_docs: null documents');
SELECT throws_ok($$SELECT cdp_internal.golden_fold_docs('{}', NULL)$$, '22004',
                 'argument "rules" of cdp_internal.golden_fold_docs must not be null', 'golden_fold_docs: null rules');
SELECT throws_ok($$SELECT cdp_internal.golden_fold_docs(ARRAY['{"record_id": 1}', '5']::jsonb[], '{}')$$, '22023',
                 'record 2 of the survivorship fold is not a JSON object', 'golden_fold_docs: a document not an object');
SELECT throws_ok($$SELECT cdp_internal.golden_fold_docs(ARRAY['{"record_id": 1}', NULL]::jsonb[], '{}')$$, '22023',
                 'record 2 of the survivorship fold is not a JSON object', 'golden_fold_docs: a null document');
SELECT throws_ok($$SELECT cdp_internal.golden_fold_docs('{{"{}"}, {"{}"}}'::jsonb[], '{}')$$, '2202E',
                 'docs must be a one-dimensional array', 'golden_fold_docs: a two-dimensional array');

SELECT * FROM finish();
ROLLBACK;
