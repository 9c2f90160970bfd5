/*
 * ticket_assign.h — what the ticket assignment files share: the manual API
 * (ticket_assign.c), the open-ticket counter kept on every change
 * (ticket_assign_count.c) and the dispatcher's stage (ticket_assign_stage.c).
 */
#ifndef HD_TICKET_ASSIGN_H
#define HD_TICKET_ASSIGN_H

#include "tickets.h"

/* the statuses that count against an agent's max_open_tickets */
#define HD_TICKET_OPEN_STATUSES "('new', 'open', 'pending')"

extern bool hd_ticket_status_counts(const char *status);

/* ticket_assign_count.c */
extern void hd_ticket_reconcile_count(int64 tenant_id, int64 ticket_id);
extern void hd_ticket_assign_init(void);

/* ticket_assign.c: after an assignee change is written */
extern void hd_ticket_assign_audit(int64 tenant_id, int64 ticket_id, int64 queue_id,
								   int64 agent_id, int64 previous_agent_id,
								   const char *action, const char *actor_kind,
								   int64 actor_id, const char *strategy,
								   int candidates, const char *reason,
								   int open_tickets, int capacity);
extern void hd_ticket_assignee_event(int64 tenant_id, int64 ticket_id, int64 old_agent,
									 int64 new_agent, const char *actor_kind,
									 int64 actor_id, const char *reason);

extern bool hd_ticket_release_disabled(int64 tenant_id, int64 ticket_id, int64 agent_id);

/* ticket_assign_stage.c */
extern void hd_ticket_assign_register_stage(void);

#endif							/* HD_TICKET_ASSIGN_H */
