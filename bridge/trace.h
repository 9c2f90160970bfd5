/*
 * trace.h — timings of the loop and of the event path (trace.c).
 */
#ifndef BRIDGE_TRACE_H
#define BRIDGE_TRACE_H

#include <stdbool.h>
#include <stdint.h>

/* a pass of the loop, or a piece of one, longer than this delays what waits behind it */
#define LOOP_SLOW_US 1000

typedef struct TraceStats
{
	uint64_t	passes;			/* loop iterations that ran callbacks */
	uint64_t	busy_us;		/* time spent in them */
	uint64_t	slow_passes;	/* ... LOOP_SLOW_US or longer */
	int64_t		pass_max_us;	/* longest */
	uint64_t	slow_sections;	/* trace_section()s of LOOP_SLOW_US of CPU time or more */
	int64_t		section_max_us;	/* the most CPU time of one */
} TraceStats;

extern bool trace_on;			/* --trace-events */
extern TraceStats trace_stats;

extern int64_t mono_us(void);
extern void trace_init(void);
extern void trace_close(void);
extern void trace_loop(void *evloop);	/* libev: time every pass */
/* when a piece of loop work started: wall clock and this thread's CPU time */
typedef struct TraceMark
{
	int64_t		wall_us;
	int64_t		cpu_us;
} TraceMark;
extern TraceMark trace_mark(void);
/* the piece of loop work named name that started at t0 is over */
extern void trace_section(const char *name, TraceMark t0);

extern void trace_notify_(void);
extern void trace_read_sent_(void);
extern void trace_read_row_(int64_t pos, int64_t created_us, int64_t read_us);
extern void trace_write_(int64_t pos, int64_t now);

#define trace_notify() do { if (trace_on) trace_notify_(); } while (0)
#define trace_read_sent() do { if (trace_on) trace_read_sent_(); } while (0)
#define trace_read_row(p, c, r) do { if (trace_on) trace_read_row_((p), (c), (r)); } while (0)
#define trace_write(p, n) do { if (trace_on) trace_write_((p), (n)); } while (0)

#endif							/* BRIDGE_TRACE_H */
