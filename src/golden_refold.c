/*-------------------------------------------------------------------------
 *
 * src/golden_refold.c
 *		cdp_internal.golden_refold_rows(ids, rules, rules_version): the live
 *		re-fold of existing profile rows (cdp_internal.golden_refold) in C,
 *		person by person in golden id order.
 *
 * golden_refold's statement
 *		UPDATE cdp.patient p SET <every column> = c.<column>
 *		  FROM cdp_internal.golden_compute(ids) c
 *		 WHERE p.golden_id = c.golden_id AND (p.*) IS DISTINCT FROM (c.*)
 * built a golden_fold_input value per record (array_agg of ROW(...)), kept
 * every computed row in golden_compute's tuplestore, joined it back to the
 * profiles and ran the executor's UPDATE for each changed row.  At the
 * first-day merge of 1M records (some 200k survivors) that statement, not
 * the fold, was most of the re-fold's 8.8 s (issue 16, session 36).  Here,
 * for each distinct id in ascending order:
 *
 * - the profile row is read through the primary key (no row: nothing, as
 *	 the join finds nothing);
 * - the person's records are read through an index of cdp.record on
 *	 golden_id (the one golden_compute's join probes), each with its
 *	 source's trust (cdp.source read once; a missing source: NULL, as the
 *	 LEFT JOIN gives).  The persons go in batches of REFOLD_BATCH: the heap
 *	 pointers of a batch's index entries are collected and sorted, and the
 *	 rows fetched in heap order (the records a merge moved are new row
 *	 versions at the end of the heap in record id order, far from their
 *	 persons' order: read person by person they cost a buffer miss each at
 *	 1M records); no record: nothing, as golden_compute returns
 *	 no row;
 * - the last visit is max(at) of the person's clinical events of kind
 *	 'visit' with visit_status came, in_appointment or done, read through
 *	 an index of cdp.clinical_event on golden_id (not at all while the
 *	 table has no page);
 * - the row is folded by golden_fold_row's code (GoldenFoldRowValues) with
 *	 the stored status and status_at, and compared with the stored row as
 *	 IS DISTINCT FROM compares two cdp.patient values (record_eq: each
 *	 column by its type's equality, two NULLs equal);
 * - a changed row gets its new version as the UPDATE writes it
 *	 (constraints checked, simple_table_tuple_update; index entries, when
 *	 not a HOT update, added in each index's key order at the end, as
 *	 golden_move_records adds them, src/cdp_bulk.c).
 *
 * It returns the number of rows changed, or NULL having written nothing
 * when it cannot stand in for the statement: Citus; row-level security for
 * the current user on one of the tables it reads or writes; a rewrite rule
 * or stored generated column on cdp.patient; an update trigger on
 * cdp.patient other than campaign_on_archive (a row trigger whose WHEN,
 * NEW.status = 'archived' AND OLD.status IS DISTINCT FROM 'archived', is
 * false here: the status is the stored one) and primary-key-side foreign
 * key triggers (golden_id never changes); no usable index (a plain B-tree
 * whose first key column is golden_id) on cdp.record or
 * cdp.clinical_event; a column of cdp.patient without an equality
 * operator.  golden_refold then runs its statement.  Privileges are checked
 * as the statement's (SELECT on cdp.patient, UPDATE of its columns but
 * golden_id, SELECT on the others).  The profile rows must be locked by the caller, as golden_refold
 * requires: a concurrent change of one is an error here, not a wait.
 *
 * test/pgtap/71_golden_refold_rows.sql compares it with the statement.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_am_d.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_trigger_d.h"
#include "catalog/pg_type_d.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "cdp_bulk.h"
#include "golden.h"

/* the columns of cdp.record read for golden_fold_input's fields, in its order (trust: the source's) */
static const char *const RefoldRecordCols[GOLDEN_FOLD_NFIELDS] = {
	"record_id", "source_id", NULL, "family_name", "given_name", "patronymic", "birth_date",
	"sex", "phones", "emails", "snils", "oms", "address", "city", "handles", "extra",
	"created_at", "updated_at"
};

#define REFOLD_TRUST_FIELD	2

/* one source's trust */
typedef struct RefoldTrust
{
	int32		source_id;
	bool		trust_null;
	int32		trust;
} RefoldTrust;

/*
 * Persons whose records are read together: their index entries' heap
 * pointers sorted, the rows copied out (about 1 kB each in memory at 1M:
 * some 50 MB a batch)
 */
#define REFOLD_BATCH	16384

/* one index entry of a batch: the row it points to and its person (from the batch's first) */
typedef struct RefoldFetch
{
	ItemPointerData tid;
	int			person;
} RefoldFetch;

/*
 * RefoldCmpFetch
 *		qsort comparator of index entries by heap pointer.
 */
static int
RefoldCmpFetch(const void *a, const void *b)
{
	return ItemPointerCompare((ItemPointer) &((const RefoldFetch *) a)->tid,
							  (ItemPointer) &((const RefoldFetch *) b)->tid);
}

/*
 * RefoldCmpTrust
 *		qsort comparator of sources by id.
 */
static int
RefoldCmpTrust(const void *a, const void *b)
{
	int32		x = ((const RefoldTrust *) a)->source_id;
	int32		y = ((const RefoldTrust *) b)->source_id;

	return (x > y) - (x < y);
}

/*
 * RefoldIds
 *		The non-NULL elements of a bigint[] argument, sorted, each once.
 */
static int64 *
RefoldIds(ArrayType *arr, int *n)
{
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	int64	   *ids;
	int			m = 0;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("ids must be a one-dimensional array")));
	deconstruct_array(arr, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, &nulls, &nelems);
	ids = palloc(sizeof(int64) * Max(nelems, 1));
	for (int i = 0; i < nelems; i++)
		if (!nulls[i])
			ids[m++] = DatumGetInt64(elems[i]);
	if (m > 1)
	{
		int			k = 1;

		qsort(ids, m, sizeof(int64), GoldenInt64Cmp);
		for (int i = 1; i < m; i++)
			if (ids[i] != ids[k - 1])
				ids[k++] = ids[i];
		m = k;
	}
	*n = m;
	return ids;
}

/*
 * RefoldGoldenIndex
 *		A plain B-tree index of rel whose first key column is attribute
 *		attnum (bigint equality), opened; NULL when there is none.
 */
static Relation
RefoldGoldenIndex(Relation rel, AttrNumber attnum)
{
	List	   *idxs = RelationGetIndexList(rel);
	ListCell   *lc;

	foreach(lc, idxs)
	{
		Relation	ir = index_open(lfirst_oid(lc), AccessShareLock);

		if (ir->rd_rel->relam == BTREE_AM_OID && ir->rd_index->indisvalid &&
			ir->rd_index->indnkeyatts >= 1 && ir->rd_index->indkey.values[0] == attnum &&
			ir->rd_opcintype[0] == INT8OID &&
			RelationGetIndexExpressions(ir) == NIL && RelationGetIndexPredicate(ir) == NIL)
		{
			list_free(idxs);
			return ir;
		}
		index_close(ir, AccessShareLock);
	}
	list_free(idxs);
	return NULL;
}

/*
 * RefoldPatientWritable
 *		Whether cdp.patient (rel) can be updated here (see the file's header).
 */
static bool
RefoldPatientWritable(Relation rel)
{
	TriggerDesc *td = rel->trigdesc;
	Oid			internal = get_namespace_oid("cdp_internal", true);
	Oid			f_archive;

	if (!OidIsValid(internal) || !CdpBulkPlainTable(rel))
		return false;
	f_archive = CdpBulkInternalFunc("campaign_on_archive");
	for (int i = 0; td != NULL && i < td->numtriggers; i++)
	{
		Trigger    *t = &td->triggers[i];

		if (!TRIGGER_FOR_UPDATE(t->tgtype) || t->tgenabled == TRIGGER_DISABLED)
			continue;
		if (TRIGGER_FOR_ROW(t->tgtype) && OidIsValid(f_archive) && t->tgfoid == f_archive)
			continue;
		if (t->tgisinternal && RI_FKey_trigger_type(t->tgfoid) == RI_TRIGGER_PK)
			continue;
		return false;
	}
	/* a column without an equality operator: the statement's comparison raises the error */
	for (int a = 0; a < RelationGetDescr(rel)->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel), a);

		if (!att->attisdropped &&
			!OidIsValid(lookup_type_cache(att->atttypid, TYPECACHE_EQ_OPR_FINFO)->eq_opr_finfo.fn_oid))
			return false;
	}
	return true;
}

/*
 * RefoldRowsEqual
 *		Whether two rows of desc are equal as record_eq compares them: each
 *		column by its type's equality (collation: the column's), two NULLs
 *		equal; the same bytes are equal without the call.
 */
static bool
RefoldRowsEqual(TupleDesc desc, Datum *v1, bool *n1, Datum *v2, bool *n2)
{
	for (int a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);
		TypeCacheEntry *tc;

		if (att->attisdropped || (n1[a] && n2[a]))
			continue;
		if (n1[a] || n2[a])
			return false;
		if (datum_image_eq(v1[a], v2[a], att->attbyval, att->attlen))
			continue;
		tc = lookup_type_cache(att->atttypid, TYPECACHE_EQ_OPR_FINFO);
		if (!DatumGetBool(FunctionCall2Coll(&tc->eq_opr_finfo, att->attcollation, v1[a], v2[a])))
			return false;
	}
	return true;
}

/*
 * RefoldAttnum
 *		The attribute number of column name of rel, of type typid (InvalidOid:
 *		any); an error when there is none.
 */
static AttrNumber
RefoldAttnum(Relation rel, const char *name, Oid typid)
{
	AttrNumber	a = get_attnum(RelationGetRelid(rel), name);

	if (a == InvalidAttrNumber ||
		(OidIsValid(typid) && TupleDescAttr(RelationGetDescr(rel), a - 1)->atttypid != typid))
		elog(ERROR, "column \"%s\" of \"%s\" not found or not of the expected type",
			 name, RelationGetRelationName(rel));
	return a;
}

/*
 * RefoldTrusts
 *		Every source's trust (cdp.source read once), sorted by source id.
 */
static RefoldTrust *
RefoldTrusts(Relation src, Snapshot snap, int *n)
{
	AttrNumber	a_id = RefoldAttnum(src, "source_id", INT4OID);
	AttrNumber	a_trust = RefoldAttnum(src, "trust", INT2OID);
	TableScanDesc scan = table_beginscan(src, snap, 0, NULL);
	TupleTableSlot *slot = table_slot_create(src, NULL);
	int			cap = 16;
	int			m = 0;
	RefoldTrust *tr = palloc(sizeof(RefoldTrust) * cap);

	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		Datum		d = slot_getattr(slot, a_id, &isnull);

		if (isnull)
			continue;
		if (m == cap)
		{
			cap *= 2;
			tr = repalloc(tr, sizeof(RefoldTrust) * cap);
		}
		tr[m].source_id = DatumGetInt32(d);
		d = slot_getattr(slot, a_trust, &tr[m].trust_null);
		/* smallint, cast to golden_fold_input's int */
		tr[m].trust = tr[m].trust_null ? 0 : (int32) DatumGetInt16(d);
		m++;
	}
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	qsort(tr, m, sizeof(RefoldTrust), RefoldCmpTrust);
	*n = m;
	return tr;
}

/*
 * RefoldTrustOf
 *		The trust of source sid (isnull when the source or its trust is
 *		missing), by binary search.
 */
static Datum
RefoldTrustOf(RefoldTrust *tr, int n, int32 sid, bool *isnull)
{
	int			lo = 0,
				hi = n - 1;

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (tr[mid].source_id == sid)
		{
			*isnull = tr[mid].trust_null;
			return Int32GetDatum(tr[mid].trust);
		}
		if (tr[mid].source_id < sid)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	*isnull = true;
	return (Datum) 0;
}

/*
 * RefoldTextIs
 *		Whether a text datum is the string s, byte for byte (the columns
 *		compared are in the database's default collation, which is
 *		deterministic).
 */
static bool
RefoldTextIs(Datum d, const char *s)
{
	text	   *t = DatumGetTextPP(d);
	int			len = VARSIZE_ANY_EXHDR(t);

	return len == (int) strlen(s) && memcmp(VARDATA_ANY(t), s, len) == 0;
}

PG_FUNCTION_INFO_V1(cdp_golden_refold_rows);

/*
 * cdp_golden_refold_rows
 *		SQL cdp_internal.golden_refold_rows(ids bigint[], rules jsonb,
 *		rules_version int) RETURNS int (see the file's header).  NULL ids:
 *		0; NULL rules raise 22004; a multi-dimensional ids 2202E.
 */
Datum
cdp_golden_refold_rows(PG_FUNCTION_ARGS)
{
	int64	   *ids;
	int			nids;
	Jsonb	   *rules;
	Oid			nsp;
	Relation	patient,
				record,
				source,
				clinical;
	Relation	p_idx = NULL,
				r_idx,
				c_idx;
	TupleDesc	pdesc;
	GoldenRowType *cache;
	EState	   *estate;
	CdpBulkTarget t;
	CdpIndexSort isort;
	IndexScanDesc p_scan,
				r_scan,
				c_scan;
	TupleTableSlot *pslot,
			   *rslot,
			   *cslot,
			   *nslot;
	AttrNumber	r_att[GOLDEN_FOLD_NFIELDS];
	AttrNumber	p_golden,
				p_status,
				p_status_at,
				r_golden,
				c_golden,
				c_kind,
				c_at,
				c_vstatus;
	RefoldTrust *trusts;
	int			ntrusts;
	bool		c_pages;
	MemoryContext work,
				batch,
				old_top,
				old;
	IndexFetchTableData *rfetch;
	int			nchanged = 0;
	int			cap = 16;
	Datum	   *fields;
	bool	   *fnulls;
	Datum	   *values;
	bool	   *nulls;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"rules\" of cdp_internal.golden_refold_rows must not be null")));
	if (PG_ARGISNULL(0))
		PG_RETURN_INT32(0);
	ids = RefoldIds(PG_GETARG_ARRAYTYPE_P(0), &nids);
	rules = PG_GETARG_JSONB_P(1);

	/* under Citus the tables are shells of distributed ones: only its executor writes them */
	if (OidIsValid(get_extension_oid("citus", true)))
		PG_RETURN_NULL();
	nsp = get_namespace_oid("cdp", false);
	patient = table_open(get_relname_relid("patient", nsp), RowExclusiveLock);
	record = table_open(get_relname_relid("record", nsp), AccessShareLock);
	source = table_open(get_relname_relid("source", nsp), AccessShareLock);
	clinical = table_open(get_relname_relid("clinical_event", nsp), AccessShareLock);
	pdesc = RelationGetDescr(patient);
	r_golden = RefoldAttnum(record, "golden_id", INT8OID);
	c_golden = RefoldAttnum(clinical, "golden_id", INT8OID);
	r_idx = RefoldGoldenIndex(record, r_golden);
	c_idx = RefoldGoldenIndex(clinical, c_golden);
	if (!RefoldPatientWritable(patient) || r_idx == NULL || c_idx == NULL ||
		check_enable_rls(RelationGetRelid(record), InvalidOid, false) == RLS_ENABLED ||
		check_enable_rls(RelationGetRelid(source), InvalidOid, false) == RLS_ENABLED ||
		check_enable_rls(RelationGetRelid(clinical), InvalidOid, false) == RLS_ENABLED)
	{
		if (r_idx != NULL)
			index_close(r_idx, AccessShareLock);
		if (c_idx != NULL)
			index_close(c_idx, AccessShareLock);
		table_close(clinical, NoLock);
		table_close(source, NoLock);
		table_close(record, NoLock);
		table_close(patient, NoLock);
		PG_RETURN_NULL();
	}

	/*
	 * the statement's privileges: every column of cdp.patient read, every
	 * one but golden_id updated, the other tables read
	 */
	{
		const char **pcols = palloc(sizeof(char *) * Max(pdesc->natts, 1));
		const char **ucols = palloc(sizeof(char *) * Max(pdesc->natts, 1));
		int			npcols = 0;
		int			nucols = 0;
		CdpBulkTable tables[4];

		for (int a = 0; a < pdesc->natts; a++)
			if (!TupleDescAttr(pdesc, a)->attisdropped)
			{
				pcols[npcols++] = NameStr(TupleDescAttr(pdesc, a)->attname);
				if (strcmp(NameStr(TupleDescAttr(pdesc, a)->attname), "golden_id") != 0)
					ucols[nucols++] = NameStr(TupleDescAttr(pdesc, a)->attname);
			}
		memset(tables, 0, sizeof(tables));
		tables[0].rel = patient;
		tables[0].perms = ACL_UPDATE | ACL_SELECT;
		tables[0].selected = pcols;
		tables[0].nselected = npcols;
		tables[0].updated = ucols;
		tables[0].nupdated = nucols;
		tables[1].rel = record;
		tables[1].perms = ACL_SELECT;
		tables[2].rel = source;
		tables[2].perms = ACL_SELECT;
		tables[3].rel = clinical;
		tables[3].perms = ACL_SELECT;
		estate = CdpBulkExecutorState(tables, lengthof(tables));
	}
	CdpBulkOpen(estate, &t, patient, 1, NULL, 0);

	p_golden = RefoldAttnum(patient, "golden_id", INT8OID);
	p_status = RefoldAttnum(patient, "status", TEXTOID);
	p_status_at = RefoldAttnum(patient, "status_at", TIMESTAMPTZOID);
	{
		Oid			pkoid = RelationGetPrimaryKeyIndex(patient);

		for (int k = 0; k < t.rri->ri_NumIndices; k++)
		{
			Relation	ir = t.rri->ri_IndexRelationDescs[k];
			IndexInfo  *ii = t.rri->ri_IndexRelationInfo[k];

			if (RelationGetRelid(ir) == pkoid && ii->ii_NumIndexKeyAttrs == 1 &&
				ii->ii_IndexAttrNumbers[0] == p_golden && ir->rd_rel->relam == BTREE_AM_OID)
				p_idx = ir;
		}
		if (p_idx == NULL)
			elog(ERROR, "cdp.patient has no primary key on golden_id");
	}
	for (int f = 0; f < GOLDEN_FOLD_NFIELDS; f++)
		r_att[f] = RefoldRecordCols[f] == NULL ? InvalidAttrNumber
			: RefoldAttnum(record, RefoldRecordCols[f], InvalidOid);
	c_kind = RefoldAttnum(clinical, "kind", TEXTOID);
	c_at = RefoldAttnum(clinical, "at", TIMESTAMPTZOID);
	c_vstatus = RefoldAttnum(clinical, "visit_status", TEXTOID);

	cache = GoldenFoldRowType(fcinfo, pdesc, "golden_refold_rows", rules);
	trusts = RefoldTrusts(source, estate->es_snapshot, &ntrusts);

	pslot = table_slot_create(patient, NULL);
	rslot = table_slot_create(record, NULL);
	cslot = table_slot_create(clinical, NULL);
	nslot = table_slot_create(patient, NULL);
	CdpIndexSortBegin(&isort, estate, t.rri, true);
	isort.mode = CDP_INDEX_SORT_KEPT_UNCHECKED;
	p_scan = index_beginscan(patient, p_idx, estate->es_snapshot, 1, 0);
	r_scan = index_beginscan(record, r_idx, estate->es_snapshot, 1, 0);
	c_scan = index_beginscan(clinical, c_idx, estate->es_snapshot, 1, 0);
	/* no page now: no row visible to the snapshot (taken before, its rows' pages exist) */
	c_pages = RelationGetNumberOfBlocks(clinical) > 0;
	work = AllocSetContextCreate(CurrentMemoryContext, "cdp golden_refold_rows", ALLOCSET_DEFAULT_SIZES);
	batch = AllocSetContextCreate(CurrentMemoryContext, "cdp golden_refold_rows batch", ALLOCSET_DEFAULT_SIZES);
	old_top = CurrentMemoryContext;
	fields = palloc(sizeof(Datum) * GOLDEN_FOLD_NFIELDS * cap);
	fnulls = palloc(sizeof(bool) * GOLDEN_FOLD_NFIELDS * cap);
	values = palloc(sizeof(Datum) * Max(pdesc->natts, 1));
	nulls = palloc(sizeof(bool) * Max(pdesc->natts, 1));

	rfetch = table_index_fetch_begin(record);
	for (int b = 0; b < nids; b += REFOLD_BATCH)
	{
		int			e = Min(nids, b + REFOLD_BATCH);
		int			nf = 0;
		int			fcap = 4 * (e - b);
		RefoldFetch *fe;
		HeapTuple  *tups;
		int		   *start;

		/*
		 * the records of the batch's persons: every index entry's heap
		 * pointer first, then the rows fetched in their order in the heap
		 * (each page read once per batch, not once per record in person
		 * order), visible to the snapshot as an index scan sees them
		 */
		MemoryContextSwitchTo(batch);
		fe = palloc(sizeof(RefoldFetch) * fcap);
		for (int i = b; i < e; i++)
		{
			ScanKeyData key;
			ItemPointer tid;

			CHECK_FOR_INTERRUPTS();
			ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(ids[i]));
			index_rescan(r_scan, &key, 1, NULL, 0);
			while ((tid = index_getnext_tid(r_scan, ForwardScanDirection)) != NULL)
			{
				if (nf == fcap)
				{
					fcap *= 2;
					fe = repalloc(fe, mul_size(sizeof(RefoldFetch), fcap));
				}
				fe[nf].tid = *tid;
				fe[nf].person = i - b;
				nf++;
			}
		}
		qsort(fe, nf, sizeof(RefoldFetch), RefoldCmpFetch);
		tups = palloc0(sizeof(HeapTuple) * Max(nf, 1));
		for (int k = 0; k < nf; k++)
		{
			bool		call_again = false;
			bool		all_dead = false;

			CHECK_FOR_INTERRUPTS();
			if (table_index_fetch_tuple(rfetch, &fe[k].tid, estate->es_snapshot, rslot, &call_again, &all_dead))
				tups[k] = ExecCopySlotHeapTuple(rslot);
			ExecClearTuple(rslot);
		}
		/* each person's rows together (start[p] .. start[p + 1] of order) */
		start = palloc0(sizeof(int) * (e - b + 1));
		for (int k = 0; k < nf; k++)
			start[fe[k].person + 1]++;
		for (int p = 0; p < e - b; p++)
			start[p + 1] += start[p];
		{
			HeapTuple  *order = palloc(sizeof(HeapTuple) * Max(nf, 1));
			int		   *fill = palloc(sizeof(int) * (e - b));

			memcpy(fill, start, sizeof(int) * (e - b));
			for (int k = 0; k < nf; k++)
				order[fill[fe[k].person]++] = tups[k];
			tups = order;
		}
		MemoryContextSwitchTo(old_top);

		for (int i = b; i < e; i++)
		{
			ScanKeyData key;
			int			nrec = 0;
			Datum		args[GOLDEN_FOLD_NARGS];
			bool		argnulls[GOLDEN_FOLD_NARGS];
			bool		visit_null = true;
			TimestampTz visit = 0;

			CHECK_FOR_INTERRUPTS();
			/* the profile row */
			ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(ids[i]));
			index_rescan(p_scan, &key, 1, NULL, 0);
			if (!index_getnext_slot(p_scan, ForwardScanDirection, pslot))
				continue;
			slot_getallattrs(pslot);
			old = MemoryContextSwitchTo(work);

			/* its records (the visible ones) */
			for (int k = start[i - b]; k < start[i - b + 1]; k++)
			{
				HeapTuple	tup = tups[k];
				Datum	   *rv;
				bool	   *rn;

				if (tup == NULL)
					continue;
				rv = palloc(sizeof(Datum) * RelationGetDescr(record)->natts);
				rn = palloc(sizeof(bool) * RelationGetDescr(record)->natts);
				if (nrec == cap)
				{
					MemoryContextSwitchTo(old);
					cap *= 2;
					fields = repalloc(fields, mul_size(sizeof(Datum) * GOLDEN_FOLD_NFIELDS, cap));
					fnulls = repalloc(fnulls, mul_size(sizeof(bool) * GOLDEN_FOLD_NFIELDS, cap));
					MemoryContextSwitchTo(work);
				}
				heap_deform_tuple(tup, RelationGetDescr(record), rv, rn);
				for (int f = 0; f < GOLDEN_FOLD_NFIELDS; f++)
				{
					int			k = nrec * GOLDEN_FOLD_NFIELDS + f;

					if (f == REFOLD_TRUST_FIELD)
						continue;
					fields[k] = rv[r_att[f] - 1];
					fnulls[k] = rn[r_att[f] - 1];
				}
				if (fnulls[nrec * GOLDEN_FOLD_NFIELDS + 1])
					fnulls[nrec * GOLDEN_FOLD_NFIELDS + REFOLD_TRUST_FIELD] = true;
				else
					fields[nrec * GOLDEN_FOLD_NFIELDS + REFOLD_TRUST_FIELD] =
						RefoldTrustOf(trusts, ntrusts, DatumGetInt32(fields[nrec * GOLDEN_FOLD_NFIELDS + 1]),
									  &fnulls[nrec * GOLDEN_FOLD_NFIELDS + REFOLD_TRUST_FIELD]);
				nrec++;
			}
			if (nrec == 0)
			{
				/* golden_compute returns no row for a person without records */
				MemoryContextSwitchTo(old);
				MemoryContextReset(work);
				ExecClearTuple(pslot);
				continue;
			}

			/* the last visit (none while the table has no page: a first-day migration) */
			ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(ids[i]));
			if (c_pages)
				index_rescan(c_scan, &key, 1, NULL, 0);
			while (c_pages && index_getnext_slot(c_scan, ForwardScanDirection, cslot))
			{
				bool		isnull;
				Datum		d;

				d = slot_getattr(cslot, c_kind, &isnull);
				if (isnull || !RefoldTextIs(d, "visit"))
					continue;
				d = slot_getattr(cslot, c_vstatus, &isnull);
				if (isnull || !(RefoldTextIs(d, "came") || RefoldTextIs(d, "in_appointment") ||
								RefoldTextIs(d, "done")))
					continue;
				d = slot_getattr(cslot, c_at, &isnull);
				if (isnull)
					continue;
				if (visit_null || DatumGetTimestampTz(d) > visit)
					visit = DatumGetTimestampTz(d);
				visit_null = false;
			}
			ExecClearTuple(cslot);

			args[GFR_GOLDEN_ID] = Int64GetDatum(ids[i]);
			argnulls[GFR_GOLDEN_ID] = false;
			args[GFR_RULES_VERSION] = PG_GETARG_DATUM(2);
			argnulls[GFR_RULES_VERSION] = PG_ARGISNULL(2);
			args[GFR_STATUS] = pslot->tts_values[p_status - 1];
			argnulls[GFR_STATUS] = pslot->tts_isnull[p_status - 1];
			args[GFR_STATUS_AT] = pslot->tts_values[p_status_at - 1];
			argnulls[GFR_STATUS_AT] = pslot->tts_isnull[p_status_at - 1];
			args[GFR_LAST_VISIT] = TimestampTzGetDatum(visit);
			argnulls[GFR_LAST_VISIT] = visit_null;
			GoldenFoldRowValues(cache, nrec, fields, fnulls, args, argnulls, values, nulls);

			if (!RefoldRowsEqual(pdesc, pslot->tts_values, pslot->tts_isnull, values, nulls))
			{
				ItemPointerData tid = pslot->tts_tid;
				bool		update_indexes;

				ExecClearTuple(nslot);
				memcpy(nslot->tts_values, values, sizeof(Datum) * pdesc->natts);
				memcpy(nslot->tts_isnull, nulls, sizeof(bool) * pdesc->natts);
				ExecStoreVirtualTuple(nslot);
				ExecMaterializeSlot(nslot);
				if (patient->rd_att->constr)
					ExecConstraints(t.rri, nslot, estate);
				simple_table_tuple_update(patient, &tid, nslot, estate->es_snapshot, &update_indexes);
				if (update_indexes)
					CdpIndexSortAdd(&isort, estate, nslot);
				ExecClearTuple(nslot);
				nchanged++;
			}
			ExecClearTuple(pslot);
			ResetPerTupleExprContext(estate);
			MemoryContextSwitchTo(old);
			MemoryContextReset(work);
		}
		MemoryContextReset(batch);
	}
	table_index_fetch_end(rfetch);
	index_endscan(p_scan);
	index_endscan(r_scan);
	index_endscan(c_scan);
	ExecDropSingleTupleTableSlot(pslot);
	ExecDropSingleTupleTableSlot(rslot);
	ExecDropSingleTupleTableSlot(cslot);
	ExecDropSingleTupleTableSlot(nslot);
	CdpIndexSortFinish(&isort, estate);
	index_close(r_idx, AccessShareLock);
	index_close(c_idx, AccessShareLock);
	table_close(clinical, NoLock);
	table_close(source, NoLock);
	table_close(record, NoLock);
	CdpBulkEnd(estate, &t, 1, false);
	MemoryContextDelete(work);
	MemoryContextDelete(batch);
	PG_RETURN_INT32(nchanged);
}
