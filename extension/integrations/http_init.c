/*
 * http_init.c — integrations/ at module load: its settings, the HTTP
 * worker kind, and the job sources it serves (webhooks here; the bot's
 * sources register from their own init).
 */
#include "http_webhook.h"
#include "worker.h"

void
hd_integrations_init(void)
{
	hd_define_integrations_settings();
	hd_register_worker(HD_WORKER_HTTP, hd_http_worker_run);
	hd_http_register_source(&hd_webhook_source);
}
