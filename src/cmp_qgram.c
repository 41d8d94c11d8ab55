/*-------------------------------------------------------------------------
 *
 * src/cmp_qgram.c
 *		Character q-gram similarity (Jaccard and cosine) on code points.
 *
 * A string of n code points is padded with q - 1 start markers in front
 * and q - 1 end markers behind (Ukkonen 1992, "Approximate string-matching
 * with q-grams and maximal matches"), so it has n + q - 1 q-grams and its
 * first and last characters count as much as the middle ones.  The markers
 * are not characters, so a q-gram with a marker never equals one without.
 * The q-grams form a multiset (bag): "аааа" has the 2-gram "аа" three times.
 * With counts ca(g) and cb(g):
 *		jaccard = sum min(ca, cb) / sum max(ca, cb)
 *		cosine	= sum ca * cb / sqrt(sum ca^2 * sum cb^2)
 * Two strings without q-grams (both empty, q = 1) are identical (1).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "utils/builtins.h"

#include "cmp_int.h"

PG_FUNCTION_INFO_V1(cdp_qgram_jaccard);
PG_FUNCTION_INFO_V1(cdp_qgram_cosine);

/* markers outside Unicode (which ends at 0x10FFFF) but inside 21 bits */
#define QGRAM_START		0x110000
#define QGRAM_END		0x110001

/* a q-gram of up to 6 code points of 21 bits each, packed exactly */
typedef struct QgramKey
{
	uint64		hi;
	uint64		lo;
} QgramKey;

#define QGRAM_STACK_KEYS	(CDP_CMP_STACK_CHARS + CDP_CMP_MAX_Q)

/*
 * QgramCmp
 *		Orders two packed q-grams.
 */
static inline int
QgramCmp(const QgramKey *x, const QgramKey *y)
{
	if (x->hi != y->hi)
		return x->hi < y->hi ? -1 : 1;
	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return 0;
}

/*
 * QgramCmpQsort
 *		qsort comparator for QgramKey.
 */
static int
QgramCmpQsort(const void *x, const void *y)
{
	return QgramCmp((const QgramKey *) x, (const QgramKey *) y);
}

/*
 * QgramKeys
 *		Fills keys with the sorted padded q-grams of codes and returns their
 *		number (n + q - 1, or 0 for an empty string when q = 1).
 */
static int
QgramKeys(const int32 *codes, int n, int q, QgramKey *keys)
{
	int			total = n + 2 * (q - 1);
	int			nkeys = n + q - 1;

	for (int k = 0; k < nkeys; k++)
	{
		QgramKey	key = {0, 0};

		for (int i = 0; i < q; i++)
		{
			int			pos = k + i;	/* position in the padded string */
			uint64		c;

			if (pos < q - 1)
				c = QGRAM_START;
			else if (pos >= total - (q - 1))
				c = QGRAM_END;
			else
				c = (uint64) codes[pos - (q - 1)];
			if (i < 3)
				key.hi = (key.hi << 21) | c;
			else
				key.lo = (key.lo << 21) | c;
		}
		keys[k] = key;
	}

	/* insertion sort for names, qsort for long text */
	if (nkeys <= 32)
	{
		for (int i = 1; i < nkeys; i++)
		{
			QgramKey	v = keys[i];
			int			j = i - 1;

			while (j >= 0 && QgramCmp(&keys[j], &v) > 0)
			{
				keys[j + 1] = keys[j];
				j--;
			}
			keys[j + 1] = v;
		}
	}
	else
		qsort(keys, nkeys, sizeof(QgramKey), QgramCmpQsort);
	return nkeys;
}

/*
 * QgramSimilarity
 *		Jaccard (cosine = false) or cosine similarity of the q-gram multisets
 *		of two UTF-8 strings.
 */
static double
QgramSimilarity(const char *a, int alen, const char *b, int blen, int q,
				bool cosine)
{
	CdpCodes	ca,
				cb;
	QgramKey	kabuf[QGRAM_STACK_KEYS];
	QgramKey	kbbuf[QGRAM_STACK_KEYS];
	QgramKey   *ka,
			   *kb;
	int			na,
				nb;
	int			i = 0,
				j = 0;
	double		inter = 0,
				uni = 0,
				dot = 0,
				sa = 0,
				sb = 0;
	double		result;

	if (q < 1 || q > CDP_CMP_MAX_Q)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("q must be between 1 and %d, not \"%d\"", CDP_CMP_MAX_Q, q),
				 errhint("Bigrams (q = 2) and trigrams (q = 3) suit names.")));

	CdpDecodeUtf8(a, alen, &ca);
	CdpDecodeUtf8(b, blen, &cb);
	ka = (ca.len + q - 1 <= QGRAM_STACK_KEYS) ? kabuf :
		palloc(sizeof(QgramKey) * (ca.len + q - 1));
	kb = (cb.len + q - 1 <= QGRAM_STACK_KEYS) ? kbbuf :
		palloc(sizeof(QgramKey) * (cb.len + q - 1));
	na = QgramKeys(ca.c, ca.len, q, ka);
	nb = QgramKeys(cb.c, cb.len, q, kb);

	/* walk both sorted lists one distinct q-gram (run) at a time */
	while (i < na || j < nb)
	{
		int			c;
		int			ra = 0,
					rb = 0;
		QgramKey	g;

		if (i >= na)
			c = 1;
		else if (j >= nb)
			c = -1;
		else
			c = QgramCmp(&ka[i], &kb[j]);
		g = (c <= 0) ? ka[i] : kb[j];
		if (c <= 0)
		{
			while (i + ra < na && QgramCmp(&ka[i + ra], &g) == 0)
				ra++;
			i += ra;
		}
		if (c >= 0)
		{
			while (j + rb < nb && QgramCmp(&kb[j + rb], &g) == 0)
				rb++;
			j += rb;
		}
		inter += Min(ra, rb);
		uni += Max(ra, rb);
		dot += (double) ra * rb;
		sa += (double) ra * ra;
		sb += (double) rb * rb;
	}

	if (na == 0 && nb == 0)
		result = 1.0;
	else if (na == 0 || nb == 0)
		result = 0.0;
	else if (cosine)
		result = Min(1.0, dot / sqrt(sa * sb));
	else
		result = inter / uni;

	if (ka != kabuf)
		pfree(ka);
	if (kb != kbbuf)
		pfree(kb);
	CdpCodesFree(&ca);
	CdpCodesFree(&cb);
	return result;
}

/*
 * CdpQgramJaccard
 *		Jaccard similarity of the padded q-gram multisets of two strings.
 */
double
CdpQgramJaccard(const char *a, int alen, const char *b, int blen, int q)
{
	return QgramSimilarity(a, alen, b, blen, q, false);
}

/*
 * CdpQgramCosine
 *		Cosine similarity of the padded q-gram count vectors of two strings.
 */
double
CdpQgramCosine(const char *a, int alen, const char *b, int blen, int q)
{
	return QgramSimilarity(a, alen, b, blen, q, true);
}

/*
 * cdp_qgram_jaccard
 *		SQL cdp.qgram_jaccard(a text, b text, q int) RETURNS float8.
 */
Datum
cdp_qgram_jaccard(PG_FUNCTION_ARGS)
{
	text	   *a = PG_GETARG_TEXT_PP(0);
	text	   *b = PG_GETARG_TEXT_PP(1);

	CdpCheckDatabaseUtf8();
	PG_RETURN_FLOAT8(CdpQgramJaccard(VARDATA_ANY(a), VARSIZE_ANY_EXHDR(a),
									 VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b),
									 PG_GETARG_INT32(2)));
}

/*
 * cdp_qgram_cosine
 *		SQL cdp.qgram_cosine(a text, b text, q int) RETURNS float8.
 */
Datum
cdp_qgram_cosine(PG_FUNCTION_ARGS)
{
	text	   *a = PG_GETARG_TEXT_PP(0);
	text	   *b = PG_GETARG_TEXT_PP(1);

	CdpCheckDatabaseUtf8();
	PG_RETURN_FLOAT8(CdpQgramCosine(VARDATA_ANY(a), VARSIZE_ANY_EXHDR(a),
									VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b),
									PG_GETARG_INT32(2)));
}
