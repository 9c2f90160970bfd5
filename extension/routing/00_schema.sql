-- Routing: what the dispatcher worker (dispatcher.c and dispatch_*.c) reads
-- and writes. The dispatcher is the only writer of assignments (offers and
-- direct assignments); agents' own actions (accept, decline, claim in manual
-- queues, transfer) go through C functions that lock the same rows.

ALTER TABLE helpdesk.tenant
	ADD COLUMN presence_grace interval NOT NULL DEFAULT '60 seconds'
		CHECK (presence_grace >= '0 seconds'),
	ADD COLUMN vip_boost_seconds integer[] NOT NULL
		DEFAULT '{0,30,60,120,180,300,420,600,900,1200,1800}'
		CHECK (cardinality(vip_boost_seconds) = 11
		       AND 0 <= ALL (vip_boost_seconds) AND 86400 >= ALL (vip_boost_seconds)),
	ADD COLUMN max_missed_offers integer NOT NULL DEFAULT 3
		CHECK (max_missed_offers BETWEEN 1 AND 100),
	ADD COLUMN idle_warn_after interval NOT NULL DEFAULT '5 minutes'
		CHECK (idle_warn_after >= '1 second'),
	ADD COLUMN idle_close_after interval NOT NULL DEFAULT '2 minutes'
		CHECK (idle_close_after >= '1 second');
COMMENT ON COLUMN helpdesk.tenant.presence_grace IS
	'How long an agent who lost presence keeps its sessions (a reconnect keeps them); then they return to the queue.';
COMMENT ON COLUMN helpdesk.tenant.vip_boost_seconds IS
	'Priority boost in seconds for vip_level 0..10 (11 entries): a boosted session ranks as if it had queued that much earlier.';
COMMENT ON COLUMN helpdesk.tenant.max_missed_offers IS
	'Offers an agent may let time out in a row before the dispatcher sets it away.';
COMMENT ON COLUMN helpdesk.tenant.idle_warn_after IS
	'Customer silence after the agent''s last reply before the idle warning (queue may override).';
COMMENT ON COLUMN helpdesk.tenant.idle_close_after IS
	'Further customer silence after the idle warning before the session closes (queue may override).';

ALTER TABLE helpdesk.agent
	ADD COLUMN load integer NOT NULL DEFAULT 0 CHECK (load >= 0),
	ADD COLUMN status_changed_at timestamptz NOT NULL DEFAULT now(),
	ADD COLUMN capacity_changed_at timestamptz NOT NULL DEFAULT now(),
	ADD COLUMN presence_lost_at timestamptz,
	ADD COLUMN status_before_loss text,
	ADD COLUMN missed_offers integer NOT NULL DEFAULT 0,
	ADD COLUMN last_activity_at timestamptz,
	ADD CHECK (status = 'offline' OR last_seen_at IS NOT NULL);
CREATE INDEX agent_presence_due ON helpdesk.agent (tenant_id, last_seen_at)
	WHERE status <> 'offline';
CREATE INDEX agent_grace_due ON helpdesk.agent (tenant_id, presence_lost_at)
	WHERE presence_lost_at IS NOT NULL;
CREATE INDEX agent_free ON helpdesk.agent (tenant_id)
	WHERE status = 'online' AND enabled;
COMMENT ON COLUMN helpdesk.agent.load IS
	'Sessions the agent holds now (offered + active). Kept by the C API; capacity checks compare it with max_sessions in the same UPDATE.';
COMMENT ON COLUMN helpdesk.agent.presence_lost_at IS
	'Set when heartbeats stopped; the agent''s sessions return to the queue after tenant.presence_grace unless it reconnects.';
COMMENT ON COLUMN helpdesk.agent.missed_offers IS
	'Offers timed out in a row; reset by an accept. At tenant.max_missed_offers the agent is set away.';
COMMENT ON COLUMN helpdesk.agent.last_activity_at IS
	'Last time a session was assigned to or released by the agent (longest_idle picks the oldest).';

CREATE TABLE helpdesk.agent_queue_limit (
	tenant_id    bigint NOT NULL,
	agent_id     bigint NOT NULL,
	queue_id     bigint NOT NULL,
	max_sessions integer NOT NULL CHECK (max_sessions BETWEEN 0 AND 1000),
	PRIMARY KEY (tenant_id, agent_id, queue_id),
	FOREIGN KEY (tenant_id, agent_id) REFERENCES helpdesk.agent (tenant_id, id) ON DELETE CASCADE,
	FOREIGN KEY (tenant_id, queue_id) REFERENCES helpdesk.queue (tenant_id, id) ON DELETE CASCADE
);
COMMENT ON TABLE helpdesk.agent_queue_limit IS
	'Optional per-queue capacity: at most max_sessions of the agent''s sessions from this queue (agent.max_sessions still caps the total).';

-- what max_wait does (ticket: a hook that tickets/ registers, see routing.h)
ALTER TABLE helpdesk.queue
	ADD COLUMN max_wait_action text NOT NULL DEFAULT 'overflow'
		CHECK (max_wait_action IN ('overflow', 'close', 'ticket'));
COMMENT ON COLUMN helpdesk.queue.max_wait_action IS
	'What max_wait does: overflow (to overflow_queue_id, abandoned when there is none), close (abandoned), or ticket (the session becomes a ticket through the hook tickets/ registers, and closes as escalated).';

ALTER TABLE helpdesk.queue
	ADD COLUMN offer_mode text NOT NULL DEFAULT 'offer' CHECK (offer_mode IN ('offer', 'direct')),
	ADD COLUMN sticky_window interval NOT NULL DEFAULT '7 days' CHECK (sticky_window >= '0 seconds'),
	ADD COLUMN idle_warn_after interval CHECK (idle_warn_after >= '1 second'),
	ADD COLUMN idle_close_after interval CHECK (idle_close_after >= '1 second'),
	ADD COLUMN rr_cursor bigint NOT NULL DEFAULT 0;
COMMENT ON COLUMN helpdesk.queue.offer_mode IS
	'offer: the agent must accept within offer_timeout; direct: the session becomes active at once.';
COMMENT ON COLUMN helpdesk.queue.sticky_window IS
	'strategy sticky: prefer the agent who served the customer within this window.';
COMMENT ON COLUMN helpdesk.queue.rr_cursor IS
	'strategy round_robin: id of the agent picked last (dispatcher state).';

CREATE TABLE helpdesk.issue_type (
	tenant_id   bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	code        text NOT NULL CHECK (length(code) BETWEEN 1 AND 100),
	name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
	queue_id    bigint,
	boost_seconds integer NOT NULL DEFAULT 0 CHECK (boost_seconds BETWEEN 0 AND 86400),
	PRIMARY KEY (tenant_id, code),
	FOREIGN KEY (tenant_id, queue_id) REFERENCES helpdesk.queue (tenant_id, id)
);
COMMENT ON TABLE helpdesk.issue_type IS
	'What a session is about. Routes sessions that name no queue, and adds priority.';

CREATE TABLE helpdesk.urgency_rule (
	tenant_id   bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	id          bigint GENERATED BY DEFAULT AS IDENTITY,
	name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
	pattern     text CHECK (length(pattern) BETWEEN 1 AND 1000),
	issue_type  text,
	boost_seconds integer NOT NULL CHECK (boost_seconds BETWEEN 0 AND 86400),
	enabled     boolean NOT NULL DEFAULT true,
	PRIMARY KEY (tenant_id, id),
	UNIQUE (tenant_id, name),
	CHECK (pattern IS NOT NULL OR issue_type IS NOT NULL)
);
COMMENT ON TABLE helpdesk.urgency_rule IS
	'Priority rules applied when a session enters a queue: a case-insensitive regex on the customer''s first message and/or an issue type. The largest matching boost wins.';

ALTER TABLE helpdesk.session
	ADD COLUMN boost_seconds integer NOT NULL DEFAULT 0,
	ADD COLUMN rank_at timestamptz,
	ADD COLUMN target_agent_id bigint,
	ADD COLUMN excluded_agents bigint[] NOT NULL DEFAULT '{}',
	ADD COLUMN offer_expires_at timestamptz,
	ADD COLUMN wait_due_at timestamptz,
	ADD COLUMN idle_check_at timestamptz,
	ADD COLUMN idle_warned_at timestamptz,
	ADD COLUMN queue_position integer,
	ADD COLUMN estimated_wait_s integer,
	ADD COLUMN wait_reason text,
	ADD COLUMN dispatch_error text,
	ADD CHECK (state <> 'queued' OR rank_at IS NOT NULL),
	ADD CHECK (state <> 'offered' OR offer_expires_at IS NOT NULL);
DROP INDEX helpdesk.session_waiting;
CREATE INDEX session_waiting ON helpdesk.session (tenant_id, queue_id, rank_at)
	WHERE state = 'queued';
CREATE INDEX session_offer_due ON helpdesk.session (offer_expires_at) WHERE state = 'offered';
CREATE INDEX session_wait_due ON helpdesk.session (wait_due_at) WHERE state = 'queued';
CREATE INDEX session_idle_due ON helpdesk.session (idle_check_at) WHERE state = 'active';
CREATE INDEX session_by_agent ON helpdesk.session (tenant_id, agent_id)
	WHERE state IN ('offered', 'active');
COMMENT ON COLUMN helpdesk.session.boost_seconds IS
	'Priority boost from VIP level, issue type, urgency rules and the explicit priority (seconds).';
COMMENT ON COLUMN helpdesk.session.rank_at IS
	'Virtual enqueue time = queued_at - boost. Queues are served in rank_at order, so a boost is a head start and every session ages past later arrivals (no starvation).';
COMMENT ON COLUMN helpdesk.session.target_agent_id IS
	'A transfer to an agent: only that agent is offered the session until it declines or times out.';
COMMENT ON COLUMN helpdesk.session.excluded_agents IS
	'Agents who declined or let an offer time out while the session waited in its current queue.';
COMMENT ON COLUMN helpdesk.session.wait_reason IS
	'Why the dispatcher could not place the session at its last look (NULL: not looked at yet).';
COMMENT ON COLUMN helpdesk.session.dispatch_error IS
	'Set when the dispatcher failed on this row; it skips the row until the column is cleared.';

-- Marks of rows whose data a dispatcher stage cannot use (an interval that
-- overflows, a skill level out of range, a statement failing for one tenant):
-- the stage skips the row, logs once, and goes on with everything else. A
-- mark starting with 'settings:' is re-checked every time the row is read and
-- cleared as soon as the data is valid again; 'assignment:' and 'presence:'
-- marks are retried row by row on every pass and cleared when that works.
ALTER TABLE helpdesk.tenant ADD COLUMN dispatch_error text;
ALTER TABLE helpdesk.queue ADD COLUMN dispatch_error text;
ALTER TABLE helpdesk.agent ADD COLUMN dispatch_error text;
COMMENT ON COLUMN helpdesk.tenant.dispatch_error IS
	'Why the dispatcher skips this tenant (settings it cannot use, or a stage failing for it); NULL when fine. Cleared by the dispatcher once the tenant works again.';
COMMENT ON COLUMN helpdesk.queue.dispatch_error IS
	'Why the dispatcher does not route this queue (a setting it cannot use); NULL when fine. Cleared by the dispatcher once the settings are valid again.';
COMMENT ON COLUMN helpdesk.agent.dispatch_error IS
	'Why the dispatcher offers this agent nothing (skills or capacity it cannot use); NULL when fine. Cleared by the dispatcher once the data is valid again.';

-- The dispatcher keeps its view of agents across passes (dispatch_agents.c):
-- a change to what routing reads of an agent names the agent to it at
-- COMMIT. Heartbeats (last_seen_at and an unchanged status) do not fire.
CREATE FUNCTION helpdesk._agent_routing_changed() RETURNS trigger LANGUAGE c
AS 'MODULE_PATHNAME', 'hd_agent_routing_changed';
COMMENT ON FUNCTION helpdesk._agent_routing_changed() IS
	'Row trigger on agent: hands the agent to the dispatcher at COMMIT, which then reads it again instead of every agent (helpdesk.dispatch_verify_interval bounds what it could miss).';
CREATE TRIGGER agent_routing_changed AFTER INSERT OR DELETE ON helpdesk.agent
	FOR EACH ROW EXECUTE FUNCTION helpdesk._agent_routing_changed();
CREATE TRIGGER agent_routing_updated AFTER UPDATE ON helpdesk.agent
	FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
		OR OLD.enabled IS DISTINCT FROM NEW.enabled
		OR OLD.load IS DISTINCT FROM NEW.load
		OR OLD.max_sessions IS DISTINCT FROM NEW.max_sessions
		OR OLD.skills IS DISTINCT FROM NEW.skills
		OR OLD.languages IS DISTINCT FROM NEW.languages
		OR OLD.last_activity_at IS DISTINCT FROM NEW.last_activity_at
		OR OLD.status_changed_at IS DISTINCT FROM NEW.status_changed_at
		OR OLD.dispatch_error IS DISTINCT FROM NEW.dispatch_error)
	EXECUTE FUNCTION helpdesk._agent_routing_changed();

-- One row per offer or assignment of a session to an agent.
CREATE TABLE helpdesk.session_assignment (
	tenant_id   bigint NOT NULL,
	id          bigint GENERATED BY DEFAULT AS IDENTITY,
	session_id  bigint NOT NULL,
	customer_id bigint NOT NULL,
	queue_id    bigint,
	agent_id    bigint NOT NULL,
	kind        text NOT NULL CHECK (kind IN ('offer', 'direct', 'claim')),
	started_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
	accepted_at timestamptz,
	ended_at    timestamptz,
	end_reason  text CHECK (end_reason IN ('declined', 'timeout', 'closed', 'transferred',
	                                       'agent_lost', 'requeued')),
	PRIMARY KEY (tenant_id, id),
	FOREIGN KEY (tenant_id, session_id) REFERENCES helpdesk.session (tenant_id, id) ON DELETE CASCADE,
	FOREIGN KEY (tenant_id, agent_id) REFERENCES helpdesk.agent (tenant_id, id) ON DELETE CASCADE
);
-- A session is held by at most one agent at a time, whoever writes.
CREATE UNIQUE INDEX session_assignment_open ON helpdesk.session_assignment (tenant_id, session_id)
	WHERE ended_at IS NULL;
CREATE INDEX session_assignment_by_customer ON helpdesk.session_assignment
	(tenant_id, customer_id, id);
CREATE INDEX session_assignment_by_queue ON helpdesk.session_assignment
	(tenant_id, queue_id, started_at);
COMMENT ON TABLE helpdesk.session_assignment IS
	'History of offers and assignments. At most one open (ended_at NULL) row per session.';

-- Every routing decision, in the transaction that made it.
CREATE TABLE helpdesk.dispatch_audit (
	tenant_id   bigint NOT NULL,
	id          bigint GENERATED BY DEFAULT AS IDENTITY,
	at          timestamptz NOT NULL DEFAULT clock_timestamp(),
	session_id  bigint,
	queue_id    bigint,
	agent_id    bigint,
	action      text NOT NULL,
	strategy    text,
	candidates  integer,
	score       double precision,
	reason      text NOT NULL,
	due_at      timestamptz,
	agent_load  integer,
	agent_capacity integer,
	PRIMARY KEY (tenant_id, id)
);
CREATE INDEX dispatch_audit_by_session ON helpdesk.dispatch_audit (tenant_id, session_id, id);
COMMENT ON TABLE helpdesk.dispatch_audit IS
	'Why each routing decision was made: offers, assignments, waits, timeouts, presence changes, overflows, idle closes. Timer actions carry the due time they fired for.';
COMMENT ON COLUMN helpdesk.dispatch_audit.candidates IS
	'Agents that were eligible (skills, languages, presence, free capacity, not excluded) at the decision.';
COMMENT ON COLUMN helpdesk.dispatch_audit.agent_load IS
	'The chosen agent''s load after the decision, and its capacity as read in the same transaction.';
