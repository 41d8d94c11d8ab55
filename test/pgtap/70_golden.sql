-- test/pgtap/70_golden.sql: golden records (issue 5): survivorship per rule, lineage, merge and
-- redirects, rebuild equality, time travel around a merge and an unmerge, unmerge, clinical
-- events, archive, and the errors that must leave everything unchanged.
BEGIN;
\ir ../oracles/golden_fold.sql
SELECT plan(102);

-- ---------------------------------------------------------------- the fold, one rule at a time
-- doc(record_id, source_id, trust, validated, updated_at, family_name)
CREATE TEMP TABLE d (doc jsonb);
INSERT INTO d VALUES
 (cdp.golden_record_doc('{"record_id": 1, "source_id": 1, "created_at": "2020-01-01T00:00:00Z", "updated_at": "2020-01-01T00:00:00Z", "family_name": "Ivanov", "city": "Moskva", "address": "Lenina 1"}', 90)),
 (cdp.golden_record_doc('{"record_id": 2, "source_id": 2, "created_at": "2021-01-01T00:00:00Z", "updated_at": "2023-01-01T00:00:00Z", "family_name": "Ivanoff", "city": "Moscow", "address": "Moskva, ul. Lenina, d. 1", "extra": {"validated": true}}', 10)),
 (cdp.golden_record_doc('{"record_id": 3, "source_id": 2, "created_at": "2021-06-01T00:00:00Z", "updated_at": "2022-01-01T00:00:00Z", "family_name": "Ivanoff", "city": "Moskva"}', 10));
CREATE TEMP VIEW recs AS SELECT jsonb_agg(doc ORDER BY (doc->>'record_id')::int) AS r FROM d;

SELECT is((SELECT cdp.golden_fold(r, '{"family_name": ["trusted"]}') #>> '{lineage,family_name}' FROM recs)::jsonb - 'lost' - 'agree',
          '{"value": "Ivanov", "record_id": 1, "source_id": 1, "rule": "trusted"}', 'trusted: the most trusted source wins');
SELECT is((SELECT cdp.golden_fold(r, '{"family_name": ["recent"]}') #>> '{attributes,family_name}' FROM recs),
          'Ivanoff', 'recent: the most recently updated record wins');
SELECT is((SELECT cdp.golden_fold(r, '{"family_name": ["recent"]}') #>> '{lineage,family_name,record_id}' FROM recs),
          '2', 'recent: the winning record is the newest one');
SELECT is((SELECT cdp.golden_fold(r, '{"city": ["frequent"]}') #>> '{attributes,city}' FROM recs),
          'Moskva', 'frequent: the value most records share wins');
SELECT is((SELECT cdp.golden_fold(r, '{"address": ["complete"]}') #>> '{attributes,address}' FROM recs),
          'Moskva, ul. Lenina, d. 1', 'complete: the longest value wins');
SELECT is((SELECT cdp.golden_fold(r, '{"family_name": ["validated", "trusted"]}') #>> '{lineage,family_name,rule}' FROM recs),
          'validated', 'validated: a validated record wins over a more trusted one');
SELECT is((SELECT cdp.golden_fold(r, '{"family_name": ["frequent", "trusted"]}') #>> '{lineage,family_name}' FROM recs)::jsonb -> 'lost',
          '[{"value": "Ivanov", "records": [1]}]', 'lineage lists the value that lost and its records');
SELECT is((SELECT cdp.golden_fold(r, '{"family_name": ["frequent", "trusted"]}') #>> '{lineage,family_name}' FROM recs)::jsonb -> 'agree',
          '[2, 3]', 'lineage lists the records that agree with the winner');
SELECT is((SELECT cdp.golden_fold(r, '{"city": ["trusted", "frequent"]}') #>> '{lineage,city,rule}' FROM recs),
          'trusted', 'the deciding rule is the first rule that separates the values');
SELECT is((SELECT cdp.golden_fold(jsonb_build_array(r->1, r->2), '{"family_name": ["trusted"]}') #>> '{lineage,family_name,rule}' FROM recs),
          'unanimous', 'one value only: rule unanimous');
SELECT is((SELECT cdp.golden_fold(jsonb_build_array(r->1, r->0), '{"city": ["trusted"]}') #>> '{lineage,city}' FROM recs)::jsonb - 'lost' - 'agree',
          '{"value": "Moskva", "record_id": 1, "source_id": 1, "rule": "trusted"}', 'rules tie-break on the first rule');
SELECT is((SELECT cdp.golden_fold(jsonb_build_array(r->1, r->2), '{"city": ["trusted"]}') #>> '{lineage,city}' FROM recs)::jsonb ->> 'rule',
          'oldest_record', 'a full tie goes to the oldest record');
SELECT is((SELECT cdp.golden_fold(r, cdp.golden_default_rules()) FROM recs),
          (SELECT cdp.golden_fold(jsonb_build_array(r->2, r->0, r->1), cdp.golden_default_rules()) FROM recs),
          'the fold does not depend on the order of the records');

-- the one-record fast path gives what the general ranking query gives (the SQL oracle of
-- test/oracles/golden_fold.sql with its fast path cut out, compiled into pg_temp)
DO $$ DECLARE def text; BEGIN
  def := pg_get_functiondef('cdp_test.golden_fold_sql(jsonb,jsonb,boolean)'::regprocedure);
  def := replace(def, 'FUNCTION cdp_test.golden_fold_sql(', 'FUNCTION pg_temp.fold_general(');
  def := replace(def, 'pg_catalog.jsonb_array_length(recs) = 1 THEN', 'false THEN');
  EXECUTE def; END $$;
SELECT is_empty($$
  SELECT x FROM (VALUES
    (cdp.golden_record_doc('{"record_id": 7, "source_id": 2, "created_at": "2020-01-01T00:00:00+03:00", "updated_at": "2021-01-01T00:00:00Z", "family_name": "Ivanov", "sex": "M", "phones": ["+79161234567", "+79160000000", "+79161234567"], "emails": ["a@b.ru"], "handles": {"vk": "id1", "telegram": "t1"}, "extra": {"validated": true}}', 90)),
    (cdp.golden_record_doc('{"record_id": 8, "family_name": "", "given_name": "Anna", "phones": []}', NULL))) v(x)
  WHERE cdp.golden_fold(jsonb_build_array(x), cdp.golden_default_rules()) IS DISTINCT FROM pg_temp.fold_general(jsonb_build_array(x), cdp.golden_default_rules(), true)
     OR cdp.golden_fold(jsonb_build_array(x), cdp.golden_default_rules(), false) IS DISTINCT FROM pg_temp.fold_general(jsonb_build_array(x), cdp.golden_default_rules(), false)$$,
  'the one-record fast path equals the general fold');

-- ---------------------------------------------------------------- rules are validated data
SELECT throws_ok($$SELECT cdp.configure_survivorship('{"shoe_size": ["recent"]}')$$, '22023',
                 'unknown survivorship attribute "shoe_size"', 'unknown attribute');
SELECT throws_ok($$SELECT cdp.configure_survivorship('{"phones": ["recent"]}')$$, '22023',
                 'unknown survivorship attribute "phones"', 'multi-valued contacts take no rules');
SELECT throws_ok($$SELECT cdp.configure_survivorship('{"city": ["newest"]}')$$, '22023',
                 'unknown survivorship rule "newest" for attribute "city"', 'unknown rule');
SELECT throws_ok($$SELECT cdp.configure_survivorship('{"city": ["recent", "recent"]}')$$, '22023',
                 'survivorship rule "recent" appears twice for attribute "city"', 'duplicate rule');
SELECT throws_ok($$SELECT cdp.configure_survivorship('{"city": []}')$$, '22023',
                 'survivorship rules for attribute "city" must be a non-empty array', 'empty rule list');
SELECT throws_ok($$SELECT cdp.configure_survivorship('[]')$$, '22023',
                 'survivorship rules must be a JSON object', 'not an object');
SELECT is((SELECT count(*) FROM cdp.event WHERE kind = 'survivorship.configured'), 0::bigint,
          'refused rules append nothing');
-- the check itself (C, src/golden_rules.c): NULL and odd shapes, completion with the default
SELECT throws_ok($$SELECT cdp_internal.golden_check_rules(NULL)$$, '22023',
                 'survivorship rules must be a JSON object', 'NULL rules are refused');
SELECT throws_ok($$SELECT cdp_internal.golden_check_rules('{"city": "recent"}')$$, '22023',
                 'survivorship rules for attribute "city" must be a non-empty array', 'a rule list that is not an array');
SELECT throws_ok($$SELECT cdp_internal.golden_check_rules('{"city": ["recent", null]}')$$, '22023',
                 'unknown survivorship rule "null" for attribute "city"', 'a rule that is not a string');
SELECT throws_ok(format('SELECT cdp_internal.golden_check_rules(%L)', jsonb_build_object(repeat('я', 100), '["recent"]'::jsonb)), '22023',
                 format('unknown survivorship attribute "%s"', repeat('я', 32)), 'a long attribute name is quoted up to 64 bytes, whole characters');
SELECT is(cdp_internal.golden_check_rules('{"city": ["frequent"], "sex": ["validated", "recent"]}'),
          cdp.golden_default_rules() || '{"city": ["frequent"], "sex": ["validated", "recent"]}',
          'checked rules are completed with the default');
SELECT is(cdp.golden_default_rules(), '{"family_name": ["validated", "trusted", "recent", "complete"],
  "given_name": ["validated", "trusted", "recent", "complete"], "patronymic": ["validated", "trusted", "recent", "complete"],
  "sex": ["validated", "trusted", "frequent", "recent"], "birth_date": ["validated", "trusted", "frequent", "recent"],
  "snils": ["validated", "trusted", "recent"], "oms": ["validated", "trusted", "recent"],
  "address": ["recent", "trusted", "complete"], "city": ["recent", "trusted", "frequent"]}'::jsonb,
          'the default rules are those of doc/golden.md');
SELECT is(cdp.golden_rule_names(), ARRAY['validated', 'trusted', 'recent', 'frequent', 'complete'], 'the rule names in rule order');

-- ---------------------------------------------------------------- persons from records
SELECT cdp.register_source('his', 'internal', 90), cdp.register_source('site', 'partner', 30);
CREATE TEMP TABLE r AS SELECT
  cdp.upsert_record('his', 'h1', '{"family_name": "Иванов", "given_name": "Иван", "birth_date": "1980-01-02", "sex": "M", "phones": ["+79161234567"]}') AS h1,
  cdp.upsert_record('site', 's1', '{"family_name": "Иванофф", "given_name": "Ваня", "birth_date": "1980-01-02", "phones": ["+79161234567", "+79990000000"], "emails": ["ivan@example.com"]}') AS s1,
  cdp.upsert_record('site', 's2', '{"family_name": "Иванов", "given_name": "Иван", "birth_date": "1980-01-02", "phones": ["+79995550000"]}') AS s2,
  cdp.upsert_record('site', 's3', '{"family_name": "Петров", "given_name": "Пётр", "birth_date": "1970-05-05"}') AS s3;
CREATE TEMP TABLE g AS SELECT (SELECT golden_id FROM cdp.record WHERE record_id = h1) AS h1,
  (SELECT golden_id FROM cdp.record WHERE record_id = s1) AS s1,
  (SELECT golden_id FROM cdp.record WHERE record_id = s2) AS s2,
  (SELECT golden_id FROM cdp.record WHERE record_id = s3) AS s3 FROM r;
SELECT is((SELECT count(*) FROM cdp.patient WHERE golden_id IN (SELECT unnest(ARRAY[h1, s1, s2, s3]) FROM g)), 4::bigint,
          'every new record starts a person of its own');
SELECT is((SELECT family_name FROM cdp.patient WHERE golden_id = (SELECT s1 FROM g)), 'Иванофф', 'a one-record profile copies its record');

CREATE TEMP TABLE ev0 AS SELECT max(event_id) AS e FROM cdp.event;
SELECT is(cdp.link_records((SELECT h1 FROM r), (SELECT s1 FROM r), '{"score": 0.97}'), (SELECT least(h1, s1) FROM g),
          'link_records returns the older (smaller) golden id');
CREATE TEMP TABLE ev1 AS SELECT max(event_id) AS e FROM cdp.event;
SELECT is((SELECT count(*) FROM cdp.patient WHERE golden_id = (SELECT greatest(h1, s1) FROM g)), 0::bigint,
          'the absorbed profile row is removed');
SELECT is(cdp.resolve_patient((SELECT greatest(h1, s1) FROM g)), (SELECT least(h1, s1) FROM g), 'resolve_patient follows the redirect');
SELECT is((SELECT record_count FROM cdp.patient WHERE golden_id = (SELECT h1 FROM g)), 2, 'the survivor has both records');
SELECT is((SELECT family_name || ' ' || given_name FROM cdp.patient WHERE golden_id = (SELECT h1 FROM g)), 'Иванов Иван',
          'the trusted source wins the names');
SELECT is((SELECT jsonb_agg(x->>'value' ORDER BY x->>'value') FROM cdp.patient, jsonb_array_elements(phones) x WHERE golden_id = (SELECT h1 FROM g)),
          '["+79161234567", "+79990000000"]', 'every distinct phone is kept');
SELECT is((SELECT x->'sources' FROM cdp.patient, jsonb_array_elements(phones) x WHERE golden_id = (SELECT h1 FROM g) AND x->>'value' = '+79161234567'),
          (SELECT jsonb_build_array(h1, s1) FROM r), 'a phone lists its source records');
SELECT is((SELECT (x->>'confirmed')::bool FROM cdp.patient, jsonb_array_elements(phones) x WHERE golden_id = (SELECT h1 FROM g) AND x->>'value' = '+79161234567'),
          true, 'a phone reported by two sources is confirmed');
SELECT is((SELECT (x->>'confirmed')::bool FROM cdp.patient, jsonb_array_elements(phones) x WHERE golden_id = (SELECT h1 FROM g) AND x->>'value' = '+79990000000'),
          false, 'a phone reported by one unvalidated source is not yet confirmed');
SELECT is((SELECT kind FROM cdp.event WHERE event_id = (SELECT e FROM ev1)), 'patient.merged', 'a merge appends patient.merged');
SELECT is(cdp_internal.refresh_patients((SELECT ARRAY[h1] FROM g)), 0,
          'a merge leaves the survivor folded: a full refresh changes nothing');
SELECT is(cdp.link_records((SELECT h1 FROM r), (SELECT s1 FROM r), '{}'), (SELECT h1 FROM g), 'linking linked records returns their id');
SELECT is((SELECT kind FROM cdp.event ORDER BY event_id DESC LIMIT 1), 'record.linked', 'and only appends record.linked');

-- lineage
SELECT results_eq($$SELECT attribute, value, source, rule FROM cdp.patient_lineage((SELECT h1 FROM g)) WHERE attribute IN ('family_name', 'birth_date') ORDER BY 1$$,
                  $$VALUES ('birth_date', '1980-01-02', 'his', 'unanimous'), ('family_name', 'Иванов', 'his', 'trusted')$$,
                  'lineage: winning value, source and rule per attribute');
SELECT is((SELECT lost FROM cdp.patient_lineage((SELECT h1 FROM g)) WHERE attribute = 'given_name'),
          jsonb_build_array(jsonb_build_object('value', 'Ваня', 'records', jsonb_build_array((SELECT s1 FROM r)))),
          'lineage: the value that lost');

-- configuring rules is an event and re-folds
SELECT is(cdp.configure_survivorship('{"given_name": ["frequent", "recent"], "family_name": ["complete"]}'), 1, 'first configured version is 1');
SELECT is((SELECT given_name || '/' || family_name FROM cdp.patient WHERE golden_id = (SELECT h1 FROM g)), 'Ваня/Иванофф',
          'profiles follow the new rules at once (a frequency tie goes to the most recent)');
SELECT is((SELECT rules_version FROM cdp.patient WHERE golden_id = (SELECT h1 FROM g)), 1, 'profiles name the rules version');
CREATE TEMP TABLE ev2 AS SELECT max(event_id) AS e FROM cdp.event;

-- clinical events
SELECT lives_ok($$SELECT cdp.upsert_clinical_event('site', 'v1', 'visit', '{"record_source_id": "s1", "at": "2024-02-01T10:00:00+03:00", "status": "done", "type": "first", "doctor": "Сидоров", "specialty": "терапевт"}')$$,
                'a visit is stored');
CREATE TEMP TABLE n_ev AS SELECT count(*) AS n FROM cdp.event;
SELECT is(cdp.upsert_clinical_event('site', 'v1', 'visit', '{"record_source_id": "s1", "at": "2024-02-01T10:00:00+03:00", "status": "done", "type": "first", "doctor": "Сидоров", "specialty": "терапевт"}'),
          (SELECT event_id FROM cdp.clinical_event WHERE source_key = 'v1'), 'the same visit twice returns the same id');
SELECT is((SELECT count(*) FROM cdp.event), (SELECT n FROM n_ev), 'and appends nothing');
SELECT is((SELECT last_visit FROM cdp.patient WHERE golden_id = (SELECT h1 FROM g)), '2024-02-01T07:00:00Z'::timestamptz,
          'last_visit derives from visits');
SELECT lives_ok($$SELECT cdp.upsert_clinical_event('site', 'l1', 'lab_test', '{"record_source_id": "s1", "code": "HbA1c", "result": "6.1", "unit": "%", "reference_range": "4.0-6.0", "taken_at": "2024-02-01T10:30:00+03:00"}'),
                         cdp.upsert_clinical_event('site', 'd1', 'diagnosis', '{"record_source_id": "s1", "code": "e11.9", "at": "2024-02-01T11:00:00+03:00"}'),
                         cdp.upsert_clinical_event('site', 'k1', 'sick_leave', '{"record_source_id": "s1", "number": "910012345678", "from": "2024-02-01", "to": "2024-02-07"}'),
                         cdp.upsert_clinical_event('site', 'c1', 'recommendation', '{"record_source_id": "s1", "text": "пересдать HbA1c", "at": "2024-02-01T11:00:00+03:00", "due_in": "3 months"}')$$,
                'lab test, diagnosis, sick leave and recommendation are stored');
SELECT is((SELECT format('%s %s %s %s', ref_low, ref_high, (SELECT icd10 FROM cdp.clinical_event WHERE source_key = 'd1'),
                         (SELECT due_date FROM cdp.clinical_event WHERE source_key = 'c1'))
             FROM cdp.clinical_event WHERE source_key = 'l1'), '4.0 6.0 E11.9 2024-05-01', 'typed columns per kind');
SELECT throws_ok($$SELECT cdp.upsert_clinical_event('site', 'x1', 'visit', '{"record_source_id": "nobody", "at": "2024-01-01T00:00:00Z"}')$$,
                 'P0002', 'record "nobody" of source "site" does not exist', 'a clinical event for an unknown record');
SELECT throws_ok($$SELECT cdp.upsert_clinical_event('site', 'x2', 'diagnosis', '{"record_source_id": "s1", "code": "E1", "at": "2024-01-01T00:00:00Z"}')$$,
                 '22P02', 'invalid input syntax for clinical event attribute "code": "E1"', 'a malformed ICD-10 code');
SELECT throws_ok($$SELECT cdp.upsert_clinical_event('site', 'x3', 'visit', '{"record_source_id": "s1", "at": "yesterday-ish"}')$$,
                 '22P02', 'invalid input syntax for clinical event attribute "at": "yesterday-ish"', 'a malformed date');
SELECT throws_ok($$SELECT cdp.upsert_clinical_event('site', 'x4', 'visit', '{"record_source_id": "s1", "at": "2024-01-01T00:00:00Z", "colour": "red"}')$$,
                 '22023', 'unknown attribute "colour" for clinical event kind "visit"', 'an unknown key');
SELECT is((SELECT count(*) FROM cdp.event), (SELECT n FROM n_ev) + 4, 'refused clinical events append nothing');

-- ---------------------------------------------------------------- rebuild equality
CREATE TEMP TABLE live_p AS SELECT * FROM cdp.patient;
CREATE TEMP TABLE live_m AS SELECT * FROM cdp.patient_member;
CREATE TEMP TABLE live_r AS SELECT * FROM cdp.patient_redirect;
SELECT is(cdp.rebuild_patients(), (SELECT count(*) FROM live_p), 'rebuild_patients replays every profile');
SELECT is_empty($$SELECT * FROM live_p EXCEPT SELECT * FROM cdp.patient$$, 'every live profile is in the rebuild');
SELECT is_empty($$SELECT * FROM cdp.patient EXCEPT SELECT * FROM live_p$$, 'every rebuilt profile is live');
SELECT is_empty($$(SELECT * FROM live_m EXCEPT SELECT * FROM cdp.patient_member) UNION ALL (SELECT * FROM cdp.patient_member EXCEPT SELECT * FROM live_m)$$,
                'membership history equals its replay');
SELECT is_empty($$(SELECT * FROM live_r EXCEPT SELECT * FROM cdp.patient_redirect) UNION ALL (SELECT * FROM cdp.patient_redirect EXCEPT SELECT * FROM live_r)$$,
                'redirects equal their replay');

-- ---------------------------------------------------------------- unmerge, errors first
CREATE TEMP TABLE n_ev2 AS SELECT count(*) AS n FROM cdp.event;
SELECT throws_ok($$SELECT cdp.unmerge(987654321, 'x')$$, 'P0002', 'record "987654321" does not exist', 'unmerge of an unknown record');
SELECT throws_ok(format('SELECT cdp.unmerge(%s, %L)', (SELECT s3 FROM r), 'x'), '55000',
                 format('record "%s" is alone in patient "%s"', (SELECT s3 FROM r), (SELECT s3 FROM g)), 'unmerge of a record alone in its person');
SELECT is((SELECT count(*) FROM cdp.event), (SELECT n FROM n_ev2), 'refused unmerges append nothing');

CREATE TEMP TABLE u AS SELECT cdp.unmerge((SELECT s1 FROM r), 'twin brother') AS g;
CREATE TEMP TABLE ev3 AS SELECT max(event_id) AS e FROM cdp.event;
SELECT ok((SELECT g FROM u) > (SELECT greatest(h1, s1, s2, s3) FROM g), 'the unmerged record gets a new golden id');
SELECT is((SELECT decision FROM cdp.pair_decision WHERE record_a = (SELECT least(h1, s1) FROM r) AND record_b = (SELECT greatest(h1, s1) FROM r)),
          'no_match', 'unmerge records a no_match decision');
SELECT is((SELECT array_agg(DISTINCT golden_id) FROM cdp.clinical_event WHERE record_id = (SELECT s1 FROM r)), ARRAY[(SELECT g FROM u)],
          'clinical events follow their record');
SELECT is((SELECT last_visit FROM cdp.patient WHERE golden_id = (SELECT h1 FROM g)), NULL, 'the former person loses the visit');
SELECT is(cdp.link_records((SELECT h1 FROM r), (SELECT s1 FROM r), '{"score": 0.99}'), NULL, 'link_records will not undo a no_match decision');

-- ---------------------------------------------------------------- time travel by log position
SELECT is((SELECT record_count || ' ' || family_name FROM cdp.patient_as_of_event((SELECT h1 FROM g), (SELECT e FROM ev0))), '1 Иванов',
          'before the merge: one record');
SELECT is((SELECT family_name FROM cdp.patient_as_of_event((SELECT s1 FROM g), (SELECT e FROM ev0))), 'Иванофф',
          'before the merge the absorbed id was its own person');
SELECT is((SELECT record_count || ' ' || family_name || ' ' || rules_version FROM cdp.patient_as_of_event((SELECT h1 FROM g), (SELECT e FROM ev1))),
          '2 Иванов 0', 'right after the merge: two records, default rules');
SELECT is((SELECT family_name || ' ' || rules_version FROM cdp.patient_as_of_event((SELECT h1 FROM g), (SELECT e FROM ev2))),
          'Иванофф 1', 'after the rules change: the new rules');
SELECT is((SELECT record_count FROM cdp.patient_as_of_event((SELECT h1 FROM g), (SELECT e FROM ev3))), 1, 'after the unmerge: one record again');
SELECT is((SELECT p FROM cdp.patient_as_of_event((SELECT h1 FROM g), (SELECT max(event_id) FROM cdp.event)) p),
          (SELECT p FROM cdp.patient p WHERE golden_id = (SELECT h1 FROM g)), 'as of the last event equals the live profile');
SELECT is_empty($$SELECT * FROM cdp.patient_as_of_event((SELECT g FROM u), (SELECT e FROM ev2))$$, 'the new id did not exist before the unmerge');
-- and by time (event times are distinct here: clock_timestamp)
SELECT is((SELECT record_count FROM cdp.patient_as_of((SELECT h1 FROM g), (SELECT at FROM cdp.event WHERE event_id = (SELECT e FROM ev0)))), 1,
          'patient_as_of before the merge: one record');
SELECT is((SELECT golden_id || ' ' || record_count FROM cdp.patient_as_of((SELECT greatest(h1, s1) FROM g), (SELECT at FROM cdp.event WHERE event_id = (SELECT e FROM ev1)))),
          (SELECT least(h1, s1) || ' 2' FROM g), 'patient_as_of of the absorbed id after the merge follows the redirect');
SELECT is((SELECT record_count FROM cdp.patient_as_of((SELECT h1 FROM g), clock_timestamp())), 1, 'patient_as_of now: after the unmerge');
SELECT is((SELECT array_agg(kind ORDER BY event_id DESC) FROM (SELECT * FROM cdp.patient_history((SELECT h1 FROM g)) LIMIT 3) x)
             @> ARRAY['patient.unmerged'], true, 'history, newest first, shows the unmerge');

-- ---------------------------------------------------------------- archive and restore
-- (rows in the order of the ids asked; -424242 is no patient whatever the sequences gave)
SELECT results_eq($$SELECT action FROM cdp.archive_patients(ARRAY[(SELECT h1 FROM g), -424242], 'old')$$,
                  $$VALUES ('skipped'), ('archive')$$, 'a dry run lists what would be archived and what is skipped');
SELECT is((SELECT status FROM cdp.patient WHERE golden_id = (SELECT h1 FROM g)), 'active', 'a dry run changes nothing');
SELECT results_eq($$SELECT action FROM cdp.archive_patients(ARRAY[(SELECT h1 FROM g)], 'not seen for 3 years', false)$$,
                  $$VALUES ('archived')$$, 'dry_run => false archives');
SELECT throws_ok(format('SELECT * FROM cdp.archive_patients(ARRAY[%s], %L, false)', (SELECT h1 FROM g), 'again'), '55000',
                 format('cannot archive patients: patient %s is already archived', (SELECT h1 FROM g)), 'archiving an archived patient');
SELECT results_eq($$SELECT action FROM cdp.restore_patients(ARRAY[(SELECT h1 FROM g)], 'came back', false)$$,
                  $$VALUES ('active')$$, 'restore');
SELECT is((SELECT array_agg(kind ORDER BY event_id) FROM cdp.event WHERE kind IN ('patient.archived', 'patient.restored') AND subject = (SELECT h1 FROM g)),
          ARRAY['patient.archived', 'patient.restored'], 'archive and restore are events');

-- ---------------------------------------------------------------- and the whole log still replays
DELETE FROM live_p; INSERT INTO live_p SELECT * FROM cdp.patient;
SELECT cdp.rebuild_patients();
SELECT is_empty($$(SELECT * FROM live_p EXCEPT SELECT * FROM cdp.patient) UNION ALL (SELECT * FROM cdp.patient EXCEPT SELECT * FROM live_p)$$,
                'after unmerge, archive and restore the rebuild still equals the live profiles');

-- ---------------------------------------------------------------- batch ingest (issue 16)
-- upsert_records writes the profile and membership of each new person set-based; they must be
-- exactly what refresh_patients computes, and the same as one upsert_record call per row.
SELECT cdp.register_source('bulk_a', 'internal', 70) > 0 AS ok, cdp.register_source('bulk_b', 'internal', 70) > 0 AS ok;
CREATE TEMP TABLE bulk (ord int, sid text, doc jsonb);
INSERT INTO bulk VALUES
 (1, 'k3', '{"family_name": "Орлова", "given_name": "Вера", "birth_date": "1970-05-06", "sex": "F", "phones": ["+79160000001", "+79035550002"], "email": "vera@example.com", "snils": "112-233-445 95", "oms": "1234567890123452", "address": "Тверская 1", "city": "Москва", "telegram": "@vera"}'),
 (2, 'k1', '{"ФИО": "Лебедев Пётр Ильич", "dob": "01.02.1960", "пол": "м", "extra_key": 5}'),
 (3, 'k2', '{"family_name": "Ким"}'),
 (4, 'k0', '{"family_name": "Орлова", "given_name": "Вера", "validated": true}');
SELECT is((SELECT array_agg(action ORDER BY ord) FROM (SELECT b.ord, u.action FROM cdp.upsert_records('bulk_a',
             ARRAY(SELECT sid FROM bulk ORDER BY ord), ARRAY(SELECT doc FROM bulk ORDER BY ord)) u JOIN bulk b ON b.sid = u.source_id) x),
          ARRAY['created', 'created', 'created', 'created'], 'a batch of new records is created');
SELECT is((SELECT count(*)::int FROM bulk b, LATERAL (SELECT cdp.upsert_record('bulk_b', b.sid, b.doc) ORDER BY b.ord) x), 4, 'the same rows one call each');
SELECT is((SELECT array_agg(r.source_key ORDER BY r.record_id) FROM cdp.record r JOIN cdp.source s USING (source_id) WHERE s.name = 'bulk_a'),
          ARRAY['k3', 'k1', 'k2', 'k0'], 'record ids follow the batch order, as one call per row gives them');
SELECT is((SELECT array_agg(r.source_key ORDER BY r.golden_id) FROM cdp.record r JOIN cdp.source s USING (source_id) WHERE s.name = 'bulk_a'),
          ARRAY['k3', 'k1', 'k2', 'k0'], 'golden ids follow the batch order');
CREATE TEMP VIEW bulk_side AS
SELECT s.name AS src, r.source_key, e.kind, e.payload -> 'raw' AS raw, (e.payload -> 'record') - 'created_at' - 'updated_at' AS rec,
       p.family_name, p.given_name, p.patronymic, p.sex, p.birth_date, p.snils, p.oms, p.address, p.city, p.validated, p.status,
       p.record_count, jsonb_path_query_array(p.phones, '$[*].value') AS phones, jsonb_path_query_array(p.emails, '$[*].value') AS emails,
       jsonb_path_query_array(p.handles, '$[*].value') AS handles, m.from_event = e.event_id AND m.to_event IS NULL AS member_ok
  FROM cdp.record r JOIN cdp.source s USING (source_id)
  JOIN cdp.event e ON e.subject = r.record_id AND e.kind LIKE 'record.%'
  JOIN cdp.patient p ON p.golden_id = r.golden_id
  JOIN cdp.patient_member m ON m.record_id = r.record_id
 WHERE s.name IN ('bulk_a', 'bulk_b');
SELECT is_empty($$(SELECT source_key, kind, raw, rec, family_name, given_name, patronymic, sex, birth_date, snils, oms, address, city, validated,
                          status, record_count, phones, emails, handles, member_ok FROM bulk_side WHERE src = 'bulk_a'
                   EXCEPT SELECT source_key, kind, raw, rec, family_name, given_name, patronymic, sex, birth_date, snils, oms, address, city, validated,
                          status, record_count, phones, emails, handles, member_ok FROM bulk_side WHERE src = 'bulk_b')
                  UNION ALL
                  (SELECT source_key, kind, raw, rec, family_name, given_name, patronymic, sex, birth_date, snils, oms, address, city, validated,
                          status, record_count, phones, emails, handles, member_ok FROM bulk_side WHERE src = 'bulk_b'
                   EXCEPT SELECT source_key, kind, raw, rec, family_name, given_name, patronymic, sex, birth_date, snils, oms, address, city, validated,
                          status, record_count, phones, emails, handles, member_ok FROM bulk_side WHERE src = 'bulk_a')$$,
                'batch and row-by-row ingest give the same events, profiles and membership');
CREATE TEMP TABLE bulk_g AS
SELECT r.golden_id FROM cdp.record r JOIN cdp.source s USING (source_id) WHERE s.name = 'bulk_a';
SELECT is(cdp_internal.refresh_patients(ARRAY(SELECT golden_id FROM bulk_g)), 0, 'refresh_patients changes nothing the batch wrote');
CREATE TEMP TABLE bulk_p AS SELECT p.* FROM cdp.patient p JOIN bulk_g USING (golden_id);
CREATE TEMP TABLE bulk_m AS SELECT m.* FROM cdp.patient_member m JOIN bulk_g USING (golden_id);
DELETE FROM cdp.patient p USING bulk_g g WHERE p.golden_id = g.golden_id;
DELETE FROM cdp.patient_member m USING bulk_g g WHERE m.golden_id = g.golden_id;
SELECT cdp_internal.refresh_patients(ARRAY(SELECT golden_id FROM bulk_g));
SELECT is_empty($$(SELECT * FROM bulk_p EXCEPT SELECT p.* FROM cdp.patient p JOIN bulk_g USING (golden_id))
                  UNION ALL (SELECT p.* FROM cdp.patient p JOIN bulk_g USING (golden_id) EXCEPT SELECT * FROM bulk_p)$$,
                'the set-based profiles equal what refresh_patients computes person by person');
SELECT is_empty($$(SELECT * FROM bulk_m EXCEPT SELECT m.* FROM cdp.patient_member m JOIN bulk_g USING (golden_id))
                  UNION ALL (SELECT m.* FROM cdp.patient_member m JOIN bulk_g USING (golden_id) EXCEPT SELECT * FROM bulk_m)$$,
                'the set-based membership equals what refresh_patients opens');
-- a batch mixing a changed, an unchanged and a new record: the changed one is re-folded
SELECT is((SELECT array_agg(action ORDER BY source_id) FROM cdp.upsert_records('bulk_a', ARRAY['k1', 'k2', 'k9'],
             ARRAY['{"ФИО": "Лебедев Пётр Ильич", "dob": "01.02.1960", "пол": "м", "extra_key": 5}', '{"family_name": "Ким", "given_name": "Ён"}', '{"family_name": "Шин"}']::jsonb[])),
          ARRAY['unchanged', 'updated', 'created'], 'unchanged, updated and created in one batch');
SELECT is((SELECT given_name FROM cdp.patient WHERE golden_id = cdp.golden_id('bulk_a', 'k2')), 'Ён', 'the updated record''s profile is re-folded');
DELETE FROM live_p; INSERT INTO live_p SELECT * FROM cdp.patient;
DELETE FROM live_m; INSERT INTO live_m SELECT * FROM cdp.patient_member;
SELECT cdp.rebuild_patients();
SELECT is_empty($$(SELECT * FROM live_p EXCEPT SELECT * FROM cdp.patient) UNION ALL (SELECT * FROM cdp.patient EXCEPT SELECT * FROM live_p)$$,
                'after batch ingest the rebuild equals the live profiles');
SELECT is_empty($$(SELECT * FROM live_m EXCEPT SELECT * FROM cdp.patient_member) UNION ALL (SELECT * FROM cdp.patient_member EXCEPT SELECT * FROM live_m)$$,
                'after batch ingest the rebuild equals the live membership');

SELECT * FROM finish();
ROLLBACK;
