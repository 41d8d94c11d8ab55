/*-------------------------------------------------------------------------
 *
 * src/campaign_provenance.c
 *		cdp_internal.campaign_provenance(base, rule, tz, checked_at, event_id):
 *		the provenance object of one listed message (issue 14).
 *
 * The set-based listing (cdp_internal.campaign_list_set) wrote it with
 * jsonb_build_object, ten pairs and a nested pair per message.  In
 * PostgreSQL 15 jsonb_build_object looks every argument's type up in the
 * system caches on every call (its base type, element type, row type and
 * output function), some sixty look-ups a message: about 7% of a 200k-member
 * listing's backend CPU.  Here the pairs every message of a listing shares
 * come once as an object (base), and the message's own values are pushed as
 * they are; the result is the same jsonb, byte for byte (keys are sorted and
 * made unique by pushJsonbValue at the end of the object, as for
 * jsonb_build_object; the event id becomes the numeric int8 text would give;
 * a later key wins over one of base with the same name, as in
 * jsonb_build_object).  test/pgtap/86_campaign_render.sql compares the two.
 *
 * Result: base's pairs, then "channel_rule": rule, "benefit": false,
 * "timezone": tz, "consent": {"checked_at": checked_at, "event_id": event_id};
 * a NULL rule, tz, checked_at or event_id is JSON null.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "cdp_jsonb.h"

/* Pushes a text argument as a string value, or JSON null. */
static void
ProvText(JsonbParseState **st, FunctionCallInfo fcinfo, int argno)
{
	JsonbValue	v;

	if (PG_ARGISNULL(argno))
		v.type = jbvNull;
	else
	{
		text	   *t = PG_GETARG_TEXT_PP(argno);

		v.type = jbvString;
		v.val.string.val = VARDATA_ANY(t);
		v.val.string.len = VARSIZE_ANY_EXHDR(t);
	}
	pushJsonbValue(st, WJB_VALUE, &v);
}

/* Pushes a jsonb argument as a value (a scalar as itself, else its container), or JSON null. */
static void
ProvJsonb(JsonbParseState **st, FunctionCallInfo fcinfo, int argno)
{
	JsonbValue	v;

	if (PG_ARGISNULL(argno))
		v.type = jbvNull;
	else
	{
		Jsonb	   *j = PG_GETARG_JSONB_P(argno);

		if (!JB_ROOT_IS_SCALAR(j) || !JsonbExtractScalar(&j->root, &v))
		{
			v.type = jbvBinary;
			v.val.binary.data = &j->root;
			v.val.binary.len = VARSIZE(j) - VARHDRSZ;
		}
	}
	pushJsonbValue(st, WJB_VALUE, &v);
}

/*
 * cdp_campaign_provenance
 *		campaign_provenance(base jsonb, rule text, tz text, checked_at jsonb,
 *		event_id bigint) RETURNS jsonb: see the file header.  base must be an
 *		object (22004 when NULL, 22023 otherwise).
 */
PG_FUNCTION_INFO_V1(cdp_campaign_provenance);
Datum
cdp_campaign_provenance(PG_FUNCTION_ARGS)
{
	JsonbParseState *st = NULL;
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	v;
	JsonbValue *res = NULL;
	Jsonb	   *base;
	int			depth = 0;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("campaign provenance base must not be null"),
				 errdetail("Argument \"base\" of cdp_internal.campaign_provenance is NULL."),
				 errhint("Pass the pairs every message of the listing shares as an object, '{}' for none.")));
	base = PG_GETARG_JSONB_P(0);
	if (!JB_ROOT_IS_OBJECT(base))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("campaign provenance base must be a JSON object"),
				 errdetail("Argument \"base\" of cdp_internal.campaign_provenance is a JSON %s.",
						   JB_ROOT_IS_SCALAR(base) ? "scalar" : "array"),
				 errhint("Pass the pairs every message of the listing shares as an object, '{}' for none.")));

	/* base's tokens, but its closing one: the message's pairs follow in the same object */
	it = JsonbIteratorInit(&base->root);
	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		if (tok == WJB_BEGIN_OBJECT || tok == WJB_BEGIN_ARRAY)
			depth++;
		else if (tok == WJB_END_OBJECT || tok == WJB_END_ARRAY)
		{
			if (--depth == 0)
				break;
		}
		pushJsonbValue(&st, tok, tok < WJB_BEGIN_ARRAY ? &v : NULL);
	}

	CdpJsonbPushKey(&st, "channel_rule");
	ProvText(&st, fcinfo, 1);
	CdpJsonbPushKey(&st, "benefit");
	v.type = jbvBool;
	v.val.boolean = false;
	pushJsonbValue(&st, WJB_VALUE, &v);
	CdpJsonbPushKey(&st, "timezone");
	ProvText(&st, fcinfo, 2);
	CdpJsonbPushKey(&st, "consent");
	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	CdpJsonbPushKey(&st, "checked_at");
	ProvJsonb(&st, fcinfo, 3);
	CdpJsonbPushKey(&st, "event_id");
	if (PG_ARGISNULL(4))
		v.type = jbvNull;
	else
	{
		v.type = jbvNumeric;
		v.val.numeric = int64_to_numeric(PG_GETARG_INT64(4));
	}
	pushJsonbValue(&st, WJB_VALUE, &v);
	pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	res = pushJsonbValue(&st, WJB_END_OBJECT, NULL);

	PG_RETURN_JSONB_P(JsonbValueToJsonb(res));
}
