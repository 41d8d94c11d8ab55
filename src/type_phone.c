/*-------------------------------------------------------------------------
 *
 * src/type_phone.c
 *		cdp.phone: a telephone number in canonical E.164 form with an
 *		optional extension.  Russian habits are understood (8 as the trunk
 *		prefix, 10 bare national digits, "доб." for the extension); other
 *		countries need "+" or "00" and their country code.
 *
 * Layout (src/types.h): 16 bytes by reference, {int64 e164, int32 ext,
 * int32 reserved = 0}.  Ordering is by number, then extension; hashing is
 * by value (not raw bytes), so it does not depend on byte order.  Text
 * output is "+79161234567" or "+79161234567;ext=12" (the RFC 3966 way of
 * writing an extension), which the input accepts again.
 *
 * Country codes: ITU-T E.164 and its list of assigned codes (Operational
 * Bulletin annex "List of ITU-T Recommendation E.164 assigned country
 * codes").  Codes are 1 to 3 digits and prefix-free; codes 1 and 7 are
 * one digit, a fixed set is two digits, the rest three.  The spare zones
 * 28x, 83x and 89x are rejected; other unassigned three-digit codes are
 * not (the list changes, and a wrong rejection loses data).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "fmgr.h"
#include "libpq/pqformat.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "types.h"

StaticAssertDecl(sizeof(CdpPhone) == 16, "cdp.phone is 16 bytes without padding");

#define PHONE_TYPNAME	"cdp.phone"
#define PHONE_HINT		"Write a Russian number such as \"+7 916 123-45-67\" or \"8 (916) 123-45-67\", " \
	"or an international one with \"+\" and its country code, such as \"+44 20 7946 0958\"; " \
	"an extension may follow \"доб.\" or \"ext.\"."

/* two-digit E.164 country codes (every other code but 1 and 7 has three) */
static const char *const TwoDigitCodes[] = {
	"20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45",
	"46", "47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61",
	"62", "63", "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94",
	"95", "98"
};

/* extension markers, longest first; upper has the same bytes in upper case */
static const struct
{
	const char *lower;
	const char *upper;
	bool		utf8;			/* Cyrillic: only in a UTF-8 database */
}			ExtMarkers[] =
{
	{";ext=", ";EXT=", false},
	{"доб.", "ДОБ.", true},
	{"доб", "ДОБ", true},
	{"ext.", "EXT.", false},
	{"ext", "EXT", false},
	{"x", "X", false},
	{"#", "#", false}
};

/*
 * CdpPhoneCountryCodeLength
 *		How many of the leading E.164 digits are the country code: 1, 2 or
 *		3, or 0 when they start with 0 or fall in a spare zone (28x, 83x,
 *		89x).  ndigits must be at least 3.
 */
int
CdpPhoneCountryCodeLength(const char *digits, int ndigits)
{
	int			i;

	if (ndigits < 1 || digits[0] == '0')
		return 0;
	if (digits[0] == '1' || digits[0] == '7')
		return 1;
	if (ndigits < 2)
		return 0;
	if ((digits[0] == '2' && digits[1] == '8') ||
		(digits[0] == '8' && (digits[1] == '3' || digits[1] == '9')))
		return 0;
	for (i = 0; i < lengthof(TwoDigitCodes); i++)
		if (digits[0] == TwoDigitCodes[i][0] && digits[1] == TwoDigitCodes[i][1])
			return 2;
	return 3;
}

/*
 * MatchExtMarker
 *		Length in bytes of the extension marker at s, or 0 when there is none.
 *		ASCII letters match in either case; Cyrillic ones too, byte by byte
 *		(each letter of "доб" differs from its capital only in the second
 *		byte).
 */
static int
MatchExtMarker(const char *s, int len)
{
	int			m;

	for (m = 0; m < lengthof(ExtMarkers); m++)
	{
		const char *lo = ExtMarkers[m].lower;
		const char *up = ExtMarkers[m].upper;
		int			mlen = strlen(lo);
		int			k;

		if (mlen > len || (ExtMarkers[m].utf8 && GetDatabaseEncoding() != PG_UTF8))
			continue;
		for (k = 0; k < mlen; k++)
			if (s[k] != lo[k] && s[k] != up[k])
				break;
		if (k == mlen)
			return mlen;
	}
	return 0;
}

/*
 * ParseExtension
 *		Reads the extension that follows a marker: optional spaces and colon,
 *		then 1 to 9 digits not starting with 0, then the end of the value.
 */
static bool
ParseExtension(const char *s, int len, int pos, const char *marker, int mlen,
			   int32 *ext, CdpTypeError *err)
{
	int			start;
	int32		v = 0;

	while (pos < len && (s[pos] == ' ' || s[pos] == '\t' || s[pos] == ':'))
		pos++;
	start = pos;
	while (pos < len && s[pos] >= '0' && s[pos] <= '9')
	{
		if (pos - start < CDP_PHONE_MAX_EXT_DIGITS)
			v = v * 10 + (s[pos] - '0');
		pos++;
	}
	if (pos == start || pos - start > CDP_PHONE_MAX_EXT_DIGITS)
	{
		CdpTypeErrorSet(err, ERRCODE_INVALID_TEXT_REPRESENTATION,
						"The extension after \"%s\" must be 1 to %d digits.",
						CdpTypeShowValue(marker, mlen), CDP_PHONE_MAX_EXT_DIGITS);
		return false;
	}
	if (s[start] == '0')
	{
		CdpTypeErrorSet(err, ERRCODE_INVALID_TEXT_REPRESENTATION,
						"An extension cannot start with 0.");
		return false;
	}
	if (pos < len)
	{
		CdpTypeErrorSet(err, ERRCODE_INVALID_TEXT_REPRESENTATION,
						"Nothing may follow the extension, but \"%s\" does.",
						CdpTypeShowValue(s + pos, len - pos));
		return false;
	}
	*ext = v;
	return true;
}

/*
 * CdpPhoneParse
 *		Non-throwing parser shared by phone_in, phone_recv, try_phone,
 *		is_valid_phone and C callers.  See doc/types.md for the rules.
 */
bool
CdpPhoneParse(const char *s, int len, CdpPhone *out, CdpTypeError *err)
{
	char		digits[CDP_PHONE_MAX_BYTES + 1];
	char	   *d = digits;
	int			nd = 0;
	bool		plus = false;
	int32		ext = 0;
	int			cc;
	int64		v = 0;
	int			i;

	if (!CdpTypeCheckInput(s, len, CDP_PHONE_MAX_BYTES, err))
		return false;
	CdpTypeTrim(&s, &len);
	if (len == 0)
	{
		CdpTypeErrorSet(err, ERRCODE_INVALID_TEXT_REPRESENTATION, "The value is empty.");
		return false;
	}

	i = 0;
	if (s[0] == '+')
	{
		plus = true;
		i = 1;
	}
	for (; i < len; i++)
	{
		char		c = s[i];
		int			mlen;

		if (c >= '0' && c <= '9')
			digits[nd++] = c;
		else if (c == ' ' || c == '\t' || c == '-' || c == '(' || c == ')' || c == '.')
			continue;
		else if ((mlen = MatchExtMarker(s + i, len - i)) > 0)
		{
			if (nd == 0)
			{
				CdpTypeErrorSet(err, ERRCODE_INVALID_TEXT_REPRESENTATION,
								"The extension marker \"%s\" must follow the number.",
								CdpTypeShowValue(s + i, mlen));
				return false;
			}
			if (!ParseExtension(s, len, i + mlen, s + i, mlen, &ext, err))
				return false;
			break;
		}
		else if (c == '+')
		{
			CdpTypeErrorSet(err, ERRCODE_INVALID_TEXT_REPRESENTATION,
							"A \"+\" may only stand at the start of the number.");
			return false;
		}
		else
		{
			CdpTypeErrorSet(err, ERRCODE_INVALID_TEXT_REPRESENTATION,
							"The character \"%s\" is not allowed in a phone number.",
							CdpTypeShowChar(s, len, i));
			return false;
		}
	}
	if (nd == 0)
	{
		CdpTypeErrorSet(err, ERRCODE_INVALID_TEXT_REPRESENTATION,
						"The value has no digits.");
		return false;
	}

	if (!plus && nd > 2 && digits[0] == '0' && digits[1] == '0')
	{
		/* 00: the international call prefix used in Europe */
		d += 2;
		nd -= 2;
	}
	else if (!plus)
	{
		/* no international prefix: a Russian number, national or with 8/7 */
		if (nd == 10)
		{
			memmove(digits + 1, digits, nd);
			digits[0] = '7';
			nd++;
		}
		else if (nd == 11 && (digits[0] == '8' || digits[0] == '7'))
			digits[0] = '7';
		else
		{
			CdpTypeErrorSet(err, ERRCODE_INVALID_TEXT_REPRESENTATION,
							"A number without \"+\" or \"00\" is read as Russian and needs 10 digits, "
							"or 11 starting with 8 or 7; this one has %d.", nd);
			return false;
		}
	}

	if (nd > CDP_PHONE_MAX_DIGITS)
	{
		CdpTypeErrorSet(err, ERRCODE_INVALID_TEXT_REPRESENTATION,
						"A phone number has at most %d digits with its country code (ITU-T E.164); this one has %d.",
						CDP_PHONE_MAX_DIGITS, nd);
		return false;
	}
	if (nd < CDP_PHONE_MIN_DIGITS)
	{
		CdpTypeErrorSet(err, ERRCODE_INVALID_TEXT_REPRESENTATION,
						"A phone number has at least %d digits with its country code; this one has %d.",
						CDP_PHONE_MIN_DIGITS, nd);
		return false;
	}
	if (d[0] == '0')
	{
		CdpTypeErrorSet(err, ERRCODE_INVALID_PARAMETER_VALUE,
						"A country code cannot start with 0.");
		return false;
	}
	cc = CdpPhoneCountryCodeLength(d, nd);
	if (cc == 0)
	{
		CdpTypeErrorSet(err, ERRCODE_INVALID_PARAMETER_VALUE,
						"No country code starts with \"%c%c\" (a spare E.164 zone).",
						d[0], d[1]);
		return false;
	}
	if (d[0] == '7')
	{
		if (nd != 11)
		{
			CdpTypeErrorSet(err, ERRCODE_INVALID_PARAMETER_VALUE,
							"A number with country code 7 has 10 digits after it; this one has %d.",
							nd - 1);
			return false;
		}
		if (d[1] == '0')
		{
			CdpTypeErrorSet(err, ERRCODE_INVALID_PARAMETER_VALUE,
							"A number with country code 7 cannot have 0 as its first national digit.");
			return false;
		}
	}

	for (i = 0; i < nd; i++)
		v = v * 10 + (d[i] - '0');
	out->e164 = v;
	out->ext = ext;
	out->reserved = 0;
	return true;
}

/*
 * CdpParsePhone
 *		C API for other families: like CdpPhoneParse, with only the detail.
 */
bool
CdpParsePhone(const char *s, int len, CdpPhone *out, const char **why)
{
	CdpTypeError err = {0, NULL};
	bool		ok = CdpPhoneParse(s, len, out, &err);

	if (why)
		*why = ok ? NULL : err.detail;
	return ok;
}

/*
 * CdpPhoneE164Digits
 *		The E.164 digits without "+" and without the extension.
 */
char *
CdpPhoneE164Digits(const CdpPhone *p)
{
	return psprintf(INT64_FORMAT, p->e164);
}

/*
 * CdpPhoneToCString
 *		The canonical text form: "+79161234567" or "+79161234567;ext=12".
 */
char *
CdpPhoneToCString(const CdpPhone *p)
{
	if (p->ext != 0)
		return psprintf("+" INT64_FORMAT ";ext=%d", p->e164, p->ext);
	return psprintf("+" INT64_FORMAT, p->e164);
}

/*
 * CdpPhoneGetKind
 *		Line type from the numbering plan: for +7, 9xx is mobile, 800 and 804
 *		are toll-free, other 3xx, 4xx and 8xx are geographic (landline); the
 *		rest of +7 and every other country is unknown.
 */
CdpPhoneKind
CdpPhoneGetKind(const CdpPhone *p)
{
	char	   *d = CdpPhoneE164Digits(p);
	CdpPhoneKind kind = CDP_PHONE_KIND_UNKNOWN;

	if (d[0] == '7' && strlen(d) == 11)
	{
		if (d[1] == '9')
			kind = CDP_PHONE_KIND_MOBILE;
		else if (d[1] == '8' && d[2] == '0' && (d[3] == '0' || d[3] == '4'))
			kind = CDP_PHONE_KIND_TOLL_FREE;
		else if (d[1] == '3' || d[1] == '4' || d[1] == '8')
			kind = CDP_PHONE_KIND_LANDLINE;
	}
	pfree(d);
	return kind;
}

/*
 * CdpPhoneCmp
 *		Three-way comparison: by number, then by extension (none first).
 */
int
CdpPhoneCmp(const CdpPhone *a, const CdpPhone *b)
{
	if (a->e164 != b->e164)
		return a->e164 < b->e164 ? -1 : 1;
	if (a->ext != b->ext)
		return a->ext < b->ext ? -1 : 1;
	return 0;
}

PG_FUNCTION_INFO_V1(cdp_phone_in);

/*
 * cdp_phone_in
 *		Text input.
 */
Datum
cdp_phone_in(PG_FUNCTION_ARGS)
{
	char	   *s = PG_GETARG_CSTRING(0);
	int			len = strlen(s);
	CdpPhone   *p = palloc(sizeof(CdpPhone));
	CdpTypeError err;

	if (!CdpPhoneParse(s, len, p, &err))
		CdpTypeReportError(PHONE_TYPNAME, s, len, &err, PHONE_HINT);
	PG_RETURN_CDP_PHONE_P(p);
}

PG_FUNCTION_INFO_V1(cdp_phone_out);

/*
 * cdp_phone_out
 *		Text output in the canonical form.
 */
Datum
cdp_phone_out(PG_FUNCTION_ARGS)
{
	PG_RETURN_CSTRING(CdpPhoneToCString(PG_GETARG_CDP_PHONE_P(0)));
}

PG_FUNCTION_INFO_V1(cdp_phone_recv);

/*
 * cdp_phone_recv
 *		Binary input: int8 number, int4 extension, int4 reserved (0).  The
 *		value is printed and parsed again, so recv is exactly as strict as
 *		text input.
 */
Datum
cdp_phone_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	CdpPhone	given;
	CdpPhone   *p = palloc(sizeof(CdpPhone));
	char	   *s;
	CdpTypeError err;

	given.e164 = pq_getmsgint64(buf);
	given.ext = (int32) pq_getmsgint(buf, 4);
	given.reserved = (int32) pq_getmsgint(buf, 4);
	if (given.reserved != 0 || given.e164 <= 0 || given.ext < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid external binary value for type %s", PHONE_TYPNAME),
				 errdetail("The number must be positive, the extension not negative and the reserved field 0; "
						   "got " INT64_FORMAT ", %d and %d.",
						   given.e164, given.ext, given.reserved)));
	s = CdpPhoneToCString(&given);
	if (!CdpPhoneParse(s, strlen(s), p, &err))
		CdpTypeReportError(PHONE_TYPNAME, s, strlen(s), &err, PHONE_HINT);
	PG_RETURN_CDP_PHONE_P(p);
}

PG_FUNCTION_INFO_V1(cdp_phone_send);

/*
 * cdp_phone_send
 *		Binary output: int8 number, int4 extension, int4 reserved.
 */
Datum
cdp_phone_send(PG_FUNCTION_ARGS)
{
	CdpPhone   *p = PG_GETARG_CDP_PHONE_P(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint64(&buf, p->e164);
	pq_sendint32(&buf, p->ext);
	pq_sendint32(&buf, p->reserved);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

PG_FUNCTION_INFO_V1(cdp_try_phone);

/*
 * cdp_try_phone
 *		The phone number in a text, or NULL when it is not a valid one.
 */
Datum
cdp_try_phone(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	CdpPhone   *p = palloc(sizeof(CdpPhone));

	if (!CdpPhoneParse(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), p, NULL))
		PG_RETURN_NULL();
	PG_RETURN_CDP_PHONE_P(p);
}

PG_FUNCTION_INFO_V1(cdp_is_valid_phone);

/*
 * cdp_is_valid_phone
 *		Whether a text is a valid phone number.
 */
Datum
cdp_is_valid_phone(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	CdpPhone	p;

	PG_RETURN_BOOL(CdpPhoneParse(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &p, NULL));
}

PG_FUNCTION_INFO_V1(cdp_phone_kind);

/*
 * cdp_phone_kind
 *		'mobile', 'landline', 'toll_free' or 'unknown' (see CdpPhoneGetKind).
 */
Datum
cdp_phone_kind(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"unknown", "mobile", "landline", "toll_free"};

	PG_RETURN_TEXT_P(cstring_to_text(names[CdpPhoneGetKind(PG_GETARG_CDP_PHONE_P(0))]));
}

PG_FUNCTION_INFO_V1(cdp_phone_e164);

/*
 * cdp_phone_e164
 *		The number as "+<digits>", without the extension.
 */
Datum
cdp_phone_e164(PG_FUNCTION_ARGS)
{
	CdpPhone   *p = PG_GETARG_CDP_PHONE_P(0);

	PG_RETURN_TEXT_P(cstring_to_text(psprintf("+" INT64_FORMAT, p->e164)));
}

PG_FUNCTION_INFO_V1(cdp_phone_extension);

/*
 * cdp_phone_extension
 *		The extension, or NULL when there is none.
 */
Datum
cdp_phone_extension(PG_FUNCTION_ARGS)
{
	CdpPhone   *p = PG_GETARG_CDP_PHONE_P(0);

	if (p->ext == 0)
		PG_RETURN_NULL();
	PG_RETURN_INT32(p->ext);
}

PG_FUNCTION_INFO_V1(cdp_phone_national);

/*
 * cdp_phone_national
 *		The national significant number: the digits after the country code.
 */
Datum
cdp_phone_national(PG_FUNCTION_ARGS)
{
	char	   *d = CdpPhoneE164Digits(PG_GETARG_CDP_PHONE_P(0));
	int			nd = strlen(d);
	int			cc = CdpPhoneCountryCodeLength(d, nd);

	if (cc <= 0 || cc >= nd)
		elog(ERROR, "stored phone number \"%s\" has no valid country code", d);
	PG_RETURN_TEXT_P(cstring_to_text(d + cc));
}

PG_FUNCTION_INFO_V1(cdp_phone_cmp);

/*
 * cdp_phone_cmp
 *		btree support function 1.
 */
Datum
cdp_phone_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(CdpPhoneCmp(PG_GETARG_CDP_PHONE_P(0), PG_GETARG_CDP_PHONE_P(1)));
}

/* the six comparison operators, each a thin wrapper over CdpPhoneCmp */
#define PHONE_CMP_FN(name, test) \
PG_FUNCTION_INFO_V1(name); \
Datum \
name(PG_FUNCTION_ARGS) \
{ \
	int			c = CdpPhoneCmp(PG_GETARG_CDP_PHONE_P(0), PG_GETARG_CDP_PHONE_P(1)); \
	PG_RETURN_BOOL(test); \
}

/* cdp_phone_eq: a = b */
PHONE_CMP_FN(cdp_phone_eq, c == 0)
/* cdp_phone_ne: a <> b */
PHONE_CMP_FN(cdp_phone_ne, c != 0)
/* cdp_phone_lt: a < b */
PHONE_CMP_FN(cdp_phone_lt, c < 0)
/* cdp_phone_le: a <= b */
PHONE_CMP_FN(cdp_phone_le, c <= 0)
/* cdp_phone_gt: a > b */
PHONE_CMP_FN(cdp_phone_gt, c > 0)
/* cdp_phone_ge: a >= b */
PHONE_CMP_FN(cdp_phone_ge, c >= 0)

/*
 * PhoneHashBase
 *		Folds the 64-bit number into 32 bits the way hashint8 does, so the
 *		hash depends on the value, not on the byte order of the machine.
 */
static inline uint32
PhoneHashBase(const CdpPhone *p)
{
	uint64		v = (uint64) p->e164;

	return (uint32) v ^ (uint32) (v >> 32);
}

PG_FUNCTION_INFO_V1(cdp_phone_hash);

/*
 * cdp_phone_hash
 *		hash support function 1: the number's hash, combined with the
 *		extension's when there is one.
 */
Datum
cdp_phone_hash(PG_FUNCTION_ARGS)
{
	CdpPhone   *p = PG_GETARG_CDP_PHONE_P(0);
	uint32		h = DatumGetUInt32(hash_uint32(PhoneHashBase(p)));

	if (p->ext != 0)
		h = hash_combine(h, DatumGetUInt32(hash_uint32((uint32) p->ext)));
	PG_RETURN_UINT32(h);
}

PG_FUNCTION_INFO_V1(cdp_phone_hash_extended);

/*
 * cdp_phone_hash_extended
 *		hash support function 2: the same, 64 bits wide and seeded (hash
 *		partitioning, Citus distribution).
 */
Datum
cdp_phone_hash_extended(PG_FUNCTION_ARGS)
{
	CdpPhone   *p = PG_GETARG_CDP_PHONE_P(0);
	uint64		seed = (uint64) PG_GETARG_INT64(1);
	uint64		h = DatumGetUInt64(hash_uint32_extended(PhoneHashBase(p), seed));

	if (p->ext != 0)
		h = hash_combine64(h, DatumGetUInt64(hash_uint32_extended((uint32) p->ext, seed)));
	PG_RETURN_UINT64(h);
}
