-- test/pgtap/85_campaign_rules.sql: campaign rules closed after the audit of issue 14 (session 24,
-- doc/campaigns.md): pause and resume keep the messages, a scheduled campaign starts at its start,
-- every change is an event; mark_sent and the campaign's start, end and the row's due time; its own
-- consent (a merge bringing in a withdrawal), cap, quiet period, contraindication, duplicate and
-- erased checks; one reminder per test and due date across sources and merges; a reminder's benefit
-- re-checked at send time and tied to the recommended service; conversions booked or paid, revenue
-- from payments; the funnel by day, the uplift by date range with its confidence interval, the
-- rates against hand-computed values; the after-event and birthday triggers (29 February).
BEGIN;
SELECT plan(73);

SELECT cdp.register_source('his', 'internal', 80) IS NOT NULL AS src \gset
SELECT cdp.register_source('lab', 'internal', 70) IS NOT NULL AS src \gset
-- w1..w4: women with a mobile number and marketing consent on sms
SELECT count(cdp.upsert_record('his', 'w' || i, jsonb_build_object('family_name', 'Правило' || i, 'given_name', 'Анна',
         'sex', 'F', 'birth_date', (date '1980-01-01' + i)::text, 'city', 'Москва',
         'phones', jsonb_build_array('+7916444000' || i))))
  FROM generate_series(1, 4) i;
SELECT count(cdp.set_consent(cdp.golden_id('his', 'w' || i), 'marketing', 'sms', true, '2026-01-01')) FROM generate_series(1, 4) i;
SELECT cdp.create_segment('правила', '{"attr": "sex", "op": "=", "value": "F"}') AS seg \gset
SELECT cdp.refresh_segment(:seg, 'full') IS NOT NULL AS refreshed \gset
CREATE TEMP TABLE good AS SELECT jsonb_build_object('name', 'правило', 'segment', :seg, 'channels', '["sms"]'::jsonb,
	'templates', '{"sms": "{given_name}, акция"}'::jsonb, 'window', '{"hours": [0, 24]}'::jsonb) AS d;
CREATE FUNCTION pg_temp.send_of(c bigint, key text) RETURNS bigint LANGUAGE sql AS $$
	SELECT s.send_id FROM cdp.campaign_send s JOIN cdp.record r ON r.golden_id = s.golden_id
	 WHERE s.campaign_id = c AND r.source_key = key ORDER BY s.send_id LIMIT 1
$$;
CREATE FUNCTION pg_temp.events(c bigint, k text) RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM cdp.event WHERE kind = k AND subject IS NOT DISTINCT FROM c
$$;

-- ---------------------------------------------------------------- G1: pause and resume, scheduled, events
SELECT cdp.create_campaign((SELECT d FROM good)) AS cp \gset
SELECT is(cdp.build_send_list(:cp, '2026-05-04 10:00+03') ->> 'due', '4', 'four messages listed');
SELECT is(cdp.set_campaign_status(:cp, 'paused'), 'paused', 'paused');
SELECT is((SELECT count(*) FROM cdp.send_list WHERE campaign_id = :cp), 0::bigint, 'a paused campaign has nothing in the send list');
SELECT is(cdp_internal.campaign_mark(pg_temp.send_of(:cp, 'w1'), '2026-05-04 10:05+03'), 'campaign_paused',
          'mark_sent while paused: campaign_paused, nothing sent');
SELECT is(cdp.set_campaign_status(:cp, 'running'), 'running', 'resumed');
SELECT is((SELECT count(*) FROM cdp.send_list WHERE campaign_id = :cp), 4::bigint, 'resuming brings the four messages back');
SELECT is(cdp.build_send_list(:cp, '2026-05-04 11:00+03') ->> 'due', '4', 'a rebuild after the resume keeps the due count');
SELECT is(cdp_internal.campaign_mark(pg_temp.send_of(:cp, 'w1'), '2026-05-04 11:05+03'), 'sent', 'a resumed message is sent');
SELECT cdp.set_campaign_status(:cp, 'paused') AS st \gset
SELECT is(cdp.set_campaign_status(:cp, 'running'), 'running', 'paused and resumed again');
SELECT is((SELECT string_agg(status, ',' ORDER BY status) FROM cdp.campaign_send WHERE campaign_id = :cp), 'due,due,due,sent',
          'a second pause and resume never makes a sent message due again');
SELECT cdp.set_campaign_status(:cp, 'paused') AS st \gset
SELECT cdp.set_campaign_status(:cp, 'scheduled') AS st \gset
SELECT is((SELECT count(*) FROM cdp.send_list WHERE campaign_id = :cp), 0::bigint, 'paused, then scheduled: still held back');
SELECT is(cdp.run_campaigns('2026-05-04 12:00+03') -> :'cp' ->> 'due', '3', 'when the scheduled campaign starts, the held rows are due again');

SELECT pg_temp.events(:cp, 'campaign.edited') AS ed0, pg_temp.events(:cp, 'campaign.status') AS st0,
       pg_temp.events(NULL, 'campaign.rebuilt') AS rb0 \gset
SELECT cdp.edit_campaign(:cp, (SELECT doc FROM cdp.campaign WHERE campaign_id = :cp) || '{"name": "правило v2"}') AS v \gset
SELECT is(pg_temp.events(:cp, 'campaign.edited'), (:ed0 + 1)::bigint, 'an edit writes a campaign.edited event');
SELECT cdp.copy_campaign(:cp) AS ccopy \gset
SELECT is((SELECT (payload ->> 'copied_from')::bigint FROM cdp.event WHERE kind = 'campaign.created' AND subject = :ccopy), :cp::bigint,
          'a copy writes a campaign.created event naming its original');
SELECT cdp.archive_campaign(:ccopy) AS a \gset
SELECT cdp.archive_campaign(:ccopy, false) AS r \gset
SELECT is((SELECT string_agg(payload ->> 'status', ',' ORDER BY event_id) FROM cdp.event WHERE kind = 'campaign.status' AND subject = :ccopy),
          'archived,paused', 'archive and restore each write a campaign.status event');
SELECT ok(cdp.rebuild_campaigns() > 0, 'the projections are rebuilt');
SELECT is(pg_temp.events(NULL, 'campaign.rebuilt'), (:rb0 + 1)::bigint, 'a rebuild writes a campaign.rebuilt event');
SELECT is((SELECT name || '/' || status FROM cdp.campaign WHERE campaign_id = :cp), 'правило v2/running', 'the rebuild gives the same projection');

-- a scheduled promotion starts at its start (run_campaigns, from run_maintenance)
SELECT cdp.create_campaign((SELECT d FROM good) || '{"name": "по расписанию", "start": "2026-05-10T09:00:00+03"}') AS csch \gset
SELECT cdp.set_campaign_status(:csch, 'scheduled') AS st \gset
SELECT cdp.run_campaigns('2026-05-09 12:00+03') AS r \gset
SELECT is((SELECT status FROM cdp.campaign WHERE campaign_id = :csch) || '/' || (SELECT count(*) FROM cdp.campaign_send WHERE campaign_id = :csch),
          'scheduled/0', 'before its start a scheduled campaign waits');
SELECT is(cdp.run_campaigns('2026-05-10 09:30+03') -> :'csch' ->> 'due', '4', 'at its start its list is built');
SELECT is((SELECT status FROM cdp.campaign WHERE campaign_id = :csch), 'running', 'and it runs');

-- ---------------------------------------------------------------- G2: landline only is no_address (86_campaign_equiv: both paths agree)
SELECT cdp.upsert_record('his', 'land', '{"family_name": "Правило9", "given_name": "Нина", "sex": "F", "birth_date": "1970-04-04", "city": "Москва", "phones": ["+74955551006"]}') IS NOT NULL AS l \gset
SELECT cdp.set_consent(cdp.golden_id('his', 'land'), 'marketing', 'sms', true, '2026-01-01') IS NOT NULL AS c \gset
SELECT cdp.refresh_segment(:seg, 'full') IS NOT NULL AS refreshed \gset
SELECT cdp.create_campaign((SELECT d FROM good) || '{"name": "стационарный"}') AS cland \gset
SELECT cdp.build_send_list(:cland, '2026-05-11 10:00+03') IS NOT NULL AS built \gset
SELECT is((SELECT reason FROM cdp.campaign_send WHERE campaign_id = :cland AND golden_id = cdp.golden_id('his', 'land')), 'no_address',
          'a member whose only number is a landline has no address for sms (not suppressed)');

-- ---------------------------------------------------------------- G3: start, end, due time
SELECT cdp.create_campaign((SELECT d FROM good) || '{"name": "конец", "end": "2026-05-20T23:59:00+03"}') AS cend \gset
SELECT cdp.build_send_list(:cend, '2026-05-18 10:00+03') IS NOT NULL AS built \gset
SELECT is(cdp_internal.campaign_mark(pg_temp.send_of(:cend, 'w2'), '2026-05-21 10:00+03'), 'campaign_ended', 'a day after the end: refused');
SELECT is((SELECT status FROM cdp.campaign_send WHERE send_id = pg_temp.send_of(:cend, 'w2')), 'refused', 'the row is refused');
SELECT cdp.create_campaign((SELECT d FROM good) || '{"name": "начало", "start": "2026-06-01T09:00:00+03"}') AS cstart \gset
SELECT cdp.build_send_list(:cstart, '2026-05-18 10:00+03') IS NOT NULL AS built \gset
SELECT is((SELECT due_at FROM cdp.campaign_send WHERE send_id = pg_temp.send_of(:cstart, 'w2')), '2026-06-01 09:00+03'::timestamptz,
          'listed before the start: due at the start');
SELECT is(cdp_internal.campaign_mark(pg_temp.send_of(:cstart, 'w2'), '2026-05-18 10:05+03'), 'not_yet', 'before the start: not yet');
SELECT is((SELECT status || '/' || due_at FROM cdp.campaign_send WHERE send_id = pg_temp.send_of(:cstart, 'w2')),
          'due/' || '2026-06-01 09:00+03'::timestamptz, 'the row stays due at its time');
SELECT is(cdp_internal.campaign_mark(pg_temp.send_of(:cstart, 'w2'), '2026-06-01 09:00+03'), 'sent', 'at the start it is sent');
SELECT cdp.create_campaign((SELECT d FROM good) || '{"name": "окно", "window": {"hours": [9, 10]}}') AS cwin \gset
SELECT cdp.build_send_list(:cwin, '2026-05-18 09:30+03') IS NOT NULL AS built \gset
SELECT is(cdp_internal.campaign_mark(pg_temp.send_of(:cwin, 'w2'), '2026-05-18 10:30+03'), 'outside_window', 'after its due time but outside the window');
SELECT is((SELECT status || '/' || due_at FROM cdp.campaign_send WHERE send_id = pg_temp.send_of(:cwin, 'w2')),
          'due/' || '2026-05-19 09:00+03'::timestamptz, 'due again at the next opening of the window');

-- ---------------------------------------------------------------- mark_sent's quiet period and cap, and a quiet period past the end
SELECT cdp.create_campaign((SELECT d FROM good) || '{"name": "первая"}') AS q1 \gset
SELECT cdp.create_campaign((SELECT d FROM good) || '{"name": "тихая", "cap": {"quiet": "3 days"}}') AS q2 \gset
SELECT cdp.create_campaign((SELECT d FROM good) || '{"name": "тихая до конца", "cap": {"quiet": "3 days"}, "end": "2026-07-02T23:00:00+03"}') AS q3 \gset
SELECT cdp.create_campaign((SELECT d FROM good) || '{"name": "лимит", "cap": {"max": 1, "per": "1 day"}}') AS q4 \gset
-- the capped campaign is listed first (the others' due rows would cap it at listing already)
SELECT cdp.build_send_list(:q4, '2026-07-01 10:00+03') IS NOT NULL AS built \gset
SELECT cdp.build_send_list(:q1, '2026-07-01 10:00+03') IS NOT NULL AS built \gset
SELECT cdp.build_send_list(:q2, '2026-07-01 10:00+03') IS NOT NULL AS built \gset
SELECT cdp.build_send_list(:q3, '2026-07-01 10:00+03') IS NOT NULL AS built \gset
SELECT is(cdp_internal.campaign_mark(pg_temp.send_of(:q1, 'w3'), '2026-07-01 10:05+03'), 'sent', 'the first message is sent');
SELECT is(cdp_internal.campaign_mark(pg_temp.send_of(:q2, 'w3'), '2026-07-01 10:10+03'), 'quiet_period', 'mark_sent: the quiet period after it');
SELECT is((SELECT due_at FROM cdp.campaign_send WHERE send_id = pg_temp.send_of(:q2, 'w3')), '2026-07-04 10:05+03'::timestamptz,
          'due again three days after the last message');
SELECT is(cdp_internal.campaign_mark(pg_temp.send_of(:q3, 'w3'), '2026-07-01 10:10+03'), 'outside_window',
          'a quiet period ending after the campaign: refused, never moved past the end');
SELECT is((SELECT status FROM cdp.campaign_send WHERE send_id = pg_temp.send_of(:q3, 'w3')), 'refused', 'that row is refused');
SELECT is(cdp_internal.campaign_mark(pg_temp.send_of(:q4, 'w3'), '2026-07-01 10:15+03'), 'capped', 'mark_sent: the cap counts the message sent since the listing');

-- ---------------------------------------------------------------- contraindication at send time
SELECT cdp.create_offer('{"name": "Без диабета", "exclude_icd10": ["E11"], "valid_from": "2026-01-01", "valid_to": "2026-12-31"}') AS ofe \gset
SELECT cdp.create_campaign((SELECT d FROM good) || jsonb_build_object('name', 'противопоказание', 'offer', :ofe)) AS cci \gset
SELECT cdp.build_send_list(:cci, '2026-07-10 10:00+03') IS NOT NULL AS built \gset
SELECT cdp.upsert_clinical_event('his', 'dx-w4', 'diagnosis', '{"code": "E11", "at": "2026-07-10T11:00:00+03", "record_source_id": "w4"}') IS NOT NULL AS dx \gset
SELECT is(cdp_internal.campaign_mark(pg_temp.send_of(:cci, 'w4'), '2026-07-10 12:00+03'), 'contraindication:E11',
          'a diagnosis recorded after the listing refuses the promotion');
SELECT cdp.create_campaign((SELECT d FROM good) || jsonb_build_object('name', 'срок акции', 'offer',
	cdp.create_offer('{"name": "Короткая", "valid_from": "2026-01-01", "valid_to": "2026-07-15"}'))) AS cexp \gset
SELECT cdp.build_send_list(:cexp, '2026-07-10 10:00+03') IS NOT NULL AS built \gset
SELECT is(cdp_internal.campaign_mark(pg_temp.send_of(:cexp, 'w1'), '2026-07-16 12:00+03'), 'offer_expired', 'after the offer''s last day: refused');

-- ---------------------------------------------------------------- consent at send time: a merge brings in a withdrawal
SELECT cdp.upsert_record('his', 'ma', '{"family_name": "Правилослияния", "given_name": "Анна", "sex": "F", "birth_date": "1981-02-02", "city": "Москва", "phones": ["+79164440031"]}') IS NOT NULL AS a \gset
SELECT cdp.upsert_record('lab', 'mb', '{"family_name": "Правилослияния", "given_name": "Анна", "sex": "F", "birth_date": "1981-02-02", "city": "Москва", "phones": ["+79164440031"]}') IS NOT NULL AS b \gset
SELECT cdp.set_consent(cdp.golden_id('his', 'ma'), 'marketing', 'sms', true, '2026-01-01') IS NOT NULL AS c \gset
SELECT cdp.refresh_segment(:seg, 'full') IS NOT NULL AS refreshed \gset
SELECT cdp.create_campaign((SELECT d FROM good) || '{"name": "слияние"}') AS cm \gset
SELECT cdp.build_send_list(:cm, '2026-07-20 10:00+03') IS NOT NULL AS built \gset
SELECT cdp.set_consent(cdp.golden_id('lab', 'mb'), 'marketing', 'sms', false, '2026-07-20 10:30+03') IS NOT NULL AS w \gset
SELECT is((SELECT status FROM cdp.campaign_send WHERE send_id = pg_temp.send_of(:cm, 'ma')), 'due', 'the withdrawal was another person''s: the row stays due');
SELECT cdp.link_records((SELECT record_id FROM cdp.record WHERE source_key = 'ma'), (SELECT record_id FROM cdp.record WHERE source_key = 'mb'), '{"by": "test"}') IS NOT NULL AS l \gset
SELECT is(cdp_internal.campaign_mark(pg_temp.send_of(:cm, 'ma'), '2026-07-20 11:00+03'), 'no_consent',
          'after the merge the person''s later withdrawal refuses the send');

-- ---------------------------------------------------------------- an erased patient's send id
SELECT pg_temp.send_of(:cp, 'w4') AS s_er \gset
SELECT cdp.erase_patient(cdp.golden_id('his', 'w4'), 'test') IS NOT NULL AS erased \gset
SELECT is(cdp_internal.campaign_mark(:s_er, '2026-07-21 10:00+03'), 'erased', 'mark_sent on an erased patient''s send id: erased, no error');
SELECT throws_ok($$SELECT cdp_internal.campaign_mark(9223372036854775000, now())$$, 'P0002', NULL, 'a send id never issued is still an error');

-- ---------------------------------------------------------------- G4: one reminder per test and due date
SELECT cdp.upsert_record('his', 'r1', '{"family_name": "Напоминаева", "given_name": "Ольга", "sex": "F", "birth_date": "1970-01-01", "city": "Москва", "phones": ["+79164440101"]}') IS NOT NULL AS a \gset
SELECT cdp.upsert_record('lab', 'r1x', '{"family_name": "Напоминаева", "given_name": "Ольга", "sex": "F", "birth_date": "1970-01-01", "city": "Москва", "phones": ["+79164440101"]}') IS NOT NULL AS b \gset
SELECT cdp.link_records((SELECT record_id FROM cdp.record WHERE source_key = 'r1'), (SELECT record_id FROM cdp.record WHERE source_key = 'r1x'), '{"by": "test"}') IS NOT NULL AS l \gset
SELECT cdp.upsert_clinical_event('his', 'rA', 'recommendation', '{"record_source_id": "r1", "text": "повторить", "code": "HBA1C", "at": "2026-08-01T10:00:00+03", "due_date": "2026-08-20"}') IS NOT NULL AS ra \gset
SELECT cdp.upsert_clinical_event('lab', 'rB', 'recommendation', '{"record_source_id": "r1x", "text": "повторить", "code": "hba1c", "at": "2026-08-02T10:00:00+03", "due_date": "2026-08-20"}') IS NOT NULL AS rb \gset
-- two persons, not merged yet, each recommended the same re-test for the same day
SELECT cdp.upsert_record('his', 'r2', '{"family_name": "Двоева", "given_name": "Зоя", "sex": "F", "birth_date": "1971-03-03", "city": "Москва", "phones": ["+79164440102"]}') IS NOT NULL AS a \gset
SELECT cdp.upsert_record('lab', 'r3', '{"family_name": "Двоева", "given_name": "Зоя", "sex": "F", "birth_date": "1971-03-03", "city": "Москва", "emails": ["zoya.dvoeva@mail.ru"]}') IS NOT NULL AS b \gset
SELECT cdp.upsert_clinical_event('his', 'rC', 'recommendation', '{"record_source_id": "r2", "text": "повторить", "code": "HBA1C", "at": "2026-08-01T10:00:00+03", "due_date": "2026-08-20"}') IS NOT NULL AS rc \gset
SELECT cdp.upsert_clinical_event('lab', 'rD', 'recommendation', '{"record_source_id": "r3", "text": "повторить", "code": "HBA1C", "at": "2026-08-01T11:00:00+03", "due_date": "2026-08-20"}') IS NOT NULL AS rd \gset
SELECT cdp.create_campaign(jsonb_build_object('name', 'HBA1C', 'purpose', 'treatment',
	'trigger', '{"kind": "recommendation", "days_before": 7, "code": "HBA1C"}'::jsonb, 'channels', '["sms", "email"]'::jsonb,
	'templates', '{"sms": "{given_name}: {test} до {due_date}", "email": "{given_name}: {test} до {due_date}"}'::jsonb,
	'window', '{"hours": [0, 24]}'::jsonb)) AS cr \gset
SELECT cdp.set_campaign_status(:cr, 'running') AS st \gset
SELECT cdp.run_campaigns('2026-08-14 12:00+03') AS r \gset
SELECT is((SELECT count(*) FROM cdp.campaign_send WHERE campaign_id = :cr AND golden_id = cdp.golden_id('his', 'r1')), 1::bigint,
          'the same recommendation from two sources: one reminder');
SELECT is((SELECT trigger_key FROM cdp.campaign_send WHERE campaign_id = :cr AND golden_id = cdp.golden_id('his', 'r1')), 'rec:HBA1C:2026-08-20',
          'keyed by the test and the due date');
SELECT is((SELECT count(*) FROM cdp.campaign_send WHERE campaign_id = :cr AND status = 'due' AND golden_id IN (cdp.golden_id('his', 'r2'), cdp.golden_id('lab', 'r3'))),
          2::bigint, 'two persons not merged: a reminder each');
SELECT cdp.link_records((SELECT record_id FROM cdp.record WHERE source_key = 'r2'), (SELECT record_id FROM cdp.record WHERE source_key = 'r3'), '{"by": "test"}') IS NOT NULL AS l \gset
SELECT is((SELECT string_agg(x.r, ',' ORDER BY x.r) FROM (SELECT cdp_internal.campaign_mark(send_id, '2026-08-14 12:30+03') AS r
             FROM cdp.campaign_send WHERE campaign_id = :cr AND address IN ('+79164440102', 'zoya.dvoeva@mail.ru')) x),
          'duplicate,sent', 'merged before the send: one reminder goes, the other is a duplicate');

-- run_campaigns counts after the already-done pass
SELECT cdp.upsert_record('his', 'k1', '{"family_name": "Сделавшая", "given_name": "Вера", "sex": "F", "birth_date": "1972-06-06", "city": "Москва", "phones": ["+79164440103"]}') IS NOT NULL AS a \gset
SELECT cdp.upsert_clinical_event('his', 'rK', 'recommendation', '{"record_source_id": "k1", "text": "повторить", "code": "CHOL", "at": "2026-09-01T10:00:00+03", "due_date": "2026-09-20"}') IS NOT NULL AS rk \gset
SELECT cdp.upsert_clinical_event('his', 'lK', 'lab_test', '{"record_source_id": "k1", "code": "CHOL", "result": "4.1", "taken_at": "2026-09-10T10:00:00+03"}') IS NOT NULL AS lk \gset
SELECT cdp.create_campaign(jsonb_build_object('name', 'CHOL', 'purpose', 'treatment',
	'trigger', '{"kind": "recommendation", "days_before": 7, "code": "CHOL"}'::jsonb, 'channels', '["sms"]'::jsonb,
	'templates', '{"sms": "{given_name}: {test} до {due_date}"}'::jsonb, 'window', '{"hours": [0, 24]}'::jsonb)) AS ck \gset
SELECT cdp.set_campaign_status(:ck, 'running') AS st \gset
SELECT cdp.run_campaigns('2026-09-15 12:00+03') -> :'ck' AS rk \gset
SELECT is((:'rk'::jsonb ->> 'due') || '/' || (:'rk'::jsonb -> 'not_sent' ->> 'already_done'), '0/1',
          'run_campaigns returns the counts after the already-done pass');

-- ---------------------------------------------------------------- G5: a reminder's benefit
SELECT cdp.upsert_record('his', 'b1', '{"family_name": "Бенефитова", "given_name": "Нина", "sex": "F", "birth_date": "1971-02-02", "city": "Москва", "phones": ["+79164440111"]}') IS NOT NULL AS a \gset
SELECT cdp.set_consent(cdp.golden_id('his', 'b1'), 'marketing', 'sms', true, '2025-01-01') IS NOT NULL AS c \gset
SELECT cdp.upsert_clinical_event('his', 'rb1', 'recommendation', '{"record_source_id": "b1", "text": "повторить", "code": "GLU", "at": "2026-10-01T10:00:00+03", "due_date": "2026-10-20"}') IS NOT NULL AS r \gset
SELECT cdp.upsert_clinical_event('his', 'rb2', 'recommendation', '{"record_source_id": "b1", "text": "к урологу", "service": "urology", "at": "2026-10-01T10:00:00+03", "due_date": "2026-10-21"}') IS NOT NULL AS r \gset
SELECT cdp.create_offer('{"name": "Анализы -10%", "service": "lab", "valid_from": "2026-01-01", "valid_to": "2026-12-31"}') AS olab \gset
CREATE TEMP TABLE rem AS SELECT jsonb_build_object('name', 'с выгодой', 'purpose', 'treatment', 'offer', :olab,
	'trigger', '{"kind": "recommendation", "days_before": 7}'::jsonb, 'channels', '["sms"]'::jsonb,
	'templates', '{"sms": "{given_name}: {test} до {due_date}"}'::jsonb,
	'offer_templates', '{"sms": "{given_name}: {test} до {due_date}; скидка до {offer_until}"}'::jsonb,
	'window', '{"hours": [0, 24]}'::jsonb, 'start', '2026-10-01T00:00:00+03', 'end', '2026-10-31T00:00:00+03') AS d;
SELECT cdp.create_campaign((SELECT d FROM rem)) AS cb \gset
SELECT cdp.set_campaign_status(:cb, 'running') AS st \gset
SELECT cdp.run_campaigns('2026-10-14 12:00+03') AS r \gset
SELECT is((SELECT message FROM cdp.campaign_send WHERE campaign_id = :cb AND provenance ->> 'test' = 'GLU'),
          'Нина: GLU до 20.10.2026; скидка до 31.12.2026', 'a lab offer shows its benefit in a lab re-test reminder');
SELECT is((SELECT message || '/' || (provenance ->> 'benefit') FROM cdp.campaign_send WHERE campaign_id = :cb AND provenance ->> 'test' = 'urology'),
          'Нина: urology до 21.10.2026/false', 'a lab offer is no benefit for a urology visit: no advertising');
SELECT cdp.set_consent(cdp.golden_id('his', 'b1'), 'marketing', 'sms', false, '2026-10-14 13:00+03') IS NOT NULL AS w \gset
SELECT is((SELECT status FROM cdp.campaign_send WHERE campaign_id = :cb AND provenance ->> 'test' = 'GLU'), 'due',
          'a marketing withdrawal does not cancel a treatment reminder');
SELECT is(cdp_internal.campaign_mark((SELECT send_id FROM cdp.campaign_send WHERE campaign_id = :cb AND provenance ->> 'test' = 'GLU'), '2026-10-14 14:00+03'),
          'sent', 'the reminder is sent');
SELECT is((SELECT message || '/' || (provenance ->> 'benefit') || '/' || (provenance ->> 'benefit_dropped')
             FROM cdp.campaign_send WHERE campaign_id = :cb AND provenance ->> 'test' = 'GLU'),
          'Нина: GLU до 20.10.2026/false/no_marketing_consent', 'without marketing consent it went as the plain reminder, no advertising');

-- ---------------------------------------------------------------- G6: conversions
SELECT cdp.record_delivery_event(pg_temp.send_of(:cp, 'w1'), 'converted', '2026-05-05 10:00+03', '{"kind": "booked", "amount": 4500, "event_id": "b"}') AS e1 \gset
SELECT cdp.record_delivery_event(pg_temp.send_of(:cp, 'w1'), 'converted', '2026-05-06 10:00+03', '{"kind": "paid", "amount": 4500, "event_id": "p"}') AS e2 \gset
SELECT is((SELECT revenue FROM cdp.campaign_send WHERE send_id = pg_temp.send_of(:cp, 'w1')), 4500::numeric, 'booked then paid 4500: revenue 4500');
SELECT is((SELECT sum(revenue) || '/' || sum(converted) FROM cdp.campaign_metrics WHERE campaign_id = :cp), '4500/1', 'the metrics count it once');
SELECT throws_ok(format($$SELECT cdp.record_delivery_event(%s, 'converted', now(), '{"kind": "whatever", "amount": 1}')$$, pg_temp.send_of(:cp, 'w1')),
                 '22023', 'a conversion is booked or paid', 'an unknown conversion kind is refused');
INSERT INTO cdp.delivery_event_staging (send_id, kind, at, detail) VALUES (pg_temp.send_of(:cp, 'w1'), 'converted', now(), '{"kind": "refund"}');
SELECT throws_ok($$SELECT cdp.ingest_delivery_events()$$, '22023', 'a conversion is booked or paid', 'and in a staged batch');
DELETE FROM cdp.delivery_event_staging;

-- ---------------------------------------------------------------- G7: metrics against hand-computed values
-- four messages sent on 2026-11-02: 3 delivered, 2 opened, 1 clicked, 1 paid 1000; one more on 2026-11-03
SELECT cdp.create_campaign((SELECT d FROM good) || '{"name": "метрики", "holdout": 0.5}') AS cmet \gset
INSERT INTO cdp.campaign_send (campaign_id, golden_id, trigger_key, purpose, status, channel, address, arm, due_at, built_at, sent_at, sent_day)
SELECT :cmet, -i, '', 'marketing', 'sent', 'sms', '+7900000000' || i, 'A', t, t, t, t::date
  FROM generate_series(1, 5) i, LATERAL (SELECT CASE WHEN i < 5 THEN timestamptz '2026-11-02 12:00+03' ELSE timestamptz '2026-11-03 12:00+03' END AS t) x;
SELECT count(cdp.record_delivery_event(s.send_id, e.kind, '2026-11-02 12:10+03', e.detail))
  FROM cdp.campaign_send s
  JOIN (VALUES (-1, 'delivered', '{}'::jsonb), (-2, 'delivered', '{}'), (-3, 'delivered', '{}'), (-1, 'opened', '{}'), (-2, 'opened', '{}'),
               (-1, 'clicked', '{}'), (-1, 'converted', '{"kind": "paid", "amount": 1000}')) e(g, kind, detail) ON e.g = s.golden_id
 WHERE s.campaign_id = :cmet;
SELECT is((SELECT row(sent, delivered, opened, clicked, converted, revenue, deliverability, ctr, click_to_open, conversion_rate)::text
             FROM cdp.campaign_metrics WHERE campaign_id = :cmet AND day = '2026-11-02'),
          '(4,3,2,1,1,1000,0.7500,0.3333,0.5000,0.3333)',
          'deliverability 3/4, CTR 1/3 (of delivered), click-to-open 1/2, conversion rate 1/3 (of delivered)');
SELECT is((SELECT string_agg(stage || '=' || n || ':' || share_of_sent, ',' ORDER BY step) FROM cdp.campaign_funnel WHERE campaign_id = :cmet AND day = '2026-11-02'),
          'sent=4:1.0000,delivered=3:0.7500,opened=2:0.5000,clicked=1:0.2500,converted=1:0.2500', 'the funnel of one day');
SELECT is((SELECT string_agg(day || '=' || n, ',' ORDER BY day) FROM cdp.campaign_funnel WHERE campaign_id = :cmet AND stage = 'sent'),
          '2026-11-02=4,2026-11-03=1', 'the funnel by day');
-- uplift: on 2026-11-02 arm A 4 of 10 came back, the holdout 2 of 10; on 2026-11-03 one more sent, who came back
INSERT INTO cdp.campaign_send (campaign_id, golden_id, trigger_key, purpose, status, channel, address, arm, due_at, built_at, sent_at, sent_day, returned_at)
SELECT :cmet, -10 - i, '', 'marketing', 'sent', 'sms', '+7900000010' || i, 'A', t, t, t, t::date, NULL
  FROM generate_series(1, 6) i, LATERAL (SELECT timestamptz '2026-11-02 12:00+03' AS t) x;
INSERT INTO cdp.campaign_send (campaign_id, golden_id, trigger_key, purpose, status, arm, due_at, built_at)
SELECT :cmet, -100 - i, '', 'marketing', 'holdout', 'holdout', '2026-11-02 12:00+03', '2026-11-02 12:00+03' FROM generate_series(1, 10) i;
UPDATE cdp.campaign_send SET returned_at = '2026-11-05 10:00+03' WHERE campaign_id = :cmet AND golden_id IN (-1, -2, -3, -4, -5, -101, -102);
SELECT is((SELECT members || '/' || returned || ' vs ' || holdout_members || '/' || holdout_returned FROM cdp.campaign_uplift(:cmet, '2026-11-02', '2026-11-02')),
          '10/4 vs 10/2', 'the uplift over one day counts that day''s rows');
SELECT is((SELECT round(uplift::numeric, 6) || ' [' || round(ci_low::numeric, 6) || ', ' || round(ci_high::numeric, 6) || ']'
             FROM cdp.campaign_uplift(:cmet, '2026-11-02', '2026-11-02')),
          '0.200000 [-0.191993, 0.591993]', 'uplift 0.4 - 0.2 with 0.2 -+ 1.959964 * sqrt(0.4*0.6/10 + 0.2*0.8/10)');
SELECT is((SELECT members || '/' || returned FROM cdp.campaign_uplift(:cmet)), '11/5', 'over every day: the day after counts too');
SELECT is((SELECT count(*) FROM cdp.campaign_uplift(:cmet, '2026-12-01', NULL)), 0::bigint, 'a range with no holdout: no row');
-- the returning-patient N follows the last refresh
SELECT cdp.upsert_record('his', 'v1', '{"family_name": "Вернувшаяся", "given_name": "Анна", "sex": "F", "birth_date": "1973-07-07", "city": "Москва", "phones": ["+79164440121"]}') IS NOT NULL AS a \gset
UPDATE cdp.campaign_send SET golden_id = cdp.golden_id('his', 'v1') WHERE campaign_id = :cmet AND golden_id = -5;
SELECT cdp.upsert_clinical_event('his', 'visit-v1', 'visit', '{"record_source_id": "v1", "at": "2026-11-13T10:00:00+03", "status": "done", "specialty": "therapy"}') IS NOT NULL AS v \gset
UPDATE cdp.campaign_send SET returned_at = NULL WHERE campaign_id = :cmet;
SELECT cdp.refresh_campaign_metrics(:cmet, 30) AS n30 \gset
SELECT is((SELECT returned_at FROM cdp.campaign_send WHERE campaign_id = :cmet AND golden_id = cdp.golden_id('his', 'v1')), '2026-11-13 10:00+03'::timestamptz,
          'a visit ten days after the message returns within 30 days');
SELECT cdp.refresh_campaign_metrics(:cmet, 7) AS n7 \gset
SELECT is((SELECT returned_at FROM cdp.campaign_send WHERE campaign_id = :cmet AND golden_id = cdp.golden_id('his', 'v1')), NULL::timestamptz,
          'refreshed with 7 days, it no longer counts');

-- ---------------------------------------------------------------- triggers: 11 months after a mammography, birthdays
SELECT cdp.upsert_record('his', 't2', '{"family_name": "Маммова", "given_name": "Ирина", "sex": "F", "birth_date": "1965-05-05", "city": "Новосибирск", "phones": ["+79164440201"]}') IS NOT NULL AS a \gset
SELECT cdp.set_consent(cdp.golden_id('his', 't2'), 'marketing', 'sms', true, '2025-01-01') IS NOT NULL AS c \gset
SELECT cdp.upsert_clinical_event('his', 'mammo', 'lab_test', '{"record_source_id": "t2", "code": "MAMMO", "result": "норма", "taken_at": "2026-01-15T10:00:00+03"}') IS NOT NULL AS m \gset
SELECT cdp.create_campaign(jsonb_build_object('name', 'маммография', 'trigger', '{"kind": "after_event", "event": "lab_test", "code": "MAMMO", "after": "11 months"}'::jsonb,
	'channels', '["sms"]'::jsonb, 'templates', '{"sms": "{given_name}, пора на маммографию"}'::jsonb, 'window', '{"hours": [0, 24]}'::jsonb)) AS cmam \gset
SELECT cdp.set_campaign_status(:cmam, 'running') AS st \gset
SELECT is(cdp.run_campaigns('2026-12-10 12:00+03') -> :'cmam' ->> 'due', '0', 'ten months and a half after the mammography: nothing');
SELECT is(cdp.run_campaigns('2026-12-15 12:00+03') -> :'cmam' ->> 'due', '1', 'eleven months after: the invitation');
SELECT is((SELECT message || '/' || due_at FROM cdp.campaign_send WHERE campaign_id = :cmam),
          'Ирина, пора на маммографию/' || '2026-12-15 12:00+03'::timestamptz, 'to her, at once');
SELECT is(cdp.run_campaigns('2026-12-16 12:00+03') -> :'cmam' ->> 'due', '1', 'the next day: not again');
SELECT cdp.upsert_record('his', 'bd1', '{"family_name": "Именинница", "given_name": "Дарья", "sex": "F", "birth_date": "1986-12-18", "city": "Москва", "phones": ["+79164440202"]}') IS NOT NULL AS a \gset
SELECT cdp.upsert_record('his', 'bd2', '{"family_name": "Високосная", "given_name": "Ева", "sex": "F", "birth_date": "1988-02-29", "city": "Москва", "phones": ["+79164440203"]}') IS NOT NULL AS a \gset
SELECT count(cdp.set_consent(cdp.golden_id('his', k), 'marketing', 'sms', true, '2025-01-01')) FROM unnest(ARRAY['bd1', 'bd2']) k;
SELECT cdp.create_campaign(jsonb_build_object('name', 'день рождения', 'trigger', '{"kind": "birthday"}'::jsonb,
	'channels', '["sms"]'::jsonb, 'templates', '{"sms": "{given_name}, с днём рождения"}'::jsonb, 'window', '{"hours": [0, 24]}'::jsonb)) AS cbd \gset
SELECT cdp.set_campaign_status(:cbd, 'running') AS st \gset
SELECT cdp.run_campaigns('2026-12-18 12:00+03') AS r \gset
SELECT is((SELECT string_agg(r.source_key || ':' || s.trigger_key || ':' || s.status, ',') FROM cdp.campaign_send s JOIN cdp.record r USING (golden_id)
            WHERE s.campaign_id = :cbd AND s.status = 'due'), 'bd1:birthday:2026:due', 'a birthday fires on the day');
SELECT cdp.run_campaigns('2027-02-28 12:00+03') AS r \gset
SELECT is((SELECT string_agg(s.trigger_key, ',') FROM cdp.campaign_send s WHERE s.campaign_id = :cbd AND s.golden_id = cdp.golden_id('his', 'bd2')),
          'birthday:2027', 'born on 29 February: greeted on 28 February in a year without one');
SELECT cdp.run_campaigns('2028-02-28 12:00+03') AS r \gset
SELECT is((SELECT count(*) FROM cdp.campaign_send s WHERE s.campaign_id = :cbd AND s.golden_id = cdp.golden_id('his', 'bd2')), 1::bigint,
          'in a leap year not on the 28th');
SELECT cdp.run_campaigns('2028-02-29 12:00+03') AS r \gset
SELECT is((SELECT string_agg(s.trigger_key, ',' ORDER BY s.trigger_key) FROM cdp.campaign_send s WHERE s.campaign_id = :cbd AND s.golden_id = cdp.golden_id('his', 'bd2')),
          'birthday:2027,birthday:2028', 'but on the 29th');

SELECT * FROM finish();
ROLLBACK;
