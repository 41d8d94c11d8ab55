-- test/oracles/golden_fold.sql: the survivorship fold and the record documents in PL/pgSQL + SQL,
-- the oracles of the C functions cdp.golden_fold and cdp.golden_record_doc (src/golden_fold.c).
-- They were the product's first implementation; they are test code now, created in schema
-- cdp_test by the tests and benchmarks that use them:
--   test/pgtap/70_golden.sql, test/pgtap/71_golden_fold.sql      \ir ../oracles/golden_fold.sql
--   GOLDEN_FOLD=sql test/bench/golden_speed.sh                    (puts them in place of the C ones)
-- Loading twice is harmless (IF NOT EXISTS, OR REPLACE).  Needs the cdp extension in schema cdp.
CREATE SCHEMA IF NOT EXISTS cdp_test;
COMMENT ON SCHEMA cdp_test IS 'test oracles of cdp (test/oracles/); never part of the extension';

/*
 * One source record reduced to what the fold reads, from a row of cdp.record (to_jsonb) or from
 * the "record" object of a record.created/record.updated payload, and the source's trust.
 * Identifiers go through their types, so both paths give the types' canonical text.
 */
CREATE OR REPLACE FUNCTION cdp_test.golden_record_doc_sql(rec jsonb, trust int) RETURNS jsonb
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	AS $$
BEGIN
	RETURN (SELECT pg_catalog.jsonb_build_object(
		'record_id', (rec ->> 'record_id')::bigint,
		'source_id', (rec ->> 'source_id')::int,
		'trust', coalesce(trust, 0),
		'validated', coalesce(pg_catalog.lower(coalesce(rec ->> 'validated', rec -> 'extra' ->> 'validated'))
		                      IN ('true', 't', 'yes', '1'), false),
		'created_at', rec -> 'created_at',
		'updated_at', rec -> 'updated_at',
		'family_name', rec -> 'family_name',
		'given_name', rec -> 'given_name',
		'patronymic', rec -> 'patronymic',
		'sex', rec -> 'sex',
		'birth_date', rec -> 'birth_date',
		'snils', pg_catalog.to_jsonb((rec ->> 'snils')::cdp.snils),
		'oms', pg_catalog.to_jsonb((rec ->> 'oms')::cdp.oms),
		'address', rec -> 'address',
		'city', rec -> 'city',
		'phones', CASE WHEN pg_catalog.jsonb_typeof(rec -> 'phones') = 'array' THEN pg_catalog.to_jsonb(ARRAY(
		              SELECT x::cdp.phone FROM pg_catalog.jsonb_array_elements_text(rec -> 'phones') x)) END,
		'emails', CASE WHEN pg_catalog.jsonb_typeof(rec -> 'emails') = 'array' THEN pg_catalog.to_jsonb(ARRAY(
		              SELECT x::cdp.email FROM pg_catalog.jsonb_array_elements_text(rec -> 'emails') x)) END,
		'handles', rec -> 'handles'));
END
$$;
COMMENT ON FUNCTION cdp_test.golden_record_doc_sql(jsonb, int) IS
	'test oracle: cdp.golden_record_doc in SQL';

/* A timestamp as an ISO 8601 UTC string, independent of the session TimeZone. */
CREATE OR REPLACE FUNCTION cdp_test.golden_utc(ts timestamptz) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	AS $$ SELECT pg_catalog.to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') $$;
COMMENT ON FUNCTION cdp_test.golden_utc(timestamptz) IS
	'a timestamp as an ISO 8601 UTC string, so profiles do not depend on the session time zone';

/* The first rule (in order) on which the winner beat the best other value, or the tie-break. */
CREATE OR REPLACE FUNCTION cdp_test.golden_deciding_rule(rules text[], win numeric[], other numeric[]) RETURNS text
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	AS $$
BEGIN
	RETURN (SELECT CASE WHEN other IS NULL THEN 'unanimous'
	       ELSE coalesce((SELECT rules[i] FROM pg_catalog.generate_subscripts(rules, 1) i
	                       WHERE win[i] IS DISTINCT FROM other[i] ORDER BY i LIMIT 1), 'oldest_record') END);
END
$$;
COMMENT ON FUNCTION cdp_test.golden_deciding_rule(text[], numeric[], numeric[]) IS
	'the survivorship rule that decided between the winning value and the best other value';

/*
 * The survivorship fold: a pure function of the records of one person (an array of
 * golden_record_doc documents) and the rules.  Single-valued attributes: candidates are the
 * records with a non-empty value, ranked by the attribute's rules in order (each rule a score,
 * higher first), then by the smaller record id.  Multi-valued contacts keep every distinct value
 * with its source records, first/last seen and validity.  Returns the profile and, unless
 * with_lineage is false (the projection paths skip it), its lineage.
 *
 * The fold's first implementation, kept as the oracle of cdp.golden_fold (C).  It runs, as it
 * did in the product, with plan_cache_mode = force_generic_plan (planning its ranking query anew
 * at every call cost more than the fold) and jit = off.
 */
CREATE OR REPLACE FUNCTION cdp_test.golden_fold_sql(recs jsonb, rules jsonb, with_lineage boolean DEFAULT true) RETURNS jsonb
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET plan_cache_mode = force_generic_plan
	SET jit = off
	AS $$
DECLARE
	d		jsonb;
	rid		jsonb;
	seen	jsonb;
BEGIN
	/*
	 * One record (most persons): every value wins unanimously; the same result as the general
	 * query below, without its ranking.
	 */
	IF pg_catalog.jsonb_typeof(recs) = 'array' AND pg_catalog.jsonb_array_length(recs) = 1 THEN
		d := recs -> 0;
		rid := d -> 'record_id';
		seen := pg_catalog.jsonb_build_object(
			'sources', pg_catalog.jsonb_build_array(rid),
			'first_seen', cdp_test.golden_utc((d ->> 'created_at')::timestamptz),
			'last_seen', cdp_test.golden_utc((d ->> 'updated_at')::timestamptz),
			'confirmed', (d ->> 'validated')::boolean, 'validated', (d ->> 'validated')::boolean);
		RETURN (
			SELECT pg_catalog.jsonb_build_object(
				'attributes', coalesce((SELECT pg_catalog.jsonb_object_agg(a.key, d ->> a.key)
				                          FROM pg_catalog.jsonb_each(rules) a WHERE coalesce(d ->> a.key, '') <> ''), '{}'),
				'lineage', CASE WHEN with_lineage THEN coalesce((SELECT pg_catalog.jsonb_object_agg(a.key, pg_catalog.jsonb_build_object(
				                 'value', d ->> a.key, 'record_id', rid, 'source_id', d -> 'source_id', 'rule', 'unanimous',
				                 'agree', pg_catalog.jsonb_build_array(rid), 'lost', '[]'::jsonb))
				               FROM pg_catalog.jsonb_each(rules) a WHERE coalesce(d ->> a.key, '') <> ''), '{}') END,
				'phones', coalesce((SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('value', x.v) || seen) ORDER BY x.v)
				                      FROM (SELECT DISTINCT v FROM pg_catalog.jsonb_array_elements_text(
				                              CASE WHEN pg_catalog.jsonb_typeof(d -> 'phones') = 'array' THEN d -> 'phones' ELSE '[]' END) v
				                             WHERE coalesce(v, '') <> '') x), '[]'),
				'emails', coalesce((SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('value', x.v) || seen) ORDER BY x.v)
				                      FROM (SELECT DISTINCT v FROM pg_catalog.jsonb_array_elements_text(
				                              CASE WHEN pg_catalog.jsonb_typeof(d -> 'emails') = 'array' THEN d -> 'emails' ELSE '[]' END) v
				                             WHERE coalesce(v, '') <> '') x), '[]'),
				'handles', coalesce((SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_strip_nulls(
				                         pg_catalog.jsonb_build_object('value', h.value, 'network', h.key) || seen)
				                       ORDER BY h.key, h.value)
				                       FROM pg_catalog.jsonb_each_text(CASE WHEN pg_catalog.jsonb_typeof(d -> 'handles') = 'object'
				                                                            THEN d -> 'handles' ELSE '{}' END) h
				                      WHERE coalesce(h.value, '') <> ''), '[]'),
				'record_count', 1,
				'registered_on', ((d ->> 'created_at')::timestamptz AT TIME ZONE 'UTC')::date,
				'validated', (d ->> 'validated')::boolean,
				'updated_at', cdp_test.golden_utc((d ->> 'updated_at')::timestamptz)));
	END IF;
	RETURN (WITH r AS (
	SELECT e AS doc, (e ->> 'record_id')::bigint AS record_id, (e ->> 'source_id')::int AS source_id,
	       (e ->> 'trust')::numeric AS trust, (e ->> 'validated')::boolean AS validated,
	       (e ->> 'created_at')::timestamptz AS created_at, (e ->> 'updated_at')::timestamptz AS updated_at
	  FROM pg_catalog.jsonb_array_elements(recs) e
), cand AS (
	SELECT a.key AS attr, ARRAY(SELECT pg_catalog.jsonb_array_elements_text(a.value)) AS rulenames,
	       r.record_id, r.source_id, r.trust, r.validated, r.updated_at, r.doc ->> a.key AS v
	  FROM pg_catalog.jsonb_each(rules) a CROSS JOIN r
	 WHERE coalesce(r.doc ->> a.key, '') <> ''
), counted AS (
	SELECT c.*, pg_catalog.count(*) OVER (PARTITION BY c.attr, c.v) AS freq FROM cand c
), scored AS (
	SELECT s.attr, s.rulenames, s.record_id, s.source_id, s.v,
	       ARRAY(SELECT coalesce(CASE t.rule
	                   WHEN 'trusted' THEN s.trust
	                   WHEN 'recent' THEN EXTRACT(epoch FROM s.updated_at)
	                   WHEN 'frequent' THEN s.freq
	                   WHEN 'complete' THEN pg_catalog.char_length(s.v)
	                   WHEN 'validated' THEN s.validated::int END, -1)
	               FROM pg_catalog.unnest(s.rulenames) WITH ORDINALITY t(rule, n) ORDER BY t.n)::numeric[] AS score
	  FROM counted s
), ranked AS (
	SELECT s.*, pg_catalog.row_number() OVER (PARTITION BY s.attr ORDER BY s.score DESC, s.record_id) AS rn
	  FROM scored s
), win AS (
	SELECT w.attr, w.v, w.record_id, w.source_id,
	       CASE WHEN with_lineage THEN cdp_test.golden_deciding_rule(w.rulenames, w.score,
	           (SELECT o.score FROM ranked o WHERE o.attr = w.attr AND o.v <> w.v ORDER BY o.rn LIMIT 1)) END AS rule,
	       CASE WHEN with_lineage THEN (SELECT pg_catalog.jsonb_agg(o.record_id ORDER BY o.record_id) FROM ranked o
	         WHERE o.attr = w.attr AND o.v = w.v) END AS agree,
	       CASE WHEN with_lineage THEN coalesce((SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('value', l.v, 'records', l.recs) ORDER BY l.best)
	                   FROM (SELECT o.v, pg_catalog.min(o.rn) AS best,
	                                pg_catalog.jsonb_agg(o.record_id ORDER BY o.record_id) AS recs
	                           FROM ranked o WHERE o.attr = w.attr AND o.v <> w.v GROUP BY o.v) l), '[]') END AS lost
	  FROM ranked w WHERE w.rn = 1
), contact AS (
	SELECT k.kind, k.network, k.value,
	       pg_catalog.jsonb_agg(DISTINCT r.record_id) AS sources,
	       pg_catalog.min(r.created_at) AS first_seen, pg_catalog.max(r.updated_at) AS last_seen,
	       pg_catalog.bool_or(r.validated) AS validated,
	       pg_catalog.bool_or(r.validated) OR pg_catalog.count(DISTINCT r.source_id) >= 2 AS valid
	  FROM r, LATERAL (
	        SELECT 'phones' AS kind, NULL::text AS network, x AS value
	          FROM pg_catalog.jsonb_array_elements_text(CASE WHEN pg_catalog.jsonb_typeof(r.doc -> 'phones') = 'array'
	                                                         THEN r.doc -> 'phones' ELSE '[]' END) x
	        UNION ALL
	        SELECT 'emails', NULL, x
	          FROM pg_catalog.jsonb_array_elements_text(CASE WHEN pg_catalog.jsonb_typeof(r.doc -> 'emails') = 'array'
	                                                         THEN r.doc -> 'emails' ELSE '[]' END) x
	        UNION ALL
	        SELECT 'handles', h.key, h.value
	          FROM pg_catalog.jsonb_each_text(CASE WHEN pg_catalog.jsonb_typeof(r.doc -> 'handles') = 'object'
	                                               THEN r.doc -> 'handles' ELSE '{}' END) h
	         WHERE coalesce(h.value, '') <> '') k
	 WHERE coalesce(k.value, '') <> ''
	 GROUP BY k.kind, k.network, k.value
), contacts AS (
	SELECT c.kind, pg_catalog.jsonb_agg(
	           pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
	               'value', c.value, 'network', c.network, 'sources', c.sources,
	               'first_seen', cdp_test.golden_utc(c.first_seen), 'last_seen', cdp_test.golden_utc(c.last_seen),
	               'confirmed', c.valid, 'validated', c.validated))
	           ORDER BY c.last_seen DESC NULLS LAST, c.network, c.value) AS list
	  FROM contact c GROUP BY c.kind
)
SELECT pg_catalog.jsonb_build_object(
	'attributes', coalesce((SELECT pg_catalog.jsonb_object_agg(w.attr, w.v) FROM win w), '{}'),
	'lineage', CASE WHEN with_lineage THEN coalesce((SELECT pg_catalog.jsonb_object_agg(w.attr, pg_catalog.jsonb_build_object(
	                         'value', w.v, 'record_id', w.record_id, 'source_id', w.source_id,
	                         'rule', w.rule, 'agree', w.agree, 'lost', w.lost)) FROM win w), '{}') END,
	'phones', coalesce((SELECT c.list FROM contacts c WHERE c.kind = 'phones'), '[]'),
	'emails', coalesce((SELECT c.list FROM contacts c WHERE c.kind = 'emails'), '[]'),
	'handles', coalesce((SELECT c.list FROM contacts c WHERE c.kind = 'handles'), '[]'),
	'record_count', (SELECT pg_catalog.count(*) FROM r),
	'registered_on', (SELECT (pg_catalog.min(r.created_at) AT TIME ZONE 'UTC')::date FROM r),
	'validated', coalesce((SELECT pg_catalog.bool_or(r.validated) FROM r), false),
	'updated_at', (SELECT cdp_test.golden_utc(pg_catalog.max(r.updated_at)) FROM r)));
END
$$;
COMMENT ON FUNCTION cdp_test.golden_fold_sql(jsonb, jsonb, boolean) IS
	'test oracle: cdp.golden_fold in SQL';

