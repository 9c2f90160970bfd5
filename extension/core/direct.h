/*
 * direct.h — rows of our own tables read, locked and inserted without the
 * executor, for the paths every chat message takes (post_message and event
 * appends). Everything here has an SPI twin that is used whenever the
 * direct way could differ from what SQL would do.
 */
#ifndef HD_DIRECT_H
#define HD_DIRECT_H

#include "hd.h"

#include "access/tableam.h"
#include "nodes/execnodes.h"
#include "nodes/lockoptions.h"
#include "utils/rel.h"

#define HD_DIRECT_MAX_COLS 16
#define HD_DIRECT_MAX_FKS 2
#define HD_DIRECT_MAX_INDEXES 16

/* Where the value of a column comes from. */
typedef enum HdFill
{
	HD_FILL_CALLER,				/* values[i] / nulls[i] */
	HD_FILL_IDENTITY,			/* next value of the column's identity sequence */
	HD_FILL_NOW,				/* now(), the transaction's start time */
	HD_FILL_CLOCK				/* clock_timestamp(), read for each row */
} HdFill;

/* A foreign key (two columns) -> table's primary key that the caller vouches for. */
typedef struct HdDirectFk
{
	const char *table;
	const char *cols[2];
} HdDirectFk;

typedef struct HdDirectColumn
{
	const char *name;
	Oid			type;
	HdFill		fill;
} HdDirectColumn;

/*
 * A table of schema helpdesk that C inserts into directly. The caller names
 * every column the table has; the catalog is compared with that once per
 * relcache generation of the table. If anything would make a hand-made
 * insert differ from an INSERT (another column, a trigger, a rule, row
 * level security, an index on an expression, a deferred unique index), the
 * table is not "usable" and the caller goes through SPI. Partial indexes
 * are filled as the executor fills them: their predicate is compiled once
 * and evaluated for each row.
 *
 * fks name up to two foreign keys whose check the caller performs itself:
 * it holds a FOR KEY SHARE (or stronger) lock on each referenced row, which
 * is what the RI trigger would take. Those triggers are then not fired.
 */
typedef struct HdDirectTable
{
	const char *relname;
	int			ncols;
	HdDirectColumn cols[HD_DIRECT_MAX_COLS];
	HdDirectFk	fks[HD_DIRECT_MAX_FKS];

	/* filled by direct_insert.c */
	bool		registered;
	bool		valid;			/* cleared by the relcache callback */
	bool		complete;		/* the last rebuild ran to its end */
	Oid			relid;
	bool		usable;
	const char *why_not;
	AttrNumber	attnum[HD_DIRECT_MAX_COLS];
	Oid			identity_seq;
	MemoryContext cxt;
	int			nchecks;
	ExprState **checks;			/* compiled CHECK constraints, in constr order */
	int			npreds;
	Oid			pred_index[HD_DIRECT_MAX_INDEXES];	/* partial indexes ... */
	ExprState  *preds[HD_DIRECT_MAX_INDEXES];	/* ... and their compiled predicates */
	ExprContext *econtext;
} HdDirectTable;

/* direct_insert.c */
extern Oid	hd_relation_oid(const char *relname);
extern Relation hd_direct_open(HdDirectTable *t);
extern int64 hd_direct_insert(HdDirectTable *t, Relation rel, Datum *values, bool *nulls);

/* direct_fetch.c */
typedef enum HdFetch
{
	HD_FETCH_UNUSABLE = -1,		/* the index is not what the caller expects: use SPI */
	HD_FETCH_NONE = 0,
	HD_FETCH_FOUND = 1
} HdFetch;

extern bool hd_direct_reads_ok(void);
extern bool hd_rls_applies(Relation rel);
extern HdFetch hd_fetch_by_key(Relation rel, Oid indexoid, int nkeys,
							   const char *const *cols, const Datum *keys,
							   const LockTupleMode *lock, TupleTableSlot *slot);

#endif							/* HD_DIRECT_H */
