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
 * (IdxNameSimilar), which is a shared pair key, and the bucket of
 * the pair key found gives na for the bound.  With one paired word a row
 * scores at most 1 / (na + nq - 1), which at the usual thresholds only a
 * one-word row (a shared single key) can reach.  So when every pair and
 * single key is absent the consistent function says no, GIN makes those
 * short lists the required entries, and the word keys are looked up only
 * for the rows they find.  (0.2.0 also stored a length key per row; its
 * posting lists, a third of the table each, were decoded page by page for
 * every candidate, so the length now rides in the pair key.)
 *
 * The cover (session 22).  Profiled at 1M name-dense rows, the slowest
 * queries still spent most of their time in GIN stepping the long posting
 * lists of the query's common word keys (about 50 entries) for every row a
 * pair key found, decoding a leaf page of each now and then.  The pair keys
 * say more than "anchored": for query word j as the anchor, the other query
 * words w with a pair key (j, variant of w, bucket) present are at least
 * as many as the words IdxNameCover counts, and "%" requires the anchor and
 * those words to reach the threshold by the bound alone.  So a three-word
 * query needs, per anchor, both other words (a conjunction GIN uses to keep
 * the required lists short), and the word keys are no longer asked for
 * queries of three words or more: the pair keys decide.  They still are
 * for two-word queries (one pair key is the whole cover there, and prefix
 * variants also meet words two edits apart), for queries whose every anchor
 * has two other words beginning alike, and at thresholds where a row can
 * pass with one paired word.
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
	int16		word;			/* a word key's word; a pair key's anchor word */
	int16		other;			/* a pair key's other word (its prefix variant) */
	int16		nwords;			/* the query's word count */
	bool		words;			/* the query asks its word keys (see below) */
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
 * IdxGinMatches
 *		Whether a row may pass, counting a key as present when it is not known
 *		absent (bcheck[i] is true, or tcheck[i] is not GIN_FALSE; pass one of
 *		the two arrays).  A row of two or more paired words passes only when
 *		covered by an anchor (IdxNameSimilar): for query word j, the other
 *		query words w with a pair key (j, a prefix variant of w, bucket)
 *		present are at least as many as the words the cover counts, so the
 *		row may pass when, in its bucket, 1 + their number (>= 2) reaches the
 *		threshold by the bound.  A row pairing one word passes at most
 *		1 / (na + nq - 1): with na = 1 a single key is present; with na >= 2
 *		the word keys tell (they are asked only when such a row can pass).
 */
static bool
IdxGinMatches(const bool *bcheck, const GinTernaryValue *tcheck, int nkeys,
			  Pointer *extra_data)
{
	uint8		seen[IDX_GIN_BUCKETS + 1][IDX_PAIR_WORDS];
	bool		anypair = false;
	bool		single = false;
	bool		words = false;
	int			nmatch = 0;
	int			lastword = -1;
	int			nwords = 0;
	int			i,
				b,
				j;

	for (i = 0; i < nkeys; i++)
	{
		const IdxGinKeyInfo *info = (const IdxGinKeyInfo *) extra_data[i];
		bool		present = bcheck ? bcheck[i] : tcheck[i] != GIN_FALSE;

		nwords = info->nwords;
		words = info->words;
		if (!present)
			continue;
		switch (info->kind)
		{
			case IDX_KEY_PAIR:
				if (!anypair)
				{
					memset(seen, 0, sizeof(seen));
					anypair = true;
				}
				seen[info->bucket][info->word] |= (uint8) (1 << info->other);
				break;
			case IDX_KEY_SINGLE:
				single = true;
				break;
			default:
				/* a word's keys are consecutive */
				if (info->word != lastword)
				{
					lastword = info->word;
					nmatch++;
				}
				break;
		}
	}
	if (anypair && (!words || nmatch >= 2))
		for (b = 2; b <= IDX_GIN_BUCKETS; b++)
		{
			if (words && !IdxPassesBound(nmatch, nwords, b))
				continue;
			for (j = 0; j < IDX_PAIR_WORDS; j++)
			{
				int			cover = 1;
				uint8		m;

				for (m = seen[b][j]; m != 0; m &= (uint8) (m - 1))
					cover++;
				/* a row of the last bucket may pair its words after the first six */
				if (cover >= 2 &&
					IdxPassesBound(cover + (b == IDX_GIN_BUCKETS ?
											Max(nwords - IDX_PAIR_WORDS, 0) : 0),
								   nwords, b))
					return true;
			}
		}
	if (single && IdxPassesBound(1, nwords, 1))
		return true;
	return words && nmatch >= 1 && IdxPassesBound(1, nwords, 2);
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

		/*
		 * The word keys are asked when a row of two words or more pairing
		 * one query word could pass (1 / (nq + 1) reaches the threshold: 0.5
		 * and less), and for a query of two words, whose cover is any one
		 * pair key: a prefix variant also meets words two edits apart
		 * (Морозова "begins like" Орлова), so at 1M name-dense rows the heap
		 * re-checked up to ten times the rows the word keys let through; and
		 * for a query whose every anchor has two other words beginning alike
		 * (Алексеев Александр Александрович), where one row word beginning
		 * like both counts twice (IdxNameSelfAlike).  Otherwise the pair and single keys decide: a query of
		 * three words or more needs two other words beginning alike per
		 * anchor, and GIN need not step through the long lists of common
		 * words' keys for every row it walks (profiled at 1M name-dense
		 * rows, that was most of a slow query).
		 */
		bool		words = n.nwords == 2 || IdxPassesBound(1, n.nwords, 2) ||
			IdxNameSelfAlike(&n);
		Size		cap = (words ? (Size) n.nkeys : 0) + (Size) n.nkeys +
			(Size) npw * npw * IDX_PREFIX_VARIANTS * IDX_GIN_BUCKETS;
		IdxGinKeyInfo *sinfo;
		int			a;

		entries = (Datum *) palloc(mul_size(sizeof(Datum), cap));
		*extra_data = (Pointer *) palloc(mul_size(sizeof(Pointer), cap));
		info = (IdxGinKeyInfo *) palloc0(sizeof(IdxGinKeyInfo) *
										 (n.nwords + 1 + IDX_GIN_BUCKETS * npw * npw));
		for (w = 0; w < n.nwords; w++)
		{
			info[w].kind = IDX_KEY_WORD;
			info[w].word = w;
			info[w].nwords = n.nwords;
			info[w].words = words;
			if (words)
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
		sinfo->words = words;

		/*
		 * A one-word row meets the query through any key of any word; it can
		 * only pass when 1 / nq reaches the threshold (the same GUC the
		 * consistent function reads during this scan).
		 */
		if (IdxPassesBound(1, n.nwords, 1))
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

			if (!IdxPassesBound(Min(n.nwords, best), n.nwords, best))
				continue;
			for (a = 0; a < npw; a++)
				for (w = 0; w < npw; w++)
					if (w != a)
					{
						IdxGinKeyInfo *pinfo = &info[n.nwords + 1 +
													 ((b - 2) * npw + a) * npw + w];

						pinfo->kind = IDX_KEY_PAIR;
						pinfo->bucket = b;
						pinfo->word = a;
						pinfo->other = w;
						pinfo->nwords = n.nwords;
						pinfo->words = words;
						for (i = 0; i < n.npvar[w]; i++)
						{
							entries[nentry] = Int32GetDatum(IdxPairKey(n.whash[a],
																	   n.pvar[w * IDX_PREFIX_VARIANTS + i], b));
							(*extra_data)[nentry++] = (Pointer) pinfo;
						}
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
