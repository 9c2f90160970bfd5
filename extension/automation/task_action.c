/*
 * task_action.c — what a fired task does: send_message or send_file into
 * the customer's chat, posted by post_message's own C path (the same checks,
 * event and delivery as any message) as the `system` sender.
 *
 * Where: the session the triggering message came from while it is open;
 * otherwise (it closed since, or a time_reach task) the customer's most
 * recent open session. When the customer has none the action fails with a
 * clear error and is retried (retry_count/max_retry), then the task is
 * failed: a task never opens a chat or a ticket on its own (decided: a
 * scheduled "send the file" into a conversation that no longer exists would
 * surprise the customer; the caller learns it from the callback and status).
 *
 * Once only: the message carries client_msg_id "task:<row id>", so an action
 * retried after a crash between posting and recording replays the stored
 * message instead of sending it twice.
 */
#include "automation.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

static HdPlan load_task = {
	"SELECT t.action_type, t.action->>'message', t.action->>'file_url', t.action->>'file_name', "
	"  coalesce((SELECT s.id FROM helpdesk.session s WHERE s.tenant_id = t.tenant_id "
	"      AND s.id = t.session_id AND s.state <> 'closed'), "
	"    (SELECT s.id FROM helpdesk.session s "
	"      WHERE s.tenant_id = t.tenant_id AND s.state <> 'closed' AND s.customer_id = coalesce(t.customer_id, "
	"        (SELECT c.id FROM helpdesk.customer c WHERE c.tenant_id = t.tenant_id "
	"          AND c.external_id = t.customer_ext_id)) "
	"      ORDER BY s.created_at DESC, s.id DESC LIMIT 1)), "
	"  t.customer_ext_id "
	"FROM helpdesk.trigger_task t WHERE t.tenant_id = $1 AND t.id = $2",
	2, {INT8OID, INT8OID}
};

static HdPlan attachment_plan = {
	"SELECT jsonb_build_object('url', $1::text, 'name', $2::text, 'mime', $3::text, 'size', 0)",
	3, {TEXTOID, TEXTOID, TEXTOID}
};

/* A MIME type from the file name's extension (the receiver sniffs the real one). */
static const char *
mime_of(const char *name)
{
	static const char *const map[][2] = {
		{".pdf", "application/pdf"}, {".png", "image/png"}, {".jpg", "image/jpeg"},
		{".jpeg", "image/jpeg"}, {".gif", "image/gif"}, {".webp", "image/webp"},
		{".zip", "application/zip"}, {".txt", "text/plain"}, {".csv", "text/csv"},
		{".doc", "application/msword"}, {".xls", "application/vnd.ms-excel"},
		{".docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
		{".xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
		{".mp4", "video/mp4"}, {NULL, NULL}
	};
	const char *dot = name ? strrchr(name, '.') : NULL;
	int			i;

	if (dot != NULL)
		for (i = 0; map[i][0]; i++)
			if (pg_strcasecmp(dot, map[i][0]) == 0)
				return map[i][1];
	return "application/octet-stream";
}

/* The file's name: file_name, else the URL's last path segment. */
static char *
file_name_of(const char *name, const char *url)
{
	const char *slash;
	char	   *s;

	if (name != NULL && name[0] != '\0')
		return pstrdup(name);
	slash = strrchr(url, '/');
	s = pstrdup(slash && slash[1] ? slash + 1 : "file");
	s[strcspn(s, "?#")] = '\0';
	return s[0] ? s : pstrdup("file");
}

/* Run the task's action (SPI connected); ERROR when it cannot be done now. */
void
hd_task_run_action(int64 tenant_id, int64 task_row_id, int64 *session_id, int64 *message_id)
{
	Datum		v[2] = {Int64GetDatum(tenant_id), Int64GetDatum(task_row_id)};
	HdPostArgs	m;
	char	   *atype,
			   *msg,
			   *url,
			   *fname,
			   *cust;
	int64		sid = 0;

	/*
	 * Not read-only: a read-only statement would see the stage's transaction
	 * snapshot, taken before the message that fired the task committed, so
	 * the task's session_id (set by the firing) read as NULL and a task
	 * without a customer failed "has no open session" and waited its 1 s
	 * retry (bench/trigger_tasks.sh: ~0.3 % of actions at 100/s, 1 s max).
	 */
	hd_exec(&load_task, v, NULL, false, 1);
	if (SPI_processed == 0)
		hd_not_found("trigger task", task_row_id, tenant_id);
	atype = hd_get_text(1);
	msg = hd_get_text(2);
	url = hd_get_text(3);
	fname = hd_get_text(4);
	cust = hd_get_text(6);
	if (!hd_get_int64(5, &sid))
		ereport(ERROR,
				(errcode(ERRCODE_HD_SESSION_CLOSED),
				 errmsg("customer %s has no open session to send the task's %s to",
						cust ? hd_quote(cust) : "(none)",
						strcmp(atype, "send_file") == 0 ? "file" : "message")));
	memset(&m, 0, sizeof(m));
	m.tenant_id = tenant_id;
	m.session_id = sid;
	m.sender_kind = "system";
	m.has_sender = false;
	m.client_msg_id = psprintf("task:%lld", (long long) task_row_id);
	if (strcmp(atype, "send_file") == 0)
	{
		Datum		av[3];
		bool		isnull;

		fname = file_name_of(fname, url);
		av[0] = CStringGetTextDatum(url);
		av[1] = CStringGetTextDatum(fname);
		av[2] = CStringGetTextDatum(mime_of(fname));
		hd_exec(&attachment_plan, av, NULL, true, 1);
		m.attachment = DatumGetJsonbP(SPI_datumTransfer(SPI_getbinval(SPI_tuptable->vals[0],
																	   SPI_tuptable->tupdesc, 1, &isnull),
														false, -1));
		m.type = "file";
		m.body = (msg && msg[0]) ? msg : NULL;
	}
	else
	{
		m.type = "text";
		m.body = msg;
	}
	*message_id = hd_post_message(&m);
	*session_id = sid;
}
