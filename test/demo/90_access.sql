-- test/demo/90_access.sql: the access family's section of the clinic demo (issue 15): roles, what
-- each sees, masking, the audit log, erasure and redacted errors.  Run by test/demo/run.sh after
-- demo.sql, over the same clinic.
\pset footer off
SET client_min_messages = warning;

\echo
\echo '=== access: clinic roles, row-level security, masking, audit, erasure ==='
\echo '--- 1. the roles (cdp.setup_roles(), idempotent) and a login for each job'
SELECT role, action FROM cdp.setup_roles();
DO $$
DECLARE
	l text;
BEGIN
	FOREACH l IN ARRAY ARRAY['demo_desk', 'demo_cardio', 'demo_marketer', 'demo_analyst', 'demo_dpo'] LOOP
		IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = l) THEN
			EXECUTE format('CREATE ROLE %I LOGIN', l);
		END IF;
	END LOOP;
END $$;
SELECT cdp.grant_role('demo_desk', 'cdp_registrar');
SELECT cdp.grant_role('demo_cardio', 'cdp_doctor', '{"specialties": ["кардиолог"]}');
SELECT cdp.grant_role('demo_marketer', 'cdp_marketer');
SELECT cdp.grant_role('demo_analyst', 'cdp_analyst');
SELECT cdp.grant_role('demo_dpo', 'cdp_dpo');

-- two visits: one patient sees the cardiologist, another one a dermatologist; a diagnosis for each
SELECT min(golden_id) AS g1, max(golden_id) AS g2 FROM cdp.patient \gset
SELECT (SELECT s.name || ' ' || r.source_key FROM cdp.record r JOIN cdp.source s USING (source_id)
		 WHERE r.golden_id = :g1 ORDER BY r.record_id LIMIT 1) AS r1,
	   (SELECT s.name || ' ' || r.source_key FROM cdp.record r JOIN cdp.source s USING (source_id)
		 WHERE r.golden_id = :g2 ORDER BY r.record_id LIMIT 1) AS r2 \gset
SELECT cdp.upsert_clinical_event(split_part(:'r1', ' ', 1), 'demo-v1', 'visit',
	jsonb_build_object('record_source_id', split_part(:'r1', ' ', 2), 'at', '2026-11-02', 'specialty', 'кардиолог')) IS NOT NULL AS visit_1,
	   cdp.upsert_clinical_event(split_part(:'r1', ' ', 1), 'demo-d1', 'diagnosis',
	jsonb_build_object('record_source_id', split_part(:'r1', ' ', 2), 'at', '2026-11-02', 'code', 'I10')) IS NOT NULL AS diagnosis_1,
	   cdp.upsert_clinical_event(split_part(:'r2', ' ', 1), 'demo-v2', 'visit',
	jsonb_build_object('record_source_id', split_part(:'r2', ' ', 2), 'at', '2026-11-03', 'specialty', 'дерматолог')) IS NOT NULL AS visit_2,
	   cdp.upsert_clinical_event(split_part(:'r2', ' ', 1), 'demo-d2', 'diagnosis',
	jsonb_build_object('record_source_id', split_part(:'r2', ' ', 2), 'at', '2026-11-03', 'code', 'L20')) IS NOT NULL AS diagnosis_2;

\echo
\echo '--- 2. the cardiologist sees its own patient and that patient''s diagnosis, nobody else''s'
SET SESSION AUTHORIZATION demo_cardio;
SELECT count(*) AS patients_visible FROM cdp.patient;
SELECT golden_id, kind, icd10, specialty FROM cdp.clinical_event ORDER BY event_id;
RESET SESSION AUTHORIZATION;

\echo
\echo '--- 3. reception reads profiles (audited), never diagnoses'
SET SESSION AUTHORIZATION demo_desk;
SELECT cdp.patient_profile(:g2, 'patient called') ->> 'family_name' AS profile_read, cdp.patient_profile(:g2, 'patient called') ? 'clinical' AS has_clinical;
\set ON_ERROR_STOP 0
SELECT icd10 FROM cdp.clinical_event;
\set ON_ERROR_STOP 1
RESET SESSION AUTHORIZATION;

\echo
\echo '--- 4. the marketer: pseudonyms and masked contacts; the analyst: counts, groups under 5 hidden'
SET SESSION AUTHORIZATION demo_marketer;
SELECT pseudonym, sex, age_band, city, phone, email, snils FROM cdp.masked_patients() WHERE phone IS NOT NULL LIMIT 5;
SELECT cdp.contact_address(:g1, 'sms', 'marketing') AS address_without_consent;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION demo_analyst;
SELECT * FROM cdp.patient_counts() ORDER BY patients DESC LIMIT 5;
RESET SESSION AUTHORIZATION;

\echo
\echo '--- 5. the DPO: the audit report, then an erasure (contacts go, the medical record stays)'
SET SESSION AUTHORIZATION demo_dpo;
SELECT action, actor, role, golden_ids, purpose FROM cdp.audit_report(now() - interval '1 hour', now() + interval '1 hour')
 WHERE action IN ('profile.read', 'contact.read') ORDER BY 1, 2 LIMIT 6;
SELECT cdp.erase_patient(:g2, 'request 2026-17 (demo)') AS erased;
RESET SESSION AUTHORIZATION;
SELECT family_name, birth_date, phones, emails, (SELECT icd10 FROM cdp.clinical_event c WHERE c.golden_id = p.golden_id AND icd10 IS NOT NULL) AS diagnosis_kept
  FROM cdp.patient p WHERE golden_id = :g2;

\echo
\echo '--- 6. with cdp.redact_values on, a wrong SNILS is reported without its digits'
SET cdp.redact_values = on;
\set ON_ERROR_STOP 0
SELECT '112-233-445 96'::cdp.snils;
\set ON_ERROR_STOP 1
RESET cdp.redact_values;
