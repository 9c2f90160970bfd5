/*
 * ticket_state.c — the ticket status machine.
 *
 *   new -> open -> pending -> resolved -> closed
 *   new -> pending | resolved, open <-> pending, open -> resolved,
 *   resolved -> open (reopen); closed is final.
 *
 * helpdesk.ticket_transition documents the same table for SQL readers; a
 * regression test checks that the two agree.
 */
#include "tickets.h"

#include "utils/builtins.h"

static const HdTransition transitions[] = {
	{"new", "open"}, {"new", "pending"}, {"new", "resolved"},
	{"open", "pending"}, {"open", "resolved"},
	{"pending", "open"}, {"pending", "resolved"},
	{"resolved", "open"}, {"resolved", "closed"},
	{NULL, NULL}
};

bool
hd_ticket_transition_allowed(const char *from, const char *to)
{
	return hd_transition_in(transitions, from, to);
}

/* from and to are known statuses (checked by the caller), so not quoted. */
void
hd_ticket_check_transition(int64 ticket_id, const char *from, const char *to)
{
	if (!hd_ticket_transition_allowed(from, to))
		ereport(ERROR,
				(errcode(ERRCODE_HD_ILLEGAL_TRANSITION),
				 errmsg("ticket %lld cannot go from %s to %s",
						(long long) ticket_id, from, to),
				 strcmp(from, "closed") == 0 ?
				 errhint("A closed ticket is final; a customer reply opens a follow-up ticket.") : 0));
}

PG_FUNCTION_INFO_V1(hd_ticket_transition_allowed_sql);

/* helpdesk.ticket_transition_allowed(from, to): the C table, for tests and tools. */
Datum
hd_ticket_transition_allowed_sql(PG_FUNCTION_ARGS)
{
	char	   *from = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *to = text_to_cstring(PG_GETARG_TEXT_PP(1));

	PG_RETURN_BOOL(hd_ticket_transition_allowed(from, to));
}

/* A status read from the table or checked by the caller, as its static literal. */
const char *
hd_ticket_status_literal(const char *s)
{
	static const char *const statuses[] = {"new", "open", "pending", "resolved", "closed", NULL};

	return hd_literal_in(statuses, s, "ticket status");
}

const char *
hd_ticket_priority_literal(const char *s)
{
	static const char *const priorities[] = {"low", "normal", "high", "urgent", NULL};

	return hd_literal_in(priorities, s, "ticket priority");
}
