"""test/bench/accuracy_lib/metrics.py: clustering and blocking quality measures of a matcher.

Every function takes the truth and the prediction as parallel sequences of cluster labels (one
entry per record: record i is in true cluster truth[i] and predicted cluster pred[i]); labels are
any hashable values. The measures:

- pairwise precision, recall, F1 (Christen, Data Matching, 2012, ch. 7): the pairs of records put
  together by the prediction (inside one predicted cluster) against the pairs inside true clusters;
- B-cubed precision, recall, F1 (Bagga and Baldwin, 1998; Amigó et al., 2009): per record, the share
  of its predicted cluster that truly belongs with it, and the share of its true cluster that the
  prediction found, averaged over records;
- blocking pairs completeness and reduction ratio (Christen 2012, ch. 4): the share of true pairs
  among the candidate pairs the blocking produced, and 1 - candidates / all possible pairs.

Conventions for empty denominators: a prediction that claims no pairs has precision 1.0 (it claimed
nothing wrong); a truth with no pairs gives recall 1.0; F1 is 0 when precision + recall is 0.
"""


# pairs: the number of unordered pairs among n records.
def pairs(n):
	return n * (n - 1) // 2


# f1: harmonic mean of precision and recall (0 when both are 0).
def f1(p, r):
	return 0.0 if p + r == 0 else 2.0 * p * r / (p + r)


# _contingency: cluster sizes of truth and prediction, and the sizes of their intersections.
def _contingency(truth, pred):
	if len(truth) != len(pred):
		raise ValueError("truth and prediction differ in length: %d and %d" % (len(truth), len(pred)))
	tsize, psize, cell = {}, {}, {}
	for t, p in zip(truth, pred):
		tsize[t] = tsize.get(t, 0) + 1
		psize[p] = psize.get(p, 0) + 1
		k = (t, p)
		cell[k] = cell.get(k, 0) + 1
	return tsize, psize, cell


# pairwise: pairwise precision, recall and F1 with the pair counts behind them.
def pairwise(truth, pred):
	tsize, psize, cell = _contingency(truth, pred)
	tp = sum(pairs(c) for c in cell.values())
	pred_pairs = sum(pairs(c) for c in psize.values())
	true_pairs = sum(pairs(c) for c in tsize.values())
	p = tp / pred_pairs if pred_pairs else 1.0
	r = tp / true_pairs if true_pairs else 1.0
	return {"precision": p, "recall": r, "f1": f1(p, r), "true_positive_pairs": tp,
			"predicted_pairs": pred_pairs, "true_pairs": true_pairs,
			"false_positive_pairs": pred_pairs - tp, "false_negative_pairs": true_pairs - tp}


# bcubed: B-cubed precision, recall and F1 (record-averaged).
def bcubed(truth, pred):
	tsize, psize, cell = _contingency(truth, pred)
	n = len(truth)
	if n == 0:
		return {"precision": 1.0, "recall": 1.0, "f1": 1.0}
	# each of the c records of a cell has precision c/|P| and recall c/|T|
	ps = sum(c * c / psize[p] for (t, p), c in cell.items())
	rs = sum(c * c / tsize[t] for (t, p), c in cell.items())
	p, r = ps / n, rs / n
	return {"precision": p, "recall": r, "f1": f1(p, r)}


# cluster_counts: how many true and predicted clusters, and how many true clusters the prediction
# reproduced exactly (same set of records).
def cluster_counts(truth, pred):
	tsize, psize, cell = _contingency(truth, pred)
	exact = sum(1 for (t, p), c in cell.items() if c == tsize[t] and c == psize[p])
	return {"records": len(truth), "true_clusters": len(tsize), "predicted_clusters": len(psize),
			"exact_clusters": exact, "true_singletons": sum(1 for c in tsize.values() if c == 1),
			"predicted_singletons": sum(1 for c in psize.values() if c == 1)}


# count_candidates: from candidate pairs (a, b) of record keys and a key -> true label map, the
# number of distinct pairs (a != b, order ignored, keys not in the map ignored) and how many of
# them are true pairs.
def count_candidates(candidate_pairs, truth_of):
	seen = set()
	true_found = 0
	for a, b in candidate_pairs:
		if a == b or a not in truth_of or b not in truth_of:
			continue
		k = (a, b) if a < b else (b, a)
		if k in seen:
			continue
		seen.add(k)
		if truth_of[a] == truth_of[b]:
			true_found += 1
	return len(seen), true_found


# blocking: pairs completeness and reduction ratio from counts: n records, true_pairs pairs in
# the truth, candidates distinct candidate pairs of which true_candidates are true pairs.
def blocking(n, true_pairs, candidates, true_candidates):
	if true_candidates > candidates or true_candidates > true_pairs:
		raise ValueError("true candidate pairs (%d) exceed the candidates (%d) or the true pairs (%d)"
						 % (true_candidates, candidates, true_pairs))
	total = pairs(n)
	pc = true_candidates / true_pairs if true_pairs else 1.0
	rr = 1.0 - candidates / total if total else 1.0
	pq = true_candidates / candidates if candidates else 1.0
	return {"candidate_pairs": candidates, "true_candidate_pairs": true_candidates,
			"pairs_completeness": pc, "reduction_ratio": rr, "pairs_quality": pq,
			"f1": f1(pc, rr), "all_pairs": total}


# false_merges_by_group: the false-merge pairs (same predicted cluster, different truth) split by
# whether the two records share a group label (e.g. the generator's family "12:family_twins"):
# returns {group kind: pairs, ..., "unrelated": pairs}; the kind is the group label after its last
# ':' (the whole label when it has none). Groups must not cut across true clusters.
def false_merges_by_group(truth, pred, group):
	if not (len(truth) == len(pred) == len(group)):
		raise ValueError("truth, prediction and groups differ in length")
	pg, pgt, psize, cell = {}, {}, {}, {}
	for t, p, g in zip(truth, pred, group):
		pg[(p, g)] = pg.get((p, g), 0) + 1
		pgt[(p, g, t)] = pgt.get((p, g, t), 0) + 1
		psize[p] = psize.get(p, 0) + 1
		cell[(t, p)] = cell.get((t, p), 0) + 1
	out = {}
	for (p, g), c in pg.items():
		kind = g.rsplit(":", 1)[-1] if isinstance(g, str) else str(g)
		out[kind] = out.get(kind, 0) + pairs(c)
	for (p, g, t), c in pgt.items():
		kind = g.rsplit(":", 1)[-1] if isinstance(g, str) else str(g)
		out[kind] -= pairs(c)
	total_false = sum(pairs(c) for c in psize.values()) - sum(pairs(c) for c in cell.values())
	out = {k: v for k, v in out.items() if v}
	out["unrelated"] = total_false - sum(out.values())
	return out


# missed_by_source: the missed pairs (same truth, different predicted cluster) by the sources of
# their two records, as {"a+b": pairs} with a <= b. Sweeps the records in truth order with small
# per-cluster counters, so memory stays flat at millions of records.
def missed_by_source(truth, pred, source):
	if not (len(truth) == len(pred) == len(source)):
		raise ValueError("truth, prediction and sources differ in length")
	out = {}

	def source_pairs(counts, sign):
		names = sorted(counts)
		for i, a in enumerate(names):
			for b in names[i:]:
				n = pairs(counts[a]) if a == b else counts[a] * counts[b]
				if n:
					k = a + "+" + b
					out[k] = out.get(k, 0) + sign * n

	order = sorted(range(len(truth)), key=truth.__getitem__)
	i = 0
	while i < len(order):
		j = i
		t = truth[order[i]]
		while j < len(order) and truth[order[j]] == t:
			j += 1
		if j - i > 1:
			ts, tps = {}, {}
			for k in order[i:j]:
				s_ = source[k]
				ts[s_] = ts.get(s_, 0) + 1
				d = tps.setdefault(pred[k], {})
				d[s_] = d.get(s_, 0) + 1
			source_pairs(ts, 1)
			for d in tps.values():
				source_pairs(d, -1)
		i = j
	return {k: v for k, v in sorted(out.items(), key=lambda kv: -kv[1]) if v}
