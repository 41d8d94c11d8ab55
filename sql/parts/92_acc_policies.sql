/*
 * sql/parts/92_acc_policies.sql: row-level security on every table holding personal data (issue
 * 15, item 3).
 *
 * Every such table is registered once with its kind, by one line:
 *     SELECT cdp_internal.acc_protect('cdp.some_table', 'patient');
 * which enables and forces row-level security on it at once and gives it the policy set of its kind
 * as soon as the roles exist (cdp.setup_roles() applies every registered table's set again).  FORCE
 * makes the policies hold for the table's owner too when it is not a superuser.  The kinds:
 *
 *   patient    profiles, source records, memberships: admin, registrar and dpo see every row, a
 *              doctor the patients in its care (cdp.in_care); marketers and analysts no row
 *   clinical   visits, labs, diagnoses, recommendations: a doctor, for the patients in its care; no
 *              other role (the admin included)
 *   log        the event log: admin and dpo read every event but the clinical ones (kinds clinical.*,
 *              told apart by byte order, whose operators are LEAKPROOF, where LIKE's are not)
 *   audit      the audit log: admin and dpo read it; nobody writes it but cdp
 *   marketing  segment members, send lists, delivery details (families to come): admin, marketer and
 *              dpo read them; erasure deletes a patient's rows (94_acc_audit.sql)
 *   sending    send lists (issue 14): as marketing, and the gateway's role cdp_sender reads the rows
 *              due to be sent (status due; it marks them through cdp.mark_sent); erasure deletes them
 *   registry   the consent registry and suppression list (issue 13): admin, registrar and dpo
 *   review     a reviewer's notes about record pairs: admin only
 *   internal   tables of cdp_internal: no policy, so only the extension's owner reads them
 *
 * The only function a policy calls, cdp.in_care, is LEAKPROOF (it never raises and has no side
 * effect) and is a documented API function a doctor may execute: a policy runs with the querying
 * role's rights.  A role's own functions in a WHERE clause run after the policy's qual unless they
 * are LEAKPROOF, which only a superuser can declare (the f_leak probe of test/pgtap/90_access.sql).
 */

CREATE TABLE cdp_internal.acc_table (
	tbl		pg_catalog.regclass PRIMARY KEY,
	kind	text NOT NULL
		CONSTRAINT acc_table_kind_check
		CHECK (kind OPERATOR(pg_catalog.=) ANY (ARRAY['patient', 'clinical', 'log', 'audit', 'marketing', 'sending', 'registry', 'review', 'internal']))
);
COMMENT ON TABLE cdp_internal.acc_table IS
	'every table holding personal data, with the kind whose row-level security policies it gets (cdp_internal.acc_protect)';
CREATE TRIGGER acc_table_restore BEFORE INSERT ON cdp_internal.acc_table
	FOR EACH ROW EXECUTE FUNCTION cdp_internal.acc_restore_replace();
ALTER TABLE cdp_internal.acc_table ENABLE ALWAYS TRIGGER acc_table_restore;

/* The policy set of a kind: one SELECT policy per role, with its USING expression. */
CREATE FUNCTION cdp_internal.acc_kind_policies(kind text, OUT role text, OUT using_sql text) RETURNS SETOF record
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT p.role, p.using_sql FROM (VALUES
		('patient', 'cdp_admin', 'true'),
		('patient', 'cdp_registrar', 'true'),
		('patient', 'cdp_dpo', 'true'),
		('patient', 'cdp_doctor', '@extschema@.in_care(golden_id)'),
		('clinical', 'cdp_doctor', '@extschema@.in_care(golden_id)'),
		('log', 'cdp_admin', '(kind COLLATE "C" OPERATOR(pg_catalog.<) ''clinical.'' OR kind COLLATE "C" OPERATOR(pg_catalog.>=) ''clinical/'')'),
		('log', 'cdp_dpo', '(kind COLLATE "C" OPERATOR(pg_catalog.<) ''clinical.'' OR kind COLLATE "C" OPERATOR(pg_catalog.>=) ''clinical/'')'),
		('audit', 'cdp_admin', 'true'),
		('audit', 'cdp_dpo', 'true'),
		('marketing', 'cdp_admin', 'true'),
		('marketing', 'cdp_marketer', 'true'),
		('marketing', 'cdp_dpo', 'true'),
		('sending', 'cdp_admin', 'true'),
		('sending', 'cdp_marketer', 'true'),
		('sending', 'cdp_dpo', 'true'),
		('sending', 'cdp_sender', 'status OPERATOR(pg_catalog.=) ''due'''),
		('registry', 'cdp_admin', 'true'),
		('registry', 'cdp_registrar', 'true'),
		('registry', 'cdp_dpo', 'true'),
		('review', 'cdp_admin', 'true')) p(kind, role, using_sql)
	 WHERE p.kind OPERATOR(pg_catalog.=) $1
$$;
COMMENT ON FUNCTION cdp_internal.acc_kind_policies(text) IS
	'the row-level security policies (role, USING expression) every table of a kind gets';

/* (Re)creates the policies of one registered table for the roles that exist. */
CREATE FUNCTION cdp_internal.acc_apply_table_policies(tbl pg_catalog.regclass, kind text) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	p	record;
BEGIN
	EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
	EXECUTE pg_catalog.format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
	FOR p IN SELECT pol.polname FROM pg_catalog.pg_policy pol
			  WHERE pol.polrelid OPERATOR(pg_catalog.=) tbl AND pol.polname OPERATOR(pg_catalog.~~) 'acc\_%'
	LOOP
		EXECUTE pg_catalog.format('DROP POLICY %I ON %s', p.polname, tbl);
	END LOOP;
	FOR p IN SELECT k.role, k.using_sql FROM cdp_internal.acc_kind_policies(kind) k
			  WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_roles g WHERE g.rolname OPERATOR(pg_catalog.=) k.role)
	LOOP
		EXECUTE pg_catalog.format('CREATE POLICY %I ON %s AS PERMISSIVE FOR SELECT TO %I USING (%s)',
								  'acc_' OPERATOR(pg_catalog.||) pg_catalog.substr(p.role, 5), tbl, p.role, p.using_sql);
	END LOOP;
END
$$;
COMMENT ON FUNCTION cdp_internal.acc_apply_table_policies(pg_catalog.regclass, text) IS
	'forces row-level security on a table and (re)creates the policies of its kind for the roles that exist';

/*
 * Registers a table holding personal data: the one line a family adds for each new table.
 * Idempotent; a second call with another kind changes the kind.
 */
CREATE FUNCTION cdp_internal.acc_protect(tbl pg_catalog.regclass, kind text) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	INSERT INTO cdp_internal.acc_table AS t (tbl, kind) VALUES (tbl, kind)
	ON CONFLICT ON CONSTRAINT acc_table_pkey DO UPDATE SET kind = EXCLUDED.kind;
	PERFORM cdp_internal.acc_apply_table_policies(tbl, kind);
END
$$;
COMMENT ON FUNCTION cdp_internal.acc_protect(pg_catalog.regclass, text) IS
	'registers a table holding personal data with its kind (patient, clinical, log, audit, marketing, registry, review, internal): forced RLS and the kind''s policies';

/* setup_roles: every registered table's policies again. */
CREATE FUNCTION cdp_internal.acc_apply_policies() RETURNS void
	LANGUAGE sql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT pg_catalog.count(cdp_internal.acc_apply_table_policies(t.tbl, t.kind)) FROM cdp_internal.acc_table t;
$$;
COMMENT ON FUNCTION cdp_internal.acc_apply_policies() IS 'applies the policies of every registered table (cdp.setup_roles)';

/*
 * Is the patient in the care of the calling doctor?  The grant of the session's login (a login
 * acting through SET ROLE is still that login) to cdp_doctor carries the scope: all, a list of
 * golden ids (care relationships), or a list of specialties (the patient has a clinical event of
 * one, compared by cdp_internal.specialty_code, so «кардиолог» in a grant covers a visit recorded as
 * "cardiology").  LEAKPROOF: it raises no error and reveals nothing but its answer, so the planner may use it
 * in a policy without a security barrier of its own.  SECURITY DEFINER so that it can read the
 * grants and the clinical events whatever the doctor may see; it returns only a yes or no about one
 * patient the caller names.
 */
CREATE FUNCTION @extschema@.in_care(golden_id bigint) RETURNS boolean
	LANGUAGE sql STABLE LEAKPROOF PARALLEL SAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT EXISTS (
		SELECT 1 FROM cdp_internal.acc_grant g
		 WHERE g.login OPERATOR(pg_catalog.=) SESSION_USER AND g.role OPERATOR(pg_catalog.=) 'cdp_doctor'
		   AND (g.scope OPERATOR(pg_catalog.@>) '{"all": true}'::jsonb
				OR (g.scope OPERATOR(pg_catalog.->) 'golden_ids') OPERATOR(pg_catalog.@>) pg_catalog.to_jsonb($1)
				OR EXISTS (SELECT 1 FROM @extschema@.clinical_event c
							WHERE c.golden_id OPERATOR(pg_catalog.=) $1
							  AND cdp_internal.specialty_code(c.specialty) OPERATOR(pg_catalog.=) ANY (
								  SELECT cdp_internal.specialty_code(pg_catalog.jsonb_array_elements_text(
									  CASE WHEN pg_catalog.jsonb_typeof(g.scope OPERATOR(pg_catalog.->) 'specialties') OPERATOR(pg_catalog.=) 'array'
										   THEN g.scope OPERATOR(pg_catalog.->) 'specialties' ELSE '[]'::jsonb END))))))
$$;
COMMENT ON FUNCTION @extschema@.in_care(bigint) IS
	'true when the patient is in the care of the calling doctor (scope of its cdp_doctor grant); the doctor policies call it';

SELECT cdp_internal.acc_protect(t.tbl, t.kind) FROM (VALUES
	('@extschema@.record'::pg_catalog.regclass, 'patient'),
	('@extschema@.patient', 'patient'),
	('@extschema@.patient_member', 'patient'),
	('@extschema@.clinical_event', 'clinical'),
	('@extschema@.event', 'log'),
	('@extschema@.pair_decision', 'review'),
	('cdp_internal.match_key', 'internal'),
	('cdp_internal.match_block', 'internal'),
	('cdp_internal.match_tf', 'internal'),
	('cdp_internal.match_suspicious', 'internal'),
	('cdp_internal.match_suspicious_source', 'internal'),
	('cdp_internal.match_review', 'internal'),
	('cdp_internal.match_part', 'internal'),
	('cdp_internal.household', 'internal'),
	('cdp_internal.acc_grant', 'internal')) t(tbl, kind);

/* the consent family's tables (issue 13), when it is installed before this part */
SELECT cdp_internal.acc_protect(t.tbl::pg_catalog.regclass, 'registry')
  FROM (VALUES ('@extschema@.consent_statement'), ('@extschema@.consent_suppression')) t(tbl)
 WHERE pg_catalog.to_regclass(t.tbl) IS NOT NULL;
