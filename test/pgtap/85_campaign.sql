-- test/pgtap/85_campaign.sql: campaigns (sql/parts/85-87, doc/campaigns.md): bad documents, one
-- channel per patient in every consent combination, duplicates, caps across two campaigns, a
-- withdrawal between list build and send, holdout never sent, windows, re-test reminders with and
-- without marketing consent, a due date never firing twice, delivery events (idempotent, bounce,
-- unsubscribe), metrics equal to hand-computed values.
BEGIN;
SELECT plan(79);

SELECT cdp.register_source('his', 'internal', 80) IS NOT NULL AS src \gset
-- eight women: bit 1 messenger, bit 2 sms, bit 4 email consent for marketing
SELECT count(cdp.upsert_record('his', 'p' || i, jsonb_build_object('family_name', 'Комбинация' || i, 'given_name', 'Анна',
         'sex', 'F', 'birth_date', (date '1980-01-01' + i)::text, 'city', 'Москва',
         'phones', jsonb_build_array('+7916555000' || i), 'emails', jsonb_build_array('p' || i || '@mail.ru'))))
  FROM generate_series(0, 7) i;
DO $$
BEGIN
	FOR i IN 1..7 LOOP
		IF i & 1 <> 0 THEN PERFORM cdp.set_consent(cdp.golden_id('his', 'p' || i), 'marketing', 'messenger', true, '2026-01-01'); END IF;
		IF i & 2 <> 0 THEN PERFORM cdp.set_consent(cdp.golden_id('his', 'p' || i), 'marketing', 'sms', true, '2026-01-01'); END IF;
		IF i & 4 <> 0 THEN PERFORM cdp.set_consent(cdp.golden_id('his', 'p' || i), 'marketing', 'email', true, '2026-01-01'); END IF;
	END LOOP;
END $$;
SELECT cdp.create_offer('{"name": "Чек-ап", "service": "checkup", "valid_from": "2026-01-01", "valid_to": "2026-12-31"}') AS offer \gset
SELECT cdp.create_segment('комбинации', '{"all": [{"attr": "sex", "op": "=", "value": "F"}]}') AS seg \gset
SELECT cdp.refresh_segment(:seg, 'full') IS NOT NULL AS refreshed \gset

-- ---------------------------------------------------------------- bad documents: nothing saved
CREATE TEMP TABLE good AS SELECT jsonb_build_object('name', 'Весенний чек-ап', 'segment', :seg, 'offer', :offer,
	'purpose', 'marketing', 'channels', '["messenger", "sms", "email"]'::jsonb,
	'templates', '{"sms": "{given_name}, до {offer_until} чек-ап со скидкой 20%", "messenger": "{given_name}, чек-ап", "email": "{given_name}, письмо"}'::jsonb,
	'window', '{"hours": [9, 20], "days": [1, 2, 3, 4, 5]}'::jsonb, 'cap', '{"max": 2, "per": "30 days", "quiet": "3 days"}'::jsonb,
	'holdout', 0, 'start', '2026-03-01T00:00:00+03', 'end', '2026-03-31T23:59:59+03') AS d;
SELECT throws_ok($$SELECT cdp.create_campaign((SELECT d FROM good) || '{"channels": ["pigeon"]}')$$, '22023', 'unknown channel "pigeon"', 'an unknown channel is refused');
SELECT throws_ok($$SELECT cdp.create_campaign((SELECT d FROM good) || '{"window": {"hours": [20, 9]}}')$$, '22023', 'window ends before it starts: hours [20, 9]', 'a window ending before it starts is refused');
SELECT throws_ok($$SELECT cdp.create_campaign((SELECT d FROM good) || '{"cap": {"max": 0, "per": "30 days"}}')$$, '22023', 'cap "max" must be a whole number of messages, at least 1', 'a cap of zero is refused');
SELECT throws_ok($$SELECT cdp.create_campaign(jsonb_set((SELECT d FROM good), '{templates,sms}', '"{given_name}, {discount}"'))$$, '22023', 'unknown placeholder "{discount}" in a campaign template', 'a placeholder that does not exist is refused');
SELECT throws_ok($$SELECT cdp.create_campaign(jsonb_set((SELECT d FROM good), '{templates,sms}', '"{given_name}, сдайте {test} до {due_date}"'))$$, '22023', 'placeholder "{test}" carries clinical data and may only be used in a treatment reminder', 'a marketing template cannot carry clinical data');
SELECT throws_ok($$SELECT cdp.create_campaign((SELECT d FROM good) || '{"end": "2026-02-01T00:00:00+03"}')$$, '22023', 'campaign ends before it starts', 'an end before the start is refused');
SELECT throws_ok($$SELECT cdp.create_campaign((SELECT d FROM good) - 'offer')$$, '22023', 'placeholder "{offer_until}" needs an offer', 'offer placeholders need an offer');
SELECT throws_ok($$SELECT cdp.create_campaign((SELECT d FROM good) || '{"cap": {"max": 2, "per": "13 mnths"}}')$$, '22023', 'invalid interval "13 mnths" in a campaign', 'a misspelt interval is refused');
SELECT throws_ok($$SELECT cdp.create_campaign((SELECT d FROM good) || '{"arms": {"A": 0.5, "B": 0.6}}')$$, '22023', 'arm shares add up to 1.1, not 1', 'arms must add up to 1');
SELECT throws_ok($$SELECT cdp.create_campaign((SELECT d FROM good) || '{"templates": {"sms": "x"}}')$$, '22023', 'no template for channel "messenger"', 'every channel needs a template');
SELECT throws_ok($$SELECT cdp.create_campaign((SELECT d FROM good) || '{"segment": 999999}')$$, 'P0002', 'segment "999999" does not exist', 'an unknown segment is refused');
SELECT cdp.create_segment('архив', '{"all": [{"attr": "sex", "op": "=", "value": "M"}]}') AS seg_arch \gset
SELECT cdp.archive_segment(:seg_arch);
SELECT throws_ok(format($$SELECT cdp.create_campaign((SELECT d FROM good) || '{"segment": %s}')$$, :seg_arch), '55000', format('segment "%s" is archived', :seg_arch), 'a campaign over an archived segment is refused');
SELECT is((SELECT count(*) FROM cdp.campaign), 0::bigint, 'no refused document saved anything');

-- ---------------------------------------------------------------- one channel per patient, every combination
SELECT cdp.create_campaign((SELECT d FROM good)) AS c1 \gset
SELECT is((SELECT status FROM cdp.campaign WHERE campaign_id = :c1), 'draft', 'a new campaign is a draft');
SELECT is((cdp.build_send_list(:c1, '2026-03-02 12:00+03') ->> 'due')::int, 7, 'seven consented women listed');
SELECT is((SELECT status FROM cdp.campaign WHERE campaign_id = :c1), 'running', 'building the list starts the campaign');
SELECT is((SELECT count(*) FROM cdp.campaign_send WHERE campaign_id = :c1 GROUP BY golden_id ORDER BY 1 DESC LIMIT 1), 1::bigint,
          'nobody has two rows');
SELECT is((SELECT string_agg(substr(r.source_key, 2) || ':' || s.channel, ',' ORDER BY r.source_key)
             FROM cdp.campaign_send s JOIN cdp.record r ON r.golden_id = s.golden_id WHERE s.campaign_id = :c1),
          '1:messenger,2:sms,3:messenger,4:email,5:messenger,6:sms,7:messenger',
          'each gets the first channel of the priority she consented to');
SELECT is((SELECT message FROM cdp.campaign_send s JOIN cdp.record r ON r.golden_id = s.golden_id
            WHERE s.campaign_id = :c1 AND r.source_key = 'p2'), 'Анна, до 31.12.2026 чек-ап со скидкой 20%',
          'the sms text is rendered with the offer''s last day');
SELECT is((SELECT due_at FROM cdp.campaign_send WHERE campaign_id = :c1 LIMIT 1), '2026-03-02 12:00+03'::timestamptz,
          'inside the window: due at once');
SELECT is(cdp.build_send_list(:c1, '2026-03-03 12:00+03') ->> 'due', '7', 'a rebuild adds nobody');
SELECT is((SELECT count(*) FROM cdp.send_list WHERE campaign_id = :c1), 7::bigint, 'cdp.send_list shows the due rows');
SELECT ok((SELECT provenance ?& ARRAY['campaign_version', 'segment', 'segment_version', 'offer', 'offer_version', 'channel_rule', 'consent']
             FROM cdp.campaign_send WHERE campaign_id = :c1 LIMIT 1), 'every row keeps why it exists');
SELECT is((SELECT s.provenance FROM cdp.campaign_send s JOIN cdp.record r ON r.golden_id = s.golden_id
            WHERE s.campaign_id = :c1 AND r.source_key = 'p2'),
          jsonb_build_object('campaign_version', (SELECT version FROM cdp.campaign WHERE campaign_id = :c1),
            'segment', :seg, 'segment_version', (SELECT version FROM cdp.segment WHERE segment_id = :seg),
            'offer', :offer, 'offer_version', (SELECT version FROM cdp.offer WHERE offer_id = :offer),
            'channel_rule', 'priority', 'channels', '["messenger", "sms", "email"]'::jsonb, 'benefit', false, 'timezone', 'Europe/Moscow',
            'consent', jsonb_build_object('checked_at', '2026-03-02 12:00+03'::timestamptz,
              'event_id', (SELECT cs.event_id FROM cdp.consent_statement cs JOIN cdp.record r ON r.record_id = cs.record_id
                            WHERE r.source_key = 'p2' AND cs.purpose = 'marketing' AND cs.channel = 'sms'))),
          'the provenance of a message: campaign, segment and offer versions, channel rule, time zone, the consent statement it relied on');
-- campaign history for segments (cdp_internal.seg_touch) is written only while a segment can read it
SELECT is((SELECT count(*) FROM cdp_internal.seg_touch), 0::bigint,
          'no segment has a campaign clause: listing wrote no campaign touches');
SELECT cdp.create_segment('получившие', '{"campaign": "any", "status": "sent"}') AS seg_hist \gset
SELECT cdp.create_campaign((SELECT d FROM good) || '{"name": "история"}') AS c_hist \gset
SELECT cdp.build_send_list(:c_hist, '2026-03-02 12:00+03') IS NOT NULL AS built \gset
SELECT is((SELECT count(DISTINCT golden_id) FROM cdp_internal.seg_touch), (SELECT count(*) FROM cdp.segment_member WHERE segment_id = :seg),
          'a segment with a campaign clause exists: the listed persons are touched for its incremental refresh');
SELECT cdp.archive_segment(:seg_hist);
DELETE FROM cdp.campaign_send WHERE campaign_id = :c_hist;
DELETE FROM cdp_internal.seg_touch;

-- preference: p7 (all three) prefers email
SELECT cdp.set_contact_preference(cdp.golden_id('his', 'p7'), 'email') IS NOT NULL AS pref \gset
SELECT cdp.create_campaign((SELECT d FROM good) || '{"name": "с предпочтением", "cap": {"max": 5, "per": "30 days"}}') AS c_pref \gset
SELECT cdp.build_send_list(:c_pref, '2026-03-02 12:00+03') IS NOT NULL AS built \gset
SELECT is((SELECT channel FROM cdp.campaign_send WHERE campaign_id = :c_pref AND golden_id = cdp.golden_id('his', 'p7')), 'email',
          'a recorded preference wins among the campaign''s channels');

-- ---------------------------------------------------------------- window: outside hours and days
SELECT cdp.create_campaign((SELECT d FROM good) || '{"name": "окно", "cap": {"max": 9, "per": "30 days"}}') AS c_win \gset
SELECT cdp.build_send_list(:c_win, '2026-03-06 21:30+03') IS NOT NULL AS built \gset
SELECT is((SELECT min(due_at) FROM cdp.campaign_send WHERE campaign_id = :c_win), '2026-03-09 09:00+03'::timestamptz,
          'built on Friday night: due on Monday at 9');
SELECT is(cdp_internal.campaign_mark((SELECT min(send_id) FROM cdp.campaign_send WHERE campaign_id = :c_win), '2026-03-07 12:00+03'),
          'not_yet', 'mark_sent on Saturday, before its due time (Monday at 9): not yet, still due');
SELECT is((SELECT status FROM cdp.campaign_send WHERE send_id = (SELECT min(send_id) FROM cdp.campaign_send WHERE campaign_id = :c_win)),
          'due', 'the row stays due');

-- ---------------------------------------------------------------- send, caps across two overlapping campaigns
SELECT is(cdp_internal.campaign_mark(send_id, '2026-03-02 12:00+03'), 'sent', 'mark_sent sends p' || substr(r.source_key, 2))
  FROM cdp.campaign_send s JOIN cdp.record r ON r.golden_id = s.golden_id
 WHERE s.campaign_id = :c1 AND r.source_key IN ('p1', 'p2') ORDER BY r.source_key;
SELECT is(cdp_internal.campaign_mark((SELECT send_id FROM cdp.campaign_send s JOIN cdp.record r ON r.golden_id = s.golden_id
                                       WHERE s.campaign_id = :c1 AND r.source_key = 'p1'), '2026-03-02 12:05+03'),
          'already_sent', 'a second mark_sent sends nothing');
SELECT cdp.create_campaign((SELECT d FROM good) || '{"name": "второй", "cap": {"max": 1, "per": "30 days"}, "channels": ["sms", "messenger", "email"]}') AS c2 \gset
SELECT cdp.build_send_list(:c2, '2026-03-03 12:00+03') IS NOT NULL AS built \gset
SELECT is((SELECT string_agg(substr(r.source_key, 2) || ':' || coalesce(s.reason, s.status), ',' ORDER BY r.source_key)
             FROM cdp.campaign_send s JOIN cdp.record r ON r.golden_id = s.golden_id
            WHERE s.campaign_id = :c2 AND r.source_key IN ('p1', 'p2', 'p3')),
          '1:capped,2:capped,3:capped', 'a cap of one per 30 days counts the other campaign''s sent and due messages');
-- the quiet period: a campaign with a generous cap waits three days after the last message
SELECT cdp.create_campaign((SELECT d FROM good) || '{"name": "тихо", "cap": {"max": 9, "per": "30 days", "quiet": "3 days"}}') AS c3 \gset
SELECT cdp.build_send_list(:c3, '2026-03-02 13:00+03') IS NOT NULL AS built \gset
SELECT is((SELECT due_at FROM cdp.campaign_send s JOIN cdp.record r ON r.golden_id = s.golden_id
            WHERE s.campaign_id = :c3 AND r.source_key = 'p1'), '2026-03-05 12:00+03'::timestamptz,
          'the quiet period moves the message to three days after the last one');

-- ---------------------------------------------------------------- a withdrawal between build and send
SELECT send_id AS s3 FROM cdp.campaign_send s JOIN cdp.record r ON r.golden_id = s.golden_id
 WHERE s.campaign_id = :c1 AND r.source_key = 'p3' \gset
SELECT cdp.set_consent(cdp.golden_id('his', 'p3'), 'marketing', 'messenger', false, '2026-03-02 12:10+03') IS NOT NULL AS w \gset
SELECT is((SELECT status || ':' || reason FROM cdp.campaign_send WHERE send_id = :s3), 'cancelled:no_consent',
          'a withdrawal cancels the unsent row at once');
SELECT is(cdp_internal.campaign_mark(:s3, '2026-03-02 12:20+03'), 'no_consent', 'mark_sent refuses it with the reason');
SELECT is((SELECT count(*) FROM cdp.send_list WHERE send_id = :s3), 0::bigint, 'the row left cdp.send_list');
-- archive cancels too
SELECT send_id AS s4 FROM cdp.campaign_send s JOIN cdp.record r ON r.golden_id = s.golden_id
 WHERE s.campaign_id = :c1 AND r.source_key = 'p4' \gset
SELECT count(*) FROM cdp.archive_patients(ARRAY[cdp.golden_id('his', 'p4')], 'moved away', false);
SELECT is((SELECT status || ':' || reason FROM cdp.campaign_send WHERE send_id = :s4), 'cancelled:archived',
          'archiving the patient cancels the unsent row');
-- the offer expires before the send
SELECT send_id AS s5 FROM cdp.campaign_send s JOIN cdp.record r ON r.golden_id = s.golden_id
 WHERE s.campaign_id = :c1 AND r.source_key = 'p5' \gset
SELECT is(cdp_internal.campaign_mark(:s5, '2027-01-05 12:00+03'), 'campaign_ended', 'after the campaign''s end (and the offer''s last day) the send is refused');

-- ---------------------------------------------------------------- holdout never sent, arms by hash
-- the split is a hash of (campaign, patient), and the fixture has few members: take the first
-- campaign whose list has both a holdout and a due row, so the tests below always have both kinds
-- whatever ids earlier test files used up
CREATE FUNCTION pg_temp.mixed_campaign(d jsonb) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	c bigint;
BEGIN
	FOR i IN 1..40 LOOP
		c := cdp.create_campaign(d || jsonb_build_object('name', 'holdout ' || i));
		PERFORM cdp.build_send_list(c, '2026-03-02 12:00+03');
		IF EXISTS (SELECT 1 FROM cdp.campaign_send WHERE campaign_id = c AND status = 'holdout')
		   AND EXISTS (SELECT 1 FROM cdp.campaign_send WHERE campaign_id = c AND status = 'due') THEN
			RETURN c;
		END IF;
		PERFORM cdp.archive_campaign(c);
	END LOOP;
	RAISE EXCEPTION 'no campaign of 40 split the fixture into holdout and due rows';
END $$;
SELECT pg_temp.mixed_campaign((SELECT d FROM good) || '{"holdout": 0.5, "arms": {"A": 0.5, "B": 0.5}, "cap": {"max": 9, "per": "1 day"}}') AS ch \gset
SELECT is((SELECT count(*) FROM cdp.campaign_send WHERE campaign_id = :ch AND status = 'holdout'),
          (SELECT count(*) FROM cdp.campaign_send WHERE campaign_id = :ch AND reason IS DISTINCT FROM 'archived'
                                                    AND cdp_internal.campaign_hash(:ch, golden_id) < 0.5),
          'the holdout is exactly the (active) members hashed below its share');
SELECT is((SELECT count(*) FROM cdp.send_list l JOIN cdp.campaign_send s USING (send_id) WHERE s.campaign_id = :ch AND s.arm = 'holdout'),
          0::bigint, 'holdout members are never in the send list');
SELECT is(cdp_internal.campaign_mark(send_id, '2026-03-02 12:00+03'), 'holdout', 'mark_sent on a holdout row sends nothing')
  FROM cdp.campaign_send WHERE campaign_id = :ch AND status = 'holdout' ORDER BY send_id LIMIT 1;
SELECT ok((SELECT bool_and(arm IN ('A', 'B')) FROM cdp.campaign_send WHERE campaign_id = :ch AND status <> 'holdout'),
          'the others are split into the arms');
-- uplift: every member comes back for a visit three days later; the holdout's visits count for the
-- holdout only, and the metrics never count a holdout member as sent
SELECT count(cdp_internal.campaign_mark(send_id, '2026-03-02 12:00+03')) AS marked FROM cdp.campaign_send WHERE campaign_id = :ch AND status = 'due' \gset
SELECT count(cdp.upsert_clinical_event('his', 'visit-' || r.source_key, 'visit', jsonb_build_object('record_source_id', r.source_key,
	'at', '2026-03-05T10:00:00+03', 'status', 'done', 'specialty', 'therapy'))) AS visits
  FROM cdp.campaign_send s JOIN cdp.record r ON r.golden_id = s.golden_id WHERE s.campaign_id = :ch AND s.status IN ('sent', 'holdout') \gset
SELECT cdp.refresh_campaign_metrics(:ch, 30) AS returned \gset
SELECT ok((SELECT count(*) FILTER (WHERE status = 'holdout') > 0 AND count(*) FILTER (WHERE status = 'sent') > 0
             FROM cdp.campaign_send WHERE campaign_id = :ch), 'the uplift fixture has sent and holdout members');
SELECT is((SELECT coalesce(sum(sent), 0) || '/' || count(*) FILTER (WHERE arm = 'holdout') FROM cdp.campaign_metrics WHERE campaign_id = :ch),
          (SELECT count(*) || '/0' FROM cdp.campaign_send WHERE campaign_id = :ch AND status = 'sent'),
          'campaign_metrics counts the sent rows only, never a holdout member');
SELECT is((SELECT DISTINCT holdout_members || '/' || holdout_returned FROM cdp.campaign_uplift(:ch)),
          (SELECT count(*) || '/' || count(*) FROM cdp.campaign_send WHERE campaign_id = :ch AND status = 'holdout'),
          'the uplift counts every holdout member and their visits');
SELECT is((SELECT sum(members) || '/' || sum(returned) FROM cdp.campaign_uplift(:ch)),
          (SELECT count(*) || '/' || count(*) FROM cdp.campaign_send WHERE campaign_id = :ch AND status = 'sent'),
          'each arm counts its sent members only');

-- ---------------------------------------------------------------- duplicates: three records of one person, two unmerged
SELECT count(cdp.upsert_record('his', 'd' || i, '{"family_name": "Дублева", "given_name": "Вера", "sex": "F", "birth_date": "1975-05-05",
         "phones": ["+79167770000"]}')) FROM generate_series(1, 3) i;
SELECT cdp.link_records((SELECT record_id FROM cdp.record WHERE source_key = 'd1'), (SELECT record_id FROM cdp.record WHERE source_key = 'd2'), '{"by": "test"}') IS NOT NULL AS l \gset
SELECT cdp.set_consent(cdp.golden_id('his', 'd1'), 'marketing', 'sms', true, '2026-01-01') IS NOT NULL AS c \gset
SELECT cdp.set_consent(cdp.golden_id('his', 'd3'), 'marketing', 'sms', true, '2026-01-01') IS NOT NULL AS c \gset
SELECT cdp.refresh_segment(:seg, 'full') IS NOT NULL AS r \gset
SELECT cdp.create_campaign((SELECT d FROM good) || '{"name": "дубли", "channels": ["sms"], "templates": {"sms": "{given_name}"}, "cap": {"max": 9, "per": "1 day"}}') AS cd \gset
SELECT cdp.build_send_list(:cd, '2026-03-02 12:00+03') IS NOT NULL AS built \gset
SELECT is((SELECT count(*) FROM cdp.send_list WHERE campaign_id = :cd AND address = '+79167770000'), 1::bigint,
          'three records, two persons not merged yet: one message to the phone');
SELECT is((SELECT reason FROM cdp.campaign_send WHERE campaign_id = :cd AND status = 'skipped' AND golden_id IN (cdp.golden_id('his', 'd1'), cdp.golden_id('his', 'd3'))),
          'duplicate_address', 'the other is counted as a duplicate address');
SELECT is((SELECT (detail -> 'not_sent' ->> 'duplicate_address') || ' / ' || cardinality(golden_ids) FROM cdp.audit_log
            WHERE action = 'campaign.send_list_built' AND detail ->> 'campaign_id' = :'cd' ORDER BY audit_id DESC LIMIT 1),
          '1 / ' || (SELECT count(*) FROM cdp.campaign_send WHERE campaign_id = :cd AND status = 'due'),
          'a first listing with a duplicate address counts it and audits the due rows left (the rows read back)');

-- ---------------------------------------------------------------- delivery events and metrics
SELECT send_id AS sp1 FROM cdp.campaign_send s JOIN cdp.record r ON r.golden_id = s.golden_id WHERE s.campaign_id = :c1 AND r.source_key = 'p1' \gset
SELECT send_id AS sp2 FROM cdp.campaign_send s JOIN cdp.record r ON r.golden_id = s.golden_id WHERE s.campaign_id = :c1 AND r.source_key = 'p2' \gset
SELECT is(cdp.record_delivery_event(:sp1, 'delivered', '2026-03-02 12:01+03', '{"event_id": "gw-1"}'), 'recorded', 'a delivery is recorded');
SELECT is(cdp.record_delivery_event(:sp1, 'delivered', '2026-03-02 12:01+03', '{"event_id": "gw-1"}'), 'duplicate', 'a webhook retried is a duplicate');
SELECT is(cdp.record_delivery_event(:sp1, 'delivered', '2026-03-02 12:01+03', '{"event_id": "gw-1"}'), 'duplicate', 'and again');
SELECT is(cdp.record_delivery_event(:sp1, 'opened', '2026-03-02 13:00+03'), 'recorded', 'an open without an event id');
SELECT is(cdp.record_delivery_event(:sp1, 'clicked', '2026-03-02 13:01+03'), 'recorded', 'a click');
SELECT is(cdp.record_delivery_event(:sp1, 'converted', '2026-03-03 10:00+03', '{"kind": "paid", "amount": 4500}'), 'recorded', 'a paid conversion');
SELECT is(cdp.record_delivery_event(:sp2, 'bounced', '2026-03-02 12:02+03', '{"type": "hard"}'), 'recorded', 'a hard bounce');
SELECT throws_ok($$SELECT cdp.record_delivery_event(987654321, 'delivered', now())$$, 'P0002', 'send "987654321" does not exist', 'an unknown send id is an error');
SELECT throws_ok(format($$SELECT cdp.record_delivery_event(%s, 'teleported', now())$$, :sp1), '22023', 'unknown delivery event kind "teleported"', 'an unknown kind is an error');
SELECT throws_ok(format($$SELECT cdp.record_delivery_event(%s, 'delivered', now())$$, :s3), '55000', NULL, 'an event for a row never sent is an error');
SELECT ok(EXISTS (SELECT 1 FROM cdp_internal.campaign_address_block WHERE address_key = '+79165550002'), 'a hard bounce blocks the address');
SELECT cdp.create_campaign((SELECT d FROM good) || '{"name": "после отказа", "channels": ["sms"], "templates": {"sms": "{given_name}"}, "cap": {"max": 9, "per": "1 day"}}') AS cb \gset
SELECT cdp.build_send_list(:cb, '2026-03-04 12:00+03') IS NOT NULL AS built \gset
SELECT is((SELECT reason FROM cdp.campaign_send s JOIN cdp.record r ON r.golden_id = s.golden_id WHERE s.campaign_id = :cb AND r.source_key = 'p2'),
          'suppressed', 'a hard-bounced number is not used by a later campaign');
-- bulk: a staged batch with a duplicate and an unsubscribe
INSERT INTO cdp.delivery_event_staging (send_id, kind, at, provider_event_id, detail) VALUES
	(:sp1, 'delivered', '2026-03-02 12:01+03', 'gw-1', '{}'),
	(:sp1, 'unsubscribed', '2026-03-04 09:00+03', 'gw-9', '{}'),
	(:sp1, 'unsubscribed', '2026-03-04 09:00+03', 'gw-9', '{}');
SELECT is(cdp.ingest_delivery_events(), '{"staged": 3, "recorded": 1, "duplicates": 2}'::jsonb, 'the bulk path records each event once');
SELECT ok(NOT cdp.may_contact(cdp.golden_id('his', 'p1'), 'marketing', 'messenger'), 'an unsubscribe withdraws the channel''s marketing consent');
INSERT INTO cdp.delivery_event_staging (send_id, kind, at) VALUES (:sp1, 'opened', now()), (123456789, 'opened', now());
SELECT throws_ok($$SELECT cdp.ingest_delivery_events()$$, 'P0002', NULL, 'a staged event of an unknown send refuses the batch');
SELECT is((SELECT count(*) FROM cdp.campaign_delivery WHERE send_id = :sp1 AND kind = 'opened'), 1::bigint, 'nothing of the refused batch was written');
DELETE FROM cdp.delivery_event_staging;
INSERT INTO cdp.delivery_event_staging (send_id, kind, at, detail) VALUES (:sp1, 'opened', now(), '{}'), (:sp1, 'bounced', now(), '{}');
SELECT throws_ok($$SELECT cdp.ingest_delivery_events()$$, '22023', 'a bounce is hard or soft', 'a staged bounce without its type refuses the batch');
DELETE FROM cdp.delivery_event_staging;
INSERT INTO cdp.delivery_event_staging (send_id, kind, at, provider_event_id) VALUES (:sp1, 'complained', '2026-03-05 10:00+03', 'gw-10');
SELECT is(cdp.ingest_delivery_events() ->> 'recorded', '1', 'a complaint staged in bulk is recorded');
SELECT ok(EXISTS (SELECT 1 FROM cdp_internal.campaign_address_block b JOIN cdp.campaign_send s ON s.address = b.address_key
                   WHERE s.send_id = :sp1 AND b.reason = 'complaint'), 'and blocks the address for every campaign');
-- metrics by hand: campaign 1 sent p1 and p2 on 2026-03-02 (Moscow): 1 delivered, 1 opened, 1 clicked, 1 converted 4500, 1 hard bounce
SELECT is((SELECT row(sent, delivered, opened, clicked, converted, revenue, bounced, hard_bounced, unsubscribed)::text
             FROM (SELECT sum(sent) sent, sum(delivered) delivered, sum(opened) opened, sum(clicked) clicked, sum(converted) converted,
                          sum(revenue) revenue, sum(bounced) bounced, sum(hard_bounced) hard_bounced, sum(unsubscribed) unsubscribed
                     FROM cdp.campaign_metrics WHERE campaign_id = :c1 AND day = '2026-03-02') m),
          '(2,1,1,1,1,4500,1,1,1)', 'campaign_metrics counts what happened');
SELECT is((SELECT deliverability || '/' || ctr || '/' || click_to_open || '/' || conversion_rate
             FROM cdp.campaign_metrics WHERE campaign_id = :c1 AND day = '2026-03-02' AND channel = 'messenger'),
          '1.0000/1.0000/1.0000/1.0000', 'rates of the messenger row');
SELECT is((SELECT string_agg(stage || '=' || n, ',' ORDER BY step) FROM cdp.campaign_funnel WHERE campaign_id = :c1 AND channel = 'sms'),
          'sent=1,delivered=0,opened=0,clicked=0,converted=0', 'the funnel of the sms channel');

-- ---------------------------------------------------------------- re-test reminders
SELECT cdp.upsert_clinical_event('his', 'rec1', 'recommendation', jsonb_build_object('record_source_id', 'p6',
	'text', 'повторить анализ', 'code', 'HBA1C', 'at', '2026-03-01T10:00:00+03', 'due_date', '2026-03-20')) IS NOT NULL AS r1 \gset
SELECT cdp.upsert_clinical_event('his', 'rec2', 'recommendation', jsonb_build_object('record_source_id', 'p0',
	'text', 'повторить анализ', 'code', 'HBA1C', 'at', '2026-03-01T10:00:00+03', 'due_date', '2026-03-20')) IS NOT NULL AS r2 \gset
SELECT cdp.create_offer('{"name": "Анализы -10%", "service": "lab", "valid_from": "2026-01-01", "valid_to": "2026-12-31"}') AS offer2 \gset
SELECT cdp.create_campaign(jsonb_build_object('name', 'Напоминание о пересдаче', 'purpose', 'treatment', 'offer', :offer2,
	'trigger', '{"kind": "recommendation", "days_before": 7}'::jsonb, 'channels', '["sms"]'::jsonb,
	'templates', '{"sms": "{given_name}, врач рекомендовал сдать {test} до {due_date}"}'::jsonb,
	'offer_templates', '{"sms": "{given_name}, врач рекомендовал сдать {test} до {due_date}; до {offer_until} скидка 10%"}'::jsonb,
	'window', '{"hours": [0, 24]}'::jsonb)) AS cr \gset
SELECT cdp.set_campaign_status(:cr, 'running') AS st \gset
SELECT is(cdp.run_campaigns('2026-03-10 12:00+03') -> :'cr' ->> 'due', '0', 'eleven days before: nothing fires');
SELECT is(cdp.run_campaigns('2026-03-14 12:00+03') -> :'cr' ->> 'due', '2', 'seven days before: both reminders fire');
SELECT is(cdp.run_campaigns('2026-03-15 12:00+03') -> :'cr' ->> 'due', '2', 'the same due date never fires twice');
SELECT is((SELECT message FROM cdp.campaign_send s JOIN cdp.record r ON r.golden_id = s.golden_id WHERE s.campaign_id = :cr AND r.source_key = 'p6'),
          'Анна, врач рекомендовал сдать HBA1C до 20.03.2026; до 31.12.2026 скидка 10%', 'with marketing consent on sms the reminder shows the benefit');
SELECT is((SELECT message FROM cdp.campaign_send s JOIN cdp.record r ON r.golden_id = s.golden_id WHERE s.campaign_id = :cr AND r.source_key = 'p0'),
          'Анна, врач рекомендовал сдать HBA1C до 20.03.2026', 'without it, no advertising at all');
SELECT cdp.upsert_clinical_event('his', 'lab1', 'lab_test', jsonb_build_object('record_source_id', 'p0', 'code', 'HBA1C',
	'result', '5.9', 'taken_at', '2026-03-16T09:00:00+03')) IS NOT NULL AS l1 \gset
SELECT is(cdp_internal.campaign_mark((SELECT send_id FROM cdp.campaign_send s JOIN cdp.record r ON r.golden_id = s.golden_id
                                       WHERE s.campaign_id = :cr AND r.source_key = 'p0'), '2026-03-16 12:00+03'),
          'already_done', 'a re-test already done cancels the reminder');

SELECT * FROM finish();
ROLLBACK;
