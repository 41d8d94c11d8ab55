/*-------------------------------------------------------------------------
 *
 * src/phonetic.h
 *		Phonetic keys (layer 2): a Russian metaphone-style key for Cyrillic
 *		names, Lawrence Philips' Double Metaphone and Daitch-Mokotoff soundex.
 *
 * Every function takes UTF-8 text with an explicit length, refuses input
 * longer than CDP_MAX_TEXT_BYTES, and returns palloc'd results.  An input
 * with nothing to code gives an empty key (an empty string, or zero codes).
 * See doc/phonetic.md for the rules of each algorithm.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CDP_PHONETIC_H
#define CDP_PHONETIC_H

#include "cdp.h"
#include "cdp_utf8.h"
#include "mb/pg_wchar.h"

/* Longest Double Metaphone code, as in Philips' original (2000). */
#define CDP_DMETAPHONE_MAXLEN	4

/* Digits of one Daitch-Mokotoff code, and the most codes returned for a name. */
#define CDP_DM_DIGITS			6
#define CDP_DM_MAX_CODES		32

/* Russian metaphone-style key of Cyrillic text; folds feminine endings. */
extern char *CdpPhoneticRu(const char *s, int len);

/* The same, with the feminine-ending fold chosen by the caller. */
extern char *CdpPhoneticRuExt(const char *s, int len, bool fold_gender);

/* Double Metaphone: primary and alternate code (each at most 4 letters). */
extern void CdpDoubleMetaphone(const char *s, int len, char **primary, char **alternate);

/* Daitch-Mokotoff soundex: sets *codes to the distinct 6-digit codes, sorted; returns their count. */
extern int	CdpDMSoundex(const char *s, int len, char ***codes);

/* ---- helpers shared by the phon_*.c files (phon_common.c) ---- */

/* ASCII upper-case spelling of a Latin letter with diacritics, or NULL. */
extern const char *PhonFoldLatin(pg_wchar c);

/* Is the code point a combining diacritical mark (U+0300..U+036F)? */
#define PhonIsCombining(c)	((c) >= 0x300 && (c) <= 0x36F)

#endif							/* CDP_PHONETIC_H */
