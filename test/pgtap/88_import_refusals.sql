-- test/pgtap/88_import_refusals.sql: rows and headers import must refuse cleanly (issue 16, audit of
-- session 25): a row upsert_records refuses that the lenient check does not flag (the loader's
-- row-by-row fallback, each mode), a document over ingest's cap whose fields are each under the
-- field cap, two header columns for one field, the reserved key _invalid (ingest, import header,
-- cdp.source_quality), a UTF-16 file, and an unknown batch.
BEGIN;
SELECT plan(39);

SELECT cdp.register_source('lab', 'internal', 60) IS NOT NULL AS src \gset

-- the first error of a batch as "row/column: reason"
CREATE FUNCTION pg_temp.err1(b jsonb) RETURNS text LANGUAGE sql AS
$$ SELECT row_no || '/' || coalesce(column_name, '-') || ': ' || reason FROM cdp.import_errors((b ->> 'batch')::bigint) ORDER BY row_no LIMIT 1 $$;
CREATE FUNCTION pg_temp.has(k text) RETURNS boolean LANGUAGE sql AS
$$ SELECT EXISTS (SELECT 1 FROM cdp.record r JOIN cdp.source s USING (source_id) WHERE s.name = 'lab' AND r.source_key = k) $$;

-- ---------------------------------------------------------------- the row-by-row fallback, each mode
-- a source id over ingest's 200 bytes is refused by upsert_records, not by the lenient check of attrs
CREATE TEMP TABLE fb AS
SELECT m, cdp.import_csv('lab', 'patients', E'source_id;family_name\n' || repeat('k', 300) || E';Орлов\nK-' || m || E';Петров\n', m) AS res
  FROM unnest(ARRAY['quarantine', 'lenient', 'all_or_nothing']) m;
SELECT is((SELECT res ->> 'status' FROM fb WHERE m = 'quarantine'), 'committed', 'quarantine: a row only upsert_records refuses does not fail the file');
SELECT ok(pg_temp.has('K-quarantine'), '... the good row is loaded');
SELECT is((SELECT (res ->> 'rejected')::int FROM fb WHERE m = 'quarantine'), 1, '... the long id is set aside');
SELECT is((SELECT pg_temp.err1(res) FROM fb WHERE m = 'quarantine'),
          '2/-: Invalid source_id: "' || repeat('k', 100) || '". Row 1: source_id is 300 bytes long.',
          '... with row and ingest''s own reason');
SELECT is((SELECT res ->> 'first_error' FROM fb WHERE m = 'quarantine'),
          'row 2: Invalid source_id: "' || repeat('k', 100) || '". Row 1: source_id is 300 bytes long.',
          '... and the result''s first error names no empty column');
SELECT is((SELECT res ->> 'status' FROM fb WHERE m = 'lenient'), 'committed', 'lenient: the file is committed');
SELECT ok(pg_temp.has('K-lenient'), '... the good row is loaded');
SELECT is((SELECT (res ->> 'rejected')::int FROM fb WHERE m = 'lenient'), 1, '... the row no field can save is set aside');
SELECT is((SELECT res ->> 'status' FROM fb WHERE m = 'all_or_nothing'), 'failed', 'all_or_nothing: the file is refused cleanly');
SELECT ok(NOT pg_temp.has('K-all_or_nothing'), '... nothing loaded');
SELECT is((SELECT pg_temp.err1(res) FROM fb WHERE m = 'all_or_nothing'),
          '2/-: Invalid source_id: "' || repeat('k', 100) || '". Row 1: source_id is 300 bytes long.', '... naming the row');

-- ---------------------------------------------------------------- a document over the cap, fields under theirs
CREATE TEMP TABLE big AS
SELECT m, cdp.import_csv('lab', 'patients',
         E'source_id;a;b;c;d;e\nA-' || m || repeat(';' || repeat('a', 60000), 5) || E'\nB-' || m || E';x;y;z;w;v\n',
         m, '{"extra_columns": true}') AS res
  FROM unnest(ARRAY['quarantine', 'lenient', 'all_or_nothing']) m;
SELECT is((SELECT res ->> 'status' FROM big WHERE m = 'quarantine'), 'committed', 'quarantine: a 300 kB document does not abort the commit');
SELECT ok(pg_temp.has('B-quarantine') AND NOT pg_temp.has('A-quarantine'), '... the good row is loaded, the big one is not');
SELECT is((SELECT pg_temp.err1(res) FROM big WHERE m = 'quarantine'),
          '2/-: Attrs document too large. The document of record "A-quarantine" is 300053 bytes; at most 262144 bytes are accepted.',
          '... the big row is listed with ingest''s reason');
SELECT is((SELECT status FROM cdp_internal.import_batch WHERE batch_id = (SELECT (res ->> 'batch')::bigint FROM big WHERE m = 'quarantine')),
          'committed', '... and the batch is closed, not left open');
SELECT ok((SELECT res ->> 'status' = 'committed' FROM big WHERE m = 'lenient') AND pg_temp.has('B-lenient') AND NOT pg_temp.has('A-lenient'),
          'lenient: the same');
SELECT is((SELECT res ->> 'status' FROM big WHERE m = 'all_or_nothing'), 'failed', 'all_or_nothing: the file is refused, not aborted');
SELECT ok(NOT pg_temp.has('B-all_or_nothing'), '... nothing loaded');
SELECT is((SELECT pg_temp.err1(res) FROM big WHERE m = 'all_or_nothing'),
          '2/-: Attrs document too large. The document of record "A-all_or_nothing" is 300053 bytes; at most 262144 bytes are accepted.',
          '... naming the row');
-- a big document among rows with a bad field: both named, the rest loaded
SELECT is(pg_temp.err1(cdp.import_csv('lab', 'patients',
         E'source_id;phone;a;b;c;d;e\nC-1;12;x;y;z;w;v\nC-2;' || repeat(';' || repeat('a', 60000), 5) || E'\nC-3;;x;y;z;w;v\n',
         'quarantine', '{"extra_columns": true}')), '2/phone: The value is not a valid phone.',
          'a bad field in the same chunk is still named by its column');
SELECT ok(pg_temp.has('C-3') AND NOT pg_temp.has('C-1') AND NOT pg_temp.has('C-2'), '... and only the good row is loaded');

-- ---------------------------------------------------------------- two columns for one field
SELECT is(cdp.import_csv('lab', 'patients', E'source_id;phone;телефон\nD-2;+79161234567;+79031112233\n', 'quarantine') ->> 'first_error',
          'row 1, column "телефон": Columns "phone" and "телефон" both give phone: a file gives each field once, or the later column would replace the earlier in every row. Remove one of them, or name it in options.ignore_columns.',
          'two phone columns are refused, naming both');
SELECT ok(NOT pg_temp.has('D-2'), '... and nothing is loaded');
SELECT is(pg_temp.err1(cdp.import_csv('lab', 'patients', E'source_id;family_name;Фамилия\nD-3;Орлов;Орлова\n', 'quarantine')),
          '1/Фамилия: Columns "family_name" and "Фамилия" both give family_name: a file gives each field once, or the later column would replace the earlier in every row. Remove one of them, or name it in options.ignore_columns.',
          'family_name and фамилия are one field');
SELECT alike(pg_temp.err1(cdp.import_csv('lab', 'patients', E'source_id;birth_date;dob\nD-4;01.01.1980;02.02.1980\n')),
            '1/dob: Columns "birth_date" and "dob" both give birth_date:%', 'birth_date and dob are one field');
SELECT alike(pg_temp.err1(cdp.import_csv('lab', 'patients', E'source_id;mobile_phone;tel\nD-5;+79161234567;+79031112233\n')),
            '1/tel: Columns "mobile_phone" and "tel" both give phone:%', 'a spelling only ingest knew is the same field too');
SELECT alike(pg_temp.err1(cdp.import_csv('lab', 'patients', E'source_id;tg;telegram\nD-6;@a;@b\n')),
            '1/telegram: Columns "tg" and "telegram" both give telegram:%', 'two spellings of one messenger handle');
SELECT is(cdp.import_csv('lab', 'patients', E'source_id;phone;телефон\nD-7;+79161234567;+79031112233\n', 'quarantine',
                         '{"ignore_columns": ["телефон"]}') ->> 'created', '1', 'the hint works: the ignored column is left out');
SELECT is(cdp.import_csv('lab', 'consents', E'source_id;id;purpose;channel;granted;at\nK-quarantine;K-lenient;маркетинг;смс;да;01.03.2024\n') ->> 'first_error',
          'row 1, column "id": Columns "source_id" and "id" both give source_id: a file gives each field once, or the later column would replace the earlier in every row. Remove one of them, or name it in options.ignore_columns.',
          'the same for a kind without a key column');

-- ---------------------------------------------------------------- the reserved key _invalid
SELECT throws_ok($$SELECT cdp.upsert_record('lab', 'Z-1', '{"_invalid": "x"}')$$, '22023', 'attrs key "_invalid" is reserved',
                 'upsert_record refuses a caller''s _invalid');
SELECT ok(cdp.upsert_record('lab', 'Z-2', '{"_invalid": 5, "family_name": "Орлов"}', true) IS NOT NULL, 'lenient: the record goes in');
SELECT is((SELECT extra FROM cdp.record WHERE source_key = 'Z-2'),
          '{"_invalid": {"_invalid": {"value": 5, "reason": "The key _invalid is reserved: ingest keeps there the values lenient mode sets aside."}}}',
          '... with the caller''s _invalid set aside as given, ingest''s own object kept');
SELECT is(pg_temp.err1(cdp.import_csv('lab', 'patients', E'source_id;_invalid\nZ-3;x\n', 'quarantine', '{"extra_columns": true}')),
          '1/_invalid: Column "_invalid" is reserved: ingest keeps there the values lenient mode sets aside. Rename the column, or name it in options.ignore_columns.',
          'an import header column _invalid is refused');
-- a scalar a caller stored before the key was reserved
UPDATE cdp.record SET extra = '{"_invalid": "scalar"}' WHERE source_key = 'B-quarantine';
SELECT lives_ok($$SELECT count(*) FROM cdp.source_quality$$, 'a scalar _invalid does not break cdp.source_quality');
SELECT is((SELECT invalid_rate ->> '_invalid' FROM cdp.source_quality WHERE source = 'lab') IS NOT NULL, true,
          '... which still counts ingest''s object of the lenient record');

-- ---------------------------------------------------------------- a UTF-16 file, an unknown batch
SELECT throws_like($$SELECT cdp.import_csv('lab', 'patients', '\xfffe'::bytea || decode(regexp_replace(encode(convert_to(E'source_id;family_name\nU-1;Orlov\n', 'UTF8'), 'hex'), '(..)', '\100', 'g'), 'hex'))$$,
                   'an import file must not contain NUL bytes', 'a UTF-16 file is refused');
CREATE FUNCTION pg_temp.hint_of(q text) RETURNS text LANGUAGE plpgsql AS
$$ DECLARE h text; BEGIN EXECUTE q; RETURN NULL; EXCEPTION WHEN OTHERS THEN GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT; RETURN h; END $$;
SELECT is(pg_temp.hint_of($$SELECT cdp.import_csv('lab', 'patients', '\xfffe'::bytea || decode(regexp_replace(encode(convert_to(E'source_id;family_name\nU-1;Orlov\n', 'UTF8'), 'hex'), '(..)', '\100', 'g'), 'hex'))$$),
          'A file with zero bytes is usually UTF-16 ("Unicode text"), which import does not read: save it as CSV in UTF-8 or in Windows-1251 (cp1251).',
          '... with a hint saying UTF-16 is not read and what to save it as');
SELECT throws_ok($$SELECT cdp.import_status(-5)$$, '22023', 'unknown import batch: -5', 'import_status of an unknown batch raises, as import_commit does');
SELECT throws_ok($$SELECT cdp.import_errors(-5)$$, '22023', 'unknown import batch: -5', '... and import_errors too');

SELECT * FROM finish();
ROLLBACK;
