/*-------------------------------------------------------------------------
 *
 * src/ingest_write.c
 *		cdp_internal.ingest_write_new(...): the writes of ingest's fast path
 *		(a batch of records new to their source, each a new person) in bulk,
 *		the way COPY FROM writes a table: rows built in C, heap tuples put
 *		on pages many at a time (table_multi_insert), index entries added
 *		after each group of rows (src/cdp_bulk.c, which the golden merge's
 *		writer shares).
 *
 * What it writes is what the fast path's SQL statement
 * (cdp_internal.ingest_insert_new, sql/parts/50_ingest.sql) writes, in the
 * same orders, and that statement stays as the fallback:
 *
 * - ids: for each row in array order, a record id (the identity sequence
 *	 of cdp.record) and a golden id (cdp.golden_id_seq), and its timestamp
 *	 (clock_timestamp) for created_at and updated_at;
 * - cdp.record's entries in its unique index of (source_id, source_key) in
 *	 source_id order (bytewise, COLLATE "C"): two sessions writing the same
 *	 new ids add them in one order, so the second waits for the first
 *	 instead of deadlocking, and meets unique_violation as the statement
 *	 does (the caller's subtransaction then takes the general path).  Since
 *	 session 32 the records themselves and their other index entries go in
 *	 first, in record id order, and the unique index's entries after them
 *	 (KeyIndex below: the primary key and the golden id index then grow at
 *	 their right edge);
 * - cdp.event in the rows' ord order: one record.created event a record,
 *	 payload as cdp_internal.record_event_payload builds it;
 * - cdp_internal.match_queue, cdp.patient (golden_new_person_row's row,
 *	 src/golden_single.c) in golden id order, cdp.patient_member opened at
 *	 each record's event.
 *
 * A column the writer does not set gets its default (event_id, at, actor,
 * version, queued_at) evaluated as INSERT evaluates it; NOT NULL and CHECK
 * constraints are checked as INSERT checks them (ExecConstraints).
 * Triggers are not fired row by row: the writer runs only when the one
 * insert trigger of these tables is the foreign key check of
 * record.source_id, which it fires for the first record (every record of
 * the batch names the same source: one check locks the source row as a
 * check per row would).  With any other insert trigger, a rewrite rule, a
 * stored generated column, or row-level security active on a table, it
 * writes nothing and returns NULL: the caller then runs the SQL statement.
 *
 * Memory: the input array, the ids, and one group of CDP_BULK_GROUP_ROWS
 * rows of each table at a time (payloads and profiles in a context reset
 * after each group; CdpBulkAdd puts the other tables' full groups on pages).
 *
 * cdp_internal.ingest_keys_new(src_id, keys) is the fast path's guard
 * before those writes: whether a batch's source ids are all well formed and
 * unknown to the source, by index probes from C.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/hio.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "catalog/pg_trigger_d.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "rewrite/rewriteHandler.h"
#include "storage/bufmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "cdp_bulk.h"
#include "golden.h"
#include "ingest_int.h"

/* the payload builder (src/ingest_attrs.c) */
extern Datum cdp_record_event_payload(PG_FUNCTION_ARGS);

/* the tables written, in the order they are written */
typedef enum WriteTable
{
	WT_RECORD, WT_EVENT, WT_QUEUE, WT_PATIENT, WT_MEMBER, WT_COUNT
} WriteTable;

/* the columns of cdp.record the writer sets (the others: defaults) */
enum
{
	RC_RECORD_ID, RC_GOLDEN_ID, RC_SOURCE_ID, RC_SOURCE_KEY, RC_RAW, RC_FAMILY_NAME,
	RC_GIVEN_NAME, RC_PATRONYMIC, RC_BIRTH_DATE, RC_SEX, RC_PHONES, RC_EMAILS, RC_SNILS,
	RC_OMS, RC_ADDRESS, RC_CITY, RC_HANDLES, RC_EXTRA, RC_ATTRS_HASH, RC_CREATED_AT,
	RC_UPDATED_AT, RC_COUNT
};
static const char *const RecordCols[RC_COUNT] = {
	"record_id", "golden_id", "source_id", "source_key", "raw", "family_name",
	"given_name", "patronymic", "birth_date", "sex", "phones", "emails", "snils",
	"oms", "address", "city", "handles", "extra", "attrs_hash", "created_at",
	"updated_at"
};

/* the fields of cdp_internal.ingest_row read here (RC_RAW..RC_ATTRS_HASH by name) */
enum
{
	EV_KIND, EV_SUBJECT, EV_GOLDEN_ID, EV_PAYLOAD, EV_COUNT
};
static const char *const EventCols[EV_COUNT] = {"kind", "subject", "golden_id", "payload"};
static const char *const QueueCols[] = {"record_id"};
enum
{
	MB_RECORD_ID, MB_GOLDEN_ID, MB_FROM_EVENT, MB_FROM_AT, MB_COUNT
};
static const char *const MemberCols[MB_COUNT] = {"record_id", "golden_id", "from_event", "from_at"};

static const struct
{
	const char *nsp;
	const char *name;
	const char *const *cols;	/* NULL: the caller sets every column */
	int			ncols;
}			WriteTables[WT_COUNT] = {
	{"cdp", "record", RecordCols, RC_COUNT},
	{"cdp", "event", EventCols, EV_COUNT},
	{"cdp_internal", "match_queue", QueueCols, 1},
	{"cdp", "patient", NULL, 0},
	{"cdp", "patient_member", MemberCols, MB_COUNT}
};

/* one row of the input: its fields, and what the writer gives it */
typedef struct WriteRow
{
	Datum	   *v;
	bool	   *n;
	int32		ord;
	int64		record_id;
	int64		golden_id;
	TimestampTz ts;
	int64		event_id;
	TimestampTz event_at;
	ItemPointerData tid;		/* the record's heap tuple (KeyIndexDetach's way) */
} WriteRow;

/* the rows sorted by source_id, bytewise */
static int	WriteKeyField;

/*
 * WriteCmpText
 *		Two texts (detoasted) bytewise, as COLLATE "C" orders them.
 */
static int
WriteCmpText(Datum da, Datum db)
{
	text	   *ta = (text *) DatumGetPointer(da);
	text	   *tb = (text *) DatumGetPointer(db);
	int			la = VARSIZE_ANY_EXHDR(ta);
	int			lb = VARSIZE_ANY_EXHDR(tb);
	int			c = memcmp(VARDATA_ANY(ta), VARDATA_ANY(tb), Min(la, lb));

	if (c != 0)
		return c;
	return (la > lb) - (la < lb);
}

/*
 * WriteCmpKey
 *		qsort comparator of rows by source_id as COLLATE "C" orders them.
 */
static int
WriteCmpKey(const void *pa, const void *pb)
{
	const WriteRow *a = *(WriteRow *const *) pa;
	const WriteRow *b = *(WriteRow *const *) pb;

	return WriteCmpText(a->v[WriteKeyField], b->v[WriteKeyField]);
}

/*
 * WriteCmpOrd
 *		qsort comparator of rows by their ord field (stable: by position).
 */
static int
WriteCmpOrd(const void *pa, const void *pb)
{
	const WriteRow *a = *(WriteRow *const *) pa;
	const WriteRow *b = *(WriteRow *const *) pb;

	if (a->ord != b->ord)
		return a->ord < b->ord ? -1 : 1;
	return a < b ? -1 : (a > b);
}

/*
 * WriteOpen
 *		Opens the five tables (RowExclusiveLock) into relids and rels, with
 *		the namespace of cdp in *nsp; false, having closed them, when one may
 *		not be bulk-written (the caller then runs the fast path's statement).
 */
static bool
WriteOpen(Oid *relids, Relation *rels, Oid *nsp)
{
	Oid			nsp_int;
	Oid			source_relid;

	*nsp = get_namespace_oid("cdp", false);
	nsp_int = get_namespace_oid("cdp_internal", false);
	source_relid = get_relname_relid("source", *nsp);
	for (int w = 0; w < WT_COUNT; w++)
	{
		relids[w] = get_relname_relid(WriteTables[w].name,
									  strcmp(WriteTables[w].nsp, "cdp") == 0 ? *nsp : nsp_int);
		if (!OidIsValid(relids[w]))
			elog(ERROR, "table %s.%s not found", WriteTables[w].nsp, WriteTables[w].name);
	}
	for (int w = 0; w < WT_COUNT; w++)
	{
		rels[w] = table_open(relids[w], RowExclusiveLock);
		if (!CdpBulkWritable(rels[w], w == WT_RECORD ? source_relid : InvalidOid, false))
		{
			for (int k = 0; k <= w; k++)
				table_close(rels[k], NoLock);
			return false;
		}
	}
	return true;
}

/*
 * WriteFields
 *		The fields of cdp_internal.ingest_row the writer reads, by name: ord,
 *		norm and the record's columns (f_rc[RC_SOURCE_KEY..RC_ATTRS_HASH]).
 */
static void
WriteFields(TupleDesc rowdesc, int *f_ord, int *f_norm, int *f_rc)
{
	*f_ord = *f_norm = -1;
	for (int c = 0; c < RC_COUNT; c++)
		f_rc[c] = -1;
	for (int a = 0; a < rowdesc->natts; a++)
	{
		const char *name = NameStr(TupleDescAttr(rowdesc, a)->attname);

		if (TupleDescAttr(rowdesc, a)->attisdropped)
			continue;
		if (strcmp(name, "ord") == 0)
			*f_ord = a;
		else if (strcmp(name, "norm") == 0)
			*f_norm = a;
		for (int c = RC_SOURCE_KEY; c <= RC_ATTRS_HASH; c++)
			if (strcmp(name, RecordCols[c]) == 0)
				f_rc[c] = a;
	}
	for (int c = RC_SOURCE_KEY; c <= RC_ATTRS_HASH; c++)
		if (f_rc[c] < 0)
			elog(ERROR, "field \"%s\" missing from the rows of ingest_write_new", RecordCols[c]);
	if (*f_ord < 0 || *f_norm < 0)
		elog(ERROR, "field ord or norm missing from the rows of ingest_write_new");
}

/*
 * The unique index of cdp.record on (source_id, source_key), written apart
 * (session 32).  Records are put on pages with their other index entries in
 * record id order, which is the order of their ids (the primary key, whose
 * entries carry find_patient's columns, and record_golden_idx then grow at
 * their right edge, as COPY's would), and only then get their entries in
 * the unique index, in source_id order: that index is the one two sessions
 * writing the same new ids meet in, and meeting them in one order makes the
 * second wait for the first instead of deadlocking, as before.  Written in
 * source_id order with the other indexes, the primary key and the golden id
 * index took their entries in a random order within each batch (splits in
 * the middle of pages, a descent per entry): about a twentieth of an
 * import's CPU.  Where the index is not exactly that (expressions, a
 * predicate, deferrable, other columns) records are written all in
 * source_id order as before.
 */
typedef struct KeyIndex
{
	Relation	rel;			/* NULL: not detached, records written in source_id order */
	IndexInfo  *info;
	int			pos;			/* its place in the result relation's arrays */
} KeyIndex;

/*
 * KeyIndexDetach
 *		Takes record_source_key_unique out of rri's index arrays, so that
 *		ExecInsertIndexTuples leaves it out, when it is a plain immediate
 *		unique index on (source_id, source_key); ki->rel stays NULL otherwise.
 */
static void
KeyIndexDetach(ResultRelInfo *rri, Oid nsp, KeyIndex *ki)
{
	Oid			idxid = get_relname_relid("record_source_key_unique", nsp);
	Relation	rel = rri->ri_RelationDesc;
	int			last = rri->ri_NumIndices - 1;

	ki->rel = NULL;
	if (!OidIsValid(idxid))
		return;
	for (int i = 0; i <= last; i++)
	{
		Relation	irel = rri->ri_IndexRelationDescs[i];
		IndexInfo  *ii = rri->ri_IndexRelationInfo[i];

		if (RelationGetRelid(irel) != idxid)
			continue;
		if (!ii->ii_Unique || !irel->rd_index->indimmediate || ii->ii_Expressions != NIL ||
			ii->ii_Predicate != NIL || ii->ii_ExclusionOps != NULL || ii->ii_NumIndexAttrs != 2 ||
			ii->ii_IndexAttrNumbers[0] != get_attnum(RelationGetRelid(rel), "source_id") ||
			ii->ii_IndexAttrNumbers[1] != get_attnum(RelationGetRelid(rel), "source_key"))
			return;
		ki->rel = irel;
		ki->info = ii;
		ki->pos = i;
		/* the last index takes its place; KeyIndexAttach puts it back */
		rri->ri_IndexRelationDescs[i] = rri->ri_IndexRelationDescs[last];
		rri->ri_IndexRelationInfo[i] = rri->ri_IndexRelationInfo[last];
		rri->ri_IndexRelationDescs[last] = irel;
		rri->ri_IndexRelationInfo[last] = ii;
		rri->ri_NumIndices = last;
		return;
	}
}

/*
 * KeyIndexAttach
 *		Puts the detached index back in rri's arrays (where ExecCloseIndices
 *		closes it with the others).
 */
static void
KeyIndexAttach(ResultRelInfo *rri, KeyIndex *ki)
{
	int			last = rri->ri_NumIndices;

	if (ki->rel == NULL)
		return;
	rri->ri_IndexRelationDescs[last] = rri->ri_IndexRelationDescs[ki->pos];
	rri->ri_IndexRelationInfo[last] = rri->ri_IndexRelationInfo[ki->pos];
	rri->ri_IndexRelationDescs[ki->pos] = ki->rel;
	rri->ri_IndexRelationInfo[ki->pos] = ki->info;
	rri->ri_NumIndices = last + 1;
	ki->rel = NULL;
}

/*
 * Memory kept for the transaction (session 33): the writer's per-group
 * memory (WT_CXT_GROUP) and, in cdp_ingest_write_docs, a batch's normalised
 * rows (WT_CXT_ROWS), each one context a transaction whose first block is
 * kept when the context is emptied at the start of each call.  Made anew for
 * each call, their memory (about 15 MB of rows for a batch of 10,000, a few
 * MB of payloads and profiles) came from malloc as fresh pages that the
 * kernel faulted in one at a time, for every chunk of an import: about 5 %
 * of its CPU at 1M went to page faults.  Between calls the contexts hold at
 * most the last batch's memory (the bound of one call, as before); they are
 * children of TopTransactionContext, go with the transaction, and
 * WriteTxnGone forgets them then.
 */
typedef enum WriteTxnSlot
{
	WT_CXT_GROUP, WT_CXT_ROWS, WT_CXT_COUNT
} WriteTxnSlot;
/* the first block of each, kept across resets */
static const Size WriteTxnKeep[WT_CXT_COUNT] = {
	2 * 1024 * 1024,			/* a group of CDP_BULK_GROUP_ROWS payloads or
								 * profiles, about 1 kB each */
	16 * 1024 * 1024			/* a batch of 10,000 rows of the import's or
								 * the first day's kind */
};
static MemoryContext WriteTxn[WT_CXT_COUNT];
static MemoryContextCallback WriteTxnCallback;

/* WriteTxnGone: the transaction's memory is going, and the contexts with it */
static void
WriteTxnGone(void *arg)
{
	for (int i = 0; i < WT_CXT_COUNT; i++)
		WriteTxn[i] = NULL;
}

/*
 * WriteTxnContext
 *		The context of slot for this transaction, empty: made at the first
 *		call of the transaction, reset at the next ones.  The caller uses it
 *		within one call and does not nest two uses of one slot.
 */
static MemoryContext
WriteTxnContext(WriteTxnSlot slot)
{
	bool		any = false;

	if (WriteTxn[slot] != NULL)
	{
		MemoryContextReset(WriteTxn[slot]);
		return WriteTxn[slot];
	}
	for (int i = 0; i < WT_CXT_COUNT; i++)
		any |= WriteTxn[i] != NULL;
	if (slot == WT_CXT_GROUP)
		WriteTxn[slot] = AllocSetContextCreate(TopTransactionContext, "cdp ingest writer group",
											   WriteTxnKeep[slot], WriteTxnKeep[slot],
											   Max(WriteTxnKeep[slot], ALLOCSET_DEFAULT_MAXSIZE));
	else
		WriteTxn[slot] = AllocSetContextCreate(TopTransactionContext, "cdp ingest_write_docs rows",
											   WriteTxnKeep[slot], WriteTxnKeep[slot],
											   Max(WriteTxnKeep[slot], ALLOCSET_DEFAULT_MAXSIZE));
	if (!any)
	{
		/* the first of this transaction's contexts: forget them all when it ends */
		WriteTxnCallback.func = WriteTxnGone;
		WriteTxnCallback.arg = NULL;
		MemoryContextRegisterResetCallback(TopTransactionContext, &WriteTxnCallback);
	}
	return WriteTxn[slot];
}

/*
 * WriteFlushRecords
 *		CdpBulkFlush of the records' target that also keeps each row's heap
 *		tuple id (group[i] is the row in slot i), for its entry in the
 *		detached unique index: puts the group on pages, adds the entries of
 *		the other indexes in group order, fires the first row's insert
 *		triggers when asked (fire_first).
 */
static void
WriteFlushRecords(EState *estate, CdpBulkTarget *t, WriteRow **group)
{
	ItemPointerData tids[CDP_BULK_GROUP_ROWS];
	int			n = t->ngroup;

	CdpBulkFlushTids(estate, t, tids);
	for (int i = 0; i < n; i++)
		group[i]->tid = tids[i];
}

static bool KeysNew(int32 src_id, Datum *elems, bool *elnulls, int nelems);

/*
 * WriteKnownKey
 *		Raises CDP17, the optimistic writer's "a source id is known": caught by
 *		the import's commit (cdp.import_commit), which rolls the chunk back and
 *		checks it again with the unique index of its seen ids (session 34).
 */
static void
WriteKnownKey(void)
{
	ereport(ERROR,
			(errcode(MAKE_SQLSTATE('C', 'D', 'P', '1', '7')),
			 errmsg("a source id of the batch is known to the source or being written by another transaction"),
			 errhint("ingest_write_docs(..., optimistic => true) is for cdp.import_commit, which catches this.")));
}

/*
 * WriteRows
 *		Writes rows[0..nrows) (each with its fields deformed, the source id
 *		detoasted, its ord set) into the open tables as the file's header
 *		says, closes the tables and returns the record ids in ord order.
 *
 *		optimistic (session 34): nobody looked the source ids up before; the
 *		unique index of (source_id, source_key) does it as it takes the
 *		records' entries (UNIQUE_CHECK_PARTIAL: the entry goes in, and a
 *		live, or another transaction's, record with the key is reported
 *		instead of raised or waited for), and any such key raises CDP17
 *		(WriteKnownKey), undoing the batch with the caller's subtransaction.
 *		One descent a key instead of two (the guard's probe, then the
 *		insertion's).  Where that index is not detached (KeyIndex), the keys
 *		are probed first as the guard does.
 */
static ArrayType *
WriteRows(int32 src_id, text *src_name, Oid nsp, Oid *relids, Relation *rels,
		  WriteRow *rows, int nrows, const int *f_rc, int f_norm,
		  Jsonb *rules, int32 rules_version, bool optimistic)
{
	int			f_key = f_rc[RC_SOURCE_KEY];
	WriteRow  **byorder;
	Oid			rid_seq, gid_seq;
	EState	   *estate;
	CdpBulkTarget targets[WT_COUNT];
	MemoryContext group_cxt, old;
	Datum	   *out;
	Datum		rvals[RC_COUNT];
	bool		rnulls[RC_COUNT];
	FmgrInfo	gnp_flinfo;
	LOCAL_FCINFO(gnp, GNP_COUNT);
	Datum	   *pvals;
	bool	   *pnulls;
	KeyIndex	keyidx;

	/* ids and timestamps in array order, as the statement's scan draws them */
	rid_seq = getIdentitySequence(relids[WT_RECORD],
								  get_attnum(relids[WT_RECORD], "record_id"), false);
	gid_seq = get_relname_relid("golden_id_seq", nsp);
	if (!OidIsValid(gid_seq))
		elog(ERROR, "sequence cdp.golden_id_seq not found");
	for (int i = 0; i < nrows; i++)
	{
		rows[i].record_id = nextval_internal(rid_seq, true);
		rows[i].golden_id = nextval_internal(gid_seq, true);
		rows[i].ts = GetCurrentTimestamp();
	}

	/* the executor state of the five inserts */
	{
		CdpBulkTable tables[WT_COUNT];

		memset(tables, 0, sizeof(tables));
		for (int w = 0; w < WT_COUNT; w++)
		{
			tables[w].rel = rels[w];
			tables[w].perms = ACL_INSERT;
		}
		estate = CdpBulkExecutorState(tables, WT_COUNT);
	}
	memset(targets, 0, sizeof(targets));
	for (int w = 0; w < WT_COUNT; w++)
		CdpBulkOpen(estate, &targets[w], rels[w], w + 1, WriteTables[w].cols, WriteTables[w].ncols);
	targets[WT_RECORD].fire_first = true;
	/* kept for the transaction, emptied here (WriteTxnContext) */
	group_cxt = WriteTxnContext(WT_CXT_GROUP);
	AfterTriggerBeginQuery();

	/*
	 * records: on pages with their other index entries in record id order,
	 * then their entries in the unique index of source ids in source_id order
	 * (KeyIndex, above); all in source_id order where that index is not
	 * detached
	 */
	byorder = palloc(sizeof(WriteRow *) * Max(nrows, 1));
	for (int i = 0; i < nrows; i++)
		byorder[i] = &rows[i];
	WriteKeyField = f_key;
	KeyIndexDetach(targets[WT_RECORD].rri, nsp, &keyidx);
	if (optimistic && keyidx.rel == NULL)
	{
		/* no detached insertion to find them: the guard's probes */
		Datum	   *keys = palloc(sizeof(Datum) * Max(nrows, 1));
		bool	   *knulls = palloc0(sizeof(bool) * Max(nrows, 1));

		for (int i = 0; i < nrows; i++)
			keys[i] = rows[i].v[f_key];
		if (!KeysNew(src_id, keys, knulls, nrows))
			WriteKnownKey();
		pfree(keys);
		pfree(knulls);
	}
	if (keyidx.rel == NULL)
		qsort(byorder, nrows, sizeof(WriteRow *), WriteCmpKey);
	for (int i = 0; i < nrows; i++)
	{
		WriteRow   *r = byorder[i];

		rvals[RC_RECORD_ID] = Int64GetDatum(r->record_id);
		rvals[RC_GOLDEN_ID] = Int64GetDatum(r->golden_id);
		rvals[RC_SOURCE_ID] = Int32GetDatum(src_id);
		rvals[RC_CREATED_AT] = rvals[RC_UPDATED_AT] = TimestampTzGetDatum(r->ts);
		for (int c = 0; c < RC_COUNT; c++)
			rnulls[c] = false;
		for (int c = RC_SOURCE_KEY; c <= RC_ATTRS_HASH; c++)
		{
			rvals[c] = r->v[f_rc[c]];
			rnulls[c] = r->n[f_rc[c]];
		}
		if (CdpBulkFull(&targets[WT_RECORD]))
			WriteFlushRecords(estate, &targets[WT_RECORD], &byorder[i - CDP_BULK_GROUP_ROWS]);
		(void) CdpBulkAdd(estate, &targets[WT_RECORD], rvals, rnulls);
	}
	WriteFlushRecords(estate, &targets[WT_RECORD], &byorder[nrows - targets[WT_RECORD].ngroup]);
	if (keyidx.rel != NULL)
	{
		Relation	recrel = rels[WT_RECORD];

		qsort(byorder, nrows, sizeof(WriteRow *), WriteCmpKey);
		for (int i = 0; i < nrows; i++)
		{
			Datum		kv[2];
			bool		kn[2] = {false, false};

			kv[0] = Int32GetDatum(src_id);
			kv[1] = byorder[i]->v[f_key];
			old = MemoryContextSwitchTo(group_cxt);
			if (!index_insert(keyidx.rel, kv, kn, &byorder[i]->tid, recrel,
							  optimistic ? UNIQUE_CHECK_PARTIAL : UNIQUE_CHECK_YES,
							  false, keyidx.info) && optimistic)
				WriteKnownKey();
			MemoryContextSwitchTo(old);
			if ((i + 1) % CDP_BULK_GROUP_ROWS == 0)
			{
				MemoryContextReset(group_cxt);
				CHECK_FOR_INTERRUPTS();
			}
		}
		MemoryContextReset(group_cxt);
		KeyIndexAttach(targets[WT_RECORD].rri, &keyidx);
	}

	/* events, in ord order; their ids and times for the membership */
	for (int i = 0; i < nrows; i++)
		byorder[i] = &rows[i];
	qsort(byorder, nrows, sizeof(WriteRow *), WriteCmpOrd);
	{
		TupleDesc	edesc = RelationGetDescr(rels[WT_EVENT]);
		AttrNumber	a_id = get_attnum(relids[WT_EVENT], "event_id");
		AttrNumber	a_at = get_attnum(relids[WT_EVENT], "at");
		Datum		ev[EV_COUNT];
		bool		en[EV_COUNT] = {false, false, false, false};
		Datum		kind = CStringGetTextDatum("record.created");

		if (a_id == InvalidAttrNumber || a_at == InvalidAttrNumber ||
			TupleDescAttr(edesc, a_id - 1)->atttypid != INT8OID ||
			TupleDescAttr(edesc, a_at - 1)->atttypid != TIMESTAMPTZOID)
			elog(ERROR, "cdp.event has no event_id bigint or at timestamptz");
		for (int i = 0; i < nrows; i++)
		{
			WriteRow   *r = byorder[i];
			TupleTableSlot *slot;

			old = MemoryContextSwitchTo(group_cxt);
			ev[EV_KIND] = kind;
			ev[EV_SUBJECT] = Int64GetDatum(r->record_id);
			ev[EV_GOLDEN_ID] = Int64GetDatum(r->golden_id);
			en[EV_PAYLOAD] = r->n[f_rc[RC_RAW]] || r->n[f_norm];	/* STRICT */
			if (!en[EV_PAYLOAD])
				ev[EV_PAYLOAD] = DirectFunctionCall7(cdp_record_event_payload, PointerGetDatum(src_name),
													 r->v[f_key], Int32GetDatum(1), r->v[f_rc[RC_RAW]],
													 r->v[f_norm], TimestampTzGetDatum(r->ts),
													 TimestampTzGetDatum(r->ts));
			slot = CdpBulkAdd(estate, &targets[WT_EVENT], ev, en);
			MemoryContextSwitchTo(old);
			if (slot->tts_isnull[a_id - 1] || slot->tts_isnull[a_at - 1])
				elog(ERROR, "a new event has no event_id or at");
			r->event_id = DatumGetInt64(slot->tts_values[a_id - 1]);
			r->event_at = DatumGetTimestampTz(slot->tts_values[a_at - 1]);
			if (CdpBulkFull(&targets[WT_EVENT]))
			{
				CdpBulkFlush(estate, &targets[WT_EVENT]);
				MemoryContextReset(group_cxt);
			}
		}
		CdpBulkFlush(estate, &targets[WT_EVENT]);
		MemoryContextReset(group_cxt);
	}

	/* the match queue, in array order */
	for (int i = 0; i < nrows; i++)
	{
		Datum		q = Int64GetDatum(rows[i].record_id);
		bool		qn = false;

		(void) CdpBulkAdd(estate, &targets[WT_QUEUE], &q, &qn);
	}
	CdpBulkFlush(estate, &targets[WT_QUEUE]);

	/* the profiles, in golden id order (array order) */
	MemSet(&gnp_flinfo, 0, sizeof(gnp_flinfo));
	gnp_flinfo.fn_nargs = GNP_COUNT;
	gnp_flinfo.fn_mcxt = CurrentMemoryContext;
	gnp_flinfo.fn_oid = InvalidOid;
	InitFunctionCallInfoData(*gnp, &gnp_flinfo, GNP_COUNT, InvalidOid, NULL, NULL);
	pvals = palloc(sizeof(Datum) * Max(RelationGetDescr(rels[WT_PATIENT])->natts, 1));
	pnulls = palloc(sizeof(bool) * Max(RelationGetDescr(rels[WT_PATIENT])->natts, 1));
	for (int i = 0; i < nrows; i++)
	{
		WriteRow   *r = &rows[i];
		static const int fields[][2] = {
			{GNP_FAMILY_NAME, RC_FAMILY_NAME}, {GNP_GIVEN_NAME, RC_GIVEN_NAME},
			{GNP_PATRONYMIC, RC_PATRONYMIC}, {GNP_BIRTH_DATE, RC_BIRTH_DATE}, {GNP_SEX, RC_SEX},
			{GNP_PHONES, RC_PHONES}, {GNP_EMAILS, RC_EMAILS}, {GNP_SNILS, RC_SNILS},
			{GNP_OMS, RC_OMS}, {GNP_ADDRESS, RC_ADDRESS}, {GNP_CITY, RC_CITY},
			{GNP_HANDLES, RC_HANDLES}, {GNP_EXTRA, RC_EXTRA}
		};

		for (int a = 0; a < GNP_COUNT; a++)
			gnp->args[a].isnull = false;
		gnp->args[GNP_GOLDEN_ID].value = Int64GetDatum(r->golden_id);
		gnp->args[GNP_RULES].value = JsonbPGetDatum(rules);
		gnp->args[GNP_RULES_VERSION].value = Int32GetDatum(rules_version);
		gnp->args[GNP_RECORD_ID].value = Int64GetDatum(r->record_id);
		gnp->args[GNP_CREATED_AT].value = TimestampTzGetDatum(r->ts);
		gnp->args[GNP_UPDATED_AT].value = TimestampTzGetDatum(r->ts);
		for (int k = 0; k < lengthof(fields); k++)
		{
			gnp->args[fields[k][0]].value = r->v[f_rc[fields[k][1]]];
			gnp->args[fields[k][0]].isnull = r->n[f_rc[fields[k][1]]];
		}
		old = MemoryContextSwitchTo(group_cxt);
		GoldenNewPersonValues(gnp, RelationGetDescr(rels[WT_PATIENT]), pvals, pnulls);
		(void) CdpBulkAdd(estate, &targets[WT_PATIENT], pvals, pnulls);
		MemoryContextSwitchTo(old);
		if (CdpBulkFull(&targets[WT_PATIENT]))
		{
			CdpBulkFlush(estate, &targets[WT_PATIENT]);
			MemoryContextReset(group_cxt);
		}
	}
	CdpBulkFlush(estate, &targets[WT_PATIENT]);
	MemoryContextReset(group_cxt);

	/* the membership, in event order */
	for (int i = 0; i < nrows; i++)
	{
		WriteRow   *r = byorder[i];
		Datum		mv[MB_COUNT];
		bool		mn[MB_COUNT] = {false, false, false, false};

		mv[MB_RECORD_ID] = Int64GetDatum(r->record_id);
		mv[MB_GOLDEN_ID] = Int64GetDatum(r->golden_id);
		mv[MB_FROM_EVENT] = Int64GetDatum(r->event_id);
		mv[MB_FROM_AT] = TimestampTzGetDatum(r->event_at);
		(void) CdpBulkAdd(estate, &targets[WT_MEMBER], mv, mn);
	}

	CdpBulkEnd(estate, targets, WT_COUNT, true);
	MemoryContextReset(group_cxt);

	/* the record ids in ord order */
	out = palloc(sizeof(Datum) * Max(nrows, 1));
	for (int i = 0; i < nrows; i++)
		out[i] = Int64GetDatum(byorder[i]->record_id);
	return construct_array(out, nrows, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

PG_FUNCTION_INFO_V1(cdp_ingest_write_new);

/*
 * cdp_ingest_write_new
 *		cdp_internal.ingest_write_new(src_id int, src_name text, new_rows
 *		cdp_internal.ingest_row[], skip_invalid boolean, rules jsonb,
 *		rules_version int) RETURNS bigint[]: writes the rows as
 *		cdp_internal.ingest_insert_new does (see the file's header) and
 *		returns their record ids in ord order; NULL, having written nothing,
 *		when a table has an insert trigger other than record's foreign key
 *		check, a rule or a stored generated column, or row-level security is
 *		active for one of them.
 */
Datum
cdp_ingest_write_new(PG_FUNCTION_ARGS)
{
	int32		src_id;
	text	   *src_name;
	AnyArrayType *arr;
	bool		skip_invalid;
	Jsonb	   *rules;
	int32		rules_version;
	TupleDesc	rowdesc;
	int			f_ord, f_norm, f_key, f_rc[RC_COUNT];
	Datum	   *elems;
	bool	   *elnulls;
	int			nelems;
	WriteRow   *rows;
	int			nrows = 0;
	Oid			nsp;
	Oid			relids[WT_COUNT];
	Relation	rels[WT_COUNT];

	for (int i = 0; i < 6; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("the arguments of ingest_write_new must not be null")));
	src_id = PG_GETARG_INT32(0);
	src_name = PG_GETARG_TEXT_PP(1);
	/* flat or expanded: a PL/pgSQL variable's rows are read where they are, not flattened */
	arr = PG_GETARG_ANY_ARRAY_P(2);
	skip_invalid = PG_GETARG_BOOL(3);
	rules = PG_GETARG_JSONB_P(4);
	rules_version = PG_GETARG_INT32(5);

	/* the tables: the fast path's guards again (the caller checked them), and triggers */
	if (!WriteOpen(relids, rels, &nsp))
		PG_RETURN_NULL();

	/* the rows */
	if (AARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("the rows of ingest_write_new must be a one-dimensional array")));
	rowdesc = lookup_rowtype_tupdesc_copy(AARR_ELEMTYPE(arr), -1);
	WriteFields(rowdesc, &f_ord, &f_norm, f_rc);
	f_key = f_rc[RC_SOURCE_KEY];

	if (VARATT_IS_EXPANDED_HEADER(arr))
	{
		deconstruct_expanded_array(&arr->xpn);
		elems = arr->xpn.dvalues;
		nelems = arr->xpn.nelems;
		elnulls = arr->xpn.dnulls;
		if (elnulls == NULL)
			elnulls = palloc0(sizeof(bool) * Max(nelems, 1));
	}
	else
		deconstruct_array(&arr->flt, AARR_ELEMTYPE(arr), -1, false, TYPALIGN_DOUBLE, &elems, &elnulls, &nelems);
	rows = palloc0(sizeof(WriteRow) * Max(nelems, 1));
	for (int i = 0; i < nelems; i++)
	{
		HeapTupleData tup;
		WriteRow   *r = &rows[nrows];

		if (elnulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("row %d of ingest_write_new is null", i + 1)));
		tup.t_data = DatumGetHeapTupleHeader(elems[i]);
		tup.t_len = HeapTupleHeaderGetDatumLength(tup.t_data);
		ItemPointerSetInvalid(&tup.t_self);
		tup.t_tableOid = InvalidOid;
		r->v = palloc(sizeof(Datum) * rowdesc->natts);
		r->n = palloc(sizeof(bool) * rowdesc->natts);
		heap_deform_tuple(&tup, rowdesc, r->v, r->n);
		if (skip_invalid && !r->n[f_rc[RC_EXTRA]])
		{
			Jsonb	   *extra = DatumGetJsonbP(r->v[f_rc[RC_EXTRA]]);

			if (JB_ROOT_IS_OBJECT(extra) &&
				getKeyJsonValueFromContainer(&extra->root, "_invalid", 8, NULL) != NULL)
				continue;
		}
		if (r->n[f_key])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("row %d of ingest_write_new has no source_id", i + 1)));
		r->v[f_key] = PointerGetDatum(PG_DETOAST_DATUM_PACKED(r->v[f_key]));
		r->ord = r->n[f_ord] ? 0 : DatumGetInt32(r->v[f_ord]);
		nrows++;
	}

	PG_RETURN_ARRAYTYPE_P(WriteRows(src_id, src_name, nsp, relids, rels, rows, nrows, f_rc, f_norm,
									rules, rules_version, false));
}

/*
 * KeysCmp
 *		qsort comparator of keys (text, detoasted) bytewise, as COLLATE "C"
 *		orders them: the order KeysNew probes in.
 */
static int
KeysCmp(const void *pa, const void *pb)
{
	return WriteCmpText(*(const Datum *) pa, *(const Datum *) pb);
}

/*
 * KeysWellFormed
 *		Whether every key of elems is not null, not blank (only spaces, as
 *		btrim sees it) and at most 200 bytes: the guard's cheap checks, without
 *		a look at the table (a malformed key sends the batch the general way).
 *		Detoasts the keys in place.
 */
static bool
KeysWellFormed(Datum *elems, bool *elnulls, int nelems)
{
	for (int i = 0; i < nelems; i++)
	{
		text	   *t;
		const char *s;
		int			len;
		bool		blank = true;

		if (elnulls[i])
			return false;
		t = DatumGetTextPP(elems[i]);
		s = VARDATA_ANY(t);
		len = VARSIZE_ANY_EXHDR(t);
		if (len > 200)
			return false;
		for (int k = 0; k < len && blank; k++)
			blank = s[k] == ' ';
		if (blank)
			return false;
		elems[i] = PointerGetDatum(t);
	}
	return true;
}

/*
 * KeysNew
 *		Whether every key of elems may go the fast path of a batch of new
 *		records (see cdp_ingest_keys_new): well formed (KeysWellFormed), and
 *		unknown to the source.  Detoasts the keys in place.
 *
 *		The keys are probed in bytewise order, not in the order given
 *		(session 33): a batch's keys are scattered over the whole unique
 *		index (a file's ids in random order), so probing them as given sent
 *		each descent to a leaf and internal pages far from the last one's;
 *		in order, consecutive probes walk the index's pages from left to
 *		right and find them in the CPU's caches.  The answer does not depend
 *		on the order (every key must be absent; the first present one stops
 *		the probes either way), and the caller's array is left as given.
 */
static bool
KeysNew(int32 src_id, Datum *elems, bool *elnulls, int nelems)
{
	Oid			nsp, recid, idxid;
	Relation	rel, idx;
	TupleTableSlot *slot;
	IndexScanDesc scan;
	ScanKeyData skey[2];
	Datum	   *probe;
	bool		ok = true;

	if (!KeysWellFormed(elems, elnulls, nelems))
		return false;
	if (nelems == 0)
		return true;
	/* a sorted copy of the keys (the caller's array keeps its order) */
	probe = palloc(sizeof(Datum) * nelems);
	memcpy(probe, elems, sizeof(Datum) * nelems);
	qsort(probe, nelems, sizeof(Datum), KeysCmp);

	nsp = get_namespace_oid("cdp", false);
	recid = get_relname_relid("record", nsp);
	idxid = get_relname_relid("record_source_key_unique", nsp);
	if (!OidIsValid(recid) || !OidIsValid(idxid))
		elog(ERROR, "cdp.record or its index record_source_key_unique not found");
	rel = table_open(recid, AccessShareLock);
	idx = index_open(idxid, AccessShareLock);
	if (idx->rd_index->indrelid != recid || idx->rd_index->indnkeyatts != 2 ||
		TupleDescAttr(RelationGetDescr(idx), 0)->atttypid != INT4OID ||
		TupleDescAttr(RelationGetDescr(idx), 1)->atttypid != TEXTOID)
		elog(ERROR, "index record_source_key_unique is not (source_id integer, source_key text)");
	slot = table_slot_create(rel, NULL);
	scan = index_beginscan(rel, idx, GetActiveSnapshot(), 2, 0);
	for (int i = 0; i < nelems && ok; i++)
	{
		ScanKeyInit(&skey[0], 1, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(src_id));
		ScanKeyInit(&skey[1], 2, BTEqualStrategyNumber, F_TEXTEQ, probe[i]);
		skey[1].sk_collation = idx->rd_indcollation[1];
		index_rescan(scan, skey, 2, NULL, 0);
		if (index_getnext_slot(scan, ForwardScanDirection, slot))
			ok = false;
		CHECK_FOR_INTERRUPTS();
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(idx, AccessShareLock);
	table_close(rel, AccessShareLock);
	pfree(probe);
	return ok;
}

PG_FUNCTION_INFO_V1(cdp_ingest_keys_new);

/*
 * cdp_ingest_keys_new
 *		cdp_internal.ingest_keys_new(src_id int, keys text[]) RETURNS boolean:
 *		whether every key may go the fast path of a batch of new records:
 *		not null, not blank (only spaces, as btrim sees it), at most 200 bytes,
 *		and no record of source src_id visible to the statement's snapshot has
 *		it.  Each key is looked up by itself in the unique index of
 *		cdp.record (source_id, source_key), as the import's SQL check did with
 *		one index scan a key (session 24: the same probes without a subplan's
 *		executor work per key).  Stops at the first key that fails.
 */
Datum
cdp_ingest_keys_new(PG_FUNCTION_ARGS)
{
	int32		src_id;
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *elnulls;
	int			nelems;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the arguments of ingest_keys_new must not be null")));
	src_id = PG_GETARG_INT32(0);
	arr = PG_GETARG_ARRAYTYPE_P(1);
	if (ARR_NDIM(arr) > 1 || ARR_ELEMTYPE(arr) != TEXTOID)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("the keys of ingest_keys_new must be a one-dimensional text array")));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &elnulls, &nelems);

	PG_RETURN_BOOL(KeysNew(src_id, elems, elnulls, nelems));
}

PG_FUNCTION_INFO_V1(cdp_ingest_write_docs);

/*
 * cdp_ingest_write_docs
 *		cdp_internal.ingest_write_docs(src_id int, src_name text, source_ids
 *		text[], attrs jsonb[], lenient boolean, skip_invalid boolean,
 *		check_keys boolean, rules jsonb, rules_version int, optimistic
 *		boolean DEFAULT false, OUT ids bigint[],
 *		OUT bad_ord int[], OUT bad_invalid jsonb[]): the fast path from the
 *		documents to the pages in one call (session 29): each row normalised
 *		as cdp_internal.normalize_records does it (no old hashes: the rows are
 *		new) and written as cdp_internal.ingest_write_new writes them, without
 *		the array of cdp_internal.ingest_row between the two (built, copied
 *		into a PL/pgSQL variable and read back, it was about a tenth of an
 *		import's CPU).  Every row is normalised before anything is written, so
 *		a refusal raises as the normaliser's would, with nothing written.
 *
 *		check_keys: first the guard of cdp_internal.ingest_keys_new on
 *		source_ids (well formed, unknown to the source).  optimistic (session
 *		34; not with check_keys): only the guard's checks of well-formed ids
 *		first, then the unique index finds a known id as the records' entries
 *		go in and raises CDP17 (WriteRows), which the caller's subtransaction
 *		undoes: cdp.import_commit's chunks of ids not looked up before.
 *		skip_invalid: rows
 *		whose lenient normalisation set values aside (extra._invalid) are not
 *		written; their positions (1-based) and _invalid objects come back in
 *		bad_ord and bad_invalid (empty arrays otherwise).  ids: the written
 *		records' ids in row order.  All three NULL, having written nothing,
 *		when the keys fail the guard or a table may not be bulk-written (the
 *		caller then takes its former way).
 *
 *		Memory: the batch's rows (one heap tuple each, about 1.5 kB at the
 *		generator's rows) and what the writer keeps per group; each row's
 *		scratch is freed after the row.
 */
Datum
cdp_ingest_write_docs(PG_FUNCTION_ARGS)
{
	int32		src_id;
	text	   *src_name;
	ArrayType  *ids_arr, *attrs_arr;
	bool		lenient, skip_invalid, check_keys, optimistic;
	Jsonb	   *rules;
	int32		rules_version;
	Datum	   *ids, *docs;
	bool	   *ids_null, *docs_null;
	int			n, ndocs;
	TupleDesc	restype;
	TupleDesc	rowdesc;
	Oid			rowtype;
	int			f_ord, f_norm, f_rc[RC_COUNT];
	WriteRow   *rows;
	int			nrows = 0;
	Oid			nsp;
	Oid			relids[WT_COUNT];
	Relation	rels[WT_COUNT];
	MemoryContext rowcxt, rowscxt, batchcxt;
	ArrayBuildState *bad_ord = NULL, *bad_inv = NULL;
	Datum		result[3];
	bool		rnull[3] = {true, true, true};

	if (PG_NARGS() != 10)
		elog(ERROR, "ingest_write_docs takes 10 arguments, not %d", PG_NARGS());
	for (int i = 0; i < 10; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("the arguments of ingest_write_docs must not be null")));
	src_id = PG_GETARG_INT32(0);
	src_name = PG_GETARG_TEXT_PP(1);
	ids_arr = PG_GETARG_ARRAYTYPE_P(2);
	attrs_arr = PG_GETARG_ARRAYTYPE_P(3);
	lenient = PG_GETARG_BOOL(4);
	skip_invalid = PG_GETARG_BOOL(5);
	check_keys = PG_GETARG_BOOL(6);
	rules = PG_GETARG_JSONB_P(7);
	rules_version = PG_GETARG_INT32(8);
	optimistic = PG_GETARG_BOOL(9);
	if (optimistic && check_keys)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("check_keys and optimistic of ingest_write_docs cannot both be true"),
				 errdetail("optimistic leaves the look-up of the source ids to the unique index.")));
	if (get_call_result_type(fcinfo, NULL, &restype) != TYPEFUNC_COMPOSITE || restype->natts != 3)
		elog(ERROR, "ingest_write_docs must return a row of three columns");
	restype = BlessTupleDesc(restype);
	if (ARR_NDIM(ids_arr) > 1 || ARR_NDIM(attrs_arr) > 1 ||
		ARR_ELEMTYPE(ids_arr) != TEXTOID || ARR_ELEMTYPE(attrs_arr) != JSONBOID)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("source_ids and attrs must be one-dimensional arrays")));
	deconstruct_array(ids_arr, TEXTOID, -1, false, TYPALIGN_INT, &ids, &ids_null, &n);
	deconstruct_array(attrs_arr, JSONBOID, -1, false, TYPALIGN_INT, &docs, &docs_null, &ndocs);
	if (ndocs != n)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("source_ids and attrs differ in length"),
				 errdetail("%d source ids, %d attrs documents.", n, ndocs)));

	/* the guard on the keys, then the tables: either declines before any work */
	if ((check_keys && !KeysNew(src_id, ids, ids_null, n)) ||
		(optimistic && !KeysWellFormed(ids, ids_null, n)))
		PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(restype, result, rnull)));
	if (!WriteOpen(relids, rels, &nsp))
		PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(restype, result, rnull)));

	/* the rows' type: cdp_internal.ingest_row, whose columns the normaliser fills (IR_*) */
	rowtype = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid, CStringGetDatum("ingest_row"),
							  ObjectIdGetDatum(get_namespace_oid("cdp_internal", false)));
	if (!OidIsValid(rowtype))
		elog(ERROR, "type cdp_internal.ingest_row not found");
	rowdesc = lookup_rowtype_tupdesc_copy(rowtype, -1);
	if (rowdesc->natts != IR_NATTS)
		elog(ERROR, "cdp_internal.ingest_row has %d columns, expected %d", rowdesc->natts, IR_NATTS);
	WriteFields(rowdesc, &f_ord, &f_norm, f_rc);

	/* every row normalised first (as normalize_records: a refusal writes nothing) */
	LoadIdentTypes();
	batchcxt = CurrentMemoryContext;
	rowscxt = WriteTxnContext(WT_CXT_ROWS);
	rowcxt = AllocSetContextCreate(batchcxt, "cdp ingest_write_docs row", ALLOCSET_DEFAULT_SIZES);
	rows = MemoryContextAllocZero(rowscxt, sizeof(WriteRow) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		Datum		values[IR_NATTS];
		bool		nulls[IR_NATTS];
		HeapTuple	tup;
		WriteRow   *r = &rows[nrows];

		IngestCheckRowGiven(i + 1, ids_null[i], docs_null[i]);
		CHECK_FOR_INTERRUPTS();
		MemoryContextSwitchTo(rowcxt);
		(void) IngestNormalizeRow(i + 1, ids[i], docs[i], NULL, lenient, values, nulls);
		tup = heap_form_tuple(rowdesc, values, nulls);
		MemoryContextSwitchTo(rowscxt);
		/* the row's tuple outlives the row's scratch; its fields are read in place */
		tup = heap_copytuple(tup);
		MemoryContextReset(rowcxt);
		r->v = palloc(sizeof(Datum) * IR_NATTS);
		r->n = palloc(sizeof(bool) * IR_NATTS);
		heap_deform_tuple(tup, rowdesc, r->v, r->n);
		MemoryContextSwitchTo(batchcxt);
		if (skip_invalid && !r->n[f_rc[RC_EXTRA]])
		{
			Jsonb	   *extra = DatumGetJsonbP(r->v[f_rc[RC_EXTRA]]);
			JsonbValue *inv = NULL;

			if (JB_ROOT_IS_OBJECT(extra))
				inv = getKeyJsonValueFromContainer(&extra->root, "_invalid", 8, NULL);
			if (inv != NULL)
			{
				bad_ord = accumArrayResult(bad_ord, Int32GetDatum(i + 1), false, INT4OID, batchcxt);
				bad_inv = accumArrayResult(bad_inv, JsonbPGetDatum(JsonbValueToJsonb(inv)), false,
										   JSONBOID, batchcxt);
				continue;
			}
		}
		r->v[f_rc[RC_SOURCE_KEY]] = PointerGetDatum(PG_DETOAST_DATUM_PACKED(r->v[f_rc[RC_SOURCE_KEY]]));
		r->ord = DatumGetInt32(r->v[f_ord]);
		nrows++;
	}
	MemoryContextDelete(rowcxt);

	result[0] = PointerGetDatum(WriteRows(src_id, src_name, nsp, relids, rels, rows, nrows, f_rc, f_norm,
										  rules, rules_version, optimistic));
	result[1] = bad_ord ? makeArrayResult(bad_ord, batchcxt) : PointerGetDatum(construct_empty_array(INT4OID));
	result[2] = bad_inv ? makeArrayResult(bad_inv, batchcxt) : PointerGetDatum(construct_empty_array(JSONBOID));
	rnull[0] = rnull[1] = rnull[2] = false;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(restype, result, rnull)));
}
