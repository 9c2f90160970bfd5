-- A realistic 0.1.0 data set, written through the 0.1.0 API with its workers
-- running (test/e2e/upgrade.sh): two tenants (one with a bot), agents with
-- skills, queues, customers, sessions in every state (bot, queued, offered,
-- active, closed as resolved and abandoned), messages of every
-- type with receipts, internal notes, urgency rules, issue types, audit rows
-- and a pruned event log.
\set ON_ERROR_STOP 1
SELECT helpdesk.upsert_tenant('up-game', 'Upgrade game', heartbeat_interval => '1 hour') AS t \gset
SELECT helpdesk.upsert_tenant('up-shop', 'Upgrade shop', bot_enabled => true, heartbeat_interval => '1 hour') AS t2 \gset
SELECT helpdesk.upsert_queue(:t, 'general', 'General', is_default => true) AS qg \gset
SELECT helpdesk.upsert_queue(:t, 'billing', 'Billing', '{billing}', '{en}', 'longest_idle', offer_timeout => '1 hour') AS qb \gset
SELECT helpdesk.upsert_queue(:t, 'manual', 'Manual', strategy => 'manual') AS qm \gset
SELECT helpdesk.upsert_queue(:t2, 'main', 'Main', is_default => true) AS qs \gset
SELECT helpdesk.set_queue_routing(:t, :qg, 'direct');
SELECT helpdesk.upsert_issue_type(:t, 'payment', 'Payment', :qb, 60);
SELECT helpdesk.upsert_urgency_rule(:t, 'refund', 'refund|退款', 120);
SELECT helpdesk.upsert_agent(:t, 'ana', 'Ana', '{"billing": 8}', '{en,es}', 4) AS ana \gset
SELECT helpdesk.upsert_agent(:t, 'ben', 'Ben', '{"tech": 5}', '{en}', 2) AS ben \gset
SELECT helpdesk.upsert_agent(:t2, 'sam', 'Sam', max_sessions => 3) AS sam \gset
SELECT helpdesk.upsert_customer(:t, 'c' || g, 'Customer ' || g, g % 11, 'en', jsonb_build_object('level', g))
	FROM generate_series(1, 12) g;
SELECT helpdesk.upsert_customer(:t2, 'shopper', 'Shopper') AS shopper \gset
SELECT helpdesk.set_agent_status(:t, :ana, 'online');
SELECT helpdesk.set_agent_status(:t, :ben, 'online');

-- general (direct): active sessions with messages of every type
CREATE TEMP TABLE s AS
SELECT c.external_id AS who, x.session_id FROM helpdesk.customer c,
	LATERAL helpdesk.start_session(:t, c.id, 'ios', first_message => 'hello from ' || c.external_id,
		client_msg_id => 'up-' || c.external_id) x
WHERE c.tenant_id = :t AND c.external_id IN ('c1', 'c2', 'c3');
-- billing (offers with a long timeout): one stays offered
INSERT INTO s SELECT 'c4', session_id FROM helpdesk.start_session(:t,
	(SELECT id FROM helpdesk.customer WHERE tenant_id = :t AND external_id = 'c4'), 'web', :qb, 'payment', 'refund please');
-- manual: stays queued
INSERT INTO s SELECT 'c5', session_id FROM helpdesk.start_session(:t,
	(SELECT id FROM helpdesk.customer WHERE tenant_id = :t AND external_id = 'c5'), 'web', :qm, first_message => 'anyone?');
-- the bot tenant: stays in bot
INSERT INTO s SELECT 'shopper', session_id FROM helpdesk.start_session(:t2, :shopper, 'web', first_message => 'where is my order');
