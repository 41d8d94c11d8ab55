/*-------------------------------------------------------------------------
 *
 * src/cmp_int.h
 *		What the cmp_*.c files share and no other family may use: the
 *		stack-buffer size, the case fold of the token comparator, common
 *		prefix and suffix scans, and the position-mask table of the
 *		bit-parallel Jaro and OSA.  The interface is cmp.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CMP_INT_H
#define CMP_INT_H

#include "cmp.h"

#include "port/pg_bitutils.h"

/* Strings up to this many code points are decoded into a stack buffer. */
#define CDP_CMP_STACK_CHARS		CDP_CODES_STACK

/* cmp_common.c */
extern int32 CmpSimpleLower(int32 c);

/*
 * CmpCommonPrefixBytes
 *		Length of the common byte prefix of a and b, at most lim.
 */
static inline int
CmpCommonPrefixBytes(const char *a, const char *b, int lim)
{
	int			i = 0;

	for (; i + 8 <= lim; i += 8)
	{
		uint64		x = CdpLoad64(a + i) ^ CdpLoad64(b + i);

		if (x)
#ifdef WORDS_BIGENDIAN
			return i + (63 - pg_leftmost_one_pos64(x)) / 8;
#else
			return i + pg_rightmost_one_pos64(x) / 8;
#endif
	}
	while (i < lim && a[i] == b[i])
		i++;
	return i;
}

/*
 * CmpCommonSuffixBytes
 *		Length of the common byte suffix of a[0..alen) and b[0..blen), at
 *		most lim <= Min(alen, blen).
 */
static inline int
CmpCommonSuffixBytes(const char *a, int alen, const char *b, int blen, int lim)
{
	int			n = 0;

	for (; n + 8 <= lim; n += 8)
	{
		uint64		x = CdpLoad64(a + alen - n - 8) ^ CdpLoad64(b + blen - n - 8);

		if (x)
#ifdef WORDS_BIGENDIAN
			return n + pg_rightmost_one_pos64(x) / 8;
#else
			return n + (63 - pg_leftmost_one_pos64(x)) / 8;
#endif
	}
	while (n < lim && a[alen - 1 - n] == b[blen - 1 - n])
		n++;
	return n;
}

/*
 * The bit masks of the positions of each code point in
 * a string of at most 64 code points, for the bit-parallel Jaro and OSA.
 * A direct-mapped table on the low 8 bits of the code point: a name in one
 * script never has two letters with the same low byte, and when a string
 * does (CmpPmBuild returns false) the caller takes its character loop.  The
 * table is static and stamped instead of cleared: an entry belongs to the
 * current string only when its stamp is the current one.  No function that
 * fills it can be re-entered while it reads it (they neither call out nor
 * raise errors between build and last read).
 */
typedef struct CmpPmEntry
{
	uint32		stamp;
	int32		key;
	uint64		bits;
} CmpPmEntry;

extern CmpPmEntry CmpPmTable[256];
extern uint32 CmpPmStamp;

/*
 * CmpPmBuild
 *		Records the positions of the n <= 64 code points of s; false when two
 *		different code points share a slot (then the table is unusable).
 */
static inline bool
CmpPmBuild(const int32 *s, int n)
{
	uint32		stamp = ++CmpPmStamp;

	if (unlikely(stamp == 0))
	{
		memset(CmpPmTable, 0, sizeof(CmpPmTable));
		stamp = CmpPmStamp = 1;
	}
	for (int i = 0; i < n; i++)
	{
		CmpPmEntry *e = &CmpPmTable[s[i] & 0xFF];

		if (e->stamp != stamp)
		{
			e->stamp = stamp;
			e->key = s[i];
			e->bits = UINT64CONST(1) << i;
		}
		else if (e->key == s[i])
			e->bits |= UINT64CONST(1) << i;
		else
			return false;
	}
	return true;
}

/*
 * CmpPmGet
 *		Bit mask of the positions of c in the string last given to
 *		CmpPmBuild (0 when absent).
 */
static inline uint64
CmpPmGet(int32 c)
{
	const CmpPmEntry *e = &CmpPmTable[c & 0xFF];

	return (e->stamp == CmpPmStamp && e->key == c) ? e->bits : 0;
}

#endif							/* CMP_INT_H */
