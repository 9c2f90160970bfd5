/*
 * plan_refresh.c — keep cached plans in step with table growth.
 *
 * Every long-lived process of ours (the workers, pooled application
 * connections) runs the same statements for hours from saved plans, and so
 * does PostgreSQL's foreign-key machinery. A cached plan is only rebuilt when
 * its tables' relcache entries are invalidated, which normally happens when
 * autovacuum analyzes them. A plan built while a table was empty (a fresh
 * install, the first minute of the day's traffic, a table emptied by an
 * operator) therefore keeps scanning the whole table until autovacuum gets to
 * it, and the foreign-key checks of every insert into message, event and
 * session_assignment turn into sequential scans of session: measured, a
 * dispatcher pass went from under 1 ms to 17 ms within ten seconds of traffic.
 *
 * The planner itself reads a table's current size at planning time, so all a
 * stale plan needs is to be rebuilt. The publisher (every write appends an
 * event, so it runs whenever anything changes) calls
 * hd_refresh_stale_plans() about once a second: it compares each helpdesk
 * table's current number of blocks with the number it had when we last
 * invalidated it, and when the table has doubled (or halved) it sends a
 * relcache invalidation for it. Every backend then replans the statements
 * that touch it on their next use. A table that grows steadily is
 * invalidated O(log size) times in all; reading the sizes is one lseek per
 * table, cached by smgr.
 *
 * A rebuilt plan is only as good as the statistics: without any, every
 * equality on tenant_id is guessed at 0.5% of the rows, and a generic plan
 * for "tenant_id = $1 AND id = $2" on a table of a few hundred rows weighs
 * the primary key the same as any index starting with tenant_id (measured:
 * the dispatcher's timers looked sessions up through the queue's waiting
 * index and agents through their external-id index, scanning every waiting
 * session or agent of the tenant per timer; routing_stress timers went a
 * second late). So a table that doubled while still small is analyzed
 * rather than only invalidated (ANALYZE invalidates it too); large tables
 * are left to autovacuum's analyze, which keeps up with them.
 */
#include "hd.h"
#include "worker.h"

#include "access/heapam.h"
#include "access/xact.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_class.h"
#include "catalog/namespace.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#define MAX_TRACKED 64
/* ignore growth until a table has this many blocks more than when last seen */
#define MIN_GROWTH_BLOCKS 8
/* analyze a table that doubled up to this size (128 MB: tens of milliseconds) */
#define MAX_ANALYZE_BLOCKS 16384

typedef struct Tracked
{
	Oid			relid;
	BlockNumber blocks;			/* size at the last invalidation (or start) */
} Tracked;

static Tracked tracked[MAX_TRACKED];
static int	ntracked = -1;		/* -1: list not built yet */
static Oid	tracked_nsp = InvalidOid;

/* The ordinary tables of schema helpdesk, with their sizes as of now. */
static void
build_list(Oid nsp)
{
	Relation	pg_class_rel = table_open(RelationRelationId, AccessShareLock);
	TableScanDesc scan = table_beginscan_catalog(pg_class_rel, 0, NULL);
	HeapTuple	tup;

	ntracked = 0;
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL &&
		   ntracked < MAX_TRACKED)
	{
		Form_pg_class c = (Form_pg_class) GETSTRUCT(tup);

		if (c->relnamespace != nsp || c->relkind != RELKIND_RELATION)
			continue;
		tracked[ntracked].relid = c->oid;
		tracked[ntracked].blocks = InvalidBlockNumber;
		ntracked++;
	}
	table_endscan(scan);
	table_close(pg_class_rel, AccessShareLock);
	tracked_nsp = nsp;
}

/*
 * ANALYZE one table in a subtransaction of the caller's (SPI connected), so
 * a failure (the table dropped meanwhile, a lock we must not wait for)
 * costs only the statistics: false, and the caller invalidates instead.
 * ANALYZE waits for no writer: it takes SHARE UPDATE EXCLUSIVE, which only
 * VACUUM, DDL and another ANALYZE hold; a lock_timeout keeps an autovacuum
 * of the same table from holding us up.
 */
static bool
analyze_table(Oid relid)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	char	   *name = get_rel_name(relid);
	volatile bool ok = true;

	if (name == NULL)
		return false;
	BeginInternalSubTransaction(NULL);
	PG_TRY();
	{
		int			save_nestlevel = NewGUCNestLevel();

		(void) set_config_option("lock_timeout", "50", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
		/*
		 * A tenth of the default sample (3,000 rows): enough for the plans
		 * of a table that only just grew (tenant_id's distinct values), and
		 * a tenth of the time the publisher spends away from publishing;
		 * autovacuum's analyze refines it as the table grows.
		 */
		(void) set_config_option("default_statistics_target", "10", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
		if (SPI_execute(psprintf("ANALYZE helpdesk.%s", quote_identifier(name)), false, 0) < 0)
			elog(ERROR, "ANALYZE failed");
		AtEOXact_GUC(true, save_nestlevel);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcxt);
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcxt);
	CurrentResourceOwner = oldowner;
	return ok;
}

/*
 * Call inside a transaction with SPI connected. Returns how many tables
 * were analyzed or invalidated. The
 * first call only records sizes: plans made before it are as old as the
 * process, and the next doubling catches them.
 */
int
hd_refresh_stale_plans(void)
{
	Oid			nsp = get_namespace_oid("helpdesk", true);
	int			i,
				n = 0;

	if (!OidIsValid(nsp))
		return 0;
	if (ntracked < 0 || nsp != tracked_nsp)
		build_list(nsp);
	for (i = 0; i < ntracked; i++)
	{
		Tracked    *t = &tracked[i];
		Relation	rel;
		BlockNumber cur;

		/* never wait: a TRUNCATE or ALTER in progress must not hold up publishing */
		if (!ConditionalLockRelationOid(t->relid, AccessShareLock))
			continue;
		rel = try_relation_open(t->relid, NoLock);
		if (rel == NULL)
		{
			UnlockRelationOid(t->relid, AccessShareLock);
			ntracked = -1;		/* a table went away: rebuild next time */
			continue;
		}
		cur = RelationGetNumberOfBlocks(rel);
		relation_close(rel, AccessShareLock);
		if (t->blocks == InvalidBlockNumber)
		{
			t->blocks = cur;
			continue;
		}
		if (cur >= 2 * t->blocks + MIN_GROWTH_BLOCKS ||
			2 * cur + MIN_GROWTH_BLOCKS <= t->blocks)
		{
			if (cur > MAX_ANALYZE_BLOCKS || !analyze_table(t->relid))
				CacheInvalidateRelcacheByRelid(t->relid);
			t->blocks = cur;
			n++;
		}
	}
	return n;
}
