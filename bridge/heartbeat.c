/*
 * heartbeat.c — agents' presence: the open WebSocket of an agent is its
 * heartbeat. Every period one SQL call marks all connected agents present
 * (agent_heartbeat, grouped by tenant) and reads the shortest presence
 * timeout of their tenants, so that the period follows a tenant whose
 * agents would otherwise go offline between two batches. keepalive.c pings
 * silent sockets and drops dead ones; the dispatcher's presence expiry does
 * the rest.
 */
#include "client.h"
#include "db.h"

#include <stdlib.h>

static struct lws_context *context;
static lws_sorted_usec_list_t heartbeat_sul;

/*
 * The heartbeat period in use: --heartbeat-ms, or a third of the shortest
 * presence timeout (heartbeat_interval x heartbeat_misses) of the tenants of
 * the connected agents when that is shorter, so that no tenant's agents go
 * offline between two batches (at least 100 ms apart).
 */
static int	heartbeat_period_ms = 0;

static void heartbeat_tick(lws_sorted_usec_list_t *sul);

static void
heartbeat_done(void *arg, PGresult *res, const char *sqlstate, const char *message)
{
	long long	timeout_ms = 0;
	int			want;

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		blog(BLOG_WARN, "agent heartbeat batch failed: %s", message ? message : "?");
		return;
	}
	want = cfg.heartbeat_ms;
	if (PQntuples(res) == 1 && PQnfields(res) >= 2 && !PQgetisnull(res, 0, 1))
	{
		timeout_ms = atoll(PQgetvalue(res, 0, 1));
		if (timeout_ms > 0 && timeout_ms / 3 < want)
			want = (int) (timeout_ms / 3 < 100 ? 100 : timeout_ms / 3);
	}
	if (want != heartbeat_period_ms)
	{
		if (want < cfg.heartbeat_ms)
			blog(BLOG_WARN, "a tenant of the connected agents takes them offline after %lld ms without a heartbeat (heartbeat_interval x heartbeat_misses), less than three --heartbeat-ms %d: sending heartbeats every %d ms",
				 timeout_ms, cfg.heartbeat_ms, want);
		else if (heartbeat_period_ms != 0)
			blog(BLOG_INFO, "sending heartbeats every --heartbeat-ms %d again", want);
		heartbeat_period_ms = want;
		lws_sul_schedule(context, 0, &heartbeat_sul, heartbeat_tick,
						 (lws_usec_t) heartbeat_period_ms * 1000);
	}
}

/*
 * Every heartbeat period, one SQL call marks all connected agents
 * present (the WebSocket itself is the liveness signal; keepalive.c pings
 * silent sockets and drops dead ones), and reads the shortest presence
 * timeout of their tenants (heartbeat_done adjusts the period to it).
 */
static void
heartbeat_tick(lws_sorted_usec_list_t *sul)
{
	Buf			tenants = {0},
				agents = {0};
	int			n = 0;

	buf_puts(&tenants, "{");
	buf_puts(&agents, "{");
	for (Client *c = clients_first(); c; c = c->next)
	{
		if (c->kind != KIND_AGENT || c->state == ST_AUTH || c->close_code)
			continue;
		buf_printf(&tenants, "%s%lld", n ? "," : "", (long long) c->tenant);
		buf_printf(&agents, "%s%lld", n ? "," : "", (long long) c->subject);
		n++;
	}
	buf_puts(&tenants, "}");
	buf_puts(&agents, "}");
	if (n > 0 && db_calls_up() > 0)
	{
		const char *params[2] = {tenants.data, agents.data};

		metrics.heartbeat_batches++;
		db_call("SELECT pg_catalog.sum(helpdesk.agent_heartbeat(t, ids)), "
				"       helpdesk.presence_timeout_ms(pg_catalog.array_agg(t)) FROM ("
				"  SELECT t, pg_catalog.array_agg(DISTINCT a) ids"
				"  FROM unnest($1::pg_catalog.int8[], $2::pg_catalog.int8[]) u(t, a) GROUP BY t) x",
				2, params, heartbeat_done, NULL);
	}
	buf_free(&tenants);
	buf_free(&agents);

	clients_trim_memory();
	lws_sul_schedule(context, 0, &heartbeat_sul, heartbeat_tick,
					 (lws_usec_t) (heartbeat_period_ms ? heartbeat_period_ms : cfg.heartbeat_ms) * 1000);
}

void
heartbeat_init(struct lws_context *ctx)
{
	context = ctx;
	lws_sul_schedule(context, 0, &heartbeat_sul, heartbeat_tick,
					 (lws_usec_t) cfg.heartbeat_ms * 1000);
}

void
heartbeat_stop(void)
{
	lws_sul_cancel(&heartbeat_sul);
}
