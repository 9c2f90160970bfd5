-- The extension's objects, documentation and state machine.
\pset null '(null)'
SELECT extversion FROM pg_extension WHERE extname = 'pg_helpdesk';

-- every table and API function is documented
SELECT c.relname AS undocumented_table
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'helpdesk' AND c.relkind = 'r' AND obj_description(c.oid, 'pg_class') IS NULL;
SELECT p.proname AS undocumented_function
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'helpdesk' AND obj_description(p.oid, 'pg_proc') IS NULL;

-- API functions run as the owner with a pinned search_path
SELECT p.proname, p.prosecdef, p.proconfig
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'helpdesk' AND p.proname NOT LIKE '\_%'
ORDER BY 1;

-- the documented transition table and the C state machine agree
WITH s(state) AS (VALUES ('bot'), ('queued'), ('offered'), ('active'), ('closed'))
SELECT a.state AS from_state, b.state AS to_state,
       helpdesk.transition_allowed(a.state, b.state) AS in_c,
       t.from_state IS NOT NULL AS in_table
FROM s a CROSS JOIN s b
LEFT JOIN helpdesk.session_transition t ON t.from_state = a.state AND t.to_state = b.state
WHERE helpdesk.transition_allowed(a.state, b.state) <> (t.from_state IS NOT NULL);
SELECT count(*) AS allowed_transitions FROM helpdesk.session_transition;

-- the same for tickets
WITH s(status) AS (VALUES ('new'), ('open'), ('pending'), ('resolved'), ('closed'))
SELECT a.status AS from_status, b.status AS to_status,
       helpdesk.ticket_transition_allowed(a.status, b.status) AS in_c,
       t.from_status IS NOT NULL AS in_table
FROM s a CROSS JOIN s b
LEFT JOIN helpdesk.ticket_transition t ON t.from_status = a.status AND t.to_status = b.status
WHERE helpdesk.ticket_transition_allowed(a.status, b.status) <> (t.from_status IS NOT NULL);
SELECT count(*) AS allowed_ticket_transitions FROM helpdesk.ticket_transition;

-- pg_dump keeps the data
SELECT count(*) AS dumped_tables FROM pg_extension e, unnest(e.extconfig) WHERE e.extname = 'pg_helpdesk';

-- settings
SELECT name, setting, context FROM pg_settings WHERE name LIKE 'helpdesk.%' ORDER BY 1;

-- helper used by the following files: wait until the publisher has numbered everything
CREATE FUNCTION public.wait_for_publisher() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1..1000 LOOP
		IF helpdesk.publisher_lag() = 0 THEN
			RETURN true;
		END IF;
		PERFORM pg_sleep(0.01);
	END LOOP;
	RETURN false;
END $$;

SELECT kind, state, pid IS NOT NULL AS running FROM helpdesk.worker_status();
