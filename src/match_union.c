/*-------------------------------------------------------------------------
 *
 * src/match_union.c
 *		The union-find over golden ids with its cluster summaries (issues 5,
 *		6 and 12), split out of match_link.c: the id hash tables, the bigint[]
 *		argument reader, the nodes and their no_match / relation edges, the
 *		distinct birth dates and the different_id_never values of a cluster,
 *		and the union that merges them.  Declared in match.h; used by the link
 *		plan (match_link.c) and the golden family's merge plan (golden_merge.c,
 *		golden_link_write.c).
 *
 *		The root of every cluster is its smallest golden id, which is the id
 *		that survives a merge; finds halve paths (Tarjan and van Leeuwen,
 *		"Worst-case analysis of set union algorithms", JACM 1984).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "cdp.h"
#include "cmp.h"
#include "match.h"

/* Most distinct values of one never attr a cluster summary tells apart. */
#define LINK_MULTI				((char *) -1)

/*
 * MatchLinkHash
 *		A hash table from int64 ids to node numbers, sized for n entries, in
 *		the current memory context.
 */
HTAB *
MatchLinkHash(const char *name, long n)
{
	HASHCTL		ctl;

	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(MatchLinkKey);
	ctl.hcxt = CurrentMemoryContext;
	return hash_create(name, Max(n, 16), &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/*
 * MatchLinkLookup
 *		The node of an id, or -1 when the id is not in the table.
 */
int
MatchLinkLookup(HTAB *h, int64 id)
{
	MatchLinkKey *e = (MatchLinkKey *) hash_search(h, &id, HASH_FIND, NULL);

	return e ? e->node : -1;
}

/*
 * MatchLinkInt8Array
 *		The elements of a bigint[] argument; NULL elements are refused.  A
 *		NULL array is empty.
 */
int64 *
MatchLinkInt8Array(FunctionCallInfo fcinfo, int argno, const char *argname, int *n)
{
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int64	   *out;

	*n = 0;
	if (PG_ARGISNULL(argno))
		return NULL;
	arr = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("argument \"%s\" must be a one-dimensional array", argname)));
	deconstruct_array(arr, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, &nulls, n);
	out = palloc_array(int64, Max(*n, 1));
	for (int i = 0; i < *n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument \"%s\" must not contain nulls", argname),
					 errdetail("Element %d is null.", i + 1)));
		out[i] = DatumGetInt64(elems[i]);
	}
	pfree(elems);
	pfree(nulls);
	return out;
}

/*
 * MatchLinkSetInit
 *		An empty union-find for at most maxnode golden ids and maxedge edges.
 */
MatchLinkSet *
MatchLinkSetInit(int maxnode, int maxedge, int nnever)
{
	MatchLinkSet *s = palloc0_object(MatchLinkSet);

	s->node = palloc_extended(mul_size(Max(maxnode, 1), sizeof(MatchLinkNode)), MCXT_ALLOC_HUGE);
	s->nnever = nnever;
	if (nnever > 0)
		s->never = palloc_extended(mul_size(mul_size(Max(maxnode, 1), nnever), sizeof(char *)),
								   MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	s->edge_to = palloc_extended(mul_size(Max(maxedge, 1), sizeof(int)), MCXT_ALLOC_HUGE);
	s->edge_next = palloc_extended(mul_size(Max(maxedge, 1), sizeof(int)), MCXT_ALLOC_HUGE);
	s->member_next = palloc_extended(mul_size(Max(maxnode, 1), sizeof(int)), MCXT_ALLOC_HUGE);
	s->golden = MatchLinkHash("cdp link golden ids", maxnode);
	return s;
}

/*
 * MatchLinkNodeOf
 *		The node of a golden id, created (a cluster of its own) when new.
 */
int
MatchLinkNodeOf(MatchLinkSet *s, int64 golden)
{
	bool		found;
	MatchLinkKey *e = (MatchLinkKey *) hash_search(s->golden, &golden, HASH_ENTER, &found);

	if (!found)
		e->node = MatchLinkNodeNew(s, golden);
	return e->node;
}

/*
 * MatchLinkNodeNew
 *		A new node (a cluster of its own) for a golden id the caller knows
 *		to be new, not entered in s->golden: for a caller that maps golden
 *		ids to nodes itself (the link plan, issue 12, session 32), which then
 *		never calls MatchLinkNodeOf or looks ids up in s->golden.
 */
int
MatchLinkNodeNew(MatchLinkSet *s, int64 golden)
{
	int			x = s->nnode++;
	MatchLinkNode *n = &s->node[x];

	n->parent = x;
	n->golden = golden;
	n->edge_head[0] = n->edge_head[1] = -1;
	n->edge_tail[0] = n->edge_tail[1] = -1;
	n->nedge[0] = n->nedge[1] = 0;
	n->ndob = n->maxdob = 0;
	n->dob = NULL;
	n->member_head = n->member_tail = x;
	s->member_next[x] = -1;
	n->archived = false;
	return x;
}

/*
 * MatchLinkFind
 *		The root of a node's cluster, halving the path on the way.
 */
int
MatchLinkFind(MatchLinkSet *s, int x)
{
	while (s->node[x].parent != x)
	{
		s->node[x].parent = s->node[s->node[x].parent].parent;
		x = s->node[x].parent;
	}
	return x;
}

/*
 * MatchLinkAddEdge
 *		Records an edge of kind k (0 no_match, 1 relation) from node x to
 *		node y on x's root.  Callers add both directions.
 */
void
MatchLinkAddEdge(MatchLinkSet *s, int k, int x, int y)
{
	int			e = s->nedge++;
	MatchLinkNode *n = &s->node[x];

	s->edge_to[e] = y;
	s->edge_next[e] = -1;
	if (n->edge_head[k] < 0)
		n->edge_head[k] = e;
	else
		s->edge_next[n->edge_tail[k]] = e;
	n->edge_tail[k] = e;
	n->nedge[k]++;
}

/*
 * MatchLinkEdgeBetween
 *		Whether an edge of kind k joins the clusters of roots ra and rb; the
 *		cluster with fewer edges is scanned.
 */
bool
MatchLinkEdgeBetween(MatchLinkSet *s, int k, int ra, int rb)
{
	int			from = ra,
				to = rb;

	if (s->node[ra].nedge[k] == 0 || s->node[rb].nedge[k] == 0)
		return false;
	if (s->node[rb].nedge[k] < s->node[ra].nedge[k])
	{
		from = rb;
		to = ra;
	}
	for (int e = s->node[from].edge_head[k]; e >= 0; e = s->edge_next[e])
		if (MatchLinkFind(s, s->edge_to[e]) == to)
			return true;
	return false;
}

/*
 * MatchLinkAddDob
 *		Adds a birth-date feature to a root's distinct values.
 */
void
MatchLinkAddDob(MatchLinkNode *n, char *v)
{
	for (int i = 0; i < n->ndob; i++)
		if (strcmp(n->dob[i], v) == 0)
			return;
	if (n->ndob == n->maxdob)
	{
		n->maxdob = n->maxdob ? n->maxdob * 2 : 2;
		n->dob = n->dob ? repalloc_array(n->dob, char *, n->maxdob) : palloc_array(char *, n->maxdob);
	}
	n->dob[n->ndob++] = v;
}

/*
 * MatchLinkDobConflict
 *		The birth-date constraint of cdp_internal._match_cannot_link: some birth date
 *		of one cluster and some of the other differ in the year (the first
 *		four characters) and by more than one edit (not a slip of one digit
 *		nor a swap of two neighbours).
 */
bool
MatchLinkDobConflict(const MatchLinkNode *a, const MatchLinkNode *b)
{
	for (int i = 0; i < a->ndob; i++)
	{
		const char *x = a->dob[i];
		int			xlen = strlen(x);
		int			x4 = pg_mbcharcliplen(x, xlen, 4);

		for (int j = 0; j < b->ndob; j++)
		{
			const char *y = b->dob[j];
			int			ylen = strlen(y);
			int			y4 = pg_mbcharcliplen(y, ylen, 4);

			if (x4 == y4 && memcmp(x, y, x4) == 0)
				continue;
			if (CdpOsaDistance(x, xlen, y, ylen, 1) > 1)
				return true;
		}
	}
	return false;
}

/*
 * MatchLinkNeverAdd
 *		Folds a value into a never-attr summary slot: NULL (no value yet), a
 *		value, or LINK_MULTI (two different values seen).
 */
void
MatchLinkNeverAdd(char **slot, char *v)
{
	if (v == NULL || *slot == LINK_MULTI)
		return;
	if (*slot == NULL)
		*slot = v;
	else if (v == LINK_MULTI || strcmp(*slot, v) != 0)
		*slot = LINK_MULTI;
}

/*
 * MatchLinkNeverConflict
 *		The different_id_never constraint for one attr: a value of one
 *		cluster differs from a value of the other.  That holds unless one
 *		side has no value or both have the same single value.
 */
bool
MatchLinkNeverConflict(char *a, char *b)
{
	if (a == NULL || b == NULL)
		return false;
	if (a == LINK_MULTI || b == LINK_MULTI)
		return true;
	return strcmp(a, b) != 0;
}

/*
 * MatchLinkUnion
 *		Joins the clusters of roots ra and rb; the smaller golden id stays
 *		the root.  Returns the root.
 */
int
MatchLinkUnion(MatchLinkSet *s, int ra, int rb)
{
	MatchLinkNode *keep,
			   *gone;
	int			rk = ra,
				rg = rb;

	if (s->node[rb].golden < s->node[ra].golden)
	{
		rk = rb;
		rg = ra;
	}
	keep = &s->node[rk];
	gone = &s->node[rg];
	gone->parent = rk;
	for (int k = 0; k < 2; k++)
	{
		if (gone->edge_head[k] < 0)
			continue;
		if (keep->edge_head[k] < 0)
			keep->edge_head[k] = gone->edge_head[k];
		else
			s->edge_next[keep->edge_tail[k]] = gone->edge_head[k];
		keep->edge_tail[k] = gone->edge_tail[k];
		keep->nedge[k] += gone->nedge[k];
	}
	for (int i = 0; i < gone->ndob; i++)
		MatchLinkAddDob(keep, gone->dob[i]);
	for (int j = 0; j < s->nnever; j++)
		MatchLinkNeverAdd(&s->never[(Size) rk * s->nnever + j], s->never[(Size) rg * s->nnever + j]);
	s->member_next[keep->member_tail] = gone->member_head;
	keep->member_tail = gone->member_tail;
	return rk;
}

/*
 * MatchLinkEdges
 *		Adds the edges of kind k between the record pairs (ea[i], eb[i]) whose
 *		records both belong to the loaded clusters; rec maps record ids to
 *		nodes (NULL: the ids are golden ids already).
 */
void
MatchLinkEdges(MatchLinkSet *s, HTAB *rec, int k, const int64 *ea, const int64 *eb, int n)
{
	for (int i = 0; i < n; i++)
	{
		int			x = rec ? MatchLinkLookup(rec, ea[i]) : MatchLinkLookup(s->golden, ea[i]);
		int			y = rec ? MatchLinkLookup(rec, eb[i]) : MatchLinkLookup(s->golden, eb[i]);

		if (x < 0 || y < 0)
			continue;
		MatchLinkAddEdge(s, k, x, y);
		MatchLinkAddEdge(s, k, y, x);
	}
}
