/*-------------------------------------------------------------------------
 *
 * src/campaign_send_write.c
 *		cdp_internal.campaign_send_put(...): the aggregate through which a
 *		segment campaign's listing (cdp_internal.campaign_list_set,
 *		sql/parts/86_campaign_send.sql) writes its rows into
 *		cdp.campaign_send (issue 14, session 30).
 *
 * The listing's statement was an INSERT ... SELECT; it is now a SELECT of
 * this aggregate over the same rows, in the same order.  Each row is put on
 * pages as COPY FROM puts it (src/cdp_bulk.c: table_multi_insert a group of
 * rows at a time, their index entries after each group, the defaults and
 * the NOT NULL and CHECK constraints as INSERT evaluates them), without the
 * executor's row-by-row insert and without the transition table that the
 * two AFTER INSERT statement triggers of cdp.campaign_send would have been
 * given.  Their work is the caller's, done from the ids this returns:
 *
 * - cdp_internal.campaign_rollup_apply counts sent rows only; a listing
 *	 writes none (due, holdout or skipped), and a sent row here is an error,
 *	 so the roll-up is unchanged, as the trigger would leave it;
 * - cdp_internal.seg_campaign_touched names the persons written in
 *	 cdp_internal.seg_touch: the caller passes the returned ids to
 *	 cdp_internal.seg_campaign_touch, the trigger's body.
 *
 * The rows written by this command are invisible to the statement's own
 * scans of cdp.campaign_send (they carry its command id, as an INSERT's
 * do).  Privileges are checked as the INSERT would (INSERT on the table).
 *
 * When the table cannot be written this way (any other insert trigger, or
 * one of the two missing or not enabled always; a rewrite rule, a stored
 * generated column, row-level security active for the current user, or the
 * citus extension), each row is inserted by its own INSERT statement
 * through SPI, which fires every trigger and checks every policy, and the
 * aggregate returns NULL: nothing is left for the caller.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_trigger_d.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"

#include "cdp_bulk.h"

PG_FUNCTION_INFO_V1(cdp_campaign_send_put_step);
PG_FUNCTION_INFO_V1(cdp_campaign_send_put_final);

/* the columns the listing sets, in the aggregate's argument order */
#define SP_NCOLS	13
#define SP_GOLDEN	1
#define SP_STATUS	4
static const char *const SendCols[SP_NCOLS] = {
	"campaign_id", "golden_id", "trigger_key", "purpose", "status", "reason", "channel",
	"address", "arm", "due_at", "built_at", "message", "provenance"
};
static const Oid SendTypes[SP_NCOLS] = {
	INT8OID, INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
	TEXTOID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID, JSONBOID
};

typedef struct SendPut
{
	bool		bulk;			/* written here (else by SPI, one INSERT a row) */
	Relation	rel;
	EState	   *estate;
	CdpBulkTarget target;
	MemoryContext group_cxt;	/* the values of the current group */
	int64	   *ids;			/* golden ids written here, in order */
	int			nids;
	int			maxids;
	SPIPlanPtr	plan;			/* the fallback's INSERT */
	bool		done;
} SendPut;

/*
 * Whether cdp.campaign_send's insert triggers are exactly the two statement
 * triggers whose work the caller does (see the head of this file), both
 * enabled always.
 */
static bool
SendPutTriggersKnown(Relation rel)
{
	TriggerDesc *td = rel->trigdesc;
	Oid			internal = get_namespace_oid("cdp_internal", true);
	bool		rollup = false,
				touch = false;

	for (int i = 0; td != NULL && i < td->numtriggers; i++)
	{
		Trigger    *t = &td->triggers[i];
		char	   *fname;

		if (!TRIGGER_FOR_INSERT(t->tgtype))
			continue;
		if (TRIGGER_FOR_ROW(t->tgtype) || !TRIGGER_FOR_AFTER(t->tgtype) ||
			t->tgenabled != TRIGGER_FIRES_ALWAYS || get_func_namespace(t->tgfoid) != internal)
			return false;
		fname = get_func_name(t->tgfoid);
		if (fname != NULL && strcmp(fname, "campaign_rollup_apply") == 0 && !rollup)
			rollup = true;
		else if (fname != NULL && strcmp(fname, "seg_campaign_touched") == 0 && !touch)
			touch = true;
		else
			return false;
	}
	return rollup && touch;
}

/* Whether rel may be written here (else the SPI fallback). */
static bool
SendPutWritable(Relation rel)
{
	if (OidIsValid(get_extension_oid("citus", true)))
		return false;
	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rules != NULL ||
		(rel->rd_att->constr && rel->rd_att->constr->has_generated_stored) ||
		check_enable_rls(RelationGetRelid(rel), InvalidOid, false) == RLS_ENABLED)
		return false;
	return SendPutTriggersKnown(rel);
}

static SendPut *
SendPutStart(MemoryContext aggcxt)
{
	MemoryContext old = MemoryContextSwitchTo(aggcxt);
	SendPut    *sp = palloc0(sizeof(SendPut));
	Oid			nsp = get_namespace_oid("cdp", false);
	Oid			relid = get_relname_relid("campaign_send", nsp);
	Relation	rel;

	if (!OidIsValid(relid))
		elog(ERROR, "table cdp.campaign_send not found");
	rel = table_open(relid, RowExclusiveLock);
	if (!SendPutWritable(rel))
	{
		Oid			types[SP_NCOLS];

		table_close(rel, NoLock);
		memcpy(types, SendTypes, sizeof(types));
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		sp->plan = SPI_prepare("INSERT INTO cdp.campaign_send (campaign_id, golden_id, trigger_key, purpose, status, "
							   "reason, channel, address, arm, due_at, built_at, message, provenance) "
							   "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
							   SP_NCOLS, types);
		if (sp->plan == NULL || SPI_keepplan(sp->plan) != 0)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_finish();
		MemoryContextSwitchTo(old);
		return sp;
	}
	sp->bulk = true;
	sp->rel = rel;
	for (int c = 0; c < SP_NCOLS; c++)
	{
		AttrNumber	a = get_attnum(relid, SendCols[c]);

		if (a == InvalidAttrNumber ||
			TupleDescAttr(RelationGetDescr(rel), a - 1)->atttypid != SendTypes[c])
			elog(ERROR, "cdp.campaign_send has no column %s of the listing's type", SendCols[c]);
	}
	{
		CdpBulkTable table = {.rel = rel, .perms = ACL_INSERT, .inserted = SendCols, .ninserted = SP_NCOLS};

		sp->estate = CdpBulkExecutorState(&table, 1);
	}
	CdpBulkOpen(sp->estate, &sp->target, rel, 1, SendCols, SP_NCOLS);
	sp->group_cxt = AllocSetContextCreate(aggcxt, "cdp campaign_send_put group", ALLOCSET_DEFAULT_SIZES);
	sp->maxids = 1024;
	sp->ids = palloc(sizeof(int64) * sp->maxids);
	MemoryContextSwitchTo(old);
	return sp;
}

/*
 * cdp_campaign_send_put_step
 *		Transition function of cdp_internal.campaign_send_put(campaign_id,
 *		golden_id, trigger_key, purpose, status, reason, channel, address,
 *		arm, due_at, built_at, message, provenance): writes one row (or adds
 *		it to the group being written).  Only as an aggregate.
 */
Datum
cdp_campaign_send_put_step(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	SendPut    *sp;
	Datum		v[SP_NCOLS];
	bool		n[SP_NCOLS];

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("campaign_send_put_step may only be called as an aggregate's transition")));
	if (PG_NARGS() != SP_NCOLS + 1)
		elog(ERROR, "campaign_send_put_step takes %d arguments", SP_NCOLS + 1);
	sp = PG_ARGISNULL(0) ? SendPutStart(aggcxt) : (SendPut *) PG_GETARG_POINTER(0);
	if (sp->done)
		elog(ERROR, "campaign_send_put: rows after the end");
	for (int c = 0; c < SP_NCOLS; c++)
	{
		n[c] = PG_ARGISNULL(c + 1);
		v[c] = n[c] ? (Datum) 0 : PG_GETARG_DATUM(c + 1);
	}

	if (!sp->bulk)
	{
		char		nulls[SP_NCOLS];
		int			rc;

		for (int c = 0; c < SP_NCOLS; c++)
			nulls[c] = n[c] ? 'n' : ' ';
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		rc = SPI_execute_plan(sp->plan, v, nulls, false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "campaign_send_put: INSERT failed: %s", SPI_result_code_string(rc));
		SPI_finish();
		PG_RETURN_POINTER(sp);
	}

	/* the roll-up's trigger counts sent rows: a listing writes none (see the head of this file) */
	if (!n[SP_STATUS] && strcmp(TextDatumGetCString(v[SP_STATUS]), "sent") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("campaign_send_put writes listed rows, not sent ones")));
	if (CdpBulkFull(&sp->target))
	{
		CdpBulkFlush(sp->estate, &sp->target);
		MemoryContextReset(sp->group_cxt);
	}
	{
		MemoryContext old = MemoryContextSwitchTo(sp->group_cxt);

		/* the arguments live for this call only; the group until it is put on pages */
		for (int c = 0; c < SP_NCOLS; c++)
			if (!n[c] && (SendTypes[c] == TEXTOID || SendTypes[c] == JSONBOID))
				v[c] = PointerGetDatum(PG_DETOAST_DATUM_COPY(v[c]));
		MemoryContextSwitchTo(old);
	}
	(void) CdpBulkAdd(sp->estate, &sp->target, v, n);
	if (!n[SP_GOLDEN])
	{
		if (sp->nids == sp->maxids)
		{
			sp->maxids *= 2;
			sp->ids = repalloc_huge(sp->ids, sizeof(int64) * sp->maxids);
		}
		sp->ids[sp->nids++] = DatumGetInt64(v[SP_GOLDEN]);
	}
	PG_RETURN_POINTER(sp);
}

/*
 * cdp_campaign_send_put_final
 *		Final function: writes the last group and returns the golden ids of
 *		the rows written here, in order, for the statement triggers' work
 *		(an empty array when there were no rows), or NULL when the rows went
 *		through INSERT statements (their triggers fired).
 */
Datum
cdp_campaign_send_put_final(PG_FUNCTION_ARGS)
{
	SendPut    *sp;
	Datum	   *d;
	ArrayType  *res;

	if (!AggCheckCallContext(fcinfo, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("campaign_send_put_final may only be called as an aggregate's final function")));
	if (PG_ARGISNULL(0))
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(INT8OID));
	sp = (SendPut *) PG_GETARG_POINTER(0);
	if (!sp->bulk)
		PG_RETURN_NULL();
	if (sp->done)
		elog(ERROR, "campaign_send_put: final function called twice");
	sp->done = true;
	CdpBulkEnd(sp->estate, &sp->target, 1, false);
	sp->estate = NULL;
	MemoryContextDelete(sp->group_cxt);
	d = palloc(sizeof(Datum) * Max(sp->nids, 1));
	for (int i = 0; i < sp->nids; i++)
		d[i] = Int64GetDatum(sp->ids[i]);
	res = construct_array(d, sp->nids, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	PG_RETURN_ARRAYTYPE_P(res);
}
