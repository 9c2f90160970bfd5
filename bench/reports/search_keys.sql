-- bench/reports_data.sh: the search keys of every tenant's messages, as
-- rebuild_search_index makes them (the same search_tokens as index_messages),
-- into a message_search TRUNCATEd in this transaction (no WAL under
-- wal_level = minimal), its indexes but the primary key made after the rows.
\set ON_ERROR_STOP 1
SET synchronous_commit = off;
SET maintenance_work_mem = '1GB';
BEGIN;
TRUNCATE helpdesk.message_search;
CREATE TEMP TABLE search_ddl AS
SELECT pg_get_indexdef(i.indexrelid) || ';' ||
       coalesce(format(' COMMENT ON INDEX %s IS %L;', i.indexrelid::regclass, obj_description(i.indexrelid, 'pg_class')), '') AS redo,
       format('DROP INDEX %s', i.indexrelid::regclass) AS undo
FROM pg_index i
WHERE i.indrelid = 'helpdesk.message_search'::regclass
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid);
SELECT undo FROM search_ddl \gexec
SELECT sum(helpdesk.rebuild_search_index(id)) AS keyed FROM helpdesk.tenant;
SELECT redo FROM search_ddl \gexec
COMMIT;
VACUUM ANALYZE helpdesk.message_search;
