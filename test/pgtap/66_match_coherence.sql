-- test/pgtap/66_match_coherence.sql: matching on data it was not tuned to (issue 12), with the
-- shipped default settings, untrained: cluster coherence (a chain whose ends contradict, a record
-- that agrees with one record of a person only), the evidence floor (names alone never link), the
-- oversize alarm, one review entry per pair of persons, and the same persons from an incremental
-- and a full run.
BEGIN;
SELECT plan(59);

SELECT cdp.register_source(n) FROM unnest(ARRAY['reg', 'lab', 'crm']) n;
CREATE TEMP TABLE r(name text PRIMARY KEY, id bigint);
INSERT INTO r VALUES
 -- a chain of five: each record shares a phone with the next (a same_id_match rule), the names
 -- agree, the ends were born in other years and are of other sexes
 ('ch1', cdp.upsert_record('reg', 'ch1', '{"family_name":"Зуев","given_name":"Артём","patronymic":"Павлович","birth_date":"1971-03-04","sex":"M","phones":["+79031000001"]}')),
 ('ch2', cdp.upsert_record('lab', 'ch2', '{"family_name":"Зуев","given_name":"Артём","patronymic":"Павлович","phones":["+79031000001","+79031000002"]}')),
 ('ch3', cdp.upsert_record('crm', 'ch3', '{"family_name":"Зуев","given_name":"Артём","patronymic":"Павлович","phones":["+79031000002","+79031000003"]}')),
 ('ch4', cdp.upsert_record('reg', 'ch4', '{"family_name":"Зуев","given_name":"Артём","patronymic":"Павлович","phones":["+79031000003","+79031000004"]}')),
 ('ch5', cdp.upsert_record('lab', 'ch5', '{"family_name":"Зуев","given_name":"Артём","patronymic":"Павлович","birth_date":"1994-08-21","sex":"F","phones":["+79031000004"]}')),
 -- one person four times, and a record that agrees with only one of them beyond the names
 ('a1', cdp.upsert_record('reg', 'a1', '{"family_name":"Лаптев","given_name":"Игорь","patronymic":"Олегович","birth_date":"1966-12-30","sex":"M","phone":"+79032000001","email":"lapt@mail.ru"}')),
 ('a2', cdp.upsert_record('lab', 'a2', '{"family_name":"Лаптев","given_name":"Игорь","patronymic":"Олегович","birth_date":"1966-12-30","sex":"M","phone":"+79032000001"}')),
 ('a3', cdp.upsert_record('crm', 'a3', '{"family_name":"Лаптев","given_name":"Игорь","patronymic":"Олегович","birth_date":"1966-12-30","sex":"M","phone":"+79032000001"}')),
 ('a4', cdp.upsert_record('reg', 'a4', '{"family_name":"Лаптев","given_name":"Игорь","patronymic":"Олегович","birth_date":"1966-12-30","sex":"M","phone":"+79032000001"}')),
 ('ax', cdp.upsert_record('crm', 'ax', '{"family_name":"Лаптев","given_name":"Игорь","email":"lapt@mail.ru"}')),
 -- the same full name and nothing else, twice: no evidence beyond the names
 ('n1', cdp.upsert_record('reg', 'n1', '{"family_name":"Кротов","given_name":"Илья","patronymic":"Семёнович"}')),
 ('n2', cdp.upsert_record('lab', 'n2', '{"family_name":"Кротов","given_name":"Илья","patronymic":"Семёнович"}'));
CREATE FUNCTION pg_temp.g(n text) RETURNS bigint LANGUAGE sql AS $$ SELECT golden_id FROM cdp.record WHERE record_id = (SELECT id FROM r WHERE name = n) $$;
CREATE FUNCTION pg_temp.id(n text) RETURNS bigint LANGUAGE sql AS $$ SELECT id FROM r WHERE name = n $$;
-- the persons of the fixture records, as sorted lists of fixture names
CREATE FUNCTION pg_temp.persons() RETURNS text[] LANGUAGE sql AS $$
	SELECT array_agg(m ORDER BY m) FROM (SELECT array_to_string(array_agg(r.name ORDER BY r.name), ',') AS m
	                                       FROM r JOIN cdp.record x ON x.record_id = r.id GROUP BY x.golden_id) p $$;

-- the open rows of the review table per pair of persons (by the records' persons now)
CREATE FUNCTION pg_temp.open_entries() RETURNS TABLE (person_a bigint, person_b bigint, n bigint) LANGUAGE sql AS $$
	SELECT LEAST(ra.golden_id, rb.golden_id), GREATEST(ra.golden_id, rb.golden_id), count(*)
	  FROM cdp_internal.match_review q
	  JOIN cdp.record ra ON ra.record_id = q.record_a JOIN cdp.record rb ON rb.record_id = q.record_b
	 WHERE q.status = 'open' AND ra.golden_id <> rb.golden_id
	 GROUP BY 1, 2 $$;

-- what the kernel flags before any run
SELECT ok((SELECT level LIKE '%совпали только имена%' FROM cdp.explain_match(pg_temp.id('n1'), pg_temp.id('n2')) WHERE attr = '(итог)'),
          'explain_match says a pair agreeing on names only is not linked automatically');
SELECT cmp_ok((SELECT probability FROM cdp.explain_match(pg_temp.id('n1'), pg_temp.id('n2')) WHERE attr = '(итог)'), '>', 0.9::float8,
          'although the names alone score over the link threshold');
SELECT cmp_ok((SELECT probability FROM cdp.explain_match(pg_temp.id('ax'), pg_temp.id('a1')) WHERE attr = '(итог)'), '>', 0.9::float8,
          'a record agreeing with a1 on names and e-mail scores over the link threshold');

/* ------------------------------------------------------------------ incremental, then full */
SAVEPOINT before_runs;
SELECT is((cdp.run_matching() ->> 'processed')::int, (SELECT count(*)::int FROM r), 'the incremental run processes every queued record');
SELECT pg_temp.persons() AS inc_persons \gset

SELECT isnt(pg_temp.g('ch1'), pg_temp.g('ch5'), 'a chain of five whose ends contradict is not one person');
SELECT ok((SELECT count(DISTINCT pg_temp.g(n)) FROM unnest(ARRAY['ch1', 'ch2', 'ch3', 'ch4', 'ch5']) n) >= 2,
          'the chain ends as two or more persons');
SELECT is(pg_temp.g('ch1'), pg_temp.g('ch2'), 'while the links that contradict nothing are made');
-- the links refused in the chain (session 39: a dateless link of the chain that would join the ends'
-- persons is held as ambiguous, so the chain may end as three persons)
SELECT ok((SELECT count(*) >= 1 AND bool_and(q.summary ~ 'разные даты рождения|разный пол|лишь на часть записей|подходит двум разным людям')
                  AND count(*) = count(DISTINCT (q.person_a, q.person_b))
             FROM cdp.review_queue q
            WHERE q.person_a IN (SELECT pg_temp.g(n) FROM unnest(ARRAY['ch1', 'ch2', 'ch3', 'ch4', 'ch5']) n)
              AND q.person_b IN (SELECT pg_temp.g(n) FROM unnest(ARRAY['ch1', 'ch2', 'ch3', 'ch4', 'ch5']) n)),
          'the links refused between the chain''s persons wait in review once per pair of persons, with their reason');

SELECT is((SELECT count(DISTINCT pg_temp.g(n)) FROM unnest(ARRAY['a1', 'a2', 'a3', 'a4']) n), 1::bigint, 'the person of four records is one');
SELECT isnt(pg_temp.g('ax'), pg_temp.g('a1'), 'a record agreeing with one of its four records beyond the names does not join it');
SELECT ok(EXISTS (SELECT 1 FROM cdp.review_queue q WHERE q.summary LIKE '%лишь на часть записей%'
                   AND pg_temp.g('ax') IN (q.person_a, q.person_b)),
          'it goes to review, saying it agrees with part of the person only');
SELECT is((SELECT decision FROM cdp.match_record(pg_temp.id('ax')) WHERE candidate = pg_temp.id('a1')), 'review',
          'match_record decides it as the run did (resolution against the person)');

SELECT isnt(pg_temp.g('n1'), pg_temp.g('n2'), 'a name-only pair never links');
SELECT is((SELECT decision FROM cdp.match_record(pg_temp.id('n1')) WHERE candidate = pg_temp.id('n2')), 'review',
          'match_record never offers a name-only pair as a link');
SELECT is((SELECT count(*) FROM cdp.review_queue q WHERE pg_temp.g('n1') IN (q.person_a, q.person_b)), 0::bigint,
          'it is not queued: a reviewer could check nothing but the names');
SELECT cmp_ok((SELECT (result ->> 'review_undecidable')::int FROM cdp.matching_progress ORDER BY run_id DESC LIMIT 1), '>=', 1,
          'the run counts it as undecidable instead');
SELECT is((SELECT array_agg(q.reason) FROM cdp.review_queue q WHERE pg_temp.g('ax') IN (q.person_a, q.person_b)), ARRAY['support'],
          'the review entry says why it waits: support');
SELECT ok((SELECT bool_and(q.reason ~ '^(contradiction:(birth_date|sex)|support|ambiguous)$') FROM cdp.review_queue q
            WHERE q.person_a IN (SELECT pg_temp.g(n) FROM unnest(ARRAY['ch1', 'ch2', 'ch3', 'ch4', 'ch5']) n)
              AND q.person_b IN (SELECT pg_temp.g(n) FROM unnest(ARRAY['ch1', 'ch2', 'ch3', 'ch4', 'ch5']) n)),
          'and the chain held between persons says a contradiction, support or ambiguity');
-- (counted in what the run wrote, cdp_internal.match_review, by the records' persons now: the view
-- cdp.review_queue shows one row per pair of persons whatever the table holds)
SELECT is((SELECT count(*) FROM pg_temp.open_entries() x WHERE x.n > 1), 0::bigint,
          'one review entry per pair of persons');
SELECT cmp_ok((SELECT count(*) FROM pg_temp.open_entries()), '>=', 2::bigint, 'of which there are several');
ROLLBACK TO SAVEPOINT before_runs;

SELECT is((cdp.run_matching('full') ->> 'processed')::int, (SELECT count(*)::int FROM cdp.record), 'the full run processes every record');
SELECT is(pg_temp.persons(), :'inc_persons'::text[], 'the incremental and the full run give the same persons');
SELECT is((cdp.run_matching('full') ->> 'linked')::int, 0, 'a second full run links nothing');

/* ------------------------------------------------------------------ a blocking rule over the bound */
SET LOCAL client_min_messages = error;
SELECT ok(cdp.configure_matching('{"fields": ["family_name", "given_name", "patronymic"], "max_rule_pairs": 4}') > 1,
          'a fields-only document is saved with a bound on the pairs of a rule');
RESET client_min_messages;
SELECT ok(jsonb_array_length(cdp.matching_settings() -> 'skipped_blocking') >= 1
          AND (SELECT bool_and((x ->> 'pairs')::int > 4) FROM jsonb_array_elements(cdp.matching_settings() -> 'skipped_blocking') x),
          'a generated rule yielding more pairs than the bound is left out, with its pairs');
SELECT ok(jsonb_array_length(cdp.matching_settings() -> 'blocking') >= 1
          AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(cdp.matching_settings() -> 'skipped_blocking') x,
                                        jsonb_array_elements(cdp_internal._match_rules(cdp.matching_settings())) b
                           WHERE b = x -> 'rule'),
          'and the rules kept do not include it');
SELECT ok(EXISTS (SELECT 1 FROM cdp.blocking_report() b, jsonb_array_elements(cdp.matching_settings() -> 'skipped_blocking') x
                   WHERE b.rule = (x -> 'rule')::text AND b.skipped_pairs = b.pairs AND b.pairs > 4),
          'blocking_report lists the rule left out with all its pairs skipped');

/* ------------------------------------------------------------------ the floor turned off */
SELECT ok(cdp.configure_matching(cdp_internal._match_default_settings() || '{"evidence_floor": false}') > 1,
          'evidence_floor is a settings key');
SELECT ok((SELECT level NOT LIKE '%совпали только имена%' FROM cdp.explain_match(pg_temp.id('n1'), pg_temp.id('n2')) WHERE attr = '(итог)'),
          'without the floor a name-only pair is not flagged');

/* ------------------------------------------------------------------ the oversize alarm */
SELECT ok(cdp.configure_matching(cdp_internal._match_default_settings() || '{"max_person_records": 3}') > 1,
          'max_person_records is a settings key');
INSERT INTO r SELECT 'big' || i, cdp.upsert_record((ARRAY['reg', 'lab', 'crm'])[1 + i % 3], 'big' || i,
                 '{"family_name":"Шубин","given_name":"Гордей","patronymic":"Ильич","birth_date":"1958-06-01","sex":"M","phone":"+79034000001","snils":"112-233-445 95"}')
  FROM generate_series(1, 5) i;
CREATE TEMP TABLE big_run AS SELECT cdp.run_matching('full') AS res;
SELECT is((SELECT max(c) FROM (SELECT count(*) AS c FROM r JOIN cdp.record x ON x.record_id = r.id WHERE r.name LIKE 'big%' GROUP BY x.golden_id) y),
          3::bigint, 'a person stops at the configured size');
SELECT is((SELECT array_agg(records) FROM cdp.oversize_persons WHERE golden_id = pg_temp.g('big1')), ARRAY[3::bigint],
          'the view lists the person that reached it');
SELECT is((SELECT array_agg(x.n) FROM pg_temp.open_entries() x WHERE pg_temp.g('big1') IN (x.person_a, x.person_b)), ARRAY[1::bigint],
          'the next candidates go to review, in one entry for the pair of persons');
SELECT is((SELECT count(*) FROM cdp.review_queue q
            WHERE q.summary LIKE '%слишком много записей%' AND pg_temp.g('big1') IN (q.person_a, q.person_b)), 1::bigint,
          'saying the person is too big');
SELECT cmp_ok((SELECT q.pairs FROM cdp.review_queue q WHERE pg_temp.g('big1') IN (q.person_a, q.person_b)), '>', 1,
          'which counts the record pairs it stands for');
SELECT is((SELECT array_agg(q.reason) FROM cdp.review_queue q WHERE pg_temp.g('big1') IN (q.person_a, q.person_b)), ARRAY['oversize'],
          'with the reason oversize');
-- a reviewer decides the two persons apart: no later run queues them again (each full run once
-- queued their next record pair, «decided_no_match», issue 12)
SELECT is(cdp.review_decide((SELECT q.pair_id FROM cdp.review_queue q WHERE pg_temp.g('big1') IN (q.person_a, q.person_b)), 'no_match'),
          NULL::bigint, 'a reviewer decides the two persons apart');
CREATE TEMP TABLE apart_run AS SELECT cdp.run_matching('full') AS res;
SELECT is((SELECT count(*) FROM pg_temp.open_entries() x WHERE pg_temp.g('big1') IN (x.person_a, x.person_b)), 0::bigint,
          'the next full run queues no entry for the persons decided apart');
SELECT cmp_ok((SELECT (res ->> 'review_decided_apart')::int FROM apart_run), '>=', 1,
          'it counts their record pairs as decided apart');
SELECT is((SELECT (res ->> 'queued')::int FROM apart_run), 0, 'and queues nothing else');
SELECT is((cdp.run_matching('full') ->> 'queued')::int, 0, 'nor does the one after it');
SELECT is((SELECT count(*) FROM pg_temp.open_entries() x WHERE pg_temp.g('big1') IN (x.person_a, x.person_b)), 0::bigint,
          'which leaves no entry for them either');
SELECT is((SELECT count(DISTINCT x.golden_id) FROM r JOIN cdp.record x ON x.record_id = r.id WHERE r.name LIKE 'big%'), 2::bigint,
          'and the persons stay apart');

/* ------------------------------------------------------------------ rare full names, nameless records */
-- three hundred people of distinct names, so that term frequencies make the names below rare
INSERT INTO r SELECT 'f' || i, cdp.upsert_record('reg', 'f' || i, jsonb_build_object(
		'family_name', 'Фам' || chr(1072 + i % 32) || chr(1072 + (i / 32) % 32),
		'given_name', 'Имя' || chr(1072 + (i * 7) % 32) || chr(1072 + (i / 7) % 32),
		'patronymic', 'Отч' || chr(1072 + (i * 3) % 32) || chr(1072 + (i / 5) % 32),
		'birth_date', (date '1940-01-01' + i * 37)::text))
  FROM generate_series(1, 300) i;
INSERT INTO r VALUES
 -- a rare full name twice, once with a birth date and an e-mail, once with nothing else
 ('rr1', cdp.upsert_record('reg', 'rr1', '{"family_name":"Редкозуб","given_name":"Евлампий","patronymic":"Никодимович","birth_date":"1950-01-02","email":"lamp@example.ru"}')),
 ('rr2', cdp.upsert_record('lab', 'rr2', '{"family_name":"Редкозуб","given_name":"Евлампий","patronymic":"Никодимович"}')),
 -- a record that lost its names, with the same e-mail and birth date
 ('nm1', cdp.upsert_record('crm', 'nm1', '{"birth_date":"1950-01-02","email":"lamp@example.ru"}')),
 ('nm2', cdp.upsert_record('crm', 'nm2', '{"birth_date":"1950-01-02"}')),
 -- two namesakes of a rare name (other birth dates) and a record of that name with nothing else
 ('am1', cdp.upsert_record('reg', 'am1', '{"family_name":"Ставрогин","given_name":"Никодим","patronymic":"Всеволодович","birth_date":"1931-04-05"}')),
 ('am2', cdp.upsert_record('lab', 'am2', '{"family_name":"Ставрогин","given_name":"Никодим","patronymic":"Всеволодович","birth_date":"1962-11-20"}')),
 ('amx', cdp.upsert_record('crm', 'amx', '{"family_name":"Ставрогин","given_name":"Никодим","patronymic":"Всеволодович"}'));
-- by default a full name, however rare, is a name: the pair waits for a person (issue 12's floor)
SELECT ok(cdp.configure_matching('{"fields": ["family_name", "given_name", "patronymic", "birth_date", "emails"]}') > 1,
          'fields-only settings are saved');
SELECT is(cdp.matching_settings() -> 'rare_name_links', 'false'::jsonb, 'a rare full name alone does not link unless asked');
SELECT is((cdp.train_matching() ->> 'trained')::boolean, true, 'the default settings are trained');
CREATE TEMP TABLE strict_run AS SELECT cdp.run_matching('full') AS res;
SELECT ok((SELECT level LIKE '%совпали только имена%' FROM cdp.explain_match(pg_temp.id('rr1'), pg_temp.id('rr2')) WHERE attr = '(итог)'),
          'with the default the rare full name is only a name, and explain_match says so');
SELECT isnt(pg_temp.g('rr2'), pg_temp.g('rr1'), 'so the record with the rare name and nothing else stays apart');
SELECT throws_ok($$SELECT cdp.configure_matching('{"fields": ["family_name"], "rare_name_links": "yes"}')$$, '22023', NULL,
          'rare_name_links must be a boolean');
-- a clinic that opts in: the rare full name is evidence (doc/matching.md)
SELECT ok(cdp.configure_matching('{"fields": ["family_name", "given_name", "patronymic", "birth_date", "emails"], "rare_name_links": true}') > 1,
          'fields-only settings that let a rare full name link are saved');
SELECT ok((SELECT bool_and(c -> 'levels' @> '[{"if": "swapped"}]') FROM jsonb_array_elements(cdp.matching_settings() -> 'comparisons') c
            WHERE c ->> 'attr' IN ('family_name', 'given_name')),
          'fields-only settings compare a family and a given name also exchanged');
SELECT is((cdp.train_matching() ->> 'trained')::boolean, true, 'the settings are trained (term frequencies)');
CREATE TEMP TABLE rare_run AS SELECT cdp.run_matching('full') AS res;
SELECT ok((SELECT level NOT LIKE '%совпали только имена%' AND level LIKE '%редкое полное имя%'
             FROM cdp.explain_match(pg_temp.id('rr1'), pg_temp.id('rr2')) WHERE attr = '(итог)'),
          'a rare full name is evidence beyond the names, and explain_match says so');
SELECT is(pg_temp.g('rr2'), pg_temp.g('rr1'), 'so the record with the rare name and nothing else joins its person');
SELECT ok((SELECT level NOT LIKE '%запись-заглушка%' FROM cdp.explain_match(pg_temp.id('rr1'), pg_temp.id('nm1')) WHERE attr = '(итог)'),
          'a record without names that agrees on an e-mail is not a placeholder for that pair');
SELECT ok((SELECT level LIKE '%запись-заглушка%' FROM cdp.explain_match(pg_temp.id('rr1'), pg_temp.id('nm2')) WHERE attr = '(итог)'),
          'one that agrees on a birth date only still is');
SELECT isnt(pg_temp.g('amx'), pg_temp.g('am1'), 'a rare name that two persons carry decides nothing: not the first');
SELECT isnt(pg_temp.g('amx'), pg_temp.g('am2'), 'nor the second');
SELECT isnt(pg_temp.g('am1'), pg_temp.g('am2'), 'and namesakes born on other dates stay apart');

SELECT * FROM finish();
ROLLBACK;
