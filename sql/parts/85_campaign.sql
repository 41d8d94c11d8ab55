/*
 * sql/parts/85_campaign.sql: layer 8, campaigns as objects (issue 14).  See doc/campaigns.md.
 *
 * A campaign is a JSON document validated on save (cdp_internal.campaign_check): a segment or a
 * per-patient trigger, an offer, a purpose, channels in priority order with one message template
 * each, a send window in the patient's local time, a frequency cap, a holdout share and A/B arms.
 * Its current version and status are a projection of campaign.* events (created, edited, status,
 * archived, restored), like offers and segments; cdp.rebuild_campaigns() replays them.
 * Send lists are in 86_campaign_send.sql, delivery events and metrics in 87_campaign_metrics.sql.
 */

/* ------------------------------------------------------------------ catalogues */

/*
 * The placeholders a template may use, what each renders, and which campaigns may carry it: a
 * clinical fact (the test a doctor recommended, its due date) only in a treatment message, an
 * offer's terms only when the campaign has an offer.  The renderer knows exactly these names.
 */
CREATE FUNCTION @extschema@.campaign_placeholders(OUT placeholder text, OUT needs text, OUT description text)
	RETURNS SETOF record
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	VALUES ('given_name', NULL, 'the patient''s given name'),
	       ('patronymic', NULL, 'the patient''s patronymic'),
	       ('family_name', NULL, 'the patient''s family name'),
	       ('offer_name', 'offer', 'the offer''s name'),
	       ('offer_until', 'offer', 'the last day of the offer, DD.MM.YYYY'),
	       ('due_date', 'treatment', 'the date the doctor set for the re-test, DD.MM.YYYY (reminders only)'),
	       ('test', 'treatment', 'the service or test code the doctor recommended (reminders only)')
$$;
COMMENT ON FUNCTION @extschema@.campaign_placeholders() IS
	'the placeholders a campaign template may use ({given_name}, {offer_until}, ...), with what each needs: an offer, or a treatment purpose';

/*
 * Time zone of a city (the patient's local time for send windows); NULL when unknown, and the
 * campaign's zone (default the clinic's, Europe/Moscow) applies.  The cities of Russia's eleven
 * zones that clinics name most.
 */
CREATE FUNCTION cdp_internal.campaign_city_tz(city text) RETURNS text
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT t.tz FROM (VALUES
	('москва', 'Europe/Moscow'), ('химки', 'Europe/Moscow'), ('санкт-петербург', 'Europe/Moscow'),
	('казань', 'Europe/Moscow'), ('нижний новгород', 'Europe/Moscow'), ('ростов-на-дону', 'Europe/Moscow'),
	('воронеж', 'Europe/Moscow'), ('краснодар', 'Europe/Moscow'), ('калининград', 'Europe/Kaliningrad'),
	('самара', 'Europe/Samara'), ('ижевск', 'Europe/Samara'), ('екатеринбург', 'Asia/Yekaterinburg'),
	('челябинск', 'Asia/Yekaterinburg'), ('уфа', 'Asia/Yekaterinburg'), ('пермь', 'Asia/Yekaterinburg'),
	('тюмень', 'Asia/Yekaterinburg'), ('омск', 'Asia/Omsk'), ('новосибирск', 'Asia/Novosibirsk'),
	('томск', 'Asia/Tomsk'), ('барнаул', 'Asia/Barnaul'), ('красноярск', 'Asia/Krasnoyarsk'),
	('кемерово', 'Asia/Novokuznetsk'), ('иркутск', 'Asia/Irkutsk'), ('чита', 'Asia/Chita'),
	('якутск', 'Asia/Yakutsk'), ('хабаровск', 'Asia/Vladivostok'), ('владивосток', 'Asia/Vladivostok'),
	('магадан', 'Asia/Magadan'), ('южно-сахалинск', 'Asia/Sakhalin'),
	('петропавловск-камчатский', 'Asia/Kamchatka')) t(city, tz)
	 WHERE t.city = pg_catalog.lower(pg_catalog.btrim(pg_catalog.regexp_replace($1, '^(г\.|город)\s*', '', 'i')))
$$;
COMMENT ON FUNCTION cdp_internal.campaign_city_tz(text) IS
	'IANA time zone of a Russian city (any case, "г." allowed), NULL when not known (internal)';

/* ------------------------------------------------------------------ projections */

CREATE SEQUENCE @extschema@.campaign_id_seq;
COMMENT ON SEQUENCE @extschema@.campaign_id_seq IS 'ids of cdp.campaign';

CREATE TABLE @extschema@.campaign (
	campaign_id	bigint PRIMARY KEY,
	version		int NOT NULL,
	name		text NOT NULL,
	status		text NOT NULL CHECK (status IN ('draft', 'scheduled', 'running', 'paused', 'done', 'archived')),
	doc			jsonb NOT NULL,
	created_at	timestamptz NOT NULL,
	updated_at	timestamptz NOT NULL
);
COMMENT ON TABLE @extschema@.campaign IS
	'campaigns: the current version of each document and its status (projection of campaign.* events)';
ALTER TABLE @extschema@.campaign ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.campaign FORCE ROW LEVEL SECURITY;

CREATE TABLE @extschema@.campaign_version (
	campaign_id	bigint NOT NULL,
	version		int NOT NULL,
	doc			jsonb NOT NULL,
	at			timestamptz NOT NULL,
	event_id	bigint NOT NULL,
	PRIMARY KEY (campaign_id, version)
);
COMMENT ON TABLE @extschema@.campaign_version IS
	'every version of every campaign document (projection of campaign.created / campaign.edited events)';
ALTER TABLE @extschema@.campaign_version ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.campaign_version FORCE ROW LEVEL SECURITY;

/* ------------------------------------------------------------------ validation */

/* An interval given as text at a JSON path, or 22023 naming the path. */
CREATE FUNCTION cdp_internal.campaign_interval(v jsonb, path text) RETURNS interval
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	i	interval;
BEGIN
	IF v IS NULL OR pg_catalog.jsonb_typeof(v) <> 'string' THEN
		RAISE EXCEPTION 'campaign % must be an interval written as text', path USING ERRCODE = '22023',
			DETAIL = pg_catalog.format('At %s.', path), HINT = 'Write it like "30 days" or "3 days".';
	END IF;
	BEGIN
		i := (v #>> '{}')::interval;
	EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR interval_field_overflow THEN
		RAISE EXCEPTION 'invalid interval "%" in a campaign', pg_catalog.left(v #>> '{}', 64) USING ERRCODE = '22023',
			DETAIL = pg_catalog.format('At %s.', path), HINT = 'Write it like "30 days", "11 months" or "3 days".';
	END;
	IF i <= interval '0' THEN
		RAISE EXCEPTION 'campaign % must be positive', path USING ERRCODE = '22023',
			DETAIL = pg_catalog.format('At %s: "%s".', path, v #>> '{}'), HINT = 'Write it like "30 days".';
	END IF;
	RETURN i;
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_interval(jsonb, text) IS
	'a positive interval from a JSON string; 22023 naming the JSON path otherwise (internal)';

/* A timestamptz given as text at a JSON path, or 22023 naming the path. */
CREATE FUNCTION cdp_internal.campaign_time(v jsonb, path text) RETURNS timestamptz
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF v IS NULL OR pg_catalog.jsonb_typeof(v) <> 'string' THEN
		RAISE EXCEPTION 'campaign % must be a time written as text', path USING ERRCODE = '22023',
			DETAIL = pg_catalog.format('At %s.', path), HINT = 'Write it like "2026-03-01T00:00:00+03".';
	END IF;
	RETURN (v #>> '{}')::timestamptz;
EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow THEN
	RAISE EXCEPTION 'invalid time "%" in a campaign', pg_catalog.left(v #>> '{}', 64) USING ERRCODE = '22023',
		DETAIL = pg_catalog.format('At %s.', path), HINT = 'Write it like "2026-03-01T00:00:00+03".';
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_time(jsonb, text) IS
	'a timestamptz from a JSON string; 22023 naming the JSON path otherwise (internal)';

/*
 * Checks a template: every {placeholder} is known, and allowed for the campaign (offer terms need
 * an offer; a due date or a test name only in a treatment reminder).  22023 naming the path.
 */
CREATE FUNCTION cdp_internal.campaign_template_check(tpl text, path text, has_offer boolean, purpose text,
                                                     reminder boolean) RETURNS void
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	ph		text;
	needs	text;
BEGIN
	IF tpl IS NULL OR pg_catalog.btrim(tpl) = '' THEN
		RAISE EXCEPTION 'campaign template must not be empty' USING ERRCODE = '22023',
			DETAIL = pg_catalog.format('At %s.', path), HINT = 'Write the message text, e.g. "{given_name}, ...".';
	END IF;
	IF pg_catalog.length(tpl) > 4000 THEN
		RAISE EXCEPTION 'campaign template is longer than 4000 characters' USING ERRCODE = '22023',
			DETAIL = pg_catalog.format('At %s.', path), HINT = 'Shorten the message.';
	END IF;
	FOR ph IN SELECT m[1] FROM pg_catalog.regexp_matches(tpl, '\{([^{}]*)\}', 'g') m LOOP
		SELECT x.needs INTO needs FROM @extschema@.campaign_placeholders() x WHERE x.placeholder = ph;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'unknown placeholder "{%}" in a campaign template', pg_catalog.left(ph, 64)
				USING ERRCODE = '22023', DETAIL = pg_catalog.format('At %s.', path),
				HINT = 'Use {given_name}, {patronymic}, {family_name}, {offer_name}, {offer_until}, {due_date} or {test} (see cdp.campaign_placeholders()).';
		END IF;
		IF needs = 'offer' AND NOT has_offer THEN
			RAISE EXCEPTION 'placeholder "{%}" needs an offer', ph USING ERRCODE = '22023',
				DETAIL = pg_catalog.format('At %s; the campaign has no "offer".', path),
				HINT = 'Add "offer": <offer_id> or remove the placeholder.';
		END IF;
		IF needs = 'treatment' AND (purpose <> 'treatment' OR NOT reminder) THEN
			RAISE EXCEPTION 'placeholder "{%}" carries clinical data and may only be used in a treatment reminder', ph
				USING ERRCODE = '22023', DETAIL = pg_catalog.format('At %s.', path),
				HINT = 'Use it in a campaign with "purpose": "treatment" and a "trigger" of kind "recommendation".';
		END IF;
	END LOOP;
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_template_check(text, text, boolean, text, boolean) IS
	'refuses unknown placeholders and those the campaign''s purpose or offer does not allow (internal)';

/*
 * Validates a campaign document and returns it normalised (defaults filled in).  Unknown keys,
 * wrong types, an unknown channel, a template missing for a channel or using a placeholder that
 * does not exist, a window ending before it starts, a cap of zero, an end before the start, a
 * holdout outside [0, 0.9], arms that do not add up: 22023 with the JSON path in the detail and an
 * accepted form in the hint.  A segment or offer that does not exist: P0002; an archived one: 55000.
 */
CREATE FUNCTION cdp_internal.campaign_check(doc jsonb) RETURNS jsonb
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	k			text;
	d			jsonb := '{}';
	purpose		text;
	chans		text[];
	ch			text;
	tpls		jsonb;
	trig		jsonb;
	reminder	boolean := false;
	has_offer	boolean;
	w			jsonb;
	hrs			jsonb;
	days		jsonb;
	cap			jsonb;
	arms		jsonb;
	share		numeric;
	total		numeric := 0;
	st			timestamptz;
	en			timestamptz;
	seg_status	text;
BEGIN
	IF doc IS NULL OR pg_catalog.jsonb_typeof(doc) <> 'object' THEN
		RAISE EXCEPTION 'a campaign must be a JSON object' USING ERRCODE = '22023',
			HINT = 'See doc/campaigns.md: {"name": "...", "segment": 3, "channels": ["sms"], "templates": {"sms": "..."}}.';
	END IF;
	FOR k IN SELECT pg_catalog.jsonb_object_keys(doc) LOOP
		IF NOT k = ANY (ARRAY['name', 'segment', 'trigger', 'offer', 'purpose', 'channels', 'templates',
		                      'offer_templates', 'window', 'cap', 'holdout', 'arms', 'start', 'end', 'timezone',
		                      'description']) THEN
			RAISE EXCEPTION 'unknown campaign key "%"', pg_catalog.left(k, 64) USING ERRCODE = '22023',
				DETAIL = pg_catalog.format('At $.%s.', pg_catalog.left(k, 64)),
				HINT = 'Use name, segment or trigger, offer, purpose, channels, templates, offer_templates, window, cap, holdout, arms, start, end, timezone, description.';
		END IF;
	END LOOP;
	/* name */
	IF pg_catalog.jsonb_typeof(doc -> 'name') IS DISTINCT FROM 'string' OR pg_catalog.btrim(doc ->> 'name') = '' THEN
		RAISE EXCEPTION 'a campaign needs a name' USING ERRCODE = '22023', DETAIL = 'At $.name.',
			HINT = 'Add "name": "Весенний чек-ап".';
	END IF;
	d := d || pg_catalog.jsonb_build_object('name', pg_catalog.btrim(doc ->> 'name'));
	IF doc ? 'description' THEN
		d := d || pg_catalog.jsonb_build_object('description', doc ->> 'description');
	END IF;
	/* purpose */
	purpose := coalesce(doc ->> 'purpose', 'marketing');
	PERFORM cdp_internal.consent_check(ARRAY[purpose], ARRAY['sms']);
	IF purpose NOT IN ('marketing', 'treatment') THEN
		RAISE EXCEPTION 'a campaign''s purpose is marketing or treatment, not "%"', purpose USING ERRCODE = '22023',
			DETAIL = 'At $.purpose.', HINT = 'Use "marketing" (promotions) or "treatment" (reminders from a doctor).';
	END IF;
	d := d || pg_catalog.jsonb_build_object('purpose', purpose);
	/* audience: a segment or a trigger, not both */
	IF (doc ? 'segment') = (doc ? 'trigger') THEN
		RAISE EXCEPTION 'a campaign has either a "segment" or a "trigger"' USING ERRCODE = '22023',
			DETAIL = 'At $.segment / $.trigger.',
			HINT = 'Add "segment": <segment_id>, or "trigger": {"kind": "recommendation", "days_before": 7}.';
	END IF;
	IF doc ? 'segment' THEN
		IF pg_catalog.jsonb_typeof(doc -> 'segment') IS DISTINCT FROM 'number' OR (doc ->> 'segment') !~ '^[0-9]+$' THEN
			RAISE EXCEPTION 'campaign "segment" must be a segment id' USING ERRCODE = '22023', DETAIL = 'At $.segment.',
				HINT = 'Use the id cdp.create_segment returned, e.g. "segment": 3.';
		END IF;
		SELECT s.status INTO seg_status FROM @extschema@.segment s WHERE s.segment_id = (doc ->> 'segment')::bigint;
		IF seg_status IS NULL THEN
			RAISE EXCEPTION 'segment "%" does not exist', doc ->> 'segment' USING ERRCODE = 'P0002',
				DETAIL = 'At $.segment.', HINT = 'Use the id cdp.create_segment returned.';
		ELSIF seg_status = 'archived' THEN
			RAISE EXCEPTION 'segment "%" is archived', doc ->> 'segment' USING ERRCODE = '55000',
				DETAIL = 'At $.segment.', HINT = 'Restore the segment first, or choose another.';
		END IF;
		d := d || pg_catalog.jsonb_build_object('segment', (doc ->> 'segment')::bigint);
	ELSE
		trig := doc -> 'trigger';
		IF pg_catalog.jsonb_typeof(trig) IS DISTINCT FROM 'object' THEN
			RAISE EXCEPTION 'campaign "trigger" must be an object' USING ERRCODE = '22023', DETAIL = 'At $.trigger.',
				HINT = 'Use {"kind": "recommendation", "days_before": 7}, {"kind": "after_event", "event": "lab_test", "code": "MAMMO", "after": "11 months"} or {"kind": "birthday"}.';
		END IF;
		FOR k IN SELECT pg_catalog.jsonb_object_keys(trig) LOOP
			IF NOT k = ANY (ARRAY['kind', 'days_before', 'event', 'code', 'after']) THEN
				RAISE EXCEPTION 'unknown trigger key "%"', pg_catalog.left(k, 64) USING ERRCODE = '22023',
					DETAIL = pg_catalog.format('At $.trigger.%s.', pg_catalog.left(k, 64)),
					HINT = 'Use kind, days_before, event, code, after.';
			END IF;
		END LOOP;
		IF NOT coalesce(trig ->> 'kind', '') IN ('recommendation', 'after_event', 'birthday') THEN
			RAISE EXCEPTION 'unknown trigger kind "%"', pg_catalog.left(coalesce(trig ->> 'kind', 'null'), 64)
				USING ERRCODE = '22023', DETAIL = 'At $.trigger.kind.', HINT = 'Use recommendation, after_event or birthday.';
		END IF;
		IF trig ? 'days_before' AND (pg_catalog.jsonb_typeof(trig -> 'days_before') <> 'number'
		                             OR (trig ->> 'days_before') !~ '^[0-9]+$' OR (trig ->> 'days_before')::int > 366) THEN
			RAISE EXCEPTION 'trigger "days_before" must be a whole number of days from 0 to 366' USING ERRCODE = '22023',
				DETAIL = 'At $.trigger.days_before.', HINT = 'Use e.g. "days_before": 7.';
		END IF;
		IF trig ->> 'kind' = 'after_event' THEN
			IF NOT coalesce(trig ->> 'event', '') IN ('visit', 'lab_test', 'diagnosis') THEN
				RAISE EXCEPTION 'trigger "event" must be visit, lab_test or diagnosis' USING ERRCODE = '22023',
					DETAIL = 'At $.trigger.event.', HINT = 'Use e.g. {"kind": "after_event", "event": "lab_test", "code": "MAMMO", "after": "11 months"}.';
			END IF;
			PERFORM cdp_internal.campaign_interval(trig -> 'after', '$.trigger.after');
		ELSIF trig ? 'after' OR trig ? 'event' THEN
			RAISE EXCEPTION 'trigger keys "event" and "after" belong to kind after_event' USING ERRCODE = '22023',
				DETAIL = 'At $.trigger.', HINT = 'Remove them, or use "kind": "after_event".';
		END IF;
		IF trig ? 'code' AND pg_catalog.jsonb_typeof(trig -> 'code') <> 'string' THEN
			RAISE EXCEPTION 'trigger "code" must be text' USING ERRCODE = '22023', DETAIL = 'At $.trigger.code.',
				HINT = 'Use e.g. "code": "MAMMO".';
		END IF;
		reminder := trig ->> 'kind' = 'recommendation';
		d := d || pg_catalog.jsonb_build_object('trigger',
			pg_catalog.jsonb_build_object('kind', trig ->> 'kind', 'days_before', coalesce((trig ->> 'days_before')::int, 0))
			|| pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('event', trig ->> 'event', 'code', trig ->> 'code',
			                                                              'after', trig ->> 'after')));
	END IF;
	/* offer */
	has_offer := doc ? 'offer';
	IF has_offer THEN
		IF pg_catalog.jsonb_typeof(doc -> 'offer') IS DISTINCT FROM 'number' OR (doc ->> 'offer') !~ '^[0-9]+$' THEN
			RAISE EXCEPTION 'campaign "offer" must be an offer id' USING ERRCODE = '22023', DETAIL = 'At $.offer.',
				HINT = 'Use the id cdp.create_offer returned, e.g. "offer": 1.';
		END IF;
		PERFORM cdp_internal.offer_get((doc ->> 'offer')::bigint, false);
		d := d || pg_catalog.jsonb_build_object('offer', (doc ->> 'offer')::bigint);
	END IF;
	/* channels, in priority order */
	IF pg_catalog.jsonb_typeof(doc -> 'channels') IS DISTINCT FROM 'array' OR pg_catalog.jsonb_array_length(doc -> 'channels') = 0 THEN
		RAISE EXCEPTION 'a campaign needs "channels", a non-empty list in priority order' USING ERRCODE = '22023',
			DETAIL = 'At $.channels.', HINT = 'Use e.g. "channels": ["messenger", "sms", "email"].';
	END IF;
	SELECT pg_catalog.array_agg(x ORDER BY n) INTO chans FROM pg_catalog.jsonb_array_elements_text(doc -> 'channels') WITH ORDINALITY t(x, n);
	FOR ch IN SELECT pg_catalog.unnest(chans) LOOP
		IF NOT EXISTS (SELECT 1 FROM @extschema@.consent_channels() c WHERE c.channel = ch) THEN
			RAISE EXCEPTION 'unknown channel "%"', pg_catalog.left(ch, 64) USING ERRCODE = '22023',
				DETAIL = 'At $.channels.', HINT = 'Use email, sms, messenger, social, call or post.';
		END IF;
	END LOOP;
	IF pg_catalog.cardinality(chans) <> (SELECT pg_catalog.count(DISTINCT x) FROM pg_catalog.unnest(chans) x) THEN
		RAISE EXCEPTION 'a channel is listed twice' USING ERRCODE = '22023', DETAIL = 'At $.channels.',
			HINT = 'List each channel once, in priority order.';
	END IF;
	d := d || pg_catalog.jsonb_build_object('channels', pg_catalog.to_jsonb(chans));
	/* templates: one per channel */
	FOR k IN SELECT x FROM pg_catalog.unnest(ARRAY['templates', 'offer_templates']) x LOOP
		IF NOT doc ? k THEN
			CONTINUE;
		END IF;
		tpls := doc -> k;
		IF pg_catalog.jsonb_typeof(tpls) <> 'object' THEN
			RAISE EXCEPTION 'campaign "%" must be an object of channel: text', k USING ERRCODE = '22023',
				DETAIL = pg_catalog.format('At $.%s.', k), HINT = 'Use e.g. {"sms": "{given_name}, ..."}.';
		END IF;
		FOR ch IN SELECT pg_catalog.jsonb_object_keys(tpls) LOOP
			IF NOT ch = ANY (chans) THEN
				RAISE EXCEPTION 'template for channel "%" which the campaign does not use', pg_catalog.left(ch, 64)
					USING ERRCODE = '22023', DETAIL = pg_catalog.format('At $.%s.%s.', k, pg_catalog.left(ch, 64)),
					HINT = 'Give templates only for the channels listed in "channels".';
			END IF;
			IF pg_catalog.jsonb_typeof(tpls -> ch) <> 'string' THEN
				RAISE EXCEPTION 'a template must be text' USING ERRCODE = '22023',
					DETAIL = pg_catalog.format('At $.%s.%s.', k, ch), HINT = 'Use e.g. "{given_name}, ...".';
			END IF;
			PERFORM cdp_internal.campaign_template_check(tpls ->> ch, pg_catalog.format('$.%s.%s', k, ch),
				has_offer, purpose, reminder);
		END LOOP;
	END LOOP;
	FOR ch IN SELECT pg_catalog.unnest(chans) LOOP
		IF NOT coalesce(doc -> 'templates', '{}') ? ch THEN
			RAISE EXCEPTION 'no template for channel "%"', ch USING ERRCODE = '22023',
				DETAIL = pg_catalog.format('At $.templates.%s.', ch), HINT = 'Give one template per channel in "templates".';
		END IF;
	END LOOP;
	IF doc ? 'offer_templates' AND NOT (reminder AND has_offer) THEN
		RAISE EXCEPTION '"offer_templates" belong to a reminder with an offer' USING ERRCODE = '22023',
			DETAIL = 'At $.offer_templates.',
			HINT = 'A promotion carries its offer in "templates"; a reminder shows the benefit through "offer_templates".';
	END IF;
	d := d || pg_catalog.jsonb_build_object('templates', doc -> 'templates');
	IF doc ? 'offer_templates' THEN
		d := d || pg_catalog.jsonb_build_object('offer_templates', doc -> 'offer_templates');
	END IF;
	/* time zone, start, end */
	IF doc ? 'timezone' THEN
		IF pg_catalog.jsonb_typeof(doc -> 'timezone') <> 'string'
		   OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_timezone_names z WHERE z.name = doc ->> 'timezone') THEN
			RAISE EXCEPTION 'unknown time zone "%"', pg_catalog.left(doc ->> 'timezone', 64) USING ERRCODE = '22023',
				DETAIL = 'At $.timezone.', HINT = 'Use an IANA name such as "Europe/Moscow".';
		END IF;
	END IF;
	d := d || pg_catalog.jsonb_build_object('timezone', coalesce(doc ->> 'timezone', 'Europe/Moscow'));
	IF doc ? 'start' THEN
		st := cdp_internal.campaign_time(doc -> 'start', '$.start');
		d := d || pg_catalog.jsonb_build_object('start', st);
	END IF;
	IF doc ? 'end' THEN
		en := cdp_internal.campaign_time(doc -> 'end', '$.end');
		IF st IS NOT NULL AND en <= st THEN
			RAISE EXCEPTION 'campaign ends before it starts' USING ERRCODE = '22023', DETAIL = 'At $.end.',
				HINT = 'Make "end" later than "start".';
		END IF;
		d := d || pg_catalog.jsonb_build_object('end', en);
	END IF;
	/* window: local hours [from, to) and ISO days of week (1 = Monday) */
	w := coalesce(doc -> 'window', '{"hours": [9, 21], "days": [1, 2, 3, 4, 5, 6, 7]}');
	IF pg_catalog.jsonb_typeof(w) <> 'object' OR EXISTS (SELECT 1 FROM pg_catalog.jsonb_object_keys(w) x WHERE x NOT IN ('hours', 'days')) THEN
		RAISE EXCEPTION 'campaign "window" must be {"hours": [from, to], "days": [...]}' USING ERRCODE = '22023',
			DETAIL = 'At $.window.', HINT = 'Use e.g. {"hours": [9, 20], "days": [1, 2, 3, 4, 5]}.';
	END IF;
	hrs := coalesce(w -> 'hours', '[9, 21]');
	IF pg_catalog.jsonb_typeof(hrs) <> 'array' OR pg_catalog.jsonb_array_length(hrs) <> 2
	   OR (hrs ->> 0) !~ '^[0-9]+$' OR (hrs ->> 1) !~ '^[0-9]+$' OR (hrs ->> 1)::int > 24 THEN
		RAISE EXCEPTION 'window "hours" must be two whole hours [from, to] between 0 and 24' USING ERRCODE = '22023',
			DETAIL = 'At $.window.hours.', HINT = 'Use e.g. [9, 20]: from 09:00 to 20:00 local time.';
	END IF;
	IF (hrs ->> 1)::int <= (hrs ->> 0)::int THEN
		RAISE EXCEPTION 'window ends before it starts: hours [%, %]', hrs ->> 0, hrs ->> 1 USING ERRCODE = '22023',
			DETAIL = 'At $.window.hours.', HINT = 'Give the start hour first, e.g. [9, 20].';
	END IF;
	days := coalesce(w -> 'days', '[1, 2, 3, 4, 5, 6, 7]');
	IF pg_catalog.jsonb_typeof(days) <> 'array' OR pg_catalog.jsonb_array_length(days) = 0
	   OR EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements_text(days) x WHERE x !~ '^[1-7]$') THEN
		RAISE EXCEPTION 'window "days" must be ISO days of week 1 (Monday) to 7 (Sunday)' USING ERRCODE = '22023',
			DETAIL = 'At $.window.days.', HINT = 'Use e.g. [1, 2, 3, 4, 5] for weekdays.';
	END IF;
	d := d || pg_catalog.jsonb_build_object('window', pg_catalog.jsonb_build_object('hours', hrs,
		'days', (SELECT pg_catalog.jsonb_agg(DISTINCT x::int) FROM pg_catalog.jsonb_array_elements_text(days) x)));
	/* cap: at most max marketing messages per period across campaigns, and a quiet period */
	IF doc ? 'cap' THEN
		cap := doc -> 'cap';
		IF pg_catalog.jsonb_typeof(cap) <> 'object' OR EXISTS (SELECT 1 FROM pg_catalog.jsonb_object_keys(cap) x WHERE x NOT IN ('max', 'per', 'quiet')) THEN
			RAISE EXCEPTION 'campaign "cap" must be {"max": n, "per": "30 days", "quiet": "3 days"}' USING ERRCODE = '22023',
				DETAIL = 'At $.cap.', HINT = 'Use e.g. {"max": 2, "per": "30 days", "quiet": "3 days"}.';
		END IF;
		IF cap ? 'max' AND (pg_catalog.jsonb_typeof(cap -> 'max') <> 'number' OR (cap ->> 'max') !~ '^[0-9]+$' OR (cap ->> 'max')::int < 1) THEN
			RAISE EXCEPTION 'cap "max" must be a whole number of messages, at least 1' USING ERRCODE = '22023',
				DETAIL = pg_catalog.format('At $.cap.max: %s.', cap -> 'max'),
				HINT = 'A cap of zero would send nothing: pause the campaign instead, or use e.g. "max": 2.';
		END IF;
		IF (cap ? 'max') <> (cap ? 'per') THEN
			RAISE EXCEPTION 'cap "max" and "per" go together' USING ERRCODE = '22023', DETAIL = 'At $.cap.',
				HINT = 'Use e.g. {"max": 2, "per": "30 days"}.';
		END IF;
		IF cap ? 'per' THEN
			PERFORM cdp_internal.campaign_interval(cap -> 'per', '$.cap.per');
		END IF;
		IF cap ? 'quiet' THEN
			PERFORM cdp_internal.campaign_interval(cap -> 'quiet', '$.cap.quiet');
		END IF;
		d := d || pg_catalog.jsonb_build_object('cap', cap);
	END IF;
	/* holdout and arms */
	IF doc ? 'holdout' AND (pg_catalog.jsonb_typeof(doc -> 'holdout') <> 'number'
	                        OR (doc ->> 'holdout')::numeric < 0 OR (doc ->> 'holdout')::numeric > 0.9) THEN
		RAISE EXCEPTION 'campaign "holdout" must be a share from 0 to 0.9' USING ERRCODE = '22023',
			DETAIL = 'At $.holdout.', HINT = 'Use e.g. "holdout": 0.1 to keep 10% of the members as a control group.';
	END IF;
	d := d || pg_catalog.jsonb_build_object('holdout', coalesce((doc ->> 'holdout')::numeric, 0));
	arms := coalesce(doc -> 'arms', '{"A": 1}');
	IF pg_catalog.jsonb_typeof(arms) <> 'object' OR arms = '{}' THEN
		RAISE EXCEPTION 'campaign "arms" must be an object of arm: share' USING ERRCODE = '22023', DETAIL = 'At $.arms.',
			HINT = 'Use e.g. {"A": 0.5, "B": 0.5}.';
	END IF;
	FOR k IN SELECT pg_catalog.jsonb_object_keys(arms) LOOP
		IF k !~ '^[A-Za-z0-9_]{1,32}$' OR k = 'holdout' THEN
			RAISE EXCEPTION 'invalid arm name "%"', pg_catalog.left(k, 64) USING ERRCODE = '22023',
				DETAIL = 'At $.arms.', HINT = 'Use short names of letters and digits, such as "A" and "B".';
		END IF;
		IF pg_catalog.jsonb_typeof(arms -> k) <> 'number' OR (arms ->> k)::numeric <= 0 THEN
			RAISE EXCEPTION 'arm "%" needs a positive share', k USING ERRCODE = '22023',
				DETAIL = pg_catalog.format('At $.arms.%s.', k), HINT = 'Use e.g. {"A": 0.5, "B": 0.5}.';
		END IF;
		total := total + (arms ->> k)::numeric;
	END LOOP;
	IF pg_catalog.abs(total - 1) > 0.0001 THEN
		RAISE EXCEPTION 'arm shares add up to %, not 1', total USING ERRCODE = '22023', DETAIL = 'At $.arms.',
			HINT = 'Make the shares of the arms add up to 1 (the holdout is taken before the arms).';
	END IF;
	d := d || pg_catalog.jsonb_build_object('arms', arms);
	RETURN d;
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_check(jsonb) IS
	'validates a campaign document and returns it normalised; 22023 with the JSON path of the bad key (internal)';

/* ------------------------------------------------------------------ events and API */

/* Applies one campaign event to the projections (the live path and the replay). */
CREATE FUNCTION cdp_internal.campaign_apply(ev bigint, kind text, at timestamptz, id bigint, payload jsonb) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF kind IN ('campaign.created', 'campaign.edited') THEN
		INSERT INTO @extschema@.campaign_version (campaign_id, version, doc, at, event_id)
		VALUES (id, (payload ->> 'version')::int, payload -> 'doc', at, ev);
		INSERT INTO @extschema@.campaign AS c (campaign_id, version, name, status, doc, created_at, updated_at)
		VALUES (id, (payload ->> 'version')::int, payload -> 'doc' ->> 'name', 'draft', payload -> 'doc', at, at)
		ON CONFLICT (campaign_id) DO UPDATE SET version = excluded.version, name = excluded.name, doc = excluded.doc,
			updated_at = excluded.updated_at;
	ELSIF kind = 'campaign.status' THEN
		UPDATE @extschema@.campaign c SET status = payload ->> 'status', updated_at = at WHERE c.campaign_id = id;
	END IF;
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_apply(bigint, text, timestamptz, bigint, jsonb) IS
	'applies one campaign event to cdp.campaign and cdp.campaign_version (internal)';

/* Appends a campaign event and applies it. */
CREATE FUNCTION cdp_internal.campaign_event(kind text, id bigint, payload jsonb) RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	ev	bigint := cdp_internal.append_event(kind, id, NULL, payload);
BEGIN
	PERFORM cdp_internal.campaign_apply(ev, kind, (SELECT e.at FROM @extschema@.event e WHERE e.event_id = ev), id, payload);
	RETURN ev;
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_event(text, bigint, jsonb) IS
	'appends a campaign.* event to cdp.event and applies it to the projections (internal)';

/* The current row of a campaign, locked, or P0002. */
CREATE FUNCTION cdp_internal.campaign_get(id bigint, lock boolean) RETURNS @extschema@.campaign
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	c	@extschema@.campaign;
BEGIN
	IF lock THEN
		SELECT * INTO c FROM @extschema@.campaign x WHERE x.campaign_id = id FOR UPDATE;
	ELSE
		SELECT * INTO c FROM @extschema@.campaign x WHERE x.campaign_id = id;
	END IF;
	IF c.campaign_id IS NULL THEN
		RAISE EXCEPTION 'campaign "%" does not exist', id USING ERRCODE = 'P0002',
			HINT = 'Pass a campaign_id returned by cdp.create_campaign.';
	END IF;
	RETURN c;
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_get(bigint, boolean) IS
	'the current row of a campaign (optionally locked); P0002 when unknown (internal)';

/* Creates a campaign (status draft) from a validated document; returns its id. */
CREATE FUNCTION @extschema@.create_campaign(doc jsonb) RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	d	jsonb := cdp_internal.campaign_check(doc);
	id	bigint := pg_catalog.nextval('@extschema@.campaign_id_seq');
BEGIN
	PERFORM cdp_internal.campaign_event('campaign.created', id, pg_catalog.jsonb_build_object('version', 1, 'doc', d));
	RETURN id;
END
$$;
COMMENT ON FUNCTION @extschema@.create_campaign(jsonb) IS
	'creates a campaign (draft) from a document: name, segment or trigger, offer, purpose, channels in priority order, templates, window, cap, holdout, arms, start, end; returns its id';

/* Saves a new version of a campaign; rows already listed keep the version they were built from. */
CREATE FUNCTION @extschema@.edit_campaign(campaign_id bigint, doc jsonb) RETURNS int
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	c	@extschema@.campaign := cdp_internal.campaign_get(edit_campaign.campaign_id, true);
	d	jsonb := cdp_internal.campaign_check(doc);
BEGIN
	IF c.status IN ('done', 'archived') THEN
		RAISE EXCEPTION 'campaign "%" is %', c.campaign_id, c.status USING ERRCODE = '55000',
			HINT = 'Copy it with cdp.copy_campaign and edit the copy.';
	END IF;
	PERFORM cdp_internal.campaign_event('campaign.edited', c.campaign_id,
		pg_catalog.jsonb_build_object('version', c.version + 1, 'doc', d));
	RETURN c.version + 1;
END
$$;
COMMENT ON FUNCTION @extschema@.edit_campaign(bigint, jsonb) IS
	'saves a new version of a campaign document (the old versions stay in cdp.campaign_version); returns the version number';

/* Copies a campaign's current document into a new draft, optionally renamed. */
CREATE FUNCTION @extschema@.copy_campaign(campaign_id bigint, name text DEFAULT NULL) RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	c	@extschema@.campaign := cdp_internal.campaign_get(copy_campaign.campaign_id, false);
	d	jsonb := c.doc;
	id	bigint;
BEGIN
	d := cdp_internal.campaign_check(d || pg_catalog.jsonb_build_object('name', coalesce(copy_campaign.name, (d ->> 'name') || ' (копия)')));
	id := pg_catalog.nextval('@extschema@.campaign_id_seq');
	/* the created event of the copy names its original and the version copied */
	PERFORM cdp_internal.campaign_event('campaign.created', id,
		pg_catalog.jsonb_build_object('version', 1, 'doc', d, 'copied_from', c.campaign_id, 'copied_version', c.version));
	RETURN id;
END
$$;
COMMENT ON FUNCTION @extschema@.copy_campaign(bigint, text) IS
	'creates a new draft campaign from another''s current document (named "<name> (копия)" unless a name is given; its campaign.created event names the original); returns its id';

/*
 * Moves a campaign to a status: draft, scheduled, running, paused, done, archived.  Archived
 * campaigns are restored to paused (archived => 'paused').  Pausing, finishing or archiving
 * cancels the campaign's unsent rows (reason campaign_paused, campaign_done, campaign_archived);
 * setting it running again (resuming) brings its rows cancelled as campaign_paused back to due,
 * as they were (cdp.mark_sent asks everything again before sending,
 * and a row is never sent twice); an archived or finished campaign cannot be run again.  A
 * scheduled campaign starts running at its start (cdp.run_campaigns).
 */
CREATE FUNCTION @extschema@.set_campaign_status(campaign_id bigint, status text) RETURNS text
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	c	@extschema@.campaign := cdp_internal.campaign_get(set_campaign_status.campaign_id, true);
BEGIN
	IF status IS NULL OR NOT status IN ('draft', 'scheduled', 'running', 'paused', 'done', 'archived') THEN
		RAISE EXCEPTION 'unknown campaign status "%"', pg_catalog.left(coalesce(status, 'null'), 64) USING ERRCODE = '22023',
			HINT = 'Use draft, scheduled, running, paused, done or archived.';
	END IF;
	IF c.status = status THEN
		RETURN status;
	END IF;
	IF c.status = 'done' AND status <> 'archived' OR c.status = 'archived' AND status NOT IN ('paused', 'draft') THEN
		RAISE EXCEPTION 'campaign "%" is % and cannot become %', c.campaign_id, c.status, status USING ERRCODE = '55000',
			HINT = 'Restore an archived campaign to paused; copy a finished one with cdp.copy_campaign.';
	END IF;
	PERFORM cdp_internal.campaign_event('campaign.status', c.campaign_id,
		pg_catalog.jsonb_build_object('status', status, 'from', c.status));
	IF status IN ('paused', 'done', 'archived') THEN
		UPDATE @extschema@.campaign_send s SET status = 'cancelled', reason = 'campaign_' || set_campaign_status.status, refused_at = pg_catalog.now()
		 WHERE s.campaign_id = c.campaign_id AND s.status = 'due';
	ELSIF status = 'running' THEN
		/* resumed (from paused, or from scheduled after a pause): the rows the pause held back are
		   due again (never a second row) */
		UPDATE @extschema@.campaign_send s SET status = 'due', reason = NULL, refused_at = NULL
		 WHERE s.campaign_id = c.campaign_id AND s.status = 'cancelled' AND s.reason = 'campaign_paused';
	END IF;
	RETURN status;
END
$$;
COMMENT ON FUNCTION @extschema@.set_campaign_status(bigint, text) IS
	'moves a campaign to draft, scheduled, running, paused, done or archived (restore: archived -> paused); pausing, finishing or archiving cancels its unsent rows, resuming a paused one makes the rows it held back due again';

/* Archives (true) or restores (false, to paused) a campaign. */
CREATE FUNCTION @extschema@.archive_campaign(campaign_id bigint, archived boolean DEFAULT true) RETURNS text
	LANGUAGE sql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT @extschema@.set_campaign_status($1, CASE WHEN $2 THEN 'archived' ELSE 'paused' END)
$$;
COMMENT ON FUNCTION @extschema@.archive_campaign(bigint, boolean) IS
	'archives a campaign (archived => false restores it, paused); returns the new status';

/* Replays the campaign events into the projections; returns how many. */
CREATE FUNCTION @extschema@.rebuild_campaigns() RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	e	record;
	n	bigint := 0;
BEGIN
	LOCK TABLE @extschema@.campaign IN EXCLUSIVE MODE;
	DELETE FROM @extschema@.campaign_version;
	DELETE FROM @extschema@.campaign;
	FOR e IN SELECT x.event_id, x.kind, x.at, x.subject, x.payload FROM @extschema@.event x
	          WHERE x.kind LIKE 'campaign.%' ORDER BY x.event_id LOOP
		PERFORM cdp_internal.campaign_apply(e.event_id, e.kind, e.at, e.subject, e.payload);
		n := n + 1;
	END LOOP;
	/* the rebuild itself is a change of the projections: an event (no subject; replays ignore it) */
	PERFORM cdp_internal.append_event('campaign.rebuilt', NULL, NULL,
		pg_catalog.jsonb_build_object('events', n, 'campaigns', (SELECT pg_catalog.count(*) FROM @extschema@.campaign)));
	RETURN n;
END
$$;
COMMENT ON FUNCTION @extschema@.rebuild_campaigns() IS
	'replays the campaign.* events of cdp.event into cdp.campaign and cdp.campaign_version and records a campaign.rebuilt event; returns the number of events replayed';
