/*
 * sql/parts/35_compare_types.sql: the phone and e-mail comparators for the cdp identifier types.
 *
 * The comparators (30_compare.sql) work on text so they run on any data; these overloads let a
 * query compare typed columns directly. They compare the canonical forms (E.164 digits for phones,
 * the address with a lower-cased, punycoded domain for e-mails), so "8 (916) 123-45-67" and
 * "+7 916 1234567" are already equal before any comparison. Plain SQL, inlined by the planner.
 */
CREATE FUNCTION @extschema@.phone_level(a @extschema@.phone, b @extschema@.phone) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN @extschema@.phone_level(@extschema@.phone_e164(a), @extschema@.phone_e164(b));
COMMENT ON FUNCTION @extschema@.phone_level(@extschema@.phone, @extschema@.phone) IS
	'phone_level of two cdp.phone values (extensions ignored): exact, same_last7, one_digit or different';

CREATE FUNCTION @extschema@.phone_similarity(a @extschema@.phone, b @extschema@.phone) RETURNS float8
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN @extschema@.phone_similarity(@extschema@.phone_e164(a), @extschema@.phone_e164(b));
COMMENT ON FUNCTION @extschema@.phone_similarity(@extschema@.phone, @extschema@.phone) IS
	'phone_similarity of two cdp.phone values (extensions ignored)';

CREATE FUNCTION @extschema@.email_level(a @extschema@.email, b @extschema@.email) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$ SELECT @extschema@.email_level($1::text, $2::text) $$;
COMMENT ON FUNCTION @extschema@.email_level(@extschema@.email, @extschema@.email) IS
	'email_level of two cdp.email values: exact, typo, same_local or different';

CREATE FUNCTION @extschema@.email_similarity(a @extschema@.email, b @extschema@.email) RETURNS float8
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$ SELECT @extschema@.email_similarity($1::text, $2::text) $$;
COMMENT ON FUNCTION @extschema@.email_similarity(@extschema@.email, @extschema@.email) IS
	'email_similarity of two cdp.email values';
