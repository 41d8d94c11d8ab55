-- test/pgtap/84_segment_audit.sql: the behaviour bugs the audit of issue 13 found (session 24),
-- each with the case that failed before the fix: a sensitive category reached through a
-- referenced segment edited later (r3) or through a campaign's history (r4), a clinical event
-- moved to another person (r1), a suppressed phone with an extension (r5), lists after merge and
-- unmerge (r10), reach counting members without an address (r9), a future-dated grant (r2), a
-- suppression lifted while wrongly merged (r7), "between" with reversed bounds, e-mail keys.
BEGIN;
SELECT plan(41);

SELECT cdp.register_source('his', 'internal', 80) IS NOT NULL AS src \gset
SELECT cdp.upsert_record('his', 'a', '{"family_name": "Аа", "given_name": "А", "sex": "F", "phones": ["+79160000001"]}') AS ra,
       cdp.upsert_record('his', 'b', '{"family_name": "Бб", "given_name": "Б", "sex": "F", "phones": ["+79160000002"]}') AS rb \gset
SELECT cdp.golden_id('his', 'a') AS ga, cdp.golden_id('his', 'b') AS gb \gset
SELECT count(cdp.set_consent(g, 'marketing', '*', true, now() - interval '1 day')) AS granted FROM unnest(ARRAY[:ga, :gb]::bigint[]) g \gset
SELECT cdp.upsert_clinical_event('his', 'dx1', 'diagnosis', '{"code": "B20", "at": "2026-06-01", "patient_source_id": "a"}') IS NOT NULL AS e1 \gset

-- ---------------------------------------------------------------- r3: sensitive through a referenced segment
SELECT cdp.create_segment('T', '{"attr": "sex", "op": "=", "value": "F"}', 'treatment') AS t \gset
SELECT cdp.create_segment('U', format('{"segment": %s}', :t)::jsonb, 'treatment') AS u \gset
SELECT cdp.create_segment('M', format('{"segment": %s}', :u)::jsonb, 'marketing') AS m \gset
SELECT throws_ok(format('SELECT cdp.edit_segment(%s, %L)', :t, '{"event": "diagnosis", "where": {"code": "B20"}}'), '22023',
                 format('segment %s may not target a sensitive category: marketing segment %s ("M") references it', :t, :m),
                 'r3: a treatment segment a marketing segment references (through another) may not be edited to target HIV');
SELECT is((SELECT version FROM cdp.segment WHERE segment_id = :t), 1, 'r3: and nothing is saved');
SELECT cdp.refresh_segment(:t, 'full') IS NOT NULL AS rt, cdp.refresh_segment(:u, 'full') IS NOT NULL AS ru,
       cdp.refresh_segment(:m, 'full') ->> 'size' AS m_size \gset
SELECT is(:'m_size'::text, '2', 'r3: the marketing segment has its members');
-- archived, the marketing segment does not hold the edit back; restored, its refresh is refused and empties it
SELECT lives_ok(format('SELECT cdp.archive_segment(%s)', :m), 'r3: archive the marketing segment');
SELECT is(cdp.edit_segment(:t, '{"event": "diagnosis", "where": {"code": "B20"}}'), 2, 'r3: then the treatment segment may target HIV');
SELECT lives_ok(format('SELECT cdp.archive_segment(%s, false)', :m), 'r3: restore the marketing segment');
SELECT cdp.refresh_segment(:t, 'full') IS NOT NULL AS rt2, cdp.refresh_segment(:u, 'full') IS NOT NULL AS ru2 \gset
SELECT is(cdp.refresh_segment(:m, 'full') ->> 'mode', 'refused', 'r3: the refresh re-checks the policy and refuses');
SELECT is((SELECT count(*) FROM cdp.segment_member WHERE segment_id = :m), 0::bigint, 'r3: nothing is materialised for the marketing segment');
SELECT is((SELECT last_refresh_mode FROM cdp.segment WHERE segment_id = :m), 'refused', 'r3: the segment shows the refusal');
SELECT throws_ok(format('SELECT cdp.segment_preview(%L)', format('{"segment": %s}', :u)), '22023', NULL,
                 'r3: a rule on the treatment segment that references the HIV one is refused for marketing');
-- a marketing segment with members, made sensitive by a reconfigured list: emptied by its next refresh
SELECT cdp.upsert_clinical_event('his', 'dx2', 'diagnosis', '{"code": "E11", "at": "2026-06-01", "patient_source_id": "b"}') IS NOT NULL AS e2 \gset
SELECT cdp.create_segment('E11', '{"event": "diagnosis", "where": {"code": "E11"}}', 'marketing') AS d \gset
SELECT is(cdp.refresh_segment(:d, 'full') ->> 'size', '1', 'r3: a marketing segment on E11 has a member');
SELECT cdp.configure_sensitive_categories('{"B20-B24": "HIV disease", "E10-E14": "diabetes"}') AS conf \gset
SELECT is(cdp.refresh_segment(:d) ->> 'mode', 'refused', 'r3: E11 made sensitive, the refresh is refused');
SELECT is((SELECT count(*) FROM cdp.segment_member WHERE segment_id = :d), 0::bigint, 'r3: and the member left');
DELETE FROM cdp.sensitive_category;

-- ---------------------------------------------------------------- r4: sensitive through a campaign's history
SELECT cdp.create_campaign(jsonb_build_object('name', 'reminder', 'segment', :t, 'purpose', 'treatment', 'channels', '["sms"]'::jsonb,
         'templates', '{"sms": "{given_name}, приходите"}'::jsonb, 'window', '{"hours": [0, 24]}'::jsonb)) AS c \gset
SELECT cdp.build_send_list(:c, now()) IS NOT NULL AS built \gset
SELECT count(cdp_internal.campaign_mark(send_id, now())) AS sent FROM cdp.campaign_send WHERE campaign_id = :c AND status = 'due' \gset
SELECT is(:sent, 1, 'r4: the HIV reminder was sent to one patient');
SELECT throws_ok(format('SELECT cdp.create_segment(%L, %L)', 'from history', format('{"campaign": %s, "status": "sent"}', :c)), '22023',
                 'a marketing segment may not target a sensitive category', 'r4: a marketing rule on that campaign''s history is refused');
SELECT throws_ok(format('SELECT cdp.segment_preview(%L)', format('{"not": {"campaign": %s}}', :c)), '22023', NULL,
                 'r4: also negated, at preview time');
SELECT is((cdp.segment_preview(format('{"campaign": %s, "status": "sent"}', :c)::jsonb, NULL, 'treatment') ->> 'count')::int, 1,
          'r4: a treatment rule on it is accepted');

-- ---------------------------------------------------------------- r1: a clinical event moved to another person
SELECT cdp.create_segment('dx inc', '{"event": "diagnosis", "where": {"code": "E11"}}', 'treatment') AS i1 \gset
SELECT cdp.create_segment('dx full', '{"event": "diagnosis", "where": {"code": "E11"}}', 'treatment') AS i2 \gset
SELECT cdp.refresh_segment(:i1, 'full') IS NOT NULL AS f1 \gset
SELECT cdp.upsert_clinical_event('his', 'dx2', 'diagnosis', '{"code": "E11", "at": "2026-06-01", "patient_source_id": "a"}') IS NOT NULL AS moved \gset
SELECT is(cdp.refresh_segment(:i1) ->> 'mode', 'incremental', 'r1: the refresh after the move is incremental');
SELECT cdp.refresh_segment(:i2, 'full') IS NOT NULL AS f2 \gset
SELECT is((SELECT array_agg(golden_id) FROM cdp.segment_member WHERE segment_id = :i1), (SELECT array_agg(golden_id) FROM cdp.segment_member WHERE segment_id = :i2),
          'r1: and has the members of a full refresh');
SELECT is((SELECT array_agg(golden_id) FROM cdp.segment_member WHERE segment_id = :i1), ARRAY[:ga]::bigint[], 'r1: the event''s new owner only');

-- ---------------------------------------------------------------- r5: a suppressed phone held with an extension
SELECT cdp.upsert_record('his', 'x', '{"family_name": "Икс", "sex": "M", "phones": ["8 (916) 000-00-01 доб. 12"]}') AS rx \gset
SELECT cdp.golden_id('his', 'x') AS gx \gset
SELECT cdp.set_consent(:gx, 'marketing', 'sms', true, now() - interval '1 day') IS NOT NULL AS gx_granted \gset
SELECT cdp.create_segment('sms inc', '{"attr": "sex", "op": "=", "value": "M"}', 'marketing', NULL, 'sms') AS p1 \gset
SELECT is(cdp.refresh_segment(:p1, 'full') ->> 'size', '1', 'r5: the man with an extension is a member');
SELECT cdp.set_consent(:ga, 'marketing', 'sms', false, now(), 'STOP', '+7 916 000-00-01') IS NOT NULL AS stop \gset
SELECT is(cdp.may_contact(:gx, 'marketing', 'sms'), false, 'r5: his number is suppressed');
SELECT is(cdp.refresh_segment(:p1) ->> 'size', '0', 'r5: and the incremental refresh removes him');

-- ---------------------------------------------------------------- e-mail keys fold the case
SELECT is(cdp.consent_address_key('Ivan.Petrov@Mail.RU'), cdp.consent_address_key('ivan.petrov@mail.ru'), 'an e-mail key ignores case');

-- ---------------------------------------------------------------- r10: lists after merge and unmerge
SELECT cdp.upsert_record('his', 'y1', '{"family_name": "Игрек", "sex": "F"}') AS ry1, cdp.upsert_record('his', 'x1', '{"family_name": "Икс", "sex": "F"}') AS rx1,
       cdp.upsert_record('his', 'y2', '{"family_name": "Игрек2", "sex": "F"}') AS ry2, cdp.upsert_record('his', 'x2', '{"family_name": "Икс2", "sex": "F"}') AS rx2 \gset
SELECT cdp.create_segment('lists', '{"attr": "city", "op": "=", "value": "нигде"}', 'treatment') AS l \gset
SELECT cdp.segment_list_set(:l, 'exclude', ARRAY[cdp.golden_id('his', 'x1')]) AS ex, cdp.segment_list_set(:l, 'include', ARRAY[cdp.golden_id('his', 'x2'), cdp.golden_id('his', 'x1')]) AS inc \gset
SELECT is(cdp.refresh_segment(:l, 'full') ->> 'size', '1', 'r10: included x2 is a member, excluded x1 is not');
SELECT cdp.link_records(:ry1, :rx1, '{"test": true}') AS m1, cdp.link_records(:ry2, :rx2, '{"test": true}') AS m2 \gset
SELECT cdp.refresh_segment(:l) IS NOT NULL AS rl0 \gset
SELECT is(ARRAY(SELECT golden_id FROM cdp.segment_member WHERE segment_id = :l),
          ARRAY[cdp.golden_id('his', 'y2')], 'r10: merged, the inclusion and the exclusion follow to the survivors');
SELECT cdp.unmerge(:rx1, 'different women') AS ux1, cdp.unmerge(:rx2, 'different women') AS ux2 \gset
SELECT cdp.refresh_segment(:l) IS NOT NULL AS rl \gset
SELECT is((SELECT array_agg(golden_id ORDER BY golden_id) FROM cdp.segment_member WHERE segment_id = :l), ARRAY[cdp.golden_id('his', 'x2')],
          'r10: unmerged, the inclusion and the exclusion are back with x2 and x1, not with y1 or y2');
SELECT is(cdp_internal.seg_list_ids(:l, 'exclude'), ARRAY[cdp.golden_id('his', 'x1')], 'r10: the exclusion names x1 again');
SELECT is(cdp.refresh_segment(:l, 'full') ->> 'size', '1', 'r10: a full refresh agrees');
SELECT is(cdp.segment_list_set(:l, 'exclude', ARRAY[cdp.golden_id('his', 'x1')], true), 1, 'r10: removing x1 by its new id removes the entry');

-- ---------------------------------------------------------------- r9: reach counts addresses
SELECT cdp.create_segment('reach', format('{"any": [{"attr": "sex", "op": "=", "value": "M"}, {"attr": "city", "op": "is_null", "value": true}]}')::jsonb,
                          'treatment') AS w \gset
SELECT cdp.refresh_segment(:w, 'full') IS NOT NULL AS rw \gset
SELECT is((SELECT row(reach_email, reach_social, reach_post)::text FROM cdp.segment_summary WHERE segment_id = :w), '(0,0,0)',
          'r9: nobody has an e-mail, a vk handle or a postal address: nobody is reachable through them');
SELECT is((SELECT reach_sms FROM cdp.segment_summary WHERE segment_id = :w),
          (SELECT count(*) FROM cdp.segment_member m JOIN cdp.patient p USING (golden_id) WHERE m.segment_id = :w AND jsonb_array_length(p.phones) > 0),
          'r9: reachable by sms: the members with a phone');

-- ---------------------------------------------------------------- r2: a future-dated statement
SELECT throws_ok(format('SELECT cdp.set_consent(%s, %L, %L, true, %L)', :gb, 'marketing', 'sms', '2062-03-01'), '22023',
                 'a consent statement may not be dated in the future', 'r2: a grant dated in 2062 is refused');
SELECT lives_ok(format('SELECT cdp.set_consent(%s, %L, %L, true, now() + interval ''6 hours'')', :gb, 'marketing', 'email'),
                'r2: a few hours ahead (another time zone) is accepted');

-- ---------------------------------------------------------------- r7: a lift given while wrongly merged
SELECT cdp.upsert_record('his', 'k', '{"family_name": "Ка", "sex": "F", "phones": ["+79160000077"]}') AS rk,
       cdp.upsert_record('his', 'j', '{"family_name": "Жо", "sex": "F", "phones": ["+79160000078"]}') AS rj,
       cdp.upsert_record('his', 'c', '{"family_name": "Вв", "sex": "M", "phones": ["+79160000077"]}') AS rc \gset
SELECT cdp.golden_id('his', 'k') AS gk, cdp.golden_id('his', 'c') AS gc \gset
SELECT cdp.set_consent(:gc, 'marketing', 'sms', true, now() - interval '3 days') IS NOT NULL AS c_granted,
       cdp.set_consent(:gk, 'marketing', 'sms', false, now() - interval '2 days', 'STOP', '+79160000077') IS NOT NULL AS k_stop \gset
SELECT cdp.link_records(:rk, :rj, '{"test": true}') AS gm \gset
SELECT cdp.set_consent(:gm, 'marketing', 'sms', true, now() - interval '1 day', 'desk form', '+79160000077') IS NOT NULL AS merged_grant \gset
SELECT is(cdp.is_suppressed('+79160000077', 'marketing'), false, 'r7: the merged person lifts the suppression');
SELECT cdp.unmerge(:rj, 'two different women') IS NOT NULL AS unmerged \gset
SELECT is(cdp.is_suppressed('+79160000077', 'marketing'), true, 'r7: unmerged, the lift no longer counts: suppressed again');
SELECT is(cdp.may_contact(:gc, 'marketing', 'sms'), false, 'r7: and the third holder of the number may not be contacted');
SELECT is(cdp.rebuild_consent() > 0, true, 'r7: replay the consent log');
SELECT is(cdp.is_suppressed('+79160000077', 'marketing'), true, 'r7: the replay decides the same');

-- ---------------------------------------------------------------- between with reversed bounds
SELECT throws_ok($$SELECT cdp.segment_preview('{"attr": "age", "op": "between", "value": [60, 30]}', NULL, 'treatment')$$, '22023',
                 '"between" needs the smaller bound first', '"between" with the larger bound first is refused');
SELECT lives_ok($$SELECT cdp.segment_preview('{"attr": "birth_date", "op": "between", "value": ["1960-01-01", "1970-12-31"]}', NULL, 'treatment')$$,
                'and dates in order are accepted');

SELECT * FROM finish();
ROLLBACK;
