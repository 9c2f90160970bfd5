-- The API calls of test/e2e/scale_proxy.sh, run once on a node directly and
-- once through pg_helpdesk_proxy: the two outputs must be the same. Nothing
-- printed depends on ids or times (they differ between the two runs); errors
-- print their SQLSTATE only (PL/Proxy prefixes a node's message with the
-- function's name). :slug names the tenant.
\set VERBOSITY sqlstate
-- PL/Proxy NOTICEs that it reconnects after a remote error: not the API's output
SET client_min_messages = warning;
\pset format unaligned
\pset tuples_only on
SELECT helpdesk.upsert_tenant(:'slug', 'Scale test') AS t \gset
SELECT helpdesk.upsert_tenant(:'slug', 'Scale test, renamed') = :t AS same_tenant_on_upsert;
SELECT helpdesk.upsert_queue(:t, 'general', 'General', is_default => true) AS q \gset
SELECT helpdesk.set_queue_routing(:t, :q, 'direct');
SELECT helpdesk.upsert_agent(:t, 'ana', 'Ana', '{"billing": 8}', '{en,zh}', 2) AS a \gset
SELECT helpdesk.upsert_customer(:t, 'player-1', 'Player One', 3, 'zh', '{"server": "cn-1"}') AS c \gset
SELECT helpdesk.set_agent_status(:t, :a, 'online');
SELECT session_id AS s, created, state FROM helpdesk.start_session(:t, :c, 'web', first_message => '你好，我的充值没到账', client_msg_id => 'm-1') \gset
SELECT :'created', :'state';
-- the same client message id again: the same session, nothing new
SELECT created, state IN ('queued', 'active') FROM helpdesk.start_session(:t, :c, 'web', first_message => '你好，我的充值没到账', client_msg_id => 'm-1');
SELECT helpdesk.post_message(:t, :s, 'customer', :c, '还在吗？', client_msg_id => 'm-2') AS m2 \gset
SELECT :m2 > 0 AS posted;
SELECT helpdesk.post_message(:t, :s, 'customer', :c, '还在吗？', client_msg_id => 'm-2') = :m2 AS same_message_again;
SELECT sender_kind, body, client_msg_id FROM helpdesk.session_messages(:t, :s) ORDER BY id;
SELECT count(*) FROM helpdesk.customer_messages(:t, :c);
SELECT (helpdesk.create_ticket(:t, :c, '充值未到账', 'order 42')).number AS ticket_no \gset
SELECT :ticket_no;
SELECT subject, status, priority FROM helpdesk.list_tickets(:t) ORDER BY number;
SELECT helpdesk.get_ticket(:t, id) ->> 'subject' FROM helpdesk.list_tickets(:t);
SELECT helpdesk.upsert_quick_reply(:t, 'hi', 'Greeting', 'Hi {{customer.name}}') AS qr \gset
SELECT helpdesk.render_quick_reply(:t, :qr, :a, :s);
SELECT helpdesk.transition_allowed('queued', 'active'), helpdesk.transition_allowed('closed', 'active');
SELECT count(*) > 0 FROM helpdesk.config_audit_log(:t);
SELECT helpdesk.close_session(:t, :s, 'resolved', 'agent', :a);
-- error paths: the node's SQLSTATEs come through the proxy unchanged
SELECT helpdesk.post_message(:t, :s, 'customer', :c, 'after close');
SELECT helpdesk.post_message(:t, 987654321, 'customer', :c, 'no such session');
SELECT helpdesk.upsert_queue(:t, 'bad', repeat('x', 500));
SELECT helpdesk.set_agent_status(:t, :a, 'sleeping');
SELECT helpdesk.start_session(:t, 987654321);
SELECT helpdesk.upsert_tenant('Not A Slug!', 'x');
SELECT helpdesk.get_ticket(:t, 987654321) IS NULL;
-- an unknown tenant; a NULL one (the node's own answer); every tenant
SELECT helpdesk.upsert_queue(987654321, 'q', 'Q');
SELECT helpdesk.upsert_queue(NULL, 'q', 'Q');
SELECT count(*) FROM helpdesk.list_tickets(NULL);
SELECT count(*) > 0 FROM helpdesk.config_audit_log(NULL);
