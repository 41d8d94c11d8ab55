/*-------------------------------------------------------------------------
 *
 * src/acc_redact.c
 *		The setting cdp.redact_values (issue 15, item 8): personal values out
 *		of cdp's error messages.
 *
 * A SNILS with a wrong check digit used to be reported with its digits and
 * the expected check number, so the real number could be rebuilt from the
 * server log; phones, e-mails and OMS numbers were echoed likewise.  With
 * the setting on, the types' errors (src/type_common.c, which every type
 * reports through) name the type, the value's length, the position of the
 * defect and its kind, and no character of the value.  The setting is
 * PGC_SUSET: the DBA decides it for the cluster (postgresql.conf) or a
 * database (ALTER DATABASE ... SET), and a session cannot turn it off to
 * read values it did not send itself.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/guc.h"

#include "acc.h"

bool		CdpRedactValues = false;

/*
 * AccInit
 *		Registers cdp.redact_values.  Called once per backend from _PG_init.
 */
void
AccInit(void)
{
	DefineCustomBoolVariable("cdp.redact_values",
							 "Keeps personal values out of cdp's error messages.",
							 "When on, an invalid phone, e-mail, SNILS or OMS number is reported by its "
							 "length, the position and the kind of its defect, never by its characters.",
							 &CdpRedactValues,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
}
