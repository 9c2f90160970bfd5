/*
 * http_sign_job.c — the Standard Webhooks headers (webhook-id,
 * webhook-timestamp, webhook-signature) for a job signed with one secret,
 * as bot requests and trigger-task callbacks send them. Webhook deliveries
 * sign in http_webhook_send.c (their id is the message id and a rotated
 * secret adds a second signature).
 */
#include "http_engine.h"
#include "http_webhook.h"

#include <time.h>

/* see http_engine.h */
void
hd_http_sign_job(HdHttpJob *job, const char *secret, const char *id_prefix)
{
	char	   *id = psprintf("%s_%lld_%lld", id_prefix, (long long) job->tenant_id,
							  (long long) job->row_id);
	int64		ts = (int64) time(NULL);

	hd_http_add_header(job, "webhook-id", id);
	hd_http_add_header(job, "webhook-timestamp", psprintf(INT64_FORMAT, ts));
	hd_http_add_header(job, "webhook-signature",
					   hd_webhook_signature(secret, id, ts, job->request.body, job->request.body_len));
}
