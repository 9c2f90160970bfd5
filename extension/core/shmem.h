/*
 * shmem.h — the shared-memory registry of per-database background workers.
 *
 * One slot per database the launcher knows about. Backends read it without a
 * lock on the COMMIT path (an aligned Oid and a latch pointer are read
 * atomically; a stale latch only causes a spurious wakeup); everything that
 * changes slot ownership or state holds hd->lock.
 */
#ifndef HD_SHMEM_H
#define HD_SHMEM_H

#include "hd.h"
#include "port/atomics.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/spin.h"

typedef enum HdDbState
{
	HD_DB_FREE = 0,				/* slot unused */
	HD_DB_UNKNOWN,				/* not yet probed: start workers to find out */
	HD_DB_ACTIVE,				/* extension present, workers wanted */
	HD_DB_ABSENT,				/* extension not installed: nothing to run */
	HD_DB_PAUSED				/* DROP/RENAME/TEMPLATE in progress: stay away */
} HdDbState;

typedef struct HdWorkerSlot
{
	pid_t		pid;			/* 0 when not running */
	Latch	   *latch;			/* the worker's MyLatch while running */
	pg_atomic_uint32 pending;	/* set by committing backends */
	TimestampTz restart_after;	/* backoff after an unexpected exit */
	int			failures;		/* consecutive unexpected exits */
	/* for helpdesk.metrics(): monotonic while the server runs */
	pg_atomic_uint64 restarts;	/* unexpected exits (the launcher counts) */
	pg_atomic_uint64 passes;	/* passes of the worker's main work */
	pg_atomic_uint64 pass_us;	/* their summed duration, microseconds */
	pg_atomic_uint64 last_pass_us;	/* the latest one's */
	pg_atomic_uint64 rows_read;	/* the dispatcher: agent rows it read */
	/* the dispatcher's backpressure (backpressure.c) */
	pg_atomic_uint64 wake_since;	/* first wake not yet taken (backends stamp) */
	pg_atomic_uint64 behind_since;	/* oldest due work not begun, 0: none */
	pg_atomic_uint64 backpressure_waits;	/* client calls that waited */
	pg_atomic_uint64 backpressure_us;	/* and how long, summed */
} HdWorkerSlot;

/* backpressure.c: the dispatcher's wakes and how far behind it is */
extern void hd_dispatch_stamp_wake(HdWorkerSlot *w);
extern TimestampTz hd_dispatch_take_wake(HdWorkerSlot *w, TimestampTz now);
extern void hd_dispatch_set_behind(HdWorkerSlot *w, TimestampTz since);

/* a worker adds one pass of us microseconds to its counters */
extern void hd_worker_count_pass(HdWorkerSlot *w, int64 us);
extern void hd_worker_slot_init_counters(HdWorkerSlot *w);

/*
 * Agents whose routing columns changed, in commit order (wake.c writes,
 * the dispatcher reads: routing/dispatch_agents.c). A reader that fell more
 * than HD_AGENT_RING entries behind has lost some and reloads everything.
 */
#define HD_AGENT_RING 1024

typedef struct HdAgentRing
{
	slock_t		mutex;
	uint64		head;			/* entries ever written */
	int64		tenant_id[HD_AGENT_RING];
	int64		agent_id[HD_AGENT_RING];	/* 0: every agent of the tenant */
} HdAgentRing;

typedef struct HdDbSlot
{
	Oid			dboid;
	HdDbState	state;
	TimestampTz paused_until;
	HdWorkerSlot workers[HD_NUM_WORKER_KINDS];
	HdAgentRing agent_changes;
} HdDbSlot;

/*
 * Copy entries after *tail into the arrays (at most max); *tail moves past
 * them. Returns how many were copied, or -1 when entries were overwritten
 * before we read them (then *tail jumps to the head).
 */
extern int	hd_agent_ring_read(HdDbSlot *slot, uint64 *tail, int64 *tenants, int64 *agents,
							   int max);

typedef struct HdShared
{
	LWLock	   *lock;
	pid_t		launcher_pid;
	Latch	   *launcher_latch;
	pg_atomic_uint32 rescan;	/* someone asks the launcher to look again */
	pg_atomic_uint64 fence_gen; /* bumped at COMMIT of a tenant_fence change */
	int			nslots;
	HdDbSlot	slots[FLEXIBLE_ARRAY_MEMBER];
} HdShared;

extern HdShared *hd_shared;
extern const char *const hd_worker_kind_names[HD_NUM_WORKER_KINDS];

extern HdDbSlot *hd_find_db_slot(Oid dboid);
extern void hd_wake_launcher(void);

#endif							/* HD_SHMEM_H */
