/*
 * ticket_assign_count.c — keeping agent.open_tickets true on every ticket
 * change, and the assignment part's init.
 *
 * A ticket counts against its assignee's max_open_tickets while it is new,
 * open or pending. Which agent it counts against now is stored on the
 * ticket (counted_agent_id), so the observer below, called by the tickets
 * code at the end of every change with the ticket row locked, only compares
 * that with what it should be (the assignee if the status counts, else
 * nobody) and moves one unit between the two agents' counters when they
 * differ: a resolve frees a slot, a reopen takes one back, whichever path
 * changed the ticket (an agent, a timer, an escalation naming an assignee).
 * The count never drifts, and no recount over an agent's tickets is needed.
 *
 * A reopen takes its slot back unguarded: the ticket is the agent's already,
 * and refusing the reopen would lose a customer's reply. Only new
 * assignments (take, give, the dispatcher) are held to the capacity.
 */
#include "ticket_assign.h"
#include "routing.h"

#include "utils/builtins.h"

static HdPlan count_state = {
	"SELECT t.status, t.assignee_id, t.counted_agent_id, t.assign_error IS NOT NULL, "
	"       coalesce((SELECT q.ticket_strategy <> 'manual' FROM helpdesk.queue q "
	"                 WHERE q.tenant_id = t.tenant_id AND q.id = t.queue_id), false) "
	"FROM helpdesk.ticket t WHERE t.tenant_id = $1 AND t.id = $2",
	2, {INT8OID, INT8OID}
};
static HdPlan lock_agents = {
	"SELECT id FROM helpdesk.agent WHERE tenant_id = $1 AND id IN ($2, $3) "
	"ORDER BY id FOR NO KEY UPDATE",
	3, {INT8OID, INT8OID, INT8OID}
};
static HdPlan move_count = {
	"UPDATE helpdesk.agent SET open_tickets = CASE WHEN id = $3 THEN open_tickets + 1 "
	"  ELSE greatest(open_tickets - 1, 0) END "
	"WHERE tenant_id = $1 AND id IN ($2, $3)",
	3, {INT8OID, INT8OID, INT8OID}
};
static HdPlan set_counted = {
	"UPDATE helpdesk.ticket SET counted_agent_id = nullif($3, 0), assign_error = NULL "
	"WHERE tenant_id = $1 AND id = $2",
	3, {INT8OID, INT8OID, INT8OID}
};

/*
 * Make ticket_id count against the agent it should (see the file comment);
 * wake the dispatcher when that freed a slot, or when the ticket waits
 * unassigned in an automatic queue. A mark left by a failed automatic
 * assignment is cleared: the change may have fixed what failed.
 */
void
hd_ticket_reconcile_count(int64 tenant_id, int64 ticket_id)
{
	Datum		v[3] = {Int64GetDatum(tenant_id), Int64GetDatum(ticket_id), 0};
	int64		assignee = 0,
				counted = 0,
				want;
	char	   *status;
	bool		marked,
				auto_queue;

	hd_exec(&count_state, v, NULL, false, 1);
	if (SPI_processed != 1)
		return;					/* deleted in the same change */
	status = hd_get_text(1);
	hd_get_int64(2, &assignee);
	hd_get_int64(3, &counted);
	marked = hd_get_bool(4);
	auto_queue = hd_get_bool(5);
	want = hd_ticket_status_counts(status) ? assignee : 0;

	if (want != counted)
	{
		Datum		a[3] = {Int64GetDatum(tenant_id), Int64GetDatum(counted), Int64GetDatum(want)};

		hd_exec(&lock_agents, a, NULL, false, 0);
		hd_exec(&move_count, a, NULL, false, 0);
	}
	if (want != counted || marked)
	{
		v[2] = Int64GetDatum(want);
		hd_exec(&set_counted, v, NULL, false, 0);
	}
	if ((counted != 0 && want != counted) ||
		(assignee == 0 && auto_queue && hd_ticket_status_counts(status)))
		hd_wake_at_commit(HD_WORKER_DISPATCHER);
}

static void
on_ticket_changed(int64 tenant_id, int64 ticket_id, HdTicketChange what)
{
	hd_ticket_reconcile_count(tenant_id, ticket_id);
}

/* From hd_tickets_init (in _PG_init): the observer and the dispatcher stage. */
void
hd_ticket_assign_init(void)
{
	hd_ticket_register_observer(on_ticket_changed);
	hd_ticket_assign_register_stage();
}
