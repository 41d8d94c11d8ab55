-- test/demo/88_import.sql: the import section of the clinic demo (issue 16).  An old departmental
-- system's export arrives in Windows-1251, ";"-delimited, with a typo in one SNILS and a patient
-- listed twice: all_or_nothing refuses it naming the rows, quarantine loads the rest, and
-- source_quality shows the new source beside the others.  Output in Russian (doc/demo.md).
\pset footer off
\pset null '—'
\pset linestyle unicode
\echo
\echo '--- 17. Импорт: выгрузка старой системы отделения (кодировка Windows-1251, разделитель «;»; doc/import.md)'
\echo '        В файле 5 строк: в одной опечатка в СНИЛС, один пациент записан дважды.'
\o /dev/null
SELECT cdp.register_source('old_his', 'internal', 40);
\o
CREATE TEMP TABLE demo_file AS SELECT convert_to(
E'Код;Фамилия;Имя;Отчество;Дата рождения;Пол;Телефон;СНИЛС\r\n'
 'H-1;Ёлкина;Наталья;Сергеевна;01.02.1970;Ж;8 916 555-01-01;112-233-445 95\r\n'
 'H-2;Щукин;Эдуард;Юрьевич;31.12.1980;М;+7 903 555-02-02;\r\n'
 'H-3;Жуковская;Юлия;Фёдоровна;05.05.1995;Ж;;112-233-445 96\r\n'
 'H-4;"Римский-Корсаков";Николай;Андреевич;18.03.1944;М;8 (495) 555-04-04;\r\n'
 'H-2;Щукин;Эдуард;Юрьевич;31.12.1980;М;+7 903 555-02-02;\r\n', 'WIN1251') AS bytes;
\echo
\echo 'Режим «всё или ничего»: файл не принят целиком, каждая ошибочная строка названа'
SELECT r AS res FROM demo_file, cdp.import_csv('old_his', 'patients', bytes) AS r \gset
SELECT CASE r ->> 'status' WHEN 'failed' THEN 'не принят' WHEN 'committed' THEN 'принят' ELSE r ->> 'status' END AS "итог",
       CASE r ->> 'encoding' WHEN 'cp1251' THEN 'Windows-1251' ELSE r ->> 'encoding' END AS "кодировка (распознана)",
       r ->> 'delimiter' AS "разделитель", (r ->> 'loaded')::int AS "строк загружено", (r ->> 'rejected')::int AS "строк с ошибками"
  FROM (SELECT :'res'::jsonb AS r) x;
SELECT (:'res'::jsonb ->> 'batch')::bigint AS batch \gset
SELECT row_no AS "строка файла", column_name AS "столбец", value AS "значение",
       CASE WHEN reason LIKE 'The value is not a valid snils%' THEN 'неверный СНИЛС (не сходится контрольное число)'
            WHEN reason LIKE 'The source id % is also on row %' THEN 'этот код уже есть в строке '
                 || substring(reason FROM 'on row ([0-9]+)') || ': в файле каждый пациент должен быть один раз'
            ELSE reason END AS "причина"
  FROM cdp.import_errors(:batch) ORDER BY row_no;
\echo
\echo 'Режим «карантин»: верные строки загружены, ошибочные ждут исправления'
SELECT CASE r ->> 'status' WHEN 'failed' THEN 'не принят' WHEN 'committed' THEN 'принят' ELSE r ->> 'status' END AS "итог",
       (r ->> 'loaded')::int AS "строк загружено", (r ->> 'rejected')::int AS "строк отложено в карантин"
  FROM demo_file, cdp.import_csv('old_his', 'patients', bytes, 'quarantine', '{"matching": "now"}') AS r;
SELECT r.source_key AS "код в файле", p.golden_id AS "карточка", p.family_name AS "фамилия", p.given_name AS "имя",
       p.patronymic AS "отчество", to_char(p.birth_date, 'DD.MM.YYYY') AS "дата рождения", p.record_count AS "записей в карточке"
  FROM cdp.record r JOIN cdp.source s USING (source_id) JOIN cdp.patient p USING (golden_id)
 WHERE s.name = 'old_his' ORDER BY r.source_key;
\echo
\echo 'Качество данных по источникам (доля записей, в которых поле заполнено; дубли — записи, у которых'
\echo 'в том же источнике есть другая запись того же человека):'
SELECT source AS "источник", records AS "записей",
       round(100 * (completeness ->> 'snils')::numeric) || ' %' AS "СНИЛС заполнен",
       round(100 * (completeness ->> 'phones')::numeric) || ' %' AS "телефон заполнен",
       round(100 * duplicate_rate, 1) || ' %' AS "дубли в источнике",
       rows_quarantined AS "строк отклонено (все импорты)"
  FROM cdp.source_quality ORDER BY source;
