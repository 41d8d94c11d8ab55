/*-------------------------------------------------------------------------
 *
 * src/cmp_email.c
 *		Graded comparison of two e-mail addresses.
 *
 * Addresses are compared lower-cased (CmpSimpleLower, so internationalised
 * Cyrillic addresses work too) and split at the last '@' into a local part
 * and a domain.  Levels, strongest first; the first that holds is returned:
 *		exact		the same address
 *		typo		a typing error apart:
 *					- the same local part and domains at OSA distance 1
 *					  (mail.ru / mial.ru), or 2 when both domains have at
 *					  least 8 characters (yandex.ru / yadnex.ry);
 *					- or whole addresses at OSA distance 1, or 2 when both
 *					  have at least 12 characters;
 *					but never when the local parts differ only in their
 *					digits (ivanov1@ / ivanov2@, ivanov@ / ivanov85@ are
 *					usually different mailboxes of different people)
 *		same_local	the same local part at another domain
 *		different	anything else, or an empty local part
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include "cmp_int.h"

PG_FUNCTION_INFO_V1(cdp_email_level);
PG_FUNCTION_INFO_V1(cdp_email_similarity);

static const char *const LevelName[CDP_EMAIL_NLEVELS] = {
	"exact", "typo", "same_local", "different"
};

static const double LevelScore[CDP_EMAIL_NLEVELS] = {
	1.0, 0.8, 0.5, 0.0
};

/*
 * LowerAndSplit
 *		Lower-cases codes in place and returns the position of the last '@'
 *		(-1 when there is none: the whole address is the local part).
 */
static int
LowerAndSplit(int32 *codes, int n)
{
	int			at = -1;

	for (int i = 0; i < n; i++)
	{
		codes[i] = CmpSimpleLower(codes[i]);
		if (codes[i] == '@')
			at = i;
	}
	return at;
}

/*
 * SameButDigits
 *		True when two local parts differ, but only in their ASCII digits.
 */
static bool
SameButDigits(const int32 *a, int alen, const int32 *b, int blen)
{
	int			i = 0,
				j = 0;

	for (;;)
	{
		while (i < alen && a[i] >= '0' && a[i] <= '9')
			i++;
		while (j < blen && b[j] >= '0' && b[j] <= '9')
			j++;
		if (i >= alen || j >= blen)
			return i >= alen && j >= blen;
		if (a[i] != b[j])
			return false;
		i++;
		j++;
	}
}

/*
 * EmailLevelCodes
 *		CDP_EMAIL_* level of two decoded addresses (lower-cased in place).
 */
static int
EmailLevelCodes(int32 *a, int alen, int32 *b, int blen)
{
	int			ata = LowerAndSplit(a, alen);
	int			atb = LowerAndSplit(b, blen);
	int			la = (ata < 0) ? alen : ata;
	int			lb = (atb < 0) ? blen : atb;
	const int32 *da = a + la + (ata >= 0);
	const int32 *db = b + lb + (atb >= 0);
	int			dla = alen - la - (ata >= 0);
	int			dlb = blen - lb - (atb >= 0);
	bool		same_local;
	int			cap;

	if (la == 0 || lb == 0)
		return CDP_EMAIL_DIFFERENT;
	if (alen == blen && memcmp(a, b, sizeof(int32) * alen) == 0)
		return CDP_EMAIL_EXACT;

	same_local = (la == lb && memcmp(a, b, sizeof(int32) * la) == 0);
	if (same_local)
	{
		cap = (Min(dla, dlb) >= 8) ? 2 : 1;
		if (CdpOsaDistanceCodes(da, dla, db, dlb, cap) <= cap)
			return CDP_EMAIL_TYPO;
		return CDP_EMAIL_SAME_LOCAL;
	}
	if (SameButDigits(a, la, b, lb))
		return CDP_EMAIL_DIFFERENT;
	cap = (Min(alen, blen) >= 12) ? 2 : 1;
	if (CdpOsaDistanceCodes(a, alen, b, blen, cap) <= cap)
		return CDP_EMAIL_TYPO;
	return CDP_EMAIL_DIFFERENT;
}

/*
 * CdpEmailLevel
 *		CDP_EMAIL_* level of two UTF-8 e-mail addresses.
 */
int
CdpEmailLevel(const char *a, int alen, const char *b, int blen)
{
	CdpCodes	ca,
				cb;
	int			level;

	CdpDecodeUtf8(a, alen, &ca);
	CdpDecodeUtf8(b, blen, &cb);
	level = EmailLevelCodes(ca.c, ca.len, cb.c, cb.len);
	CdpCodesFree(&ca);
	CdpCodesFree(&cb);
	return level;
}

/*
 * CdpEmailLevelName
 *		SQL-visible name of a CDP_EMAIL_* level.
 */
const char *
CdpEmailLevelName(int level)
{
	if (level < 0 || level >= CDP_EMAIL_NLEVELS)
		elog(ERROR, "invalid e-mail comparison level %d", level);
	return LevelName[level];
}

/*
 * CdpEmailLevelScore
 *		Similarity in [0, 1] of a CDP_EMAIL_* level.
 */
double
CdpEmailLevelScore(int level)
{
	if (level < 0 || level >= CDP_EMAIL_NLEVELS)
		elog(ERROR, "invalid e-mail comparison level %d", level);
	return LevelScore[level];
}

/*
 * cdp_email_level
 *		SQL cdp.email_level(a text, b text) RETURNS text.
 */
Datum
cdp_email_level(PG_FUNCTION_ARGS)
{
	text	   *a = PG_GETARG_TEXT_PP(0);
	text	   *b = PG_GETARG_TEXT_PP(1);
	int			level;

	CdpCheckDatabaseUtf8();
	level = CdpEmailLevel(VARDATA_ANY(a), VARSIZE_ANY_EXHDR(a),
						  VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));
	PG_RETURN_TEXT_P(cstring_to_text(CdpEmailLevelName(level)));
}

/*
 * cdp_email_similarity
 *		SQL cdp.email_similarity(a text, b text) RETURNS float8.
 */
Datum
cdp_email_similarity(PG_FUNCTION_ARGS)
{
	text	   *a = PG_GETARG_TEXT_PP(0);
	text	   *b = PG_GETARG_TEXT_PP(1);
	int			level;

	CdpCheckDatabaseUtf8();
	level = CdpEmailLevel(VARDATA_ANY(a), VARSIZE_ANY_EXHDR(a),
						  VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));
	PG_RETURN_FLOAT8(CdpEmailLevelScore(level));
}
