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
 *		of a cluster: the id that survives a merge.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/memutils.h"

#include "golden.h"
#include "match.h"

PG_FUNCTION_INFO_V1(cdp_golden_merge_plan);

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
 *		original golden ids whose records move, and restore says that keep
 *		was archived and gone active (keep becomes active).
 */
Datum
cdp_golden_merge_plan(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			nlink,
				nnm,
				narch;
	int64	   *ga,
			   *gb,
			   *nma,
			   *nmb,
			   *arch;
	MatchLinkSet *s;
	Datum	   *ids;
	MemoryContext work,
				old;

	InitMaterializedSRF(fcinfo, 0);
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
	ids = palloc_array(Datum, Max(s->nnode, 1));

	for (int i = 0; i < nlink; i++)
	{
		int			ra = MatchLinkFind(s, MatchLinkLookup(s->golden, ga[i]));
		int			rb = MatchLinkFind(s, MatchLinkLookup(s->golden, gb[i]));
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};

		CHECK_FOR_INTERRUPTS();
		values[0] = Int32GetDatum(i + 1);
		if (ra == rb || MatchLinkEdgeBetween(s, 0, ra, rb))
		{
			/* one person already: keep is it; refused: nothing to keep */
			values[1] = CharGetDatum(ra == rb ? GOLDEN_MERGE_SAME : GOLDEN_MERGE_NO_MATCH);
			values[2] = Int64GetDatum(s->node[ra].golden);
			nulls[2] = ra != rb;
			nulls[3] = nulls[4] = nulls[5] = true;
		}
		else
		{
			int			rk = s->node[ra].golden < s->node[rb].golden ? ra : rb;
			int			rg = rk == ra ? rb : ra;
			bool		restore = s->node[rk].archived && !s->node[rg].archived;
			int			nids = 0;

			for (int m = s->node[rg].member_head; m >= 0; m = s->member_next[m])
				ids[nids++] = Int64GetDatum(s->node[m].golden);
			values[1] = CharGetDatum(GOLDEN_MERGE_MERGE);
			values[2] = Int64GetDatum(s->node[rk].golden);
			values[3] = Int64GetDatum(s->node[rg].golden);
			values[4] = BoolGetDatum(restore);
			values[5] = PointerGetDatum(construct_array(ids, nids, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
			/* an archived person merging with an active one is active again */
			s->node[rk].archived = s->node[rk].archived && s->node[rg].archived;
			MatchLinkUnion(s, rk, rg);
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		if (!nulls[5])
			pfree(DatumGetPointer(values[5]));
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(work);
	return (Datum) 0;
}
