-- Tenants, agents, queues and customers, upserted by external key.
\pset null '(null)'
SELECT helpdesk.upsert_tenant('acme-games', 'Acme Games') AS acme \gset
SELECT helpdesk.upsert_tenant('acme-games', 'Acme Games Ltd', heartbeat_misses => 4) = :acme AS same_id;
SELECT slug, name, bot_enabled, heartbeat_interval, heartbeat_misses FROM helpdesk.tenant WHERE id = :acme;
SELECT helpdesk.upsert_tenant('shop', 'Shop', bot_enabled => true) AS shop \gset

SELECT helpdesk.upsert_agent(:acme, 'ana', 'Ana', '{"billing": 7, "es": 5}', '{es,en}', 3) AS ana \gset
SELECT helpdesk.upsert_agent(:acme, 'bo', 'Bo', '{"tech": 9}', '{en}') AS bo \gset
-- partial update keeps skills, changes capacity
SELECT helpdesk.upsert_agent(:acme, 'ana', 'Ana M.', max_sessions => 4) = :ana AS same_id;
SELECT external_id, display_name, skills, languages, max_sessions, status, enabled
FROM helpdesk.agent WHERE tenant_id = :acme ORDER BY id;

SELECT helpdesk.upsert_queue(:acme, 'general', 'General', is_default => true) AS general \gset
SELECT helpdesk.upsert_queue(:acme, 'billing-es', 'Billing (es)', '{billing}', '{es}', 'longest_idle',
                             '20 seconds', '10 minutes', :general) AS billing \gset
-- moving the default flag
SELECT helpdesk.upsert_queue(:acme, 'billing-es', 'Billing (es)', is_default => true) = :billing AS same_id;
SELECT external_id, required_skills, required_languages, strategy, offer_timeout, max_wait,
       overflow_queue_id = :general AS overflows_to_general, is_default
FROM helpdesk.queue WHERE tenant_id = :acme ORDER BY id;
SELECT helpdesk.upsert_queue(:acme, 'general', 'General', is_default => true) = :general AS same_id;
-- clearing max_wait and overflow
SELECT helpdesk.upsert_queue(:acme, 'billing-es', 'Billing (es)', max_wait => '0 s', overflow_queue_id => 0) = :billing AS same_id;
SELECT external_id, max_wait, overflow_queue_id, is_default FROM helpdesk.queue WHERE tenant_id = :acme ORDER BY id;

SELECT helpdesk.upsert_customer(:acme, 'player-1', 'Player One', 3, 'es', '{"server": "eu-1", "level": 40}') AS p1 \gset
-- attributes merge; null removes a key
SELECT helpdesk.upsert_customer(:acme, 'player-1', attributes => '{"level": 41, "server": null, "guild": "x"}') = :p1 AS same_id;
SELECT external_id, display_name, vip_level, language, attributes FROM helpdesk.customer WHERE id = :p1;

-- the same external ids in another tenant are other rows
SELECT helpdesk.upsert_customer(:shop, 'player-1') <> :p1 AS distinct_rows;

-- bad input
SELECT helpdesk.upsert_tenant('Bad Slug', 'x');
SELECT helpdesk.upsert_agent(:acme, 'cy', 'Cy', '{"billing": 11}');
SELECT helpdesk.upsert_agent(:acme, 'cy', 'Cy', '["billing"]');
SELECT helpdesk.upsert_agent(:acme, 'cy', 'Cy', languages => '{EN}');
SELECT helpdesk.upsert_agent(999999, 'cy', 'Cy');
SELECT helpdesk.upsert_queue(:acme, 'q', 'Q', strategy => 'random');
SELECT helpdesk.upsert_queue(:acme, 'q', 'Q', overflow_queue_id => 999999);
SELECT helpdesk.upsert_queue(:acme, 'general', 'General', overflow_queue_id => :general);
SELECT helpdesk.upsert_customer(:acme, 'p', vip_level => 11);
SELECT helpdesk.upsert_customer(:acme, NULL);
SELECT count(*) AS agents_after_errors FROM helpdesk.agent WHERE tenant_id = :acme;
