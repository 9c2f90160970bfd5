'use strict';
// helpdesk-bridge's HTTP routes end to end (test/e2e/bridge_http_api.sh):
// two bridges on one database, requests signed here with node's crypto (not
// our C), raw sockets for the slow clients.
//   signed     valid; wrong secret; tampered method, path, query, body,
//              timestamp, nonce; stale and future timestamps; one nonce twice,
//              also through two bridges; missing headers
//   player     ws-token (and its WebSocket URL works), sessions, messages,
//              history paging, other players' sessions, tickets
//   ratelimit  429 with Retry-After per player
//   login      right, wrong, lockout with Retry-After and its end, a revoked
//              token closing a socket with 4004
//   uploads    agent and player uploads, download by signed URL (types,
//              disposition, nosniff), ranges 206/416, oversize 413, disguised
//              types 415, path traversal in the name, expired and tampered
//              URLs, an attachment naming another tenant's upload
//   cors       preflight allowed/denied, the answer's origin per tenant
//   limits     slow headers and slow bodies dropped, big headers refused,
//              404/405/411 JSON errors
//   metrics    /metrics behind a bearer token; --metrics-listen

const crypto = require('crypto');
const fs = require('fs');
const net = require('net');
const http = require('http');
const path = require('path');
const L = require('./lib');
const { check, info, sql, sql1, sleep, waitFor, setScenario, Bridge, Client } = L;

const PORT_A = L.PORT;
const PORT_B = L.PORT + 1;
const PORT_M = L.PORT + 2;
const TOKEN_FILE = path.join(path.dirname(L.LOG), 'metrics-token');
const METRICS_TOKEN = crypto.randomBytes(16).toString('hex');
const ids = {};

// ---- HTTP helpers ----------------------------------------------------------

function request(port, method, p, { headers = {}, body = null } = {}) {
	if (/^https?:/.test(p)) {
		const u = new URL(p);
		p = u.pathname + u.search;
	}
	return new Promise((resolve) => {
		const buf = body === null ? null : Buffer.isBuffer(body) ? body : Buffer.from(body);
		const h = { ...headers };
		if (buf !== null)
			h['content-length'] = buf.length;
		const req = http.request({ host: '127.0.0.1', port, method, path: p, headers: h, agent: false }, (res) => {
			const chunks = [];
			res.on('data', (d) => chunks.push(d));
			res.on('end', () => {
				const raw = Buffer.concat(chunks);
				let json = null;
				try { json = JSON.parse(raw.toString()); } catch (e) { /* not JSON */ }
				resolve({ status: res.statusCode, headers: res.headers, raw, json });
			});
		});
		req.setTimeout(10000, () => req.destroy(new Error('timeout')));
		req.on('error', (e) => resolve({ status: 0, headers: {}, raw: Buffer.from(String(e)), json: null, error: e }));
		if (buf !== null)
			req.write(buf);
		req.end();
	});
}

// The signature of the player API, from its definition (docs/http-api.md).
function sign(secret, method, pathWithQuery, ts, nonce, body) {
	const bodyHash = crypto.createHash('sha256').update(body || Buffer.alloc(0)).digest('hex');
	return crypto.createHmac('sha256', secret)
		.update(`${method}\n${pathWithQuery}\n${ts}\n${nonce}\n${bodyHash}`).digest('hex');
}

let nonceSeq = 0;
function nonce() { return `n-${process.pid}-${Date.now()}-${++nonceSeq}`; }

// a signed request; opts change what is sent after signing
function signed(method, p, bodyObj, opts = {}) {
	const body = bodyObj === null || bodyObj === undefined ? Buffer.alloc(0)
		: Buffer.isBuffer(bodyObj) ? bodyObj : Buffer.from(JSON.stringify(bodyObj));
	const ts = opts.ts !== undefined ? opts.ts : Math.floor(Date.now() / 1000);
	const n = opts.nonce || nonce();
	const sig = sign(opts.secret || ids.secret, opts.signMethod || method, opts.signPath || p,
		opts.signTs !== undefined ? opts.signTs : ts, opts.signNonce || n, opts.signBody || body);
	const headers = {
		'x-hd-app': opts.app || ids.app,
		'x-hd-timestamp': String(ts),
		'x-hd-nonce': n,
		'x-hd-signature': sig,
		'content-type': opts.contentType || 'application/json',
		...(opts.headers || {}),
	};
	for (const h of opts.drop || [])
		delete headers[h];
	return { port: opts.port || PORT_A, method, path: p, headers, body, send() { return request(this.port, method, p, { headers, body: body.length || method !== 'GET' ? body : null }); } };
}

const code = (r) => (r.json && r.json.error ? r.json.error.code : null);

// ---- setup -----------------------------------------------------------------

async function setup() {
	ids.T = await sql1(`SELECT helpdesk.upsert_tenant('http-a', 'HTTP A') AS id`);
	ids.T2 = await sql1(`SELECT helpdesk.upsert_tenant('http-b', 'HTTP B') AS id`);
	await sql(`ALTER DATABASE ${L.DB} SET helpdesk.password_iterations = 1000`);
	await sql(`SELECT helpdesk.upsert_queue($1, 'main', 'Main', is_default => true)`, [ids.T]);
	ids.A1 = await sql1(`SELECT helpdesk.upsert_agent($1, 'ana', 'Ana') AS id`, [ids.T]);
	await sql(`SELECT helpdesk.set_agent_password($1, $2, 'the right password')`, [ids.T, ids.A1]);
	ids.app = 'game-http-a';
	ids.secret = await sql1(`SELECT helpdesk.upsert_app($1, $2, 'Game A') AS id`, [ids.T, ids.app]);
	ids.app2 = 'game-http-b';
	ids.secret2 = await sql1(`SELECT helpdesk.upsert_app($1, $2, 'Game B') AS id`, [ids.T2, ids.app2]);
	await sql(`SELECT helpdesk.set_cors_origins($1, ARRAY['https://widget.a.example'])`, [ids.T]);
	await sql(`SELECT helpdesk.set_cors_origins($1, ARRAY['https://widget.b.example'])`, [ids.T2]);
	fs.writeFileSync(TOKEN_FILE, METRICS_TOKEN + '\n');
}

// ---- scenarios ------------------------------------------------------------

async function signedScenario() {
	setScenario('signed: valid and tampered requests');
	const p = '/api/v1/player/ws-token';
	const body = { player_id: 'p-sig', name: 'Sig' };
	let r = await signed('POST', p, body).send();
	check(r.status === 200 && r.json && r.json.token, 'a valid signed request', r.json);

	const cases = [
		['wrong secret', signed('POST', p, body, { secret: 'not-the-secret-0123456789abcdef0123456789' }), 401, 'bad_signature'],
		['tampered method', signed('POST', p, body, { signMethod: 'PUT' }), 401, 'bad_signature'],
		['tampered path', signed('POST', p, body, { signPath: '/api/v1/player/sessions' }), 401, 'bad_signature'],
		['tampered query', (() => { const q = signed('POST', p + '?lang=en', body, { signPath: p + '?lang=de' }); return q; })(), 401, 'bad_signature'],
		['tampered body', signed('POST', p, body, { signBody: Buffer.from(JSON.stringify({ player_id: 'other' })) }), 401, 'bad_signature'],
		['tampered timestamp', (() => { const ts = Math.floor(Date.now() / 1000); return signed('POST', p, body, { ts, signTs: ts - 1 }); })(), 401, 'bad_signature'],
		['tampered nonce', signed('POST', p, body, { signNonce: 'another-nonce-0123456789' }), 401, 'bad_signature'],
		['stale timestamp', signed('POST', p, body, { ts: Math.floor(Date.now() / 1000) - 301 }), 401, 'stale_timestamp'],
		['future timestamp', signed('POST', p, body, { ts: Math.floor(Date.now() / 1000) + 330 }), 401, 'stale_timestamp'],
		['unknown app', signed('POST', p, body, { app: 'no-such-app' }), 401, 'unknown_app'],
		['another tenant\'s app with our secret', signed('POST', p, body, { app: ids.app2 }), 401, 'bad_signature'],
	];
	for (const h of ['x-hd-app', 'x-hd-timestamp', 'x-hd-nonce', 'x-hd-signature'])
		cases.push([`missing ${h}`, signed('POST', p, body, { drop: [h] }), 400, 'malformed_request']);
	cases.push(['a short nonce', signed('POST', p, body, { nonce: 'short' }), 400, 'malformed_request']);
	for (const [what, req, status, c] of cases) {
		r = await req.send();
		check(r.status === status && code(r) === c, what, { status: r.status, body: r.json });
	}

	setScenario('signed: one nonce twice, on one bridge and across two');
	const once = signed('POST', p, body);
	const first = await once.send();
	const again = await once.send();
	check(first.status === 200, 'first use', first.json);
	check(again.status === 401 && code(again) === 'replayed_nonce', 'second use on the same bridge', again.json);
	// the same request to both bridges at once: exactly one passes
	let passed = 0, replayed = 0;
	for (let i = 0; i < 20; i++) {
		const q = signed('POST', p, body);
		const other = { ...q, port: PORT_B };
		const [ra, rb] = await Promise.all([q.send(), other.send.call(other)]);
		for (const x of [ra, rb]) {
			if (x.status === 200) passed++;
			else if (code(x) === 'replayed_nonce') replayed++;
		}
	}
	check(passed === 20 && replayed === 20, '20 requests sent to two bridges at once: each accepted once', { passed, replayed });
}

async function playerScenario() {
	setScenario('player: ws-token, sessions, messages, tickets');
	let r = await signed('POST', '/api/v1/player/ws-token', { player_id: 'p1', name: 'Player One', vip_level: 3, language: 'en', attributes: { server: 's7' } }).send();
	check(r.status === 200 && r.json.token && r.json.ws_url, 'ws-token', r.json);
	const cust = await sql(`SELECT id, display_name, vip_level, language, attributes FROM helpdesk.customer WHERE tenant_id = $1 AND external_id = 'p1'`, [ids.T]);
	check(cust.length === 1 && cust[0].vip_level === 3 && cust[0].attributes.server === 's7', 'the customer is upserted', cust);
	ids.P1 = cust[0] && Number(cust[0].id);
	if (r.json && r.json.ws_url) {
		const c = new Client('player ws', r.json.token, { port: PORT_A });
		const h = await c.connect();
		check(h.type === 'hello', 'the token opens a WebSocket', h);
		c.stopped = true;
		c.ws.close();
		check(r.json.ws_url.startsWith(`ws://127.0.0.1:${PORT_A}/`), 'the WebSocket URL names this bridge', r.json.ws_url);
	}
	r = await signed('POST', '/api/v1/player/sessions', { player_id: 'p1', message: 'my gems are gone', client_msg_id: 's1' }).send();
	check(r.status === 201 && r.json.created === true && r.json.session_id > 0, 'session started (201)', r.json);
	const sid = r.json && r.json.session_id;
	r = await signed('POST', '/api/v1/player/sessions', { player_id: 'p1' }).send();
	check(r.status === 200 && r.json.session_id === sid && r.json.created === false, 'the open session is returned (200)', r.json);
	for (let i = 1; i <= 3; i++) {
		r = await signed('POST', `/api/v1/player/sessions/${sid}/messages`, { player_id: 'p1', text: `more ${i}`, client_msg_id: `m${i}` }).send();
		check(r.status === 201 && r.json.message_id > 0, `message ${i}`, r.json);
	}
	r = await signed('POST', `/api/v1/player/sessions/${sid}/messages`, { player_id: 'p1', text: 'more 1', client_msg_id: 'm1' }).send();
	check(r.status === 201, 'a retried message (same client_msg_id) is accepted again', r.json);
	r = await signed('GET', `/api/v1/player/sessions/${sid}?player_id=p1&limit=2`, null).send();
	check(r.status === 200 && r.json.messages.length === 2 && r.json.session.id === sid, 'history, first page of 2', r.json);
	const after = r.json && r.json.next_after;
	r = await signed('GET', `/api/v1/player/sessions/${sid}?player_id=p1&limit=50&after=${after}`, null).send();
	check(r.status === 200 && r.json.messages.length === 2 && r.json.messages.every((m) => m.id > after), 'history, the rest after next_after', r.json);
	const texts = r.json ? r.json.messages.map((m) => m.body) : [];
	check(JSON.stringify(texts) === JSON.stringify(['more 2', 'more 3']), 'messages in order, the retry stored once', texts);
	r = await signed('POST', '/api/v1/player/ws-token', { player_id: 'p2' }).send();
	r = await signed('GET', `/api/v1/player/sessions/${sid}?player_id=p2`, null).send();
	check(r.status === 404, "another player's session is 404", r.json);
	r = await signed('POST', `/api/v1/player/sessions/${sid}/messages`, { player_id: 'p2', text: 'hijack' }).send();
	check(r.status === 404, "posting to another player's session is 404", r.json);
	r = await signed('GET', `/api/v1/player/sessions/${sid}?player_id=p1`, null, { secret: ids.secret2, app: ids.app2 }).send();
	check(r.status === 404, "another tenant's app does not see the session", r.json);
	r = await signed('POST', '/api/v1/player/sessions', { name: 'nobody' }).send();
	check(r.status === 400 && code(r) === 'invalid_argument', 'player_id is required', r.json);
	r = await signed('POST', '/api/v1/player/sessions', Buffer.from('[1, 2')).send();
	check(r.status === 400 && code(r) === 'bad_json', 'a body that is not JSON is 400', r.json);

	r = await signed('POST', '/api/v1/player/tickets', { player_id: 'p1', subject: 'Refund', body: 'I was charged twice', client_msg_id: 't1' }).send();
	check(r.status === 201 && r.json.ticket_id > 0, 'ticket created', r.json);
	const tid = r.json && r.json.ticket_id;
	r = await signed('GET', '/api/v1/player/tickets?player_id=p1', null).send();
	check(r.status === 200 && r.json.tickets.length === 1 && r.json.tickets[0].id === tid, 'own tickets listed', r.json);
	r = await signed('GET', '/api/v1/player/tickets?player_id=p2', null).send();
	check(r.status === 200 && r.json.tickets.length === 0, "another player's list is empty", r.json);
	r = await signed('POST', `/api/v1/player/tickets/${tid}/replies`, { player_id: 'p1', body: 'any news?', client_msg_id: 't1r' }).send();
	check(r.status === 201 && r.json.message_id > 0, 'ticket reply', r.json);
	r = await signed('POST', `/api/v1/player/tickets/${tid}/replies`, { player_id: 'p2', body: 'me too' }).send();
	check(r.status === 404, "replying to another player's ticket is 404", r.json);
	// CSAT: a closed session of another player
	// CSAT: asked when the ticket is resolved
	await sql(`SELECT helpdesk.set_csat($1, 'on')`, [ids.T]);
	await sql(`SELECT helpdesk.set_ticket_status($1, $2, 'resolved', 'api')`, [ids.T, tid]);
	r = await signed('POST', '/api/v1/player/csat', { player_id: 'p2', target: 'ticket', id: tid, score: 1 }).send();
	check(r.status >= 400 && r.status < 500, "rating another player's ticket is refused", { status: r.status, body: r.json });
	r = await signed('POST', '/api/v1/player/csat', { player_id: 'p1', target: 'ticket', id: tid, score: 5, comment: 'quick' }).send();
	check(r.status === 201 && r.json.survey_id > 0, 'csat of a resolved ticket', r.json);
	ids.sid = sid;
}

async function rateScenario() {
	setScenario('rate limit: 429 with Retry-After per player');
	await sql(`SELECT helpdesk.upsert_app($1, $2, 'Game A', $3, player_rate_per_minute => 5)`, [ids.T, ids.app, ids.secret]);
	const codes = [];
	let last = null;
	for (let i = 0; i < 7; i++) {
		last = await signed('POST', '/api/v1/player/ws-token', { player_id: 'p-rate' }).send();
		codes.push(last.status);
	}
	check(codes.slice(0, 5).every((c) => c === 200) && codes[5] === 429 && codes[6] === 429, '5 pass, then 429', codes);
	const ra = Number(last.headers['retry-after']);
	check(ra >= 1 && ra <= 120, 'Retry-After in seconds (a sliding minute)', last.headers['retry-after']);
	check(code(last) === 'rate_limited', 'error code rate_limited', last.json);
	const other = await signed('POST', '/api/v1/player/ws-token', { player_id: 'p-rate-2' }).send();
	check(other.status === 200, 'another player is not limited', other.status);
	await sql(`SELECT helpdesk.upsert_app($1, $2, 'Game A', $3, player_rate_per_minute => 200)`, [ids.T, ids.app, ids.secret]);
}

async function loginScenario() {
	setScenario('login: right, wrong, lockout, revocation');
	const login = (password, port = PORT_A) => request(port, 'POST', '/api/v1/agent/login',
		{ headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tenant: 'http-a', agent: 'ana', password, ttl: 600 }) });
	let r = await login('the right password');
	check(r.status === 200 && r.json.token && r.json.agent_id === Number(ids.A1) && r.json.role === 'agent' && r.json.expires_at, 'right password', r.json);
	const token = r.json && r.json.token;
	r = await login('wrong password');
	check(r.status === 401 && code(r) === 'bad_credentials', 'wrong password', r.json);
	r = await request(PORT_A, 'POST', '/api/v1/agent/login', { body: JSON.stringify({ tenant: 'http-a', agent: 'nobody', password: 'whatever it is' }) });
	check(r.status === 401 && code(r) === 'bad_credentials', 'unknown agent answers the same', r.json);
	r = await request(PORT_A, 'POST', '/api/v1/agent/login', { body: JSON.stringify({ tenant: 'http-a' }) });
	check(r.status === 400, 'missing fields are 400', r.json);
	// four more failures (five in all, two bridges) lock the agent
	for (let i = 0; i < 4; i++)
		r = await login(`wrong ${i}`, i % 2 ? PORT_B : PORT_A);
	r = await login('the right password', PORT_B);
	const ra = Number(r.headers['retry-after']);
	check(r.status === 429 && code(r) === 'locked' && ra > 800 && ra <= 900, 'locked after 5 failures over two bridges, Retry-After about 15 min', { status: r.status, ra, body: r.json });
	await sql(`UPDATE helpdesk.agent_credential SET locked_until = now() - interval '1 second' WHERE tenant_id = $1 AND agent_id = $2`, [ids.T, ids.A1]);
	r = await login('the right password');
	check(r.status === 200, 'the lock ends', r.json);

	if (token) {
		const c = new Client('agent ws', token, { port: PORT_B });
		const h = await c.connect();
		check(h.type === 'hello', 'the login token opens a WebSocket', h);
		const t0 = Date.now();
		await sql(`SELECT helpdesk.logout_agent($1, $2)`, [ids.T, ids.A1]);
		const closed = await waitFor(() => c.closes.length > 0, 15000, 50);
		check(closed && c.closes[0].code === 4004, 'logout closes the socket with 4004', c.closes);
		info(`closed ${Date.now() - t0} ms after logout_agent`);
		check(Date.now() - t0 < 10000, 'within a few seconds', Date.now() - t0);
		c.stopped = true;
	}
}

const PNG = Buffer.concat([Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'), crypto.randomBytes(3000)]);
const ELF = Buffer.concat([Buffer.from('7f454c46020101', 'hex'), crypto.randomBytes(500)]);

function urlSig(tenant, id, exp) {
	return crypto.createHmac('sha256', L.SECRET).update(`upload ${tenant} ${id} ${exp}`).digest('base64url');
}

async function uploadScenario() {
	setScenario('uploads');
	const agentTok = await L.issueToken(ids.T, 'agent', ids.A1);
	const up = (body, name, type, tok = agentTok) => request(PORT_A, 'POST', '/api/v1/uploads',
		{ headers: { authorization: `Bearer ${tok}`, 'content-type': type, 'x-filename': name }, body });
	let r = await up(PNG, 'screenshot.png', 'image/png');
	check(r.status === 201 && r.json.mime === 'image/png' && r.json.size === PNG.length &&
		r.json.sha256 === crypto.createHash('sha256').update(PNG).digest('hex') && r.json.url, 'agent upload', r.json);
	const png = r.json || {};
	r = await request(PORT_B, 'GET', png.url);
	check(r.status === 200 && Buffer.compare(r.raw, PNG) === 0, 'download by the signed URL (from the other bridge)', { status: r.status, len: r.raw.length });
	check(r.headers['content-type'] === 'image/png' && r.headers['x-content-type-options'] === 'nosniff' &&
		/^inline/.test(r.headers['content-disposition'] || ''), 'type sniffed, nosniff, images inline', r.headers);
	r = await request(PORT_A, 'GET', png.url, { headers: { range: 'bytes=10-19' } });
	check(r.status === 206 && Buffer.compare(r.raw, PNG.subarray(10, 20)) === 0 &&
		r.headers['content-range'] === `bytes 10-19/${PNG.length}`, 'a range: 206', { status: r.status, h: r.headers['content-range'], len: r.raw.length });
	r = await request(PORT_A, 'GET', png.url, { headers: { range: 'bytes=-5' } });
	check(r.status === 206 && Buffer.compare(r.raw, PNG.subarray(PNG.length - 5)) === 0, 'a suffix range', r.status);
	r = await request(PORT_A, 'GET', png.url, { headers: { range: `bytes=${PNG.length}-` } });
	check(r.status === 416 && r.headers['content-range'] === `bytes */${PNG.length}`, 'a range past the end: 416', { status: r.status, h: r.headers });
	r = await request(PORT_A, 'GET', png.url.replace(/sig=./, (m) => 'sig=' + (m[4] === 'A' ? 'B' : 'A')));
	check(r.status === 403 && code(r) === 'bad_url', 'a tampered signature', r.json);
	r = await request(PORT_A, 'GET', png.url.replace(`/files/${ids.T}/${png.id}`, `/files/${ids.T2}/${png.id}`));
	check(r.status === 403 && code(r) === 'bad_url', 'the URL of another tenant', r.json);
	const exp = Math.floor(Date.now() / 1000) - 5;
	r = await request(PORT_A, 'GET', `/api/v1/files/${ids.T}/${png.id}?exp=${exp}&sig=${urlSig(ids.T, png.id, exp)}`);
	check(r.status === 403 && code(r) === 'url_expired', 'an expired URL (signed right)', r.json);
	r = await up(ELF, 'cute-cat.png', 'image/png');
	check(r.status === 415 && code(r) === 'unsupported_type', 'an ELF named .png is refused', r.json);
	r = await up(PNG, 'report.pdf', 'application/pdf');
	check(r.status === 415, 'a PNG named .pdf is refused', r.json);
	r = await up(Buffer.from('<html><script>alert(1)</script></html>'), 'notes.txt', 'text/plain');
	check(r.status === 415, 'HTML is not plain text', r.json);
	r = await up(Buffer.from('plain words\nand lines\n'), '../../../etc/pass"wd;.txt', 'text/plain');
	check(r.status === 201 && r.json.mime === 'text/plain', 'a text upload with a traversal name', r.json);
	if (r.status === 201) {
		const name = await sql1(`SELECT name AS id FROM helpdesk.upload WHERE tenant_id = $1 AND id = $2`, [ids.T, r.json.id]);
		check(name === 'pass_wd_.txt', 'the name is cleaned to its last component', name);
		const d = await request(PORT_A, 'GET', r.json.url);
		check(/^attachment; filename="pass_wd_\.txt"$/.test(d.headers['content-disposition'] || ''), 'non-images are attachments, the name safe', d.headers['content-disposition']);
	}
	r = await request(PORT_A, 'POST', '/api/v1/uploads', { headers: { authorization: `Bearer ${agentTok}`, 'content-length': String(10 * 1024 * 1024 + 1) } , body: null });
	check(r.status === 413, 'more than 10 MB: 413 before the body is read', r.status);
	r = await up(PNG, 'x.png', 'image/png', agentTok.slice(0, -3) + 'abc');
	check(r.status === 401, 'a bad token: 401', r.json);
	// a big file, streamed in chunks
	const big = Buffer.concat([Buffer.from('%PDF-1.4\n'), crypto.randomBytes(3 * 1024 * 1024)]);
	r = await up(big, 'manual.pdf', 'application/pdf');
	check(r.status === 201 && r.json.mime === 'application/pdf', 'a 3 MB PDF', r.json);
	if (r.status === 201) {
		const d = await request(PORT_A, 'GET', r.json.url);
		check(d.status === 200 && Buffer.compare(d.raw, big) === 0, 'downloaded whole, equal', d.raw.length);
		const d2 = await request(PORT_A, 'GET', r.json.url, { headers: { range: 'bytes=1000000-2500000' } });
		check(d2.status === 206 && Buffer.compare(d2.raw, big.subarray(1000000, 2500001)) === 0, 'a range across chunks', d2.raw.length);
	}

	setScenario('uploads: player upload and attachments');
	r = await signed('POST', '/api/v1/player/upload?player_id=p1', PNG, { contentType: 'image/png', headers: { 'x-filename': 'bug.png' } }).send();
	check(r.status === 201 && r.json.mime === 'image/png' && r.json.url, 'signed player upload', r.json);
	const pu = r.json || {};
	r = await signed('POST', `/api/v1/player/sessions/${ids.sid}/messages`, { player_id: 'p1', type: 'image', text: '', attachment: { upload_id: pu.id, name: 'bug.png' } }).send();
	check(r.status === 201, 'an image message referencing the upload', r.json);
	const att = await sql1(`SELECT attachment AS id FROM helpdesk.message WHERE tenant_id = $1 AND id = $2`, [ids.T, r.json && r.json.message_id]);
	check(att && att.mime === 'image/png' && att.size === PNG.length && att.url === `http://127.0.0.1:${PORT_A}/api/v1/uploads/${pu.id}`,
		'the attachment carries a stable URL, mime and size from the upload', att);
	const custTok = await L.issueToken(ids.T, 'customer', ids.P1);
	r = await request(PORT_B, 'GET', `/api/v1/uploads/${pu.id}?token=${encodeURIComponent(custTok)}`);
	check(r.status === 302 && /\/api\/v1\/files\//.test(r.headers.location || ''), "the stable URL redirects a token holder to a signed URL", { status: r.status, loc: r.headers.location });
	if (r.headers.location) {
		const d = await request(PORT_B, 'GET', r.headers.location);
		check(d.status === 200 && Buffer.compare(d.raw, PNG) === 0, 'and that URL serves the file', d.status);
	}
	r = await request(PORT_B, 'GET', `/api/v1/uploads/${pu.id}`);
	check(r.status === 401, 'the stable URL without a token: 401', r.status);
	const t2tok = await L.issueToken(ids.T2, 'customer', await sql1(`SELECT helpdesk.upsert_customer($1, 'b1') AS id`, [ids.T2]));
	r = await up(PNG, 'b.png', 'image/png', t2tok);
	check(r.status === 201, "a customer token's upload (tenant B)", r.json);
	r = await signed('POST', `/api/v1/player/sessions/${ids.sid}/messages`, { player_id: 'p1', type: 'image', text: '', attachment: { upload_id: r.json && r.json.id } }).send();
	check(r.status === 404, "an attachment naming another tenant's upload is 404", r.json);
}

async function corsScenario() {
	setScenario('cors');
	await waitFor(async () => (await request(PORT_A, 'OPTIONS', '/api/v1/player/sessions', { headers: { origin: 'https://widget.a.example', 'access-control-request-method': 'POST' } })).status === 204, 8000, 200);
	let r = await request(PORT_A, 'OPTIONS', '/api/v1/player/sessions', { headers: { origin: 'https://widget.a.example', 'access-control-request-method': 'POST' } });
	check(r.status === 204 && r.headers['access-control-allow-origin'] === 'https://widget.a.example' &&
		/X-HD-Signature/.test(r.headers['access-control-allow-headers'] || ''), 'preflight of an allowed origin', { status: r.status, h: r.headers });
	r = await request(PORT_A, 'OPTIONS', '/api/v1/player/sessions', { headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
	check(r.status === 403 && !r.headers['access-control-allow-origin'], 'preflight of another origin is refused', { status: r.status, h: r.headers });
	r = await signed('POST', '/api/v1/player/ws-token', { player_id: 'p1' }, { headers: { origin: 'https://widget.a.example' } }).send();
	check(r.status === 200 && r.headers['access-control-allow-origin'] === 'https://widget.a.example', "the answer allows the tenant's origin", r.headers);
	r = await signed('POST', '/api/v1/player/ws-token', { player_id: 'p1' }, { headers: { origin: 'https://widget.b.example' } }).send();
	check(r.status === 200 && !r.headers['access-control-allow-origin'], "another tenant's origin gets no Allow-Origin", r.headers);
	await sql(`SELECT helpdesk.set_cors_origins($1, '{}')`, [ids.T2]);
	const gone = await waitFor(async () => (await request(PORT_A, 'OPTIONS', '/api/v1/player/sessions', { headers: { origin: 'https://widget.b.example', 'access-control-request-method': 'POST' } })).status === 403, 10000, 250);
	check(gone, 'a removed origin is refused within the refresh period');
}

// raw socket: write parts with pauses; resolves {closedAfterMs, data}
function slowClient(port, parts, pauseMs, maxMs) {
	return new Promise((resolve) => {
		const s = net.connect(port, '127.0.0.1');
		const t0 = Date.now();
		let data = '';
		let i = 0;
		let done = false;
		const finish = () => { if (!done) { done = true; clearInterval(timer); resolve({ closedAfterMs: Date.now() - t0, data }); } };
		const timer = setInterval(() => {
			if (Date.now() - t0 > maxMs) { s.destroy(); finish(); return; }
			if (i < parts.length) s.write(parts[i++]);
		}, pauseMs);
		s.on('data', (d) => { data += d; });
		s.on('close', finish);
		s.on('error', () => {});
	});
}

async function limitsScenario() {
	setScenario('limits: slow clients, sizes, errors');
	// headers one byte a second: dropped after --http-timeout (2 s)
	const head = 'POST /api/v1/agent/login HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'a'.repeat(60);
	let r = await slowClient(PORT_A, head.split(''), 500, 20000);
	check(r.closedAfterMs < 8000, 'slow headers are dropped', r.closedAfterMs);
	info(`slow headers dropped after ${r.closedAfterMs} ms`);
	// a body that stops coming
	r = await slowClient(PORT_A, ['POST /api/v1/agent/login HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"tenant"'], 100, 20000);
	check(r.closedAfterMs < 8000, 'a half-sent body is dropped', r.closedAfterMs);
	info(`half-sent body dropped after ${r.closedAfterMs} ms`);
	// an idle connection without a request
	r = await slowClient(PORT_A, [], 100, 20000);
	check(r.closedAfterMs < 8000, 'an idle connection is dropped', r.closedAfterMs);
	r = await request(PORT_A, 'GET', '/api/v1/player/sessions/1', { headers: { 'x-big': 'b'.repeat(9000) } });
	check(r.status === 431 || r.status === 400 || r.status === 0, 'headers over --http-max-header are refused', r.status);
	r = await request(PORT_A, 'GET', '/api/v1/' + 'x'.repeat(3000));
	check(r.status === 414 || r.status === 0 || r.status === 431, 'a long URL is refused', r.status);
	r = await request(PORT_A, 'GET', '/api/v1/nothing-here');
	check(r.status === 404 && code(r) === 'not_found', '404 as JSON', r.json);
	r = await request(PORT_A, 'DELETE', '/api/v1/agent/login');
	check(r.status === 405 && code(r) === 'method_not_allowed', '405 as JSON', r.json);
	r = await request(PORT_A, 'POST', '/api/v1/agent/login', { headers: { 'content-length': '5000' }, body: null });
	check(r.status === 413 && code(r) === 'too_large', 'a login body over 4 KB: 413', r.json);
	r = await request(PORT_A, 'GET', '/healthz');
	check(r.status === 200, '/healthz stays open', r.status);
}

async function metricsScenario() {
	setScenario('metrics behind a token; --metrics-listen');
	let r = await request(PORT_A, 'GET', '/metrics');
	check(r.status === 401, '/metrics without the token', r.status);
	r = await request(PORT_A, 'GET', '/metrics', { headers: { authorization: 'Bearer wrong-token-0123456789' } });
	check(r.status === 401, '/metrics with a wrong token', r.status);
	r = await request(PORT_A, 'GET', '/metrics', { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
	check(r.status === 200 && /helpdesk_bridge_connections/.test(r.raw.toString()), '/metrics with the token', r.status);
	r = await request(PORT_B, 'GET', '/metrics');
	check(r.status === 401, 'bridge B with --metrics-listen: not on the main port', r.status);
	r = await request(PORT_M, 'GET', '/metrics');
	check(r.status === 200 && /helpdesk_bridge_/.test(r.raw.toString()), 'bridge B: /metrics on its metrics address', r.status);
	r = await request(PORT_M, 'GET', '/api/v1/player/tickets');
	check(r.status === 404, 'the metrics address serves nothing else', r.status);
}

async function main() {
	await setup();
	const a = new Bridge(['--http-timeout', '2', '--metrics-token-file', TOKEN_FILE], PORT_A);
	const b = new Bridge(['--http-timeout', '2', '--metrics-listen', `127.0.0.1:${PORT_M}`], PORT_B);
	await a.start();
	await b.start();
	try {
		await signedScenario();
		await playerScenario();
		await rateScenario();
		await loginScenario();
		await uploadScenario();
		await corsScenario();
		await limitsScenario();
		await metricsScenario();
	} finally {
		await a.term();
		await b.term();
	}
}

L.runMain(main);
