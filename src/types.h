/*-------------------------------------------------------------------------
 *
 * src/types.h
 *		The identifier types of layer 1: cdp.phone, cdp.email, cdp.snils and
 *		cdp.oms.  Their in-memory layouts, fmgr macros, and the C API other
 *		families use to parse and print identifiers without going through SQL.
 *
 * Every parser here is non-throwing: it returns false and a detail sentence
 * instead of raising, so the strict input functions, the try_* and
 * is_valid_* functions and C callers (ingest, compare) share one parser.
 * Parsers take a pointer and an explicit length (the value need not be
 * NUL-terminated) in the database encoding, and palloc their results.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CDP_TYPES_H
#define CDP_TYPES_H

#include "postgres.h"

#include "fmgr.h"

/* ---------------------------------------------------------------------
 * Shared limits and error reporting
 * ---------------------------------------------------------------------
 */

/*
 * Longest input (in bytes, before trimming) each type accepts.  Real values
 * are far shorter; the caps are checked before any other work so a hostile
 * 1 MB string costs nothing.
 */
#define CDP_PHONE_MAX_BYTES		256
#define CDP_SNILS_MAX_BYTES		256
#define CDP_OMS_MAX_BYTES		256
#define CDP_EMAIL_MAX_BYTES		320

/* How many bytes of a rejected value an error message quotes. */
#define CDP_TYPE_SHOW_BYTES		64

/*
 * Why a parser rejected a value: the SQLSTATE (ERRCODE_INVALID_TEXT_REPRESENTATION
 * for malformed text, ERRCODE_INVALID_PARAMETER_VALUE for well-formed values
 * that are invalid, such as a wrong check digit) and a palloc'd detail
 * sentence.
 */
typedef struct CdpTypeError
{
	int			sqlstate;
	const char *detail;
} CdpTypeError;

/* type_common.c */
extern void CdpTypeErrorSet(CdpTypeError *err, int sqlstate, const char *fmt,...) pg_attribute_printf(3, 4);
extern const char *CdpTypeRedactDetail(const char *detail, int sqlstate);	/* cdp.redact_values */
extern char *CdpTypeShowValue(const char *s, int len);
extern bool CdpTypeCheckInput(const char *s, int len, int maxbytes, CdpTypeError *err);
extern void CdpTypeTrim(const char **s, int *len);
extern char *CdpTypeShowChar(const char *s, int len, int pos);
extern bool CdpTypeScanDigitGroups(const char *s, int len, const char *what,
								   char *digits, int maxdigits, int *ndigits,
								   CdpTypeError *err);
extern void CdpTypeReportError(const char *typname, const char *s, int len,
							   const CdpTypeError *err, const char *hint) pg_attribute_noreturn();

/* ---------------------------------------------------------------------
 * cdp.phone: fixed 16 bytes, passed by reference, double-aligned
 * ---------------------------------------------------------------------
 */

/*
 * e164 holds the E.164 digits (country code first) as an integer: a country
 * code never starts with 0, so no leading zero is lost.  ext is the
 * extension (0 = none; an extension cannot start with 0).  reserved is
 * always 0; recv rejects anything else so the field can carry a version or
 * flags later.  The struct has no padding, so it hashes as raw bytes.
 */
typedef struct CdpPhone
{
	int64		e164;
	int32		ext;
	int32		reserved;
} CdpPhone;

#define CDP_PHONE_MIN_DIGITS	7	/* shortest E.164 number (e.g. +683 1234) */
#define CDP_PHONE_MAX_DIGITS	15	/* ITU-T E.164 section 6.1 */
#define CDP_PHONE_MAX_EXT_DIGITS 9	/* fits int32 */

#define DatumGetCdpPhoneP(X)		((CdpPhone *) DatumGetPointer(X))
#define CdpPhonePGetDatum(X)		PointerGetDatum(X)
#define PG_GETARG_CDP_PHONE_P(n)	DatumGetCdpPhoneP(PG_GETARG_DATUM(n))
#define PG_RETURN_CDP_PHONE_P(x)	return CdpPhonePGetDatum(x)

/* what cdp.phone_kind() returns */
typedef enum CdpPhoneKind
{
	CDP_PHONE_KIND_UNKNOWN = 0,
	CDP_PHONE_KIND_MOBILE,
	CDP_PHONE_KIND_LANDLINE,
	CDP_PHONE_KIND_TOLL_FREE
} CdpPhoneKind;

extern bool CdpParsePhone(const char *s, int len, CdpPhone *out, const char **why);
extern bool CdpPhoneParse(const char *s, int len, CdpPhone *out, CdpTypeError *err);
extern char *CdpPhoneToCString(const CdpPhone *p);	/* "+79161234567;ext=12" */
extern char *CdpPhoneE164Digits(const CdpPhone *p); /* "79161234567" */
extern int	CdpPhoneCountryCodeLength(const char *digits, int ndigits);
extern CdpPhoneKind CdpPhoneGetKind(const CdpPhone *p);
extern int	CdpPhoneCmp(const CdpPhone *a, const CdpPhone *b);

/* ---------------------------------------------------------------------
 * cdp.email: varlena holding the canonical "local@domain" bytes
 * ---------------------------------------------------------------------
 */

#define CDP_EMAIL_MAX_LOCAL		64	/* RFC 5321 section 4.5.3.1.1 */
#define CDP_EMAIL_MAX_DOMAIN	253 /* RFC 1035, after conversion to ASCII */
#define CDP_EMAIL_MAX_LABEL		63

#define DatumGetCdpEmailPP(X)		((text *) PG_DETOAST_DATUM_PACKED(X))
#define PG_GETARG_CDP_EMAIL_PP(n)	DatumGetCdpEmailPP(PG_GETARG_DATUM(n))
#define PG_RETURN_CDP_EMAIL_P(x)	PG_RETURN_TEXT_P(x)

extern bool CdpParseEmail(const char *s, int len, char **out, const char **why);
extern bool CdpEmailParse(const char *s, int len, char **out, CdpTypeError *err);
extern int	CdpEmailCmp(const char *a, int alen, const char *b, int blen);
extern char *CdpEmailCaseKey(const char *s, int len, int *keylen);

/* ---------------------------------------------------------------------
 * cdp.snils and cdp.oms: int8, passed by value
 * ---------------------------------------------------------------------
 */

/* SNILS: the 11 digits as a number (9-digit number * 100 + check). */
#define CDP_SNILS_MAX_VALUE		INT64CONST(99999999999)
/* numbers up to 001-001-998 are reserved and carry no check digit */
#define CDP_SNILS_MIN_NUMBER	1001998

/* OMS: the 16 digits of the unified policy number, check digit last. */
#define CDP_OMS_MAX_VALUE		INT64CONST(9999999999999999)

#define PG_GETARG_CDP_SNILS(n)	PG_GETARG_INT64(n)
#define PG_RETURN_CDP_SNILS(x)	PG_RETURN_INT64(x)
#define PG_GETARG_CDP_OMS(n)	PG_GETARG_INT64(n)
#define PG_RETURN_CDP_OMS(x)	PG_RETURN_INT64(x)

extern bool CdpParseSnils(const char *s, int len, int64 *out, const char **why);
extern bool CdpSnilsParse(const char *s, int len, int64 *out, CdpTypeError *err);
extern int	CdpSnilsCheckDigits(int64 number);
extern char *CdpSnilsToCString(int64 v);	/* "123-456-789 64" */

extern bool CdpParseOms(const char *s, int len, int64 *out, const char **why);
extern bool CdpOmsParse(const char *s, int len, int64 *out, CdpTypeError *err);
extern int	CdpOmsCheckDigit(const char *digits15);
extern char *CdpOmsToCString(int64 v);	/* 16 digits */

#endif							/* CDP_TYPES_H */
