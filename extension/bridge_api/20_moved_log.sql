-- A moved tenant's events from the log of the node it left (scripts/move-tenant,
-- docs/scale-out-move.md), kept on the node it moved to so that a client that
-- was offline during the move resumes from a position of the old log: the
-- bridge replays the rest of the old log from here, then continues in this
-- node's log from next_pos. Written by the move script only.

CREATE TABLE helpdesk.moved_log (
	tenant_id  bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	log_id     uuid NOT NULL,
	last_pos   bigint NOT NULL CHECK (last_pos >= 0),
	next_pos   bigint NOT NULL CHECK (next_pos >= 0),
	arrived_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, log_id)
);
COMMENT ON TABLE helpdesk.moved_log IS
	'A tenant that moved here from another node''s event log: last_pos is the last position of that log copied into moved_event, next_pos the position of this node''s log before the tenant''s first event here.';
COMMENT ON COLUMN helpdesk.moved_log.log_id IS 'The other node''s helpdesk.event_log_id().';
COMMENT ON COLUMN helpdesk.moved_log.next_pos IS
	'Where a client continues in this node''s log once it has read the old log to last_pos: every event of the tenant here comes after it.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.moved_log', '');

CREATE TABLE helpdesk.moved_event (
	tenant_id   bigint NOT NULL,
	log_id      uuid NOT NULL,
	pos         bigint NOT NULL CHECK (pos > 0),
	audience    text NOT NULL CHECK (audience IN ('session', 'session_staff', 'agent', 'queue', 'customer', 'tenant')),
	audience_id bigint,
	session_id  bigint,
	message_id  bigint,
	type        text NOT NULL CHECK (type <> ''),
	payload     jsonb NOT NULL DEFAULT '{}',
	created_at  timestamptz NOT NULL,
	PRIMARY KEY (tenant_id, log_id, pos),
	FOREIGN KEY (tenant_id, log_id) REFERENCES helpdesk.moved_log ON DELETE CASCADE
);
COMMENT ON TABLE helpdesk.moved_event IS
	'The events a moved tenant had in its old node''s log (positions of that log), for clients resuming from there; aged out by prune_events like the log itself.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.moved_event', '');

CREATE FUNCTION helpdesk.bridge_moved_log(tenant_id bigint, log_id uuid)
RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	l helpdesk.moved_log;
BEGIN
	PERFORM helpdesk._require_tenant($1);	-- 42501 before anything
	IF $1 IS NULL OR $2 IS NULL THEN
		RAISE EXCEPTION 'tenant_id and log_id must not be NULL' USING ERRCODE = '22004';
	END IF;
	IF $2 = helpdesk.event_log_id() THEN
		RETURN NULL;
	END IF;
	SELECT * INTO l FROM helpdesk.moved_log m WHERE m.tenant_id = $1 AND m.log_id = $2;
	IF NOT FOUND THEN
		RETURN jsonb_build_object('known', false);
	END IF;
	RETURN jsonb_build_object('known', true, 'log_id', l.log_id, 'last_pos', l.last_pos,
		'next_pos', l.next_pos,
		'oldest', coalesce((SELECT min(e.pos) - 1 FROM helpdesk.moved_event e
		                    WHERE e.tenant_id = $1 AND e.log_id = $2), l.last_pos));
END
$$;
COMMENT ON FUNCTION helpdesk.bridge_moved_log(bigint, uuid) IS
	'For helpdesk-bridge at connect, when a client names the log of its position (?log=): NULL for this node''s log; {"known": false} for a log the tenant did not move here from; else the old log''s last copied position, where to continue in this log (next_pos, a position of event_log_id) and the oldest position still replayable.';

-- bridge_moved_events's argument checks (a SQL function cannot raise; a
-- PL/pgSQL one cannot have tenant_id both as an argument and a column)
CREATE FUNCTION helpdesk._moved_events_args(after_pos bigint, max_rows integer, tenant_id bigint, log_id uuid)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM helpdesk._require_tenant($3);	-- 42501 before anything
	IF $1 IS NULL OR $2 IS NULL OR $3 IS NULL OR $4 IS NULL THEN
		RAISE EXCEPTION 'after_pos, max_rows, tenant_id and log_id must not be NULL'
			USING ERRCODE = '22004';
	END IF;
	IF $2 NOT BETWEEN 1 AND 100000 THEN
		RAISE EXCEPTION 'max_rows must be between 1 and 100000, got %', $2 USING ERRCODE = '22023';
	END IF;
	RETURN true;
END
$$;
COMMENT ON FUNCTION helpdesk._moved_events_args(bigint, integer, bigint, uuid) IS
	'Internal: bridge_moved_events''s checks (42501, 22004, 22023), as its one-time filter.';

CREATE FUNCTION helpdesk.bridge_moved_events(
	after_pos bigint, max_rows integer, tenant_id bigint, log_id uuid)
RETURNS TABLE (pos bigint, tenant_id bigint, type text, audience text, audience_id bigint,
	session_id bigint, customer_id bigint, payload jsonb, message jsonb, created_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	-- the same columns as bridge_events; sessions and messages were moved
	-- with the tenant, under the same ids
	SELECT e.pos, e.tenant_id, e.type, e.audience, e.audience_id, e.session_id,
	       (SELECT s.customer_id FROM helpdesk.session s
	        WHERE s.tenant_id = e.tenant_id AND s.id = e.session_id),
	       e.payload,
	       (SELECT jsonb_build_object(
	         'id', m.id, 'session_id', m.session_id, 'sender_kind', m.sender_kind,
	         'sender_id', m.sender_id, 'type', m.type, 'body', m.body,
	         'attachment', m.attachment, 'options', m.options,
	         'client_msg_id', m.client_msg_id, 'created_at', m.created_at)
	        FROM helpdesk.message m WHERE m.tenant_id = e.tenant_id AND m.id = e.message_id),
	       e.created_at
	FROM helpdesk.moved_event e
	WHERE helpdesk._moved_events_args($1, $2, $3, $4)
	  AND e.tenant_id = $3 AND e.log_id = $4 AND e.pos > $1
	ORDER BY e.pos
	LIMIT greatest($2, 1)	-- a LIMIT 0 would skip the checks above
$$;
COMMENT ON FUNCTION helpdesk.bridge_moved_events(bigint, integer, bigint, uuid) IS
	'Like bridge_events, from a moved tenant''s copy of its old node''s log (moved_event): what a client resuming from a position of that log missed there. Read by helpdesk-bridge.';
