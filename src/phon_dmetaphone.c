/*-------------------------------------------------------------------------
 *
 * src/phon_dmetaphone.c
 *		Double Metaphone (Lawrence Philips, "The Double Metaphone Search
 *		Algorithm", C/C++ Users Journal, June 2000): a primary and an
 *		alternate code of at most four letters for a (mostly Latin-script)
 *		name, covering English, Germanic, Slavic, Romance and other
 *		spellings.
 *
 * The rules are those of Philips' published algorithm, taken letter by
 * letter; the code is written anew, one function per letter with many
 * rules.  Letters with accents are folded first (É -> E, Ñ -> N); Ç keeps
 * its own rule (S).  Characters that are not Latin letters take a
 * position but code nothing, as in the original, so "VAN " / "SAN "
 * prefixes still work on multi-word input.  Codes match PostgreSQL's
 * fuzzystrmatch dmetaphone() on ASCII input (checked by the pgTAP suite).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "phonetic.h"

/* Stand-ins in the upper-cased word for characters without an ASCII letter. */
#define DM_C_CEDILLA	'\x01'	/* Ç, coded S */
#define DM_OTHER		'\x02'	/* any other non-Latin character */

/* Spaces after the word, so rules may look a few letters past its end. */
#define DM_PAD			"     "
#define DM_PADLEN		5

/* The word being coded and the two codes built so far. */
typedef struct DmCoder
{
	char	   *w;				/* upper-case word followed by DM_PAD */
	int			padded;			/* length including the padding */
	int			length;			/* length of the word itself */
	int			last;			/* index of its last character */
	bool		slavo_germanic; /* word holds W, K or CZ */
	StringInfoData primary;
	StringInfoData alternate;
} DmCoder;

/*
 * Ch
 *		Character at pos, or '\0' outside the padded word.
 */
static inline char
Ch(const DmCoder *d, int pos)
{
	return (pos < 0 || pos >= d->padded) ? '\0' : d->w[pos];
}

/*
 * IsVowel
 *		Is the character at pos one of A E I O U Y?
 */
static bool
IsVowel(const DmCoder *d, int pos)
{
	char		c = Ch(d, pos);

	return c != '\0' && strchr("AEIOUY", c) != NULL;
}

/*
 * At
 *		Does one of the '|'-separated alternatives occur at pos?  The
 *		comparison may run into the padding but never before the word.
 */
static bool
At(const DmCoder *d, int pos, const char *alternatives)
{
	const char *a = alternatives;

	if (pos < 0 || pos >= d->padded)
		return false;
	while (*a)
	{
		int			k = 0;
		bool		same = true;

		for (; a[k] && a[k] != '|'; k++)
			if (same && Ch(d, pos + k) != a[k])
				same = false;
		if (same)
			return true;
		a += k;
		if (*a == '|')
			a++;
	}
	return false;
}

/*
 * Emit
 *		Appends to the primary and the alternate code.
 */
static inline void
Emit(DmCoder *d, const char *primary, const char *alternate)
{
	appendStringInfoString(&d->primary, primary);
	appendStringInfoString(&d->alternate, alternate);
}

/* Both codes get the same letters. */
#define Emit2(d, s)	Emit((d), (s), (s))

/*
 * Germanic
 *		Word starts with "VAN ", "VON " or "SCH": a Germanic name.
 */
static bool
Germanic(const DmCoder *d)
{
	return At(d, 0, "VAN |VON ") || At(d, 0, "SCH");
}

/*
 * CodeC
 *		The letter C; returns the number of characters consumed.
 */
static int
CodeC(DmCoder *d, int i)
{
	/* Germanic -ACH- as in "bacher", "macher", but not "-achi-", "-ache-" */
	if (i > 1 && !IsVowel(d, i - 2) && At(d, i - 1, "ACH") &&
		Ch(d, i + 2) != 'I' &&
		(Ch(d, i + 2) != 'E' || At(d, i - 2, "BACHER|MACHER")))
	{
		Emit2(d, "K");
		return 2;
	}
	if (i == 0 && At(d, i, "CAESAR"))
	{
		Emit2(d, "S");
		return 2;
	}
	if (At(d, i, "CHIA"))		/* Italian "chianti" */
	{
		Emit2(d, "K");
		return 2;
	}
	if (At(d, i, "CH"))
	{
		if (i > 0 && At(d, i, "CHAE"))	/* "michael" */
			Emit(d, "K", "X");
		else if (i == 0 &&
				 (At(d, i + 1, "HARAC|HARIS") || At(d, i + 1, "HOR|HYM|HIA|HEM")) &&
				 !At(d, 0, "CHORE"))	/* Greek roots: "chorus", "chemistry" */
			Emit2(d, "K");
		else if (Germanic(d) ||
				 At(d, i - 2, "ORCHES|ARCHIT|ORCHID") ||
				 At(d, i + 2, "T|S") ||
				 ((At(d, i - 1, "A|O|U|E") || i == 0) &&
				  At(d, i + 2, "L|R|N|M|B|H|F|V|W| ")))
			Emit2(d, "K");		/* "wachtler", "wechsler", "orchestra" */
		else if (i > 0)
		{
			if (At(d, 0, "MC"))
				Emit2(d, "K");	/* "McHugh" */
			else
				Emit(d, "X", "K");
		}
		else
			Emit2(d, "X");
		return 2;
	}
	if (At(d, i, "CZ") && !At(d, i - 2, "WICZ"))	/* "czerny" */
	{
		Emit(d, "S", "X");
		return 2;
	}
	if (At(d, i + 1, "CIA"))	/* "focaccia" */
	{
		Emit2(d, "X");
		return 3;
	}
	if (At(d, i, "CC") && !(i == 1 && Ch(d, 0) == 'M'))	/* not "McClellan" */
	{
		if (At(d, i + 2, "I|E|H") && !At(d, i + 2, "HU"))
		{
			/* "accident", "succeed" against Italian "bacci", "bertucci" */
			if ((i == 1 && Ch(d, i - 1) == 'A') || At(d, i - 1, "UCCEE|UCCES"))
				Emit2(d, "KS");
			else
				Emit2(d, "X");
			return 3;
		}
		Emit2(d, "K");			/* "bacchus" */
		return 2;
	}
	if (At(d, i, "CK|CG|CQ"))
	{
		Emit2(d, "K");
		return 2;
	}
	if (At(d, i, "CI|CE|CY"))
	{
		if (At(d, i, "CIO|CIE|CIA"))	/* Italian against English */
			Emit(d, "S", "X");
		else
			Emit2(d, "S");
		return 2;
	}
	Emit2(d, "K");
	if (At(d, i + 1, " C| Q| G"))	/* "mac caffrey", "mac gregor" */
		return 3;
	if (At(d, i + 1, "C|K|Q") && !At(d, i + 1, "CE|CI"))
		return 2;
	return 1;
}

/*
 * CodeD
 *		The letter D.
 */
static int
CodeD(DmCoder *d, int i)
{
	if (At(d, i, "DG"))
	{
		if (At(d, i + 2, "I|E|Y"))	/* "edge" */
		{
			Emit2(d, "J");
			return 3;
		}
		Emit2(d, "TK");			/* "edgar" */
		return 2;
	}
	Emit2(d, "T");
	return At(d, i, "DT|DD") ? 2 : 1;
}

/*
 * CodeGH
 *		The pair GH (i points at the G).
 */
static int
CodeGH(DmCoder *d, int i)
{
	if (i > 0 && !IsVowel(d, i - 1))
	{
		Emit2(d, "K");
		return 2;
	}
	if (i == 0)
	{
		/* "ghislane", "ghiradelli" */
		Emit2(d, Ch(d, i + 2) == 'I' ? "J" : "K");
		return 2;
	}
	/* Parker's rule: silent in "hugh", "bough", "broughton" */
	if ((i > 1 && At(d, i - 2, "B|H|D")) ||
		(i > 2 && At(d, i - 3, "B|H|D")) ||
		(i > 3 && At(d, i - 4, "B|H")))
		return 2;
	/* "laugh", "McLaughlin", "cough", "rough", "tough" */
	if (i > 2 && Ch(d, i - 1) == 'U' && At(d, i - 3, "C|G|L|R|T"))
		Emit2(d, "F");
	else if (Ch(d, i - 1) != 'I')
		Emit2(d, "K");
	return 2;
}

/*
 * CodeG
 *		The letter G.
 */
static int
CodeG(DmCoder *d, int i)
{
	if (Ch(d, i + 1) == 'H')
		return CodeGH(d, i);
	if (Ch(d, i + 1) == 'N')
	{
		if (i == 1 && IsVowel(d, 0) && !d->slavo_germanic)
			Emit(d, "KN", "N");
		else if (!At(d, i + 2, "EY") && !d->slavo_germanic)
			Emit(d, "N", "KN");	/* not "cagney" */
		else
			Emit2(d, "KN");
		return 2;
	}
	if (At(d, i + 1, "LI") && !d->slavo_germanic)	/* "tagliaro" */
	{
		Emit(d, "KL", "L");
		return 2;
	}
	/* -ges-, -gep-, -gel-, -gie- at the beginning */
	if (i == 0 &&
		(Ch(d, i + 1) == 'Y' || At(d, i + 1, "ES|EP|EB|EL|EY|IB|IL|IN|IE|EI|ER")))
	{
		Emit(d, "K", "J");
		return 2;
	}
	/* -ger-, -gy- */
	if ((At(d, i + 1, "ER") || Ch(d, i + 1) == 'Y') &&
		!At(d, 0, "DANGER|RANGER|MANGER") &&
		!At(d, i - 1, "E|I") && !At(d, i - 1, "RGY|OGY"))
	{
		Emit(d, "K", "J");
		return 2;
	}
	/* Italian "biaggi" */
	if (At(d, i + 1, "E|I|Y") || At(d, i - 1, "AGGI|OGGI"))
	{
		if (Germanic(d) || At(d, i + 1, "ET"))
			Emit2(d, "K");
		else if (At(d, i + 1, "IER "))	/* French ending */
			Emit2(d, "J");
		else
			Emit(d, "J", "K");
		return 2;
	}
	Emit2(d, "K");
	return Ch(d, i + 1) == 'G' ? 2 : 1;
}

/*
 * CodeJ
 *		The letter J.
 */
static int
CodeJ(DmCoder *d, int i)
{
	if (At(d, i, "JOSE") || At(d, 0, "SAN "))	/* Spanish "jose", "san jacinto" */
	{
		if ((i == 0 && Ch(d, i + 4) == ' ') || At(d, 0, "SAN "))
			Emit2(d, "H");
		else
			Emit(d, "J", "H");
		return 1;
	}
	if (i == 0)
		Emit(d, "J", "A");		/* "Yankelovich" / "Jankelowicz" */
	else if (IsVowel(d, i - 1) && !d->slavo_germanic &&
			 (Ch(d, i + 1) == 'A' || Ch(d, i + 1) == 'O'))
		Emit(d, "J", "H");		/* Spanish "bajador" */
	else if (i == d->last)
		Emit(d, "J", "");
	else if (!At(d, i + 1, "L|T|K|S|N|M|B|Z") && !At(d, i - 1, "S|K|L"))
		Emit2(d, "J");
	return Ch(d, i + 1) == 'J' ? 2 : 1;
}

/*
 * CodeL
 *		The letter L: Spanish -LL- ("cabrillo", "gallegos") has no L in the
 *		alternate code.
 */
static int
CodeL(DmCoder *d, int i)
{
	if (Ch(d, i + 1) != 'L')
	{
		Emit2(d, "L");
		return 1;
	}
	if ((i == d->length - 3 && At(d, i - 1, "ILLO|ILLA|ALLE")) ||
		((At(d, d->last - 1, "AS|OS") || At(d, d->last, "A|O")) &&
		 At(d, i - 1, "ALLE")))
		Emit(d, "L", "");
	else
		Emit2(d, "L");
	return 2;
}

/*
 * CodeS
 *		The letter S.
 */
static int
CodeS(DmCoder *d, int i)
{
	if (At(d, i - 1, "ISL|YSL"))	/* "island", "isle", "carlisle" */
		return 1;
	if (i == 0 && At(d, i, "SUGAR"))
	{
		Emit(d, "X", "S");
		return 1;
	}
	if (At(d, i, "SH"))
	{
		if (At(d, i + 1, "HEIM|HOEK|HOLM|HOLZ"))	/* Germanic */
			Emit2(d, "S");
		else
			Emit2(d, "X");
		return 2;
	}
	if (At(d, i, "SIO|SIA") || At(d, i, "SIAN"))	/* Italian, Armenian */
	{
		if (d->slavo_germanic)
			Emit2(d, "S");
		else
			Emit(d, "S", "X");
		return 3;
	}
	/* "smith" against "schmidt", "snider" against "schneider"; Slavic -SZ- */
	if ((i == 0 && At(d, i + 1, "M|N|L|W")) || At(d, i + 1, "Z"))
	{
		Emit(d, "S", "X");
		return At(d, i + 1, "Z") ? 2 : 1;
	}
	if (At(d, i, "SC"))
	{
		if (Ch(d, i + 2) == 'H')
		{
			if (At(d, i + 3, "OO|ER|EN|UY|ED|EM"))
			{
				/* Dutch "school"; "schermerhorn", "schenker" */
				if (At(d, i + 3, "ER|EN"))
					Emit(d, "X", "SK");
				else
					Emit2(d, "SK");
			}
			else if (i == 0 && !IsVowel(d, 3) && Ch(d, 3) != 'W')
				Emit(d, "X", "S");	/* Schlesinger's rule */
			else
				Emit2(d, "X");
			return 3;
		}
		if (At(d, i + 2, "I|E|Y"))
			Emit2(d, "S");
		else
			Emit2(d, "SK");
		return 3;
	}
	if (i == d->last && At(d, i - 2, "AI|OI"))	/* French "resnais", "artois" */
		Emit(d, "", "S");
	else
		Emit2(d, "S");
	return At(d, i + 1, "S|Z") ? 2 : 1;
}

/*
 * CodeT
 *		The letter T.
 */
static int
CodeT(DmCoder *d, int i)
{
	if (At(d, i, "TION") || At(d, i, "TIA|TCH"))
	{
		Emit2(d, "X");
		return 3;
	}
	if (At(d, i, "TH") || At(d, i, "TTH"))
	{
		/* "thomas", "thames" or Germanic */
		if (At(d, i + 2, "OM|AM") || Germanic(d))
			Emit2(d, "T");
		else
			Emit(d, "0", "T");
		return 2;
	}
	Emit2(d, "T");
	return At(d, i + 1, "T|D") ? 2 : 1;
}

/*
 * CodeW
 *		The letter W.
 */
static int
CodeW(DmCoder *d, int i)
{
	if (At(d, i, "WR"))
	{
		Emit2(d, "R");
		return 2;
	}
	if (i == 0 && (IsVowel(d, i + 1) || At(d, i, "WH")))
	{
		/* "Wasserman" against "Vasserman"; "Uomo" against "Womo" */
		if (IsVowel(d, i + 1))
			Emit(d, "A", "F");
		else
			Emit2(d, "A");
	}
	/* "Arnow" against "Arnoff" */
	if ((i == d->last && IsVowel(d, i - 1)) ||
		At(d, i - 1, "EWSKI|EWSKY|OWSKI|OWSKY") || At(d, 0, "SCH"))
	{
		Emit(d, "", "F");
		return 1;
	}
	if (At(d, i, "WICZ|WITZ"))	/* Polish "filipowicz" */
	{
		Emit(d, "TS", "FX");
		return 4;
	}
	return 1;
}

/*
 * CodeLetter
 *		Codes the character at i and returns how many characters it used.
 */
static int
CodeLetter(DmCoder *d, int i)
{
	char		c = d->w[i];
	char		next = Ch(d, i + 1);

	switch (c)
	{
		case 'A':
		case 'E':
		case 'I':
		case 'O':
		case 'U':
		case 'Y':
			if (i == 0)
				Emit2(d, "A");	/* every initial vowel codes A */
			return 1;
		case 'B':
			Emit2(d, "P");		/* "-mb" as in "dumb" is handled at M */
			return next == 'B' ? 2 : 1;
		case DM_C_CEDILLA:
			Emit2(d, "S");
			return 1;
		case 'C':
			return CodeC(d, i);
		case 'D':
			return CodeD(d, i);
		case 'F':
			Emit2(d, "F");
			return next == 'F' ? 2 : 1;
		case 'G':
			return CodeG(d, i);
		case 'H':
			/* kept only when first or between vowels, and before a vowel */
			if ((i == 0 || IsVowel(d, i - 1)) && IsVowel(d, i + 1))
			{
				Emit2(d, "H");
				return 2;
			}
			return 1;
		case 'J':
			return CodeJ(d, i);
		case 'K':
			Emit2(d, "K");
			return next == 'K' ? 2 : 1;
		case 'L':
			return CodeL(d, i);
		case 'M':
			Emit2(d, "M");
			/* "dumb", "thumb", "plumber" */
			if ((At(d, i - 1, "UMB") && (i + 1 == d->last || At(d, i + 2, "ER"))) ||
				next == 'M')
				return 2;
			return 1;
		case 'N':
			Emit2(d, "N");
			return next == 'N' ? 2 : 1;
		case 'P':
			if (next == 'H')
			{
				Emit2(d, "F");
				return 2;
			}
			Emit2(d, "P");		/* "campbell", "raspberry" */
			return (next == 'P' || next == 'B') ? 2 : 1;
		case 'Q':
			Emit2(d, "K");
			return next == 'Q' ? 2 : 1;
		case 'R':
			/* French "rogier", but not "hochmeier" */
			if (i == d->last && !d->slavo_germanic && At(d, i - 2, "IE") &&
				!At(d, i - 4, "ME|MA"))
				Emit(d, "", "R");
			else
				Emit2(d, "R");
			return next == 'R' ? 2 : 1;
		case 'S':
			return CodeS(d, i);
		case 'T':
			return CodeT(d, i);
		case 'V':
			Emit2(d, "F");
			return next == 'V' ? 2 : 1;
		case 'W':
			return CodeW(d, i);
		case 'X':
			/* French "breaux" */
			if (!(i == d->last &&
				  (At(d, i - 3, "IAU|EAU") || At(d, i - 2, "AU|OU"))))
				Emit2(d, "KS");
			return (next == 'C' || next == 'X') ? 2 : 1;
		case 'Z':
			if (next == 'H')	/* Chinese pinyin "zhao" */
			{
				Emit2(d, "J");
				return 2;
			}
			if (At(d, i + 1, "ZO|ZI|ZA") ||
				(d->slavo_germanic && i > 0 && Ch(d, i - 1) != 'T'))
				Emit(d, "S", "TS");
			else
				Emit2(d, "S");
			return next == 'Z' ? 2 : 1;
		default:
			return 1;
	}
}

/*
 * PrepareWord
 *		Upper-case ASCII spelling of the UTF-8 input: Latin letters lose
 *		their accents (Ç becomes a stand-in coded S), other ASCII characters
 *		stay, every other character becomes one uncoded stand-in.
 */
static void
PrepareWord(const char *s, int len, StringInfo out)
{
	CdpCodes	cp;
	int			i;

	CdpUtf8Decode(s, len, 0, &cp);

	for (i = 0; i < cp.len; i++)
	{
		pg_wchar	c = cp.c[i];
		const char *f;

		if (c == 0xC7 || c == 0xE7)
			appendStringInfoChar(out, DM_C_CEDILLA);
		else if ((f = PhonFoldLatin(c)) != NULL)
			appendStringInfoString(out, f);
		else if (PhonIsCombining(c))
			continue;
		else if (c > 0 && c < 0x80)
			appendStringInfoChar(out, (char) c);
		else
			appendStringInfoChar(out, DM_OTHER);
	}
	CdpCodesFree(&cp);
}

/*
 * CdpDoubleMetaphone
 *		Primary and alternate Double Metaphone codes of s (at most
 *		CDP_DMETAPHONE_MAXLEN letters each; empty when s has no Latin
 *		consonant or initial vowel to code).
 */
void
CdpDoubleMetaphone(const char *s, int len, char **primary, char **alternate)
{
	DmCoder		d;
	StringInfoData word;
	int			i = 0;

	CdpCheckInput(s, len, CDP_MAX_TEXT_BYTES, CDP_CHECK_UTF8);
	initStringInfo(&word);
	PrepareWord(s, len, &word);
	d.length = word.len;
	d.last = word.len - 1;
	appendStringInfoString(&word, DM_PAD);
	d.w = word.data;
	d.padded = word.len;
	d.slavo_germanic = strchr(d.w, 'W') || strchr(d.w, 'K') || strstr(d.w, "CZ");
	initStringInfo(&d.primary);
	initStringInfo(&d.alternate);

	/* silent first letter: "gnome", "knight", "pneumatic", "wright", "psychology" */
	if (At(&d, 0, "GN|KN|PN|WR|PS"))
		i = 1;
	if (Ch(&d, 0) == 'X')		/* initial X sounds Z (coded S): "Xavier" */
	{
		Emit2(&d, "S");
		i++;
	}
	while (i < d.length &&
		   (d.primary.len < CDP_DMETAPHONE_MAXLEN || d.alternate.len < CDP_DMETAPHONE_MAXLEN))
		i += CodeLetter(&d, i);

	if (d.primary.len > CDP_DMETAPHONE_MAXLEN)
		d.primary.data[CDP_DMETAPHONE_MAXLEN] = '\0';
	if (d.alternate.len > CDP_DMETAPHONE_MAXLEN)
		d.alternate.data[CDP_DMETAPHONE_MAXLEN] = '\0';
	*primary = d.primary.data;
	*alternate = d.alternate.data;
	pfree(word.data);
}

/*
 * DmetaphoneArgs
 *		Codes the text argument of the SQL functions (any server encoding).
 */
static void
DmetaphoneArgs(FunctionCallInfo fcinfo, char **primary, char **alternate)
{
	text	   *arg = PG_GETARG_TEXT_PP(0);
	int			len = VARSIZE_ANY_EXHDR(arg);
	char	   *utf8;

	if (len > CDP_MAX_TEXT_BYTES)
		CdpCheckInput(VARDATA_ANY(arg), len, CDP_MAX_TEXT_BYTES, CDP_CHECK_UTF8);
	utf8 = pg_server_to_any(VARDATA_ANY(arg), len, PG_UTF8);
	if (utf8 != VARDATA_ANY(arg))
		len = strlen(utf8);
	CdpDoubleMetaphone(utf8, len, primary, alternate);
}

PG_FUNCTION_INFO_V1(cdp_dmetaphone);

/*
 * cdp_dmetaphone
 *		SQL: cdp.dmetaphone(text) -> text, the primary code.
 */
Datum
cdp_dmetaphone(PG_FUNCTION_ARGS)
{
	char	   *p,
			   *a;

	DmetaphoneArgs(fcinfo, &p, &a);
	PG_RETURN_TEXT_P(cstring_to_text(p));
}

PG_FUNCTION_INFO_V1(cdp_dmetaphone_alt);

/*
 * cdp_dmetaphone_alt
 *		SQL: cdp.dmetaphone_alt(text) -> text, the alternate code.
 */
Datum
cdp_dmetaphone_alt(PG_FUNCTION_ARGS)
{
	char	   *p,
			   *a;

	DmetaphoneArgs(fcinfo, &p, &a);
	PG_RETURN_TEXT_P(cstring_to_text(a));
}

PG_FUNCTION_INFO_V1(cdp_dmetaphone_keys);

/*
 * cdp_dmetaphone_keys
 *		SQL: cdp.dmetaphone_keys(text) -> text[]: the primary code, then the
 *		alternate when it differs; empty codes are left out.
 */
Datum
cdp_dmetaphone_keys(PG_FUNCTION_ARGS)
{
	char	   *p,
			   *a;
	Datum		keys[2];
	int			n = 0;

	DmetaphoneArgs(fcinfo, &p, &a);
	if (*p)
		keys[n++] = PointerGetDatum(cstring_to_text(p));
	if (*a && strcmp(p, a) != 0)
		keys[n++] = PointerGetDatum(cstring_to_text(a));
	PG_RETURN_ARRAYTYPE_P(construct_array(keys, n, TEXTOID, -1, false, TYPALIGN_INT));
}
