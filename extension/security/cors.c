/*
 * cors.c — set_cors_origins(tenant_id, origins): replaces a tenant's allowed
 * web origins (table cors_origin, whose CHECK refuses anything but
 * scheme://host[:port] with 23514) and answers how many it has now.
 * helpdesk-bridge re-reads them all through cors_origins() every 5 s.
 */
#include "security.h"

#include "catalog/pg_type_d.h"

static HdPlan drop_plan = {
	"DELETE FROM helpdesk.cors_origin c WHERE c.tenant_id = $1 "
	"AND c.origin <> ALL (coalesce($2, '{}'))",
	2, {INT8OID, TEXTARRAYOID}
};

static HdPlan add_plan = {
	"INSERT INTO helpdesk.cors_origin (tenant_id, origin) "
	"SELECT $1, o FROM unnest(coalesce($2, '{}'::text[])) o ON CONFLICT DO NOTHING",
	2, {INT8OID, TEXTARRAYOID}
};

static HdPlan count_plan = {
	"SELECT count(*)::integer FROM helpdesk.cors_origin c WHERE c.tenant_id = $1",
	1, {INT8OID}
};

PG_FUNCTION_INFO_V1(hd_set_cors_origins);

Datum
hd_set_cors_origins(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id"};
	Datum		v[2];
	char		nulls[2] = {' ', ' '};
	bool		isnull;
	int32		n;

	hd_require_args(fcinfo, 1, names);
	v[0] = PG_GETARG_DATUM(0);
	v[1] = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);
	if (PG_ARGISNULL(1))
		nulls[1] = 'n';
	SPI_connect();
	hd_require_tenant(PG_GETARG_INT64(0));
	hd_exec(&drop_plan, v, nulls, false, 0);
	hd_exec(&add_plan, v, nulls, false, 0);
	hd_exec(&count_plan, v, nulls, false, 1);
	n = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	PG_RETURN_INT32(n);
}
