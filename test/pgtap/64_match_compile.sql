-- test/pgtap/64_match_compile.sql: the settings compilers of src/match_compile.c (issue 11).  The
-- kernel program of a settings document decodes back to the document: per comparison its feature
-- column (_match_layout), its levels' op codes (_match_op_code) and arguments (the "with" name's
-- column for swapped and cross), its flags, u of level 0 and log2(m/u) weights as explain_match
-- computes them, then the rule lists; the kernel accepts every program; the feature program has a
-- kind per comparison and a rule per blocking rule; limits come from C and bad input is refused with
-- the settings error naming the JSON path, never a crash.
BEGIN;
SELECT plan(29);

-- settings documents: the default, cross and swapped levels, aliases, every kind and the maximum
CREATE TEMP TABLE doc (name text PRIMARY KEY, s jsonb);
INSERT INTO doc VALUES
('default', cdp_internal._match_default_settings()),
('cross', $j${"comparisons": [
  {"attr": "family_name", "comparator": "name", "levels": ["exact", "key", {"if": "swapped", "with": "given_name"}, {"if": "cross", "with": "given_name"}, {"if": "jw", "ge": 0.92}]},
  {"attr": "given_name", "comparator": "name", "levels": ["exact", "key", {"if": "swapped", "with": "family_name"}, {"if": "cross", "with": "patronymic"}, "initial"]},
  {"attr": "patronymic", "comparator": "name", "levels": ["exact", {"if": "cross", "with": "family_name"}, {"if": "jw", "ge": 0.9}]},
  {"attr": "birth_date", "comparator": "date"}],
 "blocking": [["family_name.key", "given_name.key"], ["any_order", "family_name.key", "given_name.key"], ["birth_date"]],
 "name_roles": false}$j$),
('aliases', $j${"comparisons": [
  {"attr": "Surname", "comparator": "name", "tf": true, "levels": ["exact", "key", {"if": "swapped", "with": "имя"}]},
  {"attr": "first_name", "comparator": "name", "levels": ["exact", {"if": "cross", "with": "SURNAME"}, {"if": "osa", "le": 2}, {"if": "prefix", "n": 3}]},
  {"attr": "dob"}, {"attr": "mobile"}, {"attr": "SNILS"}, {"attr": "polis"}, {"attr": "town", "tf": true}, {"attr": "card", "comparator": "id"}],
 "blocking": [["surname.key", "dob.year"], ["DOB.month_day", "имя.initial"], ["mobile.last7"], ["card"]],
 "rules": {"same_id_match": ["снилс", "polis", "phone"], "different_id_never": ["SNILS"], "disagree_never": ["dob", "first_name"]},
 "lambda": 0.003, "name_roles": false}$j$),
('fields', '{"fields": ["surname", "given_name", "date_of_birth", "phone", "email", "snils"]}');
INSERT INTO doc
SELECT 'max', jsonb_build_object(
	'comparisons', (SELECT jsonb_agg(jsonb_build_object('attr', 'x' || i, 'comparator', CASE WHEN i % 2 = 0 THEN 'name' ELSE 'id' END, 'tf', i % 3 = 0,
	                 'levels', (SELECT jsonb_agg(CASE WHEN i % 2 = 0 THEN jsonb_build_object('if', 'jw', 'ge', 1 - l / 100.0)
	                                                  ELSE jsonb_build_object('if', 'osa', 'le', l % 6) END)
	                              FROM generate_series(1, (cdp_internal._match_constants() ->> 'max_levels')::int) l))
	                 ORDER BY i) FROM generate_series(1, (cdp_internal._match_constants() ->> 'max_comparisons')::int) i),
	'blocking', (SELECT jsonb_agg(b) FROM (SELECT jsonb_agg('x' || (r + k) || '.prefix3') AS b
	               FROM generate_series(1, (cdp_internal._match_constants() ->> 'max_rules')::int) r,
	                    generate_series(1, (cdp_internal._match_constants() ->> 'max_rule_keys')::int) k GROUP BY r) x),
	'rules', '{"same_id_match": ["x3"], "different_id_never": ["x3", "x5"]}'::jsonb);
UPDATE doc SET s = cdp_internal._match_expand(s);

-- trained-like parameters: m and u of every level, some under the 1e-6 floor
CREATE FUNCTION pg_temp.params(s jsonb) RETURNS jsonb LANGUAGE sql AS $$
	SELECT jsonb_build_object('lambda', 0.000371,
		'm', (SELECT jsonb_agg((SELECT jsonb_agg(CASE WHEN c = 1 AND l = 1 THEN 0 ELSE 0.9 / (l + 1) + c * 0.0013 END ORDER BY l)
		                        FROM generate_series(0, jsonb_array_length(x -> 'levels')) l) ORDER BY c)
		      FROM jsonb_array_elements(s -> 'comparisons') WITH ORDINALITY e(x, c)),
		'u', (SELECT jsonb_agg((SELECT jsonb_agg(CASE WHEN l = 0 AND c = 2 THEN 1e-9 ELSE 0.001 * (l + 1) * c + 1e-7 END ORDER BY l)
		                        FROM generate_series(0, jsonb_array_length(x -> 'levels')) l) ORDER BY c)
		      FROM jsonb_array_elements(s -> 'comparisons') WITH ORDINALITY e(x, c)))
$$;
CREATE TEMP TABLE prog AS
SELECT d.name, d.s, t.trained, CASE WHEN t.trained THEN pg_temp.params(d.s) ELSE cdp_internal._match_params(d.s, NULL) END AS p
  FROM doc d CROSS JOIN (VALUES (false), (true)) t(trained);
ALTER TABLE prog ADD COLUMN program float8[];
UPDATE prog SET program = cdp_internal._match_program(s, CASE WHEN trained THEN p END);

-- the program decoded by the layout of src/match.h: header, one stride per comparison, rule lists
CREATE FUNCTION pg_temp.lv() RETURNS int LANGUAGE sql AS $$ SELECT (cdp_internal._match_constants() ->> 'max_levels')::int $$;
CREATE FUNCTION pg_temp.slot(pr float8[], c int, k int) RETURNS float8 LANGUAGE sql AS $$
	SELECT pr[7 + c * (4 + 3 * pg_temp.lv() + 1) + k + 1] $$;
CREATE FUNCTION pg_temp.log2(x float8) RETURNS float8 LANGUAGE sql AS $$ SELECT log(2.0, x::numeric)::float8 $$;
-- what the program should say of comparison c, as (slot, expected) pairs
CREATE FUNCTION pg_temp.expect(s jsonb, p jsonb, c int) RETURNS TABLE (k int, v float8) LANGUAGE sql AS $$
	SELECT 0, (SELECT fpos - 1 FROM cdp_internal._match_layout(s) WHERE comp = c)::float8
	UNION ALL SELECT 1, jsonb_array_length(s -> 'comparisons' -> c -> 'levels')
	UNION ALL SELECT 2, CASE WHEN (s -> 'comparisons' -> c ->> 'tf')::boolean THEN 1 ELSE 0 END
	                    + CASE WHEN s -> 'comparisons' -> c ->> 'comparator' = 'name' THEN 2 ELSE 0 END
	                    -- the evidence floor (issue 12): 4 evidence, 8 evidence when rare, 16 floor on,
	                    -- 32 an identifier or contact (4 + 32)
	                    + CASE WHEN s -> 'comparisons' -> c ->> 'comparator' IN ('id', 'phone', 'email') THEN 36
	                           WHEN s -> 'comparisons' -> c ->> 'comparator' = 'date' THEN 4
	                           WHEN s -> 'comparisons' -> c ->> 'comparator' = 'exact' AND s -> 'comparisons' -> c ->> 'attr' <> 'sex' THEN 4
	                           WHEN s -> 'comparisons' -> c ->> 'comparator' = 'string' AND s -> 'comparisons' -> c ->> 'attr' = 'address' THEN 4
	                           WHEN s -> 'comparisons' -> c ->> 'comparator' = 'string' AND (s -> 'comparisons' -> c ->> 'tf')::boolean THEN 8
	                           ELSE 0 END
	                    + CASE WHEN (s ->> 'evidence_floor')::boolean IS FALSE THEN 0 ELSE 16 END
	UNION ALL SELECT 3, GREATEST((p -> 'u' -> c ->> 0)::float8, 1e-6)
	UNION ALL SELECT 4 + j, COALESCE(cdp_internal._match_op_code(lv ->> 'if', s -> 'comparisons' -> c ->> 'comparator'), 0)
	            FROM generate_series(0, pg_temp.lv() - 1) j LEFT JOIN LATERAL (SELECT s -> 'comparisons' -> c -> 'levels' -> j AS lv) x ON true
	UNION ALL SELECT 4 + pg_temp.lv() + j,
	                 CASE WHEN lv ->> 'if' IN ('swapped', 'cross')
	                      THEN (SELECT fpos - 1 FROM cdp_internal._match_layout(s) WHERE attr = cdp_internal._match_attr_column(lv ->> 'with'))
	                      ELSE COALESCE(lv ->> 'ge', lv ->> 'le', lv ->> 'n', '0')::float8 END
	            FROM generate_series(0, pg_temp.lv() - 1) j LEFT JOIN LATERAL (SELECT s -> 'comparisons' -> c -> 'levels' -> j AS lv) x ON true
	UNION ALL SELECT 4 + 2 * pg_temp.lv() + j,
	                 CASE WHEN j <= jsonb_array_length(s -> 'comparisons' -> c -> 'levels')
	                      THEN pg_temp.log2(GREATEST((p -> 'm' -> c ->> j)::float8, 1e-6) / GREATEST((p -> 'u' -> c ->> j)::float8, 1e-6))
	                      ELSE 0 END
	            FROM generate_series(0, pg_temp.lv()) j
$$;
CREATE FUNCTION pg_temp.list(s jsonb, rule text) RETURNS float8[] LANGUAGE sql AS $$
	SELECT COALESCE(array_agg(l.comp ORDER BY l.comp), '{}')::float8[] FROM cdp_internal._match_layout(s) l
	 WHERE l.attr IN (SELECT cdp_internal._match_attr_column(a) FROM jsonb_array_elements_text(s -> 'rules' -> rule) a)
$$;

SELECT is((SELECT count(*)::int FROM prog), 10, 'five documents compile, untrained and trained');
SELECT is((SELECT count(*)::int FROM prog
            WHERE program[1:7] IS DISTINCT FROM ARRAY[jsonb_array_length(s -> 'comparisons'),
                    (SELECT sum(CASE WHEN comparator = 'name' THEN 2 ELSE 1 END) FROM cdp_internal._match_layout(s)),
                    cdp_internal._match_walked_rules(s), pg_temp.log2((p ->> 'lambda')::float8 / (1 - (p ->> 'lambda')::float8)),
                    cardinality(pg_temp.list(s, 'same_id_match')), cardinality(pg_temp.list(s, 'different_id_never')),
                    cardinality(pg_temp.list(s, 'disagree_never'))]::float8[]), 0,
          'the header: comparisons, feature columns, rules walked ("blocking" and "candidate_blocking", not "lookup_blocking"), prior log2(λ/(1-λ)), rule list lengths');
SELECT is((SELECT count(*)::int FROM prog, generate_series(0, jsonb_array_length(s -> 'comparisons') - 1) c, pg_temp.expect(s, p, c) e
            WHERE pg_temp.slot(program, c, e.k) IS DISTINCT FROM e.v), 0,
          'each comparison: feature column, levels, flags, u0, op codes, arguments and weights as explain_match computes them');
SELECT is((SELECT count(*)::int FROM prog
            WHERE program[7 + jsonb_array_length(s -> 'comparisons') * (4 + 3 * pg_temp.lv() + 1) + 1:]
                  IS DISTINCT FROM pg_temp.list(s, 'same_id_match') || pg_temp.list(s, 'different_id_never') || pg_temp.list(s, 'disagree_never')), 0,
          'the tail: same_id_match, different_id_never and disagree_never comparison numbers');
SELECT is((SELECT program[7 + 1 + 4 + pg_temp.lv() + 2] FROM prog WHERE name = 'cross' AND NOT trained),
          (SELECT fpos - 1 FROM cdp_internal._match_layout((SELECT s FROM doc WHERE name = 'cross')) WHERE attr = 'given_name')::float8,
          'a swapped level carries the other name''s value column');
SELECT is((SELECT program[7 + 1 * (4 + 3 * pg_temp.lv() + 1) + 4 + pg_temp.lv() + 2] FROM prog WHERE name = 'aliases' AND NOT trained),
          (SELECT fpos - 1 FROM cdp_internal._match_layout((SELECT s FROM doc WHERE name = 'aliases')) WHERE attr = 'family_name')::float8,
          'a "with" written as an alias (SURNAME) names the family name column');
SELECT is((SELECT program[7 + 8 * (4 + 3 * pg_temp.lv() + 1) + 1:] FROM prog WHERE name = 'aliases' AND NOT trained),
          '{3,4,5,4,1,2}'::float8[], 'rule lists written as aliases (снилс, polis, phone; SNILS; dob) resolve to comparison numbers');
SELECT is((SELECT count(*)::int FROM prog
            WHERE program IS DISTINCT FROM cdp_internal._match_compile_program(s, cdp_internal._match_params(s, CASE WHEN trained THEN p END))), 0,
          '_match_program is _match_compile_program over _match_params');

-- the kernel decodes every program (a walk over no records)
CREATE FUNCTION pg_temp.walks(pr float8[]) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	PERFORM * FROM cdp_internal._match_walk('count', 'SELECT 1::bigint, 1::bigint, 0, ''{}''::text[], ''{}''::text[] WHERE false', pr, 0, 0, 0, 0, NULL);
	RETURN true;
END $$;
SELECT ok((SELECT bool_and(pg_temp.walks(program)) FROM prog), 'the kernel accepts every compiled program');
SELECT throws_ok($$SELECT pg_temp.walks('{NaN,0,0,0,0,0,0}')$$, '22023', 'matching program slot 0 is out of range',
          'the kernel refuses a NaN slot');

-- the feature program: a kind per comparison, a rule per blocking rule, the placeholder columns
SELECT is((SELECT count(*)::int FROM doc, cdp_internal._match_feature_program(s) f
            WHERE cardinality(f.kinds) = jsonb_array_length(s -> 'comparisons') AND cardinality(f.raws) = cardinality(f.kinds)
              AND cardinality(f.rules) = jsonb_array_length(cdp_internal._match_rules(s))), 5,
          'every document compiles for the C feature builder');
SELECT is((SELECT f.rules FROM doc, cdp_internal._match_feature_program(s) f WHERE name = 'cross'),
          ARRAY['N;1:0;3:0', 'A;1:0;3:0', 'N;6:0'], 'rules: any_order flag and the key column of each ".key" item');
SELECT is((SELECT f.ph_pos FROM doc, cdp_internal._match_feature_program(s) f WHERE name = 'cross'), ARRAY[0, 2, 4],
          'the placeholder name columns');
SELECT ok((SELECT f.kinds IS NULL AND f.rules IS NULL FROM cdp_internal._match_feature_program(cdp_internal._match_expand(cdp_internal._match_default_settings()
              || '{"blocking": [["family_name.phonetic"]]}')) f), 'a phonetic key: the SQL form (NULL program)');

-- limits and codes come from C
SELECT is(cdp_internal._match_constants() ?& ARRAY['max_comparisons', 'max_levels', 'max_rules', 'max_rule_keys', 'max_features',
                                         'max_osa', 'max_prefix', 'record_placeholder', 'value_sep'], true, '_match_constants names every limit and code');
SELECT throws_ok(format('SELECT cdp_internal._match_expand(%L)', jsonb_build_object('fields',
                   (SELECT jsonb_agg('f' || i) FROM generate_series(0, (cdp_internal._match_constants() ->> 'max_comparisons')::int) i))),
          '22023', 'invalid matching settings at "$.comparisons"', 'one comparison too many is refused by _match_expand');
SELECT throws_ok($$SELECT cdp_internal._match_expand('{"comparisons": [{"attr": "family_name", "levels": ["exact","key","exact","key","exact","key","exact","key","exact"]}], "blocking": [["family_name"]]}')$$,
          '22023', 'invalid matching settings at "$.comparisons[0].levels"', 'one level too many is refused by _match_expand');

-- the C entry points validate what they are given, with the settings error: one bad input per row,
-- merged into a document of one id comparison "a" blocked on itself
SELECT throws_ok(format('SELECT cdp_internal._match_compile_program(%L, %L)',
                        '{"comparisons": [{"attr": "a", "comparator": "id", "levels": ["exact"]}], "blocking": [["a"]]}'::jsonb || d, p),
                 code, msg, why)
  FROM (VALUES
    ('{"comparisons": [{"attr": "a", "comparator": "id", "levels": ["exact","exact","exact","exact","exact","exact","exact","exact","exact"]}]}'::jsonb,
     '{}'::jsonb, '22023', 'invalid matching settings at "$.comparisons[0].levels"', 'too many levels'),
    ('{"comparisons": [{"attr": "a", "comparator": "id", "levels": [{"if": "key"}]}]}', '{}', '22023',
     'invalid matching settings at "$.comparisons[0].levels[0]"', 'a level its comparator does not allow'),
    ('{"comparisons": [{"attr": "a", "comparator": "name", "levels": [{"if": "swapped", "with": "sex"}]}]}', '{}', '22023',
     'invalid matching settings at "$.comparisons[0].levels[0].with"', 'a swapped level naming no other name'),
    ('{"comparisons": [{"attr": "a", "comparator": "id", "levels": [{"if": "osa", "le": 1e300}]}]}', '{}', '22023',
     'invalid matching settings at "$.comparisons[0].levels[0]"', 'an osa level beyond the kernel''s int'),
    ('{"blocking": [["b"]]}', '{}', '22023', 'invalid matching settings at "$.blocking[0][0]"', 'a blocking key on an attr not compared'),
    ('{"rules": {"same_id_match": ["b"]}}', '{}', '22023', 'invalid matching settings at "$.rules.same_id_match[0]"',
     'a rule on an attr not compared'),
    ('{}', '{"lambda": 0.1}', '22023', 'matching parameter "m" must be an array of 1 arrays, one per comparison', 'parameters without m'),
    ('{}', '{"lambda": 1, "m": [[0.9, 0.1]], "u": [[0.1, 0.9]]}', '22023', 'invalid matching settings at "$.lambda"', 'a lambda of 1'),
    ('{}', '{"lambda": 0.1, "m": [[0.9, 1.5]], "u": [[0.1, 0.9]]}', '22023', 'invalid matching settings at "$.comparisons[0]"',
     'an m that is no probability'),
    ('{}', '{"lambda": 0.1, "m": [[0.9, null]], "u": [[0.1, 0.9]]}', '22004', 'matching parameter "m" of comparison 0 level 1 is null',
     'a null parameter')) v(d, p, code, msg, why);
SELECT throws_ok($$SELECT cdp_internal._match_compile_program('[]', '{}')$$, '22023', 'invalid matching settings at "$"', 'not an object');
SELECT ok(cdp_internal._match_compile_program(NULL, '{}') IS NULL AND cdp_internal._match_feature_program(NULL) IS NULL, 'NULL settings: NULL');

SELECT * FROM finish();
ROLLBACK;
