/*-------------------------------------------------------------------------
 *
 * src/cmp_jaro.c
 *		Jaro and Jaro-Winkler similarity on Unicode code points.
 *
 * Jaro (1989): two characters match when they are equal and no further
 * apart than floor(max(|a|, |b|) / 2) - 1 positions; with m matches and t
 * half the number of matched characters out of order,
 *		jaro = (m / |a| + m / |b| + (m - t) / m) / 3.
 * Winkler (1990) adds a bonus for a common prefix of l <= 4 characters when
 * jaro exceeds the boost threshold (0.7 in the paper):
 *		jw = jaro + l * p * (1 - jaro),  p <= 0.25 so that jw <= 1.
 * Two empty strings are identical (1); an empty and a non-empty string
 * share nothing (0).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "port/pg_bitutils.h"
#include "utils/builtins.h"

#include "cmp_int.h"

PG_FUNCTION_INFO_V1(cdp_jaro);
PG_FUNCTION_INFO_V1(cdp_jaro_winkler);

/*
 * JaroBitParallel
 *		Jaro similarity for 1 <= alen, blen <= 64 with machine words for the
 *		match flags: the positions of a[i] in b (bit masks built once, see
 *		CmpPmBuild), cut to the window and to the unmatched positions, give
 *		a[i]'s match as the lowest set bit, the same choice as the character
 *		loop makes.  The caller has built the masks of b.
 */
static double
JaroBitParallel(const int32 *a, int alen, const int32 *b, int blen,
				int window)
{
	uint64		bflag = 0;
	uint64		aflag = 0;
	int			m = 0;
	int			t = 0;

	for (int i = 0; i < alen; i++)
	{
		int			lo = Max(0, i - window);
		int			hi = Min(blen - 1, i + window);
		uint64		w,
					x;

		if (lo > hi)
			break;				/* later characters of a have no window */
		w = ((hi - lo == 63) ? ~UINT64CONST(0) :
			 ((UINT64CONST(1) << (hi - lo + 1)) - 1)) << lo;
		x = CmpPmGet(a[i]) & w & ~bflag;
		if (x)
		{
			bflag |= x & (~x + 1);
			aflag |= UINT64CONST(1) << i;
			m++;
		}
	}
	if (m == 0)
		return 0.0;

	/* transpositions: the k-th matched character of a against that of b */
	while (aflag)
	{
		int			i = pg_rightmost_one_pos64(aflag);
		int			j = pg_rightmost_one_pos64(bflag);

		t += a[i] != b[j];
		aflag &= aflag - 1;
		bflag &= bflag - 1;
	}
	t /= 2;
	return ((double) m / alen + (double) m / blen + (double) (m - t) / m) / 3.0;
}

/*
 * CdpJaroCodes
 *		Jaro similarity of two code point arrays.
 */
double
CdpJaroCodes(const int32 *a, int alen, const int32 *b, int blen)
{
	bool		abuf[CDP_CMP_STACK_CHARS];
	bool		bbuf[CDP_CMP_STACK_CHARS];
	bool	   *aflag;
	bool	   *bflag;
	int			window;
	int			m = 0;
	int			t = 0;
	int			k;
	double		result;

	if (alen == 0 && blen == 0)
		return 1.0;
	if (alen == 0 || blen == 0)
		return 0.0;
	if (alen == blen && memcmp(a, b, sizeof(int32) * alen) == 0)
		return 1.0;

	window = Max(alen, blen) / 2 - 1;
	if (window < 0)
		window = 0;
	if (alen <= 64 && blen <= 64 && CmpPmBuild(b, blen))
		return JaroBitParallel(a, alen, b, blen, window);

	aflag = (alen <= CDP_CMP_STACK_CHARS) ? abuf : palloc(alen);
	bflag = (blen <= CDP_CMP_STACK_CHARS) ? bbuf : palloc(blen);
	memset(aflag, 0, alen);
	memset(bflag, 0, blen);

	/* matches: each a[i] takes the first free equal b[j] inside the window */
	for (int i = 0; i < alen; i++)
	{
		int			lo = Max(0, i - window);
		int			hi = Min(blen - 1, i + window);
		int32		c = a[i];

		for (int j = lo; j <= hi; j++)
		{
			if (!bflag[j] && b[j] == c)
			{
				aflag[i] = bflag[j] = true;
				m++;
				break;
			}
		}
	}

	if (m == 0)
		result = 0.0;
	else
	{
		/* transpositions: matched characters of a and b read in order */
		k = 0;
		for (int i = 0; i < alen; i++)
		{
			if (!aflag[i])
				continue;
			while (!bflag[k])
				k++;
			if (a[i] != b[k])
				t++;
			k++;
		}
		t /= 2;
		result = ((double) m / alen + (double) m / blen +
				  (double) (m - t) / m) / 3.0;
	}

	if (aflag != abuf)
		pfree(aflag);
	if (bflag != bbuf)
		pfree(bflag);
	return result;
}

/*
 * CdpJaroWinklerCodes
 *		Jaro-Winkler similarity of two code point arrays; the caller has
 *		checked 0 <= prefix_scale <= 0.25.
 */
double
CdpJaroWinklerCodes(const int32 *a, int alen, const int32 *b, int blen,
					double prefix_scale, double boost_threshold)
{
	double		j = CdpJaroCodes(a, alen, b, blen);
	int			l = 0;
	int			lmax = Min(4, Min(alen, blen));

	/*
	 * Rounding makes a Jaro of exactly 0.7 (butler/baker: (3/6 + 3/5 + 3/3)
	 * / 3) come out as 0.7000000000000001; the tolerance keeps the bonus for
	 * values really above the threshold, as in the paper.
	 */
	if (j <= boost_threshold + 1e-12)
		return j;
	while (l < lmax && a[l] == b[l])
		l++;
	return j + l * prefix_scale * (1.0 - j);
}

/*
 * CdpJaro
 *		Jaro similarity of two UTF-8 strings.
 */
double
CdpJaro(const char *a, int alen, const char *b, int blen)
{
	CdpCodes	ca,
				cb;
	double		r;

	CdpCheckChars(a, alen, CDP_CMP_MAX_CHARS);
	CdpCheckChars(b, blen, CDP_CMP_MAX_CHARS);
	if (alen == blen && memcmp(a, b, alen) == 0)
		return 1.0;
	CdpDecodeUtf8(a, alen, &ca);
	CdpDecodeUtf8(b, blen, &cb);
	r = CdpJaroCodes(ca.c, ca.len, cb.c, cb.len);
	CdpCodesFree(&ca);
	CdpCodesFree(&cb);
	return r;
}

/*
 * CdpJaroWinkler
 *		Jaro-Winkler similarity of two UTF-8 strings.
 */
double
CdpJaroWinkler(const char *a, int alen, const char *b, int blen,
			   double prefix_scale, double boost_threshold)
{
	CdpCodes	ca,
				cb;
	double		r;

	if (!(prefix_scale >= 0.0 && prefix_scale <= 0.25))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("prefix_scale must be between 0 and 0.25, not \"%g\"",
						prefix_scale),
				 errdetail("With a larger scale a four-character prefix would lift the similarity above 1.")));
	if (!(boost_threshold >= 0.0 && boost_threshold <= 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("boost_threshold must be between 0 and 1, not \"%g\"",
						boost_threshold),
				 errdetail("The threshold is compared with a Jaro similarity, which lies between 0 and 1.")));

	/* the same bytes: similarity 1, nothing to decode */
	CdpCheckChars(a, alen, CDP_CMP_MAX_CHARS);
	CdpCheckChars(b, blen, CDP_CMP_MAX_CHARS);
	if (alen == blen && memcmp(a, b, alen) == 0)
		return 1.0;
	CdpDecodeUtf8(a, alen, &ca);
	CdpDecodeUtf8(b, blen, &cb);
	r = CdpJaroWinklerCodes(ca.c, ca.len, cb.c, cb.len,
							prefix_scale, boost_threshold);
	CdpCodesFree(&ca);
	CdpCodesFree(&cb);
	return r;
}

/*
 * cdp_jaro
 *		SQL cdp.jaro(a text, b text) RETURNS float8.
 */
Datum
cdp_jaro(PG_FUNCTION_ARGS)
{
	text	   *a = PG_GETARG_TEXT_PP(0);
	text	   *b = PG_GETARG_TEXT_PP(1);

	CdpCheckDatabaseUtf8();
	PG_RETURN_FLOAT8(CdpJaro(VARDATA_ANY(a), VARSIZE_ANY_EXHDR(a),
							 VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b)));
}

/*
 * cdp_jaro_winkler
 *		SQL cdp.jaro_winkler(a text, b text, prefix_scale float8,
 *		boost_threshold float8) RETURNS float8.
 */
Datum
cdp_jaro_winkler(PG_FUNCTION_ARGS)
{
	text	   *a = PG_GETARG_TEXT_PP(0);
	text	   *b = PG_GETARG_TEXT_PP(1);

	CdpCheckDatabaseUtf8();
	PG_RETURN_FLOAT8(CdpJaroWinkler(VARDATA_ANY(a), VARSIZE_ANY_EXHDR(a),
									VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b),
									PG_GETARG_FLOAT8(2),
									PG_GETARG_FLOAT8(3)));
}
