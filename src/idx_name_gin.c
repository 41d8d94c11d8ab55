/*-------------------------------------------------------------------------
 *
 * src/idx_name_gin.c
 *		GIN support functions of the operator class cdp.name_gin_ops: a name
 *		column is indexed by its key set (idx_name_keys.c), one int4 entry
 *		per key.
 *
 * A search for "name % q" looks up q's keys.  An indexed name sharing m of
 * q's nq keys has similarity |A ∩ B| / |A ∪ B| <= m / nq, because the union
 * holds at least q's nq keys; so rows with m / nq below the threshold are
 * skipped, and the rest are re-checked with the real similarity.  This is
 * the bound contrib/pg_trgm's trgm_gin.c uses for its % operator.
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
 *		True when a row sharing nmatch of the query's nkeys keys may still
 *		reach the threshold (see the header comment).  The float4 division
 *		mirrors IdxKeySetSimilarity so rounding cannot make the index miss a
 *		row a sequential scan finds.
 */
static bool
IdxGinPassesBound(int nmatch, int nkeys)
{
	if (nmatch <= 0 || nkeys <= 0)
		return false;
	return (float4) nmatch / (float4) nkeys >= (float4) IdxSimilarityThreshold;
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
	IdxKeySet	ks;
	Datum	   *entries = NULL;
	int			i;

	IdxNameKeySet(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &ks);
	*nentries = ks.nkeys;
	if (ks.nkeys > 0)
	{
		entries = (Datum *) palloc(sizeof(Datum) * ks.nkeys);
		for (i = 0; i < ks.nkeys; i++)
			entries[i] = Int32GetDatum(ks.keys[i]);
	}
	PG_RETURN_POINTER(entries);
}

PG_FUNCTION_INFO_V1(cdp_name_gin_extract_query);

/*
 * cdp_name_gin_extract_query
 *		GIN support 3: the keys of the query name.  A query without keys (an
 *		empty name, or punctuation only) matches nothing, as "%" does.
 */
Datum
cdp_name_gin_extract_query(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	int32	   *nentries = (int32 *) PG_GETARG_POINTER(1);
	StrategyNumber strategy = PG_GETARG_UINT16(2);
	int32	   *searchMode = (int32 *) PG_GETARG_POINTER(6);
	IdxKeySet	ks;
	Datum	   *entries = NULL;
	int			i;

	switch (strategy)
	{
		case IDX_SIMILAR_STRATEGY:
			IdxNameKeySet(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &ks);
			break;
		default:
			elog(ERROR, "unrecognized strategy number: %d", strategy);
			ks.nkeys = 0;		/* keep compiler quiet */
			break;
	}
	*nentries = ks.nkeys;
	*searchMode = GIN_SEARCH_MODE_DEFAULT;
	if (ks.nkeys > 0)
	{
		entries = (Datum *) palloc(sizeof(Datum) * ks.nkeys);
		for (i = 0; i < ks.nkeys; i++)
			entries[i] = Int32GetDatum(ks.keys[i]);
	}
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
	bool	   *recheck = (bool *) PG_GETARG_POINTER(5);
	int			nmatch = 0;
	int			i;
	bool		res;

	switch (strategy)
	{
		case IDX_SIMILAR_STRATEGY:
			for (i = 0; i < nkeys; i++)
				if (check[i])
					nmatch++;
			res = IdxGinPassesBound(nmatch, nkeys);
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
 *		GIN support 6: the ternary form; counting every MAYBE as a match gives
 *		the most optimistic bound, and a pass is only ever MAYBE (re-check).
 */
Datum
cdp_name_gin_triconsistent(PG_FUNCTION_ARGS)
{
	GinTernaryValue *check = (GinTernaryValue *) PG_GETARG_POINTER(0);
	StrategyNumber strategy = PG_GETARG_UINT16(1);
	int32		nkeys = PG_GETARG_INT32(3);
	int			nmatch = 0;
	int			i;
	GinTernaryValue res;

	switch (strategy)
	{
		case IDX_SIMILAR_STRATEGY:
			for (i = 0; i < nkeys; i++)
				if (check[i] != GIN_FALSE)
					nmatch++;
			res = IdxGinPassesBound(nmatch, nkeys) ? GIN_MAYBE : GIN_FALSE;
			break;
		default:
			elog(ERROR, "unrecognized strategy number: %d", strategy);
			res = GIN_FALSE;	/* keep compiler quiet */
			break;
	}
	PG_RETURN_GIN_TERNARY_VALUE(res);
}
