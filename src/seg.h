/*-------------------------------------------------------------------------
 *
 * src/seg.h
 *		The segment family's shared C helpers (issue 13, doc/segments.md):
 *		id-set arguments and results (src/seg_set.c), used by the event
 *		reader (src/seg_read.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef CDP_SEG_H
#define CDP_SEG_H

#include "postgres.h"

#include "fmgr.h"
#include "utils/array.h"

/* the ids of a bigint[] argument, NULLs skipped (read in place when it has none) */
extern const int64 *SegIds(FunctionCallInfo fcinfo, int argno, int *n, bool *had_nulls);

/* sorts ids ascending (radix sort; small inputs by comparisons) */
extern void SegRadixSort(int64 *ids, int n);

/* 22023 unless ids[0..n) is strictly ascending and had no NULLs */
extern void SegCheckSet(const int64 *ids, int n, bool had_nulls, int argno);

/* a bigint[] with room for n ids, then made an array of its first n by SegSetLength */
extern ArrayType *SegNewArray(int n);
extern Datum SegSetLength(ArrayType *res, int n);

#endif							/* CDP_SEG_H */
