/*-------------------------------------------------------------------------
 *
 * src/cmp.h
 *		Layer 3 comparators, the compare family's interface to the others:
 *		string similarity (Jaro, Jaro-Winkler, optimal string alignment,
 *		q-grams, token sets) and level comparators for dates, phone numbers
 *		and e-mail addresses.
 *
 * Every function takes UTF-8 text with an explicit byte length (no NUL
 * terminator needed), works on Unicode code points, palloc's nothing that
 * outlives the call and raises an error (never XX000) for text longer than
 * CDP_CMP_MAX_CHARS code points or invalid UTF-8 in the bytes it decodes
 * (bytes skipped as a common prefix or suffix are not decoded: pass valid
 * UTF-8, as every text datum of a UTF8 database is).  The matching family
 * calls these directly; the SQL wrappers live in the same cmp_*.c files.
 * What only the cmp_*.c files share is in cmp_int.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CMP_H
#define CMP_H

#include "cdp_utf8.h"

/*
 * Longest string (in code points) a string comparator accepts.  Jaro is
 * O(n * window), OSA and the token pairing are O(n * m): capping the length
 * keeps one call bounded (a few milliseconds at the cap) on hostile input,
 * as fuzzystrmatch does with its 255-character cap for levenshtein().  Names,
 * phones and e-mail addresses are far shorter.
 */
#define CDP_CMP_MAX_CHARS		1000

/* Most tokens cdp.token_set_similarity accepts on either side. */
#define CDP_CMP_MAX_TOKENS		32

/* Largest q for the q-gram comparators (q code points pack into 128 bits). */
#define CDP_CMP_MAX_Q			6

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

/*
 * CdpDateDayMonthSwapped
 *		The day/month swap of CdpDateLevel on the parts of two dates (any
 *		encoding of year, month and day that compares them for equality,
 *		such as the bytes of a YYYYMMDD string): same year, the month of
 *		each the day of the other, and not the same date.
 */
static inline bool
CdpDateDayMonthSwapped(int32 ya, int32 ma, int32 da, int32 yb, int32 mb, int32 db)
{
	return ya == yb && ma == db && da == mb && ma != da;
}

/* Phone comparison levels, strongest first (CdpPhoneLevel). */
typedef enum CdpPhoneLevelCode
{
	CDP_PHONE_EXACT = 0,		/* same digits */
	CDP_PHONE_SAME_LAST7,		/* same last 7 digits, other prefix */
	CDP_PHONE_ONE_DIGIT,		/* one substitution or adjacent transposition */
	CDP_PHONE_DIFFERENT			/* none of the above */
} CdpPhoneLevelCode;
#define CDP_PHONE_NLEVELS		(CDP_PHONE_DIFFERENT + 1)

/* Digits of the subscriber tail CDP_PHONE_SAME_LAST7 compares. */
#define CDP_PHONE_TAIL_DIGITS	7

/*
 * CdpPhoneSameTail
 *		The CDP_PHONE_SAME_LAST7 test of CdpPhoneLevel on two digit strings:
 *		both have the tail and it is the same.
 */
static inline bool
CdpPhoneSameTail(const char *da, int na, const char *db, int nb)
{
	return na >= CDP_PHONE_TAIL_DIGITS && nb >= CDP_PHONE_TAIL_DIGITS &&
		memcmp(da + na - CDP_PHONE_TAIL_DIGITS, db + nb - CDP_PHONE_TAIL_DIGITS,
			   CDP_PHONE_TAIL_DIGITS) == 0;
}

/* E-mail comparison levels, strongest first (CdpEmailLevel). */
typedef enum CdpEmailLevelCode
{
	CDP_EMAIL_EXACT = 0,		/* same address, ignoring case */
	CDP_EMAIL_TYPO,				/* a typing error apart (see doc/compare.md) */
	CDP_EMAIL_SAME_LOCAL,		/* same local part, another domain */
	CDP_EMAIL_DIFFERENT			/* none of the above */
} CdpEmailLevelCode;
#define CDP_EMAIL_NLEVELS		(CDP_EMAIL_DIFFERENT + 1)

/*
 * CdpDecodeUtf8
 *		The comparators' decoding (the shared decoder, cdp_utf8.h, behind
 *		their length cap): raises 54000 beyond CDP_CMP_MAX_CHARS code points
 *		and 22021 for malformed UTF-8.  Release with CdpCodesFree.
 */
static inline void
CdpDecodeUtf8(const char *s, int len, CdpCodes *out)
{
	CdpCheckChars(s, len, CDP_CMP_MAX_CHARS);
	CdpUtf8Decode(s, len, 0, out);
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
