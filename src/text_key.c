/*-------------------------------------------------------------------------
 *
 * src/text_key.c
 *		cdp.name_key: one comparable lower-case Latin key for every spelling of
 *		a name, Cyrillic or any of the usual romanisations.
 *
 * The key is built in two steps (doc/text.md, "name_key"):
 *	1. CdpNormalizeName, then every Cyrillic letter is written with a fixed
 *	   key alphabet close to ICAO 9303 (ю = yu, я = ya, й = i, х = kh,
 *	   ц = ts, щ = shch, ъ and ь dropped);
 *	2. the same folding is applied to every word, whatever its origin, so the
 *	   romanisation schemes meet: y and j -> i, kh -> h, shch/sch/shh -> sh,
 *	   ts/tz/cz -> c, c before a/o/u or a consonant -> k, ks/x -> x, w -> v,
 *	   ph -> f, q -> k; then doubled letters are collapsed, ie and io
 *	   become e (ye and yo are е and ё, which normalisation made е), iu
 *	   after a consonant becomes u (Ludmila, Liudmila, Lyudmila), and
 *	   doubled letters are collapsed again.
 * So Юлия (yuliya), Iuliia, Yulia, Julia and Yuliya all give "iulia";
 * Мария, Марья, Mariia and Maria give "maria"; Иваннова gives "ivanova".
 * Token order and the space and hyphen separators are kept.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "text.h"

PG_FUNCTION_INFO_V1(cdp_name_key);

/* key alphabet for the lower-case Russian letters а (U+0430) .. я (U+044F) */
static const char *const KeyCyr[32] = {
	"a", "b", "v", "g", "d", "e", "zh", "z",	/* а б в г д е ж з */
	"i", "i", "k", "l", "m", "n", "o", "p",	/* и й к л м н о п */
	"r", "s", "t", "u", "f", "kh", "ts", "ch",	/* р с т у ф х ц ч */
	"sh", "shch", "", "y", "", "e", "yu", "ya"	/* ш щ ъ ы ь э ю я */
};

/*
 * KeyCyrillic
 *		Key letters for one code point of normalised text; NULL when c is not a
 *		Cyrillic letter we know (it is then copied as it is).
 */
static const char *
KeyCyrillic(int32 c)
{
	if (c >= 0x0430 && c <= 0x044F)
		return KeyCyr[c - 0x0430];
	switch (c)
	{
		case 0x0451:			/* ё (normalize already made it е) */
		case 0x0454:			/* Ukrainian є */
			return "e";
		case 0x0456:			/* і */
		case 0x0457:			/* ї */
			return "i";
		case 0x0491:			/* ґ */
			return "g";
		case 0x045E:			/* ў */
			return "u";
		case 0x0452:			/* ђ */
		case 0x045B:			/* ћ */
			return "c";
		case 0x0458:			/* ј */
			return "j";
		case 0x0459:			/* љ */
			return "l";
		case 0x045A:			/* њ */
			return "n";
		case 0x045F:			/* џ */
			return "dzh";
		default:
			return NULL;
	}
}

/*
 * SoftensC
 *		True for the letters after which a Latin c stays c (ц) in the fold:
 *		e, i, y.  Before anything else it is k.
 */
static bool
SoftensC(char n)
{
	return n == 'e' || n == 'i' || n == 'y';
}

/*
 * IsKeyVowel
 *		True for a vowel of the folded key alphabet (y and j are i by then).
 */
static bool
IsKeyVowel(char c)
{
	return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u';
}

/*
 * FoldWord
 *		Applies the Latin fold (file header, step 2) to one word of lower-case
 *		ASCII letters w[0..n), appending to buf.
 */
static void
FoldWord(const char *w, int n, StringInfo buf)
{
	char	   *a = palloc(n + 1);
	char	   *b = palloc(n + 1);
	int			i = 0;
	int			k = 0;
	int			m;
	int			pass;

	/* pass 1: digraphs and single letters, left to right, longest first */
	while (i < n)
	{
		const char *p = w + i;
		int			rest = n - i;
		char		c = p[0];
		char		nx = rest > 1 ? p[1] : '\0';

		if (rest >= 4 && strncmp(p, "shch", 4) == 0)
		{
			a[k++] = 's';
			a[k++] = 'h';
			i += 4;
		}
		else if (rest >= 3 && (strncmp(p, "sch", 3) == 0 || strncmp(p, "shh", 3) == 0))
		{
			a[k++] = 's';
			a[k++] = 'h';
			i += 3;
		}
		else if (c == 'k' && nx == 'h')
		{
			a[k++] = 'h';
			i += 2;
		}
		else if (c == 'p' && nx == 'h')
		{
			a[k++] = 'f';
			i += 2;
		}
		else if ((c == 't' && (nx == 's' || nx == 'z')) || (c == 'c' && nx == 'z'))
		{
			a[k++] = 'c';
			i += 2;
		}
		else if (c == 'c' && nx == 'k')
		{
			a[k++] = 'k';
			i += 2;
		}
		else if (c == 'c' && nx == 'h')
		{
			a[k++] = 'c';
			a[k++] = 'h';
			i += 2;
		}
		else if (c == 'c')
		{
			a[k++] = SoftensC(nx) ? 'c' : 'k';
			i++;
		}
		else if (c == 'k' && nx == 's')
		{
			a[k++] = 'x';
			i += 2;
		}
		else
		{
			switch (c)
			{
				case 'y':
				case 'j':
					c = 'i';
					break;
				case 'w':
					c = 'v';
					break;
				case 'q':
					c = 'k';
					break;
				default:
					break;
			}
			a[k++] = c;
			i++;
		}
	}

	/*
	 * pass 2: collapse doubles; ieia, ieiu -> ia, iu (ICAO ъя, ъю); ie and
	 * io -> e (ye, yo = е, ё; ICAO ъе); iu after a consonant -> u (lu, liu,
	 * lyu = лю); collapse again
	 */
	for (pass = 0; pass < 3; pass++)
	{
		m = 0;
		for (i = 0; i < k; i++)
		{
			if (pass != 1)
			{
				if (m > 0 && b[m - 1] == a[i])
					continue;
				b[m++] = a[i];
			}
			else
			{
				if (a[i] == 'i' && i + 3 < k && a[i + 1] == 'e' && a[i + 2] == 'i' &&
					(a[i + 3] == 'a' || a[i + 3] == 'u'))
				{
					i++;		/* ieia, ieiu (ICAO ъя, ъю) -> ia, iu */
					continue;
				}
				if (a[i] == 'i' && i + 1 < k && (a[i + 1] == 'e' || a[i + 1] == 'o'))
				{
					b[m++] = 'e';	/* ie, io -> e */
					i++;
					continue;
				}
				if (a[i] == 'i' && i + 1 < k && a[i + 1] == 'u' && m > 0 &&
					!IsKeyVowel(b[m - 1]))
					continue;	/* iu after a consonant -> u: Ludmila */
				b[m++] = a[i];
			}
		}
		memcpy(a, b, m);
		k = m;
	}
	appendBinaryStringInfo(buf, a, k);
	pfree(a);
	pfree(b);
}

/*
 * TextKeyOfNormalized
 *		The name key of text already normalised by CdpNormalizeName.
 */
char *
TextKeyOfNormalized(const char *norm)
{
	StringInfoData stage;
	StringInfoData out;
	const char *p = norm;
	const char *end = norm + strlen(norm);
	int			i;
	int			wstart;

	/* step 1: Cyrillic to the key alphabet; everything else is copied */
	initStringInfo(&stage);
	while (p < end)
	{
		int			l = 0;
		int32		c = CdpNextChar((const unsigned char *) p, (int) (end - p), &l);
		const char *k = KeyCyrillic(c);

		if (k != NULL)
			appendStringInfoString(&stage, k);
		else
			appendBinaryStringInfo(&stage, p, l);
		p += l;
	}

	/* step 2: fold each run of ASCII letters; other bytes are copied */
	initStringInfo(&out);
	i = 0;
	while (i < stage.len)
	{
		unsigned char c = (unsigned char) stage.data[i];

		if (c >= 'a' && c <= 'z')
		{
			wstart = i;
			while (i < stage.len && stage.data[i] >= 'a' && stage.data[i] <= 'z')
				i++;
			FoldWord(stage.data + wstart, i - wstart, &out);
		}
		else
			appendStringInfoChar(&out, stage.data[i++]);
	}
	pfree(stage.data);
	return out.data;
}

/*
 * CdpNameKey
 *		See the file header.
 */
char *
CdpNameKey(const char *s, int len)
{
	char	   *norm = CdpNormalizeName(s, len);
	char	   *key = TextKeyOfNormalized(norm);

	pfree(norm);
	return key;
}

/*
 * CdpNameKeyOfNormalized
 *		The name key of a name already normalised by CdpNormalizeName (NUL-
 *		terminated UTF-8): what CdpNameKey(s) gives when norm is
 *		CdpNormalizeName(s), without normalising a second time (the index
 *		family needs both and re-checks hundreds of rows a query).
 */
char *
CdpNameKeyOfNormalized(const char *norm)
{
	return TextKeyOfNormalized(norm);
}

/*
 * cdp_name_key
 *		SQL: cdp.name_key(text) RETURNS text.
 */
Datum
cdp_name_key(PG_FUNCTION_ARGS)
{
	int			len;
	char	   *s = TextArgUtf8(PG_GETARG_TEXT_PP(0), &len);

	PG_RETURN_TEXT_P(TextResultUtf8(CdpNameKey(s, len)));
}
