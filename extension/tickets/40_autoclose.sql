-- Auto-close: per-tenant rules that resolve or close tickets nobody moves,
-- scheduled as one indexed due time on the ticket (recomputed by the
-- auto-close observer on every ticket change, autoclose.c) and fired by the
-- dispatcher's auto-close stage (autoclose_stage.c).

CREATE TABLE helpdesk.autoclose_setting (
	tenant_id   bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	rule        text NOT NULL CHECK (rule IN ('pending', 'replied', 'resolved')),
	enabled     boolean NOT NULL,
	close_after interval NOT NULL CHECK (close_after >= '1 second'),
	warn_before interval CHECK (warn_before > '0 seconds' AND warn_before < close_after),
	updated_at  timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, rule)
);
COMMENT ON TABLE helpdesk.autoclose_setting IS
	'A tenant''s auto-close rules; a rule without a row has its default: pending 72 hours, replied 24 hours, resolved 4 days, enabled, no warning.';
COMMENT ON COLUMN helpdesk.autoclose_setting.rule IS
	'pending: a pending ticket with no customer reply is resolved; replied: an open ticket whose last public message is the agent''s is resolved; resolved: a resolved ticket is closed.';
COMMENT ON COLUMN helpdesk.autoclose_setting.close_after IS
	'How long the ticket must stay untouched (since it became pending or an agent last replied; since the agent''s last reply; since it was resolved).';
COMMENT ON COLUMN helpdesk.autoclose_setting.warn_before IS
	'When set, the customer is warned this long before (a system entry on the thread); NULL: no warning.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.autoclose_setting', '');

ALTER TABLE helpdesk.ticket
	ADD COLUMN autoclose_rule text CHECK (autoclose_rule IN ('pending', 'replied', 'resolved')),
	ADD COLUMN autoclose_since timestamptz,
	ADD COLUMN autoclose_due_at timestamptz,
	ADD COLUMN autoclose_warned boolean NOT NULL DEFAULT false,
	ADD COLUMN autoclose_at timestamptz,
	ADD COLUMN autoclose_error text,
	ADD CONSTRAINT ticket_autoclose_scheduled
		CHECK ((autoclose_rule IS NULL) = (autoclose_due_at IS NULL)
		       AND (autoclose_at IS NULL OR autoclose_rule IS NOT NULL));
-- the auto-close stage's only access path: the earliest due times first
CREATE INDEX ticket_autoclose_due ON helpdesk.ticket (autoclose_at)
	WHERE autoclose_at IS NOT NULL;
COMMENT ON COLUMN helpdesk.ticket.autoclose_rule IS
	'The auto-close rule that applies to the ticket now (pending, replied, resolved), or NULL.';
COMMENT ON COLUMN helpdesk.ticket.autoclose_since IS
	'Since when the rule''s silence counts (becoming pending or the agent''s last reply; the agent''s last reply; resolved_at).';
COMMENT ON COLUMN helpdesk.ticket.autoclose_due_at IS 'When the rule resolves or closes the ticket.';
COMMENT ON COLUMN helpdesk.ticket.autoclose_warned IS 'Whether the warning before autoclose_due_at was sent.';
COMMENT ON COLUMN helpdesk.ticket.autoclose_at IS
	'When the dispatcher acts next: the warning, then autoclose_due_at (NULL: nothing scheduled).';
COMMENT ON COLUMN helpdesk.ticket.autoclose_error IS
	'Why the last auto-close of this ticket failed (retried a minute later; cleared by the next change).';

CREATE FUNCTION helpdesk.set_autoclose(tenant_id bigint, rule text, enabled boolean DEFAULT NULL,
	close_after interval DEFAULT NULL, warn_before interval DEFAULT NULL)
RETURNS void LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_set_autoclose';
COMMENT ON FUNCTION helpdesk.set_autoclose IS
	'Set a tenant''s auto-close rule (pending, replied, resolved): on or off, after how long, and the warning before (0 removes it); NULL keeps the stored value. Open tickets take the new setting at their next change.';

CREATE FUNCTION helpdesk.autoclose_settings(tenant_id bigint)
RETURNS TABLE (rule text, enabled boolean, close_after interval, warn_before interval)
LANGUAGE c STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_autoclose_settings';
COMMENT ON FUNCTION helpdesk.autoclose_settings IS
	'The tenant''s three auto-close rules as they apply (defaults filled in).';

CREATE FUNCTION helpdesk._autoclose_pass(now timestamptz DEFAULT NULL, max_rows integer DEFAULT 200)
RETURNS integer LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_autoclose_pass_sql';
COMMENT ON FUNCTION helpdesk._autoclose_pass IS
	'Internal (the dispatcher runs it): fire the auto-close warnings and closes due at now (default: the clock). For tests and manual catch-up; returns how many it fired.';
