-- test/pgtap/20_text.sql: the text family (doc/text.md) on tables of real Russian name variants:
-- normalisation, transliteration per scheme, name keys, surname and patronymic bases, sex hints,
-- given-name variants, and the edges (empty, emoji, mixed scripts, long input, bad arguments).
BEGIN;
SELECT plan(48);

-- 1. normalize_name ---------------------------------------------------------------------------
CREATE TEMP TABLE norm_case(input text, expected text);
INSERT INTO norm_case VALUES
	('Иванова Мария Петровна', 'иванова мария петровна'),
	('ИВАНОВА М.П.', 'иванова м п'),
	('  Ivanova   Mariia ', 'ivanova mariia'),
	('Римский - Корсаков', 'римский-корсаков'),
	('Римский–Корсаков', 'римский-корсаков'),
	('Римский -- Корсаков', 'римский-корсаков'),
	('- Петров -', 'петров'),
	('O''Brien', 'obrien'),
	('D’Artagnan', 'dartagnan'),
	('Ёлкин Семён', 'елкин семен'),
	('ЁЖИКОВ', 'ежиков'),
	('Йошкар', 'йошкар'),
	('Андрей Зайцев', 'андрей зайцев'),
	('и' || U&'\0306' || 'горь', 'йгорь'),           -- decomposed й stays й
	('Crème Brûlée', 'creme brulee'),
	('Łukasz Øster Æsir', 'lukasz oster aesir'),
	('Straße', 'strasse'),
	('ＩＶＡＮＯＶ', 'ivanov'),                       -- full-width letters (NFKC)
	('Ива' || U&'\00AD' || 'нов', 'иванов'),          -- soft hyphen is ignorable
	('Иванов,Петров;Сидоров', 'иванов петров сидоров'),
	('😀 Анна 😀', 'анна'),
	('Анна👩‍⚕️Петрова', 'анна петрова'),
	('李 小龍', '李 小龍'),
	('', ''),
	('😀', ''),
	('...', '');
SELECT is_empty($$ SELECT input, cdp.normalize_name(input) AS got, expected FROM norm_case
                    WHERE cdp.normalize_name(input) IS DISTINCT FROM expected $$,
	'normalize_name: case folding, ё, й, diacritics, hyphens, apostrophes, initials, symbols');
SELECT is_empty($$ SELECT input FROM norm_case
                    WHERE cdp.normalize_name(cdp.normalize_name(input)) <> cdp.normalize_name(input) $$,
	'normalize_name is idempotent');
SELECT is(cdp.normalize_name(NULL), NULL, 'normalize_name(NULL) is NULL (STRICT)');
SELECT is(cdp.name_tokens('Римский - Корсаков Н.А.'), ARRAY['римский-корсаков', 'римский', 'корсаков', 'н', 'а'],
	'name_tokens: a hyphenated token, then its parts');
SELECT is(cdp.name_tokens('😀'), '{}'::text[], 'name_tokens of no letters is empty');
SELECT is(cdp.normalize_name('Палата 1' || U&'\FE0F\20E3'), 'палата 1', 'normalize_name drops marks on digits (keycap)');

-- 2. translit: each scheme on a fixed list, expected outputs from the standards -----------------
CREATE TEMP TABLE translit_case(scheme text, input text, expected text);
INSERT INTO translit_case VALUES
	-- ICAO Doc 9303 part 3 (Russian passports since 2013)
	('icao', 'Мария', 'Mariia'), ('icao', 'Юлия', 'Iuliia'), ('icao', 'Щукин', 'Shchukin'),
	('icao', 'Цветков', 'Tsvetkov'), ('icao', 'Хрущёв', 'Khrushchev'), ('icao', 'Жуков', 'Zhukov'),
	('icao', 'Наталья', 'Natalia'), ('icao', 'Алексей', 'Aleksei'), ('icao', 'Подъячев', 'Podieiachev'),
	('icao', 'Быков', 'Bykov'), ('icao', 'Эдуард', 'Eduard'), ('icao', 'Ёлкин', 'Elkin'),
	('icao', 'Яковлев', 'Iakovlev'), ('icao', 'ЩЕРБАКОВ', 'SHCHERBAKOV'),
	('icao', 'Иванова Мария Петровна', 'Ivanova Mariia Petrovna'), ('icao', 'Иванова М.П.', 'Ivanova M.P.'),
	('icao', 'Щ.', 'Shch.'),
	-- GOST 7.79-2000 system B
	('gost_b', 'Мария', 'Mariya'), ('gost_b', 'Юлия', 'Yuliya'), ('gost_b', 'Щукин', 'Shhukin'),
	('gost_b', 'Цветков', 'Czvetkov'), ('gost_b', 'Циолковский', 'Ciolkovskij'), ('gost_b', 'Цыганов', 'Cy`ganov'),
	('gost_b', 'Хрущёв', 'Xrushhyov'), ('gost_b', 'Наталья', 'Natal`ya'), ('gost_b', 'Алексей', 'Aleksej'),
	('gost_b', 'Подъячев', 'Pod``yachev'), ('gost_b', 'Эдуард', 'E`duard'), ('gost_b', 'Быков', 'By`kov'),
	-- BGN/PCGN 1947
	('bgn', 'Ельцин', 'Yel’tsin'), ('bgn', 'Андреев', 'Andreyev'), ('bgn', 'Соловьёв', 'Solov’yëv'),
	('bgn', 'Хрущёв', 'Khrushchëv'), ('bgn', 'Подъячев', 'Pod”yachev'), ('bgn', 'Алексей', 'Aleksey'),
	('bgn', 'Юлия', 'Yuliya'), ('bgn', 'Ёлкин', 'Yëlkin'), ('bgn', 'Йошкар-Ола', 'Yoshkar-Ola'),
	('bgn', 'Быков', 'Bykov'),
	-- informal
	('informal', 'Мария', 'Maria'), ('informal', 'Юлия', 'Yulia'), ('informal', 'Наталья', 'Natalya'),
	('informal', 'Алексей', 'Aleksey'), ('informal', 'Дмитрий', 'Dmitriy'), ('informal', 'Васильев', 'Vasilyev'),
	('informal', 'Фёдор', 'Fyodor'), ('informal', 'Хрущёв', 'Khrushchev'), ('informal', 'Ксения', 'Ksenia'),
	('informal', 'Жуков', 'Zhukov'), ('informal', 'Цветков', 'Tsvetkov'), ('informal', 'Щукин', 'Shchukin'),
	-- best-effort Latin -> Cyrillic
	('lat2cyr', 'Shchukin', 'Щукин'), ('lat2cyr', 'Zhukov', 'Жуков'), ('lat2cyr', 'Tsvetkov', 'Цветков'),
	('lat2cyr', 'Khrushchev', 'Хрущев'), ('lat2cyr', 'Iuliia', 'Юлия'), ('lat2cyr', 'Yulia', 'Юлия'),
	('lat2cyr', 'Mariia', 'Мария'), ('lat2cyr', 'Maria', 'Мария'), ('lat2cyr', 'Aleksey', 'Алексей'),
	('lat2cyr', 'Aleksei', 'Алексей'), ('lat2cyr', 'Dmitriy', 'Дмитрий'), ('lat2cyr', 'Dmitry', 'Дмитрий'),
	('lat2cyr', 'Fyodor', 'Фёдор'), ('lat2cyr', 'Natalya', 'Наталья'), ('lat2cyr', 'Vasilyev', 'Васильев'),
	('lat2cyr', 'Viacheslav', 'Вячеслав'), ('lat2cyr', 'Liudmila', 'Людмила'),
	('lat2cyr', 'IVANOVA', 'ИВАНОВА'), ('lat2cyr', 'Ciolkovskij', 'Циолковский'), ('lat2cyr', 'By`kov', 'Быков');
SELECT is_empty($$ SELECT scheme, input, cdp.translit(input, scheme) AS got, expected FROM translit_case
                    WHERE cdp.translit(input, scheme) IS DISTINCT FROM expected $$,
	'translit: every scheme gives the standard romanisation of the fixed list');
SELECT is(cdp.translit('Юлия'), 'Iuliia', 'translit defaults to ICAO');
SELECT is(cdp.translit('Юлия', 'GOST_B'), 'Yuliya', 'translit: scheme names in any case');
SELECT is(cdp.translit('Ivanov 42 😀', 'icao'), 'Ivanov 42 😀', 'translit copies what the scheme does not know');
SELECT throws_ok($$ SELECT cdp.translit('Юлия', 'iso9') $$, '22023',
	'unknown transliteration scheme "iso9"', 'an unknown scheme is a 22023 error');
SELECT is(cdp.translit('Юлия', NULL), NULL, 'translit with a NULL scheme is NULL (STRICT)');
-- translit composes to NFC first; Latin and Russian text already in NFC skips ICU, the rest does not
SELECT is(cdp.translit('и' || U&'\0306' || 'горь', 'icao'), cdp.translit('йгорь', 'icao'),
	'translit: a decomposed й is й (NFC)');
SELECT is(cdp.translit('Ёлка ' || 'е' || U&'\0308' || 'лка Zoë', 'icao'), 'Elka elka Zoë',
	'translit: precomposed and decomposed ё agree, Latin with a diaeresis is kept');
SELECT is(cdp.translit('Ж' || U&'\0483' || 'ук', 'icao'), 'Zh' || U&'\0483' || 'uk',
	'translit: a Cyrillic combining mark (U+0483) goes through NFC and is copied');

-- 3. name_key: groups of spellings that must meet, and stay apart from the other groups ----------
CREATE TEMP TABLE key_case(grp text, spelling text);
INSERT INTO key_case VALUES
	('иванова мария', 'Иванова Мария'), ('иванова мария', 'Ivanova Mariia'), ('иванова мария', 'Ivanova Maria'),
	('иванова мария', 'Иванова Марья'), ('иванова мария', 'Иваннова Мария'), ('иванова мария', 'IVANOVA MARIYA'),
	('иванова мария', 'Ivanova Mar''ya'),
	('иванова юлия', 'Иванова Юлия'), ('иванова юлия', 'Ivanova Iuliia'), ('иванова юлия', 'Ivanova Yulia'),
	('иванова юлия', 'IVANOVA JULIA'), ('иванова юлия', 'Ivanova Yuliya'),
	('наталья', 'Наталья'), ('наталья', 'Наталия'), ('наталья', 'Natalia'), ('наталья', 'Natalya'),
	('наталья', 'Nataliia'), ('наталья', 'Nataliya'),
	('алексей', 'Алексей'), ('алексей', 'Aleksei'), ('алексей', 'Aleksey'), ('алексей', 'Alexey'),
	('алексей', 'Alexei'), ('алексей', 'Aleksej'),
	('дмитрий', 'Дмитрий'), ('дмитрий', 'Dmitrii'), ('дмитрий', 'Dmitriy'), ('дмитрий', 'Dmitry'),
	('дмитрий', 'Dmitrij'),
	('юрий', 'Юрий'), ('юрий', 'Iurii'), ('юрий', 'Yuriy'), ('юрий', 'Yury'), ('юрий', 'Yuri'), ('юрий', 'Jurij'),
	('евгений', 'Евгений'), ('евгений', 'Evgenii'), ('евгений', 'Evgeniy'), ('евгений', 'Yevgeny'),
	('евгений', 'Evgeny'),
	('федор', 'Фёдор'), ('федор', 'Федор'), ('федор', 'Fedor'), ('федор', 'Fyodor'), ('федор', 'Fjodor'),
	('семен', 'Семён'), ('семен', 'Semen'), ('семен', 'Semyon'),
	('щукин', 'Щукин'), ('щукин', 'Shchukin'), ('щукин', 'Shhukin'), ('щукин', 'Schukin'),
	('хрущев', 'Хрущёв'), ('хрущев', 'Khrushchev'), ('хрущев', 'Khrushchyov'), ('хрущев', 'Hrushchev'),
	('цветков', 'Цветков'), ('цветков', 'Tsvetkov'), ('цветков', 'Tzvetkov'), ('цветков', 'Czvetkov'),
	('ксения', 'Ксения'), ('ксения', 'Kseniia'), ('ксения', 'Kseniya'), ('ксения', 'Ksenia'), ('ксения', 'Xenia'),
	('андреев', 'Андреев'), ('андреев', 'Andreev'), ('андреев', 'Andreyev'),
	('васильев', 'Васильев'), ('васильев', 'Vasilev'), ('васильев', 'Vasilyev'), ('васильев', 'Vasiliev'),
	('васильев', 'Vasil''ev'),
	('татьяна', 'Татьяна'), ('татьяна', 'Tatiana'), ('татьяна', 'Tatyana'), ('татьяна', 'Tat''yana'),
	('яков', 'Яков'), ('яков', 'Iakov'), ('яков', 'Yakov'), ('яков', 'Jakov'),
	('михаил', 'Михаил'), ('михаил', 'Mikhail'), ('михаил', 'Mihail'),
	('илья', 'Илья'), ('илья', 'Ilya'), ('илья', 'Ilia'), ('илья', 'Il''ya'),
	('людмила', 'Людмила'), ('людмила', 'Liudmila'), ('людмила', 'Lyudmila'), ('людмила', 'Ludmila'),
	('любовь', 'Любовь'), ('любовь', 'Liubov'), ('любовь', 'Lyubov'), ('любовь', 'Lubov'),
	('римский-корсаков', 'Римский-Корсаков'), ('римский-корсаков', 'Rimskii-Korsakov'),
	('римский-корсаков', 'Rimsky - Korsakov'),
	('иванов', 'Иванов'), ('иванов', 'Ivanov'), ('иванов', 'Иванoв');   -- a Latin o inside Cyrillic
SELECT is_empty($$ SELECT grp, array_agg(DISTINCT cdp.name_key(spelling)) FROM key_case
                    GROUP BY grp HAVING count(DISTINCT cdp.name_key(spelling)) > 1 $$,
	'name_key: every spelling of a name gets one key');
SELECT is_empty($$ SELECT cdp.name_key(spelling), array_agg(DISTINCT grp) FROM key_case
                    GROUP BY 1 HAVING count(DISTINCT grp) > 1 $$,
	'name_key: different names keep different keys');
SELECT is(cdp.name_key('Иванова Мария Петровна'), 'ivanova maria petrovna', 'name_key keeps token order');
SELECT is(cdp.name_key('ИВАНОВА М.П.'), 'ivanova m p', 'name_key of initials');
SELECT is(cdp.name_key('Иванова'), cdp.name_key('Иванова'), 'name_key is deterministic');
SELECT isnt(cdp.name_key('Иванова'), cdp.name_key('Иванов'), 'name_key keeps the gendered ending');

-- every Cyrillic name and its romanisation by each scheme meet in name_key
-- (except GOST x for х, which the key cannot tell from the x of Alexey)
CREATE TEMP TABLE roundtrip(name text);
INSERT INTO roundtrip VALUES ('Иванова'), ('Мария'), ('Марья'), ('Юлия'), ('Наталья'), ('Алексей'), ('Дмитрий'),
	('Юрий'), ('Евгений'), ('Фёдор'), ('Семён'), ('Щукин'), ('Цветков'), ('Ксения'), ('Андреев'),
	('Васильев'), ('Татьяна'), ('Яковлев'), ('Илья'), ('Соловьёв'), ('Ельцин'), ('Быков'), ('Жуков'),
	('Циолковский'), ('Эдуард'), ('Ёлкин'), ('Людмила'), ('Вячеслав'), ('Пётр'), ('Артём'), ('Григорьевна'),
	('Подъячев'), ('Объедков'), ('Изъюров'), ('Любовь'), ('Вьюгин');
SELECT is_empty($$ SELECT name, scheme, cdp.translit(name, scheme) AS latin,
                          cdp.name_key(cdp.translit(name, scheme)) AS got, cdp.name_key(name) AS expected
                     FROM roundtrip, unnest(ARRAY['icao', 'gost_b', 'bgn', 'informal']) scheme
                    WHERE cdp.name_key(cdp.translit(name, scheme)) <> cdp.name_key(name) $$,
	'name_key: Cyrillic and its icao, gost_b, bgn and informal romanisations meet');
SELECT is_empty($$ SELECT name, cdp.translit(cdp.translit(name, 'icao'), 'lat2cyr') AS back FROM roundtrip
                    WHERE cdp.name_key(cdp.translit(cdp.translit(name, 'icao'), 'lat2cyr')) <> cdp.name_key(name) $$,
	'name_key: ICAO romanisation read back by lat2cyr meets the original');

-- 4. surnames: gendered pairs share a base; names without gender stay as they are --------------
CREATE TEMP TABLE surname_case(input text, base text, sex text);
INSERT INTO surname_case VALUES
	('Иванов', 'иванов', 'M'), ('Иванова', 'иванов', 'F'), ('Петров', 'петров', 'M'), ('Петрова', 'петров', 'F'),
	('Сергеев', 'сергеев', 'M'), ('Сергеева', 'сергеев', 'F'), ('Соловьёв', 'соловьев', 'M'),
	('Соловьёва', 'соловьев', 'F'), ('Ильин', 'ильин', 'M'), ('Ильина', 'ильин', 'F'), ('Никитин', 'никитин', 'M'),
	('Никитина', 'никитин', 'F'), ('Петровский', 'петровский', 'M'), ('Петровская', 'петровский', 'F'),
	('Достоевский', 'достоевский', 'M'), ('Достоевская', 'достоевский', 'F'), ('Высоцкий', 'высоцкий', 'M'),
	('Высоцкая', 'высоцкий', 'F'), ('Толстой', 'толстой', 'M'), ('Толстая', 'толстой', 'F'),
	('Горький', 'горький', 'M'), ('Горькая', 'горький', 'F'), ('Петрова-Водкина', 'петров-водкин', 'F'),
	('Лебедь', 'лебедь', NULL), ('Ковальчук', 'ковальчук', NULL), ('Белых', 'белых', NULL),
	('Шевченко', 'шевченко', NULL), ('Грин', 'грин', 'M'), ('Ева', 'ева', 'F'),
	('Ivanov', 'ivanov', 'M'), ('Ivanova', 'ivanov', 'F'), ('Petrovskaya', 'petrovskiy', 'F'),
	('Petrovskaia', 'petrovskiy', 'F'), ('Tolstaya', 'tolstoy', 'F'), ('Solovyova', 'solovyov', 'F');
SELECT is_empty($$ SELECT input, cdp.surname_base(input) AS got, base FROM surname_case
                    WHERE cdp.surname_base(input) IS DISTINCT FROM base $$,
	'surname_base: the masculine base of Cyrillic and Latin surnames');
SELECT is_empty($$ SELECT input, cdp.name_sex_hint(input) AS got, sex FROM surname_case
                    WHERE cdp.name_sex_hint(input) IS DISTINCT FROM sex $$,
	'name_sex_hint of surnames');

-- 5. patronymics in every case ---------------------------------------------------------------
CREATE TEMP TABLE patronymic_case(input text, base text, sex text);
INSERT INTO patronymic_case VALUES
	('Петрович', 'петрович', 'M'), ('Петровна', 'петрович', 'F'), ('Петровича', 'петрович', 'M'),
	('Петровичу', 'петрович', 'M'), ('Петровичем', 'петрович', 'M'), ('Петровны', 'петрович', 'F'),
	('Петровной', 'петрович', 'F'), ('Сергеевна', 'сергеевич', 'F'), ('Сергеевич', 'сергеевич', 'M'),
	('Ильич', 'ильич', 'M'), ('Ильинична', 'ильич', 'F'), ('Ильича', 'ильич', 'M'),
	('Кузьмич', 'кузьмич', 'M'), ('Кузьминична', 'кузьмич', 'F'), ('Саввич', 'саввич', 'M'),
	('Саввична', 'саввич', 'F'), ('Никитична', 'никитич', 'F'), ('Фоминична', 'фомич', 'F'),
	('Лукинична', 'лукич', 'F'), ('Petrovna', 'petrovich', 'F'), ('Petrovich', 'petrovich', 'M'),
	('Sergeevna', 'sergeevich', 'F'), ('Лебедь', 'лебедь', NULL);
SELECT is_empty($$ SELECT input, cdp.patronymic_base(input) AS got, base FROM patronymic_case
                    WHERE cdp.patronymic_base(input) IS DISTINCT FROM base $$,
	'patronymic_base: masculine nominative of every form');
SELECT is_empty($$ SELECT input, cdp.name_sex_hint(input) AS got, sex FROM patronymic_case
                    WHERE cdp.name_sex_hint(input) IS DISTINCT FROM sex $$,
	'name_sex_hint of patronymics');

-- 6. given names: variants and diminutives to one canonical form ------------------------------
CREATE TEMP TABLE given_case(input text, base text);
INSERT INTO given_case VALUES
	('Мария', 'мария'), ('Марья', 'мария'), ('Маша', 'мария'), ('Maria', 'мария'), ('Mariia', 'мария'),
	('Masha', 'мария'), ('Наталья', 'наталья'), ('Наталия', 'наталья'), ('Наташа', 'наталья'),
	('Natalia', 'наталья'), ('Юля', 'юлия'), ('Iuliia', 'юлия'), ('Julia', 'юлия'), ('Алёша', 'алексей'),
	('Лёша', 'алексей'), ('Alexey', 'алексей'), ('Дима', 'дмитрий'), ('Dmitry', 'дмитрий'),
	('Саша', 'александр'), ('Alexander', 'александр'), ('Женя', 'евгений'), ('Катя', 'екатерина'),
	('Yekaterina', 'екатерина'), ('Софья', 'софья'), ('София', 'софья'), ('Sofia', 'софья'),
	('Pyotr', 'петр'), ('Пётр', 'петр'), ('Марии', 'мария'), ('Натальей', 'наталья'),
	('Лебедь', 'лебедь'), ('Маша Петрова', 'мария петрова');
SELECT is_empty($$ SELECT input, cdp.given_name_base(input) AS got, base FROM given_case
                    WHERE cdp.given_name_base(input) IS DISTINCT FROM base $$,
	'given_name_base: variants, diminutives, romanisations and declined forms');
SELECT is(cdp.given_name_bases('Саша'), ARRAY['александр', 'александра'], 'given_name_bases: Саша stands for both');
SELECT is(cdp.given_name_bases('Лебедь'), '{}'::text[], 'given_name_bases: empty for an unlisted name');
SELECT is(cdp.name_sex_hint('Саша'), NULL, 'name_sex_hint: a unisex diminutive carries no sex');

-- 7. whole names: sex and base keys -----------------------------------------------------------
CREATE TEMP TABLE full_case(input text, sex text, base_key text);
INSERT INTO full_case VALUES
	('Иванова Мария Петровна', 'F', 'ivanov maria petrovich'),
	('Ivanova Mariia', 'F', 'ivanov maria'),
	('Ivanova Maria', 'F', 'ivanov maria'),
	('Иванова Марья', 'F', 'ivanov maria'),
	('Иваннова Мария', 'F', 'ivanov maria'),
	('ИВАНОВА М.П.', 'F', 'ivanov m p'),
	('Иванов Иван Иванович', 'M', 'ivanov ivan ivanovich'),
	('Ivanov Ivan Ivanovich', 'M', 'ivanov ivan ivanovich'),
	('Лебедь Саша', NULL, 'lebed alexandr'),
	('Лебедь Александра Петровна', 'F', 'lebed alexandra petrovich'),
	('Толстой Лев Николаевич', 'M', 'tolsti lev nikolaevich'),
	('Толстая Софья Андреевна', 'F', 'tolsti sofia andrevich'),
	('Мамедов Али оглы', 'M', 'mamedov ali ogli'),
	('Алиева Лейла кызы', 'F', 'alev leila kizi'),
	('Петрова Иван', 'M', 'petrov ivan'),      -- the given name outranks the surname
	('Иванова Иван Петрович Петровна', NULL, 'ivanov ivan petrovich petrovich');  -- patronymics disagree
SELECT is_empty($$ SELECT input, cdp.name_sex_hint(input) AS got, sex FROM full_case
                    WHERE cdp.name_sex_hint(input) IS DISTINCT FROM sex $$,
	'name_sex_hint of whole names: patronymic, then given name, then surname');
SELECT is_empty($$ SELECT input, cdp.name_base_key(input) AS got, base_key FROM full_case
                    WHERE cdp.name_base_key(input) IS DISTINCT FROM base_key $$,
	'name_base_key of whole names');
SELECT is(cdp.name_base_key('Петровская'), cdp.name_base_key('Petrovsky'), 'name_base_key: Петровская meets Petrovsky');
SELECT is(cdp.name_base_key('Донская'), cdp.name_base_key('Донской'), 'name_base_key: -ая meets -ой');

-- 8. stems ------------------------------------------------------------------------------------
SELECT is(cdp.russian_stem('Петровича Ивановой'), 'петрович иванов', 'russian_stem of declined names');

-- 9. edges: empty, emoji only, mixed scripts, long input, bad input -----------------------------
SELECT is(cdp.name_key(''), '', 'name_key of the empty string is empty');
SELECT is(cdp.name_key('😀🎉'), '', 'name_key of emoji only is empty');
SELECT is(cdp.name_sex_hint(''), NULL, 'name_sex_hint of the empty string is NULL');
SELECT is(cdp.name_key('Ivanов Петрoв'), 'ivanov petrov', 'name_key of words mixing Latin and Cyrillic letters');
SELECT is(cdp.name_key('Łukasz Müller-Lüdenscheidt'), 'lukasz muler-ludensheidt', 'name_key of Latin with diacritics');
SELECT is(length(cdp.normalize_name(repeat('Иванова-Петрова ', 700))), 700 * 16 - 1,
	'normalize_name of a 20 kB name');
SELECT is(cdp.name_key(repeat('Юлия ', 2000)), rtrim(repeat('iulia ', 2000)), 'name_key of a 10 kB name');
SELECT throws_ok($$ SELECT cdp.normalize_name(repeat('a', 65537)) $$, '54000', 'argument is too long',
	'normalize_name refuses more than 64 kB');
SELECT throws_ok($$ SELECT cdp.name_key(repeat('я', 40000)) $$, '54000', 'argument is too long',
	'the cap counts bytes, not characters');
SELECT throws_ok($$ SELECT cdp.translit(repeat('a', 65537), 'icao') $$, '54000', 'argument is too long',
	'translit refuses more than 64 kB');

-- 10. random Unicode (fixed seed): every function answers, normalize_name is idempotent ----------
SELECT setseed(0.4242);
CREATE TEMP TABLE fuzz AS
SELECT (SELECT string_agg(chr(CASE (random() * 7)::int
                                WHEN 0 THEN 32 + (random() * 94)::int          -- ASCII
                                WHEN 1 THEN 1024 + (random() * 255)::int       -- Cyrillic
                                WHEN 2 THEN 768 + (random() * 111)::int        -- combining marks
                                WHEN 3 THEN 8192 + (random() * 111)::int       -- punctuation, spaces
                                WHEN 4 THEN 128512 + (random() * 80)::int      -- emoji
                                WHEN 5 THEN 64256 + (random() * 1000)::int     -- ligatures, Arabic forms
                                ELSE 1 + (random() * 31)::int END), '')        -- controls
          FROM generate_series(1, 1 + (random() * 30)::int + g * 0)) AS s
  FROM generate_series(1, 3000) g;
SELECT is((SELECT count(*) FROM fuzz
            WHERE cdp.normalize_name(s) IS NOT NULL AND cdp.name_key(s) IS NOT NULL
              AND cdp.name_base_key(s) IS NOT NULL AND cdp.surname_base(s) IS NOT NULL
              AND cdp.patronymic_base(s) IS NOT NULL AND cdp.given_name_base(s) IS NOT NULL
              AND cdp.given_name_bases(s) IS NOT NULL AND cdp.russian_stem(s) IS NOT NULL
              AND cdp.name_tokens(s) IS NOT NULL
              AND (SELECT bool_and(cdp.translit(s, sc) IS NOT NULL)
                     FROM unnest(ARRAY['icao', 'gost_b', 'bgn', 'informal', 'lat2cyr']) sc)),
          3::bigint * 1000, 'every function answers on 3000 random Unicode strings');
SELECT is_empty($$ SELECT s FROM fuzz WHERE cdp.normalize_name(cdp.normalize_name(s)) <> cdp.normalize_name(s)
                       OR cdp.normalize_name(s) ~ '^[ -]|[ -]$|  |--| -|- ' $$,
	'normalize_name of random strings: idempotent, no separator at the ends or doubled');

SELECT * FROM finish();
ROLLBACK;
