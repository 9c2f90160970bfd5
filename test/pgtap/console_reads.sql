BEGIN;
SELECT plan(31);

-- The agent console's reads (extension/bridge_api/10_console_reads.sql):
-- who sees which conversations in the lists Mine/Queue/All, whose customer
-- panel, and the directory's counts. Nothing of another tenant, nothing of
-- another agent's sessions.

SELECT helpdesk.upsert_tenant('cr', 'Console reads', heartbeat_interval => '1 hour') AS t \gset
SELECT helpdesk.upsert_tenant('cr2', 'Other tenant') AS t2 \gset
SELECT helpdesk.upsert_queue(:t, 'main', 'Main', is_default => true, strategy => 'manual') AS q \gset
SELECT helpdesk.upsert_queue(:t, 'vip', 'VIP', '{vip}') AS qv \gset
SELECT helpdesk.upsert_queue(:t2, 'main', 'Main', is_default => true) AS q2 \gset
SELECT helpdesk.upsert_agent(:t, 'a1', 'Agent One', max_sessions => 5) AS a1 \gset
SELECT helpdesk.upsert_agent(:t, 'a2', 'Agent Two', '{"vip": 5}', max_sessions => 5) AS a2 \gset
SELECT helpdesk.upsert_agent(:t, 'sup', 'Sup') AS sup \gset
SELECT helpdesk.upsert_agent(:t2, 'x', 'Other') AS ax \gset
SELECT helpdesk.set_agent_status(:t, :a1, 'online');
SELECT helpdesk.upsert_customer(:t, 'c1', 'Cee One', 4, 'zh', '{"server": "cn-1"}') AS c1 \gset
SELECT helpdesk.upsert_customer(:t, 'c2', 'Cee Two') AS c2 \gset
SELECT helpdesk.upsert_customer(:t, 'c3', 'Cee Three') AS c3 \gset
SELECT helpdesk.upsert_customer(:t2, 'c1', 'Elsewhere') AS cx \gset
SELECT session_id AS s1 FROM helpdesk.start_session(:t, :c1, first_message => 'hello one') \gset
SELECT session_id AS s2 FROM helpdesk.start_session(:t, :c2, first_message => 'hello two') \gset
SELECT session_id AS s3 FROM helpdesk.start_session(:t, :c3, queue_id => :qv, first_message => 'vip only') \gset
SELECT session_id AS sx FROM helpdesk.start_session(:t2, :cx, first_message => 'other tenant') \gset
SELECT helpdesk.claim_session(:t, :a1, :s1);
SELECT helpdesk.post_message(:t, :s1, 'customer', :c1, 'second');
SELECT helpdesk.post_message(:t, :s1, 'note', :a1, 'a note is no preview');

CREATE FUNCTION pg_temp.ids(j jsonb) RETURNS bigint[] LANGUAGE sql AS $$
	SELECT coalesce(array_agg((e->>'id')::bigint ORDER BY (e->>'id')::bigint), '{}') FROM jsonb_array_elements(j) e
$$;

-- ---- lists
SELECT is(pg_temp.ids(helpdesk.bridge_console_sessions(:t, 'agent', :a1, 'mine')), ARRAY[:s1]::bigint[],
	'mine: the session the agent holds');
SELECT is(pg_temp.ids(helpdesk.bridge_console_sessions(:t, 'agent', :a2, 'mine')), '{}'::bigint[],
	'mine: nothing of another agent''s');
SELECT is(pg_temp.ids(helpdesk.bridge_console_sessions(:t, 'agent', :a1, 'queue')), ARRAY[:s2]::bigint[],
	'queue: waiting sessions of the queues the agent can serve (not the vip queue)');
SELECT is(pg_temp.ids(helpdesk.bridge_console_sessions(:t, 'agent', :a2, 'queue')), ARRAY[:s2, :s3]::bigint[],
	'queue: with the skill, the vip queue too');
SELECT is(helpdesk.bridge_console_sessions(:t, 'agent', :a1, 'all'), '[]'::jsonb,
	'all: nothing for an agent');
SELECT is(pg_temp.ids(helpdesk.bridge_console_sessions(:t, 'supervisor', :sup, 'all')), ARRAY[:s1, :s2, :s3]::bigint[],
	'all: every open session of the tenant for a supervisor, none of another tenant');
SELECT is(helpdesk.bridge_console_sessions(:t, 'agent', :ax, 'mine'), '[]'::jsonb,
	'an agent of another tenant sees nothing');
SELECT is(helpdesk.bridge_console_sessions(:t, 'customer', :c1, 'mine'), '[]'::jsonb,
	'a customer id as subject sees nothing');
SELECT is(helpdesk.bridge_console_sessions(:t, 'agent', :a1, 'mine')->0->'customer'->>'name', 'Cee One',
	'a row carries the customer''s name');
SELECT is((helpdesk.bridge_console_sessions(:t, 'agent', :a1, 'mine')->0->'customer'->>'vip_level')::int, 4,
	'and VIP level');
SELECT is(helpdesk.bridge_console_sessions(:t, 'agent', :a1, 'mine')->0->'last'->>'body', 'second',
	'the preview is the last public message, not the note');
SELECT is((helpdesk.bridge_console_sessions(:t, 'agent', :a1, 'mine')->0->>'unread')::int, 2,
	'unread: the customer''s messages not read yet');
SELECT helpdesk.mark_read(:t, :s1, 'agent', :a1, (SELECT max(id) FROM helpdesk.message WHERE session_id = :s1));
SELECT is((helpdesk.bridge_console_sessions(:t, 'agent', :a1, 'mine')->0->>'unread')::int, 0,
	'unread: 0 after the agent read them');
SELECT is(jsonb_array_length(helpdesk.bridge_console_sessions(:t, 'supervisor', :sup, 'all', 2)), 2,
	'max_rows caps the list');

-- ---- customer panel
SELECT is(helpdesk.bridge_console_customer(:t, 'agent', :a1, :s1)->'customer'->'attributes'->>'server', 'cn-1',
	'the holder sees the customer panel with attributes');
SELECT is(helpdesk.bridge_console_customer(:t, 'agent', :a2, :s1), NULL,
	'another agent does not see the panel of a session it does not hold');
SELECT isnt(helpdesk.bridge_console_customer(:t, 'agent', :a2, :s2), NULL,
	'a waiting session''s panel is visible (the Queue list shows it)');
SELECT isnt(helpdesk.bridge_console_customer(:t, 'supervisor', :sup, :s1), NULL,
	'a supervisor sees any session''s panel');
SELECT is(helpdesk.bridge_console_customer(:t, 'agent', :ax, :s2), NULL,
	'an agent of another tenant sees no panel');
SELECT is(helpdesk.bridge_console_customer(:t, 'supervisor', :sup, :sx), NULL,
	'no panel of another tenant''s session');

-- ---- directory
SELECT is((SELECT (q->>'waiting')::int FROM jsonb_array_elements(helpdesk.bridge_console_directory(:t)->'queues') q
	WHERE (q->>'id')::bigint = :q), 1, 'directory: waiting count per queue');
SELECT is((SELECT (a->>'active')::int FROM jsonb_array_elements(helpdesk.bridge_console_directory(:t)->'agents') a
	WHERE (a->>'id')::bigint = :a1), 1, 'directory: sessions held per agent');


-- ---- history paged backwards (frame history with before_id)
CREATE FUNCTION pg_temp.hids(j jsonb) RETURNS bigint[] LANGUAGE sql AS $$
	SELECT coalesce(array_agg((e->>'id')::bigint ORDER BY o), '{}') FROM jsonb_array_elements(j) WITH ORDINALITY x(e, o)
$$;
SELECT max(id) AS last_id FROM helpdesk.message WHERE tenant_id = :t AND session_id = :s1 \gset
SELECT is(pg_temp.hids(helpdesk.bridge_history_before(:t, :s1, 'agent', :a1, 9007199254740991, 2)),
	(SELECT array_agg(id ORDER BY id) FROM (SELECT id FROM helpdesk.message WHERE tenant_id = :t AND session_id = :s1
		ORDER BY id DESC LIMIT 2) x),
	'before_id: the newest max_rows, sent oldest first (the holder sees its note)');
SELECT is(pg_temp.hids(helpdesk.bridge_history_before(:t, :s1, 'supervisor', :sup, :last_id, 500)),
	(SELECT array_agg(id ORDER BY id) FROM helpdesk.message WHERE tenant_id = :t AND session_id = :s1 AND id < :last_id),
	'before_id: only ids below it, every one of them');
SELECT is((SELECT count(*) FROM jsonb_array_elements(helpdesk.bridge_history_before(:t, :s1, 'customer', :c1, 9007199254740991, 500)) e
	WHERE e->>'sender_kind' = 'note'), 0::bigint, 'the customer gets no notes');
SELECT ok(jsonb_array_length(helpdesk.bridge_history_before(:t, :s1, 'customer', :c1, 9007199254740991, 500)) > 0,
	'the customer reads its own session');
SELECT throws_ok(format('SELECT helpdesk.bridge_history_before(%s, %s, ''agent'', %s, 9007199254740991, 10)', :t, :s1, :a2),
	'42501', NULL, 'an agent not holding the session is refused');
SELECT throws_ok(format('SELECT helpdesk.bridge_history_before(%s, %s, ''customer'', %s, 9007199254740991, 10)', :t, :s1, :c2),
	'42501', NULL, 'another customer is refused');
SELECT throws_ok(format('SELECT helpdesk.bridge_history_before(%s, %s, ''supervisor'', %s, 9007199254740991, 10)', :t, :sx, :sup),
	'HD404', NULL, 'another tenant''s session does not exist for this tenant');
SELECT throws_ok(format('SELECT helpdesk.bridge_history_before(%s, %s, ''agent'', %s, 9007199254740991, 0)', :t, :s1, :a1),
	'22023', NULL, 'max_rows 0 is an invalid argument');
SELECT helpdesk.upsert_agent(:t, 'a2', 'Agent Two', '{"vip": 5}', max_sessions => 5, enabled => false) IS NOT NULL AS disabled \gset
SELECT throws_ok(format('SELECT helpdesk.bridge_history_before(%s, %s, ''agent'', %s, 9007199254740991, 10)', :t, :s1, :a2),
	'55000', NULL, 'a disabled agent is refused');

SELECT * FROM finish();
ROLLBACK;
