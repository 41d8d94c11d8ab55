/*-------------------------------------------------------------------------
 *
 * src/idx_name_sel.c
 *		Restriction selectivity of the % operator on names (issue 18).
 *
 * PostgreSQL's matchingsel (what pg_trgm's % uses) applies the operator to
 * the column's most common values and to its histogram bounds and takes the
 * fraction of the bounds that match, clamped to at least 0.0001.  A
 * histogram of 100 bounds cannot tell 1 % from 0.02 %: on a name-dense
 * column (everybody is an Иванова or a Кузнецова) a query whose name
 * happens to be similar to one bound is estimated at 1 % of the table
 * (9 874 rows at 1M where 184 come), and the planner takes a parallel
 * bitmap heap scan; a query that matches no bound gets 0.0001.
 *
 * So the non-MCV part is estimated as a Beta-prior posterior mean instead:
 * the prior mean m0 is the frequency of IDX_SEL_SPELLINGS distinct non-MCV
 * names (a name and a few spellings and namesakes of it), worth 1 / m0
 * samples (as many as it takes to expect one hit), and each of the k
 * matching bounds among n is one sample more: (k + 1) / (n + 1 / m0).
 * Beyond what chance gives a narrow name (more than IDX_SEL_CHANCE_HITS
 * bounds, e.g. a low cdp.name_similarity_threshold), the bounds are
 * believed: (k - IDX_SEL_CHANCE_HITS) / n when that is larger.  The
 * most-common-values part is exact, as in matchingsel.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_statistic.h"
#include "fmgr.h"
#include "nodes/pg_list.h"
#include "utils/lsyscache.h"
#include "utils/selfuncs.h"

#include "idx.h"

/* distinct names a typical query name is similar to (itself, spellings, namesakes) */
#define IDX_SEL_SPELLINGS		10.0
/* matching histogram bounds that chance gives even a narrow name */
#define IDX_SEL_CHANCE_HITS		2
/* selectivity when there is no statistics or no constant (about one name's worth) */
#define IDX_SEL_DEFAULT			0.0005

static double IdxSelNonMcv(VariableStatData *vardata, FmgrInfo *opproc,
						   Oid collation, Datum constval, bool varonleft,
						   double sumcommon, double nullfrac);

PG_FUNCTION_INFO_V1(cdp_name_similar_sel);

/*
 * cdp_name_similar_sel
 *		RESTRICT estimator of cdp.%: the signature of a restriction
 *		selectivity function (root, operator, args, varRelid).
 */
Datum
cdp_name_similar_sel(PG_FUNCTION_ARGS)
{
	PlannerInfo *root = (PlannerInfo *) PG_GETARG_POINTER(0);
	Oid			operator = PG_GETARG_OID(1);
	List	   *args = (List *) PG_GETARG_POINTER(2);
	int			varRelid = PG_GETARG_INT32(3);
	Oid			collation = PG_GET_COLLATION();
	VariableStatData vardata;
	Node	   *other;
	bool		varonleft;
	double		selec;

	if (!get_restriction_variable(root, args, varRelid,
								  &vardata, &other, &varonleft))
		PG_RETURN_FLOAT8(IDX_SEL_DEFAULT);

	if (!IsA(other, Const))
	{
		ReleaseVariableStats(vardata);
		PG_RETURN_FLOAT8(IDX_SEL_DEFAULT);
	}
	if (((Const *) other)->constisnull)
	{
		/* the operator is strict */
		ReleaseVariableStats(vardata);
		PG_RETURN_FLOAT8(0.0);
	}

	if (!HeapTupleIsValid(vardata.statsTuple))
		selec = IDX_SEL_DEFAULT;
	else
	{
		Form_pg_statistic stats = (Form_pg_statistic) GETSTRUCT(vardata.statsTuple);
		Datum		constval = ((Const *) other)->constvalue;
		FmgrInfo	opproc;
		double		sumcommon = 0.0;
		double		mcvsel;

		fmgr_info(get_opcode(operator), &opproc);
		mcvsel = mcv_selectivity(&vardata, &opproc, collation, constval,
								 varonleft, &sumcommon);
		selec = mcvsel + IdxSelNonMcv(&vardata, &opproc, collation, constval,
									  varonleft, sumcommon,
									  stats->stanullfrac);
	}
	ReleaseVariableStats(vardata);
	CLAMP_PROBABILITY(selec);
	PG_RETURN_FLOAT8(selec);
}

/*
 * IdxSelNonMcv
 *		The fraction of the table outside the most common values (and NULLs)
 *		that the operator matches: the posterior mean described in the file
 *		header, scaled by that population's share of the table.
 */
static double
IdxSelNonMcv(VariableStatData *vardata, FmgrInfo *opproc, Oid collation,
			 Datum constval, bool varonleft, double sumcommon, double nullfrac)
{
	double		rest = 1.0 - nullfrac - sumcommon;
	double		ndistinct;
	double		m0;
	double		frac;
	bool		isdefault;
	int			hist_size = 0;
	double		hist;
	AttStatsSlot sslot;
	int			nmcv = 0;

	if (rest <= 0.0)
		return 0.0;

	if (get_attstatsslot(&sslot, vardata->statsTuple, STATISTIC_KIND_MCV,
						 InvalidOid, ATTSTATSSLOT_NUMBERS))
	{
		nmcv = sslot.nnumbers;
		free_attstatsslot(&sslot);
	}
	ndistinct = get_variable_numdistinct(vardata, &isdefault);
	if (isdefault || ndistinct <= nmcv)
		m0 = IDX_SEL_DEFAULT;
	else
		m0 = Min(1.0, IDX_SEL_SPELLINGS / (ndistinct - nmcv));

	/* n_skip 0: a bound at either end is as good a sample as any other */
	hist = histogram_selectivity(vardata, opproc, collation, constval,
								 varonleft, 10, 0, &hist_size);
	if (hist < 0.0)
		frac = m0;
	else
	{
		double		hits = hist * hist_size;

		frac = (hits + 1.0) / (hist_size + 1.0 / m0);
		if (hits > IDX_SEL_CHANCE_HITS)
			frac = Max(frac, (hits - IDX_SEL_CHANCE_HITS) / hist_size);
	}
	return frac * rest;
}
