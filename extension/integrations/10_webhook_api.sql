-- Webhooks' SQL API (http_webhook_api.c). The HTTP worker does the sending.

CREATE FUNCTION helpdesk.upsert_webhook(
	tenant_id bigint, external_id text, url text, events text[],
	secret text DEFAULT NULL, retry_schedule interval[] DEFAULT NULL,
	enabled boolean DEFAULT true, description text DEFAULT NULL,
	max_in_flight integer DEFAULT NULL, timeout interval DEFAULT NULL,
	rate_limit double precision DEFAULT NULL, rate_burst integer DEFAULT NULL)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_upsert_webhook';
COMMENT ON FUNCTION helpdesk.upsert_webhook IS
	'Create or change a webhook endpoint by external id; returns its id. secret: whsec_ + base64 of 24-64 bytes, generated when NULL on create; a new one rotates (both sign for 24 hours). retry_schedule: delays before each attempt (default 0, 5s, 5min, 30min, 2h, 5h, 10h, 10h). rate_limit: requests per second (infinity: no limit), rate_burst: at once (default: the rate rounded up). NULL keeps description, max_in_flight, timeout, rate_limit, rate_burst.';

CREATE FUNCTION helpdesk.webhook_secret(tenant_id bigint, webhook_id bigint)
RETURNS text LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_webhook_secret';
COMMENT ON FUNCTION helpdesk.webhook_secret IS
	'The endpoint''s current signing secret in plain (for the admin who configures the receiver).';

CREATE FUNCTION helpdesk.redeliver(tenant_id bigint, delivery_id bigint)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_redeliver';
COMMENT ON FUNCTION helpdesk.redeliver IS
	'Send a webhook delivery again now (same webhook-id, the whole retry schedule again); HD409 while it is being sent.';

CREATE FUNCTION helpdesk.replay_webhooks(tenant_id bigint, endpoint_id bigint, from_position bigint)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- events_since's expansion: JIT would cost more than the read
SET jit = off
AS 'MODULE_PATHNAME', 'hd_replay_webhooks';
COMMENT ON FUNCTION helpdesk.replay_webhooks IS
	'New deliveries to an endpoint for the tenant''s events after from_position that its filter matches (at most 100,000 per call); returns how many.';

CREATE FUNCTION helpdesk.prune_webhook_deliveries(keep interval DEFAULT '30 days')
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_prune_webhook_deliveries';
COMMENT ON FUNCTION helpdesk.prune_webhook_deliveries(interval) IS
	'Retention of the delivery log: deletes deliveries (and their attempts) finished longer ago than keep; returns how many. Schedule with pg_cron.';
