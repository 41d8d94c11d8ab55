/*-------------------------------------------------------------------------
 *
 * src/golden_merge.c
 *		The merge plan of the golden family: cdp_internal._golden_merge_plan turns an
 *		ordered list of links between golden ids into the merges
 *		cdp.link_records would make one by one: the survivor (the smaller
 *		id) and the absorbed id of each, the original golden ids whose
 *		records move, links refused by a no_match decision between the
 *		grown persons, and the archived survivors that a merge with an
 *		active person restores.
 *
 *		It runs on the matching family's union-find over golden ids
 *		(MatchLinkSet, match_link.c), whose root is the smallest golden id
 *		of a cluster: the id that survives a merge.  Two forms of the same
 *		plan: one row per link (_golden_merge_plan), or one row of arrays
 *		(_golden_merge_plan_arrays, what golden_link_apply reads: no
 *		tuplestore of rows to aggregate back into arrays).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "golden.h"
#include "match.h"

PG_FUNCTION_INFO_V1(cdp_golden_merge_plan);

/*
 * GUC cdp.merge_lock_tables_links: from how many links a batch
 * (cdp.link_records_many, cdp_internal.golden_link_apply) locks cdp.record,
 * cdp.clinical_event and cdp.patient whole, in EXCLUSIVE mode, instead of
 * locking each row of its persons (issue 16, session 32).  Read by
 * cdp_internal.golden_lock_tables through current_setting; 0 turns the table
 * locks off.
 */
static int	golden_lock_tables_links = GOLDEN_LOCK_TABLES_LINKS;

/*
 * GoldenInit
 *		Registers the golden family's GUC (called from _PG_init).
 */
void
GoldenInit(void)
{
	DefineCustomIntVariable("cdp.merge_lock_tables_links",
							"Links from which a batch of links locks the record, clinical event and profile tables whole.",
							"A batch of at least this many links takes cdp.record, cdp.clinical_event and cdp.patient in EXCLUSIVE mode (plain reads go on, writers wait) instead of a row lock on each row of its persons; 0 never does.",
							&golden_lock_tables_links,
							GOLDEN_LOCK_TABLES_LINKS,
							0, INT_MAX,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);
}

/*
 * GoldenIdPairs
 *		The two bigint[] arguments argno and argno + 1 (named a and b), which
 *		must have the same length; returns it.
 */
static int
GoldenIdPairs(FunctionCallInfo fcinfo, int argno, const char *a, const char *b,
			  int64 **ea, int64 **eb)
{
	int			na,
				nb;

	*ea = MatchLinkInt8Array(fcinfo, argno, a, &na);
	*eb = MatchLinkInt8Array(fcinfo, argno + 1, b, &nb);
	if (na != nb)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s and %s must have the same length", a, b)));
	return na;
}

/* one link's row of the plan, as both forms of it take it */
typedef struct GoldenPlanRow
{
	char		outcome;
	int64		keep;			/* valid unless outcome is GOLDEN_MERGE_NO_MATCH */
	int64		gone;			/* a merge's: */
	bool		restore;
	int64	   *absorbed;		/* sorted ascending */
	int			nabsorbed;
} GoldenPlanRow;

typedef void (*GoldenPlanEmit) (void *arg, int link, const GoldenPlanRow *row);

/*
 * GoldenInt64Cmp
 *		qsort comparator of int64 values, ascending (golden.h: the golden
 *		family's one).
 */
int
GoldenInt64Cmp(const void *pa, const void *pb)
{
	int64		a = *(const int64 *) pa;
	int64		b = *(const int64 *) pb;

	return (a > b) - (a < b);
}

/*
 * GoldenMergePlanRun
 *		The plan of the links given as the five arguments of
 *		_golden_merge_plan (see cdp_golden_merge_plan): emit is called for
 *		each link in order, with its row (valid during the call only).
 *		Works in a context of its own, deleted before it returns.
 */
static void
GoldenMergePlanRun(FunctionCallInfo fcinfo, GoldenPlanEmit emit, void *arg)
{
	int			nlink,
				nnm,
				narch;
	int64	   *ga,
			   *gb,
			   *nma,
			   *nmb,
			   *arch;
	MatchLinkSet *s;
	int64	   *ids;
	MemoryContext work,
				old;

	work = AllocSetContextCreate(CurrentMemoryContext, "cdp merge plan", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(work);
	nlink = GoldenIdPairs(fcinfo, 0, "golden_a", "golden_b", &ga, &gb);
	nnm = GoldenIdPairs(fcinfo, 2, "no_match_a", "no_match_b", &nma, &nmb);
	arch = MatchLinkInt8Array(fcinfo, 4, "archived", &narch);

	s = MatchLinkSetInit(2 * nlink, 2 * nnm, 0);
	for (int i = 0; i < nlink; i++)
	{
		MatchLinkNodeOf(s, ga[i]);
		MatchLinkNodeOf(s, gb[i]);
	}
	for (int i = 0; i < narch; i++)
	{
		int			x = MatchLinkLookup(s->golden, arch[i]);

		if (x >= 0)
			s->node[x].archived = true;
	}
	MatchLinkEdges(s, NULL, 0, nma, nmb, nnm);
	ids = palloc_array(int64, Max(s->nnode, 1));

	for (int i = 0; i < nlink; i++)
	{
		int			ra = MatchLinkFind(s, MatchLinkLookup(s->golden, ga[i]));
		int			rb = MatchLinkFind(s, MatchLinkLookup(s->golden, gb[i]));
		GoldenPlanRow row;

		CHECK_FOR_INTERRUPTS();
		memset(&row, 0, sizeof(row));
		if (ra == rb || MatchLinkEdgeBetween(s, 0, ra, rb))
		{
			/* one person already: keep is it; refused: nothing to keep */
			row.outcome = ra == rb ? GOLDEN_MERGE_SAME : GOLDEN_MERGE_NO_MATCH;
			row.keep = s->node[ra].golden;
		}
		else
		{
			int			rk = s->node[ra].golden < s->node[rb].golden ? ra : rb;
			int			rg = rk == ra ? rb : ra;

			row.outcome = GOLDEN_MERGE_MERGE;
			row.keep = s->node[rk].golden;
			row.gone = s->node[rg].golden;
			row.restore = s->node[rk].archived && !s->node[rg].archived;
			for (int m = s->node[rg].member_head; m >= 0; m = s->member_next[m])
				ids[row.nabsorbed++] = s->node[m].golden;
			qsort(ids, row.nabsorbed, sizeof(int64), GoldenInt64Cmp);
			row.absorbed = ids;
			/* an archived person merging with an active one is active again */
			s->node[rk].archived = s->node[rk].archived && s->node[rg].archived;
			MatchLinkUnion(s, rk, rg);
		}
		MemoryContextSwitchTo(old);
		emit(arg, i, &row);
		MemoryContextSwitchTo(work);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(work);
}

/* the tuplestore of cdp_golden_merge_plan */
typedef struct GoldenPlanRows
{
	ReturnSetInfo *rsinfo;
} GoldenPlanRows;

/*
 * GoldenPlanPutRow
 *		Emits one link's row into the result of cdp_golden_merge_plan.
 */
static void
GoldenPlanPutRow(void *arg, int link, const GoldenPlanRow *row)
{
	ReturnSetInfo *rsinfo = ((GoldenPlanRows *) arg)->rsinfo;
	Datum		values[6];
	bool		nulls[6] = {false, false, false, false, false, false};
	Datum	   *ids = NULL;

	values[0] = Int32GetDatum(link + 1);
	values[1] = CharGetDatum(row->outcome);
	values[2] = Int64GetDatum(row->keep);
	if (row->outcome != GOLDEN_MERGE_MERGE)
	{
		nulls[2] = row->outcome != GOLDEN_MERGE_SAME;
		nulls[3] = nulls[4] = nulls[5] = true;
	}
	else
	{
		ids = palloc_array(Datum, Max(row->nabsorbed, 1));
		for (int k = 0; k < row->nabsorbed; k++)
			ids[k] = Int64GetDatum(row->absorbed[k]);
		values[3] = Int64GetDatum(row->gone);
		values[4] = BoolGetDatum(row->restore);
		values[5] = PointerGetDatum(construct_array(ids, row->nabsorbed, INT8OID, 8,
													FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	}
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	if (ids != NULL)
	{
		pfree(DatumGetPointer(values[5]));
		pfree(ids);
	}
}

/*
 * cdp_golden_merge_plan
 *		SQL cdp_internal._golden_merge_plan(golden_a bigint[], golden_b bigint[],
 *		no_match_a bigint[], no_match_b bigint[], archived bigint[])
 *		RETURNS TABLE (ord int, outcome "char", keep bigint, gone bigint,
 *		restore boolean, absorbed bigint[])
 *
 *		Link i joins the persons golden_a[i] and golden_b[i] as they were
 *		before the batch; the links apply in order.  One row per link:
 *		's' the two are one person by then (keep is it), 'n' a no_match
 *		decision (pairs of golden ids, before the batch) joins the grown
 *		persons (keep NULL), 'm' a merge of gone into keep, where absorbed lists the
 *		original golden ids whose records move (ascending), and restore says that keep
 *		was archived and gone active (keep becomes active).
 */
Datum
cdp_golden_merge_plan(PG_FUNCTION_ARGS)
{
	GoldenPlanRows rows;

	InitMaterializedSRF(fcinfo, 0);
	rows.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	GoldenMergePlanRun(fcinfo, GoldenPlanPutRow, &rows);
	return (Datum) 0;
}

/* the arrays of cdp_golden_merge_plan_arrays being filled */
typedef struct GoldenPlanArrays
{
	int			nlink;
	Datum	   *ord,
			   *outcome,
			   *keep,
			   *gone,
			   *restore;
	bool	   *keep_null,
			   *gone_null,
			   *restore_null;
	Datum	   *ab_ord,
			   *ab_g;
	int			nab,
				abcap;
} GoldenPlanArrays;

/*
 * GoldenPlanPutArrays
 *		Appends one link's row to the arrays of cdp_golden_merge_plan_arrays.
 */
static void
GoldenPlanPutArrays(void *arg, int link, const GoldenPlanRow *row)
{
	GoldenPlanArrays *a = arg;

	a->ord[link] = Int32GetDatum(link + 1);
	a->outcome[link] = CharGetDatum(row->outcome);
	a->keep[link] = Int64GetDatum(row->keep);
	a->keep_null[link] = row->outcome == GOLDEN_MERGE_NO_MATCH;
	a->gone[link] = Int64GetDatum(row->gone);
	a->gone_null[link] = row->outcome != GOLDEN_MERGE_MERGE;
	a->restore[link] = BoolGetDatum(row->restore);
	a->restore_null[link] = row->outcome != GOLDEN_MERGE_MERGE;
	if (a->nab + row->nabsorbed > a->abcap)
	{
		a->abcap = Max(a->abcap * 2, a->nab + row->nabsorbed);
		a->ab_ord = repalloc_array(a->ab_ord, Datum, a->abcap);
		a->ab_g = repalloc_array(a->ab_g, Datum, a->abcap);
	}
	for (int k = 0; k < row->nabsorbed; k++)
	{
		a->ab_ord[a->nab] = Int32GetDatum(link + 1);
		a->ab_g[a->nab++] = Int64GetDatum(row->absorbed[k]);
	}
}

/*
 * GoldenPlanArray
 *		A one-dimensional array of n elements of type typ (int4, "char", int8,
 *		bool) with the given NULL flags (NULL: none), or NULL when n is 0 (as
 *		array_agg of no rows).
 */
static Datum
GoldenPlanArray(Datum *elems, bool *nulls, int n, Oid typ, bool *isnull)
{
	int16		typlen;
	bool		byval;
	char		align;
	int			dims[1] = {n};
	int			lbs[1] = {1};

	*isnull = n == 0;
	if (n == 0)
		return (Datum) 0;
	get_typlenbyvalalign(typ, &typlen, &byval, &align);
	return PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs, typ, typlen, byval, align));
}

PG_FUNCTION_INFO_V1(cdp_golden_merge_plan_arrays);

/*
 * cdp_golden_merge_plan_arrays
 *		SQL cdp_internal._golden_merge_plan_arrays(golden_a bigint[], golden_b
 *		bigint[], no_match_a bigint[], no_match_b bigint[], archived bigint[],
 *		OUT ord int[], OUT outcome "char"[], OUT keep bigint[], OUT gone
 *		bigint[], OUT restore boolean[], OUT ab_ord int[], OUT ab_g bigint[])
 *
 *		The plan of _golden_merge_plan as one row of arrays, element i the
 *		column of link i (ord = i), what golden_link_apply aggregated the rows
 *		into; the absorbed ids of all merges flattened into (ab_ord, ab_g) in
 *		link then id order.  Arrays of nothing are NULL.
 */
Datum
cdp_golden_merge_plan_arrays(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	GoldenPlanArrays a;
	int			n = 0;
	Datum		values[7];
	bool		nulls[7];

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "_golden_merge_plan_arrays must return a record");
	desc = BlessTupleDesc(desc);
	if (!PG_ARGISNULL(0))
		n = ArrayGetNItems(ARR_NDIM(PG_GETARG_ARRAYTYPE_P(0)), ARR_DIMS(PG_GETARG_ARRAYTYPE_P(0)));
	memset(&a, 0, sizeof(a));
	a.ord = palloc_array(Datum, Max(n, 1));
	a.outcome = palloc_array(Datum, Max(n, 1));
	a.keep = palloc_array(Datum, Max(n, 1));
	a.gone = palloc_array(Datum, Max(n, 1));
	a.restore = palloc_array(Datum, Max(n, 1));
	a.keep_null = palloc_array(bool, Max(n, 1));
	a.gone_null = palloc_array(bool, Max(n, 1));
	a.restore_null = palloc_array(bool, Max(n, 1));
	a.abcap = Max(n, 16);
	a.ab_ord = palloc_array(Datum, a.abcap);
	a.ab_g = palloc_array(Datum, a.abcap);
	a.nlink = n;
	GoldenMergePlanRun(fcinfo, GoldenPlanPutArrays, &a);
	values[0] = GoldenPlanArray(a.ord, NULL, n, INT4OID, &nulls[0]);
	values[1] = GoldenPlanArray(a.outcome, NULL, n, CHAROID, &nulls[1]);
	values[2] = GoldenPlanArray(a.keep, a.keep_null, n, INT8OID, &nulls[2]);
	values[3] = GoldenPlanArray(a.gone, a.gone_null, n, INT8OID, &nulls[3]);
	values[4] = GoldenPlanArray(a.restore, a.restore_null, n, BOOLOID, &nulls[4]);
	values[5] = GoldenPlanArray(a.ab_ord, NULL, a.nab, INT4OID, &nulls[5]);
	values[6] = GoldenPlanArray(a.ab_g, NULL, a.nab, INT8OID, &nulls[6]);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
