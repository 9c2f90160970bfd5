/*
 * priority.c — a worker's share of the CPU against the cluster's backends.
 *
 * Every PostgreSQL child calls setsid(), and on kernels with autogroup
 * scheduling (Debian's default: /proc/sys/kernel/sched_autogroup_enabled)
 * each session is its own scheduling group. The scheduler first shares the
 * CPU fairly between groups, so a process's nice value only weighs against
 * the other processes of its own group — here, none. Measured on a 2-core
 * machine under the routing stress test: a rollup worker at nice 10 still
 * took 12-18% of the CPU, and a dispatcher at nice -10 got no more than at
 * 0. The group's nice (/proc/self/autogroup) is what the scheduler weighs,
 * so a worker sets both: the process nice where autogroup is off, the
 * group's where it is on.
 *
 * Raising the dispatcher's priority instead (nice -10 with RLIMIT_NICE) was
 * tried and made its timers later, not earlier: it then took the CPU from
 * the very backends holding the rows it waits for (heartbeat batches went
 * late, agents dropped offline in bulk). So workers only lower theirs.
 */
#include "postgres.h"

#include "worker.h"

#include "postmaster/bgworker.h"

#include <errno.h>
#include <stdio.h>
#include <sys/resource.h>

/*
 * Lower the calling worker's CPU priority to nice (1..19): the process's
 * and, where autogroup scheduling is on, its group's. Lowering is always
 * allowed; a failure is only logged (a worker at the default priority
 * still works).
 */
void
hd_worker_lower_priority(int nice)
{
	FILE	   *f;
	int			written,
				closed;

	Assert(nice > 0 && nice <= 19);
	if (setpriority(PRIO_PROCESS, 0, nice) != 0)
		elog(LOG, "pg_helpdesk: could not lower the process priority of %s: %m",
			 MyBgworkerEntry ? MyBgworkerEntry->bgw_name : "a worker");
	f = fopen("/proc/self/autogroup", "w");
	if (f == NULL)
		return;					/* no autogroup scheduling: the process nice is what counts */
	written = fprintf(f, "%d", nice);
	closed = fclose(f);			/* the write happens here, at the flush */
	if (written < 0 || closed != 0)
		elog(LOG, "pg_helpdesk: could not lower the scheduling group priority of %s: %m",
			 MyBgworkerEntry ? MyBgworkerEntry->bgw_name : "a worker");
}
