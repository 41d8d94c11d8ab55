/*-------------------------------------------------------------------------
 *
 * src/match_keys_sort.h
 *		The match_block rows of a full re-key written in key order
 *		(src/match_keys_sort.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MATCH_KEYS_SORT_H
#define MATCH_KEYS_SORT_H

#include "nodes/execnodes.h"
#include "utils/date.h"

#include "cdp_bulk.h"

typedef struct KeysSort KeysSort;

extern KeysSort *KeysSortBegin(EState *estate, CdpBulkTarget *target);
extern void KeysSortAdd(KeysSort *ks, const char *key, Size len, int64 record_id, DateADT date,
						bool date_null);
extern void KeysSortEnd(KeysSort *ks);

#endif							/* MATCH_KEYS_SORT_H */
