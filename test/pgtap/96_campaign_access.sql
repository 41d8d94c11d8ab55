-- test/pgtap/96_campaign_access.sql: campaigns under the clinic roles (sql/parts/96_campaign_access.sql,
-- doc/campaigns.md, doc/security.md).  A marketer builds a campaign's list but cannot send or read
-- the gateway's staging; the gateway (cdp_sender) reads only the due rows, marks them and reports
-- deliveries, and cannot create campaigns or read segments; an analyst reads no send row; the
-- build is audited with the patients listed.  Every refusal has its positive control.
BEGIN;
SELECT plan(26);

SELECT count(*) > 0 AS roles FROM cdp.setup_roles() \gset
CREATE ROLE camp_mkt LOGIN; CREATE ROLE camp_snd LOGIN; CREATE ROLE camp_ana LOGIN; CREATE ROLE camp_reg LOGIN; CREATE ROLE camp_sch LOGIN;
SELECT cdp.grant_role('camp_mkt', 'cdp_marketer') IS NOT NULL AS g1 \gset
SELECT cdp.grant_role('camp_snd', 'cdp_sender') IS NOT NULL AS g2 \gset
SELECT cdp.grant_role('camp_ana', 'cdp_analyst') IS NOT NULL AS g3 \gset
SELECT cdp.grant_role('camp_reg', 'cdp_registrar') IS NOT NULL AS g4 \gset
SELECT cdp.grant_role('camp_sch', 'cdp_scheduler') IS NOT NULL AS g5 \gset

SELECT cdp.register_source('his', 'internal', 80) IS NOT NULL AS src \gset
SELECT count(cdp.upsert_record('his', 'p' || i, jsonb_build_object('family_name', 'Доступ' || i, 'given_name', 'Анна', 'sex', 'F',
	'birth_date', '1980-01-0' || i, 'phones', jsonb_build_array('+7916444000' || i)))) FROM generate_series(1, 3) i;
SELECT count(cdp.set_consent(cdp.golden_id('his', 'p' || i), 'marketing', 'sms', true, '2026-01-01')) FROM generate_series(1, 3) i;
SELECT cdp.create_segment('женщины', '{"attr": "sex", "op": "=", "value": "F"}') AS seg \gset
SELECT cdp.refresh_segment(:seg, 'full') IS NOT NULL AS r \gset
CREATE TEMP TABLE doc AS SELECT jsonb_build_object('name', 'промо', 'segment', :seg, 'channels', '["sms"]'::jsonb,
	'templates', '{"sms": "{given_name}, промо"}'::jsonb, 'window', '{"hours": [0, 24]}'::jsonb) AS d;
GRANT SELECT ON doc TO PUBLIC;

-- ---------------------------------------------------------------- the marketer
SET ROLE camp_mkt;
SELECT lives_ok($$SELECT cdp.create_campaign((SELECT d FROM doc))$$, 'a marketer creates a campaign');
SELECT is((cdp.build_send_list((SELECT max(campaign_id) FROM cdp.campaign), '2026-03-02 12:00+03') ->> 'due')::int, 3,
          'a marketer builds its send list');
SELECT is((SELECT count(*) FROM cdp.campaign_send), 3::bigint, 'a marketer reads the send rows');
SELECT throws_ok($$SELECT cdp.mark_sent(1)$$, '42501', NULL, 'a marketer cannot mark a message sent (only the gateway)');
SELECT throws_ok($$SELECT cdp.mark_sent(1, now() - interval '1 hour')$$, '42501', NULL, 'nor at a past moment');
SELECT throws_ok($$INSERT INTO cdp.delivery_event_staging (send_id, kind, at) VALUES (1, 'delivered', now())$$, '42501', NULL,
                 'a marketer cannot write delivery reports');
RESET ROLE;
SELECT ok(EXISTS (SELECT 1 FROM cdp.audit_log WHERE action = 'campaign.send_list_built' AND role = 'camp_mkt' AND cardinality(golden_ids) = 3),
          'the build is audited with the three patients listed, under the marketer''s name');

-- ---------------------------------------------------------------- the gateway
SELECT min(send_id) AS s1, max(send_id) AS s3 FROM cdp.campaign_send \gset
SET ROLE camp_snd;
SELECT is((SELECT count(*) FROM cdp.send_list WHERE address LIKE '+7916444000%'), 3::bigint, 'the gateway reads the due rows with their addresses');
SELECT is(cdp.mark_sent(:s1), 'sent', 'the gateway marks a row sent');
SELECT is(cdp.mark_sent(:s3, '2026-03-02 12:30+03'), 'sent', 'the gateway marks a row sent at the past moment it sent it');
SELECT throws_ok(format($$SELECT cdp.mark_sent(%s, now() + interval '1 hour')$$, :s1 + 1), '22023', NULL,
                 'a future moment is refused');
SELECT throws_ok(format($$SELECT cdp.mark_sent(%s, '2020-01-01 12:00+03')$$, :s1 + 1), '22023', NULL,
                 'a moment before the row was listed is refused');
SELECT is((SELECT count(*) FROM cdp.campaign_send), 1::bigint, 'the gateway sees only the rows still due (the sent ones are gone from its view)');
SELECT is(cdp.record_delivery_event(:s1, 'delivered', now()), 'recorded', 'the gateway reports a delivery');
SELECT lives_ok(format($$INSERT INTO cdp.delivery_event_staging (send_id, kind, at) VALUES (%s, 'opened', now())$$, :s1), 'the gateway stages reports');
SELECT is(cdp.ingest_delivery_events() ->> 'recorded', '1', 'and ingests them');
SELECT throws_ok($$SELECT cdp.create_campaign((SELECT d FROM doc))$$, '42501', NULL, 'the gateway cannot create campaigns');
SELECT throws_ok($$SELECT count(*) FROM cdp.segment_member$$, '42501', NULL, 'the gateway cannot read segment members');
RESET ROLE;

SELECT is((SELECT sent_at FROM cdp.campaign_send WHERE send_id = :s3), '2026-03-02 12:30+03'::timestamptz,
          'the row keeps the moment the gateway gave');

-- ---------------------------------------------------------------- the analyst and the registrar
SET ROLE camp_ana;
SELECT throws_ok($$SELECT count(*) FROM cdp.send_list$$, '42501', NULL, 'an analyst reads no send list');
RESET ROLE;
SET ROLE camp_reg;
SELECT lives_ok(format($$SELECT cdp.set_contact_preference(%s, 'sms')$$, cdp.golden_id('his', 'p1')), 'a registrar records a channel preference');
RESET ROLE;

-- ---------------------------------------------------------------- the scheduler
SET ROLE camp_sch;
SELECT lives_ok($$SELECT cdp.maintenance_step('golden', 1000)$$, 'the scheduler runs the golden catch-up step of run_maintenance');
SELECT lives_ok($$SELECT cdp.maintenance_step('campaigns')$$, 'and the campaigns step');
SELECT throws_ok($$SELECT count(*) FROM cdp.campaign_send$$, '42501', NULL, 'the scheduler reads no send row');
RESET ROLE;
SET ROLE camp_mkt;
SELECT throws_ok($$SELECT cdp.maintenance_step('golden', 1000)$$, '42501', NULL, 'a marketer cannot run maintenance steps');
RESET ROLE;

-- ---------------------------------------------------------------- erasure reaches the send rows
SELECT cdp.erase_patient(cdp.golden_id('his', 'p2'), 'the patient asked') IS NOT NULL AS erased \gset
SELECT is((SELECT count(*) FROM cdp.campaign_send s JOIN cdp.campaign_delivery d USING (send_id) WHERE s.golden_id = cdp.golden_id('his', 'p2'))
          + (SELECT count(*) FROM cdp.campaign_send WHERE golden_id = cdp.golden_id('his', 'p2')), 0::bigint,
          'erasure deletes the patient''s send rows and delivery details');

SELECT * FROM finish();
ROLLBACK;
