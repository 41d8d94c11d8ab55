/*-------------------------------------------------------------------------
 *
 * src/text_normalize.c
 *		cdp.normalize_name: one canonical spelling of a name in its own script,
 *		plus the input checks and UTF-8 helpers every text_*.c file shares.
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

#include "text.h"

PG_FUNCTION_INFO_V1(cdp_normalize_name);
PG_FUNCTION_INFO_V1(cdp_name_tokens);

/*
 * CdpTextCheck
 *		Rejects input over the shared length cap or not valid UTF-8.  In a UTF-8
 *		database invalid input cannot reach us; in SQL_ASCII it can.
 */
void
CdpTextCheck(const char *s, int len)
{
	if (len < 0 || len > CDP_MAX_TEXT_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("name text is too long"),
				 errdetail("The value has %d bytes; the limit is %d bytes.",
						   len, CDP_MAX_TEXT_BYTES)));
	if (!pg_verify_mbstr(PG_UTF8, s, len, true))
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("name text is not valid UTF-8"),
				 errdetail("The value contains a byte sequence that is not UTF-8 or a NUL byte.")));
}

/*
 * CdpTextArgUtf8
 *		The bytes of a text argument in UTF-8, checked.  The cap is applied
 *		before any conversion so hostile input costs nothing.
 */
char *
CdpTextArgUtf8(text *t, int *len)
{
	char	   *s = VARDATA_ANY(t);
	int			n = VARSIZE_ANY_EXHDR(t);
	char	   *u;

	if (n > CDP_MAX_TEXT_BYTES)
		CdpTextCheck(s, n);		/* raises the length error */
	u = (char *) pg_server_to_any(s, n, PG_UTF8);
	if (u != s)
		n = strlen(u);
	CdpTextCheck(u, n);
	*len = n;
	return u;
}

/*
 * CdpTextResultUtf8
 *		A text value for a UTF-8 C string, in the server encoding (an error if
 *		the server encoding cannot hold a character, e.g. Cyrillic in LATIN1).
 */
text *
CdpTextResultUtf8(const char *s)
{
	char	   *c = pg_any_to_server(s, strlen(s), PG_UTF8);

	return cstring_to_text(c);
}

/*
 * CdpPutUtf8
 *		Writes code point c as UTF-8 into dst and returns the byte count.
 */
int
CdpPutUtf8(char *dst, int32 c)
{
	unicode_to_utf8((pg_wchar) c, (unsigned char *) dst);
	return pg_utf_mblen((unsigned char *) dst);
}

/*
 * IcuCheck
 *		Turns an ICU failure into an error; it can only mean an ICU data or
 *		memory problem, never bad user input (which was verified before).
 */
static void
IcuCheck(UErrorCode status, const char *what)
{
	if (U_FAILURE(status))
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("ICU %s failed: %s", what, u_errorName(status))));
}

/*
 * IcuFromUtf8
 *		UTF-8 (already verified) to a palloc'd UTF-16 buffer; *ulen its length.
 *		UTF-16 never needs more code units than UTF-8 has bytes.
 */
static UChar *
IcuFromUtf8(const char *s, int len, int32 *ulen)
{
	UErrorCode	status = U_ZERO_ERROR;
	UChar	   *u = palloc((len + 1) * sizeof(UChar));

	u_strFromUTF8(u, len + 1, ulen, s, len, &status);
	IcuCheck(status, "UTF-8 decoding");
	return u;
}

/*
 * IcuToUtf8
 *		UTF-16 to a palloc'd NUL-terminated UTF-8 string (at most 3 bytes per
 *		code unit).
 */
static char *
IcuToUtf8(const UChar *u, int32 ulen)
{
	UErrorCode	status = U_ZERO_ERROR;
	int32		blen;
	char	   *b = palloc((Size) ulen * 3 + 1);

	u_strToUTF8(b, ulen * 3 + 1, &blen, u, ulen, &status);
	IcuCheck(status, "UTF-8 encoding");
	b[blen] = '\0';
	return b;
}

/*
 * IcuNormalize
 *		Applies one ICU normaliser; preflights so expansions (NFKC can grow a
 *		string many times) get an exactly sized buffer.
 */
static UChar *
IcuNormalize(const UNormalizer2 *norm, const UChar *src, int32 srclen, int32 *outlen)
{
	UErrorCode	status = U_ZERO_ERROR;
	int32		cap = srclen + 16;
	UChar	   *dst = palloc(cap * sizeof(UChar));
	int32		n;

	n = unorm2_normalize(norm, src, srclen, dst, cap, &status);
	if (status == U_BUFFER_OVERFLOW_ERROR)
	{
		pfree(dst);
		if ((Size) n + 1 > MaxAllocSize / sizeof(UChar))
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("normalised name text is too long")));
		cap = n + 1;
		dst = palloc(cap * sizeof(UChar));
		status = U_ZERO_ERROR;
		n = unorm2_normalize(norm, src, srclen, dst, cap, &status);
	}
	IcuCheck(status, "normalisation");
	*outlen = n;
	return dst;
}

/*
 * CdpDecodeNfc
 *		UTF-8 -> NFC -> array of code points (see text.h).
 */
int32 *
CdpDecodeNfc(const char *s, int len, int *n)
{
	UErrorCode	status = U_ZERO_ERROR;
	const UNormalizer2 *nfc = unorm2_getNFCInstance(&status);
	UChar	   *u;
	UChar	   *v;
	int32		ulen;
	int32		vlen;
	int32		i = 0;
	int			k = 0;
	int32	   *cps;

	IcuCheck(status, "NFC instance");
	u = IcuFromUtf8(s, len, &ulen);
	v = IcuNormalize(nfc, u, ulen, &vlen);
	cps = palloc((vlen + 1) * sizeof(int32));
	while (i < vlen)
	{
		UChar32		c;

		U16_NEXT(v, i, vlen, c);
		cps[k++] = c;
	}
	cps[k] = 0;
	*n = k;
	pfree(u);
	pfree(v);
	return cps;
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
	IcuCheck(status, "normaliser instance");

	u = IcuFromUtf8(s, len, &ulen);
	a = IcuNormalize(nfkccf, u, ulen, &alen);
	b = IcuNormalize(nfd, a, alen, &blen);
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

	fin = IcuNormalize(nfc, out, olen, &flen);
	result = IcuToUtf8(fin, flen);
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
	char	   *s = CdpTextArgUtf8(PG_GETARG_TEXT_PP(0), &len);

	PG_RETURN_TEXT_P(CdpTextResultUtf8(CdpNormalizeName(s, len)));
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
	char	   *s = CdpTextArgUtf8(PG_GETARG_TEXT_PP(0), &len);
	char	  **toks;
	int			n = CdpNameTokens(s, len, &toks);
	Datum	   *elems = palloc((n + 1) * sizeof(Datum));
	int			i;

	for (i = 0; i < n; i++)
		elems[i] = PointerGetDatum(CdpTextResultUtf8(toks[i]));
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}
