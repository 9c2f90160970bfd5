/*
 * http_routes.c — the route table's built-in entries and the small routes:
 * POST /api/v1/agent/login, and who may read /metrics (a bearer token,
 * --metrics-token-file, or only on --metrics-listen). The player API is in
 * http_player.c, uploads in http_upload.c.
 */
#include "http_router.h"
#include "db.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

extern void http_player_init(void);
extern void http_upload_init(void);
extern void http_bot_init(void);
extern void http_task_init(void);	/* http_task.c: seed 003's task API */
extern void http_static_init(void);	/* http_static.c */
extern int	http_serve(struct lws *wsi, const char *path);	/* metrics.c */

static struct lws_vhost *metrics_vhost;

/* ---- POST /api/v1/agent/login ---- */

static void
login_done(void *arg, PGresult *res, const char *sqlstate, const char *message)
{
	HttpReq    *r = arg;

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		http_reply_db_error(r, sqlstate, message);
		return;
	}
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
	{
		const char *reason = PQntuples(res) == 1 ? PQgetvalue(res, 0, 4) : "bad_credentials";

		if (strcmp(reason, "locked") == 0)
			http_reply_retry(r, 429, "locked", "too many failed logins; try again later",
							 atoi(PQgetvalue(res, 0, 5)));
		else
			http_reply_error(r, 401, "bad_credentials", "unknown agent or wrong password");
		return;
	}
	http_reply_json(r, 200, json_pack("{s:s,s:s,s:I,s:s}",
									  "token", PQgetvalue(res, 0, 0),
									  "expires_at", PQgetvalue(res, 0, 1),
									  "agent_id", (json_int_t) strtoll(PQgetvalue(res, 0, 2), NULL, 10),
									  "role", PQgetvalue(res, 0, 3)));
}

static void
login(HttpReq *r)
{
	json_t	   *doc = json_loadb(r->body.data, r->body.len, 0, NULL);
	const char *tenant = NULL,
			   *agent = NULL,
			   *password = NULL;
	json_int_t	ttl = 43200;
	char		ttl_s[32];
	const char *params[4];

	if (doc == NULL || json_unpack(doc, "{s:s,s:s,s:s,s?I}", "tenant", &tenant, "agent", &agent,
								   "password", &password, "ttl", &ttl) != 0)
	{
		json_decref(doc);
		http_reply_error(r, 400, "bad_request",
						 "the body is {\"tenant\", \"agent\", \"password\", \"ttl\"?} with strings and seconds");
		return;
	}
	if (ttl < 60 || ttl > 30 * 86400)
	{
		json_decref(doc);
		http_reply_error(r, 400, "bad_request", "ttl is 60 to 2592000 seconds");
		return;
	}
	snprintf(ttl_s, sizeof(ttl_s), "%lld seconds", (long long) ttl);
	params[0] = tenant;
	params[1] = agent;
	params[2] = password;
	params[3] = ttl_s;
	db_call("SELECT token, to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
			"agent_id, role, reason, ceil(extract(epoch FROM retry_after))::bigint "
			"FROM helpdesk.agent_login($1, $2, $3, $4::interval)",
			4, params, login_done, r);
	json_decref(doc);
}

/* ---- /metrics ---- */

/*
 * /metrics is served where --metrics-listen says (then only there) and,
 * with --metrics-token-file, only with "Authorization: Bearer <token>".
 */
bool
metrics_request_allowed(struct lws *wsi)
{
	char		auth[256];
	size_t		tl;

	if (cfg.metrics_listen && lws_get_vhost(wsi) != metrics_vhost)
		return false;
	if (cfg.metrics_token == NULL)
		return true;
	if (lws_hdr_copy(wsi, auth, sizeof(auth), WSI_TOKEN_HTTP_AUTHORIZATION) <= 0)
		return false;
	tl = strlen(cfg.metrics_token);
	return strncmp(auth, "Bearer ", 7) == 0 && strlen(auth + 7) == tl &&
		CRYPTO_memcmp(auth + 7, cfg.metrics_token, tl) == 0;
}

static int
metrics_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	if (reason != LWS_CALLBACK_HTTP)
		return 0;
	if (strcmp(in, "/metrics") == 0 && !metrics_request_allowed(wsi))
	{
		lws_return_http_status(wsi, HTTP_STATUS_UNAUTHORIZED, NULL);
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	}
	return http_serve(wsi, in);
}

/* the --metrics-listen vhost: /metrics and /healthz, nothing else */
int
http_metrics_vhost(struct lws_context *ctx, const struct lws_protocols *unused)
{
	static const struct lws_protocols mprotocols[] = {
		{"metrics", metrics_cb, 0, 0, 0, NULL, 0},
		{NULL, NULL, 0, 0, 0, NULL, 0}
	};
	static char addr[256];
	struct lws_context_creation_info info;
	char	   *colon;

	snprintf(addr, sizeof(addr), "%s", cfg.metrics_listen);
	colon = strrchr(addr, ':');
	*colon = '\0';
	memset(&info, 0, sizeof(info));
	info.port = atoi(colon + 1);
	info.iface = addr;
	info.protocols = mprotocols;
	info.vhost_name = "helpdesk-bridge-metrics";
	info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
	info.timeout_secs = (unsigned) cfg.http_timeout;
	info.keepalive_timeout = cfg.http_timeout;
	metrics_vhost = lws_create_vhost(ctx, &info);
	if (metrics_vhost == NULL)
	{
		blog(BLOG_ERR, "cannot listen for /metrics on %s", cfg.metrics_listen);
		return -1;
	}
	blog(BLOG_INFO, "/metrics on http://%s", cfg.metrics_listen);
	return 0;
}

void
http_base_url(Buf *out)
{
	if (cfg.public_http_url)
	{
		size_t		n = strlen(cfg.public_http_url);

		while (n > 0 && cfg.public_http_url[n - 1] == '/')
			n--;
		buf_append(out, cfg.public_http_url, n);
	}
	else
		buf_printf(out, "%s://%s:%d", cfg.tls_cert ? "https" : "http", cfg.listen_addr, cfg.port);
}

/* ---- the table ---- */

void
http_routes_init(struct lws_context *ctx)
{
	static const HttpRoute login_route = {"POST", "/api/v1/agent/login", login, 4096, HTTP_CORS};

	http_route_add(&login_route);
	http_player_init();
	http_upload_init();
	http_bot_init();			/* the bot routes (http_bot.c) */
	http_task_init();
	http_static_init();			/* /console/, /widget/ (http_static.c) */
	cors_init(ctx);
}

void
http_routes_shutdown(void)
{
	cors_stop();
}
