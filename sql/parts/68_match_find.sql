/*
 * sql/parts/68_match_find.sql: find_patient, the reception desk's question «is this patient already
 * with us?» over the matching keys and the name index (stores nothing).
 */

-- _find_probe: the attrs of a lookup as a record row, normalised by ingest's own normaliser (invalid
-- values set aside); shared by find_patient and find_patient_namesakes.
CREATE FUNCTION cdp_internal._find_probe(attrs jsonb) RETURNS @extschema@.record
	LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF attrs IS NULL OR pg_catalog.jsonb_typeof(attrs) <> 'object' THEN
		RAISE EXCEPTION 'attrs must be a JSON object' USING ERRCODE = '22023';
	END IF;
	RETURN pg_catalog.jsonb_populate_record(NULL::@extschema@.record,
		@extschema@.normalize_attrs(attrs, true) || '{"record_id": -1, "golden_id": -1}');
END $$;
COMMENT ON FUNCTION cdp_internal._find_probe(jsonb) IS
	'internal: the attrs of find_patient / find_patient_namesakes as a normalised record row (22023 unless an object)';

CREATE FUNCTION @extschema@.find_patient(attrs jsonb, max_results int DEFAULT 10)
	RETURNS TABLE (golden_id bigint, probability float8, record_id bigint, summary text)
	LANGUAGE plpgsql STABLE PARALLEL UNSAFE
	-- a generic plan: re-planning the ranking query at every call was a third of a lookup
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan AS $$
DECLARE
	a record := cdp_internal._match_active();
	probe @extschema@.record;
	f record;
	min_prob float8 := 0.01 * (a.settings ->> 'review_threshold')::float8;
	pname text;
BEGIN
	probe := cdp_internal._find_probe(attrs);
	IF max_results IS NULL OR max_results < 1 OR max_results > 1000 THEN
		RAISE EXCEPTION 'max_results must be between 1 and 1000' USING ERRCODE = '22023';
	END IF;
	pname := pg_catalog.concat_ws(' ', probe.family_name, probe.given_name, probe.patronymic);
	EXECUTE cdp_internal._match_feature_query(a.settings, '(SELECT ($1).*) r') INTO f USING probe;
	-- Every block mate is scored (no probability floor in the walk).  What the desk gave beside the
	-- name decides first: a person whose record agrees exactly on the birth date, a phone or the
	-- SNILS given, and whose name meets the probe's in a word (cdp.name_similarity > 0), comes before namesakes
	-- that only score well; among those, and among the rest, the probability orders.  Rows under the
	-- review floor are kept only when such an attr agrees.  The summary is written for the rows
	-- returned only.
	RETURN QUERY
	SELECT t.g, t.probability, t.rid, cdp_internal._match_summary(a.settings, t.levels) FROM (
	SELECT z.g, z.probability, z.rid, z.levels, z.agree FROM (
	SELECT DISTINCT ON (x.g) x.g, x.probability, x.rid, x.levels, x.agree
	  FROM (SELECT rc.golden_id AS g, y.probability, y.rid, y.levels,
	               -- the cheap exact checks first; the name is compared only for the rows they keep
	               CASE WHEN e.n > 0 AND @extschema@.name_similarity(
	                             pg_catalog.concat_ws(' ', rc.family_name, rc.given_name, rc.patronymic), pname) > 0
	                    THEN e.n ELSE 0 END AS agree
	          FROM (SELECT w.probability, w.levels, CASE WHEN w.record_a = -1 THEN w.record_b ELSE w.record_a END AS rid
	                  FROM cdp_internal._match_walk('cross',
	                         pg_catalog.format('SELECT -1::bigint, -1::bigint, %s::int, %L::text[], %L::text[] UNION ALL '
	                                           'SELECT k.record_id, NULL::bigint, k.flags, k.feat, k.bk FROM cdp_internal.match_key k WHERE k.record_id IN (SELECT m.record_id FROM cdp_internal.match_block m WHERE m.bk = ANY (%L::text[]))',
	                                           f.flags, f.feat, f.bk, f.bk),
	                         a.program, a.version, 0::float8, 0, 0, ARRAY[-1]::bigint[]) w) y
	          -- block mates are read without golden ids; the pairs kept read theirs, one by one
	          -- (LIMIT 1 keeps the planner from hashing the whole record table for a few rows)
	         CROSS JOIN LATERAL (SELECT r.golden_id, r.family_name, r.given_name, r.patronymic, r.birth_date,
	                                    r.phones, r.snils
	                               FROM @extschema@.record r WHERE r.record_id = y.rid LIMIT 1) rc
	         CROSS JOIN LATERAL (SELECT (probe.birth_date IS NOT NULL AND rc.birth_date = probe.birth_date)::int
	                                  + (probe.phones IS NOT NULL AND rc.phones OPERATOR(pg_catalog.&&) probe.phones)::int
	                                  + (probe.snils IS NOT NULL AND rc.snils OPERATOR(@extschema@.=) probe.snils)::int AS n) e) x
	 WHERE x.agree > 0 OR x.probability >= min_prob
	 ORDER BY x.g, x.agree DESC, x.probability DESC) z
	 ORDER BY z.agree DESC, z.probability DESC, z.g
	 LIMIT max_results) t
	 ORDER BY t.agree DESC, t.probability DESC, t.g;
END $$;
COMMENT ON FUNCTION @extschema@.find_patient(jsonb, int) IS
	'is this patient already with us? candidate persons for a set of attrs (stores nothing), best record per person with probability and a Russian summary; persons agreeing exactly on a birth date, phone or SNILS given come first; e.g. find_patient(''{"family_name":"Иванова","birth_date":"1980-03-05"}'')';


-- find_patient_namesakes: with only a name, find_patient would show an arbitrary max_results of the
-- namesakes; this says how many persons share everything the attrs give, and what to ask for next.
CREATE FUNCTION @extschema@.find_patient_namesakes(attrs jsonb)
	RETURNS TABLE (persons bigint, records bigint, ask text[])
	LANGUAGE plpgsql STABLE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	a record := cdp_internal._match_active();
	probe @extschema@.record;
	f record;
BEGIN
	probe := cdp_internal._find_probe(attrs);
	-- candidates: the probe's blocks (for a name alone, the name-only blocking rules), then every
	-- record that agrees exactly with each attribute the probe gives (names by their name key)
	EXECUTE cdp_internal._match_feature_query(a.settings, '(SELECT ($1).*) r') INTO f USING probe;
	RETURN QUERY
	SELECT pg_catalog.count(DISTINCT rc.golden_id), pg_catalog.count(*),
	       ARRAY(SELECT x FROM pg_catalog.unnest(ARRAY['birth_date', 'phone', 'snils']) x
	              WHERE (x = 'birth_date' AND probe.birth_date IS NULL) OR (x = 'phone' AND probe.phones IS NULL)
	                 OR (x = 'snils' AND probe.snils IS NULL))
	  FROM @extschema@.record rc
	 WHERE rc.record_id IN (SELECT m.record_id FROM cdp_internal.match_block m WHERE m.bk = ANY (f.bk))
	   AND (probe.family_name IS NULL OR @extschema@.name_key(rc.family_name) = @extschema@.name_key(probe.family_name))
	   AND (probe.given_name IS NULL OR @extschema@.name_key(rc.given_name) = @extschema@.name_key(probe.given_name))
	   AND (probe.patronymic IS NULL OR @extschema@.name_key(rc.patronymic) = @extschema@.name_key(probe.patronymic))
	   AND (probe.birth_date IS NULL OR rc.birth_date = probe.birth_date)
	   AND (probe.phones IS NULL OR rc.phones OPERATOR(pg_catalog.&&) probe.phones)
	   AND (probe.snils IS NULL OR rc.snils OPERATOR(@extschema@.=) probe.snils);
END $$;
COMMENT ON FUNCTION @extschema@.find_patient_namesakes(jsonb) IS
	'how many persons (and records) agree exactly with everything attrs give (names by name key), and which of birth_date, phone, snils to ask for next; e.g. find_patient_namesakes(''{"family_name":"Иванова","given_name":"Мария"}'')';
