/*-------------------------------------------------------------------------
 *
 * src/text_lexicon.c
 *		The text family's lexicon: the Snowball Russian stemmer and the
 *		built-in table of Russian given names (about a hundred common names
 *		with their variant spellings and diminutives, mapped to one canonical
 *		normalised form: Маша, Марья, Maria -> мария) with its lookups.
 *
 * Lookup goes through the name key (text_key.c), so every romanisation of a
 * listed form is found too (Masha, Mariia, Natalya, Iuliia).  A few
 * diminutives stand for a male and a female name (Саша, Женя, Валя, Шура):
 * they have two canonical forms, the masculine first.  For declined forms in
 * free text (Марии, Натальей) a lookup may fall back to the Snowball Russian
 * stem when the exact key finds nothing.  The table's index lives in a
 * memory context of its own, built on first use.
 *
 * The lexicon sits below the word forms (text_forms.c) and the given-name
 * functions (text_names.c), which both read it; it calls only the key
 * folding and the normaliser below it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/memutils.h"

#include <libstemmer.h>

#include "text.h"

PG_FUNCTION_INFO_V1(cdp_russian_stem);

/*
 * RussianStemmer
 *		The Snowball Russian stemmer, created once per backend.  libstemmer
 *		allocates with malloc; the stemmer lives as long as the process.
 */
static struct sb_stemmer *
RussianStemmer(void)
{
	static struct sb_stemmer *stemmer = NULL;

	if (stemmer == NULL)
	{
		stemmer = sb_stemmer_new("russian", "UTF_8");
		if (stemmer == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("could not create the Snowball Russian stemmer")));
	}
	return stemmer;
}

/*
 * StemWord
 *		Snowball Russian stem of one normalised token.
 */
static char *
StemWord(const char *w, int wl)
{
	const sb_symbol *r = sb_stemmer_stem(RussianStemmer(), (const sb_symbol *) w, wl);

	if (r == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory in the Snowball stemmer")));
	return pnstrdup((const char *) r, sb_stemmer_length(RussianStemmer()));
}

/*
 * CdpRussianStem
 *		See text.h.
 */
char *
CdpRussianStem(const char *s, int len)
{
	return TextMapTokens(s, len, StemWord);
}

/* one canonical given name: normalised form, sex, variant forms */
typedef struct GivenName
{
	const char *canon;
	char		sex;
	const char *variants;		/* space-separated, may be empty */
} GivenName;

/*
 * The table.  Variant spellings and the everyday diminutives; only forms a
 * registration clerk or a patient would write in a name field.  Unisex
 * diminutives are listed under both names, the masculine first.
 */
static const GivenName GivenNames[] = {
	{"александр", 'M', "саша шура саня сашка alexander aleksander"},
	{"алексей", 'M', "алеша леша алеха леха"},
	{"анатолий", 'M', "толя толик"},
	{"андрей", 'M', "андрюша"},
	{"антон", 'M', "антоша"},
	{"аркадий", 'M', "аркаша"},
	{"арсений", 'M', "арсюша"},
	{"артем", 'M', "артемий тема"},
	{"богдан", 'M', ""},
	{"борис", 'M', "боря"},
	{"вадим", 'M', "вадик"},
	{"валентин", 'M', "валя"},
	{"валерий", 'M', "валера"},
	{"василий", 'M', "вася"},
	{"виктор", 'M', "витя"},
	{"виталий", 'M', "виталик"},
	{"владимир", 'M', "вова володя вовка"},
	{"владислав", 'M', "влад владик"},
	{"вячеслав", 'M', "слава"},
	{"геннадий", 'M', "гена"},
	{"георгий", 'M', "гоша жора"},
	{"герман", 'M', "гера"},
	{"глеб", 'M', ""},
	{"григорий", 'M', "гриша"},
	{"даниил", 'M', "данила данил даня"},
	{"денис", 'M', "дениска"},
	{"дмитрий", 'M', "дима митя"},
	{"евгений", 'M', "женя eugene"},
	{"егор", 'M', "егорка"},
	{"захар", 'M', ""},
	{"иван", 'M', "ваня"},
	{"игорь", 'M', ""},
	{"илья", 'M', "илюша"},
	{"кирилл", 'M', "кирюша"},
	{"константин", 'M', "костя"},
	{"лев", 'M', "лева"},
	{"леонид", 'M', "леня"},
	{"максим", 'M', "макс"},
	{"марк", 'M', ""},
	{"матвей", 'M', "мотя"},
	{"михаил", 'M', "миша michael"},
	{"никита", 'M', ""},
	{"николай", 'M', "коля"},
	{"олег", 'M', ""},
	{"павел", 'M', "паша paul"},
	{"петр", 'M', "петя peter"},
	{"роман", 'M', "рома"},
	{"ростислав", 'M', ""},
	{"руслан", 'M', ""},
	{"семен", 'M', "сеня"},
	{"сергей", 'M', "сережа серега"},
	{"станислав", 'M', "стас"},
	{"степан", 'M', "степа"},
	{"тимофей", 'M', "тима"},
	{"тимур", 'M', ""},
	{"федор", 'M', "федя"},
	{"филипп", 'M', ""},
	{"эдуард", 'M', "эдик"},
	{"юрий", 'M', "юра"},
	{"яков", 'M', "яша"},
	{"ярослав", 'M', "ярик"},
	{"александра", 'F', "саша шура сашенька"},
	{"алена", 'F', "аленка"},
	{"алина", 'F', ""},
	{"алиса", 'F', ""},
	{"алла", 'F', ""},
	{"анастасия", 'F', "настя настасья"},
	{"ангелина", 'F', "геля"},
	{"анжелика", 'F', ""},
	{"анна", 'F', "аня анюта нюра"},
	{"антонина", 'F', "тоня"},
	{"арина", 'F', ""},
	{"валентина", 'F', "валя"},
	{"валерия", 'F', "лера"},
	{"варвара", 'F', "варя"},
	{"вера", 'F', ""},
	{"вероника", 'F', "ника"},
	{"виктория", 'F', "вика"},
	{"галина", 'F', "галя"},
	{"дарья", 'F', "даша дария"},
	{"диана", 'F', ""},
	{"ева", 'F', ""},
	{"евгения", 'F', "женя"},
	{"екатерина", 'F', "катя катерина"},
	{"елена", 'F', "лена helen helena"},
	{"елизавета", 'F', "лиза"},
	{"жанна", 'F', ""},
	{"зинаида", 'F', "зина"},
	{"зоя", 'F', ""},
	{"инна", 'F', ""},
	{"ирина", 'F', "ира"},
	{"карина", 'F', ""},
	{"кира", 'F', ""},
	{"клавдия", 'F', "клава"},
	{"кристина", 'F', ""},
	{"ксения", 'F', "ксюша"},
	{"лариса", 'F', "лара"},
	{"лидия", 'F', "лида"},
	{"любовь", 'F', "люба"},
	{"людмила", 'F', "люда мила"},
	{"маргарита", 'F', "рита"},
	{"марина", 'F', ""},
	{"мария", 'F', "маша марья маруся"},
	{"милана", 'F', ""},
	{"надежда", 'F', "надя"},
	{"наталья", 'F', "наташа наталия"},
	{"нина", 'F', ""},
	{"оксана", 'F', ""},
	{"олеся", 'F', ""},
	{"ольга", 'F', "оля"},
	{"полина", 'F', "поля"},
	{"раиса", 'F', "рая"},
	{"светлана", 'F', "света"},
	{"снежана", 'F', ""},
	{"софья", 'F', "соня софия"},
	{"таисия", 'F', "тая"},
	{"тамара", 'F', "тома"},
	{"татьяна", 'F', "таня"},
	{"ульяна", 'F', "уля"},
	{"эльвира", 'F', ""},
	{"юлия", 'F', "юля"},
	{"яна", 'F', ""},
};

/* one lookup entry: a key (or stem) and the table row it leads to */
typedef struct NameEntry
{
	char	   *key;
	int			row;
} NameEntry;

/* the lookup arrays, sorted by (key, row), built once per backend */
static MemoryContext NamesContext = NULL;
static NameEntry *KeyEntries = NULL;
static int	NKeyEntries = 0;
static NameEntry *StemEntries = NULL;
static int	NStemEntries = 0;

/*
 * EntryCmp
 *		qsort/bsearch order of NameEntry: key, then row.
 */
static int
EntryCmp(const void *a, const void *b)
{
	const NameEntry *x = a;
	const NameEntry *y = b;
	int			c = strcmp(x->key, y->key);

	if (c != 0)
		return c;
	return (x->row > y->row) - (x->row < y->row);
}

/*
 * BuildNames
 *		Fills KeyEntries (the name key of every form) and StemEntries (the
 *		Snowball stem of every Cyrillic form) in NamesContext.
 */
static void
BuildNames(void)
{
	MemoryContext old;
	int			cap = 0;
	int			i;
	NameEntry  *keys;
	NameEntry  *stems;
	int			nk = 0;
	int			ns = 0;

	if (NamesContext == NULL)
		NamesContext = AllocSetContextCreate(TopMemoryContext, "cdp given names",
											 ALLOCSET_SMALL_SIZES);
	else
		MemoryContextReset(NamesContext);	/* a failed earlier build */
	old = MemoryContextSwitchTo(NamesContext);

	for (i = 0; i < lengthof(GivenNames); i++)
	{
		const char *v = GivenNames[i].variants;

		cap += 2;
		for (; *v; v++)
			if (*v == ' ')
				cap++;
	}
	keys = palloc(cap * sizeof(NameEntry));
	stems = palloc(cap * sizeof(NameEntry));

	for (i = 0; i < lengthof(GivenNames); i++)
	{
		char	   *forms = psprintf("%s %s", GivenNames[i].canon, GivenNames[i].variants);
		char	   *tok;
		char	   *save = NULL;

		for (tok = strtok_r(forms, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
		{
			int			l = strlen(tok);

			keys[nk].key = CdpNameKey(tok, l);
			keys[nk++].row = i;
			if ((unsigned char) tok[0] >= 0x80)
			{
				stems[ns].key = CdpRussianStem(tok, l);
				stems[ns++].row = i;
			}
		}
	}
	qsort(keys, nk, sizeof(NameEntry), EntryCmp);
	qsort(stems, ns, sizeof(NameEntry), EntryCmp);
	MemoryContextSwitchTo(old);

	KeyEntries = keys;
	NKeyEntries = nk;
	StemEntries = stems;
	NStemEntries = ns;
}

/*
 * FindRows
 *		Rows of every entry whose key is key, distinct, in table order;
 *		returns how many were stored in rows[] (room for max).
 */
static int
FindRows(const NameEntry *arr, int n, const char *key, int *rows, int max)
{
	int			lo = 0;
	int			hi = n;
	int			k = 0;

	/* first entry with entry.key >= key */
	while (lo < hi)
	{
		int			mid = (lo + hi) / 2;

		if (strcmp(arr[mid].key, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < n && strcmp(arr[lo].key, key) == 0 && k < max; lo++)
		if (k == 0 || rows[k - 1] != arr[lo].row)
			rows[k++] = arr[lo].row;
	return k;
}

/*
 * TextLexiconLookup
 *		Table rows for one token of normalised text (w, wl bytes); with
 *		useStem, falls back to the Snowball stem when the exact key finds
 *		nothing and the stemmer cut a Cyrillic ending of which at least three
 *		letters remain.
 */
int
TextLexiconLookup(const char *w, int wl, bool useStem, int *rows)
{
	char	   *tok = pnstrdup(w, wl);
	char	   *key;
	int			k;

	if (KeyEntries == NULL)
		BuildNames();
	key = TextKeyOfNormalized(tok);
	k = FindRows(KeyEntries, NKeyEntries, key, rows, MAX_GIVEN_BASES);
	if (k == 0 && useStem && (unsigned char) tok[0] >= 0x80)
	{
		char	   *stem = CdpRussianStem(tok, wl);

		if (strcmp(stem, tok) != 0 && CdpUtf8Chars(stem, strlen(stem)) >= 3)
			k = FindRows(StemEntries, NStemEntries, stem, rows, MAX_GIVEN_BASES);
		pfree(stem);
	}
	pfree(key);
	pfree(tok);
	return k;
}

/*
 * TextLexiconLookupName
 *		Table rows for one name given as any text; 0 unless it normalises to
 *		exactly one word.
 */
int
TextLexiconLookupName(const char *s, int len, bool useStem, int *rows)
{
	char	   *norm = CdpNormalizeName(s, len);
	int			k = 0;

	if (norm[0] != '\0' && strpbrk(norm, " -") == NULL)
		k = TextLexiconLookup(norm, strlen(norm), useStem, rows);
	pfree(norm);
	return k;
}

/*
 * TextGivenNameWord
 *		Canonical forms (up to MAX_GIVEN_BASES, static strings, table order) and the
 *		sex (0 when unknown or mixed) of one token of normalised text; returns
 *		how many forms were found.  For callers that already normalised.
 */
int
TextGivenNameWord(const char *w, int wl, const char **canon, char *sex)
{
	int			rows[MAX_GIVEN_BASES];
	int			k = TextLexiconLookup(w, wl, false, rows);
	int			i;

	*sex = 0;
	for (i = 0; i < k; i++)
	{
		if (canon != NULL)
			canon[i] = GivenNames[rows[i]].canon;
		if (i > 0 && *sex != GivenNames[rows[i]].sex)
			*sex = 'X';
		else if (i == 0)
			*sex = GivenNames[rows[i]].sex;
	}
	if (*sex == 'X')
		*sex = 0;
	return k;
}

/*
 * TextLexiconCanon
 *		The canonical normalised form of table row row (a static string).
 */
const char *
TextLexiconCanon(int row)
{
	Assert(row >= 0 && row < lengthof(GivenNames));
	return GivenNames[row].canon;
}

/*
 * TextLexiconSex
 *		The sex ('M' or 'F') of table row row.
 */
char
TextLexiconSex(int row)
{
	Assert(row >= 0 && row < lengthof(GivenNames));
	return GivenNames[row].sex;
}

/*
 * cdp_russian_stem
 *		SQL: cdp.russian_stem(text) RETURNS text.
 */
Datum
cdp_russian_stem(PG_FUNCTION_ARGS)
{
	int			len;
	char	   *s = TextArgUtf8(PG_GETARG_TEXT_PP(0), &len);

	PG_RETURN_TEXT_P(TextResultUtf8(CdpRussianStem(s, len)));
}
