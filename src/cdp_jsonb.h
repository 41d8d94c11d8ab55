/*-------------------------------------------------------------------------
 *
 * src/cdp_jsonb.h
 *		Small helpers for the C code that builds jsonb with pushJsonbValue
 *		(ingest's normalised documents, the golden fold's profiles) and that
 *		reads a value as the ->> operator gives it (the golden family, the
 *		campaigns' contacts).
 *
 *-------------------------------------------------------------------------
 */
#ifndef CDP_JSONB_H
#define CDP_JSONB_H

#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

/*
 * CdpJsonbPushKey
 *		Pushes an object key (a NUL-terminated string).
 */
static inline void
CdpJsonbPushKey(JsonbParseState **ps, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	pushJsonbValue(ps, WJB_KEY, &k);
}

/*
 * CdpJsonbScalarText
 *		The text the ->> operator gives for a value: NULL for JSON null, the
 *		string itself (not copied, not NUL-terminated: *len is its length), a
 *		number or boolean as written, a container as JSON text.
 */
static inline char *
CdpJsonbScalarText(JsonbValue *v, int *len)
{
	char	   *s;

	switch (v->type)
	{
		case jbvNull:
			return NULL;
		case jbvString:
			*len = v->val.string.len;
			return v->val.string.val;
		case jbvNumeric:
			s = DatumGetCString(DirectFunctionCall1(numeric_out,
													NumericGetDatum(v->val.numeric)));
			break;
		case jbvBool:
			s = v->val.boolean ? "true" : "false";
			break;
		case jbvBinary:
			s = JsonbToCString(NULL, v->val.binary.data, v->val.binary.len);
			break;
		default:
			elog(ERROR, "unexpected jsonb value type %d", (int) v->type);
			return NULL;		/* keep compiler quiet */
	}
	*len = strlen(s);
	return s;
}

/*
 * CdpJsonbCString
 *		The ->> text of a value (CdpJsonbScalarText) as a palloc'd
 *		NUL-terminated string; NULL for no value or JSON null.
 */
static inline char *
CdpJsonbCString(JsonbValue *v)
{
	int			len;
	char	   *s;

	if (v == NULL)
		return NULL;
	s = CdpJsonbScalarText(v, &len);
	return s ? pnstrdup(s, len) : NULL;
}

#endif							/* CDP_JSONB_H */
