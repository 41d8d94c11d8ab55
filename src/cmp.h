/*-------------------------------------------------------------------------
 *
 * src/cmp.h
 *		Layer 3 comparators: string similarity (Jaro, Jaro-Winkler, optimal
 *		string alignment, q-grams, token sets) and level comparators for
 *		dates, phone numbers and e-mail addresses.
 *
 * Every function takes UTF-8 text with an explicit byte length (no NUL
 * terminator needed), works on Unicode code points, palloc's nothing that
 * outlives the call and raises an error (never XX000) for text longer than
 * CDP_CMP_MAX_CHARS code points or invalid UTF-8 in the bytes it decodes
 * (bytes skipped as a common prefix or suffix are not decoded: pass valid
 * UTF-8, as every text datum of a UTF8 database is).  The matching family
 * calls these directly; the SQL wrappers live in the same cmp_*.c files.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CMP_H
#define CMP_H

#include "postgres.h"

#include "port/pg_bitutils.h"

/*
 * Longest string (in code points) a string comparator accepts.  Jaro is
 * O(n * window), OSA and the token pairing are O(n * m): capping the length
 * keeps one call bounded (a few milliseconds at the cap) on hostile input,
 * as fuzzystrmatch does with its 255-character cap for levenshtein().  Names,
 * phones and e-mail addresses are far shorter.
 */
#define CDP_CMP_MAX_CHARS		1000

/* Strings up to this many code points are decoded into a stack buffer. */
#define CDP_CMP_STACK_CHARS		128

/* Most tokens cdp.token_set_similarity accepts on either side. */
#define CDP_CMP_MAX_TOKENS		32

/* Largest q for the q-gram comparators (q code points pack into 128 bits). */
#define CDP_CMP_MAX_Q			6

/*
 * A decoded string: code points in buf when they fit, else palloc'd.
 * Declare one on the stack, fill it with CdpDecodeUtf8, release it with
 * CdpCodesFree.
 */
typedef struct CdpCodes
{
	int32	   *c;				/* code points (points into buf or palloc'd) */
	int			len;			/* number of code points */
	int32		buf[CDP_CMP_STACK_CHARS];
} CdpCodes;

/* Date comparison levels, strongest first (CdpDateLevel). */
typedef enum CdpDateLevelCode
{
	CDP_DATE_EXACT = 0,			/* same date */
	CDP_DATE_DAY_MONTH_SWAPPED,	/* same year, day and month exchanged */
	CDP_DATE_ONE_DIGIT,			/* one digit differs in YYYYMMDD */
	CDP_DATE_YEAR_OFF_BY_ONE,	/* same month and day, years one apart */
	CDP_DATE_SAME_YEAR_MONTH,	/* same year and month */
	CDP_DATE_SAME_YEAR,			/* same year */
	CDP_DATE_DIFFERENT			/* none of the above */
} CdpDateLevelCode;
#define CDP_DATE_NLEVELS		(CDP_DATE_DIFFERENT + 1)

/* Phone comparison levels, strongest first (CdpPhoneLevel). */
typedef enum CdpPhoneLevelCode
{
	CDP_PHONE_EXACT = 0,		/* same digits */
	CDP_PHONE_SAME_LAST7,		/* same last 7 digits, other prefix */
	CDP_PHONE_ONE_DIGIT,		/* one substitution or adjacent transposition */
	CDP_PHONE_DIFFERENT			/* none of the above */
} CdpPhoneLevelCode;
#define CDP_PHONE_NLEVELS		(CDP_PHONE_DIFFERENT + 1)

/* E-mail comparison levels, strongest first (CdpEmailLevel). */
typedef enum CdpEmailLevelCode
{
	CDP_EMAIL_EXACT = 0,		/* same address, ignoring case */
	CDP_EMAIL_TYPO,				/* a typing error apart (see doc/compare.md) */
	CDP_EMAIL_SAME_LOCAL,		/* same local part, another domain */
	CDP_EMAIL_DIFFERENT			/* none of the above */
} CdpEmailLevelCode;
#define CDP_EMAIL_NLEVELS		(CDP_EMAIL_DIFFERENT + 1)

/* cmp_utf8.c: decoding shared by every comparator */
extern void CdpDecodeUtf8(const char *s, int len, CdpCodes *out);
extern void CdpCodesFree(CdpCodes *codes);
extern void CdpCheckCharLength(const char *s, int len);
extern int32 CdpDecodeSlow(const unsigned char *p, int len, int *i);
extern int32 CdpSimpleLower(int32 c);
extern void CdpCheckDatabaseEncoding(void);

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
 * CdpCommonPrefixBytes
 *		Length of the common byte prefix of a and b, at most lim.
 */
static inline int
CdpCommonPrefixBytes(const char *a, const char *b, int lim)
{
	int			i = 0;

	for (; i + 8 <= lim; i += 8)
	{
		uint64		x = CdpLoad64(a + i) ^ CdpLoad64(b + i);

		if (x)
#ifdef WORDS_BIGENDIAN
			return i + (63 - pg_leftmost_one_pos64(x)) / 8;
#else
			return i + pg_rightmost_one_pos64(x) / 8;
#endif
	}
	while (i < lim && a[i] == b[i])
		i++;
	return i;
}

/*
 * CdpCommonSuffixBytes
 *		Length of the common byte suffix of a[0..alen) and b[0..blen), at
 *		most lim <= Min(alen, blen).
 */
static inline int
CdpCommonSuffixBytes(const char *a, int alen, const char *b, int blen, int lim)
{
	int			n = 0;

	for (; n + 8 <= lim; n += 8)
	{
		uint64		x = CdpLoad64(a + alen - n - 8) ^ CdpLoad64(b + blen - n - 8);

		if (x)
#ifdef WORDS_BIGENDIAN
			return n + pg_rightmost_one_pos64(x) / 8;
#else
			return n + (63 - pg_leftmost_one_pos64(x)) / 8;
#endif
	}
	while (n < lim && a[alen - 1 - n] == b[blen - 1 - n])
		n++;
	return n;
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

/*
 * CdpCheckCharLengthFast
 *		Raises 54000 when s has more than CDP_CMP_MAX_CHARS code points; free
 *		for strings of at most that many bytes.
 */
static inline void
CdpCheckCharLengthFast(const char *s, int len)
{
	if (unlikely(len > CDP_CMP_MAX_CHARS))
		CdpCheckCharLength(s, len);
}

/*
 * Internal to cmp_*.c: the bit masks of the positions of each code point in
 * a string of at most 64 code points, for the bit-parallel Jaro and OSA.
 * A direct-mapped table on the low 8 bits of the code point: a name in one
 * script never has two letters with the same low byte, and when a string
 * does (CdpPmBuild returns false) the caller takes its character loop.  The
 * table is static and stamped instead of cleared: an entry belongs to the
 * current string only when its stamp is the current one.  No function that
 * fills it can be re-entered while it reads it (they neither call out nor
 * raise errors between build and last read).
 */
typedef struct CdpPmEntry
{
	uint32		stamp;
	int32		key;
	uint64		bits;
} CdpPmEntry;

extern CdpPmEntry CdpPmTable[256];
extern uint32 CdpPmStamp;

/*
 * CdpPmBuild
 *		Records the positions of the n <= 64 code points of s; false when two
 *		different code points share a slot (then the table is unusable).
 */
static inline bool
CdpPmBuild(const int32 *s, int n)
{
	uint32		stamp = ++CdpPmStamp;

	if (unlikely(stamp == 0))
	{
		memset(CdpPmTable, 0, sizeof(CdpPmTable));
		stamp = CdpPmStamp = 1;
	}
	for (int i = 0; i < n; i++)
	{
		CdpPmEntry *e = &CdpPmTable[s[i] & 0xFF];

		if (e->stamp != stamp)
		{
			e->stamp = stamp;
			e->key = s[i];
			e->bits = UINT64CONST(1) << i;
		}
		else if (e->key == s[i])
			e->bits |= UINT64CONST(1) << i;
		else
			return false;
	}
	return true;
}

/*
 * CdpPmGet
 *		Bit mask of the positions of c in the string last given to
 *		CdpPmBuild (0 when absent).
 */
static inline uint64
CdpPmGet(int32 c)
{
	const CdpPmEntry *e = &CdpPmTable[c & 0xFF];

	return (e->stamp == CdpPmStamp && e->key == c) ? e->bits : 0;
}

/* cmp_jaro.c */
extern double CdpJaro(const char *a, int alen, const char *b, int blen);
extern double CdpJaroWinkler(const char *a, int alen, const char *b, int blen,
							 double prefix_scale, double boost_threshold);
extern double CdpJaroCodes(const int32 *a, int alen, const int32 *b, int blen);
extern double CdpJaroWinklerCodes(const int32 *a, int alen, const int32 *b,
								  int blen, double prefix_scale,
								  double boost_threshold);

/* cmp_osa.c; max_d < 0: no cap; a result > max_d is returned as max_d + 1 */
extern int	CdpOsaDistance(const char *a, int alen, const char *b, int blen,
						   int max_d);
extern int	CdpOsaDistanceCodes(const int32 *a, int alen, const int32 *b,
								int blen, int max_d);

/* cmp_qgram.c */
extern double CdpQgramJaccard(const char *a, int alen, const char *b, int blen,
							  int q);
extern double CdpQgramCosine(const char *a, int alen, const char *b, int blen,
							 int q);

/* cmp_token.c */
extern double CdpTokenSetSimilarity(const char *a, int alen, const char *b,
									int blen);

/* cmp_date.c: DateADT in, CDP_DATE_* out */
extern int	CdpDateLevel(int32 a, int32 b);
extern const char *CdpDateLevelName(int level);
extern double CdpDateLevelScore(int level);

/* cmp_phone.c: any text in (digits are extracted), CDP_PHONE_* out */
extern int	CdpPhoneLevel(const char *a, int alen, const char *b, int blen);
extern const char *CdpPhoneLevelName(int level);
extern double CdpPhoneLevelScore(int level);

/* cmp_email.c: CDP_EMAIL_* out */
extern int	CdpEmailLevel(const char *a, int alen, const char *b, int blen);
extern const char *CdpEmailLevelName(int level);
extern double CdpEmailLevelScore(int level);

#endif							/* CMP_H */
