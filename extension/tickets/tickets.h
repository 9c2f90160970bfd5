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

#endif							/* HD_TICKETS_H */
