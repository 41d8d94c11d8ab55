-- test/pgtap/88_import.sql: bulk import (issue 16): templates, the three modes, the shapes and
-- encodings of item 3 (each bad shape named by row and column, nothing loaded in all_or_nothing),
-- a 10,000-row file with 1% bad rows in quarantine, cp1251 against its UTF-8 twin, idempotence,
-- clinical events, status, errors and the data-quality view.
BEGIN;
SELECT plan(85);

SELECT cdp.register_source('reception', 'internal', 80);
SELECT cdp.register_source('lab', 'internal', 60);
SELECT cdp.register_source('old_his', 'internal', 50);
SELECT cdp.register_source('old_his_utf8', 'internal', 50);

-- rows of cdp.record and record events of a source
CREATE FUNCTION pg_temp.nrec(src text) RETURNS bigint LANGUAGE sql AS
$$ SELECT count(*) FROM cdp.record r JOIN cdp.source s USING (source_id) WHERE s.name = src $$;
CREATE FUNCTION pg_temp.nev(src text) RETURNS bigint LANGUAGE sql AS
$$ SELECT count(*) FROM cdp.event e WHERE e.kind LIKE 'record.%' AND e.payload ->> 'source' = src $$;
-- the first error of a batch as "row/column: reason"
CREATE FUNCTION pg_temp.err1(b jsonb) RETURNS text LANGUAGE sql AS
$$ SELECT row_no || '/' || coalesce(column_name, '-') || ': ' || reason FROM cdp.import_errors((b ->> 'batch')::bigint) ORDER BY row_no LIMIT 1 $$;

-- ---------------------------------------------------------------- templates
SELECT is(split_part(cdp.import_template('patients'), E'\n', 1),
          'source_id;family_name;given_name;patronymic;birth_date;sex;phone;email;snils;oms;address;city;vk;telegram',
          'the patients template starts with its header');
SELECT is((cdp.import_csv('reception', 'patients', cdp.import_template('patients')) ->> 'created')::int, 1,
          'the patients template''s example row loads as it is');
SELECT is((SELECT family_name || ' ' || given_name || ' ' || patronymic || ' ' || birth_date FROM cdp.record WHERE source_key = 'P-1001'),
          'Иванова Мария Петровна 1985-03-14', 'the example row becomes the record it shows');
SELECT is(array_length(string_to_array(split_part(cdp.import_template('clinical_events'), E'\n', 1), ';'), 1), 22,
          'the clinical events template names every column of every event kind');
SELECT throws_ok($$SELECT cdp.import_template('visits')$$, '22023', 'unknown import kind: "visits"', 'an unknown kind is refused');

-- ---------------------------------------------------------------- a clean file, all or nothing
CREATE TEMP TABLE r AS SELECT cdp.import_csv('reception', 'patients',
E'source_id;фамилия;имя;отчество;дата рождения;пол;телефон;снилс\n'
 'R-1;Иванова;Мария;Петровна;14.03.1985;Ж;8 916 123-45-67;112-233-445 95\n'
 'R-2;"Петров-Водкин";Кузьма;Сергеевич;1978-11-05;м;;\n'
 'R-3;Сидорова;Анна;;;;"+7 (903) 111-22-33";\n') AS res;
SELECT is((SELECT res ->> 'status' FROM r), 'committed', 'a clean file is committed');
SELECT is((SELECT res - 'seconds' - 'batch' FROM r),
          '{"bom": false, "kind": "patients", "mode": "all_or_nothing", "rows": 3, "loaded": 3, "source": "reception", "status": "committed", "created": 3, "updated": 0, "encoding": "utf8", "matching": "later", "rejected": 0, "delimiter": ";", "unchanged": 0, "first_error": null}',
          'the result counts rows, loads and the detected encoding and delimiter');
SELECT is((SELECT family_name || '|' || given_name || '|' || sex || '|' || birth_date || '|' || snils::text || '|' || phones::text FROM cdp.record WHERE source_key = 'R-1'),
          'Иванова|Мария|F|1985-03-14|112-233-445 95|{+79161234567}', 'Russian column names map to ingest''s keys');
SELECT is((SELECT count(*) FROM cdp.import_staging WHERE batch_id = (SELECT (res ->> 'batch')::bigint FROM r)), 0::bigint,
          'a committed batch leaves no staging lines');

-- ---------------------------------------------------------------- idempotence
SELECT is(cdp.import_commit((SELECT (res ->> 'batch')::bigint FROM r)) ->> 'repeated', 'true',
          'committing a committed batch again returns its result, marked repeated');
SELECT is(pg_temp.nrec('reception'), 4::bigint, '... and loads nothing twice');
SELECT is((cdp.import_csv('reception', 'patients',
E'source_id;фамилия;имя;отчество;дата рождения;пол;телефон;снилс\n'
 'R-1;Иванова;Мария;Петровна;14.03.1985;Ж;8 916 123-45-67;112-233-445 95\n') ->> 'unchanged')::int, 1,
          'the same file again: every row unchanged');
SELECT is(pg_temp.nev('reception'), 4::bigint, '... and no new event');

-- ---------------------------------------------------------------- delimiters, quoting, BOM
SELECT is(cdp.import_csv('lab', 'patients', E'source_id,family_name,address\nL-1,Орлова,"ул. Ленина, д. 5"\n') ->> 'delimiter', ',',
          'a comma-delimited file is detected');
SELECT is((SELECT address FROM cdp.record WHERE source_key = 'L-1'), 'ул. Ленина, д. 5', '... and a quoted comma stays in the value');
SELECT is(cdp.import_csv('lab', 'patients', E'source_id\tfamily_name\tcity\nL-2\tСоколов\tТверь\n') ->> 'delimiter', E'\t',
          'a tab-delimited file is detected');
SELECT is(cdp.import_csv('lab', 'patients', E'source_id;family_name;address\nL-3;Белова;"Москва,\nул. Тверская; д. 1"\nL-4;"Кац ""мл.""";\n') ->> 'created', '2',
          'a quoted newline does not end the row');
SELECT is((SELECT address FROM cdp.record WHERE source_key = 'L-3'), 'Москва, ул. Тверская; д. 1', '... the value keeps its parts, white space cleaned by ingest');
SELECT is((SELECT family_name FROM cdp.record WHERE source_key = 'L-4'), 'Кац "мл."', 'a doubled quote is one quote');
SELECT is(cdp.import_csv('lab', 'patients', '\xefbbbf'::bytea || convert_to(E'source_id;family_name\r\nL-5;Лебедева\r\n', 'UTF8')) ->> 'bom', 'true',
          'a UTF-8 BOM is recognised');
SELECT is((SELECT family_name FROM cdp.record WHERE source_key = 'L-5'), 'Лебедева', '... and neither the BOM nor the CR ends up in a value');
SELECT is(cdp.import_csv('lab', 'patients', E'source_id;family_name\n\nL-6;Гусев\n\n') ->> 'rows', '1', 'blank lines are skipped');

-- ---------------------------------------------------------------- cp1251 and its UTF-8 twin
CREATE TEMP TABLE names (i int, fam text, giv text, pat text, dob text, sex text);
INSERT INTO names VALUES
 (1, 'Ёлкина', 'Наталья', 'Сергеевна', '01.02.1970', 'Ж'), (2, 'Щукин', 'Эдуард', 'Юрьевич', '1980-12-31', 'м'),
 (3, 'Жуковская', 'Юлия', 'Фёдоровна', '05.05.1995', 'жен'), (4, 'Цой', 'Виктор', 'Робертович', '1962-06-21', 'М'),
 (5, 'Чернышёв', 'Игорь', 'Яковлевич', '12.12.1949', 'муж'), (6, 'Хабибуллина', 'Эльвира', 'Шамилевна', '1988-08-08', 'Ж');
CREATE TEMP TABLE twin AS
SELECT E'Код;Фамилия;Имя;Отчество;Дата рождения;Пол\r\n' || string_agg(concat_ws(';', 'H-' || i, fam, giv, pat, dob, sex), E'\r\n' ORDER BY i) || E'\r\n' AS csv
  FROM names;
SELECT is(cdp.import_csv('old_his', 'patients', (SELECT convert_to(csv, 'WIN1251') FROM twin)) ->> 'encoding', 'cp1251',
          'a Windows-1251 file is detected as such');
SELECT is(cdp.import_csv('old_his_utf8', 'patients', (SELECT convert_to(csv, 'UTF8') FROM twin)) ->> 'encoding', 'utf8',
          'its UTF-8 twin is detected as UTF-8');
SELECT set_eq(
  $$SELECT r.source_key, p.family_name, p.given_name, p.patronymic, p.birth_date, p.sex
      FROM cdp.record r JOIN cdp.patient p USING (golden_id) JOIN cdp.source s USING (source_id) WHERE s.name = 'old_his'$$,
  $$SELECT r.source_key, p.family_name, p.given_name, p.patronymic, p.birth_date, p.sex
      FROM cdp.record r JOIN cdp.patient p USING (golden_id) JOIN cdp.source s USING (source_id) WHERE s.name = 'old_his_utf8'$$,
  'the cp1251 file and its UTF-8 twin give the same profiles');
SELECT is((SELECT p.family_name || ' ' || p.patronymic FROM cdp.patient p JOIN cdp.record r USING (golden_id) WHERE r.source_key = 'H-5' LIMIT 1),
          'Чернышёв Яковлевич', 'ё and every Cyrillic letter survive the Windows-1251 decoding');
SELECT is(cdp.import_csv('old_his', 'patients',
            convert_to(E'source_id;family_name\nW-1;', 'UTF8') || convert_to(x, 'WIN1251') || '\x0a'::bytea, 'all_or_nothing',
            '{"encoding": "cp1251"}') ->> 'status', 'committed', 'a declared cp1251 file with every high byte but 0x98 loads')
  FROM (SELECT string_agg(chr(c), '' ORDER BY c) AS x FROM generate_series(1040, 1103) c) a;
SELECT is((SELECT family_name FROM cdp.record WHERE source_key = 'W-1'),
          (SELECT string_agg(chr(c), '' ORDER BY c) FROM generate_series(1040, 1103) c),
          '... and decodes А..я to the same letters');
SELECT is(cdp.import_csv('old_his', 'patients',
            convert_to(E'source_id;family_name;note\nW-2;Орлов;', 'UTF8') || hi || '\x0a'::bytea, 'all_or_nothing',
            '{"encoding": "cp1251", "extra_columns": true}') ->> 'status', 'committed', 'bytes 0x80-0xBF of Windows-1251 load too')
  FROM (SELECT string_agg(set_byte('\x00'::bytea, 0, b), '' ORDER BY b) AS hi FROM generate_series(128, 191) b WHERE b <> 152) a;
SELECT is((SELECT extra ->> 'note' FROM cdp.record WHERE source_key = 'W-2'), convert_from(hi, 'WIN1251'),
          '... decoded exactly as PostgreSQL''s own WIN1251 conversion decodes them')
  FROM (SELECT string_agg(set_byte('\x00'::bytea, 0, b), '' ORDER BY b) AS hi FROM generate_series(128, 191) b WHERE b <> 152) a;
SELECT alike(pg_temp.err1(cdp.import_csv('old_his', 'patients', convert_to(E'source_id;family_name\nW-3;', 'UTF8') || '\x98'::bytea,
            'all_or_nothing', '{"encoding": "cp1251"}')), '2/-: The byte 0x98 has no character in Windows-1251.',
          'the one unassigned byte, 0x98, is refused with its row');

-- ---------------------------------------------------------------- item 3: each bad shape, nothing loaded
SELECT is(pg_temp.nrec('lab'), 6::bigint, 'lab has 6 records before the bad files');
CREATE TEMP TABLE bad (name text, res jsonb);
INSERT INTO bad SELECT 'header', cdp.import_csv('lab', 'patients', E'source_id;family_name;phnoe\nB-1;Орлов;89161234567\n');
INSERT INTO bad SELECT 'missing', cdp.import_csv('lab', 'patients', E'source_id;family_name;city\nB-2;Орлов;Тула\nB-3;Орлова\n');
INSERT INTO bad SELECT 'extra', cdp.import_csv('lab', 'patients', E'source_id;family_name;city\nB-4;Орлов;Тула\nB-5;Орлова;Тула;лишнее\n');
INSERT INTO bad SELECT 'duplicate', cdp.import_csv('lab', 'patients', E'source_id;family_name\nB-6;Орлов\nB-7;Орлова\nB-6;Орлов-дубль\n');
INSERT INTO bad SELECT 'megabyte', cdp.import_csv('lab', 'patients', E'source_id;family_name;address\nB-8;Орлов;' || repeat('д', 524288) || E'\n');
INSERT INTO bad SELECT 'empty', cdp.import_csv('lab', 'patients', '');
INSERT INTO bad SELECT 'no id column', cdp.import_csv('lab', 'patients', E'family_name\nОрлов\n');
INSERT INTO bad SELECT 'unclosed quote', cdp.import_csv('lab', 'patients', E'source_id;family_name\nB-9;Орлов\nB-10;"Орлова\n');
INSERT INTO bad SELECT 'not utf8', cdp.import_csv('lab', 'patients', convert_to(E'source_id;family_name\nB-11;Орлов\n', 'UTF8') || convert_to(E'B-12;Орлова\n', 'WIN1251'), 'all_or_nothing', '{"encoding": "utf8"}');
INSERT INTO bad SELECT 'empty id', cdp.import_csv('lab', 'patients', E'source_id;family_name\nB-13;Орлов\n ;Орлова\n');
INSERT INTO bad SELECT 'invalid value', cdp.import_csv('lab', 'patients', E'source_id;family_name;snils\nB-14;Орлов;\nB-15;Орлова;112-233-445 96\n');
SELECT is((SELECT string_agg(DISTINCT res ->> 'status', ',') FROM bad), 'failed', 'every bad file fails');
SELECT is(pg_temp.nrec('lab'), 6::bigint, '... and loads nothing, not even its good rows');
SELECT is(pg_temp.nev('lab'), 6::bigint, '... and appends no event');
SELECT is(pg_temp.err1(res), '1/phnoe: Column "phnoe" is not a column of patients.', 'a wrong header names the column') FROM bad WHERE name = 'header';
SELECT is(pg_temp.err1(res), '3/city: The row has 2 values and the header 3 columns: the values from column "city" on are missing.',
          'a missing column names the row and the column') FROM bad WHERE name = 'missing';
SELECT is(pg_temp.err1(res), '3/column 4: The row has 4 values and the header 3 columns: 1 extra.', 'an extra column names the row') FROM bad WHERE name = 'extra';
SELECT is(pg_temp.err1(res), '4/source_id: The source id "B-6" is also on row 2: a file names each record once.',
          'a duplicate source id names both rows') FROM bad WHERE name = 'duplicate';
SELECT is(pg_temp.err1(res), '2/address: The value is 1048576 bytes long; at most 65536 bytes are accepted.',
          'a 1 MB value names the row and column') FROM bad WHERE name = 'megabyte';
SELECT is(pg_temp.err1(res), '1/-: The file is empty: it has no header line.', 'an empty file says so') FROM bad WHERE name = 'empty';
SELECT is(pg_temp.err1(res), '1/source_id: The header has no source_id column: every row needs the id the source system gives the record.',
          'a file without a source id column says so') FROM bad WHERE name = 'no id column';
SELECT is(pg_temp.err1(res), '3/family_name: A quoted value is not closed: the file ends inside it.', 'an unclosed quote names its row') FROM bad WHERE name = 'unclosed quote';
SELECT alike(pg_temp.err1(res), '3/-: The line is not valid UTF-8%', 'bytes that are not the declared encoding name the row') FROM bad WHERE name = 'not utf8';
SELECT is(pg_temp.err1(res), '3/source_id: The source id is empty: every row needs the id the source system gives the record.',
          'an empty source id names the row') FROM bad WHERE name = 'empty id';
SELECT is(pg_temp.err1(res), '3/snils: The value is not a valid snils.', 'an invalid value is named by ingest''s own rule') FROM bad WHERE name = 'invalid value';
SELECT is((SELECT value FROM cdp.import_errors((res ->> 'batch')::bigint)), '112-233-445 96', '... with the value as given') FROM bad WHERE name = 'invalid value';
SELECT is((SELECT count(*) FROM cdp.import_staging WHERE batch_id = (res ->> 'batch')::bigint), 3::bigint,
          'a failed batch keeps its lines, to be committed again in another mode') FROM bad WHERE name = 'invalid value';
SELECT is(cdp.import_commit((res ->> 'batch')::bigint, 'quarantine') - 'seconds' - 'batch' - 'first_error',
          '{"bom": false, "kind": "patients", "mode": "quarantine", "rows": 2, "loaded": 1, "source": "lab", "status": "committed", "created": 1, "updated": 0, "encoding": "utf8", "matching": "later", "rejected": 1, "delimiter": ";", "unchanged": 0}',
          '... which then loads the good row') FROM bad WHERE name = 'invalid value';

-- ---------------------------------------------------------------- quarantine: 10,000 rows, 1% bad
CREATE TEMP TABLE big AS
SELECT E'source_id;family_name;given_name;birth_date;snils\n' ||
       string_agg(concat_ws(';', 'Q-' || i, 'Фамилия' || i, CASE i % 3 WHEN 0 THEN 'Анна' WHEN 1 THEN 'Ольга' ELSE 'Пётр' END,
                            to_char(date '1950-01-01' + (i * 7) % 20000, 'DD.MM.YYYY'),
                            CASE WHEN i % 100 = 37 THEN '112-233-445 96' ELSE '' END), E'\n' ORDER BY i) || E'\n' AS csv
  FROM generate_series(1, 10000) i;
CREATE TEMP TABLE q AS SELECT cdp.import_csv('reception', 'patients', (SELECT csv FROM big), 'quarantine') AS res;
SELECT is((SELECT (res ->> 'loaded')::int FROM q), 9900, 'quarantine loads exactly the 9,900 good rows of 10,000');
SELECT is(pg_temp.nrec('reception') - 4, 9900::bigint, '... and cdp.record has them');
SELECT is((SELECT count(*) FROM cdp.record WHERE source_key IN (SELECT 'Q-' || i FROM generate_series(37, 10000, 100) i)), 0::bigint,
          '... and none of the bad ones');
SELECT is((SELECT count(*) FROM cdp.import_errors((SELECT (res ->> 'batch')::bigint FROM q))), 100::bigint, 'it lists the 100 bad rows');
SELECT set_eq($$SELECT row_no, column_name, source_id FROM cdp.import_errors((SELECT (res ->> 'batch')::bigint FROM q))$$,
              $$SELECT i + 1 AS r, 'snils' AS c, 'Q-' || i AS k FROM generate_series(37, 10000, 100) i$$,
              '... each with its row (header = row 1), column and source id');

-- ---------------------------------------------------------------- lenient
SELECT is(cdp.import_csv('reception', 'patients', E'source_id;family_name;snils;birth_date\nN-1;Лаптев;12345;31.02.1990\n', 'lenient') ->> 'loaded', '1',
          'lenient loads a row with invalid values');
SELECT is((SELECT snils::text || birth_date::text FROM cdp.record WHERE source_key = 'N-1'), NULL, '... leaving them out of the typed columns');
SELECT is((SELECT extra #>> '{_invalid,snils,value}' FROM cdp.record WHERE source_key = 'N-1'), '12345', '... and keeping the value as given');

-- ---------------------------------------------------------------- clinical events
SELECT is((cdp.import_csv('reception', 'clinical_events',
E'source_id;record_source_id;kind;at;type;status;code\n'
 'V-1;R-1;visit;2024-03-01T09:30:00+03:00;first;done;\n'
 'D-1;R-1;diagnosis;2024-03-01T10:00:00+03:00;;;E11.9\n'
 'D-2;R-2;diagnosis;2024-03-02T10:00:00+03:00;;;диабет\n'
 'V-2;NOPE;visit;2024-03-03T10:00:00+03:00;;;\n', 'quarantine') - 'seconds' - 'batch' - 'first_error'),
 '{"bom": false, "kind": "clinical_events", "mode": "quarantine", "rows": 4, "loaded": 2, "source": "reception", "status": "committed", "created": 2, "updated": 0, "encoding": "utf8", "matching": "later", "rejected": 2, "delimiter": ";", "unchanged": 0}',
 'clinical events load through upsert_clinical_event, refusals quarantined');
SELECT is((SELECT string_agg(row_no || '/' || column_name, ',' ORDER BY row_no) FROM cdp.import_errors(
             (SELECT max(batch_id) FROM cdp_internal.import_batch))), '4/code,5/record_source_id',
          '... naming the column golden''s error names');
SELECT is((SELECT icd10 FROM cdp.clinical_event WHERE source_key = 'D-1'), 'E11.9', '... and the event is stored');
SELECT throws_ok($$SELECT cdp.import_csv('reception', 'clinical_events', E'source_id;record_source_id;kind\n', 'lenient')$$,
                 '22023', 'lenient mode is not for clinical events', 'lenient is refused for clinical events');

-- ---------------------------------------------------------------- the COPY path, status, errors of the API
SELECT ok(cdp.import_begin('reception', 'patients', '{"delimiter": ";", "matching": "now"}') > 0, 'import_begin opens a batch');
INSERT INTO cdp.import_staging (line) VALUES ('source_id;family_name'), ('S-1;Котова'), ('S-2;Котов');
SELECT is(cdp.import_status(currval(pg_get_serial_sequence('cdp_internal.import_batch', 'batch_id'))) ->> 'status', 'open', 'an open batch says open');
SELECT is((cdp.import_status(currval(pg_get_serial_sequence('cdp_internal.import_batch', 'batch_id'))) ->> 'lines')::int, 3, '... with its lines');
SELECT is(jsonb_typeof(cdp.import_commit(currval(pg_get_serial_sequence('cdp_internal.import_batch', 'batch_id'))) -> 'matching'), 'object',
          'matching "now" runs cdp.run_matching after the commit and returns its result');
SELECT is(cdp.import_status(currval(pg_get_serial_sequence('cdp_internal.import_batch', 'batch_id'))) ->> 'loaded', '2', 'a committed batch says what it loaded');
SELECT throws_ok($$INSERT INTO cdp.import_staging (line) VALUES ('x')$$, '55000', 'no import batch is open in this session',
                 'lines without an open batch are refused');
SELECT throws_ok($$SELECT cdp.import_begin('nowhere', 'patients')$$, '22023', 'unknown source: "nowhere"', 'an unknown source is refused');
SELECT throws_ok($$SELECT cdp.import_begin('lab', 'patients', '{"encodng": "cp1251"}')$$, '22023', 'unknown import option: "encodng"', 'an unknown option is refused');
SELECT throws_ok($$SELECT cdp.import_begin('lab', 'patients', '{"encoding": "koi8"}')$$, '22023', 'invalid import encoding: "koi8"', 'an unknown encoding is refused');
SELECT throws_ok($$SELECT cdp.import_commit(-1)$$, '22023', 'unknown import batch: -1', 'an unknown batch is refused');
SELECT throws_ok($$SELECT cdp.import_commit(1, 'best_effort')$$, '22023', 'invalid import mode: "best_effort"', 'an unknown mode is refused');

-- ---------------------------------------------------------------- duplicates, ids out of order, across chunks
-- (session 24: a chunk's ids go into the seen table in id order; the earlier row must still win)
-- an import's rejects as 'row:reason | ...' (with the column: 'row:column:reason')
CREATE FUNCTION pg_temp.rejects_of(res jsonb, with_column boolean DEFAULT false) RETURNS text
LANGUAGE sql AS $$
  SELECT string_agg(e.row_no || ':' || CASE WHEN with_column THEN coalesce(e.column_name, '-') || ':' ELSE '' END
                    || e.reason, ' | ' ORDER BY e.row_no)
    FROM cdp.import_errors((res ->> 'batch')::bigint) e
$$;
-- a source's records as 'source_id=family_name,...'
CREATE FUNCTION pg_temp.records_of(src text) RETURNS text
LANGUAGE sql AS $$
  SELECT string_agg(r.source_key || '=' || r.family_name, ',' ORDER BY r.source_key)
    FROM cdp.record r JOIN cdp.source s USING (source_id) WHERE s.name = src
$$;
SELECT cdp.register_source('dup_order', 'internal', 50);
CREATE TEMP TABLE dup_res AS
SELECT cdp.import_csv('dup_order', 'patients',
         E'source_id;family_name\nZ-9;Орлов\nA-1;Орлова\nZ-9;Орлов-2\nM-5;Ким\nA-1;Ким-2\nM-5;Ким-3\nB-2;Ли\n',
         'quarantine', '{"chunk_rows": 3}') AS res;
SELECT is((SELECT pg_temp.rejects_of(res) FROM dup_res),
          '4:The source id "Z-9" is also on row 2: a file names each record once. | '
          '6:The source id "A-1" is also on row 3: a file names each record once. | '
          '7:The source id "M-5" is also on row 5: a file names each record once.',
          'a later row with an id seen earlier is refused, within a chunk and across chunks, naming the earlier row');
SELECT is(pg_temp.records_of('dup_order'),
          'A-1=Орлова,B-2=Ли,M-5=Ким,Z-9=Орлов', '... and the first row of each id is the one loaded');
SELECT is((SELECT (res ->> 'created')::int FROM dup_res), 4, '... 4 created, the 3 repeats quarantined');

-- session 30: while a chunk's ids are all new to the source, repeats are found without the seen
-- table's index: a repeat of a row set aside in an earlier chunk (not in cdp.record) is still refused
-- naming that row, a repeat within the chunk too; the first chunk with a known id builds the index.
SELECT cdp.register_source('dup_unloaded', 'internal', 50);
CREATE TEMP TABLE dup_file AS
SELECT E'source_id;family_name;snils\nQ-1;Рыбин;12345\nQ-2;Рыбина;\nQ-3;Сом;\nQ-4;Ёрш;\nQ-1;Рыбин-2;\nQ-4;Ёрш-2;\nQ-5;Карп;\nQ-6;Окунь;\nQ-2;Рыбина-2;\n' AS data;
CREATE TEMP TABLE dup_res2 AS
SELECT cdp.import_csv('dup_unloaded', 'patients', data, 'quarantine', '{"chunk_rows": 3}') AS res FROM dup_file;
SELECT is((SELECT pg_temp.rejects_of(res, true) FROM dup_res2),
          '2:snils:The value is not a valid snils. | '
          '6:source_id:The source id "Q-1" is also on row 2: a file names each record once. | '
          '7:source_id:The source id "Q-4" is also on row 5: a file names each record once. | '
          '10:source_id:The source id "Q-2" is also on row 3: a file names each record once.',
          'a repeat of a row set aside earlier, a repeat within a chunk and a repeat of a loaded row are each refused, naming the first row');
SELECT is(pg_temp.records_of('dup_unloaded'),
          'Q-2=Рыбина,Q-3=Сом,Q-4=Ёрш,Q-5=Карп,Q-6=Окунь', '... and only the first row of each id is loaded (Q-1''s was set aside)');
-- the same file again: every id known from the first chunk on (an update), the repeats still refused
CREATE TEMP TABLE dup_res3 AS
SELECT cdp.import_csv('dup_unloaded', 'patients', data, 'quarantine', '{"chunk_rows": 3}') AS res FROM dup_file;
SELECT is((SELECT pg_temp.rejects_of(res) FROM dup_res3),
          '2:The value is not a valid snils. | '
          '6:The source id "Q-1" is also on row 2: a file names each record once. | '
          '7:The source id "Q-4" is also on row 5: a file names each record once. | '
          '10:The source id "Q-2" is also on row 3: a file names each record once.',
          'sent again (ids known to the source), the same rows are refused for the same reasons');
SELECT is((SELECT (res ->> 'unchanged')::int FROM dup_res3), 5, '... and the five loaded rows are unchanged');

-- ---------------------------------------------------------------- data quality
SELECT is((SELECT records FROM cdp.source_quality WHERE source = 'reception'), pg_temp.nrec('reception'), 'source_quality counts the records');
SELECT is((SELECT (completeness ->> 'snils')::numeric FROM cdp.source_quality WHERE source = 'old_his'), 0::numeric, '... completeness per field');
SELECT is((SELECT (invalid_rate ->> 'snils')::numeric FROM cdp.source_quality WHERE source = 'reception'),
          round(1::numeric / pg_temp.nrec('reception'), 4), '... the invalid rate per field');
SELECT is((SELECT (last_import IS NOT NULL, rows_quarantined) FROM cdp.source_quality WHERE source = 'reception'), (true, 102::bigint),
          '... the last import and the rows quarantined (100 patients, 2 clinical events)');
SELECT is((SELECT sum(imports_refused) FROM cdp.source_quality), (SELECT count(*) FROM cdp_internal.import_batch WHERE status = 'failed')::numeric,
          '... and, apart, the imports refused whole');
SELECT is((SELECT count(*) FROM cdp_internal.import_reject
            WHERE reason !~ '^[A-Z0-9]' OR regexp_replace(reason, '"[^"]*"', '', 'g') ~ '[А-Яа-яЁё]'), 0::bigint,
          'every reason the import gave in this file is an English sentence (values in quotes aside)');

SELECT * FROM finish();
ROLLBACK;
