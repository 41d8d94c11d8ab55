/*-------------------------------------------------------------------------
 *
 * src/campaign_render.c
 *		The text of a campaign message (issue 14): a template's {placeholders}
 *		replaced by their values, in one pass.
 *
 * cdp_internal.campaign_render(tpl, vals jsonb) serves the per-member path
 * (campaign_decide); cdp_internal.campaign_fill(tpl, VARIADIC name/value
 * pairs) the set-based listing (campaign_list_set), which has the values as
 * columns and would otherwise build an object per member.  Both render as
 * the former PL/pgSQL campaign_render did with
 * regexp_match(rest, '^(.*?)\{([a-z_]+)\}(.*)$', 's') in a loop: from left
 * to right, a '{' followed by one or more of a-z and '_' and a '}' is a
 * placeholder, replaced by its value (no value, or JSON null: nothing); any
 * other text, braces included, is copied; a value is never read again, so a
 * value holding "{given_name}" stays as it is.  (The set-based listing used
 * a chain of replace() calls that masked braces in values; it differed from
 * this only on a placeholder name followed by text that completed another
 * one after an empty value, and on the character U+FFF0 in a template.)
 *
 * The template is scanned by character (pg_mblen on bytes with the high bit
 * set), so a trail byte of a multi-byte character is never read as a brace.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "campaign.h"
#include "cdp_jsonb.h"

/* At most this many name/value pairs in campaign_fill. */
#define CAMP_MAX_FILL_PAIRS	64

/*
 * CampRender
 *		Appends tpl (len bytes, valid in the server encoding) to out with each
 *		placeholder replaced by lookup's value: see the file header.
 */
void
CampRender(const char *tpl, int len, CampLookup lookup, void *arg, StringInfo out)
{
	int			i = 0;
	int			copied = 0;		/* tpl[copied .. i) is still to append */

	while (i < len)
	{
		unsigned char ch = (unsigned char) tpl[i];

		if (ch == '{')
		{
			int			j = i + 1;

			while (j < len && ((tpl[j] >= 'a' && tpl[j] <= 'z') || tpl[j] == '_'))
				j++;
			if (j > i + 1 && j < len && tpl[j] == '}')
			{
				int			vlen = 0;
				const char *v = lookup(arg, tpl + i + 1, j - i - 1, &vlen);

				appendBinaryStringInfo(out, tpl + copied, i - copied);
				if (v != NULL)
					appendBinaryStringInfo(out, v, vlen);
				i = j + 1;
				copied = i;
				continue;
			}
			i++;
		}
		else if (IS_HIGHBIT_SET(ch))
		{
			int			l = pg_mblen(tpl + i);

			i += Min(l, len - i);
		}
		else
			i++;
	}
	appendBinaryStringInfo(out, tpl + copied, len - copied);
}

/*
 * CampJsonbLookup
 *		A placeholder's value in a jsonb object: the ->> text of the key, or
 *		NULL (no such key, JSON null, or not an object).
 */
static const char *
CampJsonbLookup(void *arg, const char *name, int namelen, int *len)
{
	Jsonb	   *vals = (Jsonb *) arg;
	JsonbValue	key;
	JsonbValue *v;

	if (vals == NULL || !JB_ROOT_IS_OBJECT(vals))
		return NULL;
	key.type = jbvString;
	key.val.string.val = (char *) name;
	key.val.string.len = namelen;
	v = findJsonbValueFromContainer(&vals->root, JB_FOBJECT, &key);
	if (v == NULL)
		return NULL;
	return CdpJsonbScalarText(v, len);
}

/*
 * cdp_campaign_render
 *		campaign_render(tpl text, vals jsonb) RETURNS text: NULL template,
 *		NULL; NULL vals, every placeholder rendered as nothing.
 */
PG_FUNCTION_INFO_V1(cdp_campaign_render);
Datum
cdp_campaign_render(PG_FUNCTION_ARGS)
{
	text	   *tpl;
	Jsonb	   *vals;
	StringInfoData out;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	tpl = PG_GETARG_TEXT_PP(0);
	vals = PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1);
	initStringInfo(&out);
	CampRender(VARDATA_ANY(tpl), VARSIZE_ANY_EXHDR(tpl), CampJsonbLookup, vals, &out);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
}

/* The name/value pairs of campaign_fill. */
typedef struct CampPairs
{
	int			n;
	text	   *name[CAMP_MAX_FILL_PAIRS];
	text	   *value[CAMP_MAX_FILL_PAIRS];	/* NULL: no value */
} CampPairs;

/*
 * CampPairsLookup
 *		A placeholder's value among name/value pairs: the first pair of that
 *		name, or NULL.
 */
static const char *
CampPairsLookup(void *arg, const char *name, int namelen, int *len)
{
	CampPairs  *p = (CampPairs *) arg;

	for (int k = 0; k < p->n; k++)
	{
		if (p->name[k] != NULL && VARSIZE_ANY_EXHDR(p->name[k]) == namelen &&
			memcmp(VARDATA_ANY(p->name[k]), name, namelen) == 0)
		{
			if (p->value[k] == NULL)
				return NULL;
			*len = VARSIZE_ANY_EXHDR(p->value[k]);
			return VARDATA_ANY(p->value[k]);
		}
	}
	return NULL;
}

/*
 * cdp_campaign_fill
 *		campaign_fill(tpl text, VARIADIC pairs text[]) RETURNS text: pairs is
 *		{name, value, name, value, ...}; a NULL value renders as nothing.
 *		NULL template, NULL.  At most CAMP_MAX_FILL_PAIRS pairs.
 */
PG_FUNCTION_INFO_V1(cdp_campaign_fill);
Datum
cdp_campaign_fill(PG_FUNCTION_ARGS)
{
	text	   *tpl;
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	CampPairs	pairs;
	StringInfoData out;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	tpl = PG_GETARG_TEXT_PP(0);
	pairs.n = 0;
	if (!PG_ARGISNULL(1))
	{
		arr = PG_GETARG_ARRAYTYPE_P(1);
		if (ARR_NDIM(arr) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("campaign_fill takes a one-dimensional array of name/value pairs"),
					 errdetail("The array has %d dimensions.", ARR_NDIM(arr)),
					 errhint("Pass {name, value, name, value, ...}.")));
		deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &nelems);
		if (nelems % 2 != 0 || nelems / 2 > CAMP_MAX_FILL_PAIRS)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("campaign_fill takes name/value pairs, at most %d", CAMP_MAX_FILL_PAIRS),
					 errdetail("It was given %d elements.", nelems),
					 errhint("Pass {name, value, name, value, ...}.")));
		for (int k = 0; k + 1 < nelems; k += 2)
		{
			pairs.name[pairs.n] = nulls[k] ? NULL : DatumGetTextPP(elems[k]);
			pairs.value[pairs.n] = nulls[k + 1] ? NULL : DatumGetTextPP(elems[k + 1]);
			pairs.n++;
		}
	}
	initStringInfo(&out);
	CampRender(VARDATA_ANY(tpl), VARSIZE_ANY_EXHDR(tpl), CampPairsLookup, &pairs, &out);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
}
