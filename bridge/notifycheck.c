/*
 * notifycheck.c — does the LISTEN connection hear the publisher's NOTIFYs?
 *
 * A LISTEN connection through a pooler in transaction mode (pgbouncer's
 * pool_mode = transaction) runs queries fine but never receives a
 * notification: the bridge would relay nothing while everything looks up.
 * Through pgbouncer some do arrive, late: a server connection that once
 * ran LISTEN keeps what it was sent and hands it to the next client linked
 * to it, often our own next query. Two signs are watched. First, the
 * check also asks for pg_backend_pid(): a direct session keeps its backend
 * for as long as the connection lasts; if it changes, our queries are being
 * spread over pooled sessions and the one that ran LISTEN is not ours: deaf
 * at once, until the LISTEN connection is reopened. Second (a pooler that
 * keeps handing us the same server), every --notify-check-secs the LISTEN
 * connection reads the log's head (helpdesk.event_position()), and a NOTIFY
 * that comes during that check, or during the reads it leads to (until the
 * connection is idle again, WINDOW_US at most: under a steady stream the
 * reads never stop, and a direct session's NOTIFYs must count then), does
 * not count. The publisher NOTIFYs the
 * new head in the transaction that moves it, so when a check finds the
 * head moved to P, a NOTIFY announcing P has arrived or arrives within
 * GRACE_US. A move that is not announced in time is a strike; two strikes
 * in a row (one could be a NOTIFY that happened to come during the check)
 * and the connection is deaf: /healthz answers 503,
 * helpdesk_bridge_listen_deaf is 1 and the log says what to do
 * (--listen-db with a direct session). A move announced in time clears it.
 *
 * Either way the head read by the check is handed to the ring, which reads
 * up to it: a deaf bridge still relays, up to --notify-check-secs late. The
 * head comes from the database; a NOTIFY payload, which any role can send,
 * only serves here as evidence that NOTIFYs arrive (a forged one can at
 * worst hide deafness, never make the bridge relay anything).
 * A changed backend is reported at the first check that sees it; late
 * NOTIFYs, while events are published, within 2 x --notify-check-secs +
 * GRACE_US + one tick (1 s) + query time of the first event (README: + 4 s).
 */
#include "dbconn.h"

#include <stdlib.h>

#define GRACE_US 2000000
#define WINDOW_US 100000

static bool inflight;
static bool window;				/* from a check's send until the connection is idle */
static int64_t window_until;	/* ... or until this, after its answer */
static int64_t next_check_us;
static int64_t prev_pos = -1;	/* head at the previous check; -1: none yet */
static int64_t suspect_pos = -1;	/* a NOTIFY must announce this by the deadline */
static int64_t suspect_deadline;
static int	strikes;
static bool deaf;				/* by late NOTIFYs */
static int	listen_pid = -1;	/* the LISTEN session's backend, first check */
static bool moved;				/* by a changed backend; sticky */

uint64_t	notify_deaf_total;		/* times the connection was found deaf */

/* db.c: a NOTIFY arriving now may be one a pooler kept and hands us late */
bool
notifycheck_in_flight(void)
{
	return inflight || (window && now_us() < window_until);
}

/* db.c: the LISTEN connection has nothing in flight any more */
void
notifycheck_listen_idle(void)
{
	if (!inflight)
		window = false;
}

bool
db_listen_deaf(void)
{
	return deaf || moved;
}

static void
heard(void)
{
	suspect_pos = -1;
	strikes = 0;
	if (deaf)
		blog(BLOG_INFO, "NOTIFYs reach the LISTEN connection again");
	deaf = false;
}

static void
checked(void *arg, PGresult *res, const char *sqlstate, const char *message)
{
	int64_t		pos;

	inflight = false;
	window_until = now_us() + WINDOW_US;
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
		PQnfields(res) != 2 || PQgetisnull(res, 0, 0))
	{
		if (cfg.verbose)
			blog(BLOG_DEBUG, "position check failed: %s", message ? message : "?");
		return;
	}
	pos = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	{
		int			pid = atoi(PQgetvalue(res, 0, 1));

		if (listen_pid < 0)
			listen_pid = pid;
		else if (pid != listen_pid && !moved)
		{
			moved = true;
			notify_deaf_total++;
			blog(BLOG_ERR, "the LISTEN connection is not one session: its queries ran on "
				 "backend %d, now %d (a pooler in transaction mode?); its LISTEN is lost, "
				 "give --listen-db a direct session; relaying every %d s from the position "
				 "check meanwhile", listen_pid, pid, cfg.notify_check_secs);
		}
	}
	if (prev_pos >= 0 && pos < prev_pos)
		db_notified_max = -1;	/* a new log (the extension was re-created) */
	else if (prev_pos >= 0 && pos > prev_pos)
	{
		if (db_notified_max >= pos)
			heard();
		else if (suspect_pos < 0)
		{
			suspect_pos = pos;
			suspect_deadline = now_us() + GRACE_US;
		}
	}
	prev_pos = pos;
	ring_on_position(pos);
}

/* the LISTEN connection is (back) up: a new baseline, at once */
void
notifycheck_listen_up(void)
{
	prev_pos = -1;
	suspect_pos = -1;
	next_check_us = 0;
	listen_pid = -1;
	moved = false;
	window = false;
}

/* once a second, from dbconn.c's tick */
void
notifycheck_tick(int64_t now)
{
	if (suspect_pos >= 0)
	{
		if (db_notified_max >= suspect_pos)
			heard();
		else if (now >= suspect_deadline)
		{
			suspect_pos = -1;
			if (++strikes < 2)
				blog(BLOG_INFO, "no NOTIFY announced position %lld; checking again",
					 (long long) prev_pos);
			else if (!deaf && !moved)
			{
				notify_deaf_total++;
				blog(BLOG_ERR, "the LISTEN connection receives no NOTIFY: the event log moved "
					 "and nothing announced it (a pooler in transaction mode? give "
					 "--listen-db a direct session); relaying every %d s from the position "
					 "check meanwhile", cfg.notify_check_secs);
			}
			if (strikes >= 2)
				deaf = true;
		}
	}
	if (cfg.notify_check_secs == 0 || inflight || !db_listen_up() || now < next_check_us)
		return;
	next_check_us = now + (int64_t) cfg.notify_check_secs * 1000000;
	window = true;
	inflight = db_listen_query("SELECT helpdesk.event_position(), pg_catalog.pg_backend_pid()",
							   0, NULL, checked, NULL);
}
