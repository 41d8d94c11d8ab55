-- test/pgtap/81_offer.sql: offers and contraindications (sql/parts/81_offer.sql, doc/consent.md):
-- the document of the issue, versions and archive, each block reason (sex, age, diagnosis code and
-- range, pregnancy by diagnosis and by flag, required service and lab, validity), the replay and
-- bad documents with the JSON path of the fault.
BEGIN;
SELECT plan(33);

SELECT cdp.register_source('his', 'internal', 80) IS NOT NULL AS src \gset
SELECT cdp.upsert_record('his', 'm50', format('{"family_name": "Петров", "sex": "M", "birth_date": "%s"}', current_date - interval '50 years' - interval '10 days')::jsonb) IS NOT NULL AS r \gset
SELECT cdp.upsert_record('his', 'm30', format('{"family_name": "Сидоров", "sex": "M", "birth_date": "%s"}', current_date - interval '30 years' - interval '10 days')::jsonb) IS NOT NULL AS r \gset
SELECT cdp.upsert_record('his', 'm60', format('{"family_name": "Кузнецов", "sex": "M", "birth_date": "%s"}', current_date - interval '60 years' - interval '10 days')::jsonb) IS NOT NULL AS r \gset
SELECT cdp.upsert_record('his', 'm61', format('{"family_name": "Орлов", "sex": "M", "birth_date": "%s"}', current_date - interval '61 years' - interval '10 days')::jsonb) IS NOT NULL AS r \gset
SELECT cdp.upsert_record('his', 'f40', format('{"family_name": "Иванова", "sex": "F", "birth_date": "%s"}', current_date - interval '40 years' - interval '10 days')::jsonb) IS NOT NULL AS r \gset
SELECT cdp.upsert_record('his', 'f41', format('{"family_name": "Смирнова", "sex": "F", "birth_date": "%s", "pregnant": true}', current_date - interval '41 years')::jsonb) IS NOT NULL AS r \gset
SELECT cdp.upsert_record('his', 'nosex', '{"family_name": "Неизвестный"}') IS NOT NULL AS r \gset
SELECT cdp.golden_id('his', 'm50') AS m50, cdp.golden_id('his', 'm30') AS m30, cdp.golden_id('his', 'm60') AS m60,
       cdp.golden_id('his', 'm61') AS m61, cdp.golden_id('his', 'f40') AS f40, cdp.golden_id('his', 'f41') AS f41,
       cdp.golden_id('his', 'nosex') AS nosex \gset
SELECT cdp.upsert_clinical_event('his', 'dx1', 'diagnosis', format('{"code": "N41.1", "at": "%s", "patient_source_id": "m60"}', now() - interval '2 years')::jsonb) IS NOT NULL AS e \gset
SELECT cdp.upsert_clinical_event('his', 'dx2', 'diagnosis', format('{"code": "C61", "at": "%s", "patient_source_id": "m61"}', now() - interval '1 year')::jsonb) IS NOT NULL AS e \gset
SELECT cdp.upsert_clinical_event('his', 'dx3', 'diagnosis', format('{"code": "N43", "at": "%s", "patient_source_id": "m50"}', now() - interval '1 year')::jsonb) IS NOT NULL AS e \gset
SELECT cdp.upsert_clinical_event('his', 'dx4', 'diagnosis', format('{"code": "Z33", "at": "%s", "patient_source_id": "f40"}', now() - interval '3 months')::jsonb) IS NOT NULL AS e \gset

-- ---------------------------------------------------------------- the issue's document
SELECT cdp.create_offer('{"name": "Скидка 20% на лечение простаты", "service": "urology", "sex": "M", "age": [40, 75],
  "exclude_icd10": ["C61", "N40-N42"], "exclude_pregnant": false, "valid_from": "2026-01-01", "valid_to": "2099-12-31"}') AS o1 \gset
SELECT is((SELECT name FROM cdp.offer WHERE offer_id = :o1), 'Скидка 20% на лечение простаты', 'the issue''s offer is accepted');
SELECT is(cdp.offer_block_reason(:m50, :o1), NULL, 'a man of 50 with N43 (outside N40-N42) may get it');
SELECT is(cdp.offer_block_reason(:f40, :o1), 'sex', 'a woman: sex');
SELECT is(cdp.offer_block_reason(:nosex, :o1), 'sex', 'unknown sex cannot be confirmed: sex');
SELECT is(cdp.offer_block_reason(:m30, :o1), 'age', 'a man of 30: age');
SELECT is(cdp.offer_block_reason(:m60, :o1), 'contraindication:N41.1', 'N41.1 lies in N40-N42');
SELECT is(cdp.offer_block_reason(:m61, :o1), 'contraindication:C61', 'C61 is excluded');
SELECT is(cdp.offer_block_reason(999999, :o1), 'unknown_patient', 'unknown person');

-- ---------------------------------------------------------------- pregnancy
SELECT cdp.create_offer('{"name": "Рентген со скидкой", "exclude_pregnant": true}') AS o2 \gset
SELECT is(cdp.offer_block_reason(:f40, :o2), 'pregnancy', 'Z33 three months ago: pregnancy');
SELECT is(cdp.offer_block_reason(:f41, :o2), 'pregnancy', 'a record flagged pregnant: pregnancy');
SELECT is(cdp.offer_block_reason(:m50, :o2), NULL, 'no pregnancy: allowed');
SELECT cdp.upsert_clinical_event('his', 'dx5', 'diagnosis', format('{"code": "O80", "at": "%s", "patient_source_id": "m30"}', now() - interval '11 months')::jsonb) IS NOT NULL AS e \gset
SELECT is(cdp.offer_block_reason(:m30, :o2), NULL, 'an O-code 11 months ago is past the 10-month window');
SELECT cdp.upsert_clinical_event('his', 'dx6', 'diagnosis', format('{"code": "O26.8", "at": "%s", "patient_source_id": "m30"}', now() - interval '9 months')::jsonb) IS NOT NULL AS e \gset
SELECT is(cdp.offer_block_reason(:m30, :o2), 'pregnancy', 'O26.8 nine months ago (O00-O99): pregnancy');

-- ---------------------------------------------------------------- requirements and validity
SELECT cdp.create_offer('{"name": "Повторный ПСА", "requires_lab": "PSA", "requires_service": "urology"}') AS o3 \gset
SELECT is(cdp.offer_block_reason(:m50, :o3), 'requires:urology', 'no urology visit: requires:urology');
SELECT cdp.upsert_clinical_event('his', 'v1', 'visit', format('{"at": "%s", "specialty": "urology", "status": "done", "patient_source_id": "m50"}', now() - interval '1 month')::jsonb) IS NOT NULL AS e \gset
SELECT is(cdp.offer_block_reason(:m50, :o3), 'requires:PSA', 'then no PSA test: requires:PSA');
SELECT cdp.upsert_clinical_event('his', 'l1', 'lab_test', format('{"code": "PSA", "result": "2.1", "taken_at": "%s", "patient_source_id": "m50"}', now() - interval '1 month')::jsonb) IS NOT NULL AS e \gset
SELECT is(cdp.offer_block_reason(:m50, :o3), NULL, 'both present: allowed');
SELECT cdp.create_offer('{"name": "Старая акция", "valid_from": "2020-01-01", "valid_to": "2020-12-31"}') AS o4 \gset
SELECT cdp.create_offer('{"name": "Будущая акция", "valid_from": "2099-01-01"}') AS o5 \gset
SELECT is(cdp.offer_block_reason(:m50, :o4), 'expired', 'past valid_to: expired');
SELECT is(cdp.offer_block_reason(:m50, :o5), 'not_yet_valid', 'before valid_from: not_yet_valid');

-- ---------------------------------------------------------------- versions, archive
SELECT is(cdp.edit_offer(:o1, '{"name": "Скидка 25% на лечение простаты", "sex": "M", "age": [55, 75]}'), 2, 'edit gives version 2');
SELECT is(cdp.offer_block_reason(:m50, :o1), 'age', 'the new version applies');
SELECT is((SELECT doc ->> 'name' FROM cdp.offer_version WHERE offer_id = :o1 AND version = 1), 'Скидка 20% на лечение простаты',
          'the old version stays readable');
SELECT lives_ok(format('SELECT cdp.archive_offer(%s)', :o3), 'archive');
SELECT is(cdp.offer_block_reason(:m50, :o3), 'offer_archived', 'an archived offer blocks everyone');
SELECT lives_ok(format('SELECT cdp.archive_offer(%s, false)', :o3), 'restore');
SELECT is(cdp.offer_block_reason(:m50, :o3), NULL, 'restored');
CREATE TEMP TABLE o_before AS SELECT * FROM cdp.offer;
SELECT ok(cdp.rebuild_offers() > 0, 'rebuild_offers replays');
SELECT is((SELECT count(*) FROM (SELECT * FROM cdp.offer EXCEPT SELECT * FROM o_before) d), 0::bigint, 'the replay gives the same offers');

-- ---------------------------------------------------------------- bad documents
SELECT throws_ok('SELECT cdp.create_offer(''{"name": "x", "sex": "X"}'')', '22023', 'invalid offer sex "X"', 'bad sex');
SELECT throws_ok('SELECT cdp.create_offer(''{"name": "x", "age": [75, 40]}'')', '22023', 'invalid offer age range', 'age out of order');
SELECT throws_ok('SELECT cdp.create_offer(''{"name": "x", "exclude_icd10": ["C61", "N42-N40"]}'')', '22023', 'invalid ICD-10 code or range "N42-N40"', 'range out of order');
SELECT throws_ok('SELECT cdp.create_offer(''{"name": "x", "colour": "red"}'')', '22023', 'unknown offer key "colour"', 'unknown key');
SELECT throws_ok('SELECT cdp.create_offer(''{"sex": "M"}'')', '22023', 'an offer needs a name', 'no name');
CREATE FUNCTION pg_temp.err_detail(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE d text;
BEGIN
	EXECUTE q;
	RETURN NULL;
EXCEPTION WHEN invalid_parameter_value THEN
	GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
	RETURN d;
END $$;
SELECT is(pg_temp.err_detail('SELECT cdp.create_offer(''{"name": "x", "exclude_icd10": ["C61", "prostate"]}'')'), 'At $.exclude_icd10[1].',
          'the detail names the JSON path of the bad code');

SELECT * FROM finish();
ROLLBACK;
