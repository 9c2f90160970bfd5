/*
 * settings.c — the core's settings (GUCs helpdesk.*) and their variables.
 * Defined at module load (pg_helpdesk.c) with the other subsystems'; the
 * prefix is reserved after all of them.
 */
#include "hd.h"

#include "utils/guc.h"

int			hd_max_message_bytes = 16384;
int			hd_publisher_batch_size = 10000;
int			hd_max_databases = 32;
int			hd_launcher_naptime = 60;
int			hd_publisher_min_interval_ms = 2;
int			hd_dispatch_batch_size = 2000;
int			hd_dispatch_verify_interval_ms = 10000;
int			hd_position_interval_ms = 1000;

void
hd_define_core_settings(void)
{
	DefineCustomIntVariable("helpdesk.max_message_bytes",
							"Largest message body (and attachment/options JSON) post_message accepts, in bytes.",
							NULL, &hd_max_message_bytes, 16384, 64, 1048576,
							PGC_SUSET, GUC_UNIT_BYTE, NULL, NULL, NULL);
	DefineCustomIntVariable("helpdesk.publisher_batch_size",
							"Most events the publisher numbers in one transaction.",
							NULL, &hd_publisher_batch_size, 10000, 1, 1000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("helpdesk.publisher_min_interval",
							"Under load, least time between two publishing passes; commits arriving meanwhile are published together.",
							"Applies only after a pass that published 32 events or more; at lower rates a commit is published at once. 0: never wait. Bounds the added commit-to-NOTIFY latency under load.",
							&hd_publisher_min_interval_ms, 2, 0, 1000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("helpdesk.max_databases",
							"Most databases that can run pg_helpdesk workers at once.",
							NULL, &hd_max_databases, 32, 1, 4096,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("helpdesk.launcher_naptime",
							"Seconds between the launcher's checks for new or dropped databases.",
							NULL, &hd_launcher_naptime, 60, 1, 3600,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("helpdesk.dispatch_verify_interval",
							"How often the dispatcher reads each routed tenant's agents in full.",
							"Between full reads it reads only the agents whose routing columns changed; 0 reads every pass in full.",
							&hd_dispatch_verify_interval_ms, 10000, 0, 3600000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("helpdesk.dispatch_batch_size",
							"Most waiting sessions per queue the dispatcher considers in one pass.",
							NULL, &hd_dispatch_batch_size, 2000, 1, 1000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("helpdesk.position_interval",
							"How often the dispatcher recomputes queue positions and pushes changed ones to customers.",
							NULL, &hd_position_interval_ms, 1000, 100, 60000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("helpdesk.dispatch_backpressure_after",
							"How late the dispatcher's oldest due work may be before session calls wait for it.",
							"Session calls (start, accept, decline, claim, close, transfer, post a message) then sleep before they start, for the lateness past this value and at most helpdesk.dispatch_backpressure_max_wait, so that a saturated machine leaves the dispatcher the CPU its timers and passes need. 0: never wait.",
							&hd_backpressure_after_ms, 250, 0, 60000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("helpdesk.dispatch_backpressure_max_wait",
							"Longest a session call waits for a dispatcher that is behind.",
							NULL, &hd_backpressure_max_wait_ms, 1000, 1, 60000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
}
