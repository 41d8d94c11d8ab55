/*-------------------------------------------------------------------------
 *
 * src/text_normalize.c
 *		cdp.normalize_name: one canonical spelling of a name in its own script,
 *		plus the UTF-8 argument and result helpers every text_*.c file shares.
 *
 * The pipeline (doc/text.md, "normalize_name"):
 *	1. Unicode NFKC_Casefold (ICU): compatibility forms, full case folding,
 *	   default-ignorable characters (soft hyphen, zero-width joiner) removed;
 *	2. NFD, then every combining mark on a Latin, Cyrillic or Greek letter
 *	   or a digit is dropped (é -> e, ё -> е), except the breve that makes и into й;
 *	   letters with no decomposition (ł, ø, æ, ...) come from a small table;
 *	3. apostrophes are removed (O'Brien -> obrien), any dash joins the words
 *	   around it with one hyphen (Римский - Корсаков -> римский-корсаков),
 *	   every other non-letter, non-digit (dots of initials, commas, emoji)
 *	   separates words; runs of separators become one space, none at the ends;
 *	4. NFC of the result.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/uscript.h>
#include <unicode/ustring.h>

#include "lib/stringinfo.h"
#include "text.h"

PG_FUNCTION_INFO_V1(cdp_normalize_name);
PG_FUNCTION_INFO_V1(cdp_name_tokens);

/*
 * TextArgUtf8
 *		The bytes of a text argument in UTF-8, checked.  The cap is applied
 *		before any conversion so hostile input costs nothing.
 */
char *
TextArgUtf8(text *t, int *len)
{
	char	   *s = VARDATA_ANY(t);
	int			n = VARSIZE_ANY_EXHDR(t);
	char	   *u;

	CdpCheckInput(s, n, CDP_MAX_TEXT_BYTES, 0);
	u = (char *) pg_server_to_any(s, n, PG_UTF8);
	if (u != s)
		n = strlen(u);
	CdpTextCheck(u, n);
	*len = n;
	return u;
}

/*
 * TextResultUtf8
 *		A text value for a UTF-8 C string, in the server encoding (an error if
 *		the server encoding cannot hold a character, e.g. Cyrillic in LATIN1).
 */
text *
TextResultUtf8(const char *s)
{
	char	   *c = pg_any_to_server(s, strlen(s), PG_UTF8);

	return cstring_to_text(c);
}

/*
 * CdpUtf8Chars
 *		Number of characters in the first nbytes of UTF-8 (its lead bytes:
 *		the database encoding does not matter).
 */
int
CdpUtf8Chars(const char *s, int nbytes)
{
	int			n = 0;
	int			i;

	for (i = 0; i < nbytes; i++)
		if ((s[i] & 0xC0) != 0x80)
			n++;
	return n;
}

/*
 * TextMapTokens
 *		Normalises s and rewrites every token (between spaces and hyphens)
 *		with fn, keeping the separators.
 */
char *
TextMapTokens(const char *s, int len, TextTokenFn fn)
{
	char	   *norm = CdpNormalizeName(s, len);
	StringInfoData out;
	const char *p = norm;

	initStringInfo(&out);
	while (*p)
	{
		int			l = strcspn(p, " -");

		if (l > 0)
			appendStringInfoString(&out, fn(p, l));
		p += l;
		if (*p)
			appendStringInfoChar(&out, *p++);
	}
	pfree(norm);
	return out.data;
}

/*
 * TextPutUtf8
 *		Writes code point c as UTF-8 into dst and returns the byte count.
 */
int
TextPutUtf8(char *dst, int32 c)
{
	unicode_to_utf8((pg_wchar) c, (unsigned char *) dst);
	return pg_utf_mblen((unsigned char *) dst);
}

/*
 * FoldLetter
 *		Latin letters that NFD does not decompose but that carry a diacritic
 *		or ligature in practice; returns an ASCII replacement or NULL.  Input
 *		is already case-folded (ß is ss by then).
 */
static const char *
FoldLetter(UChar32 c)
{
	switch (c)
	{
		case 0x00E6:			/* æ */
			return "ae";
		case 0x0153:			/* œ */
			return "oe";
		case 0x00F8:			/* ø */
			return "o";
		case 0x0142:			/* ł */
			return "l";
		case 0x0111:			/* đ */
		case 0x00F0:			/* ð */
			return "d";
		case 0x00FE:			/* þ */
			return "th";
		case 0x0131:			/* dotless ı */
			return "i";
		case 0x0127:			/* ħ */
			return "h";
		case 0x0167:			/* ŧ */
			return "t";
		case 0x014B:			/* ŋ */
			return "n";
		default:
			return NULL;
	}
}

/*
 * IsApostrophe
 *		Characters removed without a word break: apostrophes, primes, the
 *		backticks of GOST 7.79 (ь = `, ъ = ``) and the quotes BGN/PCGN uses for
 *		ь and ъ, so a transliterated name normalises to plain letters.
 */
static bool
IsApostrophe(UChar32 c)
{
	switch (c)
	{
		case 0x0027:			/* ' */
		case 0x0060:			/* ` */
		case 0x00B4:			/* ´ */
		case 0x02B9:			/* ʹ */
		case 0x02BA:			/* ʺ */
		case 0x02BB:			/* ʻ */
		case 0x02BC:			/* ʼ */
		case 0x02BD:			/* ʽ */
		case 0x2018:			/* ‘ */
		case 0x2019:			/* ’ */
		case 0x201B:			/* ‛ */
		case 0x201C:			/* “ */
		case 0x201D:			/* ” */
		case 0x2032:			/* ′ */
		case 0x2033:			/* ″ */
		case 0x0022:			/* " */
			return true;
		default:
			return false;
	}
}

/*
 * IsStripScript
 *		Scripts whose combining marks are diacritics we drop.  Marks on other
 *		scripts (Devanagari vowel signs, ...) are part of the letter and stay.
 */
static bool
IsStripScript(UChar32 c)
{
	UErrorCode	status = U_ZERO_ERROR;
	UScriptCode sc = uscript_getScript(c, &status);

	return U_SUCCESS(status) &&
		(sc == USCRIPT_LATIN || sc == USCRIPT_CYRILLIC || sc == USCRIPT_GREEK);
}

/* the separator pending before the next letter */
typedef enum
{
	SEP_NONE,
	SEP_SPACE,
	SEP_HYPHEN
} PendingSep;

/*
 * CdpNormalizeName
 *		See the file header for the rules.
 */
char *
CdpNormalizeName(const char *s, int len)
{
	UErrorCode	status = U_ZERO_ERROR;
	const UNormalizer2 *nfkccf;
	const UNormalizer2 *nfd;
	const UNormalizer2 *nfc;
	UChar	   *u;
	UChar	   *a;
	UChar	   *b;
	UChar	   *out;
	UChar	   *fin;
	int32		ulen;
	int32		alen;
	int32		blen;
	int32		olen = 0;
	int32		flen;
	int32		i = 0;
	int32		lastLetterAt = -1;	/* index in out of the last base letter */
	bool		lastKept = false;	/* last base char was a letter we kept */
	bool		lastStrip = false;	/* ... of a script whose marks we drop */
	PendingSep	sep = SEP_NONE;
	char	   *result;

	CdpTextCheck(s, len);
	nfkccf = unorm2_getNFKCCasefoldInstance(&status);
	nfd = unorm2_getNFDInstance(&status);
	nfc = unorm2_getNFCInstance(&status);
	CdpIcuCheck(status, "normaliser instance");

	u = CdpIcuFromUtf8(s, len, &ulen);
	a = CdpIcuNormalize(nfkccf, u, ulen, &alen);
	b = CdpIcuNormalize(nfd, a, alen, &blen);
	pfree(u);
	pfree(a);

	/* every input unit yields at most 2 output units plus one separator */
	out = palloc(((Size) blen * 3 + 1) * sizeof(UChar));
	while (i < blen)
	{
		UChar32		c;
		int8		gc;

		U16_NEXT(b, i, blen, c);
		gc = u_charType(c);

		if (gc == U_NON_SPACING_MARK || gc == U_COMBINING_SPACING_MARK ||
			gc == U_ENCLOSING_MARK)
		{
			/* the breve makes и into й; every other mark on our scripts goes */
			if (c == 0x0306 && lastKept && lastLetterAt >= 0 &&
				out[lastLetterAt] == 0x0438)
				out[lastLetterAt] = 0x0439;
			else if (lastKept && !lastStrip)
				U16_APPEND_UNSAFE(out, olen, c);
			continue;
		}

		if (u_hasBinaryProperty(c, UCHAR_ALPHABETIC) || u_isdigit(c))
		{
			const char *f = FoldLetter(c);

			if (olen > 0 && sep == SEP_HYPHEN)
				out[olen++] = '-';
			else if (olen > 0 && sep == SEP_SPACE)
				out[olen++] = ' ';
			sep = SEP_NONE;
			lastLetterAt = olen;
			if (f != NULL)
			{
				for (; *f; f++)
					out[olen++] = (UChar) *f;
			}
			else
				U16_APPEND_UNSAFE(out, olen, c);
			lastKept = true;
			lastStrip = u_isdigit(c) || IsStripScript(c);
			continue;
		}

		lastKept = false;
		if (IsApostrophe(c))
			continue;
		if (gc == U_DASH_PUNCTUATION || c == 0x2212)	/* dashes, minus sign */
			sep = SEP_HYPHEN;
		else if (sep == SEP_NONE)
			sep = SEP_SPACE;
	}
	pfree(b);

	fin = CdpIcuNormalize(nfc, out, olen, &flen);
	result = CdpIcuToUtf8(fin, flen, NULL);
	pfree(out);
	pfree(fin);
	return result;
}

/*
 * cdp_normalize_name
 *		SQL: cdp.normalize_name(text) RETURNS text.
 */
Datum
cdp_normalize_name(PG_FUNCTION_ARGS)
{
	int			len;
	char	   *s = TextArgUtf8(PG_GETARG_TEXT_PP(0), &len);

	PG_RETURN_TEXT_P(TextResultUtf8(CdpNormalizeName(s, len)));
}

/*
 * CdpNameTokens
 *		The tokens of the normalised name in order; a hyphenated token is
 *		followed by its parts (римский-корсаков, римский, корсаков).  Returns
 *		the count and sets *out to a palloc'd array of palloc'd strings.
 */
int
CdpNameTokens(const char *s, int len, char ***out)
{
	char	   *norm = CdpNormalizeName(s, len);
	int			cap = 1;
	int			n = 0;
	const char *p;

	for (p = norm; *p; p++)
		if (*p == ' ' || *p == '-')
			cap += 2;
	*out = palloc(cap * 2 * sizeof(char *));
	p = norm;
	while (*p)
	{
		int			l = strcspn(p, " ");

		if (l > 0)
		{
			(*out)[n++] = pnstrdup(p, l);
			if (memchr(p, '-', l) != NULL)
			{
				const char *q = p;
				const char *end = p + l;

				while (q < end)
				{
					int			pl = strcspn(q, " -");

					if (pl > 0)
						(*out)[n++] = pnstrdup(q, pl);
					q += pl + 1;
				}
			}
		}
		p += l;
		if (*p)
			p++;
	}
	return n;
}

/*
 * cdp_name_tokens
 *		SQL: cdp.name_tokens(text) RETURNS text[].
 */
Datum
cdp_name_tokens(PG_FUNCTION_ARGS)
{
	int			len;
	char	   *s = TextArgUtf8(PG_GETARG_TEXT_PP(0), &len);
	char	  **toks;
	int			n = CdpNameTokens(s, len, &toks);
	Datum	   *elems = palloc((n + 1) * sizeof(Datum));
	int			i;

	for (i = 0; i < n; i++)
		elems[i] = PointerGetDatum(TextResultUtf8(toks[i]));
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}
