BEGIN;
SELECT plan(57);

-- Quick replies: upsert and its matching key, placeholders (checked on
-- store, filled in on render with fallbacks and bounds), the agent's prefix
-- search ranked by its own use, use counts, delete, and every error path.

\ir fixtures.psql

INSERT INTO fx SELECT 't', helpdesk.upsert_tenant('tap-qr', 'TAP quick replies');
INSERT INTO fx SELECT 't2', helpdesk.upsert_tenant('tap-qr-2', 'TAP quick replies 2');
INSERT INTO fx SELECT 'q', helpdesk.upsert_queue(pg_temp.fx('t'), 'general', 'General', is_default => true);
SELECT helpdesk.upsert_queue(pg_temp.fx('t2'), 'general', 'General', is_default => true);
INSERT INTO fx SELECT 'ana', helpdesk.upsert_agent(pg_temp.fx('t'), 'ana', 'Ana');
INSERT INTO fx SELECT 'bo', helpdesk.upsert_agent(pg_temp.fx('t'), 'bo', 'Bo');
INSERT INTO fx SELECT 'other_agent', helpdesk.upsert_agent(pg_temp.fx('t2'), 'zed', 'Zed');
INSERT INTO fx SELECT 'c', helpdesk.upsert_customer(pg_temp.fx('t'), 'cust-1', '李雷', language => 'zh-cn',
	attributes => '{"server": "eu-1", "level": 42, "vip": true, "inv": {"gold": 5}, "gone": null}');
INSERT INTO fx SELECT 'c_anon', helpdesk.upsert_customer(pg_temp.fx('t'), 'cust-2');
INSERT INTO fx SELECT 's', session_id FROM helpdesk.start_session(pg_temp.fx('t'), pg_temp.fx('c'),
	attributes => '{"order": "A-17"}');
INSERT INTO fx SELECT 's_anon', session_id FROM helpdesk.start_session(pg_temp.fx('t'), pg_temp.fx('c_anon'));
INSERT INTO fx SELECT 's_other', session_id FROM helpdesk.start_session(pg_temp.fx('t2'),
	helpdesk.upsert_customer(pg_temp.fx('t2'), 'x'));

------------------------------------------------------------------------------
-- upsert
------------------------------------------------------------------------------
INSERT INTO fx SELECT 'greet', helpdesk.upsert_quick_reply(pg_temp.fx('t'), 'hello', 'Greeting',
	'Hi {{customer.name|there}}, I am {{agent.name}}. Server {{ customer.attributes.server }}.',
	category => 'opening');
INSERT INTO fx SELECT 'greet_en', helpdesk.upsert_quick_reply(pg_temp.fx('t'), 'hello', 'Greeting (English)',
	'Hello!', language => 'EN');
INSERT INTO fx SELECT 'refund', helpdesk.upsert_quick_reply(pg_temp.fx('t'), 'refund', 'Refund policy',
	'Refunds take 3 days.');
INSERT INTO fx SELECT 'ana_ref', helpdesk.upsert_quick_reply(pg_temp.fx('t'), 'ref-mine', 'Refund, my words',
	'Ana says: refunds are quick.', agent_id => pg_temp.fx('ana'));
INSERT INTO fx SELECT 'bo_hello', helpdesk.upsert_quick_reply(pg_temp.fx('t'), 'hello', 'Bo greets',
	'Yo {{customer.name}}', agent_id => pg_temp.fx('bo'));
INSERT INTO fx SELECT 'attrs', helpdesk.upsert_quick_reply(pg_temp.fx('t'), 'attrs', 'Attribute test',
	'[{{customer.attributes.level}}|{{customer.attributes.vip}}|{{customer.attributes.inv}}|{{customer.attributes.gone|none}}|{{customer.attributes.missing}}|{{session.attributes.order}}|{{ticket.number|no ticket}}|{{customer.external_id}}]');

SELECT is(helpdesk.upsert_quick_reply(pg_temp.fx('t'), 'Hello', 'Greeting v2',
	'Hi {{customer.name|there}}, I am {{agent.name}}. Server {{ customer.attributes.server }}.', category => 'opening'),
	pg_temp.fx('greet'), 'same owner, shortcode (case-insensitive) and language: the same quick reply');
SELECT is((SELECT title FROM helpdesk.quick_reply WHERE id = pg_temp.fx('greet')), 'Greeting v2', 'upsert updates the title');
SELECT isnt(pg_temp.fx('greet_en'), pg_temp.fx('greet'), 'another language is another quick reply');
SELECT is((SELECT language FROM helpdesk.quick_reply WHERE id = pg_temp.fx('greet_en')), 'en', 'language stored lowercase');
SELECT isnt(pg_temp.fx('bo_hello'), pg_temp.fx('greet'), 'a personal quick reply may reuse a shared shortcode');
SELECT is((SELECT agent_id FROM helpdesk.quick_reply WHERE id = pg_temp.fx('ana_ref')), pg_temp.fx('ana'), 'personal: owned by the agent');

------------------------------------------------------------------------------
-- upsert errors
------------------------------------------------------------------------------
SELECT throws_ok(format('SELECT helpdesk.upsert_quick_reply(NULL, %L, %L, %L)', 'a', 'b', 'c'),
	'22004', 'tenant_id must not be NULL', 'upsert: NULL tenant');
SELECT throws_ok(format('SELECT helpdesk.upsert_quick_reply(%s, NULL, %L, %L)', pg_temp.fx('t'), 'b', 'c'),
	'22004', 'shortcode must not be NULL', 'upsert: NULL shortcode');
SELECT throws_ok(format('SELECT helpdesk.upsert_quick_reply(%s, %L, %L, NULL)', pg_temp.fx('t'), 'a', 'b'),
	'22004', 'body must not be NULL', 'upsert: NULL body');
SELECT throws_ok('SELECT helpdesk.upsert_quick_reply(999999999, ''a'', ''b'', ''c'')',
	'HD404', 'tenant 999999999 does not exist', 'upsert: unknown tenant');
SELECT throws_ok(format('SELECT helpdesk.upsert_quick_reply(%s, %L, %L, %L, agent_id => %s)',
	pg_temp.fx('t'), 'a', 'b', 'c', pg_temp.fx('other_agent')),
	'HD404', format('agent %s does not exist in tenant %s', pg_temp.fx('other_agent'), pg_temp.fx('t')),
	'upsert: another tenant''s agent');
SELECT throws_ok(format('SELECT helpdesk.upsert_quick_reply(%s, %L, %L, %L)', pg_temp.fx('t'), 'a b', 'b', 'c'),
	'22023', 'shortcode must be letters, digits, _ . - (not first), got "a b"', 'upsert: bad shortcode');
SELECT throws_ok(format('SELECT helpdesk.upsert_quick_reply(%s, %L, %L, %L)', pg_temp.fx('t'), '-a', 'b', 'c'),
	'22023', 'shortcode must be letters, digits, _ . - (not first), got "-a"', 'upsert: shortcode starting with -');
SELECT throws_ok(format('SELECT helpdesk.upsert_quick_reply(%s, %L, %L, %L)', pg_temp.fx('t'), repeat('a', 51), 'b', 'c'),
	'22023', 'shortcode must be 1 to 50 characters long, got 51', 'upsert: long shortcode');
SELECT throws_ok(format('SELECT helpdesk.upsert_quick_reply(%s, %L, %L, %L)', pg_temp.fx('t'), 'a', '', 'c'),
	'22023', 'title must be 1 to 200 characters long, got 0', 'upsert: empty title');
SELECT throws_ok(format('SELECT helpdesk.upsert_quick_reply(%s, %L, %L, %L)', pg_temp.fx('t'), 'a', 'b', repeat('x', 4001)),
	'22023', 'body must be 1 to 4000 characters long, got 4001', 'upsert: body too long');
SELECT throws_ok(format('SELECT helpdesk.upsert_quick_reply(%s, %L, %L, %L)', pg_temp.fx('t'), 'a', 'b', 'Hi {{custmer.name}}'),
	'22023', 'body has an unknown placeholder at "{{custmer.name}}"', 'upsert: unknown placeholder');
SELECT throws_ok(format('SELECT helpdesk.upsert_quick_reply(%s, %L, %L, %L)', pg_temp.fx('t'), 'a', 'b', 'Hi {{customer.name'),
	'22023', 'body has a "{{" without its closing "}}" at "{{customer.name"', 'upsert: unclosed placeholder');
SELECT throws_ok(format('SELECT helpdesk.upsert_quick_reply(%s, %L, %L, %L)', pg_temp.fx('t'), 'a', 'b', '{{customer.attributes.a b}}'),
	'22023', 'body has an attribute key with characters other than letters, digits, _ and - at "{{customer.attributes.a b}}"',
	'upsert: bad attribute key');
SELECT throws_ok(format('SELECT helpdesk.upsert_quick_reply(%s, %L, %L, %L)', pg_temp.fx('t'), 'a', 'b', '{{agent.name|{x}}}'),
	'22023', 'body has a fallback containing { or } at "{{agent.name|{x}}}"', 'upsert: bad fallback');
SELECT throws_ok(format('SELECT helpdesk.upsert_quick_reply(%s, %L, %L, %L)', pg_temp.fx('t'), 'a', 'b', repeat('{{agent.name}}', 21)),
	'22023', 'body may hold at most 20 placeholders', 'upsert: too many placeholders');
SELECT throws_ok(format('SELECT helpdesk.upsert_quick_reply(%s, %L, %L, %L, language => %L)', pg_temp.fx('t'), 'a', 'b', 'c', 'english'),
	'22023', 'language must be a language tag such as zh-CN or en, got "english"', 'upsert: bad language');
SELECT throws_ok(format('SELECT helpdesk.upsert_quick_reply(%s, %L, %L, %L, category => %L)', pg_temp.fx('t'), 'a', 'b', 'c', ''),
	'22023', 'category must be 1 to 100 characters long, got 0', 'upsert: empty category');

------------------------------------------------------------------------------
-- render
------------------------------------------------------------------------------
SELECT is(helpdesk.render_quick_reply(pg_temp.fx('t'), pg_temp.fx('greet'), pg_temp.fx('ana'), session_id => pg_temp.fx('s')),
	'Hi 李雷, I am Ana. Server eu-1.', 'render for a session: customer name, agent name, customer attribute');
SELECT is(helpdesk.render_quick_reply(pg_temp.fx('t'), pg_temp.fx('greet'), pg_temp.fx('bo'), session_id => pg_temp.fx('s_anon')),
	'Hi there, I am Bo. Server .', 'a customer without a name gets the fallback; a missing attribute without one renders as nothing');
SELECT is(helpdesk.render_quick_reply(pg_temp.fx('t'), pg_temp.fx('greet'), pg_temp.fx('ana'), count_use => false),
	'Hi there, I am Ana. Server .', 'no session or ticket: customer placeholders use their fallbacks');
SELECT is(helpdesk.render_quick_reply(pg_temp.fx('t'), pg_temp.fx('attrs'), pg_temp.fx('ana'), session_id => pg_temp.fx('s')),
	'[42|true|{"gold": 5}|none||A-17|no ticket|cust-1]', 'numbers, booleans, documents, JSON null, absent keys, session attributes, no ticket');
SELECT is(helpdesk.render_quick_reply(pg_temp.fx('t'), pg_temp.fx('bo_hello'), pg_temp.fx('bo'), session_id => pg_temp.fx('s')),
	'Yo 李雷', 'the owner renders its personal quick reply');
-- a huge attribute is cut to 256 characters
SELECT helpdesk.upsert_customer(pg_temp.fx('t'), 'cust-1', attributes => jsonb_build_object('server', repeat('长', 5000)));
SELECT is(length(helpdesk.render_quick_reply(pg_temp.fx('t'), pg_temp.fx('greet'), pg_temp.fx('ana'), session_id => pg_temp.fx('s'))),
	length('Hi 李雷, I am Ana. Server .') + 256, 'a value is cut to 256 characters');
-- text written around the API keeps an unknown placeholder verbatim
UPDATE helpdesk.quick_reply SET body = 'x {{nope}} {{agent.name}}' WHERE id = pg_temp.fx('refund');
SELECT is(helpdesk.render_quick_reply(pg_temp.fx('t'), pg_temp.fx('refund'), pg_temp.fx('ana'), count_use => false),
	'x {{nope}} Ana', 'an unknown placeholder in a row written directly stays verbatim');

-- a ticket: its number, subject and attributes, and its customer
INSERT INTO fx SELECT 'k', ticket_id FROM helpdesk.create_ticket(pg_temp.fx('t'), pg_temp.fx('c'), 'Lost sword', 'help',
	attributes => '{"order": "B-9"}');
INSERT INTO fx SELECT 'k_other', ticket_id FROM helpdesk.create_ticket(pg_temp.fx('t2'),
	helpdesk.upsert_customer(pg_temp.fx('t2'), 'x'), 'Other', 'help');
INSERT INTO fx SELECT 'tk', helpdesk.upsert_quick_reply(pg_temp.fx('t'), 'tk', 'Ticket',
	'{{ticket.number}} "{{ticket.subject}}" {{ticket.attributes.order}} for {{customer.name}} ({{session.attributes.order|no chat}})');
SELECT is(helpdesk.render_quick_reply(pg_temp.fx('t'), pg_temp.fx('tk'), pg_temp.fx('ana'), ticket_id => pg_temp.fx('k')),
	format('#%s "Lost sword" B-9 for 李雷 (no chat)', (SELECT number FROM helpdesk.ticket WHERE id = pg_temp.fx('k'))),
	'render for a ticket: number, subject, ticket attribute, its customer');
SELECT throws_ok(format('SELECT helpdesk.render_quick_reply(%s, %s, %s, ticket_id => %s)', pg_temp.fx('t'), pg_temp.fx('tk'), pg_temp.fx('ana'), pg_temp.fx('k_other')),
	'HD404', format('ticket %s does not exist in tenant %s', pg_temp.fx('k_other'), pg_temp.fx('t')),
	'render: another tenant''s ticket');
SELECT throws_ok(format('SELECT helpdesk.render_quick_reply(%s, %s, %s)', pg_temp.fx('t'), pg_temp.fx('ana_ref'), pg_temp.fx('bo')),
	'HD404', format('quick reply %s does not exist for agent %s in tenant %s', pg_temp.fx('ana_ref'), pg_temp.fx('bo'), pg_temp.fx('t')),
	'render: another agent''s personal quick reply');
SELECT throws_ok(format('SELECT helpdesk.render_quick_reply(%s, %s, %s)', pg_temp.fx('t2'), pg_temp.fx('greet'), pg_temp.fx('other_agent')),
	'HD404', format('quick reply %s does not exist for agent %s in tenant %s', pg_temp.fx('greet'), pg_temp.fx('other_agent'), pg_temp.fx('t2')),
	'render: another tenant''s quick reply');
SELECT throws_ok(format('SELECT helpdesk.render_quick_reply(%s, %s, %s)', pg_temp.fx('t'), pg_temp.fx('greet'), pg_temp.fx('other_agent')),
	'HD404', format('agent %s does not exist in tenant %s', pg_temp.fx('other_agent'), pg_temp.fx('t')),
	'render: another tenant''s agent');
SELECT throws_ok(format('SELECT helpdesk.render_quick_reply(%s, %s, %s, session_id => %s)', pg_temp.fx('t'), pg_temp.fx('greet'), pg_temp.fx('ana'), pg_temp.fx('s_other')),
	'HD404', format('session %s does not exist in tenant %s', pg_temp.fx('s_other'), pg_temp.fx('t')),
	'render: another tenant''s session');
SELECT throws_ok(format('SELECT helpdesk.render_quick_reply(%s, %s, %s, session_id => 1, ticket_id => 1)', pg_temp.fx('t'), pg_temp.fx('greet'), pg_temp.fx('ana')),
	'22023', 'give session_id or ticket_id, not both', 'render: both a session and a ticket');
SELECT throws_ok(format('SELECT helpdesk.render_quick_reply(%s, NULL, %s)', pg_temp.fx('t'), pg_temp.fx('ana')),
	'22004', 'quick_reply_id must not be NULL', 'render: NULL id');
SELECT throws_ok(format('SELECT helpdesk.render_quick_reply(%s, %s, NULL)', pg_temp.fx('t'), pg_temp.fx('greet')),
	'22004', 'agent_id must not be NULL', 'render: NULL agent');

------------------------------------------------------------------------------
-- use counts and search
------------------------------------------------------------------------------
SELECT is((SELECT use_count FROM helpdesk.quick_reply WHERE id = pg_temp.fx('greet')), 3::bigint,
	'three counted renders of greet (count_use => false and failed renders not counted)');
SELECT is((SELECT uses FROM helpdesk.quick_reply_use WHERE agent_id = pg_temp.fx('ana') AND quick_reply_id = pg_temp.fx('greet')),
	2::bigint, 'two of them by Ana');
-- Ana uses refund three times: it ranks first for her, not for Bo
SELECT helpdesk.render_quick_reply(pg_temp.fx('t'), pg_temp.fx('refund'), pg_temp.fx('ana')) FROM generate_series(1, 3);
SELECT is(array(SELECT quick_reply_id FROM helpdesk.search_quick_replies(pg_temp.fx('t'), pg_temp.fx('ana'))),
	ARRAY[pg_temp.fx('refund'), pg_temp.fx('greet'), pg_temp.fx('tk'), pg_temp.fx('attrs'), pg_temp.fx('ana_ref'), pg_temp.fx('greet_en')],
	'Ana: most used by her first (ties: the most recent), then personal before shared; Bo''s personal one is not hers');
SELECT is(array(SELECT quick_reply_id FROM helpdesk.search_quick_replies(pg_temp.fx('t'), pg_temp.fx('bo'), 'HEL')),
	ARRAY[pg_temp.fx('bo_hello'), pg_temp.fx('greet'), pg_temp.fx('greet_en')],
	'Bo, prefix HEL: both used once by him, the most recent first, then the unused one');
SELECT is(array(SELECT quick_reply_id FROM helpdesk.search_quick_replies(pg_temp.fx('t'), pg_temp.fx('ana'), '/ref')),
	ARRAY[pg_temp.fx('refund'), pg_temp.fx('ana_ref')], 'a leading / is ignored; shortcode prefix');
SELECT is(array(SELECT quick_reply_id FROM helpdesk.search_quick_replies(pg_temp.fx('t'), pg_temp.fx('ana'), 'greeting (')),
	ARRAY[pg_temp.fx('greet_en')], 'title prefix, case-insensitive');
SELECT is(array(SELECT quick_reply_id FROM helpdesk.search_quick_replies(pg_temp.fx('t'), pg_temp.fx('ana'), '%')),
	'{}'::bigint[], 'LIKE wildcards in the prefix are literal');
SELECT is(array(SELECT quick_reply_id FROM helpdesk.search_quick_replies(pg_temp.fx('t'), pg_temp.fx('ana'), 'hel', language => 'zh-CN')),
	ARRAY[pg_temp.fx('greet')], 'language filter: that language or none');
SELECT is((SELECT count(*) FROM helpdesk.search_quick_replies(pg_temp.fx('t'), pg_temp.fx('ana'), max_rows => 2)),
	2::bigint, 'max_rows');
SELECT is((SELECT string_agg(row(uses, personal)::text, ' ' ORDER BY quick_reply_id) FROM helpdesk.search_quick_replies(pg_temp.fx('t'), pg_temp.fx('ana'), 'refund')),
	'(3,f) (0,t)', 'uses and personal columns (shortcode refund, title "Refund, my words")');
SELECT throws_ok(format('SELECT * FROM helpdesk.search_quick_replies(%s, %s)', pg_temp.fx('t'), pg_temp.fx('other_agent')),
	'HD404', format('agent %s does not exist in tenant %s', pg_temp.fx('other_agent'), pg_temp.fx('t')), 'search: another tenant''s agent');
SELECT throws_ok(format('SELECT * FROM helpdesk.search_quick_replies(%s, NULL)', pg_temp.fx('t')),
	'22004', 'agent_id must not be NULL', 'search: NULL agent');
SELECT throws_ok(format('SELECT * FROM helpdesk.search_quick_replies(%s, %s, max_rows => 0)', pg_temp.fx('t'), pg_temp.fx('ana')),
	'22023', 'max_rows must be between 1 and 1000, got 0', 'search: max_rows 0');

------------------------------------------------------------------------------
-- delete
------------------------------------------------------------------------------
SELECT throws_ok(format('SELECT helpdesk.delete_quick_reply(%s, %s, %s)', pg_temp.fx('t'), pg_temp.fx('ana_ref'), pg_temp.fx('bo')),
	'HD404', format('quick reply %s is not a personal quick reply of agent %s in tenant %s', pg_temp.fx('ana_ref'), pg_temp.fx('bo'), pg_temp.fx('t')),
	'delete: not the owner');
SELECT throws_ok(format('SELECT helpdesk.delete_quick_reply(%s, %s)', pg_temp.fx('t2'), pg_temp.fx('greet')),
	'HD404', format('quick reply %s does not exist in tenant %s', pg_temp.fx('greet'), pg_temp.fx('t2')),
	'delete: another tenant''s quick reply');
SELECT lives_ok(format('SELECT helpdesk.delete_quick_reply(%s, %s)', pg_temp.fx('t'), pg_temp.fx('refund')), 'delete a shared one');
SELECT is((SELECT count(*) FROM helpdesk.quick_reply_use WHERE quick_reply_id = pg_temp.fx('refund')), 0::bigint,
	'its use counts go with it');
SELECT throws_ok(format('SELECT helpdesk.delete_quick_reply(%s, %s)', pg_temp.fx('t'), pg_temp.fx('refund')),
	'HD404', format('quick reply %s does not exist in tenant %s', pg_temp.fx('refund'), pg_temp.fx('t')), 'delete twice');

SELECT * FROM finish();
ROLLBACK;
