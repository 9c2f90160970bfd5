-- pg_dump keeps configuration and data of these tables (and their sequences).
SELECT pg_catalog.pg_extension_config_dump('helpdesk.tenant', '');
SELECT pg_catalog.pg_extension_config_dump('helpdesk.agent', '');
SELECT pg_catalog.pg_extension_config_dump('helpdesk.queue', '');
SELECT pg_catalog.pg_extension_config_dump('helpdesk.customer', '');
SELECT pg_catalog.pg_extension_config_dump('helpdesk.session', '');
SELECT pg_catalog.pg_extension_config_dump('helpdesk.message', '');
SELECT pg_catalog.pg_extension_config_dump('helpdesk.event', '');
-- event_cursor is not dumped: CREATE EXTENSION makes its row (and a new log
-- identity). Positions and the log identity travel in event_batch; the
-- publisher notices restored batches and rebuilds its state from them.
SELECT pg_catalog.pg_extension_config_dump('helpdesk.event_batch', '');
SELECT pg_catalog.pg_extension_config_dump('helpdesk.tenant_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('helpdesk.agent_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('helpdesk.queue_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('helpdesk.customer_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('helpdesk.session_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('helpdesk.message_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('helpdesk.event_id_seq', '');

-- EXECUTE grants: extension/access.sql (nothing for PUBLIC but what its matrix says).

-- Start this database's workers as soon as CREATE EXTENSION commits.
SELECT helpdesk._activate();
