/*
 * nonce_prune.c — a dispatcher stage that forgets what the player API no
 * longer needs: nonces older than twice the replay window (a request that
 * could still reuse one would be refused as stale anyway) and rate counters
 * idle for two minutes. Due times come from the indexes on seen_at and
 * window_start, so nothing scans while there is nothing to prune.
 */
#include "security.h"

#include "routing.h"

#include "utils/builtins.h"

#define PRUNE_BATCH 5000

static HdPlan next_nonce_due = {
	"SELECT min(seen_at) + make_interval(secs => $1) FROM helpdesk.api_nonce",
	1, {FLOAT8OID}
};
static HdPlan next_rate_due = {
	"SELECT to_timestamp(min(window_start) + 120) FROM helpdesk.api_rate",
	0, {}
};
static HdPlan prune_nonces = {
	"DELETE FROM helpdesk.api_nonce WHERE ctid = ANY (ARRAY("
	"  SELECT ctid FROM helpdesk.api_nonce "
	"  WHERE seen_at < clock_timestamp() - make_interval(secs => $1) LIMIT $2))",
	2, {FLOAT8OID, INT4OID}
};
static HdPlan prune_rates = {
	"DELETE FROM helpdesk.api_rate WHERE ctid = ANY (ARRAY("
	"  SELECT ctid FROM helpdesk.api_rate "
	"  WHERE window_start < extract(epoch FROM clock_timestamp()) - 120 LIMIT $1))",
	1, {INT4OID}
};

static TimestampTz
first_due(HdPlan *p, Datum *v)
{
	bool		isnull;
	Datum		d;

	hd_exec(p, v, NULL, true, 1);
	if (SPI_processed == 0)
		return 0;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? 0 : DatumGetTimestampTz(d);
}

static TimestampTz
prune_next_due(void)
{
	Datum		v[1] = {Float8GetDatum(HD_NONCE_KEEP_SECS)};
	TimestampTz a = first_due(&next_nonce_due, v),
				b = first_due(&next_rate_due, NULL);

	if (a == 0)
		return b;
	if (b == 0)
		return a;
	return Min(a, b);
}

static int
prune_run(TimestampTz now, bool *more)
{
	Datum		v[2] = {Float8GetDatum(HD_NONCE_KEEP_SECS), Int32GetDatum(PRUNE_BATCH)};
	int			n;

	hd_exec(&prune_nonces, v, NULL, false, 0);
	n = (int) SPI_processed;
	v[0] = Int32GetDatum(PRUNE_BATCH);
	hd_exec(&prune_rates, v, NULL, false, 0);
	*more = n == PRUNE_BATCH || SPI_processed == PRUNE_BATCH;
	return n + (int) SPI_processed;
}

static const HdDispatchStage prune_stage = {
	"api nonce and rate pruning", prune_next_due, prune_run
};

/*
 * The dispatcher runs the stage when it is due or woken, and it learns the
 * first due time only by running it: so the writers of nonces and counters
 * wake it at commit, at most once a minute per backend (one latch set).
 */
void
hd_security_prune_wake(void)
{
	static TimestampTz last = 0;
	TimestampTz now = GetCurrentTimestamp();

	if (now - last >= 60 * USECS_PER_SEC)
	{
		last = now;
		hd_wake_at_commit(HD_WORKER_DISPATCHER);
	}
}

/* from _PG_init: the subsystem's dispatcher stage */
void
hd_security_init(void)
{
	hd_dispatch_register_stage(&prune_stage);
}
