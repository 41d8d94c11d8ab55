/*-------------------------------------------------------------------------
 *
 * src/type_email.c
 *		cdp.email: an e-mail address "local@domain".  The stored form keeps
 *		the local part as written and the domain lower-cased and converted
 *		to ASCII (IDN labels in punycode, via ICU's UTS #46 implementation).
 *		Equality, ordering and hashing ignore the case of the local part:
 *		they compare (casefold(local), domain).
 *
 * Rules: RFC 5321 (lengths: local part 64 octets, domain 253), RFC 5322
 * section 3.2.3 (dot-atom local parts; quoted local parts are not
 * accepted), RFC 6531 (UTF-8 local parts), UTS #46 with STD3 rules,
 * nontransitional processing, CheckBidi and CheckJoiners (domains).
 *
 * Storage is a varlena holding the canonical bytes, like text, in the
 * database encoding; non-ASCII addresses need a UTF-8 database.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "fmgr.h"
#include "libpq/pqformat.h"
#include "mb/pg_wchar.h"
#include "port/pg_bswap.h"
#include "utils/builtins.h"
#include "utils/sortsupport.h"

#include <unicode/uchar.h>
#include <unicode/uidna.h>
#include <unicode/ustring.h>

#include "types.h"

#define EMAIL_TYPNAME	"cdp.email"
#define EMAIL_HINT		"Write one address such as \"ivanov@mail.ru\" or \"иванов@почта.рф\", without a display name or brackets."

/* UTS #46 options: see the file header */
#define EMAIL_IDNA_OPTIONS	(UIDNA_USE_STD3_RULES | UIDNA_CHECK_BIDI | \
							 UIDNA_CHECK_CONTEXTJ | UIDNA_NONTRANSITIONAL_TO_ASCII)

/* the converter, opened once per backend (ICU owns its memory) */
static UIDNA *EmailIdna = NULL;

/*
 * EmailGetIdna
 *		The cached UTS #46 converter.  Failing to open it is not a user
 *		error, so this raises.
 */
static UIDNA *
EmailGetIdna(void)
{
	if (EmailIdna == NULL)
	{
		UErrorCode	status = U_ZERO_ERROR;
		UIDNA	   *idna = uidna_openUTS46(EMAIL_IDNA_OPTIONS, &status);

		if (U_FAILURE(status) || idna == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
					 errmsg("could not open the ICU IDNA converter: %s", u_errorName(status))));
		EmailIdna = idna;
	}
	return EmailIdna;
}

/*
 * IdnaErrorText
 *		A sentence fragment for the first UTS #46 error bit set in errors.
 */
static const char *
IdnaErrorText(uint32_t errors)
{
	if (errors & UIDNA_ERROR_EMPTY_LABEL)
		return "it has an empty label";
	if (errors & UIDNA_ERROR_LABEL_TOO_LONG)
		return "a label is longer than 63 bytes";
	if (errors & UIDNA_ERROR_DOMAIN_NAME_TOO_LONG)
		return "it is longer than 253 bytes";
	if (errors & UIDNA_ERROR_LEADING_HYPHEN)
		return "a label starts with a hyphen";
	if (errors & UIDNA_ERROR_TRAILING_HYPHEN)
		return "a label ends with a hyphen";
	if (errors & UIDNA_ERROR_HYPHEN_3_4)
		return "a label has hyphens in its third and fourth places";
	if (errors & UIDNA_ERROR_LEADING_COMBINING_MARK)
		return "a label starts with a combining mark";
	if (errors & UIDNA_ERROR_DISALLOWED)
		return "it contains a character not allowed in host names";
	if (errors & (UIDNA_ERROR_PUNYCODE | UIDNA_ERROR_INVALID_ACE_LABEL))
		return "an xn-- label is not valid punycode";
	if (errors & UIDNA_ERROR_BIDI)
		return "it mixes right-to-left and left-to-right labels in a way IDNA forbids";
	if (errors & (UIDNA_ERROR_CONTEXTJ | UIDNA_ERROR_CONTEXTO_PUNCTUATION |
				  UIDNA_ERROR_CONTEXTO_DIGITS))
		return "it uses a joiner or punctuation character out of its allowed context";
	return "IDNA processing rejected it";
}

/*
 * NeedUtf8
 *		Non-ASCII addresses are handled as UTF-8 (ICU, RFC 6531); in a
 *		database of another encoding they are refused rather than misread.
 */
static bool
NeedUtf8(CdpTypeError *err)
{
	if (GetDatabaseEncoding() == PG_UTF8)
		return true;
	CdpTypeErrorSet(err, ERRCODE_INVALID_TEXT_REPRESENTATION,
					"Addresses with non-ASCII characters need a UTF-8 database; this one is %s.",
					GetDatabaseEncodingName());
	return false;
}

/*
 * CheckLocalPart
 *		A dot-atom of RFC 5322 atext characters, or UTF-8 characters that are
 *		not white space, control, format, private-use or unassigned (RFC 6531).
 */
static bool
CheckLocalPart(const char *s, int len, CdpTypeError *err)
{
	int			i;

	if (len == 0)
	{
		CdpTypeErrorSet(err, ERRCODE_INVALID_TEXT_REPRESENTATION,
						"The local part (before \"@\") is empty.");
		return false;
	}
	if (len > CDP_EMAIL_MAX_LOCAL)
	{
		CdpTypeErrorSet(err, ERRCODE_INVALID_TEXT_REPRESENTATION,
						"The local part (before \"@\") is %d bytes long; at most %d are allowed.",
						len, CDP_EMAIL_MAX_LOCAL);
		return false;
	}
	if (s[0] == '.' || s[len - 1] == '.')
	{
		CdpTypeErrorSet(err, ERRCODE_INVALID_TEXT_REPRESENTATION,
						"The local part (before \"@\") cannot start or end with a dot.");
		return false;
	}
	for (i = 0; i < len;)
	{
		unsigned char c = (unsigned char) s[i];

		if (c >= 0x80)
		{
			int			n = pg_utf_mblen((const unsigned char *) s + i);
			UChar32		cp;
			int8_t		type;

			if (!NeedUtf8(err))
				return false;
			cp = (UChar32) utf8_to_unicode((const unsigned char *) s + i);
			type = u_charType(cp);
			if (u_isUWhiteSpace(cp) || type == U_CONTROL_CHAR || type == U_FORMAT_CHAR ||
				type == U_PRIVATE_USE_CHAR || type == U_UNASSIGNED || type == U_SURROGATE)
			{
				CdpTypeErrorSet(err, ERRCODE_INVALID_TEXT_REPRESENTATION,
								"The local part contains the character U+%04X, which is not allowed in an address.",
								(unsigned int) cp);
				return false;
			}
			i += n;
			continue;
		}
		if (c == '.' && s[i + 1] == '.')
		{
			CdpTypeErrorSet(err, ERRCODE_INVALID_TEXT_REPRESENTATION,
							"The local part (before \"@\") has two dots in a row.");
			return false;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~.", c) != NULL)))
		{
			CdpTypeErrorSet(err, ERRCODE_INVALID_TEXT_REPRESENTATION,
							"The character \"%s\" is not allowed in the local part (before \"@\"); quoted local parts are not supported.",
							CdpTypeShowChar(s, len, i));
			return false;
		}
		i++;
	}
	return true;
}

/*
 * ConvertDomain
 *		Checks the domain and returns it lower-cased, in ASCII (punycode for
 *		IDN labels), palloc'd.
 */
static char *
ConvertDomain(const char *s, int len, CdpTypeError *err)
{
	char		buf[CDP_EMAIL_MAX_BYTES * 2];
	UErrorCode	status = U_ZERO_ERROR;
	UIDNAInfo	info = UIDNA_INFO_INITIALIZER;
	int32_t		outlen;
	bool		ascii = true;
	bool		digits_only = true;
	int			i;

	if (len == 0)
	{
		CdpTypeErrorSet(err, ERRCODE_INVALID_TEXT_REPRESENTATION,
						"The domain (after \"@\") is empty.");
		return NULL;
	}
	if (s[0] == '[')
	{
		CdpTypeErrorSet(err, ERRCODE_INVALID_TEXT_REPRESENTATION,
						"Address literals such as \"[192.0.2.1]\" are not supported; a domain name is needed.");
		return NULL;
	}
	if (s[0] == '.' || s[len - 1] == '.')
	{
		CdpTypeErrorSet(err, ERRCODE_INVALID_TEXT_REPRESENTATION,
						"The domain (after \"@\") cannot start or end with a dot.");
		return NULL;
	}
	for (i = 0; i < len; i++)
	{
		if (s[i] == '.' && s[i + 1] == '.')
		{
			CdpTypeErrorSet(err, ERRCODE_INVALID_TEXT_REPRESENTATION,
							"The domain (after \"@\") has two dots in a row.");
			return NULL;
		}
		if ((unsigned char) s[i] >= 0x80)
			ascii = false;
	}
	if (!ascii && !NeedUtf8(err))
		return NULL;

	outlen = uidna_nameToASCII_UTF8(EmailGetIdna(), s, len, buf, sizeof(buf) - 1,
									&info, &status);
	if (status == U_BUFFER_OVERFLOW_ERROR ||
		(U_SUCCESS(status) && outlen > CDP_EMAIL_MAX_DOMAIN))
	{
		CdpTypeErrorSet(err, ERRCODE_INVALID_TEXT_REPRESENTATION,
						"The domain (after \"@\") is longer than %d bytes in ASCII form.",
						CDP_EMAIL_MAX_DOMAIN);
		return NULL;
	}
	if (U_FAILURE(status))
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("could not convert a domain with ICU: %s", u_errorName(status))));
	if (info.errors != 0)
	{
		CdpTypeErrorSet(err, ERRCODE_INVALID_TEXT_REPRESENTATION,
						"The domain \"%s\" is not a valid host name: %s.",
						CdpTypeShowValue(s, len), IdnaErrorText(info.errors));
		return NULL;
	}
	buf[outlen] = '\0';
	if (strchr(buf, '.') == NULL)
	{
		CdpTypeErrorSet(err, ERRCODE_INVALID_TEXT_REPRESENTATION,
						"The domain \"%s\" has no dot; an address needs a full domain such as \"mail.ru\".",
						CdpTypeShowValue(s, len));
		return NULL;
	}
	if (buf[outlen - 1] == '.')
	{
		CdpTypeErrorSet(err, ERRCODE_INVALID_TEXT_REPRESENTATION,
						"The domain (after \"@\") cannot start or end with a dot.");
		return NULL;
	}
	for (i = strrchr(buf, '.') - buf + 1; i < outlen; i++)
		if (buf[i] < '0' || buf[i] > '9')
			digits_only = false;
	if (digits_only)
	{
		CdpTypeErrorSet(err, ERRCODE_INVALID_TEXT_REPRESENTATION,
						"The domain \"%s\" looks like an IP address; a domain name is needed.",
						CdpTypeShowValue(s, len));
		return NULL;
	}
	return pstrdup(buf);
}

/*
 * CdpEmailParse
 *		Non-throwing parser shared by email_in, email_recv, try_email,
 *		is_valid_email and C callers.  On success *out is the canonical
 *		address, palloc'd and NUL-terminated.
 */
bool
CdpEmailParse(const char *s, int len, char **out, CdpTypeError *err)
{
	const char *at = NULL;
	int			nat = 0;
	int			i;
	char	   *domain;

	if (!CdpTypeCheckInput(s, len, CDP_EMAIL_MAX_BYTES, err))
		return false;
	CdpTypeTrim(&s, &len);
	if (len == 0)
	{
		CdpTypeErrorSet(err, ERRCODE_INVALID_TEXT_REPRESENTATION, "The value is empty.");
		return false;
	}
	for (i = 0; i < len; i++)
	{
		char		c = s[i];

		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f')
		{
			CdpTypeErrorSet(err, ERRCODE_INVALID_TEXT_REPRESENTATION,
							"The address contains white space; an address has none.");
			return false;
		}
		if (c == '@')
		{
			if (at == NULL)
				at = s + i;
			nat++;
		}
	}
	if (nat == 0)
	{
		CdpTypeErrorSet(err, ERRCODE_INVALID_TEXT_REPRESENTATION,
						"The address has no \"@\".");
		return false;
	}
	if (nat > 1)
	{
		CdpTypeErrorSet(err, ERRCODE_INVALID_TEXT_REPRESENTATION,
						"The address has %d \"@\" signs; it needs exactly one.", nat);
		return false;
	}
	if (!CheckLocalPart(s, at - s, err))
		return false;
	domain = ConvertDomain(at + 1, len - (at - s) - 1, err);
	if (domain == NULL)
		return false;
	*out = psprintf("%.*s@%s", (int) (at - s), s, domain);
	pfree(domain);
	return true;
}

/*
 * CdpParseEmail
 *		C API for other families: like CdpEmailParse, with only the detail.
 */
bool
CdpParseEmail(const char *s, int len, char **out, const char **why)
{
	CdpTypeError err = {0, NULL};
	bool		ok = CdpEmailParse(s, len, out, &err);

	if (why)
		*why = ok ? NULL : err.detail;
	return ok;
}

/*
 * FoldLocal
 *		Case-folds a stored local part for comparison: ASCII letters by
 *		table, anything else by ICU full case folding (u_strFoldCase, the
 *		Unicode CaseFolding.txt mapping, locale-independent).  Returns buf
 *		when the fold fits it, else a palloc'd string.
 */
static const char *
FoldLocal(const char *s, int len, char *buf, int bufsize, int *outlen)
{
	int			i;
	UChar	   *u;
	UChar	   *f;
	int32_t		ulen;
	int32_t		flen;
	int32_t		olen;
	char	   *res;
	UErrorCode	status = U_ZERO_ERROR;

	for (i = 0; i < len && i < bufsize; i++)
	{
		if ((unsigned char) s[i] >= 0x80)
			break;
		buf[i] = pg_ascii_tolower((unsigned char) s[i]);
	}
	if (i == len)
	{
		*outlen = len;
		return buf;
	}

	/* non-ASCII: UTF-8 -> UTF-16 -> fold -> UTF-8 (a fold can triple a code unit) */
	u = palloc(sizeof(UChar) * (len + 1));
	u_strFromUTF8(u, len + 1, &ulen, s, len, &status);
	if (U_FAILURE(status))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("stored e-mail local part is not valid UTF-8")));
	f = palloc(sizeof(UChar) * (3 * ulen + 1));
	flen = u_strFoldCase(f, 3 * ulen + 1, u, ulen, U_FOLD_CASE_DEFAULT, &status);
	if (U_FAILURE(status))
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("could not case-fold an e-mail local part: %s", u_errorName(status))));
	res = palloc(4 * flen + 1);
	u_strToUTF8(res, 4 * flen + 1, &olen, f, flen, &status);
	if (U_FAILURE(status))
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("could not convert a case-folded e-mail local part: %s", u_errorName(status))));
	pfree(u);
	pfree(f);
	*outlen = olen;
	return res;
}

/*
 * SplitStored
 *		Finds the "@" of a stored (canonical) address: the local part has
 *		none, so it is the last one.
 */
static int
SplitStored(const char *s, int len)
{
	int			i;

	for (i = len - 1; i >= 0; i--)
		if (s[i] == '@')
			return i;
	elog(ERROR, "stored cdp.email value has no \"@\"");
	return -1;					/* keep the compiler quiet */
}

/*
 * CdpEmailCmp
 *		Three-way comparison of two stored addresses: casefold(local) first
 *		(bytewise, then shorter first), then the domain (already lower case).
 */
int
CdpEmailCmp(const char *a, int alen, const char *b, int blen)
{
	char		abuf[CDP_EMAIL_MAX_LOCAL];
	char		bbuf[CDP_EMAIL_MAX_LOCAL];
	int			aat = SplitStored(a, alen);
	int			bat = SplitStored(b, blen);
	int			aflen;
	int			bflen;
	const char *af = FoldLocal(a, aat, abuf, sizeof(abuf), &aflen);
	const char *bf = FoldLocal(b, bat, bbuf, sizeof(bbuf), &bflen);
	int			c;
	int			adlen = alen - aat - 1;
	int			bdlen = blen - bat - 1;

	c = memcmp(af, bf, Min(aflen, bflen));
	if (c == 0)
		c = (aflen > bflen) - (aflen < bflen);
	if (c == 0)
	{
		c = memcmp(a + aat + 1, b + bat + 1, Min(adlen, bdlen));
		if (c == 0)
			c = (adlen > bdlen) - (adlen < bdlen);
	}
	if (af != abuf)
		pfree((void *) af);
	if (bf != bbuf)
		pfree((void *) bf);
	return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

/*
 * CdpEmailCaseKey
 *		The key equality is defined on: casefold(local) "@" domain, palloc'd.
 *		Equal addresses have equal keys, so hashing the key agrees with =.
 */
char *
CdpEmailCaseKey(const char *s, int len, int *keylen)
{
	char		buf[CDP_EMAIL_MAX_LOCAL];
	int			at = SplitStored(s, len);
	int			flen;
	const char *f = FoldLocal(s, at, buf, sizeof(buf), &flen);
	char	   *key = palloc(flen + (len - at) + 1);

	memcpy(key, f, flen);
	memcpy(key + flen, s + at, len - at);
	key[flen + len - at] = '\0';
	*keylen = flen + len - at;
	if (f != buf)
		pfree((void *) f);
	return key;
}

/*
 * CdpEmailDisplay
 *		The form of a stored address that people read: the domain's IDN
 *		labels (xn--) turned back into Unicode with ICU's UTS #46 ToUnicode,
 *		so "ivan@xn--80a1acny.xn--p1ai" reads "ivan@почта.рф".  The stored,
 *		canonical bytes keep the ASCII form (binary send, email_domain).  In a
 *		database that is not UTF-8, or when a label does not decode cleanly,
 *		the stored form is returned unchanged; either way the result parses
 *		back to the same stored value.  palloc'd, NUL-terminated.
 */
char *
CdpEmailDisplay(const char *s, int len)
{
	char		buf[CDP_EMAIL_MAX_BYTES * 4];
	UErrorCode	status = U_ZERO_ERROR;
	UIDNAInfo	info = UIDNA_INFO_INITIALIZER;
	int			at = SplitStored(s, len);
	const char *dom = s + at + 1;
	int			dlen = len - at - 1;
	int32_t		outlen;
	bool		idn = false;
	int			i;

	/* an IDN label starts the domain or follows a dot; the stored domain is lower case */
	for (i = 0; i + 4 <= dlen && !idn; i++)
		if ((i == 0 || dom[i - 1] == '.') && memcmp(dom + i, "xn--", 4) == 0)
			idn = true;
	if (!idn || GetDatabaseEncoding() != PG_UTF8)
		return pnstrdup(s, len);
	outlen = uidna_nameToUnicodeUTF8(EmailGetIdna(), dom, dlen, buf, sizeof(buf) - 1,
									 &info, &status);
	if (U_FAILURE(status) || info.errors != 0 || outlen <= 0)
		return pnstrdup(s, len);
	return psprintf("%.*s@%.*s", at, s, (int) outlen, buf);
}

PG_FUNCTION_INFO_V1(cdp_email_in);

/*
 * cdp_email_in
 *		Text input.
 */
Datum
cdp_email_in(PG_FUNCTION_ARGS)
{
	char	   *s = PG_GETARG_CSTRING(0);
	int			len = strlen(s);
	char	   *canon;
	CdpTypeError err;

	if (!CdpEmailParse(s, len, &canon, &err))
		CdpTypeReportError(EMAIL_TYPNAME, s, len, &err, EMAIL_HINT);
	PG_RETURN_CDP_EMAIL_P(cstring_to_text(canon));
}

PG_FUNCTION_INFO_V1(cdp_email_out);

/*
 * cdp_email_out
 *		Text output: the address as people read it, the domain in Unicode
 *		(CdpEmailDisplay); text input reads it back to the same value.
 */
Datum
cdp_email_out(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_CDP_EMAIL_PP(0);

	PG_RETURN_CSTRING(CdpEmailDisplay(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)));
}

PG_FUNCTION_INFO_V1(cdp_email_recv);

/*
 * cdp_email_recv
 *		Binary input: the address as text in the client encoding, run
 *		through the same parser as text input.
 */
Datum
cdp_email_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	char	   *s;
	int			nbytes;
	char	   *canon;
	CdpTypeError err;

	if (buf->len - buf->cursor > CDP_EMAIL_MAX_BYTES * 4)
	{
		err.sqlstate = ERRCODE_INVALID_TEXT_REPRESENTATION;
		err.detail = psprintf("The value is %d bytes long; at most %d bytes are accepted.",
							  buf->len - buf->cursor, CDP_EMAIL_MAX_BYTES);
		CdpTypeReportError(EMAIL_TYPNAME, buf->data + buf->cursor, CDP_TYPE_SHOW_BYTES + 1,
						   &err, EMAIL_HINT);
	}
	s = pq_getmsgtext(buf, buf->len - buf->cursor, &nbytes);
	if (!CdpEmailParse(s, nbytes, &canon, &err))
		CdpTypeReportError(EMAIL_TYPNAME, s, nbytes, &err, EMAIL_HINT);
	PG_RETURN_CDP_EMAIL_P(cstring_to_text(canon));
}

PG_FUNCTION_INFO_V1(cdp_email_send);

/*
 * cdp_email_send
 *		Binary output: the canonical (stored) address as text, the domain
 *		in ASCII, for programs; binary input reads either form.
 */
Datum
cdp_email_send(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_CDP_EMAIL_PP(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendtext(&buf, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

PG_FUNCTION_INFO_V1(cdp_try_email);

/*
 * cdp_try_email
 *		The address in a text, or NULL when it is not a valid one.
 */
Datum
cdp_try_email(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	char	   *canon;

	if (!CdpEmailParse(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &canon, NULL))
		PG_RETURN_NULL();
	PG_RETURN_CDP_EMAIL_P(cstring_to_text(canon));
}

PG_FUNCTION_INFO_V1(cdp_is_valid_email);

/*
 * cdp_is_valid_email
 *		Whether a text is a valid address.
 */
Datum
cdp_is_valid_email(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	char	   *canon;

	PG_RETURN_BOOL(CdpEmailParse(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &canon, NULL));
}

PG_FUNCTION_INFO_V1(cdp_email_local);

/*
 * cdp_email_local
 *		The local part, as written.
 */
Datum
cdp_email_local(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_CDP_EMAIL_PP(0);
	const char *s = VARDATA_ANY(t);
	int			at = SplitStored(s, VARSIZE_ANY_EXHDR(t));

	PG_RETURN_TEXT_P(cstring_to_text_with_len(s, at));
}

PG_FUNCTION_INFO_V1(cdp_email_domain);

/*
 * cdp_email_domain
 *		The domain, lower case, IDN labels in punycode.
 */
Datum
cdp_email_domain(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_CDP_EMAIL_PP(0);
	const char *s = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t);
	int			at = SplitStored(s, len);

	PG_RETURN_TEXT_P(cstring_to_text_with_len(s + at + 1, len - at - 1));
}

PG_FUNCTION_INFO_V1(cdp_email_cmp);

/*
 * cdp_email_cmp
 *		btree support function 1.
 */
Datum
cdp_email_cmp(PG_FUNCTION_ARGS)
{
	text	   *a = PG_GETARG_CDP_EMAIL_PP(0);
	text	   *b = PG_GETARG_CDP_EMAIL_PP(1);

	PG_RETURN_INT32(CdpEmailCmp(VARDATA_ANY(a), VARSIZE_ANY_EXHDR(a),
								VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b)));
}

/* the six comparison operators, each a thin wrapper over CdpEmailCmp */
#define EMAIL_CMP_FN(name, test) \
PG_FUNCTION_INFO_V1(name); \
Datum \
name(PG_FUNCTION_ARGS) \
{ \
	text	   *a = PG_GETARG_CDP_EMAIL_PP(0); \
	text	   *b = PG_GETARG_CDP_EMAIL_PP(1); \
	int			c = CdpEmailCmp(VARDATA_ANY(a), VARSIZE_ANY_EXHDR(a), \
								VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b)); \
	PG_RETURN_BOOL(test); \
}

/* cdp_email_eq: a = b */
EMAIL_CMP_FN(cdp_email_eq, c == 0)
/* cdp_email_ne: a <> b */
EMAIL_CMP_FN(cdp_email_ne, c != 0)
/* cdp_email_lt: a < b */
EMAIL_CMP_FN(cdp_email_lt, c < 0)
/* cdp_email_le: a <= b */
EMAIL_CMP_FN(cdp_email_le, c <= 0)
/* cdp_email_gt: a > b */
EMAIL_CMP_FN(cdp_email_gt, c > 0)
/* cdp_email_ge: a >= b */
EMAIL_CMP_FN(cdp_email_ge, c >= 0)

PG_FUNCTION_INFO_V1(cdp_email_hash);

/*
 * cdp_email_hash
 *		hash support function 1: hash of the case key, so equal addresses
 *		(which may differ in the case of the local part) hash alike.
 */
Datum
cdp_email_hash(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_CDP_EMAIL_PP(0);
	int			keylen;
	char	   *key = CdpEmailCaseKey(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &keylen);
	Datum		h = hash_any((const unsigned char *) key, keylen);

	pfree(key);
	return h;
}

PG_FUNCTION_INFO_V1(cdp_email_hash_extended);

/*
 * cdp_email_hash_extended
 *		hash support function 2: 64-bit seeded hash of the case key.
 */
Datum
cdp_email_hash_extended(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_CDP_EMAIL_PP(0);
	int			keylen;
	char	   *key = CdpEmailCaseKey(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &keylen);
	Datum		h = hash_any_extended((const unsigned char *) key, keylen,
									  PG_GETARG_INT64(1));

	pfree(key);
	return h;
}

/*
 * EmailSortCmp
 *		Sort-support comparator: CdpEmailCmp without the fmgr call.
 */
static int
EmailSortCmp(Datum x, Datum y, SortSupport ssup)
{
	text	   *a = DatumGetCdpEmailPP(x);
	text	   *b = DatumGetCdpEmailPP(y);
	int			c = CdpEmailCmp(VARDATA_ANY(a), VARSIZE_ANY_EXHDR(a),
								VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));

	if ((Pointer) a != DatumGetPointer(x))
		pfree(a);
	if ((Pointer) b != DatumGetPointer(y))
		pfree(b);
	return c;
}

/*
 * EmailAbbrevConvert
 *		Abbreviated key: the first 8 bytes of casefold(local) || '\0' ||
 *		domain, zero-padded, as a big-endian unsigned integer.  The ordering
 *		of CdpEmailCmp is exactly memcmp over that string (no local part
 *		contains a zero byte, so '\0' sorts a shorter local part first), so
 *		unequal abbreviations order like the full values.
 */
static Datum
EmailAbbrevConvert(Datum original, SortSupport ssup)
{
	text	   *t = DatumGetCdpEmailPP(original);
	int			keylen;
	char	   *key = CdpEmailCaseKey(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &keylen);
	char	   *at = memchr(key, '@', keylen);
	Datum		res = 0;

	if (at != NULL)
		*at = '\0';
	memcpy(&res, key, Min(keylen, (int) sizeof(Datum)));
	pfree(key);
	if ((Pointer) t != DatumGetPointer(original))
		pfree(t);
	return DatumBigEndianToNative(res);
}

/*
 * EmailAbbrevAbort
 *		Never give up on abbreviation: case folding is the expensive part of
 *		a full comparison, and the abbreviation pays it once per value.
 */
static bool
EmailAbbrevAbort(int memtupcount, SortSupport ssup)
{
	return false;
}

PG_FUNCTION_INFO_V1(cdp_email_sortsupport);

/*
 * cdp_email_sortsupport
 *		btree support function 2: a direct comparator and abbreviated keys,
 *		so sorts and index builds fold each local part once, not per
 *		comparison.
 */
Datum
cdp_email_sortsupport(PG_FUNCTION_ARGS)
{
	SortSupport ssup = (SortSupport) PG_GETARG_POINTER(0);

	ssup->comparator = EmailSortCmp;
	if (ssup->abbreviate)
	{
		ssup->abbrev_converter = EmailAbbrevConvert;
		ssup->abbrev_abort = EmailAbbrevAbort;
		ssup->abbrev_full_comparator = EmailSortCmp;
		ssup->comparator = ssup_datum_unsigned_cmp;
	}
	PG_RETURN_VOID();
}
