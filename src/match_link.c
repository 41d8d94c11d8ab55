/*-------------------------------------------------------------------------
 *
 * src/match_link.c
 *		Set-based linking (issues 5 and 6): the decisions of a matching run,
 *		computed in memory with a union-find over golden ids instead of one
 *		round trip per pair.
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
 *		The union-find (MatchLinkSet and its MatchLink* functions, declared
 *		in match.h) lives in match_union.c and is shared with the golden
 *		family's merge plan (golden_merge.c).
 *
 *		The arguments of cdp.link_records_many for a full run's links
 *		(cdp_internal._match_link_args) are built in match_link_args.c.
 *		The rules on persons the plan applies (support, contradictions, an
 *		ambiguous record) are in match_link_rules.c (match_link_int.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "cdp.h"
#include "cmp.h"
#include "match.h"
#include "match_link_int.h"

/*
 * Record and golden ids to their numbers in the plan: an open-addressing
 * table (simplehash), not dynahash, for the million records of a full run
 * (each looked up for every pair end, every key row and every edge: about a
 * fifth of the plan's time went to dynahash at 1M records; issue 12, session
 * 32).
 */
typedef struct LinkIdEntry
{
	int64		id;
	int			node;
	char		status;
} LinkIdEntry;

#define SH_PREFIX linkid
#define SH_ELEMENT_TYPE LinkIdEntry
#define SH_KEY_TYPE int64
#define SH_KEY id
#define SH_HASH_KEY(tb, key) murmurhash32((uint32) (key) ^ murmurhash32((uint32) ((uint64) (key) >> 32)))
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/*
 * LinkIdOf
 *		The number of an id in the table, or -1 when it is not there.
 */
static inline int
LinkIdOf(linkid_hash *h, int64 id)
{
	LinkIdEntry *e = linkid_lookup(h, id);

	return e ? e->node : -1;
}

PG_FUNCTION_INFO_V1(cdp_match_link_plan);
PG_FUNCTION_INFO_V1(cdp_match_run_plan);

/* Arguments of _match_link_plan after the reasons (0.3.0, issue 12). */
#define LINK_ARG_MAX_RECORDS	16
#define LINK_ARG_SUPPORT		17
#define LINK_NARGS				18
#define LINK_ARG_KEY_RECORDS	18	/* _match_run_plan only */

/*
 * MatchLinkTextArray
 *		The elements of a text[] argument as C strings (NULL for a null
 *		element), each at most CDP_MAX_TEXT_BYTES long and valid UTF-8.
 */
static char **
MatchLinkTextArray(FunctionCallInfo fcinfo, int argno, const char *argname, int *n)
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
		CdpCheckInput(VARDATA_ANY(t), len, CDP_MAX_TEXT_BYTES, CDP_CHECK_UTF8);
		out[i] = text_to_cstring(t);
	}
	pfree(elems);
	pfree(nulls);
	return out;
}

/* one decided pair, kept until the end of the plan for its final persons */
typedef struct LinkOut
{
	int			ord;
	char		action;
	const char *why;
	int			x;				/* the nodes of its two records */
	int			y;
	bool		rare;			/* a rare full name only: decided last (MatchLinkRareAmbiguous) */
	bool		dateless;		/* a record without a birth date: decided after
								 * the dated pairs (MatchLinkDatelessAmbiguous) */
} LinkOut;

/*
 * The two statements of the support checks (LinkKeysLoad, LinkScorerBegin),
 * parsed and planned once per backend, not once per check (issue 12, session
 * 32: a full run at 1M records makes thousands of checks).  The plan cache
 * re-plans them when what they read changes (the key table's index rebuilt
 * by a full re-key, the extension dropped and created again).
 */
static SPIPlanPtr link_keys_plan = NULL;
static SPIPlanPtr link_settings_plan = NULL;

/*
 * LinkSavedPlan
 *		The saved plan of a statement (*plan), prepared and kept on first
 *		use; call connected to SPI.
 */
static SPIPlanPtr
LinkSavedPlan(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes)
{
	if (*plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(sql, nargs, argtypes);

		if (p == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		if (SPI_keepplan(p) != 0)
			elog(ERROR, "SPI_keepplan failed");
		*plan = p;
	}
	return *plan;
}

/*
 * The key rows of the plan's records, read when a support check needs them
 * (issue 12, session 26): their blocking keys, which tell the pairs of two
 * persons' records blocking proposed (they share a key), so that only the
 * others need scoring; and (session 33) their features, which the scorer
 * of the cross pairs reads (LinkCrossScore), so that a check reads each
 * record once and runs no walk of its own.
 */
typedef struct LinkKeys
{
	const int64 *rec;			/* per record: its id */
	int			nrec;			/* entries of rec */
	linkid_hash *recidx;		/* record id -> record index */
	bool	   *loaded;			/* per record: its keys were looked up */
	uint32	  **h;				/* per record: hash of each key (0: none), or
								 * NULL when the record has no key row */
	int		   *nh;				/* per record: entries of h */
	MatchRec  **mr;				/* per record: its features for the scorer,
								 * or NULL when it has no key row */
	MatchCrossScorer *scorer;	/* made by the first load (LinkScorerBegin) */
	bool		noscorer;		/* no active settings: nothing is scored */
	float8		review_t;		/* the scorer's min_prob */
	MemoryContext cxt;			/* where h, mr and the scorer live */
} LinkKeys;

/*
 * LinkScorerBegin
 *		The scorer of the cross pairs (MatchCrossBegin) with the active
 *		settings' program and term frequencies, as _match_walk('cross') is
 *		given them from cdp_internal.match_settings; none (k->noscorer) when
 *		no settings are active, where the walk had no row to run on.  Call
 *		connected to SPI.
 */
static void
LinkScorerBegin(LinkKeys *k)
{
	bool		isnull1,
				isnull2;
	Datum		program,
				version;
	MemoryContext old;

	if (SPI_execute_plan(LinkSavedPlan(&link_settings_plan,
									   "SELECT s.program, s.version FROM cdp_internal.match_settings s WHERE s.active",
									   0, NULL),
						 NULL, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading the active matching settings failed");
	if (SPI_processed == 0)
	{
		k->noscorer = true;
		return;
	}
	program = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull1);
	version = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull2);
	if (isnull1 || isnull2)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the active matching settings have no program")));
	/* a copy: the decoded program points into it, and SPI_finish frees the row */
	old = MemoryContextSwitchTo(k->cxt);
	/* a plan of a few records (match_record's) reads the tf rows of their values only */
	k->scorer = MatchCrossBegin(DatumGetArrayTypePCopy(program), DatumGetInt32(version), k->review_t,
								k->nrec <= MATCH_TF_LAZY_RECORDS);
	MemoryContextSwitchTo(old);
}

/*
 * LinkKeysLoad
 *		Reads the key rows (cdp_internal.match_key: bk, flags, feat) of the n
 *		records idx[] not read yet: the blocking keys as hashes of each key
 *		(the key names its rule, so equal hashes at one position are one
 *		block, a collision aside), the features as the scorer's records.
 */
static void
LinkKeysLoad(LinkKeys *k, const int *idx, int n)
{
	Datum	   *ids;
	Datum		arg;
	Oid			argtype = INT8ARRAYOID;
	int			m = 0;
	SPITupleTable *tt;
	uint64		nt;

	ids = palloc_array(Datum, Max(n, 1));
	for (int i = 0; i < n; i++)
		if (!k->loaded[idx[i]])
		{
			k->loaded[idx[i]] = true;
			ids[m++] = Int64GetDatum(k->rec[idx[i]]);
		}
	if (m == 0)
		return;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (k->scorer == NULL && !k->noscorer)
		LinkScorerBegin(k);
	{
		arg = PointerGetDatum(construct_array(ids, m, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		if (SPI_execute_plan(LinkSavedPlan(&link_keys_plan,
										   "SELECT k.record_id, k.bk, k.flags, k.feat FROM cdp_internal.match_key k"
										   " WHERE k.record_id OPERATOR(pg_catalog.=) ANY ($1)",
										   1, &argtype),
							 &arg, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "reading the blocking keys of the link plan failed");
		tt = SPI_tuptable;
		nt = SPI_processed;
		if (k->scorer != NULL)
		{
			Datum	   *feat = palloc_array(Datum, Max(nt, 1));
			bool	   *featnull = palloc_array(bool, Max(nt, 1));

			for (uint64 r = 0; r < nt; r++)
				feat[r] = SPI_getbinval(tt->vals[r], tt->tupdesc, 4, &featnull[r]);
			/* (replaces SPI_tuptable: tt stays, until SPI_finish) */
			MatchCrossLoadTf(k->scorer, feat, featnull, (int) nt);
		}
		for (uint64 r = 0; r < nt; r++)
		{
			HeapTuple	tup = tt->vals[r];
			bool		isnull;
			Datum		d = SPI_getbinval(tup, tt->tupdesc, 1, &isnull);
			int64		id;
			Datum	   *elems;
			bool	   *nulls;
			int			ne,
						x;

			if (isnull)
				continue;
			id = DatumGetInt64(d);
			x = LinkIdOf(k->recidx, id);
			if (x < 0)
				continue;
			if (k->scorer != NULL)
			{
				bool		flnull,
							featnull,
							bknull;
				Datum		fl = SPI_getbinval(tup, tt->tupdesc, 3, &flnull);
				Datum		feat = SPI_getbinval(tup, tt->tupdesc, 4, &featnull);
				Datum		bk = SPI_getbinval(tup, tt->tupdesc, 2, &bknull);
				MemoryContext old = MemoryContextSwitchTo(k->cxt);

				/* as a walk's record query gives it: flags NULL is 0 */
				k->mr[x] = MatchCrossRecord(k->scorer, id, flnull ? 0 : DatumGetInt32(fl),
											feat, featnull, bk, bknull);
				MemoryContextSwitchTo(old);
			}
			d = SPI_getbinval(tup, tt->tupdesc, 2, &isnull);
			if (isnull)
			{
				k->h[x] = MemoryContextAllocZero(k->cxt, sizeof(uint32));
				k->nh[x] = 0;
				continue;
			}
			deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &ne);
			k->h[x] = MemoryContextAllocZero(k->cxt, sizeof(uint32) * Max(ne, 1));
			k->nh[x] = ne;
			for (int j = 0; j < ne; j++)
				if (!nulls[j])
				{
					text	   *t = DatumGetTextPP(elems[j]);

					if (VARSIZE_ANY_EXHDR(t) > 0)
						k->h[x][j] = hash_bytes((const unsigned char *) VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)) | 1;
				}
		}
	}
	SPI_finish();
}

/*
 * LinkKeysCompared
 *		Whether records x and y share a blocking key, so that a run compares
 *		them; a record without keys (not keyed by matching) counts as
 *		compared with every record.
 */
static bool
LinkKeysCompared(const LinkKeys *k, int x, int y)
{
	if (k->h[x] == NULL || k->h[y] == NULL)
		return true;
	for (int j = 0; j < Min(k->nh[x], k->nh[y]); j++)
		if (k->h[x][j] != 0 && k->h[x][j] == k->h[y][j])
			return true;
	return false;
}

/*
 * Cross pairs scored for the support check (issue 12, session 26): for each
 * pair of records (indices x < y) of two persons whose link was short of
 * supporting pairs, whether the pair supports a link.
 */
typedef struct LinkCrossKey
{
	int			x;
	int			y;
} LinkCrossKey;

typedef struct LinkCrossEntry
{
	LinkCrossKey key;
	bool		supports;
} LinkCrossEntry;

typedef struct LinkCross
{
	const int64 *rec;			/* per record: its id */
	linkid_hash *recidx;		/* record id -> record index */
	HTAB	   *pairs;			/* LinkCrossEntry by record indices */
	float8		review_t;		/* a supporting pair scores at least this */
	LinkKeys   *keys;			/* the records' features and the scorer */
} LinkCross;

/*
 * LinkCrossScore
 *		Scores every pair between the records a[0..na) and b[0..nb) that is
 *		not scored yet, as a run would if blocking had proposed it, and as
 *		_match_walk('cross') over their key rows with the active program
 *		scored them before session 33: the record with the smaller id first
 *		(the order of that walk's records, read by the primary key), the
 *		pairs under the review threshold dropped.  A pair supports a link
 *		when it reaches the review threshold and neither a rule vetoes it
 *		nor is either record a placeholder, as the run's pairs do.  A
 *		record without features (no key row) scores nothing (supports
 *		nothing).  Every record was read by LinkKeysLoad: nothing is read
 *		here, and no walk runs per check (issue 12, session 33).
 */
static void
LinkCrossScore(LinkCross *lc, const int *a, int na, const int *b, int nb)
{
	const LinkKeys *k = lc->keys;

	for (int i = 0; i < na; i++)
		for (int j = 0; j < nb; j++)
		{
			LinkCrossKey key = {Min(a[i], b[j]), Max(a[i], b[j])};
			bool		found;
			LinkCrossEntry *e = (LinkCrossEntry *) hash_search(lc->pairs, &key, HASH_ENTER, &found);
			const MatchRec *x,
					   *y;
			double		prob;
			int32		fl;

			if (found)
				continue;
			e->supports = false;
			x = k->mr[a[i]];
			y = k->mr[b[j]];
			if (k->scorer == NULL || x == NULL || y == NULL || x->id == y->id)
				continue;
			if (y->id < x->id)
			{
				const MatchRec *t = x;

				x = y;
				y = t;
			}
			if (MatchCrossPair(k->scorer, x, y, &prob, &fl) && prob >= lc->review_t)
				e->supports = !(fl & (MATCH_PAIR_VETO | MATCH_PAIR_PLACEHOLDER));
		}
}

/* what LinkCheck reads */
typedef struct LinkCtx
{
	MatchLinkSet *s;
	const MatchLinkRecs *lr;
	bool		hasdob;
	const int  *adj_start;
	const int  *adj_to;
	int		   *size;
	int			max_records;
	double		support;
	LinkKeys   *keys;
	LinkCross  *cross;
	char	  **reasons;
} LinkCtx;

/*
 * LinkCrossSupport
 *		The supporting pairs between the persons of roots ra and rb when
 *		every pair between their records is scored (LinkCrossScore), not
 *		only those blocking proposed.
 */
static int
LinkCrossSupport(const LinkCtx *ck, int ra, int rb, int got, int need)
{
	MatchLinkSet *s = ck->s;
	const MatchLinkRecs *lr = ck->lr;
	int		   *side[2];
	int			n[2] = {0, 0};

	for (int t = 0; t < 2; t++)
	{
		side[t] = palloc_array(int, ck->size[t ? rb : ra]);
		for (int u = s->node[t ? rb : ra].member_head; u >= 0; u = s->member_next[u])
			for (int i = lr->node_start[u]; i < lr->node_start[u + 1]; i++)
				if (n[t] < ck->size[t ? rb : ra])
					side[t][n[t]++] = lr->recs[i];
	}
	/*
	 * the pairs blocking did not propose (the records share no key): only
	 * they can add support; when they are too few to reach need, nothing is
	 * scored (a namesake sharing every name block with the person)
	 */
	{
		int		   *all = palloc_array(int, n[0] + n[1]);
		int			unproposed = 0;

		memcpy(all, side[0], n[0] * sizeof(int));
		memcpy(all + n[0], side[1], n[1] * sizeof(int));
		LinkKeysLoad(ck->keys, all, n[0] + n[1]);
		pfree(all);
		for (int i = 0; i < n[0]; i++)
			for (int j = 0; j < n[1]; j++)
				unproposed += LinkKeysCompared(ck->keys, side[0][i], side[1][j]) ? 0 : 1;
		if (got + unproposed < need)
		{
			pfree(side[0]);
			pfree(side[1]);
			return got;
		}
	}
	/* the smaller person is the focus: its records against all of the other's */
	if (n[0] <= n[1])
		LinkCrossScore(ck->cross, side[0], n[0], side[1], n[1]);
	else
		LinkCrossScore(ck->cross, side[1], n[1], side[0], n[0]);
	got = 0;
	for (int i = 0; i < n[0]; i++)
		for (int j = 0; j < n[1]; j++)
		{
			LinkCrossKey k = {Min(side[0][i], side[1][j]), Max(side[0][i], side[1][j])};
			LinkCrossEntry *e = (LinkCrossEntry *) hash_search(ck->cross->pairs, &k, HASH_FIND, NULL);

			got += (e != NULL && e->supports) ? 1 : 0;
		}
	pfree(side[0]);
	pfree(side[1]);
	return got;
}

/*
 * LinkCheck
 *		Why the persons of roots ra and rb may not be joined automatically
 *		(a reason), or NULL: the checks of _match_cannot_link in its order
 *		(a no_match decision, a relation, then the contradictions of
 *		MatchLinkConflict), then the size bound and the support across the two.
 */
static const char *
LinkCheck(const LinkCtx *ck, int ra, int rb)
{
	MatchLinkSet *s = ck->s;
	int			c;

	if (MatchLinkEdgeBetween(s, 0, ra, rb))
		return ck->reasons[LINK_WHY_NO_MATCH];
	if (MatchLinkEdgeBetween(s, 1, ra, rb))
		return ck->reasons[LINK_WHY_RELATION];
	c = MatchLinkConflict(s, ck->lr, ck->hasdob, ra, rb);
	if (c >= 0)
		return ck->reasons[c];
	if (ck->max_records > 0 && ck->size[ra] + ck->size[rb] > ck->max_records)
		return ck->reasons[LINK_WHY_OVERSIZE];
	if (ck->support > 0.0)
	{
		int			need = (int) ceil(ck->support * Max(ck->size[ra], ck->size[rb]) - 1e-9);
		int			got;

		if (need > 1 && (got = MatchLinkSupport(s, ck->size, ck->adj_start, ck->adj_to, ra, rb, need)) < need &&
			LinkCrossSupport(ck, ra, rb, got, need) < need)
			return ck->reasons[LINK_WHY_SUPPORT];
	}
	return NULL;
}

/*
 * LinkHeldRoots
 *		The roots of the persons of a deferred or held pair's records (*ra,
 *		*rb); false, with the pair marked as one person already ('a'), when
 *		they are the same.
 */
static bool
LinkHeldRoots(const LinkCtx *ck, LinkOut *o, int *ra, int *rb)
{
	*ra = MatchLinkFind(ck->s, o->x);
	*rb = MatchLinkFind(ck->s, o->y);
	if (*ra != *rb)
		return true;
	o->action = 'a';
	o->why = NULL;
	return false;
}

/*
 * LinkTry
 *		Links the persons of roots ra and rb (the pair's action 'l') unless
 *		LinkCheck gives a reason, which the pair keeps; whether it linked.
 */
static bool
LinkTry(const LinkCtx *ck, LinkOut *o, int ra, int rb)
{
	int			sz;

	o->why = LinkCheck(ck, ra, rb);
	if (o->why != NULL)
		return false;
	sz = ck->size[ra] + ck->size[rb];
	ck->size[MatchLinkUnion(ck->s, ra, rb)] = sz;
	o->action = 'l';
	return true;
}

/* the keys of one pair in decision order, for LinkPlanSort */
typedef struct LinkSortItem
{
	bool		forced;
	float8		prob;
	int64		a;
	int64		b;
	int			i;				/* its place in the arrays given */
} LinkSortItem;

/*
 * LinkSortCmp
 *		Decision order: forced pairs first, then probability descending
 *		(float8 order, as ORDER BY sorts), then record_a and record_b.
 */
static int
LinkSortCmp(const void *x, const void *y)
{
	const LinkSortItem *p = x;
	const LinkSortItem *q = y;
	int			c;

	if (p->forced != q->forced)
		return p->forced ? -1 : 1;
	c = float8_cmp_internal(q->prob, p->prob);
	if (c != 0)
		return c;
	if (p->a != q->a)
		return p->a < q->a ? -1 : 1;
	if (p->b != q->b)
		return p->b < q->b ? -1 : 1;
	return (p->i > q->i) - (p->i < q->i);
}

/*
 * LinkPlanSort
 *		Puts the n pairs (record ids, probabilities, flags, ids) in decision
 *		order, into new arrays.
 */
static void
LinkPlanSort(int n, const int32 *id, int64 **pa, int64 **pb, float8 **prob, int32 **flags, int32 **ids)
{
	LinkSortItem *it = palloc_extended(mul_size(n, sizeof(LinkSortItem)), MCXT_ALLOC_HUGE);
	int64	   *na = palloc_extended(mul_size(n, sizeof(int64)), MCXT_ALLOC_HUGE);
	int64	   *nb = palloc_extended(mul_size(n, sizeof(int64)), MCXT_ALLOC_HUGE);
	float8	   *np = palloc_extended(mul_size(n, sizeof(float8)), MCXT_ALLOC_HUGE);
	int32	   *nf = palloc_extended(mul_size(n, sizeof(int32)), MCXT_ALLOC_HUGE);
	int32	   *ni = palloc_extended(mul_size(n, sizeof(int32)), MCXT_ALLOC_HUGE);

	for (int i = 0; i < n; i++)
	{
		it[i].forced = ((*flags)[i] & MATCH_PAIR_FORCED) != 0;
		it[i].prob = (*prob)[i];
		it[i].a = (*pa)[i];
		it[i].b = (*pb)[i];
		it[i].i = i;
	}
	qsort(it, n, sizeof(LinkSortItem), LinkSortCmp);
	for (int k = 0; k < n; k++)
	{
		int			i = it[k].i;

		na[k] = (*pa)[i];
		nb[k] = (*pb)[i];
		np[k] = (*prob)[i];
		nf[k] = (*flags)[i];
		ni[k] = id[i];
	}
	pfree(it);
	*pa = na;
	*pb = nb;
	*prob = np;
	*flags = nf;
	*ids = ni;
}

/*
 * LinkPlan
 *		The body of cdp_match_link_plan and cdp_match_run_plan (o 1: a
 *		leading pair_id argument, see cdp_match_run_plan):
 *		SQL cdp_internal._match_link_plan(record_a bigint[], record_b bigint[],
 *		probability float8[], flags int[], records bigint[], goldens bigint[],
 *		dob text[], never text[], nnever int, no_match_a bigint[],
 *		no_match_b bigint[], relation_a bigint[], relation_b bigint[],
 *		link_threshold float8, review_threshold float8, reasons text[],
 *		max_person_records int, person_support float8)
 *		RETURNS TABLE (ord int, action "char", reason text, person_a bigint,
 *		person_b bigint, person_records int)
 *
 *		The pairs come in decision order.  records/goldens list every record
 *		of every person a pair touches, with its birth-date feature (dob, or
 *		NULL when the constraint is off) and its nnever different_id_never
 *		features (never, record-major).  One row per pair that does
 *		something: 'l' link, 'a' already one person, 'h' held by a
 *		cannot-link constraint (to review with the reason), 'r' to review
 *		(the reason of a placeholder, veto or name-only flag, else NULL).
 *		A pair flagged MATCH_PAIR_NAME_ONLY (the evidence floor) is never
 *		linked: it goes to review when it scores over the link threshold and
 *		gives no row otherwise (unless its records are one person already);
 *		a vetoed pair likewise goes to review only over the link threshold,
 *		or over the review threshold when a same-id rule forced it.  A pair
 *		flagged MATCH_PAIR_NAME_RARE (a rare full name is its only evidence)
 *		over the link threshold is decided after every other pair, and held
 *		as name-only when either record's name points to two or more other
 *		persons (MatchLinkRareAmbiguous).
 *
 *		Cluster coherence (issue 12): a birth date, sex or different_id_never
 *		contradiction counts between any two records of the two persons that
 *		no supporting pair joins (MatchLinkConflict), and a link that joins two
 *		persons of na and nb records is held when
 *		na + nb would pass max_person_records (0: no bound), or when fewer
 *		than ceil(person_support * max(na, nb)) of the scored pairs across
 *		the two (any pair of the run that is neither vetoed nor a
 *		placeholder's, the linking one included) support it: a record joins
 *		a person only by agreeing with enough of the person's records, not
 *		with one of them (resolution against the entity).  When the pairs
 *		blocking proposed are too few, every pair between the two persons'
 *		records is scored (their features in cdp_internal.match_key, the
 *		active program) and those reaching the review threshold count: a
 *		record is resolved against the whole person, not only the records
 *		that share a block with it.  The person
 *		columns are the two persons' golden ids and their records together
 *		at the end of the plan, so the caller can keep one review entry per
 *		pair of persons.
 */
static Datum
LinkPlan(FunctionCallInfo fcinfo, int o)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			npair,
				n,
				nrec,
				ndob,
				nneverv,
				nnm,
				nhh,
				nreason,
				nout = 0,
				max_records = 0;
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
	const char *ambiguous;
	float8		link_t,
				review_t,
				support = 0.0;
	MatchLinkSet *s;
	linkid_hash *recidx,
			   *goldidx;
	ArrayType  *arr;
	int		   *size,
			   *adj_start,
			   *adj_to;
	int		   *px,
			   *py;
	LinkOut    *out;
	MatchLinkRecs	lr;
	LinkCtx		ck;
	LinkKeys	keys;
	LinkCross	cross;
	int		   *rnode,
			   *rx,
			   *ry;
	MemoryContext work,
				old;
	int			nargs = PG_NARGS() - o;
	int32	   *ids = NULL;
	int64	   *keyrec = NULL;
	int			nkeyrec;

	/* a NULL array is empty (array_agg of no pairs); the scalars are required */
	for (int i = 8; i < Min(nargs, LINK_NARGS); i++)
		if (PG_ARGISNULL(o + i) && (i == 8 || i >= 13))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument %d of _match_link_plan must not be null", o + i + 1)));
	nnever = PG_GETARG_INT32(o + 8);
	link_t = PG_GETARG_FLOAT8(o + 13);
	review_t = PG_GETARG_FLOAT8(o + 14);
	if (nnever < 0 || nnever > MATCH_MAX_COMP)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("number of different_id_never attrs must be between 0 and %d", MATCH_MAX_COMP)));
	/* the 0.2.0 declaration has no coherence arguments: no bound, no support */
	if (nargs >= LINK_NARGS)
	{
		max_records = PG_GETARG_INT32(o + LINK_ARG_MAX_RECORDS);
		support = PG_GETARG_FLOAT8(o + LINK_ARG_SUPPORT);
		if (max_records < 0 || !(support >= 0.0 && support <= 1.0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("max_person_records must be at least 0 and person_support between 0 and 1")));
	}

	InitMaterializedSRF(fcinfo, 0);
	work = AllocSetContextCreate(CurrentMemoryContext, "cdp link plan", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(work);

	pa = MatchLinkInt8Array(fcinfo, o + 0, "record_a", &npair);
	pb = MatchLinkInt8Array(fcinfo, o + 1, "record_b", &n);
	if (n != npair)
		goto mismatch;
	prob = NULL;
	flags = NULL;
	if (npair > 0)
	{
		if (PG_ARGISNULL(o + 2) || PG_ARGISNULL(o + 3))
			goto mismatch;
		arr = PG_GETARG_ARRAYTYPE_P(o + 2);
		if (ARR_NDIM(arr) > 1 || ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr)) != npair || ARR_HASNULL(arr))
			goto mismatch;
		prob = (float8 *) ARR_DATA_PTR(arr);
		arr = PG_GETARG_ARRAYTYPE_P(o + 3);
		if (ARR_NDIM(arr) > 1 || ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr)) != npair || ARR_HASNULL(arr))
			goto mismatch;
		flags = (int32 *) ARR_DATA_PTR(arr);
	}
	if (o > 0)
	{
		/*
		 * _match_run_plan: the pairs come in any order with their ids and
		 * are put in decision order here (LinkPlanSort), as the SQL of
		 * _match_link_plan's callers orders them
		 */
		arr = PG_ARGISNULL(0) ? NULL : PG_GETARG_ARRAYTYPE_P(0);
		if (npair > 0 && (arr == NULL || ARR_NDIM(arr) > 1 || ARR_HASNULL(arr) ||
						  ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr)) != npair))
			goto mismatch;
		if (npair > 0)
			LinkPlanSort(npair, (int32 *) ARR_DATA_PTR(arr), &pa, &pb, &prob, &flags, &ids);
	}
	rec = MatchLinkInt8Array(fcinfo, o + 4, "records", &nrec);
	gold = MatchLinkInt8Array(fcinfo, o + 5, "goldens", &n);
	if (n != nrec)
		goto mismatch;
	/*
	 * dob and never go with records, or (key_records given, _match_run_plan
	 * of a full run) with key_records: the key rows read by a scan of their
	 * own, put beside their records here (below) rather than by a join of
	 * every record with every key row in SQL (issue 12, session 32)
	 */
	nkeyrec = nrec;
	if (o > 0 && nargs > LINK_ARG_KEY_RECORDS && !PG_ARGISNULL(o + LINK_ARG_KEY_RECORDS))
		keyrec = MatchLinkInt8Array(fcinfo, o + LINK_ARG_KEY_RECORDS, "key_records", &nkeyrec);
	dob = MatchLinkTextArray(fcinfo, o + 6, "dob", &ndob);
	if (dob != NULL && ndob != nkeyrec)
		goto mismatch;
	never = MatchLinkTextArray(fcinfo, o + 7, "never", &nneverv);
	if ((Size) nneverv != (Size) nkeyrec * nnever && !(never == NULL && nnever == 0))
		goto mismatch;
	nma = MatchLinkInt8Array(fcinfo, o + 9, "no_match_a", &nnm);
	nmb = MatchLinkInt8Array(fcinfo, o + 10, "no_match_b", &n);
	if (n != nnm)
		goto mismatch;
	hha = MatchLinkInt8Array(fcinfo, o + 11, "relation_a", &nhh);
	hhb = MatchLinkInt8Array(fcinfo, o + 12, "relation_b", &n);
	if (n != nhh)
		goto mismatch;
	reasons = MatchLinkTextArray(fcinfo, o + 15, "reasons", &nreason);
	if (nreason != LINK_WHY_NEVER + nnever && nreason != LINK_WHY_NEVER + nnever + 1 &&
		!(nargs < LINK_NARGS && nreason == 5 + nnever))
		goto mismatch;
	/* the dateless rule: its reason given, and a birth-date constraint to read */
	ambiguous = nreason == LINK_WHY_NEVER + nnever + 1 ? reasons[LINK_WHY_NEVER + nnever] : NULL;
	if (nargs < LINK_NARGS)
	{
		/* the 0.2.0 reasons: placeholder, veto, no_match, relation, dob, never... */
		char	  **r = palloc0_array(char *, LINK_WHY_NEVER + nnever);

		memcpy(r, reasons, 5 * sizeof(char *));
		memcpy(r + LINK_WHY_NEVER, reasons + 5, nnever * sizeof(char *));
		reasons = r;
	}

	/* the clusters: one node per golden id, the summaries from their records */
	s = MatchLinkSetInit(nrec, 2 * (nnm + nhh), nnever);
	recidx = linkid_create(CurrentMemoryContext, Max(nrec, 16), NULL);
	goldidx = linkid_create(CurrentMemoryContext, Max(nrec, 16), NULL);
	size = palloc0_array(int, Max(nrec, 1));
	rnode = palloc_array(int, Max(nrec, 1));
	for (int i = 0; i < nrec; i++)
	{
		bool		found;
		LinkIdEntry *g = linkid_insert(goldidx, gold[i], &found);
		LinkIdEntry *e;
		int			x;

		/* a golden id's node is made once, as MatchLinkNodeOf makes it */
		if (!found)
			g->node = MatchLinkNodeNew(s, gold[i]);
		x = g->node;
		e = linkid_insert(recidx, rec[i], &found);
		rnode[i] = x;
		if (found)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("record \"" INT64_FORMAT "\" is listed twice", rec[i])));
		e->node = i;
		size[x]++;
	}
	if (keyrec != NULL)
	{
		/* each key row's features beside its record; a record without one has none */
		char	  **d = dob ? palloc0_array(char *, Max(nrec, 1)) : NULL;
		char	  **v = never ? palloc_extended(mul_size(Max(nrec, 1), Max(nnever, 1) * sizeof(char *)),
											  MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO) : NULL;

		for (int j = 0; j < nkeyrec; j++)
		{
			int			i = LinkIdOf(recidx, keyrec[j]);

			if (i < 0)
				continue;
			if (d != NULL)
				d[i] = dob[j];
			if (v != NULL)
				memcpy(&v[(Size) i * nnever], &never[(Size) j * nnever], nnever * sizeof(char *));
		}
		dob = d;
		never = v;
	}
	for (int i = 0; i < nrec; i++)
	{
		int			x = rnode[i];

		if (dob != NULL && dob[i] != NULL)
			MatchLinkAddDob(&s->node[x], dob[i]);
		for (int j = 0; j < nnever; j++)
			MatchLinkNeverAdd(&s->never[(Size) x * nnever + j], never[(Size) i * nnever + j]);
	}
	/* the edges as MatchLinkEdges adds them, through the record numbers (one hash, not two) */
	for (int k = 0; k < 2; k++)
	{
		const int64 *ea = k ? hha : nma;
		const int64 *eb = k ? hhb : nmb;

		for (int i = 0; i < (k ? nhh : nnm); i++)
		{
			int			x = LinkIdOf(recidx, ea[i]);
			int			y = LinkIdOf(recidx, eb[i]);

			if (x < 0 || y < 0)
				continue;
			MatchLinkAddEdge(s, k, rnode[x], rnode[y]);
			MatchLinkAddEdge(s, k, rnode[y], rnode[x]);
		}
	}

	/* every pair's nodes, and the supporting pairs as adjacency lists over nodes */
	px = palloc_array(int, Max(npair, 1));
	py = palloc_array(int, Max(npair, 1));
	rx = palloc_array(int, Max(npair, 1));
	ry = palloc_array(int, Max(npair, 1));
	adj_start = palloc0_array(int, s->nnode + 1);
	for (int i = 0; i < npair; i++)
	{
		rx[i] = LinkIdOf(recidx, pa[i]);
		ry[i] = LinkIdOf(recidx, pb[i]);
		px[i] = rx[i] < 0 ? -1 : rnode[rx[i]];
		py[i] = ry[i] < 0 ? -1 : rnode[ry[i]];
		if (px[i] < 0 || py[i] < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("record \"" INT64_FORMAT "\" of pair %d is not among the records given",
							px[i] < 0 ? pa[i] : pb[i], i + 1)));
		if (px[i] != py[i] && !(flags[i] & (MATCH_PAIR_VETO | MATCH_PAIR_PLACEHOLDER)))
		{
			adj_start[px[i] + 1]++;
			adj_start[py[i] + 1]++;
		}
	}
	for (int v = 0; v < s->nnode; v++)
		adj_start[v + 1] += adj_start[v];
	adj_to = palloc_extended(mul_size(Max(adj_start[s->nnode], 1), sizeof(int)), MCXT_ALLOC_HUGE);
	{
		int		   *fill = palloc_array(int, Max(s->nnode, 1));

		memcpy(fill, adj_start, s->nnode * sizeof(int));
		for (int i = 0; i < npair; i++)
			if (px[i] != py[i] && !(flags[i] & (MATCH_PAIR_VETO | MATCH_PAIR_PLACEHOLDER)))
			{
				adj_to[fill[px[i]]++] = py[i];
				adj_to[fill[py[i]]++] = px[i];
			}
		pfree(fill);
	}
	out = palloc_extended(mul_size(Max(npair, 1), sizeof(LinkOut)), MCXT_ALLOC_HUGE);
	/* each node's records, and the supporting pairs between records */
	lr.dob = dob;
	lr.never = never;
	lr.node_start = palloc0_array(int, s->nnode + 1);
	for (int i = 0; i < nrec; i++)
		lr.node_start[rnode[i] + 1]++;
	for (int v = 0; v < s->nnode; v++)
		lr.node_start[v + 1] += lr.node_start[v];
	lr.recs = palloc_array(int, Max(nrec, 1));
	{
		int		   *fill = palloc_array(int, Max(s->nnode, 1));

		memcpy(fill, lr.node_start, s->nnode * sizeof(int));
		for (int i = 0; i < nrec; i++)
			lr.recs[fill[rnode[i]]++] = i;
		pfree(fill);
	}
	lr.adj_start = palloc0_array(int, nrec + 1);
	for (int i = 0; i < npair; i++)
		if (px[i] != py[i] && !(flags[i] & (MATCH_PAIR_VETO | MATCH_PAIR_PLACEHOLDER)))
		{
			lr.adj_start[rx[i] + 1]++;
			lr.adj_start[ry[i] + 1]++;
		}
	for (int i = 0; i < nrec; i++)
		lr.adj_start[i + 1] += lr.adj_start[i];
	lr.adj_to = palloc_extended(mul_size(Max(lr.adj_start[nrec], 1), sizeof(int)), MCXT_ALLOC_HUGE);
	{
		int		   *fill = palloc_array(int, Max(nrec, 1));

		memcpy(fill, lr.adj_start, nrec * sizeof(int));
		for (int i = 0; i < npair; i++)
			if (px[i] != py[i] && !(flags[i] & (MATCH_PAIR_VETO | MATCH_PAIR_PLACEHOLDER)))
			{
				lr.adj_to[fill[rx[i]]++] = ry[i];
				lr.adj_to[fill[ry[i]]++] = rx[i];
			}
		pfree(fill);
	}
	ck.s = s;
	ck.lr = &lr;
	ck.hasdob = dob != NULL;
	ck.adj_start = adj_start;
	ck.adj_to = adj_to;
	ck.size = size;
	ck.max_records = max_records;
	ck.support = support;
	keys.rec = rec;
	keys.nrec = nrec;
	keys.recidx = recidx;
	keys.loaded = palloc0_array(bool, Max(nrec, 1));
	keys.h = palloc0_array(uint32 *, Max(nrec, 1));
	keys.nh = palloc0_array(int, Max(nrec, 1));
	keys.mr = palloc0_array(MatchRec *, Max(nrec, 1));
	keys.scorer = NULL;
	keys.noscorer = false;
	keys.review_t = review_t;
	keys.cxt = work;
	ck.keys = &keys;
	cross.rec = rec;
	cross.recidx = recidx;
	cross.review_t = review_t;
	cross.keys = &keys;
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(LinkCrossKey);
		ctl.entrysize = sizeof(LinkCrossEntry);
		ctl.hcxt = work;
		cross.pairs = hash_create("cdp link cross pairs", 256, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	ck.cross = &cross;
	ck.reasons = reasons;
	for (int i = 0; i < npair; i++)
	{
		int			x = px[i];
		int			y = py[i];
		int			ra,
					rb;
		const char *why = NULL;
		char		action = 'r';
		bool		rare = false;
		bool		dateless = false;

		CHECK_FOR_INTERRUPTS();
		ra = MatchLinkFind(s, x);
		rb = MatchLinkFind(s, y);
		if (ra == rb)
			action = 'a';
		else if (flags[i] & MATCH_PAIR_PLACEHOLDER)
			why = reasons[LINK_WHY_PLACEHOLDER];
		else if (flags[i] & MATCH_PAIR_VETO)
		{
			/*
			 * a rule says these are different people (another birth date,
			 * given name or SNILS): a person reviews it only when the score
			 * says otherwise (over the link threshold), or when a same-id
			 * rule says the opposite and the score is over the review
			 * threshold (relatives sharing a phone score low and stay out)
			 */
			if (!float8_ge(prob[i], link_t) &&
				!((flags[i] & MATCH_PAIR_FORCED) && float8_ge(prob[i], review_t)))
				continue;
			/*
			 * a rule says different people and only the shared phone or id
			 * says otherwise, however high it makes the score (no date, no
			 * other contact: a family's phone): nothing for a reviewer to
			 * weigh (issue 12)
			 */
			if (flags[i] & MATCH_PAIR_ID_ONLY)
				continue;
			why = reasons[LINK_WHY_VETO];
		}
		else if (flags[i] & MATCH_PAIR_NAME_ONLY)
		{
			/* the evidence floor: never linked; to review only when it would have */
			if (!float8_ge(prob[i], link_t))
				continue;
			why = reasons[LINK_WHY_NAME_ONLY];
		}
		else if ((flags[i] & MATCH_PAIR_NAME_RARE) && !(flags[i] & MATCH_PAIR_FORCED) &&
				 float8_ge(prob[i], link_t))
		{
			/* a rare full name only: decided after every other pair (below) */
			why = reasons[LINK_WHY_NAME_ONLY];
			action = 'h';
			rare = true;
		}
		else if (ambiguous != NULL && dob != NULL && (dob[rx[i]] == NULL || dob[ry[i]] == NULL) &&
				 (float8_ge(prob[i], link_t) || (flags[i] & MATCH_PAIR_FORCED)))
		{
			/* a record without a birth date: decided after the dated pairs (below) */
			action = 'h';
			dateless = true;
		}
		else if (float8_ge(prob[i], link_t) || (flags[i] & MATCH_PAIR_FORCED))
		{
			why = LinkCheck(&ck, ra, rb);
			if (why == NULL)
			{
				int			sz = size[ra] + size[rb];

				size[MatchLinkUnion(s, ra, rb)] = sz;
				action = 'l';
			}
			else
				action = 'h';
		}
		if (action == 'r' && why == NULL && !float8_ge(prob[i], review_t))
			continue;
		out[nout].ord = i + 1;
		out[nout].action = action;
		out[nout].why = why;
		out[nout].x = x;
		out[nout].y = y;
		out[nout].rare = rare;
		out[nout].dateless = dateless;
		nout++;
	}

	/*
	 * Pairs with a record without a birth date, once the dated pairs have
	 * built the persons: linked (with the checks of any link) unless the
	 * dateless record would link to two or more persons who cannot be one
	 * (MatchLinkDatelessAmbiguous); then held, for a person to decide.
	 */
	if (ambiguous != NULL && dob != NULL)
	{
		int		   *from,
				   *to,
				   *ds,
				   *dt;
		double	   *w,
				   *dw;
		int			ne = 0,
					nd = 0;

		for (int k = 0; k < nout; k++)
			nd += out[k].dateless;
		from = palloc_array(int, Max(2 * nd, 1));
		to = palloc_array(int, Max(2 * nd, 1));
		w = palloc_array(double, Max(2 * nd, 1));
		/* the dateless ends of these pairs, with the weights of their pairs */
		for (int k = 0; k < nout && nd > 0; k++)
			if (out[k].dateless)
			{
				int			i = out[k].ord - 1;
				double		wi = MatchLinkOddsWeight(prob[i]);

				for (int end = 0; end < 2; end++)
				{
					int			r = end ? ry[i] : rx[i];

					if (dob[r] != NULL)
						continue;
					from[ne] = r;
					to[ne] = end ? rx[i] : ry[i];
					w[ne++] = wi;
				}
			}
		MatchLinkCsr(nrec, ne, from, to, w, &ds, &dt, &dw);
		for (int k = 0; k < nout && nd > 0; k++)
		{
			int			ra,
						rb,
						i = out[k].ord - 1;

			if (!out[k].dateless)
				continue;
			CHECK_FOR_INTERRUPTS();
			if (!LinkHeldRoots(&ck, &out[k], &ra, &rb))
				continue;
			if ((dob[rx[i]] == NULL && MatchLinkDatelessAmbiguous(s, &lr, true, rnode, ds, dt, dw, rx[i], ra)) ||
				(dob[ry[i]] == NULL && MatchLinkDatelessAmbiguous(s, &lr, true, rnode, ds, dt, dw, ry[i], rb)))
				out[k].why = ambiguous;
			else
				LinkTry(&ck, &out[k], ra, rb);
		}
	}

	/*
	 * Pairs whose only evidence is a rare full name, once every other pair
	 * has built the persons: linked (with the checks of any link) unless
	 * the name of either record points to two or more other persons.
	 */
	{
		int		   *from,
				   *to,
				   *rs,
				   *rt;
		int			ne = 0,
					nrare = 0;

		for (int i = 0; i < npair; i++)
			nrare += (flags[i] & MATCH_PAIR_NAME_RARE) != 0;
		from = palloc_array(int, Max(2 * nrare, 1));
		to = palloc_array(int, Max(2 * nrare, 1));
		for (int i = 0; i < npair && nrare > 0; i++)
			if (flags[i] & MATCH_PAIR_NAME_RARE)
			{
				from[ne] = rx[i];
				to[ne++] = ry[i];
				from[ne] = ry[i];
				to[ne++] = rx[i];
			}
		MatchLinkCsr(nrec, ne, from, to, NULL, &rs, &rt, NULL);
		for (int k = 0; k < nout; k++)
		{
			int			ra,
						rb,
						i = out[k].ord - 1;

			if (!out[k].rare)
				continue;
			CHECK_FOR_INTERRUPTS();
			if (!LinkHeldRoots(&ck, &out[k], &ra, &rb))
				continue;
			if (MatchLinkRareAmbiguous(s, rnode, rs, rt, rx[i], ra) || MatchLinkRareAmbiguous(s, rnode, rs, rt, ry[i], rb))
				continue;		/* held, as names only */
			LinkTry(&ck, &out[k], ra, rb);
		}
	}

	/*
	 * A pair held for want of support may find it once the persons have
	 * grown by later links: the held pairs are tried again, in decision
	 * order, until none links, so that a second run on the same data links
	 * nothing more.
	 */
	for (bool again = true; again;)
	{
		again = false;
		for (int k = 0; k < nout; k++)
		{
			int			ra,
						rb;

			if (out[k].action != 'h' || out[k].why != reasons[LINK_WHY_SUPPORT])
				continue;
			CHECK_FOR_INTERRUPTS();
			if (LinkHeldRoots(&ck, &out[k], &ra, &rb) && LinkTry(&ck, &out[k], ra, rb))
				again = true;
		}
	}

	/* the rows, with the persons each pair joins once every link is made */
	for (int k = 0; k < nout; k++)
	{
		Datum		values[7];
		bool		nulls[7] = {false, false, false, false, false, false, false};
		int			ra = MatchLinkFind(s, out[k].x);
		int			rb = MatchLinkFind(s, out[k].y);
		int			c = 0;

		values[c++] = Int32GetDatum(out[k].ord);
		if (o > 0)
			values[c++] = Int32GetDatum(ids[out[k].ord - 1]);
		values[c++] = CharGetDatum(out[k].action);
		if (out[k].why != NULL)
			values[c] = CStringGetTextDatum(out[k].why);
		else
			nulls[c] = true;
		c++;
		values[c++] = Int64GetDatum(Min(s->node[ra].golden, s->node[rb].golden));
		values[c++] = Int64GetDatum(Max(s->node[ra].golden, s->node[rb].golden));
		values[c++] = Int32GetDatum(ra == rb ? size[ra] : size[ra] + size[rb]);
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
 * cdp_match_link_plan
 *		SQL cdp_internal._match_link_plan (above): the pairs in decision order.
 */
Datum
cdp_match_link_plan(PG_FUNCTION_ARGS)
{
	return LinkPlan(fcinfo, 0);
}

/*
 * cdp_match_run_plan
 *		SQL cdp_internal._match_run_plan(pair_id int[], <the arguments of
 *		_match_link_plan>) RETURNS TABLE (ord int, pair_id int, action "char",
 *		reason text, person_a bigint, person_b bigint, person_records int):
 *		_match_link_plan over pairs given in any order, each with an id; the
 *		pairs are put in decision order first (LinkPlanSort: forced first,
 *		probability descending, record ids), ord is a pair's place in that
 *		order (what row_number() over it gives) and pair_id its id, so a run
 *		needs no sort of its scored pairs in SQL (issue 12, session 29).
 */
Datum
cdp_match_run_plan(PG_FUNCTION_ARGS)
{
	return LinkPlan(fcinfo, 1);
}
