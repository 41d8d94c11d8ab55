-- test/bench/name_lookup/gen.sql: deterministic generated people and corrupted queries for
-- test/bench/name_lookup.sh.  psql variables: n (rows), nq (queries).
-- Every random choice is a hash of the row or query number, so two runs build the same data.

-- h(i, k): a deterministic pseudo-random non-negative bigint for draw k of item i
CREATE FUNCTION bench.h(i bigint, k int) RETURNS bigint
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	AS $$ SELECT pg_catalog.abs(pg_catalog.hashint8(i * 64 + k)::bigint) $$;

-- female form of a male surname: -ов/-ев/-ин/-ын + а, -ский/-цкий/-ой/-ый -> -ая, else unchanged
CREATE FUNCTION bench.female(s text) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	AS $$ SELECT CASE WHEN s ~ '(ов|ев|ёв|ин|ын)$' THEN s || 'а'
	                  WHEN s ~ '(ий|ой|ый)$' THEN pg_catalog.left(s, -2) || 'ая'
	                  ELSE s END $$;

-- Cyrillic -> Latin by scheme: 'icao' (ICAO 9303, Russian passports since 2013: Мария -> Mariia)
-- or 'informal' (Мария -> Maria, Юлия -> Yulia, Дмитрий -> Dmitriy).  Word capitalisation kept.
CREATE FUNCTION bench.translit(s text, scheme text) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	AS $$
	SELECT pg_catalog.initcap(CASE scheme
	  WHEN 'icao' THEN pg_catalog.translate(
	    replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(
	      pg_catalog.lower(s), 'щ', 'shch'), 'ж', 'zh'), 'х', 'kh'), 'ц', 'ts'), 'ч', 'ch'),
	      'ш', 'sh'), 'ю', 'iu'), 'я', 'ia'), 'ъ', 'ie'), 'ь', ''),
	    'абвгдеёзийклмнопрстуфыэ', 'abvgdeeziiklmnoprstufye')
	  ELSE pg_catalog.translate(
	    replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(
	      pg_catalog.lower(s), 'ия', 'ia'), 'ий', 'iy'), 'щ', 'sch'), 'ж', 'zh'), 'х', 'kh'), 'ц', 'ts'),
	      'ч', 'ch'), 'ш', 'sh'), 'ю', 'yu'), 'я', 'ya'), 'ъ', ''), 'ь', ''), 'ё', 'yo'),
	    'абвгдезийклмнопрстуфыэ', 'abvgdeziyklmnoprstufye')
	  END) $$;

-- one typo in a word, chosen by r: delete, transpose, substitute or insert a letter (never the first)
CREATE FUNCTION bench.typo(w text, r bigint) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	AS $$
	SELECT CASE WHEN pg_catalog.length(w) < 4 THEN w ELSE
	  CASE r % 4
	    WHEN 0 THEN overlay(w PLACING '' FROM p FOR 1)
	    WHEN 1 THEN overlay(w PLACING pg_catalog.substr(w, p + 1, 1) || pg_catalog.substr(w, p, 1) FROM p FOR 2)
	    WHEN 2 THEN overlay(w PLACING pg_catalog.substr(v, (r / 4 % 5)::int + 1, 1) FROM p FOR 1)
	    ELSE overlay(w PLACING pg_catalog.substr(v, (r / 4 % 5)::int + 1, 1) FROM p FOR 0)
	  END END
	FROM (SELECT 2 + ((r / 32) % (pg_catalog.length(w) - 2))::int AS p,
	             CASE WHEN w ~ '[а-яё]' THEN 'аеиоу' ELSE 'aeiou' END AS v) x $$;

-- the people: a person is (surname, sex, given name, patronymic); 60 % are written in Cyrillic,
-- the rest in Latin (ICAO or informal); one in ten in capitals.
CREATE TABLE people (
	id bigint PRIMARY KEY,
	name text NOT NULL,
	sur_i int NOT NULL, sex char(1) NOT NULL, given_i int NOT NULL, patr_i int NOT NULL,
	script text NOT NULL
);
INSERT INTO people
SELECT id,
       CASE WHEN bench.h(id, 9) % 10 = 0 THEN pg_catalog.upper(nm) ELSE nm END,
       sur_i, sex, given_i, patr_i, script
  FROM (SELECT id, sur_i, sex, given_i, patr_i, script,
               CASE WHEN script = 'cyr' THEN cyr ELSE bench.translit(cyr, script) END AS nm
          FROM (SELECT t.*, (CASE WHEN t.sex = 'M' THEN s.m ELSE bench.female(s.m) END) || ' ' || g.name || ' ' ||
                       (CASE WHEN t.sex = 'M' THEN pa.m ELSE pa.f END) AS cyr
                  FROM (SELECT id,
                               (bench.h(id, 1) % (SELECT count(*) FROM bench.surname))::int AS sur_i,
                               CASE WHEN bench.h(id, 2) % 2 = 0 THEN 'M' ELSE 'F' END AS sex,
                               (bench.h(id, 3) % 60)::int AS given_i,
                               (bench.h(id, 4) % (SELECT count(*) FROM bench.patr))::int AS patr_i,
                               CASE WHEN bench.h(id, 5) % 10 < 6 THEN 'cyr'
                                    WHEN bench.h(id, 5) % 2 = 0 THEN 'icao' ELSE 'informal' END AS script
                          FROM pg_catalog.generate_series(1, :n) id) t
                  JOIN bench.surname s ON s.i = t.sur_i
                  JOIN bench.given g ON g.sex = t.sex AND g.i = t.given_i
                  JOIN bench.patr pa ON pa.i = t.patr_i) u) v;

-- the queries: a true person and a corrupted spelling of their name, cycling through the kinds
CREATE TABLE bench.query (qid int PRIMARY KEY, truth bigint NOT NULL, kind text NOT NULL, q text NOT NULL);
INSERT INTO bench.query
SELECT qid, p.id, k.kind,
       CASE k.kind
         -- the other script: a Latin spelling of a Cyrillic record, the Cyrillic of a Latin one
         WHEN 'translit' THEN CASE WHEN p.script = 'cyr' THEN bench.translit(c.cyr, CASE WHEN qid % 2 = 0 THEN 'icao' ELSE 'informal' END) ELSE c.cyr END
         -- one typo in the surname or the given name, in the record's own spelling
         WHEN 'typo' THEN CASE WHEN qid % 2 = 0
                               THEN bench.typo(split_part(p.name, ' ', 1), bench.h(qid, 11)) || ' ' || split_part(p.name, ' ', 2) || ' ' || split_part(p.name, ' ', 3)
                               ELSE split_part(p.name, ' ', 1) || ' ' || bench.typo(split_part(p.name, ' ', 2), bench.h(qid, 11)) || ' ' || split_part(p.name, ' ', 3) END
         -- the surname in the other gender's form (Иванова -> Иванов), Cyrillic
         WHEN 'gender' THEN (CASE WHEN p.sex = 'F' THEN s.m ELSE bench.female(s.m) END) || ' ' || split_part(c.cyr, ' ', 2) || ' ' || split_part(c.cyr, ' ', 3)
         -- passport capitals in ICAO from a Cyrillic record (IVANOVA MARIIA PETROVNA)
         WHEN 'caps' THEN pg_catalog.upper(bench.translit(c.cyr, 'icao'))
         -- a doubled consonant in the Cyrillic surname (Иваннова)
         WHEN 'double' THEN regexp_replace(c.cyr, '^(.[^аеиоуыэюяё ]*[аеиоуыэюяё])([^аеиоуыэюяё ])', '\1\2\2')
         -- a typo and the other script at once
         WHEN 'typo_translit' THEN bench.typo(split_part(bench.translit(c.cyr, 'informal'), ' ', 1), bench.h(qid, 12)) || ' ' ||
                                   split_part(bench.translit(c.cyr, 'informal'), ' ', 2) || ' ' || split_part(bench.translit(c.cyr, 'informal'), ' ', 3)
         -- given name and patronymic first (Мария Петровна Иванова)
         ELSE split_part(p.name, ' ', 2) || ' ' || split_part(p.name, ' ', 3) || ' ' || split_part(p.name, ' ', 1)
       END
  FROM pg_catalog.generate_series(1, :nq) qid
  JOIN people p ON p.id = 1 + bench.h(qid, 10) % :n
  JOIN bench.surname s ON s.i = p.sur_i
  CROSS JOIN LATERAL (SELECT (CASE WHEN p.sex = 'M' THEN s.m ELSE bench.female(s.m) END) || ' ' ||
                             (SELECT name FROM bench.given g WHERE g.sex = p.sex AND g.i = p.given_i) || ' ' ||
                             (SELECT CASE WHEN p.sex = 'M' THEN m ELSE f END FROM bench.patr pa WHERE pa.i = p.patr_i) AS cyr) c
  CROSS JOIN LATERAL (SELECT (ARRAY['translit', 'typo', 'gender', 'caps', 'double', 'typo_translit', 'order'])[1 + qid % 7] AS kind) k;
ANALYZE people;

-- bench.hit: a person with the true person's name (surname, sex, given name, and, unless short,
-- patronymic) is among the ids found
CREATE FUNCTION bench.hit(truth bigint, ids bigint[], short boolean) RETURNS boolean
	LANGUAGE sql STABLE AS $$
	SELECT EXISTS (SELECT 1 FROM people p JOIN people t ON t.id = truth
	                WHERE p.id = ANY (ids)
	                  AND (p.sur_i, p.sex, p.given_i) = (t.sur_i, t.sex, t.given_i)
	                  AND (short OR p.patr_i = t.patr_i)) $$;
-- bench.hits (measure.sql's interface): this population has one protocol, bench.hit
CREATE FUNCTION bench.hits(qno int, ids bigint[], short boolean)
	RETURNS TABLE (hit boolean, issue boolean, issue_strict boolean, nfound int)
	LANGUAGE sql STABLE AS $$
	SELECT bench.hit(bq.truth, ids, short), NULL::boolean, NULL::boolean, coalesce(cardinality(ids), 0)
	  FROM bench.query bq WHERE bq.qid = qno $$;
