/*
 * state_table.c — lookups in the small static tables that state machines
 * keep: the allowed (from, to) pairs, and the list of known values whose
 * static literals callers keep past SPI_finish.
 *
 * Sessions (session_state.c) and tickets (tickets/ticket_state.c) have the
 * same two lookups over different tables; one copy serves both, and each
 * keeps its own table, error message and SQLSTATE.
 */
#include "hd.h"

/* Whether (from, to) stands in a table that ends with {NULL, NULL}. */
bool
hd_transition_in(const HdTransition *table, const char *from, const char *to)
{
	int			i;

	for (i = 0; table[i].from != NULL; i++)
		if (strcmp(table[i].from, from) == 0 && strcmp(table[i].to, to) == 0)
			return true;
	return false;
}

/*
 * s as the static literal of a NULL-terminated list (the literal survives
 * SPI_finish, a value read from a row does not). A value outside the list
 * is a bug (the table's CHECK or the caller's check keeps it out), hence elog
 * naming what (e.g. "session state").
 */
const char *
hd_literal_in(const char *const *list, const char *s, const char *what)
{
	int			i;

	for (i = 0; list[i] != NULL; i++)
		if (strcmp(list[i], s) == 0)
			return list[i];
	elog(ERROR, "pg_helpdesk: unknown %s \"%s\"", what, s);
	return NULL;				/* keep compiler quiet */
}
