/*
 * http_cors.c — CORS per tenant: the allowed origins of every tenant
 * (helpdesk.cors_origins(), set with set_cors_origins) kept in memory and
 * read again every few seconds, so a check never waits for the database.
 * A preflight carries no credentials, so it passes when any tenant allows
 * the origin; the answer itself carries Access-Control-Allow-Origin only
 * when the request's own tenant does (http_router.c, add_cors).
 */
#include "http_router.h"
#include "db.h"

#include <stdlib.h>
#include <string.h>

#define CORS_REFRESH_US (5 * 1000000)

typedef struct CorsEntry
{
	int64_t		tenant;
	char	   *origin;
} CorsEntry;

static CorsEntry *entries;
static int	nentries;
static struct lws_context *context;
static lws_sorted_usec_list_t cors_sul;
static bool in_flight;
static bool warned;

static void
cors_clear(void)
{
	for (int i = 0; i < nentries; i++)
		free(entries[i].origin);
	free(entries);
	entries = NULL;
	nentries = 0;
}

static void
loaded(void *arg, PGresult *res, const char *sqlstate, const char *message)
{
	in_flight = false;
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		/* keep what we had; a missing function (old schema) is said once */
		if (!warned && sqlstate)
			blog(BLOG_WARN, "CORS origins not readable (%s): %.*s", sqlstate,
				 (int) strcspn(message ? message : "", "\n"), message ? message : "");
		warned = sqlstate != NULL;
		return;
	}
	cors_clear();
	nentries = PQntuples(res);
	entries = calloc((size_t) (nentries > 0 ? nentries : 1), sizeof(CorsEntry));
	for (int i = 0; i < nentries; i++)
	{
		entries[i].tenant = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		entries[i].origin = strdup(PQgetvalue(res, i, 1));
	}
}

static void
tick(lws_sorted_usec_list_t *sul)
{
	if (!in_flight && db_calls_up() > 0)
	{
		in_flight = true;
		db_call("SELECT tenant_id, origin FROM helpdesk.cors_origins()", 0, NULL, loaded, NULL);
	}
	lws_sul_schedule(context, 0, &cors_sul, tick, CORS_REFRESH_US);
}

void
cors_init(struct lws_context *ctx)
{
	context = ctx;
	lws_sul_schedule(context, 0, &cors_sul, tick, 200 * 1000);
}

void
cors_stop(void)
{
	lws_sul_cancel(&cors_sul);
	cors_clear();
}

/* origins compare exactly (scheme, host and port, as browsers send them) */
bool
cors_origin_allowed(int64_t tenant, const char *origin)
{
	for (int i = 0; i < nentries; i++)
		if ((tenant == 0 || entries[i].tenant == tenant) && strcmp(entries[i].origin, origin) == 0)
			return true;
	return false;
}
