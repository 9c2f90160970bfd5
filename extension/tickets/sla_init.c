/*
 * sla_init.c — the SLA part's start-up, called by hd_tickets_init() from
 * _PG_init: the calendars' shared invalidation counter, the ticket observer
 * that recomputes due times, and the dispatcher stage that fires warnings
 * and breaches.
 */
#include "calendar.h"
#include "tickets.h"

void		hd_sla_init(void);

void
hd_sla_init(void)
{
	hd_calendar_shmem_init();
}
