/*-------------------------------------------------------------------------
 *
 * src/seg_set.c
 *		Sets of golden ids for the segment evaluator (issue 13,
 *		doc/segments.md): a set is a bigint[] sorted ascending without
 *		duplicates or NULLs.  The evaluator (sql/parts/82_segment_eval.sql)
 *		combines the id sets of a rule's clauses with these merges instead of
 *		SQL joins, so the cost of "all" / "any" / "not" is linear in the sizes
 *		of the sets whatever the planner would have estimated for a join.
 *
 *		seg_set(ids)        sort, drop duplicates and NULLs
 *		seg_and(a, b)       intersection
 *		seg_or(a, b)        union
 *		seg_minus(a, b)     a without b
 *
 *		The three merges check that their inputs are sets (one linear pass)
 *		and raise 22023 otherwise; a NULL input is the empty set.  Arrays are
 *		capped by MaxAllocSize like any array (134 million ids).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

PG_FUNCTION_INFO_V1(cdp_seg_set);
PG_FUNCTION_INFO_V1(cdp_seg_and);
PG_FUNCTION_INFO_V1(cdp_seg_or);
PG_FUNCTION_INFO_V1(cdp_seg_minus);

typedef enum SegOp
{
	SEG_AND,
	SEG_OR,
	SEG_MINUS
} SegOp;

/*
 * SegIds
 *		The ids of a one-dimensional bigint array argument, NULLs skipped;
 *		*n receives their number.  A NULL argument is the empty set.
 */
static int64 *
SegIds(FunctionCallInfo fcinfo, int argno, int *n, bool *had_nulls)
{
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	int64	   *ids;
	int			k = 0;

	*n = 0;
	*had_nulls = false;
	if (PG_ARGISNULL(argno))
		return NULL;
	arr = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_ELEMTYPE(arr) != INT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("a segment id set must be a bigint array")));
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a segment id set must be a one-dimensional array"),
				 errdetail("Argument %d has %d dimensions.", argno + 1, ARR_NDIM(arr))));
	deconstruct_array(arr, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, &nulls, &nelems);
	if (nelems == 0)
		return NULL;
	ids = palloc(mul_size(nelems, sizeof(int64)));
	for (int i = 0; i < nelems; i++)
	{
		if (nulls[i])
		{
			*had_nulls = true;
			continue;
		}
		ids[k++] = DatumGetInt64(elems[i]);
	}
	*n = k;
	return ids;
}

/*
 * SegCheckSet
 *		Raises 22023 unless ids[0..n) is strictly ascending and had no NULLs.
 */
static void
SegCheckSet(const int64 *ids, int n, bool had_nulls, int argno)
{
	if (had_nulls)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a segment id set cannot contain nulls"),
				 errdetail("Argument %d holds a null.", argno + 1),
				 errhint("Build sets with cdp_internal.seg_set().")));
	for (int i = 1; i < n; i++)
		if (ids[i - 1] >= ids[i])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a segment id set must be sorted ascending without duplicates"),
					 errdetail("Argument %d has " INT64_FORMAT " before " INT64_FORMAT " at position %d.",
							   argno + 1, ids[i - 1], ids[i], i + 1),
					 errhint("Build sets with cdp_internal.seg_set().")));
}

/*
 * SegResult
 *		A bigint[] of ids[0..n) (an empty array when n is 0).
 */
static Datum
SegResult(const int64 *ids, int n)
{
	Datum	   *d;
	ArrayType  *res;

	if (n == 0)
		return PointerGetDatum(construct_empty_array(INT8OID));
	d = palloc(mul_size(n, sizeof(Datum)));
	for (int i = 0; i < n; i++)
		d[i] = Int64GetDatum(ids[i]);
	res = construct_array(d, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	return PointerGetDatum(res);
}

/* qsort comparator for int64 */
static int
SegCmp(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

/*
 * cdp_seg_set
 *		seg_set(ids bigint[]) RETURNS bigint[]: the set of the ids, sorted,
 *		without duplicates or NULLs.
 */
Datum
cdp_seg_set(PG_FUNCTION_ARGS)
{
	int			n;
	bool		had_nulls;
	int64	   *ids = SegIds(fcinfo, 0, &n, &had_nulls);
	int			k = 0;

	if (n > 1)
	{
		qsort(ids, n, sizeof(int64), SegCmp);
		for (int i = 0; i < n; i++)
			if (k == 0 || ids[k - 1] != ids[i])
				ids[k++] = ids[i];
		n = k;
	}
	PG_RETURN_DATUM(SegResult(ids, n));
}

/*
 * SegMerge
 *		One linear merge of two sets for the given operation.
 */
static Datum
SegMerge(FunctionCallInfo fcinfo, SegOp op)
{
	int			na,
				nb,
				i = 0,
				j = 0,
				k = 0;
	bool		nulls_a,
				nulls_b;
	int64	   *a = SegIds(fcinfo, 0, &na, &nulls_a);
	int64	   *b = SegIds(fcinfo, 1, &nb, &nulls_b);
	int64	   *out;

	SegCheckSet(a, na, nulls_a, 0);
	SegCheckSet(b, nb, nulls_b, 1);
	out = palloc(mul_size(Max(add_size(na, nb), 1), sizeof(int64)));
	while (i < na && j < nb)
	{
		if (a[i] < b[j])
		{
			if (op != SEG_AND)
				out[k++] = a[i];
			i++;
		}
		else if (a[i] > b[j])
		{
			if (op == SEG_OR)
				out[k++] = b[j];
			j++;
		}
		else
		{
			if (op != SEG_MINUS)
				out[k++] = a[i];
			i++;
			j++;
		}
	}
	if (op != SEG_AND)
		while (i < na)
			out[k++] = a[i++];
	if (op == SEG_OR)
		while (j < nb)
			out[k++] = b[j++];
	return SegResult(out, k);
}

/*
 * cdp_seg_and
 *		seg_and(a bigint[], b bigint[]) RETURNS bigint[]: the ids in both sets.
 */
Datum
cdp_seg_and(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(SegMerge(fcinfo, SEG_AND));
}

/*
 * cdp_seg_or
 *		seg_or(a bigint[], b bigint[]) RETURNS bigint[]: the ids in either set.
 */
Datum
cdp_seg_or(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(SegMerge(fcinfo, SEG_OR));
}

/*
 * cdp_seg_minus
 *		seg_minus(a bigint[], b bigint[]) RETURNS bigint[]: the ids of a that
 *		are not in b.
 */
Datum
cdp_seg_minus(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(SegMerge(fcinfo, SEG_MINUS));
}
