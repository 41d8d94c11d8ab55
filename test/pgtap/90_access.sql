-- test/pgtap/90_access.sql: the access probe suite (issue 15).  Logs in (SET SESSION AUTHORIZATION)
-- as a login of each clinic role and tries what it must not; every probe Pnn has a positive control
-- Pnn+ run by a role that may (or on an unprotected copy), which shows that the probe would have
-- caught a leak.  doc/security.md lists every probe, role and result; test/t/056_access_docs.pl
-- checks that table against the descriptions here.  The probes that need a client or a server log
-- (COPY to the client, an install-time hijack, the log) are TAP: test/t/054_access_probes.pl.
BEGIN;
SELECT plan(116);

-- ---------------------------------------------------------------- fixtures
SELECT lives_ok($$SELECT * FROM cdp.setup_roles()$$, 'P23+ superuser: setup_roles creates the roles (positive control)');
SELECT is((SELECT count(*)::int FROM pg_roles WHERE rolname LIKE 'cdp\_%' AND NOT rolcanlogin AND NOT rolsuper AND NOT rolbypassrls),
          8, 'eight NOLOGIN group roles, none a superuser or BYPASSRLS');
SELECT lives_ok($$SELECT * FROM cdp.setup_roles()$$, 'setup_roles is idempotent');

CREATE ROLE acc_reg LOGIN; CREATE ROLE acc_doc LOGIN; CREATE ROLE acc_doc2 LOGIN; CREATE ROLE acc_mkt LOGIN;
CREATE ROLE acc_ana LOGIN; CREATE ROLE acc_dpo LOGIN; CREATE ROLE acc_adm LOGIN; CREATE ROLE acc_sch LOGIN;
CREATE ROLE acc_snd LOGIN; CREATE ROLE acc_nobody LOGIN; CREATE ROLE acc_cr LOGIN CREATEROLE;
-- so that setup_roles' own checks answer them, not the schema's privileges
GRANT USAGE ON SCHEMA cdp TO acc_nobody, acc_cr;
SELECT cdp.grant_role('acc_reg', 'cdp_registrar');
SELECT cdp.grant_role('acc_doc', 'cdp_doctor', '{"specialties": ["кардиолог"]}');
SELECT cdp.grant_role('acc_doc2', 'cdp_doctor', '{"all": true}');
SELECT cdp.grant_role('acc_mkt', 'cdp_marketer');
SELECT cdp.grant_role('acc_ana', 'cdp_analyst');
SELECT cdp.grant_role('acc_dpo', 'cdp_dpo');
SELECT cdp.grant_role('acc_adm', 'cdp_admin');
SELECT cdp.grant_role('acc_sch', 'cdp_scheduler');
SELECT cdp.grant_role('acc_snd', 'cdp_sender');

SELECT cdp.register_source('acc_probe');
SELECT cdp.upsert_record('acc_probe', 'r1', '{"family_name": "Иванова", "given_name": "Мария", "birth_date": "1980-03-05",
	"phone": "+7 916 123-45-67", "email": "ivanova@mail.ru", "snils": "112-233-445 95"}');
SELECT cdp.upsert_record('acc_probe', 'r2', '{"family_name": "Петров", "given_name": "Пётр", "birth_date": "1990-01-01",
	"phone": "+7 903 765-43-21", "email": "petrov@mail.ru"}');
SELECT cdp.upsert_clinical_event('acc_probe', 'v1', 'visit', '{"record_source_id": "r1", "at": "2024-01-01", "specialty": "кардиолог"}');
SELECT cdp.upsert_clinical_event('acc_probe', 'd1', 'diagnosis', '{"record_source_id": "r1", "at": "2024-01-01", "code": "I10"}');
SELECT cdp.upsert_clinical_event('acc_probe', 'd2', 'diagnosis', '{"record_source_id": "r2", "at": "2024-01-01", "code": "J45"}');
SELECT cdp.golden_id('acc_probe', 'r1') AS ga, cdp.golden_id('acc_probe', 'r2') AS gb \gset

-- Иванова consented to marketing by sms: through the consent family when it is installed, else a
-- stand-in cdp.may_contact that says just that
DO $$
BEGIN
	IF EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'set_consent' AND pronamespace = 'cdp'::regnamespace) THEN
		EXECUTE 'SELECT cdp.set_consent($1, ''marketing'', ''sms'', true)' USING cdp.golden_id('acc_probe', 'r1');
	ELSIF to_regprocedure('cdp.may_contact(bigint,text,text)') IS NULL THEN
		EXECUTE format('CREATE FUNCTION cdp.may_contact(golden_id bigint, purpose text, channel text) RETURNS boolean
			LANGUAGE sql STABLE AS %L', format('SELECT $1 = %s AND $2 = ''marketing'' AND $3 = ''sms''',
											   cdp.golden_id('acc_probe', 'r1')));
	END IF;
END $$;

-- as_login(login, query): the query's rows (first column, joined by |) as the login, or its error
CREATE FUNCTION pg_temp.as_login(login text, q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	r text;
BEGIN
	BEGIN
		EXECUTE format('SET LOCAL SESSION AUTHORIZATION %I', login);
		EXECUTE format('SELECT string_agg(x::text, %L) FROM (%s) x(x)', '|', q) INTO r;
		RESET SESSION AUTHORIZATION;
		RETURN 'ok:' || coalesce(r, '');
	EXCEPTION WHEN OTHERS THEN
		RETURN 'err:' || sqlstate;
	END;
END $$;
-- as_login_do(login, statement): 'ok' or the error's SQLSTATE, for statements that return no rows
CREATE FUNCTION pg_temp.as_login_do(login text, q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	BEGIN
		EXECUTE format('SET LOCAL SESSION AUTHORIZATION %I', login);
		EXECUTE q;
		RESET SESSION AUTHORIZATION;
		RETURN 'ok';
	EXCEPTION WHEN OTHERS THEN
		RETURN 'err:' || sqlstate;
	END;
END $$;

-- ---------------------------------------------------------------- P01-P03: diagnoses
SELECT is(pg_temp.as_login('acc_reg', 'SELECT icd10 FROM cdp.clinical_event'), 'err:42501',
          'P01 cdp_registrar: reading a diagnosis from cdp.clinical_event is refused');
SELECT is(pg_temp.as_login('acc_doc', 'SELECT icd10 FROM cdp.clinical_event WHERE icd10 IS NOT NULL'), 'ok:I10',
          'P01+ cdp_doctor: reads the diagnosis of the patient in its care (positive control)');
SELECT is(pg_temp.as_login('acc_mkt', 'SELECT icd10 FROM cdp.clinical_event'), 'err:42501',
          'P02 cdp_marketer: reading a diagnosis from cdp.clinical_event is refused');
SELECT is(pg_temp.as_login('acc_doc2', 'SELECT icd10 FROM cdp.clinical_event WHERE icd10 IS NOT NULL ORDER BY 1'), 'ok:I10|J45',
          'P02+ cdp_doctor: with scope all, reads both diagnoses (positive control)');
SELECT is(pg_temp.as_login('acc_reg', format('SELECT cdp.patient_profile(%s, ''call'') ? ''clinical''', :ga)), 'ok:false',
          'P03 cdp_registrar: the full profile carries no clinical events');
SELECT is(pg_temp.as_login('acc_doc', format('SELECT cdp.patient_profile(%s, ''visit'') #>> ''{clinical,1,icd10}''', :ga)), 'ok:I10',
          'P03+ cdp_doctor: the full profile of its patient carries the diagnosis (positive control)');
SELECT is(pg_temp.as_login('acc_adm', 'SELECT count(*) FROM cdp.clinical_event'), 'ok:0',
          'P04 cdp_admin: sees no row of cdp.clinical_event');
SELECT is(pg_temp.as_login('acc_doc2', 'SELECT count(*) FROM cdp.clinical_event'), 'ok:3',
          'P04+ cdp_doctor: with scope all, sees the rows cdp_admin does not (positive control)');
SELECT is(pg_temp.as_login('acc_doc', format('SELECT count(*) FROM cdp.clinical_event WHERE golden_id = %s', :gb)), 'ok:0',
          'P05 cdp_doctor: sees no clinical event of a patient outside its care');
SELECT is(pg_temp.as_login('acc_doc', format('SELECT cdp.patient_profile(%s, ''visit'')', :gb)), 'ok:',
          'P05 cdp_doctor: no profile of a patient outside its care');
SELECT is(pg_temp.as_login('acc_doc2', format('SELECT count(*) FROM cdp.clinical_event WHERE golden_id = %s', :gb)), 'ok:1',
          'P05+ cdp_doctor: with scope all, sees that patient''s clinical event (positive control)');
SELECT is(pg_temp.as_login('acc_adm', 'SELECT count(*) FROM cdp.event WHERE kind LIKE ''clinical.%'''), 'ok:0',
          'P06 cdp_admin: reads no clinical event from the event log');
SELECT isnt(pg_temp.as_login('acc_adm', 'SELECT count(*) FROM cdp.event WHERE kind LIKE ''record.%'''), 'ok:0',
          'P06+ cdp_admin: reads the record events of the log (positive control)');

-- ---------------------------------------------------------------- P07-P09: contacts
SELECT is(pg_temp.as_login('acc_mkt', 'SELECT phones::text FROM cdp.patient'), 'err:42501',
          'P07 cdp_marketer: reading phones from cdp.patient is refused');
SELECT is(pg_temp.as_login('acc_reg', format('SELECT phones #>> ''{0,value}'' FROM cdp.patient WHERE golden_id = %s', :gb)), 'ok:+79037654321',
          'P07+ cdp_registrar: reads the phone (positive control)');
SELECT is(pg_temp.as_login('acc_mkt', format('SELECT cdp.contact_address(%s, ''sms'', ''marketing'')', :gb)), 'ok:',
          'P08 cdp_marketer: no contact address of a patient who did not consent');
SELECT is(pg_temp.as_login('acc_mkt', format('SELECT cdp.contact_address(%s, ''sms'', ''marketing'')', :ga)), 'ok:+79161234567',
          'P08+ cdp_marketer: the address of a consented patient (positive control)');
SELECT is(pg_temp.as_login('acc_mkt', format('SELECT cdp.contact_address(%s, ''email'', ''marketing'')', :ga)), 'ok:',
          'P08 cdp_marketer: no address on a channel the patient did not consent to');
SELECT is(pg_temp.as_login('acc_mkt', format('SELECT cdp.contact_address(%s, ''sms'', ''treatment'')', :gb)), 'err:42501',
          'P08 cdp_marketer: no address for the treatment purpose (allowed by default)');
SELECT is(pg_temp.as_login('acc_mkt', 'SELECT phone || '' '' || email || '' '' || snils FROM cdp.masked_patients() WHERE phone LIKE ''+7 916%'''),
          'ok:+7 916 ***-**-67 i***@mail.ru ***-***-**5 95', 'P09 cdp_marketer: masked profiles show masked contacts only');
SELECT is(pg_temp.as_login('acc_ana', 'SELECT count(*) FILTER (WHERE phone IS NOT NULL OR email IS NOT NULL) || ''/'' || count(*) FROM cdp.masked_patients()'),
          'ok:0/2', 'P09 cdp_analyst: masked profiles without contacts');
SELECT is(pg_temp.as_login('acc_ana', format('SELECT count(*) FROM cdp.masked_patients() WHERE pseudonym = %L',
                                              pg_temp.as_login('acc_dpo', format('SELECT cdp.pseudonym(%s)', :ga)))), 'ok:0',
          'the dpo''s answer is not a bare pseudonym (as_login prefixes it), so the next test is not vacuous');
SELECT is(pg_temp.as_login('acc_ana', format('SELECT count(*) FROM cdp.masked_patients() WHERE pseudonym = %L',
                                              substr(pg_temp.as_login('acc_dpo', format('SELECT cdp.pseudonym(%s)', :ga)), 4))), 'ok:1',
          'P09+ cdp_analyst: finds the pseudonym the dpo computes for the patient, stable across calls (positive control)');
SELECT is(pg_temp.as_login('acc_ana', format('SELECT cdp.pseudonym(%s)', :ga)), 'err:42501',
          'P09 cdp_analyst: cannot turn a golden id into its pseudonym');
SELECT is(pg_temp.as_login('acc_mkt', format('SELECT cdp.pseudonym(%s)', :ga)), 'err:42501',
          'P09 cdp_marketer: cannot turn a golden id into its pseudonym');
SELECT is(pg_temp.as_login('acc_ana', 'SELECT count(*) FROM cdp.patient_counts()'), 'ok:0',
          'P10 cdp_analyst: groups under 5 patients are suppressed');
SELECT count(*) FROM cdp.upsert_records('acc_probe', ARRAY['t1', 't2', 't3', 't4', 't5'],
	ARRAY(SELECT format('{"family_name": "Тверская%s", "birth_date": "1985-0%s-01", "sex": "F", "city": "Тверь"}', i, i)::jsonb
	        FROM generate_series(1, 5) i));
SELECT is(pg_temp.as_login('acc_ana', 'SELECT city || '' '' || patients FROM cdp.patient_counts()'), 'ok:Тверь 5',
          'P10+ cdp_analyst: a group of 5 is shown (positive control)');
SELECT is(pg_temp.as_login('acc_snd', format('SELECT cdp.contact_address(%s, ''sms'', ''marketing'')', :ga)), 'ok:+79161234567',
          'P11+ cdp_sender: the address of a consented patient for a send (positive control)');
SELECT is(pg_temp.as_login('acc_snd', 'SELECT count(*) FROM cdp.masked_patients()'), 'err:42501',
          'P11 cdp_sender: nothing else (masked profiles refused)');
SELECT is(pg_temp.as_login('acc_sch', 'SELECT count(*) FROM cdp.patient'), 'err:42501',
          'P12 cdp_scheduler: reads no patient');
SELECT is(pg_temp.as_login('acc_sch', 'SELECT cdp.run_matching() IS NOT NULL'), 'ok:true',
          'P12+ cdp_scheduler: runs the matching increment (positive control)');

-- ---------------------------------------------------------------- P13-P14: the logs are append-only
SELECT is(pg_temp.as_login_do('acc_adm', 'UPDATE cdp.event SET payload = ''{}'''), 'err:42501',
          'P13 cdp_admin: updating the event log is refused');
SELECT is(pg_temp.as_login_do('acc_dpo', 'DELETE FROM cdp.event'), 'err:42501',
          'P13 cdp_dpo: deleting from the event log is refused');
SELECT throws_ok('UPDATE cdp.event SET payload = ''{}''', '42501', NULL,
                 'P13 superuser: updating the event log is refused by its trigger');
CREATE TEMP TABLE event_copy AS SELECT * FROM cdp.event;
SELECT lives_ok('UPDATE event_copy SET payload = ''{}''', 'P13+ superuser: the same UPDATE on an unprotected copy works (positive control)');
SELECT is(pg_temp.as_login_do('acc_dpo', 'DELETE FROM cdp.audit_log'), 'err:42501',
          'P14 cdp_dpo: deleting from the audit log is refused');
SELECT is(pg_temp.as_login_do('acc_adm', 'UPDATE cdp.audit_log SET purpose = NULL'), 'err:42501',
          'P14 cdp_admin: updating the audit log is refused');
SELECT throws_ok('DELETE FROM cdp.audit_log', '42501', NULL, 'P14 superuser: deleting from the audit log is refused by its trigger');
SELECT throws_ok('TRUNCATE cdp.audit_log', '42501', NULL, 'P14 superuser: truncating the audit log is refused by its trigger');
CREATE TEMP TABLE audit_copy AS SELECT * FROM cdp.audit_log;
SELECT lives_ok('DELETE FROM audit_copy', 'P14+ superuser: the same DELETE on an unprotected copy works (positive control)');

-- ---------------------------------------------------------------- P15: f_leak through a non-LEAKPROOF function
-- as PostgreSQL's rowsecurity test: a function of the role's own, RAISE NOTICE in the WHERE clause;
-- it also appends what it saw to a setting, which the probe reads back
CREATE FUNCTION pg_temp.f_leak(text) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS $$
BEGIN
	RAISE NOTICE 'f_leak => %', $1;
	PERFORM set_config('acc_probe.leak', coalesce(current_setting('acc_probe.leak', true), '') || $1 || ';', false);
	RETURN true;
END $$;
GRANT EXECUTE ON FUNCTION pg_temp.f_leak(text) TO PUBLIC;
SELECT set_config('acc_probe.leak', '', false);
SELECT is(pg_temp.as_login('acc_doc', 'SELECT family_name FROM cdp.patient WHERE pg_temp.f_leak(family_name)'), 'ok:Иванова',
          'P15 cdp_doctor: a leaky function in WHERE returns the patient in care only');
SELECT is(current_setting('acc_probe.leak'), 'Иванова;', 'P15 cdp_doctor: the leaky function never saw a hidden row');
SELECT set_config('acc_probe.leak', '', false);
SELECT is(pg_temp.as_login('acc_reg', 'SELECT count(*) FROM cdp.patient WHERE pg_temp.f_leak(family_name)'), 'ok:7',
          'P15+ cdp_registrar: the same query sees every patient');
SELECT matches(current_setting('acc_probe.leak'), 'Петров', 'P15+ cdp_registrar: the leaky function saw Петров (positive control)');
SELECT is((SELECT count(*)::int FROM pg_proc p JOIN pg_policy pol ON pol.polqual::text ~ ('funcid ' || p.oid || ' ')
            WHERE NOT p.proleakproof), 0, 'P15 superuser: every function a policy calls is LEAKPROOF');
SELECT is((SELECT string_agg(DISTINCT p.proname, ',') FROM pg_proc p JOIN pg_policy pol ON pol.polqual::text ~ ('funcid ' || p.oid || ' ')
            WHERE p.pronamespace = 'cdp'::regnamespace), 'in_care', 'that check finds the function the doctor policies call');

-- ---------------------------------------------------------------- P16: EXPLAIN ANALYZE
CREATE FUNCTION pg_temp.explain_rows(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	l text;
	out text := '';
BEGIN
	FOR l IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q LOOP
		out := out || l || E'\n';
	END LOOP;
	RETURN out;
END $$;
GRANT EXECUTE ON FUNCTION pg_temp.explain_rows(text) TO PUBLIC;
SELECT is(pg_temp.as_login('acc_doc', $q$SELECT substring(pg_temp.explain_rows('SELECT * FROM cdp.patient WHERE family_name = ''Петров''') from 'actual rows=(\d+)')$q$),
          'ok:0', 'P16 cdp_doctor: EXPLAIN ANALYZE finds no hidden row');
SELECT is(pg_temp.as_login('acc_reg', $q$SELECT substring(pg_temp.explain_rows('SELECT * FROM cdp.patient WHERE family_name = ''Петров''') from 'actual rows=(\d+)')$q$),
          'ok:1', 'P16+ cdp_registrar: EXPLAIN ANALYZE finds the row (positive control)');

-- ---------------------------------------------------------------- P17: error messages that echo values
CREATE FUNCTION pg_temp.error_text(login text, q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	d text;
BEGIN
	BEGIN
		EXECUTE format('SET LOCAL SESSION AUTHORIZATION %I', login);
		EXECUTE q;
		RESET SESSION AUTHORIZATION;
		RETURN 'no error';
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
		RETURN sqlerrm || ' ' || coalesce(d, '');
	END;
END $$;
SELECT is(pg_temp.error_text('acc_doc', format('SELECT 1 FROM cdp.patient WHERE golden_id = %s AND family_name::int = 0', :gb)), 'no error',
          'P17 cdp_doctor: a failing cast over a hidden row raises nothing (the row never reaches it)');
SELECT matches(pg_temp.error_text('acc_reg', format('SELECT 1 FROM cdp.patient WHERE golden_id = %s AND family_name::int = 0', :gb)), 'Петров',
               'P17+ cdp_registrar: the same cast echoes the name (positive control)');
SET cdp.redact_values = on;
SELECT doesnt_match(pg_temp.error_text('acc_reg', $$SELECT '112-233-445 96'::cdp.snils$$), '[0-9]{3}|9[56]',
                    'P18 cdp_registrar: with cdp.redact_values on, a wrong SNILS is reported without its digits');
SELECT doesnt_match(pg_temp.error_text('acc_reg', $$SELECT '+7 916 123-45-6x'::cdp.phone$$), '916|45',
                    'P18 cdp_registrar: with cdp.redact_values on, a bad phone is reported without its digits');
SELECT doesnt_match(pg_temp.error_text('acc_reg', $$SELECT cdp.upsert_record('acc_probe', 'r9', '{"snils": "112-233-445 96"}')$$), '445|96',
                    'P18 cdp_registrar: with cdp.redact_values on, ingest reports a wrong SNILS without its digits');
SELECT is(pg_temp.as_login_do('acc_reg', 'SET cdp.redact_values = off'), 'err:42501',
          'P18 cdp_registrar: cannot turn cdp.redact_values off');
RESET cdp.redact_values;
SELECT matches(pg_temp.error_text('acc_reg', $$SELECT '112-233-445 96'::cdp.snils$$), '112-233-445 96.*|should be 95',
               'P18+ cdp_registrar: with the setting off, the value is echoed (positive control)');

-- ---------------------------------------------------------------- P19: COPY
SELECT is(pg_temp.as_login_do('acc_doc', 'COPY cdp.patient TO ''/tmp/acc_probe_copy.csv'''), 'err:42501',
          'P19 cdp_doctor: COPY of cdp.patient to a server file is refused');
SELECT is(pg_temp.as_login_do('acc_mkt', 'COPY (SELECT 1) TO ''/tmp/acc_probe_copy.csv'''), 'err:42501',
          'P19 cdp_marketer: COPY to a server file is refused');
SELECT lives_ok($$COPY (SELECT 1) TO PROGRAM 'cat > /dev/null'$$, 'P19+ superuser: the same COPY out of the server works (positive control)');

-- ---------------------------------------------------------------- P20: a view owned by a privileged role
CREATE VIEW public.acc_probe_invoker WITH (security_invoker) AS SELECT golden_id, family_name FROM cdp.patient;
CREATE VIEW public.acc_probe_owner AS SELECT golden_id, family_name FROM cdp.patient;
GRANT SELECT ON public.acc_probe_invoker, public.acc_probe_owner TO cdp_doctor;
SELECT is(pg_temp.as_login('acc_doc', 'SELECT family_name FROM public.acc_probe_invoker ORDER BY 1'), 'ok:Иванова',
          'P20 cdp_doctor: a security_invoker view owned by the superuser shows the patient in care only');
SELECT is(pg_temp.as_login('acc_doc', 'SELECT family_name FROM public.acc_probe_owner WHERE family_name IN (''Иванова'', ''Петров'') ORDER BY 1'), 'ok:Иванова|Петров',
          'P20+ cdp_doctor: the same view with its owner''s rights shows both (positive control: why every cdp view is security_invoker)');
SELECT is((SELECT count(*)::int FROM pg_class WHERE relnamespace = 'cdp'::regnamespace AND relkind = 'v'
            AND NOT coalesce(reloptions @> ARRAY['security_invoker=true'], false)), 0,
          'P20 superuser: every view of schema cdp is security_invoker');
SELECT is(pg_temp.as_login('acc_doc', 'SELECT count(*) FROM cdp.review_queue'), 'err:42501',
          'P20 cdp_doctor: no view of cdp it was not granted');

-- ---------------------------------------------------------------- P21: a unique-key violation
SELECT is(pg_temp.as_login_do('acc_doc', format('INSERT INTO cdp.patient (golden_id) VALUES (%s)', :gb)), 'err:42501',
          'P21 cdp_doctor: inserting the key of a hidden row is refused before any unique check');
SELECT is(pg_temp.as_login_do('acc_reg', format('INSERT INTO cdp.record (source_id, source_key, raw, attrs_hash) VALUES ((SELECT source_id FROM cdp.source WHERE name = ''acc_probe''), ''r2'', ''{}'', ''x'')')),
          'err:42501', 'P21 cdp_registrar: writes only through the API, so no unique check answers it');
SELECT throws_ok(format('INSERT INTO cdp.patient (golden_id) VALUES (%s)', :gb), '23505', NULL,
                 'P21+ superuser: the same insert meets the unique key (positive control)');

-- ---------------------------------------------------------------- P22: shadowing through search_path
CREATE FUNCTION pg_temp.resolve_patient(bigint) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('acc_probe.shadow', 'ran', false);
	RETURN $1;
END $$;
CREATE FUNCTION pg_temp.acc_probe_eq(bigint, bigint) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('acc_probe.shadow', 'ran', false);
	RETURN true;
END $$;
CREATE OPERATOR pg_temp.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = pg_temp.acc_probe_eq);
GRANT EXECUTE ON FUNCTION pg_temp.resolve_patient(bigint), pg_temp.acc_probe_eq(bigint, bigint) TO PUBLIC;
SELECT set_config('acc_probe.shadow', '', false);
SELECT set_config('search_path', 'pg_temp, public, cdp', false);
SELECT is(pg_temp.as_login('acc_doc', format('SELECT cdp.patient_profile(%s, ''visit'')', :gb)), 'ok:',
          'P22 cdp_doctor: a temporary resolve_patient and = first in search_path do not change what patient_profile returns');
SELECT is(current_setting('acc_probe.shadow'), '', 'P22 cdp_doctor: neither shadow ran');
SELECT is(pg_temp.as_login('acc_doc', 'SELECT pg_temp.resolve_patient(1)'), 'ok:1', 'P22+ cdp_doctor: called by its own name, the shadow runs');
SELECT is(current_setting('acc_probe.shadow'), 'ran', 'P22+ cdp_doctor: and the probe sees it (positive control)');
RESET search_path;

-- ---------------------------------------------------------------- P23-P26: roles, key, audit
SELECT is(pg_temp.as_login('acc_nobody', 'SELECT count(*) FROM cdp.setup_roles()'), 'err:42501',
          'P23 login: without CREATEROLE, setup_roles refuses');
SELECT is(pg_temp.as_login('acc_cr', 'SELECT count(*) FROM cdp.setup_roles()'), 'err:42501',
          'P23 login: with CREATEROLE but not owning cdp, setup_roles refuses');
SELECT is(pg_temp.as_login('acc_reg', 'SELECT cdp.grant_role(''acc_nobody'', ''cdp_admin'')'), 'err:42501',
          'P24 cdp_registrar: cannot grant itself or others a role');
SELECT is(pg_temp.as_login('acc_adm', 'SELECT cdp.grant_role(''acc_nobody'', ''cdp_analyst'')'), 'ok:',
          'P24+ cdp_admin: grants a role (positive control)');
SELECT is(pg_temp.as_login('acc_adm', 'SELECT encode(key, ''hex'') FROM cdp_internal.acc_key'), 'err:42501',
          'P25 cdp_admin: cannot read the pseudonym key');
SELECT is(pg_temp.as_login('acc_adm', 'SELECT setting FROM pg_settings WHERE name ~ ''^cdp\.'' AND setting ~ ''[0-9a-f]{32}'''), 'ok:',
          'P25 cdp_admin: no setting holds the key');
SELECT is((SELECT length(key) FROM cdp_internal.acc_key), 32, 'P25+ superuser: the owner reads the 32-byte key (positive control)');
SELECT is(pg_temp.as_login('acc_mkt', 'SELECT count(*) FROM cdp.audit_log'), 'err:42501',
          'P26 cdp_marketer: cannot read the audit log');
SELECT is(pg_temp.as_login('acc_dpo', $$SELECT string_agg(DISTINCT action, ',' ORDER BY action) FROM cdp.audit_report(now() - interval '1 hour', now() + interval '1 hour')
          WHERE action IN ('profile.read', 'contact.read', 'role.granted')$$), 'ok:contact.read,profile.read,role.granted',
          'P26+ cdp_dpo: the report shows profile reads, contact reads and role changes (positive control)');
SELECT is((SELECT count(*)::int FROM cdp.audit_log WHERE action = 'profile.read' AND actor = 'acc_reg' AND purpose = 'call'),
          1, 'the registrar''s profile read is audited with its purpose');

-- ---------------------------------------------------------------- P31-P32: acting as another role
SELECT is(pg_temp.as_login_do('acc_doc', 'SET ROLE cdp_admin'), 'err:42501',
          'P31 cdp_doctor: SET ROLE cdp_admin is refused');
SELECT is(pg_temp.as_login('acc_adm', 'SELECT current_setting(''role'') FROM (SELECT set_config(''role'', ''cdp_admin'', true)) x'), 'ok:cdp_admin',
          'P31+ cdp_admin: its login may act as cdp_admin (positive control)');
-- a function of the caller's own with SET role = cdp_admin: the SET is checked for membership at
-- every call, so the role check inside cdp (which reads the role setting) never sees an admin
SELECT is(pg_temp.as_login_do('acc_reg', $$CREATE FUNCTION pg_temp.as_admin() RETURNS void LANGUAGE sql
          SET role = 'cdp_admin' AS 'SELECT cdp.grant_role(''acc_nobody'', ''cdp_marketer'')'$$ || '; SELECT pg_temp.as_admin()'), 'err:42501',
          'P32 cdp_registrar: a function of its own with SET role = cdp_admin cannot act as the admin');
SELECT is(pg_temp.as_login_do('acc_adm', $$CREATE FUNCTION pg_temp.as_admin2() RETURNS void LANGUAGE sql
          SET role = 'cdp_admin' AS 'SELECT cdp.grant_role(''acc_nobody'', ''cdp_marketer'')'$$ || '; SELECT pg_temp.as_admin2()'), 'ok',
          'P32+ cdp_admin: the same function of an admin login works (positive control)');

-- the audit row is written in the same transaction as the read: rolled back with it
SELECT is(pg_temp.as_login('acc_reg', format('SELECT cdp.patient_profile(%s, ''rolled back'') IS NOT NULL AND 1 / 0 = 1', :ga)),
          'err:22012', 'a read that fails after the profile is read');
SELECT is((SELECT count(*)::int FROM cdp.audit_log WHERE purpose = 'rolled back'), 0,
          'a read rolled back leaves no audit row, as the audit row commits only with its read');
SELECT is(pg_temp.as_login('acc_reg', format('SELECT cdp.patient_profile(%s, ''kept'') IS NOT NULL', :ga)), 'ok:true', 'a read');
SELECT is((SELECT txid = txid_current() FROM cdp.audit_log WHERE purpose = 'kept'), true,
          'its audit row belongs to the reading transaction');

-- ---------------------------------------------------------------- the masks themselves
SELECT is(cdp.mask_phone('+79161234567'), '+7 916 ***-**-67', 'mask_phone: a Russian number');
SELECT is(cdp.mask_phone('+79161234567;ext=12'), '+7 916 ***-**-67', 'mask_phone: the extension goes too');
SELECT is(cdp.mask_phone('+442079460958'), '+44207 ***-**-58', 'mask_phone: another country keeps its code and leading digits');
SELECT is(cdp.mask_phone('123'), '***', 'mask_phone: too short to show anything');
SELECT is(cdp.mask_email('ivanova@mail.ru'), 'i***@mail.ru', 'mask_email');
SELECT is(cdp.mask_email('a@b@c'), '***', 'mask_email: a value it cannot read is hidden whole');
SELECT is(cdp.mask_snils('112-233-445 95'), '***-***-**5 95', 'mask_snils: the last 3 digits');
SELECT is(cdp.mask_snils('1122'), '***', 'mask_snils: a value it cannot read is hidden whole');
SELECT is(cdp.age_band('1980-03-05', '2026-01-01'), '45-54', 'age_band');
SELECT is(cdp.age_band('2008-01-02', '2026-01-01'), '0-17', 'age_band: 17 is a minor');

-- ---------------------------------------------------------------- one vocabulary of specialties
SELECT is(cdp_internal.specialty_code(' Кардиолог '), 'cardiology', 'specialty_code: a Russian spelling, any case and spaces');
SELECT is(cdp_internal.specialty_code('ЛОР'), 'otorhinolaryngology', 'specialty_code: an abbreviation');
SELECT is(cdp_internal.specialty_code('Спортивная   медицина'), 'спортивная медицина', 'specialty_code: an unknown spelling is its own code');
SAVEPOINT spelling;
SELECT cdp.upsert_clinical_event('acc_probe', 'v2', 'visit', '{"record_source_id": "r2", "at": "2024-02-01", "specialty": "Cardiology"}');
SELECT is(pg_temp.as_login('acc_doc', format('SELECT count(*) FROM cdp.clinical_event WHERE golden_id = %s', :gb)), 'ok:2',
          'a visit recorded as "Cardiology" puts the patient in the care of a doctor granted «кардиолог»');
ROLLBACK TO SAVEPOINT spelling;

-- ---------------------------------------------------------------- P27: erasure and legal hold
SELECT is(pg_temp.as_login('acc_mkt', format('SELECT cdp.erase_patient(%s, ''x'')', :gb)), 'err:42501',
          'P27 cdp_marketer: cannot erase');
SELECT ok((SELECT count(*) FROM cdp.event WHERE payload::text ~ '903[^0-9]{0,2}765[^0-9]{0,2}43[^0-9]{0,2}21|petrov@') > 0,
          'control: before the erasure the event log holds the phone or e-mail');
SELECT is(pg_temp.as_login('acc_dpo', format('SELECT cdp.set_legal_hold(%s, ''court case 12'')', :gb)), 'ok:true', 'a dpo sets a legal hold');
SELECT is(pg_temp.as_login('acc_dpo', format('SELECT cdp.erase_patient(%s, ''request 7'')', :gb)), 'err:55000',
          'P27 cdp_dpo: erasure under a legal hold is refused');
SELECT is(pg_temp.as_login('acc_dpo', format('SELECT cdp.set_legal_hold(%s, ''case closed'', false)', :gb)), 'ok:false', 'the hold is released');
SELECT is(pg_temp.as_login('acc_dpo', format('SELECT cdp.erase_patient(%s, ''request 7'') ->> ''records''', :gb)), 'ok:1',
          'P27+ cdp_dpo: erases the patient (positive control)');
SELECT is((SELECT count(*)::int FROM cdp.event WHERE payload::text ~ '903[^0-9]{0,2}765[^0-9]{0,2}43[^0-9]{0,2}21|petrov@'), 0, 'after erasure no event payload holds the phone or e-mail');
SELECT is((SELECT count(*)::int FROM cdp.record WHERE raw::text ~ '903[^0-9]{0,2}765[^0-9]{0,2}43[^0-9]{0,2}21|petrov@' OR phones IS NOT NULL AND golden_id = :gb), 0,
          'after erasure no source record holds them');
SELECT is((SELECT family_name || ' ' || birth_date || ' ' || phones::text FROM cdp.patient WHERE golden_id = :gb), 'Петров 1990-01-01 []',
          'the name and birth date stay for the medical record; the contacts are gone');
SELECT is((SELECT icd10 FROM cdp.clinical_event WHERE golden_id = :gb), 'J45', 'the clinical events stay (medical record-keeping)');
SELECT is((SELECT count(*)::int FROM cdp.event WHERE kind = 'patient.erased' AND golden_id = :gb), 1, 'the erasure is an event');
SELECT is((SELECT count(*)::int FROM cdp.audit_log WHERE action = 'patient.erased' AND purpose = 'request 7'), 1, 'and an audit row with the reason');

SELECT * FROM finish();
ROLLBACK;
