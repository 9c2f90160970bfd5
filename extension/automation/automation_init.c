/*
 * automation_init.c — the subsystem's start-up, called from _PG_init: the
 * shared generation of the task indexes, core's customer-message hook (the
 * matcher), the dispatcher stage (task timers and actions), the rules
 * worker (automation rules and time rules) and the HTTP worker's callback
 * source.
 */
#include "automation.h"
#include "rule.h"

void
hd_automation_init(void)
{
	hd_task_shmem_init();
	hd_customer_message_hook = hd_task_on_customer_message;
	hd_task_register_stage();
	hd_task_register_callback_source();
	hd_rule_register_worker();
}
