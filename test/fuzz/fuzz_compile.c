/*-------------------------------------------------------------------------
 *
 * test/fuzz/fuzz_compile.c
 *		libFuzzer target: the settings compilers of the matching family
 *		(src/match_compile.c: MatchDocCheck, MatchDocLayout,
 *		MatchCompileProgram, MatchCompileFeatures) on a settings document
 *		decoded from the input bytes, and the kernel's decoder of the
 *		packed program (MatchDecodeProgram, src/match_decode.c).
 *
 * Oracles (src/match.h, doc/matching.md):
 *   - a document is compiled exactly when it keeps the limits of match.h
 *     (1 to MATCH_MAX_COMP comparisons of 1 to MATCH_MAX_LEVELS levels, 1
 *     to MATCH_MAX_RULES rules and at most MATCH_MAX_LOOKUP_RULES lookup
 *     rules of 1 to MATCH_MAX_RULE_KEYS keys, 2 for any_order), every level is a predicate its comparator allows (some
 *     level name MatchOpCode maps to it), a swapped or cross level names
 *     another "name" comparison, a .key or .phonetic key is on a name,
 *     arguments are finite (jw's in (0, 1], osa's from 0 to
 *     MATCH_MAX_OSA, prefix's from 1 to MATCH_MAX_PREFIX), m and u are
 *     probabilities and lambda is in (0, 1); otherwise the compiler raises
 *     22023;
 *   - the kernel decodes every program the compiler writes, back to the
 *     document: counts, feature columns, levels, op codes, arguments (the
 *     other name's column for swapped and cross), flags, u0, weights
 *     log2(max(m, 1e-6) / max(u, 1e-6)) and the rule lists;
 *   - a feature program has a kind per comparison whose columns add up to
 *     the layout, and per rule, the lookup rules' after the others', "A" or
 *     "N" and one ";pos:tr" per key with pos a column and tr a transform the
 *     feature builder knows (the kernel's program counts the others only).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "match.h"

#include "fuzz_common.h"

/* the level names of a settings document (doc/matching.md) */
static const char *const level_names[] = {
	"exact", "key", "jw", "osa", "day_month_swapped", "same_year", "last7", "initial",
	"prefix", "swapped", "cross"
};

/* attrs: the typed and text columns of cdp.record and two extra keys */
static const char *const attrs[] = {
	"family_name", "given_name", "patronymic", "address", "city", "sex", "birth_date",
	"phones", "emails", "snils", "oms", "vk", "card"
};

/* the input as a stream of bytes, zeros past its end */
typedef struct Reader
{
	const uint8_t *p;
	size_t		n;
} Reader;

static uint8_t
Byte(Reader *r)
{
	if (r->n == 0)
		return 0;
	r->n--;
	return *r->p++;
}

/*
 * Prob
 *		A probability, or now and then something that is not one.
 */
static double
Prob(Reader *r)
{
	uint8_t		b = Byte(r);

	switch (b % 16)
	{
		case 0:
			return 0;
		case 1:
			return NAN;
		case 2:
			return INFINITY;
		case 3:
			return -0.5;
		case 4:
			return 1.5;
		case 5:
			return 1e-300;
		case 6:
			return 1;
		default:
			return b / 255.0;
	}
}

/*
 * ReadDoc
 *		A settings document from the input; each count may pass its limit
 *		by one and each code its range, so both sides of every check run.
 */
static void
ReadDoc(Reader *r, MatchDoc *doc)
{
	int			c,
				l,
				k,
				i;

	memset(doc, 0, sizeof(*doc));
	/* the counts may pass their limits; the arrays hold only the limits */
	doc->ncomp = Byte(r) % (MATCH_MAX_COMP + 2);
	for (c = 0; c < doc->ncomp && c < MATCH_MAX_COMP; c++)
	{
		MatchDocComp *comp = &doc->comp[c];
		uint8_t		b = Byte(r);

		comp->attr = attrs[b % lengthof(attrs)];
		comp->tf = (b & 0x80) != 0;
		comp->cmp = Byte(r) % (MATCH_CMP_MAX + 2);
		comp->nlev = Byte(r) % (MATCH_MAX_LEVELS + 2);
		for (l = 0; l < comp->nlev && l < MATCH_MAX_LEVELS; l++)
		{
			MatchDocLevel *lev = &comp->lev[l];

			lev->op = Byte(r) % (MATCH_OP_MAX + 2);
			b = Byte(r);
			lev->arg = (b == 0xFF) ? NAN : (b == 0xFE) ? -INFINITY : (b - 128) / 8.0;
			lev->with = (int) (Byte(r) % (doc->ncomp + 1)) - 1;
		}
		for (l = 0; l <= comp->nlev && l <= MATCH_MAX_LEVELS; l++)
		{
			comp->m[l] = Prob(r);
			comp->u[l] = Prob(r);
		}
	}
	doc->nrules = Byte(r) % (MATCH_MAX_RULES + 2);
	doc->nlookup = Byte(r) % (MATCH_MAX_LOOKUP_RULES + 2);
	/* the walked rules, then the lookup rules, as far as the array holds them */
	for (i = 0; i < Min(doc->nrules, MATCH_MAX_RULES) + doc->nlookup && i < MATCH_MAX_KEY_RULES; i++)
	{
		MatchDocRule *rule = &doc->rule[i];
		uint8_t		b = Byte(r);

		rule->any_order = (b & 0x80) != 0;
		rule->nkeys = (b & 0x7f) % (MATCH_MAX_RULE_KEYS + 2);
		for (k = 0; k < rule->nkeys && k < MATCH_MAX_RULE_KEYS; k++)
		{
			rule->comp[k] = Byte(r) % (doc->ncomp + 1);
			rule->tr[k] = Byte(r) % (MATCH_TR_PHONETIC + 2);
		}
	}
	for (i = 0; i < MATCH_NLISTS; i++)
		for (c = 0; c < doc->ncomp && c < MATCH_MAX_COMP; c++)
			doc->inlist[i][c] = (Byte(r) & 1) != 0;
	doc->lambda = Prob(r);
}

/*
 * Allowed
 *		Does some level name map to op for comparator cmp?
 */
static bool
Allowed(int op, int cmp)
{
	for (int i = 0; i < lengthof(level_names); i++)
		if (op != 0 && MatchOpCode(level_names[i], cmp) == op)
			return true;
	return false;
}

/*
 * Valid
 *		The oracle's own reading of what a compilable document is.
 */
static bool
Valid(const MatchDoc *doc)
{
	if (doc->ncomp < 1 || doc->ncomp > MATCH_MAX_COMP || doc->nrules < 1 ||
		doc->nrules > MATCH_MAX_RULES || doc->nlookup > MATCH_MAX_LOOKUP_RULES ||
		!(doc->lambda > 0 && doc->lambda < 1))
		return false;
	for (int c = 0; c < doc->ncomp; c++)
	{
		const MatchDocComp *comp = &doc->comp[c];

		if (comp->cmp < 1 || comp->cmp > MATCH_CMP_MAX || comp->nlev < 1 || comp->nlev > MATCH_MAX_LEVELS)
			return false;
		for (int l = 0; l < comp->nlev; l++)
		{
			const MatchDocLevel *lev = &comp->lev[l];

			if (!Allowed(lev->op, comp->cmp) || !isfinite(lev->arg) ||
				(lev->op == MATCH_OP_JW && !(lev->arg > 0 && lev->arg <= 1)) ||
				(lev->op == MATCH_OP_OSA && !(lev->arg >= 0 && lev->arg <= MATCH_MAX_OSA)) ||
				(lev->op == MATCH_OP_PREFIX && !(lev->arg >= 1 && lev->arg <= MATCH_MAX_PREFIX)))
				return false;
			if ((lev->op == MATCH_OP_SWAPPED || lev->op == MATCH_OP_CROSS) &&
				(lev->with < 0 || lev->with == c || doc->comp[lev->with].cmp != MATCH_CMP_NAME))
				return false;
		}
		for (int l = 0; l <= comp->nlev; l++)
			if (!(comp->m[l] >= 0 && comp->m[l] <= 1 && comp->u[l] >= 0 && comp->u[l] <= 1))
				return false;
	}
	for (int i = 0; i < doc->nrules + doc->nlookup; i++)
	{
		const MatchDocRule *rule = &doc->rule[i];

		if (rule->nkeys < (rule->any_order ? 2 : 1) || rule->nkeys > MATCH_MAX_RULE_KEYS)
			return false;
		for (int k = 0; k < rule->nkeys; k++)
			if (rule->comp[k] >= doc->ncomp || rule->tr[k] > MATCH_TR_PHONETIC ||
				((rule->tr[k] == MATCH_TR_KEY || rule->tr[k] == MATCH_TR_PHONETIC) &&
				 doc->comp[rule->comp[k]].cmp != MATCH_CMP_NAME))
				return false;
	}
	return true;
}

/*
 * CheckProgram
 *		The decoded program against the document.
 */
static void
CheckProgram(const MatchDoc *doc, const MatchProg *prog)
{
	int			fpos[MATCH_MAX_COMP];
	int			nfeat = MatchDocLayout(doc, fpos);
	int			n[MATCH_NLISTS] = {prog->nidmatch, prog->nidnever, prog->ndisagree};
	const int  *lists[MATCH_NLISTS] = {prog->idmatch, prog->idnever, prog->disagree};

	if (prog->ncomp != doc->ncomp || prog->nfeat != nfeat || prog->nrules != doc->nrules)
		FuzzFail("program header %d/%d/%d for a document of %d comparisons, %d columns, %d rules",
				 prog->ncomp, prog->nfeat, prog->nrules, doc->ncomp, nfeat, doc->nrules);
	if (prog->prior != log2(doc->lambda / (1 - doc->lambda)))
		FuzzFail("prior %g for lambda %g", prog->prior, doc->lambda);
	for (int c = 0; c < doc->ncomp; c++)
	{
		const MatchDocComp *comp = &doc->comp[c];

		if (prog->fidx[c] != fpos[c] || prog->nlev[c] != comp->nlev || prog->tf[c] != comp->tf ||
			prog->haskey[c] != (comp->cmp == MATCH_CMP_NAME) || prog->u0[c] != Max(comp->u[0], 1e-6))
			FuzzFail("comparison %d decodes to column %d, %d levels, tf %d, key %d", c,
					 prog->fidx[c], prog->nlev[c], prog->tf[c], prog->haskey[c]);
		for (int l = 0; l < comp->nlev; l++)
		{
			const MatchDocLevel *lev = &comp->lev[l];
			bool		other = lev->op == MATCH_OP_SWAPPED || lev->op == MATCH_OP_CROSS;

			if (prog->op[c][l] != lev->op || prog->arg[c][l] != (other ? fpos[lev->with] : lev->arg))
				FuzzFail("comparison %d level %d decodes to op %d arg %g", c, l, prog->op[c][l], prog->arg[c][l]);
		}
		for (int l = 0; l <= comp->nlev; l++)
			if (prog->w[c][l] != log2(Max(comp->m[l], 1e-6) / Max(comp->u[l], 1e-6)))
				FuzzFail("comparison %d level %d weight %g", c, l, prog->w[c][l]);
	}
	for (int i = 0; i < MATCH_NLISTS; i++)
	{
		int			k = 0;

		for (int c = 0; c < doc->ncomp; c++)
			if (doc->inlist[i][c] && (k >= n[i] || lists[i][k++] != c))
				FuzzFail("rule list %d does not hold comparison %d", i, c);
		if (k != n[i])
			FuzzFail("rule list %d has %d entries, the document %d", i, n[i], k);
	}
}

/*
 * CheckFeatures
 *		The feature program against the document's layout.
 */
static void
CheckFeatures(const MatchDoc *doc, const MatchFeatProg *fp)
{
	int			fpos[MATCH_MAX_COMP];
	int			nfeat = MatchDocLayout(doc, fpos);
	int			cols = 0;

	for (int c = 0; c < doc->ncomp; c++)
	{
		if (fp->kind[c] < 1 || fp->kind[c] > MATCH_FEAT_MAX ||
			(fp->kind[c] == MATCH_FEAT_NAME) != (doc->comp[c].cmp == MATCH_CMP_NAME))
			FuzzFail("comparison %d has feature kind %d", c, fp->kind[c]);
		cols += fp->kind[c] == MATCH_FEAT_NAME ? 2 : 1;

		/*
		 * where the full re-key's scan reads the raw value: the arrays for
		 * phones and e-mails only, a column or an extra key by name
		 */
		{
			int			src = MatchFeatureSource(doc->comp[c].attr, fp->kind[c]);

			if (src < MATCH_SRC_NONE || src > MATCH_SRC_JSON ||
				(src == MATCH_SRC_NONE) != (fp->kind[c] == MATCH_FEAT_PHONES || fp->kind[c] == MATCH_FEAT_EMAILS) ||
				((src == MATCH_SRC_SEX || src == MATCH_SRC_DATE) != (fp->kind[c] == MATCH_FEAT_ASIS)))
				FuzzFail("comparison %d of kind %d reads source %d", c, fp->kind[c], src);
		}
	}
	if (cols != nfeat)
		FuzzFail("feature kinds make %d columns, the layout %d", cols, nfeat);
	for (int i = 0; i < doc->nrules + doc->nlookup; i++)
	{
		const char *p = fp->rule[i];
		int			keys = 0;

		if (*p != (doc->rule[i].any_order ? 'A' : 'N'))
			FuzzFail("rule %d is \"%s\"", i, fp->rule[i]);
		for (p++; *p == ';'; keys++)
		{
			char	   *end;
			long		pos = strtol(p + 1, &end, 10);
			long		tr = (*end == ':') ? strtol(end + 1, &end, 10) : -1;

			if (pos < 0 || pos >= nfeat || tr < MATCH_TR_NONE || tr > MATCH_TR_BUILDER_MAX)
				FuzzFail("rule %d is \"%s\"", i, fp->rule[i]);
			p = end;
		}
		if (*p != '\0' || keys != doc->rule[i].nkeys)
			FuzzFail("rule %d is \"%s\" for %d keys", i, fp->rule[i], doc->rule[i].nkeys);
	}
	for (int i = 0; i < 3; i++)
		if (fp->ph_pos[i] < -1 || fp->ph_pos[i] >= nfeat)
			FuzzFail("placeholder column %d is %d", i, fp->ph_pos[i]);
}

/*
 * LLVMFuzzerTestOneInput
 *		Input: the bytes of a settings document (ReadDoc).
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Reader		r = {data, size};
	MatchDoc   *doc;
	volatile bool compiled = false;
	bool		valid;

	FuzzInputBegin();
	doc = palloc(sizeof(MatchDoc));
	ReadDoc(&r, doc);
	valid = Valid(doc);
	FUZZ_TRY(
	{
		MatchProg	prog;
		MatchFeatProg fp;
		float8	   *p;
		int			n;

		p = MatchCompileProgram(doc, log2, &n);
		compiled = true;
		MatchDecodeProgram(p, n, &prog);
		CheckProgram(doc, &prog);
		if (MatchCompileFeatures(doc, &fp))
			CheckFeatures(doc, &fp);
	});
	if (compiled && !valid)
		FuzzFail("an invalid settings document was compiled");
	if (valid && FuzzLastSqlstate != 0)
		FuzzFail("compiling a valid settings document raised %s: %s",
				 FuzzSqlstateText(FuzzLastSqlstate), FuzzLastMessage);
	if (!valid && FuzzLastSqlstate != ERRCODE_INVALID_PARAMETER_VALUE)
		FuzzFail("an invalid settings document raised %s, not 22023",
				 FuzzSqlstateText(FuzzLastSqlstate));
	FuzzInputEnd();
	return 0;
}
