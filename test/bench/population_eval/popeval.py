#!/usr/bin/env python3
"""test/bench/population_eval/popeval.py: load a population into cdp, match it, and measure it.

    popeval.py FILE.csv --truth COL [accuracy options] [--fields-only] [--sample N] [--label L]
               [--json-out FILE]

The engine of test/bench/population_eval.sh (issues 12 and 18; see doc/benchmarks-populations.md).
Reuses the accuracy tool (test/bench/accuracy: its options, CSV staging, psql runner and metrics)
and differs from it where a population of a million records needs it:
  * the load is batched: one cdp.upsert_records(source, ids, attrs, lenient => true) call per
    source and batch (the accuracy tool calls upsert_record once a row), a refused batch is redone
    row by row with the refused rows counted;
  * --fields-only writes a settings document that only names the attribute columns of the file
    ({"fields": [...]}), as doc/matching.md tells a user to, and gives it to configure_matching;
  * it reports what the issues measure: step times (load, train, full run and the run's own
    steps), the cluster size distribution (max, p99, count >= 20, the truth's max), pairwise and
    B-cubed precision / recall / F1, the review queue (pairs queued by the run, open rows of
    cdp.review_queue, distinct golden-person pairs in it), and match_record p50 / p95 over a
    deterministic sample of loaded records (timed inside the server, clock_timestamp around each
    call, after three warm-up calls).
Prints a compact table, then one line of JSON (also written to --json-out). Talks to PostgreSQL
only through psql (PG* variables or -d). The database should hold nothing else: the wrapper
creates a fresh one.
"""

import argparse
import collections
import importlib.machinery
import importlib.util
import json
import os
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, BENCH)
from accuracy_lib import metrics as M  # noqa: E402
from accuracy_lib import staging as S  # noqa: E402


# load_accuracy_tool: the accuracy tool (a script without .py) as a module.
def load_accuracy_tool():
	path = os.path.join(BENCH, "accuracy")
	loader = importlib.machinery.SourceFileLoader("cdp_accuracy_tool", path)
	spec = importlib.util.spec_from_loader("cdp_accuracy_tool", loader)
	mod = importlib.util.module_from_spec(spec)
	loader.exec_module(mod)
	return mod


A = load_accuracy_tool()
W = A.WORK


# bulk_load: every staged row through cdp.upsert_records, one call per source and batch of rows in
# file order, each batch committed; a batch upsert_records refuses is redone row by row (the
# refused rows go to W.reject). Returns the number of refused rows.
def bulk_load(db, schema, batch, lenient):
	s = A.qi(schema)
	attrs = "pg_catalog.jsonb_strip_nulls(pg_catalog.to_jsonb(t) - '__cdp_rn' - '__cdp_src' " \
		"- '__cdp_key' - '__cdp_truth' - '__cdp_group')"
	db.run("""
		CREATE OR REPLACE FUNCTION %(w)s.load_one(src text, key text, attrs jsonb) RETURNS boolean
		LANGUAGE plpgsql AS $f$
		BEGIN
			PERFORM %(s)s.upsert_records(src, ARRAY[key], ARRAY[attrs], %(l)s);
			RETURN true;
		EXCEPTION WHEN OTHERS THEN
			INSERT INTO %(w)s.reject VALUES (src, key, SQLSTATE, SQLERRM);
			RETURN false;
		END $f$;
		DO $d$
		DECLARE
			lo bigint := 1;
			hi bigint;
			n bigint;
			src text;
		BEGIN
			SELECT pg_catalog.max(__cdp_rn) INTO n FROM %(w)s.stage;
			WHILE lo <= n LOOP
				hi := lo + %(b)d - 1;
				FOR src IN SELECT DISTINCT __cdp_src FROM %(w)s.stage WHERE __cdp_rn BETWEEN lo AND hi ORDER BY 1 LOOP
					BEGIN
						PERFORM pg_catalog.count(*) FROM %(s)s.upsert_records(src,
							ARRAY(SELECT t.__cdp_key FROM %(w)s.stage t
							       WHERE t.__cdp_rn BETWEEN lo AND hi AND t.__cdp_src = src ORDER BY t.__cdp_rn),
							ARRAY(SELECT %(a)s FROM %(w)s.stage t
							       WHERE t.__cdp_rn BETWEEN lo AND hi AND t.__cdp_src = src ORDER BY t.__cdp_rn),
							%(l)s);
					EXCEPTION WHEN OTHERS THEN
						PERFORM pg_catalog.count(*) FILTER (WHERE %(w)s.load_one(t.__cdp_src, t.__cdp_key, %(a)s))
						   FROM (SELECT * FROM %(w)s.stage t WHERE t.__cdp_rn BETWEEN lo AND hi AND t.__cdp_src = src
						         ORDER BY t.__cdp_rn) t;
					END;
				END LOOP;
				COMMIT;
				RAISE NOTICE 'popeval: loaded %% of %% rows', LEAST(hi, n), n;
				lo := hi + 1;
			END LOOP;
		END $d$;
		""" % {"w": W, "s": s, "b": batch, "a": attrs, "l": "true" if lenient else "false"},
		"loading with %s.upsert_records" % schema)
	return int(db.value("SELECT pg_catalog.count(*) FROM %s.reject" % W, "counting refused rows"))


# percentile: the q-quantile (nearest rank) of a sorted list of numbers; None when empty.
def percentile(sorted_vals, q):
	if not sorted_vals:
		return None
	k = max(0, min(len(sorted_vals) - 1, int(-(-q * len(sorted_vals) // 1)) - 1))
	return sorted_vals[k]


# size_distribution: cluster sizes of labels (one label per record): max, p99 over clusters,
# number of clusters with >= 20 and >= 50 records, number of clusters.
def size_distribution(labels):
	sizes = sorted(collections.Counter(labels).values())
	return {"clusters": len(sizes), "max": sizes[-1] if sizes else 0, "p99": percentile(sizes, 0.99),
			"ge20": sum(1 for x in sizes if x >= 20), "ge50": sum(1 for x in sizes if x >= 50)}


# review_stats: open rows of cdp.review_queue and the distinct golden-person pairs they join.
def review_stats(db, schema):
	s = A.qi(schema)
	try:
		out = db.run("""SELECT pg_catalog.count(*),
				pg_catalog.count(DISTINCT (LEAST(ra.golden_id, rb.golden_id), GREATEST(ra.golden_id, rb.golden_id)))
			FROM %(s)s.review_queue q
			JOIN %(s)s.record ra ON ra.record_id = q.record_a
			JOIN %(s)s.record rb ON rb.record_id = q.record_b;\n""" % {"s": s}, "reading the review queue")
		rows, persons = out.strip().split("|")
		return {"rows": int(rows), "person_pairs": int(persons)}
	except A.ToolError:
		# a queue without record_a / record_b: count its rows only
		n = db.value("SELECT pg_catalog.count(*) FROM %s.review_queue" % s, "counting the review queue")
		return {"rows": int(n), "person_pairs": None}


# match_record_times: match_record over a deterministic sample of n records (ordered by a hash of
# the id), each call timed in the server; returns p50, p95, max, mean in ms.
def match_record_times(db, schema, n):
	s = A.qi(schema)
	out = db.run("""
		CREATE TEMP TABLE popeval_mr (ms float8);
		DO $d$
		DECLARE
			rid bigint;
			k int := 0;
			t0 timestamptz;
		BEGIN
			FOR rid IN SELECT r.record_id FROM %(s)s.record r ORDER BY pg_catalog.hashint8(r.record_id), r.record_id
			           LIMIT %(n)d + 3 LOOP
				t0 := pg_catalog.clock_timestamp();
				PERFORM pg_catalog.count(*) FROM %(s)s.match_record(rid);
				k := k + 1;
				IF k > 3 THEN
					INSERT INTO popeval_mr VALUES (EXTRACT(epoch FROM pg_catalog.clock_timestamp() - t0) * 1000);
				END IF;
			END LOOP;
		END $d$;
		SELECT pg_catalog.count(*), pg_catalog.percentile_disc(0.5) WITHIN GROUP (ORDER BY ms),
		       pg_catalog.percentile_disc(0.95) WITHIN GROUP (ORDER BY ms), pg_catalog.max(ms), pg_catalog.avg(ms)
		  FROM popeval_mr;
		""" % {"s": s, "n": n}, "timing match_record")
	c, p50, p95, mx, avg = out.strip().splitlines()[-1].split("|")
	r = lambda v: round(float(v), 2) if v else None  # noqa: E731
	return {"calls": int(c), "p50_ms": r(p50), "p95_ms": r(p95), "max_ms": r(mx), "mean_ms": r(avg)}


# run: every step; returns the results dict.
def run(args, extra):
	db = A.Psql(args.psql, args.dbname, args.verbose)
	res = {"label": extra.label, "file": args.file, "settings": None, "steps": {}, "notes": []}

	def step(name, fn):
		t0 = time.time()
		v = fn()
		res["steps"][name] = round(time.time() - t0, 2)
		return v

	facts = A.inspect(db, args.schema)
	if not facts["schema"] or "upsert_records" not in db.value(
			"SELECT pg_catalog.string_agg(proname, ',') FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n "
			"ON n.oid = p.pronamespace WHERE n.nspname = %s" % A.ql(args.schema), "inspecting"):
		raise A.ToolError("schema %s has no upsert_records(): CREATE EXTENSION cdp first" % args.schema)
	with tempfile.TemporaryDirectory(prefix="cdp-popeval-") as tmp:
		path = os.path.join(tmp, "stage.csv")
		info = A.prepare(args, path)
		step("stage", lambda: A.stage(db, info, path))
	res["records_in_file"] = info["rows"]
	res["sources"] = info["sources"]
	res["attributes"] = info["attr_columns"]
	settings = None
	if extra.fields_only:
		settings = {"fields": info["attr_columns"]}
		res["settings"] = "fields-only"
	elif args.settings:
		with open(args.settings, encoding="utf-8") as f:
			settings = json.load(f)
		res["settings"] = os.path.basename(args.settings)
	else:
		res["settings"] = "shipped defaults"
	try:
		note = A.ensure_sources(db, args.schema, facts, list(info["sources"]))
		if note:
			res["notes"].append(note)
		res["rejected"] = step("load", lambda: bulk_load(db, args.schema, args.batch, True))
		if settings is not None:
			step("configure", lambda: A.call(db, args.schema, "configure_matching",
											  A.dollar(json.dumps(settings, ensure_ascii=False)) + "::jsonb"))
		tr = step("train", lambda: db.value("SELECT %s.train_matching()" % A.qi(args.schema), "train_matching"))
		try:
			res["train_result"] = json.loads(tr) if tr else None
		except ValueError:
			res["train_result"] = tr
		rr = step("full_run", lambda: db.value("SELECT %s.run_matching('full')" % A.qi(args.schema),
											   "run_matching('full')"))
		run_res = json.loads(rr)
		res["run_result"] = run_res
		res["run_steps"] = run_res.get("times")
		truth, pred = [], []

		def read():
			q = "SELECT st.__cdp_truth, COALESCE(r.golden_id, -r.record_id) FROM %s" % A.record_join(args.schema, facts)
			tmap = {}
			for t, g in db.csv_rows(q, "reading golden ids"):
				truth.append(tmap.setdefault(t, len(tmap)))
				pred.append(int(g))
		step("read", read)
		res["records_scored"] = len(truth)
		res["pairwise"] = M.pairwise(truth, pred)
		res["bcubed"] = M.bcubed(truth, pred)
		res["clusters"] = size_distribution(pred)
		res["truth_clusters"] = size_distribution(truth)
		res["review"] = step("review", lambda: review_stats(db, args.schema))
		res["review"]["queued_by_run"] = run_res.get("queued")
		res["review"]["share_of_records"] = round(res["review"]["rows"] / max(len(truth), 1), 4)
		if extra.sample > 0:
			res["match_record"] = step("match_record", lambda: match_record_times(db, args.schema, extra.sample))
	finally:
		try:
			db.run("DROP SCHEMA IF EXISTS %s CASCADE;\n" % W, "dropping the scratch schema")
		except A.ToolError:
			pass
	return res


# report: the compact table.
def report(res, out):
	p = lambda *a: print(*a, file=out)  # noqa: E731
	p("population_eval: %s (%s)%s" % (res["label"] or res["file"], res["settings"],
									  "" if res["label"] is None else "  file " + res["file"]))
	p("  records %d (scored %d, refused %d); true persons %d" % (res["records_in_file"], res["records_scored"],
		res["rejected"], res["truth_clusters"]["clusters"]))
	st = res["steps"]
	rs = res.get("run_steps") or {}
	p("  times s: load %.1f  train %.1f  full run %.1f  (%s)" % (st.get("load", 0), st.get("train", 0),
		st.get("full_run", 0), ", ".join("%s %s" % (k[:-2] if k.endswith("_s") else k, v) for k, v in rs.items())))
	c, t = res["clusters"], res["truth_clusters"]
	p("  clusters: max %d  p99 %s  >=20 %d  >=50 %d  (truth max %d, >=20 %d); persons found %d"
	  % (c["max"], c["p99"], c["ge20"], c["ge50"], t["max"], t["ge20"], c["clusters"]))
	pw, bc = res["pairwise"], res["bcubed"]
	p(A.fmt_table([("measure", "precision", "recall", "F1"),
				   ("pairwise", "%.4f" % pw["precision"], "%.4f" % pw["recall"], "%.4f" % pw["f1"]),
				   ("B-cubed", "%.4f" % bc["precision"], "%.4f" % bc["recall"], "%.4f" % bc["f1"])]))
	rv = res["review"]
	p("  review: queued by the run %s, open rows %d (%.2f%% of records), person pairs %s"
	  % (rv["queued_by_run"], rv["rows"], 100 * rv["share_of_records"], rv["person_pairs"]))
	mr = res.get("match_record")
	if mr:
		p("  match_record over %d records: p50 %s ms  p95 %s ms  max %s ms" % (mr["calls"], mr["p50_ms"],
																			  mr["p95_ms"], mr["max_ms"]))
	for n in res["notes"]:
		p("  note: " + n)


# summary: the one-line JSON (the figures, not the full train / run results).
def summary(res):
	keep = ("label", "file", "settings", "records_in_file", "records_scored", "rejected", "steps", "run_steps",
			"clusters", "truth_clusters", "review", "match_record")
	s = {k: res.get(k) for k in keep}
	s["pairwise"] = {k: round(res["pairwise"][k], 4) for k in ("precision", "recall", "f1")}
	s["pairwise"]["predicted_pairs"] = res["pairwise"]["predicted_pairs"]
	s["pairwise"]["true_pairs"] = res["pairwise"]["true_pairs"]
	s["bcubed"] = {k: round(res["bcubed"][k], 4) for k in ("precision", "recall", "f1")}
	return s


# main: the command line: our options, the rest are the accuracy tool's.
def main(argv=None):
	ap = argparse.ArgumentParser(prog="popeval", add_help=False)
	ap.add_argument("--fields-only", action="store_true",
					help="configure_matching({\"fields\": [every attribute column]}) instead of --settings")
	ap.add_argument("--sample", type=int, default=300, help="match_record calls to time (default 300; 0: none)")
	ap.add_argument("--label", help="name of the population in the report")
	ap.add_argument("--json-out", help="also append the JSON line to this file")
	extra, rest = ap.parse_known_args(argv)
	args = A.parse_args(rest)
	if args.batch == 5000 and "--batch" not in rest:
		args.batch = 10000
	try:
		res = run(args, extra)
	except (A.ToolError, S.StagingError) as e:
		print("population_eval: error: %s" % e, file=sys.stderr)
		return 1
	report(res, sys.stdout)
	line = json.dumps(summary(res), ensure_ascii=False, sort_keys=True)
	print(line)
	if extra.json_out:
		with open(extra.json_out, "a", encoding="utf-8") as f:
			f.write(line + "\n")
	return 0


if __name__ == "__main__":
	sys.exit(main())
