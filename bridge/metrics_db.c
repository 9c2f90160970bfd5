/*
 * metrics_db.c — the database's series in /metrics: helpdesk.metrics() read
 * through the call pool at most once per --metrics-interval-ms and cached.
 *
 * A scrape never waits for the database: it is answered with the cached
 * text, and when that is older than the interval (and no read is under way)
 * it starts one read, whose answer the next scrape gets. So however many
 * Prometheus servers scrape, the database sees one call per interval, and a
 * slow or unreachable database leaves /metrics as fast as ever, with
 * helpdesk_bridge_db_metrics_age_seconds telling how old its figures are.
 */
#include "db.h"
#include "relay.h"

#include <stdlib.h>
#include <string.h>

static Buf	cache;				/* rendered series of the last good read */
static int64_t cache_at_us;		/* when that read was answered; 0: never */
static int64_t asked_at_us;		/* when the last read was started */
static int	in_flight;
static uint64_t reads_total;
static uint64_t read_failures_total;

static void
metrics_db_done(void *arg, PGresult *res, const char *sqlstate, const char *message)
{
	Buf			out = {0};
	const char *last = NULL;
	int			skipped = 0;

	in_flight = 0;
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != 5)
	{
		read_failures_total++;
		blog(BLOG_WARN, "reading helpdesk.metrics() failed: %s",
			 message ? message : "unexpected answer");
		return;
	}
	for (int i = 0; i < PQntuples(res); i++)
	{
		const char *metric = PQgetvalue(res, i, 0);
		int			header = last == NULL || strcmp(last, metric) != 0;

		if (metrics_text_series(&out, header, metric, PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
								PQgetisnull(res, i, 3) ? NULL : PQgetvalue(res, i, 3),
								(size_t) PQgetlength(res, i, 3),
								strtod(PQgetvalue(res, i, 4), NULL)) == 0)
			last = metric;
		else
			skipped++;
	}
	if (skipped)
		blog(BLOG_WARN, "helpdesk.metrics(): %d series skipped (name or labels not valid in the Prometheus format)",
			 skipped);
	buf_free(&cache);
	cache = out;
	cache_at_us = now_us();
	reads_total++;
}

/* appends the cached database series; starts a read when they are stale */
void
metrics_db_render(Buf *b)
{
	int64_t		now = now_us();
	int64_t		interval = (int64_t) cfg.metrics_interval_ms * 1000;

	if (!in_flight && now - asked_at_us >= interval && db_calls_up() > 0)
	{
		in_flight = 1;
		asked_at_us = now;
		db_call("SELECT metric, type, help, labels::pg_catalog.text, value FROM helpdesk.metrics()",
				0, NULL, metrics_db_done, NULL);
	}
	if (cache.len > 0)
		buf_append(b, cache.data, cache.len);
	buf_printf(b, "# HELP helpdesk_bridge_db_metrics_age_seconds Age of the database series in this answer (-1: not read yet).\n"
			   "# TYPE helpdesk_bridge_db_metrics_age_seconds gauge\n"
			   "helpdesk_bridge_db_metrics_age_seconds %.3f\n",
			   cache_at_us ? (double) (now - cache_at_us) / 1e6 : -1.0);
	buf_printf(b, "# HELP helpdesk_bridge_db_metrics_reads_total Reads of helpdesk.metrics().\n"
			   "# TYPE helpdesk_bridge_db_metrics_reads_total counter\n"
			   "helpdesk_bridge_db_metrics_reads_total %llu\n"
			   "# HELP helpdesk_bridge_db_metrics_read_failures_total Reads of helpdesk.metrics() that failed.\n"
			   "# TYPE helpdesk_bridge_db_metrics_read_failures_total counter\n"
			   "helpdesk_bridge_db_metrics_read_failures_total %llu\n",
			   (unsigned long long) reads_total, (unsigned long long) read_failures_total);
}

void
metrics_db_free(void)
{
	buf_free(&cache);
}
