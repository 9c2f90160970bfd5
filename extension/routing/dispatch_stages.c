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
