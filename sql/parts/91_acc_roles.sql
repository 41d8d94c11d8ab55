/*
 * sql/parts/91_acc_roles.sql: the clinic's roles (issue 15, item 1).
 *
 * Eight NOLOGIN group roles, created by cdp.setup_roles() when the DBA decides (roles are
 * cluster-wide objects, so CREATE EXTENSION creates none); logins are mapped to them by
 * cdp.grant_role(login, role, scope) and cdp.revoke_role(login, role), both audited.  A SECURITY
 * DEFINER function of the access family checks its caller's role with cdp_internal.acc_require():
 * the caller is the role the session acts as (SET ROLE) or else its login, never the function's
 * owner.  doc/security.md says what each role may do and lists every privilege.
 */

/* The roles and what each may do (the documented list; doc/security.md repeats it). */
CREATE FUNCTION cdp_internal.acc_roles(OUT role text, OUT capability text) RETURNS SETOF record
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	VALUES
	('cdp_admin', 'administers cdp: every API function, reads every table of schema cdp, maps logins to roles'),
	('cdp_registrar', 'reception and call centre: finds, creates and edits patients and contacts; no diagnoses, no lab results'),
	('cdp_doctor', 'clinical data of the patients in the scope of its grant (specialties or patients), recommendations with due dates'),
	('cdp_marketer', 'pseudonymous, masked profiles and counts; a contact address only for a patient who consented to the channel'),
	('cdp_analyst', 'aggregates with groups under 5 suppressed and pseudonymous, masked profiles without contacts'),
	('cdp_dpo', 'data protection officer: the audit log and its report, legal holds, erasure, full profiles on request'),
	('cdp_scheduler', 'runs scheduled maintenance (run_matching) from pg_cron'),
	('cdp_sender', 'a sending gateway: reads the contact address of a consented patient for a send, nothing else')
$$;
COMMENT ON FUNCTION cdp_internal.acc_roles() IS 'the clinic roles of cdp and what each may do';

/* Which login holds which role, with its scope (a doctor's specialties or patients). */
CREATE TABLE cdp_internal.acc_grant (
	login		text NOT NULL,
	role		text NOT NULL,
	scope		jsonb,
	granted_at	timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	granted_by	text NOT NULL,
	PRIMARY KEY (login, role)
);
COMMENT ON TABLE cdp_internal.acc_grant IS
	'logins mapped to clinic roles by cdp.grant_role, with the scope of each grant (e.g. a doctor''s specialties)';

/*
 * One vocabulary of medical specialties.  Sources write a specialty as they please (a visit's
 * «кардиолог», a lab system's «Кардиология», an English export's "cardiology"); a doctor's grant
 * names specialties in any of those spellings.  The code of a spelling is the canonical English
 * name of the specialty; a spelling the vocabulary does not know is its own code (lower case, spaces
 * folded), so an exact spelling always matches itself.  IMMUTABLE: the list is fixed per release.
 */
CREATE FUNCTION cdp_internal.specialty_code(spelling text) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT COALESCE(
		(SELECT v.code FROM (VALUES
			('cardiology', ARRAY['cardiology', 'cardiologist', 'кардиология', 'кардиолог']),
			('therapy', ARRAY['therapy', 'therapist', 'general practice', 'general practitioner', 'gp', 'internal medicine',
							  'терапия', 'терапевт', 'врач общей практики', 'общая практика']),
			('urology', ARRAY['urology', 'urologist', 'урология', 'уролог']),
			('gynecology', ARRAY['gynecology', 'gynaecology', 'gynecologist', 'gynaecologist', 'гинекология', 'гинеколог',
								 'акушерство и гинекология', 'акушер-гинеколог']),
			('dermatology', ARRAY['dermatology', 'dermatologist', 'дерматология', 'дерматолог', 'дерматовенеролог',
								  'дерматовенерология']),
			('neurology', ARRAY['neurology', 'neurologist', 'неврология', 'невролог', 'невропатолог']),
			('ophthalmology', ARRAY['ophthalmology', 'ophthalmologist', 'офтальмология', 'офтальмолог', 'окулист']),
			('otorhinolaryngology', ARRAY['otorhinolaryngology', 'ent', 'оториноларингология', 'оториноларинголог', 'лор']),
			('endocrinology', ARRAY['endocrinology', 'endocrinologist', 'эндокринология', 'эндокринолог']),
			('gastroenterology', ARRAY['gastroenterology', 'gastroenterologist', 'гастроэнтерология', 'гастроэнтеролог']),
			('pediatrics', ARRAY['pediatrics', 'paediatrics', 'pediatrician', 'педиатрия', 'педиатр']),
			('surgery', ARRAY['surgery', 'surgeon', 'хирургия', 'хирург']),
			('oncology', ARRAY['oncology', 'oncologist', 'онкология', 'онколог']),
			('mammology', ARRAY['mammology', 'mammologist', 'маммология', 'маммолог']),
			('psychiatry', ARRAY['psychiatry', 'psychiatrist', 'психиатрия', 'психиатр']),
			('dentistry', ARRAY['dentistry', 'dentist', 'стоматология', 'стоматолог']),
			('traumatology', ARRAY['traumatology', 'orthopedics', 'травматология', 'травматолог', 'травматолог-ортопед',
								   'ортопедия', 'ортопед'])
		) v(code, spellings)
		 WHERE pg_catalog.regexp_replace(pg_catalog.lower(pg_catalog.btrim($1)), '\s+', ' ', 'g') OPERATOR(pg_catalog.=) ANY (v.spellings)),
		pg_catalog.regexp_replace(pg_catalog.lower(pg_catalog.btrim($1)), '\s+', ' ', 'g'))
$$;
COMMENT ON FUNCTION cdp_internal.specialty_code(text) IS
	'the canonical code of a medical specialty however a source spells it (кардиолог, Кардиология, cardiology: cardiology); an unknown spelling is its own code';

/*
 * The role a call acts for.  Inside a SECURITY DEFINER function current_user is the function's
 * owner; the session's SET ROLE (the GUC role, which a definer function does not change) or else
 * the login (session_user) is who called.  Setting role is checked for membership by PostgreSQL,
 * so it cannot name a role the session may not act as.
 */
CREATE FUNCTION cdp_internal.acc_caller() RETURNS text
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT CASE WHEN pg_catalog.current_setting('role') OPERATOR(pg_catalog.=) 'none'
				THEN SESSION_USER::text ELSE pg_catalog.current_setting('role') END
$$;
COMMENT ON FUNCTION cdp_internal.acc_caller() IS
	'the role the calling session acts as (SET ROLE, else the login), also inside SECURITY DEFINER functions';

/* Does the caller act as a superuser or as a member of one of roles? Never raises. */
CREATE FUNCTION cdp_internal.acc_is(roles text[]) RETURNS boolean
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles c
					WHERE c.rolname OPERATOR(pg_catalog.=) cdp_internal.acc_caller()
					  AND (c.rolsuper OR EXISTS (
						  SELECT 1 FROM pg_catalog.pg_roles g
						   WHERE g.rolname OPERATOR(pg_catalog.=) ANY (roles)
							 AND pg_catalog.pg_has_role(c.oid, g.oid, 'MEMBER'))))
$$;
COMMENT ON FUNCTION cdp_internal.acc_is(text[]) IS
	'true when the caller is a superuser or a member of one of the given roles';

/* Raises insufficient_privilege unless the caller holds one of roles (or is a superuser). */
CREATE FUNCTION cdp_internal.acc_require(roles text[], action text) RETURNS void
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF NOT cdp_internal.acc_is(roles) THEN
		RAISE EXCEPTION 'permission denied for %', action
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = pg_catalog.format('Role "%s" is not a member of %s.', cdp_internal.acc_caller(),
											 pg_catalog.array_to_string(roles, ' or ')),
				  HINT = 'An admin maps logins to roles with cdp.grant_role(login, role).';
	END IF;
END
$$;
COMMENT ON FUNCTION cdp_internal.acc_require(text[], text) IS
	'raises 42501 unless the caller is a superuser or a member of one of the given roles';

/*
 * setup_roles: creates the missing roles, then (re)applies the grant matrix, the pseudonym key and
 * the row-level security policies; idempotent.  It runs with its caller's rights: it refuses a
 * caller without CREATEROLE, and one that is neither a superuser nor the owner of cdp's objects
 * (who alone can grant on them).  An existing role of the same name that is a superuser or
 * bypasses row-level security is refused rather than used.
 */
CREATE FUNCTION @extschema@.setup_roles() RETURNS TABLE (role text, action text)
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
#variable_conflict use_column
DECLARE
	r			record;
	v_me		pg_catalog.pg_roles;
BEGIN
	SELECT * INTO v_me FROM pg_catalog.pg_roles m WHERE m.rolname OPERATOR(pg_catalog.=) CURRENT_USER;
	IF NOT (v_me.rolsuper OR v_me.rolcreaterole) THEN
		RAISE EXCEPTION 'permission denied to set up the cdp roles'
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = pg_catalog.format('Role "%s" has no CREATEROLE attribute.', CURRENT_USER),
				  HINT = 'Run cdp.setup_roles() as a superuser or as the owner of extension cdp with CREATEROLE.';
	END IF;
	IF NOT v_me.rolsuper AND NOT pg_catalog.pg_has_role(CURRENT_USER,
			(SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) '@extschema@.patient'::pg_catalog.regclass),
			'MEMBER') THEN
		RAISE EXCEPTION 'permission denied to set up the cdp roles'
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = pg_catalog.format('Role "%s" does not own the objects of extension cdp, so it cannot grant on them.', CURRENT_USER),
				  HINT = 'Run cdp.setup_roles() as a superuser.';
	END IF;

	/*
	 * The tables whose policies are applied below, locked first, in one order: the grants below
	 * rewrite the pg_class rows of every table, and an autovacuum of a table would wait for this
	 * transaction (its pg_class row) while the ALTER TABLE below waited for the vacuum (a
	 * deadlock that failed this call); asked for before any catalog row is touched, the lock makes
	 * an autovacuum give way instead.
	 */
	FOR r IN SELECT t.tbl FROM cdp_internal.acc_table t ORDER BY t.tbl::pg_catalog.oid LOOP
		EXECUTE pg_catalog.format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', r.tbl);
	END LOOP;

	FOR r IN SELECT a.role, a.capability, g.rolsuper, g.rolbypassrls, g.oid IS NOT NULL AS present
			   FROM cdp_internal.acc_roles() a LEFT JOIN pg_catalog.pg_roles g ON g.rolname OPERATOR(pg_catalog.=) a.role
			  ORDER BY a.role
	LOOP
		IF r.present AND (r.rolsuper OR r.rolbypassrls) THEN
			RAISE EXCEPTION 'role "%" exists and is not safe for cdp', r.role
				USING ERRCODE = 'insufficient_privilege',
					  DETAIL = 'It is a superuser or bypasses row-level security; cdp''s group roles must be neither.',
					  HINT = pg_catalog.format('ALTER ROLE %I NOSUPERUSER NOBYPASSRLS, or drop it, then run cdp.setup_roles() again.', r.role);
		END IF;
		IF NOT r.present THEN
			EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN NOINHERIT', r.role);
			role := r.role; action := 'created';
		ELSE
			role := r.role; action := 'updated';
		END IF;
		EXECUTE pg_catalog.format('COMMENT ON ROLE %I IS %L', r.role, 'cdp: ' OPERATOR(pg_catalog.||) r.capability);
		/* exactly the matrix: what an earlier version granted and this one does not is taken back */
		EXECUTE pg_catalog.format('REVOKE ALL ON ALL TABLES IN SCHEMA @extschema@ FROM %I', r.role);
		EXECUTE pg_catalog.format('REVOKE ALL ON ALL FUNCTIONS IN SCHEMA @extschema@ FROM %I', r.role);
		EXECUTE pg_catalog.format('REVOKE ALL ON ALL PROCEDURES IN SCHEMA @extschema@ FROM %I', r.role);
		EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA @extschema@ TO %I', r.role);
		RETURN NEXT;
	END LOOP;
	/* functions created after the install's own lock-down (later parts, later updates) too */
	PERFORM cdp_internal.acc_lock_down();
	PERFORM cdp_internal.acc_apply_privileges();
	PERFORM cdp_internal.acc_ensure_key();
	PERFORM cdp_internal.acc_apply_policies();
END
$$;
COMMENT ON FUNCTION @extschema@.setup_roles() IS
	'creates the clinic roles (cdp_admin, cdp_registrar, ...) if missing and applies their grants and policies; idempotent; needs CREATEROLE';

/*
 * Applies cdp_internal.acc_privilege to the roles that exist, and gives cdp_admin EXECUTE on every
 * function and procedure of the API and SELECT on every table and view of it (row-level security
 * still decides its rows: no clinical data).
 */
CREATE FUNCTION cdp_internal.acc_apply_privileges() RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	p	record;
BEGIN
	FOR p IN SELECT a.* FROM cdp_internal.acc_privilege a
			  WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_roles g WHERE g.rolname OPERATOR(pg_catalog.=) a.role)
			  ORDER BY a.role, a.kind, a.object, a.privilege
	LOOP
		IF p.kind OPERATOR(pg_catalog.=) 'function' THEN
			EXECUTE pg_catalog.format('GRANT EXECUTE ON ROUTINE %s TO %I', p.object::pg_catalog.regprocedure, p.role);
		ELSE
			EXECUTE pg_catalog.format('GRANT %s ON TABLE %s TO %I', p.privilege, p.object::pg_catalog.regclass, p.role);
		END IF;
	END LOOP;
	IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles g WHERE g.rolname OPERATOR(pg_catalog.=) 'cdp_admin') THEN
		GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA @extschema@ TO cdp_admin;
		GRANT EXECUTE ON ALL PROCEDURES IN SCHEMA @extschema@ TO cdp_admin;
		GRANT SELECT ON ALL TABLES IN SCHEMA @extschema@ TO cdp_admin;
	END IF;
END
$$;
COMMENT ON FUNCTION cdp_internal.acc_apply_privileges() IS 'grants what cdp_internal.acc_privilege lists to the roles that exist';

/*
 * grant_role / revoke_role: map a login to a clinic role (GRANT role TO login) with a scope, and
 * back; each is an event (access.role_granted / access.role_revoked) and an audit row, in the same
 * transaction.  For cdp_admin only.  The login must exist and may not be a superuser (which would
 * see everything anyway: say so rather than pretend).
 */
CREATE FUNCTION @extschema@.grant_role(login text, role text, scope jsonb DEFAULT NULL) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	PERFORM cdp_internal.acc_require(ARRAY['cdp_admin'], 'cdp.grant_role');
	PERFORM cdp_internal.acc_check_grant(login, role, scope);
	EXECUTE pg_catalog.format('GRANT %I TO %I', role, login);
	INSERT INTO cdp_internal.acc_grant AS g (login, role, scope, granted_by)
	VALUES (login, role, scope, cdp_internal.acc_caller())
	ON CONFLICT ON CONSTRAINT acc_grant_pkey DO UPDATE
	   SET scope = EXCLUDED.scope, granted_at = EXCLUDED.granted_at, granted_by = EXCLUDED.granted_by;
	PERFORM cdp_internal.append_event('access.role_granted', NULL, NULL,
		pg_catalog.jsonb_build_object('login', login, 'role', role, 'scope', scope));
	PERFORM cdp_internal.acc_audit('role.granted', NULL, NULL,
		pg_catalog.jsonb_build_object('login', login, 'role', role, 'scope', scope));
END
$$;
COMMENT ON FUNCTION @extschema@.grant_role(text, text, jsonb) IS
	'maps a login to a clinic role with an optional scope (e.g. {"specialties": ["кардиолог"]} for a doctor); audited; cdp_admin only';

CREATE FUNCTION @extschema@.revoke_role(login text, role text) RETURNS boolean
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v_had	boolean;
BEGIN
	PERFORM cdp_internal.acc_require(ARRAY['cdp_admin'], 'cdp.revoke_role');
	PERFORM cdp_internal.acc_check_grant(login, role, NULL);
	EXECUTE pg_catalog.format('REVOKE %I FROM %I', role, login);
	DELETE FROM cdp_internal.acc_grant g
	 WHERE g.login OPERATOR(pg_catalog.=) revoke_role.login AND g.role OPERATOR(pg_catalog.=) revoke_role.role;
	v_had := FOUND;
	PERFORM cdp_internal.append_event('access.role_revoked', NULL, NULL,
		pg_catalog.jsonb_build_object('login', login, 'role', role));
	PERFORM cdp_internal.acc_audit('role.revoked', NULL, NULL,
		pg_catalog.jsonb_build_object('login', login, 'role', role, 'was_granted', v_had));
	RETURN v_had;
END
$$;
COMMENT ON FUNCTION @extschema@.revoke_role(text, text) IS
	'takes a clinic role back from a login; audited; returns whether cdp had granted it; cdp_admin only';

/* The checks grant_role and revoke_role share; raises naming what is wrong. */
CREATE FUNCTION cdp_internal.acc_check_grant(login text, role text, scope jsonb) RETURNS void
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v_login		pg_catalog.pg_roles;
BEGIN
	IF login IS NULL OR role IS NULL THEN
		RAISE EXCEPTION 'login and role must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM cdp_internal.acc_roles() a WHERE a.role OPERATOR(pg_catalog.=) acc_check_grant.role) THEN
		RAISE EXCEPTION 'unknown cdp role: "%"', pg_catalog.left(role, 100)
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use one of cdp_admin, cdp_registrar, cdp_doctor, cdp_marketer, cdp_analyst, cdp_dpo, cdp_scheduler, cdp_sender.';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles g WHERE g.rolname OPERATOR(pg_catalog.=) acc_check_grant.role) THEN
		RAISE EXCEPTION 'role "%" does not exist', role
			USING ERRCODE = 'undefined_object', HINT = 'Run cdp.setup_roles() first.';
	END IF;
	SELECT * INTO v_login FROM pg_catalog.pg_roles g WHERE g.rolname OPERATOR(pg_catalog.=) acc_check_grant.login;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'role "%" does not exist', pg_catalog.left(login, 100)
			USING ERRCODE = 'undefined_object', HINT = 'Create the login first (CREATE ROLE ... LOGIN).';
	END IF;
	IF v_login.rolsuper OR v_login.rolbypassrls OR login OPERATOR(pg_catalog.~) '^cdp_' THEN
		RAISE EXCEPTION 'role "%" cannot be given a cdp role', login
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'It is a superuser, bypasses row-level security or is one of cdp''s group roles.';
	END IF;
	IF scope IS NOT NULL AND (pg_catalog.jsonb_typeof(scope) OPERATOR(pg_catalog.<>) 'object'
			OR EXISTS (SELECT 1 FROM pg_catalog.jsonb_object_keys(scope) k
						WHERE k OPERATOR(pg_catalog.<>) ALL (ARRAY['all', 'specialties', 'golden_ids']))) THEN
		RAISE EXCEPTION 'invalid scope for role "%"', role
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'A scope is an object with keys all (boolean), specialties (array of text) and golden_ids (array of ids).';
	END IF;
END
$$;
COMMENT ON FUNCTION cdp_internal.acc_check_grant(text, text, jsonb) IS
	'validates the arguments of cdp.grant_role / cdp.revoke_role';
