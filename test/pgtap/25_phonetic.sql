-- test/pgtap/25_phonetic.sql: phonetic keys (doc/phonetic.md) on many names at once.
--  * cdp.dmetaphone/dmetaphone_alt against fuzzystrmatch's dmetaphone/dmetaphone_alt on generated
--    Latin surnames (every prefix joined to every ending, chosen to reach each of Philips' rules);
--  * the documented differences (accented letters, which fuzzystrmatch does not fold);
--  * cdp.phonetic_ru on Cyrillic variant groups that must share a key and pairs that must not;
--  * cdp.dm_soundex on spellings that must share a code, and the shape of every code.
BEGIN;
SELECT plan(20);

CREATE EXTENSION IF NOT EXISTS fuzzystrmatch WITH SCHEMA public;

CREATE TEMP TABLE latin_names AS
SELECT p || s AS name
  FROM unnest(string_to_array('Sch,Mc,Mac,Van ,O,Al,Ber,Car,Cha,Chr,Da,Ed,Fitz,Ga,Gh,Gn,Har,Ja,Jo,Kn,Kr,La,Mi,Ni,Ph,Ps,Qu,Ro,Sa,San ,Sh,Ste,Th,Tho,Vi,Wa,Wh,Wr,Xa,Zh,Ca,Ce,Ci,Cz,Ma,Pe,Ha,Bi,Bo,Le,Lu,Ju,Ya,Ag,Ig,Ug,Eu,Ai', ',')) AS p,
       unnest(string_to_array('ith,midt,mpson,se,vier,esar,chael,ers,kowitz,rbach,ckson,ller,gh,ghton,gne,gnier,ch,cht,chia,cchi,ccia,cce,chet,sson,tion,tia,tch,sian,sio,zz,zzo,ger,gy,ggi,dge,dgar,ll,llo,lle,mb,mber,nn,ph,pb,rier,sl,sugar,sh,sheim,sc,sch,schen,scher,schoo,x,eaux,wski,witz,wicz,w,ach,acher,orches,nchez,jo,ja,quez,cz,cia,ce,cy,ck,cq,gli,gney,ies,ois,ais,th,thom,ough,augh,ugh,iel,ijk,ly,ry,ton,ley,son,man,berg,stein', ',')) AS s;

SELECT cmp_ok((SELECT count(DISTINCT name) FROM latin_names), '>=', 2000::bigint,
              'at least 2000 distinct generated Latin surnames');

SELECT is_empty($$
	SELECT name, cdp.dmetaphone(name), public.dmetaphone(name) FROM latin_names
	 WHERE cdp.dmetaphone(name) IS DISTINCT FROM public.dmetaphone(name) $$,
	'cdp.dmetaphone equals fuzzystrmatch dmetaphone on every generated surname');

SELECT is_empty($$
	SELECT name, cdp.dmetaphone_alt(name), public.dmetaphone_alt(name) FROM latin_names
	 WHERE cdp.dmetaphone_alt(name) IS DISTINCT FROM public.dmetaphone_alt(name) $$,
	'cdp.dmetaphone_alt equals fuzzystrmatch dmetaphone_alt on every generated surname');

SELECT is_empty($$
	SELECT name FROM (SELECT name, cdp.dmetaphone(name) AS p, cdp.dmetaphone_alt(name) AS a
	                    FROM latin_names) AS c
	 WHERE length(p) > 4 OR length(a) > 4
	    OR cdp.dmetaphone_keys(name) IS DISTINCT FROM
	       CASE WHEN p = '' AND a = '' THEN '{}'::text[]
	            WHEN a = '' OR a = p THEN ARRAY[p]
	            WHEN p = '' THEN ARRAY[a]
	            ELSE ARRAY[p, a] END $$,
	'codes have at most 4 letters; dmetaphone_keys holds the distinct non-empty codes');

-- The known differences: fuzzystrmatch upper-cases byte by byte, so an accented letter in UTF-8
-- is two unknown bytes to it and codes nothing; cdp folds it first (Ñ -> N, Ü -> U, ß -> SS) and
-- keeps Philips' own rule for Ç (S).  On the same names spelt without accents both agree.  An
-- accent on a vowel other than the first letter changes nothing (Müller), as vowels code nothing.
SELECT results_eq($$
	SELECT accented FROM (VALUES ('Núñez', 'Nunez'), ('Müller', 'Muller'), ('Ibáñez', 'Ibanez'),
	                             ('Straße', 'Strasse'), ('Çelik', 'Selik'), ('Øster', 'Oster'),
	                             ('Łukasz', 'Lukasz'),
	                             ('Plain', 'Plain')) AS t(accented, ascii)
	 WHERE cdp.dmetaphone(accented) <> public.dmetaphone(accented)
	   AND cdp.dmetaphone(accented) = public.dmetaphone(ascii)
	 ORDER BY 1 $$,
	$$ SELECT * FROM (VALUES ('Çelik'), ('Ibáñez'), ('Łukasz'), ('Núñez'), ('Straße'), ('Øster')) AS v
	    ORDER BY 1 $$,
	'accented names differ from fuzzystrmatch exactly where it cannot fold the accent');

SELECT is(cdp.dmetaphone_keys('Иванов'), '{}'::text[],
          'Cyrillic text has no Double Metaphone code (callers pass a Latin name key)');

-- Russian key: variant spellings that must share one key (group number, spelling)
CREATE TEMP TABLE ru_groups(g int, name text);
INSERT INTO ru_groups VALUES
	(1, 'Иванова'),
	(1, 'Иваннова'),
	(1, 'Ивонова'),
	(1, 'Иванов'),
	(2, 'Сергеев'),
	(2, 'Сергееф'),
	(2, 'Сергеева'),
	(3, 'Шварцман'),
	(3, 'Шварсман'),
	(4, 'Щукин'),
	(4, 'Щюкин'),
	(5, 'Пётр'),
	(5, 'Петр'),
	(6, 'Дмитриев'),
	(6, 'Дмитриева'),
	(6, 'Дмитреев'),
	(7, 'Ковальчук'),
	(7, 'Ковальчюк'),
	(7, 'Кавальчук'),
	(8, 'Майорова'),
	(8, 'Маиорова'),
	(8, 'Майоров'),
	(9, 'Алексеев'),
	(9, 'Алексеева'),
	(9, 'Алексееф'),
	(9, 'Олексеев'),
	(10, 'Фёдоров'),
	(10, 'Федоров'),
	(10, 'Фёдорова'),
	(10, 'Фидоров'),
	(11, 'Соловьёв'),
	(11, 'Соловьев'),
	(11, 'Соловьева'),
	(11, 'Соловев'),
	(12, 'Воробьёв'),
	(12, 'Воробьев'),
	(12, 'Варабьев'),
	(13, 'Чайковский'),
	(13, 'Чайковская'),
	(13, 'Чайковской'),
	(14, 'Толстой'),
	(14, 'Толстая'),
	(14, 'Толстый'),
	(15, 'Гончаров'),
	(15, 'Ганчаров'),
	(15, 'Гончарова'),
	(16, 'Козлов'),
	(16, 'Казлов'),
	(16, 'Козлова'),
	(17, 'Зайцев'),
	(17, 'Зайцева'),
	(17, 'Зайцеф'),
	(17, 'Заитцев'),
	(18, 'Юрьев'),
	(18, 'Юрев'),
	(18, 'Юрьева'),
	(19, 'Ильин'),
	(19, 'Ильина'),
	(19, 'Илин'),
	(20, 'Лебедев'),
	(20, 'Лебедева'),
	(20, 'Лебидев'),
	(21, 'Морозов'),
	(21, 'Марозов'),
	(21, 'Морозова'),
	(22, 'Новиков'),
	(22, 'Навиков'),
	(22, 'Новикова'),
	(23, 'Кузнецов'),
	(23, 'Кузнецова'),
	(23, 'Кузнецоф'),
	(24, 'Смирнов'),
	(24, 'Смирнова'),
	(24, 'Смернов'),
	(25, 'Попов'),
	(25, 'Попова'),
	(25, 'Поппов'),
	(26, 'Васильев'),
	(26, 'Васильева'),
	(26, 'Василев'),
	(26, 'Васильеф'),
	(27, 'Григорьев'),
	(27, 'Григорьева'),
	(27, 'Григорев'),
	(28, 'Богданов'),
	(28, 'Богданова'),
	(28, 'Багданов'),
	(29, 'Жуков'),
	(29, 'Жукова'),
	(29, 'Жюков'),
	(30, 'Шевченко'),
	(30, 'Шевченка'),
	(30, 'Шивченко'),
	(31, 'Хабибуллин'),
	(31, 'Хабибулин'),
	(31, 'Хабибуллина'),
	(32, 'Абрамович'),
	(32, 'Абрамовичь'),
	(33, 'Петровна'),
	(33, 'Петрович'),
	(34, 'Сергеевна'),
	(34, 'Сергеевич'),
	(35, 'Ёлкин'),
	(35, 'Елкин'),
	(35, 'Йолкин'),
	(36, 'Праздников'),
	(36, 'Празников'),
	(37, 'Солнцев'),
	(37, 'Сонцев'),
	(38, 'Брацкий'),
	(38, 'Братский'),
	(38, 'Брадский'),
	(39, 'Извозчиков'),
	(39, 'Извощиков'),
	(40, 'Лужков'),
	(40, 'Лушков'),
	(41, 'Голубь'),
	(41, 'Голуп'),
	(42, 'Мамедов'),
	(42, 'Мамедова'),
	(42, 'Мамiдов'),
	(42, 'Мамідов'),
	(43, 'Сoколов'),
	(43, 'Соколов'),
	(43, 'Соколова'),
	(44, 'Кудрявцев'),
	(44, 'Кудрявцева'),
	(44, 'Кудрявцеф'),
	(45, 'Гаврилов'),
	(45, 'Гаврилова'),
	(45, 'Гаврилоф'),
	(46, 'Степанов'),
	(46, 'Стипанов'),
	(46, 'Степанова'),
	(47, 'Еременко'),
	(47, 'Ерёменко'),
	(47, 'Эременко'),
	(48, 'Евдокимов'),
	(48, 'Йевдокимов'),
	(48, 'Евдокимова'),
	(49, 'Наталья'),
	(49, 'Наталия'),
	(50, 'Дарья'),
	(50, 'Дария'),
	(51, 'Ковалёв'),
	(51, 'Ковальов'),
	(51, 'Ковалева'),
	(52, 'Подъячев'),
	(52, 'Подьячев'),
	(53, 'Софья'),
	(53, 'София');

SELECT is((SELECT count(DISTINCT g) FROM ru_groups), 53::bigint, '53 Cyrillic variant groups');

SELECT is_empty($$
	SELECT g, array_agg(name || ' = ' || cdp.phonetic_ru(name)) FROM ru_groups
	 GROUP BY g HAVING count(DISTINCT cdp.phonetic_ru(name)) > 1 $$,
	'every Cyrillic variant group shares one key');

SELECT is_empty($$
	SELECT a.name, b.name, cdp.phonetic_ru(a.name) FROM ru_groups a JOIN ru_groups b ON a.g < b.g
	 WHERE cdp.phonetic_ru(a.name) = cdp.phonetic_ru(b.name) $$,
	'no two variant groups share a key');

SELECT is_empty($$
	SELECT a, b FROM (VALUES ('Иванов', 'Петров'), ('Иванов', 'Иванцов'), ('Петров', 'Петраков'),
	                         ('Белов', 'Белых'), ('Орлов', 'Орлин'), ('Сидоров', 'Сидоренко'),
	                         ('Марков', 'Макаров'), ('Зайцев', 'Зуев'), ('Волков', 'Волгин'),
	                         ('Шишкин', 'Мишкин'), ('Царев', 'Сарев'), ('Ершов', 'Яшин'),
	                         ('Нина', 'Нин'), ('Ева', 'Ев')) AS t(a, b)
	 WHERE cdp.phonetic_ru(a) = cdp.phonetic_ru(b) $$,
	'different names keep different keys');

SELECT isnt(cdp.phonetic_ru('Иванова', false), cdp.phonetic_ru('Иванов', false),
            'fold_gender => false keeps the feminine ending');

SELECT is_empty($$
	SELECT name FROM ru_groups WHERE cdp.phonetic_ru(upper(name)) <> cdp.phonetic_ru(lower(name)) $$,
	'the Russian key ignores letter case');

SELECT is(cdp.phonetic_ru('Римский-Корсаков Иван'),
          cdp.phonetic_ru('Римский') || ' ' || cdp.phonetic_ru('Корсаков') || ' ' || cdp.phonetic_ru('Иван'),
          'multi-word input: one key per word, joined by single spaces');

SELECT is(cdp.phonetic_ru(''), '', 'empty input gives an empty key');

-- Daitch-Mokotoff: spellings that must share at least one code
SELECT is_empty($$
	SELECT a, b, cdp.dm_soundex(a), cdp.dm_soundex(b)
	  FROM (VALUES ('Lipshitz', 'Lipszyc'), ('Lipshitz', 'Lippszyc'), ('Moskowitz', 'Moskovitz'),
	               ('Schwartz', 'Szwarc'), ('Peters', 'Petersz'), ('Jackson', 'Jakson'),
	               ('Auerbach', 'Orbach'), ('Kleinman', 'Klajnman'), ('Rosenberg', 'Rozenberg'),
	               ('Kaczmarek', 'Katschmarek'), ('Chaimowicz', 'Haimovitch')) AS t(a, b)
	 WHERE NOT cdp.dm_soundex(a) && cdp.dm_soundex(b) $$,
	'Daitch-Mokotoff variants share a code');

SELECT ok(NOT cdp.dm_soundex('Moskowitz') && cdp.dm_soundex('Peters'),
          'different names have different Daitch-Mokotoff codes');

SELECT is_empty($$
	SELECT name, cdp.dm_soundex(name) FROM latin_names
	 WHERE cardinality(cdp.dm_soundex(name)) NOT BETWEEN 1 AND 32
	    OR EXISTS (SELECT 1 FROM unnest(cdp.dm_soundex(name)) c WHERE c !~ '^[0-9]{6}$')
	    OR cdp.dm_soundex(name) <> ARRAY(SELECT DISTINCT c FROM unnest(cdp.dm_soundex(name)) c ORDER BY c) $$,
	'every generated surname has 1 to 32 distinct sorted six-digit codes');

SELECT is(cdp.dm_soundex('Иванов'), '{}'::text[], 'no Latin letter: no Daitch-Mokotoff code');

SELECT throws_ok($$ SELECT cdp.dm_soundex(repeat('x', 70000)) $$, '54000',
                 'argument is too long',
                 'the 64 kB cap raises program_limit_exceeded');

SELECT throws_ok($$ SELECT cdp.phonetic_ru(repeat('ж', 35000)) $$, '54000', NULL,
                 'the cap counts bytes, not characters');

SELECT * FROM finish();
ROLLBACK;
