/*-------------------------------------------------------------------------
 *
 * src/idx.h
 *		The fuzzy-name index family (layer 4): the key set of a name, the
 *		similarity defined on it, and the GIN operator class name_gin_ops.
 *
 * A name is reduced to one cross-script Latin key (CdpNameKey, text family)
 * and cut into words; each word is keyed by its hash and the hashes of its
 * one-character deletions (and so is its normalised spelling), so two words
 * one edit apart share a key.  Name similarity is a weighted Jaccard index
 * over words matched this way, so the GIN index (which stores the same int4
 * keys, plus anchored pair keys that carry the row's length) can bound it
 * from the number of query words with a shared key and the row's word
 * count, and its re-check computes exactly what a sequential scan computes.
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
#define IDX_DEFAULT_THRESHOLD		0.55

/* The threshold of the % operator (GUC cdp.name_similarity_threshold). */
extern double IdxSimilarityThreshold;

/*
 * Limits of the key builder, so a hostile 64 kB "name" costs bounded work:
 * only the first IDX_MAX_WORDS words of a name key are compared, and only
 * the first IDX_MAX_WORD_CHARS characters of each word.
 */
#define IDX_MAX_WORDS				16
#define IDX_MAX_WORD_CHARS			48

/* weight of a word pair that is one edit apart (an equal pair weighs 1) */
#define IDX_EDIT_WEIGHT				0.75f

/*
 * What name_distance (<->) adds, beside 1 - similarity, when the two names
 * are not spelt alike (their normalised spellings differ), so among names
 * equally similar the one written as asked comes first (session 24).  Far
 * below the smallest gap between two similarities (W / U with W a multiple
 * of 1/4 and U <= 2 * IDX_MAX_WORDS: above 1e-4), far above float4 rounding
 * of 1 - similarity (6e-8).
 */
#define IDX_SPELLING_TIE			1e-6f

/*
 * Anchored pairs (issue 18).  "a % b" with two or more paired words also
 * needs an anchor: a word of a equal to a word of b, and another word of a
 * beginning like another word of b, all among the first IDX_PAIR_WORDS
 * words of each name.  Two words begin alike when the one-character
 * deletions of their first IDX_PREFIX_CHARS characters (name key; the
 * whole word and its deletions when shorter) share one: so one edit among
 * the first letters (Мария / Мраия / Марья) still begins alike.  A word's
 * prefix variants are those of its name key and of its normalised spelling
 * (as its keys are), so two words sharing a key always begin alike.  The index
 * stores one pair key per (anchor word, prefix variant of another word), so
 * it finds such rows through a few short posting lists instead of the
 * union of common words' lists.
 */
#define IDX_PAIR_WORDS				6
#define IDX_PREFIX_CHARS			4
#define IDX_PREFIX_VARIANTS			4	/* at most, per word */

/*
 * The keys of a name.  Word w owns keys[wstart[w] .. wstart[w + 1] - 1],
 * sorted and unique within the word: the hash of the word itself and the
 * hash of each one-character deletion of it, in the name key and in the
 * normalised spelling.  whash[w] is the hash of the
 * word itself and pvar[w * IDX_PREFIX_VARIANTS ..] the npvar[w] hashes of
 * its prefix variants (both in the name key, see above).  All arrays are
 * palloc'd in one memory context.
 */
typedef struct IdxName
{
	int32		spelling;		/* hash of the normalised name (IdxNameBuild) */
	int			nwords;
	int			nkeys;
	int32	   *keys;
	int		   *wstart;
	int32	   *whash;
	int32	   *pvar;
	int		   *npvar;
	/*
	 * false after IdxNameBuildLazy until IdxNameEnsureKeys: whash, pvar and
	 * spelling are set, keys and wstart not yet (keystr and normstr hold the
	 * name key and the normalised spelling to build them from)
	 */
	bool		haskeys;
	char	   *keystr;
	char	   *normstr;
} IdxName;

extern void IdxInit(void);
extern void IdxNameBuild(const char *s, int len, IdxName *out);
extern void IdxNameBuildLazy(const char *s, int len, IdxName *out);
extern void IdxNameEnsureKeys(IdxName *n);
extern int32 *IdxNameUnionKeys(const IdxName *n, int *nkeys);
extern float4 IdxNameSimilarity(const IdxName *a, const IdxName *b);
extern float4 IdxNameMatch(const IdxName *a, const IdxName *b, int *npairs);
extern int	IdxNameCover(const IdxName *a, const IdxName *b);
extern bool IdxNameSelfAlike(const IdxName *n);
extern bool IdxPassesBound(int nmatch, int nwords, int nrow);
extern bool IdxNameSimilar(const IdxName *a, const IdxName *b);
extern int32 IdxPairKey(int32 anchor, int32 prefix, int bucket);
extern int32 IdxSingleKey(int32 key);

#endif							/* CDP_IDX_H */
