-- The event log: every change appended in its transaction, published in
-- commit order by the worker, readable with events_since.
\pset null '(null)'
SELECT id AS acme FROM helpdesk.tenant WHERE slug = 'acme-games' \gset
SELECT public.wait_for_publisher() AS published;

-- positions are 1..n without gaps, all published
SELECT count(*) = max(pos) AND min(pos) = 1 AS gap_free, count(DISTINCT event_id) = count(*) AS each_once,
       (SELECT count(*) FROM helpdesk.event) - count(*) AS unpublished, helpdesk.publisher_lag() AS lag
FROM helpdesk.event_positions;
SELECT helpdesk.event_position() = (SELECT max(pos) FROM helpdesk.event_positions) AS cursor_matches;

-- what the earlier files did, as a relay sees it
SELECT type, audience, payload - 'queue_id' AS payload, message->>'sender_kind' AS sender, message->>'body' AS body
FROM helpdesk.events_since(0, 1000, :acme) WHERE type <> 'queue.position' ORDER BY pos LIMIT 12;
-- (queue.position events come from the dispatcher on its own clock: left out)
SELECT type, count(*) FROM helpdesk.events_since(0, 1000) WHERE type <> 'queue.position'
GROUP BY type ORDER BY type;

-- paging by position
SELECT helpdesk.event_position() AS top \gset
SELECT count(*) AS page FROM helpdesk.events_since(:top - 3, 2);
SELECT count(*) AS nothing_new FROM helpdesk.events_since(:top);

-- a rolled-back transaction leaves no event
SELECT helpdesk.upsert_customer(:acme, 'rollback-test') AS rc \gset
BEGIN;
SELECT session_id AS rs FROM helpdesk.start_session(:acme, :rc, first_message => 'never seen') \gset
ROLLBACK;
SELECT public.wait_for_publisher() AS published;
SELECT count(*) AS rolled_back_events FROM helpdesk.events_since(:top) WHERE session_id = :rs;

-- reading on from a position gets exactly what committed since (see the
-- isolation spec event_commit_order for out-of-order commits)
SELECT session_id AS cs FROM helpdesk.start_session(:acme, :rc) \gset
SELECT public.wait_for_publisher() AS published;
-- (queue.position events come from the dispatcher's clock, whenever it runs)
SELECT type, session_id = :cs AS this_session FROM helpdesk.events_since(:top)
WHERE type <> 'queue.position' ORDER BY pos;

-- the dispatcher's first position push for every waiting session (also
-- those of the earlier files) is published before the reads and the
-- prune below count events
CREATE FUNCTION public.wait_for_positions() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1..1000 LOOP
		IF NOT EXISTS (SELECT 1 FROM helpdesk.session WHERE state = 'queued' AND queue_position IS NULL)
		   AND helpdesk.publisher_lag() = 0 THEN
			RETURN true;
		END IF;
		PERFORM pg_sleep(0.01);
	END LOOP;
	RETURN false;
END $$;
SELECT public.wait_for_positions() AS positioned;

-- a relay's read goes by index whatever the log's size: no scan of the
-- whole event, message or session table for a few new rows
SELECT count(helpdesk.post_message(:acme, :cs, 'customer', :rc, 'bulk ' || g)) AS bulk
FROM generate_series(1, 3000) g;
SELECT public.wait_for_publisher() AS published;
ANALYZE helpdesk.event;
ANALYZE helpdesk.message;
-- (pg_stat_xact_* also counts this backend's scans not yet reported: compare,
-- inside one transaction, so that no flush of the backend's counters between
-- two statements makes the difference negative)
BEGIN;
CREATE TEMP VIEW seq_scans AS
SELECT relname, seq_scan FROM pg_stat_xact_user_tables
WHERE relid IN ('helpdesk.event'::regclass, 'helpdesk.message'::regclass,
                'helpdesk.session'::regclass);
CREATE TEMP TABLE scans_before AS SELECT * FROM seq_scans;
SELECT helpdesk.event_position() AS top \gset
SELECT count(*) AS read, count(message) AS with_message FROM helpdesk.events_since(:top - 5, 2000);
SELECT count(*) AS read FROM helpdesk.events_since(:top - 3000, 20);
SELECT count(*) AS read, count(customer_id) AS with_customer FROM helpdesk.bridge_events(:top - 5, 2000);
SELECT relname, a.seq_scan - coalesce(b.seq_scan, 0) AS seq_scans_by_the_reads
FROM seq_scans a LEFT JOIN scans_before b USING (relname) ORDER BY relname;
DROP VIEW seq_scans;
DROP TABLE scans_before;
COMMIT;

-- bad arguments
SELECT * FROM helpdesk.events_since(NULL);
SELECT * FROM helpdesk.events_since(0, 0);
SELECT * FROM helpdesk.events_since(-1);
SELECT * FROM helpdesk.events_since(0, 10, 999999);

-- retention: old events go, a reader behind them is told so
SELECT helpdesk.event_position() AS top \gset
SELECT helpdesk.prune_events('0 s') > 0 AS pruned;
SELECT count(*) AS events_left, (SELECT count(*) FROM helpdesk.event_batch) AS batches_left FROM helpdesk.event;
DO $$
BEGIN
	PERFORM * FROM helpdesk.events_since(0);
EXCEPTION WHEN SQLSTATE 'HD416' THEN
	RAISE NOTICE 'HD416: %', regexp_replace(SQLERRM, '[0-9]+', 'N', 'g');
END $$;
SELECT count(*) AS from_current FROM helpdesk.events_since(:top);
SELECT helpdesk.prune_events(NULL);
SELECT helpdesk.upsert_agent(:acme, 'after-prune', 'After Prune') > 0 AS still_appending;
SELECT public.wait_for_publisher() AS published;
SELECT type FROM helpdesk.events_since(:top);

-- the worker
SELECT kind, state, pid IS NOT NULL AS running FROM helpdesk.worker_status();
SELECT count(*) AS publisher_processes FROM pg_stat_activity
WHERE backend_type = 'pg_helpdesk publisher' AND datname = current_database();
