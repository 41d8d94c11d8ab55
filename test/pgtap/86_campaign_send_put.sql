-- test/pgtap/86_campaign_send_put.sql: the writer of a segment listing's rows
-- (cdp_internal.campaign_send_put, src/campaign_send_write.c, session 30).  A listing written
-- through it equals the same listing written by INSERT statements (forced by an extra insert
-- trigger on cdp.campaign_send, which makes it fall back): the same rows, the same persons in
-- cdp_internal.seg_touch (the work of the table's statement trigger, done by the caller), the
-- roll-up unchanged; the writer checks constraints, the unique index and its call context.
BEGIN;
SELECT plan(16);

SELECT cdp.register_source('his', 'internal', 80) IS NOT NULL AS src \gset
SELECT count(cdp.upsert_record('his', 'w' || i, jsonb_build_object('family_name', 'Писатель' || i, 'given_name', 'Вера',
         'sex', 'F', 'birth_date', (date '1980-01-01' + i)::text, 'city', (ARRAY['Москва', 'Владивосток', NULL])[1 + i % 3],
         'phones', jsonb_build_array('+7916777' || lpad(i::text, 4, '0')), 'emails', jsonb_build_array('w' || i || '@mail.ru'))))
  FROM generate_series(0, 29) i;
-- a member with consent and no address: skipped (or held out), never due, whatever the hash gives
-- the others; with 24 members that may be due, all of them held out has a chance of 0.3^24
SELECT cdp.upsert_record('his', 'w99', '{"family_name": "Безадресная", "given_name": "Вера", "sex": "F", "birth_date": "1979-01-01"}') IS NOT NULL AS w99 \gset
SELECT cdp.set_consent(cdp.golden_id('his', 'w99'), 'marketing', 'sms', true, '2026-01-01') IS NOT NULL AS w99c \gset
DO $$
BEGIN
	FOR i IN 0..29 LOOP
		IF i % 4 <> 0 THEN PERFORM cdp.set_consent(cdp.golden_id('his', 'w' || i), 'marketing', 'sms', true, '2026-01-01'); END IF;
		IF i % 3 = 0 THEN PERFORM cdp.set_consent(cdp.golden_id('his', 'w' || i), 'marketing', 'email', true, '2026-01-01'); END IF;
	END LOOP;
END $$;
SELECT cdp.create_segment('писатели', '{"all": [{"attr": "sex", "op": "=", "value": "F"}]}') AS seg \gset
SELECT cdp.refresh_segment(:seg, 'full') IS NOT NULL AS refreshed \gset
-- a segment that reads campaign history: the listing's persons must reach seg_touch
SELECT cdp.create_segment('получившие', '{"campaign": "any", "status": "sent"}') AS seg_hist \gset
SELECT cdp.create_campaign(jsonb_build_object('name', 'запись', 'segment', :seg, 'channels', '["sms", "email"]'::jsonb,
	'templates', '{"sms": "{given_name}, sms", "email": "{given_name}, письмо"}'::jsonb,
	'window', '{"hours": [9, 20]}'::jsonb, 'holdout', 0.3, 'arms', '{"A": 0.5, "B": 0.5}'::jsonb,
	'start', '2026-03-01T00:00:00+03')) AS camp \gset
CREATE TEMP TABLE rollup_before AS SELECT * FROM cdp.campaign_rollup;
DELETE FROM cdp_internal.seg_touch;

-- ---------------------------------------------------------------- the writer
SELECT cdp.build_send_list(:camp, '2026-03-02 12:00+03') AS res_bulk \gset
CREATE TEMP TABLE rows_bulk AS
	SELECT campaign_id, golden_id, trigger_key, purpose, status, reason, channel, address, arm, due_at, built_at, message, provenance,
	       sent_at, sent_day, revenue
	  FROM cdp.campaign_send WHERE campaign_id = :camp;
CREATE TEMP TABLE touch_bulk AS SELECT golden_id, pos FROM cdp_internal.seg_touch;
SELECT is((SELECT count(DISTINCT pos) FROM touch_bulk), 1::bigint, 'the listing''s persons are touched at one position, as the statement trigger does');
SELECT is((SELECT count(*) FROM cdp.campaign_send WHERE campaign_id = :camp AND send_id IS NOT NULL AND revenue = 0
             AND provenance IS NOT NULL), (SELECT count(*) FROM cdp.segment_member WHERE segment_id = :seg),
          'every member has a row, with the defaults of the columns the listing leaves');
SELECT ok((SELECT count(DISTINCT status) FROM rows_bulk) >= 2 AND (SELECT count(*) FROM rows_bulk WHERE status = 'due') > 0,
          'the listing wrote due rows and others (the comparison is not empty)');

-- ---------------------------------------------------------------- the same listing by INSERT statements
DELETE FROM cdp.campaign_send WHERE campaign_id = :camp;
DELETE FROM cdp_internal.seg_touch;
CREATE FUNCTION pg_temp.noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER zz_send_put_test AFTER INSERT ON cdp.campaign_send FOR EACH ROW EXECUTE FUNCTION pg_temp.noop();
SELECT is(cdp.build_send_list(:camp, '2026-03-02 12:00+03'), :'res_bulk'::jsonb, 'the fallback''s counts equal the writer''s');
DROP TRIGGER zz_send_put_test ON cdp.campaign_send;
SELECT is((SELECT count(*) FROM (
	(SELECT * FROM rows_bulk EXCEPT ALL
	 SELECT campaign_id, golden_id, trigger_key, purpose, status, reason, channel, address, arm, due_at, built_at, message, provenance,
	        sent_at, sent_day, revenue FROM cdp.campaign_send WHERE campaign_id = :camp)
	UNION ALL
	(SELECT campaign_id, golden_id, trigger_key, purpose, status, reason, channel, address, arm, due_at, built_at, message, provenance,
	        sent_at, sent_day, revenue FROM cdp.campaign_send WHERE campaign_id = :camp
	 EXCEPT ALL SELECT * FROM rows_bulk)) d), 0::bigint,
	'the writer''s rows equal the rows INSERT statements write (every column but send_id)');
SELECT is(ARRAY(SELECT DISTINCT golden_id FROM touch_bulk ORDER BY 1), ARRAY(SELECT DISTINCT golden_id FROM cdp_internal.seg_touch ORDER BY 1),
          'the same persons reach seg_touch as through the statement trigger');
SELECT is((SELECT count(*) FROM touch_bulk), (SELECT count(*) FROM cdp.segment_member WHERE segment_id = :seg), 'every listed person is touched once');
SELECT is((SELECT count(*) FROM (SELECT * FROM cdp.campaign_rollup EXCEPT ALL SELECT * FROM rollup_before) d), 0::bigint,
          'the roll-up is unchanged (a listing writes no sent rows)');

-- ---------------------------------------------------------------- the aggregate itself
SELECT is(cdp_internal.campaign_send_put(v.c, v.g, '', 'marketing', 'skipped', 'no_consent', NULL, NULL, NULL, NULL, now(), NULL, '{}'),
          ARRAY[9000002, 9000001]::bigint[], 'it returns the golden ids written, in the order given')
  FROM (VALUES (990001::bigint, 9000002::bigint), (990001, 9000001)) v(c, g);
SELECT is((SELECT count(*) FROM cdp.campaign_send WHERE campaign_id = 990001 AND status = 'skipped'), 2::bigint,
          'the rows are visible to the next statement');
SELECT is((SELECT cdp_internal.campaign_send_put(990002, 1, '', 'marketing', 'due', NULL, NULL, NULL, NULL, NULL, now(), NULL, '{}')
             FROM generate_series(1, 0)), '{}'::bigint[], 'no rows: an empty array, nothing written');
SELECT throws_ok($$SELECT cdp_internal.campaign_send_put(990003, 1, '', 'marketing', 'sent', NULL, 'sms', 'x', NULL, NULL, now(), NULL, '{}')$$,
                 '22023', 'campaign_send_put writes listed rows, not sent ones', 'a sent row is refused (the roll-up would miss it)');
SELECT throws_ok($$SELECT cdp_internal.campaign_send_put(990003, 1, '', 'marketing', 'bogus', NULL, NULL, NULL, NULL, NULL, now(), NULL, '{}')$$,
                 '23514', NULL, 'the table''s CHECK constraints are checked');
SELECT throws_ok($$SELECT cdp_internal.campaign_send_put(990003, 1, NULL, 'marketing', 'due', NULL, NULL, NULL, NULL, NULL, now(), NULL, '{}')$$,
                 '23502', NULL, 'NOT NULL is checked (no default for a NULL given)');
SELECT throws_ok($$SELECT cdp_internal.campaign_send_put(990004, g, '', 'marketing', 'skipped', NULL, NULL, NULL, NULL, NULL, now(), NULL, '{}')
                     FROM (VALUES (1::bigint), (2), (1)) v(g)$$,
                 '23505', NULL, 'a second row of a person is refused by the unique index, nothing half-written');
SELECT throws_ok($$SELECT cdp_internal.campaign_send_put(990005, g, '', 'marketing', 'skipped', NULL, NULL, NULL, NULL, NULL, now(), NULL, '{}')
                     OVER (ORDER BY g) FROM (VALUES (1::bigint), (2)) v(g)$$,
                 '0A000', NULL, 'not as a window function (its final function writes)');

SELECT * FROM finish();
ROLLBACK;
