-- The extension's group roles. Their own file because pg_helpdesk_proxy
-- (extension/proxy/) creates the same roles on a proxy database.

-- Group roles (NOLOGIN; grant them to your login roles). Roles belong to the
-- cluster, not to a database: a second database with the extension finds
-- them there, and DROP EXTENSION leaves them (docs/security.md).
DO $$
DECLARE
	r text;
BEGIN
	FOREACH r IN ARRAY ARRAY['helpdesk_admin', 'helpdesk_supervisor', 'helpdesk_agent',
		'helpdesk_qa', 'helpdesk_api', 'helpdesk_bridge', 'helpdesk_reader']
	LOOP
		IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
			EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
		END IF;
	END LOOP;
END
$$;
