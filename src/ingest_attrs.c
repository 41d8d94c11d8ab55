/*-------------------------------------------------------------------------
 *
 * src/ingest_attrs.c
 *		cdp.normalize_attrs(attrs jsonb, lenient bool, label text): turns the attrs
 *		document of a source record into the typed, normalised keys of
 *		cdp.record.
 *
 * Known keys (and their aliases, matched case-insensitively) become typed
 * columns; every other key is kept, as given, under "extra".  Identifier
 * values are parsed by the cdp types' own input functions, so the rules live
 * in one place (src/type_*.c); an error context names the offending key.  With
 * lenient = true an invalid value does not raise: it is moved to
 * extra._invalid with the reason, so dirty bulk loads keep going.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/formatting.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "parser/parse_func.h"
#include "nodes/value.h"

#include "cdp.h"

/* Largest attrs document accepted by one upsert, and per-value caps (bytes). */
#define ATTRS_MAX_BYTES		(256 * 1024)
#define NAME_MAX_BYTES		200
#define ADDRESS_MAX_BYTES	1000
#define HANDLE_MAX_BYTES	200
#define IDENT_MAX_BYTES		320
#define MAX_CONTACTS		32

/* What a known key becomes. */
typedef enum AttrKind
{
	AK_FAMILY, AK_GIVEN, AK_PATRONYMIC, AK_FULL_NAME, AK_BIRTH_DATE, AK_SEX,
	AK_PHONE, AK_EMAIL, AK_SNILS, AK_OMS, AK_ADDRESS, AK_CITY, AK_HANDLE
} AttrKind;

typedef struct AttrAlias
{
	const char *alias;			/* lower-case key as it may appear */
	AttrKind	kind;
	const char *handle;			/* for AK_HANDLE: canonical handle name */
} AttrAlias;

static const AttrAlias attr_aliases[] = {
	{"family_name", AK_FAMILY}, {"last_name", AK_FAMILY}, {"surname", AK_FAMILY},
	{"familyname", AK_FAMILY}, {"lastname", AK_FAMILY}, {"фамилия", AK_FAMILY},
	{"given_name", AK_GIVEN}, {"first_name", AK_GIVEN}, {"firstname", AK_GIVEN},
	{"givenname", AK_GIVEN}, {"имя", AK_GIVEN},
	{"patronymic", AK_PATRONYMIC}, {"middle_name", AK_PATRONYMIC}, {"middlename", AK_PATRONYMIC},
	{"отчество", AK_PATRONYMIC},
	{"full_name", AK_FULL_NAME}, {"fullname", AK_FULL_NAME}, {"fio", AK_FULL_NAME}, {"фио", AK_FULL_NAME},
	{"birth_date", AK_BIRTH_DATE}, {"birthdate", AK_BIRTH_DATE}, {"date_of_birth", AK_BIRTH_DATE},
	{"dob", AK_BIRTH_DATE}, {"birthday", AK_BIRTH_DATE}, {"дата_рождения", AK_BIRTH_DATE},
	{"sex", AK_SEX}, {"gender", AK_SEX}, {"пол", AK_SEX},
	{"phones", AK_PHONE}, {"phone", AK_PHONE}, {"mobile", AK_PHONE}, {"mobile_phone", AK_PHONE},
	{"tel", AK_PHONE}, {"telephone", AK_PHONE}, {"телефон", AK_PHONE},
	{"emails", AK_EMAIL}, {"email", AK_EMAIL}, {"e_mail", AK_EMAIL}, {"e-mail", AK_EMAIL},
	{"snils", AK_SNILS}, {"снилс", AK_SNILS},
	{"oms", AK_OMS}, {"oms_policy", AK_OMS}, {"polis", AK_OMS}, {"полис", AK_OMS},
	{"address", AK_ADDRESS}, {"адрес", AK_ADDRESS},
	{"city", AK_CITY}, {"town", AK_CITY}, {"город", AK_CITY},
	{"vk", AK_HANDLE, "vk"}, {"vkontakte", AK_HANDLE, "vk"},
	{"telegram", AK_HANDLE, "telegram"}, {"tg", AK_HANDLE, "telegram"},
	{"whatsapp", AK_HANDLE, "whatsapp"}, {"instagram", AK_HANDLE, "instagram"},
	{"ok", AK_HANDLE, "ok"}, {"odnoklassniki", AK_HANDLE, "ok"}, {"viber", AK_HANDLE, "viber"},
};

/* Type oids and the try_ functions of the cdp identifier types, cached per backend. */
typedef struct IdentType
{
	const char *typname;
	Oid			typoid;
	Oid			typinput;
	Oid			typioparam;
	Oid			typoutput;
	FmgrInfo	try_fn;			/* cdp.try_<typname>(text), for lenient mode */
} IdentType;

enum
{
	IT_PHONE, IT_EMAIL, IT_SNILS, IT_OMS, IT_COUNT
};
static IdentType ident_types[IT_COUNT] = {
	{"phone"}, {"email"}, {"snils"}, {"oms"}
};
static bool ident_types_ready = false;
static bool ident_types_callback = false;

/* State of one normalisation, shared with the error context callback. */
typedef struct NormState
{
	bool		lenient;
	const char *label;			/* the record's source_id, for error context */
	const char *key;			/* key being processed, for error context */
	int			elem;			/* 1-based array element, or 0 */
	char	   *family, *given, *patronymic, *full_name;
	char	   *birth_date;		/* YYYY-MM-DD */
	char	   *sex;
	char	   *address, *city;
	List	   *phones, *emails;	/* canonical C strings */
	char	   *snils, *oms;
	StringInfoData handles;		/* JSON members, without braces */
	StringInfoData extra;		/* JSON members, without braces */
	StringInfoData invalid;		/* JSON members of extra._invalid */
} NormState;

PG_FUNCTION_INFO_V1(cdp_normalize_attrs);

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
static void
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
		{
			List	   *fname = list_make2(makeString("cdp"), makeString(psprintf("try_%s", t->typname)));
			Oid			argtypes[1] = {TEXTOID};

			fmgr_info_cxt(LookupFuncName(fname, 1, argtypes, false), &t->try_fn, TopMemoryContext);
		}
	}
	ident_types_ready = true;
}

/*
 * NormErrorContext
 *		Names the attrs key (and array element) an error arose in.
 */
static void
NormErrorContext(void *arg)
{
	NormState  *st = (NormState *) arg;

	if (st->key == NULL)
		return;
	if (st->label && st->elem > 0)
		errcontext("record \"%s\", attrs key \"%s\", element %d", st->label, st->key, st->elem);
	else if (st->label)
		errcontext("record \"%s\", attrs key \"%s\"", st->label, st->key);
	else if (st->elem > 0)
		errcontext("attrs key \"%s\", element %d", st->key, st->elem);
	else
		errcontext("attrs key \"%s\"", st->key);
}

/*
 * AddInvalid
 *		Lenient mode: remembers an invalid value under extra._invalid.
 */
static void
AddInvalid(NormState *st, const char *key, const char *value, const char *why)
{
	StringInfoData member;

	initStringInfo(&member);
	appendStringInfoString(&member, "{\"value\": ");
	escape_json(&member, value);
	appendStringInfoString(&member, ", \"reason\": ");
	escape_json(&member, why);
	appendStringInfoChar(&member, '}');
	if (st->invalid.len > 0)
		appendStringInfoString(&st->invalid, ", ");
	escape_json(&st->invalid, key);
	appendStringInfoString(&st->invalid, ": ");
	appendStringInfoString(&st->invalid, member.data);
}

/*
 * Reject
 *		Strict mode: raises for a bad value; lenient mode: records it and
 *		returns false so the caller drops the value.
 */
static bool
Reject(NormState *st, int sqlstate, const char *value, const char *why, const char *hint)
{
	if (st->lenient)
	{
		AddInvalid(st, st->key, value ? value : "", why);
		return false;
	}
	ereport(ERROR,
			(errcode(sqlstate),
			 errmsg("invalid value for attrs key \"%s\"", st->key),
			 errdetail("%s", why),
			 hint ? errhint("%s", hint) : 0));
	return false;
}

/*
 * CleanText
 *		Trims and collapses white space; returns NULL for an empty result.
 */
static char *
CleanText(const char *s, int len)
{
	StringInfoData buf;
	bool		space = false;
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
static char *
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
 * ParseIdent
 *		Parses an identifier with its cdp type and returns the canonical text,
 *		or NULL (lenient mode) when it is not valid.  In strict mode the type's
 *		own error is raised, with the key named by the error context.
 */
static char *
ParseIdent(NormState *st, int which, const char *value)
{
	IdentType  *t = &ident_types[which];
	Datum		d;

	if (!st->lenient)
	{
		d = OidInputFunctionCall(t->typinput, (char *) value, t->typioparam, -1);
		return OidOutputFunctionCall(t->typoutput, d);
	}
	else
	{
		/*
		 * Lenient: the type's try_ function shares the non-throwing parser of
		 * the input function, so no error is caught and swallowed here.
		 */
		LOCAL_FCINFO(fcinfo, 1);
		Datum		res;

		InitFunctionCallInfoData(*fcinfo, &t->try_fn, 1, InvalidOid, NULL, NULL);
		fcinfo->args[0].value = CStringGetTextDatum(value);
		fcinfo->args[0].isnull = false;
		res = FunctionCallInvoke(fcinfo);
		if (fcinfo->isnull)
		{
			Reject(st, ERRCODE_INVALID_TEXT_REPRESENTATION, value,
				   psprintf("The value is not a valid %s.", t->typname), NULL);
			return NULL;
		}
		return OidOutputFunctionCall(t->typoutput, res);
	}
}

/*
 * ParseBirthDate
 *		Accepts YYYY-MM-DD, DD.MM.YYYY, DD/MM/YYYY and YYYYMMDD (a time part
 *		after the date is ignored) between 1880-01-01 and today.
 */
static char *
ParseBirthDate(NormState *st, const char *s)
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
	return psprintf("%04d-%02d-%02d", y, m, d);
}

/*
 * ParseSex
 *		M/F in Latin or Russian, words or one letter.
 */
static char *
ParseSex(NormState *st, const char *s)
{
	static const char *const male[] = {"m", "male", "man", "м", "муж", "мужской", "мужчина", "1"};
	static const char *const female[] = {"f", "female", "woman", "ж", "жен", "женский", "женщина", "2"};
	char	   *low = str_tolower(s, strlen(s), DEFAULT_COLLATION_OID);
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
static char *
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
	low = str_tolower(p, strlen(p), DEFAULT_COLLATION_OID);
	/* drop a trailing slash from URLs */
	if (low[strlen(low) - 1] == '/')
		low[strlen(low) - 1] = '\0';
	return low[0] ? low : NULL;
}

/*
 * AppendMember
 *		Appends "key": <json> to a members buffer.
 */
static void
AppendMember(StringInfo buf, const char *key, const char *json)
{
	if (buf->len > 0)
		appendStringInfoString(buf, ", ");
	escape_json(buf, key);
	appendStringInfoString(buf, ": ");
	appendStringInfoString(buf, json);
}

/*
 * JsonbValueText
 *		The text of a scalar jsonb string value, NUL-terminated.
 */
static char *
JsonbValueText(JsonbValue *v)
{
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/*
 * JsonTypeName
 *		A readable name of a jsonb value's type for error messages.
 */
static const char *
JsonTypeName(JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return "null";
		case jbvString:
			return "a string";
		case jbvNumeric:
			return "a number";
		case jbvBool:
			return "a boolean";
		case jbvArray:
		case jbvBinary:
			return "an array or object";
		default:
			return "an unknown value";
	}
}

/*
 * HandleScalar
 *		Normalises one string value of a known key.
 */
static void
HandleScalar(NormState *st, AttrKind kind, const char *handle, JsonbValue *v)
{
	char	   *s;
	char	   *canon;

	if (v->type == jbvNull)
		return;
	if (v->type != jbvString)
	{
		/* a number where a string was expected: numbers are kept as strings for ids */
		if (v->type == jbvNumeric && (kind == AK_SNILS || kind == AK_OMS || kind == AK_PHONE))
			s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
		else
		{
			Reject(st, ERRCODE_INVALID_PARAMETER_VALUE, "",
				   psprintf("The value is %s; a string is expected.", JsonTypeName(v)),
				   "Send names, dates and identifiers as JSON strings.");
			return;
		}
	}
	else
		s = JsonbValueText(v);

	switch (kind)
	{
		case AK_FAMILY:
			st->family = CheckedText(st, s, strlen(s), NAME_MAX_BYTES);
			break;
		case AK_GIVEN:
			st->given = CheckedText(st, s, strlen(s), NAME_MAX_BYTES);
			break;
		case AK_PATRONYMIC:
			st->patronymic = CheckedText(st, s, strlen(s), NAME_MAX_BYTES);
			break;
		case AK_FULL_NAME:
			st->full_name = CheckedText(st, s, strlen(s), NAME_MAX_BYTES * 3);
			break;
		case AK_ADDRESS:
			st->address = CheckedText(st, s, strlen(s), ADDRESS_MAX_BYTES);
			break;
		case AK_CITY:
			st->city = CheckedText(st, s, strlen(s), NAME_MAX_BYTES);
			break;
		case AK_BIRTH_DATE:
			if ((s = CheckedText(st, s, strlen(s), 64)) != NULL)
				st->birth_date = ParseBirthDate(st, s);
			break;
		case AK_SEX:
			if ((s = CheckedText(st, s, strlen(s), 32)) != NULL)
				st->sex = ParseSex(st, s);
			break;
		case AK_PHONE:
		case AK_EMAIL:
			if ((s = CheckedText(st, s, strlen(s), IDENT_MAX_BYTES)) == NULL)
				break;
			canon = ParseIdent(st, kind == AK_PHONE ? IT_PHONE : IT_EMAIL, s);
			if (canon)
			{
				List	  **lst = kind == AK_PHONE ? &st->phones : &st->emails;
				ListCell   *lc;

				foreach(lc, *lst)
					if (strcmp((char *) lfirst(lc), canon) == 0)
						return;
				if (list_length(*lst) >= MAX_CONTACTS)
				{
					Reject(st, ERRCODE_PROGRAM_LIMIT_EXCEEDED, s,
						   psprintf("At most %d values are accepted.", MAX_CONTACTS), NULL);
					return;
				}
				*lst = lappend(*lst, canon);
			}
			break;
		case AK_SNILS:
			if ((s = CheckedText(st, s, strlen(s), IDENT_MAX_BYTES)) != NULL)
				st->snils = ParseIdent(st, IT_SNILS, s);
			break;
		case AK_OMS:
			if ((s = CheckedText(st, s, strlen(s), IDENT_MAX_BYTES)) != NULL)
				st->oms = ParseIdent(st, IT_OMS, s);
			break;
		case AK_HANDLE:
			if ((s = CheckedText(st, s, strlen(s), HANDLE_MAX_BYTES)) != NULL &&
				(canon = CleanHandle(s)) != NULL)
			{
				StringInfoData j;

				initStringInfo(&j);
				escape_json(&j, canon);
				AppendMember(&st->handles, handle, j.data);
			}
			break;
	}
}

/*
 * SplitFullName
 *		Fills missing name parts from a full name in Russian order
 *		(family given patronymic); initials such as "М.П." become "М." "П.".
 */
static void
SplitFullName(NormState *st)
{
	char	   *s = pstrdup(st->full_name);
	char	   *parts[3] = {NULL, NULL, NULL};
	int			n = 0;
	char	   *tok;
	char	   *save;
	StringInfoData rest;

	initStringInfo(&rest);
	for (tok = strtok_r(s, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
	{
		/* split glued initials "М.П." into "М." and "П." */
		char	   *dot = strchr(tok, '.');

		while (dot && dot[1] != '\0' && n < 3)
		{
			char	   *head = pnstrdup(tok, dot - tok + 1);

			if (n < 2)
				parts[n++] = head;
			else
			{
				parts[2] = head;
				n = 3;
			}
			tok = dot + 1;
			dot = strchr(tok, '.');
		}
		if (n < 2)
			parts[n++] = tok;
		else if (n == 2)
			parts[n++] = tok;
		else
		{
			/* more than three words: the rest belongs to the patronymic */
			parts[2] = psprintf("%s %s", parts[2], tok);
		}
	}
	if (st->family == NULL && parts[0])
		st->family = pstrdup(parts[0]);
	if (st->given == NULL && parts[1])
		st->given = pstrdup(parts[1]);
	if (st->patronymic == NULL && parts[2])
		st->patronymic = pstrdup(parts[2]);
}

/*
 * LookupAlias
 *		The alias entry of a key (compared lower-case), or NULL.
 */
static const AttrAlias *
LookupAlias(const char *key, int keylen)
{
	char	   *low = str_tolower(key, keylen, DEFAULT_COLLATION_OID);
	int			i;

	for (i = 0; i < lengthof(attr_aliases); i++)
		if (strcmp(low, attr_aliases[i].alias) == 0)
			return &attr_aliases[i];
	return NULL;
}

/*
 * AppendJsonString
 *		Appends "key": "value" when value is not NULL.
 */
static void
AppendJsonString(StringInfo out, const char *key, const char *value)
{
	StringInfoData j;

	if (value == NULL)
		return;
	initStringInfo(&j);
	escape_json(&j, value);
	AppendMember(out, key, j.data);
}

/*
 * AppendJsonArray
 *		Appends "key": ["v1", ...] when the list is not empty.
 */
static void
AppendJsonArray(StringInfo out, const char *key, List *values)
{
	StringInfoData j;
	ListCell   *lc;

	if (values == NIL)
		return;
	initStringInfo(&j);
	appendStringInfoChar(&j, '[');
	foreach(lc, values)
	{
		if (foreach_current_index(lc) > 0)
			appendStringInfoString(&j, ", ");
		escape_json(&j, (char *) lfirst(lc));
	}
	appendStringInfoChar(&j, ']');
	AppendMember(out, key, j.data);
}

/*
 * cdp_normalize_attrs
 *		SQL: cdp.normalize_attrs(attrs jsonb, lenient boolean) RETURNS jsonb
 */
Datum
cdp_normalize_attrs(PG_FUNCTION_ARGS)
{
	Jsonb	   *attrs;
	bool		lenient;
	char	   *label;
	NormState	st;
	ErrorContextCallback errcb;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	StringInfoData out;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("attrs must not be null"),
				 errhint("Send an empty object {} for a record without attributes.")));
	lenient = PG_ARGISNULL(1) ? false : PG_GETARG_BOOL(1);
	label = (PG_NARGS() > 2 && !PG_ARGISNULL(2)) ? text_to_cstring(PG_GETARG_TEXT_PP(2)) : NULL;
	attrs = PG_GETARG_JSONB_P(0);
	if (VARSIZE(attrs) > ATTRS_MAX_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("attrs document too large"),
				 label ? errdetail("The document of record \"%s\" is %d bytes; at most %d bytes are accepted.",
								   label, (int) VARSIZE(attrs), ATTRS_MAX_BYTES) :
				 errdetail("The document is %d bytes; at most %d bytes are accepted.",
						   (int) VARSIZE(attrs), ATTRS_MAX_BYTES)));
	if (!JB_ROOT_IS_OBJECT(attrs))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("attrs must be a JSON object"),
				 label ? errdetail("The attrs document of record \"%s\" is a JSON %s.", label,
								   JB_ROOT_IS_SCALAR(attrs) ? "scalar" : "array") :
				 errdetail("The attrs document is a JSON %s.",
						   JB_ROOT_IS_SCALAR(attrs) ? "scalar" : "array"),
				 errhint("For example: {\"family_name\": \"Иванова\", \"phone\": \"8 916 123-45-67\"}.")));

	LoadIdentTypes();
	memset(&st, 0, sizeof(st));
	st.lenient = lenient;
	st.label = label;
	initStringInfo(&st.handles);
	initStringInfo(&st.extra);
	initStringInfo(&st.invalid);

	errcb.callback = NormErrorContext;
	errcb.arg = &st;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	it = JsonbIteratorInit(&attrs->root);
	tok = JsonbIteratorNext(&it, &v, false);	/* WJB_BEGIN_OBJECT */
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *key;
		const AttrAlias *alias;
		JsonbValue	val;

		if (tok != WJB_KEY)
			continue;
		key = JsonbValueText(&v);
		tok = JsonbIteratorNext(&it, &val, true);	/* WJB_VALUE */
		alias = LookupAlias(key, v.val.string.len);
		st.key = key;
		st.elem = 0;
		if (alias == NULL)
		{
			/* unknown key: kept as given */
			Jsonb	   *jv = JsonbValueToJsonb(&val);

			AppendMember(&st.extra, key,
						 JsonbToCString(NULL, &jv->root, VARSIZE(jv)));
			continue;
		}
		if (val.type == jbvBinary)
		{
			/* an array of values is accepted for multi-valued keys */
			JsonbIterator *ait;
			JsonbValue	ev;
			JsonbIteratorToken at;
			bool		is_array = JsonContainerIsArray(val.val.binary.data);

			if (!is_array || (alias->kind != AK_PHONE && alias->kind != AK_EMAIL))
			{
				Reject(&st, ERRCODE_INVALID_PARAMETER_VALUE, "",
					   psprintf("The value is %s; %s expected.",
								is_array ? "an array" : "an object",
								(alias->kind == AK_PHONE || alias->kind == AK_EMAIL) ?
								"a string or an array of strings is" : "a string is"),
					   NULL);
				continue;
			}
			ait = JsonbIteratorInit(val.val.binary.data);
			while ((at = JsonbIteratorNext(&ait, &ev, true)) != WJB_DONE)
			{
				if (at != WJB_ELEM)
					continue;
				st.elem++;
				if (ev.type == jbvBinary)
				{
					Reject(&st, ERRCODE_INVALID_PARAMETER_VALUE, "",
						   "An element is a nested array or object; strings are expected.", NULL);
					continue;
				}
				HandleScalar(&st, alias->kind, alias->handle, &ev);
			}
		}
		else
			HandleScalar(&st, alias->kind, alias->handle, &val);
	}
	st.key = NULL;
	error_context_stack = errcb.previous;

	if (st.full_name)
		SplitFullName(&st);

	initStringInfo(&out);
	AppendJsonString(&out, "family_name", st.family);
	AppendJsonString(&out, "given_name", st.given);
	AppendJsonString(&out, "patronymic", st.patronymic);
	AppendJsonString(&out, "birth_date", st.birth_date);
	AppendJsonString(&out, "sex", st.sex);
	AppendJsonArray(&out, "phones", st.phones);
	AppendJsonArray(&out, "emails", st.emails);
	AppendJsonString(&out, "snils", st.snils);
	AppendJsonString(&out, "oms", st.oms);
	AppendJsonString(&out, "address", st.address);
	AppendJsonString(&out, "city", st.city);
	if (st.handles.len > 0)
		AppendMember(&out, "handles", psprintf("{%s}", st.handles.data));
	if (st.invalid.len > 0)
		AppendMember(&st.extra, "_invalid", psprintf("{%s}", st.invalid.data));
	if (st.extra.len > 0)
		AppendMember(&out, "extra", psprintf("{%s}", st.extra.data));

	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(psprintf("{%s}", out.data))));
}
