-- test/pgtap/67_match_support_cross.sql: the support checks of the link plan (cluster coherence,
-- issue 12) score the pairs across two persons that blocking did not propose in memory (session
-- 35), not with a _match_walk('cross') per check: the decisions must be those of that walk.  A
-- trained population; groups of a record x and a person of four other records (some of x's own
-- person, some namesakes), each given to _match_link_plan as one linking pair (x with the first
-- record of the person) and nothing else, so the check reads everything else from match_key.  The
-- reference: the pairs proposed are the given one; the pairs of x with the person's records that
-- share no blocking key are the only ones that can add support (none can reach the need: held
-- without scoring); else the link is made when at least ceil(person_support * 4) of x's pairs
-- with the person reach the review threshold in _match_walk('cross') over their key rows (by
-- record id) and neither a rule vetoes them nor is a record a placeholder.  Groups of both
-- outcomes are checked, with and without enough cross support, and a record without a key row.
BEGIN;
SELECT plan(10);

-- a deterministic population: 500 persons with 1-4 records each, few surnames and given names,
-- typos (a family name with another letter: no shared name block), day/month swaps, missing values
SELECT setseed(0.35);
SELECT cdp.register_source(n) FROM unnest(ARRAY['s1', 's2']) n;
CREATE TEMP TABLE person AS
SELECT p, (random() < 0.5) AS male,
       (ARRAY['Иванов','Смирнов','Кузнецов','Попов','Васильев','Петров'])[1 + floor(random() * 6)::int] AS f,
       floor(random() * 6)::int AS gi,
       (ARRAY['Александров','Сергеев','Дмитриев','Андреев'])[1 + floor(random() * 4)::int] AS pn,
       date '1950-01-01' + floor(random() * 20000)::int AS dob,
       '79' || lpad(floor(random() * 400)::text, 9, '0') AS phone,
       1 + floor(random() * 3.99)::int AS nrec
  FROM generate_series(1, 500) p;
CREATE TEMP TABLE gen AS
SELECT row_number() OVER (ORDER BY pr.p, r) AS k, pr.p,
       jsonb_strip_nulls(jsonb_build_object(
         'family_name', CASE WHEN random() < 0.25 THEN overlay(nm.f placing 'ы' from 2 for 1) ELSE nm.f END,
         'given_name', nm.g,
         'patronymic', CASE WHEN random() < 0.3 THEN NULL ELSE nm.pn END,
         'birth_date', CASE WHEN random() < 0.1 AND extract(day FROM pr.dob) <= 12 THEN to_char(pr.dob, 'YYYY-DD-MM') ELSE to_char(pr.dob, 'YYYY-MM-DD') END,
         'sex', CASE WHEN pr.male THEN 'M' ELSE 'F' END,
         'phone', CASE WHEN random() < 0.4 THEN NULL ELSE '+' || pr.phone END)) AS attrs
  FROM person pr
 CROSS JOIN LATERAL generate_series(1, pr.nrec) r
 CROSS JOIN LATERAL (SELECT CASE WHEN pr.male THEN pr.f ELSE pr.f || 'а' END AS f,
                            CASE WHEN pr.male THEN (ARRAY['Александр','Сергей','Дмитрий','Андрей','Алексей','Максим'])[1 + pr.gi]
                                 ELSE (ARRAY['Елена','Ольга','Наталья','Анна','Мария','Ирина'])[1 + pr.gi] END AS g,
                            pr.pn || CASE WHEN pr.male THEN 'ич' ELSE 'на' END AS pn) nm;
INSERT INTO cdp.record (source_id, source_key, raw, family_name, given_name, patronymic, birth_date, sex, phones, emails,
                        snils, oms, address, city, handles, extra, attrs_hash)
SELECT s.source_id, g.k::text, g.attrs, n.family_name, n.given_name, n.patronymic, n.birth_date, n.sex, n.phones, n.emails,
       n.snils, n.oms, n.address, n.city, n.handles, COALESCE(n.extra, '{}'), md5(g.attrs::text)
  FROM gen g
  JOIN cdp.source s ON s.name = 's' || (1 + g.k % 2)
 CROSS JOIN LATERAL jsonb_populate_record(NULL::cdp.record, cdp.normalize_attrs(g.attrs, true)) n;
SELECT ok((cdp.train_matching(100000, 10) ->> 'blocked_pairs')::bigint > 1000, 'the population is trained');
CREATE TEMP TABLE act AS SELECT a.*, (a.settings ->> 'review_threshold')::float8 AS review_t FROM cdp_internal._match_active() a;
CREATE TEMP TABLE rid AS SELECT g.k, g.p, r.record_id FROM gen g JOIN cdp.record r ON r.source_key = g.k::text;

-- the groups: a record x and four other records, x's own person's first (a common given name and
-- family name stand in for the rest); one group whose person has a record without a key row
CREATE TEMP TABLE grp AS
SELECT x.record_id AS x, o.members
  FROM (SELECT record_id, k, p, row_number() OVER (ORDER BY md5(k::text)) AS n FROM rid) x
 CROSS JOIN LATERAL (SELECT array_agg(y.record_id ORDER BY y.own DESC, y.h) AS members
                       FROM (SELECT r.record_id, r.p = x.p AS own, md5(r.k::text || '/' || x.k::text) AS h
                               FROM rid r JOIN gen g ON g.k = r.k JOIN gen gx ON gx.k = x.k
                              WHERE r.k <> x.k
                                AND (r.p = x.p OR (g.attrs ->> 'given_name') = (gx.attrs ->> 'given_name'))
                              ORDER BY r.p = x.p DESC, md5(r.k::text || '/' || x.k::text) LIMIT 4) y) o
 WHERE x.n <= 400 AND cardinality(o.members) = 4;
DELETE FROM cdp_internal.match_key WHERE record_id = (SELECT members[4] FROM grp ORDER BY x LIMIT 1);

-- the plan's decision for a group: x linking to the first of its person's four records
-- (probability 0.99), at review threshold review_t, person_support 0.75 (3 supporting pairs of 4
-- are needed); pad: more records of the plan, each its own person, in no pair
CREATE FUNCTION pg_temp.decide(x bigint, members bigint[], review_t float8, pad bigint[] DEFAULT '{}') RETURNS "char"
LANGUAGE sql AS $$
	SELECT lp.action
	  FROM (SELECT COALESCE(array_agg(i ORDER BY i), '{}') AS ids, COALESCE(array_agg(-i ORDER BY i), '{}') AS golds
	          FROM unnest(pad) i WHERE i <> ALL (x || members)) q,
	       cdp_internal._match_link_plan(ARRAY[x], ARRAY[members[1]], ARRAY[0.99::float8], ARRAY[0],
	         x || members || q.ids, ARRAY[x, members[1], members[1], members[1], members[1]] || q.golds, NULL, NULL, 0,
	         NULL, NULL, NULL, NULL, 0.9::float8, review_t, cdp_internal._match_plan_reasons('{}'), 0, 0.75::float8) lp
$$;
CREATE TEMP TABLE dec AS
SELECT g.x, g.members, pg_temp.decide(g.x, g.members, a.review_t) AS action
  FROM grp g, act a;

-- the reference: blocking keys shared, then the cross walk of x with the four records
CREATE TEMP TABLE ref AS
SELECT g.x, g.members,
       (SELECT count(*) FROM unnest(g.members) m(id)
         WHERE EXISTS (SELECT 1 FROM cdp_internal.match_key kx, cdp_internal.match_key km
                        WHERE kx.record_id = g.x AND km.record_id = m.id
                          AND NOT EXISTS (SELECT 1 FROM generate_subscripts(kx.bk, 1) i
                                           WHERE i <= cardinality(km.bk) AND kx.bk[i] <> '' AND kx.bk[i] = km.bk[i]))) AS unproposed,
       (SELECT count(*) FROM cdp_internal._match_walk('cross',
                 format('SELECT k.record_id, NULL::bigint, k.flags, k.feat, k.bk FROM cdp_internal.match_key k WHERE k.record_id = ANY (%L::bigint[]) ORDER BY k.record_id',
                        (g.x || g.members)::text),
                 a.program, a.version, a.review_t, 0, 0, ARRAY[g.x]) w
         WHERE w.probability >= a.review_t AND w.flags & (512 | 1024) = 0
           AND g.x IN (w.record_a, w.record_b)) AS support
  FROM grp g, act a;

SELECT cmp_ok((SELECT count(*) FROM grp), '>=', 300::bigint, 'three hundred groups or more');
SELECT is((SELECT count(*) FROM dec WHERE action NOT IN ('l', 'h')), 0::bigint, 'each group is linked or held');
SELECT is((SELECT array_agg(d.x ORDER BY d.x) FROM dec d JOIN ref r USING (x)
            WHERE d.action <> CASE WHEN 1 + r.unproposed < 3 THEN 'h' WHEN r.support >= 3 THEN 'l' ELSE 'h' END),
          NULL, 'every decision is the reference''s: the keys say whether to score, the cross walk whether the link has support');
SELECT cmp_ok((SELECT count(*) FROM dec d JOIN ref r USING (x) WHERE d.action = 'l' AND 1 + r.unproposed >= 3), '>=', 5::bigint,
              'groups with enough cross support link');
SELECT cmp_ok((SELECT count(*) FROM dec d JOIN ref r USING (x) WHERE d.action = 'h' AND 1 + r.unproposed >= 3), '>=', 5::bigint,
              'groups scored without enough cross support are held');
SELECT is((SELECT d.action FROM dec d WHERE d.x = (SELECT x FROM grp ORDER BY x LIMIT 1)),
          (SELECT CASE WHEN 1 + r.unproposed < 3 THEN 'h' WHEN r.support >= 3 THEN 'l' ELSE 'h' END::"char" FROM ref r ORDER BY x LIMIT 1),
          'a record without a key row counts as proposed and supports nothing');

-- a plan of a few records reads the term frequencies of their values only (session 41: all of
-- match_tf was most of a match_record); one of more than 1,024 records reads the whole table: the
-- same groups padded with 1,100 records of persons in no pair take the same decisions
CREATE TEMP TABLE pad AS SELECT array_agg(r.record_id ORDER BY r.record_id) AS ids
  FROM (SELECT record_id FROM rid ORDER BY record_id DESC LIMIT 1100) r;
SELECT is((SELECT array_agg(d.x ORDER BY d.x) FROM dec d, grp g, pad, act a
            WHERE g.x = d.x
              AND d.action IS DISTINCT FROM pg_temp.decide(g.x, g.members, a.review_t, pad.ids)),
          NULL, 'a plan of 1,100 more records (the whole tf table read) decides every group as the plan of five');

-- the scorer's probabilities are the cross walk's to the bit, term frequencies included: with the
-- review threshold at the third best probability of x's pairs the link has support (three pairs
-- reach it), a hair above it not (two do); a probability a term frequency read wrong moves flips one
CREATE TEMP TABLE edge AS
SELECT g.x, g.members, p.probs
  FROM grp g, act a, ref r,
       LATERAL (SELECT array_agg(w.probability ORDER BY w.probability DESC) AS probs
                  FROM cdp_internal._match_walk('cross',
                         format('SELECT k.record_id, NULL::bigint, k.flags, k.feat, k.bk FROM cdp_internal.match_key k WHERE k.record_id = ANY (%L::bigint[]) ORDER BY k.record_id',
                                (g.x || g.members)::text),
                         a.program, a.version, 0, 0, 0, ARRAY[g.x]) w
                 WHERE w.flags & (512 | 1024) = 0 AND g.x IN (w.record_a, w.record_b)) p
 WHERE r.x = g.x AND 1 + r.unproposed >= 3 AND cardinality(p.probs) >= 3 AND p.probs[3] < p.probs[2] AND p.probs[3] > 0;
CREATE TEMP TABLE edge_dec AS
SELECT e.x,
       pg_temp.decide(e.x, e.members, e.probs[3]) AS at_third,
       pg_temp.decide(e.x, e.members, e.probs[3] * (1 + 1e-12)) AS above_third,
       pg_temp.decide(e.x, e.members, e.probs[3], pad.ids) AS at_third_whole,
       pg_temp.decide(e.x, e.members, e.probs[3] * (1 + 1e-12), pad.ids) AS above_third_whole
  FROM edge e, pad;
SELECT cmp_ok((SELECT count(*) FROM edge_dec), '>=', 5::bigint, 'five groups or more are scored and have three pairs with distinct probabilities');
SELECT is((SELECT array_agg(x ORDER BY x) FROM edge_dec
            WHERE at_third <> 'l' OR above_third <> 'h' OR at_third_whole <> 'l' OR above_third_whole <> 'h'), NULL,
          'at the third best probability a group links, a hair above it it is held, in plans of five and of 1,100 more records: the scorer''s probabilities are the walk''s');

SELECT * FROM finish();
ROLLBACK;
