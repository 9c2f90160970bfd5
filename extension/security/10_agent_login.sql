-- Agents logging in (agent_login.c, password.c): roles inside a tenant, the
-- password hashes apart from the agent table, lockout counted in the
-- database (shared by every bridge), and the token version that revokes
-- login tokens.

ALTER TABLE helpdesk.agent
	ADD COLUMN role text NOT NULL DEFAULT 'agent'
		CHECK (role IN ('admin', 'supervisor', 'agent', 'qa')),
	ADD COLUMN token_version bigint NOT NULL DEFAULT 1 CHECK (token_version >= 1);
COMMENT ON COLUMN helpdesk.agent.role IS
	'The agent''s role in its tenant: admin, supervisor, agent or qa (reads transcripts and scores; the SQL API refuses its posts, offers, claims, transfers, closes and ticket writes with 42501 and the dispatcher never offers it a chat). Carried in its login tokens.';
COMMENT ON COLUMN helpdesk.agent.token_version IS
	'Carried in login tokens (claim ver); logout_agent, a new password, a role change and disabling bump it, which revokes the older tokens.';
-- routing's view of agents (routing/00_schema.sql) hears of role changes too
CREATE TRIGGER agent_routing_role AFTER UPDATE OF role ON helpdesk.agent
	FOR EACH ROW WHEN (OLD.role IS DISTINCT FROM NEW.role)
	EXECUTE FUNCTION helpdesk._agent_routing_changed();

CREATE TABLE helpdesk.agent_credential (
	tenant_id       bigint NOT NULL,
	agent_id        bigint NOT NULL,
	algorithm       text NOT NULL DEFAULT 'pbkdf2-sha256' CHECK (algorithm = 'pbkdf2-sha256'),
	iterations      integer NOT NULL CHECK (iterations >= 1000),
	salt            bytea NOT NULL CHECK (length(salt) BETWEEN 16 AND 64),
	hash            bytea NOT NULL CHECK (length(hash) = 32),
	failed_attempts integer NOT NULL DEFAULT 0 CHECK (failed_attempts BETWEEN 0 AND 100),
	locked_until    timestamptz,
	last_failed_at  timestamptz,
	last_login_at   timestamptz,
	password_changed_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, agent_id),
	FOREIGN KEY (tenant_id, agent_id) REFERENCES helpdesk.agent (tenant_id, id) ON DELETE CASCADE
);
COMMENT ON TABLE helpdesk.agent_credential IS
	'An agent''s password hash (PBKDF2-HMAC-SHA256) and login failures; kept apart from helpdesk.agent so that readers of agents never see hashes.';
COMMENT ON COLUMN helpdesk.agent_credential.iterations IS
	'PBKDF2 iterations this hash was made with (helpdesk.password_iterations at the time); agent_login rehashes at the current setting after a successful login.';
COMMENT ON COLUMN helpdesk.agent_credential.failed_attempts IS
	'Wrong passwords in a row since the last success or lockout; the fifth locks the agent out for 15 minutes and resets it.';
COMMENT ON COLUMN helpdesk.agent_credential.locked_until IS
	'While in the future, agent_login answers locked without checking the password.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.agent_credential', '');

-- disabling an agent revokes its login tokens (routing's upsert_agent writes the row)
CREATE FUNCTION helpdesk._agent_disable_bump() RETURNS trigger
LANGUAGE c AS 'MODULE_PATHNAME', 'hd_agent_disable_bump';
COMMENT ON FUNCTION helpdesk._agent_disable_bump() IS
	'Trigger: bumps agent.token_version when an agent is disabled, so its login tokens are refused.';
CREATE TRIGGER agent_disable_revokes BEFORE UPDATE OF enabled ON helpdesk.agent
	FOR EACH ROW WHEN (OLD.enabled AND NOT NEW.enabled)
	EXECUTE FUNCTION helpdesk._agent_disable_bump();

CREATE FUNCTION helpdesk.set_agent_role(tenant_id bigint, agent_id bigint, role text)
RETURNS void LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_set_agent_role';
COMMENT ON FUNCTION helpdesk.set_agent_role IS
	'Sets the agent''s role in its tenant (admin, supervisor, agent, qa); a change revokes its login tokens (agent.revoked); becoming qa gives back its offers and chats to their queues.';

CREATE FUNCTION helpdesk.set_agent_password(tenant_id bigint, agent_id bigint, password text)
RETURNS void LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_set_agent_password';
COMMENT ON FUNCTION helpdesk.set_agent_password IS
	'Stores a PBKDF2-HMAC-SHA256 hash of the password (10 characters to 1024 bytes; fresh 16-byte salt; helpdesk.password_iterations), clears failures and lockout, revokes the agent''s login tokens. NULL removes the credential. Pass the password as a bind parameter.';

CREATE FUNCTION helpdesk.agent_login(tenant_slug text, external_id text, password text,
	ttl interval DEFAULT '12 hours',
	OUT token text, OUT expires_at timestamptz, OUT agent_id bigint, OUT role text,
	OUT reason text, OUT retry_after interval)
RETURNS record LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_agent_login';
COMMENT ON FUNCTION helpdesk.agent_login IS
	'A login token (kind agent for role agent; kind supervisor, which sees the whole tenant, for admin, supervisor and qa, whose writes the bridge and the API refuse; claims role and ver) or, with token NULL, reason bad_credentials or locked (retry_after). Never raises for a wrong login, so the failure count commits; 5 failures lock the agent for 15 minutes.';

CREATE FUNCTION helpdesk.logout_agent(tenant_id bigint, agent_id bigint)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_logout_agent';
COMMENT ON FUNCTION helpdesk.logout_agent IS
	'Revokes every login token of the agent (bumps its token version, appends agent.revoked); returns the new version.';

COMMENT ON FUNCTION helpdesk.verify_token IS
	'The claims of a valid, unexpired token of issue_token, agent_login or issue_bot_token (signed with helpdesk.token_secret, or helpdesk.token_secret_previous during a rotation); a login token also needs the agent enabled and its token version current, a bot token its bot enabled, a webhook bot and at its token version. Raises 28000 otherwise.';
