/*
 * calendar_api.c — the SQL functions on calendars: upsert_calendar,
 * business_time_add, business_time_between.
 */
#include "calendar.h"

#include "utils/builtins.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(hd_upsert_calendar);
PG_FUNCTION_INFO_V1(hd_business_time_add);
PG_FUNCTION_INFO_V1(hd_business_time_between);

/* the longest amount business_time_add takes: 10 years of open time */
#define MAX_AMOUNT_US	(INT64CONST(3660) * USECS_PER_DAY)

static HdPlan upsert_plan = {
	"INSERT INTO helpdesk.calendar AS c (tenant_id, external_id, name, time_zone, hours, holidays) "
	"VALUES ($1, $2, $3, $4, $5, $6) "
	"ON CONFLICT (tenant_id, external_id) DO UPDATE SET name = EXCLUDED.name, "
	"time_zone = EXCLUDED.time_zone, hours = EXCLUDED.hours, holidays = EXCLUDED.holidays, "
	"updated_at = pg_catalog.now() RETURNING c.id",
	6, {INT8OID, TEXTOID, TEXTOID, TEXTOID, JSONBOID, JSONBOID}
};

/* Observers of calendar edits (SLA due times); sla_*.c registers one. */
static hd_calendar_edit_fn edit_observer = NULL;

void
hd_calendar_register_edit_observer(hd_calendar_edit_fn fn)
{
	edit_observer = fn;
}

/*
 * upsert_calendar(tenant_id, external_id, name, time_zone, hours, holidays)
 * → id. Everything is checked by compiling it, the way it will be used.
 */
Datum
hd_upsert_calendar(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "external_id", "name", "time_zone",
	"hours", "holidays"};
	int64		tenant_id;
	char	   *external_id,
			   *name,
			   *zone;
	Jsonb	   *hours,
			   *holidays;
	HdCalendar	cal;
	Datum		v[6];
	int64		id = 0;

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 6, names);
	tenant_id = PG_GETARG_INT64(0);
	external_id = text_to_cstring(PG_GETARG_TEXT_PP(1));
	name = text_to_cstring(PG_GETARG_TEXT_PP(2));
	zone = text_to_cstring(PG_GETARG_TEXT_PP(3));
	hours = PG_GETARG_JSONB_P(4);
	holidays = PG_GETARG_JSONB_P(5);
	hd_check_length("external_id", external_id, 1, 200);
	hd_check_length("name", name, 1, 200);
	hd_check_json_limits("hours", hours);
	hd_check_json_limits("holidays", holidays);
	memset(&cal, 0, sizeof(cal));
	cal.tz = hd_calendar_zone(zone);
	hd_calendar_parse_hours(hours, &cal);
	hd_calendar_parse_holidays(holidays, &cal, CurrentMemoryContext);

	SPI_connect();
	hd_require_tenant(tenant_id);
	v[0] = Int64GetDatum(tenant_id);
	v[1] = CStringGetTextDatum(external_id);
	v[2] = CStringGetTextDatum(name);
	v[3] = CStringGetTextDatum(pg_get_timezone_name(cal.tz));
	v[4] = JsonbPGetDatum(hours);
	v[5] = JsonbPGetDatum(holidays);
	hd_exec(&upsert_plan, v, NULL, false, 1);
	hd_get_int64(1, &id);
	hd_calendar_changed();
	if (edit_observer)
		edit_observer(tenant_id, id);
	SPI_finish();
	PG_RETURN_INT64(id);
}

static void
require_finite(const char *what, TimestampTz t)
{
	if (TIMESTAMP_NOT_FINITE(t))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite timestamp", what)));
}

/* business_time_add(tenant_id, calendar_id, from, amount) → timestamptz */
Datum
hd_business_time_add(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "calendar_id", "from", "amount"};
	TimestampTz from,
				result;
	int64		amount;
	const HdCalendar *cal;

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 4, names);
	from = PG_GETARG_TIMESTAMPTZ(2);
	require_finite("from", from);
	amount = hd_interval_arg(fcinfo, 3, "amount", 0, MAX_AMOUNT_US, false, NULL);
	SPI_connect();
	cal = hd_calendar_get(PG_GETARG_INT64(0), PG_GETARG_INT64(1));
	result = hd_cal_add(cal, from, amount);
	SPI_finish();
	PG_RETURN_TIMESTAMPTZ(result);
}

/* business_time_between(tenant_id, calendar_id, a, b) → interval (open time in [a, b)) */
Datum
hd_business_time_between(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "calendar_id", "a", "b"};
	TimestampTz a,
				b;
	const HdCalendar *cal;
	Interval   *result = palloc0(sizeof(Interval));

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 4, names);
	a = PG_GETARG_TIMESTAMPTZ(2);
	b = PG_GETARG_TIMESTAMPTZ(3);
	require_finite("a", a);
	require_finite("b", b);
	SPI_connect();
	cal = hd_calendar_get(PG_GETARG_INT64(0), PG_GETARG_INT64(1));
	result->time = hd_cal_between(cal, a, b);
	SPI_finish();
	PG_RETURN_INTERVAL_P(result);
}
