-- bench/dispatch.sh: the workload both routers get (agents, queues, customers),
-- a run marker table and the measurement functions. psql variables: customers,
-- agents.
CREATE SCHEMA bench;

-- :agents (1,000 unless BENCH_AGENTS) agents over 20 skills: 2-4 skills each (level 1..10), 1-2 languages,
-- capacity 500..1000 (sessions are never closed during a run, so capacity
-- must outlast it). Deterministic (setseed), the same for both routers.
SELECT setseed(0.42);
CREATE TABLE bench.agent_def AS
SELECT i,
       'a' || i AS external_id,
       (SELECT jsonb_object_agg('s' || lpad(k::text, 2, '0'), 1 + floor(random() * 10)::int)
        FROM (SELECT k FROM generate_series(1, 20) k WHERE i > 0 ORDER BY random() LIMIT 2 + i % 3) x)
           AS skills,
       500 + (i * 37) % 501 AS max_sessions
FROM generate_series(1, :agents) i;
ALTER TABLE bench.agent_def ADD COLUMN languages text[];
UPDATE bench.agent_def SET languages =
	(SELECT array_agg(DISTINCT l) FROM (VALUES
		((ARRAY['en','en','en','es','de','fr','pt'])[1 + (i * 7919) % 7]),
		(CASE WHEN i % 2 = 0 THEN (ARRAY['en','es','de','fr','pt'])[1 + (i * 104729) % 5] END)) v(l)
	 WHERE l IS NOT NULL);

-- 20 queues, one skill each; every fifth also needs a language.
CREATE TABLE bench.queue_def AS
SELECT k,
       'q' || lpad(k::text, 2, '0') AS external_id,
       ARRAY['s' || lpad(k::text, 2, '0')] AS required_skills,
       CASE k WHEN 5 THEN '{es}'::text[] WHEN 10 THEN '{de}' WHEN 15 THEN '{fr}'
              WHEN 20 THEN '{es,pt}' ELSE '{}' END AS required_languages
FROM generate_series(1, 20) k;

-- Every queue needs enough eligible agents.
DO $$
DECLARE r record;
BEGIN
	FOR r IN
		SELECT q.k, count(a.i) AS n FROM bench.queue_def q
		LEFT JOIN bench.agent_def a ON a.skills ?& q.required_skills
		     AND (cardinality(q.required_languages) = 0 OR a.languages && q.required_languages)
		GROUP BY q.k ORDER BY q.k
	LOOP
		IF r.n < 10 THEN RAISE EXCEPTION 'queue % has only % eligible agents', r.k, r.n; END IF;
	END LOOP;
END $$;

-- When a drain run's agents came online (the commit timestamp of the row).
CREATE TABLE bench.mark (id serial PRIMARY KEY, what text, at timestamptz DEFAULT clock_timestamp());

-- Enqueue and assignment commit times of every session of the current run.
-- Both come from rows the routers never update, so xmin is the committing
-- transaction.
CREATE FUNCTION bench.timeline(sys text)
RETURNS TABLE (session_id bigint, enq_ts timestamptz, asg_ts timestamptz)
LANGUAGE plpgsql AS $$
BEGIN
	-- one pass and an aggregate: the planner cannot estimate the payload
	-- filters, and a join of the two sides would risk a nested loop
	IF sys = 'ours' THEN
		RETURN QUERY
		SELECT e.session_id,
		       min(pg_xact_commit_timestamp(e.xmin)) FILTER (WHERE e.payload ->> 'to' = 'queued'
		                                                   AND e.payload ->> 'from' IS NULL),
		       min(pg_xact_commit_timestamp(e.xmin)) FILTER (WHERE e.payload ->> 'to' = 'active')
		FROM helpdesk.event e
		WHERE e.type = 'session.state' AND e.audience = 'session'
		GROUP BY e.session_id
		HAVING count(*) FILTER (WHERE e.payload ->> 'to' = 'queued' AND e.payload ->> 'from' IS NULL) > 0;
	ELSE
		RETURN QUERY
		SELECT u.session_id, min(u.ts) FILTER (WHERE u.enq), min(u.ts) FILTER (WHERE NOT u.enq)
		FROM (SELECT e.session_id, pg_xact_commit_timestamp(e.xmin) AS ts, true AS enq
		      FROM peer.session_event e WHERE e.to_state = 'queued' AND e.from_state IS NULL
		      UNION ALL
		      SELECT x.session_id, pg_xact_commit_timestamp(x.xmin), false FROM peer.assignment x) u
		GROUP BY u.session_id
		HAVING bool_or(u.enq);
	END IF;
END $$;

-- One line of measurements, '|'-separated:
--   enqueued | window_s | enq_per_s | asg_in_window | asg_per_s | backlog_at_window_end
--   | left_now | p50_ms | p99_ms | max_ms | p99_ms_with_warmup
-- mode 'load': the window runs from the first enqueue commit + warmup to the
--   last enqueue commit; asg_per_s = assignments committed inside it / its
--   length. Latency is over every session enqueued inside the window, an
--   unassigned one counting as infinite; the last field is the p99 over every
--   session of the run, warm-up included (each run starts from emptied
--   tables, so its first seconds replan and refill caches).
-- mode 'drain': the window runs from the commit of the last bench.mark row
--   (all agents online) to the last assignment commit; asg_per_s =
--   assignments / that time; latencies are not meaningful (all queued at once).
-- Assignments committed after cutoff (the end of the drain wait) count as
-- not made: pg_helpdesk's dispatcher cannot be stopped, the peer's workers are.
CREATE FUNCTION bench.stats(sys text, mode text, cutoff timestamptz,
                            warmup interval DEFAULT '0 s')
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	w0 timestamptz; w1 timestamptz; secs float8;
	n_enq bigint; n_in bigint; n_left bigint; n_asg bigint;
	p50 float8; p99 float8; pmax float8; p99_all float8;
BEGIN
	-- the tables were analyzed empty at the reset; without fresh statistics
	-- the planner joins a run's events with nested loops
	IF sys = 'ours' THEN
		ANALYZE helpdesk.event;
	ELSE
		ANALYZE peer.session_event;
		ANALYZE peer.assignment;
	END IF;
	CREATE TEMP TABLE tl ON COMMIT DROP AS
		SELECT t.session_id, t.enq_ts, CASE WHEN t.asg_ts <= cutoff THEN t.asg_ts END AS asg_ts
		FROM bench.timeline(sys) t;
	ANALYZE tl;
	SELECT count(*), count(*) FILTER (WHERE asg_ts IS NULL), count(asg_ts)
	INTO n_enq, n_left, n_asg FROM tl;
	IF mode = 'load' THEN
		SELECT min(enq_ts) + warmup, max(enq_ts) INTO w0, w1 FROM tl;
	ELSE
		SELECT pg_xact_commit_timestamp(m.xmin) INTO w0 FROM bench.mark m ORDER BY id DESC LIMIT 1;
		SELECT max(asg_ts) INTO w1 FROM tl;
	END IF;
	secs := greatest(extract(epoch FROM w1 - w0), 1e-6);
	SELECT count(*) INTO n_in FROM tl WHERE asg_ts BETWEEN w0 AND w1;
	SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE enq_ts >= w0),
	       percentile_disc(0.99) WITHIN GROUP (ORDER BY ms) FILTER (WHERE enq_ts >= w0),
	       max(ms) FILTER (WHERE enq_ts >= w0),
	       percentile_disc(0.99) WITHIN GROUP (ORDER BY ms)
	INTO p50, p99, pmax, p99_all
	FROM (SELECT enq_ts, coalesce(extract(epoch FROM asg_ts - enq_ts) * 1000, 'Infinity'::float8) AS ms
	      FROM tl) t;
	RETURN concat_ws('|', n_enq, round(secs::numeric, 3),
	                 round((CASE WHEN mode = 'load' THEN (SELECT count(*) FROM tl WHERE enq_ts >= w0)
	                        ELSE 0 END / secs)::numeric, 1),
	                 n_in, round((n_in / secs)::numeric, 1),
	                 CASE WHEN mode = 'load' THEN (SELECT count(*) FROM tl WHERE enq_ts <= w1 AND (asg_ts IS NULL OR asg_ts > w1)) ELSE 0 END,
	                 n_left,
	                 CASE WHEN mode = 'load' THEN round(p50::numeric, 3)::text ELSE '-' END,
	                 CASE WHEN mode = 'load' THEN round(p99::numeric, 3)::text ELSE '-' END,
	                 CASE WHEN mode = 'load' THEN round(pmax::numeric, 3)::text ELSE '-' END,
	                 CASE WHEN mode = 'load' THEN round(p99_all::numeric, 3)::text ELSE '-' END);
END $$;
