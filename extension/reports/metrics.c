/*
 * metrics.c — helpdesk.metrics(): the database's gauges and counters for
 * Prometheus, one row per series (metric, type, help, labels, value).
 *
 * The bridge's /metrics renders these rows in the text exposition format
 * (bridge/metrics.c, at most one call per scrape interval). Figures from
 * tables are read with one aggregate each under the caller's snapshot; the
 * workers' own counters (passes, restarts) come from shared memory and are
 * monotonic while the server runs (a restart resets them, which Prometheus
 * treats as a counter reset).
 */
#include "shmem.h"

#include "catalog/pg_type_d.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

/*
 * One family per statement: every statement returns (labels jsonb, value
 * float8), labels being an object of label name -> text.
 */
typedef struct Family
{
	const char *name;
	const char *type;
	const char *help;
	HdPlan		plan;
} Family;

static Family families[] = {
	{"helpdesk_queue_sessions", "gauge",
		"Sessions waiting in a queue (queued or offered).",
		{"SELECT jsonb_build_object('tenant', t.slug, 'queue', q.external_id), "
		 "  count(s.id)::float8 "
		 "FROM helpdesk.queue q JOIN helpdesk.tenant t ON t.id = q.tenant_id "
		 "LEFT JOIN helpdesk.session s ON s.tenant_id = q.tenant_id AND s.queue_id = q.id "
		 "  AND s.state IN ('queued', 'offered') "
		 "GROUP BY t.slug, q.external_id"}},
	{"helpdesk_queue_oldest_wait_seconds", "gauge",
		"Seconds the longest-waiting session of a queue has waited (0 when none waits).",
		{"SELECT jsonb_build_object('tenant', t.slug, 'queue', q.external_id), "
		 "  coalesce(extract(epoch FROM now() - min(s.queued_at)), 0)::float8 "
		 "FROM helpdesk.queue q JOIN helpdesk.tenant t ON t.id = q.tenant_id "
		 "LEFT JOIN helpdesk.session s ON s.tenant_id = q.tenant_id AND s.queue_id = q.id "
		 "  AND s.state IN ('queued', 'offered') "
		 "GROUP BY t.slug, q.external_id"}},
	{"helpdesk_agents", "gauge",
		"Enabled agents by presence status.",
		{"SELECT jsonb_build_object('tenant', t.slug, 'status', st.status), "
		 "  count(a.id)::float8 "
		 "FROM helpdesk.tenant t "
		 "CROSS JOIN (VALUES ('online'), ('away'), ('busy'), ('offline')) st(status) "
		 "LEFT JOIN helpdesk.agent a ON a.tenant_id = t.id AND a.status = st.status AND a.enabled "
		 "GROUP BY t.slug, st.status"}},
	{"helpdesk_sessions", "gauge",
		"Open sessions by state (closed sessions are not counted).",
		{"SELECT jsonb_build_object('tenant', t.slug, 'state', st.state), "
		 "  count(s.id)::float8 "
		 "FROM helpdesk.tenant t "
		 "CROSS JOIN (VALUES ('bot'), ('queued'), ('offered'), ('active')) st(state) "
		 "LEFT JOIN helpdesk.session s ON s.tenant_id = t.id AND s.state = st.state "
		 "GROUP BY t.slug, st.state"}},
	{"helpdesk_sla_breaches_total", "counter",
		"SLA breaches fired, by target (first_response, next_response, resolution).",
		{"SELECT jsonb_build_object('tenant', t.slug, 'target', tg.target), "
		 "  count(e.id)::float8 "
		 "FROM helpdesk.tenant t "
		 "CROSS JOIN (VALUES ('first_response'), ('next_response'), ('resolution')) tg(target) "
		 "LEFT JOIN helpdesk.sla_event e ON e.tenant_id = t.id AND e.target = tg.target "
		 "  AND e.kind = 'breach' "
		 "GROUP BY t.slug, tg.target"}},
	{"helpdesk_webhook_deliveries", "gauge",
		"Webhook deliveries kept in the delivery log, by state (pending, sending, delivered, dead).",
		{"SELECT jsonb_build_object('tenant', t.slug, 'state', st.state), "
		 "  count(d.id)::float8 "
		 "FROM helpdesk.tenant t "
		 "CROSS JOIN (VALUES ('pending'), ('sending'), ('delivered'), ('dead')) st(state) "
		 "LEFT JOIN helpdesk.webhook_delivery d ON d.tenant_id = t.id AND d.state = st.state "
		 "GROUP BY t.slug, st.state"}},
	{"helpdesk_webhook_attempts_failed_total", "counter",
		"Webhook attempts that got no 2xx answer (kept in the delivery log).",
		{"SELECT jsonb_build_object('tenant', t.slug), count(a.attempt)::float8 "
		 "FROM helpdesk.tenant t "
		 "LEFT JOIN helpdesk.webhook_attempt a ON a.tenant_id = t.id "
		 "  AND (a.status IS NULL OR a.status NOT BETWEEN 200 AND 299) "
		 "GROUP BY t.slug"}},
	{"helpdesk_webhook_dead_letters", "gauge",
		"Webhook deliveries given up (state dead) and not redelivered.",
		{"SELECT jsonb_build_object('tenant', t.slug), count(d.id)::float8 "
		 "FROM helpdesk.tenant t "
		 "LEFT JOIN helpdesk.webhook_delivery d ON d.tenant_id = t.id AND d.state = 'dead' "
		 "GROUP BY t.slug"}},
	{"helpdesk_publisher_lag_events", "gauge",
		"Committed events that have no position in the event log yet.",
		{"SELECT '{}'::jsonb, helpdesk.publisher_lag()::float8"}},
};

#define NFAMILIES (sizeof(families) / sizeof(families[0]))

static void
put_row(ReturnSetInfo *rsinfo, const char *name, const char *type, const char *help,
		Datum labels, double value)
{
	Datum		v[5];
	bool		n[5] = {false, false, false, false, false};

	v[0] = CStringGetTextDatum(name);
	v[1] = CStringGetTextDatum(type);
	v[2] = CStringGetTextDatum(help);
	v[3] = labels;
	v[4] = Float8GetDatum(value);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, n);
}

static Datum
kind_labels(int k)
{
	char	   *json = psprintf("{\"kind\": \"%s\"}", hd_worker_kind_names[k]);

	return DirectFunctionCall1(jsonb_in, CStringGetDatum(json));
}

/* the dispatcher's unlabelled series: value = counter / scale */
typedef struct DispatcherSeries
{
	const char *name;
	const char *type;
	const char *help;
	double		scale;
} DispatcherSeries;

enum
{
	DS_PASSES, DS_PASS_US, DS_LAST_US, DS_ROWS_READ, DS_BEHIND_US, DS_BP_WAITS, DS_BP_US, DS_COUNT
};

static const DispatcherSeries dispatcher_series[DS_COUNT] = {
	{"helpdesk_dispatcher_passes_total", "counter", "Assignment passes the dispatcher ran.", 1},
	{"helpdesk_dispatcher_pass_seconds_total", "counter",
	"Time spent in assignment passes (divide by helpdesk_dispatcher_passes_total for the mean).", 1e6},
	{"helpdesk_dispatcher_last_pass_seconds", "gauge",
	"Duration of the dispatcher's latest assignment pass.", 1e6},
	{"helpdesk_dispatcher_agent_rows_read_total", "counter",
	"Agent rows the dispatcher read for its passes (only changed agents between full reads).", 1},
	{"helpdesk_dispatcher_timers_behind_seconds", "gauge",
		"How far behind the dispatcher is: since when its oldest unbegun work (a due timer, a change no pass has seen) has been due, in seconds (0: none).",
	1e6},
	{"helpdesk_dispatcher_backpressure_waits_total", "counter",
	"Session calls that waited because the dispatcher was behind (helpdesk.dispatch_backpressure_after).", 1},
	{"helpdesk_dispatcher_backpressure_wait_seconds_total", "counter",
	"Time session calls spent waiting for the dispatcher, summed.", 1e6},
};

/*
 * The workers' counters of this database, from the shared registry: what
 * no table records (restarts, pass times, whether each runs, backpressure).
 */
static void
worker_rows(ReturnSetInfo *rsinfo)
{
	HdDbSlot   *slot = hd_find_db_slot(MyDatabaseId);
	uint64		restarts[HD_NUM_WORKER_KINDS] = {0};
	bool		up[HD_NUM_WORKER_KINDS] = {false};
	uint64		ds[DS_COUNT] = {0};
	int			k;

	if (slot != NULL)
	{
		HdWorkerSlot *d = &slot->workers[HD_WORKER_DISPATCHER];
		uint64		since;

		LWLockAcquire(hd_shared->lock, LW_SHARED);
		for (k = 0; k < HD_NUM_WORKER_KINDS; k++)
		{
			restarts[k] = pg_atomic_read_u64(&slot->workers[k].restarts);
			up[k] = slot->workers[k].pid != 0;
		}
		ds[DS_PASSES] = pg_atomic_read_u64(&d->passes);
		ds[DS_PASS_US] = pg_atomic_read_u64(&d->pass_us);
		ds[DS_LAST_US] = pg_atomic_read_u64(&d->last_pass_us);
		ds[DS_ROWS_READ] = pg_atomic_read_u64(&d->rows_read);
		ds[DS_BP_WAITS] = pg_atomic_read_u64(&d->backpressure_waits);
		ds[DS_BP_US] = pg_atomic_read_u64(&d->backpressure_us);
		since = up[HD_WORKER_DISPATCHER] ? pg_atomic_read_u64(&d->behind_since) : 0;
		LWLockRelease(hd_shared->lock);
		if (since != 0 && (TimestampTz) since < GetCurrentTimestamp())
			ds[DS_BEHIND_US] = (uint64) (GetCurrentTimestamp() - (TimestampTz) since);
	}
	for (k = 0; k < HD_NUM_WORKER_KINDS; k++)
		put_row(rsinfo, "helpdesk_worker_up", "gauge",
				"Whether this database's worker of the kind is running.",
				kind_labels(k), up[k] ? 1 : 0);
	for (k = 0; k < HD_NUM_WORKER_KINDS; k++)
		put_row(rsinfo, "helpdesk_worker_restarts_total", "counter",
				"Unexpected exits of this database's worker of the kind, each followed by a restart.",
				kind_labels(k), (double) restarts[k]);
	for (k = 0; k < DS_COUNT; k++)
		put_row(rsinfo, dispatcher_series[k].name, dispatcher_series[k].type, dispatcher_series[k].help,
				DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")),
				(double) ds[k] / dispatcher_series[k].scale);
}

PG_FUNCTION_INFO_V1(hd_metrics);

/* helpdesk.metrics(): every series of the database, for all tenants */
Datum
hd_metrics(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	size_t		f;

	hd_require_every_tenant();	/* the series of every tenant */
	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	for (f = 0; f < NFAMILIES; f++)
	{
		uint64		i;

		hd_exec(&families[f].plan, NULL, NULL, true, 0);
		for (i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			Datum		labels = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
			Datum		value = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull);

			/* the tuplestore copies the datums, so SPI's memory may go */
			put_row(rsinfo, families[f].name, families[f].type, families[f].help,
					labels, isnull ? 0 : DatumGetFloat8(value));
		}
	}
	SPI_finish();
	worker_rows(rsinfo);
	PG_RETURN_VOID();
}
