-- test/pgtap/92_matching_views_access.sql: the matching family's views under the clinic roles
-- (issues 12 + 15): cdp_admin works the review queue and reads the run log, the suspicious values
-- and the oversize persons; a marketer reads none of them (the positive control is the admin).
-- The reception desk (cdp_registrar) asks find_patient and find_patient_namesakes (issue 18); a
-- marketer may call neither.
BEGIN;
SELECT plan(11);

SELECT count(*) > 0 AS roles FROM cdp.setup_roles() \gset
CREATE ROLE mv_adm LOGIN; CREATE ROLE mv_mkt LOGIN; CREATE ROLE mv_reg LOGIN;
SELECT cdp.grant_role('mv_reg', 'cdp_registrar') IS NOT NULL AS g3 \gset
SELECT cdp.grant_role('mv_adm', 'cdp_admin') IS NOT NULL AS g1 \gset
SELECT cdp.grant_role('mv_mkt', 'cdp_marketer') IS NOT NULL AS g2 \gset
SELECT cdp.register_source('his', 'internal', 80) IS NOT NULL AS src \gset
-- twin sisters: one phone and birth date, another given name: held back for a person
SELECT cdp.upsert_record('his', 'a', '{"family_name": "Смирнова", "given_name": "Анна", "birth_date": "1980-03-05", "sex": "F", "phones": ["+79161112233"]}') IS NOT NULL AS a \gset
SELECT cdp.upsert_record('his', 'b', '{"family_name": "Смирнова", "given_name": "Ольга", "birth_date": "1980-03-05", "sex": "F", "phones": ["+79161112233"]}') IS NOT NULL AS b \gset
SELECT cdp.run_matching('full') IS NOT NULL AS run \gset
SELECT cdp.golden_id('his', 'a') AS ga \gset

SET ROLE mv_adm;
SELECT is((SELECT count(*) FROM cdp.review_queue), 1::bigint, 'the admin reads the review queue');
SELECT ok((SELECT count(*) FROM cdp.matching_progress) >= 1, 'the admin reads the run log');
SELECT lives_ok($$SELECT count(*) FROM cdp.suspicious_values$$, 'the admin reads the suspicious values');
SELECT lives_ok($$SELECT count(*) FROM cdp.oversize_persons$$, 'the admin reads the oversize persons');
RESET ROLE;
SET ROLE mv_mkt;
SELECT throws_ok($$SELECT count(*) FROM cdp.review_queue$$, '42501', NULL, 'a marketer cannot read the review queue');
SELECT throws_ok($$SELECT count(*) FROM cdp.matching_progress$$, '42501', NULL, 'nor the run log');
SELECT throws_ok($$SELECT count(*) FROM cdp.suspicious_values$$, '42501', NULL, 'nor the suspicious values (they quote phone numbers)');
RESET ROLE;
SET ROLE mv_reg;
SELECT is((SELECT golden_id FROM cdp.find_patient('{"family_name": "Смирнова", "given_name": "Анна", "birth_date": "1980-03-05"}') LIMIT 1),
          :ga::bigint, 'the reception desk finds a patient');
SELECT is((SELECT persons FROM cdp.find_patient_namesakes('{"family_name": "Смирнова", "given_name": "Анна"}')), 1::bigint,
          'and counts the namesakes of a name');
RESET ROLE;
SET ROLE mv_mkt;
SELECT throws_ok($$SELECT * FROM cdp.find_patient_namesakes('{"family_name": "Смирнова", "given_name": "Анна"}')$$, '42501', NULL,
          'a marketer cannot count namesakes');
SELECT throws_ok($$SELECT * FROM cdp.find_patient('{"family_name": "Смирнова", "given_name": "Анна"}')$$, '42501', NULL,
          'nor find a patient');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
