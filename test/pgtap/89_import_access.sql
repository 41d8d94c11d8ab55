-- test/pgtap/89_import_access.sql: who may import (issue 16, audit of session 25; doc/import.md
-- "Privileges", doc/security.md).  The import functions run as the owner and check that the caller
-- may write the kind: cdp_admin every kind, cdp_registrar patients, partner contacts and consents,
-- cdp_marketer segment lists; an analyst, a role without a cdp role and a BYPASSRLS role given
-- EXECUTE by hand are refused.  Every refusal has its positive control.
BEGIN;
SELECT plan(25);

SELECT count(*) > 0 AS roles FROM cdp.setup_roles() \gset
CREATE ROLE imp_adm LOGIN; CREATE ROLE imp_reg LOGIN; CREATE ROLE imp_mkt LOGIN; CREATE ROLE imp_ana LOGIN;
CREATE ROLE imp_byp LOGIN BYPASSRLS;
SELECT cdp.grant_role('imp_adm', 'cdp_admin') IS NOT NULL AS g1 \gset
SELECT cdp.grant_role('imp_reg', 'cdp_registrar') IS NOT NULL AS g2 \gset
SELECT cdp.grant_role('imp_mkt', 'cdp_marketer') IS NOT NULL AS g3 \gset
SELECT cdp.grant_role('imp_ana', 'cdp_analyst') IS NOT NULL AS g4 \gset
-- what doc/import.md once said was enough: BYPASSRLS and EXECUTE on the import functions
GRANT USAGE ON SCHEMA cdp TO imp_byp;
GRANT EXECUTE ON FUNCTION cdp.import_csv(text, text, text, text, jsonb), cdp.import_template(text),
	cdp.import_begin(text, text, jsonb), cdp.import_commit(bigint, text) TO imp_byp;

SELECT cdp.register_source('his', 'internal', 80) IS NOT NULL AS src \gset
SELECT cdp.create_segment('все', '{"attr": "sex", "op": "=", "value": "F"}') AS seg \gset

-- ---------------------------------------------------------------- the admin: every kind
SET ROLE imp_adm;
SELECT is(split_part(cdp.import_template('patients'), E'\n', 1), 'source_id;family_name;given_name;patronymic;birth_date;sex;phone;email;snils;oms;address;city;vk;telegram',
          'an admin gets a template');
SELECT is(cdp.import_csv('his', 'patients', E'source_id;family_name;given_name;sex;phone\nA-1;Орлова;Анна;Ж;+79161230001\n') ->> 'created', '1',
          'an admin imports patients');
SELECT cdp.import_csv('his', 'clinical_events', E'source_id;record_source_id;kind;at\nV-1;A-1;visit;2024-03-01T09:30:00+03:00\n') AS r_adm \gset
SELECT is(:'r_adm'::jsonb ->> 'created', '1', 'an admin imports clinical events');
SELECT (:'r_adm'::jsonb ->> 'batch')::bigint AS b_adm \gset
SELECT is((SELECT count(*) FROM cdp.import_errors(:b_adm)), 0::bigint, 'an admin reads a batch''s errors');
SELECT is(cdp.import_status(:b_adm) ->> 'status', 'committed', 'and its status');
SELECT is((SELECT array[records, rows_quarantined, imports_refused]::text || (last_import IS NOT NULL)::text FROM cdp.source_quality WHERE source = 'his'),
          '{1,0,0}true', 'an admin reads the data quality of the source, import columns included');
RESET ROLE;

-- ---------------------------------------------------------------- the registrar: patients and consents
SET ROLE imp_reg;
SELECT cdp.import_csv('his', 'patients', E'source_id;family_name;given_name;sex;phone\nR-1;Белова;Мария;Ж;+79161230002\nR-2;Серов;;;12\n', 'quarantine') AS r_reg \gset
SELECT is(:'r_reg'::jsonb ->> 'created', '1', 'a registrar imports patients');
SELECT is((SELECT row_no || '/' || column_name FROM cdp.import_errors((:'r_reg'::jsonb ->> 'batch')::bigint)), '3/phone',
          'and reads the rows it set aside');
SELECT is(cdp.import_csv('his', 'consents', E'source_id;purpose;channel;granted;at\nR-1;маркетинг;смс;да;01.03.2024\n') ->> 'created', '1',
          'a registrar imports consents');
SELECT throws_ok($$SELECT cdp.import_csv('his', 'clinical_events', E'source_id;record_source_id;kind\nV-2;R-1;visit\n')$$, '42501',
                 'permission denied for cdp.import_begin', 'a registrar cannot import clinical events (it cannot write them)');
SELECT throws_ok(format('SELECT cdp.import_status(%s)', :b_adm), '42501', 'permission denied for cdp.import_status',
                 'nor read the status of a clinical-events batch');
SELECT throws_ok(format('SELECT count(*) FROM cdp.import_errors(%s)', :b_adm), '42501', 'permission denied for cdp.import_errors',
                 'nor its errors');
SELECT throws_ok($$SELECT cdp.import_begin('his', 'segment_list', '{"segment": 1}')$$, '42501', 'permission denied for cdp.import_begin',
                 'nor segment lists');
SELECT throws_ok($$INSERT INTO cdp.import_staging (batch_id, line) VALUES (1, 'x')$$, '42501', NULL,
                 'nor write the staging table directly (the COPY path is a superuser''s)');
RESET ROLE;

-- ---------------------------------------------------------------- the marketer: segment lists only
SET ROLE imp_mkt;
SELECT is(cdp.import_csv('his', 'segment_list', E'phone\n+79161230002\n', 'all_or_nothing', format('{"segment": %s}', :seg)::jsonb) ->> 'created', '1',
          'a marketer imports a segment list');
SELECT throws_ok($$SELECT cdp.import_csv('his', 'patients', E'source_id;family_name\nM-1;Орлов\n')$$, '42501',
                 'permission denied for cdp.import_begin', 'a marketer cannot import patients');
RESET ROLE;

-- ---------------------------------------------------------------- roles that may not import
SET ROLE imp_ana;
SELECT throws_ok($$SELECT cdp.import_template('patients')$$, '42501', NULL, 'an analyst gets no template');
SELECT throws_ok($$SELECT cdp.import_csv('his', 'patients', E'source_id;family_name\nN-1;Орлов\n')$$, '42501', NULL, 'an analyst cannot import');
RESET ROLE;
SET ROLE imp_byp;
SELECT lives_ok($$SELECT cdp.import_template('patients')$$, 'a BYPASSRLS role given EXECUTE gets a template (no personal data)');
SELECT throws_ok($$SELECT cdp.import_csv('his', 'patients', E'source_id;family_name\nB-1;Орлов\n')$$, '42501',
                 'permission denied for cdp.import_begin', 'but cannot import: bypassing row-level security is no cdp role');
SELECT throws_ok($$SELECT cdp.import_begin('his', 'patients')$$, '42501', 'permission denied for cdp.import_begin', 'nor open a batch');
RESET ROLE;

-- ---------------------------------------------------------------- what was written, and by whom
SELECT is((SELECT array_agg(source_key ORDER BY source_key) FROM cdp.record), ARRAY['A-1', 'R-1'],
          'exactly the records of the allowed imports');
SELECT is((SELECT array_agg(DISTINCT opened_by ORDER BY opened_by) FROM cdp_internal.import_batch), ARRAY['imp_adm', 'imp_mkt', 'imp_reg'],
          'each batch says who opened it');
SELECT ok(NOT has_schema_privilege('cdp_registrar', 'cdp_internal', 'USAGE') AND NOT has_schema_privilege('cdp_admin', 'cdp_internal', 'USAGE'),
          'and still no clinic role may use the private schema');
SELECT ok(NOT has_function_privilege('public', 'cdp.import_csv(text,text,text,text,jsonb)', 'EXECUTE'), 'PUBLIC cannot import');

SELECT * FROM finish();
ROLLBACK;
