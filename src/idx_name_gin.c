/*-------------------------------------------------------------------------
 *
 * src/idx_name_gin.c
 *		GIN support functions of the operator class cdp.name_gin_ops: a name
 *		column is indexed by the union of its words' keys (idx_name_keys.c),
 *		one int4 entry per key, plus pair keys (names of two words or more)
 *		or single keys (names of one word).
 *
 * The bound.  A row of na words in which m of the query's nq words have a
 * key pairs at most m words, each of weight at most 1, so its similarity
 * W / (na + nq - pairs) is at most m / (na + nq - m).  pg_trgm's counting
 * bound (trgm_gin.c) does not know na and must use m / nq, which lets
 * through every three-word name sharing two words with a three-word query
 * (2/3, though the similarity is at most 2/4).
 *
 * Pair and single keys (issue 18).  On a population where everybody is
 * called Иванова, Смирнова or Кузнецова, word keys alone make GIN walk the
 * union of two common words' posting lists (tens of thousands of rows at
 * 1M) to prove that a row misses the threshold: profiled, 45 % of a slow
 * query was GIN's merge loop and 14 % this file's bound, all per walked
 * row.  So a row of two or more words gets a pair key IdxPairKey(anchor,
 * prefix, bucket) for every ordered pair of distinct words among its first
 * IDX_PAIR_WORDS and every prefix variant of the other word (the anchor's
 * name-key word hash, the variant, the row's length bucket: 2 .. 5 words,
 * or 6 for six and more), and a one-word row a single key IdxSingleKey(k)
 * per word key.  "%" with two or more paired words requires an anchor
 * (IdxNameSimilar), which is exactly a shared pair key, and the bucket of
 * the pair key found gives na for the bound.  With one paired word a row
 * scores at most 1 / (na + nq - 1), which at the usual thresholds only a
 * one-word row (a shared single key) can reach.  So when every pair and
 * single key is absent the consistent function says no, GIN makes those
 * short lists the required entries, and the word keys are looked up only
 * for the rows they find.  (0.2.0 also stored a length key per row; its
 * posting lists, a third of the table each, were decoded page by page for
 * every candidate, so the length now rides in the pair key.)
 *
 * A pair or single key that happens to equal another key can only add
 * candidates or make a row look shorter (a looser bound), so the index still
 * returns every row a sequential scan finds.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/gin.h"
#include "access/stratnum.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "utils/memutils.h"

#include "idx.h"

/* length buckets of pair keys: rows of 2 .. IDX_GIN_BUCKETS - 1 words, and more */
#define IDX_GIN_BUCKETS		6

/* kinds of query keys */
#define IDX_KEY_WORD		0	/* a key of query word "word" */
#define IDX_KEY_PAIR		2	/* a pair key of a row of "bucket" words */
#define IDX_KEY_SINGLE		3	/* a single key (one-word row) */

/* what a query key stands for */
typedef struct IdxGinKeyInfo
{
	int16		kind;
	int16		bucket;
	int16		word;
	int16		nwords;			/* the query's word count */
} IdxGinKeyInfo;

/*
 * IdxGinBucket
 *		The length bucket of a name of nwords words (>= 2).
 */
static inline int
IdxGinBucket(int nwords)
{
	return Min(nwords, IDX_GIN_BUCKETS);
}

/*
 * IdxGinPassesBound
 *		True when a row of at least nrow words (0: unknown), in which nmatch of
 *		the query's nwords words have a key, may still reach the threshold:
 *		nmatch / (nrow + nwords - nmatch), or nmatch / nwords when the row's
 *		length is unknown (see the header comment).  Division in float4 is
 *		monotonic, so fl(W / U) <= this whenever W <= nmatch and U >= the
 *		denominator: rounding cannot make the index miss a row a sequential
 *		scan finds.
 */
static bool
IdxGinPassesBound(int nmatch, int nwords, int nrow)
{
	if (nmatch <= 0 || nwords <= 0)
		return false;
	if (nrow <= 0)
		return (float4) nmatch / (float4) nwords >= (float4) IdxSimilarityThreshold;
	return (float4) nmatch / (float4) (nrow + nwords - nmatch) >=
		(float4) IdxSimilarityThreshold;
}

/*
 * IdxGinMatches
 *		Whether a row may pass, counting a query word as present when one of
 *		its keys is not known absent (bcheck[i] is true, or tcheck[i] is not
 *		GIN_FALSE; pass one of the two arrays).  A row passes when it may be
 *		anchored (a pair key present; its bucket, the shortest not known
 *		absent, is the row's length) and the bound on its m words reaches the
 *		threshold, or when it may pair one word: then its similarity is at
 *		most 1 / (na + nq - 1), with na = 1 only if a single key is present
 *		(a one-word row sharing a key with the query has one) and na >= 2
 *		otherwise.
 */
static bool
IdxGinMatches(const bool *bcheck, const GinTernaryValue *tcheck, int nkeys,
			  Pointer *extra_data)
{
	int			nmatch = 0;
	int			nwords = 0;
	int			nrow = 0;
	int			word = -1;
	bool		counted = false;
	bool		single = false;
	int			i;

	for (i = 0; i < nkeys; i++)
	{
		const IdxGinKeyInfo *info = (const IdxGinKeyInfo *) extra_data[i];
		bool		present = bcheck ? bcheck[i] : tcheck[i] != GIN_FALSE;

		nwords = info->nwords;
		if (!present)
			continue;
		switch (info->kind)
		{
			case IDX_KEY_PAIR:
				if (nrow == 0 || info->bucket < nrow)
					nrow = info->bucket;
				break;
			case IDX_KEY_SINGLE:
				single = true;
				break;
			default:
				if (info->word != word)
				{
					word = info->word;
					counted = false;
				}
				if (!counted)
				{
					nmatch++;
					counted = true;
				}
				break;
		}
	}
	if (nrow > 0 && nmatch >= 2 && IdxGinPassesBound(nmatch, nwords, nrow))
		return true;
	return nmatch >= 1 && IdxGinPassesBound(1, nwords, single ? 1 : 2);
}

/*
 * IdxCompareDatumInt32
 *		qsort comparator for Datums holding int4 keys.
 */
static int
IdxCompareDatumInt32(const void *a, const void *b)
{
	int32		x = DatumGetInt32(*(const Datum *) a);
	int32		y = DatumGetInt32(*(const Datum *) b);

	return (x > y) - (x < y);
}

/*
 * IdxSortUniqueDatums
 *		Sorts n int4 Datums and drops duplicates (GIN would fold them too, but
 *		a name repeats many pair keys); returns the new count.
 */
static int
IdxSortUniqueDatums(Datum *d, int n)
{
	int			i,
				j;

	if (n <= 1)
		return n;
	qsort(d, n, sizeof(Datum), IdxCompareDatumInt32);
	for (i = 1, j = 1; i < n; i++)
		if (DatumGetInt32(d[i]) != DatumGetInt32(d[j - 1]))
			d[j++] = d[i];
	return j;
}

PG_FUNCTION_INFO_V1(cdp_name_gin_extract_value);

/*
 * cdp_name_gin_extract_value
 *		GIN support 2: the keys of an indexed name and its pair keys or, for
 *		a one-word name, its single keys.
 */
Datum
cdp_name_gin_extract_value(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	int32	   *nentries = (int32 *) PG_GETARG_POINTER(1);
	IdxName		n;
	int32	   *keys;
	int			nkeys;
	Datum	   *entries = NULL;
	int			i;

	IdxNameBuild(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &n);
	keys = IdxNameUnionKeys(&n, &nkeys);
	*nentries = 0;
	if (nkeys > 0)
	{
		int			npw = Min(n.nwords, IDX_PAIR_WORDS);
		int			nall = 0;
		int			a,
					w;

		entries = (Datum *) palloc(mul_size(sizeof(Datum),
											(Size) nkeys * 2 + npw * npw * IDX_PREFIX_VARIANTS));
		for (i = 0; i < nkeys; i++)
			entries[nall++] = Int32GetDatum(keys[i]);
		if (n.nwords == 1)
			for (i = 0; i < nkeys; i++)
				entries[nall++] = Int32GetDatum(IdxSingleKey(keys[i]));
		/* pair keys: each anchor word with the prefix of every other word */
		for (a = 0; a < npw; a++)
			for (w = 0; w < npw; w++)
				if (w != a)
					for (i = 0; i < n.npvar[w]; i++)
						entries[nall++] = Int32GetDatum(IdxPairKey(n.whash[a],
																   n.pvar[w * IDX_PREFIX_VARIANTS + i],
																   IdxGinBucket(n.nwords)));
		*nentries = IdxSortUniqueDatums(entries, nall);
	}
	PG_RETURN_POINTER(entries);
}

PG_FUNCTION_INFO_V1(cdp_name_gin_extract_query);

/*
 * cdp_name_gin_extract_query
 *		GIN support 3: the keys of the query name word by word, each with its
 *		word as extra data (a key shared by two words appears twice), then
 *		the single keys of its word keys and its pair keys for each length
 *		bucket (see the header comment).  A query without words (an empty name, or
 *		punctuation only) matches nothing, as "%" does.
 */
Datum
cdp_name_gin_extract_query(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	int32	   *nentries = (int32 *) PG_GETARG_POINTER(1);
	StrategyNumber strategy = PG_GETARG_UINT16(2);
	Pointer   **extra_data = (Pointer **) PG_GETARG_POINTER(4);
	int32	   *searchMode = (int32 *) PG_GETARG_POINTER(6);
	IdxName		n;
	Datum	   *entries = NULL;
	IdxGinKeyInfo *info;
	int			nentry = 0;
	int			b,
				w,
				i;

	switch (strategy)
	{
		case IDX_SIMILAR_STRATEGY:
			IdxNameBuild(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &n);
			break;
		default:
			elog(ERROR, "unrecognized strategy number: %d", strategy);
			n.nkeys = 0;		/* keep compiler quiet */
			break;
	}
	*searchMode = GIN_SEARCH_MODE_DEFAULT;
	if (n.nkeys > 0)
	{
		int			npw = Min(n.nwords, IDX_PAIR_WORDS);
		Size		cap = (Size) n.nkeys * 2 +
			(Size) npw * npw * IDX_PREFIX_VARIANTS * IDX_GIN_BUCKETS;
		IdxGinKeyInfo *pinfo;
		IdxGinKeyInfo *sinfo;
		int			a;

		entries = (Datum *) palloc(mul_size(sizeof(Datum), cap));
		*extra_data = (Pointer *) palloc(mul_size(sizeof(Pointer), cap));
		info = (IdxGinKeyInfo *) palloc(sizeof(IdxGinKeyInfo) * (n.nwords + IDX_GIN_BUCKETS + 1));
		for (w = 0; w < n.nwords; w++)
		{
			info[w].kind = IDX_KEY_WORD;
			info[w].bucket = 0;
			info[w].word = w;
			info[w].nwords = n.nwords;
			for (i = n.wstart[w]; i < n.wstart[w + 1]; i++)
			{
				entries[nentry] = Int32GetDatum(n.keys[i]);
				(*extra_data)[nentry++] = (Pointer) &info[w];
			}
		}
		sinfo = &info[n.nwords];
		sinfo->kind = IDX_KEY_SINGLE;
		sinfo->bucket = 1;
		sinfo->word = -1;
		sinfo->nwords = n.nwords;

		/*
		 * A one-word row meets the query through any key of any word; it can
		 * only pass when 1 / nq reaches the threshold (the same GUC the
		 * consistent function reads during this scan), and without single
		 * keys that function takes every row for two words or more.
		 */
		if (IdxGinPassesBound(1, n.nwords, 1))
			for (i = 0; i < n.nkeys; i++)
			{
				entries[nentry] = Int32GetDatum(IdxSingleKey(n.keys[i]));
				(*extra_data)[nentry++] = (Pointer) sinfo;
			}

		/*
		 * The row's anchor equals query word a and another row word begins
		 * like query word w, in a row of any length bucket; buckets a row
		 * could not pass from (even with every query word) are not asked.
		 */
		for (b = 2; b <= IDX_GIN_BUCKETS; b++)
		{
			/* the last bucket holds every longer row: at best one of nq words */
			int			best = (b == IDX_GIN_BUCKETS) ? Max(b, n.nwords) : b;

			if (!IdxGinPassesBound(Min(n.nwords, best), n.nwords, best))
				continue;
			pinfo = &info[n.nwords + b - 1];
			pinfo->kind = IDX_KEY_PAIR;
			pinfo->bucket = b;
			pinfo->word = -1;
			pinfo->nwords = n.nwords;
			for (a = 0; a < npw; a++)
				for (w = 0; w < npw; w++)
					if (w != a)
						for (i = 0; i < n.npvar[w]; i++)
						{
							entries[nentry] = Int32GetDatum(IdxPairKey(n.whash[a],
																	   n.pvar[w * IDX_PREFIX_VARIANTS + i], b));
							(*extra_data)[nentry++] = (Pointer) pinfo;
						}
		}
	}
	*nentries = nentry;
	PG_RETURN_POINTER(entries);
}

PG_FUNCTION_INFO_V1(cdp_name_gin_consistent);

/*
 * cdp_name_gin_consistent
 *		GIN support 4: may this row satisfy the query?  Always asks for a
 *		re-check, since the bound is not the similarity itself.
 */
Datum
cdp_name_gin_consistent(PG_FUNCTION_ARGS)
{
	bool	   *check = (bool *) PG_GETARG_POINTER(0);
	StrategyNumber strategy = PG_GETARG_UINT16(1);
	int32		nkeys = PG_GETARG_INT32(3);
	Pointer    *extra_data = (Pointer *) PG_GETARG_POINTER(4);
	bool	   *recheck = (bool *) PG_GETARG_POINTER(5);
	bool		res;

	switch (strategy)
	{
		case IDX_SIMILAR_STRATEGY:
			res = IdxGinMatches(check, NULL, nkeys, extra_data);
			break;
		default:
			elog(ERROR, "unrecognized strategy number: %d", strategy);
			res = false;		/* keep compiler quiet */
			break;
	}
	*recheck = true;
	PG_RETURN_BOOL(res);
}

PG_FUNCTION_INFO_V1(cdp_name_gin_triconsistent);

/*
 * cdp_name_gin_triconsistent
 *		GIN support 6: the ternary form; counting a word with a MAYBE key as
 *		present gives the most optimistic bound, and a pass is only ever MAYBE
 *		(re-check).
 */
Datum
cdp_name_gin_triconsistent(PG_FUNCTION_ARGS)
{
	GinTernaryValue *check = (GinTernaryValue *) PG_GETARG_POINTER(0);
	StrategyNumber strategy = PG_GETARG_UINT16(1);
	int32		nkeys = PG_GETARG_INT32(3);
	Pointer    *extra_data = (Pointer *) PG_GETARG_POINTER(4);
	GinTernaryValue res;

	switch (strategy)
	{
		case IDX_SIMILAR_STRATEGY:
			res = IdxGinMatches(NULL, check, nkeys, extra_data) ? GIN_MAYBE : GIN_FALSE;
			break;
		default:
			elog(ERROR, "unrecognized strategy number: %d", strategy);
			res = GIN_FALSE;	/* keep compiler quiet */
			break;
	}
	PG_RETURN_GIN_TERNARY_VALUE(res);
}
