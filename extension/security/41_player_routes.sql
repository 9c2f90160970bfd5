-- player_call: one signed player API request in one round trip. The bridge
-- forwards method, path with query, headers, raw body, the {} of the path
-- and the query arguments; this verifies the signature (verify_signed_request),
-- counts the request per app and per player (rate_limit_hit: a refusal is an
-- answer, 429, so the counters and the nonce commit), then does the route's
-- action with the existing API functions. Errors of the action raise with
-- their SQLSTATE (the bridge maps them to HTTP).

CREATE FUNCTION helpdesk._upload_attachment(tenant_id bigint, attachment jsonb, base_url text)
RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	u record;
BEGIN
	IF attachment IS NULL OR jsonb_typeof(attachment) <> 'object' OR NOT attachment ? 'upload_id' THEN
		RETURN attachment;
	END IF;
	IF jsonb_typeof(attachment -> 'upload_id') <> 'number' THEN
		RAISE EXCEPTION 'attachment.upload_id must be a number' USING ERRCODE = '22023';
	END IF;
	SELECT x.id, x.name, x.mime, x.size INTO u FROM helpdesk.upload x
	 WHERE x.tenant_id = _upload_attachment.tenant_id AND x.id = (attachment ->> 'upload_id')::bigint;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'upload % does not exist in tenant %', attachment ->> 'upload_id', tenant_id
			USING ERRCODE = 'HD404';
	END IF;
	RETURN attachment || jsonb_build_object('url', base_url || '/api/v1/uploads/' || u.id,
		'name', coalesce(attachment ->> 'name', u.name), 'mime', u.mime, 'size', u.size);
END
$$;
COMMENT ON FUNCTION helpdesk._upload_attachment(bigint, jsonb, text) IS
	'An attachment {"upload_id": …} completed from the upload of the tenant (HD404 if none): url (the bridge''s stable /api/v1/uploads/<id>, which redirects a token holder to a signed URL), name, mime, size. Other attachments unchanged.';

CREATE FUNCTION helpdesk.player_call(route text, method text, path_with_query text,
	headers jsonb, body bytea, id bigint DEFAULT NULL, args jsonb DEFAULT '{}',
	OUT status integer, OUT answer jsonb, OUT retry_after integer, OUT tenant_id bigint)
RETURNS record LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v record;
	rl record;
	b jsonb := '{}';
	player text;
	t bigint;
	cust bigint;
	r record;
	n integer;
	lim integer;
	att jsonb;
BEGIN
	v := helpdesk.verify_signed_request(method, path_with_query, headers, body);
	t := v.tenant_id;
	tenant_id := t;
	IF route <> 'upload' AND length(body) > 0 THEN
		b := convert_from(body, 'UTF8')::jsonb;
		IF jsonb_typeof(b) <> 'object' THEN
			RAISE EXCEPTION 'the body must be a JSON object' USING ERRCODE = '22023';
		END IF;
	END IF;
	player := coalesce(args ->> 'player_id', b ->> 'player_id');
	IF player IS NULL OR length(player) NOT BETWEEN 1 AND 200 THEN
		RAISE EXCEPTION 'player_id (1 to 200 characters) is required, in the body or the query'
			USING ERRCODE = '22023';
	END IF;
	rl := helpdesk.rate_limit_hit(t, v.app_id, player);
	IF NOT rl.allowed THEN
		status := 429;
		retry_after := greatest(1, ceil(extract(epoch FROM rl.retry_after)))::integer;
		answer := jsonb_build_object('error', jsonb_build_object('code', 'rate_limited',
			'message', format('the %s rate limit is exceeded; retry after %s s', rl.scope, retry_after)));
		RETURN;
	END IF;
	att := helpdesk._upload_attachment(t, b -> 'attachment', coalesce(args ->> '_base_url', ''));
	lim := least(greatest(coalesce((args ->> 'limit')::integer, 50), 1), 200);

	IF route = 'ws-token' THEN
		cust := helpdesk.upsert_customer(t, player, b ->> 'name', (b ->> 'vip_level')::integer,
			b ->> 'language', b -> 'attributes');
		n := least(greatest(coalesce((b ->> 'ttl')::integer, 3600), 60), 86400);
		status := 200;
		answer := jsonb_build_object('customer_id', cust,
			'token', helpdesk.issue_token(t, 'customer', cust, make_interval(secs => n)),
			'expires_at', now() + make_interval(secs => n));
		RETURN;
	END IF;

	SELECT c.id INTO cust FROM helpdesk.customer c WHERE c.tenant_id = t AND c.external_id = player;
	IF cust IS NULL THEN
		IF route IN ('session-start', 'ticket-create', 'upload') THEN
			cust := helpdesk.upsert_customer(t, player);
		ELSE
			RAISE EXCEPTION 'no player % in this tenant', left(player, 64) USING ERRCODE = 'HD404';
		END IF;
	END IF;

	IF route IN ('session-get', 'message') AND NOT EXISTS (SELECT 1 FROM helpdesk.session s
			WHERE s.tenant_id = t AND s.id = player_call.id AND s.customer_id = cust) THEN
		RAISE EXCEPTION 'session % is not one of this player''s', player_call.id USING ERRCODE = 'HD404';
	END IF;
	IF route = 'ticket-reply' AND NOT EXISTS (SELECT 1 FROM helpdesk.ticket k
			WHERE k.tenant_id = t AND k.id = player_call.id AND k.customer_id = cust) THEN
		RAISE EXCEPTION 'ticket % is not one of this player''s', player_call.id USING ERRCODE = 'HD404';
	END IF;

	CASE route
	WHEN 'session-start' THEN
		r := helpdesk.start_session(t, cust, 'player_api', NULL, b ->> 'issue_type',
			b ->> 'message', b -> 'attributes', 0, b ->> 'client_msg_id');
		status := CASE WHEN r.created THEN 201 ELSE 200 END;
		answer := jsonb_build_object('session_id', r.session_id, 'created', r.created, 'state', r.state,
			'message_id', r.message_id);
	WHEN 'session-get' THEN
		status := 200;
		SELECT jsonb_build_object('session', jsonb_build_object('id', s.id, 'state', s.state,
				'created_at', s.created_at, 'closed_at', s.closed_at, 'agent_id', s.agent_id),
			'messages', coalesce((SELECT jsonb_agg(jsonb_build_object('id', m.id, 'sender_kind', m.sender_kind,
					'sender_id', m.sender_id, 'type', m.type, 'body', m.body, 'attachment', m.attachment,
					'options', m.options, 'client_msg_id', m.client_msg_id, 'created_at', m.created_at,
					'delivered_at', m.delivered_at, 'read_at', m.read_at) ORDER BY m.id)
				FROM helpdesk.session_messages(t, s.id, coalesce((args ->> 'after')::bigint, 0), lim) m), '[]'))
		  INTO answer
		  FROM helpdesk.session s WHERE s.tenant_id = t AND s.id = player_call.id;
		answer := answer || jsonb_build_object('next_after',
			(SELECT max((e ->> 'id')::bigint) FROM jsonb_array_elements(answer -> 'messages') e));
	WHEN 'message' THEN
		status := 201;
		answer := jsonb_build_object('message_id', helpdesk.post_message(t, player_call.id, 'customer', cust,
			b ->> 'text', coalesce(b ->> 'type', 'text'), b ->> 'client_msg_id', att));
	WHEN 'upload' THEN
		r := helpdesk.store_upload(t, 'customer', cust, coalesce(args ->> 'name', headers ->> 'x-filename'),
			headers ->> 'content-type', body);
		status := 201;
		answer := jsonb_build_object('id', r.upload_id, 'mime', r.mime, 'size', r.size, 'sha256', r.sha256);
	WHEN 'ticket-create' THEN
		r := helpdesk.create_ticket(t, cust, b ->> 'subject', b ->> 'body', coalesce(b ->> 'priority', 'normal'),
			b ->> 'issue_type', NULL, 'player_api', NULL, b -> 'attributes', b ->> 'client_msg_id', 'text', att);
		status := 201;
		answer := jsonb_build_object('ticket_id', r.ticket_id, 'number', r.number, 'message_id', r.message_id);
	WHEN 'ticket-list' THEN
		status := 200;
		answer := jsonb_build_object('tickets', coalesce((SELECT jsonb_agg(jsonb_build_object('id', k.id,
				'number', k.number, 'subject', k.subject, 'status', k.status, 'priority', k.priority,
				'created_at', k.created_at) ORDER BY k.id DESC)
			FROM helpdesk.list_tickets(t, customer_id => cust, before_id => (args ->> 'before')::bigint,
				max_rows => lim) k), '[]'));
	WHEN 'ticket-reply' THEN
		status := 201;
		answer := jsonb_build_object('message_id', helpdesk.reply_ticket(t, player_call.id, 'customer', cust,
			b ->> 'body', coalesce(b ->> 'type', 'text'), b ->> 'client_msg_id', att));
	WHEN 'csat' THEN
		status := 201;
		answer := jsonb_build_object('survey_id', helpdesk.submit_csat(t, b ->> 'target', (b ->> 'id')::bigint,
			cust, (b ->> 'score')::integer, b ->> 'comment'));
	ELSE
		RAISE EXCEPTION 'unknown player route %', left(route, 40) USING ERRCODE = '22023';
	END CASE;
END
$$;
COMMENT ON FUNCTION helpdesk.player_call(text, text, text, jsonb, bytea, bigint, jsonb) IS
	'One signed player API request (helpdesk-bridge''s /api/v1/player/*): verify_signed_request, rate_limit_hit per app and player (status 429 and retry_after, not an error), then the route (ws-token, session-start, session-get, message, upload, ticket-create, ticket-list, ticket-reply, csat) for the player named by player_id (query or body), who may only see and post to their own sessions and tickets. Returns the HTTP status and JSON answer; other refusals raise (HDA00-HDA04, HD404, 22023, HD415, 54000).';
