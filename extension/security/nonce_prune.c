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

#define PRUNE_EVERY 128
#define PRUNE_BATCH 500

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

static int64
prune(bool nonces, int limit)
{
	Datum		v[2];

	if (nonces)
	{
		v[0] = Float8GetDatum(HD_NONCE_KEEP_SECS);
		v[1] = Int32GetDatum(limit);
		hd_exec(&prune_nonces, v, NULL, false, 0);
	}
	else
	{
		v[0] = Int32GetDatum(limit);
		hd_exec(&prune_rates, v, NULL, false, 0);
	}
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
