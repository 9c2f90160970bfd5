/*
 * access_grant.c — grant_tenant and revoke_tenant: binding roles to tenants.
 *
 * Binding tenant N needs the caller to act for N itself (a tenant's admin
 * may let another role act for that tenant, never for another one);
 * binding every tenant (tenant_id NULL, stored as 0) needs the caller to
 * act for every tenant. The table's statement trigger invalidates every
 * backend's access cache at commit (access.c).
 */
#include "security.h"

#include "catalog/pg_authid.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/syscache.h"

static HdPlan grant_plan = {
	"INSERT INTO helpdesk.tenant_grant (tenant_id, grantee, granted_by) "
	"VALUES ($1, $2, $3) ON CONFLICT (tenant_id, grantee) DO NOTHING RETURNING 1",
	3, {INT8OID, REGROLEOID, REGROLEOID}
};
static HdPlan revoke_plan = {
	"DELETE FROM helpdesk.tenant_grant WHERE tenant_id = $1 AND grantee = $2 RETURNING 1",
	2, {INT8OID, REGROLEOID}
};

/* The role argument: an existing role, not PUBLIC; the tenant: checked. */
static void
check_target(FunctionCallInfo fcinfo, Oid *role, int64 *tenant)
{
	if (PG_ARGISNULL(0))
		hd_invalid("role must not be NULL");
	*role = PG_GETARG_OID(0);
	if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(*role)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role with OID %u does not exist", *role)));
	if (PG_ARGISNULL(1))
	{
		hd_require_every_tenant();
		*tenant = 0;
	}
	else
	{
		*tenant = PG_GETARG_INT64(1);
		hd_require_tenant(*tenant);
	}
}

PG_FUNCTION_INFO_V1(hd_grant_tenant);

/* grant_tenant(role, tenant_id): true when the binding is new. */
Datum
hd_grant_tenant(PG_FUNCTION_ARGS)
{
	Oid			role;
	int64		tenant;
	bool		added;

	SPI_connect();
	check_target(fcinfo, &role, &tenant);
	hd_exec(&grant_plan, (Datum[]) {Int64GetDatum(tenant), ObjectIdGetDatum(role),
			ObjectIdGetDatum(GetOuterUserId())}, NULL, false, 0);
	added = SPI_processed > 0;
	SPI_finish();
	PG_RETURN_BOOL(added);
}

PG_FUNCTION_INFO_V1(hd_revoke_tenant);

/* revoke_tenant(role, tenant_id): true when there was such a binding. */
Datum
hd_revoke_tenant(PG_FUNCTION_ARGS)
{
	Oid			role;
	int64		tenant;
	bool		removed;

	SPI_connect();
	check_target(fcinfo, &role, &tenant);
	hd_exec(&revoke_plan, (Datum[]) {Int64GetDatum(tenant), ObjectIdGetDatum(role)},
			NULL, false, 0);
	removed = SPI_processed > 0;
	SPI_finish();
	PG_RETURN_BOOL(removed);
}
