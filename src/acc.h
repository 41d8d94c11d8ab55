/*-------------------------------------------------------------------------
 *
 * src/acc.h
 *		The access family (issue 15): the setting that keeps personal values
 *		out of cdp's error messages, and the keyed pseudonym (HMAC-SHA-256)
 *		behind cdp.pseudonym().  Roles, policies, masking, audit and erasure
 *		are SQL (sql/parts/91_acc_*.sql ... 94_acc_*.sql).
 *
 *-------------------------------------------------------------------------
 */
#ifndef CDP_ACC_H
#define CDP_ACC_H

#include "postgres.h"

/*
 * cdp.redact_values (PGC_SUSET, default off): when on, the errors of cdp's
 * identifier types quote neither the rejected value nor digits of it; they
 * give its length, the position of the defect and its kind instead.
 */
extern bool CdpRedactValues;

/* Registers the access family's settings; called from _PG_init (cdp.c). */
extern void AccInit(void);

/*
 * The masks (src/acc_mask.c), palloc'd NUL-terminated results for any
 * bytes s[0..len): what they cannot read is "***", never the value.
 */
extern char *AccMaskPhone(const char *s, int len);
extern char *AccMaskEmail(const char *s, int len);
extern char *AccMaskSnils(const char *s, int len);

#endif							/* CDP_ACC_H */
