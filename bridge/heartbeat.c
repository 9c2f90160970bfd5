/*
 * heartbeat.c — agents' presence: the open WebSocket of an agent is its
 * heartbeat. Every period one SQL call marks all connected agents present
 * (agent_heartbeat, grouped by tenant) and reads the shortest presence
 * timeout of their tenants, so that the period follows a tenant whose
 * agents would otherwise go offline between two batches. keepalive.c pings
 * silent sockets and drops dead ones; the dispatcher's presence expiry does
 * the rest.
 *
 * The connected agents are found by a sweep over all sockets in SLICES
 * steps per period (walking 10,000 sockets at once held the loop for 3-13
 * ms every period); the batch goes when a sweep ends. A socket is looked at
 * once per sweep; one that connects behind the sweep's cursor is in the
 * next batch (the subscriber lookup at connect marks its agent present).
 */
#include "client.h"
#include "db.h"
#include "trace.h"

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

#define SLICES 20
static Client *cursor;			/* next socket the sweep looks at */
static bool sweeping;
static Buf	tenants,
			agents;				/* the batch being gathered */
static int	nagents;
static int64_t sweep_started_us;	/* a sweep starts once per period */

static void heartbeat_tick(lws_sorted_usec_list_t *sul);

static lws_usec_t
tick_us(void)
{
	return (lws_usec_t) (heartbeat_period_ms ? heartbeat_period_ms : cfg.heartbeat_ms) * 1000 / SLICES;
}

/* a socket leaves the list: move the sweep past it (server.c, before unlinking c) */
void
heartbeat_forget(Client *c)
{
	if (cursor == c)
		cursor = c->next;
}

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
		lws_sul_schedule(context, 0, &heartbeat_sul, heartbeat_tick, tick_us());
	}
}

/*
 * Every heartbeat period, one SQL call marks all connected agents
 * present (the WebSocket itself is the liveness signal; keepalive.c pings
 * silent sockets and drops dead ones), and reads the shortest presence
 * timeout of their tenants (heartbeat_done adjusts the period to it).
 * Each tick looks at a SLICES-th of the sockets; the tick that ends a
 * sweep sends the batch.
 */
static void
heartbeat_tick(lws_sorted_usec_list_t *sul)
{
	int			n = clients_count() / SLICES + 1;
	TraceMark	t0 = trace_mark();

	if (!sweeping)
	{
		int64_t		now = now_us();

		/* at most one sweep, so one batch, per period, however few the sockets */
		if (now - sweep_started_us < (int64_t) tick_us() * (SLICES - 1))
		{
			clients_trim_memory();
			lws_sul_schedule(context, 0, &heartbeat_sul, heartbeat_tick, tick_us());
			return;
		}
		sweep_started_us = now;
		sweeping = true;
		cursor = clients_first();
		nagents = 0;
		tenants.len = agents.len = 0;
		buf_puts(&tenants, "{");
		buf_puts(&agents, "{");
	}
	for (; cursor && n > 0; cursor = cursor->next, n--)
	{
		Client	   *c = cursor;

		if (c->kind != KIND_AGENT || c->state == ST_AUTH || c->close_code)
			continue;
		buf_printf(&tenants, "%s%lld", nagents ? "," : "", (long long) c->tenant);
		buf_printf(&agents, "%s%lld", nagents ? "," : "", (long long) c->subject);
		nagents++;
	}
	if (cursor == NULL)
	{
		/* the sweep is over: send what it found */
		sweeping = false;
		buf_puts(&tenants, "}");
		buf_puts(&agents, "}");
		if (nagents > 0 && db_calls_up() > 0)
		{
			const char *params[2] = {tenants.data, agents.data};

			metrics.heartbeat_batches++;
			db_call("SELECT pg_catalog.sum(helpdesk.agent_heartbeat(t, ids)), "
					"       helpdesk.presence_timeout_ms(pg_catalog.array_agg(t)) FROM ("
					"  SELECT t, pg_catalog.array_agg(DISTINCT a) ids"
					"  FROM unnest($1::pg_catalog.int8[], $2::pg_catalog.int8[]) u(t, a) GROUP BY t) x",
					2, params, heartbeat_done, NULL);
		}
		if (tenants.cap > 65536)
		{
			/* a crowd of agents left: do not keep its buffers */
			buf_free(&tenants);
			buf_free(&agents);
		}
	}
	clients_trim_memory();
	trace_section("heartbeat sweep", t0);
	lws_sul_schedule(context, 0, &heartbeat_sul, heartbeat_tick, tick_us());
}

void
heartbeat_init(struct lws_context *ctx)
{
	context = ctx;
	sweep_started_us = now_us();	/* the first batch after one period, as before */
	lws_sul_schedule(context, 0, &heartbeat_sul, heartbeat_tick, tick_us());
}

void
heartbeat_stop(void)
{
	lws_sul_cancel(&heartbeat_sul);
	buf_free(&tenants);
	buf_free(&agents);
	cursor = NULL;
	sweeping = false;
}
