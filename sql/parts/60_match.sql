/*
 * sql/parts/60_match.sql: probabilistic patient matching (layer 6, issue 6).
 *
 * Settings are a versioned JSON document (cdp.match_settings), expanded and validated on save and
 * compiled into a flat float8[] program for the C kernel (src/match_walk.c), which loads the
 * pre-normalised features of cdp.match_key once, walks the blocks of every blocking rule and scores
 * each candidate pair in one C call.  Training (u from random pairs, m and lambda by EM over blocked
 * pairs) stores its parameters with the settings version.  A run decides its links in memory
 * (src/match_link.c) and applies them in one cdp.link_records_many call (golden); people's
 * decisions go through cdp.record_pair_decision (ingest).  See doc/matching.md.
 */

/* ---------------------------------------------------------------- tables */

CREATE TABLE @extschema@.match_settings (
	version    serial PRIMARY KEY,
	settings   jsonb NOT NULL,
	params     jsonb,
	program    float8[],
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	active     boolean NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX match_settings_one_active ON @extschema@.match_settings (active) WHERE active;
COMMENT ON TABLE @extschema@.match_settings IS
	'versioned matching settings (expanded JSON document) with the parameters trained for each version and their compiled kernel program; one is active';

CREATE TABLE @extschema@.match_key (
	record_id bigint PRIMARY KEY,
	version   int NOT NULL,
	flags     int NOT NULL DEFAULT 0,
	feat      text[],
	bk        text[]
);
COMMENT ON TABLE @extschema@.match_key IS
	'per record: the pre-normalised comparison values (feat) and blocking keys (bk, "r<rule>:<key>") of the settings version that computed them';
ALTER TABLE @extschema@.match_key ENABLE ROW LEVEL SECURITY;

-- The blocking keys again, one row per key, for the lookups that find a record's block mates
-- (match_record, incremental runs, find_patient).  A B-tree on these rows builds 2 to 4 times faster
-- than a GIN index on match_key.bk after a full re-key, and a lookup never reads a GIN pending list.
CREATE TABLE @extschema@.match_block (
	bk        text COLLATE "C" NOT NULL,
	record_id bigint NOT NULL
);
CREATE INDEX match_block_bk ON @extschema@.match_block (bk);
CREATE INDEX match_block_record ON @extschema@.match_block (record_id);
COMMENT ON TABLE @extschema@.match_block IS
	'one row per blocking key of each record of cdp.match_key (kept with it): the index the lookups find block mates through';
ALTER TABLE @extschema@.match_block ENABLE ROW LEVEL SECURITY;

CREATE TABLE @extschema@.match_tf (
	version int NOT NULL,
	comp    int NOT NULL,
	value   text NOT NULL,
	freq    float8 NOT NULL,
	PRIMARY KEY (version, comp, value)
);
COMMENT ON TABLE @extschema@.match_tf IS
	'term frequencies of the tf-adjusted comparisons, per settings version (value '''' = the frequency of a value seen once)';
ALTER TABLE @extschema@.match_tf ENABLE ROW LEVEL SECURITY;

CREATE TABLE @extschema@.match_suspicious (
	attr    text NOT NULL,
	value   text NOT NULL,
	persons int NOT NULL,
	PRIMARY KEY (attr, value)
);
COMMENT ON TABLE @extschema@.match_suspicious IS
	'snapshot of cdp.suspicious_values taken by a full run or training: these values are not evidence';
ALTER TABLE @extschema@.match_suspicious ENABLE ROW LEVEL SECURITY;

CREATE TABLE @extschema@.match_review (
	pair_id    bigserial PRIMARY KEY,
	record_a   bigint NOT NULL,
	record_b   bigint NOT NULL,
	score      float8 NOT NULL,
	weight     float8,
	levels     smallint[],
	flags      int NOT NULL DEFAULT 0,
	version    int,
	reason     text,
	status     text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'match', 'no_match')),
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	decided_at timestamptz,
	note       text,
	CHECK (record_a < record_b),
	UNIQUE (record_a, record_b)
);
COMMENT ON TABLE @extschema@.match_review IS
	'pairs scored between the review and link thresholds (or held back by a rule), waiting for a person''s decision';
ALTER TABLE @extschema@.match_review ENABLE ROW LEVEL SECURITY;

CREATE TABLE @extschema@.household (
	record_a   bigint NOT NULL,
	record_b   bigint NOT NULL,
	relation   text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (record_a, record_b, relation),
	CHECK (record_a < record_b)
);
COMMENT ON TABLE @extschema@.household IS
	'related but different people (spouses, parent and child, twins): never a merge, and the pair is not linked automatically';
ALTER TABLE @extschema@.household ENABLE ROW LEVEL SECURITY;

CREATE TABLE @extschema@.match_run (
	run_id      bigserial PRIMARY KEY,
	mode        text NOT NULL,
	started_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	finished_at timestamptz,
	result      jsonb
);
COMMENT ON TABLE @extschema@.match_run IS 'one row per finished cdp.run_matching call, with its counts and step times';

/* ---------------------------------------------------------------- C kernel */

CREATE FUNCTION @extschema@._match_walk(mode text, query text, program float8[], tf_version int,
		min_prob float8, max_block int, sample bigint, focus bigint[],
		OUT record_a bigint, OUT record_b bigint, OUT golden_a bigint, OUT golden_b bigint,
		OUT rule int, OUT weight float8, OUT probability float8, OUT flags int,
		OUT levels smallint[], OUT n bigint, OUT n_new bigint)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'cdp__match_walk'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@._match_walk(text, text, float8[], int, float8, int, bigint, bigint[]) IS
	'internal: the matching kernel (modes score, count, patterns, sample, cross) over the rows of query';
REVOKE ALL ON FUNCTION @extschema@._match_walk(text, text, float8[], int, float8, int, bigint, bigint[]) FROM PUBLIC;

-- One part of a walk: only the blocks whose key hash is part modulo nparts.  PARALLEL SAFE (it only
-- reads), so _match_walk_all runs one call per part in the parallel workers of a Gather node.
CREATE FUNCTION @extschema@._match_walk_part(part int, nparts int, mode text, query text, program float8[],
		tf_version int, min_prob float8, max_block int, sample bigint, focus bigint[],
		OUT record_a bigint, OUT record_b bigint, OUT golden_a bigint, OUT golden_b bigint,
		OUT rule int, OUT weight float8, OUT probability float8, OUT flags int,
		OUT levels smallint[], OUT n bigint, OUT n_new bigint)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'cdp__match_walk_part'
	LANGUAGE C VOLATILE PARALLEL SAFE COST 1000000 ROWS 100000;
COMMENT ON FUNCTION @extschema@._match_walk_part(int, int, text, text, float8[], int, float8, int, bigint, bigint[]) IS
	'internal: the matching kernel over the blocks of one part (key hash modulo nparts), for parallel workers';
REVOKE ALL ON FUNCTION @extschema@._match_walk_part(int, int, text, text, float8[], int, float8, int, bigint, bigint[]) FROM PUBLIC;

-- The parts a parallel walk is cut into: one row per page (fillfactor 10, a 1000-byte pad), so that
-- a parallel sequential scan hands each process its own part.
CREATE TABLE @extschema@.match_part (
	part int PRIMARY KEY,
	pad  text NOT NULL
) WITH (fillfactor = 10, parallel_workers = 7);
INSERT INTO @extschema@.match_part SELECT p, pg_catalog.repeat('-', 1000) FROM pg_catalog.generate_series(0, 7) p;
COMMENT ON TABLE @extschema@.match_part IS
	'internal: part numbers 0..7, one per page, that a parallel matching walk hands out to its workers (no personal data)';
ALTER TABLE @extschema@.match_part ENABLE ROW LEVEL SECURITY;

-- _match_nparts: how many parts a whole walk is cut into.  Each part loads every record itself, so
-- parallel workers pay only when scoring outweighs loading: when the last training counted at least
-- 10 candidate pairs per record (1M generated records: 42; 100k: 5); then 1 +
-- max_parallel_workers_per_gather parts (at most 8), else 1.
CREATE FUNCTION @extschema@._match_nparts() RETURNS int
	LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT CASE WHEN COALESCE((s.params ->> 'blocked_pairs')::float8, 0)
	                 >= 10 * GREATEST(COALESCE((s.params ->> 'records')::float8, 0), 1)
	            THEN 1 + LEAST(GREATEST(pg_catalog.current_setting('max_parallel_workers_per_gather')::int, 0), 7)
	            ELSE 1 END
	  FROM @extschema@.match_settings s WHERE s.active
$$;
COMMENT ON FUNCTION @extschema@._match_nparts() IS
	'internal: parts of a whole matching walk (1 + max_parallel_workers_per_gather when the trained blocking yields >= 10 candidate pairs per record, else 1)';

-- _match_walk_all: a whole walk (no focus) cut into nparts parts, one _match_walk_part call per part
-- under a Gather node: every core scores blocks.  Rows of the count and patterns modes come once
-- per part: the caller sums them.  nparts 1: the plain serial walk.
CREATE FUNCTION @extschema@._match_walk_all(mode text, query text, program float8[], tf_version int,
		min_prob float8, max_block int, sample bigint, nparts int,
		OUT record_a bigint, OUT record_b bigint, OUT golden_a bigint, OUT golden_b bigint,
		OUT rule int, OUT weight float8, OUT probability float8, OUT flags int,
		OUT levels smallint[], OUT n bigint, OUT n_new bigint)
	RETURNS SETOF record
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET parallel_setup_cost = 0 SET parallel_tuple_cost = 0 SET min_parallel_table_scan_size = 0 AS $$
BEGIN
	IF nparts IS NULL OR nparts <= 1 THEN
		RETURN QUERY SELECT w.* FROM @extschema@._match_walk(mode, query, program, tf_version, min_prob,
		                                                     max_block, sample, NULL) w;
		RETURN;
	END IF;
	nparts := LEAST(nparts, 8);
	RETURN QUERY SELECT w.* FROM @extschema@.match_part p
	  CROSS JOIN LATERAL @extschema@._match_walk_part(p.part, nparts, mode, query, program, tf_version,
	                                                  min_prob, max_block, sample, NULL) w
	 WHERE p.part < nparts;
END $$;
COMMENT ON FUNCTION @extschema@._match_walk_all(text, text, float8[], int, float8, int, bigint, int) IS
	'internal: the matching kernel over every record, cut into nparts parts walked by parallel processes';
REVOKE ALL ON FUNCTION @extschema@._match_walk_all(text, text, float8[], int, float8, int, bigint, int) FROM PUBLIC;

CREATE FUNCTION @extschema@._match_em(levels smallint[], counts float8[], nlev int[], u float8[],
		m float8[], lambda float8, iterations int, fixed boolean[], update_m boolean) RETURNS float8[]
	AS 'MODULE_PATHNAME', 'cdp__match_em'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@._match_em(smallint[], float8[], int[], float8[], float8[], float8, int, boolean[], boolean) IS
	'internal: EM of m (unless update_m is false) and lambda over level-vector counts with u fixed, comparisons marked fixed left out; returns m (9 per comparison) then lambda';

/* ---------------------------------------------------------------- normalisation */

-- The comparison form of names and strings is the text family's normalize_name (NFKC, lower case,
-- ё as е, no punctuation); the "key" level and ".key" blocking use its name_base_key (one Latin key
-- for any spelling, gender-neutral surname and patronymic, canonical given name: Маша = Мария).
CREATE FUNCTION @extschema@._match_norm(v text) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN NULLIF(@extschema@.normalize_name(v), '');
COMMENT ON FUNCTION @extschema@._match_norm(text) IS 'internal: the comparison form of a text value (cdp.normalize_name, NULL when empty)';

CREATE FUNCTION @extschema@._match_name_key(v text) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN NULLIF(@extschema@.name_base_key(v), '');
COMMENT ON FUNCTION @extschema@._match_name_key(text) IS 'internal: the name key compared by the "key" level (cdp.name_base_key, NULL when empty)';

CREATE FUNCTION @extschema@._match_date(v text) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN CASE
		WHEN v ~ '^\s*\d{4}-?\d{2}-?\d{2}' THEN pg_catalog.substr(pg_catalog.regexp_replace(v, '\D', '', 'g'), 1, 8)
		WHEN v ~ '^\s*\d{1,2}[./]\d{1,2}[./]\d{4}\s*$' THEN
			pg_catalog.split_part(pg_catalog.regexp_replace(v, '\s', '', 'g'), pg_catalog.substr(pg_catalog.regexp_replace(v, '[\d\s]', '', 'g'), 1, 1), 3)
			|| pg_catalog.lpad(pg_catalog.split_part(pg_catalog.regexp_replace(v, '\s', '', 'g'), pg_catalog.substr(pg_catalog.regexp_replace(v, '[\d\s]', '', 'g'), 1, 1), 2), 2, '0')
			|| pg_catalog.lpad(pg_catalog.split_part(pg_catalog.regexp_replace(v, '\s', '', 'g'), pg_catalog.substr(pg_catalog.regexp_replace(v, '[\d\s]', '', 'g'), 1, 1), 1), 2, '0')
		ELSE NULL END;
COMMENT ON FUNCTION @extschema@._match_date(text) IS 'internal: a date written YYYY-MM-DD, YYYYMMDD or DD.MM.YYYY as YYYYMMDD (NULL otherwise)';

/* ---------------------------------------------------------------- settings */

CREATE FUNCTION @extschema@._match_default_settings() RETURNS jsonb
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	RETURN $json${
	"comparisons": [
		{"attr": "family_name", "comparator": "name", "tf": true,
		 "levels": [{"if": "exact"}, {"if": "key"}, {"if": "swapped", "with": "given_name"}, {"if": "cross", "with": "given_name"},
		            {"if": "jw", "ge": 0.92}, {"if": "jw", "ge": 0.8}]},
		{"attr": "given_name", "comparator": "name", "tf": true,
		 "levels": [{"if": "exact"}, {"if": "key"}, {"if": "swapped", "with": "family_name"}, {"if": "cross", "with": "patronymic"},
		            {"if": "jw", "ge": 0.92}, {"if": "jw", "ge": 0.8}, {"if": "initial"}]},
		{"attr": "patronymic", "comparator": "name", "tf": true,
		 "levels": [{"if": "exact"}, {"if": "key"}, {"if": "cross", "with": "family_name"}, {"if": "cross", "with": "given_name"},
		            {"if": "jw", "ge": 0.9}, {"if": "initial"}]},
		{"attr": "birth_date", "comparator": "date",
		 "levels": [{"if": "exact"}, {"if": "day_month_swapped"}, {"if": "osa", "le": 1}]},
		{"attr": "sex", "comparator": "exact"},
		{"attr": "phones", "comparator": "phone", "levels": [{"if": "exact"}, {"if": "last7"}]},
		{"attr": "emails", "comparator": "email", "levels": [{"if": "exact"}, {"if": "jw", "ge": 0.95}]},
		{"attr": "snils", "comparator": "id", "levels": [{"if": "exact"}, {"if": "osa", "le": 1}]},
		{"attr": "oms", "comparator": "id", "levels": [{"if": "exact"}, {"if": "osa", "le": 1}]},
		{"attr": "address", "comparator": "string", "levels": [{"if": "exact"}, {"if": "jw", "ge": 0.9}]},
		{"attr": "city", "comparator": "string", "tf": true, "levels": [{"if": "exact"}]},
		{"attr": "vk", "comparator": "id", "levels": [{"if": "exact"}]},
		{"attr": "telegram", "comparator": "id", "levels": [{"if": "exact"}]}
	],
	"blocking": [
		["family_name.key", "birth_date.year"],
		["given_name.key", "birth_date"],
		["family_name.key", "given_name.key"],
		["birth_date", "patronymic.key"],
		["birth_date", "given_name.initial"],
		["any_order", "family_name.key", "given_name.key"],
		["any_order", "family_name.key", "given_name.key", "patronymic.key"],
		["phones"],
		["emails"],
		["snils"],
		["oms"],
		["vk"],
		["telegram"]
	],
	"link_threshold": 0.9,
	"review_threshold": 0.8,
	"rules": {"same_id_match": ["snils", "oms", "phones"], "different_id_never": ["snils"],
	          "disagree_never": ["given_name", "patronymic", "birth_date"]},
	"name_roles": true,
	"placeholder_names": ["неизвестный", "неизвестная", "неизвестно", "аноним", "анонимно", "анонимный",
		"тест", "тестов", "тестова", "тестович", "тестовна", "тестовый", "test", "unknown", "noname", "нет"],
	"suspicious_min_persons": 10,
	"max_block_size": 5000
}$json$::jsonb;
COMMENT ON FUNCTION @extschema@._match_default_settings() IS 'internal: the settings document installed as version 1 (clinic fields)';

-- _match_fail: raises the configuration error 22023 naming the JSON path.
CREATE FUNCTION @extschema@._match_fail(path text, message text, hint text DEFAULT NULL) RETURNS void
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
	RAISE EXCEPTION 'invalid matching settings at "%"', path
		USING ERRCODE = '22023', DETAIL = message,
		      HINT = COALESCE(hint, 'See doc/matching.md for the settings document.');
END $$;
COMMENT ON FUNCTION @extschema@._match_fail(text, text, text) IS 'internal: raises 22023 for a bad settings document, naming the JSON path';

-- _match_attr_column: the cdp.record column (or handles/extra key) an attrs key lands in.  Mirrors
-- the alias table of ingest (src/ingest_attrs.c, attr_aliases) so that settings may name fields as
-- the CSV header does.
CREATE FUNCTION @extschema@._match_attr_column(attr text) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN CASE pg_catalog.lower(attr)
		WHEN 'family_name' THEN 'family_name' WHEN 'last_name' THEN 'family_name' WHEN 'surname' THEN 'family_name'
		WHEN 'familyname' THEN 'family_name' WHEN 'lastname' THEN 'family_name' WHEN 'фамилия' THEN 'family_name'
		WHEN 'given_name' THEN 'given_name' WHEN 'first_name' THEN 'given_name' WHEN 'firstname' THEN 'given_name'
		WHEN 'givenname' THEN 'given_name' WHEN 'имя' THEN 'given_name'
		WHEN 'patronymic' THEN 'patronymic' WHEN 'middle_name' THEN 'patronymic' WHEN 'middlename' THEN 'patronymic'
		WHEN 'отчество' THEN 'patronymic'
		WHEN 'birth_date' THEN 'birth_date' WHEN 'birthdate' THEN 'birth_date' WHEN 'date_of_birth' THEN 'birth_date'
		WHEN 'dob' THEN 'birth_date' WHEN 'birthday' THEN 'birth_date' WHEN 'дата_рождения' THEN 'birth_date'
		WHEN 'sex' THEN 'sex' WHEN 'gender' THEN 'sex' WHEN 'пол' THEN 'sex'
		WHEN 'phones' THEN 'phones' WHEN 'phone' THEN 'phones' WHEN 'mobile' THEN 'phones' WHEN 'mobile_phone' THEN 'phones'
		WHEN 'tel' THEN 'phones' WHEN 'telephone' THEN 'phones' WHEN 'телефон' THEN 'phones'
		WHEN 'emails' THEN 'emails' WHEN 'email' THEN 'emails' WHEN 'e_mail' THEN 'emails' WHEN 'e-mail' THEN 'emails'
		WHEN 'snils' THEN 'snils' WHEN 'снилс' THEN 'snils'
		WHEN 'oms' THEN 'oms' WHEN 'oms_policy' THEN 'oms' WHEN 'polis' THEN 'oms' WHEN 'полис' THEN 'oms'
		WHEN 'address' THEN 'address' WHEN 'адрес' THEN 'address'
		WHEN 'city' THEN 'city' WHEN 'town' THEN 'city' WHEN 'город' THEN 'city'
		WHEN 'vkontakte' THEN 'vk' WHEN 'tg' THEN 'telegram' WHEN 'odnoklassniki' THEN 'ok'
		ELSE attr END;
COMMENT ON FUNCTION @extschema@._match_attr_column(text) IS 'internal: the cdp.record column an attrs alias lands in (ingest''s aliases), or the key itself';

CREATE FUNCTION @extschema@._match_clinic_comparator(col text) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN CASE col
		WHEN 'family_name' THEN 'name' WHEN 'given_name' THEN 'name' WHEN 'patronymic' THEN 'name'
		WHEN 'birth_date' THEN 'date' WHEN 'sex' THEN 'exact' WHEN 'phones' THEN 'phone'
		WHEN 'emails' THEN 'email' WHEN 'snils' THEN 'id' WHEN 'oms' THEN 'id'
		WHEN 'address' THEN 'string' WHEN 'city' THEN 'string' END;
COMMENT ON FUNCTION @extschema@._match_clinic_comparator(text) IS 'internal: the comparator of a cdp.record column (NULL for extra/handles keys)';

-- _match_default_levels: the levels a comparator gets when the document gives none.
CREATE FUNCTION @extschema@._match_default_levels(comparator text) RETURNS jsonb
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN CASE comparator
		WHEN 'name' THEN '[{"if":"exact"},{"if":"key"},{"if":"jw","ge":0.92},{"if":"jw","ge":0.8}]'
		WHEN 'string' THEN '[{"if":"exact"},{"if":"jw","ge":0.92},{"if":"jw","ge":0.8}]'
		WHEN 'date' THEN '[{"if":"exact"},{"if":"day_month_swapped"},{"if":"osa","le":1},{"if":"same_year"}]'
		WHEN 'phone' THEN '[{"if":"exact"},{"if":"last7"}]'
		WHEN 'email' THEN '[{"if":"exact"},{"if":"jw","ge":0.95}]'
		WHEN 'id' THEN '[{"if":"exact"},{"if":"osa","le":1}]'
		WHEN 'exact' THEN '[{"if":"exact"}]' END::jsonb;
COMMENT ON FUNCTION @extschema@._match_default_levels(text) IS 'internal: default comparison levels of each comparator';

-- _match_op_code: level predicate name -> C op code (src/match.h), and which comparators allow it.
CREATE FUNCTION @extschema@._match_op_code(op text, comparator text) RETURNS int
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN CASE
		WHEN op = 'exact' THEN 1
		WHEN op = 'key' AND comparator = 'name' THEN 2
		WHEN op = 'jw' AND comparator IN ('name', 'string', 'email') THEN 3
		WHEN op = 'osa' AND comparator IN ('name', 'string', 'email', 'id', 'date', 'phone') THEN 4
		WHEN op = 'day_month_swapped' AND comparator = 'date' THEN 5
		WHEN op = 'same_year' AND comparator = 'date' THEN 6
		WHEN op = 'last7' AND comparator IN ('phone', 'id') THEN 7
		WHEN op = 'initial' AND comparator IN ('name', 'string') THEN 8
		WHEN op = 'prefix' AND comparator IN ('name', 'string', 'email', 'id', 'date', 'phone') THEN 9
		WHEN op = 'swapped' AND comparator = 'name' THEN 10
		WHEN op = 'cross' AND comparator = 'name' THEN 11
		END;
COMMENT ON FUNCTION @extschema@._match_op_code(text, text) IS 'internal: C op code of a level predicate allowed for a comparator (NULL when not allowed)';

-- _match_guess_comparator: for a settings document that only names fields, the comparator of an
-- extra/handles key guessed from up to 2000 stored values (dates, digit ids, or names/strings).
CREATE FUNCTION @extschema@._match_guess_comparator(key text) RETURNS text
	LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
	n int; ndate int; ndigit int; avglen float8;
BEGIN
	SELECT pg_catalog.count(*),
	       pg_catalog.count(*) FILTER (WHERE @extschema@._match_date(v) IS NOT NULL),
	       pg_catalog.count(*) FILTER (WHERE v ~ '^[\s\d-]+$'),
	       pg_catalog.avg(pg_catalog.length(v))
	  INTO n, ndate, ndigit, avglen
	  FROM (SELECT COALESCE(r.extra ->> key, r.handles ->> key) AS v
	          FROM @extschema@.record r
	         WHERE r.extra ? key OR r.handles ? key
	         LIMIT 2000) s
	 WHERE v IS NOT NULL AND v <> '';
	IF n = 0 THEN
		RETURN 'string';
	ELSIF ndate >= 0.8 * n AND key ~* '(date|dob|birth|born)' THEN
		RETURN 'date';
	ELSIF ndigit >= 0.8 * n THEN
		RETURN 'id';
	ELSIF avglen <= 20 THEN
		RETURN 'name';
	END IF;
	RETURN 'string';
END $$;
COMMENT ON FUNCTION @extschema@._match_guess_comparator(text) IS 'internal: comparator guessed from the stored values of an extra key';

-- _match_expand: validates a settings document and returns it complete (fields-only documents
-- expanded, default levels and thresholds filled in).  Every error is 22023 naming the JSON path.
CREATE FUNCTION @extschema@._match_expand(s jsonb) RETURNS jsonb
	LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
	d jsonb := @extschema@._match_default_settings();
	out jsonb;
	comps jsonb := '[]';
	comp jsonb;
	lv jsonb;
	lvs jsonb;
	k text;
	i int;
	j int;
	attr text;
	cmpname text;
	attrs text[] := '{}';
	cols text[] := '{}';
	rules jsonb := '[]';
	rule jsonb;
	item text;
	link float8;
	review float8;
	nf int;
BEGIN
	IF s IS NULL OR pg_catalog.jsonb_typeof(s) <> 'object' THEN
		PERFORM @extschema@._match_fail('$', 'The settings must be a JSON object.');
	END IF;
	FOR k IN SELECT pg_catalog.jsonb_object_keys(s) LOOP
		IF k NOT IN ('fields', 'comparisons', 'blocking', 'link_threshold', 'review_threshold', 'rules',
		             'placeholder_names', 'suspicious_min_persons', 'max_block_size', 'lambda', 'name_roles') THEN
			PERFORM @extschema@._match_fail('$.' || k, pg_catalog.format('The key "%s" is not a settings key.', k),
				'Known keys: fields, comparisons, blocking, link_threshold, review_threshold, rules, placeholder_names, suspicious_min_persons, max_block_size, lambda, name_roles.');
		END IF;
	END LOOP;
	IF s ? 'fields' AND s ? 'comparisons' THEN
		PERFORM @extschema@._match_fail('$.fields', 'Give either "fields" or "comparisons", not both.');
	END IF;
	IF NOT (s ? 'fields' OR s ? 'comparisons') THEN
		PERFORM @extschema@._match_fail('$', 'The settings name no fields to compare.',
			'Add "fields": ["surname", "given_name", ...] or a "comparisons" list.');
	END IF;

	-- fields-only: one comparison per field, comparator from the column or guessed from the data
	IF s ? 'fields' THEN
		IF pg_catalog.jsonb_typeof(s -> 'fields') <> 'array' OR pg_catalog.jsonb_array_length(s -> 'fields') = 0 THEN
			PERFORM @extschema@._match_fail('$.fields', 'The fields must be a non-empty array of attr names.');
		END IF;
		FOR i IN 0 .. pg_catalog.jsonb_array_length(s -> 'fields') - 1 LOOP
			IF pg_catalog.jsonb_typeof(s -> 'fields' -> i) <> 'string' OR (s -> 'fields' ->> i) = '' THEN
				PERFORM @extschema@._match_fail(pg_catalog.format('$.fields[%s]', i), 'A field must be a non-empty string.');
			END IF;
			attr := @extschema@._match_attr_column(s -> 'fields' ->> i);
			cmpname := COALESCE(@extschema@._match_clinic_comparator(attr), @extschema@._match_guess_comparator(attr));
			comps := comps || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
				'attr', attr, 'comparator', cmpname, 'tf', cmpname IN ('name', 'string')));
		END LOOP;
	ELSE
		comps := s -> 'comparisons';
		IF pg_catalog.jsonb_typeof(comps) <> 'array' OR pg_catalog.jsonb_array_length(comps) = 0 THEN
			PERFORM @extschema@._match_fail('$.comparisons', 'The comparisons must be a non-empty array.');
		END IF;
	END IF;
	IF pg_catalog.jsonb_array_length(comps) > 24 THEN
		PERFORM @extschema@._match_fail('$.comparisons', 'At most 24 comparisons are supported.');
	END IF;

	out := '[]';
	FOR i IN 0 .. pg_catalog.jsonb_array_length(comps) - 1 LOOP
		comp := comps -> i;
		IF pg_catalog.jsonb_typeof(comp) <> 'object' THEN
			PERFORM @extschema@._match_fail(pg_catalog.format('$.comparisons[%s]', i), 'A comparison must be an object with "attr" and "comparator".');
		END IF;
		FOR k IN SELECT pg_catalog.jsonb_object_keys(comp) LOOP
			IF k NOT IN ('attr', 'comparator', 'levels', 'tf', 'label') THEN
				PERFORM @extschema@._match_fail(pg_catalog.format('$.comparisons[%s].%s', i, k), pg_catalog.format('The key "%s" is not a comparison key.', k),
					'Known keys: attr, comparator, levels, tf, label.');
			END IF;
		END LOOP;
		IF pg_catalog.jsonb_typeof(comp -> 'attr') IS DISTINCT FROM 'string' OR (comp ->> 'attr') !~ '^[A-Za-z_][A-Za-z0-9_]{0,62}$' THEN
			PERFORM @extschema@._match_fail(pg_catalog.format('$.comparisons[%s].attr', i), 'The attr must be a name of letters, digits and underscores.');
		END IF;
		attr := @extschema@._match_attr_column(comp ->> 'attr');
		IF attr = ANY (attrs) THEN
			PERFORM @extschema@._match_fail(pg_catalog.format('$.comparisons[%s].attr', i), pg_catalog.format('The attr "%s" is compared twice.', attr));
		END IF;
		attrs := attrs || attr;
		cmpname := COALESCE(comp ->> 'comparator', @extschema@._match_clinic_comparator(attr));
		IF cmpname IS NULL OR cmpname NOT IN ('name', 'string', 'date', 'phone', 'email', 'id', 'exact') THEN
			PERFORM @extschema@._match_fail(pg_catalog.format('$.comparisons[%s].comparator', i),
				pg_catalog.format('The comparator "%s" is unknown.', COALESCE(cmpname, 'null')),
				'Use one of name, string, date, phone, email, id, exact.');
		END IF;
		IF comp ? 'tf' AND pg_catalog.jsonb_typeof(comp -> 'tf') <> 'boolean' THEN
			PERFORM @extschema@._match_fail(pg_catalog.format('$.comparisons[%s].tf', i), 'The tf flag must be true or false.');
		END IF;
		lvs := COALESCE(comp -> 'levels', @extschema@._match_default_levels(cmpname));
		IF pg_catalog.jsonb_typeof(lvs) <> 'array' OR pg_catalog.jsonb_array_length(lvs) NOT BETWEEN 1 AND 8 THEN
			PERFORM @extschema@._match_fail(pg_catalog.format('$.comparisons[%s].levels', i), 'The levels must be an array of 1 to 8 levels ("else" is implicit).');
		END IF;
		FOR j IN 0 .. pg_catalog.jsonb_array_length(lvs) - 1 LOOP
			lv := lvs -> j;
			IF pg_catalog.jsonb_typeof(lv) = 'string' THEN
				lv := pg_catalog.jsonb_build_object('if', lv #>> '{}');
				lvs := pg_catalog.jsonb_set(lvs, ARRAY[j::text], lv);
			END IF;
			IF pg_catalog.jsonb_typeof(lv) <> 'object' OR @extschema@._match_op_code(lv ->> 'if', cmpname) IS NULL THEN
				PERFORM @extschema@._match_fail(pg_catalog.format('$.comparisons[%s].levels[%s]', i, j),
					pg_catalog.format('The level "%s" is unknown or not allowed for comparator "%s".', COALESCE(lv ->> 'if', lv::text), cmpname),
					'Levels: exact, key (name), swapped or cross with "with" (name), jw with "ge", osa with "le", day_month_swapped, same_year (date), last7 (phone), initial, prefix with "n".');
			END IF;
			IF (lv ->> 'if') = 'jw' AND NOT (pg_catalog.jsonb_typeof(lv -> 'ge') = 'number' AND (lv ->> 'ge')::float8 > 0 AND (lv ->> 'ge')::float8 <= 1) THEN
				PERFORM @extschema@._match_fail(pg_catalog.format('$.comparisons[%s].levels[%s].ge', i, j), 'A jw level needs "ge", a number in (0, 1].');
			END IF;
			IF (lv ->> 'if') = 'osa' AND NOT (pg_catalog.jsonb_typeof(lv -> 'le') = 'number' AND (lv ->> 'le')::float8 BETWEEN 0 AND 5) THEN
				PERFORM @extschema@._match_fail(pg_catalog.format('$.comparisons[%s].levels[%s].le', i, j), 'An osa level needs "le", an edit distance from 0 to 5.');
			END IF;
			IF (lv ->> 'if') IN ('swapped', 'cross') AND NOT (pg_catalog.jsonb_typeof(lv -> 'with') = 'string'
			   AND EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(comps) x
			                WHERE @extschema@._match_attr_column(x ->> 'attr') = @extschema@._match_attr_column(lv ->> 'with')
			                  AND COALESCE(x ->> 'comparator', @extschema@._match_clinic_comparator(x ->> 'attr')) = 'name'
			                  AND @extschema@._match_attr_column(x ->> 'attr') <> attr)) THEN
				PERFORM @extschema@._match_fail(pg_catalog.format('$.comparisons[%s].levels[%s].with', i, j),
					pg_catalog.format('A %s level needs "with", another compared attr of comparator "name".', lv ->> 'if'));
			END IF;
			IF (lv ->> 'if') = 'prefix' AND NOT (pg_catalog.jsonb_typeof(lv -> 'n') = 'number' AND (lv ->> 'n')::float8 BETWEEN 1 AND 32) THEN
				PERFORM @extschema@._match_fail(pg_catalog.format('$.comparisons[%s].levels[%s].n', i, j), 'A prefix level needs "n", a length from 1 to 32.');
			END IF;
		END LOOP;
		out := out || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
			'attr', attr, 'comparator', cmpname, 'levels', lvs,
			'tf', COALESCE((comp ->> 'tf')::boolean, false))
			|| CASE WHEN comp ? 'label' THEN pg_catalog.jsonb_build_object('label', comp -> 'label') ELSE '{}' END);
	END LOOP;
	comps := out;

	-- blocking: given, or for fields-only documents pairs of the first five fields plus every date/id field
	IF s ? 'blocking' THEN
		rules := s -> 'blocking';
	ELSIF s ? 'fields' THEN
		-- names block on their name key, so spelling variants and transliterations share a block
		nf := LEAST(pg_catalog.jsonb_array_length(comps), 5);
		FOR i IN 0 .. nf - 1 LOOP
			FOR j IN i + 1 .. nf - 1 LOOP
				rules := rules || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_array(
					(comps -> i ->> 'attr') || CASE WHEN comps -> i ->> 'comparator' = 'name' THEN '.key' ELSE '' END,
					(comps -> j ->> 'attr') || CASE WHEN comps -> j ->> 'comparator' = 'name' THEN '.key' ELSE '' END));
			END LOOP;
		END LOOP;
		FOR i IN 0 .. pg_catalog.jsonb_array_length(comps) - 1 LOOP
			IF comps -> i ->> 'comparator' IN ('date', 'id', 'phone', 'email') AND pg_catalog.jsonb_array_length(rules) < 16 THEN
				rules := rules || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_array(comps -> i ->> 'attr'));
			END IF;
		END LOOP;
		IF pg_catalog.jsonb_array_length(rules) = 0 THEN
			rules := pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_array(comps -> 0 ->> 'attr'));
		END IF;
		rules := (SELECT pg_catalog.jsonb_agg(r) FROM (SELECT r FROM pg_catalog.jsonb_array_elements(rules) WITH ORDINALITY e(r, o) ORDER BY o LIMIT 16) x);
	ELSE
		PERFORM @extschema@._match_fail('$.blocking', 'A settings document with "comparisons" needs "blocking" rules.',
			'Example: "blocking": [["family_name.key", "birth_date.year"], ["phones"]].');
	END IF;
	IF pg_catalog.jsonb_typeof(rules) <> 'array' OR pg_catalog.jsonb_array_length(rules) NOT BETWEEN 1 AND 16 THEN
		PERFORM @extschema@._match_fail('$.blocking', 'The blocking rules must be an array of 1 to 16 rules.');
	END IF;
	SELECT pg_catalog.array_agg(c ->> 'attr') INTO cols FROM pg_catalog.jsonb_array_elements(comps) c;
	FOR i IN 0 .. pg_catalog.jsonb_array_length(rules) - 1 LOOP
		rule := rules -> i;
		nf := CASE WHEN pg_catalog.jsonb_typeof(rule) = 'array' AND (rule ->> 0) = 'any_order' THEN 1 ELSE 0 END;
		IF pg_catalog.jsonb_typeof(rule) <> 'array' OR pg_catalog.jsonb_array_length(rule) - nf NOT BETWEEN 1 + nf AND 4 THEN
			PERFORM @extschema@._match_fail(pg_catalog.format('$.blocking[%s]', i), 'A blocking rule must be an array of 1 to 4 keys.');
		END IF;
		FOR j IN nf .. pg_catalog.jsonb_array_length(rule) - 1 LOOP
			item := rule ->> j;
			IF item IS NULL OR pg_catalog.split_part(item, '.', 2) NOT IN ('', 'key', 'year', 'month_day', 'initial', 'last7', 'prefix3', 'phonetic')
			   OR NOT (@extschema@._match_attr_column(pg_catalog.split_part(item, '.', 1)) = ANY (cols)) THEN
				PERFORM @extschema@._match_fail(pg_catalog.format('$.blocking[%s][%s]', i, j),
					pg_catalog.format('The blocking key "%s" does not name a compared attr with a known transform.', COALESCE(item, 'null')),
					'A key is "attr" or "attr.key", "attr.phonetic", "attr.year", "attr.month_day", "attr.initial", "attr.last7", "attr.prefix3", where attr is compared.');
			END IF;
			IF pg_catalog.split_part(item, '.', 2) IN ('key', 'phonetic')
			   AND (SELECT c ->> 'comparator' FROM pg_catalog.jsonb_array_elements(comps) c WHERE c ->> 'attr' = @extschema@._match_attr_column(pg_catalog.split_part(item, '.', 1))) <> 'name' THEN
				PERFORM @extschema@._match_fail(pg_catalog.format('$.blocking[%s][%s]', i, j), 'The ".key" and ".phonetic" transforms need an attr with the "name" comparator.');
			END IF;
		END LOOP;
	END LOOP;

	link := COALESCE((s ->> 'link_threshold')::float8, (d ->> 'link_threshold')::float8);
	review := COALESCE((s ->> 'review_threshold')::float8, (d ->> 'review_threshold')::float8);
	IF s ? 'link_threshold' AND pg_catalog.jsonb_typeof(s -> 'link_threshold') <> 'number' OR NOT (link > 0 AND link < 1) THEN
		PERFORM @extschema@._match_fail('$.link_threshold', 'The link threshold must be a probability strictly between 0 and 1.');
	END IF;
	IF s ? 'review_threshold' AND pg_catalog.jsonb_typeof(s -> 'review_threshold') <> 'number' OR NOT (review > 0 AND review < 1) THEN
		PERFORM @extschema@._match_fail('$.review_threshold', 'The review threshold must be a probability strictly between 0 and 1.');
	END IF;
	IF review > link THEN
		PERFORM @extschema@._match_fail('$.review_threshold', pg_catalog.format('The review threshold %s is above the link threshold %s.', review, link));
	END IF;

	-- deterministic rules name compared attrs of comparator id
	IF s ? 'rules' THEN
		IF pg_catalog.jsonb_typeof(s -> 'rules') <> 'object' THEN
			PERFORM @extschema@._match_fail('$.rules', 'The rules must be an object with "same_id_match" and "different_id_never" lists.');
		END IF;
		FOR k IN SELECT pg_catalog.jsonb_object_keys(s -> 'rules') LOOP
			IF k NOT IN ('same_id_match', 'different_id_never', 'disagree_never') OR pg_catalog.jsonb_typeof(s -> 'rules' -> k) <> 'array' THEN
				PERFORM @extschema@._match_fail('$.rules.' || k, 'Rules are "same_id_match", "different_id_never" and "disagree_never", each a list of compared attrs.');
			END IF;
			FOR j IN 0 .. pg_catalog.jsonb_array_length(s -> 'rules' -> k) - 1 LOOP
				IF NOT (@extschema@._match_attr_column(s -> 'rules' -> k ->> j) = ANY (cols)) THEN
					PERFORM @extschema@._match_fail(pg_catalog.format('$.rules.%s[%s]', k, j),
						pg_catalog.format('The attr "%s" is not compared.', s -> 'rules' -> k ->> j));
				END IF;
			END LOOP;
		END LOOP;
	END IF;
	FOREACH k IN ARRAY ARRAY['suspicious_min_persons', 'max_block_size'] LOOP
		IF s ? k AND NOT (pg_catalog.jsonb_typeof(s -> k) = 'number' AND (s ->> k)::float8 >= 2 AND (s ->> k)::float8 <= 1000000) THEN
			PERFORM @extschema@._match_fail('$.' || k, pg_catalog.format('The %s must be a number from 2 to 1000000.', k));
		END IF;
	END LOOP;
	IF s ? 'lambda' AND NOT (pg_catalog.jsonb_typeof(s -> 'lambda') = 'number' AND (s ->> 'lambda')::float8 > 0 AND (s ->> 'lambda')::float8 < 1) THEN
		PERFORM @extschema@._match_fail('$.lambda', 'The lambda (prior match probability of a random pair) must be strictly between 0 and 1.');
	END IF;
	IF s ? 'name_roles' AND pg_catalog.jsonb_typeof(s -> 'name_roles') <> 'boolean' THEN
		PERFORM @extschema@._match_fail('$.name_roles', 'The name_roles flag must be true or false.');
	END IF;
	IF s ? 'placeholder_names' AND pg_catalog.jsonb_typeof(s -> 'placeholder_names') <> 'array' THEN
		PERFORM @extschema@._match_fail('$.placeholder_names', 'The placeholder names must be an array of strings.');
	END IF;

	RETURN pg_catalog.jsonb_build_object(
		'comparisons', comps,
		'blocking', rules,
		'link_threshold', link,
		'review_threshold', review,
		'rules', CASE WHEN s ? 'rules' THEN s -> 'rules'
		              WHEN s ? 'comparisons' THEN '{}'::jsonb
		              ELSE (SELECT pg_catalog.jsonb_build_object(
		                       'same_id_match', COALESCE(pg_catalog.jsonb_agg(a) FILTER (WHERE a IN ('snils', 'oms')), '[]'),
		                       'different_id_never', COALESCE(pg_catalog.jsonb_agg(a) FILTER (WHERE a = 'snils'), '[]'),
		                       'disagree_never', '[]'::jsonb)
		                     FROM pg_catalog.unnest(cols) a) END,
		'placeholder_names', COALESCE(s -> 'placeholder_names', d -> 'placeholder_names'),
		'suspicious_min_persons', COALESCE(s -> 'suspicious_min_persons', d -> 'suspicious_min_persons'),
		'max_block_size', COALESCE(s -> 'max_block_size', d -> 'max_block_size'),
		'lambda', COALESCE(s -> 'lambda', '0.0001'::jsonb),
		'name_roles', COALESCE(s -> 'name_roles', d -> 'name_roles', 'false'::jsonb));
END $$;
COMMENT ON FUNCTION @extschema@._match_expand(jsonb) IS 'internal: validates a matching settings document (22023 naming the JSON path) and returns it complete';

CREATE FUNCTION @extschema@.configure_matching(settings jsonb) RETURNS int
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	full_doc jsonb := @extschema@._match_expand(settings);
	v int;
BEGIN
	UPDATE @extschema@.match_settings SET active = false WHERE active;
	INSERT INTO @extschema@.match_settings (settings, program, active)
		VALUES (full_doc, @extschema@._match_program(full_doc, NULL), true) RETURNING version INTO v;
	RETURN v;
END $$;
COMMENT ON FUNCTION @extschema@.configure_matching(jsonb) IS
	'validates a matching settings document, stores it as a new active version and returns the version; e.g. configure_matching(''{"fields":["surname","given_name","date_of_birth"]}'')';
REVOKE ALL ON FUNCTION @extschema@.configure_matching(jsonb) FROM PUBLIC;

CREATE FUNCTION @extschema@.matching_settings() RETURNS jsonb
	LANGUAGE sql STABLE PARALLEL SAFE
	RETURN (SELECT s.settings || pg_catalog.jsonb_build_object('version', s.version, 'trained', s.params IS NOT NULL)
	          FROM @extschema@.match_settings s WHERE s.active);
COMMENT ON FUNCTION @extschema@.matching_settings() IS 'the matching settings document in force, with its version and whether it is trained';

/* ---------------------------------------------------------------- features */

-- _match_name_roles: the family, given and patronymic name of a record by what the words are, not
-- by the field they came in (a whole name typed «Имя Фамилия» or «Имя Отчество Фамилия» into a form
-- puts a given name in the family field).  The rules are cdp.name_roles (src/text_roles.c, layer 2),
-- which ingest also applies when it splits a full name; see doc/ingest.md.
CREATE FUNCTION @extschema@._match_name_roles(family text, given text, patronymic text) RETURNS text[]
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	RETURN @extschema@.name_roles(family, given, patronymic);
COMMENT ON FUNCTION @extschema@._match_name_roles(text, text, text) IS
	'internal: family, given and patronymic name by what the words are (cdp.name_roles), as an array of three';

-- _match_value_sql: SQL expression of the raw value(s) of attr for record alias r, multi-values
-- joined with U+001F.
CREATE FUNCTION @extschema@._match_value_sql(attr text, comparator text) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN CASE
		WHEN attr IN ('family_name', 'given_name', 'patronymic', 'address', 'city') THEN
			CASE comparator WHEN 'date' THEN pg_catalog.format('@extschema@._match_date(r.%I)', attr)
			                WHEN 'id' THEN pg_catalog.format('pg_catalog.upper(pg_catalog.regexp_replace(r.%I, ''[\s-]'', '''', ''g''))', attr)
			                ELSE pg_catalog.format('@extschema@._match_norm(r.%I)', attr) END
		WHEN attr = 'sex' THEN 'pg_catalog.upper(pg_catalog.left(r.sex, 1))'
		WHEN attr = 'birth_date' THEN 'pg_catalog.to_char(r.birth_date, ''YYYYMMDD'')'
		WHEN attr IN ('phones', 'emails') THEN pg_catalog.format(
			'NULLIF(pg_catalog.array_to_string(ARRAY(SELECT x FROM (SELECT %s AS x FROM pg_catalog.unnest(r.%I) WITH ORDINALITY u(v, o) ORDER BY o) y'
			' WHERE x <> '''' AND NOT EXISTS (SELECT 1 FROM @extschema@.match_suspicious s WHERE s.attr = %L AND s.value = y.x)), E''\x1f''), '''')',
			CASE attr WHEN 'phones' THEN 'pg_catalog.regexp_replace(v::text, ''\D'', '''', ''g'')' ELSE 'pg_catalog.lower(pg_catalog.btrim(v::text))' END,
			attr, attr)
		WHEN attr IN ('snils', 'oms') THEN pg_catalog.format('NULLIF(pg_catalog.regexp_replace(r.%I::text, ''\D'', '''', ''g''), '''')', attr)
		ELSE (SELECT CASE comparator
			WHEN 'date' THEN pg_catalog.format('@extschema@._match_date(%s)', e)
			WHEN 'phone' THEN pg_catalog.format('NULLIF(pg_catalog.regexp_replace(%s, ''\D'', '''', ''g''), '''')', e)
			WHEN 'email' THEN pg_catalog.format('NULLIF(pg_catalog.lower(pg_catalog.btrim(%s)), '''')', e)
			WHEN 'id' THEN pg_catalog.format('NULLIF(pg_catalog.upper(pg_catalog.regexp_replace(%s, ''[\s-]'', '''', ''g'')), '''')', e)
			WHEN 'exact' THEN pg_catalog.format('NULLIF(pg_catalog.btrim(%s), '''')', e)
			ELSE pg_catalog.format('@extschema@._match_norm(%s)', e) END
			FROM (SELECT pg_catalog.format('COALESCE(r.extra ->> %L, r.handles ->> %L)', attr, attr) AS e) x)
		END;
COMMENT ON FUNCTION @extschema@._match_value_sql(text, text) IS 'internal: SQL expression reading and normalising an attr of cdp.record r';

-- _match_layout: the feature columns of a settings document: one per comparison, two for "name"
-- (value, key); returns per comparison its 1-based feature position.
CREATE FUNCTION @extschema@._match_layout(s jsonb, OUT comp int, OUT attr text, OUT comparator text, OUT fpos int)
	RETURNS SETOF record LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
	SELECT (o - 1)::int, c ->> 'attr', c ->> 'comparator',
	       (1 + COALESCE(pg_catalog.sum(CASE WHEN c ->> 'comparator' = 'name' THEN 2 ELSE 1 END)
	              OVER (ORDER BY o ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0))::int
	  FROM pg_catalog.jsonb_array_elements(s -> 'comparisons') WITH ORDINALITY e(c, o)
	 ORDER BY o
$$;
COMMENT ON FUNCTION @extschema@._match_layout(jsonb) IS 'internal: feature column position of each comparison';

-- _match_features: one record's features in one C call (src/match_features.c), the values the SQL
-- expressions below compute; _match_feature_program compiles a settings document for it.
CREATE FUNCTION @extschema@._match_features(kinds int[], rules text[], ph_pos int[], ph_names text[],
		raw text[], phones text[], emails text[], susp_phones text[], susp_emails text[],
		OUT flags int, OUT feat text[], OUT bk text[])
	AS 'MODULE_PATHNAME', 'cdp__match_features'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@._match_features(int[], text[], int[], text[], text[], text[], text[], text[], text[]) IS
	'internal: the match_key features, blocking keys and placeholder flag of one record (C); see _match_feature_program';

-- _match_feature_program: the program of _match_features for settings s: per comparison a kind
-- (src/match_features.c FEAT_*) and the SQL expression of its raw value over record alias r; per
-- blocking rule "A" (any_order) or "N" then ";<0-based feature column>:<transform>" per item; the
-- placeholder name columns and names.  NULL when s uses what only the SQL form computes (a date
-- comparator on a text attr, a "name" comparator outside the name attrs, a phonetic key) or the
-- database is not UTF-8.
CREATE FUNCTION @extschema@._match_feature_program(s jsonb, OUT kinds int[], OUT raws text[], OUT rules text[],
		OUT ph_pos int[], OUT ph_names text[])
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE AS $$
DECLARE
	l record;
	k int;
	e text;
	i int;
	j int;
	item text;
	battr text;
	tr text;
	pos_f int;
	rule text;
BEGIN
	kinds := '{}';
	raws := '{}';
	rules := '{}';
	IF pg_catalog.getdatabaseencoding() <> 'UTF8' THEN
		kinds := NULL;
		RETURN;
	END IF;
	FOR l IN SELECT * FROM @extschema@._match_layout(s) LOOP
		e := NULL;
		IF l.attr IN ('family_name', 'given_name', 'patronymic', 'address', 'city') THEN
			e := pg_catalog.format('r.%I', l.attr);
			k := CASE l.comparator WHEN 'date' THEN NULL WHEN 'id' THEN 7 WHEN 'name' THEN 1 ELSE 2 END;
		ELSIF l.comparator = 'name' AND l.attr IN ('sex', 'birth_date', 'phones', 'emails', 'snils', 'oms') THEN
			k := NULL;
		ELSIF l.attr = 'sex' THEN
			e := 'pg_catalog.upper(pg_catalog.left(r.sex, 1))';
			k := 3;
		ELSIF l.attr = 'birth_date' THEN
			e := 'pg_catalog.to_char(r.birth_date, ''YYYYMMDD'')';
			k := 3;
		ELSIF l.attr IN ('phones', 'emails') THEN
			e := 'NULL';
			k := CASE l.attr WHEN 'phones' THEN 4 ELSE 5 END;
		ELSIF l.attr IN ('snils', 'oms') THEN
			e := pg_catalog.format('r.%I::text', l.attr);
			k := 6;
		ELSE
			e := pg_catalog.format('COALESCE(r.extra ->> %L, r.handles ->> %L)', l.attr, l.attr);
			k := CASE l.comparator WHEN 'date' THEN NULL WHEN 'phone' THEN 10 WHEN 'email' THEN 11
			                       WHEN 'id' THEN 8 WHEN 'exact' THEN 9 WHEN 'name' THEN 1 ELSE 2 END;
		END IF;
		IF k IS NULL THEN
			kinds := NULL;
			RETURN;
		END IF;
		kinds := kinds || k;
		raws := raws || e;
	END LOOP;
	FOR i IN 0 .. pg_catalog.jsonb_array_length(s -> 'blocking') - 1 LOOP
		rule := CASE WHEN s -> 'blocking' -> i ->> 0 = 'any_order' THEN 'A' ELSE 'N' END;
		FOR j IN CASE WHEN rule = 'A' THEN 1 ELSE 0 END .. pg_catalog.jsonb_array_length(s -> 'blocking' -> i) - 1 LOOP
			item := s -> 'blocking' -> i ->> j;
			battr := @extschema@._match_attr_column(pg_catalog.split_part(item, '.', 1));
			tr := pg_catalog.split_part(item, '.', 2);
			SELECT CASE WHEN tr = 'key' THEN y.fpos + 1 ELSE y.fpos END INTO pos_f
			  FROM @extschema@._match_layout(s) y WHERE y.attr = battr;
			IF pos_f IS NULL OR tr NOT IN ('', 'key', 'year', 'month_day', 'initial', 'last7', 'prefix3') THEN
				kinds := NULL;
				RETURN;
			END IF;
			rule := rule || ';' || (pos_f - 1) || ':'
			        || CASE tr WHEN 'year' THEN 1 WHEN 'month_day' THEN 2 WHEN 'initial' THEN 3
			                   WHEN 'last7' THEN 4 WHEN 'prefix3' THEN 5 ELSE 0 END;
		END LOOP;
		rules := rules || rule;
	END LOOP;
	SELECT ARRAY[(SELECT y.fpos - 1 FROM @extschema@._match_layout(s) y WHERE y.attr = 'family_name' AND y.comparator = 'name'),
	             (SELECT y.fpos - 1 FROM @extschema@._match_layout(s) y WHERE y.attr = 'given_name' AND y.comparator = 'name'),
	             (SELECT y.fpos - 1 FROM @extschema@._match_layout(s) y WHERE y.attr = 'patronymic' AND y.comparator = 'name')]
	  INTO ph_pos;
	SELECT pg_catalog.array_agg(@extschema@._match_norm(n)) INTO ph_names
	  FROM pg_catalog.jsonb_array_elements_text(s -> 'placeholder_names') n;
END $$;
COMMENT ON FUNCTION @extschema@._match_feature_program(jsonb) IS
	'internal: compiles settings for the C feature builder (_match_features), NULL kinds when only the SQL form applies';

-- _match_feature_query: a query over from_sql (which must define alias r with cdp.record's
-- columns) returning (record_id, golden_id, flags, feat, bk) under settings s.  Each feature is
-- computed once in an inner query; blocking keys and flags are read from the features.
CREATE FUNCTION @extschema@._match_feature_query(s jsonb, from_sql text, use_sql boolean DEFAULT false) RETURNS text
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE AS $$
DECLARE
	feat text[] := '{}';
	bk text[] := '{}';
	l record;
	v text;
	i int;
	j int;
	item text;
	battr text;
	tr text;
	parts text[];
	e text;
	names text;
	pos_f int;
	pos_g int;
	pos_p int;
	flags text := '0';
	fp record;
	c_form boolean := false;
	cols text;
BEGIN
	-- one C call per record when the settings compile for it (the SQL form below is the reference)
	IF NOT use_sql THEN
		fp := @extschema@._match_feature_program(s);
		c_form := fp.kinds IS NOT NULL;
	END IF;
	IF c_form THEN
		cols := pg_catalog.array_to_string(fp.raws, ', ');
	ELSE
		FOR l IN SELECT * FROM @extschema@._match_layout(s) LOOP
			v := @extschema@._match_value_sql(l.attr, l.comparator);
			feat := feat || v;
			IF l.comparator = 'name' THEN
				-- the key of the raw value: name_base_key normalises by itself
				feat := feat || pg_catalog.replace(v, '@extschema@._match_norm(', '@extschema@._match_name_key(');
			END IF;
		END LOOP;
		FOR i IN 0 .. pg_catalog.jsonb_array_length(s -> 'blocking') - 1 LOOP
			parts := '{}';
			pos_g := CASE WHEN s -> 'blocking' -> i ->> 0 = 'any_order' THEN 1 ELSE 0 END;
			FOR j IN pos_g .. pg_catalog.jsonb_array_length(s -> 'blocking' -> i) - 1 LOOP
				item := s -> 'blocking' -> i ->> j;
				battr := @extschema@._match_attr_column(pg_catalog.split_part(item, '.', 1));
				tr := pg_catalog.split_part(item, '.', 2);
				SELECT CASE WHEN tr = 'key' THEN y.fpos + 1 ELSE y.fpos END INTO pos_f
				  FROM @extschema@._match_layout(s) y WHERE y.attr = battr;
				e := pg_catalog.format('pg_catalog.split_part(q.feat[%s], E''\x1f'', 1)', pos_f);
				e := CASE tr
					WHEN 'year' THEN pg_catalog.format('pg_catalog.left(%s, 4)', e)
					WHEN 'month_day' THEN pg_catalog.format('pg_catalog.substr(%s, 5, 4)', e)
					WHEN 'initial' THEN pg_catalog.format('pg_catalog.left(%s, 1)', e)
					WHEN 'last7' THEN pg_catalog.format('pg_catalog.right(%s, 7)', e)
					WHEN 'prefix3' THEN pg_catalog.format('pg_catalog.left(%s, 3)', e)
					WHEN 'phonetic' THEN pg_catalog.format('@extschema@.phonetic_ru(%s)', e)
					ELSE e END;
				parts := parts || pg_catalog.format('NULLIF(%s, '''')', e);
			END LOOP;
			-- NULL when any part is missing: a rule never blocks on nothing; an "any_order" rule sorts its
			-- parts, so Иванов Пётр and Пётр Иванов (given and family name exchanged) share its key
			IF s -> 'blocking' -> i ->> 0 = 'any_order' THEN
				bk := bk || pg_catalog.format('(%L || (SELECT pg_catalog.string_agg(x, ''|'' ORDER BY x COLLATE "C") FROM pg_catalog.unnest(ARRAY[%s]) x HAVING pg_catalog.count(x) = %s))',
					'r' || i || ':', pg_catalog.array_to_string(parts, ', '), pg_catalog.cardinality(parts));
			ELSE
				bk := bk || pg_catalog.format('(%L || %s)', 'r' || i || ':', pg_catalog.array_to_string(parts, ' || ''|'' || '));
			END IF;
		END LOOP;
		-- placeholder records: no name at all, or a name from placeholder_names
		SELECT y.fpos INTO pos_f FROM @extschema@._match_layout(s) y WHERE y.attr = 'family_name' AND y.comparator = 'name';
		SELECT y.fpos INTO pos_g FROM @extschema@._match_layout(s) y WHERE y.attr = 'given_name' AND y.comparator = 'name';
		SELECT y.fpos INTO pos_p FROM @extschema@._match_layout(s) y WHERE y.attr = 'patronymic' AND y.comparator = 'name';
		IF pos_f IS NOT NULL OR pos_g IS NOT NULL THEN
			SELECT pg_catalog.string_agg(pg_catalog.quote_literal(@extschema@._match_norm(n)), ', ') INTO names
			  FROM pg_catalog.jsonb_array_elements_text(s -> 'placeholder_names') n;
			names := pg_catalog.format('ARRAY[%s]::text[]', COALESCE(names, '''-'''));
			flags := pg_catalog.format('CASE WHEN %s IS NULL AND %s IS NULL THEN 1 WHEN %s OR %s OR %s THEN 1 ELSE 0 END',
				COALESCE('q.feat[' || pos_f || ']', 'NULL'), COALESCE('q.feat[' || pos_g || ']', 'NULL'),
				COALESCE('q.feat[' || pos_f || '] = ANY (' || names || ')', 'false'),
				COALESCE('q.feat[' || pos_g || '] = ANY (' || names || ')', 'false'),
				COALESCE('q.feat[' || pos_p || '] = ANY (' || names || ')', 'false'));
		END IF;
		cols := pg_catalog.array_to_string(feat, ', ');
	END IF;
	-- name_roles: names read by what the words are (_match_name_roles), computed once per record,
	-- in either form
	IF COALESCE((s ->> 'name_roles')::boolean, false) THEN
		cols := pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(cols,
			'r.family_name', 'nr.n[1]'), 'r.given_name', 'nr.n[2]'), 'r.patronymic', 'nr.n[3]');
		from_sql := pg_catalog.format('(SELECT r.* FROM %s) r CROSS JOIN LATERAL (SELECT @extschema@._match_name_roles(r.family_name, r.given_name, r.patronymic) AS n OFFSET 0) nr', from_sql);
	END IF;
	IF c_form THEN
		RETURN pg_catalog.format('SELECT q.record_id, q.golden_id, (q.f).flags, (q.f).feat, (q.f).bk'
			' FROM (SELECT r.record_id, r.golden_id, @extschema@._match_features(%L::int[], %L::text[], %L::int[], %L::text[],'
			' ARRAY[%s]::text[], r.phones::text[], r.emails::text[], (SELECT pg_catalog.array_agg(x.value) FROM @extschema@.match_suspicious x WHERE x.attr = ''phones''),'
			' (SELECT pg_catalog.array_agg(x.value) FROM @extschema@.match_suspicious x WHERE x.attr = ''emails'')) AS f'
			' FROM %s OFFSET 0) q',
			fp.kinds, fp.rules, fp.ph_pos, fp.ph_names, cols, from_sql);
	END IF;
	RETURN pg_catalog.format('SELECT q.record_id, q.golden_id, (%s)::int AS flags, q.feat, ARRAY[%s]::text[] AS bk'
		' FROM (SELECT r.record_id, r.golden_id, ARRAY[%s]::text[] AS feat FROM %s OFFSET 0) q',
		flags, pg_catalog.array_to_string(bk, ', '), cols, from_sql);
END $$;
COMMENT ON FUNCTION @extschema@._match_feature_query(jsonb, text, boolean) IS
	'internal: query computing record_id, golden_id, flags, features and blocking keys of the records of from_sql (alias r)';

CREATE FUNCTION @extschema@._match_active(OUT version int, OUT settings jsonb, OUT params jsonb, OUT program float8[])
	LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
	SELECT s.version, s.settings, s.params, s.program INTO version, settings, params, program
	  FROM @extschema@.match_settings s WHERE s.active;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no matching settings are active' USING ERRCODE = '55000',
			HINT = 'Call cdp.configure_matching(settings) first.';
	END IF;
END $$;
COMMENT ON FUNCTION @extschema@._match_active() IS 'internal: the active settings version, document, trained parameters and compiled program';

-- _match_refresh_keys: (re)computes match_key for the given records (NULL: every record).
CREATE FUNCTION @extschema@._match_refresh_keys(ids bigint[]) RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
	a record := @extschema@._match_active();
	n bigint;
BEGIN
	IF ids IS NULL THEN
		-- every record: the block index is built after the load (one sorted build, not a row at a time)
		TRUNCATE @extschema@.match_key, @extschema@.match_block;
		DROP INDEX IF EXISTS @extschema@.match_block_bk;
		DROP INDEX IF EXISTS @extschema@.match_block_record;
		EXECUTE pg_catalog.format('INSERT INTO @extschema@.match_key (record_id, version, flags, feat, bk) SELECT f.record_id, %s, f.flags, f.feat, f.bk FROM (%s) f',
			a.version, @extschema@._match_feature_query(a.settings, '@extschema@.record r'));
		GET DIAGNOSTICS n = ROW_COUNT;
		INSERT INTO @extschema@.match_block (bk, record_id)
		SELECT b, k.record_id FROM @extschema@.match_key k, pg_catalog.unnest(k.bk) b WHERE b IS NOT NULL;
		CREATE INDEX match_block_bk ON @extschema@.match_block (bk);
		CREATE INDEX match_block_record ON @extschema@.match_block (record_id);
	ELSE
		-- Two sessions may re-key one record at once (match_record at two desks, or beside a run):
		-- the key row is upserted, so the second waits for the first and then updates its row
		-- (a plain insert failed with a duplicate key); the block rows are replaced after that, by
		-- statements that see the first session's rows.
		DELETE FROM @extschema@.match_key WHERE record_id = ANY (ids);
		EXECUTE pg_catalog.format('INSERT INTO @extschema@.match_key (record_id, version, flags, feat, bk) SELECT f.record_id, %s, f.flags, f.feat, f.bk FROM (%s) f'
			' ON CONFLICT (record_id) DO UPDATE SET version = excluded.version, flags = excluded.flags, feat = excluded.feat, bk = excluded.bk',
			a.version, @extschema@._match_feature_query(a.settings, '@extschema@.record r WHERE r.record_id = ANY ($1)')) USING ids;
		GET DIAGNOSTICS n = ROW_COUNT;
		DELETE FROM @extschema@.match_block WHERE record_id = ANY (ids);
		INSERT INTO @extschema@.match_block (bk, record_id)
		SELECT b, k.record_id FROM @extschema@.match_key k, pg_catalog.unnest(k.bk) b
		 WHERE k.record_id = ANY (ids) AND b IS NOT NULL;
	END IF;
	IF ids IS NULL OR n > 10000 THEN
		-- the lookups go through the indexes of match_block: give the planner fresh statistics
		ANALYZE @extschema@.match_key;
		ANALYZE @extschema@.match_block;
	END IF;
	RETURN n;
END $$;
COMMENT ON FUNCTION @extschema@._match_refresh_keys(bigint[]) IS 'internal: recomputes the features and blocking keys of some records (NULL: all)';

/* ---------------------------------------------------------------- parameters and program */

-- _match_params: trained parameters of the active version, or untrained defaults: per comparison
-- m and u (one per level, "else" last) and lambda.
CREATE FUNCTION @extschema@._match_params(s jsonb, p jsonb) RETURNS jsonb
	LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT COALESCE(p, pg_catalog.jsonb_build_object(
		'lambda', s -> 'lambda',
		'trained', false,
		'm', (SELECT pg_catalog.jsonb_agg(
				(SELECT pg_catalog.jsonb_agg(CASE WHEN l = nl THEN 0.02 ELSE 0.98 * pg_catalog.power(0.25, l) * 0.75 END ORDER BY l)
				   FROM pg_catalog.generate_series(0, nl) l) ORDER BY o)
			  FROM (SELECT o, pg_catalog.jsonb_array_length(c -> 'levels') AS nl
			          FROM pg_catalog.jsonb_array_elements(s -> 'comparisons') WITH ORDINALITY e(c, o)) x),
		'u', (SELECT pg_catalog.jsonb_agg(
				(SELECT pg_catalog.jsonb_agg(CASE WHEN l = nl THEN 0.9 ELSE 0.01 * (l + 1) END ORDER BY l)
				   FROM pg_catalog.generate_series(0, nl) l) ORDER BY o)
			  FROM (SELECT o, pg_catalog.jsonb_array_length(c -> 'levels') AS nl
			          FROM pg_catalog.jsonb_array_elements(s -> 'comparisons') WITH ORDINALITY e(c, o)) x)))
$$;
COMMENT ON FUNCTION @extschema@._match_params(jsonb, jsonb) IS 'internal: trained m, u and lambda, or untrained defaults';

-- _match_program: compiles settings + parameters into the packed float8[] the kernel decodes
-- (layout in src/match_walk.c, DecodeProgram).
CREATE FUNCTION @extschema@._match_program(s jsonb, p jsonb) RETURNS float8[]
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
	prm jsonb := @extschema@._match_params(s, p);
	prog float8[];
	l record;
	c jsonb;
	j int;
	nl int;
	lam float8 := (prm ->> 'lambda')::float8;
	nfeat int;
	ids float8[] := '{}';
	never float8[] := '{}';
	disagree float8[] := '{}';
	other int;
	ops float8[];
	args float8[];
	ws float8[];
	m float8;
	u float8;
BEGIN
	SELECT pg_catalog.sum(CASE WHEN x ->> 'comparator' = 'name' THEN 2 ELSE 1 END) INTO nfeat
	  FROM pg_catalog.jsonb_array_elements(s -> 'comparisons') x;
	SELECT COALESCE(pg_catalog.array_agg(y.comp ORDER BY y.comp), '{}') INTO ids
	  FROM @extschema@._match_layout(s) y WHERE y.attr IN (SELECT @extschema@._match_attr_column(a) FROM pg_catalog.jsonb_array_elements_text(s -> 'rules' -> 'same_id_match') a);
	SELECT COALESCE(pg_catalog.array_agg(y.comp ORDER BY y.comp), '{}') INTO never
	  FROM @extschema@._match_layout(s) y WHERE y.attr IN (SELECT @extschema@._match_attr_column(a) FROM pg_catalog.jsonb_array_elements_text(s -> 'rules' -> 'different_id_never') a);
	SELECT COALESCE(pg_catalog.array_agg(y.comp ORDER BY y.comp), '{}') INTO disagree
	  FROM @extschema@._match_layout(s) y WHERE y.attr IN (SELECT @extschema@._match_attr_column(a) FROM pg_catalog.jsonb_array_elements_text(s -> 'rules' -> 'disagree_never') a);
	prog := ARRAY[pg_catalog.jsonb_array_length(s -> 'comparisons'), nfeat, pg_catalog.jsonb_array_length(s -> 'blocking'),
	              pg_catalog.log(2.0, (lam / (1 - lam))::numeric)::float8,
	              pg_catalog.cardinality(ids), pg_catalog.cardinality(never), pg_catalog.cardinality(disagree)];
	FOR l IN SELECT * FROM @extschema@._match_layout(s) LOOP
		c := s -> 'comparisons' -> l.comp;
		nl := pg_catalog.jsonb_array_length(c -> 'levels');
		ops := pg_catalog.array_fill(0::float8, ARRAY[8]);
		args := pg_catalog.array_fill(0::float8, ARRAY[8]);
		ws := pg_catalog.array_fill(0::float8, ARRAY[9]);
		FOR j IN 0 .. nl - 1 LOOP
			ops[j + 1] := @extschema@._match_op_code(c -> 'levels' -> j ->> 'if', l.comparator);
			args[j + 1] := COALESCE(c -> 'levels' -> j ->> 'ge', c -> 'levels' -> j ->> 'le', c -> 'levels' -> j ->> 'n', '0')::float8;
			IF c -> 'levels' -> j ->> 'if' IN ('swapped', 'cross') THEN
				-- the other name's value column (0-based); its key column follows it
				SELECT y.fpos - 1 INTO other FROM @extschema@._match_layout(s) y
				 WHERE y.attr = @extschema@._match_attr_column(c -> 'levels' -> j ->> 'with');
				args[j + 1] := other;
			END IF;
		END LOOP;
		FOR j IN 0 .. nl LOOP
			m := GREATEST((prm -> 'm' -> l.comp ->> j)::float8, 1e-6);
			u := GREATEST((prm -> 'u' -> l.comp ->> j)::float8, 1e-6);
			ws[j + 1] := pg_catalog.log(2.0, (m / u)::numeric)::float8;
		END LOOP;
		prog := prog || ARRAY[l.fpos - 1, nl, CASE WHEN (c ->> 'tf')::boolean THEN 1 ELSE 0 END + CASE WHEN l.comparator = 'name' THEN 2 ELSE 0 END,
		                      GREATEST((prm -> 'u' -> l.comp ->> 0)::float8, 1e-6)]::float8[]
		             || ops || args || ws;
	END LOOP;
	RETURN prog || ids || never || disagree;
END $$;
COMMENT ON FUNCTION @extschema@._match_program(jsonb, jsonb) IS 'internal: compiles settings and parameters into the kernel''s program';

-- _match_query: the kernel's record query over match_key (optionally only records sharing a
-- blocking key with the focus records, through the GIN index on bk).  with_golden false: no join
-- to cdp.record for the golden ids (the walk reports each record as its own person), for a
-- lookup that reads the golden ids of the few pairs it keeps.
CREATE FUNCTION @extschema@._match_query(focus bigint[], with_golden boolean DEFAULT true) RETURNS text
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	RETURN CASE WHEN with_golden IS DISTINCT FROM false
	            THEN 'SELECT k.record_id, r.golden_id, k.flags, k.feat, k.bk FROM @extschema@.match_key k JOIN @extschema@.record r USING (record_id)'
	            ELSE 'SELECT k.record_id, NULL::bigint, k.flags, k.feat, k.bk FROM @extschema@.match_key k' END
		|| CASE WHEN focus IS NULL THEN ''
		        ELSE pg_catalog.format(' WHERE k.record_id IN (SELECT pg_catalog.unnest(%1$L::bigint[]) UNION SELECT m.record_id FROM @extschema@.match_block f'
		                               ' JOIN @extschema@.match_block m ON m.bk = f.bk WHERE f.record_id = ANY (%1$L::bigint[]))', focus) END;
COMMENT ON FUNCTION @extschema@._match_query(bigint[], boolean) IS 'internal: the kernel''s record query, all records or the focus records and their block mates';

-- _match_pairs: scored candidate pairs of the active settings (all, or involving focus records).
CREATE FUNCTION @extschema@._match_pairs(focus bigint[], min_prob float8)
	RETURNS TABLE (record_a bigint, record_b bigint, golden_a bigint, golden_b bigint, rule int,
	               weight float8, probability float8, flags int, levels smallint[])
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
	a record := @extschema@._match_active();
BEGIN
	IF focus IS NULL AND @extschema@._match_nparts() > 1 THEN
		-- every record, many pairs per record: the blocks are scored by parallel workers
		RETURN QUERY SELECT w.record_a, w.record_b, w.golden_a, w.golden_b, w.rule, w.weight, w.probability, w.flags, w.levels
		  FROM @extschema@._match_walk_all('score', @extschema@._match_query(NULL), a.program,
		                                   a.version, min_prob, (a.settings ->> 'max_block_size')::int, 0,
		                                   @extschema@._match_nparts()) w;
		RETURN;
	END IF;
	RETURN QUERY SELECT w.record_a, w.record_b, w.golden_a, w.golden_b, w.rule, w.weight, w.probability, w.flags, w.levels
	  FROM @extschema@._match_walk('score', @extschema@._match_query(focus), a.program,
	                               a.version, min_prob, (a.settings ->> 'max_block_size')::int, 0, focus) w;
END $$;
COMMENT ON FUNCTION @extschema@._match_pairs(bigint[], float8) IS 'internal: scored candidate pairs (probability >= min_prob, or forced by a rule)';

/* ---------------------------------------------------------------- evidence that is no evidence */

CREATE VIEW @extschema@.suspicious_values AS
	SELECT 'phones'::text AS attr, pg_catalog.regexp_replace(p::text, '\D', '', 'g') AS value,
	       pg_catalog.count(DISTINCT pg_catalog.lower(COALESCE(r.family_name, '') || ' ' || COALESCE(r.given_name, '')))::int AS persons,
	       pg_catalog.count(*)::int AS records
	  FROM @extschema@.record r, pg_catalog.unnest(r.phones) p
	 GROUP BY 2
	HAVING pg_catalog.count(DISTINCT pg_catalog.lower(COALESCE(r.family_name, '') || ' ' || COALESCE(r.given_name, '')))
	       >= COALESCE((SELECT (s.settings ->> 'suspicious_min_persons')::int FROM @extschema@.match_settings s WHERE s.active), 5)
	UNION ALL
	SELECT 'emails', pg_catalog.lower(pg_catalog.btrim(e::text)),
	       pg_catalog.count(DISTINCT pg_catalog.lower(COALESCE(r.family_name, '') || ' ' || COALESCE(r.given_name, '')))::int,
	       pg_catalog.count(*)::int
	  FROM @extschema@.record r, pg_catalog.unnest(r.emails) e
	 GROUP BY 2
	HAVING pg_catalog.count(DISTINCT pg_catalog.lower(COALESCE(r.family_name, '') || ' ' || COALESCE(r.given_name, '')))
	       >= COALESCE((SELECT (s.settings ->> 'suspicious_min_persons')::int FROM @extschema@.match_settings s WHERE s.active), 5);
COMMENT ON VIEW @extschema@.suspicious_values IS
	'phone numbers and e-mails shared by suspicious_min_persons or more differently named people (a reception phone, test@test.ru): not evidence for matching';

CREATE FUNCTION @extschema@._match_refresh_suspicious() RETURNS boolean
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
	changed boolean;
BEGIN
	CREATE TEMP TABLE _cdp_susp ON COMMIT DROP AS
		SELECT v.attr, v.value, v.persons FROM @extschema@.suspicious_values v WHERE v.value <> '';
	SELECT EXISTS (SELECT attr, value FROM _cdp_susp EXCEPT SELECT attr, value FROM @extschema@.match_suspicious)
	    OR EXISTS (SELECT attr, value FROM @extschema@.match_suspicious EXCEPT SELECT attr, value FROM _cdp_susp)
	  INTO changed;
	IF changed THEN
		DELETE FROM @extschema@.match_suspicious;
		INSERT INTO @extschema@.match_suspicious (attr, value, persons) SELECT * FROM _cdp_susp;
	END IF;
	DROP TABLE _cdp_susp;
	RETURN changed;
END $$;
COMMENT ON FUNCTION @extschema@._match_refresh_suspicious() IS 'internal: snapshots cdp.suspicious_values into cdp.match_suspicious; true when the set changed';

CREATE FUNCTION @extschema@.relate_records(a bigint, b bigint, relation text) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF a IS NULL OR b IS NULL OR relation IS NULL THEN
		RAISE EXCEPTION 'record ids and relation must not be null' USING ERRCODE = '22004';
	END IF;
	IF a = b THEN
		RAISE EXCEPTION 'a record cannot be related to itself' USING ERRCODE = '22023';
	END IF;
	IF relation NOT IN ('household', 'spouse', 'parent', 'child', 'sibling', 'twin', 'guardian', 'other') THEN
		RAISE EXCEPTION 'unknown relation "%"', relation USING ERRCODE = '22023',
			HINT = 'Use household, spouse, parent, child, sibling, twin, guardian or other.';
	END IF;
	IF (SELECT pg_catalog.count(*) FROM @extschema@.record WHERE record_id IN (a, b)) <> 2 THEN
		RAISE EXCEPTION 'record "%" or "%" does not exist', a, b USING ERRCODE = '22023';
	END IF;
	INSERT INTO @extschema@.household (record_a, record_b, relation) VALUES (LEAST(a, b), GREATEST(a, b), relation)
		ON CONFLICT DO NOTHING;
	PERFORM @extschema@.append_event('record.related', LEAST(a, b), NULL,
		pg_catalog.jsonb_build_object('record_a', LEAST(a, b), 'record_b', GREATEST(a, b), 'relation', relation));
END $$;
COMMENT ON FUNCTION @extschema@.relate_records(bigint, bigint, text) IS
	'records two records as related different people (household, spouse, twin ...): never merged, never linked automatically; e.g. relate_records(1, 2, ''twin'')';

/* ---------------------------------------------------------------- explanations */

CREATE FUNCTION @extschema@._match_attr_label(attr text) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN CASE attr WHEN 'family_name' THEN 'фамилия' WHEN 'given_name' THEN 'имя' WHEN 'patronymic' THEN 'отчество'
		WHEN 'birth_date' THEN 'дата рождения' WHEN 'sex' THEN 'пол' WHEN 'phones' THEN 'телефон' WHEN 'emails' THEN 'e-mail'
		WHEN 'snils' THEN 'СНИЛС' WHEN 'oms' THEN 'полис ОМС' WHEN 'address' THEN 'адрес' WHEN 'city' THEN 'город'
		WHEN 'vk' THEN 'ВКонтакте' WHEN 'telegram' THEN 'Telegram' ELSE attr END;
COMMENT ON FUNCTION @extschema@._match_attr_label(text) IS 'internal: Russian label of a compared attr';

CREATE FUNCTION @extschema@._match_level_label(lv jsonb, nlev int, level int) RETURNS text
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	RETURN CASE
		WHEN level IS NULL OR level < 0 THEN 'нет данных'
		WHEN level >= nlev THEN 'не совпадает'
		ELSE CASE lv -> level ->> 'if'
			WHEN 'exact' THEN 'совпадает'
			WHEN 'key' THEN 'совпадает с точностью до написания'
			WHEN 'jw' THEN 'похоже (Джаро-Винклер ≥ ' || (lv -> level ->> 'ge') || ')'
			WHEN 'osa' THEN 'отличается не более чем на ' || (lv -> level ->> 'le') || ' знак'
			WHEN 'day_month_swapped' THEN 'день и месяц переставлены'
			WHEN 'same_year' THEN 'тот же год'
			WHEN 'last7' THEN 'совпадают последние 7 цифр'
			WHEN 'initial' THEN 'совпадает инициал'
			WHEN 'prefix' THEN 'совпадает начало'
			WHEN 'swapped' THEN 'имя и фамилия переставлены'
			WHEN 'cross' THEN 'записано в другом поле ФИО'
			ELSE lv -> level ->> 'if' END END;
COMMENT ON FUNCTION @extschema@._match_level_label(jsonb, int, int) IS 'internal: Russian label of a comparison level';

-- _match_summary: «совпали: телефон, e-mail; дата рождения: день и месяц переставлены; не совпали: имя»
CREATE FUNCTION @extschema@._match_summary(s jsonb, levels smallint[]) RETURNS text
	LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT pg_catalog.array_to_string(ARRAY[
		'совпали: ' || pg_catalog.string_agg(@extschema@._match_attr_label(c ->> 'attr'), ', ' ORDER BY o) FILTER (WHERE levels[o] = 0),
		pg_catalog.string_agg(@extschema@._match_attr_label(c ->> 'attr') || ': ' || @extschema@._match_level_label(c -> 'levels', pg_catalog.jsonb_array_length(c -> 'levels'), levels[o]), '; ' ORDER BY o)
			FILTER (WHERE levels[o] > 0 AND levels[o] < pg_catalog.jsonb_array_length(c -> 'levels')),
		'не совпали: ' || pg_catalog.string_agg(@extschema@._match_attr_label(c ->> 'attr'), ', ' ORDER BY o) FILTER (WHERE levels[o] >= pg_catalog.jsonb_array_length(c -> 'levels'))
	], '; ')
	  FROM pg_catalog.jsonb_array_elements(s -> 'comparisons') WITH ORDINALITY e(c, o)
$$;
COMMENT ON FUNCTION @extschema@._match_summary(jsonb, smallint[]) IS 'internal: Russian one-line summary of a pair''s comparison levels';

CREATE FUNCTION @extschema@.explain_match(record_a bigint, record_b bigint)
	RETURNS TABLE (attr text, value_a text, value_b text, level text, weight float8, running_total float8, probability float8)
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	a record := @extschema@._match_active();
	prm jsonb;
	fa text[];
	fb text[];
	pr record;
	l record;
	c jsonb;
	lev int;
	nl int;
	w float8;
	total float8;
	lam float8;
	adj float8;
BEGIN
	IF record_a IS NULL OR record_b IS NULL THEN
		RAISE EXCEPTION 'record ids must not be null' USING ERRCODE = '22004';
	END IF;
	IF (SELECT pg_catalog.count(*) FROM @extschema@.record r WHERE r.record_id IN (record_a, record_b)) <> 2 AND record_a <> record_b THEN
		RAISE EXCEPTION 'record "%" or "%" does not exist', record_a, record_b USING ERRCODE = '22023';
	END IF;
	prm := @extschema@._match_params(a.settings, a.params);
	-- features computed now from the records, so the explanation is never stale
	EXECUTE @extschema@._match_feature_query(a.settings, '@extschema@.record r WHERE r.record_id = $1') INTO pr USING record_a;
	fa := pr.feat;
	EXECUTE @extschema@._match_feature_query(a.settings, '@extschema@.record r WHERE r.record_id = $1') INTO pr USING record_b;
	fb := pr.feat;
	SELECT w2.levels, w2.weight, w2.flags INTO pr
	  FROM @extschema@._match_walk('cross',
	         @extschema@._match_feature_query(a.settings, pg_catalog.format('@extschema@.record r WHERE r.record_id IN (%s, %s)', record_a, record_b)),
	         a.program, a.version, 0, 0, 0, NULL) w2;
	lam := (prm ->> 'lambda')::float8;
	total := pg_catalog.log(2.0, (lam / (1 - lam))::numeric)::float8;
	attr := '(prior)'; value_a := NULL; value_b := NULL; level := 'априорная вероятность ' || lam;
	weight := total; running_total := total; probability := 1 / (1 + pg_catalog.power(2::float8, -total));
	RETURN NEXT;
	FOR l IN SELECT * FROM @extschema@._match_layout(a.settings) LOOP
		c := a.settings -> 'comparisons' -> l.comp;
		nl := pg_catalog.jsonb_array_length(c -> 'levels');
		lev := pr.levels[l.comp + 1];
		attr := l.attr;
		value_a := pg_catalog.replace(fa[l.fpos], E'\x1f', ', ');
		value_b := pg_catalog.replace(fb[l.fpos], E'\x1f', ', ');
		level := @extschema@._match_level_label(c -> 'levels', nl, lev);
		IF lev < 0 THEN
			w := 0;
		ELSE
			w := pg_catalog.log(2.0, (GREATEST((prm -> 'm' -> l.comp ->> lev)::float8, 1e-6)
			                          / GREATEST((prm -> 'u' -> l.comp ->> lev)::float8, 1e-6))::numeric)::float8;
			IF lev = 0 AND (c ->> 'tf')::boolean THEN
				SELECT LEAST(pg_catalog.log(2.0, (GREATEST((prm -> 'u' -> l.comp ->> 0)::float8, 1e-6) / t.freq)::numeric)::float8, 3)
				  INTO adj FROM @extschema@.match_tf t
				 WHERE t.version = a.version AND t.comp = l.comp AND t.value IN (pg_catalog.left(fa[l.fpos], 63), '')
				 ORDER BY t.value DESC LIMIT 1;
				IF adj IS NOT NULL THEN
					w := w + adj;
					level := level || pg_catalog.format(' (частота значения: %s бит)', pg_catalog.round(adj::numeric, 2));
				END IF;
			END IF;
		END IF;
		weight := w;
		total := total + w;
		running_total := total;
		probability := 1 / (1 + pg_catalog.power(2::float8, -GREATEST(LEAST(total, 60), -60)));
		RETURN NEXT;
	END LOOP;
	attr := '(итог)'; value_a := NULL; value_b := NULL; weight := NULL;
	level := @extschema@._match_summary(a.settings, pr.levels)
		|| CASE WHEN pr.flags & 256 <> 0 THEN '; совпал идентификатор (правило)' ELSE '' END
		|| CASE WHEN pr.flags & 512 <> 0 THEN '; разные идентификаторы, имя или дата рождения: автоматическое объединение запрещено' ELSE '' END
		|| CASE WHEN pr.flags & 1024 <> 0 THEN '; запись-заглушка: автоматическое объединение запрещено' ELSE '' END;
	RETURN NEXT;
END $$;
COMMENT ON FUNCTION @extschema@.explain_match(bigint, bigint) IS
	'why two records do or do not match: one row per compared attr (values, level, weight, running total, probability), then a summary in Russian; e.g. SELECT * FROM explain_match(1, 2)';

/* ---------------------------------------------------------------- review queue */

CREATE VIEW @extschema@.review_queue AS
	SELECT q.pair_id, q.record_a, q.record_b, q.score,
	       @extschema@._match_summary(s.settings, q.levels)
	         || CASE WHEN q.reason IS NOT NULL THEN '; ' || q.reason ELSE '' END AS summary,
	       pg_catalog.now() - q.created_at AS age
	  FROM @extschema@.match_review q
	  LEFT JOIN @extschema@.match_settings s ON s.version = q.version
	 WHERE q.status = 'open'
	   -- a pair whose records were joined since (by another link or a person) needs no decision
	   AND (SELECT r.golden_id FROM @extschema@.record r WHERE r.record_id = q.record_a)
	       IS DISTINCT FROM (SELECT r.golden_id FROM @extschema@.record r WHERE r.record_id = q.record_b);
COMMENT ON VIEW @extschema@.review_queue IS 'open pairs waiting for a person''s decision: score, Russian summary, age; decide with cdp.review_decide';

CREATE FUNCTION @extschema@.review_decide(pair_id bigint, decision text, note text DEFAULT NULL) RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	q record;
	g bigint;
BEGIN
	IF pair_id IS NULL OR decision IS NULL THEN
		RAISE EXCEPTION 'pair_id and decision must not be null' USING ERRCODE = '22004';
	END IF;
	IF decision NOT IN ('match', 'no_match') THEN
		RAISE EXCEPTION 'invalid review decision "%"', decision USING ERRCODE = '22023',
			HINT = 'Use ''match'' or ''no_match''.';
	END IF;
	SELECT * INTO q FROM @extschema@.match_review m WHERE m.pair_id = review_decide.pair_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'review pair "%" does not exist', pair_id USING ERRCODE = '22023';
	END IF;
	IF q.status <> 'open' THEN
		RAISE EXCEPTION 'review pair "%" is already decided as "%"', pair_id, q.status USING ERRCODE = '55000';
	END IF;
	PERFORM @extschema@.record_pair_decision(q.record_a, q.record_b, decision, note);
	IF decision = 'match' THEN
		g := @extschema@.link_records(q.record_a, q.record_b,
			pg_catalog.jsonb_build_object('by', 'review', 'pair_id', pair_id, 'score', q.score, 'note', note));
	END IF;
	UPDATE @extschema@.match_review m SET status = decision, decided_at = pg_catalog.now(), note = review_decide.note
	 WHERE m.pair_id = review_decide.pair_id;
	RETURN g;
END $$;
COMMENT ON FUNCTION @extschema@.review_decide(bigint, text, text) IS
	'decides a review pair: ''match'' links the records (cdp.link_records), ''no_match'' records a decision that matching never overrides; both are events; e.g. review_decide(7, ''no_match'', ''twins'')';

/* ---------------------------------------------------------------- training */

-- _match_pattern_em: EM over level-vector counts, returns m (9 per comparison, flat) then lambda
CREATE FUNCTION @extschema@._match_fit(pat jsonb, s jsonb, u float8[], m float8[], lambda float8, iterations int, fixed boolean[], update_m boolean)
	RETURNS float8[] LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
	lev smallint[];
	cnt float8[];
	nlev int[];
BEGIN
	SELECT pg_catalog.array_agg(pg_catalog.jsonb_array_length(c -> 'levels') ORDER BY o) INTO nlev
	  FROM pg_catalog.jsonb_array_elements(s -> 'comparisons') WITH ORDINALITY e(c, o);
	IF pat IS NULL OR pg_catalog.jsonb_array_length(pat) = 0 THEN
		RETURN m || lambda;
	END IF;
	SELECT pg_catalog.array_agg(ARRAY(SELECT pg_catalog.jsonb_array_elements_text(x -> 'l')::smallint) ORDER BY o),
	       pg_catalog.array_agg((x ->> 'n')::float8 ORDER BY o)
	  INTO lev, cnt FROM pg_catalog.jsonb_array_elements(pat) WITH ORDINALITY e(x, o);
	RETURN @extschema@._match_em(lev, cnt, nlev, u, m, lambda, iterations, fixed, update_m);
END $$;
COMMENT ON FUNCTION @extschema@._match_fit(jsonb, jsonb, float8[], float8[], float8, int, boolean[], boolean) IS 'internal: runs EM over a JSON list of {l: levels, n: count}';

-- _match_flat: a params matrix (jsonb array per comparison) as the kernel's flat 9-per-comparison array
CREATE FUNCTION @extschema@._match_flat(mat jsonb) RETURNS float8[]
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
	SELECT pg_catalog.array_agg(COALESCE((mat -> c ->> l)::float8, 1e-6) ORDER BY c, l)
	  FROM pg_catalog.generate_series(0, pg_catalog.jsonb_array_length(mat) - 1) c, pg_catalog.generate_series(0, 8) l
$$;
COMMENT ON FUNCTION @extschema@._match_flat(jsonb) IS 'internal: per-comparison parameter lists as a flat array of 9 per comparison';

-- _match_unflat: the inverse, keeping nlev + 1 values per comparison
CREATE FUNCTION @extschema@._match_unflat(s jsonb, v float8[]) RETURNS jsonb
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
	SELECT pg_catalog.jsonb_agg((SELECT pg_catalog.jsonb_agg(pg_catalog.round(v[(o - 1) * 9 + l + 1]::numeric, 8) ORDER BY l)
	                               FROM pg_catalog.generate_series(0, pg_catalog.jsonb_array_length(c -> 'levels')) l) ORDER BY o)
	  FROM pg_catalog.jsonb_array_elements(s -> 'comparisons') WITH ORDINALITY e(c, o)
$$;
COMMENT ON FUNCTION @extschema@._match_unflat(jsonb, float8[]) IS 'internal: flat parameters back to one list per comparison';

CREATE FUNCTION @extschema@.train_matching(sample_pairs int DEFAULT 1000000, em_iterations int DEFAULT 25) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	a record := @extschema@._match_active();
	prog float8[];
	q text;
	ncomp int := pg_catalog.jsonb_array_length(a.settings -> 'comparisons');
	nrules int := pg_catalog.jsonb_array_length(a.settings -> 'blocking');
	nrec bigint;
	u float8[];
	m0 float8[];
	m float8[];
	msum float8[];
	mw float8[];
	res float8[];
	pat jsonb;
	fixed boolean[];
	battrs text[];
	r int;
	c int;
	i int;
	rule_pairs float8;
	total_pairs float8;
	lam_blocked float8;
	lam_id float8;
	lam float8;
	per_rule jsonb := '[]';
	p jsonb;
	t0 timestamptz := pg_catalog.clock_timestamp();
	t1 timestamptz;
	times jsonb := '{}';
BEGIN
	IF sample_pairs IS NULL OR sample_pairs < 1000 OR sample_pairs > 100000000 THEN
		RAISE EXCEPTION 'sample_pairs must be between 1000 and 100000000' USING ERRCODE = '22023';
	END IF;
	IF em_iterations IS NULL OR em_iterations < 1 OR em_iterations > 1000 THEN
		RAISE EXCEPTION 'em_iterations must be between 1 and 1000' USING ERRCODE = '22023';
	END IF;
	-- the same lock as run_matching: training rewrites the features it reads
	PERFORM pg_catalog.pg_advisory_xact_lock(1668440176, 6);
	-- features are recomputed only when something they depend on changed (as run_matching('full')
	-- does): the settings version, the set of suspicious values, or records never keyed; otherwise
	-- only the queued (changed) records
	IF @extschema@._match_refresh_suspicious()
	   OR EXISTS (SELECT 1 FROM @extschema@.match_key k WHERE k.version <> a.version)
	   OR (SELECT pg_catalog.count(*) FROM @extschema@.match_key) <> (SELECT pg_catalog.count(*) FROM @extschema@.record) THEN
		PERFORM @extschema@._match_refresh_keys(NULL);
	ELSE
		PERFORM @extschema@._match_refresh_keys(ARRAY(SELECT mq.record_id FROM @extschema@.match_queue mq));
	END IF;
	SELECT pg_catalog.count(*) INTO nrec FROM @extschema@.match_key;
	IF nrec < 2 THEN
		RAISE EXCEPTION 'too few records to train matching' USING ERRCODE = '55000',
			DETAIL = pg_catalog.format('%s records are loaded.', nrec);
	END IF;
	t1 := pg_catalog.clock_timestamp();
	times := times || pg_catalog.jsonb_build_object('keys_s', pg_catalog.round(EXTRACT(epoch FROM t1 - t0), 3));
	t0 := t1;

	-- term frequencies of the tf-adjusted comparisons: values seen more than once, and one row with
	-- value '' holding the frequency of a value seen once
	DELETE FROM @extschema@.match_tf WHERE version = a.version;
	INSERT INTO @extschema@.match_tf (version, comp, value, freq)
	SELECT a.version, x.comp, x.v, x.n::float8 / x.total
	  FROM (SELECT y.comp, pg_catalog.left(pg_catalog.split_part(k.feat[y.fpos], E'\x1f', 1), 63) AS v, pg_catalog.count(*) AS n,
	               pg_catalog.sum(pg_catalog.count(*)) OVER (PARTITION BY y.comp) AS total
	          FROM @extschema@._match_layout(a.settings) y
	          JOIN @extschema@.match_key k ON (a.settings -> 'comparisons' -> y.comp ->> 'tf')::boolean
	         WHERE k.feat[y.fpos] IS NOT NULL
	         GROUP BY 1, 2) x
	 WHERE x.n > 1 OR x.v = '';
	INSERT INTO @extschema@.match_tf (version, comp, value, freq)
	SELECT a.version, y.comp, '', 1.0 / GREATEST(pg_catalog.count(*), 1)
	  FROM @extschema@._match_layout(a.settings) y
	  JOIN @extschema@.match_key k ON (a.settings -> 'comparisons' -> y.comp ->> 'tf')::boolean
	 WHERE k.feat[y.fpos] IS NOT NULL
	 GROUP BY y.comp
	ON CONFLICT (version, comp, value) DO UPDATE SET freq = excluded.freq;
	t1 := pg_catalog.clock_timestamp();
	times := times || pg_catalog.jsonb_build_object('tf_s', pg_catalog.round(EXTRACT(epoch FROM t1 - t0), 3));
	t0 := t1;

	-- u: level frequencies among random pairs, which are almost all non-matches (+0.5 smoothing)
	prog := @extschema@._match_program(a.settings, NULL);
	q := @extschema@._match_query(NULL, false);
	SELECT pg_catalog.array_agg(x.uv ORDER BY x.comp, x.l) INTO u
	  FROM (SELECT c.comp, l.l,
	               (COALESCE(pg_catalog.sum(w.n) FILTER (WHERE w.levels[c.comp + 1] = l.l), 0) + 0.5)
	               / (COALESCE(pg_catalog.sum(w.n) FILTER (WHERE w.levels[c.comp + 1] >= 0), 0) + 4.5) AS uv
	          FROM pg_catalog.generate_series(0, ncomp - 1) c(comp)
	         CROSS JOIN pg_catalog.generate_series(0, 8) l(l)
	         CROSS JOIN @extschema@._match_walk('sample', q, prog, a.version, 0, 0, sample_pairs, NULL) w
	         GROUP BY c.comp, l.l) x;
	t1 := pg_catalog.clock_timestamp();
	times := times || pg_catalog.jsonb_build_object('u_sample_s', pg_catalog.round(EXTRACT(epoch FROM t1 - t0), 3));
	t0 := t1;

	-- level vectors of the blocked pairs, per rule: a uniform sample of at most sample_pairs of them
	-- (counts scaled back; one serial walk: the sample bounds the scoring)
	CREATE TEMP TABLE _cdp_patterns ON COMMIT DROP AS
		SELECT w.rule, w.levels, pg_catalog.sum(w.n)::bigint AS n, pg_catalog.sum(w.n_new)::bigint AS n_new
		  FROM @extschema@._match_walk_all('patterns', q, prog, a.version, 0,
			(a.settings ->> 'max_block_size')::int, sample_pairs, 1) w
		 GROUP BY w.rule, w.levels;
	SELECT COALESCE(pg_catalog.sum(n_new), 0) INTO total_pairs FROM _cdp_patterns;
	t1 := pg_catalog.clock_timestamp();
	times := times || pg_catalog.jsonb_build_object('patterns_s', pg_catalog.round(EXTRACT(epoch FROM t1 - t0), 3));
	t0 := t1;

	-- m: EM per blocking rule with the comparisons it blocks on held fixed (every pair of the rule
	-- agrees on them), averaged over the rules that leave a comparison free, weighted by pairs
	m0 := @extschema@._match_flat(@extschema@._match_params(a.settings, NULL) -> 'm');
	msum := pg_catalog.array_fill(0::float8, ARRAY[ncomp * 9]);
	mw := pg_catalog.array_fill(0::float8, ARRAY[ncomp]);
	FOR r IN 0 .. nrules - 1 LOOP
		SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('l', t.levels, 'n', t.n)), COALESCE(pg_catalog.sum(t.n), 0)
		  INTO pat, rule_pairs FROM _cdp_patterns t WHERE t.rule = r;
		CONTINUE WHEN rule_pairs = 0;
		-- an "any_order" rule's attrs are held too: its pairs agree on them, directly or crossed
		SELECT pg_catalog.array_agg(@extschema@._match_attr_column(pg_catalog.split_part(it, '.', 1))) INTO battrs
		  FROM pg_catalog.jsonb_array_elements_text(a.settings -> 'blocking' -> r) it
		 WHERE it <> 'any_order';
		SELECT pg_catalog.array_agg(COALESCE(y.attr = ANY (battrs), false) ORDER BY y.comp) INTO fixed FROM @extschema@._match_layout(a.settings) y;
		res := @extschema@._match_fit(pat, a.settings, u, m0, 0.05, em_iterations, fixed, true);
		FOR c IN 0 .. ncomp - 1 LOOP
			CONTINUE WHEN fixed[c + 1];
			FOR i IN 1 .. 9 LOOP
				msum[c * 9 + i] := msum[c * 9 + i] + res[c * 9 + i] * rule_pairs;
			END LOOP;
			mw[c + 1] := mw[c + 1] + rule_pairs;
		END LOOP;
		per_rule := per_rule || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
			'rule', a.settings -> 'blocking' -> r, 'pairs', rule_pairs, 'lambda', pg_catalog.round(res[ncomp * 9 + 1]::numeric, 6)));
	END LOOP;
	-- comparisons every rule blocks on: EM over the distinct pairs with nothing fixed
	SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('l', t.levels, 'n', t.n_new)) INTO pat FROM _cdp_patterns t WHERE t.n_new > 0;
	res := @extschema@._match_fit(pat, a.settings, u, m0, 0.05, em_iterations, pg_catalog.array_fill(false, ARRAY[ncomp]), true);
	m := pg_catalog.array_fill(0::float8, ARRAY[ncomp * 9]);
	FOR c IN 0 .. ncomp - 1 LOOP
		FOR i IN 1 .. 9 LOOP
			m[c * 9 + i] := CASE WHEN mw[c + 1] > 0 THEN msum[c * 9 + i] / mw[c + 1] ELSE res[c * 9 + i] END;
		END LOOP;
	END LOOP;
	-- a swapped or crossed name is no stronger evidence than the same name spelled differently: its
	-- m/u is capped at the lowest m/u of the levels above it (u of a swap is tiny, and exchanged names
	-- are not term-frequency adjusted, so an uncapped weight links namesakes who share nothing else)
	FOR c IN 0 .. ncomp - 1 LOOP
		lam_id := NULL;
		FOR i IN 0 .. pg_catalog.jsonb_array_length(a.settings -> 'comparisons' -> c -> 'levels') - 1 LOOP
			IF a.settings -> 'comparisons' -> c -> 'levels' -> i ->> 'if' IN ('swapped', 'cross') THEN
				IF lam_id IS NOT NULL THEN
					m[c * 9 + i + 1] := LEAST(m[c * 9 + i + 1], lam_id * u[c * 9 + i + 1]);
				END IF;
			ELSE
				lam_id := LEAST(COALESCE(lam_id, 'Infinity'::float8), m[c * 9 + i + 1] / GREATEST(u[c * 9 + i + 1], 1e-6));
			END IF;
		END LOOP;
	END LOOP;
	lam_id := NULL;
	-- lambda: the match share of the blocked pairs (m and u fixed), scaled to all pairs
	res := @extschema@._match_fit(pat, a.settings, u, m, 0.05, em_iterations, pg_catalog.array_fill(false, ARRAY[ncomp]), false);
	lam_blocked := res[ncomp * 9 + 1];
	-- EM takes households (shared surname, address, phone) for matches and over-estimates the match
	-- share of blocked pairs; where a same_id_match attr (SNILS, OMS) is filled on both sides of
	-- enough blocked pairs, the share of those pairs agreeing on it exactly is a direct estimate
	SELECT x.share INTO lam_id
	  FROM (SELECT pg_catalog.sum(t.n_new) FILTER (WHERE t.levels[y.comp + 1] = 0)::float8
	               / pg_catalog.sum(t.n_new) FILTER (WHERE t.levels[y.comp + 1] >= 0) AS share,
	               pg_catalog.sum(t.n_new) FILTER (WHERE t.levels[y.comp + 1] >= 0) AS n
	          FROM @extschema@._match_layout(a.settings) y
	          CROSS JOIN _cdp_patterns t
	         WHERE t.n_new > 0 AND a.settings -> 'rules' -> 'same_id_match' ? y.attr AND y.comparator = 'id'
	         GROUP BY y.comp) x
	 WHERE x.n >= 1000 AND x.share > 0
	 ORDER BY x.n DESC LIMIT 1;
	IF lam_id IS NOT NULL THEN
		lam_blocked := lam_id;
	END IF;
	lam := LEAST(GREATEST(lam_blocked * total_pairs / (nrec::float8 * (nrec - 1) / 2), 1e-12), 0.5);
	t1 := pg_catalog.clock_timestamp();
	times := times || pg_catalog.jsonb_build_object('em_s', pg_catalog.round(EXTRACT(epoch FROM t1 - t0), 3));

	p := pg_catalog.jsonb_build_object(
		'trained', true,
		'trained_at', pg_catalog.now(),
		'records', nrec,
		'sample_pairs', sample_pairs,
		'blocked_pairs', total_pairs,
		'lambda_blocked', lam_blocked,
		'lambda', lam,
		'expected_matches', pg_catalog.round((lam_blocked * total_pairs)::numeric),
		'm', @extschema@._match_unflat(a.settings, m),
		'u', @extschema@._match_unflat(a.settings, u),
		'per_rule', per_rule,
		'times', times);
	UPDATE @extschema@.match_settings SET params = p, program = @extschema@._match_program(a.settings, p) WHERE version = a.version;
	DROP TABLE _cdp_patterns;
	RETURN p;
END $$;
COMMENT ON FUNCTION @extschema@.train_matching(int, int) IS
	'trains the active settings: term frequencies, u from random pairs, m by EM per blocking rule, lambda; stores and returns the parameters; e.g. train_matching(200000, 20)';
REVOKE ALL ON FUNCTION @extschema@.train_matching(int, int) FROM PUBLIC;

/* ---------------------------------------------------------------- blocking */

-- _match_ensure_keys: re-keys every record when match_key was computed by another settings version
CREATE FUNCTION @extschema@._match_ensure_keys() RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
	a record := @extschema@._match_active();
BEGIN
	IF EXISTS (SELECT 1 FROM @extschema@.match_key k WHERE k.version <> a.version)
	   OR (NOT EXISTS (SELECT 1 FROM @extschema@.match_key) AND EXISTS (SELECT 1 FROM @extschema@.record)) THEN
		PERFORM @extschema@._match_refresh_keys(NULL);
	END IF;
END $$;
COMMENT ON FUNCTION @extschema@._match_ensure_keys() IS 'internal: recomputes all features when the settings version changed';

CREATE FUNCTION @extschema@.blocking_report(settings jsonb DEFAULT NULL)
	RETURNS TABLE (rule text, pairs bigint, new_pairs bigint, skipped_pairs bigint)
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	a record := @extschema@._match_active();
	s jsonb := CASE WHEN settings IS NULL THEN a.settings ELSE @extschema@._match_expand(settings) END;
	q text;
	nparts int := 1;
BEGIN
	-- the stored features when they are those of these settings and of every record (walked in
	-- parts when that pays); otherwise computed on the fly in one walk (nothing is stored)
	IF s = a.settings AND NOT EXISTS (SELECT 1 FROM @extschema@.match_key k WHERE k.version <> a.version)
	   AND (SELECT pg_catalog.count(*) FROM @extschema@.match_key) = (SELECT pg_catalog.count(*) FROM @extschema@.record) THEN
		q := @extschema@._match_query(NULL, false);
		nparts := @extschema@._match_nparts();
	ELSE
		q := @extschema@._match_feature_query(s, '@extschema@.record r');
	END IF;
	RETURN QUERY
	SELECT (s -> 'blocking' -> w.rule)::text, pg_catalog.sum(w.n)::bigint, pg_catalog.sum(w.n_new)::bigint,
	       pg_catalog.sum(w.weight)::bigint
	  FROM @extschema@._match_walk_all('count', q, @extschema@._match_program(s, NULL), 0, 0,
	                                   (s ->> 'max_block_size')::int, 0, nparts) w
	 GROUP BY w.rule
	 ORDER BY w.rule;
END $$;
COMMENT ON FUNCTION @extschema@.blocking_report(jsonb) IS
	'cost of blocking before running: per rule the candidate pairs, the pairs no earlier rule yields, and the pairs of blocks over max_block_size (not scored); e.g. SELECT * FROM blocking_report()';

CREATE FUNCTION @extschema@.candidate_pairs()
	RETURNS TABLE (record_a bigint, record_b bigint)
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	a record := @extschema@._match_active();
BEGIN
	PERFORM @extschema@._match_ensure_keys();
	IF @extschema@._match_nparts() > 1 THEN
		RETURN QUERY SELECT w.record_a, w.record_b
		  FROM @extschema@._match_walk_all('score', @extschema@._match_query(NULL, false), a.program,
		                                   a.version, -1, (a.settings ->> 'max_block_size')::int, 0,
		                                   @extschema@._match_nparts()) w;
		RETURN;
	END IF;
	RETURN QUERY SELECT w.record_a, w.record_b
	  FROM @extschema@._match_walk('score', @extschema@._match_query(NULL, false), a.program,
	                               a.version, -1, (a.settings ->> 'max_block_size')::int, 0, NULL) w;
END $$;
COMMENT ON FUNCTION @extschema@.candidate_pairs() IS
	'the deduplicated candidate pairs (record_a < record_b) of the active settings'' blocking rules, e.g. to measure pairs completeness';

/* ---------------------------------------------------------------- running */

-- _match_cannot_link: why the persons of records a and b must not be joined automatically (NULL:
-- they may).  never_pos: feature positions of the different_id_never attrs; the decision and
-- relation checks are skipped when the caller knows those tables are empty.
CREATE FUNCTION @extschema@._match_cannot_link(a bigint, b bigint, never_pos int[], never_attr text[],
		check_decisions boolean, check_relations boolean, dob_pos int) RETURNS text
	LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
	ga bigint;
	gb bigint;
	i int;
BEGIN
	SELECT r.golden_id INTO ga FROM @extschema@.record r WHERE r.record_id = a;
	SELECT r.golden_id INTO gb FROM @extschema@.record r WHERE r.record_id = b;
	IF check_decisions AND EXISTS (
		SELECT 1 FROM @extschema@.record ra JOIN @extschema@.pair_decision d ON d.record_a = ra.record_id OR d.record_b = ra.record_id
		         JOIN @extschema@.record rb ON rb.record_id = CASE WHEN d.record_a = ra.record_id THEN d.record_b ELSE d.record_a END
		 WHERE ra.golden_id = ga AND rb.golden_id = gb AND d.decision = 'no_match') THEN
		RETURN 'решение «не совпадают» между этими людьми';
	END IF;
	IF check_relations AND EXISTS (
		SELECT 1 FROM @extschema@.record ra JOIN @extschema@.household h ON h.record_a = ra.record_id OR h.record_b = ra.record_id
		         JOIN @extschema@.record rb ON rb.record_id = CASE WHEN h.record_a = ra.record_id THEN h.record_b ELSE h.record_a END
		 WHERE ra.golden_id = ga AND rb.golden_id = gb) THEN
		RETURN 'записаны как родственники';
	END IF;
	-- two persons whose birth dates are wholly different (not a swap, a slip of one digit or the same
	-- year) are different people, whatever identifier a record of one of them carries
	IF dob_pos IS NOT NULL AND EXISTS (
		SELECT 1 FROM @extschema@.record ra JOIN @extschema@.match_key ka ON ka.record_id = ra.record_id,
		              @extschema@.record rb JOIN @extschema@.match_key kb ON kb.record_id = rb.record_id
		 WHERE ra.golden_id = ga AND rb.golden_id = gb
		   AND pg_catalog.left(ka.feat[dob_pos], 4) <> pg_catalog.left(kb.feat[dob_pos], 4)
		   AND @extschema@.osa_distance(ka.feat[dob_pos], kb.feat[dob_pos], 1) > 1) THEN
		RETURN 'у этих людей разные даты рождения';
	END IF;
	FOR i IN 1 .. COALESCE(pg_catalog.cardinality(never_pos), 0) LOOP
		IF EXISTS (SELECT 1 FROM @extschema@.record ra JOIN @extschema@.match_key ka ON ka.record_id = ra.record_id,
		                         @extschema@.record rb JOIN @extschema@.match_key kb ON kb.record_id = rb.record_id
		            WHERE ra.golden_id = ga AND rb.golden_id = gb
		              AND ka.feat[never_pos[i]] <> kb.feat[never_pos[i]]) THEN
			RETURN 'у этих людей разные ' || @extschema@._match_attr_label(never_attr[i]);
		END IF;
	END LOOP;
	RETURN NULL;
END $$;
COMMENT ON FUNCTION @extschema@._match_cannot_link(bigint, bigint, int[], text[], boolean, boolean, int) IS
	'internal: the cannot-link constraint between the persons of two records (no_match decision, relation, wholly different birth dates when dob_pos is given, different ids), or NULL';


-- _match_to_review: puts a pair in the review queue (a decided pair stays decided)
CREATE FUNCTION @extschema@._match_to_review(v int, p record, reason text) RETURNS boolean
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
	inserted boolean;
BEGIN
	INSERT INTO @extschema@.match_review AS q (record_a, record_b, score, weight, levels, flags, version, reason)
	VALUES (p.record_a, p.record_b, p.probability, p.weight, p.levels, p.flags, v, reason)
	ON CONFLICT (record_a, record_b) DO UPDATE
	   SET score = excluded.score, weight = excluded.weight, levels = excluded.levels, flags = excluded.flags,
	       version = excluded.version, reason = excluded.reason
	 WHERE q.status = 'open'
	RETURNING q.xmax = 0 INTO inserted;
	RETURN COALESCE(inserted, false);
END $$;
COMMENT ON FUNCTION @extschema@._match_to_review(int, record, text) IS 'internal: queues a pair for review unless a person already decided it; true when the pair is new to the queue';

-- _match_link_plan: the decisions of a run in memory (src/match_link.c): pairs in decision order,
-- every record of every person they touch with its birth-date and different_id_never features,
-- the no_match and relation edges; one row per pair that links ('l'), is already one person
-- ('a'), is held by a cannot-link constraint ('h') or goes to review ('r')
CREATE FUNCTION @extschema@._match_link_plan(record_a bigint[], record_b bigint[], probability float8[], flags int[],
		records bigint[], goldens bigint[], dob text[], never text[], nnever int,
		no_match_a bigint[], no_match_b bigint[], relation_a bigint[], relation_b bigint[],
		link_threshold float8, review_threshold float8, reasons text[])
	RETURNS TABLE (ord int, action "char", reason text)
	AS 'MODULE_PATHNAME', 'cdp__match_link_plan'
	LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 1000;
COMMENT ON FUNCTION @extschema@._match_link_plan(bigint[], bigint[], float8[], int[], bigint[], bigint[], text[], text[], int, bigint[], bigint[], bigint[], bigint[], float8, float8, text[]) IS
	'internal: links, holds and review decisions of a run''s scored pairs by union-find with per-person constraint summaries (the checks of _match_cannot_link)';

-- _match_run: the body of run_matching; pairwise = true decides and links pair by pair through
-- _match_cannot_link and link_records (the reference the batch path is tested against)
CREATE FUNCTION @extschema@._match_run(mode text, pairwise boolean) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	a record;
	focus bigint[];
	processed bigint;
	candidates bigint := 0;
	linked bigint := 0;
	queued bigint := 0;
	already bigint := 0;
	held bigint := 0;
	decided bigint := 0;
	i bigint := 0;
	p record;
	why text;
	link_t float8;
	review_t float8;
	never_pos int[];
	never_attr text[];
	has_decisions boolean;
	has_relations boolean;
	dob_pos int;
	t0 timestamptz := pg_catalog.clock_timestamp();
	t1 timestamptz;
	times jsonb := '{}';
	result jsonb;
	t_link timestamptz;
	u_rec bigint[];
	u_gold bigint[];
	u_dob text[];
	u_never text[];
	link_ord int[];
	link_res bigint[];
	refused int[];
	q_ids bigint[];
	q_ats timestamptz[];
BEGIN
	IF mode IS NULL OR mode NOT IN ('incremental', 'full') THEN
		RAISE EXCEPTION 'invalid matching mode "%"', mode USING ERRCODE = '22023',
			HINT = 'Use ''incremental'' or ''full''.';
	END IF;
	-- one run at a time (key: "cdp" as int, 6 = matching); a second caller returns at once
	IF NOT pg_catalog.pg_try_advisory_xact_lock(1668440176, 6) THEN
		RETURN pg_catalog.jsonb_build_object('mode', mode, 'skipped', true,
			'note', 'another run_matching or train_matching is in progress; nothing was done');
	END IF;
	a := @extschema@._match_active();
	link_t := (a.settings ->> 'link_threshold')::float8;
	review_t := (a.settings ->> 'review_threshold')::float8;
	SELECT pg_catalog.array_agg(y.fpos ORDER BY y.comp), pg_catalog.array_agg(y.attr ORDER BY y.comp) INTO never_pos, never_attr
	  FROM @extschema@._match_layout(a.settings) y
	 WHERE y.attr IN (SELECT @extschema@._match_attr_column(x) FROM pg_catalog.jsonb_array_elements_text(a.settings -> 'rules' -> 'different_id_never') x);
	has_decisions := EXISTS (SELECT 1 FROM @extschema@.pair_decision d WHERE d.decision = 'no_match');
	-- birth dates conflict between persons when birth_date is a disagree_never attr
	SELECT y.fpos INTO dob_pos FROM @extschema@._match_layout(a.settings) y
	 WHERE y.attr = 'birth_date' AND y.comparator = 'date'
	   AND a.settings -> 'rules' -> 'disagree_never' ? 'birth_date';
	has_relations := EXISTS (SELECT 1 FROM @extschema@.household);

	IF mode = 'full' THEN
		-- the queue as it is before any record is read: only these entries, unchanged since, are
		-- removed at the end (an ingest committing while the run works re-queues its record with a
		-- new queued_at, and keeps it queued for the next run)
		SELECT pg_catalog.array_agg(mq.record_id), pg_catalog.array_agg(mq.queued_at) INTO q_ids, q_ats
		  FROM @extschema@.match_queue mq;
		-- features are recomputed for every record only when something they depend on changed:
		-- the settings version, the set of suspicious values, or records never keyed
		IF @extschema@._match_refresh_suspicious()
		   OR EXISTS (SELECT 1 FROM @extschema@.match_key k WHERE k.version <> a.version)
		   OR (SELECT pg_catalog.count(*) FROM @extschema@.match_key) <> (SELECT pg_catalog.count(*) FROM @extschema@.record) THEN
			PERFORM @extschema@._match_refresh_keys(NULL);
		ELSE
			PERFORM @extschema@._match_refresh_keys(COALESCE(q_ids, '{}'));
		END IF;
		SELECT pg_catalog.count(*) INTO processed FROM @extschema@.match_key;
		focus := NULL;
	ELSE
		SELECT pg_catalog.array_agg(q.record_id ORDER BY q.record_id) INTO focus
		  FROM (SELECT mq.record_id FROM @extschema@.match_queue mq ORDER BY mq.record_id FOR UPDATE SKIP LOCKED) q;
		IF focus IS NULL THEN
			RETURN pg_catalog.jsonb_build_object('mode', mode, 'processed', 0, 'candidates', 0, 'linked', 0, 'queued', 0);
		END IF;
		PERFORM @extschema@._match_ensure_keys();
		processed := @extschema@._match_refresh_keys(focus);
	END IF;
	t1 := pg_catalog.clock_timestamp();
	times := times || pg_catalog.jsonb_build_object('keys_s', pg_catalog.round(EXTRACT(epoch FROM t1 - t0), 3));
	t0 := t1;

	CREATE TEMP TABLE _cdp_scored ON COMMIT DROP AS
		SELECT * FROM @extschema@._match_pairs(focus, review_t);
	t1 := pg_catalog.clock_timestamp();
	times := times || pg_catalog.jsonb_build_object('block_score_s', pg_catalog.round(EXTRACT(epoch FROM t1 - t0), 3));
	t0 := t1;
	t_link := t1;
	SELECT pg_catalog.count(*), pg_catalog.count(*) FILTER (WHERE s.golden_a = s.golden_b) INTO candidates, already FROM _cdp_scored s;

	IF NOT pairwise THEN
		-- a person's decision wins, both ways: decided pairs never reach the plan
		SELECT pg_catalog.count(*) INTO decided
		  FROM _cdp_scored s JOIN @extschema@.pair_decision d ON d.record_a = s.record_a AND d.record_b = s.record_b
		 WHERE s.golden_a <> s.golden_b;
		-- strongest evidence first, so a weak pair never decides before a strong one
		CREATE TEMP TABLE _cdp_todo ON COMMIT DROP AS
			SELECT pg_catalog.row_number() OVER (ORDER BY (s.flags & 256 <> 0) DESC, s.probability DESC, s.record_a, s.record_b)::int AS ord, s.*
			  FROM _cdp_scored s
			 WHERE s.golden_a <> s.golden_b
			   AND NOT EXISTS (SELECT 1 FROM @extschema@.pair_decision d WHERE d.record_a = s.record_a AND d.record_b = s.record_b);
		-- every record of every person a pair touches, with the features the constraints read
		EXECUTE pg_catalog.format(
			'SELECT pg_catalog.array_agg(r.record_id), pg_catalog.array_agg(r.golden_id), %s, %s
			   FROM (SELECT DISTINCT r.golden_id
			           FROM (SELECT t.record_a FROM _cdp_todo t UNION SELECT t.record_b FROM _cdp_todo t) x(id)
			           JOIN @extschema@.record r ON r.record_id = x.id) g
			   JOIN @extschema@.record r ON r.golden_id = g.golden_id
			   LEFT JOIN @extschema@.match_key k ON k.record_id = r.record_id',
			CASE WHEN dob_pos IS NULL THEN 'NULL::text[]' ELSE pg_catalog.format('pg_catalog.array_agg(k.feat[%s])', dob_pos) END,
			CASE WHEN never_pos IS NULL THEN 'NULL::text[]'
			     ELSE 'pg_catalog.array_agg(ARRAY[' || (SELECT pg_catalog.string_agg(pg_catalog.format('k.feat[%s]', y.x), ', ' ORDER BY y.n)
			                                          FROM pg_catalog.unnest(never_pos) WITH ORDINALITY y(x, n)) || ']::text[])' END)
		  INTO u_rec, u_gold, u_dob, u_never;
		CREATE TEMP TABLE _cdp_plan ON COMMIT DROP AS
		SELECT lp.* FROM @extschema@._match_link_plan(
			(SELECT pg_catalog.array_agg(t.record_a ORDER BY t.ord) FROM _cdp_todo t),
			(SELECT pg_catalog.array_agg(t.record_b ORDER BY t.ord) FROM _cdp_todo t),
			(SELECT pg_catalog.array_agg(t.probability ORDER BY t.ord) FROM _cdp_todo t),
			(SELECT pg_catalog.array_agg(t.flags ORDER BY t.ord) FROM _cdp_todo t),
			u_rec, u_gold, u_dob, u_never, COALESCE(pg_catalog.cardinality(never_pos), 0),
			(SELECT pg_catalog.array_agg(d.record_a) FROM @extschema@.pair_decision d WHERE d.decision = 'no_match'),
			(SELECT pg_catalog.array_agg(d.record_b) FROM @extschema@.pair_decision d WHERE d.decision = 'no_match'),
			(SELECT pg_catalog.array_agg(h.record_a ORDER BY h.record_a, h.record_b) FROM @extschema@.household h),
			(SELECT pg_catalog.array_agg(h.record_b ORDER BY h.record_a, h.record_b) FROM @extschema@.household h),
			link_t, review_t,
			ARRAY['запись-заглушка', 'правило: разные идентификаторы, имя или дата рождения',
			      'решение «не совпадают» между этими людьми', 'записаны как родственники',
			      'у этих людей разные даты рождения']
			|| ARRAY(SELECT 'у этих людей разные ' || @extschema@._match_attr_label(y.x)
			           FROM pg_catalog.unnest(never_attr) WITH ORDINALITY y(x, n) ORDER BY y.n)) lp;
		SELECT already + pg_catalog.count(*) FILTER (WHERE lp.action = 'a'), pg_catalog.count(*) FILTER (WHERE lp.action = 'h')
		  INTO already, held FROM _cdp_plan lp;
		t1 := pg_catalog.clock_timestamp();
		times := times || pg_catalog.jsonb_build_object('plan_s', pg_catalog.round(EXTRACT(epoch FROM t1 - t0), 3));
		-- every link at once, in decision order (golden applies them as link_records would one by one)
		SELECT pg_catalog.array_agg(t.ord ORDER BY t.ord), @extschema@.link_records_many(
		         COALESCE(pg_catalog.array_agg(t.record_a ORDER BY t.ord), '{}'), COALESCE(pg_catalog.array_agg(t.record_b ORDER BY t.ord), '{}'),
		         pg_catalog.array_agg(pg_catalog.jsonb_build_object(
		           'by', 'run_matching', 'record_a', t.record_a, 'record_b', t.record_b, 'probability', t.probability,
		           'weight', pg_catalog.round(t.weight::numeric, 3), 'rule', a.settings -> 'blocking' -> t.rule,
		           'forced', t.flags & 256 <> 0, 'levels', t.levels, 'settings_version', a.version) ORDER BY t.ord))
		  INTO link_ord, link_res
		  FROM _cdp_plan lp JOIN _cdp_todo t ON t.ord = lp.ord
		 WHERE lp.action = 'l';
		-- golden refuses a link only when a no_match decision appeared since the plan was made
		SELECT pg_catalog.count(*) FILTER (WHERE x.g IS NOT NULL), pg_catalog.array_agg(x.o) FILTER (WHERE x.g IS NULL)
		  INTO linked, refused
		  FROM ROWS FROM (pg_catalog.unnest(link_ord), pg_catalog.unnest(link_res)) x(o, g);
		held := held + COALESCE(pg_catalog.cardinality(refused), 0);
		t0 := pg_catalog.clock_timestamp();
		times := times || pg_catalog.jsonb_build_object('merge_s', pg_catalog.round(EXTRACT(epoch FROM t0 - t1), 3));
		-- the review queue, in decision order (a decided pair stays decided)
		WITH ins AS (
			INSERT INTO @extschema@.match_review AS q (record_a, record_b, score, weight, levels, flags, version, reason)
			SELECT t.record_a, t.record_b, t.probability, t.weight, t.levels, t.flags, a.version, r.reason
			  FROM (SELECT lp.ord, lp.reason FROM _cdp_plan lp WHERE lp.action IN ('h', 'r')
			        UNION ALL
			        SELECT x.o, 'решение «не совпадают» между этими людьми' FROM pg_catalog.unnest(refused) x(o)) r
			  JOIN _cdp_todo t ON t.ord = r.ord
			 ORDER BY r.ord
			ON CONFLICT (record_a, record_b) DO UPDATE
			   SET score = excluded.score, weight = excluded.weight, levels = excluded.levels, flags = excluded.flags,
			       version = excluded.version, reason = excluded.reason
			 WHERE q.status = 'open'
			RETURNING q.xmax = 0 AS inserted)
		SELECT pg_catalog.count(*) FILTER (WHERE ins.inserted) INTO queued FROM ins;
		t1 := pg_catalog.clock_timestamp();
		times := times || pg_catalog.jsonb_build_object('review_s', pg_catalog.round(EXTRACT(epoch FROM t1 - t0), 3));
		DROP TABLE _cdp_todo;
		DROP TABLE _cdp_plan;
		t0 := t_link;
	ELSE
		-- strongest evidence first, so a weak pair never decides before a strong one
		FOR p IN SELECT s.* FROM _cdp_scored s WHERE s.golden_a <> s.golden_b
		          ORDER BY (s.flags & 256 <> 0) DESC, s.probability DESC, s.record_a, s.record_b LOOP
			i := i + 1;
			IF i % 50000 = 0 THEN
				RAISE NOTICE 'run_matching: % of % pairs decided (% linked, % queued)', i, candidates - already, linked, queued;
			END IF;
			-- a person's decision wins, both ways
			IF EXISTS (SELECT 1 FROM @extschema@.pair_decision d WHERE d.record_a = p.record_a AND d.record_b = p.record_b) THEN
				decided := decided + 1;
				CONTINUE;
			END IF;
			IF (SELECT r.golden_id FROM @extschema@.record r WHERE r.record_id = p.record_a)
			   = (SELECT r.golden_id FROM @extschema@.record r WHERE r.record_id = p.record_b) THEN
				already := already + 1;
				CONTINUE;
			END IF;
			why := NULL;
			IF p.flags & 1024 <> 0 THEN
				why := 'запись-заглушка';
			ELSIF p.flags & 512 <> 0 THEN
				why := 'правило: разные идентификаторы, имя или дата рождения';
			ELSIF p.probability >= link_t OR p.flags & 256 <> 0 THEN
				why := @extschema@._match_cannot_link(p.record_a, p.record_b, never_pos, never_attr, has_decisions, has_relations, dob_pos);
				IF why IS NULL THEN
					-- link_records returns NULL when a person's no_match decision forbids the join
					IF @extschema@.link_records(p.record_a, p.record_b, pg_catalog.jsonb_build_object(
						'by', 'run_matching', 'record_a', p.record_a, 'record_b', p.record_b, 'probability', p.probability, 'weight', pg_catalog.round(p.weight::numeric, 3),
						'rule', a.settings -> 'blocking' -> p.rule, 'forced', p.flags & 256 <> 0,
						'levels', p.levels, 'settings_version', a.version)) IS NOT NULL THEN
						linked := linked + 1;
						CONTINUE;
					END IF;
					why := 'решение «не совпадают» между этими людьми';
				END IF;
				held := held + 1;
			END IF;
			IF p.probability >= review_t OR why IS NOT NULL THEN
				IF @extschema@._match_to_review(a.version, p, why) THEN
					queued := queued + 1;
				END IF;
			END IF;
		END LOOP;
	END IF;
	t1 := pg_catalog.clock_timestamp();
	times := times || pg_catalog.jsonb_build_object('link_s', pg_catalog.round(EXTRACT(epoch FROM t1 - t0), 3));

	IF mode = 'full' THEN
		DELETE FROM @extschema@.match_queue q
		 USING ROWS FROM (pg_catalog.unnest(q_ids), pg_catalog.unnest(q_ats)) s(id, at), @extschema@.match_key k
		 WHERE q.record_id = s.id AND q.queued_at = s.at AND k.record_id = q.record_id;
	ELSE
		DELETE FROM @extschema@.match_queue q WHERE q.record_id = ANY (focus);
	END IF;
	DROP TABLE _cdp_scored;
	result := pg_catalog.jsonb_build_object('mode', mode, 'settings_version', a.version, 'trained', a.params IS NOT NULL,
		'processed', processed, 'candidates', candidates, 'already_same_person', already, 'linked', linked,
		'queued', queued, 'held_by_constraints', held, 'decided_by_people', decided, 'times', times);
	INSERT INTO @extschema@.match_run (mode, finished_at, result) VALUES (mode, pg_catalog.clock_timestamp(), result);
	RETURN result;
END $$;
COMMENT ON FUNCTION @extschema@._match_run(text, boolean) IS
	'internal: the body of run_matching; pairwise = true takes the reference path (one _match_cannot_link and link_records call per pair)';
REVOKE ALL ON FUNCTION @extschema@._match_run(text, boolean) FROM PUBLIC;

CREATE FUNCTION @extschema@.run_matching(mode text DEFAULT 'incremental') RETURNS jsonb
	LANGUAGE sql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	RETURN @extschema@._match_run(mode, false);
COMMENT ON FUNCTION @extschema@.run_matching(text) IS
	'matches the records in cdp.match_queue (''incremental'') or every record (''full''): decides every pair in memory (_match_link_plan), links those over the link threshold in one cdp.link_records_many call, queues unsure ones for review; returns counts and step times; a concurrent call returns at once with "skipped"';
REVOKE ALL ON FUNCTION @extschema@.run_matching(text) FROM PUBLIC;

CREATE VIEW @extschema@.matching_progress AS
	SELECT r.run_id, r.mode, r.started_at, r.finished_at, r.result,
	       (SELECT pg_catalog.count(*) FROM @extschema@.match_queue) AS waiting_in_queue
	  FROM @extschema@.match_run r
	 ORDER BY r.run_id DESC;
COMMENT ON VIEW @extschema@.matching_progress IS 'finished matching runs, newest first, with their counts and step times, and what is waiting in cdp.match_queue';

CREATE FUNCTION @extschema@.match_record(record_id bigint)
	RETURNS TABLE (candidate bigint, golden_id bigint, probability float8, weight float8, decision text, summary text)
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	a record := @extschema@._match_active();
	link_t float8 := (a.settings ->> 'link_threshold')::float8;
	g0 bigint;
BEGIN
	IF record_id IS NULL THEN
		RAISE EXCEPTION 'record_id must not be null' USING ERRCODE = '22004';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM @extschema@.record r WHERE r.record_id = match_record.record_id) THEN
		RAISE EXCEPTION 'record "%" does not exist', record_id USING ERRCODE = '22023';
	END IF;
	-- a record changed since matching last saw it (still queued) is compared as it is now
	IF NOT EXISTS (SELECT 1 FROM @extschema@.match_key k WHERE k.record_id = match_record.record_id AND k.version = a.version)
	   OR EXISTS (SELECT 1 FROM @extschema@.match_queue q WHERE q.record_id = match_record.record_id) THEN
		PERFORM @extschema@._match_refresh_keys(ARRAY[record_id]);
	END IF;
	-- the block mates are read without their golden ids (no join per mate); the few pairs kept
	-- read theirs
	g0 := (SELECT r.golden_id FROM @extschema@.record r WHERE r.record_id = match_record.record_id);
	RETURN QUERY
	SELECT x.cand, rc.golden_id, x.probability, x.weight,
	       CASE WHEN rc.golden_id = g0 THEN 'same_person'
	            WHEN x.flags & (512 | 1024) <> 0 THEN 'review'
	            WHEN x.probability >= link_t OR x.flags & 256 <> 0 THEN 'link'
	            ELSE 'review' END,
	       @extschema@._match_summary(a.settings, x.levels)
	  FROM (SELECT CASE WHEN p.record_a = match_record.record_id THEN p.record_b ELSE p.record_a END AS cand,
	               p.probability, p.weight, p.flags, p.levels
	          FROM @extschema@._match_walk('score', @extschema@._match_query(ARRAY[record_id], false), a.program,
	                                       a.version, (a.settings ->> 'review_threshold')::float8, (a.settings ->> 'max_block_size')::int, 0,
	                                       ARRAY[record_id]) p) x
	  JOIN @extschema@.record rc ON rc.record_id = x.cand
	 ORDER BY x.probability DESC, 1;
END $$;
COMMENT ON FUNCTION @extschema@.match_record(bigint) IS
	'candidate matches of one record at once, without linking (for the reception desk): probability, link/review/same_person and a Russian summary; e.g. SELECT * FROM match_record(42)';

CREATE FUNCTION @extschema@.find_patient(attrs jsonb, max_results int DEFAULT 10)
	RETURNS TABLE (golden_id bigint, probability float8, record_id bigint, summary text)
	LANGUAGE plpgsql STABLE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	a record := @extschema@._match_active();
	probe @extschema@.record;
	f record;
BEGIN
	IF attrs IS NULL OR pg_catalog.jsonb_typeof(attrs) <> 'object' THEN
		RAISE EXCEPTION 'attrs must be a JSON object' USING ERRCODE = '22023';
	END IF;
	IF max_results IS NULL OR max_results < 1 OR max_results > 1000 THEN
		RAISE EXCEPTION 'max_results must be between 1 and 1000' USING ERRCODE = '22023';
	END IF;
	-- the probe as a record row, normalised by ingest's own normaliser (invalid values set aside)
	probe := pg_catalog.jsonb_populate_record(NULL::@extschema@.record,
		@extschema@.normalize_attrs(attrs, true) || '{"record_id": -1, "golden_id": -1}');
	EXECUTE @extschema@._match_feature_query(a.settings, '(SELECT ($1).*) r') INTO f USING probe;
	-- the summary is written for the rows returned only
	RETURN QUERY
	SELECT t.g, t.probability, t.rid, @extschema@._match_summary(a.settings, t.levels) FROM (
	SELECT z.g, z.probability, z.rid, z.levels FROM (
	SELECT DISTINCT ON (x.g) x.g, x.probability, x.rid, x.levels
	  FROM (SELECT rc.golden_id AS g, y.probability, y.rid, y.levels
	          FROM (SELECT w.probability, w.levels, CASE WHEN w.record_a = -1 THEN w.record_b ELSE w.record_a END AS rid
	                  FROM @extschema@._match_walk('cross',
	                         pg_catalog.format('SELECT -1::bigint, -1::bigint, %s::int, %L::text[], %L::text[] UNION ALL '
	                                           'SELECT k.record_id, NULL::bigint, k.flags, k.feat, k.bk FROM @extschema@.match_key k WHERE k.record_id IN (SELECT m.record_id FROM @extschema@.match_block m WHERE m.bk = ANY (%L::text[]))',
	                                           f.flags, f.feat, f.bk, f.bk),
	                         a.program, a.version, 0.01 * (a.settings ->> 'review_threshold')::float8, 0, 0, ARRAY[-1]::bigint[]) w
	                 WHERE w.probability >= 0.01 * (a.settings ->> 'review_threshold')::float8) y
	          -- block mates are read without golden ids; the pairs kept read theirs
	          JOIN @extschema@.record rc ON rc.record_id = y.rid) x
	 ORDER BY x.g, x.probability DESC) z
	 ORDER BY z.probability DESC, z.g
	 LIMIT max_results) t
	 ORDER BY t.probability DESC, t.g;
END $$;
COMMENT ON FUNCTION @extschema@.find_patient(jsonb, int) IS
	'is this patient already with us? candidate persons for a set of attrs (stores nothing), best record per person with probability and a Russian summary; e.g. find_patient(''{"family_name":"Иванова","birth_date":"1980-03-05"}'')';

/* the clinic default, installed as version 1 */
INSERT INTO @extschema@.match_settings (settings, program, active)
	SELECT d, @extschema@._match_program(d, NULL), true
	  FROM (SELECT @extschema@._match_expand(@extschema@._match_default_settings()) AS d) x;
