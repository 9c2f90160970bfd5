/*
 * commands.c — what client frames do in the database.
 *
 * Each frame becomes one call of the SQL API on the pool, always with the
 * token's tenant and subject (a client never names who it is); the SQL
 * functions enforce who may do what to which session (a qa agent: nothing
 * that writes; server.c refuses a qa token's write frames before they get
 * here). The reply is an ack
 * frame carrying the function's result as JSON, or an error frame with the
 * SQLSTATE and PostgreSQL's message.
 */
#include "client.h"
#include "db.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

typedef struct Pending
{
	Client	   *client;
	CmdType		type;
	char		ref[104];
	bool		has_ref;
} Pending;

static void
reply(void *arg, PGresult *res, const char *sqlstate, const char *message)
{
	Pending    *p = arg;
	Client	   *c = p->client;
	const char *ref = p->has_ref ? p->ref : NULL;

	if (c->wsi == NULL)
		goto done;
	if (res == NULL)
		client_send_error(c, ref, ERR_UNAVAILABLE, "database unavailable; retry (sends are idempotent by client_msg_id)", NULL);
	else if (c->kind == KIND_BOT && PQresultStatus(res) != PGRES_TUPLES_OK && sqlstate &&
			 strcmp(sqlstate, "28000") == 0)
	{
		/* the bot's token was revoked (or its bot disabled, deleted): this socket is done */
		const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

		client_send_error(c, ref, ERR_REVOKED, primary ? primary : message, sqlstate);
		c->revoked = true;		/* closed 4004 once the error is out (stream.c) */
	}
	else if (p->type == CMD_BOT_ANSWER && PQresultStatus(res) == PGRES_TUPLES_OK &&
			 PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) &&
			 strstr(PQgetvalue(res, 0, 0), "\"outcome\": \"dropped\"") != NULL)
	{
		/*
		 * A late answer (the session was handed off meanwhile) or a second
		 * answer to one request: noted on the job and logged by the
		 * database, never shown. The bot is told so as an error.
		 */
		json_t	   *r = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
		const char *st = json_string_value(json_object_get(r, "session_state"));
		const char *why = json_string_value(json_object_get(r, "handoff_reason"));
		char		m[256];

		snprintf(m, sizeof(m), "answer dropped: job %lld was no longer waiting for an answer (session %s%s%s)",
				 (long long) json_integer_value(json_object_get(r, "job_id")), st ? st : "?",
				 why ? ", handed off: " : "", why ? why : "");
		json_decref(r);
		client_send_error(c, ref, ERR_DROPPED, m, NULL);
	}
	else if (PQresultStatus(res) != PGRES_TUPLES_OK && p->type == CMD_HISTORY && sqlstate &&
			 (strcmp(sqlstate, "42501") == 0 || strcmp(sqlstate, "HD404") == 0))
	{
		/* not the reader's (or no such) session: the same answer for both */
		client_send_error(c, ref, ERR_FORBIDDEN, "not a session of yours", NULL);
	}
	else if (PQresultStatus(res) == PGRES_TUPLES_OK && p->type == CMD_TICKET_HISTORY &&
			 (PQntuples(res) == 0 || PQgetisnull(res, 0, 0)))
	{
		/* not the customer's (or no such) ticket: the same answer for both */
		client_send_error(c, ref, ERR_FORBIDDEN, "not a ticket of yours", NULL);
	}
	else if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

		client_send_error(c, ref, ERR_DB, primary ? primary : message, sqlstate);
	}
	else
	{
		Buf			b = {0};
		const char *result = (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
			? PQgetvalue(res, 0, 0) : "null";

		if ((p->type == CMD_START || p->type == CMD_CONTACT) && PQntuples(res) > 0)
		{
			/* the customer sees its new session's events from now on */
			json_t	   *r = json_loads(result, 0, NULL);
			json_t	   *sid = json_object_get(r, "session_id");

			if (json_is_integer(sid))
				client_session_add(c, (int64_t) json_integer_value(sid));
			json_decref(r);
		}
		buf_puts(&b, "{\"type\":\"ack\",\"ref\":");
		if (ref)
			buf_json_string(&b, ref);
		else
			buf_puts(&b, "null");
		buf_puts(&b, ",\"op\":");
		buf_json_string(&b, cmd_name(p->type));
		buf_puts(&b, ",\"result\":");
		buf_puts(&b, result);
		buf_puts(&b, "}");
		client_send_raw(c, b.data, b.len);
		buf_free(&b);
	}
done:
	client_unref(c);
	free(p);
}

void
command_call(Client *c, Cmd *cmd, const char *sql, int n, const char *const *params)
{
	Pending    *p = calloc(1, sizeof(Pending));

	p->client = c;
	p->type = cmd->type;
	if (cmd->ref)
	{
		snprintf(p->ref, sizeof(p->ref), "%s", cmd->ref);
		p->has_ref = true;
	}
	client_ref(c);
	db_call(sql, n, params, reply, p);
}

/* an id as a query parameter; 0 (absent) is NULL */
static const char *
id_param(char *buf, int64_t v)
{
	snprintf(buf, 24, "%lld", (long long) v);
	return v ? buf : NULL;
}

static bool
may_see_session(Client *c, int64_t session_id)
{
	return c->kind == KIND_SUPERVISOR || idset_has(&c->sessions, session_id);
}

/*
 * Ticket frames: one SQL function each, always as the token's tenant and
 * subject. The database decides who may touch which ticket (a customer only
 * its own; notes, priority and assignment are staff only, and the frame
 * table already refuses them to customers). Staff act as sender or actor
 * kind agent in the tickets API and as themselves (agent or supervisor) in
 * assign_ticket, which tells them apart.
 */
static void
ticket_command(Client *c, Cmd *cmd, const char *t, const char *id)
{
	char		k[24],
				x[24];
	const char *kind = c->kind == KIND_CUSTOMER ? "customer" : "agent";

	(void) id_param(k, cmd->ticket_id);
	switch (cmd->type)
	{
		case CMD_TICKET_REPLY:
			{
				const char *p[9] = {t, k, kind, id, cmd->text, cmd->message_type,
				cmd->client_msg_id, cmd->attachment, cmd->status};

				command_call(c, cmd, "SELECT pg_catalog.jsonb_build_object('message_id', helpdesk.reply_ticket("
					 "$1, $2, $3, $4, $5, $6, $7, $8::pg_catalog.jsonb, $9))", 9, p);
				return;
			}
		case CMD_TICKET_NOTE:
			{
				const char *p[7] = {t, k, id, cmd->text, cmd->client_msg_id, cmd->message_type,
				cmd->attachment};

				command_call(c, cmd, "SELECT pg_catalog.jsonb_build_object('message_id', helpdesk.add_ticket_note("
					 "$1, $2, $3, $4, $5, $6, $7::pg_catalog.jsonb))", 7, p);
				return;
			}
		case CMD_TICKET_STATUS:
		case CMD_TICKET_PRIORITY:
			{
				const char *p[5] = {t, k, cmd->type == CMD_TICKET_STATUS ? cmd->status : cmd->priority,
				kind, id};

				/* the result: the status or priority before */
				command_call(c, cmd, cmd->type == CMD_TICKET_STATUS
					 ? "SELECT pg_catalog.jsonb_build_object('previous', helpdesk.set_ticket_status($1, $2, $3, $4, $5))"
					 : "SELECT pg_catalog.jsonb_build_object('previous', helpdesk.set_ticket_priority($1, $2, $3, $4, $5))", 5, p);
				return;
			}
		case CMD_TICKET_ASSIGN:
			{
				const char *p[6] = {t, k, cmd->unassign ? NULL : id_param(x, cmd->agent_id),
					kind_name(c->kind), id, cmd->force ? "true" : "false"};
				const char *q[7] = {p[0], p[1], p[2], p[3], p[4], p[5], cmd->reason};

				command_call(c, cmd, "SELECT pg_catalog.jsonb_build_object('changed', helpdesk.assign_ticket("
					 "$1, $2, $3, $4, $5, $6::pg_catalog.bool, $7))", 7, q);
				return;
			}
		case CMD_TICKET_TAKE:
			{
				const char *p[3] = {t, id, k};

				command_call(c, cmd, "SELECT pg_catalog.jsonb_build_object('changed', helpdesk.take_ticket($1, $2, $3))",
					 3, p);
				return;
			}
		case CMD_TICKET_DELIVERED:
		case CMD_TICKET_READ:
			{
				const char *p[5] = {t, k, kind, id, id_param(x, cmd->up_to)};

				command_call(c, cmd, cmd->type == CMD_TICKET_READ
					 ? "SELECT pg_catalog.jsonb_build_object('count', helpdesk.mark_ticket_read($1, $2, $3, $4, $5))"
					 : "SELECT pg_catalog.jsonb_build_object('count', helpdesk.mark_ticket_delivered($1, $2, $3, $4, $5))", 5, p);
				return;
			}
		case CMD_TICKET_HISTORY:
			{
				/*
				 * A customer reads its own tickets' public thread; staff any
				 * ticket of the tenant, notes included. NULL (answered as
				 * forbidden, see reply) for someone else's or a missing one.
				 */
				const char *p[5] = {t, k, kind_name(c->kind), id, id_param(x, cmd->up_to)};

				if (p[4] == NULL)
					p[4] = "0";
				command_call(c, cmd, "SELECT CASE WHEN EXISTS (SELECT 1 FROM helpdesk.ticket tk "
					 "  WHERE tk.tenant_id = $1 AND tk.id = $2 "
					 "    AND ($3::pg_catalog.text OPERATOR(pg_catalog.<>) 'customer' OR tk.customer_id = $4::pg_catalog.int8)) "
					 "THEN (SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(m) ORDER BY m.id), '[]') "
					 "      FROM helpdesk.ticket_messages($1, $2, $5, 500, $3::pg_catalog.text OPERATOR(pg_catalog.<>) 'customer') m) END",
					 5, p);
				return;
			}
		default:
			return;
	}
}

void
command_run(Client *c, Cmd *cmd)
{
	char		t[24],
				s[24],
				id[24],
				x[24],
				y[24];
	const char *kind = c->kind == KIND_CUSTOMER ? "customer" : "agent";

	(void) id_param(t, c->tenant);
	(void) id_param(id, c->subject);
	switch (cmd->type)
	{
		case CMD_RESUME:
			if (c->state == ST_AUTH)
				c->resume = cmd->position;
			else
			{
				/*
				 * restart the stream; a read in flight is discarded when it
				 * lands. The position is of this node's log: a replay of a
				 * moved tenant's old one ends.
				 */
				c->pos = cmd->position;
				c->replaying = false;
				if (c->x)
				{
					c->x->replay_log[0] = '\0';
					buf_free(&c->x->catchup);
				}
				c->wake_from = 0;
				c->idle = false;
				c->state = ST_CATCHUP;
				if (c->catchup_inflight)
					c->catchup_restart = true;
				else
					client_start_catchup(c);
			}
			return;
		case CMD_HEARTBEAT:
			return;				/* the connection is the heartbeat; see heartbeat_tick */
		case CMD_TYPING:
			if (!may_see_session(c, cmd->session_id))
			{
				client_send_error(c, cmd->ref, ERR_FORBIDDEN, "not a session of yours", NULL);
				return;
			}
			{
				Buf			payload = {0};
				const char *params[1];

				/* signed: see typing.c */
				typing_payload(&payload, c, cmd->session_id);
				params[0] = payload.data;
				command_call(c, cmd, "SELECT pg_catalog.to_jsonb(pg_catalog.pg_notify('helpdesk_typing', $1))", 1, params);
				buf_free(&payload);
			}
			return;
		case CMD_START:
			{
				const char *p[6] = {t, id, id_param(x, cmd->queue_id), cmd->issue_type, cmd->text,
				cmd->client_msg_id};

				command_call(c, cmd, "SELECT pg_catalog.to_jsonb(r) FROM helpdesk.start_session($1, $2, 'web', $3, $4, $5, "
					 "NULL, 0, $6) r", 6, p);
				return;
			}
		case CMD_MESSAGE:
			{
				const char *p[9] = {t, id_param(s, cmd->session_id), cmd->note ? "note" : kind, id, cmd->text,
				cmd->message_type, cmd->client_msg_id, cmd->attachment, cmd->options};

				command_call(c, cmd, "SELECT pg_catalog.jsonb_build_object('message_id', helpdesk.post_message("
					 "$1, $2, $3, $4, $5, $6, $7, $8::pg_catalog.jsonb, $9::pg_catalog.jsonb))", 9, p);
				return;
			}
		case CMD_DELIVERED:
		case CMD_READ:
			{
				const char *p[5] = {t, id_param(s, cmd->session_id), kind, id, id_param(x, cmd->up_to)};

				command_call(c, cmd, cmd->type == CMD_READ
					 ? "SELECT pg_catalog.to_jsonb(helpdesk.mark_read($1, $2, $3, $4, $5))"
					 : "SELECT pg_catalog.to_jsonb(helpdesk.mark_delivered($1, $2, $3, $4, $5))", 5, p);
				return;
			}
		case CMD_STATUS:
			{
				const char *p[3] = {t, id, cmd->status};

				command_call(c, cmd, "SELECT pg_catalog.to_jsonb(helpdesk.set_agent_status($1, $2, $3))", 3, p);
				return;
			}
		case CMD_ACCEPT:
		case CMD_CLAIM:
			{
				const char *p[3] = {t, id, id_param(s, cmd->session_id)};

				command_call(c, cmd, cmd->type == CMD_ACCEPT
					 ? "SELECT pg_catalog.to_jsonb(helpdesk.accept_offer($1, $2, $3)::pg_catalog.text)"
					 : "SELECT pg_catalog.to_jsonb(helpdesk.claim_session($1, $2, $3)::pg_catalog.text)", 3, p);
				return;
			}
		case CMD_DECLINE:
			{
				const char *p[4] = {t, id, id_param(s, cmd->session_id), cmd->reason};

				command_call(c, cmd, "SELECT pg_catalog.to_jsonb(helpdesk.decline_offer($1, $2, $3, $4)::pg_catalog.text)", 4, p);
				return;
			}
		case CMD_TRANSFER:
			{
				const char *p[6] = {t, id_param(s, cmd->session_id), id, id_param(x, cmd->to_agent_id),
				id_param(y, cmd->to_queue_id), cmd->reason};

				command_call(c, cmd, "SELECT pg_catalog.to_jsonb(helpdesk.transfer_session($1, $2, $3, $4, $5, $6))", 6, p);
				return;
			}
		case CMD_CLOSE:
			{
				const char *p[5] = {t, id_param(s, cmd->session_id), cmd->reason ? cmd->reason : "closed",
				kind, id};

				command_call(c, cmd, "SELECT pg_catalog.to_jsonb(helpdesk.close_session($1, $2, $3, $4, $5))", 5, p);
				return;
			}
		case CMD_HISTORY:
			{
				/*
				 * The database decides, by who holds the session now (not by
				 * what this socket was shown): session_history. Its refusal
				 * is answered as forbidden (see reply).
				 */
				const char *p[5] = {t, id_param(s, cmd->session_id), kind_name(c->kind), id,
				id_param(x, cmd->up_to)};

				if (cmd->before_id)
				{
					/* a page backwards: the newest `limit` before before_id */
					char		lim[24];
					const char *q[6] = {p[0], p[1], p[2], p[3], id_param(x, cmd->before_id),
					id_param(lim, cmd->limit ? cmd->limit : 100)};

					command_call(c, cmd, "SELECT helpdesk.bridge_history_before($1, $2, $3, $4, $5, $6)", 6, q);
					return;
				}
				if (p[4] == NULL)
					p[4] = "0";
				command_call(c, cmd, "SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(m) ORDER BY m.id), '[]') "
					 "FROM helpdesk.session_history($1, $2, $3, $4, $5, 500) m", 5, p);
				return;
			}
		case CMD_TICKET_REPLY:
		case CMD_TICKET_NOTE:
		case CMD_TICKET_STATUS:
		case CMD_TICKET_PRIORITY:
		case CMD_TICKET_ASSIGN:
		case CMD_TICKET_TAKE:
		case CMD_TICKET_DELIVERED:
		case CMD_TICKET_READ:
		case CMD_TICKET_HISTORY:
			ticket_command(c, cmd, t, id);
			return;
		case CMD_LIST:
		case CMD_CUSTOMER:
		case CMD_DIRECTORY:
		case CMD_TICKETS:
		case CMD_TICKET:
		case CMD_ESCALATE:
		case CMD_CSAT:
		case CMD_QUICK_REPLIES:
		case CMD_QUICK_REPLY:
		case CMD_QUEUE_POSITION:
		case CMD_TAKEOVER:
		case CMD_AGENT_MESSAGE:
		case CMD_CONTACT:
			console_command(c, cmd);
			return;
		case CMD_BOT_ANSWER:
			{
				/* the token's tenant, bot and version; the database checks them */
				char		v[24];
				const char *p[6] = {t, id, id_param(v, c->token_ver), id_param(s, cmd->session_id),
				cmd->answer, id_param(x, cmd->job_id)};

				command_call(c, cmd, "SELECT helpdesk.bot_bridge_answer($1, $2, $3, $4, $5::pg_catalog.jsonb, $6)",
							 6, p);
				return;
			}
		case CMD_BOT_HANDOFF:
			{
				char		v[24];
				const char *p[5] = {t, id, id_param(v, c->token_ver), id_param(s, cmd->session_id),
				id_param(x, cmd->queue_id)};

				command_call(c, cmd, "SELECT pg_catalog.jsonb_build_object('queue_id', "
							 "helpdesk.bot_bridge_handoff($1, $2, $3, $4, $5))", 5, p);
				return;
			}
		case CMD_COUNT:
			return;
	}
}

/*
 * A client resuming from a position of another node's log (?log=): the
 * answer of bridge_moved_log. Null: the position is of this log. A log the
 * tenant moved here from: the catch-up replays the old log's copy from the
 * position, then continues in this log (stream.c). Any other log, or a
 * position outside the copy: 4010, the client reloads. False when closed.
 */
static bool
replay_from_moved_log(Client *c, json_t *moved)
{
	int64_t		oldest,
				last;
	const char *log;

	if (c->x)
		c->x->replay_log[0] = '\0';
	if (!json_is_object(moved))
		return true;
	if (!json_is_true(json_object_get(moved, "known")))
	{
		client_close(c, CLOSE_POSITION_GONE, "position of another event log; reload and connect without one");
		return false;
	}
	oldest = (int64_t) json_integer_value(json_object_get(moved, "oldest"));
	last = (int64_t) json_integer_value(json_object_get(moved, "last_pos"));
	log = json_string_value(json_object_get(moved, "log_id"));
	if (log == NULL || strlen(log) != 36 || c->resume < oldest || c->resume > last)
	{
		client_close(c, CLOSE_POSITION_GONE, "position not in the moved tenant's old log; reload and connect without one");
		return false;
	}
	snprintf(client_extra(c)->replay_log, sizeof(c->x->replay_log), "%s", log);
	c->x->replay_next = (int64_t) json_integer_value(json_object_get(moved, "next_pos"));
	c->x->replay_switch = false;
	c->replaying = true;
	return true;
}

static void
subscribed(void *arg, PGresult *res, const char *sqlstate, const char *message)
{
	Client	   *c = arg;
	json_t	   *doc = NULL,
			   *v;
	int64_t		position,
				oldest;
	size_t		i;
	Buf			b = {0};

	if (c->wsi == NULL)
		goto done;
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		blog(BLOG_WARN, "subscriber lookup failed: %s", message ? message : "?");
		client_close(c, 1013, "database unavailable, try again");
		goto done;
	}
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0) ||
		(doc = json_loads(PQgetvalue(res, 0, 0), 0, NULL)) == NULL)
	{
		metrics.auth_failures++;
		client_close(c, CLOSE_WRONG_TENANT, "subject not in tenant");
		goto done;
	}
	/*
	 * The agent's role now, from the database: the same as a login token's
	 * claim (a role change revokes the token), and the only source for a
	 * token of issue_token, which has none. It decides the write frames.
	 */
	v = json_object_get(doc, "role");
	if (json_is_string(v))
		c->role = (uint8_t) role_from_name(json_string_value(v));
	position = (int64_t) json_integer_value(json_object_get(doc, "position"));
	v = json_object_get(doc, "oldest");
	oldest = json_is_integer(v) ? (int64_t) json_integer_value(v) : position;
	json_array_foreach(json_object_get(doc, "sessions"), i, v)
		idset_add(&c->sessions, (int64_t) json_integer_value(v));
	json_array_foreach(json_object_get(doc, "queues"), i, v)
		idset_add(&client_extra(c)->queues, (int64_t) json_integer_value(v));
	if (!ring_same_log(json_string_value(json_object_get(doc, "log_id")), position))
	{
		/* the log changed and the ring is only now noticing: start afresh */
		client_close(c, 1013, "the event log changed; try again");
		goto done;
	}
	if (!replay_from_moved_log(c, json_object_get(doc, "moved")))
		goto done;
	if (c->replaying)
		c->pos = c->resume;		/* a position of the old log */
	else if (c->resume >= 0 && c->resume < oldest)
	{
		client_close(c, CLOSE_POSITION_GONE, "position pruned; reload and connect without one");
		goto done;
	}
	else
		c->pos = (c->resume >= 0 && c->resume < position) ? c->resume : position;
	c->since = position;

	buf_printf(&b, "{\"type\":\"hello\",\"kind\":\"%s\",\"role\":", kind_name(c->kind));
	/* the agent's role (bridge_subscriber); null for a customer */
	if (role_name((ClientRole) c->role))
		buf_printf(&b, "\"%s\"", role_name((ClientRole) c->role));
	else
		buf_puts(&b, "null");
	/* log_id: the log of the positions that follow (a moved tenant's old one while replaying) */
	buf_printf(&b, ",\"tenant\":%lld,\"subject\":%lld,\"position\":%lld,\"log_id\":\"%s\",\"sessions\":[",
			   (long long) c->tenant, (long long) c->subject, (long long) c->pos,
			   c->replaying ? c->x->replay_log : json_string_value(json_object_get(doc, "log_id")) ?: "");
	for (int k = 0; k < c->sessions.n; k++)
		buf_printf(&b, "%s%lld", k ? "," : "", (long long) idset_ids(&c->sessions)[k]);
	buf_puts(&b, "]}");
	client_send_raw(c, b.data, b.len);
	buf_free(&b);
	c->state = ST_CATCHUP;
	client_index(c);
	client_start_catchup(c);
done:
	json_decref(doc);
	client_unref(c);
}

/* at connect: does the subject exist, and what does it see */
void
subscriber_lookup(Client *c)
{
	char		t[24],
				s[24],
				r[24],
				v[24];
	const char *p[6];

	p[0] = id_param(t, c->tenant);
	p[1] = kind_name(c->kind);
	p[2] = id_param(s, c->subject);
	p[3] = c->resume >= 0 ? (snprintf(r, sizeof(r), "%lld", (long long) c->resume), r) : NULL;
	/* a token of agent_login: refused once logout or a new password bumped it */
	p[4] = c->token_ver > 0 ? id_param(v, c->token_ver) : NULL;
	client_ref(c);
	if (c->x && c->x->replay_log[0])
	{
		/* a position of another log: did the tenant move here from it? */
		p[5] = c->x->replay_log;
		db_call("SELECT helpdesk.bridge_subscriber($1, $2, $3, $4, $5) OPERATOR(pg_catalog.||) "
				"pg_catalog.jsonb_build_object('moved', helpdesk.bridge_moved_log($1, $6::pg_catalog.uuid))",
				6, p, subscribed, c);
	}
	else
		db_call("SELECT helpdesk.bridge_subscriber($1, $2, $3, $4, $5)", 5, p, subscribed, c);
}
