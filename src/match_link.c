/*-------------------------------------------------------------------------
 *
 * src/match_link.c
 *		Set-based linking (issues 5 and 6): the decisions of a matching run
 *		and the plan of a batch of merges, both computed in memory with a
 *		union-find over golden ids instead of one round trip per pair.
 *
 *		cdp_internal._match_link_plan walks the scored pairs of a run in decision
 *		order (forced first, probability descending, record ids) and says
 *		for each whether it links, goes to review (with the cannot-link
 *		reason) or joins two records that are already one person.  Every
 *		cluster carries a summary of what the cannot-link constraints of
 *		cdp_internal._match_cannot_link read (no_match decisions and household
 *		relations as edges, the distinct birth dates, the different_id_never
 *		values), so a check between two clusters that have grown by earlier
 *		links of the same run is answered without a query.
 *
 *		cdp_internal._golden_merge_plan turns an ordered list of links between golden
 *		ids into the merges cdp.link_records would make one by one: the
 *		survivor (the smaller id) and the absorbed id of each, the original
 *		golden ids whose records move, links refused by a no_match decision
 *		between the grown persons, and the archived survivors that a merge
 *		with an active person restores.
 *
 *		The root of every cluster is its smallest golden id, which is the id
 *		that survives a merge; finds halve paths (Tarjan and van Leeuwen,
 *		"Worst-case analysis of set union algorithms", JACM 1984).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "cdp.h"
#include "cmp.h"
#include "match.h"

PG_FUNCTION_INFO_V1(cdp_match_link_plan);
PG_FUNCTION_INFO_V1(cdp_golden_merge_plan);

/* Reasons passed by the SQL caller, in this order (the wording lives in SQL). */
#define LINK_WHY_PLACEHOLDER	0
#define LINK_WHY_VETO			1
#define LINK_WHY_NO_MATCH		2
#define LINK_WHY_RELATION		3
#define LINK_WHY_DOB			4
#define LINK_WHY_NEVER			5	/* one per different_id_never attr */

/* Most distinct values of one never attr a cluster summary tells apart. */
#define LINK_MULTI				((char *) -1)

/* A hash entry: a golden id or a record id and its node. */
typedef struct LinkKey
{
	int64		key;
	int			node;
} LinkKey;

/* One cluster (node) of the union-find; the summary is valid at roots. */
typedef struct LinkNode
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
} LinkNode;

/* The whole union-find: nodes, their edge pool and member chain. */
typedef struct LinkSet
{
	int			nnode;
	LinkNode   *node;
	int			nnever;
	char	  **never;			/* nnode * nnever: NULL, a value or LINK_MULTI */
	int			nedge;
	int		   *edge_to;
	int		   *edge_next;
	int		   *member_next;
	HTAB	   *golden;			/* golden id -> node */
} LinkSet;

/*
 * LinkHash
 *		A hash table from int64 ids to node numbers, sized for n entries, in
 *		the current memory context.
 */
static HTAB *
LinkHash(const char *name, long n)
{
	HASHCTL		ctl;

	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(LinkKey);
	ctl.hcxt = CurrentMemoryContext;
	return hash_create(name, Max(n, 16), &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/*
 * LinkLookup
 *		The node of an id, or -1 when the id is not in the table.
 */
static int
LinkLookup(HTAB *h, int64 id)
{
	LinkKey    *e = (LinkKey *) hash_search(h, &id, HASH_FIND, NULL);

	return e ? e->node : -1;
}

/*
 * LinkInt8Array
 *		The elements of a bigint[] argument; NULL elements are refused.  A
 *		NULL array is empty.
 */
static int64 *
LinkInt8Array(FunctionCallInfo fcinfo, int argno, const char *argname, int *n)
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
 * LinkTextArray
 *		The elements of a text[] argument as C strings (NULL for a null
 *		element), each at most CDP_MAX_TEXT_BYTES long and valid UTF-8.
 */
static char **
LinkTextArray(FunctionCallInfo fcinfo, int argno, const char *argname, int *n)
{
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	char	  **out;

	*n = 0;
	if (PG_ARGISNULL(argno))
		return NULL;
	/* a two-dimensional array (one row per record) is read row by row */
	arr = PG_GETARG_ARRAYTYPE_P(argno);
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, n);
	out = palloc_array(char *, Max(*n, 1));
	for (int i = 0; i < *n; i++)
	{
		text	   *t;
		int			len;

		if (nulls[i])
		{
			out[i] = NULL;
			continue;
		}
		t = DatumGetTextPP(elems[i]);
		len = VARSIZE_ANY_EXHDR(t);
		if (len > CDP_MAX_TEXT_BYTES)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("element %d of argument \"%s\" is too long", i + 1, argname),
					 errdetail("The value has %d bytes; the limit is %d.", len, CDP_MAX_TEXT_BYTES)));
		out[i] = text_to_cstring(t);
		(void) pg_verify_mbstr(PG_UTF8, out[i], len, false);
	}
	pfree(elems);
	pfree(nulls);
	return out;
}

/*
 * LinkSetInit
 *		An empty union-find for at most maxnode golden ids and maxedge edges.
 */
static LinkSet *
LinkSetInit(int maxnode, int maxedge, int nnever)
{
	LinkSet    *s = palloc0_object(LinkSet);

	s->node = palloc_extended(mul_size(Max(maxnode, 1), sizeof(LinkNode)), MCXT_ALLOC_HUGE);
	s->nnever = nnever;
	if (nnever > 0)
		s->never = palloc_extended(mul_size(mul_size(Max(maxnode, 1), nnever), sizeof(char *)),
								   MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	s->edge_to = palloc_extended(mul_size(Max(maxedge, 1), sizeof(int)), MCXT_ALLOC_HUGE);
	s->edge_next = palloc_extended(mul_size(Max(maxedge, 1), sizeof(int)), MCXT_ALLOC_HUGE);
	s->member_next = palloc_extended(mul_size(Max(maxnode, 1), sizeof(int)), MCXT_ALLOC_HUGE);
	s->golden = LinkHash("cdp link golden ids", maxnode);
	return s;
}

/*
 * LinkNodeOf
 *		The node of a golden id, created (a cluster of its own) when new.
 */
static int
LinkNodeOf(LinkSet *s, int64 golden)
{
	bool		found;
	LinkKey    *e = (LinkKey *) hash_search(s->golden, &golden, HASH_ENTER, &found);
	LinkNode   *n;

	if (found)
		return e->node;
	e->node = s->nnode++;
	n = &s->node[e->node];
	n->parent = e->node;
	n->golden = golden;
	n->edge_head[0] = n->edge_head[1] = -1;
	n->edge_tail[0] = n->edge_tail[1] = -1;
	n->nedge[0] = n->nedge[1] = 0;
	n->ndob = n->maxdob = 0;
	n->dob = NULL;
	n->member_head = n->member_tail = e->node;
	s->member_next[e->node] = -1;
	n->archived = false;
	return e->node;
}

/*
 * LinkFind
 *		The root of a node's cluster, halving the path on the way.
 */
static int
LinkFind(LinkSet *s, int x)
{
	while (s->node[x].parent != x)
	{
		s->node[x].parent = s->node[s->node[x].parent].parent;
		x = s->node[x].parent;
	}
	return x;
}

/*
 * LinkAddEdge
 *		Records an edge of kind k (0 no_match, 1 relation) from node x to
 *		node y on x's root.  Callers add both directions.
 */
static void
LinkAddEdge(LinkSet *s, int k, int x, int y)
{
	int			e = s->nedge++;
	LinkNode   *n = &s->node[x];

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
 * LinkEdgeBetween
 *		Whether an edge of kind k joins the clusters of roots ra and rb; the
 *		cluster with fewer edges is scanned.
 */
static bool
LinkEdgeBetween(LinkSet *s, int k, int ra, int rb)
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
		if (LinkFind(s, s->edge_to[e]) == to)
			return true;
	return false;
}

/*
 * LinkAddDob
 *		Adds a birth-date feature to a root's distinct values.
 */
static void
LinkAddDob(LinkNode *n, char *v)
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
 * LinkDobConflict
 *		The birth-date constraint of cdp_internal._match_cannot_link: some birth date
 *		of one cluster and some of the other differ in the year (the first
 *		four characters) and by more than one edit (not a slip of one digit
 *		nor a swap of two neighbours).
 */
static bool
LinkDobConflict(const LinkNode *a, const LinkNode *b)
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
 * LinkNeverAdd
 *		Folds a value into a never-attr summary slot: NULL (no value yet), a
 *		value, or LINK_MULTI (two different values seen).
 */
static void
LinkNeverAdd(char **slot, char *v)
{
	if (v == NULL || *slot == LINK_MULTI)
		return;
	if (*slot == NULL)
		*slot = v;
	else if (v == LINK_MULTI || strcmp(*slot, v) != 0)
		*slot = LINK_MULTI;
}

/*
 * LinkNeverConflict
 *		The different_id_never constraint for one attr: a value of one
 *		cluster differs from a value of the other.  That holds unless one
 *		side has no value or both have the same single value.
 */
static bool
LinkNeverConflict(char *a, char *b)
{
	if (a == NULL || b == NULL)
		return false;
	if (a == LINK_MULTI || b == LINK_MULTI)
		return true;
	return strcmp(a, b) != 0;
}

/*
 * LinkUnion
 *		Joins the clusters of roots ra and rb; the smaller golden id stays
 *		the root.  Returns the root.
 */
static int
LinkUnion(LinkSet *s, int ra, int rb)
{
	LinkNode   *keep,
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
		LinkAddDob(keep, gone->dob[i]);
	for (int j = 0; j < s->nnever; j++)
		LinkNeverAdd(&s->never[(Size) rk * s->nnever + j], s->never[(Size) rg * s->nnever + j]);
	s->member_next[keep->member_tail] = gone->member_head;
	keep->member_tail = gone->member_tail;
	return rk;
}

/*
 * LinkEdges
 *		Adds the edges of kind k between the record pairs (ea[i], eb[i]) whose
 *		records both belong to the loaded clusters; rec maps record ids to
 *		nodes (NULL: the ids are golden ids already).
 */
static void
LinkEdges(LinkSet *s, HTAB *rec, int k, const int64 *ea, const int64 *eb, int n)
{
	for (int i = 0; i < n; i++)
	{
		int			x = rec ? LinkLookup(rec, ea[i]) : LinkLookup(s->golden, ea[i]);
		int			y = rec ? LinkLookup(rec, eb[i]) : LinkLookup(s->golden, eb[i]);

		if (x < 0 || y < 0)
			continue;
		LinkAddEdge(s, k, x, y);
		LinkAddEdge(s, k, y, x);
	}
}

/*
 * cdp_match_link_plan
 *		SQL cdp_internal._match_link_plan(record_a bigint[], record_b bigint[],
 *		probability float8[], flags int[], records bigint[], goldens bigint[],
 *		dob text[], never text[], nnever int, no_match_a bigint[],
 *		no_match_b bigint[], relation_a bigint[], relation_b bigint[],
 *		link_threshold float8, review_threshold float8, reasons text[])
 *		RETURNS TABLE (ord int, action "char", reason text)
 *
 *		The pairs come in decision order.  records/goldens list every record
 *		of every person a pair touches, with its birth-date feature (dob, or
 *		NULL when the constraint is off) and its nnever different_id_never
 *		features (never, record-major).  One row per pair that does
 *		something: 'l' link, 'a' already one person, 'h' held by a
 *		cannot-link constraint (to review with the reason), 'r' to review
 *		(the reason of a placeholder or veto flag, else NULL).
 */
Datum
cdp_match_link_plan(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			npair,
				n,
				nrec,
				ndob,
				nneverv,
				nnm,
				nhh,
				nreason;
	int64	   *pa,
			   *pb,
			   *rec,
			   *gold,
			   *nma,
			   *nmb,
			   *hha,
			   *hhb;
	float8	   *prob;
	int32	   *flags;
	char	  **dob,
			  **never,
			  **reasons;
	int			nnever;
	float8		link_t,
				review_t;
	LinkSet    *s;
	HTAB	   *recnode;
	ArrayType  *arr;
	MemoryContext work,
				old;

	/* a NULL array is empty (array_agg of no pairs); the scalars are required */
	for (int i = 8; i < 16; i++)
		if (PG_ARGISNULL(i) && (i == 8 || i >= 13))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument %d of _match_link_plan must not be null", i + 1)));
	nnever = PG_GETARG_INT32(8);
	link_t = PG_GETARG_FLOAT8(13);
	review_t = PG_GETARG_FLOAT8(14);
	if (nnever < 0 || nnever > MATCH_MAX_COMP)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("number of different_id_never attrs must be between 0 and %d", MATCH_MAX_COMP)));

	InitMaterializedSRF(fcinfo, 0);
	work = AllocSetContextCreate(CurrentMemoryContext, "cdp link plan", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(work);

	pa = LinkInt8Array(fcinfo, 0, "record_a", &npair);
	pb = LinkInt8Array(fcinfo, 1, "record_b", &n);
	if (n != npair)
		goto mismatch;
	prob = NULL;
	flags = NULL;
	if (npair > 0)
	{
		if (PG_ARGISNULL(2) || PG_ARGISNULL(3))
			goto mismatch;
		arr = PG_GETARG_ARRAYTYPE_P(2);
		if (ARR_NDIM(arr) > 1 || ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr)) != npair || ARR_HASNULL(arr))
			goto mismatch;
		prob = (float8 *) ARR_DATA_PTR(arr);
		arr = PG_GETARG_ARRAYTYPE_P(3);
		if (ARR_NDIM(arr) > 1 || ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr)) != npair || ARR_HASNULL(arr))
			goto mismatch;
		flags = (int32 *) ARR_DATA_PTR(arr);
	}
	rec = LinkInt8Array(fcinfo, 4, "records", &nrec);
	gold = LinkInt8Array(fcinfo, 5, "goldens", &n);
	if (n != nrec)
		goto mismatch;
	dob = LinkTextArray(fcinfo, 6, "dob", &ndob);
	if (dob != NULL && ndob != nrec)
		goto mismatch;
	never = LinkTextArray(fcinfo, 7, "never", &nneverv);
	if ((Size) nneverv != (Size) nrec * nnever && !(never == NULL && nnever == 0))
		goto mismatch;
	nma = LinkInt8Array(fcinfo, 9, "no_match_a", &nnm);
	nmb = LinkInt8Array(fcinfo, 10, "no_match_b", &n);
	if (n != nnm)
		goto mismatch;
	hha = LinkInt8Array(fcinfo, 11, "relation_a", &nhh);
	hhb = LinkInt8Array(fcinfo, 12, "relation_b", &n);
	if (n != nhh)
		goto mismatch;
	reasons = LinkTextArray(fcinfo, 15, "reasons", &nreason);
	if (nreason != LINK_WHY_NEVER + nnever)
		goto mismatch;

	/* the clusters: one node per golden id, the summaries from their records */
	s = LinkSetInit(nrec, 2 * (nnm + nhh), nnever);
	recnode = LinkHash("cdp link records", nrec);
	for (int i = 0; i < nrec; i++)
	{
		int			x = LinkNodeOf(s, gold[i]);
		bool		found;
		LinkKey    *e = (LinkKey *) hash_search(recnode, &rec[i], HASH_ENTER, &found);

		if (found)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("record \"" INT64_FORMAT "\" is listed twice", rec[i])));
		e->node = x;
		if (dob != NULL && dob[i] != NULL)
			LinkAddDob(&s->node[x], dob[i]);
		for (int j = 0; j < nnever; j++)
			LinkNeverAdd(&s->never[(Size) x * nnever + j], never[(Size) i * nnever + j]);
	}
	LinkEdges(s, recnode, 0, nma, nmb, nnm);
	LinkEdges(s, recnode, 1, hha, hhb, nhh);

	for (int i = 0; i < npair; i++)
	{
		int			x = LinkLookup(recnode, pa[i]);
		int			y = LinkLookup(recnode, pb[i]);
		int			ra,
					rb;
		const char *why = NULL;
		char		action = 'r';
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		CHECK_FOR_INTERRUPTS();
		if (x < 0 || y < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("record \"" INT64_FORMAT "\" of pair %d is not among the records given",
							x < 0 ? pa[i] : pb[i], i + 1)));
		ra = LinkFind(s, x);
		rb = LinkFind(s, y);
		if (ra == rb)
			action = 'a';
		else if (flags[i] & MATCH_PAIR_PLACEHOLDER)
			why = reasons[LINK_WHY_PLACEHOLDER];
		else if (flags[i] & MATCH_PAIR_VETO)
			why = reasons[LINK_WHY_VETO];
		else if (float8_ge(prob[i], link_t) || (flags[i] & MATCH_PAIR_FORCED))
		{
			/* the checks of _match_cannot_link, in its order */
			if (LinkEdgeBetween(s, 0, ra, rb))
				why = reasons[LINK_WHY_NO_MATCH];
			else if (LinkEdgeBetween(s, 1, ra, rb))
				why = reasons[LINK_WHY_RELATION];
			else if (dob != NULL && LinkDobConflict(&s->node[ra], &s->node[rb]))
				why = reasons[LINK_WHY_DOB];
			else
			{
				for (int j = 0; j < nnever && why == NULL; j++)
					if (LinkNeverConflict(s->never[(Size) ra * nnever + j],
										  s->never[(Size) rb * nnever + j]))
						why = reasons[LINK_WHY_NEVER + j];
			}
			if (why == NULL)
			{
				LinkUnion(s, ra, rb);
				action = 'l';
			}
			else
				action = 'h';
		}
		if (action == 'r' && why == NULL && !float8_ge(prob[i], review_t))
			continue;
		values[0] = Int32GetDatum(i + 1);
		values[1] = CharGetDatum(action);
		if (why != NULL)
			values[2] = CStringGetTextDatum(why);
		else
			nulls[2] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(work);
	return (Datum) 0;

mismatch:
	ereport(ERROR,
			(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
			 errmsg("arrays given to _match_link_plan do not match in length"),
			 errdetail("The pair arrays must have one element per pair, the record arrays one per record (never: one per record and attr), reasons %d.",
					   LINK_WHY_NEVER + nnever)));
	return (Datum) 0;
}

/*
 * cdp_golden_merge_plan
 *		SQL cdp_internal._golden_merge_plan(golden_a bigint[], golden_b bigint[],
 *		no_match_a bigint[], no_match_b bigint[], archived bigint[])
 *		RETURNS TABLE (ord int, outcome "char", keep bigint, gone bigint,
 *		restore boolean, absorbed bigint[])
 *
 *		Link i joins the persons golden_a[i] and golden_b[i] as they were
 *		before the batch; the links apply in order.  One row per link:
 *		's' the two are one person by then (keep is it), 'n' a no_match
 *		decision (pairs of golden ids, before the batch) joins the grown
 *		persons (keep NULL), 'm' a merge of gone into keep, where absorbed lists the
 *		original golden ids whose records move, and restore says that keep
 *		was archived and gone active (keep becomes active).
 */
Datum
cdp_golden_merge_plan(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			nlink,
				n,
				nnm,
				narch;
	int64	   *ga,
			   *gb,
			   *nma,
			   *nmb,
			   *arch;
	LinkSet    *s;
	Datum	   *ids;
	MemoryContext work,
				old;

	InitMaterializedSRF(fcinfo, 0);
	work = AllocSetContextCreate(CurrentMemoryContext, "cdp merge plan", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(work);
	ga = LinkInt8Array(fcinfo, 0, "golden_a", &nlink);
	gb = LinkInt8Array(fcinfo, 1, "golden_b", &n);
	if (n != nlink)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("golden_a and golden_b must have the same length")));
	nma = LinkInt8Array(fcinfo, 2, "no_match_a", &nnm);
	nmb = LinkInt8Array(fcinfo, 3, "no_match_b", &n);
	if (n != nnm)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("no_match_a and no_match_b must have the same length")));
	arch = LinkInt8Array(fcinfo, 4, "archived", &narch);

	s = LinkSetInit(2 * nlink, 2 * nnm, 0);
	for (int i = 0; i < nlink; i++)
	{
		LinkNodeOf(s, ga[i]);
		LinkNodeOf(s, gb[i]);
	}
	for (int i = 0; i < narch; i++)
	{
		int			x = LinkLookup(s->golden, arch[i]);

		if (x >= 0)
			s->node[x].archived = true;
	}
	LinkEdges(s, NULL, 0, nma, nmb, nnm);
	ids = palloc_array(Datum, Max(s->nnode, 1));

	for (int i = 0; i < nlink; i++)
	{
		int			ra = LinkFind(s, LinkLookup(s->golden, ga[i]));
		int			rb = LinkFind(s, LinkLookup(s->golden, gb[i]));
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};

		CHECK_FOR_INTERRUPTS();
		values[0] = Int32GetDatum(i + 1);
		if (ra == rb || LinkEdgeBetween(s, 0, ra, rb))
		{
			/* one person already: keep is it; refused: nothing to keep */
			values[1] = CharGetDatum(ra == rb ? 's' : 'n');
			values[2] = Int64GetDatum(s->node[ra].golden);
			nulls[2] = ra != rb;
			nulls[3] = nulls[4] = nulls[5] = true;
		}
		else
		{
			int			rk = s->node[ra].golden < s->node[rb].golden ? ra : rb;
			int			rg = rk == ra ? rb : ra;
			bool		restore = s->node[rk].archived && !s->node[rg].archived;
			int			nids = 0;

			for (int m = s->node[rg].member_head; m >= 0; m = s->member_next[m])
				ids[nids++] = Int64GetDatum(s->node[m].golden);
			values[1] = CharGetDatum('m');
			values[2] = Int64GetDatum(s->node[rk].golden);
			values[3] = Int64GetDatum(s->node[rg].golden);
			values[4] = BoolGetDatum(restore);
			values[5] = PointerGetDatum(construct_array(ids, nids, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
			/* an archived person merging with an active one is active again */
			s->node[rk].archived = s->node[rk].archived && s->node[rg].archived;
			LinkUnion(s, rk, rg);
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		if (!nulls[5])
			pfree(DatumGetPointer(values[5]));
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(work);
	return (Datum) 0;
}
