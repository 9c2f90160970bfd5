-- The player HTTP API's database side (app.c, signed_request.c,
-- rate_limit.c, nonce_prune.c): game apps with their secrets sealed, the
-- nonces seen within the replay window, and request counters shared by
-- every bridge. helpdesk-bridge only forwards requests to these functions.

CREATE TABLE helpdesk.api_app (
	tenant_id     bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	app_id        text NOT NULL CHECK (app_id ~ '^[A-Za-z0-9_.-]{3,64}$'),
	name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
	secret_sealed bytea NOT NULL,
	rate_per_minute integer NOT NULL DEFAULT 6000 CHECK (rate_per_minute BETWEEN 1 AND 10000000),
	player_rate_per_minute integer NOT NULL DEFAULT 200
	              CHECK (player_rate_per_minute BETWEEN 1 AND 1000000),
	revoked_at    timestamptz,
	created_at    timestamptz NOT NULL DEFAULT now(),
	updated_at    timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, app_id),
	UNIQUE (app_id)
);
COMMENT ON TABLE helpdesk.api_app IS
	'A game server or backend that calls the signed player API for a tenant (several per tenant). The app id is unique across tenants: a request names only its app.';
COMMENT ON COLUMN helpdesk.api_app.secret_sealed IS
	'The signing secret, AES-256-GCM under helpdesk.encryption_key_file with the tenant and app id as associated data; only upsert_app''s answer shows it.';
COMMENT ON COLUMN helpdesk.api_app.rate_per_minute IS
	'Requests per minute of the whole app (rate_limit_hit, sliding window shared by every bridge).';
COMMENT ON COLUMN helpdesk.api_app.player_rate_per_minute IS
	'Requests per minute of one player through this app (default 200).';
COMMENT ON COLUMN helpdesk.api_app.revoked_at IS
	'Set by revoke_app: its requests are refused as unknown_app from then on; upsert_app makes it usable again with a new secret.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.api_app', '');

-- No foreign key and no CHECK: written once per signed request, by
-- verify_signed_request only, after it checked the nonce's form and found the
-- app; a foreign key's check (and its share lock on the app's row, taken by
-- every request of the app) and a regular expression per row were half of
-- the verification's cost. Rows of a deleted app are pruned like any other.
CREATE TABLE helpdesk.api_nonce (
	tenant_id bigint NOT NULL,
	app_id    text NOT NULL,
	nonce     text NOT NULL,
	seen_at   timestamptz NOT NULL,
	PRIMARY KEY (tenant_id, app_id, nonce)
);
CREATE INDEX api_nonce_seen ON helpdesk.api_nonce (seen_at);
COMMENT ON TABLE helpdesk.api_nonce IS
	'Nonces of accepted signed requests: the primary key refuses a second use, also from another bridge. Kept 600 s (twice the 300 s window); older ones are pruned as requests come (and by prune_player_api).';
-- not dumped: a nonce outlives its usefulness within ten minutes

CREATE UNLOGGED TABLE helpdesk.api_rate (
	tenant_id    bigint NOT NULL,
	app_id       text NOT NULL,
	scope        text NOT NULL CHECK (scope IN ('app', 'player')),
	key          text NOT NULL CHECK (length(key) <= 200),
	window_start bigint NOT NULL,
	hits         integer NOT NULL DEFAULT 0 CHECK (hits >= 0),
	prev_hits    integer NOT NULL DEFAULT 0 CHECK (prev_hits >= 0),
	PRIMARY KEY (tenant_id, app_id, scope, key),
	FOREIGN KEY (tenant_id, app_id) REFERENCES helpdesk.api_app (tenant_id, app_id) ON DELETE CASCADE
);
CREATE INDEX api_rate_window ON helpdesk.api_rate (window_start);
COMMENT ON TABLE helpdesk.api_rate IS
	'Request counters of rate_limit_hit per app and per player: this minute''s and the previous minute''s hits (a sliding window). Unlogged: counters need not survive a crash. Idle ones are pruned as requests come (and by prune_player_api).';
COMMENT ON COLUMN helpdesk.api_rate.key IS
	'The app id (scope app) or the player''s external id (scope player).';
COMMENT ON COLUMN helpdesk.api_rate.window_start IS
	'Start of the minute hits counts, in Unix seconds (a multiple of 60).';
-- not dumped: counters of the last two minutes

CREATE FUNCTION helpdesk.upsert_app(tenant_id bigint, app_id text, name text,
	secret text DEFAULT NULL, rate_per_minute integer DEFAULT NULL,
	player_rate_per_minute integer DEFAULT NULL)
RETURNS text LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_upsert_app';
COMMENT ON FUNCTION helpdesk.upsert_app IS
	'Creates or updates a player API app and returns its secret: the given one (32 to 256 printable ASCII characters) or, when NULL, 32 random bytes as 64 hex digits. Stored sealed (helpdesk.encryption_key_file); a revoked app becomes usable again.';

CREATE FUNCTION helpdesk.revoke_app(tenant_id bigint, app_id text)
RETURNS boolean LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_revoke_app';
COMMENT ON FUNCTION helpdesk.revoke_app IS
	'Refuses the app''s signed requests from now on (unknown_app); true when it was usable until now.';

CREATE FUNCTION helpdesk.verify_signed_request(method text, path_with_query text,
	app text, "timestamp" text, nonce text, signature text, body bytea,
	OUT tenant_id bigint, OUT app_id text)
RETURNS record LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_verify_signed_request';
COMMENT ON FUNCTION helpdesk.verify_signed_request(text, text, text, text, text, text, bytea) IS
	'Checks a signed player API request: X-HD-Signature = lowercase hex HMAC-SHA256(app secret, METHOD \n PATH_WITH_QUERY \n TIMESTAMP \n NONCE \n hex SHA-256(body)), timestamp within 300 s of now, nonce (16-64 of [A-Za-z0-9_-]) used once per app. Returns the tenant and app; raises HDA00 malformed_request, HDA01 bad_signature, HDA02 stale_timestamp, HDA03 replayed_nonce, HDA04 unknown_app.';

CREATE FUNCTION helpdesk.verify_signed_request(method text, path_with_query text,
	headers jsonb, body bytea, OUT tenant_id bigint, OUT app_id text)
RETURNS record LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_verify_signed_request_headers';
COMMENT ON FUNCTION helpdesk.verify_signed_request(text, text, jsonb, bytea) IS
	'verify_signed_request with the request''s headers as a JSON object of strings (names in any case: X-HD-App, X-HD-Timestamp, X-HD-Nonce, X-HD-Signature); a missing one is HDA00.';

CREATE FUNCTION helpdesk.rate_limit_hit(tenant_id bigint, app_id text, player text DEFAULT NULL,
	OUT allowed boolean, OUT retry_after interval, OUT scope text)
RETURNS record LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_rate_limit_hit';
COMMENT ON FUNCTION helpdesk.rate_limit_hit IS
	'Counts one request of the app (and of the player, when given) against api_app.rate_per_minute and player_rate_per_minute over a sliding minute shared by every bridge. Refused requests are not counted; retry_after (whole seconds) says when one would pass, scope which limit refused it.';

CREATE FUNCTION helpdesk.prune_player_api(OUT nonces bigint, OUT counters bigint)
RETURNS record LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_prune_player_api';
COMMENT ON FUNCTION helpdesk.prune_player_api() IS
	'Deletes the nonces older than 600 s and the rate counters idle for two minutes; returns how many. verify_signed_request and rate_limit_hit prune as they go; schedule this with pg_cron for quiet periods.';
