/*-------------------------------------------------------------------------
 *
 * test/fuzz/fuzz_common.h
 *		Input decoding shared by the cdp fuzz targets: how the bytes libFuzzer
 *		hands over become one or two strings.
 *
 * A leading 0xFE byte (never part of UTF-8) asks for the rest of the input
 * repeated past a length cap, so the caps (64 kB of text, 1000 code points
 * for a comparator) and the long-string paths are reached although
 * libFuzzer's inputs stay small.  A pair of strings is split at the first
 * 0xFF byte (also never part of UTF-8); without one, at the middle.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CDP_FUZZ_COMMON_H
#define CDP_FUZZ_COMMON_H

#include "pg_shim.h"

/* the amplifying prefix byte and the pair separator */
#define FUZZ_REPEAT_BYTE	0xFE
#define FUZZ_SPLIT_BYTE		0xFF

/*
 * FuzzRepeat
 *		A palloc'd copy of s[0..len) repeated to at least target bytes.
 */
static inline char *
FuzzRepeat(const char *s, int len, int target, int *outlen)
{
	char	   *out;
	int			n;

	if (len <= 0)
	{
		*outlen = 0;
		return palloc(0);
	}
	n = (target + len - 1) / len * len;
	out = palloc(n);
	for (int i = 0; i < n; i += len)
		memcpy(out + i, s, len);
	*outlen = n;
	return out;
}

/*
 * FuzzOneString
 *		The input as one string: a palloc'd copy of exactly its bytes, with
 *		no terminator (the kernels take a length), so AddressSanitizer sees
 *		a read even one byte past its end; amplified to target bytes when it starts with 0xFE.
 */
static inline char *
FuzzOneString(const uint8_t *data, size_t size, int target, int *len)
{
	char	   *s;

	if (size >= 2 && data[0] == FUZZ_REPEAT_BYTE)
		return FuzzRepeat((const char *) data + 1, (int) size - 1, target, len);
	s = palloc(size);
	memcpy(s, data, size);
	*len = (int) size;
	return s;
}

/*
 * FuzzTwoStrings
 *		The input as two strings (palloc'd copies without terminator), split at the first 0xFF
 *		or at the middle; the second is amplified to target bytes when the
 *		input starts with 0xFE.
 */
static inline void
FuzzTwoStrings(const uint8_t *data, size_t size, int target,
			   char **a, int *alen, char **b, int *blen)
{
	const uint8_t *sep;
	size_t		na;
	bool		repeat = false;

	if (size >= 1 && data[0] == FUZZ_REPEAT_BYTE)
	{
		repeat = true;
		data++;
		size--;
	}
	sep = memchr(data, FUZZ_SPLIT_BYTE, size);
	na = sep ? (size_t) (sep - data) : size / 2;
	*a = palloc(na);
	memcpy(*a, data, na);
	*alen = (int) na;
	if (sep)
		na++;
	if (repeat)
		*b = FuzzRepeat((const char *) data + na, (int) (size - na), target, blen);
	else
	{
		*b = palloc(size - na);
		memcpy(*b, data + na, size - na);
		*blen = (int) (size - na);
	}
}

#endif							/* CDP_FUZZ_COMMON_H */
