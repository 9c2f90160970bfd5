/*
 * protocol.c — parsing and checking client frames.
 *
 * Pure functions over bytes (no sockets, no database) so that the fuzz
 * target can drive them directly. A frame is one JSON object with a
 * "type"; README.md ("Bridge protocol") lists each type and its fields.
 */
#include "bridge.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#define MAX_REF 100
#define MAX_SHORT 200

typedef struct CmdSpec
{
	const char *name;
	unsigned	kinds;			/* bit per ClientKind allowed */
	bool		writes;			/* changes a conversation or ticket: refused to qa */
} CmdSpec;

#define K_C (1u << KIND_CUSTOMER)
#define K_A (1u << KIND_AGENT)
#define K_S (1u << KIND_SUPERVISOR)
#define K_B (1u << KIND_BOT)

static const CmdSpec specs[CMD_COUNT] = {
	[CMD_RESUME] = {"resume", K_C | K_A | K_S, false},
	[CMD_START] = {"start", K_C, true},
	[CMD_MESSAGE] = {"message", K_C | K_A, true},
	[CMD_TYPING] = {"typing", K_C | K_A, true},
	[CMD_DELIVERED] = {"delivered", K_C | K_A, true},
	[CMD_READ] = {"read", K_C | K_A, true},
	[CMD_STATUS] = {"status", K_A | K_S, false},
	[CMD_ACCEPT] = {"accept", K_A, true},
	[CMD_DECLINE] = {"decline", K_A, true},
	[CMD_CLAIM] = {"claim", K_A, true},
	[CMD_TRANSFER] = {"transfer", K_A, true},
	[CMD_CLOSE] = {"close", K_C | K_A, true},
	[CMD_HEARTBEAT] = {"heartbeat", K_C | K_A | K_S, false},
	[CMD_HISTORY] = {"history", K_C | K_A | K_S, false},
	[CMD_TICKET_REPLY] = {"ticket_reply", K_C | K_A | K_S, true},
	[CMD_TICKET_NOTE] = {"ticket_note", K_A | K_S, true},
	[CMD_TICKET_STATUS] = {"ticket_status", K_C | K_A | K_S, true},
	[CMD_TICKET_PRIORITY] = {"ticket_priority", K_A | K_S, true},
	[CMD_TICKET_ASSIGN] = {"ticket_assign", K_A | K_S, true},
	[CMD_TICKET_TAKE] = {"ticket_take", K_A, true},
	[CMD_TICKET_DELIVERED] = {"ticket_delivered", K_C | K_A | K_S, true},
	[CMD_TICKET_READ] = {"ticket_read", K_C | K_A | K_S, true},
	[CMD_TICKET_HISTORY] = {"ticket_history", K_C | K_A | K_S, false},
	[CMD_LIST] = {"list", K_A | K_S, false},
	[CMD_CUSTOMER] = {"customer", K_A | K_S, false},
	[CMD_DIRECTORY] = {"directory", K_A | K_S, false},
	[CMD_TICKETS] = {"tickets", K_A | K_S, false},
	[CMD_TICKET] = {"ticket", K_A | K_S, false},
	[CMD_ESCALATE] = {"escalate", K_A, true},
	[CMD_CSAT] = {"csat", K_C, true},
	[CMD_QUICK_REPLIES] = {"quick_replies", K_A, false},
	[CMD_QUICK_REPLY] = {"quick_reply", K_A, true},
	[CMD_QUEUE_POSITION] = {"queue_position", K_C, false},
	[CMD_TAKEOVER] = {"takeover", K_S, true},
	[CMD_AGENT_MESSAGE] = {"agent_message", K_A | K_S, false},
	[CMD_CONTACT] = {"contact", K_C, true},
	[CMD_BOT_ANSWER] = {"bot_answer", K_B, true},
	[CMD_BOT_HANDOFF] = {"bot_handoff", K_B, true},
};

const char *
cmd_name(CmdType t)
{
	return (t >= 0 && t < CMD_COUNT) ? specs[t].name : "?";
}

/*
 * Whether a frame writes: posts, typing, receipts, offers, claims,
 * transfers, closes, ticket changes, escalation, a quick reply's use, a
 * takeover. A qa token (role claim qa) reads only, so the bridge refuses
 * these to it (server.c) before any kind check; status, agent_message and
 * every read stay allowed.
 */
bool
cmd_writes(CmdType t)
{
	return t >= 0 && t < CMD_COUNT && specs[t].writes;
}

/* optional positive integer field; false (with *err set) when malformed */
static bool
get_id(json_t *o, const char *key, bool required, int64_t *out, const char **err)
{
	json_t	   *v = json_object_get(o, key);

	if (v == NULL || json_is_null(v))
	{
		if (required)
		{
			*err = key;
			return false;
		}
		return true;
	}
	if (!json_is_integer(v) || json_integer_value(v) <= 0)
	{
		*err = key;
		return false;
	}
	*out = (int64_t) json_integer_value(v);
	return true;
}

static bool
get_str(json_t *o, const char *key, bool required, size_t maxlen, const char **out,
		const char **err)
{
	json_t	   *v = json_object_get(o, key);

	if (v == NULL || json_is_null(v))
	{
		if (required)
		{
			*err = key;
			return false;
		}
		return true;
	}
	if (!json_is_string(v) || (maxlen && json_string_length(v) > maxlen) ||
		strlen(json_string_value(v)) != json_string_length(v))
	{
		*err = key;
		return false;
	}
	*out = json_string_value(v);
	return true;
}

static bool
get_json(json_t *o, const char *key, bool want_object, char **out, const char **err)
{
	json_t	   *v = json_object_get(o, key);

	if (v == NULL || json_is_null(v))
		return true;
	if (want_object ? !json_is_object(v) : !json_is_array(v))
	{
		*err = key;
		return false;
	}
	*out = json_dumps(v, JSON_COMPACT);
	return *out != NULL;
}

/*
 * Parses one frame. Returns NULL on success, else an error code (ERR_*)
 * with *errmsg naming the problem; out is always safe to cmd_free.
 */
const char *
cmd_parse(const char *buf, size_t len, ClientKind kind, Cmd *out, const char **errmsg)
{
	json_error_t jerr;
	json_t	   *doc;
	const char *type = NULL;
	const char *bad = NULL;
	int			t;
	bool		ok = true;

	memset(out, 0, sizeof(*out));
	*errmsg = NULL;
	doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (doc == NULL)
	{
		*errmsg = "frame is not valid JSON";
		return ERR_BAD_JSON;
	}
	out->doc = doc;
	if (!json_is_object(doc))
	{
		*errmsg = "frame must be a JSON object";
		return ERR_BAD_FRAME;
	}
	if (!get_str(doc, "ref", false, MAX_REF, &out->ref, &bad))
	{
		*errmsg = "ref must be a string of at most 100 characters";
		return ERR_BAD_FRAME;
	}
	if (!get_str(doc, "type", true, 32, &type, &bad))
	{
		*errmsg = "type is missing or not a string";
		return ERR_BAD_FRAME;
	}
	for (t = 0; t < CMD_COUNT; t++)
		if (strcmp(specs[t].name, type) == 0)
			break;
	if (t == CMD_COUNT)
	{
		*errmsg = "unknown frame type";
		return ERR_BAD_FRAME;
	}
	out->type = (CmdType) t;
	if (!(specs[t].kinds & (1u << kind)))
	{
		*errmsg = "this frame type is not allowed for your kind of client";
		return ERR_FORBIDDEN;
	}

	switch (out->type)
	{
		case CMD_RESUME:
			{
				json_t	   *p = json_object_get(doc, "position");

				if (!json_is_integer(p) || json_integer_value(p) < 0)
					bad = "position";
				else
				{
					out->position = (int64_t) json_integer_value(p);
					out->has_position = true;
				}
				ok = bad == NULL;
				break;
			}
		case CMD_START:
		case CMD_CONTACT:
			ok = get_id(doc, "queue_id", false, &out->queue_id, &bad) &&
				get_str(doc, "issue_type", false, MAX_SHORT, &out->issue_type, &bad) &&
				get_str(doc, "text", false, 0, &out->text, &bad) &&
				get_str(doc, "client_msg_id", false, MAX_SHORT, &out->client_msg_id, &bad);
			break;
		case CMD_MESSAGE:
			ok = get_id(doc, "session_id", true, &out->session_id, &bad) &&
				get_str(doc, "text", false, 0, &out->text, &bad) &&
				get_str(doc, "message_type", false, 16, &out->message_type, &bad) &&
				get_str(doc, "client_msg_id", false, MAX_SHORT, &out->client_msg_id, &bad) &&
				get_json(doc, "attachment", true, &out->attachment, &bad) &&
				get_json(doc, "options", false, &out->options, &bad);
			if (ok && out->message_type == NULL)
				out->message_type = "text";
			{
				json_t	   *n = json_object_get(doc, "note");

				/* an internal note: staff only, never shown to the customer */
				if (ok && n != NULL && !json_is_null(n) &&
					(!json_is_boolean(n) || (json_is_true(n) && kind == KIND_CUSTOMER)))
					bad = "note", ok = false;
				out->note = ok && json_is_true(n);
			}
			break;
		case CMD_TYPING:
		case CMD_ACCEPT:
		case CMD_CLAIM:
			ok = get_id(doc, "session_id", true, &out->session_id, &bad);
			break;
		case CMD_DELIVERED:
		case CMD_READ:
			ok = get_id(doc, "session_id", true, &out->session_id, &bad) &&
				get_id(doc, "up_to", true, &out->up_to, &bad);
			break;
		case CMD_STATUS:
			ok = get_str(doc, "status", true, 16, &out->status, &bad);
			break;
		case CMD_DECLINE:
		case CMD_CLOSE:
			ok = get_id(doc, "session_id", true, &out->session_id, &bad) &&
				get_str(doc, "reason", false, MAX_SHORT, &out->reason, &bad);
			break;
		case CMD_TRANSFER:
			ok = get_id(doc, "session_id", true, &out->session_id, &bad) &&
				get_id(doc, "to_agent_id", false, &out->to_agent_id, &bad) &&
				get_id(doc, "to_queue_id", false, &out->to_queue_id, &bad) &&
				get_str(doc, "note", false, 0, &out->reason, &bad);
			if (ok && (out->to_agent_id == 0) == (out->to_queue_id == 0))
			{
				*errmsg = "transfer needs exactly one of to_agent_id and to_queue_id";
				return ERR_BAD_FRAME;
			}
			break;
		case CMD_HISTORY:
			ok = get_id(doc, "session_id", true, &out->session_id, &bad) &&
				get_id(doc, "after_id", false, &out->up_to, &bad) &&
				get_id(doc, "before_id", false, &out->before_id, &bad) &&
				get_id(doc, "limit", false, &out->limit, &bad);
			if (ok && out->limit > 500)
			{
				bad = "limit";
				ok = false;
			}
			if (ok && out->up_to && out->before_id)
			{
				*errmsg = "history takes after_id or before_id, not both";
				return ERR_BAD_FRAME;
			}
			break;
		case CMD_TICKET_REPLY:
		case CMD_TICKET_NOTE:
			ok = get_id(doc, "ticket_id", true, &out->ticket_id, &bad) &&
				(out->type == CMD_TICKET_NOTE ||
				 get_str(doc, "status", false, 16, &out->status, &bad)) &&
				get_str(doc, "text", false, 0, &out->text, &bad) &&
				get_str(doc, "message_type", false, 16, &out->message_type, &bad) &&
				get_str(doc, "client_msg_id", false, MAX_SHORT, &out->client_msg_id, &bad) &&
				get_json(doc, "attachment", true, &out->attachment, &bad);
			if (ok && out->message_type == NULL)
				out->message_type = "text";
			break;
		case CMD_TICKET_STATUS:
			ok = get_id(doc, "ticket_id", true, &out->ticket_id, &bad) &&
				get_str(doc, "status", true, 16, &out->status, &bad);
			break;
		case CMD_TICKET_PRIORITY:
			ok = get_id(doc, "ticket_id", true, &out->ticket_id, &bad) &&
				get_str(doc, "priority", true, 16, &out->priority, &bad);
			break;
		case CMD_TICKET_ASSIGN:
			{
				json_t	   *f = json_object_get(doc, "force");

				/* agent_id must be there: an id, or null to unassign */
				if (json_object_get(doc, "agent_id") == NULL)
					bad = "agent_id";
				else if (json_is_null(json_object_get(doc, "agent_id")))
					out->unassign = true;
				ok = bad == NULL &&
					get_id(doc, "ticket_id", true, &out->ticket_id, &bad) &&
					(out->unassign || get_id(doc, "agent_id", true, &out->agent_id, &bad)) &&
					get_str(doc, "reason", false, MAX_SHORT, &out->reason, &bad);
				if (ok && f != NULL && !json_is_null(f) && !json_is_boolean(f))
				{
					bad = "force";
					ok = false;
				}
				out->force = ok && json_is_true(f);
				break;
			}
		case CMD_TICKET_TAKE:
			ok = get_id(doc, "ticket_id", true, &out->ticket_id, &bad);
			break;
		case CMD_TICKET_HISTORY:
			ok = get_id(doc, "ticket_id", true, &out->ticket_id, &bad) &&
				get_id(doc, "after_id", false, &out->up_to, &bad);
			break;
		case CMD_TICKET_DELIVERED:
		case CMD_TICKET_READ:
			ok = get_id(doc, "ticket_id", true, &out->ticket_id, &bad) &&
				get_id(doc, "up_to", true, &out->up_to, &bad);
			break;
		case CMD_LIST:
			ok = get_str(doc, "scope", true, 16, &out->scope, &bad);
			if (ok && strcmp(out->scope, "mine") != 0 && strcmp(out->scope, "queue") != 0 &&
				strcmp(out->scope, "all") != 0)
				bad = "scope", ok = false;
			break;
		case CMD_TICKETS:
			ok = get_str(doc, "scope", false, 16, &out->scope, &bad) &&
				get_str(doc, "status", false, 16, &out->status, &bad) &&
				get_str(doc, "priority", false, 16, &out->priority, &bad) &&
				get_id(doc, "assignee_id", false, &out->agent_id, &bad);
			if (ok && out->scope && strcmp(out->scope, "mine") != 0 &&
				strcmp(out->scope, "unassigned") != 0 && strcmp(out->scope, "all") != 0)
				bad = "scope", ok = false;
			/* one agent's tickets: a filter of scope all, not of mine or unassigned */
			if (ok && out->agent_id && out->scope && strcmp(out->scope, "all") != 0)
			{
				*errmsg = "assignee_id goes with scope all";
				return ERR_BAD_FRAME;
			}
			break;
		case CMD_CUSTOMER:
		case CMD_QUEUE_POSITION:
			ok = get_id(doc, "session_id", true, &out->session_id, &bad);
			break;
		case CMD_TAKEOVER:
			ok = get_id(doc, "session_id", true, &out->session_id, &bad) &&
				get_id(doc, "queue_id", false, &out->queue_id, &bad);
			break;
		case CMD_TICKET:
			ok = get_id(doc, "ticket_id", true, &out->ticket_id, &bad);
			break;
		case CMD_ESCALATE:
			ok = get_id(doc, "session_id", true, &out->session_id, &bad) &&
				get_str(doc, "subject", false, MAX_SHORT, &out->subject, &bad) &&
				get_str(doc, "priority", false, 16, &out->priority, &bad) &&
				get_str(doc, "note", false, 0, &out->reason, &bad);
			break;
		case CMD_CSAT:
			ok = get_id(doc, "session_id", false, &out->session_id, &bad) &&
				get_id(doc, "ticket_id", false, &out->ticket_id, &bad) &&
				get_id(doc, "score", true, &out->score, &bad) &&
				get_str(doc, "comment", false, 0, &out->text, &bad);
			if (ok && (out->session_id == 0) == (out->ticket_id == 0))
			{
				*errmsg = "csat needs exactly one of session_id and ticket_id";
				return ERR_BAD_FRAME;
			}
			break;
		case CMD_QUICK_REPLIES:
			ok = get_str(doc, "prefix", false, MAX_SHORT, &out->text, &bad);
			break;
		case CMD_QUICK_REPLY:
			ok = get_id(doc, "quick_reply_id", true, &out->quick_reply_id, &bad) &&
				get_id(doc, "session_id", false, &out->session_id, &bad);
			break;
		case CMD_AGENT_MESSAGE:
			ok = get_id(doc, "to_agent_id", true, &out->to_agent_id, &bad) &&
				get_str(doc, "text", true, 0, &out->text, &bad) &&
				get_id(doc, "session_id", false, &out->session_id, &bad);
			break;
		case CMD_BOT_ANSWER:
			{
				/*
				 * {session_id, text, options?, conversation_id?, metadata?,
				 * handoff?, job_id?} -> the answer bot_reply takes:
				 * {"answer", "conversation_id", "metadata": {..., "options"}};
				 * handoff true is the metadata flag "handoff" (the bot's
				 * handoff_flag may name another key: set it in metadata).
				 */
				json_t	   *meta = json_object_get(doc, "metadata"),
						   *opts = json_object_get(doc, "options"),
						   *h = json_object_get(doc, "handoff"),
						   *a;
				const char *conv = NULL;

				ok = get_id(doc, "session_id", true, &out->session_id, &bad) &&
					get_id(doc, "job_id", false, &out->job_id, &bad) &&
					get_str(doc, "text", false, 0, &out->text, &bad) &&
					get_str(doc, "conversation_id", false, MAX_SHORT, &conv, &bad);
				if (ok && meta != NULL && !json_is_null(meta) && !json_is_object(meta))
					bad = "metadata", ok = false;
				if (ok && opts != NULL && !json_is_null(opts) && !json_is_array(opts))
					bad = "options", ok = false;
				if (ok && h != NULL && !json_is_null(h) && !json_is_boolean(h))
					bad = "handoff", ok = false;
				if (ok && out->text == NULL && !json_is_true(h))
				{
					*errmsg = "bot_answer needs text (or handoff: true)";
					return ERR_BAD_FRAME;
				}
				if (!ok)
					break;
				meta = json_is_object(meta) ? json_deep_copy(meta) : json_object();
				if (json_is_array(opts))
					json_object_set(meta, "options", opts);
				if (json_is_true(h))
					json_object_set_new(meta, "handoff", json_true());
				a = json_object();
				json_object_set_new(a, "answer", json_string(out->text ? out->text : ""));
				if (conv)
					json_object_set_new(a, "conversation_id", json_string(conv));
				json_object_set_new(a, "metadata", meta);
				out->answer = json_dumps(a, JSON_COMPACT);
				json_decref(a);
				if (out->answer == NULL)
					bad = "text", ok = false;
				break;
			}
		case CMD_BOT_HANDOFF:
			ok = get_id(doc, "session_id", true, &out->session_id, &bad) &&
				get_id(doc, "queue_id", false, &out->queue_id, &bad);
			break;
		case CMD_DIRECTORY:
		case CMD_HEARTBEAT:
		case CMD_COUNT:
			break;
	}
	if (!ok)
	{
		*errmsg = bad;			/* the offending field's name */
		return ERR_BAD_FRAME;
	}
	return NULL;
}

void
cmd_free(Cmd *c)
{
	if (c->doc)
		json_decref((json_t *) c->doc);
	free(c->attachment);
	free(c->options);
	free(c->answer);
	memset(c, 0, sizeof(*c));
}
