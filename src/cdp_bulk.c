/*-------------------------------------------------------------------------
 *
 * src/cdp_bulk.c
 *		Bulk writes of one table from C, as COPY FROM writes it (see
 *		cdp_bulk.h): ingest's fast path (ingest_write.c) and golden's merge
 *		writer (golden_link_write.c) both write through these four calls.
 *
 * A group is at most CDP_BULK_GROUP_ROWS rows; the values of a group's rows
 * must live until the group is put on pages (CdpBulkFlush, or CdpBulkAdd
 * when the group is full, or CdpBulkClose).  Slots are made in the
 * executor state's query context, so a caller may keep its rows' values in
 * a context it resets after each flush.
 *
 * A target's index entries go in with each group, row by row, as COPY adds
 * them, unless its writer asks for them sorted (CdpBulkSortIndexes; the merge
 * writer, golden_link_write.c, for every table it writes and the rows it
 * updates): then each row's entries are formed as its group is put on pages
 * and kept in one sort per index (tuplesort, as CREATE INDEX sorts them), and
 * at the end of the table's write (CdpBulkFinishIndexes) each index gets its
 * entries in its own key order.  The same entries, the same checks of unique
 * indexes (made when the entry goes in, before the writer returns), fewer
 * pages visited: entries in key order go to the same leaf pages one after
 * another, where row order (link order: random persons) visited a leaf
 * page, at 1M records often not in shared buffers, per entry (issue 16,
 * session 34).
 *
 * The golden merge's writers (golden_link_write and golden_move_records in
 * golden_link_write.c, golden_refold_rows in golden_refold.c) set
 * CDP_INDEX_SORT_KEPT_UNCHECKED: the same entries, without the work that
 * cannot change anything for the rows a merge writes (issue 16, session 37;
 * issue 12, session 38, moved here from golden_index.c).  A profile of the
 * first-day merge at 1M records (perf, session 37) put about a fifth of the
 * merge's index work into two things:
 *
 * - The unique check of an updated row's new version in a unique index
 *   whose key the update kept (CdpIndexSortBegin's kept flag:
 *   record_pkey and record_source_key_unique for a record moved to another
 *   person, patient_member_pkey for a closed interval, patient_pkey for a
 *   re-folded profile).  The check reads the heap for every entry of the
 *   same key: the old version's, which this transaction has just updated,
 *   at random pages for record_source_key_unique.  It cannot fail: the old
 *   version had that key in that index (its predicate and key columns are
 *   the new version's), the index is unique, and the row is locked by this
 *   transaction, so no other live or in-progress row can hold the key (an
 *   inserter of it finds the old version's entry and waits for this
 *   transaction, then finds the new entry).  Such an entry goes in with
 *   UNIQUE_CHECK_NO.
 * - The bottom-up deletion pass (_bt_bottomupdel_pass) that the "unchanged"
 *   hint, or a unique check that met a duplicate, starts on a full leaf
 *   page before splitting it: it visits the heap pages of the page's
 *   duplicates to delete the entries of dead versions, and the versions
 *   next to the merge's entries are the ones this transaction has just
 *   updated, not dead to anyone; so the pass finds nothing and the page
 *   splits anyway.  The hint is not given (an entry added by INSERT does
 *   not give it either); VACUUM removes dead entries as it does for any
 *   table.
 *
 * An entry whose key columns the update changed (record_golden_idx), and
 * every entry of a new row (an inserted event, interval or redirect), is
 * checked as before.  The entry itself is the tuplesort's (index_form_tuple
 * of the same values, its heap pointer set), handed to _bt_doinsert as
 * btinsert hands the one it forms; the rows, entries and errors are those
 * of the executor's mode.  test/pgtap/73_golden_link_index.sql checks every
 * index of the tables the merge writes with amcheck (bt_index_check,
 * heapallindexed) and the unique indexes against a duplicate after the
 * merge.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/hio.h"
#include "access/nbtree.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_am_d.h"
#include "catalog/pg_class.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_trigger.h"
#include "access/tableam.h"
#include "commands/trigger.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "rewrite/rewriteHandler.h"
#include "storage/bufmgr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/tuplesort.h"

#include "cdp_bulk.h"

/*
 * CdpBulkInternalFunc
 *		The OID of function cdp_internal.name() (no arguments), or InvalidOid
 *		when there is none: the writers here skip the extension's own triggers
 *		by their functions (a trigger function takes no arguments).
 */
Oid
CdpBulkInternalFunc(const char *name)
{
	Oid			nsp = get_namespace_oid("cdp_internal", true);
	Oid			argtypes[1];

	if (!OidIsValid(nsp))
		return InvalidOid;
	return GetSysCacheOid3(PROCNAMEARGSNSP, Anum_pg_proc_oid, CStringGetDatum(name),
						   PointerGetDatum(buildoidvector(argtypes, 0)), ObjectIdGetDatum(nsp));
}

/*
 * CdpBulkPlainTable
 *		Whether rel is a plain table without rewrite rules, stored generated
 *		columns or row-level security for the current user: what every writer
 *		here needs before it looks at the table's triggers.
 */
bool
CdpBulkPlainTable(Relation rel)
{
	return rel->rd_rel->relkind == RELKIND_RELATION && rel->rd_rules == NULL &&
		!(rel->rd_att->constr && rel->rd_att->constr->has_generated_stored) &&
		check_enable_rls(RelationGetRelid(rel), InvalidOid, false) != RLS_ENABLED;
}

/*
 * CdpBulkWritable
 *		Whether rel can be written here, where no trigger fires row by row: a
 *		plain table without rewrite rules, stored generated columns or
 *		row-level security for the current user, whose insert triggers are
 *		all foreign key checks against fk_refd (InvalidOid: no insert trigger
 *		at all), and, when the caller also updates rows (updates), without
 *		update triggers.  When it is not, the caller runs its SQL statement.
 */
bool
CdpBulkWritable(Relation rel, Oid fk_refd, bool updates)
{
	TriggerDesc *td = rel->trigdesc;

	if (!CdpBulkPlainTable(rel))
		return false;
	for (int i = 0; td != NULL && i < td->numtriggers; i++)
	{
		Trigger    *t = &td->triggers[i];

		if (updates && TRIGGER_FOR_UPDATE(t->tgtype))
			return false;
		if (TRIGGER_FOR_INSERT(t->tgtype) &&
			(!OidIsValid(fk_refd) || t->tgfoid != F_RI_FKEY_CHECK_INS || t->tgconstrrelid != fk_refd))
			return false;
	}
	return true;
}

/* the attribute numbers of cols in rel, as a set of range table columns */
static Bitmapset *
CdpBulkColumns(Relation rel, const char *const *cols, int ncols)
{
	Bitmapset  *set = NULL;

	for (int c = 0; c < ncols; c++)
	{
		AttrNumber	a = get_attnum(RelationGetRelid(rel), cols[c]);

		if (a == InvalidAttrNumber)
			elog(ERROR, "column \"%s\" of table \"%s\" not found", cols[c], RelationGetRelationName(rel));
		set = bms_add_member(set, a - FirstLowInvalidHeapAttributeNumber);
	}
	return set;
}

/*
 * CdpBulkExecutorState
 *		The executor state of a bulk write of tables (range table index i + 1
 *		for tables[i]): its command id and snapshot, and its range table with
 *		each table's privileges (and columns) checked as the executor checks
 *		an INSERT or UPDATE statement's: an error if the current user lacks
 *		one.
 */
EState *
CdpBulkExecutorState(const CdpBulkTable *tables, int ntables)
{
	EState	   *estate = CreateExecutorState();
	List	   *rtable = NIL;

	estate->es_output_cid = GetCurrentCommandId(true);
	estate->es_snapshot = GetActiveSnapshot();
	for (int i = 0; i < ntables; i++)
	{
		RangeTblEntry *rte = makeNode(RangeTblEntry);

		rte->rtekind = RTE_RELATION;
		rte->relid = RelationGetRelid(tables[i].rel);
		rte->relkind = RELKIND_RELATION;
		rte->rellockmode = RowExclusiveLock;
		rte->requiredPerms = tables[i].perms;
		rte->insertedCols = CdpBulkColumns(tables[i].rel, tables[i].inserted, tables[i].ninserted);
		rte->updatedCols = CdpBulkColumns(tables[i].rel, tables[i].updated, tables[i].nupdated);
		rte->selectedCols = CdpBulkColumns(tables[i].rel, tables[i].selected, tables[i].nselected);
		rtable = lappend(rtable, rte);
	}
	ExecCheckRTPerms(rtable, true);
	ExecInitRangeTable(estate, rtable);
	return estate;
}

/*
 * CdpBulkOpen
 *		Opens rel (range table index rti) for writing into t: result relation,
 *		indexes, the map of the caller's columns (cols, ncols; NULL: the
 *		caller sets every attribute, in order) and the defaults of the others.
 *		An error if a column of cols is not in rel.
 */
void
CdpBulkOpen(EState *estate, CdpBulkTarget *t, Relation rel, Index rti,
			const char *const *cols, int ncols)
{
	TupleDesc	desc = RelationGetDescr(rel);

	memset(t, 0, sizeof(CdpBulkTarget));
	t->rel = rel;
	t->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(t->rri, rel, rti, NULL, 0);
	ExecOpenIndices(t->rri, false);
	/* closed by ExecCloseResultRelations, found there by the trigger queue */
	estate->es_opened_result_relations = lappend(estate->es_opened_result_relations, t->rri);

	/*
	 * A bulk insert state keeps the page being filled pinned from one group
	 * to the next; without COPY's ring of 16 MB (the rows are read again
	 * soon, by matching and the profiles' readers, and a ring evicting its
	 * own dirty pages flushes WAL for each).
	 */
	t->bistate = GetBulkInsertState();
	FreeAccessStrategy(t->bistate->strategy);
	t->bistate->strategy = NULL;

	/*
	 * The slots' descriptor: a copy of the relation's without its reference
	 * count, so that making a slot does not pin it.  A pin is remembered by
	 * the resource owner, whose hash of a thousand pins of one descriptor
	 * probes through all of them on every pin (quadratic in the group).  The
	 * copy has the same attributes, which is all a slot's tuple needs;
	 * constraints and defaults are the relation's (ExecConstraints,
	 * t->defaults).
	 */
	t->slotdesc = CreateTupleDescCopy(desc);
	t->given = palloc(sizeof(int) * Max(desc->natts, 1));
	t->defaults = palloc0(sizeof(ExprState *) * Max(desc->natts, 1));
	t->colattr = palloc0(sizeof(AttrNumber) * Max(ncols, 1));
	for (int a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);
		Node	   *def;

		t->given[a] = cols == NULL ? a : -1;
		if (att->attisdropped || cols == NULL)
			continue;
		for (int c = 0; c < ncols; c++)
			if (strcmp(NameStr(att->attname), cols[c]) == 0)
			{
				t->given[a] = c;
				t->colattr[c] = a + 1;
			}
		if (t->given[a] >= 0)
			continue;
		def = build_column_default(rel, a + 1);
		if (def != NULL)
			t->defaults[a] = ExecPrepareExpr(expression_planner((Expr *) def), estate);
	}
	/* every column the caller sets must be there */
	for (int c = 0; cols != NULL && c < ncols; c++)
		if (t->colattr[c] == InvalidAttrNumber)
			elog(ERROR, "column \"%s\" of \"%s\" not found", cols[c], RelationGetRelationName(rel));
}

/*
 * CdpBulkFreeze
 *		Writes t's rows frozen and their pages all-visible, as COPY FREEZE
 *		does, when this subtransaction created t's table or gave it a new
 *		file (TRUNCATE) and no row is on its pages yet; returns whether it
 *		will (issue 12, session 42).  Call it before the first row.
 *
 * A frozen row is visible to every snapshot, where a row inserted as usual
 * becomes visible to others at commit.  That makes no difference here: no
 * other transaction can read a file this subtransaction made before it
 * commits (TRUNCATE holds its ACCESS EXCLUSIVE lock to the end), and if
 * the subtransaction aborts, the file and its rows go with it, which is
 * why the file must be this subtransaction's own, not an outer one's.
 * What differs is for readers after the commit: a transaction whose
 * snapshot is older than the commit sees the new rows, where TRUNCATE
 * alone would show it an empty table (neither is what MVCC would show, as
 * PostgreSQL documents for TRUNCATE and COPY FREEZE); and a cursor or
 * snapshot this transaction took before the write sees them too (COPY
 * FREEZE refuses to run then; the callers here are internal work tables
 * that no such reader holds).  What it saves: the first reader after the
 * commit need not look up the inserting transaction and set hint bits on
 * every row (dirtying every page), VACUUM finds the pages all-frozen and
 * skips them, and an index-only scan needs no heap visit from the start.
 */
bool
CdpBulkFreeze(CdpBulkTarget *t)
{
	Relation	rel = t->rel;
	SubTransactionId sub = GetCurrentSubTransactionId();

	if (rel->rd_rel->relam != HEAP_TABLE_AM_OID || t->ngroup > 0 ||
		(rel->rd_createSubid != sub && rel->rd_newRelfilenodeSubid != sub) ||
		RelationGetNumberOfBlocks(rel) != 0)
		return false;
	t->ti_options |= TABLE_INSERT_FROZEN;
	return true;
}

/*
 * CdpBulkFlush
 *		Puts the current group of t on pages, adds their index entries in
 *		group order and fires the first row's insert triggers when asked
 *		(fire_first).
 */
void
CdpBulkFlush(EState *estate, CdpBulkTarget *t)
{
	CdpBulkFlushTids(estate, t, NULL);
}

/*
 * CdpBulkFlushTids
 *		CdpBulkFlush that also gives each row's heap tuple id: tids[i] is the
 *		row of slot i (tids may be NULL; it has room for the group otherwise).
 */
void
CdpBulkFlushTids(EState *estate, CdpBulkTarget *t, ItemPointerData *tids)
{
	if (t->ngroup == 0)
		return;
	table_multi_insert(t->rel, t->slots, t->ngroup, estate->es_output_cid, t->ti_options, t->bistate);
	for (int i = 0; i < t->ngroup; i++)
	{
		TupleTableSlot *slot = t->slots[i];

		if (t->isort != NULL)
			CdpIndexSortAdd(t->isort, estate, slot);
		else if (t->rri->ri_NumIndices > 0)
			list_free(ExecInsertIndexTuples(t->rri, slot, estate, false, false, NULL, NIL));
		if (t->fire_first)
		{
			ExecARInsertTriggers(estate, t->rri, slot, NIL, NULL);
			t->fire_first = false;
		}
		if (tids != NULL)
			tids[i] = slot->tts_tid;
		ResetPerTupleExprContext(estate);
	}
	for (int i = 0; i < t->ngroup; i++)
		ExecClearTuple(t->slots[i]);
	t->ngroup = 0;
}

/*
 * CdpBulkAdd
 *		Adds a row to t's group from the caller's values (in the order of its
 *		column list, or of the attributes when it has none) and the defaults,
 *		checks its constraints and returns its slot, valid until the group is
 *		put on pages.  A full group is put on pages first (a caller that
 *		resets its values' memory after each group flushes when CdpBulkFull
 *		instead).
 */
TupleTableSlot *
CdpBulkAdd(EState *estate, CdpBulkTarget *t, Datum *values, bool *nulls)
{
	TupleDesc	desc = RelationGetDescr(t->rel);
	TupleTableSlot *slot;
	ExprContext *econtext = GetPerTupleExprContext(estate);

	if (CdpBulkFull(t))
		CdpBulkFlush(estate, t);
	if (t->ngroup == t->nslots)
	{
		/* in the query's context: the caller's may be a group's, reset after it */
		MemoryContext old = MemoryContextSwitchTo(estate->es_query_cxt);

		t->slots[t->nslots++] = MakeSingleTupleTableSlot(t->slotdesc, table_slot_callbacks(t->rel));
		MemoryContextSwitchTo(old);
	}
	slot = t->slots[t->ngroup];
	ExecClearTuple(slot);
	for (int a = 0; a < desc->natts; a++)
	{
		if (t->given[a] >= 0)
		{
			slot->tts_values[a] = values[t->given[a]];
			slot->tts_isnull[a] = nulls[t->given[a]];
		}
		else if (t->defaults[a] != NULL)
			slot->tts_values[a] = ExecEvalExpr(t->defaults[a], econtext, &slot->tts_isnull[a]);
		else
		{
			slot->tts_values[a] = (Datum) 0;
			slot->tts_isnull[a] = true;
		}
	}
	ExecStoreVirtualTuple(slot);
	if (t->rel->rd_att->constr)
		ExecConstraints(t->rri, slot, estate);
	t->ngroup++;
	return slot;
}

/*
 * CdpBulkClose
 *		Writes what is left of t's group and drops its slots and bulk insert
 *		state (its indexes close with the executor state's result relations).
 */
void
CdpBulkClose(EState *estate, CdpBulkTarget *t)
{
	CdpBulkFlush(estate, t);
	CdpBulkFinishIndexes(estate, t);
	for (int i = 0; i < t->nslots; i++)
		ExecDropSingleTupleTableSlot(t->slots[i]);
	t->nslots = 0;
	FreeTupleDesc(t->slotdesc);
	t->slotdesc = NULL;
	FreeBulkInsertState(t->bistate);
	t->bistate = NULL;
}

/*
 * CdpBulkEnd
 *		Ends a bulk write of ntargets tables: closes each target (its last
 *		group put on pages), ends the trigger queue's query if end_query (the
 *		caller began one), frees the executor state and closes the tables
 *		(their locks kept to the end of the transaction).
 */
void
CdpBulkEnd(EState *estate, CdpBulkTarget *targets, int ntargets, bool end_query)
{
	for (int i = 0; i < ntargets; i++)
		CdpBulkClose(estate, &targets[i]);
	if (end_query)
		AfterTriggerEndQuery(estate);
	ExecCloseResultRelations(estate);
	ExecResetTupleTable(estate->es_tupleTable, false);
	FreeExecutorState(estate);
	for (int i = 0; i < ntargets; i++)
		table_close(targets[i].rel, NoLock);
}

/*
 * CdpBulkSortIndexes
 *		From now on, t's index entries are sorted and added when its write
 *		ends (CdpBulkFinishIndexes, or CdpBulkClose) instead of with each
 *		group.  Not for a target that fires triggers (an AFTER trigger could
 *		read the table through an index before its entries are there).
 */
void
CdpBulkSortIndexes(EState *estate, CdpBulkTarget *t)
{
	MemoryContext old;

	Assert(!t->fire_first);
	if (t->isort != NULL)
		return;
	old = MemoryContextSwitchTo(estate->es_query_cxt);
	t->isort = palloc0(sizeof(CdpIndexSort));
	CdpIndexSortBegin(t->isort, estate, t->rri, false);
	MemoryContextSwitchTo(old);
}

/*
 * CdpBulkFinishIndexes
 *		Adds the sorted index entries of t's rows put on pages so far (none
 *		pending: nothing to do); the rows of its current group must have been
 *		put on pages (CdpBulkFlush).  Entries of later rows go in with their
 *		groups again.
 */
void
CdpBulkFinishIndexes(EState *estate, CdpBulkTarget *t)
{
	if (t->isort == NULL)
		return;
	Assert(t->ngroup == 0);
	CdpIndexSortFinish(t->isort, estate);
	pfree(t->isort);
	t->isort = NULL;
}

/*
 * CdpIndexReadsChanged
 *		Whether index ii reads a column in changed (attribute numbers offset
 *		by FirstLowInvalidHeapAttributeNumber): one of its first natts
 *		columns (its key columns, then its included ones), a column its
 *		expressions read, or (predicate) one its predicate reads.
 */
static bool
CdpIndexReadsChanged(IndexInfo *ii, int natts, bool predicate, Bitmapset *changed)
{
	Bitmapset  *read = NULL;

	for (int a = 0; a < natts; a++)
		if (ii->ii_IndexAttrNumbers[a] != 0 &&
			bms_is_member(ii->ii_IndexAttrNumbers[a] - FirstLowInvalidHeapAttributeNumber, changed))
			return true;
	if (ii->ii_Expressions != NIL)
		pull_varattnos((Node *) ii->ii_Expressions, 1, &read);
	if (predicate && ii->ii_Predicate != NIL)
		pull_varattnos((Node *) ii->ii_Predicate, 1, &read);
	return bms_overlap(read, changed);
}

/*
 * CdpIndexSortBegin
 *		Starts collecting the index entries of rows written to rri's table
 *		(update: the rows are new versions of rows updated, not HOT), to be
 *		added as the executor adds them (mode CDP_INDEX_SORT_EXECUTOR; the
 *		caller may set another mode before CdpIndexSortFinish).  Entries are
 *		sorted when every index of the table is a btree that checks
 *		uniqueness at once (no deferrable unique or exclusion constraint):
 *		else each row's entries go in as it is added (ExecInsertIndexTuples),
 *		so that every check is made where the executor makes it.
 */
void
CdpIndexSortBegin(CdpIndexSort *s, EState *estate, ResultRelInfo *rri, bool update)
{
	int			n = rri->ri_NumIndices;
	Bitmapset  *changed = NULL;

	memset(s, 0, sizeof(CdpIndexSort));
	s->rri = rri;
	s->update = update;
	s->sorted = n > 0;
	for (int k = 0; k < n; k++)
	{
		Relation	ir = rri->ri_IndexRelationDescs[k];
		IndexInfo  *ii = rri->ri_IndexRelationInfo[k];

		if (ir == NULL || ir->rd_rel->relam != BTREE_AM_OID || ii->ii_ExclusionOps != NULL ||
			!ir->rd_index->indimmediate)
			s->sorted = false;
	}
	if (!s->sorted)
		return;
	s->sorts = palloc0(sizeof(struct Tuplesortstate *) * n);
	s->unchanged = palloc0(sizeof(bool) * n);
	s->kept = palloc0(sizeof(bool) * n);
	if (!update)
		return;
	changed = bms_union(ExecGetUpdatedCols(rri, estate), ExecGetExtraUpdatedCols(rri, estate));
	for (int k = 0; k < n; k++)
	{
		Relation	ir = rri->ri_IndexRelationDescs[k];
		IndexInfo  *ii = rri->ri_IndexRelationInfo[k];

		/*
		 * index_insert's hint that the update left the entry's columns alone
		 * (it may then delete older versions' entries bottom-up), as
		 * ExecInsertIndexTuples works it out: no key or included column of
		 * the index, and no column its expressions read, is one updated
		 */
		s->unchanged[k] = !CdpIndexReadsChanged(ii, ii->ii_NumIndexAttrs, false, changed);

		/*
		 * the new version has the old one's entry key (see the file's
		 * header): the update names the columns it changes, none of them is
		 * a key column or read by the index's expressions or predicate
		 * (included columns may be), no key column is an expression, and the
		 * index is valid (a row in an index still being built may not have
		 * its entry yet)
		 */
		s->kept[k] = !bms_is_empty(changed) && ir->rd_index->indisvalid && ir->rd_index->indisready &&
			!CdpIndexReadsChanged(ii, ii->ii_NumIndexKeyAttrs, true, changed);
		for (int a = 0; s->kept[k] && a < ii->ii_NumIndexKeyAttrs; a++)
			if (ii->ii_IndexAttrNumbers[a] == 0)
				s->kept[k] = false;
	}
}

/*
 * CdpIndexSortAdd
 *		The index entries of the row in slot (its tuple id set: put on pages),
 *		kept for CdpIndexSortFinish; or added at once when the table's
 *		indexes are not sorted here.  Partial indexes get an entry when the
 *		row satisfies their predicate, as ExecInsertIndexTuples decides.
 */
void
CdpIndexSortAdd(CdpIndexSort *s, EState *estate, TupleTableSlot *slot)
{
	ResultRelInfo *rri = s->rri;
	ExprContext *econtext;
	Datum		values[INDEX_MAX_KEYS];
	bool		isnull[INDEX_MAX_KEYS];

	if (!s->sorted)
	{
		if (rri->ri_NumIndices > 0)
			list_free(ExecInsertIndexTuples(rri, slot, estate, s->update, false, NULL, NIL));
		return;
	}
	econtext = GetPerTupleExprContext(estate);
	econtext->ecxt_scantuple = slot;
	for (int k = 0; k < rri->ri_NumIndices; k++)
	{
		Relation	ir = rri->ri_IndexRelationDescs[k];
		IndexInfo  *ii = rri->ri_IndexRelationInfo[k];

		if (!ii->ii_ReadyForInserts)
			continue;
		if (ii->ii_Predicate != NIL)
		{
			if (ii->ii_PredicateState == NULL)
				ii->ii_PredicateState = ExecPrepareQual(ii->ii_Predicate, estate);
			if (!ExecQual(ii->ii_PredicateState, econtext))
				continue;
		}
		FormIndexDatum(ii, slot, estate, values, isnull);
		if (s->sorts[k] == NULL)
		{
			MemoryContext old = MemoryContextSwitchTo(estate->es_query_cxt);

			/* each index's sort has maintenance_work_mem, as CREATE INDEX's */
			s->sorts[k] = tuplesort_begin_index_btree(rri->ri_RelationDesc, ir, false, false,
													  maintenance_work_mem, NULL, TUPLESORT_NONE);
			MemoryContextSwitchTo(old);
		}
		tuplesort_putindextuplevalues(s->sorts[k], ir, &slot->tts_tid, values, isnull);
	}
	s->nrows++;
}

/*
 * CdpIndexSortFinish
 *		Adds the entries kept by CdpIndexSortAdd, index by index, each in its
 *		key order (then heap tuple id), checking unique indexes as
 *		ExecInsertIndexTuples does (UNIQUE_CHECK_YES: a duplicate is an
 *		error), with the update's "unchanged" hint; or, in mode
 *		CDP_INDEX_SORT_KEPT_UNCHECKED, with no unique check for an index
 *		whose key the update kept, no hint, the tuplesort's entry handed to
 *		_bt_doinsert as it is (see the file's header).  Then forgets them,
 *		so that a later call adds nothing twice.
 */
void
CdpIndexSortFinish(CdpIndexSort *s, EState *estate)
{
	ResultRelInfo *rri = s->rri;
	Datum		values[INDEX_MAX_KEYS];
	bool		isnull[INDEX_MAX_KEYS];

	if (!s->sorted)
		return;
	for (int k = 0; k < rri->ri_NumIndices; k++)
	{
		Relation	ir = rri->ri_IndexRelationDescs[k];
		IndexInfo  *ii = rri->ri_IndexRelationInfo[k];
		IndexTuple	itup;
		ExprContext *econtext = GetPerTupleExprContext(estate);
		MemoryContext old;
		int64		added = 0;
		bool		direct = s->mode == CDP_INDEX_SORT_KEPT_UNCHECKED;
		IndexUniqueCheck check = UNIQUE_CHECK_NO;

		if (s->sorts[k] == NULL)
			continue;
		Assert(ir->rd_rel->relam == BTREE_AM_OID);
		if (ir->rd_index->indisunique && !(direct && s->kept[k]))
			check = UNIQUE_CHECK_YES;
		tuplesort_performsort(s->sorts[k]);
		old = MemoryContextSwitchTo(econtext->ecxt_per_tuple_memory);
		while ((itup = tuplesort_getindextuple(s->sorts[k], true)) != NULL)
		{
			if ((++added & 1023) == 0)
				CHECK_FOR_INTERRUPTS();
			if (direct)
				(void) _bt_doinsert(ir, itup, check, false, rri->ri_RelationDesc);
			else
			{
				index_deform_tuple(itup, RelationGetDescr(ir), values, isnull);
				index_insert(ir, values, isnull, &itup->t_tid, rri->ri_RelationDesc, check,
							 s->unchanged[k], ii);
			}
			MemoryContextReset(econtext->ecxt_per_tuple_memory);
		}
		MemoryContextSwitchTo(old);
		tuplesort_end(s->sorts[k]);
		s->sorts[k] = NULL;
	}
	s->nrows = 0;
}
