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

/*
 * OsaHyyro
 *		OSA distance by Hyyrö's bit-vector algorithm; 1 <= plen <= 64 and the
 *		caller has built the position masks of the pattern (CdpPmBuild).
 *		Returns max_d + 1 as soon as the distance must exceed max_d (>= 0).
 */
static int
OsaHyyro(int plen, const int32 *t, int tlen, int max_d)
{
	uint64		vp = ~UINT64CONST(0);
	uint64		vn = 0;
	uint64		d0 = 0;
	uint64		pm_old = 0;
	uint64		last = UINT64CONST(1) << (plen - 1);
	int			dist = plen;

	for (int j = 0; j < tlen; j++)
	{
		uint64		pmj = CdpPmGet(t[j]);
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
 * OsaHyyroUtf8
 *		OsaHyyro reading the text straight from its UTF-8 bytes (tlen bytes,
 *		tchars code points); the pattern's masks are built (PmBuildUtf8).
 */
static int
OsaHyyroUtf8(int plen, const char *t, int tlen, int tchars, int max_d)
{
	const unsigned char *tp = (const unsigned char *) t;
	uint64		vp = ~UINT64CONST(0);
	uint64		vn = 0;
	uint64		d0 = 0;
	uint64		pm_old = 0;
	uint64		last = UINT64CONST(1) << (plen - 1);
	int			dist = plen;
	int			i = 0;

	for (int j = 0; j < tchars; j++)
	{
		uint64		pmj = CdpPmGet(CdpNextChar(tp, tlen, &i));
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
		if (max_d >= 0 && dist - (tchars - j - 1) > max_d)
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
 * PmBuildUtf8
 *		CdpPmBuild on len bytes of UTF-8 holding at most 64 code points.
 */
static bool
PmBuildUtf8(const char *s, int len)
{
	const unsigned char *p = (const unsigned char *) s;
	uint32		stamp = ++CdpPmStamp;
	int			i = 0;
	int			k = 0;

	if (unlikely(stamp == 0))
	{
		memset(CdpPmTable, 0, sizeof(CdpPmTable));
		stamp = CdpPmStamp = 1;
	}
	while (i < len)
	{
		int32		c = CdpNextChar(p, len, &i);
		CdpPmEntry *e = &CdpPmTable[c & 0xFF];

		if (e->stamp != stamp)
		{
			e->stamp = stamp;
			e->key = c;
			e->bits = UINT64CONST(1) << k;
		}
		else if (e->key == c)
			e->bits |= UINT64CONST(1) << k;
		else
			return false;
		k++;
	}
	return true;
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
	if (alen <= 64 && CdpPmBuild(a, alen))
		return OsaHyyro(alen, b, blen, max_d);
	return OsaDynamic(a, alen, b, blen, max_d);
}

/*
 * OsaDecoded
 *		CdpOsaDistanceCodes on decoded copies: the path for long strings and
 *		for letters sharing a mask slot.  Kept out of line so that the common
 *		path does not carry two stack buffers.
 */
static pg_noinline int
OsaDecoded(const char *a, int alen, const char *b, int blen, int max_d)
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

#define IS_UTF8_CONT(c)		(((unsigned char) (c) & 0xC0) == 0x80)

/*
 * CdpOsaDistance
 *		OSA distance of two UTF-8 strings; max_d < 0: no cap.
 *
 * The common prefix and suffix are cut on the bytes, moved to character
 * boundaries, before anything is decoded: a name typed twice with a typo
 * leaves only a few characters in the middle, and the length difference of
 * the middles often settles a capped call without decoding at all.
 */
int
CdpOsaDistance(const char *a, int alen, const char *b, int blen, int max_d)
{
	int			d;
	int			pre,
				suf,
				lim = Min(alen, blen);
	int			na,
				nb;

	CdpCheckCharLengthFast(a, alen);
	CdpCheckCharLengthFast(b, blen);

	/*
	 * Under a cap, the length difference (which trimming does not change)
	 * settles most pairs of different people before any scanning.
	 */
	if (max_d >= 0 && Abs(alen - blen) > max_d &&
		Abs(CdpCountChars(a, alen) - CdpCountChars(b, blen)) > max_d)
		return max_d + 1;

	pre = CdpCommonPrefixBytes(a, b, lim);
	if (pre == alen && pre == blen)
		return 0;
	/* back to the first byte of the character that differs */
	while (pre > 0 && ((pre < alen && IS_UTF8_CONT(a[pre])) ||
					   (pre < blen && IS_UTF8_CONT(b[pre]))))
		pre--;
	a += pre;
	b += pre;
	alen -= pre;
	blen -= pre;
	lim = Min(alen, blen);
	suf = CdpCommonSuffixBytes(a, alen, b, blen, lim);
	/* the suffix starts on a character (its bytes are the same in a and b) */
	while (suf > 0 && IS_UTF8_CONT(a[alen - suf]))
		suf--;
	alen -= suf;
	blen -= suf;

	na = CdpCountChars(a, alen);
	nb = CdpCountChars(b, blen);
	d = Abs(na - nb);
	if (max_d >= 0 && d > max_d)
		return max_d + 1;
	if (na == 0 || nb == 0)
		return d;

	/* short middles: bit-parallel straight on the bytes, shorter as pattern */
	if (Min(na, nb) <= 64)
	{
		if (na > nb)
		{
			const char *ts = a;
			int			tl = alen,
						tn = na;

			a = b;
			alen = blen;
			na = nb;
			b = ts;
			blen = tl;
			nb = tn;
		}
		if (PmBuildUtf8(a, alen))
			return OsaHyyroUtf8(na, b, blen, nb, max_d);
	}

	return OsaDecoded(a, alen, b, blen, max_d);
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
	int			alen = VARSIZE_ANY_EXHDR(a);
	int			blen = VARSIZE_ANY_EXHDR(b);
	int			d,
				n;

	CdpCheckDatabaseEncoding();
	d = CdpOsaDistance(VARDATA_ANY(a), alen, VARDATA_ANY(b), blen, -1);
	n = Max(CdpCountChars(VARDATA_ANY(a), alen),
			CdpCountChars(VARDATA_ANY(b), blen));
	PG_RETURN_FLOAT8(n == 0 ? 1.0 : 1.0 - (double) d / n);
}
