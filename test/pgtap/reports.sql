BEGIN;
SELECT plan(61);

-- Reports: every error path of the report functions, rebuild_rollups and the
-- report settings (SQLSTATE and message), and the behaviour the e2e
-- equality test (test/e2e/reports_equality.sh) does not look at: settings
-- stored, dimensions not grouped by are NULL, a day in a +5:45 zone, the
-- dashboard views' shape.

\ir fixtures.psql

INSERT INTO fx SELECT 'ta', helpdesk.upsert_tenant('tap-rep-a', 'TAP reports A');
INSERT INTO fx SELECT 'no_tenant', coalesce(max(id), 0) + 1000000 FROM helpdesk.tenant;
INSERT INTO fx SELECT 'qa', helpdesk.upsert_queue(pg_temp.fx('ta'), 'main', 'Main', is_default => true);

------------------------------------------------------------------------------
-- settings
------------------------------------------------------------------------------
SELECT lives_ok($$SELECT helpdesk.set_report_settings(pg_temp.fx('ta'), 'Asia/Kathmandu')$$,
	'set_report_settings: a +5:45 zone is accepted');
SELECT is((SELECT time_zone FROM helpdesk.tenant WHERE id = pg_temp.fx('ta')), 'Asia/Kathmandu',
	'set_report_settings: the zone is stored');
SELECT throws_ok($$SELECT helpdesk.set_report_settings(pg_temp.fx('ta'), 'Mars/Olympus')$$,
	'22023', 'unknown time zone "Mars/Olympus"', 'set_report_settings: unknown zone');
SELECT throws_ok($$SELECT helpdesk.set_report_settings(pg_temp.fx('ta'), '')$$,
	'22023', 'time_zone must be 1 to 64 characters long, got 0', 'set_report_settings: empty zone');
SELECT throws_ok($$SELECT helpdesk.set_report_settings(pg_temp.fx('ta'), NULL)$$,
	'22004', 'time_zone must not be NULL', 'set_report_settings: NULL zone');
SELECT throws_ok($$SELECT helpdesk.set_report_settings(NULL, 'UTC')$$,
	'22004', 'tenant_id must not be NULL', 'set_report_settings: NULL tenant');
SELECT throws_ok(format('SELECT helpdesk.set_report_settings(%s, %L)', pg_temp.fx('no_tenant'), 'UTC'),
	'HD404', format('tenant %s does not exist', pg_temp.fx('no_tenant')), 'set_report_settings: unknown tenant');

SELECT lives_ok($$SELECT helpdesk.set_queue_report_settings(pg_temp.fx('ta'), pg_temp.fx('qa'), '5 s', '2 min')$$,
	'set_queue_report_settings: both values');
SELECT is((SELECT (short_abandon, service_level_threshold)::text FROM helpdesk.queue WHERE id = pg_temp.fx('qa')),
	'(00:00:05,00:02:00)', 'set_queue_report_settings: stored');
SELECT lives_ok($$SELECT helpdesk.set_queue_report_settings(pg_temp.fx('ta'), pg_temp.fx('qa'), NULL, '1 min')$$,
	'set_queue_report_settings: NULL keeps a value');
SELECT is((SELECT (short_abandon, service_level_threshold)::text FROM helpdesk.queue WHERE id = pg_temp.fx('qa')),
	'(00:00:05,00:01:00)', 'set_queue_report_settings: the other value kept');
SELECT throws_ok($$SELECT helpdesk.set_queue_report_settings(pg_temp.fx('ta'), pg_temp.fx('qa'), '2 hours')$$,
	'22023', NULL, 'set_queue_report_settings: short_abandon over an hour');
SELECT throws_ok($$SELECT helpdesk.set_queue_report_settings(pg_temp.fx('ta'), pg_temp.fx('qa'), '-1 s')$$,
	'22023', NULL, 'set_queue_report_settings: negative short_abandon');
SELECT throws_ok($$SELECT helpdesk.set_queue_report_settings(pg_temp.fx('ta'), pg_temp.fx('qa'), NULL, '0 s')$$,
	'22023', NULL, 'set_queue_report_settings: a zero threshold');
SELECT throws_ok($$SELECT helpdesk.set_queue_report_settings(pg_temp.fx('ta'), pg_temp.fx('qa'), NULL, '2 days')$$,
	'22023', NULL, 'set_queue_report_settings: a threshold over a day');
SELECT throws_ok(format('SELECT helpdesk.set_queue_report_settings(%s, %s, %L)', pg_temp.fx('ta'), pg_temp.fx('qa') + 1000, '1 s'),
	'HD404', format('queue %s does not exist in tenant %s', pg_temp.fx('qa') + 1000, pg_temp.fx('ta')),
	'set_queue_report_settings: unknown queue');
SELECT throws_ok($$SELECT helpdesk.set_queue_report_settings(pg_temp.fx('ta'), NULL)$$,
	'22004', 'queue_id must not be NULL', 'set_queue_report_settings: NULL queue');
SELECT throws_ok(format('SELECT helpdesk.set_queue_report_settings(%s, 1)', pg_temp.fx('no_tenant')),
	'HD404', format('tenant %s does not exist', pg_temp.fx('no_tenant')), 'set_queue_report_settings: unknown tenant');

------------------------------------------------------------------------------
-- report arguments (the same check for every report)
------------------------------------------------------------------------------
SELECT throws_ok($$SELECT * FROM helpdesk.report_sessions(pg_temp.fx('ta'), '2026-01-02', '2026-01-01')$$,
	'22023', 'to must be after from', 'report_sessions: to before from');
SELECT throws_ok($$SELECT * FROM helpdesk.report_sessions(pg_temp.fx('ta'), '2026-01-01', '2026-01-01')$$,
	'22023', 'to must be after from', 'report_sessions: empty range');
SELECT throws_ok($$SELECT * FROM helpdesk.report_sessions(pg_temp.fx('ta'), '2026-01-01 00:05+00', '2026-01-02')$$,
	'22023', 'from and to must be whole quarter hours', 'report_sessions: from inside a quarter hour');
SELECT throws_ok($$SELECT * FROM helpdesk.report_sessions(pg_temp.fx('ta'), '2025-01-01', '2026-03-01')$$,
	'22023', 'a report or rebuild covers at most 400 days', 'report_sessions: over 400 days');
SELECT throws_ok($$SELECT * FROM helpdesk.report_sessions(pg_temp.fx('ta'), '-infinity', '2026-03-01')$$,
	'22023', 'from and to must be finite', 'report_sessions: infinite from');
SELECT throws_ok($$SELECT * FROM helpdesk.report_sessions(pg_temp.fx('ta'), '2026-01-01', '2026-01-02', '{}', 'week')$$,
	'22023', 'invalid bucket "week"', 'report_sessions: unknown bucket');
SELECT throws_ok($$SELECT * FROM helpdesk.report_sessions(pg_temp.fx('ta'), '2026-01-01', '2026-01-02', '{customer}')$$,
	'22023', 'invalid group_by dimension "customer"', 'report_sessions: unknown dimension');
SELECT throws_ok($$SELECT * FROM helpdesk.report_sessions(pg_temp.fx('ta'), '2026-01-01', '2026-01-02', '{queue,queue}')$$,
	'22023', 'group_by names "queue" twice', 'report_sessions: a dimension twice');
SELECT throws_ok($$SELECT * FROM helpdesk.report_sessions(pg_temp.fx('ta'), '2026-01-01', '2026-01-02', ARRAY[NULL]::text[])$$,
	'22004', 'group_by must not contain NULL', 'report_sessions: a NULL dimension');
SELECT throws_ok($$SELECT * FROM helpdesk.report_sessions(pg_temp.fx('ta'), '2026-01-01', '2026-01-02', '{}', 'day', 'cache')$$,
	'22023', 'invalid source "cache"', 'report_sessions: unknown source');
SELECT throws_ok($$SELECT * FROM helpdesk.report_sessions(NULL, '2026-01-01', '2026-01-02')$$,
	'22004', 'tenant_id must not be NULL', 'report_sessions: NULL tenant');
SELECT throws_ok($$SELECT * FROM helpdesk.report_sessions(pg_temp.fx('ta'), NULL, '2026-01-02')$$,
	'22004', 'from must not be NULL', 'report_sessions: NULL from');
SELECT throws_ok($$SELECT * FROM helpdesk.report_sessions(pg_temp.fx('ta'), '2026-01-01', '2026-01-02', NULL)$$,
	'22004', 'group_by must not be NULL', 'report_sessions: NULL group_by');
SELECT throws_ok(format('SELECT * FROM helpdesk.report_sessions(%s, %L, %L)', pg_temp.fx('no_tenant'), '2026-01-01', '2026-01-02'),
	'HD404', format('tenant %s does not exist', pg_temp.fx('no_tenant')), 'report_sessions: unknown tenant');
-- each other report: its own dimensions, and the tenant check
SELECT throws_ok($$SELECT * FROM helpdesk.report_agents(pg_temp.fx('ta'), '2026-01-01', '2026-01-02', '{target}')$$,
	'22023', 'invalid group_by dimension "target"', 'report_agents: no target dimension');
SELECT throws_ok($$SELECT * FROM helpdesk.report_tickets(pg_temp.fx('ta'), '2026-01-01', '2026-01-02', '{target}')$$,
	'22023', 'invalid group_by dimension "target"', 'report_tickets: no target dimension');
SELECT throws_ok($$SELECT * FROM helpdesk.report_sla(pg_temp.fx('ta'), '2026-01-01', '2026-01-02', '{session}')$$,
	'22023', 'invalid group_by dimension "session"', 'report_sla: no session dimension');
SELECT throws_ok($$SELECT * FROM helpdesk.report_csat(pg_temp.fx('ta'), '2026-01-01', '2026-01-02', '{policy}')$$,
	'22023', 'invalid group_by dimension "policy"', 'report_csat: no policy dimension');
SELECT lives_ok($$SELECT * FROM helpdesk.report_sla(pg_temp.fx('ta'), '2026-01-01', '2026-01-02',
	'{policy,target,queue,agent,issue_type,channel}')$$, 'report_sla: by queue, agent, issue type and channel');
SELECT lives_ok($$SELECT * FROM helpdesk.report_csat(pg_temp.fx('ta'), '2026-01-01', '2026-01-02', '{issue_type,channel}')$$,
	'report_csat: by issue type and channel');
SELECT is((SELECT count(*) FROM helpdesk.report_agents(pg_temp.fx('ta'), '2026-01-01', '2026-01-02', '{agent,channel}')
	WHERE occupancy IS NOT NULL OR online_s IS NOT NULL), 0::bigint, 'report_agents by channel: offers only, no occupancy');
SELECT throws_ok($$SELECT * FROM helpdesk.report_funnel(pg_temp.fx('ta'), '2026-01-01', '2026-01-02', '{agent}')$$,
	'22023', 'invalid group_by dimension "agent"', 'report_funnel: no agent dimension');
SELECT throws_ok(format('SELECT * FROM helpdesk.report_agents(%s, %L, %L)', pg_temp.fx('no_tenant'), '2026-01-01', '2026-01-02'),
	'HD404', format('tenant %s does not exist', pg_temp.fx('no_tenant')), 'report_agents: unknown tenant');
SELECT throws_ok($$SELECT * FROM helpdesk.report_csat(pg_temp.fx('ta'), '2026-01-01', '2026-01-02', '{}', 'minute')$$,
	'22023', 'invalid bucket "minute"', 'report_csat: unknown bucket');

------------------------------------------------------------------------------
-- rebuild_rollups
------------------------------------------------------------------------------
SELECT is(helpdesk.rebuild_rollups(pg_temp.fx('ta'), '2026-01-01 00:05+00', '2026-01-01 01:01+00'), 5::bigint,
	'rebuild_rollups: the range widens to whole quarter hours (00:00 .. 01:15)');
SELECT throws_ok($$SELECT helpdesk.rebuild_rollups(pg_temp.fx('ta'), '2026-01-02', '2026-01-01')$$,
	'22023', 'to must be after from', 'rebuild_rollups: to before from');
SELECT throws_ok($$SELECT helpdesk.rebuild_rollups(pg_temp.fx('ta'), '2024-01-01', '2026-01-01')$$,
	'22023', 'a report or rebuild covers at most 400 days', 'rebuild_rollups: over 400 days');
SELECT throws_ok($$SELECT helpdesk.rebuild_rollups(pg_temp.fx('ta'), NULL, '2026-01-01')$$,
	'22004', 'from must not be NULL', 'rebuild_rollups: NULL from');
SELECT throws_ok(format('SELECT helpdesk.rebuild_rollups(%s, %L, %L)', pg_temp.fx('no_tenant'), '2026-01-01', '2026-01-02'),
	'HD404', format('tenant %s does not exist', pg_temp.fx('no_tenant')), 'rebuild_rollups: unknown tenant');

------------------------------------------------------------------------------
-- behaviour: a day in Kathmandu (+5:45) is 96 buckets starting at 18:15 UTC;
-- dimensions not grouped by are NULL
------------------------------------------------------------------------------
INSERT INTO helpdesk.rollup_session
SELECT pg_temp.fx('ta'), b, pg_temp.fx('qa'), 0, '', 'web', 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0,
       0, 0, 0, 0, 0, 0, 0, 0, 0, 0
FROM generate_series('2026-03-01 18:00+00'::timestamptz, '2026-03-02 18:30+00', '15 minutes') b;
-- the day tier of those days, as the worker keeps it
SELECT helpdesk._rollup_days(pg_temp.fx('ta'), helpdesk._local_days(pg_temp.fx('ta'), '2026-03-01 18:00+00', '2026-03-02 18:45+00'));
SELECT is((SELECT sessions FROM helpdesk.rollup_session_day WHERE tenant_id = pg_temp.fx('ta') AND day = '2026-03-02'),
	96::bigint, 'the day tier: 2 March in Kathmandu sums its 96 quarter hours');
SELECT results_eq(
	$$SELECT bucket_start, queue_id, agent_id, sessions FROM helpdesk.report_sessions(pg_temp.fx('ta'),
	  '2026-03-01 18:15+00', '2026-03-02 18:15+00', '{queue}', 'day')$$,
	$$VALUES ('2026-03-02 00:00+05:45'::timestamptz, pg_temp.fx('qa'), NULL::bigint, 96::bigint)$$,
	'report_sessions: one Kathmandu day is 96 quarter hours; agent not grouped is NULL');
SELECT is((SELECT count(*) FROM helpdesk.report_sessions(pg_temp.fx('ta'), '2026-03-01 18:15+00',
	'2026-03-02 18:15+00', '{}', 'hour')), 24::bigint, 'report_sessions: 24 local hours in that day');
SELECT has_view('helpdesk', 'dashboard_today', 'dashboard_today exists');

-- occupancy: status intervals cut to quarter hours; away is not online
INSERT INTO fx SELECT 'oa', helpdesk.upsert_agent(pg_temp.fx('ta'), 'occ', 'Occupancy');
INSERT INTO helpdesk.agent_status_interval (tenant_id, agent_id, event_id, status, started_at, ended_at) VALUES
	(pg_temp.fx('ta'), pg_temp.fx('oa'), 1, 'online', '2026-03-02 10:07+00', '2026-03-02 10:37+00'),
	(pg_temp.fx('ta'), pg_temp.fx('oa'), 2, 'away', '2026-03-02 10:37+00', '2026-03-02 10:50+00'),
	(pg_temp.fx('ta'), pg_temp.fx('oa'), 3, 'busy', '2026-03-02 10:50+00', '2026-03-02 11:20+00'),
	(pg_temp.fx('ta'), pg_temp.fx('oa'), 4, 'online', '2026-03-02 11:20+00', NULL);
SELECT results_eq(
	$$SELECT bucket, online_us / 1000000 FROM helpdesk._fact_occupancy(pg_temp.fx('ta'), '2026-03-02 10:00+00', '2026-03-02 12:00+00')
	  WHERE agent_id = pg_temp.fx('oa') ORDER BY 1$$,
	$$VALUES ('2026-03-02 10:00+00'::timestamptz, 480::bigint), ('2026-03-02 10:15+00', 900), ('2026-03-02 10:30+00', 420),
	         ('2026-03-02 10:45+00', 600), ('2026-03-02 11:00+00', 900), ('2026-03-02 11:15+00', 300)$$,
	'_fact_occupancy: online and busy time per quarter hour; away and the open interval not counted');
SELECT is((SELECT helpdesk.rebuild_rollups(pg_temp.fx('ta'), '2026-03-02 10:00+00', '2026-03-02 12:00+00')), 8::bigint,
	'rebuild_rollups of two hours: 8 buckets');
SELECT is((SELECT (online_s, occupancy_handling_s, occupancy)::text FROM helpdesk.report_agents(pg_temp.fx('ta'),
	'2026-03-02 10:00+00', '2026-03-02 12:00+00', '{agent}', 'total') WHERE agent_id = pg_temp.fx('oa')),
	'(3600.000,0.000,0.000000)', 'report_agents: one hour online, no handling: occupancy 0');
SELECT has_column('helpdesk', 'dashboard_today', 'occupancy', 'dashboard_today shows occupancy');
-- by agent over whole local days: the agent day tier (rollup_agent_day) answers, equal to the raw twin
SELECT is((SELECT count(*) FROM helpdesk.rollup_agent_day WHERE tenant_id = pg_temp.fx('ta') AND agent_id = pg_temp.fx('oa')),
	1::bigint, 'rebuild_rollups fills the agent day tier');
SELECT results_eq(
	$$SELECT agent_id, online_s, occupancy_handling_s, occupancy FROM helpdesk.report_agents(pg_temp.fx('ta'),
	  '2026-03-02 00:00+05:45', '2026-03-03 00:00+05:45', '{agent}', 'day') WHERE agent_id = pg_temp.fx('oa')$$,
	$$SELECT agent_id, online_s, occupancy_handling_s, occupancy FROM helpdesk.report_agents(pg_temp.fx('ta'),
	  '2026-03-02 00:00+05:45', '2026-03-03 00:00+05:45', '{agent}', 'day', 'raw') WHERE agent_id = pg_temp.fx('oa')$$,
	'report_agents by agent and day (agent day tier) = its raw twin');
SELECT results_eq(
	$$SELECT agent_id, queue_id, online_s, occupancy_handling_s, occupancy FROM helpdesk.report_agents(pg_temp.fx('ta'),
	  '2026-03-02 00:00+05:45', '2026-03-03 00:00+05:45', '{agent,queue}', 'total') WHERE agent_id = pg_temp.fx('oa')$$,
	$$SELECT agent_id, queue_id, online_s, occupancy_handling_s, occupancy FROM helpdesk.report_agents(pg_temp.fx('ta'),
	  '2026-03-02 00:00+05:45', '2026-03-03 00:00+05:45', '{agent,queue}', 'total', 'raw') WHERE agent_id = pg_temp.fx('oa')$$,
	'report_agents by agent and queue (agent queue day tier) = its raw twin');

-- the rollup horizon (message retention): buckets before it are kept, a
-- rebuild before it is refused
INSERT INTO helpdesk.rollup_horizon (tenant_id, horizon) VALUES (pg_temp.fx('ta'), '2026-03-02 11:00+00');
INSERT INTO helpdesk.rollup_csat VALUES (pg_temp.fx('ta'), '2026-03-02 10:00+00', 'session', 0, 0, '', 'web', 7, 0, 0, 0, 0, 0, 0, 0);
SELECT throws_ok($$SELECT helpdesk.rebuild_rollups(pg_temp.fx('ta'), '2026-03-02 10:00+00', '2026-03-02 12:00+00')$$,
	'55000', format('rollups of tenant %s before %s are kept and cannot be rebuilt', pg_temp.fx('ta'),
	'2026-03-02 11:00+00'::timestamptz), 'rebuild_rollups: refused before the rollup horizon');
SELECT is((SELECT helpdesk.rebuild_rollups(pg_temp.fx('ta'), '2026-03-02 11:00+00', '2026-03-02 12:00+00')), 4::bigint,
	'rebuild_rollups from the horizon on');
SELECT helpdesk._rollup_recompute(pg_temp.fx('ta'), '2026-03-02 10:00+00', '2026-03-02 12:00+00');
SELECT is((SELECT requested FROM helpdesk.rollup_csat WHERE tenant_id = pg_temp.fx('ta') AND bucket = '2026-03-02 10:00+00'),
	7::bigint, '_rollup_recompute keeps the buckets before the horizon');

SELECT * FROM finish();
ROLLBACK;
