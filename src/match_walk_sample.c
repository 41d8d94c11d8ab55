/*-------------------------------------------------------------------------
 *
 * src/match_walk_sample.c
 *		Training's samples as a function of the records' content (issue 12,
 *		session 40).  The training walk (match_walk.c, train mode) draws u's
 *		random pairs and a uniform sample of each blocking rule's pairs for
 *		EM.  It drew both by position: random pairs from the records in id
 *		order, blocked pairs by a generator advanced once per pair in walk
 *		order (a block's records in load order).  Two loads of the same
 *		records give them ids in another order, so training saw another
 *		sample, and on a name-dense population EM landed in one of two
 *		optima (doc/benchmarks-match.md, "five training draws").
 *
 *		Here every loaded record gets a 64-bit hash of its content (flags and
 *		features, what a pair's level vector reads): the random pairs are
 *		drawn by position in the records' order of content (hash, then the
 *		values), a blocked pair is kept when a draw hashed from its two
 *		records' content hashes (in either order) falls below the sampling
 *		rate, whatever the walk's order, and a sampled pair's levels are
 *		computed with its records in content order.  Records of equal content
 *		are interchangeable in every pair (the same level vectors), so the
 *		counts, and the parameters EM fits on them, depend on the records'
 *		contents only, not on their ids or the order they were loaded or read
 *		in (test/pgtap/66_match_train_order.sql).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/pg_prng.h"
#include "miscadmin.h"

#include "match.h"

/* the seed of every content hash and pair draw */
#define MATCH_SAMPLE_SEED UINT64CONST(20261123)
/* what a missing feature or key hashes to */
#define MATCH_SAMPLE_NULL UINT64CONST(0x6a09e667f3bcc909)

/*
 * HashValue
 *		Folds one NUL-terminated value into hash h, eight bytes at a time
 *		(multiply and shift, as FxHash; the record's hash is finished by
 *		MatchMix64): a fifth of the cost of hash_bytes_extended per value,
 *		which at 1M records of 20-odd values was 0.4 s of a training walk.
 */
static inline uint64
HashValue(uint64 h, const char *v)
{
	size_t		len = strlen(v);
	uint64		w;

	for (; len >= 8; v += 8, len -= 8)
	{
		memcpy(&w, v, 8);
		h = (h ^ w) * UINT64CONST(0x9e3779b97f4a7c15);
		h ^= h >> 31;
	}
	w = 0;
	memcpy(&w, v, len);
	h = (h ^ w ^ ((uint64) len << 59)) * UINT64CONST(0xbf58476d1ce4e5b9);
	return h ^ (h >> 29);
}

/*
 * ContentHash
 *		The content hash of one record: its flags and each of its nfeat
 *		features in turn, NULL told apart from the empty string.  The level
 *		vector of a pair reads only the features; the blocking keys, which
 *		decide which pairs there are, are left out (two records of the same
 *		features draw alike in every pair, which is still a function of the
 *		contents; ContentCmp tells them apart by their keys too).
 */
static uint64
ContentHash(const MatchRec *r, int nfeat)
{
	uint64		h = MatchMix64(MATCH_SAMPLE_SEED ^ (uint64) (uint32) r->flags);

	for (int k = 0; k < nfeat; k++)
		h = r->feat[k] == NULL ? MatchMix64(h ^ MATCH_SAMPLE_NULL) : HashValue(h, r->feat[k]);
	return MatchMix64(h);
}

/*
 * MatchContentHashes
 *		The content hash of each of the nrec loaded records (a huge
 *		allocation in the current context).
 */
uint64 *
MatchContentHashes(const MatchProg *prog, const MatchRec *recs, int nrec)
{
	uint64	   *h = MatchHugeAlloc(sizeof(uint64) * (Size) Max(nrec, 1));

	for (int i = 0; i < nrec; i++)
	{
		h[i] = ContentHash(&recs[i], prog->nfeat);
		if ((i & 0xffff) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	return h;
}

/* what ContentCmp compares */
typedef struct ContentSort
{
	const MatchRec *recs;
	const uint64 *hash;
	int			nvals;
}			ContentSort;

/*
 * ContentCmp
 *		qsort_arg order of record positions by content: the content hash,
 *		then (two contents sharing a hash) the flags and each feature and key
 *		in turn, NULL first.  Positions of equal content compare equal: they
 *		are interchangeable.
 */
static int
ContentCmp(const void *x, const void *y, void *arg)
{
	const ContentSort *cs = arg;
	int32		i = *(const int32 *) x;
	int32		j = *(const int32 *) y;
	const MatchRec *a = &cs->recs[i];
	const MatchRec *b = &cs->recs[j];

	if (cs->hash[i] != cs->hash[j])
		return cs->hash[i] < cs->hash[j] ? -1 : 1;
	if (a->flags != b->flags)
		return a->flags < b->flags ? -1 : 1;
	for (int k = 0; k < cs->nvals; k++)
	{
		int			c;

		if (a->feat[k] == NULL || b->feat[k] == NULL)
		{
			if (a->feat[k] != b->feat[k])
				return a->feat[k] == NULL ? -1 : 1;
			continue;
		}
		c = strcmp(a->feat[k], b->feat[k]);
		if (c != 0)
			return c;
	}
	return 0;
}

/* a record's position with its content hash (MatchContentOrder) */
typedef struct HashItem
{
	uint64		h;
	int32		idx;
}			HashItem;

/*
 * MatchContentOrder
 *		The positions of the nrec loaded records sorted by content
 *		(ContentCmp), with their content hashes hash (MatchContentHashes): the
 *		order u's random pairs are drawn in (a huge allocation in the current
 *		context).  A stable radix sort on the hash in four 16-bit passes
 *		(qsort_arg over 1M positions was 0.3 s), then each run of equal
 *		hashes (equal contents, or by chance not) by ContentCmp.
 */
int32 *
MatchContentOrder(const MatchProg *prog, const MatchRec *recs, int nrec, const uint64 *hash)
{
	int32	   *order = MatchHugeAlloc(sizeof(int32) * (Size) Max(nrec, 1));
	HashItem   *a = MatchHugeAlloc(sizeof(HashItem) * (Size) Max(nrec, 1));
	HashItem   *b = MatchHugeAlloc(sizeof(HashItem) * (Size) Max(nrec, 1));
	uint32	   *pos = palloc(sizeof(uint32) * 65536);
	ContentSort cs;
	int			i,
				j;

	for (i = 0; i < nrec; i++)
	{
		a[i].h = hash[i];
		a[i].idx = i;
	}
	for (int shift = 0; shift < 64; shift += 16)
	{
		uint32		sum = 0;
		HashItem   *t;

		memset(pos, 0, sizeof(uint32) * 65536);
		for (i = 0; i < nrec; i++)
			pos[(a[i].h >> shift) & 0xffff]++;
		for (i = 0; i < 65536; i++)
		{
			uint32		c = pos[i];

			pos[i] = sum;
			sum += c;
		}
		for (i = 0; i < nrec; i++)
			b[pos[(a[i].h >> shift) & 0xffff]++] = a[i];
		t = a;
		a = b;
		b = t;
		CHECK_FOR_INTERRUPTS();
	}
	for (i = 0; i < nrec; i++)
		order[i] = a[i].idx;
	cs.recs = recs;
	cs.hash = hash;
	cs.nvals = prog->nfeat + prog->nrules;
	for (i = 0; i < nrec; i = j)
	{
		for (j = i + 1; j < nrec && a[j].h == a[i].h; j++)
			;
		if (j - i > 1)
			qsort_arg(order + i, j - i, sizeof(int32), ContentCmp, &cs);
	}
	pfree(pos);
	pfree(a);
	pfree(b);
	return order;
}

/*
 * MatchSampleRandomPairs
 *		u's random pairs: sample draws of two positions in the content order
 *		of the nrec records (a fixed seed; a draw of one record twice is
 *		skipped), each pair given to emit.
 */
void
MatchSampleRandomPairs(const MatchProg *prog, const MatchRec *recs, int nrec,
					   const uint64 *hash, int64 sample,
					   void (*emit) (void *arg, const MatchRec *a, const MatchRec *b),
					   void *arg)
{
	int32	   *order;
	pg_prng_state rng;

	if (nrec < 2)
		return;
	order = MatchContentOrder(prog, recs, nrec, hash);
	pg_prng_seed(&rng, MATCH_SAMPLE_SEED);
	for (int64 s = 0; s < sample; s++)
	{
		int			i = (int) pg_prng_uint64_range(&rng, 0, nrec - 1);
		int			j = (int) pg_prng_uint64_range(&rng, 0, nrec - 1);

		if (i == j)
			continue;
		emit(arg, &recs[order[i]], &recs[order[j]]);
		if ((s & 0xffff) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	pfree(order);
}
