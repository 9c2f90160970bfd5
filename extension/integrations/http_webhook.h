/*
 * http_webhook.h — webhooks: the job source (http_webhook_send.c), the feed
 * from the event log (http_webhook_feed.c), signing and secrets
 * (http_webhook_sign.c), the SQL API (http_webhook_api.c).
 */
#ifndef HD_HTTP_WEBHOOK_H
#define HD_HTTP_WEBHOOK_H

#include "http_engine.h"

#define HD_WEBHOOK_MAX_BODY 20000	/* bytes of a payload; larger ones are cut down */
#define HD_WEBHOOK_FEED_BATCH 2048	/* events read per feed transaction */

/*
 * SQL shared by the feed and replay_webhooks (events_since() rows as e):
 * which copy of an event logged for several audiences a webhook gets (a
 * session's csat.submitted: its session_staff copy, not the tenant's), and
 * the payload {type, timestamp, data} with the event, message, session
 * (or, for an event of a ticket without a session: payload.ticket_id, the
 * ticket) and customer (the session's or the ticket's).
 */
#define HD_WEBHOOK_AUDIENCE \
	"(e.audience IN ('session', 'session_staff') " \
	" OR (e.audience = 'tenant' AND NOT (e.type = 'csat.submitted' AND e.session_id IS NOT NULL)) " \
	" OR e.type IN ('session.queued', 'session.released', 'agent.updated', 'queue.updated', 'agent.message'))"

#define HD_WEBHOOK_EVENT_BODY(msg, payload) \
	"jsonb_build_object('type', e.type, " \
	"  'timestamp', to_char(e.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), " \
	"  'data', jsonb_build_object('tenant_id', e.tenant_id, 'position', e.pos, " \
	"    'audience', e.audience, 'audience_id', e.audience_id, 'event', " payload ", " \
	"    'message', " msg ") " \
	"  || (SELECT jsonb_build_object('session', CASE WHEN s.id IS NOT NULL THEN jsonb_build_object('id', s.id, " \
	"        'state', s.state, 'channel', s.channel, 'queue_id', s.queue_id, 'agent_id', s.agent_id, " \
	"        'issue_type', s.issue_type, 'priority', s.priority, 'created_at', s.created_at, 'closed_at', s.closed_at) END, " \
	"      'ticket', CASE WHEN tk.id IS NOT NULL THEN jsonb_build_object('id', tk.id, 'number', tk.number, " \
	"        'subject', tk.subject, 'status', tk.status, 'priority', tk.priority, 'issue_type', tk.issue_type, " \
	"        'queue_id', tk.queue_id, 'assignee_id', tk.assignee_id, 'channel', tk.channel, 'tags', tk.tags, " \
	"        'session_id', tk.session_id, 'created_at', tk.created_at, 'updated_at', tk.updated_at, " \
	"        'resolved_at', tk.resolved_at, 'closed_at', tk.closed_at) END, " \
	"      'customer', CASE WHEN c.id IS NOT NULL THEN jsonb_build_object('id', c.id, 'external_id', c.external_id, " \
	"        'display_name', c.display_name, 'vip_level', c.vip_level, 'language', c.language) END) " \
	"      FROM (SELECT 1) one " \
	"      LEFT JOIN helpdesk.session s ON s.tenant_id = e.tenant_id AND s.id = e.session_id " \
	"      LEFT JOIN helpdesk.ticket tk ON e.session_id IS NULL AND tk.tenant_id = e.tenant_id " \
	"        AND tk.id = (e.payload->>'ticket_id')::int8 " \
	"      LEFT JOIN helpdesk.customer c ON c.tenant_id = e.tenant_id AND c.id = coalesce(s.customer_id, tk.customer_id)))::text"

/*
 * The columns hd_webhook_build_body() reads (events_since rows as e, the
 * message m, the session s, the ticket tk of an event without a session,
 * the customer c of either), in this order.
 */
#define HD_WEBHOOK_BODY_COLUMNS \
	"e.type, e.audience, e.audience_id, e.payload::json, " \
	"to_char(e.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), e.tenant_id, e.pos, " \
	"m.id, m.session_id, m.sender_kind, m.sender_id, m.type, m.body, m.attachment::json, m.options::json, " \
	"m.client_msg_id, m.created_at, " \
	"s.id, s.state, s.channel, s.queue_id, s.agent_id, s.issue_type, s.priority, s.created_at, s.closed_at, " \
	"c.id, c.external_id, c.display_name, c.vip_level, c.language, " \
	"tk.id, tk.number, tk.subject, tk.status, tk.priority, tk.issue_type, tk.queue_id, tk.assignee_id, " \
	"tk.channel, to_json(tk.tags), tk.session_id, tk.created_at, tk.updated_at, tk.resolved_at, tk.closed_at"

/* an endpoint's filter (w.events) matches the type t */
#define HD_WEBHOOK_MATCH(events, t) \
	"EXISTS (SELECT 1 FROM unnest(" events ") f WHERE f = '*' OR f = " t " " \
	"        OR (right(f, 2) = '.*' AND starts_with(" t ", left(f, -1))))"

typedef struct FastJob FastJob;
typedef struct WebhookBucket WebhookBucket;

/* One delivery being sent (job->data). */
typedef struct WebhookJob
{
	FastJob    *fast;			/* from the window (http_webhook_fast.c), no row
								 * yet; NULL: a webhook_delivery row (row_id) */
	int64		event_pos;
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

/* An endpoint's current settings, looked up once per claim turn. */
typedef struct WebhookEndpoint
{
	int64		tenant_id;
	int64		id;
	int			queued;
	bool		found;
	bool		enabled;
	char	   *url;
	bytea	   *secret;
	bytea	   *previous;
	int			cap;
	int			timeout_ms;
	Datum	   *schedule;		/* microseconds, int8 */
	int			nschedule;
	WebhookBucket *bucket;		/* its rate limit (http_webhook_rate.c), NULL: none */
} WebhookEndpoint;

extern const HdHttpSource hd_webhook_source;
extern int	hd_webhook_disable_after_s;

/* http_webhook_body.c: the payload from HD_WEBHOOK_BODY_COLUMNS at col */
extern char *hd_webhook_build_body(HeapTuple t, TupleDesc d, int col);

/* http_webhook_feed.c: published events -> deliveries; true when more wait */
extern bool hd_webhook_feed(void);

/* http_webhook_queue.c: the source's claim, from deliveries claimed ahead */
extern int	hd_webhook_claim(HdHttpClaim *claim, int max);
extern bool hd_webhook_queued(void);
extern void hd_webhook_table_dirty(void);

/*
 * http_webhook_fast.c: the window, deliveries read from the log and sent
 * without a row until their attempt fails (see the file's comment)
 */
extern bool hd_webhook_fast_started(int64 *read_pos);
extern void hd_webhook_fast_reset(int64 read_pos);
extern int	hd_webhook_fast_room(void);
extern int	hd_webhook_fast_room_min(void);
extern void hd_webhook_fast_add(int64 pos, int64 tenant_id, int64 webhook_id, const char *type,
								const char *body);
extern void hd_webhook_fast_read_to(int64 pos);
extern void hd_webhook_fast_write_cursor(void);
extern void hd_webhook_fast_spill(int nfast);
extern int	hd_webhook_fast_endpoints(WebhookEndpoint *eps, int neps, int max);
extern int	hd_webhook_fast_handout(HdHttpClaim *claim, WebhookEndpoint *eps, int neps, int max);
extern bool hd_webhook_fast_waiting(void);
extern void hd_webhook_fast_completing(FastJob *fj);
extern void hd_webhook_fast_done(FastJob *fj);
extern void hd_webhook_fast_success(HdHttpJob *job, int status, int64 latency, const char *response);
extern int64 hd_webhook_fast_row(HdHttpJob *job);
extern void hd_webhook_fast_flush(void);
extern WebhookEndpoint *hd_webhook_endpoint(WebhookEndpoint *eps, int neps, int64 tenant_id, int64 id);
extern void hd_webhook_load_endpoints(WebhookEndpoint *eps, int neps);
extern bytea *hd_webhook_copy_bytea(bytea *b);

/* http_webhook_rate.c: per-endpoint rate limits in the claim */
extern void hd_webhook_rate_attach(WebhookEndpoint *ep, double rate, int burst);
extern void hd_webhook_rate_begin(void);
extern bool hd_webhook_rate_allows(WebhookEndpoint *ep);
extern void hd_webhook_rate_took(WebhookEndpoint *ep);
extern void hd_webhook_rate_other_wait(void);
extern TimestampTz hd_webhook_rate_next(void);

/* http_webhook_sign.c */
extern char *hd_webhook_new_secret(void);
extern void hd_webhook_check_secret(const char *secret);
extern char *hd_webhook_signature(const char *secret, const char *msg_id, int64 timestamp,
								  const char *body, size_t body_len);
extern char *hd_webhook_context(int64 tenant_id);
extern char *hd_webhook_sign_sealed(int64 tenant_id, const bytea *sealed, const char *msg_id,
									int64 timestamp, const char *body, size_t body_len);

#endif							/* HD_HTTP_WEBHOOK_H */
