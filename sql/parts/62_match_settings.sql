/*
 * sql/parts/62_match_settings.sql: matching: the settings document, expanded and validated on save.
 */

/* ---------------------------------------------------------------- settings */

-- _match_default_settings: the clinic document.  Its blocking rules (issue 12, session 40) block
-- no pair on a family and a given name alone: on a population where the commonest names are
-- shared by thousands (Иванов Иван), that rule and its any_order twin were 112M of 165M candidate
-- pairs, and EM, trained on those namesakes, learnt that a birth date barely matters.  The rules
-- that narrow them (the patronymic or its initial, the birth year, the day and month, the city)
-- and the phone's last seven digits find almost every link the name rules found
-- (doc/benchmarks-match.md, block41 and look42); the two name rules stay as lookup_blocking
-- rules, keyed for find_patient's lookup by a name alone but never walked.
CREATE FUNCTION cdp_internal._match_default_settings() RETURNS jsonb
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
		["birth_date", "patronymic.key"],
		["birth_date", "given_name.initial"],
		["any_order", "family_name.key", "given_name.key", "patronymic.key"],
		["family_name.key", "given_name.key", "patronymic.initial"],
		["family_name.key", "given_name.key", "birth_date.month_day"],
		["any_order", "family_name.key", "given_name.key", "birth_date.year"],
		["family_name.key", "given_name.key", "city"],
		["phones"],
		["emails"],
		["snils"],
		["oms"],
		["vk"],
		["telegram"],
		["phones.last7"]
	],
	"lookup_blocking": [
		["family_name.key", "given_name.key"],
		["any_order", "family_name.key", "given_name.key"]
	],
	"link_threshold": 0.97,
	"review_threshold": 0.8,
	"rules": {"same_id_match": ["snils", "oms", "phones"], "different_id_never": ["snils"],
	          "disagree_never": ["given_name", "patronymic", "birth_date"]},
	"name_roles": true,
	"placeholder_names": ["неизвестный", "неизвестная", "неизвестно", "аноним", "анонимно", "анонимный",
		"тест", "тестов", "тестова", "тестович", "тестовна", "тестовый", "test", "unknown", "noname", "нет"],
	"suspicious_min_persons": 10,
	"max_block_size": 5000,
	"max_person_records": 20,
	"person_support": 0.33,
	"review_limit": 5000,
	"max_rule_pairs": 0,
	"evidence_floor": true,
	"rare_name_links": false
}$json$::jsonb;
COMMENT ON FUNCTION cdp_internal._match_default_settings() IS 'internal: the settings document installed as version 1 (clinic fields)';

-- _match_fail: raises the configuration error 22023 naming the JSON path.
CREATE FUNCTION cdp_internal._match_fail(path text, message text, hint text DEFAULT NULL) RETURNS void
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RAISE EXCEPTION 'invalid matching settings at "%"', path
		USING ERRCODE = '22023', DETAIL = message,
		      HINT = COALESCE(hint, 'See doc/matching.md for the settings document.');
END $$;
COMMENT ON FUNCTION cdp_internal._match_fail(text, text, text) IS 'internal: raises 22023 for a bad settings document, naming the JSON path';

-- _match_attr_column: the cdp.record column (or handles/extra key) an attrs key lands in.  Mirrors
-- the alias table of ingest (src/ingest_attrs.c, attr_aliases) so that settings may name fields as
-- the CSV header does; the compilers of src/match_compile.c resolve references with the same table.
CREATE FUNCTION cdp_internal._match_attr_column(attr text) RETURNS text
	AS 'MODULE_PATHNAME', 'cdp_match_attr_column'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal._match_attr_column(text) IS 'internal: the cdp.record column an attrs alias lands in (ingest''s aliases), or the key itself (C)';

-- _match_constants: the constants of src/match.h that SQL needs, so that none is written here:
-- the limits a settings document must keep (max_comparisons, max_levels per comparison, max_rules
-- of "blocking" and "candidate_blocking" together, max_lookup_rules, max_rule_keys per rule, max_features, max_osa for "le", max_prefix for "n"), the placeholder flag of a record (record_placeholder) and
-- the separator of a multi-valued feature (value_sep).
CREATE FUNCTION cdp_internal._match_constants() RETURNS jsonb
	AS 'MODULE_PATHNAME', 'cdp_match_constants'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal._match_constants() IS 'internal: limits and codes of the matching kernel, from its C header (C)';

CREATE FUNCTION cdp_internal._match_clinic_comparator(col text) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN CASE col
		WHEN 'family_name' THEN 'name' WHEN 'given_name' THEN 'name' WHEN 'patronymic' THEN 'name'
		WHEN 'birth_date' THEN 'date' WHEN 'sex' THEN 'exact' WHEN 'phones' THEN 'phone'
		WHEN 'emails' THEN 'email' WHEN 'snils' THEN 'id' WHEN 'oms' THEN 'id'
		WHEN 'address' THEN 'string' WHEN 'city' THEN 'string' END;
COMMENT ON FUNCTION cdp_internal._match_clinic_comparator(text) IS 'internal: the comparator of a cdp.record column (NULL for extra/handles keys)';

-- _match_default_levels: the levels a comparator gets when the document gives none.
CREATE FUNCTION cdp_internal._match_default_levels(comparator text) RETURNS jsonb
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN CASE comparator
		WHEN 'name' THEN '[{"if":"exact"},{"if":"key"},{"if":"jw","ge":0.92},{"if":"jw","ge":0.8}]'
		WHEN 'string' THEN '[{"if":"exact"},{"if":"jw","ge":0.92},{"if":"jw","ge":0.8}]'
		WHEN 'date' THEN '[{"if":"exact"},{"if":"day_month_swapped"},{"if":"osa","le":1},{"if":"same_year"}]'
		WHEN 'phone' THEN '[{"if":"exact"},{"if":"last7"}]'
		WHEN 'email' THEN '[{"if":"exact"},{"if":"jw","ge":0.95},{"if":"jw","ge":0.88}]'
		WHEN 'id' THEN '[{"if":"exact"},{"if":"osa","le":1}]'
		WHEN 'exact' THEN '[{"if":"exact"}]' END::jsonb;
COMMENT ON FUNCTION cdp_internal._match_default_levels(text) IS 'internal: default comparison levels of each comparator';

-- _match_op_code: level predicate name -> C op code (src/match.h MATCH_OP_*), NULL when the
-- comparator does not allow it; the table is match_ops of src/match_compile.c.
CREATE FUNCTION cdp_internal._match_op_code(op text, comparator text) RETURNS int
	AS 'MODULE_PATHNAME', 'cdp_match_op_code'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal._match_op_code(text, text) IS 'internal: C op code of a level predicate allowed for a comparator (NULL when not allowed) (C)';

-- _match_guess_comparator: for a settings document that only names fields, the comparator of an
-- extra/handles key guessed from up to 2000 stored values (dates, digit ids, or names/strings).
CREATE FUNCTION cdp_internal._match_guess_comparator(key text) RETURNS text
	LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n int; ndate int; ndigit int; avglen float8;
BEGIN
	SELECT pg_catalog.count(*),
	       pg_catalog.count(*) FILTER (WHERE cdp_internal._match_date(v) IS NOT NULL),
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
COMMENT ON FUNCTION cdp_internal._match_guess_comparator(text) IS 'internal: comparator guessed from the stored values of an extra key';

-- _match_expand: validates a settings document and returns it complete (fields-only documents
-- expanded, default levels and thresholds filled in).  Every error is 22023 naming the JSON path.
CREATE FUNCTION cdp_internal._match_expand(s jsonb) RETURNS jsonb
	LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	d jsonb := cdp_internal._match_default_settings();
	lim jsonb := cdp_internal._match_constants();
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
	crules jsonb := '[]';
	lrules jsonb := '[]';
	list text;
	rule jsonb;
	item text;
	link float8;
	review float8;
	nf int;
BEGIN
	IF s IS NULL OR pg_catalog.jsonb_typeof(s) <> 'object' THEN
		PERFORM cdp_internal._match_fail('$', 'The settings must be a JSON object.');
	END IF;
	FOR k IN SELECT pg_catalog.jsonb_object_keys(s) LOOP
		IF k NOT IN ('fields', 'comparisons', 'blocking', 'link_threshold', 'review_threshold', 'rules',
		             'placeholder_names', 'suspicious_min_persons', 'max_block_size', 'lambda', 'name_roles',
		             'max_person_records', 'person_support', 'review_limit', 'max_rule_pairs', 'skipped_blocking', 'evidence_floor',
		             'rare_name_links', 'candidate_blocking', 'lookup_blocking') THEN
			PERFORM cdp_internal._match_fail('$.' || k, pg_catalog.format('The key "%s" is not a settings key.', k),
				'Known keys: fields, comparisons, blocking, candidate_blocking, lookup_blocking, link_threshold, review_threshold, rules, placeholder_names, suspicious_min_persons, max_block_size, lambda, name_roles, max_person_records, person_support, review_limit, max_rule_pairs, evidence_floor, rare_name_links.');
		END IF;
	END LOOP;
	IF s ? 'fields' AND s ? 'comparisons' THEN
		PERFORM cdp_internal._match_fail('$.fields', 'Give either "fields" or "comparisons", not both.');
	END IF;
	IF NOT (s ? 'fields' OR s ? 'comparisons') THEN
		PERFORM cdp_internal._match_fail('$', 'The settings name no fields to compare.',
			'Add "fields": ["surname", "given_name", ...] or a "comparisons" list.');
	END IF;

	-- fields-only: one comparison per field, comparator from the column or guessed from the data
	IF s ? 'fields' THEN
		IF pg_catalog.jsonb_typeof(s -> 'fields') <> 'array' OR pg_catalog.jsonb_array_length(s -> 'fields') = 0 THEN
			PERFORM cdp_internal._match_fail('$.fields', 'The fields must be a non-empty array of attr names.');
		END IF;
		FOR i IN 0 .. pg_catalog.jsonb_array_length(s -> 'fields') - 1 LOOP
			IF pg_catalog.jsonb_typeof(s -> 'fields' -> i) <> 'string' OR (s -> 'fields' ->> i) = '' THEN
				PERFORM cdp_internal._match_fail(pg_catalog.format('$.fields[%s]', i), 'A field must be a non-empty string.');
			END IF;
			attr := cdp_internal._match_attr_column(s -> 'fields' ->> i);
			cmpname := COALESCE(cdp_internal._match_clinic_comparator(attr), cdp_internal._match_guess_comparator(attr));
			comps := comps || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
				'attr', attr, 'comparator', cmpname, 'tf', cmpname IN ('name', 'string')));
		END LOOP;
		-- a family and a given name both compared as names: each also agrees when the two are
		-- exchanged («Hall Isla» / «Isla Hall», a form read in the other order; issue 12), the level
		-- after "key" as in the shipped default
		IF comps @> '[{"attr": "family_name", "comparator": "name"}]' AND comps @> '[{"attr": "given_name", "comparator": "name"}]' THEN
			lvs := cdp_internal._match_default_levels('name');
			SELECT pg_catalog.jsonb_agg(CASE WHEN x.c ->> 'attr' IN ('family_name', 'given_name')
			         THEN x.c || pg_catalog.jsonb_build_object('levels',
			                pg_catalog.jsonb_build_array(lvs -> 0, lvs -> 1,
			                  pg_catalog.jsonb_build_object('if', 'swapped', 'with',
			                    CASE x.c ->> 'attr' WHEN 'family_name' THEN 'given_name' ELSE 'family_name' END))
			                || ((lvs - 0) - 0))
			         ELSE x.c END ORDER BY x.o)
			  INTO comps FROM pg_catalog.jsonb_array_elements(comps) WITH ORDINALITY x(c, o);
		END IF;
	ELSE
		comps := s -> 'comparisons';
		IF pg_catalog.jsonb_typeof(comps) <> 'array' OR pg_catalog.jsonb_array_length(comps) = 0 THEN
			PERFORM cdp_internal._match_fail('$.comparisons', 'The comparisons must be a non-empty array.');
		END IF;
	END IF;
	IF pg_catalog.jsonb_array_length(comps) > (lim ->> 'max_comparisons')::int THEN
		PERFORM cdp_internal._match_fail('$.comparisons', pg_catalog.format('At most %s comparisons are supported.', lim ->> 'max_comparisons'));
	END IF;

	out := '[]';
	FOR i IN 0 .. pg_catalog.jsonb_array_length(comps) - 1 LOOP
		comp := comps -> i;
		IF pg_catalog.jsonb_typeof(comp) <> 'object' THEN
			PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s]', i), 'A comparison must be an object with "attr" and "comparator".');
		END IF;
		FOR k IN SELECT pg_catalog.jsonb_object_keys(comp) LOOP
			IF k NOT IN ('attr', 'comparator', 'levels', 'tf', 'label') THEN
				PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s].%s', i, k), pg_catalog.format('The key "%s" is not a comparison key.', k),
					'Known keys: attr, comparator, levels, tf, label.');
			END IF;
		END LOOP;
		IF pg_catalog.jsonb_typeof(comp -> 'attr') IS DISTINCT FROM 'string' OR (comp ->> 'attr') !~ '^[A-Za-z_][A-Za-z0-9_]{0,62}$' THEN
			PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s].attr', i), 'The attr must be a name of letters, digits and underscores.');
		END IF;
		attr := cdp_internal._match_attr_column(comp ->> 'attr');
		IF attr = ANY (attrs) THEN
			PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s].attr', i), pg_catalog.format('The attr "%s" is compared twice.', attr));
		END IF;
		attrs := attrs || attr;
		cmpname := COALESCE(comp ->> 'comparator', cdp_internal._match_clinic_comparator(attr));
		IF cmpname IS NULL OR cmpname NOT IN ('name', 'string', 'date', 'phone', 'email', 'id', 'exact') THEN
			PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s].comparator', i),
				pg_catalog.format('The comparator "%s" is unknown.', COALESCE(cmpname, 'null')),
				'Use one of name, string, date, phone, email, id, exact.');
		END IF;
		IF comp ? 'tf' AND pg_catalog.jsonb_typeof(comp -> 'tf') <> 'boolean' THEN
			PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s].tf', i), 'The tf flag must be true or false.');
		END IF;
		lvs := COALESCE(comp -> 'levels', cdp_internal._match_default_levels(cmpname));
		IF pg_catalog.jsonb_typeof(lvs) <> 'array' OR pg_catalog.jsonb_array_length(lvs) NOT BETWEEN 1 AND (lim ->> 'max_levels')::int THEN
			PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s].levels', i),
				pg_catalog.format('The levels must be an array of 1 to %s levels ("else" is implicit).', lim ->> 'max_levels'));
		END IF;
		FOR j IN 0 .. pg_catalog.jsonb_array_length(lvs) - 1 LOOP
			lv := lvs -> j;
			IF pg_catalog.jsonb_typeof(lv) = 'string' THEN
				lv := pg_catalog.jsonb_build_object('if', lv #>> '{}');
				lvs := pg_catalog.jsonb_set(lvs, ARRAY[j::text], lv);
			END IF;
			IF pg_catalog.jsonb_typeof(lv) <> 'object' OR cdp_internal._match_op_code(lv ->> 'if', cmpname) IS NULL THEN
				PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s].levels[%s]', i, j),
					pg_catalog.format('The level "%s" is unknown or not allowed for comparator "%s".', COALESCE(lv ->> 'if', lv::text), cmpname),
					'Levels: exact, key (name), swapped or cross with "with" (name), jw with "ge", osa with "le", day_month_swapped, same_year (date), last7 (phone), initial, prefix with "n".');
			END IF;
			IF (lv ->> 'if') = 'jw' AND NOT (pg_catalog.jsonb_typeof(lv -> 'ge') = 'number' AND (lv ->> 'ge')::float8 > 0 AND (lv ->> 'ge')::float8 <= 1) THEN
				PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s].levels[%s].ge', i, j), 'A jw level needs "ge", a number in (0, 1].');
			END IF;
			IF (lv ->> 'if') = 'osa' AND NOT (pg_catalog.jsonb_typeof(lv -> 'le') = 'number' AND (lv ->> 'le')::float8 BETWEEN 0 AND (lim ->> 'max_osa')::int) THEN
				PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s].levels[%s].le', i, j),
					pg_catalog.format('An osa level needs "le", an edit distance from 0 to %s.', lim ->> 'max_osa'));
			END IF;
			IF (lv ->> 'if') IN ('swapped', 'cross') AND NOT (pg_catalog.jsonb_typeof(lv -> 'with') = 'string'
			   AND EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(comps) x
			                WHERE cdp_internal._match_attr_column(x ->> 'attr') = cdp_internal._match_attr_column(lv ->> 'with')
			                  AND COALESCE(x ->> 'comparator', cdp_internal._match_clinic_comparator(x ->> 'attr')) = 'name'
			                  AND cdp_internal._match_attr_column(x ->> 'attr') <> attr)) THEN
				PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s].levels[%s].with', i, j),
					pg_catalog.format('A %s level needs "with", another compared attr of comparator "name".', lv ->> 'if'));
			END IF;
			IF (lv ->> 'if') = 'prefix' AND NOT (pg_catalog.jsonb_typeof(lv -> 'n') = 'number' AND (lv ->> 'n')::float8 BETWEEN 1 AND (lim ->> 'max_prefix')::int) THEN
				PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s].levels[%s].n', i, j),
					pg_catalog.format('A prefix level needs "n", a length from 1 to %s.', lim ->> 'max_prefix'));
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
			IF comps -> i ->> 'comparator' IN ('date', 'id', 'phone', 'email') AND pg_catalog.jsonb_array_length(rules) < (lim ->> 'max_rules')::int THEN
				rules := rules || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_array(comps -> i ->> 'attr'));
			END IF;
		END LOOP;
		IF pg_catalog.jsonb_array_length(rules) = 0 THEN
			rules := pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_array(comps -> 0 ->> 'attr'));
		END IF;
		rules := (SELECT pg_catalog.jsonb_agg(r) FROM (SELECT r FROM pg_catalog.jsonb_array_elements(rules) WITH ORDINALITY e(r, o) ORDER BY o LIMIT (lim ->> 'max_rules')::int) x);
	ELSE
		PERFORM cdp_internal._match_fail('$.blocking', 'A settings document with "comparisons" needs "blocking" rules.',
			'Example: "blocking": [["family_name.key", "birth_date.year"], ["phones"]].');
	END IF;
	-- candidate_blocking: rules that find candidate pairs but never train (Splink's prediction-only
	-- blocking rules; issue 12, session 26); given, or for fields-only documents without "blocking"
	-- each name field of the first five alone, by its key: a record that lost one field and carries
	-- a slip in another shares no two-field block with its person.  Training blocks only on the
	-- "blocking" rules, so these change no parameter; configure_matching leaves out the ones that
	-- yield more pairs than max_rule_pairs (one name alone: past a few thousand records).  A name a
	-- household shares (the family name; the patronymic, siblings) is not blocked on alone when the
	-- document compares an address or phones: it would propose a household's pairs, whose shared
	-- address scores them high where no disagree_never rule holds a different given name
	IF s ? 'candidate_blocking' THEN
		crules := s -> 'candidate_blocking';
	ELSIF s ? 'fields' AND NOT s ? 'blocking' THEN
		FOR i IN 0 .. LEAST(pg_catalog.jsonb_array_length(comps), 5) - 1 LOOP
			IF comps -> i ->> 'comparator' = 'name'
			   AND NOT (comps -> i ->> 'attr' IN ('family_name', 'patronymic')
			            AND (comps @> '[{"attr": "address"}]' OR comps @> '[{"attr": "phones"}]'))
			   AND pg_catalog.jsonb_array_length(rules) + pg_catalog.jsonb_array_length(crules) < (lim ->> 'max_rules')::int THEN
				crules := crules || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_array((comps -> i ->> 'attr') || '.key'));
			END IF;
		END LOOP;
	END IF;
	IF pg_catalog.jsonb_typeof(rules) <> 'array' OR pg_catalog.jsonb_array_length(rules) NOT BETWEEN 1 AND (lim ->> 'max_rules')::int THEN
		PERFORM cdp_internal._match_fail('$.blocking', pg_catalog.format('The blocking rules must be an array of 1 to %s rules.', lim ->> 'max_rules'));
	END IF;
	IF pg_catalog.jsonb_typeof(crules) <> 'array' OR pg_catalog.jsonb_array_length(rules) + pg_catalog.jsonb_array_length(crules) > (lim ->> 'max_rules')::int THEN
		PERFORM cdp_internal._match_fail('$.candidate_blocking',
			pg_catalog.format('The candidate_blocking rules must be an array, with "blocking" at most %s rules together.', lim ->> 'max_rules'),
			'Example: "candidate_blocking": [["given_name.key"], ["family_name.key"]].');
	END IF;
	-- lookup_blocking: rules whose keys are computed and stored like the others' (numbered after
	-- them) so that find_patient and find_patient_namesakes search by them, but which never yield a
	-- pair: no run, match_record or training walks them, and blocking_report counts none (issue 12,
	-- session 40: a desk's lookup by a family and a given name alone, without blocking on them)
	IF s ? 'lookup_blocking' THEN
		lrules := s -> 'lookup_blocking';
		IF pg_catalog.jsonb_typeof(lrules) <> 'array' OR pg_catalog.jsonb_array_length(lrules) > (lim ->> 'max_lookup_rules')::int THEN
			PERFORM cdp_internal._match_fail('$.lookup_blocking',
				pg_catalog.format('The lookup_blocking rules must be an array of at most %s rules.', lim ->> 'max_lookup_rules'),
				'Example: "lookup_blocking": [["family_name.key", "given_name.key"]].');
		END IF;
	END IF;
	SELECT pg_catalog.array_agg(c ->> 'attr') INTO cols FROM pg_catalog.jsonb_array_elements(comps) c;
	FOREACH list IN ARRAY ARRAY['blocking', 'candidate_blocking', 'lookup_blocking'] LOOP
		FOR i IN 0 .. pg_catalog.jsonb_array_length(CASE list WHEN 'blocking' THEN rules WHEN 'candidate_blocking' THEN crules ELSE lrules END) - 1 LOOP
			rule := CASE list WHEN 'blocking' THEN rules WHEN 'candidate_blocking' THEN crules ELSE lrules END -> i;
			nf := CASE WHEN pg_catalog.jsonb_typeof(rule) = 'array' AND (rule ->> 0) = 'any_order' THEN 1 ELSE 0 END;
			IF pg_catalog.jsonb_typeof(rule) <> 'array' OR pg_catalog.jsonb_array_length(rule) - nf NOT BETWEEN 1 + nf AND (lim ->> 'max_rule_keys')::int THEN
				PERFORM cdp_internal._match_fail(pg_catalog.format('$.%s[%s]', list, i),
					pg_catalog.format('A blocking rule must be an array of 1 to %s keys.', lim ->> 'max_rule_keys'));
			END IF;
			FOR j IN nf .. pg_catalog.jsonb_array_length(rule) - 1 LOOP
				item := rule ->> j;
				IF item IS NULL OR pg_catalog.split_part(item, '.', 2) NOT IN ('', 'key', 'year', 'month_day', 'initial', 'last7', 'prefix3', 'phonetic')
				   OR NOT (cdp_internal._match_attr_column(pg_catalog.split_part(item, '.', 1)) = ANY (cols)) THEN
					PERFORM cdp_internal._match_fail(pg_catalog.format('$.%s[%s][%s]', list, i, j),
						pg_catalog.format('The blocking key "%s" does not name a compared attr with a known transform.', COALESCE(item, 'null')),
						'A key is "attr" or "attr.key", "attr.phonetic", "attr.year", "attr.month_day", "attr.initial", "attr.last7", "attr.prefix3", where attr is compared.');
				END IF;
				IF pg_catalog.split_part(item, '.', 2) IN ('key', 'phonetic')
				   AND (SELECT c ->> 'comparator' FROM pg_catalog.jsonb_array_elements(comps) c WHERE c ->> 'attr' = cdp_internal._match_attr_column(pg_catalog.split_part(item, '.', 1))) <> 'name' THEN
					PERFORM cdp_internal._match_fail(pg_catalog.format('$.%s[%s][%s]', list, i, j), 'The ".key" and ".phonetic" transforms need an attr with the "name" comparator.');
				END IF;
			END LOOP;
		END LOOP;
	END LOOP;

	-- a document without a link threshold links at 0.9; the shipped clinic document sets its own
	-- (0.97: on a name-dense population, links scored 0.9 to 0.95 were 86 % right; issue 12, session 40)
	link := COALESCE((s ->> 'link_threshold')::float8, 0.9);
	review := COALESCE((s ->> 'review_threshold')::float8, (d ->> 'review_threshold')::float8);
	IF s ? 'link_threshold' AND pg_catalog.jsonb_typeof(s -> 'link_threshold') <> 'number' OR NOT (link > 0 AND link < 1) THEN
		PERFORM cdp_internal._match_fail('$.link_threshold', 'The link threshold must be a probability strictly between 0 and 1.');
	END IF;
	IF s ? 'review_threshold' AND pg_catalog.jsonb_typeof(s -> 'review_threshold') <> 'number' OR NOT (review > 0 AND review < 1) THEN
		PERFORM cdp_internal._match_fail('$.review_threshold', 'The review threshold must be a probability strictly between 0 and 1.');
	END IF;
	IF review > link THEN
		PERFORM cdp_internal._match_fail('$.review_threshold', pg_catalog.format('The review threshold %s is above the link threshold %s.', review, link));
	END IF;

	-- deterministic rules name compared attrs of comparator id
	IF s ? 'rules' THEN
		IF pg_catalog.jsonb_typeof(s -> 'rules') <> 'object' THEN
			PERFORM cdp_internal._match_fail('$.rules', 'The rules must be an object with "same_id_match" and "different_id_never" lists.');
		END IF;
		FOR k IN SELECT pg_catalog.jsonb_object_keys(s -> 'rules') LOOP
			IF k NOT IN ('same_id_match', 'different_id_never', 'disagree_never') OR pg_catalog.jsonb_typeof(s -> 'rules' -> k) <> 'array' THEN
				PERFORM cdp_internal._match_fail('$.rules.' || k, 'Rules are "same_id_match", "different_id_never" and "disagree_never", each a list of compared attrs.');
			END IF;
			FOR j IN 0 .. pg_catalog.jsonb_array_length(s -> 'rules' -> k) - 1 LOOP
				IF NOT (cdp_internal._match_attr_column(s -> 'rules' -> k ->> j) = ANY (cols)) THEN
					PERFORM cdp_internal._match_fail(pg_catalog.format('$.rules.%s[%s]', k, j),
						pg_catalog.format('The attr "%s" is not compared.', s -> 'rules' -> k ->> j));
				END IF;
			END LOOP;
		END LOOP;
	END IF;
	FOREACH k IN ARRAY ARRAY['suspicious_min_persons', 'max_block_size'] LOOP
		IF s ? k AND NOT (pg_catalog.jsonb_typeof(s -> k) = 'number' AND (s ->> k)::float8 >= 2 AND (s ->> k)::float8 <= 1000000) THEN
			PERFORM cdp_internal._match_fail('$.' || k, pg_catalog.format('The %s must be a number from 2 to 1000000.', k));
		END IF;
	END LOOP;
	IF s ? 'max_person_records' AND NOT (pg_catalog.jsonb_typeof(s -> 'max_person_records') = 'number'
	   AND (s ->> 'max_person_records')::float8 = pg_catalog.trunc((s ->> 'max_person_records')::float8)
	   AND (s ->> 'max_person_records')::float8 BETWEEN 0 AND 1000000) THEN
		PERFORM cdp_internal._match_fail('$.max_person_records', 'The max_person_records must be a whole number from 0 (no bound) to 1000000.');
	END IF;
	IF s ? 'person_support' AND NOT (pg_catalog.jsonb_typeof(s -> 'person_support') = 'number'
	   AND (s ->> 'person_support')::float8 BETWEEN 0 AND 1) THEN
		PERFORM cdp_internal._match_fail('$.person_support', 'The person_support must be a share from 0 (off) to 1.');
	END IF;
	IF s ? 'review_limit' AND NOT (pg_catalog.jsonb_typeof(s -> 'review_limit') = 'number'
	   AND (s ->> 'review_limit')::float8 = pg_catalog.trunc((s ->> 'review_limit')::float8)
	   AND (s ->> 'review_limit')::float8 BETWEEN 0 AND 100000000) THEN
		PERFORM cdp_internal._match_fail('$.review_limit', 'The review_limit must be a whole number from 0 to 100000000.');
	END IF;
	IF s ? 'evidence_floor' AND pg_catalog.jsonb_typeof(s -> 'evidence_floor') <> 'boolean' THEN
		PERFORM cdp_internal._match_fail('$.evidence_floor', 'The evidence_floor flag must be true or false.');
	END IF;
	IF s ? 'rare_name_links' AND pg_catalog.jsonb_typeof(s -> 'rare_name_links') <> 'boolean' THEN
		PERFORM cdp_internal._match_fail('$.rare_name_links', 'The rare_name_links flag must be true or false.');
	END IF;
	IF s ? 'max_rule_pairs' AND NOT (pg_catalog.jsonb_typeof(s -> 'max_rule_pairs') = 'number'
	   AND (s ->> 'max_rule_pairs')::float8 = pg_catalog.trunc((s ->> 'max_rule_pairs')::float8)
	   AND (s ->> 'max_rule_pairs')::float8 BETWEEN 0 AND 1e15) THEN
		PERFORM cdp_internal._match_fail('$.max_rule_pairs', 'The max_rule_pairs must be a whole number, 0 for the automatic bound (20 pairs per record, at least 1000000).');
	END IF;
	IF s ? 'lambda' AND NOT (pg_catalog.jsonb_typeof(s -> 'lambda') = 'number' AND (s ->> 'lambda')::float8 > 0 AND (s ->> 'lambda')::float8 < 1) THEN
		PERFORM cdp_internal._match_fail('$.lambda', 'The lambda (prior match probability of a random pair) must be strictly between 0 and 1.');
	END IF;
	IF s ? 'name_roles' AND pg_catalog.jsonb_typeof(s -> 'name_roles') <> 'boolean' THEN
		PERFORM cdp_internal._match_fail('$.name_roles', 'The name_roles flag must be true or false.');
	END IF;
	IF s ? 'placeholder_names' AND pg_catalog.jsonb_typeof(s -> 'placeholder_names') <> 'array' THEN
		PERFORM cdp_internal._match_fail('$.placeholder_names', 'The placeholder names must be an array of strings.');
	END IF;

	RETURN pg_catalog.jsonb_build_object(
		'comparisons', comps,
		'blocking', rules,
		'candidate_blocking', crules,
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
		'max_person_records', COALESCE(s -> 'max_person_records', d -> 'max_person_records'),
		'person_support', COALESCE(s -> 'person_support', d -> 'person_support'),
		'review_limit', COALESCE(s -> 'review_limit', d -> 'review_limit'),
		'max_rule_pairs', COALESCE(s -> 'max_rule_pairs', d -> 'max_rule_pairs'),
		'evidence_floor', COALESCE(s -> 'evidence_floor', d -> 'evidence_floor'),
		'rare_name_links', COALESCE(s -> 'rare_name_links', d -> 'rare_name_links', 'false'::jsonb),
		'lambda', COALESCE(s -> 'lambda', '0.0001'::jsonb),
		'name_roles', COALESCE(s -> 'name_roles', d -> 'name_roles', 'false'::jsonb))
		-- (only a document that gives lookup rules has the key: the others expand as before)
		|| CASE WHEN s ? 'lookup_blocking' THEN pg_catalog.jsonb_build_object('lookup_blocking', lrules) ELSE '{}'::jsonb END;
END $$;
COMMENT ON FUNCTION cdp_internal._match_expand(jsonb) IS 'internal: validates a matching settings document (22023 naming the JSON path) and returns it complete';

-- _match_rules: every blocking rule of an expanded document in the kernel's numbering: the
-- "blocking" rules (which also train), then the "candidate_blocking" ones (which only find
-- candidate pairs), then the "lookup_blocking" ones (keyed for find_patient, never walked);
-- features, walks and lookups number rules by this list.  The kernel's program holds the first
-- _match_walked_rules of them: a walk reads no key after those.
CREATE FUNCTION cdp_internal._match_rules(s jsonb) RETURNS jsonb
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	RETURN COALESCE(s -> 'blocking', '[]'::jsonb) || COALESCE(s -> 'candidate_blocking', '[]'::jsonb)
	       || COALESCE(s -> 'lookup_blocking', '[]'::jsonb);
COMMENT ON FUNCTION cdp_internal._match_rules(jsonb) IS
	'internal: the blocking rules of expanded settings in kernel order: "blocking" (training and candidates), then "candidate_blocking" (candidates only), then "lookup_blocking" (find_patient only)';

-- _match_walked_rules: how many of _match_rules the walks pair records by ("blocking" and
-- "candidate_blocking"): the keys bk[1:n] of a match_key row; the lookup rules' keys follow them
CREATE FUNCTION cdp_internal._match_walked_rules(s jsonb) RETURNS int
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	RETURN pg_catalog.jsonb_array_length(COALESCE(s -> 'blocking', '[]'::jsonb))
	       + pg_catalog.jsonb_array_length(COALESCE(s -> 'candidate_blocking', '[]'::jsonb));
COMMENT ON FUNCTION cdp_internal._match_walked_rules(jsonb) IS
	'internal: the number of blocking rules of expanded settings that walks pair records by ("blocking" and "candidate_blocking", not "lookup_blocking")';

-- _match_rule_pair_bound: the most candidate pairs one blocking rule may yield (max_rule_pairs,
-- or when 0 twenty per record and at least a million)
CREATE FUNCTION cdp_internal._match_rule_pair_bound(s jsonb) RETURNS bigint
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	RETURN CASE WHEN COALESCE((s ->> 'max_rule_pairs')::bigint, 0) > 0 THEN (s ->> 'max_rule_pairs')::bigint
	            ELSE GREATEST(1000000, 20 * (SELECT pg_catalog.count(*) FROM @extschema@.record)) END;
COMMENT ON FUNCTION cdp_internal._match_rule_pair_bound(jsonb) IS
	'internal: the most candidate pairs one blocking rule may yield before it is skipped (fields-only settings) or warned about';

-- _match_rule_pairs: the candidate pairs each blocking rule of a document yields on the stored
-- records (features computed on the fly, nothing stored)
CREATE FUNCTION cdp_internal._match_rule_pairs(s jsonb)
	RETURNS TABLE (rule int, pairs bigint, new_pairs bigint, skipped_pairs bigint)
	LANGUAGE sql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT w.rule, pg_catalog.sum(w.n)::bigint, pg_catalog.sum(w.n_new)::bigint, pg_catalog.sum(w.weight)::bigint
	  FROM cdp_internal._match_walk_all('count', cdp_internal._match_feature_query(s, '@extschema@.record r'),
	                                   cdp_internal._match_program(s, NULL), 0, 0, (s ->> 'max_block_size')::int, 0,
	                                   cdp_internal._match_nparts()) w
	 GROUP BY w.rule
$$;
COMMENT ON FUNCTION cdp_internal._match_rule_pairs(jsonb) IS
	'internal: per blocking rule of a settings document the candidate pairs, the new ones and those of blocks over max_block_size, on the stored records';

CREATE FUNCTION @extschema@.configure_matching(settings jsonb) RETURNS int
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	full_doc jsonb := cdp_internal._match_expand(settings);
	v int;
	bound bigint;
	ntrain int;
	rules jsonb;
	x record;
	skip int[] := '{}';
BEGIN
	-- the blocking rules generated for a fields-only document (every pair of the first fields, and
	-- the candidate_blocking rules of one name) are checked on the stored records: one that yields
	-- more candidate pairs than the bound (a frequent given name with a place such as «london», a
	-- name alone past a few thousand records) is left out with a warning (rules written by hand are
	-- only warned about, by blocking_report); at least one "blocking" rule stays
	IF settings ? 'fields' AND NOT settings ? 'blocking' AND EXISTS (SELECT 1 FROM @extschema@.record) THEN
		bound := cdp_internal._match_rule_pair_bound(full_doc);
		ntrain := pg_catalog.jsonb_array_length(full_doc -> 'blocking');
		rules := cdp_internal._match_rules(full_doc);
		FOR x IN SELECT * FROM cdp_internal._match_rule_pairs(full_doc) p ORDER BY p.rule LOOP
			IF x.pairs > bound AND (x.rule >= ntrain OR ntrain - (SELECT pg_catalog.count(*) FROM pg_catalog.unnest(skip) k WHERE k < ntrain) > 1)
			   AND (x.rule < ntrain OR NOT settings ? 'candidate_blocking') THEN
				RAISE WARNING 'blocking rule % yields % candidate pairs, more than %: it is left out', rules -> x.rule, x.pairs, bound
					USING HINT = 'Name fewer or more selective fields, or give "blocking" rules; see cdp.blocking_report().';
				skip := skip || x.rule;
				full_doc := pg_catalog.jsonb_set(full_doc, '{skipped_blocking}',
					COALESCE(full_doc -> 'skipped_blocking', '[]') || pg_catalog.jsonb_build_array(
						pg_catalog.jsonb_build_object('rule', rules -> x.rule, 'pairs', x.pairs)
						|| CASE WHEN x.rule >= ntrain THEN '{"trains": false}'::jsonb ELSE '{}'::jsonb END));
			END IF;
		END LOOP;
		IF pg_catalog.cardinality(skip) > 0 THEN
			full_doc := full_doc || pg_catalog.jsonb_build_object(
				'blocking', (SELECT pg_catalog.jsonb_agg(r ORDER BY o) FROM pg_catalog.jsonb_array_elements(full_doc -> 'blocking') WITH ORDINALITY e(r, o)
				              WHERE NOT (o::int - 1 = ANY (skip))),
				'candidate_blocking', COALESCE((SELECT pg_catalog.jsonb_agg(r ORDER BY o) FROM pg_catalog.jsonb_array_elements(full_doc -> 'candidate_blocking') WITH ORDINALITY e(r, o)
				              WHERE NOT (ntrain + o::int - 1 = ANY (skip))), '[]'::jsonb));
		END IF;
	END IF;
	UPDATE cdp_internal.match_settings SET active = false WHERE active;
	INSERT INTO cdp_internal.match_settings (settings, program, active)
		VALUES (full_doc, cdp_internal._match_program(full_doc, NULL), true) RETURNING version INTO v;
	RETURN v;
END $$;
COMMENT ON FUNCTION @extschema@.configure_matching(jsonb) IS
	'validates a matching settings document, stores it as a new active version and returns the version (a generated blocking rule yielding more pairs than max_rule_pairs is left out with a warning); e.g. configure_matching(''{"fields":["surname","given_name","date_of_birth"]}'')';
REVOKE ALL ON FUNCTION @extschema@.configure_matching(jsonb) FROM PUBLIC;

CREATE FUNCTION @extschema@.matching_settings() RETURNS jsonb
	LANGUAGE sql STABLE PARALLEL SAFE
	RETURN (SELECT s.settings || pg_catalog.jsonb_build_object('version', s.version, 'trained', s.params IS NOT NULL)
	          FROM cdp_internal.match_settings s WHERE s.active);
COMMENT ON FUNCTION @extschema@.matching_settings() IS 'the matching settings document in force, with its version and whether it is trained';
