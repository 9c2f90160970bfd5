/*
 * retention.c — message retention per tenant.
 *
 * Why batches by primary key and not partitions (bench/reports_ops.md,
 * retention): helpdesk.message is keyed (tenant_id, id) and its ids grow
 * with time, so a tenant's oldest messages are the first entries of its
 * primary-key range. A batch reads the first batch_size of them and deletes
 * those past the cutoff: the cost of a batch is that of batch_size rows,
 * whatever the size of the table, and no index is added to the message
 * table (post_message's direct path and ratio stay as they are). Time
 * partitions would make pruning a DROP, but the table is shared by all
 * tenants with different retentions (a partition cannot be dropped while
 * one tenant keeps it), and post_message's direct write does not serve
 * partitioned tables.
 *
 * Ids follow the insertion, created_at the start of the inserting
 * transaction: a message of a long transaction may sit among older ids
 * with a later created_at. So a run walks the tenant's key range forward
 * (each batch after the last id the previous one read), deletes what is
 * expired and steps over what is not, and stops at the first batch with
 * nothing expired in it (or one that is not full): past it, ids are newer.
 *
 * Each batch is one transaction (run_retention commits in between) and
 * holds row locks on its batch only. With the messages go their search
 * keys, their uploads (helpdesk.upload, when the uploads subsystem is
 * installed, unless another message references one), and the message text that ticket events
 * copy into their payload (chat events carry none: events_since reads the
 * message row, which is gone). Event rows themselves stay: a position is a
 * row's rank within its batch, so deleting single events would renumber
 * the log; whole old batches go with prune_events(). Rollups (reports) are
 * kept: each batch moves the tenant's rollup horizon to its cutoff first, and
 * buckets before it are never recomputed from what is left.
 */
#include "hd.h"

#include "access/xact.h"
#include "catalog/pg_type_d.h"
#include "commands/defrem.h"
#include "funcapi.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

static HdPlan upsert_setting = {
	"INSERT INTO helpdesk.retention_setting (tenant_id, keep_messages) VALUES ($1, $2) "
	"ON CONFLICT (tenant_id) DO UPDATE SET keep_messages = excluded.keep_messages, updated_at = now()",
	2, {INT8OID, INTERVALOID}
};

static HdPlan delete_setting = {
	"DELETE FROM helpdesk.retention_setting WHERE tenant_id = $1", 1, {INT8OID}
};

PG_FUNCTION_INFO_V1(hd_set_message_retention);

/* helpdesk.set_message_retention(tenant_id, keep) */
Datum
hd_set_message_retention(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id"};
	Datum		v[2];

	hd_check_tenant_arg(fcinfo, 0);	/* before any other argument is judged */
	hd_require_args(fcinfo, 1, names);
	v[0] = PG_GETARG_DATUM(0);
	if (!PG_ARGISNULL(1))
		hd_interval_arg(fcinfo, 1, "keep", USECS_PER_DAY, (int64) 36525 * USECS_PER_DAY, false, &v[1]);
	SPI_connect();
	hd_require_tenant(PG_GETARG_INT64(0));
	hd_exec(PG_ARGISNULL(1) ? &delete_setting : &upsert_setting, v, NULL, false, 0);
	SPI_finish();
	PG_RETURN_VOID();
}

static HdPlan read_setting = {
	"SELECT now() - keep_messages, events_done FROM helpdesk.retention_setting "
	"WHERE tenant_id = $1 FOR UPDATE",
	1, {INT8OID}
};

/*
 * $1 tenant, $2 batch, $3 cutoff, $4 after id: the next batch of the
 * tenant's messages in key order, those past the cutoff deleted with their
 * search keys; returns deleted, the batch's size, whether any of it was
 * expired, its last id, and the upload ids of the deleted attachments.
 */
#define PRUNE_MESSAGES(table, source) \
	"WITH v AS MATERIALIZED (SELECT m.id, m.created_at < $3 AS expired FROM helpdesk." table " m " \
	"                        WHERE m.tenant_id = $1 AND m.id > $4 ORDER BY m.id LIMIT $2), " \
	"g AS (DELETE FROM helpdesk." table " m USING v WHERE m.tenant_id = $1 AND m.id = v.id AND v.expired " \
	"      RETURNING m.id, m.attachment->>'upload_id' AS upload), " \
	"s AS (DELETE FROM helpdesk.message_search s USING g " \
	"      WHERE s.tenant_id = $1 AND s.source = '" source "' AND s.message_id = g.id) " \
	"SELECT (SELECT count(*) FROM g), (SELECT count(*) FROM v), " \
	"       (SELECT coalesce(bool_or(expired), false) FROM v), (SELECT coalesce(max(id), $4) FROM v), " \
	"       (SELECT array_agg(upload::bigint) FROM g WHERE upload ~ '^[0-9]{1,18}$')"

static HdPlan prune_chat = {
	PRUNE_MESSAGES("message", "chat"), 4, {INT8OID, INT4OID, TIMESTAMPTZOID, INT8OID}
};
static HdPlan prune_ticket = {
	PRUNE_MESSAGES("ticket_message", "ticket"), 4, {INT8OID, INT4OID, TIMESTAMPTZOID, INT8OID}
};

/*
 * $1 tenant, $2 batch, $3 cutoff, $4 events done: the next batch of the
 * log after $4; this tenant's expired ones lose the message their payload
 * copies. Returns the new done mark (the end of the expired prefix),
 * events changed, and whether the batch was all expired and full.
 */
static HdPlan scrub_events = {
	"WITH e AS MATERIALIZED (SELECT id, created_at < $3 AS expired, tenant_id = $1 AND payload ? 'message' AS mine "
	"                        FROM helpdesk.event WHERE id > $4 ORDER BY id LIMIT $2), "
	"stop AS (SELECT min(id) AS id FROM e WHERE NOT expired), "
	"u AS (UPDATE helpdesk.event ev SET payload = (ev.payload - 'message') || '{\"message_pruned\": true}' "
	"      FROM e WHERE ev.id = e.id AND e.mine AND e.expired "
	"        AND e.id < coalesce((SELECT id FROM stop), 9223372036854775807) RETURNING 1) "
	"SELECT coalesce((SELECT max(id) FROM e WHERE id < coalesce((SELECT id FROM stop), 9223372036854775807)), $4), "
	"       (SELECT count(*) FROM u), (SELECT id FROM stop) IS NULL AND (SELECT count(*) FROM e) = $2",
	4, {INT8OID, INT4OID, TIMESTAMPTZOID, INT8OID}
};

/*
 * $1 tenant, $2 cutoff: the tenant's rollup horizon moves to the cutoff
 * rounded up to a quarter hour (never back), in the transaction that
 * deletes, so no rollup step sees the messages gone and the horizon not yet
 * moved: the buckets before it keep their figures (reports/00_rollup_schema.sql).
 */
static HdPlan move_horizon = {
	"INSERT INTO helpdesk.rollup_horizon AS h (tenant_id, horizon) "
	"VALUES ($1, helpdesk._bucket($2 - interval '1 microsecond') + interval '15 minutes') "
	"ON CONFLICT (tenant_id) DO UPDATE SET horizon = excluded.horizon, updated_at = now() "
	"WHERE excluded.horizon > h.horizon",
	2, {INT8OID, TIMESTAMPTZOID}
};

static HdPlan move_events_done = {
	"UPDATE helpdesk.retention_setting SET events_done = $2 WHERE tenant_id = $1", 2, {INT8OID, INT8OID}
};

/*
 * The uploads subsystem (security/, helpdesk.upload) when it is installed:
 * the uploads the deleted messages referenced go with them unless another
 * message still references one. Prepared only when the table exists.
 */
static HdPlan uploads_present = {
	"SELECT to_regclass('helpdesk.upload') IS NOT NULL", 0, {}
};

static HdPlan delete_uploads = {
	"DELETE FROM helpdesk.upload u WHERE u.tenant_id = $1 AND u.id = ANY ($2) "
	"AND NOT EXISTS (SELECT 1 FROM helpdesk.message m WHERE m.tenant_id = u.tenant_id "
	"  AND m.attachment ? 'upload_id' AND m.attachment ->> 'upload_id' = u.id::text) "
	"AND NOT EXISTS (SELECT 1 FROM helpdesk.ticket_message m WHERE m.tenant_id = u.tenant_id "
	"  AND m.attachment ? 'upload_id' AND m.attachment ->> 'upload_id' = u.id::text)",
	2, {INT8OID, INT8ARRAYOID}
};

/*
 * Runs one of the PRUNE_MESSAGES plans after *after; moves *after to the
 * last id read, sets *more when the batch was full and had expired rows,
 * hands the deleted attachments' uploads to the hook. Returns rows deleted.
 */
static int64
prune(HdPlan *p, Datum *v, int64 *after, bool *more, int64 *uploads, bool hook)
{
	Datum		pv[4] = {v[0], v[1], v[2], Int64GetDatum(*after)};
	int64		deleted = 0,
				scanned = 0;
	bool		isnull;
	Datum		ups;

	hd_exec(p, pv, NULL, false, 0);
	hd_get_int64(1, &deleted);
	hd_get_int64(2, &scanned);
	*more = *more || (hd_get_bool(3) && scanned == DatumGetInt32(v[1]));
	hd_get_int64(4, after);
	ups = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5, &isnull);
	if (!isnull)
	{
		ArrayType  *a = DatumGetArrayTypeP(ups);
		int			n = ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));

		if (hook && n > 0)
		{
			Datum		hv[2] = {v[0], PointerGetDatum(a)};

			hd_exec(&delete_uploads, hv, NULL, false, 0);
			*uploads += (int64) SPI_processed;
		}
	}
	return deleted;
}

PG_FUNCTION_INFO_V1(hd_retention_batch);

/* helpdesk.retention_batch(tenant_id, batch_size, chat_after, ticket_after) */
Datum
hd_retention_batch(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "batch_size"};
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		tenant_id;
	int32		batch;
	Datum		v[4];
	Datum		out[7];
	bool		nulls[7] = {false, false, false, false, false, false, false};
	int64		chat_after = PG_ARGISNULL(2) ? 0 : PG_GETARG_INT64(2);
	int64		ticket_after = PG_ARGISNULL(3) ? 0 : PG_GETARG_INT64(3);
	int64		chat = 0,
				ticket = 0,
				events = 0,
				uploads = 0,
				done = 0;
	bool		more = false,
				hook;

	hd_require_args(fcinfo, 2, names);
	tenant_id = PG_GETARG_INT64(0);
	batch = PG_GETARG_INT32(1);
	hd_check_range("batch_size", batch, 1, 100000);
	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	hd_require_tenant(tenant_id);
	v[0] = Int64GetDatum(tenant_id);
	v[1] = Int32GetDatum(batch);
	hd_exec(&read_setting, v, NULL, false, 1);
	if (SPI_processed == 1)
	{
		bool		isnull;

		v[2] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		hd_get_int64(2, &done);
		{
			Datum		hv[2] = {v[0], v[2]};

			hd_exec(&move_horizon, hv, NULL, false, 0);
		}
		hd_exec(&uploads_present, NULL, NULL, false, 1);
		hook = hd_get_bool(1);
		chat = prune(&prune_chat, v, &chat_after, &more, &uploads, hook);
		ticket = prune(&prune_ticket, v, &ticket_after, &more, &uploads, hook);
		v[3] = Int64GetDatum(done);
		hd_exec(&scrub_events, v, NULL, false, 0);
		{
			int64		new_done = done;

			hd_get_int64(1, &new_done);
			hd_get_int64(2, &events);
			more = more || hd_get_bool(3);
			if (new_done != done)
			{
				Datum		mv[2] = {v[0], Int64GetDatum(new_done)};

				hd_exec(&move_events_done, mv, NULL, false, 0);
			}
		}
	}
	SPI_finish();
	out[0] = Int64GetDatum(chat);
	out[1] = Int64GetDatum(ticket);
	out[2] = Int64GetDatum(events);
	out[3] = Int64GetDatum(uploads);
	out[4] = BoolGetDatum(more);
	out[5] = Int64GetDatum(chat_after);
	out[6] = Int64GetDatum(ticket_after);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, out, nulls);
	PG_RETURN_VOID();
}

static HdPlan next_tenant = {
	"SELECT tenant_id, now() - keep_messages FROM helpdesk.retention_setting "
	"WHERE tenant_id > $1 AND " HD_PLACED("tenant_id") " ORDER BY tenant_id LIMIT 1",
	1, {INT8OID}
};

static HdPlan run_batch = {
	"SELECT chat_messages, ticket_messages, events, uploads, more, chat_last, ticket_last "
	"FROM helpdesk.retention_batch($1, $2, $3, $4)",
	4, {INT8OID, INT4OID, INT8OID, INT8OID}
};

static HdPlan log_run = {
	"INSERT INTO helpdesk.retention_run (tenant_id, started_at, finished_at, cutoff, batches, "
	"  chat_messages, ticket_messages, events, uploads, complete) "
	"VALUES ($1, $2, clock_timestamp(), $3, $4, $5, $6, $7, $8, $9)",
	9, {INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT4OID, INT8OID, INT8OID, INT8OID, INT8OID, BOOLOID}
};

PG_FUNCTION_INFO_V1(hd_run_retention);

/*
 * CALL helpdesk.run_retention(batch_size, max_batches): every tenant with a
 * setting, one committed transaction per batch, so no lock and no snapshot
 * is held for longer than one batch.
 */
Datum
hd_run_retention(PG_FUNCTION_ARGS)
{
	int32		batch = PG_ARGISNULL(0) ? 5000 : PG_GETARG_INT32(0);
	int32		max_batches = PG_ARGISNULL(1) ? 1000 : PG_GETARG_INT32(1);
	bool		nonatomic = fcinfo->context && IsA(fcinfo->context, CallContext) &&
		!castNode(CallContext, fcinfo->context)->atomic;
	int64		tenant = 0;

	hd_require_every_tenant();	/* every tenant with a setting */
	hd_check_range("batch_size", batch, 1, 100000);
	hd_check_range("max_batches", max_batches, 1, 1000000);
	if (!nonatomic)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("run_retention commits after every batch and cannot run inside a transaction block"),
				 errhint("CALL helpdesk.run_retention() on its own (as pg_cron does), or use retention_batch(tenant_id, batch_size).")));
	SPI_connect_ext(SPI_OPT_NONATOMIC);
	for (;;)
	{
		Datum		v[9];
		TimestampTz started = GetCurrentTimestamp();
		Datum		cutoff;
		bool		isnull;
		int64		sums[4] = {0, 0, 0, 0};
		int32		batches = 0;
		bool		more = true;
		int64		chat_after = 0,
					ticket_after = 0;

		v[0] = Int64GetDatum(tenant);
		hd_exec(&next_tenant, v, NULL, false, 1);
		if (SPI_processed == 0)
			break;
		hd_get_int64(1, &tenant);
		cutoff = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
		while (more && batches < max_batches)
		{
			int			c;

			v[0] = Int64GetDatum(tenant);
			v[1] = Int32GetDatum(batch);
			v[2] = Int64GetDatum(chat_after);
			v[3] = Int64GetDatum(ticket_after);
			hd_exec(&run_batch, v, NULL, false, 0);
			hd_get_int64(6, &chat_after);
			hd_get_int64(7, &ticket_after);
			for (c = 0; c < 4; c++)
			{
				int64		x = 0;

				hd_get_int64(c + 1, &x);
				sums[c] += x;
			}
			more = hd_get_bool(5);
			batches++;
			SPI_commit();
		}
		v[0] = Int64GetDatum(tenant);
		v[1] = TimestampTzGetDatum(started);
		v[2] = cutoff;
		v[3] = Int32GetDatum(batches);
		v[4] = Int64GetDatum(sums[0]);
		v[5] = Int64GetDatum(sums[1]);
		v[6] = Int64GetDatum(sums[2]);
		v[7] = Int64GetDatum(sums[3]);
		v[8] = BoolGetDatum(!more);
		hd_exec(&log_run, v, NULL, false, 0);
		SPI_commit();
	}
	SPI_finish();
	PG_RETURN_VOID();
}
