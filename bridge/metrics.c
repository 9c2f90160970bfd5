/*
 * metrics.c — /healthz and /metrics (Prometheus text format 0.0.4) on the
 * WebSocket port, answered from the loop with counters kept in memory.
 */
#include "db.h"
#include "relay.h"
#include "trace.h"

#include <string.h>

Metrics		metrics;

/* commit-to-send latency buckets, seconds */
static const double bounds[] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1,
0.25, 0.5, 1, 2.5, 5};
#define NBOUNDS (sizeof(bounds) / sizeof(bounds[0]))
static uint64_t buckets[NBOUNDS + 1];
static uint64_t lat_count;
static double lat_sum;

/*
 * us is the time from the event's transaction (its created_at) to handing
 * the frame to the socket; clocks are the same host's.
 */
void
metrics_observe_latency(int64_t us)
{
	double		s = us < 0 ? 0 : (double) us / 1e6;
	size_t		i;

	for (i = 0; i < NBOUNDS && s > bounds[i]; i++)
		;
	buckets[i]++;
	lat_count++;
	lat_sum += s;
}

void
metrics_render(Buf *b)
{
	uint64_t	cum = 0;

	buf_puts(b, "# HELP helpdesk_bridge_connections Open WebSocket connections by client kind.\n"
			 "# TYPE helpdesk_bridge_connections gauge\n");
	for (int k = 0; k < KIND_COUNT; k++)
		buf_printf(b, "helpdesk_bridge_connections{kind=\"%s\"} %llu\n",
				   kind_name((ClientKind) k), (unsigned long long) metrics.connections[k]);
	{
		/* the counters, one Prometheus series each */
		const struct
		{
			const char *name;
			const char *help;
			uint64_t	value;
		}			counters[] = {
			{"connections_total", "WebSocket connections accepted.", metrics.connections_total},
			{"auth_failures_total", "Connections refused for their token or subject.", metrics.auth_failures},
			{"frames_in_total", "Frames received from clients.", metrics.frames_in},
			{"frames_out_total", "Frames sent to clients.", metrics.frames_out},
			{"events_relayed_total", "Event deliveries to clients.", metrics.events_relayed},
			{"events_read_total", "Events read from the event log.", metrics.events_ingested},
			{"errors_sent_total", "Error frames sent.", metrics.errors_sent},
			{"slow_disconnects_total", "Clients closed (4008) for falling behind.", metrics.slow_disconnects},
			{"db_reconnects_total", "Database connections re-established.", db_reconnects},
			{"db_connect_timeouts_total", "Connection attempts given up after --db-connect-timeout.", db_connect_timeouts},
			{"db_query_timeouts_total", "Connections dropped after --db-query-timeout without an answer.", db_query_timeouts},
			{"listen_deaf_total", "Times the LISTEN connection was found to receive no NOTIFY.", notify_deaf_total},
			{"heartbeat_batches_total", "Agent heartbeat batches sent.", metrics.heartbeat_batches},
			{"keepalive_drops_total", "Sockets dropped after 2 x --ping-secs without a frame or PONG.", metrics.keepalive_drops},
			{"notifies_total", "Notifications received on channel helpdesk (hints: each causes at most one read).", metrics.notifies},
			{"event_reads_total", "Reads of the event log by the ring.", metrics.event_reads},
			{"log_resets_total", "Times the event log was replaced or went back under the bridge (ring reset, clients closed with 4010).", metrics.log_resets},
			{"token_expired_closes_total", "Open sockets closed (4003) when their token expired.", metrics.expired_closes},
			{"typing_rejected_total", "helpdesk_typing notifications dropped: not signed by a bridge, or stale.", metrics.typing_rejected},
			{"loop_passes_total", "Passes of the event loop that ran callbacks (epoll loop).", trace_stats.passes},
			{"loop_slow_passes_total", "Passes of the loop that took 1 ms or more: everything behind them waited.", trace_stats.slow_passes},
			{"loop_slow_sections_total", "Timed pieces of loop work (sweeps, reads, trims) that took 1 ms or more (logged with -v).", trace_stats.slow_sections},
		};

		for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
			buf_printf(b, "# HELP helpdesk_bridge_%s %s\n# TYPE helpdesk_bridge_%s counter\n"
					   "helpdesk_bridge_%s %llu\n",
					   counters[i].name, counters[i].help, counters[i].name, counters[i].name,
					   (unsigned long long) counters[i].value);
	}
	buf_printf(b, "# HELP helpdesk_bridge_db_up Whether the LISTEN connection is up.\n"
			   "# TYPE helpdesk_bridge_db_up gauge\n"
			   "helpdesk_bridge_db_up %d\n", db_listen_up() ? 1 : 0);
	buf_printf(b, "# HELP helpdesk_bridge_db_calls_up Call connections that are up.\n"
			   "# TYPE helpdesk_bridge_db_calls_up gauge\n"
			   "helpdesk_bridge_db_calls_up %d\n", db_calls_up());
	buf_printf(b, "# HELP helpdesk_bridge_listen_deaf Whether the LISTEN connection receives no NOTIFY (see --listen-db).\n"
			   "# TYPE helpdesk_bridge_listen_deaf gauge\n"
			   "helpdesk_bridge_listen_deaf %d\n", db_listen_deaf() ? 1 : 0);
	buf_printf(b, "# HELP helpdesk_bridge_loop_busy_seconds_total Time spent running the loop's callbacks (epoll loop).\n"
			   "# TYPE helpdesk_bridge_loop_busy_seconds_total counter\n"
			   "helpdesk_bridge_loop_busy_seconds_total %.6f\n", (double) trace_stats.busy_us / 1e6);
	buf_printf(b, "# HELP helpdesk_bridge_loop_pass_max_seconds The longest pass of the loop since start.\n"
			   "# TYPE helpdesk_bridge_loop_pass_max_seconds gauge\n"
			   "helpdesk_bridge_loop_pass_max_seconds %.6f\n", (double) trace_stats.pass_max_us / 1e6);
	buf_puts(b, "# HELP helpdesk_bridge_commit_to_send_seconds From an event's transaction to its frame being written.\n"
			 "# TYPE helpdesk_bridge_commit_to_send_seconds histogram\n");
	for (size_t i = 0; i < NBOUNDS; i++)
	{
		cum += buckets[i];
		buf_printf(b, "helpdesk_bridge_commit_to_send_seconds_bucket{le=\"%g\"} %llu\n",
				   bounds[i], (unsigned long long) cum);
	}
	cum += buckets[NBOUNDS];
	buf_printf(b, "helpdesk_bridge_commit_to_send_seconds_bucket{le=\"+Inf\"} %llu\n"
			   "helpdesk_bridge_commit_to_send_seconds_sum %.6f\n"
			   "helpdesk_bridge_commit_to_send_seconds_count %llu\n",
			   (unsigned long long) cum, lat_sum, (unsigned long long) lat_count);
	metrics_db_render(b);
}

/* answers an HTTP request on the WebSocket port; returns lws's verdict */
int
http_serve(struct lws *wsi, const char *path)
{
	Buf			body = {0};
	unsigned char hdr[LWS_PRE + 512];
	unsigned char *p = hdr + LWS_PRE,
			   *end = hdr + sizeof(hdr);
	unsigned int status = HTTP_STATUS_OK;
	const char *ctype = "text/plain; charset=utf-8";
	Buf			out = {0};
	int			rc;

	if (strcmp(path, "/healthz") == 0)
	{
		if (!db_listen_up() || db_calls_up() == 0)
		{
			status = HTTP_STATUS_SERVICE_UNAVAILABLE;
			buf_puts(&body, "database unreachable\n");
		}
		else if (db_listen_deaf())
		{
			status = HTTP_STATUS_SERVICE_UNAVAILABLE;
			buf_puts(&body, "deaf: the LISTEN connection receives no NOTIFY (a pooler in "
					 "transaction mode? use --listen-db with a direct session)\n");
		}
		else
			buf_puts(&body, "ok\n");
	}
	else if (strcmp(path, "/metrics") == 0)
	{
		ctype = "text/plain; version=0.0.4; charset=utf-8";
		metrics_render(&body);
	}
	else
	{
		status = HTTP_STATUS_NOT_FOUND;
		buf_puts(&body, "not found: try /console/, /widget/, /healthz, /metrics or a WebSocket upgrade\n");
	}
	if (lws_add_http_common_headers(wsi, status, ctype, (lws_filepos_t) body.len, &p, end) ||
		lws_finalize_write_http_header(wsi, hdr + LWS_PRE, &p, end))
	{
		buf_free(&body);
		return 1;
	}
	buf_reserve(&out, LWS_PRE + body.len);
	out.len = LWS_PRE;
	buf_append(&out, body.data, body.len);
	rc = lws_write(wsi, (unsigned char *) out.data + LWS_PRE, body.len, LWS_WRITE_HTTP_FINAL);
	buf_free(&body);
	buf_free(&out);
	if (rc < 0)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}
