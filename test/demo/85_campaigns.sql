-- test/demo/85_campaigns.sql: campaigns (issue 14), after test/demo/80_segments.sql over the same
-- generated clinic.  A promotion to the urology segment ran over the last four weeks through a
-- simulated gateway that sends each message at its moment and reports back deliveries, opens,
-- clicks, bookings, bounces and unsubscribes; doctors' re-test recommendations become reminders.
-- The summary counts, in words, who got what and why the others did not; the data for the two
-- charts (the funnel, and the promotion by day) goes to :outdir, drawn by 85_campaigns.sh.
\pset footer off
\pset null '—'
\pset linestyle unicode
SET client_min_messages = warning;
\o /dev/null
SELECT setseed(0.14);
\o

\echo
\echo '--- 13. Акция «Урология: весенний чек-ап»: одно сообщение на пациента, по одному подходящему ему каналу'
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
SELECT (SELECT count(*) FROM cdp.segment_member WHERE segment_id = :seg) AS "пациентов в сегменте",
	(:'built'::jsonb ->> 'due')::int AS "сообщений к отправке",
	(:'built'::jsonb ->> 'holdout')::int AS "контрольная группа (10 %)";
SELECT CASE reason WHEN 'no_consent' THEN 'нет согласия на эти каналы'
                   WHEN 'no_address' THEN 'нет мобильного номера и e-mail'
                   WHEN 'suppressed' THEN 'адрес заблокирован (отписка или недоставка)'
                   WHEN 'capped' THEN 'уже получил 2 акции за 30 дней'
                   WHEN 'duplicate_address' THEN 'тот же адрес уже есть у другого пациента в списке'
                   ELSE reason END AS "почему не получат сообщение", count(*) AS "пациентов"
  FROM cdp.campaign_send WHERE campaign_id = :promo AND status = 'skipped' GROUP BY reason ORDER BY 2 DESC;
SELECT CASE channel WHEN 'messenger' THEN 'мессенджер' WHEN 'sms' THEN 'SMS' WHEN 'email' THEN 'e-mail' ELSE channel END AS "выбранный канал", count(*) AS "сообщений" FROM cdp.campaign_send WHERE campaign_id = :promo AND status = 'due'
 GROUP BY channel ORDER BY 2 DESC;
SELECT count(*) - count(DISTINCT golden_id) AS "с двумя сообщениями (норма 0)" FROM cdp.campaign_send WHERE campaign_id = :promo AND status = 'due';

\echo
\echo '--- 14. Шлюз рассылки отправляет сообщения в течение недели в разрешённые часы и сообщает, что с ними стало (имитация)'
-- each message goes out on one of the campaign's first six days at its planned local hour; the
-- gateway reports the moment it sent with cdp.mark_sent(send_id, at), which re-checks the patient
-- as of that moment (the simulated clock is the send moment)
CREATE TEMP TABLE demo_gw AS
SELECT s.send_id, s.channel, s.due_at + (floor(random() * 6)::int || ' days')::interval AS send_at,
       random() AS r1, random() AS r2, random() AS r3, random() AS r4
  FROM cdp.campaign_send s
 WHERE s.campaign_id = :promo AND s.status = 'due';
-- a withdrawal between the list and the send: the gateway is refused
SELECT golden_id AS withdrawing FROM cdp.campaign_send WHERE campaign_id = :promo AND status = 'due' ORDER BY send_id LIMIT 1 \gset
SELECT cdp.set_consent(:withdrawing, 'marketing', '*', false, now() - interval '28 days' + interval '11 hours', 'phoned the clinic') IS NOT NULL AS w \gset
\echo 'Один пациент отозвал согласие между составлением списка и отправкой: перед отправкой cdp проверяет согласие снова.'
CREATE TEMP TABLE demo_gw_result AS
SELECT x.send_id, x.result FROM (SELECT send_id, cdp.mark_sent(send_id, send_at) AS result FROM demo_gw ORDER BY send_at) x;
-- a message the gateway tried on a Sunday (outside the window) is moved by cdp to the next allowed
-- moment (its due_at); the gateway sends it then
UPDATE demo_gw g SET send_at = s.due_at
  FROM demo_gw_result r JOIN cdp.campaign_send s USING (send_id)
 WHERE r.send_id = g.send_id AND r.result = 'outside_window';
UPDATE demo_gw_result r SET result = cdp.mark_sent(r.send_id, g.send_at)
  FROM demo_gw g WHERE g.send_id = r.send_id AND r.result = 'outside_window';
SELECT CASE result WHEN 'sent' THEN 'отправлено' WHEN 'no_consent' THEN 'не отправлено: согласие отозвано' ELSE result END AS "сообщение", count(*) AS "сколько"
  FROM demo_gw_result GROUP BY 1 ORDER BY 2 DESC;
UPDATE demo_gw g SET send_at = s.sent_at FROM cdp.campaign_send s WHERE s.send_id = g.send_id AND s.status = 'sent';
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
SELECT (x ->> 'staged')::int AS "отчётов шлюза получено", (x ->> 'recorded')::int AS "учтено",
	(x ->> 'duplicates')::int AS "повторов (учтены один раз)" FROM (SELECT cdp.ingest_delivery_events() AS x) y;
-- some patients come back for a visit within 30 days (more of those who got the message)
SELECT count(cdp.upsert_clinical_event(src.name, 'demo-back-' || s.send_id, 'visit', jsonb_build_object(
	'record_source_id', r.source_key, 'at', (coalesce(s.sent_at, s.due_at) + interval '1 day' * (2 + floor(random() * 20)))::text,
	'status', 'done', 'specialty', 'urology'))) AS "приёмов после акции (имитация)"
  FROM cdp.campaign_send s
  JOIN LATERAL (SELECT r.source_key, r.source_id FROM cdp.record r WHERE r.golden_id = s.golden_id ORDER BY r.record_id LIMIT 1) r ON true
  JOIN cdp.source src ON src.source_id = r.source_id
 WHERE s.campaign_id = :promo AND random() < CASE WHEN s.status = 'sent' THEN 0.30 WHEN s.status = 'holdout' THEN 0.18 ELSE 0 END;
\echo 'Сообщений, после которых пациент пришёл на приём в течение 30 дней (считается любой приём после'
\echo 'сообщения, не только имитированные выше, поэтому число может быть больше):'
SELECT cdp.refresh_campaign_metrics(:promo, 30) AS "сообщений с приёмом после";

\echo
\echo '--- 15. Итоги акции по каналам'
SELECT coalesce(CASE channel WHEN 'messenger' THEN 'мессенджер' WHEN 'sms' THEN 'SMS' WHEN 'email' THEN 'e-mail' ELSE channel END, 'всего') AS "канал",
	sum(sent) AS "отправлено", sum(delivered) AS "доставлено",
	round(100.0 * sum(delivered) / nullif(sum(sent), 0)) || ' %' AS "доставлено от отправленных",
	sum(opened) AS "прочитано", sum(clicked) AS "переходов по ссылке",
	round(100.0 * sum(clicked) / nullif(sum(delivered), 0), 1) || ' %' AS "переходов от доставленных",
	sum(converted) AS "оплатили приём", to_char(sum(revenue), 'FM999G999G990') || ' ₽' AS "выручка",
	sum(hard_bounced) AS "неверных адресов", sum(unsubscribed) AS "отписались"
  FROM cdp.campaign_metrics WHERE campaign_id = :promo GROUP BY ROLLUP (channel) ORDER BY channel NULLS LAST;
\echo 'Вернула ли акция пациентов? Каждая группа рассылки против контрольной группы (10 %, не получали ничего);'
\echo 'в скобках — 95-процентный доверительный интервал, в процентных пунктах:'
SELECT arm AS "группа", members AS "получили сообщение", round(100 * rate) || ' %' AS "пришли на приём за 30 дней",
	round(100 * holdout_rate) || ' %' AS "пришли из контрольной группы",
	CASE WHEN ci_low > 0 THEN 'да: +' || round(100 * uplift) || ' п.п. (от ' || round(100 * ci_low) || ' до ' || round(100 * ci_high) || ')'
	     ELSE 'не доказан: ' || round(100 * uplift) || ' п.п. (от ' || round(100 * ci_low) || ' до ' || round(100 * ci_high) || ')' END AS "эффект"
  FROM cdp.campaign_uplift(:promo);
\set funnel_csv :outdir '/campaign_funnel.csv'
\set by_day_csv :outdir '/campaign_by_day.csv'
\o :funnel_csv
COPY (SELECT step, CASE stage WHEN 'sent' THEN 'отправлено' WHEN 'delivered' THEN 'доставлено' WHEN 'opened' THEN 'прочитано' WHEN 'clicked' THEN 'перешли по ссылке' WHEN 'converted' THEN 'оплатили приём' ELSE stage END AS stage, sum(n) AS n FROM cdp.campaign_funnel WHERE campaign_id = :promo GROUP BY step, stage ORDER BY step) TO STDOUT WITH (FORMAT csv, HEADER);
\o :by_day_csv
COPY (SELECT day, sum(sent) AS sent, sum(delivered) AS delivered, sum(opened) AS opened, sum(clicked) AS clicked, sum(converted) AS converted
        FROM cdp.campaign_metrics WHERE campaign_id = :promo GROUP BY day ORDER BY day) TO STDOUT WITH (FORMAT csv, HEADER);
\o

\echo
\echo '--- 16. Рекомендации врачей повторить анализ превращаются в напоминания (без согласия на рекламу — никакой рекламы в тексте)'
SELECT cdp.create_offer(jsonb_build_object('name', 'Анализы со скидкой 10%', 'service', 'lab',
	'valid_from', (current_date - 30)::text, 'valid_to', (current_date + 90)::text)) AS lab_offer \gset
SELECT cdp.create_campaign(jsonb_build_object('name', 'Напоминание о повторном анализе', 'purpose', 'treatment', 'offer', :lab_offer,
	'trigger', '{"kind": "recommendation", "days_before": 14}'::jsonb, 'channels', '["sms", "email"]'::jsonb,
	'templates', '{"sms": "{given_name}, врач рекомендовал повторить анализ до {due_date}. Запись: +7 495 000-00-00", "email": "{given_name}, врач рекомендовал повторить анализ до {due_date}."}'::jsonb,
	'offer_templates', '{"sms": "{given_name}, врач рекомендовал повторить анализ до {due_date}; до {offer_until} анализы -10%", "email": "{given_name}, врач рекомендовал повторить анализ до {due_date}; до {offer_until} анализы со скидкой 10%."}'::jsonb,
	'window', '{"hours": [9, 21]}'::jsonb)) AS reminder \gset
SELECT cdp.set_campaign_status(:reminder, 'running') AS st \gset
-- the daily run lists reminders: yesterday's at 10:00 (Moscow) and today's (cdp.run_maintenance)
SELECT (current_date - 1 + time '10:00') AT TIME ZONE 'Europe/Moscow' AS rem_at \gset
SELECT cdp.run_campaigns(:'rem_at') IS NOT NULL AS listed \gset
CALL cdp.run_maintenance();
SELECT * FROM (VALUES
	('напоминаний к отправке', (SELECT count(*) FROM cdp.campaign_send WHERE campaign_id = :reminder AND status = 'due')),
	('  из них со скидкой на анализы (есть согласие на рекламу)',
	 (SELECT count(*) FROM cdp.campaign_send WHERE campaign_id = :reminder AND status = 'due' AND (provenance ->> 'benefit')::boolean)),
	('  из них только напоминание, без рекламы',
	 (SELECT count(*) FROM cdp.campaign_send WHERE campaign_id = :reminder AND status = 'due' AND NOT (provenance ->> 'benefit')::boolean)),
	('напомнить нельзя (нет согласия, контакта или адрес заблокирован)',
	 (SELECT count(*) FROM cdp.campaign_send WHERE campaign_id = :reminder AND status = 'skipped'))) AS t("напоминания", "пациентов");
SELECT CASE WHEN (provenance ->> 'benefit')::boolean THEN 'со скидкой' ELSE 'только напоминание' END AS "вид",
       CASE channel WHEN 'messenger' THEN 'мессенджер' WHEN 'sms' THEN 'SMS' WHEN 'email' THEN 'e-mail' ELSE channel END AS "канал", message AS "пример текста"
  FROM (SELECT DISTINCT ON ((provenance ->> 'benefit')::boolean) * FROM cdp.campaign_send
         WHERE campaign_id = :reminder AND status = 'due' ORDER BY (provenance ->> 'benefit')::boolean, send_id) x;
SELECT count(*) AS rows_before FROM cdp.campaign_send WHERE campaign_id = :reminder \gset
SELECT cdp.run_campaigns() IS NOT NULL AS again \gset
\echo 'Повторный запуск не напоминает дважды об одной рекомендации:'
SELECT count(*) - :rows_before AS "новых напоминаний (норма 0)"
  FROM cdp.campaign_send WHERE campaign_id = :reminder;

\echo
\echo 'Шлюз отправляет напоминания в разрешённые часы и сообщает, что с ними стало (имитация). Перед каждой'
\echo 'отправкой cdp проверяет пациента снова; напоминание, время которого ещё не пришло, ждёт своего часа.'
-- each reminder goes out a few minutes after its planned moment, if that moment has come (the
-- gateway reports it with cdp.mark_sent(send_id, at)); the others wait for their hour
CREATE TEMP TABLE demo_rem AS
SELECT s.send_id, LEAST(s.due_at + interval '1 minute' * (1 + floor(random() * 30)), now()) AS send_at, s.due_at <= now() AS may,
       random() AS r1, random() AS r2, random() AS r3
  FROM cdp.campaign_send s
 WHERE s.campaign_id = :reminder AND s.status = 'due';
CREATE TEMP TABLE demo_rem_result AS
SELECT x.send_id, x.result FROM (SELECT send_id, CASE WHEN may THEN cdp.mark_sent(send_id, send_at) ELSE 'later' END AS result
                                   FROM demo_rem ORDER BY send_at) x;
SELECT CASE result WHEN 'sent' THEN 'отправлено' WHEN 'later' THEN 'ждёт разрешённого часа'
                   WHEN 'already_done' THEN 'не отправлено: анализ уже сдан'
                   WHEN 'no_consent' THEN 'не отправлено: согласие отозвано' ELSE 'не отправлено: ' || result END AS "напоминание",
       count(*) AS "сколько"
  FROM demo_rem_result GROUP BY 1 ORDER BY 2 DESC;
-- the gateway's reports: 97% delivered (3% soft bounce); of the delivered, 40% book the re-test,
-- three quarters of them pay for it; e-mails are opened and clicked
INSERT INTO cdp.delivery_event_staging (send_id, kind, at, provider_event_id, detail)
SELECT g.send_id, e.kind, LEAST(g.send_at + e.after, now()), 'gw-rem-' || g.send_id || '-' || e.kind || coalesce('-' || (e.detail ->> 'kind'), ''), e.detail
  FROM demo_rem g JOIN cdp.campaign_send s USING (send_id)
 CROSS JOIN LATERAL (VALUES
	('delivered', interval '1 minute', '{}'::jsonb, g.r1 >= 0.03),
	('bounced', interval '1 minute', '{"type": "soft"}'::jsonb, g.r1 < 0.03),
	('opened', interval '1 hour', '{}', g.r1 >= 0.03 AND s.channel = 'email' AND g.r2 < 0.6),
	('clicked', interval '1 hour' + interval '2 minutes', '{}', g.r1 >= 0.03 AND s.channel = 'email' AND g.r2 < 0.3),
	('converted', interval '2 hours', '{"kind": "booked"}', g.r1 >= 0.03 AND g.r2 < 0.4),
	('converted', interval '3 hours', jsonb_build_object('kind', 'paid', 'amount', 900 + floor(g.r3 * 4) * 300), g.r1 >= 0.03 AND g.r2 < 0.3)) e(kind, after, detail, happens)
 WHERE s.status = 'sent' AND e.happens;
SELECT cdp.ingest_delivery_events() IS NOT NULL AS ingested \gset
\echo 'Итоги напоминаний по каналам (запись на анализ — конверсия «записался», выручка — только оплаченные анализы):'
SELECT coalesce(CASE channel WHEN 'sms' THEN 'SMS' WHEN 'email' THEN 'e-mail' ELSE channel END, 'всего') AS "канал",
	sum(sent) AS "отправлено", sum(delivered) AS "доставлено",
	round(100.0 * sum(delivered) / nullif(sum(sent), 0)) || ' %' AS "доставлено от отправленных",
	sum(converted) AS "записались на анализ",
	round(100.0 * sum(converted) / nullif(sum(delivered), 0)) || ' %' AS "записались от доставленных",
	to_char(sum(revenue), 'FM999G999G990') || ' ₽' AS "оплачено"
  FROM cdp.campaign_metrics WHERE campaign_id = :reminder GROUP BY ROLLUP (channel) ORDER BY channel NULLS LAST;
