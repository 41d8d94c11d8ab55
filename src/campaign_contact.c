/*-------------------------------------------------------------------------
 *
 * src/campaign_contact.c
 *		The contact candidates of one member for a campaign's send list
 *		(issue 14): cdp_internal.campaign_contacts, called once per member by
 *		cdp_internal.campaign_list_set (sql/parts/86_campaign_send.sql).
 *
 * The set-based listing used to expand every member's addresses into rows
 * (jsonb_array_elements per source), key each one, join them with the
 * campaign's channels and sort them per member: about a third of its time.
 * This does the same for one member in one call, in the same order and with
 * the same keys, and returns the candidates as a flat text array
 * {channel, key, channel, key, ...}: the channels the member consented to
 * among the campaign's (the preferred one first, then the campaign's
 * priority), each with the member's addresses of that channel's source in
 * their stored order, keeping only those the channel can reach (a mobile
 * number for sms and messengers).  The caller takes the first candidate
 * whose key is neither blocked nor suppressed.  NULL means the member has
 * no address at all on a consented channel of the campaign (no_address); an
 * empty array means addresses exist but none is reachable (no_address too
 * to the listing: a landline is no address for sms).
 *
 * The key is cdp.consent_address_key's: the E.164 form of a phone, the
 * canonical form of an e-mail (as cdp.email prints it: the domain in Unicode)
 * lower-cased whole, else the value trimmed of spaces and
 * lower-cased; "mobile" is cdp.phone_kind(cdp.try_phone(key)).  An
 * address is the text of an element's "value" (as ->> gives it); a social
 * address also needs "network" = "vk".
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/formatting.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

#include "cdp_jsonb.h"
#include "types.h"

/* Caps: a campaign lists at most 6 channels; a profile's arrays are short. */
#define CAMP_MAX_CHANNELS	64
#define CAMP_MAX_ADDRESSES	10000

/* The address sources of the channels (cdp.consent_channels()). */
typedef enum CampSource
{
	CAMP_SRC_NONE = -1,
	CAMP_SRC_EMAIL = 0,
	CAMP_SRC_PHONE,
	CAMP_SRC_VK,
	CAMP_SRC_POST,
	CAMP_NSOURCES
} CampSource;

/* The keyed addresses of one source, computed once per call. */
typedef struct CampKeys
{
	bool		done;
	int			n;
	char	  **key;
	bool	   *mobile;
} CampKeys;

/*
 * CampSourceOf
 *		The address source a channel reads.
 */
static CampSource
CampSourceOf(const char *ch)
{
	if (strcmp(ch, "email") == 0)
		return CAMP_SRC_EMAIL;
	if (strcmp(ch, "sms") == 0 || strcmp(ch, "messenger") == 0 || strcmp(ch, "call") == 0)
		return CAMP_SRC_PHONE;
	if (strcmp(ch, "social") == 0)
		return CAMP_SRC_VK;
	if (strcmp(ch, "post") == 0)
		return CAMP_SRC_POST;
	return CAMP_SRC_NONE;
}

/*
 * CampFieldText
 *		The text of key k of an object element, as jsonb ->> gives it, or NULL
 *		(no such key, a JSON null, or an element that is not an object).
 */
static char *
CampFieldText(JsonbValue *elem, const char *k)
{
	JsonbValue	key;
	JsonbValue *v;

	if (elem->type != jbvBinary || !JsonContainerIsObject(elem->val.binary.data))
		return NULL;
	key.type = jbvString;
	key.val.string.val = (char *) k;
	key.val.string.len = strlen(k);
	v = findJsonbValueFromContainer(elem->val.binary.data, JB_FOBJECT, &key);
	return CdpJsonbCString(v);
}

/*
 * CampKey
 *		cdp.consent_address_key(v): E.164 phone, canonical e-mail lower-cased, else the
 *		value trimmed of spaces and lower-cased (the database's collation).
 */
static char *
CampKey(const char *v)
{
	int			len = strlen(v);
	CdpPhone	ph;
	char	   *canon;
	const char *s = v;
	int			n = len;

	if (CdpPhoneParse(v, len, &ph, NULL))
		return psprintf("+" INT64_FORMAT, ph.e164);
	if (CdpEmailParse(v, len, &canon, NULL))
	{
		/* as cdp.email prints it, the whole address lower-cased (doc/consent.md) */
		char	   *disp = CdpEmailDisplay(canon, strlen(canon));

		return str_tolower(disp, strlen(disp), DEFAULT_COLLATION_OID);
	}
	/* btrim(v): spaces only */
	while (n > 0 && *s == ' ')
	{
		s++;
		n--;
	}
	while (n > 0 && s[n - 1] == ' ')
		n--;
	return str_tolower(s, n, DEFAULT_COLLATION_OID);
}

/*
 * CampIsMobile
 *		cdp.phone_kind(cdp.try_phone(key)) = 'mobile'.
 */
static bool
CampIsMobile(const char *key)
{
	CdpPhone	ph;

	return CdpPhoneParse(key, strlen(key), &ph, NULL) && CdpPhoneGetKind(&ph) == CDP_PHONE_KIND_MOBILE;
}

/*
 * CampKeysOfArray
 *		Keys (and mobile flags) of the "value" of each element of a jsonb array
 *		in order, skipping elements without one; vk_only keeps the elements
 *		whose "network" is "vk"; the mobile flag is computed for phones only.  A NULL array has none; a value that is not an
 *		array is refused as jsonb_array_elements refuses it.
 */
static void
CampKeysOfArray(Jsonb *arr, bool vk_only, bool phones, const char *what, CampKeys *out)
{
	int			n;
	int			i;

	out->done = true;
	out->n = 0;
	if (arr == NULL)
		return;
	if (!JB_ROOT_IS_ARRAY(arr) || JB_ROOT_IS_SCALAR(arr))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot extract elements from a jsonb value that is not an array"),
				 errdetail("The profile's %s are not a JSON array.", what),
				 errhint("A profile's emails, phones and handles are arrays of {\"value\": ...} objects.")));
	n = JB_ROOT_COUNT(arr);
	if (n > CAMP_MAX_ADDRESSES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many addresses in a profile"),
				 errdetail("The profile's %s hold %d elements; at most %d are read.", what, n, CAMP_MAX_ADDRESSES),
				 errhint("Clean the profile's contacts up.")));
	out->key = palloc(sizeof(char *) * Max(n, 1));
	out->mobile = palloc(sizeof(bool) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		JsonbValue *elem = getIthJsonbValueFromContainer(&arr->root, i);
		char	   *v;

		if (elem == NULL)
			continue;
		if (vk_only)
		{
			char	   *net = CampFieldText(elem, "network");

			if (net == NULL || strcmp(net, "vk") != 0)
				continue;
		}
		v = CampFieldText(elem, "value");
		if (v == NULL)
			continue;
		out->key[out->n] = CampKey(v);
		out->mobile[out->n] = !phones || CampIsMobile(out->key[out->n]);
		out->n++;
	}
}

/*
 * CampTexts
 *		The non-NULL elements of a text[] as C strings; at most
 *		CAMP_MAX_CHANNELS (more is refused).
 */
static int
CampTexts(ArrayType *a, const char *what, char **out)
{
	Datum	   *d;
	bool	   *nulls;
	int			n;
	int			i;
	int			k = 0;

	if (ARR_NDIM(a) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", what)));
	deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &d, &nulls, &n);
	if (n > CAMP_MAX_CHANNELS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many channels"),
				 errdetail("%s holds %d channels; at most %d are accepted.", what, n, CAMP_MAX_CHANNELS),
				 errhint("A campaign lists each channel at most once.")));
	for (i = 0; i < n; i++)
		if (!nulls[i])
			out[k++] = TextDatumGetCString(d[i]);
	return k;
}

PG_FUNCTION_INFO_V1(cdp_campaign_contacts);

/*
 * cdp_campaign_contacts
 *		campaign_contacts(chans text[], okch text[], pref text, emails jsonb,
 *		phones jsonb, handles jsonb, address text) RETURNS text[]: see the
 *		file header.  NULL chans or okch: no candidate (NULL).
 */
Datum
cdp_campaign_contacts(PG_FUNCTION_ARGS)
{
	char	   *chans[CAMP_MAX_CHANNELS];
	char	   *okch[CAMP_MAX_CHANNELS];
	char	   *order[CAMP_MAX_CHANNELS];
	int			nch;
	int			nok;
	int			nord = 0;
	char	   *pref;
	Jsonb	   *src_arr[CAMP_NSOURCES];
	CampKeys	keys[CAMP_NSOURCES];
	Datum	   *outd;
	int			nout = 0;
	int			cap = 16;
	bool		any = false;
	int			pass;
	int			i;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	nch = CampTexts(PG_GETARG_ARRAYTYPE_P(0), "the campaign's channels", chans);
	nok = CampTexts(PG_GETARG_ARRAYTYPE_P(1), "the consented channels", okch);
	pref = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	src_arr[CAMP_SRC_EMAIL] = PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3);
	src_arr[CAMP_SRC_PHONE] = PG_ARGISNULL(4) ? NULL : PG_GETARG_JSONB_P(4);
	src_arr[CAMP_SRC_VK] = PG_ARGISNULL(5) ? NULL : PG_GETARG_JSONB_P(5);
	src_arr[CAMP_SRC_POST] = NULL;
	memset(keys, 0, sizeof(keys));

	/* the order: channels equal to the preference first, then the others, each in the campaign's order */
	for (pass = 0; pass < 2; pass++)
		for (i = 0; i < nch; i++)
		{
			bool		is_pref = pref != NULL && strcmp(chans[i], pref) == 0;
			int			j;

			if (is_pref != (pass == 0))
				continue;
			for (j = 0; j < nok; j++)
				if (strcmp(chans[i], okch[j]) == 0)
					break;
			if (j < nok)
				order[nord++] = chans[i];
		}

	outd = palloc(sizeof(Datum) * cap);
	for (i = 0; i < nord; i++)
	{
		CampSource	src = CampSourceOf(order[i]);
		bool		need_mobile = strcmp(order[i], "sms") == 0 || strcmp(order[i], "messenger") == 0;
		CampKeys   *k;
		int			j;

		if (src == CAMP_SRC_NONE)
			continue;
		k = &keys[src];
		if (!k->done)
		{
			if (src == CAMP_SRC_POST)
			{
				k->done = true;
				k->n = 0;
				if (!PG_ARGISNULL(6))
				{
					k->key = palloc(sizeof(char *));
					k->mobile = palloc(sizeof(bool));
					k->key[0] = CampKey(text_to_cstring(PG_GETARG_TEXT_PP(6)));
					k->mobile[0] = true;	/* not a phone source: never filtered */
					k->n = 1;
				}
			}
			else
				CampKeysOfArray(src_arr[src], src == CAMP_SRC_VK, src == CAMP_SRC_PHONE,
								src == CAMP_SRC_EMAIL ? "emails" : src == CAMP_SRC_PHONE ? "phones" : "handles", k);
		}
		for (j = 0; j < k->n; j++)
		{
			any = true;
			if (need_mobile && !k->mobile[j])
				continue;
			if (nout + 2 > cap)
			{
				cap *= 2;
				outd = repalloc(outd, sizeof(Datum) * cap);
			}
			outd[nout++] = CStringGetTextDatum(order[i]);
			outd[nout++] = CStringGetTextDatum(k->key[j]);
		}
	}
	if (!any)
		PG_RETURN_NULL();
	PG_RETURN_ARRAYTYPE_P(construct_array(outd, nout, TEXTOID, -1, false, TYPALIGN_INT));
}
