/*-------------------------------------------------------------------------
 *
 * test/fuzz/fuzz_acc.c
 *		libFuzzer target: the access family's C kernels on the input: the
 *		masks (src/acc_mask.c) and the identifier types' error reports with
 *		cdp.redact_values on (src/acc_redact.c, src/type_common.c).
 *
 * Oracles (each only where doc/security.md promises it):
 *   - a mask never raises and never shows more of the value than its rule:
 *     mask_phone at most (digits - 5) of its digits, mask_email one
 *     character of the local part, mask_snils exactly 3 digits or none;
 *     "***" when it cannot read the value; output valid UTF-8 when the
 *     input was;
 *   - with redaction on, a rejected phone, e-mail, SNILS or OMS number's
 *     detail and message hold no run of 4 or more digits of the input, nor
 *     (for a well-formed value that is invalid) any digit at all outside a
 *     "character N" position.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "acc.h"
#include "types.h"

#include "fuzz_common.h"

/*
 * CountDigits
 *		ASCII digits in s.
 */
static int
CountDigits(const char *s, int len)
{
	int			n = 0;

	for (int i = 0; i < len; i++)
		if (s[i] >= '0' && s[i] <= '9')
			n++;
	return n;
}

/*
 * CheckMasks
 *		Each mask on the input, against its rule.
 */
static void
CheckMasks(const char *s, int len, bool valid_utf8)
{
	FUZZ_TRY(
	{
		const char *semi = memchr(s, ';', len);
		int			nd = CountDigits(s, semi ? (int) (semi - s) : len);
		char	   *p = AccMaskPhone(s, len);
		char	   *e = AccMaskEmail(s, len);
		char	   *n = AccMaskSnils(s, len);

		if (strcmp(p, "***") != 0 && CountDigits(p, strlen(p)) > nd - 5)
			FuzzFail("mask_phone shows %d of %d digits: \"%s\"", CountDigits(p, strlen(p)), nd, p);
		if (strcmp(e, "***") != 0)
		{
			const char *star = strstr(e, "***@");

			if (star == NULL || star == e || FuzzUtf8Chars(e, star - e) != 1)
				FuzzFail("mask_email shows more than one character of the local part: \"%s\"", e);
		}
		if (strcmp(n, "***") != 0 && CountDigits(n, strlen(n)) != 3)
			FuzzFail("mask_snils shows %d digits: \"%s\"", CountDigits(n, strlen(n)), n);
		if (valid_utf8 && (!FuzzUtf8Valid(p, strlen(p)) || !FuzzUtf8Valid(e, strlen(e)) ||
						   !FuzzUtf8Valid(n, strlen(n))))
			FuzzFail("a mask returned invalid UTF-8");
	});
	if (FuzzLastSqlstate != 0)
		FuzzFail("a mask raised %s: %s", FuzzSqlstateText(FuzzLastSqlstate), FuzzLastMessage);
}

/*
 * CheckNoDigitRun
 *		No run of 4 digits of s[0..len) appears in text (what = which text).
 */
static void
CheckNoDigitRun(const char *typname, const char *what, const char *s, int len, const char *text)
{
	char		run[5];
	char		lenword[32];
	char	   *scan = pstrdup(text);
	char	   *at;

	/*
	 * A too-long value's report gives its length in bytes ("is 1118 bytes
	 * long"): a count, not digits of the value, so it is blanked before the
	 * search.
	 */
	snprintf(lenword, sizeof(lenword), "%d bytes", len);
	while ((at = strstr(scan, lenword)) != NULL)
		memset(at, 'x', strlen(lenword));
	text = scan;
	for (int i = 0; i + 4 <= len; i++)
	{
		bool		digits = true;

		for (int j = 0; j < 4; j++)
			digits = digits && s[i + j] >= '0' && s[i + j] <= '9';
		if (!digits)
			continue;
		memcpy(run, s + i, 4);
		run[4] = '\0';
		if (strstr(text, run) != NULL)
			FuzzFail("%s: the redacted %s holds \"%s\" of the value: %s", typname, what, run, text);
	}
}

/*
 * CheckRedacted
 *		A rejected value's detail and message: no run of 4 digits of the
 *		input, and no digit at all outside "character N" for 22023.
 */
static void
CheckRedacted(const char *typname, const char *s, int len, const CdpTypeError *err)
{
	CheckNoDigitRun(typname, "detail", s, len, err->detail);
	if (err->sqlstate == ERRCODE_INVALID_PARAMETER_VALUE)
	{
		for (const char *d = err->detail; *d; d++)
		{
			if (strncmp(d, "\"character ", 11) == 0)
			{
				const char *end = strchr(d + 1, '"');

				d = end ? end : d + strlen(d) - 1;
				continue;
			}
			if (*d >= '0' && *d <= '9')
				FuzzFail("%s: a digit in the redacted detail of an invalid value: %s", typname, err->detail);
		}
	}
	FUZZ_TRY(CdpTypeReportError(typname, s, len, err, "Write it as in the documentation."));
	CheckNoDigitRun(typname, "message", s, len, FuzzLastMessage);
	FuzzLastSqlstate = 0;
}

/*
 * CheckTypes
 *		Every identifier parser with redaction on.
 */
static void
CheckTypes(const char *s, int len)
{
	CdpTypeError err;
	CdpPhone	p;
	char	   *email;
	int64		v;

	CdpRedactValues = true;
	err.sqlstate = 0;
	err.detail = NULL;
	if (!CdpPhoneParse(s, len, &p, &err))
		CheckRedacted("cdp.phone", s, len, &err);
	if (!CdpEmailParse(s, len, &email, &err))
		CheckRedacted("cdp.email", s, len, &err);
	if (!CdpSnilsParse(s, len, &v, &err))
		CheckRedacted("cdp.snils", s, len, &err);
	if (!CdpOmsParse(s, len, &v, &err))
		CheckRedacted("cdp.oms", s, len, &err);
	CdpRedactValues = false;
}

/*
 * LLVMFuzzerTestOneInput
 *		One input through the masks and the redacted parsers.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *s;
	int			len;
	bool		valid;

	FuzzInputBegin();
	s = FuzzOneString(data, size, 1100, &len);
	valid = FuzzUtf8Valid(s, len);
	FuzzExpectValidMessages(valid);
	CheckMasks(s, len, valid);
	CheckTypes(s, len);
	FuzzInputEnd();
	return 0;
}
