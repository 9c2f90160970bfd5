/*
 * http_router.c — HTTP requests on the bridge's port: routing, bodies,
 * limits, timeouts and writing answers (whole or streamed) from the
 * loop's writeable callbacks. Handlers: http_routes.c and the parts that
 * register their own; pure parsers: http_parse.c; CORS: http_cors.c.
 */
#include "http_router.h"
#include "db.h"

#include <stdlib.h>
#include <string.h>

HttpMetrics http_metrics;

#define MAX_ROUTES 64
#define MAX_KEPT 32
#define CHUNK 16384

static HttpRoute routes[MAX_ROUTES];
static int	nroutes;

/* headers copied from lws when a request starts (lws may drop its copy) */
static const char *kept[MAX_KEPT] = {
	"authorization", "content-type", "content-length", "origin", "range",
	"transfer-encoding", "access-control-request-method",
	"access-control-request-headers", "x-forwarded-for", "host",
	"x-hd-app", "x-hd-timestamp", "x-hd-nonce", "x-hd-signature", "x-filename",
};
static int	nkept = 15;

typedef struct HttpPriv
{
	char	   *hname[MAX_KEPT];
	char	   *hval[MAX_KEPT];
	int			nh;
	char	   *args[MAX_KEPT];	/* http_query_arg's answers */
	int			nargs;
	bool		async;			/* the handler (or a pull) owes an answer */
	bool		ready;			/* an answer is queued */
	bool		headers_sent;
	bool		close_after;	/* close instead of keeping the connection */
	bool		body_expected;
	size_t		content_length;
	unsigned	status;
	char	   *ctype;
	Buf			extra;			/* "name:\0value\0" pairs */
	Buf			out;			/* body bytes queued */
	size_t		out_off;
	/* streaming */
	HttpPull	pull;
	int64_t		length;			/* total body length; -1 not streamed */
	int64_t		queued;			/* body bytes queued in total */
	int64_t		written;		/* body bytes written in total */
} HttpPriv;

void
http_route_add(const HttpRoute *route)
{
	if (nroutes >= MAX_ROUTES)
	{
		blog(BLOG_ERR, "too many HTTP routes (at most %d)", MAX_ROUTES);
		abort();
	}
	routes[nroutes++] = *route;
}

void
http_keep_header(const char *lower_name)
{
	for (int i = 0; i < nkept; i++)
		if (strcmp(kept[i], lower_name) == 0)
			return;
	if (nkept < MAX_KEPT)
		kept[nkept++] = lower_name;
}

static void
req_free(HttpReq *r)
{
	HttpPriv   *p = r->priv;

	if (r->user_free && r->user)
		r->user_free(r->user);
	for (int i = 0; i < p->nh; i++)
	{
		free(p->hname[i]);
		free(p->hval[i]);
	}
	for (int i = 0; i < r->nparams; i++)
		free(r->params[i]);
	for (int i = 0; i < p->nargs; i++)
		free(p->args[i]);
	free(p->ctype);
	buf_free(&p->extra);
	buf_free(&p->out);
	buf_free(&r->body);
	free(r->path);
	free(r->query);
	free(r->path_query);
	free(p);
	free(r);
}

bool
http_gone(HttpReq *r)
{
	return r->wsi == NULL;
}

const char *
http_header(HttpReq *r, const char *name)
{
	HttpPriv   *p = r->priv;

	for (int i = 0; i < p->nh; i++)
		if (strcmp(p->hname[i], name) == 0)
			return p->hval[i];
	return NULL;
}

/* the value is kept with the request (freed with it) */
const char *
http_query_arg(HttpReq *r, const char *name)
{
	HttpPriv   *p = r->priv;
	char		v[1024];

	if (!http_query_get(r->query, name, v, sizeof(v)))
		return NULL;
	if (p->nargs >= MAX_KEPT)
		return NULL;
	p->args[p->nargs] = strdup(v);
	return p->args[p->nargs++];
}

static int
known_token(const char *name)
{
	static const struct
	{
		const char *n;
		int			t;
	}			map[] = {
		{"authorization", WSI_TOKEN_HTTP_AUTHORIZATION},
		{"content-type", WSI_TOKEN_HTTP_CONTENT_TYPE},
		{"content-length", WSI_TOKEN_HTTP_CONTENT_LENGTH},
		{"origin", WSI_TOKEN_ORIGIN},
		{"range", WSI_TOKEN_HTTP_RANGE},
		{"transfer-encoding", WSI_TOKEN_HTTP_TRANSFER_ENCODING},
		{"access-control-request-headers", WSI_TOKEN_HTTP_AC_REQUEST_HEADERS},
		{"x-forwarded-for", WSI_TOKEN_X_FORWARDED_FOR},
		{"host", WSI_TOKEN_HOST},
		{"if-none-match", WSI_TOKEN_HTTP_IF_NONE_MATCH},
		{"if-modified-since", WSI_TOKEN_HTTP_IF_MODIFIED_SINCE},
		{"accept", WSI_TOKEN_HTTP_ACCEPT},
		{"accept-encoding", WSI_TOKEN_HTTP_ACCEPT_ENCODING},
		{"cookie", WSI_TOKEN_HTTP_COOKIE},
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(map[i].n, name) == 0)
			return map[i].t;
	return -1;
}

static void
copy_headers(HttpReq *r, struct lws *wsi)
{
	HttpPriv   *p = r->priv;

	for (int i = 0; i < nkept; i++)
	{
		int			t = known_token(kept[i]);
		int			len;
		char	   *v;

		if (t >= 0)
			len = lws_hdr_total_length(wsi, (enum lws_token_indexes) t);
		else
		{
			char		cname[64];

			snprintf(cname, sizeof(cname), "%s:", kept[i]);
			len = lws_hdr_custom_length(wsi, cname, (int) strlen(cname));
			if (len < 0)
				continue;
		}
		if (len <= 0 && t >= 0)
			continue;
		v = malloc((size_t) len + 1);
		if (t >= 0)
			len = lws_hdr_copy(wsi, v, len + 1, (enum lws_token_indexes) t);
		else
		{
			char		cname[64];

			snprintf(cname, sizeof(cname), "%s:", kept[i]);
			len = lws_hdr_custom_copy(wsi, v, len + 1, cname, (int) strlen(cname));
		}
		if (len < 0)
		{
			free(v);
			continue;
		}
		v[len] = '\0';
		p->hname[p->nh] = strdup(kept[i]);
		p->hval[p->nh] = v;
		p->nh++;
	}
}

void
http_add_header(HttpReq *r, const char *name, const char *value)
{
	HttpPriv   *p = r->priv;

	buf_puts(&p->extra, name);
	buf_append(&p->extra, ":", 2);	/* with the NUL */
	buf_append(&p->extra, value, strlen(value) + 1);
}

/* the answer is complete (or the client left): give the socket back */
static int
finish(HttpReq *r, struct lws *wsi, SessionSlot *slot)
{
	bool		close_after = r->priv->close_after;

	if (slot)
		slot->http = NULL;
	req_free(r);
	if (close_after)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static void
queue_answer(HttpReq *r, unsigned status, const char *ctype)
{
	HttpPriv   *p = r->priv;

	p->status = status;
	free(p->ctype);
	p->ctype = strdup(ctype);
	p->ready = true;
	p->async = false;
	http_metrics.status[status / 100 < 6 ? status / 100 : 5]++;
	lws_callback_on_writable(r->wsi);
}

void
http_reply(HttpReq *r, unsigned status, const char *ctype, const char *body, size_t len)
{
	HttpPriv   *p = r->priv;

	if (http_gone(r))
	{
		req_free(r);
		return;
	}
	if (p->ready)
	{
		blog(BLOG_ERR, "HTTP handler for %s answered twice", r->path);
		return;
	}
	p->out.len = 0;
	buf_append(&p->out, body ? body : "", len);
	p->length = -1;
	queue_answer(r, status, ctype);
}

void
http_reply_json(HttpReq *r, unsigned status, json_t *doc)
{
	char	   *s = json_dumps(doc, JSON_COMPACT);

	json_decref(doc);
	http_reply(r, status, "application/json", s, s ? strlen(s) : 0);
	free(s);
}

void
http_reply_error(HttpReq *r, unsigned status, const char *code, const char *message)
{
	http_reply_json(r, status, json_pack("{s:{s:s,s:s}}", "error", "code", code,
										 "message", message ? message : code));
}

void
http_reply_retry(HttpReq *r, unsigned status, const char *code, const char *message,
				 int retry_after)
{
	char		v[24];

	if (!http_gone(r))
	{
		snprintf(v, sizeof(v), "%d", retry_after < 1 ? 1 : retry_after);
		http_add_header(r, "retry-after", v);
	}
	http_reply_error(r, status, code, message);
}

void
http_stream_begin(HttpReq *r, unsigned status, const char *ctype, int64_t length, HttpPull pull)
{
	HttpPriv   *p = r->priv;

	if (http_gone(r))
	{
		req_free(r);
		return;
	}
	p->out.len = 0;
	p->pull = pull;
	p->length = length;
	queue_answer(r, status, ctype);
}

void
http_stream_put(HttpReq *r, const char *data, size_t len)
{
	HttpPriv   *p = r->priv;

	if (http_gone(r))
	{
		req_free(r);
		return;
	}
	p->async = false;
	if (p->queued + (int64_t) len > p->length)
		len = (size_t) (p->length - p->queued);
	buf_append(&p->out, data, len);
	p->queued += (int64_t) len;
	lws_callback_on_writable(r->wsi);
}

void
http_stream_fail(HttpReq *r)
{
	HttpPriv   *p = r->priv;

	if (http_gone(r))
	{
		req_free(r);
		return;
	}
	p->async = false;
	p->close_after = true;
	p->length = p->queued;		/* finish what is queued, then close */
	lws_callback_on_writable(r->wsi);
}

int64_t
http_stream_sent(HttpReq *r)
{
	return r->priv->queued;
}

/* CORS headers for the request's origin, when its tenant (or any) allows it */
static void
add_cors(HttpReq *r)
{
	const char *origin = http_header(r, "origin");

	if (r->route == NULL || !(r->route->flags & HTTP_CORS) || origin == NULL)
		return;
	if (!cors_origin_allowed(r->tenant, origin))
		return;
	http_add_header(r, "access-control-allow-origin", origin);
	http_add_header(r, "vary", "Origin");
	http_add_header(r, "access-control-expose-headers", "Retry-After, Content-Range");
}

static int
write_headers(HttpReq *r, struct lws *wsi)
{
	HttpPriv   *p = r->priv;
	size_t		cap = LWS_PRE + 1024 + p->extra.len * 2;
	unsigned char *hdr = malloc(cap),
			   *pos = hdr + LWS_PRE,
			   *end = hdr + cap;
	lws_filepos_t clen = p->length >= 0 ? (lws_filepos_t) p->length : (lws_filepos_t) p->out.len;
	int			rc = 0;

	add_cors(r);
	if (lws_add_http_common_headers(wsi, p->status, p->ctype, clen, &pos, end))
		rc = -1;
	for (size_t off = 0; rc == 0 && off < p->extra.len;)
	{
		const char *name = p->extra.data + off;
		const char *val = name + strlen(name) + 1;

		if (lws_add_http_header_by_name(wsi, (const unsigned char *) name,
										(const unsigned char *) val, (int) strlen(val), &pos, end))
			rc = -1;
		off = (size_t) (val - p->extra.data) + strlen(val) + 1;
	}
	if (rc == 0 && p->close_after &&
		lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (const unsigned char *) "close",
									 5, &pos, end))
		rc = -1;
	if (rc == 0 && lws_finalize_write_http_header(wsi, hdr + LWS_PRE, &pos, end))
		rc = -1;
	free(hdr);
	p->headers_sent = true;
	return rc;
}

static int
on_writeable(HttpReq *r, struct lws *wsi, SessionSlot *slot)
{
	HttpPriv   *p = r->priv;
	bool		streamed = p->length >= 0;
	int64_t		total = streamed ? p->length : (int64_t) p->out.len;
	size_t		avail,
				n;
	unsigned char *chunk;
	bool		last;

	if (!p->ready)
		return 0;
	if (!p->headers_sent)
	{
		if (write_headers(r, wsi) != 0)
		{
			slot->http = NULL;
			req_free(r);
			return -1;
		}
		if (total == 0)
			return finish(r, wsi, slot);
		lws_callback_on_writable(wsi);
		return 0;
	}
	avail = p->out.len - p->out_off;
	if (avail == 0 && streamed && p->written >= p->length)
	{
		/* http_stream_fail cut the answer short: drop the connection */
		slot->http = NULL;
		req_free(r);
		return -1;
	}
	if (avail == 0)
	{
		if (streamed && p->written < p->length && !p->async && p->pull)
		{
			p->out.len = 0;
			p->out_off = 0;
			p->async = true;
			p->pull(r);			/* may put at once */
		}
		return 0;
	}
	n = avail > CHUNK ? CHUNK : avail;
	last = p->written + (int64_t) n >= total;
	chunk = malloc(LWS_PRE + n);
	memcpy(chunk + LWS_PRE, p->out.data + p->out_off, n);
	if (lws_write(wsi, chunk + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < 0)
	{
		free(chunk);
		slot->http = NULL;
		req_free(r);
		return -1;
	}
	free(chunk);
	p->out_off += n;
	p->written += (int64_t) n;
	/* a reader that stops reading is dropped */
	lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT, cfg.http_timeout);
	if (last)
		return finish(r, wsi, slot);
	lws_callback_on_writable(wsi);
	return 0;
}

static const char *
method_of(struct lws *wsi, int *uri_token)
{
	static const struct
	{
		int			t;
		const char *m;
	}			m[] = {
		{WSI_TOKEN_GET_URI, "GET"},
		{WSI_TOKEN_POST_URI, "POST"},
		{WSI_TOKEN_OPTIONS_URI, "OPTIONS"},
		{WSI_TOKEN_PUT_URI, "PUT"},
		{WSI_TOKEN_PATCH_URI, "PATCH"},
		{WSI_TOKEN_DELETE_URI, "DELETE"},
		{WSI_TOKEN_HEAD_URI, "HEAD"},
	};

	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		if (lws_hdr_total_length(wsi, (enum lws_token_indexes) m[i].t) > 0)
		{
			*uri_token = m[i].t;
			return m[i].m;
		}
	return NULL;
}

/* an answer before the handler ran; the connection closes after it */
static void
early_error(HttpReq *r, unsigned status, const char *code, const char *message)
{
	r->priv->close_after = true;
	http_reply_error(r, status, code, message);
}

/* a preflight for a CORS route: allowed when some tenant allows the origin */
static void
preflight(HttpReq *r)
{
	const char *origin = http_header(r, "origin");
	const char *want = http_header(r, "access-control-request-method");

	if (origin == NULL || want == NULL || !cors_origin_allowed(0, origin))
	{
		http_reply_error(r, 403, "cors_denied", "this origin may not call the API");
		return;
	}
	/* Allow-Origin comes with add_cors (tenant 0 here: any tenant's origin) */
	http_add_header(r, "access-control-allow-methods", "GET, POST, PUT, PATCH, DELETE");
	http_add_header(r, "access-control-allow-headers",
					"Authorization, Content-Type, X-Filename, X-HD-App, X-HD-Timestamp, X-HD-Nonce, X-HD-Signature");
	http_add_header(r, "access-control-max-age", "600");
	http_reply(r, 204, "text/plain", NULL, 0);
}

static void
dispatch(HttpReq *r)
{
	r->priv->async = true;
	r->route->handler(r);
}

extern int	http_serve(struct lws *wsi, const char *path);	/* metrics.c */
extern bool metrics_request_allowed(struct lws *wsi);	/* http_routes.c */

static int
on_http(struct lws *wsi, SessionSlot *slot, const char *in)
{
	int			uri_token = 0;
	const char *method = method_of(wsi, &uri_token);
	HttpReq    *r;
	HttpPriv   *p;
	int			qlen;
	bool		path_matched = false;
	const char *te,
			   *cl;

	http_metrics.requests++;
	if (method == NULL)
		return 1;
	if (strlen(in) > (size_t) cfg.http_max_url)
	{
		lws_return_http_status(wsi, HTTP_STATUS_REQ_URI_TOO_LONG, NULL);
		return -1;
	}
	/* today's plain endpoints keep their own code (metrics.c) */
	if (strcmp(method, "GET") == 0 && (strcmp(in, "/healthz") == 0 || strcmp(in, "/metrics") == 0))
	{
		if (strcmp(in, "/metrics") == 0 && !metrics_request_allowed(wsi))
		{
			lws_return_http_status(wsi, HTTP_STATUS_UNAUTHORIZED, NULL);
			return lws_http_transaction_completed(wsi) ? -1 : 0;
		}
		return http_serve(wsi, in);
	}

	r = calloc(1, sizeof(HttpReq));
	p = calloc(1, sizeof(HttpPriv));
	r->priv = p;
	r->wsi = wsi;
	r->started_us = now_us();
	p->length = -1;
	snprintf(r->method, sizeof(r->method), "%s", method);
	r->path = strdup(in);
	/* the arguments one fragment each, joined with '&' (lws_hdr_copy's separator varies) */
	qlen = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS);
	r->query = calloc(1, (size_t) (qlen > 0 ? qlen : 0) * 2 + 64);
	for (int f = 0, off = 0; qlen > 0; f++)
	{
		int			n = lws_hdr_copy_fragment(wsi, r->query + off + (off ? 1 : 0),
											  qlen * 2 + 63 - off - 1, WSI_TOKEN_HTTP_URI_ARGS, f);

		if (n <= 0)
			break;
		if (off)
			r->query[off] = '&';
		off += n + (off ? 1 : 0);
	}
	r->path_query = malloc(strlen(r->path) + strlen(r->query) + 2);
	sprintf(r->path_query, "%s%s%s", r->path, r->query[0] ? "?" : "", r->query);
	copy_headers(r, wsi);
	slot->http = r;

	for (int i = 0; i < nroutes; i++)
	{
		int			n = http_match(routes[i].pattern, r->path, r->params, HTTP_MAX_PARAMS);

		if (n < 0)
			continue;
		if (strcmp(routes[i].method, r->method) == 0)
		{
			r->route = &routes[i];
			r->nparams = n;
			break;
		}
		for (int k = 0; k < n; k++)
		{
			free(r->params[k]);
			r->params[k] = NULL;
		}
		path_matched = true;
		if (strcmp(r->method, "OPTIONS") == 0 && (routes[i].flags & HTTP_CORS))
		{
			r->route = &routes[i];
			preflight(r);
			return 0;
		}
	}
	cl = http_header(r, "content-length");
	te = http_header(r, "transfer-encoding");
	if (r->route == NULL)
	{
		if (path_matched)
		{
			http_add_header(r, "allow", "GET, POST, OPTIONS");
			early_error(r, 405, "method_not_allowed", "this path does not take that method");
		}
		else
			early_error(r, 404, "not_found", "no such route");
		return 0;
	}
	if (te != NULL)
	{
		early_error(r, 411, "length_required", "send the body with a Content-Length");
		return 0;
	}
	if (cl != NULL)
	{
		char	   *end;
		unsigned long long n = strtoull(cl, &end, 10);

		if (*end != '\0' || end == cl)
		{
			early_error(r, 400, "bad_request", "Content-Length is not a number");
			return 0;
		}
		if (n > r->route->max_body)
		{
			char		m[128];

			http_metrics.too_large++;
			snprintf(m, sizeof(m), "the body may have at most %zu bytes", r->route->max_body);
			early_error(r, 413, "too_large", m);
			return 0;
		}
		p->content_length = (size_t) n;
	}
	if (p->content_length > 0)
	{
		p->body_expected = true;
		buf_reserve(&r->body, p->content_length);
		/* the whole body within --http-timeout */
		lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT, cfg.http_timeout);
		return 0;
	}
	buf_reserve(&r->body, 0);
	dispatch(r);
	return 0;
}

static void
body_done(HttpReq *r)
{
	HttpPriv   *p = r->priv;

	lws_set_timeout(r->wsi, NO_PENDING_TIMEOUT, 0);
	p->body_expected = false;
	if (!(r->route->flags & HTTP_RAW) && r->body.len > 0)
	{
		json_error_t err;
		json_t	   *doc = json_loadb(r->body.data, r->body.len, JSON_REJECT_DUPLICATES, &err);

		if (doc == NULL)
		{
			char		m[200];

			snprintf(m, sizeof(m), "the body is not JSON: %.120s", err.text);
			http_reply_error(r, 400, "bad_json", m);
			return;
		}
		json_decref(doc);
	}
	dispatch(r);
}

int
http_router_cb(struct lws *wsi, enum lws_callback_reasons reason, SessionSlot *slot,
			   void *in, size_t len)
{
	HttpReq    *r = slot ? slot->http : NULL;

	switch (reason)
	{
		case LWS_CALLBACK_HTTP:
			if (r)
			{
				/* a pipelined request while one is in progress */
				return -1;
			}
			return on_http(wsi, slot, in);
		case LWS_CALLBACK_HTTP_BODY:
			if (r == NULL || !r->priv->body_expected)
				return 0;
			if (r->body.len + len > r->priv->content_length)
			{
				r->priv->body_expected = false;
				early_error(r, 413, "too_large", "the body is longer than its Content-Length");
				return 0;
			}
			buf_append(&r->body, in, len);
			return 0;
		case LWS_CALLBACK_HTTP_BODY_COMPLETION:
			if (r == NULL || !r->priv->body_expected)
				return 0;
			body_done(r);
			return 0;
		case LWS_CALLBACK_HTTP_WRITEABLE:
			if (r == NULL)
				return 0;
			return on_writeable(r, wsi, slot);
		case LWS_CALLBACK_CLOSED_HTTP:
			if (r == NULL)
				return 0;
			slot->http = NULL;
			r->wsi = NULL;
			if (!r->priv->async)
				req_free(r);
			/* else the handler's answer (or the pull's put) frees it */
			return 0;
		default:
			return 0;
	}
}
