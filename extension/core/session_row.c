/*
 * session_row.c — the rows every session call starts from: the session by
 * key, with the lock the caller's next step needs (FOR KEY SHARE for a
 * message: conflicts with a state change, not with other messages; FOR
 * UPDATE for a state change), and the acting agent, which must be enabled.
 * Kept apart from the session life cycle (routing/session.c) because
 * messages, receipts and history need only this, and nothing of routing.
 */
#include "hd.h"
#include "direct.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "parser/parse_relation.h"
#include "utils/acl.h"
#include "utils/builtins.h"

static HdPlan load_session = {
	"SELECT customer_id, state, agent_id, queue_id FROM helpdesk.session "
	"WHERE tenant_id = $1 AND id = $2",
	2, {INT8OID, INT8OID}
};
/*
 * FOR KEY SHARE is the lock the message's foreign key takes anyway (so it
 * costs nothing extra), and it conflicts with the FOR UPDATE that every
 * state change takes first (HD_LOCK_UPDATE): a message posted while the
 * session is being closed or transferred waits for that transaction and is
 * judged on the new state.
 */
static HdPlan load_session_for_key_share = {
	"SELECT customer_id, state, agent_id, queue_id FROM helpdesk.session "
	"WHERE tenant_id = $1 AND id = $2 FOR KEY SHARE",
	2, {INT8OID, INT8OID}
};
static HdPlan load_session_for_update = {
	"SELECT customer_id, state, agent_id, queue_id FROM helpdesk.session "
	"WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
	2, {INT8OID, INT8OID}
};

static void
session_not_found(int64 tenant_id, int64 session_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_HD_NOT_FOUND),
			 errmsg("session %lld does not exist in tenant %lld",
					(long long) session_id, (long long) tenant_id)));
}

/* int8 column of a fetched row; false if NULL */
static bool
slot_int64(Relation rel, TupleTableSlot *slot, const char *col, int64 *out)
{
	bool		isnull;
	Datum		d = slot_getattr(slot, attnameAttNum(rel, col, false), &isnull);

	if (!isnull)
		*out = DatumGetInt64(d);
	return !isnull;
}

/*
 * hd_load_session for FOR KEY SHARE (every post_message) without SPI: a
 * primary-key fetch and a row lock. False when SPI must do it (not READ
 * COMMITTED, row level security, an unexpected primary key).
 */
static bool
load_session_key_share(int64 tenant_id, int64 session_id, HdSessionRow *row)
{
	static const char *const key[] = {"tenant_id", "id"};
	const LockTupleMode mode = LockTupleKeyShare;
	Datum		keys[2] = {Int64GetDatum(tenant_id), Int64GetDatum(session_id)};
	Relation	rel;
	TupleTableSlot *slot;
	HdFetch		r;
	AclResult	acl;
	bool		isnull;

	if (!hd_direct_reads_ok())
		return false;
	rel = table_open(hd_relation_oid("session"), RowShareLock);
	if (hd_rls_applies(rel))
	{
		table_close(rel, NoLock);
		return false;
	}
	/* what SELECT ... FOR KEY SHARE needs */
	acl = pg_class_aclcheck(RelationGetRelid(rel), GetUserId(), ACL_SELECT);
	if (acl == ACLCHECK_OK)
		acl = pg_class_aclcheck(RelationGetRelid(rel), GetUserId(), ACL_UPDATE);
	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, OBJECT_TABLE, RelationGetRelationName(rel));

	slot = table_slot_create(rel, NULL);
	r = hd_fetch_by_key(rel, RelationGetPrimaryKeyIndex(rel), 2, key, keys, &mode, slot);
	if (r == HD_FETCH_NONE)
		session_not_found(tenant_id, session_id);
	if (r == HD_FETCH_FOUND)
	{
		row->id = session_id;
		(void) slot_int64(rel, slot, "customer_id", &row->customer_id);
		row->state = (char *) hd_state_literal(TextDatumGetCString(
			slot_getattr(slot, attnameAttNum(rel, "state", false), &isnull)));
		row->has_agent = slot_int64(rel, slot, "agent_id", &row->agent_id);
		row->has_queue = slot_int64(rel, slot, "queue_id", &row->queue_id);
	}
	ExecDropSingleTupleTableSlot(slot);
	table_close(rel, NoLock);
	return r == HD_FETCH_FOUND;
}

/*
 * Read a session of a tenant, or raise HD404. Another tenant's session is
 * reported exactly like a missing one.
 */
void
hd_load_session(int64 tenant_id, int64 session_id, HdRowLock lock, HdSessionRow *row)
{
	Datum		v[2] = {Int64GetDatum(tenant_id), Int64GetDatum(session_id)};

	if (lock == HD_LOCK_KEY_SHARE && load_session_key_share(tenant_id, session_id, row))
		return;
	hd_exec(lock == HD_LOCK_UPDATE ? &load_session_for_update
			: lock == HD_LOCK_KEY_SHARE ? &load_session_for_key_share : &load_session,
			v, NULL, false, 1);
	if (SPI_processed == 0)
		session_not_found(tenant_id, session_id);
	row->id = session_id;
	hd_get_int64(1, &row->customer_id);
	row->state = (char *) hd_state_literal(hd_get_text(2));
	row->has_agent = hd_get_int64(3, &row->agent_id);
	row->has_queue = hd_get_int64(4, &row->queue_id);
}

/* role is security's column (10_agent_login.sql); read at run time only */
static HdPlan agent_may_act = {
	"SELECT enabled, role = 'qa' FROM helpdesk.agent WHERE tenant_id = $1 AND id = $2",
	2, {INT8OID, INT8OID}
};

/*
 * The agent's one-row lookup by primary key: HD404 if it does not exist,
 * 55000 unless it is enabled, and, when action is given, 42501 when its
 * role in the tenant is qa (action names what was refused: "post
 * messages"). Returns nothing; raises on any of these.
 */
static void
check_agent(int64 tenant_id, int64 agent_id, const char *action)
{
	Datum		v[2] = {Int64GetDatum(tenant_id), Int64GetDatum(agent_id)};

	hd_exec(&agent_may_act, v, NULL, true, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_HD_NOT_FOUND),
				 errmsg("agent %lld does not exist in tenant %lld",
						(long long) agent_id, (long long) tenant_id)));
	if (!hd_get_bool(1))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("agent %lld is disabled", (long long) agent_id),
				 errhint("Enable it with helpdesk.upsert_agent(..., enabled => true).")));
	if (action != NULL && hd_get_bool(2))
		hd_refuse_qa(agent_id, action);
}

/*
 * 55000 unless the agent is enabled (HD404 if it does not exist): every
 * action an agent takes in the SQL API checks this, so a disabled agent can
 * neither post nor accept, claim, transfer, close or mark anything, whatever
 * path (the bridge, a backend) the call comes by. The reads (history,
 * receipts, ticket reads) check only this.
 */
void
hd_require_enabled_agent(int64 tenant_id, int64 agent_id)
{
	check_agent(tenant_id, agent_id, NULL);
}

/*
 * hd_require_enabled_agent, and 42501 when the agent's role in its tenant
 * is qa: a qa agent reads transcripts and scores and does nothing in a
 * conversation or a ticket. Every write the SQL API does for an agent
 * (post, note, accept, decline, claim, transfer, close, escalate, ticket
 * replies, notes, changes, assignment) checks this. Same lookup, so no
 * added cost.
 */
void
hd_require_agent_may(int64 tenant_id, int64 agent_id, const char *action)
{
	check_agent(tenant_id, agent_id, action);
}

/* 42501: a qa agent reads only */
void
hd_refuse_qa(int64 agent_id, const char *action)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("agent %lld has role qa and may not %s", (long long) agent_id, action),
			 errdetail("A qa agent reads transcripts and scores only."),
			 errhint("Change its role with helpdesk.set_agent_role().")));
}
