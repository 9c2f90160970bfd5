BEGIN;
SELECT * FROM no_plan();

-- Trigger tasks (seed 003) end to end inside one transaction: the five
-- trigger types with exact and contains matching, Chinese and English text,
-- a keyword at the start, end and middle, overlapping keywords, the payment
-- phrases (built-in and per tenant), the specified customer's id and name,
-- once-only firing, the stage's arming, actions (message and file),
-- retries and failure, expiry, time_reach in the tenant's zone, cancel, and
-- list paging. The stage is run by hand (helpdesk._task_pass) with chosen
-- times; the dispatcher cannot see this transaction's rows.

\ir fixtures.psql
\set QUIET 1

INSERT INTO fx SELECT 'ta', helpdesk.upsert_tenant('tap-task-a', 'TAP tasks A');
INSERT INTO fx SELECT 'tb', helpdesk.upsert_tenant('tap-task-b', 'TAP tasks B');
INSERT INTO fx SELECT 'qa', helpdesk.upsert_queue(pg_temp.fx('ta'), 'main', 'Main', is_default => true);
INSERT INTO fx SELECT 'qb', helpdesk.upsert_queue(pg_temp.fx('tb'), 'main', 'Main', is_default => true);
INSERT INTO fx SELECT 'c1', helpdesk.upsert_customer(pg_temp.fx('ta'), 'customer_123', '小明');
INSERT INTO fx SELECT 'c2', helpdesk.upsert_customer(pg_temp.fx('ta'), 'customer_456', 'Alice');
INSERT INTO fx SELECT 'cb', helpdesk.upsert_customer(pg_temp.fx('tb'), 'customer_123', '小明');
SELECT pg_temp.fx('ta') AS ta, pg_temp.fx('tb') AS tb, pg_temp.fx('c1') AS c1, pg_temp.fx('c2') AS c2,
       pg_temp.fx('cb') AS cb \gset
SELECT session_id AS s1 FROM helpdesk.start_session(:ta, :c1) \gset
SELECT session_id AS s2 FROM helpdesk.start_session(:ta, :c2) \gset
SELECT session_id AS sb FROM helpdesk.start_session(:tb, :cb) \gset

CREATE FUNCTION pg_temp.task(text, jsonb, jsonb DEFAULT '{}') RETURNS jsonb LANGUAGE sql AS $$
	SELECT jsonb_build_object('task_id', $1, 'type', 'send_after_reply',
		'customer', jsonb_build_object('id', 'customer_123', 'name', '小明'),
		'trigger', $2,
		'action', jsonb_build_object('type', 'send_message', 'message', 'reply to ' || $1)) || $3
$$;
CREATE FUNCTION pg_temp.st(bigint, text) RETURNS text LANGUAGE sql AS $$
	SELECT status FROM helpdesk.trigger_task WHERE tenant_id = $1 AND task_id = $2
$$;
-- the tasks of tenant ta that are running (fired), as a sorted list
CREATE FUNCTION pg_temp.fired() RETURNS text LANGUAGE sql AS $$
	SELECT coalesce(string_agg(task_id, ',' ORDER BY task_id), '') FROM helpdesk.trigger_task
	WHERE tenant_id = pg_temp.fx('ta') AND status = 'running'
$$;

-- contains (default), Chinese: start, middle, end; not when absent
SELECT helpdesk.receive_task(:ta, pg_temp.task('zh', '{"type": "customer_reply", "keyword": "好的"}'));
SELECT is(pg_temp.st(:ta, 'zh'), 'pending', 'a received task is pending');
SELECT is(helpdesk._task_pass(now()), 1, 'the stage arms it');
SELECT is(pg_temp.st(:ta, 'zh'), 'waiting', 'armed: waiting');
SELECT helpdesk.post_message(:ta, :s1, 'customer', :c1, '我不要');
SELECT is(pg_temp.fired(), '', 'a message without the keyword fires nothing');
SELECT helpdesk.post_message(:ta, :s1, 'customer', :c1, '嗯，好的谢谢');
SELECT is(pg_temp.fired(), 'zh', 'contains: the keyword in the middle fires');
SELECT is((SELECT message_id IS NOT NULL AND session_id = :s1 AND customer_id = :c1 AND triggered_at IS NOT NULL
           FROM helpdesk.trigger_task WHERE task_id = 'zh'), true, 'the firing message, session and customer are recorded');
SELECT helpdesk.post_message(:ta, :s1, 'customer', :c1, '好的');
SELECT is((SELECT count(*) FROM helpdesk.trigger_task WHERE task_id = 'zh' AND status = 'running'), 1::bigint,
	'a second matching message does not fire it again');
SELECT is(helpdesk._task_pass(now()), 1, 'the stage runs the action');
SELECT is(pg_temp.st(:ta, 'zh'), 'completed', 'completed');
SELECT is((SELECT body FROM helpdesk.message WHERE tenant_id = :ta AND session_id = :s1 AND sender_kind = 'system'
           ORDER BY id DESC LIMIT 1), 'reply to zh', 'the action''s message is in the customer''s session, from system');
SELECT is((SELECT result->>'message_id' FROM helpdesk.trigger_task WHERE task_id = 'zh'),
	(SELECT max(id)::text FROM helpdesk.message WHERE tenant_id = :ta AND sender_kind = 'system'), 'result names the message');

SELECT helpdesk.receive_task(:ta, pg_temp.task('start', '{"type": "customer_reply", "keyword": "可以"}'));
SELECT helpdesk.receive_task(:ta, pg_temp.task('end', '{"type": "customer_reply", "keyword": "没问题"}'));
SELECT helpdesk.post_message(:ta, :s2, 'customer', :c2, '可以的');
SELECT is(pg_temp.fired(), 'start', 'contains: the keyword at the start (pending tasks match too)');
SELECT helpdesk.post_message(:ta, :s2, 'customer', :c2, '这个没问题');
SELECT is(pg_temp.fired(), 'end,start', 'contains: the keyword at the end');

-- English, exact match after trimming
SELECT helpdesk._task_pass(now());
SELECT helpdesk.receive_task(:ta, pg_temp.task('en-exact', '{"type": "customer_reply", "keyword": "  OK ", "exact_match": true}'));
SELECT helpdesk.post_message(:ta, :s2, 'customer', :c2, 'OK thanks');
SELECT is(pg_temp.fired(), '', 'exact: a longer message does not fire');
SELECT helpdesk.post_message(:ta, :s2, 'customer', :c2, 'ok');
SELECT is(pg_temp.fired(), '', 'exact: case counts');
SELECT helpdesk.post_message(:ta, :s2, 'customer', :c2, E'\u3000 OK \n');
SELECT is(pg_temp.fired(), 'en-exact', 'exact: equal after trimming spaces, newlines and U+3000');
SELECT helpdesk._task_pass(now());
SELECT helpdesk.receive_task(:ta, pg_temp.task('en-contains', '{"type": "customer_reply", "keyword": "deal"}'));
SELECT helpdesk.post_message(:ta, :s2, 'customer', :c2, 'It''s a deal!');
SELECT is(pg_temp.fired(), 'en-contains', 'contains in English');
SELECT helpdesk._task_pass(now());

-- overlapping keywords: each task that matches fires, each once
SELECT helpdesk.receive_task(:ta, pg_temp.task('ov1', '{"type": "customer_reply", "keyword": "好的"}'));
SELECT helpdesk.receive_task(:ta, pg_temp.task('ov2', '{"type": "customer_reply", "keyword": "的谢"}'));
SELECT helpdesk.receive_task(:ta, pg_temp.task('ov3', '{"type": "customer_reply", "keyword": "好的谢谢你"}'));
SELECT helpdesk.receive_task(:ta, pg_temp.task('ov4', '{"type": "customer_keyword", "keywords": ["谢谢", "好", "谢谢"]}'));
SELECT helpdesk.receive_task(:ta, pg_temp.task('ov5', '{"type": "customer_reply", "keyword": "好的谢谢你们"}'));
SELECT helpdesk.post_message(:ta, :s1, 'customer', :c1, '好的谢谢你');
SELECT is(pg_temp.fired(), 'ov1,ov2,ov3,ov4', 'overlapping keywords (a suffix, an inner part, the whole) all fire; the longer one does not');
SELECT helpdesk._task_pass(now());

-- customer_keyword: any of several
SELECT helpdesk.receive_task(:ta, pg_temp.task('kw', '{"type": "customer_keyword", "keywords": ["好的", "可以", "行"]}'));
SELECT helpdesk.post_message(:ta, :s2, 'customer', :c2, '那就这样吧，行');
SELECT is(pg_temp.fired(), 'kw', 'customer_keyword: one of the keywords fires');
SELECT helpdesk._task_pass(now());

-- specified_customer_reply: only that customer, and that name when given
SELECT helpdesk.receive_task(:ta, pg_temp.task('spec', '{"type": "specified_customer_reply", "customer_id": "customer_123",
	"customer_name": "小明", "keyword": "好的", "exact_match": false}'));
SELECT helpdesk.receive_task(:ta, pg_temp.task('spec-name', '{"type": "specified_customer_reply", "customer_id": "customer_123",
	"customer_name": "小红", "keyword": "好的"}'));
SELECT helpdesk.post_message(:ta, :s2, 'customer', :c2, '好的');
SELECT is(pg_temp.fired(), '', 'specified: another customer saying it fires nothing');
SELECT helpdesk.post_message(:tb, :sb, 'customer', :cb, '好的');
SELECT is(pg_temp.fired(), '', 'specified: the same external id in another tenant fires nothing');
SELECT helpdesk.post_message(:ta, :s1, 'customer', :c1, '好的谢谢');
SELECT is(pg_temp.fired(), 'spec', 'specified: that customer fires it; a task naming another name does not');
SELECT helpdesk._task_pass(now());

-- customer_payment: the built-in phrases, then the tenant's own list
SELECT helpdesk.receive_task(:ta, pg_temp.task('pay', '{"type": "customer_payment"}'));
SELECT helpdesk.post_message(:ta, :s2, 'customer', :c2, '我刚刚已付款了');
SELECT is(pg_temp.fired(), 'pay', 'customer_payment: a built-in phrase fires');
SELECT helpdesk._task_pass(now());
SELECT helpdesk.set_task_settings(:ta, '{paid,已转账}');
SELECT helpdesk.receive_task(:ta, pg_temp.task('pay2', '{"type": "customer_payment"}'));
SELECT helpdesk.receive_task(:ta, pg_temp.task('pay3', '{"type": "customer_payment", "keywords": ["拍下了"]}'));
SELECT helpdesk.post_message(:ta, :s2, 'customer', :c2, '已付款');
SELECT is(pg_temp.fired(), '', 'the tenant''s own list replaces the built-in one');
SELECT helpdesk.post_message(:ta, :s2, 'customer', :c2, '我已转账');
SELECT is(pg_temp.fired(), 'pay2', 'a phrase of the tenant''s list fires');
SELECT helpdesk.post_message(:ta, :s2, 'customer', :c2, '拍下了');
SELECT is(pg_temp.fired(), 'pay2,pay3', 'a payment task''s own keywords replace the list');
SELECT helpdesk._task_pass(now());

-- agents, bots, notes and non-text messages never fire
SELECT helpdesk.receive_task(:ta, pg_temp.task('agent', '{"type": "customer_reply", "keyword": "agent-word"}'));
SELECT helpdesk.post_message(:ta, :s1, 'system', NULL, 'agent-word');
SELECT helpdesk.post_message(:ta, :s1, 'customer', :c1, 'agent-word', 'file', NULL,
	'{"url": "https://x.example/a.png", "name": "agent-word", "mime": "image/png", "size": 1}');
SELECT is(pg_temp.fired(), '', 'system messages and file captions fire nothing');

-- send_file: a file message with the URL, name and a MIME type from the name
SELECT helpdesk.receive_task(:ta, pg_temp.task('file', '{"type": "customer_reply", "keyword": "要文件"}',
	'{"action": {"type": "send_file", "file_url": "https://cdn.example/doc/报价单.pdf?x=1", "message": "请查收"}}'));
SELECT helpdesk.post_message(:ta, :s1, 'customer', :c1, '我要文件');
SELECT helpdesk._task_pass(now());
SELECT is(pg_temp.st(:ta, 'file'), 'completed', 'send_file completed');
SELECT is((SELECT type || ' ' || body || ' ' || (attachment->>'name') || ' ' || (attachment->>'mime')
           FROM helpdesk.message WHERE tenant_id = :ta AND sender_kind = 'system' ORDER BY id DESC LIMIT 1),
	'file 请查收 报价单.pdf application/pdf', 'the file message: caption, name from the URL, mime from the name');

-- a failing action: the session closed and the customer has no other one -> retried, then failed
SELECT helpdesk.receive_task(:ta, pg_temp.task('fail', '{"type": "customer_reply", "keyword": "再见"}'));
SELECT helpdesk.post_message(:ta, :s2, 'customer', :c2, '再见');
SELECT helpdesk.close_session(:ta, :s2, 'customer');
SELECT helpdesk._task_pass(now());
SELECT is((SELECT status || ' ' || retry_count FROM helpdesk.trigger_task WHERE task_id = 'fail'), 'running 1',
	'a failed action is retried (retry_count 1)');
SELECT alike((SELECT error_message FROM helpdesk.trigger_task WHERE task_id = 'fail'), '%has no open session%',
	'error_message says why');
SELECT is(helpdesk._task_pass(now() + interval '0.5 s'), 0, 'not before its backoff');
SELECT helpdesk._task_pass(now() + interval '1 s');
SELECT helpdesk._task_pass(now() + interval '3 s');
SELECT is((SELECT status || ' ' || retry_count FROM helpdesk.trigger_task WHERE task_id = 'fail'), 'running 3', 'three retries');
SELECT helpdesk._task_pass(now() + interval '7 s');
SELECT is((SELECT status || ' ' || retry_count || ' ' || (completed_at IS NOT NULL) FROM helpdesk.trigger_task
           WHERE task_id = 'fail'), 'failed 4 true', 'after max_retry (3) retries: failed');

-- the customer's newer open session takes the message when the firing one closed
SELECT session_id AS s2b FROM helpdesk.start_session(:ta, :c2) \gset
SELECT helpdesk.receive_task(:ta, pg_temp.task('moved', '{"type": "customer_reply", "keyword": "换个窗口"}'));
SELECT helpdesk.post_message(:ta, :s2b, 'customer', :c2, '换个窗口');
SELECT helpdesk._task_pass(now());
SELECT is((SELECT (result->>'session_id')::bigint FROM helpdesk.trigger_task WHERE task_id = 'moved'), :s2b::bigint,
	'posted into the open session');

-- expiry: timeout_hours untriggered
SELECT helpdesk.receive_task(:ta, pg_temp.task('exp', '{"type": "customer_reply", "keyword": "永远不说"}', '{"timeout_hours": 2}'));
SELECT helpdesk._task_pass(now());
SELECT is(helpdesk._task_pass(now() + interval '1 hour'), 0, 'not expired before timeout_hours');
SELECT helpdesk._task_pass(now() + interval '2 hours 1 second');
SELECT is(pg_temp.st(:ta, 'exp'), 'expired', 'expired after timeout_hours');
SELECT helpdesk.receive_task(:ta, pg_temp.task('exp2', '{"type": "customer_reply", "keyword": "晚了"}', '{"timeout_hours": 1}'));
UPDATE helpdesk.trigger_task SET expires_at = now() - interval '1 s', created_at = now() - interval '1 hour' WHERE task_id = 'exp2';
SELECT helpdesk.post_message(:ta, :s1, 'customer', :c1, '晚了');
SELECT is(pg_temp.st(:ta, 'exp2'), 'pending', 'a task past its expiry does not fire, even before the stage marked it');

-- time_reach, in the tenant's zone
SELECT helpdesk.set_task_settings(:ta, time_zone => 'Asia/Shanghai');
SELECT helpdesk.receive_task(:ta, pg_temp.task('time', jsonb_build_object('type', 'time_reach',
	'time', to_char((now() + interval '1 hour') AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI:SS'))));
SELECT is((SELECT date_trunc('second', trigger_at) FROM helpdesk.trigger_task WHERE task_id = 'time'),
	date_trunc('second', now() + interval '1 hour'), 'the time is read in the tenant''s zone');
SELECT helpdesk._task_pass(now());
SELECT is(pg_temp.st(:ta, 'time'), 'waiting', 'time_reach waits');
SELECT helpdesk._task_pass(now() + interval '59 minutes');
SELECT is(pg_temp.st(:ta, 'time'), 'waiting', 'not before its time');
SELECT helpdesk._task_pass(now() + interval '1 hour 1 second');
SELECT is(pg_temp.st(:ta, 'time'), 'completed', 'at its time: fired and done');
SELECT is((SELECT (result->>'session_id')::bigint FROM helpdesk.trigger_task WHERE task_id = 'time'), :s1::bigint,
	'time_reach posts into the task customer''s open session');
SELECT helpdesk.receive_task(:ta, pg_temp.task('time-z', '{"type": "time_reach", "time": "2026-02-28T09:00:00+08:00"}'));
SELECT is((SELECT trigger_at FROM helpdesk.trigger_task WHERE task_id = 'time-z'), '2026-02-28 01:00:00+00'::timestamptz,
	'an explicit offset wins over the zone');

-- cancel: a cancelled task never fires
SELECT helpdesk.receive_task(:ta, pg_temp.task('cx', '{"type": "customer_reply", "keyword": "取消我"}'));
SELECT helpdesk.cancel_task(:ta, 'cx', '客户取消订单');
SELECT helpdesk.post_message(:ta, :s1, 'customer', :c1, '取消我');
SELECT is(pg_temp.st(:ta, 'cx'), 'cancelled', 'a cancelled task does not fire');
SELECT helpdesk.receive_task(:ta, pg_temp.task('cx2', '{"type": "customer_reply", "keyword": "先触发"}'));
SELECT helpdesk.post_message(:ta, :s1, 'customer', :c1, '先触发');
SELECT throws_ok(format('SELECT helpdesk.cancel_task(%s, %L)', :ta, 'cx2'), 'HD422', NULL, 'a fired task cannot be cancelled');

-- list_tasks: filters and paging
SELECT is((helpdesk.list_tasks(:ta)->>'total')::int, (SELECT count(*)::int FROM helpdesk.trigger_task WHERE tenant_id = :ta), 'total');
SELECT is(jsonb_array_length(helpdesk.list_tasks(:ta)->'tasks'), 20, 'page_size defaults to 20');
SELECT is((SELECT string_agg(x->>'task_id', ',') FROM jsonb_array_elements(helpdesk.list_tasks(:ta, page => 1, page_size => 2)->'tasks') x),
	'cx2,cx', 'newest first');
SELECT is((SELECT string_agg(x->>'task_id', ',') FROM jsonb_array_elements(helpdesk.list_tasks(:ta, page => 2, page_size => 2)->'tasks') x),
	'time-z,time', 'page 2');
SELECT is(helpdesk.list_tasks(:ta, page => 1000)->'tasks', '[]'::jsonb, 'beyond the end: an empty page');
SELECT is((helpdesk.list_tasks(:ta, status => 'expired')->>'total')::int, 2, 'status filter (exp, and exp2 expired by a later pass)');
SELECT is((helpdesk.list_tasks(:ta, customer_id => 'nobody')->>'total')::int, 0, 'customer filter');
SELECT is((helpdesk.list_tasks(:tb)->>'total')::int, 0, 'another tenant''s tasks are not listed');
SELECT is(helpdesk.task_status(:ta, 'exp')->>'status', 'expired', 'task_status');
SELECT is(helpdesk.task_status(:ta, 'exp')->'trigger'->>'keyword', '永远不说', 'task_status carries the trigger as received');

SELECT * FROM finish();
ROLLBACK;
