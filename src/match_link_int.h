/*-------------------------------------------------------------------------
 *
 * src/match_link_int.h
 *		What the link plan's files share and no other family may use: the
 *		order of the reasons the SQL caller passes, the plan's records as
 *		match_link_rules.c reads them, and the rules on persons (support,
 *		contradiction, ambiguity) over the union-find of match.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MATCH_LINK_INT_H
#define MATCH_LINK_INT_H

#include "match.h"

/* Reasons passed by the SQL caller, in this order (the wording lives in SQL). */
#define LINK_WHY_PLACEHOLDER	0
#define LINK_WHY_VETO			1
#define LINK_WHY_NO_MATCH		2
#define LINK_WHY_RELATION		3
#define LINK_WHY_DOB			4
#define LINK_WHY_OVERSIZE		5
#define LINK_WHY_SUPPORT		6
#define LINK_WHY_NAME_ONLY		7
#define LINK_WHY_NEVER			8	/* one per different_id_never attr */
/*
 * Then, optionally (0.3.0, session 39), one more: a record without a birth
 * date that fits two persons who contradict each other (MatchLinkDatelessAmbiguous);
 * a caller that does not pass it keeps the rule off.
 */

/* the records of the plan, for MatchLinkConflict */
typedef struct MatchLinkRecs
{
	int		   *node_start;		/* per node: its first entry in recs, then n */
	int		   *recs;			/* record indices grouped by node */
	char	  **dob;			/* per record: its birth-date feature or NULL */
	char	  **never;			/* per record: nnever values */
	int		   *adj_start;		/* per record: supporting pairs (record indices) */
	int		   *adj_to;
} MatchLinkRecs;

/* match_link_rules.c */
extern int	MatchLinkSupport(MatchLinkSet *s, const int *size, const int *adj_start, const int *adj_to,
							 int ra, int rb, int need);
extern int	MatchLinkConflict(MatchLinkSet *s, const MatchLinkRecs *lr, bool hasdob, int ra, int rb);
extern bool MatchLinkRareAmbiguous(MatchLinkSet *s, const int *rnode, const int *rs, const int *rt,
								   int r, int own);
extern double MatchLinkOddsWeight(double p);
extern bool MatchLinkDatelessAmbiguous(MatchLinkSet *s, const MatchLinkRecs *lr, bool hasdob,
									   const int *rnode, const int *ds, const int *dt, const double *dw,
									   int r, int own);
extern void MatchLinkCsr(int n, int ne, const int *from, const int *to, const double *w,
						 int **start, int **target, double **weight);

#endif							/* MATCH_LINK_INT_H */
