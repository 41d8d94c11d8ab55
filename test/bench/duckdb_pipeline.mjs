#!/usr/bin/env node
// test/bench/duckdb_pipeline.mjs: the installable peer of issue 12's speed target: a Splink-style
// Fellegi-Sunter pipeline written in DuckDB SQL, run over a gen_clinic.py CSV, with the time of
// each step and its accuracy against the generator's truth (person_id, never read for matching).
//
//   node test/bench/duckdb_pipeline.mjs FILE [THREADS=2]
//
// Installs, when missing, DuckDB's Node client from npm into test/bench/duckdb/node_modules
// (git-ignored): the package @duckdb/node-api and its binary, @duckdb/node-bindings-linux-x64.
// Nothing else is downloaded.  The database is in memory, MEMORY_LIMIT (default 10GB) its limit;
// spills go to TMPDIR/duckdb_pipeline.*.  DEBUG=1 prints the model and the links' top patterns.
//
// The steps (each timed; doc/benchmarks-match.md, "Issue 12, session 38: duck40"):
//   load       read_csv of the file, every column as text, a row number as the record id
//   normalise  names lower-cased (ё = е, dots and stray signs dropped), split from full_name
//              («Фамилия Имя Отчество»; two words are «Имя Отчество» when the second ends like a
//              patronymic, else «Фамилия Имя»), a cross-script name key (a transliteration to
//              Latin and a fold of the usual romanisations, computed once per distinct name),
//              dates from dd.mm.yyyy or yyyy-mm-dd, sex, phones as 11 digits with 8/7/none
//              unified to 7, e-mails lower-case, SNILS and OMS digits, address letters and digits
//   block      cdp's default blocking rules (sql/parts/62_match_settings.sql): [family key, birth
//              year], [given key, birth date], [family key, given key], [birth date, patronymic
//              key], [birth date, given initial], any-order [family key, given key] and [family,
//              given, patronymic keys], phone, e-mail, SNILS, OMS, VK, Telegram; blocks over 5000
//              records skipped (max_block_size); a pair belongs to the first rule that yields it
//              (later rules leave out pairs agreeing on an earlier rule's key, as Splink does)
//   compare    the comparison vector of every blocked pair, packed into one integer (pattern), and
//              the term frequency of each name key the pair agrees on.  Levels: family name exact,
//              key, Jaro-Winkler of the keys >= 0.92, >= 0.8; given name the same plus an initial;
//              patronymic exact, key, JW >= 0.9, initial; birth date exact, day and month swapped,
//              one character off; sex; phone exact, last 7 digits; e-mail exact; SNILS exact, one
//              digit off; OMS exact; address exact, JW >= 0.9; VK; Telegram (no swapped-name
//              level: without a role-aware term frequency it linked thousands of namesakes)
//   train      u from 1M random pairs; m by EM per blocking rule over its pairs' patterns, leaving
//              out the comparisons the rule blocks on, averaged over the rules leaving each free
//              (weighted by pairs) (Splink's estimate_u_using_random_sampling and EM sessions);
//              λ from deterministic rules (same SNILS; or same family, given keys and birth date)
//              with an assumed recall of 0.8 (Splink's estimate_probability_two_random_records_match);
//              DuckDB counts the patterns, the EM iterates over those counts in this script
//   score      the match weight of every pattern (log2 prior + Σ log2 m/u), joined to every pair,
//              plus the tf adjustment of the agreeing name levels (log2 u of the level / tf);
//              links are pairs of match probability >= 0.9 (cdp's link_threshold)
//   cluster    connected components of the links by min-label propagation with pointer jumping
// Then the accuracy against person_id (untimed): pairwise and B-cubed precision / recall / F1,
// cluster count and sizes.  The last line, "RESULT ...", is what test/bench/duckdb_vs_cdp.sh reads.
import { createRequire } from 'node:module';
import { execSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';

const here = dirname(fileURLToPath(import.meta.url));
const prefix = join(here, 'duckdb');
if (!existsSync(join(prefix, 'node_modules/@duckdb/node-api/package.json'))) {
	console.error('installing @duckdb/node-api into ' + prefix);
	execSync(`npm install --no-save --no-package-lock --no-audit --no-fund --prefix "${prefix}" @duckdb/node-api`, { stdio: 'inherit' });
}
const { DuckDBInstance } = createRequire(join(prefix, 'x.js'))('@duckdb/node-api');

const file = process.argv[2];
const threads = process.argv[3] || '2';
if (!file || !existsSync(file)) {
	console.error('usage: node test/bench/duckdb_pipeline.mjs FILE [THREADS=2]');
	process.exit(2);
}
const tmp = mkdtempSync(join(os.tmpdir(), 'duckdb_pipeline.'));
const inst = await DuckDBInstance.create(':memory:');
const db = await inst.connect();
const run = (sql) => db.run(sql);
const rows = async (sql) => (await db.runAndReadAll(sql)).getRowObjectsJS();
const one = async (sql) => Object.values((await rows(sql))[0])[0];
await run(`SET threads = ${Number(threads)}`);
await run(`SET temp_directory = '${tmp}'`);
await run(`SET preserve_insertion_order = false`);
await run(`SET memory_limit = '${process.env.MEMORY_LIMIT || '10GB'}'`);

const times = [];
let t = performance.now();
function step(name) {
	const now = performance.now();
	times.push([name, (now - t) / 1000]);
	console.error(`${new Date().toISOString().slice(11, 19)} ${name}: ${((now - t) / 1000).toFixed(1)} s`);
	t = now;
}
const cpu0 = process.cpuUsage();

// ---------------------------------------------------------------- load
await run(`CREATE TABLE raw AS
	SELECT (row_number() OVER ())::INTEGER AS id, *
	  FROM read_csv('${file.replace(/'/g, "''")}', header = true, all_varchar = true, quote = '"', escape = '"')`);
const n = Number(await one('SELECT count(*) FROM raw'));
step('load');

// ---------------------------------------------------------------- normalise
// a name value: lower case, ё = е, only letters, hyphens and single spaces
await run(`CREATE MACRO nname(s) AS nullif(trim(regexp_replace(regexp_replace(replace(lower(s), 'ё', 'е'),
	'[^a-zа-я -]', ' ', 'g'), '\\s+', ' ', 'g')), '')`);
// the cross-script key of a normalised name: Cyrillic to Latin, then the romanisations folded
const cyr = { а: 'a', б: 'b', в: 'v', г: 'g', д: 'd', е: 'e', ж: 'zh', з: 'z', и: 'i', й: 'i', к: 'k', л: 'l', м: 'm',
	н: 'n', о: 'o', п: 'p', р: 'r', с: 's', т: 't', у: 'u', ф: 'f', х: 'kh', ц: 'ts', ч: 'ch', ш: 'sh', щ: 'shch', ъ: '',
	ы: 'y', ь: '', э: 'e', ю: 'yu', я: 'ya' };
let tr = 's';
for (const [c, l] of Object.entries(cyr)) tr = `replace(${tr}, '${c}', '${l}')`;
await run(`CREATE MACRO translit(s) AS ${tr}`);
await run(`CREATE MACRO undouble(s) AS array_to_string(list_filter(string_split(s, ''),
	lambda x, i: i = 1 OR x <> string_split(s, '')[i - 1]), '')`);
// the fold, in steps over columns (a macro nesting the others would repeat its argument's whole
// expression inside the lambda, for every letter)
await run(`CREATE MACRO fold1(s) AS regexp_replace(regexp_replace(regexp_replace(regexp_replace(regexp_replace(regexp_replace(
	regexp_replace(regexp_replace(regexp_replace(s, 'shch|sch|shh', 'sh', 'g'), 'kh', 'h', 'g'), 'ph', 'f', 'g'),
	'ts|tz|cz', 'c', 'g'), 'ck', 'k', 'g'), 'c([^eiyh]|$)', 'k\\1', 'g'), 'ks', 'x', 'g'), '[yj]', 'i', 'g'), 'w', 'v', 'g')`);
await run(`CREATE MACRO fold2(s) AS regexp_replace(regexp_replace(regexp_replace(s, 'i[eo]', 'e', 'g'), '([^aeiou ])iu', '\\1u', 'g'), 'q', 'k', 'g')`);
await run(`CREATE TABLE named AS
	WITH p AS (
		SELECT id, nname(family_name) AS f, nname(given_name) AS g, nname(patronymic) AS pt,
		       string_split(nname(full_name), ' ') AS w
		  FROM raw)
	SELECT id,
	       coalesce(f, CASE WHEN len(w) >= 3 OR (len(w) = 2 AND NOT regexp_matches(w[2], '(вич|вна|ична|vich|vna|ichna)$')) OR len(w) = 1 THEN w[1] END) AS fn,
	       coalesce(g, CASE WHEN len(w) >= 3 OR len(w) = 2 AND NOT regexp_matches(w[2], '(вич|вна|ична|vich|vna|ichna)$') THEN w[2]
	                        WHEN len(w) = 2 THEN w[1] END) AS gn,
	       coalesce(pt, CASE WHEN len(w) >= 3 THEN w[3] WHEN len(w) = 2 AND regexp_matches(w[2], '(вич|вна|ична|vich|vna|ichna)$') THEN w[2] END) AS pn
	  FROM p`);
await run(`CREATE TABLE nk1 AS SELECT v, fold1(translit(v)) AS t
	FROM (SELECT fn AS v FROM named UNION SELECT gn FROM named UNION SELECT pn FROM named) WHERE v IS NOT NULL`);
await run('CREATE TABLE nk2 AS SELECT v, fold2(undouble(t)) AS t FROM nk1');
await run('CREATE TABLE nkey AS SELECT v, undouble(t) AS k FROM nk2');
await run('DROP TABLE nk1; DROP TABLE nk2');
await run(`CREATE TABLE rec AS
	SELECT r.id, r.person_id,
	       x.fn, kf.k AS fk, x.gn, kg.k AS gk, x.pn, kp.k AS pk,
	       coalesce(try_strptime(r.birth_date, '%d.%m.%Y'), try_strptime(r.birth_date, '%Y-%m-%d'))::DATE AS bd,
	       CASE WHEN upper(trim(r.sex)) IN ('М', 'M', 'МУЖ', 'MALE') THEN 'M'
	            WHEN upper(trim(r.sex)) IN ('Ж', 'F', 'ЖЕН', 'FEMALE') THEN 'F' END AS sex,
	       CASE WHEN length(d) = 11 AND d[1] IN ('7', '8') THEN '7' || d[2:] WHEN length(d) = 10 THEN '7' || d END AS phone,
	       nullif(lower(trim(r.email)), '') AS email,
	       CASE WHEN length(regexp_replace(r.snils, '[^0-9]', '', 'g')) = 11 THEN regexp_replace(r.snils, '[^0-9]', '', 'g') END AS snils,
	       nullif(regexp_replace(r.oms, '[^0-9]', '', 'g'), '') AS oms,
	       nullif(regexp_replace(lower(r.address), '[^0-9a-zа-яё]', '', 'g'), '') AS addr,
	       nullif(lower(trim(r.vk)), '') AS vk, nullif(lower(trim(r.telegram)), '') AS tg
	  FROM (SELECT *, regexp_replace(phone, '[^0-9]', '', 'g') AS d FROM raw) r
	  JOIN named x USING (id)
	  LEFT JOIN nkey kf ON kf.v = x.fn LEFT JOIN nkey kg ON kg.v = x.gn LEFT JOIN nkey kp ON kp.v = x.pn`);
await run('DROP TABLE raw; DROP TABLE named');
// term frequencies of the name keys (Splink's tf adjustment of the agreeing levels)
await run(`CREATE TABLE tf AS SELECT 'f' AS w, fk AS k, (count(*) / sum(count(*)) OVER ())::REAL AS tf FROM rec WHERE fk IS NOT NULL GROUP BY fk
	UNION ALL SELECT 'g', gk, (count(*) / sum(count(*)) OVER ())::REAL FROM rec WHERE gk IS NOT NULL GROUP BY gk
	UNION ALL SELECT 'p', pk, (count(*) / sum(count(*)) OVER ())::REAL FROM rec WHERE pk IS NOT NULL GROUP BY pk`);
await run(`CREATE OR REPLACE TABLE rec AS SELECT rec.*, f.tf AS tff, g.tf AS tfg, p.tf AS tfp FROM rec
	LEFT JOIN tf f ON f.w = 'f' AND f.k = rec.fk LEFT JOIN tf g ON g.w = 'g' AND g.k = rec.gk LEFT JOIN tf p ON p.w = 'p' AND p.k = rec.pk`);
await run('DROP TABLE tf');
step('normalise');

// ---------------------------------------------------------------- block
// one hashed key per rule (NULL when a part is missing or the block is over max_block_size)
const rules = [
	['fk', 'year(bd)'], ['gk', 'bd'], ['fk', 'gk'], ['bd', 'pk'], ['bd', 'gk[1]'],
	['any', 'fk', 'gk'], ['any', 'fk', 'gk', 'pk'],
	['phone'], ['email'], ['snils'], ['oms'], ['vk'], ['tg'],
];
// the comparisons each rule blocks on (left out of its EM session)
const compNames = ['family', 'given', 'patronymic', 'birth_date', 'sex', 'phone', 'email', 'snils', 'oms', 'address', 'vk', 'telegram'];
const ruleBlocks = [['family', 'birth_date'], ['given', 'birth_date'], ['family', 'given'], ['birth_date', 'patronymic'],
	['birth_date', 'given'], ['family', 'given'], ['family', 'given', 'patronymic'],
	['phone'], ['email'], ['snils'], ['oms'], ['vk'], ['telegram']];
const keyExpr = (r) => {
	const any = r[0] === 'any';
	const parts = any ? r.slice(1) : r;
	const nn = parts.map((p) => `${p} IS NOT NULL`).join(' AND ');
	const body = any ? `list_sort([${parts.join(', ')}])` : `[${parts.map((p) => `${p}::VARCHAR`).join(', ')}]`;
	return `CASE WHEN ${nn} THEN hash(${body}) END`;
};
await run(`CREATE TABLE rk0 AS SELECT id, ${rules.map((r, i) => `${keyExpr(r)} AS k${i + 1}`).join(', ')} FROM rec`);
const big = [];
for (let i = 1; i <= rules.length; i++) {
	big.push(`CASE WHEN k${i} IN (SELECT k${i} FROM rk0 WHERE k${i} IS NOT NULL GROUP BY 1 HAVING count(*) > 5000) THEN NULL ELSE k${i} END AS k${i}`);
}
await run(`CREATE TABLE rk AS SELECT id, ${big.join(', ')} FROM rk0`);
const skipped = Number(await one(`SELECT ${rules.map((_, i) => `(SELECT coalesce(sum(c), 0) FROM (SELECT count(*) AS c FROM rk0
	WHERE k${i + 1} IS NOT NULL GROUP BY k${i + 1} HAVING count(*) > 5000))`).join(' + ')}`));
await run('DROP TABLE rk0');
const sel = [];
// the rules whose keys a pair shares (bit r - 1): the pairs each EM session trains on
const mask = rules.map((_, j) => `((coalesce(a.k${j + 1} = b.k${j + 1}, false))::USMALLINT << ${j})`).join(' + ');
for (let i = 1; i <= rules.length; i++) {
	const earlier = [];
	for (let j = 1; j < i; j++) earlier.push(`coalesce(a.k${j} = b.k${j}, false)`);
	sel.push(`SELECT a.id AS l, b.id AS r, ${i}::UTINYINT AS rule, ${mask} AS mask FROM rk a JOIN rk b ON a.k${i} = b.k${i} AND a.id < b.id
		${earlier.length ? 'WHERE NOT (' + earlier.join(' OR ') + ')' : ''}`);
}
await run(`CREATE TABLE pairs AS ${sel.join('\nUNION ALL\n')}`);
await run('DROP TABLE rk');
const npairs = Number(await one('SELECT count(*) FROM pairs'));
step('block');

// ---------------------------------------------------------------- compare
// each comparison's level: -1 missing on a side, 0 disagree, higher levels agree more
const J = 'jaro_winkler_similarity';
const comps = [
	`CASE WHEN a.fn IS NULL OR b.fn IS NULL THEN -1 WHEN a.fn = b.fn THEN 4 WHEN a.fk = b.fk THEN 3
	      WHEN ${J}(a.fk, b.fk) >= 0.92 THEN 2 WHEN ${J}(a.fk, b.fk) >= 0.8 THEN 1 ELSE 0 END`,
	`CASE WHEN a.gn IS NULL OR b.gn IS NULL THEN -1 WHEN a.gn = b.gn THEN 5 WHEN a.gk = b.gk THEN 4
	      WHEN ${J}(a.gk, b.gk) >= 0.92 THEN 3 WHEN ${J}(a.gk, b.gk) >= 0.8 THEN 2
	      WHEN a.gk[1] = b.gk[1] AND (length(a.gk) = 1 OR length(b.gk) = 1) THEN 1 ELSE 0 END`,
	`CASE WHEN a.pn IS NULL OR b.pn IS NULL THEN -1 WHEN a.pn = b.pn THEN 4 WHEN a.pk = b.pk THEN 3
	      WHEN ${J}(a.pk, b.pk) >= 0.9 THEN 2 WHEN a.pk[1] = b.pk[1] AND (length(a.pk) = 1 OR length(b.pk) = 1) THEN 1 ELSE 0 END`,
	`CASE WHEN a.bd IS NULL OR b.bd IS NULL THEN -1 WHEN a.bd = b.bd THEN 3
	      WHEN year(a.bd) = year(b.bd) AND month(a.bd) = day(b.bd) AND day(a.bd) = month(b.bd) THEN 2
	      WHEN levenshtein(a.bd::VARCHAR, b.bd::VARCHAR) <= 1 THEN 1 ELSE 0 END`,
	`CASE WHEN a.sex IS NULL OR b.sex IS NULL THEN -1 WHEN a.sex = b.sex THEN 1 ELSE 0 END`,
	`CASE WHEN a.phone IS NULL OR b.phone IS NULL THEN -1 WHEN a.phone = b.phone THEN 2 WHEN right(a.phone, 7) = right(b.phone, 7) THEN 1 ELSE 0 END`,
	`CASE WHEN a.email IS NULL OR b.email IS NULL THEN -1 WHEN a.email = b.email THEN 1 ELSE 0 END`,
	`CASE WHEN a.snils IS NULL OR b.snils IS NULL THEN -1 WHEN a.snils = b.snils THEN 2 WHEN levenshtein(a.snils, b.snils) <= 1 THEN 1 ELSE 0 END`,
	`CASE WHEN a.oms IS NULL OR b.oms IS NULL THEN -1 WHEN a.oms = b.oms THEN 1 ELSE 0 END`,
	`CASE WHEN a.addr IS NULL OR b.addr IS NULL THEN -1 WHEN a.addr = b.addr THEN 2 WHEN ${J}(a.addr, b.addr) >= 0.9 THEN 1 ELSE 0 END`,
	`CASE WHEN a.vk IS NULL OR b.vk IS NULL THEN -1 WHEN a.vk = b.vk THEN 1 ELSE 0 END`,
	`CASE WHEN a.tg IS NULL OR b.tg IS NULL THEN -1 WHEN a.tg = b.tg THEN 1 ELSE 0 END`,
];
const levels = [5, 6, 5, 4, 2, 3, 2, 3, 2, 3, 2, 2];	// levels 0 .. levels-1 of each comparison
// the pattern: (level + 1) of comparison c in octal digit c
const pattern = comps.map((c, i) => `(${c} + 1)::BIGINT * ${8 ** i}`).join(' + ');
await run(`CREATE TABLE scored AS SELECT p.l, p.r, p.rule, p.mask, ${pattern} AS pat,
	CASE WHEN a.fk = b.fk THEN greatest(a.tff, b.tff) END AS tf_f, CASE WHEN a.gk = b.gk THEN greatest(a.tfg, b.tfg) END AS tf_g,
	CASE WHEN a.pk = b.pk THEN greatest(a.tfp, b.tfp) END AS tf_p
	FROM pairs p JOIN rec a ON a.id = p.l JOIN rec b ON b.id = p.r`);
await run('DROP TABLE pairs');
step('compare');

// ---------------------------------------------------------------- train
const gam = (pat) => compNames.map((_, i) => Math.floor(pat / 8 ** i) % 8 - 1);
// u: level frequencies among 1M random pairs (almost all non-matches), +0.5 smoothing
await run(`CREATE TABLE rnd AS SELECT (1 + floor(random() * ${n}))::INTEGER AS l, (1 + floor(random() * ${n}))::INTEGER AS r
	FROM range(1000000)`);
const upats = await rows(`SELECT ${pattern} AS pat, count(*)::DOUBLE AS c
	FROM rnd p JOIN rec a ON a.id = p.l JOIN rec b ON b.id = p.r WHERE p.l <> p.r GROUP BY ALL`);
const u = levels.map((k) => new Array(k).fill(0.5));
for (const { pat, c } of upats) gam(Number(pat)).forEach((g, i) => { if (g >= 0) u[i][g] += c; });
for (const ui of u) { const s = ui.reduce((x, y) => x + y); ui.forEach((v, j) => { ui[j] = v / s; }); }
// m: EM per rule over its pairs' patterns (u held), the comparisons it blocks on left out
const pats = (await rows('SELECT mask, pat, count(*)::DOUBLE AS c FROM scored GROUP BY ALL'))
	.map(({ mask, pat, c }) => ({ mask: Number(mask), g: gam(Number(pat)), c: Number(c) }));
const initM = (k) => Array.from({ length: k }, (_, j) => (j === k - 1 ? 0.7 : 0.3 / (k - 1)));
function em(list, free, m, fitM, iters) {
	let lam = 0.3;
	for (let it = 0; it < iters; it++) {
		const num = levels.map((k) => new Array(k).fill(0));
		let sp = 0;
		let sc = 0;
		for (const { g, c } of list) {
			let pm = lam;
			let pu = 1 - lam;
			for (const i of free) if (g[i] >= 0) { pm *= m[i][g[i]]; pu *= u[i][g[i]]; }
			const p = pm / (pm + pu);
			sp += p * c;
			sc += c;
			if (fitM) for (const i of free) if (g[i] >= 0) num[i][g[i]] += p * c;
		}
		lam = sp / sc;
		if (fitM) {
			for (const i of free) {
				const s = num[i].reduce((x, y) => x + y);
				if (s > 0) m[i] = num[i].map((v) => Math.max(v / s, 1e-6));
			}
		}
	}
	return lam;
}
const mSum = levels.map((k) => new Array(k).fill(0));
const mW = levels.map(() => 0);
for (let r = 1; r <= rules.length; r++) {
	const list = pats.filter((p) => (p.mask >> (r - 1)) & 1);
	const weight = list.reduce((x, p) => x + p.c, 0);
	if (weight < 1000) continue;
	const free = compNames.map((_, i) => i).filter((i) => !ruleBlocks[r - 1].includes(compNames[i]));
	const m = levels.map(initM);
	const lr = em(list, free, m, true, 30);
	if (process.env.DEBUG) console.error('rule', r, 'pairs', weight, 'λ', lr.toFixed(4), 'family m', m[0].map((x) => x.toFixed(3)).join(' '), 'given m', m[1].map((x) => x.toFixed(3)).join(' '));
	for (const i of free) { m[i].forEach((v, j) => { mSum[i][j] += v * weight; }); mW[i] += weight; }
}
const mFinal = levels.map((k, i) => (mW[i] > 0 ? mSum[i].map((v) => v / mW[i]) : initM(k)));
if (process.env.DEBUG) compNames.forEach((c, i) => console.error(c, "m", mFinal[i].map((x) => x.toFixed(4)).join(" "), "u", u[i].map((x) => x.toExponential(2)).join(" ")));
// λ as Splink's estimate_probability_two_random_records_match: the pairs that deterministic rules
// call matches (same SNILS; or same family and given name keys and birth date), over all pairs,
// divided by an assumed recall of those rules of 0.8 (an EM over all blocked pairs with m and u
// held gave 0.99 of them at 1M records: the blocked non-matches do not look like random pairs)
const det = pats.reduce((x, p) => x + ((p.g[7] === 2 || (p.g[0] >= 3 && p.g[1] >= 4 && p.g[3] === 3)) ? p.c : 0), 0);
const lamBlocked = det / 0.8 / npairs;
const lamAll = Math.min(det / 0.8 / (n * (n - 1) / 2), 0.5);
step('train');

// ---------------------------------------------------------------- score
const prior = Math.log2(lamAll / (1 - lamAll));
const wts = [];
for (const { pat } of await rows('SELECT DISTINCT pat FROM scored')) {
	const g = gam(Number(pat));
	let w = prior;
	g.forEach((l, i) => { if (l >= 0) w += Math.log2(mFinal[i][l] / u[i][l]); });
	wts.push(`(${pat}, ${w})`);
}
await run(`CREATE TABLE weight (pat BIGINT, w DOUBLE)`);
for (let i = 0; i < wts.length; i += 5000) await run(`INSERT INTO weight VALUES ${wts.slice(i, i + 5000).join(', ')}`);
// the tf adjustment of the exact and key levels of the three names: log2(u of the level / tf of the value)
const tfAdj = [[0, 'tf_f', [4, 3]], [1, 'tf_g', [5, 4]], [2, 'tf_p', [4, 3]]].map(([i, col, lv]) =>
	`CASE (s.pat // ${8 ** i}) % 8 - 1 ${lv.map((l) => `WHEN ${l} THEN log2(${u[i][l]} / s.${col})`).join(' ')} ELSE 0 END`).join(' + ');
await run(`CREATE TABLE links AS SELECT s.l, s.r FROM scored s JOIN weight w USING (pat)
	WHERE w.w + ${tfAdj} >= log2(0.9 / 0.1)`);
const nlinks = Number(await one('SELECT count(*) FROM links'));
if (process.env.DEBUG) {
	for (const x of await rows(`SELECT s.pat, w.w, count(*) AS c, count(*) FILTER (a.person_id <> b.person_id) AS bad FROM scored s JOIN weight w USING (pat)
		JOIN links USING (l, r) JOIN rec a ON a.id = s.l JOIN rec b ON b.id = s.r GROUP BY ALL ORDER BY bad DESC LIMIT 8`)) console.error('link pattern', gam(Number(x.pat)).join(','), x.w.toFixed(1), x.c, x.bad);
}
step('score');

// ---------------------------------------------------------------- cluster
await run(`CREATE TABLE edge AS SELECT l AS a, r AS b FROM links UNION ALL SELECT r, l FROM links`);
await run(`CREATE TABLE lab AS SELECT DISTINCT a AS id, a AS c FROM edge`);
let iters = 0;
for (;;) {
	iters++;
	await run(`CREATE OR REPLACE TABLE lab2 AS
		SELECT x.id, least(x.c, min(y.c)) AS c FROM lab x JOIN edge e ON e.a = x.id JOIN lab y ON y.id = e.b GROUP BY x.id, x.c`);
	// pointer jumping: a label's own label
	await run(`CREATE OR REPLACE TABLE lab3 AS SELECT x.id, least(x.c, y.c) AS c FROM lab2 x JOIN lab2 y ON y.id = x.c`);
	const changed = Number(await one('SELECT count(*) FROM lab3 JOIN lab USING (id) WHERE lab3.c <> lab.c'));
	await run('DROP TABLE lab; ALTER TABLE lab3 RENAME TO lab');
	if (changed === 0) break;
}
await run(`CREATE TABLE cluster AS SELECT r.id, coalesce(l.c, r.id) AS c, r.person_id FROM rec r LEFT JOIN lab l USING (id)`);
step('cluster');
const cpu = process.cpuUsage(cpu0);

// ---------------------------------------------------------------- accuracy (untimed)
const acc = (await rows(`WITH cp AS (SELECT c, person_id, count(*)::DOUBLE AS k FROM cluster GROUP BY ALL),
	cs AS (SELECT c, count(*)::DOUBLE AS k FROM cluster GROUP BY c),
	ps AS (SELECT person_id, count(*)::DOUBLE AS k FROM cluster GROUP BY person_id)
	SELECT (SELECT sum(k * (k - 1) / 2) FROM cp) AS tp, (SELECT sum(k * (k - 1) / 2) FROM cs) AS pred,
	       (SELECT sum(k * (k - 1) / 2) FROM ps) AS truth,
	       (SELECT sum(cp.k * cp.k / cs.k) FROM cp JOIN cs USING (c)) / ${n} AS bp,
	       (SELECT sum(cp.k * cp.k / ps.k) FROM cp JOIN ps USING (person_id)) / ${n} AS br,
	       (SELECT count(*) FROM cs) AS clusters, (SELECT count(*) FROM ps) AS persons,
	       (SELECT max(k) FROM cs) AS max_size, (SELECT count(*) FROM cs WHERE k >= 20) AS ge20,
	       (SELECT max(k) FROM ps) AS true_max`))[0];
const f1 = (p, r) => (p + r > 0 ? 2 * p * r / (p + r) : 0);
const pp = acc.tp / acc.pred;
const pr = acc.tp / acc.truth;
const total = times.reduce((x, [, s]) => x + s, 0);
console.log(`DuckDB pipeline (@duckdb/node-api ${createRequire(join(prefix, 'x.js'))('@duckdb/node-api/package.json').version}, threads ${threads}): ${n} records of ${file}; load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} at the end`);
console.log(`${'step'.padEnd(12)} ${'wall'.padStart(8)}`);
for (const [s, v] of times) console.log(`${s.padEnd(12)} ${v.toFixed(1).padStart(8)} s`);
console.log(`${'total'.padEnd(12)} ${total.toFixed(1).padStart(8)} s  (process CPU ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s)`);
console.log(`blocked pairs ${npairs} (record keys in blocks over 5000: ${skipped}), links ${nlinks}, clustering iterations ${iters}; λ blocked ${lamBlocked.toFixed(4)}, all pairs ${lamAll.toExponential(3)}`);
console.log(`pairwise precision ${pp.toFixed(4)} recall ${pr.toFixed(4)} F1 ${f1(pp, pr).toFixed(4)}; B-cubed precision ${acc.bp.toFixed(4)} recall ${acc.br.toFixed(4)} F1 ${f1(acc.bp, acc.br).toFixed(4)}`);
console.log(`clusters ${acc.clusters} (true persons ${acc.persons}), largest ${acc.max_size} (truth ${acc.true_max}), clusters of 20 or more ${acc.ge20}`);
const tm = Object.fromEntries(times);
console.log(`RESULT load=${tm.load.toFixed(2)} normalise=${tm.normalise.toFixed(2)} block=${tm.block.toFixed(2)} compare=${tm.compare.toFixed(2)} train=${tm.train.toFixed(2)} score=${tm.score.toFixed(2)} cluster=${tm.cluster.toFixed(2)} total=${total.toFixed(2)} cpu=${((cpu.user + cpu.system) / 1e6).toFixed(2)} pairs=${npairs} links=${nlinks} pw_p=${pp.toFixed(4)} pw_r=${pr.toFixed(4)} pw_f1=${f1(pp, pr).toFixed(4)} b3_p=${acc.bp.toFixed(4)} b3_r=${acc.br.toFixed(4)} b3_f1=${f1(acc.bp, acc.br).toFixed(4)} clusters=${acc.clusters} max=${acc.max_size} ge20=${acc.ge20}`);
db.closeSync?.();
rmSync(tmp, { recursive: true, force: true });
