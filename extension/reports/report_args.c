/*
 * report_args.c — what the report functions check before they read, the
 * report settings (tenant time zone, queue thresholds) and rebuild_rollups.
 *
 * The reports themselves are SQL over the rollup tables (20_reports.sql);
 * every one calls helpdesk._report_check first, so the arguments are
 * checked in one place and the tenant check (hd_require_tenant) applies.
 */
#include "reports.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#define BUCKET_USECS	((int64) 15 * 60 * USECS_PER_SEC)
#define MAX_RANGE_USECS	((int64) 400 * USECS_PER_DAY)

/*
 * The rollups and reports serialise on this transaction-level advisory
 * lock (two-int form, class 0x68647270 'hdrp', 1), taken without a
 * snapshot (the worker takes it before its REPEATABLE READ snapshot exists): a worker step and a
 * rebuild recomputing the same bucket would otherwise both insert its rows.
 */
void
hd_rollup_lock(void)
{
	DirectFunctionCall2(pg_advisory_xact_lock_int4, Int32GetDatum(1751413360), Int32GetDatum(1));
}

static HdPlan tenant_zone = {
	"SELECT time_zone FROM helpdesk.tenant WHERE id = $1", 1, {INT8OID}
};

static void
check_range(TimestampTz from, TimestampTz to, bool aligned)
{
	if (TIMESTAMP_NOT_FINITE(from) || TIMESTAMP_NOT_FINITE(to))
		hd_invalid("from and to must be finite");
	if (to <= from)
		hd_invalid("to must be after from");
	if (to - from > MAX_RANGE_USECS)
		hd_invalid("a report or rebuild covers at most 400 days");
	if (aligned && (from % BUCKET_USECS != 0 || to % BUCKET_USECS != 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("from and to must be whole quarter hours"),
				 errhint("Rollups count in quarter hours (UTC); an hour or a day in any time zone in use is a whole number of them.")));
}

PG_FUNCTION_INFO_V1(hd_report_check);

/*
 * helpdesk._report_check(tenant_id, from, to, group_by, bucket, allowed):
 * checks a report's arguments and returns the tenant's time zone.
 */
Datum
hd_report_check(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "from", "to", "group_by", "bucket", "allowed"};
	static const char *const buckets[] = {"hour", "day", "total", NULL};
	int64		tenant_id;
	ArrayType  *group_by,
			   *allowed;
	Datum	   *g,
			   *a;
	bool	   *gn,
			   *an;
	int			ng,
				na,
				i,
				j;
	char	   *tz;
	Datum		v[1];

	hd_check_tenant_arg(fcinfo, 0);	/* before any other argument is judged */
	hd_require_args(fcinfo, 6, names);
	tenant_id = PG_GETARG_INT64(0);
	hd_check_enum("bucket", text_to_cstring(PG_GETARG_TEXT_PP(4)), buckets);
	check_range(PG_GETARG_TIMESTAMPTZ(1), PG_GETARG_TIMESTAMPTZ(2), true);
	group_by = PG_GETARG_ARRAYTYPE_P(3);
	allowed = PG_GETARG_ARRAYTYPE_P(5);
	if (ARR_NDIM(group_by) > 1)
		hd_invalid("group_by must be a one-dimensional array");
	deconstruct_array(group_by, TEXTOID, -1, false, TYPALIGN_INT, &g, &gn, &ng);
	deconstruct_array(allowed, TEXTOID, -1, false, TYPALIGN_INT, &a, &an, &na);
	for (i = 0; i < ng; i++)
	{
		char	   *d;
		bool		ok = false;

		if (gn[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("group_by must not contain NULL")));
		d = TextDatumGetCString(g[i]);
		for (j = 0; j < na && !ok; j++)
			ok = !an[j] && strcmp(d, TextDatumGetCString(a[j])) == 0;
		if (!ok)
		{
			StringInfoData list;

			initStringInfo(&list);
			for (j = 0; j < na; j++)
				appendStringInfo(&list, "%s%s", j ? ", " : "", TextDatumGetCString(a[j]));
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid group_by dimension %s", hd_quote(d)),
					 errhint("This report groups by: %s.", list.data)));
		}
		for (j = 0; j < i; j++)
			if (strcmp(d, TextDatumGetCString(g[j])) == 0)
				hd_invalid("group_by names %s twice", hd_quote(d));
	}

	SPI_connect();
	hd_require_tenant(tenant_id);
	v[0] = Int64GetDatum(tenant_id);
	hd_exec(&tenant_zone, v, NULL, true, 1);
	tz = SPI_processed == 1 ? hd_get_text(1) : NULL;
	tz = tz ? MemoryContextStrdup(TopTransactionContext, tz) : pstrdup("UTC");
	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text(tz));
}

static HdPlan rebuild = {
	"SELECT helpdesk._rollup_recompute($1, $2, $3), helpdesk._rollup_reseen($1, $2, $3)",
	3, {INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID}
};

static HdPlan rebuild_days = {
	"SELECT helpdesk._rollup_days($1, helpdesk._local_days($1, $2, $3))",
	3, {INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID}
};

static HdPlan read_horizon = {
	"SELECT horizon FROM helpdesk.rollup_horizon WHERE tenant_id = $1", 1, {INT8OID}
};

PG_FUNCTION_INFO_V1(hd_rebuild_rollups);

/*
 * helpdesk.rebuild_rollups(tenant_id, from, to): the range widened to whole
 * quarter hours, recomputed from the raw rows under the rollup lock.
 */
Datum
hd_rebuild_rollups(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "from", "to"};
	int64		tenant_id;
	TimestampTz from,
				to;
	Datum		v[3];

	hd_check_tenant_arg(fcinfo, 0);	/* before any other argument is judged */
	hd_require_args(fcinfo, 3, names);
	tenant_id = PG_GETARG_INT64(0);
	from = PG_GETARG_TIMESTAMPTZ(1);
	to = PG_GETARG_TIMESTAMPTZ(2);
	check_range(from, to, false);
	/* floor from, ceil to (timestamps may be negative) */
	from -= ((from % BUCKET_USECS) + BUCKET_USECS) % BUCKET_USECS;
	if (((to % BUCKET_USECS) + BUCKET_USECS) % BUCKET_USECS != 0)
		to += BUCKET_USECS - ((to % BUCKET_USECS) + BUCKET_USECS) % BUCKET_USECS;

	SPI_connect();
	hd_require_tenant(tenant_id);
	hd_rollup_lock();
	v[0] = Int64GetDatum(tenant_id);
	v[1] = TimestampTzGetDatum(from);
	v[2] = TimestampTzGetDatum(to);
	hd_exec(&read_horizon, v, NULL, false, 1);
	if (SPI_processed == 1)
	{
		bool		isnull;
		TimestampTz horizon = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
																 SPI_tuptable->tupdesc, 1, &isnull));

		if (from < horizon)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("rollups of tenant %lld before %s are kept and cannot be rebuilt",
							(long long) tenant_id, timestamptz_to_str(horizon)),
					 errdetail("Message retention pruned the raw rows they were computed from; the range starts at %s.",
							   timestamptz_to_str(from)),
					 errhint("Rebuild from %s on.", timestamptz_to_str(horizon))));
	}
	hd_exec(&rebuild, v, NULL, false, 0);
	hd_exec(&rebuild_days, v, NULL, false, 0);
	SPI_finish();
	PG_RETURN_INT64((to - from) / BUCKET_USECS);
}

/*
 * A zone is usable when its offset from UTC is a multiple of 15 minutes on
 * every day of this year and the next (so days and hours in it are whole
 * buckets); pg_timezone_names spells the names.
 */
static HdPlan zone_exists = {
	"SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_timezone_names WHERE name = $1)", 1, {TEXTOID}
};

static HdPlan zone_ok = {
	"SELECT (SELECT bool_and(EXTRACT(epoch FROM (d AT TIME ZONE $1) - (d AT TIME ZONE 'UTC'))::bigint % 900 = 0) "
	"        FROM pg_catalog.generate_series(pg_catalog.date_trunc('year', now()), "
	"             pg_catalog.date_trunc('year', now()) + interval '2 years', interval '1 day') d)",
	1, {TEXTOID}
};

static HdPlan set_zone = {
	"UPDATE helpdesk.tenant SET time_zone = $2, updated_at = now() WHERE id = $1 AND time_zone IS DISTINCT FROM $2",
	2, {INT8OID, TEXTOID}
};

/* the day tier counted days in the old zone: all of it again, from the quarter hours */
static HdPlan drop_days = {
	"WITH d1 AS (DELETE FROM helpdesk.rollup_session_day WHERE tenant_id = $1), "
	"d2 AS (DELETE FROM helpdesk.rollup_offer_day WHERE tenant_id = $1), "
	"d3 AS (DELETE FROM helpdesk.rollup_ticket_day WHERE tenant_id = $1), "
	"d4 AS (DELETE FROM helpdesk.rollup_occupancy_day WHERE tenant_id = $1), "
	"d5 AS (DELETE FROM helpdesk.rollup_agent_day WHERE tenant_id = $1), "
	"d6 AS (DELETE FROM helpdesk.rollup_sla_day WHERE tenant_id = $1), "
	"d7 AS (DELETE FROM helpdesk.rollup_agent_queue_day WHERE tenant_id = $1) "
	"DELETE FROM helpdesk.rollup_csat_day WHERE tenant_id = $1",
	1, {INT8OID}
};

static HdPlan redo_days = {
	"SELECT helpdesk._rollup_days($1, array_agg(DISTINCT (b.bucket AT TIME ZONE tn.time_zone)::date)) "
	"FROM helpdesk.tenant tn, (SELECT bucket FROM helpdesk.rollup_session WHERE tenant_id = $1 "
	"      UNION SELECT bucket FROM helpdesk.rollup_offer WHERE tenant_id = $1 "
	"      UNION SELECT bucket FROM helpdesk.rollup_ticket WHERE tenant_id = $1 "
	"      UNION SELECT bucket FROM helpdesk.rollup_csat WHERE tenant_id = $1 "
	"      UNION SELECT bucket FROM helpdesk.rollup_occupancy WHERE tenant_id = $1 "
	"      UNION SELECT bucket FROM helpdesk.rollup_sla WHERE tenant_id = $1) b "
	"WHERE tn.id = $1 HAVING count(*) > 0",
	1, {INT8OID}
};

PG_FUNCTION_INFO_V1(hd_set_report_settings);

Datum
hd_set_report_settings(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "time_zone"};
	char	   *tz;
	Datum		v[2];

	hd_require_args(fcinfo, 2, names);
	tz = text_to_cstring(PG_GETARG_TEXT_PP(1));
	hd_check_length("time_zone", tz, 1, 64);
	SPI_connect();
	hd_require_tenant(PG_GETARG_INT64(0));
	v[0] = PG_GETARG_DATUM(1);
	hd_exec(&zone_exists, v, NULL, true, 1);
	if (!hd_get_bool(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown time zone %s", hd_quote(tz)),
				 errhint("Use an IANA name from pg_timezone_names, such as Europe/Berlin or Asia/Kolkata.")));
	hd_exec(&zone_ok, v, NULL, true, 1);
	if (!hd_get_bool(1))
		hd_invalid("time zone %s is offset from UTC by other than whole quarter hours", hd_quote(tz));
	v[0] = PG_GETARG_DATUM(0);
	v[1] = PG_GETARG_DATUM(1);
	hd_rollup_lock();
	hd_exec(&set_zone, v, NULL, false, 0);
	if (SPI_processed > 0)
	{
		hd_exec(&drop_days, v, NULL, false, 0);
		hd_exec(&redo_days, v, NULL, false, 0);
	}
	SPI_finish();
	PG_RETURN_VOID();
}

static HdPlan set_queue = {
	"UPDATE helpdesk.queue SET short_abandon = coalesce($3, short_abandon), "
	"       service_level_threshold = coalesce($4, service_level_threshold), updated_at = now() "
	"WHERE tenant_id = $1 AND id = $2",
	4, {INT8OID, INT8OID, INTERVALOID, INTERVALOID}
};

PG_FUNCTION_INFO_V1(hd_set_queue_report_settings);

Datum
hd_set_queue_report_settings(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "queue_id"};
	Datum		v[4];
	char		n[5] = "    ";

	hd_require_args(fcinfo, 2, names);
	v[0] = PG_GETARG_DATUM(0);
	v[1] = PG_GETARG_DATUM(1);
	if (PG_ARGISNULL(2))
		n[2] = 'n';
	else
		hd_interval_arg(fcinfo, 2, "short_abandon", 0, (int64) 3600 * USECS_PER_SEC, true, &v[2]);
	if (PG_ARGISNULL(3))
		n[3] = 'n';
	else
		hd_interval_arg(fcinfo, 3, "service_level_threshold", USECS_PER_SEC, USECS_PER_DAY, false, &v[3]);
	SPI_connect();
	hd_require_tenant(PG_GETARG_INT64(0));
	hd_exec(&set_queue, v, n, false, 0);
	if (SPI_processed == 0)
		hd_not_found("queue", PG_GETARG_INT64(1), PG_GETARG_INT64(0));
	SPI_finish();
	PG_RETURN_VOID();
}
