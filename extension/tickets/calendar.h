/*
 * calendar.h — business-hours calendars compiled for fast arithmetic.
 *
 * A calendar is open at an instant when the wall-clock time of that instant
 * in the calendar's zone falls in one of the weekday's opening intervals and
 * its local date is not a holiday. Everything is defined on instants, so DST
 * changes need no special case: a skipped local hour is never open, a
 * repeated one is open twice (calendar_time.c).
 */
#ifndef HD_CALENDAR_H
#define HD_CALENDAR_H

#include "hd.h"
#include "pgtime.h"

#define HD_CAL_MAX_PER_DAY		24		/* opening intervals per weekday */
#define HD_CAL_MAX_HOLIDAYS		1000
#define HD_CAL_MAX_TZ_BYTES		64
/* business_time_add/between never walk more than this much calendar time */
#define HD_CAL_MAX_WALK_US		(INT64CONST(36525) * USECS_PER_DAY)	/* 100 years */

typedef struct HdCalInterval
{
	int32		start;			/* seconds after local midnight, 0..86399 */
	int32		end;			/* start < end <= 86400 */
} HdCalInterval;

typedef struct HdCalendar
{
	int64		tenant_id;
	int64		id;
	bool		always_open;	/* "24/7": every instant is open */
	pg_tz	   *tz;
	int			nint[7];		/* per weekday, 0 = Sunday */
	HdCalInterval iv[7][HD_CAL_MAX_PER_DAY];	/* sorted, merged */
	int			nholidays;
	int32	   *holidays;		/* sorted, days since 2000-01-01 */
} HdCalendar;

/* calendar_parse.c: validation of upsert_calendar's input into a compiled form */
extern pg_tz *hd_calendar_zone(const char *name);
extern void hd_calendar_parse_hours(Jsonb *hours, HdCalendar *cal);
extern void hd_calendar_parse_holidays(Jsonb *holidays, HdCalendar *cal, MemoryContext cxt);

/* calendar_cache.c: the backend's compiled calendars */
extern void hd_calendar_shmem_init(void);
extern const HdCalendar *hd_calendar_get(int64 tenant_id, int64 calendar_id);
extern void hd_calendar_changed(void);

/* calendar_api.c: told after each calendar upsert (the SLA recomputes due times) */
typedef void (*hd_calendar_edit_fn) (int64 tenant_id, int64 calendar_id);
extern void hd_calendar_register_edit_observer(hd_calendar_edit_fn fn);

/* calendar_time.c: the arithmetic (amount, result in microseconds) */
extern TimestampTz hd_cal_add(const HdCalendar *cal, TimestampTz from, int64 amount);
extern int64 hd_cal_between(const HdCalendar *cal, TimestampTz a, TimestampTz b);

#endif							/* HD_CALENDAR_H */
