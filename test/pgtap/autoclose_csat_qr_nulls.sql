BEGIN;
SELECT plan(19);

-- Every required argument of the auto-close, CSAT and quick reply
-- functions, NULL in turn: 22004 naming it (checked before anything else,
-- so the other arguments need not exist).
CREATE TEMP TABLE null_arg (call text, arg text);
INSERT INTO null_arg VALUES
	('set_autoclose(%s, ''pending'')', 'tenant_id'), ('set_autoclose(1, %s)', 'rule'),
	('autoclose_settings(%s)', 'tenant_id'),
	('set_csat(%s)', 'tenant_id'),
	('submit_csat(%s, ''ticket'', 1, 1, 5)', 'tenant_id'), ('submit_csat(1, %s, 1, 1, 5)', 'target'),
	('submit_csat(1, ''ticket'', %s, 1, 5)', 'id'), ('submit_csat(1, ''ticket'', 1, %s, 5)', 'customer_id'),
	('submit_csat(1, ''ticket'', 1, 1, %s)', 'score'),
	('upsert_quick_reply(%s, ''a'', ''b'', ''c'')', 'tenant_id'), ('upsert_quick_reply(1, %s, ''b'', ''c'')', 'shortcode'),
	('upsert_quick_reply(1, ''a'', %s, ''c'')', 'title'), ('upsert_quick_reply(1, ''a'', ''b'', %s)', 'body'),
	('delete_quick_reply(%s, 1)', 'tenant_id'), ('delete_quick_reply(1, %s)', 'quick_reply_id'),
	('search_quick_replies(%s, 1)', 'tenant_id'), ('search_quick_replies(1, %s)', 'agent_id'),
	('render_quick_reply(%s, 1, 1)', 'tenant_id'), ('render_quick_reply(1, 1, %s)', 'agent_id');
SELECT throws_ok(format('SELECT * FROM helpdesk.' || call, 'NULL'), '22004', arg || ' must not be NULL',
	split_part(call, '(', 1) || ': NULL ' || arg)
FROM null_arg ORDER BY call;

SELECT * FROM finish();
ROLLBACK;
