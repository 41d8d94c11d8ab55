/*-------------------------------------------------------------------------
 *
 * src/match_features.c
 *		The match_key features of one record in one C call (issue 6): the
 *		normalised comparison values (feat), the blocking keys (bk) and the
 *		placeholder flag, the same values the SQL expressions of
 *		_match_feature_query compute (a test compares them on generated
 *		records), at a fraction of the cost: the SQL form evaluated two
 *		correlated subqueries, a dozen regular expressions and an array
 *		constructor per record.
 *
 *		_match_feature_program (match_compile.c) compiles a settings
 *		document into a "feature program" (kinds, rules, placeholder
 *		positions and names) and _match_feature_query passes each record's
 *		raw values; settings it cannot
 *		compile (a date comparator on a text attr, a phonetic blocking key)
 *		keep the SQL expressions.  Where the SQL form calls a PostgreSQL
 *		function whose result depends on the collation or the regular
 *		expression engine (upper, lower, btrim, regexp_replace), this file
 *		calls that same function.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "common/hashfn.h"

#include "cdp.h"
#include "match.h"
#include "text.h"

/* the feature kinds (MATCH_FEAT_*) and key transforms (MATCH_TR_*) are in match.h */

PG_FUNCTION_INFO_V1(cdp_match_features);

/* one blocking rule of the feature program */
typedef struct FeatRule
{
	bool		any_order;
	int			nitems;
	int			pos[MATCH_MAX_RULE_KEYS];	/* 0-based feature column */
	int			tr[MATCH_MAX_RULE_KEYS];
} FeatRule;

/* the parsed feature program, cached in fn_extra while its arguments stay the same */
typedef struct FeatProg
{
	int			ncomp;
	int			kind[MATCH_MAX_COMP];
	int			nfeat;
	int			nrules;
	FeatRule	rule[MATCH_MAX_KEY_RULES];	/* walked rules, then lookup rules */
	int			ph_pos[3];		/* family, given, patronymic value columns or -1 */
	int			nnames;
	char	  **names;			/* placeholder names (normalised), NULL entries kept */
	int			nsusp[3];
	char	  **susp[3];		/* suspicious phones, e-mails, birth dates
								 * (YYYYMMDD, sorted by bytes, no NULL) */
	bytea	   *sig;			/* the arguments this was parsed from */
	TupleDesc	td;				/* the blessed result type (OUT arguments) */
	struct namecache_hash *cache;	/* NameCacheEntry by raw value, or NULL */
	int64		lookups[MATCH_MAX_COMP];	/* cache lookups and hits per comparison */
	int64		hits[MATCH_MAX_COMP];
	bool		nocache[MATCH_MAX_COMP];	/* values too varied to pay */
} FeatProg;

/*
 * The normalised form and key of a name value, memoised for one query (one
 * full re-keying): cdp.normalize_name and cdp.name_base_key are immutable,
 * and the names of a population repeat (a few hundred carry most records:
 * issue 12, speed).  A comparison whose values hit the cache less than a
 * quarter of the time after NAME_CACHE_PROBE lookups (addresses) stops
 * using it; the cache holds at most NAME_CACHE_MAX values.
 *
 * An open-addressing table (lib/simplehash.h) with each entry's hash kept
 * in it: the dynahash table it replaces (64-byte keys in chained buckets)
 * spent 9 % of the full re-key's CPU at 1M records walking its buckets
 * (issue 12, session 34); here a probe reads one slot of the entry array,
 * and the value's bytes only when the hashes are equal.
 */
#define NAME_CACHE_KEYLEN 64
#define NAME_CACHE_MAX 200000
#define NAME_CACHE_PROBE 2000

typedef struct NameCacheEntry
{
	const char *raw;			/* the value (in the cache's context) */
	char	   *norm;			/* NormName, NULL when empty */
	char	   *key;			/* NameKey, NULL when empty */
	uint32		hash;			/* hash_bytes of raw */
	bool		has_key;		/* key computed */
	char		status;			/* simplehash's */
} NameCacheEntry;

#define SH_PREFIX namecache
#define SH_ELEMENT_TYPE NameCacheEntry
#define SH_KEY_TYPE const char *
#define SH_KEY raw
#define SH_HASH_KEY(tb, k) hash_bytes((const unsigned char *) (k), strlen(k))
#define SH_EQUAL(tb, a, b) (strcmp((a), (b)) == 0)
#define SH_SCOPE static inline
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a) ((a)->hash)
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/*
 * TextArrayStrings
 *		The elements of a text[] as C strings (NULL for null elements).
 */
static char **
TextArrayStrings(ArrayType *a, int *n)
{
	Datum	   *elems;
	bool	   *nulls;
	char	  **out;
	int			i;

	if (ARR_NDIM(a) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("feature program arrays must be one-dimensional")));
	deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, n);
	out = palloc(sizeof(char *) * Max(*n, 1));
	for (i = 0; i < *n; i++)
		out[i] = nulls[i] ? NULL : TextDatumGetCString(elems[i]);
	return out;
}

/*
 * StrPtrCmp
 *		qsort and bsearch order of two C strings by bytes.
 */
static int
StrPtrCmp(const void *x, const void *y)
{
	return strcmp(*(char *const *) x, *(char *const *) y);
}

/*
 * ProgSignature
 *		The raw bytes of the program arguments, to tell whether a cached
 *		parse still applies.
 */
static bytea *
ProgSignature(FunctionCallInfo fcinfo, MemoryContext cxt)
{
	Size		total = VARHDRSZ;
	int			i;
	bytea	   *sig;
	char	   *p;
	static const int args[] = {0, 1, 2, 3, 7, 8, 9};

	/* an argument past PG_NARGS() (a declaration of 0.2.0 or before) is a NULL */
#define SIG_ARGNULL(k) ((k) >= PG_NARGS() || PG_ARGISNULL(k))
	for (i = 0; i < lengthof(args); i++)
		if (!SIG_ARGNULL(args[i]))
			total += VARSIZE_ANY(DatumGetPointer(PG_GETARG_DATUM(args[i]))) + sizeof(int32);
		else
			total += sizeof(int32);
	sig = MemoryContextAlloc(cxt, total);
	SET_VARSIZE(sig, total);
	p = VARDATA(sig);
	for (i = 0; i < lengthof(args); i++)
	{
		int32		len = SIG_ARGNULL(args[i]) ? -1 :
		(int32) VARSIZE_ANY(DatumGetPointer(PG_GETARG_DATUM(args[i])));

		memcpy(p, &len, sizeof(int32));
		p += sizeof(int32);
		if (len > 0)
		{
			memcpy(p, DatumGetPointer(PG_GETARG_DATUM(args[i])), len);
			p += len;
		}
	}
#undef SIG_ARGNULL
	return sig;
}

/*
 * ParseProgram
 *		Reads kinds int[], rules text[] ("A" or "N" for any_order or not,
 *		then ";pos:tr" per item), placeholder positions int[3], placeholder
 *		names text[] and the three suspicious-value lists (phones, e-mails,
 *		birth dates; each of the last four may be NULL), into prog.
 */
static void
ParseProgram(FeatProg *prog, ArrayType *kinds, ArrayType *rulearr, ArrayType *phpos,
			 ArrayType *phnames, ArrayType *susp_phones, ArrayType *susp_emails,
			 ArrayType *susp_dates)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i;
	char	  **rules;

	if (kinds == NULL || rulearr == NULL || phpos == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("feature program must not be null")));
	deconstruct_array(kinds, INT4OID, 4, true, TYPALIGN_INT, &elems, &nulls, &n);
	if (n > MATCH_MAX_COMP)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("feature program has %d comparisons, more than %d", n, MATCH_MAX_COMP)));
	prog->ncomp = n;
	prog->nfeat = 0;
	for (i = 0; i < n; i++)
	{
		int			k = nulls[i] ? 0 : DatumGetInt32(elems[i]);

		if (k < 1 || k > MATCH_FEAT_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("feature program kind %d is out of range", k)));
		prog->kind[i] = k;
		prog->nfeat += (k == MATCH_FEAT_NAME) ? 2 : 1;
	}
	if (prog->nfeat > MATCH_MAX_FEAT)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("feature program has more than %d feature columns", MATCH_MAX_FEAT)));

	rules = TextArrayStrings(rulearr, &n);
	if (n > MATCH_MAX_KEY_RULES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("feature program has %d blocking rules, more than %d", n, MATCH_MAX_KEY_RULES)));
	prog->nrules = n;
	for (i = 0; i < n; i++)
	{
		FeatRule   *r = &prog->rule[i];
		const char *p = rules[i];

		if (p == NULL || (p[0] != 'A' && p[0] != 'N'))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("feature program rule %d is malformed", i)));
		r->any_order = (p[0] == 'A');
		r->nitems = 0;
		p++;
		while (*p == ';')
		{
			char	   *end;
			long		pos,
						tr;

			pos = strtol(p + 1, &end, 10);
			if (*end != ':' || r->nitems >= MATCH_MAX_RULE_KEYS)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("feature program rule %d is malformed", i)));
			tr = strtol(end + 1, &end, 10);
			if (pos < 0 || pos >= prog->nfeat || tr < MATCH_TR_NONE || tr > MATCH_TR_BUILDER_MAX)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("feature program rule %d is out of range", i)));
			r->pos[r->nitems] = (int) pos;
			r->tr[r->nitems] = (int) tr;
			r->nitems++;
			p = end;
		}
		if (*p != '\0' || r->nitems == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("feature program rule %d is malformed", i)));
	}

	deconstruct_array(phpos, INT4OID, 4, true, TYPALIGN_INT, &elems, &nulls, &n);
	if (n != 3)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("feature program needs three placeholder positions")));
	for (i = 0; i < 3; i++)
	{
		prog->ph_pos[i] = nulls[i] ? -1 : DatumGetInt32(elems[i]);
		if (prog->ph_pos[i] >= prog->nfeat || prog->ph_pos[i] < -1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("feature program placeholder position is out of range")));
	}
	prog->nnames = 0;
	prog->names = NULL;
	if (phnames != NULL)
		prog->names = TextArrayStrings(phnames, &prog->nnames);
	for (i = 0; i < 3; i++)
	{
		ArrayType  *susp = i == 0 ? susp_phones : i == 1 ? susp_emails : susp_dates;

		prog->nsusp[i] = 0;
		prog->susp[i] = NULL;
		if (susp != NULL)
			prog->susp[i] = TextArrayStrings(susp, &prog->nsusp[i]);
	}

	/*
	 * the birth dates are looked up once a record (bsearch): NULL elements
	 * dropped, the rest sorted by bytes
	 */
	{
		int			m = 0;

		for (i = 0; i < prog->nsusp[2]; i++)
			if (prog->susp[2][i] != NULL)
				prog->susp[2][m++] = prog->susp[2][i];
		prog->nsusp[2] = m;
		if (m > 1)
			qsort(prog->susp[2], m, sizeof(char *), StrPtrCmp);
	}
}

/*
 * MatchFeatParse
 *		The feature program of the arrays _match_feature_program returns
 *		(names and suspicious lists may be NULL; the birth dates as
 *		YYYYMMDD), parsed in the current memory context, for MatchFeatRecord
 *		(match.h).
 */
MatchFeatState *
MatchFeatParse(ArrayType *kinds, ArrayType *rules, ArrayType *ph_pos, ArrayType *ph_names,
			   ArrayType *susp_phones, ArrayType *susp_emails, ArrayType *susp_dates,
			   int *nfeat, int *nrules)
{
	FeatProg   *prog = palloc0(sizeof(FeatProg));

	ParseProgram(prog, kinds, rules, ph_pos, ph_names, susp_phones, susp_emails, susp_dates);
	*nfeat = prog->nfeat;
	*nrules = prog->nrules;
	return (MatchFeatState *) prog;
}

/*
 * InList
 *		Whether s equals one of the non-null strings of list.
 */
static bool
InList(const char *s, char **list, int n)
{
	int			i;

	for (i = 0; i < n; i++)
		if (list[i] && strcmp(list[i], s) == 0)
			return true;
	return false;
}

/*
 * NullIfEmpty
 *		s, or NULL when it is empty.
 */
static char *
NullIfEmpty(char *s)
{
	return (s == NULL || *s == '\0') ? NULL : s;
}

/*
 * CallText1, CallRegexReplace
 *		A text function of PostgreSQL applied to a C string, under the
 *		default collation (as the SQL expressions are).
 */
static char *
CallText1(PGFunction f, const char *s)
{
	return TextDatumGetCString(DirectFunctionCall1Coll(f, DEFAULT_COLLATION_OID,
													   CStringGetTextDatum(s)));
}

static char *
CallRegexReplace(const char *s, const char *pattern)
{
	return TextDatumGetCString(DirectFunctionCall4Coll(textregexreplace, DEFAULT_COLLATION_OID,
													   CStringGetTextDatum(s),
													   CStringGetTextDatum(pattern),
													   CStringGetTextDatum(""),
													   CStringGetTextDatum("g")));
}

/*
 * NormName, NameKey
 *		_match_norm and _match_name_key: cdp.normalize_name and
 *		cdp.name_base_key with the same checks (length, encoding), NULL
 *		when empty.  The database is UTF-8 (the SQL side makes sure).
 */
static char *
NormName(const char *s)
{
	int			len = strlen(s);

	CdpTextCheck(s, len);
	return NullIfEmpty(CdpNormalizeName(s, len));
}

static char *
NameKey(const char *s)
{
	int			len = strlen(s);

	CdpTextCheck(s, len);
	return NullIfEmpty(CdpNameBaseKey(s, len));
}

/*
 * CachedName
 *		NormName(v) and, when want_key, NameKey(v) (into *key) of the value of
 *		comparison c, through the query's name cache.
 */
static char *
CachedName(FeatProg *prog, MemoryContext cxt, int c, const char *v, bool want_key, char **key)
{
	NameCacheEntry *e;
	bool		found;
	Size		len = strlen(v);
	uint32		h;
	char	   *norm;

	if (prog->nocache[c] || len >= NAME_CACHE_KEYLEN)
	{
		if (want_key)
			*key = NameKey(v);
		return NormName(v);
	}
	if (prog->cache == NULL)
		prog->cache = namecache_create(cxt, 1024, NULL);
	h = hash_bytes((const unsigned char *) v, len);
	prog->lookups[c]++;
	if (prog->cache->members < NAME_CACHE_MAX)
	{
		e = namecache_insert_hash(prog->cache, v, h, &found);
		/* the key the entry holds must outlive v */
		if (!found)
		{
			e->raw = MemoryContextStrdup(cxt, v);
			e->norm = NULL;
			e->key = NULL;
			e->has_key = false;
		}
	}
	else
	{
		e = namecache_lookup_hash(prog->cache, v, h);
		found = (e != NULL);
	}
	if (found)
		prog->hits[c]++;
	else if (prog->lookups[c] >= NAME_CACHE_PROBE && prog->hits[c] * 4 < prog->lookups[c])
		prog->nocache[c] = true;
	if (e == NULL)
	{
		if (want_key)
			*key = NameKey(v);
		return NormName(v);
	}
	/*
	 * computed in the caller's (per-record) context and only the results
	 * copied into the query's: the normaliser's scratch memory went into
	 * cxt and stayed there until the end of the query (every new value's,
	 * issue 12)
	 */
	if (!found)
	{
		norm = NormName(v);
		if (norm)
			e->norm = MemoryContextStrdup(cxt, norm);
	}
	if (want_key && !e->has_key)
	{
		char	   *nk = NameKey(v);

		if (nk)
			e->key = MemoryContextStrdup(cxt, nk);
		e->has_key = true;
	}
	if (want_key)
		*key = e->key;
	return e->norm;
}

/*
 * AsciiDigits
 *		The ASCII digits of s (regexp_replace(s, '\D', '', 'g') of an ASCII
 *		identifier's text form).
 */
static char *
AsciiDigits(const char *s)
{
	char	   *out = palloc(strlen(s) + 1);
	char	   *o = out;

	for (; *s; s++)
		if (*s >= '0' && *s <= '9')
			*o++ = *s;
	*o = '\0';
	return out;
}

/*
 * MultiValue
 *		phones or emails (the text forms of the array's n elements, NULL
 *		for a null one): each element cleaned, empty and suspicious ones
 *		dropped, the rest joined with U+001F in order; NULL when none.
 */
static char *
MultiValue(char **vals, int n, bool phones, char **susp, int nsusp)
{
	int			i;
	StringInfoData buf;
	bool		any = false;

	if (n == 0)
		return NULL;
	initStringInfo(&buf);
	for (i = 0; i < n; i++)
	{
		char	   *x;

		if (vals[i] == NULL)
			continue;
		if (phones)
		{
			/* the text form of cdp.phone is ASCII: \D removes all but 0-9 */
			bool		ascii = true;
			const char *c;

			for (c = vals[i]; *c; c++)
				if (IS_HIGHBIT_SET(*c))
					ascii = false;
			x = ascii ? AsciiDigits(vals[i]) : CallRegexReplace(vals[i], "\\D");
		}
		else
			x = CallText1(lower, CallText1(btrim1, vals[i]));
		if (*x == '\0' || InList(x, susp, nsusp))
			continue;
		if (any)
			appendStringInfoChar(&buf, MATCH_VALUE_SEP);
		appendStringInfoString(&buf, x);
		any = true;
	}
	return any ? buf.data : NULL;
}

/*
 * CharPrefix
 *		The first n characters of s (left(s, n)).
 */
static char *
CharPrefix(const char *s, int n)
{
	const char *p = s;
	int			i;

	for (i = 0; i < n && *p; i++)
		p += pg_mblen(p);
	return pnstrdup(s, p - s);
}

/*
 * CharSuffix
 *		The last n characters of s (right(s, n)).
 */
static char *
CharSuffix(const char *s, int n)
{
	int			nchars = pg_mbstrlen(s);
	const char *p = s;
	int			i;

	for (i = 0; i < nchars - n; i++)
		p += pg_mblen(p);
	return pstrdup(p);
}

/*
 * KeyPart
 *		One item of a blocking rule: the first value of the feature column
 *		(split_part(f, U+001F, 1)) through the transform, NULL when empty.
 */
static char *
KeyPart(const char *f, int tr)
{
	const char *sep;
	char	   *e;

	if (f == NULL)
		return NULL;
	sep = strchr(f, MATCH_VALUE_SEP);
	e = sep ? pnstrdup(f, sep - f) : pstrdup(f);
	switch (tr)
	{
		case MATCH_TR_YEAR:
			e = CharPrefix(e, 4);
			break;
		case MATCH_TR_MONTH_DAY:
			{
				/* substr(e, 5, 4): characters 5 to 8 */
				const char *p = e;
				int			i;

				for (i = 0; i < 4 && *p; i++)
					p += pg_mblen(p);
				e = CharPrefix(p, 4);
				break;
			}
		case MATCH_TR_INITIAL:
			e = CharPrefix(e, 1);
			break;
		case MATCH_TR_LAST7:
			e = CharSuffix(e, 7);
			break;
		case MATCH_TR_PREFIX3:
			e = CharPrefix(e, 3);
			break;
		default:
			break;
	}
	return NullIfEmpty(e);
}

/*
 * MatchTextArrayOf
 *		A text[] of n C strings, NULL entries as nulls (match.h).
 */
Datum
MatchTextArrayOf(char **v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *nulls = palloc(sizeof(bool) * Max(n, 1));
	int			dims[1] = {n};
	int			lbs[1] = {1};
	int			i;

	for (i = 0; i < n; i++)
	{
		nulls[i] = (v[i] == NULL);
		d[i] = nulls[i] ? (Datum) 0 : CStringGetTextDatum(v[i]);
	}
	return PointerGetDatum(construct_md_array(d, nulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * MatchFeatRecord
 *		One record's features into feat (nfeat entries, NULL for none) and
 *		blocking keys into bk (nrules entries), returning its flags: raw
 *		holds the nraw raw values of _match_feature_program's raws (NULL
 *		entries for NULL), phones and emails the text forms of the record's
 *		arrays (nphones, nemails entries; 0 for a NULL array).  The name
 *		cache lives in cache_cxt, which must outlive state's use; everything
 *		else is allocated in the current context.
 */
int32
MatchFeatRecord(MatchFeatState *state, MemoryContext cache_cxt, char **raw, int nraw,
				char **phones, int nphones, char **emails, int nemails, char **feat, char **bk)
{
	FeatProg   *prog = (FeatProg *) state;
	char	  **multi[2] = {phones, emails};
	int			nmulti[2] = {nphones, nemails};
	int			c,
				f = 0,
				r;
	int32		flags = 0;

	for (c = 0; c < prog->ncomp; c++)
	{
		char	   *v = (c < nraw) ? raw[c] : NULL;

		switch (prog->kind[c])
		{
			case MATCH_FEAT_NAME:
				feat[f] = feat[f + 1] = NULL;
				if (v)
					feat[f] = CachedName(prog, cache_cxt, c, v, true, &feat[f + 1]);
				f += 2;
				break;
			case MATCH_FEAT_NORM:
				feat[f++] = v ? CachedName(prog, cache_cxt, c, v, false, NULL) : NULL;
				break;
			case MATCH_FEAT_ASIS:

				/*
				 * a birth date (YYYYMMDD) or a sex initial: a suspicious
				 * birth date is no value (a sex initial is never eight
				 * digits)
				 */
				if (v && prog->nsusp[2] > 0 &&
					bsearch(&v, prog->susp[2], prog->nsusp[2], sizeof(char *), StrPtrCmp) != NULL)
					v = NULL;
				feat[f++] = v;
				break;
			case MATCH_FEAT_PHONES:
			case MATCH_FEAT_EMAILS:
				{
					int			s = prog->kind[c] == MATCH_FEAT_PHONES ? 0 : 1;

					feat[f++] = MultiValue(multi[s], nmulti[s], s == 0, prog->susp[s], prog->nsusp[s]);
					break;
				}
			case MATCH_FEAT_DIGITS:
				feat[f++] = v ? NullIfEmpty(AsciiDigits(v)) : NULL;
				break;
			case MATCH_FEAT_IDCOL:
				feat[f++] = v ? CallText1(upper, CallRegexReplace(v, "[\\s-]")) : NULL;
				break;
			case MATCH_FEAT_ID:
				feat[f++] = v ? NullIfEmpty(CallText1(upper, CallRegexReplace(v, "[\\s-]"))) : NULL;
				break;
			case MATCH_FEAT_EXACT:
				feat[f++] = v ? NullIfEmpty(CallText1(btrim1, v)) : NULL;
				break;
			case MATCH_FEAT_PHONE1:
				feat[f++] = v ? NullIfEmpty(CallRegexReplace(v, "\\D")) : NULL;
				break;
			case MATCH_FEAT_EMAIL1:
				feat[f++] = v ? NullIfEmpty(CallText1(lower, CallText1(btrim1, v))) : NULL;
				break;
		}
	}
	Assert(f == prog->nfeat);

	/* blocking keys: "r<rule>:" and the parts joined by '|', NULL when a part is missing */
	for (r = 0; r < prog->nrules; r++)
	{
		FeatRule   *rule = &prog->rule[r];
		char	   *parts[MATCH_MAX_RULE_KEYS];
		Size		plen[MATCH_MAX_RULE_KEYS];
		Size		len;
		char	   *key,
				   *p;
		int			i;

		StaticAssertStmt(MATCH_MAX_KEY_RULES <= 100, "a rule number has at most two digits");

		bk[r] = NULL;
		for (i = 0; i < rule->nitems; i++)
			if ((parts[i] = KeyPart(feat[rule->pos[i]], rule->tr[i])) == NULL)
				break;
		if (i < rule->nitems)
			continue;
		if (rule->any_order)
			qsort(parts, rule->nitems, sizeof(char *), StrPtrCmp);	/* COLLATE "C" */

		/*
		 * one exact allocation per key, the rule number written by hand: a
		 * StringInfo (1 kB each) and appendStringInfo's printf for the
		 * prefix were a tenth of this function at 1M records (issue 12,
		 * session 29)
		 */
		len = 5;				/* "r" + at most two digits + ":" + NUL */
		for (i = 0; i < rule->nitems; i++)
		{
			plen[i] = strlen(parts[i]);
			len += plen[i] + 1;
		}
		p = key = palloc(len);
		*p++ = 'r';
		if (r >= 10)
			*p++ = '0' + r / 10;
		*p++ = '0' + r % 10;
		*p++ = ':';
		for (i = 0; i < rule->nitems; i++)
		{
			if (i > 0)
				*p++ = '|';
			memcpy(p, parts[i], plen[i]);
			p += plen[i];
		}
		*p = '\0';
		bk[r] = key;
	}

	/* a placeholder: no family and no given name, or a placeholder name */
	if (prog->ph_pos[0] >= 0 || prog->ph_pos[1] >= 0)
	{
		const char *fam = prog->ph_pos[0] >= 0 ? feat[prog->ph_pos[0]] : NULL;
		const char *giv = prog->ph_pos[1] >= 0 ? feat[prog->ph_pos[1]] : NULL;

		if (fam == NULL && giv == NULL)
			flags = MATCH_REC_PLACEHOLDER;
		else
		{
			int			i;

			for (i = 0; i < 3; i++)
				if (prog->ph_pos[i] >= 0 && feat[prog->ph_pos[i]] &&
					InList(feat[prog->ph_pos[i]], prog->names, prog->nnames))
					flags = MATCH_REC_PLACEHOLDER;
		}
	}

	return flags;
}

/*
 * cdp_match_features
 *		_match_features(kinds int[], rules text[], ph_pos int[], ph_names
 *		text[], raw text[], phones text[], emails text[], susp_phones text[],
 *		susp_emails text[], susp_dates text[], OUT flags int, OUT feat text[],
 *		OUT bk text[]) (the declarations of 0.2.0 and before have no
 *		susp_dates: none then):
 *		one record's features (internal; _match_feature_query calls it).
 */
Datum
cdp_match_features(PG_FUNCTION_ARGS)
{
	FeatProg   *prog = (FeatProg *) fcinfo->flinfo->fn_extra;
	bytea	   *sig;
	TupleDesc	td;
	char	   *feat[MATCH_MAX_FEAT];
	char	   *bk[MATCH_MAX_KEY_RULES];
	char	  **raw = NULL;
	char	  **multi[2] = {NULL, NULL};
	int			nmulti[2] = {0, 0};
	int			nraw = 0;
	int32		flags;
	Datum		values[3];
	bool		isnull[3] = {false, false, false};

	CdpCheckDatabaseUtf8();

	/* parse the program once per query (it is a constant of the query) */
	sig = ProgSignature(fcinfo, CurrentMemoryContext);
	if (prog == NULL || VARSIZE(prog->sig) != VARSIZE(sig) ||
		memcmp(prog->sig, sig, VARSIZE(sig)) != 0)
	{
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

		prog = palloc0(sizeof(FeatProg));
		ParseProgram(prog,
					 PG_ARGISNULL(0) ? NULL : PG_GETARG_ARRAYTYPE_P(0),
					 PG_ARGISNULL(1) ? NULL : PG_GETARG_ARRAYTYPE_P(1),
					 PG_ARGISNULL(2) ? NULL : PG_GETARG_ARRAYTYPE_P(2),
					 PG_ARGISNULL(3) ? NULL : PG_GETARG_ARRAYTYPE_P(3),
					 PG_ARGISNULL(7) ? NULL : PG_GETARG_ARRAYTYPE_P(7),
					 PG_ARGISNULL(8) ? NULL : PG_GETARG_ARRAYTYPE_P(8),
					 (PG_NARGS() < 10 || PG_ARGISNULL(9)) ? NULL : PG_GETARG_ARRAYTYPE_P(9));
		prog->sig = ProgSignature(fcinfo, fcinfo->flinfo->fn_mcxt);

		/*
		 * the result type is fixed by the OUT arguments: read from the
		 * catalog and blessed once per query, not per record (issue 12)
		 */
		if (get_call_result_type(fcinfo, NULL, &td) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "_match_features must return a composite");
		prog->td = BlessTupleDesc(CreateTupleDescCopy(td));
		MemoryContextSwitchTo(old);
		fcinfo->flinfo->fn_extra = prog;
	}
	pfree(sig);
	td = prog->td;

	if (!PG_ARGISNULL(4))
		raw = TextArrayStrings(PG_GETARG_ARRAYTYPE_P(4), &nraw);
	for (int s = 0; s < 2; s++)
		if (!PG_ARGISNULL(5 + s))
			multi[s] = TextArrayStrings(PG_GETARG_ARRAYTYPE_P(5 + s), &nmulti[s]);
	flags = MatchFeatRecord((MatchFeatState *) prog, fcinfo->flinfo->fn_mcxt, raw, nraw,
							multi[0], nmulti[0], multi[1], nmulti[1], feat, bk);

	values[0] = Int32GetDatum(flags);
	values[1] = MatchTextArrayOf(feat, prog->nfeat);
	values[2] = MatchTextArrayOf(bk, prog->nrules);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(td, values, isnull)));
}
