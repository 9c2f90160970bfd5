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

/*
 * session.c: called at the end of every close (hd_close), inside the
 * closing transaction with SPI connected; s->state is the state the session
 * closed from. A folder above routing sets it (tickets/csat.c: the
 * satisfaction survey after a chat with an agent). NULL: nothing.
 */
typedef void (*HdSessionClosedHook) (int64 tenant_id, const HdSessionRow *s,
									 const char *reason, const char *closed_by);
extern HdSessionClosedHook hd_session_closed_hook;

/*
 * dispatch_stages.c: stages that later subsystems (tickets: SLA timers,
 * auto-close, ticket assignment) add to the dispatcher's loop, so that the
 * dispatcher stays the one clock and the one writer of assignments without
 * routing calling the folders after it.
 *
 * next_due: the earliest due time of the stage's work, 0 when none; called
 *   inside a transaction with SPI connected, after every run of the stage.
 *   It must be an index lookup (no scan over open items).
 * run: does the work that is due at `now`, inside one transaction with SPI
 *   connected and a snapshot; catches per item (hd_run_in_subxact) so a bad
 *   row is marked and skipped; returns how many items it handled and sets
 *   *more when it stopped early and wants to run again at once. A stage
 *   that throws is rolled back, logged, and retried with backoff.
 * A stage runs when its due time has come, when it asked for more, and, if
 * run_on_wake, whenever the dispatcher is woken
 * (hd_wake_at_commit(HD_WORKER_DISPATCHER)). Every wake also refreshes each
 * stage's next_due inside the assignment pass's transaction, so a backend
 * that moves a due time earlier wakes the dispatcher at commit, and a stage
 * that only keeps timers costs a wake one index lookup, not a transaction.
 */
typedef struct HdDispatchStage
{
	const char *name;			/* for logs and pg_stat_activity */
	TimestampTz (*next_due) (void);
	int			(*run) (TimestampTz now, bool *more);
	bool		run_on_wake;	/* work arrives by wakeups, not only by due times */
} HdDispatchStage;

#define HD_MAX_DISPATCH_STAGES 8

/* from _PG_init only (every process gets the same list) */
extern void hd_dispatch_register_stage(const HdDispatchStage *stage);
extern int	hd_dispatch_stage_count(void);
extern const HdDispatchStage *hd_dispatch_stage(int i);

/*
 * A stage's next_due from a one-row, one-column plan (the earliest due time,
 * NULL when none): 0 when none; when the last pass skipped rows another
 * transaction held locked, no earlier than retry_ms from now, so the
 * dispatcher looks again shortly instead of at once.
 */
extern TimestampTz hd_dispatch_due_with_floor(HdPlan *next_due_plan,
											  bool last_pass_skipped, int retry_ms);

#endif							/* HD_ROUTING_H */
