/*-------------------------------------------------------------------------
 *
 * src/golden_single.c
 *		cdp_internal.golden_new_person_row(...): the cdp.patient row of a
 *		person with one source record, from the record's columns, without
 *		the three jsonb documents the general path builds and reads back.
 *
 * A record new to ingest is a person of its own, and its profile is
 *		golden_row(golden_id, golden_fold([golden_record_doc_of(record)],
 *				   rules, false), NULL, NULL, NULL, rules_version)
 * (src/golden_doc.c, golden_fold.c, golden_row.c).  That chain writes every
 * column as text into a record document, parses it back in the fold, writes
 * the fold's result as jsonb and parses that again into the row: about two
 * thirds of the cost of writing a new person at ingest (issue 16).  Here each
 * column gets the text the chain's fold would carry, made by the same
 * functions (identifiers through their canonical text, dates as to_jsonb
 * writes them, timestamps in UTC), and goes into its column through the
 * column type's input function as golden_row does it, except where that
 * text parsed back is the value itself (session 35): then the value goes
 * in as it is (SingleAttrTyped and the loop of GoldenNewPersonValues say
 * where); the contact lists are built as the fold builds them for one
 * record:
 *
 * - attributes: each of the row's nine single-valued attributes that is a
 *	 key of the rules and whose text is not empty (one candidate wins under
 *	 any rule list; the rules are checked as the fold checks them);
 * - phones and e-mails: each distinct non-empty canonical value (byte
 *	 equality), handles each non-empty value of the handles object with its
 *	 network; in the database collation's order (network, then value), as
 *	 {value, [network,] sources: [record_id], first_seen, last_seen,
 *	 confirmed, validated}: one record, so confirmed is its validated flag;
 * - validated from extra.validated, record_count 1, registered_on the UTC
 *	 date of created_at, updated_at, status 'active', rules_version.
 *
 * test/pgtap/51_ingest_fast_path.sql compares it with the chain on every
 * record of its batches (strict, lenient, imported) and on edge cases.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_collation_d.h"
#include "catalog/pg_type_d.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/datum.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "cdp.h"
#include "cdp_jsonb.h"
#include "golden.h"

/* the single-valued attributes of the row, with the argument each comes from */
static const struct
{
	const char *name;
	int			arg;
}			SingleAttrs[] = {
	{"family_name", GNP_FAMILY_NAME}, {"given_name", GNP_GIVEN_NAME}, {"patronymic", GNP_PATRONYMIC},
	{"sex", GNP_SEX}, {"birth_date", GNP_BIRTH_DATE}, {"snils", GNP_SNILS}, {"oms", GNP_OMS},
	{"address", GNP_ADDRESS}, {"city", GNP_CITY}
};

#define SINGLE_NATTRS	lengthof(SingleAttrs)

/* where a column of cdp.patient takes its value from */
typedef enum SingleSource
{
	SS_NONE,					/* NULL: status_at, last_visit, dropped */
	SS_GOLDEN_ID,
	SS_STATUS,					/* 'active' */
	SS_RULES_VERSION,
	SS_ATTR,					/* one of SingleAttrs, through the input */
	SS_VALIDATED,				/* text, through the input */
	SS_RECORD_COUNT,
	SS_REGISTERED_ON,
	SS_UPDATED_AT,
	SS_PHONES,					/* jsonb */
	SS_EMAILS,
	SS_HANDLES
} SingleSource;

/* the state kept beside the row type: the last rules checked */
typedef struct SingleRules
{
	Jsonb	   *rules;			/* a copy of the last rules checked */
	bool		in_rules[SINGLE_NATTRS];	/* attribute is a key of them */
	Datum		empty_list;		/* the jsonb [] (in fn_mcxt), made on first use */
	struct
	{
		Oid			type;		/* element type of the last phones / emails array */
		int16		typlen;
		bool		typbyval;
		char		typalign;
	}			elem[2];
} SingleRules;

/* the first day of year 1 AD, as a date and as a timestamp (UTC) */
#define SINGLE_AD1_DATE		(date2j(1, 1, 1) - POSTGRES_EPOCH_JDATE)
#define SINGLE_AD1_TS		((Timestamp) SINGLE_AD1_DATE * USECS_PER_DAY)

/*
 * SingleClassify
 *		Sets where the column named name takes its value from.
 */
static void
SingleClassify(GoldenColumn *c, const char *name)
{
	static const struct
	{
		const char *name;
		SingleSource src;
	}			fixed[] = {
		{"golden_id", SS_GOLDEN_ID}, {"status", SS_STATUS}, {"rules_version", SS_RULES_VERSION},
		{"validated", SS_VALIDATED}, {"record_count", SS_RECORD_COUNT},
		{"registered_on", SS_REGISTERED_ON}, {"updated_at", SS_UPDATED_AT},
		{"phones", SS_PHONES}, {"emails", SS_EMAILS}, {"handles", SS_HANDLES}
	};
	int			i;

	c->src = SS_NONE;
	for (i = 0; i < lengthof(fixed); i++)
		if (strcmp(name, fixed[i].name) == 0)
			c->src = fixed[i].src;
	for (i = 0; c->src == SS_NONE && i < SINGLE_NATTRS; i++)
		if (strcmp(name, SingleAttrs[i].name) == 0)
		{
			c->src = SS_ATTR;
			c->attr = i;
		}
}

/*
 * SingleGetCache
 *		The row type of the call (given, or the call's result type), its
 *		column sources and the rules state (src/golden_row.c).
 */
static GoldenRowType *
SingleGetCache(FunctionCallInfo fcinfo, TupleDesc desc)
{
	return GoldenGetRowType(fcinfo, desc, "golden_new_person_row", SingleClassify, sizeof(SingleRules));
}

/*
 * SingleCheckRules
 *		Checks the rules as the fold does (the object, then each attribute's
 *		rule list) and notes which of the row's attributes are keys of them;
 *		skipped when the rules are the ones the last call checked.
 */
static void
SingleCheckRules(FunctionCallInfo fcinfo, GoldenRowType *rt, Jsonb *rules)
{
	SingleRules *cache = (SingleRules *) rt->extra;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			i;

	if (cache->rules != NULL && VARSIZE(cache->rules) == VARSIZE(rules) &&
		memcmp(cache->rules, rules, VARSIZE(rules)) == 0)
		return;
	if (cache->rules != NULL)
	{
		pfree(cache->rules);
		cache->rules = NULL;
	}
	GoldenCheckRulesObject(rules);
	memset(cache->in_rules, 0, sizeof(cache->in_rules));
	it = JsonbIteratorInit(&rules->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *attr;
		int			nrl;

		if (tok != WJB_KEY)
			continue;
		attr = pnstrdup(v.val.string.val, v.val.string.len);
		tok = JsonbIteratorNext(&it, &v, true);
		Assert(tok == WJB_VALUE);
		(void) GoldenParseRuleList(attr, strlen(attr), &v, false, &nrl);
		for (i = 0; i < SINGLE_NATTRS; i++)
			if (strcmp(attr, SingleAttrs[i].name) == 0)
				cache->in_rules[i] = true;
	}
	cache->rules = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, VARSIZE(rules));
	memcpy(cache->rules, rules, VARSIZE(rules));
}

/*
 * SingleAttrText
 *		The text the record document gives attribute i (NULL when none):
 *		text columns as they are, the birth date as to_jsonb writes it, an
 *		identifier's canonical text (a placeholder OMS none).
 */
static char *
SingleAttrText(FunctionCallInfo fcinfo, int i)
{
	int			arg = SingleAttrs[i].arg;
	char	   *s;

	if (PG_ARGISNULL(arg))
		return NULL;
	switch (arg)
	{
		case GNP_BIRTH_DATE:
			return JsonEncodeDateTime(NULL, PG_GETARG_DATUM(arg), DATEOID, NULL);
		case GNP_SNILS:
			s = DatumGetCString(DirectFunctionCall1(cdp_snils_out, PG_GETARG_DATUM(arg)));
			return GoldenCanonicalText(cdp_snils_in, cdp_snils_out, s);
		case GNP_OMS:
			s = DatumGetCString(DirectFunctionCall1(cdp_oms_out, PG_GETARG_DATUM(arg)));
			if (GoldenOmsIsPlaceholder(s))
				return NULL;
			return GoldenCanonicalText(cdp_oms_in, cdp_oms_out, s);
		default:
			return text_to_cstring(PG_GETARG_TEXT_PP(arg));
	}
}

/*
 * SingleAttrTyped
 *		The value of attribute i for column col (of type typid, typmod
 *		typmod) without its text, when that is exactly what the column's
 *		input function makes of the text SingleAttrText gives (session 35:
 *		the text and its parse back were most of this function's cost at
 *		ingest); false when the text is needed (the caller then takes it).
 *		*isnull: no value (the text would be NULL or empty).
 *
 * - text attributes into a text column: the argument as it is (textin of
 *	 text_to_cstring is the identity on a text; empty is none);
 * - the birth date into a date column, from 0001-01-01 on (to_jsonb's text
 *	 and date_in give the date back; earlier and infinite ones take the
 *	 text);
 * - SNILS and OMS into a column of their own type: the canonical text is
 *	 out(in(out(v))), and the column gets in() of it; where in(out(v)) is v
 *	 byte for byte, that is v itself (two calls instead of four).  A
 *	 placeholder OMS is none, as in SingleAttrText.
 */
static bool
SingleAttrTyped(FunctionCallInfo fcinfo, int i, GoldenColumn *col, Form_pg_attribute att,
				Datum *value, bool *isnull)
{
	int			arg = SingleAttrs[i].arg;
	PGFunction	in = NULL;
	PGFunction	out = NULL;

	*isnull = true;
	*value = (Datum) 0;
	if (PG_ARGISNULL(arg))
		return true;
	switch (arg)
	{
		case GNP_BIRTH_DATE:
			{
				DateADT		d = PG_GETARG_DATEADT(arg);

				if (att->atttypid != DATEOID || DATE_NOT_FINITE(d) || d < SINGLE_AD1_DATE)
					return false;
				*value = DateADTGetDatum(d);
				*isnull = false;
				return true;
			}
		case GNP_SNILS:
			in = cdp_snils_in;
			out = cdp_snils_out;
			break;
		case GNP_OMS:
			in = cdp_oms_in;
			out = cdp_oms_out;
			break;
		default:
			{
				Datum		t;

				if (att->atttypid != TEXTOID || att->atttypmod != -1)
					return false;
				t = PointerGetDatum(PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(arg)));
				if (VARSIZE_ANY_EXHDR(DatumGetPointer(t)) == 0)
					return true;
				*value = t;
				*isnull = false;
				return true;
			}
	}
	/* an identifier: into a column whose input is the type's own */
	if (col->input.fn_addr != in)
		return false;
	{
		char	   *s = DatumGetCString(DirectFunctionCall1(out, PG_GETARG_DATUM(arg)));
		Datum		v = PG_GETARG_DATUM(arg);
		Datum		back;

		if (arg == GNP_OMS && GoldenOmsIsPlaceholder(s))
			return true;
		back = DirectFunctionCall1(in, CStringGetDatum(s));
		if (!datum_image_eq(back, v, att->attbyval, att->attlen))
			return false;
		*value = back;
		*isnull = false;
		return true;
	}
}

/*
 * SingleUtcText
 *		GoldenUtcText(ts) (src/golden_fold.c), written without psprintf for
 *		the times from 1 AD on (the format was about a tenth of this file's
 *		cost): YYYY-MM-DD"T"HH24:MI:SS.US"Z" in UTC, the year at least four
 *		digits as %04d writes it.  Other times: GoldenUtcText itself.
 */
static char *
SingleUtcText(TimestampTz ts)
{
	struct pg_tm tm;
	fsec_t		fsec;
	char		buf[64];
	char	   *p;
	int			fields[6];
	static const int widths[6] = {2, 2, 2, 2, 2, 6};
	static const char seps[6] = {'-', 'T', ':', ':', '.', 'Z'};
	char		year[16];
	int			ylen = 0;

	if (TIMESTAMP_NOT_FINITE(ts) || ts < SINGLE_AD1_TS)
		return GoldenUtcText(ts);
	if (timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
		return GoldenUtcText(ts);	/* raises as it does */
	Assert(tm.tm_year >= 1);
	for (int y = tm.tm_year; y > 0; y /= 10)
		year[ylen++] = '0' + y % 10;
	while (ylen < 4)
		year[ylen++] = '0';
	p = buf;
	while (ylen > 0)
		*p++ = year[--ylen];
	*p++ = '-';
	fields[0] = tm.tm_mon;
	fields[1] = tm.tm_mday;
	fields[2] = tm.tm_hour;
	fields[3] = tm.tm_min;
	fields[4] = tm.tm_sec;
	fields[5] = (int) fsec;
	for (int f = 0; f < 6; f++)
	{
		int			v = fields[f];

		for (int d = widths[f] - 1; d >= 0; d--)
		{
			p[d] = '0' + v % 10;
			v /= 10;
		}
		p += widths[f];
		*p++ = seps[f];
	}
	*p = '\0';
	return pstrdup(buf);
}

/*
 * SingleCmpBytes
 *		qsort comparator of contacts, bytewise, as the fold groups them: finds
 *		the duplicates.
 */
static int
SingleCmpBytes(const void *pa, const void *pb)
{
	return GoldenCmpContactBytes((const GoldenContactText *) pa, (const GoldenContactText *) pb);
}

/*
 * SingleCmpOutput
 *		qsort comparator of the output order, the fold's for contacts seen at
 *		the same time.
 */
static int
SingleCmpOutput(const void *pa, const void *pb)
{
	return GoldenCmpContactOutput((const GoldenContactText *) pa, (const GoldenContactText *) pb);
}

/*
 * SingleIdentifiers
 *		The canonical text of each non-null element of a one-dimensional
 *		identifier array argument, as contacts; *n gets their number.  The
 *		canonical text is out(in(out(v))) (GoldenIdentifierArrayTexts); where
 *		in(out(v)) is v byte for byte it is out(v), one call fewer an element
 *		(session 35; the same calls in the same order up to that point, so
 *		the same errors).  slot: 0 phones, 1 e-mails (the element type's
 *		storage, cached in sr).
 */
static GoldenContactText *
SingleIdentifiers(FunctionCallInfo fcinfo, SingleRules *sr, int slot, int arg, const char *key,
				  PGFunction in, PGFunction out, int *n)
{
	ArrayType  *a;
	Datum	   *elems;
	bool	   *enulls;
	int			nelems;
	GoldenContactText *c;

	*n = 0;
	if (PG_ARGISNULL(arg))
		return NULL;
	a = PG_GETARG_ARRAYTYPE_P(arg);
	if (ARR_NDIM(a) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s of a source record must be a one-dimensional array", key),
				 errdetail("The array given has %d dimensions.", ARR_NDIM(a))));
	if (sr->elem[slot].type != ARR_ELEMTYPE(a))
	{
		get_typlenbyvalalign(ARR_ELEMTYPE(a), &sr->elem[slot].typlen, &sr->elem[slot].typbyval,
							 &sr->elem[slot].typalign);
		sr->elem[slot].type = ARR_ELEMTYPE(a);
	}
	deconstruct_array(a, ARR_ELEMTYPE(a), sr->elem[slot].typlen, sr->elem[slot].typbyval,
					  sr->elem[slot].typalign, &elems, &enulls, &nelems);
	c = palloc(sizeof(GoldenContactText) * Max(nelems, 1));
	for (int i = 0; i < nelems; i++)
	{
		char	   *s;
		Datum		back;

		if (enulls[i])
			continue;
		s = DatumGetCString(DirectFunctionCall1(out, elems[i]));
		back = DirectFunctionCall1(in, CStringGetDatum(s));
		if (!datum_image_eq(back, elems[i], sr->elem[slot].typbyval, sr->elem[slot].typlen))
			s = DatumGetCString(DirectFunctionCall1(out, back));
		if (*s == '\0')
			continue;
		c[*n].net = NULL;
		c[*n].netlen = 0;
		c[*n].v = s;
		c[*n].vlen = strlen(s);
		(*n)++;
	}
	return c;
}

/*
 * SingleHandles
 *		The non-empty values of a handles object argument with their
 *		networks (the ->> text of each value); none when it is not an object.
 */
static GoldenContactText *
SingleHandles(FunctionCallInfo fcinfo, int *n)
{
	Jsonb	   *j;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	GoldenContactText *c;
	char	   *net = NULL;
	int			netlen = 0;

	*n = 0;
	if (PG_ARGISNULL(GNP_HANDLES))
		return NULL;
	j = PG_GETARG_JSONB_P(GNP_HANDLES);
	if (!JB_ROOT_IS_OBJECT(j))
		return NULL;
	c = palloc(sizeof(GoldenContactText) * Max(JB_ROOT_COUNT(j), 1));
	it = JsonbIteratorInit(&j->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		int			len = 0;
		char	   *s;

		if (tok == WJB_KEY)
		{
			net = v.val.string.val;
			netlen = v.val.string.len;
			continue;
		}
		if (tok != WJB_VALUE)
			continue;
		s = CdpJsonbScalarText(&v, &len);
		if (s == NULL || len == 0)
			continue;
		c[*n].net = net;
		c[*n].netlen = netlen;
		c[*n].v = s;
		c[*n].vlen = len;
		(*n)++;
	}
	return c;
}

/*
 * SingleContacts
 *		The jsonb array of one kind of contact: distinct values in output
 *		order, each with its one source record, first and last seen and the
 *		record's validated flag (also its confirmed flag: one record).
 */
static Datum
SingleContacts(GoldenContactText *c, int n, int64 record_id, const char *first_seen,
			   const char *last_seen, bool validated, FunctionCallInfo fcinfo, SingleRules *sr)
{
	JsonbParseState *st = NULL;
	int			i;
	int			m = 0;

	if (n == 0)
	{
		/* none (most handles): one [] for every call, read only */
		if (sr->empty_list == (Datum) 0)
		{
			MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

			pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
			sr->empty_list = JsonbPGetDatum(JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_ARRAY, NULL)));
			MemoryContextSwitchTo(old);
		}
		return sr->empty_list;
	}
	if (n > 1)
	{
		/* drop the duplicates, then order as the fold's output */
		qsort(c, n, sizeof(GoldenContactText), SingleCmpBytes);
		for (i = 0; i < n; i++)
			if (m == 0 || SingleCmpBytes(&c[m - 1], &c[i]) != 0)
				c[m++] = c[i];
		qsort(c, m, sizeof(GoldenContactText), SingleCmpOutput);
	}
	else
		m = n;
	pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
	for (i = 0; i < m; i++)
	{
		pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
		CdpJsonbPushKey(&st, "value");
		GoldenPushString(&st, WJB_VALUE, c[i].v, c[i].vlen);
		if (c[i].net)
		{
			CdpJsonbPushKey(&st, "network");
			GoldenPushString(&st, WJB_VALUE, c[i].net, c[i].netlen);
		}
		CdpJsonbPushKey(&st, "sources");
		pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
		GoldenPushInt64(&st, WJB_ELEM, record_id);
		pushJsonbValue(&st, WJB_END_ARRAY, NULL);
		if (first_seen)
		{
			CdpJsonbPushKey(&st, "first_seen");
			GoldenPushString(&st, WJB_VALUE, first_seen, strlen(first_seen));
		}
		if (last_seen)
		{
			CdpJsonbPushKey(&st, "last_seen");
			GoldenPushString(&st, WJB_VALUE, last_seen, strlen(last_seen));
		}
		CdpJsonbPushKey(&st, "confirmed");
		GoldenPushBool(&st, WJB_VALUE, validated);
		CdpJsonbPushKey(&st, "validated");
		GoldenPushBool(&st, WJB_VALUE, validated);
		pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	}
	return JsonbPGetDatum(JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_ARRAY, NULL)));
}

/*
 * GoldenNewPersonValues
 *		The columns of the profile of a person whose only record has the
 *		arguments of fcinfo (those of golden_new_person_row, below) as
 *		values and nulls of the row type desc (cdp.patient's; NULL: the
 *		call's result type), allocated in the current memory context.  The
 *		column sources are cached in fcinfo->flinfo->fn_extra; ingest's bulk
 *		writer (src/ingest_write.c) calls it with a FmgrInfo of its own.
 */
void
GoldenNewPersonValues(FunctionCallInfo fcinfo, TupleDesc desc, Datum *values, bool *nulls)
{
	GoldenRowType *cache = SingleGetCache(fcinfo, desc);
	SingleRules *sr;
	static const int required[] = {GNP_GOLDEN_ID, GNP_RULES, GNP_RULES_VERSION, GNP_RECORD_ID,
	GNP_CREATED_AT, GNP_UPDATED_AT};
	static const char *const required_names[] = {"golden_id", "rules", "rules_version",
	"record_id", "created_at", "updated_at"};
	bool		validated = false;
	TimestampTz created;
	TimestampTz updated;
	char	   *first_seen;
	char	   *last_seen;
	GoldenContactText *c;
	int			n;
	int			i;

	if (PG_NARGS() != GNP_COUNT)
		elog(ERROR, "golden_new_person_row takes %d arguments, not %d", GNP_COUNT, PG_NARGS());
	for (i = 0; i < lengthof(required); i++)
		if (PG_ARGISNULL(required[i]))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument \"%s\" of golden_new_person_row must not be null",
							required_names[i])));
	SingleCheckRules(fcinfo, cache, PG_GETARG_JSONB_P(GNP_RULES));
	sr = (SingleRules *) cache->extra;

	if (!PG_ARGISNULL(GNP_EXTRA))
	{
		Jsonb	   *extra = PG_GETARG_JSONB_P(GNP_EXTRA);

		if (JB_ROOT_IS_OBJECT(extra))
			validated = GoldenDocValidated(GoldenFieldCString(&extra->root, "validated"));
	}
	created = PG_GETARG_TIMESTAMPTZ(GNP_CREATED_AT);
	updated = PG_GETARG_TIMESTAMPTZ(GNP_UPDATED_AT);
	first_seen = SingleUtcText(created);
	last_seen = updated == created ? first_seen : SingleUtcText(updated);

	for (i = 0; i < cache->ncols; i++)
	{
		GoldenColumn *col = &cache->cols[i];
		Form_pg_attribute att = TupleDescAttr(cache->desc, i);
		char	   *s = NULL;
		bool		through_input = false;

		values[i] = (Datum) 0;
		nulls[i] = true;
		switch (col->src)
		{
			case SS_NONE:
				break;
			case SS_GOLDEN_ID:
				values[i] = PG_GETARG_DATUM(GNP_GOLDEN_ID);
				nulls[i] = false;
				break;
			case SS_RULES_VERSION:
				values[i] = PG_GETARG_DATUM(GNP_RULES_VERSION);
				nulls[i] = false;
				break;
			case SS_STATUS:
				if (att->atttypid == TEXTOID && att->atttypmod == -1)
				{
					values[i] = CStringGetTextDatum("active");
					nulls[i] = false;
					break;
				}
				s = "active";
				through_input = true;
				break;
			case SS_ATTR:
				if (!sr->in_rules[col->attr])
				{
					through_input = true;	/* NULL */
					break;
				}
				if (SingleAttrTyped(fcinfo, col->attr, col, att, &values[i], &nulls[i]))
					break;
				s = SingleAttrText(fcinfo, col->attr);
				if (s != NULL && *s == '\0')
					s = NULL;
				through_input = true;
				break;
			case SS_VALIDATED:
				if (att->atttypid == BOOLOID)
				{
					values[i] = BoolGetDatum(validated);
					nulls[i] = false;
					break;
				}
				s = validated ? "true" : "false";
				through_input = true;
				break;
			case SS_RECORD_COUNT:
				if (att->atttypid == INT4OID)
				{
					values[i] = Int32GetDatum(1);
					nulls[i] = false;
					break;
				}
				s = "1";
				through_input = true;
				break;
			case SS_REGISTERED_ON:
				{
					Datum		d = DirectFunctionCall1(timestamp_date, TimestampGetDatum(created));

					/* the date itself where its text parses back to it (see SingleAttrTyped) */
					if (att->atttypid == DATEOID && !DATE_NOT_FINITE(DatumGetDateADT(d)) &&
						DatumGetDateADT(d) >= SINGLE_AD1_DATE)
					{
						values[i] = d;
						nulls[i] = false;
						break;
					}
					s = JsonEncodeDateTime(NULL, d, DATEOID, NULL);
					through_input = true;
					break;
				}
			case SS_UPDATED_AT:
				/* the time itself where its UTC text parses back to it (from 1 AD on, microseconds) */
				if (att->atttypid == TIMESTAMPTZOID && att->atttypmod == -1 &&
					!TIMESTAMP_NOT_FINITE(updated) && updated >= SINGLE_AD1_TS)
				{
					values[i] = TimestampTzGetDatum(updated);
					nulls[i] = false;
					break;
				}
				s = last_seen;
				through_input = true;
				break;
			case SS_PHONES:
				c = SingleIdentifiers(fcinfo, sr, 0, GNP_PHONES, "phones", cdp_phone_in, cdp_phone_out, &n);
				values[i] = SingleContacts(c, n, PG_GETARG_INT64(GNP_RECORD_ID), first_seen, last_seen, validated, fcinfo, sr);
				nulls[i] = false;
				break;
			case SS_EMAILS:
				c = SingleIdentifiers(fcinfo, sr, 1, GNP_EMAILS, "emails", cdp_email_in, cdp_email_out, &n);
				values[i] = SingleContacts(c, n, PG_GETARG_INT64(GNP_RECORD_ID), first_seen, last_seen, validated, fcinfo, sr);
				nulls[i] = false;
				break;
			case SS_HANDLES:
				c = SingleHandles(fcinfo, &n);
				values[i] = SingleContacts(c, n, PG_GETARG_INT64(GNP_RECORD_ID), first_seen, last_seen, validated, fcinfo, sr);
				nulls[i] = false;
				break;
		}
		if (through_input && s != NULL)
		{
			values[i] = InputFunctionCall(&col->input, s, col->ioparam, col->typmod);
			nulls[i] = false;
		}
	}
}

PG_FUNCTION_INFO_V1(cdp_golden_new_person_row);

/*
 * cdp_golden_new_person_row
 *		cdp_internal.golden_new_person_row(golden_id bigint, rules jsonb,
 *		rules_version int, record_id bigint, family_name text, given_name
 *		text, patronymic text, birth_date date, sex text, phones cdp.phone[],
 *		emails cdp.email[], snils cdp.snils, oms cdp.oms, address text, city
 *		text, handles jsonb, extra jsonb, created_at timestamptz, updated_at
 *		timestamptz) RETURNS cdp.patient: the profile of a person whose only
 *		record has these columns (see the file's header).  golden_id, rules,
 *		rules_version, record_id and the timestamps must not be NULL.
 */
Datum
cdp_golden_new_person_row(PG_FUNCTION_ARGS)
{
	GoldenRowType *cache = SingleGetCache(fcinfo, NULL);
	MemoryContext work;
	MemoryContext old;
	Datum	   *values;
	bool	   *nulls;
	HeapTuple	tup;

	values = palloc(sizeof(Datum) * Max(cache->ncols, 1));
	nulls = palloc(sizeof(bool) * Max(cache->ncols, 1));
	work = AllocSetContextCreate(CurrentMemoryContext, "cdp golden_new_person_row",
								 ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(work);
	GoldenNewPersonValues(fcinfo, NULL, values, nulls);
	MemoryContextSwitchTo(old);
	tup = heap_form_tuple(cache->desc, values, nulls);	/* copies the values out of work */
	MemoryContextDelete(work);
	PG_RETURN_DATUM(HeapTupleGetDatum(tup));
}
