/*-------------------------------------------------------------------------
 *
 * src/cmp_common.c
 *		State and helpers shared by the comparators (cmp_int.h): the
 *		position-mask table of the bit-parallel Jaro and OSA and the cheap
 *		case fold of the token comparator.  Decoding is the shared decoder
 *		of every family (cdp_utf8.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "cmp_int.h"

/* the position masks of the bit-parallel comparators (see cmp_int.h) */
CmpPmEntry	CmpPmTable[256];
uint32		CmpPmStamp = 0;

/*
 * CmpSimpleLower
 *		Lower case for Latin (ASCII and Latin-1) and Russian Cyrillic letters,
 *		with ё folded to е as Russian names are written either way.  Other
 *		code points are returned unchanged: the text family does full Unicode
 *		case folding; this is the cheap version the comparators need.
 */
int32
CmpSimpleLower(int32 c)
{
	if (c < 0x80)
		return (c >= 'A' && c <= 'Z') ? c + 32 : c;
	if (c >= 0xC0 && c <= 0xDE && c != 0xD7)
		return c + 32;
	if (c >= 0x410 && c <= 0x42F)
		return c + 32;
	if (c == 0x401 || c == 0x451)
		return 0x435;			/* Ё, ё -> е */
	if (c >= 0x400 && c <= 0x40F)
		return c + 80;
	return c;
}
