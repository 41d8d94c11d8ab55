-- test/pgtap/84_segment_preview_summary.sql: the consent-summary reader of the segment evaluator
-- (session 28, src/seg_summary.c, sql/parts/83_segment_eval.sql, doc/segments.md "Performance")
-- against the SQL it replaces.  cdp_internal.seg_summary_rows(ids) must give, for every id of a
-- set, the row of cdp_internal.consent_summary a LEFT JOIN gives (NULLs without one): dense and
-- sparse sets (the reader walks the primary key's leaves between near ids and descends again past
-- a gap), ids before the first and after the last row, with dead index entries of deleted and
-- re-inserted rows in the same transaction, and under row-level security (read through SQL).  Then
-- the two evaluator steps that read it: the source_kind clause of candidates known to have a
-- profile (its "kinds" pass) equals the clause's SQL probe ("kfilter") for every kind asked, with
-- persons of both kinds of source and persons without a summary row; and seg_consent_ok's probe
-- form (statistics of a million) equals its join form.  The rows kept for a subset read under the
-- same snapshot (prev29): a subset read in the same statement gives the join's rows, and one read
-- after a write in the same transaction (a later command id) sees the write.  Then the arguments
-- it refuses.
BEGIN;
SELECT plan(17);

SELECT setseed(0.28) IS NULL AS seeded \gset
SELECT cdp.register_source('his', 'internal', 80) IS NOT NULL AS s1, cdp.register_source('partner1', 'partner', 40) IS NOT NULL AS s2 \gset
-- 240 persons, a fourth of them from the partner base
SELECT count(cdp.upsert_record(CASE WHEN i % 4 = 0 THEN 'partner1' ELSE 'his' END, i::text, jsonb_build_object(
         'family_name', 'Ф' || i, 'given_name', 'И', 'sex', CASE WHEN i % 2 = 0 THEN 'F' ELSE 'M' END,
         'birth_date', (current_date - (18 * 365 + (i * 137) % 20000))::text, 'city', 'Москва',
         'phones', jsonb_build_array('+7916' || lpad(i::text, 7, '0')))))
  FROM generate_series(1, 240) i \gset
SELECT count(cdp.set_consent(g, 'marketing', '*', true))
  FROM (SELECT golden_id AS g, row_number() OVER (ORDER BY golden_id) AS i FROM cdp.patient) x WHERE i % 3 <> 0 \gset
SELECT count(cdp.set_consent(g, 'marketing', 'sms', false))
  FROM (SELECT golden_id AS g, row_number() OVER (ORDER BY golden_id) AS i FROM cdp.patient) x WHERE i % 7 = 1 \gset
-- persons of both kinds: the summary says so (as a merge of a partner record into a clinic person leaves it)
UPDATE cdp_internal.consent_summary SET partner = true WHERE golden_id % 10 = 3;
-- persons without a row (new since, no statement): the readers fall back to the records
DELETE FROM cdp_internal.consent_summary WHERE golden_id % 9 = 5;
-- dead index entries in the reader's way: rows deleted, and rows deleted and inserted again
CREATE TEMP TABLE moved AS SELECT * FROM cdp_internal.consent_summary WHERE golden_id % 8 = 2;
DELETE FROM cdp_internal.consent_summary WHERE golden_id % 8 = 2;
INSERT INTO cdp_internal.consent_summary SELECT golden_id, allowed # 1, internal, partner FROM moved WHERE golden_id % 16 = 2;
-- rows far apart and close together around them (gaps above and below the reader's walk of 512 ids)
INSERT INTO cdp_internal.consent_summary (golden_id, allowed, internal, partner)
SELECT g, g % 1000, g % 2 = 0, g % 3 = 0 FROM (SELECT 100000 + i * (CASE WHEN i % 5 = 0 THEN 997 ELSE 3 END) AS g FROM generate_series(1, 400) i) x
    ON CONFLICT DO NOTHING;

CREATE TEMP TABLE sets (k text, ids bigint[]);
INSERT INTO sets
SELECT 'everyone and beyond', cdp_internal.seg_set(ARRAY(SELECT golden_id FROM cdp_internal.consent_summary UNION SELECT golden_id FROM cdp.patient
                                                          UNION SELECT unnest(ARRAY[-5, 0, 1, 99999, 999999999]::bigint[])))
UNION ALL SELECT 'every other', cdp_internal.seg_set(ARRAY(SELECT g FROM generate_series(1, 260, 2) g))
UNION ALL SELECT 'sparse', cdp_internal.seg_set(ARRAY(SELECT g FROM generate_series(1, 600000, 611) g))
UNION ALL SELECT 'random third', cdp_internal.seg_set(ARRAY(SELECT golden_id FROM cdp_internal.consent_summary WHERE random() < 0.33))
UNION ALL SELECT 'random with gaps', cdp_internal.seg_set(ARRAY(SELECT golden_id + (random() * 3)::int FROM cdp_internal.consent_summary WHERE random() < 0.2))
UNION ALL SELECT 'one id', ARRAY[(SELECT max(golden_id) FROM cdp_internal.consent_summary)]
UNION ALL SELECT 'past the end', ARRAY[(SELECT max(golden_id) FROM cdp_internal.consent_summary) + 1, 9000000000]
UNION ALL SELECT 'empty', '{}';
CREATE FUNCTION pg_temp.diff(ids bigint[]) RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM (
		(SELECT * FROM cdp_internal.seg_summary_rows(ids) EXCEPT ALL
		 SELECT c.id, s.allowed, s.internal, s.partner FROM unnest(ids) c(id) LEFT JOIN cdp_internal.consent_summary s ON s.golden_id = c.id)
		UNION ALL
		(SELECT c.id, s.allowed, s.internal, s.partner FROM unnest(ids) c(id) LEFT JOIN cdp_internal.consent_summary s ON s.golden_id = c.id
		 EXCEPT ALL SELECT * FROM cdp_internal.seg_summary_rows(ids))) d $$;

SELECT is((SELECT string_agg(k, ', ' ORDER BY k) FROM sets WHERE pg_temp.diff(ids) <> 0), NULL,
          'the reader gives the rows a LEFT JOIN gives, for every set');
SELECT is((SELECT count(*) FROM sets s WHERE (SELECT count(*) FROM cdp_internal.seg_summary_rows(s.ids)) <> cardinality(s.ids)), 0::bigint,
          'one row per id of the set');
SELECT is((SELECT array_agg(x.golden_id ORDER BY o) FROM sets s, cdp_internal.seg_summary_rows(s.ids) WITH ORDINALITY x(golden_id, a, i, p, o) WHERE s.k = 'random third'),
          (SELECT ids FROM sets WHERE k = 'random third'), 'in the order of the set');
-- the comparison is not vacuous: rows found, persons without one, re-inserted rows with their new value
SELECT ok((SELECT count(*) FILTER (WHERE x.allowed IS NULL) > 20 AND count(*) FILTER (WHERE x.allowed IS NOT NULL) > 200
             FROM sets s, cdp_internal.seg_summary_rows(s.ids) x WHERE s.k = 'everyone and beyond'),
          'persons with and without a row among the ids');
SELECT is((SELECT count(*) FROM moved m, cdp_internal.seg_summary_rows(ARRAY(SELECT golden_id FROM moved ORDER BY 1)) x
            WHERE x.golden_id = m.golden_id AND x.allowed IS NOT DISTINCT FROM CASE WHEN m.golden_id % 16 = 2 THEN m.allowed # 1 END),
          (SELECT count(*) FROM moved), 'a deleted row reads as none, a re-inserted one with its new value');

-- the source_kind clause within candidates known to have a profile: the C pass ("kinds") and the SQL probe ("kfilter")
CREATE TEMP TABLE kinds_cases AS
SELECT v, cdp_internal.seg_compile(jsonb_build_object('attr', 'source_kind', 'op', CASE WHEN jsonb_typeof(v) = 'array' THEN 'in' ELSE '=' END, 'value', v),
                                   current_date) || '{"prof": true}' AS plan
  FROM unnest(ARRAY['"internal"', '"partner"', '["internal", "partner"]']::jsonb[]) v;
SELECT is((SELECT count(*) FROM kinds_cases WHERE plan ? 'kinds' AND plan ? 'kfilter'), 3::bigint, 'a source_kind clause compiles with its kinds and its SQL probe');
SELECT ARRAY(SELECT golden_id FROM cdp.patient ORDER BY 1) AS patients \gset
SELECT is((SELECT count(*) FROM kinds_cases c, sets s
            WHERE s.k IN ('every other', 'random third')
              AND cdp_internal.seg_eval(c.plan, cdp_internal.seg_and(s.ids, :'patients'), 1000000)
                  IS DISTINCT FROM cdp_internal.seg_eval(c.plan - 'kinds', cdp_internal.seg_and(s.ids, :'patients'), 1000000)), 0::bigint,
          'source_kind within candidates: the C pass gives the SQL probe''s ids for every kind');
SELECT ok((SELECT bool_and(cardinality(cdp_internal.seg_eval(c.plan, :'patients', 1000000)) BETWEEN 1 AND cardinality(:'patients'::bigint[]) - 1)
             FROM kinds_cases c WHERE c.v <> '["internal", "partner"]'),
          'each kind alone keeps some candidates and drops others');
SELECT is(cdp_internal.seg_eval((SELECT plan FROM kinds_cases WHERE v = '"partner"'), :'patients', 1000000),
          cdp_internal.seg_set(ARRAY(SELECT p.golden_id FROM cdp.patient p WHERE coalesce((SELECT s.partner FROM cdp_internal.consent_summary s WHERE s.golden_id = p.golden_id),
                                                     EXISTS (SELECT 1 FROM cdp.record r JOIN cdp.source o USING (source_id) WHERE r.golden_id = p.golden_id AND o.kind = 'partner')))),
          'source_kind partner: those the summary says, and by their records those without a row');

-- consent: the probe form (a million in the statistics) equals the join form, by SMS and by any channel
CREATE TEMP TABLE joined AS
SELECT ch, cdp_internal.seg_consent_ok(:'patients', 'marketing', ch) AS ok FROM (VALUES ('sms'), (NULL)) v(ch);
UPDATE pg_class SET reltuples = 1000000 WHERE oid = 'cdp_internal.consent_summary'::regclass;
SELECT is((SELECT count(*) FROM joined j WHERE cdp_internal.seg_consent_ok(:'patients', 'marketing', j.ch) IS DISTINCT FROM j.ok), 0::bigint,
          'seg_consent_ok: the reader''s probes give the join''s ids, by SMS and any channel');
SELECT ok((SELECT bool_and(cardinality(ok) BETWEEN 20 AND cardinality(:'patients'::bigint[]) - 20) FROM joined), 'consent keeps some and drops others');

-- the rows kept from the last set read (prev29): a subset within one snapshot takes them; a write
-- since (a later command id, same transaction) is seen, within a function and between statements
SELECT ids AS everyone FROM sets WHERE k = 'everyone and beyond' \gset
SELECT ids AS third FROM sets WHERE k = 'random third' \gset
CREATE FUNCTION pg_temp.kept_subset(big bigint[], small bigint[]) RETURNS SETOF cdp_internal.consent_summary
	LANGUAGE plpgsql STABLE AS $$
BEGIN
	PERFORM count(*) FROM cdp_internal.seg_summary_rows(big);
	RETURN QUERY SELECT x.golden_id, x.allowed, x.internal, x.partner, NULL::bigint[] FROM cdp_internal.seg_summary_rows(small) x;
END $$;
SELECT is((SELECT count(*) FROM (
		(SELECT golden_id, allowed, internal, partner FROM pg_temp.kept_subset(:'everyone', :'third') EXCEPT ALL
		 SELECT c.id, s.allowed, s.internal, s.partner FROM unnest(:'third'::bigint[]) c(id) LEFT JOIN cdp_internal.consent_summary s ON s.golden_id = c.id)
		UNION ALL
		(SELECT c.id, s.allowed, s.internal, s.partner FROM unnest(:'third'::bigint[]) c(id) LEFT JOIN cdp_internal.consent_summary s ON s.golden_id = c.id
		 EXCEPT ALL SELECT golden_id, allowed, internal, partner FROM pg_temp.kept_subset(:'everyone', :'third'))) d), 0::bigint,
          'a subset read after its set under the same snapshot: the join''s rows');
CREATE FUNCTION pg_temp.after_write(big bigint[], small bigint[]) RETURNS bigint
	LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	PERFORM count(*) FROM cdp_internal.seg_summary_rows(big);
	UPDATE cdp_internal.consent_summary s SET allowed = s.allowed # 4 WHERE s.golden_id = ANY (small);
	RETURN (SELECT count(*) FROM cdp_internal.seg_summary_rows(small) x JOIN cdp_internal.consent_summary s ON s.golden_id = x.golden_id
	         WHERE x.allowed IS DISTINCT FROM s.allowed);
END $$;
SELECT is(pg_temp.after_write(:'everyone', :'third'), 0::bigint, 'a subset read after a write in the same function sees the write');
SELECT count(*) AS n FROM cdp_internal.seg_summary_rows(:'everyone') \gset
UPDATE cdp_internal.consent_summary s SET internal = NOT s.internal WHERE s.golden_id = ANY (:'third');
SELECT is((SELECT count(*) FROM cdp_internal.seg_summary_rows(:'third') x JOIN cdp_internal.consent_summary s ON s.golden_id = x.golden_id
            WHERE (x.allowed, x.internal, x.partner) IS DISTINCT FROM (s.allowed, s.internal, s.partner)), 0::bigint,
          'a subset read in a later statement after a write sees the write');

-- a role under row-level security reads the rows through SQL: what the policies show it
CREATE ROLE seg28_rls_reader;
GRANT USAGE ON SCHEMA cdp, cdp_internal TO seg28_rls_reader;
GRANT SELECT ON cdp_internal.consent_summary TO seg28_rls_reader;
GRANT EXECUTE ON FUNCTION cdp_internal.seg_summary_rows(bigint[]) TO seg28_rls_reader;
SELECT ids AS everyone FROM sets WHERE k = 'everyone and beyond' \gset
SET ROLE seg28_rls_reader;
SELECT is((SELECT count(*) FILTER (WHERE x.allowed IS NOT NULL) FROM cdp_internal.seg_summary_rows(:'everyone') x),
          (SELECT count(*) FROM unnest(:'everyone'::bigint[]) c(id) JOIN cdp_internal.consent_summary y ON y.golden_id = c.id),
          'under row-level security: the rows the policies let the role see, no more');
RESET ROLE;

-- the arguments it refuses
SELECT throws_ok($$SELECT * FROM cdp_internal.seg_summary_rows('{3,1}')$$, '22023', NULL, 'ids not ascending: 22023');
SELECT throws_ok($$SELECT * FROM cdp_internal.seg_summary_rows(NULL)$$, '22004', 'argument "ids" of seg_summary_rows cannot be null',
                 'a NULL set: 22004');

SELECT * FROM finish();
ROLLBACK;
