-- test/pgtap/87_campaign_rollup.sql: the metrics roll-up (cdp.campaign_rollup, sql/parts/87_campaign_delivery.sql,
-- doc/campaigns.md).  cdp.campaign_metrics reads the roll-up; here it must equal, row for row, the
-- metrics recomputed from the send rows (the view's former definition, pg_temp.recomputed) after
-- every kind of write: sends on several days, channels and A/B arms with a holdout, delivery
-- events one by one with webhook retries, soft then hard bounces, unsubscribes, complaints and
-- conversions, a bulk batch with duplicates inside it and of events already recorded, the
-- returning patients of cdp.refresh_campaign_metrics, an erasure, a row changed and one deleted
-- by hand, a TRUNCATE.
BEGIN;
SELECT plan(26);

-- the metrics as the view computed them before the roll-up: from the send rows
CREATE VIEW pg_temp.recomputed AS
	SELECT s.campaign_id, s.sent_day AS day, s.channel, s.arm,
	       count(*) AS sent, count(s.delivered_at) AS delivered,
	       round(count(s.delivered_at)::numeric / count(*), 4) AS deliverability,
	       count(s.opened_at) AS opened, count(s.clicked_at) AS clicked,
	       round(count(s.clicked_at)::numeric / NULLIF(count(s.delivered_at), 0), 4) AS ctr,
	       round(count(s.clicked_at)::numeric / NULLIF(count(s.opened_at), 0), 4) AS click_to_open,
	       count(s.converted_at) AS converted,
	       round(count(s.converted_at)::numeric / NULLIF(count(s.delivered_at), 0), 4) AS conversion_rate,
	       sum(s.revenue) AS revenue, count(s.bounced) AS bounced, count(*) FILTER (WHERE s.bounced = 'hard') AS hard_bounced,
	       count(s.unsubscribed_at) AS unsubscribed, count(s.complained_at) AS complained, count(s.returned_at) AS returned
	  FROM cdp.campaign_send s
	 WHERE s.status = 'sent'
	 GROUP BY s.campaign_id, s.sent_day, s.channel, s.arm;
CREATE FUNCTION pg_temp.same(what text) RETURNS text LANGUAGE sql AS $$
	SELECT set_eq('SELECT * FROM cdp.campaign_metrics', 'SELECT * FROM pg_temp.recomputed',
	              'campaign_metrics (the roll-up) equals the metrics recomputed from the send rows: ' || what)
$$;

-- 48 women: consents rotate over messenger, sms and email (some have two), so the campaign uses every channel
SELECT cdp.register_source('his', 'internal', 80) IS NOT NULL AS src \gset
SELECT count(cdp.upsert_record('his', 'r' || i, jsonb_build_object('family_name', 'Свёрткина' || i, 'given_name', 'Анна',
         'sex', 'F', 'birth_date', (date '1970-01-01' + i)::text, 'city', 'Москва',
         'phones', jsonb_build_array('+7916444' || lpad(i::text, 4, '0')), 'emails', jsonb_build_array('r' || i || '@mail.ru'))))
  FROM generate_series(1, 48) i;
SELECT count(cdp.set_consent(cdp.golden_id('his', 'r' || i), 'marketing', (ARRAY['messenger', 'sms', 'email'])[1 + i % 3], true, '2026-01-01'))
     + count(cdp.set_consent(cdp.golden_id('his', 'r' || i), 'marketing', 'email', true, '2026-01-01')) FILTER (WHERE i % 5 = 0)
  FROM generate_series(1, 48) i;
SELECT cdp.create_segment('свёртка', '{"attr": "sex", "op": "=", "value": "F"}') AS seg \gset
SELECT cdp.refresh_segment(:seg, 'full') IS NOT NULL AS refreshed \gset
CREATE TEMP TABLE doc AS SELECT jsonb_build_object('name', 'свёртка', 'segment', :seg, 'purpose', 'marketing',
	'channels', '["messenger", "sms", "email"]'::jsonb,
	'templates', '{"messenger": "{given_name}, м", "sms": "{given_name}, с", "email": "{given_name}, п"}'::jsonb,
	'window', '{"hours": [0, 24]}'::jsonb, 'holdout', 0.2, 'arms', '{"A": 0.5, "B": 0.5}'::jsonb,
	'start', '2026-03-01T00:00:00+03', 'end', '2026-06-30T23:59:59+03') AS d;
SELECT cdp.create_campaign((SELECT d FROM doc)) AS c1 \gset
SELECT cdp.create_campaign(((SELECT d FROM doc) - 'arms') || '{"name": "свёртка 2"}') AS c2 \gset
SELECT cdp.build_send_list(:c1, '2026-03-02 08:00+03') IS NOT NULL AS b1 \gset
SELECT cdp.build_send_list(:c2, '2026-03-02 08:00+03') IS NOT NULL AS b2 \gset
SELECT is((SELECT count(*) FROM cdp.campaign_rollup), 0::bigint, 'a list build sends nothing: the roll-up stays empty');

-- ---------------------------------------------------------------- sends on three days
SELECT count(cdp_internal.campaign_mark(s.send_id, timestamptz '2026-03-02 09:00+03' + (s.send_id % 3) * interval '1 day'))
  FROM cdp.campaign_send s WHERE s.status = 'due' AND s.send_id % 7 <> 0;
SELECT ok((SELECT count(DISTINCT day) = 3 AND count(DISTINCT channel) = 3 AND count(DISTINCT arm) = 2
             FROM cdp.campaign_metrics WHERE campaign_id = :c1), 'campaign 1 was sent on three days, on three channels, in two arms');
SELECT ok((SELECT count(*) > 0 FROM cdp.campaign_send WHERE campaign_id = :c1 AND status = 'holdout')
          AND (SELECT count(*) > 0 FROM cdp.campaign_send WHERE status = 'due'), 'there are holdout rows, and due rows left unsent');
SELECT pg_temp.same('after the sends');
SELECT is((SELECT count(*) FROM cdp.campaign_rollup), (SELECT count(*) FROM pg_temp.recomputed),
          'one roll-up row per campaign, day, channel and arm');

-- ---------------------------------------------------------------- one event at a time, with webhook retries
CREATE TEMP TABLE sent AS SELECT row_number() OVER (ORDER BY send_id) AS i, send_id, sent_at FROM cdp.campaign_send WHERE status = 'sent';
SELECT count(cdp.record_delivery_event(send_id, 'delivered', sent_at + interval '1 minute', jsonb_build_object('event_id', 'd-' || send_id)))
  FROM sent, generate_series(1, 3) retry WHERE i % 4 <> 0;
SELECT count(cdp.record_delivery_event(send_id, 'opened', sent_at + interval '1 hour')) FROM sent WHERE i % 4 IN (1, 2);
SELECT count(cdp.record_delivery_event(send_id, 'opened', sent_at + interval '2 hours')) FROM sent WHERE i % 4 = 1;
SELECT count(cdp.record_delivery_event(send_id, 'clicked', sent_at + interval '61 minutes')) FROM sent WHERE i % 4 = 1;
SELECT count(cdp.record_delivery_event(send_id, 'converted', sent_at + interval '1 day', jsonb_build_object('kind', 'paid', 'amount', 1000 + i)))
  FROM sent WHERE i % 8 = 1;
SELECT count(cdp.record_delivery_event(send_id, 'bounced', sent_at + interval '2 minutes', '{"type": "soft"}')) FROM sent WHERE i % 4 = 0;
SELECT count(cdp.record_delivery_event(send_id, 'bounced', sent_at + interval '3 minutes', '{"type": "hard"}')) FROM sent WHERE i % 8 = 0;
SELECT count(cdp.record_delivery_event(send_id, 'unsubscribed', sent_at + interval '1 day')) FROM sent WHERE i % 6 = 2;
SELECT count(cdp.record_delivery_event(send_id, 'complained', sent_at + interval '1 day')) FROM sent WHERE i % 10 = 3;
SELECT is((SELECT count(*) FROM cdp.campaign_delivery WHERE kind = 'delivered'), (SELECT count(*) FROM sent WHERE i % 4 <> 0),
          'a delivery retried three times is recorded once');
SELECT ok((SELECT sum(delivered) > 0 AND sum(opened) > 0 AND sum(clicked) > 0 AND sum(converted) > 0 AND sum(revenue) > 0
                  AND sum(bounced) > sum(hard_bounced) AND sum(hard_bounced) > 0 AND sum(unsubscribed) > 0 AND sum(complained) > 0
             FROM cdp.campaign_metrics), 'the fixture has deliveries, opens, clicks, revenue, soft and hard bounces, unsubscribes, complaints');
SELECT pg_temp.same('after events one by one');

-- ---------------------------------------------------------------- the bulk path: duplicates inside the batch and of recorded events
INSERT INTO cdp.delivery_event_staging (send_id, kind, at, provider_event_id, detail)
SELECT send_id, k.kind, sent_at + k.after, CASE WHEN k.kind = 'delivered' THEN 'd-' || send_id END, k.detail
  FROM sent, generate_series(1, 2) copy,
       (VALUES ('delivered', interval '1 minute', '{}'::jsonb), ('opened', interval '5 hours', '{}'), ('clicked', interval '6 hours', '{}'),
               ('converted', interval '2 days', '{"kind": "booked", "amount": 250.5}')) k(kind, after, detail)
 WHERE i % 3 <> 0;
SELECT is(cdp.ingest_delivery_events() ->> 'duplicates', ((SELECT count(*) FROM sent WHERE i % 3 <> 0) * 4 + (SELECT count(*) FROM sent WHERE i % 3 <> 0 AND i % 4 <> 0))::text,
          'the batch records each event once: its own copies and the deliveries recorded before are duplicates');
SELECT pg_temp.same('after a bulk batch');
INSERT INTO cdp.delivery_event_staging (send_id, kind, at, detail)
SELECT send_id, 'bounced', sent_at + interval '4 minutes', '{"type": "hard"}'::jsonb FROM sent WHERE i % 8 = 4
UNION ALL SELECT send_id, 'unsubscribed', sent_at + interval '3 days', '{}' FROM sent WHERE i % 6 = 5
UNION ALL SELECT send_id, 'complained', sent_at + interval '3 days', '{}' FROM sent WHERE i % 10 = 7;
SELECT ok((cdp.ingest_delivery_events() ->> 'recorded')::int > 0, 'a batch of hard bounces, unsubscribes and complaints is recorded');
SELECT pg_temp.same('after a bulk batch of bounces, unsubscribes and complaints');

-- ---------------------------------------------------------------- returning patients
SELECT count(cdp.upsert_clinical_event('his', 'visit-' || r.source_key, 'visit', jsonb_build_object('record_source_id', r.source_key,
	'at', '2026-03-09T10:00:00+03', 'status', 'done', 'specialty', 'therapy')))
  FROM cdp.campaign_send s JOIN cdp.record r ON r.golden_id = s.golden_id WHERE s.campaign_id = :c1 AND s.send_id % 2 = 0;
SELECT ok(cdp.refresh_campaign_metrics(NULL, 30) > 0, 'refresh_campaign_metrics marks returning patients');
SELECT ok((SELECT sum(returned) > 0 FROM cdp.campaign_metrics), 'the metrics count them');
SELECT pg_temp.same('after refresh_campaign_metrics');

-- ---------------------------------------------------------------- the remaining due rows sent later; an erasure; hand edits
SELECT count(cdp_internal.campaign_mark(s.send_id, '2026-03-20 09:00+03')) FROM cdp.campaign_send s WHERE s.status = 'due';
SELECT pg_temp.same('after more sends on a later day');
SELECT cdp.erase_patient((SELECT golden_id FROM cdp.campaign_send WHERE status = 'sent' AND delivered_at IS NOT NULL ORDER BY send_id LIMIT 1),
                         'pgTAP: roll-up after an erasure') IS NOT NULL AS erased \gset
SELECT pg_temp.same('after an erasure deleted a patient''s send rows');
UPDATE cdp.campaign_send SET arm = 'B', sent_day = sent_day + 1 WHERE send_id = (SELECT min(send_id) FROM cdp.campaign_send WHERE status = 'sent' AND arm = 'A');
UPDATE cdp.campaign_send SET status = 'refused', reason = 'test' WHERE send_id = (SELECT max(send_id) FROM cdp.campaign_send WHERE status = 'sent' AND opened_at IS NOT NULL);
DELETE FROM cdp.campaign_send WHERE send_id = (SELECT max(send_id) FROM cdp.campaign_send WHERE status = 'sent' AND revenue > 0);
SELECT pg_temp.same('after rows changed and deleted by hand');
SELECT is((SELECT count(*) FROM cdp.campaign_rollup r WHERE NOT EXISTS (SELECT 1 FROM pg_temp.recomputed m
            WHERE m.campaign_id = r.campaign_id AND m.day IS NOT DISTINCT FROM r.day AND m.channel IS NOT DISTINCT FROM r.channel
              AND m.arm IS NOT DISTINCT FROM r.arm) AND r.sent <> 0), 0::bigint, 'no roll-up row counts a sent row that is not there');
-- a sent row without an arm or a day (NULL, written by hand): NULL is a group of its own, as in GROUP BY
UPDATE cdp.campaign_send SET arm = NULL WHERE send_id IN (SELECT send_id FROM cdp.campaign_send WHERE campaign_id = :c2 AND status = 'sent' ORDER BY send_id LIMIT 3);
UPDATE cdp.campaign_send SET sent_day = NULL WHERE send_id = (SELECT max(send_id) FROM cdp.campaign_send WHERE campaign_id = :c2 AND status = 'sent');
SELECT ok((SELECT count(*) FILTER (WHERE arm IS NULL) > 0 AND count(*) FILTER (WHERE day IS NULL) > 0 FROM cdp.campaign_metrics WHERE campaign_id = :c2),
          'sent rows without an arm, or a day, have metrics rows of their own');
SELECT pg_temp.same('with NULL arms and days');

-- ---------------------------------------------------------------- the funnel and the uplift read the same counts
SELECT set_eq('SELECT campaign_id, channel, day, step, n FROM cdp.campaign_funnel',
              $$SELECT campaign_id, channel, day, f.step, f.n FROM (SELECT campaign_id, channel, day, sum(sent) s, sum(delivered) d, sum(opened) o, sum(clicked) c, sum(converted) v
                  FROM pg_temp.recomputed GROUP BY 1, 2, 3) m CROSS JOIN LATERAL (VALUES (1, m.s), (2, m.d), (3, m.o), (4, m.c), (5, m.v)) f(step, n)$$,
              'campaign_funnel equals the funnel of the recomputed metrics');

-- ---------------------------------------------------------------- TRUNCATE empties it; the view shows no group without a sent row
UPDATE cdp.campaign_send SET status = 'refused', reason = 'test' WHERE campaign_id = :c2 AND status = 'sent';
SELECT is((SELECT count(*) FROM cdp.campaign_metrics WHERE campaign_id = :c2), 0::bigint, 'a campaign with no sent row left has no metrics row');
SELECT pg_temp.same('after every sent row of campaign 2 was withdrawn');
SELECT ok(NOT EXISTS (SELECT 1 FROM pg_extension e CROSS JOIN unnest(e.extconfig) c(oid)
                       WHERE e.extname = 'cdp' AND c.oid = 'cdp.campaign_rollup'::regclass)
          AND EXISTS (SELECT 1 FROM pg_extension e CROSS JOIN unnest(e.extconfig) c(oid)
                       WHERE e.extname = 'cdp' AND c.oid = 'cdp.campaign_send'::regclass),
          'pg_dump keeps the send rows and leaves out the roll-up, which a restore rebuilds through the triggers');
TRUNCATE cdp.campaign_send CASCADE;
SELECT is((SELECT count(*) FROM cdp.campaign_rollup), 0::bigint, 'TRUNCATE of the send rows empties the roll-up');

SELECT * FROM finish();
ROLLBACK;
