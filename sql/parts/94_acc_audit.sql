/*
 * sql/parts/94_acc_audit.sql: the audit log, legal holds and erasure (issue 15, items 5 and 6), and
 * the grant matrix of the clinic roles.
 *
 * cdp.audit_log is append-only: no role has a privilege to write it, and a trigger that fires
 * always refuses UPDATE, DELETE and TRUNCATE even for its owner.  Rows are written by
 * cdp_internal.acc_audit() inside the function whose act they record, so the row commits or rolls
 * back with the read, export, send-list build, role change, consent change or erasure itself.
 */

/* ------------------------------------------------------------------ audit log */

CREATE TABLE @extschema@.audit_log (
	audit_id	bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at			timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	actor		text NOT NULL DEFAULT SESSION_USER,
	role		text NOT NULL,
	action		text NOT NULL
		CONSTRAINT audit_log_action_format CHECK (action OPERATOR(pg_catalog.~) '^[a-z_]+\.[a-z_]+$'),
	golden_ids	bigint[],
	purpose		text,
	detail		jsonb NOT NULL DEFAULT '{}'::jsonb,
	client_addr	inet DEFAULT pg_catalog.inet_client_addr(),
	txid		bigint NOT NULL DEFAULT pg_catalog.txid_current()
);
CREATE INDEX audit_log_at_idx ON @extschema@.audit_log (at);
COMMENT ON TABLE @extschema@.audit_log IS
	'append-only audit of full-profile reads, contact reads, exports, send-list builds, role changes, consent changes and erasures';

CREATE FUNCTION cdp_internal.acc_refuse_change() RETURNS trigger
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RAISE EXCEPTION 'cdp.audit_log is append-only'
		USING ERRCODE = 'insufficient_privilege',
			  DETAIL = pg_catalog.format('%s on cdp.audit_log was refused.', TG_OP);
END
$$;
COMMENT ON FUNCTION cdp_internal.acc_refuse_change() IS
	'trigger: refuses UPDATE, DELETE and TRUNCATE on cdp.audit_log for every role';
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON @extschema@.audit_log
	FOR EACH ROW EXECUTE FUNCTION cdp_internal.acc_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON @extschema@.audit_log
	FOR EACH STATEMENT EXECUTE FUNCTION cdp_internal.acc_refuse_change();
ALTER TABLE @extschema@.audit_log ENABLE ALWAYS TRIGGER audit_log_append_only;
ALTER TABLE @extschema@.audit_log ENABLE ALWAYS TRIGGER audit_log_no_truncate;

/*
 * Writes one audit row (for cdp's own functions: the access family's, and the campaign family's
 * send-list builds and exports, which call it with action 'send_list.built' or 'export.made').
 * detail must not hold personal values: ids, counts, channels, flags.
 */
CREATE FUNCTION cdp_internal.acc_audit(action text, golden_ids bigint[], purpose text, detail jsonb)
	RETURNS bigint
	LANGUAGE sql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	INSERT INTO @extschema@.audit_log (role, action, golden_ids, purpose, detail)
	VALUES (cdp_internal.acc_caller(), $1, $2, $3, COALESCE($4, '{}'::jsonb))
	RETURNING audit_id
$$;
COMMENT ON FUNCTION cdp_internal.acc_audit(text, bigint[], text, jsonb) IS
	'appends one row to cdp.audit_log in the caller''s transaction (for cdp families: reads, exports, send lists, consent)';

CREATE FUNCTION @extschema@.audit_report("from" timestamptz, "to" timestamptz)
	RETURNS TABLE (at timestamptz, actor text, role text, action text, golden_ids bigint[], purpose text,
				   detail jsonb, client_addr inet)
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	PERFORM cdp_internal.acc_require(ARRAY['cdp_admin', 'cdp_dpo'], 'cdp.audit_report');
	IF "from" IS NULL OR "to" IS NULL THEN
		RAISE EXCEPTION 'from and to must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM cdp_internal.acc_audit('audit.reported', NULL, NULL,
		pg_catalog.jsonb_build_object('from', "from", 'to', "to"));
	RETURN QUERY
	SELECT a.at, a.actor, a.role, a.action, a.golden_ids, a.purpose, a.detail, a.client_addr
	  FROM @extschema@.audit_log a
	 WHERE a.at OPERATOR(pg_catalog.>=) "from" AND a.at OPERATOR(pg_catalog.<) "to"
	 ORDER BY a.audit_id;
END
$$;
COMMENT ON FUNCTION @extschema@.audit_report(timestamptz, timestamptz) IS
	'the audit log between two moments (from inclusive, to exclusive), for the DPO; the report itself is audited';

/* ------------------------------------------------------------------ legal holds */

CREATE TABLE cdp_internal.acc_legal_hold (
	golden_id	bigint PRIMARY KEY,
	reason		text NOT NULL,
	set_at		timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	set_by		text NOT NULL
);
COMMENT ON TABLE cdp_internal.acc_legal_hold IS
	'patients whose data must not be erased (a court case, an investigation): cdp.erase_patient refuses them';

CREATE FUNCTION @extschema@.set_legal_hold(golden_id bigint, reason text, hold boolean DEFAULT true) RETURNS boolean
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v_g		bigint;
BEGIN
	PERFORM cdp_internal.acc_require(ARRAY['cdp_admin', 'cdp_dpo'], 'cdp.set_legal_hold');
	IF golden_id IS NULL OR hold IS NULL OR reason IS NULL OR pg_catalog.btrim(reason) OPERATOR(pg_catalog.=) '' THEN
		RAISE EXCEPTION 'golden_id, reason and hold must be given' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	v_g := COALESCE(@extschema@.resolve_patient(golden_id), golden_id);
	IF hold THEN
		INSERT INTO cdp_internal.acc_legal_hold AS h (golden_id, reason, set_by)
		VALUES (v_g, reason, cdp_internal.acc_caller())
		ON CONFLICT ON CONSTRAINT acc_legal_hold_pkey DO UPDATE SET reason = EXCLUDED.reason;
	ELSE
		DELETE FROM cdp_internal.acc_legal_hold h WHERE h.golden_id OPERATOR(pg_catalog.=) v_g;
	END IF;
	PERFORM cdp_internal.acc_audit(CASE WHEN hold THEN 'legal_hold.set' ELSE 'legal_hold.released' END,
								   ARRAY[v_g], reason, '{}'::jsonb);
	RETURN hold;
END
$$;
COMMENT ON FUNCTION @extschema@.set_legal_hold(bigint, text, boolean) IS
	'puts a patient under a legal hold (hold = false releases it); erasure is refused while it holds; audited';

/* ------------------------------------------------------------------ erasure */

/*
 * A JSON document with every string that is one of the erased contacts replaced by "[erased]":
 * a string whose last 10 digits are those of an erased phone (whatever its format), or that
 * contains an erased e-mail address or equals an erased handle (case-insensitively); and without
 * the keys named in drop (at any depth).
 */
CREATE FUNCTION cdp_internal.acc_scrub(doc jsonb, drop text[], phones text[], texts text[]) RETURNS jsonb
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT CASE pg_catalog.jsonb_typeof(doc)
		WHEN 'object' THEN (SELECT COALESCE(pg_catalog.jsonb_object_agg(e.k, cdp_internal.acc_scrub(e.v, drop, phones, texts)), '{}'::jsonb)
							  FROM pg_catalog.jsonb_each(doc) e(k, v)
							 WHERE e.k OPERATOR(pg_catalog.<>) ALL (COALESCE(drop, '{}')))
		WHEN 'array' THEN (SELECT COALESCE(pg_catalog.jsonb_agg(cdp_internal.acc_scrub(e.v, drop, phones, texts) ORDER BY e.o), '[]'::jsonb)
							 FROM pg_catalog.jsonb_array_elements(doc) WITH ORDINALITY e(v, o))
		WHEN 'string' THEN CASE
			WHEN pg_catalog.right(pg_catalog.regexp_replace(doc OPERATOR(pg_catalog.#>>) '{}', '[^0-9]', '', 'g'), 10)
				 OPERATOR(pg_catalog.=) ANY (phones)
			  OR EXISTS (SELECT 1 FROM pg_catalog.unnest(texts) t
						  WHERE pg_catalog.strpos(pg_catalog.lower(doc OPERATOR(pg_catalog.#>>) '{}'), t) OPERATOR(pg_catalog.>) 0)
			THEN '"[erased]"'::jsonb ELSE doc END
		ELSE doc END
$$;
COMMENT ON FUNCTION cdp_internal.acc_scrub(jsonb, text[], text[], text[]) IS
	'a JSON document with the erased contacts replaced by "[erased]" and the named keys removed (erasure)';

/*
 * erase_patient: the right to be forgotten (152-FZ art. 21) for the data used to contact and market
 * to a patient.  Erased: every phone, e-mail address and messenger handle, and every free-text field
 * (the keys a source sent that cdp does not know, kept in extra), from the source records, their raw
 * documents, the golden profile, the payloads of the patient's events, the clinical events' raw
 * documents, reviewers' notes, the matching keys, and every row of the marketing tables (segments,
 * send lists, delivery details).  Kept, because medical record-keeping law requires them for the
 * retention period of the medical record (name, sex, birth date, address, SNILS, OMS policy; the
 * clinical events): see doc/security.md.  The event log is append-only; erasure rewrites the payloads
 * of the patient's events in place (its trigger is set aside for this transaction only, under a lock
 * that holds every other writer of the log until the end) and appends a patient.erased event without
 * personal data, and an audit row with the reason.  Refused for a patient under a legal hold.
 */
CREATE FUNCTION @extschema@.erase_patient(golden_id bigint, reason text) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v_g			bigint;
	v_ids		bigint[];
	v_recs		bigint[];
	v_phones	text[];
	v_texts		text[];
	v_drop		text[];
	v_nev		bigint;
	v_nmk		bigint := 0;
	t			record;
BEGIN
	PERFORM cdp_internal.acc_require(ARRAY['cdp_admin', 'cdp_dpo'], 'cdp.erase_patient');
	IF golden_id IS NULL OR reason IS NULL OR pg_catalog.btrim(reason) OPERATOR(pg_catalog.=) '' THEN
		RAISE EXCEPTION 'golden_id and reason must be given' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	v_g := @extschema@.resolve_patient(golden_id);
	IF v_g IS NULL THEN
		RAISE EXCEPTION 'unknown patient: %', golden_id USING ERRCODE = 'invalid_parameter_value';
	END IF;
	/*
	 * The log first (the lock that setting its trigger aside takes below), then the person: writers
	 * of the log wait for the erasure to commit instead of running beside it.  A writer already
	 * holding one of the patient's rows while it waits for the log can still deadlock with it;
	 * PostgreSQL then cancels one of the two, and erasure can be called again.
	 */
	LOCK TABLE @extschema@.event IN SHARE ROW EXCLUSIVE MODE;
	PERFORM cdp_internal.golden_lock(ARRAY[v_g]);
	v_ids := ARRAY[v_g] OPERATOR(pg_catalog.||) COALESCE(cdp_internal.golden_absorbed(v_g), '{}');
	IF EXISTS (SELECT 1 FROM cdp_internal.acc_legal_hold h WHERE h.golden_id OPERATOR(pg_catalog.=) ANY (v_ids)) THEN
		RAISE EXCEPTION 'patient % is under a legal hold', v_g
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'The hold must be released (cdp.set_legal_hold(golden_id, reason, false)) before erasure.';
	END IF;

	SELECT pg_catalog.array_agg(DISTINCT r.record_id) INTO v_recs
	  FROM @extschema@.record r
	 WHERE r.golden_id OPERATOR(pg_catalog.=) ANY (v_ids)
		OR r.record_id OPERATOR(pg_catalog.=) ANY (SELECT m.record_id FROM @extschema@.patient_member m
													WHERE m.golden_id OPERATOR(pg_catalog.=) ANY (v_ids));
	v_recs := COALESCE(v_recs, '{}');

	/* the values to find anywhere: phones by their last 10 digits, e-mails and handles in lower case */
	SELECT COALESCE(pg_catalog.array_agg(DISTINCT pg_catalog.right(pg_catalog.regexp_replace(
				pg_catalog.split_part(ph::text, ';', 1), '[^0-9]', '', 'g'), 10)), '{}')
	  INTO v_phones
	  FROM @extschema@.record r, pg_catalog.unnest(r.phones) ph
	 WHERE r.record_id OPERATOR(pg_catalog.=) ANY (v_recs);
	SELECT COALESCE(pg_catalog.array_agg(DISTINCT pg_catalog.lower(x.v)) FILTER (WHERE pg_catalog.length(x.v) OPERATOR(pg_catalog.>=) 3), '{}')
	  INTO v_texts
	  FROM (SELECT em::text AS v FROM @extschema@.record r, pg_catalog.unnest(r.emails) em
			 WHERE r.record_id OPERATOR(pg_catalog.=) ANY (v_recs)
			UNION ALL
			SELECT h #>> '{}' FROM @extschema@.record r, pg_catalog.jsonb_path_query(r.handles, 'strict $.**') h
			 WHERE r.record_id OPERATOR(pg_catalog.=) ANY (v_recs) AND pg_catalog.jsonb_typeof(h) OPERATOR(pg_catalog.=) 'string'
			   AND NOT (h #>> '{}') OPERATOR(pg_catalog.=) ANY (ARRAY['telegram', 'whatsapp', 'viber', 'vk', 'max'])) x;
	/* free text: the keys of extra, and the normalised contact keys */
	SELECT ARRAY['phones', 'emails', 'handles', 'extra'] OPERATOR(pg_catalog.||)
		   COALESCE(pg_catalog.array_agg(DISTINCT k), '{}')
	  INTO v_drop
	  FROM @extschema@.record r, pg_catalog.jsonb_object_keys(CASE WHEN pg_catalog.jsonb_typeof(r.extra) OPERATOR(pg_catalog.=) 'object'
																   THEN r.extra ELSE '{}' END) k
	 WHERE r.record_id OPERATOR(pg_catalog.=) ANY (v_recs);

	UPDATE @extschema@.record r
	   SET phones = NULL, emails = NULL, handles = NULL, extra = NULL,
		   raw = cdp_internal.acc_scrub(r.raw, v_drop, v_phones, v_texts)
	 WHERE r.record_id OPERATOR(pg_catalog.=) ANY (v_recs);
	UPDATE @extschema@.clinical_event c
	   SET attrs = cdp_internal.acc_scrub(c.attrs, NULL, v_phones, v_texts)
	 WHERE c.golden_id OPERATOR(pg_catalog.=) ANY (v_ids);
	UPDATE @extschema@.pair_decision d SET note = NULL
	 WHERE d.note IS NOT NULL AND (d.record_a OPERATOR(pg_catalog.=) ANY (v_recs) OR d.record_b OPERATOR(pg_catalog.=) ANY (v_recs));
	/* the consent registry (issue 13) keeps the statements as proof, without their free text */
	IF pg_catalog.to_regclass('@extschema@.consent_statement') IS NOT NULL THEN
		EXECUTE 'UPDATE @extschema@.consent_statement s SET address = NULL, evidence = NULL
				  WHERE s.record_id OPERATOR(pg_catalog.=) ANY ($1) AND (s.address IS NOT NULL OR s.evidence IS NOT NULL)'
		  USING v_recs;
	END IF;
	UPDATE cdp_internal.match_review m SET note = NULL
	 WHERE m.note IS NOT NULL AND (m.record_a OPERATOR(pg_catalog.=) ANY (v_recs) OR m.record_b OPERATOR(pg_catalog.=) ANY (v_recs));

	/* the log: the patient's events rewritten in place, this transaction only */
	ALTER TABLE @extschema@.event DISABLE TRIGGER event_append_only;
	/* the subject of record.*, decision.* and link events is a record id; other subjects are only
	   rewritten when the scrub finds an erased value in them */
	UPDATE @extschema@.event e SET payload = s.doc
	  FROM (SELECT x.event_id, cdp_internal.acc_scrub(x.payload, v_drop, v_phones, v_texts) AS doc
			  FROM @extschema@.event x
			 WHERE x.golden_id OPERATOR(pg_catalog.=) ANY (v_ids) OR x.subject OPERATOR(pg_catalog.=) ANY (v_recs)) s
	 WHERE e.event_id OPERATOR(pg_catalog.=) s.event_id AND e.payload OPERATOR(pg_catalog.<>) s.doc;
	GET DIAGNOSTICS v_nev = ROW_COUNT;
	ALTER TABLE @extschema@.event ENABLE ALWAYS TRIGGER event_append_only;

	/* projections and keys from the erased records */
	PERFORM cdp_internal.refresh_patients(ARRAY[v_g]);
	IF pg_catalog.cardinality(v_recs) OPERATOR(pg_catalog.>) 0 THEN
		v_nmk := cdp_internal._match_refresh_keys(v_recs);
	END IF;
	DELETE FROM cdp_internal.match_tf f
	 WHERE pg_catalog.right(pg_catalog.regexp_replace(f.value, '[^0-9]', '', 'g'), 10) OPERATOR(pg_catalog.=) ANY (v_phones)
		OR pg_catalog.lower(f.value) OPERATOR(pg_catalog.=) ANY (v_texts);
	DELETE FROM cdp_internal.match_suspicious s
	 WHERE pg_catalog.right(pg_catalog.regexp_replace(s.value, '[^0-9]', '', 'g'), 10) OPERATOR(pg_catalog.=) ANY (v_phones)
		OR pg_catalog.lower(s.value) OPERATOR(pg_catalog.=) ANY (v_texts);
	/* marketing tables: the patient's rows go */
	/* marketing tables keyed by patient (campaign and segment definitions have no golden_id) */
	FOR t IN SELECT a.tbl FROM cdp_internal.acc_table a
			  WHERE a.kind OPERATOR(pg_catalog.=) ANY (ARRAY['marketing', 'sending'])
				AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute c
							 WHERE c.attrelid OPERATOR(pg_catalog.=) a.tbl AND c.attname OPERATOR(pg_catalog.=) 'golden_id'
							   AND NOT c.attisdropped)
			  ORDER BY a.tbl::text LOOP
		EXECUTE pg_catalog.format('DELETE FROM %s WHERE golden_id OPERATOR(pg_catalog.=) ANY ($1)', t.tbl) USING v_ids;
	END LOOP;

	PERFORM cdp_internal.append_event('patient.erased', NULL, v_g,
		pg_catalog.jsonb_build_object('records', pg_catalog.cardinality(v_recs), 'events', v_nev));
	PERFORM cdp_internal.acc_audit('patient.erased', v_ids, reason,
		pg_catalog.jsonb_build_object('records', pg_catalog.cardinality(v_recs), 'events', v_nev));
	RETURN pg_catalog.jsonb_build_object('golden_id', v_g, 'records', pg_catalog.cardinality(v_recs),
										 'events', v_nev, 'match_keys', v_nmk);
END
$$;
COMMENT ON FUNCTION @extschema@.erase_patient(bigint, text) IS
	'erases a patient''s contacts and free text everywhere, keeping what medical record-keeping law requires; refused under a legal hold; audited';

/* ------------------------------------------------------------------ registration, privileges */

SELECT cdp_internal.acc_protect(t.tbl, t.kind) FROM (VALUES
	('@extschema@.audit_log'::pg_catalog.regclass, 'audit'),
	('cdp_internal.acc_key', 'internal'),
	('cdp_internal.acc_legal_hold', 'internal')) t(tbl, kind);

/*
 * API functions written before the roles existed that run with their caller's rights but read or
 * write the private schema (the ingest queue, the event log, the matching state), so that no role
 * but the extension's owner could call them.  They now run as the owner; EXECUTE is their role
 * check: it is revoked from PUBLIC (cdp_internal.acc_lock_down below) and granted by the matrix to
 * the roles whose data they touch (cdp_admin for most; cdp_registrar for ingest).  None returns more
 * than that role may see: ids, counts, actions, settings, and to cdp_admin (who reads every profile)
 * profile history without clinical data.
 */
DO $definer$
DECLARE
	f	text;
BEGIN
	FOREACH f IN ARRAY ARRAY[
		'@extschema@.register_source(text,text,integer)',
		'@extschema@.upsert_records(text,text[],jsonb[],boolean)',
		'@extschema@.record_pair_decision(bigint,bigint,text,text)',
		'@extschema@.matching_settings()',
		'@extschema@.link_records(bigint,bigint,jsonb)',
		'@extschema@.link_records_many(bigint[],bigint[],jsonb[])',
		'@extschema@.unmerge(bigint,text)',
		'@extschema@.upsert_clinical_event(text,text,text,jsonb)',
		'@extschema@.configure_survivorship(jsonb)',
		'@extschema@.rebuild_patients()',
		'@extschema@.archive_candidates(interval)',
		'@extschema@.archive_patients(bigint[],text,boolean)',
		'@extschema@.restore_patients(bigint[],text,boolean)',
		'@extschema@.patient_as_of(bigint,timestamp with time zone)',
		'@extschema@.patient_as_of_event(bigint,bigint)',
		'@extschema@.patient_history(bigint)',
		'@extschema@.patient_lineage(bigint)']
	LOOP
		EXECUTE pg_catalog.format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = pg_catalog, pg_temp', f::pg_catalog.regprocedure);
	END LOOP;
END
$definer$;

/* The grant matrix (90_privileges.sql); doc/security.md lists the same rows. */
INSERT INTO cdp_internal.acc_privilege (role, kind, object, privilege)
SELECT m.role, m.kind, m.object, m.privilege FROM (VALUES
	('cdp_registrar', 'function', 'cdp.find_patient(jsonb,integer)', 'EXECUTE'),
	('cdp_registrar', 'function', 'cdp.find_patient_namesakes(jsonb)', 'EXECUTE'),
	('cdp_registrar', 'function', 'cdp.upsert_record(text,text,jsonb,boolean)', 'EXECUTE'),
	('cdp_registrar', 'function', 'cdp.upsert_records(text,text[],jsonb[],boolean)', 'EXECUTE'),
	('cdp_registrar', 'function', 'cdp.patient_profile(bigint,text)', 'EXECUTE'),
	('cdp_registrar', 'table', 'cdp.patient', 'SELECT'),
	('cdp_registrar', 'table', 'cdp.record', 'SELECT'),
	('cdp_registrar', 'table', 'cdp.source', 'SELECT'),
	('cdp_registrar', 'table', 'cdp.patient_redirect', 'SELECT'),
	('cdp_doctor', 'function', 'cdp.patient_profile(bigint,text)', 'EXECUTE'),
	('cdp_doctor', 'function', 'cdp.in_care(bigint)', 'EXECUTE'),
	('cdp_doctor', 'table', 'cdp.patient', 'SELECT'),
	('cdp_doctor', 'table', 'cdp.clinical_event', 'SELECT'),
	('cdp_doctor', 'table', 'cdp.patient_redirect', 'SELECT'),
	('cdp_marketer', 'function', 'cdp.masked_patients()', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.patient_counts()', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.contact_address(bigint,text,text)', 'EXECUTE'),
	('cdp_analyst', 'function', 'cdp.masked_patients()', 'EXECUTE'),
	('cdp_analyst', 'function', 'cdp.patient_counts()', 'EXECUTE'),
	('cdp_dpo', 'function', 'cdp.audit_report(timestamp with time zone,timestamp with time zone)', 'EXECUTE'),
	('cdp_dpo', 'function', 'cdp.erase_patient(bigint,text)', 'EXECUTE'),
	('cdp_dpo', 'function', 'cdp.set_legal_hold(bigint,text,boolean)', 'EXECUTE'),
	('cdp_dpo', 'function', 'cdp.patient_profile(bigint,text)', 'EXECUTE'),
	('cdp_dpo', 'function', 'cdp.masked_patients()', 'EXECUTE'),
	('cdp_dpo', 'function', 'cdp.patient_counts()', 'EXECUTE'),
	('cdp_dpo', 'function', 'cdp.pseudonym(bigint)', 'EXECUTE'),
	('cdp_dpo', 'table', 'cdp.audit_log', 'SELECT'),
	('cdp_dpo', 'table', 'cdp.event', 'SELECT'),
	('cdp_dpo', 'table', 'cdp.patient', 'SELECT'),
	('cdp_scheduler', 'function', 'cdp.run_matching(text)', 'EXECUTE'),
	('cdp_sender', 'function', 'cdp.contact_address(bigint,text,text)', 'EXECUTE')) m(role, kind, object, privilege);

/*
 * Import (88_import*.sql, issue 16): the import functions run as the owner and check the caller's
 * right to write each kind (cdp_internal._import_require): the registrar imports patients,
 * partner contacts and consents, the marketer segment lists, the admin every kind.
 */
INSERT INTO cdp_internal.acc_privilege (role, kind, object, privilege)
SELECT r.role, 'function', f.object, 'EXECUTE'
  FROM (VALUES ('cdp_registrar'), ('cdp_marketer')) r(role)
 CROSS JOIN (VALUES ('cdp.import_template(text)'), ('cdp.import_begin(text,text,jsonb)'), ('cdp.import_commit(bigint,text)'),
					('cdp.import_csv(text,text,text,text,jsonb)'), ('cdp.import_csv(text,text,bytea,text,jsonb)'),
					('cdp.import_errors(bigint)'), ('cdp.import_status(bigint)')) f(object);

SELECT cdp_internal.acc_lock_down();
