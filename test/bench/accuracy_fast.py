#!/usr/bin/env python3
"""test/bench/accuracy_fast.py: a fast loop for tuning matching settings on a generated clinic file.

    accuracy_fast.py load FILE.csv -d DB      # once: fresh extension, set-based load, truth table
    accuracy_fast.py score -d DB [--settings FILE] [--examples N] [--why]

`load` recreates the extension in database DB, stages the CSV (gen_clinic.py columns) and inserts
every row into cdp.record with one set-based INSERT of cdp.normalize_attrs(attrs, true) rows (as
test/bench/match_speed.sh does: no events, no queue), keeping the truth in cdp_fast.truth.

`score` configures matching (the settings file, or the shipped default when none is given), trains
(train_matching(1000000, 20)), takes every candidate pair the kernel scores (_match_pairs(NULL, -1))
and replays run_matching's clustering in Python: pairs forced by an identifier first, then by
probability; placeholder and vetoed pairs held; a pair over the link threshold joins the two persons
unless a cannot-link constraint of run_matching holds between them (two different values of a
different_id_never attr, or wholly different birth dates when birth_date is a disagree_never
attr). It prints B-cubed and pairwise scores, false merges by family kind and, with --why, why the
missed true pairs were missed (in no block, scored under the review threshold, in review, vetoed,
held by a constraint). The real run (test/bench/accuracy) links through cdp.link_records and gives
the same clusters within 0.01; this loop takes seconds instead of minutes. See doc/accuracy.md.
"""

import argparse
import collections
import csv
import io
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from accuracy_lib import metrics as M  # noqa: E402

COLS = ["source", "source_id", "person_id", "family_name", "given_name", "patronymic", "full_name",
		"birth_date", "sex", "phone", "email", "snils", "oms", "address", "city", "vk", "telegram", "family"]


# psql: run a script, return standard output (exit with psql's message on failure).
def psql(db, script, quiet=True):
	p = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", db, "-f", "-"],
					   input=script, capture_output=True, text=True, encoding="utf-8")
	if p.returncode != 0:
		sys.exit("accuracy_fast: psql failed:\n" + p.stderr.strip())
	if not quiet and p.stderr.strip():
		sys.stderr.write(p.stderr)
	return p.stdout


# rows: the rows of a query as CSV records.
def rows(db, query):
	out = psql(db, "\\copy (%s) TO STDOUT WITH (FORMAT csv)\n" % " ".join(query.split()))
	return csv.reader(io.StringIO(out))


# load: the CSV into cdp.record of a fresh extension, the truth into cdp_fast.truth.
def load(args):
	path = os.path.abspath(args.file)
	with open(path, encoding="utf-8") as f:
		header = next(csv.reader(f))
	cols = [c for c in header]
	if "person_id" not in cols or "source" not in cols or "source_id" not in cols:
		sys.exit("accuracy_fast: the file needs the columns source, source_id and person_id")
	t0 = time.time()
	psql(args.dbname, """
		DROP SCHEMA IF EXISTS cdp_fast CASCADE;
		DROP EXTENSION IF EXISTS cdp CASCADE;
		CREATE EXTENSION cdp;
		CREATE SCHEMA cdp_fast;
		CREATE TABLE cdp_fast.stage (%s);
		\\copy cdp_fast.stage FROM %s WITH (FORMAT csv, HEADER true)
		SELECT cdp.register_source(s) FROM (SELECT DISTINCT source s FROM cdp_fast.stage) x;
		CREATE TABLE cdp_fast.truth AS
			SELECT row_number() OVER () AS k, s.source, s.source_id, s.person_id, %s AS family,
			       jsonb_strip_nulls(to_jsonb(s) - 'source' - 'source_id' - 'person_id' - 'family') AS a
			  FROM cdp_fast.stage s;
		INSERT INTO cdp.record (source_id, source_key, raw, family_name, given_name, patronymic, birth_date, sex,
		                        phones, emails, snils, oms, address, city, handles, extra, attrs_hash)
		SELECT src.source_id, t.source_id, t.a, n.family_name, n.given_name, n.patronymic, n.birth_date, n.sex,
		       n.phones, n.emails, n.snils, n.oms, n.address, n.city, n.handles, COALESCE(n.extra, '{}'), md5(t.a::text)
		  FROM cdp_fast.truth t
		  JOIN cdp.source src ON src.name = t.source
		 CROSS JOIN LATERAL jsonb_populate_record(NULL::cdp.record, cdp.normalize_attrs(t.a, true)) n
		 ORDER BY t.k;
		ALTER TABLE cdp_fast.truth ADD COLUMN record_id bigint;
		UPDATE cdp_fast.truth t SET record_id = r.record_id
		  FROM cdp.record r JOIN cdp.source s USING (source_id)
		 WHERE s.name = t.source AND r.source_key = t.source_id;
		ANALYZE cdp.record;
		""" % (", ".join('"%s" text' % c for c in cols), "'" + path.replace("'", "''") + "'",
			   "s.family" if "family" in cols else "NULL::text"))
	n = psql(args.dbname, "SELECT count(*) FROM cdp.record;").strip()
	print("loaded %s records into %s in %.1f s" % (n, args.dbname, time.time() - t0))


# UnionFind over record ids, with per-set birth dates and different_id_never values (for the
# cannot-link constraints of run_matching).
class Clusters:
	def __init__(self):
		self.parent = {}
		self.dobs = {}
		self.ids = {}

	def add(self, r, dob, ids):
		self.parent[r] = r
		self.dobs[r] = {dob} if dob else set()
		self.ids[r] = [({v} if v else set()) for v in ids]

	def find(self, r):
		while self.parent[r] != r:
			self.parent[r] = self.parent[self.parent[r]]
			r = self.parent[r]
		return r

	def cannot_link(self, ra, rb, check_dob):
		for sa, sb in zip(self.ids[ra], self.ids[rb]):
			if sa and sb and (len(sa | sb) > 1):
				return "different id"
		if check_dob:
			for x in self.dobs[ra]:
				for y in self.dobs[rb]:
					if x[:4] != y[:4] and osa_gt1(x, y):
						return "different birth dates"
		return None

	def union(self, ra, rb):
		if len(self.dobs[ra]) < len(self.dobs[rb]):
			ra, rb = rb, ra
		self.parent[rb] = ra
		self.dobs[ra] |= self.dobs.pop(rb)
		self.ids[ra] = [a | b for a, b in zip(self.ids[ra], self.ids.pop(rb))]


# osa_gt1: whether the optimal string alignment distance of two strings is over 1.
def osa_gt1(a, b):
	if a == b:
		return False
	if abs(len(a) - len(b)) > 1:
		return True
	if len(a) == len(b):
		diff = [i for i in range(len(a)) if a[i] != b[i]]
		if len(diff) == 1:
			return False
		if len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]:
			return False
		return True
	s, t = (a, b) if len(a) < len(b) else (b, a)
	for i in range(len(t)):
		if t[:i] + t[i + 1:] == s:
			return False
	return True


# score: configure, train, replay the clustering, print the measures.
def score(args):
	db = args.dbname
	t0 = time.time()
	if args.no_train:
		pass	# score the active version as it is (configured and trained before)
	elif args.settings:
		with open(args.settings, encoding="utf-8") as f:
			doc = f.read()
		psql(db, "SELECT cdp.configure_matching($cdpj$%s$cdpj$::jsonb);" % doc)
	else:
		psql(db, "SELECT cdp.configure_matching(cdp_internal._match_default_settings());")
	if not args.no_train:
		tr = json.loads(psql(db, "SELECT cdp.train_matching(%d, 20) - 'm' - 'u';" % args.sample).strip())
	else:
		tr = {}
	t_train = time.time() - t0
	settings = json.loads(psql(db, "SELECT cdp.matching_settings();").strip())
	link_t = settings["link_threshold"]
	review_t = settings["review_threshold"]
	layout = {r[1]: (int(r[0]), int(r[3])) for r in rows(db, "SELECT * FROM cdp_internal._match_layout(cdp.matching_settings())")}
	never = [layout[a][1] for a in settings["rules"].get("different_id_never", []) if a in layout]
	check_dob = "birth_date" in settings["rules"].get("disagree_never", []) and "birth_date" in layout
	dob_pos = layout["birth_date"][1] if "birth_date" in layout else None
	t1 = time.time()
	# records: id, truth, family, source, birth date feature, never features
	recs = {}
	truth = {}
	family = {}
	source = {}
	cl = Clusters()
	q = "SELECT t.record_id, t.person_id, t.family, t.source, %s %s FROM cdp_fast.truth t JOIN cdp_internal.match_key k USING (record_id)" % (
		"k.feat[%d]" % dob_pos if dob_pos else "NULL",
		"".join(", k.feat[%d]" % p for p in never))
	for r in rows(db, q):
		rid = int(r[0])
		truth[rid] = r[1]
		family[rid] = r[2]
		source[rid] = r[3]
		cl.add(rid, r[4] or None, [x or None for x in r[5:]])
	# every candidate pair, scored
	pairs = []
	for r in rows(db, "SELECT record_a, record_b, probability, flags, rule, levels FROM cdp_internal._match_pairs(NULL, -1)"):
		pairs.append((int(r[0]), int(r[1]), float(r[2]), int(r[3]), int(r[4]), r[5]))
	t_pairs = time.time() - t1
	# replay: forced first, then by probability
	order = sorted(pairs, key=lambda p: (-(p[3] & 256 != 0), -p[2], p[0], p[1]))
	status = {}
	linked = 0
	for a, b, prob, flags, rule, lev in order:
		if prob < review_t and not flags & 256:
			status[(a, b)] = "under review threshold"
			continue
		ra, rb = cl.find(a), cl.find(b)
		if ra == rb:
			status[(a, b)] = "same person"
			continue
		if flags & 1024:
			status[(a, b)] = "placeholder"
		elif flags & 512:
			status[(a, b)] = "veto"
		elif prob >= link_t or flags & 256:
			why = cl.cannot_link(ra, rb, check_dob)
			if why is None:
				cl.union(ra, rb)
				linked += 1
				status[(a, b)] = "linked"
			else:
				status[(a, b)] = "held: " + why
		else:
			status[(a, b)] = "review"
	ids = sorted(truth)
	tv = [truth[i] for i in ids]
	pv = [cl.find(i) for i in ids]
	pw = M.pairwise(tv, pv)
	b3 = M.bcubed(tv, pv)
	# blocking
	by_person = collections.defaultdict(list)
	for i in ids:
		by_person[truth[i]].append(i)
	true_pairs = set()
	for recs_ in by_person.values():
		for x in range(len(recs_)):
			for y in range(x + 1, len(recs_)):
				true_pairs.add((min(recs_[x], recs_[y]), max(recs_[x], recs_[y])))
	cand = {(a, b): (prob, flags, rule, lev) for a, b, prob, flags, rule, lev in pairs}
	in_block = sum(1 for p in true_pairs if p in cand)
	print("  true share of candidate pairs %.4f (%d of %d)" % (in_block / max(len(cand), 1), in_block, len(cand)))
	n = len(ids)
	res = {
		"settings": "active" if args.no_train else (args.settings or "default"), "records": n,
		"bcubed": b3, "pairwise": {k: pw[k] for k in ("precision", "recall", "f1")},
		"false_merge_pairs": pw["false_positive_pairs"], "missed_pairs": pw["false_negative_pairs"],
		"candidates": len(pairs), "pairs_completeness": in_block / len(true_pairs) if true_pairs else 1.0,
		"reduction_ratio": 1 - len(pairs) / (n * (n - 1) / 2), "linked": linked,
		"lambda": tr.get("lambda"), "lambda_blocked": tr.get("lambda_blocked"),
		"train_s": round(t_train, 1), "pairs_s": round(t_pairs, 1)}
	print("%s: %d records, %d candidate pairs (completeness %.4f, RR %.6f), lambda_blocked %s" % (
		res["settings"], n, len(pairs), res["pairs_completeness"], res["reduction_ratio"], res["lambda_blocked"]))
	print("  B-cubed  P %.4f R %.4f F1 %.4f" % (b3["precision"], b3["recall"], b3["f1"]))
	print("  pairwise P %.4f R %.4f F1 %.4f  (false merge pairs %d, missed %d)" % (
		pw["precision"], pw["recall"], pw["f1"], pw["false_positive_pairs"], pw["false_negative_pairs"]))
	fm = M.false_merges_by_group(tv, pv, [family[i] for i in ids])
	print("  false merges by family:", fm)
	if args.why:
		pred = {i: cl.find(i) for i in ids}
		miss = collections.Counter()
		miss_src = collections.Counter()
		for p in true_pairs:
			if pred[p[0]] == pred[p[1]]:
				continue
			if p not in cand:
				k = "no block"
			else:
				k = status.get(p, "?")
				if k == "veto":
					lev = cand[p][3].strip("{}").split(",")
					k = "veto: " + " ".join(c["attr"] for i, c in enumerate(settings["comparisons"])
											   if int(lev[i]) == len(c["levels"]) and (
												   c["attr"] in settings["rules"].get("disagree_never", []) or
												   c["attr"] in settings["rules"].get("different_id_never", [])))
				elif k in ("review", "under review threshold"):
					k = k + " %.1f" % min(cand[p][0], 0.99) if k == "review" else k
			miss[k] += 1
			miss_src["+".join(sorted((source[p[0]], source[p[1]])))] += 1
		print("  missed true pairs by direct status:")
		for k, v in miss.most_common(25):
			print("    %6d  %s" % (v, k))
		print("  missed by sources:", ", ".join("%s %d" % kv for kv in miss_src.most_common(8)))
		wrong = collections.Counter()
		for (a, b), st in status.items():
			if st == "linked" and truth[a] != truth[b]:
				wrong["%s rule %d" % (family[a].split(":")[1] if family[a] and family[a].split(":")[0] == (family[b] or "").split(":")[0] else "unrelated", cand[(a, b)][2])] += 1
		print("  wrong direct links:", dict(wrong.most_common(12)))
		# calibration: true and false candidate pairs by probability band (vetoed and placeholder
		# pairs apart), to choose the thresholds
		bands = [0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 0.9999, 2]
		cal = collections.Counter()
		for (a, b), (prob, flags, rule, lev) in cand.items():
			if prob < 0.5:
				continue
			band = max(x for x in bands if x <= prob)
			kind = "veto" if flags & 512 else ("placeholder" if flags & 1024 else "")
			cal[(band, kind, truth[a] == truth[b])] += 1
		vec = collections.Counter()
		for (a, b), (prob, flags, rule, lev) in cand.items():
			if prob < args.vec_max and not flags & 1536:
				vec[(lev, truth[a] == truth[b])] += 1
		print("  level vectors of candidate pairs with 0.5 <= p < 0.9999 (true / false, mean p):")
		pm = collections.defaultdict(list)
		for (a, b), (prob, flags, rule, lev) in cand.items():
			if prob < args.vec_max and not flags & 1536:
				pm[lev].append(prob)
		for lev in sorted(pm, key=lambda l: -vec[(l, True)])[:args.vectors]:
			print("    %-40s %5d / %-5d p %.4f" % (lev, vec[(lev, True)], vec[(lev, False)], sum(pm[lev]) / len(pm[lev])))
		print("  candidate pairs by probability (true / false):")
		for band in bands[:-1]:
			print("    >= %-7s %6d / %-5d   vetoed %5d / %-5d" % (band, cal[(band, "", True)], cal[(band, "", False)],
																cal[(band, "veto", True)], cal[(band, "veto", False)]))
	if args.examples:
		show_examples(db, args, truth, cand, status, true_pairs, {i: cl.find(i) for i in ids}, family)
	if args.json:
		with open(args.json, "w") as f:
			json.dump(res, f, indent=1)
	return res


# show_examples: raw attrs of some missed pairs of a kind and some false links.
def show_examples(db, args, truth, cand, status, true_pairs, pred, family):
	import random
	rnd = random.Random(1)
	want = args.kind
	missed = [p for p in sorted(true_pairs) if pred[p[0]] != pred[p[1]]]
	sel = []
	for p in missed:
		st = "no block" if p not in cand else status.get(p, "?")
		if want is None or st.startswith(want):
			sel.append((p, st))
	rnd.shuffle(sel)
	sel = sel[:args.examples]
	wrong = [(a, b) for (a, b), st in status.items() if st == "linked" and truth[a] != truth[b]]
	rnd.shuffle(wrong)
	wrong = wrong[:args.examples]
	need = sorted({x for p, _ in sel for x in p} | {x for p in wrong for x in p})
	if not need:
		return
	info = {}
	for r in rows(db, "SELECT t.record_id, t.source, t.a::text FROM cdp_fast.truth t WHERE t.record_id = ANY ('{%s}')" % ",".join(map(str, need))):
		info[int(r[0])] = "%s %s" % (r[1], r[2])
	for p, st in sel:
		c = cand.get(p)
		print("  missed [%s] %s" % (st, "p=%.4f flags=%d rule=%d levels=%s" % c if c else ""))
		print("     ", info[p[0]])
		print("     ", info[p[1]])
	for a, b in wrong:
		c = cand[(a, b)]
		print("  false link p=%.4f flags=%d rule=%d levels=%s  families %s / %s" % (c + (family[a], family[b])))
		print("     ", info[a])
		print("     ", info[b])


def main():
	ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
	sub = ap.add_subparsers(dest="cmd", required=True)
	lp = sub.add_parser("load")
	lp.add_argument("file")
	lp.add_argument("-d", "--dbname", required=True)
	sp = sub.add_parser("score")
	sp.add_argument("-d", "--dbname", required=True)
	sp.add_argument("--settings", help="settings document (default: the shipped default)")
	sp.add_argument("--sample", type=int, default=1000000)
	sp.add_argument("--no-train", action="store_true", help="score the active settings as they are (no configure, no training)")
	sp.add_argument("--why", action="store_true")
	sp.add_argument("--examples", type=int, default=0)
	sp.add_argument("--kind")
	sp.add_argument("--vectors", type=int, default=0)
	sp.add_argument("--vec-max", type=float, default=0.9999)
	sp.add_argument("--json")
	args = ap.parse_args()
	if args.cmd == "load":
		load(args)
	else:
		score(args)


if __name__ == "__main__":
	main()
