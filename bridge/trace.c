/*
 * trace.c — where the time of the event path goes.
 *
 * Always on, for /metrics: the loop's passes. With the libev loop, every
 * iteration's callbacks run inside one ev_invoke_pending(), timed here (the
 * wait for sockets is not in it); a pass over LOOP_SLOW_US delays every
 * event and socket behind it. Pieces of work that run from timers or from a
 * read are timed too (trace_section): one that used LOOP_SLOW_US of CPU is
 * counted and, with -v, any over it in wall time is logged with its name and
 * CPU time, so a slow pass says what it ran.
 *
 * With --trace-events FILE (a debug option for bench/bridge.sh): for every
 * event read into the ring, the hops it went through on the bridge, one
 * line when it leaves the ring or at exit, microseconds since the epoch:
 *
 *   pos created_us notify_us sent_us read_us first_write_us last_write_us writes
 *
 * notify_us: the first NOTIFY received since the previous read was sent
 * (0: the read was started otherwise: reconnect, position check, a full
 * chunk); sent_us: the read went to the database; read_us: its rows were
 * in; first/last_write_us: the event was handed to a socket (lws_write)
 * for the first and last time. The database side (commit of the event,
 * the publisher's pass and its commit) is in the tables when
 * track_commit_timestamp is on. Nothing is written in the loop but stdio
 * buffer appends; off, every hook is a test of one flag.
 */
#include "relay.h"
#include "trace.h"

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef struct TraceEv
{
	int64_t		pos;
	int64_t		created_us;
	int64_t		notify_us;
	int64_t		sent_us;
	int64_t		read_us;
	int64_t		first_write_us;
	int64_t		last_write_us;
	uint32_t	writes;
} TraceEv;

bool		trace_on;
TraceStats	trace_stats;

static FILE *out;
static TraceEv *evs;
static int64_t nevs;
static int64_t unread_notify_us;	/* first NOTIFY since the last read was sent */
static int64_t read_notify_us;		/* ... of the read in flight */
static int64_t read_sent_us;

int64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t
cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

TraceMark
trace_mark(void)
{
	TraceMark	m = {mono_us(), cpu_us()};

	return m;
}

/*
 * A section counts as slow by its CPU time: on a busy machine the wall
 * clock also holds the time the process waited for a core, which the
 * section cannot shorten (a pass's wall time, in trace_stats, holds both).
 */
void
trace_section(const char *name, TraceMark t0)
{
	int64_t		wall = mono_us() - t0.wall_us,
				cpu;

	if (wall < LOOP_SLOW_US)
		return;
	cpu = cpu_us() - t0.cpu_us;
	if (cpu >= LOOP_SLOW_US)
	{
		trace_stats.slow_sections++;
		if (cpu > trace_stats.section_max_us)
			trace_stats.section_max_us = cpu;
	}
	if (cfg.verbose)
		blog(BLOG_INFO, "slow in the loop: %s took %lld us (%lld us of CPU)", name,
			 (long long) wall, (long long) cpu);
}

static void
invoke_pending(struct ev_loop *loop)
{
	int64_t		t0 = mono_us(),
				us;

	ev_invoke_pending(loop);
	us = mono_us() - t0;
	trace_stats.passes++;
	trace_stats.busy_us += (uint64_t) us;
	if (us >= LOOP_SLOW_US)
		trace_stats.slow_passes++;
	if (us > trace_stats.pass_max_us)
		trace_stats.pass_max_us = us;
}

void
trace_loop(void *evloop)
{
	ev_set_invoke_pending_cb((struct ev_loop *) evloop, invoke_pending);
}

static void
emit(const TraceEv *t)
{
	fprintf(out, "%lld %lld %lld %lld %lld %lld %lld %u\n",
			(long long) t->pos, (long long) t->created_us, (long long) t->notify_us,
			(long long) t->sent_us, (long long) t->read_us, (long long) t->first_write_us,
			(long long) t->last_write_us, t->writes);
}

void
trace_init(void)
{
	if (cfg.trace_events == NULL)
		return;
	out = fopen(cfg.trace_events, "w");
	if (out == NULL)
	{
		blog(BLOG_ERR, "cannot write --trace-events %s", cfg.trace_events);
		exit(1);
	}
	nevs = cfg.ring_size;
	evs = calloc((size_t) nevs, sizeof(TraceEv));
	trace_on = true;
	blog(BLOG_INFO, "tracing the event path to %s", cfg.trace_events);
}

void
trace_notify_(void)
{
	if (unread_notify_us == 0)
		unread_notify_us = now_us();
}

void
trace_read_sent_(void)
{
	read_notify_us = unread_notify_us;
	unread_notify_us = 0;
	read_sent_us = now_us();
}

void
trace_read_row_(int64_t pos, int64_t created_us, int64_t read_us)
{
	TraceEv    *t = &evs[pos % nevs];

	if (t->pos != 0 && t->pos != pos)
		emit(t);				/* leaves the ring */
	t->pos = pos;
	t->created_us = created_us;
	t->notify_us = read_notify_us;
	t->sent_us = read_sent_us;
	t->read_us = read_us;
	t->first_write_us = t->last_write_us = 0;
	t->writes = 0;
}

void
trace_write_(int64_t pos, int64_t now)
{
	TraceEv    *t = &evs[pos % nevs];

	if (t->pos != pos)
		return;
	if (t->writes++ == 0)
		t->first_write_us = now;
	t->last_write_us = now;
}

void
trace_close(void)
{
	if (!trace_on)
		return;
	for (int64_t i = 0; i < nevs; i++)
		if (evs[i].pos != 0)
			emit(&evs[i]);
	fclose(out);
	free(evs);
	evs = NULL;
	trace_on = false;
}
