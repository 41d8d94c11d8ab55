/*-------------------------------------------------------------------------
 *
 * src/cdp.h
 *		Declarations shared by every cdp source file: the per-concern
 *		initialisation hooks called from _PG_init and common limits.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CDP_H
#define CDP_H

#include "postgres.h"

/*
 * Longest text value (in bytes) any cdp text function accepts.  Names,
 * addresses and identifiers are far shorter; the cap keeps the quadratic
 * comparators and key builders bounded on hostile input.
 */
#define CDP_MAX_TEXT_BYTES	(64 * 1024)

/* Per-concern initialisation, one per family, called from _PG_init (cdp.c). */
extern void CdpGucInit(void);

#endif							/* CDP_H */
