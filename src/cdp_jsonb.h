/*-------------------------------------------------------------------------
 *
 * src/cdp_jsonb.h
 *		Small helpers for the C code that builds jsonb with pushJsonbValue
 *		(ingest's normalised documents, the golden fold's profiles).
 *
 *-------------------------------------------------------------------------
 */
#ifndef CDP_JSONB_H
#define CDP_JSONB_H

#include "postgres.h"

#include "utils/jsonb.h"

/*
 * CdpJsonbPushKey
 *		Pushes an object key (a NUL-terminated string).
 */
static inline void
CdpJsonbPushKey(JsonbParseState **ps, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	pushJsonbValue(ps, WJB_KEY, &k);
}

#endif							/* CDP_JSONB_H */
