/*-------------------------------------------------------------------------
 *
 * src/type_snils.c
 *		cdp.snils: the Russian individual insurance account number (СНИЛС),
 *		11 digits "XXX-XXX-XXX YY" where YY is a check number over the first
 *		nine digits.  Stored as int8 (the 11 digits read as one number),
 *		passed by value; comparison and hashing reuse the int8 functions.
 *
 * Check number (the Pension Fund of Russia rule, as restated in issue 3;
 * see doc/types.md for sources): multiply the digits d1..d9 by
 * 9, 8, ..., 1 and add them up to s.  If s < 100 the check is s; if s is
 * 100 or 101 it is 00; if s > 101 it is s mod 101, with 100 written as
 * 00.  Only numbers above 001-001-998 carry a check; smaller ones are
 * reserved and are rejected here.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"

#include "types.h"

#define SNILS_TYPNAME	"cdp.snils"
#define SNILS_HINT		"Write 11 digits, for example \"123-456-789 64\", \"123 456 789 64\" or \"12345678964\"."

/*
 * CdpSnilsCheckDigits
 *		The check number (0..99) for the 9-digit number.
 */
int
CdpSnilsCheckDigits(int64 number)
{
	int			sum = 0;
	int			weight;

	/* the last digit has weight 1, the first weight 9 */
	for (weight = 1; weight <= 9; weight++)
	{
		sum += (int) (number % 10) * weight;
		number /= 10;
	}
	if (sum < 100)
		return sum;
	if (sum == 100 || sum == 101)
		return 0;
	sum %= 101;
	return sum == 100 ? 0 : sum;
}

/*
 * CdpSnilsParse
 *		Non-throwing parser shared by snils_in, snils_recv, try_snils and
 *		is_valid_snils.  On success *out is the 11-digit value.
 */
bool
CdpSnilsParse(const char *s, int len, int64 *out, CdpTypeError *err)
{
	char		digits[11];
	int			nd;
	int64		number = 0;
	int			check;
	int			expected;
	int			i;

	if (!CdpTypeCheckInput(s, len, CDP_SNILS_MAX_BYTES, err))
		return false;
	CdpTypeTrim(&s, &len);
	if (len == 0)
	{
		CdpTypeErrorSet(err, ERRCODE_INVALID_TEXT_REPRESENTATION, "The value is empty.");
		return false;
	}
	if (!CdpTypeScanDigitGroups(s, len, "a SNILS", digits, 11, &nd, err))
		return false;
	if (nd != 11)
	{
		CdpTypeErrorSet(err, ERRCODE_INVALID_TEXT_REPRESENTATION,
						"A SNILS has 11 digits; this value has %d.", nd);
		return false;
	}
	for (i = 0; i < 9; i++)
		number = number * 10 + (digits[i] - '0');
	check = (digits[9] - '0') * 10 + (digits[10] - '0');
	if (number <= CDP_SNILS_MIN_NUMBER)
	{
		CdpTypeErrorSet(err, ERRCODE_INVALID_PARAMETER_VALUE,
						"Numbers up to 001-001-998 are reserved and are never issued.");
		return false;
	}
	expected = CdpSnilsCheckDigits(number);
	if (check != expected)
	{
		CdpTypeErrorSet(err, ERRCODE_INVALID_PARAMETER_VALUE,
						"The check number should be %02d, not %02d.", expected, check);
		return false;
	}
	*out = number * 100 + check;
	return true;
}

/*
 * CdpParseSnils
 *		C API for other families: like CdpSnilsParse, with only the detail.
 */
bool
CdpParseSnils(const char *s, int len, int64 *out, const char **why)
{
	CdpTypeError err = {0, NULL};
	bool		ok = CdpSnilsParse(s, len, out, &err);

	if (why)
		*why = ok ? NULL : err.detail;
	return ok;
}

/*
 * CdpSnilsToCString
 *		The canonical text form "123-456-789 64".
 */
char *
CdpSnilsToCString(int64 v)
{
	int64		number = v / 100;

	return psprintf("%03d-%03d-%03d %02d",
					(int) (number / 1000000), (int) (number / 1000 % 1000),
					(int) (number % 1000), (int) (v % 100));
}

PG_FUNCTION_INFO_V1(cdp_snils_in);

/*
 * cdp_snils_in
 *		Text input: any accepted form, stored as the 11-digit number.
 */
Datum
cdp_snils_in(PG_FUNCTION_ARGS)
{
	char	   *s = PG_GETARG_CSTRING(0);
	int			len = strlen(s);
	int64		v;
	CdpTypeError err;

	if (!CdpSnilsParse(s, len, &v, &err))
		CdpTypeReportError(SNILS_TYPNAME, s, len, &err, SNILS_HINT);
	PG_RETURN_CDP_SNILS(v);
}

PG_FUNCTION_INFO_V1(cdp_snils_out);

/*
 * cdp_snils_out
 *		Text output in the canonical form.
 */
Datum
cdp_snils_out(PG_FUNCTION_ARGS)
{
	PG_RETURN_CSTRING(CdpSnilsToCString(PG_GETARG_CDP_SNILS(0)));
}

PG_FUNCTION_INFO_V1(cdp_snils_recv);

/*
 * cdp_snils_recv
 *		Binary input: an int8 holding the 11 digits.  It goes through the same
 *		parser as text input, so it is exactly as strict.
 */
Datum
cdp_snils_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int64		given = pq_getmsgint64(buf);
	int64		v;
	char	   *s;
	CdpTypeError err;

	s = psprintf("%011lld", (long long) given);
	if (given < 0 || given > CDP_SNILS_MAX_VALUE)
	{
		err.sqlstate = ERRCODE_INVALID_BINARY_REPRESENTATION;
		err.detail = "A binary SNILS is an int8 between 0 and 99999999999.";
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid external binary value for type %s: \"%s\"", SNILS_TYPNAME,
						CdpTypeShowValue(s, strlen(s))),
				 errdetail_internal("%s", err.detail)));
	}
	if (!CdpSnilsParse(s, strlen(s), &v, &err))
		CdpTypeReportError(SNILS_TYPNAME, s, strlen(s), &err, SNILS_HINT);
	PG_RETURN_CDP_SNILS(v);
}

PG_FUNCTION_INFO_V1(cdp_snils_send);

/*
 * cdp_snils_send
 *		Binary output: the int8.
 */
Datum
cdp_snils_send(PG_FUNCTION_ARGS)
{
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint64(&buf, PG_GETARG_CDP_SNILS(0));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

PG_FUNCTION_INFO_V1(cdp_try_snils);

/*
 * cdp_try_snils
 *		The SNILS in a text, or NULL when it is not a valid one.
 */
Datum
cdp_try_snils(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	int64		v;

	if (!CdpSnilsParse(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &v, NULL))
		PG_RETURN_NULL();
	PG_RETURN_CDP_SNILS(v);
}

PG_FUNCTION_INFO_V1(cdp_is_valid_snils);

/*
 * cdp_is_valid_snils
 *		Whether a text is a valid SNILS (form, reserved range, check number).
 */
Datum
cdp_is_valid_snils(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	int64		v;

	PG_RETURN_BOOL(CdpSnilsParse(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &v, NULL));
}
