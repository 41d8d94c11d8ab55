/*
 * sql/parts/87_campaign_delivery.sql: layer 8, sending, delivery events and metrics (issue 14).
 * See doc/campaigns.md.
 *
 * cdp.mark_sent(send_id) re-checks the person at the moment of sending.  A withdrawal, a
 * suppressed address or an archived patient cancels the person's unsent rows at once (triggers
 * on the consent projections and on cdp.patient).  Delivery events from the gateways are recorded
 * once each (keyed by the provider's event id when given), folded into the send row, and fed
 * back: a hard bounce or a complaint blocks the address for every campaign, an unsubscribe
 * withdraws that channel's marketing consent through the consent registry.  The metrics are
 * views over the send rows, by campaign, day, channel and arm.
 */

/* ------------------------------------------------------------------ sending */

/*
 * The erasure events by person (mark_sent asks whether the person of a row was erased): a partial
 * index, a few rows, so the question is one probe instead of a read of every event of the person
 * (several pages of cdp.event, 0.8 GB at 1M patients).
 */
CREATE INDEX campaign_event_erased_idx ON @extschema@.event (golden_id) WHERE kind = 'patient.erased';

/*
 * cdp.may_contact for the person of a send row (mark_sent): the same answer, from the consent
 * family's per-person summary (cdp_internal.consent_summary, kept exact in every writer's
 * transaction; cdp_internal.seg_consent_ok reads it the same way for segments) in one probe by
 * primary key, instead of folding the statements of the person's records (a read of the record
 * and statement pages per call, most of them outside a 256 MB cache at 1M patients).  The rules
 * are may_contact's: the purpose x channel bit (defaults when the person has no row), a person
 * known only through partner bases gets marketing only with partner_sharing consent on the
 * channel too, and neither may the person's addresses for the channel all be suppressed (for the
 * purpose, and for partner_sharing under the partner rule); an unknown purpose or channel is
 * may_contact's error.  test/pgtap/85_campaign_rules.sql compares the two.
 */
CREATE FUNCTION cdp_internal.campaign_consent(p @extschema@.patient, purpose text, channel text) RETURNS boolean
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	b		integer;
	pb		integer;
	alw		bigint;
	intl	boolean;
	addrs	text[];
BEGIN
	/* the bits of the purpose and of partner_sharing on the channel, in one call */
	SELECT pg_catalog.max(x.b) FILTER (WHERE x.purpose = campaign_consent.purpose),
	       pg_catalog.max(x.b) FILTER (WHERE x.purpose = 'partner_sharing')
	  INTO b, pb
	  FROM cdp_internal.consent_bits() x WHERE x.channel = campaign_consent.channel;
	IF b IS NULL OR p.golden_id IS NULL THEN
		/* an unknown purpose or channel (may_contact raises its error), or no person */
		RETURN @extschema@.may_contact(p.golden_id, purpose, channel);
	END IF;
	SELECT x.allowed, x.internal INTO alw, intl FROM cdp_internal.consent_summary x WHERE x.golden_id = p.golden_id;
	IF NOT FOUND THEN
		/* no statement counts for a person without a row: the defaults; the kinds from the records */
		alw := cdp_internal.consent_default_mask();
		intl := EXISTS (SELECT 1 FROM @extschema@.record r JOIN @extschema@.source s ON s.source_id = r.source_id
		                 WHERE r.golden_id = p.golden_id AND s.kind = 'internal');
	END IF;
	IF alw OPERATOR(pg_catalog.&) ((1::bigint) OPERATOR(pg_catalog.<<) b) = 0 THEN
		RETURN false;
	END IF;
	IF purpose = 'marketing' AND NOT intl AND alw OPERATOR(pg_catalog.&) ((1::bigint) OPERATOR(pg_catalog.<<) pb) = 0 THEN
		/* known only through partner bases: marketing needs partner_sharing on the channel too */
		RETURN false;
	END IF;
	addrs := cdp_internal.consent_addresses(p, channel);
	RETURN NOT (pg_catalog.cardinality(addrs) > 0
	            AND (NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(addrs) a
	                              WHERE NOT EXISTS (SELECT 1 FROM @extschema@.consent_suppression s
	                                                 WHERE s.address_key = a AND s.purpose = campaign_consent.purpose
	                                                   AND s.suppressed))
	                 OR purpose = 'marketing' AND NOT intl
	                    AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(addrs) a
	                                     WHERE NOT EXISTS (SELECT 1 FROM @extschema@.consent_suppression s
	                                                        WHERE s.address_key = a AND s.purpose = 'partner_sharing'
	                                                          AND s.suppressed))));
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_consent(@extschema@.patient, text, text) IS
	'cdp.may_contact for a profile, read from the consent summary in one probe (mark_sent) (internal)';

/*
 * Marks a due row sent after asking everything again.  First the campaign and the clock: a
 * draft, scheduled or paused campaign returns 'campaign_<status>' and the row stays due (a paused
 * campaign's rows are cancelled by the pause and come back when it resumes); a finished or
 * archived one refuses; after the campaign's end it refuses (campaign_ended); before the
 * campaign's start or the row's due time it returns 'not_yet' and the row stays due.  Then the
 * person: neither archived nor erased nor already sent this campaign and trigger under another
 * id (after a merge: duplicate), consent for the purpose and channel, the address still the
 * person's and not blocked or suppressed, a reminder's re-test not done yet, the cap, the offer
 * still admitting the person (a promotion).  Returns 'sent', or the reason it refused (the row
 * becomes refused).  Outside the window or inside a quiet period it returns 'outside_window' or
 * 'quiet_period' and the row stays due at the next allowed moment, unless that moment is past the
 * campaign's end (refused: outside_window).  A reminder listed with the offer's benefit is sent
 * with it only if the offer still admits the person on the due date and the person may still be
 * sent marketing on that channel; otherwise it is sent as the plain reminder (the version's
 * template re-rendered, no advertising; provenance benefit false, benefit_dropped the reason).
 * A send id that was issued but is gone (an erasure removes the person's rows) returns 'erased'.
 * The row is locked first, so a withdrawal committing meanwhile is seen (it cancels the row).
 * The checks run in that order and each is asked once: cdp.may_contact once (its answer read
 * from the consent summary, cdp_internal.campaign_consent); the erasure by a partial index of
 * the erasure events; the address's key
 * is the row's (written canonical at list build), so the suppression list is read by it directly;
 * the person's address keys for the channel are those of cdp_internal.consent_addresses, computed
 * inline; the ids merged into the person are followed only when there are any, each probed
 * through the send rows' unique key (campaign, person, trigger key), never by scanning the
 * campaign's sent rows; the cap and the quiet period are read from the person's other messages
 * in one pass.
 */
CREATE FUNCTION cdp_internal.campaign_mark(send_id bigint, now_ timestamptz) RETURNS text
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s		@extschema@.campaign_send;
	c		@extschema@.campaign;
	p		@extschema@.patient;
	o		@extschema@.offer;
	g		bigint;
	why		text;
	tz		text;
	nxt		timestamptz;
	n_cap	bigint;
	last	timestamptz;
	msg		text;
	prov	jsonb;
	drop_	text;
BEGIN
	IF campaign_mark.send_id IS NULL OR now_ IS NULL THEN
		RAISE EXCEPTION 'send_id must not be null' USING ERRCODE = '22004';
	END IF;
	SELECT * INTO s FROM @extschema@.campaign_send x WHERE x.send_id = campaign_mark.send_id FOR UPDATE;
	IF s.send_id IS NULL THEN
		/* issued once, gone now: only an erasure removes a row a sender could have read */
		IF campaign_mark.send_id > 0
		   AND campaign_mark.send_id <= coalesce(pg_catalog.pg_sequence_last_value('@extschema@.campaign_send_id_seq'), 0) THEN
			RETURN 'erased';
		END IF;
		RAISE EXCEPTION 'send "%" does not exist', campaign_mark.send_id USING ERRCODE = 'P0002',
			HINT = 'Pass a send_id read from cdp.send_list.';
	END IF;
	IF s.status = 'sent' THEN
		RETURN 'already_sent';
	ELSIF s.status <> 'due' THEN
		RETURN coalesce(s.reason, s.status);
	END IF;
	c := cdp_internal.campaign_get(s.campaign_id, false);
	/* the campaign and the clock */
	IF c.status IN ('draft', 'scheduled', 'paused') THEN
		RETURN 'campaign_' || c.status;
	ELSIF c.status <> 'running' THEN
		why := 'campaign_' || c.status;
	ELSIF c.doc ->> 'end' IS NOT NULL AND now_ > (c.doc ->> 'end')::timestamptz THEN
		why := 'campaign_ended';
	ELSIF now_ < GREATEST(s.due_at, (c.doc ->> 'start')::timestamptz) THEN
		RETURN 'not_yet';
	END IF;
	g := @extschema@.resolve_patient(s.golden_id);
	IF g IS NOT NULL THEN
		SELECT * INTO p FROM @extschema@.patient x WHERE x.golden_id = g;
	END IF;
	IF why IS NOT NULL THEN
		NULL;
	ELSIF p.golden_id IS NULL OR EXISTS (SELECT 1 FROM @extschema@.event e
	                                      WHERE e.golden_id IN (s.golden_id, g) AND e.kind = 'patient.erased') THEN
		/* (a probe of campaign_event_erased_idx: no read of the person's other events) */
		why := 'erased';
	ELSIF p.status = 'archived' THEN
		why := 'archived';
	ELSIF EXISTS (SELECT 1 FROM pg_catalog.unnest(CASE WHEN EXISTS (SELECT 1 FROM @extschema@.patient_redirect d WHERE d.new_id = g)
	                                                  THEN cdp_internal.golden_absorbed(g) ELSE ARRAY[g] END) i(g)
	               /* the row of each id by the unique key, its status tested outside (OFFSET 0): with
	                  status = 'sent' inside, the partial index of sent rows qualifies, and a plan made
	                  while the statistics knew no sent row scanned every sent row of the campaign */
	               CROSS JOIN LATERAL (SELECT x.status FROM @extschema@.campaign_send x
	                                    WHERE x.campaign_id = s.campaign_id AND x.golden_id = i.g AND x.trigger_key = s.trigger_key
	                                   OFFSET 0) x
	               WHERE x.status = 'sent') THEN
		why := 'duplicate';
	ELSIF NOT cdp_internal.campaign_consent(p, s.purpose, s.channel) THEN
		why := 'no_consent';
	ELSIF EXISTS (SELECT 1 FROM cdp_internal.campaign_address_block b WHERE b.address_key = s.address) THEN
		why := 'address_invalid';
	ELSIF EXISTS (SELECT 1 FROM @extschema@.consent_suppression x
	               WHERE x.address_key = s.address AND x.purpose = s.purpose AND x.suppressed) THEN
		why := 'suppressed';
	ELSIF NOT EXISTS (
		/* cdp_internal.consent_addresses(p, s.channel) holds s.address (its keys written out) */
		SELECT 1
		  FROM (SELECT e.x ->> 'value' AS v
		          FROM pg_catalog.jsonb_array_elements(CASE WHEN s.channel = 'email' THEN p.emails
		                                                    WHEN s.channel IN ('sms', 'messenger', 'call') THEN p.phones
		                                                    WHEN s.channel = 'social' THEN p.handles END) e(x)
		         WHERE s.channel <> 'social' OR e.x ->> 'network' = 'vk'
		        UNION ALL
		        SELECT p.address WHERE s.channel = 'post') a
		 WHERE coalesce(@extschema@.phone_e164(@extschema@.try_phone(a.v)), pg_catalog.lower((@extschema@.try_email(a.v))::text),
		                pg_catalog.lower(pg_catalog.btrim(a.v))) = s.address) THEN
		why := 'no_address';
	ELSIF s.provenance ? 'recommendation'
	      AND cdp_internal.campaign_retest_done(g, s.provenance ->> 'test', (s.provenance ->> 'since')::timestamptz) THEN
		why := 'already_done';
	ELSIF c.doc -> 'cap' IS NOT NULL THEN
		/* the person's other messages: the cap (marketing, in the period) and the last one (quiet period) */
		SELECT pg_catalog.count(*) FILTER (WHERE x.purpose = 'marketing' AND x.sent_at > now_ - (c.doc -> 'cap' ->> 'per')::interval),
		       pg_catalog.max(x.sent_at)
		  INTO n_cap, last
		  /* the person's rows by golden id, the status tested outside (OFFSET 0): not the partial
		     index of sent rows, which a plan made while the statistics knew no sent row read whole */
		  FROM (SELECT y.purpose, y.sent_at, y.status FROM @extschema@.campaign_send y
		         WHERE y.golden_id = g AND y.campaign_id <> s.campaign_id OFFSET 0) x
		 WHERE x.status = 'sent';
		IF c.doc ->> 'purpose' = 'marketing' AND c.doc -> 'cap' ? 'max' AND n_cap >= (c.doc -> 'cap' ->> 'max')::int THEN
			why := 'capped';
		END IF;
	END IF;
	IF why IS NULL AND c.doc ? 'offer' AND NOT c.doc ? 'trigger' THEN
		SELECT * INTO o FROM @extschema@.offer x WHERE x.offer_id = (c.doc ->> 'offer')::bigint;
		why := cdp_internal.offer_reason(p, o, (now_ AT TIME ZONE (c.doc ->> 'timezone'))::date);
		IF why IN ('expired', 'not_yet_valid', 'archived') THEN
			why := 'offer_' || why;
		END IF;
	END IF;
	IF why IS NOT NULL THEN
		UPDATE @extschema@.campaign_send x SET status = 'refused', reason = why, refused_at = now_
		 WHERE x.send_id = s.send_id;
		RETURN why;
	END IF;
	/* not now: the quiet period after the last message, or outside the window (never past the end) */
	tz := coalesce(s.provenance ->> 'timezone', cdp_internal.campaign_tz(p.city, c.doc ->> 'timezone'));
	nxt := CASE WHEN c.doc -> 'cap' ? 'quiet' THEN GREATEST(now_, last + (c.doc -> 'cap' ->> 'quiet')::interval) ELSE now_ END;
	IF nxt > now_ THEN
		why := 'quiet_period';
	ELSE
		nxt := cdp_internal.campaign_next_slot(now_, tz, c.doc -> 'window');
		IF nxt > now_ THEN
			why := 'outside_window';
		END IF;
	END IF;
	IF why IS NOT NULL THEN
		nxt := cdp_internal.campaign_next_slot(nxt, tz, c.doc -> 'window');
		IF nxt IS NULL OR c.doc ->> 'end' IS NOT NULL AND nxt > (c.doc ->> 'end')::timestamptz THEN
			UPDATE @extschema@.campaign_send x SET status = 'refused', reason = 'outside_window', refused_at = now_
			 WHERE x.send_id = s.send_id;
			RETURN 'outside_window';
		END IF;
		UPDATE @extschema@.campaign_send x SET due_at = nxt WHERE x.send_id = s.send_id;
		RETURN why;
	END IF;
	/* a reminder's benefit only while the offer admits the person on the due date and marketing is allowed */
	msg := s.message;
	prov := s.provenance;
	IF coalesce((s.provenance ->> 'benefit')::boolean, false) THEN
		SELECT * INTO o FROM @extschema@.offer x WHERE x.offer_id = (coalesce(s.provenance ->> 'offer', c.doc ->> 'offer'))::bigint;
		drop_ := cdp_internal.offer_reason(p, o, coalesce((s.provenance ->> 'due_date')::date, (now_ AT TIME ZONE (c.doc ->> 'timezone'))::date));
		IF drop_ IS NOT NULL THEN
			drop_ := 'offer_' || drop_;
		ELSIF NOT @extschema@.may_contact(g, 'marketing', s.channel) THEN
			drop_ := 'no_marketing_consent';
		END IF;
		IF drop_ IS NOT NULL THEN
			msg := cdp_internal.campaign_render(
				(SELECT v.doc -> 'templates' ->> s.channel FROM @extschema@.campaign_version v
				  WHERE v.campaign_id = s.campaign_id
				    AND v.version = coalesce((s.provenance ->> 'campaign_version')::int, c.version)),
				pg_catalog.jsonb_build_object('given_name', p.given_name, 'patronymic', p.patronymic, 'family_name', p.family_name,
					'due_date', pg_catalog.to_char((s.provenance ->> 'due_date')::date, 'DD.MM.YYYY'), 'test', s.provenance ->> 'test'));
			prov := prov || pg_catalog.jsonb_build_object('benefit', false, 'benefit_dropped', drop_);
		END IF;
	END IF;
	UPDATE @extschema@.campaign_send x SET status = 'sent', sent_at = now_,
	       sent_day = (now_ AT TIME ZONE (c.doc ->> 'timezone'))::date, message = msg, provenance = prov
	 WHERE x.send_id = s.send_id;
	RETURN 'sent';
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_mark(bigint, timestamptz) IS
	'cdp.mark_sent at a given moment, any moment (tests fix the clock) (internal)';

/*
 * Marks a due row sent now; see cdp_internal.campaign_mark.  PL/pgSQL rather than SQL: a SQL
 * function with SET is never inlined and plans its statement on every call.
 */
CREATE FUNCTION @extschema@.mark_sent(send_id bigint) RETURNS text
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN cdp_internal.campaign_mark(mark_sent.send_id, pg_catalog.now());
END
$$;
COMMENT ON FUNCTION @extschema@.mark_sent(bigint) IS
	'marks a send row sent after re-checking consent, archive, erasure, contraindication, offer validity, cap and window at that moment; returns ''sent'' or the reason it refused; e.g. mark_sent(17)';

/*
 * Marks a due row sent at a past moment: a gateway reporting (or back-filling) the moment it
 * actually sent, or a simulated gateway.  Everything is asked as of that moment, as
 * cdp.mark_sent(send_id) asks it now; consent is the current state (a withdrawal recorded since
 * refuses).  A moment in the future, or before the row was listed, is refused (22023): the window
 * and quiet period are not the sender's to skip.
 */
CREATE FUNCTION @extschema@.mark_sent(send_id bigint, at timestamptz) RETURNS text
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF at IS NULL THEN
		RAISE EXCEPTION 'at must not be null' USING ERRCODE = '22004',
			HINT = 'Call cdp.mark_sent(send_id) to mark it sent now.';
	END IF;
	IF at > pg_catalog.now() THEN
		RAISE EXCEPTION 'a send cannot be marked at a future moment (%)', at USING ERRCODE = '22023',
			DETAIL = pg_catalog.format('Send %s; the database''s time is %s.', mark_sent.send_id, pg_catalog.now()),
			HINT = 'Pass the moment the message was actually sent, or call cdp.mark_sent(send_id).';
	END IF;
	IF at < (SELECT x.built_at FROM @extschema@.campaign_send x WHERE x.send_id = mark_sent.send_id) THEN
		RAISE EXCEPTION 'a send cannot be marked before its row was listed (%)', at USING ERRCODE = '22023',
			DETAIL = pg_catalog.format('Send %s was listed at %s.', mark_sent.send_id,
			                           (SELECT x.built_at FROM @extschema@.campaign_send x WHERE x.send_id = mark_sent.send_id)),
			HINT = 'Pass the moment the message was actually sent.';
	END IF;
	RETURN cdp_internal.campaign_mark(mark_sent.send_id, at);
END
$$;
COMMENT ON FUNCTION @extschema@.mark_sent(bigint, timestamptz) IS
	'marks a send row sent at the past moment it was actually sent (a gateway back-filling, a simulated gateway), re-checking everything as of that moment; a moment in the future or before the row was listed is refused; e.g. mark_sent(17, ''2026-03-02 10:15+03'')';

/* ------------------------------------------------------------------ cancellations */

/* A withdrawal cancels the unsent rows of the persons it concerns, for that purpose and channel. */
CREATE FUNCTION cdp_internal.campaign_on_consent() RETURNS trigger
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	UPDATE @extschema@.campaign_send s SET status = 'cancelled', reason = 'no_consent', refused_at = pg_catalog.now()
	  FROM (SELECT DISTINCT r.golden_id, n.purpose, n.channel
	          FROM consent_new n JOIN @extschema@.record r ON r.record_id = n.record_id
	         WHERE NOT n.granted) w
	 WHERE s.status = 'due' AND s.golden_id = w.golden_id AND s.purpose = w.purpose AND s.channel = w.channel
	   AND NOT @extschema@.may_contact(s.golden_id, s.purpose, s.channel);
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_on_consent() IS
	'trigger: consent withdrawals cancel the unsent campaign rows they forbid (internal)';
CREATE TRIGGER campaign_on_consent AFTER INSERT ON @extschema@.consent_statement
	REFERENCING NEW TABLE AS consent_new FOR EACH STATEMENT EXECUTE FUNCTION cdp_internal.campaign_on_consent();
ALTER TABLE @extschema@.consent_statement ENABLE ALWAYS TRIGGER campaign_on_consent;

/* An address suppressed for a purpose cancels the unsent rows to it. */
CREATE FUNCTION cdp_internal.campaign_on_suppression() RETURNS trigger
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF NEW.suppressed THEN
		UPDATE @extschema@.campaign_send s SET status = 'cancelled', reason = 'suppressed', refused_at = pg_catalog.now()
		 WHERE s.status = 'due' AND s.address = NEW.address_key AND s.purpose = NEW.purpose;
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_on_suppression() IS
	'trigger: a suppressed address cancels the unsent campaign rows to it (internal)';
CREATE TRIGGER campaign_on_suppression AFTER INSERT OR UPDATE OF suppressed ON @extschema@.consent_suppression
	FOR EACH ROW EXECUTE FUNCTION cdp_internal.campaign_on_suppression();
ALTER TABLE @extschema@.consent_suppression ENABLE ALWAYS TRIGGER campaign_on_suppression;

/* An archived patient's unsent rows are cancelled. */
CREATE FUNCTION cdp_internal.campaign_on_archive() RETURNS trigger
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	UPDATE @extschema@.campaign_send s SET status = 'cancelled', reason = 'archived', refused_at = pg_catalog.now()
	 WHERE s.status = 'due' AND s.golden_id = NEW.golden_id;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_on_archive() IS
	'trigger: archiving a patient cancels the unsent campaign rows of that patient (internal)';
CREATE TRIGGER campaign_on_archive AFTER UPDATE OF status ON @extschema@.patient
	FOR EACH ROW WHEN (NEW.status = 'archived' AND OLD.status IS DISTINCT FROM 'archived')
	EXECUTE FUNCTION cdp_internal.campaign_on_archive();
ALTER TABLE @extschema@.patient ENABLE ALWAYS TRIGGER campaign_on_archive;

/* ------------------------------------------------------------------ delivery events */

CREATE TABLE @extschema@.campaign_delivery (
	golden_id	bigint NOT NULL,
	send_id		bigint NOT NULL,
	kind		text NOT NULL CHECK (kind IN ('sent', 'delivered', 'bounced', 'opened', 'clicked', 'converted',
	                                      'unsubscribed', 'complained')),
	at			timestamptz NOT NULL,
	event_key	text NOT NULL,
	detail		jsonb NOT NULL DEFAULT '{}',
	amount		numeric,
	recorded_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (send_id, event_key)
);
COMMENT ON TABLE @extschema@.campaign_delivery IS
	'delivery events from the gateways, once each (keyed by the provider''s event id, else kind and time)';
CREATE INDEX campaign_delivery_golden_idx ON @extschema@.campaign_delivery (golden_id);
ALTER TABLE @extschema@.campaign_delivery ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.campaign_delivery FORCE ROW LEVEL SECURITY;

CREATE TABLE @extschema@.delivery_event_staging (
	send_id				bigint,
	kind				text,
	at					timestamptz,
	provider_event_id	text,
	detail				jsonb
);
COMMENT ON TABLE @extschema@.delivery_event_staging IS
	'COPY delivery events here, then call cdp.ingest_delivery_events() (bulk path of cdp.record_delivery_event)';
ALTER TABLE @extschema@.delivery_event_staging ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.delivery_event_staging FORCE ROW LEVEL SECURITY;

/*
 * Checks one delivery event and returns its key and amount; 22023 naming the field otherwise.
 * where names the event in messages (the staged row for the bulk path).
 */
CREATE FUNCTION cdp_internal.campaign_delivery_check(kind text, at timestamptz, detail jsonb, provider_id text, where_ text,
                                                     OUT event_key text, OUT amount numeric)
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF kind IS NULL OR NOT kind IN ('sent', 'delivered', 'bounced', 'opened', 'clicked', 'converted', 'unsubscribed', 'complained') THEN
		RAISE EXCEPTION 'unknown delivery event kind "%"', pg_catalog.left(coalesce(kind, 'null'), 64) USING ERRCODE = '22023',
			DETAIL = where_, HINT = 'Use sent, delivered, bounced, opened, clicked, converted, unsubscribed or complained.';
	END IF;
	IF at IS NULL THEN
		RAISE EXCEPTION 'a delivery event needs its time' USING ERRCODE = '22004', DETAIL = where_;
	END IF;
	IF detail IS NULL OR pg_catalog.jsonb_typeof(detail) <> 'object' THEN
		RAISE EXCEPTION 'delivery event detail must be a JSON object' USING ERRCODE = '22023', DETAIL = where_,
			HINT = 'Use e.g. {"event_id": "prov-123", "type": "hard"}.';
	END IF;
	IF kind = 'bounced' AND NOT coalesce(detail ->> 'type', '') IN ('hard', 'soft') THEN
		RAISE EXCEPTION 'a bounce is hard or soft' USING ERRCODE = '22023', DETAIL = where_ || ' (detail.type)',
			HINT = 'Give {"type": "hard"} for a permanent failure, {"type": "soft"} for a temporary one.';
	END IF;
	IF kind = 'converted' AND detail ? 'kind' AND NOT coalesce(detail ->> 'kind', '') IN ('booked', 'paid') THEN
		RAISE EXCEPTION 'a conversion is booked or paid' USING ERRCODE = '22023', DETAIL = where_ || ' (detail.kind)',
			HINT = 'Give {"kind": "booked"} for an appointment made, {"kind": "paid", "amount": 4500} for a payment.';
	END IF;
	IF detail ? 'amount' THEN
		IF pg_catalog.jsonb_typeof(detail -> 'amount') <> 'number' OR (detail ->> 'amount')::numeric < 0 THEN
			RAISE EXCEPTION 'delivery event amount must be a number, 0 or more' USING ERRCODE = '22023',
				DETAIL = where_ || ' (detail.amount)', HINT = 'Use e.g. {"kind": "paid", "amount": 4500}.';
		END IF;
		/* revenue is what was paid: the amount of a booking (its expected price) is kept in detail only */
		IF kind = 'converted' AND detail ->> 'kind' = 'paid' THEN
			amount := (detail ->> 'amount')::numeric;
		END IF;
	END IF;
	event_key := coalesce(provider_id, detail ->> 'event_id', kind || '@' || pg_catalog.to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'));
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_delivery_check(text, timestamptz, jsonb, text, text) IS
	'validates a delivery event (a conversion is booked or paid) and gives its idempotency key (provider id, else kind and time) and the amount paid (internal)';

/*
 * Folds new delivery events (rows of cdp.campaign_delivery just inserted, given as parallel arrays
 * of send id, kind, time, bounce type and amount: one element for the one-event path, a batch for
 * the bulk path) into their send rows and feeds back: hard bounces and complaints block the
 * address, unsubscribes withdraw the channel's marketing consent (an event of the consent
 * registry, which also suppresses the address).
 */
CREATE FUNCTION cdp_internal.campaign_delivery_fold(send_ids bigint[], kinds text[], ats timestamptz[], bounces text[],
                                                    amounts numeric[]) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	u	record;
BEGIN
	UPDATE @extschema@.campaign_send s SET
	       delivered_at = LEAST(s.delivered_at, a.delivered, a.opened),
	       opened_at = LEAST(s.opened_at, a.opened),
	       clicked_at = LEAST(s.clicked_at, a.clicked),
	       converted_at = LEAST(s.converted_at, a.converted),
	       revenue = s.revenue + a.revenue,
	       bounced = CASE WHEN a.hard THEN 'hard' WHEN a.soft AND s.bounced IS NULL THEN 'soft' ELSE s.bounced END,
	       unsubscribed_at = LEAST(s.unsubscribed_at, a.unsubscribed),
	       complained_at = LEAST(s.complained_at, a.complained)
	  FROM (SELECT e.send_id,
	               pg_catalog.min(e.at) FILTER (WHERE e.kind = 'delivered') AS delivered,
	               pg_catalog.min(e.at) FILTER (WHERE e.kind = 'opened') AS opened,
	               pg_catalog.min(e.at) FILTER (WHERE e.kind = 'clicked') AS clicked,
	               pg_catalog.min(e.at) FILTER (WHERE e.kind = 'converted') AS converted,
	               coalesce(pg_catalog.sum(e.amount) FILTER (WHERE e.kind = 'converted'), 0) AS revenue,
	               pg_catalog.bool_or(e.kind = 'bounced' AND e.bounce = 'hard') AS hard,
	               pg_catalog.bool_or(e.kind = 'bounced' AND e.bounce = 'soft') AS soft,
	               pg_catalog.min(e.at) FILTER (WHERE e.kind = 'unsubscribed') AS unsubscribed,
	               pg_catalog.min(e.at) FILTER (WHERE e.kind = 'complained') AS complained
	          FROM ROWS FROM (pg_catalog.unnest(send_ids), pg_catalog.unnest(kinds), pg_catalog.unnest(ats), pg_catalog.unnest(bounces),
	                          pg_catalog.unnest(amounts)) e(send_id, kind, at, bounce, amount) GROUP BY e.send_id) a
	 WHERE s.send_id = a.send_id;
	INSERT INTO cdp_internal.campaign_address_block (address_key, reason, at, send_id)
	SELECT DISTINCT ON (s.address) s.address,
	       CASE WHEN e.kind = 'complained' THEN 'complaint' ELSE 'hard_bounce' END, e.at, e.send_id
	  FROM ROWS FROM (pg_catalog.unnest(send_ids), pg_catalog.unnest(kinds), pg_catalog.unnest(ats), pg_catalog.unnest(bounces),
	                          pg_catalog.unnest(amounts)) e(send_id, kind, at, bounce, amount) JOIN @extschema@.campaign_send s ON s.send_id = e.send_id
	 WHERE (e.kind = 'complained' OR e.kind = 'bounced' AND e.bounce = 'hard') AND s.address IS NOT NULL
	 ORDER BY s.address, e.at
	ON CONFLICT (address_key) DO NOTHING;
	FOR u IN SELECT DISTINCT ON (s.golden_id, s.channel) s.golden_id, s.channel, s.address, e.at, e.send_id
	           FROM ROWS FROM (pg_catalog.unnest(send_ids), pg_catalog.unnest(kinds), pg_catalog.unnest(ats), pg_catalog.unnest(bounces),
	                          pg_catalog.unnest(amounts)) e(send_id, kind, at, bounce, amount) JOIN @extschema@.campaign_send s ON s.send_id = e.send_id
	          WHERE e.kind = 'unsubscribed'
	          ORDER BY s.golden_id, s.channel, e.at LOOP
		PERFORM @extschema@.set_consent(u.golden_id, 'marketing', u.channel, false, u.at,
		                                'unsubscribe: send ' || u.send_id, u.address);
	END LOOP;
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_delivery_fold(bigint[], text[], timestamptz[], text[], numeric[]) IS
	'folds new delivery events into their send rows; hard bounces and complaints block the address; unsubscribes withdraw marketing consent (internal)';

/*
 * Records one delivery event of a sent row: sent, delivered, bounced ({"type": "hard"|"soft"}),
 * opened, clicked, converted ({"kind": "booked"|"paid", "amount": n}: either is a conversion, no
 * kind counts as booked, another kind is refused; only a payment's amount is revenue), unsubscribed,
 * complained.
 * Idempotent: the same event again (same detail.event_id, or same kind and time) returns
 * 'duplicate' and changes nothing.  An unknown send id: P0002; a row never marked sent: 55000.
 */
CREATE FUNCTION @extschema@.record_delivery_event(send_id bigint, kind text, at timestamptz, detail jsonb DEFAULT '{}')
	RETURNS text
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s		@extschema@.campaign_send;
	k		record;
	ev		@extschema@.campaign_delivery;
BEGIN
	IF record_delivery_event.send_id IS NULL THEN
		RAISE EXCEPTION 'send_id must not be null' USING ERRCODE = '22004';
	END IF;
	k := cdp_internal.campaign_delivery_check(kind, at, coalesce(detail, '{}'), NULL,
	                                          pg_catalog.format('Delivery event "%s" of send %s.', kind, record_delivery_event.send_id));
	SELECT * INTO s FROM @extschema@.campaign_send x WHERE x.send_id = record_delivery_event.send_id FOR UPDATE;
	IF s.send_id IS NULL THEN
		RAISE EXCEPTION 'send "%" does not exist', record_delivery_event.send_id USING ERRCODE = 'P0002',
			HINT = 'Delivery events name a send_id read from cdp.send_list.';
	END IF;
	IF s.status <> 'sent' THEN
		RAISE EXCEPTION 'send "%" was not sent (it is %)', s.send_id, s.status USING ERRCODE = '55000',
			HINT = 'Call cdp.mark_sent(send_id) before handing the message to the gateway.';
	END IF;
	INSERT INTO @extschema@.campaign_delivery AS d (golden_id, send_id, kind, at, event_key, detail, amount)
	VALUES (s.golden_id, s.send_id, kind, at, k.event_key, coalesce(detail, '{}'), k.amount)
	ON CONFLICT ON CONSTRAINT campaign_delivery_pkey DO NOTHING
	RETURNING * INTO ev;
	IF ev.send_id IS NULL THEN
		RETURN 'duplicate';
	END IF;
	PERFORM cdp_internal.campaign_delivery_fold(ARRAY[ev.send_id], ARRAY[ev.kind], ARRAY[ev.at], ARRAY[ev.detail ->> 'type'],
	                                            ARRAY[ev.amount]);
	RETURN 'recorded';
END
$$;
COMMENT ON FUNCTION @extschema@.record_delivery_event(bigint, text, timestamptz, jsonb) IS
	'records a delivery event of a sent message once (webhook retries count once); returns ''recorded'' or ''duplicate''; e.g. record_delivery_event(17, ''delivered'', now())';

/*
 * The bulk path: every row COPYed into cdp.delivery_event_staging is checked (one bad row: 22023 or
 * P0002 naming it, and nothing is written), recorded once, folded, and removed from the staging
 * table.  Returns {"staged", "recorded", "duplicates"}.  Two passes over the staged rows, each
 * joined with their send rows: the first counts them and the bad ones (the checks of
 * cdp_internal.campaign_delivery_check, written out), the second, only when none is bad, records
 * them (the same key; of the copies of one event in the batch the earliest, in key order, which
 * is also the primary key's order) and returns them as plain arrays, folded as the one-event path
 * folds them (cdp_internal.campaign_delivery_fold).  Counting first costs a second scan of the
 * staged rows but never writes them aside (a batch of millions would spill to disk twice over).
 * Only when a row is bad are the staged rows read again, to name the first bad one.  The table is
 * locked against new rows until commit, so both passes read the same rows.
 */
CREATE FUNCTION @extschema@.ingest_delivery_events() RETURNS jsonb
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	SET jit = off	/* a COPY-sized batch would otherwise start a JIT compile costing more than it saves */
	AS $$
DECLARE
	n_staged	bigint;
	n_bad		bigint;
	n_rec		bigint;
	e_send		bigint[];
	e_kind		text[];
	e_at		timestamptz[];
	e_bounce	text[];
	e_amount	numeric[];
	bad			record;
BEGIN
	LOCK TABLE @extschema@.delivery_event_staging IN EXCLUSIVE MODE;
	SELECT pg_catalog.count(*),
	       pg_catalog.count(*) FILTER (WHERE NOT (
	           s.status IS NOT DISTINCT FROM 'sent'
	           AND t.kind IN ('sent', 'delivered', 'bounced', 'opened', 'clicked', 'converted', 'unsubscribed', 'complained')
	           AND t.at IS NOT NULL
	           AND (t.detail IS NULL OR pg_catalog.jsonb_typeof(t.detail) = 'object')
	           AND (t.kind <> 'bounced' OR coalesce(t.detail ->> 'type', '') IN ('hard', 'soft'))
	           AND (t.kind <> 'converted' OR t.detail IS NULL OR NOT t.detail ? 'kind' OR coalesce(t.detail ->> 'kind', '') IN ('booked', 'paid'))
	           AND (t.detail IS NULL OR NOT t.detail ? 'amount'
	                OR pg_catalog.jsonb_typeof(t.detail -> 'amount') = 'number' AND (t.detail ->> 'amount')::numeric >= 0)))
	  INTO n_staged, n_bad
	  FROM @extschema@.delivery_event_staging t
	  LEFT JOIN @extschema@.campaign_send s ON s.send_id = t.send_id;
	IF n_bad > 0 THEN
		/* name the first bad row, as the one-event path would: its send first, then its fields */
		SELECT x.send_id, x.kind, x.rn INTO bad
		  FROM (SELECT st.send_id, st.kind, pg_catalog.row_number() OVER () AS rn, s.status
		          FROM @extschema@.delivery_event_staging st
		          LEFT JOIN @extschema@.campaign_send s ON s.send_id = st.send_id) x
		 WHERE x.status IS DISTINCT FROM 'sent' LIMIT 1;
		IF FOUND THEN
			RAISE EXCEPTION 'staged delivery event for a send that % (send_id %)',
				CASE WHEN bad.send_id IS NULL THEN 'is not named' ELSE 'does not exist or was not sent' END, bad.send_id
				USING ERRCODE = 'P0002', DETAIL = pg_catalog.format('Staged row %s (kind "%s").', bad.rn, bad.kind),
				HINT = 'Fix or delete the row in cdp.delivery_event_staging and call cdp.ingest_delivery_events() again; nothing was recorded.';
		END IF;
		PERFORM cdp_internal.campaign_delivery_check(x.kind, x.at, coalesce(x.detail, '{}'), x.provider_event_id,
		                                             pg_catalog.format('Staged row %s (send %s).', x.rn, x.send_id))
		   FROM (SELECT t.*, pg_catalog.row_number() OVER () AS rn FROM @extschema@.delivery_event_staging t) x;
		RAISE EXCEPTION 'a staged delivery event is not valid' USING ERRCODE = '22023',
			HINT = 'Check the rows of cdp.delivery_event_staging against cdp.record_delivery_event; nothing was recorded.';
	END IF;
	WITH ins AS (
		INSERT INTO @extschema@.campaign_delivery AS d (golden_id, send_id, kind, at, event_key, detail, amount)
		SELECT DISTINCT ON (t.send_id, t.k) s.golden_id, t.send_id, t.kind, t.at, t.k, coalesce(t.detail, '{}'),
		       CASE WHEN t.kind = 'converted' AND t.detail ->> 'kind' = 'paid' THEN (t.detail ->> 'amount')::numeric END
		  FROM (SELECT x.*, coalesce(x.provider_event_id, x.detail ->> 'event_id',
		                             x.kind || '@' || pg_catalog.to_char(x.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')) AS k
		          FROM @extschema@.delivery_event_staging x) t
		  JOIN @extschema@.campaign_send s ON s.send_id = t.send_id AND s.status = 'sent'
		 ORDER BY t.send_id, t.k, t.at
		ON CONFLICT ON CONSTRAINT campaign_delivery_pkey DO NOTHING
		RETURNING d.send_id, d.kind, d.at, d.detail ->> 'type' AS bounce, d.amount)
	SELECT pg_catalog.count(*), pg_catalog.array_agg(i.send_id), pg_catalog.array_agg(i.kind), pg_catalog.array_agg(i.at),
	       pg_catalog.array_agg(i.bounce), pg_catalog.array_agg(i.amount)
	  INTO n_rec, e_send, e_kind, e_at, e_bounce, e_amount
	  FROM ins i;
	IF n_rec > 0 THEN
		PERFORM cdp_internal.campaign_delivery_fold(e_send, e_kind, e_at, e_bounce, e_amount);
	END IF;
	/* the staged rows are all read (the table is locked against new ones until commit) */
	TRUNCATE @extschema@.delivery_event_staging;
	RETURN pg_catalog.jsonb_build_object('staged', n_staged, 'recorded', n_rec, 'duplicates', n_staged - n_rec);
END
$$;
COMMENT ON FUNCTION @extschema@.ingest_delivery_events() IS
	'records every delivery event COPYed into cdp.delivery_event_staging (all or nothing; duplicates counted once) and empties it; returns counts';

/* ------------------------------------------------------------------ metrics */

/*
 * Marks the sent and holdout rows whose person came back for a visit within `days` days after the
 * message (after the planned moment, for the holdout), and unmarks those who did not: every row
 * is derived again with the N given, so the metric is always "within N days" of the last refresh
 * (a refresh with a shorter N lowers it).  Only rows whose mark changes are written.
 * run_campaigns refreshes the running campaigns with 30 days.  Returns the rows changed.
 */
CREATE FUNCTION @extschema@.refresh_campaign_metrics(campaign_id bigint DEFAULT NULL, days int DEFAULT 30) RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n	bigint;
BEGIN
	IF days IS NULL OR days < 1 OR days > 366 THEN
		RAISE EXCEPTION 'days must be between 1 and 366' USING ERRCODE = '22023';
	END IF;
	UPDATE @extschema@.campaign_send s SET returned_at = v.at
	  FROM (SELECT s2.send_id, s2.returned_at AS was, pg_catalog.min(e.at) AS at
	          FROM @extschema@.campaign_send s2
	          LEFT JOIN @extschema@.clinical_event e ON e.golden_id = s2.golden_id AND e.kind = 'visit'
	               AND e.at > coalesce(s2.sent_at, s2.due_at)
	               AND e.at <= coalesce(s2.sent_at, s2.due_at) + pg_catalog.make_interval(days => refresh_campaign_metrics.days)
	         WHERE (refresh_campaign_metrics.campaign_id IS NULL OR s2.campaign_id = refresh_campaign_metrics.campaign_id)
	           AND s2.status IN ('sent', 'holdout')
	         GROUP BY s2.send_id, s2.returned_at) v
	 WHERE s.send_id = v.send_id AND v.was IS DISTINCT FROM v.at;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;
COMMENT ON FUNCTION @extschema@.refresh_campaign_metrics(bigint, int) IS
	'marks the messages (and holdout rows) after which the person came back for a visit within N days, and unmarks the others (the "returning" metric, always of the last N given); returns the rows changed';

/*
 * The roll-up behind the metrics: per campaign, day sent (the campaign's time zone), channel and
 * arm, the counters of the sent rows (cdp.campaign_send with status 'sent').  Kept by the
 * statement triggers below on every insert, update and delete of send rows, so whoever writes a
 * send row (cdp.mark_sent, the one-event and bulk delivery folds, cdp.refresh_campaign_metrics,
 * an erasure, a restore) keeps it equal to the counts over the send rows, in the same
 * transaction.  A metrics query reads days x channels x arms rows of it, never the send rows.
 * NULLS NOT DISTINCT: a row without an arm (a campaign without A/B arms) is a group, as in GROUP BY.
 * Derived data: not dumped (95_dump.sql); a restore rebuilds it as the send rows are copied in.
 */
CREATE TABLE @extschema@.campaign_rollup (
	campaign_id		bigint NOT NULL,
	day				date,
	channel			text,
	arm				text,
	sent			bigint NOT NULL DEFAULT 0,
	delivered		bigint NOT NULL DEFAULT 0,
	opened			bigint NOT NULL DEFAULT 0,
	clicked			bigint NOT NULL DEFAULT 0,
	converted		bigint NOT NULL DEFAULT 0,
	revenue			numeric NOT NULL DEFAULT 0,
	bounced			bigint NOT NULL DEFAULT 0,
	hard_bounced	bigint NOT NULL DEFAULT 0,
	unsubscribed	bigint NOT NULL DEFAULT 0,
	complained		bigint NOT NULL DEFAULT 0,
	returned		bigint NOT NULL DEFAULT 0,
	CONSTRAINT campaign_rollup_key UNIQUE NULLS NOT DISTINCT (campaign_id, day, channel, arm)
);
COMMENT ON TABLE @extschema@.campaign_rollup IS
	'per campaign, day sent, channel and arm: the counters of the sent rows behind cdp.campaign_metrics, kept by triggers on cdp.campaign_send';
ALTER TABLE @extschema@.campaign_rollup ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.campaign_rollup FORCE ROW LEVEL SECURITY;

/*
 * Trigger of cdp.campaign_send (INSERT: new rows, UPDATE: old and new, DELETE: old): the roll-up
 * follows every statement on the send rows, so whoever writes them (cdp.mark_sent, the one-event
 * and bulk delivery folds, cdp.refresh_campaign_metrics, an erasure, a restore) keeps it equal to
 * the counts over the send rows, in the same transaction.  Each sent row counts +1 as it is after
 * the statement (news) and -1 as it was before (olds), each as a narrow roll-up row of its own
 * (copying the wide send rows would cost more than the rest); a statement with none (a list build, a
 * refusal, a due row moved to its slot) writes nothing.  The transition table a trigger lacks is
 * never read: PL/pgSQL plans a statement when it first runs it.  The sums per key are added to the
 * roll-up rows in key order, so that two writers lock the rows they share in the same order (a
 * bulk fold touches many keys, cdp.mark_sent one); ON CONFLICT adds to the row as the writer
 * before committed it (it waits for that writer), so concurrent statements add up.  Keys whose
 * counters do not change are not written.  SECURITY DEFINER: the roll-up is the owner's to write.
 */
CREATE FUNCTION cdp_internal.campaign_rollup_apply() RETURNS trigger
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	news	@extschema@.campaign_rollup[] := '{}';
	olds	@extschema@.campaign_rollup[] := '{}';
BEGIN
	/* each sent row as a roll-up row of its own (a narrow copy: never the whole wide send row) */
	IF TG_OP <> 'DELETE' THEN
		news := ARRAY(SELECT ROW(n.campaign_id, n.sent_day, n.channel, n.arm, 1, (n.delivered_at IS NOT NULL)::int,
		                         (n.opened_at IS NOT NULL)::int, (n.clicked_at IS NOT NULL)::int, (n.converted_at IS NOT NULL)::int,
		                         n.revenue, (n.bounced IS NOT NULL)::int, (n.bounced IS NOT DISTINCT FROM 'hard')::int,
		                         (n.unsubscribed_at IS NOT NULL)::int, (n.complained_at IS NOT NULL)::int, (n.returned_at IS NOT NULL)::int)
		                FROM new_rows n WHERE n.status = 'sent');
	END IF;
	IF TG_OP <> 'INSERT' THEN
		olds := ARRAY(SELECT ROW(o.campaign_id, o.sent_day, o.channel, o.arm, 1, (o.delivered_at IS NOT NULL)::int,
		                         (o.opened_at IS NOT NULL)::int, (o.clicked_at IS NOT NULL)::int, (o.converted_at IS NOT NULL)::int,
		                         o.revenue, (o.bounced IS NOT NULL)::int, (o.bounced IS NOT DISTINCT FROM 'hard')::int,
		                         (o.unsubscribed_at IS NOT NULL)::int, (o.complained_at IS NOT NULL)::int, (o.returned_at IS NOT NULL)::int)
		                FROM old_rows o WHERE o.status = 'sent');
	END IF;
	IF pg_catalog.cardinality(news) + pg_catalog.cardinality(olds) = 0 THEN
		RETURN NULL;
	END IF;
	INSERT INTO @extschema@.campaign_rollup AS r
	SELECT d.*
	  FROM (SELECT x.campaign_id, x.day, x.channel, x.arm, pg_catalog.sum(x.w * x.sent) AS sent,
	               pg_catalog.sum(x.w * x.delivered) AS delivered, pg_catalog.sum(x.w * x.opened) AS opened,
	               pg_catalog.sum(x.w * x.clicked) AS clicked, pg_catalog.sum(x.w * x.converted) AS converted,
	               pg_catalog.sum(x.w * x.revenue) AS revenue, pg_catalog.sum(x.w * x.bounced) AS bounced,
	               pg_catalog.sum(x.w * x.hard_bounced) AS hard_bounced, pg_catalog.sum(x.w * x.unsubscribed) AS unsubscribed,
	               pg_catalog.sum(x.w * x.complained) AS complained, pg_catalog.sum(x.w * x.returned) AS returned
	          FROM (SELECT 1 AS w, n.* FROM pg_catalog.unnest(news) n UNION ALL SELECT -1, o.* FROM pg_catalog.unnest(olds) o) x
	         GROUP BY x.campaign_id, x.day, x.channel, x.arm) d
	 WHERE (d.sent, d.delivered, d.opened, d.clicked, d.converted, d.revenue, d.bounced, d.hard_bounced, d.unsubscribed,
	        d.complained, d.returned) <> (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	 ORDER BY d.campaign_id, d.day, d.channel, d.arm
	ON CONFLICT ON CONSTRAINT campaign_rollup_key DO UPDATE SET
	       sent = r.sent + EXCLUDED.sent, delivered = r.delivered + EXCLUDED.delivered, opened = r.opened + EXCLUDED.opened,
	       clicked = r.clicked + EXCLUDED.clicked, converted = r.converted + EXCLUDED.converted, revenue = r.revenue + EXCLUDED.revenue,
	       bounced = r.bounced + EXCLUDED.bounced, hard_bounced = r.hard_bounced + EXCLUDED.hard_bounced,
	       unsubscribed = r.unsubscribed + EXCLUDED.unsubscribed, complained = r.complained + EXCLUDED.complained,
	       returned = r.returned + EXCLUDED.returned;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_rollup_apply() IS
	'trigger: statements on cdp.campaign_send keep cdp.campaign_rollup equal to the counts of the sent rows (internal)';
CREATE TRIGGER campaign_rollup_insert AFTER INSERT ON @extschema@.campaign_send
	REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cdp_internal.campaign_rollup_apply();
CREATE TRIGGER campaign_rollup_update AFTER UPDATE ON @extschema@.campaign_send
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cdp_internal.campaign_rollup_apply();
CREATE TRIGGER campaign_rollup_delete AFTER DELETE ON @extschema@.campaign_send
	REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION cdp_internal.campaign_rollup_apply();
ALTER TABLE @extschema@.campaign_send ENABLE ALWAYS TRIGGER campaign_rollup_insert;
ALTER TABLE @extschema@.campaign_send ENABLE ALWAYS TRIGGER campaign_rollup_update;
ALTER TABLE @extschema@.campaign_send ENABLE ALWAYS TRIGGER campaign_rollup_delete;

/*
 * TRUNCATE of the send rows empties the roll-up (statement triggers with transition tables do not
 * see a TRUNCATE).
 */
CREATE FUNCTION cdp_internal.campaign_rollup_truncate() RETURNS trigger
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	TRUNCATE @extschema@.campaign_rollup;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_rollup_truncate() IS
	'trigger: truncating cdp.campaign_send empties cdp.campaign_rollup (internal)';
CREATE TRIGGER campaign_rollup_truncate AFTER TRUNCATE ON @extschema@.campaign_send
	FOR EACH STATEMENT EXECUTE FUNCTION cdp_internal.campaign_rollup_truncate();
ALTER TABLE @extschema@.campaign_send ENABLE ALWAYS TRIGGER campaign_rollup_truncate;

/*
 * Per campaign, day sent (the campaign's time zone), channel and arm: the delivery funnel and its
 * rates, read from the roll-up (days x channels x arms rows per campaign, whatever its size).
 */
CREATE VIEW @extschema@.campaign_metrics WITH (security_invoker = true) AS
	SELECT r.campaign_id, r.day, r.channel, r.arm, r.sent, r.delivered,
	       pg_catalog.round(r.delivered::numeric / r.sent, 4) AS deliverability,
	       r.opened, r.clicked,
	       pg_catalog.round(r.clicked::numeric / NULLIF(r.delivered, 0), 4) AS ctr,
	       pg_catalog.round(r.clicked::numeric / NULLIF(r.opened, 0), 4) AS click_to_open,
	       r.converted,
	       pg_catalog.round(r.converted::numeric / NULLIF(r.delivered, 0), 4) AS conversion_rate,
	       r.revenue, r.bounced, r.hard_bounced, r.unsubscribed, r.complained, r.returned
	  FROM @extschema@.campaign_rollup r
	 WHERE r.sent > 0;
COMMENT ON VIEW @extschema@.campaign_metrics IS
	'by campaign, day sent, channel and arm: sent, delivered, deliverability, opened, clicked, CTR (clicked/delivered), click-to-open, converted, conversion rate (converted/delivered), revenue, bounces, unsubscribes, complaints, returning patients';

/*
 * The funnel per campaign, channel and day sent: sent -> delivered -> opened -> clicked ->
 * converted (day last: the view's columns before it are those of 0.3.0's first form).  A date
 * range is WHERE day BETWEEN ...; the whole campaign is the sum over its days.
 */
CREATE VIEW @extschema@.campaign_funnel WITH (security_invoker = true) AS
	SELECT m.campaign_id, m.channel, f.step, f.stage, f.n,
	       pg_catalog.round(f.n::numeric / NULLIF(m.sent, 0), 4) AS share_of_sent, m.day
	  FROM (SELECT x.campaign_id, x.channel, x.day, pg_catalog.sum(x.sent) AS sent, pg_catalog.sum(x.delivered) AS delivered,
	               pg_catalog.sum(x.opened) AS opened, pg_catalog.sum(x.clicked) AS clicked, pg_catalog.sum(x.converted) AS converted
	          FROM @extschema@.campaign_metrics x GROUP BY x.campaign_id, x.channel, x.day) m
	 CROSS JOIN LATERAL (VALUES (1, 'sent', m.sent), (2, 'delivered', m.delivered), (3, 'opened', m.opened),
	                            (4, 'clicked', m.clicked), (5, 'converted', m.converted)) f(step, stage, n);
COMMENT ON VIEW @extschema@.campaign_funnel IS
	'the funnel of each campaign, channel and day sent: sent, delivered, opened, clicked, converted, with the share of sent (sum over days for a range)';

/*
 * Uplift of each arm against the holdout on the "returning" metric (a visit within the days of
 * cdp.refresh_campaign_metrics after the message, or after the planned moment for the holdout),
 * over the rows whose day (the day sent, or the planned day for the holdout, in the campaign's
 * zone) falls in [from_day, to_day] (NULL: open): the difference of the two shares p1 - p0 with
 * a 95% Wald confidence interval p1 - p0 -+ 1.959964 * sqrt(p1 (1 - p1) / n1 + p0 (1 - p0) / n0).
 * Needs both groups.
 */
CREATE FUNCTION @extschema@.campaign_uplift(campaign_id bigint, from_day date DEFAULT NULL, to_day date DEFAULT NULL)
	RETURNS TABLE (arm text, members bigint, returned bigint, rate float8, holdout_members bigint,
	               holdout_returned bigint, holdout_rate float8, uplift float8, ci_low float8, ci_high float8)
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	WITH g AS (
		SELECT s.arm, pg_catalog.count(*) AS n, pg_catalog.count(s.returned_at) AS r
		  FROM @extschema@.campaign_send s
		 WHERE s.campaign_id = $1 AND s.status IN ('sent', 'holdout')
		   AND ($2 IS NULL AND $3 IS NULL
		        OR coalesce(s.sent_day, (s.due_at AT TIME ZONE (SELECT c.doc ->> 'timezone' FROM @extschema@.campaign c WHERE c.campaign_id = $1))::date)
		           BETWEEN coalesce($2, '-infinity'::date) AND coalesce($3, 'infinity'::date))
		 GROUP BY s.arm),
	h AS (SELECT g.n, g.r, g.r::float8 / g.n AS p FROM g WHERE g.arm = 'holdout')
	SELECT g.arm, g.n, g.r, g.r::float8 / g.n, h.n, h.r, h.p,
	       g.r::float8 / g.n - h.p,
	       g.r::float8 / g.n - h.p - 1.959964 * pg_catalog.sqrt((g.r::float8 / g.n) * (1 - g.r::float8 / g.n) / g.n + h.p * (1 - h.p) / h.n),
	       g.r::float8 / g.n - h.p + 1.959964 * pg_catalog.sqrt((g.r::float8 / g.n) * (1 - g.r::float8 / g.n) / g.n + h.p * (1 - h.p) / h.n)
	  FROM g CROSS JOIN h
	 WHERE g.arm <> 'holdout'
	 ORDER BY g.arm
$$;
COMMENT ON FUNCTION @extschema@.campaign_uplift(bigint, date, date) IS
	'uplift of each arm over the holdout in the share of returning patients, with a 95% Wald confidence interval, optionally over the days from_day to to_day; e.g. SELECT * FROM campaign_uplift(1, ''2026-03-01'', ''2026-03-31'')';
