/*-------------------------------------------------------------------------
 *
 * src/golden.h
 *		Golden family (layer 7): golden records, survivorship and merges.
 *
 * The family's C code is two SQL kernels, each a pure function of its
 * arguments: cdp.golden_fold (golden_fold.c), the survivorship fold of one
 * person's records into a profile, and cdp._golden_merge_plan
 * (golden_merge.c), the merges a batch of links makes.  Both are called
 * from SQL (sql/parts/7*_golden*.sql), never from another family's C code;
 * this header holds what the SQL and the C agree on.  The merge plan runs
 * on the matching family's union-find over golden ids (match.h).
 *
 *-------------------------------------------------------------------------
 */
#ifndef GOLDEN_H
#define GOLDEN_H

#include "postgres.h"

/*
 * The outcome column of cdp._golden_merge_plan, one row per link in the
 * order given (cdp.link_records_many reads these letters).
 */
#define GOLDEN_MERGE_SAME		's' /* the two are one person by then */
#define GOLDEN_MERGE_NO_MATCH	'n' /* a no_match decision joins the grown
									 * persons: the link is refused */
#define GOLDEN_MERGE_MERGE		'm' /* gone merges into keep */

#endif							/* GOLDEN_H */
