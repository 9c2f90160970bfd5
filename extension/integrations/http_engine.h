/*
 * http_engine.h — the HTTP worker's engine and the job sources it serves.
 *
 * One HTTP worker per database (HD_WORKER_HTTP, started by the launcher)
 * runs one libcurl multi handle. It does not know what it sends: "job
 * sources" do. Webhook deliveries are one source (http_webhook_source.c),
 * the bot hand-off is another (bot_*.c). A source owns its table of work;
 * the engine owns the sockets, the caps, the clock and the transactions.
 *
 * The cycle of one job:
 *
 *   1. claim (engine's transaction, SPI connected, short): the source
 *      selects due rows with FOR UPDATE SKIP LOCKED through a partial index
 *      on its due time, asks hd_http_job_new() for each (NULL: that endpoint
 *      is at its cap, leave the row alone), marks the accepted rows as being
 *      sent (so no later claim takes them while the transaction is over),
 *      and returns. Rows it looked at but did not accept are released by
 *      the COMMIT. Never more than `max` jobs.
 *   2. build (same transaction, one subtransaction per job): the source
 *      fills the job's HdHttpRequest. An ERROR here is caught by the
 *      engine: the job is completed at once with result->bad_row set (the
 *      source marks the row and skips it: never a crash loop).
 *   3. HTTP, outside any transaction (curl multi, keep-alive, DNS cache,
 *      SSRF guard on the connected address, no proxy unless configured, no
 *      redirects, the request's timeouts).
 *   4. complete (a new engine transaction, SPI connected, batched with the
 *      other jobs that finished in the same loop turn; one subtransaction
 *      per job): the source writes the result (status, latency, error,
 *      first HD_HTTP_BODY_KEEP bytes of the body) and decides about retries.
 *
 * A job that was being sent when the worker died (kill -9, crash, immediate
 * restart) is still marked "being sent" in the source's table: at start the
 * engine calls every source's recover() before the first claim, which makes
 * such rows due again (at-least-once; there is one HTTP worker per database,
 * so whatever is marked then belongs to a dead worker). On SIGTERM the
 * engine drops what is in flight within 1 s and exits; recover() resends it.
 *
 * All callbacks except the HTTP itself run in the worker with SPI connected
 * inside a transaction the engine started; they must not commit. Memory:
 * allocate a job's data in job->cxt (a child of the engine's context that
 * lives until complete() returns); the request's strings too.
 *
 * Registration: a subsystem's init (called from _PG_init, via
 * hd_integrations_init()) calls hd_http_register_source(&my_source) with a
 * static HdHttpSource; at most HD_HTTP_MAX_SOURCES. To have work picked up
 * at once, a backend that adds due rows calls hd_wake_at_commit(HD_WORKER_HTTP)
 * (core/wake.c); otherwise the engine looks when next_due() says.
 */
#ifndef HD_HTTP_ENGINE_H
#define HD_HTTP_ENGINE_H

#include "shmem.h"
#include "utils/memutils.h"

#define HD_HTTP_MAX_SOURCES 8
#define HD_HTTP_MAX_HEADERS 16
#define HD_HTTP_BODY_KEEP	4096	/* bytes of a response body kept for the log */

typedef struct HdHttpSource HdHttpSource;

/* What to send; filled by the source's build(), in job->cxt. */
typedef struct HdHttpRequest
{
	const char *method;			/* "POST" (default when NULL), "GET", "PUT" */
	const char *url;			/* http:// or https:// only */
	const char *headers[HD_HTTP_MAX_HEADERS];	/* "Name: value" */
	int			nheaders;
	const char *body;			/* may be NULL */
	size_t		body_len;
	int			connect_timeout_ms; /* 0: helpdesk.http_connect_timeout (5 s) */
	int			timeout_ms;		/* total; 0: helpdesk.http_timeout (15 s) */

	/*
	 * Where the response body goes when the source needs more than
	 * HD_HTTP_BODY_KEEP bytes of it (a bot's answer): a buffer of
	 * response_cap + 1 bytes the source allocates in job->cxt. NULL: the
	 * engine keeps the first HD_HTTP_BODY_KEEP bytes. Bytes beyond the cap
	 * are dropped and result->body_truncated says so.
	 */
	char	   *response_buf;
	int			response_cap;
} HdHttpRequest;

/* What came back; valid during complete() only. */
typedef struct HdHttpResult
{
	int			status;			/* HTTP status; 0 when no response was read */
	int64		latency_us;		/* from the start of the transfer to its end */
	const char *error;			/* NULL on a response; else why not (curl, SSRF
								 * guard, bad row, shutdown) */
	const char *body;			/* first HD_HTTP_BODY_KEEP (or response_cap)
								 * bytes, NUL-terminated */
	int			body_len;
	const char *retry_after;	/* the Retry-After header, or NULL */
	bool		bad_row;		/* build() raised an ERROR: mark and skip */
	bool		refused;		/* the SSRF guard refused the address */
	bool		timed_out;		/* connect or total timeout */
	bool		body_truncated; /* more came than the buffer holds */
} HdHttpResult;

/* One claimed job. The engine owns it; the source fills data and request. */
typedef struct HdHttpJob
{
	const HdHttpSource *source;
	MemoryContext cxt;			/* lives until complete() returns */
	int64		tenant_id;		/* for logs */
	int64		row_id;			/* the source's row */
	int64		endpoint_id;	/* with tenant_id and source: the cap's key */
	int			attempt;		/* the source's attempt number, for logs */
	void	   *data;			/* the source's, in cxt */
	HdHttpRequest request;
	/* engine-private below */
	void	   *engine;
} HdHttpJob;

/* Context of one claim pass, opaque to sources. */
typedef struct HdHttpClaim HdHttpClaim;

struct HdHttpSource
{
	const char *name;			/* for logs: "webhook", "bot" */

	/*
	 * Called once per worker start before the first claim: rows marked as
	 * being sent belong to a dead worker, make them due again.
	 */
	void		(*recover) (void);

	/*
	 * Work that must happen before claiming, in its own transaction (e.g.
	 * webhooks turn newly published events into deliveries). Returns true
	 * when it did something and wants to be called again at once (more
	 * input waiting). May be NULL.
	 */
	bool		(*prepare) (void);

	/*
	 * Claim up to max due jobs (see above). Call hd_http_job_new() per row;
	 * use hd_http_full_endpoints() to leave endpoints at their cap out of
	 * the query. Returns the number of jobs created.
	 */
	int			(*claim) (HdHttpClaim *claim, int max);

	/* Fill job->request (in job->cxt). ERROR marks the row bad. */
	void		(*build) (HdHttpJob *job);

	/* Write the result and schedule a retry if any. */
	void		(*complete) (HdHttpJob *job, const HdHttpResult *result);

	/*
	 * The earliest due time of work not claimed (an index lookup), 0 when
	 * none; the worker sleeps until the earliest over all sources.
	 */
	TimestampTz (*next_due) (void);

	/*
	 * Optional (NULL: none): called after a batch of complete() calls in the
	 * same transaction, so a source may defer the common case (a success)
	 * and write it for the whole batch in one statement. In the per-item
	 * fallback it follows each complete() inside its subtransaction.
	 */
	void		(*flush) (void);
};

extern void hd_http_register_source(const HdHttpSource *source);

/*
 * In claim(): a new job for the source's row, or NULL when the endpoint
 * (tenant_id, endpoint_id) already has endpoint_cap jobs claimed (0: the
 * default cap, helpdesk.http_max_in_flight_per_endpoint).
 */
extern HdHttpJob *hd_http_job_new(HdHttpClaim *claim, int64 tenant_id, int64 row_id,
								  int64 endpoint_id, int endpoint_cap);

/*
 * In claim(): the endpoints of this claim's source that are at their cap
 * (tenant ids and endpoint ids, palloc'd in the current context); returns
 * how many.
 */
extern int	hd_http_full_endpoints(HdHttpClaim *claim, int64 **tenant_ids,
								   int64 **endpoint_ids);

/*
 * http_claim_rows.c: in claim(), for a source with one job per row: makes a
 * job for each of the first n rows (as the source's claimable query left
 * them: tenant id in column 1, row id in column 2, the endpoint id in
 * endpoint_col, 0 for none, and the attempt number in attempt_col) and runs
 * mark_sending (tenant id, row id) for each row that got one. Rows whose
 * endpoint is at its cap stay due. Returns how many jobs it made.
 */
extern int	hd_http_claim_rows(HdHttpClaim *claim, SPITupleTable *rows, uint64 n,
							   int endpoint_col, int attempt_col, HdPlan *mark_sending);

/* In build(): append a "Name: value" header (copied into job->cxt). */
extern void hd_http_add_header(HdHttpJob *job, const char *name, const char *value);

/*
 * http_sign_job.c: in build(), after the body is set: the Standard Webhooks
 * headers signed with secret, webhook-id "<id_prefix>_<tenant id>_<row id>".
 */
extern void hd_http_sign_job(HdHttpJob *job, const char *secret, const char *id_prefix);

/* Jobs in flight now (all sources), for checks and worker_status. */
extern int	hd_http_in_flight(void);

/* ---- http_settings.c ---- */
extern int	hd_http_max_in_flight;
extern int	hd_http_max_in_flight_per_endpoint;
extern int	hd_http_connect_timeout_ms;
extern int	hd_http_timeout_ms;
extern char *hd_http_allowed_hosts;
extern char *hd_http_proxy;
extern char *hd_encryption_key_file;
extern void hd_define_integrations_settings(void);

/* ---- http_crypt.c: secrets at rest (AES-256-GCM under the key file) ---- */
extern bytea *hd_encrypt_secret(const char *plain, int len, const char *context);
extern char *hd_decrypt_secret(const bytea *sealed, const char *context, int *len);

/* ---- the worker (http_worker.c) and the subsystem's init ---- */
extern void hd_http_worker_run(HdWorkerSlot *w);
extern void hd_integrations_init(void);

/* http_worker.c: hd_exec with a plan made for each execution (the worker's queries) */
extern int	hd_http_exec(HdPlan *p, Datum *values, const char *nulls, bool read_only, long count);

#endif							/* HD_HTTP_ENGINE_H */
