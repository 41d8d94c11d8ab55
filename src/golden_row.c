/*-------------------------------------------------------------------------
 *
 * src/golden_row.c
 *		cdp_internal.golden_row(golden_id, fold, status, status_at,
 *		last_visit, rules_version): the cdp.patient row of one person from
 *		its survivorship fold (cdp.golden_fold's result), in C.
 *
 * The row is what the former PL/pgSQL body built with ->> and casts:
 * registered_on, validated, record_count and updated_at from the fold's top
 * level, the single-valued attributes from its "attributes" object, the
 * contacts (phones, emails, handles) as the jsonb values they are; status
 * defaults to 'active'.  A text value goes into its column through the
 * column type's input function (date, boolean, timestamptz, cdp.snils,
 * cdp.oms), exactly as a cast from text does.  Columns are found by name in
 * the row type, so the function follows cdp.patient's column order.
 *
 * Every ingest batch and every re-fold calls it once per person: as
 * PL/pgSQL it cost about 40 us a call (an executor start, twenty
 * expressions, casts), most of the time of writing a new person's profile
 * (issue 16).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type_d.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

#include "cdp_jsonb.h"
#include "golden.h"

/* where a column of cdp.patient takes its value from */
typedef enum RowSource
{
	SRC_NONE,					/* dropped or unknown: NULL */
	SRC_GOLDEN_ID,				/* argument 1 */
	SRC_STATUS,					/* argument 3, default 'active' */
	SRC_STATUS_AT,				/* argument 4 */
	SRC_LAST_VISIT,				/* argument 5 */
	SRC_RULES_VERSION,			/* argument 6 */
	SRC_TOP_TEXT,				/* fold ->> name, through the type's input */
	SRC_ATTR_TEXT,				/* fold -> 'attributes' ->> name, the same */
	SRC_TOP_JSONB				/* fold -> name (a contact list) */
} RowSource;

/* the columns read from the fold's "attributes" object */
static const char *const RowAttrKeys[] = {
	"family_name", "given_name", "patronymic", "sex", "birth_date", "snils", "oms",
	"address", "city"
};

/* the columns read from the fold's top level as text */
static const char *const RowTopKeys[] = {
	"registered_on", "validated", "record_count", "updated_at"
};

/* the contact columns, kept as jsonb */
static const char *const RowJsonbKeys[] = {"phones", "emails", "handles"};

/*
 * RowClassify
 *		Sets where the column named name takes its value from.
 */
static void
RowClassify(GoldenColumn *c, const char *name)
{
	int			i;

	c->src = SRC_NONE;
	c->key = NULL;
	if (strcmp(name, "golden_id") == 0)
		c->src = SRC_GOLDEN_ID;
	else if (strcmp(name, "status") == 0)
		c->src = SRC_STATUS;
	else if (strcmp(name, "status_at") == 0)
		c->src = SRC_STATUS_AT;
	else if (strcmp(name, "last_visit") == 0)
		c->src = SRC_LAST_VISIT;
	else if (strcmp(name, "rules_version") == 0)
		c->src = SRC_RULES_VERSION;
	for (i = 0; c->src == SRC_NONE && i < lengthof(RowAttrKeys); i++)
		if (strcmp(name, RowAttrKeys[i]) == 0)
		{
			c->src = SRC_ATTR_TEXT;
			c->key = RowAttrKeys[i];
		}
	for (i = 0; c->src == SRC_NONE && i < lengthof(RowTopKeys); i++)
		if (strcmp(name, RowTopKeys[i]) == 0)
		{
			c->src = SRC_TOP_TEXT;
			c->key = RowTopKeys[i];
		}
	for (i = 0; c->src == SRC_NONE && i < lengthof(RowJsonbKeys); i++)
		if (strcmp(name, RowJsonbKeys[i]) == 0)
		{
			c->src = SRC_TOP_JSONB;
			c->key = RowJsonbKeys[i];
		}
}

/*
 * GoldenGetRowType
 *		The row type of the call (desc, or the call's result type, which must
 *		be composite; fname names the function in the error) and where each
 *		of its columns takes its value from (classify), with each column's
 *		input function: built on the first call and kept in fn_extra, in
 *		fn_mcxt, with extra_size zeroed bytes for the caller's own state.
 */
GoldenRowType *
GoldenGetRowType(FunctionCallInfo fcinfo, TupleDesc desc, const char *fname,
				 GoldenClassifyFn classify, Size extra_size)
{
	GoldenRowType *rt = (GoldenRowType *) fcinfo->flinfo->fn_extra;
	MemoryContext old;
	int			i;

	if (rt != NULL)
		return rt;
	if (desc == NULL && get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s must return a row type", fname)));
	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	desc = BlessTupleDesc(CreateTupleDescCopy(desc));
	rt = palloc0(offsetof(GoldenRowType, cols) + sizeof(GoldenColumn) * Max(desc->natts, 1));
	rt->desc = desc;
	rt->ncols = desc->natts;
	rt->extra = extra_size > 0 ? palloc0(extra_size) : NULL;
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		GoldenColumn *c = &rt->cols[i];
		Oid			infunc;

		if (att->attisdropped)
			continue;			/* src 0: none */
		classify(c, NameStr(att->attname));
		getTypeInputInfo(att->atttypid, &infunc, &c->ioparam);
		fmgr_info_cxt(infunc, &c->input, fcinfo->flinfo->fn_mcxt);
		c->typmod = att->atttypmod;
	}
	MemoryContextSwitchTo(old);
	fcinfo->flinfo->fn_extra = rt;
	return rt;
}

/*
 * RowFind
 *		The value of key in the object container, or NULL when the container
 *		is not an object or has no such key.
 */
static JsonbValue *
RowFind(JsonbContainer *obj, const char *key)
{
	if (obj == NULL || !JsonContainerIsObject(obj))
		return NULL;
	return getKeyJsonValueFromContainer(obj, key, strlen(key), NULL);
}

/*
 * RowJsonb
 *		A jsonb value as a Jsonb datum (-> of a key).
 */
static Datum
RowJsonb(JsonbValue *v)
{
	return JsonbPGetDatum(JsonbValueToJsonb(v));
}

PG_FUNCTION_INFO_V1(cdp_golden_row);

/*
 * cdp_golden_row
 *		cdp_internal.golden_row(golden_id bigint, fold jsonb, status text,
 *		status_at timestamptz, last_visit timestamptz, rules_version int)
 *		RETURNS cdp.patient.  Not strict: a NULL fold gives a row of the id,
 *		the status and the arguments only, as the SQL version did.
 */
Datum
cdp_golden_row(PG_FUNCTION_ARGS)
{
	GoldenRowType *cache = GoldenGetRowType(fcinfo, NULL, "golden_row", RowClassify, 0);
	Jsonb	   *fold = PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1);
	JsonbContainer *top = fold ? &fold->root : NULL;
	JsonbContainer *attrs = NULL;
	JsonbValue *av;
	Datum	   *values;
	bool	   *nulls;
	int			i;

	av = RowFind(top, "attributes");
	if (av != NULL && av->type == jbvBinary)
		attrs = av->val.binary.data;
	values = palloc(sizeof(Datum) * Max(cache->ncols, 1));
	nulls = palloc(sizeof(bool) * Max(cache->ncols, 1));
	for (i = 0; i < cache->ncols; i++)
	{
		GoldenColumn *c = &cache->cols[i];
		int			arg = -1;
		char	   *s;

		values[i] = (Datum) 0;
		nulls[i] = true;
		switch (c->src)
		{
			case SRC_NONE:
				break;
			case SRC_GOLDEN_ID:
				arg = 0;
				break;
			case SRC_STATUS:
				if (PG_ARGISNULL(2))
				{
					values[i] = CStringGetTextDatum("active");
					nulls[i] = false;
				}
				else
					arg = 2;
				break;
			case SRC_STATUS_AT:
				arg = 3;
				break;
			case SRC_LAST_VISIT:
				arg = 4;
				break;
			case SRC_RULES_VERSION:
				arg = 5;
				break;
			case SRC_TOP_TEXT:
			case SRC_ATTR_TEXT:
				s = CdpJsonbCString(RowFind(c->src == SRC_TOP_TEXT ? top : attrs, c->key));
				if (s != NULL)
				{
					values[i] = InputFunctionCall(&c->input, s, c->ioparam, c->typmod);
					nulls[i] = false;
				}
				break;
			case SRC_TOP_JSONB:
				av = RowFind(top, c->key);
				if (av != NULL)
				{
					values[i] = RowJsonb(av);
					nulls[i] = false;
				}
				break;
		}
		if (arg >= 0 && !PG_ARGISNULL(arg))
		{
			values[i] = PG_GETARG_DATUM(arg);
			nulls[i] = false;
		}
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(cache->desc, values, nulls)));
}
