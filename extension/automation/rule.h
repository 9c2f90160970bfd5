/*
 * rule.h — automation rules (issue 18): a rule is an event, conditions (AND /
 * OR groups of field-operator-value tests over the event's object) and
 * actions done through the same SQL API as people's (so the same state
 * machines, capacity and SLA rules apply). rule_cond.c evaluates and checks
 * conditions, rule_api.c stores rules and runs test_rule, rule_stage.c
 * follows the event log and runs them, rule_worker.c is the background
 * worker that does (one per database), rule_action.c does the actions
 * (rule_session.c moving sessions and their routing priority, rule_notify.c
 * webhooks and surveys), rule_time.c the time rules.
 */
#ifndef HD_RULE_H
#define HD_RULE_H

#include "hd.h"
#include "bot_json.h"
#include "utils/jsonb.h"

#define HD_RULE_MAX_ACTIONS 20
#define HD_RULE_MAX_CONDITIONS 50
/* the time rules' events, as SQL (equality probes of automation_rule_by_event, not LIKE) */
#define HD_RULE_TIME_EVENTS \
	"('time.no_agent_reply', 'time.queued', 'time.pending', 'time.no_customer_reply')"

/* rule_cond.c */
extern void hd_rule_check_conditions(Jsonb *conds);
/* evaluates conds against obj; appends one entry per leaf test to trace (a jansson array) */
extern bool hd_rule_eval(Jsonb *conds, Jsonb *obj, json_t *trace);
extern char *hd_rule_json_text(json_t *j);	/* palloc'd copy of json_dumps */

/* rule_action.c */
extern void hd_rule_check_actions(Jsonb *actions);
/*
 * does one action (SPI connected); ERROR when it cannot; returns what it did.
 * event_kind (the rule's event, NULL: unknown) picks the default target of
 * the actions that act on a session or a ticket: a ticket for ticket.*,
 * sla.* and time.pending, else the session; "target" in the action overrides.
 */
extern char *hd_rule_do_action(int64 tenant_id, JsonbContainer *action, const char *event_kind,
							   int64 session_id, int64 ticket_id, int64 rule_id, int64 event_pos,
							   int index, bool dry_run);

/* an event (or a due time rule) and the object its conditions see */
typedef struct RuleEvent
{
	int64		pos,			/* the log position; a time rule's due row id */
				tenant_id,
				session_id,
				ticket_id;
	char	   *kind;
	Jsonb	   *obj;
	bool		timed;			/* the tenant has time rules this event may start or end */
	bool		guarded;		/* written by a rule's action: no rule runs on it (loop guard) */
} RuleEvent;

/* rule_notify.c: send_webhook and ask_csat (SPI connected; ERROR when they cannot) */
extern char *hd_rule_send_webhook(int64 tenant_id, const char *webhook, int64 session_id, int64 ticket_id,
								  int64 rule_id, int64 event_pos, int index, bool dry_run);
extern char *hd_rule_ask_csat(int64 tenant_id, int64 session_id, bool dry_run);
extern char *hd_rule_ask_ticket_csat(int64 tenant_id, int64 ticket_id, bool dry_run);

/* rule_session.c: moving a session and its routing priority (SPI connected; ERROR when they cannot) */
extern char *hd_rule_session_move(int64 tenant_id, int64 session_id, const char *type, int64 to_agent,
								  int64 to_queue, int64 rule_id);
extern char *hd_rule_session_priority(int64 tenant_id, int64 session_id, const char *type,
									  const char *issue_type, bool has_priority, int32 priority,
									  int64 rule_id);

/* rule_stage.c: the event follower (SPI connected, in the rules worker's transaction) */
/* the time rules due at now, then one slice of events; *more when it stopped early */
extern int	hd_rule_follow(TimestampTz now, bool *more);
/* the run of hd_rule_follow failed and was rolled back (counts failures at one position) */
extern void hd_rule_follow_failed(void);
/* when to run again: now while behind the log, else the first time rule's due time; 0: none */
extern TimestampTz hd_rule_next_due(void);
/* runs one rule on ev (SPI connected): conditions, each action in a subtransaction, the audit */
extern void hd_rule_run_one(RuleEvent *ev, int64 rule_id, Jsonb *conds, Jsonb *actions);

/* rule_worker.c: the worker's loop (HD_WORKER_RULES) */
extern void hd_rule_register_worker(void);

/* rule_time.c */
extern void hd_rule_time_follow(RuleEvent *ev);
extern int	hd_rule_time_fire(TimestampTz now, bool *more);

#endif							/* HD_RULE_H */
