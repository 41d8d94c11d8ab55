/*-------------------------------------------------------------------------
 *
 * src/imp.h
 *		The import family (layer 8): the CSV reader behind cdp.import_commit
 *		and cdp.import_csv.  src/imp_csv.c holds the server-free kernels
 *		(Windows-1251 decoding, encoding and delimiter detection, the record
 *		scanner), src/imp_sql.c the SQL entry points.
 *
 *-------------------------------------------------------------------------
 */
#ifndef IMP_H
#define IMP_H

#include "cdp.h"

#include "lib/stringinfo.h"

/*
 * Limits of the reader.  A field longer than IMP_MAX_FIELD bytes is refused
 * with its row and column named (ingest's longest value, an address, is 1000
 * bytes; a clinical event's 4096): the cap keeps one bad cell from growing
 * a batch's memory.  A record may have at most IMP_MAX_FIELDS fields, and a
 * record that is still open (an unclosed quote) after IMP_MAX_RECORD bytes
 * ends the file with an error naming the row where it opened.
 */
#define IMP_MAX_FIELD		CDP_MAX_TEXT_BYTES
#define IMP_MAX_FIELDS		256
#define IMP_MAX_RECORD		(4 * 1024 * 1024)

/* Encodings a file may be in. */
typedef enum ImpEncoding
{
	IMP_ENC_UTF8,
	IMP_ENC_CP1251
} ImpEncoding;

/* What ImpScanRecord found. */
typedef enum ImpScan
{
	IMP_SCAN_OK,				/* a complete record; *pos is after its newline */
	IMP_SCAN_MORE,				/* the buffer ends inside a quoted field */
	IMP_SCAN_BAD				/* a record that cannot be read; *pos skips it */
} ImpScan;

/* One scanned record: its fields, unquoted, in buf. */
typedef struct ImpRecord
{
	StringInfoData buf;			/* field bytes, each followed by a NUL */
	int			nfields;
	int			start[IMP_MAX_FIELDS];	/* offset of each field in buf */
	int			len[IMP_MAX_FIELDS];	/* its length in bytes */
	int			nlines;			/* newlines the record spans (0: one line) */
	int			bad_field;		/* IMP_SCAN_BAD: 1-based field, 0 = record */
	const char *why;			/* IMP_SCAN_BAD: a sentence saying why */
} ImpRecord;

/* src/imp_csv.c: pure functions, no tables, no catalog access */
extern bool ImpHasBom(const char *s, int len);
extern bool ImpLooksUtf8(const char *s, int len);
extern char *ImpCp1251ToUtf8(const char *s, int len, int *outlen, const char **why);
extern char ImpGuessDelimiter(const char *s, int len);
extern ImpScan ImpScanRecord(const char *s, int len, int *pos, char delim, bool final,
							 ImpRecord *rec);

/* src/imp_sql.c */
extern void ImportInit(void);

#endif							/* IMP_H */
