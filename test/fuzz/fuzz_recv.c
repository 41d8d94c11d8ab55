/*-------------------------------------------------------------------------
 *
 * test/fuzz/fuzz_recv.c
 *		libFuzzer target: the binary receive functions of the identifier
 *		types (cdp.phone, cdp.email, cdp.snils, cdp.oms), called through
 *		fmgr exactly as COPY BINARY and the binary protocol call them, on the
 *		input bytes; then send and receive again.
 *
 * A client controls these bytes, so recv must be as strict as the text
 * input (doc/types.md, STYLE.md).  Oracles:
 *   - recv either returns a value or raises a user error (22P02, 22P03,
 *     22023, 22021 or 08P01 for too few bytes);
 *   - send of a received value, received again, gives the same value, and
 *     sending that gives the same bytes (dump and restore in binary);
 *   - the text output of a received value is accepted by the text parser
 *     as the same value.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"

#include "types.h"

#include "fuzz_common.h"

extern Datum cdp_phone_recv(PG_FUNCTION_ARGS);
extern Datum cdp_phone_send(PG_FUNCTION_ARGS);
extern Datum cdp_email_recv(PG_FUNCTION_ARGS);
extern Datum cdp_email_send(PG_FUNCTION_ARGS);
extern Datum cdp_snils_recv(PG_FUNCTION_ARGS);
extern Datum cdp_snils_send(PG_FUNCTION_ARGS);
extern Datum cdp_oms_recv(PG_FUNCTION_ARGS);
extern Datum cdp_oms_send(PG_FUNCTION_ARGS);

/* one type's binary I/O */
typedef struct RecvType
{
	const char *name;
	PGFunction	recv;
	PGFunction	send;
	bool		byval;			/* int8 by value, else a pointer */
	int			fixlen;			/* bytes of a fixed-size value, -1: varlena */
} RecvType;

static const RecvType types[] = {
	{"cdp.phone", cdp_phone_recv, cdp_phone_send, false, sizeof(CdpPhone)},
	{"cdp.email", cdp_email_recv, cdp_email_send, false, -1},
	{"cdp.snils", cdp_snils_recv, cdp_snils_send, true, 8},
	{"cdp.oms", cdp_oms_recv, cdp_oms_send, true, 8},
};

/*
 * CallRecv
 *		recv(buf, typioparam 0, typmod -1), as ReceiveFunctionCall does.
 */
static Datum
CallRecv(PGFunction fn, StringInfo buf)
{
	LOCAL_FCINFO(fcinfo, 3);

	InitFunctionCallInfoData(*fcinfo, NULL, 3, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = PointerGetDatum(buf);
	fcinfo->args[0].isnull = false;
	fcinfo->args[1].value = ObjectIdGetDatum(InvalidOid);
	fcinfo->args[1].isnull = false;
	fcinfo->args[2].value = Int32GetDatum(-1);
	fcinfo->args[2].isnull = false;
	return fn(fcinfo);
}

/*
 * CallSend
 *		send(value) as a bytea.
 */
static bytea *
CallSend(PGFunction fn, Datum v)
{
	LOCAL_FCINFO(fcinfo, 1);

	InitFunctionCallInfoData(*fcinfo, NULL, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = v;
	fcinfo->args[0].isnull = false;
	return (bytea *) DatumGetPointer(fn(fcinfo));
}

/*
 * SameValue
 *		Are two received values of a type equal (bytes of the value)?
 */
static bool
SameValue(const RecvType *t, Datum a, Datum b)
{
	if (t->byval)
		return DatumGetInt64(a) == DatumGetInt64(b);
	if (t->fixlen > 0)
		return memcmp(DatumGetPointer(a), DatumGetPointer(b), t->fixlen) == 0;
	return VARSIZE_ANY(DatumGetPointer(a)) == VARSIZE_ANY(DatumGetPointer(b)) &&
		memcmp(DatumGetPointer(a), DatumGetPointer(b), VARSIZE_ANY(DatumGetPointer(a))) == 0;
}

/*
 * CheckTextForm
 *		The canonical text of a received value reads back as that value.
 */
static void
CheckTextForm(const RecvType *t, Datum v)
{
	CdpTypeError err = {0, NULL};
	char	   *s;

	if (t->recv == cdp_phone_recv)
	{
		CdpPhone	p;

		s = CdpPhoneToCString((CdpPhone *) DatumGetPointer(v));
		if (!CdpPhoneParse(s, (int) strlen(s), &p, &err) ||
			memcmp(&p, DatumGetPointer(v), sizeof(p)) != 0)
			FuzzFail("%s: received value prints as \"%s\", which does not read back", t->name, s);
	}
	else if (t->recv == cdp_email_recv)
	{
		text	   *e = (text *) DatumGetPointer(v);
		char	   *out = NULL;

		if (!CdpEmailParse(VARDATA_ANY(e), VARSIZE_ANY_EXHDR(e), &out, &err) ||
			strlen(out) != VARSIZE_ANY_EXHDR(e) ||
			memcmp(out, VARDATA_ANY(e), VARSIZE_ANY_EXHDR(e)) != 0)
			FuzzFail("%s: received value is not canonical", t->name);
	}
	else
	{
		int64		x = -1;
		bool		snils = (t->recv == cdp_snils_recv);

		s = snils ? CdpSnilsToCString(DatumGetInt64(v)) : CdpOmsToCString(DatumGetInt64(v));
		if (!(snils ? CdpSnilsParse(s, (int) strlen(s), &x, &err) :
			  CdpOmsParse(s, (int) strlen(s), &x, &err)) || x != DatumGetInt64(v))
			FuzzFail("%s: received value prints as \"%s\", which does not read back", t->name, s);
	}
}

/*
 * FuzzRecv
 *		One type's recv on the bytes, then the binary and text round trips.
 */
static void
FuzzRecv(const RecvType *t, const uint8_t *data, size_t size)
{
	FUZZ_TRY(
	{
		StringInfoData buf;
		Datum		v,
					v2;
		bytea	   *b1,
				   *b2;

		buf.data = palloc(size + 1);
		memcpy(buf.data, data, size);
		buf.data[size] = '\0';	/* as the backend's message buffers are */
		buf.len = (int) size;
		buf.maxlen = (int) size + 1;
		buf.cursor = 0;
		v = CallRecv(t->recv, &buf);
		if (buf.cursor > buf.len)
			FuzzFail("%s_recv read past the message", t->name);
		b1 = CallSend(t->send, v);
		buf.data = VARDATA(b1);
		buf.len = VARSIZE(b1) - VARHDRSZ;
		buf.maxlen = buf.len;
		buf.cursor = 0;
		v2 = CallRecv(t->recv, &buf);
		if (buf.cursor != buf.len)
			FuzzFail("%s_recv left %d of the %d bytes send wrote", t->name,
					 buf.len - buf.cursor, buf.len);
		if (!SameValue(t, v, v2))
			FuzzFail("%s: send then recv changed the value", t->name);
		b2 = CallSend(t->send, v2);
		if (VARSIZE(b1) != VARSIZE(b2) || memcmp(b1, b2, VARSIZE(b1)) != 0)
			FuzzFail("%s: send is not stable over a binary round trip", t->name);
		CheckTextForm(t, v);
	});
	switch (FuzzLastSqlstate)
	{
		case 0:
		case ERRCODE_INVALID_TEXT_REPRESENTATION:
		case ERRCODE_INVALID_BINARY_REPRESENTATION:
		case ERRCODE_INVALID_PARAMETER_VALUE:
		case ERRCODE_CHARACTER_NOT_IN_REPERTOIRE:
		case ERRCODE_PROTOCOL_VIOLATION:
			break;
		default:
			FuzzFail("%s_recv raised %s: %s", t->name, FuzzSqlstateText(FuzzLastSqlstate),
					 FuzzLastMessage);
	}
}

/*
 * LLVMFuzzerTestOneInput
 *		The input as the binary value of each type in turn.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return -1;
	FuzzInputBegin();
	FuzzExpectValidMessages(FuzzUtf8Valid((const char *) data, (int) size));
	for (int i = 0; i < lengthof(types); i++)
		FuzzRecv(&types[i], data, size);
	FuzzInputEnd();
	return 0;
}
