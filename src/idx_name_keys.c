/*-------------------------------------------------------------------------
 *
 * src/idx_name_keys.c
 *		The key set of a name and the name similarity built on it: the SQL
 *		functions name_similarity, name_index_keys, the operators % and <->,
 *		and the GUC cdp.name_similarity_threshold.
 *
 * Keys.  The name is first mapped to one cross-script Latin key by
 * CdpNameKey (text family), so «Иванова Мария», «Ivanova Mariia» and
 * «IVANOVA MARIA» get equal or near keys.  The key is cut into words (runs
 * of ASCII letters and digits, or of any multibyte character), each word is
 * padded with two spaces in front and one behind, as pg_trgm does, and every
 * three consecutive characters form one trigram.  A trigram of three
 * one-byte characters is packed exactly into the low 24 bits of an int4;
 * any other trigram is hashed into [2^24, 2^30).  The keys are sorted and
 * made unique.
 *
 * Similarity is the Jaccard index |A ∩ B| / |A ∪ B| of two key sets, 0 when
 * either set is empty.  Because the GIN index stores these very int4 keys,
 * its re-check and a sequential scan compute the same number, hash
 * collisions included, and index results equal a sequential scan's.
 *
 * Sources: trigram similarity as in PostgreSQL contrib/pg_trgm (trgm_op.c,
 * padding and the Jaccard form); q-gram blocking in Christen, "Data
 * Matching" (Springer 2012), ch. 4.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "cdp.h"
#include "idx.h"

double		IdxSimilarityThreshold = IDX_DEFAULT_THRESHOLD;

/* The one-entry cache of the last column value's key set (see below). */
static MemoryContext IdxCacheContext = NULL;
static bool IdxCacheValid = false;
static char *IdxCacheInput = NULL;
static int	IdxCacheInputLen = 0;
static IdxKeySet IdxCacheKeys;

/* The per-call-site cache of a (usually constant) query argument. */
typedef struct IdxQueryCache
{
	char	   *input;
	int			len;
	IdxKeySet	keys;
} IdxQueryCache;

/*
 * IdxInit
 *		Defines the GUCs of the index family; called from _PG_init.
 */
void
IdxInit(void)
{
	DefineCustomRealVariable("cdp.name_similarity_threshold",
							 "Sets the name similarity at or above which the cdp.% operator is true.",
							 "The similarity is cdp.name_similarity(a, b); the default was chosen by test/bench/name_lookup.sh.",
							 &IdxSimilarityThreshold,
							 IDX_DEFAULT_THRESHOLD,
							 0.0,
							 1.0,
							 PGC_USERSET,
							 0,
							 NULL,
							 NULL,
							 NULL);
}

/*
 * IdxCheckInput
 *		Refuses names the key builder must not see: over the cdp length cap,
 *		or in a database whose encoding is not UTF-8 (CdpNameKey reads UTF-8).
 */
static void
IdxCheckInput(const char *s, int len)
{
	if (GetDatabaseEncoding() != PG_UTF8)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cdp name similarity requires a UTF-8 database"),
				 errdetail("The database encoding is \"%s\".", GetDatabaseEncodingName()),
				 errhint("Create the database with ENCODING 'UTF8'.")));
	if (len > CDP_MAX_TEXT_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("name is too long for cdp name similarity"),
				 errdetail("The name has %d bytes; the limit is %d bytes.", len, CDP_MAX_TEXT_BYTES),
				 errhint("Compare names, not documents: pass at most %d bytes.", CDP_MAX_TEXT_BYTES)));
	/* stored text is already valid; this guards values built in C callers */
	(void) pg_verify_mbstr(PG_UTF8, s, len, false);
}

/*
 * IdxCompareInt32
 *		qsort comparator for int32 keys.
 */
static int
IdxCompareInt32(const void *a, const void *b)
{
	int32		x = *(const int32 *) a;
	int32		y = *(const int32 *) b;

	return (x > y) - (x < y);
}

/*
 * IdxIsWordChar
 *		True when the character starting at p belongs to a word of the key:
 *		an ASCII letter or digit, or any multibyte character.
 */
static inline bool
IdxIsWordChar(const char *p)
{
	unsigned char c = (unsigned char) *p;

	if (c >= 0x80)
		return true;
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/*
 * IdxTrigramKey
 *		The int4 key of one trigram given as three characters (start and
 *		byte length of each).  Three one-byte characters are packed exactly
 *		below 2^24; anything else is hashed into [2^24, 2^30).
 */
static int32
IdxTrigramKey(const char *c[3], const int l[3])
{
	char		buf[3 * MAX_MULTIBYTE_CHAR_LEN];
	int			n = 0;
	int			i;

	if (l[0] == 1 && l[1] == 1 && l[2] == 1)
		return ((int32) (unsigned char) c[0][0] << 16) |
			((int32) (unsigned char) c[1][0] << 8) |
			(int32) (unsigned char) c[2][0];
	for (i = 0; i < 3; i++)
	{
		memcpy(buf + n, c[i], l[i]);
		n += l[i];
	}
	return (int32) ((hash_bytes((const unsigned char *) buf, n) & 0x3FFFFFFF) | 0x01000000);
}

/*
 * IdxKeyStringToSet
 *		Cuts a name key (UTF-8, NUL-terminated) into padded word trigrams and
 *		returns them sorted and unique in *out (palloc'd in the current
 *		memory context).
 */
static void
IdxKeyStringToSet(const char *key, IdxKeySet *out)
{
	static const char space[] = " ";
	int			keylen = strlen(key);
	int32	   *keys;
	int			n = 0;
	const char *p = key;
	const char *end = key + keylen;

	/*
	 * A word of w characters gives w + 2 trigrams (two padding spaces in
	 * front, one behind), and w <= its byte length, so keylen * 3 + 3 bounds
	 * the count; keylen is capped at CDP_MAX_TEXT_BYTES-ish sizes, far from
	 * overflow.
	 */
	keys = (int32 *) palloc(sizeof(int32) * ((Size) keylen * 3 + 3));
	while (p < end)
	{
		const char *c[3];
		int			l[3];

		if (!IdxIsWordChar(p))
		{
			p += pg_utf_mblen((const unsigned char *) p);
			continue;
		}
		/* a word starts at p: slide a window of three characters over it */
		c[0] = space;
		l[0] = 1;
		c[1] = space;
		l[1] = 1;
		while (p < end && IdxIsWordChar(p))
		{
			int			ml = pg_utf_mblen((const unsigned char *) p);

			if (ml > end - p)
				ml = end - p;
			c[2] = p;
			l[2] = ml;
			keys[n++] = IdxTrigramKey(c, l);
			c[0] = c[1];
			l[0] = l[1];
			c[1] = c[2];
			l[1] = l[2];
			p += ml;
		}
		c[2] = space;
		l[2] = 1;
		keys[n++] = IdxTrigramKey(c, l);
	}

	if (n > 1)
	{
		int			i,
					j;

		qsort(keys, n, sizeof(int32), IdxCompareInt32);
		for (i = 1, j = 1; i < n; i++)
			if (keys[i] != keys[j - 1])
				keys[j++] = keys[i];
		n = j;
	}
	out->nkeys = n;
	out->keys = keys;
}

/* ---------------------------------------------------------------------
 * TEMPORARY: stands in for CdpNameKey until the text family's branch is
 * merged.  Lower case only; it does not map Cyrillic and Latin spellings
 * together.  Must not ship: replace the call in IdxNameKeySet.
 * ---------------------------------------------------------------------
 */
#include "catalog/pg_collation.h"
#include "utils/formatting.h"
static char *
IdxTemporaryNameKey(const char *s, int len)
{
	return str_tolower(s, len, DEFAULT_COLLATION_OID);
}

/*
 * IdxNameKeySet
 *		The key set of a name given as UTF-8 bytes with explicit length;
 *		results in the current memory context.
 */
void
IdxNameKeySet(const char *s, int len, IdxKeySet *out)
{
	char	   *key;

	IdxCheckInput(s, len);
	key = IdxTemporaryNameKey(s, len);
	IdxKeyStringToSet(key, out);
	pfree(key);
}

/*
 * IdxNameKeySetCached
 *		The key set of a text datum through a one-entry cache.  A filtered
 *		scan first evaluates "name % q" and then "name <-> q" on the same
 *		row, so remembering the last column value halves the key work.  The
 *		result belongs to the cache: valid until the next call, never pfree'd.
 */
const IdxKeySet *
IdxNameKeySetCached(text *t)
{
	const char *s = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t);
	MemoryContext old;

	if (IdxCacheValid && IdxCacheInputLen == len &&
		memcmp(IdxCacheInput, s, len) == 0)
		return &IdxCacheKeys;

	if (IdxCacheContext == NULL)
		IdxCacheContext = AllocSetContextCreate(TopMemoryContext,
												"cdp name key cache",
												ALLOCSET_SMALL_SIZES);
	/* invalid until fully rebuilt, so an error half-way leaves no stale entry */
	IdxCacheValid = false;
	MemoryContextReset(IdxCacheContext);
	old = MemoryContextSwitchTo(IdxCacheContext);
	IdxNameKeySet(s, len, &IdxCacheKeys);
	IdxCacheInput = palloc(len + 1);
	memcpy(IdxCacheInput, s, len);
	IdxCacheInputLen = len;
	MemoryContextSwitchTo(old);
	IdxCacheValid = true;
	return &IdxCacheKeys;
}

/*
 * IdxQueryKeySet
 *		The key set of the argument a call site sees over and over (the
 *		query constant), kept in fn_extra and rebuilt only when it changes.
 */
static const IdxKeySet *
IdxQueryKeySet(FunctionCallInfo fcinfo, text *t)
{
	IdxQueryCache *qc = (IdxQueryCache *) fcinfo->flinfo->fn_extra;
	const char *s = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t);
	MemoryContext old;

	if (qc != NULL && qc->len == len && memcmp(qc->input, s, len) == 0)
		return &qc->keys;

	if (qc == NULL)
	{
		qc = (IdxQueryCache *) MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt,
													  sizeof(IdxQueryCache));
		fcinfo->flinfo->fn_extra = qc;
	}
	else
	{
		if (qc->input)
			pfree(qc->input);
		if (qc->keys.keys)
			pfree(qc->keys.keys);
	}
	/* empty until fully rebuilt, so an error half-way leaves no stale entry */
	qc->input = NULL;
	qc->keys.keys = NULL;
	qc->keys.nkeys = 0;
	qc->len = -1;

	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	IdxNameKeySet(s, len, &qc->keys);
	qc->input = palloc(len + 1);
	memcpy(qc->input, s, len);
	qc->len = len;
	MemoryContextSwitchTo(old);
	return &qc->keys;
}

/*
 * IdxKeySetSimilarity
 *		Jaccard index of two sorted, unique key sets; 0 when either is empty.
 *		The GIN consistent function relies on this exact float4 form.
 */
float4
IdxKeySetSimilarity(const IdxKeySet *a, const IdxKeySet *b)
{
	int			i = 0,
				j = 0,
				common = 0;

	if (a->nkeys == 0 || b->nkeys == 0)
		return 0.0f;
	while (i < a->nkeys && j < b->nkeys)
	{
		if (a->keys[i] < b->keys[j])
			i++;
		else if (a->keys[i] > b->keys[j])
			j++;
		else
		{
			common++;
			i++;
			j++;
		}
	}
	return (float4) common / (float4) (a->nkeys + b->nkeys - common);
}

/*
 * IdxSimilarityOfArgs
 *		name_similarity of the two text arguments of an SQL call: the first
 *		(usually the column) through the one-entry cache, the second (usually
 *		the query) through fn_extra.
 */
static float4
IdxSimilarityOfArgs(FunctionCallInfo fcinfo)
{
	text	   *a = PG_GETARG_TEXT_PP(0);
	text	   *b = PG_GETARG_TEXT_PP(1);
	const IdxKeySet *kb = IdxQueryKeySet(fcinfo, b);
	const IdxKeySet *ka = IdxNameKeySetCached(a);

	return IdxKeySetSimilarity(ka, kb);
}

PG_FUNCTION_INFO_V1(cdp_name_similarity);

/*
 * cdp_name_similarity
 *		name_similarity(text, text) -> real in [0, 1]
 */
Datum
cdp_name_similarity(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT4(IdxSimilarityOfArgs(fcinfo));
}

PG_FUNCTION_INFO_V1(cdp_name_distance);

/*
 * cdp_name_distance
 *		The <-> operator: 1 - name_similarity.
 */
Datum
cdp_name_distance(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT4(1.0f - IdxSimilarityOfArgs(fcinfo));
}

PG_FUNCTION_INFO_V1(cdp_name_similar);

/*
 * cdp_name_similar
 *		The % operator: similarity at or above cdp.name_similarity_threshold,
 *		and never true for two names that share no key (so a zero threshold
 *		still agrees with the GIN index, which only sees shared keys).
 */
Datum
cdp_name_similar(PG_FUNCTION_ARGS)
{
	float4		sim = IdxSimilarityOfArgs(fcinfo);

	PG_RETURN_BOOL(sim > 0.0f && sim >= (float4) IdxSimilarityThreshold);
}

PG_FUNCTION_INFO_V1(cdp_name_index_keys);

/*
 * cdp_name_index_keys
 *		name_index_keys(text) -> int4[]: the sorted key set the index stores,
 *		for inspecting why two names are or are not similar.
 */
Datum
cdp_name_index_keys(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	IdxKeySet	ks;
	Datum	   *d;
	int			i;

	IdxNameKeySet(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &ks);
	d = (Datum *) palloc(sizeof(Datum) * (ks.nkeys + 1));
	for (i = 0; i < ks.nkeys; i++)
		d[i] = Int32GetDatum(ks.keys[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(d, ks.nkeys, INT4OID, sizeof(int32), true, TYPALIGN_INT));
}
