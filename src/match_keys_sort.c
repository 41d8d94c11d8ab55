/*-------------------------------------------------------------------------
 *
 * src/match_keys_sort.c
 *		The match_block rows of a full re-key put on pages in key order
 *		(issue 12, session 33).
 *
 * After a full re-key _match_refresh_keys builds the B-tree match_block_bk
 * (bk) INCLUDE (record_id, birth_date) over 7.4M rows at 1M records; its
 * sort of rows written in record order was most of the build (about 14 s
 * of CPU of a serial build).  Written in key order instead, each part of
 * the build reads its rows already sorted, and the sort's check for sorted
 * input ends it in one pass.  The rows are sorted here once, by (bk, the
 * order they were added in): a stable sort, so the rows of one key keep
 * their order, which is the order the index holds them in (equal keys are
 * kept in heap order) and the order any scan of the rows of one key
 * returns them in.  The index and every lookup of a key read the same
 * records in the same order as before; only the order of the heap pages
 * across keys changes.
 *
 * The rows are held in memory until the scan ends: 32 bytes a row plus its
 * key's bytes (about 380 MB at 1M records).  When they would pass
 * maintenance_work_mem, the rows held so far are written in the order they
 * were added and the rest follow unsorted as they come: the same rows, and
 * the same order within each key, only the build is not shortened.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "port/pg_bswap.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/memutils.h"

#include "cdp_bulk.h"
#include "match_keys_sort.h"

/* the keys' bytes are kept in chunks of this size; a key never spans two */
#define KS_CHUNK_BITS	20
#define KS_CHUNK_SIZE	((Size) 1 << KS_CHUNK_BITS)

/* rows held before the first growth of the row array */
#define KS_INITIAL_ROWS	65536

/* the date is NULL (in len) */
#define KS_DATE_NULL	0x80000000U

/* rows written at a time from the sorted array (their text values live until then) */
#define KS_WRITE_ROWS	1000

/*
 * One held row: its key's first 8 bytes (big-endian, zero padded: compared
 * as an unsigned integer they order as the bytes do), the key's place in the
 * chunks (chunk << KS_CHUNK_BITS | offset: growing with each row added, so
 * it is also the row's place in the order of adding), its length (with
 * KS_DATE_NULL), record id and birth date.
 */
typedef struct KeysSortRow
{
	uint64		prefix;
	uint64		pos;
	int64		record_id;
	uint32		len;
	DateADT		birth_date;
} KeysSortRow;

struct KeysSort
{
	MemoryContext cxt;
	KeysSortRow *rows;
	Size		nrows;
	Size		maxrows;
	char	  **chunks;
	int			nchunks;
	int			maxchunks;
	Size		used;			/* bytes used of the last chunk */
	Size		budget;			/* bytes the rows may take (maintenance_work_mem) */
	bool		streaming;		/* over the budget: rows go on pages as they come */
	EState	   *estate;
	CdpBulkTarget *target;
};

/* the bytes of a held row's key */
static inline const char *
KeysSortBytes(const KeysSort *ks, const KeysSortRow *r)
{
	return ks->chunks[r->pos >> KS_CHUNK_BITS] + (r->pos & (KS_CHUNK_SIZE - 1));
}

/*
 * The key order of two rows: bytes as the "C" collation compares text
 * (memcmp over the shorter, then the shorter first), then the order they
 * were added in.  The chunks are reached through a file-level pointer set
 * for the sort (sort_template.h takes no argument).
 */
static const KeysSort *sort_ks;

static inline int
KeysSortCmp(const KeysSortRow *a, const KeysSortRow *b)
{
	uint32		la,
				lb;
	int			c;

	if (a->prefix != b->prefix)
		return a->prefix < b->prefix ? -1 : 1;
	la = a->len & ~KS_DATE_NULL;
	lb = b->len & ~KS_DATE_NULL;
	if (la > 8 && lb > 8)
	{
		c = memcmp(KeysSortBytes(sort_ks, a) + 8, KeysSortBytes(sort_ks, b) + 8, Min(la, lb) - 8);
		if (c != 0)
			return c;
	}
	if (la != lb)
		return la < lb ? -1 : 1;
	return a->pos < b->pos ? -1 : (a->pos > b->pos ? 1 : 0);
}

#define ST_SORT KeysSortQsort
#define ST_ELEMENT_TYPE KeysSortRow
#define ST_COMPARE(a, b) KeysSortCmp(a, b)
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

/*
 * KeysSortBegin
 *		Rows for target (match_block: bk, record_id, birth_date) of estate,
 *		held in a context under the current one until KeysSortEnd.
 */
KeysSort *
KeysSortBegin(EState *estate, CdpBulkTarget *target)
{
	KeysSort   *ks = palloc0(sizeof(KeysSort));

	ks->cxt = AllocSetContextCreate(CurrentMemoryContext, "cdp match_block rows in key order",
									ALLOCSET_DEFAULT_SIZES);
	ks->estate = estate;
	ks->target = target;
	ks->budget = (Size) maintenance_work_mem * 1024;
	return ks;
}

/* puts one row on pages (through the bulk target; flushed by the caller) */
static void
KeysSortPut(KeysSort *ks, const char *key, uint32 len, int64 record_id, DateADT date, bool date_null)
{
	Datum		v[3];
	bool		n[3] = {false, false, date_null};

	v[0] = PointerGetDatum(cstring_to_text_with_len(key, len));
	v[1] = Int64GetDatum(record_id);
	v[2] = DateADTGetDatum(date);
	(void) CdpBulkAdd(ks->estate, ks->target, v, n);
}

/*
 * KeysSortFlushHeld
 *		Writes the held rows in the order given (their text values made in a
 *		context reset after each group on pages) and frees them.
 */
static void
KeysSortFlushHeld(KeysSort *ks)
{
	MemoryContext tmp = AllocSetContextCreate(ks->cxt, "cdp match_block rows written",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(tmp);

	for (Size i = 0; i < ks->nrows; i++)
	{
		const KeysSortRow *r = &ks->rows[i];

		CHECK_FOR_INTERRUPTS();
		KeysSortPut(ks, KeysSortBytes(ks, r), r->len & ~KS_DATE_NULL, r->record_id, r->birth_date,
					(r->len & KS_DATE_NULL) != 0);
		if ((i + 1) % KS_WRITE_ROWS == 0)
		{
			CdpBulkFlush(ks->estate, ks->target);
			MemoryContextReset(tmp);
		}
	}
	CdpBulkFlush(ks->estate, ks->target);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(tmp);
	ks->nrows = 0;
	ks->rows = NULL;
	ks->chunks = NULL;
	ks->nchunks = 0;
	MemoryContextReset(ks->cxt);
}

/* the bytes held rows and keys take with maxrows rows */
static inline Size
KeysSortSize(const KeysSort *ks, Size maxrows)
{
	return add_size(mul_size(maxrows, sizeof(KeysSortRow)), mul_size(ks->nchunks + 1, KS_CHUNK_SIZE));
}

/*
 * KeysSortAdd
 *		Adds the match_block row (key of len bytes, record_id, date) to be
 *		written in key order; once the rows would pass maintenance_work_mem,
 *		writes the held ones in the order added and this one and the next
 *		as they come (the caller flushes the target before it frees what
 *		the values point to).
 */
void
KeysSortAdd(KeysSort *ks, const char *key, Size len, int64 record_id, DateADT date, bool date_null)
{
	KeysSortRow *r;

	if (len >= KS_CHUNK_SIZE)
		ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						errmsg("blocking key of %zu bytes is too long", len)));
	if (!ks->streaming && ks->nrows == ks->maxrows)
	{
		Size		grow = ks->maxrows == 0 ? KS_INITIAL_ROWS : ks->maxrows * 2;

		if (KeysSortSize(ks, grow) > ks->budget)
		{
			/* over the budget: the held rows in the order added, then the rest as they come */
			KeysSortFlushHeld(ks);
			ks->streaming = true;
		}
		else
			ks->rows = ks->rows == NULL
				? MemoryContextAllocHuge(ks->cxt, grow * sizeof(KeysSortRow))
				: repalloc_huge(ks->rows, grow * sizeof(KeysSortRow));
		ks->maxrows = grow;
	}
	if (!ks->streaming && (ks->nchunks == 0 || ks->used + len > KS_CHUNK_SIZE))
	{
		if (KeysSortSize(ks, ks->maxrows) > ks->budget)
		{
			KeysSortFlushHeld(ks);
			ks->streaming = true;
		}
		else
		{
			if (ks->nchunks == ks->maxchunks)
			{
				ks->maxchunks = Max(64, ks->maxchunks * 2);
				ks->chunks = ks->chunks == NULL
					? MemoryContextAlloc(ks->cxt, ks->maxchunks * sizeof(char *))
					: repalloc(ks->chunks, ks->maxchunks * sizeof(char *));
			}
			ks->chunks[ks->nchunks++] = MemoryContextAllocHuge(ks->cxt, KS_CHUNK_SIZE);
			ks->used = 0;
		}
	}
	if (ks->streaming)
	{
		KeysSortPut(ks, key, (uint32) len, record_id, date, date_null);
		return;
	}
	r = &ks->rows[ks->nrows++];
	r->pos = ((uint64) (ks->nchunks - 1) << KS_CHUNK_BITS) | ks->used;
	memcpy(ks->chunks[ks->nchunks - 1] + ks->used, key, len);
	ks->used += len;
	{
		uint8		p[8] = {0};

		memcpy(p, key, Min(len, 8));
		memcpy(&r->prefix, p, 8);
		r->prefix = pg_ntoh64(r->prefix);
	}
	r->len = (uint32) len | (date_null ? KS_DATE_NULL : 0);
	r->record_id = record_id;
	r->birth_date = date_null ? 0 : date;
}

/*
 * KeysSortEnd
 *		Sorts the held rows by key (stable) and writes them; frees all.
 */
void
KeysSortEnd(KeysSort *ks)
{
	if (ks->nrows > 1)
	{
		sort_ks = ks;
		KeysSortQsort(ks->rows, ks->nrows);
		sort_ks = NULL;
	}
	if (ks->nrows > 0)
		KeysSortFlushHeld(ks);
	CdpBulkFlush(ks->estate, ks->target);
	MemoryContextDelete(ks->cxt);
	pfree(ks);
}
