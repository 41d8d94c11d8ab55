-- test/demo/88_import.sql: the import section of the clinic demo (issue 16).  An old departmental
-- system's export arrives in Windows-1251, ";"-delimited, with a typo in one SNILS and a patient
-- listed twice: all_or_nothing refuses it naming the rows, quarantine loads the rest, and
-- source_quality shows the new source beside the others.  Then the reception's paper consent
-- forms arrive as a file (statements recorded through the consent registry, rows naming nobody set
-- aside), and the call centre's list of patients to invite becomes a segment's include list, with
-- the identifiers that matched nobody reported.  Output in Russian (doc/demo.md).
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
       rows_quarantined AS "строк в карантине", imports_refused AS "файлов не принято"
  FROM cdp.source_quality ORDER BY source;

\echo
\echo 'Согласия из бумажных анкет регистратуры: файл, где пациент назван кодом старой системы или телефоном'
CREATE TEMP TABLE demo_consents AS SELECT
E'Источник;Код;Телефон;Цель;Канал;Согласие;Дата;Основание\n'
 'old_his;H-1;;маркетинг;смс;да;15.01.2025;анкета при первом визите\n'
 'old_his;H-2;;маркетинг, аналитика;все;да;16.01.2025;анкета при первом визите\n'
 ';;8 (495) 555-04-04;маркетинг;звонок;нет;20.01.2025;отказ по телефону\n'
 'old_his;H-3;;маркетинг;смс;да;15.01.2025;анкета при первом визите\n'
 'old_his;H-2;;рассылка;смс;да;16.01.2025;\n'::text AS f;
SELECT r AS res FROM demo_consents, cdp.import_csv('reception', 'consents', f, 'quarantine') AS r \gset
SELECT (r ->> 'created')::int AS "согласий записано", (r ->> 'rejected')::int AS "строк отложено",
       (r ->> 'not_found')::int AS "из них пациент не найден"
  FROM (SELECT :'res'::jsonb AS r) x;
SELECT row_no AS "строка файла", column_name AS "столбец", value AS "значение",
       CASE WHEN reason LIKE 'Source % has no record %' THEN 'в старой системе нет такой карточки (её не загрузили: ошибка в СНИЛС)'
            WHEN reason LIKE 'Unknown consent purpose%' THEN 'неизвестная цель согласия: лечение, маркетинг, аналитика, партнёры или ЕГИСЗ'
            ELSE reason END AS "причина"
  FROM cdp.import_errors((:'res'::jsonb ->> 'batch')::bigint) ORDER BY row_no;
SELECT p.family_name || ' ' || p.given_name AS "пациент",
       CASE c.purpose WHEN 'marketing' THEN 'маркетинг' WHEN 'analytics' THEN 'аналитика' ELSE c.purpose END AS "цель",
       CASE WHEN count(*) = (SELECT count(*) FROM cdp.consent_channels()) THEN 'все'
            ELSE string_agg(CASE c.channel WHEN 'sms' THEN 'смс' WHEN 'email' THEN 'эл. почта' WHEN 'messenger' THEN 'мессенджер'
                                 WHEN 'social' THEN 'соцсети' WHEN 'call' THEN 'звонок' WHEN 'post' THEN 'письмо' END, ', ' ORDER BY c.channel) END AS "каналы",
       CASE WHEN c.granted THEN 'согласие дано' ELSE 'отказ' END AS "ответ", to_char(c.at, 'DD.MM.YYYY') AS "дата"
  FROM cdp.record r JOIN cdp.source s USING (source_id) JOIN cdp.patient p USING (golden_id)
 CROSS JOIN LATERAL cdp.consent_now(p.golden_id) c
 WHERE s.name = 'old_his' AND NOT c.is_default
 GROUP BY p.family_name, p.given_name, c.purpose, c.granted, c.at ORDER BY 1, 2;

\echo
\echo 'Список колл-центра «пригласить на диспансеризацию» (коды старой системы и телефоны) становится ручным'
\echo 'списком сегмента: кто в списке, тот в сегменте, даже если правило его не отбирает'
\o /dev/null
SELECT cdp.create_segment('Диспансеризация: приглашение', '{"attr": "age", "op": ">=", "value": 120}', 'treatment') AS dseg \gset
\o
CREATE TEMP TABLE demo_list AS SELECT
E'Источник;Код;Телефон\n'
 'old_his;H-4;\n'
 ';;8 916 555-01-01\n'
 ';;8 900 000-00-00\n'
 'old_his;H-3;\n'::text AS f;
SELECT r AS res FROM demo_list, cdp.import_csv('reception', 'segment_list', f, 'quarantine', jsonb_build_object('segment', :dseg)) AS r \gset
SELECT (r ->> 'rows')::int AS "строк в списке", (r ->> 'created')::int AS "включено в сегмент",
       (r ->> 'not_found')::int AS "не найдено", (r ->> 'ambiguous')::int AS "найдено несколько пациентов"
  FROM (SELECT :'res'::jsonb AS r) x;
SELECT row_no AS "строка файла", column_name AS "столбец", value AS "значение",
       CASE WHEN reason LIKE 'No patient has this phone number%' THEN 'ни у одного пациента нет такого телефона'
            WHEN reason LIKE 'Source % has no record %' THEN 'в старой системе нет такой карточки'
            WHEN reason LIKE '% patients have this %' THEN 'этот номер у нескольких пациентов: укажите код карточки'
            ELSE reason END AS "причина"
  FROM cdp.import_errors((:'res'::jsonb ->> 'batch')::bigint) ORDER BY row_no;
\o /dev/null
SELECT cdp.refresh_segment(:dseg, 'full');
\o
SELECT p.family_name || ' ' || p.given_name AS "участник сегмента", to_char(p.birth_date, 'DD.MM.YYYY') AS "дата рождения"
  FROM cdp.segment_member m JOIN cdp.patient p USING (golden_id) WHERE m.segment_id = :dseg ORDER BY 1;
