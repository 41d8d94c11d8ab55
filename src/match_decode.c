/*-------------------------------------------------------------------------
 *
 * src/match_decode.c
 *		The packed matching program read back: MatchDecodeProgram unpacks the
 *		float8 slots that MatchCompileProgram (src/match_compile.c) writes
 *		into a MatchProg, every slot checked against its range, for the walk
 *		(src/match_walk.c) and the scorers.  Moved out of match_walk.c in
 *		session 30 (one concern per file); no behaviour change.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "cdp.h"
#include "cmp.h"
#include "match.h"

/*
 * ProgInt
 *		Reads an integer slot of the packed program, checked against a range.
 */
static int
ProgInt(const float8 *p, int n, int i, int lo, int hi)
{
	int			v;

	if (i >= n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("matching program is too short"),
				 errdetail("Slot %d was read from a program of %d slots.", i, n)));
	/* compared as a double first: casting NaN or a huge value to int is undefined */
	if (!(p[i] > lo - 1.0 && p[i] < hi + 1.0) || (int) p[i] < lo || (int) p[i] > hi)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("matching program slot %d is out of range", i),
				 errdetail("The value %g is not between %d and %d.", p[i], lo, hi)));
	v = (int) p[i];
	return v;
}

/*
 * MatchDecodeProgram
 *		Unpacks the n slots of the program that MatchCompileProgram
 *		(match_compile.c, SQL _match_program) packs, laid out as match.h
 *		describes (MATCH_PROG_HEADER, MATCH_PROG_STRIDE), checking every
 *		slot it reads.
 */
void
MatchDecodeProgram(const float8 *p, int n, MatchProg *prog)
{
	int			c,
				l,
				pos,
				i;

	memset(prog, 0, sizeof(MatchProg));
	prog->ncomp = ProgInt(p, n, 0, 0, MATCH_MAX_COMP);
	prog->nfeat = ProgInt(p, n, 1, 0, MATCH_MAX_FEAT);
	prog->nrules = ProgInt(p, n, 2, 0, MATCH_MAX_RULES);
	if (n < MATCH_PROG_HEADER)
		(void) ProgInt(p, n, MATCH_PROG_HEADER - 1, 0, 0);
	prog->prior = p[3];
	prog->nidmatch = ProgInt(p, n, 4, 0, MATCH_MAX_COMP);
	prog->nidnever = ProgInt(p, n, 5, 0, MATCH_MAX_COMP);
	prog->ndisagree = ProgInt(p, n, 6, 0, MATCH_MAX_COMP);
	pos = MATCH_PROG_HEADER;
	for (c = 0; c < prog->ncomp; c++, pos += MATCH_PROG_STRIDE)
	{
		prog->fidx[c] = ProgInt(p, n, pos, 0, prog->nfeat - 1);
		prog->nlev[c] = ProgInt(p, n, pos + 1, 1, MATCH_MAX_LEVELS);
		i = ProgInt(p, n, pos + 2, 0, MATCH_PROGF_ALL);
		prog->tf[c] = (i & MATCH_PROGF_TF) != 0;
		prog->evid[c] = i & MATCH_PROGF_EVID_ALL;
		if (i & MATCH_PROGF_FLOOR)
			prog->floor = true;
		if (i & MATCH_PROGF_RARE_NAME)
			prog->rare_name = true;
		prog->haskey[c] = (i & MATCH_PROGF_NAME) != 0 && prog->fidx[c] + 1 < prog->nfeat;
		(void) ProgInt(p, n, pos + MATCH_PROG_STRIDE - 1, -1000000, 1000000);
		prog->u0[c] = p[pos + 3];
		for (l = 0; l < prog->nlev[c]; l++)
		{
			prog->op[c][l] = ProgInt(p, n, pos + 4 + l, 1, MATCH_OP_MAX);
			prog->arg[c][l] = p[pos + 4 + MATCH_MAX_LEVELS + l];
			if ((prog->op[c][l] == MATCH_OP_SWAPPED || prog->op[c][l] == MATCH_OP_CROSS) &&
				(prog->arg[c][l] < 0 || (int) prog->arg[c][l] + 1 >= prog->nfeat ||
				 prog->fidx[c] + 1 >= prog->nfeat))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("matching program comparison %d has a swapped level without key columns", c)));
			if (prog->op[c][l] == MATCH_OP_KEY && prog->fidx[c] + 1 >= prog->nfeat)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("matching program comparison %d has a key level but no key column", c)));
		}
		for (l = 0; l <= prog->nlev[c]; l++)
			prog->w[c][l] = p[pos + 4 + 2 * MATCH_MAX_LEVELS + l];
	}
	for (i = 0; i < prog->nidmatch; i++)
		prog->idmatch[i] = ProgInt(p, n, pos++, 0, prog->ncomp - 1);
	for (i = 0; i < prog->nidnever; i++)
		prog->idnever[i] = ProgInt(p, n, pos++, 0, prog->ncomp - 1);
	for (i = 0; i < prog->ndisagree; i++)
		prog->disagree[i] = ProgInt(p, n, pos++, 0, prog->ncomp - 1);
	MatchOrderProgram(prog);
}
