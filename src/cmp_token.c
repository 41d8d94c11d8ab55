/*-------------------------------------------------------------------------
 *
 * src/cmp_token.c
 *		Token-set similarity of full names: order-insensitive, case-
 *		insensitive, aware of initials and of a missing patronymic.
 *
 * Both names are lower-cased (CmpSimpleLower: Latin, Cyrillic, ё as е) and
 * cut into tokens at white space, hyphens, dashes, dots and commas.  Every
 * token of one name is scored against every token of the other:
 *		- two one-letter tokens (initials): 1 when equal, else 0;
 *		- an initial and a word: INITIAL_SCORE when the word starts with
 *		  that letter, else 0 ('М.' stands for 'Мария' but says less);
 *		- two words: Jaro-Winkler (prefix scale 0.1, threshold 0.7).
 * Tokens are then paired greedily, best score first (each token used at
 * most once); for names of two to four tokens greedy pairing is almost
 * always the optimal assignment, and it costs O(k^3) at worst for k tokens.
 * With p pairs scoring s_1..s_p and u = |ka - kb| tokens left unpaired:
 *		similarity = sum s_i / (p + MISSING_WEIGHT * u)
 * so a missing patronymic costs little ('Иванова Мария' against 'Иванова
 * Мария Петровна' gives 2 / 2.2 = 0.909) while a lone surname against a
 * full name gives 1 / 1.4 = 0.714.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include "cmp_int.h"

PG_FUNCTION_INFO_V1(cdp_token_set_similarity);

#define INITIAL_SCORE	0.95
#define MISSING_WEIGHT	0.2

typedef struct NameToken
{
	int			start;			/* offset in the code point array */
	int			len;			/* code points */
} NameToken;

/*
 * IsTokenSeparator
 *		White space, hyphens and dashes, dots and commas end a token.
 */
static inline bool
IsTokenSeparator(int32 c)
{
	return c <= 0x20 || c == '-' || c == '.' || c == ',' || c == 0xA0 ||
		(c >= 0x2010 && c <= 0x2015) || c == 0x2212 || c == 0x3000;
}

/*
 * Tokenize
 *		Lower-cases codes in place and records its tokens; raises 54000 when
 *		there are more than CDP_CMP_MAX_TOKENS.
 */
static int
Tokenize(int32 *codes, int n, NameToken *tokens)
{
	int			k = 0;
	int			i = 0;

	while (i < n)
	{
		int			start;

		while (i < n && IsTokenSeparator(codes[i]))
			i++;
		if (i >= n)
			break;
		start = i;
		while (i < n && !IsTokenSeparator(codes[i]))
		{
			codes[i] = CmpSimpleLower(codes[i]);
			i++;
		}
		if (k >= CDP_CMP_MAX_TOKENS)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("name has more than %d tokens", CDP_CMP_MAX_TOKENS),
					 errdetail("Every token of one name is compared with every token of the other."),
					 errhint("Compare names, not free text.")));
		tokens[k].start = start;
		tokens[k].len = i - start;
		k++;
	}
	return k;
}

/*
 * TokenScore
 *		Similarity of two lower-cased tokens (see the file header).
 */
static double
TokenScore(const int32 *a, int alen, const int32 *b, int blen)
{
	if (alen == 1 && blen == 1)
		return a[0] == b[0] ? 1.0 : 0.0;
	if (alen == 1 || blen == 1)
		return a[0] == b[0] ? INITIAL_SCORE : 0.0;
	return CdpJaroWinklerCodes(a, alen, b, blen, 0.1, 0.7);
}

/*
 * CdpTokenSetSimilarity
 *		Token-set similarity of two full names, in [0, 1].
 */
double
CdpTokenSetSimilarity(const char *a, int alen, const char *b, int blen)
{
	CdpCodes	ca,
				cb;
	NameToken	ta[CDP_CMP_MAX_TOKENS];
	NameToken	tb[CDP_CMP_MAX_TOKENS];
	double		score[CDP_CMP_MAX_TOKENS][CDP_CMP_MAX_TOKENS];
	bool		useda[CDP_CMP_MAX_TOKENS] = {0};
	bool		usedb[CDP_CMP_MAX_TOKENS] = {0};
	int			na,
				nb,
				pairs;
	double		sum = 0.0;

	CdpDecodeUtf8(a, alen, &ca);
	CdpDecodeUtf8(b, blen, &cb);
	na = Tokenize(ca.c, ca.len, ta);
	nb = Tokenize(cb.c, cb.len, tb);

	if (na == 0 || nb == 0)
	{
		CdpCodesFree(&ca);
		CdpCodesFree(&cb);
		return (na == 0 && nb == 0) ? 1.0 : 0.0;
	}

	for (int i = 0; i < na; i++)
		for (int j = 0; j < nb; j++)
			score[i][j] = TokenScore(ca.c + ta[i].start, ta[i].len,
									 cb.c + tb[j].start, tb[j].len);

	/* greedy assignment: take the best remaining pair until one side ends */
	pairs = Min(na, nb);
	for (int p = 0; p < pairs; p++)
	{
		int			bi = -1,
					bj = -1;
		double		best = -1.0;

		for (int i = 0; i < na; i++)
		{
			if (useda[i])
				continue;
			for (int j = 0; j < nb; j++)
			{
				if (!usedb[j] && score[i][j] > best)
				{
					best = score[i][j];
					bi = i;
					bj = j;
				}
			}
		}
		useda[bi] = usedb[bj] = true;
		sum += best;
	}

	CdpCodesFree(&ca);
	CdpCodesFree(&cb);
	return sum / (pairs + MISSING_WEIGHT * Abs(na - nb));
}

/*
 * cdp_token_set_similarity
 *		SQL cdp.token_set_similarity(a text, b text) RETURNS float8.
 */
Datum
cdp_token_set_similarity(PG_FUNCTION_ARGS)
{
	text	   *a = PG_GETARG_TEXT_PP(0);
	text	   *b = PG_GETARG_TEXT_PP(1);

	CdpCheckDatabaseUtf8();
	PG_RETURN_FLOAT8(CdpTokenSetSimilarity(VARDATA_ANY(a), VARSIZE_ANY_EXHDR(a),
										   VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b)));
}
