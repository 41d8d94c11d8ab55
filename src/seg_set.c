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
#include "utils/memutils.h"

#include "seg.h"

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

/* an ascending sort of int64 with the comparison inlined (PostgreSQL's sort template) */
#define ST_SORT seg_sort_int64
#define ST_ELEMENT_TYPE int64
#define ST_COMPARE(a, b) ((*(a) > *(b)) - (*(a) < *(b)))
#define ST_SCOPE static
#define ST_DECLARE
#define ST_DEFINE
#include "lib/sort_template.h"

/*
 * SegRadixSort
 *		Sorts ids[0..n) ascending: a least-significant-digit radix sort on
 *		bytes of the ids with the sign bit flipped (so negative ids order
 *		first), skipping the bytes all ids share (golden ids below 2^24 need
 *		three passes); small inputs go to the comparison sort.  Linear: the
 *		sets of a million-patient clinic are sorted in a few passes instead of
 *		n log n comparisons.
 */
void
SegRadixSort(int64 *ids, int n)
{
	uint32	   *count;
	uint64	   *src = (uint64 *) ids;
	uint64	   *dst;
	bool		in_ids = true;

	if (n < 1024)
	{
		seg_sort_int64(ids, n);
		return;
	}
	count = palloc0(8 * 256 * sizeof(uint32));
	dst = palloc(mul_size(n, sizeof(uint64)));
	for (int i = 0; i < n; i++)
	{
		uint64		k = src[i] ^ (UINT64CONST(1) << 63);

		src[i] = k;
		for (int b = 0; b < 8; b++)
			count[b * 256 + ((k >> (8 * b)) & 0xFF)]++;
	}
	for (int b = 0; b < 8; b++)
	{
		uint32	   *c = count + b * 256;
		uint32		pos = 0;
		uint64	   *t;

		if (c[(src[0] >> (8 * b)) & 0xFF] == (uint32) n)
			continue;			/* every id has this byte: nothing moves */
		for (int d = 0; d < 256; d++)
		{
			uint32		m = c[d];

			c[d] = pos;
			pos += m;
		}
		for (int i = 0; i < n; i++)
			dst[c[(src[i] >> (8 * b)) & 0xFF]++] = src[i];
		t = src;
		src = dst;
		dst = t;
		in_ids = !in_ids;
	}
	if (!in_ids)
		memcpy(ids, src, (Size) n * sizeof(uint64));
	for (int i = 0; i < n; i++)
		ids[i] = (int64) (((uint64) ids[i]) ^ (UINT64CONST(1) << 63));
	pfree(in_ids ? dst : src);
	pfree(count);
}

/*
 * SegIds
 *		The ids of a one-dimensional bigint array argument, NULLs skipped;
 *		*n receives their number.  A NULL argument is the empty set.  Without
 *		NULLs the ids are the array's own data (read only, no copy: the sets
 *		of a 1M-patient clinic hold up to a million ids); with NULLs, a copy
 *		without them.
 */
const int64 *
SegIds(FunctionCallInfo fcinfo, int argno, int *n, bool *had_nulls)
{
	ArrayType  *arr;
	int			nelems;
	const int64 *data;
	bits8	   *bitmap;
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
	nelems = ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr));
	if (nelems == 0)
		return NULL;
	data = (const int64 *) ARR_DATA_PTR(arr);
	bitmap = ARR_NULLBITMAP(arr);
	if (bitmap == NULL)
	{
		*n = nelems;
		return data;
	}
	/* int8 elements are 8-byte aligned and fixed-size: the non-null ones are consecutive */
	ids = palloc(mul_size(nelems, sizeof(int64)));
	for (int i = 0; i < nelems; i++)
	{
		if (!(bitmap[i / 8] & (1 << (i % 8))))
		{
			*had_nulls = true;
			continue;
		}
		ids[k] = data[k];
		k++;
	}
	*n = k;
	return ids;
}

/*
 * SegCheckSet
 *		Raises 22023 unless ids[0..n) is strictly ascending and had no NULLs.
 */
void
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
 * SegNewArray
 *		An empty-valued bigint[] with room for n ids (at least one), whose
 *		data the caller fills; SegSetLength then sets how many it holds.
 */
ArrayType *
SegNewArray(int n)
{
	Size		nbytes = add_size(ARR_OVERHEAD_NONULLS(1), mul_size(Max(n, 1), sizeof(int64)));
	ArrayType  *res;

	if (!AllocSizeIsValid(nbytes))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a segment id set cannot hold %d ids", n),
				 errhint("A set holds at most %d ids.", (int) ((MaxAllocSize - ARR_OVERHEAD_NONULLS(1)) / sizeof(int64)))));
	res = (ArrayType *) palloc(nbytes);
	res->ndim = 1;
	res->dataoffset = 0;
	res->elemtype = INT8OID;
	ARR_LBOUND(res)[0] = 1;
	return res;
}

/*
 * SegSetLength
 *		Makes res (from SegNewArray) an array of its first n ids; an empty
 *		array when n is 0.
 */
Datum
SegSetLength(ArrayType *res, int n)
{
	if (n == 0)
		return PointerGetDatum(construct_empty_array(INT8OID));
	SET_VARSIZE(res, ARR_OVERHEAD_NONULLS(1) + (Size) n * sizeof(int64));
	ARR_DIMS(res)[0] = n;
	return PointerGetDatum(res);
}

/*
 * cdp_seg_set
 *		seg_set(ids bigint[]) RETURNS bigint[]: the set of the ids, sorted,
 *		without duplicates or NULLs.  Ids already ascending (a probe keeps
 *		the order of the set it probed, a scan of the profiles is mostly in
 *		id order) are only copied; others are sorted first (SegRadixSort).
 */
Datum
cdp_seg_set(PG_FUNCTION_ARGS)
{
	int			n;
	bool		had_nulls;
	const int64 *ids = SegIds(fcinfo, 0, &n, &had_nulls);
	ArrayType  *res;
	int64	   *out;
	int			k = 0;
	bool		sorted = true;

	res = SegNewArray(n);
	out = (int64 *) ARR_DATA_PTR(res);
	if (n > 0)
		memcpy(out, ids, (Size) n * sizeof(int64));
	for (int i = 1; i < n && sorted; i++)
		sorted = out[i - 1] <= out[i];
	if (!sorted)
		SegRadixSort(out, n);
	for (int i = 0; i < n; i++)
		if (k == 0 || out[k - 1] != out[i])
			out[k++] = out[i];
	PG_RETURN_DATUM(SegSetLength(res, k));
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
	const int64 *a = SegIds(fcinfo, 0, &na, &nulls_a);
	const int64 *b = SegIds(fcinfo, 1, &nb, &nulls_b);
	ArrayType  *res;
	int64	   *out;

	SegCheckSet(a, na, nulls_a, 0);
	SegCheckSet(b, nb, nulls_b, 1);
	/* at most na (and, minus) or na + nb (or) ids */
	res = SegNewArray(op == SEG_OR ? (int) Min((int64) na + nb, (int64) PG_INT32_MAX) : (op == SEG_AND ? Min(na, nb) : na));
	out = (int64 *) ARR_DATA_PTR(res);
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
	return SegSetLength(res, k);
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
