"""test/python/test_population_eval.py: the population harness (test/bench/population_eval.sh).

Unit tests of its measures, and one run end to end on six hand-made records in a scratch database
of the server the PG* variables name (skipped when psql cannot reach one; `make check` provides one).
"""

import json
import os
import subprocess
import sys
import tempfile
import unittest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench")
sys.path.insert(0, os.path.join(BENCH, "population_eval"))
import popeval as P  # noqa: E402

PSQL = os.environ.get("PSQL", "psql")

# Two persons with two records each (same name, birth date and phone, written two ways; P1 also
# with the same SNILS), two persons alone.
CSV = """source,source_id,person_id,family_name,given_name,patronymic,birth_date,phone,snils
a,1,P1,Иванова,Мария,Петровна,1980-03-04,+7 916 123-45-67,112-233-445 95
b,1,P1,Иванова,Мария,Петровна,04.03.1980,89161234567,11223344595
a,2,P2,Смирнов,Олег,Игоревич,1975-11-20,+7 903 765-43-21,
b,2,P2,Смирнов,Олег,Игоревич,20.11.1975,89037654321,
a,3,P3,Кузнецов,Пётр,,1990-01-01,,
a,4,P4,Попова,Анна,Сергеевна,2001-07-15,+7 999 000-11-22,
"""


class MeasuresTest(unittest.TestCase):
	def test_percentile(self):
		v = list(range(1, 101))					# 1..100: nearest rank
		self.assertEqual(P.percentile(v, 0.5), 50)
		self.assertEqual(P.percentile(v, 0.99), 99)
		self.assertEqual(P.percentile(v, 1.0), 100)
		self.assertEqual(P.percentile([7], 0.95), 7)
		self.assertIsNone(P.percentile([], 0.5))

	def test_size_distribution(self):
		# clusters: a x25, b x20, c x3, d x1 -> 4 clusters, max 25, two of >= 20, none >= 50
		labels = ["a"] * 25 + ["b"] * 20 + ["c"] * 3 + ["d"]
		d = P.size_distribution(labels)
		self.assertEqual(d, {"clusters": 4, "max": 25, "p99": 25, "ge20": 2, "ge50": 0})


def _server_up():
	try:
		r = subprocess.run([PSQL, "-X", "-At", "-d", "postgres", "-c",
							"SELECT count(*) FROM pg_available_extensions WHERE name = 'cdp'"],
						   capture_output=True, text=True)
		return r.returncode == 0 and r.stdout.strip() == "1"
	except OSError:
		return False


@unittest.skipUnless(_server_up(), "no PostgreSQL server with cdp available reachable through psql and PG*")
class EndToEndTest(unittest.TestCase):
	def run_eval(self, *extra):
		with tempfile.TemporaryDirectory() as tmp:
			os.chmod(tmp, 0o755)
			f = os.path.join(tmp, "tiny.csv")
			with open(f, "w", encoding="utf-8") as out:
				out.write(CSV)
			os.chmod(f, 0o644)
			env = dict(os.environ)
			env["PATH"] = os.path.dirname(PSQL) + os.pathsep + env["PATH"] if os.sep in PSQL else env["PATH"]
			r = subprocess.run(["bash", os.path.join(BENCH, "population_eval.sh"), "--db",
								"cdp_popeval_test_%d" % os.getpid(), "csv", f, "--truth", "person_id", "--id",
								"source_id", "--source", "source", "--sample", "2"] + list(extra),
							   capture_output=True, text=True, env=env)
		self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
		return r.stdout, json.loads(r.stdout.strip().splitlines()[-1])

	def test_figures(self):
		text, res = self.run_eval()
		self.assertIn("B-cubed", text)
		self.assertEqual(res["records_in_file"], 6)
		self.assertEqual(res["records_scored"], 6)
		self.assertEqual(res["rejected"], 0)
		self.assertEqual(res["settings"], "shipped defaults")
		self.assertEqual(res["truth_clusters"], {"clusters": 4, "max": 2, "p99": 2, "ge20": 0, "ge50": 0})
		self.assertEqual(res["pairwise"]["true_pairs"], 2)
		for k in ("load", "train", "full_run"):
			self.assertIn(k, res["steps"])
		self.assertIsInstance(res["run_steps"], dict)
		self.assertEqual(res["match_record"]["calls"], 2)		# 2 timed after 3 warm-up calls
		self.assertIn("rows", res["review"])
		# same-person records share a golden id: the predicted clusters are never larger than 2 here
		self.assertLessEqual(res["clusters"]["max"], 2)

	def test_fields_only(self):
		_text, res = self.run_eval("--fields-only")
		self.assertEqual(res["settings"], "fields-only")
		self.assertIn("configure", res["steps"])


if __name__ == "__main__":
	unittest.main()
