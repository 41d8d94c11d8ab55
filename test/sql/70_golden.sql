-- test/sql/70_golden.sql: golden records (issue 5), the messages a user sees: a small person's
-- profile, lineage and history, time travel across statements, and every refused input with its
-- exact error (nothing changed afterwards).
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cdp CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never
SELECT cdp.register_source('golden_his', 'internal', 90) > 0 AS ok, cdp.register_source('golden_site', 'partner', 20) > 0 AS ok;
SELECT cdp.upsert_record('golden_his', 'golden-g1', '{"family_name": "Смирнова", "given_name": "Анна", "birth_date": "1985-03-04", "sex": "F", "phones": ["+79161112233"], "snils": "112-233-445 95"}') > 0 AS ok;
SELECT clock_timestamp() AS t_before_merge \gset
SELECT cdp.upsert_record('golden_site', 'golden-w1', '{"family_name": "Смирнова-Петрова", "given_name": "Аня", "birth_date": "1985-03-04", "phones": ["+79161112233", "+79035556677"], "email": "anna@example.com", "telegram": "@anna85"}') > 0 AS ok;
SELECT cdp.link_records((SELECT record_id FROM cdp.record WHERE source_key = 'golden-g1'), (SELECT record_id FROM cdp.record WHERE source_key = 'golden-w1'), '{"score": 0.93}')
     = cdp.golden_id('golden_his', 'golden-g1') AS survivor_is_older;
SELECT clock_timestamp() AS t_after_merge \gset
SELECT cdp.golden_id('golden_his', 'golden-g1') AS g \gset
-- the profile
SELECT family_name, given_name, sex, to_char(birth_date, 'YYYY-MM-DD') AS birth_date, snils, record_count, status,
       jsonb_path_query_array(phones, '$[*].value') AS phones,
       jsonb_path_query_array(emails, '$[*].value') AS emails,
       jsonb_path_query_array(handles, '$[*] ? (@.network == "telegram").value') AS telegram
  FROM cdp.patient WHERE golden_id = :g;
-- lineage
SELECT attribute, value, source, rule, cardinality(agreeing_records) AS agreeing, jsonb_array_length(lost) AS lost
  FROM cdp.patient_lineage(:g);
-- history, newest first
SELECT kind FROM cdp.patient_history(:g);
-- time travel
SELECT record_count, family_name, given_name FROM cdp.patient_as_of(:g, :'t_before_merge');
SELECT record_count, family_name, given_name FROM cdp.patient_as_of(:g, :'t_after_merge');

-- refused inputs
SELECT count(*) AS events FROM cdp.event \gset
SELECT cdp.configure_survivorship('{"family_name": ["trusted", "loudest"]}');
SELECT cdp.configure_survivorship('{"emails": ["recent"]}');
SELECT cdp.unmerge(-1, 'no such record');
SELECT cdp.unmerge((SELECT record_id FROM cdp.record WHERE source_key = 'golden-g1'), NULL);
SELECT cdp.link_records(-1, (SELECT record_id FROM cdp.record WHERE source_key = 'golden-g1'), '{}');
SELECT cdp.upsert_clinical_event('golden_his', 'e1', 'diagnosis', '{"record_source_id": "golden-g1", "code": "Е11", "at": "2024-01-01T10:00:00Z"}');
SELECT cdp.upsert_clinical_event('golden_his', 'e1', 'visit', '{"record_source_id": "golden-g1", "at": "2024-01-01T10:00:00Z", "status": "maybe"}');
SELECT cdp.upsert_clinical_event('golden_his', 'e1', 'sick_leave', '{"record_source_id": "golden-g1", "number": "1", "from": "2024-01-10", "to": "2024-01-01"}');
SELECT cdp.upsert_clinical_event('golden_his', 'e1', 'surgery', '{"record_source_id": "golden-g1"}');
SELECT cdp.upsert_clinical_event('golden_his', 'e1', 'lab_test', '{"code": "HbA1c", "result": "6.1", "taken_at": "2024-01-01T10:00:00Z"}');
SELECT cdp.upsert_clinical_event('golden_nowhere', 'e1', 'visit', '{"record_source_id": "golden-g1", "at": "2024-01-01T10:00:00Z"}');
SELECT * FROM cdp.archive_patients(ARRAY[:g], NULL, false);
SELECT * FROM cdp.archive_candidates('-1 day');
SELECT count(*) = :events AS nothing_logged FROM cdp.event;

-- unmerge, and the record cannot be re-linked
SELECT cdp.unmerge((SELECT record_id FROM cdp.record WHERE source_key = 'golden-w1'), 'a different Anna') > :g AS new_id;
SELECT source_key, golden_id = :g AS in_old_person FROM cdp.record WHERE source_key IN ('golden-g1', 'golden-w1') ORDER BY 1;
SELECT cdp.link_records((SELECT record_id FROM cdp.record WHERE source_key = 'golden-g1'), (SELECT record_id FROM cdp.record WHERE source_key = 'golden-w1'), '{}') AS relinked;
-- alone in its person now (the ids in the message vary, so only the SQLSTATE is shown)
\set VERBOSITY sqlstate
SELECT cdp.unmerge((SELECT record_id FROM cdp.record WHERE source_key = 'golden-w1'), 'again');
\set VERBOSITY default
