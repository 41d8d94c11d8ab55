-- test/pgtap/87_campaign_consent.sql: mark_sent's consent check (cdp_internal.campaign_consent,
-- sql/parts/87_campaign_delivery.sql) reads the consent summary in one probe; it must answer as
-- cdp.may_contact does.  Property-style, fixed seed: random statements (purposes x channels,
-- grants and withdrawals, ties, addresses suppressed), merges, unmerges, new records from internal
-- and partner sources (persons without a summary row among them), a source changing kind; every
-- few rounds the two are compared for every person, purpose and channel.  Then mark_sent itself:
-- a partner-only person whose partner_sharing consent is withdrawn after the listing is refused.
BEGIN;
SELECT plan(7);
\ir ../fixtures/consent_history.sql

SELECT setseed(0.87);
SELECT cdp.register_source('his', 'internal', 80) IS NOT NULL AS a, cdp.register_source('fit', 'partner', 40) IS NOT NULL AS b,
       cdp.register_source('gym', 'partner', 40) IS NOT NULL AS c \gset
DO $$
BEGIN
	FOR i IN 1..24 LOOP
		PERFORM cdp.upsert_record(CASE WHEN i % 5 = 0 THEN 'gym' WHEN i % 3 = 0 THEN 'fit' ELSE 'his' END, 'r' || i,
			jsonb_build_object('family_name', 'Тест' || i, 'sex', (ARRAY['M', 'F'])[1 + i % 2],
			                   'phones', CASE WHEN i % 7 = 0 THEN '[]'::jsonb ELSE jsonb_build_array('+7916' || lpad((i % 16)::text, 7, '0')) END,
			                   'emails', CASE WHEN i % 4 = 0 THEN jsonb_build_array('t' || i || '@mail.ru') ELSE '[]'::jsonb END));
	END LOOP;
END
$$;

CREATE FUNCTION pg_temp.mismatches() RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM cdp.patient p, cdp.consent_purposes() pu, cdp.consent_channels() ch
	 WHERE cdp_internal.campaign_consent(p, pu.purpose, ch.channel) IS DISTINCT FROM cdp.may_contact(p.golden_id, pu.purpose, ch.channel) $$;

CREATE TEMP TABLE rounds (n int, action text, diff bigint, norow bigint, partner bigint, nondefault bigint, suppressed bigint, allowed bigint);
DO $$
DECLARE
	act		text;
BEGIN
	FOR n IN 1..160 LOOP
		act := pg_temp.consent_history_step(n, 0.55, 0.68, 0.2, 16, 'campaign consent');
		IF n % 10 = 0 THEN
			INSERT INTO rounds VALUES (n, act, pg_temp.mismatches(),
				(SELECT count(*) FROM cdp.patient p WHERE NOT EXISTS (SELECT 1 FROM cdp_internal.consent_summary s WHERE s.golden_id = p.golden_id)),
				(SELECT count(*) FROM cdp_internal.consent_summary WHERE NOT internal),
				(SELECT count(*) FROM cdp_internal.consent_summary WHERE allowed <> cdp_internal.consent_default_mask()),
				(SELECT count(*) FROM cdp.consent_suppression WHERE suppressed),
				(SELECT count(*) FROM cdp.patient p, cdp.consent_purposes() pu, cdp.consent_channels() ch
				  WHERE cdp.may_contact(p.golden_id, pu.purpose, ch.channel)));
		END IF;
	END LOOP;
END
$$;

SELECT is((SELECT count(*) FROM rounds), 16::bigint, 'precondition: 16 rounds compared');
SELECT ok((SELECT count(*) FROM rounds WHERE norow > 0 AND partner > 0 AND nondefault > 0 AND suppressed > 0
                                          AND allowed > 0 AND allowed < (SELECT count(*) FROM cdp.patient) * 48) >= 5,
          'precondition: at least 5 comparisons saw persons without a summary row, partner-only persons, non-default states, suppressed addresses, and both answers');
SELECT is((SELECT string_agg(n || ':' || action || ':' || diff, ', ') FROM rounds WHERE diff <> 0), NULL,
          'every 10th round campaign_consent equals may_contact for every person, purpose and channel');
SELECT throws_ok($$SELECT cdp_internal.campaign_consent(p, 'marketing', '*') FROM cdp.patient p LIMIT 1$$, '22023', NULL,
                 'a channel that is not one is may_contact''s error');

-- mark_sent itself: a partner-only person and an internal one, both with marketing consent on sms
-- (the partner-only one with partner_sharing too), listed; the partner_sharing consent withdrawn
-- before the send refuses the partner-only person's message; the other is sent
SELECT cdp.upsert_record('fit', 'pm1', '{"family_name": "Партнёр", "given_name": "Пётр", "city": "Тверь", "phones": ["+79160009901"]}') AS rp,
       cdp.upsert_record('his', 'pm2', '{"family_name": "Свой", "given_name": "Сергей", "city": "Тверь", "phones": ["+79160009902"]}') AS ri \gset
SELECT (SELECT golden_id FROM cdp.record WHERE record_id = :rp) AS gp, (SELECT golden_id FROM cdp.record WHERE record_id = :ri) AS gi \gset
SELECT cdp.set_consents(:gp, ARRAY['marketing', 'partner_sharing'], ARRAY['sms'], true, '2026-01-02', NULL, NULL) IS NOT NULL AS c1,
       cdp.set_consents(:gi, ARRAY['marketing'], ARRAY['sms'], true, '2026-01-02', NULL, NULL) IS NOT NULL AS c2 \gset
SELECT cdp.create_segment('тверь', '{"attr": "city", "op": "=", "value": "Тверь"}', 'marketing') AS seg \gset
SELECT cdp.create_campaign(jsonb_build_object('name', 'тверь', 'segment', :seg, 'channels', '["sms"]'::jsonb,
	'templates', '{"sms": "{given_name}, акция"}'::jsonb, 'window', '{"hours": [0, 24]}'::jsonb)) AS camp \gset
SELECT cdp.build_send_list(:camp, '2026-03-02 12:00+03') IS NOT NULL AS built \gset
SELECT is((SELECT array_agg(status ORDER BY golden_id) FROM cdp.campaign_send WHERE campaign_id = :camp AND golden_id IN (:gp, :gi)),
          ARRAY['due', 'due'], 'precondition: both persons are listed due');
SELECT cdp.set_consents(:gp, ARRAY['partner_sharing'], ARRAY['sms'], false, '2026-03-02 12:10+03', NULL, NULL) IS NOT NULL AS w \gset
SELECT is(ARRAY[cdp_internal.campaign_mark((SELECT send_id FROM cdp.campaign_send WHERE campaign_id = :camp AND golden_id = :gp), '2026-03-02 12:30+03'),
                cdp_internal.campaign_mark((SELECT send_id FROM cdp.campaign_send WHERE campaign_id = :camp AND golden_id = :gi), '2026-03-02 12:30+03')],
          ARRAY['no_consent', 'sent'], 'mark_sent: the partner-only person without partner_sharing consent is refused (no_consent), the other is sent');
SELECT is(ARRAY[(SELECT cdp_internal.campaign_consent(p, 'marketing', 'sms') FROM cdp.patient p WHERE p.golden_id = :gp), cdp.may_contact(:gp, 'marketing', 'sms')],
          ARRAY[false, false], 'and campaign_consent says no, as may_contact does');

SELECT * FROM finish();
ROLLBACK;
