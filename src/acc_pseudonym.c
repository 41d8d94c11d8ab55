/*-------------------------------------------------------------------------
 *
 * src/acc_pseudonym.c
 *		The keyed pseudonym of a patient (issue 15, item 4): HMAC-SHA-256 of
 *		the golden id under a secret key, and the generator of that key.
 *
 * pgcrypto is not assumed to be installed; the server's own HMAC
 * (common/hmac.h, the one SCRAM uses) and strong random source
 * (pg_strong_random) are.  The key lives in a table of the private schema
 * that no role but the extension's owner reads (sql/parts/93_acc_mask.sql);
 * it is never a GUC, which any session could SHOW.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/cryptohash.h"
#include "common/hmac.h"
#include "common/sha2.h"
#include "fmgr.h"
#include "port.h"
#include "utils/builtins.h"

#include "acc.h"

/* key length: 32 bytes, the SHA-256 block size's half, as RFC 2104 suggests (at least L) */
#define ACC_KEY_BYTES		32
/* longest message accepted: golden ids and short labels only */
#define ACC_MAX_MESSAGE		1024

PG_FUNCTION_INFO_V1(cdp_acc_hmac);

/*
 * cdp_acc_hmac(key bytea, message text) returns bytea
 *		HMAC-SHA-256 (RFC 2104) of message under key.  STRICT; the key must be
 *		ACC_KEY_BYTES bytes and the message at most ACC_MAX_MESSAGE bytes.
 *		Errors never quote the key or the message.
 */
Datum
cdp_acc_hmac(PG_FUNCTION_ARGS)
{
	bytea	   *key = PG_GETARG_BYTEA_PP(0);
	text	   *msg = PG_GETARG_TEXT_PP(1);
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	pg_hmac_ctx *ctx;
	bytea	   *result;

	if (VARSIZE_ANY_EXHDR(key) != ACC_KEY_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid pseudonym key"),
				 errdetail("The key is %d bytes long; it must be %d.",
						   (int) VARSIZE_ANY_EXHDR(key), ACC_KEY_BYTES)));
	if (VARSIZE_ANY_EXHDR(msg) > ACC_MAX_MESSAGE)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("pseudonym input too long"),
				 errdetail("The input is %d bytes long; at most %d bytes are accepted.",
						   (int) VARSIZE_ANY_EXHDR(msg), ACC_MAX_MESSAGE)));

	ctx = pg_hmac_create(PG_SHA256);
	if (ctx == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	if (pg_hmac_init(ctx, (const uint8 *) VARDATA_ANY(key), ACC_KEY_BYTES) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) VARDATA_ANY(msg), VARSIZE_ANY_EXHDR(msg)) < 0 ||
		pg_hmac_final(ctx, digest, sizeof(digest)) < 0)
	{
		const char *why = pg_hmac_error(ctx);

		pg_hmac_free(ctx);
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute HMAC-SHA-256: %s", why)));
	}
	pg_hmac_free(ctx);

	result = (bytea *) palloc(VARHDRSZ + sizeof(digest));
	SET_VARSIZE(result, VARHDRSZ + sizeof(digest));
	memcpy(VARDATA(result), digest, sizeof(digest));
	PG_RETURN_BYTEA_P(result);
}

PG_FUNCTION_INFO_V1(cdp_acc_new_key);

/*
 * cdp_acc_new_key() returns bytea
 *		ACC_KEY_BYTES bytes from the server's strong random source.
 */
Datum
cdp_acc_new_key(PG_FUNCTION_ARGS)
{
	bytea	   *result = (bytea *) palloc(VARHDRSZ + ACC_KEY_BYTES);

	SET_VARSIZE(result, VARHDRSZ + ACC_KEY_BYTES);
	if (!pg_strong_random(VARDATA(result), ACC_KEY_BYTES))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random pseudonym key")));
	PG_RETURN_BYTEA_P(result);
}
