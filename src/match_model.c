/*-------------------------------------------------------------------------
 *
 * src/match_model.c
 *		The model and the records as the matching kernel holds them in
 *		memory (match.h): a bump allocator for the features (one palloc per
 *		block, huge pages asked for), the program decoded from the walk's
 *		float8[] argument, the term-frequency table of a settings version
 *		loaded, a record's text arrays copied, its names decoded to code
 *		points and its per-comparison values precomputed.  The walk
 *		(match_walk.c) loads its records through these; so does the scorer of
 *		the link plan's support checks, at the end of this file, which scores
 *		records given one at a time as a 'cross' walk would.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/mman.h>

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "cdp.h"
#include "cmp.h"
#include "match.h"

#define MATCH_ARENA_BLOCK (1024 * 1024)
#define MATCH_ARENA_BLOCK_MAX (32 * 1024 * 1024)

/* an entry of a comparison's term-frequency table (MatchLoadTf) */
typedef struct TfEntry
{
	char		key[MATCH_TF_KEYLEN];
	double		freq;
} TfEntry;

/*
 * MatchAdviseHuge
 *		Asks the kernel for transparent huge pages over the 2 MB pages inside
 *		[p, p + len) (Linux, where THP is "madvise"): a walk over 1M records
 *		fills a few hundred megabytes at once, and a page fault per 4 kB page
 *		was about a tenth of loading them (issue 12, session 30).  Only a hint:
 *		an error or another system leaves the memory as it is.
 */
void
MatchAdviseHuge(void *p, Size len)
{
#if defined(MADV_HUGEPAGE)
	uintptr_t	huge = 2 * 1024 * 1024;
	uintptr_t	start = TYPEALIGN(huge, (uintptr_t) p);
	uintptr_t	end = TYPEALIGN_DOWN(huge, (uintptr_t) p + len);

	if (end > start)
		(void) madvise((void *) start, end - start, MADV_HUGEPAGE);
#endif
}

/*
 * MatchHugeAlloc
 *		palloc of a large array of the walk (per record or per rule), with
 *		huge pages asked for (MatchAdviseHuge) before it is first written.
 */
void *
MatchHugeAlloc(Size size)
{
	void	   *p = palloc_extended(size, MCXT_ALLOC_HUGE);

	if (size >= 4 * 1024 * 1024)
		MatchAdviseHuge(p, size);
	return p;
}

/*
 * ArenaBlock
 *		Starts a new block of at least size bytes: 1 MB, doubling up to
 *		MATCH_ARENA_BLOCK_MAX, so that a walk over a few records stays small
 *		and one over many uses few large blocks (huge pages, MatchAdviseHuge).
 */
static void
ArenaBlock(MatchArena *a, Size size)
{
	Size		sz;

	a->next = a->next == 0 ? MATCH_ARENA_BLOCK : Min(a->next * 2, MATCH_ARENA_BLOCK_MAX);
	sz = Max(a->next, size);
	a->cur = MemoryContextAllocHuge(a->cxt, sz);	/* MAXALIGNed */
	a->left = sz;
	if (sz >= 4 * 1024 * 1024)
		MatchAdviseHuge(a->cur, sz);
}

/*
 * MatchArenaAlloc
 *		size bytes from the arena, aligned for pointers.
 */
void *
MatchArenaAlloc(MatchArena *a, Size size)
{
	char	   *r;
	Size		pad = TYPEALIGN(sizeof(void *), (uintptr_t) a->cur) - (uintptr_t) a->cur;

	if (a->cur == NULL || size + pad > a->left)
	{
		ArenaBlock(a, size);
		pad = 0;
	}
	r = a->cur + pad;
	a->cur += pad + size;
	a->left -= pad + size;
	return r;
}

/*
 * MatchArenaStrdup
 *		Copies len bytes of s plus a NUL into the arena.
 */
char *
MatchArenaStrdup(MatchArena *a, const char *s, Size len)
{
	char	   *r;

	if (len + 1 > a->left)
		ArenaBlock(a, len + 1);
	r = a->cur;
	memcpy(r, s, len);
	r[len] = '\0';
	a->cur += len + 1;
	a->left -= len + 1;
	return r;
}

/*
 * MatchDecodeProgramArray
 *		MatchDecodeProgram over the float8[] argument of a walk.
 */
void
MatchDecodeProgramArray(ArrayType *arr, MatchProg *prog)
{
	if (ARR_NDIM(arr) != 1 || ARR_HASNULL(arr) || ARR_ELEMTYPE(arr) != FLOAT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("matching program must be a one-dimensional float8 array without nulls")));
	MatchDecodeProgram((const float8 *) ARR_DATA_PTR(arr),
					   ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr)), prog);
}

/*
 * MatchLoadTf
 *		Loads the term-frequency tables of settings version from
 *		cdp_internal.match_tf into one hash table per tf-adjusted comparison: the
 *		whole table, or (values not 0) only the rows of those values, taken
 *		as training stored them (first value, 63 characters), and the ''
 *		row of values seen once.  Either way every lookup the walk makes
 *		finds what the whole table holds.  A table already there (a lazy
 *		cross scorer's, MatchCrossLoadTf) keeps its rows and gains these.
 */
void
MatchLoadTf(MatchProg *prog, int version, Datum values, Datum comps)
{
	Datum		arg[3];
	Oid			argtypes[3] = {INT4OID, TEXTARRAYOID, INT4ARRAYOID};
	uint64		i;
	int			c;
	int			ret;
	MemoryContext cxt = CurrentMemoryContext;	/* the tables' (SPI calls
												 * return in their own) */

	/*
	 * 0.2.0 keeps the table in the private schema; a database still on 0.1.0
	 * (between a package upgrade and ALTER EXTENSION UPDATE) has it in cdp.
	 */
	const char *tf = psprintf("%s.match_tf",
							  OidIsValid(get_namespace_oid("cdp_internal", true)) ? "cdp_internal" : "cdp");

	arg[0] = Int32GetDatum(version);
	arg[1] = values;
	arg[2] = comps;
	if (values == (Datum) 0)
		ret = SPI_execute_with_args(psprintf("SELECT comp, value, freq FROM %s WHERE version = $1", tf),
									1, argtypes, arg, NULL, true, 0);
	else
		ret = SPI_execute_with_args(psprintf("SELECT t.comp, t.value, t.freq"
											 " FROM (SELECT u.c, pg_catalog.left(pg_catalog.split_part(u.v, pg_catalog.chr(%d), 1), %d) AS v"
											 "         FROM ROWS FROM (pg_catalog.unnest($3), pg_catalog.unnest($2)) u(c, v)"
											 "       UNION SELECT u.c, '' FROM pg_catalog.unnest($3) u(c)) u"
											 " JOIN %s t ON t.version = $1 AND t.comp = u.c AND t.value = u.v",
											 (int) (unsigned char) MATCH_VALUE_SEP, MATCH_TF_KEYLEN - 1, tf),
									3, argtypes, arg, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read %s", tf);
	MemoryContextSwitchTo(cxt);
	for (c = 0; c < prog->ncomp; c++)
	{
		HASHCTL		ctl;

		/* a table loaded before (a lazy scorer's earlier records) is added to */
		if (!prog->tf[c] || prog->tfhash[c] != NULL)
			continue;
		ctl.keysize = MATCH_TF_KEYLEN;
		ctl.entrysize = sizeof(TfEntry);
		ctl.hcxt = cxt;
		prog->tfhash[c] = hash_create("cdp match tf", 1024, &ctl,
									  HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	td = SPI_tuptable->tupdesc;
		bool		isnull;
		int			comp = DatumGetInt32(SPI_getbinval(tup, td, 1, &isnull));
		char	   *value;
		char		key[MATCH_TF_KEYLEN];
		TfEntry    *e;

		if (comp < 0 || comp >= prog->ncomp || prog->tfhash[comp] == NULL)
			continue;
		value = SPI_getvalue(tup, td, 2);
		if (value == NULL)
			continue;
		memset(key, 0, sizeof(key));
		strlcpy(key, value, MATCH_TF_KEYLEN);
		e = (TfEntry *) hash_search(prog->tfhash[comp], key, HASH_ENTER, NULL);
		e->freq = DatumGetFloat8(SPI_getbinval(tup, td, 3, &isnull));
	}
}

/*
 * MatchPrecomputeRecord
 *		What the scorer's per-pair bound reads of a record (issue 12,
 *		session 24), computed once here rather than per scored pair: which
 *		comparisons' values it fills (MatchRec.cmask) and, per tf-adjusted
 *		comparison, the term-frequency adjustment of its own value
 *		(MatchRec.tfadj, also used by the scorer instead of a hash look-up
 *		per pair).  The values are those MatchTfAdjustment gives, so the
 *		weights do not change.  Call once the tf tables are loaded.
 */
void
MatchPrecomputeRecord(const MatchProg *prog, MatchRec *r, double *tfadj)
{
	r->cmask = 0;
	r->tfadj = tfadj;
	for (int c = 0; c < prog->ncomp; c++)
	{
		const char *v = r->feat[prog->fidx[c]];
		bool		filled = v != NULL && *v != '\0';

		if (filled)
			r->cmask |= (uint32) 1 << c;
		if (prog->tfslot[c] >= 0)
			r->tfadj[prog->tfslot[c]] = filled ? MatchTfAdjustment(prog, c, v) : 0.0;
	}
}

/*
 * MatchCopyTextArray
 *		Copies the elements of a text[] datum into out[0..width) (NULL for
 *		missing), in the arena.  The elements are read in place (what
 *		deconstruct_array does, without its two arrays per call); a packed
 *		or compressed array is expanded in the current (per-row) context.
 */
void
MatchCopyTextArray(MatchArena *arena, Datum d, bool isnull, char **out, int width)
{
	ArrayType  *arr;
	const char *p;
	bits8	   *bitmap;
	int			bitmask = 1;
	int			n,
				i;

	for (i = 0; i < width; i++)
		out[i] = NULL;
	if (isnull)
		return;
	arr = DatumGetArrayTypeP(d);
	if (ARR_ELEMTYPE(arr) != TEXTOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("matching record query must return text arrays of features and keys")));
	n = ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr));
	p = ARR_DATA_PTR(arr);
	bitmap = ARR_NULLBITMAP(arr);
	for (i = 0; i < n && i < width; i++)
	{
		if (bitmap == NULL || (*bitmap & bitmask) != 0)
		{
			const text *t = (const text *) p;

			out[i] = MatchArenaStrdup(arena, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
			p = att_addlength_pointer(p, -1, p);
			p = (const char *) att_align_nominal(p, TYPALIGN_INT);
		}
		if (bitmap)
		{
			bitmask <<= 1;
			if (bitmask == 0x100)
			{
				bitmap++;
				bitmask = 1;
			}
		}
	}
}

/*
 * MatchDecodeRecord
 *		Decodes to code points, once, each single value (no separator, at
 *		most MATCH_DECODE_MAX_BYTES) of the columns a Jaro-Winkler level
 *		reads, so that scoring a pair does not decode names again.
 */
void
MatchDecodeRecord(const MatchProg *prog, MatchArena *arena, MatchRec *r)
{
	int			f;

	r->codes = NULL;
	r->ncodes = NULL;
	for (f = 0; f < prog->nfeat; f++)
	{
		const char *v = r->feat[f];
		int			len;
		CdpCodes	cc;

		if (!prog->jwcol[f] || v == NULL)
			continue;
		len = strlen(v);
		if (len == 0 || len > MATCH_DECODE_MAX_BYTES || memchr(v, MATCH_VALUE_SEP, len) != NULL)
			continue;
		if (r->codes == NULL)
		{
			r->codes = (int32 **) MatchArenaAlloc(arena, sizeof(int32 *) * prog->nfeat);
			r->ncodes = (int16 *) MatchArenaAlloc(arena, sizeof(int16) * prog->nfeat);
			memset(r->codes, 0, sizeof(int32 *) * prog->nfeat);
			memset(r->ncodes, 0, sizeof(int16) * prog->nfeat);
		}
		CdpDecodeUtf8(v, len, &cc);
		r->codes[f] = (int32 *) MatchArenaAlloc(arena, sizeof(int32) * Max(cc.len, 1));
		memcpy(r->codes[f], cc.c, sizeof(int32) * cc.len);
		r->ncodes[f] = (int16) cc.len;
		CdpCodesFree(&cc);
	}
}


/*
 * The scorer of a 'cross' walk over records given one at a time (issue 12,
 * session 33).  The link plan's support checks scored the pairs across two
 * persons with one _match_walk('cross') each: at 1M records thousands of
 * walks, each preparing its record query, looking its term frequencies up
 * and decoding the program again.  Here the program is decoded and the
 * term-frequency table of the version loaded once (all of it: every lookup
 * finds what a walk's lookup of its values finds, see MatchLoadTf), each record
 * is decoded once as LoadReceive decodes it, and a pair is scored as
 * ProcessPair scores it in cross mode.  A scorer of a few records (the link
 * plan of one match_record) reads instead only the rows of their values, per
 * batch (MatchCrossLoadTf): the whole table of a 1M population is 18,000
 * rows, read and hashed in 6-9 ms, most of such a call (issue 12, session 41).
 */
struct MatchCrossScorer
{
	MatchProg	prog;
	int			version;		/* the settings version of the tf rows */
	bool		lazy_tf;		/* tf rows are read per batch of records
								 * (MatchCrossLoadTf), not all at once */
	double		min_prob;		/* what a pair must reach (-1: any) */
	double		min_weight;		/* MatchMinWeight of the min_prob given */
	MatchBound	bound;
	MatchArena	arena;			/* the records */
	MemoryContext rowcxt;		/* a packed array expanded, per record */
};

/*
 * MatchCrossBegin
 *		A scorer with the program and the term frequencies of settings
 *		version, in the current memory context; pairs under min_prob are
 *		not kept (as _match_walk('cross', ..., min_prob) keeps them).  Call
 *		connected to SPI.
 */
MatchCrossScorer *
MatchCrossBegin(ArrayType *program, int version, double min_prob, bool lazy_tf)
{
	MatchCrossScorer *cs = palloc0(sizeof(MatchCrossScorer));

	MatchDecodeProgramArray(program, &cs->prog);
	cs->min_weight = MatchMinWeight(min_prob);
	/* as MatchWalkRun: cross mode keeps every pair unless min_prob > 0 */
	cs->min_prob = min_prob > 0.0 ? min_prob : -1.0;
	cs->version = version;
	cs->lazy_tf = lazy_tf && cs->prog.ntf > 0;
	if (!cs->lazy_tf)
		MatchLoadTf(&cs->prog, version, (Datum) 0, (Datum) 0);
	/* MatchLoadTf's SPI call returns in the SPI context: the scorer's own again */
	MemoryContextSwitchTo(GetMemoryChunkContext(cs));
	cs->arena.cxt = CurrentMemoryContext;
	cs->rowcxt = AllocSetContextCreate(CurrentMemoryContext, "cdp match cross row",
									   ALLOCSET_SMALL_SIZES);
	return cs;
}

/*
 * MatchCrossLoadTf
 *		For a lazy scorer (MatchCrossBegin's lazy_tf), the term-frequency
 *		rows of the values of the n records whose feature arrays are feat[]
 *		(rows of cdp_internal.match_key, before MatchCrossRecord is given
 *		them), and the '' row of every tf-adjusted comparison: what
 *		MatchPrecomputeRecord and the scorer look up of these records.  More
 *		than MATCH_TF_MAX_VALUES values read the whole table once, and the
 *		scorer stops being lazy.  Nothing for a scorer that is not lazy.
 *		Call connected to SPI; SPI_tuptable is replaced.
 */
void
MatchCrossLoadTf(MatchCrossScorer *cs, const Datum *feat, const bool *featnull, int n)
{
	const MatchProg *prog = &cs->prog;
	MemoryContext old;
	Datum	   *vals;
	Datum	   *comps;
	int			nv = 0,
				cap;

	if (!cs->lazy_tf)
		return;
	cap = prog->ncomp * (n + 1);
	vals = palloc_array(Datum, Max(cap, 1));
	comps = palloc_array(Datum, Max(cap, 1));
	for (int c = 0; c < prog->ncomp; c++)
		if (prog->tf[c])
		{
			comps[nv] = Int32GetDatum(c);
			vals[nv++] = CStringGetTextDatum("");
		}
	for (int i = 0; i < n && nv <= MATCH_TF_MAX_VALUES; i++)
	{
		Datum	   *el;
		bool	   *nulls;
		int			ne;

		if (featnull[i])
			continue;
		deconstruct_array(DatumGetArrayTypeP(feat[i]), TEXTOID, -1, false, TYPALIGN_INT, &el, &nulls, &ne);
		for (int c = 0; c < prog->ncomp; c++)
		{
			int			f = prog->fidx[c];

			if (!prog->tf[c] || f < 0 || f >= ne || nulls[f])
				continue;
			comps[nv] = Int32GetDatum(c);
			vals[nv++] = el[f];
		}
	}
	if (nv > MATCH_TF_MAX_VALUES)
	{
		cs->lazy_tf = false;
		old = MemoryContextSwitchTo(GetMemoryChunkContext(cs));
		MatchLoadTf(&cs->prog, cs->version, (Datum) 0, (Datum) 0);
	}
	else
	{
		/* the arguments in the caller's context, the tables in the scorer's */
		Datum		v = PointerGetDatum(construct_array(vals, nv, TEXTOID, -1, false, TYPALIGN_INT));
		Datum		c = PointerGetDatum(construct_array(comps, nv, INT4OID, 4, true, TYPALIGN_INT));

		old = MemoryContextSwitchTo(GetMemoryChunkContext(cs));
		MatchLoadTf(&cs->prog, cs->version, v, c);
	}
	MemoryContextSwitchTo(old);
}

/*
 * MatchCrossRecord
 *		One record (a row of cdp_internal.match_key: record_id, flags, feat,
 *		bk) as a walk loads it (LoadReceive, MatchPrecomputeRecord), kept in the
 *		scorer's memory.
 */
MatchRec *
MatchCrossRecord(MatchCrossScorer *cs, int64 id, int32 flags, Datum feat, bool featnull,
				 Datum bk, bool bknull)
{
	const MatchProg *prog = &cs->prog;
	MatchRec   *r = (MatchRec *) MatchArenaAlloc(&cs->arena, sizeof(MatchRec));
	MemoryContext old = MemoryContextSwitchTo(cs->rowcxt);

	memset(r, 0, sizeof(MatchRec));
	r->id = id;
	r->golden = id;
	r->flags = flags;
	r->focus = true;
	r->feat = (char **) MatchArenaAlloc(&cs->arena, sizeof(char *) * (prog->nfeat + prog->nrules));
	r->bk = r->feat + prog->nfeat;
	r->bkh = (uint32 *) MatchArenaAlloc(&cs->arena, sizeof(uint32) * Max(prog->nrules, 1));
	MatchCopyTextArray(&cs->arena, feat, featnull, r->feat, prog->nfeat);
	MatchCopyTextArray(&cs->arena, bk, bknull, r->bk, prog->nrules);
	for (int k = 0; k < prog->nrules; k++)
		r->bkh[k] = (r->bk[k] == NULL || r->bk[k][0] == '\0') ? 0 :
			hash_bytes((const unsigned char *) r->bk[k], strlen(r->bk[k]));
	MatchDecodeRecord(prog, &cs->arena, r);
	MemoryContextSwitchTo(old);
	MemoryContextReset(cs->rowcxt);
	MatchPrecomputeRecord(prog, r, prog->ntf > 0 ?
					 (double *) MatchArenaAlloc(&cs->arena, sizeof(double) * prog->ntf) : NULL);
	return r;
}

/*
 * MatchCrossPair
 *		Scores the pair (a first: its term frequencies weigh an agreement, as
 *		the record a walk loaded first) as ProcessPair in cross mode: whether
 *		the walk would give it as a row, with its probability and flags.
 */
bool
MatchCrossPair(MatchCrossScorer *cs, const MatchRec *a, const MatchRec *b,
			   double *probability, int32 *flags)
{
	int8		lev[MATCH_MAX_COMP];
	double		weight;
	bool		cut;

	weight = MatchScorePairBounded(&cs->prog, a, b, lev, flags, cs->min_weight, &cut, &cs->bound);
	if (cut)
		return false;
	*probability = MatchProbability(weight);
	return *probability >= cs->min_prob || (*flags & MATCH_PAIR_FORCED);
}
