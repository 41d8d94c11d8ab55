-- test/demo/90_access.sql: the access family's section of the clinic demo (issue 15): roles, what
-- each sees, masking, the audit log, erasure and redacted errors.  Run by test/demo/run.sh after
-- demo.sql, over the same clinic.  Output in Russian for clinic staff (doc/demo.md).
\pset footer off
\pset null '—'
\pset linestyle unicode
SET client_min_messages = warning;

\echo
\echo '=== Доступ: роли сотрудников клиники, кто что видит, маскирование, журнал доступа, удаление данных ==='
\echo
\echo '--- 18. Роли (cdp.setup_roles(), повторный вызов ничего не меняет) и по одному сотруднику на роль'
SELECT role AS "роль",
       CASE action WHEN 'created' THEN 'создана' WHEN 'exists' THEN 'уже была' ELSE action END AS "что сделано"
  FROM cdp.setup_roles();
DO $$
DECLARE
	l text;
BEGIN
	FOREACH l IN ARRAY ARRAY['demo_desk', 'demo_cardio', 'demo_marketer', 'demo_analyst', 'demo_dpo'] LOOP
		IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = l) THEN
			EXECUTE format('CREATE ROLE %I LOGIN', l);
		END IF;
	END LOOP;
END $$;
\o /dev/null
SELECT cdp.grant_role('demo_desk', 'cdp_registrar');
SELECT cdp.grant_role('demo_cardio', 'cdp_doctor', '{"specialties": ["кардиолог"]}');
SELECT cdp.grant_role('demo_marketer', 'cdp_marketer');
SELECT cdp.grant_role('demo_analyst', 'cdp_analyst');
SELECT cdp.grant_role('demo_dpo', 'cdp_dpo');
\o
SELECT * FROM (VALUES
	('demo_desk', 'регистратура (cdp_registrar)'),
	('demo_cardio', 'кардиолог (cdp_doctor, специальность «кардиолог»)'),
	('demo_marketer', 'маркетолог (cdp_marketer)'),
	('demo_analyst', 'аналитик (cdp_analyst)'),
	('demo_dpo', 'ответственный за персональные данные (cdp_dpo)')) AS t("сотрудник", "роль");

-- two visits: one patient sees the cardiologist, another one a dermatologist; a diagnosis for each
SELECT min(golden_id) AS g1, max(golden_id) AS g2 FROM cdp.patient \gset
SELECT (SELECT s.name || ' ' || r.source_key FROM cdp.record r JOIN cdp.source s USING (source_id)
		 WHERE r.golden_id = :g1 ORDER BY r.record_id LIMIT 1) AS r1,
	   (SELECT s.name || ' ' || r.source_key FROM cdp.record r JOIN cdp.source s USING (source_id)
		 WHERE r.golden_id = :g2 ORDER BY r.record_id LIMIT 1) AS r2 \gset
\echo
\echo 'Два новых приёма: пациент 1 у кардиолога (диагноз I10), другой пациент у дерматолога (диагноз L20):'
SELECT cdp.upsert_clinical_event(split_part(:'r1', ' ', 1), 'demo-v1', 'visit',
	jsonb_build_object('record_source_id', split_part(:'r1', ' ', 2), 'at', '2026-11-02', 'specialty', 'кардиолог')) IS NOT NULL
   AND cdp.upsert_clinical_event(split_part(:'r1', ' ', 1), 'demo-d1', 'diagnosis',
	jsonb_build_object('record_source_id', split_part(:'r1', ' ', 2), 'at', '2026-11-02', 'code', 'I10')) IS NOT NULL
   AND cdp.upsert_clinical_event(split_part(:'r2', ' ', 1), 'demo-v2', 'visit',
	jsonb_build_object('record_source_id', split_part(:'r2', ' ', 2), 'at', '2026-11-03', 'specialty', 'дерматолог')) IS NOT NULL
   AND cdp.upsert_clinical_event(split_part(:'r2', ' ', 1), 'demo-d2', 'diagnosis',
	jsonb_build_object('record_source_id', split_part(:'r2', ' ', 2), 'at', '2026-11-03', 'code', 'L20')) IS NOT NULL
	AS ok \gset

\echo
\echo '--- 19. Кардиолог видит пациентов, у которых был приём кардиолога, как бы отделение его ни записало («кардиолог», «cardiology»); пациента дерматолога не видит'
SELECT count(DISTINCT golden_id) AS cardio_patients FROM cdp.clinical_event
 WHERE kind = 'visit' AND lower(specialty) IN ('кардиолог', 'кардиология', 'cardiology') \gset
SET SESSION AUTHORIZATION demo_cardio;
SELECT count(*) AS "пациентов видно кардиологу", :cardio_patients AS "пациентов с приёмом кардиолога",
       CASE WHEN EXISTS (SELECT 1 FROM cdp.patient WHERE golden_id = :g2) THEN 'да (так быть не должно)' ELSE 'нет' END
         AS "пациент дерматолога виден"
  FROM cdp.patient;
\echo 'События пациента 1 глазами кардиолога:'
SELECT CASE kind WHEN 'visit' THEN 'приём' WHEN 'diagnosis' THEN 'диагноз' WHEN 'lab_test' THEN 'анализ'
                 WHEN 'recommendation' THEN 'рекомендация врача' ELSE kind END AS "событие",
       count(*) AS "сколько",
       coalesce(string_agg(DISTINCT coalesce(icd10, CASE specialty WHEN 'urology' THEN 'урология' WHEN 'therapy' THEN 'терапия'
                                    WHEN 'cardiology' THEN 'кардиология' WHEN 'gynecology' THEN 'гинекология' ELSE specialty END), ', '), '—')
         AS "диагнозы (МКБ-10) или специальности"
  FROM cdp.clinical_event WHERE golden_id = :g1 GROUP BY 1 ORDER BY 1;
RESET SESSION AUTHORIZATION;

\echo
\echo '--- 20. Регистратура читает карточку (каждое чтение записывается в журнал), но диагнозов не видит'
SET SESSION AUTHORIZATION demo_desk;
SELECT cdp.patient_profile(:g2, 'patient called') ->> 'family_name' AS "фамилия из карточки",
       CASE WHEN cdp.patient_profile(:g2, 'patient called') ? 'clinical' THEN 'да' ELSE 'нет' END AS "медицинские данные в карточке";
CREATE TEMP TABLE demo_denied (answer text);
DO $$
BEGIN
	PERFORM icd10 FROM cdp.clinical_event;
	INSERT INTO demo_denied VALUES ('доступ открыт (так быть не должно)');
EXCEPTION WHEN insufficient_privilege THEN
	INSERT INTO demo_denied VALUES ('отказано, как и должно быть');
END $$;
SELECT answer AS "запрос диагнозов" FROM demo_denied;
RESET SESSION AUTHORIZATION;

\echo
\echo '--- 21. Маркетолог видит псевдонимы и скрытые контакты; аналитик — только количества (группы меньше 5 человек скрыты)'
SET SESSION AUTHORIZATION demo_marketer;
SELECT pseudonym AS "псевдоним", CASE sex WHEN 'M' THEN 'муж.' WHEN 'F' THEN 'жен.' ELSE sex END AS "пол",
       age_band AS "возраст", city AS "город", phone AS "телефон", email AS "e-mail", snils AS "СНИЛС"
  FROM cdp.masked_patients() WHERE phone IS NOT NULL LIMIT 5;
SELECT coalesce(cdp.contact_address(:g1, 'sms', 'marketing'), 'не выдан: нет согласия на рекламу по SMS')
       AS "номер для рекламной SMS пациенту 1";
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION demo_analyst;
SELECT coalesce(age_band, 'все остальные') AS "возраст",
       CASE sex WHEN 'M' THEN 'муж.' WHEN 'F' THEN 'жен.' ELSE sex END AS "пол", city AS "город", patients AS "пациентов"
  FROM cdp.patient_counts() ORDER BY patients DESC LIMIT 5;
RESET SESSION AUTHORIZATION;

\echo
\echo '--- 22. Ответственный за персональные данные: журнал доступа, затем удаление данных по просьбе пациента'
\echo '        (контакты удаляются, медицинская карта остаётся)'
SET SESSION AUTHORIZATION demo_dpo;
SELECT CASE action WHEN 'profile.read' THEN 'прочитана карточка' WHEN 'contact.read' THEN 'запрошен контакт' ELSE action END AS "действие",
       actor AS "сотрудник", array_to_string(golden_ids, ', ') AS "карточки",
       CASE purpose WHEN 'patient called' THEN 'звонок пациента' WHEN 'marketing' THEN 'реклама' ELSE purpose END AS "цель",
       count(*) AS "раз"
  FROM cdp.audit_report(now() - interval '1 hour', now() + interval '1 hour')
 WHERE action IN ('profile.read', 'contact.read') GROUP BY 1, 2, 3, 4 ORDER BY 1, 2;
CREATE TEMP TABLE demo_erased (answer text);
DO $$
BEGIN
	PERFORM cdp.erase_patient((SELECT max(golden_id) FROM cdp.patient), 'request 2026-17 (demo)');
	INSERT INTO demo_erased VALUES ('выполнено');
EXCEPTION WHEN OTHERS THEN
	INSERT INTO demo_erased VALUES ('не выполнено: ошибка в cdp, передана разработчикам (' || SQLERRM || ')');
END $$;
SELECT answer AS "удаление данных пациента" FROM demo_erased;
RESET SESSION AUTHORIZATION;
SELECT family_name AS "фамилия", to_char(birth_date, 'DD.MM.YYYY') AS "дата рождения",
       coalesce(jsonb_array_length(phones), 0) AS "телефонов", coalesce(jsonb_array_length(emails), 0) AS "e-mail",
       (SELECT icd10 FROM cdp.clinical_event c WHERE c.golden_id = p.golden_id AND icd10 IS NOT NULL) AS "диагноз сохранён"
  FROM cdp.patient p WHERE golden_id = :g2;

\echo
\echo '--- 23. С настройкой cdp.redact_values ошибочный СНИЛС попадает в сообщение об ошибке без цифр'
SET cdp.redact_values = on;
CREATE TEMP TABLE demo_redacted (answer text);
DO $$
BEGIN
	PERFORM '112-233-445 96'::cdp.snils;
	INSERT INTO demo_redacted VALUES ('принят (так быть не должно)');
EXCEPTION WHEN OTHERS THEN
	INSERT INTO demo_redacted VALUES (SQLERRM);
END $$;
SELECT answer AS "текст ошибки (для администратора)" FROM demo_redacted;
RESET cdp.redact_values;
