-- test/pgtap/84_segment_reader.sql: the C event readers of the segment evaluator (session 26,
-- src/seg_read.c, sql/parts/83_segment_eval.sql, doc/segments.md "Performance") against the plain
-- SQL each clause compiles to.  Random event clauses (kinds, codes, code lists and ICD-10 ranges,
-- visit statuses, "within" / "ago" windows, counts) over a random clinic with events deleted and
-- moved in the same transaction (index entries of dead rows the readers must skip): the range
-- reader (seg_read_set) gives the clause's "gen" SQL set, the per-candidate reader (seg_read) the
-- "filter" SQL probes, alone, negated, and several clauses at once; with a limit the range reader
-- gives the set or NULL.  Then the arguments each entry point refuses, and the reader declining
-- (NULL) for a role under row-level security.
BEGIN;
SELECT plan(17);

SELECT setseed(0.26) IS NULL AS seeded \gset
SELECT cdp.register_source('his', 'internal', 80) IS NOT NULL AS s1 \gset
SELECT count(cdp.upsert_record('his', i::text, jsonb_build_object('family_name', 'Ф' || i, 'given_name', 'И',
         'sex', CASE WHEN i % 2 = 0 THEN 'F' ELSE 'M' END, 'birth_date', (current_date - (18 * 365 + (i * 137) % 20000))::text)))
  FROM generate_series(1, 200) i \gset
CREATE TEMP TABLE ev AS
SELECT n, (ARRAY['lab_test', 'visit', 'diagnosis', 'diagnosis', 'sick_leave'])[1 + floor(random() * 5)::int] AS kind,
       1 + (random() * 199)::int AS pat, random() AS r1, random() AS r2
  FROM generate_series(1, 3000) n;
SELECT count(cdp.upsert_clinical_event('his', 'e' || n, kind, CASE kind
  WHEN 'lab_test' THEN jsonb_build_object('code', (ARRAY['MAMMO', 'CHOL', 'PSA', 'HBA1C'])[1 + floor(r1 * 4)::int], 'result', round((r2 * 10)::numeric, 1)::text,
                                          'taken_at', (now() - r2 * interval '30 months')::text, 'patient_source_id', pat::text)
  WHEN 'visit' THEN jsonb_build_object('at', (now() - r1 * interval '30 months')::text, 'status', (ARRAY['done', 'booked', 'came', 'in_appointment'])[1 + floor(r2 * 4)::int],
                                       'specialty', (ARRAY['therapy', 'urology', 'gynecology'])[1 + floor(r1 * 3)::int], 'patient_source_id', pat::text)
  WHEN 'sick_leave' THEN jsonb_build_object('number', 'SL' || n, 'from', (current_date - (r1 * 900)::int)::text, 'to', (current_date - (r1 * 900)::int + 7)::text,
                                            'patient_source_id', pat::text)
  ELSE jsonb_build_object('code', (ARRAY['I10', 'I10', 'I11.9', 'J06', 'J06.9', 'C50.9', 'D05.1', 'O80', 'Z33.1', 'O03', 'E11', 'E11.9'])[1 + floor(r1 * 12)::int],
                          'at', (now() - r2 * interval '30 months')::text, 'patient_source_id', pat::text) END))
  FROM ev \gset
-- dead index entries in the readers' way: events deleted, and events moved to another code and time
DELETE FROM cdp.clinical_event WHERE event_id % 17 = 0;
UPDATE cdp.clinical_event SET icd10 = 'I10', at = at - interval '40 days' WHERE kind = 'diagnosis' AND event_id % 13 = 0;
UPDATE cdp.clinical_event SET specialty = 'gynecology', visit_status = 'done' WHERE kind = 'visit' AND event_id % 11 = 0;

-- random event clauses
CREATE TEMP TABLE cl AS
SELECT i, jsonb_strip_nulls(jsonb_build_object('event', k,
         'where', CASE k
           WHEN 'visit' THEN jsonb_strip_nulls(jsonb_build_object(
             'specialty', CASE floor(random() * 3)::int WHEN 0 THEN NULL WHEN 1 THEN to_jsonb((ARRAY['therapy', 'urology', 'gynecology'])[1 + floor(random() * 3)::int])
                                                           ELSE '["therapy", "gynecology"]'::jsonb END,
             'status', CASE WHEN random() < 0.4 THEN (ARRAY['["booked"]', '["done", "came"]', '"in_appointment"'])[1 + floor(random() * 3)::int]::jsonb END))
           WHEN 'lab_test' THEN jsonb_build_object('code', CASE WHEN random() < 0.6 THEN to_jsonb((ARRAY['MAMMO', 'CHOL', 'PSA', 'NONE'])[1 + floor(random() * 4)::int])
                                                             ELSE '["CHOL", "HBA1C"]'::jsonb END)
           WHEN 'diagnosis' THEN jsonb_build_object('code', (ARRAY['"I10"', '"I11.9"', '"J06"', '["C50", "D05"]', '["O00-O99", "Z33"]', '"E10-E14"', '["E11", "E11.9"]', '"A00-Z99"'])[1 + floor(random() * 8)::int]::jsonb)
           END,
         'within', CASE WHEN w = 1 THEN (ARRAY['3 months', '1 years', '400 days'])[1 + floor(random() * 3)::int] END,
         'ago', CASE WHEN w = 2 THEN (ARRAY['["24 months", "11 months"]', '["2 years", "30 days"]'])[1 + floor(random() * 2)::int]::jsonb END,
         'count', CASE WHEN random() < 0.3 THEN (ARRAY['{">=": 2}', '{">": 1}', '{"=": 1}', '{">=": 3}'])[1 + floor(random() * 4)::int]::jsonb END)) AS c
  FROM (SELECT i, (ARRAY['visit', 'lab_test', 'diagnosis', 'diagnosis', 'sick_leave'])[1 + floor(random() * 5)::int] AS k, floor(random() * 3)::int AS w
          FROM generate_series(1, 80) i) x;
CREATE TEMP TABLE pl AS SELECT i, c, cdp_internal.seg_compile(c, current_date) AS p FROM cl;
CREATE FUNCTION pg_temp.gen(q text) RETURNS bigint[] LANGUAGE plpgsql AS $$
DECLARE r bigint[];
BEGIN
	EXECUTE 'SELECT cdp_internal.seg_set(ARRAY(' || q || '))' INTO r;
	RETURN r;
END $$;
CREATE FUNCTION pg_temp.ncodes(p jsonb) RETURNS int LANGUAGE sql AS $$
	SELECT CASE WHEN jsonb_typeof(p -> 'rd' -> 'codes') = 'array' THEN jsonb_array_length(p -> 'rd' -> 'codes') ELSE 0 END $$;
-- every patient and an id without one; a random third of them
SELECT ARRAY(SELECT golden_id FROM cdp.patient ORDER BY 1) || 999999999::bigint AS everyone \gset
SELECT cdp_internal.seg_set(ARRAY(SELECT golden_id FROM cdp.patient WHERE random() < 0.33)) AS third \gset

SELECT is((SELECT count(*) FROM pl WHERE jsonb_typeof(p -> 'rd') = 'object'), 80::bigint,
          'every random event clause has a reader spec (no filter outside the index)');
SELECT is((SELECT count(*) FROM pl WHERE NOT (pg_temp.ncodes(p) > 1 AND c ? 'count')
                                      AND cdp_internal.seg_read_set(p -> 'rd') IS DISTINCT FROM pg_temp.gen(p ->> 'gen')),
          0::bigint, 'the range reader gives each clause''s SQL set');
SELECT is((SELECT count(*) FROM pl WHERE pg_temp.ncodes(p) > 1 AND c ? 'count'
                                      AND cdp_internal.seg_read_set(p -> 'rd') IS NOT NULL), 0::bigint,
          'several codes with a count: the range reader declines (the SQL counts an event once)');
SELECT is((SELECT count(*) FROM pl, (VALUES (0), (5), (100000)) l(lim)
            WHERE cdp_internal.seg_read_set(p -> 'rd', l.lim) IS NOT NULL
              AND cdp_internal.seg_read_set(p -> 'rd', l.lim) IS DISTINCT FROM pg_temp.gen(p ->> 'gen')), 0::bigint,
          'with a limit: the set or nothing');
SELECT is((SELECT count(*) FROM pl WHERE NOT (pg_temp.ncodes(p) > 1 AND c ? 'count')
                                      AND cdp_internal.seg_read_set(p -> 'rd', 100000) IS NULL), 0::bigint,
          'a limit above the events matched: the set');
SELECT cmp_ok((SELECT count(*) FROM pl WHERE cardinality(pg_temp.gen(p ->> 'gen')) > 0), '>', 40::bigint,
              'the comparison is not vacuous: most clauses select someone');
SELECT is((SELECT count(*) FROM pl, (VALUES (:'everyone'::bigint[]), (:'third'::bigint[])) c(ids)
            WHERE cdp_internal.seg_read(c.ids, jsonb_build_array(jsonb_build_object('rd', p -> 'rd', 'neg', false)))
                  IS DISTINCT FROM cdp_internal.seg_probe(p ->> 'filter', c.ids)), 0::bigint,
          'the per-candidate reader gives each clause''s SQL probes (everyone, a third)');
SELECT is((SELECT count(*) FROM pl, (VALUES (:'everyone'::bigint[]), (:'third'::bigint[])) c(ids)
            WHERE cdp_internal.seg_read(c.ids, jsonb_build_array(jsonb_build_object('rd', p -> 'rd', 'neg', true)))
                  IS DISTINCT FROM cdp_internal.seg_minus(c.ids, cdp_internal.seg_probe(p ->> 'filter', c.ids))), 0::bigint,
          'and their "not"');
-- several clauses in one reading, some negated, against the SQL probes combined
CREATE TEMP TABLE combo AS
SELECT j, array_agg(x.i ORDER BY x.o) AS ks, array_agg(x.neg ORDER BY x.o) AS negs
  FROM generate_series(1, 30) j
 CROSS JOIN LATERAL (SELECT 1 + floor(random() * 80)::int + j * 0 AS i, random() < 0.5 AS neg, o FROM generate_series(1, 2 + (j % 3)) o) x
 GROUP BY j;
CREATE FUNCTION pg_temp.sql_combo(ks int[], negs boolean[], ids bigint[]) RETURNS bigint[] LANGUAGE plpgsql AS $$
DECLARE r bigint[] := ids; f text;
BEGIN
	FOR n IN 1 .. cardinality(ks) LOOP
		SELECT p ->> 'filter' INTO f FROM pl WHERE pl.i = ks[n];
		r := CASE WHEN negs[n] THEN cdp_internal.seg_minus(r, cdp_internal.seg_probe(f, ids)) ELSE cdp_internal.seg_and(r, cdp_internal.seg_probe(f, ids)) END;
	END LOOP;
	RETURN r;
END $$;
SELECT is((SELECT count(*) FROM combo
            WHERE cdp_internal.seg_read(:'everyone', (SELECT jsonb_agg(jsonb_build_object('rd', pl.p -> 'rd', 'neg', combo.negs[n]) ORDER BY n)
                                                          FROM generate_subscripts(combo.ks, 1) n JOIN pl ON pl.i = combo.ks[n]))
                  IS DISTINCT FROM pg_temp.sql_combo(ks, negs, :'everyone')), 0::bigint,
          '30 random conjunctions of 2-4 clauses, some negated: one reading gives the SQL probes combined');
SELECT cmp_ok((SELECT count(DISTINCT cardinality(pg_temp.sql_combo(ks, negs, :'everyone'))) FROM combo), '>', 5::bigint,
              'the conjunctions select different numbers of patients');

-- what the entry points refuse
SELECT throws_ok($$SELECT cdp_internal.seg_read_events('{3,1}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}')$$,
                 '22023', NULL, 'ids not a set: 22023');
SELECT throws_ok($$SELECT cdp_internal.seg_read_events('{1}', NULL, '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}')$$,
                 '22004', NULL, 'a NULL row array: 22004');
SELECT throws_ok($$SELECT cdp_internal.seg_read_events('{1}', '{1}', '{visit,visit}', '{NULL}', '{NULL}', '{NULL}', '{NULL}', '{NULL}', '{1}', '{NULL}', '{f}')$$,
                 '2202E', NULL, 'row arrays of different lengths: 2202E');
SELECT throws_ok(format($$SELECT cdp_internal.seg_read_events('{1}', '{1}', '{diagnosis}', '{%s}', '{NULL}', '{NULL}', '{NULL}', '{NULL}', '{1}', '{NULL}', '{f}')$$, repeat('x', 201)),
                 '22023', NULL, 'a code over 200 bytes: 22023');
SELECT throws_ok($$SELECT cdp_internal.seg_read_range('diagnosis', '{I10,E11}', '{I10~,E11~}', NULL, NULL, NULL, 2, NULL, NULL)$$,
                 '22023', NULL, 'two ranges with a count: 22023');
SELECT throws_ok($$SELECT cdp_internal.seg_read_range('diagnosis', NULL, '{I10~}', NULL, NULL, NULL, 1, NULL, NULL)$$,
                 '22004', 'argument "lo" of seg_read_range cannot be null', 'a NULL range array: 22004 naming the range reader');
-- a role under row-level security: the reader declines (NULL) and the evaluator's SQL decides
CREATE ROLE seg26_rls_reader;
GRANT USAGE ON SCHEMA cdp, cdp_internal TO seg26_rls_reader;
GRANT SELECT ON cdp.clinical_event TO seg26_rls_reader;
GRANT EXECUTE ON FUNCTION cdp_internal.seg_read_events(bigint[], int[], text[], text[], text[], timestamptz[], timestamptz[], text[], int[], int[], boolean[]) TO seg26_rls_reader;
SET ROLE seg26_rls_reader;
SELECT is(cdp_internal.seg_read_events(:'everyone', '{1}', '{diagnosis}', '{NULL}', '{NULL}', '{NULL}', '{NULL}', '{NULL}', '{1}', '{NULL}', '{f}'), NULL,
          'under row-level security the reader declines');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
