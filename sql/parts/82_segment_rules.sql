/*
 * sql/parts/82_segment_rules.sql: layer 8, the segment rule language (issue 13): sensitive
 * categories, validation and compilation.  See doc/segments.md.
 *
 * A rule is a JSON tree of all / any / not over leaves (profile attributes, clinical events,
 * other segments).  cdp_internal.seg_compile validates it and turns every leaf into two SQL
 * statements: "gen" (the golden ids meeting the leaf, read through an index or one scan) and
 * "filter" (those of a candidate set $1 meeting it, one index probe per candidate).  Nothing of
 * the input is pasted into SQL: attribute, event and column names come from the fixed catalogue
 * in this file, every value is checked against its type and written as a literal quoted by
 * format('%L') with a cast.  Errors are 22023 with the JSON path of the clause in the detail and
 * an accepted form in the hint.  The evaluator (83_segment_eval.sql) decides which of the two
 * statements to run and in which order.
 */

/* ------------------------------------------------------------------ sensitive categories */

CREATE TABLE @extschema@.sensitive_category (
	code_range	text PRIMARY KEY,
	lo			text NOT NULL,
	hi			text NOT NULL,
	label		text NOT NULL
);
COMMENT ON TABLE @extschema@.sensitive_category IS
	'the configured ICD-10 ranges a marketing segment may not reference; empty means the built-in list (cdp.sensitive_categories())';
ALTER TABLE @extschema@.sensitive_category ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.sensitive_category FORCE ROW LEVEL SECURITY;

/*
 * The sensitive ranges in force: the configured ones, or the built-in list while none is
 * configured (the table is installed empty, so a dump's rows restore into it without a clash).
 */
CREATE FUNCTION @extschema@.sensitive_categories(OUT code_range text, OUT lo text, OUT hi text, OUT label text)
	RETURNS SETOF record
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT s.code_range, s.lo, s.hi, s.label FROM @extschema@.sensitive_category s
	UNION ALL
	SELECT * FROM (VALUES
		('B20-B24', 'B20', 'B24', 'HIV disease'),
		('Z21', 'Z21', 'Z21', 'asymptomatic HIV infection'),
		('F00-F99', 'F00', 'F99', 'mental and behavioural disorders (substance use F10-F19 included)'),
		('C00-D48', 'C00', 'D48', 'neoplasms'),
		('A50-A64', 'A50', 'A64', 'infections with a predominantly sexual mode of transmission'),
		('O04', 'O04', 'O04', 'medical abortion'),
		('Z30', 'Z30', 'Z30', 'contraceptive management'),
		('X60-X84', 'X60', 'X84', 'intentional self-harm')) d(code_range, lo, hi, label)
	 WHERE NOT EXISTS (SELECT 1 FROM @extschema@.sensitive_category)
$$;
COMMENT ON FUNCTION @extschema@.sensitive_categories() IS
	'the sensitive ICD-10 ranges in force: the configured list, else the built-in one (HIV, mental health, neoplasms, STIs, abortion, contraception, self-harm)';

/* Replaces the list of sensitive ranges: {"B20-B24": "HIV disease", ...}; returns how many. */
CREATE FUNCTION @extschema@.configure_sensitive_categories(doc jsonb) RETURNS int
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	k	text;
	v	jsonb;
	r	record;
	n	int := 0;
BEGIN
	IF doc IS NULL OR pg_catalog.jsonb_typeof(doc) <> 'object' OR doc = '{}' THEN
		RAISE EXCEPTION 'sensitive categories must be a non-empty JSON object' USING ERRCODE = '22023',
			DETAIL = 'At $.', HINT = 'Use {"B20-B24": "HIV disease", "F00-F99": "mental disorders"}.';
	END IF;
	DELETE FROM @extschema@.sensitive_category;
	FOR k, v IN SELECT * FROM pg_catalog.jsonb_each(doc) LOOP
		r := cdp_internal.icd10_range(k, '$."' || pg_catalog.left(k, 32) || '"');
		INSERT INTO @extschema@.sensitive_category VALUES (pg_catalog.upper(k), r.lo, r.hi, coalesce(v #>> '{}', ''));
		n := n + 1;
	END LOOP;
	PERFORM cdp_internal.append_event('segment.sensitive_configured', NULL, NULL, pg_catalog.jsonb_build_object('categories', doc));
	RETURN n;
END
$$;
COMMENT ON FUNCTION @extschema@.configure_sensitive_categories(jsonb) IS
	'replaces the sensitive ICD-10 ranges, e.g. configure_sensitive_categories(''{"B20-B24": "HIV disease"}'')';

/*
 * May the current role save or preview a treatment segment that references a sensitive
 * category?  Until the access issue adds roles: members of a role named cdp_doctor when it
 * exists, else superusers and the owner of schema cdp only.
 */
CREATE FUNCTION cdp_internal.seg_may_use_sensitive() RETURNS boolean
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = 'cdp_doctor')
	            THEN pg_catalog.pg_has_role(CURRENT_USER, 'cdp_doctor', 'MEMBER')
	            ELSE (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER)
	                 OR pg_catalog.pg_has_role(CURRENT_USER,
	                        (SELECT n.nspowner FROM pg_catalog.pg_namespace n WHERE n.nspname = '@extschema@'), 'MEMBER')
	       END
$$;
COMMENT ON FUNCTION cdp_internal.seg_may_use_sensitive() IS
	'true when the current role may target sensitive diagnoses in a treatment segment: member of cdp_doctor if that role exists, else superuser or owner (internal)';

/*
 * The sensitive categories an ICD-10 range [lo, hi] overlaps (3-character categories compared),
 * as text, or NULL.  SECURITY DEFINER: the check must not depend on what the caller may read of
 * the list (row-level security would hide it and let the rule through).
 */
CREATE FUNCTION cdp_internal.seg_sensitive(lo text, hi text) RETURNS text
	LANGUAGE sql STABLE STRICT PARALLEL SAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT pg_catalog.string_agg(s.code_range || ' ' || s.label, '; ' ORDER BY s.lo)
	  FROM @extschema@.sensitive_categories() s
	 WHERE pg_catalog.left($1, 3) COLLATE "C" <= pg_catalog.left(s.hi, 3) COLLATE "C"
	   AND pg_catalog.left($2, 3) COLLATE "C" >= pg_catalog.left(s.lo, 3) COLLATE "C"
$$;
COMMENT ON FUNCTION cdp_internal.seg_sensitive(text, text) IS
	'the sensitive categories an ICD-10 range overlaps, or NULL; reads the list with the owner''s rights (internal)';

/* ------------------------------------------------------------------ small parsers */

/* An interval such as "14 days", "11 months", "2 years"; 22023 naming the path otherwise. */
CREATE FUNCTION cdp_internal.seg_interval(v jsonb, path text) RETURNS interval
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	m	text[];
BEGIN
	IF v IS NOT NULL AND pg_catalog.jsonb_typeof(v) = 'string' THEN
		m := pg_catalog.regexp_match(v #>> '{}', '^\s*([0-9]{1,4})\s*(day|days|week|weeks|month|months|year|years)\s*$');
	END IF;
	IF m IS NULL THEN
		RAISE EXCEPTION 'invalid interval %', pg_catalog.left(coalesce(v::text, 'null'), 64) USING ERRCODE = '22023',
			DETAIL = pg_catalog.format('At %s.', path),
			HINT = 'Use a whole number and a unit (days, weeks, months, years), for example "11 months" or "14 days".';
	END IF;
	RETURN pg_catalog.make_interval(
		days => CASE WHEN m[2] LIKE 'day%' THEN m[1]::int WHEN m[2] LIKE 'week%' THEN 7 * m[1]::int ELSE 0 END,
		months => CASE WHEN m[2] LIKE 'month%' THEN m[1]::int ELSE 0 END,
		years => CASE WHEN m[2] LIKE 'year%' THEN m[1]::int ELSE 0 END);
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_interval(jsonb, text) IS
	'parses a rule interval such as "11 months"; 22023 with the JSON path otherwise (internal)';

/* The number in a lab result ("5,4" and "5.4"), NULL when the result is not a plain number. */
CREATE FUNCTION cdp_internal.seg_num(t text) RETURNS numeric
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT CASE WHEN t ~ '^\s*-?[0-9]{1,12}([.,][0-9]{1,12})?\s*$' THEN pg_catalog.replace(pg_catalog.btrim(t), ',', '.')::numeric END
$$;
COMMENT ON FUNCTION cdp_internal.seg_num(text) IS
	'the numeric value of a lab result, NULL when it is not a plain number (internal)';

/* Raises the rule error of the language: 22023, message, the JSON path, an accepted form. */
CREATE FUNCTION cdp_internal.seg_fail(msg text, path text, hint text) RETURNS void
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RAISE EXCEPTION '%', msg USING ERRCODE = '22023', DETAIL = pg_catalog.format('At %s.', path), HINT = hint;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_fail(text, text, text) IS
	'raises a segment rule error: 22023, the JSON path in the detail, an accepted form in the hint (internal)';

/*
 * A scalar value checked against a catalogue type and written as a quoted, cast SQL literal.
 * Types: text (at most 200 bytes), int, date (ISO), boolean.
 */
CREATE FUNCTION cdp_internal.seg_literal(v jsonb, typ text, path text) RETURNS text
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	t	text := pg_catalog.jsonb_typeof(v);
BEGIN
	IF typ = 'text' AND t = 'string' AND pg_catalog.octet_length(v #>> '{}') <= 200 THEN
		RETURN pg_catalog.format('%L::text', v #>> '{}');
	ELSIF typ = 'int' AND t = 'number' AND (v #>> '{}')::numeric = pg_catalog.trunc((v #>> '{}')::numeric)
	      AND pg_catalog.abs((v #>> '{}')::numeric) < 100000 THEN
		RETURN pg_catalog.format('%L::int', (v #>> '{}')::numeric::int);
	ELSIF typ = 'numeric' AND t = 'number' THEN
		RETURN pg_catalog.format('%L::numeric', (v #>> '{}')::numeric);
	ELSIF typ = 'boolean' AND t = 'boolean' THEN
		RETURN pg_catalog.format('%L::boolean', (v #>> '{}')::boolean);
	ELSIF typ = 'date' AND t = 'string' AND (v #>> '{}') ~ '^\d{4}-\d{2}-\d{2}$' THEN
		BEGIN
			RETURN pg_catalog.format('%L::date', (v #>> '{}')::date);
		EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
			NULL;
		END;
	END IF;
	PERFORM cdp_internal.seg_fail(pg_catalog.format('a segment value must be of type %s', typ), path,
		CASE typ WHEN 'text' THEN 'Use a JSON string of at most 200 bytes, for example "Москва".'
		         WHEN 'int' THEN 'Use a whole JSON number, for example 35.'
		         WHEN 'numeric' THEN 'Use a JSON number, for example 5.6.'
		         WHEN 'boolean' THEN 'Use true or false.'
		         ELSE 'Use an ISO date string, for example "2026-01-31".' END);
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_literal(jsonb, text, text) IS
	'checks a rule value against a catalogue type and returns it as a quoted, cast SQL literal (internal)';

/*
 * The bounds of the time window of a clause: "within": "11 months" (since d minus the interval)
 * or "ago": ["13 months", "11 months"] (the farther first, whole days), as [from, before)
 * (NULL: open); NULL when the clause has neither; 22023 with the path otherwise.  seg_window
 * writes them as SQL, the event reader (src/seg_read.c) takes them as they are.
 */
CREATE FUNCTION cdp_internal.seg_window_bounds(node jsonb, d date, path text) RETURNS timestamptz[]
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	far		interval;
	near	interval;
BEGIN
	IF node ? 'within' AND node ? 'ago' THEN
		PERFORM cdp_internal.seg_fail('a clause takes one of "within" and "ago"', path, 'Use "within": "11 months" or "ago": ["13 months", "11 months"].');
	ELSIF node ? 'within' THEN
		far := cdp_internal.seg_interval(node -> 'within', path || '.within');
		RETURN ARRAY[(d - far)::timestamptz, NULL];
	ELSIF node ? 'ago' THEN
		IF pg_catalog.jsonb_typeof(node -> 'ago') <> 'array' OR pg_catalog.jsonb_array_length(node -> 'ago') <> 2 THEN
			PERFORM cdp_internal.seg_fail('"ago" needs two intervals, the farther first', path || '.ago', 'Use ["13 months", "11 months"].');
		END IF;
		far := cdp_internal.seg_interval(node -> 'ago' -> 0, path || '.ago[0]');
		near := cdp_internal.seg_interval(node -> 'ago' -> 1, path || '.ago[1]');
		IF d - far > d - near THEN
			PERFORM cdp_internal.seg_fail('"ago" needs the farther interval first', path || '.ago', 'Use ["13 months", "11 months"].');
		END IF;
		RETURN ARRAY[(d - far)::timestamptz, (d - near + interval '1 day')::timestamptz];
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_window_bounds(jsonb, date, text) IS
	'the [from, before) bounds of the "within" / "ago" window of a rule clause, NULL when it has none; 22023 with the JSON path (internal)';

/*
 * The time window of a clause over the timestamp column col (a fixed name from the compiler):
 * "within": "11 months" (since d minus the interval) or "ago": ["13 months", "11 months"] (the
 * farther first, whole days).  NULL when the clause has neither; 22023 with the path otherwise.
 */
CREATE FUNCTION cdp_internal.seg_window(node jsonb, d date, path text, col text) RETURNS text
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	b	timestamptz[] := cdp_internal.seg_window_bounds(node, d, path);
BEGIN
	IF b IS NULL THEN
		RETURN NULL;
	ELSIF b[2] IS NULL THEN
		RETURN pg_catalog.format('%s >= %L::timestamptz', col, b[1]);
	END IF;
	RETURN pg_catalog.format('%s >= %L::timestamptz AND %s < %L::timestamptz', col, b[1], col, b[2]);
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_window(jsonb, date, text, text) IS
	'the "within" / "ago" window of a rule clause over a timestamp column, NULL when it has none; 22023 with the JSON path (internal)';

/* ------------------------------------------------------------------ the catalogue */

/*
 * The profile attributes a rule may name: SQL over the profile row "p", and the value type.
 * Fixed here; a name not in this list is refused.
 */
CREATE FUNCTION @extschema@.segment_attributes(OUT attr text, OUT typ text, OUT ops text[], OUT description text)
	RETURNS SETOF record
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	VALUES ('sex', 'text', ARRAY['=', '!=', 'in', 'is_null'], 'M or F'),
	       ('age', 'int', ARRAY['=', '!=', '<', '<=', '>', '>=', 'between', 'in', 'is_null'], 'whole years at the evaluation date'),
	       ('birth_date', 'date', ARRAY['=', '!=', '<', '<=', '>', '>=', 'between', 'is_null'], 'date of birth'),
	       ('city', 'text', ARRAY['=', '!=', 'in', 'not in', 'is_null'], 'city of the golden profile'),
	       ('status', 'text', ARRAY['='], 'active (archived patients never appear)'),
	       ('registered_on', 'date', ARRAY['=', '<', '<=', '>', '>=', 'between', 'is_null'], 'first registration date'),
	       ('last_visit', 'date', ARRAY['<', '<=', '>', '>=', 'between', 'is_null'], 'date of the last visit the patient came to'),
	       ('validated', 'boolean', ARRAY['='], 'the profile has a validated record'),
	       ('source_kind', 'text', ARRAY['=', 'in'], 'a record comes from a source of this kind (internal, partner)'),
	       ('source', 'text', ARRAY['=', 'in'], 'a record comes from this source (by name)'),
	       ('reachable', 'text', ARRAY['=', 'in'], 'the profile has an address for this channel (email, sms, messenger, social, call, post)')
$$;
COMMENT ON FUNCTION @extschema@.segment_attributes() IS
	'the profile attributes a segment rule may use, their value type and operators';

/* The SQL expression over profile row p of a catalogue attribute (the evaluation day d is a literal). */
CREATE FUNCTION cdp_internal.seg_attr_sql(attr text, d date) RETURNS text
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT CASE attr
	  WHEN 'sex' THEN 'p.sex'
	  WHEN 'age' THEN pg_catalog.format('EXTRACT(year FROM pg_catalog.age(%L::date, p.birth_date))::int', d)
	  WHEN 'birth_date' THEN 'p.birth_date'
	  WHEN 'city' THEN 'p.city'
	  WHEN 'status' THEN 'p.status'
	  WHEN 'registered_on' THEN 'p.registered_on'
	  WHEN 'last_visit' THEN '(p.last_visit)::date'
	  WHEN 'validated' THEN 'p.validated'
	  END
$$;
COMMENT ON FUNCTION cdp_internal.seg_attr_sql(text, date) IS
	'the fixed SQL expression of a catalogue attribute over the profile row p (internal)';

/*
 * An age clause as a range of birth dates over profile row p, or NULL when that would not be
 * exact.  "Whole years at d" (EXTRACT(year FROM age(d, birth_date))) is at least k, for k >= 1,
 * exactly when birth_date <= d - k years (PostgreSQL's date minus years keeps the month and day,
 * 29 February becoming the 28th, as age() counts a year complete); every operator is a
 * combination of such bounds.  A bound k below 1 or above 150 keeps the age() expression: a
 * birth date in the future gets an age of 0 from age(), and dates far back leave the calendar.
 * Why: age() cost 1.4 us a profile, most of a 1M-profile pass (doc/segments.md, session 24).
 * test/pgtap/82_segment_rules.sql compares the two forms over every day of leap-year spans.
 */
CREATE FUNCTION cdp_internal.seg_age_range(op text, n int[], d date) RETURNS text
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	k		int;
	ks		int[];
	parts	text[];
BEGIN
	IF op IS NULL OR n IS NULL OR pg_catalog.cardinality(n) = 0 OR d IS NULL THEN
		RETURN NULL;
	END IF;
	/* the bounds "age >= k" each operator needs */
	ks := CASE op WHEN '>=' THEN ARRAY[n[1]] WHEN '>' THEN ARRAY[n[1] + 1]
	              WHEN '<' THEN ARRAY[n[1]] WHEN '<=' THEN ARRAY[n[1] + 1]
	              WHEN 'between' THEN ARRAY[n[1], n[2] + 1]
	              WHEN '=' THEN ARRAY[n[1], n[1] + 1] WHEN '!=' THEN ARRAY[n[1], n[1] + 1]
	              WHEN 'in' THEN (SELECT pg_catalog.array_agg(y) FROM pg_catalog.unnest(n) x, LATERAL (VALUES (x), (x + 1)) z(y)) END;
	IF ks IS NULL THEN
		RETURN NULL;
	END IF;
	FOREACH k IN ARRAY ks LOOP
		IF k IS NULL OR k < 1 OR k > 150 THEN
			RETURN NULL;
		END IF;
	END LOOP;
	IF op = 'in' THEN
		SELECT pg_catalog.array_agg(pg_catalog.format('(p.birth_date <= %L::date AND p.birth_date > %L::date)',
		                            (d - pg_catalog.make_interval(years => x))::date, (d - pg_catalog.make_interval(years => x + 1))::date))
		  INTO parts FROM pg_catalog.unnest(n) x;
		RETURN '(' || pg_catalog.array_to_string(parts, ' OR ') || ')';
	END IF;
	RETURN CASE op
		WHEN '>=' THEN pg_catalog.format('p.birth_date <= %L::date', (d - pg_catalog.make_interval(years => ks[1]))::date)
		WHEN '>' THEN pg_catalog.format('p.birth_date <= %L::date', (d - pg_catalog.make_interval(years => ks[1]))::date)
		WHEN '<' THEN pg_catalog.format('p.birth_date > %L::date', (d - pg_catalog.make_interval(years => ks[1]))::date)
		WHEN '<=' THEN pg_catalog.format('p.birth_date > %L::date', (d - pg_catalog.make_interval(years => ks[1]))::date)
		WHEN '!=' THEN pg_catalog.format('(p.birth_date > %L::date OR p.birth_date <= %L::date)',
		                                 (d - pg_catalog.make_interval(years => ks[1]))::date, (d - pg_catalog.make_interval(years => ks[2]))::date)
		ELSE pg_catalog.format('(p.birth_date <= %L::date AND p.birth_date > %L::date)',
		                       (d - pg_catalog.make_interval(years => ks[1]))::date, (d - pg_catalog.make_interval(years => ks[2]))::date) END;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_age_range(text, int[], date) IS
	'an age clause as an exact range of birth dates over the profile row p, NULL when not exact (a bound below 1 or above 150) (internal)';

/* ------------------------------------------------------------------ compiler */

/*
 * Compiles one attribute leaf {"attr", "op", "value"} into its predicate over profile row p.
 */
CREATE FUNCTION cdp_internal.seg_compile_attr(node jsonb, d date, path text) RETURNS text
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	a		record;
	op		text := node ->> 'op';
	v		jsonb := node -> 'value';
	k		text;
	x		text;
	lits	text[];
	expr	text;
	i		int := 0;
	form	constant text := 'Use {"attr": "age", "op": "between", "value": [35, 55]} or {"attr": "city", "op": "in", "value": ["Москва"]}.';
BEGIN
	FOR k IN SELECT pg_catalog.jsonb_object_keys(node) LOOP
		IF NOT k IN ('attr', 'op', 'value') THEN
			PERFORM cdp_internal.seg_fail(pg_catalog.format('unknown key "%s" in an attribute clause', pg_catalog.left(k, 64)), path || '.' || pg_catalog.left(k, 64), form);
		END IF;
	END LOOP;
	IF pg_catalog.jsonb_typeof(node -> 'attr') <> 'string' THEN
		PERFORM cdp_internal.seg_fail('a segment attribute must be a string', path || '.attr', form);
	END IF;
	SELECT * INTO a FROM @extschema@.segment_attributes() s WHERE s.attr = node ->> 'attr';
	IF a.attr IS NULL THEN
		PERFORM cdp_internal.seg_fail(pg_catalog.format('unknown segment attribute "%s"', pg_catalog.left(node ->> 'attr', 64)), path || '.attr',
			'Known attributes: ' || (SELECT pg_catalog.string_agg(s.attr, ', ') FROM @extschema@.segment_attributes() s) || '.');
	END IF;
	IF op IS NULL OR pg_catalog.jsonb_typeof(node -> 'op') <> 'string' OR NOT op = ANY (a.ops) THEN
		PERFORM cdp_internal.seg_fail(pg_catalog.format('operator %s is not allowed for attribute "%s"',
			pg_catalog.left(coalesce((node -> 'op')::text, 'null'), 32), a.attr), path || '.op',
			pg_catalog.format('Operators of %s: %s.', a.attr, pg_catalog.array_to_string(a.ops, ', ')));
	END IF;
	IF NOT node ? 'value' THEN
		PERFORM cdp_internal.seg_fail('an attribute clause needs a value', path || '.value', form);
	END IF;
	IF op = 'is_null' THEN
		PERFORM cdp_internal.seg_literal(v, 'boolean', path || '.value');
	ELSIF op IN ('between', 'in', 'not in') THEN
		IF pg_catalog.jsonb_typeof(v) <> 'array' OR pg_catalog.jsonb_array_length(v) = 0
		   OR (op = 'between' AND pg_catalog.jsonb_array_length(v) <> 2) OR pg_catalog.jsonb_array_length(v) > 1000 THEN
			PERFORM cdp_internal.seg_fail(pg_catalog.format('operator %s needs %s', op,
				CASE op WHEN 'between' THEN 'an array of two values' ELSE 'a non-empty array of at most 1000 values' END),
				path || '.value', form);
		END IF;
		FOR x IN SELECT e::text FROM pg_catalog.jsonb_array_elements(v) e LOOP
			lits := lits || cdp_internal.seg_literal(x::jsonb, a.typ, pg_catalog.format('%s.value[%s]', path, i));
			i := i + 1;
		END LOOP;
		PERFORM cdp_internal.seg_check_between(op, v, a.typ, path);
	ELSE
		lits := ARRAY[cdp_internal.seg_literal(v, a.typ, path || '.value')];
	END IF;
	IF a.attr = 'source_kind' THEN
		/*
		 * the kinds of the person's sources, one row of the consent summary (80_consent.sql: kept
		 * with every record move and source change) instead of the person's records and their
		 * sources, which only a person without a row (new since) still reads; the kinds are those
		 * source_kind_check allows (50_ingest.sql)
		 */
		RETURN pg_catalog.format('coalesce((SELECT (cs.internal AND ''internal'' IN (%1$s)) OR (cs.partner AND ''partner'' IN (%1$s))'
			' FROM cdp_internal.consent_summary cs WHERE cs.golden_id = p.golden_id),'
			' EXISTS (SELECT 1 FROM @extschema@.record r JOIN @extschema@.source s ON s.source_id = r.source_id'
			' WHERE r.golden_id = p.golden_id AND s.kind IN (%1$s)))', pg_catalog.array_to_string(lits, ', '));
	ELSIF a.attr = 'source' THEN
		RETURN pg_catalog.format('EXISTS (SELECT 1 FROM @extschema@.record r JOIN @extschema@.source s ON s.source_id = r.source_id'
			' WHERE r.golden_id = p.golden_id AND s.name IN (%s))', pg_catalog.array_to_string(lits, ', '));
	ELSIF a.attr = 'reachable' THEN
		FOR x IN SELECT e #>> '{}' FROM pg_catalog.jsonb_array_elements(CASE WHEN op = 'in' THEN v ELSE pg_catalog.jsonb_build_array(v) END) e LOOP
			IF NOT EXISTS (SELECT 1 FROM @extschema@.consent_channels() c WHERE c.channel = x) THEN
				PERFORM cdp_internal.seg_fail(pg_catalog.format('unknown channel "%s"', pg_catalog.left(x, 64)), path || '.value',
					'Use email, sms, messenger, social, call or post.');
			END IF;
		END LOOP;
		/*
		 * the profile holds an address for one of the channels: the field consent_addresses reads
		 * (80_consent.sql), tested directly (no address is canonicalised just to be counted)
		 */
		RETURN '(' || (SELECT pg_catalog.string_agg(DISTINCT CASE c.address_kind
		                 WHEN 'emails' THEN 'pg_catalog.jsonb_array_length(coalesce(p.emails, ''[]'')) > 0'
		                 WHEN 'phones' THEN 'pg_catalog.jsonb_array_length(coalesce(p.phones, ''[]'')) > 0'
		                 WHEN 'handles' THEN 'coalesce(p.handles, ''[]'') @> ''[{"network": "vk"}]'''
		                 ELSE 'p.address IS NOT NULL' END, ' OR ')
		                 FROM pg_catalog.jsonb_array_elements_text(CASE WHEN op = 'in' THEN v ELSE pg_catalog.jsonb_build_array(v) END) e
		                 JOIN @extschema@.consent_channels() c ON c.channel = e) || ')';
	END IF;
	IF a.attr = 'age' AND op <> 'is_null' THEN
		/* the birth-date range of the ages asked, when exact (NULL otherwise): no age() per profile */
		expr := cdp_internal.seg_age_range(op, ARRAY(SELECT (e #>> '{}')::numeric::int FROM pg_catalog.jsonb_array_elements(
		            CASE WHEN pg_catalog.jsonb_typeof(v) = 'array' THEN v ELSE pg_catalog.jsonb_build_array(v) END) e), d);
		IF expr IS NOT NULL THEN
			RETURN expr;
		END IF;
	END IF;
	expr := cdp_internal.seg_attr_sql(a.attr, d);
	RETURN CASE op
		WHEN 'is_null' THEN pg_catalog.format('((%s) IS NULL) = %s', expr, cdp_internal.seg_literal(v, 'boolean', path))
		WHEN 'between' THEN pg_catalog.format('(%s) BETWEEN %s AND %s', expr, lits[1], lits[2])
		WHEN 'in' THEN pg_catalog.format('(%s) IN (%s)', expr, pg_catalog.array_to_string(lits, ', '))
		WHEN 'not in' THEN pg_catalog.format('(%s) NOT IN (%s)', expr, pg_catalog.array_to_string(lits, ', '))
		WHEN '!=' THEN pg_catalog.format('(%s) <> %s', expr, lits[1])
		ELSE pg_catalog.format('(%s) %s %s', expr, op, lits[1]) END;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_compile_attr(jsonb, date, text) IS
	'compiles an attribute clause into a predicate over the profile row p from the fixed catalogue (internal)';

/*
 * Compiles one event leaf into {"conds": [SQL over clinical_event e], "count": "op n" or null,
 * "indexed": the conds use the (kind, code, at) index, "sensitive": path or null}.
 */
CREATE FUNCTION cdp_internal.seg_compile_event(node jsonb, d date, path text) RETURNS jsonb
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	kind	text := node ->> 'event';
	w		jsonb := coalesce(node -> 'where', '{}');
	conds	text[];
	k		text;
	v		jsonb;
	codes	text[];
	r		record;
	i		int;
	far		interval;
	cnt		text;
	indexed	boolean := false;
	alts	text[];
	sens	text;
	allowed	text[];
	/* the clause for the event reader (src/seg_read.c), unless a filter needs columns its index lacks */
	rdok	boolean := true;
	rdcodes	jsonb;
	rdst	jsonb;
	rdwin	timestamptz[];
	rdmin	int := 1;
	rdmax	int;
	codex	constant text := '(COALESCE(e.lab_code, e.icd10, e.specialty) COLLATE "C")';
	form	constant text := 'Use {"event": "lab_test", "where": {"code": "MAMMO"}, "ago": ["13 months", "11 months"]} or {"event": "diagnosis", "where": {"code": "E10-E14"}, "count": {">=": 2}}.';
BEGIN
	FOR k IN SELECT pg_catalog.jsonb_object_keys(node) LOOP
		IF NOT k IN ('event', 'where', 'within', 'ago', 'count', 'due_within') THEN
			PERFORM cdp_internal.seg_fail(pg_catalog.format('unknown key "%s" in an event clause', pg_catalog.left(k, 64)), path || '.' || pg_catalog.left(k, 64), form);
		END IF;
	END LOOP;
	IF kind IS NULL OR pg_catalog.jsonb_typeof(node -> 'event') <> 'string'
	   OR NOT kind IN ('visit', 'lab_test', 'diagnosis', 'recommendation', 'sick_leave') THEN
		PERFORM cdp_internal.seg_fail(pg_catalog.format('unknown event "%s"', pg_catalog.left(coalesce(node ->> 'event', 'null'), 64)), path || '.event',
			'Events: visit, lab_test, diagnosis, recommendation, sick_leave.');
	END IF;
	conds := ARRAY[pg_catalog.format('e.kind = %L', kind)];
	IF pg_catalog.jsonb_typeof(w) <> 'object' THEN
		PERFORM cdp_internal.seg_fail('"where" must be an object', path || '.where', form);
	END IF;
	allowed := CASE kind WHEN 'visit' THEN ARRAY['specialty', 'status', 'type', 'doctor']
	                     WHEN 'lab_test' THEN ARRAY['code', 'value', 'out_of_range']
	                     WHEN 'diagnosis' THEN ARRAY['code']
	                     ELSE '{}'::text[] END;
	FOR k, v IN SELECT * FROM pg_catalog.jsonb_each(w) LOOP
		IF NOT k = ANY (allowed) THEN
			PERFORM cdp_internal.seg_fail(pg_catalog.format('unknown filter "%s" for event %s', pg_catalog.left(k, 64), kind),
				path || '.where.' || pg_catalog.left(k, 64),
				CASE WHEN allowed = '{}' THEN pg_catalog.format('Event %s takes no filter.', kind)
				     ELSE 'Filters of ' || kind || ': ' || pg_catalog.array_to_string(allowed, ', ') || '.' END);
		END IF;
		IF k IN ('specialty', 'status', 'type', 'doctor') OR (k = 'code' AND kind = 'lab_test') THEN
			codes := NULL;
			i := 0;
			FOR v IN SELECT * FROM pg_catalog.jsonb_array_elements(CASE WHEN pg_catalog.jsonb_typeof(v) = 'array' THEN v ELSE pg_catalog.jsonb_build_array(v) END) LOOP
				codes := codes || cdp_internal.seg_literal(v, 'text', pg_catalog.format('%s.where.%s', path, k));
				i := i + 1;
			END LOOP;
			IF codes IS NULL THEN
				PERFORM cdp_internal.seg_fail(pg_catalog.format('filter "%s" needs a value', k), path || '.where.' || k, form);
			END IF;
			IF k IN ('specialty', 'code') THEN
				conds := conds || pg_catalog.format('%s IN (%s)', codex, pg_catalog.array_to_string(codes, ', '));
				indexed := true;
				rdcodes := (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(x, x))
				              FROM pg_catalog.jsonb_array_elements(CASE WHEN pg_catalog.jsonb_typeof(w -> k) = 'array' THEN w -> k ELSE pg_catalog.jsonb_build_array(w -> k) END) x);
			ELSE
				IF k = 'status' THEN
					rdst := CASE WHEN pg_catalog.jsonb_typeof(w -> k) = 'array' THEN w -> k ELSE pg_catalog.jsonb_build_array(w -> k) END;
				ELSE
					rdok := false;
				END IF;
				conds := conds || pg_catalog.format('e.%s IN (%s)', CASE k WHEN 'status' THEN 'visit_status' WHEN 'type' THEN 'visit_type' ELSE 'doctor' END,
					pg_catalog.array_to_string(codes, ', '));
			END IF;
		ELSIF k = 'code' THEN
			/* diagnosis: codes and ranges, index range scans; sensitive ranges are remembered */
			codes := NULL;
			i := 0;
			FOR v IN SELECT * FROM pg_catalog.jsonb_array_elements(CASE WHEN pg_catalog.jsonb_typeof(v) = 'array' THEN v ELSE pg_catalog.jsonb_build_array(v) END) LOOP
				IF pg_catalog.jsonb_typeof(v) <> 'string' THEN
					PERFORM cdp_internal.seg_fail('an ICD-10 code must be a string', pg_catalog.format('%s.where.code', path), 'Use "E11" or "E10-E14".');
				END IF;
				r := cdp_internal.icd10_range(v #>> '{}', pg_catalog.format('%s.where.code', path));
				codes := codes || pg_catalog.format('(%s >= %L AND %s <= %L)', codex, r.lo, codex, r.hi || '~');
				rdcodes := coalesce(rdcodes, '[]') || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_array(r.lo, r.hi || '~'));
				IF sens IS NULL AND cdp_internal.seg_sensitive(r.lo, r.hi) IS NOT NULL THEN
					sens := pg_catalog.format('%s.where.code (%s: %s)', path, v #>> '{}', cdp_internal.seg_sensitive(r.lo, r.hi));
				END IF;
				i := i + 1;
			END LOOP;
			IF codes IS NULL THEN
				PERFORM cdp_internal.seg_fail('filter "code" needs a value', path || '.where.code', 'Use "E11" or ["E10-E14", "O24"].');
			END IF;
			conds := conds || ('(' || pg_catalog.array_to_string(codes, ' OR ') || ')');
			alts := codes;
			indexed := true;
		ELSIF k = 'value' THEN
			rdok := false;
			IF pg_catalog.jsonb_typeof(v) <> 'object' OR v = '{}' THEN
				PERFORM cdp_internal.seg_fail('filter "value" must be an object of comparisons', path || '.where.value', 'Use {">=": 5.6, "<": 7}.');
			END IF;
			FOR k, v IN SELECT * FROM pg_catalog.jsonb_each(v) LOOP
				IF NOT k IN ('=', '<', '<=', '>', '>=') THEN
					PERFORM cdp_internal.seg_fail(pg_catalog.format('unknown comparison "%s"', pg_catalog.left(k, 16)), path || '.where.value', 'Use {">=": 5.6, "<": 7}.');
				END IF;
				conds := conds || pg_catalog.format('cdp_internal.seg_num(e.lab_result) %s %s', k,
					cdp_internal.seg_literal(v, 'numeric', pg_catalog.format('%s.where.value."%s"', path, k)));
			END LOOP;
		ELSIF k = 'out_of_range' THEN
			rdok := false;
			conds := conds || pg_catalog.format('(cdp_internal.seg_num(e.lab_result) < e.ref_low OR cdp_internal.seg_num(e.lab_result) > e.ref_high) = %s',
				cdp_internal.seg_literal(v, 'boolean', path || '.where.out_of_range'));
		END IF;
	END LOOP;
	IF kind = 'visit' AND NOT w ? 'status' THEN
		conds := conds || 'e.visit_status IN (''came'', ''in_appointment'', ''done'')'::text;
		rdst := '["came", "in_appointment", "done"]';
	END IF;
	IF (node ? 'within')::int + (node ? 'ago')::int + (node ? 'due_within')::int > 1 THEN
		PERFORM cdp_internal.seg_fail('an event clause takes one of "within", "ago", "due_within"', path, form);
	END IF;
	IF node ?| ARRAY['within', 'ago'] THEN
		conds := conds || cdp_internal.seg_window(node, d, path, 'e.at');
		rdwin := cdp_internal.seg_window_bounds(node, d, path);
	ELSIF node ? 'due_within' THEN
		rdok := false;	/* the due date is not in the per-patient index */
		IF kind <> 'recommendation' THEN
			PERFORM cdp_internal.seg_fail('"due_within" applies to recommendations only', path || '.due_within', 'Use {"event": "recommendation", "due_within": "14 days"}.');
		END IF;
		far := cdp_internal.seg_interval(node -> 'due_within', path || '.due_within');
		conds := conds || pg_catalog.format('e.due_date >= %L::date AND e.due_date <= %L::date', d, (d + far)::date);
		indexed := true;
	END IF;
	IF node ? 'count' THEN
		v := node -> 'count';
		IF pg_catalog.jsonb_typeof(v) <> 'object' OR (SELECT pg_catalog.count(*) FROM pg_catalog.jsonb_object_keys(v)) <> 1 THEN
			PERFORM cdp_internal.seg_fail('"count" needs one comparison', path || '.count', 'Use {">=": 2}.');
		END IF;
		SELECT x.key, x.value INTO k, v FROM pg_catalog.jsonb_each(node -> 'count') x;
		IF NOT k IN ('>=', '>', '=') THEN
			PERFORM cdp_internal.seg_fail(pg_catalog.format('count comparison "%s" is not allowed', pg_catalog.left(k, 16)), path || '.count',
				'Use >=, > or = with at least one event ({">=": 2}); for "none" use {"not": ...}.');
		END IF;
		cnt := k || ' ' || cdp_internal.seg_literal(v, 'int', path || '.count."' || k || '"');
		IF (v #>> '{}')::numeric < (CASE k WHEN '>' THEN 0 ELSE 1 END) THEN
			PERFORM cdp_internal.seg_fail('a count must ask for at least one event', path || '.count', 'Use {">=": 1} or more; for "none" use {"not": ...}.');
		END IF;
		rdmin := (v #>> '{}')::numeric::int + CASE k WHEN '>' THEN 1 ELSE 0 END;
		rdmax := CASE k WHEN '=' THEN (v #>> '{}')::numeric::int END;
	END IF;
	RETURN pg_catalog.jsonb_build_object('conds', pg_catalog.to_jsonb(conds), 'count', cnt, 'indexed', indexed,
		'sensitive', sens,
		/*
		 * the same clause for the event reader: the kind, the code ranges (C collation, as the
		 * index compares them), the window [from, upto), the visit statuses, the count bounds;
		 * NULL when a filter reads a column the per-patient index does not carry
		 */
		'rd', CASE WHEN rdok THEN pg_catalog.jsonb_build_object('kind', kind, 'codes', rdcodes, 'from', rdwin[1], 'upto', rdwin[2],
		                                                       'status', rdst, 'min', rdmin, 'max', rdmax) END,
		/*
		 * several diagnosis codes or ranges: the other conditions and each code's own, so that
		 * each code is an index range of its own (an OR of ranges is none: its probes fetched
		 * every diagnosis of the person in the window from the heap)
		 */
		'base', CASE WHEN pg_catalog.cardinality(alts) > 1
		             THEN pg_catalog.to_jsonb(pg_catalog.array_remove(conds, '(' || pg_catalog.array_to_string(alts, ' OR ') || ')')) END,
		'alts', CASE WHEN pg_catalog.cardinality(alts) > 1 THEN pg_catalog.to_jsonb(alts) END,
		/* a visit in the last N with the default statuses and no other filter is the profile's last_visit */
		'last_visit', CASE WHEN kind = 'visit' AND w = '{}' AND node ? 'within' AND cnt IS NULL
		                   THEN pg_catalog.format('p.last_visit >= %L::timestamptz',
		                                          (d - cdp_internal.seg_interval(node -> 'within', path || '.within'))::timestamptz) END);
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_compile_event(jsonb, date, text) IS
	'compiles a clinical-event clause into conditions over clinical_event e from the fixed catalogue (internal)';

/*
 * The campaign statuses a rule may ask about: the condition on a send row s (cdp.campaign_send,
 * sql/parts/86_campaign_send.sql) and the time column a window applies to.  Fixed here.
 */
CREATE FUNCTION cdp_internal.seg_campaign_statuses(OUT status text, OUT cond text, OUT at_col text, OUT description text)
	RETURNS SETOF record
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	VALUES ('sent', 's.status = ''sent''', 's.sent_at', 'the message was sent'),
	       ('delivered', 's.delivered_at IS NOT NULL', 's.delivered_at', 'the gateway reported it delivered'),
	       ('opened', 's.opened_at IS NOT NULL', 's.opened_at', 'opened'),
	       ('clicked', 's.clicked_at IS NOT NULL', 's.clicked_at', 'a link was clicked'),
	       ('converted', 's.converted_at IS NOT NULL', 's.converted_at', 'booked or paid after it'),
	       ('unsubscribed', 's.unsubscribed_at IS NOT NULL', 's.unsubscribed_at', 'unsubscribed through it'),
	       ('complained', 's.complained_at IS NOT NULL', 's.complained_at', 'marked it as spam'),
	       ('bounced', 's.bounced IS NOT NULL', 's.sent_at', 'it bounced (the window applies to the send time)'),
	       ('returned', 's.returned_at IS NOT NULL', 's.returned_at', 'came back for a visit after it'),
	       ('holdout', 's.status = ''holdout''', 's.built_at', 'kept out of the campaign as its control group (the window applies to the listing time)')
$$;
COMMENT ON FUNCTION cdp_internal.seg_campaign_statuses() IS
	'the campaign statuses of the rule language: the condition on a send row and its time column (internal)';

/*
 * Compiles a campaign-history leaf {"campaign": <id> | "any", "status": ..., "channel": ...,
 * "within" | "ago": ...} into conditions over cdp.campaign_send s.  Send rows keep the golden id
 * they were listed under; the evaluator follows merges (see seg_compile).
 */
CREATE FUNCTION cdp_internal.seg_compile_campaign(node jsonb, d date, path text) RETURNS text[]
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	k		text;
	st		record;
	cid		numeric;
	conds	text[];
	win		text;
	form	constant text := 'Use {"campaign": 3, "status": "clicked", "within": "30 days"} or {"campaign": "any", "status": "sent", "ago": ["60 days", "30 days"]}.';
BEGIN
	FOR k IN SELECT pg_catalog.jsonb_object_keys(node) LOOP
		IF NOT k IN ('campaign', 'status', 'channel', 'within', 'ago') THEN
			PERFORM cdp_internal.seg_fail(pg_catalog.format('unknown key "%s" in a campaign clause', pg_catalog.left(k, 64)), path || '.' || pg_catalog.left(k, 64), form);
		END IF;
	END LOOP;
	IF node -> 'campaign' = '"any"' THEN
		conds := '{}';
	ELSIF pg_catalog.jsonb_typeof(node -> 'campaign') = 'number' THEN
		cid := (node ->> 'campaign')::numeric;
		IF cid <> pg_catalog.trunc(cid) OR cid NOT BETWEEN 1 AND 9e18 THEN
			PERFORM cdp_internal.seg_fail('a campaign is its id or "any"', path || '.campaign', form);
		END IF;
		IF NOT EXISTS (SELECT 1 FROM @extschema@.campaign c WHERE c.campaign_id = cid::bigint) THEN
			PERFORM cdp_internal.seg_fail(pg_catalog.format('campaign %s does not exist', cid), path || '.campaign',
				'Use the id returned by cdp.create_campaign, or "any".');
		END IF;
		conds := ARRAY[pg_catalog.format('s.campaign_id = %L::bigint', cid::bigint)];
	ELSE
		PERFORM cdp_internal.seg_fail('a campaign is its id or "any"', path || '.campaign', form);
	END IF;
	IF NOT node ? 'status' THEN
		SELECT * INTO st FROM cdp_internal.seg_campaign_statuses() x WHERE x.status = 'sent';
	ELSIF pg_catalog.jsonb_typeof(node -> 'status') = 'string' THEN
		SELECT * INTO st FROM cdp_internal.seg_campaign_statuses() x WHERE x.status = node ->> 'status';
	END IF;
	IF st.status IS NULL THEN
		PERFORM cdp_internal.seg_fail(pg_catalog.format('unknown campaign status %s', pg_catalog.left((node -> 'status')::text, 64)), path || '.status',
			'Statuses: ' || (SELECT pg_catalog.string_agg(x.status, ', ') FROM cdp_internal.seg_campaign_statuses() x) || '.');
	END IF;
	conds := conds || st.cond;
	IF node ? 'channel' THEN
		IF pg_catalog.jsonb_typeof(node -> 'channel') <> 'string'
		   OR NOT EXISTS (SELECT 1 FROM @extschema@.consent_channels() c WHERE c.channel = node ->> 'channel') THEN
			PERFORM cdp_internal.seg_fail(pg_catalog.format('unknown channel %s', pg_catalog.left((node -> 'channel')::text, 64)), path || '.channel',
				'Use email, sms, messenger, social, call or post.');
		END IF;
		conds := conds || pg_catalog.format('s.channel = %L', node ->> 'channel');
	END IF;
	win := cdp_internal.seg_window(node, d, path, st.at_col);
	IF win IS NOT NULL THEN
		conds := conds || win;
	END IF;
	RETURN conds;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_compile_campaign(jsonb, date, text) IS
	'compiles a campaign-history clause into conditions over cdp.campaign_send s from the fixed status list (internal)';

/*
 * A leaf over the profile (class 1) from its predicate over row p of cdp.patient: "gen" reads
 * every profile, "filter" probes the candidates $1 by id (a scalar subquery per candidate: the
 * planner, misled by correlated attributes, once nested a scan of every profile around the
 * candidates); "pred" lets an "all" join its profile leaves into one.
 */
CREATE FUNCTION cdp_internal.seg_profile_leaf(pred text, path text) RETURNS jsonb
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT pg_catalog.jsonb_build_object('t', 'leaf', 'class', 1, 'path', path, 'pred', pred,
		'gen', pg_catalog.format('SELECT p.golden_id FROM @extschema@.patient p WHERE %s', pred),
		'filter', pg_catalog.format('SELECT c.id FROM pg_catalog.unnest($1) c(id) WHERE (SELECT true FROM @extschema@.patient p WHERE p.golden_id = c.id AND %s)', pred))
$$;
COMMENT ON FUNCTION cdp_internal.seg_profile_leaf(text, text) IS
	'the plan leaf of a profile predicate: gen, filter and the predicate itself (internal)';

/*
 * What an attribute clause says of every profile meeting it, in the terms of an offer's own
 * profile conditions (session 27): {"sex": s} for sex = s, {"lo": date, "hi": date} for an age
 * clause with an exact birth-date range (birth_date > lo AND birth_date <= hi, either may be
 * absent), NULL for any other clause.  The evaluator skips the offer guard's profile probe for
 * the ids a rule's profile clause read when this implies the offer's sex and age
 * (cdp_internal.offer_implied).  The bounds are seg_age_range's, for the same day.
 */
CREATE FUNCTION cdp_internal.seg_attr_implies(node jsonb, d date) RETURNS jsonb
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	op	text := node ->> 'op';
	n	int[];
BEGIN
	IF node ->> 'attr' = 'sex' AND op = '=' AND pg_catalog.jsonb_typeof(node -> 'value') = 'string' THEN
		RETURN pg_catalog.jsonb_build_object('sex', node ->> 'value');
	END IF;
	IF node ->> 'attr' <> 'age' OR NOT op IN ('between', '=', '>=', '>', '<', '<=') THEN
		RETURN NULL;
	END IF;
	n := ARRAY(SELECT (e #>> '{}')::numeric::int FROM pg_catalog.jsonb_array_elements(
	        CASE WHEN pg_catalog.jsonb_typeof(node -> 'value') = 'array' THEN node -> 'value' ELSE pg_catalog.jsonb_build_array(node -> 'value') END) e);
	/* only where the predicate is the exact birth-date range (seg_compile_attr used it) */
	IF cdp_internal.seg_age_range(op, n, d) IS NULL THEN
		RETURN NULL;
	END IF;
	/* age >= k exactly when birth_date <= d - k years; age < k when birth_date > d - k years */
	RETURN pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
		'hi', CASE op WHEN '<' THEN NULL WHEN '<=' THEN NULL
		              ELSE (d - pg_catalog.make_interval(years => CASE op WHEN '>' THEN n[1] + 1 ELSE n[1] END))::date END,
		'lo', CASE op WHEN '>=' THEN NULL WHEN '>' THEN NULL
		              ELSE (d - pg_catalog.make_interval(years => CASE op WHEN 'between' THEN n[2] + 1 WHEN '<' THEN n[1] ELSE n[1] + 1 END))::date END));
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_attr_implies(jsonb, date) IS
	'what an attribute clause implies of a profile''s sex and birth date (for the offer guard), NULL if nothing (internal)';

/*
 * Compiles a rule tree for the evaluation day d into a plan: {"t": "all"|"any"|"not"|"leaf",
 * "kids" | "kid", "class", "path"}; a leaf carries "gen" and "filter" SQL and "sensitive" (the
 * path and category of a sensitive diagnosis it names, or null).  Classes order the clauses of an
 * "all" (0 indexed events and segments, 1 profile attributes, 2 other events, 3 nested all/any,
 * 4 not).  At most 20 levels and 200 clauses.
 */
CREATE FUNCTION cdp_internal.seg_compile(node jsonb, d date, path text DEFAULT '$', depth int DEFAULT 0) RETURNS jsonb
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	op		text;
	kids	jsonb := '[]';
	kid		jsonb;
	i		int := 0;
	ev		jsonb;
	pred	text;
	sid		bigint;
	sens	text;
	form	constant text := 'A clause is {"all": [...]}, {"any": [...]}, {"not": {...}}, {"attr": ...}, {"event": ...}, {"campaign": ...} or {"segment": <id>}.';
BEGIN
	IF depth > 20 THEN
		PERFORM cdp_internal.seg_fail('a segment rule is nested deeper than 20 levels', path, 'Flatten the rule.');
	END IF;
	IF node IS NULL OR pg_catalog.jsonb_typeof(node) <> 'object' THEN
		PERFORM cdp_internal.seg_fail('a segment clause must be a JSON object', path, form);
	END IF;
	IF node ?| ARRAY['all', 'any', 'not'] THEN
		IF (SELECT pg_catalog.count(*) FROM pg_catalog.jsonb_object_keys(node)) <> 1 THEN
			PERFORM cdp_internal.seg_fail('"all", "any" and "not" stand alone in their object', path, form);
		END IF;
		op := (SELECT k FROM pg_catalog.jsonb_object_keys(node) k);
		IF op = 'not' THEN
			kid := cdp_internal.seg_compile(node -> 'not', d, path || '.not', depth + 1);
			RETURN pg_catalog.jsonb_build_object('t', 'not', 'kid', kid, 'class', 4, 'path', path, 'sensitive', kid -> 'sensitive');
		END IF;
		IF pg_catalog.jsonb_typeof(node -> op) <> 'array' OR pg_catalog.jsonb_array_length(node -> op) = 0 THEN
			PERFORM cdp_internal.seg_fail(pg_catalog.format('"%s" needs a non-empty array of clauses', op), path || '.' || op, form);
		END IF;
		IF pg_catalog.jsonb_array_length(node -> op) > 200 THEN
			PERFORM cdp_internal.seg_fail(pg_catalog.format('"%s" has more than 200 clauses', op), path || '.' || op, 'Split the rule into segments and reference them.');
		END IF;
		FOR kid IN SELECT * FROM pg_catalog.jsonb_array_elements(node -> op) LOOP
			kid := cdp_internal.seg_compile(kid, d, pg_catalog.format('%s.%s[%s]', path, op, i), depth + 1);
			sens := coalesce(sens, kid ->> 'sensitive');
			kids := kids || pg_catalog.jsonb_build_array(kid);
			i := i + 1;
		END LOOP;
		/*
		 * the profile predicates of an "all" are one clause: one pass over cdp.patient (or one
		 * probe per candidate) instead of one per attribute.  A "not" of a profile predicate
		 * joins them as "(pred) IS NOT TRUE" when the "all" has a profile predicate of its own:
		 * the "not" removes exactly the candidates whose profile meets pred, and the other
		 * predicate already requires the profile row (session 24: one probe pass less at 1M)
		 */
		IF op = 'all' AND EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(kids) k WHERE k ? 'pred')
		   AND (SELECT pg_catalog.count(*) FROM pg_catalog.jsonb_array_elements(kids) k
		         WHERE k ? 'pred' OR (k ->> 't' = 'not' AND k -> 'kid' ? 'pred')) > 1 THEN
			kids := coalesce((SELECT pg_catalog.jsonb_agg(k) FROM pg_catalog.jsonb_array_elements(kids) k
			                   WHERE NOT (k ? 'pred' OR (k ->> 't' = 'not' AND k -> 'kid' ? 'pred'))), '[]')
			     || pg_catalog.jsonb_build_array(cdp_internal.seg_profile_leaf(
			            (SELECT pg_catalog.string_agg(CASE WHEN k ? 'pred' THEN '(' || (k ->> 'pred') || ')'
			                                               ELSE '((' || (k -> 'kid' ->> 'pred') || ') IS NOT TRUE)' END, ' AND ' ORDER BY x.i)
			               FROM pg_catalog.jsonb_array_elements(kids) WITH ORDINALITY x(k, i)
			              WHERE k ? 'pred' OR (k ->> 't' = 'not' AND k -> 'kid' ? 'pred')),
			            path || '.' || op)
			        /* what the joined clauses imply together: a sex, the narrowest birth-date bounds */
			        || (SELECT pg_catalog.jsonb_build_object('imp', pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
			                       'sex', (pg_catalog.array_agg(k -> 'imp' ->> 'sex') FILTER (WHERE k -> 'imp' ? 'sex'))[1],
			                       'lo', pg_catalog.max((k -> 'imp' ->> 'lo')::date), 'hi', pg_catalog.min((k -> 'imp' ->> 'hi')::date))))
			              FROM pg_catalog.jsonb_array_elements(kids) k WHERE k ? 'pred'));
		END IF;
		RETURN pg_catalog.jsonb_build_object('t', op, 'kids', kids, 'class', 3, 'path', path, 'sensitive', sens);
	ELSIF node ? 'attr' THEN
		pred := cdp_internal.seg_compile_attr(node, d, path);
		IF node ->> 'attr' IN ('source_kind', 'source') THEN
			/*
			 * the predicate reads only p.golden_id: "kfilter" probes candidates known to have a
			 * profile (the evaluator says so) without reading their profile rows (session 26)
			 */
			RETURN cdp_internal.seg_profile_leaf(pred, path) || pg_catalog.jsonb_build_object('kfilter',
				pg_catalog.format('SELECT c.id FROM pg_catalog.unnest($1) c(id) WHERE (SELECT %s FROM (SELECT c.id AS golden_id) p)', pred))
			    /*
			     * the kinds asked (the values seg_compile_attr checked and quoted into pred): the
			     * evaluator reads the candidates' summary rows in one C pass (session 28)
			     */
			    || CASE WHEN node ->> 'attr' = 'source_kind'
			            THEN pg_catalog.jsonb_build_object('kinds', CASE WHEN pg_catalog.jsonb_typeof(node -> 'value') = 'array'
			                                                             THEN node -> 'value' ELSE pg_catalog.jsonb_build_array(node -> 'value') END)
			            ELSE '{}' END;
		END IF;
		RETURN cdp_internal.seg_profile_leaf(pred, path)
		    || CASE WHEN cdp_internal.seg_attr_implies(node, d) IS NULL THEN '{}'
		            ELSE pg_catalog.jsonb_build_object('imp', cdp_internal.seg_attr_implies(node, d)) END;
	ELSIF node ? 'event' THEN
		ev := cdp_internal.seg_compile_event(node, d, path);
		IF ev ->> 'last_visit' IS NOT NULL THEN
			RETURN cdp_internal.seg_profile_leaf(ev ->> 'last_visit', path);
		END IF;
		pred := (SELECT pg_catalog.string_agg(x, ' AND ') FROM pg_catalog.jsonb_array_elements_text(ev -> 'conds') x);
		IF pg_catalog.jsonb_typeof(ev -> 'alts') = 'array' AND ev ->> 'count' IS NULL THEN
			/*
			 * several codes, no count: the union of one index range per code (gen), and per
			 * candidate one index-only probe per code until one holds (filter), session 24
			 */
			pred := (SELECT pg_catalog.string_agg(x, ' AND ') FROM pg_catalog.jsonb_array_elements_text(ev -> 'base') x);
			RETURN pg_catalog.jsonb_build_object('t', 'leaf', 'class', 0, 'path', path, 'sensitive', ev -> 'sensitive', 'rd', ev -> 'rd',
				'gen', (SELECT pg_catalog.string_agg(pg_catalog.format('SELECT e.golden_id FROM @extschema@.clinical_event e WHERE %s AND %s', pred, a), ' UNION ALL ')
				          FROM pg_catalog.jsonb_array_elements_text(ev -> 'alts') a),
				'filter', 'SELECT c.id FROM pg_catalog.unnest($1) c(id) WHERE '
				          || (SELECT pg_catalog.string_agg(pg_catalog.format('(SELECT true FROM @extschema@.clinical_event e WHERE e.golden_id = c.id AND %s AND %s LIMIT 1)', pred, a), ' OR ')
				                FROM pg_catalog.jsonb_array_elements_text(ev -> 'alts') a));
		END IF;
		/*
		 * filter: one probe per candidate, written as a scalar subquery (never turned into a join
		 * that reads the clause's whole set: the evaluator chose probes by the true sizes), an
		 * index-only descent of clinical_event_seg_patient_idx
		 */
		RETURN pg_catalog.jsonb_build_object('t', 'leaf', 'class', CASE WHEN (ev ->> 'indexed')::boolean THEN 0 ELSE 2 END,
			'path', path, 'sensitive', ev -> 'sensitive', 'rd', ev -> 'rd',
			'gen', CASE WHEN ev ->> 'count' IS NULL
			            THEN pg_catalog.format('SELECT e.golden_id FROM @extschema@.clinical_event e WHERE %s', pred)
			            ELSE pg_catalog.format('SELECT e.golden_id FROM @extschema@.clinical_event e WHERE %s GROUP BY e.golden_id HAVING pg_catalog.count(*) %s', pred, ev ->> 'count') END,
			'filter', CASE WHEN ev ->> 'count' IS NULL
			            THEN pg_catalog.format('SELECT c.id FROM pg_catalog.unnest($1) c(id) WHERE (SELECT true FROM @extschema@.clinical_event e WHERE e.golden_id = c.id AND %s LIMIT 1)', pred)
			            ELSE pg_catalog.format('SELECT c.id FROM pg_catalog.unnest($1) c(id) WHERE (SELECT pg_catalog.count(*) FROM @extschema@.clinical_event e WHERE e.golden_id = c.id AND %s) %s', pred, ev ->> 'count') END);
	ELSIF node ? 'campaign' THEN
		/*
		 * Send rows keep the golden id they were listed under: gen resolves an id merged away
		 * since to its survivor; filter looks under the candidate's id, and under the ids merged
		 * into it only when it absorbed some.
		 */
		pred := (SELECT pg_catalog.string_agg(x, ' AND ') FROM pg_catalog.unnest(cdp_internal.seg_compile_campaign(node, d, path)) x);
		RETURN pg_catalog.jsonb_build_object('t', 'leaf', 'class', CASE WHEN node -> 'campaign' = '"any"' THEN 2 ELSE 0 END, 'path', path,
			'sensitive', cdp_internal.seg_campaign_sensitive(node, path),
			'gen', pg_catalog.format('SELECT coalesce(p.golden_id, @extschema@.resolve_patient(s.golden_id)) FROM @extschema@.campaign_send s'
			                         ' LEFT JOIN @extschema@.patient p ON p.golden_id = s.golden_id WHERE %s', pred),
			'filter', pg_catalog.format('SELECT c.id FROM pg_catalog.unnest($1) c(id)'
			          ' WHERE EXISTS (SELECT 1 FROM @extschema@.campaign_send s WHERE s.golden_id = c.id AND %s)'
			          ' OR (EXISTS (SELECT 1 FROM @extschema@.patient_redirect r WHERE r.new_id = c.id)'
			          ' AND EXISTS (SELECT 1 FROM @extschema@.campaign_send s WHERE s.golden_id = ANY (cdp_internal.golden_absorbed(c.id)) AND %s))', pred, pred));
	ELSIF node ? 'segment' THEN
		IF (SELECT pg_catalog.count(*) FROM pg_catalog.jsonb_object_keys(node)) <> 1 OR pg_catalog.jsonb_typeof(node -> 'segment') <> 'number'
		   OR (node ->> 'segment')::numeric <> pg_catalog.trunc((node ->> 'segment')::numeric) OR (node ->> 'segment')::numeric NOT BETWEEN 1 AND 9e18 THEN
			PERFORM cdp_internal.seg_fail('a segment clause is {"segment": <segment id>}', path, 'Use {"segment": 12}.');
		END IF;
		sid := (node ->> 'segment')::numeric::bigint;
		SELECT CASE WHEN cdp_internal.seg_sensitive_ref(s.segment_id) THEN pg_catalog.format('%s (segment %s targets a sensitive category)', path, sid) ELSE '' END INTO sens
		  FROM @extschema@.segment s WHERE s.segment_id = sid;
		IF sens IS NULL THEN
			PERFORM cdp_internal.seg_fail(pg_catalog.format('segment %s does not exist', sid), path || '.segment', 'Use the id returned by cdp.create_segment.');
		END IF;
		RETURN pg_catalog.jsonb_build_object('t', 'leaf', 'class', 0, 'path', path, 'segment', sid, 'sensitive', NULLIF(sens, ''),
			'gen', pg_catalog.format('SELECT m.golden_id FROM @extschema@.segment_member m WHERE m.segment_id = %L::bigint', sid),
			'filter', pg_catalog.format('SELECT m.golden_id FROM pg_catalog.unnest($1) c(id) JOIN @extschema@.segment_member m ON m.segment_id = %L::bigint AND m.golden_id = c.id', sid));
	END IF;
	PERFORM cdp_internal.seg_fail('a segment clause needs one of all, any, not, attr, event, campaign, segment', path, form);
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_compile(jsonb, date, text, int) IS
	'validates a segment rule and compiles it into a plan of gen/filter SQL per clause for a day; 22023 with the JSON path (internal)';

/*
 * The plan of a rule for a purpose, with the sensitive-category policy applied: a rule that names
 * a sensitive diagnosis (or a segment that does) is refused unless the purpose is treatment and
 * the calling role may (cdp_internal.seg_may_use_sensitive).  22023 (another purpose) or 42501
 * (a role that may not) names the clause; the 42501 names the calling role and the role required.
 */
CREATE FUNCTION cdp_internal.seg_prepare(rules jsonb, purpose text, d date) RETURNS jsonb
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	plan	jsonb;
	need	text;
BEGIN
	PERFORM cdp_internal.consent_check(ARRAY[purpose], ARRAY['*']);
	plan := cdp_internal.seg_compile(rules, d);
	IF plan ->> 'sensitive' IS NOT NULL THEN
		IF purpose <> 'treatment' THEN
			RAISE EXCEPTION 'a % segment may not target a sensitive category', purpose USING ERRCODE = '22023',
				DETAIL = pg_catalog.format('At %s.', plan ->> 'sensitive'),
				HINT = 'Remove the clause; only a treatment segment saved by a doctor may target it.';
		ELSIF NOT cdp_internal.seg_may_use_sensitive() THEN
			/* the role required: cdp_doctor, or before cdp.setup_roles() made it, the owner of schema cdp */
			need := CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = 'cdp_doctor') THEN 'cdp_doctor'
			             ELSE (SELECT n.nspowner::regrole::text FROM pg_catalog.pg_namespace n WHERE n.nspname = '@extschema@') END;
			RAISE EXCEPTION 'role "%" may not target a sensitive category: a treatment segment that does needs role %',
				cdp_internal.acc_caller(), need USING ERRCODE = '42501',
				DETAIL = pg_catalog.format('At %s. Required role: %s (or a superuser).', plan ->> 'sensitive', need),
				HINT = pg_catalog.format('Ask a member of %s to save the segment, or remove the clause.', need);
		END IF;
	END IF;
	RETURN plan;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_prepare(jsonb, text, date) IS
	'compiles a rule for a purpose and applies the sensitive-category policy (42501 naming the clause) (internal)';

/* ------------------------------------------------------------------ sensitive references (session 24) */

/*
 * Does a segment target a sensitive category, directly or through the segments it references,
 * as they are now?  segment.sensitive is computed when a segment is saved; a segment it
 * references may have been edited since, so the compiler follows the references (at most 50
 * levels).  SECURITY DEFINER: the check must not depend on which segments the caller may read.
 */
CREATE FUNCTION cdp_internal.seg_sensitive_ref(sid bigint) RETURNS boolean
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN EXISTS (
		WITH RECURSIVE refs(sid, depth) AS (
			SELECT seg_sensitive_ref.sid, 0
			UNION
			SELECT (x #>> '{}')::bigint, r.depth + 1
			  FROM refs r JOIN @extschema@.segment s ON s.segment_id = r.sid
			 CROSS JOIN LATERAL pg_catalog.jsonb_path_query(s.rules, 'strict $.**.segment') x
			 WHERE r.depth < 50 AND pg_catalog.jsonb_typeof(x) = 'number')
		SELECT 1 FROM refs JOIN @extschema@.segment s ON s.segment_id = refs.sid WHERE s.sensitive);
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_sensitive_ref(bigint) IS
	'true when a segment, or a segment it references (followed now), targets a sensitive category (internal)';

/*
 * The sensitive path of a campaign-history clause, or NULL: a clause on campaign c is sensitive
 * when a version of c targeted a segment that targets a sensitive category (now, references
 * followed), since its send history then singles out exactly those patients.  {"campaign":
 * "any"} is not: it mixes every campaign's history (doc/segments.md).
 */
CREATE FUNCTION cdp_internal.seg_campaign_sensitive(node jsonb, path text) RETURNS text
	LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF pg_catalog.jsonb_typeof(node -> 'campaign') <> 'number' THEN
		RETURN NULL;
	END IF;
	RETURN (SELECT pg_catalog.format('%s (campaign %s was sent to segment %s, which targets a sensitive category)',
	                                 path, v.campaign_id, v.doc ->> 'segment')
	          FROM @extschema@.campaign_version v
	         WHERE v.campaign_id = (node ->> 'campaign')::numeric::bigint
	           AND pg_catalog.jsonb_typeof(v.doc -> 'segment') = 'number'
	           AND cdp_internal.seg_sensitive_ref((v.doc ->> 'segment')::numeric::bigint)
	         ORDER BY v.version DESC LIMIT 1);
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_campaign_sensitive(jsonb, text) IS
	'the sensitive path of a campaign-history clause whose campaign targeted a sensitive segment, or NULL (internal)';

/* 22023 for "between" with the larger bound first (it would match nobody, silently). */
CREATE FUNCTION cdp_internal.seg_check_between(op text, v jsonb, typ text, path text) RETURNS void
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	rev	boolean;
BEGIN
	IF op IS DISTINCT FROM 'between' THEN
		RETURN;
	END IF;
	rev := CASE WHEN typ IN ('int', 'numeric') THEN (v ->> 0)::numeric > (v ->> 1)::numeric
	            WHEN typ = 'date' THEN (v ->> 0)::date > (v ->> 1)::date
	            ELSE (v ->> 0) > (v ->> 1) END;
	IF rev THEN
		PERFORM cdp_internal.seg_fail('"between" needs the smaller bound first', path || '.value',
			'Use [low, high], for example [35, 55].');
	END IF;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_check_between(text, jsonb, text, text) IS
	'22023 when a "between" clause gives its bounds in reverse order (internal)';
