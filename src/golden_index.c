/*-------------------------------------------------------------------------
 *
 * src/golden_index.c
 *		GoldenIndexSortFinish: the index entries the golden merge's writers
 *		kept sorted (CdpIndexSort, src/cdp_bulk.c) put into their B-trees,
 *		without the work that cannot change anything for the rows a merge
 *		writes (issue 16, session 37).
 *
 * The merge's writers (golden_link_write and golden_move_records in
 * src/golden_link_write.c, golden_refold_rows in src/golden_refold.c) keep
 * each written row's index entries in one tuplesort per index and add them
 * at the end, index by index in key order.  CdpIndexSortFinish adds each as
 * ExecInsertIndexTuples would: the entry taken apart (index_deform_tuple)
 * and formed again by index_insert, a unique index checked
 * (UNIQUE_CHECK_YES), the update's "unchanged" hint given.  A profile of
 * the first-day merge at 1M records (perf, session 37) put about a fifth
 * of the merge's index work into two things that change nothing there:
 *
 * - The unique check of an updated row's new version in a unique index
 *   whose key columns the update leaves alone (record_pkey and
 *   record_source_key_unique for a record moved to another person,
 *   patient_member_pkey for a closed interval, patient_pkey for a
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
 * checked as before.  The entry itself is the tuplesort's
 * (index_form_tuple of the same values, its heap pointer set), handed to
 * _bt_doinsert as btinsert hands the one it forms; the rows, entries and
 * errors are those of CdpIndexSortFinish.  Only B-trees are sorted
 * (CdpIndexSortBegin), so every index here is one.
 *
 * test/pgtap/73_golden_link_index.sql checks every index of the tables the
 * merge writes with amcheck (bt_index_check, heapallindexed) and the
 * unique indexes against a duplicate after the merge.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/nbtree.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/bitmapset.h"
#include "optimizer/optimizer.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/tuplesort.h"

#include "cdp_bulk.h"
#include "golden.h"

/*
 * GoldenIndexKeptKey
 *		Whether an update that changes the columns in changed (attribute
 *		numbers offset by FirstLowInvalidHeapAttributeNumber) gives the new
 *		version of a row the old version's entry key in index ii: none of its
 *		key columns, none of the columns its expressions or predicate read,
 *		is changed (included columns may be), and the index is valid (a row
 *		in an index still being built may not have its entry yet).
 */
static bool
GoldenIndexKeptKey(Relation ir, IndexInfo *ii, Bitmapset *changed)
{
	Bitmapset  *read = NULL;

	if (!ir->rd_index->indisvalid || !ir->rd_index->indisready)
		return false;
	for (int a = 0; a < ii->ii_NumIndexKeyAttrs; a++)
		if (ii->ii_IndexAttrNumbers[a] == 0 ||
			bms_is_member(ii->ii_IndexAttrNumbers[a] - FirstLowInvalidHeapAttributeNumber, changed))
			return false;
	if (ii->ii_Expressions != NIL)
		pull_varattnos((Node *) ii->ii_Expressions, 1, &read);
	if (ii->ii_Predicate != NIL)
		pull_varattnos((Node *) ii->ii_Predicate, 1, &read);
	return !bms_overlap(read, changed);
}

/*
 * GoldenIndexSortFinish
 *		Adds the entries kept in s (CdpIndexSortAdd), index by index in key
 *		order, as CdpIndexSortFinish adds them, but with no unique check for
 *		an updated row whose index key the update kept and without the
 *		"unchanged" hint (see the file's header); then forgets them, so that
 *		a later CdpIndexSortFinish or CdpBulkFinishIndexes of s adds nothing
 *		twice.  Does nothing when s is NULL or its entries went in row by row.
 */
void
GoldenIndexSortFinish(CdpIndexSort *s, EState *estate)
{
	ResultRelInfo *rri;
	Bitmapset  *changed = NULL;

	if (s == NULL || !s->sorted)
		return;
	rri = s->rri;
	if (s->update)
		changed = bms_union(ExecGetUpdatedCols(rri, estate), ExecGetExtraUpdatedCols(rri, estate));
	for (int k = 0; k < rri->ri_NumIndices; k++)
	{
		Relation	ir = rri->ri_IndexRelationDescs[k];
		IndexInfo  *ii = rri->ri_IndexRelationInfo[k];
		IndexUniqueCheck check = UNIQUE_CHECK_NO;
		IndexTuple	itup;
		int64		added = 0;
		ExprContext *econtext = GetPerTupleExprContext(estate);
		MemoryContext old;

		if (s->sorts[k] == NULL)
			continue;
		Assert(ir->rd_rel->relam == BTREE_AM_OID);
		/* an update that names no changed column is checked as an insert */
		if (ir->rd_index->indisunique &&
			!(s->update && !bms_is_empty(changed) && GoldenIndexKeptKey(ir, ii, changed)))
			check = UNIQUE_CHECK_YES;
		tuplesort_performsort(s->sorts[k]);
		/* what an insertion allocates goes with it, as in CdpIndexSortFinish */
		old = MemoryContextSwitchTo(econtext->ecxt_per_tuple_memory);
		while ((itup = tuplesort_getindextuple(s->sorts[k], true)) != NULL)
		{
			if ((++added & 1023) == 0)
				CHECK_FOR_INTERRUPTS();
			(void) _bt_doinsert(ir, itup, check, false, rri->ri_RelationDesc);
			MemoryContextReset(econtext->ecxt_per_tuple_memory);
		}
		MemoryContextSwitchTo(old);
		tuplesort_end(s->sorts[k]);
		s->sorts[k] = NULL;
	}
	s->nrows = 0;
}
