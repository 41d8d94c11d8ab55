/*
 * sql/parts/96_campaign_access.sql: campaigns (issue 14) under the clinic roles of the access
 * family (issue 15, doc/security.md).  Applied after 90-94, like any family added later:
 *
 * - the campaign API functions that read or write the private schema run as the owner, with
 *   EXECUTE as their role check (revoked from PUBLIC here, granted by the matrix below);
 * - the tables: send rows are of kind "sending" (the gateway role reads the due ones), delivery
 *   details and campaign documents of kind "marketing", the preference and blocked-address tables
 *   internal; the COPY target cdp.delivery_event_staging holds send ids and gateway statuses, no
 *   personal data, so it has no row-level security: only cdp_sender and cdp_admin may write it;
 * - cdp.build_send_list writes an audit row naming the patients listed (94_acc_audit.sql);
 * - cdp_scheduler runs cdp.run_maintenance (its steps are cdp.maintenance_step, as the owner).
 */
DO $definer$
DECLARE
	f	text;
BEGIN
	FOREACH f IN ARRAY ARRAY[
		'@extschema@.create_campaign(jsonb)',
		'@extschema@.edit_campaign(bigint,jsonb)',
		'@extschema@.copy_campaign(bigint,text)',
		'@extschema@.set_campaign_status(bigint,text)',
		'@extschema@.build_send_list(bigint,timestamp with time zone)',
		'@extschema@.set_contact_preference(bigint,text)',
		'@extschema@.run_campaigns(timestamp with time zone)',
		'@extschema@.mark_sent(bigint)',
		'@extschema@.mark_sent(bigint,timestamp with time zone)',
		'@extschema@.record_delivery_event(bigint,text,timestamp with time zone,jsonb)',
		'@extschema@.ingest_delivery_events()',
		'@extschema@.refresh_campaign_metrics(bigint,integer)',
		'@extschema@.rebuild_campaigns()']
	LOOP
		EXECUTE pg_catalog.format('ALTER FUNCTION %s SECURITY DEFINER', f::pg_catalog.regprocedure);
	END LOOP;
END
$definer$;
SELECT cdp_internal.acc_lock_down();

ALTER TABLE @extschema@.delivery_event_staging NO FORCE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.delivery_event_staging DISABLE ROW LEVEL SECURITY;

SELECT cdp_internal.acc_protect(t.tbl, t.kind) FROM (VALUES
	('@extschema@.campaign_send'::pg_catalog.regclass, 'sending'),
	('@extschema@.campaign_delivery', 'marketing'),
	('@extschema@.campaign_rollup', 'marketing'),
	('@extschema@.campaign', 'marketing'),
	('@extschema@.campaign_version', 'marketing'),
	('cdp_internal.campaign_preference', 'internal'),
	('cdp_internal.campaign_address_block', 'internal')) t(tbl, kind);

INSERT INTO cdp_internal.acc_privilege (role, kind, object, privilege)
SELECT m.role, m.kind, m.object, m.privilege FROM (VALUES
	('cdp_marketer', 'function', 'cdp.create_campaign(jsonb)', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.edit_campaign(bigint,jsonb)', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.copy_campaign(bigint,text)', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.set_campaign_status(bigint,text)', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.build_send_list(bigint,timestamp with time zone)', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.refresh_campaign_metrics(bigint,integer)', 'EXECUTE'),
	('cdp_marketer', 'table', 'cdp.campaign', 'SELECT'),
	('cdp_marketer', 'table', 'cdp.campaign_version', 'SELECT'),
	('cdp_marketer', 'table', 'cdp.campaign_send', 'SELECT'),
	('cdp_marketer', 'table', 'cdp.campaign_delivery', 'SELECT'),
	('cdp_marketer', 'table', 'cdp.campaign_metrics', 'SELECT'),
	('cdp_marketer', 'table', 'cdp.campaign_rollup', 'SELECT'),
	('cdp_marketer', 'table', 'cdp.campaign_funnel', 'SELECT'),
	('cdp_registrar', 'function', 'cdp.set_contact_preference(bigint,text)', 'EXECUTE'),
	('cdp_sender', 'function', 'cdp.mark_sent(bigint)', 'EXECUTE'),
	('cdp_sender', 'function', 'cdp.mark_sent(bigint,timestamp with time zone)', 'EXECUTE'),
	('cdp_sender', 'function', 'cdp.record_delivery_event(bigint,text,timestamp with time zone,jsonb)', 'EXECUTE'),
	('cdp_sender', 'function', 'cdp.ingest_delivery_events()', 'EXECUTE'),
	('cdp_sender', 'table', 'cdp.send_list', 'SELECT'),
	('cdp_sender', 'table', 'cdp.campaign_send', 'SELECT'),
	('cdp_sender', 'table', 'cdp.delivery_event_staging', 'INSERT'),
	('cdp_scheduler', 'function', 'cdp.run_campaigns(timestamp with time zone)', 'EXECUTE'),
	('cdp_scheduler', 'function', 'cdp.run_maintenance(integer)', 'EXECUTE'),
	('cdp_scheduler', 'function', 'cdp.maintenance_step(text,integer)', 'EXECUTE'),
	('cdp_dpo', 'table', 'cdp.campaign', 'SELECT'),
	('cdp_dpo', 'table', 'cdp.campaign_send', 'SELECT'),
	('cdp_dpo', 'table', 'cdp.campaign_delivery', 'SELECT')) m(role, kind, object, privilege);
