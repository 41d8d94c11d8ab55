-- test/pgtap/86_campaign_contacts.sql: the contact candidates of a member
-- (cdp_internal.campaign_contacts, src/campaign_contact.c), which build_send_list's set-based
-- listing calls once per member: the order (the preferred channel first, then the campaign's),
-- the channels consented to only, mobile numbers for sms and messengers, the vk network for
-- social, the post address, NULL (no address) against empty (none reachable), the keys equal to
-- cdp.consent_address_key's; and, through build_send_list, a member whose first address is
-- blocked gets the next one, as the per-member path decides; pausing the campaign cancels its rows.
BEGIN;
SELECT plan(22);

-- ---------------------------------------------------------------- the function itself
SELECT is(cdp_internal.campaign_contacts('{messenger,sms,email}', '{sms,email}', NULL,
            '[{"value": "Anna.K@Mail.RU"}]', '[{"value": "8 (916) 123-45-67"}, {"value": "+7 495 123-45-67"}]', '[]', NULL),
          '{sms,+79161234567,email,anna.k@mail.ru}'::text[],
          'consented channels in the campaign''s order, keyed (an e-mail lower-cased whole); a landline is no sms address');
SELECT is(cdp_internal.campaign_contacts('{messenger,sms,email}', '{sms,email}', 'email',
            '[{"value": "anna@mail.ru"}]', '[{"value": "+79161234567"}]', '[]', NULL),
          '{email,anna@mail.ru,sms,+79161234567}'::text[],
          'the preferred channel comes first');
SELECT is(cdp_internal.campaign_contacts('{messenger,sms,email}', '{sms,email}', 'post',
            '[{"value": "anna@mail.ru"}]', '[{"value": "+79161234567"}]', '[]', NULL),
          '{sms,+79161234567,email,anna@mail.ru}'::text[],
          'a preference the campaign does not list changes nothing');
SELECT is(cdp_internal.campaign_contacts('{sms,call}', '{sms,call}', NULL,
            '[]', '[{"value": "+74951234567"}, {"value": "+79160000001"}]', '[]', NULL),
          '{sms,+79160000001,call,+74951234567,call,+79160000001}'::text[],
          'sms takes mobile numbers only, a call any number, each in the stored order');
SELECT is(cdp_internal.campaign_contacts('{sms,messenger}', '{sms,messenger}', NULL, '[]', '[{"value": "+74951234567"}]', '[]', NULL),
          '{}'::text[], 'only a landline for sms and messengers: addresses, none reachable (empty)');
SELECT is(cdp_internal.campaign_contacts('{sms,email}', '{sms,email}', NULL, '[]', '[]', '[]', NULL),
          NULL::text[], 'no address at all: NULL');
SELECT is(cdp_internal.campaign_contacts('{sms,email}', '{messenger}', NULL, '[{"value": "a@b.ru"}]', '[{"value": "+79161234567"}]', '[]', NULL),
          NULL::text[], 'channels not consented to give nothing');
SELECT is(cdp_internal.campaign_contacts('{social}', '{social}', NULL, NULL, NULL,
            '[{"network": "ok", "value": "id1"}, {"network": "vk", "value": " ID2 "}, {"network": "vk"}]', NULL),
          '{social,id2}'::text[], 'social: vk handles with a value only, trimmed and lower-cased');
SELECT is(cdp_internal.campaign_contacts('{post,email}', '{post,email}', NULL, '[{"value": null}, {"other": 1}, "x"]', NULL, NULL,
            '  Москва, Тверская 1 '),
          '{post,"москва, тверская 1"}'::text[], 'post: the address trimmed and lower-cased; elements without a value are skipped');
SELECT is(cdp_internal.campaign_contacts('{email}', '{email}', NULL, '[{"value": 79161234567}]', NULL, NULL, NULL),
          '{email,+79161234567}'::text[], 'a value that is not a string is read as ->> reads it');
SELECT is(cdp_internal.campaign_contacts(NULL, '{sms}', NULL, '[]', '[{"value": "+79161234567"}]', '[]', NULL), NULL::text[],
          'no campaign channels: NULL');
SELECT is(cdp_internal.campaign_contacts('{sms}', NULL, NULL, '[]', '[{"value": "+79161234567"}]', '[]', NULL), NULL::text[],
          'no consented channels: NULL');
SELECT throws_ok($$SELECT cdp_internal.campaign_contacts('{sms}', '{sms}', NULL, '[]', '{"value": "+79161234567"}', '[]', NULL)$$,
                 '22023', NULL, 'phones that are not an array are refused');
SELECT throws_ok($$SELECT cdp_internal.campaign_contacts(array_fill('sms'::text, ARRAY[65]), '{sms}', NULL, '[]', '[]', '[]', NULL)$$,
                 '54000', NULL, 'more than 64 channels are refused');
-- the key of every kind of value is cdp.consent_address_key's
SELECT is((SELECT count(*) FROM (VALUES ('+7 (916) 123-45-67'), ('89161234567'), ('+79161234567;ext=12'), ('Ivan@Example.COM'),
                                        ('  Ivan@Пример.рф '), ('id123'), ('  VK.COM/Durov '), ('not an address'), (''), ('+1 202 555 0143'),
                                        ('ПОЧТА@mail.ru'), ('@@'), ('8 800 555 35 35')) v(a)
            WHERE cdp_internal.campaign_contacts('{post}', '{post}', NULL, NULL, NULL, NULL, v.a)
                  IS DISTINCT FROM ARRAY['post', cdp.consent_address_key(v.a)]),
          0::bigint, 'the keys are cdp.consent_address_key''s');

-- ---------------------------------------------------------------- a blocked first address, through build_send_list
SELECT cdp.register_source('his', 'internal', 80) IS NOT NULL AS src \gset
SELECT count(cdp.upsert_record('his', 'c' || i, jsonb_build_object('family_name', 'Контакт' || i, 'given_name', 'Анна',
         'sex', 'F', 'birth_date', '1980-01-01', 'city', 'Москва',
         'phones', jsonb_build_array('+7916777000' || i, '+7916777100' || i))))
  FROM generate_series(1, 3) i;
SELECT count(cdp.set_consent(cdp.golden_id('his', 'c' || i), 'marketing', 'sms', true, '2026-01-01')) FROM generate_series(1, 3) i;
-- c1: first number blocked (hard bounce), the second clean; c2: both blocked; c3: none blocked
INSERT INTO cdp_internal.campaign_address_block (address_key, reason, at)
VALUES ('+79167770001', 'hard_bounce', '2026-01-02'), ('+79167770002', 'complaint', '2026-01-02'), ('+79167771002', 'hard_bounce', '2026-01-02');
SELECT cdp.create_segment('контакты', '{"all": [{"attr": "birth_date", "op": "=", "value": "1980-01-01"}]}') AS seg \gset
SELECT cdp.refresh_segment(:seg, 'full') IS NOT NULL AS refreshed \gset
SELECT cdp.create_campaign(jsonb_build_object('name', 'контакты', 'segment', :seg, 'channels', '["sms"]'::jsonb,
         'templates', '{"sms": "{given_name}, привет"}'::jsonb)) AS camp \gset
SELECT is((cdp.build_send_list(:camp, '2026-03-02 12:00+03') ->> 'due')::int, 2, 'two of three listed');
SELECT is((SELECT address FROM cdp.campaign_send WHERE campaign_id = :camp AND golden_id = cdp.golden_id('his', 'c1')),
          '+79167771001', 'a blocked first number: the second one');
SELECT is((SELECT reason FROM cdp.campaign_send WHERE campaign_id = :camp AND golden_id = cdp.golden_id('his', 'c2')),
          'suppressed', 'every number blocked: suppressed');
SELECT is((SELECT address FROM cdp.campaign_send WHERE campaign_id = :camp AND golden_id = cdp.golden_id('his', 'c3')),
          '+79167770003', 'nothing blocked: the first number');
-- the per-member path (campaign_decide) decides the same for each
SELECT is((SELECT count(*) FROM cdp.campaign_send s
             JOIN cdp.patient p ON p.golden_id = s.golden_id
            CROSS JOIN LATERAL cdp_internal.campaign_decide((SELECT c FROM cdp.campaign c WHERE c.campaign_id = :camp), p,
                                                            '{}', '2026-03-02 12:00+03') d
            WHERE s.campaign_id = :camp
              AND (s.status, s.reason, s.channel, s.address) IS DISTINCT FROM (d.status, d.reason, d.channel, d.address)),
          0::bigint, 'the per-member path decides the same');

-- pausing cancels the unsent rows (set_campaign_status named its parameter ambiguously before)
SELECT is(cdp.set_campaign_status(:camp, 'paused'), 'paused', 'a campaign with due rows can be paused');
SELECT is((SELECT string_agg(DISTINCT status || ':' || reason, ',') FROM cdp.campaign_send WHERE campaign_id = :camp AND status <> 'skipped'),
          'cancelled:campaign_paused', 'pausing cancels its due rows');

SELECT * FROM finish();
ROLLBACK;
