/*
 * relay.h — the event ring and the WebSocket clients that read it.
 */
#ifndef BRIDGE_RELAY_H
#define BRIDGE_RELAY_H

#include "bridge.h"

/* ---- ring.c ---- */
typedef enum Audience
{
	AUD_SESSION,				/* the session's customer and staff */
	AUD_SESSION_STAFF,			/* staff only (internal notes) */
	AUD_AGENT,
	AUD_QUEUE,
	AUD_CUSTOMER,
	AUD_TENANT,					/* supervisors */
	AUD_OTHER
} Audience;

/* what an event addressed to one agent does to the sessions it sees */
typedef enum SessionEffect
{
	EFFECT_NONE = 0,
	EFFECT_ADD,
	EFFECT_REMOVE,
	EFFECT_DISABLED,			/* agent.disabled: its sockets are closed (4004) */
	EFFECT_REVOKED				/* agent.revoked: its login sockets of older versions are closed (4004) */
} SessionEffect;

typedef struct Ev
{
	int64_t		pos;
	int64_t		tenant;
	int64_t		audience_id;
	int64_t		session_id;
	int64_t		customer_id;
	int64_t		created_us;
	int64_t		revoked_ver;	/* EFFECT_REVOKED: login tokens below this version are revoked */
	uint8_t		audience;
	uint8_t		effect;
	bool		ticket_copy;	/* a ticket.* event's copy for a subject, not the tenant's */
	uint32_t	len;
	char	   *json;			/* the rendered event object */
} Ev;

extern void ring_init(struct lws_context *ctx);
extern void ring_stop(void);
extern void ring_free(void);
extern bool ring_known(void);
extern int64_t ring_base(void);	/* positions > base are in memory */
extern int64_t ring_head(void);	/* newest position in memory */
extern const Ev *ring_get(int64_t pos);
extern const char *ring_log_id(void);	/* the followed log's identity, NULL if unknown */
extern bool ring_same_log(const char *log_id, int64_t position);

/* turns a bridge_events() row into an Ev (json malloc'd); used by catch-up too */
struct pg_result;
extern void ev_from_row(struct pg_result *res, int row, Ev *ev);
extern const char *const ev_select_sql;
extern const char *const ev_moved_sql;	/* bridge_moved_events: the same columns */

/* ---- client.c ---- */
typedef struct Client Client;

extern int	client_protocol_cb(struct lws *wsi, enum lws_callback_reasons reason,
							   void *user, void *in, size_t len);
extern void clients_wake_all(void);		/* the ring learnt its position */
extern void clients_wake_for(const Ev *e);	/* a new event in the ring */
extern void clients_wake_begin(void);	/* around one read's clients_wake_for calls */
extern void clients_wake_end(void);
extern void clients_wake_free(void);
extern void clients_on_typing(const char *payload);
extern void clients_shutdown(void);
extern void clients_reset(void);	/* the event log changed: close all with 4010 */
extern int	clients_count(void);
extern void clients_init(struct lws_context *ctx, struct lws_vhost *vh);
extern void server_init(struct lws_context *ctx, struct lws_vhost *vh);	/* server.c */
extern void server_shutdown(void);

/* ---- metrics.c ---- */
typedef struct Metrics
{
	uint64_t	connections[KIND_COUNT];
	uint64_t	connections_total;
	uint64_t	auth_failures;
	uint64_t	frames_in;
	uint64_t	frames_out;
	uint64_t	events_relayed;
	uint64_t	events_ingested;
	uint64_t	errors_sent;
	uint64_t	slow_disconnects;
	uint64_t	heartbeat_batches;
	uint64_t	keepalive_drops;	/* silent sockets dropped (keepalive.c) */
	uint64_t	notifies;		/* NOTIFYs on channel helpdesk (ring.c) */
	uint64_t	event_reads;	/* reads of the event log by the ring */
	uint64_t	log_resets;		/* event log replaced or went backwards */
	uint64_t	expired_closes;	/* open sockets closed at token expiry */
	uint64_t	typing_rejected;	/* unauthenticated typing notifications */
} Metrics;

extern Metrics metrics;
extern void metrics_observe_latency(int64_t us);
extern void metrics_render(Buf *b);
/* metrics_db.c: helpdesk.metrics(), cached */
extern void metrics_db_render(Buf *b);
extern void metrics_db_free(void);
extern int	http_serve(struct lws *wsi, const char *path);
/* http_static.c: the routes of /console/ and /widget/ */
extern void http_static_init(void);

#endif							/* BRIDGE_RELAY_H */
