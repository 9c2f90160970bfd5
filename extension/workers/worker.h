/*
 * worker.h — what the per-database worker loops share with worker.c.
 */
#ifndef HD_WORKER_H
#define HD_WORKER_H

#include "shmem.h"

#include <signal.h>

extern volatile sig_atomic_t hd_got_sigterm;
extern volatile sig_atomic_t hd_worker_in_pass;

extern bool hd_extension_present(void);
extern void hd_worker_check_sigterm(void);
extern void hd_worker_pin_search_path(void);
extern void hd_worker_lower_priority(int nice);
extern void hd_worker_exit_absent(void) pg_attribute_noreturn();
/*
 * First thing in a pass's PG_CATCH: ends the pass, copies the error into
 * cxt (the loop's context), clears the error state and aborts the
 * transaction; the caller logs the error and frees it (FreeErrorData).
 */
extern ErrorData *hd_worker_abort_pass(MemoryContext cxt);
/*
 * One pass of a worker loop in a transaction of its own: checks that the
 * extension is still there, runs before (if any; e.g. a lock that must be
 * taken before the snapshot), connects SPI, pushes a snapshot, runs body and
 * commits. isolation is an XACT_* level, or -1 for the default. NULL on
 * success; after an error the transaction is rolled back and the error is
 * returned, copied into the caller's memory context, for the caller to log
 * and free (FreeErrorData). The activity shown is back to idle either way.
 */
typedef void (*HdXactStep) (void *arg);
extern ErrorData *hd_worker_run_in_xact(HdXactStep before, HdXactStep body, void *arg,
										int isolation);
/* the loop a worker kind runs once connected (registered at module load) */
typedef void (*HdWorkerLoop) (HdWorkerSlot *w);
extern void hd_register_worker(HdWorkerKind kind, HdWorkerLoop loop);

extern void hd_publisher_run(HdWorkerSlot *w);

/* plan_refresh.c: replan statements over tables that doubled or halved */
extern int	hd_refresh_stale_plans(void);

#endif							/* HD_WORKER_H */
