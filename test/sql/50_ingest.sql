-- test/sql/50_ingest.sql: sources, idempotent upserts, normalisation, the event log, bad input.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cdp CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;
\set VERBOSITY default
SELECT cdp.register_source('reception', 'internal', 80) AS reception,
       cdp.register_source('lab', 'partner', 60) AS lab;
-- registering again with the same values changes nothing; new trust is an update (and an event)
SELECT cdp.register_source('reception', 'internal', 80) = cdp.register_source('reception', 'internal', 80) AS same_id;
SELECT cdp.register_source('lab', 'partner', 70) IS NOT NULL AS updated;
SELECT name, kind, trust, active FROM cdp.source ORDER BY source_id;
SELECT kind, payload->>'name' AS name FROM cdp.event ORDER BY event_id;

-- messy identifiers, aliases, a full name split in Russian order
SELECT cdp.upsert_record('reception', 'R-1', '{
  "ФИО": "Иванова Мария Петровна", "dob": "12.03.1985", "пол": "ж",
  "phone": ["8 (916) 123-45-67", "+7 916 1234567"], "email": "Maria.Ivanova@Mail.RU",
  "snils": "112-233-445 95", "vk": "https://vk.com/id12345", "tg": "@mashа_iv", "loyalty_card": 42}') AS r1;
SELECT family_name, given_name, patronymic, birth_date::text, sex, phones, emails, snils, handles, extra
  FROM cdp.record WHERE source_key = 'R-1';
-- the raw document is kept exactly as received
SELECT raw->>'ФИО' AS raw_fio, raw->'loyalty_card' AS raw_card FROM cdp.record WHERE source_key = 'R-1';
-- the same input again: same id, no new event
SELECT count(*) AS events_before FROM cdp.event WHERE kind LIKE 'record.%' \gset
SELECT cdp.upsert_record('reception', 'R-1', '{
  "ФИО": "Иванова Мария Петровна", "dob": "12.03.1985", "пол": "ж",
  "phone": ["8 (916) 123-45-67", "+7 916 1234567"], "email": "Maria.Ivanova@Mail.RU",
  "snils": "112-233-445 95", "vk": "https://vk.com/id12345", "tg": "@mashа_iv", "loyalty_card": 42}')
  = (SELECT record_id FROM cdp.record WHERE source_key = 'R-1') AS same_record;
SELECT count(*) - :events_before AS new_events FROM cdp.event WHERE kind LIKE 'record.%';
-- a change is a new version and one record.updated event carrying the normalised record
SELECT cdp.upsert_record('reception', 'R-1', '{"family_name": "Петрова", "given_name": "Мария", "birth_date": "1985-03-12"}') IS NOT NULL AS ok;
SELECT family_name, version, phones FROM cdp.record WHERE source_key = 'R-1';
SELECT kind, payload->'record'->>'family_name' AS family_name, payload->>'version' AS version
  FROM cdp.event WHERE kind LIKE 'record.%' ORDER BY event_id;
SELECT cdp.golden_id('reception', 'R-1') = golden_id AS golden_id_lookup FROM cdp.record WHERE source_key = 'R-1';
SELECT cdp.golden_id('reception', 'nope') IS NULL AS unknown_is_null;
SELECT record_id IS NOT NULL AS queued FROM cdp_internal.match_queue;

-- bad input: each gives a clear error and changes nothing
SELECT count(*) AS records_before FROM cdp.record \gset
SELECT count(*) AS events_before FROM cdp.event \gset
SELECT cdp.upsert_record('nosuch', '1', '{}');
SELECT cdp.upsert_record(NULL, '1', '{}');
SELECT cdp.upsert_record('lab', NULL, '{}');
SELECT cdp.upsert_record('lab', '1', NULL);
SELECT cdp.upsert_record('lab', '', '{}');
SELECT cdp.upsert_record('lab', '1', '[1, 2]');
SELECT cdp.upsert_record('lab', '1', '"text"');
SELECT cdp.upsert_record('lab', '1', '{"phone": "not a phone"}');
SELECT cdp.upsert_record('lab', '1', '{"phone": ["+7 916 123-45-67", "12"]}');
SELECT cdp.upsert_record('lab', '1', '{"email": "a@@b.ru"}');
SELECT cdp.upsert_record('lab', '1', '{"snils": "112-233-445 96"}');
SELECT cdp.upsert_record('lab', '1', '{"birth_date": "31.02.1990"}');
SELECT cdp.upsert_record('lab', '1', '{"birth_date": "2990-01-01"}');
SELECT cdp.upsert_record('lab', '1', '{"birth_date": "yesterday"}');
SELECT cdp.upsert_record('lab', '1', '{"sex": "unknown"}');
SELECT cdp.upsert_record('lab', '1', '{"family_name": 42}');
SELECT cdp.upsert_record('lab', '1', '{"family_name": {"a": 1}}');
SELECT cdp.upsert_record('lab', '1', jsonb_build_object('family_name', repeat('Я', 500000)));
SELECT cdp.upsert_record('lab', '1', jsonb_build_object('family_name', repeat('Я', 150)));
SELECT cdp.upsert_record('lab', repeat('x', 300), '{}');
SELECT count(*) - :records_before AS new_records FROM cdp.record;
SELECT count(*) - :events_before AS new_events FROM cdp.event;
-- lenient mode keeps going and says what it dropped
SELECT cdp.upsert_record('lab', 'L-1', '{"surname": "IVANOVA", "first_name": "MARIIA", "date_of_birth": "19850231", "phone": "12"}', lenient => true) IS NOT NULL AS ok;
SELECT family_name, given_name, birth_date::text, phones, extra->'_invalid' AS invalid FROM cdp.record WHERE source_key = 'L-1';
-- an inactive source is refused
UPDATE cdp.source SET active = false WHERE name = 'lab';
SELECT cdp.upsert_record('lab', 'L-2', '{}');
-- the event log is append-only, even for its owner
UPDATE cdp.event SET actor = 'someone';
DELETE FROM cdp.event;
TRUNCATE cdp.event;
-- decisions about record pairs
SELECT cdp.upsert_record('reception', 'R-2', '{"family_name": "Иванова", "given_name": "Мария"}') AS r2 \gset
SELECT cdp.record_pair_decision(:r2, (SELECT record_id FROM cdp.record WHERE source_key = 'R-1'), 'no_match', 'different people') IS NOT NULL AS ok;
SELECT decision, note, record_a < record_b AS ordered FROM cdp.pair_decision;
SELECT cdp.record_pair_decision(:r2, :r2, 'match');
SELECT cdp.record_pair_decision(:r2, -1, 'match');
SELECT cdp.record_pair_decision(:r2, -1, 'maybe');
-- batches: one statement per table; the result says what happened to each row
UPDATE cdp.source SET active = true WHERE name = 'lab';
SELECT * FROM cdp.upsert_records('lab',
  ARRAY['B-1', 'B-2', 'L-1'],
  ARRAY['{"surname": "Сидоров"}', '{"surname": "Козлова", "sex": "F"}',
        '{"surname": "IVANOVA", "first_name": "MARIIA", "date_of_birth": "19850231", "phone": "12"}']::jsonb[],
  lenient => true);
SELECT * FROM cdp.upsert_records('lab', ARRAY['B-1', 'B-2'],
  ARRAY['{"surname": "Сидоров"}', '{"surname": "Козлова", "sex": "F", "phone": "+7 495 123 45 67"}']::jsonb[]);
-- a bad row rejects the whole batch and is named; a duplicate id or a length mismatch too
SELECT count(*) AS records_before FROM cdp.record \gset
SELECT * FROM cdp.upsert_records('lab', ARRAY['B-3', 'B-4'], ARRAY['{"surname": "Новиков"}', '{"snils": "1"}']::jsonb[]);
SELECT * FROM cdp.upsert_records('lab', ARRAY['B-5', 'B-5'], ARRAY['{}', '{}']::jsonb[]);
SELECT * FROM cdp.upsert_records('lab', ARRAY['B-6'], ARRAY['{}', '{}']::jsonb[]);
SELECT * FROM cdp.upsert_records('lab', ARRAY['B-7', NULL], ARRAY['{}', '{}']::jsonb[]);
SELECT count(*) - :records_before AS new_records FROM cdp.record;
-- the batch normaliser: unchanged rows (same md5 of the canonical text) are skipped unvalidated,
-- the others come back with typed columns equal to the normalised document's
SELECT r.ord, r.source_key, r.attrs_hash = md5(a::text) AS hash_ok,
       r.norm = cdp.normalize_attrs(a, false, r.source_key) AS norm_ok,
       r.phones, r.emails, r.snils, r.birth_date, r.handles, r.extra
  FROM unnest(cdp_internal.normalize_records(ARRAY['N-1', 'N-2', 'N-3'],
         ARRAY['{"tel": ["89161234567", "+7 916 123 45 67"], "email": "A@B.RU", "snils": "112-233-445 95", "dob": "01.02.1990", "tg": "@X", "note": [1]}',
               '{"snils": "1"}', '{"surname": "Сидоров"}']::jsonb[],
         ARRAY[NULL, md5('{"snils": "1"}'::jsonb::text), 'stale'])) r,
       LATERAL (SELECT (ARRAY['{"tel": ["89161234567", "+7 916 123 45 67"], "email": "A@B.RU", "snils": "112-233-445 95", "dob": "01.02.1990", "tg": "@X", "note": [1]}',
                              '{"snils": "1"}', '{"surname": "Сидоров"}']::jsonb[])[r.ord] AS a) x;
SELECT cardinality(cdp_internal.normalize_records('{}', '{}', '{}')) AS empty;
SELECT cdp_internal.normalize_records(ARRAY['a'], ARRAY['{}'::jsonb], '{}');
-- an event payload is the one jsonb_build_object would give, in any time zone
SET timezone = 'Asia/Kamchatka';
SELECT cdp_internal.record_event_payload('lab', 'L-9', 2, '{"Surname": "Ким", "n": [1, {"a": null}]}', '{"family_name": "Ким", "extra": {"n": 1}}',
                                '2024-02-29 10:00:00.5+03', '2024-03-01 00:00+00')
     = jsonb_build_object('source', 'lab', 'source_id', 'L-9', 'version', 2, 'raw', '{"Surname": "Ким", "n": [1, {"a": null}]}'::jsonb,
         'record', '{"family_name": "Ким", "extra": {"n": 1}}'::jsonb
                   || jsonb_build_object('created_at', '2024-02-29 10:00:00.5+03'::timestamptz, 'updated_at', '2024-03-01 00:00+00'::timestamptz)) AS same_payload;
SELECT cdp_internal.record_event_payload('lab', 'L-9', 2, '{}', '{}', '2024-02-29 10:00:00.5+03', '2024-03-01 00:00+00')->'record' AS record;
RESET timezone;
-- the normaliser's cached type and function ids survive DROP and CREATE EXTENSION in one session
SET client_min_messages = warning;
DROP EXTENSION cdp CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;
SELECT cdp.register_source('reception', 'internal', 80) IS NOT NULL AS ok;
SELECT cdp.upsert_record('reception', 'again', '{"phone": "8 916 123 45 67", "snils": "112-233-445 95"}', lenient => true) IS NOT NULL AS works_after_recreate;
SELECT phones, snils FROM cdp.record WHERE source_key = 'again';

-- ---- issue 16, found already ----
-- an empty batch writes nothing (it raised on the missing stored hashes)
SELECT count(*) AS rows FROM cdp.upsert_records('reception', '{}'::text[], '{}'::jsonb[]);
-- invisible and bidirectional controls in names are dropped, Unicode spaces read as spaces:
-- a right-to-left override (U+202E), zero-width space / joiner, BOM, LRM, an isolate, a control
SELECT cdp.upsert_record('reception', 'bidi-1', jsonb_build_object(
         'family_name', E'Иван\u202Eова', 'given_name', E'Ма\u200Bри\u200Dя\uFEFF', 'patronymic', E'\u200EПетровна\u2066',
         'city', E'Санкт\u00A0Петербург\u0007', 'address', E'ул.\u2003Ленина,\u00AD 1')) IS NOT NULL AS ok;
SELECT family_name, given_name, patronymic, city, address, octet_length(family_name) AS family_bytes
  FROM cdp.record WHERE source_key = 'bidi-1';
SELECT family_name, given_name, patronymic FROM cdp.patient WHERE golden_id = cdp.golden_id('reception', 'bidi-1');
-- a name of nothing but invisible characters is no name
SELECT cdp.normalize_attrs(jsonb_build_object('family_name', E'\u200B\u202E\u200F', 'given_name', 'Анна'));
-- lenient mode keeps a value of the wrong JSON type as given, not as ""
SELECT cdp.normalize_attrs('{"family_name": 12345, "given_name": true, "city": {"a": [1]}, "dob": [1985]}', true) -> 'extra' -> '_invalid' AS invalid;
SELECT cdp.upsert_record('reception', 'num-1', '{"family_name": 12345, "given_name": "Анна"}', lenient => true) IS NOT NULL AS ok;
SELECT extra -> '_invalid' -> 'family_name' -> 'value' AS kept, jsonb_typeof(extra -> '_invalid' -> 'family_name' -> 'value') AS type
  FROM cdp.record WHERE source_key = 'num-1';
-- strict mode still refuses it, naming the key
SELECT cdp.normalize_attrs('{"family_name": 12345}');
-- placeholder identifiers are refused (strict) or moved to _invalid (lenient): never evidence
SELECT cdp.upsert_record('reception', 'ph-1', '{"family_name": "Ким", "oms": "0000000000000000"}');
SELECT cdp.upsert_record('reception', 'ph-1', '{"family_name": "Ким", "snils": "111-111-111 45"}');
SELECT cdp.upsert_record('reception', 'ph-1', '{"family_name": "Ким", "phone": "8 (999) 999-99-99"}');
SELECT cdp.upsert_record('reception', 'ph-1', '{"family_name": "Ким", "oms": "0000 0000 0000 0000", "snils": "999-999-999 01",
                         "phones": ["+7 111 111-11-11", "+7 916 123-45-67"]}', lenient => true) IS NOT NULL AS ok;
SELECT oms, snils, phones, extra -> '_invalid' AS invalid FROM cdp.record WHERE source_key = 'ph-1';
-- a real number with repeated digits in its subscriber part is not a placeholder
SELECT cdp.normalize_attrs('{"phone": "+7 495 111-11-11", "snils": "112-233-445 95", "oms": "1234567890123452"}');
