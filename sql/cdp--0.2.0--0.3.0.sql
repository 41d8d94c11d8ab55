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

/*
 * Does a statement row count for person g?  A withdrawal always does; a grant only while every
 * record it was given for still belongs to g (after an unmerge a grant given while merged may
 * have been the other person's).  The one place that rule is written (consent_now, may_contact,
 * the segments' set form).
 */
CREATE FUNCTION cdp_internal.consent_counts(granted boolean, records bigint[], g bigint) RETURNS boolean
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT NOT $1 OR NOT EXISTS (SELECT 1 FROM pg_catalog.unnest($2) x JOIN @extschema@.record r ON r.record_id = x
	                              WHERE r.golden_id <> $3)
$$;
COMMENT ON FUNCTION cdp_internal.consent_counts(boolean, bigint[], bigint) IS
	'whether a consent statement row counts for a person: withdrawals always, grants while all their records belong to the person (internal)';

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
		 WHERE cdp_internal.consent_counts(s.granted, s.records, g.g)
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
	   AND cdp_internal.consent_counts(s.granted, s.records, g)
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

/*
 * sql/parts/82_segment_rules.sql: layer 8, the segment rule language (issue 13): sensitive
 * categories, validation and compilation.  See doc/segments.md.
 *
 * A rule is a JSON tree of all / any / not over leaves (profile attributes, clinical events,
 * other segments).  cdp_internal.seg_compile validates it and turns every leaf into two SQL
 * statements: "gen" (the golden ids meeting the leaf, read through an index or one scan) and
 * "filter" (those of a candidate set $1 meeting it, one index probe per candidate).  Nothing of
 * the input is pasted into SQL: attribute, event and column names come from the fixed catalogue
 * in this file, every value is checked against its type and written as a literal quoted by
 * format('%L') with a cast.  Errors are 22023 with the JSON path of the clause in the detail and
 * an accepted form in the hint.  The evaluator (83_segment_eval.sql) decides which of the two
 * statements to run and in which order.
 */

/* ------------------------------------------------------------------ sensitive categories */

CREATE TABLE @extschema@.sensitive_category (
	code_range	text PRIMARY KEY,
	lo			text NOT NULL,
	hi			text NOT NULL,
	label		text NOT NULL
);
COMMENT ON TABLE @extschema@.sensitive_category IS
	'the configured ICD-10 ranges a marketing segment may not reference; empty means the built-in list (cdp.sensitive_categories())';
ALTER TABLE @extschema@.sensitive_category ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.sensitive_category FORCE ROW LEVEL SECURITY;

/*
 * The sensitive ranges in force: the configured ones, or the built-in list while none is
 * configured (the table is installed empty, so a dump's rows restore into it without a clash).
 */
CREATE FUNCTION @extschema@.sensitive_categories(OUT code_range text, OUT lo text, OUT hi text, OUT label text)
	RETURNS SETOF record
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT s.code_range, s.lo, s.hi, s.label FROM @extschema@.sensitive_category s
	UNION ALL
	SELECT * FROM (VALUES
		('B20-B24', 'B20', 'B24', 'HIV disease'),
		('Z21', 'Z21', 'Z21', 'asymptomatic HIV infection'),
		('F00-F99', 'F00', 'F99', 'mental and behavioural disorders (substance use F10-F19 included)'),
		('C00-D48', 'C00', 'D48', 'neoplasms'),
		('A50-A64', 'A50', 'A64', 'infections with a predominantly sexual mode of transmission'),
		('O04', 'O04', 'O04', 'medical abortion'),
		('Z30', 'Z30', 'Z30', 'contraceptive management'),
		('X60-X84', 'X60', 'X84', 'intentional self-harm')) d(code_range, lo, hi, label)
	 WHERE NOT EXISTS (SELECT 1 FROM @extschema@.sensitive_category)
$$;
COMMENT ON FUNCTION @extschema@.sensitive_categories() IS
	'the sensitive ICD-10 ranges in force: the configured list, else the built-in one (HIV, mental health, neoplasms, STIs, abortion, contraception, self-harm)';

/* Replaces the list of sensitive ranges: {"B20-B24": "HIV disease", ...}; returns how many. */
CREATE FUNCTION @extschema@.configure_sensitive_categories(doc jsonb) RETURNS int
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	k	text;
	v	jsonb;
	r	record;
	n	int := 0;
BEGIN
	IF doc IS NULL OR pg_catalog.jsonb_typeof(doc) <> 'object' OR doc = '{}' THEN
		RAISE EXCEPTION 'sensitive categories must be a non-empty JSON object' USING ERRCODE = '22023',
			DETAIL = 'At $.', HINT = 'Use {"B20-B24": "HIV disease", "F00-F99": "mental disorders"}.';
	END IF;
	DELETE FROM @extschema@.sensitive_category;
	FOR k, v IN SELECT * FROM pg_catalog.jsonb_each(doc) LOOP
		r := cdp_internal.icd10_range(k, '$."' || pg_catalog.left(k, 32) || '"');
		INSERT INTO @extschema@.sensitive_category VALUES (pg_catalog.upper(k), r.lo, r.hi, coalesce(v #>> '{}', ''));
		n := n + 1;
	END LOOP;
	PERFORM cdp_internal.append_event('segment.sensitive_configured', NULL, NULL, pg_catalog.jsonb_build_object('categories', doc));
	RETURN n;
END
$$;
COMMENT ON FUNCTION @extschema@.configure_sensitive_categories(jsonb) IS
	'replaces the sensitive ICD-10 ranges, e.g. configure_sensitive_categories(''{"B20-B24": "HIV disease"}'')';

/*
 * May the current role save or preview a treatment segment that references a sensitive
 * category?  Until the access issue adds roles: members of a role named cdp_doctor when it
 * exists, else superusers and the owner of schema cdp only.
 */
CREATE FUNCTION cdp_internal.seg_may_use_sensitive() RETURNS boolean
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = 'cdp_doctor')
	            THEN pg_catalog.pg_has_role(CURRENT_USER, 'cdp_doctor', 'MEMBER')
	            ELSE (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER)
	                 OR pg_catalog.pg_has_role(CURRENT_USER,
	                        (SELECT n.nspowner FROM pg_catalog.pg_namespace n WHERE n.nspname = '@extschema@'), 'MEMBER')
	       END
$$;
COMMENT ON FUNCTION cdp_internal.seg_may_use_sensitive() IS
	'true when the current role may target sensitive diagnoses in a treatment segment: member of cdp_doctor if that role exists, else superuser or owner (internal)';

/*
 * The sensitive categories an ICD-10 range [lo, hi] overlaps (3-character categories compared),
 * as text, or NULL.  SECURITY DEFINER: the check must not depend on what the caller may read of
 * the list (row-level security would hide it and let the rule through).
 */
CREATE FUNCTION cdp_internal.seg_sensitive(lo text, hi text) RETURNS text
	LANGUAGE sql STABLE STRICT PARALLEL SAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT pg_catalog.string_agg(s.code_range || ' ' || s.label, '; ' ORDER BY s.lo)
	  FROM @extschema@.sensitive_categories() s
	 WHERE pg_catalog.left($1, 3) COLLATE "C" <= pg_catalog.left(s.hi, 3) COLLATE "C"
	   AND pg_catalog.left($2, 3) COLLATE "C" >= pg_catalog.left(s.lo, 3) COLLATE "C"
$$;
COMMENT ON FUNCTION cdp_internal.seg_sensitive(text, text) IS
	'the sensitive categories an ICD-10 range overlaps, or NULL; reads the list with the owner''s rights (internal)';

/* ------------------------------------------------------------------ small parsers */

/* An interval such as "14 days", "11 months", "2 years"; 22023 naming the path otherwise. */
CREATE FUNCTION cdp_internal.seg_interval(v jsonb, path text) RETURNS interval
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	m	text[];
BEGIN
	IF v IS NOT NULL AND pg_catalog.jsonb_typeof(v) = 'string' THEN
		m := pg_catalog.regexp_match(v #>> '{}', '^\s*([0-9]{1,4})\s*(day|days|week|weeks|month|months|year|years)\s*$');
	END IF;
	IF m IS NULL THEN
		RAISE EXCEPTION 'invalid interval %', pg_catalog.left(coalesce(v::text, 'null'), 64) USING ERRCODE = '22023',
			DETAIL = pg_catalog.format('At %s.', path),
			HINT = 'Use a whole number and a unit (days, weeks, months, years), for example "11 months" or "14 days".';
	END IF;
	RETURN pg_catalog.make_interval(
		days => CASE WHEN m[2] LIKE 'day%' THEN m[1]::int WHEN m[2] LIKE 'week%' THEN 7 * m[1]::int ELSE 0 END,
		months => CASE WHEN m[2] LIKE 'month%' THEN m[1]::int ELSE 0 END,
		years => CASE WHEN m[2] LIKE 'year%' THEN m[1]::int ELSE 0 END);
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_interval(jsonb, text) IS
	'parses a rule interval such as "11 months"; 22023 with the JSON path otherwise (internal)';

/* The number in a lab result ("5,4" and "5.4"), NULL when the result is not a plain number. */
CREATE FUNCTION cdp_internal.seg_num(t text) RETURNS numeric
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT CASE WHEN t ~ '^\s*-?[0-9]{1,12}([.,][0-9]{1,12})?\s*$' THEN pg_catalog.replace(pg_catalog.btrim(t), ',', '.')::numeric END
$$;
COMMENT ON FUNCTION cdp_internal.seg_num(text) IS
	'the numeric value of a lab result, NULL when it is not a plain number (internal)';

/* Raises the rule error of the language: 22023, message, the JSON path, an accepted form. */
CREATE FUNCTION cdp_internal.seg_fail(msg text, path text, hint text) RETURNS void
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RAISE EXCEPTION '%', msg USING ERRCODE = '22023', DETAIL = pg_catalog.format('At %s.', path), HINT = hint;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_fail(text, text, text) IS
	'raises a segment rule error: 22023, the JSON path in the detail, an accepted form in the hint (internal)';

/*
 * A scalar value checked against a catalogue type and written as a quoted, cast SQL literal.
 * Types: text (at most 200 bytes), int, date (ISO), boolean.
 */
CREATE FUNCTION cdp_internal.seg_literal(v jsonb, typ text, path text) RETURNS text
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	t	text := pg_catalog.jsonb_typeof(v);
BEGIN
	IF typ = 'text' AND t = 'string' AND pg_catalog.octet_length(v #>> '{}') <= 200 THEN
		RETURN pg_catalog.format('%L::text', v #>> '{}');
	ELSIF typ = 'int' AND t = 'number' AND (v #>> '{}')::numeric = pg_catalog.trunc((v #>> '{}')::numeric)
	      AND pg_catalog.abs((v #>> '{}')::numeric) < 100000 THEN
		RETURN pg_catalog.format('%L::int', (v #>> '{}')::numeric::int);
	ELSIF typ = 'numeric' AND t = 'number' THEN
		RETURN pg_catalog.format('%L::numeric', (v #>> '{}')::numeric);
	ELSIF typ = 'boolean' AND t = 'boolean' THEN
		RETURN pg_catalog.format('%L::boolean', (v #>> '{}')::boolean);
	ELSIF typ = 'date' AND t = 'string' AND (v #>> '{}') ~ '^\d{4}-\d{2}-\d{2}$' THEN
		BEGIN
			RETURN pg_catalog.format('%L::date', (v #>> '{}')::date);
		EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
			NULL;
		END;
	END IF;
	PERFORM cdp_internal.seg_fail(pg_catalog.format('a segment value must be of type %s', typ), path,
		CASE typ WHEN 'text' THEN 'Use a JSON string of at most 200 bytes, for example "Москва".'
		         WHEN 'int' THEN 'Use a whole JSON number, for example 35.'
		         WHEN 'numeric' THEN 'Use a JSON number, for example 5.6.'
		         WHEN 'boolean' THEN 'Use true or false.'
		         ELSE 'Use an ISO date string, for example "2026-01-31".' END);
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_literal(jsonb, text, text) IS
	'checks a rule value against a catalogue type and returns it as a quoted, cast SQL literal (internal)';

/* ------------------------------------------------------------------ the catalogue */

/*
 * The profile attributes a rule may name: SQL over the profile row "p", and the value type.
 * Fixed here; a name not in this list is refused.
 */
CREATE FUNCTION @extschema@.segment_attributes(OUT attr text, OUT typ text, OUT ops text[], OUT description text)
	RETURNS SETOF record
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	VALUES ('sex', 'text', ARRAY['=', '!=', 'in', 'is_null'], 'M or F'),
	       ('age', 'int', ARRAY['=', '!=', '<', '<=', '>', '>=', 'between', 'in', 'is_null'], 'whole years at the evaluation date'),
	       ('birth_date', 'date', ARRAY['=', '!=', '<', '<=', '>', '>=', 'between', 'is_null'], 'date of birth'),
	       ('city', 'text', ARRAY['=', '!=', 'in', 'not in', 'is_null'], 'city of the golden profile'),
	       ('status', 'text', ARRAY['='], 'active (archived patients never appear)'),
	       ('registered_on', 'date', ARRAY['=', '<', '<=', '>', '>=', 'between', 'is_null'], 'first registration date'),
	       ('last_visit', 'date', ARRAY['<', '<=', '>', '>=', 'between', 'is_null'], 'date of the last visit the patient came to'),
	       ('validated', 'boolean', ARRAY['='], 'the profile has a validated record'),
	       ('source_kind', 'text', ARRAY['=', 'in'], 'a record comes from a source of this kind (internal, partner)'),
	       ('source', 'text', ARRAY['=', 'in'], 'a record comes from this source (by name)'),
	       ('reachable', 'text', ARRAY['=', 'in'], 'the profile has an address for this channel (email, sms, messenger, social, call, post)')
$$;
COMMENT ON FUNCTION @extschema@.segment_attributes() IS
	'the profile attributes a segment rule may use, their value type and operators';

/* The SQL expression over profile row p of a catalogue attribute (the evaluation day d is a literal). */
CREATE FUNCTION cdp_internal.seg_attr_sql(attr text, d date) RETURNS text
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT CASE attr
	  WHEN 'sex' THEN 'p.sex'
	  WHEN 'age' THEN pg_catalog.format('EXTRACT(year FROM pg_catalog.age(%L::date, p.birth_date))::int', d)
	  WHEN 'birth_date' THEN 'p.birth_date'
	  WHEN 'city' THEN 'p.city'
	  WHEN 'status' THEN 'p.status'
	  WHEN 'registered_on' THEN 'p.registered_on'
	  WHEN 'last_visit' THEN '(p.last_visit)::date'
	  WHEN 'validated' THEN 'p.validated'
	  END
$$;
COMMENT ON FUNCTION cdp_internal.seg_attr_sql(text, date) IS
	'the fixed SQL expression of a catalogue attribute over the profile row p (internal)';

/* ------------------------------------------------------------------ compiler */

/*
 * Compiles one attribute leaf {"attr", "op", "value"} into its predicate over profile row p.
 */
CREATE FUNCTION cdp_internal.seg_compile_attr(node jsonb, d date, path text) RETURNS text
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	a		record;
	op		text := node ->> 'op';
	v		jsonb := node -> 'value';
	k		text;
	x		text;
	lits	text[];
	expr	text;
	i		int := 0;
	form	constant text := 'Use {"attr": "age", "op": "between", "value": [35, 55]} or {"attr": "city", "op": "in", "value": ["Москва"]}.';
BEGIN
	FOR k IN SELECT pg_catalog.jsonb_object_keys(node) LOOP
		IF NOT k IN ('attr', 'op', 'value') THEN
			PERFORM cdp_internal.seg_fail(pg_catalog.format('unknown key "%s" in an attribute clause', pg_catalog.left(k, 64)), path || '.' || pg_catalog.left(k, 64), form);
		END IF;
	END LOOP;
	IF pg_catalog.jsonb_typeof(node -> 'attr') <> 'string' THEN
		PERFORM cdp_internal.seg_fail('a segment attribute must be a string', path || '.attr', form);
	END IF;
	SELECT * INTO a FROM @extschema@.segment_attributes() s WHERE s.attr = node ->> 'attr';
	IF a.attr IS NULL THEN
		PERFORM cdp_internal.seg_fail(pg_catalog.format('unknown segment attribute "%s"', pg_catalog.left(node ->> 'attr', 64)), path || '.attr',
			'Known attributes: ' || (SELECT pg_catalog.string_agg(s.attr, ', ') FROM @extschema@.segment_attributes() s) || '.');
	END IF;
	IF op IS NULL OR pg_catalog.jsonb_typeof(node -> 'op') <> 'string' OR NOT op = ANY (a.ops) THEN
		PERFORM cdp_internal.seg_fail(pg_catalog.format('operator %s is not allowed for attribute "%s"',
			pg_catalog.left(coalesce((node -> 'op')::text, 'null'), 32), a.attr), path || '.op',
			pg_catalog.format('Operators of %s: %s.', a.attr, pg_catalog.array_to_string(a.ops, ', ')));
	END IF;
	IF NOT node ? 'value' THEN
		PERFORM cdp_internal.seg_fail('an attribute clause needs a value', path || '.value', form);
	END IF;
	IF op = 'is_null' THEN
		PERFORM cdp_internal.seg_literal(v, 'boolean', path || '.value');
	ELSIF op IN ('between', 'in', 'not in') THEN
		IF pg_catalog.jsonb_typeof(v) <> 'array' OR pg_catalog.jsonb_array_length(v) = 0
		   OR (op = 'between' AND pg_catalog.jsonb_array_length(v) <> 2) OR pg_catalog.jsonb_array_length(v) > 1000 THEN
			PERFORM cdp_internal.seg_fail(pg_catalog.format('operator %s needs %s', op,
				CASE op WHEN 'between' THEN 'an array of two values' ELSE 'a non-empty array of at most 1000 values' END),
				path || '.value', form);
		END IF;
		FOR x IN SELECT e::text FROM pg_catalog.jsonb_array_elements(v) e LOOP
			lits := lits || cdp_internal.seg_literal(x::jsonb, a.typ, pg_catalog.format('%s.value[%s]', path, i));
			i := i + 1;
		END LOOP;
	ELSE
		lits := ARRAY[cdp_internal.seg_literal(v, a.typ, path || '.value')];
	END IF;
	IF a.attr IN ('source_kind', 'source') THEN
		RETURN pg_catalog.format('EXISTS (SELECT 1 FROM @extschema@.record r JOIN @extschema@.source s ON s.source_id = r.source_id'
			' WHERE r.golden_id = p.golden_id AND s.%s IN (%s))',
			CASE a.attr WHEN 'source_kind' THEN 'kind' ELSE 'name' END, pg_catalog.array_to_string(lits, ', '));
	ELSIF a.attr = 'reachable' THEN
		FOR x IN SELECT e #>> '{}' FROM pg_catalog.jsonb_array_elements(CASE WHEN op = 'in' THEN v ELSE pg_catalog.jsonb_build_array(v) END) e LOOP
			IF NOT EXISTS (SELECT 1 FROM @extschema@.consent_channels() c WHERE c.channel = x) THEN
				PERFORM cdp_internal.seg_fail(pg_catalog.format('unknown channel "%s"', pg_catalog.left(x, 64)), path || '.value',
					'Use email, sms, messenger, social, call or post.');
			END IF;
		END LOOP;
		RETURN pg_catalog.format('EXISTS (SELECT 1 FROM pg_catalog.unnest(ARRAY[%s]) ch(c) WHERE pg_catalog.cardinality(cdp_internal.consent_addresses(p, ch.c)) > 0)',
			pg_catalog.array_to_string(lits, ', '));
	END IF;
	expr := cdp_internal.seg_attr_sql(a.attr, d);
	RETURN CASE op
		WHEN 'is_null' THEN pg_catalog.format('((%s) IS NULL) = %s', expr, cdp_internal.seg_literal(v, 'boolean', path))
		WHEN 'between' THEN pg_catalog.format('(%s) BETWEEN %s AND %s', expr, lits[1], lits[2])
		WHEN 'in' THEN pg_catalog.format('(%s) IN (%s)', expr, pg_catalog.array_to_string(lits, ', '))
		WHEN 'not in' THEN pg_catalog.format('(%s) NOT IN (%s)', expr, pg_catalog.array_to_string(lits, ', '))
		WHEN '!=' THEN pg_catalog.format('(%s) <> %s', expr, lits[1])
		ELSE pg_catalog.format('(%s) %s %s', expr, op, lits[1]) END;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_compile_attr(jsonb, date, text) IS
	'compiles an attribute clause into a predicate over the profile row p from the fixed catalogue (internal)';

/*
 * Compiles one event leaf into {"conds": [SQL over clinical_event e], "count": "op n" or null,
 * "indexed": the conds use the (kind, code, at) index, "sensitive": path or null}.
 */
CREATE FUNCTION cdp_internal.seg_compile_event(node jsonb, d date, path text) RETURNS jsonb
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	kind	text := node ->> 'event';
	w		jsonb := coalesce(node -> 'where', '{}');
	conds	text[];
	k		text;
	v		jsonb;
	codes	text[];
	r		record;
	i		int;
	far		interval;
	near	interval;
	cnt		text;
	indexed	boolean := false;
	sens	text;
	allowed	text[];
	codex	constant text := '(COALESCE(e.lab_code, e.icd10, e.specialty) COLLATE "C")';
	form	constant text := 'Use {"event": "lab_test", "where": {"code": "MAMMO"}, "ago": ["13 months", "11 months"]} or {"event": "diagnosis", "where": {"code": "E10-E14"}, "count": {">=": 2}}.';
BEGIN
	FOR k IN SELECT pg_catalog.jsonb_object_keys(node) LOOP
		IF NOT k IN ('event', 'where', 'within', 'ago', 'count', 'due_within') THEN
			PERFORM cdp_internal.seg_fail(pg_catalog.format('unknown key "%s" in an event clause', pg_catalog.left(k, 64)), path || '.' || pg_catalog.left(k, 64), form);
		END IF;
	END LOOP;
	IF kind IS NULL OR pg_catalog.jsonb_typeof(node -> 'event') <> 'string'
	   OR NOT kind IN ('visit', 'lab_test', 'diagnosis', 'recommendation', 'sick_leave') THEN
		PERFORM cdp_internal.seg_fail(pg_catalog.format('unknown event "%s"', pg_catalog.left(coalesce(node ->> 'event', 'null'), 64)), path || '.event',
			'Events: visit, lab_test, diagnosis, recommendation, sick_leave.');
	END IF;
	conds := ARRAY[pg_catalog.format('e.kind = %L', kind)];
	IF pg_catalog.jsonb_typeof(w) <> 'object' THEN
		PERFORM cdp_internal.seg_fail('"where" must be an object', path || '.where', form);
	END IF;
	allowed := CASE kind WHEN 'visit' THEN ARRAY['specialty', 'status', 'type', 'doctor']
	                     WHEN 'lab_test' THEN ARRAY['code', 'value', 'out_of_range']
	                     WHEN 'diagnosis' THEN ARRAY['code']
	                     ELSE '{}'::text[] END;
	FOR k, v IN SELECT * FROM pg_catalog.jsonb_each(w) LOOP
		IF NOT k = ANY (allowed) THEN
			PERFORM cdp_internal.seg_fail(pg_catalog.format('unknown filter "%s" for event %s', pg_catalog.left(k, 64), kind),
				path || '.where.' || pg_catalog.left(k, 64),
				CASE WHEN allowed = '{}' THEN pg_catalog.format('Event %s takes no filter.', kind)
				     ELSE 'Filters of ' || kind || ': ' || pg_catalog.array_to_string(allowed, ', ') || '.' END);
		END IF;
		IF k IN ('specialty', 'status', 'type', 'doctor') OR (k = 'code' AND kind = 'lab_test') THEN
			codes := NULL;
			i := 0;
			FOR v IN SELECT * FROM pg_catalog.jsonb_array_elements(CASE WHEN pg_catalog.jsonb_typeof(v) = 'array' THEN v ELSE pg_catalog.jsonb_build_array(v) END) LOOP
				codes := codes || cdp_internal.seg_literal(v, 'text', pg_catalog.format('%s.where.%s', path, k));
				i := i + 1;
			END LOOP;
			IF codes IS NULL THEN
				PERFORM cdp_internal.seg_fail(pg_catalog.format('filter "%s" needs a value', k), path || '.where.' || k, form);
			END IF;
			IF k IN ('specialty', 'code') THEN
				conds := conds || pg_catalog.format('%s IN (%s)', codex, pg_catalog.array_to_string(codes, ', '));
				indexed := true;
			ELSE
				conds := conds || pg_catalog.format('e.%s IN (%s)', CASE k WHEN 'status' THEN 'visit_status' WHEN 'type' THEN 'visit_type' ELSE 'doctor' END,
					pg_catalog.array_to_string(codes, ', '));
			END IF;
		ELSIF k = 'code' THEN
			/* diagnosis: codes and ranges, index range scans; sensitive ranges are remembered */
			codes := NULL;
			i := 0;
			FOR v IN SELECT * FROM pg_catalog.jsonb_array_elements(CASE WHEN pg_catalog.jsonb_typeof(v) = 'array' THEN v ELSE pg_catalog.jsonb_build_array(v) END) LOOP
				IF pg_catalog.jsonb_typeof(v) <> 'string' THEN
					PERFORM cdp_internal.seg_fail('an ICD-10 code must be a string', pg_catalog.format('%s.where.code', path), 'Use "E11" or "E10-E14".');
				END IF;
				r := cdp_internal.icd10_range(v #>> '{}', pg_catalog.format('%s.where.code', path));
				codes := codes || pg_catalog.format('(%s >= %L AND %s <= %L)', codex, r.lo, codex, r.hi || '~');
				IF sens IS NULL AND cdp_internal.seg_sensitive(r.lo, r.hi) IS NOT NULL THEN
					sens := pg_catalog.format('%s.where.code (%s: %s)', path, v #>> '{}', cdp_internal.seg_sensitive(r.lo, r.hi));
				END IF;
				i := i + 1;
			END LOOP;
			IF codes IS NULL THEN
				PERFORM cdp_internal.seg_fail('filter "code" needs a value', path || '.where.code', 'Use "E11" or ["E10-E14", "O24"].');
			END IF;
			conds := conds || ('(' || pg_catalog.array_to_string(codes, ' OR ') || ')');
			indexed := true;
		ELSIF k = 'value' THEN
			IF pg_catalog.jsonb_typeof(v) <> 'object' OR v = '{}' THEN
				PERFORM cdp_internal.seg_fail('filter "value" must be an object of comparisons', path || '.where.value', 'Use {">=": 5.6, "<": 7}.');
			END IF;
			FOR k, v IN SELECT * FROM pg_catalog.jsonb_each(v) LOOP
				IF NOT k IN ('=', '<', '<=', '>', '>=') THEN
					PERFORM cdp_internal.seg_fail(pg_catalog.format('unknown comparison "%s"', pg_catalog.left(k, 16)), path || '.where.value', 'Use {">=": 5.6, "<": 7}.');
				END IF;
				conds := conds || pg_catalog.format('cdp_internal.seg_num(e.lab_result) %s %s', k,
					cdp_internal.seg_literal(v, 'numeric', pg_catalog.format('%s.where.value."%s"', path, k)));
			END LOOP;
		ELSIF k = 'out_of_range' THEN
			conds := conds || pg_catalog.format('(cdp_internal.seg_num(e.lab_result) < e.ref_low OR cdp_internal.seg_num(e.lab_result) > e.ref_high) = %s',
				cdp_internal.seg_literal(v, 'boolean', path || '.where.out_of_range'));
		END IF;
	END LOOP;
	IF kind = 'visit' AND NOT w ? 'status' THEN
		conds := conds || 'e.visit_status IN (''came'', ''in_appointment'', ''done'')'::text;
	END IF;
	IF (node ? 'within')::int + (node ? 'ago')::int + (node ? 'due_within')::int > 1 THEN
		PERFORM cdp_internal.seg_fail('an event clause takes one of "within", "ago", "due_within"', path, form);
	END IF;
	IF node ? 'within' THEN
		far := cdp_internal.seg_interval(node -> 'within', path || '.within');
		conds := conds || pg_catalog.format('e.at >= %L::timestamptz', (d - far)::timestamptz);
	ELSIF node ? 'ago' THEN
		IF pg_catalog.jsonb_typeof(node -> 'ago') <> 'array' OR pg_catalog.jsonb_array_length(node -> 'ago') <> 2 THEN
			PERFORM cdp_internal.seg_fail('"ago" needs two intervals, the farther first', path || '.ago', 'Use ["13 months", "11 months"].');
		END IF;
		far := cdp_internal.seg_interval(node -> 'ago' -> 0, path || '.ago[0]');
		near := cdp_internal.seg_interval(node -> 'ago' -> 1, path || '.ago[1]');
		IF d - far > d - near THEN
			PERFORM cdp_internal.seg_fail('"ago" needs the farther interval first', path || '.ago', 'Use ["13 months", "11 months"].');
		END IF;
		conds := conds || pg_catalog.format('e.at >= %L::timestamptz AND e.at < %L::timestamptz', (d - far)::timestamptz, (d - near + interval '1 day')::timestamptz);
	ELSIF node ? 'due_within' THEN
		IF kind <> 'recommendation' THEN
			PERFORM cdp_internal.seg_fail('"due_within" applies to recommendations only', path || '.due_within', 'Use {"event": "recommendation", "due_within": "14 days"}.');
		END IF;
		far := cdp_internal.seg_interval(node -> 'due_within', path || '.due_within');
		conds := conds || pg_catalog.format('e.due_date >= %L::date AND e.due_date <= %L::date', d, (d + far)::date);
		indexed := true;
	END IF;
	IF node ? 'count' THEN
		v := node -> 'count';
		IF pg_catalog.jsonb_typeof(v) <> 'object' OR (SELECT pg_catalog.count(*) FROM pg_catalog.jsonb_object_keys(v)) <> 1 THEN
			PERFORM cdp_internal.seg_fail('"count" needs one comparison', path || '.count', 'Use {">=": 2}.');
		END IF;
		SELECT x.key, x.value INTO k, v FROM pg_catalog.jsonb_each(node -> 'count') x;
		IF NOT k IN ('>=', '>', '=') THEN
			PERFORM cdp_internal.seg_fail(pg_catalog.format('count comparison "%s" is not allowed', pg_catalog.left(k, 16)), path || '.count',
				'Use >=, > or = with at least one event ({">=": 2}); for "none" use {"not": ...}.');
		END IF;
		cnt := k || ' ' || cdp_internal.seg_literal(v, 'int', path || '.count."' || k || '"');
		IF (v #>> '{}')::numeric < (CASE k WHEN '>' THEN 0 ELSE 1 END) THEN
			PERFORM cdp_internal.seg_fail('a count must ask for at least one event', path || '.count', 'Use {">=": 1} or more; for "none" use {"not": ...}.');
		END IF;
	END IF;
	RETURN pg_catalog.jsonb_build_object('conds', pg_catalog.to_jsonb(conds), 'count', cnt, 'indexed', indexed,
		'sensitive', sens,
		/* a visit in the last N with the default statuses and no other filter is the profile's last_visit */
		'last_visit', CASE WHEN kind = 'visit' AND w = '{}' AND node ? 'within' AND cnt IS NULL
		                   THEN pg_catalog.format('p.last_visit >= %L::timestamptz', (d - far)::timestamptz) END);
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_compile_event(jsonb, date, text) IS
	'compiles a clinical-event clause into conditions over clinical_event e from the fixed catalogue (internal)';

/*
 * Compiles a rule tree for the evaluation day d into a plan: {"t": "all"|"any"|"not"|"leaf",
 * "kids" | "kid", "class", "path"}; a leaf carries "gen" and "filter" SQL and "sensitive" (the
 * path and category of a sensitive diagnosis it names, or null).  Classes order the clauses of an
 * "all" (0 indexed events and segments, 1 profile attributes, 2 other events, 3 nested all/any,
 * 4 not).  At most 20 levels and 200 clauses.
 */
CREATE FUNCTION cdp_internal.seg_compile(node jsonb, d date, path text DEFAULT '$', depth int DEFAULT 0) RETURNS jsonb
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	op		text;
	kids	jsonb := '[]';
	kid		jsonb;
	i		int := 0;
	ev		jsonb;
	pred	text;
	sid		bigint;
	sens	text;
	form	constant text := 'A clause is {"all": [...]}, {"any": [...]}, {"not": {...}}, {"attr": ...}, {"event": ...} or {"segment": <id>}.';
BEGIN
	IF depth > 20 THEN
		PERFORM cdp_internal.seg_fail('a segment rule is nested deeper than 20 levels', path, 'Flatten the rule.');
	END IF;
	IF node IS NULL OR pg_catalog.jsonb_typeof(node) <> 'object' THEN
		PERFORM cdp_internal.seg_fail('a segment clause must be a JSON object', path, form);
	END IF;
	IF node ?| ARRAY['all', 'any', 'not'] THEN
		IF (SELECT pg_catalog.count(*) FROM pg_catalog.jsonb_object_keys(node)) <> 1 THEN
			PERFORM cdp_internal.seg_fail('"all", "any" and "not" stand alone in their object', path, form);
		END IF;
		op := (SELECT k FROM pg_catalog.jsonb_object_keys(node) k);
		IF op = 'not' THEN
			kid := cdp_internal.seg_compile(node -> 'not', d, path || '.not', depth + 1);
			RETURN pg_catalog.jsonb_build_object('t', 'not', 'kid', kid, 'class', 4, 'path', path, 'sensitive', kid -> 'sensitive');
		END IF;
		IF pg_catalog.jsonb_typeof(node -> op) <> 'array' OR pg_catalog.jsonb_array_length(node -> op) = 0 THEN
			PERFORM cdp_internal.seg_fail(pg_catalog.format('"%s" needs a non-empty array of clauses', op), path || '.' || op, form);
		END IF;
		IF pg_catalog.jsonb_array_length(node -> op) > 200 THEN
			PERFORM cdp_internal.seg_fail(pg_catalog.format('"%s" has more than 200 clauses', op), path || '.' || op, 'Split the rule into segments and reference them.');
		END IF;
		FOR kid IN SELECT * FROM pg_catalog.jsonb_array_elements(node -> op) LOOP
			kid := cdp_internal.seg_compile(kid, d, pg_catalog.format('%s.%s[%s]', path, op, i), depth + 1);
			sens := coalesce(sens, kid ->> 'sensitive');
			kids := kids || pg_catalog.jsonb_build_array(kid);
			i := i + 1;
		END LOOP;
		RETURN pg_catalog.jsonb_build_object('t', op, 'kids', kids, 'class', 3, 'path', path, 'sensitive', sens);
	ELSIF node ? 'attr' THEN
		pred := cdp_internal.seg_compile_attr(node, d, path);
		RETURN pg_catalog.jsonb_build_object('t', 'leaf', 'class', 1, 'path', path,
			'gen', pg_catalog.format('SELECT p.golden_id FROM @extschema@.patient p WHERE %s', pred),
			'filter', pg_catalog.format('SELECT p.golden_id FROM pg_catalog.unnest($1) c(id) JOIN @extschema@.patient p ON p.golden_id = c.id WHERE %s', pred));
	ELSIF node ? 'event' THEN
		ev := cdp_internal.seg_compile_event(node, d, path);
		IF ev ->> 'last_visit' IS NOT NULL THEN
			pred := ev ->> 'last_visit';
			RETURN pg_catalog.jsonb_build_object('t', 'leaf', 'class', 1, 'path', path,
				'gen', pg_catalog.format('SELECT p.golden_id FROM @extschema@.patient p WHERE %s', pred),
				'filter', pg_catalog.format('SELECT p.golden_id FROM pg_catalog.unnest($1) c(id) JOIN @extschema@.patient p ON p.golden_id = c.id WHERE %s', pred));
		END IF;
		pred := (SELECT pg_catalog.string_agg(x, ' AND ') FROM pg_catalog.jsonb_array_elements_text(ev -> 'conds') x);
		RETURN pg_catalog.jsonb_build_object('t', 'leaf', 'class', CASE WHEN (ev ->> 'indexed')::boolean THEN 0 ELSE 2 END,
			'path', path, 'sensitive', ev -> 'sensitive',
			'gen', CASE WHEN ev ->> 'count' IS NULL
			            THEN pg_catalog.format('SELECT e.golden_id FROM @extschema@.clinical_event e WHERE %s', pred)
			            ELSE pg_catalog.format('SELECT e.golden_id FROM @extschema@.clinical_event e WHERE %s GROUP BY e.golden_id HAVING pg_catalog.count(*) %s', pred, ev ->> 'count') END,
			'filter', CASE WHEN ev ->> 'count' IS NULL
			            THEN pg_catalog.format('SELECT c.id FROM pg_catalog.unnest($1) c(id) WHERE EXISTS (SELECT 1 FROM @extschema@.clinical_event e WHERE e.golden_id = c.id AND %s)', pred)
			            ELSE pg_catalog.format('SELECT c.id FROM pg_catalog.unnest($1) c(id) WHERE (SELECT pg_catalog.count(*) FROM @extschema@.clinical_event e WHERE e.golden_id = c.id AND %s) %s', pred, ev ->> 'count') END);
	ELSIF node ? 'segment' THEN
		IF (SELECT pg_catalog.count(*) FROM pg_catalog.jsonb_object_keys(node)) <> 1 OR pg_catalog.jsonb_typeof(node -> 'segment') <> 'number'
		   OR (node ->> 'segment')::numeric <> pg_catalog.trunc((node ->> 'segment')::numeric) OR (node ->> 'segment')::numeric NOT BETWEEN 1 AND 9e18 THEN
			PERFORM cdp_internal.seg_fail('a segment clause is {"segment": <segment id>}', path, 'Use {"segment": 12}.');
		END IF;
		sid := (node ->> 'segment')::numeric::bigint;
		SELECT CASE WHEN s.sensitive THEN pg_catalog.format('%s (segment %s targets a sensitive category)', path, sid) ELSE '' END INTO sens
		  FROM @extschema@.segment s WHERE s.segment_id = sid;
		IF sens IS NULL THEN
			PERFORM cdp_internal.seg_fail(pg_catalog.format('segment %s does not exist', sid), path || '.segment', 'Use the id returned by cdp.create_segment.');
		END IF;
		RETURN pg_catalog.jsonb_build_object('t', 'leaf', 'class', 0, 'path', path, 'segment', sid, 'sensitive', NULLIF(sens, ''),
			'gen', pg_catalog.format('SELECT m.golden_id FROM @extschema@.segment_member m WHERE m.segment_id = %L::bigint', sid),
			'filter', pg_catalog.format('SELECT m.golden_id FROM pg_catalog.unnest($1) c(id) JOIN @extschema@.segment_member m ON m.segment_id = %L::bigint AND m.golden_id = c.id', sid));
	END IF;
	PERFORM cdp_internal.seg_fail('a segment clause needs one of all, any, not, attr, event, segment', path, form);
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_compile(jsonb, date, text, int) IS
	'validates a segment rule and compiles it into a plan of gen/filter SQL per clause for a day; 22023 with the JSON path (internal)';

/*
 * The plan of a rule for a purpose, with the sensitive-category policy applied: a rule that names
 * a sensitive diagnosis (or a segment that does) is refused unless the purpose is treatment and
 * the current role may (cdp_internal.seg_may_use_sensitive).  22023 (another purpose) or 42501
 * (a role that may not) names the clause.
 */
CREATE FUNCTION cdp_internal.seg_prepare(rules jsonb, purpose text, d date) RETURNS jsonb
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	plan	jsonb;
BEGIN
	PERFORM cdp_internal.consent_check(ARRAY[purpose], ARRAY['*']);
	plan := cdp_internal.seg_compile(rules, d);
	IF plan ->> 'sensitive' IS NOT NULL THEN
		IF purpose <> 'treatment' THEN
			RAISE EXCEPTION 'a % segment may not target a sensitive category', purpose USING ERRCODE = '22023',
				DETAIL = pg_catalog.format('At %s.', plan ->> 'sensitive'),
				HINT = 'Remove the clause; only a treatment segment saved by a doctor may target it.';
		ELSIF NOT cdp_internal.seg_may_use_sensitive() THEN
			RAISE EXCEPTION 'role "%" may not target a sensitive category', CURRENT_USER USING ERRCODE = '42501',
				DETAIL = pg_catalog.format('At %s.', plan ->> 'sensitive'),
				HINT = 'A member of role cdp_doctor (or, while that role does not exist, the owner of cdp) may save it.';
		END IF;
	END IF;
	RETURN plan;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_prepare(jsonb, text, date) IS
	'compiles a rule for a purpose and applies the sensitive-category policy (42501 naming the clause) (internal)';

/*
 * sql/parts/83_segment_eval.sql: layer 8, segment storage and evaluation (issue 13).  See
 * doc/segments.md.  The tables of segments come first: the evaluator reads them ({"segment": id}
 * clauses read segment_member, the compiler reads whether a referenced segment is sensitive);
 * 84_segment.sql defines and refreshes segments.
 *
 * The plan of cdp_internal.seg_compile is evaluated clause by clause into sets of golden ids
 * (sorted bigint[], merged in C by src/seg_set.c), never as one WHERE of correlated EXISTS that
 * the planner would estimate at one row and run as nested loops over every clinical event.
 * Inside an "all" the clauses run in a fixed order: indexed clinical-event clauses and segment
 * references first (each an index range scan), then profile attributes, then other event
 * clauses, nested all/any, and "not" last.  Each clause after the first sees the survivors so
 * far: a small set is probed id by id (the "filter" SQL: one index lookup per id), a large one is
 * intersected with the clause's own set (the "gen" SQL).  The choice uses the true size of the
 * set in hand, not an estimate.  Then the guards, in order, with what each removed: archived
 * patients, the exclude list, consent, the offer's block reasons.
 */

/* ------------------------------------------------------------------ segment tables (84_segment.sql keeps them) */

CREATE SEQUENCE @extschema@.segment_id_seq;
COMMENT ON SEQUENCE @extschema@.segment_id_seq IS 'ids of cdp.segment';

CREATE TABLE @extschema@.segment (
	segment_id		bigint PRIMARY KEY,
	name			text NOT NULL,
	version			int NOT NULL,
	rules			jsonb NOT NULL,
	purpose			text NOT NULL,
	channel			text,
	offer_id		bigint,
	status			text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'archived')),
	sensitive		boolean NOT NULL,
	auto_refresh	interval,
	created_at		timestamptz NOT NULL,
	updated_at		timestamptz NOT NULL,
	saved_by		text NOT NULL,
	last_refresh_at	timestamptz,
	last_refresh_mode text,
	refresh_mark	bigint,
	refresh_stamp	text
);
COMMENT ON TABLE @extschema@.segment IS
	'segments: current version of the rules, purpose, channel, offer, status and last refresh (refresh_stamp: what a refresh saw)';
ALTER TABLE @extschema@.segment ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.segment FORCE ROW LEVEL SECURITY;

CREATE TABLE @extschema@.segment_version (
	segment_id	bigint NOT NULL,
	version		int NOT NULL,
	name		text NOT NULL,
	rules		jsonb NOT NULL,
	purpose		text NOT NULL,
	channel		text,
	offer_id	bigint,
	at			timestamptz NOT NULL,
	saved_by	text NOT NULL,
	PRIMARY KEY (segment_id, version)
);
COMMENT ON TABLE @extschema@.segment_version IS 'every version of every segment definition';
ALTER TABLE @extschema@.segment_version ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.segment_version FORCE ROW LEVEL SECURITY;

CREATE TABLE @extschema@.segment_list (
	golden_id	bigint NOT NULL,
	segment_id	bigint NOT NULL,
	list		text NOT NULL CHECK (list IN ('include', 'exclude')),
	at			timestamptz NOT NULL,
	PRIMARY KEY (golden_id, segment_id, list)
);
COMMENT ON TABLE @extschema@.segment_list IS
	'manual include and exclude lists, by the golden id given; read through cdp.resolve_patient, so they follow merges';
CREATE INDEX segment_list_segment_idx ON @extschema@.segment_list (segment_id, list);
ALTER TABLE @extschema@.segment_list ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.segment_list FORCE ROW LEVEL SECURITY;

CREATE TABLE @extschema@.segment_member (
	golden_id	bigint NOT NULL,
	segment_id	bigint NOT NULL,
	version		int NOT NULL,
	entered_at	timestamptz NOT NULL,
	channels	text[] NOT NULL,
	PRIMARY KEY (segment_id, golden_id)
);
COMMENT ON TABLE @extschema@.segment_member IS
	'current members of every segment (materialized by cdp.refresh_segment); channels: those the member may be contacted through';
CREATE INDEX segment_member_golden_idx ON @extschema@.segment_member (golden_id);
ALTER TABLE @extschema@.segment_member ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.segment_member FORCE ROW LEVEL SECURITY;

CREATE TABLE @extschema@.segment_member_history (
	golden_id		bigint NOT NULL,
	segment_id		bigint NOT NULL,
	version			int NOT NULL,
	entered_at		timestamptz NOT NULL,
	entered_event	bigint NOT NULL,
	left_at			timestamptz,
	left_event		bigint,
	left_version	int,
	PRIMARY KEY (segment_id, golden_id, entered_event)
);
COMMENT ON TABLE @extschema@.segment_member_history IS
	'membership history: who entered and left each segment, when, under which version and refresh';
CREATE INDEX segment_member_history_left_idx ON @extschema@.segment_member_history (segment_id, left_event);
CREATE INDEX segment_member_history_entered_idx ON @extschema@.segment_member_history (segment_id, entered_event);
ALTER TABLE @extschema@.segment_member_history ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.segment_member_history FORCE ROW LEVEL SECURITY;

CREATE TABLE cdp_internal.seg_salt (
	salt		text NOT NULL,
	created_at	timestamptz NOT NULL
);
COMMENT ON TABLE cdp_internal.seg_salt IS
	'the secret behind the analysts'' pseudonyms (one row, made by the first create_segment; the oldest wins after a restore)';
ALTER TABLE cdp_internal.seg_salt ENABLE ROW LEVEL SECURITY;
ALTER TABLE cdp_internal.seg_salt FORCE ROW LEVEL SECURITY;

/*
 * The analysts' pseudonym of a golden id: 'p' and 16 hex digits of md5(salt, id).  SECURITY
 * DEFINER: it reads the salt with the owner's rights, so whoever may see pseudonyms never needs
 * (and must never get) the salt, which would let them recompute the pseudonym of any id.
 */
CREATE FUNCTION cdp_internal.seg_pseudonym(golden_id bigint) RETURNS text
	LANGUAGE sql STABLE STRICT PARALLEL SAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT 'p' || pg_catalog.left(pg_catalog.md5(t.salt || ':' || $1), 16)
	  FROM cdp_internal.seg_salt t ORDER BY t.created_at LIMIT 1
$$;
COMMENT ON FUNCTION cdp_internal.seg_pseudonym(bigint) IS
	'the stable pseudonym of a golden id for analysts (keyed hash with a secret salt read with the owner''s rights) (internal)';

/* ------------------------------------------------------------------ id sets (C) */

CREATE FUNCTION cdp_internal.seg_set(ids bigint[]) RETURNS bigint[]
	LANGUAGE C IMMUTABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'cdp_seg_set';
COMMENT ON FUNCTION cdp_internal.seg_set(bigint[]) IS
	'the set of the ids: sorted ascending, no duplicates, no nulls (internal)';
CREATE FUNCTION cdp_internal.seg_and(a bigint[], b bigint[]) RETURNS bigint[]
	LANGUAGE C IMMUTABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'cdp_seg_and';
COMMENT ON FUNCTION cdp_internal.seg_and(bigint[], bigint[]) IS
	'intersection of two id sets (sorted, distinct; 22023 otherwise) (internal)';
CREATE FUNCTION cdp_internal.seg_or(a bigint[], b bigint[]) RETURNS bigint[]
	LANGUAGE C IMMUTABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'cdp_seg_or';
COMMENT ON FUNCTION cdp_internal.seg_or(bigint[], bigint[]) IS
	'union of two id sets (internal)';
CREATE FUNCTION cdp_internal.seg_minus(a bigint[], b bigint[]) RETURNS bigint[]
	LANGUAGE C IMMUTABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'cdp_seg_minus';
COMMENT ON FUNCTION cdp_internal.seg_minus(bigint[], bigint[]) IS
	'the ids of the first set that are not in the second (internal)';

/*
 * The index the event clauses read: kind, then the code a clause filters on (lab code, ICD-10
 * code or specialty, in C collation so ICD-10 ranges are index ranges), then the time.  A
 * diagnosis range N40-N42 is the index range ['N40', 'N42~'].
 */
CREATE INDEX clinical_event_seg_code_idx ON @extschema@.clinical_event
	(kind, (COALESCE(lab_code, icd10, specialty) COLLATE "C"), at);
CREATE INDEX clinical_event_seg_due_idx ON @extschema@.clinical_event (due_date) WHERE kind = 'recommendation';

/* ------------------------------------------------------------------ evaluation */

/* Every patient, as a set (archived ones are removed, and counted, by the first guard). */
CREATE FUNCTION cdp_internal.seg_universe() RETURNS bigint[]
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$ SELECT cdp_internal.seg_set(ARRAY(SELECT p.golden_id FROM @extschema@.patient p)) $$;
COMMENT ON FUNCTION cdp_internal.seg_universe() IS 'the set of every patient (internal)';

/*
 * Most selective first, by true sizes: the number of ids an indexed clause (class 0) yields,
 * counted through its index up to 20,000 (a bounded index scan), when it would start an "all"
 * (no candidates yet).  Other clauses and later positions: 0 (their order stays as written).
 */
CREATE FUNCTION cdp_internal.seg_probe_size(plan jsonb, cand bigint[]) RETURNS bigint
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n	bigint;
BEGIN
	IF cand IS NOT NULL OR plan ->> 't' <> 'leaf' OR (plan ->> 'class')::int <> 0 THEN
		RETURN 0;
	END IF;
	EXECUTE 'SELECT pg_catalog.count(*) FROM (' || (plan ->> 'gen') || ' LIMIT 20000) x' INTO n;
	RETURN n;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_probe_size(jsonb, bigint[]) IS
	'how many ids an indexed clause yields, counted up to 20,000, to start an "all" with the most selective one (internal)';

/*
 * The golden ids meeting a plan node, within cand when it is not NULL (NULL: everyone).  The
 * result holds archived patients too; the caller drops them (and counts them).
 */
CREATE FUNCTION cdp_internal.seg_eval(plan jsonb, cand bigint[], n_all bigint) RETURNS bigint[]
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	r		bigint[];
	kid		jsonb;
	n		bigint := pg_catalog.cardinality(cand);
	probe	boolean;
BEGIN
	IF n = 0 THEN
		RETURN '{}';
	END IF;
	IF plan ->> 't' = 'leaf' THEN
		IF cand IS NULL THEN
			EXECUTE 'SELECT cdp_internal.seg_set(ARRAY(' || (plan ->> 'gen') || '))' INTO r;
			RETURN r;
		END IF;
		/* probe id by id while that is cheaper than the clause's whole set (true sizes, no estimates) */
		probe := CASE (plan ->> 'class')::int WHEN 0 THEN n * 20 <= n_all WHEN 1 THEN n * 10 <= n_all ELSE n * 2 <= n_all END;
		IF probe THEN
			EXECUTE 'SELECT cdp_internal.seg_set(ARRAY(' || (plan ->> 'filter') || '))' INTO r USING cand;
		ELSE
			EXECUTE 'SELECT cdp_internal.seg_set(ARRAY(' || (plan ->> 'gen') || '))' INTO r;
			r := cdp_internal.seg_and(cand, r);
		END IF;
		RETURN r;
	ELSIF plan ->> 't' = 'all' THEN
		r := cand;
		FOR kid IN SELECT x.k FROM pg_catalog.jsonb_array_elements(plan -> 'kids') WITH ORDINALITY x(k, i)
		            ORDER BY (x.k ->> 'class')::int, cdp_internal.seg_probe_size(x.k, cand), x.i LOOP
			r := cdp_internal.seg_eval(kid, r, n_all);
			EXIT WHEN pg_catalog.cardinality(r) = 0;
		END LOOP;
		RETURN r;
	ELSIF plan ->> 't' = 'any' THEN
		r := '{}';
		FOR kid IN SELECT k FROM pg_catalog.jsonb_array_elements(plan -> 'kids') k LOOP
			r := cdp_internal.seg_or(r, cdp_internal.seg_eval(kid, cand, n_all));
		END LOOP;
		RETURN r;
	ELSE
		r := coalesce(cand, cdp_internal.seg_universe());
		RETURN cdp_internal.seg_minus(r, cdp_internal.seg_eval(plan -> 'kid', r, n_all));
	END IF;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_eval(jsonb, bigint[], bigint) IS
	'the golden ids meeting a compiled rule node, within a candidate set (NULL = all) (internal)';

/*
 * The ids of a set that may be contacted for a purpose: through the channel, or through at least
 * one channel when channel is NULL.  The set-based form of cdp.may_contact (same fold, same
 * defaults, same suppression rule; test/pgtap/82_segment_rules.sql compares them).
 */
CREATE FUNCTION cdp_internal.seg_consent_ok(ids bigint[], purpose text, channel text) RETURNS bigint[]
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	dflt	boolean := (SELECT x.default_granted FROM @extschema@.consent_purposes() x WHERE x.purpose = seg_consent_ok.purpose);
	chans	text[] := CASE WHEN channel IS NULL THEN ARRAY(SELECT x.channel FROM @extschema@.consent_channels() x) ELSE ARRAY[channel] END;
	sup		boolean := EXISTS (SELECT 1 FROM @extschema@.consent_suppression s
	                            WHERE s.purpose = seg_consent_ok.purpose AND s.suppressed);
BEGIN
	RETURN (
	WITH st AS MATERIALIZED (
		SELECT DISTINCT ON (r.golden_id, s.channel) r.golden_id AS id, s.channel, s.granted
		  FROM pg_catalog.unnest(ids) c(id)
		  JOIN @extschema@.record r ON r.golden_id = c.id
		  JOIN @extschema@.consent_statement s ON s.record_id = r.record_id AND s.purpose = seg_consent_ok.purpose
		       AND s.channel = ANY (chans)
		 WHERE cdp_internal.consent_counts(s.granted, s.records, r.golden_id)
		 ORDER BY r.golden_id, s.channel, s.at DESC, s.granted, s.event_id DESC),
	allowed AS (
		SELECT st.id, st.channel FROM st WHERE st.granted AND NOT dflt
		UNION ALL
		SELECT c.id, ch.c FROM pg_catalog.unnest(ids) c(id), pg_catalog.unnest(chans) ch(c)
		 WHERE dflt AND NOT EXISTS (SELECT 1 FROM st WHERE st.id = c.id AND st.channel = ch.c AND NOT st.granted))
	SELECT cdp_internal.seg_set(ARRAY(
		SELECT a.id FROM allowed a
		 WHERE NOT sup
		    OR NOT EXISTS (SELECT 1 FROM @extschema@.patient p
		                    CROSS JOIN LATERAL (SELECT cdp_internal.consent_addresses(p, a.channel) AS ads) x
		                    WHERE p.golden_id = a.id AND pg_catalog.cardinality(x.ads) > 0
		                      AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(x.ads) ad
		                                       WHERE NOT EXISTS (SELECT 1 FROM @extschema@.consent_suppression s
		                                                          WHERE s.address_key = ad AND s.purpose = seg_consent_ok.purpose
		                                                            AND s.suppressed))))));
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_consent_ok(bigint[], text, text) IS
	'the ids of a set that may be contacted for a purpose (through a channel, or any when NULL): may_contact for a set (internal)';

/*
 * Evaluates a plan with its guards for a day, within cand (NULL = everyone): every id the rule or
 * the include list yields, with NULL for a member or the first guard that removed it: archived,
 * excluded, no_consent, then the offer's block reason (sex, age, contraindication:<code>, ...).
 */
CREATE FUNCTION cdp_internal.seg_evaluate(plan jsonb, purpose text, channel text, offer bigint, d date,
	include bigint[], exclude bigint[], cand bigint[] DEFAULT NULL)
	RETURNS TABLE (golden_id bigint, reason text)
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n_all	bigint;
	r		bigint[];
	act		bigint[];
	kept	bigint[];
	ok		bigint[];
	o		@extschema@.offer;
BEGIN
	SELECT GREATEST(c.reltuples::bigint, 1) INTO n_all FROM pg_catalog.pg_class c
	 WHERE c.oid = '@extschema@.patient'::regclass;
	r := cdp_internal.seg_eval(plan, cand, n_all);
	r := cdp_internal.seg_or(r, CASE WHEN cand IS NULL THEN include ELSE cdp_internal.seg_and(include, cand) END);
	act := cdp_internal.seg_set(ARRAY(SELECT p.golden_id FROM pg_catalog.unnest(r) c(id)
	                                  JOIN @extschema@.patient p ON p.golden_id = c.id WHERE p.status = 'active'));
	RETURN QUERY SELECT x, 'archived'::text FROM pg_catalog.unnest(cdp_internal.seg_minus(r, act)) x;
	kept := cdp_internal.seg_minus(act, exclude);
	RETURN QUERY SELECT x, 'excluded'::text FROM pg_catalog.unnest(cdp_internal.seg_and(act, exclude)) x;
	ok := cdp_internal.seg_consent_ok(kept, purpose, channel);
	RETURN QUERY SELECT x, 'no_consent'::text FROM pg_catalog.unnest(cdp_internal.seg_minus(kept, ok)) x;
	IF offer IS NULL THEN
		RETURN QUERY SELECT x, NULL::text FROM pg_catalog.unnest(ok) x;
		RETURN;
	END IF;
	SELECT * INTO o FROM @extschema@.offer x WHERE x.offer_id = offer;
	RETURN QUERY SELECT p.golden_id, cdp_internal.offer_reason(p, o, d)
	  FROM pg_catalog.unnest(ok) c(id) JOIN @extschema@.patient p ON p.golden_id = c.id;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_evaluate(jsonb, text, text, bigint, date, bigint[], bigint[], bigint[]) IS
	'evaluates a compiled rule with the include list and the guards (archived, excluded, no_consent, offer reasons) (internal)';

/* Checks the preview/segment arguments shared by preview and create: purpose, channel, offer. */
CREATE FUNCTION cdp_internal.seg_check_target(purpose text, channel text, offer bigint) RETURNS void
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	PERFORM cdp_internal.consent_check(ARRAY[purpose], ARRAY[coalesce(channel, '*')]);
	IF channel = '*' THEN
		RAISE EXCEPTION 'a segment channel is one channel or NULL (any)' USING ERRCODE = '22023',
			HINT = 'Use email, sms, messenger, social, call, post or NULL.';
	END IF;
	IF offer IS NOT NULL AND NOT EXISTS (SELECT 1 FROM @extschema@.offer o WHERE o.offer_id = offer) THEN
		RAISE EXCEPTION 'offer "%" does not exist', offer USING ERRCODE = 'P0002',
			HINT = 'Pass an offer_id returned by cdp.create_offer.';
	END IF;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_check_target(text, text, bigint) IS
	'validates the purpose, channel and offer of a segment or preview (internal)';

/*
 * Counts who a rule would reach today, without saving anything: {"count": n, "dropped":
 * {"archived": n, "no_consent": n, "sex": n, "contraindication:C61": n, ...}, "sample": [up to 10
 * golden ids]}.
 */
CREATE FUNCTION @extschema@.segment_preview(rules jsonb, offer bigint DEFAULT NULL, purpose text DEFAULT 'marketing',
	channel text DEFAULT NULL) RETURNS jsonb
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	plan	jsonb;
BEGIN
	PERFORM cdp_internal.seg_check_target(purpose, channel, offer);
	plan := cdp_internal.seg_prepare(rules, purpose, CURRENT_DATE);
	RETURN (
		WITH ev AS (SELECT * FROM cdp_internal.seg_evaluate(plan, purpose, channel, offer, CURRENT_DATE, '{}', '{}'))
		SELECT pg_catalog.jsonb_build_object(
			'count', (SELECT pg_catalog.count(*) FROM ev WHERE ev.reason IS NULL),
			'dropped', coalesce((SELECT pg_catalog.jsonb_object_agg(x.reason, x.n) FROM
			             (SELECT ev.reason, pg_catalog.count(*) AS n FROM ev WHERE ev.reason IS NOT NULL GROUP BY ev.reason) x), '{}'),
			'sample', coalesce((SELECT pg_catalog.jsonb_agg(x.golden_id) FROM
			             (SELECT ev.golden_id FROM ev WHERE ev.reason IS NULL
			               ORDER BY pg_catalog.hashint8(ev.golden_id), ev.golden_id LIMIT 10) x), '[]')));
END
$$;
COMMENT ON FUNCTION @extschema@.segment_preview(jsonb, bigint, text, text) IS
	'who a rule would reach today, without saving: {"count", "dropped": {guard: n}, "sample": [golden ids]}; e.g. segment_preview(''{"attr": "sex", "op": "=", "value": "F"}'')';

/*
 * sql/parts/84_segment.sql: layer 8, segments as objects, materialized membership and its
 * refresh, comparison, A/B split and the BI views (issue 13).  See doc/segments.md.
 *
 * The tables are created in 83_segment_eval.sql, which reads them.
 * Definitions are events (segment.created / edited / archived / restored / listed) and versions;
 * members are the materialized result of cdp_internal.seg_evaluate, kept by
 * cdp.refresh_segment: "full" evaluates everyone, "incremental" only the persons the log names
 * since the last refresh (their records, clinical events, consent, merges, unmerges, archive,
 * the segment's lists, and the members that moved in segments it references).  Incremental
 * equals full (test/pgtap/84_segment.sql proves it on random changes); a refresh on another day,
 * after an edit or a change of the offer runs in full, since time and the rule changed for
 * everyone.
 */

/* ------------------------------------------------------------------ definitions */

/* The segment row, locked, or P0002. */
CREATE FUNCTION cdp_internal.seg_get(id bigint) RETURNS @extschema@.segment
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s	@extschema@.segment;
BEGIN
	SELECT * INTO s FROM @extschema@.segment x WHERE x.segment_id = id FOR UPDATE;
	IF s.segment_id IS NULL THEN
		RAISE EXCEPTION 'segment "%" does not exist', id USING ERRCODE = 'P0002',
			HINT = 'Pass a segment_id returned by cdp.create_segment.';
	END IF;
	RETURN s;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_get(bigint) IS 'the row of a segment, locked; P0002 when unknown (internal)';

/* Refuses a rule whose segment references lead back to the segment itself. */
CREATE FUNCTION cdp_internal.seg_check_cycle(id bigint, rules jsonb) RETURNS void
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF id IS NOT NULL AND EXISTS (
		WITH RECURSIVE refs(sid, depth) AS (
			SELECT (x #>> '{}')::bigint, 1 FROM pg_catalog.jsonb_path_query(rules, 'strict $.**.segment') x
			UNION
			SELECT (x #>> '{}')::bigint, r.depth + 1
			  FROM refs r JOIN @extschema@.segment s ON s.segment_id = r.sid
			 CROSS JOIN LATERAL pg_catalog.jsonb_path_query(s.rules, 'strict $.**.segment') x
			 WHERE r.depth < 50)
		SELECT 1 FROM refs WHERE refs.sid = id) THEN
		RAISE EXCEPTION 'segment % would reference itself', id USING ERRCODE = '22023',
			DETAIL = 'At $ (a {"segment": ...} clause leads back to this segment).', HINT = 'Remove the circular reference.';
	END IF;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_check_cycle(bigint, jsonb) IS
	'22023 when a rule''s segment references lead back to the segment (internal)';

/* Saves a version (create when id is NULL); returns the segment id. */
CREATE FUNCTION cdp_internal.seg_save(id bigint, name text, rules jsonb, purpose text, channel text, offer bigint)
	RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	plan	jsonb;
	v		int := 1;
	s		@extschema@.segment;
	ev		bigint;
	at		timestamptz := pg_catalog.clock_timestamp();
BEGIN
	IF name IS NULL OR pg_catalog.btrim(name) = '' OR pg_catalog.octet_length(name) > 200 THEN
		RAISE EXCEPTION 'a segment needs a name of 1 to 200 bytes' USING ERRCODE = '22023';
	END IF;
	PERFORM cdp_internal.seg_check_target(purpose, channel, offer);
	plan := cdp_internal.seg_prepare(rules, purpose, CURRENT_DATE);
	PERFORM cdp_internal.seg_check_cycle(id, rules);
	IF id IS NULL THEN
		id := pg_catalog.nextval('@extschema@.segment_id_seq');
		INSERT INTO cdp_internal.seg_salt SELECT pg_catalog.md5(pg_catalog.gen_random_uuid()::text || pg_catalog.clock_timestamp()::text), at
		 WHERE NOT EXISTS (SELECT 1 FROM cdp_internal.seg_salt);
	ELSE
		s := cdp_internal.seg_get(id);
		v := s.version + 1;
	END IF;
	ev := cdp_internal.append_event(CASE WHEN v = 1 THEN 'segment.created' ELSE 'segment.edited' END, id, NULL,
		pg_catalog.jsonb_build_object('version', v, 'name', name, 'rules', rules, 'purpose', purpose, 'channel', channel, 'offer', offer));
	INSERT INTO @extschema@.segment_version VALUES (id, v, name, rules, purpose, channel, offer, at, CURRENT_USER);
	INSERT INTO @extschema@.segment AS x (segment_id, name, version, rules, purpose, channel, offer_id, sensitive, created_at, updated_at, saved_by)
	VALUES (id, name, v, rules, purpose, channel, offer, plan ->> 'sensitive' IS NOT NULL, at, at, CURRENT_USER)
	ON CONFLICT (segment_id) DO UPDATE SET name = excluded.name, version = excluded.version, rules = excluded.rules,
		purpose = excluded.purpose, channel = excluded.channel, offer_id = excluded.offer_id, sensitive = excluded.sensitive,
		updated_at = excluded.updated_at, saved_by = excluded.saved_by;
	RETURN id;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_save(bigint, text, jsonb, text, text, bigint) IS
	'validates and saves a segment version (internal to create_segment and edit_segment)';

CREATE FUNCTION @extschema@.create_segment(name text, rules jsonb, purpose text DEFAULT 'marketing', offer bigint DEFAULT NULL,
	channel text DEFAULT NULL) RETURNS bigint
	LANGUAGE sql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$ SELECT cdp_internal.seg_save(NULL, $1, $2, $3, $5, $4) $$;
COMMENT ON FUNCTION @extschema@.create_segment(text, jsonb, text, bigint, text) IS
	'validates and saves a segment (rules, purpose, offer, channel: NULL = any); returns its id; members come with cdp.refresh_segment';

CREATE FUNCTION @extschema@.edit_segment(segment_id bigint, rules jsonb, name text DEFAULT NULL, purpose text DEFAULT NULL,
	offer bigint DEFAULT NULL, channel text DEFAULT NULL) RETURNS int
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s	@extschema@.segment := cdp_internal.seg_get(edit_segment.segment_id);
BEGIN
	PERFORM cdp_internal.seg_save(s.segment_id, coalesce(name, s.name), rules, coalesce(purpose, s.purpose),
		CASE WHEN channel IS NULL THEN s.channel ELSE NULLIF(channel, 'any') END,
		CASE WHEN offer IS NULL THEN s.offer_id ELSE NULLIF(offer, 0) END);
	RETURN s.version + 1;
END
$$;
COMMENT ON FUNCTION @extschema@.edit_segment(bigint, jsonb, text, text, bigint, text) IS
	'saves a new version of a segment (NULL keeps a setting; offer 0 and channel ''any'' clear them); the old version stays in cdp.segment_version';

CREATE FUNCTION @extschema@.copy_segment(segment_id bigint, name text) RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s	@extschema@.segment := cdp_internal.seg_get(copy_segment.segment_id);
	id	bigint;
BEGIN
	id := cdp_internal.seg_save(NULL, name, s.rules, s.purpose, s.channel, s.offer_id);
	INSERT INTO @extschema@.segment_list SELECT l.golden_id, id, l.list, pg_catalog.clock_timestamp()
	  FROM @extschema@.segment_list l WHERE l.segment_id = s.segment_id;
	RETURN id;
END
$$;
COMMENT ON FUNCTION @extschema@.copy_segment(bigint, text) IS 'copies a segment (rules, purpose, offer, lists) under a new name; returns the new id';

/* Archives (true) or restores (false) a segment; archiving empties its membership (history kept). */
CREATE FUNCTION @extschema@.archive_segment(segment_id bigint, archived boolean DEFAULT true) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s	@extschema@.segment := cdp_internal.seg_get(archive_segment.segment_id);
	ev	bigint;
BEGIN
	IF archived IS NULL OR (s.status = 'archived') = archived THEN
		RETURN;
	END IF;
	ev := cdp_internal.append_event(CASE WHEN archived THEN 'segment.archived' ELSE 'segment.restored' END, s.segment_id, NULL, '{}');
	IF archived THEN
		PERFORM cdp_internal.seg_apply(s, '{}', ev);
	END IF;
	UPDATE @extschema@.segment x SET status = CASE WHEN archived THEN 'archived' ELSE 'active' END,
	       updated_at = pg_catalog.clock_timestamp(), refresh_stamp = NULL
	 WHERE x.segment_id = s.segment_id;
END
$$;
COMMENT ON FUNCTION @extschema@.archive_segment(bigint, boolean) IS
	'archives a segment (its members leave; history kept) or restores it (archived => false; the next refresh is full)';

/* Adds (or with remove, removes) persons to a segment's include or exclude list. */
CREATE FUNCTION @extschema@.segment_list_set(segment_id bigint, list text, golden_ids bigint[], remove boolean DEFAULT false)
	RETURNS int
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s	@extschema@.segment := cdp_internal.seg_get(segment_list_set.segment_id);
	g	bigint;
	n	int := 0;
BEGIN
	IF list IS NULL OR NOT list IN ('include', 'exclude') THEN
		RAISE EXCEPTION 'invalid segment list "%"', list USING ERRCODE = '22023', HINT = 'Use include or exclude.';
	END IF;
	FOR g IN SELECT DISTINCT x FROM pg_catalog.unnest(golden_ids) x WHERE x IS NOT NULL LOOP
		IF NOT remove AND @extschema@.resolve_patient(g) IS NULL THEN
			RAISE EXCEPTION 'patient "%" does not exist', g USING ERRCODE = 'P0002';
		END IF;
		IF remove THEN
			DELETE FROM @extschema@.segment_list l WHERE l.segment_id = s.segment_id AND l.list = segment_list_set.list
			   AND l.golden_id = g;
		ELSE
			INSERT INTO @extschema@.segment_list VALUES (g, s.segment_id, list, pg_catalog.clock_timestamp()) ON CONFLICT DO NOTHING;
		END IF;
		IF FOUND THEN
			/* golden_id on the event: the next incremental refresh re-evaluates the person */
			PERFORM cdp_internal.append_event('segment.listed', s.segment_id, g,
				pg_catalog.jsonb_build_object('list', list, 'removed', remove));
			n := n + 1;
		END IF;
	END LOOP;
	RETURN n;
END
$$;
COMMENT ON FUNCTION @extschema@.segment_list_set(bigint, text, bigint[], boolean) IS
	'adds persons to (remove => true: removes them from) a segment''s include or exclude list; returns how many changed';

/* The include or exclude list of a segment as a set of current golden ids (merges followed). */
CREATE FUNCTION cdp_internal.seg_list_ids(id bigint, list text) RETURNS bigint[]
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT cdp_internal.seg_set(ARRAY(SELECT @extschema@.resolve_patient(l.golden_id) FROM @extschema@.segment_list l
	                                   WHERE l.segment_id = id AND l.list = seg_list_ids.list))
$$;
COMMENT ON FUNCTION cdp_internal.seg_list_ids(bigint, text) IS 'a segment''s list resolved to current golden ids (internal)';

/* ------------------------------------------------------------------ membership */

/*
 * Makes the members of a segment within scope (NULL: everyone) equal keep: members who are not in
 * keep leave, ids of keep who are not members enter, and every member of keep gets the channels
 * it may be contacted through now.  History rows carry the refresh event ev.  Returns
 * {"entered": n, "left": n}.
 */
CREATE FUNCTION cdp_internal.seg_apply(s @extschema@.segment, keep bigint[], ev bigint, scope bigint[] DEFAULT NULL)
	RETURNS jsonb
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	cur		bigint[];
	gone	bigint[];
	came	bigint[];
	at		timestamptz := pg_catalog.clock_timestamp();
BEGIN
	IF scope IS NULL THEN
		cur := cdp_internal.seg_set(ARRAY(SELECT m.golden_id FROM @extschema@.segment_member m WHERE m.segment_id = s.segment_id));
	ELSE
		cur := cdp_internal.seg_set(ARRAY(SELECT m.golden_id FROM pg_catalog.unnest(scope) c(id)
		          JOIN @extschema@.segment_member m ON m.segment_id = s.segment_id AND m.golden_id = c.id));
		keep := cdp_internal.seg_and(keep, scope);
	END IF;
	gone := cdp_internal.seg_minus(cur, keep);
	came := cdp_internal.seg_minus(keep, cur);
	DELETE FROM @extschema@.segment_member m USING pg_catalog.unnest(gone) g(id)
	 WHERE m.segment_id = s.segment_id AND m.golden_id = g.id;
	UPDATE @extschema@.segment_member_history h SET left_at = at, left_event = ev, left_version = s.version
	  FROM pg_catalog.unnest(gone) g(id)
	 WHERE h.segment_id = s.segment_id AND h.golden_id = g.id AND h.left_event IS NULL;
	WITH ch AS (
		SELECT c.id, pg_catalog.array_agg(x.channel ORDER BY x.channel) AS channels
		  FROM @extschema@.consent_channels() x
		 CROSS JOIN LATERAL pg_catalog.unnest(cdp_internal.seg_consent_ok(keep, s.purpose, x.channel)) c(id)
		 GROUP BY c.id),
	upd AS (
		UPDATE @extschema@.segment_member m SET channels = ch.channels FROM ch
		 WHERE m.segment_id = s.segment_id AND m.golden_id = ch.id AND m.channels IS DISTINCT FROM ch.channels)
	INSERT INTO @extschema@.segment_member (golden_id, segment_id, version, entered_at, channels)
	SELECT c.id, s.segment_id, s.version, at, coalesce(ch.channels, '{}')
	  FROM pg_catalog.unnest(came) c(id) LEFT JOIN ch ON ch.id = c.id;
	INSERT INTO @extschema@.segment_member_history (golden_id, segment_id, version, entered_at, entered_event)
	SELECT c.id, s.segment_id, s.version, at, ev FROM pg_catalog.unnest(came) c(id);
	RETURN pg_catalog.jsonb_build_object('entered', pg_catalog.cardinality(came), 'left', pg_catalog.cardinality(gone));
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_apply(@extschema@.segment, bigint[], bigint, bigint[]) IS
	'makes a segment''s members within a scope equal a set, with history and channels (internal)';

/*
 * The persons the log names between two positions (lo, hi], as current golden ids: everything
 * that can change a person's evaluation (their records, clinical events, consent, archive, merges
 * and unmerges, a segment list, an address suppressed, a move in a segment this one references).
 * NULL when an event changes everyone (survivorship rules, a source's trust or kind): then the
 * refresh is full.
 */
CREATE FUNCTION cdp_internal.seg_changed(s @extschema@.segment, lo bigint, hi bigint) RETURNS bigint[]
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	ids		bigint[];
	refs	bigint[] := ARRAY(SELECT DISTINCT (x #>> '{}')::bigint FROM pg_catalog.jsonb_path_query(s.rules, 'strict $.**.segment') x);
BEGIN
	IF EXISTS (SELECT 1 FROM @extschema@.event e WHERE e.event_id > lo AND e.event_id <= hi
	            AND e.kind IN ('survivorship.configured', 'source.updated')) THEN
		RETURN NULL;
	END IF;
	WITH e AS MATERIALIZED (SELECT * FROM @extschema@.event e WHERE e.event_id > lo AND e.event_id <= hi),
	ids AS (
		SELECT e.golden_id AS id FROM e WHERE e.golden_id IS NOT NULL
		UNION ALL SELECT e.subject FROM e WHERE e.kind = 'patient.merged'
		UNION ALL SELECT (e.payload ->> 'from')::bigint FROM e WHERE e.kind = 'patient.unmerged'
		UNION ALL SELECT r.golden_id FROM e JOIN @extschema@.record r ON r.record_id = e.subject WHERE e.kind LIKE 'record.%'
		UNION ALL SELECT r.golden_id FROM e CROSS JOIN LATERAL pg_catalog.jsonb_array_elements_text(e.payload -> 'records') x
		            JOIN @extschema@.record r ON r.record_id = x::bigint WHERE e.kind LIKE 'consent.%'
		UNION ALL SELECT p.golden_id FROM e JOIN @extschema@.patient p
		            ON p.phones @> pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('value', e.payload ->> 'address_key'))
		            OR p.emails @> pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('value', e.payload ->> 'address_key'))
		            OR p.handles @> pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('value', e.payload ->> 'address_key'))
		            OR pg_catalog.lower(pg_catalog.btrim(p.address)) = e.payload ->> 'address_key'
		           WHERE e.kind LIKE 'consent.%' AND e.payload ->> 'address_key' IS NOT NULL
		UNION ALL SELECT h.golden_id FROM pg_catalog.unnest(refs) r(sid)
		            JOIN @extschema@.segment_member_history h ON h.segment_id = r.sid AND h.entered_event > lo AND h.entered_event <= hi
		UNION ALL SELECT h.golden_id FROM pg_catalog.unnest(refs) r(sid)
		            JOIN @extschema@.segment_member_history h ON h.segment_id = r.sid AND h.left_event > lo AND h.left_event <= hi)
	SELECT cdp_internal.seg_set(ARRAY(SELECT ids.id FROM ids)) INTO ids;
	/* ids merged away since: their survivors too (only ids without a profile need resolving) */
	RETURN cdp_internal.seg_or(ids, cdp_internal.seg_set(ARRAY(
		SELECT @extschema@.resolve_patient(x) FROM pg_catalog.unnest(ids) x
		 WHERE NOT EXISTS (SELECT 1 FROM @extschema@.patient p WHERE p.golden_id = x))));
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_changed(@extschema@.segment, bigint, bigint) IS
	'the golden ids whose evaluation the log changed between two event ids; NULL when everyone''s did (internal)';

/*
 * Waits until every transaction that has appended to the log and not ended yet has ended, so that
 * every event up to a position read before the call is committed (or gone) before the refresh
 * reads; without it an event committed late with a smaller id would be skipped by the next
 * incremental refresh.  The wait is a lock: SHARE on cdp.event conflicts with the ROW EXCLUSIVE
 * lock each writer holds until it ends.  Taken in a subtransaction that is rolled back at once,
 * so the lock is released at once; meanwhile new writers queue behind it only until the writers
 * before it end.  At most 10 seconds (lock_timeout), then 55P03: a long bulk load is running, the
 * next scheduled refresh will try again.
 */
CREATE FUNCTION cdp_internal.seg_wait_writers() RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	BEGIN
		PERFORM pg_catalog.set_config('lock_timeout', '10s', true);
		LOCK TABLE @extschema@.event IN SHARE MODE;
		RAISE EXCEPTION 'cdp: writers drained' USING ERRCODE = 'P0001';
	EXCEPTION
		WHEN lock_not_available THEN
			RAISE EXCEPTION 'a segment refresh waited 10 seconds for transactions writing to the log to end' USING ERRCODE = '55P03',
				HINT = 'A long transaction is appending events (see pg_stat_activity); retry when it has ended.';
		WHEN raise_exception THEN
			IF SQLERRM <> 'cdp: writers drained' THEN
				RAISE;
			END IF;
	END;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_wait_writers() IS
	'waits (a lock, released at once) until the transactions appending to cdp.event have ended (internal to refresh_segment)';

/*
 * Refreshes the members of a segment: 'full' evaluates everyone; 'incremental' only the persons
 * the log names since the last refresh, and runs in full instead on a new day, after an edit or a
 * change of the offer, or when an event changed everyone.  Returns {"mode", "evaluated",
 * "entered", "left", "size"}.  Needs READ COMMITTED (each statement must see what committed).
 */
CREATE FUNCTION @extschema@.refresh_segment(id bigint, mode text DEFAULT 'incremental') RETURNS jsonb
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	mark	bigint;
	s		@extschema@.segment;
	d		date := CURRENT_DATE;
	stamp	text;
	plan	jsonb;
	cand	bigint[];
	keep	bigint[];
	ev		bigint;
	res		jsonb;
	m		text := mode;
BEGIN
	IF m IS NULL OR NOT m IN ('full', 'incremental') THEN
		RAISE EXCEPTION 'invalid refresh mode "%"', m USING ERRCODE = '22023', HINT = 'Use full or incremental.';
	END IF;
	IF pg_catalog.current_setting('transaction_isolation') <> 'read committed' THEN
		RAISE EXCEPTION 'refresh_segment needs READ COMMITTED' USING ERRCODE = '25000',
			DETAIL = 'It must see what committed while it waited for writers.';
	END IF;
	/* the log position first, then wait for whoever was writing: every event up to mark is settled */
	mark := coalesce(pg_catalog.pg_sequence_last_value('@extschema@.event_event_id_seq'::regclass), 0);
	PERFORM cdp_internal.seg_wait_writers();
	s := cdp_internal.seg_get(id);
	IF s.status <> 'active' THEN
		RAISE EXCEPTION 'segment "%" is archived', id USING ERRCODE = '55000', HINT = 'Restore it with cdp.archive_segment(id, false).';
	END IF;
	stamp := pg_catalog.format('v%s d%s o%s', s.version, d,
		(SELECT o.version || o.status FROM @extschema@.offer o WHERE o.offer_id = s.offer_id));
	IF m = 'incremental' AND s.refresh_stamp IS DISTINCT FROM stamp THEN
		m := 'full';
	END IF;
	IF m = 'incremental' THEN
		cand := cdp_internal.seg_changed(s, s.refresh_mark, GREATEST(mark, s.refresh_mark));
		IF cand IS NULL THEN
			m := 'full';
		END IF;
	END IF;
	ev := cdp_internal.append_event('segment.refreshed', s.segment_id, NULL,
		pg_catalog.jsonb_build_object('mode', m, 'version', s.version, 'from', s.refresh_mark, 'to', mark));
	plan := cdp_internal.seg_compile(s.rules, d);
	SELECT cdp_internal.seg_set(ARRAY(SELECT x.golden_id FROM cdp_internal.seg_evaluate(plan, s.purpose, s.channel, s.offer_id, d,
	           cdp_internal.seg_list_ids(s.segment_id, 'include'), cdp_internal.seg_list_ids(s.segment_id, 'exclude'),
	           CASE WHEN m = 'full' THEN NULL ELSE cand END) x WHERE x.reason IS NULL))
	  INTO keep;
	res := cdp_internal.seg_apply(s, keep, ev, CASE WHEN m = 'full' THEN NULL ELSE cand END);
	UPDATE @extschema@.segment x SET last_refresh_at = pg_catalog.clock_timestamp(), last_refresh_mode = m,
	       refresh_mark = GREATEST(mark, s.refresh_mark), refresh_stamp = stamp
	 WHERE x.segment_id = s.segment_id;
	RETURN res || pg_catalog.jsonb_build_object('mode', m,
		'evaluated', CASE WHEN m = 'full' THEN NULL ELSE pg_catalog.cardinality(cand) END,
		'size', (SELECT pg_catalog.count(*) FROM @extschema@.segment_member x WHERE x.segment_id = s.segment_id));
END
$$;
COMMENT ON FUNCTION @extschema@.refresh_segment(bigint, text) IS
	'refreshes a segment''s members: full, or incremental (only persons the log changed since the last refresh); e.g. refresh_segment(3)';

/* Sets or clears (NULL) the automatic refresh period of a segment, run by cdp.run_maintenance. */
CREATE FUNCTION @extschema@.set_segment_refresh(segment_id bigint, every interval) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	PERFORM cdp_internal.seg_get(set_segment_refresh.segment_id);
	IF every < interval '1 minute' THEN
		RAISE EXCEPTION 'a segment refresh period is at least one minute' USING ERRCODE = '22023';
	END IF;
	UPDATE @extschema@.segment x SET auto_refresh = every WHERE x.segment_id = set_segment_refresh.segment_id;
END
$$;
COMMENT ON FUNCTION @extschema@.set_segment_refresh(bigint, interval) IS
	'refresh a segment automatically every period (cdp.run_maintenance); NULL stops it; e.g. set_segment_refresh(3, ''1 hour'')';

/* Refreshes (incrementally) every active segment whose period has passed; returns how many. */
CREATE FUNCTION @extschema@.refresh_due_segments() RETURNS int
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	id	bigint;
	n	int := 0;
BEGIN
	FOR id IN SELECT s.segment_id FROM @extschema@.segment s
	           WHERE s.status = 'active' AND s.auto_refresh IS NOT NULL
	             AND (s.last_refresh_at IS NULL OR s.last_refresh_at + s.auto_refresh <= pg_catalog.now())
	           ORDER BY s.segment_id LOOP
		PERFORM @extschema@.refresh_segment(id, 'incremental');
		n := n + 1;
	END LOOP;
	RETURN n;
END
$$;
COMMENT ON FUNCTION @extschema@.refresh_due_segments() IS
	'incremental refresh of every segment whose automatic period has passed (called by cdp.run_maintenance); returns how many';

/* ------------------------------------------------------------------ comparing, splitting */

CREATE FUNCTION @extschema@.segment_compare(a bigint, b bigint,
	OUT reach_a bigint, OUT reach_b bigint, OUT overlap bigint, OUT only_a bigint, OUT only_b bigint)
	LANGUAGE sql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	WITH x AS (SELECT cdp_internal.seg_set(ARRAY(SELECT m.golden_id FROM @extschema@.segment_member m WHERE m.segment_id = a)) AS sa,
	                  cdp_internal.seg_set(ARRAY(SELECT m.golden_id FROM @extschema@.segment_member m WHERE m.segment_id = b)) AS sb)
	SELECT pg_catalog.cardinality(x.sa)::bigint, pg_catalog.cardinality(x.sb)::bigint,
	       pg_catalog.cardinality(cdp_internal.seg_and(x.sa, x.sb))::bigint,
	       pg_catalog.cardinality(cdp_internal.seg_minus(x.sa, x.sb))::bigint,
	       pg_catalog.cardinality(cdp_internal.seg_minus(x.sb, x.sa))::bigint
	  FROM x
$$;
COMMENT ON FUNCTION @extschema@.segment_compare(bigint, bigint) IS
	'reach of two segments (current members), their overlap and what only each reaches';

/*
 * A deterministic A/B split of a segment's members into named arms with given proportions
 * ({"A": 50, "B": 50}): each person's arm depends only on a hash of its golden id and the segment
 * id, so it stays the same when the segment grows or is refreshed.
 */
CREATE FUNCTION @extschema@.segment_split(segment_id bigint, arms jsonb) RETURNS TABLE (golden_id bigint, arm text)
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF arms IS NULL OR pg_catalog.jsonb_typeof(arms) <> 'object' OR arms = '{}'
	   OR EXISTS (SELECT 1 FROM pg_catalog.jsonb_each(arms) x WHERE pg_catalog.jsonb_typeof(x.value) <> 'number' OR (x.value #>> '{}')::numeric <= 0) THEN
		RAISE EXCEPTION 'arms must be an object of positive proportions' USING ERRCODE = '22023',
			DETAIL = 'At $.', HINT = 'Use {"A": 50, "B": 50} or {"control": 10, "offer": 90}.';
	END IF;
	RETURN QUERY
	WITH a AS (
		SELECT x.key, pg_catalog.sum((x.value #>> '{}')::numeric) OVER (ORDER BY x.key) / pg_catalog.sum((x.value #>> '{}')::numeric) OVER () AS upto
		  FROM pg_catalog.jsonb_each(arms) x)
	SELECT m.golden_id, (SELECT a.key FROM a WHERE a.upto > h.u ORDER BY a.upto LIMIT 1)
	  FROM @extschema@.segment_member m
	 CROSS JOIN LATERAL (SELECT ((pg_catalog.hashint8extended(m.golden_id, m.segment_id) & 2147483647)::numeric / 2147483648) AS u) h
	 WHERE m.segment_id = segment_split.segment_id
	 ORDER BY m.golden_id;
END
$$;
COMMENT ON FUNCTION @extschema@.segment_split(bigint, jsonb) IS
	'deterministic A/B split of a segment''s members by a hash of the golden id; e.g. segment_split(3, ''{"A": 50, "B": 50}'')';

/* ------------------------------------------------------------------ BI views */

CREATE VIEW @extschema@.segment_summary WITH (security_invoker = true) AS
SELECT s.segment_id, s.name, s.version, s.status, s.purpose, s.channel, s.offer_id,
       coalesce(m.size, 0) AS size,
       coalesce(m.email, 0) AS reach_email, coalesce(m.sms, 0) AS reach_sms, coalesce(m.messenger, 0) AS reach_messenger,
       coalesce(m.social, 0) AS reach_social, coalesce(m.call, 0) AS reach_call, coalesce(m.post, 0) AS reach_post,
       s.created_at, s.updated_at, s.last_refresh_at, s.last_refresh_mode, s.auto_refresh
  FROM @extschema@.segment s
  LEFT JOIN LATERAL (
	SELECT pg_catalog.count(*) AS size,
	       pg_catalog.count(*) FILTER (WHERE 'email' = ANY (x.channels)) AS email,
	       pg_catalog.count(*) FILTER (WHERE 'sms' = ANY (x.channels)) AS sms,
	       pg_catalog.count(*) FILTER (WHERE 'messenger' = ANY (x.channels)) AS messenger,
	       pg_catalog.count(*) FILTER (WHERE 'social' = ANY (x.channels)) AS social,
	       pg_catalog.count(*) FILTER (WHERE 'call' = ANY (x.channels)) AS call,
	       pg_catalog.count(*) FILTER (WHERE 'post' = ANY (x.channels)) AS post
	  FROM @extschema@.segment_member x WHERE x.segment_id = s.segment_id) m ON true;
COMMENT ON VIEW @extschema@.segment_summary IS
	'per segment: version, status, size, reachable size per channel (consent and suppression as of the last refresh), created, updated, last refresh';

/*
 * Members for analysts without names or contacts: a stable pseudonym (keyed hash of the golden id
 * with a secret salt), age band, sex, city; a row whose (segment, age band, sex, city) group has
 * fewer than 5 members is left out.
 */
CREATE VIEW @extschema@.segment_member_pseudonymous WITH (security_invoker = true) AS
WITH m AS (
	SELECT x.segment_id,
	       cdp_internal.seg_pseudonym(x.golden_id) AS pseudonym,
	       CASE WHEN a.age IS NULL THEN NULL WHEN a.age < 18 THEN '0-17' WHEN a.age < 25 THEN '18-24' WHEN a.age < 35 THEN '25-34'
	            WHEN a.age < 45 THEN '35-44' WHEN a.age < 55 THEN '45-54' WHEN a.age < 65 THEN '55-64' ELSE '65+' END AS age_band,
	       p.sex, p.city
	  FROM @extschema@.segment_member x
	  JOIN @extschema@.patient p ON p.golden_id = x.golden_id
	 CROSS JOIN LATERAL (SELECT EXTRACT(year FROM pg_catalog.age(CURRENT_DATE, p.birth_date))::int AS age) a)
SELECT g.segment_id, g.pseudonym, g.age_band, g.sex, g.city
  FROM (SELECT m.*, pg_catalog.count(*) OVER (PARTITION BY m.segment_id, m.age_band, m.sex, m.city) AS n FROM m) g
 WHERE g.n >= 5;
COMMENT ON VIEW @extschema@.segment_member_pseudonymous IS
	'segment members for analysts: pseudonym, age band, sex, city; groups under 5 left out; no names or contacts';

REVOKE ALL ON FUNCTION @extschema@.create_segment(text, jsonb, text, bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.edit_segment(bigint, jsonb, text, text, bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.copy_segment(bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.archive_segment(bigint, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.segment_list_set(bigint, text, bigint[], boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.refresh_segment(bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.set_segment_refresh(bigint, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.refresh_due_segments() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.configure_sensitive_categories(jsonb) FROM PUBLIC;

/* cdp.run_maintenance also refreshes the segments that are due (one line added in sql/parts/75_golden_archive.sql) */
CREATE OR REPLACE PROCEDURE @extschema@.run_maintenance(batch_size int DEFAULT 1000)
	LANGUAGE plpgsql
	AS $$
DECLARE
	lo		bigint;
	hi		bigint;
	top		bigint;
	ids		bigint[];
	lock_key constant bigint := 7307770001;
BEGIN
	PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
	IF batch_size IS NULL OR batch_size < 1 OR batch_size > 1000000 THEN
		RAISE EXCEPTION 'batch_size must be between 1 and 1000000' USING ERRCODE = '22023';
	END IF;
	IF NOT pg_catalog.pg_try_advisory_lock(lock_key) THEN
		RAISE NOTICE 'cdp.run_maintenance is already running in another session';
		RETURN;
	END IF;
	IF pg_catalog.to_regprocedure('@extschema@.run_matching(text)') IS NOT NULL THEN
		EXECUTE 'SELECT @extschema@.run_matching($1)' USING 'incremental';
		COMMIT;
		PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
	END IF;
	SELECT coalesce(pg_catalog.max(e.event_id), 0) INTO top FROM @extschema@.event e;
	LOOP
		SELECT s.last_event_id INTO lo FROM cdp_internal.golden_state s;
		EXIT WHEN lo >= top;
		hi := least(lo + batch_size, top);
		SELECT pg_catalog.array_agg(DISTINCT x) INTO ids FROM (
			SELECT e.golden_id AS x FROM @extschema@.event e
			 WHERE e.event_id > lo AND e.event_id <= hi AND e.golden_id IS NOT NULL
			UNION
			SELECT r.golden_id FROM @extschema@.event e JOIN @extschema@.record r ON r.record_id = e.subject
			 WHERE e.event_id > lo AND e.event_id <= hi AND e.kind IN ('record.created', 'record.updated')) t;
		PERFORM cdp_internal.refresh_patients(ids);
		UPDATE cdp_internal.golden_state SET last_event_id = hi;
		COMMIT;
		PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
	END LOOP;
	PERFORM @extschema@.refresh_due_segments();	/* segments due for their automatic refresh (issue 13, doc/segments.md) */
	PERFORM pg_catalog.pg_advisory_unlock(lock_key);
END
$$;

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
		   AND (c.relname OPERATOR(pg_catalog.~) '^(consent|offer|segment|seg)_' OR c.relname OPERATOR(pg_catalog.=) ANY (ARRAY['offer', 'segment', 'sensitive_category']))
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

/* -- from sql/parts/90_privileges.sql -- */
/*
 * sql/parts/90_privileges.sql: least privilege, and the access family's grant matrix (issue 15).
 *
 * Every function of the private schema cdp_internal is revoked from PUBLIC (the schema grants no
 * USAGE either; the revoke keeps a later GRANT USAGE from opening them), and so is every SECURITY
 * DEFINER function of the API.  cdp_internal.acc_lock_down() does it from the catalog, so a function
 * added by any family is covered without a list here; it runs here and again at the end of the
 * access parts (94_acc_audit.sql), which create functions of their own.
 * test/sql/00_install.sql lists every SECURITY DEFINER function PUBLIC can execute (none) and every
 * table without row-level security (only ones without personal data).
 *
 * The clinic's roles (cdp_admin, cdp_registrar, ...; created by cdp.setup_roles(), 91_acc_roles.sql)
 * get privileges on the documented API in schema cdp only, never on cdp_internal.  What each role
 * gets is the table cdp_internal.acc_privilege below, one row per (role, object, privilege): the
 * single source of truth that cdp.setup_roles() applies and that doc/security.md lists (a TAP test,
 * test/t/056_access_docs.pl, compares the document with what each role can use).
 */
CREATE FUNCTION cdp_internal.acc_lock_down(spare regprocedure[] DEFAULT '{}') RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	f	regprocedure;
BEGIN
	FOR f IN
		SELECT p.oid::regprocedure
		  FROM pg_catalog.pg_proc p
		 WHERE ((p.pronamespace OPERATOR(pg_catalog.=) '@extschema@'::regnamespace AND p.prosecdef)
				OR p.pronamespace OPERATOR(pg_catalog.=) 'cdp_internal'::regnamespace)
		   AND p.oid OPERATOR(pg_catalog.<>) ALL (COALESCE(spare, '{}')::oid[])
	LOOP
		EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
	END LOOP;
END
$$;
COMMENT ON FUNCTION cdp_internal.acc_lock_down(regprocedure[]) IS
	'revokes from PUBLIC every function of cdp_internal and every SECURITY DEFINER function of cdp but the spared ones (install, update, setup_roles)';
/*
 * In a fresh install cdp_internal._restore_replace_installed is created by sql/parts/95_dump.sql,
 * after the access parts revoke every internal function from PUBLIC, so it keeps PUBLIC's EXECUTE
 * there (harmless: a trigger function cannot be called but as a trigger; cdp.setup_roles() revokes
 * it).  The update spares it so that an updated catalog equals a fresh one.
 */
SELECT cdp_internal.acc_lock_down(ARRAY['cdp_internal._restore_replace_installed()']::pg_catalog.regprocedure[]);

/* a reviewer's free-text note may name people */
ALTER TABLE @extschema@.pair_decision ENABLE ROW LEVEL SECURITY;

/*
 * The grant matrix.  kind is 'function' (object = a regprocedure's text, privilege EXECUTE) or
 * 'table' (object = a regclass's text, privilege SELECT, INSERT, UPDATE or DELETE).  Rows name
 * objects of schema cdp only (a CHECK refuses cdp_internal).  Row-level security decides which rows
 * a table privilege shows (92_acc_policies.sql).
 */
CREATE TABLE cdp_internal.acc_privilege (
	role		text NOT NULL
		CONSTRAINT acc_privilege_role_check CHECK (role OPERATOR(pg_catalog.~) '^cdp_[a-z]+$'),
	kind		text NOT NULL
		CONSTRAINT acc_privilege_kind_check CHECK (kind OPERATOR(pg_catalog.=) ANY (ARRAY['function', 'table'])),
	object		text NOT NULL
		CONSTRAINT acc_privilege_api_only CHECK (object OPERATOR(pg_catalog.~~) 'cdp.%'),
	privilege	text NOT NULL
		CONSTRAINT acc_privilege_privilege_check
		CHECK (privilege OPERATOR(pg_catalog.=) ANY (ARRAY['EXECUTE', 'SELECT', 'INSERT', 'UPDATE', 'DELETE'])),
	PRIMARY KEY (role, kind, object, privilege)
);
COMMENT ON TABLE cdp_internal.acc_privilege IS
	'the grant matrix of the clinic roles but cdp_admin (which gets every function and table of schema cdp): role, privilege, object (applied by cdp.setup_roles)';

/*
 * A restore copies the dumped rows of the access family's tables (95_dump.sql dumps every table)
 * over the rows CREATE EXTENSION (or cdp.setup_roles) installed: a row with the key of an existing
 * one replaces it, so the dumped matrix, registry and pseudonym key win, as in
 * cdp_internal._restore_replace_installed.  In normal use no insert meets an existing key.
 */
CREATE FUNCTION cdp_internal.acc_restore_replace() RETURNS trigger
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF TG_TABLE_NAME OPERATOR(pg_catalog.=) 'acc_privilege' THEN
		DELETE FROM cdp_internal.acc_privilege p
		 WHERE p.role OPERATOR(pg_catalog.=) NEW.role AND p.kind OPERATOR(pg_catalog.=) NEW.kind
		   AND p.object OPERATOR(pg_catalog.=) NEW.object AND p.privilege OPERATOR(pg_catalog.=) NEW.privilege;
	ELSIF TG_TABLE_NAME OPERATOR(pg_catalog.=) 'acc_table' THEN
		DELETE FROM cdp_internal.acc_table t WHERE t.tbl OPERATOR(pg_catalog.=) NEW.tbl;
	ELSIF TG_TABLE_NAME OPERATOR(pg_catalog.=) 'acc_key' THEN
		DELETE FROM cdp_internal.acc_key k WHERE k.one OPERATOR(pg_catalog.=) NEW.one;
	ELSE
		RAISE EXCEPTION 'cdp_internal.acc_restore_replace is not a trigger of table "%"', TG_TABLE_NAME
			USING ERRCODE = 'wrong_object_type';
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION cdp_internal.acc_restore_replace() IS
	'internal trigger: a row copied in by a restore replaces the installed one (acc_privilege, acc_table, acc_key)';
CREATE TRIGGER acc_privilege_restore BEFORE INSERT ON cdp_internal.acc_privilege
	FOR EACH ROW EXECUTE FUNCTION cdp_internal.acc_restore_replace();
ALTER TABLE cdp_internal.acc_privilege ENABLE ALWAYS TRIGGER acc_privilege_restore;

/* -- from sql/parts/91_acc_roles.sql -- */
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

/* -- from sql/parts/92_acc_policies.sql -- */
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
		CHECK (kind OPERATOR(pg_catalog.=) ANY (ARRAY['patient', 'clinical', 'log', 'audit', 'marketing', 'registry', 'review', 'internal']))
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
 * one).  LEAKPROOF: it raises no error and reveals nothing but its answer, so the planner may use it
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
							  AND c.specialty OPERATOR(pg_catalog.=) ANY (
								  SELECT pg_catalog.jsonb_array_elements_text(
									  CASE WHEN pg_catalog.jsonb_typeof(g.scope OPERATOR(pg_catalog.->) 'specialties') OPERATOR(pg_catalog.=) 'array'
										   THEN g.scope OPERATOR(pg_catalog.->) 'specialties' ELSE '[]'::jsonb END)))))
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
	('cdp_internal.match_review', 'internal'),
	('cdp_internal.match_part', 'internal'),
	('cdp_internal.household', 'internal'),
	('cdp_internal.acc_grant', 'internal')) t(tbl, kind);

/* the consent family's tables (issue 13), when it is installed before this part */
SELECT cdp_internal.acc_protect(t.tbl::pg_catalog.regclass, 'registry')
  FROM (VALUES ('@extschema@.consent_statement'), ('@extschema@.consent_suppression')) t(tbl)
 WHERE pg_catalog.to_regclass(t.tbl) IS NOT NULL;

/* -- from sql/parts/93_acc_mask.sql -- */
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

/* -- from sql/parts/94_acc_audit.sql -- */
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
	FOR t IN SELECT a.tbl FROM cdp_internal.acc_table a WHERE a.kind OPERATOR(pg_catalog.=) 'marketing' ORDER BY a.tbl::text LOOP
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
 * In a fresh install cdp_internal._restore_replace_installed is created by sql/parts/95_dump.sql,
 * after the access parts revoke every internal function from PUBLIC, so it keeps PUBLIC's EXECUTE
 * there (harmless: a trigger function cannot be called but as a trigger; cdp.setup_roles() revokes
 * it).  The update spares it so that an updated catalog equals a fresh one.
 */
SELECT cdp_internal.acc_lock_down(ARRAY['cdp_internal._restore_replace_installed()']::pg_catalog.regprocedure[]);

/* -- as sql/parts/95_dump.sql does for every table at install: the access family's tables are dumped -- */
SELECT pg_catalog.pg_extension_config_dump('@extschema@.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.audit_log_audit_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('cdp_internal.acc_privilege', '');
SELECT pg_catalog.pg_extension_config_dump('cdp_internal.acc_grant', '');
SELECT pg_catalog.pg_extension_config_dump('cdp_internal.acc_table', '');
SELECT pg_catalog.pg_extension_config_dump('cdp_internal.acc_key', '');
SELECT pg_catalog.pg_extension_config_dump('cdp_internal.acc_legal_hold', '');

/* ==== end of section: access ==== */


/* ==== section: import (issue 16) ==== */

/* ==== end of section: import ==== */


/* ==== section: segments under access control (issues 13 + 15) ==== */
/*
 * As sql/parts/97_seg_access.sql: the consent, offer and segment API runs as the owner with EXECUTE
 * granted by the matrix, consent changes are audited, the marketer's preview folds the clinical
 * guards, membership tables are registered as marketing data.  After every other section.
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
 * the new functions of this section are revoked from PUBLIC too; sparing nothing, as 97_seg_access
 * does after 95_dump.sql at install, so cdp_internal._restore_replace_installed is revoked in both
 */
SELECT cdp_internal.acc_lock_down();

/* ==== end of section: segments under access control ==== */
