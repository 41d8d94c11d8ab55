-- test/bench/golden_staging.sql: the synthetic persons both golden benchmarks load (psql
-- variable n: how many), one row per person in table staging (i, source_id, attrs).
CREATE TABLE staging AS
SELECT i, 'R' || i AS source_id, jsonb_strip_nulls(jsonb_build_object(
  'family_name', (ARRAY['Иванова','Петров','Сидорова','Кузнецов','Смирнова','Попов','Лебедева','Козлов'])[1 + i % 8],
  'given_name', (ARRAY['Мария','Иван','Анна','Сергей','Ольга','Дмитрий','Елена','Алексей'])[1 + (i / 8) % 8],
  'birth_date', to_char(date '1940-01-01' + (i * 37) % 25000, 'YYYY-MM-DD'),
  'sex', CASE WHEN i % 2 = 0 THEN 'F' ELSE 'M' END,
  'phone', format('+79%s', lpad((i % 1000000000)::text, 9, '0')),
  'email', CASE WHEN i % 3 = 0 THEN format('user%s@mail.ru', i) END,
  'city', (ARRAY['Москва','Санкт-Петербург','Казань'])[1 + i % 3])) AS attrs
FROM generate_series(1, :n) i;
