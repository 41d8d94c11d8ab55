-- test/bench/comparators/pairs.sql: the benchmark's name pairs (psql variables: pairs, seed).
-- Deterministic: setseed() and a serial plan. Half Cyrillic, half Latin; a third single names
-- (surname or given name, 4-12 characters), two thirds "surname given [patronymic]" (10-30);
-- 60 % of pairs are one record typed twice with 0-2 typos (substitution, deletion, insertion,
-- swap of neighbours), 40 % are two different people.
SET max_parallel_workers_per_gather = 0;
SET client_min_messages = warning;
DROP TABLE IF EXISTS bench_pairs;
CREATE UNLOGGED TABLE bench_pairs (id int PRIMARY KEY, script text NOT NULL, a text NOT NULL, b text NOT NULL);

CREATE FUNCTION pg_temp.typo(s text, alphabet text, edits int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  p int; c text;
BEGIN
  FOR k IN 1..edits LOOP
    EXIT WHEN length(s) < 3;
    p := 2 + floor(random() * (length(s) - 2))::int;           -- keep the first letter
    c := substr(alphabet, 1 + floor(random() * length(alphabet))::int, 1);
    CASE floor(random() * 4)::int
      WHEN 0 THEN s := overlay(s placing c from p for 1);        -- substitution
      WHEN 1 THEN s := overlay(s placing '' from p for 1);       -- deletion
      WHEN 2 THEN s := overlay(s placing c from p for 0);        -- insertion
      ELSE s := overlay(s placing substr(s, p + 1, 1) || substr(s, p, 1) from p for 2);  -- swap
    END CASE;
  END LOOP;
  RETURN s;
END $$;

CREATE FUNCTION pg_temp.person(cyr bool) RETURNS text LANGUAGE sql AS $$
  WITH n AS (
    SELECT CASE WHEN cyr THEN
      '{Иванов,Смирнов,Кузнецов,Попов,Васильев,Петров,Соколов,Михайлов,Новиков,Фёдоров,Морозов,Волков,Алексеев,Лебедев,Семёнов,Егоров,Павлов,Козлов,Степанов,Николаев,Орлов,Андреев,Макаров,Никитин,Захаров,Зайцев,Соловьёв,Борисов,Яковлев,Григорьев,Романов,Воробьёв,Сергеев,Кузьмин,Фролов,Александров,Дмитриев,Королёв,Гусев,Киселёв,Ильин,Максимов,Поляков,Сорокин,Виноградов,Ковалёв,Белов,Медведев,Антонов,Тарасов,Жуков,Баранов,Филиппов,Комаров,Давыдов,Беляев,Герасимов,Богданов,Осипов,Сидоров,Матвеев,Титов,Марков,Миронов,Крылов,Куликов,Карпов,Власов,Мельников,Денисов,Гаврилов,Тихонов,Казаков,Афанасьев,Данилов,Савельев,Тимофеев,Фомин,Чернов,Абрамов,Мартынов,Ефимов,Федотов,Щербаков,Назаров,Калинин,Исаев,Чернышёв,Быков,Маслов,Родионов,Коновалов,Лазарев,Воронин,Климов,Филатов,Пономарёв,Голубев,Кудрявцев,Прохоров,Наумов,Потапов,Журавлёв,Овчинников,Трофимов,Леонов,Соболев,Ермаков,Колесников,Гончаров,Емельянов,Никифоров,Грачёв,Котов,Гришин,Ефремов,Архипов,Громов,Кириллов,Малышев,Панов,Моисеев,Румянцев,Акимов,Кондратьев,Бирюков,Горбунов,Анисимов,Ерёмин,Тихомиров,Галкин,Лукьянов,Михеев,Скворцов,Юдин,Белоусов,Нестеров,Симонов,Прокофьев,Харитонов,Князев,Цветков,Левин,Митрофанов,Воронов,Аксёнов,Софронов,Мальцев,Логинов,Горшков,Савин,Краснов,Майоров,Демидов,Елисеев,Рыбаков,Сафонов,Плотников,Дёмин,Хохлов,Жданов,Носов,Смирнов-Соколов,Салтыков-Щедрин}'::text[]
    ELSE
      '{Ivanov,Smirnov,Kuznetsov,Popov,Vasilev,Petrov,Sokolov,Mikhailov,Novikov,Fedorov,Morozov,Volkov,Alekseev,Lebedev,Semenov,Egorov,Pavlov,Kozlov,Stepanov,Nikolaev,Orlov,Andreev,Makarov,Nikitin,Zakharov,Zaitsev,Solovyov,Borisov,Yakovlev,Grigorev,Romanov,Vorobyov,Sergeev,Kuzmin,Frolov,Aleksandrov,Dmitriev,Korolev,Gusev,Kiselev,Smith,Johnson,Williams,Brown,Jones,Miller,Davis,Garcia,Rodriguez,Wilson,Martinez,Anderson,Taylor,Thomas,Hernandez,Moore,Martin,Jackson,Thompson,White,Lopez,Lee,Gonzalez,Harris,Clark,Lewis,Robinson,Walker,Perez,Hall,Young,Allen,Sanchez,Wright,King,Scott,Green,Baker,Adams,Nelson,Hill,Ramirez,Campbell,Mitchell,Roberts,Carter,Phillips,Evans,Turner,Torres,Parker,Collins,Edwards,Stewart,Flores,Morris,Nguyen,Murphy,Rivera,Cook,Rogers,Morgan,Peterson,Cooper,Reed,Bailey,Bell,Gomez,Kelly,Howard,Ward,Cox,Diaz,Richardson,Wood,Watson,Brooks,Bennett,Gray,James,Reyes,Cruz,Hughes,Price,Myers,Long,Foster,Sanders,Ross,Morales,Powell,Sullivan,Russell,Ortiz,Jenkins,Gutierrez,Perry,Butler,Barnes,Fisher,Henderson,Coleman,Simmons,Patterson,Jordan,Reynolds,Hamilton,Graham,Kim,Gonzales,Alexander,Ramos,Wallace,Griffin,West,Cole,Hayes,Chavez,Gibson,Bryant,Ellis,Stevens,Murray,Ford,Marshall,Owens,McDonald,Harrison,Ruiz,Kennedy,Wells,Alvarez,Woods,Mendoza,Castillo,Olson,Webb,Washington,Tucker,Freeman,Burns,Henry,Vasquez,Snyder,Simpson,Crawford,Jimenez,Porter,Mason,Shaw,Gordon,Wagner,Hunter,Romero,Hicks,Dixon,Hunt,Palmer,Robertson,Black,Holmes,Stone,Meyer,Boyd,Mills,Warren,Fox,Rose,Rice,Moreno,Schmidt,Patel,Ferguson,Nichols,Herrera,Medina,Ryan,Fernandez,Weaver,Daniels,Stephens,Gardner,Payne,Kelley,Dunn,Pierce,Arnold,Tran,Spencer,Peters,Hawkins,Grant,Hansen,Castro,Hoffman,Hart,Elliott,Cunningham,Knight,Bradley}'::text[]
    END AS sur,
    CASE WHEN cyr THEN
      '{Александр,Алексей,Анатолий,Андрей,Антон,Артём,Борис,Вадим,Валерий,Василий,Виктор,Виталий,Владимир,Дмитрий,Евгений,Иван,Игорь,Илья,Кирилл,Максим,Михаил,Николай,Олег,Павел,Пётр,Роман,Сергей,Юрий,Ярослав,Анна,Алла,Валентина,Вера,Галина,Дарья,Евгения,Екатерина,Елена,Ирина,Ксения,Лариса,Любовь,Людмила,Марина,Мария,Наталья,Надежда,Нина,Ольга,Полина,Светлана,Софья,Татьяна,Юлия}'::text[]
    ELSE
      '{Aleksandr,Aleksei,Anatolii,Andrei,Anton,Artem,Boris,Vadim,Valerii,Vasilii,Viktor,Vitalii,Vladimir,Dmitrii,Evgenii,Ivan,Igor,Ilia,Kirill,Maksim,Mikhail,Nikolai,Oleg,Pavel,Petr,Roman,Sergei,Iurii,Iaroslav,James,John,Robert,Michael,William,David,Richard,Joseph,Thomas,Charles,Mary,Patricia,Jennifer,Linda,Elizabeth,Barbara,Susan,Jessica,Sarah,Karen,Anna,Alla,Elena,Irina,Maria,Natalia,Olga,Tatiana,Iuliia}'::text[]
    END AS giv,
    CASE WHEN cyr THEN
      '{Александрович,Алексеевич,Андреевич,Борисович,Викторович,Владимирович,Дмитриевич,Иванович,Игоревич,Михайлович,Николаевич,Петрович,Сергеевич,Юрьевич,Александровна,Алексеевна,Андреевна,Викторовна,Владимировна,Ивановна,Михайловна,Николаевна,Петровна,Сергеевна}'::text[]
    ELSE
      '{Aleksandrovich,Alekseevich,Andreevich,Borisovich,Viktorovich,Vladimirovich,Ivanovich,Mikhailovich,Nikolaevich,Petrovich,Sergeevich,Aleksandrovna,Ivanovna,Nikolaevna,Petrovna,Sergeevna,Lee,Ann,Marie,Paul}'::text[]
    END AS pat
  ), r AS (SELECT random() AS shape, random() AS i1, random() AS i2, random() AS i3)
  SELECT CASE
           WHEN shape < 0.17 THEN sur[1 + floor(i1 * cardinality(sur))::int]
           WHEN shape < 0.33 THEN giv[1 + floor(i2 * cardinality(giv))::int]
           WHEN shape < 0.67 THEN sur[1 + floor(i1 * cardinality(sur))::int] || ' ' || giv[1 + floor(i2 * cardinality(giv))::int]
           ELSE sur[1 + floor(i1 * cardinality(sur))::int] || ' ' || giv[1 + floor(i2 * cardinality(giv))::int]
                || ' ' || pat[1 + floor(i3 * cardinality(pat))::int]
         END
  FROM n, r
$$;

\o /dev/null
SELECT setseed(:seed);
\o
INSERT INTO bench_pairs
SELECT g, CASE WHEN cyr THEN 'cyrillic' ELSE 'latin' END, a,
       CASE WHEN same THEN pg_temp.typo(a, CASE WHEN cyr THEN 'абвгдеёжзийклмнопрстуфхцчшщъыьэюя' ELSE 'abcdefghijklmnopqrstuvwxyz' END,
                                      floor(random() * 3)::int)
            ELSE pg_temp.person(cyr) END
FROM (SELECT g, cyr, pg_temp.person(cyr) AS a, random() < 0.6 AS same
      FROM (SELECT g, random() < 0.5 AS cyr FROM generate_series(1, :pairs) g) s) t;
ANALYZE bench_pairs;
-- the same seed and size must give the same fingerprint on every machine
SELECT md5(string_agg(a || '|' || b, E'\n' ORDER BY id)) AS fingerprint FROM bench_pairs;
SELECT script, count(*) AS pairs, round(avg(length(a)), 1) AS avg_chars, min(length(a)) AS min_chars,
       max(length(a)) AS max_chars, round(avg(octet_length(a)), 1) AS avg_bytes
FROM bench_pairs GROUP BY script ORDER BY script;
