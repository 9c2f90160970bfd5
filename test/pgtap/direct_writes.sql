BEGIN;
SELECT plan(26);

-- post_message and event appends write their rows without the executor
-- (extension/core/direct_insert.c) as long as that is exactly what an INSERT
-- would do. These tests change the tables the way a DBA might (a CHECK
-- constraint, triggers, a new column) and check that every change is
-- honoured: enforced on the direct path, or the write goes through SQL.

\ir fixtures.psql

-- The extension itself must leave the direct path open: no INSERT trigger of
-- ours on the tables it writes (a check that needs the row belongs in the C
-- path that writes it, like uploads' hd_attachment_hook).
SELECT is((SELECT count(*) FROM pg_trigger
	WHERE tgrelid IN ('helpdesk.message'::regclass, 'helpdesk.event'::regclass)
	  AND NOT tgisinternal AND (tgtype & 4) <> 0)::int, 0,
	'the extension puts no INSERT trigger on message or event (post_message keeps its direct write)');

INSERT INTO fx SELECT 't', helpdesk.upsert_tenant('tap-direct', 'TAP direct writes');
INSERT INTO fx SELECT 'q', helpdesk.upsert_queue(pg_temp.fx('t'), 'general', 'General', is_default => true);
INSERT INTO fx SELECT 'c', helpdesk.upsert_customer(pg_temp.fx('t'), 'c-direct');
INSERT INTO fx SELECT 's', session_id FROM helpdesk.start_session(pg_temp.fx('t'), pg_temp.fx('c'));
INSERT INTO fx SELECT 't2', helpdesk.upsert_tenant('tap-direct-2', 'TAP direct writes 2');

CREATE FUNCTION pg_temp.post(body text, cmid text DEFAULT NULL) RETURNS bigint LANGUAGE sql AS $$
	SELECT helpdesk.post_message(pg_temp.fx('t'), pg_temp.fx('s'), 'customer', pg_temp.fx('c'), body,
	                             client_msg_id => cmid)
$$;

-- the row and its event, as the SQL defaults would have made them
INSERT INTO fx SELECT 'm1', pg_temp.post('first');
INSERT INTO fx SELECT 'm2', pg_temp.post('second');
SELECT is(pg_temp.fx('m2'), pg_temp.fx('m1') + 1, 'message ids come from the identity sequence');
SELECT results_eq(
	$$SELECT tenant_id, session_id, customer_id, sender_kind, sender_id, type, body,
	         attachment IS NULL, options IS NULL, client_msg_id IS NULL, created_at = now(),
	         delivered_at IS NULL AND read_at IS NULL
	  FROM helpdesk.message WHERE tenant_id = pg_temp.fx('t') AND id = pg_temp.fx('m1')$$,
	$$VALUES (pg_temp.fx('t'), pg_temp.fx('s'), pg_temp.fx('c'), 'customer', pg_temp.fx('c'), 'text',
	          'first', true, true, true, true, true)$$,
	'a directly written message has every column an INSERT would give it');
SELECT results_eq(
	$$SELECT tenant_id, audience, audience_id, session_id, type, payload, created_at = now(),
	         id > 0 AND id <= (SELECT last_value FROM helpdesk.event_id_seq)
	  FROM helpdesk.event WHERE message_id = pg_temp.fx('m1')$$,
	$$VALUES (pg_temp.fx('t'), 'session', pg_temp.fx('s'), pg_temp.fx('s'), 'message.created',
	          '{}'::jsonb, true, true)$$,
	'its message.created event likewise, with an id from event_id_seq');
SELECT is(pg_temp.post('again', 'cm-1'), pg_temp.post('again', 'cm-1'),
	'a client_msg_id seen before returns the stored message');
SELECT throws_ok($$SELECT pg_temp.post('not again', 'cm-1')$$, 'HD409', NULL,
	'a client_msg_id reused for other content is refused');
SELECT throws_ok(format('SELECT helpdesk.post_message(%s, %s, ''customer'', %s, ''x'')',
	pg_temp.fx('t2'), pg_temp.fx('s'), pg_temp.fx('c')), 'HD404',
	format('session %s does not exist in tenant %s', pg_temp.fx('s'), pg_temp.fx('t2')),
	'another tenant''s session is not found by the direct lookup');
SELECT throws_ok(format('SELECT helpdesk.post_message(%s, %s, ''customer'', %s, ''x'')',
	pg_temp.fx('t'), pg_temp.fx('s') + 1000000, pg_temp.fx('c')), 'HD404', NULL,
	'a missing session is not found by the direct lookup');

-- a CHECK constraint added by a DBA is enforced, NOT VALID ones too
INSERT INTO fx SELECT 'before_check', count(*) FROM helpdesk.event;
ALTER TABLE helpdesk.message ADD CONSTRAINT tap_no_secrets CHECK (body NOT LIKE '%password%');
SELECT throws_ok($$SELECT pg_temp.post('my password is hunter2')$$, '23514',
	'new row for relation "message" violates check constraint "tap_no_secrets"',
	'a new CHECK constraint is enforced');
SELECT is((SELECT count(*) FROM helpdesk.event), pg_temp.fx('before_check'),
	'the refused message left no event');
SELECT lives_ok($$SELECT pg_temp.post('fine')$$, 'other messages still pass');
ALTER TABLE helpdesk.message DROP CONSTRAINT tap_no_secrets;
SELECT lives_ok($$SELECT pg_temp.post('my password is hunter2')$$,
	'a dropped CHECK constraint is no longer enforced');
ALTER TABLE helpdesk.message ADD CONSTRAINT tap_no_pins CHECK (body NOT LIKE '%pin%') NOT VALID;
SELECT throws_ok($$SELECT pg_temp.post('my pin is 1234')$$, '23514',
	'new row for relation "message" violates check constraint "tap_no_pins"',
	'a NOT VALID CHECK constraint is enforced for new rows');
ALTER TABLE helpdesk.message DROP CONSTRAINT tap_no_pins;

-- triggers fire: a BEFORE trigger on message, an AFTER trigger on event
CREATE FUNCTION pg_temp.shout() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.body := upper(NEW.body); RETURN NEW; END $$;
CREATE TRIGGER tap_shout BEFORE INSERT ON helpdesk.message
	FOR EACH ROW EXECUTE FUNCTION pg_temp.shout();
CREATE TEMP TABLE seen_events (type text);
CREATE FUNCTION pg_temp.seen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO seen_events VALUES (NEW.type); RETURN NULL; END $$;
CREATE TRIGGER tap_seen AFTER INSERT ON helpdesk.event
	FOR EACH ROW EXECUTE FUNCTION pg_temp.seen();
INSERT INTO fx SELECT 'm_trig', pg_temp.post('quiet please');
SELECT is((SELECT body FROM helpdesk.message WHERE tenant_id = pg_temp.fx('t') AND id = pg_temp.fx('m_trig')),
	'QUIET PLEASE', 'a BEFORE INSERT trigger on message fires for post_message');
SELECT is((SELECT array_agg(type) FROM seen_events), '{message.created}',
	'an AFTER INSERT trigger on event fires for the message''s event');
SELECT lives_ok(format('SELECT helpdesk.close_session(%s, %s, ''resolved'')', pg_temp.fx('t'), pg_temp.fx('s')),
	'close_session works with a trigger on event');
SELECT is((SELECT count(*) FROM seen_events WHERE type LIKE 'session.%'), 1::bigint,
	'the trigger fires for state-change events too');
DROP TRIGGER tap_shout ON helpdesk.message;
DROP TRIGGER tap_seen ON helpdesk.event;
INSERT INTO fx SELECT 's2', session_id FROM helpdesk.start_session(pg_temp.fx('t'), pg_temp.fx('c'));
INSERT INTO fx SELECT 'm_quiet', helpdesk.post_message(pg_temp.fx('t'), pg_temp.fx('s2'), 'customer',
	pg_temp.fx('c'), 'quiet again');
SELECT is((SELECT body FROM helpdesk.message WHERE tenant_id = pg_temp.fx('t') AND id = pg_temp.fx('m_quiet')),
	'quiet again', 'after DROP TRIGGER the body is stored as sent');
SELECT is((SELECT count(*) FROM seen_events), 2::bigint, 'and the dropped event trigger no longer fires');

-- a column added by a DBA gets its default; dropping it again is fine
ALTER TABLE helpdesk.message ADD COLUMN tap_label text NOT NULL DEFAULT 'unlabelled';
INSERT INTO fx SELECT 'm_col', helpdesk.post_message(pg_temp.fx('t'), pg_temp.fx('s2'), 'customer',
	pg_temp.fx('c'), 'with a label');
SELECT is((SELECT tap_label FROM helpdesk.message WHERE tenant_id = pg_temp.fx('t') AND id = pg_temp.fx('m_col')),
	'unlabelled', 'a new column gets its default');
ALTER TABLE helpdesk.message DROP COLUMN tap_label;
INSERT INTO fx SELECT 'm_dropped', helpdesk.post_message(pg_temp.fx('t'), pg_temp.fx('s2'), 'customer',
	pg_temp.fx('c'), 'after the drop', client_msg_id => 'cm-drop');
SELECT is((SELECT body FROM helpdesk.message WHERE tenant_id = pg_temp.fx('t') AND id = pg_temp.fx('m_dropped')),
	'after the drop', 'a dropped column is skipped');
SELECT is(helpdesk.post_message(pg_temp.fx('t'), pg_temp.fx('s2'), 'customer', pg_temp.fx('c'),
	'after the drop', client_msg_id => 'cm-drop'), pg_temp.fx('m_dropped'),
	'and the client_msg_id lookup still finds it');

-- a row level security policy makes writes go through SQL, where it applies
ALTER TABLE helpdesk.message ENABLE ROW LEVEL SECURITY;
INSERT INTO fx SELECT 'm_rls', helpdesk.post_message(pg_temp.fx('t'), pg_temp.fx('s2'), 'customer',
	pg_temp.fx('c'), 'under rls');
SELECT is((SELECT body FROM helpdesk.message WHERE tenant_id = pg_temp.fx('t') AND id = pg_temp.fx('m_rls')),
	'under rls', 'post_message works with row level security enabled');
ALTER TABLE helpdesk.message DISABLE ROW LEVEL SECURITY;

-- every message has exactly one event, whichever path wrote it
SELECT is((SELECT count(*) FROM helpdesk.message m WHERE m.tenant_id = pg_temp.fx('t')
             AND (SELECT count(*) FROM helpdesk.event e WHERE e.message_id = m.id) <> 1),
	0::bigint, 'every message has exactly one message.created event');
SELECT is((SELECT count(*) FROM helpdesk.message WHERE tenant_id = pg_temp.fx('t')), 10::bigint,
	'ten messages were stored');
-- the foreign key the direct path does not re-check still holds
SELECT is((SELECT count(*) FROM helpdesk.message m WHERE m.tenant_id = pg_temp.fx('t')
             AND NOT EXISTS (SELECT 1 FROM helpdesk.session s WHERE s.tenant_id = m.tenant_id AND s.id = m.session_id)),
	0::bigint, 'every message belongs to an existing session');

SELECT * FROM finish();
ROLLBACK;
