/*-------------------------------------------------------------------------
 *
 * src/phon_common.c
 *		The Latin diacritic fold shared by the phonetic key builders
 *		(phon_ru.c, phon_dmetaphone.c, phon_dmsoundex.c).  Input checks and
 *		UTF-8 decoding are the shared ones of cdp_utf8.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"

#include "phonetic.h"

/*
 * Fold of U+00C0..U+00FF (Latin-1 Supplement letters) to one ASCII letter.
 * '*' marks a code point that is not a letter (multiplication and division
 * signs); the digits mark letters spelt with two ASCII letters (see
 * fold_pairs).
 */
static const char latin1_fold[64 + 1] =
"AAAAAA1CEEEEIIIIDNOOOOO*OUUUUY23"
"AAAAAA1CEEEEIIIIDNOOOOO*OUUUUY2Y";

/*
 * Fold of U+0100..U+017F (Latin Extended-A), same conventions: each group
 * of letters is one base letter with its accents, upper and lower case.
 */
static const char latin_ext_a_fold[128 + 1] =
"AAAAAA" "CCCCCCCC" "DDDD" "EEEEEEEEEE" "GGGGGGGG" "HHHH" "IIIIIIIIII"
"44" "JJ" "KKK" "LLLLLLLLLL" "NNNNNNNNN" "OOOOOO" "55" "RRRRRR" "SSSSSSSS"
"TTTTTT" "UUUUUUUUUUUU" "WW" "YYY" "ZZZZZZ" "S";

/* Two-letter spellings referred to by the digits in the tables above. */
static const char *const fold_pairs[] = {"", "AE", "TH", "SS", "IJ", "OE"};

/* One-letter results, indexed by letter, so PhonFoldLatin can return a string. */
static const char *const fold_single[26] = {
	"A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M",
	"N", "O", "P", "Q", "R", "S", "T", "U", "V", "W", "X", "Y", "Z"
};

StaticAssertDecl(sizeof(latin1_fold) == 65, "latin1_fold covers U+00C0..U+00FF");
StaticAssertDecl(sizeof(latin_ext_a_fold) == 129, "latin_ext_a_fold covers U+0100..U+017F");

/*
 * PhonFoldLatin
 *		ASCII upper-case spelling of a Latin letter: a-z and A-Z themselves,
 *		and the accented letters of Latin-1 and Latin Extended-A (plus the
 *		Romanian S and T with comma below) without their accents.  Returns
 *		NULL for every other code point.
 */
const char *
PhonFoldLatin(pg_wchar c)
{
	char		f;

	if (c >= 'A' && c <= 'Z')
		return fold_single[c - 'A'];
	if (c >= 'a' && c <= 'z')
		return fold_single[c - 'a'];
	if (c >= 0xC0 && c <= 0xFF)
		f = latin1_fold[c - 0xC0];
	else if (c >= 0x100 && c <= 0x17F)
		f = latin_ext_a_fold[c - 0x100];
	else if (c == 0x218 || c == 0x219)
		f = 'S';
	else if (c == 0x21A || c == 0x21B)
		f = 'T';
	else
		return NULL;

	if (f >= 'A' && f <= 'Z')
		return fold_single[f - 'A'];
	if (f >= '1' && f <= '5')
		return fold_pairs[f - '0'];
	return NULL;
}
