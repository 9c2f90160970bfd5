/*
 * worker.h — what the per-database worker loops share with worker.c.
 */
#ifndef HD_WORKER_H
#define HD_WORKER_H

#include "shmem.h"

extern bool hd_extension_present(void);
extern void hd_worker_exit_absent(void) pg_attribute_noreturn();
extern void hd_publisher_run(HdWorkerSlot *w);

#endif							/* HD_WORKER_H */
