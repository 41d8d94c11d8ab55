/*
 * sql/parts/70_golden_tables.sql: layer 7, golden patient records.
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

/*
 * The rule names and the default rules come from the constants of src/golden_rules.c, the ones the
 * fold and golden_check_rules read.
 */
CREATE FUNCTION @extschema@.golden_default_rules() RETURNS jsonb
	LANGUAGE C IMMUTABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'cdp_golden_default_rules';
COMMENT ON FUNCTION @extschema@.golden_default_rules() IS
	'built-in survivorship rules: for each single-valued attribute, the ordered list of rules that picks its value';

CREATE FUNCTION @extschema@.golden_rule_names() RETURNS text[]
	LANGUAGE C IMMUTABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'cdp_golden_rule_names';
COMMENT ON FUNCTION @extschema@.golden_rule_names() IS
	'names of the survivorship rules: validated (records flagged validated first), trusted (cdp.source.trust), recent (record updated_at), frequent (records sharing the value), complete (longest value)';

/*
 * The rules document as of a time: the newest configured version at or before it, else the
 * default (version 0).
 */
CREATE FUNCTION @extschema@.survivorship_rules_as_of(at timestamptz DEFAULT 'infinity',
	upto bigint DEFAULT 9223372036854775807, OUT version int, OUT rules jsonb)
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
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
 * does not name (C, src/golden_rules.c: the checks the fold makes, plus known attributes, non-empty
 * lists and no rule twice).  Raises 22023 naming the attribute or rule at fault; a NULL document
 * is refused like any other that is not an object, so the function is not STRICT.
 */
CREATE FUNCTION cdp_internal.golden_check_rules(rules jsonb) RETURNS jsonb
	LANGUAGE C IMMUTABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'cdp_golden_check_rules';
COMMENT ON FUNCTION cdp_internal.golden_check_rules(jsonb) IS
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
/*
 * The archived profiles only (session 24): nearly every profile is active, and a query of the
 * active ones reads most of the table anyway, so an index of every row by status cost each new
 * person an index entry (one of the twelve a new record costs) for lookups only the archived
 * ones need.
 */
CREATE INDEX patient_archived_idx ON @extschema@.patient (golden_id) WHERE status OPERATOR(pg_catalog.=) 'archived';
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

CREATE TABLE cdp_internal.golden_state (
	one				boolean PRIMARY KEY DEFAULT true CHECK (one),
	last_event_id	bigint NOT NULL DEFAULT 0
);
COMMENT ON TABLE cdp_internal.golden_state IS
	'how far cdp.run_maintenance has caught the golden projections up with the log';
INSERT INTO cdp_internal.golden_state DEFAULT VALUES;

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
