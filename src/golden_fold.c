/*-------------------------------------------------------------------------
 *
 * src/golden_fold.c
 *		The survivorship fold of the golden layer in C: cdp.golden_fold(recs,
 *		rules, with_lineage), a pure function of the records of one person
 *		(golden_record_doc documents) and the survivorship rules, returning
 *		the profile attributes, multi-valued contacts and lineage as jsonb.
 *
 * The rules (doc/golden.md; the rules document is checked by
 * src/golden_rules.c):
 *
 * - single-valued attributes (one per key of rules): candidates are the
 *	 records whose value (the ->> text of the key) is not null or empty;
 *	 each rule of the attribute's list gives a score, higher first, in list
 *	 order (validated: 1/0, trusted: source trust, recent: updated_at,
 *	 frequent: records sharing the value, complete: length in characters;
 *	 a missing input scores -1), then the smaller record id wins (nulls
 *	 last), then input order.  Lineage names the first rule on which the
 *	 winner beat the best other value ("unanimous" when there is none,
 *	 "oldest_record" when only the record id decided), the records that
 *	 agree and the values that lost, best first;
 * - contacts (phones, emails: arrays; handles: an object network -> value)
 *	 keep every distinct non-empty value with its source records, first and
 *	 last seen, validated (any record flagged) and confirmed (validated,
 *	 or seen in two sources; "valid" before 0.3.0); ordered by last seen
 *	 (newest first), network, value, text order in the database collation;
 * - one record alone: record and source ids are copied as given and
 *	 "validated" is not defaulted to false.
 *
 * test/oracles/golden_fold.sql holds a PL/pgSQL + SQL version of these rules
 * (the fold's first implementation); test/pgtap/71_golden_fold.sql compares
 * this code with it on generated clusters.
 *
 * The record documents the fold reads are built in src/golden_doc.c.
 * cdp_internal.golden_fold_docs(docs jsonb[], rules) is the same fold,
 * without lineage, of documents given in any order: it sorts the records by
 * record id (nulls last) before folding, as golden_compute's former
 * jsonb_agg(... ORDER BY record_id) ordered them.
 *
 * Timestamps are read with timestamptz input (the session time zone for
 * strings without an offset) and written in UTC.
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
 * Most records one fold accepts.  A person has a handful of records; the
 * cap bounds the sorts and the memory of one call on hostile input.
 */
#define FOLD_MAX_RECORDS	100000

/* contact kinds, in output key order */
#define KIND_PHONES		0
#define KIND_EMAILS		1
#define KIND_HANDLES	2

static const char *const FoldKindNames[] = {"phones", "emails", "handles"};

/* one record document, its fields read once */
typedef struct FoldRec
{
	JsonbContainer *doc;		/* the document (an object) */
	JsonbValue	rid_raw;		/* "record_id" as given (jbvNull if missing) */
	JsonbValue	sid_raw;		/* "source_id" as given */
	bool		rid_null;
	int64		rid;
	bool		sid_null;
	int32		sid;
	Datum		trust;			/* numeric; -1 when missing */
	int			validated;		/* 1, 0, or -1 when missing */
	bool		created_null;
	TimestampTz created;
	bool		updated_null;
	TimestampTz updated;
} FoldRec;

/* one candidate value of a single-valued attribute */
typedef struct FoldCand
{
	int			rec;			/* index into the records */
	int			order;			/* position among the candidates as read */
	char	   *v;
	int			vlen;
	int64		freq;			/* candidates with the same value */
	int64		chars;			/* length in characters */
	int			rank;			/* 0 = winner, after ranking */
} FoldCand;

/* what the ranking comparator needs */
typedef struct FoldRankCtx
{
	FoldRec    *recs;
	GoldenRule *rules;
	int			nrules;
} FoldRankCtx;

/* the candidates of one value, after ranking */
typedef struct FoldGroup
{
	int			best;			/* rank of its best candidate */
	int			start;			/* first position in the by-value order */
	int			count;
} FoldGroup;

/*
 * FieldText
 *		doc ->> key: the text of a field of a document, or NULL.
 */
static char *
FieldText(JsonbContainer *doc, const char *key, int keylen, int *len)
{
	JsonbValue	v;

	if (getKeyJsonValueFromContainer(doc, key, keylen, &v) == NULL)
		return NULL;
	return CdpJsonbScalarText(&v, len);
}

/*
 * GoldenFieldCString
 *		doc ->> key as a NUL-terminated string, or NULL.
 */
char *
GoldenFieldCString(JsonbContainer *doc, const char *key)
{
	int			len;
	char	   *s = FieldText(doc, key, strlen(key), &len);

	return s ? pnstrdup(s, len) : NULL;
}

/*
 * FieldTimestamptz
 *		(doc ->> key)::timestamptz; false when the field is null or missing.
 */
static bool
FieldTimestamptz(JsonbContainer *doc, const char *key, TimestampTz *out)
{
	char	   *s = GoldenFieldCString(doc, key);

	if (s == NULL)
		return false;
	*out = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in,
												   CStringGetDatum(s),
												   ObjectIdGetDatum(InvalidOid),
												   Int32GetDatum(-1)));
	return true;
}

/*
 * ReadRecord
 *		Reads the fields of one record document the fold uses.  full is false
 *		for the one-record path, which neither casts the ids nor reads the
 *		trust (they are copied as given).
 */
static void
ReadRecord(JsonbValue *elem, int n, bool full, FoldRec *r)
{
	char	   *s;

	if (elem->type != jbvBinary || !JsonContainerIsObject(elem->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("record %d of the survivorship fold is not a JSON object", n + 1),
				 errdetail("Each element of recs must be a record document."),
				 errhint("Build the documents with cdp.golden_record_doc.")));
	r->doc = elem->val.binary.data;

	if (getKeyJsonValueFromContainer(r->doc, "record_id", 9, &r->rid_raw) == NULL)
		r->rid_raw.type = jbvNull;
	if (getKeyJsonValueFromContainer(r->doc, "source_id", 9, &r->sid_raw) == NULL)
		r->sid_raw.type = jbvNull;

	r->rid_null = true;
	r->sid_null = true;
	r->trust = DirectFunctionCall1(int4_numeric, Int32GetDatum(-1));
	if (full)
	{
		if ((s = GoldenFieldCString(r->doc, "record_id")) != NULL)
		{
			r->rid = DatumGetInt64(DirectFunctionCall1(int8in, CStringGetDatum(s)));
			r->rid_null = false;
		}
		if ((s = GoldenFieldCString(r->doc, "source_id")) != NULL)
		{
			r->sid = DatumGetInt32(DirectFunctionCall1(int4in, CStringGetDatum(s)));
			r->sid_null = false;
		}
		if ((s = GoldenFieldCString(r->doc, "trust")) != NULL)
			r->trust = DirectFunctionCall3(numeric_in, CStringGetDatum(s),
										   ObjectIdGetDatum(InvalidOid),
										   Int32GetDatum(-1));
	}
	r->validated = -1;
	if ((s = GoldenFieldCString(r->doc, "validated")) != NULL)
		r->validated = DatumGetBool(DirectFunctionCall1(boolin, CStringGetDatum(s))) ? 1 : 0;
	r->created_null = !FieldTimestamptz(r->doc, "created_at", &r->created);
	r->updated_null = !FieldTimestamptz(r->doc, "updated_at", &r->updated);
}

/*
 * FoldCmpInt64
 *		Three-way comparison of two int64.
 */
static inline int
FoldCmpInt64(int64 a, int64 b)
{
	return (a > b) - (a < b);
}

/*
 * RecentScore
 *		The "recent" score of a record on one scale with its default:
 *		updated_at, or one second before 1970-01-01 UTC (an epoch score of
 *		-1) when missing.  Infinite timestamps keep their extreme values.
 */
static inline int64
RecentScore(const FoldRec *r)
{
	if (r->updated_null)
		return -USECS_PER_SEC -
			(int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * USECS_PER_SEC;
	return r->updated;
}

/*
 * FoldCmpRule
 *		Compares the scores of two candidates under one rule (higher first
 *		is the caller's business): <0, 0, >0 as a's score is lower, equal,
 *		higher.
 */
static int
FoldCmpRule(const FoldRankCtx *ctx, GoldenRule rule, const FoldCand *a, const FoldCand *b)
{
	const FoldRec *ra = &ctx->recs[a->rec];
	const FoldRec *rb = &ctx->recs[b->rec];

	switch (rule)
	{
		case RULE_VALIDATED:
			return FoldCmpInt64(ra->validated, rb->validated);
		case RULE_TRUSTED:
			return DatumGetInt32(DirectFunctionCall2(numeric_cmp, ra->trust, rb->trust));
		case RULE_RECENT:
			return FoldCmpInt64(RecentScore(ra), RecentScore(rb));
		case RULE_FREQUENT:
			return FoldCmpInt64(a->freq, b->freq);
		case RULE_COMPLETE:
			return FoldCmpInt64(a->chars, b->chars);
	}
	return 0;
}

/*
 * FoldCmpRank
 *		qsort_arg comparator of the ranking: scores in rule order, higher
 *		first, then the smaller record id (nulls last), then input order.
 */
static int
FoldCmpRank(const void *pa, const void *pb, void *arg)
{
	const FoldRankCtx *ctx = (const FoldRankCtx *) arg;
	const FoldCand *a = (const FoldCand *) pa;
	const FoldCand *b = (const FoldCand *) pb;
	const FoldRec *ra = &ctx->recs[a->rec];
	const FoldRec *rb = &ctx->recs[b->rec];
	int			i;
	int			c;

	for (i = 0; i < ctx->nrules; i++)
		if ((c = FoldCmpRule(ctx, ctx->rules[i], a, b)) != 0)
			return -c;
	if (ra->rid_null != rb->rid_null)
		return ra->rid_null ? 1 : -1;
	if (!ra->rid_null && (c = FoldCmpInt64(ra->rid, rb->rid)) != 0)
		return c;
	return a->order - b->order;
}

/*
 * GoldenCmpBytes
 *		Byte order of two strings (for grouping equal values); the row fold
 *		(golden_fold_row.c) groups its candidates with it too.
 */
int
GoldenCmpBytes(const char *a, int alen, const char *b, int blen)
{
	int			c = memcmp(a, b, Min(alen, blen));

	return c != 0 ? c : alen - blen;
}

/*
 * FoldCmpCandValue
 *		qsort comparator grouping candidates by value, input order within.
 */
static int
FoldCmpCandValue(const void *pa, const void *pb)
{
	const FoldCand *a = (const FoldCand *) pa;
	const FoldCand *b = (const FoldCand *) pb;
	int			c = GoldenCmpBytes(a->v, a->vlen, b->v, b->vlen);

	return c != 0 ? c : a->order - b->order;
}

/*
 * FoldCmpRankByValue
 *		qsort_arg comparator of rank positions by value, then rank.
 */
static int
FoldCmpRankByValue(const void *pa, const void *pb, void *arg)
{
	const FoldCand *cand = (const FoldCand *) arg;
	int			a = *(const int *) pa;
	int			b = *(const int *) pb;
	int			c = GoldenCmpBytes(cand[a].v, cand[a].vlen, cand[b].v, cand[b].vlen);

	return c != 0 ? c : a - b;
}

/*
 * FoldCmpGroupBest
 *		qsort comparator of value groups by their best rank.
 */
static int
FoldCmpGroupBest(const void *pa, const void *pb)
{
	return ((const FoldGroup *) pa)->best - ((const FoldGroup *) pb)->best;
}

/*
 * FoldCmpRecordId
 *		qsort_arg comparator of record indexes by record id, nulls last (the
 *		order of jsonb_agg(record_id ORDER BY record_id)).
 */
static int
FoldCmpRecordId(const void *pa, const void *pb, void *arg)
{
	const FoldRec *recs = (const FoldRec *) arg;
	const FoldRec *a = &recs[*(const int *) pa];
	const FoldRec *b = &recs[*(const int *) pb];

	if (a->rid_null != b->rid_null)
		return a->rid_null ? 1 : -1;
	if (a->rid_null)
		return 0;
	return FoldCmpInt64(a->rid, b->rid);
}

/* ------------------------------------------------------------------ output helpers */

/*
 * GoldenPushScalar
 *		Pushes a scalar as an object value (tok WJB_VALUE) or array element.
 */
void
GoldenPushScalar(JsonbParseState **st, JsonbIteratorToken tok, JsonbValue *v)
{
	pushJsonbValue(st, tok, v);
}

/*
 * GoldenPushString
 *		Pushes a string value or element.
 */
void
GoldenPushString(JsonbParseState **st, JsonbIteratorToken tok, const char *s, int len)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = (char *) s;
	v.val.string.len = len;
	GoldenPushScalar(st, tok, &v);
}

/*
 * GoldenPushNull
 *		Pushes a JSON null.
 */
void
GoldenPushNull(JsonbParseState **st, JsonbIteratorToken tok)
{
	JsonbValue	v;

	v.type = jbvNull;
	GoldenPushScalar(st, tok, &v);
}

/*
 * GoldenPushInt64
 *		Pushes a JSON number from an int64.
 */
void
GoldenPushInt64(JsonbParseState **st, JsonbIteratorToken tok, int64 i)
{
	JsonbValue	v;

	v.type = jbvNumeric;
	v.val.numeric = int64_to_numeric(i);
	GoldenPushScalar(st, tok, &v);
}

/*
 * GoldenPushBool
 *		Pushes a JSON boolean.
 */
void
GoldenPushBool(JsonbParseState **st, JsonbIteratorToken tok, bool b)
{
	JsonbValue	v;

	v.type = jbvBool;
	v.val.boolean = b;
	GoldenPushScalar(st, tok, &v);
}

/*
 * PushNested
 *		Pushes an object built in another parse state as an object value.
 */
static void
PushNested(JsonbParseState **st, JsonbValue *obj)
{
	Jsonb	   *j = JsonbValueToJsonb(obj);
	JsonbValue	v;

	v.type = jbvBinary;
	v.val.binary.data = &j->root;
	v.val.binary.len = VARSIZE(j) - VARHDRSZ;
	pushJsonbValue(st, WJB_VALUE, &v);
}

/*
 * PushRecordId
 *		Pushes a record's id: as given on the one-record path, as bigint
 *		(or null) otherwise.
 */
static void
PushRecordId(JsonbParseState **st, JsonbIteratorToken tok, const FoldRec *r, bool raw)
{
	if (raw)
		pushJsonbValue(st, tok, (JsonbValue *) &r->rid_raw);
	else if (r->rid_null)
		GoldenPushNull(st, tok);
	else
		GoldenPushInt64(st, tok, r->rid);
}

/*
 * GoldenUtcText
 *		A timestamp as ISO 8601 in UTC with microseconds
 *		(YYYY-MM-DD"T"HH24:MI:SS.US"Z"), NULL for an infinite timestamp.
 */
char *
GoldenUtcText(TimestampTz ts)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (TIMESTAMP_NOT_FINITE(ts))
		return NULL;
	if (timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	if (tm.tm_year < 1)
	{
		/* BC years: to_char writes them */
		text	   *t = DatumGetTextPP(DirectFunctionCall2(timestamp_to_char,
														   TimestampGetDatum(ts),
														   PointerGetDatum(cstring_to_text("YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\""))));

		return text_to_cstring(t);
	}
	return psprintf("%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
					tm.tm_year, tm.tm_mon, tm.tm_mday,
					tm.tm_hour, tm.tm_min, tm.tm_sec, (int) fsec);
}

/*
 * PushUtc
 *		Pushes GoldenUtcText(ts) (null when infinite).
 */
static void
PushUtc(JsonbParseState **st, JsonbIteratorToken tok, TimestampTz ts)
{
	char	   *s = GoldenUtcText(ts);

	if (s)
		GoldenPushString(st, tok, s, strlen(s));
	else
		GoldenPushNull(st, tok);
}

/* ------------------------------------------------------------------ one attribute */

/*
 * FoldAttribute
 *		Ranks the candidates of one attribute and pushes its value into the
 *		attributes object and (when wanted) its lineage into *lin.
 */
static void
FoldAttribute(JsonbParseState **attrs, JsonbParseState **lin, bool with_lineage, bool raw,
			  char *attr, FoldRec *recs, int nrec, GoldenRule *rules, int nrules)
{
	FoldCand   *cand = palloc(mul_size(sizeof(FoldCand), nrec));
	int			n = 0;
	int			i;
	int			j;
	FoldRankCtx ctx;
	FoldCand   *w;
	FoldCand   *other = NULL;
	const char *rule;
	int		   *ids;
	int		   *byvalue;
	FoldGroup  *groups;
	int			ngroups;
	int			g;

	for (i = 0; i < nrec; i++)
	{
		int			len = 0;
		char	   *v = FieldText(recs[i].doc, attr, strlen(attr), &len);

		if (v == NULL || len == 0)
			continue;
		cand[n].rec = i;
		cand[n].order = n;
		cand[n].v = v;
		cand[n].vlen = len;
		cand[n].chars = pg_mbstrlen_with_len(v, len);
		n++;
	}
	if (n == 0)
		return;

	/* frequency of each value */
	if (n > 1)
	{
		qsort(cand, n, sizeof(FoldCand), FoldCmpCandValue);
		for (i = 0; i < n; i = j)
		{
			for (j = i + 1; j < n && GoldenCmpBytes(cand[i].v, cand[i].vlen, cand[j].v, cand[j].vlen) == 0; j++)
				;
			for (int k = i; k < j; k++)
				cand[k].freq = j - i;
		}
	}
	else
		cand[0].freq = 1;

	ctx.recs = recs;
	ctx.rules = rules;
	ctx.nrules = nrules;
	if (n > 1)
		qsort_arg(cand, n, sizeof(FoldCand), FoldCmpRank, &ctx);
	for (i = 0; i < n; i++)
		cand[i].rank = i;
	w = &cand[0];

	CdpJsonbPushKey(attrs, attr);
	GoldenPushString(attrs, WJB_VALUE, w->v, w->vlen);
	if (!with_lineage)
		return;

	/*
	 * Group the ranked candidates by value: byvalue holds rank positions
	 * sorted by (value, rank), so each group starts with its best rank; the
	 * groups sorted by that best rank are the winner's, then the values
	 * that lost, best first.
	 */
	byvalue = palloc(sizeof(int) * n);
	for (i = 0; i < n; i++)
		byvalue[i] = i;
	if (n > 1)
		qsort_arg(byvalue, n, sizeof(int), FoldCmpRankByValue, cand);
	groups = palloc(sizeof(FoldGroup) * n);
	ngroups = 0;
	for (i = 0; i < n; i = j)
	{
		FoldCand   *a = &cand[byvalue[i]];

		for (j = i + 1; j < n && GoldenCmpBytes(a->v, a->vlen, cand[byvalue[j]].v, cand[byvalue[j]].vlen) == 0; j++)
			;
		groups[ngroups].best = byvalue[i];
		groups[ngroups].start = i;
		groups[ngroups].count = j - i;
		ngroups++;
	}
	if (ngroups > 1)
		qsort(groups, ngroups, sizeof(FoldGroup), FoldCmpGroupBest);
	Assert(groups[0].best == 0);
	if (ngroups > 1)
		other = &cand[groups[1].best];

	if (other == NULL)
		rule = "unanimous";
	else
	{
		rule = "oldest_record";
		for (i = 0; i < nrules; i++)
			if (FoldCmpRule(&ctx, rules[i], w, other) != 0)
			{
				rule = GoldenRuleNames[rules[i]];
				break;
			}
	}

	CdpJsonbPushKey(lin, attr);
	pushJsonbValue(lin, WJB_BEGIN_OBJECT, NULL);
	CdpJsonbPushKey(lin, "value");
	GoldenPushString(lin, WJB_VALUE, w->v, w->vlen);
	CdpJsonbPushKey(lin, "record_id");
	PushRecordId(lin, WJB_VALUE, &recs[w->rec], raw);
	CdpJsonbPushKey(lin, "source_id");
	if (raw)
		pushJsonbValue(lin, WJB_VALUE, &recs[w->rec].sid_raw);
	else if (recs[w->rec].sid_null)
		GoldenPushNull(lin, WJB_VALUE);
	else
		GoldenPushInt64(lin, WJB_VALUE, recs[w->rec].sid);
	CdpJsonbPushKey(lin, "rule");
	GoldenPushString(lin, WJB_VALUE, rule, strlen(rule));

	/* agree: the winner's group; lost: the other groups, with records by id */
	ids = palloc(sizeof(int) * n);
	for (g = 0; g < ngroups; g++)
	{
		int			nids = groups[g].count;

		for (j = 0; j < nids; j++)
			ids[j] = cand[byvalue[groups[g].start + j]].rec;
		qsort_arg(ids, nids, sizeof(int), FoldCmpRecordId, recs);
		if (g == 0)
			CdpJsonbPushKey(lin, "agree");
		else
		{
			if (g == 1)
			{
				CdpJsonbPushKey(lin, "lost");
				pushJsonbValue(lin, WJB_BEGIN_ARRAY, NULL);
			}
			pushJsonbValue(lin, WJB_BEGIN_OBJECT, NULL);
			CdpJsonbPushKey(lin, "value");
			GoldenPushString(lin, WJB_VALUE, cand[groups[g].best].v, cand[groups[g].best].vlen);
			CdpJsonbPushKey(lin, "records");
		}
		pushJsonbValue(lin, WJB_BEGIN_ARRAY, NULL);
		for (j = 0; j < nids; j++)
			PushRecordId(lin, WJB_ELEM, &recs[ids[j]], raw);
		pushJsonbValue(lin, WJB_END_ARRAY, NULL);
		if (g > 0)
			pushJsonbValue(lin, WJB_END_OBJECT, NULL);
	}
	if (ngroups == 1)
	{
		CdpJsonbPushKey(lin, "lost");
		pushJsonbValue(lin, WJB_BEGIN_ARRAY, NULL);
	}
	pushJsonbValue(lin, WJB_END_ARRAY, NULL);
	pushJsonbValue(lin, WJB_END_OBJECT, NULL);
}

/* ------------------------------------------------------------------ contacts */

/*
 * GoldenAddContact
 *		Appends one contact occurrence, growing the array (golden.h).
 */
void
GoldenAddContact(GoldenContact **arr, int *n, int *cap, int kind, char *net, int netlen,
				 char *v, int vlen, int rec)
{
	if (*n >= *cap)
	{
		*cap *= 2;
		*arr = repalloc(*arr, mul_size(sizeof(GoldenContact), *cap));
	}
	(*arr)[*n].kind = kind;
	(*arr)[*n].t.net = net;
	(*arr)[*n].t.netlen = netlen;
	(*arr)[*n].t.v = v;
	(*arr)[*n].t.vlen = vlen;
	(*arr)[*n].rec = rec;
	(*n)++;
}

/*
 * FoldCmpContactBytes
 *		qsort comparator grouping contact occurrences: kind, network (none
 *		first), value, bytewise.
 */
static int
FoldCmpContactBytes(const void *pa, const void *pb)
{
	const GoldenContact *a = (const GoldenContact *) pa;
	const GoldenContact *b = (const GoldenContact *) pb;

	if (a->kind != b->kind)
		return a->kind - b->kind;
	return GoldenCmpContactBytes(&a->t, &b->t);
}

/*
 * GoldenCmpContactBytes
 *		Bytewise order of two contact texts, no network first: equal contacts
 *		compare 0 (golden.h).
 */
int
GoldenCmpContactBytes(const GoldenContactText *a, const GoldenContactText *b)
{
	int			c;

	if ((a->net == NULL) != (b->net == NULL))
		return a->net == NULL ? -1 : 1;
	if (a->net && (c = GoldenCmpBytes(a->net, a->netlen, b->net, b->netlen)) != 0)
		return c;
	return GoldenCmpBytes(a->v, a->vlen, b->v, b->vlen);
}

/*
 * GoldenCmpContactOutput
 *		The profile's order of two contact texts: no network last, then the
 *		network and the value in the database collation (golden.h).
 */
int
GoldenCmpContactOutput(const GoldenContactText *a, const GoldenContactText *b)
{
	int			c;

	if ((a->net == NULL) != (b->net == NULL))
		return a->net == NULL ? 1 : -1;
	if (a->net && (c = varstr_cmp(a->net, a->netlen, b->net, b->netlen, DEFAULT_COLLATION_OID)) != 0)
		return c;
	return varstr_cmp(a->v, a->vlen, b->v, b->vlen, DEFAULT_COLLATION_OID);
}

/*
 * FoldCmpContactGroup
 *		qsort comparator of the output order within a kind: last seen newest
 *		first (nulls last), network then value in the database collation
 *		(null network last).
 */
static int
FoldCmpContactGroup(const void *pa, const void *pb)
{
	const GoldenContactGroup *a = (const GoldenContactGroup *) pa;
	const GoldenContactGroup *b = (const GoldenContactGroup *) pb;
	int			c;

	if (a->kind != b->kind)
		return a->kind - b->kind;
	if (a->last_null != b->last_null)
		return a->last_null ? 1 : -1;
	if (!a->last_null && (c = FoldCmpInt64(a->last_seen, b->last_seen)) != 0)
		return -c;
	return GoldenCmpContactOutput(&a->t, &b->t);
}

/*
 * CollectContacts
 *		Every non-empty phone, e-mail and handle of every record.
 */
static GoldenContact *
CollectContacts(FoldRec *recs, int nrec, int *ncontacts)
{
	int			cap = 16;
	int			n = 0;
	GoldenContact *arr = palloc(sizeof(GoldenContact) * cap);
	int			i;

	for (i = 0; i < nrec; i++)
	{
		int			kind;

		for (kind = KIND_PHONES; kind <= KIND_HANDLES; kind++)
		{
			JsonbValue	f;
			JsonbIterator *it;
			JsonbValue	v;
			JsonbIteratorToken tok;
			char	   *net = NULL;
			int			netlen = 0;

			if (getKeyJsonValueFromContainer(recs[i].doc, FoldKindNames[kind],
											 strlen(FoldKindNames[kind]), &f) == NULL ||
				f.type != jbvBinary)
				continue;
			if (kind == KIND_HANDLES ? !JsonContainerIsObject(f.val.binary.data)
				: !JsonContainerIsArray(f.val.binary.data))
				continue;
			it = JsonbIteratorInit(f.val.binary.data);
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
				if (tok != WJB_ELEM && tok != WJB_VALUE)
					continue;
				s = CdpJsonbScalarText(&v, &len);
				if (s == NULL || len == 0)
					continue;
				GoldenAddContact(&arr, &n, &cap, kind, kind == KIND_HANDLES ? net : NULL,
								 netlen, s, len, i);
			}
		}
	}
	*ncontacts = n;
	return arr;
}

/*
 * GoldenContactGroups
 *		Sorts the contact occurrences c and returns their groups (*ngroups) in
 *		the profile's order, each with its aggregates over the records recs
 *		(golden.h).
 */
GoldenContactGroup *
GoldenContactGroups(GoldenContact *c, int n, const GoldenContactRec *recs, int *ngroups)
{
	GoldenContactGroup *g = palloc(sizeof(GoldenContactGroup) * Max(1, n));
	int			ng = 0;
	int			i;
	int			j;

	if (n > 1)
		qsort(c, n, sizeof(GoldenContact), FoldCmpContactBytes);
	for (i = 0; i < n; i = j)
	{
		GoldenContactGroup *x = &g[ng++];
		int			anyv = -1;
		int			nsid = 0;
		int32		sid0 = 0;

		for (j = i + 1; j < n && FoldCmpContactBytes(&c[i], &c[j]) == 0; j++)
			;
		x->kind = c[i].kind;
		x->t = c[i].t;
		x->first = i;
		x->count = j - i;
		x->first_null = true;
		x->last_null = true;
		for (int k = i; k < j; k++)
		{
			const GoldenContactRec *r = &recs[c[k].rec];

			if (!r->created_null && (x->first_null || r->created < x->first_seen))
			{
				x->first_seen = r->created;
				x->first_null = false;
			}
			if (!r->updated_null && (x->last_null || r->updated > x->last_seen))
			{
				x->last_seen = r->updated;
				x->last_null = false;
			}
			if (r->validated >= 0)
				anyv = Max(anyv, r->validated);
			/* count(DISTINCT source_id) >= 2: two different non-null ids */
			if (!r->sid_null && nsid < 2)
			{
				if (nsid == 0)
				{
					sid0 = r->sid;
					nsid = 1;
				}
				else if (r->sid != sid0)
					nsid = 2;
			}
		}
		x->validated = anyv;
		x->valid = anyv == 1 || nsid >= 2 ? 1 : anyv == -1 ? -1 : 0;
	}
	if (ng > 1)
		qsort(g, ng, sizeof(GoldenContactGroup), FoldCmpContactGroup);
	*ngroups = ng;
	return g;
}

/*
 * GoldenPushContactGroup
 *		Pushes one contact group's object: value, network, sources (the
 *		distinct record ids, ascending by cmp over record indexes, nulls last;
 *		two records are the same when their indexes are, if same_by_index,
 *		else when cmp says so), first_seen, last_seen, confirmed, validated.
 *		ids: room for x->count ints (golden.h).
 */
void
GoldenPushContactGroup(JsonbParseState **st, const GoldenContactGroup *x, const GoldenContact *c,
					   int *ids, qsort_arg_comparator cmp, bool same_by_index,
					   GoldenPushRecIdFn push_id, void *arg)
{
	int			nids = 0;
	int			j;
	char	   *s;

	pushJsonbValue(st, WJB_BEGIN_OBJECT, NULL);
	CdpJsonbPushKey(st, "value");
	GoldenPushString(st, WJB_VALUE, x->t.v, x->t.vlen);
	if (x->t.net)
	{
		CdpJsonbPushKey(st, "network");
		GoldenPushString(st, WJB_VALUE, x->t.net, x->t.netlen);
	}
	for (j = 0; j < x->count; j++)
		ids[nids++] = c[x->first + j].rec;
	qsort_arg(ids, nids, sizeof(int), cmp, arg);
	CdpJsonbPushKey(st, "sources");
	pushJsonbValue(st, WJB_BEGIN_ARRAY, NULL);
	for (j = 0; j < nids; j++)
	{
		if (j > 0 && (same_by_index ? ids[j] == ids[j - 1]
					  : cmp(&ids[j], &ids[j - 1], arg) == 0))
			continue;
		push_id(st, ids[j], arg);
	}
	pushJsonbValue(st, WJB_END_ARRAY, NULL);
	if (!x->first_null && (s = GoldenUtcText(x->first_seen)) != NULL)
	{
		CdpJsonbPushKey(st, "first_seen");
		GoldenPushString(st, WJB_VALUE, s, strlen(s));
	}
	if (!x->last_null && (s = GoldenUtcText(x->last_seen)) != NULL)
	{
		CdpJsonbPushKey(st, "last_seen");
		GoldenPushString(st, WJB_VALUE, s, strlen(s));
	}
	if (x->valid >= 0)
	{
		CdpJsonbPushKey(st, "confirmed");
		GoldenPushBool(st, WJB_VALUE, x->valid == 1);
	}
	if (x->validated >= 0)
	{
		CdpJsonbPushKey(st, "validated");
		GoldenPushBool(st, WJB_VALUE, x->validated == 1);
	}
	pushJsonbValue(st, WJB_END_OBJECT, NULL);
}

/* PushContacts's record ids: as given on the one-record path, else bigint or null */
typedef struct FoldIdArg
{
	FoldRec    *recs;
	bool		raw;
} FoldIdArg;

static int
FoldCmpRecordIdArg(const void *pa, const void *pb, void *arg)
{
	return FoldCmpRecordId(pa, pb, ((FoldIdArg *) arg)->recs);
}

static void
FoldPushRecordId(JsonbParseState **st, int rec, void *arg)
{
	FoldIdArg  *a = (FoldIdArg *) arg;

	PushRecordId(st, WJB_ELEM, &a->recs[rec], a->raw);
}

/*
 * PushContacts
 *		Groups the contact occurrences and pushes the three contact arrays
 *		(as object values of the result).
 */
static void
PushContacts(JsonbParseState **st, FoldRec *recs, int nrec, bool raw)
{
	int			n;
	int			ng;
	GoldenContact *c = CollectContacts(recs, nrec, &n);
	GoldenContactRec *cr = palloc(sizeof(GoldenContactRec) * Max(1, nrec));
	GoldenContactGroup *g;
	int		   *ids = palloc(sizeof(int) * Max(1, n));
	FoldIdArg	arg = {recs, raw};

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
		CdpJsonbPushKey(st, FoldKindNames[kind]);
		pushJsonbValue(st, WJB_BEGIN_ARRAY, NULL);
		for (int i = 0; i < ng; i++)
			if (g[i].kind == kind)
				GoldenPushContactGroup(st, &g[i], c, ids, FoldCmpRecordIdArg, raw,
									   FoldPushRecordId, &arg);
		pushJsonbValue(st, WJB_END_ARRAY, NULL);
	}
}

/* ------------------------------------------------------------------ entry point */

/*
 * FoldCheckNotNull
 *		Raises 22004 naming a NULL argument.
 */
static void
FoldCheckNotNull(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"%s\" of cdp.golden_fold must not be null", name)));
}

/*
 * FoldCmpRec
 *		qsort comparator of read records by record id, nulls last: the order
 *		of jsonb_agg(... ORDER BY record_id), which golden_fold_docs restores.
 */
static int
FoldCmpRec(const void *pa, const void *pb)
{
	const FoldRec *a = pa;
	const FoldRec *b = pb;

	if (a->rid_null != b->rid_null)
		return a->rid_null ? 1 : -1;
	if (a->rid_null)
		return 0;
	return FoldCmpInt64(a->rid, b->rid);
}

/*
 * FoldRun
 *		The fold of the nrec record documents elems (each a jsonb value, an
 *		object for a valid one) under rules; by_id sorts the records by record
 *		id first (golden_fold_docs: documents in any order).  The callers
 *		have checked the rules and the number of records.  Working memory
 *		lives in a context of its own, deleted before returning; only the
 *		result is left in the caller's context.
 */
static Jsonb *
FoldRun(JsonbValue *elems, int nrec, Jsonb *rules, bool with_lineage, bool by_id)
{
	MemoryContext work;
	MemoryContext old;
	FoldRec    *r;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	JsonbParseState *st = NULL;
	JsonbParseState *attrs = NULL;
	JsonbParseState *lin = NULL;
	JsonbValue *res;
	Jsonb	   *out;
	Jsonb	   *copy;
	bool		raw;
	int			i;
	int			anyv = -1;
	bool		created_null = true;
	TimestampTz created_min = 0;
	bool		updated_null = true;
	TimestampTz updated_max = 0;

	work = AllocSetContextCreate(CurrentMemoryContext, "cdp golden fold",
								 ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(work);

	/* one record: the fast path (ids as given) */
	raw = nrec == 1;
	r = palloc0(mul_size(sizeof(FoldRec), Max(1, nrec)));
	for (i = 0; i < nrec; i++)
	{
		ReadRecord(&elems[i], i, !raw, &r[i]);
		if (r[i].validated >= 0)
			anyv = Max(anyv, r[i].validated);
		if (!r[i].created_null && (created_null || r[i].created < created_min))
		{
			created_min = r[i].created;
			created_null = false;
		}
		if (!r[i].updated_null && (updated_null || r[i].updated > updated_max))
		{
			updated_max = r[i].updated;
			updated_null = false;
		}
	}
	if (by_id && nrec > 1)
		qsort(r, nrec, sizeof(FoldRec), FoldCmpRec);

	/* single-valued attributes, one per key of the rules */
	pushJsonbValue(&attrs, WJB_BEGIN_OBJECT, NULL);
	if (with_lineage)
		pushJsonbValue(&lin, WJB_BEGIN_OBJECT, NULL);
	it = JsonbIteratorInit(&rules->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *attr;
		GoldenRule *rl;
		int			nrl;

		if (tok != WJB_KEY)
			continue;
		attr = pnstrdup(v.val.string.val, v.val.string.len);
		tok = JsonbIteratorNext(&it, &v, true);
		Assert(tok == WJB_VALUE);
		rl = GoldenParseRuleList(attr, strlen(attr), &v, false, &nrl);
		FoldAttribute(&attrs, &lin, with_lineage, raw, attr, r, nrec, rl, nrl);
	}

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	CdpJsonbPushKey(&st, "attributes");
	PushNested(&st, pushJsonbValue(&attrs, WJB_END_OBJECT, NULL));
	CdpJsonbPushKey(&st, "lineage");
	if (with_lineage)
		PushNested(&st, pushJsonbValue(&lin, WJB_END_OBJECT, NULL));
	else
		GoldenPushNull(&st, WJB_VALUE);
	PushContacts(&st, r, nrec, raw);
	CdpJsonbPushKey(&st, "record_count");
	GoldenPushInt64(&st, WJB_VALUE, nrec);
	CdpJsonbPushKey(&st, "registered_on");
	if (created_null)
		GoldenPushNull(&st, WJB_VALUE);
	else
	{
		Datum		d = DirectFunctionCall1(timestamp_date, TimestampGetDatum(created_min));
		char	   *s = JsonEncodeDateTime(NULL, d, DATEOID, NULL);

		GoldenPushString(&st, WJB_VALUE, s, strlen(s));
	}
	CdpJsonbPushKey(&st, "validated");
	if (raw && anyv < 0)
		GoldenPushNull(&st, WJB_VALUE);
	else
		GoldenPushBool(&st, WJB_VALUE, anyv == 1);
	CdpJsonbPushKey(&st, "updated_at");
	if (updated_null)
		GoldenPushNull(&st, WJB_VALUE);
	else
		PushUtc(&st, WJB_VALUE, updated_max);
	res = pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	out = JsonbValueToJsonb(res);

	MemoryContextSwitchTo(old);
	copy = palloc(VARSIZE(out));
	memcpy(copy, out, VARSIZE(out));
	MemoryContextDelete(work);
	return copy;
}

PG_FUNCTION_INFO_V1(cdp_golden_fold);

/* The bound on the records of one fold (both entry points). */
static void
FoldCheckCount(int nrec)
{
	if (nrec > FOLD_MAX_RECORDS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many records for one survivorship fold: %d", nrec),
				 errdetail("The limit is %d records per person.", FOLD_MAX_RECORDS)));
}

/*
 * cdp_golden_fold
 *		cdp.golden_fold(recs jsonb, rules jsonb, with_lineage boolean): the
 *		profile of one person, its records in the order of the array.
 */
Datum
cdp_golden_fold(PG_FUNCTION_ARGS)
{
	Jsonb	   *recs;
	Jsonb	   *rules;
	bool		with_lineage;
	int			nrec;
	JsonbValue *elems;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			i;

	FoldCheckNotNull(fcinfo, 0, "recs");
	FoldCheckNotNull(fcinfo, 1, "rules");
	FoldCheckNotNull(fcinfo, 2, "with_lineage");
	recs = PG_GETARG_JSONB_P(0);
	rules = PG_GETARG_JSONB_P(1);
	with_lineage = PG_GETARG_BOOL(2);

	if (!JB_ROOT_IS_ARRAY(recs) || JB_ROOT_IS_SCALAR(recs))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("records of the survivorship fold must be a JSON array"),
				 errdetail("The value given is a JSON %s.",
						   JB_ROOT_IS_SCALAR(recs) ? "scalar" : "object"),
				 errhint("Give an array of cdp.golden_record_doc documents, one per source record.")));
	GoldenCheckRulesObject(rules);
	nrec = JB_ROOT_COUNT(recs);
	FoldCheckCount(nrec);

	/* the elements, as the array's iterator gives them (objects as binary values) */
	elems = palloc(mul_size(sizeof(JsonbValue), Max(1, nrec)));
	it = JsonbIteratorInit(&recs->root);
	i = 0;
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		elems[i++] = v;
	}
	Assert(i == nrec);
	PG_RETURN_JSONB_P(FoldRun(elems, nrec, rules, with_lineage, false));
}

PG_FUNCTION_INFO_V1(cdp_golden_fold_docs);

/*
 * cdp_golden_fold_docs
 *		cdp_internal.golden_fold_docs(docs jsonb[], rules jsonb): what
 *		cdp.golden_fold(<the documents as a JSON array, by record id>, rules,
 *		false) gives, for the documents in any order (the live re-fold
 *		collects them with array_agg, without the per-person sort and the
 *		re-encoding of jsonb_agg, issue 16).  NULL arguments raise 22004; a
 *		NULL document or one that is not an object raises as golden_fold
 *		does for an element that is not an object; a multi-dimensional
 *		array is refused.
 */
Datum
cdp_golden_fold_docs(PG_FUNCTION_ARGS)
{
	ArrayType  *arr;
	Jsonb	   *rules;
	Datum	   *d;
	bool	   *dn;
	int			nrec;
	JsonbValue *elems;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"%s\" of cdp_internal.golden_fold_docs must not be null",
						PG_ARGISNULL(0) ? "docs" : "rules")));
	arr = PG_GETARG_ARRAYTYPE_P(0);
	rules = PG_GETARG_JSONB_P(1);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("docs must be a one-dimensional array")));
	if (ARR_ELEMTYPE(arr) != JSONBOID)
		elog(ERROR, "golden_fold_docs takes an array of jsonb");
	GoldenCheckRulesObject(rules);
	deconstruct_array(arr, JSONBOID, -1, false, TYPALIGN_INT, &d, &dn, &nrec);
	FoldCheckCount(nrec);
	elems = palloc(mul_size(sizeof(JsonbValue), Max(1, nrec)));
	for (int i = 0; i < nrec; i++)
	{
		Jsonb	   *doc;

		if (dn[i])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("record %d of the survivorship fold is not a JSON object", i + 1),
					 errdetail("Each element of docs must be a record document."),
					 errhint("Build the documents with cdp.golden_record_doc.")));
		doc = DatumGetJsonbP(d[i]);
		if (JB_ROOT_IS_SCALAR(doc))
		{
			/* a scalar document: its value, which ReadRecord refuses */
			JsonbExtractScalar(&doc->root, &elems[i]);
			continue;
		}
		elems[i].type = jbvBinary;
		elems[i].val.binary.data = &doc->root;
		elems[i].val.binary.len = VARSIZE(doc) - VARHDRSZ;
	}
	PG_RETURN_JSONB_P(FoldRun(elems, nrec, rules, false, true));
}
