/*-------------------------------------------------------------------------
 *
 * src/golden.h
 *		Golden family (layer 7): golden records, survivorship and merges.
 *
 * The family's C code is three pieces, each a pure function of its arguments:
 * cdp.golden_fold (golden_fold.c), the survivorship fold of one person's
 * records into a profile; the survivorship rules (golden_rules.c): rule
 * names, the single-valued attributes and their default rules, one set of
 * constants, and the checks of a rules document that the fold and
 * cdp_internal.golden_check_rules share; and cdp_internal._golden_merge_plan
 * (golden_merge.c), the merges a batch of links makes, on the matching
 * family's union-find over golden ids (match.h).  They are called from SQL
 * (sql/parts/7*_golden*.sql), never from another family's C code but for
 * one: ingest's bulk writer of new persons (src/ingest_write.c) fills each
 * profile with GoldenNewPersonValues, as the fast path's SQL statement calls
 * cdp_internal.golden_new_person_row.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GOLDEN_H
#define GOLDEN_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "fmgr.h"
#include "access/tupdesc.h"
#include "utils/array.h"
#include "utils/jsonb.h"

/* the survivorship rules, in the order of cdp.golden_rule_names() */
typedef enum GoldenRule
{
	RULE_VALIDATED,
	RULE_TRUSTED,
	RULE_RECENT,
	RULE_FREQUENT,
	RULE_COMPLETE
} GoldenRule;

#define GOLDEN_NRULES		5

/* longest attribute or rule text quoted in an error message, in bytes */
#define GOLDEN_MSG_CLIP		64

extern const char *const GoldenRuleNames[GOLDEN_NRULES];

/*
 * the default of cdp.merge_lock_tables_links (golden_merge.c): a batch of
 * this many links or more locks the tables whole (sql/parts/
 * 73_golden_link.sql, golden_lock_tables, reads the same value when the
 * library is not loaded yet)
 */
#define GOLDEN_LOCK_TABLES_LINKS	10000

extern void GoldenInit(void);

/* server-free kernels: no jsonb, no catalog (test/fuzz/fuzz_golden.c) */
extern int	GoldenRuleIndex(const char *name, int len);
extern int	GoldenAttributeIndex(const char *attr, int len);
extern void GoldenCheckAttribute(const char *attr, int len);
extern void GoldenCheckRuleList(const char *attr, int attrlen, bool is_array,
								int nelems, bool strict, const char *given, int givenlen);
extern GoldenRule GoldenCheckRule(const char *attr, int attrlen, const char *rule,
								  int rulelen, bool is_string, uint32 *seen);

/* the jsonb side */
extern void GoldenCheckRulesObject(Jsonb *rules);
extern GoldenRule *GoldenParseRuleList(const char *attr, int attrlen, JsonbValue *list,
									   bool strict, int *nrules);
extern Jsonb *GoldenDefaultRules(void);

/*
 * The outcome column of cdp_internal._golden_merge_plan, one row per link in the
 * order given (cdp.link_records_many reads these letters).
 */
#define GOLDEN_MERGE_SAME		's' /* the two are one person by then */
#define GOLDEN_MERGE_NO_MATCH	'n' /* a no_match decision joins the grown
									 * persons: the link is refused */
#define GOLDEN_MERGE_MERGE		'm' /* gone merges into keep */

/* the identifier types' text input and output (src/type_*.c), which the record documents
 * and the singleton profile put identifiers through */
extern Datum cdp_phone_in(PG_FUNCTION_ARGS);
extern Datum cdp_phone_out(PG_FUNCTION_ARGS);
extern Datum cdp_email_in(PG_FUNCTION_ARGS);
extern Datum cdp_email_out(PG_FUNCTION_ARGS);
extern Datum cdp_snils_in(PG_FUNCTION_ARGS);
extern Datum cdp_snils_out(PG_FUNCTION_ARGS);
extern Datum cdp_oms_in(PG_FUNCTION_ARGS);
extern Datum cdp_oms_out(PG_FUNCTION_ARGS);

/*
 * Pieces of the record documents and the fold that the singleton profile
 * (src/golden_single.c) repeats exactly: the canonical text of an
 * identifier and of each element of an identifier array argument, the
 * placeholder OMS, a record's validated flag (src/golden_doc.c), a
 * timestamp in UTC (src/golden_fold.c).
 */
extern char *GoldenCanonicalText(PGFunction in, PGFunction out, char *s);
extern char **GoldenIdentifierTexts(FunctionCallInfo fcinfo, int arg, const char *key,
									 PGFunction in, PGFunction out, int *n);
extern char **GoldenIdentifierArrayTexts(ArrayType *a, const char *key, PGFunction in,
										  PGFunction out, int *n);

/*
 * A contact's text, as the fold and the singleton profile compare it: the
 * network (handles; NULL for phones and e-mails) and the value.  Two orders
 * (src/golden_fold.c): bytewise with no network first, which finds equal
 * contacts; and the profile's output order, no network last, then network
 * and value in the database collation.
 */
typedef struct GoldenContactText
{
	char	   *net;
	int			netlen;
	char	   *v;
	int			vlen;
} GoldenContactText;

extern int	GoldenCmpContactBytes(const GoldenContactText *a, const GoldenContactText *b);
extern int	GoldenCmpContactOutput(const GoldenContactText *a, const GoldenContactText *b);

/*
 * The contact lists of a profile, shared by both folds (golden_fold.c: from
 * the records' documents; golden_fold_row.c: from their columns).  A
 * GoldenContact is one (kind, network, value) seen in the caller's record
 * rec; a GoldenContactRec what a contact's group aggregates of that record;
 * GoldenContactGroups sorts the occurrences and returns their groups in the
 * profile's order, GoldenPushContactGroup pushes one group's object.
 */
typedef struct GoldenContact
{
	int			kind;
	GoldenContactText t;
	int			rec;
} GoldenContact;

typedef struct GoldenContactRec
{
	bool		created_null;
	TimestampTz created;
	bool		updated_null;
	TimestampTz updated;
	int			validated;		/* 1, 0, or -1 when missing */
	bool		sid_null;
	int32		sid;
} GoldenContactRec;

typedef struct GoldenContactGroup
{
	int			kind;
	GoldenContactText t;
	int			first;			/* range in the sorted occurrences */
	int			count;
	bool		first_null;
	TimestampTz first_seen;
	bool		last_null;
	TimestampTz last_seen;
	int			validated;		/* bool_or: 1, 0, -1 (all null) */
	int			valid;			/* 1, 0, -1 (null) */
} GoldenContactGroup;

/* pushes the caller's record rec's id as an array element */
typedef void (*GoldenPushRecIdFn) (JsonbParseState **st, int rec, void *arg);

extern int	GoldenCmpBytes(const char *a, int alen, const char *b, int blen);
extern void GoldenAddContact(GoldenContact **arr, int *n, int *cap, int kind, char *net, int netlen,
							 char *v, int vlen, int rec);
extern GoldenContactGroup *GoldenContactGroups(GoldenContact *c, int n, const GoldenContactRec *recs,
											   int *ngroups);
extern void GoldenPushContactGroup(JsonbParseState **st, const GoldenContactGroup *x,
								   const GoldenContact *c, int *ids, qsort_arg_comparator cmp,
								   bool same_by_index, GoldenPushRecIdFn push_id, void *arg);
/*
 * A cdp.patient row built in C (golden_row.c, golden_single.c): the row type
 * and, per column, where its value comes from (src: each file's own enum, 0
 * for none), which attribute or key, and its type's input function.  Built
 * once per call site by GoldenGetRowType and kept in fn_extra, with room for
 * the caller's own cached state (extra, extra_size bytes, zeroed).
 */
typedef struct GoldenColumn
{
	int			src;
	int			attr;
	const char *key;
	FmgrInfo	input;
	Oid			ioparam;
	int32		typmod;
} GoldenColumn;

typedef struct GoldenRowType
{
	TupleDesc	desc;
	int			ncols;
	void	   *extra;
	GoldenColumn cols[FLEXIBLE_ARRAY_MEMBER];
} GoldenRowType;

typedef void (*GoldenClassifyFn) (GoldenColumn *c, const char *name);

extern GoldenRowType *GoldenGetRowType(FunctionCallInfo fcinfo, TupleDesc desc, const char *fname,
									   GoldenClassifyFn classify, Size extra_size);

/*
 * The arguments of cdp_internal.golden_new_person_row, in order, and the
 * function's body for a caller in C (src/golden_single.c).
 */
typedef enum GoldenNewPersonArg
{
	GNP_GOLDEN_ID, GNP_RULES, GNP_RULES_VERSION, GNP_RECORD_ID, GNP_FAMILY_NAME, GNP_GIVEN_NAME,
	GNP_PATRONYMIC, GNP_BIRTH_DATE, GNP_SEX, GNP_PHONES, GNP_EMAILS, GNP_SNILS, GNP_OMS, GNP_ADDRESS,
	GNP_CITY, GNP_HANDLES, GNP_EXTRA, GNP_CREATED_AT, GNP_UPDATED_AT, GNP_COUNT
} GoldenNewPersonArg;

extern void GoldenNewPersonValues(FunctionCallInfo fcinfo, TupleDesc desc, Datum *values, bool *nulls);

extern bool GoldenOmsIsPlaceholder(const char *s);
extern bool GoldenDocValidated(const char *s);
extern char *GoldenUtcText(TimestampTz ts);

/* jsonb helpers of the fold, shared with the record documents (src/golden_fold.c) */
extern char *GoldenFieldCString(JsonbContainer *doc, const char *key);
extern void GoldenPushScalar(JsonbParseState **st, JsonbIteratorToken tok, JsonbValue *v);
extern void GoldenPushString(JsonbParseState **st, JsonbIteratorToken tok, const char *s, int len);
extern void GoldenPushNull(JsonbParseState **st, JsonbIteratorToken tok);
extern void GoldenPushInt64(JsonbParseState **st, JsonbIteratorToken tok, int64 i);
extern void GoldenPushBool(JsonbParseState **st, JsonbIteratorToken tok, bool b);

/*
 * The fold of one person's row from its records' columns (golden_fold_row.c),
 * for a caller in C (the live re-fold, golden_refold.c): the fields of one
 * record in cdp_internal.golden_fold_input order, and the other values the
 * row takes.
 */
#define GOLDEN_FOLD_NFIELDS	18
typedef enum GoldenFoldRowArg
{
	GFR_GOLDEN_ID, GFR_RULES_VERSION, GFR_STATUS, GFR_STATUS_AT, GFR_LAST_VISIT,
	GOLDEN_FOLD_NARGS
} GoldenFoldRowArg;
extern GoldenRowType *GoldenFoldRowType(FunctionCallInfo fcinfo, TupleDesc desc, const char *fname,
										Jsonb *rules);
extern void GoldenFoldRowValues(GoldenRowType *cache, int nrec, Datum *fields, bool *fnulls,
								Datum *args, bool *argnulls, Datum *values, bool *nulls);

/* qsort comparator of int64 values, ascending (golden_merge.c) */
extern int	GoldenInt64Cmp(const void *pa, const void *pb);

#endif							/* GOLDEN_H */
