/*-------------------------------------------------------------------------
 *
 * src/type_oms.c
 *		cdp.oms: the unified Russian compulsory medical insurance policy
 *		number (единый номер полиса ОМС), 16 digits, the last a check digit.
 *		Stored as int8 (the 16 digits read as one number), passed by value;
 *		comparison and hashing reuse the int8 functions.
 *
 * Check digit (the FFOMS rule for the unified policy number, as restated
 * in issue 3; see doc/types.md for sources): take the first 15 digits;
 * counting from the right, the digits at odd positions, written in order,
 * form a number that is multiplied by 2; the digits at even positions, written in order, are
 * written to the left of that product; the digits of the result are added
 * up; the check digit is (10 - sum mod 10) mod 10.  The digit sum of 2N
 * is the sum over N's digits d of the digit sum of 2d (a carry out of a
 * digit happens exactly when d >= 5 and costs 9), so this is the Luhn
 * algorithm (ISO/IEC 7812-1 annex B) over the 15 digits, which is how it
 * is computed below.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"

#include "types.h"

#define OMS_TYPNAME	"cdp.oms"
#define OMS_HINT	"Write the 16 digits of the policy number, for example \"1234567890123452\" or \"1234 5678 9012 3452\"."

/*
 * CdpOmsCheckDigit
 *		The check digit for the first 15 digits (ASCII) of a policy number.
 */
int
CdpOmsCheckDigit(const char *digits15)
{
	int			sum = 0;
	int			i;

	for (i = 0; i < 15; i++)
	{
		int			d = digits15[i] - '0';

		/* digits15[14] is position 1 from the right: odd positions double */
		if ((15 - i) % 2 == 1)
		{
			d *= 2;
			sum += d / 10 + d % 10;
		}
		else
			sum += d;
	}
	return (10 - sum % 10) % 10;
}

/*
 * CdpOmsParse
 *		Non-throwing parser shared by oms_in, oms_recv, try_oms and
 *		is_valid_oms.  On success *out is the 16-digit value.
 */
bool
CdpOmsParse(const char *s, int len, int64 *out, CdpTypeError *err)
{
	char		digits[16];
	int			nd;
	int64		v = 0;
	int			expected;
	int			i;

	if (!CdpTypeCheckInput(s, len, CDP_OMS_MAX_BYTES, err))
		return false;
	CdpTypeTrim(&s, &len);
	if (len == 0)
	{
		CdpTypeErrorSet(err, ERRCODE_INVALID_TEXT_REPRESENTATION, "The value is empty.");
		return false;
	}
	if (!CdpTypeScanDigitGroups(s, len, "an OMS policy number", digits, 16, &nd, err))
		return false;
	if (nd != 16)
	{
		CdpTypeErrorSet(err, ERRCODE_INVALID_TEXT_REPRESENTATION,
						"An OMS policy number has 16 digits; this value has %d.", nd);
		return false;
	}
	expected = CdpOmsCheckDigit(digits);
	if (digits[15] - '0' != expected)
	{
		CdpTypeErrorSet(err, ERRCODE_INVALID_PARAMETER_VALUE,
						"The check digit should be %d, not %c.", expected, digits[15]);
		return false;
	}
	for (i = 0; i < 16; i++)
		v = v * 10 + (digits[i] - '0');
	*out = v;
	return true;
}

/*
 * CdpParseOms
 *		C API for other families: like CdpOmsParse, with only the detail.
 */
bool
CdpParseOms(const char *s, int len, int64 *out, const char **why)
{
	CdpTypeError err = {0, NULL};
	bool		ok = CdpOmsParse(s, len, out, &err);

	if (why)
		*why = ok ? NULL : err.detail;
	return ok;
}

/*
 * CdpOmsToCString
 *		The canonical text form: 16 bare digits.
 */
char *
CdpOmsToCString(int64 v)
{
	return psprintf("%016lld", (long long) v);
}

PG_FUNCTION_INFO_V1(cdp_oms_in);

/*
 * cdp_oms_in
 *		Text input: any accepted form, stored as the 16-digit number.
 */
Datum
cdp_oms_in(PG_FUNCTION_ARGS)
{
	char	   *s = PG_GETARG_CSTRING(0);
	int			len = strlen(s);
	int64		v;
	CdpTypeError err;

	if (!CdpOmsParse(s, len, &v, &err))
		CdpTypeReportError(OMS_TYPNAME, s, len, &err, OMS_HINT);
	PG_RETURN_CDP_OMS(v);
}

PG_FUNCTION_INFO_V1(cdp_oms_out);

/*
 * cdp_oms_out
 *		Text output in the canonical form.
 */
Datum
cdp_oms_out(PG_FUNCTION_ARGS)
{
	PG_RETURN_CSTRING(CdpOmsToCString(PG_GETARG_CDP_OMS(0)));
}

PG_FUNCTION_INFO_V1(cdp_oms_recv);

/*
 * cdp_oms_recv
 *		Binary input: an int8 holding the 16 digits.  It goes through the same
 *		parser as text input, so it is exactly as strict.
 */
Datum
cdp_oms_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int64		given = pq_getmsgint64(buf);
	int64		v;
	char	   *s;
	CdpTypeError err;

	s = psprintf("%016lld", (long long) given);
	if (given < 0 || given > CDP_OMS_MAX_VALUE)
	{
		err.sqlstate = ERRCODE_INVALID_BINARY_REPRESENTATION;
		err.detail = "A binary OMS number is an int8 between 0 and 9999999999999999.";
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid external binary value for type %s: \"%s\"", OMS_TYPNAME,
						CdpTypeShowValue(s, strlen(s))),
				 errdetail_internal("%s", err.detail)));
	}
	if (!CdpOmsParse(s, strlen(s), &v, &err))
		CdpTypeReportError(OMS_TYPNAME, s, strlen(s), &err, OMS_HINT);
	PG_RETURN_CDP_OMS(v);
}

PG_FUNCTION_INFO_V1(cdp_oms_send);

/*
 * cdp_oms_send
 *		Binary output: the int8.
 */
Datum
cdp_oms_send(PG_FUNCTION_ARGS)
{
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint64(&buf, PG_GETARG_CDP_OMS(0));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

PG_FUNCTION_INFO_V1(cdp_try_oms);

/*
 * cdp_try_oms
 *		The OMS policy number in a text, or NULL when it is not a valid one.
 */
Datum
cdp_try_oms(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	int64		v;

	if (!CdpOmsParse(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &v, NULL))
		PG_RETURN_NULL();
	PG_RETURN_CDP_OMS(v);
}

PG_FUNCTION_INFO_V1(cdp_is_valid_oms);

/*
 * cdp_is_valid_oms
 *		Whether a text is a valid OMS policy number (form, check digit).
 */
Datum
cdp_is_valid_oms(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	int64		v;

	PG_RETURN_BOOL(CdpOmsParse(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &v, NULL));
}
