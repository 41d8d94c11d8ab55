/*-------------------------------------------------------------------------
 *
 * src/match_link_args.c
 *		The arguments of cdp.link_records_many for a full run's links
 *		(cdp_internal._match_link_args, issue 12, session 35): the links'
 *		values gathered by _match_run in any order, put in decision order, and
 *		each link's evidence object written once, as jsonb_build_object would
 *		make it from the same SQL values.  Split out of match_link.c.  Since
 *		session 36 a run sorts the parts only (_match_link_sorted) and hands
 *		them to golden (cdp_internal.golden_link_run), whose writer builds each
 *		object into its event's payload with MatchEvidencePush (match.h): the
 *		same tokens, so the same jsonb.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "cdp.h"
#include "cdp_jsonb.h"
#include "match.h"

PG_FUNCTION_INFO_V1(cdp_match_link_args);

/*
 * The evidence object of a run's link (cdp_match_link_args below): its
 * values as jsonb_build_object makes them from SQL values, so that the object
 * is the same jsonb, byte for byte.  The numbers a run repeats (weights and
 * probabilities, one per level pattern; levels) are converted once per call
 * site and kept in fn_extra.
 */
#define EV_CACHE		4096	/* direct-mapped slots per kind of number */
#define EV_CACHE_BYTES	40		/* the largest numeric a slot keeps */
#define EV_LEVEL_MIN	(-8)
#define EV_LEVEL_MAX	63

typedef struct EvSlot
{
	uint64		bits;			/* the float8's bits */
	bool		used;
	union
	{
		char		bytes[EV_CACHE_BYTES];
		double		align;
	}			num;			/* its numeric (a varlena) */
} EvSlot;

typedef struct EvCache
{
	EvSlot		weight[EV_CACHE];
	EvSlot		prob[EV_CACHE];
	Numeric		level[EV_LEVEL_MAX - EV_LEVEL_MIN + 1];
	MemoryContext mcxt;			/* where level's numerics live */
} EvCache;

/* the evidence parts of n links (match.h), read in place from a call's arguments */
struct MatchEvidence
{
	int			n;
	int			ncomp;			/* levels per link */
	const float8 *prob;
	const float8 *weight;
	const int32 *rule;
	const bool *forced;
	const int16 *lev;			/* n rows of ncomp */
	ArrayType  *lev_arr;		/* the levels argument they are read from */
	Jsonb	   *rules;
	text	   *by;
	int32		version;
	EvCache    *cache;
};

static void
EvNull(JsonbParseState **st)
{
	JsonbValue	v;

	v.type = jbvNull;
	pushJsonbValue(st, WJB_VALUE, &v);
}

/* a number as to_jsonb gives it: its text when it is no JSON number (NaN, infinities) */
static void
EvNumeric(JsonbParseState **st, Numeric n, JsonbIteratorToken tok)
{
	JsonbValue	v;

	if (numeric_is_nan(n) || numeric_is_inf(n))
	{
		v.type = jbvString;
		v.val.string.val = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(n)));
		v.val.string.len = strlen(v.val.string.val);
	}
	else
	{
		v.type = jbvNumeric;
		v.val.numeric = n;
	}
	pushJsonbValue(st, tok, &v);
}

/* round(d::numeric, 3) (weight) or d as to_jsonb reads a float8 (its float8out text read by numeric_in) */
static Numeric
EvConvert(float8 d, bool weight)
{
	if (weight)
		return DatumGetNumeric(DirectFunctionCall2(numeric_round,
												   DirectFunctionCall1(float8_numeric, Float8GetDatum(d)),
												   Int32GetDatum(3)));
	return DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(float8out_internal(d)),
											   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
}

/* a finite float8's numeric through the cache (slots is weight or prob) */
static Numeric
EvCached(EvSlot *slots, float8 d, bool weight)
{
	uint64		bits;
	EvSlot	   *e;
	Numeric		n;

	memcpy(&bits, &d, sizeof(bits));
	e = &slots[murmurhash32((uint32) bits ^ murmurhash32((uint32) (bits >> 32))) % EV_CACHE];
	if (e->used && e->bits == bits)
		return (Numeric) e->num.bytes;
	n = EvConvert(d, weight);
	if (VARSIZE(n) <= EV_CACHE_BYTES)
	{
		memcpy(e->num.bytes, n, VARSIZE(n));
		e->bits = bits;
		e->used = true;
	}
	return n;
}

/*
 * EvPush
 *		Pushes the evidence of one link into *st as one object (at the top or
 *		as a value inside an object being built): the same jsonb as
 *		jsonb_build_object('by', by, 'record_a', ra, 'record_b', rb,
 *		'probability', prob, 'weight', round(weight::numeric, 3), 'rule',
 *		rules -> rule, 'forced', forced, 'levels', lev[0 .. nlev - 1],
 *		'settings_version', version).  The keys are pushed in jsonb's order
 *		(length, then bytes), so that the object's sort finds them sorted.
 *		Returns what the end of the object returns (the value at the top).
 */
static JsonbValue *
EvPush(JsonbParseState **st, EvCache *cache, text *by, int64 ra, int64 rb, float8 prob, float8 weight,
	   Jsonb *rules, int32 rule, bool forced, const int16 *lev, int nlev, int32 version)
{
	JsonbValue	v;
	JsonbValue *e = NULL;
	int			i;

	pushJsonbValue(st, WJB_BEGIN_OBJECT, NULL);

	CdpJsonbPushKey(st, "by");
	v.type = jbvString;
	v.val.string.val = VARDATA_ANY(by);
	v.val.string.len = VARSIZE_ANY_EXHDR(by);
	pushJsonbValue(st, WJB_VALUE, &v);

	/* rules -> rule, as jsonb_array_element reads it */
	CdpJsonbPushKey(st, "rule");
	if (JB_ROOT_IS_ARRAY(rules))
	{
		if (rule < 0 && -(int64) rule <= (int64) JB_ROOT_COUNT(rules))
			rule += (int32) JB_ROOT_COUNT(rules);
		if (rule >= 0)
			e = getIthJsonbValueFromContainer(&rules->root, (uint32) rule);
	}
	if (e == NULL)
		EvNull(st);
	else
		pushJsonbValue(st, WJB_VALUE, e);

	CdpJsonbPushKey(st, "forced");
	v.type = jbvBool;
	v.val.boolean = forced;
	pushJsonbValue(st, WJB_VALUE, &v);

	CdpJsonbPushKey(st, "levels");
	pushJsonbValue(st, WJB_BEGIN_ARRAY, NULL);
	for (i = 0; i < nlev; i++)
	{
		int16		x = lev[i];
		Numeric		num;

		if (x >= EV_LEVEL_MIN && x <= EV_LEVEL_MAX)
		{
			if (cache->level[x - EV_LEVEL_MIN] == NULL)
			{
				MemoryContext old = MemoryContextSwitchTo(cache->mcxt);

				cache->level[x - EV_LEVEL_MIN] = int64_to_numeric(x);
				MemoryContextSwitchTo(old);
			}
			num = cache->level[x - EV_LEVEL_MIN];
		}
		else
			num = int64_to_numeric(x);
		EvNumeric(st, num, WJB_ELEM);
	}
	pushJsonbValue(st, WJB_END_ARRAY, NULL);

	CdpJsonbPushKey(st, "weight");
	if (isnan(weight) || isinf(weight))
		EvNumeric(st, EvConvert(weight, true), WJB_VALUE);
	else
		EvNumeric(st, EvCached(cache->weight, weight, true), WJB_VALUE);

	CdpJsonbPushKey(st, "record_a");
	EvNumeric(st, int64_to_numeric(ra), WJB_VALUE);

	CdpJsonbPushKey(st, "record_b");
	EvNumeric(st, int64_to_numeric(rb), WJB_VALUE);

	CdpJsonbPushKey(st, "probability");
	if (isnan(prob) || isinf(prob))
	{
		/* float8out's text as a string, as to_jsonb gives it */
		v.type = jbvString;
		v.val.string.val = float8out_internal(prob);
		v.val.string.len = strlen(v.val.string.val);
		pushJsonbValue(st, WJB_VALUE, &v);
	}
	else
		EvNumeric(st, EvCached(cache->prob, prob, false), WJB_VALUE);

	CdpJsonbPushKey(st, "settings_version");
	EvNumeric(st, int64_to_numeric(version), WJB_VALUE);

	return pushJsonbValue(st, WJB_END_OBJECT, NULL);
}

/*
 * EvBuild
 *		The evidence of one link as a jsonb of its own (EvPush).
 */
static Jsonb *
EvBuild(EvCache *cache, text *by, int64 ra, int64 rb, float8 prob, float8 weight,
		Jsonb *rules, int32 rule, bool forced, const int16 *lev, int nlev, int32 version)
{
	JsonbParseState *st = NULL;

	return JsonbValueToJsonb(EvPush(&st, cache, by, ra, rb, prob, weight, rules, rule, forced,
									lev, nlev, version));
}

/* a link's place in decision order and its element in the arguments */
typedef struct LinkArgOrd
{
	int32		ord;
	int			idx;
} LinkArgOrd;

static int
LinkArgCmp(const void *x, const void *y)
{
	int32		a = ((const LinkArgOrd *) x)->ord;
	int32		b = ((const LinkArgOrd *) y)->ord;

	return (a > b) - (a < b);
}

/* the error for arrays of different lengths (levels: one row per link) */
static pg_attribute_noreturn() void
LinkArgMismatch(const char *fname)
{
	ereport(ERROR,
			(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
			 errmsg("arrays given to %s do not match in length", fname),
			 errdetail("Every array must have one element per link (levels one row per link).")));
}

/*
 * the elements of a one-dimensional array of a fixed-length type without
 * NULLs; their number in *n, which must equal *n as given unless that is -1
 */
static const char *
LinkArgData(ArrayType *arr, Oid type, int argno, int *n, const char *fname)
{
	int			got;

	if (ARR_ELEMTYPE(arr) != type)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("argument %d of %s has the wrong element type", argno, fname)));
	if (ARR_NDIM(arr) > 1 || ARR_HASNULL(arr))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument %d of %s must be a one-dimensional array without NULLs", argno, fname)));
	got = ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr));
	if (*n != -1 && got != *n)
		LinkArgMismatch(fname);
	*n = got;
	return ARR_DATA_PTR(arr);
}

/*
 * LinkArgLevels
 *		The levels argument (0-based argno): one row of smallints per link,
 *		a two-dimensional array of n rows without NULLs (no dimension when n
 *		is 0); the number of comparisons (a row's length) in *ncomp.
 */
static const int16 *
LinkArgLevels(ArrayType *lev_arr, int argno, int n, int *ncomp, const char *fname)
{
	*ncomp = 0;
	if (ARR_ELEMTYPE(lev_arr) != INT2OID || ARR_HASNULL(lev_arr))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument %d of %s must be a smallint array without NULLs", argno + 1, fname)));
	if (ARR_NDIM(lev_arr) == 2)
	{
		if (ARR_DIMS(lev_arr)[0] != n)
			LinkArgMismatch(fname);
		*ncomp = ARR_DIMS(lev_arr)[1];
	}
	else if (n > 0 || ARR_NDIM(lev_arr) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("argument %d of %s must have one row of levels per link", argno + 1, fname)));
	return (const int16 *) ARR_DATA_PTR(lev_arr);
}

/*
 * EvArrays
 *		The per-link arrays of the evidence parts of n links, the arguments
 *		argno .. argno + 4 of the call (0-based): probability float8[],
 *		weight float8[], rule int[], forced boolean[], levels smallint[][]
 *		(one row per link, kept in e->lev_arr), read in place and checked
 *		against n; fname names the function in errors.  The caller has
 *		checked that none is NULL.
 */
static void
EvArrays(FunctionCallInfo fcinfo, int argno, int n, const char *fname, MatchEvidence *e)
{
	e->n = n;
	e->prob = (const float8 *) LinkArgData(PG_GETARG_ARRAYTYPE_P(argno), FLOAT8OID, argno + 1, &n, fname);
	e->weight = (const float8 *) LinkArgData(PG_GETARG_ARRAYTYPE_P(argno + 1), FLOAT8OID, argno + 2, &n, fname);
	e->rule = (const int32 *) LinkArgData(PG_GETARG_ARRAYTYPE_P(argno + 2), INT4OID, argno + 3, &n, fname);
	e->forced = (const bool *) LinkArgData(PG_GETARG_ARRAYTYPE_P(argno + 3), BOOLOID, argno + 4, &n, fname);
	e->lev_arr = PG_GETARG_ARRAYTYPE_P(argno + 4);
	e->lev = LinkArgLevels(e->lev_arr, argno + 4, n, &e->ncomp, fname);
}

/*
 * EvParts
 *		The evidence parts of n links from the arguments argno .. argno + 7 of
 *		the call (0-based): probability float8[], weight float8[], rule int[],
 *		forced boolean[], levels smallint[][] (one row per link), rules jsonb,
 *		by text, settings_version int, read in place; fname names the
 *		function in errors.  The caller has checked that none is NULL.
 */
static void
EvParts(FunctionCallInfo fcinfo, int argno, int n, const char *fname, MatchEvidence *e)
{
	EvArrays(fcinfo, argno, n, fname, e);
	e->rules = PG_GETARG_JSONB_P(argno + 5);
	e->by = PG_GETARG_TEXT_PP(argno + 6);
	e->version = PG_GETARG_INT32(argno + 7);
	e->cache = (EvCache *) palloc0(sizeof(EvCache));
	e->cache->mcxt = CurrentMemoryContext;
}

/*
 * MatchEvidenceArgs
 *		The evidence parts of a run's n links, given to a function as the
 *		arguments argno .. argno + 7 (0-based; see EvParts), none of them
 *		NULL; fname names the function in errors.  The caller writes each
 *		link's evidence where it needs it (MatchEvidencePush), so that no
 *		evidence object is built twice nor kept (issue 12, session 36).
 */
MatchEvidence *
MatchEvidenceArgs(FunctionCallInfo fcinfo, int argno, int n, const char *fname)
{
	MatchEvidence *e = (MatchEvidence *) palloc0(sizeof(MatchEvidence));

	for (int k = argno; k < argno + MATCH_EVIDENCE_NARGS; k++)
		if (PG_ARGISNULL(k))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument %d of %s must not be null", k + 1, fname),
					 errdetail("The evidence of the links is given in parts, all of them or none.")));
	EvParts(fcinfo, argno, n, fname, e);
	return e;
}

/*
 * MatchEvidencePush
 *		Pushes the evidence of link i (0-based) between records ra and rb
 *		into *st, as a value or at the top: the object _match_link_args gives
 *		for that link, token for token.  Temporary values go to the current
 *		memory context.
 */
JsonbValue *
MatchEvidencePush(JsonbParseState **st, MatchEvidence *e, int i, int64 ra, int64 rb)
{
	Assert(i >= 0 && i < e->n);
	return EvPush(st, e->cache, e->by, ra, rb, e->prob[i], e->weight[i], e->rules, e->rule[i],
				  e->forced[i], e->lev + (Size) i * e->ncomp, e->ncomp, e->version);
}

/*
 * LinkArgOrder
 *		The links' elements sorted by their places in decision order (ord,
 *		distinct); fname names the function in errors.
 */
static LinkArgOrd *
LinkArgOrder(const int32 *ord, int n, const char *fname)
{
	LinkArgOrd *order = (LinkArgOrd *) palloc(sizeof(LinkArgOrd) * Max(n, 1));

	for (int i = 0; i < n; i++)
	{
		order[i].ord = ord[i];
		order[i].idx = i;
	}
	qsort(order, n, sizeof(LinkArgOrd), LinkArgCmp);
	for (int i = 1; i < n; i++)
		if (order[i].ord == order[i - 1].ord)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("argument 1 of %s must not repeat a place (%d)", fname, order[i].ord)));
	return order;
}

/*
 * LinkArgPermuted
 *		An array of type typ without NULLs whose row i is row order[i].idx of
 *		data (rows of width bytes: elements of a fixed length, packed without
 *		padding, as int8, float8, int4, int2 and bool are); one-dimensional
 *		with lower bound 1, or (ncomp > 0) n rows of ncomp elements with the
 *		lower bounds of like (a two-dimensional array).  Empty when n is 0.
 */
static ArrayType *
LinkArgPermuted(const char *data, Size width, const LinkArgOrd *order, int n, int ncomp,
				ArrayType *like, Oid typ)
{
	int			ndim = ncomp > 0 ? 2 : 1;
	Size		row = width * (Size) Max(ncomp, 1);
	Size		hdr = ARR_OVERHEAD_NONULLS(ndim);
	ArrayType  *r;
	char	   *dst;

	if (n == 0)
		return construct_empty_array(typ);
	r = (ArrayType *) palloc0(hdr + row * (Size) n);
	SET_VARSIZE(r, hdr + row * (Size) n);
	r->ndim = ndim;
	r->dataoffset = 0;
	r->elemtype = typ;
	ARR_DIMS(r)[0] = n;
	ARR_LBOUND(r)[0] = 1;
	if (ndim == 2)
	{
		ARR_DIMS(r)[1] = ncomp;
		ARR_LBOUND(r)[1] = ARR_LBOUND(like)[1];
		ARR_LBOUND(r)[0] = ARR_LBOUND(like)[0];
	}
	dst = ARR_DATA_PTR(r);
	for (int i = 0; i < n; i++)
		memcpy(dst + (Size) i * row, data + (Size) order[i].idx * row, row);
	return r;
}

/*
 * cdp_match_link_args
 *		SQL cdp_internal._match_link_args(ord int[], record_a bigint[],
 *		record_b bigint[], probability float8[], weight float8[], rule int[],
 *		forced boolean[], levels smallint[][], rules jsonb, by text,
 *		settings_version int, OUT ord int[], OUT record_a bigint[],
 *		OUT record_b bigint[], OUT evidence jsonb[]) STRICT: the arguments of
 *		link_records_many for a run's links given in any order (element i of
 *		each array is link i; levels has one row per link), put in the order
 *		of ord (their places in decision order, distinct); evidence[i] is the
 *		jsonb jsonb_build_object('by', by, 'record_a', record_a[i], 'record_b',
 *		record_b[i], 'probability', probability[i], 'weight',
 *		round(weight[i]::numeric, 3), 'rule', rules -> rule[i], 'forced',
 *		forced[i], 'levels', levels[i], 'settings_version', settings_version)
 *		gives.  The run built these arrays with four aggregates ordered by ord
 *		and jsonb_build_object per link: about 8 s at 1M records (540k links),
 *		in the generic conversion of every value, the rules built again for
 *		every link and the sort of 230 MB of evidence (on disk past work_mem),
 *		copied three times; here every evidence object is written once, into
 *		the result (issue 12, session 35).  A run no longer calls it (it gives
 *		the parts to golden_link_run, session 36); golden_link_apply's SQL
 *		writer and link_records_many's check build a run's evidence with it.
 */
Datum
cdp_match_link_args(PG_FUNCTION_ARGS)
{
	const char *fname = "_match_link_args";
	const int32 *ord;
	const int64 *ra;
	const int64 *rb;
	int			n;
	MatchEvidence e;
	LinkArgOrd *order;
	Datum	   *d_ord;
	Datum	   *d_a;
	Datum	   *d_b;
	MemoryContext tmp;
	char	   *buf;
	Size		cap;
	Size		len;
	ArrayType  *ev;
	TupleDesc	tupdesc;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	int			i;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("_match_link_args must be called in a context that accepts a record")));
	tupdesc = BlessTupleDesc(tupdesc);

	n = -1;
	ord = (const int32 *) LinkArgData(PG_GETARG_ARRAYTYPE_P(0), INT4OID, 1, &n, fname);
	ra = (const int64 *) LinkArgData(PG_GETARG_ARRAYTYPE_P(1), INT8OID, 2, &n, fname);
	rb = (const int64 *) LinkArgData(PG_GETARG_ARRAYTYPE_P(2), INT8OID, 3, &n, fname);
	EvParts(fcinfo, 3, n, fname, &e);

	/* decision order */
	order = LinkArgOrder(ord, n, fname);
	d_ord = (Datum *) palloc(sizeof(Datum) * Max(n, 1));
	d_a = (Datum *) palloc(sizeof(Datum) * Max(n, 1));
	d_b = (Datum *) palloc(sizeof(Datum) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		d_ord[i] = Int32GetDatum(order[i].ord);
		d_a[i] = Int64GetDatum(ra[order[i].idx]);
		d_b[i] = Int64GetDatum(rb[order[i].idx]);
	}
	values[0] = PointerGetDatum(construct_array(d_ord, n, INT4OID, 4, true, TYPALIGN_INT));
	values[1] = PointerGetDatum(construct_array(d_a, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[2] = PointerGetDatum(construct_array(d_b, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));

	/*
	 * the evidence, written straight into the array (jsonb: varlena, int
	 * aligned, no NULLs), each object built in a context reset per link
	 */
	tmp = AllocSetContextCreate(CurrentMemoryContext, "_match_link_args", ALLOCSET_DEFAULT_SIZES);
	len = ARR_OVERHEAD_NONULLS(1);
	cap = Min(len + (Size) n * 512, MaxAllocSize);
	buf = (char *) palloc(cap);
	memset(buf, 0, len);
	for (i = 0; i < n; i++)
	{
		int			k = order[i].idx;
		MemoryContext old = MemoryContextSwitchTo(tmp);
		Jsonb	   *j = EvBuild(e.cache, e.by, ra[k], rb[k], e.prob[k], e.weight[k], e.rules, e.rule[k],
								e.forced[k], e.lev + (Size) k * e.ncomp, e.ncomp, e.version);
		Size		at = INTALIGN(len);
		Size		sz = VARSIZE(j);

		MemoryContextSwitchTo(old);
		if (at + sz > cap)
		{
			Size		want = Max(cap * 2, at + sz);

			if (at + sz > MaxAllocSize)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("the evidence of %d links exceeds the size of an array", n),
						 errhint("Link fewer records at once.")));
			want = Min(want, MaxAllocSize);
			buf = (char *) repalloc(buf, want);
			cap = want;
		}
		memset(buf + len, 0, at - len);
		memcpy(buf + at, j, sz);
		len = at + sz;
		MemoryContextReset(tmp);
	}
	MemoryContextDelete(tmp);
	ev = (ArrayType *) repalloc(buf, len);
	SET_VARSIZE(ev, len);
	ev->ndim = 1;
	ev->dataoffset = 0;
	ev->elemtype = JSONBOID;
	ARR_DIMS(ev)[0] = n;
	ARR_LBOUND(ev)[0] = 1;
	values[3] = PointerGetDatum(ev);
	if (n == 0)
		values[3] = PointerGetDatum(construct_empty_array(JSONBOID));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

PG_FUNCTION_INFO_V1(cdp_match_link_sorted);

/*
 * cdp_match_link_sorted
 *		SQL cdp_internal._match_link_sorted(ord int[], record_a bigint[],
 *		record_b bigint[], probability float8[], weight float8[], rule int[],
 *		forced boolean[], levels smallint[][], OUT ord int[], OUT record_a
 *		bigint[], OUT record_b bigint[], OUT probability float8[], OUT weight
 *		float8[], OUT rule int[], OUT forced boolean[], OUT levels smallint[])
 *		STRICT: a run's links given in any order (element i of each array is
 *		link i; levels has one row per link) put in the order of ord (their
 *		places in decision order, distinct), every array reordered alike: the
 *		arguments _match_link_args takes, sorted as its result, without the
 *		evidence objects, which golden_link_write builds from these parts
 *		where it writes them (cdp_internal.golden_link_run, issue 12, session
 *		36).  The same checks and errors as _match_link_args.
 */
Datum
cdp_match_link_sorted(PG_FUNCTION_ARGS)
{
	const char *fname = "_match_link_sorted";
	const int32 *ord;
	const int64 *ra;
	const int64 *rb;
	int			n;
	MatchEvidence e;
	LinkArgOrd *order;
	TupleDesc	tupdesc;
	Datum		values[8];
	bool		nulls[8] = {false, false, false, false, false, false, false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("_match_link_sorted must be called in a context that accepts a record")));
	tupdesc = BlessTupleDesc(tupdesc);

	n = -1;
	ord = (const int32 *) LinkArgData(PG_GETARG_ARRAYTYPE_P(0), INT4OID, 1, &n, fname);
	ra = (const int64 *) LinkArgData(PG_GETARG_ARRAYTYPE_P(1), INT8OID, 2, &n, fname);
	rb = (const int64 *) LinkArgData(PG_GETARG_ARRAYTYPE_P(2), INT8OID, 3, &n, fname);
	EvArrays(fcinfo, 3, n, fname, &e);

	order = LinkArgOrder(ord, n, fname);
	values[0] = PointerGetDatum(LinkArgPermuted((const char *) ord, sizeof(int32), order, n, 0, NULL, INT4OID));
	values[1] = PointerGetDatum(LinkArgPermuted((const char *) ra, sizeof(int64), order, n, 0, NULL, INT8OID));
	values[2] = PointerGetDatum(LinkArgPermuted((const char *) rb, sizeof(int64), order, n, 0, NULL, INT8OID));
	values[3] = PointerGetDatum(LinkArgPermuted((const char *) e.prob, sizeof(float8), order, n, 0, NULL, FLOAT8OID));
	values[4] = PointerGetDatum(LinkArgPermuted((const char *) e.weight, sizeof(float8), order, n, 0, NULL, FLOAT8OID));
	values[5] = PointerGetDatum(LinkArgPermuted((const char *) e.rule, sizeof(int32), order, n, 0, NULL, INT4OID));
	values[6] = PointerGetDatum(LinkArgPermuted((const char *) e.forced, sizeof(bool), order, n, 0, NULL, BOOLOID));
	values[7] = PointerGetDatum(LinkArgPermuted((const char *) e.lev, sizeof(int16), order, n, e.ncomp, e.lev_arr, INT2OID));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
