/*
 * player_routes.c — the action of each signed player API route, one saved
 * statement per route over the existing API functions (upsert_customer,
 * issue_token, start_session, session_messages, post_message, store_upload,
 * create_ticket, list_tickets, reply_ticket, submit_csat), so each route
 * keeps those functions' checks, SQLSTATEs and messages. player_call.c has
 * already verified the request, rate-limited it, found the player's customer
 * and checked that the session or ticket is theirs.
 *
 * Every statement takes the same parameters (unused ones are ignored):
 *   $1 tenant_id, $2 customer_id, $3 body (object), $4 attachment (completed),
 *   $5 path id, $6 query args, $7 page limit, $8 headers, $9 raw body,
 *   $10 player id, $11 token ttl (seconds)
 * and answers the route's JSON (built by jsonb_build_object).
 */
#include "security.h"

#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "player_call.h"

#define ROUTE_ARGS 11
#define ROUTE_TYPES {INT8OID, INT8OID, JSONBOID, JSONBOID, INT8OID, JSONBOID, INT4OID, \
		JSONBOID, BYTEAOID, TEXTOID, INT4OID}

static HdPlan ws_customer_plan = {
	"SELECT helpdesk.upsert_customer($1, $10, $3 ->> 'name', ($3 ->> 'vip_level')::integer, "
	"$3 ->> 'language', $3 -> 'attributes')",
	ROUTE_ARGS, ROUTE_TYPES
};

static HdPlan ws_token_plan = {
	"SELECT jsonb_build_object('customer_id', $2, "
	"'token', helpdesk.issue_token($1, 'customer', $2, make_interval(secs => $11)), "
	"'expires_at', now() + make_interval(secs => $11))",
	ROUTE_ARGS, ROUTE_TYPES
};

static HdPlan session_start_plan = {
	"SELECT jsonb_build_object('session_id', r.session_id, 'created', r.created, "
	"'state', r.state, 'message_id', r.message_id), r.created "
	"FROM helpdesk.start_session($1, $2, 'player_api', NULL, $3 ->> 'issue_type', "
	"$3 ->> 'message', $3 -> 'attributes', 0, $3 ->> 'client_msg_id') r",
	ROUTE_ARGS, ROUTE_TYPES
};

/* the session with a page of its messages and the cursor of the next page */
static HdPlan session_get_plan = {
	"WITH a AS (SELECT jsonb_build_object('session', jsonb_build_object('id', s.id, "
	"'state', s.state, 'created_at', s.created_at, 'closed_at', s.closed_at, "
	"'agent_id', s.agent_id), "
	"'messages', coalesce((SELECT jsonb_agg(jsonb_build_object('id', m.id, "
	"'sender_kind', m.sender_kind, 'sender_id', m.sender_id, 'type', m.type, "
	"'body', m.body, 'attachment', m.attachment, 'options', m.options, "
	"'client_msg_id', m.client_msg_id, 'created_at', m.created_at, "
	"'delivered_at', m.delivered_at, 'read_at', m.read_at) ORDER BY m.id) "
	"FROM helpdesk.session_messages($1, s.id, coalesce(($6 ->> 'after')::bigint, 0), $7) m), "
	"'[]')) AS j FROM helpdesk.session s WHERE s.tenant_id = $1 AND s.id = $5) "
	"SELECT a.j || jsonb_build_object('next_after', (SELECT max((e ->> 'id')::bigint) "
	"FROM jsonb_array_elements(a.j -> 'messages') e)) FROM a",
	ROUTE_ARGS, ROUTE_TYPES
};

static HdPlan message_plan = {
	"SELECT jsonb_build_object('message_id', helpdesk.post_message($1, $5, 'customer', $2, "
	"$3 ->> 'text', coalesce($3 ->> 'type', 'text'), $3 ->> 'client_msg_id', $4))",
	ROUTE_ARGS, ROUTE_TYPES
};

static HdPlan upload_plan = {
	"SELECT jsonb_build_object('id', r.upload_id, 'mime', r.mime, 'size', r.size, "
	"'sha256', r.sha256) FROM helpdesk.store_upload($1, 'customer', $2, "
	"coalesce($6 ->> 'name', $8 ->> 'x-filename'), $8 ->> 'content-type', $9) r",
	ROUTE_ARGS, ROUTE_TYPES
};

static HdPlan ticket_create_plan = {
	"SELECT jsonb_build_object('ticket_id', r.ticket_id, 'number', r.number, "
	"'message_id', r.message_id) FROM helpdesk.create_ticket($1, $2, $3 ->> 'subject', "
	"$3 ->> 'body', coalesce($3 ->> 'priority', 'normal'), $3 ->> 'issue_type', NULL, "
	"'player_api', NULL, $3 -> 'attributes', $3 ->> 'client_msg_id', 'text', $4) r",
	ROUTE_ARGS, ROUTE_TYPES
};

static HdPlan ticket_list_plan = {
	"SELECT jsonb_build_object('tickets', coalesce((SELECT jsonb_agg(jsonb_build_object("
	"'id', k.id, 'number', k.number, 'subject', k.subject, 'status', k.status, "
	"'priority', k.priority, 'created_at', k.created_at) ORDER BY k.id DESC) "
	"FROM helpdesk.list_tickets($1, customer_id => $2, before_id => ($6 ->> 'before')::bigint, "
	"max_rows => $7) k), '[]'))",
	ROUTE_ARGS, ROUTE_TYPES
};

static HdPlan ticket_reply_plan = {
	"SELECT jsonb_build_object('message_id', helpdesk.reply_ticket($1, $5, 'customer', $2, "
	"$3 ->> 'body', coalesce($3 ->> 'type', 'text'), $3 ->> 'client_msg_id', $4))",
	ROUTE_ARGS, ROUTE_TYPES
};

static HdPlan csat_plan = {
	"SELECT jsonb_build_object('survey_id', helpdesk.submit_csat($1, $3 ->> 'target', "
	"($3 ->> 'id')::bigint, $2, ($3 ->> 'score')::integer, $3 ->> 'comment'))",
	ROUTE_ARGS, ROUTE_TYPES
};

/* The routes after the customer is known; ws-token is apart (it makes one). */
static const struct
{
	const char *name;
	HdPlan	   *plan;
	int			status;			/* 0: session-start's 201 created / 200 */
}			routes[] =
{
	{"session-start", &session_start_plan, 0},
	{"session-get", &session_get_plan, 200},
	{"message", &message_plan, 201},
	{"upload", &upload_plan, 201},
	{"ticket-create", &ticket_create_plan, 201},
	{"ticket-list", &ticket_list_plan, 200},
	{"ticket-reply", &ticket_reply_plan, 201},
	{"csat", &csat_plan, 201},
};

static void
route_params(const HdPlayerCall *c, int32 ttl, Datum *v, char *nulls)
{
	memset(nulls, ' ', ROUTE_ARGS);
	v[0] = Int64GetDatum(c->tenant_id);
	v[1] = Int64GetDatum(c->customer_id);
	v[2] = JsonbPGetDatum(c->body);
	if (c->attachment)
		v[3] = JsonbPGetDatum(c->attachment);
	else
		nulls[3] = 'n';
	if (c->has_id)
		v[4] = Int64GetDatum(c->id);
	else
		nulls[4] = 'n';
	if (c->args)
		v[5] = JsonbPGetDatum(c->args);
	else
		nulls[5] = 'n';
	v[6] = Int32GetDatum(c->limit);
	if (c->headers)
		v[7] = JsonbPGetDatum(c->headers);
	else
		nulls[7] = 'n';
	if (c->raw)
		v[8] = PointerGetDatum(c->raw);
	else
		nulls[8] = 'n';
	v[9] = CStringGetTextDatum(c->player);
	v[10] = Int32GetDatum(ttl);
}

/* Column col of the single result row (SPI memory), NULL as (Datum) 0. */
static Datum
result_col(int col, bool *isnull)
{
	if (SPI_processed == 0)
	{
		*isnull = true;
		return (Datum) 0;
	}
	return SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, isnull);
}

/*
 * ws-token: upsert the customer from the body, then a customer token valid
 * for ttl seconds (body "ttl", 60..86400, default 3600).
 */
Datum
hd_player_ws_token(HdPlayerCall *c, int *status, bool *isnull)
{
	Datum		v[ROUTE_ARGS];
	char		nulls[ROUTE_ARGS];
	char	   *ttl_text;
	int32		ttl = 3600;
	int64		cust = 0;

	route_params(c, 0, v, nulls);
	hd_exec(&ws_customer_plan, v, nulls, false, 1);
	if (!hd_get_int64(1, &cust))
		nulls[1] = 'n';
	c->customer_id = cust;
	v[1] = Int64GetDatum(cust);
	ttl_text = hd_jsonb_field_text(c->body, "ttl");
	if (ttl_text != NULL)
		ttl = DatumGetInt32(DirectFunctionCall1(int4in, CStringGetDatum(ttl_text)));
	v[10] = Int32GetDatum(Min(Max(ttl, 60), 86400));
	hd_exec(&ws_token_plan, v, nulls, false, 1);
	*status = 200;
	return result_col(1, isnull);
}

/*
 * The route's action for c->customer_id; the answer is in SPI memory. An
 * unknown route is 22023.
 */
Datum
hd_player_route(const char *route, HdPlayerCall *c, int *status, bool *isnull)
{
	Datum		v[ROUTE_ARGS];
	char		nulls[ROUTE_ARGS];
	int			i;

	for (i = 0; route != NULL && i < lengthof(routes); i++)
		if (strcmp(route, routes[i].name) == 0)
			break;
	if (route == NULL || i == lengthof(routes))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown player route %s", hd_clip(route))));
	route_params(c, 0, v, nulls);
	hd_exec(routes[i].plan, v, nulls, false, 1);
	*status = routes[i].status;
	if (*status == 0)
	{
		bool		created_null;
		Datum		created = result_col(2, &created_null);

		*status = (!created_null && DatumGetBool(created)) ? 201 : 200;
	}
	return result_col(1, isnull);
}
