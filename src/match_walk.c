/*-------------------------------------------------------------------------
 *
 * src/match_walk.c
 *		The matching kernel: loads the pre-normalised features of a set of
 *		records (a query over cdp_internal.match_key) into memory once, walks every
 *		blocking rule's blocks (records sorted by key hash) and scores each
 *		candidate pair in C, emitting only what the caller asked for:
 *
 *		  score     pairs whose probability >= min_prob (or forced by a rule)
 *		  run       score, every record's golden id read by the kernel from
 *		            cdp.record in record id order (one index-only scan)
 *		            instead of joined by the record query (run_matching's
 *		            full run; issue 12, session 34)
 *		  count     per rule: candidate pairs and pairs new to that rule
 *		  patterns  per rule: how many pairs reached each level vector (EM),
 *		            all pairs of the rule (n) and those new to it (n_new)
 *		  sample    level vectors of random pairs (u estimation)
 *		  train     sample (rule -1), then patterns, over one load of the
 *		            records (train_matching; issue 12, session 24)
 *		  cross     every pair of the loaded records, no blocking (explain,
 *		            find_patient); with min_prob > 0 only those reaching it
 *
 *		A pair found by several rules is processed once: by the first rule
 *		that yields it (a later rule skips a pair whose keys agree on an
 *		earlier rule: their key hashes first, then the keys), so no pair set
 *		has to be kept in memory.
 *
 *		Speed (issue 6): in score mode a pair is dropped as soon as the
 *		comparisons left cannot lift it to min_prob (MatchScorePairBounded,
 *		cheap comparisons first).  _match_walk_part(part, nparts, ...) walks
 *		only the blocks whose key hash is part modulo nparts, so that one
 *		call per part under a Gather node (see _match_pairs in SQL) spreads
 *		a full run over the parallel workers; each call loads the records
 *		itself (the workers share the leader's snapshot).  In patterns mode
 *		a positive sample caps the pairs counted: each candidate pair is
 *		kept with probability sample / (all candidate pairs), by a draw
 *		hashed from its records' content (match_walk_sample.c: the same
 *		records in any order give the same sample), and the counts are
 *		scaled back: EM sees an unbiased sample (as Splink trains on a
 *		bounded number of blocked pairs).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>
#include <unistd.h>

#include "access/tupmacs.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "cdp.h"
#include "cmp.h"
#include "match.h"

/* a level vector with its rule, the key of the pattern counts */
typedef struct PatternKey
{
	int16		rule;
	int8		lev[MATCH_MAX_COMP];
} PatternKey;

typedef struct PatternEntry
{
	PatternKey	key;
	int64		n;				/* pairs of the rule */
	int64		nnew;			/* of which no earlier rule yields */
} PatternEntry;

/* one record's position in a rule's sort order */
typedef struct BlockItem
{
	uint32		hash;
	int32		idx;
} BlockItem;

/* the state of one walk */
typedef struct Walk
{
	MatchProg	prog;
	MatchRec   *recs;
	int			nrec;
	int			mode;
	double		min_prob;
	int			max_block;
	double		min_weight;		/* MatchMinWeight(min_prob) in score mode */
	bool		hasfocus;		/* some records are not in focus */
	int			part;			/* blocks with key hash % nparts == part */
	int			nparts;
	double		rate;			/* patterns mode: share of pairs counted */
	uint64		rate_min;		/* a pair is skipped when the 52 bits of its
								 * draw reach this (WalkRule) */
	uint64	   *chash;			/* patterns, sample: content hash per record */
	uint64	   *bch;			/* patterns: those of the block walked */
	BlockItem  *items[MATCH_MAX_RULES];	/* each rule's records, sorted */
	int32	   *blocks[MATCH_MAX_RULES];	/* start of each block, then n */
	int			nblocks[MATCH_MAX_RULES];
	Tuplestorestate *ts;
	TupleDesc	tupdesc;
	HTAB	   *patterns;
	int64		npairs[MATCH_MAX_RULES];
	int64		nnew[MATCH_MAX_RULES];
	int64		nskipped[MATCH_MAX_RULES];
	int			sortrule;		/* the rule BlockKeyCmp compares */
	int			skiprule[MATCH_MAX_RULES];	/* score mode: the earlier rule whose
											 * groups a block skips, or -1 */
	int32	   *gend;			/* per block position: end of its skip group */
	MatchBound	bound;			/* the scorer's last per-pair bound */
} Walk;

/* blocks smaller than this are walked pair by pair (regrouping does not pay) */
#define WALK_SKIP_MIN_BLOCK 32

enum
{
	WALK_SCORE, WALK_COUNT, WALK_PATTERNS, WALK_SAMPLE, WALK_CROSS
};

/* the records' golden ids, in record id order (LoadGoldens) */
#define WALK_GOLDEN_QUERY \
	"SELECT r.record_id, r.golden_id FROM cdp.record r ORDER BY r.record_id"

#define WALK_NCOLS 11

PG_FUNCTION_INFO_V1(cdp_match_walk);
PG_FUNCTION_INFO_V1(cdp_match_walk_part);

/*
 * TfValues
 *		For a walk over a few focus records, the values a term-frequency
 *		lookup can ask for (MatchTfAdjustment reads the first record of a
 *		pair that agrees on level 0): the focus records' values of each
 *		tf-adjusted comparison whose level 0 is "exact" (the other record's
 *		value is the same), every loaded record's value otherwise.  Returns
 *		a text[] datum (and the comparison of each value in *comps, an
 *		int[]), or 0 when the whole table should be loaded (no focus, or too
 *		many values for one indexed lookup).
 */
static Datum
TfValues(Walk *w, bool has_focus, Datum *comps)
{
	Datum	   *vals;
	Datum	   *cs;
	int			n = 0,
				cap = 64,
				i,
				c;

	if (!has_focus)
		return (Datum) 0;
	vals = palloc(sizeof(Datum) * cap);
	cs = palloc(sizeof(Datum) * cap);
	for (c = 0; c < w->prog.ncomp; c++)
	{
		bool		exact0 = w->prog.op[c][0] == MATCH_OP_EXACT;

		if (!w->prog.tf[c])
			continue;
		for (i = 0; i < w->nrec; i++)
		{
			const char *v = w->recs[i].feat[w->prog.fidx[c]];

			if (v == NULL || (exact0 && !w->recs[i].focus))
				continue;
			if (n >= MATCH_TF_MAX_VALUES)
				return (Datum) 0;
			if (n >= cap)
			{
				cap *= 2;
				vals = repalloc(vals, sizeof(Datum) * cap);
				cs = repalloc(cs, sizeof(Datum) * cap);
			}
			cs[n] = Int32GetDatum(c);
			vals[n++] = CStringGetTextDatum(v);
		}
	}
	*comps = PointerGetDatum(construct_array(cs, n, INT4OID, 4, true, TYPALIGN_INT));
	return PointerGetDatum(construct_array(vals, n, TEXTOID, -1, false, TYPALIGN_INT));
}
/* MatchPrecomputeRecord over every loaded record */
static void
PrecomputeRecords(Walk *w)
{
	const MatchProg *prog = &w->prog;
	double	   *buf = NULL;

	StaticAssertStmt(MATCH_MAX_COMP <= 32, "MatchRec.cmask holds one bit per comparison");
	if (w->nrec == 0)
		return;
	if (prog->ntf > 0)
		buf = MatchHugeAlloc(sizeof(double) * (Size) prog->ntf * (Size) w->nrec);
	for (int i = 0; i < w->nrec; i++)
	{
		MatchPrecomputeRecord(prog, &w->recs[i], buf ? buf + (Size) i * prog->ntf : NULL);
		if ((i & 0xffff) == 0)
			CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Int64Cmp
 *		qsort/bsearch order of int64 values.
 */
static int
Int64Cmp(const void *x, const void *y)
{
	int64		a = *(const int64 *) x;
	int64		b = *(const int64 *) y;

	return (a > b) - (a < b);
}

/*
 * Uint32Cmp
 *		qsort order of uint32 values.
 */
static int
Uint32Cmp(const void *x, const void *y)
{
	uint32		a = *(const uint32 *) x;
	uint32		b = *(const uint32 *) y;

	return (a > b) - (a < b);
}

static void ProcessPair(Walk *w, const MatchRec *a, const MatchRec *b, int rule, bool isnew);

/*
 * RecIdxCmp
 *		qsort_arg order of record positions by the records' ids.
 */
static int
RecIdxCmp(const void *x, const void *y, void *arg)
{
	const MatchRec *recs = arg;
	int64		a = recs[*(const int32 *) x].id;
	int64		b = recs[*(const int32 *) y].id;

	return (a > b) - (a < b);
}

/*
 * SamplePair
 *		MatchSampleRandomPairs' callback: one random pair (rule -1).
 */
static void
SamplePair(void *arg, const MatchRec *a, const MatchRec *b)
{
	ProcessPair((Walk *) arg, a, b, -1, true);
}

/*
 * The receiver of the record query's rows (LoadRecords): each row goes
 * straight from the executor's slot into the walk's arrays, with no copy
 * of the tuple into an SPI result table first (issue 12, session 30: the
 * copies, and the page faults of a new table per fetch, were a fifth of
 * loading 1M records).
 */
typedef struct LoadDest
{
	DestReceiver pub;
	Walk	   *w;
	MatchArena	arena;
	int			cap;			/* of w->recs */
	const int64 *fids;			/* focus ids, sorted, or NULL */
	int			nf;
	MemoryContext rowcxt;		/* reset after every row */
}			LoadDest;

/*
 * LoadStartup
 *		Checks the query's row shape.
 */
static void
LoadStartup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	if (typeinfo->natts != 5)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("matching record query must return 5 columns")));
}

/*
 * LoadReceive
 *		Keeps one row (record_id, golden_id, flags, feat text[], bk text[]) of
 *		the record query; a record whose id is in focus is marked.
 */
static bool
LoadReceive(TupleTableSlot *slot, DestReceiver *self)
{
	LoadDest   *ld = (LoadDest *) self;
	Walk	   *w = ld->w;
	MatchRec   *r;
	MemoryContext old;
	int			k;

	slot_getallattrs(slot);
	if (w->nrec >= ld->cap)
	{
		if ((Size) ld->cap * 2 * sizeof(MatchRec) >= MaxAllocHugeSize)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("too many records to match at once")));
		ld->cap *= 2;
		w->recs = repalloc_huge(w->recs, sizeof(MatchRec) * ld->cap);
		MatchAdviseHuge(w->recs, sizeof(MatchRec) * ld->cap);
	}
	old = MemoryContextSwitchTo(ld->rowcxt);
	r = &w->recs[w->nrec++];
	r->id = slot->tts_isnull[0] ? -1 : DatumGetInt64(slot->tts_values[0]);
	r->golden = slot->tts_isnull[1] ? r->id : DatumGetInt64(slot->tts_values[1]);
	r->flags = slot->tts_isnull[2] ? 0 : DatumGetInt32(slot->tts_values[2]);
	r->tfadj = NULL;			/* PrecomputeRecords, once the tf tables are loaded */
	r->cmask = 0;
	r->focus = (ld->fids == NULL) ||
		bsearch(&r->id, ld->fids, ld->nf, sizeof(int64), Int64Cmp) != NULL;
	r->feat = (char **) MatchArenaAlloc(&ld->arena, sizeof(char *) * (w->prog.nfeat + w->prog.nrules));
	r->bk = r->feat + w->prog.nfeat;
	r->bkh = (uint32 *) MatchArenaAlloc(&ld->arena, sizeof(uint32) * Max(w->prog.nrules, 1));
	MatchCopyTextArray(&ld->arena, slot->tts_values[3], slot->tts_isnull[3], r->feat, w->prog.nfeat);
	MatchCopyTextArray(&ld->arena, slot->tts_values[4], slot->tts_isnull[4], r->bk, w->prog.nrules);
	for (k = 0; k < w->prog.nrules; k++)
		r->bkh[k] = (r->bk[k] == NULL || r->bk[k][0] == '\0') ? 0 :
			hash_bytes((const unsigned char *) r->bk[k], strlen(r->bk[k]));
	MatchDecodeRecord(&w->prog, &ld->arena, r);
	MemoryContextSwitchTo(old);
	MemoryContextReset(ld->rowcxt);
	if ((w->nrec & 0x3fff) == 0)
		CHECK_FOR_INTERRUPTS();
	return true;
}

/*
 * LoadShutdown, LoadDestroy
 *		Nothing to release: the rows are in the walk's context.
 */
static void
LoadShutdown(DestReceiver *self)
{
}

static void
LoadDestroy(DestReceiver *self)
{
}

/*
 * LoadRecords
 *		Runs query (record_id, golden_id, flags, feat text[], bk text[]) and
 *		keeps its rows in memory, in the order the query gives them (the
 *		first record of a pair is the one that came first: its term
 *		frequencies weigh an agreement); records whose id is in focus are
 *		marked.
 */
static void
LoadRecords(Walk *w, const char *query, ArrayType *focus)
{
	LoadDest	ld;
	SPIPlanPtr	plan;
	SPIExecuteOptions opt;
	int64	   *fids = NULL;
	int			nf = 0;
	int			ret;

	if (focus)
	{
		Datum	   *elems;
		bool	   *nulls;
		int			i;

		deconstruct_array(focus, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
						  &elems, &nulls, &nf);
		fids = palloc(sizeof(int64) * Max(nf, 1));
		for (i = 0; i < nf; i++)
			fids[i] = nulls[i] ? -1 : DatumGetInt64(elems[i]);
		qsort(fids, nf, sizeof(int64), Int64Cmp);
	}
	memset(&ld, 0, sizeof(ld));
	ld.pub.receiveSlot = LoadReceive;
	ld.pub.rStartup = LoadStartup;
	ld.pub.rShutdown = LoadShutdown;
	ld.pub.rDestroy = LoadDestroy;
	ld.pub.mydest = DestNone;
	ld.w = w;
	ld.arena.cxt = CurrentMemoryContext;
	ld.cap = 1024;
	ld.fids = fids;
	ld.nf = nf;
	ld.rowcxt = AllocSetContextCreate(CurrentMemoryContext, "cdp match walk row",
									  ALLOCSET_SMALL_SIZES);
	w->recs = palloc(sizeof(MatchRec) * ld.cap);
	w->nrec = 0;
	plan = SPI_prepare(query, 0, NULL);
	if (plan == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("could not prepare the matching record query"),
				 errdetail("SPI_prepare returned %d.", SPI_result)));
	if (!SPI_is_cursor_plan(plan))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("matching record query must be one statement returning rows")));
	memset(&opt, 0, sizeof(opt));
	opt.read_only = true;
	opt.dest = &ld.pub;
	ret = SPI_execute_plan_extended(plan, &opt);
	/* a SELECT whose rows went to a receiver of its own reports SPI_OK_UTILITY */
	if (ret != SPI_OK_SELECT && ret != SPI_OK_UTILITY)
		elog(ERROR, "SPI_execute_plan_extended returned %d", ret);
	SPI_freeplan(plan);
	MemoryContextDelete(ld.rowcxt);
}

/*
 * The receiver of the golden id query's rows (LoadGoldens): rows come in
 * record id order and are merged with the loaded records sorted by id.
 */
typedef struct GoldenDest
{
	DestReceiver pub;
	Walk	   *w;
	const int32 *order;			/* record positions by record id */
	int			pos;			/* the next of order to match */
	bool	   *found;			/* per record: it has a row in cdp.record */
	int64		last;			/* the last id received (order check) */
	bool		any;
}			GoldenDest;

/*
 * GoldenStartup
 *		Checks the query's row shape.
 */
static void
GoldenStartup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	if (typeinfo->natts != 2)
		elog(ERROR, "the golden id query must return 2 columns");
}

/*
 * GoldenReceive
 *		One row (record_id, golden_id): the loaded record of that id, if
 *		any, takes its golden id (NULL: its own id, as LoadReceive reads a
 *		NULL golden id) and is kept.
 */
static bool
GoldenReceive(TupleTableSlot *slot, DestReceiver *self)
{
	GoldenDest *gd = (GoldenDest *) self;
	Walk	   *w = gd->w;
	int64		id;

	slot_getallattrs(slot);
	if (slot->tts_isnull[0])
		return true;
	id = DatumGetInt64(slot->tts_values[0]);
	if (gd->any && id <= gd->last)
		elog(ERROR, "the golden id query returned record ids out of order");
	gd->any = true;
	gd->last = id;
	while (gd->pos < w->nrec && w->recs[gd->order[gd->pos]].id < id)
		gd->pos++;
	if (gd->pos < w->nrec && w->recs[gd->order[gd->pos]].id == id)
	{
		MatchRec   *r = &w->recs[gd->order[gd->pos]];

		r->golden = slot->tts_isnull[1] ? r->id : DatumGetInt64(slot->tts_values[1]);
		gd->found[gd->order[gd->pos]] = true;
		gd->pos++;
	}
	if ((gd->pos & 0x3fff) == 0)
		CHECK_FOR_INTERRUPTS();
	return true;
}

/* GoldenShutdown, GoldenDestroy: nothing to release */
static void
GoldenShutdown(DestReceiver *self)
{
}

static void
GoldenDestroy(DestReceiver *self)
{
}

/*
 * LoadGoldens
 *		Run mode: the golden id of every loaded record, read from cdp.record
 *		in record id order (an index-only scan of its primary key) and merged
 *		with the records sorted by id, where the record query of score mode
 *		joins cdp.record: at 1M records that join (a hash of every record,
 *		probed by every key row) cost 3 s of a 4 s load in each parallel
 *		worker (issue 12, session 34).  A loaded record with no row in
 *		cdp.record is dropped, as that inner join dropped it; the others
 *		keep the order of the record query (the order of a pair's records).
 *		Call connected to SPI.
 */
static void
LoadGoldens(Walk *w)
{
	GoldenDest	gd;
	SPIPlanPtr	plan;
	SPIExecuteOptions opt;
	int32	   *order;
	int			ret,
				i,
				n;

	order = MatchHugeAlloc(sizeof(int32) * (Size) Max(w->nrec, 1));
	for (i = 0; i < w->nrec; i++)
		order[i] = i;
	qsort_arg(order, w->nrec, sizeof(int32), RecIdxCmp, w->recs);
	memset(&gd, 0, sizeof(gd));
	gd.pub.receiveSlot = GoldenReceive;
	gd.pub.rStartup = GoldenStartup;
	gd.pub.rShutdown = GoldenShutdown;
	gd.pub.rDestroy = GoldenDestroy;
	gd.pub.mydest = DestNone;
	gd.w = w;
	gd.order = order;
	gd.found = palloc_extended(sizeof(bool) * (Size) Max(w->nrec, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	plan = SPI_prepare(WALK_GOLDEN_QUERY, 0, NULL);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	memset(&opt, 0, sizeof(opt));
	opt.read_only = true;
	opt.dest = &gd.pub;
	ret = SPI_execute_plan_extended(plan, &opt);
	if (ret != SPI_OK_SELECT && ret != SPI_OK_UTILITY)
		elog(ERROR, "SPI_execute_plan_extended returned %d", ret);
	SPI_freeplan(plan);
	/* the records without a row, dropped; the others in their order */
	for (i = 0, n = 0; i < w->nrec; i++)
		if (gd.found[i])
		{
			if (n != i)
				w->recs[n] = w->recs[i];
			n++;
		}
	w->nrec = n;
	pfree(gd.found);
	pfree(order);
}

/*
 * EmitRow
 *		Appends one result row; NULL-able values are passed as pointers.
 */
static void
EmitRow(Walk *w, const MatchRec *a, const MatchRec *b, int rule, double weight,
		int32 flags, const int8 *lev, int64 n, int64 nnew, bool with_pair)
{
	Datum		v[WALK_NCOLS];
	bool		nulls[WALK_NCOLS];
	int			c;

	memset(nulls, 0, sizeof(nulls));
	if (with_pair)
	{
		const MatchRec *x = a->id < b->id ? a : b;
		const MatchRec *y = a->id < b->id ? b : a;

		v[0] = Int64GetDatum(x->id);
		v[1] = Int64GetDatum(y->id);
		v[2] = Int64GetDatum(x->golden);
		v[3] = Int64GetDatum(y->golden);
		v[5] = Float8GetDatum(weight);
		v[6] = Float8GetDatum(MatchProbability(weight));
		v[7] = Int32GetDatum(flags);
	}
	else
	{
		nulls[0] = nulls[1] = nulls[2] = nulls[3] = true;
		nulls[5] = nulls[6] = nulls[7] = true;
	}
	v[4] = Int32GetDatum(rule);
	if (lev)
	{
		Datum		ld[MATCH_MAX_COMP];

		for (c = 0; c < w->prog.ncomp; c++)
			ld[c] = Int16GetDatum((int16) lev[c]);
		v[8] = PointerGetDatum(construct_array(ld, w->prog.ncomp, INT2OID, 2, true, TYPALIGN_SHORT));
	}
	else
		nulls[8] = true;
	v[9] = Int64GetDatum(n);
	v[10] = Int64GetDatum(nnew);
	tuplestore_putvalues(w->ts, w->tupdesc, v, nulls);
	if (lev)
		pfree(DatumGetPointer(v[8]));
}

/*
 * CountPattern
 *		Adds one pair with level vector lev found by rule to the counts.
 */
static void
CountPattern(Walk *w, int rule, const int8 *lev, bool isnew)
{
	PatternKey	key;
	PatternEntry *e;
	bool		found;

	memset(&key, 0, sizeof(key));
	key.rule = (int16) rule;
	memcpy(key.lev, lev, w->prog.ncomp);
	e = (PatternEntry *) hash_search(w->patterns, &key, HASH_ENTER, &found);
	if (!found)
		e->n = e->nnew = 0;
	e->n++;
	if (isnew)
		e->nnew++;
}

/*
 * ProcessPair
 *		Scores (or counts) one candidate pair found by rule.
 */
static void
ProcessPair(Walk *w, const MatchRec *a, const MatchRec *b, int rule, bool isnew)
{
	int8		lev[MATCH_MAX_COMP];
	int32		flags;
	double		weight;
	bool		cut;

	if (w->mode == WALK_PATTERNS || w->mode == WALK_SAMPLE)
	{
		/* EM and u read the level vector only, of the pair in content order */
		if (w->chash[b - w->recs] < w->chash[a - w->recs])
			MatchPairLevels(&w->prog, b, a, lev);
		else
			MatchPairLevels(&w->prog, a, b, lev);
		CountPattern(w, rule, lev, isnew);
		return;
	}
	weight = MatchScorePairBounded(&w->prog, a, b, lev, &flags,
								   (w->mode == WALK_SCORE || w->mode == WALK_CROSS) ? w->min_weight : -INFINITY,
								   &cut, &w->bound);
	if (cut)
		return;
	if (MatchProbability(weight) >= w->min_prob || (flags & MATCH_PAIR_FORCED))
		EmitRow(w, a, b, rule, weight, flags, lev, 1, 0, true);
}

/*
 * BlockItemCmp
 *		qsort order of a rule's records: key hash, then record position (no
 *		string is read: keys sharing a hash are told apart by BuildRule).
 */
static int
BlockItemCmp(const void *x, const void *y)
{
	const BlockItem *a = x;
	const BlockItem *b = y;

	if (a->hash != b->hash)
		return a->hash < b->hash ? -1 : 1;
	return (a->idx > b->idx) - (a->idx < b->idx);
}

/*
 * SortBlockItems
 *		Sorts n items (made in record position order) into BlockItemCmp's
 *		order: qsort for a few, else a stable radix sort on the key hash in
 *		two 16-bit passes (records sharing a hash keep their position order:
 *		the same order as qsort's, in linear time; 13 sorts of 1M items
 *		were a tenth of a training walk).
 */
static void
SortBlockItems(BlockItem *items, int n)
{
	BlockItem  *tmp,
			   *src,
			   *dst;
	uint32	   *pos;
	int			shift,
				i;

	if (n < 4096)
	{
		qsort(items, n, sizeof(BlockItem), BlockItemCmp);
		return;
	}
	for (i = 1; i < n; i++)
		Assert(items[i - 1].idx < items[i].idx);
	tmp = MatchHugeAlloc(sizeof(BlockItem) * (Size) n);
	pos = palloc(sizeof(uint32) * 65536);
	src = items;
	dst = tmp;
	for (shift = 0; shift < 32; shift += 16)
	{
		uint32		sum = 0;

		memset(pos, 0, sizeof(uint32) * 65536);
		for (i = 0; i < n; i++)
			pos[(src[i].hash >> shift) & 0xffff]++;
		for (i = 0; i < 65536; i++)
		{
			uint32		c = pos[i];

			pos[i] = sum;
			sum += c;
		}
		for (i = 0; i < n; i++)
			dst[pos[(src[i].hash >> shift) & 0xffff]++] = src[i];
		src = dst;
		dst = (dst == tmp) ? items : tmp;
	}
	/* two passes: the result is back in items */
	Assert(src == items);
	pfree(pos);
	pfree(tmp);
}

/*
 * BlockKeyCmp
 *		qsort_arg order of records whose keys share a hash: the key itself,
 *		then record position.
 */
static int
BlockKeyCmp(const void *x, const void *y, void *arg)
{
	const BlockItem *a = x;
	const BlockItem *b = y;
	Walk	   *w = arg;
	int			c = strcmp(w->recs[a->idx].bk[w->sortrule], w->recs[b->idx].bk[w->sortrule]);

	if (c != 0)
		return c;
	return (a->idx > b->idx) - (a->idx < b->idx);
}

/*
 * AgreesEarlier
 *		Whether records a and b share a key of a rule before rule, i.e. the
 *		pair was already produced by that rule.
 */
static inline bool
AgreesEarlier(const MatchRec *a, const MatchRec *b, int rule)
{
	int			e;

	for (e = 0; e < rule; e++)
		if (a->bkh[e] == b->bkh[e] && a->bk[e] && b->bk[e] &&
			strcmp(a->bk[e], b->bk[e]) == 0)
			return true;
	return false;
}

/*
 * Prefetching in BuildRule (issue 12, session 36): it reads the key of every
 * record of a rule twice, once in record order to list the records having
 * one and once in key hash order for the records sharing a hash, where the
 * record, its key pointer and its key are each at a random place.  At 1M
 * records these reads waiting for memory were half of the walk's time
 * outside the scoring of pairs.  The addresses are known ahead (the next
 * records, the next sorted items), so each is prefetched a few positions
 * before it is read: what is read does not change.
 */
#if defined(__GNUC__) || defined(__clang__)
#define WalkPrefetch(p) __builtin_prefetch(p)
#else
#define WalkPrefetch(p) ((void) 0)
#endif
#define WALK_WARM_FAR 64
#define WALK_WARM_MID 32
#define WALK_WARM_NEAR 16

/*
 * BuildRuleWarm
 *		Called for each position p of a rule's sorted items as BuildRule
 *		reaches it: prefetches, for the items ahead that share their key hash
 *		with a neighbour (whose keys BuildRule compares), the record's struct
 *		(WALK_WARM_FAR ahead), its key pointer (WALK_WARM_MID) and its key
 *		(WALK_WARM_NEAR), each read once the one before it is in the cache.
 */
static inline void
BuildRuleWarm(const Walk *w, const BlockItem *items, int n, int p, int rule)
{
	static const int ahead[3] = {WALK_WARM_FAR, WALK_WARM_MID, WALK_WARM_NEAR};

	for (int step = 0; step < 3; step++)
	{
		int			q = p + ahead[step];
		const MatchRec *r;

		if (q >= n || !((q > 0 && items[q].hash == items[q - 1].hash) ||
						(q + 1 < n && items[q].hash == items[q + 1].hash)))
			continue;
		r = &w->recs[items[q].idx];
		if (step == 0)
		{
			WalkPrefetch(&r->bk);
			WalkPrefetch((const char *) (r + 1) - 1);
		}
		else if (step == 1)
			WalkPrefetch(&r->bk[rule]);
		else
			WalkPrefetch(r->bk[rule]);
	}
}

/*
 * BuildRule
 *		Sorts the records having a key for rule into w->items[rule] (key
 *		hash, then position) and cuts them into blocks of equal keys
 *		(w->blocks[rule]: the start of each block, then the end); returns the
 *		number of candidate pairs of the blocks no larger than max_block
 *		(all parts).  A run of equal hashes is checked key by key, and
 *		sorted by key in the rare case that two keys share a hash.
 */
static int64
BuildRule(Walk *w, int rule)
{
	BlockItem  *items;
	int32	   *blocks;
	int			n = 0,
				nb = 0,
				i,
				start;
	int64		pairs = 0;

	items = MatchHugeAlloc(sizeof(BlockItem) * (Size) Max(w->nrec, 1));
	for (i = 0; i < w->nrec; i++)
	{
		/* the key pointer and the key of records ahead (see BuildRuleWarm) */
		if (i + WALK_WARM_FAR < w->nrec)
			WalkPrefetch(&w->recs[i + WALK_WARM_FAR].bk[rule]);
		if (i + WALK_WARM_NEAR < w->nrec)
			WalkPrefetch(w->recs[i + WALK_WARM_NEAR].bk[rule]);
		if (w->recs[i].bk[rule] == NULL || w->recs[i].bk[rule][0] == '\0')
			continue;

		/*
		 * a part walks only the blocks whose key hash is its own (WalkRule):
		 * it sorts only those (patterns mode counts every block for its
		 * sampling rate)
		 */
		if (w->nparts > 1 && w->mode != WALK_PATTERNS &&
			w->recs[i].bkh[rule] % (uint32) w->nparts != (uint32) w->part)
			continue;
		items[n].hash = w->recs[i].bkh[rule];
		items[n].idx = i;
		n++;
	}
	SortBlockItems(items, n);
	blocks = MatchHugeAlloc(sizeof(int32) * (Size) (n + 1));

	for (start = 0; start < n;)
	{
		int			end = start + 1;
		const char *k = NULL;
		bool		mixed = false;
		int			b;

		BuildRuleWarm(w, items, n, start, rule);
		while (end < n && items[end].hash == items[start].hash)
		{
			BuildRuleWarm(w, items, n, end, rule);
			/* the run's first key, read only for a run of two or more */
			if (k == NULL)
				k = w->recs[items[start].idx].bk[rule];
			if (!mixed && strcmp(w->recs[items[end].idx].bk[rule], k) != 0)
				mixed = true;
			end++;
		}
		if (mixed)
		{
			w->sortrule = rule;
			qsort_arg(items + start, end - start, sizeof(BlockItem), BlockKeyCmp, w);
		}
		/* the blocks of this run: one, or one per distinct key */
		for (b = start; b < end;)
		{
			int			e = b + 1;
			int64		g;

			if (mixed)
				while (e < end && strcmp(w->recs[items[e].idx].bk[rule],
										 w->recs[items[b].idx].bk[rule]) == 0)
					e++;
			else
				e = end;
			blocks[nb++] = b;
			g = e - b;
			if (w->max_block <= 0 || g <= w->max_block)
				pairs += g * (g - 1) / 2;
			b = e;
		}
		start = end;
	}
	blocks[nb] = n;
	w->items[rule] = items;
	w->blocks[rule] = blocks;
	w->nblocks[rule] = nb;
	return pairs;
}

/*
 * SkipKeyCmp
 *		qsort_arg order of a block's records by their key of rule
 *		w->sortrule: records without one first, then by key hash, key and
 *		record position, so that equal keys are contiguous.
 */
static int
SkipKeyCmp(const void *x, const void *y, void *arg)
{
	const BlockItem *a = x;
	const BlockItem *b = y;
	Walk	   *w = arg;
	const MatchRec *ra = &w->recs[a->idx];
	const MatchRec *rb = &w->recs[b->idx];
	uint32		ha = ra->bkh[w->sortrule];
	uint32		hb = rb->bkh[w->sortrule];
	int			c;

	if (ha != hb)
		return ha < hb ? -1 : 1;
	if (ha != 0)
	{
		c = strcmp(ra->bk[w->sortrule], rb->bk[w->sortrule]);
		if (c != 0)
			return c;
	}
	return (a->idx > b->idx) - (a->idx < b->idx);
}

/*
 * ChooseSkipRule
 *		Score mode: the earlier rule (before rule) whose shared keys hold the
 *		most pairs of rule's largest walked block, or -1 when none holds a
 *		tenth of them.  WalkRule groups each large block of rule by that
 *		rule's key and never visits a pair inside a group (such a pair was
 *		scored by the earlier rule): an "any_order" rule repeating the pairs
 *		of a plain rule on the same names (issue 12, speed).  Counted on key
 *		hashes: the choice only decides the order of the walk, never which
 *		pairs are scored.
 */
static int
ChooseSkipRule(Walk *w, int rule)
{
	int32	   *blocks = w->blocks[rule];
	BlockItem  *items = w->items[rule];
	int			bi,
				best = -1,
				bstart = 0,
				bsize = 0,
				e,
				i;
	double		bestpairs = 0;
	uint32	   *h;

	if (rule == 0 || w->mode != WALK_SCORE || w->rate < 1.0)
		return -1;
	for (bi = 0; bi < w->nblocks[rule]; bi++)
	{
		int			g = blocks[bi + 1] - blocks[bi];

		if (g > bsize && (w->max_block <= 0 || g <= w->max_block))
		{
			bsize = g;
			bstart = blocks[bi];
		}
	}
	if (bsize < WALK_SKIP_MIN_BLOCK)
		return -1;
	h = palloc(sizeof(uint32) * bsize);
	for (e = 0; e < rule; e++)
	{
		double		pairs = 0;
		int			run = 1;

		for (i = 0; i < bsize; i++)
			h[i] = w->recs[items[bstart + i].idx].bkh[e];
		qsort(h, bsize, sizeof(uint32), Uint32Cmp);
		for (i = 1; i <= bsize; i++)
		{
			if (i < bsize && h[i] == h[i - 1] && h[i] != 0)
				run++;
			else
			{
				pairs += (double) run * (run - 1) / 2;
				run = 1;
			}
		}
		if (pairs > bestpairs)
		{
			bestpairs = pairs;
			best = e;
		}
	}
	pfree(h);
	if (bestpairs < 0.1 * ((double) bsize * (bsize - 1) / 2))
		return -1;
	return best;
}

/*
 * GroupBlock
 *		Sorts the block items[start..end) by the key of rule e (SkipKeyCmp)
 *		and sets w->gend[i - start] to the end of the run of records sharing
 *		item i's key (i + 1 for a record without one).
 */
static void
GroupBlock(Walk *w, BlockItem *items, int start, int end, int e)
{
	int			i,
				j;

	w->sortrule = e;
	qsort_arg(items + start, end - start, sizeof(BlockItem), SkipKeyCmp, w);
	for (i = start; i < end; i = j)
	{
		const MatchRec *r = &w->recs[items[i].idx];
		int			k;

		j = i + 1;
		if (r->bkh[e] != 0)
			while (j < end && w->recs[items[j].idx].bkh[e] == r->bkh[e] &&
				   strcmp(w->recs[items[j].idx].bk[e], r->bk[e]) == 0)
				j++;
		for (k = i; k < j; k++)
			w->gend[k - start] = j;
	}
}

/*
 * WalkRule
 *		Processes the pairs of every block (run of equal keys) of rule that
 *		belongs to this part and is no larger than max_block.
 */
static void
WalkRule(Walk *w, int rule)
{
	BlockItem  *items = w->items[rule];
	int32	   *blocks = w->blocks[rule];
	int			bi;

	for (bi = 0; bi < w->nblocks[rule]; bi++)
	{
		int			start = blocks[bi];
		int			end = blocks[bi + 1];
		int			x,
					y;

		if (end - start > 1 &&
			(w->nparts <= 1 || items[start].hash % (uint32) w->nparts == (uint32) w->part))
		{
			int64		g = end - start;

			if (w->max_block > 0 && g > w->max_block)
				w->nskipped[rule] += g * (g - 1) / 2;
			else
			{
				int			e = w->skiprule[rule];
				bool		grouped = e >= 0 && g >= WALK_SKIP_MIN_BLOCK;

				if (grouped)
					GroupBlock(w, items, start, end, e);
				for (x = start; w->bch && x < end; x++)
					w->bch[x - start] = w->chash[items[x].idx];

				for (x = start; x < end; x++)
				{
					const MatchRec *a = &w->recs[items[x].idx];

					/* in a grouped block, the pairs of x's group are the earlier rule's */
					for (y = grouped ? Max(x + 1, w->gend[x - start]) : x + 1; y < end; y++)
					{
						const MatchRec *b = &w->recs[items[y].idx];

						/*
						 * only pairs touching a focus record; a whole walk has
						 * none to test, and reading b here would cost a cache
						 * miss per pair where patterns mode samples one pair
						 * in hundreds (issue 12, session 24)
						 */
						if (w->hasfocus && !a->focus && !b->focus)
							continue;
						w->npairs[rule]++;
						/* the pair's draw (by content) >= w->rate */
						if (w->rate < 1.0 &&
							MatchPairDraw(w->bch[x - start], w->bch[y - start]) >= w->rate_min)
							continue;
						if (AgreesEarlier(a, b, rule))
						{
							/* EM of a rule sees all its pairs (Splink) */
							if (w->mode == WALK_PATTERNS)
								ProcessPair(w, a, b, rule, false);
							continue;
						}
						w->nnew[rule]++;
						if (w->mode != WALK_COUNT)
							ProcessPair(w, a, b, rule, true);
					}
					CHECK_FOR_INTERRUPTS();
				}
			}
		}
	}
	pfree(items);
	pfree(blocks);
	w->items[rule] = NULL;
	w->blocks[rule] = NULL;
}

/*
 * MatchWalkRun
 *		The body of both entry points: the walk's arguments start at
 *		argument o; blocks of part (of nparts) only.
 */
static void
MatchWalkRun(FunctionCallInfo fcinfo, int o, int part, int nparts)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Walk	   *w;
	char	   *mode;
	char	   *query;
	int			r;
	int64		total = 0;
	bool		train = false;
	bool		goldens = false;
	MemoryContext work,
				old;

	for (r = 0; r < 7; r++)
		if (PG_ARGISNULL(o + r))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument %d of _match_walk must not be null", o + r + 1)));
	InitMaterializedSRF(fcinfo, 0);
	w = palloc0(sizeof(Walk));
	w->part = part;
	w->nparts = nparts;
	w->rate = 1.0;
	w->ts = rsinfo->setResult;
	w->tupdesc = rsinfo->setDesc;
	if (w->tupdesc->natts != WALK_NCOLS)
		elog(ERROR, "_match_walk must be declared with %d result columns", WALK_NCOLS);
	mode = text_to_cstring(PG_GETARG_TEXT_PP(o));
	if (strcmp(mode, "score") == 0)
		w->mode = WALK_SCORE;
	else if (strcmp(mode, "run") == 0)
	{
		/* score, with the golden ids read by LoadGoldens */
		w->mode = WALK_SCORE;
		goldens = true;
	}
	else if (strcmp(mode, "count") == 0)
		w->mode = WALK_COUNT;
	else if (strcmp(mode, "patterns") == 0)
		w->mode = WALK_PATTERNS;
	else if (strcmp(mode, "sample") == 0)
		w->mode = WALK_SAMPLE;
	else if (strcmp(mode, "train") == 0)
	{
		/* sample, then patterns, over one load of the records (training) */
		w->mode = WALK_PATTERNS;
		train = true;
	}
	else if (strcmp(mode, "cross") == 0)
		w->mode = WALK_CROSS;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown matching walk mode \"%s\"", mode)));
	query = text_to_cstring(PG_GETARG_TEXT_PP(o + 1));
	MatchDecodeProgramArray(PG_GETARG_ARRAYTYPE_P(o + 2), &w->prog);
	w->min_prob = PG_GETARG_FLOAT8(o + 4);
	w->min_weight = MatchMinWeight(w->min_prob);
	w->max_block = PG_GETARG_INT32(o + 5);

	work = AllocSetContextCreate(CurrentMemoryContext, "cdp match walk",
								 ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(work);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	LoadRecords(w, query, PG_ARGISNULL(o + 7) ? NULL : PG_GETARG_ARRAYTYPE_P(o + 7));
	if (goldens)
		LoadGoldens(w);
	w->hasfocus = false;
	for (int i = 0; i < w->nrec && !w->hasfocus; i++)
		w->hasfocus = !w->recs[i].focus;
	{
		Datum		comps = (Datum) 0;
		Datum		values = TfValues(w, !PG_ARGISNULL(o + 7), &comps);

		MatchLoadTf(&w->prog, PG_GETARG_INT32(o + 3), values, comps);
	}
	PrecomputeRecords(w);

	if (w->mode == WALK_PATTERNS || w->mode == WALK_SAMPLE)
	{
		HASHCTL		ctl;

		w->chash = MatchContentHashes(&w->prog, w->recs, w->nrec);

		ctl.keysize = sizeof(PatternKey);
		ctl.entrysize = sizeof(PatternEntry);
		ctl.hcxt = work;
		w->patterns = hash_create("cdp match patterns", 4096, &ctl,
								  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}

	if (train)
	{
		/* u's random pairs (rule -1), then the patterns walk on the same records */
		w->mode = WALK_SAMPLE;
		MatchSampleRandomPairs(&w->prog, w->recs, w->nrec, w->chash,
							   PG_GETARG_INT64(o + 6), SamplePair, w);
		w->mode = WALK_PATTERNS;
	}
	if (w->mode == WALK_SAMPLE)
		MatchSampleRandomPairs(&w->prog, w->recs, w->nrec, w->chash,
							   PG_GETARG_INT64(o + 6), SamplePair, w);
	else if (w->mode == WALK_CROSS)
	{
		int			i,
					j;

		/* every pair, or (min_prob > 0) those reaching it, as in score mode */
		if (!(w->min_prob > 0.0))
			w->min_prob = -1.0;
		for (i = 0; i < w->nrec; i++)
			for (j = i + 1; j < w->nrec; j++)
				if (w->recs[i].focus || w->recs[j].focus)
					ProcessPair(w, &w->recs[i], &w->recs[j], -1, true);
	}
	else
	{
		int64		sample = PG_GETARG_INT64(o + 6);
		int			maxg = 0;

		for (r = 0; r < w->prog.nrules; r++)
		{
			int			bi;

			total += BuildRule(w, r);
			w->skiprule[r] = ChooseSkipRule(w, r);
			for (bi = 0; bi < w->nblocks[r]; bi++)
				maxg = Max(maxg, w->blocks[r][bi + 1] - w->blocks[r][bi]);
		}
		w->gend = palloc_extended(sizeof(int32) * (Size) Max(maxg, 1), MCXT_ALLOC_HUGE);
		if (w->mode == WALK_PATTERNS)
			w->bch = MatchHugeAlloc(sizeof(uint64) * (Size) Max(maxg, 1));
		/* the same rate in every part: each sees every rule's blocks */
		if (w->mode == WALK_PATTERNS && sample > 0 && total > sample)
			w->rate = (double) sample / (double) total;

		/*
		 * a pair's draw is 52 bits, uniform (MatchPairDraw): it stands for
		 * draw * 2^-52 >= rate exactly when it is >= rate * 2^52 (exact: a
		 * power of two), rounded up: no double over 48M candidate pairs
		 */
		w->rate_min = (uint64) ceil(ldexp(w->rate, 52));
		for (r = 0; r < w->prog.nrules; r++)
			WalkRule(w, r);
	}

	MemoryContextSwitchTo(old);
	if (w->mode == WALK_PATTERNS || w->mode == WALK_SAMPLE)
	{
		HASH_SEQ_STATUS st;
		PatternEntry *e;

		hash_seq_init(&st, w->patterns);
		while ((e = hash_seq_search(&st)) != NULL)
		{
			/* the random pairs (rule -1) are all counted; blocked pairs are sampled */
			double		rate = e->key.rule < 0 ? 1.0 : w->rate;

			EmitRow(w, NULL, NULL, e->key.rule, 0, 0, e->key.lev,
					(int64) rint(e->n / rate), (int64) rint(e->nnew / rate), false);
		}
	}
	else if (w->mode == WALK_COUNT)
	{
		for (r = 0; r < w->prog.nrules; r++)
		{
			MatchRec	dummy = {0};

			/* the weight column carries the pairs of blocks over max_block */
			EmitRow(w, &dummy, &dummy, r, (double) w->nskipped[r], 0, NULL,
					w->npairs[r], w->nnew[r], true);
		}
	}
	SPI_finish();
	MemoryContextDelete(work);
}

/*
 * cdp_match_walk
 *		_match_walk(mode text, query text, program float8[], tf_version int,
 *		min_prob float8, max_block int, sample bigint, focus bigint[]):
 *		the kernel entry point (internal; the SQL functions of
 *		6*_match_*.sql call it).
 */
Datum
cdp_match_walk(PG_FUNCTION_ARGS)
{
	MatchWalkRun(fcinfo, 0, 0, 1);
	PG_RETURN_NULL();
}

/*
 * cdp_match_walk_part
 *		_match_walk_part(part int, nparts int, <the arguments of
 *		_match_walk>): the walk restricted to the blocks of one part, for
 *		one call per part in parallel workers (PARALLEL SAFE: it only reads).
 */
Datum
cdp_match_walk_part(PG_FUNCTION_ARGS)
{
	int			part,
				nparts;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("part and nparts of _match_walk_part must not be null")));
	part = PG_GETARG_INT32(0);
	nparts = PG_GETARG_INT32(1);
	if (nparts < 1 || nparts > 64 || part < 0 || part >= 64)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("part %d of %d is out of range", part, nparts),
				 errhint("Use 0 <= part < 64 and 1 <= nparts <= 64.")));

	/*
	 * a part past the last walks nothing: the callers scan every row of
	 * cdp_internal.match_part rather than only those under nparts, whose
	 * estimate, once the table is analyzed, was one row, and the planner
	 * then walked every part in one process (issue 12, session 41)
	 */
	if (part >= nparts)
	{
		InitMaterializedSRF(fcinfo, 0);
		PG_RETURN_NULL();
	}
	MatchWalkRun(fcinfo, 2, part, nparts);
	PG_RETURN_NULL();
}

