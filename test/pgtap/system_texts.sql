-- System texts: the idle warning in the customer's language with the real
-- idle_close_after, tenant overrides, and the errors of the setters.
--
-- No wrapping transaction: the dispatcher worker sends the idle warnings,
-- so fixtures commit and the tests poll. Tenants are new (slug prefix :run)
-- and deleted at the end.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT plan(37);

\ir fixtures.psql

SELECT 'tx' || to_char(clock_timestamp(), 'YYYYMMDDHH24MISSUS') AS run \gset

CREATE FUNCTION pg_temp.wait_until(cond text, timeout interval DEFAULT '10 seconds')
RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	deadline timestamptz := clock_timestamp() + timeout;
	r boolean;
BEGIN
	LOOP
		EXECUTE 'SELECT (' || cond || ')' INTO r;
		IF r THEN
			RETURN true;
		END IF;
		IF clock_timestamp() > deadline THEN
			RETURN false;
		END IF;
		PERFORM pg_sleep(0.05);
	END LOOP;
END $$;

INSERT INTO fx SELECT 't', helpdesk.upsert_tenant(:'run', 'System texts', heartbeat_interval => '1 minute');
INSERT INTO fx SELECT 't2', helpdesk.upsert_tenant(:'run' || '-en', 'System texts, English default', heartbeat_interval => '1 minute');

------------------------------------------------------------------------------
-- built-in texts and durations
------------------------------------------------------------------------------
SELECT is(helpdesk.system_text(pg_temp.fx('t'), 'idle_warning', 'en', '4 seconds'),
	'Are you still there? This chat will close in 4 seconds unless you reply.', 'en: 4 seconds, not "1 minute"');
SELECT is(helpdesk.system_text(pg_temp.fx('t'), 'idle_warning', 'zh-CN', '4 seconds'),
	'您还在吗？如果您在4秒内没有回复，本次会话将自动结束。', 'zh-CN: 4秒');
SELECT is(helpdesk.system_text(pg_temp.fx('t'), 'idle_warning', 'en', '1 second'),
	'Are you still there? This chat will close in 1 second unless you reply.', 'en: singular');
SELECT is(helpdesk.system_text(pg_temp.fx('t'), 'idle_warning', 'en', '150 seconds'),
	'Are you still there? This chat will close in 2 minutes 30 seconds unless you reply.', 'en: two units');
SELECT is(helpdesk.system_text(pg_temp.fx('t'), 'idle_warning', 'en', '1 hour 5 seconds'),
	'Are you still there? This chat will close in 1 hour unless you reply.', 'en: the two largest adjacent units only');
SELECT is(helpdesk.system_text(pg_temp.fx('t'), 'idle_warning', 'zh', '2 minutes 30 seconds'),
	'您还在吗？如果您在2分钟30秒内没有回复，本次会话将自动结束。', 'zh finds zh-CN by its primary subtag');
SELECT is(helpdesk.system_text(pg_temp.fx('t'), 'idle_warning', 'EN-gb', '2 days'),
	'Are you still there? This chat will close in 2 days unless you reply.', 'EN-gb finds en (case-insensitive)');
SELECT is(helpdesk.system_text(pg_temp.fx('t'), 'idle_warning', 'es', '4 seconds'),
	'您还在吗？如果您在4秒内没有回复，本次会话将自动结束。', 'a language without a text gets the tenant default (zh-CN)');
SELECT is(helpdesk.system_text(pg_temp.fx('t'), 'idle_warning', NULL, '4 seconds'),
	'您还在吗？如果您在4秒内没有回复，本次会话将自动结束。', 'an unknown language gets the tenant default');

SELECT lives_ok(format('SELECT helpdesk.set_tenant_language(%s, %L)', pg_temp.fx('t2'), 'en'), 'set_tenant_language');
SELECT is((SELECT default_language FROM helpdesk.tenant WHERE id = pg_temp.fx('t2')), 'en', 'default_language stored');
SELECT is(helpdesk.system_text(pg_temp.fx('t2'), 'idle_warning', 'es', '4 seconds'),
	'Are you still there? This chat will close in 4 seconds unless you reply.', 'es falls back to the tenant default en');

------------------------------------------------------------------------------
-- tenant texts
------------------------------------------------------------------------------
SELECT lives_ok(format('SELECT helpdesk.set_system_text(%s, %L, %L, %L)', pg_temp.fx('t2'), 'idle_warning', 'es',
	'¿Sigues ahí? El chat se cerrará en {seconds} segundos ({duration}).'), 'set_system_text: es');
SELECT is(helpdesk.system_text(pg_temp.fx('t2'), 'idle_warning', 'es-MX', '75 seconds'),
	'¿Sigues ahí? El chat se cerrará en 75 segundos (1:15).', 'es-MX: the tenant''s es text, {duration} as m:ss');
SELECT lives_ok(format('SELECT helpdesk.set_system_text(%s, %L, %L, %L)', pg_temp.fx('t2'), 'idle_warning', 'EN',
	'Still there? Closing in {duration}.'), 'set_system_text: overrides the built-in en');
SELECT is(helpdesk.system_text(pg_temp.fx('t2'), 'idle_warning', 'en', '3 minutes'),
	'Still there? Closing in 3 minutes.', 'the tenant''s en text wins over the built-in');
SELECT lives_ok(format('SELECT helpdesk.set_system_text(%s, %L, %L, %L)', pg_temp.fx('t2'), 'idle_warning', 'en',
	'Still there? {minutes} min.'), 'set_system_text: same language, other case, replaces');
SELECT is((SELECT string_agg(language, ',' ORDER BY language) FROM helpdesk.system_text WHERE tenant_id = pg_temp.fx('t2')), 'en,es',
	'tags are stored lowercase, one row per language');
SELECT is(helpdesk.system_text(pg_temp.fx('t2'), 'idle_warning', 'en', '61 seconds'),
	'Still there? 2 min.', '{minutes} rounds up');
SELECT is(helpdesk.system_text(pg_temp.fx('t'), 'idle_warning', 'en', '3 minutes'),
	'Are you still there? This chat will close in 3 minutes unless you reply.', 'another tenant keeps the built-in text');
SELECT lives_ok(format('SELECT helpdesk.set_system_text(%s, %L, %L, NULL)', pg_temp.fx('t2'), 'idle_warning', 'en'),
	'set_system_text: NULL removes');
SELECT is(helpdesk.system_text(pg_temp.fx('t2'), 'idle_warning', 'en', '3 minutes'),
	'Are you still there? This chat will close in 3 minutes unless you reply.', 'removed: the built-in text again');

------------------------------------------------------------------------------
-- errors
------------------------------------------------------------------------------
SELECT throws_ok(format('SELECT helpdesk.set_system_text(%s, %L, %L, %L)', pg_temp.fx('t'), 'welcome', 'en', 'x'),
	'22023', NULL, 'set_system_text: unknown key');
SELECT throws_ok(format('SELECT helpdesk.set_system_text(%s, %L, %L, %L)', pg_temp.fx('t'), 'idle_warning', 'english', 'x'),
	'22023', 'language must be a language tag such as zh-CN or en', 'set_system_text: not a language tag');
SELECT throws_ok(format('SELECT helpdesk.set_system_text(%s, %L, %L, %L)', pg_temp.fx('t'), 'idle_warning', 'zh-', 'x'),
	'22023', 'language must be a language tag such as zh-CN or en', 'set_system_text: empty subtag');
SELECT throws_ok(format('SELECT helpdesk.set_system_text(%s, %L, %L, %L)', pg_temp.fx('t'), 'idle_warning', 'en', ''),
	'22023', NULL, 'set_system_text: empty body');
SELECT throws_ok(format('SELECT helpdesk.set_system_text(%s, %L, %L, %L)', pg_temp.fx('t'), 'idle_warning', 'en', repeat('x', 1001)),
	'22023', NULL, 'set_system_text: body over 1000 characters');
SELECT throws_ok(format('SELECT helpdesk.set_system_text(%s, %L, %L, %L)', pg_temp.fx('t'), 'idle_warning', 'en', 'bye {name}'),
	'22023', 'body may only use the placeholders {duration}, {minutes} and {seconds}', 'set_system_text: unknown placeholder');
SELECT throws_ok(format('SELECT helpdesk.set_system_text(%s, %L, %L, %L)', -1, 'idle_warning', 'en', 'x'),
	'HD404', NULL, 'set_system_text: unknown tenant');
SELECT throws_ok(format('SELECT helpdesk.set_system_text(%s, NULL, %L, %L)', pg_temp.fx('t'), 'en', 'x'),
	'22004', NULL, 'set_system_text: NULL key');
SELECT throws_ok(format('SELECT helpdesk.set_tenant_language(%s, %L)', pg_temp.fx('t'), 'zh_CN'),
	'22023', 'default_language must be a language tag such as zh-CN or en', 'set_tenant_language: underscore');
SELECT throws_ok(format('SELECT helpdesk.set_tenant_language(%s, NULL)', pg_temp.fx('t')),
	'22004', NULL, 'set_tenant_language: NULL');
SELECT throws_ok(format('SELECT helpdesk.system_text(%s, %L, %L, %L)', pg_temp.fx('t'), 'idle_warning', 'en', '-1 second'),
	'22023', NULL, 'system_text: negative duration');

------------------------------------------------------------------------------
-- the dispatcher's idle warning: a 4-second close, in each customer's language
------------------------------------------------------------------------------
INSERT INTO fx SELECT 'q', helpdesk.upsert_queue(pg_temp.fx('t'), 'general', 'General', is_default => true);
SELECT helpdesk.set_queue_routing(pg_temp.fx('t'), pg_temp.fx('q'), 'direct', NULL, '1 second', '4 seconds') \g /dev/null
INSERT INTO fx SELECT 'a', helpdesk.upsert_agent(pg_temp.fx('t'), 'a', 'A', max_sessions => 5);
SELECT helpdesk.set_agent_status(pg_temp.fx('t'), pg_temp.fx('a'), 'online') \g /dev/null
INSERT INTO fx SELECT 'c_en', helpdesk.upsert_customer(pg_temp.fx('t'), 'c-en', language => 'en');
INSERT INTO fx SELECT 'c_zh', helpdesk.upsert_customer(pg_temp.fx('t'), 'c-zh', language => 'zh-cn');
INSERT INTO fx SELECT 's_en', session_id FROM helpdesk.start_session(pg_temp.fx('t'), pg_temp.fx('c_en'), first_message => 'hi');
INSERT INTO fx SELECT 's_zh', session_id FROM helpdesk.start_session(pg_temp.fx('t'), pg_temp.fx('c_zh'), first_message => '你好');
SELECT ok(pg_temp.wait_until(format($$(SELECT count(*) FROM helpdesk.session WHERE id IN (%s, %s) AND state = 'active') = 2$$,
	pg_temp.fx('s_en'), pg_temp.fx('s_zh'))), 'idle: both sessions active');
SELECT helpdesk.post_message(pg_temp.fx('t'), pg_temp.fx('s_en'), 'agent', pg_temp.fx('a'), 'How can I help?') \g /dev/null
SELECT helpdesk.post_message(pg_temp.fx('t'), pg_temp.fx('s_zh'), 'agent', pg_temp.fx('a'), '请问有什么可以帮您？') \g /dev/null
SELECT ok(pg_temp.wait_until(format($$(SELECT count(*) FROM helpdesk.message WHERE session_id IN (%s, %s) AND sender_kind = 'system') = 2$$,
	pg_temp.fx('s_en'), pg_temp.fx('s_zh'))), 'idle: a warning in each session');
SELECT is((SELECT body FROM helpdesk.message WHERE session_id = pg_temp.fx('s_en') AND sender_kind = 'system'),
	'Are you still there? This chat will close in 4 seconds unless you reply.', 'idle: English customer, the real 4 seconds');
SELECT is((SELECT body FROM helpdesk.message WHERE session_id = pg_temp.fx('s_zh') AND sender_kind = 'system'),
	'您还在吗？如果您在4秒内没有回复，本次会话将自动结束。', 'idle: Chinese customer, in Chinese');

------------------------------------------------------------------------------
-- clean up
------------------------------------------------------------------------------
SELECT count(helpdesk.close_session(tenant_id, id)) FROM helpdesk.session
	WHERE tenant_id IN (pg_temp.fx('t'), pg_temp.fx('t2')) AND state <> 'closed' \g /dev/null
DELETE FROM helpdesk.dispatch_audit WHERE tenant_id IN (pg_temp.fx('t'), pg_temp.fx('t2'));
DELETE FROM helpdesk.session_assignment WHERE tenant_id IN (pg_temp.fx('t'), pg_temp.fx('t2'));
DELETE FROM helpdesk.tenant WHERE id IN (pg_temp.fx('t'), pg_temp.fx('t2'));

SELECT * FROM finish();
