/*-------------------------------------------------------------------------
 *
 * src/phon_ru.c
 *		cdp.phonetic_ru: a metaphone-style key for Russian (Cyrillic) names.
 *
 * The scheme follows the published "Russian Metaphone" of Petrov and
 * Kan'kovskiy (vowel classes O,Y,A,Ya -> A; Yu,U -> U; E,Yo,E,I,J -> I;
 * the combinations JO, IO, JE, IE -> I; devoicing of voiced consonants at
 * the end of a word and before a voiceless one; doubled letters once) and
 * adds a few rules of Russian orthoepy that name data needs: the
 * affricates TS/DS -> C, silent consonants in clusters (STN, ZDN, LNC ...),
 * SCh/ZCh -> Shch, and an explicit, optional fold of feminine surname and
 * patronymic endings (Ivanova -> Ivanov).  Every rule is listed, with
 * examples, in doc/phonetic.md.  The code is written from that description.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unicode/uchar.h>

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "phonetic.h"

/* Lower-case Cyrillic letters used by the rules (code points). */
#define CYR_A		0x0430
#define CYR_VE		0x0432
#define CYR_GHE		0x0433
#define CYR_IE		0x0435
#define CYR_I		0x0438
#define CYR_SHORT_I	0x0439
#define CYR_O		0x043E
#define CYR_HARD	0x044A
#define CYR_YERU	0x044B
#define CYR_SOFT	0x044C
#define CYR_YA		0x044F

/* Key letters (upper-case Cyrillic). */
#define KEY_A		0x0410
#define KEY_I		0x0418
#define KEY_U		0x0423
#define KEY_TSE		0x0426
#define KEY_ES		0x0421

/* Is c a lower-case Russian letter (after CyrFold)? */
#define IsCyrLower(c)	((c) >= 0x0430 && (c) <= 0x044F)
/* Is c an upper-case key letter? */
#define IsKeyLetter(c)	((c) >= 0x0410 && (c) <= 0x042F)
#define IsKeyVowel(c)	((c) == KEY_A || (c) == KEY_I || (c) == KEY_U)

/* A suffix or cluster rewrite, both sides in UTF-8. */
typedef struct RuRewrite
{
	const char *from;
	const char *to;
} RuRewrite;

/*
 * Feminine (and patronymic) endings and their masculine forms, longest
 * first.  Applied only with fold_gender and only when at least two letters
 * remain before the ending (so Ева, Нина stay as they are).
 */
static const RuRewrite gender_endings[] = {
	{"овна", "ович"},			/* Петровна -> Петрович */
	{"евна", "евич"},			/* Сергеевна -> Сергеевич */
	{"ова", "ов"},				/* Иванова -> Иванов */
	{"ева", "ев"},				/* Дмитриева -> Дмитриев */
	{"ина", "ин"},				/* Ильина -> Ильин */
	{"ына", "ын"},				/* Птицына -> Птицын */
	{"ая", "ий"},				/* Чайковская -> Чайковский, Толстая */
	{"яя", "ий"},				/* Синяя -> Синий */
	{NULL, NULL}
};

/* Adjectival masculine endings spelt three ways; always normalised to -ий. */
static const RuRewrite adjective_endings[] = {
	{"ой", "ий"},				/* Толстой, Трубецкой */
	{"ый", "ий"},				/* Белый */
	{NULL, NULL}
};

/*
 * Consonant clusters, longest first: silent consonants (Russian
 * orthoepy), affricates spelt as two letters, and СЧ/ЗЧ/ЖЧ read as Щ.
 * Applied left to right, once, before the vowel classes.
 */
static const RuRewrite clusters[] = {
	{"вств", "ств"},			/* Чувствин -> Чуствин */
	{"стн", "сн"},				/* Капустнов -> Капуснов */
	{"здн", "зн"},				/* Праздников -> Празников */
	{"стл", "сл"},				/* Счастливцев */
	{"лнц", "нц"},				/* Солнцев -> Сонцев */
	{"рдц", "рц"},				/* Сердцев -> Серцев */
	{"тс", "ц"},				/* Братский -> Брацкий */
	{"дс", "ц"},				/* Городской -> Гороцкой */
	{"тц", "ц"},				/* Братцев -> Брацев */
	{"дц", "ц"},
	{"сч", "щ"},				/* Рассчиков -> Ращиков */
	{"зч", "щ"},				/* Извозчиков -> Извощиков */
	{"жч", "щ"},
	{"тч", "ч"},				/* Отчев -> Очев */
	{"дч", "ч"},
	{NULL, NULL}
};

/*
 * CyrFold
 *		Lower-case Russian letter for a Cyrillic code point, or 0 for a code
 *		point that is not a Cyrillic letter.  Ё/ё fold to е; the Ukrainian
 *		and Belarusian letters fold to their nearest Russian letter (Є -> е,
 *		І/Ї -> и, Ґ -> г, Ў -> в) so the key also works for those spellings.
 */
static pg_wchar
CyrFold(pg_wchar c)
{
	if (c >= 0x0410 && c <= 0x042F)
		return c + 0x20;
	if (c >= 0x0430 && c <= 0x044F)
		return c;
	switch (c)
	{
		case 0x0401:			/* Ё */
		case 0x0451:			/* ё */
		case 0x0404:			/* Є */
		case 0x0454:			/* є */
			return CYR_IE;
		case 0x0406:			/* І */
		case 0x0456:			/* і */
		case 0x0407:			/* Ї */
		case 0x0457:			/* ї */
			return CYR_I;
		case 0x0490:			/* Ґ */
		case 0x0491:			/* ґ */
			return CYR_GHE;
		case 0x040E:			/* Ў */
		case 0x045E:			/* ў */
			return CYR_VE;
		default:
			return 0;
	}
}

/*
 * LatinHomoglyph
 *		The Cyrillic letter a Latin capital looks like (А В Е К М Н О Р С Т
 *		Х У, and И for I, which looks like the Ukrainian І), or 0.  Used
 *		only inside words that also hold Cyrillic letters: "Ивaнов" typed
 *		with a Latin "a" is a frequent data-entry error.
 */
static pg_wchar
LatinHomoglyph(pg_wchar c)
{
	switch (c)
	{
		case 'A':
			return 0x0430;
		case 'B':
			return 0x0432;
		case 'C':
			return 0x0441;
		case 'E':
			return 0x0435;
		case 'H':
			return 0x043D;
		case 'I':
			return CYR_I;		/* looks like Ukrainian І */
		case 'K':
			return 0x043A;
		case 'M':
			return 0x043C;
		case 'O':
			return 0x043E;
		case 'P':
			return 0x0440;
		case 'T':
			return 0x0442;
		case 'X':
			return 0x0445;
		case 'Y':
			return 0x0443;
		default:
			return 0;
	}
}

/*
 * Utf8Count
 *		Number of code points in a UTF-8 literal (independent of the
 *		database encoding, unlike pg_mbstrlen).  These walks read the rule
 *		literals only, never input (which goes through CdpUtf8Decode): core's
 *		utf8_to_unicode keeps MatchAt, tried at every position, small enough
 *		to inline.
 */
static int
Utf8Count(const char *s)
{
	const unsigned char *p = (const unsigned char *) s;
	int			n = 0;

	while (*p)
	{
		p += pg_utf_mblen(p);
		n++;
	}
	return n;
}

/*
 * MatchAt
 *		Does the UTF-8 pattern occur in w[pos..n) at pos?  Sets *plen to the
 *		pattern's length in code points.
 */
static bool
MatchAt(const pg_wchar *w, int n, int pos, const char *pattern, int *plen)
{
	const unsigned char *p = (const unsigned char *) pattern;
	int			k = 0;

	while (*p)
	{
		if (pos + k >= n || w[pos + k] != utf8_to_unicode(p))
			return false;
		p += pg_utf_mblen(p);
		k++;
	}
	*plen = k;
	return true;
}

/*
 * AppendUtf8Letters
 *		Appends the code points of a UTF-8 literal to w at *n.
 */
static void
AppendUtf8Letters(pg_wchar *w, int *n, const char *s)
{
	const unsigned char *p = (const unsigned char *) s;

	while (*p)
	{
		w[(*n)++] = utf8_to_unicode(p);
		p += pg_utf_mblen(p);
	}
}

/*
 * RewriteEnding
 *		Applies the first matching rule of a suffix table to the end of w,
 *		when at least min_stem letters remain before the suffix.  The word
 *		buffer has room for the longer replacements (see BuildWordKey).
 */
static bool
RewriteEnding(pg_wchar *w, int *n, const RuRewrite *rules, int min_stem)
{
	int			i;

	for (i = 0; rules[i].from; i++)
	{
		int			flen = Utf8Count(rules[i].from);
		int			plen;

		if (*n - flen < min_stem)
			continue;
		if (MatchAt(w, *n, *n - flen, rules[i].from, &plen))
		{
			*n -= flen;
			AppendUtf8Letters(w, n, rules[i].to);
			return true;
		}
	}
	return false;
}

/*
 * IsIotatedVowel
 *		Vowels read with a Й before them after ъ or ь: е (and ё, folded to
 *		е), и, о, ю, я.
 */
static bool
IsIotatedVowel(pg_wchar c)
{
	return c == CYR_IE || c == CYR_I || c == CYR_O || c == 0x044E || c == CYR_YA;
}

/*
 * VoicelessOf
 *		The voiceless partner of a voiced key consonant (Б->П, В->Ф, Г->К,
 *		Д->Т, Ж->Ш, З->С), or 0.
 */
static pg_wchar
VoicelessOf(pg_wchar c)
{
	switch (c)
	{
		case 0x0411:
			return 0x041F;		/* Б -> П */
		case 0x0412:
			return 0x0424;		/* В -> Ф */
		case 0x0413:
			return 0x041A;		/* Г -> К */
		case 0x0414:
			return 0x0422;		/* Д -> Т */
		case 0x0416:
			return 0x0428;		/* Ж -> Ш */
		case 0x0417:
			return 0x0421;		/* З -> С */
		default:
			return 0;
	}
}

/*
 * IsVoiceless
 *		Is c a voiceless key consonant (П Ф К Т Ш С Х Ц Ч Щ)?
 */
static bool
IsVoiceless(pg_wchar c)
{
	switch (c)
	{
		case 0x041F:
		case 0x0424:
		case 0x041A:
		case 0x0422:
		case 0x0428:
		case 0x0421:
		case 0x0425:
		case 0x0426:
		case 0x0427:
		case 0x0429:
			return true;
		default:
			return false;
	}
}

/*
 * KeyLetter
 *		The key letter of a lower-case Russian letter: the three vowel
 *		classes А (а о ы я), У (у ю), И (е э и й), consonants in upper case,
 *		and 0 for ъ and ь (already removed; kept for safety).
 */
static pg_wchar
KeyLetter(pg_wchar c)
{
	switch (c)
	{
		case 0x0430:			/* а */
		case 0x043E:			/* о */
		case 0x044B:			/* ы */
		case 0x044F:			/* я */
			return KEY_A;
		case 0x0443:			/* у */
		case 0x044E:			/* ю */
			return KEY_U;
		case 0x0435:			/* е */
		case 0x044D:			/* э */
		case 0x0438:			/* и */
		case 0x0439:			/* й */
			return KEY_I;
		case CYR_HARD:
		case CYR_SOFT:
			return 0;
		default:
			return IsCyrLower(c) ? c - 0x20 : c;
	}
}

/*
 * BuildWordKey
 *		Appends the key of one word (code points w[0..n), n > 0) to out.
 *		The word holds lower-case Russian letters, ASCII capitals from the
 *		Latin fold, digits and letters of other scripts.  Words without a
 *		Russian letter are copied (Latin: upper case, accents folded).
 */
static void
BuildWordKey(const pg_wchar *word, int n, bool fold_gender, StringInfo out)
{
	pg_wchar   *w;
	pg_wchar   *k;
	int			i,
				m,
				nk;
	bool		has_cyr = false;
	unsigned char buf[8];

	for (i = 0; i < n; i++)
		if (IsCyrLower(word[i]))
			has_cyr = true;

	if (out->len > 0)
		appendStringInfoChar(out, ' ');

	if (!has_cyr)
	{
		for (i = 0; i < n; i++)
		{
			unicode_to_utf8(word[i], buf);
			appendBinaryStringInfo(out, (char *) buf, pg_utf_mblen(buf));
		}
		return;
	}

	/* no rewrite makes a word longer; the margin is for safety only */
	w = palloc((n + 4) * sizeof(pg_wchar));
	k = palloc((n + 4) * sizeof(pg_wchar));

	/* rule 1: Latin homoglyphs inside a Cyrillic word */
	for (i = 0; i < n; i++)
	{
		pg_wchar	h = LatinHomoglyph(word[i]);

		k[i] = h ? h : word[i];
	}

	/*
	 * rule 1: ъ and ь before a vowel sound Й (Наталья = Наталия, Подъячев,
	 * Ковальов = Ковалёв); elsewhere they are dropped
	 */
	m = 0;
	for (i = 0; i < n; i++)
	{
		if (k[i] == CYR_HARD || k[i] == CYR_SOFT)
		{
			if (i + 1 < n && IsIotatedVowel(k[i + 1]))
				w[m++] = CYR_SHORT_I;
			continue;
		}
		w[m++] = k[i];
	}

	/* rule 2: endings (feminine forms, then the adjectival -ой/-ый) */
	if (fold_gender)
		(void) RewriteEnding(w, &m, gender_endings, 2);
	(void) RewriteEnding(w, &m, adjective_endings, 2);

	/* rules 3 and 4: ЙО ИО ЙЕ ИЕ -> И, then consonant clusters */
	nk = 0;
	for (i = 0; i < m;)
	{
		int			r,
					plen;
		bool		done = false;

		if ((w[i] == CYR_SHORT_I || w[i] == CYR_I) && i + 1 < m &&
			(w[i + 1] == CYR_O || w[i + 1] == CYR_IE))
		{
			k[nk++] = CYR_I;
			i += 2;
			continue;
		}
		for (r = 0; clusters[r].from; r++)
		{
			if (MatchAt(w, m, i, clusters[r].from, &plen))
			{
				AppendUtf8Letters(k, &nk, clusters[r].to);
				i += plen;
				done = true;
				break;
			}
		}
		if (!done)
			k[nk++] = w[i++];
	}

	/* rule 5: vowel classes, consonants to upper case */
	for (i = 0; i < nk; i++)
		k[i] = KeyLetter(k[i]);

	/* rule 6: devoicing at the end of the word and before a voiceless consonant */
	for (i = nk - 1; i >= 0; i--)
	{
		pg_wchar	v = VoicelessOf(k[i]);

		if (v && (i == nk - 1 || IsVoiceless(k[i + 1])))
			k[i] = v;
	}

	/* rule 7: Ц before a consonant is read as С (Шварцман = Шварсман) */
	for (i = 0; i + 1 < nk; i++)
		if (k[i] == KEY_TSE && IsKeyLetter(k[i + 1]) && !IsKeyVowel(k[i + 1]))
			k[i] = KEY_ES;

	/* rule 8: a letter repeated is written once */
	for (i = 0; i < nk; i++)
	{
		if (i > 0 && k[i] == k[i - 1])
			continue;
		unicode_to_utf8(k[i], buf);
		appendBinaryStringInfo(out, (char *) buf, pg_utf_mblen(buf));
	}
	pfree(w);
	pfree(k);
}

/*
 * CdpPhoneticRuExt
 *		Key of a text of one or more words: every word is keyed on its own
 *		and the keys are joined with single spaces.  Letters (any script)
 *		and digits form words; combining marks (stress accents, a decomposed
 *		й or ё) and apostrophes are skipped; everything else separates words.
 */
char *
CdpPhoneticRuExt(const char *s, int len, bool fold_gender)
{
	CdpCodes	codes;
	int32	   *cp;
	pg_wchar   *word;
	int			ncp,
				nw = 0,
				i;
	StringInfoData out;

	CdpCheckInput(s, len, CDP_MAX_TEXT_BYTES, CDP_CHECK_UTF8);
	/* a folded Latin letter may become two ASCII letters (Æ -> AE) */
	word = palloc((2 * len + 1) * sizeof(pg_wchar));
	CdpUtf8Decode(s, len, 0, &codes);
	cp = codes.c;
	ncp = codes.len;
	initStringInfo(&out);

	for (i = 0; i <= ncp; i++)
	{
		pg_wchar	c = (i < ncp) ? cp[i] : 0;
		pg_wchar	cyr;
		const char *lat;

		if (i < ncp && (PhonIsCombining(c) || c == '\'' || c == 0x2019 || c == 0x02BC))
			continue;
		if (i < ncp && (cyr = CyrFold(c)) != 0)
			word[nw++] = cyr;
		else if (i < ncp && (lat = PhonFoldLatin(c)) != NULL)
		{
			while (*lat)
				word[nw++] = (pg_wchar) *lat++;
		}
		else if (i < ncp && ((c >= '0' && c <= '9') || (c >= 0x80 && u_isalnum((UChar32) c))))
			word[nw++] = c;
		else
		{
			if (nw > 0)
				BuildWordKey(word, nw, fold_gender, &out);
			nw = 0;
		}
	}
	CdpCodesFree(&codes);
	pfree(word);
	return out.data;
}

/*
 * CdpPhoneticRu
 *		The key with the feminine-ending fold on (the C interface of
 *		doc/architecture.md).
 */
char *
CdpPhoneticRu(const char *s, int len)
{
	return CdpPhoneticRuExt(s, len, true);
}

PG_FUNCTION_INFO_V1(cdp_phonetic_ru);

/*
 * cdp_phonetic_ru
 *		SQL: cdp.phonetic_ru(text, fold_gender boolean DEFAULT true) -> text.
 *		Converts from the database encoding to UTF-8 and back.
 */
Datum
cdp_phonetic_ru(PG_FUNCTION_ARGS)
{
	text	   *arg = PG_GETARG_TEXT_PP(0);
	bool		fold_gender = PG_NARGS() > 1 ? PG_GETARG_BOOL(1) : true;
	int			len = VARSIZE_ANY_EXHDR(arg);
	char	   *utf8;
	char	   *key;

	if (len > CDP_MAX_TEXT_BYTES)
		CdpCheckInput(VARDATA_ANY(arg), len, CDP_MAX_TEXT_BYTES, CDP_CHECK_UTF8);
	utf8 = pg_server_to_any(VARDATA_ANY(arg), len, PG_UTF8);
	if (utf8 != VARDATA_ANY(arg))
		len = strlen(utf8);
	key = CdpPhoneticRuExt(utf8, len, fold_gender);
	key = pg_any_to_server(key, strlen(key), PG_UTF8);
	PG_RETURN_TEXT_P(cstring_to_text(key));
}
