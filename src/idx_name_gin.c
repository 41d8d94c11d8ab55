/*-------------------------------------------------------------------------
 *
 * src/idx_name_gin.c
 *		GIN support functions of the operator class cdp.name_gin_ops: a name
 *		column is indexed by the union of its words' keys (idx_name_keys.c),
 *		one int4 entry per key, plus one length key telling its word count.
 *
 * The bound.  A row of na words in which m of the query's nq words have a
 * key pairs at most m words, each of weight at most 1, so its similarity
 * W / (na + nq - pairs) is at most m / (na + nq - m).  pg_trgm's counting
 * bound (trgm_gin.c) does not know na and must use m / nq, which lets
 * through every three-word name sharing two words with a three-word query
 * (2/3, though the similarity is at most 2/4): most of the candidates.  So
 * each row also gets a length key for its word count (1 .. 5, or 6 for six
 * and more: IDX_GIN_BUCKETS), the query asks for all of them, and a row is
 * re-checked only when m / (b + nq - m) reaches the threshold, b being the
 * row's length bucket.  A length key's posting list is long, but GIN's fast
 * scan treats the frequent entries a row cannot pass without as optional,
 * and only looks them up for the rows the word keys found.
 *
 * A length key that happens to equal a word key can only make a row look
 * shorter (a looser bound), and a row with no length key found is bounded
 * by m / nq, so the index still returns every row a sequential scan finds.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/gin.h"
#include "access/stratnum.h"
#include "common/hashfn.h"
#include "fmgr.h"

#include "idx.h"

/* length buckets: rows of 1 .. IDX_GIN_BUCKETS - 1 words, and more */
#define IDX_GIN_BUCKETS		6

/* what a query key stands for: a word (bucket 0) or a length bucket (word -1) */
typedef struct IdxGinKeyInfo
{
	int16		bucket;
	int16		word;
	int16		nwords;			/* the query's word count */
} IdxGinKeyInfo;

/*
 * IdxGinLengthKey
 *		The length key of a name of nwords words (>= 1).
 */
static inline int32
IdxGinLengthKey(int nwords)
{
	return (int32) hash_bytes_uint32_extended((uint32) Min(nwords, IDX_GIN_BUCKETS),
											  UINT64CONST(0x6364706c656e));
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
 *		GIN_FALSE; pass one of the two arrays), and taking the shortest length
 *		bucket not known absent as the row's.  Query keys come word by word,
 *		then the length keys.
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
	int			i;

	for (i = 0; i < nkeys; i++)
	{
		const IdxGinKeyInfo *info = (const IdxGinKeyInfo *) extra_data[i];
		bool		present = bcheck ? bcheck[i] : tcheck[i] != GIN_FALSE;

		nwords = info->nwords;
		if (info->bucket > 0)
		{
			if (present && (nrow == 0 || info->bucket < nrow))
				nrow = info->bucket;
			continue;
		}
		if (info->word != word)
		{
			word = info->word;
			counted = false;
		}
		if (!counted && present)
		{
			nmatch++;
			counted = true;
		}
	}
	return IdxGinPassesBound(nmatch, nwords, nrow);
}

PG_FUNCTION_INFO_V1(cdp_name_gin_extract_value);

/*
 * cdp_name_gin_extract_value
 *		GIN support 2: the keys of an indexed name and its length key.
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
	bool		haslen = false;
	int32		lenkey;
	int			i;

	IdxNameBuild(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &n);
	keys = IdxNameUnionKeys(&n, &nkeys);
	*nentries = 0;
	if (nkeys > 0)
	{
		lenkey = IdxGinLengthKey(n.nwords);
		entries = (Datum *) palloc(sizeof(Datum) * (nkeys + 1));
		for (i = 0; i < nkeys; i++)
		{
			entries[i] = Int32GetDatum(keys[i]);
			haslen |= (keys[i] == lenkey);
		}
		if (!haslen)
			entries[nkeys++] = Int32GetDatum(lenkey);
		*nentries = nkeys;
	}
	PG_RETURN_POINTER(entries);
}

PG_FUNCTION_INFO_V1(cdp_name_gin_extract_query);

/*
 * cdp_name_gin_extract_query
 *		GIN support 3: the keys of the query name word by word, each with its
 *		word as extra data (a key shared by two words appears twice), then
 *		every length key.  A query without words (an empty name, or
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
		entries = (Datum *) palloc(sizeof(Datum) * (n.nkeys + IDX_GIN_BUCKETS));
		*extra_data = (Pointer *) palloc(sizeof(Pointer) * (n.nkeys + IDX_GIN_BUCKETS));
		info = (IdxGinKeyInfo *) palloc(sizeof(IdxGinKeyInfo) * (n.nwords + IDX_GIN_BUCKETS));
		for (w = 0; w < n.nwords; w++)
		{
			info[w].bucket = 0;
			info[w].word = w;
			info[w].nwords = n.nwords;
			for (i = n.wstart[w]; i < n.wstart[w + 1]; i++)
			{
				entries[nentry] = Int32GetDatum(n.keys[i]);
				(*extra_data)[nentry++] = (Pointer) &info[w];
			}
		}
		for (b = 1; b <= IDX_GIN_BUCKETS; b++)
		{
			IdxGinKeyInfo *bi = &info[n.nwords + b - 1];

			bi->bucket = b;
			bi->word = -1;
			bi->nwords = n.nwords;
			entries[nentry] = Int32GetDatum(IdxGinLengthKey(b));
			(*extra_data)[nentry++] = (Pointer) bi;
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
