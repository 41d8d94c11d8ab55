"""test/python/test_accuracy_metrics.py: unit tests of the accuracy measures and of the generator's rules.

Run: python3 -m unittest discover -s test/python -p 'test_*.py'   (or, in test/python, python3 -m unittest)
Every expected value is worked out by hand in the comment beside it.
"""

import io
import os
import sys
import unittest

# the code under test lives in test/bench, beside the tools that use it
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))
from accuracy_lib import metrics as M  # noqa: E402
from accuracy_lib import staging as S  # noqa: E402
import gen_clinic as G  # noqa: E402


class PairwiseTest(unittest.TestCase):
	def test_perfect(self):
		r = M.pairwise([1, 1, 2, 3, 3, 3], ["a", "a", "b", "c", "c", "c"])
		self.assertEqual((r["precision"], r["recall"], r["f1"]), (1.0, 1.0, 1.0))
		self.assertEqual(r["true_pairs"], 1 + 3)

	def test_over_merge(self):
		# truth {0,1} {2,3}; prediction one cluster of 4: 6 predicted pairs, 2 true
		r = M.pairwise([1, 1, 2, 2], [9, 9, 9, 9])
		self.assertEqual(r["predicted_pairs"], 6)
		self.assertEqual(r["true_positive_pairs"], 2)
		self.assertAlmostEqual(r["precision"], 2 / 6)
		self.assertAlmostEqual(r["recall"], 1.0)
		self.assertAlmostEqual(r["f1"], 2 * (1 / 3) / (1 / 3 + 1))

	def test_split(self):
		# truth {0,1,2}: 3 pairs; prediction {0,1} {2}: 1 pair, correct
		r = M.pairwise(["x", "x", "x"], [1, 1, 2])
		self.assertAlmostEqual(r["precision"], 1.0)
		self.assertAlmostEqual(r["recall"], 1 / 3)
		self.assertEqual(r["false_negative_pairs"], 2)

	def test_mixed(self):
		# truth A={0,1,2} B={3,4}; prediction P={0,1,3} Q={2,4}
		# predicted pairs: P 3 + Q 1 = 4; true pairs 3 + 1 = 4; TP: (0,1) only = 1
		r = M.pairwise(list("AAABB"), ["P", "P", "Q", "P", "Q"])
		self.assertEqual((r["true_positive_pairs"], r["predicted_pairs"], r["true_pairs"]), (1, 4, 4))
		self.assertAlmostEqual(r["precision"], 0.25)
		self.assertAlmostEqual(r["recall"], 0.25)

	def test_all_singletons(self):
		# no predicted pairs: precision 1 by convention, recall 0
		r = M.pairwise([1, 1, 2], [1, 2, 3])
		self.assertEqual(r["precision"], 1.0)
		self.assertEqual(r["recall"], 0.0)
		self.assertEqual(r["f1"], 0.0)

	def test_length_mismatch(self):
		with self.assertRaises(ValueError):
			M.pairwise([1, 2], [1])


class BCubedTest(unittest.TestCase):
	def test_perfect(self):
		r = M.bcubed([1, 1, 2], [5, 5, 6])
		self.assertEqual((r["precision"], r["recall"]), (1.0, 1.0))

	def test_over_merge(self):
		# truth {0,1} {2,3}; one predicted cluster of 4: each record precision 2/4, recall 1
		r = M.bcubed([1, 1, 2, 2], [0, 0, 0, 0])
		self.assertAlmostEqual(r["precision"], 0.5)
		self.assertAlmostEqual(r["recall"], 1.0)
		self.assertAlmostEqual(r["f1"], 2 / 3)

	def test_mixed(self):
		# truth A={0,1,2} B={3,4}; prediction P={0,1,3} Q={2,4}
		# precision: 0: 2/3, 1: 2/3, 3: 1/3, 2: 1/2, 4: 1/2 -> (2/3+2/3+1/3+1/2+1/2)/5 = 8/15
		# recall:    0: 2/3, 1: 2/3, 2: 1/3, 3: 1/2, 4: 1/2 -> 8/15
		r = M.bcubed(list("AAABB"), ["P", "P", "Q", "P", "Q"])
		self.assertAlmostEqual(r["precision"], 8 / 15)
		self.assertAlmostEqual(r["recall"], 8 / 15)

	def test_singletons(self):
		# truth one cluster of 3; prediction all singletons: precision 1, recall 1/3
		r = M.bcubed([7, 7, 7], [1, 2, 3])
		self.assertAlmostEqual(r["precision"], 1.0)
		self.assertAlmostEqual(r["recall"], 1 / 3)

	def test_empty(self):
		self.assertEqual(M.bcubed([], [])["f1"], 1.0)


class ClusterAndBlockingTest(unittest.TestCase):
	def test_cluster_counts(self):
		c = M.cluster_counts(list("AAABBC"), [1, 1, 1, 2, 3, 4])
		self.assertEqual(c["true_clusters"], 3)
		self.assertEqual(c["predicted_clusters"], 4)
		self.assertEqual(c["exact_clusters"], 2)		# A and C reproduced, B split
		self.assertEqual(c["true_singletons"], 1)
		self.assertEqual(c["predicted_singletons"], 3)

	def test_count_candidates(self):
		truth = {"a": 1, "b": 1, "c": 1, "d": 2, "e": 2}
		cand = [("a", "b"), ("b", "a"), ("a", "a"), ("a", "d"), ("d", "e"), ("x", "a"), ("c", "b")]
		# distinct: ab, ad, de, bc (x unknown, aa self) -> 4; true: ab, de, bc -> 3
		self.assertEqual(M.count_candidates(cand, truth), (4, 3))

	def test_blocking(self):
		# 5 records, 10 possible pairs; truth has 4 pairs; 4 candidates of which 3 true
		b = M.blocking(5, 4, 4, 3)
		self.assertAlmostEqual(b["pairs_completeness"], 0.75)
		self.assertAlmostEqual(b["reduction_ratio"], 0.6)
		self.assertAlmostEqual(b["pairs_quality"], 0.75)
		self.assertEqual(b["all_pairs"], 10)

	def test_blocking_bad_counts(self):
		with self.assertRaises(ValueError):
			M.blocking(5, 1, 2, 3)


class BreakdownTest(unittest.TestCase):
	def test_false_merges_by_group(self):
		# records: 0,1 twins (family 1, persons A, B); 2 person C family 2; 3 person D family 3
		# prediction: {0,1,2} and {3}: false pairs (0,1) twins, (0,2) and (1,2) unrelated
		truth = ["A", "B", "C", "D"]
		pred = [1, 1, 1, 2]
		fam = ["1:family_twins", "1:family_twins", "2:single", "3:single"]
		self.assertEqual(M.false_merges_by_group(truth, pred, fam), {"family_twins": 1, "unrelated": 2})

	def test_false_merges_same_person_not_counted(self):
		# two records of A and one of B (same family) in one cluster: false pairs (0,2), (1,2)
		r = M.false_merges_by_group(["A", "A", "B"], [5, 5, 5], ["7:couple"] * 3)
		self.assertEqual(r, {"couple": 2, "unrelated": 0})

	def test_missed_by_source(self):
		# person A: reception r0, lab r1, call_centre r2; predicted {r0, r1} {r2}
		# missed: (r0, r2) reception+call_centre... sorted names: call_centre+reception, call_centre+lab
		r = M.missed_by_source(["A", "A", "A"], [1, 1, 2], ["reception", "lab", "call_centre"])
		self.assertEqual(r, {"call_centre+reception": 1, "call_centre+lab": 1})
		# two reception records split: one reception+reception pair missed
		self.assertEqual(M.missed_by_source(["A", "A"], [1, 2], ["reception", "reception"]),
						 {"reception+reception": 1})
		self.assertEqual(M.missed_by_source(["A", "A"], [1, 1], ["x", "y"]), {})


class BruteForceTest(unittest.TestCase):
	"""Every measure against a direct count over all record pairs, on seeded random clusterings."""

	def test_against_all_pairs(self):
		import random
		rng = random.Random(1)
		for _ in range(60):
			n = rng.randint(1, 50)
			truth = [rng.randint(0, 8) for _ in range(n)]
			pred = [rng.randint(0, 8) for _ in range(n)]
			src = [rng.choice("abc") for _ in range(n)]
			fam = ["%d:k%d" % (t // 3, t // 3) for t in truth]		# families group true persons
			tp = fp = fn = 0
			missed, merged = {}, {}
			for i in range(n):
				for j in range(i + 1, n):
					same_t, same_p = truth[i] == truth[j], pred[i] == pred[j]
					tp += same_t and same_p
					fp += same_p and not same_t
					fn += same_t and not same_p
					if same_t and not same_p:
						k = "+".join(sorted((src[i], src[j])))
						missed[k] = missed.get(k, 0) + 1
					if same_p and not same_t:
						k = fam[i].split(":")[1] if fam[i] == fam[j] else "unrelated"
						merged[k] = merged.get(k, 0) + 1
			r = M.pairwise(truth, pred)
			self.assertEqual((r["true_positive_pairs"], r["false_positive_pairs"], r["false_negative_pairs"]),
							 (tp, fp, fn))
			self.assertEqual(M.missed_by_source(truth, pred, src), missed)
			got = M.false_merges_by_group(truth, pred, fam)
			self.assertEqual(got.pop("unrelated"), merged.pop("unrelated", 0))
			self.assertEqual(got, merged)
			# B-cubed precision straight from its definition
			bp = sum(sum(1 for j in range(n) if pred[j] == pred[i] and truth[j] == truth[i])
					 / sum(1 for j in range(n) if pred[j] == pred[i]) for i in range(n)) / n
			self.assertAlmostEqual(M.bcubed(truth, pred)["precision"], bp)


class StagingTest(unittest.TestCase):
	def test_febrl_style(self):
		# a space after every comma, an empty value, a duplicate and an empty column name
		src = "rec_id, given_name, surname, , surname\nr-1, , smith, x, y\nr-2, ann, lee, , z\n"
		out = io.StringIO()
		info = S.stage_csv(io.StringIO(src), out, sep=",", skip_initial_space=None, id_col="rec_id",
						   truth_col="rec_id", source_col=None, source_name="f", limit=None)
		self.assertTrue(info["skip_initial_space"])		# detected from the header
		self.assertEqual(info["attr_columns"], ["given_name", "surname", "col_4", "surname_2"])
		rows = out.getvalue().splitlines()
		self.assertEqual(rows[0], "1,f,r-1,r-1,,smith,x,y")
		self.assertEqual(rows[1], "2,f,r-2,r-2,ann,lee,,z")

	def test_truth_regex(self):
		out = io.StringIO()
		S.stage_csv(io.StringIO("rec_id,a\nrec-12-org,x\nrec-12-dup-0,y\nzz,q\n"), out, ",", None, "rec_id",
					"rec_id", None, "f", None, truth_regex=r"rec-(\d+)")
		self.assertEqual([r.split(",")[3] for r in out.getvalue().splitlines()], ["12", "12", "__cdp_row_3"])

	def test_ignore(self):
		out = io.StringIO()
		info = S.stage_csv(io.StringIO("id,t,fam,a\n1,p,9:x,v\n"), out, ",", None, "id", "t", None, "s", None,
						   ignore=["fam"])
		self.assertEqual(info["attr_columns"], ["a"])
		self.assertEqual(out.getvalue(), "1,s,1,p,v\n")
		with self.assertRaises(S.StagingError):
			S.stage_csv(io.StringIO("id,t\n1,p\n"), io.StringIO(), ",", None, "id", "t", None, "s", None,
						ignore=["nope"])

	def test_family_column(self):
		import csv
		out = io.StringIO()
		G.generate(400, 11, out, family_col="family")
		rows = list(csv.DictReader(io.StringIO(out.getvalue())))
		fam = {}
		for r in rows:
			fam.setdefault(r["person_id"], set()).add(r["family"])
		self.assertTrue(all(len(v) == 1 for v in fam.values()))	# one family per person
		kinds = {v.pop().split(":")[1] for v in fam.values()}
		self.assertLessEqual(kinds, {"single", "couple", "family", "family_twins", "single_parent", "namesake",
									 "father_son"})
		self.assertIn("family", kinds)

	def test_missing_column(self):
		with self.assertRaises(S.StagingError):
			S.stage_csv(io.StringIO("a,b\n1,2\n"), io.StringIO(), ",", None, None, "nope", None, "s", None)



class GeneratorRulesTest(unittest.TestCase):
	def test_patronymics(self):
		cases = {"Пётр": ("Петрович", "Петровна"), "Илья": ("Ильич", "Ильинична"),
				 "Никита": ("Никитич", "Никитична"), "Лев": ("Львович", "Львовна"),
				 "Павел": ("Павлович", "Павловна"), "Михаил": ("Михайлович", "Михайловна"),
				 "Иван": ("Иванович", "Ивановна"), "Сергей": ("Сергеевич", "Сергеевна"),
				 "Николай": ("Николаевич", "Николаевна"), "Юрий": ("Юрьевич", "Юрьевна"),
				 "Игорь": ("Игоревич", "Игоревна"), "Дмитрий": ("Дмитриевич", "Дмитриевна"),
				 "Фёдор": ("Фёдорович", "Фёдоровна"), "Яков": ("Яковлевич", "Яковлевна"),
				 "Кузьма": ("Кузьмич", "Кузьминична"), "Василий": ("Васильевич", "Васильевна")}
		for name, (m, f) in cases.items():
			self.assertEqual(G.patronymic(name, "M"), m, name)
			self.assertEqual(G.patronymic(name, "F"), f, name)

	def test_feminine_surname(self):
		for m, f in [("Иванов", "Иванова"), ("Королёв", "Королёва"), ("Ильин", "Ильина"),
					 ("Покровский", "Покровская"), ("Троицкий", "Троицкая"), ("Толстой", "Толстая"),
					 ("Шевченко", "Шевченко"), ("Черных", "Черных"), ("Саркисян", "Саркисян")]:
			self.assertEqual(G.feminine_surname(m), f)
			if m not in ("Шевченко", "Черных", "Саркисян"):
				self.assertEqual(G.surname_male_of(f), m)

	def test_snils(self):
		# 112-233-445 95: 1*9+1*8+2*7+2*6+3*5+3*4+4*3+4*2+5*1 = 95
		self.assertEqual(G.snils_check("112233445"), 95)
		self.assertEqual(G.snils_check("100000001"), 10)			# 9 + 1
		self.assertEqual(G.snils_check("111111111"), 45)
		self.assertEqual(G.snils_check("999999999"), 405 % 101)	# 405 mod 101 = 1
		self.assertEqual(G.snils_check("000000000"), 0)
		self.assertEqual(G.snils_check("900000091"), 0)			# 81 + 18 + 1 = 100 -> 00
		self.assertEqual(G.snils_check("900000092"), 0)			# 81 + 18 + 2 = 101 -> 00
		self.assertEqual(G.snils_check("910000093"), 9)			# 81 + 8 + 18 + 3 = 110 -> 110 mod 101 = 9
		import random
		rng = random.Random(5)
		for _ in range(200):
			s = G.make_snils(rng)
			self.assertEqual(len(s), 11)
			self.assertGreater(int(s[:9]), 1001998)
			self.assertEqual(int(s[9:]), G.snils_check(s[:9]))

	def test_oms(self):
		# 15 digits 000000000000001: from the right, odd positions 1,0,...: number 10000000 -> x2
		# = 20000000 (digit sum 2); even positions all 0; sum 2 -> check (10 - 2) % 10 = 8
		self.assertEqual(G.oms_check("000000000000001"), 8)
		# 000000000000010: the 1 is at even position 2 -> sum 1 -> check 9
		self.assertEqual(G.oms_check("000000000000010"), 9)
		# 000000000000005: odd digit 5 -> 5*2 = 10 -> digit sum 1 -> check 9
		self.assertEqual(G.oms_check("000000000000005"), 9)
		self.assertEqual(G.oms_check("000000000000000"), 0)

	def test_translit(self):
		self.assertEqual(G.translit("Мария", "icao"), "Mariia")
		self.assertEqual(G.translit("Юлия", "icao"), "Iuliia")
		self.assertEqual(G.translit("Мария", "informal"), "Maria")
		self.assertEqual(G.translit("Юлия", "informal"), "Yulia")
		self.assertEqual(G.translit("Дмитрий", "informal"), "Dmitriy")
		self.assertEqual(G.translit("Дмитрий", "informal2"), "Dmitry")
		self.assertEqual(G.translit("Елена", "informal2"), "Yelena")
		self.assertEqual(G.translit("Щукин", "icao"), "Shchukin")
		self.assertEqual(G.translit("Цветков", "gost"), "Czvetkov")
		self.assertEqual(G.translit("Юрий", "gost"), "Yurij")

	def test_deterministic(self):
		a, b = io.StringIO(), io.StringIO()
		G.generate(300, 7, a)
		G.generate(300, 7, b)
		self.assertEqual(a.getvalue(), b.getvalue())
		c = io.StringIO()
		G.generate(300, 8, c)
		self.assertNotEqual(a.getvalue(), c.getvalue())

	def test_generated_ids_valid(self):
		# every SNILS / OMS the generator writes is valid except the documented typos: a one-digit
		# error in an OMS number is always detected (the doubling maps digits one to one), in a SNILS
		# almost always
		import csv
		out = io.StringIO()
		gen = G.generate(3000, 3, out)
		rows = list(csv.DictReader(io.StringIO(out.getvalue())))
		self.assertEqual(len(rows), gen.stats["records"])
		self.assertEqual(len({r["person_id"] for r in rows}), 3000)
		bad_snils = bad_oms = total = 0
		for r in rows:
			s = "".join(ch for ch in r["snils"] if ch.isdigit())
			if s:
				total += 1
				bad_snils += int(s[9:]) != G.snils_check(s[:9])
			o = "".join(ch for ch in r["oms"] if ch.isdigit())
			if o:
				total += 1
				bad_oms += int(o[15]) != G.oms_check(o[:15])
		self.assertGreater(total, 3000)
		self.assertGreater(gen.cor.count.get("oms_typo", 0), 0)
		self.assertEqual(bad_oms, gen.cor.count.get("oms_typo", 0))
		self.assertGreater(bad_snils, 0)
		self.assertLessEqual(bad_snils, gen.cor.count.get("snils_typo", 0))


if __name__ == "__main__":
	unittest.main()
