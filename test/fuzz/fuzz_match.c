/*-------------------------------------------------------------------------
 *
 * test/fuzz/fuzz_match.c
 *		libFuzzer target: the text predicates of the matching family's level
 *		comparisons (MatchCompareLevel in src/match_score.c) and the bounded
 *		pair scorer, on a pair of feature values cut from the input.
 *
 * Oracles (src/match.h, doc/matching.md):
 *   - an "osa" level with "le" k holds exactly when CdpOsaDistance <= k
 *     (doc/matching.md: osa is CdpOsaDistance, which counts code points);
 *   - a "jw" level with "ge" g holds exactly when CdpJaroWinkler >= g,
 *     whether the values come decoded (codes) or as bytes;
 *   - a "prefix" level with "n" holds exactly when the first n characters
 *     are equal (src/match.h);
 *   - "exact" holds exactly for equal values;
 *   - the bounded scorer: a pair it does not cut scores what the full
 *     scorer gives, and a cut pair's full score is below the bound.
 * A feature may hold several values separated by 0x1F: a level holds when
 * its predicate holds for some pair of non-empty values.  Cross-script
 * features (name keys, keyboard layout) run without an oracle.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "mb/pg_wchar.h"

#include "cmp.h"
#include "match.h"
#include "text.h"

#include "fuzz_common.h"

/* the comparisons of the test program, one level each */
enum
{
	C_EXACT, C_JW, C_OSA, C_PREFIX, C_INITIAL, C_LAST7, C_SAMEYEAR, C_DMSWAP, C_NCOMP
};

/*
 * BuildProgram
 *		One comparison per predicate on feature column 0 (column 1 holds
 *		the name key), each with one level; k, g and n from the input.
 */
static void
BuildProgram(MatchProg *prog, int k, double g, int n, bool haskey)
{
	static const int ops[C_NCOMP] = {MATCH_OP_EXACT, MATCH_OP_JW, MATCH_OP_OSA, MATCH_OP_PREFIX,
	MATCH_OP_INITIAL, MATCH_OP_LAST7, MATCH_OP_SAMEYEAR, MATCH_OP_DMSWAP};

	memset(prog, 0, sizeof(*prog));
	prog->ncomp = C_NCOMP;
	prog->nfeat = 2;
	prog->prior = -3.0;
	for (int c = 0; c < C_NCOMP; c++)
	{
		prog->fidx[c] = 0;
		prog->nlev[c] = 1;
		prog->op[c][0] = ops[c];
		prog->arg[c][0] = 0;
		prog->w[c][0] = 1.0 + c;
		prog->w[c][1] = -0.5 * c;
		prog->haskey[c] = haskey;
	}
	prog->arg[C_JW][0] = g;
	prog->arg[C_OSA][0] = k;
	prog->arg[C_PREFIX][0] = n;
	MatchOrderProgram(prog);
}

/*
 * BuildRecord
 *		A record with value s (NUL-terminated copy) in column 0, key in
 *		column 1 and, for a single valid value, its code points.
 */
static void
BuildRecord(MatchRec *r, int64 id, const char *s, int len, const char *key, bool decode)
{
	memset(r, 0, sizeof(*r));
	r->id = id;
	r->golden = id;
	r->feat = palloc0(sizeof(char *) * 2);
	r->feat[0] = pnstrdup(s, len);
	r->feat[1] = key ? pstrdup(key) : NULL;
	r->codes = palloc0(sizeof(int32 *) * 2);
	r->ncodes = palloc0(sizeof(int16) * 2);
	if (decode)
	{
		r->codes[0] = palloc(sizeof(int32) * (len + 1));
		r->ncodes[0] = (int16) FuzzUtf8Decode(s, len, r->codes[0]);
	}
}

/*
 * PrefixChars
 *		Do a and b share their first n characters (both having n)?
 */
static bool
PrefixChars(const char *a, int alen, const char *b, int blen, int n)
{
	int			i = 0;

	for (int k = 0; k < n; k++)
	{
		int			l;

		if (i >= alen || i >= blen)
			return false;
		l = pg_utf_mblen((const unsigned char *) a + i);
		if (l != pg_utf_mblen((const unsigned char *) b + i) || memcmp(a + i, b + i, l) != 0)
			return false;
		i += l;
	}
	return true;
}

/*
 * AnyPair
 *		Does the predicate hold for some pair of non-empty values of a and b
 *		(values separated by MATCH_VALUE_SEP)?  k, g, n: its argument.  A
 *		Jaro-Winkler level compares the first MATCH_JW_MAX_VALUES non-empty
 *		values of each side only (src/match.h).
 */
static bool
AnyPair(int op, const char *a, int alen, const char *b, int blen, int k, double g, int n)
{
	int			cap = op == MATCH_OP_JW ? MATCH_JW_MAX_VALUES : PG_INT32_MAX;
	int			na = 0;

	for (int i = 0; i < alen && na < cap;)
	{
		const char *sa = memchr(a + i, MATCH_VALUE_SEP, alen - i);
		int			la = sa ? (int) (sa - (a + i)) : alen - i;
		int			nb = 0;

		for (int j = 0; j < blen && nb < cap;)
		{
			const char *sb = memchr(b + j, MATCH_VALUE_SEP, blen - j);
			int			lb = sb ? (int) (sb - (b + j)) : blen - j;

			nb += lb > 0;
			if (la > 0 && lb > 0)
			{
				const char *x = a + i;
				const char *y = b + j;
				bool		h = false;

				switch (op)
				{
					case MATCH_OP_EXACT:
						h = (la == lb && memcmp(x, y, la) == 0);
						break;
					case MATCH_OP_OSA:
						h = CdpOsaDistance(x, la, y, lb, k) <= k;
						break;
					case MATCH_OP_JW:
						h = CdpJaroWinkler(x, la, y, lb, 0.1, 0.7) >= g;
						break;
					case MATCH_OP_PREFIX:
						h = PrefixChars(x, la, y, lb, n);
						break;
				}
				if (h)
					return true;
			}
			j += lb + 1;
		}
		na += la > 0;
		i += la + 1;
	}
	return false;
}

/*
 * CheckLevels
 *		The level of each comparison against its definition, over every
 *		pair of values.
 */
static void
CheckLevels(const MatchProg *prog, const MatchRec *ra, const MatchRec *rb,
			const char *a, int alen, const char *b, int blen)
{
	static const struct
	{
		int			comp;
		int			op;
		const char *name;
	}			checks[] = {
		{C_EXACT, MATCH_OP_EXACT, "exact"}, {C_OSA, MATCH_OP_OSA, "osa"},
		{C_JW, MATCH_OP_JW, "jw"}, {C_PREFIX, MATCH_OP_PREFIX, "prefix"}
	};
	int			k = (int) prog->arg[C_OSA][0];
	double		g = prog->arg[C_JW][0];
	int			n = (int) prog->arg[C_PREFIX][0];

	for (int i = 0; i < lengthof(checks); i++)
	{
		int			l = MatchCompareLevel(prog, checks[i].comp, ra, rb);
		bool		want = AnyPair(checks[i].op, a, alen, b, blen, k, g, n);

		if ((l == 0) != want)
			FuzzFail("match level %s (osa %d, jw %g, prefix %d) is %d for \"%s\" and \"%s\"",
					 checks[i].name, k, g, n, l, ra->feat[0], rb->feat[0]);
	}
}

/*
 * CheckBounded
 *		The bounded scorer against the full one, for a bound from the input.
 */
static void
CheckBounded(const MatchProg *prog, const MatchRec *ra, const MatchRec *rb, double minw)
{
	int8		lev_full[MATCH_MAX_COMP];
	int8		lev_b[MATCH_MAX_COMP];
	int32		fl_full = 0,
				fl_b = 0;
	bool		cut = false;
	double		full = MatchScorePair(prog, ra, rb, lev_full, &fl_full);
	double		bounded = MatchScorePairBounded(prog, ra, rb, lev_b, &fl_b, minw, &cut, NULL);
	MatchBound	kept = {0};
	int8		lev_k[MATCH_MAX_COMP];
	int8		lev_only[MATCH_MAX_COMP];

	/* a kept bound, computed then reused, scores as none: twice the same */
	for (int pass = 0; pass < 2; pass++)
	{
		int32		fl_k = 0;
		bool		cut_k = false;
		double		w = MatchScorePairBounded(prog, ra, rb, lev_k, &fl_k, minw, &cut_k, &kept);

		if (cut_k != cut || (!cut && (w != bounded || fl_k != fl_b ||
									  memcmp(lev_k, lev_b, prog->ncomp) != 0)))
			FuzzFail("bounded scorer with a kept bound (pass %d) gives %.17g, without %.17g", pass, w, bounded);
	}
	MatchPairLevels(prog, ra, rb, lev_only);
	if (memcmp(lev_only, lev_full, prog->ncomp) != 0)
		FuzzFail("MatchPairLevels differs from the full scorer's levels");

	if (!isfinite(full))
		FuzzFail("match score is %g", full);
	if (!cut)
	{
		if (bounded != full || fl_b != fl_full || memcmp(lev_b, lev_full, prog->ncomp) != 0)
			FuzzFail("bounded scorer (not cut) gives %.17g, the full scorer %.17g", bounded, full);
	}
	else if (!(full < minw) || bounded < full - 1e-9)
		FuzzFail("bounded scorer cut at bound %.17g (min %.17g) a pair scoring %.17g",
				 bounded, minw, full);
	if (MatchProbability(full) < 0.0 || MatchProbability(full) > 1.0)
		FuzzFail("match probability of %g outside [0, 1]", full);
}

/*
 * LLVMFuzzerTestOneInput
 *		Input: one parameter byte, then two values split at 0xFF.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *a,
			   *b;
	int			alen,
				blen;
	uint8_t		p;
	bool		valid;

	if (size < 1)
		return 0;
	p = data[0];
	FuzzInputBegin();
	FuzzTwoStrings(data + 1, size - 1, 2100, &a, &alen, &b, &blen);
	valid = FuzzUtf8Valid(a, alen) && FuzzUtf8Valid(b, blen) &&
		FuzzUtf8Chars(a, alen) <= CDP_CMP_MAX_CHARS && FuzzUtf8Chars(b, blen) <= CDP_CMP_MAX_CHARS;
	FuzzExpectValidMessages(FuzzUtf8Valid(a, alen) && FuzzUtf8Valid(b, blen));
	FUZZ_TRY(
	{
		MatchProg	prog;
		MatchRec	ra,
					rb;
		bool		multi = memchr(a, MATCH_VALUE_SEP, alen) || memchr(b, MATCH_VALUE_SEP, blen);
		bool		single = valid && alen > 0 && blen > 0 && !multi;
		int			k = p % 6;
		double		g = (p >> 3) / 31.0;
		int			n = 1 + (p % 5);
		double		minw = (p % 7) * 2.0 - 6.0;

		/* one script, values as written: every predicate has its oracle */
		BuildProgram(&prog, k, g, n, false);
		BuildRecord(&ra, 1, a, alen, NULL, single);
		BuildRecord(&rb, 2, b, blen, NULL, single);
		if (valid && alen > 0 && blen > 0)
			CheckLevels(&prog, &ra, &rb, a, alen, b, blen);
		CheckBounded(&prog, &ra, &rb, minw);

		/* names with their keys: the cross-script and keyboard-layout paths */
		if (valid)
		{
			BuildProgram(&prog, k, g, n, true);
			BuildRecord(&ra, 1, a, alen, CdpNameBaseKey(a, alen), false);
			BuildRecord(&rb, 2, b, blen, CdpNameBaseKey(b, blen), false);
			CheckBounded(&prog, &ra, &rb, minw);
		}
	});
	if (valid && FuzzLastSqlstate != 0 && FuzzLastSqlstate != ERRCODE_PROGRAM_LIMIT_EXCEEDED)
		FuzzFail("matching raised %s for valid values: %s", FuzzSqlstateText(FuzzLastSqlstate),
				 FuzzLastMessage);
	FuzzInputEnd();
	return 0;
}
