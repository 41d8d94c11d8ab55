-- test/pgtap/97_seg_access.sql: consent, offers and segments (issue 13) under access control (issue
-- 15; sql/parts/97_seg_access.sql, doc/security.md).  Logins of each clinic role act with SET ROLE;
-- every refusal has a positive control: the role that may, succeeds.
BEGIN;
SELECT plan(51);

-- ---------------------------------------------------------------- fixtures
SELECT count(*) AS roles FROM cdp.setup_roles() \gset
CREATE ROLE seg_reg LOGIN; CREATE ROLE seg_mkt LOGIN; CREATE ROLE seg_ana LOGIN; CREATE ROLE seg_dpo LOGIN;
CREATE ROLE seg_doc LOGIN; CREATE ROLE seg_adm LOGIN; CREATE ROLE seg_sch LOGIN;
SELECT cdp.grant_role('seg_reg', 'cdp_registrar'), cdp.grant_role('seg_mkt', 'cdp_marketer'),
       cdp.grant_role('seg_ana', 'cdp_analyst'), cdp.grant_role('seg_dpo', 'cdp_dpo'),
       cdp.grant_role('seg_doc', 'cdp_doctor', '{"all": true}'), cdp.grant_role('seg_adm', 'cdp_admin'),
       cdp.grant_role('seg_sch', 'cdp_scheduler') \gset

SELECT cdp.register_source('segacc') IS NOT NULL AS s \gset
SELECT count(cdp.upsert_record('segacc', 'r' || i, jsonb_build_object(
         'family_name', 'Ф' || i, 'given_name', 'И', 'sex', 'M', 'birth_date', '1970-01-01', 'city', 'Москва',
         'phones', jsonb_build_array('+7916' || lpad(i::text, 7, '0')))))
  FROM generate_series(1, 12) i \gset
SELECT cdp.golden_id('segacc', 'r1') AS g1, cdp.golden_id('segacc', 'r2') AS g2 \gset
SELECT count(cdp.set_consent(golden_id, 'marketing', '*', true)) FROM cdp.patient \gset
SELECT cdp.upsert_clinical_event('segacc', 'd1', 'diagnosis', '{"record_source_id": "r1", "at": "2025-01-01", "code": "N40"}') IS NOT NULL AS d \gset
SELECT cdp.create_offer('{"name": "Урология", "sex": "M", "exclude_icd10": ["N40-N42"]}') AS o \gset

-- as_role(login, query[, session]): the query's rows (first column, joined by |) under SET ROLE login,
-- or its error; with session, as the login itself (SET SESSION AUTHORIZATION), for a doctor, whose
-- care scope is read from the session's login
CREATE FUNCTION pg_temp.as_role(login text, q text, session boolean DEFAULT false) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	r text;
BEGIN
	BEGIN
		EXECUTE format(CASE WHEN session THEN 'SET LOCAL SESSION AUTHORIZATION %I' ELSE 'SET LOCAL ROLE %I' END, login);
		EXECUTE format('SELECT string_agg(x::text, %L) FROM (%s) x(x)', '|', q) INTO r;
		RESET SESSION AUTHORIZATION;
		RESET ROLE;
		RETURN 'ok:' || coalesce(r, '');
	EXCEPTION WHEN OTHERS THEN
		RESET SESSION AUTHORIZATION;
		RESET ROLE;
		RETURN 'err:' || sqlstate;
	END;
END $$;

\set rule '{"attr": "sex", "op": "=", "value": "M"}'

-- ---------------------------------------------------------------- marketer: segments
SELECT is(pg_temp.as_role('seg_mkt', format($q$SELECT cdp.segment_preview(%L) ->> 'count'$q$, :'rule')), 'ok:12',
          'marketer: segment_preview counts the consented men');
SELECT is(pg_temp.as_role('seg_mkt', format($q$SELECT count(*) FILTER (WHERE jsonb_typeof(x) <> 'number') || '/' || count(*)
                                            FROM jsonb_array_elements(cdp.segment_preview(%L) -> 'sample') x$q$, :'rule')), 'ok:0/10',
          'marketer: the preview''s sample is golden ids only');
SELECT is(pg_temp.as_role('seg_mkt', format($q$SELECT string_agg(k, ',' ORDER BY k) FROM jsonb_object_keys(cdp.segment_preview(%L, %s) -> 'dropped') k$q$, :'rule', :o)),
          'ok:clinical', 'marketer: the offer''s contraindication is reported as "clinical", without the diagnosis code');
SELECT is((SELECT string_agg(k, ',') FROM jsonb_object_keys(cdp.segment_preview(:'rule', :o) -> 'dropped') k),
          'contraindication:N40', 'positive control: the owner sees the code the marketer''s preview folded');
SELECT is(pg_temp.as_role('seg_doc', format($q$SELECT cdp.segment_preview(%L, %s)$q$, :'rule', :o)), 'err:42501',
          'doctor: segment_preview is not its function');
SELECT matches(pg_temp.as_role('seg_mkt', format($q$SELECT cdp.create_segment('мужчины', %L)$q$, :'rule')), '^ok:[0-9]+$',
          'marketer: create_segment');
SELECT segment_id AS sm FROM cdp.segment WHERE name = 'мужчины' \gset
SELECT is((SELECT saved_by FROM cdp.segment WHERE segment_id = :sm), 'seg_mkt', 'the segment says the marketer saved it, not the owner');
SELECT is((SELECT saved_by FROM cdp.segment_version WHERE segment_id = :sm), 'seg_mkt', 'so does its version');
SELECT is(pg_temp.as_role('seg_mkt', format($q$SELECT cdp.refresh_segment(%s, 'full') ->> 'size'$q$, :sm)), 'ok:12', 'marketer: refresh_segment');
SELECT is(pg_temp.as_role('seg_mkt', format($q$SELECT cdp.edit_segment(%s, %L, offer => %s)$q$, :sm, :'rule', :o)), 'ok:2', 'marketer: edit_segment');
SELECT is(pg_temp.as_role('seg_mkt', format($q$SELECT cdp.refresh_segment(%s) ->> 'size'$q$, :sm)), 'ok:11', 'marketer: the refresh drops the contraindicated man');
SELECT matches(pg_temp.as_role('seg_mkt', format($q$SELECT cdp.copy_segment(%s, 'копия')$q$, :sm)), '^ok:[0-9]+$', 'marketer: copy_segment');
SELECT is(pg_temp.as_role('seg_mkt', format($q$SELECT cdp.segment_list_set(%s, 'exclude', ARRAY[%s])$q$, :sm, :g2)), 'ok:1', 'marketer: segment_list_set');
SELECT is(pg_temp.as_role('seg_mkt', format($q$SELECT reach_a FROM cdp.segment_compare(%s, %s)$q$, :sm, :sm)), 'ok:11', 'marketer: segment_compare');
SELECT is(pg_temp.as_role('seg_mkt', format($q$SELECT count(*) FROM cdp.segment_split(%s, '{"A": 1, "B": 1}')$q$, :sm)), 'ok:11', 'marketer: segment_split');
SELECT is(pg_temp.as_role('seg_mkt', format($q$SELECT size FROM cdp.segment_summary_report() WHERE segment_id = %s$q$, :sm)), 'ok:11',
          'marketer: segment_summary_report gives the size');
SELECT is(pg_temp.as_role('seg_mkt', format($q$SELECT count(*) FROM cdp.segment_member_pseudonyms(%s) WHERE pseudonym ~ '^p'$q$, :sm)), 'ok:11',
          'marketer: the pseudonymous members (one group of 11 men of Moscow aged 55-64)');
SELECT is(pg_temp.as_role('seg_mkt', 'SELECT name FROM cdp.offer'), 'ok:Урология', 'marketer: reads the offers');
SELECT is(pg_temp.as_role('seg_mkt', $q$SELECT cdp.create_offer('{"name": "Чек-ап"}') > 0$q$), 'ok:true', 'marketer: create_offer');
SELECT is(pg_temp.as_role('seg_mkt', format('SELECT cdp.may_contact(%s, ''marketing'', ''sms'')', :g1)), 'ok:true', 'marketer: may_contact');

-- ---------------------------------------------------------------- marketer: what it must not
SELECT is(pg_temp.as_role('seg_mkt', 'SELECT phones FROM cdp.patient'), 'err:42501', 'marketer: cdp.patient contacts are refused');
SELECT matches(pg_temp.as_role('seg_reg', 'SELECT phones FROM cdp.patient'), '^ok:.*\+7916', 'positive control: the registrar reads them');
SELECT is(pg_temp.as_role('seg_mkt', 'SELECT icd10 FROM cdp.clinical_event'), 'err:42501', 'marketer: clinical events are refused');
SELECT is(pg_temp.as_role('seg_doc', 'SELECT icd10 FROM cdp.clinical_event', true), 'ok:N40', 'positive control: a doctor with scope all reads the diagnosis');
SELECT is(pg_temp.as_role('seg_mkt', format('SELECT cdp.offer_block_reason(%s, %s)', :g1, :o)), 'err:42501',
          'marketer: offer_block_reason (which names the diagnosis) is refused');
SELECT is(cdp.offer_block_reason(:g1, :o), 'contraindication:N40', 'positive control: the owner gets the reason');
SELECT is(pg_temp.as_role('seg_mkt', format('SELECT cdp.set_consent(%s, ''marketing'', ''sms'', false)', :g2)), 'err:42501',
          'marketer: set_consent is refused');
SELECT is(pg_temp.as_role('seg_mkt', 'SELECT count(*) FROM cdp.consent_statement'), 'err:42501', 'marketer: the consent registry is refused');
SELECT is(pg_temp.as_role('seg_dpo', format('SELECT count(*) FROM cdp.consent_statement WHERE record_id = %s', (SELECT record_id FROM cdp.record WHERE source_key = 'r1'))), 'ok:6',
          'positive control: the dpo reads the consent registry');
SELECT is(pg_temp.as_role('seg_mkt', format($q$SELECT cdp.create_segment('диагноз', '{"event": "diagnosis", "where": {"code": "F32"}}', 'treatment')$q$)), 'err:42501',
          'marketer: a treatment segment on a sensitive category is refused (the caller is checked, not the definer)');
SELECT ok(cdp.create_segment('диагноз', '{"event": "diagnosis", "where": {"code": "F32"}}', 'treatment') > 0,
          'positive control: the superuser may save it');
CREATE FUNCTION pg_temp.err_as(login text, q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	m text;
	d text;
BEGIN
	EXECUTE format('SET LOCAL ROLE %I', login);
	EXECUTE q;
	RESET ROLE;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL;
	RESET ROLE;
	RETURN sqlstate || ': ' || m || ' | ' || d;
END $$;
SELECT is(pg_temp.err_as('seg_mkt', $q$SELECT cdp.create_segment('диагноз', '{"event": "diagnosis", "where": {"code": "F32"}}', 'treatment')$q$),
          '42501: role "seg_mkt" may not target a sensitive category: a treatment segment that does needs role cdp_doctor'
          ' | At $.where.code (F32: F00-F99 mental and behavioural disorders (substance use F10-F19 included)). Required role: cdp_doctor (or a superuser).',
          'the refusal names the calling role, the clause, the category and the role required');

-- is_suppressed (SECURITY INVOKER over the registry table) is no oracle for a role without consent access
SELECT cdp.set_consent(:g2, 'marketing', 'sms', false, address => '+79160000002') IS NOT NULL AS sup \gset
SELECT ok(cdp.is_suppressed('+79160000002', 'marketing'), 'positive control: the owner sees the withdrawn number suppressed');
SELECT is(pg_temp.as_role('seg_dpo', $q$SELECT cdp.is_suppressed('8 916 000 00 02', 'marketing')$q$), 'ok:true',
          'positive control: the dpo (reads the suppression list) gets the answer');
SELECT is(pg_temp.as_role('seg_mkt', $q$SELECT cdp.is_suppressed('+79160000002', 'marketing')::text || '/' || cdp.is_suppressed('+79160000099', 'marketing')::text$q$),
          'err:42501', 'marketer: is_suppressed is refused, the same for a suppressed and a clean number');
SELECT is(pg_temp.as_role('seg_ana', $q$SELECT cdp.is_suppressed('+79160000002', 'marketing')$q$), 'err:42501',
          'analyst: is_suppressed is refused');

-- ---------------------------------------------------------------- registrar: consent, not segments
SELECT matches(pg_temp.as_role('seg_reg', format('SELECT cdp.set_consent(%s, ''marketing'', ''sms'', false, evidence => ''заявление 7'')', :g2)), '^ok:[0-9]+$',
          'registrar: set_consent');
SELECT is((SELECT role || ' ' || action || ' ' || purpose || ' ' || (golden_ids = ARRAY[:g2]::bigint[]) || ' ' || (detail ->> 'granted') || ' ' || (detail::text ~ 'заявление')
             FROM cdp.audit_log WHERE action = 'consent.changed' ORDER BY audit_id DESC LIMIT 1),
          'seg_reg consent.changed marketing true false false', 'the consent change is audited: who, the patient, the purpose, no evidence text');
SELECT is(pg_temp.as_role('seg_reg', format('SELECT granted FROM cdp.consent_now(%s) WHERE purpose = ''marketing'' AND channel = ''sms''', :g2)), 'ok:false',
          'registrar: consent_now');
SELECT is(pg_temp.as_role('seg_reg', format($q$SELECT cdp.create_segment('рег', %L)$q$, :'rule')), 'err:42501', 'registrar: create_segment is refused');
SELECT is(pg_temp.as_role('seg_reg', format($q$SELECT cdp.segment_preview(%L) ->> 'count'$q$, :'rule')), 'err:42501',
          'registrar: segment_preview is refused (positive control: the marketer''s above)');

-- ---------------------------------------------------------------- analyst: the summary and pseudonyms only
SELECT is(pg_temp.as_role('seg_ana', format($q$SELECT size FROM cdp.segment_summary_report() WHERE segment_id = %s$q$, :sm)), 'ok:11', 'analyst: segment_summary_report');
SELECT is(pg_temp.as_role('seg_ana', format($q$SELECT count(*) FROM cdp.segment_member_pseudonyms(%s)$q$, :sm)), 'ok:11', 'analyst: segment_member_pseudonyms');
SELECT is((SELECT array_agg(pseudonym ORDER BY pseudonym) FROM cdp.segment_member_pseudonyms(:sm)),
          (SELECT array_agg(x ORDER BY x) FROM (SELECT cdp.pseudonym(golden_id) AS x FROM cdp.segment_member WHERE segment_id = :sm) y),
          'one pseudonym scheme: a segment member''s pseudonym is the access layer''s keyed cdp.pseudonym');
SELECT is(pg_temp.as_role('seg_ana', 'SELECT count(*) FROM cdp.segment_member'), 'err:42501', 'analyst: segment_member (golden ids) is refused');
SELECT is(pg_temp.as_role('seg_adm', format('SELECT count(*) FROM cdp.segment_member WHERE segment_id = %s', :sm)), 'ok:11',
          'positive control: the admin reads segment_member under its marketing policy');
SELECT is(pg_temp.as_role('seg_ana', format($q$SELECT cdp.segment_preview(%L) ->> 'count'$q$, :'rule')), 'err:42501', 'analyst: segment_preview is refused');
SELECT is(pg_temp.as_role('seg_ana', format('SELECT cdp.may_contact(%s, ''marketing'', ''sms'')', :g1)), 'err:42501', 'analyst: may_contact is refused');

-- ---------------------------------------------------------------- scheduler, erasure, PUBLIC
SELECT is(pg_temp.as_role('seg_sch', 'SELECT cdp.refresh_due_segments()'), 'ok:0', 'scheduler: refresh_due_segments');
SELECT is(pg_temp.as_role('seg_dpo', format('SELECT cdp.erase_patient(%s, ''request'') ->> ''golden_id''', :g1)), 'ok:' || :g1, 'dpo: erase a segment member');
SELECT is((SELECT count(*) FROM cdp.segment_member WHERE golden_id = :g1), 0::bigint, 'erasure removed the patient from segment_member (registered as marketing)');

SELECT * FROM finish();
ROLLBACK;
