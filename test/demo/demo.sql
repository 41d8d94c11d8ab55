-- test/demo/demo.sql: the clinic demo (grows with every family). Run by test/demo/run.sh.
\pset footer off
\pset null '·'
SET client_min_messages = warning;
CREATE EXTENSION cdp;
\echo
\echo '=== cdp demo: one clinic, six departmental databases, one patient platform ==='
SELECT cdp.library_version() AS "cdp version";

\echo
\echo '--- 1. sources: the clinic''s systems, with how much each is trusted (survivorship uses it)'
SELECT name, kind, trust FROM (VALUES
	('reception', 'internal', 90), ('doctors_desk', 'internal', 80), ('lab', 'internal', 70),
	('call_centre', 'internal', 50), ('sick_leave', 'internal', 85), ('partner_lab', 'partner', 40)) v(name, kind, trust)
 WHERE cdp.register_source(name, kind, trust) IS NOT NULL;

\echo
\echo '--- 2. ingest: a generated clinic with known duplicates (test/bench/gen_clinic.py, seed 42)'
CREATE TEMP TABLE staging (source text, source_id text, person_id text, family_name text, given_name text,
	patronymic text, full_name text, birth_date text, sex text, phone text, email text, snils text, oms text,
	address text, city text, vk text, telegram text);
-- (psql does not expand variables inside \copy, so the command is built first)
\set copy_cmd '\\copy staging FROM ' :'csv' ' WITH (FORMAT csv, HEADER true)'
:copy_cmd
SELECT clock_timestamp() AS t0 \gset
-- in batches of 5,000 per source; lenient: the few mistyped SNILS/OMS are kept aside, not loaded as ids
CREATE TEMP TABLE load_result AS
SELECT r.* FROM (SELECT DISTINCT source FROM staging) s,
	LATERAL cdp.upsert_records(s.source,
		ARRAY(SELECT source_id FROM staging t WHERE t.source = s.source ORDER BY source_id),
		ARRAY(SELECT jsonb_strip_nulls(to_jsonb(t) - 'source' - 'source_id' - 'person_id')
		        FROM staging t WHERE t.source = s.source ORDER BY source_id),
		lenient => true) r;
SELECT :persons AS "persons generated", count(*) AS "records ingested",
	count(DISTINCT source_id) FILTER (WHERE action = 'created') AS created,
	round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric, 2) AS seconds
  FROM load_result;
\echo 'messy input and what cdp stored (raw kept as received):'
SELECT s.name AS source, coalesce(r.raw->>'full_name', concat_ws(' ', r.raw->>'family_name', r.raw->>'given_name')) AS "name as sent",
	r.raw->>'phone' AS "phone as sent", r.phones AS phones, r.raw->>'birth_date' AS "birth date as sent",
	r.birth_date::text AS birth_date, r.snils::text AS snils
  FROM cdp.record r JOIN cdp.source s USING (source_id)
 WHERE r.raw ? 'phone' AND (r.raw->>'phone' LIKE '8%' OR r.raw->>'phone' LIKE '+7 (%') AND r.raw->>'birth_date' LIKE '%.%'
 ORDER BY r.record_id LIMIT 5;
SELECT count(*) AS "records with a value set aside (mistyped id)" FROM cdp.record WHERE extra ? '_invalid';
-- the same file again changes nothing
SELECT count(*) FILTER (WHERE r.action <> 'unchanged') AS "changed by a second identical load"
  FROM (SELECT DISTINCT source FROM staging) s,
	LATERAL cdp.upsert_records(s.source,
		ARRAY(SELECT source_id FROM staging t WHERE t.source = s.source ORDER BY source_id),
		ARRAY(SELECT jsonb_strip_nulls(to_jsonb(t) - 'source' - 'source_id' - 'person_id')
		        FROM staging t WHERE t.source = s.source ORDER BY source_id),
		lenient => true) r;

\echo
\echo '--- 3. match: settings as data (test/bench/settings/clinic.json), weights trained from the data, a full run'
SELECT cdp.configure_matching(:'settings'::jsonb) AS "settings version";
SELECT clock_timestamp() AS t1 \gset
SELECT cdp.train_matching() IS NOT NULL AS trained \gset
SELECT cdp.run_matching('full') AS run \gset
SELECT (:'run'::jsonb)->>'processed' AS processed, (:'run'::jsonb)->>'linked' AS linked,
	(:'run'::jsonb)->>'queued' AS "queued for review",
	round(extract(epoch FROM clock_timestamp() - :'t1'::timestamptz)::numeric, 2) AS "seconds (train + match)";
\echo 'against the truth the generator knows (pairs of records of the same person):'
WITH r AS (
	SELECT t.person_id, rec.golden_id, rec.record_id
	  FROM staging t JOIN cdp.source s ON s.name = t.source
	  JOIN cdp.record rec ON rec.source_id = s.source_id AND rec.source_key = t.source_id),
pairs AS (
	SELECT count(*) FILTER (WHERE a.person_id = b.person_id) AS true_pairs,
	       count(*) FILTER (WHERE a.golden_id = b.golden_id) AS found_pairs,
	       count(*) FILTER (WHERE a.person_id = b.person_id AND a.golden_id = b.golden_id) AS correct
	  FROM r a JOIN r b ON a.record_id < b.record_id AND (a.person_id = b.person_id OR a.golden_id = b.golden_id))
SELECT (SELECT count(DISTINCT person_id) FROM staging) AS "true persons",
	(SELECT count(*) FROM cdp.patient) AS "golden records",
	true_pairs AS "true pairs", correct AS "found correctly", found_pairs - correct AS "wrong merges",
	round(correct::numeric / nullif(found_pairs, 0), 4) AS precision,
	round(correct::numeric / nullif(true_pairs, 0), 4) AS recall
  FROM pairs;

\echo
\echo '--- 4. golden records: one profile per person, every value traced to its source'
SELECT golden_id AS gid FROM cdp.patient ORDER BY record_count DESC, golden_id LIMIT 1 \gset
SELECT golden_id, family_name, given_name, patronymic, sex, birth_date::text, snils, record_count,
	jsonb_array_length(phones) AS phones, jsonb_array_length(emails) AS emails
  FROM cdp.patient WHERE golden_id = :gid;
\echo 'where each value came from (cdp.patient_lineage):'
SELECT attribute, value, source, rule, cardinality(agreeing_records) AS agreeing,
	jsonb_array_length(coalesce(lost, '[]')) AS "values that lost"
  FROM cdp.patient_lineage(:gid) WHERE value IS NOT NULL ORDER BY attribute;
\echo 'why two of its records were linked (cdp.explain_match):'
SELECT min(record_id) AS ra, max(record_id) AS rb FROM cdp.record WHERE golden_id = :gid \gset
SELECT attr, value_a, value_b, level, round(weight::numeric, 2) AS weight, round(probability::numeric, 4) AS probability
  FROM cdp.explain_match(:ra, :rb);

\echo
\echo '--- 5. the review queue: pairs cdp is unsure of, for a person to decide'
SELECT count(*) AS "pairs waiting" FROM cdp.review_queue;
SELECT pair_id, record_a, record_b, round(score::numeric, 3) AS score, left(summary, 90) AS summary
  FROM cdp.review_queue ORDER BY score DESC LIMIT 5;

\echo
\echo '--- 6. the event log is the truth: counts by kind, and a rebuild gives the same profiles'
SELECT kind, count(*) FROM cdp.event GROUP BY kind ORDER BY count(*) DESC;
CREATE TEMP TABLE before_rebuild AS SELECT * FROM cdp.patient;
SELECT cdp.rebuild_patients() IS NOT NULL AS rebuilt \gset
SELECT (SELECT count(*) FROM (SELECT * FROM before_rebuild EXCEPT SELECT * FROM cdp.patient) x)
     + (SELECT count(*) FROM (SELECT * FROM cdp.patient EXCEPT SELECT * FROM before_rebuild) y) AS "rows that differ after rebuild";
\echo
\echo '(segments and campaigns arrive with their issues; see README.md)'
