/*
 * worker_ddl.c — what DDL means for the per-database workers.
 *
 * DROP EXTENSION pg_helpdesk wakes this database's workers at COMMIT so they
 * notice at once and exit quietly.
 *
 * Our workers must not block DROP DATABASE, ALTER DATABASE RENAME/SET
 * TABLESPACE and CREATE DATABASE ... TEMPLATE.
 * Those commands refuse to run while other sessions are connected to the
 * database, and background workers are not asked to leave the way autovacuum
 * is. Before such a command runs, we mark the database paused (the launcher
 * leaves it alone for a while), ask its workers to exit and wait briefly.
 */
#include "shmem.h"

#include <signal.h>

#include "commands/dbcommands.h"
#include "utils/acl.h"
#include "commands/defrem.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"

#define PAUSE_MS 15000
#define WAIT_MS 3000

static ProcessUtility_hook_type prev_utility_hook = NULL;

static void
pause_database(const char *dbname)
{
	Oid			dboid;
	HdDbSlot   *slot;
	pid_t		pids[HD_NUM_WORKER_KINDS];
	int			k,
				waited;

	if (dbname == NULL || hd_shared == NULL)
		return;
	dboid = get_database_oid(dbname, true);
	if (!OidIsValid(dboid) || dboid == MyDatabaseId)
		return;
	/* only someone who may run the command gets to stop the workers */
	if (!pg_database_ownercheck(dboid, GetUserId()))
		return;
	slot = hd_find_db_slot(dboid);
	if (slot == NULL)
		return;

	LWLockAcquire(hd_shared->lock, LW_EXCLUSIVE);
	if (slot->dboid != dboid)
	{
		LWLockRelease(hd_shared->lock);
		return;
	}
	slot->state = HD_DB_PAUSED;
	slot->paused_until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), PAUSE_MS);
	for (k = 0; k < HD_NUM_WORKER_KINDS; k++)
		pids[k] = slot->workers[k].pid;
	LWLockRelease(hd_shared->lock);

	for (k = 0; k < HD_NUM_WORKER_KINDS; k++)
		if (pids[k] != 0)
			kill(pids[k], SIGTERM);
	for (waited = 0; waited < WAIT_MS; waited += 10)
	{
		bool		any = false;

		for (k = 0; k < HD_NUM_WORKER_KINDS; k++)
			any |= (slot->workers[k].pid != 0);
		if (!any)
			break;
		CHECK_FOR_INTERRUPTS();
		pg_usleep(10000L);
	}
}

static const char *
template_of(List *options)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *opt = lfirst_node(DefElem, lc);

		if (strcmp(opt->defname, "template") == 0 && opt->arg != NULL)
			return defGetString(opt);
	}
	return NULL;
}

static bool
has_option(List *options, const char *name)
{
	ListCell   *lc;

	foreach(lc, options)
		if (strcmp(lfirst_node(DefElem, lc)->defname, name) == 0)
			return true;
	return false;
}

static bool
drops_our_extension(DropStmt *stmt)
{
	ListCell   *lc;

	if (stmt->removeType != OBJECT_EXTENSION)
		return false;
	foreach(lc, stmt->objects)
		if (strcmp(strVal(lfirst(lc)), "pg_helpdesk") == 0)
			return true;
	return false;
}

static void
hd_utility_hook(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
				ProcessUtilityContext context, ParamListInfo params,
				QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *node = pstmt->utilityStmt;

	if (IsA(node, DropdbStmt))
		pause_database(((DropdbStmt *) node)->dbname);
	else if (IsA(node, RenameStmt) && ((RenameStmt *) node)->renameType == OBJECT_DATABASE)
		pause_database(((RenameStmt *) node)->subname);
	else if (IsA(node, CreatedbStmt))
		pause_database(template_of(((CreatedbStmt *) node)->options));
	else if (IsA(node, AlterDatabaseStmt) &&
			 has_option(((AlterDatabaseStmt *) node)->options, "tablespace"))
		pause_database(((AlterDatabaseStmt *) node)->dbname);
	else if (IsA(node, DropStmt) && drops_our_extension((DropStmt *) node))
		hd_wake_at_commit(HD_WORKER_PUBLISHER);

	if (prev_utility_hook)
		prev_utility_hook(pstmt, queryString, readOnlyTree, context, params,
						  queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);
}

void
hd_install_utility_hook(void)
{
	prev_utility_hook = ProcessUtility_hook;
	ProcessUtility_hook = hd_utility_hook;
}
