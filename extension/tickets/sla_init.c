/*
 * sla_init.c — the SLA part's start-up, called by hd_tickets_init() from
 * _PG_init: the calendars' shared invalidation counter, the ticket observer
 * that recomputes a ticket's SLA on each change, the calendar-edit observer,
 * and the dispatcher stage that fires warnings and breaches.
 */
#include "sla.h"

#include "access/xact.h"

void		hd_sla_init(void);

/* every ticket change: its clocks follow (now = the changing transaction's now()) */
static void
sla_ticket_changed(int64 tenant_id, int64 ticket_id, HdTicketChange what)
{
	hd_sla_recompute(tenant_id, ticket_id, GetCurrentTransactionStartTimestamp());
}

/* a calendar edit may move the due times of the tenant's open tickets */
static void
sla_calendar_edited(int64 tenant_id, int64 calendar_id)
{
	hd_sla_request_recompute(tenant_id);
}

void
hd_sla_init(void)
{
	hd_calendar_shmem_init();
	hd_ticket_register_observer(sla_ticket_changed);
	hd_calendar_register_edit_observer(sla_calendar_edited);
	hd_sla_register_stage();
}
