-- test/demo/88_import.sql: the import section of the clinic demo (issue 16).  An old departmental
-- system's export arrives in Windows-1251, ";"-delimited, with a typo in one SNILS and a patient
-- listed twice: all_or_nothing refuses it naming the rows, quarantine loads the rest, and
-- source_quality shows the new source beside the others.
\echo
\echo '== import: a Windows-1251 export of an old system (doc/import.md) =='
SELECT cdp.register_source('old_his', 'internal', 40) \gset
CREATE TEMP TABLE demo_file AS SELECT convert_to(
E'Код;Фамилия;Имя;Отчество;Дата рождения;Пол;Телефон;СНИЛС\r\n'
 'H-1;Ёлкина;Наталья;Сергеевна;01.02.1970;Ж;8 916 555-01-01;112-233-445 95\r\n'
 'H-2;Щукин;Эдуард;Юрьевич;31.12.1980;М;+7 903 555-02-02;\r\n'
 'H-3;Жуковская;Юлия;Фёдоровна;05.05.1995;Ж;;112-233-445 96\r\n'
 'H-4;"Римский-Корсаков";Николай;Андреевич;18.03.1944;М;8 (495) 555-04-04;\r\n'
 'H-2;Щукин;Эдуард;Юрьевич;31.12.1980;М;+7 903 555-02-02;\r\n', 'WIN1251') AS bytes;
\echo '-- all or nothing: refused, each bad row named'
SELECT r ->> 'status' AS status, r ->> 'encoding' AS encoding, r ->> 'delimiter' AS delimiter, r ->> 'rejected' AS rejected
  FROM demo_file, cdp.import_csv('old_his', 'patients', bytes) AS r;
SELECT row_no, column_name, value, reason FROM cdp.import_errors((SELECT max(batch_id) FROM cdp_internal.import_batch));
\echo '-- quarantine: the good rows load, the bad ones wait to be fixed'
SELECT r ->> 'status' AS status, r ->> 'loaded' AS loaded, r ->> 'rejected' AS rejected
  FROM demo_file, cdp.import_csv('old_his', 'patients', bytes, 'quarantine', '{"matching": "now"}') AS r;
SELECT r.source_key, p.golden_id, p.family_name, p.given_name, p.patronymic, p.birth_date, p.record_count
  FROM cdp.record r JOIN cdp.source s USING (source_id) JOIN cdp.patient p USING (golden_id)
 WHERE s.name = 'old_his' ORDER BY r.source_key;
\echo '-- data quality per source'
SELECT source, records, round((completeness ->> 'snils')::numeric, 2) AS snils_filled,
       round((completeness ->> 'phones')::numeric, 2) AS phones_filled, duplicate_rate, rows_quarantined
  FROM cdp.source_quality ORDER BY source;
