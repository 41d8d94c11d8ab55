/*-------------------------------------------------------------------------
 *
 * test/fuzz/fuzz_import.c
 *		libFuzzer target: the import family's CSV reader (src/imp_csv.c):
 *		Windows-1251 decoding, delimiter detection and the record scanner.
 *
 * The first byte of an input chooses the delimiter (its value mod 3: ';',
 * ',' or tab) and whether the buffer is the end of the file (bit 2); the
 * rest is the buffer, amplified past the 64 kB value cap when it starts
 * with 0xFE (fuzz_common.h).
 *
 * Oracles (from the comments of src/imp_csv.c and src/imp.h):
 *   - ImpCp1251ToUtf8: NULL exactly when the input holds a NUL or 0x98;
 *     otherwise valid UTF-8 of at most three bytes per input byte, as long
 *     as the input when the input is ASCII;
 *   - ImpGuessDelimiter: one of ';', ',' and tab;
 *   - ImpScanRecord: every OK or BAD moves forward (a BAD to the end of a
 *     line or of the buffer), MORE only when not final; at most
 *     IMP_MAX_FIELDS fields of at most IMP_MAX_FIELD bytes; on valid UTF-8
 *     every field is valid UTF-8; on a buffer without quotes or CR the
 *     fields of the records are exactly its lines split at the delimiter;
 *   - no error is raised (the reader reports, it does not throw).
 *
 *-------------------------------------------------------------------------
 */
#include "fuzz_common.h"

#include "imp.h"

/*
 * CheckCp1251
 *		The decoder's oracles on one buffer.
 */
static void
CheckCp1251(const char *s, int len)
{
	const char *why = NULL;
	int			olen = 0;
	char	   *u = ImpCp1251ToUtf8(s, len, &olen, &why);
	bool		bad = memchr(s, 0, len) != NULL || memchr(s, 0x98, len) != NULL;
	bool		ascii = true;

	for (int i = 0; i < len; i++)
		if ((unsigned char) s[i] >= 0x80)
			ascii = false;
	if ((u == NULL) != bad)
		FuzzFail("ImpCp1251ToUtf8 returned %s for an input %s NUL or 0x98",
				 u ? "text" : "NULL", bad ? "with" : "without");
	if (u == NULL)
	{
		if (why == NULL)
			FuzzFail("ImpCp1251ToUtf8 failed without saying why");
		return;
	}
	if (olen > 3 * len || (ascii && olen != len) || !FuzzUtf8Valid(u, olen) || u[olen] != '\0')
		FuzzFail("ImpCp1251ToUtf8 made %d bytes of %d", olen, len);
	pfree(u);
}

/*
 * CheckScan
 *		Scans the whole buffer record by record and checks each result.
 */
static void
CheckScan(const char *s, int len, char delim, bool final)
{
	ImpRecord  *rec = palloc0(sizeof(ImpRecord));
	bool		utf8 = FuzzUtf8Valid(s, len);
	bool		plain = memchr(s, '"', len) == NULL && memchr(s, '\r', len) == NULL;
	int			pos = 0;

	while (pos < len)
	{
		int			start = pos;
		ImpScan		r = ImpScanRecord(s, len, &pos, delim, final, rec);

		if (r == IMP_SCAN_MORE)
		{
			if (final || pos != start)
				FuzzFail("MORE with final %d, pos %d -> %d", final, start, pos);
			break;
		}
		if (pos <= start || pos > len)
			FuzzFail("the scan did not move forward: %d -> %d of %d", start, pos, len);
		if (r == IMP_SCAN_BAD)
		{
			if (rec->why == NULL || rec->bad_field < 1)
				FuzzFail("BAD without a reason or a field");
			continue;
		}
		if (rec->nfields < 1 || rec->nfields > IMP_MAX_FIELDS)
			FuzzFail("%d fields", rec->nfields);
		for (int f = 0; f < rec->nfields; f++)
		{
			if (rec->len[f] < 0 || rec->len[f] > IMP_MAX_FIELD ||
				rec->start[f] + rec->len[f] >= rec->buf.len + 1)
				FuzzFail("field %d: start %d, length %d", f, rec->start[f], rec->len[f]);
			if (utf8 && !FuzzUtf8Valid(rec->buf.data + rec->start[f], rec->len[f]))
				FuzzFail("field %d of valid UTF-8 is not UTF-8", f);
		}
		if (plain)
		{
			/* the record is the line, split at the delimiter */
			int			end = pos;
			int			p = start;

			if (end > start && s[end - 1] == '\n')
				end--;
			for (int f = 0; f < rec->nfields; f++)
			{
				if (p + rec->len[f] > end ||
					memcmp(s + p, rec->buf.data + rec->start[f], rec->len[f]) != 0)
					FuzzFail("field %d is not the line's text", f);
				p += rec->len[f];
				if (f + 1 < rec->nfields)
				{
					if (p >= end || s[p] != delim)
						FuzzFail("field %d does not end at a delimiter", f);
					p++;
				}
			}
			if (p != end)
				FuzzFail("the fields cover %d of %d bytes of the line", p - start, end - start);
		}
	}
	if (rec->buf.data)
		pfree(rec->buf.data);
	pfree(rec);
}

/*
 * LLVMFuzzerTestOneInput
 *		One input through the decoder, the delimiter guess and the scanner.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char delims[3] = {';', ',', '\t'};
	char	   *s;
	int			len;
	char		delim,
				guess;
	bool		final;

	if (size < 1)
		return 0;
	delim = delims[data[0] % 3];
	final = (data[0] & 4) != 0;
	FuzzInputBegin();
	s = FuzzOneString(data + 1, size - 1, IMP_MAX_FIELD + 2, &len);
	FuzzExpectValidMessages(true);
	CheckCp1251(s, len);
	guess = ImpGuessDelimiter(s, len);
	if (guess != ';' && guess != ',' && guess != '\t')
		FuzzFail("ImpGuessDelimiter returned 0x%02x", (unsigned char) guess);
	(void) ImpHasBom(s, len);
	CheckScan(s, len, delim, final);
	FuzzInputEnd();
	return 0;
}
