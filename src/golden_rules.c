/*-------------------------------------------------------------------------
 *
 * src/golden_rules.c
 *		The survivorship rules of the golden family, from one set of
 *		constants: the rule names (cdp.golden_rule_names), the single-valued
 *		attributes and their default rules (cdp.golden_default_rules), and
 *		the one validation of a rules document, used by the fold
 *		(src/golden_fold.c, lenient) and by cdp_internal.golden_check_rules, which
 *		cdp.configure_survivorship calls before it stores a version (strict).
 *
 * A rules document is a JSON object mapping an attribute to an ordered list
 * of rule names.  Both modes refuse a document that is not an object, a list
 * that is not an array and a rule that is not one of the five names (22023
 * naming the attribute and rule).  The strict mode also refuses attributes
 * other than the single-valued profile attributes (the multi-valued contacts
 * phones, emails and handles keep every value and take no rules), empty
 * lists and a rule named twice for one attribute; the fold folds any key it
 * is given and reads repeated rules as written.
 *
 * The checks of single names and lists are server-free (no jsonb, no
 * catalog): test/fuzz/fuzz_golden.c calls them without a server.  Names
 * quoted in messages are clipped to GOLDEN_MSG_CLIP bytes on a character
 * boundary.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"

#include "cdp.h"
#include "cdp_jsonb.h"
#include "golden.h"

const char *const GoldenRuleNames[GOLDEN_NRULES] = {
	"validated", "trusted", "recent", "frequent", "complete"
};

/* a single-valued attribute and its default rules (doc/golden.md) */
typedef struct GoldenAttrDefault
{
	const char *attr;
	int			nrules;
	GoldenRule	rules[GOLDEN_NRULES];
} GoldenAttrDefault;

/* in name order: the hint of an unknown attribute lists them so */
static const GoldenAttrDefault GoldenDefaults[] = {
	{"address", 3, {RULE_RECENT, RULE_TRUSTED, RULE_COMPLETE}},
	{"birth_date", 4, {RULE_VALIDATED, RULE_TRUSTED, RULE_FREQUENT, RULE_RECENT}},
	{"city", 3, {RULE_RECENT, RULE_TRUSTED, RULE_FREQUENT}},
	{"family_name", 4, {RULE_VALIDATED, RULE_TRUSTED, RULE_RECENT, RULE_COMPLETE}},
	{"given_name", 4, {RULE_VALIDATED, RULE_TRUSTED, RULE_RECENT, RULE_COMPLETE}},
	{"oms", 3, {RULE_VALIDATED, RULE_TRUSTED, RULE_RECENT}},
	{"patronymic", 4, {RULE_VALIDATED, RULE_TRUSTED, RULE_RECENT, RULE_COMPLETE}},
	{"sex", 4, {RULE_VALIDATED, RULE_TRUSTED, RULE_FREQUENT, RULE_RECENT}},
	{"snils", 3, {RULE_VALIDATED, RULE_TRUSTED, RULE_RECENT}}
};

#define GOLDEN_NATTRS	lengthof(GoldenDefaults)

/* the multi-valued contacts of a profile: no rules */
static const char *const GoldenContactNames[] = {"phones", "emails", "handles"};

/* ------------------------------------------------------------------ server-free checks */

/*
 * SameName
 *		s[0..len) equals the NUL-terminated name.
 */
static bool
SameName(const char *s, int len, const char *name)
{
	return len == (int) strlen(name) && memcmp(s, name, len) == 0;
}

/*
 * ClipLen
 *		Bytes of s[0..len) quoted in a message: at most GOLDEN_MSG_CLIP, on a
 *		character boundary.
 */
static int
ClipLen(const char *s, int len)
{
	if (len <= GOLDEN_MSG_CLIP)
		return len;
	return pg_mbcliplen(s, len, GOLDEN_MSG_CLIP);
}

/*
 * GoldenRuleIndex
 *		The GoldenRule named by s[0..len), or -1.
 */
int
GoldenRuleIndex(const char *name, int len)
{
	for (int i = 0; i < GOLDEN_NRULES; i++)
		if (SameName(name, len, GoldenRuleNames[i]))
			return i;
	return -1;
}

/*
 * GoldenAttributeIndex
 *		The position of the single-valued attribute attr[0..len) among the
 *		defaults, or -1.
 */
int
GoldenAttributeIndex(const char *attr, int len)
{
	for (int i = 0; i < (int) GOLDEN_NATTRS; i++)
		if (SameName(attr, len, GoldenDefaults[i].attr))
			return i;
	return -1;
}

/*
 * GoldenCheckAttribute
 *		Raises 22023 unless attr[0..len) is a single-valued attribute (strict
 *		mode only: the fold folds any key).
 */
void
GoldenCheckAttribute(const char *attr, int len)
{
	StringInfoData known;
	bool		contact = false;

	if (GoldenAttributeIndex(attr, len) >= 0)
		return;
	for (int i = 0; i < (int) lengthof(GoldenContactNames); i++)
		contact |= SameName(attr, len, GoldenContactNames[i]);
	initStringInfo(&known);
	for (int i = 0; i < (int) GOLDEN_NATTRS; i++)
		appendStringInfo(&known, "%s%s", i ? ", " : "", GoldenDefaults[i].attr);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown survivorship attribute \"%.*s\"", ClipLen(attr, len), attr),
			 contact ? errdetail("Multi-valued contacts keep every distinct value and take no rules.")
			 : errdetail("Only single-valued profile attributes take survivorship rules."),
			 errhint("Use one of: %s.", known.data)));
}

/*
 * GoldenCheckRuleList
 *		The shape of one attribute's rule list: an array (is_array) of
 *		nelems elements, non-empty in strict mode.  given[0..givenlen) is the
 *		value as JSON text, for the detail.
 */
void
GoldenCheckRuleList(const char *attr, int attrlen, bool is_array, int nelems, bool strict,
					const char *given, int givenlen)
{
	int			clip;

	if (is_array && (nelems > 0 || !strict))
		return;
	clip = ClipLen(given, givenlen);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 strict ? errmsg("survivorship rules for attribute \"%.*s\" must be a non-empty array",
							 ClipLen(attr, attrlen), attr)
			 : errmsg("survivorship rules for attribute \"%.*s\" must be an array",
					  ClipLen(attr, attrlen), attr),
			 errdetail("The value given was %.*s%s.", clip, given, clip < givenlen ? "..." : ""),
			 errhint("Give an ordered list of rule names, for example [\"trusted\", \"recent\"].")));
}

/*
 * GoldenCheckRule
 *		One element of an attribute's rule list: rule[0..rulelen) is the
 *		string (is_string) or the JSON text of another value.  Returns the
 *		rule; raises 22023 when it is not a rule name or, when seen is given
 *		(strict mode: a bit per rule already named), when it is named twice.
 */
GoldenRule
GoldenCheckRule(const char *attr, int attrlen, const char *rule, int rulelen, bool is_string,
				uint32 *seen)
{
	int			i = is_string ? GoldenRuleIndex(rule, rulelen) : -1;

	if (i < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown survivorship rule \"%.*s\" for attribute \"%.*s\"",
						ClipLen(rule, rulelen), rule, ClipLen(attr, attrlen), attr),
				 errhint("Use some of: validated, trusted, recent, frequent, complete.")));
	if (seen != NULL)
	{
		if (*seen & (1U << i))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("survivorship rule \"%s\" appears twice for attribute \"%.*s\"",
							GoldenRuleNames[i], ClipLen(attr, attrlen), attr),
					 errhint("Name each rule at most once per attribute.")));
		*seen |= 1U << i;
	}
	return (GoldenRule) i;
}

/* ------------------------------------------------------------------ jsonb */

/*
 * JsonbValueText
 *		A jsonb value (scalar or container) as JSON text.
 */
static char *
JsonbValueText(JsonbValue *v)
{
	Jsonb	   *j = JsonbValueToJsonb(v);

	return JsonbToCString(NULL, &j->root, VARSIZE(j));
}

/*
 * GoldenCheckRulesObject
 *		Raises 22023 unless the rules document is a JSON object (NULL: an SQL
 *		NULL).
 */
void
GoldenCheckRulesObject(Jsonb *rules)
{
	char	   *given;
	int			len;
	int			clip;

	if (rules != NULL && JB_ROOT_IS_OBJECT(rules))
		return;
	given = rules ? JsonbToCString(NULL, &rules->root, VARSIZE(rules)) : "NULL";
	len = strlen(given);
	clip = ClipLen(given, len);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("survivorship rules must be a JSON object"),
			 errdetail("The value given was %.*s%s.", clip, given, clip < len ? "..." : ""),
			 errhint("Give an object mapping an attribute to a list of rules, for example {\"family_name\": [\"trusted\", \"recent\"]}.")));
}

/*
 * GoldenParseRuleList
 *		Checks one attribute's rule list (a jsonb value) and returns it as
 *		GoldenRule values (palloc'd, *nrules of them).  strict: non-empty, no
 *		rule twice.
 */
GoldenRule *
GoldenParseRuleList(const char *attr, int attrlen, JsonbValue *list, bool strict, int *nrules)
{
	bool		is_array = list->type == jbvBinary && JsonContainerIsArray(list->val.binary.data);
	int			nelems = is_array ? JsonContainerSize(list->val.binary.data) : 0;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	GoldenRule *out;
	uint32		seen = 0;
	int			n = 0;

	if (!is_array || (strict && nelems == 0))
	{
		char	   *given = JsonbValueText(list);

		GoldenCheckRuleList(attr, attrlen, is_array, nelems, strict, given, strlen(given));
	}
	out = palloc(sizeof(GoldenRule) * Max(1, nelems));
	it = JsonbIteratorInit(list->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (v.type == jbvString)
			out[n++] = GoldenCheckRule(attr, attrlen, v.val.string.val, v.val.string.len, true,
									   strict ? &seen : NULL);
		else
		{
			char	   *s = JsonbValueText(&v);

			out[n++] = GoldenCheckRule(attr, attrlen, s, strlen(s), false, NULL);
		}
	}
	*nrules = n;
	return out;
}

/*
 * GoldenDefaultRules
 *		The default rules document: every single-valued attribute with its
 *		list.
 */
Jsonb *
GoldenDefaultRules(void)
{
	JsonbParseState *st = NULL;
	JsonbValue	s;

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; i < (int) GOLDEN_NATTRS; i++)
	{
		CdpJsonbPushKey(&st, GoldenDefaults[i].attr);
		pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
		for (int k = 0; k < GoldenDefaults[i].nrules; k++)
		{
			s.type = jbvString;
			s.val.string.val = (char *) GoldenRuleNames[GoldenDefaults[i].rules[k]];
			s.val.string.len = strlen(s.val.string.val);
			pushJsonbValue(&st, WJB_ELEM, &s);
		}
		pushJsonbValue(&st, WJB_END_ARRAY, NULL);
	}
	return JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
}

/* ------------------------------------------------------------------ entry points */

PG_FUNCTION_INFO_V1(cdp_golden_default_rules);

/*
 * cdp_golden_default_rules
 *		cdp.golden_default_rules(): the built-in rules document.
 */
Datum
cdp_golden_default_rules(PG_FUNCTION_ARGS)
{
	PG_RETURN_JSONB_P(GoldenDefaultRules());
}

PG_FUNCTION_INFO_V1(cdp_golden_rule_names);

/*
 * cdp_golden_rule_names
 *		cdp.golden_rule_names(): the rule names in rule order, as text[].
 */
Datum
cdp_golden_rule_names(PG_FUNCTION_ARGS)
{
	Datum		names[GOLDEN_NRULES];

	for (int i = 0; i < GOLDEN_NRULES; i++)
		names[i] = CStringGetTextDatum(GoldenRuleNames[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(names, GOLDEN_NRULES, TEXTOID, -1, false,
										  TYPALIGN_INT));
}

PG_FUNCTION_INFO_V1(cdp_golden_check_rules);

/*
 * cdp_golden_check_rules
 *		cdp_internal.golden_check_rules(rules jsonb): checks a rules document in
 *		strict mode and returns it completed with the default list of every
 *		attribute it does not name (default || rules).  Not STRICT: a NULL
 *		document is refused like any other non-object (22023).
 */
Datum
cdp_golden_check_rules(PG_FUNCTION_ARGS)
{
	Jsonb	   *rules = PG_ARGISNULL(0) ? NULL : PG_GETARG_JSONB_P(0);
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	GoldenCheckRulesObject(rules);
	it = JsonbIteratorInit(&rules->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *attr;
		int			attrlen;
		int			n;

		if (tok != WJB_KEY)
			continue;
		attr = pnstrdup(v.val.string.val, v.val.string.len);
		attrlen = v.val.string.len;
		GoldenCheckAttribute(attr, attrlen);
		tok = JsonbIteratorNext(&it, &v, true);
		Assert(tok == WJB_VALUE);
		pfree(GoldenParseRuleList(attr, attrlen, &v, true, &n));
	}
	PG_RETURN_DATUM(DirectFunctionCall2(jsonb_concat,
										JsonbPGetDatum(GoldenDefaultRules()),
										JsonbPGetDatum(rules)));
}
