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
 * still there are kept row by row (CdpBulkFlush).  Its TRUNCATE gave both
 * tables new files in this subtransaction, so the rows go in frozen, their
 * pages all-visible, as COPY FREEZE writes them (CdpBulkFreeze; issue 12,
 * session 42): the full run's and match_record's readers set no hint bits
 * on 1.2 GB of pages at 1M records, and autovacuum has nothing to do
 * there.  When a table cannot be written this way (CdpBulkWritable:
 * row-level security for the caller, rules, triggers; or under Citus, whose
 * tables only its executor writes) the function writes nothing and returns
 * NULL, and the caller runs its SQL statements.
 *
 * cdp_match_write_keys_scan (issue 12, session 32) writes the same rows
 * without the feature query: one scan of cdp.record in C reads each
 * record's raw values where MatchFeatureSource says the query's
 * expressions read them, and computes its features with MatchFeatRecord,
 * the body of _match_features.  The query's arrays, composite result, SPI
 * copies and hash join with the queue were about half of its cost.
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

#include "utils/acl.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/fmgrprotos.h"
#include "utils/rls.h"
#include "catalog/pg_collation.h"

#include "mb/pg_wchar.h"

#include "cdp.h"
#include "cdp_bulk.h"
#include "cdp_utf8.h"
#include "match.h"

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
PG_FUNCTION_INFO_V1(cdp_match_write_keys_scan);

/* cdp.name_roles (src/text_roles.c), called per record as the feature query calls it */
extern Datum cdp_name_roles(PG_FUNCTION_ARGS);

/*
 * KeysOpenTables
 *		Opens cdp_internal's match_key and match_block (rels, in KT_ order)
 *		for writing; false, with none left open, when one cannot be written
 *		here (CdpBulkWritable: triggers, rules, row-level security).
 */
static bool
KeysOpenTables(Oid nsp, Relation *rels)
{
	static const char *const names[KT_COUNT] = {"match_key", "match_block"};

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
			return false;
		}
	}
	return true;
}

/*
 * KeysOpenTargets
 *		The executor state and the bulk targets of match_key and match_block
 *		(rels in KT_ order), opened for their insert column lists; the
 *		targets are palloc'd in KT_ order.
 */
static EState *
KeysOpenTargets(Relation *rels, CdpBulkTarget **targets)
{
	CdpBulkTable tables[KT_COUNT];
	EState	   *estate;

	memset(tables, 0, sizeof(tables));
	for (int w = 0; w < KT_COUNT; w++)
	{
		tables[w].rel = rels[w];
		tables[w].perms = ACL_INSERT;
		tables[w].inserted = w == KT_KEY ? KeyCols : BlockCols;
		tables[w].ninserted = w == KT_KEY ? lengthof(KeyCols) : lengthof(BlockCols);
	}
	estate = CdpBulkExecutorState(tables, KT_COUNT);
	*targets = palloc0(sizeof(CdpBulkTarget) * KT_COUNT);
	CdpBulkOpen(estate, &(*targets)[KT_KEY], rels[KT_KEY], 1, KeyCols, lengthof(KeyCols));
	CdpBulkOpen(estate, &(*targets)[KT_BLOCK], rels[KT_BLOCK], 2, BlockCols, lengthof(BlockCols));
	/* the caller's TRUNCATE gave both tables new files: the rows go in frozen */
	for (int w = 0; w < KT_COUNT; w++)
		(void) CdpBulkFreeze(&(*targets)[w]);
	return estate;
}

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
	if (!KeysOpenTables(nsp, rels))
		PG_RETURN_NULL();

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

	estate = KeysOpenTargets(rels, &targets);
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

/* the columns of cdp.record the scan reads besides the comparisons' own */
enum
{
	RC_ID, RC_BIRTH, RC_SEX, RC_EXTRA, RC_HANDLES, RC_PHONES, RC_EMAILS, RC_FAMILY, RC_GIVEN,
	RC_PATRONYMIC, RC_COUNT
};
static const char *const RecordCols[RC_COUNT] = {"record_id", "birth_date", "sex", "extra", "handles",
	"phones", "emails", "family_name", "given_name", "patronymic"};
static const Oid RecordColTypes[RC_COUNT] = {INT8OID, DATEOID, TEXTOID, JSONBOID, JSONBOID,
	InvalidOid, InvalidOid, TEXTOID, TEXTOID, TEXTOID};

/*
 * The queue as read (record_id and queued_at in its physical order), looked
 * up for each record in the records' order.  Record ids are dense (a
 * sequence), so a table by id - min of positions in the queue finds each in
 * one step; ids spread wider than four slots per entry are found by a
 * binary search over the ids sorted.  The ids are unique (the queue's
 * primary key), so the entry is the one the feature query's join finds.  A
 * hash of a million entries was an eighth of the scan's time, its lookups
 * cache misses (issue 12, session 32).
 */
typedef struct QueueIndex
{
	int64	   *id;				/* in the queue's physical order */
	TimestampTz *at;
	int			n;
	int64		min;			/* the smallest id */
	int32	   *dense;			/* position by id - min (-1: none), or NULL */
	int64		ndense;
	int		   *sorted;			/* else positions by id */
} QueueIndex;

static const int64 *QueueSortIds;

/* qsort order of queue positions by id */
static int
QueuePosCmp(const void *x, const void *y)
{
	int64		a = QueueSortIds[*(const int *) x];
	int64		b = QueueSortIds[*(const int *) y];

	return (a > b) - (a < b);
}

/*
 * QueueIndexBuild
 *		The lookup structure of the loaded entries (in the current context).
 */
static void
QueueIndexBuild(QueueIndex *q)
{
	int64		max;

	if (q->n == 0)
		return;
	q->min = max = q->id[0];
	for (int i = 1; i < q->n; i++)
	{
		q->min = Min(q->min, q->id[i]);
		max = Max(max, q->id[i]);
	}
	/* (max - min computed in uint64: ids of any sign) */
	if ((uint64) max - (uint64) q->min < (uint64) q->n * 4 + 1024)
	{
		q->ndense = (int64) ((uint64) max - (uint64) q->min) + 1;
		q->dense = palloc_extended(sizeof(int32) * q->ndense, MCXT_ALLOC_HUGE);
		memset(q->dense, 0xff, sizeof(int32) * q->ndense);
		for (int i = 0; i < q->n; i++)
		{
			int64		k = (int64) ((uint64) q->id[i] - (uint64) q->min);

			if (q->dense[k] >= 0)
				elog(ERROR, "cdp_internal.match_queue holds record " INT64_FORMAT " twice", q->id[i]);
			q->dense[k] = i;
		}
		return;
	}
	q->sorted = palloc_extended(sizeof(int) * q->n, MCXT_ALLOC_HUGE);
	for (int i = 0; i < q->n; i++)
		q->sorted[i] = i;
	QueueSortIds = q->id;
	qsort(q->sorted, q->n, sizeof(int), QueuePosCmp);
	for (int i = 1; i < q->n; i++)
		if (q->id[q->sorted[i]] == q->id[q->sorted[i - 1]])
			elog(ERROR, "cdp_internal.match_queue holds record " INT64_FORMAT " twice",
				 q->id[q->sorted[i]]);
}

/*
 * QueueFind
 *		The position of record id in the queue, or -1 when it is not queued.
 */
static int
QueueFind(const QueueIndex *q, int64 id)
{
	int			lo,
				hi;

	if (q->n == 0)
		return -1;
	if (q->dense != NULL)
	{
		uint64		k = (uint64) id - (uint64) q->min;

		return k < (uint64) q->ndense ? q->dense[k] : -1;
	}
	lo = 0;
	hi = q->n - 1;
	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;
		int64		m = q->id[q->sorted[mid]];

		if (m == id)
			return q->sorted[mid];
		if (m < id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/* the output function of an array column's elements */
typedef struct ElemOut
{
	Oid			elemtype;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	FmgrInfo	out;
} ElemOut;

/*
 * RecordColumn
 *		The 0-based column of cdp.record named name, or -1 when there is
 *		none (dropped columns never match).
 */
static int
RecordColumn(TupleDesc td, const char *name)
{
	for (int i = 0; i < td->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(td, i);

		if (!a->attisdropped && strcmp(NameStr(a->attname), name) == 0)
			return i;
	}
	return -1;
}

/*
 * ReadableHere
 *		Whether the caller may read rel as a plain scan does what a query
 *		would: SELECT granted and no row-level security applying.
 */
static bool
ReadableHere(Relation rel)
{
	return pg_class_aclcheck(RelationGetRelid(rel), GetUserId(), ACL_SELECT) == ACLCHECK_OK &&
		check_enable_rls(RelationGetRelid(rel), InvalidOid, true) != RLS_ENABLED;
}

/*
 * JsonFieldText
 *		jb ->> key (jsonb_object_field_text, the same function the SQL form
 *		calls), NULL when jb is NULL or has no such key.
 */
static char *
JsonFieldText(Datum jb, bool jbnull, Datum key)
{
	LOCAL_FCINFO(fc, 2);
	Datum		r;

	if (jbnull)
		return NULL;
	InitFunctionCallInfoData(*fc, NULL, 2, DEFAULT_COLLATION_OID, NULL, NULL);
	fc->args[0].value = jb;
	fc->args[0].isnull = false;
	fc->args[1].value = key;
	fc->args[1].isnull = false;
	r = jsonb_object_field_text(fc);
	return fc->isnull ? NULL : TextDatumGetCString(r);
}

/*
 * MatchDateText
 *		to_char(d, 'YYYYMMDD'), or 'YYYY-MM-DD' with dashes (the date read as
 *		timestamptz, as in SQL): written directly for the years 1 to 9999,
 *		where the two agree, and by those functions for any other date (NULL
 *		for an infinite one).  The features' form and, with dashes,
 *		cdp.suspicious_values' (match_suspicious.c).
 */
char *
MatchDateText(DateADT d, bool dashes)
{
	int			y,
				m,
				day;
	Datum		ts;

	if (!DATE_NOT_FINITE(d))
	{
		j2date(d + POSTGRES_EPOCH_JDATE, &y, &m, &day);
		if (y >= 1 && y <= 9999)
			return dashes ? psprintf("%04d-%02d-%02d", y, m, day) : psprintf("%04d%02d%02d", y, m, day);
	}
	ts = DirectFunctionCall1(date_timestamptz, DateADTGetDatum(d));
	{
		LOCAL_FCINFO(fc, 2);
		Datum		r;

		InitFunctionCallInfoData(*fc, NULL, 2, DEFAULT_COLLATION_OID, NULL, NULL);
		fc->args[0].value = ts;
		fc->args[0].isnull = false;
		fc->args[1].value = CStringGetTextDatum(dashes ? "YYYY-MM-DD" : "YYYYMMDD");
		fc->args[1].isnull = false;
		r = timestamptz_to_char(fc);
		return fc->isnull ? NULL : TextDatumGetCString(r);
	}
}

/*
 * SexInitial
 *		upper(left(s, 1)): an ASCII character that is no small letter is its
 *		own upper case in every locale; anything else goes through upper().
 */
static char *
SexInitial(const char *s)
{
	int			len;

	if (*s == '\0')
		return pstrdup("");
	if (!IS_HIGHBIT_SET(*s) && !(*s >= 'a' && *s <= 'z'))
		return pnstrdup(s, 1);
	len = pg_mblen(s);
	return TextDatumGetCString(DirectFunctionCall1Coll(upper, DEFAULT_COLLATION_OID,
													   PointerGetDatum(cstring_to_text_with_len(s, len))));
}

/*
 * ArrayTexts
 *		The text forms of the elements of an array datum (as arr::text[]
 *		gives them), NULL for null elements; *n = 0 for a NULL array.
 */
static char **
ArrayTexts(Datum d, bool isnull, ElemOut *eo, int *n)
{
	Datum	   *elems;
	bool	   *nulls;
	char	  **out;

	*n = 0;
	if (isnull)
		return NULL;
	deconstruct_array(DatumGetArrayTypeP(d), eo->elemtype, eo->typlen, eo->typbyval,
					  eo->typalign, &elems, &nulls, n);
	out = palloc(sizeof(char *) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
		out[i] = nulls[i] ? NULL : OutputFunctionCall(&eo->out, elems[i]);
	return out;
}

/*
 * SetupElemOut
 *		The element type and output function of array column col; false
 *		when it is no array.
 */
static bool
SetupElemOut(TupleDesc td, int col, ElemOut *eo)
{
	Oid			fn;
	bool		isvarlena;

	eo->elemtype = get_element_type(TupleDescAttr(td, col)->atttypid);
	if (!OidIsValid(eo->elemtype))
		return false;
	get_typlenbyvalalign(eo->elemtype, &eo->typlen, &eo->typbyval, &eo->typalign);
	getTypeOutputInfo(eo->elemtype, &fn, &isvarlena);
	fmgr_info(fn, &eo->out);
	return true;
}

/*
 * cdp_match_write_keys_scan
 *		SQL cdp_internal._match_write_keys_scan(kinds int[], rules text[],
 *		ph_pos int[], ph_names text[], attrs text[], name_roles boolean,
 *		version int) RETURNS bigint: the full re-key of _match_write_keys
 *		without its query.  One scan of cdp.record computes each record's
 *		raw values (MatchFeatureSource: what the feature query's expressions
 *		read), its names by cdp.name_roles when name_roles, and its features
 *		(MatchFeatRecord, the function _match_features calls), and writes the
 *		same match_key and match_block rows in the same order (the records'
 *		scan order, as the query's sequential scan reads them), queued_at
 *		from a hash of match_queue read under the same snapshot.  Returns
 *		the key rows written, or NULL having written nothing when the tables
 *		cannot be written or read here (Citus, row-level security, rules,
 *		triggers, missing privileges, a column of another type): the caller
 *		then runs the query.
 */
Datum
cdp_match_write_keys_scan(PG_FUNCTION_ARGS)
{
	int32		version;
	Oid			nsp,
				recid,
				queueid;
	Relation	rels[KT_COUNT];
	Relation	rec,
				queue;
	TupleDesc	rtd;
	int			col[RC_COUNT];
	int			ncomp,
				nfeat,
				nrules;
	int			src[MATCH_MAX_COMP];
	int			srccol[MATCH_MAX_COMP];
	Datum		srckey[MATCH_MAX_COMP];
	Oid			srcout[MATCH_MAX_COMP];
	ElemOut		eo[2];
	bool		name_roles;
	Datum	   *kinds;
	bool	   *kindnull;
	char	  **attrs;
	ArrayType  *susp[3] = {NULL, NULL, NULL};
	MatchFeatState *fs;
	EState	   *estate;
	CdpBulkTarget *targets;
	QueueIndex	qi;
	Snapshot	snap;
	TableScanDesc scan;
	TupleTableSlot *slot;
	MemoryContext cxt = CurrentMemoryContext,
				batch_cxt,
				old;
	FmgrInfo	roles_fn;
	int64		nkeys = 0;
	int			inbatch = 0;

	for (int a = 0; a < 7; a++)
		if (PG_ARGISNULL(a) && a != 3)
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
							errmsg("only the placeholder names of _match_write_keys_scan may be NULL")));
	name_roles = PG_GETARG_BOOL(5);
	version = PG_GETARG_INT32(6);
	CdpCheckDatabaseUtf8();

	/* under Citus the tables are shells of distributed ones: only its executor writes them */
	if (OidIsValid(get_extension_oid("citus", true)))
		PG_RETURN_NULL();

	/* what each comparison reads, checked against the record table */
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(0), INT4OID, 4, true, TYPALIGN_INT, &kinds, &kindnull, &ncomp);
	{
		Datum	   *ad;
		bool	   *an;
		int			na;

		deconstruct_array(PG_GETARG_ARRAYTYPE_P(4), TEXTOID, -1, false, TYPALIGN_INT, &ad, &an, &na);
		if (na != ncomp || ncomp > MATCH_MAX_COMP)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("_match_write_keys_scan needs one attr per kind")));
		attrs = palloc(sizeof(char *) * Max(na, 1));
		for (int c = 0; c < na; c++)
		{
			if (an[c] || kindnull[c])
				ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
								errmsg("_match_write_keys_scan: kinds and attrs must not hold NULL")));
			attrs[c] = TextDatumGetCString(ad[c]);
		}
	}

	nsp = get_namespace_oid("cdp_internal", false);
	recid = get_relname_relid("record", get_namespace_oid("cdp", false));
	queueid = get_relname_relid("match_queue", nsp);
	if (!OidIsValid(recid) || !OidIsValid(queueid))
		elog(ERROR, "table cdp.record or cdp_internal.match_queue not found");
	if (!KeysOpenTables(nsp, rels))
		PG_RETURN_NULL();
	rec = table_open(recid, AccessShareLock);
	queue = table_open(queueid, AccessShareLock);
	rtd = RelationGetDescr(rec);
	{
		bool		ok = ReadableHere(rec) && ReadableHere(queue);

		for (int i = 0; ok && i < RC_COUNT; i++)
		{
			col[i] = RecordColumn(rtd, RecordCols[i]);
			ok = col[i] >= 0 && (!OidIsValid(RecordColTypes[i]) ||
								 TupleDescAttr(rtd, col[i])->atttypid == RecordColTypes[i]);
		}
		ok = ok && SetupElemOut(rtd, col[RC_PHONES], &eo[0]) && SetupElemOut(rtd, col[RC_EMAILS], &eo[1]);
		for (int c = 0; ok && c < ncomp; c++)
		{
			src[c] = MatchFeatureSource(attrs[c], DatumGetInt32(kinds[c]));
			srccol[c] = -1;
			if (src[c] == MATCH_SRC_COLUMN || src[c] == MATCH_SRC_TEXTOF)
			{
				srccol[c] = RecordColumn(rtd, attrs[c]);
				ok = srccol[c] >= 0 &&
					(src[c] == MATCH_SRC_TEXTOF || TupleDescAttr(rtd, srccol[c])->atttypid == TEXTOID);
				if (ok && src[c] == MATCH_SRC_TEXTOF)
				{
					bool		isvarlena;

					getTypeOutputInfo(TupleDescAttr(rtd, srccol[c])->atttypid, &srcout[c], &isvarlena);
				}
			}
			else if (src[c] == MATCH_SRC_JSON)
				srckey[c] = CStringGetTextDatum(attrs[c]);
		}
		if (!ok)
		{
			table_close(queue, AccessShareLock);
			table_close(rec, AccessShareLock);
			for (int k = 0; k < KT_COUNT; k++)
				table_close(rels[k], NoLock);
			PG_RETURN_NULL();
		}
	}

	/* the suspicious values, as the feature query's two subqueries read them */
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute("SELECT (SELECT pg_catalog.array_agg(x.value) FROM cdp_internal.match_suspicious x WHERE x.attr = 'phones'),"
					" (SELECT pg_catalog.array_agg(x.value) FROM cdp_internal.match_suspicious x WHERE x.attr = 'emails'),"
					" (SELECT pg_catalog.array_agg(pg_catalog.replace(x.value, '-', '')) FROM cdp_internal.match_suspicious x WHERE x.attr = 'birth_date')",
					true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "_match_write_keys_scan: reading the suspicious values failed");
	for (int i = 0; i < 3; i++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1, &isnull);

		if (!isnull)
		{
			old = MemoryContextSwitchTo(cxt);
			susp[i] = DatumGetArrayTypePCopy(d);
			MemoryContextSwitchTo(old);
		}
	}
	SPI_finish();

	fs = MatchFeatParse(PG_GETARG_ARRAYTYPE_P(0), PG_GETARG_ARRAYTYPE_P(1), PG_GETARG_ARRAYTYPE_P(2),
						PG_ARGISNULL(3) ? NULL : PG_GETARG_ARRAYTYPE_P(3), susp[0], susp[1], susp[2], &nfeat, &nrules);

	/*
	 * one snapshot for both tables, taken as a cursor of the query would
	 * take it (SPI_cursor_open, not read-only)
	 */
	CommandCounterIncrement();
	snap = RegisterSnapshot(GetTransactionSnapshot());
	PushActiveSnapshot(snap);

	/* queued_at by record: the LEFT JOIN with match_queue (its key is record_id) */
	{
		TupleDesc	qtd = RelationGetDescr(queue);
		int			qid = RecordColumn(qtd, "record_id"),
					qat = RecordColumn(qtd, "queued_at");
		int			cap = 1024;

		if (qid < 0 || qat < 0)
			elog(ERROR, "cdp_internal.match_queue has no record_id or queued_at");
		memset(&qi, 0, sizeof(qi));
		qi.id = palloc(sizeof(int64) * cap);
		qi.at = palloc(sizeof(TimestampTz) * cap);
		scan = table_beginscan(queue, snap, 0, NULL);
		slot = table_slot_create(queue, NULL);
		while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
		{
			bool		n1,
						n2;
			Datum		id = slot_getattr(slot, qid + 1, &n1);
			Datum		at = slot_getattr(slot, qat + 1, &n2);

			CHECK_FOR_INTERRUPTS();
			if (n1 || n2)
				elog(ERROR, "cdp_internal.match_queue has a NULL record_id or queued_at");
			if (qi.n == cap)
			{
				if (cap >= INT_MAX / 2)
					elog(ERROR, "cdp_internal.match_queue has too many entries");
				cap *= 2;
				qi.id = repalloc_huge(qi.id, sizeof(int64) * cap);
				qi.at = repalloc_huge(qi.at, sizeof(TimestampTz) * cap);
			}
			qi.id[qi.n] = DatumGetInt64(id);
			qi.at[qi.n] = DatumGetTimestampTz(at);
			qi.n++;
		}
		ExecDropSingleTupleTableSlot(slot);
		table_endscan(scan);
		QueueIndexBuild(&qi);
	}

	estate = KeysOpenTargets(rels, &targets);
	batch_cxt = AllocSetContextCreate(cxt, "cdp _match_write_keys_scan batch", ALLOCSET_DEFAULT_SIZES);

	/* cdp.name_roles as the query calls it: its word cache lives for the scan */
	memset(&roles_fn, 0, sizeof(roles_fn));
	roles_fn.fn_addr = cdp_name_roles;
	roles_fn.fn_oid = InvalidOid;
	roles_fn.fn_nargs = 3;
	roles_fn.fn_strict = false;
	roles_fn.fn_mcxt = cxt;

	scan = table_beginscan(rec, snap, 0, NULL);
	slot = table_slot_create(rec, NULL);
	old = MemoryContextSwitchTo(batch_cxt);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		Datum	   *v;
		bool	   *vn;
		char	   *raw[MATCH_MAX_COMP];
		char	   *nm[3] = {NULL, NULL, NULL};
		char	  **multi[2];
		int			nmulti[2];
		char	   *feat[MATCH_MAX_FEAT];
		char	   *bk[MATCH_MAX_KEY_RULES];
		Datum		bkd[MATCH_MAX_KEY_RULES];
		Datum		kv[lengthof(KeyCols)];
		bool		kn[lengthof(KeyCols)];
		int32		flags;
		int			qpos;
		int64		id;

		CHECK_FOR_INTERRUPTS();
		slot_getallattrs(slot);
		v = slot->tts_values;
		vn = slot->tts_isnull;
		if (vn[col[RC_ID]])
			ereport(ERROR, (errcode(ERRCODE_NOT_NULL_VIOLATION),
							errmsg("_match_write_keys_scan: a record has no record_id")));
		id = DatumGetInt64(v[col[RC_ID]]);

		/* the names, by what the words are when name_roles */
		if (name_roles)
		{
			LOCAL_FCINFO(fc, 3);
			Datum		r;
			Datum	   *el;
			bool	   *eln;
			int			nel;

			InitFunctionCallInfoData(*fc, &roles_fn, 3, DEFAULT_COLLATION_OID, NULL, NULL);
			for (int i = 0; i < 3; i++)
			{
				fc->args[i].value = v[col[RC_FAMILY + i]];
				fc->args[i].isnull = vn[col[RC_FAMILY + i]];
			}
			r = FunctionCallInvoke(fc);
			if (fc->isnull)
				elog(ERROR, "cdp.name_roles returned NULL");
			deconstruct_array(DatumGetArrayTypeP(r), TEXTOID, -1, false, TYPALIGN_INT, &el, &eln, &nel);
			if (nel != 3)
				elog(ERROR, "cdp.name_roles returned %d names", nel);
			for (int i = 0; i < 3; i++)
				nm[i] = eln[i] ? NULL : TextDatumGetCString(el[i]);
		}

		for (int c = 0; c < ncomp; c++)
		{
			int			k = srccol[c];

			raw[c] = NULL;
			switch (src[c])
			{
				case MATCH_SRC_COLUMN:
					if (name_roles && k == col[RC_FAMILY])
						raw[c] = nm[0];
					else if (name_roles && k == col[RC_GIVEN])
						raw[c] = nm[1];
					else if (name_roles && k == col[RC_PATRONYMIC])
						raw[c] = nm[2];
					else if (!vn[k])
						raw[c] = TextDatumGetCString(v[k]);
					break;
				case MATCH_SRC_TEXTOF:
					if (!vn[k])
						raw[c] = OidOutputFunctionCall(srcout[c], v[k]);
					break;
				case MATCH_SRC_SEX:
					if (!vn[col[RC_SEX]])
						raw[c] = SexInitial(TextDatumGetCString(v[col[RC_SEX]]));
					break;
				case MATCH_SRC_DATE:
					if (!vn[col[RC_BIRTH]])
						raw[c] = MatchDateText(DatumGetDateADT(v[col[RC_BIRTH]]), false);
					break;
				case MATCH_SRC_JSON:
					raw[c] = JsonFieldText(v[col[RC_EXTRA]], vn[col[RC_EXTRA]], srckey[c]);
					if (raw[c] == NULL)
						raw[c] = JsonFieldText(v[col[RC_HANDLES]], vn[col[RC_HANDLES]], srckey[c]);
					break;
				default:
					break;
			}
		}
		multi[0] = ArrayTexts(v[col[RC_PHONES]], vn[col[RC_PHONES]], &eo[0], &nmulti[0]);
		multi[1] = ArrayTexts(v[col[RC_EMAILS]], vn[col[RC_EMAILS]], &eo[1], &nmulti[1]);
		flags = MatchFeatRecord(fs, cxt, raw, ncomp, multi[0], nmulti[0], multi[1], nmulti[1], feat, bk);

		for (int r = 0; r < nrules; r++)
			bkd[r] = bk[r] ? CStringGetTextDatum(bk[r]) : (Datum) 0;
		qpos = QueueFind(&qi, id);
		kv[0] = Int64GetDatum(id);
		kn[0] = false;
		kv[1] = Int32GetDatum(version);
		kn[1] = false;
		kv[2] = Int32GetDatum(flags);
		kn[2] = false;
		kv[3] = MatchTextArrayOf(feat, nfeat);
		kn[3] = false;
		{
			bool	   *bkn = palloc(sizeof(bool) * Max(nrules, 1));
			int			dims[1] = {nrules};
			int			lbs[1] = {1};

			for (int r = 0; r < nrules; r++)
				bkn[r] = bk[r] == NULL;
			kv[4] = PointerGetDatum(construct_md_array(bkd, bkn, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
		}
		kn[4] = false;
		kv[5] = qpos >= 0 ? TimestampTzGetDatum(qi.at[qpos]) : (Datum) 0;
		kn[5] = qpos < 0;
		(void) CdpBulkAdd(estate, &targets[KT_KEY], kv, kn);
		nkeys++;
		for (int r = 0; r < nrules; r++)
		{
			Datum		bv[lengthof(BlockCols)];
			bool		bn[lengthof(BlockCols)];

			if (bk[r] == NULL)
				continue;
			bv[0] = bkd[r];
			bn[0] = false;
			bv[1] = Int64GetDatum(id);
			bn[1] = false;
			bv[2] = v[col[RC_BIRTH]];
			bn[2] = vn[col[RC_BIRTH]];
			(void) CdpBulkAdd(estate, &targets[KT_BLOCK], bv, bn);
		}
		if (++inbatch == KEYS_FETCH_ROWS)
		{
			/* the batch's values are on pages before they go */
			CdpBulkFlush(estate, &targets[KT_KEY]);
			CdpBulkFlush(estate, &targets[KT_BLOCK]);
			MemoryContextReset(batch_cxt);
			inbatch = 0;
		}
	}
	CdpBulkFlush(estate, &targets[KT_KEY]);
	CdpBulkFlush(estate, &targets[KT_BLOCK]);
	MemoryContextSwitchTo(old);
	ExecDropSingleTupleTableSlot(slot);
	table_endscan(scan);
	PopActiveSnapshot();
	UnregisterSnapshot(snap);
	table_close(queue, AccessShareLock);
	table_close(rec, AccessShareLock);

	CdpBulkEnd(estate, targets, KT_COUNT, false);
	MemoryContextDelete(batch_cxt);
	PG_RETURN_INT64(nkeys);
}
