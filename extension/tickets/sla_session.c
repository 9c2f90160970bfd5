/*
 * sla_session.c — the chat sessions' first-response target per queue:
 * set_queue_sla, and the dispatcher's check of each session at its due time
 * (queue entry + target, copied into the session by a trigger). The check is
 * lazy: an agent message before the due time is a hit and nothing fires;
 * otherwise a session.sla breach event goes to the session's agent, its
 * queue and the tenant's supervisors. A session closed before its due time
 * without an answer is not a breach (the customer left).
 */
#include "sla.h"
#include "dispatch.h"

#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(hd_set_queue_sla);

static HdPlan set_plan = {
	"UPDATE helpdesk.queue SET chat_first_response = $3 WHERE tenant_id = $1 AND id = $2",
	3, {INT8OID, INT8OID, INTERVALOID}
};

/* set_queue_sla(tenant_id, queue_id, chat_first_response): '0 s' clears */
Datum
hd_set_queue_sla(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "queue_id", "chat_first_response"};
	Datum		v[3];
	char		n[4] = "   ";
	int64		us;

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 3, names);
	v[0] = PG_GETARG_DATUM(0);
	v[1] = PG_GETARG_DATUM(1);
	us = hd_interval_arg(fcinfo, 2, "chat_first_response", USECS_PER_SEC, 7 * USECS_PER_DAY, true, &v[2]);
	if (us == 0)
		n[2] = 'n';
	SPI_connect();
	hd_require_tenant(PG_GETARG_INT64(0));
	hd_exec(&set_plan, v, n, false, 0);
	if (SPI_processed == 0)
		hd_not_found("queue", PG_GETARG_INT64(1), PG_GETARG_INT64(0));
	SPI_finish();
	PG_RETURN_VOID();
}

static HdPlan due_plan = {
	"SELECT s.tenant_id, s.id, s.sla_first_response_due, s.queue_id, s.agent_id, "
	"(s.state <> 'closed' OR s.closed_at > s.sla_first_response_due) AND NOT EXISTS "
	"(SELECT 1 FROM helpdesk.message m WHERE m.tenant_id = s.tenant_id AND m.session_id = s.id "
	" AND m.sender_kind = 'agent' AND m.created_at <= s.sla_first_response_due) "
	"FROM helpdesk.session s WHERE s.sla_first_response_due <= $1 "
	"ORDER BY s.sla_first_response_due LIMIT $2 FOR UPDATE OF s SKIP LOCKED",
	2, {TIMESTAMPTZOID, INT4OID}
};
static HdPlan done_plan = {
	"UPDATE helpdesk.session SET sla_first_response_due = NULL, "
	"sla_breached_at = CASE WHEN $3 THEN pg_catalog.clock_timestamp() END "
	"WHERE tenant_id = $1 AND id = $2",
	3, {INT8OID, INT8OID, BOOLOID}
};

typedef struct SessionDue
{
	int64		tenant_id;
	int64		session_id;
	TimestampTz due;
	bool		has_queue;
	int64		queue_id;
	bool		has_agent;
	int64		agent_id;
	bool		breach;
} SessionDue;

static void
check_one(void *arg)
{
	SessionDue *s = arg;
	Datum		v[3] = {Int64GetDatum(s->tenant_id), Int64GetDatum(s->session_id), BoolGetDatum(s->breach)};

	hd_exec(&done_plan, v, NULL, false, 0);
	if (s->breach)
	{
		char	   *payload = psprintf("{\"session_id\": %lld, \"target\": \"first_response\", "
									   "\"kind\": \"breach\", \"due\": \"%s\"}",
									   (long long) s->session_id, timestamptz_to_str(s->due));

		if (s->has_agent)
			hd_append_event(s->tenant_id, "agent", s->agent_id, s->session_id, 0, "session.sla", payload);
		if (s->has_queue)
			hd_append_event(s->tenant_id, "queue", s->queue_id, s->session_id, 0, "session.sla", payload);
		hd_append_event(s->tenant_id, "tenant", s->tenant_id, s->session_id, 0, "session.sla", payload);
	}
}

/* Check the sessions whose first response fell due by now (oldest first); returns the breaches. */
int
hd_sla_sessions_due(TimestampTz now, int batch, bool *more)
{
	Datum		v[2] = {TimestampTzGetDatum(now), Int32GetDatum(batch)};
	SessionDue *rows;
	uint64		n,
				i;
	int			breaches = 0;

	hd_exec(&due_plan, v, NULL, false, batch);
	n = SPI_processed;
	rows = palloc0(sizeof(SessionDue) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		x;

		rows[i].tenant_id = DatumGetInt64(SPI_getbinval(t, d, 1, &isnull));
		rows[i].session_id = DatumGetInt64(SPI_getbinval(t, d, 2, &isnull));
		rows[i].due = DatumGetTimestampTz(SPI_getbinval(t, d, 3, &isnull));
		x = SPI_getbinval(t, d, 4, &isnull);
		rows[i].has_queue = !isnull;
		rows[i].queue_id = isnull ? 0 : DatumGetInt64(x);
		x = SPI_getbinval(t, d, 5, &isnull);
		rows[i].has_agent = !isnull;
		rows[i].agent_id = isnull ? 0 : DatumGetInt64(x);
		x = SPI_getbinval(t, d, 6, &isnull);
		rows[i].breach = !isnull && DatumGetBool(x);
	}
	for (i = 0; i < n; i++)
	{
		char	   *err = NULL;

		if (hd_run_in_subxact(check_one, &rows[i], &err))
			breaches += rows[i].breach ? 1 : 0;
		else
			ereport(LOG,
					(errmsg("pg_helpdesk dispatcher: SLA check of session %lld (tenant %lld) failed: %s",
							(long long) rows[i].session_id, (long long) rows[i].tenant_id, err)));
	}
	if (n == (uint64) batch)
		*more = true;
	return breaches;
}
