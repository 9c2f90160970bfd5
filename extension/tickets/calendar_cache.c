/*
 * calendar_cache.c — each backend keeps the calendars it used compiled in
 * memory, so business_time_add costs a hash lookup and the walk, not a
 * query and a JSON parse.
 *
 * Invalidation: a counter in shared memory is bumped when a transaction that
 * changed a calendar ends (commit or abort). A backend that sees another
 * value than the one its cache was built under drops the whole cache. The
 * counter is read before a calendar is loaded, and the load reads with a
 * snapshot taken after that, so a cache entry is never older than the
 * counter value it is filed under. The changing backend drops its own cache
 * at once (it must see its uncommitted version) and again on a
 * subtransaction abort.
 */
#include "calendar.h"

#include "miscadmin.h"
#include "access/xact.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

typedef struct CalKey
{
	int64		tenant_id;
	int64		id;
} CalKey;

typedef struct CalEntry
{
	CalKey		key;
	HdCalendar	cal;
} CalEntry;

static pg_atomic_uint64 *calendar_gen = NULL;
static shmem_request_hook_type prev_request_hook = NULL;
static shmem_startup_hook_type prev_startup_hook = NULL;

static MemoryContext cache_cxt = NULL;
static HTAB *cache = NULL;
static uint64 cache_gen = 0;
static bool xact_dirty = false;
static bool callback_registered = false;

static void
calendar_shmem_request(void)
{
	if (prev_request_hook)
		prev_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(pg_atomic_uint64)));
}

static void
calendar_shmem_startup(void)
{
	bool		found;

	if (prev_startup_hook)
		prev_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	calendar_gen = ShmemInitStruct("pg_helpdesk calendar generation",
								   sizeof(pg_atomic_uint64), &found);
	if (!found)
		pg_atomic_init_u64(calendar_gen, 1);
	LWLockRelease(AddinShmemInitLock);
}

/* From _PG_init: the shared counter. */
void
hd_calendar_shmem_init(void)
{
	prev_request_hook = shmem_request_hook;
	shmem_request_hook = calendar_shmem_request;
	prev_startup_hook = shmem_startup_hook;
	shmem_startup_hook = calendar_shmem_startup;
}

static void
drop_cache(void)
{
	if (cache_cxt != NULL)
		MemoryContextReset(cache_cxt);
	cache = NULL;
}

static void
calendar_xact_callback(XactEvent event, void *arg)
{
	if (!xact_dirty)
		return;
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT)
	{
		xact_dirty = false;
		if (calendar_gen)
			pg_atomic_fetch_add_u64(calendar_gen, 1);
		drop_cache();
	}
}

static void
calendar_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	if (xact_dirty && event == SUBXACT_EVENT_ABORT_SUB)
		drop_cache();
}

/*
 * Called by every write to helpdesk.calendar: this backend forgets its
 * compiled calendars now, every backend when the transaction ends.
 */
void
hd_calendar_changed(void)
{
	if (!callback_registered)
	{
		RegisterXactCallback(calendar_xact_callback, NULL);
		RegisterSubXactCallback(calendar_subxact_callback, NULL);
		callback_registered = true;
	}
	xact_dirty = true;
	drop_cache();
}

static HdPlan load_plan = {
	"SELECT time_zone, hours, holidays FROM helpdesk.calendar WHERE tenant_id = $1 AND id = $2",
	2, {INT8OID, INT8OID}
};

/* Read and compile one calendar (inside SPI); false when there is none. */
static bool
load_calendar(int64 tenant_id, int64 id, HdCalendar *cal)
{
	Datum		v[2] = {Int64GetDatum(tenant_id), Int64GetDatum(id)};
	int			rc;
	bool		isnull;
	char	   *zone;
	Jsonb	   *hours,
			   *holidays;
	MemoryContext old;

	rc = SPI_execute_snapshot(hd_plan(&load_plan), v, NULL, GetLatestSnapshot(),
							  InvalidSnapshot, true, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "pg_helpdesk: calendar lookup failed (%s)", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		return false;
	zone = hd_get_text(1);
	hours = DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	holidays = DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	memset(cal, 0, sizeof(HdCalendar));
	cal->tenant_id = tenant_id;
	cal->id = id;
	cal->tz = hd_calendar_zone(zone);
	hd_calendar_parse_hours(hours, cal);
	old = MemoryContextSwitchTo(cache_cxt);
	hd_calendar_parse_holidays(holidays, cal, cache_cxt);
	MemoryContextSwitchTo(old);
	return true;
}

/*
 * The compiled calendar (tenant_id, calendar_id), or HD404. Call inside SPI.
 * The pointer is valid until the next call (a reload may free it).
 */
const HdCalendar *
hd_calendar_get(int64 tenant_id, int64 calendar_id)
{
	uint64		gen = calendar_gen ? pg_atomic_read_u64(calendar_gen) : 0;
	CalKey		key;
	CalEntry   *e;
	bool		found;
	HdCalendar	cal;

	if (cache_cxt == NULL)
		cache_cxt = AllocSetContextCreate(CacheMemoryContext, "pg_helpdesk calendars",
										  ALLOCSET_SMALL_SIZES);
	if (gen != cache_gen || xact_dirty)
	{
		drop_cache();
		cache_gen = gen;
	}
	if (cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(CalKey);
		ctl.entrysize = sizeof(CalEntry);
		ctl.hcxt = cache_cxt;
		cache = hash_create("pg_helpdesk calendars", 16, &ctl,
							HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	memset(&key, 0, sizeof(key));
	key.tenant_id = tenant_id;
	key.id = calendar_id;
	e = hash_search(cache, &key, HASH_FIND, NULL);
	if (e != NULL)
		return &e->cal;
	if (!load_calendar(tenant_id, calendar_id, &cal))
		hd_not_found("calendar", calendar_id, tenant_id);
	/* uncommitted versions are compiled each time, never kept */
	if (xact_dirty)
	{
		HdCalendar *copy = MemoryContextAlloc(cache_cxt, sizeof(HdCalendar));

		*copy = cal;
		return copy;
	}
	e = hash_search(cache, &key, HASH_ENTER, &found);
	e->cal = cal;
	return &e->cal;
}
