/*
 * reports.h — reports/: the rollup worker (rollup_worker.c, rollup_step.c)
 * and the report functions' argument checks (report_args.c).
 */
#ifndef HD_REPORTS_H
#define HD_REPORTS_H

#include "hd.h"
#include "shmem.h"

extern int	hd_rollup_interval_ms;
extern int	hd_rollup_batch;
extern int	hd_rollup_max_share;
extern int	hd_rollup_max_lag_ms;
extern bool hd_rollup_enabled;

/* at module load: settings and the rollup worker kind */
extern void hd_reports_init(void);

extern void hd_rollup_worker_run(HdWorkerSlot *w);
/* one step in the caller's transaction: returns events read */
extern int64 hd_rollup_step(int64 *buckets_out);
/* the lock rebuilds and worker steps take (report_args.c) */
extern void hd_rollup_lock(void);

#endif							/* HD_REPORTS_H */
