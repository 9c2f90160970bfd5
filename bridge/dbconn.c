/*
 * dbconn.c — opening the bridge's libpq connections inside the lws loop.
 *
 * PQconnectdb would block the loop until the server answered: a database
 * that accepts TCP and then says nothing froze every socket, /healthz and
 * /metrics for as long as the kernel kept trying. Instead a connection is
 * started with PQconnectStartParams and advanced with PQconnectPoll each
 * time lws reports its socket readable or writable; lws gets a dup() of
 * PQsocket() as a raw file (it closes what it adopts, libpq closes its
 * own), adopted again if libpq moves to another socket (another host of a
 * multi-host string, a retry without SSL). A once-a-second tick gives up on
 * an attempt after --db-connect-timeout and on a query after
 * --db-query-timeout; a connection that fails or is lost is reopened with
 * capped exponential backoff. Meanwhile /healthz says 503 and handshakes
 * close with 1013 (db_call fails at once without a call connection).
 *
 * Every connection pins search_path to pg_catalog, pg_temp in its startup
 * packet ("options"), so that no function or operator a role created in
 * public can stand in for a built-in the bridge's SQL names. A pooler that
 * refuses the "options" startup parameter (pgbouncer does) gets the
 * connection without it, once, with a warning: the bridge's own SQL does
 * not depend on search_path either, it names pg_catalog and helpdesk.
 */
#include "dbconn.h"
#include "trace.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PIN_SEARCH_PATH "-c search_path=pg_catalog,pg_temp"

/* what one kind of connection (LISTEN or call) connects with */
typedef struct Target
{
	const char *name;
	const char *conninfo;
	char	  **keywords;		/* NULL-terminated, for PQconnectStartParams */
	char	  **values;
	bool		pin;			/* with the search_path option */
} Target;

static struct lws_context *context;
static struct lws_vhost *vhost;
static Target listen_target = {"listen"},
			call_target = {"call"};
static lws_sorted_usec_list_t tick_sul;

uint64_t	db_connect_timeouts;
uint64_t	db_query_timeouts;

static void target_free(Target *t);

/*
 * The keyword/value arrays of t's conninfo, with search_path pinned when
 * t->pin: the user's own options (or PGOPTIONS) come first and ours last,
 * so ours wins. Exits on a conninfo libpq cannot parse: that is a
 * configuration error, not something a retry fixes.
 */
static void
target_build(Target *t)
{
	char	   *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(t->conninfo, &err);
	int			n = 0,
				k = 0;
	const char *user_options = NULL;

	if (opts == NULL)
	{
		blog(BLOG_ERR, "cannot parse the %s connection string: %s", t->name,
			 err ? err : "out of memory");
		exit(2);
	}
	target_free(t);
	for (PQconninfoOption *o = opts; o->keyword; o++)
		n++;
	t->keywords = calloc((size_t) n + 2, sizeof(char *));
	t->values = calloc((size_t) n + 2, sizeof(char *));
	for (PQconninfoOption *o = opts; o->keyword; o++)
	{
		if (o->val == NULL)
			continue;
		if (strcmp(o->keyword, "options") == 0)
		{
			user_options = o->val;
			if (t->pin)
				continue;
		}
		t->keywords[k] = strdup(o->keyword);
		t->values[k++] = strdup(o->val);
	}
	if (t->pin)
	{
		size_t		len;

		if (user_options == NULL)
			user_options = getenv("PGOPTIONS");
		len = (user_options ? strlen(user_options) : 0) + sizeof(PIN_SEARCH_PATH) + 2;
		t->keywords[k] = strdup("options");
		t->values[k] = malloc(len);
		snprintf(t->values[k++], len, "%s%s%s", user_options ? user_options : "",
				 user_options ? " " : "", PIN_SEARCH_PATH);
	}
	PQconninfoFree(opts);
}

static void
target_free(Target *t)
{
	for (int i = 0; t->keywords && t->keywords[i]; i++)
	{
		free(t->keywords[i]);
		free(t->values[i]);
	}
	free(t->keywords);
	free(t->values);
	t->keywords = t->values = NULL;
}

static Target *
target_of(DbConn *c)
{
	return c->is_listen ? &listen_target : &call_target;
}

static void
reconnect_cb(lws_sorted_usec_list_t *sul)
{
	DbConn	   *c = lws_container_of(sul, DbConn, sul);

	dbconn_open(c);
}

static void
schedule_reconnect(DbConn *c)
{
	static const int backoff_ms[] = {100, 200, 500, 1000, 2000, 5000};
	int			ms = backoff_ms[c->tries < 5 ? c->tries : 5];

	if (db_shutting_down)
		return;
	c->tries++;
	lws_sul_schedule(context, 0, &c->sul, reconnect_cb, (lws_usec_t) ms * 1000);
}

static void
want_write_cb(lws_sorted_usec_list_t *sul)
{
	DbConn	   *c = lws_container_of(sul, DbConn, write_sul);

	if (c->wsi)
		lws_callback_on_writable(c->wsi);
}

/*
 * Ask for RAW_WRITEABLE_FILE. lws 4.1 clears the POLLOUT interest of a raw
 * file after its writeable callback returns, so a request made inside that
 * callback would be lost: it is made from a timer at the next pass instead.
 */
void
dbconn_want_write(DbConn *c)
{
	lws_sul_schedule(context, 0, &c->write_sul, want_write_cb, 1);
}

/* lws closes the wsi (and our dup) at its next pass; RAW_CLOSE_FILE reconnects */
static void
wsi_close_async(struct lws *wsi)
{
	lws_set_timeout(wsi, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
}

/*
 * Give lws a dup() of libpq's current socket; false if it cannot be done.
 * A wsi adopted for an earlier socket of this attempt is let go (its
 * callbacks see no DbConn any more).
 */
static bool
adopt_socket(DbConn *c)
{
	lws_sock_file_fd_type fd;
	int			dupfd = dup(PQsocket(c->pg));

	if (c->wsi)
	{
		lws_set_opaque_user_data(c->wsi, NULL);
		wsi_close_async(c->wsi);
		c->wsi = NULL;
	}
	if (dupfd < 0)
		return false;
	fd.filefd = dupfd;
	c->wsi = lws_adopt_descriptor_vhost(vhost, LWS_ADOPT_RAW_FILE_DESC, fd, "hd-db", NULL);
	if (c->wsi == NULL)
	{
		close(dupfd);
		return false;
	}
	lws_set_opaque_user_data(c->wsi, c);
	return true;
}

/* is our adopted dup() still the socket libpq uses? (numbers get reused) */
static bool
same_socket(DbConn *c)
{
	struct stat a,
				b;

	if (c->wsi == NULL || PQsocket(c->pg) < 0)
		return false;
	if (fstat(PQsocket(c->pg), &a) != 0 || fstat(lws_get_socket_fd(c->wsi), &b) != 0)
		return false;
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/*
 * An attempt failed (why: libpq's message, or ours). A pooler that refuses
 * the options parameter is asked again at once without it.
 */
static void
connect_failed(DbConn *c, const char *why)
{
	Target	   *t = target_of(c);

	if (c->pinned && strstr(why, "unsupported startup parameter") != NULL)
	{
		/* another connection of t may have found out first */
		if (t->pin)
		{
			blog(BLOG_WARN, "the %s connection's server refused the \"options\" startup "
				 "parameter (a pooler such as pgbouncer?): connecting without pinning "
				 "search_path; the bridge's queries name their schemas", t->name);
			t->pin = false;
			target_build(t);
		}
		c->tries = 0;
	}
	else if (c->tries == 0 || cfg.verbose)
		blog(BLOG_WARN, "cannot connect to the database (%s connection): %.*s", t->name,
			 (int) strcspn(why, "\n"), why);
	db_conn_lost(c, why);
}

/*
 * One step of the connection handshake, when the socket is ready for what
 * the last step waited for. false: the attempt failed (the wsi must close).
 */
static bool
advance(DbConn *c)
{
	switch (PQconnectPoll(c->pg))
	{
		case PGRES_POLLING_FAILED:
			connect_failed(c, PQerrorMessage(c->pg));
			return false;
		case PGRES_POLLING_OK:
			if (!same_socket(c) && !adopt_socket(c))
			{
				connect_failed(c, "cannot adopt the database socket");
				return false;
			}
			PQsetnonblocking(c->pg, 1);
			db_conn_up(c);
			return true;
		case PGRES_POLLING_WRITING:
			if (!same_socket(c) && !adopt_socket(c))
				break;
			dbconn_want_write(c);
			return true;
		default:				/* reading */
			if (!same_socket(c) && !adopt_socket(c))
				break;
			return true;
	}
	connect_failed(c, "cannot adopt the database socket");
	return false;
}

/* start connecting c; the loop drives the rest */
void
dbconn_open(DbConn *c)
{
	Target	   *t = target_of(c);

	if (db_shutting_down)
		return;
	c->pinned = t->pin;
	c->pg = PQconnectStartParams((const char *const *) t->keywords,
								 (const char *const *) t->values, 0);
	if (c->pg == NULL || PQstatus(c->pg) == CONNECTION_BAD || PQsocket(c->pg) < 0)
	{
		connect_failed(c, c->pg ? PQerrorMessage(c->pg) : "out of memory");
		schedule_reconnect(c);
		return;
	}
	c->state = CONN_CONNECTING;
	c->deadline_us = now_us() + (int64_t) cfg.db_connect_timeout * 1000000;
	if (!adopt_socket(c))
	{
		connect_failed(c, "cannot adopt the database socket");
		schedule_reconnect(c);
		return;
	}
	/* as if PQconnectPoll had said "writing" (libpq's documented start) */
	dbconn_want_write(c);
}

/* Give up on c now (from outside its wsi's callbacks): fail, close, reconnect. */
void
dbconn_kill(DbConn *c, const char *why)
{
	if (c->state == CONN_CONNECTING)
		connect_failed(c, why);
	else
		db_conn_lost(c, why);
	if (c->wsi)
		wsi_close_async(c->wsi);
	else
		schedule_reconnect(c);
}

/* at exit: no reconnect, everything failed */
void
dbconn_stop(DbConn *c)
{
	lws_sul_cancel(&c->sul);
	lws_sul_cancel(&c->write_sul);
	db_conn_lost(c, "shutdown");
}

/* the deadlines, once a second */
static void
tick_cb(lws_sorted_usec_list_t *sul)
{
	int64_t		now = now_us();
	TraceMark	t0 = trace_mark();
	DbConn	   *c;

	if (db_shutting_down)
		return;
	for (int i = 0; (c = db_conn_at(i)) != NULL; i++)
	{
		if (c->state == CONN_CONNECTING && now >= c->deadline_us)
		{
			char		why[96];

			db_connect_timeouts++;
			snprintf(why, sizeof(why), "no answer within %d s (--db-connect-timeout)",
					 cfg.db_connect_timeout);
			dbconn_kill(c, why);
		}
		else if (c->state == CONN_UP && c->inflight && cfg.db_query_timeout > 0 &&
				 now - c->sent_us >= (int64_t) cfg.db_query_timeout * 1000000)
		{
			char		why[96];

			db_query_timeouts++;
			snprintf(why, sizeof(why), "no answer to a query within %d s (--db-query-timeout)",
					 cfg.db_query_timeout);
			dbconn_kill(c, why);
		}
	}
	notifycheck_tick(now);
	trace_section("db deadlines and position check", t0);
	lws_sul_schedule(context, 0, &tick_sul, tick_cb, LWS_US_PER_SEC);
}

void
dbconn_setup(struct lws_context *ctx, struct lws_vhost *vh)
{
	context = ctx;
	vhost = vh;
	listen_target.conninfo = cfg.listen_conninfo;
	call_target.conninfo = cfg.conninfo;
	listen_target.pin = call_target.pin = true;
	target_build(&listen_target);
	target_build(&call_target);
	lws_sul_schedule(context, 0, &tick_sul, tick_cb, LWS_US_PER_SEC);
}

void
dbconn_free(void)
{
	lws_sul_cancel(&tick_sul);
	target_free(&listen_target);
	target_free(&call_target);
}

int
db_protocol_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			   void *in, size_t len)
{
	DbConn	   *c = lws_get_opaque_user_data(wsi);

	if (c == NULL)
		return 0;				/* a socket libpq moved away from, closing */
	switch (reason)
	{
		case LWS_CALLBACK_RAW_RX_FILE:
			if (c->state == CONN_CONNECTING)
				return advance(c) ? 0 : -1;
			if (!db_conn_readable(c))
				return -1;
			break;
		case LWS_CALLBACK_RAW_WRITEABLE_FILE:
			if (c->state == CONN_CONNECTING)
				return advance(c) ? 0 : -1;
			db_conn_writable(c);
			break;
		case LWS_CALLBACK_RAW_CLOSE_FILE:
			c->wsi = NULL;
			if (c->state == CONN_CONNECTING)
			{
				/* a hangup during the handshake: libpq has the reason */
				PQconnectPoll(c->pg);
				connect_failed(c, PQerrorMessage(c->pg));
			}
			else if (c->pg || c->up)
				db_conn_lost(c, "socket closed");
			schedule_reconnect(c);
			break;
		default:
			break;
	}
	return 0;
}
