/*-------------------------------------------------------------------------
 *
 * src/campaign_hash.c
 *		cdp_internal.campaign_hash(campaign_id, golden_id): the number in
 *		[0, 1) a campaign's holdout and A/B arms are cut from (issue 14).
 *
 * One definition for the per-member path (campaign_decide, through
 * campaign_arm) and the set-based listing (campaign_list_set), which wrote
 * the formula out inline before: an SQL function with SET search_path is
 * not inlined, and the listing calls it once per member.  The value is the
 * one the former SQL definition gave, bit for bit:
 *
 *   (hashtextextended(campaign_id::text || ':' || golden_id::text, 0)::float8
 *	  + 9223372036854775808.0) / 18446744073709551616.0
 *
 * hashtextextended of a text under a deterministic collation (every
 * database default in PostgreSQL 15) is hash_any_extended of its bytes; the
 * int8 is converted to float8 and the two constants (2^63, 2^64) are exact
 * in float8, as the SQL expression's numeric constants became.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "fmgr.h"

/*
 * cdp_campaign_hash
 *		campaign_hash(campaign_id bigint, golden_id bigint) RETURNS float8,
 *		STRICT: see the file header.
 */
PG_FUNCTION_INFO_V1(cdp_campaign_hash);
Datum
cdp_campaign_hash(PG_FUNCTION_ARGS)
{
	int64		campaign = PG_GETARG_INT64(0);
	int64		golden = PG_GETARG_INT64(1);
	char		buf[2 * 21 + 2];	/* two int8 texts, ':' and NUL */
	int			len;
	int64		h;

	len = snprintf(buf, sizeof(buf), INT64_FORMAT ":" INT64_FORMAT, campaign, golden);
	h = DatumGetInt64(hash_any_extended((const unsigned char *) buf, len, 0));
	PG_RETURN_FLOAT8(((float8) h + 9223372036854775808.0) / 18446744073709551616.0);
}
