-- player_call: one signed player API request in one round trip. The bridge
-- forwards method, path with query, headers, raw body, the {} of the path
-- and the query arguments; this verifies the signature (verify_signed_request),
-- counts the request per app and per player (rate_limit_hit: a refusal is an
-- answer, 429, so the counters and the nonce commit), then does the route's
-- action with the existing API functions. Errors of the action raise with
-- their SQLSTATE (the bridge maps them to HTTP). In C: player_call.c,
-- player_routes.c, upload_attachment.c.

CREATE FUNCTION helpdesk._upload_attachment(tenant_id bigint, attachment jsonb, base_url text)
RETURNS jsonb LANGUAGE c STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_upload_attachment_sql';
COMMENT ON FUNCTION helpdesk._upload_attachment(bigint, jsonb, text) IS
	'An attachment {"upload_id": …} completed from the upload of the tenant (HD404 if none): url (the bridge''s stable /api/v1/uploads/<id>, which redirects a token holder to a signed URL), name, mime, size. Other attachments unchanged.';

CREATE FUNCTION helpdesk.player_call(route text, method text, path_with_query text,
	headers jsonb, body bytea, id bigint DEFAULT NULL, args jsonb DEFAULT '{}',
	OUT status integer, OUT answer jsonb, OUT retry_after integer, OUT tenant_id bigint)
RETURNS record LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_player_call';
COMMENT ON FUNCTION helpdesk.player_call(text, text, text, jsonb, bytea, bigint, jsonb) IS
	'One signed player API request (helpdesk-bridge''s /api/v1/player/*): verify_signed_request, rate_limit_hit per app and player (status 429 and retry_after, not an error), then the route (ws-token, session-start, session-get, message, upload, ticket-create, ticket-list, ticket-reply, csat) for the player named by player_id (query or body), who may only see and post to their own sessions and tickets. Returns the HTTP status and JSON answer; other refusals raise (HDA00-HDA04, HD404, 22023, HD415, 54000).';
