/*-------------------------------------------------------------------------
 *
 * src/match_em.c
 *		Expectation-maximisation of the Fellegi-Sunter m probabilities and
 *		of the match proportion lambda over the level vectors (patterns) of
 *		blocked pairs, with u held at the values estimated from random
 *		pairs (Splink's training procedure; Winkler, W. E. (1988), "Using
 *		the EM algorithm for weight computation in the Fellegi-Sunter model
 *		of record linkage").
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "cdp.h"
#include "match.h"

#define EM_STRIDE (MATCH_MAX_LEVELS + 1)
#define EM_FLOOR 1e-6

PG_FUNCTION_INFO_V1(cdp_match_em);

/*
 * Float8Array
 *		Checks a float8[] argument for nulls and size, returns its data.
 */
static float8 *
Float8Array(ArrayType *a, int want, const char *what)
{
	if (ARR_ELEMTYPE(a) != FLOAT8OID || ARR_HASNULL(a) ||
		ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a)) != want)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a float8 array of %d values without nulls", what, want)));
	return (float8 *) ARR_DATA_PTR(a);
}

/*
 * cdp_match_em
 *		_match_em(levels int2[] (npat x ncomp), counts float8[], nlev int[],
 *		u float8[], m float8[], lambda float8, iterations int, fixed bool[],
 *		update_m bool)
 *		RETURNS float8[]: the trained m (ncomp x 9, flat) followed by lambda.
 *		Level -1 (a value missing) carries no evidence and is skipped.  A
 *		comparison with fixed[c] is left out of the likelihood and its m is
 *		not re-estimated: the pairs were blocked on it, so within them it
 *		says nothing about matching (as Splink does per blocking rule).
 *		With update_m false only lambda is estimated.
 */
Datum
cdp_match_em(PG_FUNCTION_ARGS)
{
	ArrayType  *alev = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *anlev = PG_GETARG_ARRAYTYPE_P(2);
	int			ncomp,
				npat,
				it,
				iterations = PG_GETARG_INT32(6);
	int16	   *lev;
	float8	   *cnt,
			   *u,
			   *m0;
	int32	   *nlev;
	bool	   *fixed;
	bool		update_m = PG_GETARG_BOOL(8);
	double		lambda = PG_GETARG_FLOAT8(5);
	double	   *m,
			   *num,
			   *den;
	Datum	   *out;
	int			i,
				c,
				l;

	if (ARR_NDIM(alev) != 2 || ARR_ELEMTYPE(alev) != INT2OID || ARR_HASNULL(alev))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("levels must be a two-dimensional int2 array without nulls")));
	npat = ARR_DIMS(alev)[0];
	ncomp = ARR_DIMS(alev)[1];
	if (ncomp > MATCH_MAX_COMP || ArrayGetNItems(ARR_NDIM(anlev), ARR_DIMS(anlev)) != ncomp ||
		ARR_ELEMTYPE(anlev) != INT4OID || ARR_HASNULL(anlev))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("nlev must be an int array with one value per comparison")));
	if (ArrayGetNItems(ARR_NDIM(PG_GETARG_ARRAYTYPE_P(7)), ARR_DIMS(PG_GETARG_ARRAYTYPE_P(7))) != ncomp)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("fixed must have one value per comparison")));
	if (iterations < 0 || iterations > 1000 || !(lambda > 0.0 && lambda < 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("iterations must be between 0 and 1000 and lambda between 0 and 1")));
	lev = (int16 *) ARR_DATA_PTR(alev);
	nlev = (int32 *) ARR_DATA_PTR(anlev);
	cnt = Float8Array(PG_GETARG_ARRAYTYPE_P(1), npat, "counts");
	u = Float8Array(PG_GETARG_ARRAYTYPE_P(3), ncomp * EM_STRIDE, "u");
	m0 = Float8Array(PG_GETARG_ARRAYTYPE_P(4), ncomp * EM_STRIDE, "m");
	fixed = (bool *) ARR_DATA_PTR(PG_GETARG_ARRAYTYPE_P(7));
	for (i = 0; i < npat * ncomp; i++)
		if (lev[i] < -1 || lev[i] > nlev[i % ncomp])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("level %d of pattern %d is out of range", lev[i], i / ncomp)));

	m = palloc(sizeof(double) * ncomp * EM_STRIDE);
	num = palloc(sizeof(double) * ncomp * EM_STRIDE);
	den = palloc(sizeof(double) * ncomp);
	memcpy(m, m0, sizeof(double) * ncomp * EM_STRIDE);

	for (it = 0; it < iterations && npat > 0; it++)
	{
		double		sum_p = 0.0,
					sum_n = 0.0;

		memset(num, 0, sizeof(double) * ncomp * EM_STRIDE);
		memset(den, 0, sizeof(double) * ncomp);
		/* E step: posterior match probability of each pattern */
		for (i = 0; i < npat; i++)
		{
			const int16 *g = lev + (Size) i * ncomp;
			double		lm = log(lambda),
						lu = log(1.0 - lambda),
						p;

			for (c = 0; c < ncomp; c++)
			{
				if (g[c] < 0 || fixed[c])
					continue;
				lm += log(Max(m[c * EM_STRIDE + g[c]], EM_FLOOR));
				lu += log(Max(u[c * EM_STRIDE + g[c]], EM_FLOOR));
			}
			p = 1.0 / (1.0 + exp(lu - lm));
			sum_p += p * cnt[i];
			sum_n += cnt[i];
			for (c = 0; c < ncomp; c++)
			{
				if (g[c] < 0)
					continue;
				num[c * EM_STRIDE + g[c]] += p * cnt[i];
				den[c] += p * cnt[i];
			}
		}
		/* M step */
		for (c = 0; c < ncomp; c++)
		{
			if (!update_m || fixed[c] || den[c] <= 0.0)
				continue;
			for (l = 0; l <= nlev[c]; l++)
				m[c * EM_STRIDE + l] = Max(num[c * EM_STRIDE + l] / den[c], EM_FLOOR);
		}
		if (sum_n > 0.0)
			lambda = Min(Max(sum_p / sum_n, 1e-9), 1.0 - 1e-9);
	}

	out = palloc(sizeof(Datum) * (ncomp * EM_STRIDE + 1));
	for (i = 0; i < ncomp * EM_STRIDE; i++)
		out[i] = Float8GetDatum(m[i]);
	out[ncomp * EM_STRIDE] = Float8GetDatum(lambda);
	PG_RETURN_ARRAYTYPE_P(construct_array(out, ncomp * EM_STRIDE + 1, FLOAT8OID,
										  8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}
