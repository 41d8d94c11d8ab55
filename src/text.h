/*-------------------------------------------------------------------------
 *
 * src/text.h
 *		Layer 2, text family: name normalisation, transliteration between
 *		Cyrillic and Latin, one comparable cross-script name key, and Russian
 *		word forms (surname and patronymic bases, sex hints, given-name
 *		variants).
 *
 * Every function takes UTF-8 with an explicit byte length (no terminator
 * needed), raises an error for input longer than CDP_MAX_TEXT_BYTES or not
 * valid UTF-8, and returns a palloc'd, NUL-terminated UTF-8 string in the
 * current memory context.  None of them reads a table: they are pure and safe
 * in parallel workers.  See doc/text.md for the rules.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CDP_TEXT_H
#define CDP_TEXT_H

#include "cdp.h"
#include "cdp_utf8.h"

#include "fmgr.h"

/* the contract with the other families (doc/architecture.md) */

/* number of characters (lead bytes) in nbytes of UTF-8 */
extern int	CdpUtf8Chars(const char *s, int nbytes);

/* NFKC, case fold, ё->е, no diacritics or punctuation, single spaces */
extern char *CdpNormalizeName(const char *s, int len);

/* 'icao' (also for NULL), 'gost_b', 'bgn', 'informal' (Cyrillic->Latin) or 'lat2cyr' */
extern char *CdpTranslit(const char *s, int len, const char *scheme);

/* one comparable lower-case Latin key for any spelling of a name */
extern char *CdpNameKey(const char *s, int len);

/* CdpNameKey of a name already normalised by CdpNormalizeName (NUL-terminated) */
extern char *CdpNameKeyOfNormalized(const char *norm);

/* Иванова -> иванов (normalised, gender-neutral base of a surname) */
extern char *CdpSurnameBase(const char *s, int len);

/* Петровна/Петровича -> петрович */
extern char *CdpPatronymicBase(const char *s, int len);

/* 'M', 'F' or 0 when the form carries no sex */
extern char CdpNameSexHint(const char *s, int len);

/* additions of the text family */

/* name key of the gender-neutral bases of every token (Иванова Мария -> ivanov maria) */
extern char *CdpNameBaseKey(const char *s, int len);

/* canonical normalised given name (Маша/Марья/Maria -> мария), or the normalised input */
extern char *CdpGivenNameBase(const char *s, int len);

/*
 * Every canonical given name a form may stand for (Саша -> александр,
 * александра); returns the count and sets *out to a palloc'd array.  Zero
 * when the name is not in the built-in table.  An exact lookup of the form;
 * SQL cdp.given_name_bases adds a fallback to the word's stem when the form
 * itself is not listed.
 */
extern int	CdpGivenNameBases(const char *s, int len, char ***out);

/*
 * Whether a name is a listed given name (lookup of cdp.given_name_bases, stem
 * fallback included); with asItIs only when it is itself a canonical name.
 */
extern bool CdpGivenNameListed(const char *s, int len, bool asItIs);

/*
 * Name roles (text_roles.c): which of three name parts, filed as family,
 * given and patronymic name (UTF-8, NULL when missing), is which by what the
 * words are.  Sets role[0..2] to the index of the part that is the family,
 * the given name and the patronymic; {0, 1, 2} when the order stands.
 */
extern void CdpNameRoles(const char *const part[3], int role[3]);

/* Word shapes behind the roles (NULL-safe, UTF-8) */
extern bool TextShapeInitial(const char *w);
extern bool TextShapePatronymic(const char *w);
extern bool TextShapeSurname(const char *w);

/* 'M', 'F' or 0 for a single given name from the built-in table */
extern char CdpGivenNameSex(const char *s, int len);

/*
 * Tokens of the normalised name, in order; a hyphenated token is followed by
 * its parts.  Returns the count and sets *out to a palloc'd array.
 */
extern int	CdpNameTokens(const char *s, int len, char ***out);

/* Snowball Russian stem of every token of the normalised text */
extern char *CdpRussianStem(const char *s, int len);

/* helpers shared by the text_*.c files (not part of the cross-family contract) */

/*
 * CdpTextCheck
 *		The text family's input check: the shared check (cdp_utf8.c) with the
 *		shared cap, CDP_MAX_TEXT_BYTES, and the bytes verified as UTF-8.
 */
static inline void
CdpTextCheck(const char *s, int len)
{
	CdpCheckInput(s, len, CDP_MAX_TEXT_BYTES, CDP_CHECK_UTF8);
}

/* The UTF-8 bytes of a text argument (converted from the server encoding) */
extern char *TextArgUtf8(text *t, int *len);

/* A text Datum for a UTF-8 C string (converted to the server encoding) */
extern text *TextResultUtf8(const char *s);

/* The name key of text already normalised by CdpNormalizeName */
extern char *TextKeyOfNormalized(const char *norm);

/* Surname base and patronymic base of one token of normalised text */
extern char *TextSurnameWord(const char *w, int wl);
extern char *TextPatronymicWord(const char *w, int wl);

/*
 * Given-name lookup of one token of normalised text: fills canon[] (room for
 * MAX_GIVEN_BASES static strings, may be NULL) and *sex ('M', 'F', or 0 when
 * unknown or both); returns how many canonical forms were found.
 */
#define MAX_GIVEN_BASES 4
extern int	TextGivenNameWord(const char *w, int wl, const char **canon, char *sex);

/* one token rewriter: normalised token (w, wl bytes) -> palloc'd result */
typedef char *(*TextTokenFn) (const char *w, int wl);

/* Normalises s and rewrites every token (between spaces and hyphens) with fn */
extern char *TextMapTokens(const char *s, int len, TextTokenFn fn);

/*
 * The lexicon (text_lexicon.c): rows of the given-name table for one token
 * of normalised text (w, wl bytes) or for a name given as any text (0 unless
 * it normalises to one word); with useStem, a declined Cyrillic form falls
 * back to its Snowball stem.  rows has room for MAX_GIVEN_BASES.
 */
extern int	TextLexiconLookup(const char *w, int wl, bool useStem, int *rows);
extern int	TextLexiconLookupName(const char *s, int len, bool useStem, int *rows);
extern const char *TextLexiconCanon(int row);
extern char TextLexiconSex(int row);

/* Appends the UTF-8 form of code point c to a buffer of at least 4 free bytes */
extern int	TextPutUtf8(char *dst, int32 c);

#endif							/* CDP_TEXT_H */
