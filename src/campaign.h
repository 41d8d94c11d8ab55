/*-------------------------------------------------------------------------
 *
 * src/campaign.h
 *		The campaigns family's server-free C kernels (issue 14), shared by
 *		their SQL entry points and the fuzz target test/fuzz/fuzz_campaign.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CDP_CAMPAIGN_H
#define CDP_CAMPAIGN_H

#include "postgres.h"

#include "lib/stringinfo.h"

/*
 * The value of a placeholder: its text (not NUL-terminated, *len bytes), or
 * NULL when it has none (rendered as nothing).
 */
typedef const char *(*CampLookup) (void *arg, const char *name, int namelen, int *len);

/* src/campaign_render.c: renders a template into out (see that file). */
extern void CampRender(const char *tpl, int len, CampLookup lookup, void *arg, StringInfo out);

#endif							/* CDP_CAMPAIGN_H */
