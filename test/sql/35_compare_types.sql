-- test/sql/35_compare_types.sql: phone and e-mail comparators on the typed values.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cdp CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;
-- different spellings of one number are equal once typed
SELECT cdp.phone_level('8 (916) 123-45-67'::cdp.phone, '+7 916 1234567'::cdp.phone) AS same_number,
       cdp.phone_level('8 (916) 123-45-67'::cdp.phone, '+7 926 1234567'::cdp.phone) AS other_code,
       cdp.phone_level('8 (916) 123-45-67'::cdp.phone, '+7 916 1234576'::cdp.phone) AS transposed,
       cdp.phone_level('+79161234567 доб. 12'::cdp.phone, '+79161234567'::cdp.phone) AS extension_ignored,
       cdp.phone_level('+79161234567'::cdp.phone, '+44 20 7946 0958'::cdp.phone) AS different;
SELECT cdp.phone_similarity('8 916 123 45 67'::cdp.phone, '+79161234567'::cdp.phone) AS exact,
       cdp.phone_similarity('8 916 123 45 67'::cdp.phone, NULL::cdp.phone) AS with_null;
SELECT cdp.email_level('Maria.Ivanova@Mail.RU'::cdp.email, 'maria.ivanova@mail.ru'::cdp.email) AS case_only,
       cdp.email_level('maria.ivanova@mail.ru'::cdp.email, 'maria.ivanova@gmail.com'::cdp.email) AS other_domain,
       cdp.email_level('maria.ivanova@mail.ru'::cdp.email, 'maria.ivanvoa@mail.ru'::cdp.email) AS typo,
       cdp.email_level('иванов@почта.рф'::cdp.email, 'иванов@xn--80a1acny.xn--p1ai'::cdp.email) AS idn;
SELECT cdp.email_similarity('a.b@mail.ru'::cdp.email, 'A.B@MAIL.RU'::cdp.email) AS exact;
-- text arguments still pick the text comparators
SELECT cdp.phone_level('+79161234567', '+79161234567') AS text_version;
