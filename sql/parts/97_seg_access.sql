/*
 * sql/parts/97_seg_access.sql: the consent, offer and segment family (issue 13) under the access
 * control of issue 15.  See doc/security.md ("Consent, offers and segments") for what each role gets.
 *
 * The family's API reads and writes the private schema (the event log, the id-set functions, the
 * compiler) and tables that the clinic roles cannot read (patient, clinical_event, record), so,
 * like the functions listed in 94_acc_audit.sql, it runs as the extension's owner: each function
 * below becomes SECURITY DEFINER (search_path stays pg_catalog, pg_temp), EXECUTE is revoked from
 * PUBLIC and granted by the matrix to the roles that need it (cdp.set_consents and
 * cdp.segment_preview are wrappers, below).  None returns more than its role may
 * see: ids, counts, settings, a role's own consent reads; a marketer never gets a diagnosis code
 * (cdp.segment_preview folds the clinical guards, below) nor a contact (cdp.contact_address stays
 * the only way, for consented patients).  cdp.offer_block_reason names a diagnosis code, so it is
 * not made a definer function and no clinic role gets it.
 *
 * Runs after the access parts (90-94) and the dump part (95), so acc_lock_down and the grant
 * matrix exist; the same statements are the last section of sql/cdp--0.2.0--0.3.0.sql.
 */

/* ------------------------------------------------------------------ definer functions */

DO $definer$
DECLARE
	f	text;
BEGIN
	FOREACH f IN ARRAY ARRAY[
		'@extschema@.set_consent(bigint,text,text,boolean,timestamp with time zone,text,text)',
		'@extschema@.consent_now(bigint)',
		'@extschema@.may_contact(bigint,text,text)',
		'@extschema@.rebuild_consent()',
		'@extschema@.create_offer(jsonb)',
		'@extschema@.edit_offer(bigint,jsonb)',
		'@extschema@.archive_offer(bigint,boolean)',
		'@extschema@.rebuild_offers()',
		'@extschema@.configure_sensitive_categories(jsonb)',
		'@extschema@.create_segment(text,jsonb,text,bigint,text)',
		'@extschema@.edit_segment(bigint,jsonb,text,text,bigint,text)',
		'@extschema@.copy_segment(bigint,text)',
		'@extschema@.archive_segment(bigint,boolean)',
		'@extschema@.segment_list_set(bigint,text,bigint[],boolean)',
		'@extschema@.refresh_segment(bigint,text)',
		'@extschema@.set_segment_refresh(bigint,interval)',
		'@extschema@.refresh_due_segments()',
		'@extschema@.segment_compare(bigint,bigint)',
		'@extschema@.segment_split(bigint,jsonb)']
	LOOP
		EXECUTE pg_catalog.format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = pg_catalog, pg_temp', f::pg_catalog.regprocedure);
		EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f::pg_catalog.regprocedure);
	END LOOP;
END
$definer$;

/*
 * Who may target a sensitive category in a treatment segment: the caller (SET ROLE, else the
 * login), not CURRENT_USER, which inside the definer functions above is the owner (a superuser,
 * member of every role).  A member of cdp_doctor, or a superuser; before cdp.setup_roles() also
 * the owner of schema cdp, as 82_segment_rules.sql had it.
 */
CREATE OR REPLACE FUNCTION cdp_internal.seg_may_use_sensitive() RETURNS boolean
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT cdp_internal.acc_is(ARRAY['cdp_doctor'])
	    OR (NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) 'cdp_doctor')
	        AND pg_catalog.pg_has_role(cdp_internal.acc_caller(),
	                (SELECT n.nspowner FROM pg_catalog.pg_namespace n WHERE n.nspname OPERATOR(pg_catalog.=) '@extschema@'), 'MEMBER'))
$$;
COMMENT ON FUNCTION cdp_internal.seg_may_use_sensitive() IS
	'true when the calling role may target sensitive diagnoses in a treatment segment: member of cdp_doctor or superuser (before setup_roles: the owner) (internal)';

/*
 * saved_by of a segment and its versions: the calling role, not the owner the definer functions
 * run as (seg_save writes CURRENT_USER).  Only a value equal to CURRENT_USER is replaced, so rows
 * a restore copies in keep who saved them.  BEFORE INSERT is enough: seg_save's ON CONFLICT DO
 * UPDATE takes saved_by from the proposed row, which the trigger has set.
 */
CREATE FUNCTION cdp_internal.seg_saved_by() RETURNS trigger
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	NEW.saved_by := cdp_internal.acc_caller();
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_saved_by() IS
	'trigger: saved_by of cdp.segment and cdp.segment_version is the calling role, not the definer function''s owner';
CREATE TRIGGER segment_saved_by BEFORE INSERT ON @extschema@.segment
	FOR EACH ROW WHEN (NEW.saved_by OPERATOR(pg_catalog.=) CURRENT_USER) EXECUTE FUNCTION cdp_internal.seg_saved_by();
CREATE TRIGGER segment_version_saved_by BEFORE INSERT ON @extschema@.segment_version
	FOR EACH ROW WHEN (NEW.saved_by OPERATOR(pg_catalog.=) CURRENT_USER) EXECUTE FUNCTION cdp_internal.seg_saved_by();
/* always, like every trigger of cdp (doc/security.md): it only ever puts the caller for CURRENT_USER */
ALTER TABLE @extschema@.segment ENABLE ALWAYS TRIGGER segment_saved_by;
ALTER TABLE @extschema@.segment_version ENABLE ALWAYS TRIGGER segment_version_saved_by;

/*
 * Consent changes are audited (issue 15, item 5): the family's cdp.set_consents moves to
 * cdp_internal (same name, same body) and cdp.set_consents, which cdp.set_consent calls, records
 * the statement through it and writes the audit row in the same transaction: the person, the
 * purposes, the channels, granted or withdrawn, the event; not the evidence or the address, which
 * are personal.  A wrapper rather than a trigger: a trigger on the log or the projections would
 * fire again for the rows a restore copies in (every trigger of cdp fires always), while the
 * audit rows come back with the dump; rebuild_consent appends nothing and is not a change.
 */
ALTER FUNCTION @extschema@.set_consents(bigint, text[], text[], boolean, timestamptz, text, text) SET SCHEMA cdp_internal;
COMMENT ON FUNCTION cdp_internal.set_consents(bigint, text[], text[], boolean, timestamptz, text, text) IS
	'records one consent statement (the consent family''s set_consents; internal to cdp.set_consents, which audits it)';

CREATE FUNCTION @extschema@.set_consents(golden_id bigint, purposes text[], channels text[], granted boolean,
	at timestamptz DEFAULT now(), evidence text DEFAULT NULL, address text DEFAULT NULL) RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	ev	bigint;
	e	record;
BEGIN
	ev := cdp_internal.set_consents(golden_id, purposes, channels, granted, at, evidence, address);
	SELECT x.golden_id, x.kind, x.payload INTO e FROM @extschema@.event x WHERE x.event_id OPERATOR(pg_catalog.=) ev;
	PERFORM cdp_internal.acc_audit('consent.changed', ARRAY[e.golden_id],
		pg_catalog.array_to_string(ARRAY(SELECT pg_catalog.jsonb_array_elements_text(e.payload OPERATOR(pg_catalog.->) 'purposes')), ','),
		pg_catalog.jsonb_build_object('event_id', ev, 'granted', e.kind OPERATOR(pg_catalog.=) 'consent.granted',
			'channels', e.payload OPERATOR(pg_catalog.->) 'channels', 'address_given', address IS NOT NULL));
	RETURN ev;
END
$$;
COMMENT ON FUNCTION @extschema@.set_consents(bigint, text[], text[], boolean, timestamptz, text, text) IS
	'records one consent statement covering several purposes x channels (* = all channels), e.g. a framework consent document; audited (consent.changed); returns the event id';

/* ------------------------------------------------------------------ preview without diagnoses */

/*
 * segment_preview's "dropped" names the offer guard that removed people: contraindication:C61 or
 * pregnancy, which for a narrow rule says what diagnosis a patient has.  The family's function
 * becomes cdp_internal.seg_preview_detail, and cdp.segment_preview gives a caller who is not a
 * doctor (nor a superuser) those guards folded into one count, "clinical" (contraindication:*,
 * pregnancy, requires:*).  The sample is golden ids only, as before.
 */
ALTER FUNCTION @extschema@.segment_preview(jsonb, bigint, text, text) SET SCHEMA cdp_internal;
ALTER FUNCTION cdp_internal.segment_preview(jsonb, bigint, text, text) RENAME TO seg_preview_detail;
COMMENT ON FUNCTION cdp_internal.seg_preview_detail(jsonb, bigint, text, text) IS
	'segment_preview with every guard by name, contraindication codes included (internal to cdp.segment_preview)';

CREATE FUNCTION @extschema@.segment_preview(rules jsonb, offer bigint DEFAULT NULL, purpose text DEFAULT 'marketing',
	channel text DEFAULT NULL) RETURNS jsonb
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	r	jsonb;
BEGIN
	PERFORM cdp_internal.acc_require(ARRAY['cdp_admin', 'cdp_marketer'], 'cdp.segment_preview');
	r := cdp_internal.seg_preview_detail(rules, offer, purpose, channel);
	IF cdp_internal.acc_is(ARRAY['cdp_doctor']) THEN
		RETURN r;
	END IF;
	RETURN pg_catalog.jsonb_set(r, '{dropped}', coalesce((
		SELECT pg_catalog.jsonb_object_agg(x.k, x.n)
		  FROM (SELECT CASE WHEN d.key OPERATOR(pg_catalog.~~) 'contraindication:%' OR d.key OPERATOR(pg_catalog.~~) 'requires:%'
		                         OR d.key OPERATOR(pg_catalog.=) 'pregnancy' THEN 'clinical' ELSE d.key END AS k,
		               pg_catalog.sum((d.value #>> '{}')::bigint) AS n
		          FROM pg_catalog.jsonb_each(r OPERATOR(pg_catalog.->) 'dropped') d GROUP BY 1) x), '{}'::jsonb));
END
$$;
COMMENT ON FUNCTION @extschema@.segment_preview(jsonb, bigint, text, text) IS
	'who a rule would reach today, without saving: {"count", "dropped": {guard: n}, "sample": [golden ids]}; clinical guards folded into "clinical" unless the caller is a doctor; e.g. segment_preview(''{"attr": "sex", "op": "=", "value": "F"}'')';

/* ------------------------------------------------------------------ BI reads for the roles */

/*
 * The BI views stay security_invoker (every view of cdp is): they read segment_member and patient,
 * which marketers and analysts cannot.  These two functions read them as the owner for the roles
 * allowed: sizes and reach per segment (marketer, analyst, dpo), and members as pseudonym, age band, sex and city with
 * groups under 5 left out.
 */
CREATE FUNCTION @extschema@.segment_summary_report()
	RETURNS SETOF @extschema@.segment_summary
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	PERFORM cdp_internal.acc_require(ARRAY['cdp_admin', 'cdp_marketer', 'cdp_analyst', 'cdp_dpo'], 'cdp.segment_summary_report');
	RETURN QUERY SELECT * FROM @extschema@.segment_summary s ORDER BY s.segment_id;
END
$$;
COMMENT ON FUNCTION @extschema@.segment_summary_report() IS
	'the rows of cdp.segment_summary (size and reach per channel of every segment) for marketers, analysts and the dpo';

CREATE FUNCTION @extschema@.segment_member_pseudonyms(segment_id bigint DEFAULT NULL)
	RETURNS SETOF @extschema@.segment_member_pseudonymous
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	PERFORM cdp_internal.acc_require(ARRAY['cdp_admin', 'cdp_marketer', 'cdp_analyst'], 'cdp.segment_member_pseudonyms');
	RETURN QUERY SELECT * FROM @extschema@.segment_member_pseudonymous m
	  WHERE segment_member_pseudonyms.segment_id IS NULL OR m.segment_id OPERATOR(pg_catalog.=) segment_member_pseudonyms.segment_id
	  ORDER BY m.segment_id, m.pseudonym;
END
$$;
COMMENT ON FUNCTION @extschema@.segment_member_pseudonyms(bigint) IS
	'the rows of cdp.segment_member_pseudonymous (pseudonym, age band, sex, city; groups under 5 left out) of one segment or all, for marketers, analysts and the dpo';

/* ------------------------------------------------------------------ tables */

/* membership and lists name patients: marketing kind (admin, marketer, dpo read; erasure deletes) */
SELECT cdp_internal.acc_protect(t.tbl, 'marketing') FROM (VALUES
	('@extschema@.segment_member'::pg_catalog.regclass),
	('@extschema@.segment_member_history'),
	('@extschema@.segment_list')) t(tbl);

/*
 * Definitions hold no personal data (rules, offer documents, the sensitive ranges): one policy
 * shows every row, and the table privilege of the matrix decides who reads them.
 */
CREATE POLICY seg_definitions ON @extschema@.segment FOR SELECT USING (true);
CREATE POLICY seg_definitions ON @extschema@.segment_version FOR SELECT USING (true);
CREATE POLICY seg_definitions ON @extschema@.offer FOR SELECT USING (true);
CREATE POLICY seg_definitions ON @extschema@.offer_version FOR SELECT USING (true);
CREATE POLICY seg_definitions ON @extschema@.sensitive_category FOR SELECT USING (true);

/* ------------------------------------------------------------------ campaign history */

/*
 * A segment rule may ask about campaign history ({"campaign": ...}, 82_segment_rules.sql), which
 * lives in cdp.campaign_send (86_campaign_send.sql: listed, sent, refused; delivery outcomes
 * folded in by 87_campaign_delivery.sql).  The campaign family appends no log event for a send or
 * a delivery report, so these triggers name the persons whose send rows changed in
 * cdp_internal.seg_touch for the incremental refresh (84_segment.sql).  Statement triggers with
 * transition tables: a send list of thousands of rows is one position.  Always, like every
 * trigger of cdp.
 */
CREATE TRIGGER seg_campaign_insert AFTER INSERT ON @extschema@.campaign_send
	REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cdp_internal.seg_campaign_touched();
CREATE TRIGGER seg_campaign_update AFTER UPDATE ON @extschema@.campaign_send
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cdp_internal.seg_campaign_touched();
CREATE TRIGGER seg_campaign_delete AFTER DELETE ON @extschema@.campaign_send
	REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION cdp_internal.seg_campaign_touched();
ALTER TABLE @extschema@.campaign_send ENABLE ALWAYS TRIGGER seg_campaign_insert;
ALTER TABLE @extschema@.campaign_send ENABLE ALWAYS TRIGGER seg_campaign_update;
ALTER TABLE @extschema@.campaign_send ENABLE ALWAYS TRIGGER seg_campaign_delete;
SELECT cdp_internal.acc_protect('cdp_internal.seg_touch', 'internal');
/* the per-person consent summary (80_consent.sql) is internal, like seg_touch */
SELECT cdp_internal.acc_protect('cdp_internal.consent_summary', 'internal');

/* ------------------------------------------------------------------ the grant matrix */

INSERT INTO cdp_internal.acc_privilege (role, kind, object, privilege)
SELECT m.role, m.kind, m.object, m.privilege FROM (VALUES
	('cdp_registrar', 'function', 'cdp.set_consent(bigint,text,text,boolean,timestamp with time zone,text,text)', 'EXECUTE'),
	('cdp_registrar', 'function', 'cdp.set_consents(bigint,text[],text[],boolean,timestamp with time zone,text,text)', 'EXECUTE'),
	('cdp_registrar', 'function', 'cdp.consent_now(bigint)', 'EXECUTE'),
	('cdp_registrar', 'function', 'cdp.may_contact(bigint,text,text)', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.may_contact(bigint,text,text)', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.create_offer(jsonb)', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.edit_offer(bigint,jsonb)', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.archive_offer(bigint,boolean)', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.segment_preview(jsonb,bigint,text,text)', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.create_segment(text,jsonb,text,bigint,text)', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.edit_segment(bigint,jsonb,text,text,bigint,text)', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.copy_segment(bigint,text)', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.archive_segment(bigint,boolean)', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.segment_list_set(bigint,text,bigint[],boolean)', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.refresh_segment(bigint,text)', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.set_segment_refresh(bigint,interval)', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.segment_compare(bigint,bigint)', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.segment_split(bigint,jsonb)', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.segment_summary_report()', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.segment_member_pseudonyms(bigint)', 'EXECUTE'),
	('cdp_marketer', 'table', 'cdp.segment', 'SELECT'),
	('cdp_marketer', 'table', 'cdp.segment_version', 'SELECT'),
	('cdp_marketer', 'table', 'cdp.offer', 'SELECT'),
	('cdp_marketer', 'table', 'cdp.offer_version', 'SELECT'),
	('cdp_marketer', 'table', 'cdp.sensitive_category', 'SELECT'),
	('cdp_analyst', 'function', 'cdp.segment_summary_report()', 'EXECUTE'),
	('cdp_analyst', 'function', 'cdp.segment_member_pseudonyms(bigint)', 'EXECUTE'),
	('cdp_dpo', 'function', 'cdp.consent_now(bigint)', 'EXECUTE'),
	('cdp_dpo', 'function', 'cdp.segment_summary_report()', 'EXECUTE'),
	('cdp_dpo', 'table', 'cdp.consent_statement', 'SELECT'),
	('cdp_dpo', 'table', 'cdp.consent_suppression', 'SELECT'),
	('cdp_scheduler', 'function', 'cdp.refresh_due_segments()', 'EXECUTE')) m(role, kind, object, privilege);

/*
 * the new functions of this part (definer and internal) are revoked from PUBLIC too, and so is
 * cdp_internal._restore_replace_installed of 95_dump.sql (the update's last section does the same)
 */
SELECT cdp_internal.acc_lock_down();
