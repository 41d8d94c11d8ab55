-- test/pgtap/69_match_candidate_rules.sql: rules that find candidate pairs but never train
-- ("candidate_blocking", Splink's prediction-only blocking rules) and person support counted
-- over the records a run compared (issue 12, session 26).
BEGIN;
SELECT plan(31);

\ir ../fixtures/match_candidate_7.sql

/* ------------------------------------------------------------------ settings */
SELECT ok(cdp.configure_matching(pg_temp.doc('{}')) > 0, 'settings without candidate rules are saved');
SELECT is(cdp.matching_settings() -> 'candidate_blocking', '[]'::jsonb, 'and expand with no candidate rules');
SELECT is(pg_temp.candidate('c1', 'c2'), false, 'their blocking does not propose the pair that shares only the surname');
CREATE TEMP TABLE p0 AS SELECT cdp.train_matching(1000, 25) AS p;

SELECT ok(cdp.configure_matching(pg_temp.doc('{"candidate_blocking": [["family_name.key"]]}')) > 0,
          'settings with a candidate rule are saved');
SELECT is(cdp.matching_settings() -> 'blocking', '[["birth_date"], ["city", "given_name.key"]]'::jsonb,
          'the training rules stay as written');
SELECT is(pg_temp.candidate('c1', 'c2'), true, 'the candidate rule proposes the pair');
CREATE TEMP TABLE p1 AS SELECT cdp.train_matching(1000, 25) AS p;
SELECT is((SELECT p -> 'm' FROM p1), (SELECT p -> 'm' FROM p0), 'the candidate rule changes no trained m');
SELECT is((SELECT p -> 'u' FROM p1), (SELECT p -> 'u' FROM p0), 'nor u');
SELECT is((SELECT (p ->> 'lambda')::float8 FROM p1), (SELECT (p ->> 'lambda')::float8 FROM p0), 'nor lambda');
SELECT is((SELECT p -> 'per_rule' FROM p1), (SELECT p -> 'per_rule' FROM p0), 'and training counts the pairs of the training rules only');
SELECT is((SELECT array_agg(b.trains ORDER BY b.o) FROM cdp.blocking_report() WITH ORDINALITY b(rule, pairs, new_pairs, skipped_pairs, trains, o)),
          ARRAY[true, true, false],
          'blocking_report says which rules train');
SELECT is((SELECT b.pairs FROM cdp.blocking_report() b WHERE b.rule = '["family_name.key"]'), 5::bigint,
          'and counts the pairs of the candidate rule (Соколов twice and Соколова, Белова twice, Котов and Котова)');

/* ------------------------------------------------------------------ incremental and full runs */
-- (untrained: seven records train nothing sensible)
SELECT ok(cdp.configure_matching(pg_temp.doc('{"candidate_blocking": [["family_name.key"]]}')) > 0, 'the same settings, untrained');
-- the persons of the fixture records, as sorted lists of fixture names
CREATE FUNCTION pg_temp.persons() RETURNS text[] LANGUAGE sql AS $$
	SELECT array_agg(m ORDER BY m) FROM (SELECT array_to_string(array_agg(r.name ORDER BY r.name), ',') AS m
	                                       FROM r JOIN cdp.record x ON x.record_id = r.id GROUP BY x.golden_id) p $$;
-- the candidate pairs of the full walk (sorted keys) and of the incremental one (each record's
-- block mates through match_block), the candidate rule's included
SELECT cdp_internal._match_ensure_keys();
SELECT is((SELECT count(*) FROM (SELECT p.record_a, p.record_b FROM cdp_internal._match_pairs(NULL, 0) p
                                 EXCEPT SELECT p.record_a, p.record_b FROM r, cdp_internal._match_pairs(ARRAY[r.id], 0) p) x), 0::bigint,
          'every candidate pair of a full run is found from either of its records alone, as an incremental run finds it');
SELECT is((SELECT count(*) FROM (SELECT p.record_a, p.record_b FROM r, cdp_internal._match_pairs(ARRAY[r.id], 0) p
                                 EXCEPT SELECT p.record_a, p.record_b FROM cdp_internal._match_pairs(NULL, 0) p) x), 0::bigint,
          'and no other');
SELECT ok((SELECT count(*) FROM cdp_internal._match_pairs(NULL, 0) p WHERE p.rule = 2) > 0,
          'the candidate rule yields some of them');
SAVEPOINT runs;
SELECT is((cdp.run_matching() ->> 'processed')::int, 7, 'an incremental run matches every queued record');
SELECT is(pg_temp.g('c1'), pg_temp.g('c2'), 'and links the pair only the candidate rule proposes');
SELECT is((SELECT decision FROM cdp.match_record(pg_temp.id('c1')) WHERE candidate = pg_temp.id('c2')), 'same_person',
          'match_record finds it too');
SELECT pg_temp.persons() AS inc_persons \gset
ROLLBACK TO SAVEPOINT runs;
SELECT cdp.run_matching('full') IS NOT NULL;
SELECT is(pg_temp.persons(), :'inc_persons'::text[], 'the full run builds the same persons as the incremental one');
SELECT is(pg_temp.g('c1'), pg_temp.g('c2'), 'the pair among them');

/* ------------------------------------------------------------------ support over every pair of the two persons */
-- a person of four records, and a record sharing a block (the e-mail) with one of them only: a
-- slip in the surname and a birth date one digit off keep it out of their name and date blocks,
-- though against each of them it scores high; and a person of four whose namesake shares the
-- name blocks with all four but agrees beyond the names with one only (another birth date)
INSERT INTO r VALUES
 ('q1', cdp.upsert_record('reg', 'q1', '{"family_name":"Орлов","given_name":"Пётр","birth_date":"1975-05-05","sex":"M","city":"Псков","email":"orl@mail.ru"}')),
 ('q2', cdp.upsert_record('lab', 'q2', '{"family_name":"Орлов","given_name":"Пётр","birth_date":"1975-05-05","sex":"M","city":"Псков"}')),
 ('q3', cdp.upsert_record('reg', 'q3', '{"family_name":"Орлов","given_name":"Пётр","birth_date":"1975-05-05","sex":"M","city":"Псков"}')),
 ('q4', cdp.upsert_record('lab', 'q4', '{"family_name":"Орлов","given_name":"Пётр","birth_date":"1975-05-05","sex":"M","city":"Псков"}')),
 ('qx', cdp.upsert_record('reg', 'qx', '{"family_name":"Орлв","given_name":"Пётр","birth_date":"1975-05-06","sex":"M","city":"Псков","email":"orl@mail.ru"}')),
 ('z1', cdp.upsert_record('reg', 'z1', '{"family_name":"Зайцев","given_name":"Иван","birth_date":"1970-02-02","city":"Псков","email":"zai@mail.ru"}')),
 ('z2', cdp.upsert_record('lab', 'z2', '{"family_name":"Зайцев","given_name":"Иван","birth_date":"1970-02-02","city":"Псков"}')),
 ('z3', cdp.upsert_record('reg', 'z3', '{"family_name":"Зайцев","given_name":"Иван","birth_date":"1970-02-02","city":"Псков"}')),
 ('z4', cdp.upsert_record('lab', 'z4', '{"family_name":"Зайцев","given_name":"Иван","birth_date":"1970-02-02","city":"Псков"}')),
 ('zy', cdp.upsert_record('reg', 'zy', '{"family_name":"Зайцев","given_name":"Иван","birth_date":"1999-09-09","city":"Псков","email":"zai@mail.ru"}'));
SELECT ok(cdp.configure_matching('{"comparisons": [{"attr": "family_name", "comparator": "name"}, {"attr": "given_name", "comparator": "name"},
                                                   {"attr": "birth_date", "comparator": "date"}, {"attr": "emails", "comparator": "email"},
                                                   {"attr": "city", "comparator": "string"}, {"attr": "sex", "comparator": "exact"}],
                                   "blocking": [["family_name.key", "given_name.key"], ["birth_date"], ["emails"]]}') > 0,
          'settings whose name and date rules do not meet a record with a slip in each');
SELECT cdp.run_matching('full') IS NOT NULL;
SELECT is(pg_temp.g('qx'), pg_temp.g('q1'),
          'a record that blocking pairs with one record of a person of four, and that scores high against all four, joins it');
SELECT is((SELECT count(*)::int FROM cdp.candidate_pairs() p WHERE pg_temp.id('qx') IN (p.record_a, p.record_b)), 1,
          'though blocking proposed one pair of it');
SELECT isnt(pg_temp.g('zy'), pg_temp.g('z1'),
          'one sharing the name blocks with all four and agreeing beyond the names with one only does not');

/* ------------------------------------------------------------------ generated candidate rules */
SELECT is(cdp_internal._match_expand('{"fields": ["surname", "given_name", "dob", "city"]}') -> 'candidate_blocking',
          '[["family_name.key"], ["given_name.key"]]'::jsonb, 'a fields-only document blocks each name alone, for candidates only');
SELECT is(cdp_internal._match_expand('{"fields": ["surname", "patronymic", "given_name", "dob", "phone"]}') -> 'candidate_blocking',
          '[["given_name.key"]]'::jsonb, 'only the given name when it compares phones or an address: a household shares the others');
SELECT is(cdp_internal._match_expand('{"fields": ["surname", "given_name", "dob"], "blocking": [["birth_date"]]}') -> 'candidate_blocking',
          '[]'::jsonb, 'not when it gives its own blocking');
SET LOCAL client_min_messages = error;
SELECT ok(cdp.configure_matching('{"fields": ["surname", "given_name", "dob", "city"], "max_rule_pairs": 2}') > 0,
          'a generated candidate rule over max_rule_pairs');
SELECT ok(cdp.matching_settings() -> 'skipped_blocking' @> '[{"rule": ["family_name.key"], "trains": false}]'
          AND NOT cdp.matching_settings() -> 'candidate_blocking' @> '[["family_name.key"]]',
          'is left out and listed as a candidate rule');
SELECT is((SELECT b.trains FROM cdp.blocking_report() b WHERE b.rule = '["family_name.key"]' AND b.new_pairs = 0), false,
          'blocking_report lists it with its pairs skipped and as not training');
RESET client_min_messages;

SELECT * FROM finish();
ROLLBACK;
