/*-------------------------------------------------------------------------
 *
 * src/text_forms.c
 *		Russian word forms of names: surname and patronymic bases, the sex a
 *		name form carries, and the name key of the gender-neutral bases.
 *
 * Surnames and patronymics use explicit suffix rules, not the stemmer: the
 * Snowball stemmer is built for common words and cuts names too far
 * (Петрович -> петрович but Петровна -> петровн, Иванова -> иванов but
 * Ильина -> ильин, Мария -> мар).  Rules work on normalised text
 * (CdpNormalizeName: lower case, ё = е), on Cyrillic and on the usual Latin
 * romanisations, one token at a time (tokens are separated by spaces and
 * hyphens, so Петрова-Водкина -> петров-водкин).  The stemmer and the
 * given-name table are the lexicon's (text_lexicon.c), the key folding
 * text_key.c's: this file calls them, never the other way round.
 * The rules are listed in doc/text.md, "Russian word forms".
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "text.h"

PG_FUNCTION_INFO_V1(cdp_surname_base);
PG_FUNCTION_INFO_V1(cdp_patronymic_base);
PG_FUNCTION_INFO_V1(cdp_name_sex_hint);
PG_FUNCTION_INFO_V1(cdp_name_base_key);

/* a rule: a word ending in suffix becomes stem + replacement */
typedef struct SuffixRule
{
	const char *suffix;
	const char *replacement;
	int			minStem;		/* letters that must stay before the suffix */
} SuffixRule;

/*
 * EndsWith
 *		True when the word w (wl bytes) ends with suf and at least minStem
 *		characters stay before it.  Suffixes are whole UTF-8 characters, so a
 *		byte match is a character match.
 */
static bool
EndsWith(const char *w, int wl, const char *suf, int minStem)
{
	int			sl = strlen(suf);

	return wl >= sl && memcmp(w + wl - sl, suf, sl) == 0 &&
		CdpUtf8Chars(w, wl - sl) >= minStem;
}

/*
 * ApplyRules
 *		The first rule whose suffix matches rewrites the word; NULL when none
 *		does.
 */
static char *
ApplyRules(const char *w, int wl, const SuffixRule *rules, int nrules)
{
	int			i;

	for (i = 0; i < nrules; i++)
	{
		if (EndsWith(w, wl, rules[i].suffix, rules[i].minStem))
		{
			int			keep = wl - strlen(rules[i].suffix);
			StringInfoData b;

			initStringInfo(&b);
			appendBinaryStringInfo(&b, w, keep);
			appendStringInfoString(&b, rules[i].replacement);
			return b.data;
		}
	}
	return NULL;
}

/*
 * Surname rules, first match wins.  Feminine adjectival forms become the
 * masculine (-ская -> -ский; -ая -> -ий after г к х ж ш ч щ, else -ой;
 * -яя -> -ий); -а is dropped only after -ов/-ев/-ин/-ын, with two letters
 * before those, so Грина -> грин but Нина and Ева stay.  Latin mirrors the
 * Cyrillic rules for the usual romanisations.
 */
static const SuffixRule SurnameRules[] = {
	{"ская", "ский", 1}, {"цкая", "цкий", 1},
	{"гая", "гий", 1}, {"кая", "кий", 1}, {"хая", "хий", 1},
	{"жая", "жий", 1}, {"шая", "ший", 1}, {"чая", "чий", 1}, {"щая", "щий", 1},
	{"ая", "ой", 2}, {"яя", "ий", 2},
	{"ова", "ов", 2}, {"ева", "ев", 2}, {"ина", "ин", 2}, {"ына", "ын", 2},
	{"skaya", "skiy", 1}, {"skaia", "skiy", 1}, {"skaja", "skij", 1},
	{"ckaya", "ckiy", 1}, {"ckaia", "ckiy", 1}, {"ckaja", "ckij", 1},
	{"kaya", "kiy", 1}, {"kaia", "kii", 1}, {"kaja", "kij", 1},
	{"gaya", "giy", 1}, {"gaia", "gii", 1}, {"haya", "hiy", 1}, {"haia", "hii", 1},
	{"aya", "oy", 2}, {"aia", "oi", 2}, {"aja", "oj", 2},
	{"ova", "ov", 2}, {"eva", "ev", 2}, {"ina", "in", 2}, {"yna", "yn", 2},
};

/*
 * TextSurnameWord
 *		Gender-neutral base of one token of normalised text (wl bytes).
 */
char *
TextSurnameWord(const char *w, int wl)
{
	char	   *r = ApplyRules(w, wl, SurnameRules, lengthof(SurnameRules));

	return r ? r : pnstrdup(w, wl);
}

/*
 * Patronymic rules.  Feminine -овна/-евна -> -ович/-евич; -инична and -ична
 * -> -ич (Ильинична -> ильич, Кузьминична -> кузьмич, Саввична -> саввич);
 * case endings of both are dropped first (Петровича, Петровичу, Петровной).
 */
static const SuffixRule PatronymicRules[] = {
	/* feminine, any case */
	{"овна", "ович", 1}, {"овны", "ович", 1}, {"овне", "ович", 1},
	{"овну", "ович", 1}, {"овной", "ович", 1}, {"овною", "ович", 1},
	{"евна", "евич", 1}, {"евны", "евич", 1}, {"евне", "евич", 1},
	{"евну", "евич", 1}, {"евной", "евич", 1}, {"евною", "евич", 1},
	{"инична", "ич", 2}, {"иничны", "ич", 2},
	{"иничне", "ич", 2}, {"иничну", "ич", 2}, {"иничной", "ич", 2},
	{"ична", "ич", 2}, {"ичны", "ич", 2}, {"ичне", "ич", 2},
	{"ичну", "ич", 2}, {"ичной", "ич", 2},
	/* masculine, oblique cases */
	{"ича", "ич", 2}, {"ичу", "ич", 2}, {"ичем", "ич", 2}, {"ичом", "ич", 2},
	{"иче", "ич", 2},
	/* Latin */
	{"ovna", "ovich", 1}, {"evna", "evich", 1},
	{"inichna", "ich", 2}, {"ichna", "ich", 2},
};

/*
 * TextPatronymicWord
 *		Masculine nominative of one patronymic token of normalised text (wl
 *		bytes).
 */
char *
TextPatronymicWord(const char *w, int wl)
{
	char	   *r = ApplyRules(w, wl, PatronymicRules, lengthof(PatronymicRules));

	return r ? r : pnstrdup(w, wl);
}

/* masculine patronymics in -ич that do not end in -ович/-евич */
static const char *const IchPatronymics[] = {
	"ильич", "кузьмич", "фомич", "лукич", "саввич", "никитич",
	"ilich", "ilyich", "iliich", "kuzmich", "fomich", "lukich", "savvich", "nikitich"
};

/*
 * PatronymicSex
 *		'M' or 'F' when the token is a patronymic form (any case), else 0.
 */
static char
PatronymicSex(const char *w, int wl)
{
	static const char *const fem[] = {"овна", "евна", "ична", "овны", "евны",
		"ичны", "овне", "евне", "ичне", "овну", "евну", "ичну", "овной", "евной",
	"ичной", "кызы", "гызы", "ovna", "evna", "ichna", "kyzy", "gyzy", "qizi", "kizi"};
	static const char *const masc[] = {"ович", "евич", "овича", "евича", "овичу",
		"евичу", "овичем", "евичем", "оглы", "улы", "ovich", "evich", "ovic",
	"evic", "ogly", "oglu", "uly"};
	char	   *base;
	int			i;

	for (i = 0; i < lengthof(fem); i++)
		if (EndsWith(w, wl, fem[i], 2))
			return 'F';
	for (i = 0; i < lengthof(masc); i++)
		if (EndsWith(w, wl, masc[i], 2))
			return 'M';
	base = TextPatronymicWord(w, wl);
	for (i = 0; i < lengthof(IchPatronymics); i++)
		if (strcmp(base, IchPatronymics[i]) == 0)
			return 'M';
	return 0;
}

/*
 * SurnameSex
 *		'M' or 'F' when a surname ending carries a sex (Иванова, Петровский),
 *		else 0 (Лебедь, Ковальчук, Белых).
 */
static char
SurnameSex(const char *w, int wl)
{
	static const SuffixRule fem[] = {
		{"ова", "", 2}, {"ева", "", 2}, {"ина", "", 2}, {"ына", "", 2},
		{"ая", "", 2}, {"яя", "", 2},
		{"ova", "", 2}, {"eva", "", 2}, {"ina", "", 2}, {"yna", "", 2},
		{"aya", "", 2}, {"aia", "", 2}, {"aja", "", 2},
	};
	static const SuffixRule masc[] = {
		{"ов", "", 2}, {"ев", "", 2}, {"ин", "", 2}, {"ын", "", 2},
		{"ский", "", 1}, {"цкий", "", 1}, {"ой", "", 3}, {"ый", "", 3},
		{"ий", "", 3},
		{"ov", "", 2}, {"ev", "", 2}, {"in", "", 2}, {"yn", "", 2},
		{"sky", "", 1}, {"skiy", "", 1}, {"skii", "", 1}, {"skij", "", 1},
		{"oy", "", 3}, {"oi", "", 3}, {"iy", "", 3}, {"ij", "", 3},
	};
	int			i;

	for (i = 0; i < lengthof(fem); i++)
		if (EndsWith(w, wl, fem[i].suffix, fem[i].minStem))
			return 'F';
	for (i = 0; i < lengthof(masc); i++)
		if (EndsWith(w, wl, masc[i].suffix, masc[i].minStem))
			return 'M';
	return 0;
}

/*
 * CdpSurnameBase
 *		See text.h; the rules are above SurnameRules.
 */
char *
CdpSurnameBase(const char *s, int len)
{
	return TextMapTokens(s, len, TextSurnameWord);
}

/*
 * CdpPatronymicBase
 *		See text.h; the rules are above PatronymicRules.
 */
char *
CdpPatronymicBase(const char *s, int len)
{
	return TextMapTokens(s, len, TextPatronymicWord);
}

/*
 * CdpNameSexHint
 *		The sex a surname, patronymic, given name or whole name carries.  Each
 *		token votes at one of three strengths: a patronymic form (strongest),
 *		a given name from the built-in table, a surname ending (weakest).  The
 *		strongest level with any vote decides; disagreement there gives 0.
 */
char
CdpNameSexHint(const char *s, int len)
{
	char	   *norm = CdpNormalizeName(s, len);
	char		votes[3] = {0, 0, 0};
	bool		conflict[3] = {false, false, false};
	const char *p = norm;
	int			lvl;

	while (*p)
	{
		int			l = strcspn(p, " -");

		if (l > 0)
		{
			char		v;
			char		gsex;
			int			level;

			if ((v = PatronymicSex(p, l)) != 0)
				level = 0;
			else if (TextGivenNameWord(p, l, NULL, &gsex) > 0)
			{
				v = gsex;
				level = 1;
			}
			else
			{
				v = SurnameSex(p, l);
				level = 2;
			}
			if (v != 0)
			{
				if (votes[level] != 0 && votes[level] != v)
					conflict[level] = true;
				votes[level] = v;
			}
		}
		p += l;
		if (*p)
			p++;
	}
	pfree(norm);
	for (lvl = 0; lvl < 3; lvl++)
		if (votes[lvl] != 0)
			return conflict[lvl] ? 0 : votes[lvl];
	return 0;
}

/*
 * BaseKeyWord
 *		The name key of the gender-neutral base of one normalised token: a
 *		known given name becomes its canonical form, a patronymic its
 *		masculine form, anything else its surname base, with a final -oi of
 *		a surname key made -i so -ой, -ый and -ий meet.
 */
static char *
BaseKeyWord(const char *w, int wl)
{
	const char *canon[MAX_GIVEN_BASES];
	char		sex;
	char	   *pat;
	char	   *k;
	int			kl;

	if (TextGivenNameWord(w, wl, canon, &sex) > 0)
		return TextKeyOfNormalized(canon[0]);
	pat = TextPatronymicWord(w, wl);
	if (strlen(pat) != wl || memcmp(pat, w, wl) != 0)
		return TextKeyOfNormalized(pat);

	/*
	 * Surname: the adjectival endings -ой, -ый, -ий meet (Толстой, Толстая
	 * -> толстой; Белый, Белая -> белой).
	 */
	k = TextKeyOfNormalized(TextSurnameWord(w, wl));
	kl = strlen(k);
	if (kl > 3 && strcmp(k + kl - 2, "oi") == 0)
	{
		k[kl - 2] = 'i';
		k[kl - 1] = '\0';
	}
	return k;
}

/*
 * CdpNameBaseKey
 *		The key of the gender-neutral base of every token (BaseKeyWord):
 *		Иванова Мария Петровна -> ivanov maria petrovich.  Hyphenated parts
 *		are reduced one by one (Петрова-Водкина -> petrov-vodkin).
 */
char *
CdpNameBaseKey(const char *s, int len)
{
	return TextMapTokens(s, len, BaseKeyWord);
}

/*
 * cdp_surname_base
 *		SQL: cdp.surname_base(text) RETURNS text.
 */
Datum
cdp_surname_base(PG_FUNCTION_ARGS)
{
	int			len;
	char	   *s = TextArgUtf8(PG_GETARG_TEXT_PP(0), &len);

	PG_RETURN_TEXT_P(TextResultUtf8(CdpSurnameBase(s, len)));
}

/*
 * cdp_patronymic_base
 *		SQL: cdp.patronymic_base(text) RETURNS text.
 */
Datum
cdp_patronymic_base(PG_FUNCTION_ARGS)
{
	int			len;
	char	   *s = TextArgUtf8(PG_GETARG_TEXT_PP(0), &len);

	PG_RETURN_TEXT_P(TextResultUtf8(CdpPatronymicBase(s, len)));
}

/*
 * cdp_name_sex_hint
 *		SQL: cdp.name_sex_hint(text) RETURNS text: 'M', 'F' or NULL.
 */
Datum
cdp_name_sex_hint(PG_FUNCTION_ARGS)
{
	int			len;
	char	   *s = TextArgUtf8(PG_GETARG_TEXT_PP(0), &len);
	char		v = CdpNameSexHint(s, len);
	char		r[2] = {v, '\0'};

	if (v == 0)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(r));
}

/*
 * cdp_name_base_key
 *		SQL: cdp.name_base_key(text) RETURNS text.
 */
Datum
cdp_name_base_key(PG_FUNCTION_ARGS)
{
	int			len;
	char	   *s = TextArgUtf8(PG_GETARG_TEXT_PP(0), &len);

	PG_RETURN_TEXT_P(TextResultUtf8(CdpNameBaseKey(s, len)));
}
