/*-------------------------------------------------------------------------
 *
 * src/cdp_utf8.c
 *		UTF-8 shared by every family: the one input check (database
 *		encoding, length, validity) with one wording and one SQLSTATE for
 *		each failure, the one decoder of UTF-8 into code points, and the ICU
 *		helpers behind its NFC option (also used by the text family's
 *		normaliser).  See cdp_utf8.h.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "utils/memutils.h"

#include <unicode/ustring.h>

#include "cdp_utf8.h"

/* set once the database encoding has been found to be UTF8 (fixed per backend) */
bool		CdpDatabaseIsUtf8 = false;

/*
 * CdpCheckDatabaseUtf8Slow
 *		Refuses to run in a database whose encoding is not UTF-8 rather than
 *		misread its bytes (CdpCheckDatabaseUtf8 calls it until the encoding
 *		has been found to be UTF-8: a backend stays connected to one
 *		database, whose encoding cannot change).
 */
void
CdpCheckDatabaseUtf8Slow(void)
{
	if (GetDatabaseEncoding() != PG_UTF8)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cdp needs a UTF-8 database"),
				 errdetail("The database encoding is \"%s\".",
						   GetDatabaseEncodingName()),
				 errhint("Create the database with ENCODING 'UTF8'.")));
	CdpDatabaseIsUtf8 = true;
}

/*
 * CdpCheckInput
 *		The length cap of every cdp function that takes text: at most limit
 *		bytes, or code points with CDP_CHECK_CHARS (then s must be valid
 *		UTF-8 already, as every text datum of a UTF-8 database is).  With
 *		CDP_CHECK_UTF8, bytes that are not UTF-8 (or a NUL byte) raise the
 *		server's own 22021 error.  The cap is checked first, so a hostile
 *		megabyte costs nothing.
 */
void
CdpCheckInput(const char *s, int len, int limit, int flags)
{
	bool		chars = (flags & CDP_CHECK_CHARS) != 0;
	int			n = len;

	if (len < 0)
		elog(ERROR, "negative string length %d", len);
	if (chars && len > limit)
		n = CdpCountChars(s, len);
	if (n > limit)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("argument is too long"),
				 chars ?
				 errdetail("The argument has %d characters; the limit is %d characters.",
						   n, limit) :
				 errdetail("The argument has %d bytes; the limit is %d bytes.",
						   n, limit),
				 errhint("Pass one name, phone number or address, not a whole document.")));
	if (flags & CDP_CHECK_UTF8)
		(void) pg_verify_mbstr(PG_UTF8, s, len, false);
}

/*
 * CdpIcuCheck
 *		Turns an ICU failure into an error; it can only mean an ICU data or
 *		memory problem, never bad user input (which was verified before).
 */
void
CdpIcuCheck(UErrorCode status, const char *what)
{
	if (U_FAILURE(status))
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("ICU %s failed: %s", what, u_errorName(status))));
}

/*
 * CdpIcuFromUtf8
 *		UTF-8 (already verified) to a palloc'd UTF-16 buffer; *ulen its length.
 *		UTF-16 never needs more code units than UTF-8 has bytes.
 */
UChar *
CdpIcuFromUtf8(const char *s, int len, int32 *ulen)
{
	UErrorCode	status = U_ZERO_ERROR;
	UChar	   *u = palloc((len + 1) * sizeof(UChar));

	u_strFromUTF8(u, len + 1, ulen, s, len, &status);
	CdpIcuCheck(status, "UTF-8 decoding");
	return u;
}

/*
 * CdpIcuToUtf8
 *		UTF-16 to a palloc'd NUL-terminated UTF-8 string (at most 3 bytes per
 *		code unit); *len, when not NULL, gets its length in bytes.
 */
char *
CdpIcuToUtf8(const UChar *u, int32 ulen, int *len)
{
	UErrorCode	status = U_ZERO_ERROR;
	int32		blen;
	char	   *b = palloc((Size) ulen * 3 + 1);

	u_strToUTF8(b, ulen * 3 + 1, &blen, u, ulen, &status);
	CdpIcuCheck(status, "UTF-8 encoding");
	b[blen] = '\0';
	if (len)
		*len = blen;
	return b;
}

/*
 * CdpIcuNormalize
 *		Applies one ICU normaliser; preflights so expansions (NFKC can grow a
 *		string many times) get an exactly sized buffer.
 */
UChar *
CdpIcuNormalize(const UNormalizer2 *norm, const UChar *src, int32 srclen, int32 *outlen)
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
	CdpIcuCheck(status, "normalisation");
	*outlen = n;
	return dst;
}

/*
 * CdpUtf8IsNfc
 *		Whether len bytes of valid UTF-8 are NFC already because every code
 *		point is in U+0000..U+02FF, U+0400..U+0482 or U+048A..U+04FF (lead
 *		bytes below 0xCC or 0xD0..0xD3, minus the Cyrillic combining marks
 *		U+0483..U+0489): each of those is a starter (combining class 0),
 *		its own NFC, and never the second of a canonical composition, so
 *		there is nothing to reorder or compose (checked against the Unicode
 *		data; the stability policy keeps it so).  Latin and Russian names
 *		skip ICU this way.
 */
static bool
CdpUtf8IsNfc(const char *s, int len)
{
	for (int i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c < 0xCC)
			continue;
		if (c < 0xD0 || c > 0xD3)
			return false;
		/* U+0483..U+0489 are D2 83..D2 89 */
		if (c == 0xD2 && i + 1 < len &&
			(unsigned char) s[i + 1] >= 0x83 && (unsigned char) s[i + 1] <= 0x89)
			return false;
	}
	return true;
}

/*
 * CdpUtf8Nfc
 *		The NFC form of len bytes of valid UTF-8, palloc'd (*outlen bytes), or
 *		s itself when it is NFC already (CdpUtf8IsNfc).
 */
static const char *
CdpUtf8Nfc(const char *s, int len, int *outlen)
{
	UErrorCode	status = U_ZERO_ERROR;
	const UNormalizer2 *nfc;
	UChar	   *u;
	UChar	   *v;
	int32		ulen;
	int32		vlen;
	char	   *r;

	*outlen = len;
	if (CdpUtf8IsNfc(s, len))
		return s;
	nfc = unorm2_getNFCInstance(&status);
	CdpIcuCheck(status, "NFC instance");
	u = CdpIcuFromUtf8(s, len, &ulen);
	v = CdpIcuNormalize(nfc, u, ulen, &vlen);
	r = CdpIcuToUtf8(v, vlen, outlen);
	pfree(u);
	pfree(v);
	return r;
}

/*
 * CdpUtf8Decode
 *		Decodes len bytes of UTF-8 into out: the code points, then a 0.  Short
 *		strings use out->buf, long ones a palloc'd array (release with
 *		CdpCodesFree).  Raises 22021 for a malformed sequence.  With
 *		CDP_UTF8_NFC the text is composed to Unicode NFC first (s must be
 *		valid UTF-8 then).  Callers apply their length cap before.
 */
void
CdpUtf8Decode(const char *s, int len, int flags, CdpCodes *out)
{
	const unsigned char *p;
	const char *t = s;
	int			i = 0;
	int			n = 0;

	if (len < 0)
		elog(ERROR, "negative string length %d", len);
	if (flags & CDP_UTF8_NFC)
		t = CdpUtf8Nfc(s, len, &len);
	p = (const unsigned char *) t;

	/* every code point takes at least one byte: len bounds the count */
	if (len <= CDP_CODES_STACK)
		out->c = out->buf;
	else
		out->c = (int32 *) palloc(sizeof(int32) * ((Size) len + 1));

	while (i < len)
		out->c[n++] = CdpNextChar(p, len, &i);
	out->c[n] = 0;
	out->len = n;
	if (t != s)
		pfree((char *) t);
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
