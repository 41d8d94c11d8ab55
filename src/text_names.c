/*-------------------------------------------------------------------------
 *
 * src/text_names.c
 *		Russian given names: the canonical forms, sex and listing of a given
 *		name (Маша, Марья, Maria -> мария), read from the lexicon's table
 *		(text_lexicon.c).
 *
 * A few diminutives stand for a male and a female name (Саша, Женя, Валя,
 * Шура): cdp.given_name_bases returns both canonical forms, and
 * cdp.given_name_base the first (the masculine) one.  For declined forms in
 * free text (Марии, Натальей) cdp.given_name_base falls back to the
 * Snowball Russian stem when the exact lookup fails.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "text.h"

PG_FUNCTION_INFO_V1(cdp_given_name_base);
PG_FUNCTION_INFO_V1(cdp_given_name_bases);

/*
 * CdpGivenNameBases
 *		See text.h (exact lookup, no stemming).
 */
int
CdpGivenNameBases(const char *s, int len, char ***out)
{
	int			rows[MAX_GIVEN_BASES];
	int			k = TextLexiconLookupName(s, len, false, rows);
	int			i;

	*out = palloc((k + 1) * sizeof(char *));
	for (i = 0; i < k; i++)
		(*out)[i] = pstrdup(TextLexiconCanon(rows[i]));
	return k;
}

/*
 * CdpGivenNameListed
 *		Whether one name (UTF-8) is a listed given name by the lookup of
 *		cdp.given_name_bases (with the stem fallback); with asItIs, only when
 *		its normalised form is itself one of the canonical names it stands for
 *		(Ирина, but not Петров, which the stem leads to пётр).  The name roles
 *		(text_roles.c) ask this of a word shaped like a surname.
 */
bool
CdpGivenNameListed(const char *s, int len, bool asItIs)
{
	char	   *norm = CdpNormalizeName(s, len);
	int			rows[MAX_GIVEN_BASES];
	int			k = 0;
	bool		listed = false;
	int			i;

	if (norm[0] != '\0' && strpbrk(norm, " -") == NULL)
		k = TextLexiconLookup(norm, strlen(norm), true, rows);
	for (i = 0; i < k && !listed; i++)
		listed = !asItIs || strcmp(norm, TextLexiconCanon(rows[i])) == 0;
	pfree(norm);
	return listed;
}

/*
 * CdpGivenNameSex
 *		Sex of a given name from the table; 0 when unknown or when the form
 *		stands for names of both sexes (Саша).
 */
char
CdpGivenNameSex(const char *s, int len)
{
	int			rows[MAX_GIVEN_BASES];
	int			k = TextLexiconLookupName(s, len, false, rows);
	char		sex = 0;
	int			i;

	for (i = 0; i < k; i++)
	{
		if (sex != 0 && sex != TextLexiconSex(rows[i]))
			return 0;
		sex = TextLexiconSex(rows[i]);
	}
	return sex;
}

/*
 * GivenWordBase
 *		One normalised token as its first canonical given name when it is a
 *		listed one (or, for a Cyrillic token, a declined form of one), else
 *		as it is.
 */
static char *
GivenWordBase(const char *w, int wl)
{
	int			rows[MAX_GIVEN_BASES];

	if (TextLexiconLookup(w, wl, true, rows) > 0)
		return pstrdup(TextLexiconCanon(rows[0]));
	return pnstrdup(w, wl);
}

/*
 * CdpGivenNameBase
 *		Every token that is a listed given name becomes its first canonical
 *		form (GivenWordBase); other tokens stay as normalised.
 */
char *
CdpGivenNameBase(const char *s, int len)
{
	return TextMapTokens(s, len, GivenWordBase);
}

/*
 * cdp_given_name_base
 *		SQL: cdp.given_name_base(text) RETURNS text.
 */
Datum
cdp_given_name_base(PG_FUNCTION_ARGS)
{
	int			len;
	char	   *s = TextArgUtf8(PG_GETARG_TEXT_PP(0), &len);

	PG_RETURN_TEXT_P(TextResultUtf8(CdpGivenNameBase(s, len)));
}

/*
 * cdp_given_name_bases
 *		SQL: cdp.given_name_bases(text) RETURNS text[]: every canonical form
 *		one given name may stand for, with the stem fallback; empty when the
 *		name is not in the table.
 */
Datum
cdp_given_name_bases(PG_FUNCTION_ARGS)
{
	int			len;
	char	   *s = TextArgUtf8(PG_GETARG_TEXT_PP(0), &len);
	int			rows[MAX_GIVEN_BASES];
	int			k = TextLexiconLookupName(s, len, true, rows);
	Datum	   *elems = palloc((k + 1) * sizeof(Datum));
	int			i;

	for (i = 0; i < k; i++)
		elems[i] = PointerGetDatum(TextResultUtf8(TextLexiconCanon(rows[i])));
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, k, TEXTOID, -1, false, TYPALIGN_INT));
}
