/*-------------------------------------------------------------------------
 *
 * src/golden.h
 *		The survivorship rules of the golden family: rule names, the
 *		single-valued attributes and their default rules (one set of
 *		constants, src/golden_rules.c), the server-free checks of a rules
 *		document and the jsonb walk the fold (src/golden_fold.c) and
 *		cdp_internal.golden_check_rules share.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GOLDEN_H
#define GOLDEN_H

#include "postgres.h"

#include "utils/jsonb.h"

/* the survivorship rules, in the order of cdp.golden_rule_names() */
typedef enum GoldenRule
{
	RULE_VALIDATED,
	RULE_TRUSTED,
	RULE_RECENT,
	RULE_FREQUENT,
	RULE_COMPLETE
} GoldenRule;

#define GOLDEN_NRULES		5

/* longest attribute or rule text quoted in an error message, in bytes */
#define GOLDEN_MSG_CLIP		64

extern const char *const GoldenRuleNames[GOLDEN_NRULES];

/* server-free kernels: no jsonb, no catalog (test/fuzz/fuzz_golden.c) */
extern int	GoldenRuleIndex(const char *name, int len);
extern int	GoldenAttributeIndex(const char *attr, int len);
extern void GoldenCheckAttribute(const char *attr, int len);
extern void GoldenCheckRuleList(const char *attr, int attrlen, bool is_array,
								int nelems, bool strict, const char *given, int givenlen);
extern GoldenRule GoldenCheckRule(const char *attr, int attrlen, const char *rule,
								  int rulelen, bool is_string, uint32 *seen);

/* the jsonb side */
extern void GoldenCheckRulesObject(Jsonb *rules);
extern GoldenRule *GoldenParseRuleList(const char *attr, int attrlen, JsonbValue *list,
									   bool strict, int *nrules);
extern Jsonb *GoldenDefaultRules(void);

#endif							/* GOLDEN_H */
