/*-------------------------------------------------------------------------
 *
 * src/golden_doc.c
 *		The record documents the survivorship fold (src/golden_fold.c) reads.
 *
 * Record documents: cdp.golden_record_doc(rec, trust) reduces a source record
 * given as JSON (a row's to_jsonb, or a log payload's "record") to what the
 * fold reads; cdp_internal.golden_record_doc_of(...) builds the same document
 * from the columns of a cdp.record row, for the live paths (ingest, re-fold),
 * without the row's JSON.
 *
 * Identifiers are written in their canonical text form; a placeholder OMS
 * counts as none.  Timestamps are read with timestamptz input (the session
 * time zone for strings without an offset) and written in UTC.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_collation_d.h"
#include "catalog/pg_type_d.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "cdp.h"
#include "cdp_jsonb.h"
#include "golden.h"

/*
 * GoldenCanonicalText
 *		The canonical text of an identifier: its type's input then output
 *		function, exactly what the cast text::type (WITH INOUT) and
 *		to_jsonb give, errors included.
 */
char *
GoldenCanonicalText(PGFunction in, PGFunction out, char *s)
{
	return DatumGetCString(DirectFunctionCall1(out, DirectFunctionCall1(in, CStringGetDatum(s))));
}

/*
 * PushField
 *		Pushes key and rec -> key as given (JSON null when missing).
 */
static void
PushField(JsonbParseState **st, JsonbContainer *rec, const char *key)
{
	JsonbValue	v;

	CdpJsonbPushKey(st, key);
	if (getKeyJsonValueFromContainer(rec, key, strlen(key), &v) == NULL)
		GoldenPushNull(st, WJB_VALUE);
	else
		pushJsonbValue(st, WJB_VALUE, &v);
}

/*
 * GoldenOmsIsPlaceholder
 *		Whether s holds 16 digits (any separators) whose first 15 are one
 *		digit repeated: a filler that cdp.oms refuses since issue 16.  A
 *		record logged before the type refused it keeps it in its payload;
 *		the fold reads it as no policy, so a rebuild neither fails on it nor
 *		counts it as evidence.
 */
bool
GoldenOmsIsPlaceholder(const char *s)
{
	char		first = 0;
	int			nd = 0;
	bool		same = true;

	for (; *s; s++)
	{
		if (*s < '0' || *s > '9')
			continue;
		if (nd == 0)
			first = *s;
		else if (nd < 15 && *s != first)
			same = false;
		nd++;
	}
	return nd == 16 && same;
}

/*
 * PushIdentifier
 *		Pushes key and the canonical text of (rec ->> key)::type, or null;
 *		null too when placeholder (if given) says the value is one.
 */
static void
PushIdentifier(JsonbParseState **st, JsonbContainer *rec, const char *key,
			   PGFunction in, PGFunction out, bool (*placeholder) (const char *))
{
	char	   *s = GoldenFieldCString(rec, key);

	CdpJsonbPushKey(st, key);
	if (s == NULL || (placeholder != NULL && placeholder(s)))
		GoldenPushNull(st, WJB_VALUE);
	else
	{
		s = GoldenCanonicalText(in, out, s);
		GoldenPushString(st, WJB_VALUE, s, strlen(s));
	}
}

/*
 * PushIdentifierList
 *		Pushes key and, when rec -> key is an array, the canonical text of
 *		each element (null elements stay null); null otherwise.
 */
static void
PushIdentifierList(JsonbParseState **st, JsonbContainer *rec, const char *key,
				   PGFunction in, PGFunction out)
{
	JsonbValue	f;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	CdpJsonbPushKey(st, key);
	if (getKeyJsonValueFromContainer(rec, key, strlen(key), &f) == NULL ||
		f.type != jbvBinary || !JsonContainerIsArray(f.val.binary.data))
	{
		GoldenPushNull(st, WJB_VALUE);
		return;
	}
	pushJsonbValue(st, WJB_BEGIN_ARRAY, NULL);
	it = JsonbIteratorInit(f.val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		int			len = 0;
		char	   *s;

		if (tok != WJB_ELEM)
			continue;
		s = CdpJsonbScalarText(&v, &len);
		if (s == NULL)
			GoldenPushNull(st, WJB_ELEM);
		else
		{
			s = GoldenCanonicalText(in, out, pnstrdup(s, len));
			GoldenPushString(st, WJB_ELEM, s, strlen(s));
		}
	}
	pushJsonbValue(st, WJB_END_ARRAY, NULL);
}

/*
 * GoldenDocValidated
 *		Whether a record's "validated" text (NULL when absent) says true:
 *		true, t, yes or 1 in any case (lower() in the database collation).
 */
bool
GoldenDocValidated(const char *s)
{
	text	   *t;
	char	   *l;

	if (s == NULL)
		return false;
	t = DatumGetTextPP(DirectFunctionCall1Coll(lower, DEFAULT_COLLATION_OID,
											   PointerGetDatum(cstring_to_text(s))));
	l = text_to_cstring(t);
	return strcmp(l, "true") == 0 || strcmp(l, "t") == 0 ||
		strcmp(l, "yes") == 0 || strcmp(l, "1") == 0;
}

PG_FUNCTION_INFO_V1(cdp_golden_record_doc);

/*
 * cdp_golden_record_doc
 *		cdp.golden_record_doc(rec jsonb, trust int): one source record (a
 *		row of cdp.record as JSON, or the "record" object of a record event)
 *		reduced to the document the fold reads.  Identifiers go through
 *		their types, so both paths give the canonical text; "validated" is
 *		rec.validated or rec.extra.validated, true for true, t, yes or 1 in
 *		any case.
 */
Datum
cdp_golden_record_doc(PG_FUNCTION_ARGS)
{
	Jsonb	   *rec;
	JsonbContainer *c;
	JsonbParseState *st = NULL;
	JsonbValue	v;
	char	   *s;
	bool		validated;
	static const char *const plain[] = {
		"created_at", "updated_at", "family_name", "given_name", "patronymic",
		"sex", "birth_date", "address", "city", "handles"
	};

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"rec\" of cdp.golden_record_doc must not be null")));
	rec = PG_GETARG_JSONB_P(0);
	if (!JB_ROOT_IS_OBJECT(rec))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a source record must be a JSON object"),
				 errhint("Pass to_jsonb of a cdp.record row or the \"record\" of a record event.")));
	c = &rec->root;

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	CdpJsonbPushKey(&st, "record_id");
	if ((s = GoldenFieldCString(c, "record_id")) == NULL)
		GoldenPushNull(&st, WJB_VALUE);
	else
		GoldenPushInt64(&st, WJB_VALUE, DatumGetInt64(DirectFunctionCall1(int8in, CStringGetDatum(s))));
	CdpJsonbPushKey(&st, "source_id");
	if ((s = GoldenFieldCString(c, "source_id")) == NULL)
		GoldenPushNull(&st, WJB_VALUE);
	else
		GoldenPushInt64(&st, WJB_VALUE, DatumGetInt32(DirectFunctionCall1(int4in, CStringGetDatum(s))));
	CdpJsonbPushKey(&st, "trust");
	GoldenPushInt64(&st, WJB_VALUE, PG_ARGISNULL(1) ? 0 : PG_GETARG_INT32(1));

	s = GoldenFieldCString(c, "validated");
	if (s == NULL && getKeyJsonValueFromContainer(c, "extra", 5, &v) != NULL &&
		v.type == jbvBinary && JsonContainerIsObject(v.val.binary.data))
		s = GoldenFieldCString(v.val.binary.data, "validated");
	validated = GoldenDocValidated(s);
	CdpJsonbPushKey(&st, "validated");
	GoldenPushBool(&st, WJB_VALUE, validated);

	for (int i = 0; i < (int) lengthof(plain); i++)
		PushField(&st, c, plain[i]);
	PushIdentifier(&st, c, "snils", cdp_snils_in, cdp_snils_out, NULL);
	PushIdentifier(&st, c, "oms", cdp_oms_in, cdp_oms_out, GoldenOmsIsPlaceholder);
	PushIdentifierList(&st, c, "phones", cdp_phone_in, cdp_phone_out);
	PushIdentifierList(&st, c, "emails", cdp_email_in, cdp_email_out);

	PG_RETURN_JSONB_P(JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL)));
}

/* ------------------------------------------------------------------ record documents from columns */

/* the arguments of cdp_internal.golden_record_doc_of, in order */
enum
{
	COL_RECORD_ID, COL_SOURCE_ID, COL_TRUST, COL_FAMILY_NAME, COL_GIVEN_NAME,
	COL_PATRONYMIC, COL_BIRTH_DATE, COL_SEX, COL_PHONES, COL_EMAILS, COL_SNILS,
	COL_OMS, COL_ADDRESS, COL_CITY, COL_HANDLES, COL_EXTRA, COL_CREATED_AT,
	COL_UPDATED_AT, COL_COUNT
};

/*
 * PushColText
 *		Pushes key and a text argument as a JSON string (null when NULL).
 */
static void
PushColText(JsonbParseState **st, FunctionCallInfo fcinfo, int arg, const char *key)
{
	text	   *t;

	CdpJsonbPushKey(st, key);
	if (PG_ARGISNULL(arg))
	{
		GoldenPushNull(st, WJB_VALUE);
		return;
	}
	t = PG_GETARG_TEXT_PP(arg);
	GoldenPushString(st, WJB_VALUE, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
}

/*
 * PushColDateTime
 *		Pushes key and a date or timestamptz argument as to_jsonb writes it
 *		(ISO 8601, the session time zone's offset).
 */
static void
PushColDateTime(JsonbParseState **st, FunctionCallInfo fcinfo, int arg, const char *key,
				Oid typid)
{
	char	   *s;

	CdpJsonbPushKey(st, key);
	if (PG_ARGISNULL(arg))
	{
		GoldenPushNull(st, WJB_VALUE);
		return;
	}
	s = JsonEncodeDateTime(NULL, PG_GETARG_DATUM(arg), typid, NULL);
	GoldenPushString(st, WJB_VALUE, s, strlen(s));
}

/*
 * PushColIdentifier
 *		Pushes key and the canonical text of an identifier argument (its
 *		output, through input and output again as golden_record_doc does),
 *		or null; null too when placeholder (if given) says it is one.
 */
static void
PushColIdentifier(JsonbParseState **st, FunctionCallInfo fcinfo, int arg, const char *key,
				  PGFunction in, PGFunction out, bool (*placeholder) (const char *))
{
	char	   *s;

	CdpJsonbPushKey(st, key);
	if (PG_ARGISNULL(arg))
	{
		GoldenPushNull(st, WJB_VALUE);
		return;
	}
	s = DatumGetCString(DirectFunctionCall1(out, PG_GETARG_DATUM(arg)));
	if (placeholder != NULL && placeholder(s))
	{
		GoldenPushNull(st, WJB_VALUE);
		return;
	}
	s = GoldenCanonicalText(in, out, s);
	GoldenPushString(st, WJB_VALUE, s, strlen(s));
}

/*
 * GoldenIdentifierTexts
 *		The canonical text of each element of a one-dimensional identifier
 *		array argument (NULL for a null element), *n their number; NULL when
 *		the argument is null.  key names the column in the error of a
 *		multi-dimensional array.
 */
char	  **
GoldenIdentifierTexts(FunctionCallInfo fcinfo, int arg, const char *key, PGFunction in,
					  PGFunction out, int *n)
{
	*n = 0;
	if (PG_ARGISNULL(arg))
		return NULL;
	return GoldenIdentifierArrayTexts(PG_GETARG_ARRAYTYPE_P(arg), key, in, out, n);
}

/*
 * GoldenIdentifierArrayTexts
 *		GoldenIdentifierTexts of a (detoasted, not NULL) identifier array: the
 *		canonical text of each element, NULL for a null one; the fold of
 *		record columns (src/golden_fold_row.c) reads its arrays with it.
 */
char	  **
GoldenIdentifierArrayTexts(ArrayType *a, const char *key, PGFunction in, PGFunction out, int *n)
{
	Datum	   *elems;
	bool	   *nulls;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	char	  **texts;

	*n = 0;
	if (ARR_NDIM(a) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s of a source record must be a one-dimensional array", key),
				 errdetail("The array given has %d dimensions.", ARR_NDIM(a))));
	get_typlenbyvalalign(ARR_ELEMTYPE(a), &typlen, &typbyval, &typalign);
	deconstruct_array(a, ARR_ELEMTYPE(a), typlen, typbyval, typalign, &elems, &nulls, n);
	texts = palloc(sizeof(char *) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
		texts[i] = nulls[i] ? NULL :
			GoldenCanonicalText(in, out, DatumGetCString(DirectFunctionCall1(out, elems[i])));
	return texts;
}

/*
 * PushColIdentifierList
 *		Pushes key and the canonical text of each element of a
 *		one-dimensional identifier array argument (null elements stay null),
 *		or null.
 */
static void
PushColIdentifierList(JsonbParseState **st, FunctionCallInfo fcinfo, int arg, const char *key,
					  PGFunction in, PGFunction out)
{
	int			n;
	char	  **texts = GoldenIdentifierTexts(fcinfo, arg, key, in, out, &n);

	CdpJsonbPushKey(st, key);
	if (texts == NULL)
	{
		GoldenPushNull(st, WJB_VALUE);
		return;
	}
	pushJsonbValue(st, WJB_BEGIN_ARRAY, NULL);
	for (int i = 0; i < n; i++)
	{
		if (texts[i] == NULL)
			GoldenPushNull(st, WJB_ELEM);
		else
			GoldenPushString(st, WJB_ELEM, texts[i], strlen(texts[i]));
	}
	pushJsonbValue(st, WJB_END_ARRAY, NULL);
}

PG_FUNCTION_INFO_V1(cdp_golden_record_doc_of);

/*
 * cdp_golden_record_doc_of
 *		cdp_internal.golden_record_doc_of(record_id, source_id, trust,
 *		family_name, given_name, patronymic, birth_date, sex, phones, emails,
 *		snils, oms, address, city, handles, extra, created_at, updated_at):
 *		the document golden_record_doc(to_jsonb(row), trust) gives for a row
 *		of cdp.record with these columns, built from the columns without the
 *		row's JSON (the live fold's input at ingest and re-fold, issue 16).
 *		Every argument may be NULL; arrays must be one-dimensional (what
 *		ingest writes).
 */
Datum
cdp_golden_record_doc_of(PG_FUNCTION_ARGS)
{
	JsonbParseState *st = NULL;
	Jsonb	   *j;
	JsonbValue	v;
	char	   *s = NULL;

	if (PG_NARGS() != COL_COUNT)
		elog(ERROR, "golden_record_doc_of takes %d arguments, not %d", COL_COUNT, PG_NARGS());

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	CdpJsonbPushKey(&st, "record_id");
	if (PG_ARGISNULL(COL_RECORD_ID))
		GoldenPushNull(&st, WJB_VALUE);
	else
		GoldenPushInt64(&st, WJB_VALUE, PG_GETARG_INT64(COL_RECORD_ID));
	CdpJsonbPushKey(&st, "source_id");
	if (PG_ARGISNULL(COL_SOURCE_ID))
		GoldenPushNull(&st, WJB_VALUE);
	else
		GoldenPushInt64(&st, WJB_VALUE, PG_GETARG_INT32(COL_SOURCE_ID));
	CdpJsonbPushKey(&st, "trust");
	GoldenPushInt64(&st, WJB_VALUE, PG_ARGISNULL(COL_TRUST) ? 0 : PG_GETARG_INT32(COL_TRUST));

	/* a row of cdp.record has no "validated": extra.validated says it */
	if (!PG_ARGISNULL(COL_EXTRA))
	{
		j = PG_GETARG_JSONB_P(COL_EXTRA);
		if (JB_ROOT_IS_OBJECT(j))
			s = GoldenFieldCString(&j->root, "validated");
	}
	CdpJsonbPushKey(&st, "validated");
	GoldenPushBool(&st, WJB_VALUE, GoldenDocValidated(s));

	PushColDateTime(&st, fcinfo, COL_CREATED_AT, "created_at", TIMESTAMPTZOID);
	PushColDateTime(&st, fcinfo, COL_UPDATED_AT, "updated_at", TIMESTAMPTZOID);
	PushColText(&st, fcinfo, COL_FAMILY_NAME, "family_name");
	PushColText(&st, fcinfo, COL_GIVEN_NAME, "given_name");
	PushColText(&st, fcinfo, COL_PATRONYMIC, "patronymic");
	PushColText(&st, fcinfo, COL_SEX, "sex");
	PushColDateTime(&st, fcinfo, COL_BIRTH_DATE, "birth_date", DATEOID);
	PushColText(&st, fcinfo, COL_ADDRESS, "address");
	PushColText(&st, fcinfo, COL_CITY, "city");
	CdpJsonbPushKey(&st, "handles");
	if (PG_ARGISNULL(COL_HANDLES))
		GoldenPushNull(&st, WJB_VALUE);
	else
	{
		j = PG_GETARG_JSONB_P(COL_HANDLES);
		if (JB_ROOT_IS_SCALAR(j))
		{
			JsonbExtractScalar(&j->root, &v);
			pushJsonbValue(&st, WJB_VALUE, &v);
		}
		else
		{
			v.type = jbvBinary;
			v.val.binary.data = &j->root;
			v.val.binary.len = VARSIZE(j) - VARHDRSZ;
			pushJsonbValue(&st, WJB_VALUE, &v);
		}
	}
	PushColIdentifier(&st, fcinfo, COL_SNILS, "snils", cdp_snils_in, cdp_snils_out, NULL);
	PushColIdentifier(&st, fcinfo, COL_OMS, "oms", cdp_oms_in, cdp_oms_out, GoldenOmsIsPlaceholder);
	PushColIdentifierList(&st, fcinfo, COL_PHONES, "phones", cdp_phone_in, cdp_phone_out);
	PushColIdentifierList(&st, fcinfo, COL_EMAILS, "emails", cdp_email_in, cdp_email_out);

	PG_RETURN_JSONB_P(JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL)));
}
