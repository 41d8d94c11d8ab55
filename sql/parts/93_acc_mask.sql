/*
 * sql/parts/93_acc_mask.sql: what each role reads of a patient (issue 15, items 4 and 5).
 *
 * Masking functions (phone +7 916 ***-**-67, e-mail i***@mail.ru, birth date to an age band,
 * SNILS to its last 3 digits), the keyed pseudonym of a patient (HMAC-SHA-256 of the golden id,
 * src/acc_pseudonym.c, under a key in cdp_internal.acc_key that only the extension's owner reads),
 * and the SECURITY DEFINER functions through which the roles without table access read: each checks
 * its caller's role first and returns no more than that role may see, and each read of a full profile
 * or of a contact address is written to cdp.audit_log in the same transaction (94_acc_audit.sql).
 */

/* ------------------------------------------------------------------ masking */

/* C (src/acc_mask.c): a list masks every row, and the same rules as regular expressions cost 30 times more */
CREATE FUNCTION @extschema@.mask_phone(phone text) RETURNS text
	AS 'MODULE_PATHNAME', 'cdp_mask_phone'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.mask_phone(text) IS
	'a phone number with all but the country code, operator code and last two digits hidden: +7 916 ***-**-67';

CREATE FUNCTION @extschema@.mask_email(email text) RETURNS text
	AS 'MODULE_PATHNAME', 'cdp_mask_email'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.mask_email(text) IS
	'an e-mail address with its local part reduced to the first character: i***@mail.ru';

CREATE FUNCTION @extschema@.mask_snils(snils text) RETURNS text
	AS 'MODULE_PATHNAME', 'cdp_mask_snils'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.mask_snils(text) IS 'a SNILS with only its last 3 digits shown: ***-***-**5 95';

/* an SQL-standard body (names bound at creation), one expression, so the planner inlines it */
CREATE FUNCTION @extschema@.age_band(birth_date date, at date DEFAULT CURRENT_DATE) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN CASE WHEN birth_date > at THEN NULL
				ELSE (ARRAY['0-17', '18-24', '25-34', '35-44', '45-54', '55-64', '65+'])[
						pg_catalog.width_bucket(pg_catalog.date_part('year', pg_catalog.age(at, birth_date)),
												ARRAY[18, 25, 35, 45, 55, 65]::float8[]) + 1] END;
COMMENT ON FUNCTION @extschema@.age_band(date, date) IS
	'the age band of a birth date on a day (0-17, 18-24, 25-34, 35-44, 45-54, 55-64, 65+)';

/* ------------------------------------------------------------------ pseudonym */

CREATE TABLE cdp_internal.acc_key (
	one			boolean PRIMARY KEY DEFAULT true CONSTRAINT acc_key_one CHECK (one),
	key			bytea NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
COMMENT ON TABLE cdp_internal.acc_key IS
	'the secret key of cdp.pseudonym (32 random bytes, made by cdp.setup_roles); only the extension''s owner reads it';
CREATE TRIGGER acc_key_restore BEFORE INSERT ON cdp_internal.acc_key
	FOR EACH ROW EXECUTE FUNCTION cdp_internal.acc_restore_replace();
ALTER TABLE cdp_internal.acc_key ENABLE ALWAYS TRIGGER acc_key_restore;

CREATE FUNCTION cdp_internal.acc_hmac(key bytea, message text) RETURNS bytea
	AS 'MODULE_PATHNAME', 'cdp_acc_hmac'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal.acc_hmac(bytea, text) IS 'HMAC-SHA-256 of a message under a 32-byte key';

CREATE FUNCTION cdp_internal.acc_new_key() RETURNS bytea
	AS 'MODULE_PATHNAME', 'cdp_acc_new_key'
	LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal.acc_new_key() IS '32 bytes from the server''s strong random source';

/* Makes the pseudonym key once (cdp.setup_roles); a restored dump brings its own key along. */
CREATE FUNCTION cdp_internal.acc_ensure_key() RETURNS void
	LANGUAGE sql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	INSERT INTO cdp_internal.acc_key (key) VALUES (cdp_internal.acc_new_key()) ON CONFLICT (one) DO NOTHING
$$;
COMMENT ON FUNCTION cdp_internal.acc_ensure_key() IS 'creates the pseudonym key if there is none';

/* The pseudonym of a golden id under a key: p + 20 hex digits of HMAC-SHA-256 (inlined by the planner). */
CREATE FUNCTION cdp_internal.acc_pseudonym_of(key bytea, golden_id bigint) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN 'p' OPERATOR(pg_catalog.||) pg_catalog.encode(pg_catalog.substr(
		cdp_internal.acc_hmac(key, 'golden:' OPERATOR(pg_catalog.||) golden_id::text), 1, 10), 'hex');
COMMENT ON FUNCTION cdp_internal.acc_pseudonym_of(bytea, bigint) IS 'the keyed pseudonym of a golden id under a key';

/* The pseudonym without the role check, for the functions below (which check first). */
CREATE FUNCTION cdp_internal.acc_pseudonym(golden_id bigint) RETURNS text
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v_key	bytea;
BEGIN
	SELECT k.key INTO v_key FROM cdp_internal.acc_key k;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'the pseudonym key does not exist yet'
			USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Run cdp.setup_roles() first.';
	END IF;
	RETURN cdp_internal.acc_pseudonym_of(v_key, golden_id);
END
$$;
COMMENT ON FUNCTION cdp_internal.acc_pseudonym(bigint) IS 'the keyed pseudonym of a golden id (no role check)';

CREATE FUNCTION @extschema@.pseudonym(golden_id bigint) RETURNS text
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	/*
	 * Not for marketers and analysts: golden ids are sequential, so whoever may turn any id into its
	 * pseudonym can map every pseudonym of masked_patients back to its golden id.
	 */
	PERFORM cdp_internal.acc_require(ARRAY['cdp_admin', 'cdp_dpo'], 'cdp.pseudonym');
	RETURN cdp_internal.acc_pseudonym(golden_id);
END
$$;
COMMENT ON FUNCTION @extschema@.pseudonym(bigint) IS
	'the stable keyed pseudonym of a patient (p + 20 hex digits of HMAC-SHA-256 of its golden id); admin and dpo only';

/* ------------------------------------------------------------------ reads for roles without table access */

/*
 * Pseudonymous, masked profiles: a marketer sees masked contacts, an analyst none; neither sees
 * names, exact birth dates or SNILS digits beyond the last three.  Active patients only.
 */
CREATE FUNCTION @extschema@.masked_patients()
	RETURNS TABLE (pseudonym text, sex text, age_band text, city text, last_visit date,
				   phone text, email text, snils text)
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v_contacts	boolean;
	v_key		bytea;
BEGIN
	PERFORM cdp_internal.acc_require(ARRAY['cdp_admin', 'cdp_marketer', 'cdp_analyst', 'cdp_dpo'], 'cdp.masked_patients');
	v_contacts := cdp_internal.acc_is(ARRAY['cdp_admin', 'cdp_marketer', 'cdp_dpo']);
	/* the key once (acc_pseudonym raises when there is none yet), not once per row */
	PERFORM cdp_internal.acc_pseudonym(0);
	SELECT k.key INTO v_key FROM cdp_internal.acc_key k;
	RETURN QUERY
	SELECT cdp_internal.acc_pseudonym_of(v_key, p.golden_id), p.sex, @extschema@.age_band(p.birth_date), p.city,
		   p.last_visit::date,
		   CASE WHEN v_contacts THEN @extschema@.mask_phone(p.phones OPERATOR(pg_catalog.#>>) '{0,value}') END,
		   CASE WHEN v_contacts THEN @extschema@.mask_email(p.emails OPERATOR(pg_catalog.#>>) '{0,value}') END,
		   @extschema@.mask_snils(p.snils::text)
	  FROM @extschema@.patient p
	 WHERE p.status OPERATOR(pg_catalog.=) 'active'
	 ORDER BY 1;
END
$$;
COMMENT ON FUNCTION @extschema@.masked_patients() IS
	'pseudonymous, masked profiles of active patients (contacts masked for marketers, absent for analysts)';

/* Counts by age band, sex and city; a group of fewer than 5 patients is not shown. */
CREATE FUNCTION @extschema@.patient_counts()
	RETURNS TABLE (age_band text, sex text, city text, patients bigint)
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	PERFORM cdp_internal.acc_require(ARRAY['cdp_admin', 'cdp_marketer', 'cdp_analyst', 'cdp_dpo'], 'cdp.patient_counts');
	RETURN QUERY
	SELECT @extschema@.age_band(p.birth_date) AS b, p.sex, p.city, pg_catalog.count(*)
	  FROM @extschema@.patient p
	 WHERE p.status OPERATOR(pg_catalog.=) 'active'
	 GROUP BY 1, 2, 3
	HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>=) 5
	 ORDER BY 1, 2, 3;
END
$$;
COMMENT ON FUNCTION @extschema@.patient_counts() IS
	'active patients counted by age band, sex and city; groups under 5 patients suppressed';

/*
 * May cdp contact the patient for the consent purpose through the channel?  The consent family
 * answers it with cdp.may_contact(golden_id, purpose, channel) (issue 13); until that function is
 * installed nobody may be contacted.  Every contact read of the access family asks here, so the
 * consent registry is reached through this one function.
 */
CREATE FUNCTION cdp_internal.acc_may_contact(golden_id bigint, purpose text, channel text) RETURNS boolean
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v_ok	boolean;
BEGIN
	IF pg_catalog.to_regprocedure('@extschema@.may_contact(bigint,text,text)') IS NULL THEN
		RETURN false;
	END IF;
	EXECUTE 'SELECT @extschema@.may_contact($1, $2, $3)' INTO v_ok USING golden_id, purpose, channel;
	RETURN COALESCE(v_ok, false);
END
$$;
COMMENT ON FUNCTION cdp_internal.acc_may_contact(bigint, text, text) IS
	'whether the patient may be contacted for the purpose through the channel (cdp.may_contact of the consent family; false without it)';

/*
 * The contact address of a patient for a send: channel email, sms, messenger, call (a phone),
 * social (a handle) or post (the address), for the consent purpose marketing (a marketer may ask
 * for no other) or treatment; only for a patient who may be contacted so, else NULL; audited
 * either way (contact.read, with the purpose, the channel and whether an address was given).
 */
CREATE FUNCTION @extschema@.contact_address(golden_id bigint, channel text, purpose text) RETURNS text
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v_g		bigint;
	v_addr	text;
BEGIN
	PERFORM cdp_internal.acc_require(ARRAY['cdp_admin', 'cdp_marketer', 'cdp_sender'], 'cdp.contact_address');
	IF channel IS NULL OR channel OPERATOR(pg_catalog.<>) ALL (ARRAY['email', 'sms', 'messenger', 'call', 'social', 'post']) THEN
		RAISE EXCEPTION 'invalid channel: "%"', pg_catalog.left(channel, 20)
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Use email, sms, messenger, call, social or post.';
	END IF;
	IF purpose IS NULL OR purpose OPERATOR(pg_catalog.<>) ALL (ARRAY['marketing', 'treatment']) THEN
		RAISE EXCEPTION 'invalid purpose for a contact address: "%"', pg_catalog.left(purpose, 20)
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Use marketing or treatment.';
	END IF;
	IF purpose OPERATOR(pg_catalog.<>) 'marketing' AND NOT cdp_internal.acc_is(ARRAY['cdp_admin', 'cdp_sender']) THEN
		RAISE EXCEPTION 'permission denied for cdp.contact_address for purpose "%"', purpose
			USING ERRCODE = 'insufficient_privilege', DETAIL = 'A marketer reads addresses for marketing only.';
	END IF;
	v_g := @extschema@.resolve_patient(golden_id);
	IF v_g IS NOT NULL AND cdp_internal.acc_may_contact(v_g, purpose, channel) THEN
		SELECT CASE channel WHEN 'email' THEN p.emails OPERATOR(pg_catalog.#>>) '{0,value}'
							WHEN 'social' THEN p.handles OPERATOR(pg_catalog.#>>) '{0,value}'
							WHEN 'post' THEN p.address
							ELSE p.phones OPERATOR(pg_catalog.#>>) '{0,value}' END
		  INTO v_addr
		  FROM @extschema@.patient p WHERE p.golden_id OPERATOR(pg_catalog.=) v_g AND p.status OPERATOR(pg_catalog.=) 'active';
	END IF;
	PERFORM cdp_internal.acc_audit('contact.read', ARRAY[COALESCE(v_g, golden_id)], purpose,
		pg_catalog.jsonb_build_object('channel', channel, 'given', v_addr IS NOT NULL));
	RETURN v_addr;
END
$$;
COMMENT ON FUNCTION @extschema@.contact_address(bigint, text, text) IS
	'the address of a patient for a send on a channel, only if the patient may be contacted for the purpose (marketing, treatment) there (else NULL); audited';

/*
 * The full profile of one patient for the roles that work with named patients: registrar, doctor
 * (only a patient in its care, with that patient's clinical events), dpo and admin (without clinical
 * events).  Audited (profile.read, with the purpose) in the same transaction, found or not.
 */
CREATE FUNCTION @extschema@.patient_profile(golden_id bigint, purpose text DEFAULT NULL) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v_g			bigint;
	v_doc		jsonb;
	v_doctor	boolean;
BEGIN
	PERFORM cdp_internal.acc_require(ARRAY['cdp_admin', 'cdp_registrar', 'cdp_doctor', 'cdp_dpo'], 'cdp.patient_profile');
	v_g := @extschema@.resolve_patient(golden_id);
	/* a doctor who is nothing else reads only the patients in its care */
	v_doctor := cdp_internal.acc_is(ARRAY['cdp_doctor']);
	IF v_g IS NOT NULL AND v_doctor AND NOT cdp_internal.acc_is(ARRAY['cdp_admin', 'cdp_registrar', 'cdp_dpo'])
	   AND NOT @extschema@.in_care(v_g) THEN
		v_g := NULL;
	END IF;
	IF v_g IS NOT NULL THEN
		SELECT pg_catalog.to_jsonb(p.*) OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('records',
				 (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('record_id', r.record_id,
						  'source', s.name, 'source_id', r.source_key) ORDER BY r.record_id), '[]'::jsonb)
					FROM @extschema@.record r JOIN @extschema@.source s ON s.source_id OPERATOR(pg_catalog.=) r.source_id
				   WHERE r.golden_id OPERATOR(pg_catalog.=) v_g))
		  INTO v_doc
		  FROM @extschema@.patient p WHERE p.golden_id OPERATOR(pg_catalog.=) v_g;
		IF v_doctor AND @extschema@.in_care(v_g) THEN
			v_doc := v_doc OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('clinical',
				(SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(c.*) OPERATOR(pg_catalog.-) 'attrs'
												  ORDER BY c.at, c.event_id), '[]'::jsonb)
				   FROM @extschema@.clinical_event c WHERE c.golden_id OPERATOR(pg_catalog.=) v_g));
		END IF;
	END IF;
	PERFORM cdp_internal.acc_audit('profile.read', ARRAY[COALESCE(v_g, golden_id)], purpose,
		pg_catalog.jsonb_build_object('found', v_doc IS NOT NULL));
	RETURN v_doc;
END
$$;
COMMENT ON FUNCTION @extschema@.patient_profile(bigint, text) IS
	'the full profile of a patient (with clinical events for the doctor in whose care it is); audited; NULL when not visible';
