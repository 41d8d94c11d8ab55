/*-------------------------------------------------------------------------
 *
 * src/phon_dmsoundex.c
 *		Daitch-Mokotoff soundex (Randy Daitch and Gary Mokotoff, 1985): six
 *		digit codes for (mostly Eastern European and Jewish) surnames, with
 *		one code per reading of the ambiguous letters (CH, CK, C, J, RS, RZ,
 *		and the Polish nasal vowels), so a name may have several codes.
 *
 * Rules, as published by Mokotoff (Avotaynu; JewishGen "Soundex Coding"):
 *  - the name is read as a sequence of letter groups, always taking the
 *    longest group of the coding chart that matches;
 *  - each group has three codings: at the start of the name, before a
 *    vowel, and in any other position; "X" means not coded;
 *  - a group that codes like the previous group is coded once ("adjacent
 *    identical codes"); a group that is not coded (a vowel) separates;
 *  - codes are cut or padded with zeros to six digits;
 *  - a group with two codings doubles every code built so far.
 * J may be a vowel or a consonant: the reading of J chosen for the next
 * group must agree with the vowel/consonant context assumed for the group
 * before it.  The chart below is written from the published table; the
 * unofficial "UE" group used by every known implementation is included.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "phonetic.h"

/* Stand-ins for the three non-ASCII letters of the coding chart. */
#define DMS_A_OGONEK	'a'		/* Ą */
#define DMS_E_OGONEK	'e'		/* Ę */
#define DMS_T_CEDILLA	't'		/* Ţ, Ț */

/* Working branches kept at most (each is one code being built). */
#define DMS_MAX_BRANCHES	512

/*
 * One row of the coding chart: letter groups separated by '|', then one or
 * two codings, each "start,before-vowel,other".
 */
typedef struct DmsRule
{
	const char *groups;
	const char *coding[2];
} DmsRule;

static const DmsRule dms_chart[] = {
	{"AI|AJ|AY", {"0,1,X", NULL}},
	{"AU", {"0,7,X", NULL}},
	{"a", {"X,X,6", "X,X,X"}},	/* Ą: nasal (on/om) or not */
	{"A", {"0,X,X", NULL}},
	{"B", {"7,7,7", NULL}},
	{"CHS", {"5,54,54", NULL}},
	{"CH", {"5,5,5", "4,4,4"}},
	{"CK", {"5,5,5", "45,45,45"}},
	{"CZ|CS|CSZ|CZS", {"4,4,4", NULL}},
	{"C", {"5,5,5", "4,4,4"}},
	{"DRZ|DRS", {"4,4,4", NULL}},
	{"DS|DSH|DSZ", {"4,4,4", NULL}},
	{"DZ|DZH|DZS", {"4,4,4", NULL}},
	{"D|DT", {"3,3,3", NULL}},
	{"EI|EJ|EY", {"0,1,X", NULL}},
	{"EU", {"1,1,X", NULL}},
	{"e", {"X,X,6", "X,X,X"}},	/* Ę */
	{"E", {"0,X,X", NULL}},
	{"FB", {"7,7,7", NULL}},
	{"F", {"7,7,7", NULL}},
	{"G", {"5,5,5", NULL}},
	{"H", {"5,5,X", NULL}},
	{"IA|IE|IO|IU", {"1,X,X", NULL}},
	{"I", {"0,X,X", NULL}},
	{"J", {"1,X,X", "4,4,4"}},	/* vowel-like Y or consonant DZH */
	{"KS", {"5,54,54", NULL}},
	{"KH", {"5,5,5", NULL}},
	{"K", {"5,5,5", NULL}},
	{"L", {"8,8,8", NULL}},
	{"MN", {"66,66,66", NULL}},
	{"M", {"6,6,6", NULL}},
	{"NM", {"66,66,66", NULL}},
	{"N", {"6,6,6", NULL}},
	{"OI|OJ|OY", {"0,1,X", NULL}},
	{"O", {"0,X,X", NULL}},
	{"P|PF|PH", {"7,7,7", NULL}},
	{"Q", {"5,5,5", NULL}},
	{"RZ|RS", {"94,94,94", "4,4,4"}},
	{"R", {"9,9,9", NULL}},
	{"SCHTSCH|SCHTSH|SCHTCH", {"2,4,4", NULL}},
	{"SCH", {"4,4,4", NULL}},
	{"SHTCH|SHCH|SHTSH", {"2,4,4", NULL}},
	{"SHT|SCHT|SCHD", {"2,43,43", NULL}},
	{"SH", {"4,4,4", NULL}},
	{"STCH|STSCH|SC", {"2,4,4", NULL}},
	{"STRZ|STRS|STSH", {"2,4,4", NULL}},
	{"ST", {"2,43,43", NULL}},
	{"SZCZ|SZCS", {"2,4,4", NULL}},
	{"SZT|SHD|SZD|SD", {"2,43,43", NULL}},
	{"SZ", {"4,4,4", NULL}},
	{"S", {"4,4,4", NULL}},
	{"TCH|TTCH|TTSCH", {"4,4,4", NULL}},
	{"TH", {"3,3,3", NULL}},
	{"TRZ|TRS", {"4,4,4", NULL}},
	{"TSCH|TSH", {"4,4,4", NULL}},
	{"TS|TTS|TTSZ|TC", {"4,4,4", NULL}},
	{"TZ|TTZ|TZS|TSZ", {"4,4,4", NULL}},
	{"t", {"3,3,3", "4,4,4"}},	/* Ţ: T or TS */
	{"T", {"3,3,3", NULL}},
	{"UI|UJ|UY|UE", {"0,1,X", NULL}},
	{"U", {"0,X,X", NULL}},
	{"V", {"7,7,7", NULL}},
	{"W", {"7,7,7", NULL}},
	{"X", {"5,54,54", NULL}},
	{"Y", {"1,X,X", NULL}},
	{"ZDZ|ZDZH|ZHDZH", {"2,4,4", NULL}},
	{"ZD|ZHD", {"2,43,43", NULL}},
	{"ZH|ZS|ZSCH|ZSH", {"4,4,4", NULL}},
	{"Z", {"4,4,4", NULL}},
	{NULL, {NULL, NULL}}
};

/* One letter group of the name: its chart row. */
typedef struct DmsGroup
{
	const DmsRule *rule;
} DmsGroup;

/* One code being built. */
typedef struct DmsBranch
{
	char		digits[CDP_DM_DIGITS + 1];
	int			nd;				/* digits written */
	char		last;			/* last code digit, 'X' after an uncoded group, 0 at start */
	char		expect;			/* 'V'/'C': the kind assumed for the next group; 0: any */
} DmsBranch;

/*
 * MatchGroupLength
 *		Length of the longest group of the rule that occurs in w at pos, or 0.
 */
static int
MatchGroupLength(const char *w, int pos, const char *groups)
{
	int			best = 0;
	const char *g = groups;

	while (*g)
	{
		int			k = 0;
		bool		same = true;

		for (; g[k] && g[k] != '|'; k++)
			if (same && w[pos + k] != g[k])
				same = false;	/* w is NUL-terminated, so this stops at its end */
		if (same && k > best)
			best = k;
		g += k;
		if (*g == '|')
			g++;
	}
	return best;
}

/*
 * LongestRule
 *		The chart row whose group is the longest match at pos; sets *len.
 *		Every letter A-Z and the three stand-ins have a one-letter row.
 */
static const DmsRule *
LongestRule(const char *w, int pos, int *len)
{
	const DmsRule *best = NULL;
	int			i;

	*len = 0;
	for (i = 0; dms_chart[i].groups; i++)
	{
		int			l = MatchGroupLength(w, pos, dms_chart[i].groups);

		if (l > *len)
		{
			*len = l;
			best = &dms_chart[i];
		}
	}
	return best;
}

/*
 * CodingColumn
 *		Code for one of the three positions (0 start, 1 before a vowel,
 *		2 other) of a coding "a,b,c", copied into buf.
 */
static void
CodingColumn(const char *coding, int column, char *buf)
{
	const char *p = coding;
	int			n = 0;

	while (column > 0)
	{
		if (*p++ == ',')
			column--;
	}
	while (*p && *p != ',' && n < 2)
		buf[n++] = *p++;
	buf[n] = '\0';
}

/*
 * IsVowelCoding
 *		A coding whose start code is 0 or 1 is a vowel sound; this is what
 *		"before a vowel" means for the group before it.
 */
static inline bool
IsVowelCoding(const char *coding)
{
	return coding[0] == '0' || coding[0] == '1';
}

/*
 * ApplyCode
 *		Appends a group's code to a branch: "X" writes nothing and separates
 *		equal codes; otherwise a first digit equal to the previous group's
 *		last digit is not repeated.
 */
static void
ApplyCode(DmsBranch *b, const char *code)
{
	int			j;

	if (code[0] == 'X')
	{
		b->last = 'X';
		return;
	}
	for (j = 0; code[j]; j++)
	{
		if (j == 0 && code[j] == b->last)
			continue;
		if (b->nd < CDP_DM_DIGITS)
			b->digits[b->nd++] = code[j];
	}
	b->last = code[j - 1];
}

/*
 * AddBranch
 *		Adds a branch unless an identical one exists or the cap is reached.
 */
static void
AddBranch(DmsBranch *set, int *n, const DmsBranch *b)
{
	int			i;

	for (i = 0; i < *n; i++)
		if (set[i].nd == b->nd && set[i].last == b->last &&
			set[i].expect == b->expect &&
			memcmp(set[i].digits, b->digits, b->nd) == 0)
			return;
	if (*n < DMS_MAX_BRANCHES)
		set[(*n)++] = *b;
}

/*
 * PrepareLetters
 *		Upper-case ASCII letters of the input (accents folded; Ą, Ę, Ţ/Ț as
 *		stand-ins); every other character is skipped.
 */
static void
PrepareLetters(const char *s, int len, StringInfo out)
{
	CdpCodes	cp;
	int			i;

	CdpUtf8Decode(s, len, 0, &cp);

	for (i = 0; i < cp.len; i++)
	{
		pg_wchar	c = cp.c[i];
		const char *f;

		if (c == 0x104 || c == 0x105)
			appendStringInfoChar(out, DMS_A_OGONEK);
		else if (c == 0x118 || c == 0x119)
			appendStringInfoChar(out, DMS_E_OGONEK);
		else if (c == 0x162 || c == 0x163 || c == 0x21A || c == 0x21B)
			appendStringInfoChar(out, DMS_T_CEDILLA);
		else if ((f = PhonFoldLatin(c)) != NULL)
			appendStringInfoString(out, f);
	}
	CdpCodesFree(&cp);
}

/*
 * CompareCodes
 *		qsort comparator for code strings.
 */
static int
CompareCodes(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * CdpDMSoundex
 *		All Daitch-Mokotoff codes of s, distinct and sorted, at most
 *		CDP_DM_MAX_CODES (the smallest are kept).  Returns 0 codes for
 *		input without Latin letters.
 */
int
CdpDMSoundex(const char *s, int len, char ***codes)
{
	StringInfoData w;
	DmsGroup   *groups;
	DmsBranch  *cur,
			   *next;
	int			ngroups = 0,
				ncur,
				pos,
				g,
				i,
				nout = 0;
	char	  **out;

	CdpCheckInput(s, len, CDP_MAX_TEXT_BYTES, CDP_CHECK_UTF8);
	initStringInfo(&w);
	PrepareLetters(s, len, &w);
	*codes = NULL;
	if (w.len == 0)
		return 0;

	/* the name as letter groups, longest match first */
	groups = palloc(w.len * sizeof(DmsGroup));
	for (pos = 0; pos < w.len;)
	{
		int			l;

		groups[ngroups++].rule = LongestRule(w.data, pos, &l);
		pos += l;
	}

	cur = palloc0(DMS_MAX_BRANCHES * sizeof(DmsBranch));
	next = palloc0(DMS_MAX_BRANCHES * sizeof(DmsBranch));
	ncur = 1;

	for (g = 0; g < ngroups; g++)
	{
		const DmsRule *r = groups[g].rule;
		const DmsRule *nr = (g + 1 < ngroups) ? groups[g + 1].rule : NULL;
		int			nnext = 0;
		bool		all_done = true;

		for (i = 0; i < ncur; i++)
		{
			const DmsBranch *b = &cur[i];
			int			a;

			if (b->nd == CDP_DM_DIGITS)
			{
				AddBranch(next, &nnext, b);
				continue;
			}
			for (a = 0; a < 2 && r->coding[a]; a++)
			{
				char		kind = IsVowelCoding(r->coding[a]) ? 'V' : 'C';
				int			na;

				if (b->expect && b->expect != kind)
					continue;	/* J read against the context assumed before */
				/* the next group's readings decide "before a vowel" */
				for (na = 0; na < 2; na++)
				{
					const char *ncoding = nr ? nr->coding[na] : (na == 0 ? "X,X,X" : NULL);
					DmsBranch	nb = *b;
					char		code[3];
					int			column;

					if (ncoding == NULL)
						continue;
					if (g == 0)
					{
						if (na > 0)
							break;	/* the start column does not depend on the next group */
						column = 0;
						nb.expect = 0;
					}
					else
					{
						column = IsVowelCoding(ncoding) ? 1 : 2;
						nb.expect = nr ? (IsVowelCoding(ncoding) ? 'V' : 'C') : 0;
					}
					CodingColumn(r->coding[a], column, code);
					ApplyCode(&nb, code);
					AddBranch(next, &nnext, &nb);
				}
			}
		}
		/* swap */
		{
			DmsBranch  *t = cur;

			cur = next;
			next = t;
			ncur = nnext;
		}
		for (i = 0; i < ncur; i++)
			if (cur[i].nd < CDP_DM_DIGITS)
				all_done = false;
		if (all_done)
			break;
	}

	/* pad to six digits, then distinct and sorted */
	out = palloc(ncur * sizeof(char *));
	for (i = 0; i < ncur; i++)
	{
		char	   *c = palloc(CDP_DM_DIGITS + 1);
		int			j;

		memcpy(c, cur[i].digits, cur[i].nd);
		for (j = cur[i].nd; j < CDP_DM_DIGITS; j++)
			c[j] = '0';
		c[CDP_DM_DIGITS] = '\0';
		out[i] = c;
	}
	if (ncur > 1)
		qsort(out, ncur, sizeof(char *), CompareCodes);
	for (i = 0; i < ncur; i++)
		if (nout == 0 || strcmp(out[nout - 1], out[i]) != 0)
			out[nout++] = out[i];
	if (nout > CDP_DM_MAX_CODES)
		nout = CDP_DM_MAX_CODES;
	pfree(cur);
	pfree(next);
	pfree(groups);
	pfree(w.data);
	*codes = out;
	return nout;
}

PG_FUNCTION_INFO_V1(cdp_dm_soundex);

/*
 * cdp_dm_soundex
 *		SQL: cdp.dm_soundex(text) -> text[], the distinct codes, sorted;
 *		an empty array when the text has no Latin letter.
 */
Datum
cdp_dm_soundex(PG_FUNCTION_ARGS)
{
	text	   *arg = PG_GETARG_TEXT_PP(0);
	int			len = VARSIZE_ANY_EXHDR(arg);
	char	   *utf8;
	char	  **codes;
	Datum	   *elems;
	int			n,
				i;

	if (len > CDP_MAX_TEXT_BYTES)
		CdpCheckInput(VARDATA_ANY(arg), len, CDP_MAX_TEXT_BYTES, CDP_CHECK_UTF8);
	utf8 = pg_server_to_any(VARDATA_ANY(arg), len, PG_UTF8);
	if (utf8 != VARDATA_ANY(arg))
		len = strlen(utf8);
	n = CdpDMSoundex(utf8, len, &codes);
	elems = palloc((n + 1) * sizeof(Datum));
	for (i = 0; i < n; i++)
		elems[i] = PointerGetDatum(cstring_to_text(codes[i]));
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}
