/*
 * automation_init.c — the subsystem's start-up, called from _PG_init: the
 * shared generation of the task indexes, core's customer-message hook (the
 * matcher), the dispatcher stage (timers and actions) and the HTTP worker's
 * callback source.
 */
#include "automation.h"

void
hd_automation_init(void)
{
	hd_task_shmem_init();
	hd_customer_message_hook = hd_task_on_customer_message;
	hd_task_register_stage();
	hd_task_register_callback_source();
}
