/*-------------------------------------------------------------------------
 *
 * src/idx.h
 *		The fuzzy-name index family (layer 4): the key set of a name, the
 *		similarity defined on it, and the GIN operator class name_gin_ops.
 *
 * A name is reduced to one cross-script Latin key (CdpNameKey, text family);
 * the key's words are cut into padded trigrams, each packed into an int4.
 * Name similarity is the Jaccard index of two such key sets, so the GIN
 * index (which stores the same int4 keys) can bound it from the number of
 * shared keys alone, and its re-check computes exactly what a sequential
 * scan computes.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CDP_IDX_H
#define CDP_IDX_H

#include "postgres.h"

/*
 * Strategy numbers of name_gin_ops; they must match the OPERATOR lines of
 * the CREATE OPERATOR CLASS in sql/parts/40_index.sql.
 */
#define IDX_SIMILAR_STRATEGY		1	/* text % text: similarity >= threshold */

/*
 * GIN support function numbers used by name_gin_ops (the standard GIN
 * numbering; listed here so the SQL and the C agree in one place).
 */
#define IDX_GIN_COMPARE_PROC		1	/* pg_catalog.btint4cmp */
#define IDX_GIN_EXTRACT_VALUE_PROC	2	/* name_gin_extract_value */
#define IDX_GIN_EXTRACT_QUERY_PROC	3	/* name_gin_extract_query */
#define IDX_GIN_CONSISTENT_PROC		4	/* name_gin_consistent */
#define IDX_GIN_TRICONSISTENT_PROC	6	/* name_gin_triconsistent */

/* Default of cdp.name_similarity_threshold, chosen by test/bench/name_lookup.sh */
#define IDX_DEFAULT_THRESHOLD		0.3

/* The threshold of the % operator (GUC cdp.name_similarity_threshold). */
extern double IdxSimilarityThreshold;

/*
 * A name's key set: sorted, duplicate-free int4 keys.  The array lives in
 * the memory context current when IdxNameKeySet was called, except for the
 * cached copies that IdxNameKeySetCached hands out (do not pfree those).
 */
typedef struct IdxKeySet
{
	int			nkeys;
	int32	   *keys;
} IdxKeySet;

extern void IdxInit(void);
extern void IdxNameKeySet(const char *s, int len, IdxKeySet *out);
extern const IdxKeySet *IdxNameKeySetCached(text *t);
extern float4 IdxKeySetSimilarity(const IdxKeySet *a, const IdxKeySet *b);

#endif							/* CDP_IDX_H */
