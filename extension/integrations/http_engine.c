/*
 * http_engine.c — the HTTP worker's engine: libcurl multi driven by its
 * socket API, the in-flight caps, and the hand-over of jobs between the
 * claim, HTTP and completion phases (http_engine.h tells the cycle).
 *
 * Waiting: curl's sockets live in an epoll set of our own (updated from
 * curl's socket callback), and that epoll descriptor is one readable socket
 * in a PostgreSQL WaitEventSet beside the latch and postmaster death. So
 * one wait covers a backend's COMMIT-time wakeup, SIGTERM (the handler sets
 * the latch) and every socket, with curl's own timer as the timeout.
 *
 * curl allocates with malloc (never palloc) and none of its callbacks can
 * raise an ERROR: they copy into fixed buffers of the job.
 */
#include "http_engine_job.h"

#include <curl/curl.h>
#include <arpa/inet.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "access/xact.h"
#include "lib/ilist.h"
#include "storage/latch.h"
#include "utils/hsearch.h"
#include "utils/resowner.h"

int			hd_http_nsources = 0;
const HdHttpSource *hd_http_sources[HD_HTTP_MAX_SOURCES];

void
hd_http_register_source(const HdHttpSource *source)
{
	if (hd_http_nsources >= HD_HTTP_MAX_SOURCES)
		elog(ERROR, "pg_helpdesk: too many HTTP job sources");
	hd_http_sources[hd_http_nsources++] = source;
}

static MemoryContext engine_cxt = NULL;
static HTAB *endpoints = NULL;
static CURLM *multi = NULL;
static int	epfd = -1;
static WaitEventSet *wes = NULL;
static TimestampTz curl_deadline = 0;	/* when curl wants its timer run; 0: no timer */
static bool curl_timer_set = false;

static dlist_head claimed_jobs = DLIST_STATIC_INIT(claimed_jobs);	/* claim txn not yet committed */
static dlist_head flying = DLIST_STATIC_INIT(flying);
static dlist_head finished = DLIST_STATIC_INIT(finished);
static int	nclaimed = 0,
			nflying = 0,
			nfinished = 0;
static TimestampTz first_finished_at = 0;	/* when nfinished last became non-zero */

#define HD_HTTP_COMPLETE_BATCH 64
#define HD_HTTP_COMPLETE_WAIT_US 2000

struct HdHttpClaim
{
	const HdHttpSource *source;
	int			max;
	int			made;
	dlist_head	jobs;
};

static int
sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.data.fd = s;
	if (what == CURL_POLL_REMOVE)
	{
		(void) epoll_ctl(epfd, EPOLL_CTL_DEL, s, NULL);
		return 0;
	}
	ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, s, &ev) != 0 && errno == ENOENT)
		(void) epoll_ctl(epfd, EPOLL_CTL_ADD, s, &ev);
	return 0;
}

static int
timer_cb(CURLM *m, long timeout_ms, void *userp)
{
	if (timeout_ms < 0)
		curl_timer_set = false;
	else
	{
		curl_timer_set = true;
		curl_deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
	}
	return 0;
}

void
hd_http_engine_init(void)
{
	HASHCTL		ctl;

	engine_cxt = AllocSetContextCreate(TopMemoryContext, "pg_helpdesk http jobs",
									   ALLOCSET_DEFAULT_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(EndpointKey);
	ctl.entrysize = sizeof(EndpointCount);
	ctl.hcxt = engine_cxt;
	endpoints = hash_create("pg_helpdesk http endpoints", 64, &ctl,
							HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		elog(ERROR, "pg_helpdesk http worker: curl_global_init failed");
	multi = curl_multi_init();
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (multi == NULL || epfd < 0)
		elog(ERROR, "pg_helpdesk http worker: could not set up curl multi or epoll: %m");
	curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long) hd_http_max_in_flight);
	wes = CreateWaitEventSet(TopMemoryContext, 3);
	AddWaitEventToSet(wes, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(wes, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	AddWaitEventToSet(wes, WL_SOCKET_READABLE, epfd, NULL, NULL);
}

int
hd_http_in_flight(void)
{
	return nflying;
}

/*
 * How many more jobs may be claimed now. Finished jobs do not count: they
 * hold no socket, and the completion that frees them runs before the claim
 * (claims wait while completions fail), so at most one turn's worth waits.
 */
int
hd_http_engine_free_slots(void)
{
	return Max(0, hd_http_max_in_flight - nclaimed - nflying);
}

HdHttpJob *
hd_http_job_new(HdHttpClaim *claim, int64 tenant_id, int64 row_id, int64 endpoint_id,
				int endpoint_cap)
{
	EndpointKey key;
	EndpointCount *ep;
	bool		found;
	EngineJob  *ej;
	MemoryContext cxt;

	if (claim->made >= claim->max)
		return NULL;
	memset(&key, 0, sizeof(key));
	key.source = claim->source;
	key.tenant_id = tenant_id;
	key.endpoint_id = endpoint_id;
	ep = hash_search(endpoints, &key, HASH_ENTER, &found);
	if (!found)
		ep->claimed = 0;
	ep->cap = endpoint_cap > 0 ? endpoint_cap : hd_http_max_in_flight_per_endpoint;
	if (ep->claimed >= ep->cap)
		return NULL;
	ep->claimed++;
	cxt = AllocSetContextCreate(engine_cxt, "pg_helpdesk http job", ALLOCSET_SMALL_SIZES);
	ej = MemoryContextAllocZero(cxt, sizeof(EngineJob));
	ej->job.source = claim->source;
	ej->job.cxt = cxt;
	ej->job.tenant_id = tenant_id;
	ej->job.row_id = row_id;
	ej->job.endpoint_id = endpoint_id;
	ej->job.engine = ej;
	ej->ep = ep;
	dlist_push_tail(&claim->jobs, &ej->node);
	claim->made++;
	return &ej->job;
}

int
hd_http_full_endpoints(HdHttpClaim *claim, int64 **tenant_ids, int64 **endpoint_ids)
{
	HASH_SEQ_STATUS st;
	EndpointCount *ep;
	int			n = 0,
				cap = 16;

	*tenant_ids = palloc(sizeof(int64) * cap);
	*endpoint_ids = palloc(sizeof(int64) * cap);
	hash_seq_init(&st, endpoints);
	while ((ep = hash_seq_search(&st)) != NULL)
	{
		if (ep->key.source != claim->source || ep->claimed < ep->cap)
			continue;
		if (n == cap)
		{
			cap *= 2;
			*tenant_ids = repalloc(*tenant_ids, sizeof(int64) * cap);
			*endpoint_ids = repalloc(*endpoint_ids, sizeof(int64) * cap);
		}
		(*tenant_ids)[n] = ep->key.tenant_id;
		(*endpoint_ids)[n] = ep->key.endpoint_id;
		n++;
	}
	return n;
}

void
hd_http_add_header(HdHttpJob *job, const char *name, const char *value)
{
	if (job->request.nheaders >= HD_HTTP_MAX_HEADERS)
		elog(ERROR, "pg_helpdesk: more than %d headers on one request", HD_HTTP_MAX_HEADERS);
	job->request.headers[job->request.nheaders++] =
		MemoryContextStrdup(job->cxt, psprintf("%s: %s", name, value));
}

static void
release_endpoint(EngineJob *ej)
{
	if (ej->ep && --ej->ep->claimed <= 0)
		(void) hash_search(endpoints, &ej->ep->key, HASH_REMOVE, NULL);
	ej->ep = NULL;
}

static void
free_job(EngineJob *ej)
{
	if (ej->easy)
		hd_http_easy_put(ej->easy, multi != NULL);
	if (ej->hdrs)
		curl_slist_free_all(ej->hdrs);
	release_endpoint(ej);
	MemoryContextDelete(ej->job.cxt);
}

/* A job that never went out (bad row): straight to the finished list. */
static void
finish_without_request(EngineJob *ej, const char *error, bool bad_row)
{
	strlcpy(ej->errbuf, error, sizeof(ej->errbuf));
	ej->result.error = ej->errbuf;
	ej->result.bad_row = bad_row;
	ej->result.body = ej->body;
	release_endpoint(ej);
	if (nfinished++ == 0)
		first_finished_at = GetCurrentTimestamp();
	dlist_push_tail(&finished, &ej->node);
}

/*
 * Claim and build, inside the caller's transaction. Builds run one
 * subtransaction each, so a row whose request cannot be made (a secret that
 * no longer decrypts, a URL that does not parse) is completed as bad and the
 * others go out.
 */
int
hd_http_engine_claim(const HdHttpSource *src, int max)
{
	HdHttpClaim claim;
	dlist_mutable_iter it;

	claim.source = src;
	claim.max = max;
	claim.made = 0;
	dlist_init(&claim.jobs);
	src->claim(&claim, max);
	dlist_foreach_modify(it, &claim.jobs)
	{
		EngineJob  *ej = dlist_container(EngineJob, node, it.cur);
		MemoryContext oldcxt = CurrentMemoryContext;
		ResourceOwner oldowner = CurrentResourceOwner;

		dlist_delete(&ej->node);
		BeginInternalSubTransaction(NULL);
		PG_TRY();
		{
			MemoryContextSwitchTo(ej->job.cxt);
			src->build(&ej->job);
			MemoryContextSwitchTo(oldcxt);
			ReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(oldcxt);
			CurrentResourceOwner = oldowner;
			dlist_push_tail(&claimed_jobs, &ej->node);
			nclaimed++;
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(ej->job.cxt);
			edata = CopyErrorData();
			FlushErrorState();
			RollbackAndReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(oldcxt);
			CurrentResourceOwner = oldowner;
			ereport(WARNING,
					(errmsg("pg_helpdesk http worker: %s row %lld of tenant %lld is skipped: %s",
							src->name, (long long) ej->job.row_id, (long long) ej->job.tenant_id,
							edata->message)));
			finish_without_request(ej, psprintf("bad row: %s", edata->message), true);
			ej->in_claim = true;
		}
		PG_END_TRY();
	}
	return claim.made;
}

/* Hand a built job to curl. */
static void
start_job(EngineJob *ej)
{
	HdHttpRequest *r = &ej->job.request;
	CURL	   *e;

	if (r->url == NULL || !hd_http_url_host(ej, r->url) ||
		(pg_strncasecmp(r->url, "http://", 7) != 0 && pg_strncasecmp(r->url, "https://", 8) != 0))
	{
		finish_without_request(ej, "bad row: not an http(s) URL", true);
		return;
	}
	e = hd_http_easy_setup(ej);
	if (e == NULL)
	{
		finish_without_request(ej, "out of memory (curl_easy_init)", false);
		return;
	}
	if (curl_multi_add_handle(multi, e) != CURLM_OK)
	{
		finish_without_request(ej, "curl_multi_add_handle failed", false);
		return;
	}
	dlist_push_tail(&flying, &ej->node);
	nflying++;
}

/*
 * After the claim transaction: on COMMIT the claimed jobs go out; after a
 * rollback their rows were never marked, so they are just forgotten (and
 * bad-row results of that claim too: the marking would not be there).
 */
void
hd_http_engine_claimed(bool committed)
{
	dlist_mutable_iter it;

	dlist_foreach_modify(it, &claimed_jobs)
	{
		EngineJob  *ej = dlist_container(EngineJob, node, it.cur);

		dlist_delete(&ej->node);
		nclaimed--;
		if (committed)
			start_job(ej);
		else
			free_job(ej);
	}
	dlist_foreach_modify(it, &finished)
	{
		EngineJob  *ej = dlist_container(EngineJob, node, it.cur);

		if (!ej->in_claim)
			continue;			/* a result from earlier: keep it */
		ej->in_claim = false;
		if (!committed)
		{
			dlist_delete(&ej->node);
			nfinished--;
			free_job(ej);
		}
	}
}

/* Move what curl finished to the finished list. */
static void
collect_done(void)
{
	CURLMsg    *msg;
	int			left;

	while ((msg = curl_multi_info_read(multi, &left)) != NULL)
	{
		EngineJob  *ej = NULL;
		CURL	   *e = msg->easy_handle;
		long		status = 0;
		curl_off_t	total = 0;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **) &ej);
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_getinfo(e, CURLINFO_TOTAL_TIME_T, &total);
		ej->result.status = (int) status;
		ej->result.latency_us = (int64) total;
		ej->result.body = ej->job.request.response_buf ? ej->job.request.response_buf : ej->body;
		ej->result.body_len = ej->body_len;
		ej->result.retry_after = ej->retry_after[0] ? ej->retry_after : NULL;
		if (msg->data.result != CURLE_OK)
		{
			ej->result.status = 0;
			ej->result.timed_out = msg->data.result == CURLE_OPERATION_TIMEDOUT;
			if (ej->refused)
			{
				ej->result.refused = true;
				ej->result.error = ej->why;
			}
			else
			{
				if (ej->errbuf[0] == '\0')
					strlcpy(ej->errbuf, curl_easy_strerror(msg->data.result), sizeof(ej->errbuf));
				ej->result.error = ej->errbuf;
			}
		}
		curl_multi_remove_handle(multi, e);
		/* the endpoint may take another request while this result is written */
		release_endpoint(ej);
		dlist_delete(&ej->node);
		nflying--;
		dlist_push_tail(&finished, &ej->node);
		if (nfinished++ == 0)
			first_finished_at = GetCurrentTimestamp();
	}
}

/*
 * Wait for the latch, a socket or curl's timer (at most timeout_ms; -1: no
 * limit of ours), and let curl act on what happened.
 */
void
hd_http_engine_wait(long timeout_ms)
{
	WaitEvent	ev[3];
	int			n,
				i,
				running = 0;
	bool		sockets = false;

	if (curl_timer_set)
	{
		long		t = (long) ((curl_deadline - GetCurrentTimestamp() + 999) / 1000);

		t = Max(t, 0);
		timeout_ms = timeout_ms < 0 ? t : Min(timeout_ms, t);
	}
	{
		long		due_ms;

		if (hd_http_engine_complete_due(&due_ms))
			timeout_ms = 0;
		else if (due_ms >= 0)
			timeout_ms = timeout_ms < 0 ? due_ms : Min(timeout_ms, due_ms);
	}
	n = WaitEventSetWait(wes, timeout_ms, ev, 3, PG_WAIT_EXTENSION);
	for (i = 0; i < n; i++)
	{
		if (ev[i].events & WL_LATCH_SET)
			ResetLatch(MyLatch);
		if (ev[i].events & WL_SOCKET_READABLE)
			sockets = true;
	}
	if (sockets)
	{
		struct epoll_event evs[64];
		int			k,
					m;

		do
		{
			m = epoll_wait(epfd, evs, lengthof(evs), 0);
			for (k = 0; k < m; k++)
			{
				int			flags = 0;

				if (evs[k].events & (EPOLLIN | EPOLLHUP))
					flags |= CURL_CSELECT_IN;
				if (evs[k].events & EPOLLOUT)
					flags |= CURL_CSELECT_OUT;
				if (evs[k].events & EPOLLERR)
					flags |= CURL_CSELECT_ERR;
				curl_multi_socket_action(multi, evs[k].data.fd, flags, &running);
			}
		} while (m == lengthof(evs));
	}
	if (curl_timer_set && GetCurrentTimestamp() >= curl_deadline)
	{
		curl_timer_set = false;
		curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
	}
	collect_done();
}

int
hd_http_engine_finished(void)
{
	return nfinished;
}

static void
complete_one(EngineJob *ej, bool flush)
{
	MemoryContext oldcxt = CurrentMemoryContext;

	MemoryContextSwitchTo(ej->job.cxt);
	ej->job.source->complete(&ej->job, &ej->result);
	MemoryContextSwitchTo(oldcxt);
	if (flush && ej->job.source->flush)
		ej->job.source->flush();
}

/*
 * Are the finished jobs worth a transaction now? When HD_HTTP_COMPLETE_BATCH
 * have finished, when nothing else is in flight, or when the first has
 * waited HD_HTTP_COMPLETE_WAIT_US: under load a turn writes many results
 * (and claims as many) per commit instead of one or two. *wait_ms: how long
 * until they are due otherwise.
 */
bool
hd_http_engine_complete_due(long *wait_ms)
{
	int64		waited;

	if (wait_ms)
		*wait_ms = -1;
	if (nfinished == 0)
		return false;
	if (nfinished >= HD_HTTP_COMPLETE_BATCH || nflying == 0)
		return true;
	waited = GetCurrentTimestamp() - first_finished_at;
	if (waited >= HD_HTTP_COMPLETE_WAIT_US)
		return true;
	if (wait_ms)
		*wait_ms = (long) ((HD_HTTP_COMPLETE_WAIT_US - waited + 999) / 1000);
	return false;
}

/*
 * Complete the finished jobs in the caller's transaction. The fast path runs
 * them all straight; if that fails, the caller rolls back and calls again
 * with per_item, where each runs in a subtransaction and a failing one is
 * logged and left (its row stays "being sent" until the next start's
 * recover()).
 */
void
hd_http_engine_complete(bool per_item)
{
	dlist_mutable_iter it;

	dlist_foreach_modify(it, &finished)
	{
		EngineJob  *ej = dlist_container(EngineJob, node, it.cur);
		MemoryContext oldcxt = CurrentMemoryContext;
		ResourceOwner oldowner = CurrentResourceOwner;

		if (ej->in_claim)
			continue;
		if (!per_item)
		{
			complete_one(ej, false);
			continue;
		}
		BeginInternalSubTransaction(NULL);
		PG_TRY();
		{
			complete_one(ej, true);
			ReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(oldcxt);
			CurrentResourceOwner = oldowner;
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(oldcxt);
			edata = CopyErrorData();
			FlushErrorState();
			RollbackAndReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(oldcxt);
			CurrentResourceOwner = oldowner;
			ereport(WARNING,
					(errmsg("pg_helpdesk http worker: could not record the result of %s row %lld of tenant %lld: %s",
							ej->job.source->name, (long long) ej->job.row_id,
							(long long) ej->job.tenant_id, edata->message),
					 errhint("The row is sent again after the worker restarts.")));
			FreeErrorData(edata);
		}
		PG_END_TRY();
	}
	if (!per_item)
	{
		int			i;

		for (i = 0; i < hd_http_nsources; i++)
			if (hd_http_sources[i]->flush)
				hd_http_sources[i]->flush();
	}
}

/*
 * After the completion transaction: committed, the jobs are done; rolled
 * back on the fast path, they stay finished for the per-item pass.
 */
void
hd_http_engine_completed(bool committed)
{
	dlist_mutable_iter it;

	if (!committed)
		return;
	dlist_foreach_modify(it, &finished)
	{
		EngineJob  *ej = dlist_container(EngineJob, node, it.cur);

		if (ej->in_claim)
			continue;			/* a bad row of this transaction's claim: completed next turn */
		dlist_delete(&ej->node);
		nfinished--;
		free_job(ej);
	}
}

/*
 * SIGTERM: drop what is in flight (its rows stay "being sent" and are sent
 * again after the restart) without waiting for any server.
 */
void
hd_http_engine_shutdown(void)
{
	dlist_mutable_iter it;

	if (multi == NULL)
		return;
	dlist_foreach_modify(it, &flying)
	{
		EngineJob  *ej = dlist_container(EngineJob, node, it.cur);

		curl_multi_remove_handle(multi, ej->easy);
	}
	curl_multi_cleanup(multi);
	multi = NULL;
}
