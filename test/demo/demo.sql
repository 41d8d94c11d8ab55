-- test/demo/demo.sql: the clinic demo (grows with every family). Run by test/demo/run.sh.
--
-- Who reads it: a clinic manager. So everything the demo prints is in Russian, every figure says
-- what it counts, and figures are rounded for people (percentages with one decimal, decimal point
-- as in cdp's own texts); the tables that programs read keep full precision. Column titles stay
-- under 63 bytes (about 30 Cyrillic letters: PostgreSQL cuts longer names); long labels go in rows.
-- doc/demo.md says why and keeps a transcript; later sections (test/demo/NN_<family>.sql) follow
-- the same rules.
\pset footer off
\pset null '—'
\pset linestyle unicode
SET client_min_messages = warning;
CREATE EXTENSION cdp;
-- a percentage for people: one decimal, never "100.0 %" for what is not certain
CREATE FUNCTION pg_temp.pct(p float8) RETURNS text LANGUAGE sql IMMUTABLE
	RETURN CASE WHEN p IS NULL THEN NULL WHEN p >= 0.9995 AND p < 1 THEN '> 99.9 %' WHEN p > 0 AND p < 0.0005 THEN '< 0.1 %'
	            ELSE to_char(p * 100, 'FM990.0') || ' %' END;
-- whether a review pair waits because a rule forbids an automatic merge: its reason in
-- cdp.review_queue is a rule (rule_veto) or a contradiction between the persons (contradiction:<attr>)
CREATE FUNCTION pg_temp.held_by_rule(reason text) RETURNS boolean LANGUAGE sql IMMUTABLE
	RETURN reason = 'rule_veto' OR reason LIKE 'contradiction:%';
-- the Russian name of a compared or profile field
CREATE FUNCTION pg_temp.field(attr text) RETURNS text LANGUAGE sql IMMUTABLE
	RETURN CASE attr WHEN 'family_name' THEN 'фамилия' WHEN 'given_name' THEN 'имя' WHEN 'patronymic' THEN 'отчество'
		WHEN 'birth_date' THEN 'дата рождения' WHEN 'sex' THEN 'пол' WHEN 'phones' THEN 'телефон' WHEN 'emails' THEN 'e-mail'
		WHEN 'snils' THEN 'СНИЛС' WHEN 'oms' THEN 'полис ОМС' WHEN 'address' THEN 'адрес' WHEN 'city' THEN 'город'
		WHEN 'vk' THEN 'ВКонтакте' WHEN 'telegram' THEN 'Telegram' WHEN 'phone' THEN 'телефон' WHEN 'email' THEN 'e-mail'
		WHEN '(prior)' THEN 'исходно' WHEN '(итог)' THEN 'итог' ELSE attr END;
\echo
\echo '=== Демонстрация cdp: одна клиника, шесть баз отделений, одна платформа пациентов ==='
SELECT cdp.library_version() AS "версия cdp";

\echo
\echo '--- 1. Источники: системы клиники и степень доверия к каждой (решает, чьё значение попадёт в карточку)'
SELECT name AS "источник", CASE kind WHEN 'internal' THEN 'своя система' WHEN 'partner' THEN 'партнёр' ELSE kind END AS "тип", trust AS "доверие, из 100" FROM (VALUES
	('reception', 'internal', 90), ('doctors_desk', 'internal', 80), ('lab', 'internal', 70),
	('call_centre', 'internal', 50), ('sick_leave', 'internal', 85), ('partner_lab', 'partner', 40)) v(name, kind, trust)
 WHERE cdp.register_source(name, kind, trust) IS NOT NULL;

\echo
\echo '--- 2. Загрузка: сгенерированная клиника с известными дубликатами (test/bench/gen_clinic.py, seed 42)'
CREATE TEMP TABLE staging (source text, source_id text, person_id text, family_name text, given_name text,
	patronymic text, full_name text, birth_date text, sex text, phone text, email text, snils text, oms text,
	address text, city text, vk text, telegram text);
-- (psql does not expand variables inside \copy, so the command is built first)
\set copy_cmd '\\copy staging FROM ' :'csv' ' WITH (FORMAT csv, HEADER true)'
:copy_cmd
SELECT clock_timestamp() AS t0 \gset
-- the bulk path for a dirty export: lenient => true loads every record and keeps a value cdp cannot
-- read (a mistyped SNILS, "ivan@@mail.ru") aside in extra._invalid instead of refusing the batch
CREATE TEMP TABLE load_result AS
SELECT r.* FROM (SELECT DISTINCT source FROM staging) s,
	LATERAL cdp.upsert_records(s.source,
		ARRAY(SELECT source_id FROM staging t WHERE t.source = s.source ORDER BY source_id),
		ARRAY(SELECT jsonb_strip_nulls(to_jsonb(t) - 'source' - 'source_id' - 'person_id')
		        FROM staging t WHERE t.source = s.source ORDER BY source_id),
		lenient => true) r;
SELECT :persons AS "людей в выгрузке", count(*) AS "записей загружено",
	count(*) FILTER (WHERE action = 'created') AS "из них новых",
	round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric, 1) AS "секунд"
  FROM load_result;
\echo 'Как данные пришли и что cdp сохранил (исходный документ хранится без изменений):'
SELECT s.name AS "источник", coalesce(r.raw->>'full_name', concat_ws(' ', r.raw->>'family_name', r.raw->>'given_name')) AS "имя, как прислали",
	r.raw->>'phone' AS "телефон, как прислали", array_to_string(r.phones, ', ') AS "телефон в cdp",
	r.raw->>'birth_date' AS "дата рождения, как прислали", to_char(r.birth_date, 'DD.MM.YYYY') AS "дата рождения в cdp"
  FROM cdp.record r JOIN cdp.source s USING (source_id)
 WHERE r.raw ? 'phone' AND (r.raw->>'phone' LIKE '8%' OR r.raw->>'phone' LIKE '+7 (%') AND r.raw->>'birth_date' LIKE '%.%'
 ORDER BY r.record_id LIMIT 5;
\echo 'Значения, которые cdp не смог прочитать: запись загружена, значение отложено (extra._invalid), по источникам и полям:'
SELECT s.name AS "источник", pg_temp.field(f.field) AS "поле", count(*) AS "записей"
  FROM cdp.record r JOIN cdp.source s USING (source_id), jsonb_object_keys(r.extra -> '_invalid') f(field)
 GROUP BY 1, 2 ORDER BY 1, 2;
-- the same file again changes nothing
\echo 'Тот же файл ещё раз ничего не меняет:'
SELECT count(*) FILTER (WHERE r.action <> 'unchanged') AS "записей изменено"
  FROM (SELECT DISTINCT source FROM staging) s,
	LATERAL cdp.upsert_records(s.source,
		ARRAY(SELECT source_id FROM staging t WHERE t.source = s.source ORDER BY source_id),
		ARRAY(SELECT jsonb_strip_nulls(to_jsonb(t) - 'source' - 'source_id' - 'person_id')
		        FROM staging t WHERE t.source = s.source ORDER BY source_id),
		lenient => true) r;

\echo
\echo '--- 3. Сопоставление: правила заданы данными (test/bench/settings/clinic.json), веса обучены на самих записях'
SELECT cdp.configure_matching(:'settings'::jsonb) AS "версия настроек";
SELECT clock_timestamp() AS t1 \gset
SELECT cdp.train_matching() IS NOT NULL AS trained \gset
SELECT cdp.run_matching('full') AS run \gset
SELECT pg_temp.pct((cdp.matching_settings() ->> 'link_threshold')::float8) AS link_p,
       pg_temp.pct((cdp.matching_settings() ->> 'review_threshold')::float8) AS review_p,
       (cdp.matching_settings() ->> 'link_threshold')::float8 AS link_t,
       (cdp.matching_settings() ->> 'review_threshold')::float8 AS review_t \gset
SELECT v.k AS "сопоставление", v.v AS "значение" FROM (VALUES
	(1, 'записей проверено', (:'run'::jsonb)->>'processed'),
	(2, 'объединений выполнено автоматически', (:'run'::jsonb)->>'linked'),
	(3, 'пар отправлено на проверку человеку', (:'run'::jsonb)->>'queued'),
	(4, 'секунд (обучение и сопоставление)', round(extract(epoch FROM clock_timestamp() - :'t1'::timestamptz)::numeric, 1)::text)) v(n, k, v)
 ORDER BY v.n;
\echo 'Пара объединяется сама, если вероятность «это один человек» не ниже' :link_p 'и никакое правило этого не запрещает;'
\echo 'при вероятности от' :review_p 'до' :link_p 'пара ждёт решения человека; ждёт его и пара, которую задержала проверка (раздел 5), при любой вероятности.'
\echo
\echo 'Сверка с правдой, которую знает генератор:'
WITH r AS (
	SELECT t.person_id, rec.golden_id, rec.record_id
	  FROM staging t JOIN cdp.source s ON s.name = t.source
	  JOIN cdp.record rec ON rec.source_id = s.source_id AND rec.source_key = t.source_id),
pairs AS (
	SELECT count(*) FILTER (WHERE a.person_id = b.person_id) AS true_pairs,
	       count(*) FILTER (WHERE a.golden_id = b.golden_id) AS found_pairs,
	       count(*) FILTER (WHERE a.person_id = b.person_id AND a.golden_id = b.golden_id) AS correct
	  FROM r a JOIN r b ON a.record_id < b.record_id AND (a.person_id = b.person_id OR a.golden_id = b.golden_id)),
cards AS (
	SELECT count(*) FILTER (WHERE persons > 1) AS mixed FROM (SELECT golden_id, count(DISTINCT person_id) AS persons FROM r GROUP BY 1) g),
people AS (
	SELECT count(*) FILTER (WHERE cards > 1) AS split FROM (SELECT person_id, count(DISTINCT golden_id) AS cards FROM r GROUP BY 1) p)
SELECT v.k AS "показатель", v.v AS "значение" FROM pairs, cards, people, LATERAL (VALUES
	(1, 'людей на самом деле', (SELECT count(DISTINCT person_id) FROM staging)::text),
	(2, 'карточек пациентов в cdp', (SELECT count(*) FROM cdp.patient)::text),
	(3, 'карточек, в которых смешаны разные люди (ошибочные объединения)', mixed::text),
	(4, 'людей, чьи записи остались в нескольких карточках (не найденные дубликаты)', split::text),
	(5, 'пар записей одного человека', true_pairs::text),
	(6, '  из них собраны в одну карточку', correct::text),
	(7, 'пар записей разных людей, попавших в одну карточку', (found_pairs - correct)::text),
	(8, 'точность: доля верных среди объединённых пар', pg_temp.pct(correct::float8 / nullif(found_pairs, 0))),
	(9, 'полнота: доля найденных среди пар одного человека', pg_temp.pct(correct::float8 / nullif(true_pairs, 0)))) v(n, k, v)
 ORDER BY v.n;

\echo
\echo '--- 4. Карточка пациента: одна на человека, у каждого значения известен источник'
SELECT golden_id AS gid FROM cdp.patient ORDER BY record_count DESC, golden_id LIMIT 1 \gset
SELECT golden_id AS "карточка", family_name AS "фамилия", given_name AS "имя", patronymic AS "отчество",
	CASE sex WHEN 'M' THEN 'муж.' WHEN 'F' THEN 'жен.' END AS "пол", to_char(birth_date, 'DD.MM.YYYY') AS "дата рождения",
	snils AS "СНИЛС", record_count AS "записей", jsonb_array_length(phones) AS "телефонов", jsonb_array_length(emails) AS "e-mail"
  FROM cdp.patient WHERE golden_id = :gid;
\echo 'Откуда взято каждое значение (cdp.patient_lineage):'
SELECT pg_temp.field(attribute) AS "поле",
	CASE attribute WHEN 'birth_date' THEN to_char(value::date, 'DD.MM.YYYY') WHEN 'sex' THEN CASE value WHEN 'M' THEN 'муж.' WHEN 'F' THEN 'жен.' ELSE value END
		ELSE value END AS "значение", source AS "источник",
	CASE rule WHEN 'recent' THEN 'самое свежее' WHEN 'frequent' THEN 'чаще всего' WHEN 'trusted' THEN 'самый надёжный источник'
		WHEN 'unanimous' THEN 'все согласны' WHEN 'oldest_record' THEN 'самая ранняя запись' ELSE rule END AS "почему это значение",
	cardinality(agreeing_records) AS "записей согласны",
	jsonb_array_length(coalesce(lost, '[]')) AS "других вариантов"
  FROM cdp.patient_lineage(:gid) WHERE value IS NOT NULL ORDER BY attribute;
\echo 'Почему две её записи объединены (cdp.explain_match): вклад каждого поля и итоговая вероятность'
SELECT min(record_id) AS ra, max(record_id) AS rb FROM cdp.record WHERE golden_id = :gid \gset
SELECT pg_temp.field(attr) AS "поле",
	CASE WHEN attr = 'birth_date' AND value_a ~ '^[0-9]{8}$' THEN substr(value_a, 7, 2) || '.' || substr(value_a, 5, 2) || '.' || substr(value_a, 1, 4)
	     WHEN attr = 'sex' THEN CASE value_a WHEN 'M' THEN 'муж.' WHEN 'F' THEN 'жен.' ELSE value_a END ELSE value_a END AS "запись А",
	CASE WHEN attr = 'birth_date' AND value_b ~ '^[0-9]{8}$' THEN substr(value_b, 7, 2) || '.' || substr(value_b, 5, 2) || '.' || substr(value_b, 1, 4)
	     WHEN attr = 'sex' THEN CASE value_b WHEN 'M' THEN 'муж.' WHEN 'F' THEN 'жен.' ELSE value_b END ELSE value_b END AS "запись Б", replace(level, '; ', E'\n') AS "сравнение",
	round(weight::numeric, 1) AS "вклад", pg_temp.pct(probability) AS "вероятность"
  FROM cdp.explain_match(:ra, :rb);

\echo
\echo '--- 5. Очередь проверки: пары, которые cdp не объединил сам и оставил человеку'
SELECT count(*) AS n, count(*) FILTER (WHERE score >= :review_t AND score < :link_t AND NOT pg_temp.held_by_rule(reason)) AS unsure,
       count(*) FILTER (WHERE score < :review_t) AS held_low FROM cdp.review_queue \gset
SELECT v.k AS "пары на проверке", v.v AS "пар" FROM (VALUES
	(1, 'отправлено на проверку при сопоставлении (раздел 3)', (:'run'::jsonb ->> 'queued')::bigint),
	(2, 'уже не требуют решения: их записи с тех пор оказались в одной карточке через другие связи', (:'run'::jsonb ->> 'queued')::bigint - :n),
	(3, 'ждут решения сейчас (cdp.review_queue)', :n),
	(4, '  из них cdp не уверен: вероятность от ' || :'review_p' || ' до ' || :'link_p', :unsure),
	(5, '  из них задержаны проверкой, вероятность от ' || :'review_p' || ' и выше: разные даты рождения, СНИЛС или имена; совпали только имена', :n - :unsure - :held_low),
	(6, '  из них задержаны проверкой, вероятность ниже ' || :'review_p' || ': запись похожа лишь на часть записей человека', :held_low)) v(o, k, v)
 ORDER BY v.o;
\echo 'Пары, в которых cdp не уверен (не больше пяти, ближе всего к порогу объединения):'
SELECT pair_id AS "пара", record_a AS "запись А", record_b AS "запись Б", pg_temp.pct(score) AS "вероятность",
	replace(summary, '; ', E'\n') AS "что совпало и что нет"
  FROM cdp.review_queue WHERE score >= :review_t AND score < :link_t AND NOT pg_temp.held_by_rule(reason) ORDER BY score DESC, pair_id LIMIT 5;
\echo 'Пары, которые проверка не дала объединить автоматически (первые три):'
SELECT pair_id AS "пара", record_a AS "запись А", record_b AS "запись Б", pg_temp.pct(score) AS "вероятность",
	replace(summary, '; ', E'\n') AS "что совпало и что нет"
  FROM cdp.review_queue WHERE NOT (score >= :review_t AND score < :link_t AND NOT pg_temp.held_by_rule(reason)) ORDER BY score DESC, pair_id LIMIT 3;

\echo
\echo '--- 6. Журнал событий — источник правды: события по видам; пересборка карточек из журнала ничего не меняет'
SELECT CASE kind WHEN 'record.created' THEN 'запись получена' WHEN 'record.updated' THEN 'запись изменена'
		WHEN 'patient.merged' THEN 'записи объединены в карточку' WHEN 'source.registered' THEN 'источник подключён'
		WHEN 'decision.recorded' THEN 'решение человека' WHEN 'patient.unmerged' THEN 'объединение отменено'
		ELSE kind END AS "событие", kind AS "код", count(*) AS "сколько"
  FROM cdp.event GROUP BY kind ORDER BY count(*) DESC;
CREATE TEMP TABLE before_rebuild AS SELECT * FROM cdp.patient;
SELECT cdp.rebuild_patients() IS NOT NULL AS rebuilt \gset
SELECT (SELECT count(*) FROM (SELECT * FROM before_rebuild EXCEPT SELECT * FROM cdp.patient) x)
     + (SELECT count(*) FROM (SELECT * FROM cdp.patient EXCEPT SELECT * FROM before_rebuild) y) AS "изменилось карточек";
\echo
\echo 'Дальше: медицинские события, согласия, сегменты, акции, импорт и доступ сотрудников (разделы 7–23).'
