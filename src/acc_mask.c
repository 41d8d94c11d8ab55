/*-------------------------------------------------------------------------
 *
 * src/acc_mask.c
 *		The masks of the access family (issue 15, item 4): cdp.mask_phone,
 *		cdp.mask_email and cdp.mask_snils.
 *
 * A marketer's or analyst's list masks every row of the patient table, so
 * the masks are C (the same rules in SQL cost 20-30 microseconds a row in
 * regular expressions).  Each takes any text and never raises on its
 * content: what it cannot read is hidden whole ("***"), so a malformed
 * value is never shown unmasked.  Values longer than ACC_MASK_MAX_BYTES are
 * hidden whole too (no real phone, e-mail or SNILS is that long).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "acc.h"

#define ACC_MASK_MAX_BYTES	1024
#define ACC_MASK_HIDDEN		"***"

/*
 * AccDigits
 *		The ASCII digits of s[0..len) in order, at most max of them, into out;
 *		returns how many there were (which may exceed max).
 */
static int
AccDigits(const char *s, int len, char *out, int max)
{
	int			n = 0;
	int			i;

	for (i = 0; i < len; i++)
	{
		if (s[i] >= '0' && s[i] <= '9')
		{
			if (n < max)
				out[n] = s[i];
			n++;
		}
	}
	return n;
}

/*
 * AccMaskPhone
 *		"+7 916 ***-**-67" for a Russian number (11 digits starting with 7),
 *		else "+<all but the last 7 digits> ***-**-<last 2>"; the extension
 *		(after ';') is dropped; fewer than 7 digits give "***".
 */
char *
AccMaskPhone(const char *s, int len)
{
	const char *semi;
	char		d[32];
	int			n;

	if (len < 0 || len > ACC_MASK_MAX_BYTES)
		return pstrdup(ACC_MASK_HIDDEN);
	semi = memchr(s, ';', len);
	if (semi != NULL)
		len = semi - s;
	n = AccDigits(s, len, d, sizeof(d));
	if (n < 7 || n > (int) sizeof(d))
		return pstrdup(ACC_MASK_HIDDEN);
	if (n == 11 && d[0] == '7')
		return psprintf("+7 %.3s ***-**-%.2s", d + 1, d + 9);
	return psprintf("+%.*s ***-**-%.2s", n - 7, d, d + n - 2);
}

PG_FUNCTION_INFO_V1(cdp_mask_phone);

/*
 * cdp_mask_phone(text) returns text: AccMaskPhone.
 */
Datum
cdp_mask_phone(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);

	PG_RETURN_TEXT_P(cstring_to_text(AccMaskPhone(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t))));
}

/*
 * AccMaskEmail
 *		"i***@mail.ru": the first character of the local part (a whole
 *		character, if s is valid in the database encoding), then the domain.
 *		A value that is not one non-empty local part, one "@" and a non-empty
 *		domain, or not valid in the database encoding, gives "***".
 */
char *
AccMaskEmail(const char *s, int len)
{
	const char *at;
	int			first;
	StringInfoData buf;

	if (len <= 0 || len > ACC_MASK_MAX_BYTES ||
		pg_encoding_verifymbstr(GetDatabaseEncoding(), s, len) != len)
		return pstrdup(ACC_MASK_HIDDEN);
	at = memchr(s, '@', len);
	if (at == NULL || at == s || at == s + len - 1 || memchr(at + 1, '@', s + len - at - 1) != NULL)
		return pstrdup(ACC_MASK_HIDDEN);
	first = pg_mblen(s);
	if (first > at - s)
		return pstrdup(ACC_MASK_HIDDEN);
	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, s, first);
	appendStringInfoString(&buf, "***");
	appendBinaryStringInfo(&buf, at, s + len - at);
	return buf.data;
}

PG_FUNCTION_INFO_V1(cdp_mask_email);

/*
 * cdp_mask_email(text) returns text: AccMaskEmail.
 */
Datum
cdp_mask_email(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);

	PG_RETURN_TEXT_P(cstring_to_text(AccMaskEmail(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t))));
}

/*
 * AccMaskSnils
 *		"***-***-**5 95": the last 3 of the 11 digits; any other number of
 *		digits gives "***".
 */
char *
AccMaskSnils(const char *s, int len)
{
	char		d[11];

	if (len < 0 || len > ACC_MASK_MAX_BYTES || AccDigits(s, len, d, sizeof(d)) != 11)
		return pstrdup(ACC_MASK_HIDDEN);
	return psprintf("***-***-**%c %.2s", d[8], d + 9);
}

PG_FUNCTION_INFO_V1(cdp_mask_snils);

/*
 * cdp_mask_snils(text) returns text: AccMaskSnils.
 */
Datum
cdp_mask_snils(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);

	PG_RETURN_TEXT_P(cstring_to_text(AccMaskSnils(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t))));
}
