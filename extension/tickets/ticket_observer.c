/*
 * ticket_observer.c — the observer list every ticket change is reported to,
 * and the subsystem's init.
 *
 * The SLA, auto-close, CSAT and assignment parts of this folder react to
 * ticket changes without the ticket code knowing them: each registers a
 * callback from its own init function. Those init functions live in the
 * parts' own files and are declared weak here, so each part can be merged
 * (or left out) without editing this file; the names are fixed:
 * hd_sla_init, hd_autoclose_init, hd_csat_init, hd_quick_reply_init,
 * hd_ticket_assign_init.
 */
#include "tickets.h"

static HdTicketObserver observers[HD_TICKET_MAX_OBSERVERS];
static int	n_observers = 0;

extern void hd_sla_init(void) __attribute__((weak));
extern void hd_autoclose_init(void) __attribute__((weak));
extern void hd_csat_init(void) __attribute__((weak));
extern void hd_quick_reply_init(void) __attribute__((weak));
extern void hd_ticket_assign_init(void) __attribute__((weak));

void
hd_ticket_register_observer(HdTicketObserver fn)
{
	int			i;

	for (i = 0; i < n_observers; i++)
		if (observers[i] == fn)
			return;
	if (n_observers >= HD_TICKET_MAX_OBSERVERS)
		elog(ERROR, "pg_helpdesk: more than %d ticket observers", HD_TICKET_MAX_OBSERVERS);
	observers[n_observers++] = fn;
}

void
hd_ticket_changed(int64 tenant_id, int64 ticket_id, HdTicketChange what)
{
	int			i;

	for (i = 0; i < n_observers; i++)
		observers[i] (tenant_id, ticket_id, what);
}

const char *
hd_ticket_change_name(HdTicketChange what)
{
	static const char *const names[HD_TICKET_NUM_CHANGES] = {
		"created", "status", "priority", "customer_reply", "agent_reply",
		"assignee", "queue", "attributes"
	};

	if (what < 0 || what >= HD_TICKET_NUM_CHANGES)
		return "unknown";
	return names[what];
}

/* Called once from _PG_init. */
void
hd_tickets_init(void)
{
	hd_ticket_escalate_init();
	if (hd_sla_init)
		hd_sla_init();
	if (hd_autoclose_init)
		hd_autoclose_init();
	if (hd_csat_init)
		hd_csat_init();
	if (hd_quick_reply_init)
		hd_quick_reply_init();
	if (hd_ticket_assign_init)
		hd_ticket_assign_init();
}
