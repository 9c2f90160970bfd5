-- The peer of bench/trigger_tasks.sh: seed 003's own way of matching, in
-- PL/pgSQL. The seed's scheduler (core/task_scheduler.py) looks at every
-- waiting task on each customer message and checks the trigger's keyword(s)
-- with `in` (contains) or `==` (exact after strip); this does the same on a
-- table shaped like its SQLite `tasks` table, inside the message's
-- transaction (the insert of the message row plus the scan), and marks a
-- matching task triggered, once.
CREATE TABLE peer_task (
	task_id text PRIMARY KEY,
	tenant_id bigint NOT NULL,
	trigger_type text NOT NULL,
	specified_customer_id text,
	trigger_keyword text,
	trigger_keywords text[],
	exact_match boolean NOT NULL DEFAULT false,
	status text NOT NULL DEFAULT 'waiting',
	triggered_at timestamptz
);
CREATE INDEX peer_task_waiting ON peer_task (tenant_id) WHERE status = 'waiting';

CREATE FUNCTION peer_post(p_tenant bigint, p_session bigint, p_customer bigint, p_ext text, p_body text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	t record;
	kw text;
	hit boolean;
	id bigint;
BEGIN
	INSERT INTO bench_plain (tenant_id, session_id, customer_id, sender_kind, sender_id, type, body)
	VALUES (p_tenant, p_session, p_customer, 'customer', p_customer, 'text', p_body) RETURNING bench_plain.id INTO id;
	FOR t IN SELECT * FROM peer_task WHERE tenant_id = p_tenant AND status = 'waiting' LOOP
		IF t.trigger_type = 'specified_customer_reply' AND t.specified_customer_id IS DISTINCT FROM p_ext THEN
			CONTINUE;
		END IF;
		hit := false;
		FOREACH kw IN ARRAY coalesce(t.trigger_keywords, ARRAY[t.trigger_keyword]) LOOP
			IF (t.exact_match AND btrim(p_body) = kw) OR (NOT t.exact_match AND strpos(p_body, kw) > 0) THEN
				hit := true;
				EXIT;
			END IF;
		END LOOP;
		IF hit THEN
			UPDATE peer_task SET status = 'running', triggered_at = now()
			WHERE task_id = t.task_id AND status = 'waiting';
		END IF;
	END LOOP;
	RETURN id;
END $$;
