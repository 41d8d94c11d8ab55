/*-------------------------------------------------------------------------
 *
 * src/match_link_rules.c
 *		The link plan's rules on persons (issue 12), over the union-find of
 *		match_union.c: how many scored pairs support a link between two
 *		persons, whether two persons contradict each other (birth dates, a
 *		different_id_never value) outside the pairs that join them, and
 *		whether a record whose evidence is a rare full name, or that has no
 *		birth date, fits two or more persons who cannot be one (Senzing's
 *		ambiguous entity).  The plan itself, which applies them in decision
 *		order, is match_link.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "match_link_int.h"

/*
 * MatchLinkRareAmbiguous
 *		Whether record r (index), of the person of root own, carries a full
 *		name that pairs of a rare full name only (MATCH_PAIR_NAME_RARE, CSR
 *		lists rs/rt over record indices) find in two or more other persons:
 *		the record without a date or an identifier may then be either
 *		namesake's (a son named after his father), so the name decides
 *		nothing.  Senzing calls such a record ambiguous and relates it
 *		instead of resolving it.
 */
bool
MatchLinkRareAmbiguous(MatchLinkSet *s, const int *rnode, const int *rs, const int *rt, int r, int own)
{
	int			first = -1;

	for (int e = rs[r]; e < rs[r + 1]; e++)
	{
		int			root = MatchLinkFind(s, rnode[rt[e]]);

		if (root == own)
			continue;
		if (first < 0)
			first = root;
		else if (root != first)
			return true;
	}
	return false;
}

/*
 * MatchLinkSupport
 *		How many supporting pairs (adjacency adj_start/adj_to over nodes) join
 *		the clusters of roots ra and rb, counting from the cluster with fewer
 *		records and stopping at need.
 */
int
MatchLinkSupport(MatchLinkSet *s, const int *size, const int *adj_start, const int *adj_to,
			int ra, int rb, int need)
{
	int			from = ra,
				to = rb,
				got = 0;

	if (size[rb] < size[ra])
	{
		from = rb;
		to = ra;
	}
	for (int m = s->node[from].member_head; m >= 0; m = s->member_next[m])
	{
		for (int e = adj_start[m]; e < adj_start[m + 1]; e++)
			if (MatchLinkFind(s, adj_to[e]) == to && ++got >= need)
				return got;
	}
	return got;
}


/*
 * LinkDobConflict
 *		Whether two birth-date features contradict (MatchLinkDobConflict on
 *		one value each); NULL contradicts nothing.
 */
static bool
LinkDobConflict(char *a, char *b)
{
	MatchLinkNode na = {0},
				nb = {0};

	if (a == NULL || b == NULL)
		return false;
	na.ndob = nb.ndob = 1;
	na.dob = &a;
	nb.dob = &b;
	return MatchLinkDobConflict(&na, &nb);
}

/*
 * MatchLinkConflict
 *		The reason (index into the reasons) why the persons of roots ra and rb
 *		contradict each other, or -1.  The summaries at the roots answer
 *		first; when they see a contradiction (two birth dates apart by more
 *		than a slip, two values of a never attr), it is looked for between
 *		the records of the two persons, and one between two records that a
 *		supporting pair joins does not count: the scorer judged that pair as
 *		a whole (a birth date mistyped in one of two records that agree on
 *		everything else), while a contradiction between records that nothing
 *		compared (the ends of a chain) stops the link.
 */
int
MatchLinkConflict(MatchLinkSet *s, const MatchLinkRecs *lr, bool hasdob, int ra, int rb)
{
	bool		dob = hasdob && MatchLinkDobConflict(&s->node[ra], &s->node[rb]);
	bool		never[MATCH_MAX_COMP + 1];
	bool		any = dob;

	for (int j = 0; j < s->nnever; j++)
	{
		never[j] = MatchLinkNeverConflict(s->never[(Size) ra * s->nnever + j],
										  s->never[(Size) rb * s->nnever + j]);
		any |= never[j];
	}
	if (!any)
		return -1;
	for (int u = s->node[ra].member_head; u >= 0; u = s->member_next[u])
		for (int v = s->node[rb].member_head; v >= 0; v = s->member_next[v])
			for (int iu = lr->node_start[u]; iu < lr->node_start[u + 1]; iu++)
				for (int iv = lr->node_start[v]; iv < lr->node_start[v + 1]; iv++)
				{
					int			x = lr->recs[iu],
								y = lr->recs[iv],
								why = -1;
					bool		joined = false;

					if (dob && LinkDobConflict(lr->dob[x], lr->dob[y]))
						why = LINK_WHY_DOB;
					for (int j = 0; j < s->nnever && why < 0; j++)
						if (never[j] && MatchLinkNeverConflict(lr->never[(Size) x * s->nnever + j],
															   lr->never[(Size) y * s->nnever + j]))
							why = LINK_WHY_NEVER + j;
					if (why < 0)
						continue;
					for (int e = lr->adj_start[x]; e < lr->adj_start[x + 1] && !joined; e++)
						joined = lr->adj_to[e] == y;
					if (!joined)
						return why;
				}
	return -1;
}

/* the most persons MatchLinkDatelessAmbiguous compares for one record */
#define LINK_AMBIG_MAX	16

/*
 * How much more a dateless record's pairs must say for one person than for
 * another who contradicts it before the record is that person's: a weight
 * (natural log of the odds) of ln(100), odds a hundred times higher.
 */
#define LINK_AMBIG_MARGIN	4.605170185988092

/*
 * MatchLinkOddsWeight
 *		The weight (natural log of the odds) of probability p, finite.
 */
double
MatchLinkOddsWeight(double p)
{
	p = Min(Max(p, 1e-300), 1.0 - 1e-16);
	return log(p) - log1p(-p);
}

/*
 * MatchLinkDatelessAmbiguous
 *		Whether record r (index), without a birth date, of the person of root
 *		own, has pairs that would link it (CSR lists ds/dt over record
 *		indices, dw their weights) to two or more other persons who cannot be
 *		one, with about the same evidence: a no_match decision or a relation
 *		between them, or a contradiction (MatchLinkConflict: two birth dates, two
 *		SNILS), and the weaker's best pair within LINK_AMBIG_MARGIN of the
 *		strongest pair of the record.  A son named after his father, sharing
 *		the family's phone, with a record that carries the name and the
 *		phone only: nothing in that record says whose it is.  Senzing calls
 *		such a record ambiguous and relates it instead of resolving it; here
 *		it waits for a person (issue 12, session 39).  Compares the first
 *		LINK_AMBIG_MAX persons found.
 */
bool
MatchLinkDatelessAmbiguous(MatchLinkSet *s, const MatchLinkRecs *lr, bool hasdob, const int *rnode,
				  const int *ds, const int *dt, const double *dw, int r, int own)
{
	int			roots[LINK_AMBIG_MAX];
	double		w[LINK_AMBIG_MAX];
	double		best = -INFINITY;
	int			n = 0;

	for (int e = ds[r]; e < ds[r + 1]; e++)
	{
		int			root = MatchLinkFind(s, rnode[dt[e]]);
		int			q = 0;

		if (root == own)
			continue;
		while (q < n && roots[q] != root)
			q++;
		if (q == n)
		{
			if (n == LINK_AMBIG_MAX)
				continue;
			roots[n] = root;
			w[n++] = dw[e];
		}
		else
			w[q] = Max(w[q], dw[e]);
		best = Max(best, dw[e]);
	}
	for (int q1 = 0; q1 < n; q1++)
	{
		if (w[q1] < best - LINK_AMBIG_MARGIN)
			continue;
		for (int q2 = q1 + 1; q2 < n; q2++)
			if (w[q2] >= best - LINK_AMBIG_MARGIN &&
				(MatchLinkEdgeBetween(s, 0, roots[q1], roots[q2]) ||
				 MatchLinkEdgeBetween(s, 1, roots[q1], roots[q2]) ||
				 MatchLinkConflict(s, lr, hasdob, roots[q1], roots[q2]) >= 0))
				return true;
	}
	return false;
}

/*
 * MatchLinkCsr
 *		Adjacency lists over n vertices of the ne directed edges from[e] ->
 *		to[e] (in edge order per vertex): *start (n + 1 entries, a vertex's
 *		edges are start[v] .. start[v + 1]), *target and, when w is not NULL,
 *		*weight (w[e] beside each target).
 */
void
MatchLinkCsr(int n, int ne, const int *from, const int *to, const double *w,
			 int **start, int **target, double **weight)
{
	int		   *st = palloc0_array(int, n + 1);
	int		   *tg = palloc_array(int, Max(ne, 1));
	double	   *wt = w != NULL ? palloc_array(double, Max(ne, 1)) : NULL;
	int		   *fill;

	for (int e = 0; e < ne; e++)
		st[from[e] + 1]++;
	for (int v = 0; v < n; v++)
		st[v + 1] += st[v];
	fill = palloc_array(int, Max(n, 1));
	memcpy(fill, st, n * sizeof(int));
	for (int e = 0; e < ne; e++)
	{
		if (wt != NULL)
			wt[fill[from[e]]] = w[e];
		tg[fill[from[e]]++] = to[e];
	}
	pfree(fill);
	*start = st;
	*target = tg;
	if (weight != NULL)
		*weight = wt;
}
