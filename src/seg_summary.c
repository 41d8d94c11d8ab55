/*-------------------------------------------------------------------------
 *
 * src/seg_summary.c
 *		The segment evaluator's consent-summary reader (issue 13,
 *		doc/segments.md, "Session 28"): the rows of
 *		cdp_internal.consent_summary (80_consent.sql) for a set of golden
 *		ids, one primary-key descent per id in C, for the two steps of a
 *		preview that read them (the source_kind clause and the consent guard)
 *		instead of one executor probe (a lateral subquery restarted per id)
 *		each.
 *
 *		seg_summary_rows(ids bigint[]) RETURNS TABLE (golden_id bigint,
 *			allowed bigint, internal boolean, partner boolean)
 *
 *		ids is a set (sorted, distinct, no NULLs; 22023 otherwise).  One row
 *		per id, in the order of the set: the person's summary row, or NULL
 *		allowed, internal and partner when the person has none (the readers
 *		then apply the defaults, as a LEFT JOIN did).  The columns are found
 *		by name in the table's descriptor (their types checked), never by
 *		position, and the primary key is the table's own, so a column added
 *		to the summary does not move what is read.
 *
 *		Read as the executor's index scan reads it (the snapshot's visible
 *		version, predicate locks taken by the heap fetch).  It needs SELECT on
 *		the table; when row-level security applies to the caller the rows are
 *		read through SQL instead (SPI: the policies apply), so it never shows
 *		more than SQL would.
 *
 *		The rows of the last set read are kept for the rest of the statement
 *		(session 28, prev29): a call for a subset of that set under the same
 *		snapshot, in the same transaction and subtransaction (the consent
 *		guard after the source_kind clause, on the clause's survivors) takes
 *		them instead of reading the summary again.  The same snapshot (its
 *		xmin, xmax, in-progress ids and command id) sees the same rows; any
 *		write since (a later command id), another transaction or snapshot, or
 *		a caller under row-level security reads the table.  They are freed at
 *		the end of the transaction.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/tuplestore.h"

#include "seg.h"

PG_FUNCTION_INFO_V1(cdp_seg_summary_rows);

/*
 * Past this gap between the entry the scan stands on and the next id, the reader descends again
 * instead of walking the leaves (a leaf holds about 400 entries of the primary key; a descent
 * reads three or four pages).
 */
#define SEG_SUMMARY_WALK	512

/* the summary's columns the reader needs, by name, with their types */
static const char *const seg_summary_cols[4] = {"golden_id", "allowed", "internal", "partner"};
static const Oid seg_summary_types[4] = {INT8OID, INT8OID, BOOLOID, BOOLOID};

/*
 * The rows of the last set read (see the file header): under what they were read, and the rows
 * in the order of the set.  Kept only for sets of up to SEG_SUMMARY_KEEP ids (the readers'
 * probe sizes: a twentieth of the clinic), in seg_summary_cxt, reset at the transaction's end.
 */
#define SEG_SUMMARY_KEEP	200000

typedef struct SegSummaryKept
{
	bool		valid;
	Oid			heapoid;
	Oid			dbid;
	LocalTransactionId lxid;
	SubTransactionId subid;
	SnapshotData snap;			/* the snapshot's fields; xip and subxip copied */
	int			n;
	int64	   *ids;
	int64	   *allowed;		/* with nulls: the person has no row */
	bool	   *internal;
	bool	   *partner;
	bool	   *nulls;
} SegSummaryKept;

static SegSummaryKept seg_kept;
static MemoryContext seg_summary_cxt = NULL;

/* the end of a transaction: the kept rows go */
static void
SegSummaryXactCallback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT || event == XACT_EVENT_PREPARE
		|| event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT)
	{
		seg_kept.valid = false;
		if (seg_summary_cxt != NULL)
			MemoryContextReset(seg_summary_cxt);
	}
}

/* whether two MVCC snapshots see the same rows of the same transaction */
static bool
SegSameSnapshot(Snapshot a, Snapshot b)
{
	if (a->snapshot_type != SNAPSHOT_MVCC || b->snapshot_type != SNAPSHOT_MVCC)
		return false;
	if (a->xmin != b->xmin || a->xmax != b->xmax || a->curcid != b->curcid
		|| a->xcnt != b->xcnt || a->subxcnt != b->subxcnt || a->suboverflowed != b->suboverflowed
		|| a->takenDuringRecovery != b->takenDuringRecovery)
		return false;
	if (a->xcnt > 0 && memcmp(a->xip, b->xip, a->xcnt * sizeof(TransactionId)) != 0)
		return false;
	if (a->subxcnt > 0 && memcmp(a->subxip, b->subxip, a->subxcnt * sizeof(TransactionId)) != 0)
		return false;
	return true;
}

/*
 * SegSummaryFromKept
 *		The rows of a set from the kept ones when they were read under the
 *		same snapshot, transaction and subtransaction and hold every id of
 *		the set; false (nothing written) otherwise.
 */
static bool
SegSummaryFromKept(ReturnSetInfo *rsinfo, Oid heapoid, Snapshot snap, const int64 *ids, int n)
{
	int			j = 0;
	int		   *at;

	if (!seg_kept.valid || seg_kept.heapoid != heapoid || seg_kept.dbid != MyDatabaseId
		|| seg_kept.lxid != MyProc->lxid || seg_kept.subid != GetCurrentSubTransactionId()
		|| n > seg_kept.n || !SegSameSnapshot(&seg_kept.snap, snap))
		return false;
	/* both sets ascend: one merge walk finds each id's row, or says one is missing */
	at = palloc(sizeof(int) * n);
	for (int i = 0; i < n; i++)
	{
		while (j < seg_kept.n && seg_kept.ids[j] < ids[i])
			j++;
		if (j == seg_kept.n || seg_kept.ids[j] != ids[i])
		{
			pfree(at);
			return false;
		}
		at[i] = j;
	}
	for (int i = 0; i < n; i++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, true, true, true};

		values[0] = Int64GetDatum(ids[i]);
		values[1] = values[2] = values[3] = (Datum) 0;
		if (!seg_kept.nulls[at[i]])
		{
			values[1] = Int64GetDatum(seg_kept.allowed[at[i]]);
			values[2] = BoolGetDatum(seg_kept.internal[at[i]]);
			values[3] = BoolGetDatum(seg_kept.partner[at[i]]);
			nulls[1] = nulls[2] = nulls[3] = false;
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	pfree(at);
	return true;
}

/*
 * Starts keeping the rows of a set read now.  The previous set's rows go first, even when this set
 * is too large to keep (more than SEG_SUMMARY_KEEP ids) or the snapshot is not an MVCC one: then
 * nothing is kept, and a later read of the smaller previous set reads the table again.  Correct
 * either way; the preview's order of calls (the consent guard's set, then the clauses' smaller
 * ones) does not hit it.
 */
static void
SegSummaryKeepStart(Oid heapoid, Snapshot snap, const int64 *ids, int n)
{
	MemoryContext old;

	if (seg_summary_cxt == NULL)
	{
		seg_summary_cxt = AllocSetContextCreate(TopMemoryContext, "cdp seg_summary kept rows",
												ALLOCSET_DEFAULT_SIZES);
		RegisterXactCallback(SegSummaryXactCallback, NULL);
	}
	seg_kept.valid = false;
	MemoryContextReset(seg_summary_cxt);
	if (n > SEG_SUMMARY_KEEP || snap->snapshot_type != SNAPSHOT_MVCC)
		return;
	old = MemoryContextSwitchTo(seg_summary_cxt);
	seg_kept.heapoid = heapoid;
	seg_kept.dbid = MyDatabaseId;
	seg_kept.lxid = MyProc->lxid;
	seg_kept.subid = GetCurrentSubTransactionId();
	seg_kept.snap = *snap;
	seg_kept.snap.xip = palloc(sizeof(TransactionId) * Max(snap->xcnt, 1));
	if (snap->xcnt > 0)
		memcpy(seg_kept.snap.xip, snap->xip, sizeof(TransactionId) * snap->xcnt);
	seg_kept.snap.subxip = palloc(sizeof(TransactionId) * Max(snap->subxcnt, 1));
	if (snap->subxcnt > 0)
		memcpy(seg_kept.snap.subxip, snap->subxip, sizeof(TransactionId) * snap->subxcnt);
	seg_kept.n = n;
	seg_kept.ids = palloc(sizeof(int64) * n);
	memcpy(seg_kept.ids, ids, sizeof(int64) * n);
	seg_kept.allowed = palloc(sizeof(int64) * n);
	seg_kept.internal = palloc(sizeof(bool) * n);
	seg_kept.partner = palloc(sizeof(bool) * n);
	seg_kept.nulls = palloc(sizeof(bool) * n);
	MemoryContextSwitchTo(old);
}

/*
 * SegSummaryAttnums
 *		The attribute numbers of the summary's columns, looked up by name;
 *		55000 when one is missing or has another type (an extension not
 *		updated).
 */
static void
SegSummaryAttnums(Relation heap, AttrNumber *att)
{
	TupleDesc	desc = RelationGetDescr(heap);

	for (int i = 0; i < 4; i++)
	{
		att[i] = InvalidAttrNumber;
		for (int a = 0; a < desc->natts; a++)
		{
			Form_pg_attribute f = TupleDescAttr(desc, a);

			if (!f->attisdropped && strcmp(NameStr(f->attname), seg_summary_cols[i]) == 0)
			{
				if (f->atttypid != seg_summary_types[i])
					break;
				att[i] = f->attnum;
				break;
			}
		}
		if (att[i] == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("table cdp_internal.consent_summary has no column \"%s\" of type %s",
							seg_summary_cols[i], format_type_be(seg_summary_types[i])),
					 errhint("Reinstall or update the extension cdp.")));
	}
}

/*
 * SegSummaryViaSql
 *		The rows through SQL, for a caller under row-level security: the same
 *		rows the reader gives, as the policies let the caller see them.
 */
static void
SegSummaryViaSql(ReturnSetInfo *rsinfo, Datum ids)
{
	Oid			argtypes[1] = {INT8ARRAYOID};
	Datum		args[1] = {ids};

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT c.id, s.allowed, s.internal, s.partner"
							  " FROM pg_catalog.unnest($1) WITH ORDINALITY c(id, i)"
							  " LEFT JOIN LATERAL (SELECT x.allowed, x.internal, x.partner FROM cdp_internal.consent_summary x"
							  "                     WHERE x.golden_id OPERATOR(pg_catalog.=) c.id OFFSET 0) s ON true"
							  " ORDER BY c.i",
							  1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "the consent summary query failed");
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		Datum		values[4];
		bool		nulls[4];

		for (int i = 0; i < 4; i++)
			values[i] = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, i + 1, &nulls[i]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
}

/*
 * cdp_seg_summary_rows
 *		seg_summary_rows(ids bigint[]) RETURNS TABLE (golden_id bigint,
 *		allowed bigint, internal boolean, partner boolean): one row per id of
 *		the set, the summary's values or NULLs.  See the file header.
 */
Datum
cdp_seg_summary_rows(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			n;
	bool		had_nulls;
	const int64 *ids;
	Oid			nsp,
				heapoid,
				indexoid;
	AclResult	acl;
	Relation	heap,
				index;
	AttrNumber	att[4];
	IndexScanDesc scan;
	TupleTableSlot *slot;
	ScanKeyData key;
	bool		positioned = false; /* the scan was started (index_rescan) */
	bool		at_end = false; /* and ran past the index's last entry */
	bool		pending = false;	/* the entry it stands on is not consumed yet */
	int64		pos_key = 0;	/* that entry's golden_id */
	Snapshot	snap;
	bool		keep;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"ids\" of seg_summary_rows cannot be null"),
				 errhint("Pass an empty array for no ids.")));
	ids = SegIds(fcinfo, 0, &n, &had_nulls);
	SegCheckSet(ids, n, had_nulls, 0);
	InitMaterializedSRF(fcinfo, 0);
	if (n == 0)
		return (Datum) 0;

	nsp = get_namespace_oid("cdp_internal", false);
	heapoid = get_relname_relid("consent_summary", nsp);
	if (!OidIsValid(heapoid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("table cdp_internal.consent_summary does not exist"),
				 errhint("Reinstall or update the extension cdp.")));
	acl = pg_class_aclcheck(heapoid, GetUserId(), ACL_SELECT);
	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, OBJECT_TABLE, get_rel_name(heapoid));
	if (check_enable_rls(heapoid, InvalidOid, true) == RLS_ENABLED)
	{
		SegSummaryViaSql(rsinfo, PG_GETARG_DATUM(0));
		return (Datum) 0;
	}

	heap = table_open(heapoid, AccessShareLock);
	SegSummaryAttnums(heap, att);
	snap = GetActiveSnapshot();
	if (SegSummaryFromKept(rsinfo, heapoid, snap, ids, n))
	{
		table_close(heap, AccessShareLock);
		return (Datum) 0;
	}
	SegSummaryKeepStart(heapoid, snap, ids, n);
	keep = n <= SEG_SUMMARY_KEEP && snap->snapshot_type == SNAPSHOT_MVCC;
	indexoid = RelationGetPrimaryKeyIndex(heap);
	if (!OidIsValid(indexoid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table cdp_internal.consent_summary has no primary key"),
				 errhint("Reinstall or update the extension cdp.")));
	index = index_open(indexoid, AccessShareLock);
	if (index->rd_rel->relam != BTREE_AM_OID || IndexRelationGetNumberOfKeyAttributes(index) != 1
		|| index->rd_index->indkey.values[0] != att[0])
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the primary key of cdp_internal.consent_summary is not a B-tree on golden_id"),
				 errhint("Reinstall or update the extension cdp.")));

	slot = table_slot_create(heap, NULL);
	scan = index_beginscan(heap, index, snap, 1, 0);
	scan->xs_want_itup = true;
	ScanKeyInit(&key, 1, BTGreaterEqualStrategyNumber, F_INT8GE, Int64GetDatum(0));
	for (int i = 0; i < n; i++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, true, true, true};

		if ((i & 4095) == 0)
			CHECK_FOR_INTERRUPTS();
		values[0] = Int64GetDatum(ids[i]);
		values[1] = values[2] = values[3] = (Datum) 0;

		/*
		 * The ids ascend: the scan goes on from the entry it stands on while
		 * the next id is near it, and descends again (golden_id >= id) past a
		 * gap of SEG_SUMMARY_WALK ids, where walking the leaves would read more
		 * entries than a descent reads pages.  Past the index's end no later id
		 * has a row (the scan is not asked again: it would start over).
		 */
		if (!positioned || (!at_end && pos_key < ids[i] && (uint64) ids[i] - (uint64) pos_key > SEG_SUMMARY_WALK))
		{
			key.sk_argument = Int64GetDatum(ids[i]);
			index_rescan(scan, &key, 1, NULL, 0);
			positioned = true;
			pending = false;
			at_end = false;
		}
		while (!at_end)
		{
			bool		isnull;

			if (!pending)
			{
				if (index_getnext_tid(scan, ForwardScanDirection) == NULL)
				{
					at_end = true;
					break;
				}
				pos_key = DatumGetInt64(index_getattr(scan->xs_itup, 1, scan->xs_itupdesc, &isnull));
				if (isnull)
					continue;	/* a primary key has no NULL; skipped if one were there */
				pending = true;
			}
			if (pos_key > ids[i])
				break;			/* no row for this id; the entry waits for a later one */
			pending = false;
			if (pos_key < ids[i])
				continue;
			/* this id's entry: the version the snapshot sees, if any (else its next entry) */
			if (index_fetch_heap(scan, slot))
			{
				for (int c = 1; c < 4; c++)
					values[c] = slot_getattr(slot, att[c], &nulls[c]);
				/* the columns are NOT NULL; a NULL would read as "no row", never as a value */
				if (nulls[1] || nulls[2] || nulls[3])
					nulls[1] = nulls[2] = nulls[3] = true;
				break;
			}
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		if (keep)
		{
			seg_kept.nulls[i] = nulls[1];
			seg_kept.allowed[i] = nulls[1] ? 0 : DatumGetInt64(values[1]);
			seg_kept.internal[i] = !nulls[1] && DatumGetBool(values[2]);
			seg_kept.partner[i] = !nulls[1] && DatumGetBool(values[3]);
		}
	}
	index_endscan(scan);
	seg_kept.valid = keep;
	ExecDropSingleTupleTableSlot(slot);
	index_close(index, AccessShareLock);
	table_close(heap, AccessShareLock);
	return (Datum) 0;
}
