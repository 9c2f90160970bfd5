/*
 * dispatch_stages.c — the registry of stages that other subsystems add to
 * the dispatcher's loop (see routing.h). The list is filled from _PG_init,
 * so the dispatcher and every backend see the same stages in the same order.
 */
#include "routing.h"

static const HdDispatchStage *stages[HD_MAX_DISPATCH_STAGES];
static int	nstages = 0;

void
hd_dispatch_register_stage(const HdDispatchStage *stage)
{
	if (nstages >= HD_MAX_DISPATCH_STAGES)
		elog(ERROR, "pg_helpdesk: too many dispatcher stages (at most %d)",
			 HD_MAX_DISPATCH_STAGES);
	Assert(stage->name != NULL && stage->next_due != NULL && stage->run != NULL);
	stages[nstages++] = stage;
}

int
hd_dispatch_stage_count(void)
{
	return nstages;
}

const HdDispatchStage *
hd_dispatch_stage(int i)
{
	Assert(i >= 0 && i < nstages);
	return stages[i];
}

/* see routing.h: shared by the stages whose passes skip locked rows */
TimestampTz
hd_dispatch_due_with_floor(HdPlan *next_due_plan, bool last_pass_skipped, int retry_ms)
{
	bool		isnull;
	Datum		d;
	TimestampTz due,
				floor;

	hd_exec(next_due_plan, NULL, NULL, false, 1);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return 0;
	due = DatumGetTimestampTz(d);
	floor = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), retry_ms);
	if (last_pass_skipped && due < floor)
		due = floor;
	return due;
}
