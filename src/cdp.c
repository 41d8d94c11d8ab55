/*-------------------------------------------------------------------------
 *
 * src/cdp.c
 *		Module magic and _PG_init for the cdp extension.  Nothing else lives
 *		here: each concern registers itself through its own XxxInit().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "acc.h"
#include "cdp.h"
#include "golden.h"
#include "idx.h"
#include "imp.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/*
 * _PG_init
 *		Called once per backend when the library is loaded.
 */
void
_PG_init(void)
{
	CdpGucInit();
	IdxInit();
	AccInit();
	ImportInit();
	GoldenInit();
#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("cdp");
#endif
}

/*
 * CdpGucInit
 *		Registers settings that belong to no single family.  Families add
 *		their own GUCs in their own XxxInit().
 */
void
CdpGucInit(void)
{
}

PG_FUNCTION_INFO_V1(cdp_library_version);

/*
 * cdp_library_version
 *		Returns the version of the loaded shared library, so an admin can see
 *		whether the installed SQL objects and the .so agree after an upgrade.
 */
Datum
cdp_library_version(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(CDP_VERSION_STR));
}
