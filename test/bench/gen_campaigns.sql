-- test/bench/gen_campaigns.sql: the clinic of test/bench/campaigns.sh (issue 14), written set-based
-- into the tables: :patients patients from one source 'his' (one record each), and marketing consent
-- on messenger, sms and email for the share :share of them (the same patients and values the API
-- path of campaigns.sh gives: cdp.upsert_records in batches of 20,000, then cdp.set_consents per
-- patient).  Rows are written as the API leaves them (record, patient with its contact
-- provenance, patient_member, the record.created and consent.granted events, consent_statement,
-- the match queue), so the listing reads the same data; only the time stamps differ.  The API takes
-- about 6 minutes for 1M patients here; this takes about a minute.  campaigns.sh GEN_CHECK=1
-- generates a small clinic both ways and compares them (tables and the built send list).
-- Run on a database with cdp installed and the source 'his' registered (id :his):
--     psql -v patients=1000000 -v share=0.2 -v his=1 -f test/bench/gen_campaigns.sql
\set ON_ERROR_STOP 1
SET jit = off;
SELECT coalesce(max(event_id), 0) AS ev0 FROM cdp.event \gset
CREATE TEMP TABLE gen AS
SELECT i, 'p' || lpad(i::text, 8, '0') AS source_key,
       'Фамилия' || i AS family_name, (ARRAY['Анна', 'Мария', 'Олег', 'Иван'])[1 + i % 4] AS given_name,
       CASE WHEN i % 2 = 0 THEN 'F' ELSE 'M' END AS sex, date '1950-01-01' + (i % 18000)::int AS birth_date,
       (ARRAY['Москва', 'Новосибирск', 'Казань', 'Владивосток'])[1 + i % 4] AS city,
       '+7916' || lpad(i::text, 7, '0') AS phone,
       CASE WHEN i % 3 <> 0 THEN 'p' || i || '@mail.ru' END AS email,
       clock_timestamp() AS at
  FROM generate_series(1, :patients) i;
-- the input document of upsert_records (raw), as campaigns.sh's API path builds it
CREATE TEMP TABLE genr AS
SELECT g.*, jsonb_build_object('family_name', g.family_name, 'given_name', g.given_name, 'sex', g.sex,
                               'birth_date', g.birth_date::text, 'city', g.city, 'phones', jsonb_build_array(g.phone),
                               'emails', CASE WHEN g.email IS NOT NULL THEN jsonb_build_array(g.email) END) AS raw
  FROM gen g;
DROP TABLE gen;
INSERT INTO cdp.record (record_id, source_id, source_key, golden_id, raw, family_name, given_name, sex, birth_date, phones, emails,
                        city, attrs_hash, created_at, updated_at)
OVERRIDING SYSTEM VALUE
SELECT g.i, :his, g.source_key, g.i, g.raw, g.family_name, g.given_name, g.sex, g.birth_date, ARRAY[g.phone::cdp.phone],
       CASE WHEN g.email IS NOT NULL THEN ARRAY[g.email::cdp.email] END, g.city, md5(g.raw::text), g.at, g.at
  FROM genr g ORDER BY g.i;
INSERT INTO cdp.event (event_id, at, kind, subject, golden_id, payload)
OVERRIDING SYSTEM VALUE
SELECT :ev0 + g.i, g.at, 'record.created', g.i, g.i,
       jsonb_build_object('raw', g.raw, 'source', 'his', 'version', 1, 'source_id', g.source_key,
                          'record', jsonb_strip_nulls(jsonb_build_object('family_name', g.family_name, 'given_name', g.given_name,
                                    'sex', g.sex, 'birth_date', g.birth_date, 'city', g.city, 'phones', jsonb_build_array(g.phone),
                                    'emails', CASE WHEN g.email IS NOT NULL THEN jsonb_build_array(g.email) END,
                                    'created_at', g.at, 'updated_at', g.at)))
  FROM genr g ORDER BY g.i;
INSERT INTO cdp.patient (golden_id, status, registered_on, family_name, given_name, sex, birth_date, phones, emails, city,
                         record_count, updated_at)
SELECT g.i, 'active', current_date, g.family_name, g.given_name, g.sex, g.birth_date,
       jsonb_build_array(jsonb_build_object('value', g.phone, 'sources', jsonb_build_array(g.i), 'confirmed', false,
                                            'validated', false, 'first_seen', g.at, 'last_seen', g.at)),
       CASE WHEN g.email IS NULL THEN '[]'::jsonb
            ELSE jsonb_build_array(jsonb_build_object('value', g.email, 'sources', jsonb_build_array(g.i), 'confirmed', false,
                                                      'validated', false, 'first_seen', g.at, 'last_seen', g.at)) END,
       g.city, 1, g.at
  FROM genr g ORDER BY g.i;
INSERT INTO cdp.patient_member (record_id, golden_id, from_event, from_at)
SELECT g.i, g.i, :ev0 + g.i, g.at FROM genr g ORDER BY g.i;
INSERT INTO cdp_internal.match_queue (record_id, queued_at) SELECT g.i, g.at FROM genr g;
SELECT setval('cdp.record_record_id_seq', :patients), setval('cdp.golden_id_seq', :patients),
       setval('cdp.event_event_id_seq', :ev0 + :patients);
DROP TABLE genr;
-- marketing consent on messenger, sms and email a year ago (cdp.set_consents), for the share
WITH g AS (SELECT golden_id FROM cdp.patient WHERE abs(hashint8(golden_id) % 1000) < 1000 * :share ORDER BY golden_id),
ev AS (
	INSERT INTO cdp.event (kind, subject, golden_id, payload)
	SELECT 'consent.granted', g.golden_id, g.golden_id,
	       jsonb_build_object('given_for', g.golden_id, 'purposes', '["marketing"]'::jsonb, 'channels', '["email", "messenger", "sms"]'::jsonb,
	                          'records', jsonb_build_array(g.golden_id), 'at', now() - interval '1 year', 'evidence', NULL,
	                          'address', NULL, 'address_key', NULL)
	  FROM g RETURNING event_id, golden_id)
INSERT INTO cdp.consent_statement (record_id, purpose, channel, event_id, granted, at, given_for, records)
SELECT ev.golden_id, 'marketing', c, ev.event_id, true, now() - interval '1 year', ev.golden_id, ARRAY[ev.golden_id]
  FROM ev CROSS JOIN unnest(ARRAY['email', 'messenger', 'sms']) c;
ANALYZE cdp.record, cdp.patient, cdp.event, cdp.patient_member, cdp.consent_statement;
