/*
 * session_state.c — the session state machine.
 *
 *   bot -> queued -> offered -> active -> closed
 *   queued -> active (direct assignment, claim), queued -> queued (moved to
 *   another queue), offered -> queued (declined or timed out), active ->
 *   queued (transfer, agent lost), and any open state -> closed.
 *
 * helpdesk.session_transition documents the same table for SQL readers; a
 * regression test checks that the two agree.
 */
#include "hd.h"

#include "utils/builtins.h"

static const HdTransition transitions[] = {
	{"bot", "queued"}, {"bot", "closed"},
	{"queued", "offered"}, {"queued", "active"}, {"queued", "closed"}, {"queued", "queued"},
	{"offered", "active"}, {"offered", "queued"}, {"offered", "closed"},
	{"active", "queued"}, {"active", "closed"},
	{NULL, NULL}
};

bool
hd_transition_allowed(const char *from, const char *to)
{
	return hd_transition_in(transitions, from, to);
}

void
hd_check_transition(int64 session_id, const char *from, const char *to)
{
	if (!hd_transition_allowed(from, to))
		ereport(ERROR,
				(errcode(strcmp(from, "closed") == 0 ? ERRCODE_HD_SESSION_CLOSED
						 : ERRCODE_HD_ILLEGAL_TRANSITION),
				 errmsg("session %lld cannot go from %s to %s",
						(long long) session_id, from, to)));
}

PG_FUNCTION_INFO_V1(hd_transition_allowed_sql);

/* helpdesk.transition_allowed(from, to): the C table, for tests and tools. */
Datum
hd_transition_allowed_sql(PG_FUNCTION_ARGS)
{
	char	   *from = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *to = text_to_cstring(PG_GETARG_TEXT_PP(1));

	PG_RETURN_BOOL(hd_transition_allowed(from, to));
}

/* Map a state read from the table to its static literal (survives SPI_finish). */
const char *
hd_state_literal(const char *s)
{
	static const char *const states[] = {"bot", "queued", "offered", "active", "closed", NULL};

	return hd_literal_in(states, s, "session state");
}
