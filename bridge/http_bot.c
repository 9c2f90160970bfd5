/*
 * http_bot.c — a webhook bot's answer over plain HTTP, for bots that would
 * rather not keep a socket: the same two calls as the bot token's frames
 * (commands.c), with the same token.
 *
 *   POST /api/v1/bot/answer   {session_id, text, options?, conversation_id?,
 *                             metadata?, handoff?, job_id?}  (bot_answer's fields)
 *   POST /api/v1/bot/handoff  {session_id, queue_id?}
 *
 * Authorization: Bearer <issue_bot_token's token>, checked here by the
 * shared rules (token_rules.c, as at a socket's connect) and must be of kind
 * bot; the database then checks the bot (enabled, webhook, token version:
 * revocation) and the session, as for a frame. The body is parsed by the
 * frame parser (protocol.c), so the two paths take the same fields.
 */
#include "bridge.h"
#include "db.h"
#include "http_router.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

static void
answered(HttpReq *r, bool answer, PGresult *res, const char *sqlstate, const char *message)
{
	json_t	   *doc;

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
		PQgetisnull(res, 0, 0))
	{
		http_reply_db_error(r, sqlstate, message);
		return;
	}
	doc = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	if (doc == NULL)
	{
		http_reply_error(r, 500, "db_error", "unexpected answer from the database");
		return;
	}
	if (answer && json_is_string(json_object_get(doc, "outcome")) &&
		strcmp(json_string_value(json_object_get(doc, "outcome")), "dropped") == 0)
	{
		/* as the frame's error dropped: noted on the job and logged, never shown */
		const char *st = json_string_value(json_object_get(doc, "session_state"));
		const char *why = json_string_value(json_object_get(doc, "handoff_reason"));
		char		m[256];

		snprintf(m, sizeof(m), "answer dropped: job %lld was no longer waiting for an answer (session %s%s%s)",
				 (long long) json_integer_value(json_object_get(doc, "job_id")), st ? st : "?",
				 why ? ", handed off: " : "", why ? why : "");
		json_decref(doc);
		http_reply_error(r, 409, ERR_DROPPED, m);
		return;
	}
	http_reply_json(r, 200, doc);
}

static void
answer_done(void *arg, PGresult *res, const char *sqlstate, const char *message)
{
	answered(arg, true, res, sqlstate, message);
}

static void
handoff_done(void *arg, PGresult *res, const char *sqlstate, const char *message)
{
	answered(arg, false, res, sqlstate, message);
}

static void
bot_call(HttpReq *r, bool answer)
{
	const char *auth = http_header(r, "authorization");
	TokenClaims claims;
	json_t	   *body;
	char	   *frame;
	Cmd			cmd;
	const char *code,
			   *msg;
	char		t[24],
				b[24],
				v[24],
				s[24],
				x[24];

	if (auth == NULL || strncmp(auth, "Bearer ", 7) != 0 ||
		jwt_verify(auth + 7, strlen(auth + 7), cfg.token_secret, cfg.token_secret_previous,
				   now_us() / 1000000, &claims) != TOKEN_OK)
	{
		http_reply_error(r, 401, "unauthorized", "send Authorization: Bearer <a bot token of helpdesk.issue_bot_token>");
		return;
	}
	if (claims.kind != KIND_BOT)
	{
		http_reply_error(r, 403, "forbidden", "only a bot token (helpdesk.issue_bot_token) may answer for a bot");
		return;
	}
	r->tenant = claims.tenant;
	body = json_loadb(r->body.data, r->body.len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(body) || json_object_get(body, "type") != NULL)
	{
		json_decref(body);
		http_reply_error(r, 400, "invalid_argument", "the body must be a JSON object of the frame's fields, without type");
		return;
	}
	json_object_set_new(body, "type", json_string(answer ? "bot_answer" : "bot_handoff"));
	frame = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	code = frame ? cmd_parse(frame, strlen(frame), KIND_BOT, &cmd, &msg) : ERR_BAD_JSON;
	free(frame);
	if (code)
	{
		char		m[160];

		snprintf(m, sizeof(m), "%s%s", strcmp(code, ERR_BAD_FRAME) == 0 && msg && !strchr(msg, ' ')
				 ? "missing or malformed field: " : "", msg ? msg : "malformed body");
		cmd_free(&cmd);
		http_reply_error(r, 400, "invalid_argument", m);
		return;
	}
	snprintf(t, sizeof(t), "%lld", (long long) claims.tenant);
	snprintf(b, sizeof(b), "%lld", (long long) claims.subject);
	snprintf(v, sizeof(v), "%lld", (long long) claims.ver);
	snprintf(s, sizeof(s), "%lld", (long long) cmd.session_id);
	if (answer)
	{
		const char *p[6] = {t, b, v, s, cmd.answer, NULL};

		if (cmd.job_id)
			p[5] = (snprintf(x, sizeof(x), "%lld", (long long) cmd.job_id), x);
		db_call("SELECT helpdesk.bot_bridge_answer($1, $2, $3, $4, $5::pg_catalog.jsonb, $6)", 6, p,
				answer_done, r);
	}
	else
	{
		const char *p[5] = {t, b, v, s, NULL};

		if (cmd.queue_id)
			p[4] = (snprintf(x, sizeof(x), "%lld", (long long) cmd.queue_id), x);
		db_call("SELECT pg_catalog.jsonb_build_object('queue_id', "
				"helpdesk.bot_bridge_handoff($1, $2, $3, $4, $5))", 5, p, handoff_done, r);
	}
	cmd_free(&cmd);
}

static void
bot_answer(HttpReq *r)
{
	bot_call(r, true);
}

static void
bot_handoff(HttpReq *r)
{
	bot_call(r, false);
}

void		http_bot_init(void);

void
http_bot_init(void)
{
	static const HttpRoute routes[] = {
		{"POST", "/api/v1/bot/answer", bot_answer, 256 * 1024, 0},
		{"POST", "/api/v1/bot/handoff", bot_handoff, 4 * 1024, 0},
	};

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		http_route_add(&routes[i]);
}
