"""test/python/test_accuracy_tool.py: the accuracy tool end to end against the mock (needs a server).

Runs test/bench/accuracy on a tiny hand-made FEBRL-style CSV in a scratch database, with the mock
functions of accuracy_mock.sql, and compares every figure with values worked out by hand. Skipped
when psql cannot reach a server (PG* variables); `make check` provides one.
"""

import json
import os
import subprocess
import sys
import tempfile
import unittest

# the tool and its mock live in test/bench
BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench")
PSQL = os.environ.get("PSQL", "psql")
DB = "cdp_accuracy_test_%d" % os.getpid()

# FEBRL style: a space after every comma. Mock key = first 4 letters of surname|given|dob.
#   A = {1, 2, 3}: 1 and 2 agree, 3 (smyth) does not -> missed pairs (1,3), (2,3)
#   B = {4}: same key as 1 and 2 -> false merge
#   C = {5, 6}: anna / anne differ in the 4th letter -> missed
#   7 has no attributes -> refused by the mock's upsert_record
CSV = """id, person, surname, given, dob
1, A, smith, john, 1980
2, A, smith, john, 1980
3, A, smyth, john, 1980
4, B, smith, john, 1980
5, C, brown, anna, 1990
6, C, brown, anne, 1990
7, D, , ,
"""


def _psql(args, db="postgres"):
	return subprocess.run([PSQL, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", db] + args,
						  capture_output=True, text=True)


def _server_up():
	try:
		return _psql(["-c", "SELECT 1"]).returncode == 0
	except OSError:
		return False


@unittest.skipUnless(_server_up(), "no PostgreSQL server reachable through psql and PG* variables")
class AccuracyToolTest(unittest.TestCase):
	@classmethod
	def setUpClass(cls):
		r = _psql(["-c", "CREATE DATABASE %s" % DB])
		assert r.returncode == 0, r.stderr

	@classmethod
	def tearDownClass(cls):
		_psql(["-c", "DROP DATABASE IF EXISTS %s" % DB])

	def run_tool(self, *extra):
		with tempfile.TemporaryDirectory() as tmp:
			f = os.path.join(tmp, "tiny.csv")
			with open(f, "w") as out:
				out.write(CSV)
			s = os.path.join(tmp, "settings.json")
			with open(s, "w") as out:
				out.write('{"fields": ["surname", "given", "dob"]}')
			return subprocess.run([sys.executable, os.path.join(BENCH, "accuracy"), f, "--truth", "person",
								   "--id", "id", "--settings", s, "--schema", "cdp_mock", "--reset-sql",
								   os.path.join(BENCH, "accuracy_mock.sql"), "-d", DB] + list(extra),
								  capture_output=True, text=True)

	def test_figures(self):
		r = self.run_tool("--json", "-")
		self.assertEqual(r.returncode, 0, r.stderr)
		res = json.loads(r.stdout)
		self.assertEqual(res["records_in_file"], 7)
		self.assertEqual(res["rejected"], 1)
		self.assertEqual(res["records_scored"], 6)
		self.assertEqual(res["attributes"], ["surname", "given", "dob"])
		pw = res["pairwise"]
		# predicted {1,2,4}: 3 pairs, 1 correct; true pairs 3 (A) + 1 (C)
		self.assertEqual((pw["predicted_pairs"], pw["true_positive_pairs"], pw["true_pairs"]), (3, 1, 4))
		self.assertAlmostEqual(pw["precision"], 1 / 3)
		self.assertAlmostEqual(pw["recall"], 1 / 4)
		# B-cubed precision (2/3 + 2/3 + 1 + 1/3 + 1 + 1) / 6 = 7/9; recall (2/3+2/3+1/3+1+1/2+1/2)/6 = 11/18
		self.assertAlmostEqual(res["bcubed"]["precision"], 7 / 9)
		self.assertAlmostEqual(res["bcubed"]["recall"], 11 / 18)
		self.assertEqual(res["clusters"]["exact_clusters"], 0)
		# candidates: "sm" block 1-4 gives 6 pairs, "br" block 5-6 gives 1; true among them 3 + 1
		b = res["blocking"]
		self.assertEqual((b["candidate_pairs"], b["true_candidate_pairs"]), (7, 4))
		self.assertAlmostEqual(b["pairs_completeness"], 1.0)
		self.assertAlmostEqual(b["reduction_ratio"], 1 - 7 / 15)
		self.assertTrue(any("detected" in n for n in res["notes"]))
		self.assertTrue(any("has no attributes" in n for n in res["notes"]))
		# the scratch schema is gone
		self.assertEqual(_psql(["-c", "SELECT count(*) FROM pg_namespace WHERE nspname = 'cdp_bench'"], DB)
						 .stdout.strip(), "0")

	def test_strict_stops(self):
		r = self.run_tool("--strict")
		self.assertEqual(r.returncode, 1)
		self.assertIn("has no attributes", r.stderr)

	def test_duplicate_ids(self):
		with tempfile.TemporaryDirectory() as tmp:
			f = os.path.join(tmp, "dup.csv")
			with open(f, "w") as out:
				out.write("id,t,a\n1,x,foo\n1,y,bar\n")
			r = subprocess.run([sys.executable, os.path.join(BENCH, "accuracy"), f, "--truth", "t", "--id", "id",
								"--schema", "cdp_mock", "--reset-sql", os.path.join(BENCH, "accuracy_mock.sql"),
								"-d", DB], capture_output=True, text=True)
		self.assertEqual(r.returncode, 1)
		self.assertIn("ids must be unique per source", r.stderr)
		self.assertIn("(dup, 1)", r.stderr)

	def test_missing_schema(self):
		r = subprocess.run([sys.executable, os.path.join(BENCH, "accuracy"), os.devnull, "--truth", "x",
							"--schema", "no_such_schema", "-d", DB], capture_output=True, text=True)
		self.assertEqual(r.returncode, 1)
		self.assertIn("empty", r.stderr)		# the file is checked before the database


if __name__ == "__main__":
	unittest.main()
