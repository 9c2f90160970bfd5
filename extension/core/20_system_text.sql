-- Texts the system sends to customers (the idle warning), per tenant and
-- language. Built-in zh-CN and en texts live in C (system_text.c); rows here
-- override them or add languages.

ALTER TABLE helpdesk.tenant
	ADD COLUMN default_language text NOT NULL DEFAULT 'zh-cn'
		CHECK (default_language ~ '^[a-z]{2,3}(-[a-z0-9]{1,8})*$' AND length(default_language) <= 35);
COMMENT ON COLUMN helpdesk.tenant.default_language IS
	'Language of system texts for customers whose own language has no text (lowercase; default zh-cn).';

CREATE TABLE helpdesk.system_text (
	tenant_id  bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	key        text NOT NULL CHECK (key IN ('idle_warning', 'autoclose_resolve_warning',
	           'autoclose_close_warning', 'autoclose_pending', 'autoclose_replied',
	           'autoclose_resolved', 'csat_request')),
	language   text NOT NULL
	           CHECK (language ~ '^[a-z]{2,3}(-[a-z0-9]{1,8})*$' AND length(language) <= 35),
	body       text NOT NULL CHECK (length(body) BETWEEN 1 AND 1000),
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, key, language)
);
COMMENT ON TABLE helpdesk.system_text IS
	'A tenant''s own wording of a system text in one language (placeholders {duration}, {minutes}, {seconds}); overrides the built-in zh-CN/en text.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.system_text', '');

CREATE FUNCTION helpdesk.set_system_text(tenant_id bigint, key text, language text, body text)
RETURNS void LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_set_system_text';
COMMENT ON FUNCTION helpdesk.set_system_text IS
	'Set the tenant''s text for a system message key (idle_warning, autoclose_resolve_warning, autoclose_close_warning, autoclose_pending, autoclose_replied, autoclose_resolved, csat_request) in a language; body NULL removes it (the built-in text applies again).';

CREATE FUNCTION helpdesk.set_tenant_language(tenant_id bigint, default_language text)
RETURNS void LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_set_tenant_language';
COMMENT ON FUNCTION helpdesk.set_tenant_language IS
	'The language of system texts for customers whose own language has none (lowercase; default zh-cn).';

CREATE FUNCTION helpdesk.system_text(tenant_id bigint, key text, language text DEFAULT NULL,
	duration interval DEFAULT NULL)
RETURNS text LANGUAGE c STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_system_text_sql';
COMMENT ON FUNCTION helpdesk.system_text IS
	'The system text a customer speaking language would get, with {duration} filled in (a preview of what the dispatcher sends).';
