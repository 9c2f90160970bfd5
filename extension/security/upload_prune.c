/*
 * upload_prune.c — prune_uploads(keep, grace): uploads go with their
 * messages' retention. An upload older than keep goes; one older than grace
 * goes once no message references it any more, neither a session's message
 * nor a ticket's (its messages were pruned, or it was never sent). There is
 * no index on message references (it would take post_message off its direct
 * write): the references are anti-joined in one pass over the messages that
 * carry an upload, a maintenance job's cost.
 */
#include "security.h"

#include "utils/timestamp.h"

static HdPlan prune_plan = {
	"DELETE FROM helpdesk.upload u WHERE " HD_PLACED("u.tenant_id") " AND (u.created_at < now() - $1 "
	"OR (u.created_at < now() - $2 AND NOT EXISTS (SELECT 1 FROM helpdesk.message m "
	"WHERE m.tenant_id = u.tenant_id AND m.attachment ? 'upload_id' "
	"AND m.attachment ->> 'upload_id' = u.id::text) "
	"AND NOT EXISTS (SELECT 1 FROM helpdesk.ticket_message k "
	"WHERE k.tenant_id = u.tenant_id AND k.attachment ? 'upload_id' "
	"AND k.attachment ->> 'upload_id' = u.id::text)))",
	2, {INTERVALOID, INTERVALOID}
};

PG_FUNCTION_INFO_V1(hd_prune_uploads);

Datum
hd_prune_uploads(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"keep", "grace"};
	Datum		v[2];
	uint64		n;

	hd_require_args(fcinfo, 2, names);
	hd_require_every_tenant();	/* prunes every tenant's uploads */
	hd_interval_arg(fcinfo, 0, "keep", 0, (int64) 36525 * USECS_PER_DAY, false, &v[0]);
	hd_interval_arg(fcinfo, 1, "grace", 0, (int64) 36525 * USECS_PER_DAY, false, &v[1]);
	SPI_connect();
	hd_exec(&prune_plan, v, NULL, false, 0);
	n = SPI_processed;
	SPI_finish();
	PG_RETURN_INT64((int64) n);
}
