-- The peer of bench/signed_request.sh: verify_signed_request written the
-- obvious way, in PL/pgSQL with pgcrypto, doing the same work per request:
-- the parts' form (regular expressions), the app looked up by id, its secret
-- decrypted (pgcrypto's AES-256-CBC, as GCM is not in pgcrypto), the window,
-- SHA-256 of the body and HMAC-SHA256 of the message (pgcrypto), the
-- comparison, and the nonce recorded under a primary key.
CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE TABLE peer_app (
	app_id     text PRIMARY KEY,
	tenant_id  bigint NOT NULL,
	secret_enc bytea NOT NULL,
	iv         bytea NOT NULL
);
CREATE TABLE peer_nonce (
	tenant_id bigint NOT NULL,
	app_id    text NOT NULL,
	nonce     text NOT NULL,
	seen_at   timestamptz NOT NULL,
	PRIMARY KEY (tenant_id, app_id, nonce)
);
CREATE INDEX ON peer_nonce (seen_at);

CREATE FUNCTION peer_key() RETURNS bytea LANGUAGE sql IMMUTABLE AS
$$ SELECT decode(repeat('5a', 32), 'hex') $$;

CREATE FUNCTION peer_upsert_app(tenant_id bigint, app_id text, secret text) RETURNS void
LANGUAGE sql AS $$
	INSERT INTO peer_app
	SELECT app_id, tenant_id, encrypt_iv(convert_to(secret, 'UTF8'), peer_key(), iv, 'aes-cbc'), iv
	FROM (SELECT gen_random_bytes(16) AS iv) r
	ON CONFLICT (app_id) DO UPDATE SET secret_enc = EXCLUDED.secret_enc, iv = EXCLUDED.iv
$$;

CREATE FUNCTION peer_verify(method text, path text, app text, ts text, nonce text,
	signature text, body bytea, OUT tenant_id bigint, OUT app_id text)
-- as an API function would be (and verify_signed_request is)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	a peer_app;
	secret bytea;
	t bigint;
	want text;
BEGIN
	IF method IS NULL OR path IS NULL OR app IS NULL OR ts IS NULL OR nonce IS NULL
	   OR signature IS NULL OR body IS NULL THEN
		RAISE EXCEPTION 'malformed_request: a part is missing' USING ERRCODE = 'HDA00';
	END IF;
	IF method !~ '^[A-Z]{1,16}$' OR path !~ '^/[!-~]*$' OR length(path) > 8192 OR app !~ '^[A-Za-z0-9_.-]{3,64}$'
	   OR ts !~ '^[0-9]{1,12}$' OR nonce !~ '^[A-Za-z0-9_-]{16,64}$' THEN
		RAISE EXCEPTION 'malformed_request' USING ERRCODE = 'HDA00';
	END IF;
	SELECT * INTO a FROM peer_app p WHERE p.app_id = app;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'unknown_app' USING ERRCODE = 'HDA04';
	END IF;
	t := ts::bigint;
	IF abs(t - extract(epoch FROM clock_timestamp())::bigint) > 300 THEN
		RAISE EXCEPTION 'stale_timestamp' USING ERRCODE = 'HDA02';
	END IF;
	secret := decrypt_iv(a.secret_enc, peer_key(), a.iv, 'aes-cbc');
	want := encode(hmac(convert_to(method || E'\n' || path || E'\n' || ts || E'\n' || nonce || E'\n'
		|| encode(digest(body, 'sha256'), 'hex'), 'UTF8'), secret, 'sha256'), 'hex');
	IF want <> signature THEN
		RAISE EXCEPTION 'bad_signature' USING ERRCODE = 'HDA01';
	END IF;
	INSERT INTO peer_nonce AS n VALUES (a.tenant_id, a.app_id, nonce, clock_timestamp())
	ON CONFLICT ON CONSTRAINT peer_nonce_pkey DO UPDATE SET seen_at = EXCLUDED.seen_at
	WHERE n.seen_at < EXCLUDED.seen_at - interval '600 seconds';
	IF NOT FOUND THEN
		RAISE EXCEPTION 'replayed_nonce' USING ERRCODE = 'HDA03';
	END IF;
	tenant_id := a.tenant_id;
	app_id := a.app_id;
END $$;
