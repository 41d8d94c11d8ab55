/*-------------------------------------------------------------------------
 *
 * src/idx_name_keys.c
 *		The keys of a name and the name similarity built on them: the SQL
 *		functions name_similarity, name_distance, name_similar (operators
 *		cdp.%, cdp.<->), name_index_keys, and the GUC
 *		cdp.name_similarity_threshold.
 *
 * Keys.  The name is first mapped to one cross-script Latin key by
 * CdpNameKey (text family), so «Иванова Мария», «Ivanova Mariia» and
 * «IVANOVA MARIA» get equal or near keys.  The key is cut into words (runs
 * of ASCII letters and digits, or of any multibyte character).  A word is
 * keyed by the 32-bit hash of its bytes and by the hash of each of its
 * one-character deletions (the "deletion neighbourhood" of SymSpell and of
 * the FastSS index).  Two words within one deletion, insertion,
 * substitution or adjacent transposition of each other share at least one
 * key: «ivanov»/«ivanova», «ivannova»/«ivanova», «mariia»/«maria».  Each
 * word is keyed the same way by its merely normalised spelling too
 * (CdpNormalizeName), because the name key's folds can turn one typo into
 * two edits; see IdxNameBuild.
 *
 * Similarity.  Words are paired one to one, equal words first (weight 1),
 * then words that share a key (weight IDX_EDIT_WEIGHT).  With W the sum of
 * the weights of m pairs and na, nb the word counts,
 *		similarity = W / (na + nb - m)
 * a Jaccard index over words with fuzzy word equality: word order does not
 * matter, a missing patronymic costs one word, a typo a quarter of one.
 *
 * Why words and not trigrams: a trigram GIN index (pg_trgm's, and this
 * file's first version) must merge the posting lists of frequent trigrams
 * such as "вна" or "ова", which at 100k names cost 5-10 ms a query; a word
 * key is as selective as the word, so a query reads a few hundred postings.
 * See doc/index.md for the measurements.
 *
 * Sources: deletion neighbourhoods: Bocek, Hunt, Stiller, "Fast Similarity
 * Search in Large Dictionaries" (FastSS, 2007); Garbe, SymSpell (2012).
 * Word-level Jaccard for names: Christen, "Data Matching" (Springer 2012),
 * sec. 5.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "cdp.h"
#include "idx.h"
#include "text.h"

double		IdxSimilarityThreshold = IDX_DEFAULT_THRESHOLD;

/*
 * The cache of column values' keys (see IdxNameCached): a direct-mapped table
 * of IDX_CACHE_SLOTS entries keyed by the hash of the input bytes, all in
 * IdxCacheContext, which is reset (every slot emptied) once it holds more
 * than IDX_CACHE_BYTES.  On a name-dense population a query re-checks a few
 * thousand rows with a few hundred distinct names (session 25).
 */
#define IDX_CACHE_SLOTS			8192	/* a power of two */
#define IDX_CACHE_BYTES			(8 * 1024 * 1024)

typedef struct IdxCacheEntry
{
	uint32		hash;			/* hash_bytes of the input */
	int			len;
	char	   *input;			/* the input bytes (len of them) */
	IdxName		name;			/* IdxNameBuildLazy of the input */
} IdxCacheEntry;

static MemoryContext IdxCacheContext = NULL;
static IdxCacheEntry *IdxCacheSlots[IDX_CACHE_SLOTS];

/* The per-call-site cache of a (usually constant) query argument. */
typedef struct IdxQueryCache
{
	MemoryContext cxt;
	char	   *input;
	int			len;
	IdxName		name;
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
 *		not valid UTF-8, or in a database whose encoding is not UTF-8
 *		(CdpNameKey reads UTF-8).
 */
static void
IdxCheckInput(const char *s, int len)
{
	CdpCheckDatabaseUtf8();
	/* stored text is already valid; the UTF-8 check guards values built in C callers */
	CdpCheckInput(s, len, CDP_MAX_TEXT_BYTES, CDP_CHECK_UTF8);
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
 * IdxSortUnique
 *		Sorts n keys in place and drops duplicates; returns the new count.
 */
static int
IdxSortUnique(int32 *keys, int n)
{
	int			i,
				j;

	if (n <= 1)
		return n;
	if (n <= 32)
	{
		/* a word's keys: insertion sort beats qsort's calls (profiled in re-checks) */
		for (i = 1; i < n; i++)
		{
			int32		k = keys[i];

			for (j = i; j > 0 && keys[j - 1] > k; j--)
				keys[j] = keys[j - 1];
			keys[j] = k;
		}
	}
	else
		qsort(keys, n, sizeof(int32), IdxCompareInt32);
	for (i = 1, j = 1; i < n; i++)
		if (keys[i] != keys[j - 1])
			keys[j++] = keys[i];
	return j;
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
 * IdxHashWord
 *		The int4 key of a word given as bytes.
 */
static inline int32
IdxHashWord(const char *w, int len)
{
	return (int32) hash_bytes((const unsigned char *) w, len);
}

/*
 * IdxPrefixVariants
 *		The prefix variants of a word (UTF-8 bytes in buf, character lengths
 *		in clen): the one-character deletions of its first IDX_PREFIX_CHARS
 *		characters, plus those characters themselves when the word is
 *		shorter; sorted and unique into out (at most IDX_PREFIX_CHARS).
 *		Two words one edit apart among their first letters share a variant
 *		(a substitution, insertion, deletion or transposition at position k
 *		leaves the same string once k, or k and k + 1, are deleted); words
 *		equal in their first IDX_PREFIX_CHARS letters share all of them.
 */
static void
IdxPrefixVariants(const char *buf, const int *clen, int nchars, int32 *out, int *nout)
{
	char		del[IDX_PREFIX_CHARS * MAX_MULTIBYTE_CHAR_LEN];
	int			pc = Min(nchars, IDX_PREFIX_CHARS);
	int			plen = 0;
	int			n = 0;
	int			i,
				off;

	for (i = 0; i < pc; i++)
		plen += clen[i];
	if (pc < IDX_PREFIX_CHARS)
		out[n++] = IdxHashWord(buf, plen);
	for (i = 0, off = 0; i < pc && n < IDX_PREFIX_CHARS; off += clen[i], i++)
	{
		if (plen - clen[i] == 0)
			continue;			/* a one-letter word: the letter itself only */
		memcpy(del, buf, off);
		memcpy(del + off, buf + off + clen[i], plen - off - clen[i]);
		out[n++] = IdxHashWord(del, plen - clen[i]);
	}
	*nout = IdxSortUnique(out, n);
}

/*
 * IdxWordsBeginAlike
 *		True when word i of a and word j of b share a prefix variant.
 */
static bool
IdxWordsBeginAlike(const IdxName *a, int i, const IdxName *b, int j)
{
	const int32 *x = a->pvar + i * IDX_PREFIX_VARIANTS;
	const int32 *y = b->pvar + j * IDX_PREFIX_VARIANTS;
	int			k,
				l;

	for (k = 0; k < a->npvar[i]; k++)
		for (l = 0; l < b->npvar[j]; l++)
			if (x[k] == y[l])
				return true;
	return false;
}

/*
 * IdxNameSelfAlike
 *		True when, whichever of the first IDX_PAIR_WORDS words of a name is
 *		taken as the anchor, two of the others begin alike (Алексеев
 *		Александр Александрович): then for every anchor one word of another
 *		name beginning like both is counted twice by a cover seen from this
 *		name.  False for a name of fewer than three words.
 */
bool
IdxNameSelfAlike(const IdxName *n)
{
	int			npw = Min(n->nwords, IDX_PAIR_WORDS);
	int			a,
				i,
				j;

	if (npw < 3)
		return false;
	for (a = 0; a < npw; a++)
	{
		bool		found = false;

		for (i = 0; i < npw && !found; i++)
			for (j = i + 1; j < npw && !found; j++)
				if (i != a && j != a && IdxWordsBeginAlike(n, i, n, j))
					found = true;
		if (!found)
			return false;
	}
	return true;
}

/*
 * IdxKeyStringToName
 *		Cuts a name key (UTF-8, NUL-terminated) into at most IDX_MAX_WORDS
 *		words of at most IDX_MAX_WORD_CHARS characters and keys each word by
 *		its hash and the hashes of its one-character deletions.  Results are
 *		palloc'd in the current memory context.
 */
static void
IdxKeyStringToName(const char *key, IdxName *out, bool withkeys)
{
	const char *p = key;
	const char *end = key + strlen(key);
	int			nwords = 0;
	int			nkeys = 0;
	char		buf[IDX_MAX_WORD_CHARS * MAX_MULTIBYTE_CHAR_LEN];
	Size		maxkeys;

	/*
	 * A word of c characters (c <= its bytes) has at most c + 1 keys, so a
	 * key of b bytes has at most b + IDX_MAX_WORDS keys; the per-word caps
	 * bound it too.
	 */
	maxkeys = Min((Size) (end - key) + IDX_MAX_WORDS,
				  (Size) IDX_MAX_WORDS * (IDX_MAX_WORD_CHARS + 1));
	out->keys = (int32 *) palloc(sizeof(int32) * maxkeys);
	out->wstart = (int *) palloc(sizeof(int) * (IDX_MAX_WORDS + 1));
	out->whash = (int32 *) palloc(sizeof(int32) * IDX_MAX_WORDS);
	out->pvar = (int32 *) palloc(sizeof(int32) * IDX_MAX_WORDS * IDX_PREFIX_VARIANTS);
	out->npvar = (int *) palloc(sizeof(int) * IDX_MAX_WORDS);
	out->wstart[0] = 0;

	while (p < end && nwords < IDX_MAX_WORDS)
	{
		int			clen[IDX_MAX_WORD_CHARS];
		int			nchars = 0;
		int			wlen = 0;
		int			off;
		int			i;

		if (!IdxIsWordChar(p))
		{
			p += pg_utf_mblen((const unsigned char *) p);
			continue;
		}
		/* collect the word's first IDX_MAX_WORD_CHARS characters into buf */
		while (p < end && IdxIsWordChar(p))
		{
			int			ml = pg_utf_mblen((const unsigned char *) p);

			if (ml > end - p)
				ml = end - p;
			if (nchars < IDX_MAX_WORD_CHARS)
			{
				memcpy(buf + wlen, p, ml);
				wlen += ml;
				clen[nchars++] = ml;
			}
			p += ml;
		}

		out->whash[nwords] = IdxHashWord(buf, wlen);
		IdxPrefixVariants(buf, clen, nchars, out->pvar + nwords * IDX_PREFIX_VARIANTS,
						  &out->npvar[nwords]);
		if (!withkeys)
		{
			/* (IdxNameBuildLazy: the keys come later, IdxNameEnsureKeys) */
			nwords++;
			out->wstart[nwords] = 0;
			continue;
		}
		out->keys[nkeys] = out->whash[nwords];
		/* one-character deletions; a one-character word has none */
		if (nchars > 1)
		{
			char		del[IDX_MAX_WORD_CHARS * MAX_MULTIBYTE_CHAR_LEN];

			for (i = 0, off = 0; i < nchars; off += clen[i], i++)
			{
				memcpy(del, buf, off);
				memcpy(del + off, buf + off + clen[i], wlen - off - clen[i]);
				out->keys[nkeys + 1 + i] = IdxHashWord(del, wlen - clen[i]);
			}
			nkeys = out->wstart[nwords] +
				IdxSortUnique(out->keys + out->wstart[nwords], 1 + nchars);
		}
		else
			nkeys++;
		nwords++;
		out->wstart[nwords] = nkeys;
	}
	out->nwords = nwords;
	out->nkeys = nkeys;
	out->haskeys = withkeys;
}

/*
 * IdxMergeWordKeys
 *		Adds to each word of n the keys and the prefix variants of the same
 *		word of other (the same name spelt another way, word for word); whash
 *		stays n's, so only the name key's spelling counts as an equal word.
 *		Two words that share a key then always begin alike: a shared
 *		one-character deletion of two spellings leaves their first letters
 *		one deletion each apart (IdxPrefixVariants), whichever spellings they
 *		are.  Left as it is when the
 *		two do not have the same number of words.
 */
static void
IdxMergeWordKeys(IdxName *n, const IdxName *other)
{
	int32	   *keys;
	int		   *wstart;
	int			nkeys = 0;
	int			w;

	if (other->nwords != n->nwords)
		return;
	keys = (int32 *) palloc(sizeof(int32) * (n->nkeys + other->nkeys + 1));
	wstart = (int *) palloc(sizeof(int) * (n->nwords + 1));
	for (w = 0; w < n->nwords; w++)
	{
		int			na = n->wstart[w + 1] - n->wstart[w];
		int			nb = other->wstart[w + 1] - other->wstart[w];

		wstart[w] = nkeys;
		memcpy(keys + nkeys, n->keys + n->wstart[w], sizeof(int32) * na);
		memcpy(keys + nkeys + na, other->keys + other->wstart[w], sizeof(int32) * nb);
		nkeys += IdxSortUnique(keys + nkeys, na + nb);
	}
	wstart[n->nwords] = nkeys;
	pfree(n->keys);
	pfree(n->wstart);
	n->keys = keys;
	n->wstart = wstart;
	n->nkeys = nkeys;
}

static void IdxNameAddSpelling(IdxName *n, const char *key, const char *norm);

/*
 * IdxNameBuild
 *		The keys of a name given as UTF-8 bytes with explicit length: the
 *		words of its name key (CdpNameKey), each also keyed by the same word
 *		of the merely normalised name (CdpNormalizeName).  The name key's
 *		folds can turn one typo into two edits (Nikiein -> nikein against
 *		nikitin); the normalised spelling keeps it one edit from a record in
 *		the same script.  Results in the current memory context.
 */
void
IdxNameBuild(const char *s, int len, IdxName *out)
{
	char	   *key;
	char	   *norm;

	IdxCheckInput(s, len);
	/* normalised once: CdpNameKey would normalise again (ICU: a third of a re-check) */
	norm = CdpNormalizeName(s, len);
	key = CdpNameKeyOfNormalized(norm);
	IdxKeyStringToName(key, out, true);
	out->spelling = IdxHashWord(norm, strlen(norm));
	out->keystr = out->normstr = NULL;
	IdxNameAddSpelling(out, key, norm);
	pfree(key);
	pfree(norm);
}

/*
 * IdxNameAddSpelling
 *		Adds to the keys of n (built from the name key key) those of the
 *		normalised spelling norm, word for word (IdxMergeWordKeys).
 */
static void
IdxNameAddSpelling(IdxName *n, const char *key, const char *norm)
{
	IdxName		other;

	if (strcmp(norm, key) == 0)
		return;
	IdxKeyStringToName(norm, &other, true);
	IdxMergeWordKeys(n, &other);
	pfree(other.keys);
	pfree(other.wstart);
	pfree(other.whash);
	pfree(other.pvar);
	pfree(other.npvar);
}

/*
 * IdxNameBuildLazy
 *		IdxNameBuild without the word keys (the one-character deletions): a
 *		re-check whose words all pair by equality never reads them, and
 *		building them was half of its cost (session 24).  IdxNameEnsureKeys
 *		adds them, in the memory context current here, when a word pairing
 *		needs them.
 */
void
IdxNameBuildLazy(const char *s, int len, IdxName *out)
{
	IdxCheckInput(s, len);
	out->normstr = CdpNormalizeName(s, len);
	out->keystr = CdpNameKeyOfNormalized(out->normstr);
	IdxKeyStringToName(out->keystr, out, false);
	out->spelling = IdxHashWord(out->normstr, strlen(out->normstr));
}

/*
 * IdxNameEnsureKeys
 *		The word keys of a name built by IdxNameBuildLazy (a no-op once
 *		built), allocated in the memory context of its other arrays: the
 *		same keys IdxNameBuild gives.
 */
void
IdxNameEnsureKeys(IdxName *n)
{
	MemoryContext old;
	IdxName		full;

	if (n->haskeys)
		return;
	old = MemoryContextSwitchTo(GetMemoryChunkContext(n->whash));
	IdxKeyStringToName(n->keystr, &full, true);
	IdxNameAddSpelling(&full, n->keystr, n->normstr);
	pfree(n->keys);
	pfree(n->wstart);
	n->keys = full.keys;
	n->wstart = full.wstart;
	n->nkeys = full.nkeys;
	n->haskeys = true;
	pfree(full.whash);
	pfree(full.pvar);
	pfree(full.npvar);
	MemoryContextSwitchTo(old);
}

/*
 * IdxNameUnionKeys
 *		All keys of a name, sorted and unique (what the index stores);
 *		palloc'd in the current memory context.
 */
int32 *
IdxNameUnionKeys(const IdxName *n, int *nkeys)
{
	int32	   *keys;

	Assert(n->haskeys);
	keys = (int32 *) palloc(sizeof(int32) * (n->nkeys + 1));
	memcpy(keys, n->keys, sizeof(int32) * n->nkeys);
	*nkeys = IdxSortUnique(keys, n->nkeys);
	return keys;
}

/*
 * IdxWordsShareKey
 *		True when word i of a and word j of b share a key (sorted runs).
 */
static bool
IdxWordsShareKey(const IdxName *a, int i, const IdxName *b, int j)
{
	int			x = a->wstart[i],
				xe = a->wstart[i + 1];
	int			y = b->wstart[j],
				ye = b->wstart[j + 1];

	while (x < xe && y < ye)
	{
		if (a->keys[x] < b->keys[y])
			x++;
		else if (a->keys[x] > b->keys[y])
			y++;
		else
			return true;
	}
	return false;
}

/*
 * IdxNameMatch
 *		W / (na + nb - m) over a greedy one-to-one pairing of words: equal
 *		words first (weight 1), then words sharing a key (IDX_EDIT_WEIGHT);
 *		*npairs gets m.  0 when either name has no words.  Every pair found
 *		here has a shared key, which is what the GIN consistent function's
 *		bound relies on.
 */
float4
IdxNameMatch(const IdxName *a, const IdxName *b, int *npairs)
{
	bool		useda[IDX_MAX_WORDS];
	bool		usedb[IDX_MAX_WORDS];
	float4		w = 0.0f;
	int			m = 0;
	int			i,
				j;

	*npairs = 0;
	if (a->nwords == 0 || b->nwords == 0)
		return 0.0f;
	memset(useda, 0, sizeof(useda));
	memset(usedb, 0, sizeof(usedb));
	for (j = 0; j < b->nwords; j++)
		for (i = 0; i < a->nwords; i++)
			if (!useda[i] && a->whash[i] == b->whash[j])
			{
				useda[i] = usedb[j] = true;
				w += 1.0f;
				m++;
				break;
			}
	/* words left on both sides: their keys are needed (built now if lazy) */
	if (m < a->nwords && m < b->nwords)
	{
		IdxNameEnsureKeys((IdxName *) a);
		IdxNameEnsureKeys((IdxName *) b);
	}
	for (j = 0; j < b->nwords && m < a->nwords; j++)
	{
		if (usedb[j])
			continue;
		for (i = 0; i < a->nwords; i++)
			if (!useda[i] && IdxWordsShareKey(a, i, b, j))
			{
				useda[i] = usedb[j] = true;
				w += IDX_EDIT_WEIGHT;
				m++;
				break;
			}
	}
	*npairs = m;
	return w / (float4) (a->nwords + b->nwords - m);
}

/*
 * IdxNameSimilarity
 *		The name similarity of two names (see IdxNameMatch).
 */
float4
IdxNameSimilarity(const IdxName *a, const IdxName *b)
{
	int			m;

	return IdxNameMatch(a, b, &m);
}

/*
 * IdxPassesBound
 *		True when nmatch / (nrow + nwords - nmatch) reaches the threshold: the
 *		best similarity of a row of nrow words in which nmatch of the query's
 *		nwords words pair, each with weight at most 1 (nrow <= 0: unknown, and
 *		then nmatch / nwords).  Division in float4 is monotonic, so
 *		fl(W / U) <= this whenever W <= nmatch and U >= the denominator:
 *		rounding cannot make the index miss a row a sequential scan finds.
 */
bool
IdxPassesBound(int nmatch, int nwords, int nrow)
{
	if (nmatch <= 0 || nwords <= 0)
		return false;
	if (nrow <= 0)
		return (float4) nmatch / (float4) nwords >= (float4) IdxSimilarityThreshold;
	return (float4) nmatch / (float4) (nrow + nwords - nmatch) >=
		(float4) IdxSimilarityThreshold;
}

/*
 * IdxNameCover
 *		The anchor cover of two names: over every anchor, a word i of a equal
 *		to a word j of b (same name-key word hash; both among the first
 *		IDX_PAIR_WORDS words), 1 + the smaller of the number of other words
 *		of b that begin like some other word of a (IdxWordsBeginAlike) and
 *		the number of other words of a that begin like some other word of b;
 *		the largest such value, or 0 without an anchor.  Symmetric.  Seen
 *		from b, the words counted are exactly the words w of b for which a
 *		holds a pair key IdxPairKey(hash of word j, prefix variant of w, ...)
 *		(hash collisions aside: they only add keys), so the GIN index bounds
 *		it from the pair keys a row shares with the query (idx_name_gin.c).
 */
int
IdxNameCover(const IdxName *a, const IdxName *b)
{
	int			na = Min(a->nwords, IDX_PAIR_WORDS);
	int			nb = Min(b->nwords, IDX_PAIR_WORDS);
	int			best = 0;
	int			i,
				j,
				i2,
				j2;

	for (i = 0; i < na; i++)
		for (j = 0; j < nb; j++)
		{
			bool		alikeA[IDX_PAIR_WORDS] = {false};
			bool		alikeB[IDX_PAIR_WORDS] = {false};
			int			ca = 0,
						cb = 0;

			if (a->whash[i] != b->whash[j])
				continue;
			for (i2 = 0; i2 < na; i2++)
				for (j2 = 0; j2 < nb; j2++)
					if (i2 != i && j2 != j && IdxWordsBeginAlike(a, i2, b, j2))
						alikeA[i2] = alikeB[j2] = true;
			for (i2 = 0; i2 < na; i2++)
				ca += alikeA[i2];
			for (j2 = 0; j2 < nb; j2++)
				cb += alikeB[j2];
			best = Max(best, 1 + Min(ca, cb));
		}
	return best;
}

/*
 * IdxNameSimilar
 *		The % operator on two key sets: similarity above 0 and at or above
 *		cdp.name_similarity_threshold, and, when two or more words are paired,
 *		covered by an anchor (IdxNameCover): an equal word and at least one
 *		other word beginning alike (so a name that meets the query only
 *		through words that are all one edit off is not "similar"), and the
 *		anchor with the words beginning alike must reach the threshold by
 *		the bound on their count alone, as if they all paired with weight 1
 *		(IdxPassesBound).  That rule is what lets the index read only the
 *		short pair-key lists (src/idx_name_gin.c).  A word one edit from its
 *		partner in the name key always begins alike with it; so the cover
 *		only refuses a pairing whose words meet through the merely
 *		normalised spelling while their name keys differ in two of the first
 *		letters.
 */
bool
IdxNameSimilar(const IdxName *a, const IdxName *b)
{
	int			m;
	int			cover;
	float4		sim = IdxNameMatch(a, b, &m);

	if (!(sim > 0.0f && sim >= (float4) IdxSimilarityThreshold))
		return false;
	if (m <= 1)
		return true;
	cover = IdxNameCover(a, b);
	if (cover < 2)
		return false;
	/* words after the first IDX_PAIR_WORDS of both names may pair too */
	cover += Min(Max(a->nwords - IDX_PAIR_WORDS, 0), Max(b->nwords - IDX_PAIR_WORDS, 0));
	return IdxPassesBound(cover, b->nwords, a->nwords);
}

/*
 * IdxPairKey
 *		The pair key of an anchor word (its name-key word hash), the prefix
 *		hash of another word of the same name, and the name's length bucket;
 *		ordered: (x, y) and (y, x) differ.
 */
int32
IdxPairKey(int32 anchor, int32 prefix, int bucket)
{
	return (int32) hash_bytes_uint32_extended((uint32) prefix,
											  ((uint64) (uint32) anchor << 32) |
											  (UINT64CONST(0x70616900) + (uint64) bucket));
}

/*
 * IdxSingleKey
 *		The key of a word key in a name of one word (so a one-word query need
 *		not read every name that merely contains its word).
 */
int32
IdxSingleKey(int32 key)
{
	return (int32) hash_bytes_uint32_extended((uint32) key, UINT64CONST(0x73696e676c65));
}

/*
 * IdxNameCached
 *		The keys of a text datum through the cache of column values.  A
 *		filtered scan first evaluates "name % q" and then "name <-> q" on the
 *		same row, and on a name-dense population the rows a query re-checks
 *		repeat a few hundred names, so most calls find the name built (with
 *		its word keys, once a pairing needed them: IdxNameEnsureKeys builds
 *		them in the entry's context).  The names are pure functions of the
 *		input bytes.  The result belongs to the cache: valid until the next
 *		call (which may reset it), never pfree'd.
 */
static const IdxName *
IdxNameCached(text *t)
{
	const char *s = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t);
	uint32		h = hash_bytes((const unsigned char *) s, len);
	int			slot = h & (IDX_CACHE_SLOTS - 1);
	IdxCacheEntry *e = IdxCacheSlots[slot];
	MemoryContext old;

	if (e != NULL && e->hash == h && e->len == len && memcmp(e->input, s, len) == 0)
		return &e->name;

	if (IdxCacheContext == NULL)
		IdxCacheContext = AllocSetContextCreate(TopMemoryContext,
												"cdp name key cache",
												ALLOCSET_DEFAULT_SIZES);
	else if (MemoryContextMemAllocated(IdxCacheContext, false) > IDX_CACHE_BYTES)
	{
		MemSet(IdxCacheSlots, 0, sizeof(IdxCacheSlots));
		MemoryContextReset(IdxCacheContext);
	}
	/* empty until fully built, so an error half-way leaves no stale entry */
	IdxCacheSlots[slot] = NULL;
	old = MemoryContextSwitchTo(IdxCacheContext);
	e = (IdxCacheEntry *) palloc(sizeof(IdxCacheEntry));
	IdxNameBuildLazy(s, len, &e->name);
	e->input = palloc(len + 1);
	memcpy(e->input, s, len);
	e->len = len;
	e->hash = h;
	MemoryContextSwitchTo(old);
	IdxCacheSlots[slot] = e;
	return &e->name;
}

/*
 * IdxQueryName
 *		The keys of the argument a call site sees over and over (the query
 *		constant), kept in fn_extra and rebuilt only when it changes.
 */
static const IdxName *
IdxQueryName(FunctionCallInfo fcinfo, text *t)
{
	IdxQueryCache *qc = (IdxQueryCache *) fcinfo->flinfo->fn_extra;
	const char *s = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t);
	MemoryContext old;

	if (qc != NULL && qc->len == len && memcmp(qc->input, s, len) == 0)
		return &qc->name;

	if (qc == NULL)
	{
		qc = (IdxQueryCache *) MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt,
													  sizeof(IdxQueryCache));
		qc->cxt = AllocSetContextCreate(fcinfo->flinfo->fn_mcxt,
										"cdp name query cache",
										ALLOCSET_SMALL_SIZES);
		fcinfo->flinfo->fn_extra = qc;
	}
	/* empty until fully rebuilt, so an error half-way leaves no stale entry */
	qc->len = -1;
	MemoryContextReset(qc->cxt);
	old = MemoryContextSwitchTo(qc->cxt);
	IdxNameBuild(s, len, &qc->name);
	qc->input = palloc(len + 1);
	memcpy(qc->input, s, len);
	MemoryContextSwitchTo(old);
	qc->len = len;
	return &qc->name;
}

/*
 * IdxSimilarityOfArgs
 *		name_similarity of the two text arguments of an SQL call: the first
 *		(usually the column) through the cache of column values, the second (usually
 *		the query) through fn_extra.
 */
static float4
IdxSimilarityOfArgs(FunctionCallInfo fcinfo)
{
	text	   *a = PG_GETARG_TEXT_PP(0);
	text	   *b = PG_GETARG_TEXT_PP(1);
	const IdxName *nb = IdxQueryName(fcinfo, b);
	const IdxName *na = IdxNameCached(a);

	return IdxNameSimilarity(na, nb);
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
 *		The <-> operator: 1 - name_similarity, plus IDX_SPELLING_TIE when the
 *		names are similar but not spelt alike (normalised spellings differ):
 *		among equally similar rows, those written as the query come first
 *		(«Иванова Мария» before «IVANOVA MARIA» for «Иванова Мария»).
 *		Symmetric, in [0, 1].
 */
Datum
cdp_name_distance(PG_FUNCTION_ARGS)
{
	text	   *a = PG_GETARG_TEXT_PP(0);
	text	   *b = PG_GETARG_TEXT_PP(1);
	const IdxName *nb = IdxQueryName(fcinfo, b);
	const IdxName *na = IdxNameCached(a);
	float4		sim = IdxNameSimilarity(na, nb);

	if (sim > 0.0f && na->spelling != nb->spelling)
		PG_RETURN_FLOAT4(Min(1.0f - sim + IDX_SPELLING_TIE, 1.0f));
	PG_RETURN_FLOAT4(1.0f - sim);
}

PG_FUNCTION_INFO_V1(cdp_name_similar);

/*
 * cdp_name_similar
 *		The % operator: similarity at or above cdp.name_similarity_threshold,
 *		never true for two names that share no key (so a zero threshold still
 *		agrees with the GIN index, which only sees shared keys), and anchored
 *		covered by an anchor when two or more words pair (IdxNameSimilar).
 */
Datum
cdp_name_similar(PG_FUNCTION_ARGS)
{
	text	   *a = PG_GETARG_TEXT_PP(0);
	text	   *b = PG_GETARG_TEXT_PP(1);
	const IdxName *nb = IdxQueryName(fcinfo, b);
	const IdxName *na = IdxNameCached(a);

	PG_RETURN_BOOL(IdxNameSimilar(na, nb));
}

PG_FUNCTION_INFO_V1(cdp_name_index_keys);

/*
 * cdp_name_index_keys
 *		name_index_keys(text) -> int4[]: the sorted keys the index stores for
 *		a name, for inspecting why two names are or are not similar.
 */
Datum
cdp_name_index_keys(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	IdxName		n;
	int32	   *keys;
	int			nkeys;
	Datum	   *d;
	int			i;

	IdxNameBuild(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &n);
	keys = IdxNameUnionKeys(&n, &nkeys);
	d = (Datum *) palloc(sizeof(Datum) * (nkeys + 1));
	for (i = 0; i < nkeys; i++)
		d[i] = Int32GetDatum(keys[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(d, nkeys, INT4OID, sizeof(int32), true, TYPALIGN_INT));
}
