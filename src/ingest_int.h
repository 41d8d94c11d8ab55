/*-------------------------------------------------------------------------
 *
 * src/ingest_int.h
 *		Private interface of the ingest family between src/ingest_attrs.c (the
 *		attrs document, its keys, the batch and event functions) and
 *		src/ingest_values.c (one value: text cleaning, identifiers through the
 *		cdp types' own input functions, birth dates, sex, handles).
 *
 *-------------------------------------------------------------------------
 */
#ifndef CDP_INGEST_INT_H
#define CDP_INGEST_INT_H

#include "fmgr.h"
#include "nodes/pg_list.h"
#include "utils/date.h"
#include "utils/jsonb.h"

/* Type oids and I/O functions of the cdp identifier types, cached per backend. */
typedef struct IdentType
{
	const char *typname;
	Oid			typoid;
	Oid			typinput;
	Oid			typioparam;
	Oid			typoutput;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	FmgrInfo	in_fn;			/* the type's input function */
	FmgrInfo	out_fn;			/* the type's output function */
} IdentType;

enum
{
	IT_PHONE, IT_EMAIL, IT_SNILS, IT_OMS, IT_COUNT
};
extern IdentType ident_types[IT_COUNT];

/* State of one normalisation, shared with the error context callback. */
typedef struct NormState
{
	bool		lenient;
	const char *label;			/* the record's source_id, for error context */
	const char *key;			/* key being processed, for error context */
	int			elem;			/* 1-based array element, or 0 */
	char	   *family, *given, *patronymic, *full_name;
	char	   *birth_date;		/* YYYY-MM-DD */
	DateADT		birth_date_val; /* the same date, valid when birth_date is set */
	char	   *sex;
	char	   *address, *city;
	List	   *phones, *emails;	/* canonical C strings */
	List	   *phone_vals, *email_vals;	/* the same values as Datums of the types */
	char	   *snils, *oms;
	Datum		snils_val, oms_val;
	List	   *handles;		/* NormMember: handle name, canonical string */
	List	   *extra;			/* NormMember: key as given, value as given */
	List	   *invalid;		/* NormMember: key, value text, reason */
} NormState;

/*
 * One member of handles, extra or extra._invalid, kept until the output
 * object is built (in input order, so a later duplicate key wins as with
 * jsonb_in).
 */
typedef struct NormMember
{
	const char *key;
	JsonbValue *value;			/* extra: the value as given */
	const char *text;			/* handles: the handle; _invalid: the value */
	JsonbValue *given;			/* _invalid: a non-string value as given, or NULL */
	const char *reason;			/* _invalid: why it was dropped */
} NormMember;

/* src/ingest_attrs.c: a value refused (raises, or lenient: set aside in extra._invalid) */
/* Columns of cdp_internal.ingest_row, in order (checked against the type at run time). */
enum
{
	IR_ORD, IR_SOURCE_KEY, IR_ATTRS_HASH, IR_RAW, IR_NORM, IR_FAMILY, IR_GIVEN, IR_PATRONYMIC,
	IR_BIRTH_DATE, IR_SEX, IR_PHONES, IR_EMAILS, IR_SNILS, IR_OMS, IR_ADDRESS, IR_CITY,
	IR_HANDLES, IR_EXTRA, IR_NATTS
};

/* one row of a batch normalised (src/ingest_attrs.c): false when unchanged */
extern void IngestCheckRowGiven(int ord, bool id_null, bool doc_null);
extern bool IngestNormalizeRow(int ord, Datum id, Datum doc, const char *old_hash, bool lenient,
							   Datum *values, bool *nulls);

extern void AddInvalid(NormState *st, const char *key, const char *value, const char *why);
extern bool Reject(NormState *st, int sqlstate, const char *value, const char *why, const char *hint);

/* src/ingest_values.c */
extern void LoadIdentTypes(void);
extern char *CleanText(const char *s, int len);
extern char *CheckedText(NormState *st, const char *s, int len, int cap);
extern bool TryIdent(int which, const char *value, Datum *val, char **canon);
extern const char *IdentPlaceholder(int which, const char *canon);
extern char *ParseIdent(NormState *st, int which, const char *value, Datum *val);
extern char *LowerCase(const char *s, size_t len);
extern char *ParseBirthDate(NormState *st, const char *s, DateADT *val);
extern char *ParseSex(NormState *st, const char *s);
extern char *CleanHandle(const char *s);

#endif							/* CDP_INGEST_INT_H */
