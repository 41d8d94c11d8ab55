/*-------------------------------------------------------------------------
 *
 * test/fuzz/fuzz_pair.c
 *		libFuzzer target: every two-string comparator (src/cmp.h) and the
 *		name similarity of the index family (src/idx.h) on a pair of strings
 *		cut from the input (fuzz_common.h), checked against textbook
 *		implementations of the definitions doc/compare.md gives.
 *
 * Oracles (each only where doc/compare.md or doc/index.md promises it):
 *   - no error for two valid UTF-8 strings of at most 1000 code points,
 *     except 54000 for more than 32 name tokens;
 *   - Jaro equals the textbook loop (Jaro 1989) and Jaro-Winkler the
 *     textbook bonus, both in [0, 1]; the code point API agrees with the
 *     byte API;
 *   - OSA equals the textbook recurrence of the restricted
 *     Damerau-Levenshtein distance, is symmetric, and with a cap k from 0
 *     to 6 returns min(uncapped, k + 1);
 *   - the q-gram Jaccard and cosine (q = 1..6) equal their definitions
 *     over padded q-gram multisets (Ukkonen 1992) and are symmetric;
 *   - token-set, phone, e-mail and name similarities lie in their ranges;
 *     the phone and e-mail levels are symmetric (their rules are); a name
 *     compared with itself scores 1 (token set), a value with digits is an
 *     exact phone match of itself, an address with a local part an exact
 *     e-mail match of itself;
 *   - date levels (two DateADT read from the input) are symmetric;
 *   - name similarity: the SQL functions (through fmgr, with their caches)
 *     equal the kernel and are symmetric, as the self-commutative % and <->
 *     operators require; and the GIN operator class never loses a row a
 *     sequential scan finds (idx_name_gin.c): for thresholds from 0 to 1,
 *     when b % a holds, consistent() of query a on the keys of b is true and
 *     triconsistent() is not GIN_FALSE.
 *
 * The textbook checks run for strings of at most FUZZ_REF_CHARS code points;
 * longer strings still go through every kernel.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/gin.h"
#include "datatype/timestamp.h"
#include "utils/date.h"

#include "cmp.h"
#include "idx.h"

#include "fuzz_common.h"

/* longest string the textbook references are run on (they are quadratic) */
#define FUZZ_REF_CHARS	200

/* start and end markers of padded q-grams: never code points */
#define QGRAM_START		(-1)
#define QGRAM_END		(-2)

/*
 * RefJaro
 *		The textbook Jaro similarity of two code point arrays, with t rounded
 *		down as the reference implementation (strcmp95.c) and cdp do; doc/compare.md
 *		says "half the number" without the rounding.
 */
static double
RefJaro(const int32 *a, int na, const int32 *b, int nb)
{
	bool		ma[FUZZ_REF_CHARS] = {0};
	bool		mb[FUZZ_REF_CHARS] = {0};
	int			w,
				m = 0,
				t = 0,
				k = 0;

	if (na == 0 && nb == 0)
		return 1.0;
	if (na == 0 || nb == 0)
		return 0.0;
	w = Max(na, nb) / 2 - 1;
	if (w < 0)
		w = 0;
	for (int i = 0; i < na; i++)
	{
		int			lo = Max(0, i - w);
		int			hi = Min(nb - 1, i + w);

		for (int j = lo; j <= hi; j++)
			if (!mb[j] && a[i] == b[j])
			{
				ma[i] = mb[j] = true;
				m++;
				break;
			}
	}
	if (m == 0)
		return 0.0;
	for (int i = 0; i < na; i++)
		if (ma[i])
		{
			while (!mb[k])
				k++;
			if (a[i] != b[k])
				t++;
			k++;
		}
	/* half the out-of-order count, rounded down as in Winkler's strcmp95.c */
	t /= 2;
	return ((double) m / na + (double) m / nb + (double) (m - t) / m) / 3.0;
}

/*
 * RefOsa
 *		The textbook optimal string alignment distance (full matrix).
 */
static int
RefOsa(const int32 *a, int na, const int32 *b, int nb)
{
	static int	d[FUZZ_REF_CHARS + 1][FUZZ_REF_CHARS + 1];

	for (int i = 0; i <= na; i++)
		d[i][0] = i;
	for (int j = 0; j <= nb; j++)
		d[0][j] = j;
	for (int i = 1; i <= na; i++)
		for (int j = 1; j <= nb; j++)
		{
			int			cost = (a[i - 1] == b[j - 1]) ? 0 : 1;
			int			v = Min(d[i - 1][j] + 1, d[i][j - 1] + 1);

			v = Min(v, d[i - 1][j - 1] + cost);
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
				v = Min(v, d[i - 2][j - 2] + 1);
			d[i][j] = v;
		}
	return d[na][nb];
}

/*
 * QgramAt
 *		Code point k of the padded string (q - 1 start markers, s, q - 1 end
 *		markers).
 */
static inline int32
QgramAt(const int32 *s, int n, int q, int k)
{
	if (k < q - 1)
		return QGRAM_START;
	if (k - (q - 1) < n)
		return s[k - (q - 1)];
	return QGRAM_END;
}

/*
 * QgramEq
 *		Are q-gram i of padded x and q-gram j of padded y equal?
 */
static bool
QgramEq(const int32 *x, int nx, int i, const int32 *y, int ny, int j, int q)
{
	for (int k = 0; k < q; k++)
		if (QgramAt(x, nx, q, i + k) != QgramAt(y, ny, q, j + k))
			return false;
	return true;
}

/*
 * QgramCount
 *		How often q-gram i of padded x occurs in padded y.
 */
static int
QgramCount(const int32 *x, int nx, int i, const int32 *y, int ny, int q)
{
	int			c = 0;

	for (int j = 0; j < ny + q - 1; j++)
		c += QgramEq(x, nx, i, y, ny, j, q);
	return c;
}

/*
 * RefQgram
 *		Jaccard and cosine of the padded q-gram multisets of a and b.
 */
static void
RefQgram(const int32 *a, int na, const int32 *b, int nb, int q,
		 double *jaccard, double *cosine)
{
	double		smin = 0,
				smax = 0,
				dot = 0,
				sa2 = 0,
				sb2 = 0;

	if (na == 0 || nb == 0)
	{
		*jaccard = *cosine = (na == 0 && nb == 0) ? 1.0 : 0.0;
		return;
	}
	/* each distinct q-gram of a (first occurrence), then those only in b */
	for (int i = 0; i < na + q - 1; i++)
	{
		int			ca,
					cb;

		bool		seen = false;

		for (int k = 0; k < i && !seen; k++)
			seen = QgramEq(a, na, k, a, na, i, q);
		if (seen)
			continue;
		ca = QgramCount(a, na, i, a, na, q);
		cb = QgramCount(a, na, i, b, nb, q);
		smin += Min(ca, cb);
		smax += Max(ca, cb);
		dot += (double) ca * cb;
		sa2 += (double) ca * ca;
	}
	for (int j = 0; j < nb + q - 1; j++)
	{
		int			cb;
		bool		seen = false;

		for (int k = 0; k < j && !seen; k++)
			seen = QgramEq(b, nb, k, b, nb, j, q);
		if (seen)
			continue;
		cb = QgramCount(b, nb, j, b, nb, q);
		sb2 += (double) cb * cb;
		if (QgramCount(b, nb, j, a, na, q) == 0)
			smax += cb;
	}
	*jaccard = smax > 0 ? smin / smax : 0.0;
	*cosine = (sa2 > 0 && sb2 > 0) ? dot / sqrt(sa2 * sb2) : 0.0;
}

/*
 * CheckUnit
 *		A similarity must be a number in [0, 1].
 */
static void
CheckUnit(const char *what, double v)
{
	if (!(v >= 0.0 && v <= 1.0))
		FuzzFail("%s = %.17g, outside [0, 1]", what, v);
}

/*
 * CheckClose
 *		A kernel's value against the reference.
 */
static void
CheckClose(const char *what, double got, double want)
{
	if (fabs(got - want) > 1e-9)
		FuzzFail("%s = %.17g, the textbook definition gives %.17g", what, got, want);
}

/*
 * CheckError
 *		After a FUZZ_TRY: errors only for invalid or over-long input, or the
 *		listed SQLSTATE (a documented limit such as 32 tokens).
 */
static void
CheckError(const char *what, bool ok_input, int allowed)
{
	if (FuzzLastSqlstate == 0 || !ok_input || FuzzLastSqlstate == allowed)
		return;
	FuzzFail("%s raised %s for valid input: %s", what, FuzzSqlstateText(FuzzLastSqlstate),
			 FuzzLastMessage);
}

/*
 * FuzzStrings
 *		Jaro, Jaro-Winkler, OSA and q-grams of (a, b), against the references.
 */
static void
FuzzStrings(const char *a, int alen, const char *b, int blen, bool ok_input)
{
	static const double scales[] = {0.1, 0.0, 0.25};
	int32	   *ca = NULL,
			   *cb = NULL;
	int			na = 0,
				nb = 0;
	bool		ref = false;

	if (ok_input)
	{
		ca = palloc(sizeof(int32) * (alen + 1));
		cb = palloc(sizeof(int32) * (blen + 1));
		na = FuzzUtf8Decode(a, alen, ca);
		nb = FuzzUtf8Decode(b, blen, cb);
		ref = (na <= FUZZ_REF_CHARS && nb <= FUZZ_REF_CHARS);
	}

	FUZZ_TRY(
	{
		double		j = CdpJaro(a, alen, b, blen);

		CheckUnit("jaro", j);
		if (ref)
		{
			double		want = RefJaro(ca, na, cb, nb);

			CheckClose("jaro", j, want);
			CheckClose("jaro (code points)", CdpJaroCodes(ca, na, cb, nb), j);
			for (int s = 0; s < lengthof(scales); s++)
			{
				double		jw = CdpJaroWinkler(a, alen, b, blen, scales[s], 0.7);
				int			l = 0;

				CheckUnit("jaro_winkler", jw);
				while (l < 4 && l < na && l < nb && ca[l] == cb[l])
					l++;
				if (fabs(want - 0.7) > 1e-9)
					CheckClose("jaro_winkler", jw,
							   want > 0.7 ? want + l * scales[s] * (1 - want) : want);
				CheckClose("jaro_winkler (code points)",
						   CdpJaroWinklerCodes(ca, na, cb, nb, scales[s], 0.7), jw);
			}
		}
		else
			CheckUnit("jaro_winkler", CdpJaroWinkler(a, alen, b, blen, 0.1, 0.7));
	});
	CheckError("jaro", ok_input, 0);

	FUZZ_TRY(
	{
		int			d = CdpOsaDistance(a, alen, b, blen, -1);
		int			want = -1;

		if (d < 0)
			FuzzFail("osa_distance = %d", d);
		if (ok_input && CdpOsaDistance(b, blen, a, alen, -1) != d)
			FuzzFail("osa_distance is not symmetric: %d and %d", d,
					 CdpOsaDistance(b, blen, a, alen, -1));
		if (ref)
		{
			want = RefOsa(ca, na, cb, nb);
			if (d != want)
				FuzzFail("osa_distance = %d, the textbook recurrence gives %d", d, want);
			if (CdpOsaDistanceCodes(ca, na, cb, nb, -1) != d)
				FuzzFail("osa_distance (code points) = %d, bytes %d",
						 CdpOsaDistanceCodes(ca, na, cb, nb, -1), d);
		}
		for (int k = 0; k <= 6; k++)
		{
			int			c = CdpOsaDistance(a, alen, b, blen, k);

			if (ok_input && c != Min(d, k + 1))
				FuzzFail("osa_distance(cap %d) = %d, uncapped %d: expected %d", k, c, d, Min(d, k + 1));
			if (ref && CdpOsaDistanceCodes(ca, na, cb, nb, k) != Min(d, k + 1))
				FuzzFail("osa_distance (code points, cap %d) = %d, expected %d", k,
						 CdpOsaDistanceCodes(ca, na, cb, nb, k), Min(d, k + 1));
		}
	});
	CheckError("osa_distance", ok_input, 0);

	for (int q = 1; q <= CDP_CMP_MAX_Q; q++)
	{
		FUZZ_TRY(
		{
			double		jac = CdpQgramJaccard(a, alen, b, blen, q);
			double		cos = CdpQgramCosine(a, alen, b, blen, q);

			CheckUnit("qgram_jaccard", jac);
			CheckUnit("qgram_cosine", cos);
			if (ok_input)
			{
				if (CdpQgramJaccard(b, blen, a, alen, q) != jac)
					FuzzFail("qgram_jaccard(q %d) is not symmetric", q);
				if (fabs(CdpQgramCosine(b, blen, a, alen, q) - cos) > 1e-12)
					FuzzFail("qgram_cosine(q %d) is not symmetric", q);
			}
			if (ref && na <= 60 && nb <= 60)
			{
				double		wj,
							wc;

				RefQgram(ca, na, cb, nb, q, &wj, &wc);
				CheckClose("qgram_jaccard", jac, wj);
				CheckClose("qgram_cosine", cos, wc);
			}
		});
		CheckError("qgram", ok_input, 0);
	}
}

/*
 * FuzzLevels
 *		Token sets, phone and e-mail levels, name similarity.
 */
static void
FuzzLevels(const char *a, int alen, const char *b, int blen, bool ok_input)
{
	FUZZ_TRY(
	{
		CheckUnit("token_set_similarity", CdpTokenSetSimilarity(a, alen, b, blen));
		if (ok_input)
		{
			double		self = CdpTokenSetSimilarity(a, alen, a, alen);

			if (self != 1.0)
				FuzzFail("token_set_similarity of a name with itself = %.17g", self);
		}
	});
	CheckError("token_set_similarity", ok_input, ERRCODE_PROGRAM_LIMIT_EXCEEDED);

	FUZZ_TRY(
	{
		int			l = CdpPhoneLevel(a, alen, b, blen);

		if (l < 0 || l >= CDP_PHONE_NLEVELS || CdpPhoneLevelName(l) == NULL)
			FuzzFail("phone_level = %d", l);
		CheckUnit("phone_similarity", CdpPhoneLevelScore(l));
		if (ok_input && CdpPhoneLevel(b, blen, a, alen) != l)
			FuzzFail("phone_level is not symmetric: %s and %s", CdpPhoneLevelName(l),
					 CdpPhoneLevelName(CdpPhoneLevel(b, blen, a, alen)));
		/* doc/compare.md: exact is "same digits", different includes "a value without digits" */
		if (ok_input && strpbrk(pnstrdup(a, alen), "0123456789") != NULL &&
			CdpPhoneLevel(a, alen, a, alen) != CDP_PHONE_EXACT)
			FuzzFail("phone_level of a value with digits and itself is %s",
					 CdpPhoneLevelName(CdpPhoneLevel(a, alen, a, alen)));
	});
	CheckError("phone_level", ok_input, ERRCODE_PROGRAM_LIMIT_EXCEEDED);

	FUZZ_TRY(
	{
		int			l = CdpEmailLevel(a, alen, b, blen);

		if (l < 0 || l >= CDP_EMAIL_NLEVELS || CdpEmailLevelName(l) == NULL)
			FuzzFail("email_level = %d", l);
		CheckUnit("email_similarity", CdpEmailLevelScore(l));
		if (ok_input && CdpEmailLevel(b, blen, a, alen) != l)
			FuzzFail("email_level is not symmetric: %s and %s", CdpEmailLevelName(l),
					 CdpEmailLevelName(CdpEmailLevel(b, blen, a, alen)));
		/* doc/compare.md: exact is "same address ignoring case" (split at the last @) */
		if (ok_input && alen > 0 && a[0] != '@' && memchr(a, '@', alen) != NULL &&
			CdpEmailLevel(a, alen, a, alen) != CDP_EMAIL_EXACT)
			FuzzFail("email_level of an address and itself is %s",
					 CdpEmailLevelName(CdpEmailLevel(a, alen, a, alen)));
	});
	CheckError("email_level", ok_input, 0);

	FUZZ_TRY(
	{
		IdxName		na,
					nb;

		IdxNameBuild(a, alen, &na);
		IdxNameBuild(b, blen, &nb);
		CheckUnit("name_similarity", IdxNameSimilarity(&na, &nb));
	});
	CheckError("name_similarity", ok_input, 0);
}

/* the fmgr entry points of the name-index family (src/idx_name_*.c) */
extern Datum cdp_name_similarity(PG_FUNCTION_ARGS);
extern Datum cdp_name_distance(PG_FUNCTION_ARGS);
extern Datum cdp_name_similar(PG_FUNCTION_ARGS);
extern Datum cdp_name_gin_extract_value(PG_FUNCTION_ARGS);
extern Datum cdp_name_gin_extract_query(PG_FUNCTION_ARGS);
extern Datum cdp_name_gin_consistent(PG_FUNCTION_ARGS);
extern Datum cdp_name_gin_triconsistent(PG_FUNCTION_ARGS);

/*
 * FuzzText
 *		A plain text datum holding s[0..len).
 */
static text *
FuzzText(const char *s, int len)
{
	text	   *t = palloc(VARHDRSZ + len);

	SET_VARSIZE(t, VARHDRSZ + len);
	memcpy(VARDATA(t), s, len);
	return t;
}

/*
 * FuzzCall
 *		Calls an fmgr function with up to 8 non-null arguments; flinfo gives
 *		it fn_extra and fn_mcxt for its caches.
 */
static Datum
FuzzCall(PGFunction fn, FmgrInfo *flinfo, int nargs, const Datum *args)
{
	LOCAL_FCINFO(fcinfo, 8);

	InitFunctionCallInfoData(*fcinfo, flinfo, nargs, InvalidOid, NULL, NULL);
	for (int i = 0; i < nargs; i++)
	{
		fcinfo->args[i].value = args[i];
		fcinfo->args[i].isnull = false;
	}
	return fn(fcinfo);
}

/*
 * GinFindsRow
 *		Does name_gin_ops pass row b for query a: the row's keys from
 *		extractValue, the query's from extractQuery, then consistent (and
 *		triconsistent, which must agree on definite answers)?
 */
static bool
GinFindsRow(text *a, text *b)
{
	int32		nrow = 0,
				nq = 0,
				mode = 0;
	Pointer    *extra = NULL;
	Datum		args[8];
	Datum	   *rowkeys,
			   *qkeys;
	bool	   *check;
	GinTernaryValue *tcheck;
	bool		recheck = false;
	bool		res;
	GinTernaryValue tres;

	args[0] = PointerGetDatum(b);
	args[1] = PointerGetDatum(&nrow);
	rowkeys = (Datum *) DatumGetPointer(FuzzCall(cdp_name_gin_extract_value, NULL, 2, args));
	args[0] = PointerGetDatum(a);
	args[1] = PointerGetDatum(&nq);
	args[2] = UInt16GetDatum(IDX_SIMILAR_STRATEGY);
	args[3] = PointerGetDatum(NULL);
	args[4] = PointerGetDatum(&extra);
	args[5] = PointerGetDatum(NULL);
	args[6] = PointerGetDatum(&mode);
	qkeys = (Datum *) DatumGetPointer(FuzzCall(cdp_name_gin_extract_query, NULL, 7, args));
	if (nq == 0 || nrow == 0)
		return false;			/* GIN sees no shared key: the row is not found */
	check = palloc0(sizeof(bool) * nq);
	tcheck = palloc0(sizeof(GinTernaryValue) * nq);
	for (int i = 0; i < nq; i++)
	{
		for (int j = 0; j < nrow; j++)
			if (DatumGetInt32(qkeys[i]) == DatumGetInt32(rowkeys[j]))
				check[i] = true;
		tcheck[i] = check[i] ? GIN_TRUE : GIN_FALSE;
	}
	args[0] = PointerGetDatum(check);
	args[1] = UInt16GetDatum(IDX_SIMILAR_STRATEGY);
	args[2] = PointerGetDatum(a);
	args[3] = Int32GetDatum(nq);
	args[4] = PointerGetDatum(extra);
	args[5] = PointerGetDatum(&recheck);
	args[6] = PointerGetDatum(qkeys);
	args[7] = PointerGetDatum(NULL);
	res = DatumGetBool(FuzzCall(cdp_name_gin_consistent, NULL, 8, args));
	args[0] = PointerGetDatum(tcheck);
	args[5] = PointerGetDatum(qkeys);
	args[6] = PointerGetDatum(NULL);
	tres = DatumGetGinTernaryValue(FuzzCall(cdp_name_gin_triconsistent, NULL, 7, args));
	if (res != (tres != GIN_FALSE))
		FuzzFail("name_gin_ops: consistent says %d, triconsistent %d", res, tres);
	if (res && !recheck)
		FuzzFail("name_gin_ops: consistent passed a row without asking for a re-check");
	return res;
}

/*
 * FuzzNameIndex
 *		The SQL name similarity through fmgr against the kernel, its
 *		symmetry, and the GIN operator class against a sequential scan.
 */
static void
FuzzNameIndex(const char *a, int alen, const char *b, int blen, bool ok_input)
{
	static const double thresholds[] = {IDX_DEFAULT_THRESHOLD, 0.0, 0.3, 0.5, 0.8, 1.0};

	if (!ok_input)
		return;
	FUZZ_TRY(
	{
		text	   *ta = FuzzText(a, alen);
		text	   *tb = FuzzText(b, blen);
		FmgrInfo	fl;
		Datum		args[2];
		IdxName		na,
					nb;
		float4		k,
					ab,
					ba;

		memset(&fl, 0, sizeof(fl));
		fl.fn_mcxt = CurrentMemoryContext;
		IdxNameBuild(a, alen, &na);
		IdxNameBuild(b, blen, &nb);
		k = IdxNameSimilarity(&na, &nb);
		args[0] = PointerGetDatum(ta);
		args[1] = PointerGetDatum(tb);
		ab = DatumGetFloat4(FuzzCall(cdp_name_similarity, &fl, 2, args));
		args[0] = PointerGetDatum(tb);
		args[1] = PointerGetDatum(ta);
		ba = DatumGetFloat4(FuzzCall(cdp_name_similarity, &fl, 2, args));
		if (ab != k)
			FuzzFail("name_similarity = %.9g through fmgr, %.9g from the kernel", (double) ab, (double) k);
		if (ab != ba)
			FuzzFail("name_similarity is not symmetric: %.9g and %.9g (%% and <-> are their own commutators)",
					 (double) ab, (double) ba);
		{
			/* <->: 1 - similarity, plus the spelling tie-break only (session 24), symmetric */
			float4		dab = DatumGetFloat4(FuzzCall(cdp_name_distance, &fl, 2, args));
			float4		dba;

			args[0] = PointerGetDatum(ta);
			args[1] = PointerGetDatum(tb);
			dba = DatumGetFloat4(FuzzCall(cdp_name_distance, &fl, 2, args));
			if (dab != dba)
				FuzzFail("name_distance is not symmetric: %.9g and %.9g", (double) dab, (double) dba);
			if (!(dab >= 1.0f - k && dab <= 1.0f - k + 2 * IDX_SPELLING_TIE && dab <= 1.0f))
				FuzzFail("name_distance = %.9g for similarity %.9g", (double) dab, (double) k);
			args[0] = PointerGetDatum(tb);
			args[1] = PointerGetDatum(ta);
		}
		for (int t = 0; t < lengthof(thresholds); t++)
		{
			bool		row_b,
						row_a;

			IdxSimilarityThreshold = thresholds[t];
			/* column % query, the way an index scan reads it */
			args[0] = PointerGetDatum(tb);
			args[1] = PointerGetDatum(ta);
			row_b = DatumGetBool(FuzzCall(cdp_name_similar, &fl, 2, args));
			args[0] = PointerGetDatum(ta);
			args[1] = PointerGetDatum(tb);
			row_a = DatumGetBool(FuzzCall(cdp_name_similar, &fl, 2, args));
			if (row_a != row_b)
				FuzzFail("name_similar is not symmetric at threshold %g", thresholds[t]);
			if (row_b && !GinFindsRow(ta, tb))
				FuzzFail("name_gin_ops misses a row: similarity %.9g >= threshold %g but consistent is false",
						 (double) ab, thresholds[t]);
		}
		IdxSimilarityThreshold = IDX_DEFAULT_THRESHOLD;
	});
	IdxSimilarityThreshold = IDX_DEFAULT_THRESHOLD;
	CheckError("name_similarity", ok_input, 0);
}

/*
 * FuzzDates
 *		Date levels of two valid DateADT values taken from the input bytes.
 */
static void
FuzzDates(const uint8_t *data, size_t size)
{
	int32		d[2];

	if (size < 8)
		return;
	memcpy(d, data + size - 8, 8);
	for (int i = 0; i < 2; i++)
		if (!DATE_NOT_FINITE(d[i]) && !IS_VALID_DATE(d[i]))
			d[i] = d[i] % 100000;	/* keep it a real date */
	FUZZ_TRY(
	{
		int			l = CdpDateLevel(d[0], d[1]);

		if (l < 0 || l >= CDP_DATE_NLEVELS || CdpDateLevelName(l) == NULL)
			FuzzFail("date_level = %d", l);
		CheckUnit("date_similarity", CdpDateLevelScore(l));
		if (CdpDateLevel(d[1], d[0]) != l)
			FuzzFail("date_level(%d, %d) is not symmetric", d[0], d[1]);
		if (CdpDateLevel(d[0], d[0]) != CDP_DATE_EXACT)
			FuzzFail("date_level(%d, itself) is not exact", d[0]);
	});
	if (FuzzLastSqlstate != 0)
		FuzzFail("date_level raised %s: %s", FuzzSqlstateText(FuzzLastSqlstate), FuzzLastMessage);
}

/*
 * LLVMFuzzerTestOneInput
 *		One input: a pair of strings through every comparator.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *a,
			   *b;
	int			alen,
				blen;
	bool		ok_input;

	FuzzInputBegin();
	FuzzTwoStrings(data, size, 2100, &a, &alen, &b, &blen);
	ok_input = FuzzUtf8Valid(a, alen) && FuzzUtf8Valid(b, blen) &&
		FuzzUtf8Chars(a, alen) <= CDP_CMP_MAX_CHARS &&
		FuzzUtf8Chars(b, blen) <= CDP_CMP_MAX_CHARS;
	FuzzExpectValidMessages(FuzzUtf8Valid(a, alen) && FuzzUtf8Valid(b, blen));
	FuzzStrings(a, alen, b, blen, ok_input);
	FuzzLevels(a, alen, b, blen, ok_input);
	FuzzNameIndex(a, alen, b, blen, ok_input);
	FuzzDates(data, size);
	FuzzInputEnd();
	return 0;
}
