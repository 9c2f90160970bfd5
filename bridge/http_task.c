/*
 * http_task.c — seed 003's task API on the bridge, so its callers switch
 * over by changing a URL (and signing their requests):
 *
 *   POST /api/task/receive          body: the task JSON   -> receive_task
 *   GET  /api/task/status/{task_id}                        -> task_status
 *   POST /api/task/cancel           {"task_id", "reason"}  -> cancel_task
 *   GET  /api/task/list?customer_id&status&page&page_size  -> list_tasks
 *   GET  /api/health                (no signature)
 *
 * Answers use the seed's envelope {"code", "message", "data"} with the HTTP
 * status equal to code: 200; 400 invalid task or argument; 401 signature
 * (data.reason: malformed_request, bad_signature, stale_timestamp,
 * replayed_nonce, unknown_app); 403 the app may not act for the tenant; 404
 * unknown task; 409 a different body under an existing task_id
 * (data.reason "conflict") or a task that can no longer be cancelled
 * ("illegal_transition"); 413 too large; 500/503 database trouble. The
 * router's own refusals (411/413 before the body, a body that is not JSON)
 * keep its {"error": ...} shape.
 *
 * Authentication: the signed-request scheme of the player API (X-HD-App,
 * X-HD-Timestamp, X-HD-Nonce, X-HD-Signature over method, path with query,
 * timestamp, nonce and the body's SHA-256; helpdesk.verify_signed_request).
 * The app names the tenant. Verification and the call are one statement:
 * the FROM item verifies first, so a bad signature is answered before the
 * body is looked at.
 */
#include "http_router.h"
#include "db.h"

#include <stdlib.h>
#include <string.h>

void		http_task_init(void);

#define TASK_MAX_BODY 65536

typedef struct TaskCall
{
	HttpReq    *r;
	const char *ok_message;
} TaskCall;

/* our SQLSTATEs -> the envelope's code and a reason for data */
static void
reply_envelope_error(HttpReq *r, const char *sqlstate, const char *message)
{
	static const struct
	{
		const char *state;
		unsigned	code;
		const char *reason;
	}			map[] = {
		{"HDA00", 401, "malformed_request"},
		{"HDA01", 401, "bad_signature"},
		{"HDA02", 401, "stale_timestamp"},
		{"HDA03", 401, "replayed_nonce"},
		{"HDA04", 401, "unknown_app"},
		{"42501", 403, "forbidden"},
		{"HD404", 404, "not_found"},
		{"HD409", 409, "conflict"},
		{"HD422", 409, "illegal_transition"},
		{"54000", 413, "too_large"},
	};
	unsigned	code = 500;
	const char *reason = "db_error";
	char		m[512];

	if (sqlstate == NULL)
	{
		code = 503;
		reason = "unavailable";
		message = "the database is unavailable; try again";
	}
	else if (strncmp(sqlstate, "22", 2) == 0 || strncmp(sqlstate, "23", 2) == 0)
	{
		code = 400;
		reason = "invalid_argument";
	}
	else
	{
		size_t		i;

		for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
			if (strcmp(map[i].state, sqlstate) == 0)
			{
				code = map[i].code;
				reason = map[i].reason;
				break;
			}
		if (i == sizeof(map) / sizeof(map[0]))
		{
			blog(BLOG_WARN, "HTTP %s %s: database error %s: %.*s", r->method, r->path, sqlstate,
				 (int) strcspn(message ? message : "", "\n"), message ? message : "");
			message = "the request failed in the database";
		}
	}
	/* first line only, without libpq's "ERROR:  ", clipped: the database never echoes unbounded input */
	if (message != NULL && strncmp(message, "ERROR:  ", 8) == 0)
		message += 8;
	snprintf(m, sizeof(m), "%.*s", (int) strcspn(message ? message : "", "\n"), message ? message : "");
	http_reply_json(r, code, json_pack("{s:i,s:s,s:{s:s}}", "code", (int) code, "message", m,
									   "data", "reason", reason));
}

static void
task_done(void *arg, PGresult *res, const char *sqlstate, const char *message)
{
	TaskCall   *c = arg;
	HttpReq    *r = c->r;
	const char *ok = c->ok_message;
	json_t	   *data;

	free(c);
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		reply_envelope_error(r, sqlstate, message);
		return;
	}
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
	{
		reply_envelope_error(r, "XX000", "no answer");
		return;
	}
	data = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	if (data == NULL)
	{
		reply_envelope_error(r, "XX000", "unreadable answer");
		return;
	}
	http_reply_json(r, 200, json_pack("{s:i,s:s,s:o}", "code", 200, "message", ok, "data", data));
}

/* the signature headers as a JSON object for verify_signed_request (malloc'd) */
static char *
signature_headers(HttpReq *r)
{
	static const char *const names[] = {"x-hd-app", "x-hd-timestamp", "x-hd-nonce", "x-hd-signature"};
	json_t	   *h = json_object();
	char	   *s;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
	{
		const char *v = http_header(r, names[i]);

		if (v != NULL)
			json_object_set_new(h, names[i], json_string(v));
	}
	s = json_dumps(h, JSON_COMPACT);
	json_decref(h);
	return s;
}

static char *
hex_of(const char *data, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	char	   *out = malloc(len * 2 + 1);

	for (size_t i = 0; i < len; i++)
	{
		out[2 * i] = digits[((unsigned char) data[i]) >> 4];
		out[2 * i + 1] = digits[((unsigned char) data[i]) & 15];
	}
	out[len * 2] = '\0';
	return out;
}

/* RFC 3986 percent-encoding of everything but the unreserved characters */
static size_t
pct_encode(char *out, const char *in, size_t n)
{
	static const char digits[] = "0123456789ABCDEF";
	size_t		len = 0;

	for (size_t i = 0; i < n; i++)
	{
		unsigned char c = (unsigned char) in[i];

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			c == '-' || c == '.' || c == '_' || c == '~')
			out[len++] = (char) c;
		else
		{
			out[len++] = '%';
			out[len++] = digits[c >> 4];
			out[len++] = digits[c & 15];
		}
	}
	return len;
}

/*
 * The path with its query for the signature: lws hands the arguments over
 * decoded, one fragment each, so the query is rebuilt from them in their
 * order, each name and value percent-encoded as RFC 3986 says (unreserved
 * characters as they are: what encodeURIComponent, Python's quote(safe='')
 * or curl's --data-urlencode send). The router's path_query is not used: it
 * loses arguments after the first (lws_hdr_total_length does not count the
 * separators). malloc'd.
 */
static char *
signed_path(HttpReq *r)
{
	size_t		cap = strlen(r->path) + 8192 * 3 + 2;
	char	   *out = malloc(cap);
	size_t		len = strlen(r->path);
	char		frag[2048];

	memcpy(out, r->path, len + 1);
	for (int i = 0; r->wsi != NULL; i++)
	{
		int			n = lws_hdr_copy_fragment(r->wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i);
		char	   *eq;

		if (n <= 0 || len + (size_t) n * 3 + 2 > cap)
			break;
		out[len++] = i == 0 ? '?' : '&';
		eq = memchr(frag, '=', (size_t) n);
		if (eq == NULL)
			len += pct_encode(out + len, frag, (size_t) n);
		else
		{
			len += pct_encode(out + len, frag, (size_t) (eq - frag));
			out[len++] = '=';
			len += pct_encode(out + len, eq + 1, (size_t) (n - (eq + 1 - frag)));
		}
		out[len] = '\0';
	}
	return out;
}

/* one query argument, decoded (lws), or NULL; the router's http_query_arg mixes arguments */
static const char *
query_arg(HttpReq *r, const char *name, char *buf, int cap)
{
	char		key[64];

	snprintf(key, sizeof(key), "%s=", name);
	if (r->wsi == NULL)
		return NULL;
	return lws_get_urlarg_by_name(r->wsi, key, buf, cap);	/* points at the value inside buf */
}

/*
 * Run sql with $1 method, $2 path with query, $3 signature headers, $4 the
 * body as hex, then the handler's own parameters from $5 on.
 */
static void
signed_call(HttpReq *r, const char *sql, int nextra, const char *const *extra, const char *ok)
{
	const char *params[8];
	char	   *headers = signature_headers(r);
	char	   *pathq = signed_path(r);
	char	   *hex = hex_of(r->body.data ? r->body.data : "", r->body.data ? r->body.len : 0);
	TaskCall   *c = malloc(sizeof(TaskCall));

	params[0] = r->method;
	params[1] = pathq;
	params[2] = headers;
	params[3] = hex;
	for (int i = 0; i < nextra && i < 4; i++)
		params[4 + i] = extra[i];
	c->r = r;
	c->ok_message = ok;
	db_call(sql, 4 + nextra, params, task_done, c);
	free(headers);
	free(pathq);
	free(hex);
}

#define VERIFIED "FROM helpdesk.verify_signed_request($1, $2, $3::jsonb, decode($4, 'hex')) v"

static void
task_receive(HttpReq *r)
{
	r->tenant = 0;
	signed_call(r, "SELECT helpdesk.receive_task(v.tenant_id, convert_from(decode($4, 'hex'), 'UTF8')::jsonb)::text "
				VERIFIED, 0, NULL, "任务接收成功");
}

static void
task_status(HttpReq *r)
{
	const char *extra[1] = {r->params[0]};

	signed_call(r, "SELECT helpdesk.task_status(v.tenant_id, $5)::text " VERIFIED, 1, extra, "OK");
}

static void
task_cancel(HttpReq *r)
{
	signed_call(r, "SELECT helpdesk.cancel_task(v.tenant_id, b->>'task_id', b->>'reason')::text "
				VERIFIED ", LATERAL (SELECT convert_from(decode($4, 'hex'), 'UTF8')::jsonb AS b) j",
				0, NULL, "任务已取消");
}

static void
task_list(HttpReq *r)
{
	char		b[4][256];
	const char *extra[4] = {query_arg(r, "customer_id", b[0], sizeof(b[0])),
		query_arg(r, "status", b[1], sizeof(b[1])), query_arg(r, "page", b[2], sizeof(b[2])),
	query_arg(r, "page_size", b[3], sizeof(b[3]))};

	signed_call(r, "SELECT helpdesk.list_tasks(v.tenant_id, nullif($5, ''), nullif($6, ''), "
				"coalesce(nullif($7, '')::int, 1), coalesce(nullif($8, '')::int, 20))::text " VERIFIED,
				4, extra, "OK");
}

static void
health(HttpReq *r)
{
	TaskCall   *c = malloc(sizeof(TaskCall));

	c->r = r;
	c->ok_message = "OK";
	db_call("SELECT jsonb_build_object('service', 'helpdesk-bridge', 'database', 'ok', "
			"'time', now(), 'version', (SELECT extversion FROM pg_extension WHERE extname = 'pg_helpdesk'))::text",
			0, NULL, task_done, c);
}

void
http_task_init(void)
{
	static const HttpRoute routes[] = {
		{"POST", "/api/task/receive", task_receive, TASK_MAX_BODY, 0},
		{"GET", "/api/task/status/{}", task_status, 0, 0},
		{"POST", "/api/task/cancel", task_cancel, 4096, 0},
		{"GET", "/api/task/list", task_list, 0, 0},
		{"GET", "/api/health", health, 0, 0},
	};

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		http_route_add(&routes[i]);
}
