/*
 * sla.h — SLA clocks on tickets (sla_clock.c), policies (sla_policy.c) and
 * the dispatcher stage that fires warnings and breaches (sla_stage.c).
 */
#ifndef HD_SLA_H
#define HD_SLA_H

#include "calendar.h"
#include "tickets.h"

/*
 * Bring a ticket's SLA in line with its current row: choose the policy,
 * start, pause, resume and stop the target clocks, recompute due times, the
 * SLA state and sla_next_at. Inside SPI, the ticket row locked. Writes only
 * what changed; wakes the dispatcher at commit when sla_next_at moved.
 */
extern void hd_sla_recompute(int64 tenant_id, int64 ticket_id, TimestampTz now);

/* Fire the ticket's warnings and breaches due at now (inside SPI, ticket locked); returns how many. */
extern int	hd_sla_fire(int64 tenant_id, int64 ticket_id, TimestampTz now);

/* Ask the dispatcher to recompute the tenant's open tickets (after a policy or calendar edit). */
extern void hd_sla_request_recompute(int64 tenant_id);

/* sla_session.c: chat sessions' first response, checked at the due time */
extern int	hd_sla_sessions_due(TimestampTz now, int batch, bool *more);

/* sla_stage.c */
extern void hd_sla_register_stage(void);

#endif							/* HD_SLA_H */
