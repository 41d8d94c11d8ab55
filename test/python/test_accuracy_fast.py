"""test/python/test_accuracy_fast.py: the replay helpers of test/bench/accuracy_fast.py (no database needed).

Run with: python3 -m unittest discover -s test/python -p 'test_*.py'   (from any directory: give the path)
"""

import os
import sys
import unittest

# the code under test lives in test/bench, beside the tools that use it
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))
import accuracy_fast as F  # noqa: E402


class OsaTest(unittest.TestCase):
	"""osa_gt1 mirrors cdp.osa_distance(a, b, 1) > 1 on birth dates written YYYYMMDD."""

	def test_distances(self):
		self.assertFalse(F.osa_gt1("19850312", "19850312"))	# equal
		self.assertFalse(F.osa_gt1("19850312", "19850318"))	# one digit replaced
		self.assertFalse(F.osa_gt1("19850312", "19850321"))	# two neighbours transposed
		self.assertFalse(F.osa_gt1("1985031", "19850312"))	# one deleted
		self.assertTrue(F.osa_gt1("19850312", "19850421"))		# two replaced
		self.assertTrue(F.osa_gt1("19850312", "19550313"))		# two apart
		self.assertTrue(F.osa_gt1("198503", "19850312"))		# two deleted


class ClustersTest(unittest.TestCase):
	"""The cannot-link constraints of run_matching between two persons."""

	def test_ids_and_birth_dates(self):
		c = F.Clusters()
		c.add(1, "19800101", ["11122233344"])
		c.add(2, "19800101", [None])
		c.add(3, "19800101", ["99988877766"])
		c.add(4, "19500707", [None])
		c.add(5, "19800110", [None])
		self.assertIsNone(c.cannot_link(1, 2, True))
		c.union(c.find(1), c.find(2))
		# 3 has another SNILS than the person of 1 and 2
		self.assertEqual(c.cannot_link(c.find(2), c.find(3), True), "different id")
		# 4 was born another year, more than one digit away
		self.assertEqual(c.cannot_link(c.find(2), c.find(4), True), "different birth dates")
		self.assertIsNone(c.cannot_link(c.find(2), c.find(4), False))
		# the same year is not a wholly different birth date
		self.assertIsNone(c.cannot_link(c.find(1), c.find(5), True))
		self.assertEqual(c.find(1), c.find(2))
		self.assertNotEqual(c.find(1), c.find(3))


if __name__ == "__main__":
	unittest.main()
