/*
 * http_webhook.h — webhooks: the job source (http_webhook_send.c), the feed
 * from the event log (http_webhook_feed.c), signing and secrets
 * (http_webhook_sign.c), the SQL API (http_webhook_api.c).
 */
#ifndef HD_HTTP_WEBHOOK_H
#define HD_HTTP_WEBHOOK_H

#include "http_engine.h"

#define HD_WEBHOOK_MAX_BODY 20000	/* bytes of a payload; larger ones are cut down */
#define HD_WEBHOOK_FEED_BATCH 5000	/* events read per feed transaction */

/*
 * SQL shared by the feed and replay_webhooks (events_since() rows as e):
 * which copy of an event logged for several audiences a webhook gets, and
 * the payload {type, timestamp, data} with the event, message, session
 * and customer.
 */
#define HD_WEBHOOK_AUDIENCE \
	"(e.audience IN ('session', 'session_staff', 'tenant') " \
	" OR e.type IN ('session.queued', 'session.released', 'agent.updated', 'queue.updated', 'agent.message'))"

#define HD_WEBHOOK_EVENT_BODY(msg, payload) \
	"jsonb_build_object('type', e.type, " \
	"  'timestamp', to_char(e.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), " \
	"  'data', jsonb_build_object('tenant_id', e.tenant_id, 'position', e.pos, " \
	"    'audience', e.audience, 'audience_id', e.audience_id, 'event', " payload ", " \
	"    'message', " msg ") " \
	"  || coalesce((SELECT jsonb_build_object('session', jsonb_build_object('id', s.id, 'state', s.state, " \
	"        'channel', s.channel, 'queue_id', s.queue_id, 'agent_id', s.agent_id, 'issue_type', s.issue_type, " \
	"        'priority', s.priority, 'created_at', s.created_at, 'closed_at', s.closed_at), " \
	"      'customer', CASE WHEN c.id IS NOT NULL THEN jsonb_build_object('id', c.id, 'external_id', c.external_id, " \
	"        'display_name', c.display_name, 'vip_level', c.vip_level, 'language', c.language) END) " \
	"      FROM helpdesk.session s LEFT JOIN helpdesk.customer c ON c.tenant_id = s.tenant_id AND c.id = s.customer_id " \
	"      WHERE s.tenant_id = e.tenant_id AND s.id = e.session_id), " \
	"    '{\"session\": null, \"customer\": null}'::jsonb))::text"

/* an endpoint's filter (w.events) matches the type t */
#define HD_WEBHOOK_MATCH(events, t) \
	"EXISTS (SELECT 1 FROM unnest(" events ") f WHERE f = '*' OR f = " t " " \
	"        OR (right(f, 2) = '.*' AND starts_with(" t ", left(f, -1))))"

/* One delivery being sent (job->data). */
typedef struct WebhookJob
{
	int64		webhook_id;
	int			attempt;
	char	   *msg_id;
	char	   *event_type;
	char	   *body;
	char	   *url;
	bytea	   *secret;
	bytea	   *previous;		/* NULL unless still active */
	int			timeout_ms;
	bool		has_next;		/* the schedule has another attempt */
	int64		next_delay_us;
} WebhookJob;

extern const HdHttpSource hd_webhook_source;
extern int	hd_webhook_disable_after_s;

/* http_webhook_feed.c: published events -> deliveries; true when more wait */
extern bool hd_webhook_feed(void);

/* http_webhook_queue.c: the source's claim, from deliveries claimed ahead */
extern int	hd_webhook_claim(HdHttpClaim *claim, int max);
extern bool hd_webhook_queued(void);

/* http_webhook_sign.c */
extern char *hd_webhook_new_secret(void);
extern void hd_webhook_check_secret(const char *secret);
extern char *hd_webhook_signature(const char *secret, const char *msg_id, int64 timestamp,
								  const char *body, size_t body_len);
extern char *hd_webhook_context(int64 tenant_id);

#endif							/* HD_HTTP_WEBHOOK_H */
