/*-------------------------------------------------------------------------
 *
 * src/cmp_date.c
 *		Graded comparison of two dates (birth dates): which typing or
 *		recording error could turn one into the other.
 *
 * Levels, strongest first; the first that holds is returned:
 *		exact				the same date
 *		day_month_swapped	same year, day and month exchanged (DD.MM vs MM.DD)
 *		one_digit			one digit differs in YYYYMMDD (years 1..9999)
 *		year_off_by_one		same month and day, years one apart (1989/1990,
 *							a wrong age-to-year conversion)
 *		same_year_month		same year and month
 *		same_year			same year
 *		different			anything else, or an infinite date unlike the other
 * Scores for cdp.date_similarity are in LevelScore below; they order the
 * levels for people, the matching layer learns its own weight per level.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "datatype/timestamp.h"

#include "cmp_int.h"

PG_FUNCTION_INFO_V1(cdp_date_level);
PG_FUNCTION_INFO_V1(cdp_date_similarity);

static const char *const LevelName[CDP_DATE_NLEVELS] = {
	"exact", "day_month_swapped", "one_digit", "year_off_by_one",
	"same_year_month", "same_year", "different"
};

static const double LevelScore[CDP_DATE_NLEVELS] = {
	1.0, 0.9, 0.85, 0.7, 0.5, 0.3, 0.0
};

/*
 * DigitsDiffer
 *		Number of decimal positions (of width digits) in which x and y differ.
 */
static int
DigitsDiffer(int x, int y, int width)
{
	int			n = 0;

	for (int i = 0; i < width; i++)
	{
		n += (x % 10) != (y % 10);
		x /= 10;
		y /= 10;
	}
	return n;
}

/*
 * CdpDateLevel
 *		CDP_DATE_* level of two DateADT values.
 */
int
CdpDateLevel(int32 a, int32 b)
{
	int			ya,
				ma,
				da,
				yb,
				mb,
				db;

	if (a == b)
		return CDP_DATE_EXACT;
	if (DATE_NOT_FINITE(a) || DATE_NOT_FINITE(b))
		return CDP_DATE_DIFFERENT;

	j2date(a + POSTGRES_EPOCH_JDATE, &ya, &ma, &da);
	j2date(b + POSTGRES_EPOCH_JDATE, &yb, &mb, &db);

	if (CdpDateDayMonthSwapped(ya, ma, da, yb, mb, db))
		return CDP_DATE_DAY_MONTH_SWAPPED;
	if (ya >= 1 && ya <= 9999 && yb >= 1 && yb <= 9999 &&
		DigitsDiffer(ya, yb, 4) + DigitsDiffer(ma, mb, 2) +
		DigitsDiffer(da, db, 2) == 1)
		return CDP_DATE_ONE_DIGIT;
	if (ma == mb && da == db && Abs(ya - yb) == 1)
		return CDP_DATE_YEAR_OFF_BY_ONE;
	if (ya == yb && ma == mb)
		return CDP_DATE_SAME_YEAR_MONTH;
	if (ya == yb)
		return CDP_DATE_SAME_YEAR;
	return CDP_DATE_DIFFERENT;
}

/*
 * CdpDateLevelName
 *		SQL-visible name of a CDP_DATE_* level.
 */
const char *
CdpDateLevelName(int level)
{
	if (level < 0 || level >= CDP_DATE_NLEVELS)
		elog(ERROR, "invalid date comparison level %d", level);
	return LevelName[level];
}

/*
 * CdpDateLevelScore
 *		Similarity in [0, 1] of a CDP_DATE_* level.
 */
double
CdpDateLevelScore(int level)
{
	if (level < 0 || level >= CDP_DATE_NLEVELS)
		elog(ERROR, "invalid date comparison level %d", level);
	return LevelScore[level];
}

/*
 * cdp_date_level
 *		SQL cdp.date_level(a date, b date) RETURNS text.
 */
Datum
cdp_date_level(PG_FUNCTION_ARGS)
{
	int			level = CdpDateLevel(PG_GETARG_DATEADT(0), PG_GETARG_DATEADT(1));

	PG_RETURN_TEXT_P(cstring_to_text(CdpDateLevelName(level)));
}

/*
 * cdp_date_similarity
 *		SQL cdp.date_similarity(a date, b date) RETURNS float8.
 */
Datum
cdp_date_similarity(PG_FUNCTION_ARGS)
{
	int			level = CdpDateLevel(PG_GETARG_DATEADT(0), PG_GETARG_DATEADT(1));

	PG_RETURN_FLOAT8(CdpDateLevelScore(level));
}
