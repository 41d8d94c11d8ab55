/*-------------------------------------------------------------------------
 *
 * test/fuzz/fuzz_types.c
 *		libFuzzer target: the non-throwing parsers of the identifier types
 *		(src/types.h: phone, e-mail, SNILS, OMS) and the error report of a
 *		rejected value, on the input.
 *
 * Oracles (each only where src/types.h or doc/types.md promises it):
 *   - a parser never raises: it returns false with a detail sentence and
 *     SQLSTATE 22P02 or 22023;
 *   - the C API with only the detail (CdpParse*) agrees with it;
 *   - the canonical output of an accepted value is accepted back as the
 *     same value (dump and restore depend on it), and is valid UTF-8;
 *   - phone: 7 to 15 E.164 digits, a country code of 1 to 3 digits, a
 *     known kind; e-mail: the canonical form compares equal to itself;
 *   - a rejected value's report (the strict input function's error)
 *     raises the parser's SQLSTATE, with messages that follow the style
 *     guide (checked by the shim).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "types.h"

#include "fuzz_common.h"

/*
 * CheckRejection
 *		A parser's answer for a rejected value, and the report built from it.
 */
static void
CheckRejection(const char *typname, const char *s, int len, const CdpTypeError *err)
{
	volatile int raised;

	if (err->detail == NULL)
		FuzzFail("%s parser rejected a value without a detail", typname);
	if (err->sqlstate != ERRCODE_INVALID_TEXT_REPRESENTATION &&
		err->sqlstate != ERRCODE_INVALID_PARAMETER_VALUE)
		FuzzFail("%s parser rejected a value with SQLSTATE %s", typname,
				 FuzzSqlstateText(err->sqlstate));
	FUZZ_TRY(CdpTypeReportError(typname, s, len, err, "Write it as in the documentation."));
	raised = FuzzLastSqlstate;
	FuzzLastSqlstate = 0;		/* caught here: not the parser's own error */
	if (raised != err->sqlstate)
		FuzzFail("%s: the report raised %s, the parser said %s", typname,
				 FuzzSqlstateText(raised), FuzzSqlstateText(err->sqlstate));
}

/*
 * CheckParserSilent
 *		After a FUZZ_TRY around a parser: it must not have raised.
 */
static void
CheckParserSilent(const char *typname)
{
	if (FuzzLastSqlstate != 0)
		FuzzFail("the %s parser raised %s: %s", typname, FuzzSqlstateText(FuzzLastSqlstate),
				 FuzzLastMessage);
}

/*
 * FuzzPhone
 *		cdp.phone: parse, print, parse again.
 */
static void
FuzzPhone(const char *s, int len)
{
	FUZZ_TRY(
	{
		CdpPhone	p,
					p2;
		CdpTypeError err = {0, NULL};
		const char *why = NULL;
		bool		ok = CdpPhoneParse(s, len, &p, &err);

		if (CdpParsePhone(s, len, &p2, &why) != ok)
			FuzzFail("CdpParsePhone and CdpPhoneParse disagree");
		if (!ok)
		{
			if (why == NULL)
				FuzzFail("CdpParsePhone rejected a value without a detail");
			CheckRejection("cdp.phone", s, len, &err);
		}
		else
		{
			char	   *out = CdpPhoneToCString(&p);
			char	   *digits = CdpPhoneE164Digits(&p);
			int			nd = (int) strlen(digits);
			int			cc;
			CdpPhoneKind kind;

			if (p.reserved != 0 || p.e164 <= 0 || p.ext < 0)
				FuzzFail("phone \"%s\" parsed into e164 %lld ext %d reserved %d", out,
						 (long long) p.e164, p.ext, p.reserved);
			if (nd < CDP_PHONE_MIN_DIGITS || nd > CDP_PHONE_MAX_DIGITS)
				FuzzFail("phone \"%s\" has %d E.164 digits", out, nd);
			cc = CdpPhoneCountryCodeLength(digits, nd);
			if (cc < 1 || cc > 3)
				FuzzFail("phone \"%s\": country code of %d digits", out, cc);
			kind = CdpPhoneGetKind(&p);
			if (kind < CDP_PHONE_KIND_UNKNOWN || kind > CDP_PHONE_KIND_TOLL_FREE)
				FuzzFail("phone \"%s\": kind %d", out, (int) kind);
			if (!CdpPhoneParse(out, (int) strlen(out), &p2, &err))
				FuzzFail("phone: canonical \"%s\" is rejected: %s", out, err.detail);
			if (CdpPhoneCmp(&p, &p2) != 0 || memcmp(&p, &p2, sizeof(p)) != 0)
				FuzzFail("phone: canonical \"%s\" reads back as \"%s\"", out, CdpPhoneToCString(&p2));
		}
	});
	CheckParserSilent("cdp.phone");
}

/*
 * FuzzEmail
 *		cdp.email: parse, parse the canonical form again.
 */
static void
FuzzEmail(const char *s, int len)
{
	FUZZ_TRY(
	{
		char	   *out = NULL;
		char	   *out2 = NULL;
		CdpTypeError err = {0, NULL};
		const char *why = NULL;
		bool		ok = CdpEmailParse(s, len, &out, &err);

		if (CdpParseEmail(s, len, &out2, &why) != ok)
			FuzzFail("CdpParseEmail and CdpEmailParse disagree");
		if (!ok)
		{
			if (why == NULL)
				FuzzFail("CdpParseEmail rejected a value without a detail");
			CheckRejection("cdp.email", s, len, &err);
		}
		else
		{
			int			olen = (int) strlen(out);
			int			keylen = 0;
			char	   *key;
			char	   *disp;

			if (!FuzzUtf8Valid(out, olen))
				FuzzFail("email: canonical form is not valid UTF-8");
			if (strcmp(out, out2) != 0)
				FuzzFail("email: the two parsers give \"%s\" and \"%s\"", out, out2);
			if (!CdpEmailParse(out, olen, &out2, &err))
				FuzzFail("email: canonical \"%s\" is rejected: %s", out, err.detail);
			if (strcmp(out, out2) != 0)
				FuzzFail("email: canonical \"%s\" reads back as \"%s\"", out, out2);
			if (CdpEmailCmp(out, olen, out2, (int) strlen(out2)) != 0)
				FuzzFail("email: \"%s\" does not compare equal to itself", out);
			disp = CdpEmailDisplay(out, olen);
			if (!CdpEmailParse(disp, (int) strlen(disp), &out2, &err) || strcmp(out, out2) != 0)
				FuzzFail("email: display form \"%s\" of \"%s\" does not read back", disp, out);
			key = CdpEmailCaseKey(out, olen, &keylen);
			if (key == NULL || keylen < 0)
				FuzzFail("email: no case key for \"%s\"", out);
		}
	});
	CheckParserSilent("cdp.email");
}

/*
 * FuzzSnils
 *		cdp.snils: parse, print, parse again.
 */
static void
FuzzSnils(const char *s, int len)
{
	FUZZ_TRY(
	{
		int64		v = -1,
					v2 = -1;
		CdpTypeError err = {0, NULL};
		const char *why = NULL;
		bool		ok = CdpSnilsParse(s, len, &v, &err);

		if (CdpParseSnils(s, len, &v2, &why) != ok)
			FuzzFail("CdpParseSnils and CdpSnilsParse disagree");
		if (!ok)
			CheckRejection("cdp.snils", s, len, &err);
		else
		{
			char	   *out;

			if (v < 0 || v > CDP_SNILS_MAX_VALUE)
				FuzzFail("snils parsed into %lld", (long long) v);
			out = CdpSnilsToCString(v);
			if (!CdpSnilsParse(out, (int) strlen(out), &v2, &err))
				FuzzFail("snils: canonical \"%s\" is rejected: %s", out, err.detail);
			if (v2 != v)
				FuzzFail("snils: canonical \"%s\" reads back as %lld", out, (long long) v2);
		}
	});
	CheckParserSilent("cdp.snils");
}

/*
 * FuzzOms
 *		cdp.oms: parse, print, parse again.
 */
static void
FuzzOms(const char *s, int len)
{
	FUZZ_TRY(
	{
		int64		v = -1,
					v2 = -1;
		CdpTypeError err = {0, NULL};
		const char *why = NULL;
		bool		ok = CdpOmsParse(s, len, &v, &err);

		if (CdpParseOms(s, len, &v2, &why) != ok)
			FuzzFail("CdpParseOms and CdpOmsParse disagree");
		if (!ok)
			CheckRejection("cdp.oms", s, len, &err);
		else
		{
			char	   *out;

			if (v < 0 || v > CDP_OMS_MAX_VALUE)
				FuzzFail("oms parsed into %lld", (long long) v);
			out = CdpOmsToCString(v);
			if (strlen(out) != 16 || CdpOmsCheckDigit(out) != out[15] - '0')
				FuzzFail("oms: canonical \"%s\" is not 16 digits with its check digit", out);
			if (!CdpOmsParse(out, (int) strlen(out), &v2, &err))
				FuzzFail("oms: canonical \"%s\" is rejected: %s", out, err.detail);
			if (v2 != v)
				FuzzFail("oms: canonical \"%s\" reads back as %lld", out, (long long) v2);
		}
	});
	CheckParserSilent("cdp.oms");
}

/*
 * LLVMFuzzerTestOneInput
 *		One input through every identifier parser.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *s;
	int			len;

	FuzzInputBegin();
	s = FuzzOneString(data, size, CDP_EMAIL_MAX_BYTES + 1, &len);
	FuzzExpectValidMessages(FuzzUtf8Valid(s, len));
	FuzzPhone(s, len);
	FuzzEmail(s, len);
	FuzzSnils(s, len);
	FuzzOms(s, len);
	FuzzInputEnd();
	return 0;
}
