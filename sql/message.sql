-- Messages: kinds, types, idempotency, participants, size limit, receipts, history.
\pset null '(null)'
SELECT id AS acme FROM helpdesk.tenant WHERE slug = 'acme-games' \gset
SELECT id AS ana FROM helpdesk.agent WHERE tenant_id = :acme AND external_id = 'ana' \gset
SELECT id AS bo FROM helpdesk.agent WHERE tenant_id = :acme AND external_id = 'bo' \gset
SELECT helpdesk.upsert_customer(:acme, 'player-2', 'Player Two') AS p2 \gset
SELECT id AS p1 FROM helpdesk.customer WHERE tenant_id = :acme AND external_id = 'player-1' \gset
SELECT session_id AS s FROM helpdesk.start_session(:acme, :p2) \gset

-- routing is the dispatcher's job (next issue); put ana on the session by hand
UPDATE helpdesk.session SET state = 'active', agent_id = :ana, assigned_at = now() WHERE id = :s;

SELECT helpdesk.post_message(:acme, :s, 'customer', :p2, 'where is my sword?', client_msg_id => 'c-1') AS m1 \gset
-- a retry with the same client id returns the stored message
SELECT helpdesk.post_message(:acme, :s, 'customer', :p2, 'where is my sword?', client_msg_id => 'c-1') = :m1 AS same_message;
-- the same client id with other content is refused
SELECT helpdesk.post_message(:acme, :s, 'customer', :p2, 'something else', client_msg_id => 'c-1');
SELECT helpdesk.post_message(:acme, :s, 'agent', :ana, 'Let me check.', client_msg_id => 'c-1') AS m2 \gset
SELECT helpdesk.post_message(:acme, :s, 'note', :bo, 'VIP, be nice') AS m3 \gset
SELECT helpdesk.post_message(:acme, :s, 'agent', :ana, NULL, 'image',
	attachment => '{"url": "https://cdn.example.test/a.png", "name": "a.png", "size": 1024, "mime": "image/png"}') AS m4 \gset
SELECT helpdesk.post_message(:acme, :s, 'agent', :ana, 'Pick one', 'menu',
	options => '[{"id": "refund", "label": "Refund"}, {"id": "resend", "label": "Send again"}]') AS m5 \gset
SELECT helpdesk.post_message(:acme, :s, 'customer', :p2, NULL, 'file',
	attachment => '{"url": "https://cdn.example.test/r.pdf", "name": "receipt.pdf", "size": 20480, "mime": "application/pdf"}') AS m6 \gset
SELECT helpdesk.post_message(:acme, :s, 'system', NULL, 'Ana joined', 'system') AS m7 \gset

SELECT sender_kind, sender_id = :ana AS by_ana, type, body, attachment->>'name' AS file, jsonb_array_length(options) AS options
FROM helpdesk.message WHERE session_id = :s ORDER BY id;

-- who may not speak
SELECT helpdesk.post_message(:acme, :s, 'customer', :p1, 'I am not in this chat');
SELECT helpdesk.post_message(:acme, :s, 'agent', :bo, 'neither am I');
SELECT helpdesk.post_message(:acme, :s, 'bot', NULL, 'bots leave once an agent holds the session');
SELECT helpdesk.post_message(:acme, :s, 'note', 999999, 'ghost');
SELECT helpdesk.post_message(:acme, :s, 'customer', NULL, 'who am I');
SELECT helpdesk.post_message(:acme, :s, 'system', :ana, 'x', 'system');
SELECT helpdesk.post_message(:acme, :s, 'customer', :p2, 'x', 'system');

-- bad content
SELECT helpdesk.post_message(:acme, :s, 'customer', :p2, '');
SELECT helpdesk.post_message(:acme, :s, 'customer', :p2, 'x', 'video');
SELECT helpdesk.post_message(:acme, :s, 'customer', :p2, 'x', 'text', repeat('k', 101));
SELECT helpdesk.post_message(:acme, :s, 'customer', :p2, NULL, 'image',
	attachment => '{"url": "ftp://x/a.png", "name": "a.png", "size": 1, "mime": "image/png"}');
SELECT helpdesk.post_message(:acme, :s, 'customer', :p2, NULL, 'image',
	attachment => '{"url": "https://x/a.pdf", "name": "a.pdf", "size": 1, "mime": "application/pdf"}');
SELECT helpdesk.post_message(:acme, :s, 'customer', :p2, NULL, 'file',
	attachment => '{"url": "https://x/a.pdf", "name": "a.pdf", "size": 1.5, "mime": "application/pdf"}');
SELECT helpdesk.post_message(:acme, :s, 'customer', :p2, NULL, 'file');
SELECT helpdesk.post_message(:acme, :s, 'agent', :ana, 'pick', 'menu', options => '[]');
SELECT helpdesk.post_message(:acme, :s, 'customer', :p2, 'x', attachment => '{"url": "https://x/a.png", "name": "a", "size": 1, "mime": "image/png"}');
SELECT helpdesk.post_message(:acme, :s, 'customer', :p2, 'x', options => '[{"id": "a", "label": "A"}]');
SELECT helpdesk.post_message(:acme, :s, 'agent', :ana, 'pick', 'menu', options => '[{"id": "a"}]');

-- size limit from helpdesk.max_message_bytes
SET helpdesk.max_message_bytes = 100;
SELECT helpdesk.post_message(:acme, :s, 'customer', :p2, repeat('x', 101));
SELECT helpdesk.post_message(:acme, :s, 'customer', :p2, repeat('x', 100)) > 0 AS at_limit_ok;
RESET helpdesk.max_message_bytes;
SELECT count(*) AS messages_after_errors FROM helpdesk.message WHERE session_id = :s;

-- receipts: the customer's client got and read the agent side up to m5
SELECT helpdesk.mark_delivered(:acme, :s, 'customer', :p2, :m5) AS delivered;
SELECT helpdesk.mark_read(:acme, :s, 'customer', :p2, :m5) AS read;
SELECT helpdesk.mark_read(:acme, :s, 'customer', :p2, :m5) AS read_again;
SELECT helpdesk.mark_read(:acme, :s, 'agent', :ana, :m6) AS agent_read;
SELECT sender_kind, type, delivered_at IS NOT NULL AS delivered, read_at IS NOT NULL AS read
FROM helpdesk.message WHERE session_id = :s ORDER BY id;
SELECT helpdesk.mark_read(:acme, :s, 'agent', :bo, :m6);
SELECT helpdesk.mark_read(:acme, :s, 'robot', :bo, :m6);

-- history: a session page by page, notes only for staff
SELECT sender_kind, body FROM helpdesk.session_messages(:acme, :s, 0, 3);
SELECT sender_kind, body FROM helpdesk.session_messages(:acme, :s, :m2, 2);
SELECT count(*) AS with_notes FROM helpdesk.session_messages(:acme, :s, include_notes => true, max_rows => 100);
SELECT count(*) AS without_notes FROM helpdesk.session_messages(:acme, :s, max_rows => 100);
-- a customer's history across sessions, newest first
SELECT helpdesk.close_session(:acme, :s, closed_by => 'agent', actor_id => :ana) AS was;
SELECT session_id AS s_next FROM helpdesk.start_session(:acme, :p2, first_message => 'me again') \gset
SELECT session_id = :s_next AS newest_session, body FROM helpdesk.customer_messages(:acme, :p2, max_rows => 2);
SELECT count(*) AS older FROM helpdesk.customer_messages(:acme, :p2, before_id => :m6);
SELECT * FROM helpdesk.session_messages(:acme, 999999);
SELECT * FROM helpdesk.customer_messages(:acme, 999999);
SELECT * FROM helpdesk.session_messages(:acme, :s, max_rows => 0);

-- a closed session takes no new messages, but a retry of a stored one still
-- gets its id (the client may not have seen the first answer)
SELECT helpdesk.post_message(:acme, :s, 'customer', :p2, 'hello?');
SELECT helpdesk.post_message(:acme, :s, 'customer', :p2, 'where is my sword?', client_msg_id => 'c-1') = :m1 AS retry_after_close;
SELECT helpdesk.post_message(:acme, :s, 'customer', :p2, 'new text', client_msg_id => 'c-9');
-- the same client id with a different attachment is a different message
SELECT helpdesk.post_message(:acme, :s_next, 'customer', :p2, NULL, 'image', client_msg_id => 'img',
	attachment => '{"url": "https://x/a.png", "name": "a.png", "size": 1, "mime": "image/png"}') > 0 AS stored;
SELECT helpdesk.post_message(:acme, :s_next, 'customer', :p2, NULL, 'image', client_msg_id => 'img',
	attachment => '{"url": "https://x/b.png", "name": "b.png", "size": 2, "mime": "image/png"}');
