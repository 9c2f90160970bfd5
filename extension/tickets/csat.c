/*
 * csat.c — customer satisfaction surveys.
 *
 * Asked (a csat row, a message of type csat the widget renders as the
 * rating form, and the event csat.requested):
 *   - when a chat session with an agent closes: routing calls
 *     hd_session_closed_hook, set here, at the end of every close. Not for a
 *     session that never reached an agent (abandoned), nor for one escalated
 *     to a ticket (its ticket asks when it is resolved).
 *   - when a ticket is resolved: the ticket observer, once per resolution
 *     (ticket.resolution_count), so a reopened and re-resolved ticket asks
 *     again.
 *   - when an automation rule's ask_csat says so (automation/rule_notify.c):
 *     a session while open (hd_csat_ask_session), a ticket while not closed
 *     (hd_csat_ask_ticket, for its current resolution, or while unresolved
 *     the next one, which then does not ask again).
 * The tenant's csat_mode decides: off, on, or not_after_autoclose (no
 * survey when the auto-close stage resolved the ticket or the idle timer
 * closed the chat, reason idle). Answered with submit_csat() once, within csat_window,
 * by the customer it was asked of; the row keeps agent, queue and SLA
 * policy for reports and the event csat.submitted goes out.
 */
#include "autoclose.h"
#include "routing.h"

#include "utils/builtins.h"
#include "utils/json.h"

static HdPlan tenant_csat = {
	"SELECT csat_mode, now() + csat_window FROM helpdesk.tenant WHERE id = $1",
	1, {INT8OID}
};

/* The tenant's mode and when a survey asked now expires; false when surveys are off. */
static bool
csat_wanted(int64 tenant_id, bool after_autoclose, TimestampTz *expires)
{
	Datum		v[1] = {Int64GetDatum(tenant_id)};
	char	   *mode;
	bool		isnull;

	hd_exec(&tenant_csat, v, NULL, false, 1);
	if (SPI_processed == 0)
		return false;
	mode = hd_get_text(1);
	*expires = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
												 SPI_tuptable->tupdesc, 2, &isnull));
	if (strcmp(mode, "off") == 0)
		return false;
	if (strcmp(mode, "not_after_autoclose") == 0 && after_autoclose)
		return false;
	return true;
}

static char *
request_payload(int64 csat_id, const char *target, int64 target_id, TimestampTz expires)
{
	return psprintf("{\"csat_id\": " INT64_FORMAT ", \"target\": \"%s\", \"%s_id\": " INT64_FORMAT
					", \"expires_at\": \"%s\"}", csat_id, target, target, target_id,
					JsonEncodeDateTime(NULL, TimestampTzGetDatum(expires), TIMESTAMPTZOID, NULL));
}

/*
 * ---- sessions ----
 */

static HdPlan insert_session_csat = {
	"INSERT INTO helpdesk.csat (tenant_id, target, session_id, customer_id, agent_id, queue_id, "
	"  after_autoclose, expires_at) VALUES ($1, 'session', $2, $3, $4, $5, $6, $7) "
	"ON CONFLICT DO NOTHING RETURNING id",
	7, {INT8OID, INT8OID, INT8OID, INT8OID, INT8OID, BOOLOID, TIMESTAMPTZOID}
};

static HdPlan insert_session_message = {
	"INSERT INTO helpdesk.message (tenant_id, session_id, customer_id, sender_kind, type, body) "
	"VALUES ($1, $2, $3, 'system', 'csat', $4) RETURNING id",
	4, {INT8OID, INT8OID, INT8OID, TEXTOID}
};

static HdPlan set_message = {
	"UPDATE helpdesk.csat SET message_id = $3 WHERE tenant_id = $1 AND id = $2",
	3, {INT8OID, INT8OID, INT8OID}
};

static HdPlan customer_language = {
	"SELECT language FROM helpdesk.customer WHERE tenant_id = $1 AND id = $2",
	2, {INT8OID, INT8OID}
};

static char *
language_of(int64 tenant_id, int64 customer_id)
{
	Datum		v[2] = {Int64GetDatum(tenant_id), Int64GetDatum(customer_id)};

	hd_exec(&customer_language, v, NULL, false, 1);
	return SPI_processed ? hd_get_text(1) : NULL;
}

/*
 * The session closed (hd_close). The message is written after the close,
 * so it is inserted here rather than through post_message, which refuses
 * closed sessions; it gets the same message.created event.
 */
static void
csat_session_closed(int64 tenant_id, const HdSessionRow *s, const char *reason,
					const char *closed_by)
{
	/* the idle timer's close (a close_session call defaults to closed_by system too) */
	bool		after_timer = strcmp(reason, "idle") == 0;

	if (strcmp(s->state, "active") != 0 || !s->has_agent || strcmp(reason, "escalated") == 0)
		return;
	(void) hd_csat_ask_session(tenant_id, s, after_timer);
}

/*
 * Asks the session's survey now (the close above, and the automation rules'
 * ask_csat action while the session is open): the csat row, the csat
 * message, message.created and csat.requested. Returns the survey id; 0 when
 * the tenant's mode says no, or the session was asked already (one survey a
 * session: the close does not ask again).
 */
int64
hd_csat_ask_session(int64 tenant_id, const HdSessionRow *s, bool after_timer)
{
	TimestampTz expires;
	int64		csat_id,
				message_id;
	char	   *body;

	if (!csat_wanted(tenant_id, after_timer, &expires))
		return 0;
	{
		Datum		v[7] = {Int64GetDatum(tenant_id), Int64GetDatum(s->id),
			Int64GetDatum(s->customer_id), Int64GetDatum(s->agent_id),
			Int64GetDatum(s->queue_id), BoolGetDatum(after_timer),
		TimestampTzGetDatum(expires)};
		char		n[8] = "       ";

		n[3] = s->has_agent ? ' ' : 'n';
		n[4] = s->has_queue ? ' ' : 'n';
		hd_exec(&insert_session_csat, v, n, false, 0);
		if (SPI_processed == 0)
			return 0;
		hd_get_int64(1, &csat_id);
	}
	body = hd_system_text(tenant_id, "csat_request", language_of(tenant_id, s->customer_id),
						  expires - GetCurrentTransactionStartTimestamp());
	{
		Datum		v[4] = {Int64GetDatum(tenant_id), Int64GetDatum(s->id),
		Int64GetDatum(s->customer_id), CStringGetTextDatum(body)};

		hd_exec(&insert_session_message, v, NULL, false, 0);
		hd_get_int64(1, &message_id);
	}
	{
		Datum		v[3] = {Int64GetDatum(tenant_id), Int64GetDatum(csat_id),
		Int64GetDatum(message_id)};

		hd_exec(&set_message, v, NULL, false, 0);
	}
	hd_append_event(tenant_id, "session", s->id, s->id, message_id, "message.created", NULL);
	hd_append_event(tenant_id, "session", s->id, s->id, message_id, "csat.requested",
					request_payload(csat_id, "session", s->id, expires));
	return csat_id;
}

/*
 * ---- tickets ----
 */

/*
 * only resolved tickets (with $3: any but closed) of tenants with surveys on
 * come back; the resolution asked about: this one, or while not resolved the next
 */
static HdPlan ticket_for_csat = {
	"SELECT t.status, CASE WHEN t.status = 'resolved' THEN t.resolution_count ELSE t.resolution_count + 1 END, "
	"       t.customer_id, t.assignee_id, t.queue_id, "
	"       (to_jsonb(t) ->> 'sla_policy_id')::bigint "
	"FROM helpdesk.ticket t JOIN helpdesk.tenant tn ON tn.id = t.tenant_id "
	"WHERE t.tenant_id = $1 AND t.id = $2 AND (t.status = 'resolved' OR ($3 AND t.status <> 'closed')) "
	"  AND tn.csat_mode <> 'off'",
	3, {INT8OID, INT8OID, BOOLOID}
};

static HdPlan insert_ticket_csat = {
	"INSERT INTO helpdesk.csat (tenant_id, target, ticket_id, resolution, customer_id, agent_id, "
	"  queue_id, sla_policy_id, after_autoclose, expires_at) "
	"VALUES ($1, 'ticket', $2, $3, $4, $5, $6, $7, $8, $9) "
	"ON CONFLICT DO NOTHING RETURNING id",
	9, {INT8OID, INT8OID, INT4OID, INT8OID, INT8OID, INT8OID, INT8OID, BOOLOID, TIMESTAMPTZOID}
};

/* A ticket was resolved: ask once for this resolution. */
static void
csat_observer(int64 tenant_id, int64 ticket_id, HdTicketChange what)
{
	if (what != HD_TICKET_STATUS)
		return;
	(void) hd_csat_ask_ticket(tenant_id, ticket_id, false, hd_autoclose_firing);
}

/* see tickets.h */
int64
hd_csat_ask_ticket(int64 tenant_id, int64 ticket_id, bool any_status, bool after_autoclose)
{
	Datum		v[9];
	char		n[10] = "         ";
	int64		customer_id,
				csat_id;
	int32		resolution;
	TimestampTz expires;
	bool		isnull;
	HdTicketRow t;
	HdTicketPost m;
	int			i;

	v[0] = Int64GetDatum(tenant_id);
	v[1] = Int64GetDatum(ticket_id);
	v[2] = BoolGetDatum(any_status);
	hd_exec(&ticket_for_csat, v, NULL, false, 1);
	if (SPI_processed == 0)
		return 0;
	resolution = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2,
											 &isnull));
	hd_get_int64(3, &customer_id);
	v[2] = Int32GetDatum(Max(resolution, 1));
	v[3] = Int64GetDatum(customer_id);
	for (i = 0; i < 3; i++)
	{
		v[4 + i] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4 + i, &isnull);
		n[4 + i] = isnull ? 'n' : ' ';
	}
	if (!csat_wanted(tenant_id, after_autoclose, &expires))
		return 0;
	v[7] = BoolGetDatum(after_autoclose);
	v[8] = TimestampTzGetDatum(expires);
	hd_exec(&insert_ticket_csat, v, n, false, 0);
	if (SPI_processed == 0)
		return 0;
	hd_get_int64(1, &csat_id);
	hd_load_ticket(tenant_id, ticket_id, HD_LOCK_NONE, &t);
	memset(&m, 0, sizeof(m));
	m.tenant_id = tenant_id;
	m.ticket_id = ticket_id;
	m.sender_kind = "system";
	m.type = "csat";
	m.body = hd_system_text(tenant_id, "csat_request", language_of(tenant_id, customer_id),
							expires - GetCurrentTransactionStartTimestamp());
	{
		Datum		mv[3] = {Int64GetDatum(tenant_id), Int64GetDatum(csat_id),
		Int64GetDatum(hd_ticket_insert_message(&m, &t))};

		hd_exec(&set_message, mv, NULL, false, 0);
	}
	hd_ticket_event(tenant_id, ticket_id, "csat.requested",
					request_payload(csat_id, "ticket", ticket_id, expires), true);
	return csat_id;
}

void		hd_csat_init(void);

/* From hd_tickets_init (in _PG_init). */
void
hd_csat_init(void)
{
	hd_ticket_register_observer(csat_observer);
	hd_session_closed_hook = csat_session_closed;
}

/*
 * ---- settings and answers ----
 */

static HdPlan set_csat = {
	"UPDATE helpdesk.tenant t SET csat_mode = coalesce($2, t.csat_mode), "
	"  csat_window = coalesce($3, t.csat_window), updated_at = now() WHERE t.id = $1",
	3, {INT8OID, TEXTOID, INTERVALOID}
};

PG_FUNCTION_INFO_V1(hd_set_csat);

/* helpdesk.set_csat(tenant_id, mode, window) */
Datum
hd_set_csat(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id"};
	static const char *const modes[] = {"off", "on", "not_after_autoclose", NULL};
	Datum		v[3];
	char		n[4];

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 1, names);
	hd_args_to_params(fcinfo, v, n, 3);
	if (!PG_ARGISNULL(1))
		hd_check_enum("mode", text_to_cstring(PG_GETARG_TEXT_PP(1)), modes);
	hd_interval_arg(fcinfo, 2, "window", 60 * USECS_PER_SEC, 365 * USECS_PER_DAY, false, &v[2]);
	SPI_connect();
	hd_require_tenant(PG_GETARG_INT64(0));
	hd_exec(&set_csat, v, n, false, 0);
	SPI_finish();
	PG_RETURN_VOID();
}

static HdPlan session_target = {
	"SELECT customer_id FROM helpdesk.session WHERE tenant_id = $1 AND id = $2",
	2, {INT8OID, INT8OID}
};
static HdPlan ticket_target = {
	"SELECT customer_id, '#' || number FROM helpdesk.ticket WHERE tenant_id = $1 AND id = $2",
	2, {INT8OID, INT8OID}
};
/* the latest survey of the target, locked: two answers at once are serialised */
static HdPlan survey_of = {
	"SELECT id, customer_id, score, submitted_at, expires_at, expires_at < now(), "
	"       agent_id, queue_id "
	"FROM helpdesk.csat WHERE tenant_id = $1 AND target = $2 "
	"  AND (CASE WHEN $2 = 'session' THEN session_id ELSE ticket_id END) = $3 "
	"ORDER BY resolution DESC LIMIT 1 FOR UPDATE",
	3, {INT8OID, TEXTOID, INT8OID}
};
static HdPlan answer = {
	"UPDATE helpdesk.csat SET score = $3, comment = $4, submitted_at = now() "
	"WHERE tenant_id = $1 AND id = $2",
	4, {INT8OID, INT8OID, INT2OID, TEXTOID}
};

PG_FUNCTION_INFO_V1(hd_submit_csat);

/* helpdesk.submit_csat(tenant_id, target, id, customer_id, score, comment) */
Datum
hd_submit_csat(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "target", "id", "customer_id", "score"};
	static const char *const targets[] = {"session", "ticket", NULL};
	int64		tenant_id,
				target_id,
				customer_id,
				owner,
				csat_id;
	char	   *target,
			   *comment,
			   *label;
	int32		score;
	bool		is_ticket;
	char	   *payload;

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 5, names);
	tenant_id = PG_GETARG_INT64(0);
	target = text_to_cstring(PG_GETARG_TEXT_PP(1));
	target_id = PG_GETARG_INT64(2);
	customer_id = PG_GETARG_INT64(3);
	score = PG_GETARG_INT32(4);
	comment = hd_arg_text_or_null(fcinfo, 5);
	hd_check_enum("target", target, targets);
	is_ticket = strcmp(target, "ticket") == 0;
	hd_check_range("score", score, 1, 5);
	if (comment)
		hd_check_length("comment", comment, 0, 2000);
	SPI_connect();
	hd_require_tenant(tenant_id);
	{
		Datum		v[2] = {Int64GetDatum(tenant_id), Int64GetDatum(target_id)};

		hd_exec(is_ticket ? &ticket_target : &session_target, v, NULL, false, 1);
		if (SPI_processed == 0)
			hd_not_found(target, target_id, tenant_id);
		hd_get_int64(1, &owner);
		label = is_ticket ? psprintf("ticket %s", hd_get_text(2))
			: psprintf("session %lld", (long long) target_id);
	}
	if (owner != customer_id)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("customer %lld is not the customer of %s",
						(long long) customer_id, label)));
	{
		Datum		v[3] = {Int64GetDatum(tenant_id), CStringGetTextDatum(target),
		Int64GetDatum(target_id)};

		hd_exec(&survey_of, v, NULL, false, 1);
	}
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_HD_NOT_FOUND),
				 errmsg("no satisfaction survey was asked for %s", label),
				 errhint("Surveys are asked when a chat with an agent closes or a ticket is resolved, if the tenant's csat_mode is not off.")));
	hd_get_int64(1, &csat_id);
	if (hd_get_text(4) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_HD_IDEMPOTENCY_CONFLICT),
				 errmsg("%s was already rated (score %s)", label, hd_get_text(3)),
				 is_ticket ? errhint("A ticket can be rated again after it is reopened and resolved again.") : 0));
	if (hd_get_bool(6))
		ereport(ERROR,
				(errcode(ERRCODE_HD_SESSION_CLOSED),
				 errmsg("the satisfaction survey for %s expired at %s", label, hd_get_text(5))));
	payload = psprintf("{\"csat_id\": " INT64_FORMAT ", \"target\": \"%s\", \"%s_id\": " INT64_FORMAT
					   ", \"score\": %d, \"agent_id\": %s, \"queue_id\": %s}",
					   csat_id, target, target, target_id, score,
					   hd_get_text(7) ? hd_get_text(7) : "null",
					   hd_get_text(8) ? hd_get_text(8) : "null");
	{
		Datum		v[4] = {Int64GetDatum(tenant_id), Int64GetDatum(csat_id),
			Int16GetDatum((int16) score),
		comment ? CStringGetTextDatum(comment) : (Datum) 0};
		char		n[5] = "    ";

		n[3] = comment ? ' ' : 'n';
		hd_exec(&answer, v, n, false, 0);
	}
	if (is_ticket)
		hd_ticket_event(tenant_id, target_id, "csat.submitted", payload, false);
	else
	{
		hd_append_event(tenant_id, "session_staff", target_id, target_id, 0, "csat.submitted",
						payload);
		hd_append_event(tenant_id, "tenant", tenant_id, target_id, 0, "csat.submitted", payload);
	}
	SPI_finish();
	PG_RETURN_INT64(csat_id);
}
