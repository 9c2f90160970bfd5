/*
 * http_settings.c — the settings of the HTTP worker and of secrets at rest
 * (GUCs helpdesk.http_*, helpdesk.encryption_key_file).
 */
#include "http_webhook.h"

#include "utils/guc.h"

int			hd_http_max_in_flight = 256;
int			hd_http_max_in_flight_per_endpoint = 32;
int			hd_http_connect_timeout_ms = 5000;
int			hd_http_timeout_ms = 15000;
char	   *hd_http_allowed_hosts = NULL;
char	   *hd_http_proxy = NULL;
char	   *hd_encryption_key_file = NULL;

void
hd_define_integrations_settings(void)
{
	DefineCustomIntVariable("helpdesk.http_max_in_flight",
							"Most HTTP requests the HTTP worker of a database has in flight at once.",
							"Bounds sockets and memory whatever the backlog.",
							&hd_http_max_in_flight, 256, 1, 10000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("helpdesk.http_max_in_flight_per_endpoint",
							"Most HTTP requests in flight to one endpoint (a webhook, a bot) unless the endpoint sets its own.",
							NULL, &hd_http_max_in_flight_per_endpoint, 32, 1, 10000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("helpdesk.http_connect_timeout",
							"Default connect timeout of the HTTP worker's requests.",
							NULL, &hd_http_connect_timeout_ms, 5000, 100, 60000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("helpdesk.http_timeout",
							"Default total timeout of the HTTP worker's requests.",
							NULL, &hd_http_timeout_ms, 15000, 100, 300000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomStringVariable("helpdesk.http_allowed_hosts",
							   "Host names and CIDRs the HTTP worker may reach although they are loopback, private, link-local or multicast.",
							   "Comma-separated, e.g. 'localhost, 127.0.0.1/32, 10.1.0.0/16'. Empty: no such address is reached.",
							   &hd_http_allowed_hosts, "",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("helpdesk.http_proxy",
							   "Proxy of the HTTP worker (curl syntax, e.g. http://proxy:3128). Empty: none; proxy environment variables are ignored.",
							   NULL, &hd_http_proxy, "",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("helpdesk.encryption_key_file",
							   "File holding the 256-bit key that encrypts secrets at rest (webhook signing secrets, bot API keys).",
							   "64 hex digits (e.g. from openssl rand -hex 32), readable by the server's OS user only.",
							   &hd_encryption_key_file, "",
							   PGC_SUSET, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomIntVariable("helpdesk.webhook_disable_after",
							"How long a webhook endpoint may fail without a success before the HTTP worker disables it.",
							NULL, &hd_webhook_disable_after_s, 5 * 86400, 1, 365 * 86400,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
}
