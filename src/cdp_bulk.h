/*-------------------------------------------------------------------------
 *
 * src/cdp_bulk.h
 *		Bulk writes shared by the families that write many rows of a table at
 *		once from C (cdp_bulk.c): ingest's fast path (ingest_write.c) and
 *		golden's merge writer (golden_link_write.c).  A target is one table
 *		being written the way COPY FROM writes it: rows built in slots, put
 *		on pages a group at a time with table_multi_insert, index entries
 *		added after each group, column defaults and constraints evaluated as
 *		INSERT evaluates them.
 *
 * What a caller still does itself: ask CdpBulkWritable whether the table
 * may be written this way at all (and run its SQL statement instead when
 * not); CdpBulkExecutorState then makes the executor state with the range
 * table of its tables, their privileges checked.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CDP_BULK_H
#define CDP_BULK_H

#include "access/heapam.h"
#include "executor/executor.h"
#include "utils/rel.h"

/* rows of one table put on pages at a time (COPY FROM buffers up to 1000) */
#define CDP_BULK_GROUP_ROWS	1000

/*
 * How CdpIndexSortFinish puts the sorted entries into their B-trees (the
 * caller sets CdpIndexSort.mode after CdpIndexSortBegin; see cdp_bulk.c).
 */
typedef enum CdpIndexSortMode
{
	CDP_INDEX_SORT_EXECUTOR = 0,	/* as ExecInsertIndexTuples: index_insert,
									 * every unique index checked, the
									 * update's "unchanged" hint */
	CDP_INDEX_SORT_KEPT_UNCHECKED	/* golden merge: no unique check where
									 * the update kept the key, no hint,
									 * straight to _bt_doinsert */
} CdpIndexSortMode;

/*
 * The index entries of rows written to one table, added index by index in
 * each index's key order when the write ends (CdpIndexSortFinish) instead of
 * row by row in the order the rows were written (see cdp_bulk.c).
 */
typedef struct CdpIndexSort
{
	ResultRelInfo *rri;
	bool		sorted;			/* false: each row's entries go in as it is added */
	bool		update;			/* the rows are new versions of updated rows */
	CdpIndexSortMode mode;		/* how the entries go in (default: as the executor) */
	struct Tuplesortstate **sorts;	/* per index of rri: its entries (NULL: none to add) */
	bool	   *unchanged;		/* per index: the update leaves its columns alone (index_insert's hint) */
	bool	   *kept;			/* per index: the update gives the new version the old one's key */
	int64		nrows;			/* rows added */
} CdpIndexSort;

/* one table being written */
typedef struct CdpBulkTarget
{
	Relation	rel;
	ResultRelInfo *rri;
	BulkInsertState bistate;
	TupleDesc	slotdesc;		/* the slots' descriptor: an unpinned copy of rel's */
	TupleTableSlot *slots[CDP_BULK_GROUP_ROWS];
	int			nslots;			/* slots made so far */
	int			ngroup;			/* rows in the current group */
	int		   *given;			/* per attribute: index of the caller's value, or -1 */
	AttrNumber *colattr;		/* per caller's column: its attribute number */
	ExprState **defaults;		/* per attribute not given: its default, or NULL */
	bool		fire_first;		/* fire the insert triggers of the next row put on pages */
	int			ti_options;		/* table_multi_insert's options: 0, or
								 * TABLE_INSERT_FROZEN (CdpBulkFreeze) */
	CdpIndexSort *isort;		/* NULL: index entries added with each group (CdpBulkSortIndexes) */
} CdpBulkTarget;

/* one table of a bulk write, as its range table entry states it */
typedef struct CdpBulkTable
{
	Relation	rel;
	AclMode		perms;			/* the privileges the write needs: ACL_INSERT, ACL_UPDATE, ... */
	const char *const *inserted;	/* the columns it inserts (NULL: none named) */
	int			ninserted;
	const char *const *updated; /* the columns it updates (NULL: none) */
	int			nupdated;
	const char *const *selected;	/* the columns it reads to update (NULL: none) */
	int			nselected;
} CdpBulkTable;

extern Oid	CdpBulkInternalFunc(const char *name);
extern bool CdpBulkPlainTable(Relation rel);
extern bool CdpBulkWritable(Relation rel, Oid fk_refd, bool updates);
extern EState *CdpBulkExecutorState(const CdpBulkTable *tables, int ntables);
extern void CdpBulkOpen(EState *estate, CdpBulkTarget *t, Relation rel, Index rti,
						const char *const *cols, int ncols);
extern TupleTableSlot *CdpBulkAdd(EState *estate, CdpBulkTarget *t, Datum *values, bool *nulls);
extern bool CdpBulkFreeze(CdpBulkTarget *t);
extern void CdpBulkFlush(EState *estate, CdpBulkTarget *t);
extern void CdpBulkFlushTids(EState *estate, CdpBulkTarget *t, ItemPointerData *tids);
extern void CdpBulkClose(EState *estate, CdpBulkTarget *t);
extern void CdpBulkEnd(EState *estate, CdpBulkTarget *targets, int ntargets, bool end_query);
extern void CdpBulkSortIndexes(EState *estate, CdpBulkTarget *t);
extern void CdpBulkFinishIndexes(EState *estate, CdpBulkTarget *t);
extern void CdpIndexSortBegin(CdpIndexSort *s, EState *estate, ResultRelInfo *rri, bool update);
extern void CdpIndexSortAdd(CdpIndexSort *s, EState *estate, TupleTableSlot *slot);
extern void CdpIndexSortFinish(CdpIndexSort *s, EState *estate);

/* whether t's group is full (the caller may flush it and reset the group's memory) */
#define CdpBulkFull(t)	((t)->ngroup == CDP_BULK_GROUP_ROWS)

#endif							/* CDP_BULK_H */
