/*-------------------------------------------------------------------------
 *
 * src/idx_name_gin.c
 *		GIN support functions of the operator class cdp.name_gin_ops: a name
 *		column is indexed by the union of its words' keys (idx_name_keys.c),
 *		one int4 entry per key.
 *
 * A search for "name % q" looks up the keys of each of q's nq words; the
 * extra data of each key is the number of its word.  An indexed name in
 * which only m of q's words have a key pairs at most m words, so its
 * similarity W / (na + nq - pairs) is at most m / nq (each pair weighs at
 * most 1, and the denominator is at least nq).  Rows with m / nq below the
 * threshold are skipped; the rest are re-checked with the real similarity.
 * This is the counting bound of contrib/pg_trgm's trgm_gin.c, over words
 * instead of trigrams.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/gin.h"
#include "access/stratnum.h"
#include "fmgr.h"

#include "idx.h"

/*
 * IdxGinPassesBound
 *		True when a row in which nmatch of the query's nwords words have a key
 *		may still reach the threshold (see the header comment).  Division in
 *		float4 is monotonic, so fl(W / U) <= fl(nmatch / nwords) whenever
 *		W <= nmatch and U >= nwords: rounding cannot make the index miss a
 *		row a sequential scan finds.
 */
static bool
IdxGinPassesBound(int nmatch, int nwords)
{
	if (nmatch <= 0 || nwords <= 0)
		return false;
	return (float4) nmatch / (float4) nwords >= (float4) IdxSimilarityThreshold;
}

/*
 * IdxGinWordOf
 *		The query word number stored as extra data of query key i.
 */
static inline int
IdxGinWordOf(Pointer *extra_data, int i)
{
	return *(int32 *) extra_data[i];
}

/*
 * IdxGinCountWords
 *		The number of query words with at least one key not known absent
 *		(check[i] != GIN_FALSE), and the number of query words in *nwords.
 *		A query word's keys are consecutive, in word order.
 */
static int
IdxGinCountWords(const GinTernaryValue *check, int nkeys, Pointer *extra_data,
				 int *nwords)
{
	int			nmatch = 0;
	int			cur = -1;
	bool		counted = false;
	int			i;

	for (i = 0; i < nkeys; i++)
	{
		int			w = IdxGinWordOf(extra_data, i);

		if (w != cur)
		{
			cur = w;
			counted = false;
		}
		if (!counted && check[i] != GIN_FALSE)
		{
			nmatch++;
			counted = true;
		}
	}
	*nwords = cur + 1;
	return nmatch;
}

PG_FUNCTION_INFO_V1(cdp_name_gin_extract_value);

/*
 * cdp_name_gin_extract_value
 *		GIN support 2: the keys of an indexed name.
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
	*nentries = nkeys;
	if (nkeys > 0)
	{
		entries = (Datum *) palloc(sizeof(Datum) * nkeys);
		for (i = 0; i < nkeys; i++)
			entries[i] = Int32GetDatum(keys[i]);
	}
	PG_RETURN_POINTER(entries);
}

PG_FUNCTION_INFO_V1(cdp_name_gin_extract_query);

/*
 * cdp_name_gin_extract_query
 *		GIN support 3: the keys of the query name, word by word, each with its
 *		word number as extra data (a key shared by two words appears twice).
 *		A query without words (an empty name, or punctuation only) matches
 *		nothing, as "%" does.
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
	int32	   *wordno;
	int			w,
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
	*nentries = n.nkeys;
	*searchMode = GIN_SEARCH_MODE_DEFAULT;
	if (n.nkeys > 0)
	{
		entries = (Datum *) palloc(sizeof(Datum) * n.nkeys);
		*extra_data = (Pointer *) palloc(sizeof(Pointer) * n.nkeys);
		wordno = (int32 *) palloc(sizeof(int32) * n.nwords);
		for (w = 0; w < n.nwords; w++)
		{
			wordno[w] = w;
			for (i = n.wstart[w]; i < n.wstart[w + 1]; i++)
			{
				entries[i] = Int32GetDatum(n.keys[i]);
				(*extra_data)[i] = (Pointer) &wordno[w];
			}
		}
	}
	PG_RETURN_POINTER(entries);
}

PG_FUNCTION_INFO_V1(cdp_name_gin_consistent);

/*
 * cdp_name_gin_consistent
 *		GIN support 4: may this row satisfy the query?  Counts the query words
 *		with a present key; always asks for a re-check, since the bound is
 *		not the similarity itself.
 */
Datum
cdp_name_gin_consistent(PG_FUNCTION_ARGS)
{
	bool	   *check = (bool *) PG_GETARG_POINTER(0);
	StrategyNumber strategy = PG_GETARG_UINT16(1);
	int32		nkeys = PG_GETARG_INT32(3);
	bool	   *recheck = (bool *) PG_GETARG_POINTER(5);
	Pointer    *extra_data = (Pointer *) PG_GETARG_POINTER(4);
	int			nmatch = 0;
	int			nwords = 0;
	int			cur = -1;
	bool		counted = false;
	int			i;
	bool		res;

	switch (strategy)
	{
		case IDX_SIMILAR_STRATEGY:
			for (i = 0; i < nkeys; i++)
			{
				int			w = IdxGinWordOf(extra_data, i);

				if (w != cur)
				{
					cur = w;
					counted = false;
				}
				if (!counted && check[i])
				{
					nmatch++;
					counted = true;
				}
			}
			nwords = cur + 1;
			res = IdxGinPassesBound(nmatch, nwords);
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
	int			nmatch;
	int			nwords;
	GinTernaryValue res;

	switch (strategy)
	{
		case IDX_SIMILAR_STRATEGY:
			nmatch = IdxGinCountWords(check, nkeys, extra_data, &nwords);
			res = IdxGinPassesBound(nmatch, nwords) ? GIN_MAYBE : GIN_FALSE;
			break;
		default:
			elog(ERROR, "unrecognized strategy number: %d", strategy);
			res = GIN_FALSE;	/* keep compiler quiet */
			break;
	}
	PG_RETURN_GIN_TERNARY_VALUE(res);
}
