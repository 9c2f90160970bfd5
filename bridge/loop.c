/*
 * loop.c — the event loop under libwebsockets.
 *
 * lws 4.1's own loop calls poll(2) over every descriptor on each pass and
 * then walks the whole table for results: with 10,000 sockets that is most
 * of the bridge's CPU, and a fan-out needs tens of thousands of passes.
 * By default the bridge therefore hands lws a libev loop of its own
 * (epoll: each pass costs what is ready, not what is open) through lws's
 * libev plugin, and runs that loop itself one iteration at a time, so a
 * signal, a shutdown deadline or a drained client list can end it.
 * "--event-loop poll" keeps lws's own loop, as a baseline for bench/.
 */
#include "bridge.h"
#include "trace.h"

#include <ev.h>
#include <string.h>

static struct ev_loop *evloop;
static void *foreign_loops[1];
static ev_timer wake_timer;

static int
use_epoll(void)
{
	return strcmp(cfg.event_loop, "epoll") == 0;
}

/*
 * Before lws_create_context: with epoll, a libev loop on the epoll backend
 * is created here and given to lws as a foreign loop (lws then never runs
 * a loop of its own and never installs signal handlers).
 */
int
loop_prepare(struct lws_context_creation_info *info)
{
	if (!use_epoll())
		return 0;
	evloop = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOENV);
	if (evloop == NULL)
	{
		blog(BLOG_ERR, "cannot create a libev loop on epoll");
		return -1;
	}
	trace_loop(evloop);			/* each pass's callbacks are timed (trace.c) */
	foreign_loops[0] = evloop;
	info->options |= LWS_SERVER_OPTION_LIBEV;
	info->foreign_loops = foreign_loops;
	return 0;
}

static void
wake_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	/* nothing to do: being called ends the iteration */
}

/*
 * One pass of the loop: wait for something (at most timeout_ms when it is
 * positive), handle it, return.  A signal handler that calls
 * lws_cancel_service() wakes a pass that is waiting.
 */
void
loop_once(struct lws_context *context, int timeout_ms)
{
	if (!use_epoll())
	{
		lws_service(context, timeout_ms);
		return;
	}
	if (timeout_ms > 0)
	{
		ev_timer_init(&wake_timer, wake_cb, timeout_ms / 1000.0, 0.);
		ev_timer_start(evloop, &wake_timer);
	}
	ev_run(evloop, EVRUN_ONCE);
	if (timeout_ms > 0)
		ev_timer_stop(evloop, &wake_timer);
}

/* After lws_context_destroy: lws has stopped all its watchers by then. */
void
loop_free(void)
{
	if (evloop == NULL)
		return;
	ev_run(evloop, EVRUN_NOWAIT);
	ev_loop_destroy(evloop);
	evloop = NULL;
}

const char *
loop_name(void)
{
	return use_epoll() ? "epoll (libev)" : "poll (lws)";
}
