-- test/pgtap/67_match_link_args.sql: a full run's arguments of link_records_many built in C
-- (cdp_internal._match_link_args, issue 12, session 35).  Given a run's links in any order, it must
-- give what the run's SQL gave: the places, record ids and evidence ordered by place, each evidence
-- the jsonb of jsonb_build_object('by', .., 'record_a', .., 'record_b', .., 'probability', ..,
-- 'weight', round(weight::numeric, 3), 'rule', rules -> rule, 'forced', .., 'levels', ..,
-- 'settings_version', ..), to the text and to the value, for odd numbers too (NaN, infinities,
-- rules out of range, levels outside the cached ones, repeated weights); and run_matching('full')
-- must write the same events as with that SQL.  Since session 36 the run gives golden the evidence in
-- parts (cdp_internal._match_link_sorted puts them in decision order; golden_link_run builds each
-- object into its event's payload): the sorted parts must be the ordered aggregates, and the run's
-- events the same as the reference's, to the byte.
BEGIN;
SELECT plan(23);

-- links in shuffled places (7919 is prime to 300), with repeated and odd values
CREATE TEMP TABLE lk AS
SELECT (i * 7919) % 300 + 1 AS ord, (1000 + i)::bigint AS record_a, (5000 - 3 * i)::bigint AS record_b,
       CASE i % 50 WHEN 0 THEN 'NaN'::float8 WHEN 1 THEN 'Infinity' WHEN 2 THEN '-Infinity'
                   ELSE (ARRAY[0.1::float8 + 0.2::float8, 0.999999999999, 1e-300, 0.5, 0.123456789012345678])[1 + i % 5] END AS probability,
       CASE i % 40 WHEN 3 THEN 'NaN'::float8 WHEN 4 THEN 'Infinity' WHEN 5 THEN '-Infinity'
                   ELSE (ARRAY[12.3455::float8, -7.0005, 2.0005, 1e300, -1e-5, 123456.789012])[1 + i % 6] END AS weight,
       (i % 9) - 3 AS rule, i % 3 = 0 AS forced,
       ARRAY[i % 5 - 1, (i * 31) % 200 - 100, -32768 + i % 2, 32767, 0]::smallint[] AS levels
  FROM generate_series(0, 299) i;
CREATE TEMP TABLE rs AS SELECT '[{"name": "phone"}, 7, "s", null, [1, {"x": 2}]]'::jsonb AS rules;

CREATE TEMP TABLE got AS
SELECT x.* FROM (SELECT array_agg(l.ord) o, array_agg(l.record_a) a, array_agg(l.record_b) b, array_agg(l.probability) p,
                        array_agg(l.weight) w, array_agg(l.rule) r, array_agg(l.forced) f, array_agg(l.levels) v FROM lk l) s,
                rs, cdp_internal._match_link_args(s.o, s.a, s.b, s.p, s.w, s.r, s.f, s.v, rs.rules, 'run_matching', 42) x;
CREATE TEMP TABLE want AS
SELECT array_agg(l.ord ORDER BY l.ord) AS ord, array_agg(l.record_a ORDER BY l.ord) AS record_a,
       array_agg(l.record_b ORDER BY l.ord) AS record_b,
       array_agg(jsonb_build_object('by', 'run_matching', 'record_a', l.record_a, 'record_b', l.record_b,
                                    'probability', l.probability, 'weight', round(l.weight::numeric, 3),
                                    'rule', rs.rules -> l.rule, 'forced', l.forced, 'levels', l.levels,
                                    'settings_version', 42) ORDER BY l.ord) AS evidence
  FROM lk l, rs;
SELECT is((SELECT ord FROM got), (SELECT ord FROM want), 'the places in order');
SELECT is((SELECT record_a FROM got), (SELECT record_a FROM want), 'record_a in the order of the places');
SELECT is((SELECT record_b FROM got), (SELECT record_b FROM want), 'record_b in the order of the places');
SELECT is((SELECT evidence::text FROM got), (SELECT evidence::text FROM want),
          'every evidence object as jsonb_build_object writes it (NaN, infinities, rules out of range, levels)');
SELECT ok((SELECT g.evidence = w.evidence FROM got g, want w), 'the evidence arrays are equal as jsonb');
SELECT is((SELECT count(*) FROM got, unnest(evidence) e WHERE jsonb_typeof(e) = 'object'), 300::bigint,
          'one evidence object per link');

-- rules that are no array (a -> on them is NULL), extra_float_digits, one link, no link
SELECT is((SELECT (cdp_internal._match_link_args('{1}', '{1}', '{2}', ARRAY[0.1::float8 + 0.2::float8], '{1.5}', '{0}', '{t}',
                                                  '{{1,2}}', '{"a": 1}', 'x', 1)).evidence::text),
          ARRAY[jsonb_build_object('by', 'x', 'record_a', 1, 'record_b', 2, 'probability', 0.1::float8 + 0.2::float8,
                                   'weight', round(1.5::numeric, 3), 'rule', '{"a": 1}'::jsonb -> 0, 'forced', true,
                                   'levels', '{1,2}'::smallint[], 'settings_version', 1)]::text,
          'rules that are an object give a null rule');
SET LOCAL extra_float_digits = 0;
SELECT is((SELECT (cdp_internal._match_link_args('{1}', '{1}', '{2}', ARRAY[0.1::float8 + 0.2::float8], '{1.5}', '{0}', '{f}',
                                                  '{{1}}', '5', 'x', 1)).evidence::text),
          ARRAY[jsonb_build_object('by', 'x', 'record_a', 1, 'record_b', 2, 'probability', 0.1::float8 + 0.2::float8,
                                   'weight', round(1.5::numeric, 3), 'rule', '5'::jsonb -> 0, 'forced', false,
                                   'levels', '{1}'::smallint[], 'settings_version', 1)]::text,
          'a probability as float8out writes it under extra_float_digits = 0, a scalar rules gives what -> gives');
RESET extra_float_digits;
SELECT is((SELECT row(x.ord, x.record_a, x.record_b, x.evidence)::text
             FROM cdp_internal._match_link_args('{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '[]', 'x', 1) x),
          row('{}'::int[], '{}'::bigint[], '{}'::bigint[], '{}'::jsonb[])::text, 'no link: empty arrays');
SELECT ok((SELECT x IS NULL FROM cdp_internal._match_link_args(NULL, '{}', '{}', '{}', '{}', '{}', '{}', '{}', '[]', 'x', 1) x),
          'NULL arrays (a run without links): NULL');

-- the parts sorted by place (_match_link_sorted): the ordered aggregates, levels by rows
SELECT is((SELECT (x.ord, x.record_a, x.record_b, x.probability, x.weight, x.rule, x.forced, x.levels)::text
             FROM (SELECT array_agg(l.ord) o, array_agg(l.record_a) a, array_agg(l.record_b) b, array_agg(l.probability) p,
                          array_agg(l.weight) w, array_agg(l.rule) r, array_agg(l.forced) f, array_agg(l.levels) v FROM lk l) s,
                  cdp_internal._match_link_sorted(s.o, s.a, s.b, s.p, s.w, s.r, s.f, s.v) x),
          (SELECT (array_agg(l.ord ORDER BY l.ord), array_agg(l.record_a ORDER BY l.ord), array_agg(l.record_b ORDER BY l.ord),
                   array_agg(l.probability ORDER BY l.ord), array_agg(l.weight ORDER BY l.ord), array_agg(l.rule ORDER BY l.ord),
                   array_agg(l.forced ORDER BY l.ord), array_agg(l.levels ORDER BY l.ord))::text FROM lk l),
          'the parts sorted by place are the aggregates ordered by place');
SELECT is((SELECT row(x.ord, x.record_a, x.record_b, x.probability, x.weight, x.rule, x.forced, x.levels)::text
             FROM cdp_internal._match_link_sorted('{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}') x),
          row('{}'::int[], '{}'::bigint[], '{}'::bigint[], '{}'::float8[], '{}'::float8[], '{}'::int[], '{}'::boolean[], '{}'::smallint[])::text,
          'no link: empty sorted parts');
SELECT throws_ok($$SELECT cdp_internal._match_link_sorted('{1,1}', '{1,3}', '{2,4}', '{0.5,0.5}', '{1,1}', '{0,0}', '{f,f}', '{{1},{1}}')$$,
                 '22023', 'argument 1 of _match_link_sorted must not repeat a place (1)', 'sorted parts: a place given twice is refused');
SELECT throws_ok($$SELECT cdp_internal._match_link_sorted('{1,2}', '{1,3}', '{2,4}', '{0.5,0.5}', '{1}', '{0,0}', '{f,f}', '{{1},{1}}')$$,
                 '2202E', 'arrays given to _match_link_sorted do not match in length', 'sorted parts: arrays of different lengths are refused');
SELECT throws_ok($$SELECT cdp_internal._match_link_sorted('{1}', '{1}', '{2}', '{0.5}', '{1}', '{0}', ARRAY[NULL]::boolean[], '{{1}}')$$,
                 '22004', 'argument 7 of _match_link_sorted must be a one-dimensional array without NULLs', 'sorted parts: a NULL is refused');

-- bad arguments
SELECT throws_ok($$SELECT cdp_internal._match_link_args('{1,2}', '{1}', '{2}', '{0.5}', '{1}', '{0}', '{f}', '{{1}}', '[]', 'x', 1)$$,
                 '2202E', NULL, 'arrays of different lengths are refused');
SELECT throws_ok($$SELECT cdp_internal._match_link_args('{1,1}', '{1,3}', '{2,4}', '{0.5,0.5}', '{1,1}', '{0,0}', '{f,f}', '{{1},{1}}', '[]', 'x', 1)$$,
                 '22023', NULL, 'a place given twice is refused');
SELECT throws_ok($$SELECT cdp_internal._match_link_args('{1}', ARRAY[NULL]::bigint[], '{2}', '{0.5}', '{1}', '{0}', '{f}', '{{1}}', '[]', 'x', 1)$$,
                 '22004', NULL, 'a NULL record id is refused');
SELECT throws_ok($$SELECT cdp_internal._match_link_args('{1}', '{1}', '{2}', '{0.5}', '{1}', '{0}', '{f}', '{1}', '[]', 'x', 1)$$,
                 '2202E', NULL, 'levels must have one row per link');

-- a full run writes the same events as with the SQL it replaces
SELECT cdp.register_source('la');
SELECT setseed(0.35);
CREATE TEMP TABLE gen AS
SELECT row_number() OVER () AS k,
       jsonb_strip_nulls(jsonb_build_object(
         'family_name', (ARRAY['Zorgul', 'Zorgol', 'Tramfo'])[1 + floor(random() * 3)::int],
         'given_name', (ARRAY['Wexlin', 'Wexlyn'])[1 + floor(random() * 2)::int],
         'birth_date', to_char(date '1980-01-01' + floor(random() * 4)::int, 'YYYY-MM-DD'),
         'phone', CASE WHEN random() < 0.5 THEN NULL ELSE '+7916' || lpad(floor(random() * 5)::text, 7, '0') END)) AS attrs
  FROM generate_series(1, 80) i;
SELECT count(cdp.upsert_record('la', g.k::text, g.attrs)) FROM gen g;
SAVEPOINT s;
SELECT (cdp.run_matching('full') ->> 'linked')::int AS linked \gset
SELECT string_agg(e.kind || ' ' || e.payload::text, E'\n' ORDER BY e.event_id) AS run_events,
       md5(string_agg(jsonb_send(e.payload)::text, ',' ORDER BY e.event_id)) AS run_bytes
  FROM cdp.event e WHERE e.kind IN ('record.linked', 'patient.merged') \gset
ROLLBACK TO SAVEPOINT s;
SELECT cmp_ok(:linked, '>', 5, 'the run links records');
-- the reference: _match_run with its link statement as it was (ordered aggregates, jsonb_build_object)
DO $$
DECLARE
	src text := pg_catalog.pg_get_functiondef('cdp_internal._match_run(text)'::regprocedure);
	i int := position('SELECT x.ord, x.record_a, x.record_b, x.probability, x.weight' IN src);
	j int := position($m$'run_matching', a.version);$m$ IN src);
BEGIN
	IF i = 0 OR j = 0 THEN
		RAISE EXCEPTION 'the link statement of _match_run is not found';
	END IF;
	j := j + position('END IF;' IN substr(src, j)) - 1;
	src := substr(src, 1, i - 1) || $q$SELECT pg_catalog.array_agg(lp.ord ORDER BY lp.ord), cdp.link_records_many(
	         COALESCE(pg_catalog.array_agg(t.record_a ORDER BY lp.ord), '{}'), COALESCE(pg_catalog.array_agg(t.record_b ORDER BY lp.ord), '{}'),
	         pg_catalog.array_agg(pg_catalog.jsonb_build_object(
	           'by', 'run_matching', 'record_a', t.record_a, 'record_b', t.record_b, 'probability', t.probability,
	           'weight', pg_catalog.round(t.weight::numeric, 3), 'rule', cdp_internal._match_rules(a.settings) -> t.rule,
	           'forced', t.flags & pair_forced <> 0, 'levels', t.levels, 'settings_version', a.version) ORDER BY lp.ord))
	  INTO link_ord, link_res
	  FROM _cdp_plan lp JOIN _cdp_scored t ON t.id = lp.pair_id
	 WHERE lp.action = 'l';$q$ || substr(src, j + length('END IF;'));
	EXECUTE src;
END $$;
SELECT is((cdp.run_matching('full') ->> 'linked')::int, :linked, 'the reference links as many');
SELECT is((SELECT string_agg(e.kind || ' ' || e.payload::text, E'\n' ORDER BY e.event_id)
             FROM cdp.event e WHERE e.kind IN ('record.linked', 'patient.merged')),
          :'run_events', 'the same link events with the same evidence, in the same order');
SELECT is((SELECT md5(string_agg(jsonb_send(e.payload)::text, ',' ORDER BY e.event_id))
             FROM cdp.event e WHERE e.kind IN ('record.linked', 'patient.merged')),
          :'run_bytes', 'the payloads are the same bytes');

SELECT * FROM finish();
ROLLBACK;
