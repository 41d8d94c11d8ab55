/*-------------------------------------------------------------------------
 *
 * test/fuzz/fuzz_ingest.c
 *		libFuzzer target: the text kernels of the ingest family, which are
 *		static in src/ingest_attrs.c (this file includes it, and the target
 *		links without ingest_attrs.o): white-space cleaning, lower-casing,
 *		social handles, sex and birth-date parsing, and the split of a full
 *		name into family, given name and patronymic.
 *
 * The values reach these kernels from jsonb strings, so they are valid UTF-8
 * without NUL bytes; other inputs are skipped.  The kernels run in strict
 * mode, where a rejected value raises (22007, 22008, 22023) instead of being
 * collected into a List.
 *
 * Oracles (from the comments of src/ingest_attrs.c and doc/ingest.md):
 *   - CleanText: NULL or text without white space at either end and no
 *     other white space than single spaces, idempotent;
 *   - CleanHandle: NULL or a non-empty handle without a leading @;
 *     ParseSex: "M", "F" or a 22023 error;
 *   - ParseBirthDate: a date from 1880-01-01 to today written YYYY-MM-DD,
 *     which parses back to itself, or a 22007/22008 error;
 *   - SplitFullName: every part it fills is valid UTF-8 and non-empty;
 *   - CdpNameRoles (src/text_roles.c, when the tree has it): the roles of
 *     three name parts (the input cut at 0x1E; missing parts NULL) are a
 *     permutation of 0, 1, 2; the word-shape tests run on every part;
 *   - every error is a user error with a well-formed message (the shim).
 *
 *-------------------------------------------------------------------------
 */
#include "ingest_attrs.c"

#include "fuzz_common.h"

/*
 * CheckCleanText
 *		The result of CleanText: trimmed, single spaces, idempotent.
 */
static void
CheckCleanText(const char *r)
{
	size_t		n;
	char	   *again;

	if (r == NULL)
		return;
	n = strlen(r);
	if (n == 0 || r[0] == ' ' || r[n - 1] == ' ' || strstr(r, "  ") != NULL ||
		strpbrk(r, "\t\n\r\f\v") != NULL)
		FuzzFail("CleanText returned \"%s\"", r);
	again = CleanText(r, (int) n);
	if (again == NULL || strcmp(again, r) != 0)
		FuzzFail("CleanText is not idempotent on \"%s\"", r);
}

/*
 * CheckAllowed
 *		After a FUZZ_TRY: only the listed user errors.
 */
static void
CheckAllowed(const char *what, int a, int b)
{
	if (FuzzLastSqlstate == 0 || FuzzLastSqlstate == a || FuzzLastSqlstate == b)
		return;
	FuzzFail("%s raised %s: %s", what, FuzzSqlstateText(FuzzLastSqlstate), FuzzLastMessage);
}

/*
 * FuzzIngest
 *		Every ingest text kernel on the NUL-terminated, valid string s.
 */
static void
FuzzIngest(const char *s, int len)
{
	NormState	st;

	memset(&st, 0, sizeof(st));
	st.lenient = false;
	st.key = "fuzz";

	FUZZ_TRY(CheckCleanText(CleanText(s, len)));
	CheckAllowed("CleanText", 0, 0);

	FUZZ_TRY(
	{
		char	   *low = LowerCase(s, len);

		if (!FuzzUtf8Valid(low, (int) strlen(low)))
			FuzzFail("LowerCase returned invalid UTF-8");
	});
	CheckAllowed("LowerCase", 0, 0);

	FUZZ_TRY(
	{
		char	   *h = CleanHandle(s);

		if (h != NULL)
		{
			size_t		n = strlen(h);

			/* one trailing slash is dropped, not all: "x//" gives "x/" */
			if (n == 0 || h[0] == '@' || !FuzzUtf8Valid(h, (int) n))
				FuzzFail("CleanHandle returned \"%s\"", h);
		}
	});
	CheckAllowed("CleanHandle", 0, 0);

	FUZZ_TRY(
	{
		char	   *sex = ParseSex(&st, s);

		if (sex == NULL || (strcmp(sex, "M") != 0 && strcmp(sex, "F") != 0))
			FuzzFail("ParseSex returned %s", sex ? sex : "NULL");
	});
	CheckAllowed("ParseSex", ERRCODE_INVALID_PARAMETER_VALUE, 0);

	FUZZ_TRY(
	{
		DateADT		d = 0,
					d2 = 0;
		char	   *r = ParseBirthDate(&st, s, &d);
		char	   *r2;

		if (r == NULL || strlen(r) != 10 || r[4] != '-' || r[7] != '-' ||
			strncmp(r, "1880-01-01", 10) < 0 || d > GetSQLCurrentDate())
			FuzzFail("ParseBirthDate returned %s", r ? r : "NULL");
		r2 = ParseBirthDate(&st, r, &d2);
		if (r2 == NULL || strcmp(r, r2) != 0 || d != d2)
			FuzzFail("ParseBirthDate of \"%s\" gives \"%s\"", r, r2 ? r2 : "NULL");
	});
	CheckAllowed("ParseBirthDate", ERRCODE_INVALID_DATETIME_FORMAT, ERRCODE_DATETIME_FIELD_OVERFLOW);

	FUZZ_TRY(
	{
		memset(&st, 0, sizeof(st));
		st.key = "full_name";
		st.full_name = (char *) s;
		SplitFullName(&st);
		if ((st.family && (!st.family[0] || !FuzzUtf8Valid(st.family, (int) strlen(st.family)))) ||
			(st.given && (!st.given[0] || !FuzzUtf8Valid(st.given, (int) strlen(st.given)))) ||
			(st.patronymic && (!st.patronymic[0] ||
							   !FuzzUtf8Valid(st.patronymic, (int) strlen(st.patronymic)))))
			FuzzFail("SplitFullName gave \"%s\" / \"%s\" / \"%s\"",
					 st.family ? st.family : "", st.given ? st.given : "",
					 st.patronymic ? st.patronymic : "");
	});
	CheckAllowed("SplitFullName", 0, 0);
}

/*
 * FuzzNameRoles
 *		The name roles of up to three parts of s (cut at 0x1E), as ingest
 *		reads the parts of a full name.  Built only when src/text.h declares
 *		CdpNameRoles (the Makefile checks), so this target also builds on a
 *		tree from before text_roles.c.
 */
static void
FuzzNameRoles(const char *s)
{
	FUZZ_TRY(
	{
		char	   *copy = pstrdup(s);
		const char *part[3] = {NULL, NULL, NULL};
		int			role[3] = {-1, -1, -1};
		int			seen = 0;
		char	   *p = copy;

		for (int i = 0; i < 3 && p; i++)
		{
			char	   *sep = strchr(p, 0x1E);

			if (sep)
				*sep = '\0';
			part[i] = (*p || sep) ? p : NULL;
			p = sep ? sep + 1 : NULL;
		}
		for (int i = 0; i < 3; i++)
		{
			(void) TextShapeInitial(part[i]);
			(void) TextShapePatronymic(part[i]);
			(void) TextShapeSurname(part[i]);
			if (part[i])
				(void) CdpGivenNameListed(part[i], (int) strlen(part[i]), i == 0);
		}
		CdpNameRoles(part, role);
		for (int i = 0; i < 3; i++)
		{
			if (role[i] < 0 || role[i] > 2)
				FuzzFail("name roles: role %d is %d", i, role[i]);
			seen |= 1 << role[i];
		}
		if (seen != 7)
			FuzzFail("name roles {%d, %d, %d} are not a permutation", role[0], role[1], role[2]);
	});
	CheckAllowed("CdpNameRoles", 0, 0);
}

/*
 * LLVMFuzzerTestOneInput
 *		One valid UTF-8 input (as a jsonb string holds) through the kernels.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *s;

	if (size > 4096 || !FuzzUtf8Valid((const char *) data, (int) size))
		return -1;				/* not a jsonb string: not in the corpus */
	FuzzInputBegin();
	FuzzExpectValidMessages(true);
	s = palloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	FuzzIngest(s, (int) size);
	FuzzNameRoles(s);
	FuzzInputEnd();
	return 0;
}
