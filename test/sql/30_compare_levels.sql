-- test/sql/30_compare_levels.sql: q-grams, token sets and the date, phone and e-mail levels
-- (src/cmp_qgram.c, src/cmp_token.c, src/cmp_date.c, src/cmp_phone.c, src/cmp_email.c)
-- quiet whether or not an earlier test created the extension
SET client_min_messages = warning;
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cdp CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;
RESET client_min_messages;
SET extra_float_digits = 0;
SET DateStyle = ISO;

-- q-grams: padded multisets. 'Иванов' has 7 bigrams, 'Иванова' 8 ('ва' twice), 6 shared
SELECT round(cdp.qgram_jaccard('Иванов', 'Иванова')::numeric, 4) AS jaccard,
       round(cdp.qgram_cosine('Иванов', 'Иванова')::numeric, 4) AS cosine,
       round(cdp.qgram_jaccard('Иванов', 'Иванова', 3)::numeric, 4) AS jaccard3,
       cdp.qgram_jaccard('aaaa', 'aaa') AS multiset,
       cdp.qgram_jaccard('ab', 'ba', 1) AS unigram_anagram,
       cdp.qgram_jaccard('ab', 'ba') AS bigram_anagram;
SELECT cdp.qgram_jaccard('', '') AS empty2, cdp.qgram_jaccard('', '', 1) AS empty1,
       cdp.qgram_jaccard('', 'a', 1) AS one_empty, cdp.qgram_cosine('abc', 'xyz') AS disjoint,
       cdp.qgram_jaccard('abcdefgh', 'abcdefgh', 6) AS q6_same,
       round(cdp.qgram_jaccard('abcdefgh', 'abcdefgX', 6)::numeric, 4) AS q6_end;
-- padding markers are not characters: a trailing space is a character of its own and counts
SELECT cdp.qgram_jaccard('a', 'a ' ) < 1 AS trailing_space_counts;
-- long strings take the sorted (qsort) path; the value must not depend on it
SELECT cdp.qgram_jaccard(repeat('ёж', 100), repeat('ёж', 100)) AS long_same,
       round(cdp.qgram_cosine(repeat('аб', 50), repeat('ба', 50))::numeric, 4) AS long_shifted;
SELECT cdp.qgram_jaccard('a', 'b', 0);
SELECT cdp.qgram_cosine('a', 'b', 7);

-- token sets: order, case, ё, initials, a missing patronymic
SELECT round(cdp.token_set_similarity('ИВАНОВА М.П.', 'Иванова Мария Петровна')::numeric, 4) AS initials,
       round(cdp.token_set_similarity('Иванова Мария', 'Иванова Мария Петровна')::numeric, 4) AS no_patronymic,
       cdp.token_set_similarity('Мария Иванова', 'ИВАНОВА МАРИЯ') AS reordered,
       cdp.token_set_similarity('Семёнов Пётр', 'семенов петр') AS yo,
       round(cdp.token_set_similarity('Иванов', 'Иванов Иван Петрович')::numeric, 4) AS surname_only,
       cdp.token_set_similarity('Римский-Корсаков Н.А.', 'Римский Корсаков Николай Андреевич') > 0.95 AS hyphen;
SELECT cdp.token_set_similarity('Иванова М.П.', 'Иванова Н.П.') < cdp.token_set_similarity('Иванова М.П.', 'Иванова М.П.') AS other_initial,
       cdp.token_set_similarity('', '') AS both_empty, cdp.token_set_similarity(' - . ', 'Иванов') AS only_separators,
       round(cdp.token_set_similarity('Smith John', 'JOHN SMYTH')::numeric, 4) AS latin;
SELECT cdp.token_set_similarity(repeat('а ', 33), 'а');

-- dates
SELECT a, b, cdp.date_level(a, b), cdp.date_similarity(a, b)
FROM (VALUES ('1985-03-12'::date, '1985-03-12'::date), ('1985-03-12', '1985-12-03'), ('1985-03-12', '1985-03-13'),
             ('1985-03-12', '1986-03-12'), ('1985-03-12', '1975-03-12'), ('1989-03-12', '1990-03-12'),
             ('1985-03-12', '1985-03-28'), ('1985-03-12', '1985-07-01'), ('1985-03-12', '2001-01-01'),
             ('1985-03-12', '1985-03-21'), ('infinity', 'infinity'), ('-infinity', '1985-03-12'),
             ('0044-03-15 BC', '0044-03-15 BC'), ('0001-01-01 BC', '0001-01-01')) AS v(a, b);
SELECT cdp.date_level(NULL, '1985-03-12') IS NULL AS strict_null;

-- phones: digits only
SELECT a, b, cdp.phone_level(a, b), cdp.phone_similarity(a, b)
FROM (VALUES ('+79161234567', '+79161234567'), ('+7 (916) 123-45-67', '+79161234567'), ('89161234567', '+79161234567'),
             ('+79161234567', '+79161234576'), ('+79161234567', '+79161234568'), ('+79161234567', '+79261234567'),
             ('+79161234567', '+79161234599'), ('+79161234567', '+791612345'), ('1234567', '+79161234567'),
             ('abc', 'abc'), ('', '+7916')) AS v(a, b);
SELECT cdp.phone_level(repeat('1', 1001), '1');

-- e-mail addresses
SELECT a, b, cdp.email_level(a, b), cdp.email_similarity(a, b)
FROM (VALUES ('Ivanov@Mail.ru', 'ivanov@mail.ru'), ('ivanov@mail.ru', 'ivanov@mial.ru'), ('ivanov@mail.ru', 'ivanov@gmail.com'),
             ('ivanov@mail.ru', 'ivanvo@mail.ru'), ('ivanov1@mail.ru', 'ivanov2@mail.ru'), ('ivanov@mail.ru', 'ivanov85@mail.ru'),
             ('ivanov@mail.ru', 'petrov@mail.ru'), ('ivanov@yandex.ru', 'ivanov@yadnex.ry'), ('ivanov@bk.ru', 'ivanov@yandex.ru'),
             ('maria.ivanova@example.com', 'mariaivanova@exmaple.com'), ('Иванов@Почта.рф', 'иванов@почта.рф'),
             ('@mail.ru', '@mail.ru'), ('ivanov', 'ivanov@mail.ru')) AS v(a, b);
