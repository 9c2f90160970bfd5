/*
 * direct_insert.c — inserting a row of one of our tables by hand: heap
 * insert, NOT NULL and CHECK constraints, index entries.
 *
 * Why: a chat message is one INSERT of the message and one of its event.
 * Through SPI each costs a plan revalidation, an executor start, a parse of
 * every CHECK constraint (PostgreSQL re-reads them from their stored text
 * for each statement) and a foreign-key query whose row lock the caller
 * already holds. Together that was a third of post_message. The logical
 * replication apply worker inserts the same way (heap, constraints,
 * indexes); here the compiled CHECK expressions are kept across calls.
 */
#include "direct.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_am_d.h"
#include "catalog/pg_trigger_d.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "utils/acl.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/relcache.h"
#include "utils/timestamp.h"

#define MAX_DIRECT_TABLES 8

static HdDirectTable *tables[MAX_DIRECT_TABLES];
static int	ntables;
static bool callback_registered;

/* Any change to a table's definition (or a full reset) means: look again. */
static void
direct_relcache_callback(Datum arg, Oid relid)
{
	int			i;

	for (i = 0; i < ntables; i++)
		if (relid == InvalidOid || tables[i]->relid == relid)
			tables[i]->valid = false;
}

Oid
hd_relation_oid(const char *relname)
{
	Oid			nsp = get_namespace_oid("helpdesk", true);
	Oid			relid = OidIsValid(nsp) ? get_relname_relid(relname, nsp) : InvalidOid;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation helpdesk.%s does not exist", relname),
				 errhint("Run CREATE EXTENSION pg_helpdesk in this database.")));
	return relid;
}

static int
column_index(HdDirectTable *t, const char *name)
{
	int			i;

	for (i = 0; i < t->ncols; i++)
		if (strcmp(t->cols[i].name, name) == 0)
			return i;
	return -1;
}

/* Is the foreign key fk the one (v->cols) -> v->table's primary key? */
static bool
is_vouched_fk(HdDirectTable *t, const HdDirectFk *v, ForeignKeyCacheInfo *fk, Oid fk_relid)
{
	Relation	ref;
	Oid			pk;
	Relation	pkidx;
	bool		same;
	int			i;

	if (fk->confrelid != fk_relid || fk->nkeys != 2)
		return false;
	for (i = 0; i < 2; i++)
		if (fk->conkey[i] != t->attnum[column_index(t, v->cols[i])])
			return false;
	ref = table_open(fk_relid, AccessShareLock);
	pk = RelationGetPrimaryKeyIndex(ref);
	same = OidIsValid(pk);
	if (same)
	{
		pkidx = index_open(pk, AccessShareLock);
		same = pkidx->rd_index->indnkeyatts == 2 &&
			pkidx->rd_index->indkey.values[0] == fk->confkey[0] &&
			pkidx->rd_index->indkey.values[1] == fk->confkey[1];
		index_close(pkidx, AccessShareLock);
	}
	table_close(ref, AccessShareLock);
	return same;
}

/* Reason an index cannot be filled by hand, or NULL. */
static const char *
index_problem(Oid indexoid)
{
	Relation	idx = index_open(indexoid, AccessShareLock);
	const char *why = NULL;

	if (idx->rd_rel->relam != BTREE_AM_OID)
		why = "it has a non-btree index";
	else if (!heap_attisnull(idx->rd_indextuple, Anum_pg_index_indexprs, NULL))
		why = "it has an index on an expression";
	else if (idx->rd_index->indisexclusion || !idx->rd_index->indimmediate)
		why = "it has an exclusion constraint or a deferrable unique constraint";
	index_close(idx, AccessShareLock);
	return why;
}

/* Why rel's triggers, columns or rules forbid a hand-made insert, or NULL. */
static const char *
layout_problem(HdDirectTable *t, Relation rel, Oid *vouched_fk)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			found = 0;
	int			i,
				j;
	ListCell   *lc;

	if (rel->rd_rel->relkind != RELKIND_RELATION)
		return "it is not a plain table";
	if (rel->rd_rules != NULL)
		return "it has rules";
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		int			c;

		if (att->attisdropped)
			continue;
		c = column_index(t, NameStr(att->attname));
		if (c < 0 || att->atttypid != t->cols[c].type || att->attgenerated)
			return "it has columns this version does not write";
		if (t->cols[c].fill == HD_FILL_IDENTITY && !att->attidentity)
			return "an identity column is no longer one";
		t->attnum[c] = att->attnum;
		found++;
	}
	if (found != t->ncols)
		return "columns are missing";

	for (j = 0; j < HD_DIRECT_MAX_FKS; j++)
	{
		vouched_fk[j] = InvalidOid;
		if (t->fks[j].table == NULL)
			continue;
		foreach(lc, RelationGetFKeyList(rel))
		{
			ForeignKeyCacheInfo *fk = lfirst_node(ForeignKeyCacheInfo, lc);

			if (is_vouched_fk(t, &t->fks[j], fk, hd_relation_oid(t->fks[j].table)))
				vouched_fk[j] = fk->conoid;
		}
	}
	if (rel->trigdesc != NULL)
	{
		for (i = 0; i < rel->trigdesc->numtriggers; i++)
		{
			Trigger    *tg = &rel->trigdesc->triggers[i];
			bool		vouched = false;

			if (!TRIGGER_FOR_INSERT(tg->tgtype))
				continue;
			for (j = 0; j < HD_DIRECT_MAX_FKS; j++)
				if (tg->tgfoid == F_RI_FKEY_CHECK_INS && OidIsValid(vouched_fk[j]) &&
					tg->tgconstraint == vouched_fk[j])
					vouched = true;
			if (!vouched)
				return "it has INSERT triggers";
		}
	}
	if (list_length(RelationGetIndexList(rel)) > HD_DIRECT_MAX_INDEXES)
		return "it has too many indexes";
	foreach(lc, RelationGetIndexList(rel))
	{
		const char *why = index_problem(lfirst_oid(lc));

		if (why != NULL)
			return why;
	}
	return NULL;
}

/* Compile the predicates of rel's partial indexes into t->cxt (current context). */
static void
compile_predicates(HdDirectTable *t, Relation rel)
{
	ListCell   *lc;

	t->npreds = 0;
	foreach(lc, RelationGetIndexList(rel))
	{
		Relation	idx = index_open(lfirst_oid(lc), AccessShareLock);
		List	   *pred = RelationGetIndexPredicate(idx);

		if (pred != NIL)
		{
			t->pred_index[t->npreds] = RelationGetRelid(idx);
			t->preds[t->npreds++] = ExecInitQual((List *) expression_planner((Expr *) pred), NULL);
		}
		index_close(idx, AccessShareLock);
	}
}

/*
 * Compare the table with what the caller writes and compile its CHECK
 * constraints into t->cxt, which lives until the next rebuild. The
 * relcache callback only clears t->valid, so compiled expressions are
 * never freed while in use.
 */
static void
rebuild(HdDirectTable *t, Relation rel)
{
	TupleConstr *constr = RelationGetDescr(rel)->constr;
	MemoryContext old;
	Oid			vouched[HD_DIRECT_MAX_FKS];
	int			i;

	t->valid = true;			/* an invalidation from here on means look again */
	t->complete = false;		/* and so does an error before the end */
	t->usable = false;
	t->relid = RelationGetRelid(rel);
	if (t->cxt != NULL)
		MemoryContextDelete(t->cxt);
	t->cxt = AllocSetContextCreate(TopMemoryContext, "pg_helpdesk direct insert",
								   ALLOCSET_SMALL_SIZES);
	t->identity_seq = InvalidOid;
	t->nchecks = 0;
	t->checks = NULL;
	t->npreds = 0;
	t->econtext = NULL;
	t->why_not = layout_problem(t, rel, vouched);
	if (t->why_not != NULL)
	{
		elog(DEBUG1, "pg_helpdesk: inserts into helpdesk.%s go through SPI: %s",
			 t->relname, t->why_not);
		t->complete = true;
		return;
	}
	for (i = 0; i < t->ncols; i++)
		if (t->cols[i].fill == HD_FILL_IDENTITY)
			t->identity_seq = getIdentitySequence(t->relid, t->attnum[i], false);

	old = MemoryContextSwitchTo(t->cxt);
	t->econtext = CreateStandaloneExprContext();
	if (constr != NULL && constr->num_check > 0)
	{
		t->nchecks = constr->num_check;
		t->checks = palloc0(sizeof(ExprState *) * t->nchecks);
		for (i = 0; i < t->nchecks; i++)
		{
			/* NOT VALID constraints are enforced for new rows too */
			Expr	   *e = expression_planner((Expr *) stringToNode(constr->check[i].ccbin));

			t->checks[i] = ExecInitExpr(e, NULL);
		}
	}
	compile_predicates(t, rel);
	MemoryContextSwitchTo(old);
	t->usable = true;
	t->complete = true;
}

/*
 * Open table t for a direct insert (RowExclusiveLock, held to the end of
 * the transaction like an INSERT's). Returns NULL when the caller must use
 * SPI instead. The lock keeps the layout from changing until then.
 */
Relation
hd_direct_open(HdDirectTable *t)
{
	Oid			relid = hd_relation_oid(t->relname);
	Relation	rel;
	AclResult	acl;

	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(direct_relcache_callback, (Datum) 0);
		callback_registered = true;
	}
	if (!t->registered)
	{
		if (ntables == MAX_DIRECT_TABLES)
			elog(ERROR, "pg_helpdesk: too many direct tables");
		tables[ntables++] = t;
		t->registered = true;
	}
	rel = table_open(relid, RowExclusiveLock);
	if (!t->valid || !t->complete || t->relid != relid)
		rebuild(t, rel);
	/*
	 * Row level security is decided per call, for the current user: the
	 * extension's own tables have policies (extension/access.sql) that the
	 * owner, which our SECURITY DEFINER functions run as, bypasses; a
	 * forced policy or a caller subject to one goes through SQL.
	 */
	if (!t->usable || hd_rls_applies(rel))
	{
		table_close(rel, NoLock);
		return NULL;
	}
	acl = pg_class_aclcheck(relid, GetUserId(), ACL_INSERT);
	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, OBJECT_TABLE, RelationGetRelationName(rel));
	return rel;
}

/* NOT NULL, then CHECK constraints, as ExecConstraints words them. */
static void
check_row(HdDirectTable *t, Relation rel, TupleTableSlot *slot)
{
	TupleDesc	desc = RelationGetDescr(rel);
	TupleConstr *constr = desc->constr;
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attnotnull && slot->tts_isnull[i])
			ereport(ERROR,
					(errcode(ERRCODE_NOT_NULL_VIOLATION),
					 errmsg("null value in column \"%s\" of relation \"%s\" violates not-null constraint",
							NameStr(att->attname), RelationGetRelationName(rel)),
					 errtablecol(rel, att->attnum)));
	}
	if (t->nchecks == 0)
		return;
	t->econtext->ecxt_scantuple = slot;
	for (i = 0; i < t->nchecks; i++)
	{
		if (t->checks[i] != NULL && !ExecCheck(t->checks[i], t->econtext))
			ereport(ERROR,
					(errcode(ERRCODE_CHECK_VIOLATION),
					 errmsg("new row for relation \"%s\" violates check constraint \"%s\"",
							RelationGetRelationName(rel), constr->check[i].ccname),
					 errtableconstraint(rel, constr->check[i].ccname)));
	}
	ResetExprContext(t->econtext);
}

/* Does the row in slot belong in index indexoid (its predicate, if partial)? */
static bool
row_in_index(HdDirectTable *t, Oid indexoid, TupleTableSlot *slot)
{
	int			i;
	bool		in;

	for (i = 0; i < t->npreds; i++)
		if (t->pred_index[i] == indexoid)
		{
			t->econtext->ecxt_scantuple = slot;
			in = ExecQual(t->preds[i], t->econtext);
			ResetExprContext(t->econtext);
			return in;
		}
	return true;
}

/*
 * Index entries for the row in slot; unique indexes are checked at once.
 * A partial index gets the row when its predicate holds, as in
 * ExecInsertIndexTuples.
 */
static void
insert_index_entries(HdDirectTable *t, Relation rel, TupleTableSlot *slot)
{
	ListCell   *lc;

	foreach(lc, RelationGetIndexList(rel))
	{
		Relation	idx = index_open(lfirst_oid(lc), RowExclusiveLock);
		IndexInfo  *ii = BuildIndexInfo(idx);
		Datum		values[INDEX_MAX_KEYS];
		bool		isnull[INDEX_MAX_KEYS];

		if (ii->ii_ReadyForInserts && row_in_index(t, RelationGetRelid(idx), slot))
		{
			FormIndexDatum(ii, slot, NULL, values, isnull);
			index_insert(idx, values, isnull, &slot->tts_tid, rel,
						 idx->rd_index->indisunique ? UNIQUE_CHECK_YES : UNIQUE_CHECK_NO,
						 false, ii);
		}
		index_close(idx, RowExclusiveLock);
	}
}

/*
 * Insert one row into t (opened by hd_direct_open; closed here, lock
 * kept). values/nulls are in t->cols order; HD_FILL_IDENTITY and
 * HD_FILL_NOW columns are filled here. Returns the identity value, or 0.
 */
int64
hd_direct_insert(HdDirectTable *t, Relation rel, Datum *values, bool *nulls)
{
	TupleDesc	desc = RelationGetDescr(rel);
	TupleTableSlot *slot = MakeSingleTupleTableSlot(desc, &TTSOpsVirtual);
	int64		identity = 0;
	int			i;

	ExecClearTuple(slot);
	for (i = 0; i < desc->natts; i++)
		slot->tts_isnull[i] = true;
	for (i = 0; i < t->ncols; i++)
	{
		int			a = t->attnum[i] - 1;

		slot->tts_isnull[a] = false;
		switch (t->cols[i].fill)
		{
			case HD_FILL_CALLER:
				slot->tts_values[a] = values[i];
				slot->tts_isnull[a] = nulls[i];
				break;
			case HD_FILL_IDENTITY:
				identity = nextval_internal(t->identity_seq, false);
				slot->tts_values[a] = Int64GetDatum(identity);
				break;
			case HD_FILL_NOW:
				slot->tts_values[a] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
				break;
			case HD_FILL_CLOCK:
				slot->tts_values[a] = TimestampTzGetDatum(GetCurrentTimestamp());
				break;
		}
	}
	ExecStoreVirtualTuple(slot);
	check_row(t, rel, slot);
	table_tuple_insert(rel, slot, GetCurrentCommandId(true), 0, NULL);
	insert_index_entries(t, rel, slot);
	ExecDropSingleTupleTableSlot(slot);
	table_close(rel, NoLock);
	return identity;
}
