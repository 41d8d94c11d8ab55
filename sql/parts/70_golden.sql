/*
 * sql/parts/70_golden.sql: layer 7, golden patient records.
 *
 * Golden profiles (cdp.patient), membership (cdp.patient_member), redirects and clinical events
 * are projections of the append-only log cdp.event: every function here that changes them appends
 * its event through cdp.append_event in the same transaction, and cdp.rebuild_patients() replays
 * the log into the same rows.  The survivorship fold (cdp.golden_fold) is a pure function of the
 * records of one person and the rules; the live path feeds it from cdp.record, the replay path
 * from the record payloads in the log.  See doc/golden.md.
 */

/* ------------------------------------------------------------------ survivorship rules */

CREATE TABLE @extschema@.survivorship_rules (
	version		int PRIMARY KEY,
	rules		jsonb NOT NULL,
	at			timestamptz NOT NULL,
	event_id	bigint NOT NULL
);
COMMENT ON TABLE @extschema@.survivorship_rules IS
	'versions of the survivorship rules (projection of survivorship.configured events); none means the built-in default';

CREATE FUNCTION @extschema@.golden_default_rules() RETURNS jsonb
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	AS $$
	SELECT '{"family_name": ["validated", "trusted", "recent", "complete"],
	         "given_name":  ["validated", "trusted", "recent", "complete"],
	         "patronymic":  ["validated", "trusted", "recent", "complete"],
	         "sex":         ["validated", "trusted", "frequent", "recent"],
	         "birth_date":  ["validated", "trusted", "frequent", "recent"],
	         "snils":       ["validated", "trusted", "recent"],
	         "oms":         ["validated", "trusted", "recent"],
	         "address":     ["recent", "trusted", "complete"],
	         "city":        ["recent", "trusted", "frequent"]}'::jsonb
	$$;
COMMENT ON FUNCTION @extschema@.golden_default_rules() IS
	'built-in survivorship rules: for each single-valued attribute, the ordered list of rules that picks its value';

CREATE FUNCTION @extschema@.golden_rule_names() RETURNS text[]
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	AS $$ SELECT ARRAY['validated', 'trusted', 'recent', 'frequent', 'complete']::text[] $$;
COMMENT ON FUNCTION @extschema@.golden_rule_names() IS
	'names of the survivorship rules: validated (records flagged validated first), trusted (cdp.source.trust), recent (record updated_at), frequent (records sharing the value), complete (longest value)';

/*
 * The rules document as of a time: the newest configured version at or before it, else the
 * default (version 0).
 */
CREATE FUNCTION @extschema@.survivorship_rules_as_of(at timestamptz DEFAULT 'infinity',
	upto bigint DEFAULT 9223372036854775807, OUT version int, OUT rules jsonb)
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	AS $$
#variable_conflict use_column
BEGIN
	SELECT coalesce(s.version, 0), coalesce(s.rules, @extschema@.golden_default_rules())
	  INTO version, rules
	  FROM (SELECT 1) one
	  LEFT JOIN LATERAL (SELECT r.version, r.rules FROM @extschema@.survivorship_rules r
	                      WHERE r.at OPERATOR(pg_catalog.<=) survivorship_rules_as_of.at
	                        AND r.event_id OPERATOR(pg_catalog.<=) survivorship_rules_as_of.upto
	                      ORDER BY r.version DESC LIMIT 1) s ON true;
END
$$;
COMMENT ON FUNCTION @extschema@.survivorship_rules_as_of(timestamptz, bigint) IS
	'the survivorship rules in force at a time and log position (default: now) and their version (0 = built-in default)';

/*
 * Validates a rules document and returns it completed with the default for every attribute it
 * does not name.  Raises 22023 naming the attribute or rule at fault.
 */
CREATE FUNCTION @extschema@.golden_check_rules(rules jsonb) RETURNS jsonb
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	AS $$
DECLARE
	attr		text;
	list		jsonb;
	rule		jsonb;
	seen		text[];
	known		jsonb := @extschema@.golden_default_rules();
BEGIN
	IF rules IS NULL OR pg_catalog.jsonb_typeof(rules) <> 'object' THEN
		RAISE EXCEPTION 'survivorship rules must be a JSON object'
			USING ERRCODE = '22023',
			DETAIL = pg_catalog.format('The value given was %s.', coalesce(rules::text, 'NULL')),
			HINT = 'Give an object mapping an attribute to a list of rules, for example {"family_name": ["trusted", "recent"]}.';
	END IF;
	FOR attr, list IN SELECT e.key, e.value FROM pg_catalog.jsonb_each(rules) e LOOP
		IF NOT known ? attr THEN
			RAISE EXCEPTION 'unknown survivorship attribute "%"', attr
				USING ERRCODE = '22023',
				DETAIL = CASE WHEN attr IN ('phones', 'emails', 'handles')
				              THEN 'Multi-valued contacts keep every distinct value and take no rules.'
				              ELSE 'Only single-valued profile attributes take survivorship rules.' END,
				HINT = pg_catalog.format('Use one of: %s.',
					(SELECT pg_catalog.string_agg(k, ', ' ORDER BY k) FROM pg_catalog.jsonb_object_keys(known) k));
		END IF;
		IF pg_catalog.jsonb_typeof(list) <> 'array' OR pg_catalog.jsonb_array_length(list) = 0 THEN
			RAISE EXCEPTION 'survivorship rules for attribute "%" must be a non-empty array', attr
				USING ERRCODE = '22023',
				DETAIL = pg_catalog.format('The value given was %s.', list::text),
				HINT = 'Give an ordered list of rule names, for example ["trusted", "recent"].';
		END IF;
		seen := '{}';
		FOR rule IN SELECT x FROM pg_catalog.jsonb_array_elements(list) x LOOP
			IF pg_catalog.jsonb_typeof(rule) <> 'string'
			   OR NOT (rule #>> '{}') = ANY (@extschema@.golden_rule_names()) THEN
				RAISE EXCEPTION 'unknown survivorship rule "%" for attribute "%"', rule #>> '{}', attr
					USING ERRCODE = '22023',
					HINT = pg_catalog.format('Use some of: %s.',
						pg_catalog.array_to_string(@extschema@.golden_rule_names(), ', '));
			END IF;
			IF (rule #>> '{}') = ANY (seen) THEN
				RAISE EXCEPTION 'survivorship rule "%" appears twice for attribute "%"', rule #>> '{}', attr
					USING ERRCODE = '22023',
					HINT = 'Name each rule at most once per attribute.';
			END IF;
			seen := seen || (rule #>> '{}');
		END LOOP;
	END LOOP;
	RETURN known || rules;
END
$$;
COMMENT ON FUNCTION @extschema@.golden_check_rules(jsonb) IS
	'validates a survivorship rules document and completes it with the default rules (22023 on error)';

/* ------------------------------------------------------------------ projections */

CREATE TABLE @extschema@.patient (
	golden_id		bigint PRIMARY KEY,
	status			text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'archived')),
	status_at		timestamptz,
	registered_on	date,
	validated		boolean NOT NULL DEFAULT false,
	family_name		text,
	given_name		text,
	patronymic		text,
	sex				text,
	birth_date		date,
	phones			jsonb NOT NULL DEFAULT '[]',
	emails			jsonb NOT NULL DEFAULT '[]',
	handles			jsonb NOT NULL DEFAULT '[]',
	snils			@extschema@.snils,
	oms				@extschema@.oms,
	address			text,
	city			text,
	last_visit		timestamptz,
	record_count	int NOT NULL DEFAULT 0,
	updated_at		timestamptz,
	rules_version	int NOT NULL DEFAULT 0
);
COMMENT ON TABLE @extschema@.patient IS
	'golden patient profiles: one row per person, folded by survivorship from its source records (projection of cdp.event)';
CREATE INDEX patient_status_idx ON @extschema@.patient (status, golden_id);
ALTER TABLE @extschema@.patient ENABLE ROW LEVEL SECURITY;

CREATE TABLE @extschema@.patient_member (
	record_id	bigint NOT NULL,
	golden_id	bigint NOT NULL,
	from_event	bigint NOT NULL,
	from_at		timestamptz NOT NULL,
	to_event	bigint,
	to_at		timestamptz,
	PRIMARY KEY (record_id, from_event)
);
COMMENT ON TABLE @extschema@.patient_member IS
	'membership history: which golden id each source record belonged to between two events (projection of cdp.event)';
CREATE INDEX patient_member_golden_idx ON @extschema@.patient_member (golden_id, from_at);
CREATE UNIQUE INDEX patient_member_open_idx ON @extschema@.patient_member (record_id) WHERE to_event IS NULL;
ALTER TABLE @extschema@.patient_member ENABLE ROW LEVEL SECURITY;

CREATE TABLE @extschema@.patient_redirect (
	old_id		bigint PRIMARY KEY,
	new_id		bigint NOT NULL,
	at			timestamptz NOT NULL,
	event_id	bigint NOT NULL
);
COMMENT ON TABLE @extschema@.patient_redirect IS
	'golden ids absorbed by a merge and the id that survived (projection of patient.merged events)';
CREATE INDEX patient_redirect_new_idx ON @extschema@.patient_redirect (new_id);

CREATE TABLE @extschema@.golden_state (
	one				boolean PRIMARY KEY DEFAULT true CHECK (one),
	last_event_id	bigint NOT NULL DEFAULT 0
);
COMMENT ON TABLE @extschema@.golden_state IS
	'how far cdp.run_maintenance has caught the golden projections up with the log';
INSERT INTO @extschema@.golden_state DEFAULT VALUES;

CREATE SEQUENCE @extschema@.clinical_event_id_seq;
COMMENT ON SEQUENCE @extschema@.clinical_event_id_seq IS 'ids of cdp.clinical_event';

CREATE TABLE @extschema@.clinical_event (
	event_id		bigint PRIMARY KEY DEFAULT pg_catalog.nextval('@extschema@.clinical_event_id_seq'),
	source_id		int NOT NULL,
	source_key		text NOT NULL,
	record_id		bigint NOT NULL,
	golden_id		bigint NOT NULL,
	kind			text NOT NULL CHECK (kind IN ('visit', 'lab_test', 'diagnosis', 'sick_leave', 'recommendation')),
	at				timestamptz,
	visit_type		text CHECK (visit_type IN ('first', 'repeat')),
	visit_status	text CHECK (visit_status IN ('booked', 'came', 'in_appointment', 'done')),
	doctor			text,
	specialty		text,
	lab_code		text,
	lab_result		text,
	lab_unit		text,
	ref_low			numeric,
	ref_high		numeric,
	ref_text		text,
	icd10			text CHECK (icd10 ~ '^[A-Z][0-9]{2}(\.[0-9]{1,2})?$'),
	sick_leave_number text,
	sick_from		date,
	sick_to			date,
	recommendation	text,
	due_date		date,
	attrs			jsonb NOT NULL,
	attrs_hash		text NOT NULL,
	created_at		timestamptz NOT NULL,
	updated_at		timestamptz NOT NULL,
	version			int NOT NULL DEFAULT 1,
	UNIQUE (source_id, source_key)
);
COMMENT ON TABLE @extschema@.clinical_event IS
	'clinical events (visits, lab tests, diagnoses, sick leave, recommendations) of source records, so of golden patients';
CREATE INDEX clinical_event_record_idx ON @extschema@.clinical_event (record_id);
CREATE INDEX clinical_event_golden_idx ON @extschema@.clinical_event (golden_id, kind, at);
ALTER TABLE @extschema@.clinical_event ENABLE ROW LEVEL SECURITY;

/* ------------------------------------------------------------------ the fold (pure) */

/*
 * One source record reduced to what the fold reads, from a row of cdp.record (to_jsonb) or from
 * the "record" object of a record.created/record.updated payload, and the source's trust.
 * Identifiers go through their types, so both paths give the types' canonical text.
 */
CREATE FUNCTION @extschema@.golden_record_doc_sql(rec jsonb, trust int) RETURNS jsonb
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
		'snils', pg_catalog.to_jsonb((rec ->> 'snils')::@extschema@.snils),
		'oms', pg_catalog.to_jsonb((rec ->> 'oms')::@extschema@.oms),
		'address', rec -> 'address',
		'city', rec -> 'city',
		'phones', CASE WHEN pg_catalog.jsonb_typeof(rec -> 'phones') = 'array' THEN pg_catalog.to_jsonb(ARRAY(
		              SELECT x::@extschema@.phone FROM pg_catalog.jsonb_array_elements_text(rec -> 'phones') x)) END,
		'emails', CASE WHEN pg_catalog.jsonb_typeof(rec -> 'emails') = 'array' THEN pg_catalog.to_jsonb(ARRAY(
		              SELECT x::@extschema@.email FROM pg_catalog.jsonb_array_elements_text(rec -> 'emails') x)) END,
		'handles', rec -> 'handles'));
END
$$;
COMMENT ON FUNCTION @extschema@.golden_record_doc_sql(jsonb, int) IS
	'reference implementation of cdp.golden_record_doc in SQL (the tests compare the C version with it); not used by the projections';

/* The same in C (src/golden_fold.c), used by every projection path. */
CREATE FUNCTION @extschema@.golden_record_doc(rec jsonb, trust int) RETURNS jsonb
	LANGUAGE C IMMUTABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'cdp_golden_record_doc';
COMMENT ON FUNCTION @extschema@.golden_record_doc(jsonb, int) IS
	'reduces a source record (row JSON or log payload) and its source trust to the document the survivorship fold reads, identifiers in canonical form (C)';

/* A timestamp as an ISO 8601 UTC string, independent of the session TimeZone. */
CREATE FUNCTION @extschema@.golden_utc(ts timestamptz) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	AS $$ SELECT pg_catalog.to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') $$;
COMMENT ON FUNCTION @extschema@.golden_utc(timestamptz) IS
	'a timestamp as an ISO 8601 UTC string, so profiles do not depend on the session time zone';

/* The first rule (in order) on which the winner beat the best other value, or the tie-break. */
CREATE FUNCTION @extschema@.golden_deciding_rule(rules text[], win numeric[], other numeric[]) RETURNS text
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	AS $$
BEGIN
	RETURN (SELECT CASE WHEN other IS NULL THEN 'unanimous'
	       ELSE coalesce((SELECT rules[i] FROM pg_catalog.generate_subscripts(rules, 1) i
	                       WHERE win[i] IS DISTINCT FROM other[i] ORDER BY i LIMIT 1), 'oldest_record') END);
END
$$;
COMMENT ON FUNCTION @extschema@.golden_deciding_rule(text[], numeric[], numeric[]) IS
	'the survivorship rule that decided between the winning value and the best other value';

/*
 * The survivorship fold: a pure function of the records of one person (an array of
 * golden_record_doc documents) and the rules.  Single-valued attributes: candidates are the
 * records with a non-empty value, ranked by the attribute's rules in order (each rule a score,
 * higher first), then by the smaller record id.  Multi-valued contacts keep every distinct value
 * with its source records, first/last seen and validity.  Returns the profile and, unless
 * with_lineage is false (the projection paths skip it), its lineage.
 *
 * This is the reference SQL version (cdp.golden_fold, below, is the same in C).
 * Plans: golden_fold_sql, golden_compute, link_records and unmerge run with plan_cache_mode =
 * force_generic_plan (their nested calls inherit it).  Their parameters are JSON documents and
 * short id arrays, for which a custom plan is never better, and planning the fold's ranking query
 * anew at every call cost about 1 ms of the 1.5 ms a two-record fold took (see
 * doc/benchmarks-golden.md).  refresh_patients keeps the default: ingest passes it thousands of
 * ids at once, where a custom plan of its update pays off.
 * They also run with jit = off: a generic plan's cost estimate can pass jit_above_cost, and
 * compiling it at every merge made a matching run of 24,000 merges take over 12 minutes instead
 * of 48 seconds.
 */
CREATE FUNCTION @extschema@.golden_fold_sql(recs jsonb, rules jsonb, with_lineage boolean DEFAULT true) RETURNS jsonb
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
			'first_seen', @extschema@.golden_utc((d ->> 'created_at')::timestamptz),
			'last_seen', @extschema@.golden_utc((d ->> 'updated_at')::timestamptz),
			'valid', (d ->> 'validated')::boolean, 'validated', (d ->> 'validated')::boolean);
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
				'updated_at', @extschema@.golden_utc((d ->> 'updated_at')::timestamptz)));
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
	       CASE WHEN with_lineage THEN @extschema@.golden_deciding_rule(w.rulenames, w.score,
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
	               'first_seen', @extschema@.golden_utc(c.first_seen), 'last_seen', @extschema@.golden_utc(c.last_seen),
	               'valid', c.valid, 'validated', c.validated))
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
	'updated_at', (SELECT @extschema@.golden_utc(pg_catalog.max(r.updated_at)) FROM r)));
END
$$;
COMMENT ON FUNCTION @extschema@.golden_fold_sql(jsonb, jsonb, boolean) IS
	'reference implementation of cdp.golden_fold in SQL (the tests compare the C fold with it); not used by the projections';

/*
 * The fold the projections use: the same function in C (src/golden_fold.c), about 20 times
 * faster, with the same output for every well-formed input (a pgTAP test folds generated
 * clusters under varied rules with both).  NULL arguments, recs that is not an array of objects
 * and rules that are not an object of rule-name arrays raise 22004 / 22023.
 */
CREATE FUNCTION @extschema@.golden_fold(recs jsonb, rules jsonb, with_lineage boolean DEFAULT true) RETURNS jsonb
	LANGUAGE C IMMUTABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'cdp_golden_fold';
COMMENT ON FUNCTION @extschema@.golden_fold(jsonb, jsonb, boolean) IS
	'survivorship fold (C): pure function of one person''s source records and the rules, returning the profile attributes, contacts and (unless with_lineage is false) lineage';

/* Builds the projection row of one person from its fold and its log-derived status and visits. */
CREATE FUNCTION @extschema@.golden_row(golden_id bigint, fold jsonb, status text, status_at timestamptz,
	last_visit timestamptz, rules_version int) RETURNS @extschema@.patient
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	AS $$
BEGIN
	RETURN ROW(golden_id, coalesce(status, 'active'), status_at,
	       (fold ->> 'registered_on')::date, (fold ->> 'validated')::boolean,
	       fold -> 'attributes' ->> 'family_name', fold -> 'attributes' ->> 'given_name',
	       fold -> 'attributes' ->> 'patronymic', fold -> 'attributes' ->> 'sex',
	       (fold -> 'attributes' ->> 'birth_date')::date,
	       fold -> 'phones', fold -> 'emails', fold -> 'handles',
	       (fold -> 'attributes' ->> 'snils')::@extschema@.snils, (fold -> 'attributes' ->> 'oms')::@extschema@.oms,
	       fold -> 'attributes' ->> 'address', fold -> 'attributes' ->> 'city',
	       last_visit, (fold ->> 'record_count')::int, (fold ->> 'updated_at')::timestamptz,
	       rules_version)::@extschema@.patient;
END
$$;
COMMENT ON FUNCTION @extschema@.golden_row(bigint, jsonb, text, timestamptz, timestamptz, int) IS
	'the cdp.patient row of one person from its survivorship fold, status and last visit';

/* ------------------------------------------------------------------ live computation */

/*
 * The profiles of the given golden ids computed from the live tables (cdp.record, cdp.source,
 * cdp.clinical_event, the stored status).  Ids without records yield nothing.
 */
CREATE FUNCTION @extschema@.golden_compute(ids bigint[]) RETURNS SETOF @extschema@.patient
	LANGUAGE plpgsql STABLE PARALLEL SAFE ROWS 10
	SET plan_cache_mode = force_generic_plan
	SET jit = off
	AS $$
BEGIN
	RETURN QUERY
	WITH rl AS (SELECT * FROM @extschema@.survivorship_rules_as_of('infinity')),
	recs AS (
		SELECT r.golden_id,
		       /* only the columns golden_record_doc reads: raw (the source document, about half the
		          row) and the keys are left out, which makes a fold about 8 % cheaper */
		       pg_catalog.jsonb_agg(@extschema@.golden_record_doc(pg_catalog.to_jsonb((SELECT d FROM (
		           SELECT r.record_id, r.source_id, r.family_name, r.given_name, r.patronymic, r.birth_date,
		                  r.sex, r.phones, r.emails, r.snils, r.oms, r.address, r.city, r.handles, r.extra,
		                  r.created_at, r.updated_at) d)), s.trust) ORDER BY r.record_id) AS docs
		  FROM (SELECT DISTINCT i FROM pg_catalog.unnest(ids) i) g
		  JOIN @extschema@.record r ON r.golden_id = g.i
		  LEFT JOIN @extschema@.source s ON s.source_id = r.source_id
		 GROUP BY r.golden_id)
	SELECT row.*
	  FROM recs CROSS JOIN rl
	  LEFT JOIN @extschema@.patient p ON p.golden_id = recs.golden_id
	  CROSS JOIN LATERAL @extschema@.golden_row(recs.golden_id, @extschema@.golden_fold(recs.docs, rl.rules, false),
	           p.status, p.status_at,
	           (SELECT pg_catalog.max(c.at) FROM @extschema@.clinical_event c
	             WHERE c.golden_id = recs.golden_id AND c.kind = 'visit'
	               AND c.visit_status IN ('came', 'in_appointment', 'done')),
	           rl.version) row;
END
$$;
COMMENT ON FUNCTION @extschema@.golden_compute(bigint[]) IS
	'profiles of the given golden ids folded from the live records (internal to refresh_patients)';

/*
 * Follows redirects from a golden id to the person it now belongs to; NULL when the id is
 * unknown.  Chains (a merged into b, b into c) are followed up to 1000 steps.
 */
CREATE FUNCTION @extschema@.resolve_patient(id bigint) RETURNS bigint
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
	AS $$
DECLARE
	cur		bigint := id;
	nxt		bigint;
BEGIN
	FOR depth IN 1..1000 LOOP
		SELECT d.new_id INTO nxt FROM @extschema@.patient_redirect d WHERE d.old_id = cur;
		EXIT WHEN NOT FOUND;
		cur := nxt;
	END LOOP;
	IF EXISTS (SELECT 1 FROM @extschema@.patient p WHERE p.golden_id = cur) THEN
		RETURN cur;
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION @extschema@.resolve_patient(bigint) IS
	'the golden id a (possibly merged-away) golden id now belongs to, following redirect chains; NULL if unknown';

/*
 * Opens a membership interval for every record of the given golden ids that has none yet (a
 * record ingest just created), starting at its record.created event.
 */
CREATE FUNCTION @extschema@.golden_open_members(ids bigint[]) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	AS $$
BEGIN
	INSERT INTO @extschema@.patient_member (record_id, golden_id, from_event, from_at)
	SELECT r.record_id, r.golden_id, e.event_id, e.at
	  FROM (SELECT DISTINCT i FROM pg_catalog.unnest(ids) i) g
	  JOIN @extschema@.record r ON r.golden_id = g.i
	  CROSS JOIN LATERAL (SELECT e.event_id, e.at FROM @extschema@.event e
	                       WHERE e.subject = r.record_id AND e.kind = 'record.created'
	                       ORDER BY e.event_id LIMIT 1) e
	 WHERE NOT EXISTS (SELECT 1 FROM @extschema@.patient_member m
	                    WHERE m.record_id = r.record_id AND m.to_event IS NULL)
	ON CONFLICT DO NOTHING;
END
$$;
COMMENT ON FUNCTION @extschema@.golden_open_members(bigint[]) IS
	'starts the membership history of records new to the given golden ids (internal)';

/*
 * Re-folds the existing, already locked profile rows of the given golden ids (no redirects
 * followed, no rows created or removed); returns how many changed.  The shared last step of
 * refresh_patients and link_records.  golden_compute returns only rows of the given ids, so the
 * join needs no "= ANY (ids)" filter: tested on each joined row against the whole array, it
 * made a re-fold of n persons O(n^2) (100,000 persons: over 6 minutes).
 * enable_seqscan = off (inherited by golden_compute): the rows are reached by id, through the
 * indexes.  golden_compute's plan is generic and cached for the session; planned while the
 * tables looked empty (a fresh clinic, or one long transaction that autovacuum cannot analyze),
 * it hashed a sequential scan of every record and profile for each call, so one transaction of
 * per-row upserts took 13 ms a row at 15,000 rows instead of about 1 ms.  With statistics the
 * plan was index-driven already (the id list is estimated at 10 rows).
 */
CREATE FUNCTION @extschema@.golden_refold(ids bigint[]) RETURNS int
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET enable_seqscan = off
	AS $$
DECLARE
	n	int;
BEGIN
	UPDATE @extschema@.patient p SET
		status = c.status, status_at = c.status_at, registered_on = c.registered_on, validated = c.validated,
		family_name = c.family_name, given_name = c.given_name, patronymic = c.patronymic, sex = c.sex,
		birth_date = c.birth_date, phones = c.phones, emails = c.emails, handles = c.handles,
		snils = c.snils, oms = c.oms, address = c.address, city = c.city, last_visit = c.last_visit,
		record_count = c.record_count, updated_at = c.updated_at, rules_version = c.rules_version
	  FROM @extschema@.golden_compute(ids) c
	 WHERE p.golden_id = c.golden_id
	   AND (p.*) IS DISTINCT FROM (c.*);
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;
COMMENT ON FUNCTION @extschema@.golden_refold(bigint[]) IS
	're-folds the existing, locked profile rows of the given golden ids; returns how many changed (internal)';

/*
 * Re-folds the profiles of the given golden ids (following redirects) from their records:
 * creates the row of a new person, updates a changed one, removes one left without records.
 * Locks the patient rows in id order first, so concurrent refreshes and merges serialise and the
 * fold then reads committed records.  Called by ingest after every record change.
 * jit = off (inherited by golden_open_members, golden_refold, golden_compute): while a freshly
 * loaded table has no statistics, the estimate of a 5,000-id batch passed jit_above_cost and
 * every batch compiled its plans with LLVM.  For the same reason each statement here (and in
 * golden_open_members and golden_compute) starts from the id list (unnest joined to the id
 * index) rather than filtering a table with "= ANY (ids)": without statistics, or in a generic
 * plan, the latter became a sequential scan testing every row against the whole array, so
 * ingest of 100,000 records into a fresh database went from 0.5 s per batch of 5,000 to 2 s as
 * the tables grew.  enable_seqscan = off (inherited by the three): see golden_refold; the
 * statements here reach rows by id too.
 */
CREATE FUNCTION @extschema@.refresh_patients(golden_ids bigint[]) RETURNS int
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET jit = off
	SET enable_seqscan = off
	AS $$
DECLARE
	todo	bigint[];
	n		int;
BEGIN
	IF golden_ids IS NULL THEN
		RETURN 0;
	END IF;
	SELECT pg_catalog.array_agg(DISTINCT x.g ORDER BY x.g) INTO todo
	  FROM (SELECT coalesce(@extschema@.resolve_patient(i), i) AS g
	          FROM pg_catalog.unnest(golden_ids) i WHERE i IS NOT NULL) x;
	IF todo IS NULL THEN
		RETURN 0;
	END IF;
	/* rows exist (placeholders for new persons), then lock them in id order */
	INSERT INTO @extschema@.patient (golden_id)
	SELECT g.i FROM pg_catalog.unnest(todo) g(i)
	 WHERE EXISTS (SELECT 1 FROM @extschema@.record r WHERE r.golden_id = g.i)
	ORDER BY 1
	ON CONFLICT (golden_id) DO NOTHING;
	PERFORM 1 FROM pg_catalog.unnest(todo) g(i) JOIN @extschema@.patient p ON p.golden_id = g.i
	 ORDER BY p.golden_id FOR UPDATE OF p;
	PERFORM @extschema@.golden_open_members(todo);
	/* a new statement: sees what committed while we waited for the locks */
	n := @extschema@.golden_refold(todo);
	DELETE FROM @extschema@.patient p
	 USING pg_catalog.unnest(todo) g(i)
	 WHERE p.golden_id = g.i
	   AND NOT EXISTS (SELECT 1 FROM @extschema@.record r WHERE r.golden_id = p.golden_id);
	RETURN n;
END
$$;
COMMENT ON FUNCTION @extschema@.refresh_patients(bigint[]) IS
	're-folds the golden profiles of the given ids (after redirects) from their current records; returns how many rows changed';

/* ------------------------------------------------------------------ replay from the log */

/*
 * Membership intervals derived from the log alone: a record.created event puts a record into its
 * first golden id, patient.merged moves the listed records into the survivor, patient.unmerged
 * moves one record into its new id.  Each move ends the record's previous interval.
 */
CREATE FUNCTION @extschema@.golden_membership_from_log()
	RETURNS TABLE (record_id bigint, golden_id bigint, from_event bigint, from_at timestamptz,
	               to_event bigint, to_at timestamptz)
	LANGUAGE sql STABLE PARALLEL SAFE
	AS $$
	/*
	 * one pass over the log: a patient.merged event gives one move per record it lists (none
	 * when the list is empty), the other two kinds one move each
	 */
	WITH moves AS (
		SELECT CASE e.kind WHEN 'record.created' THEN e.subject
		                   WHEN 'patient.merged' THEN m::bigint
		                   ELSE (e.payload ->> 'record_id')::bigint END AS record_id,
		       CASE e.kind WHEN 'record.created'
		                   THEN coalesce(e.golden_id, (e.payload -> 'record' ->> 'golden_id')::bigint)
		                   ELSE (e.payload ->> 'into')::bigint END AS golden_id,
		       e.event_id, e.at
		  FROM @extschema@.event e
		 CROSS JOIN LATERAL pg_catalog.jsonb_array_elements_text(
		           CASE WHEN e.kind = 'patient.merged' THEN e.payload -> 'records' ELSE '[null]'::jsonb END) m
		 WHERE e.kind IN ('record.created', 'patient.merged', 'patient.unmerged'))
	SELECT m.record_id, m.golden_id, m.event_id, m.at,
	       pg_catalog.lead(m.event_id) OVER w, pg_catalog.lead(m.at) OVER w
	  FROM moves m
	WINDOW w AS (PARTITION BY m.record_id ORDER BY m.event_id)
	$$;
COMMENT ON FUNCTION @extschema@.golden_membership_from_log() IS
	'membership intervals of every record, derived from the log alone (used by rebuild_patients)';

/*
 * Profiles replayed from the log as of a time: the records that were members then, each at its
 * newest version logged by then, the rules in force then, the status from the newest
 * archive/restore event by then, and the last visit from the clinical events logged by then.
 * members holds (golden_id, record_id) pairs as of that time.  jit = off: with the statistics
 * of a small log (a bulk load autovacuum has not analyzed yet) the cost estimate passed
 * jit_above_cost and every patient_as_of spent ~30-60 ms compiling its plan for a 0.2 ms replay.
 */
CREATE FUNCTION @extschema@.golden_replay(at timestamptz, upto bigint, members jsonb) RETURNS SETOF @extschema@.patient
	LANGUAGE plpgsql STABLE PARALLEL SAFE ROWS 10
	SET jit = off
	AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY
	WITH rl AS (SELECT * FROM @extschema@.survivorship_rules_as_of(at, upto)),
	m AS (SELECT (x ->> 0)::bigint AS golden_id, (x ->> 1)::bigint AS record_id
	        FROM pg_catalog.jsonb_array_elements(members) x),
	/*
	 * The newest logged version of each member record, of each visit and of the status: one
	 * LATERAL lookup by subject (event_subject_idx, newest first) each, so the plan is
	 * index-driven whatever the statistics of cdp.event say (with those of a small log, a
	 * semi-join read the whole log at every patient_as_of).  The subject in the ORDER BY is
	 * constant there; it makes the (subject, event_id) index the only one giving that order, so
	 * a backward scan of the primary key "until a row of this subject turns up" is never chosen.
	 */
	ver AS (
		SELECT r.record_id, v.rec, v.source
		  FROM (SELECT DISTINCT m.record_id FROM m) r
		 CROSS JOIN LATERAL (
		       SELECT e.payload -> 'record' AS rec, e.payload ->> 'source' AS source
		         FROM @extschema@.event e
		        WHERE e.subject = r.record_id
		          AND e.kind IN ('record.created', 'record.updated')
		          AND e.at <= golden_replay.at AND e.event_id <= golden_replay.upto
		        ORDER BY e.subject DESC, e.event_id DESC LIMIT 1) v),
	docs AS (
		SELECT m.golden_id,
		       pg_catalog.jsonb_agg(@extschema@.golden_record_doc(
		           ver.rec || pg_catalog.jsonb_build_object('record_id', m.record_id, 'source_id', s.source_id),
		           s.trust) ORDER BY m.record_id) AS docs
		  FROM m JOIN ver ON ver.record_id = m.record_id
		  LEFT JOIN @extschema@.source s ON s.name = ver.source
		 GROUP BY m.golden_id),
	visits AS (
		/* only the fields read below */
		SELECT v.record_id, v.kind, v.visit_status, v.at
		  FROM @extschema@.clinical_event c
		 CROSS JOIN LATERAL (
		       SELECT (e.payload -> 'clinical' ->> 'record_id')::bigint AS record_id,
		              e.payload -> 'clinical' ->> 'kind' AS kind,
		              e.payload -> 'clinical' ->> 'visit_status' AS visit_status,
		              e.payload -> 'clinical' ->> 'at' AS at
		         FROM @extschema@.event e
		        WHERE e.subject = c.event_id
		          AND e.kind IN ('clinical.created', 'clinical.updated')
		          AND e.at <= golden_replay.at AND e.event_id <= golden_replay.upto
		        ORDER BY e.subject DESC, e.event_id DESC LIMIT 1) v
		 WHERE c.record_id IN (SELECT m.record_id FROM m)
		   /*
		    * only events that are or ever were visits: one never updated (version 1) has had
		    * its current kind all along, so most lab tests and diagnoses are skipped
		    */
		   AND (c.kind = 'visit' OR c.version > 1)),
	last_visit AS (
		SELECT m.golden_id, pg_catalog.max(v.at::timestamptz) AS at
		  FROM visits v JOIN m ON m.record_id = v.record_id
		 WHERE v.kind = 'visit' AND v.visit_status IN ('came', 'in_appointment', 'done')
		 GROUP BY m.golden_id),
	status AS (
		SELECT d.golden_id, x.status, x.at
		  FROM docs d
		 CROSS JOIN LATERAL (
		       SELECT CASE e.kind WHEN 'patient.archived' THEN 'archived' ELSE 'active' END AS status, e.at
		         FROM @extschema@.event e
		        WHERE e.subject = d.golden_id
		          AND e.kind IN ('patient.archived', 'patient.restored')
		          AND e.at <= golden_replay.at AND e.event_id <= golden_replay.upto
		        ORDER BY e.subject DESC, e.event_id DESC LIMIT 1) x)
	SELECT row.*
	  FROM docs d CROSS JOIN rl
	  LEFT JOIN status st ON st.golden_id = d.golden_id
	  LEFT JOIN last_visit lv ON lv.golden_id = d.golden_id
	  CROSS JOIN LATERAL @extschema@.golden_row(d.golden_id, @extschema@.golden_fold(d.docs, rl.rules, false),
	           st.status, st.at, lv.at, rl.version) row;
END
$$;
COMMENT ON FUNCTION @extschema@.golden_replay(timestamptz, bigint, jsonb) IS
	'profiles replayed from the log as of a time and log position for the given (golden_id, record_id) memberships (internal)';

/*
 * Replays the whole log into the projections: membership history, the members' golden ids in
 * cdp.record, redirects, survivorship rules and every profile.  Returns the number of profiles.
 * The result equals the live projections (a test compares them both ways).
 */
CREATE FUNCTION @extschema@.rebuild_patients() RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	AS $$
DECLARE
	n	bigint;
BEGIN
	/* one rebuild at a time, and no merge or refresh while the tables are replaced */
	LOCK TABLE @extschema@.patient, @extschema@.patient_member, @extschema@.patient_redirect,
	           @extschema@.survivorship_rules IN EXCLUSIVE MODE;
	DELETE FROM @extschema@.survivorship_rules;
	INSERT INTO @extschema@.survivorship_rules (version, rules, at, event_id)
	SELECT (e.payload ->> 'version')::int, e.payload -> 'rules', e.at, e.event_id
	  FROM @extschema@.event e WHERE e.kind = 'survivorship.configured';
	DELETE FROM @extschema@.patient_member;
	INSERT INTO @extschema@.patient_member SELECT * FROM @extschema@.golden_membership_from_log();
	DELETE FROM @extschema@.patient_redirect;
	INSERT INTO @extschema@.patient_redirect (old_id, new_id, at, event_id)
	SELECT (e.payload ->> 'from')::bigint, (e.payload ->> 'into')::bigint, e.at, e.event_id
	  FROM @extschema@.event e WHERE e.kind = 'patient.merged';
	UPDATE @extschema@.record r SET golden_id = m.golden_id
	  FROM @extschema@.patient_member m
	 WHERE m.record_id = r.record_id AND m.to_event IS NULL AND r.golden_id IS DISTINCT FROM m.golden_id;
	UPDATE @extschema@.clinical_event c SET golden_id = r.golden_id
	  FROM @extschema@.record r
	 WHERE r.record_id = c.record_id AND c.golden_id IS DISTINCT FROM r.golden_id;
	DELETE FROM @extschema@.patient;
	INSERT INTO @extschema@.patient
	SELECT * FROM @extschema@.golden_replay('infinity', 9223372036854775807,
		(SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(m.golden_id, m.record_id)), '[]')
		   FROM @extschema@.patient_member m WHERE m.to_event IS NULL));
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;
COMMENT ON FUNCTION @extschema@.rebuild_patients() IS
	'replays cdp.event into the golden projections (profiles, membership, redirects, rules); returns the number of profiles';
REVOKE ALL ON FUNCTION @extschema@.rebuild_patients() FROM PUBLIC;

/*
 * The golden id a given id stood for at a time: redirects logged by then are followed.
 */
CREATE FUNCTION @extschema@.golden_resolve_as_of(id bigint, at timestamptz, upto bigint) RETURNS bigint
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
	AS $$
DECLARE
	cur		bigint := id;
	nxt		bigint;
BEGIN
	FOR depth IN 1..1000 LOOP
		SELECT d.new_id INTO nxt FROM @extschema@.patient_redirect d
		 WHERE d.old_id = cur AND d.at <= golden_resolve_as_of.at AND d.event_id <= golden_resolve_as_of.upto;
		EXIT WHEN NOT FOUND;
		cur := nxt;
	END LOOP;
	RETURN cur;
END
$$;
COMMENT ON FUNCTION @extschema@.golden_resolve_as_of(bigint, timestamptz, bigint) IS
	'the golden id an id stood for at a time and log position, following only the redirects made by then';

/*
 * The profile of a golden id as it was at a time: the id is followed through the redirects made
 * by then, its members are those of the membership history at that time, each at its version
 * logged by then.  No row when the person did not exist then.
 */
CREATE FUNCTION @extschema@.golden_as_of(id bigint, at timestamptz, upto bigint) RETURNS SETOF @extschema@.patient
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE ROWS 1
	AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY
	WITH g AS (SELECT @extschema@.golden_resolve_as_of(id, at, upto) AS id)
	SELECT * FROM @extschema@.golden_replay(at, upto,
		(SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(m.golden_id, m.record_id)), '[]')
		   FROM @extschema@.patient_member m
		  WHERE m.golden_id = (SELECT g.id FROM g)
		    AND m.from_at <= golden_as_of.at AND m.from_event <= golden_as_of.upto
		    AND (m.to_event IS NULL OR m.to_at > golden_as_of.at OR m.to_event > golden_as_of.upto)));
END
$$;
COMMENT ON FUNCTION @extschema@.golden_as_of(bigint, timestamptz, bigint) IS
	'the golden profile of a person as of a time and a log position (internal)';

CREATE FUNCTION @extschema@.patient_as_of(golden_id bigint, at timestamptz) RETURNS SETOF @extschema@.patient
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE ROWS 1
	AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY
	SELECT * FROM @extschema@.golden_as_of(golden_id, at, 9223372036854775807);
END
$$;
COMMENT ON FUNCTION @extschema@.patient_as_of(bigint, timestamptz) IS
	'the golden profile of a person as it was at a time (events logged at or before it), replayed from the log';

CREATE FUNCTION @extschema@.patient_as_of_event(golden_id bigint, event_id bigint) RETURNS SETOF @extschema@.patient
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE ROWS 1
	AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY
	SELECT * FROM @extschema@.golden_as_of(golden_id, 'infinity', event_id);
END
$$;
COMMENT ON FUNCTION @extschema@.patient_as_of_event(bigint, bigint) IS
	'the golden profile of a person as it was right after a given event of the log, replayed from the log';

/*
 * Every golden id that is or was merged into the given one (itself included).
 */
CREATE FUNCTION @extschema@.golden_absorbed(id bigint) RETURNS bigint[]
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
	AS $$
#variable_conflict use_column
BEGIN
	RETURN (WITH RECURSIVE chain(id, depth) AS (
		SELECT id, 0
		UNION ALL
		SELECT d.old_id, c.depth + 1 FROM chain c JOIN @extschema@.patient_redirect d ON d.new_id = c.id
		 WHERE c.depth < 1000)
	SELECT pg_catalog.array_agg(DISTINCT c.id) FROM chain c);
END
$$;
COMMENT ON FUNCTION @extschema@.golden_absorbed(bigint) IS
	'the golden id and every id merged into it, directly or through a chain';

/*
 * What happened to a person, newest first: events logged under its golden id or any id merged
 * into it, and record, unmerge and decision events of every record that ever belonged to them.
 */
CREATE FUNCTION @extschema@.patient_history(golden_id bigint)
	RETURNS TABLE (event_id bigint, at timestamptz, kind text, subject bigint, event_golden_id bigint,
	               actor text, payload jsonb)
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
	AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY
	WITH ids AS (SELECT pg_catalog.unnest(@extschema@.golden_absorbed(
	                 coalesce(@extschema@.resolve_patient(patient_history.golden_id), patient_history.golden_id))) AS id),
	recs AS (SELECT DISTINCT m.record_id FROM @extschema@.patient_member m WHERE m.golden_id IN (SELECT id FROM ids)),
	ev AS (
		SELECT e.event_id FROM @extschema@.event e WHERE e.golden_id IN (SELECT id FROM ids)
		UNION
		SELECT e.event_id FROM @extschema@.event e
		 WHERE e.subject IN (SELECT record_id FROM recs)
		   AND (e.kind LIKE 'record.%' OR e.kind IN ('patient.unmerged', 'decision.recorded')))
	SELECT e.event_id, e.at, e.kind, e.subject, e.golden_id, e.actor, e.payload
	  FROM @extschema@.event e WHERE e.event_id IN (SELECT ev.event_id FROM ev)
	 ORDER BY e.event_id DESC;
END
$$;
COMMENT ON FUNCTION @extschema@.patient_history(bigint) IS
	'the events of a person (merged ids and former records included), newest first';

/* ------------------------------------------------------------------ lineage */

/*
 * For every single-valued attribute of a person: the value, the source record and source that
 * gave it, the rule that decided, the records that agree, and the values that lost.
 */
CREATE FUNCTION @extschema@.patient_lineage(golden_id bigint)
	RETURNS TABLE (attribute text, value text, record_id bigint, source text, rule text,
	               agreeing_records bigint[], lost jsonb)
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
	AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY
	WITH g AS (SELECT @extschema@.resolve_patient(patient_lineage.golden_id) AS id),
	f AS (
		SELECT @extschema@.golden_fold(
		           pg_catalog.jsonb_agg(@extschema@.golden_record_doc(pg_catalog.to_jsonb(r), s.trust) ORDER BY r.record_id),
		           (SELECT rl.rules FROM @extschema@.survivorship_rules_as_of('infinity') rl)) AS fold
		  FROM @extschema@.record r LEFT JOIN @extschema@.source s ON s.source_id = r.source_id
		 WHERE r.golden_id = (SELECT g.id FROM g))
	SELECT l.key, l.value ->> 'value', (l.value ->> 'record_id')::bigint, s.name, l.value ->> 'rule',
	       ARRAY(SELECT pg_catalog.jsonb_array_elements_text(l.value -> 'agree')::bigint),
	       l.value -> 'lost'
	  FROM f, pg_catalog.jsonb_each(f.fold -> 'lineage') l
	  LEFT JOIN @extschema@.source s ON s.source_id = (l.value ->> 'source_id')::int
	 ORDER BY l.key;
END
$$;
COMMENT ON FUNCTION @extschema@.patient_lineage(bigint) IS
	'per attribute of a golden profile: winning value, source record and source, deciding rule, agreeing records, losing values';

/* ------------------------------------------------------------------ survivorship configuration */

/*
 * Validates and stores a new version of the survivorship rules (attributes not named keep the
 * default), appends survivorship.configured and re-folds every profile under the new rules.
 * Returns the new version.
 */
CREATE FUNCTION @extschema@.configure_survivorship(rules jsonb) RETURNS int
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	AS $$
DECLARE
	full_rules	jsonb := @extschema@.golden_check_rules(rules);
	v			int;
	ev			bigint;
	ids			bigint[];
BEGIN
	LOCK TABLE @extschema@.survivorship_rules IN EXCLUSIVE MODE;
	SELECT coalesce(pg_catalog.max(s.version), 0) + 1 INTO v FROM @extschema@.survivorship_rules s;
	ev := @extschema@.append_event('survivorship.configured', v, NULL,
		pg_catalog.jsonb_build_object('version', v, 'rules', full_rules));
	INSERT INTO @extschema@.survivorship_rules (version, rules, at, event_id)
	SELECT v, full_rules, e.at, e.event_id FROM @extschema@.event e WHERE e.event_id = ev;
	SELECT pg_catalog.array_agg(p.golden_id ORDER BY p.golden_id) INTO ids FROM @extschema@.patient p;
	PERFORM @extschema@.refresh_patients(ids);
	RETURN v;
END
$$;
COMMENT ON FUNCTION @extschema@.configure_survivorship(jsonb) IS
	'validates and stores a new version of the survivorship rules (an event) and re-folds every profile; returns the version';
REVOKE ALL ON FUNCTION @extschema@.configure_survivorship(jsonb) FROM PUBLIC;

/* ------------------------------------------------------------------ link, merge, unmerge */

/* The golden id of a record, or a clear error naming it. */
CREATE FUNCTION @extschema@.golden_of_record(rec bigint, argname text) RETURNS bigint
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	AS $$
DECLARE
	g	bigint;
BEGIN
	IF rec IS NULL THEN
		RAISE EXCEPTION '% must not be null', argname USING ERRCODE = '22004';
	END IF;
	SELECT r.golden_id INTO g FROM @extschema@.record r WHERE r.record_id = rec;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'record "%" does not exist', rec
			USING ERRCODE = 'P0002',
			DETAIL = pg_catalog.format('No row of cdp.record has record_id %s (argument %s).', rec, argname),
			HINT = 'Pass the record_id returned by cdp.upsert_record.';
	END IF;
	RETURN g;
END
$$;
COMMENT ON FUNCTION @extschema@.golden_of_record(bigint, text) IS
	'the golden id of a record; raises P0002 naming the record when it does not exist (internal)';

/* Makes sure the given persons have projection rows, then locks them in id order. */
CREATE FUNCTION @extschema@.golden_lock(ids bigint[]) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM pg_catalog.unnest(ids) i
	            WHERE NOT EXISTS (SELECT 1 FROM @extschema@.patient p WHERE p.golden_id = i)) THEN
		PERFORM @extschema@.refresh_patients(ids);
	END IF;
	PERFORM 1 FROM @extschema@.patient p WHERE p.golden_id = ANY (ids) ORDER BY p.golden_id FOR UPDATE;
END
$$;
COMMENT ON FUNCTION @extschema@.golden_lock(bigint[]) IS
	'locks the projection rows of the given persons in id order, creating missing ones (internal)';

/*
 * Links two source records.  When they already share a golden id, only record.linked is
 * appended.  Otherwise the two persons merge: the smaller golden id survives, every record and
 * clinical event of the other moves to it, a redirect remembers the old id, patient.merged is
 * appended and the survivor's profile is re-folded; the other profile row is removed.  Returns
 * the surviving golden id, or NULL (nothing done) when a no_match decision joins a record of one
 * person to a record of the other.
 */
CREATE FUNCTION @extschema@.link_records(a bigint, b bigint, evidence jsonb) RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET plan_cache_mode = force_generic_plan
	SET jit = off
	AS $$
BEGIN
	PERFORM @extschema@.golden_of_record(a, 'a');
	PERFORM @extschema@.golden_of_record(b, 'b');
	IF a = b THEN
		RAISE EXCEPTION 'cannot link record "%" to itself', a USING ERRCODE = '22023';
	END IF;
	IF evidence IS NOT NULL AND pg_catalog.jsonb_typeof(evidence) <> 'object' THEN
		RAISE EXCEPTION 'link evidence must be a JSON object'
			USING ERRCODE = '22023', DETAIL = pg_catalog.format('The value given was %s.', evidence::text);
	END IF;
	/* one link is a batch of one: the same locks, plan and writes as link_records_many */
	RETURN (@extschema@.golden_link_apply(ARRAY[a], ARRAY[b], ARRAY[evidence]))[1];
END
$$;
COMMENT ON FUNCTION @extschema@.link_records(bigint, bigint, jsonb) IS
	'links two source records, merging their persons (older golden id survives, the other redirects); returns the golden id, NULL if a no_match decision forbids it';

/*
 * The merge plan of a batch of links (src/match_link.c): for link i, between the persons
 * golden_a[i] and golden_b[i] as they were before the batch, whether they were one person by
 * then ('s'), a no_match decision between the grown persons refuses it ('n'), or gone merges into
 * keep ('m', the smaller id survives) taking the records of the original golden ids in absorbed;
 * restore: keep was archived and gone active.
 */
CREATE FUNCTION @extschema@._golden_merge_plan(golden_a bigint[], golden_b bigint[],
		no_match_a bigint[], no_match_b bigint[], archived bigint[])
	RETURNS TABLE (ord int, outcome "char", keep bigint, gone bigint, restore boolean, absorbed bigint[])
	AS 'MODULE_PATHNAME', 'cdp__golden_merge_plan'
	LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 1000;
COMMENT ON FUNCTION @extschema@._golden_merge_plan(bigint[], bigint[], bigint[], bigint[], bigint[]) IS
	'the merges a list of links between golden ids makes when applied in order, by union-find (internal to link_records_many)';

/*
 * Applies links between records in the given order, with exactly the effect of calling
 * link_records for each in turn: one record.linked event for records already in one person,
 * otherwise one patient.merged event per merge (same payload: from, into, the moved records,
 * a, b, evidence), patient.restored when an archived survivor merges with an active person,
 * redirects, membership intervals, clinical events and records moved, absorbed rows removed.
 * The difference is the cost: the plan is computed in memory, every table is written by one
 * statement, and each surviving person is re-folded once.  Locks, in id order: the records and
 * clinical events of the persons involved (what ingest locks first), then their profile rows
 * (as refresh_patients, link_records and unmerge do).  Returns the surviving golden id of each
 * link, NULL where a no_match decision refused it.  The arguments are trusted (checked by the
 * callers link_records and link_records_many).  Plans: generic for a few links (planning would
 * cost more than the work), custom for more, so the planner sees the arrays as constants and sizes
 * the joins between them by their real length (a generic plan takes every unnest for 10 rows and
 * joins them by nested loops).
 */
CREATE FUNCTION @extschema@.golden_link_apply(a bigint[], b bigint[], evidence jsonb[]) RETURNS bigint[]
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET plan_cache_mode = force_generic_plan
	SET jit = off
	AS $$
DECLARE
	ids			bigint[];
	created		bigint[];
	tries		int := 0;
	pl_ord		int[];
	pl_out		"char"[];
	pl_keep		bigint[];
	pl_gone		bigint[];
	pl_rest		boolean[];
	ab_ord		int[];
	ab_g		bigint[];
	ev_id		bigint[];
	ev_at		timestamptz[];
	ev_kind		text[];
	ev_subj		bigint[];
	m_ord		int[];
	m_keep		bigint[];
	m_gone		bigint[];
	m_ev		bigint[];
	m_at		timestamptz[];
	mv_rec		bigint[];
	mv_ord		int[];
	mm_rec		bigint[];
	mm_keep		bigint[];
	mm_ev		bigint[];
	mm_at		timestamptz[];
	mm_nev		bigint[];
	mm_nat		timestamptz[];
	mm_first	boolean[];
	rs_id		bigint[];
	rs_at		timestamptz[];
	survivors	bigint[];
	res			bigint[];
	/* step times as DEBUG1 messages (profiling: SET client_min_messages = debug1) */
	tt			timestamptz := pg_catalog.clock_timestamp();
BEGIN
	IF pg_catalog.cardinality(a) = 0 THEN
		RETURN '{}';
	END IF;
	IF pg_catalog.cardinality(a) > 16 THEN
		/* local to this call: the function's own SET restores the generic mode on exit */
		PERFORM pg_catalog.set_config('plan_cache_mode', 'force_custom_plan', true);
	END IF;
	/* lock the persons of the records; a concurrent merge or unmerge may move a record meanwhile */
	LOOP
		SELECT pg_catalog.array_agg(DISTINCT r.golden_id ORDER BY r.golden_id) INTO ids
		  FROM (SELECT pg_catalog.unnest(a) UNION SELECT pg_catalog.unnest(b)) x(id)
		  JOIN @extschema@.record r ON r.record_id = x.id;
		PERFORM 1 FROM @extschema@.record r JOIN pg_catalog.unnest(ids) g(id) ON r.golden_id = g.id
		 ORDER BY r.record_id FOR NO KEY UPDATE OF r;
		PERFORM 1 FROM @extschema@.clinical_event c JOIN pg_catalog.unnest(ids) g(id) ON c.golden_id = g.id
		 ORDER BY c.event_id FOR NO KEY UPDATE OF c;
		/* profile rows for persons that have none yet (folded at the end, as refresh_patients would) */
		WITH ins AS (
			INSERT INTO @extschema@.patient (golden_id)
			SELECT g.id FROM pg_catalog.unnest(ids) g(id) ORDER BY 1
			ON CONFLICT (golden_id) DO NOTHING
			RETURNING golden_id)
		SELECT pg_catalog.array_cat(created, pg_catalog.array_agg(ins.golden_id)) INTO created FROM ins;
		PERFORM 1 FROM @extschema@.patient p JOIN pg_catalog.unnest(ids) g(id) ON p.golden_id = g.id
		 ORDER BY p.golden_id FOR UPDATE OF p;
		/* a new statement: sees what committed while we waited */
		EXIT WHEN ids = (SELECT pg_catalog.array_agg(DISTINCT r.golden_id ORDER BY r.golden_id)
		                   FROM (SELECT pg_catalog.unnest(a) UNION SELECT pg_catalog.unnest(b)) x(id)
		                   JOIN @extschema@.record r ON r.record_id = x.id);
		tries := tries + 1;
		IF tries > 100 THEN
			RAISE EXCEPTION 'records keep moving between persons while they are linked'
				USING ERRCODE = '40001', HINT = 'Retry the transaction.';
		END IF;
	END LOOP;
	RAISE DEBUG 'golden_link_apply %: % ms', 'lock', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - tt) * 1000, 1);
	tt := pg_catalog.clock_timestamp();

	/* the plan, from the persons as they are now */
	WITH p AS MATERIALIZED (
		SELECT p.*
		  /* every no_match decision: the plan ignores those outside these persons */
		  FROM (SELECT pg_catalog.array_agg(ra.golden_id) AS ga, pg_catalog.array_agg(rb.golden_id) AS gb
		          FROM @extschema@.pair_decision d
		          JOIN @extschema@.record ra ON ra.record_id = d.record_a
		          JOIN @extschema@.record rb ON rb.record_id = d.record_b
		         WHERE d.decision = 'no_match') nm,
		       @extschema@._golden_merge_plan(
		         ARRAY(SELECT r.golden_id FROM pg_catalog.unnest(a) WITH ORDINALITY x(id, i)
		                 JOIN @extschema@.record r ON r.record_id = x.id ORDER BY x.i),
		         ARRAY(SELECT r.golden_id FROM pg_catalog.unnest(b) WITH ORDINALITY x(id, i)
		                 JOIN @extschema@.record r ON r.record_id = x.id ORDER BY x.i),
		         nm.ga, nm.gb,
		         ARRAY(SELECT q.golden_id FROM @extschema@.patient q JOIN pg_catalog.unnest(ids) g(id) ON q.golden_id = g.id
		                WHERE q.status = 'archived')) p)
	SELECT (SELECT pg_catalog.array_agg(p.ord ORDER BY p.ord) FROM p),
	       (SELECT pg_catalog.array_agg(p.outcome ORDER BY p.ord) FROM p),
	       (SELECT pg_catalog.array_agg(p.keep ORDER BY p.ord) FROM p),
	       (SELECT pg_catalog.array_agg(p.gone ORDER BY p.ord) FROM p),
	       (SELECT pg_catalog.array_agg(p.restore ORDER BY p.ord) FROM p),
	       (SELECT pg_catalog.array_agg(p.ord ORDER BY p.ord, x.g) FROM p, pg_catalog.unnest(p.absorbed) x(g)),
	       (SELECT pg_catalog.array_agg(x.g ORDER BY p.ord, x.g) FROM p, pg_catalog.unnest(p.absorbed) x(g))
	  INTO pl_ord, pl_out, pl_keep, pl_gone, pl_rest, ab_ord, ab_g;
	RAISE DEBUG 'golden_link_apply %: % ms', 'plan', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - tt) * 1000, 1);
	tt := pg_catalog.clock_timestamp();

	/*
	 * new records' membership starts at their record.created event, as in refresh_patients; every
	 * original id a merge touches is the keep or gone of its first merge
	 */
	PERFORM @extschema@.golden_open_members(ARRAY(
		SELECT DISTINCT x.g FROM pg_catalog.unnest(pl_keep || pl_gone || created) x(g)
		 WHERE x.g IS NOT NULL));
	RAISE DEBUG 'golden_link_apply %: % ms', 'open_members', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - tt) * 1000, 1);
	tt := pg_catalog.clock_timestamp();

	/* every record each merge moves (the records of the original ids it absorbs), read once */
	SELECT pg_catalog.array_agg(r.record_id ORDER BY r.record_id, x.ord), pg_catalog.array_agg(x.ord ORDER BY r.record_id, x.ord)
	  INTO mv_rec, mv_ord
	  FROM ROWS FROM (pg_catalog.unnest(ab_ord), pg_catalog.unnest(ab_g)) x(ord, g)
	  JOIN @extschema@.record r ON r.golden_id = x.g;
	RAISE DEBUG 'golden_link_apply %: % ms', 'moved_records', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - tt) * 1000, 1);
	tt := pg_catalog.clock_timestamp();

	/*
	 * the events, in link order: record.linked, or patient.merged (then patient.restored); one pass
	 * over the links, each payload built once (a merge always moves records: its gone id has some)
	 */
	WITH p AS (
		SELECT l.ord, l.outcome, l.keep, l.gone, l.restore, x.ra, x.rb, x.ev
		  FROM ROWS FROM (pg_catalog.unnest(pl_ord), pg_catalog.unnest(pl_out), pg_catalog.unnest(pl_keep), pg_catalog.unnest(pl_gone), pg_catalog.unnest(pl_rest)) l(ord, outcome, keep, gone, restore)
		  JOIN ROWS FROM (pg_catalog.unnest(a), pg_catalog.unnest(b), pg_catalog.unnest(evidence)) WITH ORDINALITY x(ra, rb, ev, i) ON x.i = l.ord
		 WHERE l.outcome <> 'n'),
	mv AS (
		SELECT x.ord, pg_catalog.array_agg(x.rec ORDER BY x.rec) AS recs
		  FROM ROWS FROM (pg_catalog.unnest(mv_rec), pg_catalog.unnest(mv_ord)) x(rec, ord)
		 GROUP BY x.ord),
	ins AS (
		INSERT INTO @extschema@.event (kind, subject, golden_id, payload)
		SELECT e.kind, e.subject, p.keep, e.payload
		  FROM p LEFT JOIN mv ON mv.ord = p.ord
		 CROSS JOIN LATERAL (VALUES
		       (0, CASE p.outcome WHEN 'm' THEN 'patient.merged' ELSE 'record.linked' END,
		        CASE p.outcome WHEN 'm' THEN p.gone ELSE p.ra END,
		        CASE p.outcome
		          WHEN 'm' THEN pg_catalog.jsonb_build_object('from', p.gone, 'into', p.keep, 'records', pg_catalog.to_jsonb(mv.recs),
		                                                      'a', p.ra, 'b', p.rb, 'evidence', p.ev)
		          ELSE pg_catalog.jsonb_build_object('a', p.ra, 'b', p.rb, 'evidence', p.ev) END),
		       (1, 'patient.restored', p.keep,
		        CASE WHEN p.outcome = 'm' AND p.restore
		             THEN pg_catalog.jsonb_build_object('comment', pg_catalog.format('merged with active patient %s', p.gone)) END)
		       ) e(sub, kind, subject, payload)
		 WHERE e.sub = 0 OR (p.outcome = 'm' AND p.restore)
		 ORDER BY p.ord, e.sub
		RETURNING event_id, at, kind, subject)
	SELECT pg_catalog.array_agg(ins.event_id), pg_catalog.array_agg(ins.at), pg_catalog.array_agg(ins.kind),
	       pg_catalog.array_agg(ins.subject)
	  INTO ev_id, ev_at, ev_kind, ev_subj
	  FROM ins;
	RAISE DEBUG 'golden_link_apply %: % ms', 'events', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - tt) * 1000, 1);
	tt := pg_catalog.clock_timestamp();

	/* each merge with its event (a gone id is absorbed once) */
	SELECT pg_catalog.array_agg(l.ord ORDER BY l.ord), pg_catalog.array_agg(l.keep ORDER BY l.ord),
	       pg_catalog.array_agg(l.gone ORDER BY l.ord), pg_catalog.array_agg(e.event_id ORDER BY l.ord),
	       pg_catalog.array_agg(e.at ORDER BY l.ord)
	  INTO m_ord, m_keep, m_gone, m_ev, m_at
	  FROM ROWS FROM (pg_catalog.unnest(pl_ord), pg_catalog.unnest(pl_out), pg_catalog.unnest(pl_keep), pg_catalog.unnest(pl_gone)) l(ord, outcome, keep, gone)
	  JOIN ROWS FROM (pg_catalog.unnest(ev_id), pg_catalog.unnest(ev_at), pg_catalog.unnest(ev_kind), pg_catalog.unnest(ev_subj)) e(event_id, at, kind, subject)
	    ON e.kind = 'patient.merged' AND e.subject = l.gone
	 WHERE l.outcome = 'm';
	RAISE DEBUG 'golden_link_apply %: % ms', 'merge_events', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - tt) * 1000, 1);
	tt := pg_catalog.clock_timestamp();
	IF m_ord IS NOT NULL THEN
		/*
		 * every move of every moved record, in record then link order, read once: its person and
		 * event, the next move's event, whether it is the record's first move
		 */
		SELECT pg_catalog.array_agg(y.rec ORDER BY y.rec, y.ord), pg_catalog.array_agg(y.keep ORDER BY y.rec, y.ord),
		       pg_catalog.array_agg(y.ev ORDER BY y.rec, y.ord), pg_catalog.array_agg(y.at ORDER BY y.rec, y.ord),
		       pg_catalog.array_agg(y.nev ORDER BY y.rec, y.ord), pg_catalog.array_agg(y.nat ORDER BY y.rec, y.ord),
		       pg_catalog.array_agg(y.first ORDER BY y.rec, y.ord)
		  INTO mm_rec, mm_keep, mm_ev, mm_at, mm_nev, mm_nat, mm_first
		  FROM (SELECT x.rec, x.ord, m.keep, m.ev, m.at,
		               pg_catalog.lead(m.ev) OVER w AS nev, pg_catalog.lead(m.at) OVER w AS nat,
		               pg_catalog.row_number() OVER w = 1 AS first
		          FROM ROWS FROM (pg_catalog.unnest(mv_rec), pg_catalog.unnest(mv_ord)) x(rec, ord)
		          JOIN ROWS FROM (pg_catalog.unnest(m_ord), pg_catalog.unnest(m_keep), pg_catalog.unnest(m_ev), pg_catalog.unnest(m_at)) m(ord, keep, ev, at)
		            ON m.ord = x.ord
		        WINDOW w AS (PARTITION BY x.rec ORDER BY x.ord)) y;
		/* membership: the open interval of a moved record ends at its first move; one per move after */
		UPDATE @extschema@.patient_member pm SET to_event = f.ev, to_at = f.at
		  FROM ROWS FROM (pg_catalog.unnest(mm_rec), pg_catalog.unnest(mm_ev), pg_catalog.unnest(mm_at), pg_catalog.unnest(mm_first)) f(rec, ev, at, first)
		 WHERE f.first AND pm.record_id = f.rec AND pm.to_event IS NULL;
		RAISE DEBUG 'golden_link_apply %: % ms', 'member_close', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - tt) * 1000, 1);
		tt := pg_catalog.clock_timestamp();
		INSERT INTO @extschema@.patient_member (record_id, golden_id, from_event, from_at, to_event, to_at)
		SELECT f.rec, f.keep, f.ev, f.at, f.nev, f.nat
		  FROM ROWS FROM (pg_catalog.unnest(mm_rec), pg_catalog.unnest(mm_keep), pg_catalog.unnest(mm_ev), pg_catalog.unnest(mm_at),
		                  pg_catalog.unnest(mm_nev), pg_catalog.unnest(mm_nat)) f(rec, keep, ev, at, nev, nat);
		RAISE DEBUG 'golden_link_apply %: % ms', 'member_open', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - tt) * 1000, 1);
		tt := pg_catalog.clock_timestamp();

		INSERT INTO @extschema@.patient_redirect (old_id, new_id, at, event_id)
		SELECT m.gone, m.keep, m.at, m.ev FROM ROWS FROM (pg_catalog.unnest(m_gone), pg_catalog.unnest(m_keep), pg_catalog.unnest(m_at), pg_catalog.unnest(m_ev)) m(gone, keep, at, ev);
		RAISE DEBUG 'golden_link_apply %: % ms', 'redirects', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - tt) * 1000, 1);
		tt := pg_catalog.clock_timestamp();

		/* records and clinical events go to the person their original id ends in */
		UPDATE @extschema@.record r SET golden_id = f.keep
		  FROM ROWS FROM (pg_catalog.unnest(mm_rec), pg_catalog.unnest(mm_keep), pg_catalog.unnest(mm_nev)) f(rec, keep, nev)
		 WHERE f.nev IS NULL AND r.record_id = f.rec;
		RAISE DEBUG 'golden_link_apply %: % ms', 'records', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - tt) * 1000, 1);
		tt := pg_catalog.clock_timestamp();
		UPDATE @extschema@.clinical_event c SET golden_id = f.keep
		  FROM (SELECT DISTINCT ON (x.g) x.g, m.keep
		          FROM ROWS FROM (pg_catalog.unnest(ab_ord), pg_catalog.unnest(ab_g)) x(ord, g)
		          JOIN ROWS FROM (pg_catalog.unnest(m_ord), pg_catalog.unnest(m_keep)) m(ord, keep) ON m.ord = x.ord
		         ORDER BY x.g, x.ord DESC) f
		 WHERE c.golden_id = f.g;
		RAISE DEBUG 'golden_link_apply %: % ms', 'clinical', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - tt) * 1000, 1);
		tt := pg_catalog.clock_timestamp();

		/*
		 * an archived person that merges with an active one is active again.  The few restored ids
		 * are picked out first: joined to every event of the batch, a profile table whose statistics
		 * said empty (rows created by this batch) got a nested loop rescanning the whole event list
		 * per profile row (100k records: 196 s instead of 0.1 s)
		 */
		SELECT pg_catalog.array_agg(e.subject), pg_catalog.array_agg(e.at) INTO rs_id, rs_at
		  FROM ROWS FROM (pg_catalog.unnest(ev_kind), pg_catalog.unnest(ev_subj), pg_catalog.unnest(ev_at)) e(kind, subject, at)
		 WHERE e.kind = 'patient.restored';
		IF rs_id IS NOT NULL THEN
			UPDATE @extschema@.patient p SET status = 'active', status_at = e.at
			  FROM ROWS FROM (pg_catalog.unnest(rs_id), pg_catalog.unnest(rs_at)) e(subject, at)
			 WHERE p.golden_id = e.subject;
		END IF;
		DELETE FROM @extschema@.patient p USING pg_catalog.unnest(m_gone) g(id) WHERE p.golden_id = g.id;
		RAISE DEBUG 'golden_link_apply %: % ms', 'restore_delete', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - tt) * 1000, 1);
		tt := pg_catalog.clock_timestamp();
	END IF;

	/* a new row whose person lost its records meanwhile goes, as in refresh_patients */
	DELETE FROM @extschema@.patient p USING pg_catalog.unnest(created) g(id)
	 WHERE p.golden_id = g.id
	   AND NOT EXISTS (SELECT 1 FROM @extschema@.record r WHERE r.golden_id = p.golden_id);
	/* each surviving person (and each new row) is folded once */
	SELECT pg_catalog.array_agg(x.g ORDER BY x.g) INTO survivors
	  FROM (SELECT pg_catalog.unnest(m_keep) UNION SELECT pg_catalog.unnest(created)
	        EXCEPT SELECT pg_catalog.unnest(m_gone)) x(g)
	 WHERE x.g IS NOT NULL;
	IF survivors IS NOT NULL THEN
		PERFORM @extschema@.golden_refold(survivors);
	END IF;
	RAISE DEBUG 'golden_link_apply %: % ms', 'refold', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - tt) * 1000, 1);
	tt := pg_catalog.clock_timestamp();
	SELECT pg_catalog.array_agg(CASE WHEN l.outcome = 'n' THEN NULL ELSE l.keep END ORDER BY l.ord) INTO res
	  FROM ROWS FROM (pg_catalog.unnest(pl_ord), pg_catalog.unnest(pl_out), pg_catalog.unnest(pl_keep)) l(ord, outcome, keep);
	RETURN res;
END
$$;
COMMENT ON FUNCTION @extschema@.golden_link_apply(bigint[], bigint[], jsonb[]) IS
	'applies links between records in order as link_records would one by one, with set-based writes and one fold per survivor (internal)';

/*
 * Links many pairs of source records in the given order: the same result, events and
 * projections as calling link_records(a[i], b[i], evidence[i]) for i = 1, 2, ..., in one pass
 * (golden_link_apply).  Returns the surviving golden id of each link, NULL where a no_match
 * decision between the persons refused it.  evidence may be NULL (no evidence for any link).
 */
CREATE FUNCTION @extschema@.link_records_many(a bigint[], b bigint[], evidence jsonb[] DEFAULT NULL) RETURNS bigint[]
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET plan_cache_mode = force_generic_plan
	SET jit = off
	AS $$
DECLARE
	bad		record;
BEGIN
	IF a IS NULL OR b IS NULL THEN
		RAISE EXCEPTION 'a and b must not be null' USING ERRCODE = '22004';
	END IF;
	IF pg_catalog.array_ndims(a) > 1 OR pg_catalog.array_ndims(b) > 1 OR pg_catalog.array_ndims(evidence) > 1
	   OR pg_catalog.cardinality(a) <> pg_catalog.cardinality(b)
	   OR (evidence IS NOT NULL AND pg_catalog.cardinality(evidence) <> pg_catalog.cardinality(a)) THEN
		RAISE EXCEPTION 'a, b and evidence must be one-dimensional arrays of the same length'
			USING ERRCODE = '2202E',
			DETAIL = pg_catalog.format('a has %s elements, b %s, evidence %s.', pg_catalog.cardinality(a),
			                           pg_catalog.cardinality(b), COALESCE(pg_catalog.cardinality(evidence)::text, 'none'));
	END IF;
	SELECT x.i, x.ra, x.rb, x.ev, ra.record_id IS NULL AS a_missing, rb.record_id IS NULL AS b_missing INTO bad
	  FROM ROWS FROM (pg_catalog.unnest(a), pg_catalog.unnest(b), pg_catalog.unnest(evidence)) WITH ORDINALITY x(ra, rb, ev, i)
	  LEFT JOIN @extschema@.record ra ON ra.record_id = x.ra
	  LEFT JOIN @extschema@.record rb ON rb.record_id = x.rb
	 WHERE x.i <= pg_catalog.cardinality(a)
	   AND (x.ra IS NULL OR x.rb IS NULL OR x.ra = x.rb OR ra.record_id IS NULL OR rb.record_id IS NULL
	        OR (x.ev IS NOT NULL AND pg_catalog.jsonb_typeof(x.ev) <> 'object'))
	 ORDER BY x.i LIMIT 1;
	IF FOUND THEN
		IF bad.ra IS NULL OR bad.rb IS NULL THEN
			RAISE EXCEPTION 'element % of a and b must not be null', bad.i USING ERRCODE = '22004';
		ELSIF bad.a_missing OR bad.b_missing THEN
			RAISE EXCEPTION 'record "%" does not exist', CASE WHEN bad.a_missing THEN bad.ra ELSE bad.rb END
				USING ERRCODE = 'P0002',
				DETAIL = pg_catalog.format('No row of cdp.record has record_id %s (element %s of %s).',
				                           CASE WHEN bad.a_missing THEN bad.ra ELSE bad.rb END, bad.i,
				                           CASE WHEN bad.a_missing THEN 'a' ELSE 'b' END),
				HINT = 'Pass the record_id returned by cdp.upsert_record.';
		ELSIF bad.ra = bad.rb THEN
			RAISE EXCEPTION 'cannot link record "%" to itself', bad.ra
				USING ERRCODE = '22023', DETAIL = pg_catalog.format('Element %s of a and b names the same record.', bad.i);
		ELSE
			RAISE EXCEPTION 'link evidence must be a JSON object'
				USING ERRCODE = '22023', DETAIL = pg_catalog.format('Element %s of evidence is %s.', bad.i, bad.ev::text);
		END IF;
	END IF;
	RETURN @extschema@.golden_link_apply(a, b, evidence);
END
$$;
COMMENT ON FUNCTION @extschema@.link_records_many(bigint[], bigint[], jsonb[]) IS
	'links many record pairs in order with exactly the effect of link_records on each in turn (events, redirects, membership), each survivor folded once; returns the golden id per link, NULL where a no_match decision refused it; e.g. link_records_many(ARRAY[1,3], ARRAY[2,4], NULL)';

/*
 * Takes a record out of its person into a new golden id: both profiles are re-folded, no_match
 * decisions against every other record of the former person keep the matcher from re-linking it,
 * its clinical events follow it, and patient.unmerged is appended.  Returns the new golden id.
 */
CREATE FUNCTION @extschema@.unmerge(record_id bigint, reason text) RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET plan_cache_mode = force_generic_plan
	SET jit = off
	AS $$
DECLARE
	rec		bigint := unmerge.record_id;
	g		bigint;
	others	bigint[];
	newg	bigint;
	ev		bigint;
	ev_at	timestamptz;
	o		bigint;
BEGIN
	IF reason IS NULL OR pg_catalog.btrim(reason) = '' THEN
		RAISE EXCEPTION 'an unmerge needs a reason'
			USING ERRCODE = '22023', HINT = 'Say why the record is not the same person, for example ''twin sibling''.';
	END IF;
	g := @extschema@.golden_of_record(rec, 'record_id');
	/* the record and its clinical events first, then the person: the lock order of ingest and links */
	PERFORM 1 FROM @extschema@.record r WHERE r.record_id = rec FOR NO KEY UPDATE;
	PERFORM 1 FROM @extschema@.clinical_event c WHERE c.record_id = rec ORDER BY c.event_id FOR NO KEY UPDATE;
	LOOP
		PERFORM @extschema@.golden_lock(ARRAY[g]);
		EXIT WHEN (SELECT r.golden_id FROM @extschema@.record r WHERE r.record_id = rec) = g;
		g := @extschema@.golden_of_record(rec, 'record_id');
	END LOOP;
	SELECT pg_catalog.array_agg(r.record_id ORDER BY r.record_id) INTO others
	  FROM @extschema@.record r WHERE r.golden_id = g AND r.record_id <> rec;
	IF others IS NULL THEN
		RAISE EXCEPTION 'record "%" is alone in patient "%"', rec, g
			USING ERRCODE = '55000',
			DETAIL = 'There is nothing to unmerge: the record is the only record of its golden record.';
	END IF;
	newg := pg_catalog.nextval('@extschema@.golden_id_seq');
	PERFORM @extschema@.golden_open_members(ARRAY[g]);
	ev := @extschema@.append_event('patient.unmerged', rec, newg,
		pg_catalog.jsonb_build_object('record_id', rec, 'from', g, 'into', newg, 'reason', reason,
		                              'others', pg_catalog.to_jsonb(others)));
	SELECT e.at INTO ev_at FROM @extschema@.event e WHERE e.event_id = ev;
	UPDATE @extschema@.record r SET golden_id = newg WHERE r.record_id = rec;
	UPDATE @extschema@.clinical_event c SET golden_id = newg WHERE c.record_id = rec;
	UPDATE @extschema@.patient_member m SET to_event = ev, to_at = ev_at
	 WHERE m.record_id = rec AND m.to_event IS NULL;
	INSERT INTO @extschema@.patient_member (record_id, golden_id, from_event, from_at) VALUES (rec, newg, ev, ev_at);
	FOREACH o IN ARRAY others LOOP
		PERFORM @extschema@.record_pair_decision(least(rec, o), greatest(rec, o),
			'no_match', reason);
	END LOOP;
	PERFORM @extschema@.refresh_patients(ARRAY[g, newg]);
	RETURN newg;
END
$$;
COMMENT ON FUNCTION @extschema@.unmerge(bigint, text) IS
	'takes a source record out of its golden record into a new one, with no_match decisions against its former siblings; returns the new golden id';

/* ------------------------------------------------------------------ clinical events */

/* A required or optional typed value of a clinical event's attrs, with an error naming the key. */
CREATE FUNCTION @extschema@.golden_attr(attrs jsonb, key text, typ text, required boolean) RETURNS text
	LANGUAGE plpgsql IMMUTABLE PARALLEL UNSAFE
	AS $$
DECLARE
	v	text := attrs ->> key;
	ok	boolean;
BEGIN
	IF v IS NULL OR pg_catalog.btrim(v) = '' THEN
		IF required THEN
			RAISE EXCEPTION 'clinical event attribute "%" is required', key
				USING ERRCODE = '22023';
		END IF;
		RETURN NULL;
	END IF;
	IF pg_catalog.jsonb_typeof(attrs -> key) NOT IN ('string', 'number') THEN
		RAISE EXCEPTION 'invalid input syntax for clinical event attribute "%": "%"', key, attrs -> key
			USING ERRCODE = '22P02', HINT = 'Give a string or a number.';
	END IF;
	IF pg_catalog.octet_length(v) > 4096 THEN
		RAISE EXCEPTION 'clinical event attribute "%" is too long', key
			USING ERRCODE = '22001', DETAIL = pg_catalog.format('It has %s bytes; the limit is 4096.', pg_catalog.octet_length(v));
	END IF;
	IF typ = 'text' THEN
		RETURN v;
	END IF;
	BEGIN
		CASE typ
			WHEN 'date' THEN PERFORM v::date;
			WHEN 'timestamptz' THEN PERFORM v::timestamptz;
			WHEN 'interval' THEN PERFORM v::interval;
			ELSE PERFORM v::numeric;
		END CASE;
		ok := true;
	EXCEPTION WHEN data_exception THEN
		ok := false;			/* re-raised below with the key named */
	END;
	IF NOT ok THEN
		RAISE EXCEPTION 'invalid input syntax for clinical event attribute "%": "%"', key, v
			USING ERRCODE = '22P02',
			DETAIL = pg_catalog.format('The value is not a valid %s.', typ),
			HINT = CASE typ WHEN 'date' THEN 'Use an ISO date, for example 2024-03-01.'
			                WHEN 'timestamptz' THEN 'Use an ISO timestamp with its offset, for example 2024-03-01T09:30:00+03:00.'
			                WHEN 'interval' THEN 'Use an interval, for example 3 months.'
			                ELSE 'Use a plain number, for example 5.5.' END;
	END IF;
	RETURN v;
END
$$;
COMMENT ON FUNCTION @extschema@.golden_attr(jsonb, text, text, boolean) IS
	'reads one typed attribute of a clinical event, raising 22023/22P02 errors naming the key (internal)';

/*
 * Validates a clinical event of a given kind and returns its typed columns as JSON (keys named
 * like the columns of cdp.clinical_event).  Unknown keys are refused.
 */
CREATE FUNCTION @extschema@.golden_clinical_columns(kind text, attrs jsonb) RETURNS jsonb
	LANGUAGE plpgsql IMMUTABLE PARALLEL UNSAFE
	AS $$
DECLARE
	allowed		text[];
	k			text;
	c			jsonb;
	rng			text[];
	code		text;
BEGIN
	allowed := CASE kind
		WHEN 'visit' THEN ARRAY['at', 'type', 'status', 'doctor', 'specialty']
		WHEN 'lab_test' THEN ARRAY['code', 'result', 'unit', 'reference_range', 'ref_low', 'ref_high', 'taken_at']
		WHEN 'diagnosis' THEN ARRAY['code', 'at']
		WHEN 'sick_leave' THEN ARRAY['number', 'from', 'to']
		WHEN 'recommendation' THEN ARRAY['text', 'due_date', 'due_in', 'at']
		END || ARRAY['record_source_id', 'patient_source_id', 'note'];
	IF attrs IS NULL OR pg_catalog.jsonb_typeof(attrs) <> 'object' THEN
		RAISE EXCEPTION 'clinical event attrs must be a JSON object' USING ERRCODE = '22023';
	END IF;
	FOR k IN SELECT pg_catalog.jsonb_object_keys(attrs) LOOP
		IF NOT k = ANY (allowed) THEN
			RAISE EXCEPTION 'unknown attribute "%" for clinical event kind "%"', k, kind
				USING ERRCODE = '22023',
				HINT = pg_catalog.format('Use some of: %s.', pg_catalog.array_to_string(allowed, ', '));
		END IF;
	END LOOP;
	IF kind = 'visit' THEN
		c := pg_catalog.jsonb_build_object(
			'at', @extschema@.golden_attr(attrs, 'at', 'timestamptz', true)::timestamptz,
			'visit_type', @extschema@.golden_attr(attrs, 'type', 'text', false),
			'visit_status', coalesce(@extschema@.golden_attr(attrs, 'status', 'text', false), 'booked'),
			'doctor', @extschema@.golden_attr(attrs, 'doctor', 'text', false),
			'specialty', @extschema@.golden_attr(attrs, 'specialty', 'text', false));
		IF NOT coalesce(c ->> 'visit_type', 'first') IN ('first', 'repeat') THEN
			RAISE EXCEPTION 'invalid input syntax for clinical event attribute "type": "%"', c ->> 'visit_type'
				USING ERRCODE = '22P02', HINT = 'Use first or repeat.';
		END IF;
		IF NOT (c ->> 'visit_status') IN ('booked', 'came', 'in_appointment', 'done') THEN
			RAISE EXCEPTION 'invalid input syntax for clinical event attribute "status": "%"', c ->> 'visit_status'
				USING ERRCODE = '22P02', HINT = 'Use booked, came, in_appointment or done.';
		END IF;
	ELSIF kind = 'lab_test' THEN
		c := pg_catalog.jsonb_build_object(
			'lab_code', @extschema@.golden_attr(attrs, 'code', 'text', true),
			'lab_result', @extschema@.golden_attr(attrs, 'result', 'text', true),
			'lab_unit', @extschema@.golden_attr(attrs, 'unit', 'text', false),
			'at', @extschema@.golden_attr(attrs, 'taken_at', 'timestamptz', true)::timestamptz,
			'ref_low', @extschema@.golden_attr(attrs, 'ref_low', 'numeric', false)::numeric,
			'ref_high', @extschema@.golden_attr(attrs, 'ref_high', 'numeric', false)::numeric,
			'ref_text', @extschema@.golden_attr(attrs, 'reference_range', 'text', false));
		IF c ->> 'ref_text' IS NOT NULL AND c ->> 'ref_low' IS NULL AND c ->> 'ref_high' IS NULL THEN
			rng := pg_catalog.regexp_match(c ->> 'ref_text', '^\s*(-?[0-9]+(?:[.,][0-9]+)?)\s*[-–]\s*(-?[0-9]+(?:[.,][0-9]+)?)\s*$');
			IF rng IS NOT NULL THEN
				c := c || pg_catalog.jsonb_build_object('ref_low', pg_catalog.replace(rng[1], ',', '.')::numeric,
				                                        'ref_high', pg_catalog.replace(rng[2], ',', '.')::numeric);
			END IF;
		END IF;
		IF (c ->> 'ref_low')::numeric > (c ->> 'ref_high')::numeric THEN
			RAISE EXCEPTION 'clinical event reference range is empty: "ref_low" % is above "ref_high" %',
				c ->> 'ref_low', c ->> 'ref_high' USING ERRCODE = '22023';
		END IF;
	ELSIF kind = 'diagnosis' THEN
		code := pg_catalog.upper(pg_catalog.btrim(@extschema@.golden_attr(attrs, 'code', 'text', true)));
		IF code !~ '^[A-Z][0-9]{2}(\.[0-9]{1,2})?$' THEN
			RAISE EXCEPTION 'invalid input syntax for clinical event attribute "code": "%"', attrs ->> 'code'
				USING ERRCODE = '22P02',
				DETAIL = 'A diagnosis code is an ICD-10 code: a letter, two digits, and optionally a dot and one or two digits.',
				HINT = 'Use a code such as E11 or E11.9.';
		END IF;
		c := pg_catalog.jsonb_build_object('icd10', code,
			'at', @extschema@.golden_attr(attrs, 'at', 'timestamptz', true)::timestamptz);
	ELSIF kind = 'sick_leave' THEN
		c := pg_catalog.jsonb_build_object(
			'sick_leave_number', @extschema@.golden_attr(attrs, 'number', 'text', true),
			'sick_from', @extschema@.golden_attr(attrs, 'from', 'date', true)::date,
			'sick_to', @extschema@.golden_attr(attrs, 'to', 'date', true)::date);
		IF (c ->> 'sick_to')::date < (c ->> 'sick_from')::date THEN
			RAISE EXCEPTION 'clinical event attribute "to" (%) is before "from" (%)', c ->> 'sick_to', c ->> 'sick_from'
				USING ERRCODE = '22023';
		END IF;
		c := c || pg_catalog.jsonb_build_object('at', (c ->> 'sick_from')::date::timestamp AT TIME ZONE 'UTC');
	ELSIF kind = 'recommendation' THEN
		c := pg_catalog.jsonb_build_object(
			'recommendation', @extschema@.golden_attr(attrs, 'text', 'text', true),
			'at', @extschema@.golden_attr(attrs, 'at', 'timestamptz', false)::timestamptz,
			'due_date', @extschema@.golden_attr(attrs, 'due_date', 'date', false)::date);
		IF attrs ? 'due_in' THEN
			IF c ->> 'due_date' IS NOT NULL OR c ->> 'at' IS NULL THEN
				RAISE EXCEPTION 'clinical event attribute "due_in" needs "at" and excludes "due_date"'
					USING ERRCODE = '22023',
					HINT = 'Give {"at": "2024-03-01T10:00:00+03:00", "due_in": "3 months"} or {"due_date": "2024-06-01"}.';
			END IF;
			c := c || pg_catalog.jsonb_build_object('due_date',
				(((c ->> 'at')::timestamptz AT TIME ZONE 'UTC')
				 + @extschema@.golden_attr(attrs, 'due_in', 'interval', true)::interval)::date);
		END IF;
	ELSE
		RAISE EXCEPTION 'invalid clinical event kind "%"', kind
			USING ERRCODE = '22023', HINT = 'Use visit, lab_test, diagnosis, sick_leave or recommendation.';
	END IF;
	RETURN c;
END
$$;
COMMENT ON FUNCTION @extschema@.golden_clinical_columns(text, jsonb) IS
	'validates a clinical event''s attrs for its kind and returns its typed columns as JSON (internal)';

/*
 * Stores a clinical event from a source, attached to the source record named by
 * attrs.record_source_id (or patient_source_id) of the same source, so to its golden record.
 * Same input twice changes nothing.  Every change appends clinical.created / clinical.updated
 * carrying the stored row; a visit re-derives the patient's last visit.  Returns the event id.
 */
CREATE FUNCTION @extschema@.upsert_clinical_event(source text, source_id text, kind text, attrs jsonb) RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	AS $$
DECLARE
	sid		int;
	rkey	text;
	rec		bigint;
	g		bigint;
	cols	jsonb;
	hash	text;
	old		@extschema@.clinical_event;
	row		@extschema@.clinical_event;
BEGIN
	IF source IS NULL OR source_id IS NULL OR kind IS NULL OR attrs IS NULL THEN
		RAISE EXCEPTION 'upsert_clinical_event arguments must not be null' USING ERRCODE = '22004';
	END IF;
	IF pg_catalog.octet_length(source_id) > 256 OR pg_catalog.btrim(source_id) = '' THEN
		RAISE EXCEPTION 'invalid clinical event source_id "%"', pg_catalog.left(source_id, 64)
			USING ERRCODE = '22023', DETAIL = 'A source_id is 1 to 256 bytes.';
	END IF;
	cols := @extschema@.golden_clinical_columns(kind, attrs);
	SELECT s.source_id INTO sid FROM @extschema@.source s WHERE s.name = upsert_clinical_event.source;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'source "%" does not exist', source
			USING ERRCODE = 'P0002', HINT = 'Register the source and its records before their clinical events.';
	END IF;
	rkey := coalesce(attrs ->> 'record_source_id', attrs ->> 'patient_source_id');
	IF rkey IS NULL THEN
		RAISE EXCEPTION 'clinical event attribute "record_source_id" is required'
			USING ERRCODE = '22023',
			DETAIL = 'A clinical event belongs to a source record of the same source.',
			HINT = 'Give "record_source_id" (or "patient_source_id"): the source_id the record was upserted with.';
	END IF;
	SELECT r.record_id, r.golden_id INTO rec, g FROM @extschema@.record r
	 WHERE r.source_id = sid AND r.source_key = rkey;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'record "%" of source "%" does not exist', rkey, source
			USING ERRCODE = 'P0002', HINT = 'Upsert the patient record before its clinical events.';
	END IF;
	hash := pg_catalog.md5(kind || ':' || attrs::text);
	SELECT * INTO old FROM @extschema@.clinical_event c
	 WHERE c.source_id = sid AND c.source_key = upsert_clinical_event.source_id FOR UPDATE;
	IF FOUND AND old.attrs_hash = hash THEN
		RETURN old.event_id;
	END IF;
	row := pg_catalog.jsonb_populate_record(NULL::@extschema@.clinical_event, cols || pg_catalog.jsonb_build_object(
		'event_id', coalesce(old.event_id, pg_catalog.nextval('@extschema@.clinical_event_id_seq')),
		'source_id', sid, 'source_key', upsert_clinical_event.source_id, 'record_id', rec, 'golden_id', g,
		'kind', kind, 'attrs', attrs, 'attrs_hash', hash,
		'created_at', coalesce(old.created_at, pg_catalog.now()), 'updated_at', pg_catalog.now(),
		'version', coalesce(old.version, 0) + 1));
	IF old.event_id IS NOT NULL THEN
		DELETE FROM @extschema@.clinical_event c WHERE c.event_id = old.event_id;
	END IF;
	INSERT INTO @extschema@.clinical_event SELECT row.*;
	PERFORM @extschema@.append_event(CASE WHEN old.event_id IS NULL THEN 'clinical.created' ELSE 'clinical.updated' END,
		row.event_id, g, pg_catalog.jsonb_build_object('clinical', pg_catalog.to_jsonb(row) - 'golden_id'));
	IF kind = 'visit' OR old.kind = 'visit' THEN
		PERFORM @extschema@.refresh_patients(ARRAY[g, old.golden_id]);
	END IF;
	RETURN row.event_id;
END
$$;
COMMENT ON FUNCTION @extschema@.upsert_clinical_event(text, text, text, jsonb) IS
	'stores (idempotently) a visit, lab test, diagnosis, sick leave or recommendation of a source record; returns its event id';

/* ------------------------------------------------------------------ archive and restore */

/* Why a patient is (or is not) a candidate for archiving: when it was last seen. */
CREATE FUNCTION @extschema@.golden_seen_reason(p @extschema@.patient) RETURNS text
	LANGUAGE sql STABLE PARALLEL SAFE
	AS $$
	SELECT pg_catalog.format('last seen %s (last visit %s, last record change %s)',
		coalesce(pg_catalog.to_char(greatest(p.last_visit, p.updated_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 'never'),
		coalesce(pg_catalog.to_char(p.last_visit AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 'none'),
		coalesce(pg_catalog.to_char(p.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 'none'))
	$$;
COMMENT ON FUNCTION @extschema@.golden_seen_reason(@extschema@.patient) IS
	'a sentence saying when a patient was last seen (internal)';

/*
 * Active patients not seen (no visit and no record change) for the given interval, with the
 * reason.
 */
CREATE FUNCTION @extschema@.archive_candidates(not_seen interval)
	RETURNS TABLE (golden_id bigint, last_seen timestamptz, reason text)
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	AS $$
BEGIN
	IF not_seen IS NULL OR not_seen <= interval '0' THEN
		RAISE EXCEPTION 'not_seen must be a positive interval'
			USING ERRCODE = '22023', HINT = 'Use for example interval ''3 years''.';
	END IF;
	RETURN QUERY
	SELECT p.golden_id, greatest(p.last_visit, p.updated_at),
	       pg_catalog.format('not seen for %s: %s', not_seen, @extschema@.golden_seen_reason(p))
	  FROM @extschema@.patient p
	 WHERE p.status = 'active'
	   AND greatest(p.last_visit, p.updated_at) < pg_catalog.now() - not_seen
	 ORDER BY p.golden_id;
END
$$;
COMMENT ON FUNCTION @extschema@.archive_candidates(interval) IS
	'active patients not seen (no visit, no record change) for the given interval, with the reason';

/* Shared body of archive_patients and restore_patients. */
CREATE FUNCTION @extschema@.golden_set_status(ids bigint[], comment text, dry_run boolean, target text)
	RETURNS TABLE (golden_id bigint, action text, reason text)
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	AS $$
DECLARE
	verb	text := CASE target WHEN 'archived' THEN 'archive' ELSE 'restore' END;
	plan	record;
	ev		bigint;
	bad		text;
BEGIN
	IF ids IS NULL OR dry_run IS NULL THEN
		RAISE EXCEPTION 'ids and dry_run must not be null' USING ERRCODE = '22004';
	END IF;
	IF NOT dry_run AND (comment IS NULL OR pg_catalog.btrim(comment) = '') THEN
		RAISE EXCEPTION 'a comment is required to % patients', verb
			USING ERRCODE = '22023', HINT = 'Say why, for example ''not seen for 3 years''.';
	END IF;
	IF pg_catalog.to_regclass('pg_temp.golden_status_plan') IS NULL THEN
		CREATE TEMP TABLE golden_status_plan (asked bigint, golden_id bigint, action text, reason text) ON COMMIT DROP;
	END IF;
	TRUNCATE golden_status_plan;
	INSERT INTO golden_status_plan
	SELECT i, @extschema@.resolve_patient(i), NULL, NULL FROM (SELECT DISTINCT i FROM pg_catalog.unnest(ids) i) d;
	IF NOT dry_run THEN
		PERFORM 1 FROM @extschema@.patient p WHERE p.golden_id IN (SELECT x.golden_id FROM golden_status_plan x)
		 ORDER BY p.golden_id FOR UPDATE;
	END IF;
	UPDATE golden_status_plan x SET
		action = CASE WHEN p.status = target THEN 'skipped'
		              ELSE CASE target WHEN 'archived' THEN 'archive' ELSE 'restore' END END,
		reason = CASE WHEN p.status = target THEN pg_catalog.format('patient %s is already %s', p.golden_id, target)
		              ELSE @extschema@.golden_seen_reason(p) END
	  FROM @extschema@.patient p
	 WHERE p.golden_id = x.golden_id;
	UPDATE golden_status_plan x SET action = 'skipped', reason = pg_catalog.format('unknown patient %s', x.asked)
	 WHERE x.action IS NULL;
	IF NOT dry_run THEN
		SELECT x.reason INTO bad FROM golden_status_plan x WHERE x.action = 'skipped' ORDER BY x.asked LIMIT 1;
		IF bad IS NOT NULL THEN
			RAISE EXCEPTION 'cannot % patients: %', verb, bad
				USING ERRCODE = CASE WHEN bad LIKE 'unknown%' THEN 'P0002' ELSE '55000' END,
				DETAIL = 'Nothing was changed.',
				HINT = pg_catalog.format('Run cdp.%s_patients with dry_run => true to see every skipped patient.', verb);
		END IF;
		FOR plan IN SELECT DISTINCT x.golden_id FROM golden_status_plan x WHERE x.golden_id IS NOT NULL
		             ORDER BY x.golden_id LOOP
			ev := @extschema@.append_event(CASE target WHEN 'archived' THEN 'patient.archived' ELSE 'patient.restored' END,
				plan.golden_id, plan.golden_id,
				pg_catalog.jsonb_build_object('comment', comment));
			UPDATE @extschema@.patient p SET status = target, status_at = e.at
			  FROM @extschema@.event e WHERE e.event_id = ev AND p.golden_id = plan.golden_id;
		END LOOP;
		UPDATE golden_status_plan x SET action = target;
	END IF;
	RETURN QUERY SELECT coalesce(x.golden_id, x.asked), x.action, x.reason
	  FROM golden_status_plan x ORDER BY x.asked;
END
$$;
COMMENT ON FUNCTION @extschema@.golden_set_status(bigint[], text, boolean, text) IS
	'shared body of archive_patients and restore_patients (internal)';

CREATE FUNCTION @extschema@.archive_patients(ids bigint[], comment text, dry_run boolean DEFAULT true)
	RETURNS TABLE (golden_id bigint, action text, reason text)
	LANGUAGE sql VOLATILE PARALLEL UNSAFE
	AS $$ SELECT * FROM @extschema@.golden_set_status(ids, comment, dry_run, 'archived') $$;
COMMENT ON FUNCTION @extschema@.archive_patients(bigint[], text, boolean) IS
	'archives patients (dry run by default: lists what would be archived and why, and what is skipped); one patient.archived event each';
REVOKE ALL ON FUNCTION @extschema@.archive_patients(bigint[], text, boolean) FROM PUBLIC;

CREATE FUNCTION @extschema@.restore_patients(ids bigint[], comment text, dry_run boolean DEFAULT true)
	RETURNS TABLE (golden_id bigint, action text, reason text)
	LANGUAGE sql VOLATILE PARALLEL UNSAFE
	AS $$ SELECT * FROM @extschema@.golden_set_status(ids, comment, dry_run, 'active') $$;
COMMENT ON FUNCTION @extschema@.restore_patients(bigint[], text, boolean) IS
	'restores archived patients (dry run by default); one patient.restored event each';
REVOKE ALL ON FUNCTION @extschema@.restore_patients(bigint[], text, boolean) FROM PUBLIC;

/* ------------------------------------------------------------------ maintenance */

/*
 * Scheduled maintenance, safe from pg_cron every minute beside live traffic: one runner at a
 * time (session advisory lock; a second caller returns at once), a matching increment when the
 * matching layer is installed, then the golden projections caught up with the log in short
 * transactions of batch_size events (COMMIT between batches), so a crash loses at most the
 * batch in flight, which the next run redoes.  Must be CALLed outside an explicit transaction
 * block to commit between batches.
 */
CREATE PROCEDURE @extschema@.run_maintenance(batch_size int DEFAULT 1000)
	LANGUAGE plpgsql
	AS $$
DECLARE
	lo		bigint;
	hi		bigint;
	top		bigint;
	ids		bigint[];
	lock_key constant bigint := 7307770001;
BEGIN
	IF batch_size IS NULL OR batch_size < 1 OR batch_size > 1000000 THEN
		RAISE EXCEPTION 'batch_size must be between 1 and 1000000' USING ERRCODE = '22023';
	END IF;
	IF NOT pg_catalog.pg_try_advisory_lock(lock_key) THEN
		RAISE NOTICE 'cdp.run_maintenance is already running in another session';
		RETURN;
	END IF;
	IF pg_catalog.to_regprocedure('@extschema@.run_matching(text)') IS NOT NULL THEN
		EXECUTE 'SELECT @extschema@.run_matching($1)' USING 'incremental';
		COMMIT;
	END IF;
	SELECT coalesce(pg_catalog.max(e.event_id), 0) INTO top FROM @extschema@.event e;
	LOOP
		SELECT s.last_event_id INTO lo FROM @extschema@.golden_state s;
		EXIT WHEN lo >= top;
		hi := least(lo + batch_size, top);
		SELECT pg_catalog.array_agg(DISTINCT x) INTO ids FROM (
			SELECT e.golden_id AS x FROM @extschema@.event e
			 WHERE e.event_id > lo AND e.event_id <= hi AND e.golden_id IS NOT NULL
			UNION
			SELECT r.golden_id FROM @extschema@.event e JOIN @extschema@.record r ON r.record_id = e.subject
			 WHERE e.event_id > lo AND e.event_id <= hi AND e.kind IN ('record.created', 'record.updated')) t;
		PERFORM @extschema@.refresh_patients(ids);
		UPDATE @extschema@.golden_state SET last_event_id = hi;
		COMMIT;
	END LOOP;
	PERFORM pg_catalog.pg_advisory_unlock(lock_key);
END
$$;
COMMENT ON PROCEDURE @extschema@.run_maintenance(int) IS
	'matching increment plus golden projection catch-up, in short committed batches under an advisory lock; schedule with pg_cron';
REVOKE ALL ON PROCEDURE @extschema@.run_maintenance(int) FROM PUBLIC;

/* ------------------------------------------------------------------ privileges */

/* Writers are for the admin and the cdp families, like ingest's upsert_record. */
REVOKE ALL ON FUNCTION @extschema@.refresh_patients(bigint[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.link_records(bigint, bigint, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.link_records_many(bigint[], bigint[], jsonb[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.golden_link_apply(bigint[], bigint[], jsonb[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.unmerge(bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.upsert_clinical_event(text, text, text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.golden_lock(bigint[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.golden_refold(bigint[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.golden_open_members(bigint[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.golden_set_status(bigint[], text, boolean, text) FROM PUBLIC;
