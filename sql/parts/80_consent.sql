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

/*
 * The purposes, their defaults, and the channels: the one place that names them.  ROWS says how
 * many (a function with SET is not inlined, so the planner took the default 1000 rows: a join of
 * the persons with every purpose and channel was estimated 33,000 times too large, costly enough
 * for JIT compilation of each such query; session 32)
 */
CREATE FUNCTION @extschema@.consent_purposes(OUT purpose text, OUT default_granted boolean, OUT description text)
	RETURNS SETOF record
	LANGUAGE sql IMMUTABLE PARALLEL SAFE ROWS 5
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
	LANGUAGE sql IMMUTABLE PARALLEL SAFE ROWS 6
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
	                -- the whole e-mail lower-cased: every real provider folds the local part (doc/consent.md)
	                pg_catalog.lower((@extschema@.try_email(address))::text),
	                pg_catalog.lower(pg_catalog.btrim(address)))
$$;
COMMENT ON FUNCTION @extschema@.consent_address_key(text) IS
	'canonical key of a contact address for the suppression list: E.164 phone, canonical e-mail in lower case, else trimmed lower case';

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
	withdrawal	bigint,
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
		/* the key as consent_address_key makes it now (a replay of an event keyed by an older rule) */
		payload := payload || pg_catalog.jsonb_build_object('address_key',
			coalesce(@extschema@.consent_address_key(payload ->> 'address'), payload ->> 'address_key'));
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
			       given_for = excluded.given_for, records = excluded.records,
			       withdrawal = CASE WHEN excluded.suppressed THEN NULL WHEN s.suppressed THEN s.event_id ELSE s.withdrawal END
			 WHERE (s.at, s.event_id) < (excluded.at, excluded.event_id)
			   AND (excluded.suppressed OR NOT s.suppressed OR s.records OPERATOR(pg_catalog.&&) excluded.records);
		END LOOP;
		/* a lift counts while the grant's records are still the withdrawer's (the records as they are now: a replay decides the same) */
		PERFORM cdp_internal.consent_lift_sync(recs);
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

/* ------------------------------------------------------------------ per-person summary */

/*
 * The segments' consent filter reads one row per person instead of folding the statements of the
 * person's records (session 23, doc/consent.md "Performance"): cdp_internal.consent_summary holds,
 * per golden id that holds a record, the fold of consent_now as a bitmask (bit = the purpose's
 * position in consent_purposes() * 8 + the channel's position in consent_channels(), 0-based,
 * set = granted, defaults included) and the kinds of the sources of the person's records (internal:
 * the clinic's own, so no partner rule; partner).  The segments' source_kind clause reads the
 * kinds too (82_segment_rules.sql).  Suppressed addresses are not in it (they depend on the profile's addresses: read at the time).
 * Kept exact by the paths that change its inputs, in the writer's transaction (triggers below):
 * statement rows inserted (set_consents, a bulk loader), a record moved (merge, unmerge, replay),
 * re-sourced or deleted, a source's kind changed; cdp.rebuild_consent() recomputes it whole.
 * A person without a row (new since, with no statement and no merge) has no statement that
 * counts: the defaults; the readers take such a person's source kinds from the records.
 * statements (session 28) names, per purpose x channel, the statement a message on that channel
 * cites (the send list's provenance, 86_campaign_send.sql): the latest statement of the person's
 * records, as cdp_internal.campaign_decide looks it up, whether or not it counts; the send list
 * reads it with the summary row instead of probing the records and statements of every message.
 */
CREATE TABLE cdp_internal.consent_summary (
	golden_id		bigint PRIMARY KEY,
	allowed			bigint NOT NULL,
	internal		boolean NOT NULL,
	partner			boolean NOT NULL,
	statements		bigint[]
);
COMMENT ON TABLE cdp_internal.consent_summary IS
	'per person: the purposes x channels consent now allows (bitmask, defaults included), whether a record comes from an internal, a partner source, and the latest statement per purpose x channel; projection of consent_statement, record and source (internal)';
COMMENT ON COLUMN cdp_internal.consent_summary.statements IS
	'per purpose x channel (subscript: its bit in allowed + 1): the event id of the latest statement of the person''s records (latest at, then highest event id; counting or not), NULL where none; NULL when the person has no statement (internal)';
ALTER TABLE cdp_internal.consent_summary ENABLE ROW LEVEL SECURITY;
ALTER TABLE cdp_internal.consent_summary FORCE ROW LEVEL SECURITY;

/*
 * Every purpose x channel with its bit in consent_summary.allowed, in one call (session 24: the
 * summary's recomputation called consent_bit once per pair, 30 calls of two set-returning
 * functions per person a writer touched).
 */
CREATE FUNCTION cdp_internal.consent_bits(OUT purpose text, OUT channel text, OUT b integer, OUT default_granted boolean)
	RETURNS SETOF record
	LANGUAGE sql IMMUTABLE PARALLEL SAFE ROWS 48
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT p.purpose, c.channel, ((p.i - 1) * 8 + (c.i - 1))::integer, p.default_granted
	  FROM @extschema@.consent_purposes() WITH ORDINALITY p(purpose, default_granted, description, i),
	       @extschema@.consent_channels() WITH ORDINALITY c(channel, address_kind, description, i)
$$;
COMMENT ON FUNCTION cdp_internal.consent_bits() IS
	'every purpose x channel with its bit in consent_summary.allowed (purpose position * 8 + channel position) and the purpose''s default (internal)';

/* The bit of a purpose x channel in consent_summary.allowed; NULL for an unknown one. */
CREATE FUNCTION cdp_internal.consent_bit(purpose text, channel text) RETURNS integer
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT x.b FROM cdp_internal.consent_bits() x WHERE x.purpose = $1 AND x.channel = $2
$$;
COMMENT ON FUNCTION cdp_internal.consent_bit(text, text) IS
	'the bit of a purpose x channel in consent_summary.allowed: purpose position * 8 + channel position (internal)';

/* The mask of the defaults: every channel of the purposes allowed unless withdrawn. */
CREATE FUNCTION cdp_internal.consent_default_mask() RETURNS bigint
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT coalesce(pg_catalog.bit_or((1::bigint) OPERATOR(pg_catalog.<<) b.b), 0)
	  FROM cdp_internal.consent_bits() b
	 WHERE b.default_granted
$$;
COMMENT ON FUNCTION cdp_internal.consent_default_mask() IS
	'consent_summary.allowed of a person with no statement (internal)';

/*
 * The summary rows of persons (NULL: everyone who holds a record), computed from their records'
 * statements with consent_now's fold (a grant counts while all its records belong to the person,
 * latest wins, a withdrawal wins a tie) and their records' sources.  Persons holding no record
 * get no row.
 *
 * One static query, so PL/pgSQL keeps its plan: generic for a writer's few persons (index probes
 * through the ids), custom for everyone (ids NULL: every holder of a record, an array the planner
 * then sees as a constant of its real length, joined by hashes) and for more than 1,000 persons
 * (a bulk merge's record move, session 26: the generic plan probed record_golden_idx once a
 * person, 1M probes for the first-day migration's merge at 1M; planning costs about a
 * millisecond, well under what it saves from a thousand persons on).  The ids are made distinct
 * before the query, not in it: the planner estimates a DISTINCT over a function's rows at 200
 * whatever the array's length, and chose the probes even in the custom plan.  Session 24:
 * planning the query anew for every writer (EXECUTE) and 30 consent_bit calls per person cost
 * most of a set_consent; a plan made once for "every record" (session 23) read all 3.6M
 * statement rows at 1M patients per call.
 */
CREATE FUNCTION cdp_internal.consent_summary_of(ids bigint[])
	RETURNS TABLE (golden_id bigint, allowed bigint, internal boolean, partner boolean, statements bigint[])
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	-- the vocabulary functions' default estimates (1,000 rows each) must not start a JIT compile
	-- (28 ms of a writer's 31 ms at 1M patients)
	SET jit = off
	SET plan_cache_mode = force_generic_plan
	AS $$
BEGIN
	IF ids IS NULL THEN
		ids := ARRAY(SELECT DISTINCT r.golden_id FROM @extschema@.record r);
	ELSE
		ids := ARRAY(SELECT DISTINCT x FROM pg_catalog.unnest(ids) x WHERE x IS NOT NULL);
	END IF;
	IF pg_catalog.cardinality(ids) > 1000 THEN
		/* local to this call: the function's own SET puts the generic mode back on exit */
		PERFORM pg_catalog.set_config('plan_cache_mode', 'force_custom_plan', true);
	END IF;
	RETURN QUERY
	WITH recs AS MATERIALIZED (
		SELECT r.record_id, r.golden_id, r.source_id
		  FROM pg_catalog.unnest(ids) c(id)
		  JOIN @extschema@.record r ON r.golden_id = c.id),
	st AS (
		SELECT DISTINCT ON (r.golden_id, s.purpose, s.channel) r.golden_id AS id, s.purpose, s.channel, s.granted
		  FROM recs r
		  JOIN @extschema@.consent_statement s ON s.record_id = r.record_id
		 WHERE cdp_internal.consent_counts(s.granted, s.records, r.golden_id)
		 ORDER BY r.golden_id, s.purpose, s.channel, s.at DESC, s.granted, s.event_id DESC),
	/* the latest statement per purpose x channel, counting or not (the one a message cites) */
	latest AS MATERIALIZED (
		SELECT DISTINCT ON (r.golden_id, s.purpose, s.channel) r.golden_id AS id, pc.b, s.event_id
		  FROM recs r
		  JOIN @extschema@.consent_statement s ON s.record_id = r.record_id
		  JOIN cdp_internal.consent_bits() pc ON pc.purpose = s.purpose AND pc.channel = s.channel
		 ORDER BY r.golden_id, s.purpose, s.channel, s.at DESC, s.event_id DESC),
	/* as an array by bit (subscript bit + 1, NULL where none), up to the person's highest bit */
	refs AS (
		SELECT l.id, pg_catalog.array_agg(x.event_id ORDER BY g.b) AS statements
		  FROM (SELECT y.id, pg_catalog.max(y.b) AS mb FROM latest y GROUP BY y.id) l
		 CROSS JOIN LATERAL pg_catalog.generate_series(0, l.mb) g(b)
		  LEFT JOIN latest x ON x.id = l.id AND x.b = g.b
		 GROUP BY l.id),
	folded AS (
		SELECT st.id,
		       pg_catalog.bit_or((1::bigint) OPERATOR(pg_catalog.<<) pc.b) FILTER (WHERE st.granted) AS plus,
		       pg_catalog.bit_or((1::bigint) OPERATOR(pg_catalog.<<) pc.b) FILTER (WHERE NOT st.granted) AS minus
		  FROM st JOIN cdp_internal.consent_bits() pc ON pc.purpose = st.purpose AND pc.channel = st.channel
		 GROUP BY st.id),
	holders AS (
		SELECT r.golden_id AS id, coalesce(pg_catalog.bool_or(s.kind = 'internal'), false) AS internal,
		       coalesce(pg_catalog.bool_or(s.kind = 'partner'), false) AS partner
		  FROM recs r JOIN @extschema@.source s ON s.source_id = r.source_id
		 GROUP BY r.golden_id)
	SELECT h.id,
	       (cdp_internal.consent_default_mask() OPERATOR(pg_catalog.&) OPERATOR(pg_catalog.~) coalesce(f.minus, 0))
	         OPERATOR(pg_catalog.|) coalesce(f.plus, 0),
	       h.internal, h.partner, rf.statements
	  FROM holders h LEFT JOIN folded f ON f.id = h.id LEFT JOIN refs rf ON rf.id = h.id;
END
$$;
COMMENT ON FUNCTION cdp_internal.consent_summary_of(bigint[]) IS
	'the consent_summary rows of persons (NULL = everyone holding a record), computed from statements, records and sources (internal)';

/*
 * Brings the summary rows of persons up to date in the writer's transaction: ids, and the current
 * holders of recs (the records a statement was stored against).  The persons' profile rows
 * (cdp.patient) are locked FOR SHARE, then their summary rows (a placeholder inserted for a new
 * person), in id order, and the rows are computed by a later statement, which in READ COMMITTED
 * sees every transaction that held them before: two writers touching one person (a statement and
 * a merge) cannot leave the row of the one that committed first.  The profile lock is the one a
 * move of records waits for or holds (consent_summary_records: FOR NO KEY UPDATE, the golden merge
 * FOR UPDATE), so a move that finds nothing to summarise for a person may leave its row alone (no
 * row written) and still see, or be seen by, every statement of the person's records.  The holders
 * of recs are read again after the lock until no new one appears (a merge that moved a record
 * meanwhile).  Under REPEATABLE READ a concurrent change is a serialization error instead.
 */
CREATE FUNCTION cdp_internal.consent_summary_sync(ids bigint[], recs bigint[] DEFAULT NULL) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	held	bigint[] := '{}';
	more	bigint[];
BEGIN
	more := ARRAY(SELECT DISTINCT x FROM pg_catalog.unnest(ids) x WHERE x IS NOT NULL
	              UNION SELECT r.golden_id FROM @extschema@.record r WHERE r.record_id = ANY (recs));
	WHILE pg_catalog.cardinality(more) > 0 LOOP
		/* the profile rows first: a move of the persons' records holds them (session 30) */
		PERFORM 1 FROM @extschema@.patient p JOIN pg_catalog.unnest(more) x(id) ON p.golden_id = x.id
		 ORDER BY p.golden_id FOR SHARE OF p;
		/*
		 * the lock: a placeholder for a new person; an existing row is locked by the DO UPDATE
		 * whose WHERE is false, so no row version is written for the lock (session 24)
		 */
		INSERT INTO cdp_internal.consent_summary AS s (golden_id, allowed, internal, partner)
		SELECT x, 0, false, false FROM pg_catalog.unnest(more) x ORDER BY x
		ON CONFLICT (golden_id) DO UPDATE SET allowed = s.allowed WHERE false;
		held := held || more;
		more := ARRAY(SELECT r.golden_id FROM @extschema@.record r WHERE r.record_id = ANY (recs)
		              EXCEPT SELECT x FROM pg_catalog.unnest(held) x);
	END LOOP;
	/* the rows recomputed in place; a person who holds no record any more loses the row */
	WITH x AS MATERIALIZED (SELECT * FROM cdp_internal.consent_summary_of(held)),
	u AS (UPDATE cdp_internal.consent_summary s SET allowed = x.allowed, internal = x.internal, partner = x.partner,
	                                                statements = x.statements
	        FROM x WHERE s.golden_id = x.golden_id
	         AND (s.allowed, s.internal, s.partner, s.statements) IS DISTINCT FROM (x.allowed, x.internal, x.partner, x.statements))
	DELETE FROM cdp_internal.consent_summary s
	 WHERE s.golden_id = ANY (held) AND NOT EXISTS (SELECT 1 FROM x WHERE x.golden_id = s.golden_id);
END
$$;
COMMENT ON FUNCTION cdp_internal.consent_summary_sync(bigint[], bigint[]) IS
	'recomputes the consent_summary rows of persons and of the holders of records, under their row locks (internal)';

/* Recomputes the whole summary (cdp.rebuild_consent, the update script, a bulk load). */
CREATE FUNCTION cdp_internal.consent_summary_rebuild() RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n	bigint;
BEGIN
	LOCK TABLE cdp_internal.consent_summary IN EXCLUSIVE MODE;
	DELETE FROM cdp_internal.consent_summary;
	INSERT INTO cdp_internal.consent_summary (golden_id, allowed, internal, partner, statements)
	SELECT x.golden_id, x.allowed, x.internal, x.partner, x.statements FROM cdp_internal.consent_summary_of(NULL) x;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;
COMMENT ON FUNCTION cdp_internal.consent_summary_rebuild() IS
	'recomputes cdp_internal.consent_summary for everyone; returns the number of rows (internal)';

/*
 * Statement triggers on cdp.record and cdp.source: the persons whose records left, moved (merge,
 * unmerge, replay) or changed source, and the holders of a source whose kind changed.  Not on
 * insert: a record is inserted for a new person (a fresh golden id: ingest, import, the
 * generators), who has no row until a statement, a merge or a rebuild (readers take the kinds of
 * a person without a row from the records), and an insert trigger would turn off the ingest's
 * bulk writer (src/ingest_write.c writes only when record has no insert trigger but its foreign
 * key).
 * A move of records summarises only the persons with something to summarise (session 30, issue
 * 16): those with a row (recomputed, or deleted when they hold no record any more), those who
 * receive a record with a statement, and those without a profile row to lock.  A person with
 * neither row nor statement keeps having no row, which the readers take as the defaults with the
 * kinds of the person's records, exactly what a row would say: the first-day merge at 1M wrote
 * ~800k placeholders, updated them and deleted ~540k for persons without a single statement.
 * Sound because a person who holds a record with a statement has a row (the statement trigger
 * writes it, this one when such a record moves in; the fixture consent_summary_diff.sql checks
 * it), and because the decision is taken under the persons' profile row locks (FOR NO KEY UPDATE;
 * the golden merge holds them FOR UPDATE already), which every summary writer takes FOR SHARE
 * before its placeholder (consent_summary_sync): a statement writer that locked first has
 * committed when the decision reads rows and statements, one that locks later reads the records
 * after this move commits.
 * SECURITY DEFINER: the summary is the owner's, whoever writes the records.
 */
CREATE FUNCTION cdp_internal.consent_summary_records() RETURNS trigger
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET plan_cache_mode = force_generic_plan
	-- a bulk merge's arrays (~800k persons at 1M) hashed and sorted in memory, not in temporary files
	SET work_mem = '64MB'
	AS $$
DECLARE
	ids		bigint[];
	locked	bigint[];
BEGIN
	IF TG_OP = 'DELETE' THEN
		ids := ARRAY(SELECT DISTINCT o.golden_id FROM old_rows o);
	ELSE
		ids := ARRAY(SELECT DISTINCT x FROM old_rows o JOIN new_rows n ON n.record_id = o.record_id
		              CROSS JOIN LATERAL (VALUES (o.golden_id), (n.golden_id)) v(x)
		             WHERE o.golden_id <> n.golden_id OR o.source_id <> n.source_id);
	END IF;
	IF pg_catalog.cardinality(ids) = 0 THEN
		RETURN NULL;
	END IF;
	IF pg_catalog.cardinality(ids) > 1000 THEN
		/* hash joins over the arrays (local to this call: the function's SET is put back on exit) */
		PERFORM pg_catalog.set_config('plan_cache_mode', 'force_custom_plan', true);
	END IF;
	/* the persons' profile rows, in id order (the merge's own lock already; unmerge, erasure: here) */
	locked := ARRAY(SELECT p.golden_id FROM @extschema@.patient p JOIN pg_catalog.unnest(ids) x(id) ON p.golden_id = x.id
	                 ORDER BY p.golden_id FOR NO KEY UPDATE OF p);
	/*
	 * a later statement, which sees every summary writer that held a profile row before: the
	 * persons without a profile row, those with a summary row, and (an update) the holders of
	 * records with a statement
	 */
	IF TG_OP = 'DELETE' THEN
		ids := ARRAY(
			SELECT x.id FROM pg_catalog.unnest(ids) x(id)
			 WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(locked) l(id) WHERE l.id = x.id)
			UNION
			SELECT s.golden_id FROM cdp_internal.consent_summary s JOIN pg_catalog.unnest(locked) l(id) ON s.golden_id = l.id);
	ELSE
		ids := ARRAY(
			SELECT x.id FROM pg_catalog.unnest(ids) x(id)
			 WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(locked) l(id) WHERE l.id = x.id)
			UNION
			SELECT s.golden_id FROM cdp_internal.consent_summary s JOIN pg_catalog.unnest(locked) l(id) ON s.golden_id = l.id
			UNION
			/* (a record that only changed source: its holder has a row already) */
			SELECT n.golden_id FROM new_rows n JOIN @extschema@.consent_statement s ON s.record_id = n.record_id);
	END IF;
	IF pg_catalog.cardinality(ids) > 0 THEN
		PERFORM cdp_internal.consent_summary_sync(ids);
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION cdp_internal.consent_summary_records() IS
	'trigger on cdp.record: recomputes the consent summary of the persons whose records left, moved or changed source and who have a row or receive a record with a statement (internal)';

CREATE FUNCTION cdp_internal.consent_summary_sources() RETURNS trigger
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	ids		bigint[];
BEGIN
	ids := ARRAY(SELECT DISTINCT r.golden_id FROM old_rows o JOIN new_rows n ON n.source_id = o.source_id
	              JOIN @extschema@.record r ON r.source_id = n.source_id
	             WHERE o.kind IS DISTINCT FROM n.kind);
	IF pg_catalog.cardinality(ids) > 0 THEN
		PERFORM cdp_internal.consent_summary_sync(ids);
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION cdp_internal.consent_summary_sources() IS
	'trigger on cdp.source: recomputes the consent summary of the holders of a source whose kind changed (internal)';

/*
 * Statement trigger on cdp.consent_statement: the holders of the records the new statement rows
 * were stored against (set_consents, and any loader that writes statement rows directly, like the
 * benchmark generators).  cdp.rebuild_consent() replays every statement with the trigger
 * disabled in its transaction and recomputes the summary once.
 */
CREATE FUNCTION cdp_internal.consent_summary_statements() RETURNS trigger
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	PERFORM cdp_internal.consent_summary_sync('{}', ARRAY(SELECT DISTINCT n.record_id FROM new_rows n));
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION cdp_internal.consent_summary_statements() IS
	'trigger on cdp.consent_statement: recomputes the consent summary of the holders of the records new statement rows name (internal)';

CREATE TRIGGER consent_summary_statement AFTER INSERT ON @extschema@.consent_statement
	REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cdp_internal.consent_summary_statements();
ALTER TABLE @extschema@.consent_statement ENABLE ALWAYS TRIGGER consent_summary_statement;
CREATE TRIGGER consent_summary_update AFTER UPDATE ON @extschema@.record
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cdp_internal.consent_summary_records();
CREATE TRIGGER consent_summary_delete AFTER DELETE ON @extschema@.record
	REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION cdp_internal.consent_summary_records();
CREATE TRIGGER consent_summary_source AFTER UPDATE ON @extschema@.source
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cdp_internal.consent_summary_sources();
ALTER TABLE @extschema@.record ENABLE ALWAYS TRIGGER consent_summary_update;
ALTER TABLE @extschema@.record ENABLE ALWAYS TRIGGER consent_summary_delete;
ALTER TABLE @extschema@.source ENABLE ALWAYS TRIGGER consent_summary_source;

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
	PERFORM cdp_internal.consent_check_at(set_consents.at);
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
 * Has the person addresses for the channel, every one of them suppressed for the purpose?  (Then
 * may_contact is false whatever the consent.)  False for a person without a profile.
 */
CREATE FUNCTION cdp_internal.consent_all_suppressed(golden_id bigint, channel text, purpose text) RETURNS boolean
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT EXISTS (SELECT 1 FROM @extschema@.patient p
	                CROSS JOIN LATERAL (SELECT cdp_internal.consent_addresses(p, $2) AS ads) x
	                WHERE p.golden_id = $1 AND pg_catalog.cardinality(x.ads) > 0
	                  AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(x.ads) ad
	                                   WHERE NOT EXISTS (SELECT 1 FROM @extschema@.consent_suppression s
	                                                      WHERE s.address_key = ad AND s.purpose = $3 AND s.suppressed)))
$$;
COMMENT ON FUNCTION cdp_internal.consent_all_suppressed(bigint, text, text) IS
	'true when the person has addresses for the channel and all of them are suppressed for the purpose (internal)';

/*
 * May the person be contacted for the purpose through the channel?  The person's consent (the
 * fold of consent_now, defaults included), and, when the person has addresses for the channel,
 * at least one of them not suppressed for the purpose.  Unknown persons: false.  Campaigns ask
 * it for every message (cdp.mark_sent), so it asks little: the purpose's default (which also
 * checks the purpose), the profile by its id (resolve_patient only for an id merged away: a
 * golden id with a profile is never redirected), one query for the latest statement, and the
 * addresses only when consent allows.
 */
CREATE FUNCTION @extschema@.may_contact(golden_id bigint, purpose text, channel text) RETURNS boolean
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	p		@extschema@.patient;
	ok		boolean;
	addrs	text[];
BEGIN
	IF may_contact.golden_id IS NULL THEN
		RETURN false;
	END IF;
	ok := (SELECT x.default_granted FROM @extschema@.consent_purposes() x WHERE x.purpose = may_contact.purpose);
	IF ok IS NULL OR NOT EXISTS (SELECT 1 FROM @extschema@.consent_channels() x WHERE x.channel = may_contact.channel) THEN
		/* an unknown purpose or channel, or '*': consent_check says which */
		PERFORM cdp_internal.consent_check(ARRAY[purpose], ARRAY[channel]);
		RAISE EXCEPTION 'may_contact asks about one channel' USING ERRCODE = '22023',
			HINT = 'Use email, sms, messenger, social, call or post.';
	END IF;
	SELECT * INTO p FROM @extschema@.patient x WHERE x.golden_id = may_contact.golden_id;
	IF NOT FOUND THEN
		SELECT * INTO p FROM @extschema@.patient x WHERE x.golden_id = @extschema@.resolve_patient(may_contact.golden_id);
		IF NOT FOUND THEN
			RETURN false;
		END IF;
	END IF;
	ok := coalesce((
		SELECT s.granted
		  FROM @extschema@.record r
		  JOIN @extschema@.consent_statement s ON s.record_id = r.record_id
		       AND s.purpose = may_contact.purpose AND s.channel = may_contact.channel
		 WHERE r.golden_id = p.golden_id
		   AND cdp_internal.consent_counts(s.granted, s.records, p.golden_id)
		 ORDER BY s.at DESC, s.granted, s.event_id DESC
		 LIMIT 1), ok);
	IF NOT ok THEN
		RETURN false;
	END IF;
	/* a person known only through partner bases gets marketing only with partner_sharing consent too */
	IF may_contact.purpose = 'marketing'
	   AND NOT EXISTS (SELECT 1 FROM @extschema@.record r JOIN @extschema@.source s ON s.source_id = r.source_id
	                    WHERE r.golden_id = p.golden_id AND s.kind = 'internal')
	   AND NOT @extschema@.may_contact(p.golden_id, 'partner_sharing', channel) THEN
		RETURN false;
	END IF;
	addrs := cdp_internal.consent_addresses(p, channel);
	RETURN NOT (pg_catalog.cardinality(addrs) > 0
	            AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(addrs) a
	                             WHERE NOT EXISTS (SELECT 1 FROM @extschema@.consent_suppression s
	                                                WHERE s.address_key = a AND s.purpose = may_contact.purpose AND s.suppressed)));
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
	LOCK TABLE @extschema@.consent_statement, @extschema@.consent_suppression, cdp_internal.consent_summary IN EXCLUSIVE MODE;
	/*
	 * the statement trigger's per-event work is replaced by the one recomputation at the end (a
	 * table-level switch in this transaction, not a setting a session could set)
	 */
	BEGIN
		ALTER TABLE @extschema@.consent_statement DISABLE TRIGGER consent_summary_statement;
	EXCEPTION WHEN object_in_use THEN
		/* the calling statement itself reads cdp.consent_statement (a subquery beside the call) */
		RAISE EXCEPTION 'cdp.rebuild_consent() cannot run inside a statement that reads cdp.consent_statement'
			USING ERRCODE = 'object_in_use',
			      DETAIL = 'The replay switches the table''s summary trigger off for its transaction, which PostgreSQL refuses while this session has the table open.',
			      HINT = 'Call SELECT cdp.rebuild_consent(); as a statement of its own, then compare.';
	END;
	DELETE FROM @extschema@.consent_statement;
	DELETE FROM @extschema@.consent_suppression;
	FOR e IN SELECT x.event_id, x.kind, x.payload FROM @extschema@.event x
	          WHERE x.kind IN ('consent.granted', 'consent.withdrawn') ORDER BY x.event_id LOOP
		PERFORM cdp_internal.consent_apply(e.event_id, e.kind, (e.payload ->> 'at')::timestamptz, e.payload);
		n := n + 1;
	END LOOP;
	ALTER TABLE @extschema@.consent_statement ENABLE ALWAYS TRIGGER consent_summary_statement;
	PERFORM cdp_internal.consent_summary_rebuild();
	RETURN n;
END
$$;
COMMENT ON FUNCTION @extschema@.rebuild_consent() IS
	'replays the consent events of cdp.event into consent_statement and consent_suppression, and recomputes the per-person summary; returns how many';

REVOKE ALL ON FUNCTION @extschema@.set_consents(bigint, text[], text[], boolean, timestamptz, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.set_consent(bigint, text, text, boolean, timestamptz, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.rebuild_consent() FROM PUBLIC;

/* ------------------------------------------------------------------ audit fixes (issue 13, session 24) */

/*
 * A statement dated more than a day ahead is refused: latest wins, so a grant dated in 2062 (a
 * typo on a paper form) would outrank every real withdrawal until then.  A day of slack covers
 * clocks and time zones of the systems that send statements.
 */
CREATE FUNCTION cdp_internal.consent_check_at(at timestamptz) RETURNS void
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF at > pg_catalog.now() + interval '1 day' THEN
		RAISE EXCEPTION 'a consent statement may not be dated in the future' USING ERRCODE = '22023',
			DETAIL = pg_catalog.format('at is %s, more than one day after now (%s).', at, pg_catalog.now()),
			HINT = 'Give the time the patient made the statement (default now()); a date in the future would outrank every later withdrawal.';
	END IF;
END
$$;
COMMENT ON FUNCTION cdp_internal.consent_check_at(timestamptz) IS
	'22023 when a consent statement is dated more than one day in the future (internal)';

/*
 * Does a grant that lifted a suppression still count?  While all its records belong to one
 * person who also holds a record of the withdrawal it lifted (consent_counts' rule: after an
 * unmerge a grant given while merged may have been the other person's).
 */
CREATE FUNCTION cdp_internal.consent_lift_valid(records bigint[], withdrawal bigint) RETURNS boolean
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT (SELECT pg_catalog.count(DISTINCT r.golden_id) FROM @extschema@.record r WHERE r.record_id = ANY ($1)) = 1
	   AND EXISTS (SELECT 1 FROM @extschema@.record r
	                JOIN @extschema@.event e ON e.event_id = $2
	               CROSS JOIN LATERAL pg_catalog.jsonb_array_elements_text(e.payload -> 'records') w(rid)
	                JOIN @extschema@.record rw ON rw.record_id = w.rid::bigint
	               WHERE r.record_id = ANY ($1) AND rw.golden_id = r.golden_id)
$$;
COMMENT ON FUNCTION cdp_internal.consent_lift_valid(bigint[], bigint) IS
	'whether a grant that lifted a suppression still counts: its records are one person''s who holds a record of the withdrawal (internal)';

/*
 * Re-decides the lifted suppressions whose grant names one of the records (NULL: every lifted
 * one): suppressed again when the lift no longer counts, lifted again when it counts again.
 */
CREATE FUNCTION cdp_internal.consent_lift_sync(recs bigint[]) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	UPDATE @extschema@.consent_suppression s SET suppressed = NOT cdp_internal.consent_lift_valid(s.records, s.withdrawal)
	 WHERE s.withdrawal IS NOT NULL AND (recs IS NULL OR s.records OPERATOR(pg_catalog.&&) recs)
	   AND s.suppressed IS DISTINCT FROM NOT cdp_internal.consent_lift_valid(s.records, s.withdrawal);
END
$$;
COMMENT ON FUNCTION cdp_internal.consent_lift_sync(bigint[]) IS
	'suppresses again the addresses whose lifting grant no longer counts after records moved (and lifts them back) (internal)';

/* Statement trigger on cdp.record: records moved (merge, unmerge, replay) re-decide the lifts naming them. */
CREATE FUNCTION cdp_internal.consent_lift_records() RETURNS trigger
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	recs	bigint[];
BEGIN
	IF NOT EXISTS (SELECT 1 FROM @extschema@.consent_suppression s WHERE s.withdrawal IS NOT NULL) THEN
		RETURN NULL;
	END IF;
	recs := ARRAY(SELECT o.record_id FROM old_rows o JOIN new_rows n ON n.record_id = o.record_id WHERE o.golden_id <> n.golden_id);
	IF pg_catalog.cardinality(recs) > 0 THEN
		PERFORM cdp_internal.consent_lift_sync(recs);
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION cdp_internal.consent_lift_records() IS
	'trigger on cdp.record: re-decides the suppressions lifted by grants naming records that moved (internal)';

CREATE TRIGGER consent_lift_update AFTER UPDATE ON @extschema@.record
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cdp_internal.consent_lift_records();
ALTER TABLE @extschema@.record ENABLE ALWAYS TRIGGER consent_lift_update;

/*
 * What the record triggers consent_lift_update and consent_summary_update do after an UPDATE
 * that moved records, for a caller that moved them without firing them (the golden merge's move
 * in C, cdp_internal.golden_move_records; issue 16, session 31): the lifts naming the moved
 * records are re-decided, then the summary rows of the persons involved that have a row, and of
 * the persons who received a record with a statement, are recomputed.  ids are the old and new
 * golden ids of the moved records, recs the moved records.  The caller holds the profile row of
 * every person of ids (golden_link_apply: FOR UPDATE, a placeholder made for a person without
 * one), so the trigger's lock of them (and its "no profile row" case) has nothing to add: at
 * 1M records the first-day merge's trigger re-locked ~800k rows it held and copied the ~545k
 * moved rows twice into its transition tables.
 * SECURITY DEFINER: the summary is the owner's, whoever moves the records (as the triggers).
 */
CREATE FUNCTION cdp_internal.consent_records_moved(ids bigint[], recs bigint[]) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	-- the arrays' lengths known to the planner (hash joins for a bulk merge, index probes for one link)
	SET plan_cache_mode = force_custom_plan
	SET jit = off
	SET work_mem = '64MB'
	AS $$
DECLARE
	todo	bigint[];
BEGIN
	IF pg_catalog.cardinality(recs) > 0
	   AND EXISTS (SELECT 1 FROM @extschema@.consent_suppression s WHERE s.withdrawal IS NOT NULL) THEN
		PERFORM cdp_internal.consent_lift_sync(recs);
	END IF;
	/*
	 * nothing to look up while there is neither a summary row nor a statement (a first-day
	 * migration: at 1M records the query below still probed the record table once per moved record
	 * before finding no statement, about 1.5 s, issue 16, session 36).  Exact: a statement about
	 * one of these persons' records, or a summary row of theirs, is written under their profile
	 * rows' locks, which the caller holds
	 */
	IF EXISTS (SELECT 1 FROM cdp_internal.consent_summary) OR EXISTS (SELECT 1 FROM @extschema@.consent_statement) THEN
		todo := ARRAY(
			SELECT s.golden_id FROM pg_catalog.unnest(ids) x(id) JOIN cdp_internal.consent_summary s ON s.golden_id = x.id
			UNION
			SELECT r.golden_id FROM pg_catalog.unnest(recs) x(id) JOIN @extschema@.consent_statement s ON s.record_id = x.id
			  JOIN @extschema@.record r ON r.record_id = x.id);
	END IF;
	IF pg_catalog.cardinality(todo) > 0 THEN
		PERFORM cdp_internal.consent_summary_sync(todo);
	END IF;
END
$$;
COMMENT ON FUNCTION cdp_internal.consent_records_moved(bigint[], bigint[]) IS
	'what the consent triggers of cdp.record do after records moved between persons whose profile rows the caller holds (internal to the golden merge)';
