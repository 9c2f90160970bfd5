/*
 * calendar_time.c — business_time_add and business_time_between.
 *
 * The walk moves over segments of constant openness: from an instant t the
 * calendar stays open (or closed) until the next local interval boundary or
 * local midnight, computed with the UTC offset in force at t, or until the
 * zone's next offset change, whichever comes first. At each segment end the
 * offset is looked up again. So a local hour skipped by a DST change is
 * never open and a repeated one is open twice, exactly as the instants fall,
 * with microsecond precision and no local-to-UTC guessing. The walk is
 * bounded by HD_CAL_MAX_WALK_US of calendar time; a calendar always has some
 * open time each week and at most HD_CAL_MAX_HOLIDAYS closed dates, so an
 * add within the amount limit always ends well inside the bound.
 */
#include "calendar.h"

#include "utils/datetime.h"

/* seconds between the Unix epoch and PostgreSQL's (2000-01-01) */
#define PG_UNIX_EPOCH_DIFF	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY)

/* The UTC offset valid from lo until hi (exclusive), remembered across steps. */
typedef struct OffsetSpan
{
	bool		valid;
	TimestampTz lo;
	TimestampTz hi;				/* DT_NOEND when no later change is known */
	int64		gmtoff_us;
} OffsetSpan;

static int64
floor_div(int64 a, int64 b)
{
	int64		q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static void
offset_at(const HdCalendar *cal, TimestampTz t, OffsetSpan *span)
{
	pg_time_t	ts = (pg_time_t) (floor_div(t, USECS_PER_SEC) + PG_UNIX_EPOCH_DIFF);
	long		before_gmtoff,
				after_gmtoff;
	int			before_isdst,
				after_isdst;
	pg_time_t	boundary;
	int			r;

	if (span->valid && t >= span->lo && t < span->hi)
		return;
	r = pg_next_dst_boundary(&ts, &before_gmtoff, &before_isdst, &boundary,
							 &after_gmtoff, &after_isdst, cal->tz);
	if (r < 0)
		elog(ERROR, "pg_helpdesk: time zone lookup failed at %lld", (long long) ts);
	span->valid = true;
	span->lo = t;
	span->hi = (r == 1) ? ((int64) boundary - PG_UNIX_EPOCH_DIFF) * USECS_PER_SEC : DT_NOEND;
	span->gmtoff_us = (int64) before_gmtoff * USECS_PER_SEC;
}

static bool
is_holiday(const HdCalendar *cal, int32 day)
{
	int			lo = 0,
				hi = cal->nholidays - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;

		if (cal->holidays[mid] == day)
			return true;
		if (cal->holidays[mid] < day)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return false;
}

/*
 * Whether the calendar is open at t, and in *end the first instant after t
 * where that may change (always > t).
 */
static bool
segment(const HdCalendar *cal, TimestampTz t, OffsetSpan *span, TimestampTz *end)
{
	int64		local,
				day,
				tod,
				next;
	bool		open = false;

	offset_at(cal, t, span);
	local = t + span->gmtoff_us;
	day = floor_div(local, USECS_PER_DAY);
	tod = local - day * USECS_PER_DAY;
	next = USECS_PER_DAY;
	if (!is_holiday(cal, (int32) day))
	{
		int			wd = j2day((int) (day + POSTGRES_EPOCH_JDATE));
		int			i;

		for (i = 0; i < cal->nint[wd]; i++)
		{
			int64		s = (int64) cal->iv[wd][i].start * USECS_PER_SEC;
			int64		e = (int64) cal->iv[wd][i].end * USECS_PER_SEC;

			if (tod < s)
			{
				next = s;
				break;
			}
			if (tod < e)
			{
				open = true;
				next = e;
				break;
			}
		}
	}
	*end = t + (next - tod);
	if (span->hi < *end)
		*end = span->hi;
	return open;
}

static void
walk_too_far(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
			 errmsg("business time reaches more than 100 years of calendar time")));
}

/* The instant when amount microseconds of open time have passed since from. */
TimestampTz
hd_cal_add(const HdCalendar *cal, TimestampTz from, int64 amount)
{
	OffsetSpan	span = {false, 0, 0, 0};
	TimestampTz t = from;
	TimestampTz limit = from + HD_CAL_MAX_WALK_US;

	if (cal->always_open)
		t = from + amount;
	while (!cal->always_open)
	{
		TimestampTz end;

		if (segment(cal, t, &span, &end))
		{
			if (amount <= end - t)
			{
				t += amount;
				break;
			}
			amount -= end - t;
		}
		t = end;
		if (t > limit)
			walk_too_far();
	}
	if (!IS_VALID_TIMESTAMP(t))
		walk_too_far();
	return t;
}

/* Open time in [a, b) in microseconds (0 when b <= a). */
int64
hd_cal_between(const HdCalendar *cal, TimestampTz a, TimestampTz b)
{
	OffsetSpan	span = {false, 0, 0, 0};
	TimestampTz t = a;
	int64		sum = 0;

	if (b <= a)
		return 0;
	if (b - a > HD_CAL_MAX_WALK_US)
		walk_too_far();
	if (cal->always_open)
		return b - a;
	while (t < b)
	{
		TimestampTz end;
		bool		open = segment(cal, t, &span, &end);

		if (end > b)
			end = b;
		if (open)
			sum += end - t;
		t = end;
	}
	return sum;
}
