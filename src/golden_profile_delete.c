/*-------------------------------------------------------------------------
 *
 * src/golden_profile_delete.c
 *		cdp_internal.golden_delete_profiles(ids): the delete of the profile
 *		rows a merge absorbed, in C (issue 16, session 37).
 *
 * golden_link_apply ended its merge with
 *		DELETE FROM cdp.patient p
 *		 USING (SELECT id FROM unnest(m_gone) ORDER BY id) g
 *		 WHERE p.golden_id = g.id
 * (step restore_delete): at the first-day merge of 1M records some 540k
 * rows, 1.3-2.3 s, most of it the executor's join of the ids with the
 * profiles and its per-row work around heap_delete.  Here each distinct id,
 * in ascending order (about the order of the rows' pages), is found through
 * cdp.patient's primary key, visible to the statement's snapshot, and its
 * row deleted (simple_table_tuple_delete): the rows the statement deleted,
 * no index touched (a delete adds no entry).  An id without a row is left
 * alone, as the join leaves it.
 *
 * It returns false, having deleted nothing, when it cannot stand in for the
 * statement: Citus; cdp.patient not a plain table, or with a rewrite rule,
 * or row-level security for the current user (CdpBulkPlainTable); a delete
 * trigger on it (a user's, or the action trigger of a foreign key that
 * references it); no primary key of one B-tree column golden_id.  The
 * caller then runs the statement.  Privileges are checked as the
 * statement's: DELETE on cdp.patient and SELECT of golden_id.  The rows must
 * be locked by the caller (golden_link_apply holds them, or the table): a
 * concurrent change of one is an error here, not a wait.
 *
 * test/pgtap/73_golden_delete_profiles.sql compares it with the statement.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_am_d.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type_d.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"

#include "cdp_bulk.h"
#include "golden.h"
#include "match.h"

/*
 * GoldenDeleteWritable
 *		Whether rows of cdp.patient (rel) can be deleted here: a plain table
 *		(CdpBulkPlainTable) without enabled delete triggers.
 */
static bool
GoldenDeleteWritable(Relation rel)
{
	TriggerDesc *td = rel->trigdesc;

	if (!CdpBulkPlainTable(rel))
		return false;
	for (int i = 0; td != NULL && i < td->numtriggers; i++)
		if (TRIGGER_FOR_DELETE(td->triggers[i].tgtype) &&
			td->triggers[i].tgenabled != TRIGGER_DISABLED)
			return false;
	return true;
}

PG_FUNCTION_INFO_V1(cdp_golden_delete_profiles);

/*
 * cdp_golden_delete_profiles
 *		SQL cdp_internal.golden_delete_profiles(ids bigint[]) RETURNS boolean
 *
 *		Deletes the profile rows (cdp.patient) of golden ids ids, as
 *		golden_link_apply's DELETE of the absorbed profiles (see the file's
 *		header); true when done, false having deleted nothing when the caller
 *		must run its statement.  ids: a one-dimensional array without NULLs
 *		(NULL or empty: nothing to delete); an id may repeat.
 */
Datum
cdp_golden_delete_profiles(PG_FUNCTION_ARGS)
{
	int			n;
	int64	   *ids;
	Oid			nsp;
	Oid			relid;
	Relation	rel;
	AttrNumber	a_golden;
	Oid			pkoid;
	Relation	idx;
	EState	   *estate;
	IndexScanDesc scan;
	TupleTableSlot *found;
	Snapshot	snap;

	ids = MatchLinkInt8Array(fcinfo, 0, "ids", &n);
	/* under Citus the table is a shell of a distributed one: only its executor writes it */
	if (OidIsValid(get_extension_oid("citus", true)))
		PG_RETURN_BOOL(false);
	nsp = get_namespace_oid("cdp", false);
	relid = get_relname_relid("patient", nsp);
	if (!OidIsValid(relid))
		elog(ERROR, "table cdp.patient not found");
	rel = table_open(relid, RowExclusiveLock);
	a_golden = get_attnum(relid, "golden_id");
	if (a_golden == InvalidAttrNumber ||
		TupleDescAttr(RelationGetDescr(rel), a_golden - 1)->atttypid != INT8OID)
		elog(ERROR, "cdp.patient has no golden_id bigint");
	if (!GoldenDeleteWritable(rel))
	{
		table_close(rel, NoLock);
		PG_RETURN_BOOL(false);
	}
	/* the primary key: one btree key column, golden_id */
	pkoid = RelationGetPrimaryKeyIndex(rel);
	idx = OidIsValid(pkoid) ? index_open(pkoid, RowExclusiveLock) : NULL;
	if (idx == NULL || idx->rd_rel->relam != BTREE_AM_OID ||
		idx->rd_index->indnkeyatts != 1 || idx->rd_index->indkey.values[0] != a_golden)
	{
		if (idx != NULL)
			index_close(idx, NoLock);
		table_close(rel, NoLock);
		PG_RETURN_BOOL(false);
	}
	{
		static const char *const selected[] = {"golden_id"};
		CdpBulkTable table;

		memset(&table, 0, sizeof(table));
		table.rel = rel;
		table.perms = ACL_DELETE | ACL_SELECT;
		table.selected = selected;
		table.nselected = lengthof(selected);
		estate = CdpBulkExecutorState(&table, 1);
	}
	snap = estate->es_snapshot;
	if (n > 1)
		qsort(ids, n, sizeof(int64), GoldenInt64Cmp);

	found = table_slot_create(rel, NULL);
	scan = index_beginscan(rel, idx, snap, 1, 0);
	for (int i = 0; i < n; i++)
	{
		ScanKeyData key;

		CHECK_FOR_INTERRUPTS();
		if (i > 0 && ids[i] == ids[i - 1])
			continue;
		ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(ids[i]));
		index_rescan(scan, &key, 1, NULL, 0);
		if (index_getnext_slot(scan, ForwardScanDirection, found))
		{
			ItemPointerData tid = found->tts_tid;

			ExecClearTuple(found);
			simple_table_tuple_delete(rel, &tid, snap);
		}
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(found);
	FreeExecutorState(estate);
	index_close(idx, NoLock);
	table_close(rel, NoLock);
	PG_RETURN_BOOL(true);
}
