/*-------------------------------------------------------------------------
 *
 * src/text_translit.c
 *		cdp.translit: Cyrillic -> Latin by ICAO 9303, GOST 7.79-2000 system B,
 *		BGN/PCGN 1947 or the informal spelling, and best-effort Latin ->
 *		Cyrillic ('lat2cyr').
 *
 * The schemes are our own tables plus a few context rules, not ICU
 * transliterator rules: the tables are short, the context rules (GOST ц, BGN
 * е/ё, informal -ия) are a few lines each, and the result does not depend on
 * the ICU version installed.  ICU is used only for NFC and case mapping.
 * Case style is kept: a capitalised letter gives a capitalised group
 * (Щукин -> Shchukin), a letter inside an all-capitals word gives capitals
 * (ЩУКИН -> SHCHUKIN).  Characters a scheme does not know are copied.
 * Sources: doc/text.md, "translit".
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include <unicode/uchar.h>

#include "text.h"

PG_FUNCTION_INFO_V1(cdp_translit);

/* the schemes, in the order the error message lists them */
typedef enum
{
	TR_ICAO,
	TR_GOST_B,
	TR_BGN,
	TR_INFORMAL,
	TR_LAT2CYR
} TranslitScheme;

static const char *const SchemeNames[] = {"icao", "gost_b", "bgn", "informal", "lat2cyr"};

/*
 * Tables for а (U+0430) .. я (U+044F); ё is handled in CyrToLat.  Context
 * rules override some entries (see CyrToLat).
 */
static const char *const TabIcao[32] = {
	"a", "b", "v", "g", "d", "e", "zh", "z",
	"i", "i", "k", "l", "m", "n", "o", "p",
	"r", "s", "t", "u", "f", "kh", "ts", "ch",
	"sh", "shch", "ie", "y", "", "e", "iu", "ia"
};
static const char *const TabGost[32] = {
	"a", "b", "v", "g", "d", "e", "zh", "z",
	"i", "j", "k", "l", "m", "n", "o", "p",
	"r", "s", "t", "u", "f", "x", "cz", "ch",
	"sh", "shh", "``", "y`", "`", "e`", "yu", "ya"
};
static const char *const TabBgn[32] = {
	"a", "b", "v", "g", "d", "e", "zh", "z",
	"i", "y", "k", "l", "m", "n", "o", "p",
	"r", "s", "t", "u", "f", "kh", "ts", "ch",
	"sh", "shch", "\xE2\x80\x9D", "y", "\xE2\x80\x99", "e", "yu", "ya"
};
static const char *const TabInformal[32] = {
	"a", "b", "v", "g", "d", "e", "zh", "z",
	"i", "y", "k", "l", "m", "n", "o", "p",
	"r", "s", "t", "u", "f", "kh", "ts", "ch",
	"sh", "shch", "", "y", "", "e", "yu", "ya"
};

/* output case of one group */
typedef enum
{
	CASE_LOWER,
	CASE_CAPITAL,
	CASE_UPPER
} GroupCase;

/*
 * LookupScheme
 *		The scheme named s, in any case (NULL: icao), or a 22023 error listing
 *		the known ones.  s is in the server encoding.
 */
static TranslitScheme
LookupScheme(const char *s)
{
	int			i;

	if (s == NULL)
		return TR_ICAO;			/* C callers: NULL means the default */

	for (i = 0; i < lengthof(SchemeNames); i++)
		if (pg_strcasecmp(s, SchemeNames[i]) == 0)
			return (TranslitScheme) i;
	/* quote at most 40 bytes of a long argument, cut on a character boundary */
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown transliteration scheme \"%.*s\"",
					pg_mbcliplen(s, strlen(s), 40), s),
			 errhint("Use one of \"icao\", \"gost_b\", \"bgn\", \"informal\" or \"lat2cyr\".")));
	return TR_ICAO;				/* keep the compiler quiet */
}

/*
 * IsLetter
 *		True for a letter of any script (0, the end marker, is none).
 */
static bool
IsLetter(int32 c)
{
	return c != 0 && u_isalpha(c);
}

/*
 * IsUpperLetter
 *		True for a capital letter of any script.
 */
static bool
IsUpperLetter(int32 c)
{
	return c != 0 && u_isupper(c);
}

/*
 * IsCyrVowel
 *		True for a lower-case Russian vowel letter.
 */
static bool
IsCyrVowel(int32 c)
{
	return c == 0x0430 || c == 0x0435 || c == 0x0451 || c == 0x0438 ||
		c == 0x043E || c == 0x0443 || c == 0x044B || c == 0x044D ||
		c == 0x044E || c == 0x044F;
}

/*
 * IsLatVowel
 *		True for a lower-case Latin vowel letter (y counts).
 */
static bool
IsLatVowel(int32 c)
{
	return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u' || c == 'y';
}

/*
 * GroupCaseAt
 *		Case style for the group starting at source index i and ending before
 *		index j: capitals when the next letter (or, at a word end, the letter
 *		before) is a capital too, a capital first letter when only this one is.
 */
static GroupCase
GroupCaseAt(const int32 *cps, int n, int i, int j)
{
	if (!IsUpperLetter(cps[i]))
		return CASE_LOWER;
	if (j < n && IsLetter(cps[j]))
		return IsUpperLetter(cps[j]) ? CASE_UPPER : CASE_CAPITAL;
	if (i > 0 && IsUpperLetter(cps[i - 1]))
		return CASE_UPPER;
	if (j - i > 1 && IsUpperLetter(cps[i + 1]))
		return CASE_UPPER;
	return CASE_CAPITAL;
}

/*
 * AppendCased
 *		Appends UTF-8 string m to buf in case style gc (only the first letter
 *		for CASE_CAPITAL).
 */
static void
AppendCased(StringInfo buf, const char *m, GroupCase gc)
{
	bool		first = true;
	const char *end = m + strlen(m);

	while (m < end)
	{
		int			l = 0;
		int32		c = CdpNextChar((const unsigned char *) m, (int) (end - m), &l);

		if (gc == CASE_UPPER || (gc == CASE_CAPITAL && first && u_isalpha(c)))
		{
			char		tmp[8];

			c = u_toupper(c);
			appendBinaryStringInfo(buf, tmp, TextPutUtf8(tmp, c));
		}
		else
			appendBinaryStringInfo(buf, m, l);
		if (u_isalpha(c))
			first = false;
		m += l;
	}
}

/*
 * CyrGroup
 *		Latin for the Russian letter lc (lower case) at index i of lows[]
 *		under scheme sc, with the scheme's context rules.
 */
static const char *
CyrGroup(TranslitScheme sc, const int32 *lows, int n, int i)
{
	int32		lc = lows[i];
	int32		prev = i > 0 ? lows[i - 1] : 0;
	int32		next = i + 1 < n ? lows[i + 1] : 0;
	bool		wordStart = !IsLetter(prev);
	bool		wordEnd = !IsLetter(next);

	switch (sc)
	{
		case TR_ICAO:
			if (lc == 0x0451)
				return "e";
			return TabIcao[lc - 0x0430];
		case TR_GOST_B:
			if (lc == 0x0451)
				return "yo";
			if (lc == 0x0446)	/* ц: c before i, e, y, j */
			{
				const char *nx = NULL;

				if (next >= 0x0430 && next <= 0x044F)
					nx = TabGost[next - 0x0430];
				else if (next == 0x0451)
					nx = "yo";
				if (nx && (nx[0] == 'i' || nx[0] == 'e' || nx[0] == 'y' || nx[0] == 'j'))
					return "c";
				return "cz";
			}
			return TabGost[lc - 0x0430];
		case TR_BGN:
			if (lc == 0x0435 || lc == 0x0451)
			{
				/* ye / yë initially, after vowels, й, ъ and ь */
				bool		y = wordStart || IsCyrVowel(prev) || prev == 0x0439 ||
					prev == 0x044A || prev == 0x044C;

				if (lc == 0x0435)
					return y ? "ye" : "e";
				return y ? "y\xC3\xAB" : "\xC3\xAB";
			}
			return TabBgn[lc - 0x0430];
		case TR_INFORMAL:
			if (lc == 0x0451)
			{
				if (prev == 0x0436 || prev == 0x0447 || prev == 0x0448 || prev == 0x0449)
					return "e";
				return "yo";
			}
			if (lc == 0x0435 && (prev == 0x044A || prev == 0x044C))
				return "ye";
			if (lc == 0x044F && wordEnd && prev == 0x0438)
				return "a";		/* Мария -> Maria */
			return TabInformal[lc - 0x0430];
		case TR_LAT2CYR:
			break;
	}
	return NULL;
}

/*
 * CyrToLat
 *		Cyrillic -> Latin for the four romanisation schemes.
 */
static char *
CyrToLat(TranslitScheme sc, const int32 *cps, int n)
{
	StringInfoData buf;
	int32	   *lows = palloc((n + 1) * sizeof(int32));
	int			i;

	for (i = 0; i < n; i++)
		lows[i] = u_tolower(cps[i]);
	lows[n] = 0;
	initStringInfo(&buf);
	for (i = 0; i < n; i++)
	{
		int32		lc = lows[i];

		if ((lc >= 0x0430 && lc <= 0x044F) || lc == 0x0451)
			AppendCased(&buf, CyrGroup(sc, lows, n, i), GroupCaseAt(cps, n, i, i + 1));
		else
		{
			char		tmp[8];

			appendBinaryStringInfo(&buf, tmp, TextPutUtf8(tmp, cps[i]));
		}
	}
	pfree(lows);
	return buf.data;
}

/*
 * LatGroup
 *		Best-effort Cyrillic for the Latin text at index i of lows[] (lower
 *		case); sets *used to the number of source characters consumed, or
 *		returns NULL when lows[i] is not a letter we map.
 */
static const char *
LatGroup(const int32 *lows, int n, int i, int *used)
{
	int32		c = lows[i];
	int32		n1 = i + 1 < n ? lows[i + 1] : 0;
	int32		n2 = i + 2 < n ? lows[i + 2] : 0;
	int32		n3 = i + 3 < n ? lows[i + 3] : 0;
	int32		prev = i > 0 ? lows[i - 1] : 0;
	bool		wordStart = !IsLetter(prev);
	bool		prevVowel = IsLatVowel(prev);

	*used = 2;
	if (c == 's' && n1 == 'h' && n2 == 'c' && n3 == 'h')
	{
		*used = 4;
		return "щ";
	}
	if ((c == 's' && n1 == 'c' && n2 == 'h') || (c == 's' && n1 == 'h' && n2 == 'h'))
	{
		*used = 3;
		return "щ";
	}
	if (c == 's' && n1 == 'h')
		return "ш";
	if (c == 'c' && n1 == 'h')
		return "ч";
	if (c == 'z' && n1 == 'h')
		return "ж";
	if (c == 'k' && n1 == 'h')
		return "х";
	if ((c == 't' && (n1 == 's' || n1 == 'z')) || (c == 'c' && n1 == 'z'))
		return "ц";
	if (c == 'c' && n1 == 'k')
		return "к";
	if (c == 'p' && n1 == 'h')
		return "ф";
	if (c == 't' && n1 == 'h')
		return "т";
	if ((c == 'y' || c == 'j') && n1 == 'u')
		return "ю";
	if (c == 'i' && n1 == 'u')
		return "ю";
	/* ь before a glide after a consonant: Vasilyev, Natalya (not Lyudmila) */
	if ((c == 'y' || c == 'j') && n1 == 'e' && IsLetter(prev) && !prevVowel)
		return "ье";
	if ((c == 'y' || c == 'j') && n1 == 'a' && !IsLetter(n2) && IsLetter(prev) && !prevVowel)
		return "ья";
	if ((c == 'y' || c == 'j') && n1 == 'a')
		return "я";
	if (c == 'i' && n1 == 'a')
		return (IsLetter(n2) || wordStart || prevVowel) ? "я" : "ия";
	if ((c == 'y' || c == 'j') && (n1 == 'o' || n1 == 0x00EB))
		return "ё";
	if ((c == 'y' || c == 'j') && n1 == 'e')
		return "е";
	if (c == 'e' && n1 == '`')
		return "э";
	if (c == 'y' && n1 == '`')
		return "ы";
	if (c == '`' && n1 == '`')
		return "ъ";
	if ((c == 'i' || c == 'y') && (n1 == 'y' || n1 == 'j') && !IsLetter(n2))
		return "ий";
	*used = 1;
	switch (c)
	{
		case 'a':
			return "а";
		case 'b':
			return "б";
		case 'v':
		case 'w':
			return "в";
		case 'g':
			return "г";
		case 'd':
			return "д";
		case 'e':
			return "е";
		case 0x00EB:			/* ë */
			return "ё";
		case 'z':
			return "з";
		case 'i':
			return (!IsLetter(n1) && prevVowel && !wordStart) ? "й" : "и";
		case 'j':
			return "й";
		case 'y':
			if (!IsLetter(n1) && !wordStart)
				return prevVowel ? "й" : "ий";
			return "ы";
		case 'k':
		case 'q':
			return "к";
		case 'l':
			return "л";
		case 'm':
			return "м";
		case 'n':
			return "н";
		case 'o':
			return "о";
		case 'p':
			return "п";
		case 'r':
			return "р";
		case 's':
			return "с";
		case 't':
			return "т";
		case 'u':
			return "у";
		case 'f':
			return "ф";
		case 'h':
			return "х";
		case 'c':
			return (n1 == 'e' || n1 == 'i' || n1 == 'y') ? "ц" : "к";
		case 'x':
			return "кс";
		case '\'':
		case '`':
		case 0x2019:			/* ’ */
			return "ь";
		case 0x201D:			/* ” */
			return "ъ";
		default:
			return NULL;
	}
}

/*
 * LatToCyr
 *		Best-effort Latin -> Cyrillic ('lat2cyr').
 */
static char *
LatToCyr(const int32 *cps, int n)
{
	StringInfoData buf;
	int32	   *lows = palloc((n + 1) * sizeof(int32));
	int			i;

	for (i = 0; i < n; i++)
		lows[i] = u_tolower(cps[i]);
	lows[n] = 0;
	initStringInfo(&buf);
	i = 0;
	while (i < n)
	{
		int			used;
		const char *m = LatGroup(lows, n, i, &used);

		/* apostrophes only stand for ь inside a word */
		if (m != NULL && !u_isalpha(lows[i]) &&
			!(i > 0 && IsLetter(lows[i - 1]) && i + used < n && IsLetter(lows[i + used])))
			m = NULL;
		if (m == NULL)
		{
			char		tmp[8];

			appendBinaryStringInfo(&buf, tmp, TextPutUtf8(tmp, cps[i]));
			i++;
			continue;
		}
		AppendCased(&buf, m, GroupCaseAt(cps, n, i, i + used));
		i += used;
	}
	pfree(lows);
	return buf.data;
}

/*
 * CdpTranslit
 *		See the file header.
 */
char *
CdpTranslit(const char *s, int len, const char *scheme)
{
	TranslitScheme sc = LookupScheme(scheme);
	CdpCodes	cps;
	char	   *r;

	CdpTextCheck(s, len);
	CdpUtf8Decode(s, len, CDP_UTF8_NFC, &cps);
	r = (sc == TR_LAT2CYR) ? LatToCyr(cps.c, cps.len) : CyrToLat(sc, cps.c, cps.len);
	CdpCodesFree(&cps);
	return r;
}

/*
 * cdp_translit
 *		SQL: cdp.translit(text, scheme text DEFAULT 'icao') RETURNS text.
 */
Datum
cdp_translit(PG_FUNCTION_ARGS)
{
	int			len;
	char	   *s = TextArgUtf8(PG_GETARG_TEXT_PP(0), &len);
	char	   *scheme = text_to_cstring(PG_GETARG_TEXT_PP(1));

	PG_RETURN_TEXT_P(TextResultUtf8(CdpTranslit(s, len, scheme)));
}
