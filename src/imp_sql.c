/*-------------------------------------------------------------------------
 *
 * src/imp_sql.c
 *		SQL entry points of the import family (sql/parts/88_import.sql):
 *
 *		cdp.import_current_batch() the batch id cdp.import_begin set
 *			in this session (GUC cdp.import_batch): the DEFAULT of
 *			cdp.import_staging.batch_id, so a plain COPY files its lines under
 *			the open batch;
 *		cdp_internal._import_sniff(lines, encoding, delimiter): the encoding,
 *			delimiter and header of a file from its first lines;
 *		cdp_internal._import_parse(...): one chunk of lines into records:
 *			source ids and attrs documents, and the rows that cannot be read,
 *			with row, line, column and reason;
 *		cdp_internal._import_progress(text): shows a running commit's counts
 *			in pg_stat_activity.query, where cdp.import_status reads them.
 *
 * The reader itself (decoding, scanning) is src/imp_csv.c.  Validation of
 * the values is not done here: the records go to ingest's own functions.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "cdp_jsonb.h"
#include "cdp_utf8.h"
#include "imp.h"

PG_FUNCTION_INFO_V1(cdp_import_current_batch);
PG_FUNCTION_INFO_V1(cdp_import_sniff);
PG_FUNCTION_INFO_V1(cdp_import_parse);
PG_FUNCTION_INFO_V1(cdp_import_progress);

/* GUC cdp.import_batch: the batch cdp.import_begin opened in this session */
static char *import_batch_guc = NULL;

/* the longest value kept in an error row (a 1 MB cell is cut, with its size said) */
#define IMP_ERR_VALUE_BYTES	1000

/*
 * GUC cdp.ingest_fast_path: whether a batch of records new to their source
 * may be written by ingest's fast path (cdp_internal.ingest_insert_new, read
 * by cdp_internal.ingest_fast_path_ok).  Registered here, with the other
 * setting of bulk loading; off makes every batch take the general path.
 */
static bool ingest_fast_path_guc = true;

/*
 * ImportInit
 *		Registers the GUCs cdp.import_batch and cdp.ingest_fast_path (called
 *		from _PG_init).
 */
void
ImportInit(void)
{
	DefineCustomStringVariable("cdp.import_batch",
							   "Import batch that COPY into cdp.import_staging files its lines under.",
							   "Set by cdp.import_begin; empty when no batch is open in the session.",
							   &import_batch_guc,
							   "",
							   PGC_USERSET,
							   0,
							   NULL, NULL, NULL);
	DefineCustomBoolVariable("cdp.ingest_fast_path",
							 "Lets a batch of records new to their source take ingest's fast path.",
							 "The fast path writes the same rows as the general one with plain INSERTs; off sends every batch through INSERT ... ON CONFLICT.",
							 &ingest_fast_path_guc,
							 true,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);
}

/*
 * cdp_import_current_batch
 *		SQL: cdp.import_current_batch() RETURNS bigint.  The batch
 *		id in cdp.import_batch; 55000 when no batch is open.
 */
Datum
cdp_import_current_batch(PG_FUNCTION_ARGS)
{
	int64		id = 0;
	char	   *end = NULL;

	if (import_batch_guc != NULL && import_batch_guc[0] != '\0')
	{
		errno = 0;
		id = strtoi64(import_batch_guc, &end, 10);
		if (errno != 0 || *end != '\0')
			id = 0;
	}
	if (id <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no import batch is open in this session"),
				 errdetail("Lines copied into cdp.import_staging belong to the batch cdp.import_begin opened in the same session."),
				 errhint("Run SELECT cdp.import_begin(source, kind) first, then COPY in the same session.")));
	PG_RETURN_INT64(id);
}

/* ---------------------------------------------------------------------
 * Lines to one UTF-8 buffer
 * ---------------------------------------------------------------------
 */

/* A chunk of lines joined with '\n', with where each line starts. */
typedef struct ImpBuffer
{
	StringInfoData text;
	int			nlines;
	int		   *line_start;		/* offset of each line in text */
	const char **line_bad;		/* why a line could not be decoded, or NULL */
} ImpBuffer;

/*
 * EncodingOf
 *		IMP_ENC_* of an encoding name as cdp.import_begin's options spell it.
 */
static ImpEncoding
EncodingOf(const char *name)
{
	if (strcmp(name, "cp1251") == 0)
		return IMP_ENC_CP1251;
	return IMP_ENC_UTF8;
}

/*
 * BuildBuffer
 *		Decodes lines (a text[] from the staging table; NULL elements are empty
 *		lines) to UTF-8 and joins them with '\n'.  A line that cannot be
 *		decoded is kept empty and remembered in line_bad, so the record that
 *		covers it is rejected with the reason.  skip_bom drops a UTF-8 BOM at
 *		the start of the first line.
 */
static void
BuildBuffer(ArrayType *lines, ImpEncoding enc, bool skip_bom, ImpBuffer *b)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i;

	if (ARR_NDIM(lines) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("lines must be a one-dimensional array")));
	deconstruct_array(lines, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	initStringInfo(&b->text);
	{
		/* room for every line at once (twice for cp1251's Cyrillic): no doubling copies */
		Size		total = 0;

		for (i = 0; i < n; i++)
			if (!nulls[i])
				total += VARSIZE_ANY_EXHDR(DatumGetPointer(elems[i])) + 1;
		if (enc == IMP_ENC_CP1251)
			total *= 2;
		if (total < MaxAllocSize / 2)
			enlargeStringInfo(&b->text, (int) total);
	}
	b->nlines = n;
	b->line_start = palloc(sizeof(int) * (n + 1));
	b->line_bad = palloc0(sizeof(char *) * (n + 1));
	for (i = 0; i < n; i++)
	{
		const char *s = "";
		int			len = 0;

		if (i > 0)
			appendStringInfoChar(&b->text, '\n');
		b->line_start[i] = b->text.len;
		if (!nulls[i])
		{
			text	   *t = DatumGetTextPP(elems[i]);

			s = VARDATA_ANY(t);
			len = VARSIZE_ANY_EXHDR(t);
		}
		if (i == 0 && skip_bom && ImpHasBom(s, len))
		{
			s += 3;
			len -= 3;
		}
		if (len > IMP_MAX_RECORD)
		{
			b->line_bad[i] = psprintf("The line is %d bytes long; at most %d bytes are accepted.",
									  len, IMP_MAX_RECORD);
			continue;
		}
		if (enc == IMP_ENC_CP1251)
		{
			const char *why = NULL;
			int			olen;
			char	   *u = ImpCp1251ToUtf8(s, len, &olen, &why);

			if (u == NULL)
				b->line_bad[i] = why;
			else
				appendBinaryStringInfo(&b->text, u, olen);
		}
		else if (!ImpLooksUtf8(s, len))
			b->line_bad[i] = "The line is not valid UTF-8: declare the file's encoding with {\"encoding\": \"cp1251\"}.";
		else
			appendBinaryStringInfo(&b->text, s, len);
	}
	b->line_start[n] = b->text.len + 1;
}

/*
 * LineOf
 *		Index of the line that holds byte offset off of the buffer.
 */
static int
LineOf(const ImpBuffer *b, int off)
{
	int			lo = 0,
				hi = b->nlines - 1;

	while (lo < hi)
	{
		int			mid = (lo + hi + 1) / 2;

		if (b->line_start[mid] <= off)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

/*
 * TextArg
 *		A text argument as a C string, or NULL.
 */
static char *
TextArg(FunctionCallInfo fcinfo, int n)
{
	return PG_ARGISNULL(n) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(n));
}

/* ---------------------------------------------------------------------
 * _import_sniff
 * ---------------------------------------------------------------------
 */

/*
 * cdp_import_sniff
 *		SQL: cdp_internal._import_sniff(lines text[], encoding text,
 *		delimiter text, OUT encoding text, OUT delimiter text, OUT bom bool,
 *		OUT header text[], OUT consumed int, OUT why text).  encoding is
 *		'auto', 'utf8' or 'cp1251'; delimiter 'auto', ';', ',' or a tab.
 *		'auto' decides from the lines given (the first of the file): a BOM or
 *		valid UTF-8 is UTF-8, anything else Windows-1251; the delimiter is the
 *		most frequent of ';', ',' and tab in the header.  header is the first
 *		record, consumed the lines it takes; why (and no header) when the file
 *		is empty or the header cannot be read.
 */
Datum
cdp_import_sniff(PG_FUNCTION_ARGS)
{
	ArrayType  *lines;
	char	   *encname = TextArg(fcinfo, 1);
	char	   *delimname = TextArg(fcinfo, 2);
	TupleDesc	tupdesc;
	Datum		values[6];
	bool		isnull[6] = {false, false, false, true, true, true};
	ImpEncoding enc;
	bool		bom = false;
	char		delim;
	ImpBuffer	b;
	ImpRecord  *rec;
	int			pos = 0;
	ImpScan		r;

	CdpCheckDatabaseUtf8();
	if (PG_ARGISNULL(0) || encname == NULL || delimname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("lines, encoding and delimiter must not be null")));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	lines = PG_GETARG_ARRAYTYPE_P(0);

	/* the encoding: declared, or a BOM, or valid UTF-8, or Windows-1251 */
	{
		Datum	   *elems;
		bool	   *nulls;
		int			n,
					i;
		bool		utf8 = true;

		deconstruct_array(lines, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
		if (n > 0 && !nulls[0])
		{
			text	   *t = DatumGetTextPP(elems[0]);

			bom = ImpHasBom(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
		}
		for (i = 0; i < n && utf8; i++)
			if (!nulls[i])
			{
				text	   *t = DatumGetTextPP(elems[i]);

				utf8 = ImpLooksUtf8(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
			}
		if (strcmp(encname, "auto") == 0)
			enc = (bom || utf8) ? IMP_ENC_UTF8 : IMP_ENC_CP1251;
		else if (strcmp(encname, "utf8") == 0 || strcmp(encname, "cp1251") == 0)
			enc = EncodingOf(encname);
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid import encoding: \"%s\"", encname),
					 errhint("Use auto, utf8 or cp1251.")));
	}
	BuildBuffer(lines, enc, true, &b);
	values[0] = CStringGetTextDatum(enc == IMP_ENC_CP1251 ? "cp1251" : "utf8");
	values[2] = BoolGetDatum(bom);

	if (strcmp(delimname, "auto") == 0)
		delim = ImpGuessDelimiter(b.text.data, b.text.len);
	else if (strlen(delimname) == 1 && strchr(";,\t|", delimname[0]) != NULL)
		delim = delimname[0];
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid import delimiter: \"%s\"", delimname),
				 errhint("Use auto, \";\", \",\", \"|\" or a tab.")));
	values[1] = CStringGetTextDatum(psprintf("%c", delim));

	rec = palloc0(sizeof(ImpRecord));
	if (b.nlines == 0 || (b.text.len == 0 && b.line_bad[0] == NULL))
	{
		values[5] = CStringGetTextDatum("The file is empty: it has no header line.");
		isnull[5] = false;
	}
	else if (b.line_bad[0] != NULL)
	{
		values[5] = CStringGetTextDatum(b.line_bad[0]);
		isnull[5] = false;
	}
	else if ((r = ImpScanRecord(b.text.data, b.text.len, &pos, delim, true, rec)) != IMP_SCAN_OK)
	{
		values[5] = CStringGetTextDatum(psprintf("The header cannot be read: %s", rec->why));
		isnull[5] = false;
	}
	else
	{
		Datum	   *names = palloc(sizeof(Datum) * rec->nfields);
		int			i;

		for (i = 0; i < rec->nfields; i++)
			names[i] = PointerGetDatum(cstring_to_text_with_len(rec->buf.data + rec->start[i],
																rec->len[i]));
		values[3] = PointerGetDatum(construct_array(names, rec->nfields, TEXTOID, -1, false,
													TYPALIGN_INT));
		values[4] = Int32GetDatum(rec->nlines + 1);
		isnull[3] = isnull[4] = false;
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, isnull)));
}

/* ---------------------------------------------------------------------
 * _import_parse
 * ---------------------------------------------------------------------
 */

/* The output arrays of one chunk. */
typedef struct ImpOut
{
	ArrayBuildState *rows,
			   *lines,
			   *keys,
			   *attrs;
	ArrayBuildState *brows,
			   *blines,
			   *bkeys,
			   *bcols,
			   *bvals,
			   *bwhy;
} ImpOut;

/*
 * CutValue
 *		A value for an error row: at most IMP_ERR_VALUE_BYTES (cut at a
 *		character boundary, with its full size said).
 */
static text *
CutValue(const char *s, int len)
{
	int			cut;

	if (len <= IMP_ERR_VALUE_BYTES)
		return cstring_to_text_with_len(s, len);
	cut = pg_mbcliplen(s, len, IMP_ERR_VALUE_BYTES);
	return cstring_to_text(psprintf("%.*s... (%d bytes)", cut, s, len));
}

/*
 * AddBad
 *		Appends one unreadable row to the error arrays.
 */
static void
AddBad(ImpOut *o, int row, int line, const char *key, const char *col,
	   const char *val, int vallen, const char *why)
{
	MemoryContext cx = CurrentMemoryContext;

	o->brows = accumArrayResult(o->brows, Int32GetDatum(row), false, INT4OID, cx);
	o->blines = accumArrayResult(o->blines, Int32GetDatum(line), false, INT4OID, cx);
	o->bkeys = accumArrayResult(o->bkeys, key ? CStringGetTextDatum(key) : (Datum) 0,
								key == NULL, TEXTOID, cx);
	o->bcols = accumArrayResult(o->bcols, col ? CStringGetTextDatum(col) : (Datum) 0,
								col == NULL, TEXTOID, cx);
	o->bvals = accumArrayResult(o->bvals, val ? PointerGetDatum(CutValue(val, vallen)) : (Datum) 0,
								val == NULL, TEXTOID, cx);
	o->bwhy = accumArrayResult(o->bwhy, CStringGetTextDatum(why), false, TEXTOID, cx);
}

/*
 * ArrayOrEmpty
 *		The array an ArrayBuildState built, or an empty array of its type.
 */
static Datum
ArrayOrEmpty(ArrayBuildState *s, Oid elemtype)
{
	if (s == NULL)
		return PointerGetDatum(construct_empty_array(elemtype));
	return makeArrayResult(s, CurrentMemoryContext);
}

/*
 * RecordAttrs
 *		The attrs document of a record: {"<column key>": "<value>"} for every
 *		non-empty field whose column has a key (the key column and ignored
 *		columns have none).  Keys are unique (the SQL side checks the header).
 */
static Jsonb *
RecordAttrs(const ImpRecord *rec, char **keys, int ncols)
{
	JsonbParseState *ps = NULL;
	JsonbValue *res;
	int			i;

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	for (i = 0; i < ncols && i < rec->nfields; i++)
	{
		JsonbValue	v;

		if (keys[i] == NULL || rec->len[i] == 0)
			continue;
		CdpJsonbPushKey(&ps, keys[i]);
		v.type = jbvString;
		v.val.string.val = rec->buf.data + rec->start[i];
		v.val.string.len = rec->len[i];
		pushJsonbValue(&ps, WJB_VALUE, &v);
	}
	res = pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}

/*
 * IsBlank
 *		Whether s holds only white space.
 */
static bool
IsBlank(const char *s, int len)
{
	int			i;

	for (i = 0; i < len; i++)
		if (!(s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
			return false;
	return true;
}

/*
 * cdp_import_parse
 *		SQL: cdp_internal._import_parse(lines text[], final boolean, encoding
 *		text, delimiter text, header text[], keys text[], key_col int,
 *		first_row int, first_line int) RETURNS cdp_internal.import_parsed.
 *
 *		Reads the records of a chunk of lines (the lines after the header, in
 *		file order; first_row and first_line are the spreadsheet row and the
 *		line number of the first).  header holds the column names as the file
 *		wrote them (for messages), keys the attrs key of each column (NULL:
 *		not put in attrs), key_col the 1-based column of the source id (0:
 *		the kind has none, as consents and segment lists: keys are NULL).  A
 *		record still open at the end of the chunk is left for the next call
 *		(consumed says how many lines were used) unless final.  Blank lines
 *		are skipped (they count as rows, as a spreadsheet shows them).
 */
Datum
cdp_import_parse(PG_FUNCTION_ARGS)
{
	ArrayType  *lines;
	bool		final;
	char	   *encname,
			   *delimname;
	Datum	   *hdr_d,
			   *key_d;
	bool	   *hdr_n,
			   *key_n;
	int			ncols,
				nkeys,
				key_col,
				first_row,
				first_line,
				i;
	char	  **header,
			  **keys;
	ImpBuffer	b;
	ImpRecord  *rec;
	ImpOut		o;
	int			pos = 0,
				row,
				consumed = 0;
	bool		fatal = false;
	MemoryContext rowcxt;
	TupleDesc	tupdesc;
	Datum		values[13];
	bool		isnull[13] = {0};

	CdpCheckDatabaseUtf8();
	for (i = 0; i < 9; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("arguments of _import_parse must not be null")));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);

	lines = PG_GETARG_ARRAYTYPE_P(0);
	final = PG_GETARG_BOOL(1);
	encname = TextArg(fcinfo, 2);
	delimname = TextArg(fcinfo, 3);
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(4), TEXTOID, -1, false, TYPALIGN_INT, &hdr_d, &hdr_n, &ncols);
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(5), TEXTOID, -1, false, TYPALIGN_INT, &key_d, &key_n, &nkeys);
	key_col = PG_GETARG_INT32(6);
	first_row = PG_GETARG_INT32(7);
	first_line = PG_GETARG_INT32(8);
	if (ncols != nkeys || ncols < 1 || ncols > IMP_MAX_FIELDS || key_col < 0 || key_col > ncols ||
		strlen(delimname) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid header description for _import_parse"),
				 errdetail("%d names, %d keys, key column %d.", ncols, nkeys, key_col)));
	header = palloc(sizeof(char *) * ncols);
	keys = palloc(sizeof(char *) * ncols);
	for (i = 0; i < ncols; i++)
	{
		header[i] = hdr_n[i] ? psprintf("column %d", i + 1) : TextDatumGetCString(hdr_d[i]);
		keys[i] = key_n[i] ? NULL : TextDatumGetCString(key_d[i]);
	}

	BuildBuffer(lines, EncodingOf(encname), false, &b);
	rec = palloc0(sizeof(ImpRecord));
	memset(&o, 0, sizeof(o));
	/* the scratch of one record (its jsonb under construction), reset after each */
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "import row", ALLOCSET_SMALL_SIZES);
	row = first_row;

	while (pos < b.text.len || (pos == b.text.len && b.nlines > 0 && consumed < b.nlines))
	{
		int			start = pos;
		int			l0 = LineOf(&b, start);
		int			l1;
		ImpScan		r;
		const char *bad = NULL;
		int			k;

		r = ImpScanRecord(b.text.data, b.text.len, &pos, delimname[0], final, rec);
		if (r == IMP_SCAN_MORE)
		{
			if (b.text.len - start > IMP_MAX_RECORD)
			{
				/* an unclosed quote swallowing the file: stop here */
				AddBad(&o, row, first_line + l0, NULL, NULL, NULL, 0,
					   psprintf("A quoted value opened on this row is still not closed %d bytes later.",
								IMP_MAX_RECORD));
				consumed = b.nlines;
				fatal = true;
			}
			break;
		}
		l1 = (pos > start) ? LineOf(&b, pos - 1) : l0;
		consumed = l1 + 1;
		for (k = l0; k <= l1 && bad == NULL; k++)
			bad = b.line_bad[k];

		if (bad != NULL)
			AddBad(&o, row, first_line + l0, NULL, NULL, NULL, 0, bad);
		else if (r == IMP_SCAN_BAD)
		{
			const char *col = rec->bad_field >= 1 && rec->bad_field <= ncols ?
			header[rec->bad_field - 1] : NULL;

			AddBad(&o, row, first_line + l0, NULL, col, NULL, 0, rec->why);
			if (pos >= b.text.len && !final && rec->why && strstr(rec->why, "not closed"))
				fatal = true;
		}
		else if (rec->nfields == 1 && IsBlank(rec->buf.data, rec->len[0]))
		{
			/* a blank line */
		}
		else if (rec->nfields != ncols)
		{
			const char *raw = b.text.data + start;
			int			rawlen = pos - start;

			if (rawlen > 0 && raw[rawlen - 1] == '\n')
				rawlen--;
			if (rec->nfields < ncols)
				AddBad(&o, row, first_line + l0, NULL, header[rec->nfields], raw, rawlen,
					   psprintf("The row has %d values and the header %d columns: the values from column \"%s\" on are missing.",
								rec->nfields, ncols, header[rec->nfields]));
			else
				AddBad(&o, row, first_line + l0, NULL, psprintf("column %d", ncols + 1), raw, rawlen,
					   psprintf("The row has %d values and the header %d columns: %d extra.",
								rec->nfields, ncols, rec->nfields - ncols));
		}
		else
		{
			const char *kv = key_col > 0 ? rec->buf.data + rec->start[key_col - 1] : NULL;
			int			klen = key_col > 0 ? rec->len[key_col - 1] : 0;

			if (key_col > 0 && IsBlank(kv, klen))
				AddBad(&o, row, first_line + l0, NULL, header[key_col - 1], kv, klen,
					   "The source id is empty: every row needs the id the source system gives the record.");
			else
			{
				MemoryContext cx = MemoryContextSwitchTo(rowcxt);
				Datum		key = kv ? PointerGetDatum(cstring_to_text_with_len(kv, klen)) : (Datum) 0;
				Datum		doc = JsonbPGetDatum(RecordAttrs(rec, keys, ncols));

				/* accumArrayResult copies each value into the array's own context */
				MemoryContextSwitchTo(cx);
				o.rows = accumArrayResult(o.rows, Int32GetDatum(row), false, INT4OID, cx);
				o.lines = accumArrayResult(o.lines, Int32GetDatum(first_line + l0), false, INT4OID, cx);
				o.keys = accumArrayResult(o.keys, key, kv == NULL, TEXTOID, cx);
				o.attrs = accumArrayResult(o.attrs, doc, false, JSONBOID, cx);
				MemoryContextReset(rowcxt);
			}
		}
		row++;
		if (fatal)
		{
			consumed = b.nlines;
			break;
		}
		if (pos >= b.text.len)
			break;
	}

	values[0] = Int32GetDatum(consumed);
	values[1] = Int32GetDatum(row);
	values[2] = ArrayOrEmpty(o.rows, INT4OID);
	values[3] = ArrayOrEmpty(o.lines, INT4OID);
	values[4] = ArrayOrEmpty(o.keys, TEXTOID);
	values[5] = ArrayOrEmpty(o.attrs, JSONBOID);
	values[6] = ArrayOrEmpty(o.brows, INT4OID);
	values[7] = ArrayOrEmpty(o.blines, INT4OID);
	values[8] = ArrayOrEmpty(o.bkeys, TEXTOID);
	values[9] = ArrayOrEmpty(o.bcols, TEXTOID);
	values[10] = ArrayOrEmpty(o.bvals, TEXTOID);
	values[11] = ArrayOrEmpty(o.bwhy, TEXTOID);
	values[12] = BoolGetDatum(fatal);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, isnull)));
}

/*
 * cdp_import_progress
 *		SQL: cdp_internal._import_progress(status text) RETURNS void.  Puts
 *		status in this backend's pg_stat_activity.query (shared memory, so
 *		other sessions see it while the commit's transaction is still open);
 *		the next statement the client sends replaces it.  Needs
 *		track_activities (on by default).
 */
Datum
cdp_import_progress(PG_FUNCTION_ARGS)
{
	char	   *s;

	if (PG_ARGISNULL(0))
		PG_RETURN_VOID();
	s = text_to_cstring(PG_GETARG_TEXT_PP(0));
	pgstat_report_activity(STATE_RUNNING, s);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(cdp_import_split);

/*
 * cdp_import_split
 *		SQL: cdp_internal._import_split(data bytea) RETURNS text[].  The
 *		lines of a file given as bytes, split on '\n' and kept as they are
 *		(the reader decodes them later, after detecting the encoding): what
 *		COPY ... WITH (ENCODING 'SQL_ASCII') would have written to the
 *		staging table.  A NUL byte is refused (22021), as COPY refuses it,
 *		with a hint that the file is likely UTF-16, which is not read.
 */
Datum
cdp_import_split(PG_FUNCTION_ARGS)
{
	bytea	   *data = PG_GETARG_BYTEA_PP(0);
	const char *s = VARDATA_ANY(data);
	int			len = VARSIZE_ANY_EXHDR(data);
	ArrayBuildState *a = NULL;
	int			p = 0;

	if (memchr(s, '\0', len) != NULL)
	{
		/* zero bytes between the letters are UTF-16, Excel's "Unicode text" (issue 16) */
		bool		utf16 = len >= 2 && (((unsigned char) s[0] == 0xFF && (unsigned char) s[1] == 0xFE) ||
										 ((unsigned char) s[0] == 0xFE && (unsigned char) s[1] == 0xFF));

		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("an import file must not contain NUL bytes"),
				 utf16 ? errdetail("The file starts with a UTF-16 byte order mark, and the byte at offset %d is 0.",
								   (int) ((const char *) memchr(s, '\0', len) - s)) :
				 errdetail("The byte at offset %d is 0.", (int) ((const char *) memchr(s, '\0', len) - s)),
				 errhint("A file with zero bytes is usually UTF-16 (\"Unicode text\"), which import does not read: "
						 "save it as CSV in UTF-8 or in Windows-1251 (cp1251).")));
	}
	while (p <= len)
	{
		const char *nl = memchr(s + p, '\n', len - p);
		int			e = nl ? (int) (nl - s) : len;

		if (nl == NULL && p == len && p > 0)
			break;				/* the file ends with a newline */
		a = accumArrayResult(a, PointerGetDatum(cstring_to_text_with_len(s + p, e - p)),
							 false, TEXTOID, CurrentMemoryContext);
		p = e + 1;
	}
	if (a == NULL)
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(TEXTOID));
	PG_RETURN_DATUM(makeArrayResult(a, CurrentMemoryContext));
}
