-- test/demo/80_segments.sql: consent, offers and segments (issue 13), after test/demo/demo.sql over
-- the same generated clinic.  The clinic's departments send clinical events, patients sign
-- consents (and some withdraw), marketing defines an offer and a segment; the summary says how many
-- patients the campaign may reach and what each guard removed.  Run by test/demo/run.sh.
\pset footer off
\pset null '·'
SET client_min_messages = warning;
SELECT setseed(0.13);

\echo
\echo '--- 7. clinical events: visits, lab tests, diagnoses, doctors'' recommendations (generated, seeded)'
-- per record of the departments that see patients: a few events over the last three years
CREATE TEMP TABLE demo_ev AS
SELECT s.name AS source, r.source_key, k, random() AS r0, random() AS r1, random() AS r2
  FROM cdp.record r JOIN cdp.source s USING (source_id)
 CROSS JOIN generate_series(1, 4) k
 WHERE s.name IN ('reception', 'doctors_desk', 'lab');
SELECT count(cdp.upsert_clinical_event(source, 'demo-' || source_key || '-' || k,
	CASE WHEN r0 < 0.4 THEN 'visit' WHEN r0 < 0.7 THEN 'lab_test' WHEN r0 < 0.9 THEN 'diagnosis' ELSE 'recommendation' END,
	CASE WHEN r0 < 0.4 THEN jsonb_build_object('record_source_id', source_key, 'at', (now() - r1 * interval '3 years')::text,
	                                           'status', 'done', 'specialty', (ARRAY['therapy', 'gynecology', 'urology', 'cardiology'])[1 + floor(r2 * 4)::int])
	     WHEN r0 < 0.7 THEN jsonb_build_object('record_source_id', source_key, 'code', (ARRAY['MAMMO', 'CBC', 'GLU', 'PSA', 'CHOL'])[1 + floor(r2 * 5)::int],
	                                           'result', round((3 + r1 * 4)::numeric, 1)::text, 'reference_range', '3.9-6.1',
	                                           'taken_at', (now() - r1 * interval '3 years')::text)
	     WHEN r0 < 0.9 THEN jsonb_build_object('record_source_id', source_key, 'at', (now() - r1 * interval '3 years')::text,
	                                           'code', (ARRAY['I10', 'J06.9', 'E11.9', 'N40', 'C61', 'M54.5', 'Z33', 'K29.7'])[1 + floor(r2 * 8)::int])
	     ELSE jsonb_build_object('record_source_id', source_key, 'text', 'повторить анализ', 'due_date', (current_date + (r1 * 60)::int - 20)::text) END))
	AS "clinical events loaded"
  FROM demo_ev;
SELECT kind, count(*) AS events, count(DISTINCT golden_id) AS patients FROM cdp.clinical_event GROUP BY kind ORDER BY kind;

\echo
\echo '--- 8. consent: a framework consent signed at reception, then some patients change their mind'
-- two in three patients sign marketing on every channel; one in ten of them later withdraws SMS,
-- one withdraws through a phone number, which suppresses that number for everyone who carries it
SELECT count(cdp.set_consents(golden_id, ARRAY['marketing', 'analytics'], ARRAY['*'], true, now() - interval '1 year', 'framework-2025'))
	AS "framework consents"
  FROM cdp.patient WHERE hashint8(golden_id) % 3 <> 0;
SELECT count(cdp.set_consent(golden_id, 'marketing', 'sms', false, now() - interval '1 month', 'call-centre note'))
	AS "withdrew SMS marketing"
  FROM cdp.patient WHERE hashint8(golden_id) % 3 <> 0 AND hashint8extended(golden_id, 1) % 10 = 0;
SELECT p.golden_id AS suppressed_by, p.phones -> 0 ->> 'value' AS number
  FROM cdp.patient p WHERE jsonb_array_length(p.phones) > 0 AND cdp.may_contact(p.golden_id, 'marketing', 'sms')
 ORDER BY p.golden_id LIMIT 1 \gset
SELECT cdp.set_consent(:suppressed_by, 'marketing', 'sms', false, now(), 'STOP reply', :'number') IS NOT NULL AS "a STOP reply suppresses a number";
\echo 'the consent of one patient, per purpose and channel (defaults where nobody said anything):'
SELECT purpose, string_agg(channel || CASE WHEN granted THEN '+' ELSE '-' END, ' ' ORDER BY channel) AS "channels (+ may, - may not)",
	bool_and(is_default) AS "all defaults"
  FROM cdp.consent_now(:suppressed_by) GROUP BY purpose ORDER BY purpose;

\echo
\echo '--- 9. an offer with contraindications, and who it must not reach'
SELECT cdp.create_offer('{"name": "Скидка 20% на лечение простаты", "service": "urology", "sex": "M", "age": [40, 75],
  "exclude_icd10": ["C61", "N40-N42"], "exclude_pregnant": false, "valid_from": "2026-01-01", "valid_to": "2027-12-31"}') AS offer \gset
SELECT reason AS "why a patient may not get the prostate offer", count(*) AS patients
  FROM (SELECT coalesce(cdp.offer_block_reason(golden_id, :offer), '(may get it)') AS reason FROM cdp.patient) x
 GROUP BY 1 ORDER BY 2 DESC;

\echo
\echo '--- 10. segments: a rule, its preview, a saved and refreshed segment'
\set rules '{"all": [{"attr": "sex", "op": "=", "value": "M"}, {"attr": "age", "op": "between", "value": [40, 75]}, {"any": [{"event": "visit", "where": {"specialty": "urology"}}, {"event": "lab_test", "where": {"code": "PSA"}}]}]}'
SELECT cdp.segment_preview(:'rules', :offer, 'marketing', 'sms') AS preview \gset
\echo 'men 40-75 who saw a urologist or had a PSA test, for the prostate offer by SMS:'
SELECT (:'preview'::jsonb ->> 'count')::int AS "may be contacted",
	(SELECT sum(v::int) FROM jsonb_each_text(:'preview'::jsonb -> 'dropped') d(k, v)) AS "removed by the guards";
SELECT CASE WHEN k = 'archived' THEN 'archived (not seen for years)'
            WHEN k = 'no_consent' THEN 'no consent to SMS marketing (never gave it, withdrew, or number suppressed)'
            WHEN k LIKE 'contraindication:%' THEN 'a diagnosis that rules the offer out (' || substr(k, 18) || ')'
            WHEN k = 'sex' THEN 'the offer is for men only' WHEN k = 'age' THEN 'outside the offer''s ages'
            ELSE k END AS "guard", v::int AS "patients removed"
  FROM jsonb_each_text(:'preview'::jsonb -> 'dropped') d(k, v) ORDER BY v::int DESC, k;
\echo 'a sensitive diagnosis cannot be targeted by marketing:'
DO $$
BEGIN
	PERFORM cdp.segment_preview('{"event": "diagnosis", "where": {"code": "F32"}}');
EXCEPTION WHEN invalid_parameter_value THEN
	RAISE WARNING '%: %', SQLERRM, (SELECT 'refused as it should be');
END $$;
SELECT cdp.create_segment('Урология: мужчины 40-75', :'rules', 'marketing', :offer, 'sms') AS seg \gset
SELECT cdp.refresh_segment(:seg, 'full') AS "first refresh";
SELECT cdp.set_segment_refresh(:seg, '1 hour') AS void \gset
SELECT auto_refresh AS "refreshed by run_maintenance every" FROM cdp.segment WHERE segment_id = :seg;
\echo 'a member unsubscribes; the incremental refresh re-evaluates only the patients the log names since the last one:'
SELECT golden_id AS leaving FROM cdp.segment_member WHERE segment_id = :seg ORDER BY golden_id LIMIT 1 \gset
SELECT cdp.set_consent(:leaving, 'marketing', '*', false, now(), 'unsubscribed') IS NOT NULL AS withdrew;
SELECT cdp.refresh_segment(:seg) AS "incremental refresh";
SELECT NOT EXISTS (SELECT 1 FROM cdp.segment_member WHERE segment_id = :seg AND golden_id = :leaving) AS "the patient who withdrew is gone";
SELECT cdp.copy_segment(:seg, 'Урология: копия для сравнения') AS seg2 \gset
SELECT cdp.edit_segment(:seg2, '{"all": [{"attr": "sex", "op": "=", "value": "M"}, {"attr": "age", "op": "between", "value": [50, 75]}]}') AS "edited copy, version";
SELECT cdp.refresh_segment(:seg2, 'full') IS NOT NULL AS refreshed;
SELECT * FROM cdp.segment_compare(:seg, :seg2);
SELECT arm, count(*) AS members FROM cdp.segment_split(:seg, '{"A": 50, "B": 50}') GROUP BY arm ORDER BY arm;

\echo
\echo '--- 11. for BI: the segment summary, and members for analysts without names (groups under 5 left out)'
SELECT segment_id, name, version, status, size, reach_sms, reach_email, reach_call, last_refresh_mode FROM cdp.segment_summary ORDER BY segment_id;
SELECT cdp.create_segment('Все, кому можно напомнить о приёме', '{"attr": "status", "op": "=", "value": "active"}', 'treatment') AS everyone \gset
SELECT cdp.refresh_segment(:everyone, 'full') ->> 'size' AS "patients who may get treatment reminders";
SELECT pseudonym, age_band, sex, city FROM cdp.segment_member_pseudonymous WHERE segment_id = :everyone ORDER BY pseudonym LIMIT 3;
SELECT (SELECT count(*) FROM cdp.segment_member WHERE segment_id = :everyone) AS members,
	(SELECT count(*) FROM cdp.segment_member_pseudonymous WHERE segment_id = :everyone) AS "rows shown to analysts",
	(SELECT count(*) FROM cdp.segment_member WHERE segment_id = :everyone)
	  - (SELECT count(*) FROM cdp.segment_member_pseudonymous WHERE segment_id = :everyone) AS "left out (groups under 5)";
\echo
\echo '--- 12. the consent log is the truth too: a rebuild gives the same statements'
CREATE TEMP TABLE cs AS SELECT * FROM cdp.consent_statement;
SELECT cdp.rebuild_consent() AS "consent events replayed",
	(SELECT count(*) FROM (SELECT * FROM cs EXCEPT SELECT * FROM cdp.consent_statement) x) AS "rows that differ";
