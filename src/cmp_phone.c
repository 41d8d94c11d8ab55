/*-------------------------------------------------------------------------
 *
 * src/cmp_phone.c
 *		Graded comparison of two phone numbers on their digits.
 *
 * Only the ASCII digits count: '+7 (916) 123-45-67' and '+79161234567'
 * are the same number.  In cdp phones are E.164 text ('+79161234567'), but
 * any formatting works.  Levels, strongest first; the first that holds is
 * returned:
 *		exact		the same digits
 *		same_last7	the last 7 digits agree (same subscriber number, another
 *					country, trunk or area code: 8 916... vs +7 916...)
 *		one_digit	as many digits, one substituted or two adjacent ones
 *					swapped
 *		different	anything else, including a value without digits
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include "cmp_int.h"

PG_FUNCTION_INFO_V1(cdp_phone_level);
PG_FUNCTION_INFO_V1(cdp_phone_similarity);

static const char *const LevelName[CDP_PHONE_NLEVELS] = {
	"exact", "same_last7", "one_digit", "different"
};

static const double LevelScore[CDP_PHONE_NLEVELS] = {
	1.0, 0.8, 0.6, 0.0
};

/*
 * ExtractDigits
 *		Copies the ASCII digits of s into out (room for len bytes) and
 *		returns their number.  Raises 54000 beyond CDP_CMP_MAX_CHARS bytes.
 */
static int
ExtractDigits(const char *s, int len, char *out)
{
	int			n = 0;

	CdpCheckInput(s, len, CDP_CMP_MAX_CHARS, 0);
	for (int i = 0; i < len; i++)
		if (s[i] >= '0' && s[i] <= '9')
			out[n++] = s[i];
	return n;
}

/*
 * CdpPhoneLevel
 *		CDP_PHONE_* level of two phone numbers.
 */
int
CdpPhoneLevel(const char *a, int alen, const char *b, int blen)
{
	char		da[CDP_CMP_MAX_CHARS];
	char		db[CDP_CMP_MAX_CHARS];
	int			na = ExtractDigits(a, alen, da);
	int			nb = ExtractDigits(b, blen, db);
	int			first = -1,
				ndiff = 0;

	if (na == 0 || nb == 0)
		return CDP_PHONE_DIFFERENT;
	if (na == nb && memcmp(da, db, na) == 0)
		return CDP_PHONE_EXACT;
	if (CdpPhoneSameTail(da, na, db, nb))
		return CDP_PHONE_SAME_LAST7;
	if (na != nb)
		return CDP_PHONE_DIFFERENT;

	for (int i = 0; i < na; i++)
	{
		if (da[i] != db[i])
		{
			if (ndiff++ == 0)
				first = i;
			if (ndiff > 2)
				return CDP_PHONE_DIFFERENT;
		}
	}
	if (ndiff == 1)
		return CDP_PHONE_ONE_DIGIT;
	/* two differences: a swap of neighbours */
	if (first + 1 < na && da[first] == db[first + 1] &&
		da[first + 1] == db[first])
		return CDP_PHONE_ONE_DIGIT;
	return CDP_PHONE_DIFFERENT;
}

/*
 * CdpPhoneLevelName
 *		SQL-visible name of a CDP_PHONE_* level.
 */
const char *
CdpPhoneLevelName(int level)
{
	if (level < 0 || level >= CDP_PHONE_NLEVELS)
		elog(ERROR, "invalid phone comparison level %d", level);
	return LevelName[level];
}

/*
 * CdpPhoneLevelScore
 *		Similarity in [0, 1] of a CDP_PHONE_* level.
 */
double
CdpPhoneLevelScore(int level)
{
	if (level < 0 || level >= CDP_PHONE_NLEVELS)
		elog(ERROR, "invalid phone comparison level %d", level);
	return LevelScore[level];
}

/*
 * cdp_phone_level
 *		SQL cdp.phone_level(a text, b text) RETURNS text.
 */
Datum
cdp_phone_level(PG_FUNCTION_ARGS)
{
	text	   *a = PG_GETARG_TEXT_PP(0);
	text	   *b = PG_GETARG_TEXT_PP(1);
	int			level = CdpPhoneLevel(VARDATA_ANY(a), VARSIZE_ANY_EXHDR(a),
									  VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));

	PG_RETURN_TEXT_P(cstring_to_text(CdpPhoneLevelName(level)));
}

/*
 * cdp_phone_similarity
 *		SQL cdp.phone_similarity(a text, b text) RETURNS float8.
 */
Datum
cdp_phone_similarity(PG_FUNCTION_ARGS)
{
	text	   *a = PG_GETARG_TEXT_PP(0);
	text	   *b = PG_GETARG_TEXT_PP(1);
	int			level = CdpPhoneLevel(VARDATA_ANY(a), VARSIZE_ANY_EXHDR(a),
									  VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));

	PG_RETURN_FLOAT8(CdpPhoneLevelScore(level));
}
