/*-------------------------------------------------------------------------
 *
 * src/cdp_compat.c
 *		C symbols that a released, frozen install script names but today's
 *		code calls otherwise.  One shared library serves every version of the
 *		extension: "CREATE EXTENSION cdp VERSION '0.1.0'" (and so every update
 *		chain that starts there) must still find each symbol its script
 *		declares.  Each entry here forwards to today's function, unchanged in
 *		behaviour; the update script re-declares the SQL function with the new
 *		symbol.  Never remove an entry while a released script names it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"

/* today's entry points (each file's PG_FUNCTION_INFO_V1 declares them) */
extern Datum cdp_match_em(PG_FUNCTION_ARGS);
extern Datum cdp_match_features(PG_FUNCTION_ARGS);
extern Datum cdp_match_link_plan(PG_FUNCTION_ARGS);
extern Datum cdp_golden_merge_plan(PG_FUNCTION_ARGS);
extern Datum cdp_match_walk(PG_FUNCTION_ARGS);
extern Datum cdp_match_walk_part(PG_FUNCTION_ARGS);

/* 0.1.0 named the internal entry points cdp__<name>; 0.2.0 has one prefix, cdp_ */
#define CDP_COMPAT_SYMBOL(old, now) \
	PG_FUNCTION_INFO_V1(old); \
	Datum old(PG_FUNCTION_ARGS) { return now(fcinfo); }

CDP_COMPAT_SYMBOL(cdp__match_em, cdp_match_em)
CDP_COMPAT_SYMBOL(cdp__match_features, cdp_match_features)
CDP_COMPAT_SYMBOL(cdp__match_link_plan, cdp_match_link_plan)
CDP_COMPAT_SYMBOL(cdp__golden_merge_plan, cdp_golden_merge_plan)
CDP_COMPAT_SYMBOL(cdp__match_walk, cdp_match_walk)
CDP_COMPAT_SYMBOL(cdp__match_walk_part, cdp_match_walk_part)
