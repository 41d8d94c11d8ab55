-- test/pgtap/69_match_lookup_rules.sql: rules keyed for find_patient only ("lookup_blocking",
-- issue 12, session 40): validated like the others, their keys stored after the others', and never
-- a pair from them: not in a full or an incremental run, not in match_record, not in training, not
-- in blocking_report's counts; find_patient and find_patient_namesakes search by them.
BEGIN;
SELECT plan(38);

\ir ../fixtures/match_candidate_7.sql
CREATE FUNCTION pg_temp.lookup() RETURNS jsonb LANGUAGE sql AS
	$$ SELECT '{"lookup_blocking": [["family_name.key", "given_name.key"]]}'::jsonb $$;
-- the persons of the fixture records, as sorted lists of fixture names
CREATE FUNCTION pg_temp.persons() RETURNS text[] LANGUAGE sql AS $$
	SELECT array_agg(m ORDER BY m) FROM (SELECT array_to_string(array_agg(r.name ORDER BY r.name), ',') AS m
	                                       FROM r JOIN cdp.record x ON x.record_id = r.id GROUP BY x.golden_id) p $$;
-- the records a walk's record query reads
CREATE FUNCTION pg_temp.reads(q text) RETURNS bigint[] LANGUAGE plpgsql AS $$
DECLARE ids bigint[];
BEGIN
	EXECUTE 'SELECT array_agg(q.record_id ORDER BY q.record_id) FROM (' || q || ') q(record_id, golden_id, flags, feat, bk)' INTO ids;
	RETURN ids;
END $$;

/* ------------------------------------------------------------------ validation */
SELECT throws_ok($$SELECT cdp.configure_matching(pg_temp.doc('{"lookup_blocking": {"a": 1}}'))$$, '22023',
                 'invalid matching settings at "$.lookup_blocking"', 'lookup_blocking must be an array');
SELECT throws_ok(format($$SELECT cdp.configure_matching(pg_temp.doc('{"lookup_blocking": %s}'))$$,
                        (SELECT jsonb_agg('["birth_date"]'::jsonb) FROM generate_series(1, (cdp_internal._match_constants() ->> 'max_lookup_rules')::int + 1))),
                 '22023', 'invalid matching settings at "$.lookup_blocking"', 'of at most max_lookup_rules rules');
SELECT throws_ok($$SELECT cdp.configure_matching(pg_temp.doc('{"lookup_blocking": [["family_name.key", "given_name.nope"]]}'))$$, '22023',
                 'invalid matching settings at "$.lookup_blocking[0][1]"', 'a lookup rule''s key is checked as a blocking rule''s');
SELECT throws_ok($$SELECT cdp.configure_matching(pg_temp.doc('{"lookup_blocking": [["birth_date"], []]}'))$$, '22023',
                 'invalid matching settings at "$.lookup_blocking[1]"', 'a lookup rule has keys');
SELECT throws_ok($$SELECT cdp.configure_matching(pg_temp.doc('{"lookup_blocking": [["any_order", "family_name.key"]]}'))$$, '22023',
                 'invalid matching settings at "$.lookup_blocking[0]"', 'an any_order lookup rule has two keys at least');
SELECT throws_ok($$SELECT cdp.configure_matching(pg_temp.doc('{"lookup_blocking": [["city.key"]]}'))$$, '22023',
                 'invalid matching settings at "$.lookup_blocking[0][0]"', 'and ".key" needs a name');
/* ------------------------------------------------------------------ settings and keys */
SELECT ok(cdp.configure_matching(pg_temp.doc('{}')) > 0, 'settings without lookup rules are saved');
SELECT ok(NOT cdp.matching_settings() ? 'lookup_blocking', 'and expand without the key');
CREATE TEMP TABLE p0 AS SELECT cdp.train_matching(1000, 25) AS p;
CREATE TEMP TABLE b0 AS SELECT b.* FROM cdp.blocking_report() b;
SELECT throws_ok($$SELECT * FROM cdp.find_patient('{"family_name": "Соколов", "given_name": "Андрей"}')$$, '22023',
                 'find_patient needs more than the attrs given', 'without a rule of the two names a lookup by them alone fails');

SELECT ok(cdp.configure_matching(pg_temp.doc(pg_temp.lookup())) > 0, 'settings with a lookup rule are saved');
SELECT is(cdp.matching_settings() -> 'lookup_blocking', '[["family_name.key", "given_name.key"]]'::jsonb, 'the lookup rule as written');
SELECT is(cdp.matching_settings() -> 'blocking', '[["birth_date"], ["city", "given_name.key"]]'::jsonb, 'the blocking rules as written');
SELECT is(cdp_internal._match_walked_rules(cdp.matching_settings()), 2, 'the walks pair records by two rules');
SELECT is((cdp_internal._match_program(cdp.matching_settings(), NULL))[3], 2::float8, 'the kernel''s program holds two');
SELECT is(cardinality((cdp_internal._match_feature_program(cdp.matching_settings())).rules), 3, 'the feature program keys three');
SELECT cdp_internal._match_ensure_keys();
SELECT is((SELECT bk[3] FROM cdp_internal.match_key WHERE record_id = pg_temp.id('c1')), 'r2:sokolov|andrei',
          'the lookup rule''s key is stored after the others''');
SELECT is((SELECT count(*)::int FROM cdp_internal.match_block WHERE bk = 'r2:sokolov|andrei'), 2, 'in the block index too, for both records');

/* ------------------------------------------------------------------ no pair from a lookup rule */
SELECT is(pg_temp.candidate('c1', 'c2'), false, 'the lookup rule proposes no candidate pair');
SELECT is((SELECT count(*)::int FROM cdp_internal._match_pairs(NULL, 0) p WHERE p.rule >= 2), 0, 'a full walk scores no pair by it');
SELECT is((SELECT count(*)::int FROM r, cdp_internal._match_pairs(ARRAY[r.id], 0) p WHERE p.rule >= 2), 0, 'nor a walk of one record''s block mates');
SELECT is(pg_temp.reads(cdp_internal._match_query(ARRAY[pg_temp.id('c2')])), ARRAY[pg_temp.id('c2')],
          'an incremental walk does not read the records that share only a lookup key with its records');
SELECT is(pg_temp.reads(cdp_internal._match_lookup_query(pg_temp.id('c2'))), ARRAY[pg_temp.id('c2')],
          'nor does match_record''s');
CREATE TEMP TABLE p1 AS SELECT cdp.train_matching(1000, 25) AS p;
SELECT is((SELECT p -> 'm' FROM p1), (SELECT p -> 'm' FROM p0), 'the lookup rule changes no trained m');
SELECT is((SELECT p -> 'u' FROM p1), (SELECT p -> 'u' FROM p0), 'nor u');
SELECT is((SELECT (p ->> 'lambda')::float8 FROM p1), (SELECT (p ->> 'lambda')::float8 FROM p0), 'nor lambda');
SELECT is((SELECT p -> 'per_rule' FROM p1), (SELECT p -> 'per_rule' FROM p0), 'and training counts no pair of it');
SELECT results_eq($$SELECT b.rule, b.pairs, b.new_pairs, b.skipped_pairs, b.trains FROM cdp.blocking_report() b$$,
                  $$SELECT b.rule, b.pairs, b.new_pairs, b.skipped_pairs, b.trains FROM b0 b
                    UNION ALL SELECT '["family_name.key", "given_name.key"]', NULL, NULL, NULL, false$$,
                  'blocking_report counts the walked rules as before and lists the lookup rule with no pairs, not training');

-- the runs under the settings without the lookup rule, to compare with
SAVEPOINT runs;
SELECT cdp.configure_matching(pg_temp.doc('{}')) > 0;
SELECT cdp.run_matching() ->> 'candidates' AS inc0 \gset
SELECT pg_temp.persons() AS inc0_persons \gset
ROLLBACK TO SAVEPOINT runs;
SELECT cdp.configure_matching(pg_temp.doc('{}')) > 0;
SELECT cdp.run_matching('full') ->> 'candidates' AS full0 \gset
ROLLBACK TO SAVEPOINT runs;
SELECT cdp.run_matching() AS inc1 \gset
SELECT is((:'inc1'::jsonb ->> 'processed')::int, 7, 'an incremental run matches every queued record');
SELECT is(:'inc1'::jsonb ->> 'candidates', :'inc0', 'it scores the pairs it scores without the lookup rule');
SELECT is(pg_temp.persons(), :'inc0_persons'::text[], 'into the persons it builds without the lookup rule');
SELECT isnt(pg_temp.g('c1'), pg_temp.g('c2'), 'and does not link the pair only the lookup rule would propose');
SELECT is((SELECT count(*)::int FROM cdp.match_record(pg_temp.id('c1')) WHERE candidate = pg_temp.id('c2')), 0,
          'match_record does not find it');
SELECT pg_temp.persons() AS inc_persons \gset
ROLLBACK TO SAVEPOINT runs;
SELECT is(cdp.run_matching('full') ->> 'candidates', :'full0', 'a full run scores the pairs it scores without the lookup rule');
SELECT is(pg_temp.persons(), :'inc_persons'::text[], 'and builds the same persons as the incremental one');

/* ------------------------------------------------------------------ lookups by the lookup rule */
SELECT is((SELECT array_agg(f.record_id ORDER BY f.record_id) FROM cdp.find_patient('{"family_name": "Соколов", "given_name": "Андрей"}') f),
          ARRAY[pg_temp.id('c1'), pg_temp.id('c2')], 'find_patient finds both by the two names alone');
SELECT is((SELECT f.record_id FROM cdp.find_patient('{"family_name": "Соколов", "given_name": "Андрей", "birth_date": "1980-01-07"}') f LIMIT 1),
          pg_temp.id('c2'), 'and the one born on the day given first');
SELECT is((SELECT array_agg(f.record_id ORDER BY f.record_id) FROM cdp.find_patient('{"family_name": "Соколов", "given_name": "Андрэй"}') f),
          ARRAY[pg_temp.id('c1'), pg_temp.id('c2')], 'and a given name with a typo reads the lookup rule''s name range');
SELECT is((SELECT row(n.persons, n.records)::text FROM cdp.find_patient_namesakes('{"family_name": "Соколов", "given_name": "Андрей"}') n),
          '(2,2)', 'find_patient_namesakes counts them');

SELECT * FROM finish();
ROLLBACK;
