/*
 * http_router.h — the bridge's HTTP routes: a route table (method + path
 * pattern -> handler), request bodies read up to a limit per route, header
 * and URL size limits, timeouts for slow clients, JSON answers and errors
 * {"error":{"code","message"}}, CORS per tenant, streamed answers.
 *
 * A handler runs on the loop and must not block: it answers at once or
 * later, from a db_call() callback, with exactly one http_reply*() (or
 * http_stream_begin()). If the client goes away before that, the reply
 * functions just free the request; http_gone() tells a handler to stop.
 *
 * Register routes before the loop starts (http_routes_init() in
 * http_router.c lists the built-in ones; other parts add theirs with
 * http_route_add() from their own *_init). See bridge/README.md.
 */
#ifndef BRIDGE_HTTP_ROUTER_H
#define BRIDGE_HTTP_ROUTER_H

#include "bridge.h"

#include <jansson.h>

#define HTTP_MAX_PARAMS 4

/* route flags */
#define HTTP_CORS	0x1			/* answer preflights, add CORS headers for the tenant's origins */
#define HTTP_RAW	0x2			/* the body is binary: not checked to be JSON */

typedef struct HttpReq HttpReq;
typedef void (*HttpHandler) (HttpReq *r);

typedef struct HttpRoute
{
	const char *method;			/* "GET", "POST", "PUT", "PATCH", "DELETE" */

	/*
	 * Segments separated by slashes; "{}" matches one non-empty segment (its
	 * text lands in params[]), a final "*" matches any rest (also empty).
	 */
	const char *pattern;
	HttpHandler handler;
	size_t		max_body;		/* bytes; 0: a request with a body is refused (413) */
	unsigned	flags;
} HttpRoute;

/* what the per-session data of the "helpdesk" protocol holds (main.c) */
typedef struct SessionSlot
{
	void	   *client;			/* Client *, WebSocket connections (server.c) */
	HttpReq    *http;			/* the request in progress on an HTTP connection */
} SessionSlot;

struct HttpReq
{
	struct lws *wsi;			/* NULL once the client is gone */
	const HttpRoute *route;
	char		method[8];
	char	   *path;			/* as lws decoded it, without the query */
	char	   *query;			/* "a=1&b=2" (lws decoded each argument), or "" */
	char	   *path_query;		/* path, then "?" and query when there is one */
	char	   *params[HTTP_MAX_PARAMS];	/* the "{}" segments, in order */
	int			nparams;
	Buf			body;			/* the raw body (NUL-terminated) */
	int64_t		tenant;			/* set by the handler once known: CORS; 0 none */
	int64_t		started_us;

	/* the handler's own state and how to free it with the request */
	void	   *user;
	void		(*user_free) (void *);

	/* private to http_router.c */
	struct HttpPriv *priv;
};

/* registration; routes are tried in the order added, first match wins */
extern void http_route_add(const HttpRoute *route);
extern void http_routes_init(struct lws_context *ctx);
extern void http_routes_shutdown(void);
/* the --metrics-listen vhost (http_routes.c) */
extern int	http_metrics_vhost(struct lws_context *ctx, const struct lws_protocols *p);

/* the lws callback part for HTTP (server.c forwards its HTTP reasons) */
extern int	http_router_cb(struct lws *wsi, enum lws_callback_reasons reason,
						   SessionSlot *slot, void *in, size_t len);

/* request headers: name in lower case without ':'; NULL when absent */
extern const char *http_header(HttpReq *r, const char *name);
/* make http_header() keep a custom header (call before the loop starts) */
extern void http_keep_header(const char *lower_name);
/* one query argument, decoded; NULL when absent */
extern const char *http_query_arg(HttpReq *r, const char *name);
extern bool http_gone(HttpReq *r);

/* answers (exactly one per request) */
extern void http_add_header(HttpReq *r, const char *name, const char *value);
extern void http_reply(HttpReq *r, unsigned status, const char *ctype,
					   const char *body, size_t len);
extern void http_reply_json(HttpReq *r, unsigned status, json_t *doc);	/* steals doc */
extern void http_reply_error(HttpReq *r, unsigned status, const char *code,
							 const char *message);
/* 429 with Retry-After: seconds */
extern void http_reply_retry(HttpReq *r, unsigned status, const char *code,
							 const char *message, int retry_after);

/*
 * Streamed answers: http_stream_begin sends the status and headers with a
 * Content-Length of length; then pull(r) is called whenever the socket can
 * take more and nothing is queued: it queues bytes with http_stream_put (at
 * once or later, from a callback), or calls http_stream_fail to drop the
 * connection. The request completes when length bytes went out.
 */
typedef void (*HttpPull) (HttpReq *r);
extern void http_stream_begin(HttpReq *r, unsigned status, const char *ctype,
							  int64_t length, HttpPull pull);
extern void http_stream_put(HttpReq *r, const char *data, size_t len);
extern void http_stream_fail(HttpReq *r);
extern int64_t http_stream_sent(HttpReq *r);	/* bytes of the body queued so far */

/* the bridge's HTTP base as clients reach it (--public-http-url), no trailing slash */
extern void http_base_url(Buf *out);

/* SQLSTATE + message of a db_call failure -> an HTTP error answer */
extern void http_reply_db_error(HttpReq *r, const char *sqlstate, const char *message);

/* CORS (http_cors.c) */
extern void cors_init(struct lws_context *ctx);
extern void cors_stop(void);
extern bool cors_origin_allowed(int64_t tenant, const char *origin);	/* tenant 0: any */

/* pure parsing, fuzzed (http_parse.c) */
extern int	http_match(const char *pattern, const char *path, char *params[], int maxp);
extern int	http_parse_range(const char *hdr, int64_t size, int64_t *first, int64_t *last);
extern size_t http_safe_filename(const char *in, char *out, size_t cap);
extern bool http_query_get(const char *query, const char *name, char *out, size_t cap);

/* metrics of the HTTP layer */
typedef struct HttpMetrics
{
	uint64_t	requests;
	uint64_t	status[6];		/* by class: 1xx .. 5xx, [0] unused */
	uint64_t	too_large;
	uint64_t	timeouts;
} HttpMetrics;
extern HttpMetrics http_metrics;

#endif							/* BRIDGE_HTTP_ROUTER_H */
