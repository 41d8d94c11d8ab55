/*-------------------------------------------------------------------------
 *
 * src/imp_csv.c
 *		The server-free kernels of the import family's CSV reader: the
 *		Windows-1251 to UTF-8 table, encoding and delimiter detection, and
 *		the record scanner (RFC 4180 quoting, quoted newlines).
 *
 * The reader is driven by src/imp_sql.c over lines the client copied into
 * cdp.import_staging (or cdp.import_csv split from its argument), joined
 * again with '\n': so a quoted field may span lines, and a record that is
 * still open at the end of a chunk of lines is asked for again with more
 * lines (IMP_SCAN_MORE).  Quoting follows RFC 4180 as spreadsheets write
 * it: a field that starts with '"' ends at a '"' not followed by another,
 * "" inside it is one quote; a quote inside an unquoted field is kept as a
 * character.  Everything here works on bytes and allocates with palloc only,
 * so test/fuzz/fuzz_import.c runs it without a server.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"

#include "imp.h"

/*
 * Windows-1251 bytes 0x80-0xBF as Unicode code points (0 = unassigned:
 * 0x98).  0xC0-0xFF are А..я, U+0410..U+044F, in order.  Checked against
 * PostgreSQL's own WIN1251 conversion by test/pgtap/88_import.sql.
 */
static const uint16 cp1251_high[64] = {
	0x0402, 0x0403, 0x201A, 0x0453, 0x201E, 0x2026, 0x2020, 0x2021,
	0x20AC, 0x2030, 0x0409, 0x2039, 0x040A, 0x040C, 0x040B, 0x040F,
	0x0452, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
	0x0000, 0x2122, 0x0459, 0x203A, 0x045A, 0x045C, 0x045B, 0x045F,
	0x00A0, 0x040E, 0x045E, 0x0408, 0x00A4, 0x0490, 0x00A6, 0x00A7,
	0x0401, 0x00A9, 0x0404, 0x00AB, 0x00AC, 0x00AD, 0x00AE, 0x0407,
	0x00B0, 0x00B1, 0x0406, 0x0456, 0x0491, 0x00B5, 0x00B6, 0x00B7,
	0x0451, 0x2116, 0x0454, 0x00BB, 0x0458, 0x0405, 0x0455, 0x0457
};

/*
 * ImpHasBom
 *		Whether s starts with the UTF-8 byte order mark EF BB BF.
 */
bool
ImpHasBom(const char *s, int len)
{
	return len >= 3 && (unsigned char) s[0] == 0xEF &&
		(unsigned char) s[1] == 0xBB && (unsigned char) s[2] == 0xBF;
}

/*
 * ImpLooksUtf8
 *		Whether s is valid UTF-8 without NUL bytes.  A Windows-1251 text with
 *		Cyrillic letters almost never is: its letters are bytes 0xC0-0xFF,
 *		and two of them in a row are not a valid UTF-8 sequence.
 */
bool
ImpLooksUtf8(const char *s, int len)
{
	return pg_verify_mbstr(PG_UTF8, s, len, true);
}

/*
 * ImpCp1251ToUtf8
 *		Converts Windows-1251 bytes to UTF-8 (palloc'd, NUL-terminated; its
 *		length in *outlen).  Returns NULL with *why set for a NUL byte or the
 *		unassigned byte 0x98.
 */
char *
ImpCp1251ToUtf8(const char *s, int len, int *outlen, const char **why)
{
	char	   *out;
	char	   *o;
	int			i;

	/* at most three UTF-8 bytes per byte (and room for the NUL) */
	out = palloc(mul_size((Size) len + 1, 3));
	o = out;
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];
		uint32		u;

		if (c < 0x80)
		{
			if (c == 0)
			{
				*why = "The text holds a NUL byte.";
				pfree(out);
				return NULL;
			}
			*o++ = (char) c;
			continue;
		}
		u = c >= 0xC0 ? 0x0410 + (c - 0xC0) : cp1251_high[c - 0x80];
		if (u == 0)
		{
			*why = "The byte 0x98 has no character in Windows-1251.";
			pfree(out);
			return NULL;
		}
		if (u < 0x800)
		{
			*o++ = (char) (0xC0 | (u >> 6));
			*o++ = (char) (0x80 | (u & 0x3F));
		}
		else
		{
			*o++ = (char) (0xE0 | (u >> 12));
			*o++ = (char) (0x80 | ((u >> 6) & 0x3F));
			*o++ = (char) (0x80 | (u & 0x3F));
		}
	}
	*o = '\0';
	*outlen = (int) (o - out);
	return out;
}

/*
 * ImpGuessDelimiter
 *		The delimiter of a header line: whichever of ';', ',' and tab occurs
 *		most often outside quotes (',' when none does, a one-column file).
 *		Ties go in that order: ';' first, as Russian spreadsheets write it
 *		(the comma is their decimal separator).
 */
char
ImpGuessDelimiter(const char *s, int len)
{
	int			nsemi = 0,
				ncomma = 0,
				ntab = 0;
	bool		quoted = false;
	int			i;

	for (i = 0; i < len && s[i] != '\n'; i++)
	{
		if (s[i] == '"')
			quoted = !quoted;
		else if (!quoted)
		{
			if (s[i] == ';')
				nsemi++;
			else if (s[i] == ',')
				ncomma++;
			else if (s[i] == '\t')
				ntab++;
		}
	}
	if (nsemi == 0 && ncomma == 0 && ntab == 0)
		return ',';
	if (nsemi >= ncomma && nsemi >= ntab)
		return ';';
	if (ncomma >= ntab)
		return ',';
	return '\t';
}

/*
 * ScanBad
 *		Ends a record that cannot be read: sets why and the field, and moves
 *		*pos past the end of the line it is on.
 */
static ImpScan
ScanBad(const char *s, int len, int *pos, int p, ImpRecord *rec, const char *why)
{
	const char *nl = memchr(s + p, '\n', len - p);

	rec->why = why;
	rec->bad_field = rec->nfields + 1;
	*pos = nl ? (int) (nl - s) + 1 : len;
	return IMP_SCAN_BAD;
}

/*
 * ImpScanRecord
 *		Reads the record that starts at s[*pos] into rec.  On IMP_SCAN_OK
 *		*pos is the start of the next record; on IMP_SCAN_MORE the buffer
 *		ended inside a quoted field and nothing was consumed (final = false;
 *		with final = true that is IMP_SCAN_BAD "not closed"); on IMP_SCAN_BAD
 *		rec->why says why and *pos is past the line where reading stopped.
 *		A '\r' before a newline outside quotes is dropped (a CRLF file split
 *		on '\n').  Limits: IMP_MAX_FIELDS fields, IMP_MAX_FIELD bytes each.
 */
ImpScan
ImpScanRecord(const char *s, int len, int *pos, char delim, bool final, ImpRecord *rec)
{
	int			p = *pos;

	if (rec->buf.data == NULL)
		initStringInfo(&rec->buf);
	else
	{
		/* resetStringInfo, spelled out: the fuzz shim has no copy of it */
		rec->buf.len = 0;
		rec->buf.data[0] = '\0';
		rec->buf.cursor = 0;
	}
	rec->nfields = 0;
	rec->nlines = 0;
	rec->bad_field = 0;
	rec->why = NULL;

	for (;;)
	{
		int			start = rec->buf.len;
		int			flen;

		if (rec->nfields >= IMP_MAX_FIELDS)
			return ScanBad(s, len, pos, p, rec,
						   psprintf("A record has at most %d fields.", IMP_MAX_FIELDS));
		if (p < len && s[p] == '"')
		{
			/* a quoted field: up to a quote not followed by another */
			p++;
			for (;;)
			{
				const char *q;
				int			chunk;

				q = memchr(s + p, '"', len - p);
				chunk = (q ? (int) (q - s) : len) - p;
				if (rec->buf.len - start + chunk > IMP_MAX_FIELD)
					return ScanBad(s, len, pos, p, rec,
								   psprintf("The value is longer than %d bytes.", IMP_MAX_FIELD));
				{
					int			k;

					for (k = 0; k < chunk; k++)
						if (s[p + k] == '\n')
							rec->nlines++;
				}
				appendBinaryStringInfo(&rec->buf, s + p, chunk);
				p += chunk;
				if (q == NULL)
				{
					if (!final)
						return IMP_SCAN_MORE;
					rec->why = "A quoted value is not closed: the file ends inside it.";
					rec->bad_field = rec->nfields + 1;
					*pos = len;
					return IMP_SCAN_BAD;
				}
				p++;			/* the quote */
				if (p < len && s[p] == '"')
				{
					appendStringInfoChar(&rec->buf, '"');
					p++;
					continue;
				}
				break;
			}
			if (p < len && s[p] == '\r' && (p + 1 == len || s[p + 1] == '\n'))
				p++;
			if (p < len && s[p] != delim && s[p] != '\n')
				return ScanBad(s, len, pos, p, rec,
							   "A quoted value is followed by other text before the delimiter; write \"\" for a quote inside a quoted value.");
		}
		else
		{
			int			q = p;

			while (q < len && s[q] != delim && s[q] != '\n')
				q++;
			flen = q - p;
			if (flen > 0 && s[q - 1] == '\r' && (q == len || s[q] == '\n'))
				flen--;
			if (flen > IMP_MAX_FIELD)
				return ScanBad(s, len, pos, p, rec,
							   psprintf("The value is %d bytes long; at most %d bytes are accepted.",
										flen, IMP_MAX_FIELD));
			appendBinaryStringInfo(&rec->buf, s + p, flen);
			p = q;
		}
		rec->start[rec->nfields] = start;
		rec->len[rec->nfields] = rec->buf.len - start;
		rec->nfields++;
		appendStringInfoChar(&rec->buf, '\0');

		if (p >= len || s[p] == '\n')
		{
			*pos = p < len ? p + 1 : len;
			return IMP_SCAN_OK;
		}
		p++;					/* the delimiter */
	}
}
