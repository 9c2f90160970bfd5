/*
 * http_errors.c — what a database refusal is over HTTP: our SQLSTATEs (and
 * PostgreSQL's data errors) to a status and an error code of the JSON
 * error answer; see docs/http-api.md.
 */
#include "http_router.h"

#include <string.h>

/*
 * Our SQLSTATEs to HTTP. Messages of refusals (4xx) are the database's,
 * which never echo unbounded input; others are not shown to the client.
 */
void
http_reply_db_error(HttpReq *r, const char *sqlstate, const char *message)
{
	static const struct
	{
		const char *state;
		unsigned	status;
		const char *code;
	}			map[] = {
		{"HDA00", 400, "malformed_request"},
		{"HDA01", 401, "bad_signature"},
		{"HDA02", 401, "stale_timestamp"},
		{"HDA03", 401, "replayed_nonce"},
		{"HDA04", 401, "unknown_app"},
		{"28000", 401, "unauthorized"},
		{"28P01", 401, "unauthorized"},
		{"42501", 403, "forbidden"},
		{"HD404", 404, "not_found"},
		{"HD409", 409, "conflict"},
		{"23505", 409, "conflict"},
		{"HD410", 409, "session_closed"},
		{"HD422", 409, "illegal_transition"},
		{"HD429", 409, "at_capacity"},
		{"55000", 409, "not_ready"},
		{"54000", 413, "too_large"},
		{"HD415", 415, "unsupported_type"},
		{"22001", 400, "invalid_argument"},
		{"22023", 400, "invalid_argument"},
		{"22P02", 400, "invalid_argument"},
		{"22004", 400, "invalid_argument"},
		{"23502", 400, "invalid_argument"},
		{"23514", 400, "invalid_argument"},
		{"23503", 400, "invalid_argument"},
	};

	/* libpq's text starts with the severity */
	if (message && strncmp(message, "ERROR:  ", 8) == 0)
		message += 8;
	if (sqlstate == NULL)
	{
		http_reply_error(r, 503, "unavailable", "the database is unavailable; try again");
		return;
	}
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(map[i].state, sqlstate) == 0)
		{
			char		m[512];

			/* first line only, clipped */
			snprintf(m, sizeof(m), "%.*s", (int) strcspn(message ? message : "", "\n"),
					 message ? message : "");
			http_reply_error(r, map[i].status, map[i].code, m);
			return;
		}
	blog(BLOG_WARN, "HTTP %s %s: database error %s: %.*s", r->method, r->path, sqlstate,
		 (int) strcspn(message ? message : "", "\n"), message ? message : "");
	http_reply_error(r, 500, "db_error", "the request failed in the database");
}
