/*-------------------------------------------------------------------------
 *
 * src/golden_link_write.c
 *		cdp_internal.golden_link_write(...): the writes of a batch of links
 *		(cdp_internal.golden_link_apply, sql/parts/73_golden_link.sql) that
 *		were one SQL statement per table, done in C (issue 16): the events of
 *		the links, the membership intervals the merges close and open, and the
 *		redirects of the absorbed golden ids.
 *
 * What it writes is what golden_link_apply's SQL statements write, in the
 * same orders, and those statements stay as the fallback:
 *
 * - cdp.event in link order: record.linked (subject a, payload a, b,
 *	 evidence) for a link inside one person; patient.merged (subject the
 *	 absorbed id, payload from, into, the moved records in id order, a, b,
 *	 evidence), then patient.restored when an archived survivor meets an
 *	 active person; nothing for a link a no_match decision refused.  The
 *	 columns the statement leaves to their defaults (event_id, at, actor)
 *	 get them here, evaluated row by row in the same order.  A run's links
 *	 (cdp_internal.golden_link_run) give their evidence in parts, and each
 *	 object is built into its payload (MatchEvidencePush, match.h; issue 12,
 *	 session 36), the same jsonb the run built before;
 * - cdp.patient_member: the open interval of every moved record ends at its
 *	 first move's event (an update found through the open-interval index),
 *	 then one interval per move, in record then link order, ending at the
 *	 record's next move;
 * - cdp.patient_redirect: one row per merge, in link order.
 *
 * Rows are put on pages many at a time (table_multi_insert, as COPY FROM
 * does; src/cdp_bulk.c, shared with src/ingest_write.c), index entries added after each group; NOT
 * NULL and CHECK constraints are checked as INSERT and UPDATE check them;
 * privileges are checked as the statements would (INSERT; UPDATE and
 * SELECT on the membership).  Triggers are not fired: when one of the three
 * tables has an insert trigger (or the membership an update trigger; the
 * log's own refusal of UPDATE and DELETE does not matter), a rewrite rule, a stored
 * generated column, or row-level security active for the current user, or
 * when the citus extension is installed (the tables may be shells of
 * distributed ones, which only Citus's executor writes), the function
 * writes nothing and says so (written = false), and the caller runs its
 * SQL statements.
 *
 * It returns what the caller's remaining statements (records, clinical
 * events, restored and absorbed profiles, the fold) need: the merges (link
 * number, survivor, absorbed id), the final person of each moved record,
 * and the restored persons with their event times.
 *
 * Memory: the arguments, one entry per link and per move, and one group of
 * CDP_BULK_GROUP_ROWS rows per table (payloads in a context reset after each
 * group of events).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/visibilitymap.h"
#include "access/hio.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_am_d.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_trigger_d.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "rewrite/rewriteHandler.h"
#include "storage/bufmgr.h"
#include "storage/predicate.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "cdp_bulk.h"
#include "cdp_jsonb.h"
#include "golden.h"
#include "match.h"

/* the tables written */
typedef enum LinkTable
{
	LT_EVENT, LT_MEMBER, LT_REDIRECT, LT_COUNT
} LinkTable;

/* the columns set, per table (the others: their defaults) */
enum
{
	LE_KIND, LE_SUBJECT, LE_GOLDEN_ID, LE_PAYLOAD, LE_COUNT
};
static const char *const LinkEventCols[LE_COUNT] = {"kind", "subject", "golden_id", "payload"};
enum
{
	LM_RECORD_ID, LM_GOLDEN_ID, LM_FROM_EVENT, LM_FROM_AT, LM_TO_EVENT, LM_TO_AT, LM_COUNT
};
static const char *const LinkMemberCols[LM_COUNT] = {
	"record_id", "golden_id", "from_event", "from_at", "to_event", "to_at"
};
enum
{
	LR_OLD_ID, LR_NEW_ID, LR_AT, LR_EVENT_ID, LR_COUNT
};
static const char *const LinkRedirectCols[LR_COUNT] = {"old_id", "new_id", "at", "event_id"};

static const struct
{
	const char *name;
	const char *const *cols;
	int			ncols;
	AclMode		perms;
}			LinkTables[LT_COUNT] = {
	{"event", LinkEventCols, LE_COUNT, ACL_INSERT},
	{"patient_member", LinkMemberCols, LM_COUNT, ACL_INSERT | ACL_UPDATE | ACL_SELECT},
	{"patient_redirect", LinkRedirectCols, LR_COUNT, ACL_INSERT}
};

/* one move of a record: the link (0-based) whose merge moves it */
typedef struct LinkMove
{
	int64		rec;
	int32		link;
} LinkMove;

/*
 * LinkPayload
 *		The payload of a link's event, as jsonb_build_object builds it in
 *		golden_link_apply: for a merge {from, into, records, a, b, evidence},
 *		else {a, b, evidence}; evidence NULL is JSON null.  With evp, the
 *		evidence is the object of link (0-based) built from its parts, pushed
 *		here token for token as the stored object would be (issue 12, session
 *		36).
 */
static Jsonb *
LinkPayload(bool merge, int64 gone, int64 keep, const LinkMove *moves, int nmoves,
			int64 ra, int64 rb, Jsonb *evidence, MatchEvidence *evp, int link)
{
	JsonbParseState *st = NULL;
	JsonbValue	v;

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	if (merge)
	{
		CdpJsonbPushKey(&st, "from");
		GoldenPushInt64(&st, WJB_VALUE, gone);
		CdpJsonbPushKey(&st, "into");
		GoldenPushInt64(&st, WJB_VALUE, keep);
		CdpJsonbPushKey(&st, "records");
		if (nmoves == 0)
		{
			/* to_jsonb of the statement's missing aggregate: null */
			GoldenPushNull(&st, WJB_VALUE);
		}
		else
		{
			pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
			for (int i = 0; i < nmoves; i++)
				GoldenPushInt64(&st, WJB_ELEM, moves[i].rec);
			pushJsonbValue(&st, WJB_END_ARRAY, NULL);
		}
	}
	CdpJsonbPushKey(&st, "a");
	GoldenPushInt64(&st, WJB_VALUE, ra);
	CdpJsonbPushKey(&st, "b");
	GoldenPushInt64(&st, WJB_VALUE, rb);
	CdpJsonbPushKey(&st, "evidence");
	if (evp != NULL)
		(void) MatchEvidencePush(&st, evp, link, ra, rb);
	else if (evidence == NULL)
		GoldenPushNull(&st, WJB_VALUE);
	else
	{
		v.type = jbvBinary;
		v.val.binary.data = &evidence->root;
		v.val.binary.len = VARSIZE(evidence) - VARHDRSZ;
		pushJsonbValue(&st, WJB_VALUE, &v);
	}
	return JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
}

/*
 * LinkRestoredPayload
 *		The payload of patient.restored: {"comment": "merged with active
 *		patient <gone>"}.
 */
static Jsonb *
LinkRestoredPayload(int64 gone)
{
	JsonbParseState *st = NULL;
	JsonbValue	v;

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	CdpJsonbPushKey(&st, "comment");
	v.type = jbvString;
	v.val.string.val = psprintf("merged with active patient " INT64_FORMAT, gone);
	v.val.string.len = strlen(v.val.string.val);
	pushJsonbValue(&st, WJB_VALUE, &v);
	return JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
}

/*
 * LinkCmpMove
 *		qsort comparator of moves by record, then link.
 */
static int
LinkCmpMove(const void *pa, const void *pb)
{
	const LinkMove *a = pa;
	const LinkMove *b = pb;

	if (a->rec != b->rec)
		return a->rec < b->rec ? -1 : 1;
	return (a->link > b->link) - (a->link < b->link);
}

/*
 * LinkArrayArg
 *		The elements of the one-dimensional array argument argno, whose
 *		element type must be elemtype (NULL elements allowed, flagged in
 *		*nulls).  n >= 0: an array of the merge's plan (golden_link_write),
 *		which must have n elements, one per link; n < 0: a caller's array
 *		(golden_link_read), of any length, returned in *len.
 */
static Datum *
LinkArrayArg(FunctionCallInfo fcinfo, int argno, const char *name, Oid elemtype, int n,
			 int *len, bool **nulls)
{
	ArrayType  *arr;
	Datum	   *d;
	int			got;
	int16		typlen;
	bool		byval;
	char		align;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name)));
	arr = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_NDIM(arr) > 1 || ARR_ELEMTYPE(arr) != elemtype)
	{
		if (n < 0)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("%s must be a one-dimensional %s array", name, format_type_be(elemtype))));
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array of the plan's type", name)));
	}
	get_typlenbyvalalign(elemtype, &typlen, &byval, &align);
	deconstruct_array(arr, elemtype, typlen, byval, align, &d, nulls, &got);
	if (n >= 0 && got != n)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s has %d elements, the links %d", name, got, n)));
	if (len != NULL)
		*len = got;
	return d;
}

/*
 * LinkCloseOpen
 *		Ends the open membership interval of record rec at (ev, at): finds it
 *		through the open-interval index (visible to the statement's snapshot,
 *		to_event NULL) and updates it in place of UPDATE; its index entries
 *		go to isort (added sorted after the last close: the lookups read only
 *		the open-interval index, which a closed interval is not in).  A
 *		record without an open interval is left alone, as the statement's
 *		join leaves it.
 */
static void
LinkCloseOpen(EState *estate, CdpBulkTarget *t, CdpIndexSort *isort, IndexScanDesc scan,
			  TupleTableSlot *slot, int64 rec, int64 ev, TimestampTz at)
{
	ScanKeyData key;
	AttrNumber	a_to_event = t->colattr[LM_TO_EVENT];
	AttrNumber	a_to_at = t->colattr[LM_TO_AT];
	AttrNumber	a_record = t->colattr[LM_RECORD_ID];

	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(rec));
	index_rescan(scan, &key, 1, NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		TupleTableSlot *nslot;
		ItemPointerData tid;
		bool		update_indexes;

		slot_getallattrs(slot);
		if (!slot->tts_isnull[a_to_event - 1] || slot->tts_isnull[a_record - 1] ||
			DatumGetInt64(slot->tts_values[a_record - 1]) != rec)
			continue;
		tid = slot->tts_tid;
		nslot = t->slots[0];
		ExecClearTuple(nslot);
		memcpy(nslot->tts_values, slot->tts_values, sizeof(Datum) * slot->tts_tupleDescriptor->natts);
		memcpy(nslot->tts_isnull, slot->tts_isnull, sizeof(bool) * slot->tts_tupleDescriptor->natts);
		nslot->tts_values[a_to_event - 1] = Int64GetDatum(ev);
		nslot->tts_isnull[a_to_event - 1] = false;
		nslot->tts_values[a_to_at - 1] = TimestampTzGetDatum(at);
		nslot->tts_isnull[a_to_at - 1] = false;
		ExecStoreVirtualTuple(nslot);
		ExecMaterializeSlot(nslot);
		if (t->rel->rd_att->constr)
			ExecConstraints(t->rri, nslot, estate);
		simple_table_tuple_update(t->rel, &tid, nslot, estate->es_snapshot, &update_indexes);
		if (update_indexes)
			CdpIndexSortAdd(isort, estate, nslot);
		ExecClearTuple(nslot);
		ResetPerTupleExprContext(estate);
		break;
	}
}

/*
 * LinkStep
 *		Reports the time since *t of a step at DEBUG1, as golden_link_apply
 *		reports its statements', and restarts *t.
 */
static void
LinkStep(const char *step, TimestampTz *t)
{
	TimestampTz now = GetCurrentTimestamp();

	elog(DEBUG1, "golden_link_apply %s: %.1f ms", step, (double) (now - *t) / 1000.0);
	*t = now;
}

PG_FUNCTION_INFO_V1(cdp_golden_link_write);

/* the output columns */
enum
{
	LO_WRITTEN, LO_M_ORD, LO_M_KEEP, LO_M_GONE, LO_FIN_REC, LO_FIN_KEEP, LO_RS_ID, LO_RS_AT,
	LO_COUNT
};

/*
 * LinkOutArray
 *		An output array of n elements of type typ (int4, int8 or timestamptz),
 *		NULL when empty (as array_agg of no rows).
 */
static void
LinkOutArray(Datum *values, bool *nulls, int col, Datum *elems, int n, Oid typ)
{
	if (n == 0)
	{
		nulls[col] = true;
		values[col] = (Datum) 0;
		return;
	}
	nulls[col] = false;
	values[col] = PointerGetDatum(construct_array(elems, n, typ, typ == INT4OID ? 4 : 8,
												  typ == INT4OID ? true : FLOAT8PASSBYVAL,
												  typ == INT4OID ? TYPALIGN_INT : TYPALIGN_DOUBLE));
}

/*
 * cdp_golden_link_write
 *		SQL cdp_internal.golden_link_write(a bigint[], b bigint[], evidence
 *		jsonb[], outcome "char"[], keep bigint[], gone bigint[], restore
 *		boolean[], mv_rec bigint[], mv_ord int[], ev_probability float8[],
 *		ev_weight float8[], ev_rule int[], ev_forced boolean[], ev_levels
 *		smallint[], ev_rules jsonb, ev_by text, ev_version int, OUT written
 *		boolean, OUT m_ord int[], OUT m_keep bigint[], OUT m_gone bigint[],
 *		OUT fin_rec bigint[], OUT fin_keep bigint[], OUT rs_id bigint[],
 *		OUT rs_at timestamptz[])
 *
 *		Link i (1-based) joins records a[i] and b[i] with evidence[i]
 *		(evidence NULL: none), or, when the ev_ arguments are given (all of
 *		them; evidence then NULL), with the evidence _match_link_args builds
 *		from element i of each for a[i] and b[i], written straight into its
 *		event's payload (a run's links, issue 12, session 36); outcome,
 *		keep, gone and restore are the plan's columns of link i
 *		(cdp_internal._golden_merge_plan, in link order);
 *		the records moved are the pairs (mv_rec[j], mv_ord[j]): record
 *		mv_rec[j] moves with the merge of link mv_ord[j].  Writes the events,
 *		membership and redirects (see the file's header) and returns
 *		written = true with the merges (link number, survivor, absorbed id),
 *		each moved record's final person, and the restored persons with the
 *		time of their event; written = false, having written nothing, when a
 *		table cannot be written here.  Arrays of nothing are NULL.
 */
Datum
cdp_golden_link_write(PG_FUNCTION_ARGS)
{
	TupleDesc	outdesc;
	Datum		out[LO_COUNT];
	bool		outnull[LO_COUNT];
	int			nlink,
				nb,
				nmv;
	int64	   *la,
			   *lb,
			   *mvrec;
	MatchEvidence *evp = NULL;
	Datum	   *ev = NULL,
			   *out_c,
			   *keep,
			   *gone,
			   *rest,
			   *mvord_d;
	bool	   *ev_null = NULL,
			   *out_cn,
			   *keepn,
			   *gonen,
			   *restn,
			   *mvordn;
	LinkMove   *moves;
	int		   *move_start;		/* per link: where its moves start in bylink */
	int		   *move_count;
	LinkMove   *bylink;
	int64	   *ev_id;			/* per link: its merge event (or link event) */
	TimestampTz *ev_at;
	Oid			nsp;
	Relation	rels[LT_COUNT];
	EState	   *estate;
	CdpBulkTarget	targets[LT_COUNT];
	MemoryContext group_cxt,
				old;
	Datum	   *m_ord,
			   *m_keep,
			   *m_gone,
			   *fin_rec,
			   *fin_keep,
			   *rs_id,
			   *rs_at;
	int			nm = 0,
				nfin = 0,
				nrs = 0;
	Datum		kind_merged,
				kind_linked,
				kind_restored;
	AttrNumber	a_id,
				a_at;
	TimestampTz tt = GetCurrentTimestamp();

	if (get_call_result_type(fcinfo, NULL, &outdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "golden_link_write must return a record");
	outdesc = BlessTupleDesc(outdesc);
	for (int c = 0; c < LO_COUNT; c++)
	{
		outnull[c] = true;
		out[c] = (Datum) 0;
	}
	outnull[LO_WRITTEN] = false;

	/* the arguments */
	la = MatchLinkInt8Array(fcinfo, 0, "a", &nlink);
	lb = MatchLinkInt8Array(fcinfo, 1, "b", &nb);
	if (nb != nlink)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("a and b must have the same length")));
	if (!PG_ARGISNULL(2))
	{
		ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(2);
		int			nev;

		if (ARR_NDIM(arr) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("evidence must be a one-dimensional array")));
		deconstruct_array(arr, JSONBOID, -1, false, TYPALIGN_INT, &ev, &ev_null, &nev);
		if (nev != nlink)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("evidence has %d elements, the links %d", nev, nlink)));
	}
	if (!PG_ARGISNULL(9))
	{
		if (ev != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("evidence and its parts must not both be given")));
		evp = MatchEvidenceArgs(fcinfo, 9, nlink, "golden_link_write");
	}
	if (nlink == 0)
	{
		out[LO_WRITTEN] = BoolGetDatum(true);
		PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(outdesc, out, outnull)));
	}
	out_c = LinkArrayArg(fcinfo, 3, "outcome", CHAROID, nlink, NULL, &out_cn);
	keep = LinkArrayArg(fcinfo, 4, "keep", INT8OID, nlink, NULL, &keepn);
	gone = LinkArrayArg(fcinfo, 5, "gone", INT8OID, nlink, NULL, &gonen);
	rest = LinkArrayArg(fcinfo, 6, "restore", BOOLOID, nlink, NULL, &restn);
	mvrec = MatchLinkInt8Array(fcinfo, 7, "mv_rec", &nmv);
	mvord_d = NULL;
	mvordn = NULL;
	if (nmv > 0)
		mvord_d = LinkArrayArg(fcinfo, 8, "mv_ord", INT4OID, nmv, NULL, &mvordn);
	for (int i = 0; i < nlink; i++)
	{
		char		o = out_cn[i] ? '\0' : DatumGetChar(out_c[i]);

		if (o != GOLDEN_MERGE_SAME && o != GOLDEN_MERGE_NO_MATCH && o != GOLDEN_MERGE_MERGE)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("outcome of link %d is not a plan outcome", i + 1)));
		if ((o != GOLDEN_MERGE_NO_MATCH && keepn[i]) ||
			(o == GOLDEN_MERGE_MERGE && (gonen[i] || restn[i])))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("the plan of link %d lacks its persons", i + 1)));
	}

	/* the moves, by record then link, and by link */
	moves = palloc(sizeof(LinkMove) * Max(nmv, 1));
	move_start = palloc(sizeof(int) * nlink);
	move_count = palloc0(sizeof(int) * nlink);
	for (int j = 0; j < nmv; j++)
	{
		int32		o = mvordn[j] ? 0 : DatumGetInt32(mvord_d[j]);

		if (o < 1 || o > nlink || DatumGetChar(out_c[o - 1]) != GOLDEN_MERGE_MERGE)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("move %d names link %d, which is not a merge", j + 1, o)));
		moves[j].rec = mvrec[j];
		moves[j].link = o - 1;
		move_count[o - 1]++;
	}
	qsort(moves, nmv, sizeof(LinkMove), LinkCmpMove);
	bylink = palloc(sizeof(LinkMove) * Max(nmv, 1));
	{
		int			pos = 0;
		int		   *fill = palloc0(sizeof(int) * nlink);

		for (int i = 0; i < nlink; i++)
		{
			move_start[i] = pos;
			pos += move_count[i];
		}
		/* moves are in record order: each link's list comes out sorted by record */
		for (int j = 0; j < nmv; j++)
			bylink[move_start[moves[j].link] + fill[moves[j].link]++] = moves[j];
		pfree(fill);
	}

	/* the tables */
	nsp = get_namespace_oid("cdp", false);
	/* under Citus the tables are shells of distributed ones: only its executor writes them */
	if (OidIsValid(get_extension_oid("citus", true)))
	{
		out[LO_WRITTEN] = BoolGetDatum(false);
		PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(outdesc, out, outnull)));
	}
	for (int w = 0; w < LT_COUNT; w++)
	{
		Oid			relid = get_relname_relid(LinkTables[w].name, nsp);

		if (!OidIsValid(relid))
			elog(ERROR, "table cdp.%s not found", LinkTables[w].name);
		rels[w] = table_open(relid, RowExclusiveLock);
		if (!CdpBulkWritable(rels[w], InvalidOid, w == LT_MEMBER))
		{
			for (int k = 0; k <= w; k++)
				table_close(rels[k], NoLock);
			out[LO_WRITTEN] = BoolGetDatum(false);
			PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(outdesc, out, outnull)));
		}
	}
	{
		/* what the membership UPDATE reads and sets (privileges; index_unchanged_by_update) */
		static const char *const member_read[] = {"record_id", "to_event"};
		static const char *const member_set[] = {"to_event", "to_at"};
		CdpBulkTable tables[LT_COUNT];

		memset(tables, 0, sizeof(tables));
		for (int w = 0; w < LT_COUNT; w++)
		{
			tables[w].rel = rels[w];
			tables[w].perms = LinkTables[w].perms;
		}
		tables[LT_MEMBER].selected = member_read;
		tables[LT_MEMBER].nselected = lengthof(member_read);
		tables[LT_MEMBER].updated = member_set;
		tables[LT_MEMBER].nupdated = lengthof(member_set);
		estate = CdpBulkExecutorState(tables, LT_COUNT);
	}
	memset(targets, 0, sizeof(targets));
	for (int w = 0; w < LT_COUNT; w++)
	{
		CdpBulkOpen(estate, &targets[w], rels[w], w + 1, LinkTables[w].cols, LinkTables[w].ncols);
		/*
		 * index entries in each index's key order at the end of the table's
		 * rows, without the unique checks and hint that cannot change
		 * anything here (cdp_bulk.c)
		 */
		CdpBulkSortIndexes(estate, &targets[w]);
		targets[w].isort->mode = CDP_INDEX_SORT_KEPT_UNCHECKED;
	}
	group_cxt = AllocSetContextCreate(CurrentMemoryContext, "cdp golden_link_write group",
									  ALLOCSET_DEFAULT_SIZES);

	/* the events, in link order; each link's event id and time */
	a_id = get_attnum(RelationGetRelid(rels[LT_EVENT]), "event_id");
	a_at = get_attnum(RelationGetRelid(rels[LT_EVENT]), "at");
	if (a_id == InvalidAttrNumber || a_at == InvalidAttrNumber ||
		TupleDescAttr(RelationGetDescr(rels[LT_EVENT]), a_id - 1)->atttypid != INT8OID ||
		TupleDescAttr(RelationGetDescr(rels[LT_EVENT]), a_at - 1)->atttypid != TIMESTAMPTZOID)
		elog(ERROR, "cdp.event has no event_id bigint or at timestamptz");
	kind_merged = CStringGetTextDatum("patient.merged");
	kind_linked = CStringGetTextDatum("record.linked");
	kind_restored = CStringGetTextDatum("patient.restored");
	ev_id = palloc(sizeof(int64) * nlink);
	ev_at = palloc(sizeof(TimestampTz) * nlink);
	rs_id = palloc(sizeof(Datum) * nlink);
	rs_at = palloc(sizeof(Datum) * nlink);
	for (int i = 0; i < nlink; i++)
	{
		char		o = DatumGetChar(out_c[i]);
		Datum		v[LE_COUNT];
		bool		n[LE_COUNT] = {false, false, false, false};
		TupleTableSlot *slot;
		Jsonb	   *evid = (ev == NULL || ev_null[i]) ? NULL : DatumGetJsonbP(ev[i]);

		CHECK_FOR_INTERRUPTS();
		if (o == GOLDEN_MERGE_NO_MATCH)
			continue;
		if (CdpBulkFull(&targets[LT_EVENT]))
		{
			CdpBulkFlush(estate, &targets[LT_EVENT]);
			MemoryContextReset(group_cxt);
		}
		old = MemoryContextSwitchTo(group_cxt);
		v[LE_KIND] = o == GOLDEN_MERGE_MERGE ? kind_merged : kind_linked;
		v[LE_SUBJECT] = o == GOLDEN_MERGE_MERGE ? gone[i] : Int64GetDatum(la[i]);
		v[LE_GOLDEN_ID] = keep[i];
		v[LE_PAYLOAD] = JsonbPGetDatum(LinkPayload(o == GOLDEN_MERGE_MERGE, DatumGetInt64(gone[i]),
												   DatumGetInt64(keep[i]), bylink + move_start[i],
												   move_count[i], la[i], lb[i], evid, evp, i));
		slot = CdpBulkAdd(estate, &targets[LT_EVENT], v, n);
		MemoryContextSwitchTo(old);
		if (slot->tts_isnull[a_id - 1] || slot->tts_isnull[a_at - 1])
			elog(ERROR, "a new event has no event_id or at");
		ev_id[i] = DatumGetInt64(slot->tts_values[a_id - 1]);
		ev_at[i] = DatumGetTimestampTz(slot->tts_values[a_at - 1]);
		if (o == GOLDEN_MERGE_MERGE && DatumGetBool(rest[i]))
		{
			if (CdpBulkFull(&targets[LT_EVENT]))
			{
				CdpBulkFlush(estate, &targets[LT_EVENT]);
				MemoryContextReset(group_cxt);
			}
			old = MemoryContextSwitchTo(group_cxt);
			v[LE_KIND] = kind_restored;
			v[LE_SUBJECT] = keep[i];
			v[LE_PAYLOAD] = JsonbPGetDatum(LinkRestoredPayload(DatumGetInt64(gone[i])));
			slot = CdpBulkAdd(estate, &targets[LT_EVENT], v, n);
			MemoryContextSwitchTo(old);
			rs_id[nrs] = keep[i];
			rs_at[nrs++] = slot->tts_values[a_at - 1];
		}
	}
	CdpBulkFlush(estate, &targets[LT_EVENT]);
	MemoryContextReset(group_cxt);
	CdpBulkFinishIndexes(estate, &targets[LT_EVENT]);
	LinkStep("write_events", &tt);

	/* membership: close the open interval at each record's first move, one per move after */
	fin_rec = palloc(sizeof(Datum) * Max(nmv, 1));
	fin_keep = palloc(sizeof(Datum) * Max(nmv, 1));
	if (nmv > 0)
	{
		CdpBulkTarget *t = &targets[LT_MEMBER];
		Relation	idx = NULL;
		IndexScanDesc scan;
		TupleTableSlot *found = table_slot_create(t->rel, NULL);
		CdpIndexSort closed;

		/* the unique index of open intervals: one key column, record_id, predicate to_event IS NULL */
		for (int k = 0; k < t->rri->ri_NumIndices; k++)
		{
			Relation	ir = t->rri->ri_IndexRelationDescs[k];
			IndexInfo  *ii = t->rri->ri_IndexRelationInfo[k];

			if (ir->rd_index->indisunique && ii->ii_NumIndexKeyAttrs == 1 &&
				ii->ii_IndexAttrNumbers[0] == t->colattr[LM_RECORD_ID] && ii->ii_Predicate != NIL &&
				ir->rd_rel->relam == BTREE_AM_OID)
				idx = ir;
		}
		if (idx == NULL)
			elog(ERROR, "cdp.patient_member has no unique index of open intervals by record_id");
		if (t->nslots == 0)
		{
			old = MemoryContextSwitchTo(estate->es_query_cxt);
			t->slots[t->nslots++] = table_slot_create(t->rel, NULL);
			MemoryContextSwitchTo(old);
		}
		CdpIndexSortBegin(&closed, estate, t->rri, true);
		closed.mode = CDP_INDEX_SORT_KEPT_UNCHECKED;
		scan = index_beginscan(t->rel, idx, estate->es_snapshot, 1, 0);
		for (int j = 0; j < nmv; j++)
		{
			CHECK_FOR_INTERRUPTS();
			if (j == 0 || moves[j].rec != moves[j - 1].rec)
				LinkCloseOpen(estate, t, &closed, scan, found, moves[j].rec, ev_id[moves[j].link],
							  ev_at[moves[j].link]);
		}
		index_endscan(scan);
		ExecDropSingleTupleTableSlot(found);
		CdpIndexSortFinish(&closed, estate);
		LinkStep("write_member_close", &tt);

		for (int j = 0; j < nmv; j++)
		{
			Datum		v[LM_COUNT];
			bool		n[LM_COUNT] = {false, false, false, false, false, false};
			int			l = moves[j].link;
			bool		last = j + 1 == nmv || moves[j + 1].rec != moves[j].rec;

			CHECK_FOR_INTERRUPTS();
			v[LM_RECORD_ID] = Int64GetDatum(moves[j].rec);
			v[LM_GOLDEN_ID] = keep[l];
			v[LM_FROM_EVENT] = Int64GetDatum(ev_id[l]);
			v[LM_FROM_AT] = TimestampTzGetDatum(ev_at[l]);
			if (last)
			{
				n[LM_TO_EVENT] = n[LM_TO_AT] = true;
				v[LM_TO_EVENT] = v[LM_TO_AT] = (Datum) 0;
				fin_rec[nfin] = Int64GetDatum(moves[j].rec);
				fin_keep[nfin++] = keep[l];
			}
			else
			{
				v[LM_TO_EVENT] = Int64GetDatum(ev_id[moves[j + 1].link]);
				v[LM_TO_AT] = TimestampTzGetDatum(ev_at[moves[j + 1].link]);
			}
			(void) CdpBulkAdd(estate, t, v, n);
		}
		CdpBulkFlush(estate, t);
		CdpBulkFinishIndexes(estate, t);
		LinkStep("write_member_open", &tt);
	}

	/* redirects, one per merge in link order */
	m_ord = palloc(sizeof(Datum) * nlink);
	m_keep = palloc(sizeof(Datum) * nlink);
	m_gone = palloc(sizeof(Datum) * nlink);
	for (int i = 0; i < nlink; i++)
	{
		Datum		v[LR_COUNT];
		bool		n[LR_COUNT] = {false, false, false, false};

		if (DatumGetChar(out_c[i]) != GOLDEN_MERGE_MERGE)
			continue;
		v[LR_OLD_ID] = gone[i];
		v[LR_NEW_ID] = keep[i];
		v[LR_AT] = TimestampTzGetDatum(ev_at[i]);
		v[LR_EVENT_ID] = Int64GetDatum(ev_id[i]);
		(void) CdpBulkAdd(estate, &targets[LT_REDIRECT], v, n);
		m_ord[nm] = Int32GetDatum(i + 1);
		m_keep[nm] = keep[i];
		m_gone[nm++] = gone[i];
	}
	CdpBulkFlush(estate, &targets[LT_REDIRECT]);
	CdpBulkFinishIndexes(estate, &targets[LT_REDIRECT]);
	LinkStep("write_redirects", &tt);

	CdpBulkEnd(estate, targets, LT_COUNT, false);
	MemoryContextDelete(group_cxt);

	out[LO_WRITTEN] = BoolGetDatum(true);
	LinkOutArray(out, outnull, LO_M_ORD, m_ord, nm, INT4OID);
	LinkOutArray(out, outnull, LO_M_KEEP, m_keep, nm, INT8OID);
	LinkOutArray(out, outnull, LO_M_GONE, m_gone, nm, INT8OID);
	LinkOutArray(out, outnull, LO_FIN_REC, fin_rec, nfin, INT8OID);
	LinkOutArray(out, outnull, LO_FIN_KEEP, fin_keep, nfin, INT8OID);
	LinkOutArray(out, outnull, LO_RS_ID, rs_id, nrs, INT8OID);
	LinkOutArray(out, outnull, LO_RS_AT, rs_at, nrs, TIMESTAMPTZOID);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(outdesc, out, outnull)));
}

/*
 * MoveRecordsWritable
 *		Whether cdp.record (rel) can have its golden_id column written here:
 *		a plain table without rewrite rules, stored generated columns or
 *		row-level security for the current user (CdpBulkPlainTable), whose
 *		update triggers are only the consent triggers the caller stands in
 *		for (statement triggers running cdp_internal.consent_summary_records
 *		or cdp_internal.consent_lift_records, consent_records_moved's work)
 *		and foreign key triggers, none of whose constraints has golden_id
 *		among its columns (such a trigger does nothing when its key columns
 *		keep their values; golden_id is in no key of record's).
 */
static bool
MoveRecordsWritable(Relation rel, AttrNumber a_golden)
{
	TriggerDesc *td = rel->trigdesc;
	Oid			internal = get_namespace_oid("cdp_internal", true);
	List	   *fkeys;
	ListCell   *lc;
	Oid			f_summary,
				f_lift;

	if (!OidIsValid(internal) || !CdpBulkPlainTable(rel))
		return false;
	f_summary = CdpBulkInternalFunc("consent_summary_records");
	f_lift = CdpBulkInternalFunc("consent_lift_records");
	for (int i = 0; td != NULL && i < td->numtriggers; i++)
	{
		Trigger    *t = &td->triggers[i];

		if (!TRIGGER_FOR_UPDATE(t->tgtype) || t->tgenabled == TRIGGER_DISABLED)
			continue;
		if (!TRIGGER_FOR_ROW(t->tgtype) && OidIsValid(t->tgfoid) &&
			(t->tgfoid == f_summary || t->tgfoid == f_lift))
			continue;
		if (t->tgisinternal && OidIsValid(t->tgconstraint) &&
			RI_FKey_trigger_type(t->tgfoid) != RI_TRIGGER_NONE)
		{
			/* the constraint's columns on either side must leave golden_id out */
			HeapTuple	ct = SearchSysCache1(CONSTROID, ObjectIdGetDatum(t->tgconstraint));
			bool		uses = true;

			if (HeapTupleIsValid(ct))
			{
				Form_pg_constraint con = (Form_pg_constraint) GETSTRUCT(ct);
				Datum		d;
				bool		isnull;

				uses = false;
				for (int side = 0; side < 2 && !uses; side++)
				{
					AttrNumber	relcol = side == 0 ? Anum_pg_constraint_conkey : Anum_pg_constraint_confkey;

					if ((side == 0 ? con->conrelid : con->confrelid) != RelationGetRelid(rel))
						continue;
					d = SysCacheGetAttr(CONSTROID, ct, relcol, &isnull);
					if (isnull)
						uses = true;
					else
					{
						ArrayType  *keys = DatumGetArrayTypeP(d);
						int16	   *k = (int16 *) ARR_DATA_PTR(keys);

						for (int j = 0; j < ArrayGetNItems(ARR_NDIM(keys), ARR_DIMS(keys)); j++)
							if (k[j] == a_golden)
								uses = true;
					}
				}
				ReleaseSysCache(ct);
			}
			if (!uses)
				continue;
		}
		return false;
	}
	/* the same for foreign keys whose triggers live on other tables (a reference to record) */
	fkeys = RelationGetFKeyList(rel);
	foreach(lc, fkeys)
	{
		ForeignKeyCacheInfo *fk = lfirst(lc);

		for (int j = 0; j < fk->nkeys; j++)
			if (fk->conkey[j] == a_golden)
				return false;
	}
	return true;
}

PG_FUNCTION_INFO_V1(cdp_golden_move_records);

/*
 * cdp_golden_move_records
 *		SQL cdp_internal.golden_move_records(rec bigint[], keep bigint[])
 *		RETURNS boolean
 *
 *		Moves record rec[i] to person keep[i]: what golden_link_apply's
 *		"UPDATE cdp.record SET golden_id = keep FROM unnest(rec, keep) WHERE
 *		record_id = rec" writes, row by row in record order (the records
 *		found through the primary key, visible to the statement's snapshot,
 *		the new row version checked against the table's constraints and its
 *		index entries added), without that statement's executor, join and
 *		transition tables (issue 16).  rec must be strictly ascending (each
 *		record once); a record not found is left alone, as the join leaves
 *		it.  The statement triggers on record that a move fires
 *		(consent_summary_update, consent_lift_update) are not fired: the
 *		caller runs cdp_internal.consent_records_moved instead, holding the
 *		profile rows of the persons involved, as the merge does.  Returns
 *		false, having written nothing, when record has another update
 *		trigger, a rule, a stored generated column or row-level security for
 *		the current user, or when citus is installed; the caller then runs
 *		its UPDATE.  The records must be locked by the caller (FOR NO KEY
 *		UPDATE, as golden_link_apply locks them): a concurrent change of one
 *		is an error here, not a wait.
 */
Datum
cdp_golden_move_records(PG_FUNCTION_ARGS)
{
	int			n,
				nk;
	int64	   *rec,
			   *keep;
	Oid			nsp;
	Relation	rel;
	AttrNumber	a_golden,
				a_record;
	Oid			pkoid;
	Relation	idx = NULL;
	EState	   *estate;
	CdpBulkTarget t;
	IndexScanDesc scan;
	TupleTableSlot *found,
			   *nslot;
	CdpIndexSort isort;
	static const char *const cols[] = {"record_id", "golden_id"};

	rec = MatchLinkInt8Array(fcinfo, 0, "rec", &n);
	keep = MatchLinkInt8Array(fcinfo, 1, "keep", &nk);
	if (nk != n)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("rec and keep must have the same length"),
				 errdetail("rec has %d elements, keep %d.", n, nk)));
	for (int i = 1; i < n; i++)
		if (rec[i] <= rec[i - 1])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("rec must be strictly ascending"),
					 errdetail("Element %d is not greater than element %d.", i + 1, i)));

	/* under Citus the table is a shell of a distributed one: only its executor writes it */
	if (OidIsValid(get_extension_oid("citus", true)))
		PG_RETURN_BOOL(false);
	nsp = get_namespace_oid("cdp", false);
	rel = table_open(get_relname_relid("record", nsp), RowExclusiveLock);
	a_golden = get_attnum(RelationGetRelid(rel), "golden_id");
	a_record = get_attnum(RelationGetRelid(rel), "record_id");
	if (a_golden == InvalidAttrNumber || a_record == InvalidAttrNumber ||
		TupleDescAttr(RelationGetDescr(rel), a_golden - 1)->atttypid != INT8OID ||
		TupleDescAttr(RelationGetDescr(rel), a_record - 1)->atttypid != INT8OID)
		elog(ERROR, "cdp.record has no record_id bigint or golden_id bigint");
	if (!MoveRecordsWritable(rel, a_golden))
	{
		table_close(rel, NoLock);
		PG_RETURN_BOOL(false);
	}
	{
		static const char *const selected[] = {"record_id"};
		static const char *const updated[] = {"golden_id"};
		CdpBulkTable table;

		memset(&table, 0, sizeof(table));
		table.rel = rel;
		table.perms = ACL_UPDATE | ACL_SELECT;
		table.selected = selected;
		table.nselected = lengthof(selected);
		table.updated = updated;
		table.nupdated = lengthof(updated);
		estate = CdpBulkExecutorState(&table, 1);
	}
	CdpBulkOpen(estate, &t, rel, 1, cols, lengthof(cols));

	/* the primary key: one btree key column, record_id */
	pkoid = RelationGetPrimaryKeyIndex(rel);
	for (int k = 0; k < t.rri->ri_NumIndices; k++)
	{
		Relation	ir = t.rri->ri_IndexRelationDescs[k];
		IndexInfo  *ii = t.rri->ri_IndexRelationInfo[k];

		if (RelationGetRelid(ir) == pkoid && ii->ii_NumIndexKeyAttrs == 1 &&
			ii->ii_IndexAttrNumbers[0] == a_record && ir->rd_rel->relam == BTREE_AM_OID)
			idx = ir;
	}
	if (idx == NULL)
		elog(ERROR, "cdp.record has no primary key on record_id");

	found = table_slot_create(rel, NULL);
	nslot = table_slot_create(rel, NULL);
	/*
	 * the new versions' index entries, added in each index's key order after
	 * the last update (cdp_bulk.c): the lookups read the primary key, whose
	 * entries of the old versions lead to the rows not yet moved
	 */
	CdpIndexSortBegin(&isort, estate, t.rri, true);
	isort.mode = CDP_INDEX_SORT_KEPT_UNCHECKED;
	scan = index_beginscan(rel, idx, estate->es_snapshot, 1, 0);
	for (int i = 0; i < n; i++)
	{
		ScanKeyData key;

		CHECK_FOR_INTERRUPTS();
		ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(rec[i]));
		index_rescan(scan, &key, 1, NULL, 0);
		if (index_getnext_slot(scan, ForwardScanDirection, found))
		{
			ItemPointerData tid = found->tts_tid;
			bool		update_indexes;
			int			natts = found->tts_tupleDescriptor->natts;

			slot_getallattrs(found);
			ExecClearTuple(nslot);
			memcpy(nslot->tts_values, found->tts_values, sizeof(Datum) * natts);
			memcpy(nslot->tts_isnull, found->tts_isnull, sizeof(bool) * natts);
			nslot->tts_values[a_golden - 1] = Int64GetDatum(keep[i]);
			nslot->tts_isnull[a_golden - 1] = false;
			ExecStoreVirtualTuple(nslot);
			ExecMaterializeSlot(nslot);
			if (rel->rd_att->constr)
				ExecConstraints(t.rri, nslot, estate);
			simple_table_tuple_update(rel, &tid, nslot, estate->es_snapshot, &update_indexes);
			if (update_indexes)
				CdpIndexSortAdd(&isort, estate, nslot);
			ExecClearTuple(nslot);
			ExecClearTuple(found);
			ResetPerTupleExprContext(estate);
		}
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(found);
	ExecDropSingleTupleTableSlot(nslot);
	CdpIndexSortFinish(&isort, estate);
	CdpBulkEnd(estate, &t, 1, false);
	PG_RETURN_BOOL(true);
}

/* one end of a link for golden_link_read: its record and where it goes (2 i: a of link i, 2 i + 1: b) */
typedef struct LinkEnd
{
	int64		rec;
	int			pos;
} LinkEnd;

static int
LinkEndCmp(const void *x, const void *y)
{
	const LinkEnd *p = (const LinkEnd *) x;
	const LinkEnd *q = (const LinkEnd *) y;

	if (p->rec != q->rec)
		return p->rec < q->rec ? -1 : 1;
	return p->pos < q->pos ? -1 : p->pos > q->pos;
}

PG_FUNCTION_INFO_V1(cdp_golden_link_read);

/*
 * cdp_golden_link_read
 *		SQL cdp_internal.golden_link_read(a bigint[], b bigint[], evidence jsonb[],
 *		OUT done boolean, OUT bad int, OUT golden_a bigint[], OUT golden_b bigint[])
 *
 *		The check of link_records_many's arguments and its first reading of
 *		the persons (sql/parts/73_golden_link.sql), which was one statement
 *		joining every link's two records to cdp.record through the primary key
 *		in link order, one random index probe per end of a link (1.08 million
 *		at the first day of 1M records, issue 16): here every record is looked
 *		up once, in record id order (the ends sorted in memory), so that the
 *		index and table pages are visited in order.  bad: the first element
 *		(from 1) where a or b is NULL, a = b, a record does not exist, or
 *		evidence (when not NULL) is not NULL and not a JSON object; NULL when
 *		none.  golden_a and golden_b: the golden id of each link's records as
 *		the statement's snapshot sees them (NULL for a missing record).
 *		done = false, and nothing else, when the records are not read here:
 *		the current user may not SELECT from cdp.record, the table has
 *		row-level security for the user, is not a plain table, or citus is
 *		installed; the caller then runs its statement.  a, b and evidence must
 *		have one length (checked by the caller; an error here).
 */
Datum
cdp_golden_link_read(PG_FUNCTION_ARGS)
{
	int			n,
				nb,
				ne = 0;
	Datum	   *a,
			   *b,
			   *ev = NULL;
	bool	   *anull,
			   *bnull,
			   *evnull = NULL;
	int			bad = 0;		/* 1-based; 0: none */
	TupleDesc	tupdesc;
	Datum		out[4];
	bool		outnull[4] = {false, false, false, false};
	Oid			nsp;
	Oid			relid;
	Relation	rel;
	Relation	idx = NULL;
	Oid			pkoid;
	AttrNumber	a_golden,
				a_record;
	LinkEnd    *ends;
	int			nends = 0;
	Datum	   *gval;
	bool	   *gnull;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	int			iattr = 0;		/* golden_id's attribute in the index; 0: read from the table */
	Buffer		vmbuffer = InvalidBuffer;
	int			dims[1];
	int			lbs[1] = {1};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	a = LinkArrayArg(fcinfo, 0, "a", INT8OID, -1, &n, &anull);
	b = LinkArrayArg(fcinfo, 1, "b", INT8OID, -1, &nb, &bnull);
	if (!PG_ARGISNULL(2))
	{
		ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(2);

		if (ARR_NDIM(arr) > 1 || ARR_ELEMTYPE(arr) != JSONBOID)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("evidence must be a one-dimensional jsonb array")));
		deconstruct_array(arr, JSONBOID, -1, false, TYPALIGN_INT, &ev, &evnull, &ne);
	}
	if (nb != n || (ev != NULL && ne != n))
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("a, b and evidence must have the same length"),
				 errdetail("a has %d elements, b %d, evidence %d.", n, nb, ne)));

	/* the records: not read here when the statement would read them otherwise */
	if (OidIsValid(get_extension_oid("citus", true)))
	{
		outnull[1] = outnull[2] = outnull[3] = true;
		out[0] = BoolGetDatum(false);
		PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, out, outnull)));
	}
	nsp = get_namespace_oid("cdp", false);
	relid = get_relname_relid("record", nsp);
	if (!OidIsValid(relid) || pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
	{
		outnull[1] = outnull[2] = outnull[3] = true;
		out[0] = BoolGetDatum(false);
		PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, out, outnull)));
	}
	rel = table_open(relid, AccessShareLock);
	a_golden = get_attnum(relid, "golden_id");
	a_record = get_attnum(relid, "record_id");
	pkoid = RelationGetPrimaryKeyIndex(rel);
	if (rel->rd_rel->relkind == RELKIND_RELATION && a_golden != InvalidAttrNumber &&
		a_record != InvalidAttrNumber && OidIsValid(pkoid) &&
		TupleDescAttr(RelationGetDescr(rel), a_golden - 1)->atttypid == INT8OID &&
		TupleDescAttr(RelationGetDescr(rel), a_record - 1)->atttypid == INT8OID &&
		check_enable_rls(relid, InvalidOid, false) != RLS_ENABLED)
	{
		List	   *indexes = RelationGetIndexList(rel);
		ListCell   *lc;

		/*
		 * a valid btree index whose first key column is record_id and which
		 * holds golden_id (record_find_by_id): read without the table for
		 * an entry on an all-visible page, as an index-only scan reads it;
		 * else the primary key, each record read from the table
		 */
		foreach(lc, indexes)
		{
			Relation	ir = index_open(lfirst_oid(lc), AccessShareLock);
			Form_pg_index ix = ir->rd_index;

			if (ir->rd_rel->relam == BTREE_AM_OID && ix->indisvalid && ix->indisready && ix->indislive &&
				ix->indnkeyatts >= 1 && ix->indkey.values[0] == a_record &&
				RelationGetIndexPredicate(ir) == NIL && RelationGetIndexExpressions(ir) == NIL)
			{
				for (int c = 1; c < ix->indnatts && iattr == 0; c++)
					if (ix->indkey.values[c] == a_golden)
						iattr = c + 1;
			}
			if (iattr != 0)
			{
				idx = ir;
				break;
			}
			index_close(ir, AccessShareLock);
		}
		list_free(indexes);
		if (idx == NULL)
		{
			idx = index_open(pkoid, AccessShareLock);
			if (idx->rd_rel->relam != BTREE_AM_OID || idx->rd_index->indnkeyatts != 1 ||
				idx->rd_index->indkey.values[0] != a_record)
			{
				index_close(idx, AccessShareLock);
				idx = NULL;
			}
		}
	}
	if (idx == NULL)
	{
		table_close(rel, AccessShareLock);
		outnull[1] = outnull[2] = outnull[3] = true;
		out[0] = BoolGetDatum(false);
		PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, out, outnull)));
	}

	/* the elements bad in themselves, and the ends to look up */
	ends = (LinkEnd *) MemoryContextAllocHuge(CurrentMemoryContext, sizeof(LinkEnd) * 2 * (Size) Max(n, 1));
	gval = (Datum *) MemoryContextAllocHuge(CurrentMemoryContext, sizeof(Datum) * 2 * (Size) Max(n, 1));
	gnull = (bool *) MemoryContextAllocHuge(CurrentMemoryContext, sizeof(bool) * 2 * (Size) Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		gnull[2 * i] = gnull[2 * i + 1] = true;
		gval[2 * i] = gval[2 * i + 1] = (Datum) 0;
		if (anull[i] || bnull[i] || DatumGetInt64(a[i]) == DatumGetInt64(b[i]))
		{
			if (bad == 0)
				bad = i + 1;
		}
		else if (bad == 0 && ev != NULL && !evnull[i])
		{
			/* the root container's header (packed, not copied, unless compressed or external) */
			struct varlena *v = (struct varlena *) DatumGetPointer(ev[i]);
			uint32		header;

			if (VARATT_IS_EXTENDED(v))
				v = pg_detoast_datum_packed(v);
			if (VARSIZE_ANY_EXHDR(v) < sizeof(uint32))
				elog(ERROR, "invalid jsonb in evidence");
			memcpy(&header, VARDATA_ANY(v), sizeof(uint32));
			if ((header & JB_FOBJECT) == 0 || (header & JB_FSCALAR) != 0)
				bad = i + 1;
		}
		if (!anull[i])
		{
			ends[nends].rec = DatumGetInt64(a[i]);
			ends[nends++].pos = 2 * i;
		}
		if (!bnull[i])
		{
			ends[nends].rec = DatumGetInt64(b[i]);
			ends[nends++].pos = 2 * i + 1;
		}
	}
	qsort(ends, nends, sizeof(LinkEnd), LinkEndCmp);

	/* each record once, in id order, through the primary key */
	slot = table_slot_create(rel, NULL);
	scan = index_beginscan(rel, idx, GetActiveSnapshot(), 1, 0);
	scan->xs_want_itup = iattr != 0;
	for (int j = 0; j < nends;)
	{
		ScanKeyData key;
		int64		rec = ends[j].rec;
		bool		found = false;
		Datum		g = (Datum) 0;
		bool		gisnull = true;
		ItemPointer tid;

		CHECK_FOR_INTERRUPTS();
		ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(rec));
		index_rescan(scan, &key, 1, NULL, 0);
		/* as IndexOnlyNext (nodeIndexonlyscan.c): the entry's values when its page is all visible */
		while (!found && (tid = index_getnext_tid(scan, ForwardScanDirection)) != NULL)
		{
			if (iattr != 0 && !scan->xs_recheck &&
				VM_ALL_VISIBLE(rel, ItemPointerGetBlockNumber(tid), &vmbuffer))
			{
				Datum		v[INDEX_MAX_KEYS];
				bool		vn[INDEX_MAX_KEYS];

				if (scan->xs_itup == NULL)
					elog(ERROR, "no index tuple from the index scan of cdp.record");
				index_deform_tuple(scan->xs_itup, scan->xs_itupdesc, v, vn);
				/* as IndexOnlyNext: the heap page a SERIALIZABLE reader would have read */
				PredicateLockPage(rel, ItemPointerGetBlockNumber(tid), GetActiveSnapshot());
				found = true;
				g = v[iattr - 1];
				gisnull = vn[iattr - 1];
			}
			else if (index_fetch_heap(scan, slot))
			{
				found = true;
				g = slot_getattr(slot, a_golden, &gisnull);
				ExecClearTuple(slot);
			}
		}
		for (; j < nends && ends[j].rec == rec; j++)
		{
			if (found)
			{
				gval[ends[j].pos] = g;
				gnull[ends[j].pos] = gisnull;
			}
			else if (bad == 0 || ends[j].pos / 2 + 1 < bad)
				bad = ends[j].pos / 2 + 1;
		}
	}
	if (BufferIsValid(vmbuffer))
		ReleaseBuffer(vmbuffer);
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(idx, AccessShareLock);
	table_close(rel, AccessShareLock);

	/* golden_a and golden_b: the even and odd ends */
	{
		Datum	   *ga = (Datum *) MemoryContextAllocHuge(CurrentMemoryContext, sizeof(Datum) * (Size) Max(n, 1));
		Datum	   *gb = (Datum *) MemoryContextAllocHuge(CurrentMemoryContext, sizeof(Datum) * (Size) Max(n, 1));
		bool	   *na = (bool *) MemoryContextAllocHuge(CurrentMemoryContext, sizeof(bool) * (Size) Max(n, 1));
		bool	   *nbb = (bool *) MemoryContextAllocHuge(CurrentMemoryContext, sizeof(bool) * (Size) Max(n, 1));

		for (int i = 0; i < n; i++)
		{
			ga[i] = gval[2 * i];
			na[i] = gnull[2 * i];
			gb[i] = gval[2 * i + 1];
			nbb[i] = gnull[2 * i + 1];
		}
		dims[0] = n;
		out[0] = BoolGetDatum(true);
		out[1] = Int32GetDatum(bad);
		outnull[1] = bad == 0;
		out[2] = PointerGetDatum(construct_md_array(ga, na, 1, dims, lbs, INT8OID, sizeof(int64),
													FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		out[3] = PointerGetDatum(construct_md_array(gb, nbb, 1, dims, lbs, INT8OID, sizeof(int64),
													FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, out, outnull)));
}
