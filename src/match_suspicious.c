/*-------------------------------------------------------------------------
 *
 * src/match_suspicious.c
 *		cdp_internal._match_suspicious_scan(min_persons): the rows of
 *		SELECT attr, value, persons FROM cdp.suspicious_values
 *		 WHERE value <> ''
 *		from one scan of cdp.record in C (issue 12, session 37; birth dates
 *		since session 39), for the snapshot _match_refresh_suspicious takes.
 *
 * The view (sql/parts/64_match_program.sql) unnests every record's phones
 * and e-mails into values (a phone: regexp_replace(p::text, '\D', '', 'g');
 * an e-mail: lower(btrim(e::text))), counts the values, and for those in
 * min_persons rows or more counts the distinct persons,
 * lower(COALESCE(family_name, '') || ' ' || COALESCE(given_name, '')), of
 * their rows; a value is suspicious when it has min_persons persons or
 * more.  At 1M records (854k phones and e-mails) that took 5-9 s of the
 * first training after a load, most of it the regexp per phone, the
 * materialized CTE and two hash aggregates.  Here:
 *
 * - pass 1, a sequential scan of cdp.record under the statement's
 *	 snapshot: each value is computed and only its 64-bit hash kept (seeded
 *	 by attr), with the heap pointer of its record; the hashes are sorted
 *	 and counted by runs (a hash table of 854k counts cost a cache miss a
 *	 probe, a third of the scan at 1M);
 * - the records holding a value whose hash is counted min_persons times or
 *	 more are fetched again by heap pointer under the same snapshot (in heap
 *	 order), and each of their values whose hash is such a hash is kept as
 *	 a string with the record's person (lower() called once a record);
 * - those (attr, value, person) triples are sorted, and each value with
 *	 min_persons distinct persons or more is returned with their number.
 *
 * - the birth dates (session 39): pass 1 keeps each record's date with its
 *	 heap pointer; sorted, their runs are the records of a date, whose
 *	 median (percentile_disc(0.5)) times SUSP_DATE_FACTOR, and at least
 *	 min_persons, is a date's threshold; the records of the dates with as
 *	 many records are read in the second step too, their date written as
 *	 to_char(d, 'YYYY-MM-DD') with the record's person, and a date with as
 *	 many distinct persons is returned (attr 'birth_date').
 *
 * A hash collision only adds values to the second step, which counts the
 * exact strings: the result is the view's exactly.  A value has at most as
 * many persons as rows, so a value under the threshold in rows is never
 * suspicious (the view's pre-filter, done here on hashes).  A NULL element
 * and a value that is '' are no row of the caller's query (value <> ''),
 * and are skipped.
 *
 * Exactness of each value:
 * - cdp.phone's output is "+" INT64 [";ext=" INT32] (CdpPhoneToCString),
 *	 ASCII only, so '\D' removes exactly the bytes that are not '0'-'9'
 *	 (whatever the locale says of non-ASCII digits: there are none); the
 *	 digits are made from the stored struct as the output function makes
 *	 them, without its palloc.
 * - an e-mail is cdp.email's output function (the cast is WITH INOUT),
 *	 trimmed of spaces at both ends (btrim's default), and lower() of the
 *	 database's default collation (the cast gives text that collation)
 *	 through PostgreSQL's own function, ICU or libc alike; a value of ASCII
 *	 bytes with no capital letter is its own lower case in every provider
 *	 and locale (Turkish maps only 'I' differently), so it skips the call.
 * - a person is lower() of the same concatenation, called on every record
 *	 the second step reads (both name columns must have the default
 *	 collation, as the view's expression then has).
 * - GROUP BY on text under a deterministic collation (PostgreSQL 15 has no
 *	 other default) groups equal bytes: the sort compares bytes.
 *
 * Memory: 16 bytes per phone or e-mail in pass 1 (hash and heap pointer;
 * 12 per birth date: date and heap pointer, 12 MB at 1M records;
 * at 1M records, 854k values, 14 MB, where the view materialized every
 * value with both names), then 14 bytes per element of a frequent hash
 * and the strings of the records holding one (at 1M and threshold 10: 446
 * values in 4,754 elements).
 *
 * It returns NULL (the caller evaluates the view) when it cannot stand in
 * for the view: Citus (the tables are shells of distributed ones);
 * row-level security for the caller on cdp.record, or no SELECT on it or
 * on cdp.suspicious_values (the view then raises the same error); a table
 * that is not a plain heap or has children (a query of it reads them); a
 * column missing or of another type or collation.  The caller passes the
 * threshold it read (_match_suspicious_digest's min_persons, the view's
 * own expression).
 *
 * test/pgtap/74_match_suspicious.sql compares it with the view.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_am_d.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "match.h"
#include "types.h"

#define SUSP_PHONES		0
#define SUSP_EMAILS		1
#define SUSP_DATES		2

/*
 * A birth date is suspicious when its persons are min_persons or more and at
 * least this many times the median records a date of the population has
 * (the view's expression; issue 12, session 39)
 */
#define SUSP_DATE_FACTOR 10

/* a record's birth date in pass 1, with where the record is */
typedef struct SuspDate
{
	DateADT		d;
	ItemPointerData tid;
} SuspDate;

/* the dates sorted (runs of equal dates counted in place) */
#define ST_SORT			susp_sort_dates
#define ST_ELEMENT_TYPE	SuspDate
#define ST_COMPARE(a, b)	((a)->d < (b)->d ? -1 : (a)->d > (b)->d ? 1 : 0)
#define ST_SCOPE		static
#define ST_DEFINE
#include "lib/sort_template.h"

/* one phone or e-mail of a record in pass 1: its value's hash and where the record is */
typedef struct SuspElem
{
	uint64		h;
	ItemPointerData tid;
} SuspElem;

/* the elements sorted by hash (runs of equal hashes counted in place: no random probes) */
#define ST_SORT			susp_sort_elems
#define ST_ELEMENT_TYPE	SuspElem
#define ST_COMPARE(a, b)	((a)->h < (b)->h ? -1 : (a)->h > (b)->h ? 1 : 0)
#define ST_SCOPE		static
#define ST_DEFINE
#include "lib/sort_template.h"

/* a frequent value's hash, one of the second step's rows */
typedef struct SuspTriple
{
	int			attr;
	char	   *value;
	char	   *person;
} SuspTriple;

/* the columns of cdp.record the view reads, and how the e-mails are printed */
typedef struct SuspCols
{
	AttrNumber	family;
	AttrNumber	given;
	AttrNumber	phones;
	AttrNumber	emails;
	AttrNumber	birth;
	Oid			phone_type;
	int16		phone_len;
	bool		phone_byval;
	char		phone_align;
	Oid			email_type;
	int16		email_len;
	bool		email_byval;
	char		email_align;
	FmgrInfo	email_out;
} SuspCols;

/* the values of one record: attr, string (palloc'd in the row context) and hash */
typedef struct SuspValues
{
	int			n;
	int			cap;
	int		   *attr;
	char	  **value;
	uint64	   *h;
} SuspValues;

/*
 * SuspAttnum
 *		The attribute number of column name of rel when it has type typid
 *		(and, for text, the default collation); InvalidAttrNumber otherwise.
 */
static AttrNumber
SuspAttnum(Relation rel, const char *name, Oid typid)
{
	TupleDesc	td = RelationGetDescr(rel);

	for (int i = 0; i < td->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(td, i);

		if (a->attisdropped || strcmp(NameStr(a->attname), name) != 0)
			continue;
		if (a->atttypid != typid)
			return InvalidAttrNumber;
		if (typid == TEXTOID && a->attcollation != DEFAULT_COLLATION_OID)
			return InvalidAttrNumber;
		return i + 1;
	}
	return InvalidAttrNumber;
}

/*
 * SuspLower
 *		lower(s) under the database's default collation, PostgreSQL's own
 *		function; s itself when it is ASCII without a capital letter (its
 *		own lower case for every provider and locale).
 */
static char *
SuspLower(char *s, int len)
{
	bool		plain = true;

	for (int i = 0; i < len; i++)
		if (IS_HIGHBIT_SET(s[i]) || (s[i] >= 'A' && s[i] <= 'Z'))
		{
			plain = false;
			break;
		}
	if (plain)
		return s;
	return TextDatumGetCString(DirectFunctionCall1Coll(lower, DEFAULT_COLLATION_OID,
													   PointerGetDatum(cstring_to_text_with_len(s, len))));
}

/*
 * SuspAdd
 *		Appends a value of a record (skipped when ''), with its hash.
 */
static void
SuspAdd(SuspValues *sv, int attr, char *value, int len)
{
	if (len == 0)
		return;
	if (sv->n == sv->cap)
	{
		sv->cap = sv->cap == 0 ? 8 : sv->cap * 2;
		if (sv->attr == NULL)
		{
			sv->attr = palloc(sizeof(int) * sv->cap);
			sv->value = palloc(sizeof(char *) * sv->cap);
			sv->h = palloc(sizeof(uint64) * sv->cap);
		}
		else
		{
			sv->attr = repalloc(sv->attr, sizeof(int) * sv->cap);
			sv->value = repalloc(sv->value, sizeof(char *) * sv->cap);
			sv->h = repalloc(sv->h, sizeof(uint64) * sv->cap);
		}
	}
	sv->attr[sv->n] = attr;
	sv->value[sv->n] = value;
	sv->h[sv->n] = hash_bytes_extended((const unsigned char *) value, len, (uint64) attr + 1);
	sv->n++;
}

/*
 * SuspAppendDigits
 *		Appends the digits of num to out at position k (what the view's
 *		regexp_replace(..., '\D', '', 'g') keeps); returns the new position.
 */
static int
SuspAppendDigits(char *out, int k, const char *num)
{
	for (const char *s = num; *s; s++)
		if (*s >= '0' && *s <= '9')
			out[k++] = *s;
	return k;
}

/*
 * SuspRecordValues
 *		The view's values of the record in slot (no NULL, no ''), in the
 *		current memory context: the phones' digits, the e-mails trimmed and
 *		lowercased.
 */
static void
SuspRecordValues(TupleTableSlot *slot, SuspCols *c, SuspValues *sv)
{
	bool		isnull;
	Datum		d;
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	sv->n = 0;
	sv->cap = 0;
	sv->attr = NULL;
	sv->value = NULL;
	sv->h = NULL;

	d = slot_getattr(slot, c->phones, &isnull);
	if (!isnull)
	{
		deconstruct_array(DatumGetArrayTypeP(d), c->phone_type, c->phone_len, c->phone_byval,
						  c->phone_align, &elems, &nulls, &n);
		for (int i = 0; i < n; i++)
		{
			CdpPhone   *p;
			char		num[MAXINT8LEN + 1];
			char	   *out;
			int			k = 0;

			if (nulls[i])
				continue;
			p = DatumGetCdpPhoneP(elems[i]);
			/* the digits of "+" e164 [";ext=" ext], as CdpPhoneToCString prints it */
			out = palloc(2 * (MAXINT8LEN + 1));
			pg_lltoa(p->e164, num);
			k = SuspAppendDigits(out, k, num);
			if (p->ext != 0)
			{
				pg_ltoa(p->ext, num);
				k = SuspAppendDigits(out, k, num);
			}
			out[k] = '\0';
			SuspAdd(sv, SUSP_PHONES, out, k);
		}
	}

	d = slot_getattr(slot, c->emails, &isnull);
	if (!isnull)
	{
		deconstruct_array(DatumGetArrayTypeP(d), c->email_type, c->email_len, c->email_byval,
						  c->email_align, &elems, &nulls, &n);
		for (int i = 0; i < n; i++)
		{
			char	   *s;
			int			len;

			if (nulls[i])
				continue;
			s = OutputFunctionCall(&c->email_out, elems[i]);
			/* btrim(s): spaces at both ends */
			while (*s == ' ')
				s++;
			len = strlen(s);
			while (len > 0 && s[len - 1] == ' ')
				len--;
			s[len] = '\0';
			if (len == 0)
				continue;
			s = SuspLower(s, len);
			SuspAdd(sv, SUSP_EMAILS, s, strlen(s));
		}
	}
}

/*
 * SuspPerson
 *		lower(COALESCE(family_name, '') || ' ' || COALESCE(given_name, ''))
 *		of the record in slot.
 */
static char *
SuspPerson(TupleTableSlot *slot, SuspCols *c)
{
	bool		fnull,
				gnull;
	Datum		f = slot_getattr(slot, c->family, &fnull);
	Datum		g = slot_getattr(slot, c->given, &gnull);
	StringInfoData buf;

	initStringInfo(&buf);
	if (!fnull)
		appendStringInfoString(&buf, TextDatumGetCString(f));
	appendStringInfoChar(&buf, ' ');
	if (!gnull)
		appendStringInfoString(&buf, TextDatumGetCString(g));
	return TextDatumGetCString(DirectFunctionCall1Coll(lower, DEFAULT_COLLATION_OID,
													   PointerGetDatum(cstring_to_text_with_len(buf.data, buf.len))));
}

/*
 * SuspGrow
 *		arr (of *cap elements of size bytes each) with twice the room, *cap
 *		updated; an error past the largest allocation.
 */
static void *
SuspGrow(void *arr, int64 *cap, Size size)
{
	if ((Size) *cap * 2 > MaxAllocHugeSize / size)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many phones and e-mails for _match_suspicious_scan")));
	*cap *= 2;
	return repalloc_huge(arr, size * *cap);
}

/*
 * SuspPushTriple
 *		Appends (attr, value, the record's person) to *triples (*n of *cap
 *		used), the person of the record in slot computed in row_cxt on its
 *		first use for the record (*person NULL) and copied to the current
 *		context.
 */
static void
SuspPushTriple(SuspTriple **triples, int64 *n, int64 *cap, int attr, char *value, char **person,
			   TupleTableSlot *slot, SuspCols *c, MemoryContext row_cxt)
{
	if (*person == NULL)
	{
		MemoryContext cur = MemoryContextSwitchTo(row_cxt);
		char	   *p = SuspPerson(slot, c);

		MemoryContextSwitchTo(cur);
		*person = pstrdup(p);
	}
	if (*n == *cap)
		*triples = SuspGrow(*triples, cap, sizeof(SuspTriple));
	(*triples)[*n].attr = attr;
	(*triples)[*n].value = value;
	(*triples)[*n].person = *person;
	(*n)++;
}

/*
 * SuspCmpTid
 *		Heap order of two heap pointers.
 */
static int
SuspCmpTid(const void *a, const void *b)
{
	return ItemPointerCompare((ItemPointer) a, (ItemPointer) b);
}

/*
 * SuspCmpHash
 *		Order of two value hashes.
 */
static int
SuspCmpHash(const void *a, const void *b)
{
	uint64		x = *(const uint64 *) a;
	uint64		y = *(const uint64 *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/*
 * SuspCmpInt64
 *		Order of two counts.
 */
static int
SuspCmpInt64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/*
 * SuspCmpTriple
 *		(attr, value, person) order, strings by bytes.
 */
static int
SuspCmpTriple(const void *a, const void *b)
{
	const SuspTriple *x = a;
	const SuspTriple *y = b;
	int			r;

	if (x->attr != y->attr)
		return x->attr < y->attr ? -1 : 1;
	r = strcmp(x->value, y->value);
	if (r != 0)
		return r;
	return strcmp(x->person, y->person);
}

/*
 * SuspCmpDate
 *		Order of two dates.
 */
static int
SuspCmpDate(const void *a, const void *b)
{
	DateADT		x = *(const DateADT *) a;
	DateADT		y = *(const DateADT *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/*
 * SuspOpen
 *		cdp.record opened for the scan with its columns in *c, or NULL
 *		(nothing kept open) when the scan cannot stand in for the view.
 */
static Relation
SuspOpen(SuspCols *c)
{
	Oid			nsp = get_namespace_oid("cdp", false);
	Oid			recid = get_relname_relid("record", nsp);
	Oid			viewid = get_relname_relid("suspicious_values", nsp);
	Oid			phone_type = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
											 CStringGetDatum("phone"), ObjectIdGetDatum(nsp));
	Oid			email_type = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
											 CStringGetDatum("email"), ObjectIdGetDatum(nsp));
	Relation	rel;
	bool		ok;

	if (!OidIsValid(recid) || !OidIsValid(viewid) || !OidIsValid(phone_type) || !OidIsValid(email_type))
		return NULL;
	rel = table_open(recid, AccessShareLock);
	ok = rel->rd_rel->relkind == RELKIND_RELATION && rel->rd_rel->relam == HEAP_TABLE_AM_OID &&
		!has_subclass(recid) &&
		pg_class_aclcheck(recid, GetUserId(), ACL_SELECT) == ACLCHECK_OK &&
		pg_class_aclcheck(viewid, GetUserId(), ACL_SELECT) == ACLCHECK_OK &&
		check_enable_rls(recid, InvalidOid, true) != RLS_ENABLED &&
		get_typlen(phone_type) == sizeof(CdpPhone) &&
		get_array_type(phone_type) != InvalidOid && get_array_type(email_type) != InvalidOid;
	if (ok)
	{
		c->family = SuspAttnum(rel, "family_name", TEXTOID);
		c->given = SuspAttnum(rel, "given_name", TEXTOID);
		c->phones = SuspAttnum(rel, "phones", get_array_type(phone_type));
		c->emails = SuspAttnum(rel, "emails", get_array_type(email_type));
		c->birth = SuspAttnum(rel, "birth_date", DATEOID);
		ok = c->family != InvalidAttrNumber && c->given != InvalidAttrNumber &&
			c->phones != InvalidAttrNumber && c->emails != InvalidAttrNumber &&
			c->birth != InvalidAttrNumber;
	}
	if (!ok)
	{
		table_close(rel, AccessShareLock);
		return NULL;
	}
	{
		Oid			fn;
		bool		isvarlena;

		c->phone_type = phone_type;
		get_typlenbyvalalign(phone_type, &c->phone_len, &c->phone_byval, &c->phone_align);
		c->email_type = email_type;
		get_typlenbyvalalign(email_type, &c->email_len, &c->email_byval, &c->email_align);
		getTypeOutputInfo(email_type, &fn, &isvarlena);
		fmgr_info(fn, &c->email_out);
	}
	return rel;
}

PG_FUNCTION_INFO_V1(cdp_match_suspicious_scan);

/*
 * cdp_match_suspicious_scan
 *		SQL cdp_internal._match_suspicious_scan(min_persons int, OUT attrs
 *		text[], OUT vals text[], OUT persons int[]): the rows of
 *		cdp.suspicious_values with a value other than '' under threshold
 *		min_persons, sorted by attr (phones first) and value bytes; NULL when
 *		the view must be evaluated instead (see the file header).
 */
Datum
cdp_match_suspicious_scan(PG_FUNCTION_ARGS)
{
	int32		min_persons;
	SuspCols	c;
	Relation	rel;
	Snapshot	snap;
	TableScanDesc scan;
	TupleTableSlot *slot;
	MemoryContext cxt = CurrentMemoryContext,
				row_cxt,
				old;
	SuspElem   *elems;
	int64		nelems = 0;
	int64		capelems = 1024;
	uint64	   *cands = NULL;
	int64		ncands = 0;
	ItemPointerData *tids = NULL;
	int64		ntids = 0;
	SuspTriple *triples;
	int64		ntriples = 0;
	int64		captriples = 64;
	SuspDate   *dates;
	int64		ndates = 0;
	int64		capdates = 1024;
	DateADT    *cdates = NULL;
	int64		ncdates = 0;
	int64		date_min;
	ArrayBuildState *a_attr,
			   *a_val,
			   *a_pers;
	TupleDesc	rtd;
	Datum		rv[3];
	bool		rn[3] = {false, false, false};

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"min_persons\" of cdp_internal._match_suspicious_scan must not be null")));
	min_persons = PG_GETARG_INT32(0);
	if (get_call_result_type(fcinfo, NULL, &rtd) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "_match_suspicious_scan must return a composite");

	/* under Citus the tables are shells of distributed ones: only its executor reads them */
	if (OidIsValid(get_extension_oid("citus", true)))
		PG_RETURN_NULL();
	rel = SuspOpen(&c);
	if (rel == NULL)
		PG_RETURN_NULL();

	/* the statement's snapshot, as the view's query would read the table */
	snap = RegisterSnapshot(GetActiveSnapshot());
	row_cxt = AllocSetContextCreate(cxt, "cdp _match_suspicious_scan row", ALLOCSET_DEFAULT_SIZES);
	elems = palloc(sizeof(SuspElem) * capelems);
	dates = palloc(sizeof(SuspDate) * capdates);

	/* pass 1: every value's hash with its record */
	scan = table_beginscan(rel, snap, 0, NULL);
	slot = table_slot_create(rel, NULL);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		SuspValues	sv;

		CHECK_FOR_INTERRUPTS();
		old = MemoryContextSwitchTo(row_cxt);
		SuspRecordValues(slot, &c, &sv);
		MemoryContextSwitchTo(old);
		for (int i = 0; i < sv.n; i++)
		{
			if (nelems == capelems)
				elems = SuspGrow(elems, &capelems, sizeof(SuspElem));
			elems[nelems].h = sv.h[i];
			elems[nelems].tid = slot->tts_tid;
			nelems++;
		}
		{
			bool		isnull;
			Datum		bd = slot_getattr(slot, c.birth, &isnull);

			if (!isnull)
			{
				if (ndates == capdates)
					dates = SuspGrow(dates, &capdates, sizeof(SuspDate));
				dates[ndates].d = DatumGetDateADT(bd);
				dates[ndates].tid = slot->tts_tid;
				ndates++;
			}
		}
		MemoryContextReset(row_cxt);
	}
	table_endscan(scan);

	/*
	 * the hashes in min_persons elements or more (a run of the sorted
	 * elements), and the records holding them, in heap order, each once
	 */
	if (nelems > 1)
		susp_sort_elems(elems, nelems);
	for (int pass = 0; pass < 2; pass++)
	{
		/* pass 0 counts the hashes and records, pass 1 keeps them */
		if (pass == 1)
		{
			tids = palloc_extended(sizeof(ItemPointerData) * Max(ntids, 1), MCXT_ALLOC_HUGE);
			cands = palloc_extended(sizeof(uint64) * Max(ncands, 1), MCXT_ALLOC_HUGE);
			ntids = ncands = 0;
		}
		for (int64 i = 0; i < nelems;)
		{
			int64		j = i + 1;

			while (j < nelems && elems[j].h == elems[i].h)
				j++;
			if (j - i >= (int64) min_persons)
			{
				if (pass == 1)
				{
					cands[ncands] = elems[i].h;
					for (int64 k = i; k < j; k++)
						tids[ntids + k - i] = elems[k].tid;
				}
				ncands++;
				ntids += j - i;
			}
			i = j;
		}
	}
	pfree(elems);

	/*
	 * the birth dates: records per date (runs of the sorted dates), the
	 * threshold max(min_persons, SUSP_DATE_FACTOR x the median of those
	 * counts, percentile_disc(0.5) as the view takes it), and the records
	 * of the dates with as many records as that (a date has no more persons
	 * than records)
	 */
	date_min = min_persons;
	if (ndates > 0)
	{
		int64	   *counts = palloc_extended(sizeof(int64) * ndates, MCXT_ALLOC_HUGE);
		int64		ncounts = 0;
		int64		median;
		int64		ndtids = 0;

		if (ndates > 1)
			susp_sort_dates(dates, ndates);
		for (int64 i = 0; i < ndates;)
		{
			int64		j = i + 1;

			while (j < ndates && dates[j].d == dates[i].d)
				j++;
			counts[ncounts++] = j - i;
			i = j;
		}
		qsort(counts, ncounts, sizeof(int64), SuspCmpInt64);
		/* percentile_disc(0.5): the first value at or past half of them */
		median = counts[Max((ncounts + 1) / 2, 1) - 1];
		if (median > PG_INT64_MAX / SUSP_DATE_FACTOR)
			median = PG_INT64_MAX / SUSP_DATE_FACTOR;
		date_min = Max((int64) min_persons, SUSP_DATE_FACTOR * median);
		pfree(counts);

		for (int pass = 0; pass < 2; pass++)
		{
			/* pass 0 counts the dates and records, pass 1 keeps them */
			if (pass == 1)
			{
				cdates = palloc(sizeof(DateADT) * Max(ncdates, 1));
				tids = repalloc_huge(tids, sizeof(ItemPointerData) * Max(ntids + ndtids, 1));
				ncdates = 0;
			}
			for (int64 i = 0; i < ndates;)
			{
				int64		j = i + 1;

				while (j < ndates && dates[j].d == dates[i].d)
					j++;
				if (j - i >= date_min)
				{
					if (pass == 1)
					{
						cdates[ncdates] = dates[i].d;
						for (int64 k = i; k < j; k++)
							tids[ntids++] = dates[k].tid;
					}
					else
						ndtids += j - i;
					ncdates++;
				}
				i = j;
			}
		}
	}
	pfree(dates);

	if (ntids > 1)
		qsort(tids, ntids, sizeof(ItemPointerData), SuspCmpTid);
	{
		int64		m = 0;

		for (int64 i = 0; i < ntids; i++)
			if (m == 0 || !ItemPointerEquals(&tids[m - 1], &tids[i]))
				tids[m++] = tids[i];
		ntids = m;
	}

	/* step 2: their frequent values as strings, with the record's person */
	triples = palloc(sizeof(SuspTriple) * captriples);
	for (int64 t = 0; t < ntids; t++)
	{
		SuspValues	sv;
		char	   *person = NULL;

		CHECK_FOR_INTERRUPTS();
		if (!table_tuple_fetch_row_version(rel, &tids[t], snap, slot))
			elog(ERROR, "_match_suspicious_scan: a record seen by the scan is gone");
		old = MemoryContextSwitchTo(row_cxt);
		SuspRecordValues(slot, &c, &sv);
		MemoryContextSwitchTo(cxt);
		/* the record's birth date, when it is one of the frequent dates */
		if (ncdates > 0)
		{
			bool		isnull;
			Datum		bd = slot_getattr(slot, c.birth, &isnull);
			DateADT		d = isnull ? 0 : DatumGetDateADT(bd);

			if (!isnull && bsearch(&d, cdates, ncdates, sizeof(DateADT), SuspCmpDate) != NULL)
			{
				char	   *value = MatchDateText(d, true);

				/* no '' and no NULL (an infinite date): no row of the caller */
				if (value != NULL && *value != '\0')
					SuspPushTriple(&triples, &ntriples, &captriples, SUSP_DATES, value, &person,
								   slot, &c, row_cxt);
			}
		}
		for (int i = 0; i < sv.n; i++)
		{
			if (bsearch(&sv.h[i], cands, ncands, sizeof(uint64), SuspCmpHash) == NULL)
				continue;
			SuspPushTriple(&triples, &ntriples, &captriples, sv.attr[i], pstrdup(sv.value[i]), &person,
						   slot, &c, row_cxt);
		}
		MemoryContextSwitchTo(old);
		MemoryContextReset(row_cxt);
	}
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snap);
	table_close(rel, AccessShareLock);
	pfree(cands);
	pfree(tids);
	if (cdates)
		pfree(cdates);

	/* the values with min_persons distinct persons or more */
	if (ntriples > 1)
		qsort(triples, ntriples, sizeof(SuspTriple), SuspCmpTriple);
	a_attr = initArrayResult(TEXTOID, cxt, false);
	a_val = initArrayResult(TEXTOID, cxt, false);
	a_pers = initArrayResult(INT4OID, cxt, false);
	for (int64 i = 0; i < ntriples;)
	{
		int64		j = i + 1;
		int64		persons = 1;

		for (; j < ntriples && triples[j].attr == triples[i].attr &&
			 strcmp(triples[j].value, triples[i].value) == 0; j++)
			if (strcmp(triples[j].person, triples[j - 1].person) != 0)
				persons++;
		if (persons >= (triples[i].attr == SUSP_DATES ? date_min : (int64) min_persons))
		{
			if (persons > PG_INT32_MAX)
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("integer out of range")));
			accumArrayResult(a_attr, CStringGetTextDatum(triples[i].attr == SUSP_PHONES ? "phones" :
														 triples[i].attr == SUSP_EMAILS ? "emails" : "birth_date"),
							 false, TEXTOID, cxt);
			accumArrayResult(a_val, CStringGetTextDatum(triples[i].value), false, TEXTOID, cxt);
			accumArrayResult(a_pers, Int32GetDatum((int32) persons), false, INT4OID, cxt);
		}
		i = j;
	}
	MemoryContextDelete(row_cxt);

	rv[0] = makeArrayResult(a_attr, cxt);
	rv[1] = makeArrayResult(a_val, cxt);
	rv[2] = makeArrayResult(a_pers, cxt);
	rtd = BlessTupleDesc(rtd);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(rtd, rv, rn)));
}
