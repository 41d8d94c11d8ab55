-- test/demo/85_campaigns.sql: campaigns (issue 14), after test/demo/80_segments.sql over the same
-- generated clinic.  A promotion to the urology segment ran over the last four weeks through a
-- simulated gateway that sends each message at its moment and reports back deliveries, opens,
-- clicks, bookings, bounces and unsubscribes; doctors' re-test recommendations become reminders.
-- The summary counts, in words, who got what and why the others did not; the data for the two
-- charts (the funnel, and the promotion by day) goes to :outdir, drawn by 85_campaigns.sh.
\pset footer off
\pset null '·'
SET client_min_messages = warning;
SELECT setseed(0.14);

\echo
\echo '--- 13. a promotion: one message per patient, on the one channel that suits them'
SELECT segment_id AS seg, offer_id AS offer FROM cdp.segment WHERE name = 'Урология: мужчины 40-75' \gset
SELECT cdp.create_campaign(jsonb_build_object('name', 'Урология: весенний чек-ап', 'segment', :seg, 'offer', :offer,
	'purpose', 'marketing', 'channels', '["messenger", "sms", "email"]'::jsonb,
	'templates', jsonb_build_object(
		'messenger', '{given_name}, приглашаем на чек-ап у уролога со скидкой 20% до {offer_until}',
		'sms', '{given_name}, чек-ап у уролога -20% до {offer_until}. Запись: +7 495 000-00-00',
		'email', '{given_name} {patronymic}, приглашаем на чек-ап у уролога со скидкой 20% до {offer_until}.'),
	'window', '{"hours": [9, 21], "days": [1, 2, 3, 4, 5, 6]}'::jsonb,
	'cap', '{"max": 2, "per": "30 days", "quiet": "3 days"}'::jsonb,
	'holdout', 0.1, 'arms', '{"A": 0.5, "B": 0.5}'::jsonb,
	'start', (date_trunc('day', now()) - interval '28 days')::text,
	'end', (date_trunc('day', now()) + interval '30 days')::text)) AS promo \gset
SELECT cdp.build_send_list(:promo, date_trunc('day', now()) - interval '28 days' + interval '10 hours') AS built \gset
SELECT (SELECT count(*) FROM cdp.segment_member WHERE segment_id = :seg) AS "patients in the segment",
	(:'built'::jsonb ->> 'due')::int AS "messages to send",
	(:'built'::jsonb ->> 'holdout')::int AS "kept back to measure the effect (holdout, 10%)";
SELECT CASE reason WHEN 'no_consent' THEN 'no consent for these channels'
                   WHEN 'no_address' THEN 'no mobile number or e-mail to write to'
                   WHEN 'suppressed' THEN 'address blocked (unsubscribed or bounced)'
                   WHEN 'capped' THEN 'already had 2 promotions this month'
                   WHEN 'duplicate_address' THEN 'shares an address with another patient already listed'
                   ELSE reason END AS "why the others get no message", count(*) AS patients
  FROM cdp.campaign_send WHERE campaign_id = :promo AND status = 'skipped' GROUP BY reason ORDER BY 2 DESC;
SELECT channel AS "channel chosen", count(*) AS messages FROM cdp.campaign_send WHERE campaign_id = :promo AND status = 'due'
 GROUP BY channel ORDER BY 2 DESC;
SELECT count(*) - count(DISTINCT golden_id) AS "patients with two messages (must be 0)" FROM cdp.campaign_send WHERE campaign_id = :promo AND status = 'due';

\echo
\echo '--- 14. the gateway sends over a week, at allowed hours, and reports what happened'
-- each message goes out on one of the campaign's first six days, at its local window; mark_sent
-- re-checks the patient at that moment (the simulated clock is the send moment)
CREATE TEMP TABLE demo_gw AS
SELECT s.send_id, s.channel, cdp_internal.campaign_next_slot(s.due_at + (floor(random() * 6)::int || ' days')::interval,
	       coalesce(s.provenance ->> 'timezone', 'Europe/Moscow'), c.doc -> 'window') AS send_at,
       random() AS r1, random() AS r2, random() AS r3, random() AS r4
  FROM cdp.campaign_send s JOIN cdp.campaign c USING (campaign_id)
 WHERE s.campaign_id = :promo AND s.status = 'due';
-- a withdrawal between the list and the send: the gateway is refused
SELECT golden_id AS withdrawing FROM cdp.campaign_send WHERE campaign_id = :promo AND status = 'due' ORDER BY send_id LIMIT 1 \gset
SELECT cdp.set_consent(:withdrawing, 'marketing', '*', false, now() - interval '28 days' + interval '11 hours', 'phoned the clinic') IS NOT NULL AS "one patient withdrew before the send";
SELECT result AS "gateway: mark_sent said", count(*) AS messages
  FROM (SELECT cdp_internal.campaign_mark(send_id, send_at) AS result FROM demo_gw ORDER BY send_at) x GROUP BY 1 ORDER BY 2 DESC;
-- the gateway's reports: 96% delivered (2% hard bounce, 2% soft), opens, clicks, bookings with payment, some unsubscribe
INSERT INTO cdp.delivery_event_staging (send_id, kind, at, provider_event_id, detail)
SELECT g.send_id, e.kind, g.send_at + e.after, 'gw-' || g.send_id || '-' || e.kind, e.detail
  FROM demo_gw g JOIN cdp.campaign_send s USING (send_id)
 CROSS JOIN LATERAL (VALUES
	('delivered', interval '1 minute', '{}'::jsonb, g.r1 >= 0.04),
	('bounced', interval '1 minute', jsonb_build_object('type', CASE WHEN g.r1 < 0.02 THEN 'hard' ELSE 'soft' END), g.r1 < 0.04),
	('opened', interval '2 hours' * (1 + g.r4 * 40), '{}', g.r1 >= 0.04 AND g.r2 < 0.55),
	('clicked', interval '2 hours' * (1 + g.r4 * 40) + interval '5 minutes', '{}', g.r1 >= 0.04 AND g.r2 < 0.20),
	('converted', interval '3 days' * (1 + g.r4), jsonb_build_object('kind', 'paid', 'amount', 3500 + floor(g.r3 * 6) * 500), g.r1 >= 0.04 AND g.r2 < 0.07),
	('unsubscribed', interval '3 hours', '{}', g.r1 >= 0.04 AND g.r3 > 0.985)) e(kind, after, detail, happens)
 WHERE s.status = 'sent' AND e.happens;
-- a webhook that retries: the same report three times counts once
INSERT INTO cdp.delivery_event_staging (send_id, kind, at, provider_event_id, detail)
SELECT send_id, kind, at, provider_event_id, detail FROM cdp.delivery_event_staging WHERE kind = 'opened' LIMIT 20;
SELECT (x ->> 'staged')::int AS "gateway reports received", (x ->> 'recorded')::int AS "recorded",
	(x ->> 'duplicates')::int AS "retries counted once" FROM (SELECT cdp.ingest_delivery_events() AS x) y;
-- some patients come back for a visit within 30 days (more of those who got the message)
SELECT count(cdp.upsert_clinical_event(src.name, 'demo-back-' || s.send_id, 'visit', jsonb_build_object(
	'record_source_id', r.source_key, 'at', (coalesce(s.sent_at, s.due_at) + interval '1 day' * (2 + floor(random() * 20)))::text,
	'status', 'done', 'specialty', 'urology'))) AS "visits after the promotion (simulated)"
  FROM cdp.campaign_send s
  JOIN LATERAL (SELECT r.source_key, r.source_id FROM cdp.record r WHERE r.golden_id = s.golden_id ORDER BY r.record_id LIMIT 1) r ON true
  JOIN cdp.source src ON src.source_id = r.source_id
 WHERE s.campaign_id = :promo AND random() < CASE WHEN s.status = 'sent' THEN 0.30 WHEN s.status = 'holdout' THEN 0.18 ELSE 0 END;
SELECT cdp.refresh_campaign_metrics(:promo, 30) AS "messages followed by a visit (marked)";

\echo
\echo '--- 15. the promotion''s results, by channel (rates rounded for reading)'
SELECT channel, sum(sent) AS sent, sum(delivered) AS delivered,
	round(100.0 * sum(delivered) / nullif(sum(sent), 0)) || '%' AS "delivered of sent",
	sum(opened) AS opened, sum(clicked) AS clicked,
	round(100.0 * sum(clicked) / nullif(sum(delivered), 0), 1) || '%' AS "clicked of delivered",
	sum(converted) AS "booked and paid", to_char(sum(revenue), 'FM999G999G990') || ' ₽' AS revenue,
	sum(hard_bounced) AS "bad addresses", sum(unsubscribed) AS unsubscribed
  FROM cdp.campaign_metrics WHERE campaign_id = :promo GROUP BY ROLLUP (channel) ORDER BY channel NULLS LAST;
\echo 'did the promotion bring patients back? each arm against the 10% who got nothing (95% confidence interval):'
SELECT arm, members AS "got the message", round(100 * rate) || '%' AS "came back within 30 days",
	round(100 * holdout_rate) || '%' AS "holdout came back",
	CASE WHEN ci_low > 0 THEN 'yes: +' || round(100 * uplift) || ' points (' || round(100 * ci_low) || ' to ' || round(100 * ci_high) || ')'
	     ELSE 'not shown: ' || round(100 * uplift) || ' points (' || round(100 * ci_low) || ' to ' || round(100 * ci_high) || ')' END AS "effect"
  FROM cdp.campaign_uplift(:promo);
\set funnel_csv :outdir '/campaign_funnel.csv'
\set by_day_csv :outdir '/campaign_by_day.csv'
\o :funnel_csv
COPY (SELECT step, stage, sum(n) AS n FROM cdp.campaign_funnel WHERE campaign_id = :promo GROUP BY step, stage ORDER BY step) TO STDOUT WITH (FORMAT csv, HEADER);
\o :by_day_csv
COPY (SELECT day, sum(sent) AS sent, sum(delivered) AS delivered, sum(opened) AS opened, sum(clicked) AS clicked, sum(converted) AS converted
        FROM cdp.campaign_metrics WHERE campaign_id = :promo GROUP BY day ORDER BY day) TO STDOUT WITH (FORMAT csv, HEADER);
\o

\echo
\echo '--- 16. doctors'' re-test recommendations become reminders (treatment: no advertising without marketing consent)'
SELECT cdp.create_offer(jsonb_build_object('name', 'Анализы со скидкой 10%', 'service', 'lab',
	'valid_from', (current_date - 30)::text, 'valid_to', (current_date + 90)::text)) AS lab_offer \gset
SELECT cdp.create_campaign(jsonb_build_object('name', 'Напоминание о повторном анализе', 'purpose', 'treatment', 'offer', :lab_offer,
	'trigger', '{"kind": "recommendation", "days_before": 14}'::jsonb, 'channels', '["sms", "email"]'::jsonb,
	'templates', '{"sms": "{given_name}, врач рекомендовал повторить анализ до {due_date}. Запись: +7 495 000-00-00", "email": "{given_name}, врач рекомендовал повторить анализ до {due_date}."}'::jsonb,
	'offer_templates', '{"sms": "{given_name}, врач рекомендовал повторить анализ до {due_date}; до {offer_until} анализы -10%", "email": "{given_name}, врач рекомендовал повторить анализ до {due_date}; до {offer_until} анализы со скидкой 10%."}'::jsonb,
	'window', '{"hours": [9, 21]}'::jsonb)) AS reminder \gset
SELECT cdp.set_campaign_status(:reminder, 'running') AS status;
CALL cdp.run_maintenance();
SELECT count(*) FILTER (WHERE status = 'due') AS "reminders due",
	count(*) FILTER (WHERE status = 'due' AND (provenance ->> 'benefit')::boolean) AS "…showing the lab discount (marketing consent)",
	count(*) FILTER (WHERE status = 'due' AND NOT (provenance ->> 'benefit')::boolean) AS "…without any advertising",
	count(*) FILTER (WHERE status = 'skipped') AS "no reminder possible"
  FROM cdp.campaign_send WHERE campaign_id = :reminder;
SELECT CASE WHEN (provenance ->> 'benefit')::boolean THEN 'with discount' ELSE 'reminder only' END AS kind, channel, message AS "example"
  FROM (SELECT DISTINCT ON ((provenance ->> 'benefit')::boolean) * FROM cdp.campaign_send
         WHERE campaign_id = :reminder AND status = 'due' ORDER BY (provenance ->> 'benefit')::boolean, send_id) x;
SELECT count(*) AS rows_before FROM cdp.campaign_send WHERE campaign_id = :reminder \gset
SELECT cdp.run_campaigns() IS NOT NULL AS "run again";
SELECT count(*) - :rows_before AS "new reminders from the second run (0: a due date never fires twice)"
  FROM cdp.campaign_send WHERE campaign_id = :reminder;
