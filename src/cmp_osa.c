/*-------------------------------------------------------------------------
 *
 * src/cmp_osa.c
 *		Optimal string alignment distance (restricted Damerau-Levenshtein) on
 *		Unicode code points: insertions, deletions, substitutions and
 *		transpositions of two adjacent characters, each costing 1, with no
 *		substring edited twice.  So osa('CA', 'ABC') = 3, where the
 *		unrestricted Damerau-Levenshtein distance is 2.
 *
 * Under a cap, a length difference above it settles the call first, on the
 * counts of code points (the bytes that are not continuation bytes, 16 or
 * 8 at a time).  Then the common prefix is cut on the UTF-8 bytes, moved
 * back to a character start within the word that shows the difference
 * (equal strings end there), and the common suffix likewise: neither takes
 * part in an optimal alignment's edits.  What is left, the two "middles",
 * goes to one of four engines, none of which decodes more than it must:
 *
 * - a cap of 1 or 2: a closed form on the bytes (OsaUpTo2).  The first and
 *   last characters of the middles differ, so an optimal alignment begins
 *   and ends with an edit: one edit must be the whole of both middles, two
 *   edits take the first and the last characters with equal bytes between.
 * - a cap of 3 (OSA_BOUNDED_MAX): a depth-first search over the edit at the
 *   first differing character (substitution, deletion, insertion,
 *   transposition), each branch cutting its new common prefix, with at most
 *   max_d edits in a row; after the last allowed edit the rests must be
 *   byte-equal.  The search is the OSA recurrence run from the front,
 *   d(i, j) = min(d(i+1, j) + 1, d(i, j+1) + 1, d(i+1, j+1) + [a_i != b_j],
 *   d(i+2, j+2) + 1 when a_i a_i+1 = b_j+1 b_j), bounded as in Ukkonen
 *   (1985, "Algorithms for approximate string matching", Information and
 *   Control 64): at most 85 prefix scans.
 * - otherwise a pattern of at most 64 code points runs through the
 *   bit-parallel algorithm of Hyyrö (2003, "A bit-vector algorithm for
 *   computing Levenshtein and Damerau edit distances", Nordic Journal of
 *   Computing 10): one machine word per character of the other string,
 *   decoded on the fly, stopped as soon as the cap cannot be met.
 * - longer patterns use the three-row dynamic programme, restricted to the
 *   diagonal band |i - j| <= max_d when a cap is given, and stopped as soon
 *   as a whole row exceeds the cap (row minima never decrease).
 *
 * Every character whose length an engine relies on is checked (malformed
 * UTF-8 raises 22021); bytes only compared for equality are not decoded.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "port/pg_bitutils.h"
#include "port/pg_bswap.h"
#include "utils/builtins.h"

#include "cmp_int.h"

/*
 * SSE2 is part of every x86-64 processor: there the byte scans take 16
 * bytes at a time.  Elsewhere (or with OSA_NO_SIMD, to test the other path
 * on x86-64) they take eight, in general-purpose registers.
 */
#if defined(__SSE2__) && !defined(OSA_NO_SIMD)
#include <emmintrin.h>
#define OSA_SSE2 1
#endif

/* largest cap the bounded search takes (4^k branches); above: bit-parallel */
#define OSA_BOUNDED_MAX		3

#define IS_UTF8_CONT(c)		(((unsigned char) (c) & 0xC0) == 0x80)

PG_FUNCTION_INFO_V1(cdp_osa_distance);
PG_FUNCTION_INFO_V1(cdp_osa_distance_max);
PG_FUNCTION_INFO_V1(cdp_osa_similarity);

/* the high bit of every byte of a word */
#define OSA_HIGH_BITS	UINT64CONST(0x8080808080808080)

/* the high bit of every continuation byte (10xxxxxx) of w */
#define OSA_CONT_BITS(w)	((w) & ~((w) << 1) & OSA_HIGH_BITS)

/*
 * OsaCharStartSlow
 *		p moved back to the first byte of the character it falls in, byte by
 *		byte (a character that began in an earlier word).
 */
static pg_noinline int
OsaCharStartSlow(const char *a, int p)
{
	while (p > 0 && IS_UTF8_CONT(a[p]))
		p--;
	return p;
}

/*
 * OsaCharStartInWord
 *		The start of the character holding the first differing byte of a and
 *		b, given the word wa of a read at offset i and x = wa ^ (b's word), x
 *		!= 0: the last byte at or before the difference that is not a
 *		continuation byte, found in the word itself.  In valid UTF-8 that is
 *		also where b's character starts, the bytes before being equal.
 */
static inline int
OsaCharStartInWord(const char *a, int i, uint64 wa, uint64 x)
{
	int			d = pg_rightmost_one_pos64(x) / 8;
	uint64		starts = ~OSA_CONT_BITS(wa) & OSA_HIGH_BITS;

	starts &= ~UINT64CONST(0) >> (8 * (7 - d));
	if (likely(starts != 0))
		return i + pg_leftmost_one_pos64(starts) / 8;
	return OsaCharStartSlow(a, i + d);
}

#ifdef OSA_SSE2
/*
 * OsaLoad128
 *		Sixteen bytes from any address.
 */
static inline __m128i
OsaLoad128(const char *p)
{
	return _mm_loadu_si128((const __m128i *) p);
}

/*
 * OsaStarts128
 *		Bit k set when byte k of v starts a character (is not 10xxxxxx:
 *		as a signed byte, not below -64).
 */
static inline uint32
OsaStarts128(__m128i v)
{
	return (uint32) _mm_movemask_epi8(_mm_cmpgt_epi8(v, _mm_set1_epi8(-65)));
}

/*
 * OsaDiff128
 *		Bit k set when byte k of a and of b differ.
 */
static inline uint32
OsaDiff128(__m128i va, __m128i vb)
{
	return ~(uint32) _mm_movemask_epi8(_mm_cmpeq_epi8(va, vb)) & 0xFFFF;
}
#endif

/*
 * OsaPrefixChars
 *		Length of the common prefix of a and b in bytes, at most lim =
 *		Min(alen, blen), ending on a character boundary: where the first
 *		differing character starts, or lim when one string is a prefix of
 *		the other (then the longer one goes on with a new character).  From
 *		eight bytes on, the last word overlaps the one before instead of a
 *		byte loop: the bytes it reads twice are already known to be equal.
 */
static inline int
OsaPrefixChars(const char *a, const char *b, int lim)
{
	int			i = 0;
	uint64		wa,
				x;

	if (lim < 8)
	{
		wa = CdpLoadShortLE(a, lim);
		x = wa ^ CdpLoadShortLE(b, lim);
		return x ? OsaCharStartInWord(a, 0, wa, x) : lim;
	}
#ifdef OSA_SSE2
	if (lim >= 16)
	{
		__m128i		va;
		uint32		d;

		for (;; i += 16)
		{
			if (i + 16 > lim)
				i = lim - 16;	/* the last 16 bytes, overlapping */
			va = OsaLoad128(a + i);
			d = OsaDiff128(va, OsaLoad128(b + i));
			if (d)
			{
				/* the last character start at or before the first difference */
				uint32		st = OsaStarts128(va) &
					((2u << pg_rightmost_one_pos32(d)) - 1);

				if (likely(st != 0))
					return i + pg_leftmost_one_pos32(st);
				return OsaCharStartSlow(a, i + pg_rightmost_one_pos32(d));
			}
			if (i + 16 >= lim)
				return lim;
		}
	}
#endif
	for (; i + 8 < lim; i += 8)
	{
		wa = CdpLoad64LE(a + i);
		x = wa ^ CdpLoad64LE(b + i);
		if (x)
			return OsaCharStartInWord(a, i, wa, x);
	}
	i = lim - 8;
	wa = CdpLoad64LE(a + i);
	x = wa ^ CdpLoad64LE(b + i);
	return x ? OsaCharStartInWord(a, i, wa, x) : lim;
}

/*
 * OsaSuffixStartInWord
 *		Length of the common suffix of a (ending at ae) and b from the first
 *		character start after their last differing byte, given the word wa
 *		of a's bytes from base on (zero above its width meaningful bytes, and
 *		then base + width = ae) and x = wa ^ (b's word), x != 0.
 */
static inline int
OsaSuffixStartInWord(const char *ae, const char *base, uint64 wa, uint64 x)
{
	int			t = pg_leftmost_one_pos64(x) / 8;
	uint64		starts = ~OSA_CONT_BITS(wa) & OSA_HIGH_BITS;
	const char *s;

	/* the starts after byte t (none when t = 7) */
	starts &= (~UINT64CONST(0) << (8 * t)) << 8;
	if (likely(starts != 0))
		return (int) (ae - base) - pg_rightmost_one_pos64(starts) / 8;
	/* the character goes on in the next word */
	s = base + t + 1;
	while (s < ae && IS_UTF8_CONT(*s))
		s++;
	return (int) (ae - s);
}

/*
 * OsaSuffixChars
 *		Length of the common suffix of a[0..alen) and b[0..blen) in bytes, at
 *		most lim <= Min(alen, blen), starting on a character boundary; the
 *		first word overlaps as in OsaPrefixChars.
 */
static inline int
OsaSuffixChars(const char *a, int alen, const char *b, int blen, int lim)
{
	const char *ae = a + alen;
	const char *be = b + blen;
	int			n = 0;
	uint64		wa,
				x;

	if (lim < 8)
	{
		wa = CdpLoadShortLE(ae - lim, lim);
		x = wa ^ CdpLoadShortLE(be - lim, lim);
		return x ? OsaSuffixStartInWord(ae, ae - lim, wa, x) : lim;
	}
#ifdef OSA_SSE2
	if (lim >= 16)
	{
		__m128i		va;
		uint32		d;

		for (;; n += 16)
		{
			if (n + 16 > lim)
				n = lim - 16;	/* the first 16 bytes, overlapping */
			va = OsaLoad128(ae - n - 16);
			d = OsaDiff128(va, OsaLoad128(be - n - 16));
			if (d)
			{
				/* the first character start after the last difference */
				int			t = pg_leftmost_one_pos32(d);
				uint32		st = OsaStarts128(va) & ~((2u << t) - 1);
				const char *c;

				if (likely(st != 0))
					return n + 16 - pg_rightmost_one_pos32(st);
				c = ae - n - 16 + t + 1;
				while (c < ae && IS_UTF8_CONT(*c))
					c++;
				return (int) (ae - c);
			}
			if (n + 16 >= lim)
				return lim;
		}
	}
#endif
	for (; n + 8 < lim; n += 8)
	{
		wa = CdpLoad64LE(ae - n - 8);
		x = wa ^ CdpLoad64LE(be - n - 8);
		if (x)
			return OsaSuffixStartInWord(ae, ae - n - 8, wa, x);
	}
	wa = CdpLoad64LE(ae - lim);
	x = wa ^ CdpLoad64LE(be - lim);
	return x ? OsaSuffixStartInWord(ae, ae - lim, wa, x) : lim;
}

/*
 * OsaBytesEqual
 *		Whether a and b have the same len bytes.
 */
static inline bool
OsaBytesEqual(const char *a, const char *b, int len)
{
	if (len < 8)
	{
		uint32		x,
					y;

		if (len >= 4)
		{
			x = CdpLoad32(a) ^ CdpLoad32(b);
			y = CdpLoad32(a + len - 4) ^ CdpLoad32(b + len - 4);
			return (x | y) == 0;
		}
		if (len == 0)
			return true;
		/* first, middle and last byte cover 1 to 3 bytes */
		return ((a[0] ^ b[0]) | (a[len >> 1] ^ b[len >> 1]) |
				(a[len - 1] ^ b[len - 1])) == 0;
	}
	for (int i = 0; i + 8 < len; i += 8)
		if (CdpLoad64(a + i) != CdpLoad64(b + i))
			return false;
	return CdpLoad64(a + len - 8) == CdpLoad64(b + len - 8);
}

/*
 * OsaCountChars
 *		CdpCountChars with the continuation bytes of every word summed in
 *		byte lanes and folded once at the end (a lane gains at most one per
 *		word, so 255 words fit); the tail is an overlapping word.
 */
static inline int
OsaCountChars(const char *s, int len)
{
	uint64		acc = 0;
	uint64		w;
	int			i = 0;

	if (len < 8)
	{
		w = CdpLoadShortLE(s, len);
		return len - (int) (((OSA_CONT_BITS(w) >> 7) *
							 UINT64CONST(0x0101010101010101)) >> 56);
	}
#ifdef OSA_SSE2
	if (len >= 16)
	{
		/* 0 x 16 then -1 x 16: from byte 16 - d on, a mask that drops d bytes */
		static const int8 keep[32] = {
			0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
			-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1
		};
		__m128i		thr = _mm_set1_epi8(-64);
		__m128i		vacc = _mm_setzero_si128();
		__m128i		m;

		/* a lane gains at most 1 per step: 255 steps are 4080 bytes */
		if (unlikely(len > 16 * 254))
			return CdpCountChars(s, len);
		for (; i + 16 < len; i += 16)
			vacc = _mm_sub_epi8(vacc, _mm_cmplt_epi8(OsaLoad128(s + i), thr));
		m = _mm_cmplt_epi8(OsaLoad128(s + len - 16), thr);
		m = _mm_and_si128(m, OsaLoad128((const char *) keep + 16 - (i + 16 - len)));
		vacc = _mm_sub_epi8(vacc, m);
		vacc = _mm_sad_epu8(vacc, _mm_setzero_si128());
		return len - (_mm_cvtsi128_si32(vacc) +
					  _mm_cvtsi128_si32(_mm_srli_si128(vacc, 8)));
	}
#endif
	if (unlikely(len > 8 * 254))
		return CdpCountChars(s, len);
	for (; i + 8 < len; i += 8)
	{
		w = CdpLoad64LE(s + i);
		acc += OSA_CONT_BITS(w) >> 7;
	}
	w = CdpLoad64LE(s + len - 8);
	/* drop the bytes of the last word that the loop has counted */
	acc += (OSA_CONT_BITS(w) >> 7) & (~UINT64CONST(0) << (8 * (i + 8 - len)));
	acc = (acc & UINT64CONST(0x00FF00FF00FF00FF)) +
		((acc >> 8) & UINT64CONST(0x00FF00FF00FF00FF));
	return len - (int) ((acc * UINT64CONST(0x0001000100010001)) >> 48);
}

/*
 * OsaCharLenSlow
 *		Byte length of the three- or four-byte character at p (or of a
 *		malformed one, which raises 22021 in CdpDecodeSlow).
 */
static pg_noinline int
OsaCharLenSlow(const char *p, const char *end)
{
	int			i = 0;

	(void) CdpDecodeSlow((const unsigned char *) p, (int) (end - p), &i);
	return i;
}

/*
 * OsaCharLen
 *		Byte length of the character at p < end, checked as CdpNextChar
 *		checks it (malformed UTF-8 raises 22021).  ASCII and two-byte
 *		characters without a branch on which they are (Latin and Cyrillic
 *		names alternate at random in a table).
 */
static inline int
OsaCharLen(const char *p, const char *end)
{
	unsigned int c = (unsigned char) p[0];
	/* the next byte, or p[0] again (never a continuation) at the end */
	unsigned int c1 = (unsigned char) p[p + 1 < end];
	unsigned int ok = (c < 0x80) |
		((c - 0xC2 <= 0xDF - 0xC2) & ((c1 & 0xC0) == 0x80));

	if (likely(ok))
		return 1 + (c >= 0x80);
	return OsaCharLenSlow(p, end);
}

/*
 * OsaCharsUpTo
 *		Min(number of code points of s, cap): the distance to the empty
 *		string under a cap.  A code point takes at most four bytes.
 */
static inline int
OsaCharsUpTo(const char *s, int len, int cap)
{
	if (len > 4 * cap)
		return cap;
	return Min(OsaCountChars(s, len), cap);
}

/*
 * OsaOneEdit
 *		Whether one edit turns a into b, when a and b are non-empty, their
 *		first characters (la and lb bytes long) differ, and so the edit is on
 *		them: the rests must then be equal, and are compared only when their
 *		byte lengths are.
 */
static inline bool
OsaOneEdit(const char *a, int alen, int la, const char *b, int blen, int lb)
{
	/* substitution */
	if (alen - la == blen - lb && OsaBytesEqual(a + la, b + lb, alen - la))
		return true;
	/* deletion of a's first character, insertion of b's */
	if (alen - la == blen && OsaBytesEqual(a + la, b, blen))
		return true;
	if (alen == blen - lb && OsaBytesEqual(a, b + lb, alen))
		return true;
	/* transposition: a = x y rest, b = y x rest */
	return alen == blen && la + lb <= alen && OsaBytesEqual(a + la, b, lb) &&
		OsaBytesEqual(a, b + lb, la) &&
		OsaBytesEqual(a + la + lb, b + la + lb, alen - la - lb);
}

static int	OsaBoundedDiffer(const char *a, int alen, const char *b, int blen,
							 int k);

/*
 * OsaBounded
 *		Min(osa(a, b), k + 1) for k >= 0 by the bounded search (see the file
 *		header); a and b start on character boundaries.
 */
static int
OsaBounded(const char *a, int alen, const char *b, int blen, int k)
{
	int			pre;

	if (k == 0)
		return (alen == blen && OsaBytesEqual(a, b, alen)) ? 0 : 1;
	pre = OsaPrefixChars(a, b, Min(alen, blen));
	if (pre == alen && pre == blen)
		return 0;
	a += pre;
	b += pre;
	alen -= pre;
	blen -= pre;
	if (alen == 0)
		return OsaCharsUpTo(b, blen, k + 1);
	if (blen == 0)
		return OsaCharsUpTo(a, alen, k + 1);
	return OsaBoundedDiffer(a, alen, b, blen, k);
}

/*
 * The two characters at one end of a string, for OsaUpTo2: byte lengths
 * (l2 = 0 when there is only one character) and bytes, as little-endian
 * words.
 */
typedef struct OsaEnd
{
	int			l1;				/* the outermost character (first or last) */
	int			l2;				/* the one next to it, inwards */
	uint64		c1;
	uint64		c2;
} OsaEnd;

/*
 * Byte length of the character a lead byte starts, for the one- and
 * two-byte characters the fast paths take; 0 for anything else (a longer
 * character, a continuation byte, an overlong or invalid lead byte).
 */
static const uint8 OsaLen12[256] = {
	/* 0x00-0x7F: ASCII */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	/* 0x80-0xBF: continuation bytes */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	/* 0xC0-0xDF: two-byte leads, 0xC0 and 0xC1 overlong */
	0, 0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	/* 0xE0-0xFF: longer characters and invalid bytes */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
};

/*
 * OsaValid12
 *		Whether lead byte c starts a valid character of l bytes, for the
 *		one- and two-byte characters the fast paths take (the continuation
 *		bytes are known to be 10xxxxxx).
 */
static inline bool
OsaValid12(unsigned int c, int l)
{
	return OsaLen12[c & 0xFF] == l;
}

/*
 * OsaEndSlow
 *		OsaFirstTwo or OsaLastTwo character by character, with every check
 *		of OsaCharLen: for three- and four-byte characters and malformed
 *		input (which raises 22021).
 */
static pg_noinline void
OsaEndSlow(const char *s, int len, bool last, OsaEnd *r)
{
	const char *e = s + len;

	if (!last)
	{
		r->l1 = OsaCharLen(s, e);
		r->l2 = (r->l1 < len) ? OsaCharLen(s + r->l1, e) : 0;
		r->c1 = CdpLoadShortLE(s, r->l1);
		r->c2 = CdpLoadShortLE(s + r->l1, r->l2);
		return;
	}
	for (int k = 0; k < 2; k++)
	{
		const char *ce = e - (k == 0 ? 0 : r->l1);
		const char *c = ce - 1;
		int			l;

		if (k == 1 && ce == s)
		{
			r->l2 = 0;
			r->c2 = 0;
			break;
		}
		while (c > s && IS_UTF8_CONT(*c))
			c--;
		l = OsaCharLen(c, ce);
		if (l != ce - c)
			report_invalid_encoding(PG_UTF8, c, (int) (ce - c));
		if (k == 0)
		{
			r->l1 = l;
			r->c1 = CdpLoadShortLE(c, l);
		}
		else
		{
			r->l2 = l;
			r->c2 = CdpLoadShortLE(c, l);
		}
	}
}

/*
 * OsaFirstTwo
 *		The first two characters of s[0..len), len >= 1, from the character
 *		starts (bytes that are not 10xxxxxx) in its first word.
 */
static inline void
OsaFirstTwo(const char *s, int len, OsaEnd *r)
{
	uint64		w = (len >= 8) ? CdpLoad64LE(s) : CdpLoadShortLE(s, len);
	/* the starts after byte 0, one byte down, and one at byte 8 */
	uint64		t = ((~OSA_CONT_BITS(w) & OSA_HIGH_BITS) >> 8) |
		(UINT64CONST(1) << 63);
	int			p1 = pg_rightmost_one_pos64(t) / 8 + 1;
	int			p2;

	/* past len the word is zero, so a start; p1 = 8 only when malformed */
	t &= t - 1;
	p2 = pg_rightmost_one_pos64(t | (UINT64CONST(1) << 63)) / 8 + 1;
	r->l1 = p1;
	r->l2 = (p1 < len) ? p2 - p1 : 0;
	/* a missing second character has l2 = 0 and the byte after the end, 0 */
	if (unlikely(!(OsaValid12(w, r->l1) &
				   (OsaValid12(w >> (8 * (p1 & 7)), r->l2) | (r->l2 == 0)))))
	{
		OsaEndSlow(s, len, false, r);
		return;
	}
	r->c1 = w & ((UINT64CONST(1) << (8 * r->l1)) - 1);
	r->c2 = (w >> (8 * p1)) & ((UINT64CONST(1) << (8 * r->l2)) - 1);
}

/*
 * OsaLastTwo
 *		The last two characters of s[0..len), len >= 1, from the character
 *		starts in the eight bytes before its end (two characters of one or
 *		two bytes fit).  s0 <= s is where the string's bytes begin: what may
 *		be read before s.
 */
static inline void
OsaLastTwo(const char *s0, const char *s, int len, OsaEnd *r)
{
	const char *e = s + len;
	int			avail = (int) (e - s0);
	uint64		w,
				starts,
				rest;
	int			p1,
				p2;

	if (avail >= 8)
		w = CdpLoad64LE(e - 8);
	else
		w = CdpLoadShortLE(s0, avail) << (8 * (8 - avail));
	starts = ~OSA_CONT_BITS(w) & OSA_HIGH_BITS;
	/* only the bytes of s: the top Min(len, 8) of the word */
	starts &= (len >= 8) ? ~UINT64CONST(0) : ~UINT64CONST(0) << (8 * (8 - len));
	if (unlikely(starts == 0))
	{
		OsaEndSlow(s, len, true, r);
		return;
	}
	p1 = pg_leftmost_one_pos64(starts) / 8;
	rest = starts & ~(UINT64CONST(0x80) << (8 * p1));
	p2 = rest ? pg_leftmost_one_pos64(rest) / 8 : p1;
	r->l1 = 8 - p1;
	r->l2 = p1 - p2;
	if (unlikely(!(OsaValid12(w >> (8 * p1), r->l1) &
				   (OsaValid12(w >> (8 * p2), r->l2) | (r->l2 == 0)))))
	{
		OsaEndSlow(s, len, true, r);
		return;
	}
	r->c1 = w >> (8 * p1);
	r->c2 = (w >> (8 * p2)) & ((UINT64CONST(1) << (8 * r->l2)) - 1);
}

/*
 * OsaUpTo2
 *		Min(osa(a, b), max_d + 1) for max_d 1 or 2, where a and b are
 *		non-empty and both their first characters and their last characters
 *		differ (the common prefix and suffix are cut); a0 and b0 are where
 *		the strings' bytes begin.
 *
 * Then an optimal alignment's first column and its last column are edits.
 * With one edit, that edit is the whole of a and b: a substitution of one
 * character or a transposition of two.  With two, the first edit E1 takes
 * the first characters (a substitution, a deletion, an insertion or a
 * transposition), the last edit E2 the last ones, and everything between
 * them is matched: equal bytes.  The 16 pairs (E1, E2) are tried, each at
 * once ruled out unless the byte lengths left between them agree.
 */
static int
OsaUpTo2(const char *a0, const char *a, int alen,
		 const char *b0, const char *b, int blen, int max_d)
{
	OsaEnd		fa,
				fb,
				za,
				zb;
	bool		swap1,
				swap2,
				first_ok;
	int			la1,
				lb1,
				za1,
				zb1;

	OsaFirstTwo(a, alen, &fa);
	OsaFirstTwo(b, blen, &fb);
	la1 = fa.l1;
	lb1 = fb.l1;
	if (alen == la1 && blen == lb1)
		return 1;				/* one substitution */
	/* a = x y ..., b = y x ... */
	swap1 = (fa.l2 > 0) & (fb.l2 > 0) & (fa.c1 == fb.c2) & (fa.c2 == fb.c1);
	if (swap1 && alen == la1 + fa.l2 && blen == lb1 + fb.l2)
		return 1;				/* one transposition */
	if (max_d == 1)
		return 2;

	/*
	 * When some bytes lie between E1 and E2 whatever they are, the first of
	 * them is a's second character after a substitution or a deletion, its
	 * first after an insertion, and b's likewise (the third characters after
	 * a transposition); the last of them, the same from the end.  If none
	 * of these pairs is equal, two edits are not enough: most pairs of
	 * different names end here.  First the test on the first characters,
	 * when a is longer than its first two and any last two (eight bytes).
	 */
	first_ok = (fa.c2 == fb.c2) | (fa.c2 == fb.c1) | (fa.c1 == fb.c2) | swap1;
	if (!first_ok && alen > la1 + fa.l2 + 8)
		return 3;

	OsaLastTwo(a0, a, alen, &za);
	OsaLastTwo(b0, b, blen, &zb);
	za1 = za.l1;
	zb1 = zb.l1;
	/* a = ... u v, b = ... v u */
	swap2 = (za.l2 > 0) & (zb.l2 > 0) & (za.c1 == zb.c2) & (za.c2 == zb.c1);
	if (alen > la1 + fa.l2 + za1 + za.l2 &&
		!(first_ok &
		  ((za.c2 == zb.c2) | (za.c2 == zb.c1) | (za.c1 == zb.c2) | swap2)))
		return 3;

	/*
	 * The pair (E1, E2) leaves alen - e1a - e2a bytes of a and blen - e1b -
	 * e2b of b between them, which must be the same bytes: so the excess
	 * e1a - e1b + e2a - e2b of a's bytes over b's taken by the edits must be
	 * alen - blen.  A substitution, deletion, insertion and transposition
	 * have the excesses la1 - lb1, la1, -lb1 and 0 (equal characters have
	 * equal lengths); an impossible transposition gets one no pair reaches.
	 */
	{
		int			diff = alen - blen;
		int			la12 = la1 + fa.l2;
		int			za12 = za1 + za.l2;
		int			x1s = swap1 ? 0 : 1 << 20;
		int			x2s = swap2 ? 0 : 1 << 20;

#define OSA_TRY(e1a, e1b, x1, e2a, e2b, x2) \
		if ((((x1) + (x2) == diff) & (alen - (e1a) - (e2a) >= 0)) && \
			OsaBytesEqual(a + (e1a), b + (e1b), alen - (e1a) - (e2a))) \
			return 2;

		/* E1 substitution, then deletion, insertion, transposition */
		OSA_TRY(la1, lb1, la1 - lb1, za1, zb1, za1 - zb1);
		OSA_TRY(la1, lb1, la1 - lb1, za1, 0, za1);
		OSA_TRY(la1, lb1, la1 - lb1, 0, zb1, -zb1);
		OSA_TRY(la1, lb1, la1 - lb1, za12, za12, x2s);
		OSA_TRY(la1, 0, la1, za1, zb1, za1 - zb1);
		OSA_TRY(la1, 0, la1, za1, 0, za1);
		OSA_TRY(la1, 0, la1, 0, zb1, -zb1);
		OSA_TRY(la1, 0, la1, za12, za12, x2s);
		OSA_TRY(0, lb1, -lb1, za1, zb1, za1 - zb1);
		OSA_TRY(0, lb1, -lb1, za1, 0, za1);
		OSA_TRY(0, lb1, -lb1, 0, zb1, -zb1);
		OSA_TRY(0, lb1, -lb1, za12, za12, x2s);
		OSA_TRY(la12, la12, x1s, za1, zb1, za1 - zb1);
		OSA_TRY(la12, la12, x1s, za1, 0, za1);
		OSA_TRY(la12, la12, x1s, 0, zb1, -zb1);
		OSA_TRY(la12, la12, x1s, za12, za12, x2s);
#undef OSA_TRY
	}
	return 3;
}

/* the edits OsaBoundedDiffer tries on the first characters */
#define OSA_SUB		0
#define OSA_DEL		1
#define OSA_INS		2
#define OSA_SWAP	3

/*
 * OsaBoundedDiffer
 *		OsaBounded for k >= 1 and two non-empty strings whose first
 *		characters differ.  First whether one edit is enough (no recursion);
 *		then, for k >= 2, the best of the four edits on the first characters,
 *		each branch given one edit less than the best distance found so far
 *		needs, the edit that brings the byte lengths together first.  The
 *		search ends at distance 2, the least left once one edit is not
 *		enough.
 */
static int
OsaBoundedDiffer(const char *a, int alen, const char *b, int blen, int k)
{
	static const uint8 order[3][4] = {
		{OSA_SUB, OSA_SWAP, OSA_DEL, OSA_INS},	/* same byte length */
		{OSA_DEL, OSA_SUB, OSA_INS, OSA_SWAP},	/* a longer */
		{OSA_INS, OSA_SUB, OSA_DEL, OSA_SWAP}	/* b longer */
	};
	const uint8 *ord;
	int			la = OsaCharLen(a, a + alen);
	int			lb = OsaCharLen(b, b + blen);
	int			best = k + 1;

	if (OsaOneEdit(a, alen, la, b, blen, lb))
		return 1;
	if (k == 1)
		return 2;
	ord = order[(alen > blen) ? 1 : (alen < blen) ? 2 : 0];
	for (int e = 0; e < 4 && best > 2; e++)
	{
		int			r = best;

		switch (ord[e])
		{
			case OSA_SUB:
				r = 1 + OsaBounded(a + la, alen - la, b + lb, blen - lb,
								   best - 2);
				break;
			case OSA_DEL:
				r = 1 + OsaBounded(a + la, alen - la, b, blen, best - 2);
				break;
			case OSA_INS:
				r = 1 + OsaBounded(a, alen, b + lb, blen - lb, best - 2);
				break;
			case OSA_SWAP:
				/* a = x y ..., b = y x ... */
				if (la + lb <= alen && la + lb <= blen &&
					OsaBytesEqual(a + la, b, lb) && OsaBytesEqual(a, b + lb, la))
					r = 1 + OsaBounded(a + la + lb, alen - la - lb,
									   b + la + lb, blen - la - lb, best - 2);
				break;
		}
		best = Min(best, r);
	}
	return best;
}

/* The running state of Hyyrö's bit-vector OSA over one pattern. */
typedef struct OsaBits
{
	uint64		vp;
	uint64		vn;
	uint64		d0;
	uint64		pm_old;
	uint64		last;
	int			dist;
} OsaBits;

/*
 * OsaBitsInit
 *		The state before the first text character, for a pattern of plen
 *		(1..64) code points.
 */
static inline void
OsaBitsInit(OsaBits *st, int plen)
{
	st->vp = ~UINT64CONST(0);
	st->vn = 0;
	st->d0 = 0;
	st->pm_old = 0;
	st->last = UINT64CONST(1) << (plen - 1);
	st->dist = plen;
}

/*
 * OsaBitsStep
 *		Advances the state by one text character whose pattern mask is pmj;
 *		returns the distance of the pattern to the text read so far.
 */
static inline int
OsaBitsStep(OsaBits *st, uint64 pmj)
{
	uint64		tr = (((~st->d0) & pmj) << 1) & st->pm_old;
	uint64		hp,
				hn;

	st->d0 = (((pmj & st->vp) + st->vp) ^ st->vp) | pmj | st->vn | tr;
	hp = st->vn | ~(st->d0 | st->vp);
	hn = st->d0 & st->vp;
	if (hp & st->last)
		st->dist++;
	if (hn & st->last)
		st->dist--;
	hp = (hp << 1) | 1;
	hn = hn << 1;
	st->vp = hn | ~(st->d0 | hp);
	st->vn = hp & st->d0;
	st->pm_old = pmj;
	return st->dist;
}

/*
 * OsaHyyro
 *		OSA distance by Hyyrö's bit-vector algorithm; 1 <= plen <= 64 and the
 *		caller has built the position masks of the pattern (CmpPmBuild).
 *		Returns max_d + 1 as soon as the distance must exceed max_d (>= 0).
 */
static int
OsaHyyro(int plen, const int32 *t, int tlen, int max_d)
{
	OsaBits		st;
	int			dist = plen;

	OsaBitsInit(&st, plen);
	for (int j = 0; j < tlen; j++)
	{
		dist = OsaBitsStep(&st, CmpPmGet(t[j]));
		/* each remaining column lowers the distance by at most one */
		if (max_d >= 0 && dist - (tlen - j - 1) > max_d)
			return max_d + 1;
	}
	return (max_d >= 0 && dist > max_d) ? max_d + 1 : dist;
}

/*
 * OsaHyyroUtf8
 *		OsaHyyro reading the text straight from its UTF-8 bytes (tlen bytes,
 *		tchars code points); the pattern's masks are built (PmBuildUtf8).
 */
static int
OsaHyyroUtf8(int plen, const char *t, int tlen, int tchars, int max_d)
{
	const unsigned char *tp = (const unsigned char *) t;
	OsaBits		st;
	int			dist = plen;
	int			i = 0;

	OsaBitsInit(&st, plen);
	for (int j = 0; j < tchars; j++)
	{
		dist = OsaBitsStep(&st, CmpPmGet(CdpNextChar(tp, tlen, &i)));
		if (max_d >= 0 && dist - (tchars - j - 1) > max_d)
			return max_d + 1;
	}
	return (max_d >= 0 && dist > max_d) ? max_d + 1 : dist;
}

/*
 * PmBuildUtf8
 *		CmpPmBuild on len bytes of UTF-8 holding at most 64 code points.
 */
static bool
PmBuildUtf8(const char *s, int len)
{
	const unsigned char *p = (const unsigned char *) s;
	uint32		stamp = ++CmpPmStamp;
	int			i = 0;
	int			k = 0;

	if (unlikely(stamp == 0))
	{
		memset(CmpPmTable, 0, sizeof(CmpPmTable));
		stamp = CmpPmStamp = 1;
	}
	while (i < len)
	{
		int32		c = CdpNextChar(p, len, &i);
		CmpPmEntry *e = &CmpPmTable[c & 0xFF];

		if (e->stamp != stamp)
		{
			e->stamp = stamp;
			e->key = c;
			e->bits = UINT64CONST(1) << k;
		}
		else if (e->key == c)
			e->bits |= UINT64CONST(1) << k;
		else
			return false;
		k++;
	}
	return true;
}

/*
 * OsaDynamic
 *		OSA distance by the three-row dynamic programme, banded when
 *		max_d >= 0.  Cells are capped at inf, so they never overflow.
 */
static int
OsaDynamic(const int32 *a, int alen, const int32 *b, int blen, int max_d)
{
	int			inf = (max_d >= 0) ? max_d + 1 : alen + blen + 1;
	int		   *rows = palloc(sizeof(int) * 3 * (blen + 1));
	int		   *prev2 = rows;
	int		   *prev = rows + (blen + 1);
	int		   *cur = rows + 2 * (blen + 1);
	int			result;

	for (int j = 0; j <= blen; j++)
		prev[j] = Min(j, inf);

	for (int i = 1; i <= alen; i++)
	{
		int			lo = 1;
		int			hi = blen;
		int			rowmin;
		int32		ac = a[i - 1];
		int		   *tmp;

		if (max_d >= 0)
		{
			lo = Max(1, i - max_d);
			hi = Min(blen, i + max_d);
		}
		cur[lo - 1] = (lo == 1) ? Min(i, inf) : inf;
		rowmin = cur[lo - 1];
		for (int j = lo; j <= hi; j++)
		{
			int			v = prev[j - 1] + (ac != b[j - 1]);

			v = Min(v, prev[j] + 1);
			v = Min(v, cur[j - 1] + 1);
			if (i > 1 && j > 1 && ac == b[j - 2] && a[i - 2] == b[j - 1])
				v = Min(v, prev2[j - 2] + 1);
			v = Min(v, inf);
			cur[j] = v;
			rowmin = Min(rowmin, v);
		}
		if (hi < blen)
			cur[hi + 1] = inf;
		if (max_d >= 0 && rowmin > max_d)
		{
			pfree(rows);
			return max_d + 1;
		}
		tmp = prev2;
		prev2 = prev;
		prev = cur;
		cur = tmp;
	}
	result = prev[blen];
	pfree(rows);
	return (max_d >= 0 && result > max_d) ? max_d + 1 : result;
}

/*
 * CdpOsaDistanceCodes
 *		OSA distance of two code point arrays.  With max_d >= 0 any distance
 *		above max_d is returned as max_d + 1 (and found faster).
 */
int
CdpOsaDistanceCodes(const int32 *a, int alen, const int32 *b, int blen,
					int max_d)
{
	int			d;

	/*
	 * A common prefix or suffix never takes part in an optimal alignment's
	 * edits: a transposition across its border would have to swap two equal
	 * characters.
	 */
	while (alen > 0 && blen > 0 && a[0] == b[0])
	{
		a++;
		b++;
		alen--;
		blen--;
	}
	while (alen > 0 && blen > 0 && a[alen - 1] == b[blen - 1])
	{
		alen--;
		blen--;
	}

	/* the distance is at least the length difference */
	d = Abs(alen - blen);
	if (max_d >= 0 && d > max_d)
		return max_d + 1;
	if (alen == 0 || blen == 0)
		return d;

	/* the shorter string is the pattern (OSA is symmetric) */
	if (alen > blen)
	{
		const int32 *ts = a;
		int			tl = alen;

		a = b;
		alen = blen;
		b = ts;
		blen = tl;
	}
	if (alen <= 64 && CmpPmBuild(a, alen))
		return OsaHyyro(alen, b, blen, max_d);
	return OsaDynamic(a, alen, b, blen, max_d);
}

/*
 * OsaDecoded
 *		CdpOsaDistanceCodes on decoded copies: the path for long strings and
 *		for letters sharing a mask slot.  Kept out of line so that the common
 *		path does not carry two stack buffers.
 */
static pg_noinline int
OsaDecoded(const char *a, int alen, const char *b, int blen, int max_d)
{
	CdpCodes	ca,
				cb;
	int			d;

	CdpDecodeUtf8(a, alen, &ca);
	CdpDecodeUtf8(b, blen, &cb);
	d = CdpOsaDistanceCodes(ca.c, ca.len, cb.c, cb.len, max_d);
	CdpCodesFree(&ca);
	CdpCodesFree(&cb);
	return d;
}

/*
 * OsaAfterPrefix
 *		The rest of OsaDistanceUtf8, out of line so that the paths that end
 *		before it (a length difference over the cap, equal strings) stay
 *		short: pre is the length of the common prefix, on a character
 *		boundary, and the strings differ.
 */
static pg_noinline int
OsaAfterPrefix(const char *a, int alen, const char *b, int blen, int pre,
			   int max_d)
{
	const char *a0 = a;
	const char *b0 = b;
	int			suf,
				na,
				nb;

	a += pre;
	b += pre;
	alen -= pre;
	blen -= pre;

	/* a cap of 1 or 2: what is left between the common prefix and suffix */
	if (max_d >= 0 && max_d <= 2)
	{
		suf = OsaSuffixChars(a, alen, b, blen, Min(alen, blen));
		alen -= suf;
		blen -= suf;
		if (alen == 0)
			return OsaCharsUpTo(b, blen, max_d + 1);
		if (blen == 0)
			return OsaCharsUpTo(a, alen, max_d + 1);
		if (max_d == 0)
			return 1;
		/* one letter of one or two bytes for another: a substitution */
		if ((alen | blen) <= 2 &&
			alen == OsaLen12[(unsigned char) a[0]] &&
			blen == OsaLen12[(unsigned char) b[0]] &&
			(alen == 1 || IS_UTF8_CONT(a[1])) && (blen == 1 || IS_UTF8_CONT(b[1])))
			return 1;
		return OsaUpTo2(a0, a, alen, b0, b, blen, max_d);
	}

	/* a cap of 3: the bounded search */
	if (max_d >= 0 && max_d <= OSA_BOUNDED_MAX)
	{
		if (alen == 0)
			return OsaCharsUpTo(b, blen, max_d + 1);
		if (blen == 0)
			return OsaCharsUpTo(a, alen, max_d + 1);
		return OsaBoundedDiffer(a, alen, b, blen, max_d);
	}

	suf = OsaSuffixChars(a, alen, b, blen, Min(alen, blen));
	alen -= suf;
	blen -= suf;

	na = OsaCountChars(a, alen);
	nb = OsaCountChars(b, blen);
	if (max_d >= 0 && Abs(na - nb) > max_d)
		return max_d + 1;
	if (na == 0 || nb == 0)
		return Abs(na - nb);

	/* short middles: bit-parallel straight on the bytes, shorter as pattern */
	if (Min(na, nb) <= 64)
	{
		if (na > nb)
		{
			const char *ts = a;
			int			tl = alen,
						tn = na;

			a = b;
			alen = blen;
			na = nb;
			b = ts;
			blen = tl;
			nb = tn;
		}
		if (PmBuildUtf8(a, alen))
			return OsaHyyroUtf8(na, b, blen, nb, max_d);
	}

	return OsaDecoded(a, alen, b, blen, max_d);
}

/*
 * OsaDistanceUtf8
 *		CdpOsaDistance, inlined into the SQL wrappers.
 */
static pg_attribute_always_inline int
OsaDistanceUtf8(const char *a, int alen, const char *b, int blen, int max_d)
{
	int			pre;

	CdpCheckChars(a, alen, CDP_CMP_MAX_CHARS);
	CdpCheckChars(b, blen, CDP_CMP_MAX_CHARS);

	/*
	 * Under a cap, the length difference (which trimming does not change)
	 * settles most pairs of different people before any scanning.  A
	 * difference of bytes within the cap may still hide one of characters
	 * above it; the middles' counts catch that.
	 */
	if (max_d >= 0 && Abs(alen - blen) > max_d &&
		Abs(OsaCountChars(a, alen) - OsaCountChars(b, blen)) > max_d)
		return max_d + 1;

	pre = OsaPrefixChars(a, b, Min(alen, blen));
	if (pre == alen && pre == blen)
		return 0;
	return OsaAfterPrefix(a, alen, b, blen, pre, max_d);
}

/*
 * CdpOsaDistance
 *		OSA distance of two UTF-8 strings; max_d < 0: no cap.  With max_d >= 0
 *		any distance above max_d is returned as max_d + 1 (and found faster).
 */
int
CdpOsaDistance(const char *a, int alen, const char *b, int blen, int max_d)
{
	return OsaDistanceUtf8(a, alen, b, blen, max_d);
}

/*
 * OsaArg
 *		A text argument as a possibly short-header varlena: what
 *		PG_GETARG_TEXT_PP gives, without the function call when the datum is
 *		neither compressed nor stored out of line (a column of short names).
 */
static inline text *
OsaArg(FunctionCallInfo fcinfo, int n)
{
	struct varlena *v = (struct varlena *) PG_GETARG_POINTER(n);

	if (unlikely(VARATT_IS_COMPRESSED(v) || VARATT_IS_EXTERNAL(v)))
		v = pg_detoast_datum_packed(v);
	return (text *) v;
}

/*
 * cdp_osa_distance
 *		SQL cdp.osa_distance(a text, b text) RETURNS int.
 */
Datum
cdp_osa_distance(PG_FUNCTION_ARGS)
{
	text	   *a = OsaArg(fcinfo, 0);
	text	   *b = OsaArg(fcinfo, 1);

	CdpCheckDatabaseUtf8();
	PG_RETURN_INT32(OsaDistanceUtf8(VARDATA_ANY(a), VARSIZE_ANY_EXHDR(a),
									VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b), -1));
}

/*
 * cdp_osa_distance_max
 *		SQL cdp.osa_distance(a text, b text, max_distance int) RETURNS int:
 *		max_distance + 1 when the distance exceeds max_distance.
 */
Datum
cdp_osa_distance_max(PG_FUNCTION_ARGS)
{
	text	   *a = OsaArg(fcinfo, 0);
	text	   *b = OsaArg(fcinfo, 1);
	int32		max_d = PG_GETARG_INT32(2);

	if (max_d < 0 || max_d > CDP_CMP_MAX_CHARS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_distance must be between 0 and %d, not \"%d\"",
						CDP_CMP_MAX_CHARS, max_d),
				 errhint("Call cdp.osa_distance(a, b) for the distance without a cap.")));
	CdpCheckDatabaseUtf8();
	PG_RETURN_INT32(OsaDistanceUtf8(VARDATA_ANY(a), VARSIZE_ANY_EXHDR(a),
									VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b), max_d));
}

/*
 * cdp_osa_similarity
 *		SQL cdp.osa_similarity(a text, b text) RETURNS float8:
 *		1 - distance / max(length), 1 for two empty strings.
 */
Datum
cdp_osa_similarity(PG_FUNCTION_ARGS)
{
	text	   *a = OsaArg(fcinfo, 0);
	text	   *b = OsaArg(fcinfo, 1);
	int			alen = VARSIZE_ANY_EXHDR(a);
	int			blen = VARSIZE_ANY_EXHDR(b);
	int			d,
				n;

	CdpCheckDatabaseUtf8();
	d = OsaDistanceUtf8(VARDATA_ANY(a), alen, VARDATA_ANY(b), blen, -1);
	n = Max(OsaCountChars(VARDATA_ANY(a), alen),
			OsaCountChars(VARDATA_ANY(b), blen));
	PG_RETURN_FLOAT8(n == 0 ? 1.0 : 1.0 - (double) d / n);
}
