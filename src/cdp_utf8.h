/*-------------------------------------------------------------------------
 *
 * src/cdp_utf8.h
 *		UTF-8 shared by every family (cdp_utf8.c): the one input check
 *		(database encoding, length, validity), the one decoder of UTF-8 into
 *		code points (with Unicode NFC as an option) and the ICU helpers the
 *		decoder and the text family's normaliser use.
 *
 * The decoder's fast path (ASCII and two-byte sequences, i.e. Latin and
 * Cyrillic) is inline here so that hot loops (the comparators, the OSA
 * scans) decode without a call per character; every other sequence, and
 * every error, goes to CdpDecodeSlow.  So are the word loaders those scans
 * read UTF-8 with (CdpLoad*).
 *
 *-------------------------------------------------------------------------
 */
#ifndef CDP_UTF8_H
#define CDP_UTF8_H

#include "cdp.h"

#include "port/pg_bswap.h"

#include <unicode/unorm2.h>

/* ---------------------------------------------------------------------
 * The input check
 * ---------------------------------------------------------------------
 */

/* Flags of CdpCheckInput */
#define CDP_CHECK_CHARS		0x01	/* the limit counts code points, not bytes */
#define CDP_CHECK_UTF8		0x02	/* s must also be valid UTF-8 without NUL */

/*
 * Raises 54000 "argument is too long" when s has more than limit bytes (or
 * code points, with CDP_CHECK_CHARS), and with CDP_CHECK_UTF8 the server's
 * 22021 for bytes that are not UTF-8.
 */
extern void CdpCheckInput(const char *s, int len, int limit, int flags);

extern bool CdpDatabaseIsUtf8;
extern void CdpCheckDatabaseUtf8Slow(void);

/*
 * CdpCheckDatabaseUtf8
 *		Raises 0A000 "cdp needs a UTF-8 database" in a database with another
 *		encoding; for the functions that read text datums as UTF-8 directly.
 *		One test of a flag once the encoding has been seen to be UTF-8.
 */
static inline void
CdpCheckDatabaseUtf8(void)
{
	if (unlikely(!CdpDatabaseIsUtf8))
		CdpCheckDatabaseUtf8Slow();
}

/*
 * CdpCheckChars
 *		CdpCheckInput for a limit in code points, free for strings of at most
 *		that many bytes (a code point takes at least one byte).
 */
static inline void
CdpCheckChars(const char *s, int len, int maxchars)
{
	if (unlikely(len > maxchars))
		CdpCheckInput(s, len, maxchars, CDP_CHECK_CHARS);
}

/* ---------------------------------------------------------------------
 * The decoder
 * ---------------------------------------------------------------------
 */

/* Strings up to this many code points are decoded into a stack buffer. */
#define CDP_CODES_STACK		128

/*
 * A decoded string: code points in buf when they fit, else palloc'd, then a
 * terminating 0.  Declare one on the stack, fill it with CdpUtf8Decode,
 * release it with CdpCodesFree.
 */
typedef struct CdpCodes
{
	int32	   *c;				/* code points (points into buf or palloc'd) */
	int			len;			/* number of code points, the 0 excluded */
	int32		buf[CDP_CODES_STACK + 1];
} CdpCodes;

/* Options of CdpUtf8Decode */
#define CDP_UTF8_NFC		0x01	/* compose to Unicode NFC first, so that
									 * decomposed й or ё arrive as one code
									 * point */

extern void CdpUtf8Decode(const char *s, int len, int flags, CdpCodes *out);
extern void CdpCodesFree(CdpCodes *codes);
extern int32 CdpDecodeSlow(const unsigned char *p, int len, int *i);

/*
 * CdpLoad64
 *		Eight bytes from an address of any alignment.
 */
static inline uint64
CdpLoad64(const char *p)
{
	uint64		w;

	memcpy(&w, p, sizeof(w));
	return w;
}

/*
 * CdpLoad64LE
 *		Eight bytes from any address as a little-endian word: byte k of the
 *		string is bits 8k..8k+7 on every platform.
 */
static inline uint64
CdpLoad64LE(const char *p)
{
#ifdef WORDS_BIGENDIAN
	return pg_bswap64(CdpLoad64(p));
#else
	return CdpLoad64(p);
#endif
}

/*
 * CdpLoad32
 *		Four bytes from any address (only compared for equality).
 */
static inline uint32
CdpLoad32(const char *p)
{
	uint32		w;

	return *(uint32 *) memcpy(&w, p, sizeof(w));
}

/*
 * CdpLoadShortLE
 *		The 0 <= len < 8 bytes at p as a little-endian word, zero above them,
 *		without reading past p + len: two overlapping four-byte loads, or
 *		three single bytes (first, middle, last) that cover 1 to 3 bytes.
 */
static inline uint64
CdpLoadShortLE(const char *p, int len)
{
	const unsigned char *u = (const unsigned char *) p;

	if (len >= 4)
	{
		uint32		lo,
					hi;

		memcpy(&lo, p, sizeof(lo));
		memcpy(&hi, p + len - 4, sizeof(hi));
#ifdef WORDS_BIGENDIAN
		lo = pg_bswap32(lo);
		hi = pg_bswap32(hi);
#endif
		/* the overlapping bytes are the same in both loads */
		return (uint64) lo | ((uint64) hi << (8 * (len - 4)));
	}
	if (len > 0)
		return (uint64) u[0] | ((uint64) u[len >> 1] << (8 * (len >> 1))) |
			((uint64) u[len - 1] << (8 * (len - 1)));
	return 0;
}

/*
 * CdpCountChars
 *		Number of code points in len bytes of valid UTF-8: the bytes that are
 *		not continuation bytes (10xxxxxx), counted eight at a time.
 */
static inline int
CdpCountChars(const char *s, int len)
{
	int			cont = 0;
	int			i = 0;
	uint64		w;

	if (len < 8)
	{
		for (; i < len; i++)
			cont += ((unsigned char) s[i] & 0xC0) == 0x80;
		return len - cont;
	}
	for (; i + 8 <= len; i += 8)
	{
		w = CdpLoad64(s + i);
		/* bit 7 set and bit 6 clear, in every byte at once */
		w &= ~(w << 1) & UINT64CONST(0x8080808080808080);
		/* one bit per byte: a multiply sums the eight bytes into the top one */
		cont += (int) (((w >> 7) * UINT64CONST(0x0101010101010101)) >> 56);
	}
	if (i < len)
	{
		/* the last eight bytes, without those counted already */
		int			done = 8 - (len - i);

		w = CdpLoad64(s + len - 8);
		w &= ~(w << 1) & UINT64CONST(0x8080808080808080);
#ifdef WORDS_BIGENDIAN
		w &= ~UINT64CONST(0) >> (8 * done);
#else
		w &= ~UINT64CONST(0) << (8 * done);
#endif
		cont += (int) (((w >> 7) * UINT64CONST(0x0101010101010101)) >> 56);
	}
	return len - cont;
}

/*
 * CdpNextChar
 *		Decodes the code point at p[*i] (of len bytes) and advances *i; ASCII
 *		and two-byte sequences (Latin, Cyrillic) inline, the rest (with every
 *		error) in CdpDecodeSlow.
 */
static inline int32
CdpNextChar(const unsigned char *p, int len, int *i)
{
	unsigned char c = p[*i];

	if (c < 0x80)
	{
		(*i)++;
		return c;
	}
	if (c >= 0xC2 && c <= 0xDF && *i + 1 < len && (p[*i + 1] & 0xC0) == 0x80)
	{
		int32		cp = ((int32) (c & 0x1F) << 6) | (p[*i + 1] & 0x3F);

		*i += 2;
		return cp;
	}
	return CdpDecodeSlow(p, len, i);
}

/* ---------------------------------------------------------------------
 * ICU (UTF-16) helpers: everything palloc'd, failures raise 38000
 * ---------------------------------------------------------------------
 */
extern void CdpIcuCheck(UErrorCode status, const char *what);
extern UChar *CdpIcuFromUtf8(const char *s, int len, int32 *ulen);
extern char *CdpIcuToUtf8(const UChar *u, int32 ulen, int *len);
extern UChar *CdpIcuNormalize(const UNormalizer2 *norm, const UChar *src,
							  int32 srclen, int32 *outlen);

#endif							/* CDP_UTF8_H */
