/*-------------------------------------------------------------------------
 *
 * src/match_score.c
 *		Fellegi-Sunter scoring of one record pair over pre-normalised
 *		features: the comparison level of each compared attr, its match
 *		weight log2(m/u), the term-frequency adjustment of exact agreements
 *		and the deterministic identifier rules.
 *
 *		Fellegi, I. P. and Sunter, A. B. (1969), "A theory for record
 *		linkage", JASA 64(328).  Term-frequency adjustment and comparison
 *		levels follow Splink (UK Ministry of Justice).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "mb/pg_wchar.h"
#include "utils/datetime.h"
#include "utils/hsearch.h"

#include "cdp.h"
#include "cmp.h"
#include "match.h"

/* one entry of a term-frequency table */
typedef struct MatchTfEntry
{
	char		key[MATCH_TF_KEYLEN];
	double		freq;
} MatchTfEntry;

/*
 * TokenLen
 *		Length of the value starting at s, up to the next separator or NUL.
 */
static inline int
TokenLen(const char *s)
{
	const char *p = s;

	while (*p && *p != MATCH_VALUE_SEP)
		p++;
	return (int) (p - s);
}

/*
 * FirstCharLen
 *		Byte length of the first (multibyte) character of a value of len bytes.
 */
static inline int
FirstCharLen(const char *s, int len)
{
	int			l;

	if (len <= 0)
		return 0;
	l = pg_utf_mblen((const unsigned char *) s);
	return Min(l, len);
}

/*
 * YmdPart
 *		The n <= 4 bytes of a YYYYMMDD date value from offset off as one
 *		number (equal exactly when the bytes are), for the compare family's
 *		date tests.
 */
static inline int32
YmdPart(const char *s, int off, int n)
{
	uint32		v = 0;

	for (int i = 0; i < n; i++)
		v = (v << 8) | (unsigned char) s[off + i];
	return (int32) v;
}

/*
 * PredicateHolds
 *		Whether level predicate op with argument arg holds for one value of
 *		each record (a, alen) and (b, blen).  Dates are YYYYMMDD strings.
 */
static bool
PredicateHolds(int op, double arg, const char *a, int alen, const char *b, int blen)
{
	switch (op)
	{
		case MATCH_OP_EXACT:
		case MATCH_OP_KEY:
			return alen == blen && memcmp(a, b, alen) == 0;
		case MATCH_OP_JW:
			return CdpJaroWinkler(a, alen, b, blen, 0.1, 0.7) >= arg;
		case MATCH_OP_OSA:
			{
				int			maxd = (int) arg;

				/*
				 * No byte-length shortcut: a Cyrillic letter is two bytes, so
				 * "о." and "олег" (3 edits) differ by 5 bytes.  CdpOsaDistance
				 * settles a length difference over the cap itself, in code
				 * points, as cheaply.
				 */
				return CdpOsaDistance(a, alen, b, blen, maxd) <= maxd;
			}
		case MATCH_OP_DMSWAP:
			return alen == 8 && blen == 8 &&
				CdpDateDayMonthSwapped(YmdPart(a, 0, 4), YmdPart(a, 4, 2), YmdPart(a, 6, 2),
									   YmdPart(b, 0, 4), YmdPart(b, 4, 2), YmdPart(b, 6, 2));
		case MATCH_OP_SAMEYEAR:
			return alen >= 4 && blen >= 4 && memcmp(a, b, 4) == 0;
		case MATCH_OP_LAST7:
			return CdpPhoneSameTail(a, alen, b, blen);
		case MATCH_OP_INITIAL:
			{
				int			la = FirstCharLen(a, alen);
				int			lb = FirstCharLen(b, blen);

				if (la == 0 || la != lb || memcmp(a, b, la) != 0)
					return false;
				return la == alen || lb == blen;
			}
		case MATCH_OP_PREFIX:
			{
				/* the first n characters, not bytes (a Cyrillic letter is two) */
				int			n = (int) arg;
				int			i = 0;

				while (n-- > 0)
				{
					int			l;

					if (i >= alen || i >= blen)
						return false;
					l = pg_utf_mblen((const unsigned char *) a + i);
					if (i + l > alen || i + l > blen || memcmp(a + i, b + i, l) != 0)
						return false;
					i += l;
				}
				return true;
			}
		default:
			elog(ERROR, "unknown match level operator %d", op);
	}
	return false;
}

/*
 * LayoutFold
 *		A value typed in Latin letters with the Russian keyboard layout meant
 *		(Cjamz for Софья): each letter replaced by the Cyrillic letter of the
 *		same key of the ЙЦУКЕН layout, lower case, into out (at least
 *		2 * len + 1 bytes).  Returns the length, or -1 when the value holds
 *		anything but ASCII letters and the keys of ё, х, ъ, ж, э, б, ю.
 */
static int
LayoutFold(const char *s, int len, char *out)
{
	static const char *const qwerty = "qwertyuiop[]asdfghjkl;'zxcvbnm,.`";
	static const char *const jcuken[] = {
		"й", "ц", "у", "к", "е", "н", "г", "ш", "щ", "з", "х", "ъ",
		"ф", "ы", "в", "а", "п", "р", "о", "л", "д", "ж", "э",
		"я", "ч", "с", "м", "и", "т", "ь", "б", "ю", "е"
	};
	int			n = 0;
	int			i;

	for (i = 0; i < len; i++)
	{
		char		ch = s[i];
		const char *k;

		if (ch >= 'A' && ch <= 'Z')
			ch = ch - 'A' + 'a';
		k = (ch != '\0') ? strchr(qwerty, ch) : NULL;
		if (k == NULL)
			return -1;
		memcpy(out + n, jcuken[k - qwerty], 2);
		n += 2;
	}
	out[n] = '\0';
	return n;
}

/*
 * MatchCompareLevel
 *		The level comparison c reaches for records a and b: the index of the
 *		first level whose predicate holds for some pair of their values,
 *		nlev ("else") when none does, MATCH_LEVEL_NULL when a side is missing.
 *		A Jaro-Winkler level holds when the best similarity of a pair of
 *		their first MATCH_JW_MAX_VALUES non-empty values reaches its
 *		threshold; that best is computed once per call, by the first such
 *		level that does not hold, for the levels after it.
 */
int
MatchCompareLevel(const MatchProg *prog, int c, const MatchRec *a, const MatchRec *b)
{
	int			f = prog->fidx[c];
	const char *va = a->feat[f];
	const char *vb = b->feat[f];
	int			l;
	double		jw_best = -1.0; /* the best similarity of a value pair; < 0: not
								 * computed yet */

	if (va == NULL || vb == NULL || *va == '\0' || *vb == '\0')
		return MATCH_LEVEL_NULL;

	for (l = 0; l < prog->nlev[c]; l++)
	{
		int			op = prog->op[c][l];
		double		arg = prog->arg[c][l];
		const char *pa;

		if (op == MATCH_OP_SWAPPED)
		{
			/* a's key of this name is b's key of the other, and back */
			int			g = (int) arg + 1;
			const char *ka = a->feat[f + 1];
			const char *kb = b->feat[f + 1];
			const char *oa = a->feat[g];
			const char *ob = b->feat[g];

			if (ka && kb && oa && ob && strcmp(ka, ob) == 0 && strcmp(oa, kb) == 0 &&
				strcmp(ka, kb) != 0)
				return l;
			continue;
		}
		if (op == MATCH_OP_CROSS)
		{
			/* a's key of this name is b's key of the other, or the reverse */
			int			g = (int) arg + 1;
			const char *ka = a->feat[f + 1];
			const char *kb = b->feat[f + 1];
			const char *oa = a->feat[g];
			const char *ob = b->feat[g];

			if (ka && kb && strcmp(ka, kb) != 0 &&
				((ob && strcmp(ka, ob) == 0) || (oa && strcmp(oa, kb) == 0)))
				return l;
			continue;
		}
		if (op == MATCH_OP_KEY)
		{
			va = a->feat[f + 1];
			vb = b->feat[f + 1];
			if (va == NULL || vb == NULL)
				continue;
		}
		else
		{
			va = a->feat[f];
			vb = b->feat[f];
		}
		if (op == MATCH_OP_JW && jw_best >= 0.0)
		{
			/* an earlier Jaro-Winkler level computed the best pair's */
			if (jw_best >= arg)
				return l;
		}
		else
		{
			/* na, nb: the non-empty values compared so far, at most cap */
			int			cap = op == MATCH_OP_JW ? MATCH_JW_MAX_VALUES : PG_INT32_MAX;
			int			na = 0;

			for (pa = va; *pa && na < cap;)
			{
				int			alen = TokenLen(pa);
				const char *pb;
				int			nb = 0;

				for (pb = vb; *pb && nb < cap;)
				{
					int			blen = TokenLen(pb);

					nb += blen > 0;
					if (alen > 0 && blen > 0)
					{
						if (op == MATCH_OP_JW)
						{
							const int32 *ca = a->codes ? a->codes[f] : NULL;
							const int32 *cb = b->codes ? b->codes[f] : NULL;
							double		jw;

							/*
							 * single values decoded at load: what
							 * CdpJaroWinkler does after decoding them
							 */
							if (ca && cb && pa == a->feat[f] && pb == b->feat[f])
								jw = (alen == blen && memcmp(pa, pb, alen) == 0) ? 1.0 :
									CdpJaroWinklerCodes(ca, a->ncodes[f], cb, b->ncodes[f], 0.1, 0.7);
							else
								jw = CdpJaroWinkler(pa, alen, pb, blen, 0.1, 0.7);
							if (jw >= arg)
								return l;
							jw_best = Max(jw_best, jw);
						}
						else if (PredicateHolds(op, arg, pa, alen, pb, blen))
							return l;
					}
					pb += blen;
					if (*pb)
						pb++;
				}
				na += alen > 0;
				pa += alen;
				if (*pa)
					pa++;
			}
			if (op == MATCH_OP_JW)
				jw_best = Max(jw_best, 0.0);
		}

		/*
		 * A name written in two scripts (Глеб, GLEB; О., OLEG): the
		 * similarity predicates also hold when they hold for the two name
		 * keys (one Latin spelling each).  Names in one script are compared
		 * as written only.
		 */
		if (prog->haskey[c] &&
			(op == MATCH_OP_JW || op == MATCH_OP_OSA ||
			 op == MATCH_OP_INITIAL || op == MATCH_OP_PREFIX) &&
			IS_HIGHBIT_SET(a->feat[f][0]) != IS_HIGHBIT_SET(b->feat[f][0]))
		{
			const char *ka = a->feat[f + 1];
			const char *kb = b->feat[f + 1];

			if (ka && kb && *ka && *kb &&
				PredicateHolds(op, arg, ka, TokenLen(ka), kb, TokenLen(kb)))
				return l;

			/* Latin letters typed with the Russian layout meant: Cjamz, Софья */
			{
				const char *lat = IS_HIGHBIT_SET(a->feat[f][0]) ? b->feat[f] : a->feat[f];
				const char *cyr = IS_HIGHBIT_SET(a->feat[f][0]) ? a->feat[f] : b->feat[f];
				int			llen = TokenLen(lat);
				char		buf[2 * 64 + 1];
				int			blen;

				if (llen <= 64 && (op == MATCH_OP_JW || op == MATCH_OP_OSA) &&
					(blen = LayoutFold(lat, llen, buf)) > 0 &&
					PredicateHolds(op, arg, buf, blen, cyr, TokenLen(cyr)))
					return l;
			}
		}
	}
	return prog->nlev[c];
}

/*
 * MatchTfAdjustment
 *		Splink's term-frequency adjustment of an exact agreement on value:
 *		log2(u_exact / tf(value)), so that agreeing on a common surname adds
 *		less than the average exact agreement and a rare one adds more.
 *		A value not in the table was seen once: the entry with the empty key
 *		holds that frequency.  0 when there is no table.
 */
double
MatchTfAdjustment(const MatchProg *prog, int c, const char *value)
{
	double		f = MatchTfFrequency(prog, c, value);
	double		adj;

	if (f <= 0.0 || prog->u0[c] <= 0.0)
		return 0.0;
	adj = log2(prog->u0[c] / f);
	/* a rare value adds at most 3 bits (8 times the average exact agreement) */
	return Min(adj, 3.0);
}

/*
 * MatchTfFrequency
 *		The term frequency of value in comparison c's table (a value not in
 *		the table: the frequency of a value seen once); -1 when there is no
 *		table.
 */
double
MatchTfFrequency(const MatchProg *prog, int c, const char *value)
{
	char		key[MATCH_TF_KEYLEN];
	MatchTfEntry *e;

	if (!prog->tf[c] || prog->tfhash[c] == NULL || value == NULL)
		return -1.0;
	memset(key, 0, sizeof(key));
	strlcpy(key, value, MATCH_TF_KEYLEN);
	e = (MatchTfEntry *) hash_search(prog->tfhash[c], key, HASH_FIND, NULL);
	if (e == NULL)
	{
		memset(key, 0, sizeof(key));
		e = (MatchTfEntry *) hash_search(prog->tfhash[c], key, HASH_FIND, NULL);
	}
	return e ? e->freq : -1.0;
}

/*
 * NameChance
 *		The evidence a full name gives (issue 12, Splink's term frequencies
 *		read as the chance of a namesake): when every name comparison of the
 *		settings is filled on both sides and agrees exactly (a missing
 *		patronymic may be the part that tells a father from his son), at
 *		least two of them, each compared with term frequencies, the expected number of records in the data that
 *		carry this full name by coincidence, n * tf(given) * tf(family) *
 *		..., where n is the number of records that fill a name (1 / the
 *		frequency of a value seen once).  -1 when the names do not agree so
 *		(a part differs, is only similar or is missing on a side).
 *		«Иванов Иван» among 10 000 records: about 5 namesakes; a rare
 *		surname with a rare given name: a hundredth of one.
 */
static double
NameChance(const MatchProg *prog, const int *lev, const MatchRec *a)
{
	double		chance = 1.0;
	double		n = 0.0;
	int			agree = 0;

	for (int c = 0; c < prog->ncomp; c++)
	{
		double		f,
					once;

		if (!prog->haskey[c])
			continue;
		/* a part missing on a side may be the part that tells namesakes apart */
		if (lev[c] != 0 || !prog->tf[c])
			return -1.0;
		f = MatchTfFrequency(prog, c, a->feat[prog->fidx[c]]);
		once = MatchTfFrequency(prog, c, "");
		if (f <= 0.0 || once <= 0.0)
			return -1.0;
		n = Max(n, 1.0 / once);
		chance *= f;
		agree++;
	}
	return agree >= 2 ? n * chance : -1.0;
}

/*
 * YmdDay
 *		The Julian day number of a YYYYMMDD date value of len bytes, or -1
 *		when it is not one (a list, a partial date).
 */
static int
YmdDay(const char *s, int len)
{
	int			v[3] = {0, 0, 0};
	static const int off[4] = {0, 4, 6, 8};

	if (s == NULL || len != 8)
		return -1;
	for (int k = 0; k < 3; k++)
		for (int i = off[k]; i < off[k + 1]; i++)
		{
			if (s[i] < '0' || s[i] > '9')
				return -1;
			v[k] = v[k] * 10 + (s[i] - '0');
		}
	if (v[0] < 1 || v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31)
		return -1;
	return date2j(v[0], v[1], v[2]);
}

/*
 * NearDates
 *		Whether comparison c of the pair (a, b), a date comparison with a
 *		same_year level at its else level, holds two dates at most
 *		MATCH_EVID_NEAR_DAYS apart: for the evidence floor, the same year
 *		without the calendar's boundary (match.h).
 */
static bool
NearDates(const MatchProg *prog, int c, const MatchRec *a, const MatchRec *b)
{
	bool		year = false;
	const char *x = a->feat[prog->fidx[c]],
			   *y = b->feat[prog->fidx[c]];
	int			dx,
				dy;

	for (int l = 0; l < prog->nlev[c]; l++)
		if (prog->op[c][l] == MATCH_OP_SAMEYEAR)
			year = true;
	if (!year || x == NULL || y == NULL)
		return false;
	dx = YmdDay(x, TokenLen(x));
	dy = YmdDay(y, TokenLen(y));
	return dx >= 0 && dy >= 0 && abs(dx - dy) <= MATCH_EVID_NEAR_DAYS;
}

/*
 * HasEvidence
 *		Whether levels lev of a pair (a, b) agree on something beyond the
 *		common names (the evidence floor, match.h): a MATCH_PROGF_EVID
 *		comparison at a level other than else, prefix or initial (a birth
 *		year is a date agreement, a first letter is not; so, where the
 *		settings count a birth year, are two dates within a year, NearDates); a
 *		MATCH_PROGF_EVID_RARE one exactly on a value of frequency at most
 *		MATCH_EVID_RARE_FREQ; or a full name so rare that fewer than
 *		MATCH_EVID_NAME_CHANCE records would carry it by coincidence
 *		(NameChance) while no evidence comparison disagrees: EVIDENCE_YES, EVIDENCE_RARE_NAME (the rare full name
 *		only) or EVIDENCE_NONE.
 */
#define EVIDENCE_NONE		0
#define EVIDENCE_YES		1
#define EVIDENCE_RARE_NAME	2

static int
HasEvidence(const MatchProg *prog, const int *lev, const MatchRec *a, const MatchRec *b)
{
	double		chance;
	bool		against = false;	/* an evidence comparison disagrees */

	for (int c = 0; c < prog->ncomp; c++)
	{
		int			l = lev[c];

		if (l != MATCH_LEVEL_NULL && l >= prog->nlev[c] && (prog->evid[c] & MATCH_PROGF_EVID))
		{
			if (NearDates(prog, c, a, b))
				return EVIDENCE_YES;
			against = true;
		}
		if (l == MATCH_LEVEL_NULL || l >= prog->nlev[c])
			continue;
		if (prog->evid[c] & MATCH_PROGF_EVID)
		{
			int			op = prog->op[c][l];

			if (op != MATCH_OP_PREFIX && op != MATCH_OP_INITIAL)
				return EVIDENCE_YES;
		}
		else if ((prog->evid[c] & MATCH_PROGF_EVID_RARE) && l == 0)
		{
			double		f = MatchTfFrequency(prog, c, a->feat[prog->fidx[c]]);

			if (f >= 0.0 && f <= MATCH_EVID_RARE_FREQ)
				return EVIDENCE_YES;
		}
	}
	/*
	 * a rare name beside another birth date or identifier is a namesake's;
	 * without "rare_name_links" a name never is evidence (issue 12: a pair
	 * that agrees only on names never links automatically)
	 */
	if (against || !prog->rare_name)
		return EVIDENCE_NONE;
	chance = NameChance(prog, lev, a);
	return chance >= 0.0 && chance <= MATCH_EVID_NAME_CHANCE ? EVIDENCE_RARE_NAME : EVIDENCE_NONE;
}

/*
 * EvidenceBesidesIds
 *		Whether a comparison of an evidence class (MATCH_PROGF_EVID: a date,
 *		an identifier, a contact, an address) other than the same_id_match
 *		ones agrees at a level other than else, prefix or initial: whether
 *		anything but the forcing phone or id argues that a forced pair is one
 *		person.  True for a program without evidence classes (compiled
 *		before 0.3.0), which cannot tell.
 */
static bool
EvidenceBesidesIds(const MatchProg *prog, const int *lev)
{
	bool		classes = false;

	/* a program compiled before 0.3.0 has no evidence classes: it cannot tell */
	for (int c = 0; c < prog->ncomp; c++)
		if (prog->evid[c] != 0)
			classes = true;
	if (!classes)
		return true;
	for (int c = 0; c < prog->ncomp; c++)
	{
		int			l = lev[c];
		bool		forcing = false;

		if (!(prog->evid[c] & MATCH_PROGF_EVID) || l == MATCH_LEVEL_NULL || l >= prog->nlev[c] ||
			prog->op[c][l] == MATCH_OP_PREFIX || prog->op[c][l] == MATCH_OP_INITIAL)
			continue;
		for (int i = 0; i < prog->nidmatch; i++)
			if (prog->idmatch[i] == c)
				forcing = true;
		if (!forcing)
			return true;
	}
	return false;
}

/*
 * NamelessLinkable
 *		Whether placeholder record r of a pair with levels lev may link all
 *		the same (issue 12): r has no name at all (a source that lost the
 *		names, not «Неизвестный» or «Тест», whose name columns are filled)
 *		and the pair agrees on an identifier or a contact
 *		(MATCH_PROGF_EVID_ID, at a level other than prefix or initial).  Such
 *		a record is still only a candidate: the score, the rules and the
 *		cluster coherence of the link plan decide.
 */
static bool
NamelessLinkable(const MatchProg *prog, const int *lev, const MatchRec *r)
{
	bool		named = false,
				contact = false;

	for (int c = 0; c < prog->ncomp; c++)
	{
		int			l = lev[c];

		if (prog->haskey[c] && r->feat[prog->fidx[c]] != NULL)
			named = true;
		if ((prog->evid[c] & MATCH_PROGF_EVID_ID) && l != MATCH_LEVEL_NULL && l < prog->nlev[c] &&
			prog->op[c][l] != MATCH_OP_PREFIX && prog->op[c][l] != MATCH_OP_INITIAL)
			contact = true;
	}
	return !named && contact;
}

/*
 * OpCost
 *		Rough relative cost of one level predicate: memcmp-like ones 1,
 *		OSA 3, Jaro-Winkler 4 (it also tries the other script's keys).
 */
static int
OpCost(int op)
{
	switch (op)
	{
		case MATCH_OP_JW:
			return 4;
		case MATCH_OP_OSA:
			return 3;
		default:
			return 1;
	}
}

/*
 * MatchOrderProgram
 *		Fills prog->order (same_id_match comparisons first, then by the cost
 *		of their dearest predicate, stable) and prog->rem, the suffix sums
 *		of the largest weight each comparison can add: max(0 for a missing
 *		value, w of each level, plus 3 bits of term-frequency adjustment on
 *		level 0); and marks the feature columns a Jaro-Winkler level reads
 *		(prog->jwcol); and the per-comparison figures of the pair's own
 *		bound (wall, wrest) and the tf slots of MatchRec.tfadj.  Call after
 *		the weights are set.
 */
void
MatchOrderProgram(MatchProg *prog)
{
	int			cost[MATCH_MAX_COMP];
	bool		first[MATCH_MAX_COMP];
	int			c,
				l,
				k = 0,
				pass;

	memset(prog->jwcol, 0, sizeof(prog->jwcol));
	for (c = 0; c < prog->ncomp; c++)
	{
		first[c] = false;
		cost[c] = 0;
		for (l = 0; l < prog->nlev[c]; l++)
		{
			cost[c] = Max(cost[c], OpCost(prog->op[c][l]));
			if (prog->op[c][l] == MATCH_OP_JW)
				prog->jwcol[prog->fidx[c]] = true;
		}
	}
	for (l = 0; l < prog->nidmatch; l++)
		first[prog->idmatch[l]] = true;
	for (c = 0; c < prog->ncomp; c++)
		if (first[c])
			prog->order[k++] = c;
	prog->nfirst = k;
	for (pass = 0; pass <= 4; pass++)
		for (c = 0; c < prog->ncomp; c++)
			if (!first[c] && cost[c] == pass)
				prog->order[k++] = c;
	Assert(k == prog->ncomp);
	prog->rem[prog->ncomp] = 0.0;
	for (k = prog->ncomp - 1; k >= 0; k--)
	{
		double		best = 0.0;

		c = prog->order[k];
		for (l = 0; l <= prog->nlev[c]; l++)
		{
			double		v = prog->w[c][l];

			if (l == 0 && prog->tf[c])
				v += 3.0;		/* MatchTfAdjustment's cap */
			best = Max(best, v);
		}
		prog->rem[k] = prog->rem[k + 1] + best;
	}
	prog->ntf = 0;
	for (c = 0; c < prog->ncomp; c++)
	{
		prog->wall[c] = prog->w[c][0];
		prog->wrest[c] = -INFINITY;
		for (l = 1; l <= prog->nlev[c]; l++)
		{
			prog->wall[c] = Max(prog->wall[c], prog->w[c][l]);
			prog->wrest[c] = Max(prog->wrest[c], prog->w[c][l]);
		}
		prog->tfslot[c] = prog->tf[c] ? prog->ntf++ : -1;
	}
}

/*
 * MatchMinWeight
 *		The weight below which a pair's probability is under min_prob, with
 *		a margin for rounding (so a pair cut by the bound could never have
 *		reached min_prob); -infinity when every pair is wanted.
 */
double
MatchMinWeight(double min_prob)
{
	if (!(min_prob > 0.0))
		return -INFINITY;
	if (min_prob >= 1.0)
		return 40.0;			/* MatchProbability(40) < 1 */
	return log2(min_prob / (1.0 - min_prob)) - 1e-6;
}

/*
 * MatchScorePairBounded
 *		Total match weight of the pair (prior included), with the level of
 *		every comparison in levels (may be NULL) and the pair flags.  The
 *		comparisons run in prog->order; once no forcing comparison agreed
 *		and the weight so far plus the most the remaining ones can add is
 *		below min_weight, the pair is cut: *cut is set, the bound is
 *		returned and levels and flags are incomplete (the caller drops the
 *		pair).  min_weight -infinity scores every pair in full.
 *
 *		The bound is the pair's own: a comparison whose value one of the
 *		two records lacks adds exactly 0 (MatchCompareLevel gives
 *		MATCH_LEVEL_NULL before any predicate), so only the comparisons
 *		both records fill count, with their best level's weight, the exact
 *		level of a tf-adjusted one with the first record's own adjustment
 *		(a common surname's, not the 3-bit cap of a rare one).  On sparse records
 *		(no phone, e-mail, identifier or address: most of a clinic's) the
 *		pair is cut after its first disagreements instead of after its last
 *		comparison (issue 12, session 24); a pair cut could never have
 *		reached min_weight either way, so the pairs kept and their weights
 *		do not change.  bound (may be NULL) keeps the last bound computed:
 *		a walk pairs one record with each of its block mates in turn, and
 *		most share the comparisons they fill (issue 12, session 30).
 */
double
MatchScorePairBounded(const MatchProg *prog, const MatchRec *a, const MatchRec *b,
					  int8 *levels, int32 *flags, double min_weight, bool *cut,
					  MatchBound *bound)
{
	double		total = prog->prior;	/* running, in evaluation order */
	double		tfadj[MATCH_MAX_COMP];
	int			lev[MATCH_MAX_COMP];
	int			c,
				i,
				k;
	int32		fl = 0;
	double		own[MATCH_MAX_COMP + 1];
	double	   *prem = own;		/* the pair's rem[] */
	bool		bounded = min_weight > -INFINITY;
	uint32		both = a->cmask & b->cmask;

	*cut = false;
	if (bounded && bound != NULL && bound->a == a && bound->both == both)
		prem = bound->prem;		/* the same first record and filled comparisons */
	else if (bounded)
	{
		if (bound != NULL)
		{
			bound->a = a;
			bound->both = both;
			prem = bound->prem;
		}
		prem[prog->ncomp] = 0.0;
		for (k = prog->ncomp - 1; k >= 0; k--)
		{
			double		best;

			c = prog->order[k];
			if (!(both & ((uint32) 1 << c)))
				best = 0.0;
			else if (prog->tf[c])
				best = Max(prog->wrest[c],
						   prog->w[c][0] + (a->tfadj ? a->tfadj[prog->tfslot[c]] : 3.0));
			else
				best = prog->wall[c];
			prem[k] = prem[k + 1] + best;
		}
	}
	for (k = 0; k < prog->ncomp; k++)
	{
		int			l;

		c = prog->order[k];
		if (bounded && k >= prog->nfirst && !(fl & MATCH_PAIR_FORCED) &&
			total + prem[k] < min_weight)
		{
			*cut = true;
			if (flags)
				*flags = fl;
			return total + prem[k];
		}
		/* a value missing on a side (the mask of each record, from load) */
		l = (both & ((uint32) 1 << c)) ? MatchCompareLevel(prog, c, a, b) :
			MATCH_LEVEL_NULL;
		lev[c] = l;
		tfadj[c] = 0.0;
		if (levels)
			levels[c] = (int8) l;
		if (k < prog->nfirst && l == 0)
			fl |= MATCH_PAIR_FORCED;
		if (l == MATCH_LEVEL_NULL)
			continue;
		if (l == 0 && prog->tf[c])
			tfadj[c] = a->tfadj ? a->tfadj[prog->tfslot[c]] :
				MatchTfAdjustment(prog, c, a->feat[prog->fidx[c]]);
		total += prog->w[c][l] + tfadj[c];
	}
	/* the result is summed in comparison order, as it always was */
	total = prog->prior;
	for (c = 0; c < prog->ncomp; c++)
	{
		if (lev[c] == MATCH_LEVEL_NULL)
			continue;
		total += prog->w[c][lev[c]];
		if (lev[c] == 0 && prog->tf[c])
			total += tfadj[c];
	}
	for (i = 0; i < prog->nidmatch; i++)
		if (lev[prog->idmatch[i]] == 0)
			fl |= MATCH_PAIR_FORCED;
	if ((fl & MATCH_PAIR_FORCED) && !EvidenceBesidesIds(prog, lev))
		fl |= MATCH_PAIR_ID_ONLY;
	for (i = 0; i < prog->nidnever; i++)
	{
		int			l = lev[prog->idnever[i]];

		if (l != MATCH_LEVEL_NULL && l != 0)
			fl |= MATCH_PAIR_VETO;
	}
	for (i = 0; i < prog->ndisagree; i++)
	{
		c = prog->disagree[i];
		if (lev[c] == prog->nlev[c])
			fl |= MATCH_PAIR_VETO;
	}
	if (((a->flags & MATCH_REC_PLACEHOLDER) && !NamelessLinkable(prog, lev, a)) ||
		((b->flags & MATCH_REC_PLACEHOLDER) && !NamelessLinkable(prog, lev, b)))
		fl |= MATCH_PAIR_PLACEHOLDER;
	if (prog->floor && !(fl & MATCH_PAIR_FORCED))
	{
		int			ev = HasEvidence(prog, lev, a, b);

		if (ev == EVIDENCE_NONE)
			fl |= MATCH_PAIR_NAME_ONLY;
		else if (ev == EVIDENCE_RARE_NAME)
			fl |= MATCH_PAIR_NAME_RARE;
	}
	if (flags)
		*flags = fl;
	return total;
}

/*
 * MatchPairLevels
 *		The level of every comparison for records a and b, as
 *		MatchScorePair gives them in levels, without the weight and the
 *		flags: what training's counts read (the level vectors of random and
 *		blocked pairs, issue 12, session 30).
 */
void
MatchPairLevels(const MatchProg *prog, const MatchRec *a, const MatchRec *b, int8 *levels)
{
	uint32		both = a->cmask & b->cmask;

	for (int c = 0; c < prog->ncomp; c++)
		levels[c] = (int8) ((both & ((uint32) 1 << c)) ? MatchCompareLevel(prog, c, a, b) :
							MATCH_LEVEL_NULL);
}

/*
 * MatchScorePair
 *		Total match weight of the pair (prior included), with the level of
 *		every comparison in levels (may be NULL) and the pair flags; every
 *		comparison is evaluated.
 */
double
MatchScorePair(const MatchProg *prog, const MatchRec *a, const MatchRec *b,
			   int8 *levels, int32 *flags)
{
	bool		cut;

	return MatchScorePairBounded(prog, a, b, levels, flags, -INFINITY, &cut, NULL);
}

/*
 * MatchProbability
 *		Posterior match probability of a total match weight (prior included).
 */
double
MatchProbability(double weight)
{
	if (weight > 60.0)
		return 1.0;
	if (weight < -60.0)
		return 0.0;
	return 1.0 / (1.0 + pow(2.0, -weight));
}
