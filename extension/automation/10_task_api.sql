-- Trigger tasks SQL API: thin declarations of the C functions in task_*.c.
-- Each runs as the extension owner (SECURITY DEFINER) with a pinned search_path.

CREATE FUNCTION helpdesk.receive_task(tenant_id bigint, task jsonb)
RETURNS jsonb LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_receive_task';
COMMENT ON FUNCTION helpdesk.receive_task IS
	'Stores a trigger task (seed 003''s JSON) and answers {"task_id", "status"}. Idempotent on task_id: the same body answers the stored task, a different one is HD409.';

CREATE FUNCTION helpdesk.task_status(tenant_id bigint, task_id text)
RETURNS jsonb LANGUAGE c STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_task_status';
COMMENT ON FUNCTION helpdesk.task_status IS
	'The task JSON: the fields received plus status, retry_count, max_retry, triggered_at, completed_at, error_message, result. HD404 when unknown.';

CREATE FUNCTION helpdesk.cancel_task(tenant_id bigint, task_id text, reason text DEFAULT NULL)
RETURNS jsonb LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_cancel_task';
COMMENT ON FUNCTION helpdesk.cancel_task IS
	'Cancels a pending or waiting task (HD422 once it fired or finished, HD404 when unknown); answers the task JSON.';

CREATE FUNCTION helpdesk.list_tasks(tenant_id bigint, customer_id text DEFAULT NULL,
	status text DEFAULT NULL, page integer DEFAULT 1, page_size integer DEFAULT 20)
RETURNS jsonb LANGUAGE c STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_list_tasks';
COMMENT ON FUNCTION helpdesk.list_tasks IS
	'A page of the tenant''s tasks, newest first: {"total", "page", "page_size", "tasks": [task JSON]}; customer_id is the customer''s external id; page_size 1..100.';

CREATE FUNCTION helpdesk.set_task_settings(tenant_id bigint, payment_phrases text[] DEFAULT NULL,
	time_zone text DEFAULT NULL, default_payment_phrases boolean DEFAULT false)
RETURNS void LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_set_task_settings';
COMMENT ON FUNCTION helpdesk.set_task_settings IS
	'The tenant''s default payment phrases (customer_payment tasks without keywords) and the zone of time_reach times; NULL keeps a value, default_payment_phrases => true restores the built-in list.';

CREATE FUNCTION helpdesk.task_callback_secret(tenant_id bigint, rotate boolean DEFAULT false)
RETURNS text LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_task_callback_secret';
COMMENT ON FUNCTION helpdesk.task_callback_secret IS
	'The whsec_ secret that signs the tenant''s task callbacks (made on the first call; rotate => true makes a new one).';

CREATE FUNCTION helpdesk._task_pass(now timestamptz DEFAULT NULL, max_rows integer DEFAULT 200)
RETURNS integer LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_task_pass_sql';
COMMENT ON FUNCTION helpdesk._task_pass IS
	'One pass of the trigger-task dispatcher stage (arm, time_reach, expiry, actions) as the dispatcher runs it; for tests.';

REVOKE ALL ON FUNCTION helpdesk.receive_task, helpdesk.task_status, helpdesk.cancel_task,
	helpdesk.list_tasks, helpdesk.set_task_settings, helpdesk.task_callback_secret,
	helpdesk._task_pass FROM PUBLIC;
