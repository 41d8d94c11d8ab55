/*-------------------------------------------------------------------------
 *
 * test/fuzz/fuzz_text.c
 *		libFuzzer target: every one-string kernel of the text, phonetic and
 *		name-index families on the input (src/text.h, src/phonetic.h,
 *		src/idx.h), with the oracles their documentation promises.
 *
 * Oracles (each only where doc/ promises it):
 *   - the kernels raise errors only for input over 64 kB or not valid
 *     UTF-8 (doc/text.md, doc/phonetic.md); a valid input within the cap
 *     must not raise anything but 54000 for a result over the cap;
 *   - every result is valid UTF-8 (the SQL wrappers return it as text);
 *   - normalize_name is idempotent (doc/text.md);
 *   - name_key(x) is the key of normalize_name(x) (src/text.h);
 *   - name_tokens are the words of normalize_name, each hyphenated word
 *     followed by its parts (doc/text.md);
 *   - name_sex_hint is 'M', 'F' or 0;
 *   - Double Metaphone codes have at most 4 letters, Daitch-Mokotoff
 *     gives at most 32 distinct 6-digit codes in ascending order
 *     (doc/phonetic.md);
 *   - a name's index keys are sorted and unique per word, and its
 *     similarity to itself is 1 when it has words (doc/index.md).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "cdp.h"
#include "idx.h"
#include "phonetic.h"
#include "text.h"

#include "fuzz_common.h"

/*
 * CheckUtf8Result
 *		A kernel's result must be a valid UTF-8 C string.
 */
static void
CheckUtf8Result(const char *what, const char *r)
{
	if (r == NULL)
		FuzzFail("%s returned NULL", what);
	if (!FuzzUtf8Valid(r, (int) strlen(r)))
		FuzzFail("%s returned invalid UTF-8: \"%s\"", what, r);
}

/*
 * CheckError
 *		After a FUZZ_TRY: an error is only allowed for an input that is not
 *		valid UTF-8 or longer than the cap, or as 54000 (a result too long).
 */
static void
CheckError(const char *what, bool valid, int len)
{
	if (FuzzLastSqlstate == 0 || !valid || len > CDP_MAX_TEXT_BYTES)
		return;
	if (FuzzLastSqlstate == ERRCODE_PROGRAM_LIMIT_EXCEEDED)
		return;
	FuzzFail("%s raised %s for valid input of %d bytes: %s", what,
			 FuzzSqlstateText(FuzzLastSqlstate), len, FuzzLastMessage);
}

/*
 * FuzzNames
 *		The text family (src/text.h) on s.
 */
static void
FuzzNames(const char *s, int len, bool valid)
{
	static const char *const schemes[] = {NULL, "icao", "gost_b", "bgn", "informal", "lat2cyr"};

	FUZZ_TRY(
	{
		char	   *n = CdpNormalizeName(s, len);
		char	   *n2;

		CheckUtf8Result("normalize_name", n);
		n2 = CdpNormalizeName(n, (int) strlen(n));
		if (strcmp(n, n2) != 0)
			FuzzFail("normalize_name is not idempotent: \"%s\" then \"%s\"", n, n2);
	});
	CheckError("normalize_name", valid, len);

	FUZZ_TRY(
	{
		char	   *k = CdpNameKey(s, len);
		char	   *n = CdpNormalizeName(s, len);
		char	   *k2 = TextKeyOfNormalized(n);

		CheckUtf8Result("name_key", k);
		if (strcmp(k, k2) != 0)
			FuzzFail("name_key \"%s\" is not the key of normalize_name \"%s\" (\"%s\")", k, n, k2);
	});
	CheckError("name_key", valid, len);

	for (int i = 0; i < lengthof(schemes); i++)
	{
		FUZZ_TRY(CheckUtf8Result("translit", CdpTranslit(s, len, schemes[i])));
		CheckError("translit", valid, len);
	}
	FUZZ_TRY(CdpTranslit(s, len, "no such scheme"));
	if (valid && len <= CDP_MAX_TEXT_BYTES && FuzzLastSqlstate != ERRCODE_INVALID_PARAMETER_VALUE)
		FuzzFail("translit with an unknown scheme did not raise 22023");

	FUZZ_TRY(CheckUtf8Result("surname_base", CdpSurnameBase(s, len)));
	CheckError("surname_base", valid, len);
	FUZZ_TRY(CheckUtf8Result("patronymic_base", CdpPatronymicBase(s, len)));
	CheckError("patronymic_base", valid, len);
	FUZZ_TRY(CheckUtf8Result("name_base_key", CdpNameBaseKey(s, len)));
	CheckError("name_base_key", valid, len);
	FUZZ_TRY(CheckUtf8Result("given_name_base", CdpGivenNameBase(s, len)));
	CheckError("given_name_base", valid, len);
	FUZZ_TRY(CheckUtf8Result("russian_stem", CdpRussianStem(s, len)));
	CheckError("russian_stem", valid, len);

	FUZZ_TRY(
	{
		char		h = CdpNameSexHint(s, len);

		if (h != 'M' && h != 'F' && h != 0)
			FuzzFail("name_sex_hint returned %d", h);
		h = CdpGivenNameSex(s, len);
		if (h != 'M' && h != 'F' && h != 0)
			FuzzFail("given_name_sex returned %d", h);
	});
	CheckError("name_sex_hint", valid, len);

	FUZZ_TRY(
	{
		char	  **out = NULL;
		int			n = CdpGivenNameBases(s, len, &out);

		if (n < 0 || (n > 0 && out == NULL))
			FuzzFail("given_name_bases returned %d", n);
		for (int i = 0; i < n; i++)
			CheckUtf8Result("given_name_bases", out[i]);
	});
	CheckError("given_name_bases", valid, len);

	FUZZ_TRY(
	{
		char	  **out = NULL;
		int			n = CdpNameTokens(s, len, &out);
		char	   *norm = CdpNormalizeName(s, len);
		int			k = 0;

		if (n < 0 || (n > 0 && out == NULL))
			FuzzFail("name_tokens returned %d", n);
		for (int i = 0; i < n; i++)
		{
			CheckUtf8Result("name_tokens", out[i]);
			if (out[i][0] == '\0' || strchr(out[i], ' ') != NULL)
				FuzzFail("name_tokens returned token \"%s\"", out[i]);
		}
		/* doc/text.md: the words of normalize_name, each hyphenated one followed by its parts */
		for (char *w = strtok(norm, " "); w; w = strtok(NULL, " "))
		{
			if (k >= n || strcmp(out[k], w) != 0)
				FuzzFail("name_tokens: token %d is \"%s\", normalize_name has \"%s\"", k,
						 k < n ? out[k] : "(none)", w);
			k++;
			if (strchr(w, '-'))
				for (char *h = w; *h; h += strcspn(h, "-") + (h[strcspn(h, "-")] != '\0'))
				{
					int			hl = (int) strcspn(h, "-");

					if (hl == 0)
						continue;
					if (k >= n || (int) strlen(out[k]) != hl || strncmp(out[k], h, hl) != 0)
						FuzzFail("name_tokens: part %d of \"%s\" is \"%s\"", k, w,
								 k < n ? out[k] : "(none)");
					k++;
				}
		}
		if (k != n)
			FuzzFail("name_tokens: %d tokens, normalize_name accounts for %d", n, k);
	});
	CheckError("name_tokens", valid, len);
}

/*
 * FuzzPhonetic
 *		The phonetic family (src/phonetic.h) on s.
 */
static void
FuzzPhonetic(const char *s, int len, bool valid)
{
	FUZZ_TRY(CheckUtf8Result("phonetic_ru", CdpPhoneticRu(s, len)));
	CheckError("phonetic_ru", valid, len);
	FUZZ_TRY(CheckUtf8Result("phonetic_ru(fold_gender => false)", CdpPhoneticRuExt(s, len, false)));
	CheckError("phonetic_ru", valid, len);

	FUZZ_TRY(
	{
		char	   *p = NULL;
		char	   *a = NULL;

		CdpDoubleMetaphone(s, len, &p, &a);
		CheckUtf8Result("dmetaphone", p);
		CheckUtf8Result("dmetaphone_alt", a);
		if (strlen(p) > CDP_DMETAPHONE_MAXLEN || strlen(a) > CDP_DMETAPHONE_MAXLEN)
			FuzzFail("dmetaphone codes \"%s\", \"%s\" longer than %d", p, a, CDP_DMETAPHONE_MAXLEN);
	});
	CheckError("dmetaphone", valid, len);

	FUZZ_TRY(
	{
		char	  **codes = NULL;
		int			n = CdpDMSoundex(s, len, &codes);

		if (n < 0 || n > CDP_DM_MAX_CODES)
			FuzzFail("dm_soundex returned %d codes", n);
		for (int i = 0; i < n; i++)
		{
			if (strlen(codes[i]) != CDP_DM_DIGITS ||
				strspn(codes[i], "0123456789") != CDP_DM_DIGITS)
				FuzzFail("dm_soundex code \"%s\" is not %d digits", codes[i], CDP_DM_DIGITS);
			if (i > 0 && strcmp(codes[i - 1], codes[i]) >= 0)
				FuzzFail("dm_soundex codes \"%s\", \"%s\" not distinct and ascending",
						 codes[i - 1], codes[i]);
		}
	});
	CheckError("dm_soundex", valid, len);
}

/*
 * FuzzIndexKeys
 *		The key set of a name (src/idx.h) and its similarity to itself.
 */
static void
FuzzIndexKeys(const char *s, int len, bool valid)
{
	FUZZ_TRY(
	{
		IdxName		n;
		int			nkeys;
		int32	   *keys;
		float4		self;

		IdxNameBuild(s, len, &n);
		if (n.nwords < 0 || n.nwords > IDX_MAX_WORDS)
			FuzzFail("name index: %d words", n.nwords);
		for (int w = 0; w < n.nwords; w++)
		{
			if (n.wstart[w] > n.wstart[w + 1])
				FuzzFail("name index: word %d has keys %d..%d", w, n.wstart[w], n.wstart[w + 1]);
			for (int k = n.wstart[w] + 1; k < n.wstart[w + 1]; k++)
				if (n.keys[k - 1] >= n.keys[k])
					FuzzFail("name index: keys of word %d not sorted and unique", w);
		}
		keys = IdxNameUnionKeys(&n, &nkeys);
		for (int k = 1; k < nkeys; k++)
			if (keys[k - 1] >= keys[k])
				FuzzFail("name index: union keys not sorted and unique");
		self = IdxNameSimilarity(&n, &n);
		if (n.nwords > 0 && self != 1.0f)
			FuzzFail("name similarity of a name to itself is %g", (double) self);
	});
	CheckError("name_index_keys", valid, len);
}

/*
 * LLVMFuzzerTestOneInput
 *		One input: every one-string kernel, in a fresh memory context.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *s;
	int			len;
	bool		valid;

	FuzzInputBegin();
	s = FuzzOneString(data, size, CDP_MAX_TEXT_BYTES + 1, &len);
	valid = FuzzUtf8Valid(s, len);
	FuzzExpectValidMessages(valid);
	FuzzNames(s, len, valid);
	FuzzPhonetic(s, len, valid);
	FuzzIndexKeys(s, len, valid);
	FuzzInputEnd();
	return 0;
}
