/*
 * http_upload.c — uploads over HTTP: POST /api/v1/uploads with a Bearer
 * token (agent, supervisor or customer), the signed player route
 * (http_player.c) and downloads at signed, expiring URLs:
 *   /api/v1/files/<tenant>/<id>?exp=<unix s>&sig=<base64url HMAC-SHA256>
 * of "upload <tenant> <id> <exp>" with the token secret (every bridge of a
 * deployment shares it, so a URL works on any of them; no database call to
 * check it). Downloads are streamed from the database in ranges of
 * CHUNK_BYTES (upload_chunk: substring of EXTERNAL storage), never loaded
 * whole; Range gives 206 or 416.
 */
#include "http_router.h"
#include "db.h"
#include "token_rules.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_BYTES (256 * 1024)

typedef struct Download
{
	int64_t		tenant;
	int64_t		id;
	int64_t		next;			/* next byte to read */
	int64_t		end;			/* one past the last byte to send */
} Download;

/* the signed download URL of an upload, valid --upload-url-ttl seconds */
void
http_upload_url(Buf *out, int64_t tenant, int64_t id)
{
	char		msg[96];
	char		mac[64];
	long long	exp = now_us() / 1000000 + cfg.upload_url_ttl;
	int			n = snprintf(msg, sizeof(msg), "upload %lld %lld %lld", (long long) tenant,
							 (long long) id, exp);

	hd_hmac_b64url(cfg.token_secret, msg, (size_t) n, mac);
	http_base_url(out);
	buf_printf(out, "/api/v1/files/%lld/%lld?exp=%lld&sig=%s", (long long) tenant,
			   (long long) id, exp, mac);
}

static bool
url_valid(int64_t tenant, int64_t id, const char *exp_s, const char *sig, bool *expired)
{
	char		msg[96];
	char		mac[64];
	char	   *end;
	long long	exp;
	size_t		m;
	int			n;

	*expired = false;
	if (exp_s == NULL || sig == NULL)
		return false;
	exp = strtoll(exp_s, &end, 10);
	if (*end != '\0' || end == exp_s)
		return false;
	n = snprintf(msg, sizeof(msg), "upload %lld %lld %lld", (long long) tenant, (long long) id, exp);
	m = hd_hmac_b64url(cfg.token_secret, msg, (size_t) n, mac);
	if (m == 0 || strlen(sig) != m || CRYPTO_memcmp(sig, mac, m) != 0)
		return false;
	if (exp < now_us() / 1000000)
	{
		*expired = true;
		return false;
	}
	return true;
}

static void
upload_answer(HttpReq *r, PGresult *res, int64_t tenant)
{
	Buf			url = {0};
	json_t	   *doc;

	/* upload_id, mime, size, sha256 */
	http_upload_url(&url, tenant, strtoll(PQgetvalue(res, 0, 0), NULL, 10));
	doc = json_pack("{s:I,s:s,s:s,s:I,s:s}",
					"id", (json_int_t) strtoll(PQgetvalue(res, 0, 0), NULL, 10),
					"url", url.data,
					"mime", PQgetvalue(res, 0, 1),
					"size", (json_int_t) strtoll(PQgetvalue(res, 0, 2), NULL, 10),
					"sha256", PQgetvalue(res, 0, 3));
	buf_free(&url);
	http_reply_json(r, 201, doc);
}

static void
stored(void *arg, PGresult *res, const char *sqlstate, const char *message)
{
	HttpReq    *r = arg;

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
	{
		http_reply_db_error(r, sqlstate, message);
		return;
	}
	r->tenant = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
	upload_answer(r, res, r->tenant);
}

/* POST /api/v1/uploads: the token is checked by the database (revocation included) */
static void
upload_with_token(HttpReq *r)
{
	const char *auth = http_header(r, "authorization");
	const char *params[4];
	int			lengths[4] = {-1, -1, -1, (int) r->body.len};

	if (auth == NULL || strncmp(auth, "Bearer ", 7) != 0)
	{
		http_reply_error(r, 401, "unauthorized", "send Authorization: Bearer <token>");
		return;
	}
	if (r->body.len == 0)
	{
		http_reply_error(r, 400, "bad_request", "the body is the file, and it is empty");
		return;
	}
	params[0] = auth + 7;
	params[1] = http_header(r, "x-filename");
	params[2] = http_header(r, "content-type");
	params[3] = r->body.data;
	db_call_bin("SELECT (u).upload_id, (u).mime, (u).size, (u).sha256, c.tenant "
				"FROM (SELECT (v ->> 'tenant')::bigint AS tenant, v ->> 'kind' AS kind, "
				"(v ->> 'sub')::bigint AS sub FROM helpdesk.verify_token($1) v) c, "
				"LATERAL (SELECT helpdesk.store_upload(c.tenant, c.kind, c.sub, $2, $3, $4::bytea) AS u) s",
				4, params, lengths, false, stored, r);
}

/* ---- downloads ---- */

static void
chunk_read(void *arg, PGresult *res, const char *sqlstate, const char *message)
{
	HttpReq    *r = arg;
	Download   *d = r->user;
	int			n;

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
		PQgetisnull(res, 0, 0))
	{
		/* the headers are out: all we can do is cut the connection */
		blog(BLOG_WARN, "upload %lld of tenant %lld: reading bytes %lld.. failed: %s %.*s",
			 (long long) d->id, (long long) d->tenant, (long long) d->next,
			 sqlstate ? sqlstate : "-", (int) strcspn(message ? message : "", "\n"),
			 message ? message : "");
		http_stream_fail(r);
		return;
	}
	n = PQgetlength(res, 0, 0);
	d->next += n;
	http_stream_put(r, PQgetvalue(res, 0, 0), (size_t) n);
}

static void
pull_chunk(HttpReq *r)
{
	Download   *d = r->user;
	char		t[24],
				id[24],
				off[24],
				len[24];
	const char *params[4] = {t, id, off, len};
	int			lengths[4] = {-1, -1, -1, -1};
	int64_t		want = d->end - d->next;

	if (want > CHUNK_BYTES)
		want = CHUNK_BYTES;
	snprintf(t, sizeof(t), "%lld", (long long) d->tenant);
	snprintf(id, sizeof(id), "%lld", (long long) d->id);
	snprintf(off, sizeof(off), "%lld", (long long) d->next);
	snprintf(len, sizeof(len), "%lld", (long long) want);
	db_call_bin("SELECT helpdesk.upload_chunk($1, $2, $3, $4)", 4, params, lengths, true,
				chunk_read, r);
}

static void
info_read(void *arg, PGresult *res, const char *sqlstate, const char *message)
{
	HttpReq    *r = arg;
	Download   *d = r->user;
	const char *mime;
	int64_t		size,
				first = 0,
				last;
	char		disp[300],
				safe[220],
				v[96];
	int			rc;

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
	{
		http_reply_db_error(r, sqlstate, message);
		return;
	}
	if (PQgetisnull(res, 0, 1))
	{
		http_reply_error(r, 404, "not_found", "no such upload");
		return;
	}
	mime = PQgetvalue(res, 0, 1);
	size = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	last = size - 1;
	http_safe_filename(PQgetvalue(res, 0, 0), safe, sizeof(safe));
	http_add_header(r, "x-content-type-options", "nosniff");
	http_add_header(r, "content-security-policy", "default-src 'none'; sandbox");
	http_add_header(r, "cache-control", "private, max-age=300");
	http_add_header(r, "accept-ranges", "bytes");
	snprintf(v, sizeof(v), "\"%.64s\"", PQgetvalue(res, 0, 3));
	http_add_header(r, "etag", v);
	snprintf(disp, sizeof(disp), "%s; filename=\"%s\"",
			 strncmp(mime, "image/", 6) == 0 ? "inline" : "attachment", safe);
	http_add_header(r, "content-disposition", disp);
	rc = http_parse_range(http_header(r, "range"), size, &first, &last);
	if (rc < 0)
	{
		snprintf(v, sizeof(v), "bytes */%lld", (long long) size);
		http_add_header(r, "content-range", v);
		http_reply_error(r, 416, "range_not_satisfiable", "the range is outside the file");
		return;
	}
	if (rc > 0)
	{
		snprintf(v, sizeof(v), "bytes %lld-%lld/%lld", (long long) first, (long long) last,
				 (long long) size);
		http_add_header(r, "content-range", v);
	}
	d->next = first;
	d->end = last + 1;
	http_stream_begin(r, rc > 0 ? 206 : 200, mime, d->end - d->next, pull_chunk);
}

static void
download(HttpReq *r)
{
	Download   *d = calloc(1, sizeof(Download));
	bool		expired;
	char		t[24],
				id[24];
	const char *params[2] = {t, id};
	char	   *e1,
			   *e2;

	r->user = d;
	r->user_free = free;
	d->tenant = strtoll(r->params[0], &e1, 10);
	d->id = strtoll(r->params[1], &e2, 10);
	if (*e1 || *e2 || d->tenant <= 0 || d->id <= 0)
	{
		http_reply_error(r, 404, "not_found", "no such upload");
		return;
	}
	if (!url_valid(d->tenant, d->id, http_query_arg(r, "exp"), http_query_arg(r, "sig"), &expired))
	{
		if (expired)
			http_reply_error(r, 403, "url_expired", "this download URL has expired; ask for a new one");
		else
			http_reply_error(r, 403, "bad_url", "this download URL is not signed by us");
		return;
	}
	r->tenant = d->tenant;
	snprintf(t, sizeof(t), "%lld", (long long) d->tenant);
	snprintf(id, sizeof(id), "%lld", (long long) d->id);
	db_call("SELECT name, mime, size, sha256 FROM helpdesk.upload_info($1, $2)", 2, params,
			info_read, r);
}

/*
 * GET /api/v1/uploads/<id>: the stable URL stored in attachments. A holder
 * of a token of the upload's tenant (Authorization: Bearer, or ?token= for
 * an <img> tag) is redirected (302) to a fresh signed URL.
 */
static void
upload_redirect(HttpReq *r)
{
	const char *auth = http_header(r, "authorization");
	const char *tok = auth && strncmp(auth, "Bearer ", 7) == 0 ? auth + 7 : http_query_arg(r, "token");
	TokenClaims claims;
	char	   *end;
	long long	id = strtoll(r->params[0], &end, 10);
	Buf			url = {0};

	if (tok == NULL ||
		jwt_verify(tok, strlen(tok), cfg.token_secret, cfg.token_secret_previous,
				   now_us() / 1000000, &claims) != TOKEN_OK)
	{
		http_reply_error(r, 401, "unauthorized", "send a token of the tenant (Authorization: Bearer, or ?token=)");
		return;
	}
	if (claims.kind == KIND_BOT)
	{
		/* a bot token answers its sessions and nothing else */
		http_reply_error(r, 403, "forbidden", "a bot token reads no uploads");
		return;
	}
	if (*end || id <= 0)
	{
		http_reply_error(r, 404, "not_found", "no such upload");
		return;
	}
	r->tenant = claims.tenant;
	http_upload_url(&url, claims.tenant, id);
	http_add_header(r, "location", url.data);
	http_add_header(r, "cache-control", "no-store");
	buf_free(&url);
	http_reply(r, 302, "text/plain", NULL, 0);
}

void		http_upload_init(void);

void
http_upload_init(void)
{
	HttpRoute	routes[] = {
		{"POST", "/api/v1/uploads", upload_with_token, (size_t) cfg.max_upload, HTTP_CORS | HTTP_RAW},
		{"GET", "/api/v1/files/{}/{}", download, 0, HTTP_CORS},
		{"GET", "/api/v1/uploads/{}", upload_redirect, 0, HTTP_CORS},
	};

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		http_route_add(&routes[i]);
}
