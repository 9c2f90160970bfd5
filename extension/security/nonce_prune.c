/*
 * nonce_prune.c — forgetting what the player API no longer needs: nonces
 * older than twice the replay window (a request that could still reuse one
 * would be refused as stale anyway) and rate counters idle for two minutes.
 *
 * The writers prune as they go: every PRUNE_EVERY-th write of a backend
 * deletes up to PRUNE_BATCH expired rows of that table through its index
 * (about one statement per hundred requests), so the tables stay at the
 * last ten minutes of traffic without a worker. prune_player_api() does the
 * same for the whole of both tables (pg_cron, or after traffic stopped).
 * (A dispatcher stage did this first; the dispatcher runs every stage on
 * every routing wake-up, each in its own transaction, for two tables that
 * only the player API writes.)
 */
#include "security.h"

#include "access/htup_details.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#define PRUNE_EVERY 128
#define PRUNE_BATCH 500

/*
 * Planned at each use (one statement per PRUNE_EVERY requests), not saved:
 * a plan saved while api_nonce was small scanned the whole table at every
 * prune once it had grown (a generic plan keeps the sequential scan it chose
 * for an empty table), a third of verify_signed_request's time at 40k
 * nonces. Planned now, the index on seen_at is used once it pays.
 */
static const char *const prune_nonces =
"DELETE FROM helpdesk.api_nonce WHERE ctid = ANY (ARRAY("
"  SELECT ctid FROM helpdesk.api_nonce WHERE seen_at < $1 ORDER BY seen_at LIMIT $2))";
static const char *const prune_rates =
"DELETE FROM helpdesk.api_rate WHERE ctid = ANY (ARRAY("
"  SELECT ctid FROM helpdesk.api_rate WHERE window_start < $1 LIMIT $2))";

static int64
prune(bool nonces, int limit)
{
	Oid			types[2] = {nonces ? TIMESTAMPTZOID : INT8OID, INT4OID};
	Datum		v[2];
	int			rc;

	if (nonces)
		v[0] = TimestampTzGetDatum(GetCurrentTimestamp() - (TimestampTz) HD_NONCE_KEEP_SECS * USECS_PER_SEC);
	else
		v[0] = Int64GetDatum(hd_unix_now() - 120);
	v[1] = Int32GetDatum(limit);
	rc = SPI_execute_with_args(nonces ? prune_nonces : prune_rates, 2, types, v, NULL, false, 0);
	if (rc != SPI_OK_DELETE)
		elog(ERROR, "pruning the player API's %s failed: %s", nonces ? "nonces" : "rate counters",
			 SPI_result_code_string(rc));
	return (int64) SPI_processed;
}

/* after a write to api_nonce (nonces) or api_rate; inside SPI */
void
hd_security_prune_some(bool nonces)
{
	static uint32 writes[2];

	if (++writes[nonces ? 0 : 1] % PRUNE_EVERY == 0)
		(void) prune(nonces, PRUNE_BATCH);
}

PG_FUNCTION_INFO_V1(hd_prune_player_api);

/* prune_player_api() -> (nonces, counters) deleted */
Datum
hd_prune_player_api(PG_FUNCTION_ARGS)
{
	int64		n = 0,
				r = 0,
				got;
	Datum		out[2];
	bool		nulls[2] = {false, false};
	TupleDesc	desc;

	hd_require_every_tenant();
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "prune_player_api must return a row");
	desc = BlessTupleDesc(desc);
	SPI_connect();
	while ((got = prune(true, 10000)) > 0)
		n += got;
	while ((got = prune(false, 10000)) > 0)
		r += got;
	SPI_finish();
	out[0] = Int64GetDatum(n);
	out[1] = Int64GetDatum(r);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, out, nulls)));
}
