/*-------------------------------------------------------------------------
 *
 * src/seg_read.c
 *		The segment evaluator's event reader (issue 13, doc/segments.md,
 *		"Session 26"): the event clauses of a rule tested for a set of
 *		candidates with one descent per candidate into the per-patient index
 *		clinical_event_seg_patient_idx (golden_id, kind, code, at) INCLUDE
 *		(lab_code, icd10, specialty, visit_status), instead of one SQL probe
 *		per clause per candidate.
 *
 *		seg_read_events(ids, test, kind, lo, hi, t_from, t_upto, status,
 *		                cmin, cmax, neg) RETURNS bigint[]
 *
 *		ids is a set (sorted, distinct).  The tests are given as "rows", one
 *		per alternative of a test (arrays test .. status, of equal length):
 *		an event matches a row when its kind is kind, its code (the index's
 *		COALESCE(lab_code, icd10, specialty), compared in the C collation) is
 *		at least lo and at most hi (a NULL bound: none on that side; both
 *		NULL: any code, even none), its time is at least t_from and before
 *		t_upto (NULL: open) and its visit status is status (NULL: any).  An
 *		event matches test t when it matches one of t's rows (the rows come
 *		in the order of their tests); test t holds
 *		for a candidate when the number of its events matching t is at least
 *		cmin[t] and, unless cmax[t] is NULL, at most cmax[t].  The result is
 *		the candidates for which every test t holds (neg[t] false) or does
 *		not hold (neg[t] true): the "all" of the clauses and of the "not"s of
 *		clauses the compiler gave rows for (sql/parts/82_segment_rules.sql).
 *
 *		The index is read as an index-only scan reads it: an entry on a heap
 *		page that is not all-visible is checked against the snapshot through
 *		the heap.  The reader needs SELECT on cdp.clinical_event and returns
 *		NULL (the caller then runs its SQL probes) when row-level security
 *		applies to the caller, so it never sees more than SQL would.  Caps:
 *		at most 2,000 rows and 1,000 tests, codes and statuses of at most 200
 *		bytes (the rule language's own caps are lower).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/tableam.h"
#include "access/visibilitymap.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/predicate.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "seg.h"

PG_FUNCTION_INFO_V1(cdp_seg_read_events);
PG_FUNCTION_INFO_V1(cdp_seg_read_range);

#define SEG_READ_MAX_ROWS	2000
#define SEG_READ_MAX_TESTS	1000
#define SEG_READ_MAX_TEXT	200

/*
 * Heap pages one visibility-map page covers (visibilitymap.c's HEAPBLOCKS_PER_PAGE: two bits a
 * heap page), and how many map pages the reader keeps pinned at once: a candidate's entries
 * point all over the heap (20M events: 393k heap pages, 13 map pages), so a single pinned map
 * page, as an index-only scan keeps, is released and read again for most entries (3-4 buffer
 * accesses of the 7.5 a candidate took, session 26).
 */
#define SEG_VM_HEAPBLOCKS	((BLCKSZ - SizeOfPageHeaderData) * 4)
#define SEG_VM_PINNED		64

/* a text argument's bytes (NULL: absent) */
typedef struct SegText
{
	const char *p;
	int			len;
} SegText;

/* one alternative of a test */
typedef struct SegRow
{
	int			test;			/* 0-based */
	SegText		kind;
	SegText		lo;
	SegText		hi;
	bool		has_from;
	bool		has_upto;
	TimestampTz from;
	TimestampTz upto;
	SegText		status;
} SegRow;

/* one test */
typedef struct SegTest
{
	int32		cmin;
	int32		cmax;			/* -1: no upper bound */
	bool		neg;
} SegTest;

/*
 * SegArg
 *		The elements of a one-dimensional array argument of the given type
 *		(NULL elements flagged) of the entry point fn; 22004 for a NULL
 *		argument, 22023 for another dimension.  *n receives the number of
 *		elements.
 */
static void
SegArg(FunctionCallInfo fcinfo, const char *fn, int argno, const char *name, Oid typid,
	   Datum **elems, bool **nulls, int *n)
{
	ArrayType  *arr;
	int16		typlen;
	bool		typbyval;
	char		typalign;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"%s\" of %s cannot be null", name, fn),
				 errhint("Pass an empty array for no rows.")));
	arr = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_ELEMTYPE(arr) != typid)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("argument \"%s\" of %s has the wrong element type", name, fn)));
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"%s\" of %s must be a one-dimensional array", name, fn),
				 errdetail("It has %d dimensions.", ARR_NDIM(arr)),
				 errhint("Build the arguments with cdp_internal.%s().",
						 strcmp(fn, "seg_read_range") == 0 ? "seg_read_set" : "seg_read")));
	get_typlenbyvalalign(typid, &typlen, &typbyval, &typalign);
	deconstruct_array(arr, typid, typlen, typbyval, typalign, elems, nulls, n);
}

/*
 * SegArgText
 *		A text element (row i of argument name of the entry point fn) as
 *		bytes, checked: at most SEG_READ_MAX_TEXT bytes, valid in the server
 *		encoding; p is NULL for a NULL element.
 */
static SegText
SegArgText(Datum d, bool isnull, const char *fn, const char *name, int i)
{
	SegText		t = {NULL, 0};
	text	   *v;

	if (isnull)
		return t;
	v = DatumGetTextPP(d);
	t.p = VARDATA_ANY(v);
	t.len = VARSIZE_ANY_EXHDR(v);
	if (t.len > SEG_READ_MAX_TEXT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a value of \"%s\" of %s is longer than %d bytes", name, fn, SEG_READ_MAX_TEXT),
				 errdetail("Row %d has %d bytes.", i + 1, t.len),
				 errhint("Codes and statuses of the rule language are at most 200 bytes.")));
	(void) pg_verify_mbstr(GetDatabaseEncoding(), t.p, t.len, false);
	return t;
}

/*
 * SegCmpC
 *		Compares two byte strings as the C collation does (memcmp, then the
 *		shorter first): <0, 0, >0.
 */
static inline int
SegCmpC(const char *a, int alen, const char *b, int blen)
{
	int			c = memcmp(a, b, Min(alen, blen));

	if (c != 0)
		return c;
	return (alen > blen) - (alen < blen);
}

/*
 * SegEq
 *		Whether a text datum's bytes equal t's.
 */
static inline bool
SegEq(const char *p, int len, SegText t)
{
	return len == t.len && memcmp(p, t.p, len) == 0;
}

/*
 * SegRowMatches
 *		Whether an index entry (its kind, code, time and visit status, each
 *		possibly NULL) matches a row.
 */
static bool
SegRowMatches(const SegRow *r, const char *kind, int kindlen,
			  bool codenull, const char *code, int codelen,
			  bool atnull, TimestampTz at,
			  bool stnull, const char *st, int stlen)
{
	if (!SegEq(kind, kindlen, r->kind))
		return false;
	if (r->lo.p != NULL || r->hi.p != NULL)
	{
		if (codenull)
			return false;
		if (r->lo.p != NULL && SegCmpC(code, codelen, r->lo.p, r->lo.len) < 0)
			return false;
		if (r->hi.p != NULL && SegCmpC(code, codelen, r->hi.p, r->hi.len) > 0)
			return false;
	}
	if (r->has_from || r->has_upto)
	{
		if (atnull)
			return false;
		if (r->has_from && at < r->from)
			return false;
		if (r->has_upto && at >= r->upto)
			return false;
	}
	if (r->status.p != NULL && (stnull || !SegEq(st, stlen, r->status)))
		return false;
	return true;
}

/*
 * SegOpenIndex
 *		Opens cdp.clinical_event and one of its segment indexes (looked up in
 *		the extension's schema, not taken from the caller) and checks the
 *		index's shape: a B-tree of nkey key columns and 8 columns in all, of
 *		the given types.  42501 without SELECT on the table; false (nothing
 *		opened) when row-level security applies.
 */
static bool
SegOpenIndex(const char *name, int nkey, const Oid *types, Relation *heap, Relation *index)
{
	Oid			nsp = get_namespace_oid("cdp", false);	/* cdp.control: schema = cdp, not relocatable */
	Oid			heapoid = get_relname_relid("clinical_event", nsp);
	Oid			indexoid = get_relname_relid(name, nsp);
	TupleDesc	desc;
	AclResult	acl;

	if (!OidIsValid(heapoid) || !OidIsValid(indexoid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("index %s of the cdp schema does not exist", name),
				 errhint("Reinstall or update the extension cdp.")));
	acl = pg_class_aclcheck(heapoid, GetUserId(), ACL_SELECT);
	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, OBJECT_TABLE, get_rel_name(heapoid));
	if (check_enable_rls(heapoid, InvalidOid, true) == RLS_ENABLED)
		return false;
	*heap = table_open(heapoid, AccessShareLock);
	*index = index_open(indexoid, AccessShareLock);
	desc = RelationGetDescr(*index);
	if ((*index)->rd_rel->relam != BTREE_AM_OID || (*index)->rd_index->indrelid != heapoid
		|| desc->natts != 8 || IndexRelationGetNumberOfKeyAttributes(*index) != nkey)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("index %s does not have the shape the segment reader needs", name),
				 errhint("Reinstall or update the extension cdp.")));
	for (int i = 0; i < 8; i++)
		if (TupleDescAttr(desc, i)->atttypid != types[i])
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("index %s does not have the shape the segment reader needs", name),
					 errdetail("Column %d has type %s.", i + 1, format_type_be(TupleDescAttr(desc, i)->atttypid)),
					 errhint("Reinstall or update the extension cdp.")));
	return true;
}

/*
 * SegVisible
 *		Whether the entry the scan returned is visible to the snapshot, as an
 *		index-only scan decides it: an all-visible heap page says yes (a
 *		predicate lock is then taken on it as if it had been read), else the
 *		heap tuple is fetched.  vmbufs holds SEG_VM_PINNED + 1 pinned map
 *		pages, indexed by map page (the last for every page beyond).
 */
static bool
SegVisible(IndexScanDesc scan, ItemPointer tid, TupleTableSlot *slot, Buffer *vmbufs, Snapshot snapshot)
{
	BlockNumber blk = ItemPointerGetBlockNumber(tid);

	if (VM_ALL_VISIBLE(scan->heapRelation, blk, &vmbufs[Min(blk / SEG_VM_HEAPBLOCKS, SEG_VM_PINNED)]))
	{
		PredicateLockPage(scan->heapRelation, blk, snapshot);
		return true;
	}
	if (!index_fetch_heap(scan, slot))
		return false;
	ExecClearTuple(slot);
	if (scan->xs_heap_continue)
		elog(ERROR, "non-MVCC snapshots are not supported by the segment reader");
	return true;
}

/*
 * SegReleaseVm
 *		Unpins the map pages SegVisible pinned.
 */
static void
SegReleaseVm(Buffer *vmbufs)
{
	for (int i = 0; i <= SEG_VM_PINNED; i++)
		if (BufferIsValid(vmbufs[i]))
			ReleaseBuffer(vmbufs[i]);
}

/*
 * cdp_seg_read_events
 *		seg_read_events(ids bigint[], test int[], kind text[], lo text[],
 *		hi text[], t_from timestamptz[], t_upto timestamptz[], status text[],
 *		cmin int[], cmax int[], neg boolean[]) RETURNS bigint[]: the ids of
 *		the set for which every test holds (or, neg, does not); NULL when
 *		row-level security applies to the caller.  See the file header.
 */
Datum
cdp_seg_read_events(PG_FUNCTION_ARGS)
{
	int			n;
	bool		had_nulls;
	const int64 *ids = SegIds(fcinfo, 0, &n, &had_nulls);
	Datum	   *a_test,
			   *a_kind,
			   *a_lo,
			   *a_hi,
			   *a_from,
			   *a_upto,
			   *a_st,
			   *a_cmin,
			   *a_cmax,
			   *a_neg;
	bool	   *n_test,
			   *n_kind,
			   *n_lo,
			   *n_hi,
			   *n_from,
			   *n_upto,
			   *n_st,
			   *n_cmin,
			   *n_cmax,
			   *n_neg;
	int			nrows,
				ntests,
				k,
				out_n = 0;
	SegRow	   *rows;
	SegTest    *tests;
	int32	   *counts;
	bool		one_kind = true;
	int			nkeys;
	ScanKeyData keys[4];
	Relation	heap,
				index;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	Buffer		vmbufs[SEG_VM_PINNED + 1];
	Snapshot	snapshot = GetActiveSnapshot();
	ArrayType  *res;
	int64	   *out;
	static const Oid patient_types[8] = {INT8OID, TEXTOID, TEXTOID, TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};

	SegCheckSet(ids, n, had_nulls, 0);

	/* the rows */
	SegArg(fcinfo, "seg_read_events", 1, "test", INT4OID, &a_test, &n_test, &nrows);
	SegArg(fcinfo, "seg_read_events", 2, "kind", TEXTOID, &a_kind, &n_kind, &k);
	if (k != nrows)
		goto bad_length;
	SegArg(fcinfo, "seg_read_events", 3, "lo", TEXTOID, &a_lo, &n_lo, &k);
	if (k != nrows)
		goto bad_length;
	SegArg(fcinfo, "seg_read_events", 4, "hi", TEXTOID, &a_hi, &n_hi, &k);
	if (k != nrows)
		goto bad_length;
	SegArg(fcinfo, "seg_read_events", 5, "t_from", TIMESTAMPTZOID, &a_from, &n_from, &k);
	if (k != nrows)
		goto bad_length;
	SegArg(fcinfo, "seg_read_events", 6, "t_upto", TIMESTAMPTZOID, &a_upto, &n_upto, &k);
	if (k != nrows)
		goto bad_length;
	SegArg(fcinfo, "seg_read_events", 7, "status", TEXTOID, &a_st, &n_st, &k);
	if (k != nrows)
		goto bad_length;
	/* the tests */
	SegArg(fcinfo, "seg_read_events", 8, "cmin", INT4OID, &a_cmin, &n_cmin, &ntests);
	SegArg(fcinfo, "seg_read_events", 9, "cmax", INT4OID, &a_cmax, &n_cmax, &k);
	if (k != ntests)
		goto bad_length;
	SegArg(fcinfo, "seg_read_events", 10, "neg", BOOLOID, &a_neg, &n_neg, &k);
	if (k != ntests)
		goto bad_length;
	if (nrows > SEG_READ_MAX_ROWS || ntests > SEG_READ_MAX_TESTS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("seg_read_events takes at most %d rows and %d tests", SEG_READ_MAX_ROWS, SEG_READ_MAX_TESTS),
				 errdetail("It got %d rows and %d tests.", nrows, ntests),
				 errhint("Split the rule into segments and reference them.")));

	tests = palloc(sizeof(SegTest) * Max(ntests, 1));
	for (int t = 0; t < ntests; t++)
	{
		if (n_cmin[t] || n_neg[t] || DatumGetInt32(a_cmin[t]) < 0
			|| (!n_cmax[t] && DatumGetInt32(a_cmax[t]) < DatumGetInt32(a_cmin[t])))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("test %d of seg_read_events has no valid count bounds", t + 1),
					 errdetail("cmin must be a count of at least 0, cmax NULL or at least cmin, neg not NULL."),
					 errhint("Build the arguments with cdp_internal.seg_read().")));
		tests[t].cmin = DatumGetInt32(a_cmin[t]);
		tests[t].cmax = n_cmax[t] ? -1 : DatumGetInt32(a_cmax[t]);
		tests[t].neg = DatumGetBool(a_neg[t]);
	}
	rows = palloc(sizeof(SegRow) * Max(nrows, 1));
	for (int i = 0; i < nrows; i++)
	{
		SegRow	   *r = &rows[i];

		if (n_test[i] || DatumGetInt32(a_test[i]) < 1 || DatumGetInt32(a_test[i]) > ntests || n_kind[i]
			|| (i > 0 && DatumGetInt32(a_test[i]) < rows[i - 1].test + 1))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("row %d of seg_read_events has no valid test or kind", i + 1),
					 errdetail("A row names a test from 1 to %d (the rows in the order of their tests) and an event kind.", ntests),
					 errhint("Build the arguments with cdp_internal.seg_read().")));
		r->test = DatumGetInt32(a_test[i]) - 1;
		r->kind = SegArgText(a_kind[i], false, "seg_read_events", "kind", i);
		r->lo = SegArgText(a_lo[i], n_lo[i], "seg_read_events", "lo", i);
		r->hi = SegArgText(a_hi[i], n_hi[i], "seg_read_events", "hi", i);
		r->status = SegArgText(a_st[i], n_st[i], "seg_read_events", "status", i);
		r->has_from = !n_from[i];
		r->from = r->has_from ? DatumGetTimestampTz(a_from[i]) : 0;
		r->has_upto = !n_upto[i];
		r->upto = r->has_upto ? DatumGetTimestampTz(a_upto[i]) : 0;
		if (i > 0 && !SegEq(r->kind.p, r->kind.len, rows[0].kind))
			one_kind = false;
	}
	/* a test without rows matches no event: it holds exactly when its cmin is 0 */

	if (n == 0)
		PG_RETURN_DATUM(SegSetLength(SegNewArray(0), 0));
	if (!SegOpenIndex("clinical_event_seg_patient_idx", 4, patient_types, &heap, &index))
		PG_RETURN_NULL();

	/*
	 * Scan keys: the candidate, its kind when every row has the same, and
	 * the code range of a single row (one descent lands on the first entry
	 * that can match).
	 */
	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(0));
	nkeys = 1;
	if (nrows > 0 && one_kind)
	{
		ScanKeyInit(&keys[nkeys], 2, BTEqualStrategyNumber, F_TEXTEQ,
					PointerGetDatum(cstring_to_text_with_len(rows[0].kind.p, rows[0].kind.len)));
		keys[nkeys].sk_collation = index->rd_indcollation[1];
		nkeys++;
		if (nrows == 1 && rows[0].lo.p != NULL)
		{
			ScanKeyInit(&keys[nkeys], 3, BTGreaterEqualStrategyNumber, F_TEXT_GE,
						PointerGetDatum(cstring_to_text_with_len(rows[0].lo.p, rows[0].lo.len)));
			keys[nkeys].sk_collation = index->rd_indcollation[2];
			nkeys++;
		}
		if (nrows == 1 && rows[0].hi.p != NULL)
		{
			ScanKeyInit(&keys[nkeys], 3, BTLessEqualStrategyNumber, F_TEXT_LE,
						PointerGetDatum(cstring_to_text_with_len(rows[0].hi.p, rows[0].hi.len)));
			keys[nkeys].sk_collation = index->rd_indcollation[2];
			nkeys++;
		}
	}

	for (int i = 0; i <= SEG_VM_PINNED; i++)
		vmbufs[i] = InvalidBuffer;
	counts = palloc(sizeof(int32) * Max(ntests, 1));
	res = SegNewArray(n);
	out = (int64 *) ARR_DATA_PTR(res);
	scan = index_beginscan(heap, index, snapshot, nkeys, 0);
	scan->xs_want_itup = true;
	slot = table_slot_create(heap, NULL);
	for (int c = 0; c < n; c++)
	{
		ItemPointer tid;
		bool		keep = true;

		CHECK_FOR_INTERRUPTS();
		memset(counts, 0, sizeof(int32) * Max(ntests, 1));
		keys[0].sk_argument = Int64GetDatum(ids[c]);
		index_rescan(scan, keys, nkeys, NULL, 0);
		while ((tid = index_getnext_tid(scan, ForwardScanDirection)) != NULL)
		{
			IndexTuple	itup;
			TupleDesc	desc;
			bool		isnull,
						codenull,
						atnull,
						stnull;
			Datum		d;
			text	   *kind,
					   *code = NULL,
					   *st = NULL;
			TimestampTz at = 0;
			int			t_prev = -1;
			bool		t_hit = false;

			if (!SegVisible(scan, tid, slot, vmbufs, snapshot))
				continue;
			itup = scan->xs_itup;
			desc = scan->xs_itupdesc;
			d = index_getattr(itup, 2, desc, &isnull);
			if (isnull)
				continue;
			kind = DatumGetTextPP(d);
			d = index_getattr(itup, 3, desc, &codenull);
			if (!codenull)
				code = DatumGetTextPP(d);
			d = index_getattr(itup, 4, desc, &atnull);
			if (!atnull)
				at = DatumGetTimestampTz(d);
			d = index_getattr(itup, 8, desc, &stnull);
			if (!stnull)
				st = DatumGetTextPP(d);
			/* the rows of a test are consecutive: an event counts once per test */
			for (int i = 0; i < nrows; i++)
			{
				const SegRow *r = &rows[i];

				if (r->test != t_prev)
				{
					t_prev = r->test;
					t_hit = false;
				}
				if (t_hit)
					continue;
				if (SegRowMatches(r, VARDATA_ANY(kind), VARSIZE_ANY_EXHDR(kind),
								  codenull, code ? VARDATA_ANY(code) : NULL, code ? VARSIZE_ANY_EXHDR(code) : 0,
								  atnull, at,
								  stnull, st ? VARDATA_ANY(st) : NULL, st ? VARSIZE_ANY_EXHDR(st) : 0))
				{
					t_hit = true;
					counts[r->test]++;
				}
			}
		}
		for (int t = 0; t < ntests && keep; t++)
		{
			bool		holds = counts[t] >= tests[t].cmin && (tests[t].cmax < 0 || counts[t] <= tests[t].cmax);

			keep = holds != tests[t].neg;
		}
		if (keep)
			out[out_n++] = ids[c];
	}
	SegReleaseVm(vmbufs);
	ExecDropSingleTupleTableSlot(slot);
	index_endscan(scan);
	index_close(index, AccessShareLock);
	table_close(heap, AccessShareLock);
	PG_RETURN_DATUM(SegSetLength(res, out_n));

bad_length:
	ereport(ERROR,
			(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
			 errmsg("the row arrays of seg_read_events must have equal lengths, and so must the test arrays"),
			 errhint("Build the arguments with cdp_internal.seg_read().")));
	PG_RETURN_NULL();
}

/*
 * cdp_seg_read_range
 *		seg_read_range(kind text, lo text[], hi text[], t_from timestamptz,
 *		t_upto timestamptz, status text[], cmin int, cmax int, lim bigint)
 *		RETURNS bigint[]: the set of the golden ids with at least cmin and, unless
 *		cmax is NULL, at most cmax events of the kind whose code lies in one
 *		of the ranges [lo[i], hi[i]] (C collation; a NULL bound is open; no
 *		range: any code, even none), whose time is in [t_from, t_upto) (NULL:
 *		open) and whose visit status is one of status (NULL: any).  One range
 *		scan of clinical_event_seg_code_idx (kind, code, at) INCLUDE
 *		(golden_id, ...) per code range, read as an index-only scan with the
 *		visibility map's pages kept pinned (SEG_VM_PINNED): the executor's
 *		index-only scan released and read a map page again for most of the
 *		693k entries of a 1M-patient clinic's CHOL tests (session 26).  The
 *		ids are then sorted and counted.  Several ranges with a count bound
 *		other than "at least one" are refused (22023): overlapping ranges
 *		would count an event twice.  NULL when row-level security applies, or
 *		when more than lim events match (lim NULL: no limit): the caller
 *		asked for the set only if it is small beside its candidates.
 */
Datum
cdp_seg_read_range(PG_FUNCTION_ARGS)
{
	Datum	   *a_lo,
			   *a_hi,
			   *a_st = NULL;
	bool	   *n_lo,
			   *n_hi,
			   *n_st = NULL;
	int			nranges,
				k,
				nst = 0,
				cap = 1024,
				cnt = 0,
				out_n = 0;
	SegText		kind;
	SegText    *st;
	int32		cmin,
				cmax;
	int64		lim = PG_ARGISNULL(8) ? PG_INT64_MAX : PG_GETARG_INT64(8);
	bool		over = false;
	bool		has_from = !PG_ARGISNULL(3),
				has_upto = !PG_ARGISNULL(4);
	Relation	heap,
				index;
	Snapshot	snapshot = GetActiveSnapshot();
	Buffer		vmbufs[SEG_VM_PINNED + 1];
	TupleTableSlot *slot;
	int64	   *ids;
	ArrayType  *res;
	int64	   *out;
	static const Oid code_types[8] = {TEXTOID, TEXTOID, TIMESTAMPTZOID, INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};

	if (PG_ARGISNULL(0) || PG_ARGISNULL(6))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the kind and cmin of seg_read_range cannot be null"),
				 errhint("Build the arguments with cdp_internal.seg_read_set().")));
	kind = SegArgText(PG_GETARG_DATUM(0), false, "seg_read_range", "kind", 0);
	SegArg(fcinfo, "seg_read_range", 1, "lo", TEXTOID, &a_lo, &n_lo, &nranges);
	SegArg(fcinfo, "seg_read_range", 2, "hi", TEXTOID, &a_hi, &n_hi, &k);
	if (k != nranges)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("the lo and hi arrays of seg_read_range must have equal lengths"),
				 errhint("Build the arguments with cdp_internal.seg_read_set().")));
	if (!PG_ARGISNULL(5))
		SegArg(fcinfo, "seg_read_range", 5, "status", TEXTOID, &a_st, &n_st, &nst);
	cmin = PG_GETARG_INT32(6);
	cmax = PG_ARGISNULL(7) ? -1 : PG_GETARG_INT32(7);
	if (cmin < 1 || (cmax >= 0 && cmax < cmin) || nranges > SEG_READ_MAX_ROWS || nst > SEG_READ_MAX_ROWS
		|| (nranges > 1 && (cmin != 1 || cmax >= 0)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("seg_read_range needs cmin >= 1, cmax NULL or at least cmin, at most %d ranges and statuses, and a count bound only with one range", SEG_READ_MAX_ROWS),
				 errdetail("It got cmin %d, cmax %d, %d ranges, %d statuses.", cmin, cmax, nranges, nst),
				 errhint("Build the arguments with cdp_internal.seg_read_set().")));
	st = palloc(sizeof(SegText) * Max(nst, 1));
	for (int i = 0; i < nst; i++)
	{
		st[i] = SegArgText(a_st[i], n_st[i], "seg_read_range", "status", i);
		if (st[i].p == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("a status of seg_read_range cannot be null"),
					 errdetail("Status %d is null.", i + 1),
					 errhint("Pass NULL for any status.")));
	}
	if (!SegOpenIndex("clinical_event_seg_code_idx", 3, code_types, &heap, &index))
		PG_RETURN_NULL();
	for (int i = 0; i <= SEG_VM_PINNED; i++)
		vmbufs[i] = InvalidBuffer;
	slot = table_slot_create(heap, NULL);
	ids = palloc(sizeof(int64) * cap);
	for (int r = 0; r < Max(nranges, 1) && !over; r++)
	{
		ScanKeyData keys[5];
		int			nkeys = 0;
		IndexScanDesc scan;
		ItemPointer tid;

		CHECK_FOR_INTERRUPTS();
		ScanKeyInit(&keys[nkeys], 1, BTEqualStrategyNumber, F_TEXTEQ,
					PointerGetDatum(cstring_to_text_with_len(kind.p, kind.len)));
		keys[nkeys++].sk_collation = index->rd_indcollation[0];
		if (nranges > 0 && !n_lo[r])
		{
			SegText		lo = SegArgText(a_lo[r], false, "seg_read_range", "lo", r);

			ScanKeyInit(&keys[nkeys], 2, BTGreaterEqualStrategyNumber, F_TEXT_GE,
						PointerGetDatum(cstring_to_text_with_len(lo.p, lo.len)));
			keys[nkeys++].sk_collation = index->rd_indcollation[1];
		}
		if (nranges > 0 && !n_hi[r])
		{
			SegText		hi = SegArgText(a_hi[r], false, "seg_read_range", "hi", r);

			ScanKeyInit(&keys[nkeys], 2, BTLessEqualStrategyNumber, F_TEXT_LE,
						PointerGetDatum(cstring_to_text_with_len(hi.p, hi.len)));
			keys[nkeys++].sk_collation = index->rd_indcollation[1];
		}
		if (has_from)
			ScanKeyInit(&keys[nkeys++], 3, BTGreaterEqualStrategyNumber, F_TIMESTAMPTZ_GE, PG_GETARG_DATUM(3));
		if (has_upto)
			ScanKeyInit(&keys[nkeys++], 3, BTLessStrategyNumber, F_TIMESTAMPTZ_LT, PG_GETARG_DATUM(4));
		scan = index_beginscan(heap, index, snapshot, nkeys, 0);
		scan->xs_want_itup = true;
		index_rescan(scan, keys, nkeys, NULL, 0);
		while ((tid = index_getnext_tid(scan, ForwardScanDirection)) != NULL)
		{
			bool		isnull;
			Datum		d;

			if ((cnt & 4095) == 0)
				CHECK_FOR_INTERRUPTS();
			if (!SegVisible(scan, tid, slot, vmbufs, snapshot))
				continue;
			if (nst > 0)
			{
				text	   *v;
				bool		found = false;

				d = index_getattr(scan->xs_itup, 8, scan->xs_itupdesc, &isnull);
				if (isnull)
					continue;
				v = DatumGetTextPP(d);
				for (int i = 0; i < nst && !found; i++)
					found = SegEq(VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v), st[i]);
				if (!found)
					continue;
			}
			d = index_getattr(scan->xs_itup, 4, scan->xs_itupdesc, &isnull);
			if (isnull)
				continue;
			if (cnt >= lim)
			{
				over = true;
				break;
			}
			if (cnt == cap)
			{
				if ((Size) cap * 2 * sizeof(int64) > MaxAllocSize)
					ereport(ERROR,
							(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
							 errmsg("an event clause matches more than %d events", cap),
							 errhint("Narrow the clause.")));
				cap *= 2;
				ids = repalloc(ids, sizeof(int64) * cap);
			}
			ids[cnt++] = DatumGetInt64(d);
		}
		index_endscan(scan);
	}
	SegReleaseVm(vmbufs);
	ExecDropSingleTupleTableSlot(slot);
	index_close(index, AccessShareLock);
	table_close(heap, AccessShareLock);

	if (over)
		PG_RETURN_NULL();
	/* the ids in order, each kept once when its number of events is within the bounds */
	SegRadixSort(ids, cnt);
	res = SegNewArray(cnt);
	out = (int64 *) ARR_DATA_PTR(res);
	for (int i = 0; i < cnt;)
	{
		int			j = i;

		while (j < cnt && ids[j] == ids[i])
			j++;
		if (j - i >= cmin && (cmax < 0 || j - i <= cmax))
			out[out_n++] = ids[i];
		i = j;
	}
	pfree(ids);
	PG_RETURN_DATUM(SegSetLength(res, out_n));
}
