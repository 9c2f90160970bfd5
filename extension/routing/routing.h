/*
 * routing.h — what the routing C files share: releasing and requeueing
 * sessions (assignment.c), priority (priority.c), closing (session.c) and the
 * dispatcher's entry point.
 */
#ifndef HD_ROUTING_H
#define HD_ROUTING_H

#include "hd.h"

/* How a session leaves its agent; also session_assignment.end_reason. */
#define HD_END_DECLINED		"declined"
#define HD_END_TIMEOUT		"timeout"
#define HD_END_CLOSED		"closed"
#define HD_END_TRANSFERRED	"transferred"
#define HD_END_AGENT_LOST	"agent_lost"
#define HD_END_REQUEUED		"requeued"

extern void hd_release_agent(int64 tenant_id, int64 session_id, int64 agent_id,
							 const char *end_reason);
extern void hd_requeue(int64 tenant_id, int64 session_id, const char *from_state,
					   int64 queue_id, int64 exclude_agent, int64 target_agent,
					   bool new_stint, const char *why);
extern TimestampTz hd_max_wait_due(int64 tenant_id, int64 queue_id);
extern void hd_audit(int64 tenant_id, int64 session_id, int64 queue_id, int64 agent_id,
					 const char *action, const char *reason, TimestampTz due_at);
extern int	hd_release_disabled_agent(int64 tenant_id, int64 agent_id);
extern void hd_session_event(int64 tenant_id, int64 session_id, const char *from,
							 const char *to, int64 queue_id, int64 agent_id,
							 const char *extra_json_fields);

/*
 * dispatch_timers.c: a queue's max_wait_action 'ticket' hands the waiting
 * session (locked FOR UPDATE, still queued) to this hook, which a folder
 * above routing registers (tickets/): it makes the ticket and closes the
 * session as escalated. Unset, the session is abandoned as with 'close'.
 */
typedef void (*HdMaxWaitTicketHook) (int64 tenant_id, HdSessionRow *s, TimestampTz due);
extern HdMaxWaitTicketHook hd_max_wait_ticket_hook;

/* presence.c */
extern void hd_warn_short_presence(int64 tenant_id);

/* priority.c */
extern int32 hd_session_boost(int64 tenant_id, int64 customer_id, const char *issue_type,
							  int32 priority, const char *first_message);
extern bool hd_issue_type_queue(int64 tenant_id, const char *issue_type, int64 *queue_id);
extern char *hd_first_customer_message(int64 tenant_id, int64 session_id);

/* session.c */
extern void hd_close(int64 tenant_id, HdSessionRow *s, const char *reason,
					 const char *closed_by);

#endif							/* HD_ROUTING_H */
