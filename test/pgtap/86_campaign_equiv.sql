-- test/pgtap/86_campaign_equiv.sql: the set-based listing of build_send_list
-- (cdp_internal.campaign_list_set) decides exactly as the per-member path
-- (cdp_internal.campaign_list over cdp_internal.campaign_decide, which asks cdp.may_contact and
-- cdp_internal.offer_reason for each member), on random clinics: channels in random order,
-- consents, mobile and landline numbers, e-mails, cities in four time zones, preferences,
-- suppressed and blocked addresses, archived patients, other campaigns' messages (caps and
-- quiet periods), holdout and arms, offers; each message's consent statement (two statements of
-- a channel, dated in either order).  Fixed seed, 10 rounds of 30 persons.
BEGIN;
SELECT plan(6);

SELECT cdp.register_source('his', 'internal', 80) IS NOT NULL AS src \gset
SELECT cdp.create_offer('{"name": "Для женщин 30-60", "service": "gyn", "sex": "F", "age": [30, 60], "valid_from": "2026-01-01", "valid_to": "2026-12-31"}') AS offer \gset
CREATE TEMP TABLE diffs (round int, golden_id bigint, set_path text, per_member text);
CREATE TEMP TABLE listed (round int, n bigint, due bigint, reasons bigint);
/* a first listing's counts and audited ids, returned from the rows as written (session 30, send32),
   against what campaign_after_list and the audit's query read back from the table */
CREATE TEMP TABLE counted (round int, built jsonb, want jsonb, audited bigint[], due_rows bigint[],
                           direct jsonb, direct_ids bigint[]);

DO $$
DECLARE
	chans_all	text[] := ARRAY['messenger', 'sms', 'email', 'social', 'call', 'post'];
	chans		text[];
	seg			bigint;
	camp		bigint;
	other		bigint;
	c			cdp.campaign;
	cand		jsonb;
	t			timestamptz;
	g			bigint;
	doc			jsonb;
	res			jsonb;
	sgr			cdp.segment;
	cnt			jsonb;
	ids			bigint[];
BEGIN
	PERFORM setseed(0.4242);
	FOR r IN 1..10 LOOP
		/* a fresh clinic of 40 persons for the round */
		FOR i IN 1..30 LOOP
			PERFORM cdp.upsert_record('his', r || '-' || i, jsonb_strip_nulls(jsonb_build_object(
				'family_name', 'Раунд' || r || 'п' || i, 'given_name', (ARRAY['Анна', 'Олег', 'Вера', '{x}'])[1 + floor(random() * 4)::int],
				'sex', CASE WHEN random() < 0.5 THEN 'F' ELSE 'M' END,
				'birth_date', (date '1950-01-01' + floor(random() * 20000)::int)::text,
				'city', (ARRAY['Москва', 'Новосибирск', 'Владивосток', 'Урюпинск', NULL])[1 + floor(random() * 5)::int],
				'phones', CASE WHEN random() < 0.8 THEN jsonb_build_array(
					CASE WHEN random() < 0.7 THEN '+7916' ELSE '+7495' END || lpad((r * 100 + i)::text, 7, '0')) END,
				'emails', CASE WHEN random() < 0.6 THEN jsonb_build_array('r' || r || 'p' || i || '@mail.ru') END,
				'handles', CASE WHEN random() < 0.3 THEN jsonb_build_array(jsonb_build_object('network', 'vk', 'value', 'id' || r || i)) END,
				'address', CASE WHEN random() < 0.5 THEN 'ул. Ленина, ' || i END)));
			g := cdp.golden_id('his', r || '-' || i);
			FOR k IN 1..6 LOOP
				IF random() < 0.45 THEN
					PERFORM cdp.set_consent(g, 'marketing', chans_all[k], random() < 0.8, '2026-01-01'::timestamptz + (random() * 30) * interval '1 day');
					/* a second statement, dated before or after the first: the message's statement is the latest by date */
					IF random() < 0.3 THEN
						PERFORM cdp.set_consent(g, 'marketing', chans_all[k], random() < 0.9, '2026-01-01'::timestamptz + (random() * 30) * interval '1 day');
					END IF;
				END IF;
			END LOOP;
			IF random() < 0.1 THEN
				PERFORM cdp.set_contact_preference(g, chans_all[1 + floor(random() * 6)::int]);
			END IF;
			IF random() < 0.05 THEN
				PERFORM cdp.archive_patients(ARRAY[g], 'test', false);
			END IF;
			IF random() < 0.05 THEN
				INSERT INTO cdp_internal.campaign_address_block (address_key, reason, at)
				VALUES ('r' || r || 'p' || i || '@mail.ru', 'hard_bounce', now()) ON CONFLICT DO NOTHING;
			END IF;
		END LOOP;
		/* one number suppressed for marketing by another person's withdrawal */
		PERFORM cdp.set_consent(cdp.golden_id('his', r || '-1'), 'marketing', 'sms', false, '2026-02-01', 'stop',
		                        '+7916' || lpad((r * 100 + 2)::text, 7, '0'));
		/* the round's persons: a rule that matches nobody, and the round's include list */
		seg := cdp.create_segment('round ' || r, '{"attr": "city", "op": "=", "value": "Нигдеград"}');
		PERFORM cdp.segment_list_set(seg, 'include', ARRAY(SELECT cdp.golden_id('his', r || '-' || i) FROM generate_series(1, 30) i));
		PERFORM cdp.refresh_segment(seg, 'full');
		/* another campaign's messages: caps and quiet periods */
		chans := ARRAY(SELECT x FROM unnest(chans_all) x ORDER BY random() LIMIT 1 + floor(random() * 4)::int);
		other := cdp.create_campaign(jsonb_build_object('name', 'other ' || r, 'segment', seg, 'channels', to_jsonb(chans),
			'templates', (SELECT jsonb_object_agg(x, 'x') FROM unnest(chans) x), 'window', '{"hours": [0, 24]}'::jsonb));
		PERFORM cdp.build_send_list(other, '2026-03-01 10:00+03');
		PERFORM cdp_internal.campaign_mark(s.send_id, '2026-03-01 10:00+03')
		   FROM cdp.campaign_send s WHERE s.campaign_id = other AND s.status = 'due' AND random() < 0.6;
		/* the campaign compared */
		chans := ARRAY(SELECT x FROM unnest(chans_all) x ORDER BY random() LIMIT 1 + floor(random() * 5)::int);
		doc := jsonb_build_object('name', 'compared ' || r, 'segment', seg, 'channels', to_jsonb(chans),
			'templates', (SELECT jsonb_object_agg(x, '{given_name} {patronymic}: ' || x) FROM unnest(chans) x),
			'window', jsonb_build_object('hours', jsonb_build_array(8 + floor(random() * 4)::int, 18 + floor(random() * 4)::int),
			                             'days', (SELECT jsonb_agg(d) FROM generate_series(1, 7) d WHERE random() < 0.7 OR d = 3)),
			'cap', jsonb_build_object('max', 1 + floor(random() * 2)::int, 'per', '30 days', 'quiet', (1 + floor(random() * 3)::int) || ' days'),
			'holdout', round((random() * 0.3)::numeric, 2), 'arms', '{"A": 0.3, "B": 0.7}'::jsonb,
			'start', '2026-03-01T00:00:00+03', 'end', '2026-03-31T00:00:00+03');
		IF random() < 0.5 THEN
			doc := doc || jsonb_build_object('offer', (SELECT offer_id FROM cdp.offer ORDER BY offer_id LIMIT 1),
				'templates', (SELECT jsonb_object_agg(x, '{given_name}, до {offer_until}: ' || x) FROM unnest(chans) x));
		END IF;
		camp := cdp.create_campaign(doc);
		t := '2026-03-02 07:00+03'::timestamptz + (random() * 72) * interval '1 hour';
		res := cdp.build_send_list(camp, t);
		INSERT INTO counted (round, built, want, audited, due_rows)
		SELECT r, res, cdp_internal.campaign_counts(camp, now()),
		       (SELECT a.golden_ids FROM cdp.audit_log a WHERE a.action = 'campaign.send_list_built' ORDER BY a.audit_id DESC LIMIT 1),
		       ARRAY(SELECT s.golden_id FROM cdp.campaign_send s WHERE s.campaign_id = camp AND s.status = 'due' ORDER BY s.golden_id);
		CREATE TEMP TABLE set_rows ON COMMIT DROP AS
			SELECT golden_id, row(status, reason, channel, address, arm, due_at, message, provenance -> 'consent' ->> 'event_id')::text AS v
			  FROM cdp.campaign_send WHERE campaign_id = camp;
		INSERT INTO listed SELECT r, count(*), count(*) FILTER (WHERE status = 'due'), count(DISTINCT reason) FROM cdp.campaign_send WHERE campaign_id = camp;
		DELETE FROM cdp.campaign_send WHERE campaign_id = camp;
		SELECT * INTO c FROM cdp.campaign WHERE campaign_id = camp;
		/* the listing called directly on the campaign with no row again: its own counts and ids */
		SELECT * INTO sgr FROM cdp.segment WHERE segment_id = seg;
		SELECT l.counts, l.due_ids INTO cnt, ids FROM cdp_internal.campaign_list_set(c, sgr, t) l;
		UPDATE counted SET direct = cnt, direct_ids = ids WHERE round = r;
		DELETE FROM cdp.campaign_send WHERE campaign_id = camp;
		SELECT jsonb_agg(jsonb_build_object('g', m.golden_id, 'ctx', jsonb_build_object('segment', seg, 'segment_version', m.version)))
		  INTO cand FROM cdp.segment_member m WHERE m.segment_id = seg;
		PERFORM cdp_internal.campaign_list(c, coalesce(cand, '[]'), t);
		INSERT INTO diffs
		SELECT r, coalesce(a.golden_id, b.golden_id), a.v, b.v
		  FROM set_rows a
		  FULL JOIN (SELECT golden_id, row(status, reason, channel, address, arm, due_at, message, provenance -> 'consent' ->> 'event_id')::text AS v
		               FROM cdp.campaign_send WHERE campaign_id = camp) b USING (golden_id)
		 WHERE a.v IS DISTINCT FROM b.v;
		DROP TABLE set_rows;
	END LOOP;
END $$;

SELECT is((SELECT count(*) FROM diffs), 0::bigint, 'the set-based listing equals the per-member decisions in every round');
SELECT ok((SELECT sum(due) FROM listed) > 20 AND (SELECT min(n) FROM listed) > 0, 'the rounds listed messages (the comparison is not empty)');
SELECT ok((SELECT count(DISTINCT r.reason) FROM cdp.campaign_send r WHERE r.status = 'skipped') >= 4,
          'the rounds met several reasons for no message (no_consent, no_address, suppressed, capped, ...)');
SELECT is((SELECT count(*) FROM counted WHERE built IS DISTINCT FROM want OR audited IS DISTINCT FROM due_rows), 0::bigint,
          'a first listing returns the counts campaign_counts reads and audits the due rows'' ids');
SELECT is((SELECT count(*) FROM counted WHERE direct IS NULL OR direct - 'at' IS DISTINCT FROM want - 'at' OR direct_ids IS DISTINCT FROM due_rows), 0::bigint,
          'campaign_list_set returns them itself on a first listing without duplicate addresses');
SELECT ok((SELECT count(*) FROM counted) = 10 AND (SELECT count(*) FROM counted WHERE want -> 'not_sent' <> '{}' AND (want ->> 'holdout')::int > 0) > 0,
          'the counts compared hold skipped and holdout rows');
SELECT * FROM diffs ORDER BY round, golden_id LIMIT 10;

SELECT * FROM finish();
ROLLBACK;
