/*
 * keepalive.c — ping sockets that have been silent, drop those that stay so.
 *
 * lws's own "validity" timers do this with one timer per socket in a sorted
 * list, and every PONG re-inserts its socket's timer by walking that list:
 * O(connections) per socket. With 10,000 sockets connected within a few
 * seconds, their pings come due together and the PONGs took most of a core
 * for five seconds, stalling every event behind them (p99 36 ms, max 100 ms).
 * Here each socket keeps the time of its last received frame; one timer
 * looks at a slice of the sockets every tenth of a second, so every socket
 * is looked at about three times per --ping-secs and the cost per second is O(connections /
 * (ping-secs / 3)), with nothing done per frame but storing a timestamp.
 * A socket silent for --ping-secs gets a PING; one that sends nothing (no
 * PONG either) for --ping-secs after it is dropped: 2-2.7 x --ping-secs of
 * silence in all. A dead peer whose send buffer is full never becomes
 * writeable, so its PING cannot go out: once the PING has waited
 * --ping-secs it is dropped the same way.
 */
#include "client.h"
#include "trace.h"

/*
 * Ten ticks a second: a sweep marks at most a hundredth of its sockets per
 * tick, so the PINGs of sockets that connected together go out in small
 * bursts (a thousand at once delayed the events behind them by ~10 ms).
 */
#define TICKS_PER_SEC 10
#define TICK_US (1000000 / TICKS_PER_SEC)

static struct lws_context *context;
static lws_sorted_usec_list_t tick_sul;
static Client *cursor;			/* next client the sweep looks at */

/* a frame (data, PING or PONG) arrived: the peer is alive */
void
keepalive_seen(Client *c)
{
	c->last_rx_us = now_us();
	c->ping_out = false;
	c->ping_due = false;		/* alive: no PING needed (a callback may still come) */
}

/*
 * A socket leaves the list: move the sweep's cursor past it (client.c calls
 * this before unlinking c).
 */
void
keepalive_forget(Client *c)
{
	if (cursor == c)
		cursor = c->next;
}

/*
 * The lag check in client.c runs when a socket can be written to. One that
 * was woken but cannot take a byte (its peer stopped reading, maybe while
 * still sending) would fall behind forever unseen: check it here too.
 */
static bool
stuck_behind(Client *c)
{
	return c->state == ST_LIVE && c->wake_pending && ring_known() && client_lagging(c);
}

static void
check(Client *c, int64_t now)
{
	int64_t		silent = now - c->last_rx_us;

	if (c->wsi == NULL || c->close_code)
		return;
	if (client_expired(c, now))
		return;
	if (stuck_behind(c))
	{
		client_close(c, CLOSE_TOO_SLOW, "fell behind the event stream; resume with your position");
		return;
	}
	if (c->ping_due)
	{
		/* the PING could not be written for --ping-secs: the peer reads nothing */
		if (now - c->ping_sent_us >= (int64_t) cfg.ping_secs * 1000000)
		{
			metrics.keepalive_drops++;
			lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		}
		return;
	}
	if (c->ping_out)
	{
		/* no frame and no PONG for --ping-secs after the PING: gone */
		if (now - c->ping_sent_us >= (int64_t) cfg.ping_secs * 1000000)
		{
			metrics.keepalive_drops++;
			lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		}
		return;
	}
	if (silent >= (int64_t) cfg.ping_secs * 1000000)
	{
		c->ping_due = true;
		c->ping_sent_us = now;	/* when it was wanted, until it is written */
		lws_callback_on_writable(c->wsi);
	}
}

static void
tick(lws_sorted_usec_list_t *sul)
{
	int			sweep_ticks = (cfg.ping_secs >= 6 ? cfg.ping_secs / 3 : 1) * TICKS_PER_SEC;
	int			n = (clients_count() + sweep_ticks - 1) / sweep_ticks;
	int64_t		now = now_us();
	TraceMark	t0 = trace_mark();

	while (n-- > 0)
	{
		if (cursor == NULL)
			cursor = clients_first();
		if (cursor == NULL)
			break;
		check(cursor, now);
		cursor = cursor->next;
	}
	trace_section("keepalive sweep", t0);
	lws_sul_schedule(context, 0, &tick_sul, tick, TICK_US);
}

/*
 * Called from the writeable callback: sends the PING that check() asked
 * for. Returns 1 when it wrote (one write per callback), -1 on error.
 */
int
keepalive_write(Client *c)
{
	/* lws 4.1 passes on no PONG with an empty payload: send one byte */
	unsigned char buf[LWS_PRE + 1];

	if (!c->ping_due)
		return 0;
	c->ping_due = false;
	c->ping_out = true;
	c->ping_sent_us = now_us();
	buf[LWS_PRE] = 'k';
	if (lws_write(c->wsi, buf + LWS_PRE, 1, LWS_WRITE_PING) < 1)
		return -1;
	return 1;
}

void
keepalive_init(struct lws_context *ctx)
{
	context = ctx;
	lws_sul_schedule(context, 0, &tick_sul, tick, TICK_US);
}

void
keepalive_stop(void)
{
	lws_sul_cancel(&tick_sul);
}
