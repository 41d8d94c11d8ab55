/*-------------------------------------------------------------------------
 *
 * src/match_keys_write.c
 *		The full re-key's writes from C (issue 12, session 30): one pass over
 *		the feature query puts each record's cdp_internal.match_key row and
 *		its cdp_internal.match_block rows (one a blocking key, with the
 *		record's birth date read by the same query) on pages a group at a
 *		time, as COPY FROM writes (src/cdp_bulk.c).
 *
 * What it replaces, at 1M records: an INSERT ... SELECT of the key rows (a
 * heap insert and a WAL record each) and a second INSERT of 7.4M block rows
 * that read match_key again and joined it with cdp.record for the date.
 * The rows are the same and in the same order: key rows in the query's
 * order (the order the training's walk samples in), a record's block rows
 * after its key row in the order of its keys, NULL keys left out.
 *
 * The caller (_match_refresh_keys) has emptied both tables and dropped
 * their indexes in this transaction and builds them afterwards; indexes
 * still there are kept row by row (CdpBulkFlush).  When a table cannot be
 * written this way (CdpBulkWritable: row-level security for the caller,
 * rules, triggers; or under Citus, whose tables only its executor writes)
 * the function writes nothing and returns NULL, and the caller runs its SQL
 * statements.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parsetree.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "cdp_bulk.h"

/* the columns the query returns, in order */
enum
{
	KQ_RECORD, KQ_FLAGS, KQ_FEAT, KQ_BK, KQ_QUEUED_AT, KQ_BIRTH_DATE, KQ_COUNT
};
static const Oid KeyQueryTypes[KQ_COUNT] = {INT8OID, INT4OID, TEXTARRAYOID, TEXTARRAYOID,
											TIMESTAMPTZOID, DATEOID};

/* the tables written and the columns set */
enum
{
	KT_KEY, KT_BLOCK, KT_COUNT
};
static const char *const KeyCols[] = {"record_id", "version", "flags", "feat", "bk", "queued_at"};
static const char *const BlockCols[] = {"bk", "record_id", "birth_date"};

/* rows of the query fetched at a time (their values live until the rows are on pages) */
#define KEYS_FETCH_ROWS	1000

PG_FUNCTION_INFO_V1(cdp_match_write_keys);

/*
 * cdp_match_write_keys
 *		SQL cdp_internal._match_write_keys(query text, version int) RETURNS
 *		bigint: runs query, which must return (record_id bigint, flags int,
 *		feat text[], bk text[], queued_at timestamptz, birth_date date), and
 *		appends per row a match_key row of settings version `version` and a
 *		match_block row for each non-NULL key of bk.  Returns the key rows
 *		written, or NULL having written nothing when a table cannot be
 *		written here.
 */
Datum
cdp_match_write_keys(PG_FUNCTION_ARGS)
{
	char	   *query;
	int32		version;
	Oid			nsp;
	Relation	rels[KT_COUNT];
	const char *names[KT_COUNT] = {"match_key", "match_block"};
	EState	   *estate;
	CdpBulkTarget *targets;
	SPIPlanPtr	plan;
	Portal		portal;
	MemoryContext batch_cxt,
				old;
	int64		nkeys = 0;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("query and version must not be NULL")));
	query = text_to_cstring(PG_GETARG_TEXT_PP(0));
	version = PG_GETARG_INT32(1);

	/* under Citus the tables are shells of distributed ones: only its executor writes them */
	if (OidIsValid(get_extension_oid("citus", true)))
		PG_RETURN_NULL();
	nsp = get_namespace_oid("cdp_internal", false);
	for (int w = 0; w < KT_COUNT; w++)
	{
		Oid			relid = get_relname_relid(names[w], nsp);

		if (!OidIsValid(relid))
			elog(ERROR, "table cdp_internal.%s not found", names[w]);
		rels[w] = table_open(relid, RowExclusiveLock);
		if (!CdpBulkWritable(rels[w], InvalidOid, false))
		{
			for (int k = 0; k <= w; k++)
				table_close(rels[k], NoLock);
			PG_RETURN_NULL();
		}
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/*
	 * Planned for all its rows, as the INSERT ... SELECT it replaces (no
	 * CURSOR_OPT_FAST_PLAN, no parallel plan): the same plan reads the
	 * records in the same order.
	 */
	plan = SPI_prepare_cursor(query, 0, NULL, 0);
	if (plan == NULL)
		elog(ERROR, "_match_write_keys: SPI_prepare_cursor failed: %s", SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, false);
	{
		TupleDesc	td = portal->tupDesc;

		if (td == NULL || td->natts != KQ_COUNT)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("_match_write_keys: the query must return %d columns", KQ_COUNT)));
		for (int c = 0; c < KQ_COUNT; c++)
			if (TupleDescAttr(td, c)->atttypid != KeyQueryTypes[c])
				ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
								errmsg("_match_write_keys: column %d of the query has type %s, not %s",
									   c + 1, format_type_be(TupleDescAttr(td, c)->atttypid),
									   format_type_be(KeyQueryTypes[c]))));
	}

	{
		CdpBulkTable tables[KT_COUNT];

		memset(tables, 0, sizeof(tables));
		for (int w = 0; w < KT_COUNT; w++)
		{
			tables[w].rel = rels[w];
			tables[w].perms = ACL_INSERT;
			tables[w].inserted = w == KT_KEY ? KeyCols : BlockCols;
			tables[w].ninserted = w == KT_KEY ? lengthof(KeyCols) : lengthof(BlockCols);
		}
		estate = CdpBulkExecutorState(tables, KT_COUNT);
	}
	targets = palloc0(sizeof(CdpBulkTarget) * KT_COUNT);
	CdpBulkOpen(estate, &targets[KT_KEY], rels[KT_KEY], 1, KeyCols, lengthof(KeyCols));
	CdpBulkOpen(estate, &targets[KT_BLOCK], rels[KT_BLOCK], 2, BlockCols, lengthof(BlockCols));
	batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "cdp _match_write_keys batch",
									  ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		SPITupleTable *tt;
		TupleDesc	td;

		SPI_cursor_fetch(portal, true, KEYS_FETCH_ROWS);
		if (SPI_processed == 0)
			break;
		tt = SPI_tuptable;
		td = tt->tupdesc;
		old = MemoryContextSwitchTo(batch_cxt);
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			Datum		q[KQ_COUNT];
			bool		qn[KQ_COUNT];
			Datum		kv[lengthof(KeyCols)];
			bool		kn[lengthof(KeyCols)];

			CHECK_FOR_INTERRUPTS();
			heap_deform_tuple(tt->vals[i], td, q, qn);
			if (qn[KQ_RECORD])
				ereport(ERROR, (errcode(ERRCODE_NOT_NULL_VIOLATION),
								errmsg("_match_write_keys: a row of the query has no record_id")));
			kv[0] = q[KQ_RECORD];
			kn[0] = false;
			kv[1] = Int32GetDatum(version);
			kn[1] = false;
			kv[2] = q[KQ_FLAGS];
			kn[2] = qn[KQ_FLAGS];
			kv[3] = q[KQ_FEAT];
			kn[3] = qn[KQ_FEAT];
			kv[4] = q[KQ_BK];
			kn[4] = qn[KQ_BK];
			kv[5] = q[KQ_QUEUED_AT];
			kn[5] = qn[KQ_QUEUED_AT];
			(void) CdpBulkAdd(estate, &targets[KT_KEY], kv, kn);
			nkeys++;
			if (!qn[KQ_BK])
			{
				ArrayType  *bk = DatumGetArrayTypeP(q[KQ_BK]);
				Datum	   *keys;
				bool	   *keyn;
				int			nk;

				if (ARR_NDIM(bk) > 1)
					ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
									errmsg("_match_write_keys: bk must be one-dimensional")));
				deconstruct_array(bk, TEXTOID, -1, false, TYPALIGN_INT, &keys, &keyn, &nk);
				for (int k = 0; k < nk; k++)
				{
					Datum		bv[lengthof(BlockCols)];
					bool		bn[lengthof(BlockCols)];

					if (keyn[k])
						continue;
					bv[0] = keys[k];
					bn[0] = false;
					bv[1] = q[KQ_RECORD];
					bn[1] = false;
					bv[2] = q[KQ_BIRTH_DATE];
					bn[2] = qn[KQ_BIRTH_DATE];
					(void) CdpBulkAdd(estate, &targets[KT_BLOCK], bv, bn);
				}
			}
		}
		/* the batch's values (the fetched rows, the keys' arrays) are on pages before they go */
		CdpBulkFlush(estate, &targets[KT_KEY]);
		CdpBulkFlush(estate, &targets[KT_BLOCK]);
		MemoryContextSwitchTo(old);
		MemoryContextReset(batch_cxt);
		SPI_freetuptable(tt);
	}
	SPI_cursor_close(portal);

	CdpBulkEnd(estate, targets, KT_COUNT, false);
	MemoryContextDelete(batch_cxt);
	SPI_finish();
	PG_RETURN_INT64(nkeys);
}
