/*
 * app_cache.c — the apps verify_signed_request looks up, cached per
 * backend: the lookup by app id was one SPI statement of the two every
 * verification ran. Any change to helpdesk.api_app (a new secret, a
 * revocation, a delete) runs the statement trigger api_app_changed, which
 * queues a relcache invalidation of api_app; every backend applies it at
 * its next transaction start (the writer's own at once) and empties its
 * cache in the callback. So a revoked app or a replaced secret is never
 * used after the change committed, exactly as with the lookup.
 */
#include "security.h"

#include "catalog/namespace.h"
#include "commands/trigger.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#define APP_CACHE_SIZE 64

typedef struct AppEntry
{
	char		app[65];
	int64		tenant_id;
	bytea	   *sealed;			/* CacheMemoryContext */
} AppEntry;

static AppEntry cache[APP_CACHE_SIZE];
static int	ncache;
static int	next_slot;
static bool registered;
static Oid	api_app_oid = InvalidOid;

static HdPlan find_app = {
	"SELECT tenant_id, secret_sealed FROM helpdesk.api_app "
	"WHERE app_id = $1 AND revoked_at IS NULL",
	1, {TEXTOID}
};

static void
cache_clear(void)
{
	for (int i = 0; i < ncache; i++)
		if (cache[i].sealed)
			pfree(cache[i].sealed);
	memset(cache, 0, sizeof(cache));
	ncache = 0;
	next_slot = 0;
}

/* relcache callback: InvalidOid means "everything" (e.g. after a reset) */
static void
app_inval(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == api_app_oid || api_app_oid == InvalidOid)
		cache_clear();
}

/*
 * The tenant and sealed secret of a usable app; false when the app is
 * unknown or revoked. Needs SPI connected. *sealed stays valid until the
 * next invalidation, which cannot come within the caller's statement.
 */
bool
hd_app_lookup(const char *app, int64 *tenant_id, bytea **sealed)
{
	Datum		v[1];
	bool		isnull;
	AppEntry   *e;
	bytea	   *b;
	MemoryContext old;

	if (!registered)
	{
		CacheRegisterRelcacheCallback(app_inval, (Datum) 0);
		registered = true;
	}
	if (api_app_oid == InvalidOid)
	{
		api_app_oid = get_relname_relid("api_app", get_namespace_oid("helpdesk", false));
		cache_clear();
	}
	for (int i = 0; i < ncache; i++)
		if (strcmp(cache[i].app, app) == 0)
		{
			*tenant_id = cache[i].tenant_id;
			*sealed = cache[i].sealed;
			return true;
		}
	v[0] = CStringGetTextDatum(app);
	hd_exec(&find_app, v, NULL, false, 1);
	if (SPI_processed == 0)
		return false;
	hd_get_int64(1, tenant_id);
	b = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	e = &cache[next_slot];
	next_slot = (next_slot + 1) % APP_CACHE_SIZE;
	if (ncache < APP_CACHE_SIZE)
		ncache++;
	else if (e->sealed)
		pfree(e->sealed);
	old = MemoryContextSwitchTo(CacheMemoryContext);
	e->sealed = palloc(VARSIZE_ANY(b));
	memcpy(e->sealed, b, VARSIZE_ANY(b));
	MemoryContextSwitchTo(old);
	strlcpy(e->app, app, sizeof(e->app));
	e->tenant_id = *tenant_id;
	*sealed = e->sealed;
	return true;
}

PG_FUNCTION_INFO_V1(hd_api_app_changed);

/* statement trigger on helpdesk.api_app: every backend forgets its cached apps */
Datum
hd_api_app_changed(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "api_app_changed must be called as a trigger");
	CacheInvalidateRelcacheByRelid(RelationGetRelid(td->tg_relation));
	return PointerGetDatum(NULL);
}
