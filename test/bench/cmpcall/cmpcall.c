/*
 * test/bench/cmpcall/cmpcall.c: a benchmark-only module (not part of cdp) that times one
 * comparator on pairs held in memory, calling it through the function manager exactly as the
 * executor calls any SQL function, but without a table scan, tuple deforming or an aggregate.
 * What it returns is the comparator's own cost per call (fmgr call included), so two
 * comparators timed by it in the same session compare as "comparisons per second per core".
 *
 *   cmpcall_ns(fn regprocedure, a text[], b text[], extra text[], rounds int) -> float8[]
 *     calls fn(a[i], b[i], extra...) for every i, rounds times (the extra arguments, as text,
 *     are read by the input functions of fn's argument types: a default that SQL would fill in
 *     must be given here); returns, per round, the thread CPU nanoseconds per call.
 *   cmpcall_sum(fn regprocedure, a text[], b text[], extra text[]) -> float8
 *     the sum of the results as float8 (int4, float4 or float8 results), to check that two
 *     comparators agree and that the calls were not skipped.
 *
 * Built and installed by test/bench/comparators.sh into the benchmark server only.
 */
#include "postgres.h"

#include <time.h>

#include "access/htup_details.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "miscadmin.h"

PG_MODULE_MAGIC;

typedef struct CallSet
{
	FmgrInfo	flinfo;
	int			nargs;
	Oid			rettype;
	int			n;
	Datum	   *a;
	Datum	   *b;
	Datum		extra[2];
} CallSet;

/*
 * CallSetInit
 *		Looks up fn and unpacks the two arrays (detoasted once, so every timed
 *		call gets an in-memory value, as a scan of short names gives).
 */
static void
CallSetInit(CallSet *cs, Oid fn, ArrayType *aa, ArrayType *ba, ArrayType *ea)
{
	HeapTuple	tup;
	Form_pg_proc proc;
	bool	   *nulls;
	int			nb;
	Oid			argtypes[4];
	Datum	   *ex = NULL;
	int			nex = 0;

	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", fn);
	proc = (Form_pg_proc) GETSTRUCT(tup);
	cs->nargs = proc->pronargs;
	cs->rettype = proc->prorettype;
	if (cs->nargs < 2 || cs->nargs > 4)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("cmpcall times functions of two to four arguments")));
	memcpy(argtypes, proc->proargtypes.values, sizeof(Oid) * cs->nargs);
	ReleaseSysCache(tup);
	if (ea != NULL)
		deconstruct_array(ea, TEXTOID, -1, false, TYPALIGN_INT, &ex, &nulls, &nex);
	if (nex != cs->nargs - 2)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("the function takes %d arguments after the two strings, not %d",
							   cs->nargs - 2, nex)));
	for (int k = 0; k < nex; k++)
	{
		Oid			typinput,
					typioparam;

		getTypeInputInfo(argtypes[k + 2], &typinput, &typioparam);
		cs->extra[k] = OidInputFunctionCall(typinput, TextDatumGetCString(ex[k]), typioparam, -1);
	}
	if (cs->rettype != INT4OID && cs->rettype != FLOAT4OID && cs->rettype != FLOAT8OID)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("cmpcall times functions returning int4, float4 or float8")));
	fmgr_info(fn, &cs->flinfo);
	deconstruct_array(aa, TEXTOID, -1, false, TYPALIGN_INT, &cs->a, &nulls, &cs->n);
	deconstruct_array(ba, TEXTOID, -1, false, TYPALIGN_INT, &cs->b, &nulls, &nb);
	if (nb != cs->n)
		ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
						errmsg("the two arrays differ in length")));
	for (int i = 0; i < cs->n; i++)
	{
		cs->a[i] = PointerGetDatum(PG_DETOAST_DATUM_PACKED(cs->a[i]));
		cs->b[i] = PointerGetDatum(PG_DETOAST_DATUM_PACKED(cs->b[i]));
	}
}

/*
 * CallOne
 *		fn(a[i], b[i], extra...) as a float8.
 */
static inline float8
CallOne(CallSet *cs, int i)
{
	Datum		r;

	if (cs->nargs == 2)
		r = FunctionCall2Coll(&cs->flinfo, DEFAULT_COLLATION_OID, cs->a[i], cs->b[i]);
	else if (cs->nargs == 3)
		r = FunctionCall3Coll(&cs->flinfo, DEFAULT_COLLATION_OID, cs->a[i], cs->b[i],
							  cs->extra[0]);
	else
		r = FunctionCall4Coll(&cs->flinfo, DEFAULT_COLLATION_OID, cs->a[i], cs->b[i],
							  cs->extra[0], cs->extra[1]);
	if (cs->rettype == INT4OID)
		return (float8) DatumGetInt32(r);
	if (cs->rettype == FLOAT4OID)
		return (float8) DatumGetFloat4(r);
	return DatumGetFloat8(r);
}

/* thread CPU time in nanoseconds */
static int64
CpuNs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

PG_FUNCTION_INFO_V1(cmpcall_ns);

/*
 * cmpcall_ns
 *		CPU nanoseconds per call of fn over all pairs, for each of rounds rounds.
 */
Datum
cmpcall_ns(PG_FUNCTION_ARGS)
{
	CallSet		cs;
	int			rounds = PG_GETARG_INT32(4);
	Datum	   *out;
	volatile float8 sink = 0;

	if (rounds < 1 || rounds > 100)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("rounds must be between 1 and 100")));
	CallSetInit(&cs, PG_GETARG_OID(0), PG_GETARG_ARRAYTYPE_P(1), PG_GETARG_ARRAYTYPE_P(2),
				PG_ARGISNULL(3) ? NULL : PG_GETARG_ARRAYTYPE_P(3));
	out = palloc(sizeof(Datum) * rounds);
	for (int r = 0; r < rounds; r++)
	{
		int64		t0 = CpuNs();
		float8		s = 0;

		for (int i = 0; i < cs.n; i++)
			s += CallOne(&cs, i);
		sink += s;
		out[r] = Float8GetDatum((float8) (CpuNs() - t0) / Max(cs.n, 1));
		CHECK_FOR_INTERRUPTS();
	}
	(void) sink;
	PG_RETURN_ARRAYTYPE_P(construct_array(out, rounds, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

PG_FUNCTION_INFO_V1(cmpcall_sum);

/*
 * cmpcall_sum
 *		The sum of fn over all pairs.
 */
Datum
cmpcall_sum(PG_FUNCTION_ARGS)
{
	CallSet		cs;
	float8		s = 0;

	CallSetInit(&cs, PG_GETARG_OID(0), PG_GETARG_ARRAYTYPE_P(1), PG_GETARG_ARRAYTYPE_P(2),
				PG_ARGISNULL(3) ? NULL : PG_GETARG_ARRAYTYPE_P(3));
	for (int i = 0; i < cs.n; i++)
		s += CallOne(&cs, i);
	PG_RETURN_FLOAT8(s);
}
