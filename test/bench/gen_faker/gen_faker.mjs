// test/bench/gen_faker/gen_faker.mjs: an independent synthetic population with known truth.
//
//   node gen_faker.mjs --persons N [--seed S] --out FILE.csv [--truth-col person_id] [--quiet]
//
// The second population of issue 12 ("draw a second, independent population from a generator you
// did not write"): persons come from @faker-js/faker with its Russian locale (its own name, city
// and street lists, drawn uniformly, not by frequency), and five sources write them with habits
// and errors modelled here independently of gen_clinic.py (see doc/generator.md, "gen_faker").
// The CSV has the columns of gen_clinic.py, so the same loaders and test/bench/population_eval.sh
// read it. The same seed and the same locked faker version (package-lock.json) give the same
// bytes: every draw comes from faker's seeded generator, dates are counted from a fixed reference
// day, and nothing reads the clock. Run it through gen_faker.sh, which installs the dependency.

import { fakerRU as faker } from "@faker-js/faker";
import fs from "node:fs";

const COLUMNS = ["source", "source_id", "person_id", "family_name", "given_name", "patronymic", "full_name",
	"birth_date", "sex", "phone", "email", "snils", "oms", "address", "city", "vk", "telegram"];
const REF = Date.UTC(2025, 0, 1);		// ages and dates are counted from here, not from today
const DAY = 86400000;

// ---------------------------------------------------------------------------------------------
// Command line

// args: the parsed command line, or an exit with the usage on a mistake.
function args(argv) {
	const a = { persons: 0, seed: 42, out: null, truthCol: "person_id", quiet: false };
	for (let i = 0; i < argv.length; i++) {
		const k = argv[i];
		const v = () => {
			if (i + 1 >= argv.length) usage(`${k} needs a value`);
			return argv[++i];
		};
		if (k === "--persons") a.persons = Number(v());
		else if (k === "--seed") a.seed = Number(v());
		else if (k === "--out") a.out = v();
		else if (k === "--truth-col") a.truthCol = v();
		else if (k === "--quiet") a.quiet = true;
		else usage(`unknown option ${k}`);
	}
	if (!Number.isInteger(a.persons) || a.persons < 1) usage("--persons must be a whole number >= 1");
	if (!Number.isInteger(a.seed) || a.seed < 0) usage("--seed must be a whole number >= 0");
	if (!a.out) usage("--out is required ('-' for standard output)");
	return a;
}

// usage: print the usage with a message and exit 2.
function usage(msg) {
	process.stderr.write(`gen_faker: ${msg}\nusage: node gen_faker.mjs --persons N [--seed S] --out FILE.csv ` +
		"[--truth-col NAME] [--quiet]\n");
	process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// Random helpers (all on faker's seeded generator)

// u: a uniform number in [0, 1).
const u = () => faker.number.float({ min: 0, max: 1, fractionDigits: 6 }) % 1;
// int: a whole number in [lo, hi].
const int = (lo, hi) => faker.number.int({ min: lo, max: hi });
// pick: one element of an array, uniformly.
const pick = (arr) => arr[int(0, arr.length - 1)];
// digits: n random decimal digits as a string.
const digits = (n) => faker.string.numeric({ length: n, allowLeadingZeros: true });

// ---------------------------------------------------------------------------------------------
// Identifiers

// snilsCheck: the check number of a SNILS from its nine digits (sum of digit times its weight
// 9..1; below 100 it is the sum, 100 and 101 give 0, above that the sum modulo 101, 100 again 0).
function snilsCheck(d9) {
	let s = 0;
	for (let i = 0; i < 9; i++) s += Number(d9[i]) * (9 - i);
	if (s < 100) return s;
	if (s === 100 || s === 101) return 0;
	s %= 101;
	return s === 100 ? 0 : s;
}

// newSnils: a valid SNILS above the reserved range.
function newSnils() {
	let d9 = digits(9);
	if (d9 < "001001999") d9 = "1" + d9.slice(1);
	return d9 + String(snilsCheck(d9)).padStart(2, "0");
}

// ---------------------------------------------------------------------------------------------
// Latin spellings, as a foreign lab's system stores Cyrillic names (its own simplified scheme:
// the 1997 Russian passport spelling, ё and е both e, ь and ъ dropped).
const LAT = { а: "a", б: "b", в: "v", г: "g", д: "d", е: "e", ё: "e", ж: "zh", з: "z", и: "i", й: "y",
	к: "k", л: "l", м: "m", н: "n", о: "o", п: "p", р: "r", с: "s", т: "t", у: "u", ф: "f", х: "kh",
	ц: "ts", ч: "ch", ш: "sh", щ: "shch", ъ: "", ы: "y", ь: "", э: "e", ю: "yu", я: "ya" };

// latin: a Cyrillic word in Latin letters, upper case.
function latin(s) {
	let out = "";
	for (const ch of s.toLowerCase()) out += LAT[ch] ?? ch;
	return out.toUpperCase();
}

// ---------------------------------------------------------------------------------------------
// Errors (this generator's own model; rates per field of a record)
const ERR = {
	ocr: 0.03,			// paper archive: a letter misread (и/н, ш/щ, л/п, е/с ...)
	slip: 0.02,			// typed sources: a letter doubled or dropped
	yo: 0.5,			// ё written е
	yearOff: 0.01,		// birth year one off
	phoneSwap: 0.015,	// two neighbouring digits of the phone exchanged
	noPatronymic: 0.1,	// patronymic left out where a source would write it
};
const OCR = { и: "н", н: "и", ш: "щ", щ: "ш", л: "п", п: "л", е: "с", с: "е", о: "а", а: "о", в: "з", з: "в",
	б: "6", т: "г", г: "т", ц: "щ", к: "х", х: "к" };
const count = {};
// note: count one applied error.
const note = (k) => { count[k] = (count[k] || 0) + 1; };

// ocr: one letter of s misread as its look-alike (not the first).
function ocr(s) {
	const idx = [];
	for (let i = 1; i < s.length; i++) if (OCR[s[i]]) idx.push(i);
	if (!idx.length) return s;
	const i = pick(idx);
	note("ocr");
	return s.slice(0, i) + OCR[s[i]] + s.slice(i + 1);
}

// slip: one letter doubled or dropped (not the first).
function slip(s) {
	if (s.length < 4) return s;
	const i = int(1, s.length - 1);
	note("slip");
	return u() < 0.5 ? s.slice(0, i) + s[i] + s.slice(i) : s.slice(0, i) + s.slice(i + 1);
}

// typed: a name part as a typing source writes it (ё dropped at ERR.yo, a slip at ERR.slip).
function typed(s) {
	if (!s) return s;
	if (s.includes("ё") && u() < ERR.yo) { s = s.replaceAll("ё", "е"); note("yo"); }
	if (u() < ERR.slip) s = slip(s);
	return s;
}

// ---------------------------------------------------------------------------------------------
// Persons

// dateParts: [year, month, day] of a day number counted from 1970-01-01.
function dateParts(dayNo) {
	const d = new Date(dayNo * DAY);
	return [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate()];
}

const pad = (n, w = 2) => String(n).padStart(w, "0");

// newPerson: a person drawn from faker: sex, names, birth day, phone, e-mail, city, street, SNILS.
function newPerson(pid, home) {
	const sex = u() < 0.47 ? "male" : "female";
	const ageDays = int(0, 92 * 365);
	const p = {
		pid, sex,
		family: faker.person.lastName(sex),
		given: faker.person.firstName(sex),
		patr: faker.person.middleName(sex),
		birth: Math.floor(REF / DAY) - ageDays,
		age: Math.floor(ageDays / 365.25),
	};
	p.maiden = p.sex === "female" && p.age >= 22 && u() < 0.4 ? faker.person.lastName("female") : null;
	p.phone = p.age >= 10 && u() < 0.92 ? "9" + digits(9) : null;
	p.oldPhone = p.phone && u() < 0.1 ? "9" + digits(9) : null;
	p.email = p.age >= 14 && u() < 0.6 ? faker.internet.email({ firstName: latin(p.given).toLowerCase(),
		lastName: latin(p.maiden || p.family).toLowerCase() }).toLowerCase() : null;
	p.city = home ? home.city : faker.location.city();
	p.street = home ? home.street : faker.location.streetAddress({ useFullAddress: true });
	p.snils = u() < 0.85 ? newSnils() : null;
	p.oms = u() < 0.9 ? digits(16) : null;
	p.telegram = p.age >= 14 && p.age <= 65 && u() < 0.2 ?
		faker.internet.username({ firstName: latin(p.given).toLowerCase(), lastName: latin(p.family).toLowerCase() })
			.replace(/[^A-Za-z0-9_]/g, "_") : null;
	return p;
}

// lookAlike: a different person who resembles p: a twin (same sex, family name, patronymic, birth
// day and home, another given name) or a namesake (same full name, another birth day and home).
function lookAlike(pid, p) {
	const twin = u() < 0.5;
	const q = newPerson(pid, twin ? p : null);
	q.sex = p.sex; q.family = p.family; q.patr = p.patr; q.maiden = null;
	if (twin) {
		q.birth = p.birth;
		q.age = p.age;
		do q.given = faker.person.firstName(p.sex); while (q.given === p.given);
		note("twin");
	} else {
		q.given = p.given;
		note("namesake");
	}
	return q;
}

// ---------------------------------------------------------------------------------------------
// Sources: [name, share of records, id prefix]; each has its own way of writing a person.
const SOURCES = [["registry", 35, "REG-"], ["insurer", 20, "INS"], ["mobile_app", 20, "APP-"],
	["foreign_lab", 15, "FL"], ["paper_archive", 10, "ARC-"]];
const SRC_TOTAL = SOURCES.reduce((s, x) => s + x[1], 0);
const srcCount = Object.fromEntries(SOURCES.map((s) => [s[0], 0]));

// sourceId: a unique id within a source, scrambled (k * 7919 mod 10^8 is one to one) so that
// ids do not tell which records belong together.
function sourceId(src) {
	const k = ++srcCount[src[0]];
	return src[2] + String((k * 7919 + 104729) % 100000000).padStart(8, "0");
}

// birthText: a birth day in one of the formats a source uses, maybe one year off.
function birthText(p, fmt) {
	let [y, m, d] = dateParts(p.birth);
	if (u() < ERR.yearOff) { y += u() < 0.5 ? -1 : 1; note("year_off"); if (m === 2 && d === 29) d = 28; }
	if (fmt === "ru") return `${pad(d)}.${pad(m)}.${y}`;
	if (fmt === "iso") return `${y}-${pad(m)}-${pad(d)}`;
	return `${pad(d)}/${pad(m)}/${y}`;
}

// phoneOf: the person's phone (the old one at times), digits only, maybe two digits exchanged.
function phoneOf(p) {
	let ph = p.oldPhone && u() < 0.35 ? p.oldPhone : p.phone;
	if (!ph) return null;
	if (u() < ERR.phoneSwap) {
		const i = int(1, 8);
		ph = ph.slice(0, i) + ph[i + 1] + ph[i] + ph.slice(i + 2);
		note("phone_swap");
	}
	return ph;
}

// render: one record of p by source src, as a row in COLUMNS order.
function render(p, src) {
	const r = new Array(COLUMNS.length).fill("");
	r[0] = src[0];
	r[1] = sourceId(src);
	r[2] = String(p.pid);
	const fam = p.maiden && u() < 0.3 ? (note("maiden"), p.maiden) : p.family;
	const sexRu = p.sex === "male" ? "М" : "Ж";
	const ph = phoneOf(p);
	switch (src[0]) {
	case "registry": {		// split Cyrillic fields, Russian dates, phone as +7 (9xx) xxx-xx-xx
		r[3] = typed(fam); r[4] = typed(p.given);
		r[5] = u() < ERR.noPatronymic ? "" : typed(p.patr);
		if (u() < 0.97) r[7] = birthText(p, "ru");
		r[8] = sexRu;
		if (ph && u() < 0.85) r[9] = `+7 (${ph.slice(0, 3)}) ${ph.slice(3, 6)}-${ph.slice(6, 8)}-${ph.slice(8)}`;
		if (u() < 0.7) r[13] = p.street;
		r[14] = p.city;
		if (p.snils && u() < 0.5) r[11] = `${p.snils.slice(0, 3)}-${p.snils.slice(3, 6)}-${p.snils.slice(6, 9)} ${p.snils.slice(9)}`;
		break;
	}
	case "insurer": {		// one upper-case full name, ISO dates, SNILS and policy as bare digits
		const parts = [typed(fam), typed(p.given), u() < ERR.noPatronymic ? "" : typed(p.patr)].filter(Boolean);
		r[6] = parts.join(" ").toUpperCase();
		r[7] = birthText(p, "iso");
		r[8] = sexRu;
		if (p.snils && u() < 0.9) r[11] = p.snils;
		if (p.oms && u() < 0.95) r[12] = p.oms;
		if (u() < 0.4) r[13] = `${p.city}, ${p.street}`;
		break;
	}
	case "mobile_app": {	// what people type on a phone: no patronymic, lower case at times, 8 9xx...
		let g = typed(p.given), f = typed(fam);
		if (u() < 0.15) { g = g.toLowerCase(); f = f.toLowerCase(); note("lower_case"); }
		if (u() < 0.5) r[6] = `${g} ${f}`;
		else { r[4] = g; r[3] = f; }
		if (u() < 0.6) r[7] = birthText(p, "ru");
		if (ph) r[9] = "8" + ph;
		if (p.email && u() < 0.8) r[10] = p.email;
		if (p.telegram && u() < 0.5) r[16] = "@" + p.telegram;
		if (u() < 0.3) r[14] = p.city;
		break;
	}
	case "foreign_lab": {	// Latin spelling in upper case, DD/MM/YYYY, +7 and ten digits, e-mail
		r[3] = latin(typed(fam)); r[4] = latin(typed(p.given));
		if (u() < 0.3) r[5] = latin(p.patr);
		r[7] = birthText(p, "slash");
		r[8] = p.sex === "male" ? "M" : "F";
		if (ph && u() < 0.7) r[9] = "+7" + ph;
		if (p.email && u() < 0.7) r[10] = p.email;
		break;
	}
	default: {				// paper archive: the name as read from a card (misreadings), often little else
		let f = fam, g = p.given, pt = p.patr;
		if (u() < ERR.ocr * 3) f = ocr(f);
		if (u() < ERR.ocr) g = ocr(g);
		if (u() < 0.3) r[6] = `${f} ${g[0]}.${pt[0]}.`;
		else { r[3] = f; r[4] = g; r[5] = u() < 0.5 ? pt : ""; }
		if (u() < 0.4) r[7] = birthText(p, "ru");
		if (u() < 0.5) r[14] = p.city;
		break;
	}
	}
	return r;
}

// pickSource: a source by its share of records.
function pickSource() {
	let x = u() * SRC_TOTAL;
	for (const s of SOURCES) {
		if (x < s[1]) return s;
		x -= s[1];
	}
	return SOURCES[SOURCES.length - 1];
}

// recordsPer: how many records a person has: 1 + a geometric number (mean about 1.9), at most 7.
function recordsPer() {
	let n = 1;
	while (n < 7 && u() < 0.47) n++;
	return n;
}

// csvField: a value quoted for CSV when it needs to be.
const csvField = (v) => (/[",\n\r]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v);

// main: draw persons, render and shuffle their records, write the CSV.
function main() {
	const a = args(process.argv.slice(2));
	faker.seed(a.seed);
	const t0 = Date.now();
	const rows = [];
	const hist = new Array(8).fill(0);
	let pid = 0;
	let prev = null;
	while (pid < a.persons) {
		// one person in 25 resembles the one drawn before (a twin or a namesake)
		const p = prev && u() < 0.04 ? lookAlike(++pid, prev) : newPerson(++pid, null);
		const n = recordsPer();
		hist[n]++;
		for (let i = 0; i < n; i++) rows.push(render(p, pickSource()));
		prev = p;
	}
	// Fisher-Yates on the seeded generator: row order tells nothing
	for (let i = rows.length - 1; i > 0; i--) {
		const j = int(0, i);
		[rows[i], rows[j]] = [rows[j], rows[i]];
	}
	const header = COLUMNS.slice();
	header[2] = a.truthCol;
	const out = [header.join(",")];
	for (const r of rows) out.push(r.map(csvField).join(","));
	const text = out.join("\n") + "\n";
	if (a.out === "-") process.stdout.write(text);
	else fs.writeFileSync(a.out, text, "utf8");
	if (!a.quiet) {
		const e = (s) => process.stderr.write(s + "\n");
		e(`gen_faker: ${a.persons} persons, ${rows.length} records in ${((Date.now() - t0) / 1000).toFixed(1)} s, ` +
			`seed ${a.seed}`);
		e("  records per person: " + hist.slice(1).map((c, i) => `${i + 1}: ${c}`).join(", "));
		e("  records by source:  " + Object.entries(srcCount).map(([k, v]) => `${k} ${v}`).join(", "));
		e("  errors and look-alikes: " + Object.keys(count).sort().map((k) => `${k} ${count[k]}`).join(", "));
	}
}

main();
