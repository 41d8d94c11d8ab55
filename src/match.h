/*-------------------------------------------------------------------------
 *
 * src/match.h
 *		Matching family (layer 6): the compiled form of a settings document
 *		that the C scoring kernel runs, and the in-memory record features
 *		it walks.  The SQL side (sql/parts/6*_match_*.sql) validates and
 *		expands the JSON settings; src/match_compile.c compiles the expanded
 *		document into the flat arrays described here, from the constants of
 *		this header only, so that no number the kernel reads is defined in
 *		SQL.  The kernel never parses JSON.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MATCH_H
#define MATCH_H

#include "postgres.h"

#include "fmgr.h"
#include "utils/array.h"
#include "utils/date.h"

/*
 * Limits of one settings document.  _match_expand (SQL) reads them from
 * _match_constants() (match_compile.c) and the compilers check them again.
 */
#define MATCH_MAX_COMP		24		/* comparisons */
#define MATCH_MAX_LEVELS	8		/* levels per comparison, "else" excluded */
#define MATCH_MAX_FEAT		64		/* feature columns per record */
#define MATCH_MAX_RULES		16		/* blocking rules walked for pairs ("blocking"
									 * and "candidate_blocking" together) */
#define MATCH_MAX_LOOKUP_RULES 8	/* "lookup_blocking" rules: keyed for
									 * find_patient, never walked (issue 12) */
#define MATCH_MAX_KEY_RULES	(MATCH_MAX_RULES + MATCH_MAX_LOOKUP_RULES)	/* keys of a
																	 * record */
#define MATCH_MAX_RULE_KEYS	4		/* keys of one blocking rule */
#define MATCH_MAX_OSA		5		/* "le" of an osa level: edit distance 0 to this */
#define MATCH_MAX_PREFIX	32		/* "n" of a prefix level: 1 to this characters */

/* Separator of the values of a multi-valued feature (phones, e-mails). */
#define MATCH_VALUE_SEP		'\x1f'

/*
 * The values of each record a Jaro-Winkler level compares: its first 4 (in
 * the feature's order; a patient with more e-mails is rare, and his others
 * still count at the exact level, which compares all of them).  Two records
 * of 32 e-mails of 100 characters each (ingest's limits) made 1,024
 * Jaro-Winkler similarities per pair and per level, 5-10 ms a pair: a
 * training of 20 such records (100,000 sampled pairs) had not ended after
 * 10 minutes (issue 12, session 42).  Now at most 16 per pair, computed
 * once for all the comparison's Jaro-Winkler levels: 20 s.
 */
#define MATCH_JW_MAX_VALUES	4

/*
 * Level predicates.  A comparison's levels are tried in order; the first
 * predicate that holds for some pair of values (one from each record) is
 * the level reached.  The names of the settings document and the
 * comparators each one is allowed for are in match_compile.c (match_ops).
 */
#define MATCH_OP_EXACT		1	/* values equal */
#define MATCH_OP_KEY		2	/* name keys (next feature column) equal */
#define MATCH_OP_JW			3	/* Jaro-Winkler similarity >= arg */
#define MATCH_OP_OSA		4	/* OSA edit distance <= arg */
#define MATCH_OP_DMSWAP		5	/* YYYYMMDD with day and month swapped */
#define MATCH_OP_SAMEYEAR	6	/* YYYYMMDD with the same year */
#define MATCH_OP_LAST7		7	/* the last 7 characters equal (phone tails) */
#define MATCH_OP_INITIAL	8	/* one value is the initial of the other */
#define MATCH_OP_PREFIX		9	/* the first arg characters equal */
#define MATCH_OP_SWAPPED	10	/* name keys cross-equal with the name whose
								 * value column is arg (given <-> family) */
#define MATCH_OP_CROSS		11	/* this name's key equals the other record's
								 * key of the name at arg, either way */
#define MATCH_OP_MAX		11

/* Comparators of the settings document (match_compile.c, match_comparators). */
#define MATCH_CMP_NAME		1	/* two feature columns: value, name key */
#define MATCH_CMP_STRING	2
#define MATCH_CMP_DATE		3
#define MATCH_CMP_PHONE		4
#define MATCH_CMP_EMAIL		5
#define MATCH_CMP_ID		6
#define MATCH_CMP_EXACT		7
#define MATCH_CMP_MAX		7

/*
 * The packed kernel program (float8[], _match_program): a header of
 * MATCH_PROG_HEADER slots [ncomp, nfeat, nrules, prior, nidmatch,
 * nidnever, ndisagree], per comparison MATCH_PROG_STRIDE slots [fidx,
 * nlev, flags (MATCH_PROGF_*), u0, op x MATCH_MAX_LEVELS, arg x
 * MATCH_MAX_LEVELS, w x (MATCH_MAX_LEVELS + 1)], then the comparison
 * numbers of the same_id_match, different_id_never and disagree_never
 * lists.  MatchCompileProgram writes it, MatchDecodeProgram reads it.
 */
#define MATCH_PROG_HEADER	7
#define MATCH_PROG_STRIDE	(4 + 2 * MATCH_MAX_LEVELS + MATCH_MAX_LEVELS + 1)
#define MATCH_PROGF_TF		1	/* term-frequency adjustment */
#define MATCH_PROGF_NAME	2	/* a name: its key column follows the value */
#define MATCH_PROGF_EVID	4	/* an agreement is evidence beyond the names (a
								 * date, identifier, contact or address) */
#define MATCH_PROGF_EVID_RARE 8	/* an exact agreement is evidence when the value
								 * is rare (MATCH_EVID_RARE_FREQ) */
#define MATCH_PROGF_FLOOR	16	/* compiled with the evidence floor (0.3.0): a
								 * program without it on any comparison has no floor */
#define MATCH_PROGF_EVID_ID	32	/* with MATCH_PROGF_EVID: an identifier or a contact
								 * (id, phone, e-mail), which lets a record without
								 * any name link (not a date or an address) */
#define MATCH_PROGF_RARE_NAME 64	/* a rare full name alone is evidence
								 * ("rare_name_links": true; off by default) */
#define MATCH_PROGF_EVID_ALL (MATCH_PROGF_EVID | MATCH_PROGF_EVID_RARE | MATCH_PROGF_EVID_ID)
#define MATCH_PROGF_ALL		127

/*
 * The evidence floor (issue 12): a pair none of whose MATCH_PROGF_EVID
 * comparisons agrees (at a level other than else, prefix or initial) and
 * none of whose MATCH_PROGF_EVID_RARE comparisons agrees exactly on a value
 * of term frequency at most MATCH_EVID_RARE_FREQ is flagged
 * MATCH_PAIR_NAME_ONLY and never links automatically.
 */
#define MATCH_EVID_RARE_FREQ 0.001

/*
 * A date comparison that has a same_year level counts a birth year as a date
 * agreement; for the floor it also counts two dates at most this many days
 * apart (issue 12, session 25): the same year without the calendar's
 * boundary (31 December and 2 January are closer than January and December
 * of one year), as Splink's "within one year" level reads a birth date.
 */
#define MATCH_EVID_NEAR_DAYS 366

/*
 * A full name is evidence (issue 12) when every name comparison both records
 * fill agrees exactly (at least two) and the term frequencies say that fewer
 * than MATCH_EVID_NAME_CHANCE records of the data would carry that full name
 * by coincidence: n * tf(family) * tf(given) * ... (match_score.c,
 * NameChance).  Independence makes that figure optimistic where relatives
 * share names (a son named after his father): at 0.1 and 0.01 the generated
 * name-dense population lost B-cubed precision (0.9972, 0.9978), so a full
 * name must be a thousand times likelier the same person than a coincidence.
 */
#define MATCH_EVID_NAME_CHANCE 0.001

/*
 * Feature kinds of the C feature builder (match_features.c): how one
 * comparison's raw value becomes its feature column(s).
 */
#define MATCH_FEAT_NAME		1	/* _match_norm, then _match_name_key (two columns) */
#define MATCH_FEAT_NORM		2	/* _match_norm */
#define MATCH_FEAT_ASIS		3	/* computed in SQL already (birth date, sex) */
#define MATCH_FEAT_PHONES	4	/* phones[]: digits, no empty or suspicious, joined */
#define MATCH_FEAT_EMAILS	5	/* emails[]: lower(btrim()), no empty or suspicious */
#define MATCH_FEAT_DIGITS	6	/* snils, oms: the digits, NULL when none */
#define MATCH_FEAT_IDCOL	7	/* upper(regexp_replace(v, '[\s-]', '', 'g')) */
#define MATCH_FEAT_ID		8	/* the same, NULL when empty */
#define MATCH_FEAT_EXACT	9	/* NULLIF(btrim(v), '') */
#define MATCH_FEAT_PHONE1	10	/* NULLIF(regexp_replace(v, '\D', '', 'g'), '') */
#define MATCH_FEAT_EMAIL1	11	/* NULLIF(lower(btrim(v)), '') */
#define MATCH_FEAT_MAX		11

/*
 * Where the raw value of a comparison comes from in a cdp.record row
 * (MatchFeatureSource, match_compile.c: the SQL expressions of
 * _match_feature_program's raws and the full re-key's scan,
 * match_keys_write.c, read the same).
 */
#define MATCH_SRC_NONE		0	/* NULL: phones and e-mails are read from their arrays */
#define MATCH_SRC_COLUMN	1	/* r.<attr>, a text column (names: by name_roles when set) */
#define MATCH_SRC_SEX		2	/* upper(left(r.sex, 1)) */
#define MATCH_SRC_DATE		3	/* to_char(r.birth_date, 'YYYYMMDD') */
#define MATCH_SRC_TEXTOF	4	/* r.<attr>::text */
#define MATCH_SRC_JSON		5	/* COALESCE(r.extra ->> attr, r.handles ->> attr) */

/*
 * Blocking key transforms.  The feature builder computes NONE to PREFIX3
 * (rule items "pos:tr"); KEY selects the name key column instead, and
 * PHONETIC only the SQL form of _match_feature_query computes.
 */
#define MATCH_TR_NONE		0
#define MATCH_TR_YEAR		1	/* left(e, 4) */
#define MATCH_TR_MONTH_DAY	2	/* substr(e, 5, 4) */
#define MATCH_TR_INITIAL	3	/* left(e, 1) */
#define MATCH_TR_LAST7		4	/* right(e, 7) */
#define MATCH_TR_PREFIX3	5	/* left(e, 3) */
#define MATCH_TR_BUILDER_MAX 5	/* the last one the C feature builder knows */
#define MATCH_TR_KEY		6	/* the name key column, as is */
#define MATCH_TR_PHONETIC	7	/* cdp.phonetic_ru: SQL form only */

/* Flags of a record (match_key.flags) and of a scored pair. */
#define MATCH_REC_PLACEHOLDER	0x01	/* «Неизвестный», «Тест Тестович», no name */
/* the key size of the term-frequency tables: values are compared on their first
 * MATCH_TF_KEYLEN - 1 bytes (training stores them cut so; _match_constants tells SQL) */
#define MATCH_TF_KEYLEN 64

#define MATCH_PAIR_FORCED		0x100	/* a deterministic "same id" rule fired */
#define MATCH_PAIR_VETO			0x200	/* a "never merge" rule fired (different id, or
										 * a total disagreement on given name or birth date) */
#define MATCH_PAIR_PLACEHOLDER	0x400	/* either record is a placeholder */
#define MATCH_PAIR_NAME_ONLY	0x800	/* no evidence beyond names (evidence floor) */
#define MATCH_PAIR_NAME_RARE	0x1000	/* no evidence beyond names but a rare full name
										 * (MATCH_EVID_NAME_CHANCE): linked last, and only
										 * when the name points to one person */
#define MATCH_PAIR_ID_ONLY		0x2000	/* forced, and no date, contact, id or address
										 * agrees but the forcing ones: the shared phone
										 * or id is all that argues for one person */

/* Values of at most this many bytes are pre-decoded for Jaro-Winkler. */
#define MATCH_DECODE_MAX_BYTES	255

/* Missing value on either side: no evidence, weight 0. */
#define MATCH_LEVEL_NULL	(-1)

/* One record's features, as loaded by the kernel. */
typedef struct MatchRec
{
	int64		id;
	int64		golden;
	int32		flags;
	bool		focus;			/* in the set being (re)matched */
	char	  **feat;			/* nfeat NUL-terminated strings or NULL */
	char	  **bk;				/* nrules blocking keys or NULL */
	uint32	   *bkh;			/* hash_bytes of each blocking key (0: none) */
	int32	  **codes;			/* per feature column: its single value decoded
								 * to code points for Jaro-Winkler, or NULL */
	int16	   *ncodes;
	uint32		cmask;			/* bit c: comparison c's value is filled (not
								 * NULL, not empty), computed once at load */
	double	   *tfadj;			/* per tf-adjusted comparison (prog->tfslot):
								 * MatchTfAdjustment of this record's value,
								 * computed once at load; NULL: not computed */
} MatchRec;

/* The compiled settings the kernel runs. */
typedef struct MatchProg
{
	int			ncomp;
	int			nfeat;
	int			nrules;
	int			fidx[MATCH_MAX_COMP];	/* 0-based feature column */
	int			nlev[MATCH_MAX_COMP];	/* levels before "else" */
	int			op[MATCH_MAX_COMP][MATCH_MAX_LEVELS];
	double		arg[MATCH_MAX_COMP][MATCH_MAX_LEVELS];
	double		w[MATCH_MAX_COMP][MATCH_MAX_LEVELS + 1];	/* log2(m/u) */
	double		u0[MATCH_MAX_COMP];		/* u of level 0, for tf adjustment */
	bool		tf[MATCH_MAX_COMP];
	bool		haskey[MATCH_MAX_COMP];	/* a name: key column follows the value */
	int			evid[MATCH_MAX_COMP];	/* MATCH_PROGF_EVID, MATCH_PROGF_EVID_RARE or 0 */
	bool		floor;			/* the evidence floor applies (MATCH_PROGF_FLOOR) */
	bool		rare_name;		/* a rare full name is evidence (MATCH_PROGF_RARE_NAME) */
	struct HTAB *tfhash[MATCH_MAX_COMP];	/* value -> frequency */
	double		prior;			/* log2(lambda / (1 - lambda)) */
	int			nidmatch;
	int			idmatch[MATCH_MAX_COMP];
	int			nidnever;
	int			idnever[MATCH_MAX_COMP];
	int			ndisagree;
	int			disagree[MATCH_MAX_COMP];	/* "else" level vetoes a link */

	/*
	 * Evaluation order for the bounded scorer (MatchOrderProgram): the
	 * same_id_match comparisons first (a forced pair is never cut), then
	 * the others from the cheapest predicate to the dearest; rem[k] is the
	 * most weight comparisons order[k..] can still add.  The scorer bounds
	 * each pair by the comparisons both records fill (a value missing on a
	 * side adds 0): wall[c] is the most comparison c adds when both fill it,
	 * wrest[c] the most a level other than 0 adds (level 0 of a tf-adjusted
	 * comparison adds w[c][0] and the first record's tfadj[tfslot[c]]).
	 */
	bool		jwcol[MATCH_MAX_FEAT];	/* a Jaro-Winkler level reads this column */
	int			order[MATCH_MAX_COMP];
	int			nfirst;			/* how many same_id_match ones lead */
	double		rem[MATCH_MAX_COMP + 1];
	double		wall[MATCH_MAX_COMP];
	double		wrest[MATCH_MAX_COMP];
	int			tfslot[MATCH_MAX_COMP];	/* index into MatchRec.tfadj, or -1 */
	int			ntf;
} MatchProg;

/*
 * A settings document as the compilers read it (match_compile.c): the
 * expanded JSON with every attr reference (levels' "with", blocking keys,
 * rules) resolved to a comparison number, and the m and u parameters.
 */
typedef struct MatchDocLevel
{
	int			op;				/* MATCH_OP_* */
	double		arg;			/* "ge", "le" or "n"; 0 */
	int			with;			/* swapped, cross: the other comparison */
} MatchDocLevel;

typedef struct MatchDocComp
{
	const char *attr;			/* the cdp.record column or extra key */
	int			cmp;			/* MATCH_CMP_* */
	bool		tf;
	int			nlev;			/* levels before "else" */
	MatchDocLevel lev[MATCH_MAX_LEVELS];
	double		m[MATCH_MAX_LEVELS + 1];	/* per level, "else" last */
	double		u[MATCH_MAX_LEVELS + 1];
} MatchDocComp;

typedef struct MatchDocRule
{
	bool		any_order;
	int			nkeys;
	int			comp[MATCH_MAX_RULE_KEYS];
	int			tr[MATCH_MAX_RULE_KEYS];	/* MATCH_TR_* */
} MatchDocRule;

/* the three lists of deterministic rules */
enum
{
	MATCH_LIST_SAME_ID, MATCH_LIST_DIFFERENT_ID, MATCH_LIST_DISAGREE, MATCH_NLISTS
};

typedef struct MatchDoc
{
	int			ncomp;
	MatchDocComp comp[MATCH_MAX_COMP];
	int			nrules;			/* the rules the kernel walks ("blocking", then
								 * "candidate_blocking") */
	MatchDocRule rule[MATCH_MAX_KEY_RULES];	/* the walked rules, then the
											 * lookup rules */
	int			nlookup;		/* lookup rules, at rule[nrules] on: keyed by
								 * the feature program, not in the kernel's */
	bool		inlist[MATCH_NLISTS][MATCH_MAX_COMP];
	double		lambda;
	bool		no_floor;		/* "evidence_floor": false (the floor is on by default) */
	bool		rare_name;		/* "rare_name_links": true (off by default) */
} MatchDoc;

/* log2(x) as the compiled program computes it (SQL: log(2.0, x::numeric)::float8) */
typedef double (*MatchLog2Fn) (double x);

/* the feature program of _match_features (match_features.c ParseProgram) */
typedef struct MatchFeatProg
{
	int			kind[MATCH_MAX_COMP];	/* MATCH_FEAT_* */
	char		rule[MATCH_MAX_KEY_RULES][8 + MATCH_MAX_RULE_KEYS * 16];	/* "A" or "N", ";pos:tr"... */
	int			ph_pos[3];		/* family, given, patronymic value columns or -1 */
} MatchFeatProg;

/* match_compile.c */
extern int	MatchOpCode(const char *op, int cmp);
extern int	MatchComparatorCode(const char *name);
extern int	MatchTransformCode(const char *name);
extern int	MatchDocLayout(const MatchDoc *doc, int *fpos);
extern void MatchDocCheck(const MatchDoc *doc);
extern float8 *MatchCompileProgram(const MatchDoc *doc, MatchLog2Fn log2fn, int *n);
extern bool MatchCompileFeatures(const MatchDoc *doc, MatchFeatProg *fp);
extern int	MatchFeatureSource(const char *attr, int kind);

/* match_features.c: the feature builder of one record, for a scan in C */
typedef struct MatchFeatState MatchFeatState;
extern MatchFeatState *MatchFeatParse(ArrayType *kinds, ArrayType *rules, ArrayType *ph_pos,
									  ArrayType *ph_names, ArrayType *susp_phones,
									  ArrayType *susp_emails, ArrayType *susp_dates,
									  int *nfeat, int *nrules);
extern int32 MatchFeatRecord(MatchFeatState *state, MemoryContext cache_cxt, char **raw, int nraw,
							 char **phones, int nphones, char **emails, int nemails,
							 char **feat, char **bk);
extern Datum MatchTextArrayOf(char **v, int n);

/* match_keys_write.c: a birth date as the features (YYYYMMDD) or suspicious_values (YYYY-MM-DD) write it */
extern char *MatchDateText(DateADT d, bool dashes);

/* match_decode.c */
extern void MatchDecodeProgram(const float8 *p, int n, MatchProg *prog);

/* match_score.c */
extern int	MatchCompareLevel(const MatchProg *prog, int c,
							  const MatchRec *a, const MatchRec *b);
extern double MatchScorePair(const MatchProg *prog, const MatchRec *a,
							 const MatchRec *b, int8 *levels, int32 *flags);

/*
 * The bound MatchScorePairBounded cuts a pair with depends only on its first
 * record and on the comparisons both records fill: a walk, which pairs one
 * record with the rest of its block, passes the last one computed.
 */
typedef struct MatchBound
{
	const MatchRec *a;			/* the first record of the bound, or NULL */
	uint32		both;			/* the comparisons both records fill */
	double		prem[MATCH_MAX_COMP + 1];
} MatchBound;

extern double MatchScorePairBounded(const MatchProg *prog, const MatchRec *a,
									const MatchRec *b, int8 *levels,
									int32 *flags, double min_weight,
									bool *cut, MatchBound *bound);
extern void MatchPairLevels(const MatchProg *prog, const MatchRec *a,
							const MatchRec *b, int8 *levels);
extern void MatchOrderProgram(MatchProg *prog);
extern double MatchMinWeight(double min_prob);
extern double MatchProbability(double weight);
extern double MatchTfAdjustment(const MatchProg *prog, int c, const char *value);
extern double MatchTfFrequency(const MatchProg *prog, int c, const char *value);

/*
 * match_model.c: the model and the records as the kernel holds them in memory,
 * shared by the walk (match_walk.c) and the cross scorer: a bump allocator for
 * the features, the program decoded from its float8[] and the term-frequency
 * table loaded, each record's text arrays copied, its names decoded and its
 * per-comparison values precomputed.
 */
typedef struct MatchArena
{
	MemoryContext cxt;			/* where its blocks are allocated */
	char	   *cur;
	Size		left;
	Size		next;			/* size of the next block (0: the first) */
} MatchArena;

extern void MatchAdviseHuge(void *p, Size len);
extern void *MatchHugeAlloc(Size size);
extern void *MatchArenaAlloc(MatchArena *a, Size size);
extern char *MatchArenaStrdup(MatchArena *a, const char *s, Size len);
extern void MatchDecodeProgramArray(ArrayType *arr, MatchProg *prog);
extern void MatchLoadTf(MatchProg *prog, int version, Datum values, Datum comps);
extern void MatchPrecomputeRecord(const MatchProg *prog, MatchRec *r, double *tfadj);
extern void MatchCopyTextArray(MatchArena *arena, Datum d, bool isnull, char **out, int width);
extern void MatchDecodeRecord(const MatchProg *prog, MatchArena *arena, MatchRec *r);

/*
 * match_model.c: the scorer of a 'cross' walk over records given one at a
 * time, for the link plan's support checks (issue 12, session 33): the
 * program and term frequencies are loaded once, each record once, and a
 * pair is scored as _match_walk('cross') scores it, without a walk (and
 * its statements) per check.
 */
typedef struct MatchCrossScorer MatchCrossScorer;

/* a scorer of at most this many records reads the tf rows of their values only */
#define MATCH_TF_LAZY_RECORDS 1024
/*
 * a load of the tf rows of some values (a focused walk's, a lazy scorer's)
 * takes at most this many values; more read the whole table
 */
#define MATCH_TF_MAX_VALUES 5000

extern MatchCrossScorer *MatchCrossBegin(ArrayType *program, int version, double min_prob,
										 bool lazy_tf);
extern void MatchCrossLoadTf(MatchCrossScorer *cs, const Datum *feat, const bool *featnull, int n);
extern MatchRec *MatchCrossRecord(MatchCrossScorer *cs, int64 id, int32 flags,
								  Datum feat, bool featnull, Datum bk, bool bknull);
extern bool MatchCrossPair(MatchCrossScorer *cs, const MatchRec *a, const MatchRec *b,
						   double *probability, int32 *flags);

/*
 * match_link.c: the union-find over golden ids behind cdp_internal._match_link_plan,
 * shared with the golden family's merge plan (golden_merge.c).  The root of
 * every cluster is its smallest golden id; everything is palloc'd in the
 * current memory context.
 */

/* One cluster (node) of the union-find; the summary is valid at roots. */
typedef struct MatchLinkNode
{
	int			parent;
	int64		golden;
	int			edge_head[2];	/* no_match, relation: first edge or -1 */
	int			edge_tail[2];
	int			nedge[2];
	int			ndob;
	int			maxdob;
	char	  **dob;			/* distinct birth-date features */
	int			member_head;	/* merge plan: first original node, or -1 */
	int			member_tail;
	bool		archived;
} MatchLinkNode;

/* The whole union-find: nodes, their edge pool and member chain. */
typedef struct MatchLinkSet
{
	int			nnode;
	MatchLinkNode *node;
	int			nnever;
	char	  **never;			/* nnode * nnever: NULL, a value, or
								 * "several" (match_union.c) */
	int			nedge;
	int		   *edge_to;
	int		   *edge_next;
	int		   *member_next;
	struct HTAB *golden;		/* golden id -> node */
} MatchLinkSet;

/* A hash entry of MatchLinkHash: a golden id or a record id and its node. */
typedef struct MatchLinkKey
{
	int64		key;
	int			node;
} MatchLinkKey;

/* match_union.c */
extern struct HTAB *MatchLinkHash(const char *name, long n);
extern int64 *MatchLinkInt8Array(FunctionCallInfo fcinfo, int argno,
								 const char *argname, int *n);
extern MatchLinkSet *MatchLinkSetInit(int maxnode, int maxedge, int nnever);
extern int	MatchLinkNodeOf(MatchLinkSet *s, int64 golden);
extern int	MatchLinkNodeNew(MatchLinkSet *s, int64 golden);
extern int	MatchLinkLookup(struct HTAB *h, int64 id);
extern int	MatchLinkFind(MatchLinkSet *s, int x);
extern bool MatchLinkEdgeBetween(MatchLinkSet *s, int k, int ra, int rb);
extern int	MatchLinkUnion(MatchLinkSet *s, int ra, int rb);
extern void MatchLinkEdges(MatchLinkSet *s, struct HTAB *rec, int k,
						   const int64 *ea, const int64 *eb, int n);
extern void MatchLinkAddEdge(MatchLinkSet *s, int k, int x, int y);
extern void MatchLinkAddDob(MatchLinkNode *n, char *v);
extern bool MatchLinkDobConflict(const MatchLinkNode *a, const MatchLinkNode *b);
extern void MatchLinkNeverAdd(char **slot, char *v);
extern bool MatchLinkNeverConflict(char *a, char *b);

/*
 * match_link_args.c: the evidence of a run's links in parts (the arrays
 * _match_link_args builds it from), written into a payload where it is
 * needed (golden_link_write) instead of kept as a jsonb[] (issue 12, session
 * 36).  The parts are MATCH_EVIDENCE_NARGS consecutive arguments:
 * probability float8[], weight float8[], rule int[], forced boolean[],
 * levels smallint[][], rules jsonb, by text, settings_version int.
 */
#define MATCH_EVIDENCE_NARGS 8
struct JsonbParseState;
struct JsonbValue;
typedef struct MatchEvidence MatchEvidence;
extern MatchEvidence *MatchEvidenceArgs(FunctionCallInfo fcinfo, int argno, int n,
										const char *fname);
extern struct JsonbValue *MatchEvidencePush(struct JsonbParseState **st, MatchEvidence *e,
											int i, int64 ra, int64 rb);

/*
 * match_walk_sample.c: training's samples by record content, not position
 * (issue 12, session 40).  MatchContentHashes hashes each record's flags
 * and features; MatchContentOrder sorts the records by content, the order
 * MatchSampleRandomPairs draws u's random pairs in; MatchPairDraw is a
 * blocked pair's draw, the same for (a, b) and (b, a): 52 bits, the walk
 * keeps the pair when they are below the sampling rate times 2^52.
 */
extern uint64 *MatchContentHashes(const MatchProg *prog, const MatchRec *recs, int nrec);
extern int32 *MatchContentOrder(const MatchProg *prog, const MatchRec *recs, int nrec,
								const uint64 *hash);
extern void MatchSampleRandomPairs(const MatchProg *prog, const MatchRec *recs, int nrec,
								   const uint64 *hash, int64 sample,
								   void (*emit) (void *arg, const MatchRec *a, const MatchRec *b),
								   void *arg);

/* MatchMix64: the 64-bit finaliser of MurmurHash3 (a bijection) */
static inline uint64
MatchMix64(uint64 h)
{
	h ^= h >> 33;
	h *= UINT64CONST(0xff51afd7ed558ccd);
	h ^= h >> 33;
	h *= UINT64CONST(0xc4ceb9fe1a85ec53);
	h ^= h >> 33;
	return h;
}

/*
 * MatchPairDraw: the draw of the pair of records with content hashes ha, hb:
 * one mix of their sum (symmetric; two contents' hashes are random 64-bit
 * values, so distinct pairs have distinct sums but for a chance of about
 * pairs^2 / 2^65, and a pair of equal contents draws as any other)
 */
static inline uint64
MatchPairDraw(uint64 ha, uint64 hb)
{
	return MatchMix64(ha + hb + UINT64CONST(0x3c6ef372fe94f82b)) >> 12;
}

#endif							/* MATCH_H */
