/*
 * rule_notify.c — the rule actions that tell someone outside the chat:
 *
 * send_webhook {"webhook": external id}: a delivery of event type
 * automation.rule to that webhook of the tenant, through the webhooks'
 * machinery: a pending webhook_delivery row in the rule's transaction (never
 * lost: it commits with the audit, or neither does), sent by the HTTP worker
 * with the Standard Webhooks signature under the endpoint's secret and
 * retried on its schedule. The webhook-id is rule_<rule>_<position>_<index>_<webhook>,
 * the same if a crash makes the rule run again (receivers deduplicate by it).
 * The endpoint's event filter does not apply: the rule chose the endpoint.
 * Body {"type": "automation.rule", "timestamp", "data": {"rule_id", "rule",
 * "event", "event_pos", "session", "ticket"}}.
 *
 * ask_csat: the session's satisfaction survey now (csat.c's request path:
 * the csat row, the rating message, csat.requested), once a session — the
 * close does not ask again; the tenant's csat_mode off refuses it. On a
 * ticket the same through the path its resolve takes (hd_csat_ask_ticket:
 * the csat row, the csat entry in the ticket's thread, csat.requested), for
 * the current resolution, or while unresolved the next one (its resolve does
 * not ask again); refused when surveys are off, it was asked, or the ticket
 * is closed.
 */
#include "rule.h"
#include "tickets.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"

static HdPlan webhook_plan = {
	"SELECT id, enabled FROM helpdesk.webhook WHERE tenant_id = $1 AND external_id = $2",
	2, {INT8OID, TEXTOID}
};

static HdPlan delivery_plan = {
	"INSERT INTO helpdesk.webhook_delivery (tenant_id, webhook_id, event_pos, msg_id, event_type, body, next_at) "
	"SELECT $1, $2, 0, 'rule_' || $3 || '_' || $4 || '_' || $5 || '_' || $2, 'automation.rule', "
	"  jsonb_build_object('type', 'automation.rule', "
	"    'timestamp', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
	"    'data', jsonb_build_object('rule_id', r.id, 'rule', r.name, 'event', r.event, 'event_pos', $4, "
	"      'session', (SELECT to_jsonb(s) FROM helpdesk.session s WHERE s.tenant_id = $1 AND s.id = $6), "
	"      'ticket', (SELECT to_jsonb(t) FROM helpdesk.ticket t WHERE t.tenant_id = $1 AND t.id = $7)))::text, now() "
	"FROM helpdesk.automation_rule r WHERE r.tenant_id = $1 AND r.id = $3 "
	"RETURNING id",
	7, {INT8OID, INT8OID, INT8OID, INT8OID, INT4OID, INT8OID, INT8OID}
};

/* see rule.h */
char *
hd_rule_send_webhook(int64 tenant_id, const char *webhook, int64 session_id, int64 ticket_id,
					 int64 rule_id, int64 event_pos, int index, bool dry_run)
{
	Datum		v[7];
	int64		webhook_id = 0,
				delivery_id = 0;

	v[0] = Int64GetDatum(tenant_id);
	v[1] = CStringGetTextDatum(webhook);
	hd_exec(&webhook_plan, v, NULL, false, 1);
	if (SPI_processed != 1 || !hd_get_bool(2))
	{
		char	   *why = psprintf("webhook %s %s", hd_quote(webhook),
								   SPI_processed != 1 ? "does not exist in the tenant" : "is disabled");

		if (dry_run)
			return psprintf("error: %s", why);
		ereport(ERROR,
				(errcode(SPI_processed != 1 ? ERRCODE_HD_NOT_FOUND : ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s", why)));
	}
	hd_get_int64(1, &webhook_id);
	if (dry_run)
		return psprintf("send_webhook to %s", hd_quote(webhook));
	v[1] = Int64GetDatum(webhook_id);
	v[2] = Int64GetDatum(rule_id);
	v[3] = Int64GetDatum(event_pos);
	v[4] = Int32GetDatum(index);
	v[5] = Int64GetDatum(session_id);
	v[6] = Int64GetDatum(ticket_id);
	hd_exec(&delivery_plan, v, NULL, false, 1);
	if (SPI_processed == 1)
		hd_get_int64(1, &delivery_id);
	hd_wake_at_commit(HD_WORKER_HTTP);
	return psprintf("send_webhook to %s: delivery %lld", hd_quote(webhook), (long long) delivery_id);
}

/* see rule.h */
char *
hd_rule_ask_csat(int64 tenant_id, int64 session_id, bool dry_run)
{
	HdSessionRow s;
	int64		csat_id;

	hd_load_session(tenant_id, session_id, HD_LOCK_UPDATE, &s);
	if (strcmp(s.state, "closed") == 0)
	{
		if (dry_run)
			return psprintf("error: session %lld is closed", (long long) session_id);
		ereport(ERROR,
				(errcode(ERRCODE_HD_SESSION_CLOSED),
				 errmsg("session %lld is closed: ask_csat asks while it is open (the close asks by itself)",
						(long long) session_id)));
	}
	if (dry_run)
		return psprintf("ask_csat on session %lld", (long long) session_id);
	csat_id = hd_csat_ask_session(tenant_id, &s, false);
	if (csat_id == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no survey asked in session %lld: the tenant's surveys are off, or this session was asked already",
						(long long) session_id)));
	return psprintf("ask_csat on session %lld: survey %lld", (long long) session_id, (long long) csat_id);
}

static HdPlan ticket_status_plan = {
	"SELECT status FROM helpdesk.ticket WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
	2, {INT8OID, INT8OID}
};

/* see rule.h */
char *
hd_rule_ask_ticket_csat(int64 tenant_id, int64 ticket_id, bool dry_run)
{
	Datum		v[2] = {Int64GetDatum(tenant_id), Int64GetDatum(ticket_id)};
	int64		csat_id;
	char	   *status;

	hd_exec(&ticket_status_plan, v, NULL, false, 1);
	if (SPI_processed != 1)
	{
		if (dry_run)
			return psprintf("error: ticket %lld does not exist", (long long) ticket_id);
		hd_not_found("ticket", ticket_id, tenant_id);
	}
	status = hd_get_text(1);
	if (strcmp(status, "closed") == 0)
	{
		if (dry_run)
			return psprintf("error: ticket %lld is closed", (long long) ticket_id);
		ereport(ERROR,
				(errcode(ERRCODE_HD_SESSION_CLOSED),
				 errmsg("ticket %lld is closed: ask_csat asks while it is open or resolved", (long long) ticket_id)));
	}
	if (dry_run)
		return psprintf("ask_csat on ticket %lld", (long long) ticket_id);
	csat_id = hd_csat_ask_ticket(tenant_id, ticket_id, true, false);
	if (csat_id == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no survey asked for ticket %lld: the tenant's surveys are off, or this resolution was asked already",
						(long long) ticket_id)));
	return psprintf("ask_csat on ticket %lld: survey %lld", (long long) ticket_id, (long long) csat_id);
}
