-- Demo data: one game with agents, skills, queues, customers and two sessions.
CREATE EXTENSION IF NOT EXISTS pg_helpdesk;
CREATE EXTENSION IF NOT EXISTS pg_cron;
-- retention of the event log, hourly
SELECT cron.schedule('helpdesk-prune-events', '17 * * * *', $$SELECT helpdesk.prune_events('7 days')$$);
-- and of the webhook delivery log
SELECT cron.schedule('helpdesk-prune-webhooks', '23 * * * *', $$SELECT helpdesk.prune_webhook_deliveries('30 days')$$);

SELECT helpdesk.upsert_tenant('starfall', 'Starfall Online') AS t \gset
SELECT helpdesk.upsert_queue(:t, 'general', 'General', is_default => true) AS q_general \gset
-- the general queue assigns directly (no offer to accept); billing offers
SELECT helpdesk.set_queue_routing(:t, :q_general, 'direct');
-- system texts: built-in zh-CN (the default) and en; this tenant adds Spanish
SELECT helpdesk.set_system_text(:t, 'idle_warning', 'es',
	'¿Sigues ahí? Este chat se cerrará en {minutes} min si no respondes.');
SELECT helpdesk.upsert_queue(:t, 'billing', 'Billing', '{billing}', '{en,es}', 'longest_idle') AS q_billing \gset
SELECT helpdesk.upsert_queue(:t, 'tech', 'Technical', '{tech}', '{en}', 'least_loaded',
                             overflow_queue_id => :q_general, max_wait => '10 minutes');

SELECT helpdesk.upsert_agent(:t, 'ana', 'Ana Souza', '{"billing": 8, "refunds": 6}', '{en,es,pt}', 4);
SELECT helpdesk.upsert_agent(:t, 'ben', 'Ben Okafor', '{"tech": 9}', '{en}', 5);
SELECT helpdesk.upsert_agent(:t, 'chen', 'Chen Li', '{"tech": 5, "billing": 4}', '{en,zh}', 3);

SELECT helpdesk.upsert_customer(:t, 'player-1001', 'DragonSlayer', 5, 'en', '{"server": "eu-1", "level": 87}') AS c1 \gset
SELECT helpdesk.upsert_customer(:t, 'player-2002', 'Luna', 0, 'es', '{"server": "sa-1", "level": 12}') AS c2 \gset

SELECT session_id AS s1 FROM helpdesk.start_session(:t, :c1, 'ios', :q_billing, 'payment',
	'I bought 500 gems and did not get them', client_msg_id => 'demo-1') \gset
SELECT helpdesk.start_session(:t, :c2, 'web', first_message => 'No puedo iniciar sesión', client_msg_id => 'demo-2');
SELECT helpdesk.post_message(:t, :s1, 'customer', :c1, NULL, 'image', 'demo-3',
	'{"url": "https://cdn.example.test/receipt.png", "name": "receipt.png", "size": 48213, "mime": "image/png"}');
-- the browser console (/console/): passwords for the agents (login route of
-- the bridge), Chen as supervisor, a few quick replies ('/' in the composer)
SELECT helpdesk.set_agent_password(:t, a.id, 'demo-pass-' || a.external_id) FROM helpdesk.agent a WHERE a.tenant_id = :t;
SELECT helpdesk.set_agent_role(:t, a.id, 'supervisor') FROM helpdesk.agent a WHERE a.tenant_id = :t AND a.external_id = 'chen';
SELECT helpdesk.upsert_quick_reply(:t, 'hi', 'Greeting', 'Hi {{customer.name}}, I am {{agent.name}}. How can I help?');
SELECT helpdesk.upsert_quick_reply(:t, 'gems', 'Gems sent', 'The gems are on their way; please restart the game in a minute.');
SELECT helpdesk.upsert_quick_reply(:t, 'nihao', '问候', '您好，我是{{agent.name}}，很高兴为您服务。', language => 'zh');
