/*-------------------------------------------------------------------------
 *
 * src/cmp_utf8.c
 *		UTF-8 decoding shared by the comparators: every string comparator
 *		decodes its inputs once into an array of code points (on the stack
 *		for short strings) and then works on whole characters.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"

#include "cmp.h"

/* the position masks of the bit-parallel comparators (see cmp.h) */
CdpPmEntry	CdpPmTable[256];
uint32		CdpPmStamp = 0;

/*
 * CdpCheckCharLength
 *		Raises 54000 when s has more than CDP_CMP_MAX_CHARS code points.  Only
 *		called for strings of more bytes than that (see cmp.h): a code point
 *		takes at least one byte, so shorter strings always pass.
 */
void
CdpCheckCharLength(const char *s, int len)
{
	if (CdpCountChars(s, len) > CDP_CMP_MAX_CHARS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("argument exceeds the maximum length of %d characters",
						CDP_CMP_MAX_CHARS),
				 errdetail("The string comparators take time proportional to the product of the lengths of their arguments."),
				 errhint("Compare a shorter part of the value, such as a name.")));
}

/*
 * CdpDecodeUtf8
 *		Decodes len bytes of UTF-8 into out.  Short strings use out->buf, long
 *		ones a palloc'd array (release with CdpCodesFree).  Raises 22021 for a
 *		malformed sequence and 54000 beyond CDP_CMP_MAX_CHARS code points.
 */
void
CdpDecodeUtf8(const char *s, int len, CdpCodes *out)
{
	const unsigned char *p = (const unsigned char *) s;
	int			i = 0;
	int			n = 0;
	int			cap;

	if (len < 0)
		elog(ERROR, "negative string length %d", len);
	CdpCheckCharLengthFast(s, len);

	/* every code point takes at least one byte: len bounds the count */
	cap = Min(len, CDP_CMP_MAX_CHARS);
	if (cap <= CDP_CMP_STACK_CHARS)
		out->c = out->buf;
	else
		out->c = (int32 *) palloc(sizeof(int32) * cap);

	while (i < len)
		out->c[n++] = CdpNextChar(p, len, &i);
	out->len = n;
}

/*
 * CdpDecodeSlow
 *		The code point of the three- or four-byte sequence at p[*i] (or of a
 *		two-byte one CdpNextChar did not take); raises 22021 for anything
 *		malformed.  Advances *i past it.
 */
int32
CdpDecodeSlow(const unsigned char *p, int len, int *i)
{
	unsigned char c = p[*i];
	int32		cp;
	int			l;

	if (c < 0x80)
		l = 1;
	else if (c >= 0xC2 && c <= 0xDF)
		l = 2;
	else if (c >= 0xE0 && c <= 0xEF)
		l = 3;
	else if (c >= 0xF0 && c <= 0xF4)
		l = 4;
	else
		report_invalid_encoding(PG_UTF8, (const char *) p + *i, len - *i);
	/* the payload bits of the first byte: 7, 5, 4 or 3 */
	cp = c & (l == 1 ? 0x7F : 0xFF >> (l + 1));
	if (*i + l > len || !pg_utf8_islegal(p + *i, l))
		report_invalid_encoding(PG_UTF8, (const char *) p + *i, len - *i);
	for (int k = 1; k < l; k++)
		cp = (cp << 6) | (p[*i + k] & 0x3F);
	*i += l;
	return cp;
}

/*
 * CdpCodesFree
 *		Releases the heap array of a decoded string, if it has one.
 */
void
CdpCodesFree(CdpCodes *codes)
{
	if (codes->c != NULL && codes->c != codes->buf)
		pfree(codes->c);
	codes->c = NULL;
}

/*
 * CdpSimpleLower
 *		Lower case for Latin (ASCII and Latin-1) and Russian Cyrillic letters,
 *		with ё folded to е as Russian names are written either way.  Other
 *		code points are returned unchanged: the text family does full Unicode
 *		case folding; this is the cheap version the comparators need.
 */
int32
CdpSimpleLower(int32 c)
{
	if (c < 0x80)
		return (c >= 'A' && c <= 'Z') ? c + 32 : c;
	if (c >= 0xC0 && c <= 0xDE && c != 0xD7)
		return c + 32;
	if (c >= 0x410 && c <= 0x42F)
		return c + 32;
	if (c == 0x401 || c == 0x451)
		return 0x435;			/* Ё, ё -> е */
	if (c >= 0x400 && c <= 0x40F)
		return c + 80;
	return c;
}

/*
 * CdpCheckDatabaseEncoding
 *		The SQL wrappers hand text datums to UTF-8 decoders: refuse to run in
 *		a database with another encoding rather than misread its bytes.
 */
void
CdpCheckDatabaseEncoding(void)
{
	if (GetDatabaseEncoding() != PG_UTF8)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cdp comparators require a UTF8 database"),
				 errdetail("The database encoding is \"%s\".",
						   GetDatabaseEncodingName()),
				 errhint("Create the database with ENCODING 'UTF8'.")));
}
