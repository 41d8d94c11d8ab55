/*-------------------------------------------------------------------------
 *
 * src/text_names.c
 *		Russian given names: a built-in table of about a hundred common names
 *		with their variant spellings and diminutives, mapped to one canonical
 *		normalised form (Маша, Марья, Maria -> мария).
 *
 * Lookup goes through the name key (text_key.c), so every romanisation of a
 * listed form is found too (Masha, Mariia, Natalya, Iuliia).  A few
 * diminutives stand for a male and a female name (Саша, Женя, Валя, Шура):
 * they have two canonical forms, cdp.given_name_bases returns both, and
 * cdp.given_name_base returns the first (the masculine) one.  For declined
 * forms in free text (Марии, Натальей) cdp.given_name_base falls back to the
 * Snowball Russian stem when the exact lookup fails.
 * The table lives in a memory context of its own, built on first use.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "text.h"

PG_FUNCTION_INFO_V1(cdp_given_name_base);
PG_FUNCTION_INFO_V1(cdp_given_name_bases);

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

#define MAX_BASES MAX_GIVEN_BASES

/*
 * Utf8Letters
 *		Characters in a NUL-terminated UTF-8 string (its lead bytes); the
 *		database encoding may be SQL_ASCII, so pg_mbstrlen would be wrong.
 */
static int
Utf8Letters(const char *s)
{
	int			n = 0;

	for (; *s; s++)
		if ((*s & 0xC0) != 0x80)
			n++;
	return n;
}

/*
 * LookupNormalized
 *		Table rows for one token of normalised text (w, wl bytes); with
 *		useStem, falls back to the Snowball stem when the exact key finds
 *		nothing and the stemmer cut a Cyrillic ending of which at least three
 *		letters remain.
 */
static int
LookupNormalized(const char *w, int wl, bool useStem, int *rows)
{
	char	   *tok = pnstrdup(w, wl);
	char	   *key;
	int			k;

	if (KeyEntries == NULL)
		BuildNames();
	key = CdpKeyOfNormalized(tok);
	k = FindRows(KeyEntries, NKeyEntries, key, rows, MAX_BASES);
	if (k == 0 && useStem && (unsigned char) tok[0] >= 0x80)
	{
		char	   *stem = CdpRussianStem(tok, wl);

		if (strcmp(stem, tok) != 0 && Utf8Letters(stem) >= 3)
			k = FindRows(StemEntries, NStemEntries, stem, rows, MAX_BASES);
		pfree(stem);
	}
	pfree(key);
	pfree(tok);
	return k;
}

/*
 * LookupGiven
 *		Table rows for one name given as any text; 0 unless it normalises to
 *		exactly one word.
 */
static int
LookupGiven(const char *s, int len, bool useStem, int *rows)
{
	char	   *norm = CdpNormalizeName(s, len);
	int			k = 0;

	if (norm[0] != '\0' && strpbrk(norm, " -") == NULL)
		k = LookupNormalized(norm, strlen(norm), useStem, rows);
	pfree(norm);
	return k;
}

/*
 * CdpGivenNameWord
 *		Canonical forms (up to MAX_BASES, static strings, table order) and the
 *		sex (0 when unknown or mixed) of one token of normalised text; returns
 *		how many forms were found.  For callers that already normalised.
 */
int
CdpGivenNameWord(const char *w, int wl, const char **canon, char *sex)
{
	int			rows[MAX_BASES];
	int			k = LookupNormalized(w, wl, false, rows);
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
 * CdpGivenNameBases
 *		See text.h (exact lookup, no stemming).
 */
int
CdpGivenNameBases(const char *s, int len, char ***out)
{
	int			rows[MAX_BASES];
	int			k = LookupGiven(s, len, false, rows);
	int			i;

	*out = palloc((k + 1) * sizeof(char *));
	for (i = 0; i < k; i++)
		(*out)[i] = pstrdup(GivenNames[rows[i]].canon);
	return k;
}

/*
 * CdpGivenNameListed
 *		Whether one name (UTF-8) is a listed given name by the lookup of
 *		cdp.given_name_bases (with the stem fallback); with asItIs, only when
 *		its normalised form is itself one of the canonical names it stands for
 *		(Ирина, but not Петров, which the stem leads to пётр).  The name roles
 *		(text_roles.c) ask this of a word shaped like a surname.
 */
bool
CdpGivenNameListed(const char *s, int len, bool asItIs)
{
	char	   *norm = CdpNormalizeName(s, len);
	int			rows[MAX_BASES];
	int			k = 0;
	bool		listed = false;
	int			i;

	if (norm[0] != '\0' && strpbrk(norm, " -") == NULL)
		k = LookupNormalized(norm, strlen(norm), true, rows);
	for (i = 0; i < k && !listed; i++)
		listed = !asItIs || strcmp(norm, GivenNames[rows[i]].canon) == 0;
	pfree(norm);
	return listed;
}

/*
 * CdpGivenNameSex
 *		Sex of a given name from the table; 0 when unknown or when the form
 *		stands for names of both sexes (Саша).
 */
char
CdpGivenNameSex(const char *s, int len)
{
	int			rows[MAX_BASES];
	int			k = LookupGiven(s, len, false, rows);
	char		sex = 0;
	int			i;

	for (i = 0; i < k; i++)
	{
		if (sex != 0 && sex != GivenNames[rows[i]].sex)
			return 0;
		sex = GivenNames[rows[i]].sex;
	}
	return sex;
}

/*
 * CdpGivenNameBase
 *		Every token that is a listed given name (or, for a Cyrillic token, a
 *		declined form of one) becomes its first canonical form; other tokens
 *		stay as normalised.
 */
char *
CdpGivenNameBase(const char *s, int len)
{
	char	   *norm = CdpNormalizeName(s, len);
	StringInfoData out;
	const char *p = norm;

	initStringInfo(&out);
	while (*p)
	{
		int			l = strcspn(p, " -");

		if (l > 0)
		{
			int			rows[MAX_BASES];

			if (LookupNormalized(p, l, true, rows) > 0)
				appendStringInfoString(&out, GivenNames[rows[0]].canon);
			else
				appendBinaryStringInfo(&out, p, l);
		}
		p += l;
		if (*p)
			appendStringInfoChar(&out, *p++);
	}
	pfree(norm);
	return out.data;
}

/*
 * cdp_given_name_base
 *		SQL: cdp.given_name_base(text) RETURNS text.
 */
Datum
cdp_given_name_base(PG_FUNCTION_ARGS)
{
	int			len;
	char	   *s = CdpTextArgUtf8(PG_GETARG_TEXT_PP(0), &len);

	PG_RETURN_TEXT_P(CdpTextResultUtf8(CdpGivenNameBase(s, len)));
}

/*
 * cdp_given_name_bases
 *		SQL: cdp.given_name_bases(text) RETURNS text[]: every canonical form
 *		one given name may stand for, with the stem fallback; empty when the
 *		name is not in the table.
 */
Datum
cdp_given_name_bases(PG_FUNCTION_ARGS)
{
	int			len;
	char	   *s = CdpTextArgUtf8(PG_GETARG_TEXT_PP(0), &len);
	int			rows[MAX_BASES];
	int			k = LookupGiven(s, len, true, rows);
	Datum	   *elems = palloc((k + 1) * sizeof(Datum));
	int			i;

	for (i = 0; i < k; i++)
		elems[i] = PointerGetDatum(CdpTextResultUtf8(GivenNames[rows[i]].canon));
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, k, TEXTOID, -1, false, TYPALIGN_INT));
}
