/*-------------------------------------------------------------------------
 *
 * test/fuzz/fuzz_golden.c
 *		libFuzzer target: the server-free checks of a survivorship rules
 *		document (src/golden_rules.c) that cdp_internal.golden_check_rules and the
 *		fold (cdp.golden_fold) run on each attribute and rule name.
 *
 * Input: one parameter byte, then an attribute name and the elements of its
 * rule list, separated by 0x1E.  Parameter bits: 0x01 strict mode (what
 * golden_check_rules does: known attribute, non-empty list, no rule twice);
 * 0x02 the list is not an array; 0x04..0x40 element k is not a JSON string
 * (bit 2 + k % 5; its text is then the JSON text of another value); 0x80 the
 * attribute is repeated past 200 bytes, so the quoting of long names runs.
 * The names come from jsonb keys and strings: valid UTF-8 without NUL,
 * other inputs are skipped.
 *
 * Oracles (doc/golden.md):
 *   - the rule names are exactly validated, trusted, recent, frequent,
 *     complete, and GoldenRuleNames lists them in that order;
 *   - strict mode accepts exactly the attributes family_name, given_name,
 *     patronymic, sex, birth_date, snils, oms, address, city;
 *   - a list that is not an array is refused in both modes, an empty one in
 *     strict mode only;
 *   - the elements are read in order: the first one that is not a rule name
 *     (or, in strict mode, names a rule already named) is refused; otherwise
 *     each element gives its rule;
 *   - every refusal is 22023 and quotes at most 64 bytes of a name, so a
 *     message stays short whatever the input (and, from the shim, is
 *     well-formed valid UTF-8).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fuzz_common.h"
#include "golden.h"

#define FUZZ_SEP		0x1E
#define FUZZ_MAX_ELEMS	64

static const char *const DocRules[] = {
	"validated", "trusted", "recent", "frequent", "complete"
};

static const char *const DocAttributes[] = {
	"family_name", "given_name", "patronymic", "sex", "birth_date", "snils", "oms",
	"address", "city"
};

/*
 * DocIndex
 *		Position of s[0..len) in a list of names, or -1: the reference of the
 *		lookups, through a NUL-terminated copy and strcmp.
 */
static int
DocIndex(const char *s, int len, const char *const *names, int n)
{
	char	   *z = pnstrdup(s, len);
	int			found = -1;

	for (int i = 0; i < n; i++)
		if ((int) strlen(z) == len && strcmp(z, names[i]) == 0)
			found = i;
	pfree(z);
	return found;
}

/*
 * CheckRefusal
 *		After a FUZZ_TRY: whether the kernel refused, as the oracle says it
 *		must, with 22023 and a short message.
 */
static void
CheckRefusal(const char *what, bool expect)
{
	if (FuzzLastSqlstate != 0 && FuzzLastSqlstate != ERRCODE_INVALID_PARAMETER_VALUE)
		FuzzFail("%s raised %s: %s", what, FuzzSqlstateText(FuzzLastSqlstate), FuzzLastMessage);
	if (expect != (FuzzLastSqlstate != 0))
		FuzzFail("%s %s", what, expect ? "accepted what it must refuse" : "refused what it must accept");
	/* two names of at most GOLDEN_MSG_CLIP bytes and the words around them */
	if (FuzzLastSqlstate != 0 && strlen(FuzzLastMessage) > 2 * GOLDEN_MSG_CLIP + 80)
		FuzzFail("%s: message of %zu bytes: %s", what, strlen(FuzzLastMessage), FuzzLastMessage);
}

/*
 * FuzzRules
 *		The checks of one attribute and its rule list.
 */
static void
FuzzRules(uint8 param, char *attr, int attrlen, char **elems, int *lens, int nelems)
{
	bool		strict = (param & 0x01) != 0;
	bool		is_array = (param & 0x02) == 0;
	uint32		seen = 0;
	uint32		ref_seen = 0;
	volatile int done = 0;
	volatile GoldenRule got[FUZZ_MAX_ELEMS];
	int			expect_fail = -1;

	for (int i = 0; i < GOLDEN_NRULES; i++)
		if (strcmp(GoldenRuleNames[i], DocRules[i]) != 0 ||
			GoldenRuleIndex(DocRules[i], strlen(DocRules[i])) != i)
			FuzzFail("rule %d is \"%s\", doc/golden.md says \"%s\"", i, GoldenRuleNames[i], DocRules[i]);

	if ((GoldenAttributeIndex(attr, attrlen) >= 0) !=
		(DocIndex(attr, attrlen, DocAttributes, lengthof(DocAttributes)) >= 0))
		FuzzFail("GoldenAttributeIndex disagrees with doc/golden.md on \"%.*s\"", attrlen, attr);
	FUZZ_TRY(GoldenCheckAttribute(attr, attrlen));
	CheckRefusal("GoldenCheckAttribute",
				 DocIndex(attr, attrlen, DocAttributes, lengthof(DocAttributes)) < 0);

	FUZZ_TRY(GoldenCheckRuleList(attr, attrlen, is_array, nelems, strict, "[]", 2));
	CheckRefusal("GoldenCheckRuleList", !is_array || (strict && nelems == 0));

	/* the reference: the first element refused, if any */
	for (int k = 0; k < nelems && expect_fail < 0; k++)
	{
		bool		is_string = (param & (0x04 << (k % 5))) == 0;
		int			r = is_string ? DocIndex(elems[k], lens[k], DocRules, GOLDEN_NRULES) : -1;

		if (r < 0 || (strict && (ref_seen & (1U << r))))
			expect_fail = k;
		else
			ref_seen |= 1U << r;
	}
	FUZZ_TRY(
	{
		for (int k = 0; k < nelems; k++)
		{
			got[k] = GoldenCheckRule(attr, attrlen, elems[k], lens[k],
									 (param & (0x04 << (k % 5))) == 0, strict ? &seen : NULL);
			done = k + 1;
		}
	});
	CheckRefusal("GoldenCheckRule", expect_fail >= 0);
	if (expect_fail >= 0 && done != expect_fail)
		FuzzFail("GoldenCheckRule refused element %d, the reference refuses element %d", done, expect_fail);
	for (int k = 0; k < done; k++)
		if (strcmp(GoldenRuleNames[got[k]], pnstrdup(elems[k], lens[k])) != 0)
			FuzzFail("GoldenCheckRule read \"%.*s\" as \"%s\"", lens[k], elems[k], GoldenRuleNames[got[k]]);
}

/*
 * LLVMFuzzerTestOneInput
 *		A parameter byte, then the attribute and the list's elements split at
 *		0x1E (each a palloc'd copy of exactly its bytes).
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p;
	const char *end;
	char	   *parts[FUZZ_MAX_ELEMS + 1];
	int			lens[FUZZ_MAX_ELEMS + 1];
	int			n = 0;
	uint8		param;

	if (size < 1 || size > 4096 || !FuzzUtf8Valid((const char *) data + 1, (int) size - 1))
		return -1;				/* not jsonb text: not in the corpus */
	FuzzInputBegin();
	FuzzExpectValidMessages(true);
	param = data[0];
	p = (const char *) data + 1;
	end = (const char *) data + size;
	while (n <= FUZZ_MAX_ELEMS)
	{
		const char *sep = memchr(p, FUZZ_SEP, end - p);
		int			len = (int) ((sep ? sep : end) - p);

		parts[n] = palloc(len);
		memcpy(parts[n], p, len);
		lens[n++] = len;
		if (sep == NULL)
			break;
		p = sep + 1;
	}
	if (param & 0x80)
		parts[0] = FuzzRepeat(parts[0], lens[0], 200, &lens[0]);
	FuzzRules(param, parts[0], lens[0], parts + 1, lens + 1, n - 1);
	FuzzInputEnd();
	return 0;
}
