/*-------------------------------------------------------------------------
 *
 * src/ingest_values.c
 *		One value of an attrs document, for src/ingest_attrs.c: text cleaned of
 *		control and invisible or bidirectional characters, identifiers parsed
 *		by the cdp types' own input functions (their oids cached per backend)
 *		with placeholder numbers refused, birth dates in the formats clinics
 *		write, sex in Latin or Russian, social handles.  A refused value goes
 *		through Reject (raise, or lenient: extra._invalid).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "access/htup_details.h"
#include "common/md5.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/typcache.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/formatting.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/syscache.h"

#include "cdp.h"
#include "cdp_jsonb.h"
#include "text.h"
#include "types.h"
#include "ingest_int.h"


IdentType	ident_types[IT_COUNT] = {
	{"phone"}, {"email"}, {"snils"}, {"oms"}
};
static bool ident_types_ready = false;
static bool ident_types_callback = false;

/*
 * IdentTypesInvalidate
 *		Syscache callback: any change to pg_type or pg_proc (DROP and CREATE
 *		EXTENSION in the same connection, above all) forgets the cached oids,
 *		so the next call looks them up again instead of using dead ones.
 */
static void
IdentTypesInvalidate(Datum arg, int cacheid, uint32 hashvalue)
{
	ident_types_ready = false;
}

/*
 * LoadIdentTypes
 *		Looks up the cdp identifier types once per backend (again after an
 *		invalidation).
 */
void
LoadIdentTypes(void)
{
	Oid			nsp;
	int			i;

	if (ident_types_ready)
		return;
	if (!ident_types_callback)
	{
		CacheRegisterSyscacheCallback(TYPEOID, IdentTypesInvalidate, (Datum) 0);
		CacheRegisterSyscacheCallback(PROCOID, IdentTypesInvalidate, (Datum) 0);
		ident_types_callback = true;
	}
	/* the schema is fixed by cdp.control (not relocatable) */
	nsp = get_namespace_oid("cdp", false);
	for (i = 0; i < IT_COUNT; i++)
	{
		IdentType  *t = &ident_types[i];
		bool		isvarlena;

		t->typoid = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
									CStringGetDatum(t->typname), ObjectIdGetDatum(nsp));
		if (!OidIsValid(t->typoid))
			elog(ERROR, "cdp type \"%s\" is missing", t->typname);
		getTypeInputInfo(t->typoid, &t->typinput, &t->typioparam);
		getTypeOutputInfo(t->typoid, &t->typoutput, &isvarlena);
		get_typlenbyvalalign(t->typoid, &t->typlen, &t->typbyval, &t->typalign);
		fmgr_info_cxt(t->typinput, &t->in_fn, TopMemoryContext);
		fmgr_info_cxt(t->typoutput, &t->out_fn, TopMemoryContext);
	}
	ident_types_ready = true;
}

/*
 * UnicodeGap
 *		For the UTF-8 sequence at s (n bytes left): its length in *seqlen and
 *		1 when it is white space other than ASCII (no-break, en/em/thin
 *		spaces, line and paragraph separators, ideographic space), 2 when it
 *		is an invisible or bidirectional control (C1 controls, soft hyphen,
 *		zero-width space/joiners, LRM/RLM/ALM, the embeddings and overrides
 *		U+202A-U+202E, word joiner and invisible operators, the isolates
 *		U+2066-U+2069, the byte order mark), 0 otherwise.  A right-to-left
 *		override in a name shows it reversed and zero-width characters make
 *		two equal-looking names differ (issue 16): they carry no letter.
 */
static int
UnicodeGap(const unsigned char *s, int n, int *seqlen)
{
	*seqlen = 1;
	if (s[0] == 0xC2 && n >= 2)
	{
		*seqlen = 2;
		if (s[1] == 0xA0)
			return 1;
		if ((s[1] >= 0x80 && s[1] <= 0x9F) || s[1] == 0xAD)
			return 2;
	}
	else if (s[0] == 0xD8 && n >= 2 && s[1] == 0x9C)
	{
		*seqlen = 2;
		return 2;
	}
	else if (s[0] == 0xE1 && n >= 3 && s[1] == 0xA0 && s[2] == 0x8E)
	{
		*seqlen = 3;
		return 2;
	}
	else if (s[0] == 0xE2 && n >= 3 && s[1] == 0x80)
	{
		*seqlen = 3;
		if (s[2] <= 0x8A || s[2] == 0xA8 || s[2] == 0xA9 || s[2] == 0xAF)
			return 1;
		if ((s[2] >= 0x8B && s[2] <= 0x8F) || (s[2] >= 0xAA && s[2] <= 0xAE))
			return 2;
	}
	else if (s[0] == 0xE2 && n >= 3 && s[1] == 0x81)
	{
		*seqlen = 3;
		if (s[2] == 0x9F)
			return 1;
		if ((s[2] >= 0xA0 && s[2] <= 0xA4) || (s[2] >= 0xA6 && s[2] <= 0xAF))
			return 2;
	}
	else if (s[0] == 0xE3 && n >= 3 && s[1] == 0x80 && s[2] == 0x80)
	{
		*seqlen = 3;
		return 1;
	}
	else if (s[0] == 0xEF && n >= 3 && s[1] == 0xBB && s[2] == 0xBF)
	{
		*seqlen = 3;
		return 2;
	}
	*seqlen = 1;
	return 0;
}

/*
 * CleanText
 *		Trims and collapses white space; drops control characters and, in a
 *		UTF-8 database, invisible and bidirectional controls (UnicodeGap),
 *		reading Unicode spaces as spaces.  NULL for an empty result.
 */
char *
CleanText(const char *s, int len)
{
	StringInfoData buf;
	bool		space = false;
	bool		utf8 = GetDatabaseEncoding() == PG_UTF8;
	int			i;

	initStringInfo(&buf);
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v')
		{
			space = true;
			continue;
		}
		if (c < 0x20 || c == 0x7F)
			continue;
		if (utf8 && c >= 0xC2)
		{
			int			seqlen;
			int			gap = UnicodeGap((const unsigned char *) s + i, len - i, &seqlen);

			if (gap != 0)
			{
				if (gap == 1)
					space = true;
				i += seqlen - 1;
				continue;
			}
		}
		if (space && buf.len > 0)
			appendStringInfoChar(&buf, ' ');
		space = false;
		appendStringInfoChar(&buf, (char) c);
	}
	if (buf.len == 0)
		return NULL;
	return buf.data;
}

/*
 * CheckedText
 *		A cleaned string value with a byte cap; NULL when empty or rejected.
 */
char *
CheckedText(NormState *st, const char *s, int len, int cap)
{
	char	   *v;

	if (len > cap)
	{
		char	   *why = psprintf("The value is %d bytes long; at most %d bytes are accepted.", len, cap);

		Reject(st, ERRCODE_STRING_DATA_RIGHT_TRUNCATION, pnstrdup(s, Min(len, 100)), why, NULL);
		return NULL;
	}
	v = CleanText(s, len);
	return v;
}

/*
 * TryIdent
 *		What cdp.try_<type> does, through the non-throwing parsers of the
 *		types family (types.h): false when value is not a valid identifier
 *		of that type, else the value in *val and its canonical text (what the
 *		type's output function prints) in *canon.
 */
bool
TryIdent(int which, const char *value, Datum *val, char **canon)
{
	int			len = strlen(value);

	switch (which)
	{
		case IT_PHONE:
			{
				CdpPhone   *p = palloc(sizeof(CdpPhone));

				if (!CdpParsePhone(value, len, p, NULL))
					return false;
				*val = CdpPhonePGetDatum(p);
				*canon = CdpPhoneToCString(p);
				return true;
			}
		case IT_EMAIL:
			{
				char	   *c;

				if (!CdpParseEmail(value, len, &c, NULL))
					return false;
				*val = PointerGetDatum(cstring_to_text(c));
				*canon = c;
				return true;
			}
		case IT_SNILS:
			{
				int64		v;

				if (!CdpParseSnils(value, len, &v, NULL))
					return false;
				*val = Int64GetDatum(v);
				*canon = CdpSnilsToCString(v);
				return true;
			}
		case IT_OMS:
			{
				int64		v;

				if (!CdpParseOms(value, len, &v, NULL))
					return false;
				*val = Int64GetDatum(v);
				*canon = CdpOmsToCString(v);
				return true;
			}
	}
	elog(ERROR, "unknown identifier type %d", which);
	return false;
}

/*
 * IdentPlaceholder
 *		Why a valid identifier (its canonical text) is a placeholder, or NULL:
 *		a SNILS whose nine digits are one digit repeated ("111-111-111 45"
 *		passes the check number) or a phone whose last ten digits are
 *		("+7 999 999-99-99").  Forms hold them when the real value is
 *		unknown, so two unrelated people share them; stored, they would be
 *		evidence that the two are one (issue 16).  cdp.oms refuses its own
 *		placeholders (src/type_oms.c); e-mail fillers are left to the
 *		matcher's suspicious values.
 */
const char *
IdentPlaceholder(int which, const char *canon)
{
	char		digits[32];
	int			nd = 0;
	int			from;
	int			i;

	if (which != IT_SNILS && which != IT_PHONE)
		return NULL;
	for (; *canon && nd < (int) sizeof(digits); canon++)
		if (*canon >= '0' && *canon <= '9')
			digits[nd++] = *canon;
	/* SNILS: the nine digits before the check number; phone: the last ten */
	if (which == IT_SNILS)
	{
		if (nd != 11)
			return NULL;
		from = 0;
		nd = 9;
	}
	else
	{
		if (nd < 10)
			return NULL;
		from = nd - 10;
	}
	for (i = from + 1; i < nd; i++)
		if (digits[i] != digits[from])
			return NULL;
	return which == IT_SNILS
		? "A SNILS of one repeated digit is a placeholder, not an issued number."
		: "A phone number of one repeated digit is a placeholder, not a subscriber's number.";
}

/*
 * ParseIdent
 *		Parses an identifier with its cdp type and returns the canonical text
 *		(and the value in *val), or NULL (lenient mode) when it is not valid.
 *		In strict mode the type's own error is raised, with the key named by
 *		the error context.  A placeholder (IdentPlaceholder) is refused the
 *		same way, so it never reaches the record as evidence.
 */
char *
ParseIdent(NormState *st, int which, const char *value, Datum *val)
{
	IdentType  *t = &ident_types[which];
	char	   *canon;
	const char *why;

	if (!st->lenient)
	{
		*val = InputFunctionCall(&t->in_fn, (char *) value, t->typioparam, -1);
		canon = OutputFunctionCall(&t->out_fn, *val);
	}
	else
	{
		/*
		 * Lenient: the non-throwing parser the input function shares, so no
		 * error is caught and swallowed here.
		 */
		if (!TryIdent(which, value, val, &canon))
		{
			Reject(st, ERRCODE_INVALID_TEXT_REPRESENTATION, value,
				   psprintf("The value is not a valid %s.", t->typname), NULL);
			return NULL;
		}
	}
	if ((why = IdentPlaceholder(which, canon)) != NULL)
	{
		Reject(st, ERRCODE_INVALID_PARAMETER_VALUE, value, why,
			   "Leave the field out when the real value is not known.");
		return NULL;
	}
	return canon;
}

/*
 * LowerCase
 *		str_tolower with the database collation, skipped for plain ASCII text
 *		without capitals (the common case for keys and handles), which every
 *		locale leaves as it is.
 */
char *
LowerCase(const char *s, size_t len)
{
	size_t		i;

	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c >= 0x80 || (c >= 'A' && c <= 'Z'))
			return str_tolower(s, len, DEFAULT_COLLATION_OID);
	}
	return pnstrdup(s, len);
}

/*
 * ParseBirthDate
 *		Accepts YYYY-MM-DD, DD.MM.YYYY, DD/MM/YYYY and YYYYMMDD (a time part
 *		after the date is ignored) between 1880-01-01 and today.
 */
char *
ParseBirthDate(NormState *st, const char *s, DateADT *val)
{
	int			y = 0, m = 0, d = 0;
	int			n = 0;
	char		tail = '\0';
	const char *hint = "Use YYYY-MM-DD, DD.MM.YYYY or YYYYMMDD.";
	DateADT		date, today;

	if (sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &n) == 3 && n == 10)
		tail = s[n];
	else if (sscanf(s, "%2d.%2d.%4d%n", &d, &m, &y, &n) == 3 && n == 10)
		tail = s[n];
	else if (sscanf(s, "%2d/%2d/%4d%n", &d, &m, &y, &n) == 3 && n == 10)
		tail = s[n];
	else if (strlen(s) == 8 && strspn(s, "0123456789") == 8)
	{
		y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
		m = (s[4] - '0') * 10 + (s[5] - '0');
		d = (s[6] - '0') * 10 + (s[7] - '0');
		n = 8;
	}
	else
	{
		Reject(st, ERRCODE_INVALID_DATETIME_FORMAT, s,
			   psprintf("\"%s\" is not a date in a known format.", s), hint);
		return NULL;
	}
	if (tail != '\0' && tail != ' ' && tail != 'T')
	{
		Reject(st, ERRCODE_INVALID_DATETIME_FORMAT, s,
			   psprintf("\"%s\" has trailing characters after the date.", s), hint);
		return NULL;
	}
	if (m < 1 || m > 12 || d < 1 || d > day_tab[isleap(y)][m - 1])
	{
		Reject(st, ERRCODE_DATETIME_FIELD_OVERFLOW, s,
			   psprintf("\"%s\" is not a calendar date.", s), hint);
		return NULL;
	}
	date = date2j(y, m, d) - POSTGRES_EPOCH_JDATE;
	today = GetSQLCurrentDate();
	if (y < 1880 || date > today)
	{
		Reject(st, ERRCODE_DATETIME_FIELD_OVERFLOW, s,
			   psprintf("Birth date \"%s\" is outside 1880-01-01 .. today.", s), NULL);
		return NULL;
	}
	*val = date;
	return psprintf("%04d-%02d-%02d", y, m, d);
}

/*
 * ParseSex
 *		M/F in Latin or Russian, words or one letter.
 */
char *
ParseSex(NormState *st, const char *s)
{
	static const char *const male[] = {"m", "male", "man", "м", "муж", "мужской", "мужчина", "1"};
	static const char *const female[] = {"f", "female", "woman", "ж", "жен", "женский", "женщина", "2"};
	char	   *low = LowerCase(s, strlen(s));
	int			i;

	for (i = 0; i < lengthof(male); i++)
		if (strcmp(low, male[i]) == 0)
			return "M";
	for (i = 0; i < lengthof(female); i++)
		if (strcmp(low, female[i]) == 0)
			return "F";
	Reject(st, ERRCODE_INVALID_PARAMETER_VALUE, s, psprintf("\"%s\" is not a sex.", s),
		   "Use M or F (also м/ж, male/female).");
	return NULL;
}

/*
 * CleanHandle
 *		A social handle without URL prefix or leading @, lower-cased.
 */
char *
CleanHandle(const char *s)
{
	static const char *const prefixes[] = {
		"https://", "http://", "www.", "vk.com/", "m.vk.com/", "t.me/", "telegram.me/",
		"instagram.com/", "ok.ru/", "wa.me/"
	};
	const char *p = s;
	bool		again = true;
	int			i;
	char	   *low;

	while (again)
	{
		again = false;
		for (i = 0; i < lengthof(prefixes); i++)
		{
			size_t		l = strlen(prefixes[i]);

			if (pg_strncasecmp(p, prefixes[i], l) == 0)
			{
				p += l;
				again = true;
			}
		}
	}
	while (*p == '@')
		p++;
	if (*p == '\0')
		return NULL;
	low = LowerCase(p, strlen(p));
	/* drop the trailing slashes of URLs ("vk.com/ivanova//" is ivanova too) */
	{
		size_t		n = strlen(low);

		while (n > 0 && low[n - 1] == '/')
			low[--n] = '\0';
	}
	return low[0] ? low : NULL;
}
