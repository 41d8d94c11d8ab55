/*-------------------------------------------------------------------------
 *
 * test/fuzz/fuzz_campaign.c
 *		libFuzzer target: the campaigns family's template renderer
 *		(CampRender, src/campaign_render.c) on a template and a value.
 *
 * Oracles:
 *   - rendering each placeholder as its own text ("{" name "}") gives the
 *     template back byte for byte (every placeholder found is one, and
 *     nothing else is changed);
 *   - rendering every placeholder as nothing never lengthens the template;
 *   - rendering with the value: the output is valid UTF-8 when the template
 *     and the value were; it never raises.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "campaign.h"

#include "fuzz_common.h"

/* the value of every placeholder: the second string */
typedef struct FuzzVal
{
	const char *s;
	int			len;
} FuzzVal;

/*
 * SelfLookup
 *		A placeholder's value is its own text, braces included.
 */
static const char *
SelfLookup(void *arg, const char *name, int namelen, int *len)
{
	*len = namelen + 2;
	return name - 1;			/* the '{' before the name, through the '}' after it */
}

/*
 * NoLookup
 *		No placeholder has a value.
 */
static const char *
NoLookup(void *arg, const char *name, int namelen, int *len)
{
	return NULL;
}

/*
 * ValLookup
 *		Every placeholder has the second string as its value.
 */
static const char *
ValLookup(void *arg, const char *name, int namelen, int *len)
{
	FuzzVal    *v = (FuzzVal *) arg;

	*len = v->len;
	return v->s;
}

/*
 * LLVMFuzzerTestOneInput
 *		One template and value through the renderer, three ways.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *tpl;
	char	   *val;
	int			tlen;
	int			vlen;
	bool		valid;
	FuzzVal		v;
	StringInfoData out;

	FuzzInputBegin();
	FuzzTwoStrings(data, size, 70000, &val, &vlen, &tpl, &tlen);
	valid = FuzzUtf8Valid(tpl, tlen);
	FuzzExpectValidMessages(valid);
	if (valid)
	{
		initStringInfo(&out);
		CampRender(tpl, tlen, SelfLookup, NULL, &out);
		if (out.len != tlen || memcmp(out.data, tpl, tlen) != 0)
			FuzzFail("rendering placeholders as themselves changed the template (%d -> %d bytes)", tlen, out.len);
		initStringInfo(&out);
		CampRender(tpl, tlen, NoLookup, NULL, &out);
		if (out.len > tlen)
			FuzzFail("rendering placeholders as nothing lengthened the template (%d -> %d bytes)", tlen, out.len);
		initStringInfo(&out);
		v.s = val;
		v.len = vlen;
		CampRender(tpl, tlen, ValLookup, &v, &out);
		if (FuzzUtf8Valid(val, vlen) && !FuzzUtf8Valid(out.data, out.len))
			FuzzFail("rendering valid UTF-8 gave invalid UTF-8");
	}
	FuzzInputEnd();
	return 0;
}
