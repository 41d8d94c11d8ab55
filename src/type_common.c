/*-------------------------------------------------------------------------
 *
 * src/type_common.c
 *		Helpers shared by the identifier types (type_phone.c, type_email.c,
 *		type_snils.c, type_oms.c): input caps, encoding checks, trimming,
 *		quoting a rejected value safely, and raising the input error.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/elog.h"

#include "acc.h"
#include "types.h"

/*
 * CdpTypeErrorSet
 *		Fills *err with a SQLSTATE and a formatted (palloc'd) detail sentence.
 *		err may be NULL when the caller only wants a yes/no answer.
 */
void
CdpTypeErrorSet(CdpTypeError *err, int sqlstate, const char *fmt,...)
{
	StringInfoData buf;

	if (err == NULL)
		return;
	initStringInfo(&buf);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&buf, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	err->sqlstate = sqlstate;
	err->detail = CdpTypeRedactDetail(buf.data, sqlstate);
}

/*
 * CdpTypeRedactDetail
 *		The detail sentence of a rejected value as cdp.redact_values shows it
 *		(src/acc_redact.c): every quoted fragment becomes an ellipsis unless
 *		it names a position ("character N", written by CdpTypeShowChar), and
 *		for a well-formed but invalid value (a wrong check number, a range)
 *		every digit outside quotes becomes "#", since those digits are the
 *		value's or are computed from it.  The kind of defect (the sentence)
 *		and its position stay.  With the setting off, detail itself.  Other
 *		families whose details quote a value (ingest's birth date and sex)
 *		pass them through it the same way.
 */
const char *
CdpTypeRedactDetail(const char *detail, int sqlstate)
{
	StringInfoData buf;
	const char *p = detail;

	if (!CdpRedactValues || detail == NULL)
		return detail;
	initStringInfo(&buf);
	while (*p)
	{
		if (*p == '"')
		{
			const char *end = strchr(p + 1, '"');

			if (end == NULL)
				break;			/* an unbalanced quote: drop the rest */
			if (strncmp(p + 1, "character ", 10) == 0)
				appendBinaryStringInfo(&buf, p, end - p + 1);
			else
				appendStringInfoString(&buf, "\"...\"");
			p = end + 1;
			continue;
		}
		if (sqlstate == ERRCODE_INVALID_PARAMETER_VALUE && *p >= '0' && *p <= '9')
			appendStringInfoChar(&buf, '#');
		else
			appendStringInfoChar(&buf, *p);
		p++;
	}
	return buf.data;
}

/*
 * CdpTypeCheckInput
 *		The checks every parser makes before looking at the characters: the
 *		length cap (first, so a huge value costs nothing) and that the bytes
 *		are valid in the database encoding (a C caller may hand us anything).
 */
bool
CdpTypeCheckInput(const char *s, int len, int maxbytes, CdpTypeError *err)
{
	if (len < 0 || len > maxbytes)
	{
		CdpTypeErrorSet(err, ERRCODE_INVALID_TEXT_REPRESENTATION,
						"The value is %d bytes long; at most %d bytes are accepted.",
						len, maxbytes);
		return false;
	}
	if (pg_encoding_verifymbstr(GetDatabaseEncoding(), s, len) != len)
	{
		CdpTypeErrorSet(err, ERRCODE_INVALID_TEXT_REPRESENTATION,
						"The value is not valid in the database encoding %s.",
						GetDatabaseEncodingName());
		return false;
	}
	return true;
}

/*
 * CdpTypeTrim
 *		Moves *s and shrinks *len past ASCII white space at both ends.
 */
void
CdpTypeTrim(const char **s, int *len)
{
	const char *p = *s;
	int			n = *len;

	while (n > 0 && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' ||
					 *p == '\v' || *p == '\f'))
	{
		p++;
		n--;
	}
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\n' ||
					 p[n - 1] == '\r' || p[n - 1] == '\v' || p[n - 1] == '\f'))
		n--;
	*s = p;
	*len = n;
}

/*
 * CdpTypeShowValue
 *		A copy of a rejected value fit to quote in an error message: at most
 *		CDP_TYPE_SHOW_BYTES bytes cut on a character boundary, with "..."
 *		when cut.  Bytes that are not valid in the database encoding (and
 *		control characters) are written as \xHH so the message itself stays
 *		valid.
 */
char *
CdpTypeShowValue(const char *s, int len)
{
	StringInfoData buf;
	int			valid;
	int			i;

	if (len < 0)
		len = 0;
	/* cdp.redact_values: no character of the value (src/acc_redact.c) */
	if (CdpRedactValues)
		return pstrdup("...");
	valid = pg_encoding_verifymbstr(GetDatabaseEncoding(), s, len);
	initStringInfo(&buf);
	/* SQL_ASCII says nothing about bytes above 127, so they are escaped too */
	if (valid == len && GetDatabaseEncoding() != PG_SQL_ASCII)
	{
		int			keep = len;

		if (len > CDP_TYPE_SHOW_BYTES)
			keep = pg_mbcliplen(s, len, CDP_TYPE_SHOW_BYTES);
		for (i = 0; i < keep; i++)
		{
			unsigned char c = (unsigned char) s[i];

			if (c < 0x20 || c == 0x7f)
				appendStringInfo(&buf, "\\x%02x", c);
			else
				appendStringInfoChar(&buf, (char) c);
		}
		if (keep < len)
			appendStringInfoString(&buf, "...");
		return buf.data;
	}

	/* invalid or unknown bytes: print ASCII as is and everything else as \xHH */
	for (i = 0; i < len && i < CDP_TYPE_SHOW_BYTES; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c < 0x20 || c >= 0x7f)
			appendStringInfo(&buf, "\\x%02x", c);
		else
			appendStringInfoChar(&buf, (char) c);
	}
	if (i < len)
		appendStringInfoString(&buf, "...");
	return buf.data;
}

/*
 * CdpTypeReportError
 *		Raises the input error for a value a parser rejected: 22P02 "invalid
 *		input syntax" for malformed text, 22023 "invalid value" for a
 *		well-formed value that is not a valid identifier (check digit, range).
 */
void
CdpTypeReportError(const char *typname, const char *s, int len,
				   const CdpTypeError *err, const char *hint)
{
	char	   *shown = CdpTypeShowValue(s, len);

	/* cdp.redact_values: the length and the kind of defect, not the value */
	if (CdpRedactValues)
		ereport(ERROR,
				(errcode(err->sqlstate),
				 errmsg("invalid %s for type %s (value of %d bytes not shown)",
						err->sqlstate == ERRCODE_INVALID_TEXT_REPRESENTATION ? "input syntax" : "value",
						typname, len),
				 errdetail_internal("%s", err->detail),
				 errhint("%s", hint)));
	if (err->sqlstate == ERRCODE_INVALID_TEXT_REPRESENTATION)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type %s: \"%s\"", typname, shown),
				 errdetail_internal("%s", err->detail),
				 errhint("%s", hint)));
	ereport(ERROR,
			(errcode(err->sqlstate),
			 errmsg("invalid value for type %s: \"%s\"", typname, shown),
			 errdetail_internal("%s", err->detail),
			 errhint("%s", hint)));
	pg_unreachable();
}

/*
 * CdpTypeShowChar
 *		The (possibly multibyte) character at s[pos], quoted safely for a
 *		detail sentence.  s must be valid in the database encoding.  With
 *		cdp.redact_values on, its position instead ("character 3", counted
 *		in characters from 1 after trimming).
 */
char *
CdpTypeShowChar(const char *s, int len, int pos)
{
	int			n = pg_mblen(s + pos);

	if (CdpRedactValues)
		return psprintf("character %d", pg_mbstrlen_with_len(s, pos) + 1);

	if (n > len - pos)
		n = len - pos;
	return CdpTypeShowValue(s + pos, n);
}

/*
 * CdpTypeScanDigitGroups
 *		Reads a trimmed, non-empty value made of digits in groups separated
 *		by single spaces or dashes (SNILS, OMS).  Stores at most maxdigits
 *		digits in digits[] but counts all of them in *ndigits, so the caller
 *		can say how many there were.  what names the identifier in details
 *		("a SNILS").
 */
bool
CdpTypeScanDigitGroups(const char *s, int len, const char *what,
					   char *digits, int maxdigits, int *ndigits,
					   CdpTypeError *err)
{
	int			nd = 0;
	int			i;

	for (i = 0; i < len; i++)
	{
		char		c = s[i];

		if (c >= '0' && c <= '9')
		{
			if (nd < maxdigits)
				digits[nd] = c;
			nd++;
		}
		else if (c == ' ' || c == '-')
		{
			if (i == 0 || i == len - 1 ||
				!(s[i - 1] >= '0' && s[i - 1] <= '9') ||
				!(s[i + 1] >= '0' && s[i + 1] <= '9'))
			{
				CdpTypeErrorSet(err, ERRCODE_INVALID_TEXT_REPRESENTATION,
								"A separator (\"%c\") must stand alone between two digits.", c);
				return false;
			}
		}
		else
		{
			CdpTypeErrorSet(err, ERRCODE_INVALID_TEXT_REPRESENTATION,
							"The character \"%s\" is not allowed in %s; only digits, spaces and dashes are.",
							CdpTypeShowChar(s, len, i), what);
			return false;
		}
	}
	*ndigits = nd;
	return true;
}
