/*-------------------------------------------------------------------------
 *
 * src/text_roles.c
 *		Name roles: which of three name parts is the family name, the given
 *		name and the patronymic, read from what the words are rather than
 *		from the field they came in.  cdp.name_roles(family, given,
 *		patronymic) in SQL; ingest (ingest_attrs.c) uses it when it splits a
 *		full name itself, so «Мария Петровна Иванова» and «Мария Иванова»
 *		are filed with Иванова as the family name.
 *
 * The evidence is the shape of each word (an initial, a patronymic ending,
 * a surname ending) and the given-name list (text_names.c, lookup of
 * cdp.given_name_bases).  The matching family reads names by the same
 * rules: its cdp_internal._match_name_roles (sql/parts/6*_match_*.sql) calls
 * cdp.name_roles.  Tests: test/pgtap/22_ingest_name_order.sql.
 * Anything the evidence leaves open keeps the order it came in (Russian
 * order «Фамилия Имя Отчество» for a split full name).
 *
 * Case is folded for ASCII and Cyrillic only (the endings looked for are
 * Latin and Cyrillic), which is what a case-insensitive regular expression
 * does for these letters.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "common/hashfn.h"

#include "text.h"

PG_FUNCTION_INFO_V1(cdp_name_roles);

/* patronymic endings: -ович, -евна, -ич, -ична and their Latin spellings */
static const char *const PatronymicEndings[] = {
	"вич", "вна", "ич", "ична", "vich", "vna", "ich", "ichna", NULL
};

/* Russian surname endings (-ов, -ина, -ская, -ко, -ян, -дзе, -их, ...) and their Latin spellings */
static const char *const SurnameEndings[] = {
	"ов", "ев", "ёв", "ин", "ын", "ова", "ева", "ёва", "ина", "ына", "ский", "цкий",
	"ская", "цкая", "ой", "ая", "ко", "ук", "юк", "ян", "дзе", "швили", "ых", "их",
	"ov", "ev", "in", "yn", "ova", "eva", "ina", "yna", "sky", "skiy", "skii", "skij",
	"skaya", "skaia", "ko", "uk", "yuk", "iuk", "yan", "ian", "dze", "shvili", "ykh", "ikh",
	NULL
};

/*
 * TrimSpaces
 *		Start and byte length of w without leading and trailing spaces (what
 *		btrim does); 0 for NULL.
 */
static int
TrimSpaces(const char *w, const char **start)
{
	int			len;

	*start = w;
	if (w == NULL)
		return 0;
	while (**start == ' ')
		(*start)++;
	len = strlen(*start);
	while (len > 0 && (*start)[len - 1] == ' ')
		len--;
	return len;
}

/*
 * LowerUtf8
 *		A palloc'd copy of len bytes of UTF-8 with ASCII and Cyrillic capitals
 *		made small (А-Я, Ѐ-Џ, A-Z); every other character is copied as it is.
 */
static char *
LowerUtf8(const char *s, int len)
{
	char	   *out = palloc(len + 1);
	int			i = 0;
	int			o = 0;

	while (i < len)
	{
		unsigned char c = (unsigned char) s[i];

		if (c < 0x80)
		{
			out[o++] = (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
			i++;
		}
		else if (c == 0xD0 && i + 1 < len &&
				 (unsigned char) s[i + 1] >= 0x80 && (unsigned char) s[i + 1] <= 0xAF)
		{
			/* U+0400..U+042F: capitals, two bytes both ways */
			unsigned char c2 = (unsigned char) s[i + 1];
			pg_wchar	lc = (c2 <= 0x8F) ? 0x450 + (c2 - 0x80) : 0x430 + (c2 - 0x90);

			o += TextPutUtf8(out + o, (int32) lc);
			i += 2;
		}
		else
		{
			int			l = pg_utf_mblen((const unsigned char *) s + i);

			if (l > len - i)
				l = len - i;
			memcpy(out + o, s + i, l);
			o += l;
			i += l;
		}
	}
	out[o] = '\0';
	return out;
}

/*
 * EndsWithAny
 *		Whether w (trimmed, case folded) ends with one of the endings.
 */
static bool
EndsWithAny(const char *w, int len, const char *const *endings)
{
	char	   *low = LowerUtf8(w, len);
	int			lowlen = strlen(low);
	bool		found = false;
	int			i;

	for (i = 0; endings[i] != NULL && !found; i++)
	{
		int			el = strlen(endings[i]);

		found = lowlen >= el && memcmp(low + lowlen - el, endings[i], el) == 0;
	}
	pfree(low);
	return found;
}

/*
 * TextShapeInitial
 *		A missing name part, an initial or a word of at most two letters
 *		(after trimming spaces), or anything with a full stop.
 */
bool
TextShapeInitial(const char *w)
{
	const char *t;
	int			len = TrimSpaces(w, &t);

	return w == NULL || CdpUtf8Chars(t, len) <= 2 || strchr(w, '.') != NULL;
}

/*
 * TextShapePatronymic
 *		A part ending like a patronymic (-ович, -евна, -ич, -ична, or their
 *		Latin spellings); false for NULL.
 */
bool
TextShapePatronymic(const char *w)
{
	const char *t;
	int			len = TrimSpaces(w, &t);

	return w != NULL && EndsWithAny(t, len, PatronymicEndings);
}

/*
 * TextShapeSurname
 *		A part of more than three letters ending like a Russian surname (-ов,
 *		-ина, -ская, -ко, -ян, -дзе, -их, ..., or their Latin spellings);
 *		false for NULL.
 */
bool
TextShapeSurname(const char *w)
{
	const char *t;
	int			len = TrimSpaces(w, &t);

	return w != NULL && CdpUtf8Chars(t, len) > 3 && EndsWithAny(t, len, SurnameEndings);
}

/*
 * What CdpNameRoles asks of a word: its shapes and whether it is a listed
 * given name (as it is, or by the list's reach).  Each is computed when
 * first asked (the same calls, in the same order, as without a cache, so
 * an error is raised where it was) and remembered in a RoleWord.
 */
#define ROLE_INITIAL		0x01
#define ROLE_PATRONYMIC		0x02
#define ROLE_SURNAME		0x04
#define ROLE_LISTED_ASIS	0x08	/* ListedGiven(w, true) */
#define ROLE_LISTED_ANY		0x10	/* ListedGiven(w, false) */

/*
 * The words of one query's cdp.name_roles calls, memoised (issue 12, speed:
 * the roles of 1M records' names were 1M x three lexicon lookups with
 * Snowball stemming, while a population carries a few thousand distinct
 * words).  Words of ROLE_CACHE_KEYLEN bytes or more, and words past
 * ROLE_CACHE_MAX entries, are not cached.
 */
#define ROLE_CACHE_KEYLEN 64
#define ROLE_CACHE_MAX 100000

typedef struct RoleWord
{
	uint8		known;			/* ROLE_* bits computed */
	uint8		value;			/* ROLE_* bits true */
} RoleWord;

/*
 * The cache: an open-addressing table (lib/simplehash.h) with each entry's
 * hash kept in it (a dynahash table of 64-byte keys spent 8 % of the full
 * re-key's CPU at 1M records walking its buckets: issue 12, session 34).
 * An insertion may move entries, so each holds its RoleWord by pointer: the
 * three of one call stay where they are while the next is looked up.
 */
typedef struct RoleEntry
{
	const char *word;			/* hash key (in the cache's context) */
	RoleWord   *rw;
	uint32		hash;			/* hash_bytes of word */
	char		status;			/* simplehash's */
} RoleEntry;

#define SH_PREFIX rolecache
#define SH_ELEMENT_TYPE RoleEntry
#define SH_KEY_TYPE const char *
#define SH_KEY word
#define SH_HASH_KEY(tb, k) hash_bytes((const unsigned char *) (k), strlen(k))
#define SH_EQUAL(tb, a, b) (strcmp((a), (b)) == 0)
#define SH_SCOPE static inline
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a) ((a)->hash)
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/*
 * RoleFlag
 *		Whether bit holds for word w (NULL: a missing part), computed once per
 *		RoleWord.
 */
static bool
RoleFlag(RoleWord *rw, const char *w, uint8 bit)
{
	if (!(rw->known & bit))
	{
		bool		v;

		switch (bit)
		{
			case ROLE_INITIAL:
				v = TextShapeInitial(w);
				break;
			case ROLE_PATRONYMIC:
				v = TextShapePatronymic(w);
				break;
			case ROLE_SURNAME:
				v = TextShapeSurname(w);
				break;
			case ROLE_LISTED_ASIS:
				v = CdpGivenNameListed(w, strlen(w), true);
				break;
			default:
				v = CdpGivenNameListed(w, strlen(w), false);
				break;
		}
		rw->known |= bit;
		if (v)
			rw->value |= bit;
	}
	return (rw->value & bit) != 0;
}

/*
 * ListedGiven
 *		Whether a part is a listed given name; a part shaped like a surname
 *		counts only when it is itself a listed name (Ирина), not when the
 *		list reaches a name from it (Петров: Пётр).
 */
static bool
ListedGiven(RoleWord *rw, const char *w, bool surnameShaped)
{
	return RoleFlag(rw, w, surnameShaped ? ROLE_LISTED_ASIS : ROLE_LISTED_ANY);
}

/*
 * RolesOf
 *		The rules of CdpNameRoles over the three parts' RoleWords.
 */
static void
RolesOf(const char *const part[3], RoleWord *w[3], int role[3])
{
	const char *f = part[0];
	const char *g = part[1];
	const char *p = part[2];

	role[0] = 0;
	role[1] = 1;
	role[2] = 2;
	if (RoleFlag(w[0], f, ROLE_INITIAL) || RoleFlag(w[0], f, ROLE_PATRONYMIC) ||
		RoleFlag(w[1], g, ROLE_INITIAL))
		return;
	if (RoleFlag(w[1], g, ROLE_PATRONYMIC))
	{
		if (!RoleFlag(w[2], p, ROLE_PATRONYMIC) &&
			(!RoleFlag(w[0], f, ROLE_SURNAME) || ListedGiven(w[0], f, true)))
		{
			role[0] = 2;
			role[1] = 0;
			role[2] = 1;
		}
		return;
	}
	{
		bool		gSurname = RoleFlag(w[1], g, ROLE_SURNAME);

		if (ListedGiven(w[1], g, gSurname))
			return;
		if ((!RoleFlag(w[0], f, ROLE_SURNAME) && gSurname) ||
			ListedGiven(w[0], f, RoleFlag(w[0], f, ROLE_SURNAME)))
		{
			role[0] = 1;
			role[1] = 0;
		}
	}
}

/*
 * CdpNameRoles
 *		See text.h.  When the given part holds a patronymic and the family
 *		part a listed given name or a word shaped like no surname (Мирра),
 *		the three are rotated back («Имя Отчество Фамилия»); when the given
 *		part holds no listed given name, initial or patronymic and the family
 *		part a listed given name (or a word shaped like no surname while the
 *		given part is shaped like one), family and given are exchanged
 *		(«Имя Фамилия»).  Anything else keeps its order.  The name list is
 *		consulted only when the shapes leave the question open.
 */
void
CdpNameRoles(const char *const part[3], int role[3])
{
	RoleWord	local[3];
	RoleWord   *w[3];
	int			i;

	for (i = 0; i < 3; i++)
	{
		local[i].known = local[i].value = 0;
		w[i] = &local[i];
	}
	RolesOf(part, w, role);
}

/*
 * CachedRoleWord
 *		The RoleWord of part w in the query's cache (created in cxt), or
 *		local (reset) when w is missing, too long or the cache is full.
 */
static RoleWord *
CachedRoleWord(rolecache_hash **cache, MemoryContext cxt, const char *w, RoleWord *local)
{
	Size		len;
	uint32		h;
	RoleEntry  *e;
	bool		found;

	local->known = local->value = 0;
	if (w == NULL || (len = strlen(w)) >= ROLE_CACHE_KEYLEN)
		return local;
	if (*cache == NULL)
		*cache = rolecache_create(cxt, 1024, NULL);
	h = hash_bytes((const unsigned char *) w, len);
	if ((*cache)->members < ROLE_CACHE_MAX)
	{
		e = rolecache_insert_hash(*cache, w, h, &found);
		if (!found)
		{
			/* the key the entry holds must outlive w */
			e->word = MemoryContextStrdup(cxt, w);
			e->rw = MemoryContextAllocZero(cxt, sizeof(RoleWord));
		}
	}
	else
		e = rolecache_lookup_hash(*cache, w, h);
	if (e == NULL)
		return local;
	return e->rw;
}

/*
 * cdp_name_roles
 *		SQL: cdp.name_roles(family text, given text, patronymic text)
 *		RETURNS text[]: the three parts (as given) in the order family, given,
 *		patronymic by what the words are.  Not strict: a missing part is NULL.
 *		The words' shapes and listings are memoised for the query in fn_extra
 *		(CachedRoleWord): the answer is the same, computed once per word.
 */
Datum
cdp_name_roles(PG_FUNCTION_ARGS)
{
	const char *utf[3];
	Datum		in[3];
	bool		innull[3];
	Datum		out[3];
	bool		outnull[3];
	int			role[3];
	int			dims[1] = {3};
	int			lbs[1] = {1};
	int			i;

	for (i = 0; i < 3; i++)
	{
		innull[i] = PG_ARGISNULL(i);
		in[i] = innull[i] ? (Datum) 0 : PG_GETARG_DATUM(i);
		if (innull[i])
			utf[i] = NULL;
		else
		{
			int			len;
			char	   *u = TextArgUtf8(DatumGetTextPP(in[i]), &len);

			/* not terminated when no conversion was needed */
			utf[i] = pnstrdup(u, len);
		}
	}
	{
		RoleWord	local[3];
		RoleWord   *w[3];

		for (i = 0; i < 3; i++)
		{
			if (fcinfo->flinfo == NULL)
			{
				local[i].known = local[i].value = 0;
				w[i] = &local[i];
			}
			else
				w[i] = CachedRoleWord((rolecache_hash **) &fcinfo->flinfo->fn_extra,
									  fcinfo->flinfo->fn_mcxt, utf[i], &local[i]);
		}
		RolesOf(utf, w, role);
	}
	for (i = 0; i < 3; i++)
	{
		out[i] = in[role[i]];
		outnull[i] = innull[role[i]];
	}
	PG_RETURN_ARRAYTYPE_P(construct_md_array(out, outnull, 1, dims, lbs,
											 TEXTOID, -1, false, TYPALIGN_INT));
}
