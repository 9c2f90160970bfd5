/*
 * hoptrace.c — a bench-only record of where an event's time goes in the
 * bridge, and of loop iterations that keep everything else waiting.
 *
 * Off unless the environment names a file: HD_BRIDGE_HOP_TRACE=PATH
 * (bench/bridge.sh sets it). Off, each hook is one branch on a bool.
 * On, the file gets one line per event read from the database:
 *
 *   e POS NOTIFY_US SENT_US FETCHED_US WRITTEN_US
 *
 * (the NOTIFY that caused the read arrived, the read was sent, its answer
 * was handled, the first socket write of a frame holding the event; wall
 * clock, microseconds), and one line per loop iteration whose handling
 * took more than a millisecond:
 *
 *   b BUSY_US AT_US CPU_US
 *
 * (wall time, when it began, and the CPU time the loop used in it: a pass
 * far longer than its CPU time was preempted, not slow)
 *
 * Combined with the event's commit and its batch's commit (both from
 * track_commit_timestamp) this splits commit -> client into publisher,
 * NOTIFY, read, fan-out and client hops. Lines are kept in memory and
 * written at exit, so the record costs no system call while measuring.
 */
#include "relay.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct Hop
{
	int64_t		pos,
				notify_us,
				sent_us,
				fetched_us,
				written_us;
} Hop;

#define MAX_HOPS (1 << 20)
#define MAX_BUSY (1 << 16)

bool		hoptrace_on;
static char *path;
static Hop *hops;
static int64_t nhops;
static int64_t first_pos = -1;	/* hops[i] is position first_pos + i */
static int64_t pending_us,		/* first NOTIFY that no read sent yet answers */
			notify_us,			/* the NOTIFY the read in flight answers */
			sent_us;
static int64_t (*busy)[3];
static int	nbusy;

void
hoptrace_init(void)
{
	const char *p = getenv("HD_BRIDGE_HOP_TRACE");

	if (p == NULL || *p == '\0')
		return;
	path = strdup(p);
	hops = calloc(MAX_HOPS, sizeof(Hop));
	busy = calloc(MAX_BUSY, sizeof(*busy));
	hoptrace_on = hops != NULL && busy != NULL && path != NULL;
}

void
hoptrace_notify(void)
{
	if (pending_us == 0)
		pending_us = now_us();
}

/* a read was sent: it answers the NOTIFYs that arrived before it */
void
hoptrace_sent(void)
{
	sent_us = now_us();
	notify_us = pending_us;
	pending_us = 0;
}

/* an event of the read that began at sent_us was appended */
void
hoptrace_fetched(int64_t pos)
{
	Hop		   *h;

	if (first_pos < 0)
		first_pos = pos;
	if (pos < first_pos || pos - first_pos >= MAX_HOPS)
		return;
	h = &hops[pos - first_pos];
	h->pos = pos;
	h->notify_us = notify_us;
	h->sent_us = sent_us;
	h->fetched_us = now_us();
	if (pos - first_pos + 1 > nhops)
		nhops = pos - first_pos + 1;
}

/* events from..to were packed into a frame being written: the first time counts */
void
hoptrace_written(int64_t from, int64_t to)
{
	int64_t		now = now_us();

	if (first_pos < 0)
		return;
	for (int64_t p = from < first_pos ? first_pos : from; p <= to && p - first_pos < nhops; p++)
		if (hops[p - first_pos].written_us == 0)
			hops[p - first_pos].written_us = now;
}

void
hoptrace_busy(int64_t busy_us, int64_t cpu_us, int64_t at_us)
{
	if (nbusy < MAX_BUSY)
	{
		busy[nbusy][0] = busy_us;
		busy[nbusy][1] = at_us;
		busy[nbusy][2] = cpu_us;
		nbusy++;
	}
}

void
hoptrace_write(void)
{
	FILE	   *f;

	if (!hoptrace_on)
		return;
	f = fopen(path, "w");
	if (f == NULL)
		blog(BLOG_WARN, "cannot write the hop trace to %s", path);
	else
	{
		for (int64_t i = 0; i < nhops; i++)
			if (hops[i].pos)
				fprintf(f, "e %lld %lld %lld %lld %lld\n", (long long) hops[i].pos,
						(long long) hops[i].notify_us, (long long) hops[i].sent_us,
						(long long) hops[i].fetched_us, (long long) hops[i].written_us);
		for (int i = 0; i < nbusy; i++)
			fprintf(f, "b %lld %lld %lld\n", (long long) busy[i][0], (long long) busy[i][1],
					(long long) busy[i][2]);
		fclose(f);
	}
	free(hops);
	free(busy);
	free(path);
	hoptrace_on = false;
}
