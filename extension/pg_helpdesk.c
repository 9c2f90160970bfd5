/*
 * pg_helpdesk.c — module load. The one file above every subsystem: it
 * defines each subsystem's settings, requests the shared memory, registers
 * the launcher and the DDL hook, and tells the worker entry which loop each
 * worker kind runs. Nothing else in the tree names more than its own folder
 * and the folders below it (Makefile SUBSYSTEMS).
 *
 * The library only works from shared_preload_libraries: the workers and
 * their shared registry must exist from startup.
 */
#include "shmem.h"
#include "security.h"
#include "worker.h"
#include "dispatch.h"
#include "tickets.h"
#include "http_engine.h"
#include "bot.h"
#include "automation.h"
#include "security.h"
#include "reports.h"

#include "miscadmin.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_helpdesk must be loaded via shared_preload_libraries"),
				 errhint("Add pg_helpdesk to shared_preload_libraries in postgresql.conf "
						 "(for example shared_preload_libraries = 'pg_helpdesk, pg_cron') "
						 "and restart the server.")));
	hd_define_core_settings();
	hd_define_security_settings();
	hd_uploads_init();
	hd_access_init();
	hd_integrations_init();
	hd_bot_init();
	MarkGUCPrefixReserved("helpdesk");
	hd_shmem_request();
	hd_register_worker(HD_WORKER_PUBLISHER, hd_publisher_run);
	hd_register_worker(HD_WORKER_DISPATCHER, hd_dispatcher_run);
	hd_register_launcher();
	hd_install_utility_hook();
	hd_tickets_init();
	hd_automation_init();
	hd_reports_init();
}
