/*-------------------------------------------------------------------------
 *
 * src/match.h
 *		Matching family (layer 6): the compiled form of a settings document
 *		that the C scoring kernel runs, and the in-memory record features
 *		it walks.  The SQL side (sql/parts/6*_match_*.sql) validates and
 *		expands the JSON settings and compiles them into the flat arrays
 *		described here; the kernel never parses JSON.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MATCH_H
#define MATCH_H

#include "postgres.h"

#include "fmgr.h"

/* Limits of one settings document (checked again in SQL at configure time). */
#define MATCH_MAX_COMP		24		/* comparisons */
#define MATCH_MAX_LEVELS	8		/* levels per comparison, "else" excluded */
#define MATCH_MAX_FEAT		64		/* feature columns per record */
#define MATCH_MAX_RULES		16		/* blocking rules */

/* Separator of the values of a multi-valued feature (phones, e-mails). */
#define MATCH_VALUE_SEP		'\x1f'

/*
 * Level predicates.  A comparison's levels are tried in order; the first
 * predicate that holds for some pair of values (one from each record) is
 * the level reached.  Numbers must agree with _match_op_code() in SQL.
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

/* Flags of a record (match_key.flags) and of a scored pair. */
#define MATCH_REC_PLACEHOLDER	0x01	/* «Неизвестный», «Тест Тестович», no name */
#define MATCH_PAIR_FORCED		0x100	/* a deterministic "same id" rule fired */
#define MATCH_PAIR_VETO			0x200	/* a "never merge" rule fired (different id, or
										 * a total disagreement on given name or birth date) */
#define MATCH_PAIR_PLACEHOLDER	0x400	/* either record is a placeholder */

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
	 * most weight comparisons order[k..] can still add.
	 */
	bool		jwcol[MATCH_MAX_FEAT];	/* a Jaro-Winkler level reads this column */
	int			order[MATCH_MAX_COMP];
	int			nfirst;			/* how many same_id_match ones lead */
	double		rem[MATCH_MAX_COMP + 1];
} MatchProg;

/* match_score.c */
extern int	MatchCompareLevel(const MatchProg *prog, int c,
							  const MatchRec *a, const MatchRec *b);
extern double MatchScorePair(const MatchProg *prog, const MatchRec *a,
							 const MatchRec *b, int8 *levels, int32 *flags);
extern double MatchScorePairBounded(const MatchProg *prog, const MatchRec *a,
									const MatchRec *b, int8 *levels,
									int32 *flags, double min_weight,
									bool *cut);
extern void MatchOrderProgram(MatchProg *prog);
extern double MatchMinWeight(double min_prob);
extern double MatchProbability(double weight);
extern double MatchTfAdjustment(const MatchProg *prog, int c, const char *value);

/*
 * match_link.c: the union-find over golden ids behind cdp._match_link_plan,
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
								 * "several" (match_link.c) */
	int			nedge;
	int		   *edge_to;
	int		   *edge_next;
	int		   *member_next;
	struct HTAB *golden;		/* golden id -> node */
} MatchLinkSet;

extern int64 *MatchLinkInt8Array(FunctionCallInfo fcinfo, int argno,
								 const char *argname, int *n);
extern MatchLinkSet *MatchLinkSetInit(int maxnode, int maxedge, int nnever);
extern int	MatchLinkNodeOf(MatchLinkSet *s, int64 golden);
extern int	MatchLinkLookup(struct HTAB *h, int64 id);
extern int	MatchLinkFind(MatchLinkSet *s, int x);
extern bool MatchLinkEdgeBetween(MatchLinkSet *s, int k, int ra, int rb);
extern int	MatchLinkUnion(MatchLinkSet *s, int ra, int rb);
extern void MatchLinkEdges(MatchLinkSet *s, struct HTAB *rec, int k,
						   const int64 *ea, const int64 *eb, int n);

#endif							/* MATCH_H */
