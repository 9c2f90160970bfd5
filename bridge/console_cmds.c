/*
 * console_cmds.c — the frames the agent console and the customer widget
 * need beyond chatting (docs/bridge-protocol.md, "Console frames"): the
 * conversation list, the customer panel, the directory of agents and
 * queues, tickets, escalation, CSAT, quick replies, a customer's queue
 * position and a supervisor's takeover of a bot session. Like every frame
 * each is one SQL call as the token's tenant and subject; who may read what
 * is decided in the database (extension/bridge_api/10_console_reads.sql) or,
 * for a session, by the sessions the socket holds.
 */
#include "client.h"

#include <stdio.h>
#include <string.h>

static const char *
num(char *buf, int64_t v)
{
	snprintf(buf, 24, "%lld", (long long) v);
	return v ? buf : NULL;
}

static bool
holds(Client *c, int64_t session_id)
{
	return c->kind == KIND_SUPERVISOR || idset_has(&c->sessions, session_id);
}

void
console_command(Client *c, Cmd *cmd)
{
	char		t[24],
				id[24],
				s[24],
				x[24];
	const char *kind = kind_name(c->kind);

	(void) num(t, c->tenant);
	(void) num(id, c->subject);
	(void) num(s, cmd->session_id);
	switch (cmd->type)
	{
		case CMD_LIST:
			{
				const char *p[4] = {t, kind, id, cmd->scope};

				command_call(c, cmd, "SELECT helpdesk.bridge_console_sessions($1, $2, $3, $4)", 4, p);
				return;
			}
		case CMD_CUSTOMER:
			{
				const char *p[4] = {t, kind, id, s};

				command_call(c, cmd, "SELECT helpdesk.bridge_console_customer($1, $2, $3, $4)", 4, p);
				return;
			}
		case CMD_DIRECTORY:
			{
				const char *p[1] = {t};

				command_call(c, cmd, "SELECT helpdesk.bridge_console_directory($1)", 1, p);
				return;
			}
		case CMD_TICKETS:
			{
				/*
				 * mine: assigned to me; unassigned; all (default), or with
				 * assignee_id one agent's (the parser allows it with all only)
				 */
				const char *scope = cmd->scope ? cmd->scope : "all";
				const char *p[5] = {t, cmd->status,
					strcmp(scope, "mine") == 0 ? id : num(x, cmd->agent_id),
					cmd->priority, strcmp(scope, "unassigned") == 0 ? "true" : NULL};

				command_call(c, cmd, "SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(k) ORDER BY k.id DESC), '[]') "
							 "FROM helpdesk.list_tickets($1, pg_catalog.string_to_array($2, ','), NULL, $3, NULL, "
							 "pg_catalog.string_to_array($4, ','), NULL, NULL, 200, $5::pg_catalog.bool) k", 5, p);
				return;
			}
		case CMD_TICKET:
			{
				const char *p[2] = {t, num(x, cmd->ticket_id)};

				command_call(c, cmd, "SELECT helpdesk.get_ticket($1, $2)", 2, p);
				return;
			}
		case CMD_ESCALATE:
			if (!holds(c, cmd->session_id))
				break;
			{
				const char *p[6] = {t, s, cmd->subject, cmd->priority ? cmd->priority : "normal", id,
				cmd->reason};

				command_call(c, cmd, "SELECT pg_catalog.jsonb_build_object('ticket_id', helpdesk.escalate_session("
							 "$1, $2, $3, $4, NULL, NULL, 'agent', $5, $6))", 6, p);
				return;
			}
		case CMD_CSAT:
			{
				/*
				 * submit_csat checks the session or the ticket is this
				 * customer's (42501) and that a survey was asked (HD404)
				 */
				char		k[24];
				const char *p[6] = {t, cmd->ticket_id ? "ticket" : "session",
					cmd->ticket_id ? num(k, cmd->ticket_id) : s, id, num(x, cmd->score), cmd->text};

				command_call(c, cmd, "SELECT pg_catalog.jsonb_build_object('survey_id', helpdesk.submit_csat("
							 "$1, $2, $3, $4, $5::pg_catalog.int4, $6))", 6, p);
				return;
			}
		case CMD_QUICK_REPLIES:
			{
				const char *p[3] = {t, id, cmd->text ? cmd->text : ""};

				command_call(c, cmd, "SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(r)), '[]') "
							 "FROM helpdesk.search_quick_replies($1, $2, $3, 20) r", 3, p);
				return;
			}
		case CMD_QUICK_REPLY:
			if (cmd->session_id && !holds(c, cmd->session_id))
				break;
			{
				const char *p[4] = {t, num(x, cmd->quick_reply_id), id, cmd->session_id ? s : NULL};

				command_call(c, cmd, "SELECT pg_catalog.jsonb_build_object('text', helpdesk.render_quick_reply("
							 "$1, $2, $3, $4))", 4, p);
				return;
			}
		case CMD_QUEUE_POSITION:
			if (!holds(c, cmd->session_id))
				break;
			{
				const char *p[2] = {t, s};

				command_call(c, cmd, "SELECT pg_catalog.jsonb_build_object('queue_id', r.queue_id, "
							 "'position', r.queue_position, 'estimated_wait_s', "
							 "pg_catalog.date_part('epoch', r.estimated_wait)::pg_catalog.int8) "
							 "FROM helpdesk.queue_position($1, $2) r", 2, p);
				return;
			}
		case CMD_TAKEOVER:
			{
				/* a bot session goes to a human queue (handoff_to_agent) */
				const char *p[3] = {t, s, num(x, cmd->queue_id)};

				command_call(c, cmd, "SELECT pg_catalog.jsonb_build_object('queue_id', helpdesk.handoff_to_agent($1, $2, $3))",
							 3, p);
				return;
			}
		case CMD_CONTACT:
			{
				/* start_session, or an offline ticket when nobody can answer */
				const char *p[6] = {t, id, cmd->text, num(x, cmd->queue_id), cmd->issue_type,
				cmd->client_msg_id};

				command_call(c, cmd, "SELECT pg_catalog.to_jsonb(r) FROM helpdesk.contact_support($1, $2, $3, 'web', "
							 "$4, $5, NULL, $6) r", 6, p);
				return;
			}
		case CMD_AGENT_MESSAGE:
			{
				const char *p[5] = {t, id, num(x, cmd->to_agent_id), cmd->text,
				cmd->session_id ? s : NULL};

				command_call(c, cmd, "SELECT pg_catalog.to_jsonb(helpdesk.send_agent_message($1, $2, $3, $4, $5)::pg_catalog.text)",
							 5, p);
				return;
			}
		default:
			return;
	}
	client_send_error(c, cmd->ref, ERR_FORBIDDEN, "not a session of yours", NULL);
}
