-- Opening, queueing and closing sessions; the state machine.
\pset null '(null)'
SELECT id AS acme FROM helpdesk.tenant WHERE slug = 'acme-games' \gset
SELECT id AS shop FROM helpdesk.tenant WHERE slug = 'shop' \gset
SELECT id AS p1 FROM helpdesk.customer WHERE tenant_id = :acme AND external_id = 'player-1' \gset
SELECT id AS billing FROM helpdesk.queue WHERE tenant_id = :acme AND external_id = 'billing-es' \gset
SELECT id AS general FROM helpdesk.queue WHERE tenant_id = :acme AND external_id = 'general' \gset

-- a new session goes to the default queue
SELECT session_id AS s1, created, state, message_id IS NOT NULL AS has_message
FROM helpdesk.start_session(:acme, :p1, 'ios', first_message => 'my purchase failed',
                            issue_type => 'payment') \gset
SELECT :'created' AS created, :'state' AS state, :'has_message' AS has_message;
SELECT state, channel, issue_type, queue_id = :general AS in_default_queue, queued_at IS NOT NULL AS queued
FROM helpdesk.session WHERE id = :s1;

-- the second call returns the same open session (and posts its message into it)
SELECT session_id = :s1 AS same_session, created, state
FROM helpdesk.start_session(:acme, :p1, 'web', first_message => 'hello?');
SELECT count(*) AS messages FROM helpdesk.message WHERE session_id = :s1;

-- moving it to another queue is queued -> queued
SELECT helpdesk.request_agent(:acme, :s1, :billing) = :billing AS moved;
SELECT state, queue_id = :billing AS in_billing FROM helpdesk.session WHERE id = :s1;
-- asking again for the same queue keeps the place in it
SELECT queued_at AS first_queued_at FROM helpdesk.session WHERE id = :s1 \gset
SELECT helpdesk.request_agent(:acme, :s1, :billing) = :billing AS same_queue;
SELECT queued_at = :'first_queued_at' AS place_kept FROM helpdesk.session WHERE id = :s1;

-- the customer leaves before an agent took it: abandoned
SELECT helpdesk.close_session(:acme, :s1, closed_by => 'customer', actor_id => :p1) AS was;
SELECT state, close_reason, closed_by, closed_at IS NOT NULL AS closed FROM helpdesk.session WHERE id = :s1;

-- illegal transitions name both states
SELECT helpdesk.close_session(:acme, :s1);
SELECT helpdesk.request_agent(:acme, :s1);

-- a closed session does not block a new one
SELECT session_id <> :s1 AS new_session, created, state FROM helpdesk.start_session(:acme, :p1);

-- a tenant with a bot starts sessions in state bot; request_agent hands over
SELECT helpdesk.upsert_customer(:shop, 'buyer-7') AS b7 \gset
SELECT helpdesk.upsert_queue(:shop, 'main', 'Main', is_default => true) AS shopq \gset
SELECT session_id AS s2, state FROM helpdesk.start_session(:shop, :b7) \gset
SELECT :'state' AS state;
SELECT helpdesk.post_message(:shop, :s2, 'bot', NULL, 'Hi! What can I do for you?') > 0 AS bot_spoke;
SELECT helpdesk.request_agent(:shop, :s2) = :shopq AS queued_in_default;
SELECT state, queued_at IS NOT NULL AS queued FROM helpdesk.session WHERE id = :s2;
SELECT helpdesk.close_session(:shop, :s2, 'resolved by FAQ', 'bot') AS was;

-- a session that needs a queue, in a tenant without a default queue
SELECT helpdesk.upsert_tenant('nodefault', 'No default') AS nd \gset
SELECT helpdesk.upsert_customer(:nd, 'c') AS ndc \gset
SELECT * FROM helpdesk.start_session(:nd, :ndc);

-- ids of another tenant are unknown here
SELECT * FROM helpdesk.start_session(:shop, :p1);
SELECT helpdesk.close_session(:shop, :s1);
SELECT * FROM helpdesk.start_session(:acme, :p1, queue_id => :shopq);

-- bad arguments
SELECT * FROM helpdesk.start_session(:acme, :p1, 'Web Chat');
SELECT * FROM helpdesk.start_session(:acme, NULL);
SELECT * FROM helpdesk.start_session(:acme, :p1, attributes => '[1]');
SELECT helpdesk.close_session(:acme, :s1, closed_by => 'robot');
SELECT helpdesk.close_session(:acme, :s1, closed_by => 'customer');
