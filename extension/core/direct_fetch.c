/*
 * direct_fetch.c — one row by key through a btree index, optionally with
 * the row lock SELECT ... FOR KEY SHARE / FOR UPDATE takes, without the
 * executor (see direct_insert.c for why).
 */
#include "direct.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/xact.h"
#include "catalog/pg_am_d.h"
#include "parser/parse_relation.h"
#include "utils/fmgroids.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"

/*
 * The direct reads follow READ COMMITTED rules only. Under REPEATABLE READ
 * and SERIALIZABLE a concurrently updated row must raise a serialization
 * failure and reads must take predicate locks; SPI does both.
 */
bool
hd_direct_reads_ok(void)
{
	return !IsolationUsesXactSnapshot();
}

/*
 * Would row level security filter what the current user reads or writes in
 * rel? Our SECURITY DEFINER functions run as the tables' owner, which an
 * unforced policy does not bind (RLS_NONE_ENV: the owner, or row_security
 * off, where SQL itself would refuse a non-owner: that one goes through SQL
 * too). Then the direct paths may skip the policies, as SQL would.
 */
bool
hd_rls_applies(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);

	switch (check_enable_rls(relid, InvalidOid, true))
	{
		case RLS_NONE:
			return false;
		case RLS_NONE_ENV:
			return !pg_class_ownercheck(relid, GetUserId());
		default:
			return true;
	}
}

/* Is idx a plain btree index whose key columns are exactly cols? */
static bool
index_is_on(Relation rel, Relation idx, int ncols, const char *const *cols)
{
	int			i;

	if (idx->rd_rel->relam != BTREE_AM_OID || idx->rd_index->indnkeyatts != ncols ||
		!idx->rd_index->indisvalid ||
		!heap_attisnull(idx->rd_indextuple, Anum_pg_index_indexprs, NULL) ||
		!heap_attisnull(idx->rd_indextuple, Anum_pg_index_indpred, NULL))
		return false;
	for (i = 0; i < ncols; i++)
		if (idx->rd_index->indkey.values[i] != attnameAttNum(rel, cols[i], false))
			return false;
	return true;
}

/*
 * Lock the row in slot as a locking SELECT in READ COMMITTED does: wait for
 * a concurrent writer, then lock the newest version (stored into slot).
 * False when the row was deleted meanwhile.
 */
static bool
lock_row(Relation rel, Snapshot snap, LockTupleMode mode, TupleTableSlot *slot)
{
	ItemPointerData tid = slot->tts_tid;
	TM_FailureData tmfd;
	TM_Result	r;

	r = table_tuple_lock(rel, &tid, snap, slot, GetCurrentCommandId(true), mode,
						 LockWaitBlock, TUPLE_LOCK_FLAG_FIND_LAST_VERSION, &tmfd);
	switch (r)
	{
		case TM_Ok:
			return true;
		case TM_SelfModified:	/* changed by this very command: skipped, as SQL does */
		case TM_Deleted:
			return false;
		default:
			elog(ERROR, "pg_helpdesk: unexpected result %d locking a row of %s",
				 (int) r, RelationGetRelationName(rel));
	}
	return false;				/* keep compiler quiet */
}

/*
 * Find the row of rel whose columns cols (int8 or text) equal keys, through
 * index indexoid, as a statement of a VOLATILE function would see it (the
 * command counter is advanced first, so this transaction's earlier writes
 * are visible). With lock, the row is locked too; the keys are checked
 * again on the version that got locked.
 */
HdFetch
hd_fetch_by_key(Relation rel, Oid indexoid, int nkeys, const char *const *cols,
				const Datum *keys, const LockTupleMode *lock, TupleTableSlot *slot)
{
	ScanKeyData sk[INDEX_MAX_KEYS];
	Relation	idx;
	IndexScanDesc scan;
	Snapshot	snap;
	bool		found;
	int			i;

	Assert(nkeys <= INDEX_MAX_KEYS);
	if (!OidIsValid(indexoid))
		return HD_FETCH_UNUSABLE;
	idx = index_open(indexoid, AccessShareLock);
	if (!index_is_on(rel, idx, nkeys, cols))
	{
		index_close(idx, AccessShareLock);
		return HD_FETCH_UNUSABLE;
	}
	for (i = 0; i < nkeys; i++)
	{
		Oid			type = TupleDescAttr(RelationGetDescr(idx), i)->atttypid;

		if (type != INT8OID && type != TEXTOID)
		{
			index_close(idx, AccessShareLock);
			return HD_FETCH_UNUSABLE;
		}
		ScanKeyEntryInitialize(&sk[i], 0, i + 1, BTEqualStrategyNumber, InvalidOid,
							   idx->rd_indcollation[i],
							   type == INT8OID ? F_INT8EQ : F_TEXTEQ, keys[i]);
	}

	CommandCounterIncrement();
	snap = RegisterSnapshot(GetTransactionSnapshot());
	scan = index_beginscan(rel, idx, snap, nkeys, 0);
	index_rescan(scan, sk, nkeys, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	index_endscan(scan);
	index_close(idx, AccessShareLock);

	if (found && lock != NULL && lock_row(rel, snap, *lock, slot))
	{
		/* a newer version must still carry the keys */
		for (i = 0; i < nkeys && found; i++)
		{
			bool		isnull;
			Datum		d = slot_getattr(slot, attnameAttNum(rel, cols[i], false), &isnull);

			found = !isnull &&
				DatumGetBool(FunctionCall2Coll(&sk[i].sk_func, sk[i].sk_collation, d, keys[i]));
		}
	}
	else if (found && lock != NULL)
		found = false;
	UnregisterSnapshot(snap);
	return found ? HD_FETCH_FOUND : HD_FETCH_NONE;
}
