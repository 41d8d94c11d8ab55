-- test/bench/gen_segments.sql: a generated clinic for the segment benchmarks (issue 13,
-- doc/benchmarks-segments.md): :persons patients (one record each, a fifth from a partner base) with
-- :events clinical events in total: a mammography screening programme first (60% of the women aged
-- 35 or more have a MAMMO every year, on a day of the year of their own, over the three years), then
-- the rest drawn at random (visits 40%, lab tests 30%, diagnoses 20%, recommendations 8%, sick leave
-- 2%; lab codes and ICD-10 codes with realistic frequencies, results around their reference
-- ranges), over the three years before the run; consents: 60% granted marketing on every channel
-- (a framework document), then 5% of them withdrawn by sms.
-- Deterministic (setseed).  Rows are written with plain INSERT ... SELECT into the tables of the
-- golden and consent families, with their events, as a replay would leave them: ingest one row at a
-- time would take hours at 20M events, and the benchmark measures segments, not ingest
-- (test/bench/ingest_speed.sh does).  Run on an empty database with cdp installed:
--     psql -v persons=1000000 -v events=20000000 -f test/bench/gen_segments.sql
\set ON_ERROR_STOP 1
\timing on
SELECT setseed(0.42);
SELECT cdp.register_source('his', 'internal', 80) AS his, cdp.register_source('partner', 'partner', 40) AS partner \gset
\echo generating :persons patients
-- the consent summary (cdp_internal.consent_summary) is computed once at the end, not by the
-- statement trigger as the statement rows are loaded
ALTER TABLE cdp.consent_statement DISABLE TRIGGER consent_summary_statement;
INSERT INTO cdp.record (source_id, source_key, golden_id, raw, family_name, given_name, sex, birth_date, phones, emails, city, attrs_hash)
SELECT CASE WHEN i % 5 = 0 THEN :partner ELSE :his END, 'p' || i, i,
       jsonb_build_object('gen', i), 'Фамилия' || (i % 5000), 'Имя' || (i % 300), s.sex,
       current_date - (18 * 365 + (random() * 70 * 365)::int),
       ARRAY[('+7916' || lpad(i::text, 7, '0'))::cdp.phone],
       CASE WHEN i % 3 = 0 THEN ARRAY[('u' || i || '@mail.ru')::cdp.email] END,
       (ARRAY['Москва', 'Москва', 'Москва', 'Химки', 'Балашиха', 'Подольск', 'Тверь', 'Мытищи'])[1 + (i * 7) % 8], 'gen'
  FROM generate_series(1, :persons) i
 -- 55% women, drawn per row (an uncorrelated LATERAL (SELECT random()) runs once: everyone got one sex)
 CROSS JOIN LATERAL (SELECT CASE WHEN (hashint8extended(i, 11) & 1023) < 563 THEN 'F' ELSE 'M' END AS sex) s;
SELECT setval('cdp.golden_id_seq', :persons + 1);
INSERT INTO cdp.patient (golden_id, status, registered_on, sex, birth_date, phones, emails, city, record_count, updated_at)
SELECT r.golden_id, 'active', current_date - (random() * 3000)::int, r.sex, r.birth_date,
       jsonb_build_array(jsonb_build_object('value', r.phones[1]::text)),
       CASE WHEN r.emails IS NULL THEN '[]'::jsonb ELSE jsonb_build_array(jsonb_build_object('value', r.emails[1]::text)) END,
       r.city, 1, now()
  FROM cdp.record r;
INSERT INTO cdp.event (kind, subject, golden_id, payload)
SELECT 'record.created', r.record_id, r.golden_id, jsonb_build_object('generated', true) FROM cdp.record r;
INSERT INTO cdp.patient_member (record_id, golden_id, from_event, from_at)
SELECT r.record_id, r.golden_id, e.event_id, e.at FROM cdp.record r JOIN cdp.event e ON e.subject = r.record_id AND e.kind = 'record.created';

\echo generating :events clinical events
-- the secondary indexes of clinical_event are dropped for the load and built after it (one sort
-- each instead of 20M random insertions into indexes larger than shared_buffers: the 1M / 20M
-- clinic is generated in minutes, not hours); their definitions are kept and replayed as they were
CREATE TEMP TABLE ix AS SELECT indexrelid::regclass::text AS name, pg_get_indexdef(indexrelid) AS def
  FROM pg_index WHERE indrelid = 'cdp.clinical_event'::regclass AND NOT indisprimary AND NOT indisunique;
SELECT format('DROP INDEX %s', name) FROM ix \gexec
CREATE TEMP TABLE lab(code text, w int, lo numeric, hi numeric);
INSERT INTO lab VALUES ('CBC', 25, 120, 160), ('GLU', 15, 3.9, 6.1), ('CHOL', 12, 3.0, 5.2), ('ALT', 8, 7, 40), ('TSH', 8, 0.4, 4.0),
	('HBA1C', 6, 4.0, 6.0), ('CREA', 6, 62, 115), ('MAMMO', 4, NULL, NULL), ('PSA', 3, 0, 4), ('VITD', 5, 30, 100), ('FERR', 4, 15, 150), ('CRP', 4, 0, 5);
CREATE TEMP TABLE dx(code text, w int);
INSERT INTO dx VALUES ('J06.9', 20), ('I10', 14), ('M54.5', 8), ('K29.7', 5), ('E11.9', 5), ('E78.0', 4), ('N40', 2), ('J20.9', 5), ('H52.1', 4),
	('L70.0', 2), ('Z00.0', 10), ('E66.0', 3), ('N76.0', 2), ('K21.0', 3), ('I25.1', 2), ('F41.1', 1), ('C50.9', 1), ('B20', 1), ('Z33', 1), ('O26.8', 1), ('A56.0', 1), ('J45.9', 2);
CREATE TEMP TABLE pick AS
-- cumulative shares as float8 (an integer division made every share 0 but the last: one code each)
SELECT 'lab' AS t, code, lo, hi, (sum(w) OVER (ORDER BY code))::float8 / sum(w) OVER () AS upto FROM lab
UNION ALL SELECT 'dx', code, NULL, NULL, (sum(w) OVER (ORDER BY code))::float8 / sum(w) OVER () FROM dx;
CREATE TEMP TABLE pick_lab AS SELECT row_number() OVER (ORDER BY upto) AS n, * FROM pick WHERE t = 'lab';
CREATE TEMP TABLE pick_dx AS SELECT row_number() OVER (ORDER BY upto) AS n, * FROM pick WHERE t = 'dx';
-- the screening programme: about 16% of the patients (women 35+, 60% of them) x 3 yearly MAMMOs
INSERT INTO cdp.clinical_event (source_id, source_key, record_id, golden_id, kind, at, lab_code, lab_result, attrs, attrs_hash, created_at, updated_at)
SELECT 1, 'scr' || p.golden_id || '-' || y, p.golden_id, p.golden_id, 'lab_test',
       now() - (y * 365 + (hashint8extended(p.golden_id, 3) & 1023) % 365) * interval '1 day', 'MAMMO', 'норма', '{}'::jsonb, 'gen', now(), now()
  FROM cdp.patient p CROSS JOIN generate_series(0, 2) y
 WHERE p.sex = 'F' AND p.birth_date <= current_date - interval '35 years' AND (hashint8extended(p.golden_id, 5) & 1023) % 10 < 6;
SELECT count(*) AS screening FROM cdp.clinical_event \gset
\echo screening mammographies: :screening
-- the rest at random, in batches of 2M so that memory and WAL stay bounded
SELECT set_config('segbench.events', (:events - :screening)::text, false), set_config('segbench.persons', :'persons', false);
DO $gen$
DECLARE
	b	int := 0;
	per	int := 2000000;
	tot	bigint := current_setting('segbench.events')::bigint;
	np	bigint := current_setting('segbench.persons')::bigint;
	-- the code tables as arrays: a code is picked by width_bucket over the cumulative shares (the
	-- first share >= r1, as a lookup per row in the tables would give, without one)
	lc	text[] := ARRAY(SELECT code FROM pick_lab ORDER BY n);
	lu	float8[] := ARRAY(SELECT upto FROM pick_lab ORDER BY n);
	llo	numeric[] := ARRAY(SELECT lo FROM pick_lab ORDER BY n);
	lhi	numeric[] := ARRAY(SELECT hi FROM pick_lab ORDER BY n);
	dc	text[] := ARRAY(SELECT code FROM pick_dx ORDER BY n);
	du	float8[] := ARRAY(SELECT upto FROM pick_dx ORDER BY n);
BEGIN
	WHILE b * per < tot LOOP
		INSERT INTO cdp.clinical_event (source_id, source_key, record_id, golden_id, kind, at, visit_type, visit_status, specialty,
		                                lab_code, lab_result, ref_low, ref_high, icd10, recommendation, due_date, attrs, attrs_hash, created_at, updated_at)
		SELECT 1, 'ce' || lpad(num::text, 10, '0'), g, g, k.kind, k.at,
		       CASE WHEN k.kind = 'visit' THEN (ARRAY['first', 'repeat'])[1 + (r1 < 0.6)::int] END,
		       CASE WHEN k.kind = 'visit' THEN (ARRAY['done', 'done', 'done', 'came', 'booked'])[1 + floor(r2 * 5)::int] END,
		       CASE WHEN k.kind = 'visit' THEN (ARRAY['therapy', 'therapy', 'therapy', 'cardiology', 'gynecology', 'urology', 'neurology', 'ophthalmology', 'dermatology', 'endocrinology'])[1 + floor(r1 * 10)::int] END,
		       l.code,
		       CASE WHEN k.kind = 'lab_test' AND l.lo IS NOT NULL THEN round((l.lo + (l.hi - l.lo) * (r2 * 1.4 - 0.2))::numeric, 1)::text
		            WHEN k.kind = 'lab_test' THEN 'норма' END,
		       l.lo, l.hi, d.code,
		       CASE WHEN k.kind = 'recommendation' THEN 'повторный приём' END,
		       CASE WHEN k.kind = 'recommendation' THEN (k.at + (30 + r2 * 330) * interval '1 day')::date END,
		       '{}'::jsonb, 'gen', now(), now()
		  FROM (SELECT num, 1 + (random() * (np - 1))::bigint AS g, random() AS r0, random() AS r1, random() AS r2, random() AS r3
		          FROM generate_series(b::bigint * per + 1, least((b + 1)::bigint * per, tot)) num) x
		 CROSS JOIN LATERAL (SELECT CASE WHEN x.r0 < 0.40 THEN 'visit' WHEN x.r0 < 0.70 THEN 'lab_test' WHEN x.r0 < 0.90 THEN 'diagnosis'
		                                 WHEN x.r0 < 0.98 THEN 'recommendation' ELSE 'sick_leave' END AS kind,
		                            now() - x.r3 * interval '3 years' AS at) k
		 CROSS JOIN LATERAL (SELECT CASE WHEN k.kind = 'lab_test' THEN lc[1 + width_bucket(x.r1, lu)] END AS code,
		                            CASE WHEN k.kind = 'lab_test' THEN llo[1 + width_bucket(x.r1, lu)] END AS lo,
		                            CASE WHEN k.kind = 'lab_test' THEN lhi[1 + width_bucket(x.r1, lu)] END AS hi) l
		 CROSS JOIN LATERAL (SELECT CASE WHEN k.kind = 'diagnosis' THEN dc[1 + width_bucket(x.r1, du)] END AS code) d;
		RAISE NOTICE 'clinical events: %', least((b + 1)::bigint * per, tot);
		b := b + 1;
	END LOOP;
END
$gen$;
SELECT setval('cdp.clinical_event_id_seq', (SELECT max(event_id) FROM cdp.clinical_event));
\echo building the clinical event indexes
SET maintenance_work_mem = '1GB';
SELECT def FROM ix \gexec
UPDATE cdp.patient p SET last_visit = v.m FROM (
	SELECT golden_id, max(at) AS m FROM cdp.clinical_event WHERE kind = 'visit' AND visit_status IN ('came', 'in_appointment', 'done') GROUP BY golden_id) v
 WHERE v.golden_id = p.golden_id;

\echo generating consents
-- 60% grant marketing on every channel two years ago; 5% of those withdraw sms a year ago
WITH g AS (SELECT golden_id FROM cdp.patient WHERE (hashint8(golden_id) & 1023) % 10 < 6),
ev AS (
	INSERT INTO cdp.event (kind, subject, golden_id, payload)
	SELECT 'consent.granted', g.golden_id, g.golden_id, jsonb_build_object('given_for', g.golden_id, 'purposes', '["marketing"]'::jsonb,
	       'channels', '["call", "email", "messenger", "post", "sms", "social"]'::jsonb, 'records', jsonb_build_array(g.golden_id),
	       'at', now() - interval '2 years', 'evidence', 'framework-2024', 'address', NULL, 'address_key', NULL)
	  FROM g RETURNING event_id, golden_id, payload)
INSERT INTO cdp.consent_statement (record_id, purpose, channel, event_id, granted, at, given_for, records, evidence)
SELECT r.record_id, 'marketing', c, ev.event_id, true, now() - interval '2 years', ev.golden_id, ARRAY[r.record_id], 'framework-2024'
  FROM ev JOIN cdp.record r ON r.golden_id = ev.golden_id
 CROSS JOIN unnest(ARRAY['call', 'email', 'messenger', 'post', 'sms', 'social']) c;
WITH g AS (SELECT golden_id FROM cdp.patient WHERE (hashint8(golden_id) & 1023) % 10 < 6 AND hashint8extended(golden_id, 7) % 20 = 0),
ev AS (
	INSERT INTO cdp.event (kind, subject, golden_id, payload)
	SELECT 'consent.withdrawn', g.golden_id, g.golden_id, jsonb_build_object('given_for', g.golden_id, 'purposes', '["marketing"]'::jsonb,
	       'channels', '["sms"]'::jsonb, 'records', jsonb_build_array(g.golden_id), 'at', now() - interval '1 year')
	  FROM g RETURNING event_id, golden_id)
INSERT INTO cdp.consent_statement (record_id, purpose, channel, event_id, granted, at, given_for, records)
SELECT r.record_id, 'marketing', 'sms', ev.event_id, false, now() - interval '1 year', ev.golden_id, ARRAY[r.record_id]
  FROM ev JOIN cdp.record r ON r.golden_id = ev.golden_id;
ALTER TABLE cdp.consent_statement ENABLE ALWAYS TRIGGER consent_summary_statement;
\echo consent summary
SELECT cdp_internal.consent_summary_rebuild() AS consent_summary_rows;
UPDATE cdp_internal.golden_state SET last_event_id = (SELECT max(event_id) FROM cdp.event);
\echo analyzing
ANALYZE;
SELECT (SELECT count(*) FROM cdp.patient) AS patients, (SELECT count(*) FROM cdp.clinical_event) AS clinical_events,
       (SELECT count(*) FROM cdp.consent_statement) AS consent_rows;
