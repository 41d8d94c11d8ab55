/*
 * sql/parts/86_campaign_send.sql: layer 8, send lists (issue 14).  See doc/campaigns.md.
 *
 * cdp.build_send_list(campaign) writes one row per member into @extschema@.campaign_send: either a
 * message due on exactly one channel and address at the next moment inside the send window, or
 * the reason the member gets none (holdout, no_consent, no_address, suppressed, capped,
 * offer_expired, contraindication:..., archived, erased, ...).  One row per campaign, person and
 * trigger key, so a rebuild never lists anyone twice.  External senders read cdp.send_list, are
 * woken by NOTIFY cdp_send_list, and call cdp.mark_sent(send_id), which asks everything again at
 * that moment.  Consent and offers come from the consent family (cdp.may_contact,
 * cdp_internal.offer_reason); segment members from cdp.segment_member.
 */

/* ------------------------------------------------------------------ tables */

CREATE SEQUENCE @extschema@.campaign_send_id_seq;
COMMENT ON SEQUENCE @extschema@.campaign_send_id_seq IS 'ids of send rows (cdp.send_list.send_id); gaps are normal';

CREATE TABLE @extschema@.campaign_send (
	send_id			bigint PRIMARY KEY DEFAULT pg_catalog.nextval('@extschema@.campaign_send_id_seq'),
	campaign_id		bigint NOT NULL,
	golden_id		bigint NOT NULL,
	trigger_key		text NOT NULL DEFAULT '',
	purpose			text NOT NULL,
	status			text NOT NULL CHECK (status IN ('due', 'sent', 'refused', 'cancelled', 'holdout', 'skipped')),
	reason			text,
	channel			text,
	address			text,
	arm				text,
	due_at			timestamptz,
	built_at		timestamptz NOT NULL,
	sent_at			timestamptz,
	sent_day		date,
	refused_at		timestamptz,
	message			text,
	provenance		jsonb NOT NULL DEFAULT '{}',
	delivered_at	timestamptz,
	opened_at		timestamptz,
	clicked_at		timestamptz,
	converted_at	timestamptz,
	revenue			numeric NOT NULL DEFAULT 0,
	bounced			text,
	unsubscribed_at	timestamptz,
	complained_at	timestamptz,
	returned_at		timestamptz
);
COMMENT ON TABLE @extschema@.campaign_send IS
	'send lists: one row per campaign, person and trigger key: a due, sent, refused or cancelled message on one channel, or the reason a member gets none; delivery outcomes folded in';
CREATE UNIQUE INDEX campaign_send_once_idx ON @extschema@.campaign_send (campaign_id, golden_id, trigger_key);
CREATE INDEX campaign_send_due_idx ON @extschema@.campaign_send (campaign_id, due_at) WHERE status = 'due';
CREATE INDEX campaign_send_golden_idx ON @extschema@.campaign_send (golden_id, status);
CREATE INDEX campaign_send_sent_idx ON @extschema@.campaign_send (campaign_id, sent_day) WHERE status = 'sent';
ALTER TABLE @extschema@.campaign_send ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.campaign_send FORCE ROW LEVEL SECURITY;

CREATE TABLE cdp_internal.campaign_address_block (
	address_key	text PRIMARY KEY,
	reason		text NOT NULL CHECK (reason IN ('hard_bounce', 'complaint')),
	at			timestamptz NOT NULL,
	send_id		bigint
);
COMMENT ON TABLE cdp_internal.campaign_address_block IS
	'addresses no campaign may use again: a hard bounce or a spam complaint (canonical address keys)';
ALTER TABLE cdp_internal.campaign_address_block ENABLE ROW LEVEL SECURITY;
ALTER TABLE cdp_internal.campaign_address_block FORCE ROW LEVEL SECURITY;

CREATE TABLE cdp_internal.campaign_preference (
	golden_id	bigint PRIMARY KEY,
	channel		text NOT NULL,
	at			timestamptz NOT NULL,
	event_id	bigint NOT NULL
);
COMMENT ON TABLE cdp_internal.campaign_preference IS
	'the channel a person prefers for messages (projection of contact.preferred events)';
ALTER TABLE cdp_internal.campaign_preference ENABLE ROW LEVEL SECURITY;
ALTER TABLE cdp_internal.campaign_preference FORCE ROW LEVEL SECURITY;

/* ------------------------------------------------------------------ helpers */

/*
 * A deterministic number in [0, 1) for a person in a campaign: holdout and arms (C,
 * src/campaign_hash.c: the value of (hashtextextended(campaign_id::text || ':' || golden_id::text, 0)::float8
 * + 2^63) / 2^64; one definition for the per-member path and the set-based listing).
 */
CREATE FUNCTION cdp_internal.campaign_hash(campaign_id bigint, golden_id bigint) RETURNS float8
	AS 'MODULE_PATHNAME', 'cdp_campaign_hash' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal.campaign_hash(bigint, bigint) IS
	'a stable number in [0, 1) from the campaign and golden ids: the holdout and the A/B arms are cut from it (internal)';

/* The arm of a person: holdout below the holdout share, then the arms in name order by share. */
CREATE FUNCTION cdp_internal.campaign_arm(doc jsonb, h float8) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT CASE WHEN h < (doc ->> 'holdout')::float8 THEN 'holdout' ELSE
	       coalesce((SELECT a.k FROM (SELECT x.key AS k,
	                                         pg_catalog.sum(x.value::text::float8) OVER (ORDER BY x.key) AS upto
	                                    FROM pg_catalog.jsonb_each(doc -> 'arms') x) a
	                  WHERE (h - (doc ->> 'holdout')::float8) / (1 - (doc ->> 'holdout')::float8) < a.upto
	                  ORDER BY a.upto LIMIT 1),
	                (SELECT pg_catalog.max(x) FROM pg_catalog.jsonb_object_keys(doc -> 'arms') x)) END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_arm(jsonb, float8) IS
	'holdout or the A/B arm of a hash value under a campaign document (internal)';

/* The time zone of a person: the city's, else the campaign's. */
CREATE FUNCTION cdp_internal.campaign_tz(city text, fallback text) RETURNS text
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT coalesce(cdp_internal.campaign_city_tz($1), $2, 'Europe/Moscow')
$$;
COMMENT ON FUNCTION cdp_internal.campaign_tz(text, text) IS
	'IANA time zone of a city, or the fallback (the campaign''s zone) (internal)';

/*
 * The first moment at or after t inside the window (local hours [from, to) on the listed ISO days)
 * in the zone tz; looks 8 days ahead, so a non-empty window always has one.
 */
CREATE FUNCTION cdp_internal.campaign_next_slot(t timestamptz, tz text, win jsonb) RETURNS timestamptz
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	l		timestamp := t AT TIME ZONE tz;
	hf		int := (win -> 'hours' ->> 0)::int;
	ht		int := (win -> 'hours' ->> 1)::int;
	dd		date;
	c		timestamp;
BEGIN
	FOR i IN 0..8 LOOP
		dd := l::date + i;
		IF (win -> 'days') @> pg_catalog.to_jsonb(pg_catalog.date_part('isodow', dd)::int) THEN
			c := GREATEST(CASE WHEN i = 0 THEN l ELSE dd::timestamp END, dd + pg_catalog.make_interval(hours => hf));
			IF c < dd + pg_catalog.make_interval(hours => ht) THEN
				RETURN c AT TIME ZONE tz;
			END IF;
		END IF;
	END LOOP;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_next_slot(timestamptz, text, jsonb) IS
	'the next moment at or after t inside a send window in a time zone (internal)';

/* Canonical addresses of a person for a channel that a campaign may use: reachable, not blocked. */
CREATE FUNCTION cdp_internal.campaign_addresses(p @extschema@.patient, channel text, purpose text) RETURNS text[]
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT coalesce(pg_catalog.array_agg(a ORDER BY n), '{}') FROM (
		SELECT a, n FROM pg_catalog.unnest(cdp_internal.consent_addresses(p, channel)) WITH ORDINALITY u(a, n)
		 WHERE a IS NOT NULL
		   /* sms and messengers need a mobile number */
		   AND (channel NOT IN ('sms', 'messenger')
		        OR @extschema@.phone_kind(@extschema@.try_phone(a)) = 'mobile')
		   AND NOT EXISTS (SELECT 1 FROM cdp_internal.campaign_address_block b WHERE b.address_key = a)
		   AND NOT EXISTS (SELECT 1 FROM @extschema@.consent_suppression s
		                    WHERE s.address_key = a AND s.purpose = campaign_addresses.purpose AND s.suppressed)) x
$$;
COMMENT ON FUNCTION cdp_internal.campaign_addresses(@extschema@.patient, text, text) IS
	'a person''s addresses for a channel that a campaign may use: mobile numbers for sms and messengers, not hard-bounced or complained about, not suppressed for the purpose (internal)';

/*
 * Replaces the {placeholders} of a template by their values (C, src/campaign_render.c): left to
 * right, each once; a value is never read again; a placeholder without a value renders as nothing.
 */
CREATE FUNCTION cdp_internal.campaign_render(tpl text, vals jsonb) RETURNS text
	AS 'MODULE_PATHNAME', 'cdp_campaign_render' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal.campaign_render(text, jsonb) IS
	'renders a template: each {placeholder} replaced by its value once (a value containing braces is not expanded again) (internal)';

/* The same with the values as name/value pairs (the set-based listing: no object per member). */
CREATE FUNCTION cdp_internal.campaign_fill(tpl text, VARIADIC pairs text[]) RETURNS text
	AS 'MODULE_PATHNAME', 'cdp_campaign_fill' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal.campaign_fill(text, text[]) IS
	'renders a template as campaign_render does, the values given as {name, value, ...} pairs (internal)';

/*
 * The provenance object of one listed message (C, src/campaign_provenance.c): base's pairs (those
 * every message of a listing shares), "channel_rule", "benefit": false, "timezone" and "consent":
 * {"checked_at", "event_id"}; the jsonb jsonb_build_object of the same pairs gives, without its
 * type look-ups per argument.
 */
CREATE FUNCTION cdp_internal.campaign_provenance(base jsonb, rule text, tz text, checked_at jsonb, event_id bigint) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'cdp_campaign_provenance' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal.campaign_provenance(jsonb, text, text, jsonb, bigint) IS
	'the provenance object of a listed message: the listing''s shared pairs plus channel rule, benefit, time zone and consent statement (internal)';

/*
 * Why a person may not get a marketing message at t: the cap of the campaign document counted
 * over every other marketing campaign's rows (sent, or due in the period), or NULL.
 */
CREATE FUNCTION cdp_internal.campaign_cap_reason(golden_id bigint, campaign_id bigint, doc jsonb, t timestamptz,
                                                 only_sent boolean) RETURNS text
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT CASE WHEN doc ->> 'purpose' = 'marketing' AND doc -> 'cap' ? 'max'
	             AND (SELECT pg_catalog.count(*) FROM @extschema@.campaign_send s
	                   WHERE s.golden_id = $1 AND s.campaign_id <> $2 AND s.purpose = 'marketing'
	                     AND (s.status = 'sent' AND s.sent_at > t - (doc -> 'cap' ->> 'per')::interval
	                          OR NOT only_sent AND s.status = 'due'
	                             AND s.due_at > t - (doc -> 'cap' ->> 'per')::interval
	                             AND s.due_at < t + (doc -> 'cap' ->> 'per')::interval))
	                 >= (doc -> 'cap' ->> 'max')::int
	            THEN 'capped' END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_cap_reason(bigint, bigint, jsonb, timestamptz, boolean) IS
	'capped when the person already has the campaign''s cap of marketing messages from other campaigns in the period (internal)';

/* The end of the quiet period after the person's last message of any campaign (or t). */
CREATE FUNCTION cdp_internal.campaign_quiet_until(golden_id bigint, campaign_id bigint, doc jsonb, t timestamptz)
	RETURNS timestamptz
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT CASE WHEN doc -> 'cap' ? 'quiet' THEN
	       GREATEST(t, (SELECT pg_catalog.max(s.sent_at) FROM @extschema@.campaign_send s
	                     WHERE s.golden_id = $1 AND s.campaign_id <> $2 AND s.status = 'sent')
	                   + (doc -> 'cap' ->> 'quiet')::interval)
	       ELSE t END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_quiet_until(bigint, bigint, jsonb, timestamptz) IS
	'the first moment after the quiet period that follows the person''s last message (internal)';

/* Has a re-test recommended on a recommendation event been done since (a lab test of its code)? */
CREATE FUNCTION cdp_internal.campaign_retest_done(golden_id bigint, code text, since timestamptz) RETURNS boolean
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT code IS NOT NULL AND EXISTS (
		SELECT 1 FROM @extschema@.clinical_event e
		 WHERE e.golden_id = $1 AND e.kind = 'lab_test' AND pg_catalog.upper(e.lab_code) = pg_catalog.upper($2)
		   AND e.at >= $3)
$$;
COMMENT ON FUNCTION cdp_internal.campaign_retest_done(bigint, text, timestamptz) IS
	'true when a lab test of the recommended code was taken at or after the recommendation (internal)';

/*
 * Is an offer for the test a reminder recommends?  An offer without a service is for anything;
 * one with a service fits a recommendation of that service (any case), or of a lab code when the
 * service is "lab" or the code itself.  A reminder without a test fits any offer.
 */
CREATE FUNCTION cdp_internal.campaign_offer_fits(o @extschema@.offer, ctx jsonb) RETURNS boolean
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT o.doc ->> 'service' IS NULL OR ctx ->> 'test' IS NULL
	       OR pg_catalog.upper(o.doc ->> 'service') = pg_catalog.upper(ctx ->> 'test')
	       OR pg_catalog.lower(o.doc ->> 'service') = 'lab' AND coalesce((ctx ->> 'lab')::boolean, false)
$$;
COMMENT ON FUNCTION cdp_internal.campaign_offer_fits(@extschema@.offer, jsonb) IS
	'true when a reminder may show an offer''s benefit for its recommended test: the offer names no service, or the test''s service, or "lab" for a lab code (internal)';

/*
 * The decision for one member: a due message (channel, address, time, text) or the reason there
 * is none.  ctx carries the trigger's facts (due_date, test, since).  The guards, in order:
 * archived or erased; holdout; offer (validity on the day, sex, age, contraindications,
 * pregnancy); channel (the person's preference first if the campaign lists it, then the
 * campaign's order: consent for the purpose, a usable address); cap; quiet period and window
 * (within the campaign's end).
 */
CREATE FUNCTION cdp_internal.campaign_decide(c @extschema@.campaign, p @extschema@.patient, ctx jsonb, t timestamptz,
                                             OUT status text, OUT reason text, OUT channel text, OUT address text,
                                             OUT arm text, OUT due_at timestamptz, OUT message text, OUT provenance jsonb)
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	d			jsonb := c.doc;
	purpose		text := d ->> 'purpose';
	o			@extschema@.offer;
	why			text;
	chans		text[];
	pref		text;
	ch			text;
	addrs		text[];
	consented	boolean := false;
	reachable	boolean := false;
	tz			text;
	t0			timestamptz;
	day			date;
	benefit		boolean := false;
	tpl			text;
	vals		jsonb;
BEGIN
	provenance := pg_catalog.jsonb_build_object('campaign_version', c.version) || coalesce(ctx, '{}');
	IF p.golden_id IS NULL THEN
		status := 'skipped'; reason := 'erased'; RETURN;
	END IF;
	IF p.status = 'archived' THEN
		status := 'skipped'; reason := 'archived'; RETURN;
	END IF;
	arm := cdp_internal.campaign_arm(d, cdp_internal.campaign_hash(c.campaign_id, p.golden_id));
	IF arm = 'holdout' THEN
		status := 'holdout'; reason := 'holdout';
		due_at := GREATEST(t, (d ->> 'start')::timestamptz);
		RETURN;
	END IF;
	t0 := GREATEST(t, coalesce((d ->> 'start')::timestamptz, t));
	IF d ->> 'end' IS NOT NULL AND t0 > (d ->> 'end')::timestamptz THEN
		status := 'skipped'; reason := 'campaign_ended'; RETURN;
	END IF;
	/* the offer: a promotion's offer must admit the person; a reminder only shows it when it does */
	IF d ? 'offer' THEN
		SELECT * INTO o FROM @extschema@.offer x WHERE x.offer_id = (d ->> 'offer')::bigint;
		day := coalesce((ctx ->> 'due_date')::date, (t0 AT TIME ZONE (d ->> 'timezone'))::date);
		why := cdp_internal.offer_reason(p, o, day);
		provenance := provenance || pg_catalog.jsonb_build_object('offer', o.offer_id, 'offer_version', o.version);
		IF d ? 'trigger' THEN
			/* a reminder's benefit: the offer admits the person on the due date, and is for the
			   recommended test when the offer names a service (its service, or "lab" for a lab code) */
			benefit := why IS NULL AND cdp_internal.campaign_offer_fits(o, ctx);
		ELSIF why IS NOT NULL THEN
			status := 'skipped';
			reason := CASE WHEN why IN ('expired', 'not_yet_valid', 'archived') THEN 'offer_' || why ELSE why END;
			RETURN;
		END IF;
	END IF;
	/* one channel: the preferred one if listed, then the campaign's priority */
	SELECT x.channel INTO pref FROM cdp_internal.campaign_preference x WHERE x.golden_id = p.golden_id;
	SELECT pg_catalog.array_agg(v ORDER BY (v = pref) DESC, n) INTO chans
	  FROM pg_catalog.jsonb_array_elements_text(d -> 'channels') WITH ORDINALITY e(v, n);
	FOREACH ch IN ARRAY chans LOOP
		IF NOT @extschema@.may_contact(p.golden_id, purpose, ch) THEN
			CONTINUE;
		END IF;
		consented := true;
		/* an address the channel can reach (a landline is none for sms), as the set-based listing
		   decides it: else no_address, not suppressed */
		IF pg_catalog.cardinality(cdp_internal.campaign_contacts(ARRAY[ch], ARRAY[ch], NULL, p.emails, p.phones,
		                                                         p.handles, p.address)) > 0 THEN
			reachable := true;
		END IF;
		addrs := cdp_internal.campaign_addresses(p, ch, purpose);
		IF pg_catalog.cardinality(addrs) > 0 THEN
			channel := ch;
			address := addrs[1];
			EXIT;
		END IF;
	END LOOP;
	IF channel IS NULL THEN
		status := 'skipped';
		reason := CASE WHEN NOT consented THEN 'no_consent' WHEN NOT reachable THEN 'no_address' ELSE 'suppressed' END;
		RETURN;
	END IF;
	provenance := provenance || pg_catalog.jsonb_build_object('channel_rule',
		CASE WHEN channel = pref THEN 'preferred' ELSE 'priority' END, 'channels', chans);
	/* a reminder shows the offer's benefit only with marketing consent on that channel */
	IF benefit THEN
		benefit := d ? 'offer_templates' AND d -> 'offer_templates' ? channel
		           AND @extschema@.may_contact(p.golden_id, 'marketing', channel);
	END IF;
	/* cap, quiet period, window */
	reason := cdp_internal.campaign_cap_reason(p.golden_id, c.campaign_id, d, t0, false);
	IF reason IS NOT NULL THEN
		status := 'skipped'; channel := NULL; address := NULL; RETURN;
	END IF;
	tz := cdp_internal.campaign_tz(p.city, d ->> 'timezone');
	due_at := cdp_internal.campaign_next_slot(cdp_internal.campaign_quiet_until(p.golden_id, c.campaign_id, d, t0), tz, d -> 'window');
	IF d ->> 'end' IS NOT NULL AND due_at > (d ->> 'end')::timestamptz THEN
		status := 'skipped'; reason := 'outside_window'; channel := NULL; address := NULL; due_at := NULL; RETURN;
	END IF;
	/* the text */
	tpl := CASE WHEN benefit THEN d -> 'offer_templates' ->> channel ELSE d -> 'templates' ->> channel END;
	vals := pg_catalog.jsonb_build_object('given_name', p.given_name, 'patronymic', p.patronymic,
	                                      'family_name', p.family_name);
	IF o.offer_id IS NOT NULL AND (benefit OR NOT d ? 'trigger') THEN
		vals := vals || pg_catalog.jsonb_build_object('offer_name', o.name,
			'offer_until', pg_catalog.to_char((o.doc ->> 'valid_to')::date, 'DD.MM.YYYY'));
	END IF;
	IF purpose = 'treatment' THEN
		vals := vals || pg_catalog.jsonb_build_object('due_date', pg_catalog.to_char((ctx ->> 'due_date')::date, 'DD.MM.YYYY'),
		                                              'test', ctx ->> 'test');
	END IF;
	message := cdp_internal.campaign_render(tpl, vals);
	provenance := provenance || pg_catalog.jsonb_build_object('benefit', benefit, 'timezone', tz,
		'consent', (SELECT pg_catalog.jsonb_build_object('event_id', s.event_id, 'at', s.at, 'default', s.event_id IS NULL)
		              FROM (SELECT NULL::bigint AS event_id, NULL::timestamptz AS at) z
		              LEFT JOIN LATERAL (SELECT cs.event_id, cs.at FROM @extschema@.record r
		                                   JOIN @extschema@.consent_statement cs ON cs.record_id = r.record_id
		                                  WHERE r.golden_id = p.golden_id AND cs.purpose = (d ->> 'purpose') AND cs.channel = campaign_decide.channel
		                                  ORDER BY cs.at DESC, cs.event_id DESC LIMIT 1) s ON true));
	status := 'due';
	reason := NULL;
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_decide(@extschema@.campaign, @extschema@.patient, jsonb, timestamptz) IS
	'the send-list decision for one member: due on one channel, address and time with its text, or the reason none is sent (internal)';

/* Counts of a campaign's rows by status, and of the rows not sent by reason. */
CREATE FUNCTION cdp_internal.campaign_counts(campaign_id bigint, t timestamptz) RETURNS jsonb
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	/* one pass over the campaign's rows (counts by status and reason), then the few groups */
	WITH g AS (
		SELECT s.status, s.reason, pg_catalog.count(*) AS n
		  FROM @extschema@.campaign_send s WHERE s.campaign_id = $1
		 GROUP BY s.status, s.reason)
	SELECT pg_catalog.jsonb_build_object('campaign_id', $1, 'at', $2,
	         'due', (SELECT coalesce(pg_catalog.sum(g.n), 0)::bigint FROM g WHERE g.status = 'due'),
	         'sent', (SELECT coalesce(pg_catalog.sum(g.n), 0)::bigint FROM g WHERE g.status = 'sent'),
	         'holdout', (SELECT coalesce(pg_catalog.sum(g.n), 0)::bigint FROM g WHERE g.status = 'holdout'),
	         'not_sent', coalesce((SELECT pg_catalog.jsonb_object_agg(r.reason, r.n ORDER BY r.reason)
	                                 FROM (SELECT g.reason, pg_catalog.sum(g.n)::bigint AS n FROM g
	                                        WHERE g.status IN ('skipped', 'refused', 'cancelled')
	                                        GROUP BY g.reason) r), '{}'))
$$;
COMMENT ON FUNCTION cdp_internal.campaign_counts(bigint, timestamptz) IS
	'a campaign''s rows: due, sent, holdout, and the rows not sent by reason (internal)';

/*
 * Lists candidates (golden id, trigger key, context) of a campaign at t: persons already listed
 * for the key keep their row; skipped rows are decided again.  Returns counts by status and
 * reason.  Two rows of one campaign never go to one address: the later is skipped
 * (duplicate_address).  Wakes the senders with NOTIFY cdp_send_list.
 */
CREATE FUNCTION cdp_internal.campaign_list(c @extschema@.campaign, cand jsonb, t timestamptz) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	DELETE FROM @extschema@.campaign_send s
	 WHERE s.campaign_id = c.campaign_id AND s.status = 'skipped'
	   AND (s.golden_id, s.trigger_key) IN (SELECT (x ->> 'g')::bigint, coalesce(x ->> 'k', '')
	                                          FROM pg_catalog.jsonb_array_elements(cand) x);
	INSERT INTO @extschema@.campaign_send AS s (campaign_id, golden_id, trigger_key, purpose, status, reason, channel,
	                                             address, arm, due_at, built_at, message, provenance)
	SELECT c.campaign_id, m.g, m.k, c.doc ->> 'purpose', d.status, d.reason, d.channel, d.address, d.arm, d.due_at,
	       t, d.message, d.provenance
	  FROM (SELECT DISTINCT ON (g, k) g, k, x -> 'ctx' AS ctx
	          FROM (SELECT coalesce(@extschema@.resolve_patient((x ->> 'g')::bigint), (x ->> 'g')::bigint) AS g,
	                       coalesce(x ->> 'k', '') AS k, x
	                  FROM pg_catalog.jsonb_array_elements(cand) x) y
	         ORDER BY g, k, x -> 'ctx' ->> 'since', x -> 'ctx' ->> 'recommendation') m
	  LEFT JOIN @extschema@.patient p ON p.golden_id = m.g
	  CROSS JOIN LATERAL cdp_internal.campaign_decide(c, p, m.ctx, t) d
	 WHERE NOT EXISTS (SELECT 1 FROM @extschema@.campaign_send o
	                    WHERE o.campaign_id = c.campaign_id AND o.golden_id = m.g AND o.trigger_key = m.k)
	ON CONFLICT (campaign_id, golden_id, trigger_key) DO NOTHING;
	RETURN cdp_internal.campaign_after_list(c);
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_list(@extschema@.campaign, jsonb, timestamptz) IS
	'writes the send-list rows of candidates (golden id, trigger key, context) one decision at a time and returns counts by status and reason (internal)';

/*
 * After a listing: one message per address per campaign (duplicate records of one person not
 * merged yet: the later row is skipped as duplicate_address), senders woken, counts returned.
 */
CREATE FUNCTION cdp_internal.campaign_after_list(c @extschema@.campaign) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	res		jsonb;
BEGIN
	/* one message per address per campaign: duplicate records of one person not merged yet; the
	   window runs over the rows of the addresses listed more than once only (due and sent rows
	   always carry an address), and only when there are any.  The addresses listed twice are
	   gathered once (MATERIALIZED): the rows just listed are not in the table's statistics, and
	   an estimate of one row made the planner repeat the grouping for every row of the campaign
	   (a listing of 200k members that did not end in 10 minutes) */
	IF EXISTS (SELECT 1 FROM @extschema@.campaign_send s2
	            WHERE s2.campaign_id = c.campaign_id AND s2.status IN ('due', 'sent')
	            GROUP BY s2.trigger_key COLLATE "C", s2.address COLLATE "C"
	           HAVING pg_catalog.count(*) > 1) THEN
		WITH twice AS MATERIALIZED (
			/* bytewise grouping ("C": the same equality, a cheaper sort than the database's collation) */
			SELECT s2.trigger_key COLLATE "C" AS trigger_key, s2.address COLLATE "C" AS address
			  FROM @extschema@.campaign_send s2
			 WHERE s2.campaign_id = c.campaign_id AND s2.status IN ('due', 'sent')
			 GROUP BY 1, 2
			HAVING pg_catalog.count(*) > 1),
		dup AS MATERIALIZED (
			SELECT x.send_id FROM (
				SELECT s2.send_id, s2.status, pg_catalog.row_number() OVER (PARTITION BY s2.trigger_key, s2.address
				                                                             ORDER BY s2.status <> 'sent', s2.send_id) AS rn
				  FROM @extschema@.campaign_send s2
				  JOIN twice w ON w.trigger_key = s2.trigger_key COLLATE "C" AND w.address = s2.address COLLATE "C"
				 WHERE s2.campaign_id = c.campaign_id AND s2.status IN ('due', 'sent')) x
			 WHERE x.rn > 1 AND x.status = 'due')
		UPDATE @extschema@.campaign_send s SET status = 'skipped', reason = 'duplicate_address', channel = NULL,
		       address = NULL, message = NULL, due_at = NULL
		  FROM dup
		 WHERE s.send_id = dup.send_id;
	END IF;
	res := cdp_internal.campaign_counts(c.campaign_id, pg_catalog.now());
	IF (res ->> 'due')::bigint > 0 THEN
		PERFORM pg_catalog.pg_notify('cdp_send_list', c.campaign_id::text);
	END IF;
	RETURN res;
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_after_list(@extschema@.campaign) IS
	'after a listing: one message per address per campaign, NOTIFY cdp_send_list, counts by status and reason (internal)';

/*
 * The contact candidates of one member (C, src/campaign_contact.c): the channels the member
 * consented to among the campaign's (the preferred one first, then the campaign's order), each
 * with the member's addresses of that channel's source keyed as cdp.consent_address_key keys them,
 * in their stored order, only those the channel can reach (a mobile number for sms and
 * messengers), as {channel, key, channel, key, ...}.  NULL: no address at all on those channels;
 * empty: addresses, none reachable (both are no_address to the listing: a landline is no address
 * for sms).  The blocked and suppressed keys are the caller's join.
 */
CREATE FUNCTION cdp_internal.campaign_contacts(chans text[], okch text[], pref text, emails jsonb, phones jsonb,
                                               handles jsonb, address text) RETURNS text[]
	AS 'MODULE_PATHNAME', 'cdp_campaign_contacts' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal.campaign_contacts(text[], text[], text, jsonb, jsonb, jsonb, text) IS
	'a member''s reachable contact candidates for a campaign in decision order, as {channel, key, ...}; NULL when the member has no address on a consented channel (internal)';

/*
 * The writer of a segment listing's rows (C, src/campaign_send_write.c): an aggregate over the rows
 * of cdp.campaign_send's listed columns, in the order given, that puts them on pages as COPY FROM
 * does (a group at a time, index entries after each group, defaults and constraints as INSERT has
 * them), without the row-by-row INSERT and the transition table of the table's two AFTER INSERT
 * statement triggers.  Their work is the caller's: the roll-up counts sent rows, which a listing
 * never writes (a sent row here is an error), and the persons written go to
 * cdp_internal.seg_campaign_touch from the ids it returns (in order; empty without rows).  When
 * the table has any other insert trigger (or lacks one of the two), a rewrite rule, row-level
 * security for the current user, or runs under Citus, each row is inserted by an INSERT statement
 * (every trigger fires) and it returns NULL.
 */
CREATE FUNCTION cdp_internal.campaign_send_put_step(state internal, campaign_id bigint, golden_id bigint, trigger_key text,
                                                    purpose text, status text, reason text, channel text, address text,
                                                    arm text, due_at timestamptz, built_at timestamptz, message text,
                                                    provenance jsonb) RETURNS internal
	AS 'MODULE_PATHNAME', 'cdp_campaign_send_put_step' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION cdp_internal.campaign_send_put_step(internal, bigint, bigint, text, text, text, text, text, text, text, timestamptz, timestamptz, text, jsonb) IS
	'transition of cdp_internal.campaign_send_put: writes a listed row of cdp.campaign_send (internal)';
CREATE FUNCTION cdp_internal.campaign_send_put_final(state internal) RETURNS bigint[]
	AS 'MODULE_PATHNAME', 'cdp_campaign_send_put_final' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION cdp_internal.campaign_send_put_final(internal) IS
	'final of cdp_internal.campaign_send_put: writes the last rows, returns the golden ids written (NULL: written by INSERT statements) (internal)';
CREATE AGGREGATE cdp_internal.campaign_send_put(campaign_id bigint, golden_id bigint, trigger_key text, purpose text,
                                                status text, reason text, channel text, address text, arm text,
                                                due_at timestamptz, built_at timestamptz, message text, provenance jsonb) (
	SFUNC = cdp_internal.campaign_send_put_step,
	STYPE = internal,
	FINALFUNC = cdp_internal.campaign_send_put_final,
	FINALFUNC_MODIFY = READ_WRITE,
	PARALLEL = UNSAFE
);
COMMENT ON AGGREGATE cdp_internal.campaign_send_put(bigint, bigint, text, text, text, text, text, text, text, timestamptz, timestamptz, text, jsonb) IS
	'writes a listing''s rows into cdp.campaign_send as COPY does; returns the golden ids written for the statement triggers'' work, or NULL when INSERT statements wrote them (internal)';

/*
 * The set-based form of campaign_list for a segment's members (build_send_list): the same
 * decisions as cdp_internal.campaign_decide for every member at once, in one INSERT ... SELECT
 * whose steps are hash joins over flat columns (no per-member query; the profiles of a whole
 * segment are one hash join with a scan of cdp.patient, a top-up's few by key): consent per channel is the
 * segment's (its refresh, incremental, just before, records the channels each member may be
 * contacted through for its purpose, with the consent family's set form of cdp.may_contact); the
 * contact candidates of each member come from one C call over the profile's address arrays
 * (cdp_internal.campaign_contacts: keys, mobile numbers, the preferred channel first); the first
 * candidate is joined once with the blocked addresses and the suppression list, and only the
 * members whose first candidate is blocked look further down their list; counts of other
 * campaigns' messages and the last message of each person come from one pass, the time zone from
 * one lookup per city, the send window from one computation per zone and start, the consent
 * statement behind each message from the person's consent summary row (one index scan for the
 * set of members who may get one, joined by hash: the latest statement per purpose x channel,
 * cdp_internal.consent_summary.statements), the text from one C
 * pass over the template (cdp_internal.campaign_fill, the renderer of the per-member path), the
 * provenance from one C call (cdp_internal.campaign_provenance), the holdout and arm from
 * cdp_internal.campaign_hash (C: the per-member path's definition).  Values of the campaign
 * document the statement compares with (its end, the cap's period, the quiet period) are read
 * into variables first: cast in the statement they were evaluated for every row (session 29).
 * The members' step is read once and streamed into the decision (session 31: materialised, its
 * wide rows cost a tuplestore of fresh memory, a page fault per 4 kB, for three reads).
 * test/pgtap/86_campaign_equiv.sql compares it with the per-member path on random clinics.
 * On a campaign's first listing (no row of it before), when the writer wrote the rows itself and
 * no two due rows share an address, counts is campaign_after_list's result and due_ids the sorted
 * golden ids of the due rows, taken from the rows as they are written (session 30, send32: the
 * duplicate test, the counts and the audit's ids read the campaign's 200k rows back three times);
 * otherwise both are NULL and the caller runs campaign_after_list and reads the ids.
 */
CREATE FUNCTION cdp_internal.campaign_list_set(c @extschema@.campaign, sg @extschema@.segment, t timestamptz,
                                                 OUT counts jsonb, OUT due_ids bigint[])
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	SET jit = off	/* the listing's cost estimates (fresh rows, no statistics) would start a JIT compile of seconds */
	SET enable_mergejoin = off	/* the estimates of the steps are rough: sorting 200k wide rows for a merge costs more than hashing */
	SET work_mem = '256MB'	/* the members' steps stay in memory (before session 30 also the INSERT's transition table: 200k rows spilled about 170 MB to temporary files) */
	SET plan_cache_mode = force_custom_plan	/* planned for this call's members (everyone, or a few ids): the profiles are one hash join for a whole segment, probes by key for a top-up */
	AS $$
DECLARE
	d			jsonb := c.doc;
	purp		text := d ->> 'purpose';
	chans		text[] := ARRAY(SELECT x FROM pg_catalog.jsonb_array_elements_text(d -> 'channels') WITH ORDINALITY e(x, n) ORDER BY n);
	hold		float8 := (d ->> 'holdout')::float8;
	arm_names	text[];
	arm_upto	float8[];
	arm_lo		float8[];
	ids			bigint[];
	everyone	boolean := false;
	o			@extschema@.offer;
	offer_why	text;
	per_member	boolean := false;
	t0			timestamptz := GREATEST(t, coalesce((d ->> 'start')::timestamptz, t));
	day			date := (t0 AT TIME ZONE (d ->> 'timezone'))::date;
	/* the campaign's end, the cap's period around t0 and the quiet period, each read once: in the
	   listing's statement a cast of the document's text to timestamptz or interval (STABLE input
	   functions) and the time-zone arithmetic on it were not folded by the planner but evaluated
	   for every row (a parse and a zone look-up per member and per other message: about 1.5 µs
	   a row) */
	end_at		timestamptz := (d ->> 'end')::timestamptz;
	cap_from	timestamptz := t0 - (d -> 'cap' ->> 'per')::interval;
	cap_to		timestamptz := t0 + (d -> 'cap' ->> 'per')::interval;
	quiet		interval := (d -> 'cap' ->> 'quiet')::interval;
	vals_offer	jsonb := '{}';
	ctx			jsonb := pg_catalog.jsonb_build_object('segment', sg.segment_id, 'segment_version', sg.version);
	base		jsonb;
	base_due	jsonb;
	chans_j		jsonb := pg_catalog.to_jsonb(chans);
	t_j			jsonb := pg_catalog.to_jsonb(t);
	/* per channel of chans: its subscript in consent_summary.statements for the purpose (bit + 1) */
	chan_sub	integer[] := ARRAY(SELECT b.b + 1 FROM pg_catalog.unnest(chans) WITH ORDINALITY u(ch, n)
	                                LEFT JOIN cdp_internal.consent_bits() b ON b.purpose = purp AND b.channel = u.ch
	                               ORDER BY u.n);
	written		bigint[];
	/* the campaign has no row yet: the rows written are all of its rows (its lock is held) */
	fresh		boolean := NOT EXISTS (SELECT 1 FROM @extschema@.campaign_send x WHERE x.campaign_id = c.campaign_id);
	n_due		bigint;
	n_hold		bigint;
	n_addr		bigint;
	why_skip	text[];
BEGIN
	SELECT pg_catalog.array_agg(a.key ORDER BY a.key), pg_catalog.array_agg(a.upto ORDER BY a.key)
	  INTO arm_names, arm_upto
	  FROM (SELECT x.key, pg_catalog.sum(x.value::text::float8) OVER (ORDER BY x.key) AS upto
	          FROM pg_catalog.jsonb_each(d -> 'arms') x) a;
	/* lower bounds of the arms: arm i holds [arm_lo[i], arm_lo[i + 1]) of the hash, as in campaign_arm */
	arm_lo := ARRAY[0::float8] || arm_upto[1:pg_catalog.cardinality(arm_upto) - 1];
	/* the members to decide: not listed yet, or skipped before (decided again); on the first
	   listing of the campaign every member (no anti-join against rows that do not exist: its
	   estimate, an empty table, made it a scan per member) */
	IF NOT EXISTS (SELECT 1 FROM @extschema@.campaign_send x WHERE x.campaign_id = c.campaign_id AND x.trigger_key = '') THEN
		everyone := true;
	ELSE
		SELECT coalesce(pg_catalog.array_agg(sm.golden_id), '{}') INTO ids
		  FROM @extschema@.segment_member sm
		 WHERE sm.segment_id = sg.segment_id
		   AND NOT EXISTS (SELECT 1 FROM @extschema@.campaign_send x
		                    WHERE x.campaign_id = c.campaign_id AND x.golden_id = sm.golden_id AND x.trigger_key = ''
		                      AND x.status <> 'skipped');
		DELETE FROM @extschema@.campaign_send x USING pg_catalog.unnest(ids) u(g)
		 WHERE x.campaign_id = c.campaign_id AND x.golden_id = u.g AND x.trigger_key = '' AND x.status = 'skipped';
	END IF;
	IF d ? 'offer' THEN
		SELECT * INTO o FROM @extschema@.offer x WHERE x.offer_id = (d ->> 'offer')::bigint;
		/* the segment already applied its offer's rules to its members; the validity is the day's */
		IF sg.offer_id IS DISTINCT FROM o.offer_id THEN
			per_member := true;
		ELSIF o.status <> 'active' THEN
			offer_why := 'offer_archived';
		ELSIF day < (o.doc ->> 'valid_from')::date THEN
			offer_why := 'offer_not_yet_valid';
		ELSIF day > (o.doc ->> 'valid_to')::date THEN
			offer_why := 'offer_expired';
		END IF;
		vals_offer := pg_catalog.jsonb_build_object('offer_name', o.name,
			'offer_until', pg_catalog.to_char((o.doc ->> 'valid_to')::date, 'DD.MM.YYYY'));
	END IF;
	/* the provenance every row of this listing shares */
	base := pg_catalog.jsonb_build_object('campaign_version', c.version) || coalesce(ctx, '{}')
	        || CASE WHEN o.offer_id IS NOT NULL THEN pg_catalog.jsonb_build_object('offer', o.offer_id, 'offer_version', o.version) ELSE '{}' END;
	/* and the pairs every message of it shares (its own are added by campaign_provenance) */
	base_due := base || pg_catalog.jsonb_build_object('channels', chans_j);
	/*
	 * The rows go to cdp_internal.campaign_send_put, which writes them as COPY does (session 30:
	 * the INSERT ... SELECT's row-by-row insert and its transition table cost about 0.6-0.9 s of
	 * the 2.2 s its write took at 200k rows); no ON CONFLICT: no row of these members can exist.  Every writer of a
	 * campaign's rows (build_send_list, run_campaigns) holds the campaign's row lock (FOR UPDATE)
	 * for its whole transaction, the caller holds it, and the members written are those with no row
	 * (everyone: the campaign has none) or whose skipped rows were just deleted; segment_member holds
	 * a person once.  Were that broken, the unique index would refuse the row (an error, nothing
	 * half-written) rather than list a person twice.  ON CONFLICT's speculative insertion cost about
	 * 0.9 s of backend CPU for 200k rows (a pre-check of the unique index per row and a second
	 * write to the heap page).
	 */
	WITH m AS (
		/* the members with the columns the decision reads (no whole-row values), holdout and arm by hash,
		   and the contact candidates of those who may get a message; read once, by chosen, and not
		   kept: streamed into decided (OFFSET 0: a fence that keeps each member's contact
		   candidates, a C call, computed once rather than copied into every expression that reads
		   them).  Session 31: materialised, the members' wide rows (names, candidates) were
		   written into a tuplestore only to be read back by other, alt and chosen; that memory,
		   fresh to the backend, cost a page fault per 4 kB on top of the copies */
		SELECT sm.golden_id AS g, p.golden_id AS pid, p.status AS pstatus, p.city, p.given_name, p.patronymic, p.family_name,
		       sm.channels AS okch, pr.channel AS pref,
		       CASE WHEN hh.h < hold THEN 'holdout'
		            ELSE arm_names[LEAST(pg_catalog.width_bucket((hh.h - hold) / (1 - hold), arm_lo), pg_catalog.cardinality(arm_names))]
		       END AS arm,
		       CASE WHEN hh.h >= hold AND sm.channels && chans
		            THEN cdp_internal.campaign_contacts(chans, sm.channels, pr.channel, p.emails, p.phones, p.handles, p.address) END AS cand
		  FROM @extschema@.segment_member sm
		  LEFT JOIN @extschema@.patient p ON p.golden_id = sm.golden_id
		  LEFT JOIN cdp_internal.campaign_preference pr ON pr.golden_id = sm.golden_id
		 CROSS JOIN LATERAL (SELECT cdp_internal.campaign_hash(c.campaign_id, sm.golden_id) AS h) hh
		 WHERE sm.segment_id = sg.segment_id AND (everyone OR sm.golden_id = ANY (ids))
		OFFSET 0),
	/* the other campaigns' messages of the members (the same members as m's, by their ids alone) */
	other AS (
		SELECT x.golden_id AS g,
		       pg_catalog.count(*) FILTER (WHERE x.purpose = 'marketing'
		           AND (x.status = 'sent' AND x.sent_at > cap_from
		                OR x.status = 'due' AND x.due_at > cap_from AND x.due_at < cap_to)) AS n_cap,
		       pg_catalog.max(x.sent_at) FILTER (WHERE x.status = 'sent') AS last_sent
		  FROM @extschema@.campaign_send x
		 WHERE d ? 'cap' AND x.campaign_id <> c.campaign_id AND x.status IN ('sent', 'due')
		   AND x.golden_id IN (SELECT sm.golden_id FROM @extschema@.segment_member sm
		                        WHERE sm.segment_id = sg.segment_id AND (everyone OR sm.golden_id = ANY (ids)))
		 GROUP BY x.golden_id),
	/* the keys no message may go to: blocked (hard bounce, complaint) or suppressed for the purpose */
	bad AS (
		SELECT b.address_key AS k FROM cdp_internal.campaign_address_block b
		UNION
		SELECT su.address_key FROM @extschema@.consent_suppression su WHERE su.purpose = purp AND su.suppressed),
	/* the channel and address: the first candidate when it is clean (not in bad), else the first
	   clean one further down, looked up by key in the two tables bad is made of only for the
	   members whose first candidate is bad (a subquery in the CASE's other branch runs for those
	   rows alone); ci is the chosen candidate's position, computed once (OFFSET 0 keeps the
	   subquery from being copied into both ch and addr) */
	chosen AS (
		SELECT cho.*, cho.cand[2 * cho.ci - 1] AS ch, cho.cand[2 * cho.ci] AS addr
		  FROM (SELECT m.*, ot.n_cap, ot.last_sent,
		               CASE WHEN b1.k IS NULL THEN 1
		                    ELSE (SELECT i FROM pg_catalog.generate_series(2, pg_catalog.cardinality(m.cand) / 2) i
		                           WHERE NOT EXISTS (SELECT 1 FROM cdp_internal.campaign_address_block b WHERE b.address_key = m.cand[2 * i])
		                             AND NOT EXISTS (SELECT 1 FROM @extschema@.consent_suppression su
		                                              WHERE su.address_key = m.cand[2 * i] AND su.purpose = purp AND su.suppressed)
		                           ORDER BY i LIMIT 1)
		               END AS ci
		          FROM m
		          LEFT JOIN other ot ON ot.g = m.g
		          LEFT JOIN bad b1 ON b1.k = m.cand[2]
		        OFFSET 0) cho),
	decided AS MATERIALIZED (
		SELECT m.g, m.city, m.given_name, m.patronymic, m.family_name, m.pref, m.arm, m.ch, m.addr,
		       CASE WHEN d -> 'cap' ? 'quiet' THEN GREATEST(t0, m.last_sent + quiet) ELSE t0 END AS not_before,
		       CASE WHEN m.pid IS NULL THEN 'erased'
		            WHEN m.pstatus = 'archived' THEN 'archived'
		            WHEN m.arm = 'holdout' THEN 'holdout'
		            WHEN end_at IS NOT NULL AND t0 > end_at THEN 'campaign_ended'
		            WHEN offer_why IS NOT NULL THEN offer_why
		            WHEN ofr.w IS NOT NULL THEN
		                 CASE WHEN ofr.w IN ('expired', 'not_yet_valid', 'archived') THEN 'offer_' || ofr.w ELSE ofr.w END
		            WHEN m.ch IS NULL THEN
		                 CASE WHEN NOT m.okch && chans THEN 'no_consent' WHEN coalesce(pg_catalog.cardinality(m.cand), 0) = 0 THEN 'no_address' ELSE 'suppressed' END
		            WHEN purp = 'marketing' AND d -> 'cap' ? 'max' AND coalesce(m.n_cap, 0) >= (d -> 'cap' ->> 'max')::int THEN 'capped'
		       END AS why
		  FROM chosen m
		  /* the offer's rules for this member (only when the segment did not apply them) */
		  LEFT JOIN LATERAL (SELECT cdp_internal.offer_reason(p, o, day) AS w
		                       FROM @extschema@.patient p WHERE per_member AND p.golden_id = m.g) ofr ON true),
	/* the time zone once per city, the next moment inside the window once per zone and start */
	slots AS (
		SELECT z.city, z.nb, z.tz, cdp_internal.campaign_next_slot(z.nb, z.tz, d -> 'window') AS due
		  FROM (SELECT y.city, y.nb, cdp_internal.campaign_tz(y.city, d ->> 'timezone') AS tz
		          FROM (SELECT DISTINCT x.city, x.not_before AS nb FROM decided x WHERE x.why IS NULL) y) z),
	/* the consent summary rows of the members who may get a message: one index scan for the whole
	   set (= ANY of their ids, which the scan sorts) joined by hash, instead of a probe per message
	   (the executor restarting a subquery for each: about a quarter more CPU at 180k messages) */
	st AS (
		SELECT cs.golden_id AS g, cs.statements
		  FROM cdp_internal.consent_summary cs
		 WHERE cs.golden_id = ANY (ARRAY(SELECT x.g FROM decided x WHERE x.why IS NULL))),
	fin AS (
		SELECT x.*, sl.tz, sl.due, x.why IS NULL AND (end_at IS NULL OR sl.due <= end_at) AS ok, st.statements
		  FROM decided x
		  LEFT JOIN slots sl ON coalesce(sl.city, '') = coalesce(x.city, '') AND (sl.city IS NULL) = (x.city IS NULL)
		       AND sl.nb = x.not_before AND x.why IS NULL
		  LEFT JOIN st ON st.g = x.g)
	SELECT cdp_internal.campaign_send_put(c.campaign_id, x.g, '', purp,
	       CASE WHEN x.why = 'holdout' THEN 'holdout' WHEN x.ok THEN 'due' ELSE 'skipped' END,
	       CASE WHEN x.why IS NULL AND NOT x.ok THEN 'outside_window' ELSE x.why END,
	       CASE WHEN x.ok THEN x.ch END,
	       CASE WHEN x.ok THEN x.addr END,
	       CASE WHEN x.why IN ('archived', 'erased') THEN NULL ELSE x.arm END,
	       CASE WHEN x.why = 'holdout' THEN t0 WHEN x.ok THEN x.due END,
	       t,
	       CASE WHEN x.ok THEN cdp_internal.campaign_fill(d -> 'templates' ->> x.ch, 'given_name', x.given_name,
	                'patronymic', x.patronymic, 'family_name', x.family_name,
	                'offer_name', vals_offer ->> 'offer_name', 'offer_until', vals_offer ->> 'offer_until') END,
	       /* one object per message (C: the shared pairs once, no type look-ups per message) */
	       /* the consent statement behind the message: the latest of the person's records for the
	          purpose and channel, named by the person's consent summary row (st; session 28: the
	          person's records and their statements before, and a sort) */
	       CASE WHEN NOT x.ok THEN base
	            ELSE cdp_internal.campaign_provenance(base_due, CASE WHEN x.ch = x.pref THEN 'preferred' ELSE 'priority' END,
	                                                  x.tz, t_j, x.statements[chan_sub[pg_catalog.array_position(chans, x.ch)]])
	       END),
	       /* on a first listing, what campaign_after_list and the audit would read back from the
	          table: the due rows (status due: ok), the holdout rows, the reasons of the skipped
	          rows, the due rows' distinct addresses (the duplicate test) and their sorted ids */
	       pg_catalog.count(*) FILTER (WHERE fresh AND x.ok),
	       pg_catalog.count(*) FILTER (WHERE fresh AND x.why = 'holdout'),
	       pg_catalog.array_agg(CASE WHEN x.why IS NULL AND NOT x.ok THEN 'outside_window' ELSE x.why END)
	           FILTER (WHERE fresh AND x.why IS DISTINCT FROM 'holdout' AND x.ok IS NOT TRUE),
	       pg_catalog.count(DISTINCT x.addr COLLATE "C") FILTER (WHERE fresh AND x.ok),
	       pg_catalog.array_agg(x.g ORDER BY x.g) FILTER (WHERE fresh AND x.ok)
	  INTO written, n_due, n_hold, why_skip, n_addr, due_ids
	  FROM fin x;
	/* the work of the table's AFTER INSERT statement triggers, which the writer does not fire: the
	   persons written for the segments' campaign clauses (the roll-up counts sent rows; none here) */
	IF written IS NOT NULL AND cdp_internal.seg_campaign_watched() THEN
		PERFORM cdp_internal.seg_campaign_touch(written);
	END IF;
	/* campaign_after_list's result without reading the rows back: only on a first listing written
	   by the writer itself (INSERT statements may have fired other triggers), and only when no
	   two due rows share an address (due rows always carry one; with a duplicate, or a NULL,
	   the distinct count is lower and campaign_after_list skips the later rows and counts) */
	IF fresh AND written IS NOT NULL AND n_addr = n_due THEN
		counts := pg_catalog.jsonb_build_object('campaign_id', c.campaign_id, 'at', pg_catalog.now(),
		    'due', n_due, 'sent', 0::bigint, 'holdout', n_hold,
		    'not_sent', coalesce((SELECT pg_catalog.jsonb_object_agg(r.w, r.n ORDER BY r.w)
		                            FROM (SELECT u.w, pg_catalog.count(*) AS n FROM pg_catalog.unnest(why_skip) u(w)
		                                   GROUP BY u.w) r), '{}'));
		due_ids := coalesce(due_ids, '{}');
	ELSE
		counts := NULL;
		due_ids := NULL;
	END IF;
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_list_set(@extschema@.campaign, @extschema@.segment, timestamptz) IS
	'writes the send-list rows of a segment''s members in one pass: the set form of campaign_decide; on a first listing without duplicate addresses also the counts and the due rows'' golden ids (internal)';

/* ------------------------------------------------------------------ API: lists */

/*
 * Builds (or tops up) the send list of a segment campaign at t: every current member of the
 * segment gets one row.  Idempotent: a person already listed keeps the row (due, sent, refused,
 * cancelled or holdout); a person skipped before is decided again.  A draft or scheduled campaign
 * becomes running.  Returns {"due", "sent", "holdout", "not_sent": {reason: n}}.
 */
CREATE FUNCTION @extschema@.build_send_list(campaign bigint, at timestamptz DEFAULT pg_catalog.now()) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	c		@extschema@.campaign := cdp_internal.campaign_get(campaign, true);
	sg		@extschema@.segment;
	cand	jsonb;
	res		jsonb;
	due		bigint[];
BEGIN
	IF at IS NULL THEN
		RAISE EXCEPTION 'at must not be null' USING ERRCODE = '22004';
	END IF;
	IF c.status IN ('paused', 'done', 'archived') THEN
		RAISE EXCEPTION 'campaign "%" is %', c.campaign_id, c.status USING ERRCODE = '55000',
			HINT = 'Set it running with cdp.set_campaign_status(id, ''running'') (an archived one is restored to paused first).';
	END IF;
	IF c.doc ? 'trigger' THEN
		RAISE EXCEPTION 'campaign "%" is triggered per patient', c.campaign_id USING ERRCODE = '55000',
			HINT = 'Its rows are written by cdp.run_campaigns() (run_maintenance calls it).';
	END IF;
	SELECT * INTO sg FROM @extschema@.segment s WHERE s.segment_id = (c.doc ->> 'segment')::bigint;
	IF sg.status IS DISTINCT FROM 'active' THEN
		RAISE EXCEPTION 'segment "%" of campaign "%" is %', c.doc ->> 'segment', c.campaign_id, coalesce(sg.status, 'missing')
			USING ERRCODE = '55000', HINT = 'Restore the segment, or edit the campaign to use another.';
	END IF;
	IF c.status IN ('draft', 'scheduled') THEN
		PERFORM @extschema@.set_campaign_status(c.campaign_id, 'running');
	END IF;
	/* the members as of now: the segment's incremental refresh first (withdrawals since the last one) */
	PERFORM @extschema@.refresh_segment(sg.segment_id, 'incremental');
	IF sg.purpose = c.doc ->> 'purpose' THEN
		/* a first listing without duplicate addresses returns its counts and due ids (no re-read) */
		SELECT l.counts, l.due_ids INTO res, due FROM cdp_internal.campaign_list_set(c, sg, at) l;
		IF res IS NULL THEN
			res := cdp_internal.campaign_after_list(c);
		ELSIF (res ->> 'due')::bigint > 0 THEN
			PERFORM pg_catalog.pg_notify('cdp_send_list', c.campaign_id::text);
		END IF;
	ELSE
		SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('g', m.golden_id, 'ctx',
		         pg_catalog.jsonb_build_object('segment', m.segment_id, 'segment_version', m.version))), '[]')
		  INTO cand
		  FROM @extschema@.segment_member m
		 WHERE m.segment_id = sg.segment_id;
		res := cdp_internal.campaign_list(c, cand, at);
	END IF;
	PERFORM cdp_internal.campaign_event('campaign.list_built', c.campaign_id, res);
	/* the send-list build is audited with the patients it listed (doc/security.md) */
	IF due IS NULL THEN
		due := ARRAY(SELECT x.golden_id FROM @extschema@.campaign_send x
		              WHERE x.campaign_id = c.campaign_id AND x.built_at = at AND x.status = 'due' ORDER BY x.golden_id);
	END IF;
	PERFORM cdp_internal.acc_audit('campaign.send_list_built', due,
		c.doc ->> 'purpose', res || pg_catalog.jsonb_build_object('campaign', c.name));
	RETURN res;
END
$$;
COMMENT ON FUNCTION @extschema@.build_send_list(bigint, timestamptz) IS
	'materialises who gets what, on which channel and address, and when, for every member of a campaign''s segment (idempotent); returns counts and the reasons of those not sent; e.g. build_send_list(1)';

/* Records a person's preferred channel (an event); NULL clears it. */
CREATE FUNCTION @extschema@.set_contact_preference(golden_id bigint, channel text) RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	g	bigint := @extschema@.resolve_patient(set_contact_preference.golden_id);
	ev	bigint;
BEGIN
	IF g IS NULL THEN
		RAISE EXCEPTION 'patient "%" does not exist', set_contact_preference.golden_id USING ERRCODE = 'P0002';
	END IF;
	IF channel IS NOT NULL THEN
		PERFORM cdp_internal.consent_check(ARRAY['treatment'], ARRAY[channel]);
		IF channel = '*' THEN
			RAISE EXCEPTION 'a preference names one channel' USING ERRCODE = '22023',
				HINT = 'Use email, sms, messenger, social, call or post.';
		END IF;
	END IF;
	ev := cdp_internal.append_event('contact.preferred', NULL, g, pg_catalog.jsonb_build_object('channel', channel));
	DELETE FROM cdp_internal.campaign_preference x WHERE x.golden_id = g;
	IF channel IS NOT NULL THEN
		INSERT INTO cdp_internal.campaign_preference (golden_id, channel, at, event_id)
		VALUES (g, channel, pg_catalog.now(), ev);
	END IF;
	RETURN ev;
END
$$;
COMMENT ON FUNCTION @extschema@.set_contact_preference(bigint, text) IS
	'records the channel a person prefers (campaigns that list it choose it first); NULL clears it; returns the event id';

/*
 * The triggered campaigns' candidates at t, by kind:
 *   recommendation  a doctor's recommendation (with the trigger's code, if given) whose due date
 *                   falls within days_before days from t's day, due on or after it; key
 *                   rec:<test>:<due>, the test being the lab code or service in upper case ('' when
 *                   none): the same recommendation from two sources (or two records merged
 *                   later) is one reminder, and one person gets one reminder per test and due date
 *   after_event     the person's latest event of the kind (and code) is "after" old, or older by
 *                   at most days_before + 1 days; key after:<event>
 *   birthday        the birthday falls within days_before days; key birthday:<year>.  A birthday
 *                   on 29 February is kept on 28 February in other years.
 */
CREATE FUNCTION cdp_internal.campaign_trigger_candidates(c @extschema@.campaign, t timestamptz) RETURNS jsonb
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	tr		jsonb := c.doc -> 'trigger';
	today	date := (t AT TIME ZONE (c.doc ->> 'timezone'))::date;
	ahead	int := coalesce((tr ->> 'days_before')::int, 0);
	res		jsonb;
BEGIN
	IF tr ->> 'kind' = 'recommendation' THEN
		SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('g', e.golden_id,
		         'k', 'rec:' || coalesce(pg_catalog.upper(coalesce(e.lab_code, e.specialty)), '') || ':' || e.due_date,
		         'ctx', pg_catalog.jsonb_build_object('recommendation', e.event_id, 'due_date', e.due_date,
		                                              'test', coalesce(e.lab_code, e.specialty), 'lab', e.lab_code IS NOT NULL,
		                                              'since', e.at))), '[]')
		  INTO res
		  FROM @extschema@.clinical_event e
		 WHERE e.kind = 'recommendation' AND e.due_date BETWEEN today AND today + ahead
		   AND (tr ->> 'code' IS NULL OR pg_catalog.upper(e.lab_code) = pg_catalog.upper(tr ->> 'code'));
	ELSIF tr ->> 'kind' = 'after_event' THEN
		SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('g', x.golden_id, 'k', 'after:' || x.event_id,
		         'ctx', pg_catalog.jsonb_build_object('event', x.event_id, 'event_at', x.at))), '[]')
		  INTO res
		  FROM (SELECT DISTINCT ON (e.golden_id) e.golden_id, e.event_id, e.at
		          FROM @extschema@.clinical_event e
		         WHERE e.kind = tr ->> 'event'
		           AND (tr ->> 'code' IS NULL OR pg_catalog.upper(coalesce(e.lab_code, e.icd10, e.specialty)) = pg_catalog.upper(tr ->> 'code'))
		         ORDER BY e.golden_id, e.at DESC, e.event_id DESC) x
		 WHERE (x.at + (tr ->> 'after')::interval)::date BETWEEN today - 1 - ahead AND today + ahead;
	ELSE
		SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('g', p.golden_id,
		         'k', 'birthday:' || pg_catalog.date_part('year', today + ahead)::int,
		         'ctx', pg_catalog.jsonb_build_object('birthday', p.birth_date))), '[]')
		  INTO res
		  FROM @extschema@.patient p
		 WHERE p.status = 'active' AND p.birth_date IS NOT NULL
		   AND EXISTS (SELECT 1 FROM pg_catalog.generate_series(0, ahead) i
		                WHERE pg_catalog.to_char(today + i, 'MM-DD') = pg_catalog.to_char(p.birth_date, 'MM-DD')
		                   /* born on 29 February: the 28th in a year without one */
		                   OR pg_catalog.to_char(p.birth_date, 'MM-DD') = '02-29' AND pg_catalog.to_char(today + i, 'MM-DD') = '02-28'
		                      AND pg_catalog.date_part('day', pg_catalog.make_date(pg_catalog.date_part('year', today + i)::int, 3, 1) - 1) = 28);
	END IF;
	RETURN res;
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_trigger_candidates(@extschema@.campaign, timestamptz) IS
	'the persons a triggered campaign fires for at a time, each with its trigger key and facts (internal)';

/*
 * Runs the campaigns at t (run_maintenance calls it).  A scheduled campaign whose start has come
 * starts running: a segment campaign by building its send list at t (an error there, such as an
 * archived segment, is returned as {"error": ...} and the campaign stays scheduled), a triggered one
 * by firing from now on.  Every running triggered campaign lists its new candidates once per
 * trigger key, so a due date never fires twice; a reminder whose re-test was already done is
 * skipped (already_done).  Campaigns past their end become done.  Returns the counts per campaign
 * as they stand after the run.
 */
CREATE FUNCTION @extschema@.run_campaigns(at timestamptz DEFAULT pg_catalog.now()) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	c		@extschema@.campaign;
	res		jsonb := '{}';
	cand	jsonb;
BEGIN
	IF at IS NULL THEN
		RAISE EXCEPTION 'at must not be null' USING ERRCODE = '22004';
	END IF;
	FOR c IN SELECT * FROM @extschema@.campaign x WHERE x.status IN ('running', 'scheduled') ORDER BY x.campaign_id FOR UPDATE LOOP
		IF c.doc ->> 'end' IS NOT NULL AND (c.doc ->> 'end')::timestamptz < at THEN
			PERFORM @extschema@.set_campaign_status(c.campaign_id, 'done');
			CONTINUE;
		END IF;
		IF c.status = 'scheduled' THEN
			IF (c.doc ->> 'start')::timestamptz > at THEN
				CONTINUE;
			END IF;
			IF NOT c.doc ? 'trigger' THEN
				/* a scheduled promotion starts: its list is built now (which sets it running) */
				BEGIN
					res := res || pg_catalog.jsonb_build_object(c.campaign_id::text, @extschema@.build_send_list(c.campaign_id, at));
				EXCEPTION WHEN OTHERS THEN
					res := res || pg_catalog.jsonb_build_object(c.campaign_id::text, pg_catalog.jsonb_build_object('error', SQLERRM));
				END;
				CONTINUE;
			END IF;
			PERFORM @extschema@.set_campaign_status(c.campaign_id, 'running');
		END IF;
		PERFORM @extschema@.refresh_campaign_metrics(c.campaign_id, 30);
		IF NOT c.doc ? 'trigger' OR (c.doc ->> 'start')::timestamptz > at THEN
			CONTINUE;
		END IF;
		cand := cdp_internal.campaign_trigger_candidates(c, at);
		PERFORM cdp_internal.campaign_list(c, cand, at);
		/* a re-test done since the recommendation: nothing to remind */
		UPDATE @extschema@.campaign_send s SET status = 'skipped', reason = 'already_done', channel = NULL,
		       address = NULL, message = NULL, due_at = NULL
		 WHERE s.campaign_id = c.campaign_id AND s.status = 'due' AND s.provenance ? 'recommendation'
		   AND cdp_internal.campaign_retest_done(s.golden_id, s.provenance ->> 'test', (s.provenance ->> 'since')::timestamptz);
		/* the counts as they stand after the run (the already_done rows counted as such) */
		res := res || pg_catalog.jsonb_build_object(c.campaign_id::text, cdp_internal.campaign_counts(c.campaign_id, pg_catalog.now()));
	END LOOP;
	RETURN res;
END
$$;
COMMENT ON FUNCTION @extschema@.run_campaigns(timestamptz) IS
	'runs the campaigns at a time: starts scheduled campaigns whose start has come, fires the triggered ones (re-test reminders, after-visit, birthdays), finishes campaigns past their end; run_maintenance calls it; returns counts per campaign after the run';

/* Due rows for external senders: what to send, to which address, from when. */
CREATE VIEW @extschema@.send_list WITH (security_invoker = true, security_barrier = true) AS
	SELECT s.send_id, s.campaign_id, s.golden_id, s.channel, s.address, s.status, s.due_at, s.message, s.arm
	  FROM @extschema@.campaign_send s
	 WHERE s.status = 'due';
COMMENT ON VIEW @extschema@.send_list IS
	'messages due to be sent (status due): send_id, campaign, person, channel, address, due_at (send at or after), text, arm; senders call cdp.mark_sent(send_id)';
