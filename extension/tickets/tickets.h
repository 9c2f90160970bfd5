/*
 * tickets.h — what the tickets subsystem offers the C files of its folder
 * (its own and those of the SLA, auto-close, CSAT, quick-reply and
 * assignment parts) and pg_helpdesk.c.
 *
 * Every change to a ticket goes through the C code of this folder, which
 * calls hd_ticket_changed() at the end of the change, inside the changing
 * transaction, with SPI connected and the ticket row locked FOR UPDATE and
 * already written. hd_ticket_changed() calls every registered observer in
 * registration order; an observer may read and write through SPI (its
 * writes are part of the change; an error aborts it) and must not call back
 * into a change of the same ticket's status.
 */
#ifndef HD_TICKETS_H
#define HD_TICKETS_H

#include "hd.h"

#include "utils/array.h"

/* What changed; one call per kind of change (a reply that reopens: two). */
typedef enum HdTicketChange
{
	HD_TICKET_CREATED = 0,
	HD_TICKET_STATUS,
	HD_TICKET_PRIORITY,
	HD_TICKET_CUSTOMER_REPLY,
	HD_TICKET_AGENT_REPLY,
	HD_TICKET_ASSIGNEE,
	HD_TICKET_QUEUE,
	HD_TICKET_ATTRIBUTES,		/* tags, attributes, subject, issue type */
	HD_TICKET_NUM_CHANGES
} HdTicketChange;

typedef void (*HdTicketObserver) (int64 tenant_id, int64 ticket_id, HdTicketChange what);

/*
 * ticket_observer.c. Register from an init function called by
 * hd_tickets_init() (in _PG_init, so every backend has the same list); at
 * most HD_TICKET_MAX_OBSERVERS.
 */
#define HD_TICKET_MAX_OBSERVERS 16
extern void hd_ticket_register_observer(HdTicketObserver fn);
extern void hd_ticket_changed(int64 tenant_id, int64 ticket_id, HdTicketChange what);
extern const char *hd_ticket_change_name(HdTicketChange what);
extern void hd_tickets_init(void);
extern void hd_ticket_escalate_init(void);	/* ticket_escalate.c */

/*
 * ticket_event.c: append an event about a ticket for its audiences — the
 * customer (only when is_public), the assignee, the queue, and the tenant's
 * supervisors. payload_json is a JSON object literal or NULL; "ticket_id"
 * and "number" are added to it. Reads the ticket row (the caller's
 * transaction sees its own writes).
 */
extern void hd_ticket_event(int64 tenant_id, int64 ticket_id, const char *type,
							const char *payload_json, bool is_public);

/* ticket_state.c: the status machine (HD422 naming both statuses) */
extern bool hd_ticket_transition_allowed(const char *from, const char *to);
extern void hd_ticket_check_transition(int64 ticket_id, const char *from, const char *to);
extern const char *hd_ticket_status_literal(const char *status);
extern const char *hd_ticket_priority_literal(const char *priority);

/* ---- ticket_row.c: a ticket row by key, and who may act on it ---- */
typedef struct HdTicketRow
{
	int64		id;
	int64		number;
	int64		customer_id;
	const char *status;			/* static literal */
	const char *priority;		/* static literal */
	bool		has_queue;
	int64		queue_id;
	bool		has_assignee;
	int64		assignee_id;
	bool		has_resolved_at;
	TimestampTz resolved_at;
} HdTicketRow;

extern void hd_load_ticket(int64 tenant_id, int64 ticket_id, HdRowLock lock, HdTicketRow *t);
extern void hd_ticket_check_actor(int64 tenant_id, HdTicketRow *t, const char *actor_kind,
								  bool has_actor, int64 actor_id, bool customer_ok);
extern void hd_ticket_require_open(HdTicketRow *t);

/*
 * ---- ticket_status.c ----
 * Move a ticket whose row the caller locked FOR UPDATE (t, updated in
 * place) to status to: checks the transition, writes the timestamps
 * (resolved_at, resolution_count and resolved_by on a resolve, closed_at),
 * logs ticket.updated and calls the observers. actor_kind is agent,
 * customer, system or api (resolved_by); reason may be NULL. Returns false,
 * changing nothing, when the ticket is already in that status.
 */
extern bool hd_ticket_set_status(int64 tenant_id, HdTicketRow *t, const char *to,
								 const char *actor_kind, int64 actor_id, const char *reason);

/* ---- ticket_thread.c: one entry of a ticket's thread ---- */
typedef struct HdTicketPost
{
	int64		tenant_id;
	int64		ticket_id;
	const char *sender_kind;	/* customer, agent, note, system, bot */
	bool		has_sender;
	int64		sender_id;
	const char *type;			/* text, image, file, system, csat */
	const char *body;			/* may be NULL for image/file */
	Jsonb	   *attachment;		/* may be NULL */
	const char *client_msg_id;	/* may be NULL */
} HdTicketPost;

extern void hd_ticket_check_content(HdTicketPost *m);
extern int64 hd_ticket_find_replay(HdTicketPost *m, bool with_follow_ups, bool *found,
								   int64 *in_ticket);
extern int64 hd_ticket_insert_message(HdTicketPost *m, HdTicketRow *t);

/*
 * ---- ticket_create.c ----
 * A new ticket (numbered from the tenant's counter, locked until commit)
 * with an optional first message from the customer; ticket.created and the
 * observers. Caller has done SPI_connect.
 */
typedef struct HdTicketNew
{
	int64		tenant_id;
	int64		customer_id;
	const char *subject;
	const char *body;			/* first customer message, may be NULL */
	const char *priority;
	const char *issue_type;		/* may be NULL */
	bool		has_queue;
	int64		queue_id;
	const char *channel;
	Jsonb	   *attributes;		/* may be NULL */
	ArrayType  *tags;			/* may be NULL */
	bool		has_session;
	int64		session_id;
	bool		has_follow_up;
	int64		follow_up_of;
	const char *client_msg_id;	/* of the first message, may be NULL */
	const char *type;			/* of the first message (default text) */
	Jsonb	   *attachment;
} HdTicketNew;

extern int64 hd_ticket_create(HdTicketNew *n, int64 *message_id);
extern ArrayType *hd_ticket_normalise_tags(ArrayType *tags);
extern char *hd_ticket_subject_from(const char *text, const char *fallback);

/* csat.c: ask the session's survey now; the survey id, 0 when off or asked already */
extern int64 hd_csat_ask_session(int64 tenant_id, const HdSessionRow *s, bool after_timer);
/*
 * csat.c: ask the ticket's survey now (the resolve's path: the csat row, the
 * csat entry in its thread, csat.requested); for this resolution, or while
 * not resolved the next one (its resolve does not ask again). The survey id,
 * 0 when surveys are off or it was asked already; any_status false asks
 * resolved tickets only (the observer).
 */
extern int64 hd_csat_ask_ticket(int64 tenant_id, int64 ticket_id, bool any_status, bool after_autoclose);
/* ticket_fields.c: set the issue type (SPI connected); false when unchanged */
extern bool hd_ticket_set_issue_type(int64 tenant_id, int64 ticket_id, const char *issue_type,
									 const char *actor_kind);

#endif							/* HD_TICKETS_H */
