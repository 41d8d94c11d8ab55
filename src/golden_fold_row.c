/*-------------------------------------------------------------------------
 *
 * src/golden_fold_row.c
 *		cdp_internal.golden_fold_row(golden_id, recs, rules, rules_version,
 *		status, status_at, last_visit): the cdp.patient row of one person
 *		folded from the columns of its records, without the jsonb documents
 *		the general path builds and reads back.
 *
 * The live re-fold (golden_compute, sql/parts/71_golden_fold.sql) made each
 * person's row as
 *		golden_row(golden_id, golden_fold_docs(array_agg(golden_record_doc_of(
 *				   <record columns>)), rules), status, status_at, last_visit,
 *				   rules_version)
 * (src/golden_doc.c, golden_fold.c, golden_row.c): a jsonb document per
 * record, parsed again by the fold (timestamps and trust through their text
 * input), the fold's result as jsonb, parsed again into the row, and the
 * rules checked and parsed again for every person.  At the first-day merge
 * of 1M records that was most of the 14 s re-fold (issue 16).  Here the
 * records come as cdp_internal.golden_fold_input values (the arguments of
 * golden_record_doc_of, in order), the rules are checked and parsed once per
 * rules document (kept beside the row type in fn_extra: once per statement),
 * and the fold reads the columns:
 *
 * - records in record id order (nulls last), as golden_fold_docs sorts them;
 *	 trust is the source's (0 without one, as the document writes it),
 *	 validated is extra.validated (GoldenDocValidated), created_at and
 *	 updated_at are the values themselves (the document's text of them reads
 *	 back to the same value);
 * - each of the row's nine single-valued attributes that is a key of the
 *	 rules: candidates are the records with a non-empty text (text columns
 *	 as they are, the birth date as to_jsonb writes it, an identifier's
 *	 canonical text, a placeholder OMS none); the winner is the first under
 *	 golden_fold's ranking (the attribute's rules in order, higher score
 *	 first, then the smaller record id, then input order); its text goes into
 *	 the column through the column type's input function, as golden_row
 *	 puts it.  Keys of the rules that are not columns of the row are folded
 *	 by golden_fold into attributes golden_row never reads: not here;
 * - phones, e-mails (canonical text of each element) and handles (each
 *	 non-empty value of the object, with its network): each distinct value
 *	 with its source records, first and last seen, confirmed and validated,
 *	 in golden_fold's output order, built into the same jsonb arrays;
 * - record_count, registered_on (the UTC date of the first created_at),
 *	 validated (any record's), updated_at (the last, in UTC), through the
 *	 columns' input functions as golden_row reads them from the fold; status
 *	 (default 'active'), status_at, last_visit, rules_version as given.
 *
 * test/pgtap/71_golden_fold_row.sql compares it with the general path on
 * persons built to exercise every rule, ties, NULLs and the contacts.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type_d.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "cdp.h"
#include "cdp_jsonb.h"
#include "golden.h"

/*
 * Most records one fold accepts: golden_fold's bound (FOLD_MAX_RECORDS in
 * src/golden_fold.c).
 */
#define FOLD_ROW_MAX_RECORDS	100000

/* the fields of cdp_internal.golden_fold_input, in order */
typedef enum FoldInputField
{
	FI_RECORD_ID, FI_SOURCE_ID, FI_TRUST, FI_FAMILY_NAME, FI_GIVEN_NAME, FI_PATRONYMIC,
	FI_BIRTH_DATE, FI_SEX, FI_PHONES, FI_EMAILS, FI_SNILS, FI_OMS, FI_ADDRESS, FI_CITY,
	FI_HANDLES, FI_EXTRA, FI_CREATED_AT, FI_UPDATED_AT, FI_COUNT
} FoldInputField;

/* the types of those fields; InvalidOid: one of cdp's, checked by its kind */
static const Oid FoldInputTypes[FI_COUNT] = {
	INT8OID, INT4OID, INT4OID, TEXTOID, TEXTOID, TEXTOID, DATEOID, TEXTOID,
	InvalidOid, InvalidOid, InvalidOid, InvalidOid, TEXTOID, TEXTOID, JSONBOID, JSONBOID,
	TIMESTAMPTZOID, TIMESTAMPTZOID
};

/* the single-valued attributes of the row, with the field each comes from */
static const struct
{
	const char *name;
	int			field;
}			FoldRowAttrs[] = {
	{"family_name", FI_FAMILY_NAME}, {"given_name", FI_GIVEN_NAME}, {"patronymic", FI_PATRONYMIC},
	{"sex", FI_SEX}, {"birth_date", FI_BIRTH_DATE}, {"snils", FI_SNILS}, {"oms", FI_OMS},
	{"address", FI_ADDRESS}, {"city", FI_CITY}
};

#define FOLD_ROW_NATTRS	lengthof(FoldRowAttrs)

/* contact kinds, in output order */
#define KIND_PHONES		0
#define KIND_EMAILS		1
#define KIND_HANDLES	2

static const char *const FoldRowKindNames[] = {"phones", "emails", "handles"};

/* where a column of cdp.patient takes its value from */
typedef enum FoldRowSource
{
	FR_NONE,					/* NULL: dropped or unknown */
	FR_GOLDEN_ID,
	FR_STATUS,					/* argument, default 'active' */
	FR_STATUS_AT,
	FR_LAST_VISIT,
	FR_RULES_VERSION,
	FR_ATTR,					/* one of FoldRowAttrs, through the input */
	FR_VALIDATED,				/* text, through the input */
	FR_RECORD_COUNT,
	FR_REGISTERED_ON,
	FR_UPDATED_AT,
	FR_PHONES,					/* jsonb */
	FR_EMAILS,
	FR_HANDLES
} FoldRowSource;

/* the arguments, in order */
enum
{
	FA_GOLDEN_ID, FA_RECS, FA_RULES, FA_RULES_VERSION, FA_STATUS, FA_STATUS_AT,
	FA_LAST_VISIT, FA_COUNT
};

/* the state kept beside the row type: the last rules parsed, the input row type checked */
typedef struct FoldRowState
{
	Jsonb	   *rules;			/* a copy of the last rules parsed */
	bool		in_rules[FOLD_ROW_NATTRS];	/* attribute is a key of them */
	int			nrules[FOLD_ROW_NATTRS];
	GoldenRule *rules_of[FOLD_ROW_NATTRS];	/* its rule list */
	Oid			input_type;		/* element type of recs, checked */
	TupleDesc	input_desc;
	int16		input_typlen;
	bool		input_byval;
	char		input_align;
} FoldRowState;

/* one record, its columns read once */
typedef struct FoldRowRec
{
	Datum		values[FI_COUNT];
	bool		nulls[FI_COUNT];
	bool		rid_null;
	int64		rid;
	bool		sid_null;
	int32		sid;
	int32		trust;
	int			validated;		/* 1 or 0 */
	bool		created_null;
	TimestampTz created;
	bool		updated_null;
	TimestampTz updated;
} FoldRowRec;

/* one candidate value of a single-valued attribute */
typedef struct FoldRowCand
{
	int			rec;
	int			order;			/* position among the candidates as read */
	char	   *v;
	int			vlen;
	int64		freq;
	int64		chars;
} FoldRowCand;

/*
 * FoldRowClassify
 *		Sets where the column named name takes its value from.
 */
static void
FoldRowClassify(GoldenColumn *c, const char *name)
{
	static const struct
	{
		const char *name;
		FoldRowSource src;
	}			fixed[] = {
		{"golden_id", FR_GOLDEN_ID}, {"status", FR_STATUS}, {"status_at", FR_STATUS_AT},
		{"last_visit", FR_LAST_VISIT}, {"rules_version", FR_RULES_VERSION},
		{"validated", FR_VALIDATED}, {"record_count", FR_RECORD_COUNT},
		{"registered_on", FR_REGISTERED_ON}, {"updated_at", FR_UPDATED_AT},
		{"phones", FR_PHONES}, {"emails", FR_EMAILS}, {"handles", FR_HANDLES}
	};
	int			i;

	c->src = FR_NONE;
	for (i = 0; i < lengthof(fixed); i++)
		if (strcmp(name, fixed[i].name) == 0)
			c->src = fixed[i].src;
	for (i = 0; c->src == FR_NONE && i < FOLD_ROW_NATTRS; i++)
		if (strcmp(name, FoldRowAttrs[i].name) == 0)
		{
			c->src = FR_ATTR;
			c->attr = i;
		}
}

/*
 * FoldRowRules
 *		Checks and parses the rules as golden_fold does (the object, then each
 *		attribute's rule list, lenient) and keeps the lists of the row's
 *		attributes; skipped when the rules are the ones parsed last.
 */
static void
FoldRowRules(FunctionCallInfo fcinfo, FoldRowState *st, Jsonb *rules)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	MemoryContext old;

	if (st->rules != NULL && VARSIZE(st->rules) == VARSIZE(rules) &&
		memcmp(st->rules, rules, VARSIZE(rules)) == 0)
		return;
	if (st->rules != NULL)
	{
		pfree(st->rules);
		st->rules = NULL;
	}
	for (int i = 0; i < FOLD_ROW_NATTRS; i++)
	{
		if (st->rules_of[i] != NULL)
			pfree(st->rules_of[i]);
		st->rules_of[i] = NULL;
		st->in_rules[i] = false;
		st->nrules[i] = 0;
	}
	GoldenCheckRulesObject(rules);
	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	it = JsonbIteratorInit(&rules->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *attr;
		int			attrlen;
		int			nrl;
		GoldenRule *rl;

		if (tok != WJB_KEY)
			continue;
		attr = pnstrdup(v.val.string.val, v.val.string.len);
		attrlen = v.val.string.len;
		tok = JsonbIteratorNext(&it, &v, true);
		Assert(tok == WJB_VALUE);
		rl = GoldenParseRuleList(attr, attrlen, &v, false, &nrl);
		for (int i = 0; i < FOLD_ROW_NATTRS; i++)
			if (strcmp(attr, FoldRowAttrs[i].name) == 0)
			{
				st->in_rules[i] = true;
				st->nrules[i] = nrl;
				st->rules_of[i] = rl;
				rl = NULL;
			}
		if (rl != NULL)
			pfree(rl);
		pfree(attr);
	}
	st->rules = palloc(VARSIZE(rules));
	memcpy(st->rules, rules, VARSIZE(rules));
	MemoryContextSwitchTo(old);
}

/*
 * FoldRowInputType
 *		Checks (once per element type) that the records are
 *		cdp_internal.golden_fold_input values: the fields, their number and
 *		types, in order.
 */
static void
FoldRowInputType(FunctionCallInfo fcinfo, FoldRowState *st, Oid elemtype)
{
	TupleDesc	desc;
	MemoryContext old;

	if (st->input_type == elemtype && st->input_desc != NULL)
		return;
	desc = lookup_rowtype_tupdesc_noerror(elemtype, -1, true);
	if (desc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("records of golden_fold_row must be cdp_internal.golden_fold_input values")));
	for (int i = 0; i < FI_COUNT || i < desc->natts; i++)
	{
		Form_pg_attribute att = i < desc->natts ? TupleDescAttr(desc, i) : NULL;
		bool		ok;

		/* cdp's identifiers: phones and e-mails arrays, SNILS and OMS not */
		if (att == NULL || i >= FI_COUNT || att->attisdropped)
			ok = false;
		else if (FoldInputTypes[i] != InvalidOid)
			ok = att->atttypid == FoldInputTypes[i];
		else
			ok = (get_element_type(att->atttypid) != InvalidOid) == (i == FI_PHONES || i == FI_EMAILS);
		if (!ok)
		{
			ReleaseTupleDesc(desc);
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("records of golden_fold_row must be cdp_internal.golden_fold_input values"),
					 errdetail("Field %d is missing, dropped, extra or of another type.", i + 1)));
		}
	}
	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	if (st->input_desc != NULL)
		FreeTupleDesc(st->input_desc);
	st->input_desc = CreateTupleDescCopy(desc);
	MemoryContextSwitchTo(old);
	ReleaseTupleDesc(desc);
	st->input_type = elemtype;
	get_typlenbyvalalign(elemtype, &st->input_typlen, &st->input_byval, &st->input_align);
}

/*
 * FoldRowFields
 *		Reads what the ranking and the contacts compare from one record's
 *		fields (r->values, r->nulls, in golden_fold_input order).
 */
static void
FoldRowFields(FoldRowRec *r)
{
	char	   *s = NULL;

	r->rid_null = r->nulls[FI_RECORD_ID];
	r->rid = r->rid_null ? 0 : DatumGetInt64(r->values[FI_RECORD_ID]);
	r->sid_null = r->nulls[FI_SOURCE_ID];
	r->sid = r->sid_null ? 0 : DatumGetInt32(r->values[FI_SOURCE_ID]);
	/* the document writes the trust of a record without a source as 0 */
	r->trust = r->nulls[FI_TRUST] ? 0 : DatumGetInt32(r->values[FI_TRUST]);
	if (!r->nulls[FI_EXTRA])
	{
		Jsonb	   *extra = DatumGetJsonbP(r->values[FI_EXTRA]);

		if (JB_ROOT_IS_OBJECT(extra))
			s = GoldenFieldCString(&extra->root, "validated");
	}
	r->validated = GoldenDocValidated(s) ? 1 : 0;
	r->created_null = r->nulls[FI_CREATED_AT];
	r->created = r->created_null ? 0 : DatumGetTimestampTz(r->values[FI_CREATED_AT]);
	r->updated_null = r->nulls[FI_UPDATED_AT];
	r->updated = r->updated_null ? 0 : DatumGetTimestampTz(r->values[FI_UPDATED_AT]);
}

/*
 * FoldRowDeform
 *		Deforms one golden_fold_input value into its fields.
 */
static void
FoldRowDeform(FoldRowState *st, Datum d, Datum *values, bool *nulls)
{
	HeapTupleHeader td = DatumGetHeapTupleHeader(d);
	HeapTupleData tup;

	tup.t_len = HeapTupleHeaderGetDatumLength(td);
	ItemPointerSetInvalid(&tup.t_self);
	tup.t_tableOid = InvalidOid;
	tup.t_data = td;
	heap_deform_tuple(&tup, st->input_desc, values, nulls);
}

/*
 * FoldRowCmpRid
 *		qsort comparator of records by record id, nulls last.
 */
static int
FoldRowCmpRid(const void *pa, const void *pb)
{
	const FoldRowRec *a = pa;
	const FoldRowRec *b = pb;

	if (a->rid_null != b->rid_null)
		return a->rid_null ? 1 : -1;
	if (a->rid_null)
		return 0;
	return (a->rid > b->rid) - (a->rid < b->rid);
}

/*
 * FoldRowAttrText
 *		The text the record document gives attribute i of record r (NULL when
 *		none): as SingleAttrText (src/golden_single.c) for an argument.
 */
static char *
FoldRowAttrText(FoldRowRec *r, int i, int *len)
{
	int			f = FoldRowAttrs[i].field;
	char	   *s;
	text	   *t;

	if (r->nulls[f])
		return NULL;
	switch (f)
	{
		case FI_BIRTH_DATE:
			s = JsonEncodeDateTime(NULL, r->values[f], DATEOID, NULL);
			break;
		case FI_SNILS:
			s = DatumGetCString(DirectFunctionCall1(cdp_snils_out, r->values[f]));
			s = GoldenCanonicalText(cdp_snils_in, cdp_snils_out, s);
			break;
		case FI_OMS:
			s = DatumGetCString(DirectFunctionCall1(cdp_oms_out, r->values[f]));
			if (GoldenOmsIsPlaceholder(s))
				return NULL;
			s = GoldenCanonicalText(cdp_oms_in, cdp_oms_out, s);
			break;
		default:
			t = DatumGetTextPP(r->values[f]);
			*len = VARSIZE_ANY_EXHDR(t);
			return VARDATA_ANY(t);
	}
	*len = strlen(s);
	return s;
}

/*
 * FoldRowRecent
 *		golden_fold's "recent" score: updated_at, or one second before
 *		1970-01-01 UTC when missing.
 */
static inline int64
FoldRowRecent(const FoldRowRec *r)
{
	if (r->updated_null)
		return -USECS_PER_SEC -
			(int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * USECS_PER_SEC;
	return r->updated;
}

#define FOLD_ROW_CMP(a, b)	(((a) > (b)) - ((a) < (b)))

/*
 * FoldRowCmpRank
 *		golden_fold's ranking of two candidates: <0 when a ranks first.  The
 *		rules in order (higher score first), then the smaller record id
 *		(nulls last), then input order.
 */
static int
FoldRowCmpRank(const FoldRowRec *recs, const GoldenRule *rules, int nrules,
			   const FoldRowCand *a, const FoldRowCand *b)
{
	const FoldRowRec *ra = &recs[a->rec];
	const FoldRowRec *rb = &recs[b->rec];
	int			c = 0;

	for (int i = 0; i < nrules; i++)
	{
		switch (rules[i])
		{
			case RULE_VALIDATED:
				c = FOLD_ROW_CMP(ra->validated, rb->validated);
				break;
			case RULE_TRUSTED:
				c = FOLD_ROW_CMP(ra->trust, rb->trust);
				break;
			case RULE_RECENT:
				c = FOLD_ROW_CMP(FoldRowRecent(ra), FoldRowRecent(rb));
				break;
			case RULE_FREQUENT:
				c = FOLD_ROW_CMP(a->freq, b->freq);
				break;
			case RULE_COMPLETE:
				c = FOLD_ROW_CMP(a->chars, b->chars);
				break;
		}
		if (c != 0)
			return -c;
	}
	if (ra->rid_null != rb->rid_null)
		return ra->rid_null ? 1 : -1;
	if (!ra->rid_null && (c = FOLD_ROW_CMP(ra->rid, rb->rid)) != 0)
		return c;
	return a->order - b->order;
}

/*
 * FoldRowCmpCandValue
 *		qsort comparator grouping candidates by value, input order within.
 */
static int
FoldRowCmpCandValue(const void *pa, const void *pb)
{
	const FoldRowCand *a = pa;
	const FoldRowCand *b = pb;
	int			c = GoldenCmpBytes(a->v, a->vlen, b->v, b->vlen);

	return c != 0 ? c : a->order - b->order;
}

/*
 * FoldRowWinner
 *		The winning text of attribute i over the records (NULL when no
 *		record has a non-empty one): golden_fold's FoldAttribute without the
 *		lineage.  The first candidate of the ranking is its minimum, found
 *		in one pass.
 */
static char *
FoldRowWinner(FoldRowState *st, int i, FoldRowRec *recs, int nrec, FoldRowCand *cand)
{
	int			n = 0;
	int			j;
	int			w;

	for (int k = 0; k < nrec; k++)
	{
		int			len = 0;
		char	   *v = FoldRowAttrText(&recs[k], i, &len);

		if (v == NULL || len == 0)
			continue;
		cand[n].rec = k;
		cand[n].order = n;
		cand[n].v = v;
		cand[n].vlen = len;
		cand[n].chars = pg_mbstrlen_with_len(v, len);
		n++;
	}
	if (n == 0)
		return NULL;
	if (n > 1)
	{
		qsort(cand, n, sizeof(FoldRowCand), FoldRowCmpCandValue);
		for (int k = 0; k < n; k = j)
		{
			for (j = k + 1; j < n && GoldenCmpBytes(cand[k].v, cand[k].vlen, cand[j].v, cand[j].vlen) == 0; j++)
				;
			for (int m = k; m < j; m++)
				cand[m].freq = j - k;
		}
	}
	else
		cand[0].freq = 1;
	w = 0;
	for (int k = 1; k < n; k++)
		if (FoldRowCmpRank(recs, st->rules_of[i], st->nrules[i], &cand[k], &cand[w]) < 0)
			w = k;
	return pnstrdup(cand[w].v, cand[w].vlen);
}

/*
 * FoldRowCollectContacts
 *		Every non-empty phone and e-mail (canonical text) and handle of every
 *		record, as golden_fold reads them from the documents.
 */
static GoldenContact *
FoldRowCollectContacts(FoldRowRec *recs, int nrec, int *ncontacts)
{
	int			cap = 16;
	int			n = 0;
	GoldenContact *arr = palloc(sizeof(GoldenContact) * cap);

	for (int i = 0; i < nrec; i++)
	{
		FoldRowRec *r = &recs[i];

		for (int kind = KIND_PHONES; kind <= KIND_EMAILS; kind++)
		{
			int			f = kind == KIND_PHONES ? FI_PHONES : FI_EMAILS;
			int			nelems;
			char	  **texts;

			if (r->nulls[f])
				continue;
			texts = GoldenIdentifierArrayTexts(DatumGetArrayTypeP(r->values[f]), FoldRowKindNames[kind],
											   kind == KIND_PHONES ? cdp_phone_in : cdp_email_in,
											   kind == KIND_PHONES ? cdp_phone_out : cdp_email_out,
											   &nelems);
			for (int k = 0; k < nelems; k++)
				if (texts[k] != NULL && texts[k][0] != '\0')
					GoldenAddContact(&arr, &n, &cap, kind, NULL, 0, texts[k], strlen(texts[k]), i);
		}
		if (!r->nulls[FI_HANDLES])
		{
			Jsonb	   *j = DatumGetJsonbP(r->values[FI_HANDLES]);
			JsonbIterator *it;
			JsonbValue	v;
			JsonbIteratorToken tok;
			char	   *net = NULL;
			int			netlen = 0;

			if (!JB_ROOT_IS_OBJECT(j))
				continue;
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
				GoldenAddContact(&arr, &n, &cap, KIND_HANDLES, net, netlen, s, len, i);
			}
		}
	}
	*ncontacts = n;
	return arr;
}

/*
 * FoldRowCmpRecIndex
 *		qsort_arg comparator of record indexes by record id, nulls last.
 */
static int
FoldRowCmpRecIndex(const void *pa, const void *pb, void *arg)
{
	const FoldRowRec *recs = arg;

	return FoldRowCmpRid(&recs[*(const int *) pa], &recs[*(const int *) pb]);
}

/* FoldRowContacts's record ids: bigint or null */
static void
FoldRowPushRecId(JsonbParseState **st, int rec, void *arg)
{
	FoldRowRec *r = &((FoldRowRec *) arg)[rec];

	if (r->rid_null)
		GoldenPushNull(st, WJB_ELEM);
	else
		GoldenPushInt64(st, WJB_ELEM, r->rid);
}

/*
 * FoldRowContacts
 *		The three contact arrays of the profile (out[kind]), as golden_fold's
 *		PushContacts builds them (GoldenContactGroups, GoldenPushContactGroup).
 */
static void
FoldRowContacts(FoldRowRec *recs, int nrec, Datum *out)
{
	int			n;
	int			ng;
	GoldenContact *c = FoldRowCollectContacts(recs, nrec, &n);
	GoldenContactRec *cr = palloc(sizeof(GoldenContactRec) * Max(1, nrec));
	GoldenContactGroup *g;
	int		   *ids = palloc(sizeof(int) * Max(1, n));

	for (int i = 0; i < nrec; i++)
	{
		cr[i].created_null = recs[i].created_null;
		cr[i].created = recs[i].created;
		cr[i].updated_null = recs[i].updated_null;
		cr[i].updated = recs[i].updated;
		cr[i].validated = recs[i].validated;
		cr[i].sid_null = recs[i].sid_null;
		cr[i].sid = recs[i].sid;
	}
	g = GoldenContactGroups(c, n, cr, &ng);
	for (int kind = KIND_PHONES; kind <= KIND_HANDLES; kind++)
	{
		JsonbParseState *st = NULL;

		pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
		for (int i = 0; i < ng; i++)
			if (g[i].kind == kind)
				GoldenPushContactGroup(&st, &g[i], c, ids, FoldRowCmpRecIndex, nrec == 1,
									   FoldRowPushRecId, recs);
		out[kind] = JsonbPGetDatum(JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_ARRAY, NULL)));
	}
}

/*
 * FoldRowUtcExact
 *		Whether timestamptz_in reads GoldenUtcText's text of ts back to ts
 *		exactly: a finite time of year 1 to 9999 (the text of an infinite
 *		time is NULL, and of a BC year has no era).
 */
static bool
FoldRowUtcExact(TimestampTz ts)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (TIMESTAMP_NOT_FINITE(ts) || timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
		return false;
	return tm.tm_year >= 1 && tm.tm_year <= 9999;
}

/*
 * GoldenFoldRowType
 *		The row type (desc, or the call's result type when NULL; fname names
 *		the function in errors) of a caller of GoldenFoldRowValues, kept in
 *		its fn_extra, with the rules checked and parsed (again only when they
 *		differ from the last ones).
 */
GoldenRowType *
GoldenFoldRowType(FunctionCallInfo fcinfo, TupleDesc desc, const char *fname, Jsonb *rules)
{
	GoldenRowType *cache = GoldenGetRowType(fcinfo, desc, fname, FoldRowClassify, sizeof(FoldRowState));

	FoldRowRules(fcinfo, (FoldRowState *) cache->extra, rules);
	return cache;
}

/*
 * GoldenFoldRowValues
 *		The row (values, nulls: cache->ncols each) of one person folded from
 *		nrec records, whose fields are fields[r * GOLDEN_FOLD_NFIELDS + f]
 *		(fnulls the same), f in golden_fold_input order, in any order of
 *		records; args, argnulls: GOLDEN_FOLD_NARGS values (GoldenFoldRowArg).
 *		The values are allocated in the current memory context (they may
 *		point into fields).  cache: from GoldenFoldRowType.
 */
void
GoldenFoldRowValues(GoldenRowType *cache, int nrec, Datum *fields, bool *fnulls,
					Datum *args, bool *argnulls, Datum *values, bool *nulls)
{
	FoldRowState *st = (FoldRowState *) cache->extra;
	FoldRowRec *recs;
	FoldRowCand *cand;
	Datum		contacts[3];
	char	   *attr_text[FOLD_ROW_NATTRS];
	int			anyv = -1;
	bool		created_null = true;
	TimestampTz created_min = 0;
	bool		updated_null = true;
	TimestampTz updated_max = 0;

	StaticAssertStmt(GOLDEN_FOLD_NFIELDS == FI_COUNT, "golden_fold_input has GOLDEN_FOLD_NFIELDS fields");
	if (nrec > FOLD_ROW_MAX_RECORDS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many records for one survivorship fold: %d", nrec),
				 errdetail("The limit is %d records per person.", FOLD_ROW_MAX_RECORDS)));
	recs = palloc(mul_size(sizeof(FoldRowRec), Max(1, nrec)));
	for (int i = 0; i < nrec; i++)
	{
		memcpy(recs[i].values, &fields[i * FI_COUNT], sizeof(Datum) * FI_COUNT);
		memcpy(recs[i].nulls, &fnulls[i * FI_COUNT], sizeof(bool) * FI_COUNT);
		FoldRowFields(&recs[i]);
		anyv = Max(anyv, recs[i].validated);
		if (!recs[i].created_null && (created_null || recs[i].created < created_min))
		{
			created_min = recs[i].created;
			created_null = false;
		}
		if (!recs[i].updated_null && (updated_null || recs[i].updated > updated_max))
		{
			updated_max = recs[i].updated;
			updated_null = false;
		}
	}
	if (nrec > 1)
		qsort(recs, nrec, sizeof(FoldRowRec), FoldRowCmpRid);

	cand = palloc(mul_size(sizeof(FoldRowCand), Max(1, nrec)));
	for (int i = 0; i < FOLD_ROW_NATTRS; i++)
		attr_text[i] = st->in_rules[i] ? FoldRowWinner(st, i, recs, nrec, cand) : NULL;
	FoldRowContacts(recs, nrec, contacts);

	for (int i = 0; i < cache->ncols; i++)
	{
		GoldenColumn *col = &cache->cols[i];
		Oid			typid = TupleDescAttr(cache->desc, i)->atttypid;
		char	   *s = NULL;
		int			arg = -1;

		values[i] = (Datum) 0;
		nulls[i] = true;
		switch (col->src)
		{
			case FR_NONE:
				break;
			case FR_GOLDEN_ID:
				arg = GFR_GOLDEN_ID;
				break;
			case FR_STATUS:
				if (argnulls[GFR_STATUS])
				{
					values[i] = CStringGetTextDatum("active");
					nulls[i] = false;
				}
				else
					arg = GFR_STATUS;
				break;
			case FR_STATUS_AT:
				arg = GFR_STATUS_AT;
				break;
			case FR_LAST_VISIT:
				arg = GFR_LAST_VISIT;
				break;
			case FR_RULES_VERSION:
				arg = GFR_RULES_VERSION;
				break;
			case FR_ATTR:
				s = attr_text[col->attr];
				break;
			case FR_VALIDATED:
				/* the documents always say it: never NULL (one record or more) */
				if (typid == BOOLOID)
				{
					/* what boolin gives the text */
					values[i] = BoolGetDatum(anyv == 1);
					nulls[i] = false;
				}
				else
					s = anyv == 1 ? "true" : "false";
				break;
			case FR_RECORD_COUNT:
				if (typid == INT4OID)
				{
					/* what int4in gives the text */
					values[i] = Int32GetDatum(nrec);
					nulls[i] = false;
				}
				else
					s = psprintf("%d", nrec);
				break;
			case FR_REGISTERED_ON:
				if (!created_null)
				{
					Datum		d = DirectFunctionCall1(timestamp_date, TimestampGetDatum(created_min));

					if (typid == DATEOID)
					{
						/* date_in reads JsonEncodeDateTime's text of a date back to it (BC, infinite) */
						values[i] = d;
						nulls[i] = false;
					}
					else
						s = JsonEncodeDateTime(NULL, d, DATEOID, NULL);
				}
				break;
			case FR_UPDATED_AT:
				if (!updated_null && typid == TIMESTAMPTZOID && FoldRowUtcExact(updated_max))
				{
					/* what timestamptz_in gives GoldenUtcText's text */
					values[i] = TimestampTzGetDatum(updated_max);
					nulls[i] = false;
				}
				else if (!updated_null)
					s = GoldenUtcText(updated_max);
				break;
			case FR_PHONES:
			case FR_EMAILS:
			case FR_HANDLES:
				values[i] = contacts[col->src == FR_PHONES ? KIND_PHONES
									 : col->src == FR_EMAILS ? KIND_EMAILS : KIND_HANDLES];
				nulls[i] = false;
				break;
		}
		if (s != NULL)
		{
			values[i] = InputFunctionCall(&col->input, s, col->ioparam, col->typmod);
			nulls[i] = false;
		}
		if (arg >= 0 && !argnulls[arg])
		{
			values[i] = args[arg];
			nulls[i] = false;
		}
	}
}

PG_FUNCTION_INFO_V1(cdp_golden_fold_row);

/*
 * cdp_golden_fold_row
 *		cdp_internal.golden_fold_row(golden_id bigint, recs
 *		cdp_internal.golden_fold_input[], rules jsonb, rules_version int,
 *		status text, status_at timestamptz, last_visit timestamptz) RETURNS
 *		cdp.patient: golden_row(golden_id, golden_fold_docs(<the records'
 *		documents>, rules), status, status_at, last_visit, rules_version)
 *		(see the file's header).  NULL recs or rules raise 22004, a NULL
 *		record 22023 (golden_fold_docs refuses a NULL document so), a
 *		multi-dimensional array 2202E; the other arguments may be NULL.
 */
Datum
cdp_golden_fold_row(PG_FUNCTION_ARGS)
{
	GoldenRowType *cache;
	FoldRowState *st;
	ArrayType  *arr;
	Jsonb	   *rules;
	Datum	   *elems;
	bool	   *enulls;
	int			nrec;
	Datum	   *fields;
	bool	   *fnulls;
	MemoryContext work;
	MemoryContext old;
	Datum	   *values;
	bool	   *nulls;
	Datum		args[GOLDEN_FOLD_NARGS];
	bool		argnulls[GOLDEN_FOLD_NARGS];
	static const int argno[GOLDEN_FOLD_NARGS] = {
		[GFR_GOLDEN_ID] = FA_GOLDEN_ID, [GFR_RULES_VERSION] = FA_RULES_VERSION,
		[GFR_STATUS] = FA_STATUS, [GFR_STATUS_AT] = FA_STATUS_AT, [GFR_LAST_VISIT] = FA_LAST_VISIT
	};
	HeapTuple	tup;

	if (PG_NARGS() != FA_COUNT)
		elog(ERROR, "golden_fold_row takes %d arguments, not %d", FA_COUNT, PG_NARGS());
	if (PG_ARGISNULL(FA_RECS) || PG_ARGISNULL(FA_RULES))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"%s\" of cdp_internal.golden_fold_row must not be null",
						PG_ARGISNULL(FA_RECS) ? "recs" : "rules")));
	cache = GoldenGetRowType(fcinfo, NULL, "golden_fold_row", FoldRowClassify, sizeof(FoldRowState));
	st = (FoldRowState *) cache->extra;
	arr = PG_GETARG_ARRAYTYPE_P(FA_RECS);
	rules = PG_GETARG_JSONB_P(FA_RULES);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("recs must be a one-dimensional array")));
	FoldRowInputType(fcinfo, st, ARR_ELEMTYPE(arr));
	FoldRowRules(fcinfo, st, rules);

	values = palloc(sizeof(Datum) * Max(cache->ncols, 1));
	nulls = palloc(sizeof(bool) * Max(cache->ncols, 1));
	work = AllocSetContextCreate(CurrentMemoryContext, "cdp golden_fold_row",
								 ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(work);

	deconstruct_array(arr, st->input_type, st->input_typlen, st->input_byval, st->input_align,
					  &elems, &enulls, &nrec);
	if (nrec > FOLD_ROW_MAX_RECORDS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many records for one survivorship fold: %d", nrec),
				 errdetail("The limit is %d records per person.", FOLD_ROW_MAX_RECORDS)));
	fields = palloc(mul_size(sizeof(Datum) * FI_COUNT, Max(1, nrec)));
	fnulls = palloc(mul_size(sizeof(bool) * FI_COUNT, Max(1, nrec)));
	for (int i = 0; i < nrec; i++)
	{
		if (enulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("record %d of the survivorship fold is null", i + 1)));
		FoldRowDeform(st, elems[i], &fields[i * FI_COUNT], &fnulls[i * FI_COUNT]);
	}
	for (int a = 0; a < GOLDEN_FOLD_NARGS; a++)
	{
		argnulls[a] = PG_ARGISNULL(argno[a]);
		args[a] = argnulls[a] ? (Datum) 0 : PG_GETARG_DATUM(argno[a]);
	}
	GoldenFoldRowValues(cache, nrec, fields, fnulls, args, argnulls, values, nulls);
	MemoryContextSwitchTo(old);
	tup = heap_form_tuple(cache->desc, values, nulls);	/* copies the values out of work */
	MemoryContextDelete(work);
	PG_RETURN_DATUM(HeapTupleGetDatum(tup));
}
