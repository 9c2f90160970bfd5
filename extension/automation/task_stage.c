/*
 * task_stage.c — the dispatcher stage of trigger tasks: every timer of a
 * task is its due_at (one partial index), which means
 *   pending  -> arm it: waiting, due at its time (time_reach) or expiry;
 *   waiting  -> time_reach whose time came: fire and run the action;
 *               otherwise expired (timeout_hours passed untriggered);
 *   running  -> run the action (fired by a message, by the time, or a retry).
 * Each task is locked FOR UPDATE SKIP LOCKED with its due time checked on
 * the locked row, in its own subtransaction; the action in a nested one, so
 * a failing action rolls back only its own writes and is retried
 * (retry_count/max_retry, 1 s, 2 s, 4 s ... apart) and then marked failed.
 * Finishing (completed, failed, expired) makes the callback due (task_callback.c).
 */
#include "automation.h"
#include "dispatch.h"
#include "routing.h"

#include "utils/builtins.h"

static HdPlan next_due_plan = {
	"SELECT min(due_at) FROM helpdesk.trigger_task WHERE due_at IS NOT NULL AND " HD_PLACED("tenant_id"),
	0, {}
};

/*
 * Arming is one statement for all due pending tasks: received tasks would
 * otherwise queue in due order ahead of fired ones, and a burst of receipts
 * (2,400 in a benchmark) delayed actions by seconds. time_reach tasks whose
 * time came and expired ones go the per-task way.
 */
static HdPlan arm_all = {
	"UPDATE helpdesk.trigger_task t SET status = 'waiting', due_at = least(t.trigger_at, t.expires_at) "
	"FROM (SELECT tenant_id, id FROM helpdesk.trigger_task "
	"      WHERE due_at <= $1 AND status = 'pending' AND expires_at > $1 "
	"        AND (trigger_at IS NULL OR trigger_at > $1) AND " HD_PLACED("tenant_id") " "
	"      FOR UPDATE SKIP LOCKED) d "
	/* SKIP LOCKED: a customer's transaction firing the task holds the row; the dispatcher never waits for it */
	"WHERE t.tenant_id = d.tenant_id AND t.id = d.id",
	1, {TIMESTAMPTZOID}
};

static HdPlan due_list = {
	"SELECT tenant_id, id FROM helpdesk.trigger_task WHERE due_at <= $1 AND " HD_PLACED("tenant_id") " "
	"ORDER BY due_at LIMIT $2",
	2, {TIMESTAMPTZOID, INT4OID}
};

static HdPlan lock_due = {
	"SELECT status, trigger_at IS NOT NULL AND trigger_at <= $3, expires_at <= $3, retry_count, max_retry "
	"FROM helpdesk.trigger_task WHERE tenant_id = $1 AND id = $2 AND due_at <= $3 "
	"FOR UPDATE SKIP LOCKED",
	3, {INT8OID, INT8OID, TIMESTAMPTZOID}
};

static HdPlan arm_plan = {
	"UPDATE helpdesk.trigger_task SET status = 'waiting', "
	"  due_at = least(trigger_at, expires_at) WHERE tenant_id = $1 AND id = $2",
	2, {INT8OID, INT8OID}
};

static HdPlan fire_time = {
	"UPDATE helpdesk.trigger_task SET status = 'running', triggered_at = $3, due_at = $3 "
	"WHERE tenant_id = $1 AND id = $2",
	3, {INT8OID, INT8OID, TIMESTAMPTZOID}
};

static HdPlan expire_plan = {
	"UPDATE helpdesk.trigger_task SET status = 'expired', due_at = NULL, completed_at = $3, "
	"  error_message = 'not triggered within timeout_hours' WHERE tenant_id = $1 AND id = $2",
	3, {INT8OID, INT8OID, TIMESTAMPTZOID}
};

static HdPlan done_plan = {
	"UPDATE helpdesk.trigger_task SET status = 'completed', due_at = NULL, completed_at = clock_timestamp(), "
	"  error_message = NULL, result = jsonb_build_object('session_id', $3::bigint, 'message_id', $4::bigint) "
	"WHERE tenant_id = $1 AND id = $2",
	4, {INT8OID, INT8OID, INT8OID, INT8OID}
};

static HdPlan retry_plan = {
	"UPDATE helpdesk.trigger_task SET retry_count = retry_count + 1, error_message = $3, "
	"  status = CASE WHEN retry_count + 1 > max_retry THEN 'failed' ELSE status END, "
	"  completed_at = CASE WHEN retry_count + 1 > max_retry THEN clock_timestamp() END, "
	"  due_at = CASE WHEN retry_count + 1 > max_retry THEN NULL "
	"    ELSE $4::timestamptz + make_interval(secs => power(2, retry_count)) END "
	"WHERE tenant_id = $1 AND id = $2 RETURNING status",
	4, {INT8OID, INT8OID, TEXTOID, TIMESTAMPTZOID}
};

typedef struct TaskItem
{
	int64		tenant_id;
	int64		id;
	TimestampTz now;
	bool		handled;
	bool		skipped;
	int64		session_id;
	int64		message_id;
} TaskItem;

static bool last_pass_skipped = false;

#define TASK_LOCKED_RETRY_MS 20

static void
action_one(void *arg)
{
	TaskItem   *it = (TaskItem *) arg;

	hd_task_run_action(it->tenant_id, it->id, &it->session_id, &it->message_id);
}

static void
run_action(TaskItem *it, Datum *v)
{
	char	   *error = NULL;

	if (hd_run_in_subxact(action_one, it, &error))
	{
		Datum		dv[4] = {v[0], v[1], Int64GetDatum(it->session_id), Int64GetDatum(it->message_id)};

		hd_exec(&done_plan, dv, NULL, false, 0);
		hd_task_callback_due(it->tenant_id, it->id);
	}
	else
	{
		Datum		rv[4] = {v[0], v[1],
			CStringGetTextDatum(hd_clip_message(pstrdup(error ? error : "unknown error"), 900)),
		TimestampTzGetDatum(it->now)};

		hd_exec(&retry_plan, rv, NULL, false, 1);
		if (SPI_processed > 0 && strcmp(hd_get_text(1), "failed") == 0)
			hd_task_callback_due(it->tenant_id, it->id);
	}
}

static void
task_one(void *arg)
{
	TaskItem   *it = (TaskItem *) arg;
	Datum		v[3] = {Int64GetDatum(it->tenant_id), Int64GetDatum(it->id), TimestampTzGetDatum(it->now)};
	char	   *status;
	bool		time_due,
				expired;

	hd_exec(&lock_due, v, NULL, false, 1);
	if (SPI_processed == 0)
	{
		it->skipped = true;
		return;
	}
	status = hd_get_text(1);
	time_due = hd_get_bool(2);
	expired = hd_get_bool(3);
	it->handled = true;
	if (strcmp(status, "running") == 0)
	{
		run_action(it, v);
		return;
	}
	if (time_due)
	{
		hd_exec(&fire_time, v, NULL, false, 0);
		run_action(it, v);
		return;
	}
	if (expired)
	{
		hd_exec(&expire_plan, v, NULL, false, 0);
		hd_task_callback_due(it->tenant_id, it->id);
		return;
	}
	hd_exec(&arm_plan, v, NULL, false, 0);
}

int
hd_task_pass(TimestampTz now, int max_rows, bool *more)
{
	Datum		v[2] = {TimestampTzGetDatum(now), Int32GetDatum(max_rows)};
	TaskItem   *items;
	int			n,
				i,
				done = 0;

	last_pass_skipped = false;
	hd_exec(&arm_all, v, NULL, false, 0);
	done += (int) SPI_processed;
	hd_exec(&due_list, v, NULL, false, 0);
	n = (int) SPI_processed;
	*more = n >= max_rows;
	items = palloc0(sizeof(TaskItem) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		bool		isnull;

		items[i].tenant_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		items[i].id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
		items[i].now = now;
	}
	for (i = 0; i < n; i++)
	{
		char	   *error = NULL;

		if (hd_run_in_subxact(task_one, &items[i], &error))
		{
			done += items[i].handled ? 1 : 0;
			last_pass_skipped |= items[i].skipped;
			continue;
		}
		/* not the action (that is caught inside): the task row itself; look again in a minute */
		ereport(WARNING,
				(errmsg("pg_helpdesk: trigger task %lld of tenant %lld: %s",
						(long long) items[i].id, (long long) items[i].tenant_id,
						error ? error : "unknown error")));
		{
			Datum		rv[4] = {Int64GetDatum(items[i].tenant_id), Int64GetDatum(items[i].id),
				CStringGetTextDatum(hd_clip_message(pstrdup(error ? error : "unknown error"), 900)),
			TimestampTzGetDatum(TimestampTzPlusMilliseconds(now, 60000))};

			hd_exec(&retry_plan, rv, NULL, false, 1);
		}
	}
	return done;
}

static TimestampTz
stage_next_due(void)
{
	return hd_dispatch_due_with_floor(&next_due_plan, last_pass_skipped,
									  TASK_LOCKED_RETRY_MS);
}

static int
stage_run(TimestampTz now, bool *more)
{
	return hd_task_pass(now, 200, more);
}

static const HdDispatchStage task_stage = {
	"pg_helpdesk: trigger tasks", stage_next_due, stage_run
};

void
hd_task_register_stage(void)
{
	hd_dispatch_register_stage(&task_stage);
}

PG_FUNCTION_INFO_V1(hd_task_pass_sql);

/* helpdesk._task_pass(now, max_rows): one pass as the dispatcher runs it (tests) */
Datum
hd_task_pass_sql(PG_FUNCTION_ARGS)
{
	TimestampTz now = PG_ARGISNULL(0) ? GetCurrentTimestamp() : PG_GETARG_TIMESTAMPTZ(0);
	int32		max_rows = PG_ARGISNULL(1) ? 200 : PG_GETARG_INT32(1);
	bool		more;
	int			n;

	SPI_connect();
	n = hd_task_pass(now, max_rows, &more);
	SPI_finish();
	PG_RETURN_INT32(n);
}
