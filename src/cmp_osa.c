/*-------------------------------------------------------------------------
 *
 * src/cmp_osa.c
 *		Optimal string alignment distance (restricted Damerau-Levenshtein) on
 *		Unicode code points: insertions, deletions, substitutions and
 *		transpositions of two adjacent characters, each costing 1, with no
 *		substring edited twice.  So osa('CA', 'ABC') = 3, where the
 *		unrestricted Damerau-Levenshtein distance is 2.
 *
 * After the common prefix and suffix are stripped, a pattern of at most 64
 * code points runs through the bit-parallel algorithm of Hyyrö (2003, "A
 * bit-vector algorithm for computing Levenshtein and Damerau edit
 * distances", Nordic Journal of Computing 10): one machine word per
 * character of the other string.  Longer patterns use the three-row dynamic
 * programme, restricted to the diagonal band |i - j| <= max_d when a cap is
 * given, and stopped as soon as a whole row exceeds the cap (row minima
 * never decrease).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include "cmp.h"

PG_FUNCTION_INFO_V1(cdp_osa_distance);
PG_FUNCTION_INFO_V1(cdp_osa_distance_max);
PG_FUNCTION_INFO_V1(cdp_osa_similarity);

/* open-addressing map code point -> bit mask of its positions (<= 64 keys) */
#define PM_SLOTS	128

typedef struct PatternMask
{
	int32		key[PM_SLOTS];	/* -1: empty slot */
	uint64		bits[PM_SLOTS];
} PatternMask;

/*
 * PmSlot
 *		Slot holding code point c, or the empty slot where it would go.
 */
static inline int
PmSlot(const PatternMask *pm, int32 c)
{
	uint32		h = ((uint32) c * 2654435761U) >> 25;	/* 7 bits */

	while (pm->key[h] != -1 && pm->key[h] != c)
		h = (h + 1) & (PM_SLOTS - 1);
	return h;
}

/*
 * PmGet
 *		Bit mask of the positions of c in the pattern (0 when absent).
 */
static inline uint64
PmGet(const PatternMask *pm, int32 c)
{
	int			h = PmSlot(pm, c);

	return pm->key[h] == c ? pm->bits[h] : 0;
}

/*
 * OsaHyyro
 *		OSA distance by Hyyrö's bit-vector algorithm; 1 <= plen <= 64.
 *		Returns max_d + 1 as soon as the distance must exceed max_d (>= 0).
 */
static int
OsaHyyro(const int32 *p, int plen, const int32 *t, int tlen, int max_d)
{
	PatternMask pm;
	uint64		vp = ~UINT64CONST(0);
	uint64		vn = 0;
	uint64		d0 = 0;
	uint64		pm_old = 0;
	uint64		last = UINT64CONST(1) << (plen - 1);
	int			dist = plen;

	memset(pm.key, 0xFF, sizeof(pm.key));
	for (int i = 0; i < plen; i++)
	{
		int			h = PmSlot(&pm, p[i]);

		if (pm.key[h] == -1)
		{
			pm.key[h] = p[i];
			pm.bits[h] = 0;
		}
		pm.bits[h] |= UINT64CONST(1) << i;
	}

	for (int j = 0; j < tlen; j++)
	{
		uint64		pmj = PmGet(&pm, t[j]);
		uint64		tr = (((~d0) & pmj) << 1) & pm_old;
		uint64		hp,
					hn;

		d0 = (((pmj & vp) + vp) ^ vp) | pmj | vn | tr;
		hp = vn | ~(d0 | vp);
		hn = d0 & vp;
		if (hp & last)
			dist++;
		if (hn & last)
			dist--;
		/* each remaining column lowers the distance by at most one */
		if (max_d >= 0 && dist - (tlen - j - 1) > max_d)
			return max_d + 1;
		hp = (hp << 1) | 1;
		hn = hn << 1;
		vp = hn | ~(d0 | hp);
		vn = hp & d0;
		pm_old = pmj;
	}
	return (max_d >= 0 && dist > max_d) ? max_d + 1 : dist;
}

/*
 * OsaDynamic
 *		OSA distance by the three-row dynamic programme, banded when
 *		max_d >= 0.  Cells are capped at inf, so they never overflow.
 */
static int
OsaDynamic(const int32 *a, int alen, const int32 *b, int blen, int max_d)
{
	int			inf = (max_d >= 0) ? max_d + 1 : alen + blen + 1;
	int		   *rows = palloc(sizeof(int) * 3 * (blen + 1));
	int		   *prev2 = rows;
	int		   *prev = rows + (blen + 1);
	int		   *cur = rows + 2 * (blen + 1);
	int			result;

	for (int j = 0; j <= blen; j++)
		prev[j] = Min(j, inf);

	for (int i = 1; i <= alen; i++)
	{
		int			lo = 1;
		int			hi = blen;
		int			rowmin;
		int32		ac = a[i - 1];
		int		   *tmp;

		if (max_d >= 0)
		{
			lo = Max(1, i - max_d);
			hi = Min(blen, i + max_d);
		}
		cur[lo - 1] = (lo == 1) ? Min(i, inf) : inf;
		rowmin = cur[lo - 1];
		for (int j = lo; j <= hi; j++)
		{
			int			v = prev[j - 1] + (ac != b[j - 1]);

			v = Min(v, prev[j] + 1);
			v = Min(v, cur[j - 1] + 1);
			if (i > 1 && j > 1 && ac == b[j - 2] && a[i - 2] == b[j - 1])
				v = Min(v, prev2[j - 2] + 1);
			v = Min(v, inf);
			cur[j] = v;
			rowmin = Min(rowmin, v);
		}
		if (hi < blen)
			cur[hi + 1] = inf;
		if (max_d >= 0 && rowmin > max_d)
		{
			pfree(rows);
			return max_d + 1;
		}
		tmp = prev2;
		prev2 = prev;
		prev = cur;
		cur = tmp;
	}
	result = prev[blen];
	pfree(rows);
	return (max_d >= 0 && result > max_d) ? max_d + 1 : result;
}

/*
 * CdpOsaDistanceCodes
 *		OSA distance of two code point arrays.  With max_d >= 0 any distance
 *		above max_d is returned as max_d + 1 (and found faster).
 */
int
CdpOsaDistanceCodes(const int32 *a, int alen, const int32 *b, int blen,
					int max_d)
{
	int			d;

	/*
	 * A common prefix or suffix never takes part in an optimal alignment's
	 * edits: a transposition across its border would have to swap two equal
	 * characters.
	 */
	while (alen > 0 && blen > 0 && a[0] == b[0])
	{
		a++;
		b++;
		alen--;
		blen--;
	}
	while (alen > 0 && blen > 0 && a[alen - 1] == b[blen - 1])
	{
		alen--;
		blen--;
	}

	/* the distance is at least the length difference */
	d = Abs(alen - blen);
	if (max_d >= 0 && d > max_d)
		return max_d + 1;
	if (alen == 0 || blen == 0)
		return d;

	/* the shorter string is the pattern (OSA is symmetric) */
	if (alen > blen)
	{
		const int32 *ts = a;
		int			tl = alen;

		a = b;
		alen = blen;
		b = ts;
		blen = tl;
	}
	if (alen <= 64)
		return OsaHyyro(a, alen, b, blen, max_d);
	return OsaDynamic(a, alen, b, blen, max_d);
}

/*
 * CdpOsaDistance
 *		OSA distance of two UTF-8 strings; max_d < 0: no cap.
 */
int
CdpOsaDistance(const char *a, int alen, const char *b, int blen, int max_d)
{
	CdpCodes	ca,
				cb;
	int			d;

	CdpDecodeUtf8(a, alen, &ca);
	CdpDecodeUtf8(b, blen, &cb);
	d = CdpOsaDistanceCodes(ca.c, ca.len, cb.c, cb.len, max_d);
	CdpCodesFree(&ca);
	CdpCodesFree(&cb);
	return d;
}

/*
 * cdp_osa_distance
 *		SQL cdp.osa_distance(a text, b text) RETURNS int.
 */
Datum
cdp_osa_distance(PG_FUNCTION_ARGS)
{
	text	   *a = PG_GETARG_TEXT_PP(0);
	text	   *b = PG_GETARG_TEXT_PP(1);

	CdpCheckDatabaseEncoding();
	PG_RETURN_INT32(CdpOsaDistance(VARDATA_ANY(a), VARSIZE_ANY_EXHDR(a),
								   VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b), -1));
}

/*
 * cdp_osa_distance_max
 *		SQL cdp.osa_distance(a text, b text, max_distance int) RETURNS int:
 *		max_distance + 1 when the distance exceeds max_distance.
 */
Datum
cdp_osa_distance_max(PG_FUNCTION_ARGS)
{
	text	   *a = PG_GETARG_TEXT_PP(0);
	text	   *b = PG_GETARG_TEXT_PP(1);
	int32		max_d = PG_GETARG_INT32(2);

	if (max_d < 0 || max_d > CDP_CMP_MAX_CHARS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_distance must be between 0 and %d, not \"%d\"",
						CDP_CMP_MAX_CHARS, max_d),
				 errhint("Call cdp.osa_distance(a, b) for the distance without a cap.")));
	CdpCheckDatabaseEncoding();
	PG_RETURN_INT32(CdpOsaDistance(VARDATA_ANY(a), VARSIZE_ANY_EXHDR(a),
								   VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b), max_d));
}

/*
 * cdp_osa_similarity
 *		SQL cdp.osa_similarity(a text, b text) RETURNS float8:
 *		1 - distance / max(length), 1 for two empty strings.
 */
Datum
cdp_osa_similarity(PG_FUNCTION_ARGS)
{
	text	   *a = PG_GETARG_TEXT_PP(0);
	text	   *b = PG_GETARG_TEXT_PP(1);
	CdpCodes	ca,
				cb;
	int			d,
				n;

	CdpCheckDatabaseEncoding();
	CdpDecodeUtf8(VARDATA_ANY(a), VARSIZE_ANY_EXHDR(a), &ca);
	CdpDecodeUtf8(VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b), &cb);
	n = Max(ca.len, cb.len);
	d = CdpOsaDistanceCodes(ca.c, ca.len, cb.c, cb.len, -1);
	CdpCodesFree(&ca);
	CdpCodesFree(&cb);
	PG_RETURN_FLOAT8(n == 0 ? 1.0 : 1.0 - (double) d / n);
}
