/*
 * backpressure.c — the calls that bring the dispatcher work wait a little
 * while its timers run late.
 *
 * Why: on a saturated machine the dispatcher is one process among the many
 * backends it serves, and Linux's scheduler (autogroups: every PostgreSQL
 * process is a session of its own) gives each runnable process about the
 * same share. With 64 busy connections on 2 cores the dispatcher got ~6% of
 * a core, and offers, waits and idle checks fired 7-18 s late. It cannot
 * raise its own priority (no CAP_SYS_NICE), so the clients yield instead:
 * while the dispatcher's oldest due work (a routing timer, or a change no
 * assignment pass has seen) is more than helpdesk.dispatch_backpressure_after
 * late, a session call (start, accept,
 * decline, close, transfer, post a message) sleeps before it does anything,
 * longer the later the timers are (at most
 * helpdesk.dispatch_backpressure_max_wait), and stops sleeping as soon as
 * the dispatcher has caught up. The clients slow down; the timers do not.
 *
 * The dispatcher publishes, at every turn of its loop, since when its
 * oldest unbegun work has been due: the oldest timer it has not fired, or
 * the oldest wake (a committed change: a session to place, a freed slot) no
 * assignment pass has begun after. It is a "since", not a lateness, so the
 * lateness backends compute keeps growing while the dispatcher waits for a
 * CPU and cannot update anything. Nothing waits when
 * the dispatcher is not running, in background workers, or with the
 * setting at 0.
 */
#include "hd.h"
#include "shmem.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "utils/timestamp.h"

int			hd_backpressure_after_ms = 250;
int			hd_backpressure_max_wait_ms = 1000;

/* the slice a waiting call sleeps before it looks again */
#define SLICE_MS 10

static HdWorkerSlot *
dispatcher_slot(void)
{
	HdDbSlot   *slot = hd_find_db_slot(MyDatabaseId);

	if (slot == NULL || slot->state != HD_DB_ACTIVE)
		return NULL;
	return &slot->workers[HD_WORKER_DISPATCHER];
}

/*
 * A committing backend that wakes the dispatcher notes when, unless an
 * earlier wake is still untaken. Stamped before the pending flag is set, so
 * the dispatcher that sees the flag finds the stamp.
 */
void
hd_dispatch_stamp_wake(HdWorkerSlot *w)
{
	uint64		zero = 0;

	if (pg_atomic_read_u64(&w->wake_since) == 0)
		(void) pg_atomic_compare_exchange_u64(&w->wake_since, &zero,
											  (uint64) GetCurrentTimestamp());
}

/* The dispatcher took the pending flag: when the oldest of those wakes came. */
TimestampTz
hd_dispatch_take_wake(HdWorkerSlot *w, TimestampTz now)
{
	uint64		since = pg_atomic_exchange_u64(&w->wake_since, 0);

	return since == 0 || (TimestampTz) since > now ? now : (TimestampTz) since;
}

/*
 * The dispatcher, at every turn of its loop and before it sleeps: since is
 * when the oldest work it has not begun came due (a timer's due time, or the
 * wake of a change no assignment pass has seen yet), 0 when there is none.
 * It is not touched during a turn, so while a long run of timers waits for
 * the CPU the lateness the backends read keeps growing.
 */
void
hd_dispatch_set_behind(HdWorkerSlot *w, TimestampTz since)
{
	if (pg_atomic_read_u64(&w->behind_since) != (uint64) since)
		pg_atomic_write_u64(&w->behind_since, (uint64) since);
}

/*
 * How late the dispatcher's oldest due work is now, in ms (0: on time):
 * what it published, or a wake it has not taken (a dispatcher waiting for
 * the CPU, or in a long turn, takes none and publishes nothing).
 */
static int64
dispatcher_lag_ms(HdWorkerSlot *w, TimestampTz now)
{
	uint64		since = pg_atomic_read_u64(&w->behind_since);
	uint64		woke = pg_atomic_read_u64(&w->wake_since);

	if (woke != 0 && (since == 0 || woke < since))
		since = woke;
	if (since == 0 || w->pid == 0 || (TimestampTz) since >= now)
		return 0;
	return (now - (TimestampTz) since) / 1000;
}

/*
 * A session call from a client: wait while the dispatcher is behind. The
 * wait is (lateness - after), at most max_wait, in slices, and ends early
 * when the dispatcher catches up. It happens before the call takes any lock
 * of its own. Interrupts (cancel, terminate) are served in every slice.
 */
void
hd_dispatch_backpressure(void)
{
	HdWorkerSlot *w;
	TimestampTz start,
				deadline,
				now;
	int64		lag;

	if (hd_backpressure_after_ms <= 0 || MyBackendType != B_BACKEND)
		return;
	if ((w = dispatcher_slot()) == NULL)
		return;
	/* the common case, on time: two atomic reads, no clock */
	if (pg_atomic_read_u64(&w->behind_since) == 0 && pg_atomic_read_u64(&w->wake_since) == 0)
		return;
	start = GetCurrentTimestamp();
	lag = dispatcher_lag_ms(w, start);
	if (lag <= hd_backpressure_after_ms)
		return;
	deadline = TimestampTzPlusMilliseconds(start, Min(lag - hd_backpressure_after_ms,
													  (int64) hd_backpressure_max_wait_ms));
	now = start;
	while (now < deadline && dispatcher_lag_ms(w, now) > hd_backpressure_after_ms / 2)
	{
		long		ms = Min((long) SLICE_MS, (long) ((deadline - now + 999) / 1000));

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Max(ms, 1L), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		now = GetCurrentTimestamp();
	}
	pg_atomic_fetch_add_u64(&w->backpressure_waits, 1);
	pg_atomic_fetch_add_u64(&w->backpressure_us, (uint64) (now - start));
}
