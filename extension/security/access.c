/*
 * access.c — which tenants the calling role may act for.
 *
 * Every SQL-callable function that takes a tenant id passes it through
 * hd_require_tenant() (core/spi_util.c), which calls hd_check_tenant_access()
 * here through hd_tenant_access_hook. The caller is GetOuterUserId(): our
 * functions are SECURITY DEFINER, so GetUserId() is the owner inside them,
 * while the outer user stays the session's role or the one SET ROLE chose.
 *
 * A superuser, the extension's owner (or a member of it) acts for every
 * tenant; any other role for the tenants bound to it or to a role whose
 * privileges it has, in helpdesk.tenant_grant (tenant_id 0: every tenant).
 * The answer is cached per backend and per role (pgbouncer hands one backend
 * to many clients of one user, who may SET ROLE), and dropped on a relcache
 * invalidation of tenant_grant (a statement trigger on it sends one, so
 * grant_tenant, revoke_tenant and direct DML all count) and on any change
 * of pg_authid or pg_auth_members.
 */
#include "postgres.h"

#include "hd.h"
#include "security.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "commands/trigger.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

/* tenant_grant's columns, as 30_access.sql creates them */
#define GRANT_ATT_TENANT	1
#define GRANT_ATT_ROLE		2

#define ACCESS_CACHE_ROLES	8

typedef struct AccessEntry
{
	Oid			role;			/* InvalidOid: a free slot */
	bool		all;			/* acts for every tenant */
	int			ntenants;
	int64	   *tenants;		/* sorted, in TopMemoryContext */
} AccessEntry;

static AccessEntry cache[ACCESS_CACHE_ROLES];
static int	next_victim;
static uint64 generation;		/* bumped by every invalidation */
static Oid	grant_relid;		/* tenant_grant, as last read */
static bool callbacks_registered;

static void
forget_all(void)
{
	int			i;

	for (i = 0; i < ACCESS_CACHE_ROLES; i++)
	{
		if (cache[i].tenants != NULL)
			pfree(cache[i].tenants);
		cache[i].tenants = NULL;
		cache[i].role = InvalidOid;
	}
	generation++;
}

/* A relcache invalidation of tenant_grant (or of everything). */
static void
access_relcache_cb(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == grant_relid)
		forget_all();
}

static void
access_syscache_cb(Datum arg, int cacheid, uint32 hashvalue)
{
	forget_all();
}

static void
register_callbacks(void)
{
	if (callbacks_registered)
		return;
	CacheRegisterRelcacheCallback(access_relcache_cb, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHOID, access_syscache_cb, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, access_syscache_cb, (Datum) 0);
	callbacks_registered = true;
}

static int
cmp_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

/*
 * Read role's tenants from tenant_grant. table_open() takes a lock, which
 * first processes pending invalidations; the scan then uses a snapshot
 * taken after that, so a grant whose invalidation we have seen is visible
 * (commits become visible before their invalidations are sent). If another
 * invalidation arrives meanwhile, the entry is used once and not kept.
 */
static AccessEntry *
fill(Oid role)
{
	AccessEntry *e;
	Oid			nsp = get_namespace_oid("helpdesk", true);
	Oid			relid = OidIsValid(nsp) ? get_relname_relid("tenant_grant", nsp) : InvalidOid;
	Relation	rel;
	SysScanDesc scan;
	Snapshot	snap;
	HeapTuple	tup;
	uint64		gen_before;
	int			cap = 8;
	bool		all = superuser_arg(role);
	int64	   *tenants = NULL;
	int			n = 0;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation helpdesk.tenant_grant does not exist"),
				 errhint("Run CREATE EXTENSION pg_helpdesk (or ALTER EXTENSION pg_helpdesk UPDATE) in this database.")));
	grant_relid = relid;
	rel = table_open(relid, AccessShareLock);
	gen_before = generation;
	if (!all && has_privs_of_role(role, rel->rd_rel->relowner))
		all = true;
	if (!all)
	{
		tenants = MemoryContextAlloc(TopMemoryContext, cap * sizeof(int64));
		snap = RegisterSnapshot(GetLatestSnapshot());
		scan = systable_beginscan(rel, InvalidOid, false, snap, 0, NULL);
		while (!all && HeapTupleIsValid(tup = systable_getnext(scan)))
		{
			bool		isnull;
			int64		t = DatumGetInt64(heap_getattr(tup, GRANT_ATT_TENANT,
													   RelationGetDescr(rel), &isnull));
			Oid			r = DatumGetObjectId(heap_getattr(tup, GRANT_ATT_ROLE,
														  RelationGetDescr(rel), &isnull));

			if (isnull || !has_privs_of_role(role, r))
				continue;
			if (t == 0)
				all = true;
			else
			{
				if (n == cap)
				{
					cap *= 2;
					tenants = repalloc(tenants, cap * sizeof(int64));
				}
				tenants[n++] = t;
			}
		}
		systable_endscan(scan);
		UnregisterSnapshot(snap);
	}
	table_close(rel, AccessShareLock);
	if (n > 1)
		qsort(tenants, n, sizeof(int64), cmp_int64);

	e = &cache[next_victim];
	next_victim = (next_victim + 1) % ACCESS_CACHE_ROLES;
	if (e->tenants != NULL)
		pfree(e->tenants);
	e->role = role;
	e->all = all;
	e->ntenants = n;
	e->tenants = tenants;
	if (generation != gen_before)
	{
		/* answer this call from what we read, keep nothing */
		static AccessEntry once;

		if (once.tenants != NULL)
			pfree(once.tenants);
		once = *e;
		once.role = InvalidOid;
		e->role = InvalidOid;
		e->tenants = NULL;
		return &once;
	}
	return e;
}

static AccessEntry *
lookup(Oid role)
{
	int			i;

	register_callbacks();
	for (i = 0; i < ACCESS_CACHE_ROLES; i++)
		if (cache[i].role == role)
			return &cache[i];
	return fill(role);
}

static bool
entry_allows(AccessEntry *e, int64 tenant_id)
{
	if (e->all)
		return true;
	return e->ntenants > 0 &&
		bsearch(&tenant_id, e->tenants, e->ntenants, sizeof(int64), cmp_int64) != NULL;
}

/* May role act for tenant_id? (0: for every tenant) */
bool
hd_role_may_act_for(Oid role, int64 tenant_id)
{
	AccessEntry *e = lookup(role);

	return tenant_id == 0 ? e->all : entry_allows(e, tenant_id);
}

static const char *
role_name(Oid role)
{
	char	   *name = GetUserNameFromId(role, true);

	return name != NULL ? quote_identifier(name) : psprintf("%u", role);
}

/* 42501 unless the calling role may act for tenant_id (0: for every tenant). */
void
hd_check_tenant_role(int64 tenant_id)
{
	Oid			role = GetOuterUserId();

	if (hd_role_may_act_for(role, tenant_id))
		return;
	if (tenant_id == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role %s may not act for every tenant", role_name(role)),
				 errhint("A call without a tenant needs a superuser, the extension's owner or a role bound with helpdesk.grant_tenant(role, NULL).")));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("role %s may not act for tenant %lld",
					role_name(role), (long long) tenant_id),
			 errhint("Bind it with helpdesk.grant_tenant(role, tenant_id).")));
}

/*
 * The check of every call with a tenant (hd_tenant_access_hook): the role,
 * then whether the tenant is moving to another node (tenant_fence.c).
 */
void
hd_check_tenant_access(int64 tenant_id)
{
	hd_check_tenant_role(tenant_id);
	hd_check_tenant_fence(tenant_id);
}

void
hd_access_init(void)
{
	hd_tenant_access_hook = hd_check_tenant_access;
	hd_define_audit_settings();
}

/*
 * may_read_tenant(tenant_id): the row level security predicate. It asks
 * for the current user (the querying role, or a non-owner's SECURITY
 * DEFINER function's owner), as RLS does.
 */
PG_FUNCTION_INFO_V1(hd_may_read_tenant);
Datum
hd_may_read_tenant(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(hd_role_may_act_for(GetUserId(), PG_GETARG_INT64(0)));
}

/* acts_for_all_tenants(): the predicate of the tables without a tenant. */
PG_FUNCTION_INFO_V1(hd_acts_for_all_tenants);
Datum
hd_acts_for_all_tenants(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(hd_role_may_act_for(GetUserId(), 0));
}

/*
 * The statement trigger on tenant_grant and tenant_fence: a relcache
 * invalidation of the table at commit, which every backend's cache above
 * listens for; for tenant_fence also the shared fence generation, bumped
 * before the commit's wakes (tenant_fence.c).
 */
PG_FUNCTION_INFO_V1(hd_tenant_grant_changed);
Datum
hd_tenant_grant_changed(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("_tenant_grant_changed() is a trigger function")));
	CacheInvalidateRelcache(td->tg_relation);
	if (strcmp(RelationGetRelationName(td->tg_relation), "tenant_fence") == 0)
		hd_fence_changed_at_commit();	/* core/wake.c: before the wakes */
	return PointerGetDatum(NULL);
}
