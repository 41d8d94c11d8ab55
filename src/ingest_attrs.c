/*-------------------------------------------------------------------------
 *
 * src/ingest_attrs.c
 *		cdp.normalize_attrs(attrs jsonb, lenient bool, label text): turns the attrs
 *		document of a source record into the typed, normalised keys of
 *		cdp.record; cdp_internal.normalize_records does the same for a whole batch of
 *		cdp.upsert_records (hash, change check, typed columns) in one call, and
 *		cdp_internal.record_event_payload builds the payload of its record events.
 *
 * Known keys (and their aliases, matched case-insensitively) become typed
 * columns; every other key is kept, as given, under "extra".  Identifier
 * values are parsed by the cdp types' own input functions (src/ingest_values.c
 * cleans and parses one value), so the rules live
 * in one place (src/type_*.c); an error context names the offending key.  With
 * lenient = true an invalid value does not raise: it is moved to
 * extra._invalid with the reason (a value of the wrong JSON type as given),
 * so dirty bulk loads keep going.  Placeholder SNILS and phones (one digit
 * repeated) are refused like invalid ones (IdentPlaceholder), and text values
 * lose control characters and invisible or bidirectional Unicode controls
 * (CleanText, UnicodeGap): issue 16.
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
#include "utils/timestamp.h"

#include "cdp.h"
#include "cdp_jsonb.h"
#include "text.h"
#include "types.h"
#include "ingest_int.h"

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

/* The Jsonb and typed results of one normalisation. */
typedef struct NormResult
{
	Jsonb	   *norm;			/* the document normalize_attrs returns */
	Jsonb	   *handles;		/* NULL when there is none */
	Jsonb	   *extra;			/* NULL when there is none */
} NormResult;

PG_FUNCTION_INFO_V1(cdp_normalize_attrs);
PG_FUNCTION_INFO_V1(cdp_normalize_records);
PG_FUNCTION_INFO_V1(cdp_record_event_payload);

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
void
AddInvalid(NormState *st, const char *key, const char *value, const char *why)
{
	NormMember *m = palloc0(sizeof(NormMember));

	m->key = pstrdup(key);
	m->text = pstrdup(value);
	m->reason = pstrdup(why);
	st->invalid = lappend(st->invalid, m);
}

/*
 * Reject
 *		Strict mode: raises for a bad value; lenient mode: records it and
 *		returns false so the caller drops the value.
 */
bool
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
			 errdetail("%s", CdpTypeRedactDetail(why, sqlstate)),	/* cdp.redact_values (doc/security.md) */
			 hint ? errhint("%s", hint) : 0));
	return false;
}

/*
 * RejectGiven
 *		Reject for a value that is not a string: lenient mode keeps the value
 *		as given under extra._invalid (12345 stays the number 12345, an
 *		object stays the object), not as "" (issue 16).
 */
static void
RejectGiven(NormState *st, JsonbValue *v, const char *why, const char *hint)
{
	if (st->lenient)
	{
		NormMember *m;

		AddInvalid(st, st->key, "", why);
		m = llast(st->invalid);
		m->given = palloc(sizeof(JsonbValue));
		*m->given = *v;			/* a scalar's data and a container point into attrs */
		return;
	}
	Reject(st, ERRCODE_INVALID_PARAMETER_VALUE, "", why, hint);
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
	Datum		d;

	if (v->type == jbvNull)
		return;
	if (v->type != jbvString)
	{
		/* a number where a string was expected: numbers are kept as strings for ids */
		if (v->type == jbvNumeric && (kind == AK_SNILS || kind == AK_OMS || kind == AK_PHONE))
			s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
		else
		{
			char	   *why = psprintf("The value is %s; a string is expected.", JsonTypeName(v));

			RejectGiven(st, v, why, "Send names, dates and identifiers as JSON strings.");
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
				st->birth_date = ParseBirthDate(st, s, &st->birth_date_val);
			break;
		case AK_SEX:
			if ((s = CheckedText(st, s, strlen(s), 32)) != NULL)
				st->sex = ParseSex(st, s);
			break;
		case AK_PHONE:
		case AK_EMAIL:
			if ((s = CheckedText(st, s, strlen(s), IDENT_MAX_BYTES)) == NULL)
				break;
			canon = ParseIdent(st, kind == AK_PHONE ? IT_PHONE : IT_EMAIL, s, &d);
			if (canon)
			{
				List	  **lst = kind == AK_PHONE ? &st->phones : &st->emails;
				List	  **vals = kind == AK_PHONE ? &st->phone_vals : &st->email_vals;
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
				{
					Datum	   *dp = palloc(sizeof(Datum));

					*dp = d;
					*vals = lappend(*vals, dp);
				}
			}
			break;
		case AK_SNILS:
			if ((s = CheckedText(st, s, strlen(s), IDENT_MAX_BYTES)) != NULL)
				st->snils = ParseIdent(st, IT_SNILS, s, &st->snils_val);
			break;
		case AK_OMS:
			if ((s = CheckedText(st, s, strlen(s), IDENT_MAX_BYTES)) != NULL)
				st->oms = ParseIdent(st, IT_OMS, s, &st->oms_val);
			break;
		case AK_HANDLE:
			if ((s = CheckedText(st, s, strlen(s), HANDLE_MAX_BYTES)) != NULL &&
				(canon = CleanHandle(s)) != NULL)
			{
				NormMember *m = palloc0(sizeof(NormMember));

				m->key = handle;
				m->text = canon;
				st->handles = lappend(st->handles, m);
			}
			break;
	}
}

/*
 * OrderNameParts
 *		Puts the n (at most three) parts of a split full name in the order
 *		family, given, patronymic by what the words are.  Parts that hold
 *		initials (a full stop) followed by one that does not are «И.О.
 *		Фамилия»: the last part moves to the front.  Otherwise CdpNameRoles
 *		decides; it needs UTF-8, so in a database of another encoding the
 *		parts are converted, and where they cannot be read as UTF-8 (SQL_ASCII
 *		holding other bytes) the order stands.
 */
static void
OrderNameParts(char **parts, int n)
{
	const char *utf[3] = {NULL, NULL, NULL};
	char	   *orig[3];
	int			role[3];
	int			pass;
	int			i;

	if (n < 2)
		return;
	if (strchr(parts[n - 1], '.') == NULL && strchr(parts[0], '.') != NULL &&
		(n == 2 || strchr(parts[1], '.') != NULL))
	{
		char	   *family = parts[n - 1];

		memmove(parts + 1, parts, (n - 1) * sizeof(char *));
		parts[0] = family;
		return;
	}
	for (i = 0; i < n; i++)
	{
		int			len = strlen(parts[i]);

		if (GetDatabaseEncoding() == PG_SQL_ASCII &&
			!pg_verify_mbstr(PG_UTF8, parts[i], len, true))
			return;
		utf[i] = pg_server_to_any(parts[i], len, PG_UTF8);
	}
	/*
	 * Until the roles keep the order (at most three passes; two suffice on
	 * every cross product tried): «Лебедь Петровна Мария» is first rotated
	 * to Мария Лебедь Петровна, then exchanged to Лебедь Мария Петровна.
	 * Stopping at a fixed point is what lets matching, which reads the roles
	 * of the stored parts again, keep the order ingest chose.
	 */
	for (pass = 0; pass < 3; pass++)
	{
		const char *u[3];

		CdpNameRoles(utf, role);
		if (role[0] == 0 && role[1] == 1)
			break;
		for (i = 0; i < 3; i++)
		{
			orig[i] = parts[i];
			u[i] = utf[i];
		}
		for (i = 0; i < 3; i++)
		{
			parts[i] = orig[role[i]];
			utf[i] = u[role[i]];
		}
	}
}

/*
 * SplitFullName
 *		Fills missing name parts from a full name.  The words are read in
 *		Russian order (family given patronymic), initials such as "М.П."
 *		becoming "М." "П."; then what the words are decides: a family name
 *		after initials («М.П. Иванова») comes first, and otherwise the name
 *		roles (CdpNameRoles, the rules matching reads names by) turn «Мария
 *		Иванова» and «Мария Петровна Иванова» round.  When the evidence is
 *		unclear the Russian order stands.  Parts the source gave separately
 *		are never moved; the split only fills the missing ones.
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
	OrderNameParts(parts, n);
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
	char	   *low = LowerCase(key, keylen);
	int			i;

	for (i = 0; i < lengthof(attr_aliases); i++)
		if (strcmp(low, attr_aliases[i].alias) == 0)
			return &attr_aliases[i];
	return NULL;
}

/*
 * PushString
 *		Pushes "key": "value" into an object being built, when value is not
 *		NULL.
 */
static void
PushString(JsonbParseState **ps, const char *key, const char *value)
{
	JsonbValue	v;

	if (value == NULL)
		return;
	v.type = jbvString;
	v.val.string.val = (char *) value;
	v.val.string.len = strlen(value);
	CdpJsonbPushKey(ps, key);
	pushJsonbValue(ps, WJB_VALUE, &v);
}

/*
 * PushArray
 *		Pushes "key": ["v1", ...] when the list is not empty.
 */
static void
PushArray(JsonbParseState **ps, const char *key, List *values)
{
	ListCell   *lc;

	if (values == NIL)
		return;
	CdpJsonbPushKey(ps, key);
	pushJsonbValue(ps, WJB_BEGIN_ARRAY, NULL);
	foreach(lc, values)
	{
		JsonbValue	v;

		v.type = jbvString;
		v.val.string.val = (char *) lfirst(lc);
		v.val.string.len = strlen(v.val.string.val);
		pushJsonbValue(ps, WJB_ELEM, &v);
	}
	pushJsonbValue(ps, WJB_END_ARRAY, NULL);
}

/*
 * PushJsonb
 *		Pushes "key": <a whole Jsonb document>.
 */
static void
PushJsonb(JsonbParseState **ps, const char *key, Jsonb *doc)
{
	JsonbValue	v;

	CdpJsonbPushKey(ps, key);
	v.type = jbvBinary;
	v.val.binary.data = &doc->root;
	v.val.binary.len = VARSIZE(doc) - VARHDRSZ;
	pushJsonbValue(ps, WJB_VALUE, &v);
}

/*
 * BuildHandles
 *		The handles object, or NULL when no handle was given.  Members are
 *		pushed in input order, so as with jsonb_in a later duplicate wins.
 */
static Jsonb *
BuildHandles(NormState *st)
{
	JsonbParseState *ps = NULL;
	JsonbValue *res;
	ListCell   *lc;

	if (st->handles == NIL)
		return NULL;
	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	foreach(lc, st->handles)
	{
		NormMember *m = lfirst(lc);

		PushString(&ps, m->key, m->text);
	}
	res = pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}

/*
 * BuildExtra
 *		The extra object (unknown keys as given, then _invalid in lenient
 *		mode), or NULL when it would be empty.
 */
static Jsonb *
BuildExtra(NormState *st)
{
	JsonbParseState *ps = NULL;
	JsonbValue *res;
	ListCell   *lc;

	if (st->extra == NIL && st->invalid == NIL)
		return NULL;
	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	foreach(lc, st->extra)
	{
		NormMember *m = lfirst(lc);

		CdpJsonbPushKey(&ps, m->key);
		pushJsonbValue(&ps, WJB_VALUE, m->value);
	}
	if (st->invalid != NIL)
	{
		CdpJsonbPushKey(&ps, "_invalid");
		pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
		foreach(lc, st->invalid)
		{
			NormMember *m = lfirst(lc);

			CdpJsonbPushKey(&ps, m->key);
			pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
			if (m->given != NULL)
			{
				CdpJsonbPushKey(&ps, "value");
				pushJsonbValue(&ps, WJB_VALUE, m->given);
			}
			else
				PushString(&ps, "value", m->text);
			PushString(&ps, "reason", m->reason);
			pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
		}
		pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	}
	res = pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}

/*
 * NormalizeDoc
 *		Validates and normalises one attrs document into *st and *out.
 *		label (the record's source_id, or NULL) is named in errors.  The
 *		result is built directly as Jsonb (no text round trip); pushJsonbValue
 *		sorts and de-duplicates keys exactly as jsonb_in does.
 */
static void
NormalizeDoc(Jsonb *attrs, bool lenient, const char *label, NormState *st, NormResult *out)
{
	ErrorContextCallback errcb;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	JsonbParseState *ps = NULL;
	JsonbValue *res;

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
	memset(st, 0, sizeof(*st));
	st->lenient = lenient;
	st->label = label;

	errcb.callback = NormErrorContext;
	errcb.arg = st;
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
		st->key = key;
		st->elem = 0;
		if (alias == NULL && v.val.string.len == 8 && memcmp(key, "_invalid", 8) == 0)
		{
			/*
			 * extra._invalid is ingest's own: where lenient mode keeps what it
			 * sets aside, read as an object of {value, reason} by the data
			 * quality view and the fast path.  Given by a caller it is refused
			 * (lenient: itself set aside, as given), never stored (issue 16).
			 */
			if (st->lenient)
				RejectGiven(st, &val, "The key _invalid is reserved: ingest keeps there the values lenient mode sets aside.",
							NULL);
			else
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("attrs key \"_invalid\" is reserved"),
						 label ? errdetail("The attrs document of record \"%s\" gives _invalid, where ingest keeps the values lenient mode sets aside.", label) :
						 errdetail("The attrs document gives _invalid, where ingest keeps the values lenient mode sets aside."),
						 errhint("Rename the key, for example to \"invalid\".")));
			continue;
		}
		if (alias == NULL)
		{
			/* unknown key: kept as given */
			NormMember *m = palloc0(sizeof(NormMember));

			m->key = key;
			m->value = palloc(sizeof(JsonbValue));
			*m->value = val;
			st->extra = lappend(st->extra, m);
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
				RejectGiven(st, &val,
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
				st->elem++;
				if (ev.type == jbvBinary)
				{
					RejectGiven(st, &ev,
								"An element is a nested array or object; strings are expected.", NULL);
					continue;
				}
				HandleScalar(st, alias->kind, alias->handle, &ev);
			}
		}
		else
			HandleScalar(st, alias->kind, alias->handle, &val);
	}
	st->key = NULL;
	error_context_stack = errcb.previous;

	if (st->full_name)
		SplitFullName(st);

	out->handles = BuildHandles(st);
	out->extra = BuildExtra(st);

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	PushString(&ps, "family_name", st->family);
	PushString(&ps, "given_name", st->given);
	PushString(&ps, "patronymic", st->patronymic);
	PushString(&ps, "birth_date", st->birth_date);
	PushString(&ps, "sex", st->sex);
	PushArray(&ps, "phones", st->phones);
	PushArray(&ps, "emails", st->emails);
	PushString(&ps, "snils", st->snils);
	PushString(&ps, "oms", st->oms);
	PushString(&ps, "address", st->address);
	PushString(&ps, "city", st->city);
	if (out->handles)
		PushJsonb(&ps, "handles", out->handles);
	if (out->extra)
		PushJsonb(&ps, "extra", out->extra);
	res = pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	out->norm = JsonbValueToJsonb(res);
}

/*
 * cdp_normalize_attrs
 *		SQL: cdp.normalize_attrs(attrs jsonb, lenient boolean, label text) RETURNS jsonb
 */
Datum
cdp_normalize_attrs(PG_FUNCTION_ARGS)
{
	bool		lenient;
	char	   *label;
	NormState	st;
	NormResult	out;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("attrs must not be null"),
				 errhint("Send an empty object {} for a record without attributes.")));
	lenient = PG_ARGISNULL(1) ? false : PG_GETARG_BOOL(1);
	label = (PG_NARGS() > 2 && !PG_ARGISNULL(2)) ? text_to_cstring(PG_GETARG_TEXT_PP(2)) : NULL;
	NormalizeDoc(PG_GETARG_JSONB_P(0), lenient, label, &st, &out);
	PG_RETURN_JSONB_P(out.norm);
}

/*
 * ContactArray
 *		A cdp.phone[] / cdp.email[] of the parsed values, or NULL when none.
 */
static Datum
ContactArray(List *vals, int which, bool *isnull)
{
	IdentType  *t = &ident_types[which];
	Datum	   *elems;
	ListCell   *lc;

	*isnull = (vals == NIL);
	if (vals == NIL)
		return (Datum) 0;
	elems = palloc(sizeof(Datum) * list_length(vals));
	foreach(lc, vals)
		elems[foreach_current_index(lc)] = *(Datum *) lfirst(lc);
	return PointerGetDatum(construct_array(elems, list_length(vals), t->typoid,
										   t->typlen, t->typbyval, t->typalign));
}

/*
 * TextOrNull
 *		A text Datum of a C string, or NULL.
 */
static Datum
TextOrNull(const char *s, bool *isnull)
{
	*isnull = (s == NULL);
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

/*
 * IngestCheckRowGiven
 *		The check of a batch's row ord (1-based) before it is normalised: its
 *		source id and document must be given.
 */
void
IngestCheckRowGiven(int ord, bool id_null, bool doc_null)
{
	if (id_null || doc_null)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source, source_id and attrs must not be null"),
				 errdetail("Row %d: source_id %s, attrs %s.", ord,
						   id_null ? "is null" : "is given",
						   doc_null ? "is null" : "is given")));
}

/*
 * IngestNormalizeRow
 *		One row of a batch (src/ingest_int.h): the md5 of the canonical text
 *		of attrs (as md5(attrs::text)); when old_hash (the stored record's
 *		attrs_hash, or NULL) equals it, false (unchanged: nothing is
 *		validated); otherwise the row normalised into values and nulls, the
 *		columns of cdp_internal.ingest_row (IR_*), ord being its 1-based
 *		position.  Errors name the row's source_id.  Everything is allocated
 *		in the current memory context.
 */
bool
IngestNormalizeRow(int ord, Datum id, Datum doc, const char *old_hash, bool lenient,
				   Datum *values, bool *nulls)
{
	Jsonb	   *attrs;
	char	   *label;
	char	   *doc_text;
	char		hash[33];
	const char *errstr = NULL;
	NormState	st;
	NormResult	out;

	attrs = DatumGetJsonbP(doc);
	doc_text = JsonbToCString(NULL, &attrs->root, VARSIZE(attrs));
	if (!pg_md5_hash(doc_text, strlen(doc_text), hash, &errstr))
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not compute the md5 hash of attrs: %s", errstr)));
	if (old_hash != NULL && strcmp(old_hash, hash) == 0)
		return false;			/* unchanged: the record stays as it is */
	label = TextDatumGetCString(id);
	NormalizeDoc(attrs, lenient, label, &st, &out);

	memset(nulls, 0, sizeof(bool) * IR_NATTS);
	values[IR_ORD] = Int32GetDatum(ord);
	values[IR_SOURCE_KEY] = id;
	values[IR_ATTRS_HASH] = CStringGetTextDatum(hash);
	values[IR_RAW] = PointerGetDatum(attrs);
	values[IR_NORM] = JsonbPGetDatum(out.norm);
	values[IR_FAMILY] = TextOrNull(st.family, &nulls[IR_FAMILY]);
	values[IR_GIVEN] = TextOrNull(st.given, &nulls[IR_GIVEN]);
	values[IR_PATRONYMIC] = TextOrNull(st.patronymic, &nulls[IR_PATRONYMIC]);
	values[IR_BIRTH_DATE] = DateADTGetDatum(st.birth_date_val);
	nulls[IR_BIRTH_DATE] = (st.birth_date == NULL);
	values[IR_SEX] = TextOrNull(st.sex, &nulls[IR_SEX]);
	values[IR_PHONES] = ContactArray(st.phone_vals, IT_PHONE, &nulls[IR_PHONES]);
	values[IR_EMAILS] = ContactArray(st.email_vals, IT_EMAIL, &nulls[IR_EMAILS]);
	values[IR_SNILS] = st.snils_val;
	nulls[IR_SNILS] = (st.snils == NULL);
	values[IR_OMS] = st.oms_val;
	nulls[IR_OMS] = (st.oms == NULL);
	values[IR_ADDRESS] = TextOrNull(st.address, &nulls[IR_ADDRESS]);
	values[IR_CITY] = TextOrNull(st.city, &nulls[IR_CITY]);
	values[IR_HANDLES] = out.handles ? JsonbPGetDatum(out.handles) : (Datum) 0;
	nulls[IR_HANDLES] = (out.handles == NULL);
	values[IR_EXTRA] = out.extra ? JsonbPGetDatum(out.extra) : (Datum) 0;
	nulls[IR_EXTRA] = (out.extra == NULL);
	return true;
}

/*
 * cdp_normalize_records
 *		SQL: cdp_internal.normalize_records(source_ids text[], attrs jsonb[], old_hashes text[],
 *		lenient boolean) RETURNS cdp_internal.ingest_row[]
 *
 * The batch step of cdp.upsert_records: for each row in order, the md5 of
 * the canonical text of attrs (as md5(attrs::text)); a row whose hash equals
 * its old_hashes element (the stored record's attrs_hash) is unchanged and
 * skipped without being validated; every other row is normalised (errors
 * name the row's source_id) and returned with its typed columns, so the
 * caller inserts them without a jsonb round trip.  Memory per row is freed
 * after the row.
 */
Datum
cdp_normalize_records(PG_FUNCTION_ARGS)
{
	ArrayType  *ids_arr, *attrs_arr, *old_arr;
	Datum	   *ids, *docs, *olds;
	bool	   *ids_null, *docs_null, *olds_null;
	int			n, nold, i;
	bool		lenient;
	Oid			rettype, elemtype;
	TupleDesc	tupdesc;
	int16		elemlen;
	bool		elembyval;
	char		elemalign;
	Datum	   *rows;
	int			nrows = 0;
	MemoryContext rowcxt, oldcxt;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source_ids, attrs and old_hashes must not be null")));
	lenient = PG_ARGISNULL(3) ? false : PG_GETARG_BOOL(3);
	ids_arr = PG_GETARG_ARRAYTYPE_P(0);
	attrs_arr = PG_GETARG_ARRAYTYPE_P(1);
	old_arr = PG_GETARG_ARRAYTYPE_P(2);
	if (ARR_NDIM(ids_arr) > 1 || ARR_NDIM(attrs_arr) > 1 || ARR_NDIM(old_arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("source_ids, attrs and old_hashes must be one-dimensional arrays")));
	deconstruct_array(ids_arr, TEXTOID, -1, false, TYPALIGN_INT, &ids, &ids_null, &n);
	deconstruct_array(attrs_arr, JSONBOID, -1, false, TYPALIGN_INT, &docs, &docs_null, &i);
	deconstruct_array(old_arr, TEXTOID, -1, false, TYPALIGN_INT, &olds, &olds_null, &nold);
	if (i != n || nold != n)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("source_ids, attrs and old_hashes differ in length"),
				 errdetail("%d source ids, %d attrs documents, %d old hashes.", n, i, nold)));

	rettype = get_fn_expr_rettype(fcinfo->flinfo);
	elemtype = OidIsValid(rettype) ? get_element_type(rettype) : InvalidOid;
	if (!OidIsValid(elemtype))
		elog(ERROR, "normalize_records must return an array of a composite type");
	tupdesc = lookup_rowtype_tupdesc_copy(elemtype, -1);
	if (tupdesc->natts != IR_NATTS)
		elog(ERROR, "cdp_internal.ingest_row has %d columns, expected %d", tupdesc->natts, IR_NATTS);
	get_typlenbyvalalign(elemtype, &elemlen, &elembyval, &elemalign);
	LoadIdentTypes();

	rows = palloc(sizeof(Datum) * Max(n, 1));
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "cdp normalize_records row",
								   ALLOCSET_DEFAULT_SIZES);
	for (i = 0; i < n; i++)
	{
		Datum		values[IR_NATTS];
		bool		nulls[IR_NATTS];
		HeapTuple	tup;

		IngestCheckRowGiven(i + 1, ids_null[i], docs_null[i]);
		CHECK_FOR_INTERRUPTS();
		oldcxt = MemoryContextSwitchTo(rowcxt);
		if (!IngestNormalizeRow(i + 1, ids[i], docs[i],
								olds_null[i] ? NULL : TextDatumGetCString(olds[i]),
								lenient, values, nulls))
		{
			/* unchanged: the record stays as it is */
			MemoryContextSwitchTo(oldcxt);
			MemoryContextReset(rowcxt);
			continue;
		}
		tup = heap_form_tuple(tupdesc, values, nulls);

		/* the row's tuple outlives the row's memory */
		MemoryContextSwitchTo(oldcxt);
		rows[nrows++] = heap_copy_tuple_as_datum(tup, tupdesc);
		MemoryContextReset(rowcxt);
	}
	MemoryContextDelete(rowcxt);
	if (nrows == 0)
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(elemtype));
	PG_RETURN_ARRAYTYPE_P(construct_array(rows, nrows, elemtype, elemlen, elembyval, elemalign));
}

/*
 * PushMembers
 *		Pushes every member of a jsonb object into the object being built.
 */
static void
PushMembers(JsonbParseState **ps, Jsonb *obj)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	it = JsonbIteratorInit(&obj->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY || tok == WJB_VALUE)
			pushJsonbValue(ps, tok, &v);
	}
}

/*
 * PushTimestamp
 *		Pushes "key": <timestamptz as to_jsonb writes it>.
 */
static void
PushTimestamp(JsonbParseState **ps, const char *key, Datum ts)
{
	PushString(ps, key, JsonEncodeDateTime(NULL, ts, TIMESTAMPTZOID, NULL));
}

/*
 * The event payload written directly in jsonb's binary form (session 32).
 *
 * PayloadPushed below builds the payload through pushJsonbValue, which
 * unpacks raw and the normalised record into a tree of values, sorts each
 * object's keys and serialises the tree again: about a twelfth of an
 * import's CPU.  The payload's keys are known, and raw and the normalised
 * record are jsonb objects already in their binary form, whose keys are in
 * jsonb's order and whose values are self-contained: so the payload is
 * written as convertToJsonb (src/backend/utils/adt/jsonb_util.c) would write
 * it, raw copied as one container and each member of the record copied as
 * it is, with created_at and updated_at merged in at their places.  The
 * bytes are the same as PayloadPushed's (test/pgtap checks it on every kind
 * of value); where that could not be guaranteed (raw or the record not an
 * object, the record already holding created_at or updated_at, a container
 * over jsonb's size limit) PayloadPushed runs instead.
 */

/* one member to write: a key and a value of a given JEntry type */
typedef struct PayloadMember
{
	const char *key;
	int			keylen;
	uint32		type;			/* JENTRY_ISSTRING, _ISNUMERIC, _ISCONTAINER, ... */
	const char *data;			/* the value's bytes (a container's or numeric's without padding) */
	int			len;
} PayloadMember;

/*
 * PayloadKeyCmp
 *		jsonb's order of object keys: shorter first, then bytewise
 *		(lengthCompareJsonbString).
 */
static int
PayloadKeyCmp(const char *a, int alen, const char *b, int blen)
{
	if (alen != blen)
		return alen > blen ? 1 : -1;
	return memcmp(a, b, alen);
}

/*
 * PayloadPad
 *		Pads buf with zero bytes to a 4-byte boundary (padBufferToInt); returns
 *		the number of bytes added.
 */
static int
PayloadPad(StringInfo buf)
{
	int			pad = INTALIGN(buf->len) - buf->len;

	if (pad > 0)
	{
		enlargeStringInfo(buf, pad);
		memset(buf->data + buf->len, 0, pad);
		buf->len += pad;
		buf->data[buf->len] = '\0';
	}
	return pad;
}

/*
 * PayloadWriteObject
 *		Appends an object of the n members m (keys in jsonb's order, distinct)
 *		to buf as convertJsonbObject does; returns its JEntry for the parent,
 *		or 0 when the object would exceed jsonb's size limit (nothing to be
 *		trusted is left in buf then).
 */
static uint32
PayloadWriteObject(StringInfo buf, const PayloadMember *m, int n)
{
	int			base = buf->len;
	int			jentries;
	uint32		header = (uint32) n | JB_FOBJECT;
	uint32		totallen = 0;

	PayloadPad(buf);
	appendBinaryStringInfo(buf, (char *) &header, sizeof(uint32));
	jentries = buf->len;
	enlargeStringInfo(buf, sizeof(JEntry) * n * 2);
	buf->len += sizeof(JEntry) * n * 2;
	for (int i = 0; i < 2 * n; i++)
	{
		const PayloadMember *p = &m[i % n];
		uint32		meta;
		uint32		len;

		if (i < n)
		{
			appendBinaryStringInfo(buf, p->key, p->keylen);
			meta = JENTRY_ISSTRING;
			len = p->keylen;
		}
		else
		{
			meta = p->type;
			len = 0;
			if (p->type == JENTRY_ISNUMERIC || p->type == JENTRY_ISCONTAINER)
				len = PayloadPad(buf);
			appendBinaryStringInfo(buf, p->data, p->len);
			len += p->len;
		}
		totallen += len;
		if (totallen > JENTRY_OFFLENMASK)
			return 0;
		if (i % JB_OFFSET_STRIDE == 0)
			meta |= totallen | JENTRY_HAS_OFF;
		else
			meta |= len;
		memcpy(buf->data + jentries + i * sizeof(JEntry), &meta, sizeof(JEntry));
	}
	totallen = buf->len - base;
	if (totallen > JENTRY_OFFLENMASK)
		return 0;
	return JENTRY_ISCONTAINER | totallen;
}

/*
 * PayloadDirect
 *		The payload written directly (see above), or NULL where PayloadPushed
 *		must build it.
 */
static Jsonb *
PayloadDirect(text *source, text *source_id, int32 version, Jsonb *raw, Jsonb *norm,
			  Datum created_at, Datum updated_at)
{
	JsonbContainer *nc = &norm->root;
	int			nn;
	PayloadMember *rec;
	int			nrec = 0;
	PayloadMember top[5];
	PayloadMember stamps[2];
	int			s = 0;
	StringInfoData buf;
	StringInfoData inner;
	uint32		meta;
	Numeric		num;
	char	   *created = JsonEncodeDateTime(NULL, created_at, TIMESTAMPTZOID, NULL);
	char	   *updated;

	/* a new record's two times are one (the writer's), formatted once */
	if (DatumGetTimestampTz(updated_at) == DatumGetTimestampTz(created_at))
		updated = created;
	else
		updated = JsonEncodeDateTime(NULL, updated_at, TIMESTAMPTZOID, NULL);

	if (!JB_ROOT_IS_OBJECT(raw) || JB_ROOT_IS_SCALAR(raw) || !JB_ROOT_IS_OBJECT(norm))
		return NULL;
	nn = JsonContainerSize(nc);

	/* the record: norm's members, created_at and updated_at at their places */
	stamps[0] = (PayloadMember) {"created_at", 10, JENTRY_ISSTRING, created, strlen(created)};
	stamps[1] = (PayloadMember) {"updated_at", 10, JENTRY_ISSTRING, updated, strlen(updated)};
	rec = palloc(sizeof(PayloadMember) * (nn + 2));
	{
		const char *base = (const char *) &nc->children[nn * 2];

		for (int i = 0; i < nn; i++)
		{
			uint32		koff = getJsonbOffset(nc, i);
			uint32		klen = getJsonbLength(nc, i);
			uint32		voff = getJsonbOffset(nc, i + nn);
			uint32		vlen = getJsonbLength(nc, i + nn);
			uint32		ve = nc->children[i + nn];
			PayloadMember k;

			k.key = base + koff;
			k.keylen = klen;
			k.type = ve & JENTRY_TYPEMASK;
			k.data = base + voff;
			k.len = vlen;
			if (k.type == JENTRY_ISNUMERIC || k.type == JENTRY_ISCONTAINER)
			{
				/* the padding before it is part of its length */
				k.data = base + INTALIGN(voff);
				k.len = vlen - (INTALIGN(voff) - voff);
			}
			while (s < 2 && PayloadKeyCmp(stamps[s].key, 10, k.key, k.keylen) < 0)
				rec[nrec++] = stamps[s++];
			if (s < 2 && PayloadKeyCmp(stamps[s].key, 10, k.key, k.keylen) == 0)
				return NULL;	/* a record with its own created_at: as || merges it */
			rec[nrec++] = k;
		}
		while (s < 2)
			rec[nrec++] = stamps[s++];
	}
	initStringInfo(&inner);
	meta = PayloadWriteObject(&inner, rec, nrec);
	if (meta == 0)
		return NULL;

	/* the payload: raw, record, source, version, source_id (jsonb's key order) */
	num = int64_to_numeric(version);
	top[0] = (PayloadMember) {"raw", 3, JENTRY_ISCONTAINER, (const char *) &raw->root, VARSIZE(raw) - VARHDRSZ};
	top[1] = (PayloadMember) {"record", 6, JENTRY_ISCONTAINER, inner.data, inner.len};
	top[2] = (PayloadMember) {"source", 6, JENTRY_ISSTRING, VARDATA_ANY(source), VARSIZE_ANY_EXHDR(source)};
	top[3] = (PayloadMember) {"version", 7, JENTRY_ISNUMERIC, (const char *) num, VARSIZE_ANY(num)};
	top[4] = (PayloadMember) {"source_id", 9, JENTRY_ISSTRING, VARDATA_ANY(source_id), VARSIZE_ANY_EXHDR(source_id)};
	initStringInfo(&buf);
	enlargeStringInfo(&buf, VARHDRSZ + VARSIZE(raw) + inner.len + 128);
	buf.len = VARHDRSZ;
	if (PayloadWriteObject(&buf, top, 5) == 0)
		return NULL;
	SET_VARSIZE(buf.data, buf.len);
	return (Jsonb *) buf.data;
}

/*
 * PayloadPushed
 *		The payload built through pushJsonbValue (the general way).
 */
static Jsonb *
PayloadPushed(text *source, text *source_id, int32 version, Jsonb *raw, Jsonb *norm,
			  Datum created_at, Datum updated_at)
{
	JsonbParseState *ps = NULL;
	JsonbValue	v;
	JsonbValue *res;

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	PushString(&ps, "source", text_to_cstring(source));
	PushString(&ps, "source_id", text_to_cstring(source_id));
	CdpJsonbPushKey(&ps, "version");
	v.type = jbvNumeric;
	v.val.numeric = int64_to_numeric(version);
	pushJsonbValue(&ps, WJB_VALUE, &v);
	PushJsonb(&ps, "raw", raw);
	CdpJsonbPushKey(&ps, "record");
	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	PushMembers(&ps, norm);
	PushTimestamp(&ps, "created_at", created_at);
	PushTimestamp(&ps, "updated_at", updated_at);
	pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	res = pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}

/*
 * cdp_record_event_payload
 *		SQL: cdp_internal.record_event_payload(source text, source_id text, version int,
 *		raw jsonb, norm jsonb, created_at timestamptz, updated_at timestamptz)
 *		RETURNS jsonb
 *
 * The payload of a record.created / record.updated event, equal to
 * jsonb_build_object('source', source, 'source_id', source_id, 'version',
 * version, 'raw', raw, 'record', norm || jsonb_build_object('created_at',
 * created_at, 'updated_at', updated_at)), written directly in jsonb's binary
 * form (PayloadDirect) or, where that cannot be, built in one pass
 * (PayloadPushed) instead of three (each jsonb_build_object and || unpacks
 * and re-serialises its inputs).
 */
Datum
cdp_record_event_payload(PG_FUNCTION_ARGS)
{
	text	   *source = PG_GETARG_TEXT_PP(0);
	text	   *source_id = PG_GETARG_TEXT_PP(1);
	int32		version = PG_GETARG_INT32(2);
	Jsonb	   *raw = PG_GETARG_JSONB_P(3);
	Jsonb	   *norm = PG_GETARG_JSONB_P(4);
	Jsonb	   *res;

	if (!JB_ROOT_IS_OBJECT(norm))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the normalised record must be a JSON object")));
	res = PayloadDirect(source, source_id, version, raw, norm, PG_GETARG_DATUM(5), PG_GETARG_DATUM(6));
	if (res == NULL)
		res = PayloadPushed(source, source_id, version, raw, norm, PG_GETARG_DATUM(5), PG_GETARG_DATUM(6));
	PG_RETURN_JSONB_P(res);
}
