/*
 * session.c — the session life cycle: opening (into the bot or a queue),
 * requesting an agent, closing. Lives with routing because every step of it
 * is a routing decision (which queue, what boost, whose slot is freed).
 */
#include "hd.h"
#include "direct.h"
#include "message.h"
#include "routing.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "parser/parse_relation.h"
#include "utils/acl.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"

static HdPlan tenant_defaults = {
	"SELECT t.bot_enabled, "
	"       (SELECT q.id FROM helpdesk.queue q WHERE q.tenant_id = t.id AND q.is_default) "
	"FROM helpdesk.tenant t WHERE t.id = $1",
	1, {INT8OID}
};
/* The tenant's bot flag and default queue; HD404 for an unknown tenant. */
static bool
load_tenant_defaults(int64 tenant_id, bool *has_default, int64 *default_queue)
{
	Datum		v[1] = {Int64GetDatum(tenant_id)};

	hd_exec(&tenant_defaults, v, NULL, false, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_HD_NOT_FOUND),
				 errmsg("tenant %lld does not exist", (long long) tenant_id)));
	*has_default = hd_get_int64(2, default_queue);
	return hd_get_bool(1);
}

static HdPlan customer_exists = {
	"SELECT 1 FROM helpdesk.customer WHERE tenant_id = $1 AND id = $2", 2, {INT8OID, INT8OID}
};
static HdPlan queue_exists = {
	"SELECT 1 FROM helpdesk.queue WHERE tenant_id = $1 AND id = $2", 2, {INT8OID, INT8OID}
};

static void
require_row(HdPlan *plan, int64 tenant_id, int64 id, const char *what)
{
	Datum		v[2] = {Int64GetDatum(tenant_id), Int64GetDatum(id)};

	hd_exec(plan, v, NULL, false, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_HD_NOT_FOUND),
				 errmsg("%s %lld does not exist in tenant %lld",
						what, (long long) id, (long long) tenant_id)));
}

/* Queue for a session entering the queued state: given, or the default. */
static int64
pick_queue(int64 tenant_id, bool given, int64 queue_id, bool has_default, int64 default_id)
{
	if (given)
	{
		require_row(&queue_exists, tenant_id, queue_id, "queue");
		return queue_id;
	}
	if (!has_default)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tenant %lld has no default queue", (long long) tenant_id),
				 errhint("Pass queue_id, or mark a queue as default with "
						 "helpdesk.upsert_queue(..., is_default => true).")));
	return default_id;
}

static void
check_channel(const char *channel)
{
	int			i,
				len = strlen(channel);

	for (i = 0; i < len; i++)
	{
		char		c = channel[i];
		bool		ok = (c >= 'a' && c <= 'z') ||
			(i > 0 && ((c >= '0' && c <= '9') || c == '_' || c == '-'));

		if (!ok)
			break;
	}
	if (len == 0 || len > 32 || i < len)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid channel %s", hd_quote(channel)),
				 errhint("A channel is 1 to 32 lowercase letters, digits, _ or -, starting with a letter (web, ios, android, email).")));
}

static HdPlan insert_session = {
	"INSERT INTO helpdesk.session (tenant_id, customer_id, state, queue_id, channel, "
	"    issue_type, priority, attributes, queued_at, first_queued_at, boost_seconds, rank_at, wait_due_at) "
	"SELECT $1, $2, $3, $4, $5, $6, $7, coalesce($8, '{}'), "
	"       CASE WHEN $3 = 'queued' THEN now() END, CASE WHEN $3 = 'queued' THEN now() END, $9, "
	"       CASE WHEN $3 = 'queued' THEN now() - make_interval(secs => $9) END, "
	"       CASE WHEN $3 = 'queued' THEN $10::timestamptz END "
	"ON CONFLICT (tenant_id, customer_id) WHERE state <> 'closed' DO NOTHING "
	"RETURNING id",
	10, {INT8OID, INT8OID, TEXTOID, INT8OID, TEXTOID, TEXTOID, INT4OID, JSONBOID, INT4OID,
	TIMESTAMPTZOID}
};
static HdPlan open_session_of = {
	"SELECT id, state FROM helpdesk.session "
	"WHERE tenant_id = $1 AND customer_id = $2 AND state <> 'closed'",
	2, {INT8OID, INT8OID}
};

PG_FUNCTION_INFO_V1(hd_start_session);

/*
 * helpdesk.start_session: open a session for a customer, or return the one
 * already open. The unique partial index session_one_open decides races:
 * the loser's INSERT .. ON CONFLICT waits for the winner and then reads its
 * row. An optional first message is posted as the customer.
 */
Datum
hd_start_session(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "customer_id", "channel"};
	int64		tenant_id,
				customer_id,
				session_id = 0,
				message_id = 0,
				default_queue = 0,
				queue_id = 0;
	char	   *channel;
	char	   *issue_type = hd_arg_text_or_null(fcinfo, 4);
	char	   *first_message = hd_arg_text_or_null(fcinfo, 5);
	Jsonb	   *attributes = PG_ARGISNULL(6) ? NULL : PG_GETARG_JSONB_P(6);
	int32		priority = PG_ARGISNULL(7) ? 0 : PG_GETARG_INT32(7);
	char	   *client_msg_id = hd_arg_text_or_null(fcinfo, 8);
	bool		bot_enabled,
				has_default,
				created = false;
	int32		boost = 0;
	const char *state = NULL;
	int			attempt;
	TupleDesc	tupdesc;
	Datum		out[4];
	bool		outnull[4] = {false, false, false, false};

	hd_check_tenant_arg(fcinfo, 0);
	hd_dispatch_backpressure();	/* backpressure.c */
	hd_require_args(fcinfo, 3, names);
	tenant_id = PG_GETARG_INT64(0);
	customer_id = PG_GETARG_INT64(1);
	channel = text_to_cstring(PG_GETARG_TEXT_PP(2));
	check_channel(channel);
	if (issue_type)
		hd_check_length("issue_type", issue_type, 1, 100);
	hd_check_json_document("attributes", attributes);
	hd_check_range("priority", priority, -1000, 1000);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "start_session must return a composite type");
	tupdesc = BlessTupleDesc(tupdesc);

	SPI_connect();
	bot_enabled = load_tenant_defaults(tenant_id, &has_default, &default_queue);
	require_row(&customer_exists, tenant_id, customer_id, "customer");
	if (bot_enabled)
	{
		state = "bot";
		if (!PG_ARGISNULL(3))
			queue_id = pick_queue(tenant_id, true, PG_GETARG_INT64(3), false, 0);
	}
	else
	{
		state = "queued";
		if (PG_ARGISNULL(3) && issue_type &&
			hd_issue_type_queue(tenant_id, issue_type, &queue_id))
			;					/* routed by issue type */
		else
			queue_id = pick_queue(tenant_id, !PG_ARGISNULL(3),
								  PG_ARGISNULL(3) ? 0 : PG_GETARG_INT64(3),
								  has_default, default_queue);
		boost = hd_session_boost(tenant_id, customer_id, issue_type, priority, first_message);
	}

	for (attempt = 0; attempt < 5 && session_id == 0; attempt++)
	{
		Datum		v[10];
		char		n[11] = "          ";
		TimestampTz wait_due = queue_id ? hd_max_wait_due(tenant_id, queue_id) : 0;

		v[0] = Int64GetDatum(tenant_id);
		v[1] = Int64GetDatum(customer_id);
		v[2] = CStringGetTextDatum(state);
		v[3] = Int64GetDatum(queue_id);
		n[3] = queue_id ? ' ' : 'n';
		v[4] = CStringGetTextDatum(channel);
		v[5] = issue_type ? CStringGetTextDatum(issue_type) : (Datum) 0;
		n[5] = issue_type ? ' ' : 'n';
		v[6] = Int32GetDatum(priority);
		v[7] = attributes ? JsonbPGetDatum(attributes) : (Datum) 0;
		n[7] = attributes ? ' ' : 'n';
		v[8] = Int32GetDatum(boost);
		v[9] = TimestampTzGetDatum(wait_due);	/* max wait checked in C */
		n[9] = wait_due ? ' ' : 'n';
		hd_exec(&insert_session, v, n, false, 1);
		if (SPI_processed == 1)
		{
			hd_get_int64(1, &session_id);
			created = true;
			hd_session_event(tenant_id, session_id, NULL, state, queue_id, 0, NULL);
			if (queue_id && strcmp(state, "queued") == 0)
				hd_wake_at_commit(HD_WORKER_DISPATCHER);
			break;
		}
		/* someone else holds the open session: return theirs */
		hd_exec(&open_session_of, v, NULL, false, 1);
		if (SPI_processed == 1)
		{
			hd_get_int64(1, &session_id);
			state = hd_state_literal(hd_get_text(2));
		}
		/* else it was closed in between: try again */
	}
	if (session_id == 0)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not open a session for customer %lld: it kept closing concurrently",
						(long long) customer_id),
				 errhint("Retry the call.")));

	if (first_message != NULL)
	{
		HdPostArgs	m = {0};

		m.tenant_id = tenant_id;
		m.session_id = session_id;
		m.sender_kind = "customer";
		m.has_sender = true;
		m.sender_id = customer_id;
		m.type = "text";
		m.body = first_message;
		m.client_msg_id = client_msg_id;
		message_id = hd_post_message(&m);
	}
	SPI_finish();

	out[0] = Int64GetDatum(session_id);
	out[1] = BoolGetDatum(created);
	out[2] = CStringGetTextDatum(state);
	out[3] = Int64GetDatum(message_id);
	outnull[3] = (message_id == 0);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, out, outnull)));
}

static HdPlan set_queued = {
	"UPDATE helpdesk.session s SET state = 'queued', queue_id = $3, queued_at = now(), "
	"       first_queued_at = coalesce(s.first_queued_at, now()), agent_id = NULL, boost_seconds = $4, "
	"       priority = coalesce($5, s.priority), "
	"       rank_at = now() - make_interval(secs => $4), target_agent_id = NULL, "
	"       excluded_agents = '{}', offer_expires_at = NULL, idle_check_at = NULL, "
	"       idle_warned_at = NULL, wait_reason = NULL, queue_position = NULL, "
	"       estimated_wait_s = NULL, "
	"       wait_due_at = $6 "
	"WHERE tenant_id = $1 AND id = $2 "
	"RETURNING s.customer_id, s.issue_type, s.priority",
	6, {INT8OID, INT8OID, INT8OID, INT4OID, INT4OID, TIMESTAMPTZOID}
};
static HdPlan session_priority_inputs = {
	"SELECT issue_type, priority FROM helpdesk.session WHERE tenant_id = $1 AND id = $2",
	2, {INT8OID, INT8OID}
};

PG_FUNCTION_INFO_V1(hd_request_agent);

/*
 * helpdesk.request_agent: hand a session from the bot (or from one queue) to
 * a queue of human agents. Returns the queue id.
 */
Datum
hd_request_agent(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "session_id"};
	int64		tenant_id,
				session_id,
				queue_id = 0,
				default_queue = 0;
	bool		has_default;
	bool		has_priority = !PG_ARGISNULL(3);
	int32		priority = has_priority ? PG_GETARG_INT32(3) : 0;
	char	   *issue_type;
	int32		boost;
	HdSessionRow s;

	hd_check_tenant_arg(fcinfo, 0);
	hd_dispatch_backpressure();	/* backpressure.c */
	hd_require_args(fcinfo, 2, names);
	tenant_id = PG_GETARG_INT64(0);
	session_id = PG_GETARG_INT64(1);
	hd_check_range("priority", priority, -1000, 1000);

	SPI_connect();
	(void) load_tenant_defaults(tenant_id, &has_default, &default_queue);
	hd_load_session(tenant_id, session_id, HD_LOCK_UPDATE, &s);
	hd_check_transition(session_id, s.state, "queued");
	{
		Datum		v[2] = {Int64GetDatum(tenant_id), Int64GetDatum(session_id)};

		hd_exec(&session_priority_inputs, v, NULL, false, 1);
		issue_type = hd_get_text(1);
		if (!has_priority)
		{
			bool		isnull;

			priority = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
												   SPI_tuptable->tupdesc, 2, &isnull));
		}
	}
	if (!PG_ARGISNULL(2))
		queue_id = pick_queue(tenant_id, true, PG_GETARG_INT64(2), false, 0);
	else if (s.has_queue)
		queue_id = s.queue_id;
	else if (!(issue_type && hd_issue_type_queue(tenant_id, issue_type, &queue_id)))
		queue_id = pick_queue(tenant_id, false, 0, has_default, default_queue);
	if (strcmp(s.state, "queued") == 0 && s.has_queue && s.queue_id == queue_id)
	{
		/* a retry: keep the customer's place in the queue */
		SPI_finish();
		PG_RETURN_INT64(queue_id);
	}
	if (strcmp(s.state, "offered") == 0 || strcmp(s.state, "active") == 0)
		hd_release_agent(tenant_id, session_id, s.agent_id, HD_END_REQUEUED);
	boost = hd_session_boost(tenant_id, s.customer_id, issue_type, priority,
							 hd_first_customer_message(tenant_id, session_id));
	{
		TimestampTz wait_due = hd_max_wait_due(tenant_id, queue_id);
		Datum		v[6] = {Int64GetDatum(tenant_id), Int64GetDatum(session_id),
			Int64GetDatum(queue_id), Int32GetDatum(boost), Int32GetDatum(priority),
		TimestampTzGetDatum(wait_due)};
		char		n[7] = "      ";

		n[4] = has_priority ? ' ' : 'n';
		n[5] = wait_due ? ' ' : 'n';
		hd_exec(&set_queued, v, n, false, 0);
	}
	hd_session_event(tenant_id, session_id, s.state, "queued", queue_id, 0, NULL);
	hd_wake_at_commit(HD_WORKER_DISPATCHER);
	SPI_finish();
	PG_RETURN_INT64(queue_id);
}

HdSessionClosedHook hd_session_closed_hook = NULL;

static HdPlan set_closed = {
	"UPDATE helpdesk.session SET state = 'closed', closed_at = now(), close_reason = $3, "
	"       closed_by = $4, offer_expires_at = NULL, idle_check_at = NULL, "
	"       wait_due_at = NULL, queue_position = NULL, target_agent_id = NULL "
	"WHERE tenant_id = $1 AND id = $2",
	4, {INT8OID, INT8OID, TEXTOID, TEXTOID}
};

/*
 * Close a session whose row the caller has locked FOR UPDATE: frees the
 * agent's slot, logs the state change. Shared by close_session and the
 * dispatcher's idle and max-wait timers.
 */
void
hd_close(int64 tenant_id, HdSessionRow *s, const char *reason, const char *closed_by)
{
	Datum		v[4] = {Int64GetDatum(tenant_id), Int64GetDatum(s->id),
		CStringGetTextDatum(reason), CStringGetTextDatum(closed_by)};
	StringInfoData extra;

	hd_check_transition(s->id, s->state, "closed");
	hd_exec(&set_closed, v, NULL, false, 0);
	if (s->has_agent &&
		(strcmp(s->state, "offered") == 0 || strcmp(s->state, "active") == 0))
		hd_release_agent(tenant_id, s->id, s->agent_id, HD_END_CLOSED);
	else if (strcmp(s->state, "queued") == 0)
		hd_wake_at_commit(HD_WORKER_DISPATCHER);	/* positions behind it move */
	initStringInfo(&extra);
	appendStringInfoString(&extra, "\"reason\": ");
	escape_json(&extra, reason);
	appendStringInfo(&extra, ", \"closed_by\": \"%s\"", closed_by);
	hd_session_event(tenant_id, s->id, s->state, "closed", 0,
					 s->has_agent ? s->agent_id : 0, extra.data);
	if (hd_session_closed_hook != NULL)
		hd_session_closed_hook(tenant_id, s, reason, closed_by);
}

PG_FUNCTION_INFO_V1(hd_close_session);

/*
 * helpdesk.close_session: close from any open state. A customer who leaves
 * before an agent took the session abandons it. Returns the state the
 * session was in.
 */
Datum
hd_close_session(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "session_id", "reason", "closed_by"};
	static const char *const closers[] = {"customer", "agent", "bot", "system", NULL};
	int64		tenant_id,
				session_id;
	char	   *reason = hd_arg_text_or_null(fcinfo, 2);
	char	   *closed_by;
	bool		has_actor = !PG_ARGISNULL(4);
	int64		actor_id = has_actor ? PG_GETARG_INT64(4) : 0;
	HdSessionRow s;
	const char *from;

	hd_check_tenant_arg(fcinfo, 0);
	hd_dispatch_backpressure();	/* backpressure.c */
	hd_require_args(fcinfo, 2, names);
	tenant_id = PG_GETARG_INT64(0);
	session_id = PG_GETARG_INT64(1);
	closed_by = PG_ARGISNULL(3) ? "system" : text_to_cstring(PG_GETARG_TEXT_PP(3));
	hd_check_enum("closed_by", closed_by, closers);
	if (reason)
		hd_check_length("reason", reason, 1, 500);
	if ((strcmp(closed_by, "customer") == 0 || strcmp(closed_by, "agent") == 0) && !has_actor)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("actor_id must not be NULL when closed_by is %s", closed_by)));

	SPI_connect();
	hd_load_session(tenant_id, session_id, HD_LOCK_UPDATE, &s);
	if (strcmp(closed_by, "customer") == 0 && actor_id != s.customer_id)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("customer %lld is not part of session %lld",
						(long long) actor_id, (long long) session_id)));
	if (strcmp(closed_by, "agent") == 0)
		hd_require_agent_may(tenant_id, actor_id, "close sessions");
	if (strcmp(closed_by, "agent") == 0 && (!s.has_agent || s.agent_id != actor_id))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("agent %lld is not assigned to session %lld",
						(long long) actor_id, (long long) session_id)));
	from = s.state;
	if (reason == NULL)
		reason = (strcmp(closed_by, "customer") == 0 && strcmp(from, "active") != 0)
			? "abandoned" : "closed";
	hd_close(tenant_id, &s, reason, closed_by);
	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text(from));
}
