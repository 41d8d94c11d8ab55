/*-------------------------------------------------------------------------
 *
 * src/match_compile.c
 *		The settings compilers of the matching family (issue 11): an
 *		expanded settings document (_match_expand) becomes the packed
 *		program the scoring kernel decodes (_match_program, match_walk.c)
 *		and the feature program of the C feature builder
 *		(_match_feature_program, match_features.c).  Every code and limit
 *		they write comes from match.h, the header the kernel reads them
 *		with, so no number the kernel reads is defined in SQL; _match_expand
 *		and the SQL form of _match_feature_query ask _match_constants() and
 *		_match_op_code() for the ones they need.
 *
 *		Two layers.  The core (MatchOpCode ... MatchCompileFeatures) works
 *		on a MatchDoc, the document with every attr reference resolved to a
 *		comparison number; it calls nothing of the server but palloc and
 *		ereport, so the fuzz harness runs it (test/fuzz/fuzz_compile.c).
 *		The SQL entry points read the jsonb into a MatchDoc (ReadDoc),
 *		resolving attr aliases as ingest writes them (_match_attr_column),
 *		and do what needs the server: numeric logarithms, SQL quoting,
 *		name normalisation.
 *
 *		Errors in a document are those of _match_expand: SQLSTATE 22023,
 *		"invalid matching settings at "<JSON path>"", a detail sentence and
 *		a hint.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "cdp.h"
#include "cdp_jsonb.h"
#include "match.h"
#include "text.h"

/* every document's feature columns fit the kernel's: a name takes two */
StaticAssertDecl(2 * MATCH_MAX_COMP <= MATCH_MAX_FEAT, "MATCH_MAX_FEAT must hold two columns per comparison");

/* the parameters of a weight are floored at this (SQL: GREATEST(m, 1e-6)) */
#define MATCH_PARAM_FLOOR	1e-6

#define MATCH_DOC_HINT		"See doc/matching.md for the settings document."

PG_FUNCTION_INFO_V1(cdp_match_op_code);
PG_FUNCTION_INFO_V1(cdp_match_attr_column);
PG_FUNCTION_INFO_V1(cdp_match_constants);
PG_FUNCTION_INFO_V1(cdp_match_layout);
PG_FUNCTION_INFO_V1(cdp_match_compile_program);
PG_FUNCTION_INFO_V1(cdp_match_feature_program);

/* comparator names, indexed by MATCH_CMP_* */
static const char *const match_comparators[MATCH_CMP_MAX + 1] = {
	NULL, "name", "string", "date", "phone", "email", "id", "exact"
};

#define CMPBIT(c)	(1 << (c))
#define CMP_ANY		(-1)		/* every comparator, an unknown one too */
#define CMP_TEXTS	(CMPBIT(MATCH_CMP_NAME) | CMPBIT(MATCH_CMP_STRING) | CMPBIT(MATCH_CMP_EMAIL))
#define CMP_EDITS	(CMP_TEXTS | CMPBIT(MATCH_CMP_ID) | CMPBIT(MATCH_CMP_DATE) | CMPBIT(MATCH_CMP_PHONE))

/* level predicates: the name in a settings document and the comparators allowing it */
static const struct
{
	const char *name;
	int			op;
	int			cmps;
}			match_ops[] = {
	{"exact", MATCH_OP_EXACT, CMP_ANY},
	{"key", MATCH_OP_KEY, CMPBIT(MATCH_CMP_NAME)},
	{"jw", MATCH_OP_JW, CMP_TEXTS},
	{"osa", MATCH_OP_OSA, CMP_EDITS},
	{"day_month_swapped", MATCH_OP_DMSWAP, CMPBIT(MATCH_CMP_DATE)},
	{"same_year", MATCH_OP_SAMEYEAR, CMPBIT(MATCH_CMP_DATE)},
	{"last7", MATCH_OP_LAST7, CMPBIT(MATCH_CMP_PHONE) | CMPBIT(MATCH_CMP_ID)},
	{"initial", MATCH_OP_INITIAL, CMPBIT(MATCH_CMP_NAME) | CMPBIT(MATCH_CMP_STRING)},
	{"prefix", MATCH_OP_PREFIX, CMP_EDITS},
	{"swapped", MATCH_OP_SWAPPED, CMPBIT(MATCH_CMP_NAME)},
	{"cross", MATCH_OP_CROSS, CMPBIT(MATCH_CMP_NAME)},
};

/* blocking key transforms: the part after the dot of "attr.transform" */
static const struct
{
	const char *name;
	int			tr;
}			match_transforms[] = {
	{"", MATCH_TR_NONE}, {"key", MATCH_TR_KEY}, {"year", MATCH_TR_YEAR},
	{"month_day", MATCH_TR_MONTH_DAY}, {"initial", MATCH_TR_INITIAL},
	{"last7", MATCH_TR_LAST7}, {"prefix3", MATCH_TR_PREFIX3},
	{"phonetic", MATCH_TR_PHONETIC},
};

/*
 * Attr aliases: the cdp.record column (or handles key) a settings document
 * may name by the CSV header ingest accepts (src/ingest_attrs.c,
 * attr_aliases); compared after lower(), anything else is taken as is.
 */
static const struct
{
	const char *alias;
	const char *column;
}			match_attr_aliases[] = {
	{"family_name", "family_name"}, {"last_name", "family_name"}, {"surname", "family_name"},
	{"familyname", "family_name"}, {"lastname", "family_name"}, {"фамилия", "family_name"},
	{"given_name", "given_name"}, {"first_name", "given_name"}, {"firstname", "given_name"},
	{"givenname", "given_name"}, {"имя", "given_name"},
	{"patronymic", "patronymic"}, {"middle_name", "patronymic"}, {"middlename", "patronymic"},
	{"отчество", "patronymic"},
	{"birth_date", "birth_date"}, {"birthdate", "birth_date"}, {"date_of_birth", "birth_date"},
	{"dob", "birth_date"}, {"birthday", "birth_date"}, {"дата_рождения", "birth_date"},
	{"sex", "sex"}, {"gender", "sex"}, {"пол", "sex"},
	{"phones", "phones"}, {"phone", "phones"}, {"mobile", "phones"}, {"mobile_phone", "phones"},
	{"tel", "phones"}, {"telephone", "phones"}, {"телефон", "phones"},
	{"emails", "emails"}, {"email", "emails"}, {"e_mail", "emails"}, {"e-mail", "emails"},
	{"snils", "snils"}, {"снилс", "snils"},
	{"oms", "oms"}, {"oms_policy", "oms"}, {"polis", "oms"}, {"полис", "oms"},
	{"address", "address"}, {"адрес", "address"},
	{"city", "city"}, {"town", "city"}, {"город", "city"},
	{"vkontakte", "vk"}, {"tg", "telegram"}, {"odnoklassniki", "ok"},
};

/* the rule lists of "rules", indexed by MATCH_LIST_* */
static const char *const match_lists[MATCH_NLISTS] = {
	"same_id_match", "different_id_never", "disagree_never"
};

/*
 * DocError
 *		Raises the settings error of _match_fail (SQL): 22023 naming the
 *		JSON path, detail and hint sentences.
 */
static void
pg_attribute_noreturn()
DocError(const char *path, const char *detail, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid matching settings at \"%s\"", path),
			 errdetail_internal("%s", detail),
			 errhint("%s", hint ? hint : MATCH_DOC_HINT)));
}

/*
 * MatchOpCode
 *		The MATCH_OP_* of a level predicate allowed for comparator cmp
 *		(MATCH_CMP_*, 0 when unknown), or 0.
 */
int
MatchOpCode(const char *op, int cmp)
{
	int			i;

	for (i = 0; i < lengthof(match_ops); i++)
		if (strcmp(op, match_ops[i].name) == 0)
			return (match_ops[i].cmps == CMP_ANY ||
					(cmp > 0 && (match_ops[i].cmps & CMPBIT(cmp)) != 0)) ? match_ops[i].op : 0;
	return 0;
}

/*
 * MatchComparatorCode
 *		The MATCH_CMP_* of a comparator name, or 0.
 */
int
MatchComparatorCode(const char *name)
{
	int			c;

	for (c = 1; c <= MATCH_CMP_MAX; c++)
		if (strcmp(name, match_comparators[c]) == 0)
			return c;
	return 0;
}

/*
 * MatchTransformCode
 *		The MATCH_TR_* of a blocking key transform name, or -1.
 */
int
MatchTransformCode(const char *name)
{
	int			i;

	for (i = 0; i < lengthof(match_transforms); i++)
		if (strcmp(name, match_transforms[i].name) == 0)
			return match_transforms[i].tr;
	return -1;
}

/*
 * MatchDocLayout
 *		The 0-based feature column of each comparison's value (fpos, at
 *		least MATCH_MAX_COMP entries): one column per comparison, two for a
 *		name (value, key).  Returns the number of columns.
 */
int
MatchDocLayout(const MatchDoc *doc, int *fpos)
{
	int			c,
				f = 0;

	for (c = 0; c < doc->ncomp; c++)
	{
		fpos[c] = f;
		f += (doc->comp[c].cmp == MATCH_CMP_NAME) ? 2 : 1;
	}
	return f;
}

/*
 * MatchDocCheck
 *		Checks what the compilers rely on against the limits of match.h:
 *		counts, codes, references and parameters.  _match_expand checks the
 *		same of a document first, with the same errors; this is for callers
 *		that skip it.
 */
void
MatchDocCheck(const MatchDoc *doc)
{
	int			c,
				l,
				r,
				k;

	if (doc->ncomp < 1 || doc->ncomp > MATCH_MAX_COMP)
		DocError("$.comparisons",
				 psprintf("The comparisons must be an array of 1 to %d comparisons.", MATCH_MAX_COMP), NULL);
	if (doc->nrules < 1 || doc->nrules > MATCH_MAX_RULES)
		DocError("$.blocking",
				 psprintf("The blocking rules must be an array of 1 to %d rules.", MATCH_MAX_RULES), NULL);
	if (!(doc->lambda > 0 && doc->lambda < 1))
		DocError("$.lambda", "The lambda (prior match probability of a random pair) must be strictly between 0 and 1.", NULL);
	for (c = 0; c < doc->ncomp; c++)
	{
		const MatchDocComp *comp = &doc->comp[c];

		if (comp->cmp < 1 || comp->cmp > MATCH_CMP_MAX)
			DocError(psprintf("$.comparisons[%d].comparator", c), "The comparator is unknown.",
					 "Use one of name, string, date, phone, email, id, exact.");
		if (comp->nlev < 1 || comp->nlev > MATCH_MAX_LEVELS)
			DocError(psprintf("$.comparisons[%d].levels", c),
					 psprintf("The levels must be an array of 1 to %d levels (\"else\" is implicit).", MATCH_MAX_LEVELS), NULL);
		for (l = 0; l < comp->nlev; l++)
		{
			const MatchDocLevel *lev = &comp->lev[l];
			int			i;
			bool		allowed = false;

			for (i = 0; i < lengthof(match_ops); i++)
				if (match_ops[i].op == lev->op)
					allowed = match_ops[i].cmps == CMP_ANY || (match_ops[i].cmps & CMPBIT(comp->cmp)) != 0;
			if (!allowed)
				DocError(psprintf("$.comparisons[%d].levels[%d]", c, l),
						 psprintf("The level %d is unknown or not allowed for comparator \"%s\".",
								  lev->op, match_comparators[comp->cmp]), NULL);
			/* the kernel takes osa's and prefix's argument as an int */
			if (!isfinite(lev->arg) ||
				(lev->op == MATCH_OP_JW && !(lev->arg > 0 && lev->arg <= 1)) ||
				(lev->op == MATCH_OP_OSA && !(lev->arg >= 0 && lev->arg <= MATCH_MAX_OSA)) ||
				(lev->op == MATCH_OP_PREFIX && !(lev->arg >= 1 && lev->arg <= MATCH_MAX_PREFIX)))
				DocError(psprintf("$.comparisons[%d].levels[%d]", c, l),
						 psprintf("The level's argument %g is out of range: jw takes \"ge\" in (0, 1], osa \"le\" from 0 to %d, prefix \"n\" from 1 to %d.",
								  lev->arg, MATCH_MAX_OSA, MATCH_MAX_PREFIX), NULL);
			if ((lev->op == MATCH_OP_SWAPPED || lev->op == MATCH_OP_CROSS) &&
				(lev->with < 0 || lev->with >= doc->ncomp || lev->with == c ||
				 doc->comp[lev->with].cmp != MATCH_CMP_NAME))
				DocError(psprintf("$.comparisons[%d].levels[%d].with", c, l),
						 "A swapped or cross level needs \"with\", another compared attr of comparator \"name\".", NULL);
		}
		/* probabilities: so that every weight is finite, within +-log2(1 / MATCH_PARAM_FLOOR) */
		for (l = 0; l <= comp->nlev; l++)
			if (!(comp->m[l] >= 0 && comp->m[l] <= 1 && comp->u[l] >= 0 && comp->u[l] <= 1))
				DocError(psprintf("$.comparisons[%d]", c), "The m and u parameters must be probabilities from 0 to 1.", NULL);
	}
	if (doc->nlookup < 0 || doc->nlookup > MATCH_MAX_LOOKUP_RULES)
		DocError("$.lookup_blocking",
				 psprintf("The lookup_blocking rules must be an array of at most %d rules.", MATCH_MAX_LOOKUP_RULES), NULL);
	for (r = 0; r < doc->nrules + doc->nlookup; r++)
	{
		const MatchDocRule *rule = &doc->rule[r];

		if (rule->nkeys < (rule->any_order ? 2 : 1) || rule->nkeys > MATCH_MAX_RULE_KEYS)
			DocError(psprintf("$.blocking[%d]", r),
					 psprintf("A blocking rule must be an array of 1 to %d keys.", MATCH_MAX_RULE_KEYS), NULL);
		for (k = 0; k < rule->nkeys; k++)
		{
			if (rule->comp[k] < 0 || rule->comp[k] >= doc->ncomp ||
				rule->tr[k] < MATCH_TR_NONE || rule->tr[k] > MATCH_TR_PHONETIC)
				DocError(psprintf("$.blocking[%d][%d]", r, k + (rule->any_order ? 1 : 0)),
						 "The blocking key does not name a compared attr with a known transform.", NULL);
			if ((rule->tr[k] == MATCH_TR_KEY || rule->tr[k] == MATCH_TR_PHONETIC) &&
				doc->comp[rule->comp[k]].cmp != MATCH_CMP_NAME)
				DocError(psprintf("$.blocking[%d][%d]", r, k + (rule->any_order ? 1 : 0)),
						 "The \".key\" and \".phonetic\" transforms need an attr with the \"name\" comparator.", NULL);
		}
	}
}

/*
 * MatchEvidenceClass
 *		What an agreement on comparison comp says beyond the names (the
 *		evidence floor, issue 12): MATCH_PROGF_EVID for a date, an
 *		identifier, a phone, an e-mail, an address or an exact attr other
 *		than sex (with MATCH_PROGF_EVID_ID for an identifier, a phone or an
 *		e-mail); MATCH_PROGF_EVID_RARE for another string compared with
 *		term frequencies (a place, an occupation: evidence only when the
 *		value agreed on is rare); 0 for names, sex and strings without
 *		term frequencies.
 */
static int
MatchEvidenceClass(const MatchDocComp *comp)
{
	switch (comp->cmp)
	{
		case MATCH_CMP_DATE:
			return MATCH_PROGF_EVID;
		case MATCH_CMP_ID:
		case MATCH_CMP_PHONE:
		case MATCH_CMP_EMAIL:
			return MATCH_PROGF_EVID | MATCH_PROGF_EVID_ID;
		case MATCH_CMP_EXACT:
			return strcmp(comp->attr, "sex") == 0 ? 0 : MATCH_PROGF_EVID;
		case MATCH_CMP_STRING:
			if (strcmp(comp->attr, "address") == 0)
				return MATCH_PROGF_EVID;
			return comp->tf ? MATCH_PROGF_EVID_RARE : 0;
		default:
			return 0;
	}
}

/*
 * MatchCompileProgram
 *		The packed program of doc (layout in match.h); *n gets its length.
 *		log2fn computes the prior and the weights.
 */
float8 *
MatchCompileProgram(const MatchDoc *doc, MatchLog2Fn log2fn, int *n)
{
	int			fpos[MATCH_MAX_COMP];
	int			nfeat,
				nlist[MATCH_NLISTS] = {0, 0, 0},
				c,
				l,
				i,
				pos;
	float8	   *p;

	MatchDocCheck(doc);
	nfeat = MatchDocLayout(doc, fpos);
	for (i = 0; i < MATCH_NLISTS; i++)
		for (c = 0; c < doc->ncomp; c++)
			nlist[i] += doc->inlist[i][c] ? 1 : 0;
	*n = MATCH_PROG_HEADER + doc->ncomp * MATCH_PROG_STRIDE + nlist[0] + nlist[1] + nlist[2];
	p = palloc0(sizeof(float8) * *n);
	p[0] = doc->ncomp;
	p[1] = nfeat;
	p[2] = doc->nrules;
	p[3] = log2fn(doc->lambda / (1 - doc->lambda));
	for (i = 0; i < MATCH_NLISTS; i++)
		p[4 + i] = nlist[i];
	pos = MATCH_PROG_HEADER;
	for (c = 0; c < doc->ncomp; c++, pos += MATCH_PROG_STRIDE)
	{
		const MatchDocComp *comp = &doc->comp[c];

		p[pos] = fpos[c];
		p[pos + 1] = comp->nlev;
		p[pos + 2] = (comp->tf ? MATCH_PROGF_TF : 0) | (comp->cmp == MATCH_CMP_NAME ? MATCH_PROGF_NAME : 0) |
			MatchEvidenceClass(comp) | (doc->no_floor ? 0 : MATCH_PROGF_FLOOR) |
			(doc->rare_name ? MATCH_PROGF_RARE_NAME : 0);
		p[pos + 3] = Max(comp->u[0], MATCH_PARAM_FLOOR);
		for (l = 0; l < comp->nlev; l++)
		{
			const MatchDocLevel *lev = &comp->lev[l];

			p[pos + 4 + l] = lev->op;
			/* swapped, cross: the other name's value column; its key column follows */
			p[pos + 4 + MATCH_MAX_LEVELS + l] =
				(lev->op == MATCH_OP_SWAPPED || lev->op == MATCH_OP_CROSS) ? fpos[lev->with] : lev->arg;
		}
		for (l = 0; l <= comp->nlev; l++)
			p[pos + 4 + 2 * MATCH_MAX_LEVELS + l] =
				log2fn(Max(comp->m[l], MATCH_PARAM_FLOOR) / Max(comp->u[l], MATCH_PARAM_FLOOR));
	}
	for (i = 0; i < MATCH_NLISTS; i++)
		for (c = 0; c < doc->ncomp; c++)
			if (doc->inlist[i][c])
				p[pos++] = c;
	Assert(pos == *n);
	return p;
}

/*
 * FeatureKind
 *		The MATCH_FEAT_* of comparison comp, or 0 when only the SQL form of
 *		_match_feature_query computes it (a date comparator on a text attr,
 *		a name comparator on a typed column).
 */
static int
FeatureKind(const MatchDocComp *comp)
{
	static const char *const text_cols[] = {"family_name", "given_name", "patronymic", "address", "city"};
	static const char *const typed_cols[] = {"sex", "birth_date", "phones", "emails", "snils", "oms"};
	int			i;

	for (i = 0; i < lengthof(text_cols); i++)
		if (strcmp(comp->attr, text_cols[i]) == 0)
			return comp->cmp == MATCH_CMP_DATE ? 0 :
				comp->cmp == MATCH_CMP_ID ? MATCH_FEAT_IDCOL :
				comp->cmp == MATCH_CMP_NAME ? MATCH_FEAT_NAME : MATCH_FEAT_NORM;
	for (i = 0; i < lengthof(typed_cols); i++)
		if (strcmp(comp->attr, typed_cols[i]) == 0)
		{
			if (comp->cmp == MATCH_CMP_NAME)
				return 0;
			if (i < 2)
				return MATCH_FEAT_ASIS;
			if (i < 4)
				return i == 2 ? MATCH_FEAT_PHONES : MATCH_FEAT_EMAILS;
			return MATCH_FEAT_DIGITS;
		}
	/* a key of extra or handles */
	switch (comp->cmp)
	{
		case MATCH_CMP_DATE:
			return 0;
		case MATCH_CMP_PHONE:
			return MATCH_FEAT_PHONE1;
		case MATCH_CMP_EMAIL:
			return MATCH_FEAT_EMAIL1;
		case MATCH_CMP_ID:
			return MATCH_FEAT_ID;
		case MATCH_CMP_EXACT:
			return MATCH_FEAT_EXACT;
		case MATCH_CMP_NAME:
			return MATCH_FEAT_NAME;
		default:
			return MATCH_FEAT_NORM;
	}
}

/*
 * MatchCompileFeatures
 *		The feature program of doc: kinds, rules ("A" or "N", then
 *		";<0-based column>:<MATCH_TR_*>" per key) and the placeholder name
 *		columns.  False when doc needs what only the SQL form computes (see
 *		FeatureKind, a phonetic key).
 */
bool
MatchCompileFeatures(const MatchDoc *doc, MatchFeatProg *fp)
{
	static const char *const names[3] = {"family_name", "given_name", "patronymic"};
	int			fpos[MATCH_MAX_COMP];
	int			c,
				r,
				k,
				i;

	MatchDocCheck(doc);
	MatchDocLayout(doc, fpos);
	memset(fp, 0, sizeof(*fp));
	for (c = 0; c < doc->ncomp; c++)
		if ((fp->kind[c] = FeatureKind(&doc->comp[c])) == 0)
			return false;
	/* the keys of every rule, the lookup rules' after the walked ones' */
	for (r = 0; r < doc->nrules + doc->nlookup; r++)
	{
		const MatchDocRule *rule = &doc->rule[r];
		char	   *o = fp->rule[r];
		char	   *end = o + sizeof(fp->rule[r]);

		*o++ = rule->any_order ? 'A' : 'N';
		for (k = 0; k < rule->nkeys; k++)
		{
			int			col = fpos[rule->comp[k]];
			int			tr = rule->tr[k];

			if (tr == MATCH_TR_PHONETIC)
				return false;
			if (tr == MATCH_TR_KEY)
			{
				col++;
				tr = MATCH_TR_NONE;
			}
			o += snprintf(o, end - o, ";%d:%d", col, tr);
		}
	}
	for (i = 0; i < 3; i++)
	{
		fp->ph_pos[i] = -1;
		for (c = 0; c < doc->ncomp && fp->ph_pos[i] < 0; c++)
			if (doc->comp[c].cmp == MATCH_CMP_NAME && strcmp(doc->comp[c].attr, names[i]) == 0)
				fp->ph_pos[i] = fpos[c];
	}
	return true;
}

/* ---------------------------------------------------------------- reading the jsonb */

/*
 * AttrColumn
 *		_match_attr_column: the column an attr alias names (lower-case
 *		comparison under the database collation, as SQL lower()), or attr.
 */
static char *
AttrColumn(const char *attr)
{
	char	   *low = TextDatumGetCString(DirectFunctionCall1Coll(lower, DEFAULT_COLLATION_OID,
																  CStringGetTextDatum(attr)));
	int			i;

	for (i = 0; i < lengthof(match_attr_aliases); i++)
		if (strcmp(low, match_attr_aliases[i].alias) == 0)
			return pstrdup(match_attr_aliases[i].column);
	return pstrdup(attr);
}

/*
 * JsonGet, JsonIth
 *		A member of an object container by key, an element of an array
 *		container by index; false (and a JSON null) when there is none.
 */
static bool
JsonGet(JsonbContainer *obj, const char *key, JsonbValue *out)
{
	memset(out, 0, sizeof(*out));
	out->type = jbvNull;
	if (obj == NULL || !JsonContainerIsObject(obj))
		return false;
	return getKeyJsonValueFromContainer(obj, key, strlen(key), out) != NULL;
}

static bool
JsonIth(JsonbContainer *arr, int i, JsonbValue *out)
{
	JsonbValue *v;

	memset(out, 0, sizeof(*out));
	out->type = jbvNull;
	if (arr == NULL || !JsonContainerIsArray(arr))
		return false;
	v = getIthJsonbValueFromContainer(arr, i);
	if (v == NULL)
		return false;
	*out = *v;
	return true;
}

/*
 * JsonArray
 *		The array container of v, or NULL when v is not an array; *n gets
 *		its length.
 */
static JsonbContainer *
JsonArray(const JsonbValue *v, int *n)
{
	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data) ||
		JsonContainerIsScalar(v->val.binary.data))
		return NULL;
	*n = JsonContainerSize(v->val.binary.data);
	return v->val.binary.data;
}

/*
 * JsonString
 *		The string v as a C string, or NULL when it is not a string.
 */
static char *
JsonString(const JsonbValue *v)
{
	if (v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/*
 * JsonFloat
 *		The float8 of a number or numeric string, as SQL's (v ->> k)::float8
 *		computes it (numeric_float8 goes through the text form too).  False
 *		for null; an error naming path for anything else.
 */
static bool
JsonFloat(const JsonbValue *v, const char *path, double *out)
{
	if (v->type == jbvNull)
		return false;
	if (v->type == jbvNumeric)
		*out = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));
	else if (v->type == jbvString)
		*out = DatumGetFloat8(DirectFunctionCall1(float8in, CStringGetDatum(JsonString(v))));
	else
		DocError(path, "The value must be a number.", NULL);
	return true;
}

/*
 * CompIndex
 *		The first comparison whose attr is the column attr names, or -1.
 */
static int
CompIndex(const MatchDoc *doc, const char *attr)
{
	char	   *col = AttrColumn(attr);
	int			c;

	for (c = 0; c < doc->ncomp; c++)
		if (strcmp(doc->comp[c].attr, col) == 0)
			return c;
	return -1;
}

/*
 * ReadComparisons
 *		The attrs, comparators, tf flags and levels of $.comparisons (the
 *		"with" of a level resolved in a second pass, once every attr is
 *		known).  layout_only: only attr and comparator, as _match_layout
 *		needs.
 */
static void
ReadComparisons(JsonbContainer *root, MatchDoc *doc, bool layout_only, char **cmpnames)
{
	JsonbValue	v,
				cv,
				x;
	JsonbContainer *comps,
			   *levels;
	char	   *withs[MATCH_MAX_COMP][MATCH_MAX_LEVELS];
	int			n,
				c,
				l;

	if (!JsonGet(root, "comparisons", &v) || (comps = JsonArray(&v, &n)) == NULL || n < 1)
		DocError("$.comparisons", "The comparisons must be a non-empty array.", NULL);
	if (n > MATCH_MAX_COMP)
		DocError("$.comparisons", psprintf("At most %d comparisons are supported.", MATCH_MAX_COMP), NULL);
	doc->ncomp = n;
	for (c = 0; c < n; c++)
	{
		MatchDocComp *comp = &doc->comp[c];
		char	   *path = psprintf("$.comparisons[%d]", c);

		JsonIth(comps, c, &cv);
		if (cv.type != jbvBinary || !JsonContainerIsObject(cv.val.binary.data))
			DocError(path, "A comparison must be an object with \"attr\" and \"comparator\".", NULL);
		if (!JsonGet(cv.val.binary.data, "attr", &x) || (comp->attr = JsonString(&x)) == NULL)
			DocError(psprintf("%s.attr", path), "The attr must be a name of letters, digits and underscores.", NULL);
		cmpnames[c] = NULL;
		if (JsonGet(cv.val.binary.data, "comparator", &x))
			cmpnames[c] = JsonString(&x);
		comp->cmp = cmpnames[c] ? MatchComparatorCode(cmpnames[c]) : 0;
		if (layout_only)
			continue;
		if (comp->cmp == 0)
			DocError(psprintf("%s.comparator", path),
					 psprintf("The comparator \"%s\" is unknown.", cmpnames[c] ? cmpnames[c] : "null"),
					 "Use one of name, string, date, phone, email, id, exact.");
		comp->tf = false;
		if (JsonGet(cv.val.binary.data, "tf", &x) && x.type != jbvNull)
		{
			if (x.type != jbvBool)
				DocError(psprintf("%s.tf", path), "The tf flag must be true or false.", NULL);
			comp->tf = x.val.boolean;
		}
		if (!JsonGet(cv.val.binary.data, "levels", &x) || (levels = JsonArray(&x, &comp->nlev)) == NULL ||
			comp->nlev < 1 || comp->nlev > MATCH_MAX_LEVELS)
			DocError(psprintf("%s.levels", path),
					 psprintf("The levels must be an array of 1 to %d levels (\"else\" is implicit).", MATCH_MAX_LEVELS), NULL);
		for (l = 0; l < comp->nlev; l++)
		{
			MatchDocLevel *lev = &comp->lev[l];
			char	   *lpath = psprintf("%s.levels[%d]", path, l);
			char	   *op = NULL;
			JsonbValue	lv;

			JsonIth(levels, l, &lv);
			withs[c][l] = NULL;
			lev->arg = 0;
			lev->with = -1;
			if (lv.type == jbvString)
				op = JsonString(&lv);	/* "exact" for {"if": "exact"} */
			else if (lv.type == jbvBinary && JsonContainerIsObject(lv.val.binary.data))
			{
				static const char *const argkeys[] = {"ge", "le", "n"};
				int			i;

				if (JsonGet(lv.val.binary.data, "if", &x))
					op = JsonString(&x);
				/* the first of ge, le, n given (SQL: COALESCE(ge, le, n, '0')) */
				for (i = 0; i < lengthof(argkeys); i++)
					if (JsonGet(lv.val.binary.data, argkeys[i], &x) &&
						JsonFloat(&x, psprintf("%s.%s", lpath, argkeys[i]), &lev->arg))
						break;
				if (JsonGet(lv.val.binary.data, "with", &x))
					withs[c][l] = JsonString(&x);
			}
			if (op == NULL || (lev->op = MatchOpCode(op, comp->cmp)) == 0)
				DocError(lpath,
						 psprintf("The level \"%s\" is unknown or not allowed for comparator \"%s\".",
								  op ? op : "null", cmpnames[c]),
						 "Levels: exact, key (name), swapped or cross with \"with\" (name), jw with \"ge\", osa with \"le\", day_month_swapped, same_year (date), last7 (phone), initial, prefix with \"n\".");
		}
	}
	if (layout_only)
		return;
	for (c = 0; c < n; c++)
		for (l = 0; l < doc->comp[c].nlev; l++)
			if (doc->comp[c].lev[l].op == MATCH_OP_SWAPPED || doc->comp[c].lev[l].op == MATCH_OP_CROSS)
				doc->comp[c].lev[l].with = withs[c][l] ? CompIndex(doc, withs[c][l]) : -1;
}

/*
 * ReadRuleList
 *		The rules of one list of the document (key "blocking",
 *		"candidate_blocking" or "lookup_blocking"), written to doc->rule from
 *		first on: each rule's keys as comparison and transform.  At most max
 *		rules (from first: the lists of one limit together); returns how many
 *		it read (0 when the list is absent and optional).
 */
static int
ReadRuleList(JsonbContainer *root, MatchDoc *doc, const char *key, bool required, int first, int max)
{
	JsonbValue	v,
				rv,
				x;
	JsonbContainer *rules,
			   *items;
	int			n,
				r;

	if (!JsonGet(root, key, &v) || (!required && v.type == jbvNull))
	{
		if (required)
			DocError(psprintf("$.%s", key), psprintf("The blocking rules must be an array of 1 to %d rules.", MATCH_MAX_RULES), NULL);
		return 0;
	}
	if ((rules = JsonArray(&v, &n)) == NULL || (required && n < 1) || n > max)
		DocError(psprintf("$.%s", key),
				 strcmp(key, "lookup_blocking") == 0 ?
				 psprintf("The lookup_blocking rules must be an array of at most %d rules.", MATCH_MAX_LOOKUP_RULES) :
				 psprintf("The blocking rules (\"blocking\" and \"candidate_blocking\" together) must be an array of 1 to %d rules.", MATCH_MAX_RULES), NULL);
	for (r = 0; r < n; r++)
	{
		MatchDocRule *rule = &doc->rule[first + r];
		int			nitems,
					j,
					skip;
		char	   *s;

		JsonIth(rules, r, &rv);
		if ((items = JsonArray(&rv, &nitems)) == NULL)
			DocError(psprintf("$.%s[%d]", key, r),
					 psprintf("A blocking rule must be an array of 1 to %d keys.", MATCH_MAX_RULE_KEYS), NULL);
		rule->any_order = JsonIth(items, 0, &x) && (s = JsonString(&x)) != NULL && strcmp(s, "any_order") == 0;
		skip = rule->any_order ? 1 : 0;
		rule->nkeys = nitems - skip;
		if (rule->nkeys < 1 + skip || rule->nkeys > MATCH_MAX_RULE_KEYS)
			DocError(psprintf("$.%s[%d]", key, r),
					 psprintf("A blocking rule must be an array of 1 to %d keys.", MATCH_MAX_RULE_KEYS), NULL);
		for (j = skip; j < nitems; j++)
		{
			char	   *item,
					   *dot,
					   *tr;
			int			k = j - skip;

			JsonIth(items, j, &x);
			item = JsonString(&x);
			/* "attr.transform": split_part(item, '.', 1) and (..., 2) */
			dot = item ? strchr(item, '.') : NULL;
			tr = "";
			if (dot)
			{
				char	   *dot2;

				*dot = '\0';
				tr = dot + 1;
				if ((dot2 = strchr(tr, '.')) != NULL)
					*dot2 = '\0';
			}
			if (item == NULL || (rule->tr[k] = MatchTransformCode(tr)) < 0 ||
				(rule->comp[k] = CompIndex(doc, item)) < 0)
				DocError(psprintf("$.%s[%d][%d]", key, r, j),
						 "The blocking key does not name a compared attr with a known transform.",
						 "A key is \"attr\" or \"attr.key\", \"attr.phonetic\", \"attr.year\", \"attr.month_day\", \"attr.initial\", \"attr.last7\", \"attr.prefix3\", where attr is compared.");
		}
	}
	return n;
}

/*
 * ReadBlocking
 *		$.blocking, then $.candidate_blocking (rules that find candidate pairs
 *		but do not train, issue 12): one list of rules, numbered in that
 *		order, so that the kernel, the features and the lookups see every
 *		rule and training (which compiles the document without
 *		candidate_blocking) sees the same first rules.  Then
 *		$.lookup_blocking (issue 12, session 40): rules whose keys are
 *		computed and stored after the others' (numbered on from them) for
 *		find_patient, but which the kernel's program does not hold
 *		(doc->nlookup, not doc->nrules), so no walk pairs records by them.
 */
static void
ReadBlocking(JsonbContainer *root, MatchDoc *doc)
{
	doc->nrules = ReadRuleList(root, doc, "blocking", true, 0, MATCH_MAX_RULES);
	doc->nrules += ReadRuleList(root, doc, "candidate_blocking", false, doc->nrules, MATCH_MAX_RULES - doc->nrules);
	doc->nlookup = ReadRuleList(root, doc, "lookup_blocking", false, doc->nrules, MATCH_MAX_LOOKUP_RULES);
}

/*
 * ReadRules
 *		$.rules: which comparisons each deterministic rule names.
 */
static void
ReadRules(JsonbContainer *root, MatchDoc *doc)
{
	JsonbValue	v,
				lv,
				x;
	int			i;

	memset(doc->inlist, 0, sizeof(doc->inlist));
	if (!JsonGet(root, "rules", &v) || v.type == jbvNull)
		return;
	if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
		DocError("$.rules", "The rules must be an object with \"same_id_match\" and \"different_id_never\" lists.", NULL);
	for (i = 0; i < MATCH_NLISTS; i++)
	{
		JsonbContainer *list;
		int			n,
					j,
					c;

		if (!JsonGet(v.val.binary.data, match_lists[i], &lv))
			continue;
		if ((list = JsonArray(&lv, &n)) == NULL)
			DocError(psprintf("$.rules.%s", match_lists[i]),
					 "Rules are \"same_id_match\", \"different_id_never\" and \"disagree_never\", each a list of compared attrs.", NULL);
		for (j = 0; j < n; j++)
		{
			char	   *attr,
					   *col;
			bool		found = false;

			JsonIth(list, j, &x);
			attr = JsonString(&x);
			col = attr ? AttrColumn(attr) : NULL;
			for (c = 0; col && c < doc->ncomp; c++)
				if (strcmp(doc->comp[c].attr, col) == 0)
					doc->inlist[i][c] = found = true;
			if (!found)
				DocError(psprintf("$.rules.%s[%d]", match_lists[i], j),
						 psprintf("The attr \"%s\" is not compared.", attr ? attr : "null"), NULL);
		}
	}
}

/*
 * ReadParams
 *		lambda, m and u of a parameters document (_match_params: trained,
 *		or the untrained defaults): per comparison one number per level,
 *		"else" last.
 */
static void
ReadParams(Jsonb *params, MatchDoc *doc)
{
	JsonbContainer *root = &params->root;
	JsonbValue	v;
	int			i;

	if (!JB_ROOT_IS_OBJECT(params))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("matching parameters must be a JSON object")));
	if (!JsonGet(root, "lambda", &v) || !JsonFloat(&v, "$.lambda", &doc->lambda))
		DocError("$.lambda", "The lambda (prior match probability of a random pair) must be strictly between 0 and 1.", NULL);
	for (i = 0; i < 2; i++)
	{
		const char *key = i == 0 ? "m" : "u";
		JsonbContainer *outer,
				   *inner;
		JsonbValue	cv,
					x;
		int			n,
					c,
					l;

		if (!JsonGet(root, key, &v) || (outer = JsonArray(&v, &n)) == NULL || n != doc->ncomp)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("matching parameter \"%s\" must be an array of %d arrays, one per comparison", key, doc->ncomp)));
		for (c = 0; c < doc->ncomp; c++)
		{
			double	   *out = i == 0 ? doc->comp[c].m : doc->comp[c].u;

			JsonIth(outer, c, &cv);
			if ((inner = JsonArray(&cv, &n)) == NULL || n < doc->comp[c].nlev + 1)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("matching parameter \"%s\" of comparison %d must be an array of %d numbers", key, c, doc->comp[c].nlev + 1),
						 errdetail("One number per level, \"else\" last.")));
			for (l = 0; l <= doc->comp[c].nlev; l++)
			{
				JsonIth(inner, l, &x);
				if (!JsonFloat(&x, psprintf("$.%s[%d][%d]", key, c, l), &out[l]))
					ereport(ERROR,
							(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
							 errmsg("matching parameter \"%s\" of comparison %d level %d is null", key, c, l)));
			}
		}
	}
}

/*
 * ReadDoc
 *		The MatchDoc of an expanded settings document and, when params is
 *		not NULL, its parameters.  layout_only: the comparisons' attrs and
 *		comparators only.
 */
static void
ReadDoc(Jsonb *settings, Jsonb *params, MatchDoc *doc, bool layout_only, char **cmpnames)
{
	memset(doc, 0, sizeof(*doc));
	if (!JB_ROOT_IS_OBJECT(settings))
		DocError("$", "The settings must be a JSON object.", NULL);
	ReadComparisons(&settings->root, doc, layout_only, cmpnames);
	if (layout_only)
		return;
	ReadBlocking(&settings->root, doc);
	ReadRules(&settings->root, doc);
	{
		JsonbValue	v;

		/* the evidence floor is on unless the document turns it off */
		doc->no_floor = JsonGet(&settings->root, "evidence_floor", &v) && v.type == jbvBool && !v.val.boolean;
		/* a rare full name alone links only when the document asks for it */
		doc->rare_name = JsonGet(&settings->root, "rare_name_links", &v) && v.type == jbvBool && v.val.boolean;
	}
	/* the document first (its parameters zero), then the parameters */
	doc->lambda = 0.5;
	MatchDocCheck(doc);
	if (params)
		ReadParams(params, doc);
}

/* ---------------------------------------------------------------- SQL entry points */

/*
 * NumericLog2
 *		log(2.0, x::numeric)::float8, the logarithm the SQL compiler took
 *		and explain_match takes, so that weights agree to the last bit.
 */
static double
NumericLog2(double x)
{
	Datum		two,
				xn;

	if (!(x > 0) || !isfinite(x))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_ARGUMENT_FOR_LOG),
				 errmsg("cannot take the logarithm of %g for a matching weight", x),
				 errhint("Parameters m and u and the lambda must be positive probabilities.")));
	two = DirectFunctionCall3(numeric_in, CStringGetDatum("2.0"),
							  ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	xn = DirectFunctionCall1(float8_numeric, Float8GetDatum(x));
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8,
											  DirectFunctionCall2(numeric_log, two, xn)));
}

/*
 * cdp_match_op_code
 *		_match_op_code(op text, comparator text) RETURNS int: the MATCH_OP_*
 *		of a level predicate allowed for a comparator, NULL when not.
 */
Datum
cdp_match_op_code(PG_FUNCTION_ARGS)
{
	char	   *op = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *cmp = text_to_cstring(PG_GETARG_TEXT_PP(1));
	int			code = MatchOpCode(op, MatchComparatorCode(cmp));

	if (code == 0)
		PG_RETURN_NULL();
	PG_RETURN_INT32(code);
}

/*
 * cdp_match_attr_column
 *		_match_attr_column(attr text) RETURNS text: the column an attr alias
 *		names, or attr.
 */
Datum
cdp_match_attr_column(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(AttrColumn(text_to_cstring(PG_GETARG_TEXT_PP(0)))));
}

/*
 * cdp_match_constants
 *		_match_constants() RETURNS jsonb: the constants of match.h that SQL
 *		needs: the limits a settings document must keep (_match_expand),
 *		the placeholder flag of a record and the separator of a
 *		multi-valued feature (the SQL form of _match_feature_query), and the
 *		flags the kernel sets on a scored pair (forced, veto, placeholder),
 *		which explanations and the run read, and the length of a value in the
 *		term-frequency table (training writes it, the kernel reads it).
 */
Datum
cdp_match_constants(PG_FUNCTION_ARGS)
{
	char	   *s = psprintf("{\"max_comparisons\": %d, \"max_levels\": %d, \"max_rules\": %d, \"max_lookup_rules\": %d, "
							 "\"max_rule_keys\": %d, \"max_features\": %d, \"max_osa\": %d, "
							 "\"max_prefix\": %d, \"record_placeholder\": %d, \"value_sep\": \"\\u%04x\", "
							 "\"pair_forced\": %d, \"pair_veto\": %d, \"pair_placeholder\": %d, \"pair_name_only\": %d, "
							 "\"pair_name_rare\": %d, \"tf_value_len\": %d}",
							 MATCH_MAX_COMP, MATCH_MAX_LEVELS, MATCH_MAX_RULES, MATCH_MAX_LOOKUP_RULES, MATCH_MAX_RULE_KEYS,
							 MATCH_MAX_FEAT, MATCH_MAX_OSA, MATCH_MAX_PREFIX, MATCH_REC_PLACEHOLDER,
							 (unsigned char) MATCH_VALUE_SEP,
							 MATCH_PAIR_FORCED, MATCH_PAIR_VETO, MATCH_PAIR_PLACEHOLDER, MATCH_PAIR_NAME_ONLY,
							 MATCH_PAIR_NAME_RARE, MATCH_TF_KEYLEN - 1);

	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(s)));
}

/*
 * cdp_match_layout
 *		_match_layout(s jsonb, OUT comp int, OUT attr text, OUT comparator
 *		text, OUT fpos int): per comparison its 1-based feature column.
 */
Datum
cdp_match_layout(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MatchDoc   *doc = palloc(sizeof(MatchDoc));
	char	   *cmpnames[MATCH_MAX_COMP];
	int			fpos[MATCH_MAX_COMP];
	int			c;

	ReadDoc(PG_GETARG_JSONB_P(0), NULL, doc, true, cmpnames);
	MatchDocLayout(doc, fpos);
	InitMaterializedSRF(fcinfo, 0);
	for (c = 0; c < doc->ncomp; c++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, cmpnames[c] == NULL, false};

		values[0] = Int32GetDatum(c);
		values[1] = CStringGetTextDatum(doc->comp[c].attr);
		values[2] = cmpnames[c] ? CStringGetTextDatum(cmpnames[c]) : (Datum) 0;
		values[3] = Int32GetDatum(fpos[c] + 1);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * cdp_match_compile_program
 *		_match_compile_program(s jsonb, params jsonb) RETURNS float8[]: the
 *		kernel program of expanded settings s and parameters params (as
 *		_match_params returns them).
 */
Datum
cdp_match_compile_program(PG_FUNCTION_ARGS)
{
	MatchDoc   *doc = palloc(sizeof(MatchDoc));
	char	   *cmpnames[MATCH_MAX_COMP];
	float8	   *p;
	Datum	   *d;
	int			n,
				i;

	ReadDoc(PG_GETARG_JSONB_P(0), PG_GETARG_JSONB_P(1), doc, false, cmpnames);
	p = MatchCompileProgram(doc, NumericLog2, &n);
	d = palloc(sizeof(Datum) * n);
	for (i = 0; i < n; i++)
		d[i] = Float8GetDatum(p[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(d, n, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * MatchFeatureSource
 *		Where the feature builder's raw value of a comparison of kind kind
 *		over attr comes from (MATCH_SRC_*): FeatureRawSql writes it as SQL,
 *		the full re-key's scan (match_keys_write.c) reads it from the row.
 */
int
MatchFeatureSource(const char *attr, int kind)
{
	switch (kind)
	{
		case MATCH_FEAT_ASIS:
			return strcmp(attr, "sex") == 0 ? MATCH_SRC_SEX : MATCH_SRC_DATE;
		case MATCH_FEAT_PHONES:
		case MATCH_FEAT_EMAILS:
			return MATCH_SRC_NONE;
		case MATCH_FEAT_DIGITS:
			return MATCH_SRC_TEXTOF;
		case MATCH_FEAT_ID:
		case MATCH_FEAT_EXACT:
		case MATCH_FEAT_PHONE1:
		case MATCH_FEAT_EMAIL1:
			return MATCH_SRC_JSON;
		default:
			/* a text column, or (name, norm) an extra key */
			if (strcmp(attr, "family_name") == 0 || strcmp(attr, "given_name") == 0 ||
				strcmp(attr, "patronymic") == 0 || strcmp(attr, "address") == 0 ||
				strcmp(attr, "city") == 0)
				return MATCH_SRC_COLUMN;
			return MATCH_SRC_JSON;
	}
}

/*
 * FeatureRawSql
 *		The SQL expression over record alias r of the raw value the feature
 *		builder reads for a comparison of kind kind ('NULL' for phones and
 *		e-mails, which it reads from their arrays).
 */
static char *
FeatureRawSql(const char *attr, int kind)
{
	switch (MatchFeatureSource(attr, kind))
	{
		case MATCH_SRC_SEX:
			return "pg_catalog.upper(pg_catalog.left(r.sex, 1))";
		case MATCH_SRC_DATE:
			return "pg_catalog.to_char(r.birth_date, 'YYYYMMDD')";
		case MATCH_SRC_NONE:
			return "NULL";
		case MATCH_SRC_TEXTOF:
			return psprintf("r.%s::text", quote_identifier(attr));
		case MATCH_SRC_COLUMN:
			return psprintf("r.%s", quote_identifier(attr));
		default:
			return psprintf("COALESCE(r.extra ->> %s, r.handles ->> %s)",
							quote_literal_cstr(attr), quote_literal_cstr(attr));
	}
}

/*
 * PlaceholderNames
 *		$.placeholder_names in comparison form (_match_norm: normalize_name,
 *		NULL when empty), as a text[] datum; isnull when there are none.
 */
static Datum
PlaceholderNames(Jsonb *settings, bool *isnull)
{
	JsonbValue	v,
				x;
	JsonbContainer *list;
	Datum	   *d;
	bool	   *nulls;
	int			n,
				i,
				dims[1],
				lbs[1] = {1};

	*isnull = true;
	if (!JsonGet(&settings->root, "placeholder_names", &v) || v.type == jbvNull)
		return (Datum) 0;
	if ((list = JsonArray(&v, &n)) == NULL)
		DocError("$.placeholder_names", "The placeholder names must be an array of strings.", NULL);
	if (n == 0)
		return (Datum) 0;
	d = palloc(sizeof(Datum) * n);
	nulls = palloc(sizeof(bool) * n);
	for (i = 0; i < n; i++)
	{
		char	   *s,
				   *norm;

		/* each element as jsonb_array_elements_text gives it */
		JsonIth(list, i, &x);
		if (x.type == jbvNull)
		{
			nulls[i] = true;
			d[i] = (Datum) 0;
			continue;
		}
		s = CdpJsonbCString(&x);
		CdpTextCheck(s, strlen(s));
		norm = CdpNormalizeName(s, strlen(s));
		nulls[i] = (*norm == '\0');
		d[i] = nulls[i] ? (Datum) 0 : CStringGetTextDatum(norm);
	}
	dims[0] = n;
	*isnull = false;
	return PointerGetDatum(construct_md_array(d, nulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * cdp_match_feature_program
 *		_match_feature_program(s jsonb, OUT kinds int[], OUT raws text[],
 *		OUT rules text[], OUT ph_pos int[], OUT ph_names text[]): the program
 *		of _match_features for expanded settings s; every column NULL when s
 *		needs what only the SQL form of _match_feature_query computes, or
 *		the database is not UTF-8.
 */
Datum
cdp_match_feature_program(PG_FUNCTION_ARGS)
{
	Jsonb	   *settings = PG_GETARG_JSONB_P(0);
	MatchDoc   *doc = palloc(sizeof(MatchDoc));
	MatchFeatProg fp;
	char	   *cmpnames[MATCH_MAX_COMP];
	TupleDesc	td;
	Datum		values[5];
	bool		nulls[5] = {true, true, true, true, true};
	Datum		kinds[MATCH_MAX_COMP],
				raws[MATCH_MAX_COMP],
				rules[MATCH_MAX_KEY_RULES],
				ph[3];
	bool		phnull[3];
	int			c,
				dims[1],
				lbs[1] = {1};

	if (get_call_result_type(fcinfo, NULL, &td) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "_match_feature_program must return a composite");
	ReadDoc(settings, NULL, doc, false, cmpnames);
	if (GetDatabaseEncoding() == PG_UTF8 && MatchCompileFeatures(doc, &fp))
	{
		for (c = 0; c < doc->ncomp; c++)
		{
			kinds[c] = Int32GetDatum(fp.kind[c]);
			raws[c] = CStringGetTextDatum(FeatureRawSql(doc->comp[c].attr, fp.kind[c]));
		}
		for (c = 0; c < doc->nrules + doc->nlookup; c++)
			rules[c] = CStringGetTextDatum(fp.rule[c]);
		for (c = 0; c < 3; c++)
		{
			phnull[c] = fp.ph_pos[c] < 0;
			ph[c] = Int32GetDatum(fp.ph_pos[c]);
		}
		values[0] = PointerGetDatum(construct_array(kinds, doc->ncomp, INT4OID, 4, true, TYPALIGN_INT));
		values[1] = PointerGetDatum(construct_array(raws, doc->ncomp, TEXTOID, -1, false, TYPALIGN_INT));
		values[2] = PointerGetDatum(construct_array(rules, doc->nrules + doc->nlookup, TEXTOID, -1, false, TYPALIGN_INT));
		dims[0] = 3;
		values[3] = PointerGetDatum(construct_md_array(ph, phnull, 1, dims, lbs, INT4OID, 4, true, TYPALIGN_INT));
		values[4] = PlaceholderNames(settings, &nulls[4]);
		nulls[0] = nulls[1] = nulls[2] = nulls[3] = false;
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(td), values, nulls)));
}
