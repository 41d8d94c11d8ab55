/*
 * sql/cdp--0.2.0--0.3.0.sql: update 0.2.0 to 0.3.0.  Written by hand: each section below carries
 * exactly the change of one piece of work, in the order the install script (sql/parts) creates it.
 * Once 0.3.0 is released this file is frozen; a later change ships cdp--0.3.0--<next>.sql.
 * test/t/060_update.pl proves that the catalog after this update equals a fresh 0.3.0 install and
 * that the data is intact.
 */
\echo Use "ALTER EXTENSION cdp UPDATE TO '0.3.0'" to load this file. \quit

/* ==== section: types and text (issue 16 items found already, issue 17) ==== */

/* ==== end of section: types and text ==== */


/* ==== section: name index and find_patient (issue 18) ==== */

/* ==== end of section: name index and find_patient ==== */


/* ==== section: matching (issue 12) ==== */

/* ==== end of section: matching ==== */


/* ==== section: consent, offers and segments (issue 13) ==== */

/*
 * sql/parts/80_consent.sql: layer 8, the consent registry (issue 13).  See doc/consent.md.
 *
 * Every statement is an event (consent.granted / consent.withdrawn) appended by cdp.set_consents;
 * the tables below are its projections, and cdp.rebuild_consent() replays the log into the same
 * rows.  A statement is stored against the source records its person held when it was given, one
 * row per record x purpose x channel, never against a golden id that a merge or unmerge could
 * move: the person's consent is read through cdp.record.golden_id at read time, so merges and
 * unmerges carry consent with the records and need no hook in the golden family.
 *
 *   - after a merge the person holds every member's rows: latest statement wins per purpose x
 *     channel, a withdrawal wins a tie;
 *   - a grant counts only while every record it was given for still belongs to the person reading
 *     it: after an unmerge a grant given while the two were one person counts for neither side
 *     (it may have been the other person's), a withdrawal counts for both;
 *   - a withdrawal that names an address puts the address on the suppression list for that
 *     purpose: no person who carries it may be contacted through it, whichever record brought it.
 */

/* ------------------------------------------------------------------ vocabulary */

/* The purposes, their defaults, and the channels: the one place that names them. */
CREATE FUNCTION @extschema@.consent_purposes(OUT purpose text, OUT default_granted boolean, OUT description text)
	RETURNS SETOF record
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	VALUES ('treatment', true, 'results ready, appointment and re-test reminders from a doctor (allowed unless withdrawn)'),
	       ('marketing', false, 'offers and promotions (denied unless granted)'),
	       ('analytics', false, 'de-identified use in analytics (denied unless granted)'),
	       ('partner_sharing', false, 'transfer to partners (denied unless granted)'),
	       ('state_exchange', true, 'transfer to the state health information system, a legal duty (allowed unless withdrawn)')
$$;
COMMENT ON FUNCTION @extschema@.consent_purposes() IS
	'the consent purposes and their defaults: treatment and state_exchange allowed unless withdrawn, marketing, analytics and partner_sharing denied unless granted';

CREATE FUNCTION @extschema@.consent_channels(OUT channel text, OUT address_kind text, OUT description text)
	RETURNS SETOF record
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	VALUES ('email', 'emails', 'e-mail'),
	       ('sms', 'phones', 'text message'),
	       ('messenger', 'phones', 'telegram, whatsapp, viber (by phone number)'),
	       ('social', 'handles', 'social network (vk)'),
	       ('call', 'phones', 'phone call'),
	       ('post', 'address', 'letter to the postal address')
$$;
COMMENT ON FUNCTION @extschema@.consent_channels() IS
	'the contact channels and which profile field holds their addresses (phones, emails, handles, address)';

/*
 * Checks a purpose and a channel list ('*' = every channel); returns the channels.  22023 with
 * the accepted values in the hint.
 */
CREATE FUNCTION cdp_internal.consent_check(purposes text[], channels text[]) RETURNS text[]
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	p	text;
	c	text;
	all_ch	text[] := ARRAY(SELECT x.channel FROM @extschema@.consent_channels() x);
BEGIN
	IF purposes IS NULL OR pg_catalog.cardinality(purposes) = 0 THEN
		RAISE EXCEPTION 'a consent statement needs a purpose' USING ERRCODE = '22023',
			HINT = 'Use treatment, marketing, analytics, partner_sharing or state_exchange.';
	END IF;
	FOREACH p IN ARRAY purposes LOOP
		IF p IS NULL OR NOT EXISTS (SELECT 1 FROM @extschema@.consent_purposes() x WHERE x.purpose = p) THEN
			RAISE EXCEPTION 'unknown consent purpose "%"', p USING ERRCODE = '22023',
				HINT = 'Use treatment, marketing, analytics, partner_sharing or state_exchange.';
		END IF;
	END LOOP;
	IF channels IS NULL OR pg_catalog.cardinality(channels) = 0 THEN
		RAISE EXCEPTION 'a consent statement needs a channel' USING ERRCODE = '22023',
			HINT = 'Use email, sms, messenger, social, call, post, or * for all of them.';
	END IF;
	IF '*' = ANY (channels) THEN
		RETURN all_ch;
	END IF;
	FOREACH c IN ARRAY channels LOOP
		IF c IS NULL OR NOT c = ANY (all_ch) THEN
			RAISE EXCEPTION 'unknown consent channel "%"', c USING ERRCODE = '22023',
				HINT = 'Use email, sms, messenger, social, call, post, or * for all of them.';
		END IF;
	END LOOP;
	RETURN ARRAY(SELECT DISTINCT x FROM pg_catalog.unnest(channels) x ORDER BY 1);
END
$$;
COMMENT ON FUNCTION cdp_internal.consent_check(text[], text[]) IS
	'validates consent purposes and channels (* = all); returns the channel list (internal)';

/*
 * The canonical form of an address: a phone in E.164, an e-mail as cdp.email prints it, anything
 * else (a vk handle, a postal address) trimmed and lower-cased.
 */
CREATE FUNCTION @extschema@.consent_address_key(address text) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT coalesce(@extschema@.phone_e164(@extschema@.try_phone(address)),
	                (@extschema@.try_email(address))::text,
	                pg_catalog.lower(pg_catalog.btrim(address)))
$$;
COMMENT ON FUNCTION @extschema@.consent_address_key(text) IS
	'canonical key of a contact address for the suppression list: E.164 phone, canonical e-mail, else trimmed lower case';

/* ------------------------------------------------------------------ projections */

CREATE TABLE @extschema@.consent_statement (
	record_id	bigint NOT NULL,
	purpose		text NOT NULL,
	channel		text NOT NULL,
	event_id	bigint NOT NULL,
	granted		boolean NOT NULL,
	at			timestamptz NOT NULL,
	given_for	bigint NOT NULL,
	records		bigint[] NOT NULL,
	address		text,
	evidence	text,
	PRIMARY KEY (record_id, purpose, channel, event_id)
);
COMMENT ON TABLE @extschema@.consent_statement IS
	'consent statements, one row per source record x purpose x channel they cover (projection of consent.granted / consent.withdrawn events)';
ALTER TABLE @extschema@.consent_statement ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.consent_statement FORCE ROW LEVEL SECURITY;

CREATE TABLE @extschema@.consent_suppression (
	address_key	text NOT NULL,
	purpose		text NOT NULL,
	suppressed	boolean NOT NULL,
	at			timestamptz NOT NULL,
	event_id	bigint NOT NULL,
	given_for	bigint NOT NULL,
	records		bigint[] NOT NULL,
	PRIMARY KEY (address_key, purpose)
);
COMMENT ON TABLE @extschema@.consent_suppression IS
	'suppression list: addresses withdrawn from a purpose, for every person who carries them (projection of consent events naming an address)';
ALTER TABLE @extschema@.consent_suppression ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.consent_suppression FORCE ROW LEVEL SECURITY;

/* Applies one consent event's payload to the projections (the live path and the replay). */
CREATE FUNCTION cdp_internal.consent_apply(ev bigint, kind text, at timestamptz, payload jsonb) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	g		boolean := kind = 'consent.granted';
	recs	bigint[] := ARRAY(SELECT pg_catalog.jsonb_array_elements_text(payload -> 'records')::bigint);
	p		text;
BEGIN
	INSERT INTO @extschema@.consent_statement
		(record_id, purpose, channel, event_id, granted, at, given_for, records, address, evidence)
	SELECT r, p2, c, ev, g, consent_apply.at, (payload ->> 'given_for')::bigint, recs,
	       payload ->> 'address', payload ->> 'evidence'
	  FROM pg_catalog.unnest(recs) r,
	       pg_catalog.jsonb_array_elements_text(payload -> 'purposes') p2,
	       pg_catalog.jsonb_array_elements_text(payload -> 'channels') c
	ON CONFLICT DO NOTHING;
	IF payload ->> 'address_key' IS NOT NULL THEN
		FOR p IN SELECT pg_catalog.jsonb_array_elements_text(payload -> 'purposes') LOOP
			/*
			 * The latest withdrawal suppresses; only a later grant naming the address and given
			 * for one of the records that withdrew it lifts it (a duplicate record of someone else
			 * cannot).  Compared by record ids, not golden ids, so a replay after later merges
			 * decides the same.
			 */
			INSERT INTO @extschema@.consent_suppression AS s (address_key, purpose, suppressed, at, event_id, given_for, records)
			VALUES (payload ->> 'address_key', p, NOT g, consent_apply.at, ev, (payload ->> 'given_for')::bigint, recs)
			ON CONFLICT (address_key, purpose) DO UPDATE
			   SET suppressed = excluded.suppressed, at = excluded.at, event_id = excluded.event_id,
			       given_for = excluded.given_for, records = excluded.records
			 WHERE (s.at, s.event_id) < (excluded.at, excluded.event_id)
			   AND (excluded.suppressed OR NOT s.suppressed OR s.records OPERATOR(pg_catalog.&&) excluded.records);
		END LOOP;
	END IF;
END
$$;
COMMENT ON FUNCTION cdp_internal.consent_apply(bigint, text, timestamptz, jsonb) IS
	'applies one consent event to consent_statement and consent_suppression (internal)';

/* ------------------------------------------------------------------ statements */

/*
 * Records one consent statement covering purposes x channels for a person (a golden id, followed
 * through merges): one event, rows for every record the person holds now.  Returns the event id.
 */
CREATE FUNCTION @extschema@.set_consents(golden_id bigint, purposes text[], channels text[], granted boolean,
	at timestamptz DEFAULT now(), evidence text DEFAULT NULL, address text DEFAULT NULL) RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	g		bigint;
	ch		text[];
	recs	bigint[];
	ev		bigint;
	payload	jsonb;
BEGIN
	IF set_consents.golden_id IS NULL OR set_consents.granted IS NULL OR set_consents.at IS NULL THEN
		RAISE EXCEPTION 'golden_id, granted and at must not be null' USING ERRCODE = '22004';
	END IF;
	IF pg_catalog.octet_length(evidence) > 1000 OR pg_catalog.octet_length(address) > 1000 THEN
		RAISE EXCEPTION 'consent evidence and address are at most 1000 bytes' USING ERRCODE = '22023';
	END IF;
	ch := cdp_internal.consent_check(purposes, channels);
	g := @extschema@.resolve_patient(set_consents.golden_id);
	IF g IS NULL THEN
		RAISE EXCEPTION 'patient "%" does not exist', set_consents.golden_id
			USING ERRCODE = 'P0002',
			DETAIL = pg_catalog.format('No golden record has id %s, nor was it merged into one.', set_consents.golden_id),
			HINT = 'Pass a golden_id of cdp.patient.';
	END IF;
	/* the person's records, locked against a concurrent merge or unmerge moving them meanwhile */
	SELECT pg_catalog.array_agg(r.record_id ORDER BY r.record_id) INTO recs
	  FROM (SELECT r.record_id FROM @extschema@.record r WHERE r.golden_id = g ORDER BY r.record_id FOR KEY SHARE) r;
	payload := pg_catalog.jsonb_build_object('given_for', g, 'purposes', pg_catalog.to_jsonb(ARRAY(
	               SELECT DISTINCT x FROM pg_catalog.unnest(purposes) x ORDER BY 1)),
	           'channels', pg_catalog.to_jsonb(ch), 'records', pg_catalog.to_jsonb(recs),
	           'at', set_consents.at, 'evidence', evidence, 'address', address,
	           'address_key', @extschema@.consent_address_key(address));
	ev := cdp_internal.append_event(CASE WHEN set_consents.granted THEN 'consent.granted' ELSE 'consent.withdrawn' END,
	                                g, g, payload);
	PERFORM cdp_internal.consent_apply(ev, CASE WHEN set_consents.granted THEN 'consent.granted' ELSE 'consent.withdrawn' END,
	                                   set_consents.at, payload);
	RETURN ev;
END
$$;
COMMENT ON FUNCTION @extschema@.set_consents(bigint, text[], text[], boolean, timestamptz, text, text) IS
	'records one consent statement covering several purposes x channels (* = all channels), e.g. a framework consent document; returns the event id';

CREATE FUNCTION @extschema@.set_consent(golden_id bigint, purpose text, channel text, granted boolean,
	at timestamptz DEFAULT now(), evidence text DEFAULT NULL, address text DEFAULT NULL) RETURNS bigint
	LANGUAGE sql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$ SELECT @extschema@.set_consents($1, ARRAY[$2], ARRAY[$3], $4, $5, $6, $7) $$;
COMMENT ON FUNCTION @extschema@.set_consent(bigint, text, text, boolean, timestamptz, text, text) IS
	'grants or withdraws consent of a person for one purpose and channel (* = all channels); returns the event id; e.g. set_consent(42, ''marketing'', ''sms'', false)';

/* ------------------------------------------------------------------ reading */

/*
 * The state of one person per purpose x channel with the statement behind it (NULL event_id: the
 * default).  The fold of every statement row of the person's records: a grant counts only while
 * all the records it was given for belong to the person; latest wins, a withdrawal wins a tie.
 */
CREATE FUNCTION @extschema@.consent_now(golden_id bigint)
	RETURNS TABLE (purpose text, channel text, granted boolean, at timestamptz, event_id bigint,
	               evidence text, address text, is_default boolean)
	LANGUAGE sql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	WITH g AS (SELECT @extschema@.resolve_patient($1) AS g),
	rows AS (
		SELECT DISTINCT ON (s.purpose, s.channel) s.purpose, s.channel, s.granted, s.at, s.event_id, s.evidence, s.address
		  FROM g JOIN @extschema@.record r ON r.golden_id = g.g
		  JOIN @extschema@.consent_statement s ON s.record_id = r.record_id
		 WHERE NOT s.granted
		    OR NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(s.records) x
		                    JOIN @extschema@.record r2 ON r2.record_id = x
		                   WHERE r2.golden_id <> g.g)
		 ORDER BY s.purpose, s.channel, s.at DESC, s.granted, s.event_id DESC)
	SELECT p.purpose, c.channel, coalesce(rows.granted, p.default_granted), rows.at, rows.event_id,
	       rows.evidence, rows.address, rows.event_id IS NULL
	  FROM g, @extschema@.consent_purposes() p CROSS JOIN @extschema@.consent_channels() c
	  LEFT JOIN rows ON rows.purpose = p.purpose AND rows.channel = c.channel
	 WHERE g.g IS NOT NULL
	 ORDER BY p.purpose, c.channel
$$;
COMMENT ON FUNCTION @extschema@.consent_now(bigint) IS
	'consent of a person per purpose x channel now, with the statement behind each (is_default when none)';

/*
 * The addresses of a person for a channel, from the golden profile (canonical keys).
 */
CREATE FUNCTION cdp_internal.consent_addresses(p @extschema@.patient, channel text) RETURNS text[]
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT CASE
	  WHEN channel = 'email' THEN
	    ARRAY(SELECT @extschema@.consent_address_key(x ->> 'value') FROM pg_catalog.jsonb_array_elements(p.emails) x)
	  WHEN channel IN ('sms', 'messenger', 'call') THEN
	    ARRAY(SELECT @extschema@.consent_address_key(x ->> 'value') FROM pg_catalog.jsonb_array_elements(p.phones) x)
	  WHEN channel = 'social' THEN
	    ARRAY(SELECT @extschema@.consent_address_key(x ->> 'value') FROM pg_catalog.jsonb_array_elements(p.handles) x
	           WHERE x ->> 'network' = 'vk')
	  WHEN channel = 'post' THEN
	    ARRAY(SELECT @extschema@.consent_address_key(p.address) WHERE p.address IS NOT NULL)
	  END
$$;
COMMENT ON FUNCTION cdp_internal.consent_addresses(@extschema@.patient, text) IS
	'canonical addresses of a golden profile for a contact channel (internal)';

/* Is an address on the suppression list for a purpose? */
CREATE FUNCTION @extschema@.is_suppressed(address text, purpose text) RETURNS boolean
	LANGUAGE sql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT EXISTS (SELECT 1 FROM @extschema@.consent_suppression s
	                WHERE s.address_key = @extschema@.consent_address_key($1) AND s.purpose = $2 AND s.suppressed)
$$;
COMMENT ON FUNCTION @extschema@.is_suppressed(text, text) IS
	'true when the address was withdrawn from the purpose by anyone (suppression list); campaigns check the address they send to';

/*
 * May the person be contacted for the purpose through the channel?  The person's consent (the
 * fold of consent_now, defaults included), and, when the person has addresses for the channel,
 * at least one of them not suppressed for the purpose.  Unknown persons: false.
 */
CREATE FUNCTION @extschema@.may_contact(golden_id bigint, purpose text, channel text) RETURNS boolean
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	g		bigint;
	p		@extschema@.patient;
	ok		boolean;
	addrs	text[];
BEGIN
	IF may_contact.golden_id IS NULL THEN
		RETURN false;
	END IF;
	PERFORM cdp_internal.consent_check(ARRAY[purpose], ARRAY[channel]);
	IF channel = '*' THEN
		RAISE EXCEPTION 'may_contact asks about one channel' USING ERRCODE = '22023',
			HINT = 'Use email, sms, messenger, social, call or post.';
	END IF;
	g := @extschema@.resolve_patient(may_contact.golden_id);
	IF g IS NULL THEN
		RETURN false;
	END IF;
	SELECT s.granted INTO ok
	  FROM @extschema@.record r
	  JOIN @extschema@.consent_statement s ON s.record_id = r.record_id
	       AND s.purpose = may_contact.purpose AND s.channel = may_contact.channel
	 WHERE r.golden_id = g
	   AND (NOT s.granted
	        OR NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(s.records) x
	                        JOIN @extschema@.record r2 ON r2.record_id = x
	                       WHERE r2.golden_id <> g))
	 ORDER BY s.at DESC, s.granted, s.event_id DESC
	 LIMIT 1;
	IF NOT FOUND THEN
		SELECT x.default_granted INTO ok FROM @extschema@.consent_purposes() x WHERE x.purpose = may_contact.purpose;
	END IF;
	IF NOT ok THEN
		RETURN false;
	END IF;
	SELECT * INTO p FROM @extschema@.patient x WHERE x.golden_id = g;
	addrs := cdp_internal.consent_addresses(p, channel);
	IF pg_catalog.cardinality(addrs) > 0
	   AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(addrs) a
	                    WHERE NOT EXISTS (SELECT 1 FROM @extschema@.consent_suppression s
	                                       WHERE s.address_key = a AND s.purpose = may_contact.purpose AND s.suppressed)) THEN
		RETURN false;
	END IF;
	RETURN true;
END
$$;
COMMENT ON FUNCTION @extschema@.may_contact(bigint, text, text) IS
	'true when the person may be contacted for the purpose through the channel: consent (defaults included) and not every address of the channel suppressed; e.g. may_contact(42, ''marketing'', ''sms'')';

/* ------------------------------------------------------------------ replay */

/*
 * Rebuilds the consent projections from the log: the rows equal the live ones (test/pgtap).
 * Returns the number of consent events replayed.
 */
CREATE FUNCTION @extschema@.rebuild_consent() RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	e		record;
	n		bigint := 0;
BEGIN
	LOCK TABLE @extschema@.consent_statement, @extschema@.consent_suppression IN EXCLUSIVE MODE;
	DELETE FROM @extschema@.consent_statement;
	DELETE FROM @extschema@.consent_suppression;
	FOR e IN SELECT x.event_id, x.kind, x.payload FROM @extschema@.event x
	          WHERE x.kind IN ('consent.granted', 'consent.withdrawn') ORDER BY x.event_id LOOP
		PERFORM cdp_internal.consent_apply(e.event_id, e.kind, (e.payload ->> 'at')::timestamptz, e.payload);
		n := n + 1;
	END LOOP;
	RETURN n;
END
$$;
COMMENT ON FUNCTION @extschema@.rebuild_consent() IS
	'replays the consent events of cdp.event into consent_statement and consent_suppression; returns how many';

REVOKE ALL ON FUNCTION @extschema@.set_consents(bigint, text[], text[], boolean, timestamptz, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.set_consent(bigint, text, text, boolean, timestamptz, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.rebuild_consent() FROM PUBLIC;

/*
 * sql/parts/81_offer.sql: layer 8, offers with contraindications (issue 13).  See doc/consent.md.
 *
 * An offer is a JSON document validated on save (cdp_internal.offer_check), kept in versions; the
 * current version and status are a projection of offer.created / offer.edited / offer.archived /
 * offer.restored events.  cdp.offer_block_reason(golden_id, offer_id) names the first rule that
 * keeps a person from an offer; segments apply it to every member as their last guard.
 */

/* ------------------------------------------------------------------ ICD-10 ranges */

/*
 * Parses one ICD-10 code or range ("C61", "E11.9", "N40-N42", "O00-O99") into its bounds.  A code
 * covers itself and every code under it (C61 covers C61.0); a range covers every code whose
 * prefix of the bound's length lies between the bounds.  22023 naming the value otherwise.
 */
CREATE FUNCTION cdp_internal.icd10_range(spec text, path text, OUT lo text, OUT hi text)
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	m	text[];
BEGIN
	m := pg_catalog.regexp_match(pg_catalog.upper(pg_catalog.btrim(coalesce(spec, ''))),
	        '^([A-Z][0-9]{2}(?:\.[0-9]{1,2})?)(?:\s*-\s*([A-Z][0-9]{2}(?:\.[0-9]{1,2})?))?$');
	IF m IS NULL OR (m[2] IS NOT NULL AND m[2] COLLATE "C" < m[1] COLLATE "C") THEN
		RAISE EXCEPTION 'invalid ICD-10 code or range "%"', pg_catalog.left(coalesce(spec, 'null'), 64)
			USING ERRCODE = '22023',
			DETAIL = pg_catalog.format('At %s.', path),
			HINT = 'Use a code like "C61" or "E11.9", or a range like "N40-N42" (low end first).';
	END IF;
	lo := m[1];
	hi := coalesce(m[2], m[1]);
END
$$;
COMMENT ON FUNCTION cdp_internal.icd10_range(text, text) IS
	'bounds of an ICD-10 code or range such as N40-N42; 22023 naming the JSON path when malformed (internal)';

/* Does an ICD-10 code fall within the bounds of cdp_internal.icd10_range? */
CREATE FUNCTION cdp_internal.icd10_in(code text, lo text, hi text) RETURNS boolean
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT pg_catalog.left(code, pg_catalog.length(lo)) COLLATE "C" >= lo COLLATE "C"
	   AND pg_catalog.left(code, pg_catalog.length(hi)) COLLATE "C" <= hi COLLATE "C"
$$;
COMMENT ON FUNCTION cdp_internal.icd10_in(text, text, text) IS
	'true when an ICD-10 code lies within a code range (prefix comparison, C collation) (internal)';

/* ------------------------------------------------------------------ offers */

CREATE SEQUENCE @extschema@.offer_id_seq;
COMMENT ON SEQUENCE @extschema@.offer_id_seq IS 'ids of cdp.offer';

CREATE TABLE @extschema@.offer (
	offer_id	bigint PRIMARY KEY,
	version		int NOT NULL,
	name		text NOT NULL,
	status		text NOT NULL CHECK (status IN ('active', 'archived')),
	doc			jsonb NOT NULL,
	created_at	timestamptz NOT NULL,
	updated_at	timestamptz NOT NULL
);
COMMENT ON TABLE @extschema@.offer IS
	'offers: the current version of each, with its status (projection of offer.* events)';
ALTER TABLE @extschema@.offer ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.offer FORCE ROW LEVEL SECURITY;

CREATE TABLE @extschema@.offer_version (
	offer_id	bigint NOT NULL,
	version		int NOT NULL,
	doc			jsonb NOT NULL,
	at			timestamptz NOT NULL,
	event_id	bigint NOT NULL,
	PRIMARY KEY (offer_id, version)
);
COMMENT ON TABLE @extschema@.offer_version IS
	'every version of every offer document (projection of offer.created / offer.edited events)';
ALTER TABLE @extschema@.offer_version ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.offer_version FORCE ROW LEVEL SECURITY;

/*
 * Validates an offer document and returns it normalised: exclude_icd10 as a list of
 * {"spec", "lo", "hi"}.  Unknown keys, wrong types, an empty name, an age range out of order or
 * valid_to before valid_from: 22023 with the JSON path in the detail and an accepted form in the hint.
 */
CREATE FUNCTION cdp_internal.offer_check(doc jsonb) RETURNS jsonb
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	k		text;
	v		jsonb;
	r		record;
	ex		jsonb := '[]';
	i		int := 0;
	allowed	constant text[] := ARRAY['name', 'service', 'sex', 'age', 'exclude_icd10', 'exclude_pregnant',
	                                 'requires_service', 'requires_lab', 'valid_from', 'valid_to', 'description'];
	example	constant text := 'Accepted: {"name": "...", "service": "urology", "sex": "M", "age": [40, 75], "exclude_icd10": ["C61", "N40-N42"], "exclude_pregnant": false, "requires_lab": "PSA", "valid_from": "2026-01-01", "valid_to": "2026-12-31"}.';
BEGIN
	IF doc IS NULL OR pg_catalog.jsonb_typeof(doc) <> 'object' THEN
		RAISE EXCEPTION 'an offer must be a JSON object' USING ERRCODE = '22023', DETAIL = 'At $.', HINT = example;
	END IF;
	FOR k, v IN SELECT * FROM pg_catalog.jsonb_each(doc) LOOP
		IF NOT k = ANY (allowed) THEN
			RAISE EXCEPTION 'unknown offer key "%"', pg_catalog.left(k, 64) USING ERRCODE = '22023',
				DETAIL = pg_catalog.format('At $.%s.', pg_catalog.left(k, 64)),
				HINT = 'Known keys: ' || pg_catalog.array_to_string(allowed, ', ') || '.';
		END IF;
		IF k IN ('name', 'service', 'sex', 'requires_service', 'requires_lab', 'valid_from', 'valid_to', 'description')
		   AND pg_catalog.jsonb_typeof(v) <> 'string' THEN
			RAISE EXCEPTION 'offer key "%" must be a string', k USING ERRCODE = '22023',
				DETAIL = pg_catalog.format('At $.%s: found %s.', k, pg_catalog.jsonb_typeof(v)), HINT = example;
		END IF;
		IF pg_catalog.jsonb_typeof(v) = 'string' AND pg_catalog.octet_length(v #>> '{}') > 1000 THEN
			RAISE EXCEPTION 'offer key "%" is longer than 1000 bytes', k USING ERRCODE = '22023',
				DETAIL = pg_catalog.format('At $.%s.', k);
		END IF;
	END LOOP;
	IF coalesce(pg_catalog.btrim(doc ->> 'name'), '') = '' THEN
		RAISE EXCEPTION 'an offer needs a name' USING ERRCODE = '22023', DETAIL = 'At $.name.', HINT = example;
	END IF;
	IF doc ? 'sex' AND NOT (doc ->> 'sex') IN ('M', 'F') THEN
		RAISE EXCEPTION 'invalid offer sex "%"', pg_catalog.left(doc ->> 'sex', 64) USING ERRCODE = '22023',
			DETAIL = 'At $.sex.', HINT = 'Use "M" or "F", or leave the key out for both.';
	END IF;
	IF doc ? 'age' THEN
		v := doc -> 'age';
		IF pg_catalog.jsonb_typeof(v) <> 'array' OR pg_catalog.jsonb_array_length(v) <> 2
		   OR pg_catalog.jsonb_typeof(v -> 0) <> 'number' OR pg_catalog.jsonb_typeof(v -> 1) <> 'number'
		   OR (v ->> 0)::numeric <> pg_catalog.trunc((v ->> 0)::numeric) OR (v ->> 1)::numeric <> pg_catalog.trunc((v ->> 1)::numeric)
		   OR (v ->> 0)::numeric < 0 OR (v ->> 1)::numeric > 150 OR (v ->> 0)::numeric > (v ->> 1)::numeric THEN
			RAISE EXCEPTION 'invalid offer age range' USING ERRCODE = '22023',
				DETAIL = 'At $.age.', HINT = 'Use [lowest, highest] in whole years, for example [40, 75].';
		END IF;
	END IF;
	IF doc ? 'exclude_pregnant' AND pg_catalog.jsonb_typeof(doc -> 'exclude_pregnant') <> 'boolean' THEN
		RAISE EXCEPTION 'offer key "exclude_pregnant" must be true or false' USING ERRCODE = '22023',
			DETAIL = 'At $.exclude_pregnant.';
	END IF;
	IF doc ? 'exclude_icd10' THEN
		IF pg_catalog.jsonb_typeof(doc -> 'exclude_icd10') <> 'array' THEN
			RAISE EXCEPTION 'offer key "exclude_icd10" must be an array' USING ERRCODE = '22023',
				DETAIL = 'At $.exclude_icd10.', HINT = 'Use ["C61", "N40-N42"].';
		END IF;
		FOR v IN SELECT * FROM pg_catalog.jsonb_array_elements(doc -> 'exclude_icd10') LOOP
			IF pg_catalog.jsonb_typeof(v) <> 'string' THEN
				RAISE EXCEPTION 'invalid ICD-10 code or range' USING ERRCODE = '22023',
					DETAIL = pg_catalog.format('At $.exclude_icd10[%s].', i), HINT = 'Use ["C61", "N40-N42"].';
			END IF;
			r := cdp_internal.icd10_range(v #>> '{}', pg_catalog.format('$.exclude_icd10[%s]', i));
			ex := ex || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('spec', v #>> '{}', 'lo', r.lo, 'hi', r.hi));
			i := i + 1;
		END LOOP;
		doc := doc || pg_catalog.jsonb_build_object('exclude_ranges', ex);
	END IF;
	FOREACH k IN ARRAY ARRAY['valid_from', 'valid_to'] LOOP
		IF doc ? k AND NOT (doc ->> k) ~ '^\d{4}-\d{2}-\d{2}$' THEN
			RAISE EXCEPTION 'invalid offer date "%"', pg_catalog.left(doc ->> k, 64) USING ERRCODE = '22023',
				DETAIL = pg_catalog.format('At $.%s.', k), HINT = 'Use an ISO date, for example "2026-12-31".';
		END IF;
		IF doc ? k THEN
			BEGIN
				PERFORM (doc ->> k)::date;
			EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
				RAISE EXCEPTION 'invalid offer date "%"', doc ->> k USING ERRCODE = '22023',
					DETAIL = pg_catalog.format('At $.%s.', k), HINT = 'Use an ISO date, for example "2026-12-31".';
			END;
		END IF;
	END LOOP;
	IF (doc ->> 'valid_to')::date < (doc ->> 'valid_from')::date THEN
		RAISE EXCEPTION 'offer valid_to is before valid_from' USING ERRCODE = '22023', DETAIL = 'At $.valid_to.';
	END IF;
	RETURN doc;
END
$$;
COMMENT ON FUNCTION cdp_internal.offer_check(jsonb) IS
	'validates an offer document and returns it with parsed exclude ranges; 22023 with the JSON path (internal)';

/* Applies one offer event to the projections (live path and replay). */
CREATE FUNCTION cdp_internal.offer_apply(ev bigint, kind text, at timestamptz, id bigint, payload jsonb) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF kind IN ('offer.created', 'offer.edited') THEN
		INSERT INTO @extschema@.offer_version (offer_id, version, doc, at, event_id)
		VALUES (id, (payload ->> 'version')::int, payload -> 'doc', at, ev);
		INSERT INTO @extschema@.offer AS o (offer_id, version, name, status, doc, created_at, updated_at)
		VALUES (id, (payload ->> 'version')::int, payload -> 'doc' ->> 'name', 'active', payload -> 'doc', at, at)
		ON CONFLICT (offer_id) DO UPDATE SET version = excluded.version, name = excluded.name, doc = excluded.doc,
			updated_at = excluded.updated_at;
	ELSE
		UPDATE @extschema@.offer o SET status = CASE kind WHEN 'offer.archived' THEN 'archived' ELSE 'active' END,
		       updated_at = at
		 WHERE o.offer_id = id;
	END IF;
END
$$;
COMMENT ON FUNCTION cdp_internal.offer_apply(bigint, text, timestamptz, bigint, jsonb) IS
	'applies one offer event to cdp.offer and cdp.offer_version (internal)';

/* Creates an offer from a validated document; returns its id. */
CREATE FUNCTION @extschema@.create_offer(doc jsonb) RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	id		bigint;
	d		jsonb := cdp_internal.offer_check(doc);
	ev		bigint;
	payload	jsonb;
BEGIN
	id := pg_catalog.nextval('@extschema@.offer_id_seq');
	payload := pg_catalog.jsonb_build_object('version', 1, 'doc', d);
	ev := cdp_internal.append_event('offer.created', id, NULL, payload);
	PERFORM cdp_internal.offer_apply(ev, 'offer.created', (SELECT e.at FROM @extschema@.event e WHERE e.event_id = ev), id, payload);
	RETURN id;
END
$$;
COMMENT ON FUNCTION @extschema@.create_offer(jsonb) IS
	'creates an offer (service, sex, age range, excluded ICD-10 codes and ranges, pregnancy, required prior service or lab, validity); returns its id';

/* The current row of an offer, locked, or P0002. */
CREATE FUNCTION cdp_internal.offer_get(id bigint, lock boolean) RETURNS @extschema@.offer
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	o	@extschema@.offer;
BEGIN
	IF lock THEN
		SELECT * INTO o FROM @extschema@.offer x WHERE x.offer_id = id FOR UPDATE;
	ELSE
		SELECT * INTO o FROM @extschema@.offer x WHERE x.offer_id = id;
	END IF;
	IF o.offer_id IS NULL THEN
		RAISE EXCEPTION 'offer "%" does not exist', id USING ERRCODE = 'P0002',
			HINT = 'Pass an offer_id returned by cdp.create_offer.';
	END IF;
	RETURN o;
END
$$;
COMMENT ON FUNCTION cdp_internal.offer_get(bigint, boolean) IS
	'the current row of an offer (optionally locked); P0002 when unknown (internal)';

/* Saves a new version of an offer; the old versions stay readable in cdp.offer_version. */
CREATE FUNCTION @extschema@.edit_offer(offer_id bigint, doc jsonb) RETURNS int
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	o		@extschema@.offer := cdp_internal.offer_get(edit_offer.offer_id, true);
	d		jsonb := cdp_internal.offer_check(doc);
	ev		bigint;
	payload	jsonb := pg_catalog.jsonb_build_object('version', o.version + 1, 'doc', d);
BEGIN
	ev := cdp_internal.append_event('offer.edited', o.offer_id, NULL, payload);
	PERFORM cdp_internal.offer_apply(ev, 'offer.edited', (SELECT e.at FROM @extschema@.event e WHERE e.event_id = ev), o.offer_id, payload);
	RETURN o.version + 1;
END
$$;
COMMENT ON FUNCTION @extschema@.edit_offer(bigint, jsonb) IS
	'saves a new version of an offer document; returns the version number';

/* Archives (true) or restores (false) an offer. */
CREATE FUNCTION @extschema@.archive_offer(offer_id bigint, archived boolean DEFAULT true) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	o		@extschema@.offer := cdp_internal.offer_get(archive_offer.offer_id, true);
	k		text := CASE WHEN archived THEN 'offer.archived' ELSE 'offer.restored' END;
	ev		bigint;
BEGIN
	IF archived IS NULL OR (o.status = 'archived') = archived THEN
		RETURN;
	END IF;
	ev := cdp_internal.append_event(k, o.offer_id, NULL, '{}');
	PERFORM cdp_internal.offer_apply(ev, k, (SELECT e.at FROM @extschema@.event e WHERE e.event_id = ev), o.offer_id, '{}');
END
$$;
COMMENT ON FUNCTION @extschema@.archive_offer(bigint, boolean) IS
	'archives an offer (archived => false restores it); an archived offer blocks every person';

/*
 * The first reason that keeps a person (a profile row) from an offer document on a day, or NULL.
 * Order: validity of the offer, sex, age, contraindication (the person's first excluded diagnosis
 * code, ever), pregnancy (Z33 or O00-O99 within 10 months before the day, or a record flagged
 * "pregnant": true), then the required prior service or lab test.  A restriction the person's data
 * cannot confirm (sex or birth date unknown) blocks.
 */
CREATE FUNCTION cdp_internal.offer_reason(p @extschema@.patient, o @extschema@.offer, on_day date) RETURNS text
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	d		jsonb := o.doc;
	code	text;
	age		int;
BEGIN
	IF p.golden_id IS NULL THEN
		RETURN 'unknown_patient';
	ELSIF p.status <> 'active' THEN
		RETURN 'archived_patient';
	ELSIF o.status <> 'active' THEN
		RETURN 'offer_archived';
	ELSIF on_day < (d ->> 'valid_from')::date THEN
		RETURN 'not_yet_valid';
	ELSIF on_day > (d ->> 'valid_to')::date THEN
		RETURN 'expired';
	END IF;
	IF d ? 'sex' AND p.sex IS DISTINCT FROM (d ->> 'sex') THEN
		RETURN 'sex';
	END IF;
	IF d ? 'age' THEN
		age := EXTRACT(year FROM pg_catalog.age(on_day, p.birth_date))::int;
		IF age IS NULL OR age < (d -> 'age' ->> 0)::int OR age > (d -> 'age' ->> 1)::int THEN
			RETURN 'age';
		END IF;
	END IF;
	IF d ? 'exclude_ranges' THEN
		SELECT c.icd10 INTO code
		  FROM @extschema@.clinical_event c
		  JOIN pg_catalog.jsonb_array_elements(d -> 'exclude_ranges') x ON cdp_internal.icd10_in(c.icd10, x ->> 'lo', x ->> 'hi')
		 WHERE c.golden_id = p.golden_id AND c.kind = 'diagnosis'
		 ORDER BY c.at, c.event_id
		 LIMIT 1;
		IF code IS NOT NULL THEN
			RETURN 'contraindication:' || code;
		END IF;
	END IF;
	IF (d ->> 'exclude_pregnant')::boolean THEN
		IF EXISTS (SELECT 1 FROM @extschema@.clinical_event c
		            WHERE c.golden_id = p.golden_id AND c.kind = 'diagnosis'
		              AND c.at >= on_day - interval '10 months' AND c.at < on_day + 1
		              AND (cdp_internal.icd10_in(c.icd10, 'Z33', 'Z33') OR cdp_internal.icd10_in(c.icd10, 'O00', 'O99')))
		   OR EXISTS (SELECT 1 FROM @extschema@.record r
		               WHERE r.golden_id = p.golden_id AND r.extra ->> 'pregnant' = 'true') THEN
			RETURN 'pregnancy';
		END IF;
	END IF;
	IF d ? 'requires_service' AND NOT EXISTS (
			SELECT 1 FROM @extschema@.clinical_event c
			 WHERE c.golden_id = p.golden_id AND c.kind = 'visit' AND c.specialty = d ->> 'requires_service'
			   AND c.visit_status IN ('came', 'in_appointment', 'done')) THEN
		RETURN 'requires:' || (d ->> 'requires_service');
	END IF;
	IF d ? 'requires_lab' AND NOT EXISTS (
			SELECT 1 FROM @extschema@.clinical_event c
			 WHERE c.golden_id = p.golden_id AND c.kind = 'lab_test' AND c.lab_code = d ->> 'requires_lab') THEN
		RETURN 'requires:' || (d ->> 'requires_lab');
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION cdp_internal.offer_reason(@extschema@.patient, @extschema@.offer, date) IS
	'the first reason a profile is kept from an offer on a day, or NULL (internal; shared by offer_block_reason and segments)';

/*
 * Why may the person not get the offer today?  NULL when nothing blocks it, else the first
 * reason: offer_archived, not_yet_valid, expired, sex, age, contraindication:<code>, pregnancy,
 * requires:<service or lab>; unknown_patient / archived_patient for the person.
 */
CREATE FUNCTION @extschema@.offer_block_reason(golden_id bigint, offer_id bigint) RETURNS text
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	p	@extschema@.patient;
	o	@extschema@.offer;
BEGIN
	IF offer_block_reason.offer_id IS NULL THEN
		RAISE EXCEPTION 'offer_id must not be null' USING ERRCODE = '22004';
	END IF;
	SELECT * INTO o FROM @extschema@.offer x WHERE x.offer_id = offer_block_reason.offer_id;
	IF o.offer_id IS NULL THEN
		RAISE EXCEPTION 'offer "%" does not exist', offer_block_reason.offer_id USING ERRCODE = 'P0002',
			HINT = 'Pass an offer_id returned by cdp.create_offer.';
	END IF;
	SELECT * INTO p FROM @extschema@.patient x WHERE x.golden_id = @extschema@.resolve_patient(offer_block_reason.golden_id);
	RETURN cdp_internal.offer_reason(p, o, CURRENT_DATE);
END
$$;
COMMENT ON FUNCTION @extschema@.offer_block_reason(bigint, bigint) IS
	'NULL when the person may get the offer today, else the first reason: sex, age, contraindication:N40, pregnancy, expired, ...; e.g. offer_block_reason(42, 1)';

/* Replays the offer events into the projections; returns how many. */
CREATE FUNCTION @extschema@.rebuild_offers() RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	e	record;
	n	bigint := 0;
BEGIN
	LOCK TABLE @extschema@.offer, @extschema@.offer_version IN EXCLUSIVE MODE;
	DELETE FROM @extschema@.offer_version;
	DELETE FROM @extschema@.offer;
	FOR e IN SELECT x.event_id, x.kind, x.at, x.subject, x.payload FROM @extschema@.event x
	          WHERE x.kind LIKE 'offer.%' ORDER BY x.event_id LOOP
		PERFORM cdp_internal.offer_apply(e.event_id, e.kind, e.at, e.subject, e.payload);
		n := n + 1;
	END LOOP;
	RETURN n;
END
$$;
COMMENT ON FUNCTION @extschema@.rebuild_offers() IS
	'replays the offer events of cdp.event into cdp.offer and cdp.offer_version; returns how many';

REVOKE ALL ON FUNCTION @extschema@.create_offer(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.edit_offer(bigint, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.archive_offer(bigint, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.rebuild_offers() FROM PUBLIC;

/* cdp_internal functions of this section: no EXECUTE for PUBLIC (as sql/parts/90_privileges.sql does at install) */
DO $privileges$
DECLARE
	f	regprocedure;
BEGIN
	FOR f IN
		SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
		 WHERE p.pronamespace OPERATOR(pg_catalog.=) 'cdp_internal'::regnamespace
		   AND (p.proname OPERATOR(pg_catalog.~) '^(consent|offer|icd10|seg)_')
	LOOP
		EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
	END LOOP;
END
$privileges$;

/* every table and sequence of this section is dumped whole (as sql/parts/95_dump.sql does at install) */
DO $dump$
DECLARE
	r	regclass;
BEGIN
	FOR r IN
		SELECT c.oid::regclass FROM pg_catalog.pg_class c
		 WHERE c.relnamespace OPERATOR(pg_catalog.=) ANY (ARRAY['@extschema@'::regnamespace, 'cdp_internal'::regnamespace])
		   AND c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p', 'S']::"char"[])
		   AND (c.relname OPERATOR(pg_catalog.~) '^(consent|offer|segment|seg)_' OR c.relname OPERATOR(pg_catalog.=) ANY (ARRAY['offer', 'segment']))
		 ORDER BY c.relname
	LOOP
		PERFORM pg_catalog.pg_extension_config_dump(r, '');
	END LOOP;
END
$dump$;

/* ==== end of section: consent, offers and segments ==== */


/* ==== section: campaigns (issue 14) ==== */

/* ==== end of section: campaigns ==== */


/* ==== section: access (issue 15) ==== */

/* ==== end of section: access ==== */


/* ==== section: import (issue 16) ==== */

/* ==== end of section: import ==== */
