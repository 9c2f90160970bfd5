/*
 * http_player.c — the signed player API (seed 000's, for game servers and
 * WebViews): every route forwards method, path with query, the signing
 * headers, the raw body, the path's id and the query arguments to
 * helpdesk.player_call, which verifies, rate-limits and acts in one round
 * trip; the bridge only adds what only it knows (the WebSocket URL, signed
 * download URLs). Signature scheme: docs/http-api.md.
 */
#include "http_router.h"
#include "db.h"

#include <stdlib.h>
#include <string.h>

extern void http_upload_url(Buf *out, int64_t tenant, int64_t id);	/* http_upload.c */

typedef struct PlayerRoute
{
	HttpRoute	http;
	const char *name;			/* player_call's route */
} PlayerRoute;

static PlayerRoute player_routes[] = {
	{{"POST", "/api/v1/player/ws-token", NULL, 16384, HTTP_CORS}, "ws-token"},
	{{"POST", "/api/v1/player/sessions", NULL, 65536, HTTP_CORS}, "session-start"},
	{{"GET", "/api/v1/player/sessions/{}", NULL, 0, HTTP_CORS}, "session-get"},
	{{"POST", "/api/v1/player/sessions/{}/messages", NULL, 65536, HTTP_CORS}, "message"},
	{{"POST", "/api/v1/player/upload", NULL, 0, HTTP_CORS | HTTP_RAW}, "upload"},
	{{"POST", "/api/v1/player/tickets", NULL, 65536, HTTP_CORS}, "ticket-create"},
	{{"GET", "/api/v1/player/tickets", NULL, 0, HTTP_CORS}, "ticket-list"},
	{{"POST", "/api/v1/player/tickets/{}/replies", NULL, 65536, HTTP_CORS}, "ticket-reply"},
	{{"POST", "/api/v1/player/csat", NULL, 4096, HTTP_CORS}, "csat"},
};

static const char *
route_name(const HttpRoute *route)
{
	for (size_t i = 0; i < sizeof(player_routes) / sizeof(player_routes[0]); i++)
		if (strcmp(player_routes[i].http.pattern, route->pattern) == 0 &&
			strcmp(player_routes[i].http.method, route->method) == 0)
			return player_routes[i].name;
	return "?";
}

static void
answered(void *arg, PGresult *res, const char *sqlstate, const char *message)
{
	HttpReq    *r = arg;
	int			status;
	json_t	   *doc;
	const char *name;

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
	{
		http_reply_db_error(r, sqlstate, message);
		return;
	}
	status = atoi(PQgetvalue(res, 0, 0));
	r->tenant = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
	doc = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
	if (doc == NULL)
	{
		http_reply_error(r, 500, "db_error", "the database's answer is not JSON");
		return;
	}
	if (status == 429)
	{
		char		v[24];

		snprintf(v, sizeof(v), "%s", PQgetvalue(res, 0, 2));
		http_add_header(r, "retry-after", v);
		http_reply_json(r, status, doc);
		return;
	}
	name = route_name(r->route);
	if (strcmp(name, "ws-token") == 0)
	{
		Buf			url = {0};
		const char *token = json_string_value(json_object_get(doc, "token"));

		if (cfg.public_url)
			buf_puts(&url, cfg.public_url);
		else
			buf_printf(&url, "%s://%s:%d/", cfg.tls_cert ? "wss" : "ws", cfg.listen_addr, cfg.port);
		buf_printf(&url, "%s%s", strchr(url.data, '?') ? "&token=" : "?token=", token ? token : "");
		json_object_set_new(doc, "ws_url", json_string(url.data));
		buf_free(&url);
	}
	else if (strcmp(name, "upload") == 0)
	{
		Buf			url = {0};

		http_upload_url(&url, r->tenant, (int64_t) json_integer_value(json_object_get(doc, "id")));
		json_object_set_new(doc, "url", json_string(url.data));
		buf_free(&url);
	}
	http_reply_json(r, status, doc);
}

/* the query's arguments as a JSON object of strings (lws decoded them) */
static char *
args_json(const char *query)
{
	json_t	   *o = json_pack("{}");
	const char *s = query;
	char	   *out;

	while (s && *s)
	{
		size_t		len = strcspn(s, "&");
		const char *eq = memchr(s, '=', len);

		if (eq)
		{
			char	   *k = strndup(s, (size_t) (eq - s));
			char	   *v = strndup(eq + 1, len - (size_t) (eq - s) - 1);

			json_object_set_new(o, k, json_stringn(v, strlen(v)));
			free(k);
			free(v);
		}
		s += len;
		if (*s == '&')
			s++;
	}
	{
		/* for attachment URLs; set last, so a client cannot choose it */
		Buf			base = {0};

		http_base_url(&base);
		json_object_set_new(o, "_base_url", json_string(base.data));
		buf_free(&base);
	}
	out = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return out;
}

static void
player(HttpReq *r)
{
	static const char *const signed_headers[] = {
		"x-hd-app", "x-hd-timestamp", "x-hd-nonce", "x-hd-signature", "content-type", "x-filename",
	};
	json_t	   *h = json_pack("{}");
	char	   *headers,
			   *args;
	const char *params[7];
	int			lengths[7] = {-1, -1, -1, -1, (int) r->body.len, -1, -1};

	for (size_t i = 0; i < sizeof(signed_headers) / sizeof(signed_headers[0]); i++)
	{
		const char *v = http_header(r, signed_headers[i]);

		if (v)
			json_object_set_new(h, signed_headers[i], json_string(v));
	}
	headers = json_dumps(h, JSON_COMPACT);
	json_decref(h);
	args = args_json(r->query);
	if (headers == NULL || args == NULL)
	{
		free(headers);
		free(args);
		http_reply_error(r, 400, "malformed_request", "headers and query must be UTF-8");
		return;
	}
	params[0] = route_name(r->route);
	params[1] = r->method;
	params[2] = r->path_query;
	params[3] = headers;
	params[4] = r->body.data;
	params[5] = r->nparams > 0 ? r->params[0] : NULL;
	params[6] = args;
	db_call_bin("SELECT status, answer::text, retry_after, tenant_id "
				"FROM helpdesk.player_call($1, $2, $3, $4::jsonb, $5::bytea, $6::bigint, $7::jsonb)",
				7, params, lengths, false, answered, r);
	free(headers);
	free(args);
}

void		http_player_init(void);

void
http_player_init(void)
{
	for (size_t i = 0; i < sizeof(player_routes) / sizeof(player_routes[0]); i++)
	{
		player_routes[i].http.handler = player;
		if (strcmp(player_routes[i].name, "upload") == 0)
			player_routes[i].http.max_body = (size_t) cfg.max_upload;
		http_route_add(&player_routes[i].http);
	}
}
