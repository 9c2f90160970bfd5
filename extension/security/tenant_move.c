/*
 * tenant_move.c — the announcement of a tenant's move to its clients on the
 * node it leaves (scripts/move-tenant, docs/scale-out-move.md): one
 * tenant.moved event per client that may be connected, after every other
 * event of the tenant here. The fence itself is tenant_fence.c.
 */
#include "postgres.h"

#include "hd.h"
#include "security.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/json.h"

static HdPlan move_audience = {
	"SELECT 'customer', c.id FROM helpdesk.customer c WHERE c.tenant_id = $1 "
	"  AND EXISTS (SELECT 1 FROM helpdesk.session s WHERE s.tenant_id = c.tenant_id "
	"              AND s.customer_id = c.id AND s.state <> 'closed') "
	"UNION ALL SELECT 'agent', a.id FROM helpdesk.agent a WHERE a.tenant_id = $1 AND a.enabled "
	"ORDER BY 1, 2",
	1, {INT8OID}
};

/*
 * _announce_tenant_move(tenant_id, bridge_url, position): scripts/move-tenant
 * calls it on the source once the directory names the new node. One
 * tenant.moved event per customer with an open session and per enabled
 * agent (supervisors see them all), after every event the tenant had on this
 * node: a client that reads its stream up to it has missed nothing here, and
 * continues at bridge_url (the new node's bridge) from position, a position
 * of the new node's log taken before the copy committed there, so every
 * event of the tenant on the new node comes after it. Internal: the move's
 * operator calls it; it does not pass the tenant access check, which the
 * fence refuses by then. Returns the number of events.
 */
PG_FUNCTION_INFO_V1(hd_announce_tenant_move);
Datum
hd_announce_tenant_move(PG_FUNCTION_ARGS)
{
	int64		tenant_id;
	int64		position;
	StringInfoData payload;
	Datum		v[1];
	uint64		i,
				n;
	int64	   *ids;
	char	  **kinds;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("tenant_id and position must not be NULL")));
	tenant_id = PG_GETARG_INT64(0);
	position = PG_GETARG_INT64(2);
	initStringInfo(&payload);
	appendStringInfo(&payload, "{\"tenant_id\": " INT64_FORMAT ", \"position\": " INT64_FORMAT ", \"bridge_url\": ",
					 tenant_id, position);
	if (PG_ARGISNULL(1))
		appendStringInfoString(&payload, "null");
	else
	{
		char	   *url = text_to_cstring(PG_GETARG_TEXT_PP(1));

		hd_check_length("bridge_url", url, 1, 500);
		escape_json(&payload, url);
	}
	appendStringInfoChar(&payload, '}');

	v[0] = Int64GetDatum(tenant_id);
	SPI_connect();
	hd_exec(&move_audience, v, NULL, true, 0);
	n = SPI_processed;
	ids = palloc(sizeof(int64) * Max(n, 1));
	kinds = palloc(sizeof(char *) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		bool		isnull;

		kinds[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		ids[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
	}
	for (i = 0; i < n; i++)
		hd_append_event(tenant_id, kinds[i], ids[i], 0, 0, "tenant.moved", payload.data);
	SPI_finish();
	PG_RETURN_INT32((int32) n);
}
