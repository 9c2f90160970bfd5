'use strict';
// A webhook bot answering through helpdesk-bridge with a bot token (issue
// 17). Run by test/e2e/bridge_bot.sh (same environment as e2e.js, plus
// BOT_HOOK_PORT): the real HTTP worker posts our signed bot.message payload
// to a bot server of this test on 127.0.0.1 (node's http module), which
// checks the Standard Webhooks signature itself (node crypto) and answers
// over a WebSocket of the bridge opened with helpdesk.issue_bot_token.
//
//   answer      the customer (a real WebSocket client) sees the bot's answer,
//               a menu with its options; a second answer to the same request
//               is refused (dropped)
//   scope       the bot socket sees no events; every frame but bot_answer and
//               bot_handoff is forbidden; another tenant's session and a
//               session another bot serves are refused (42501)
//   handoff     bot_handoff queues the session; a later answer to it is
//               dropped (error frame, never shown), a second hand-off HD422;
//               转人工 while the bot's request is in flight: the late answer
//               is dropped and the job says so
//   http        the same over POST /api/v1/bot/answer and /handoff with the
//               bot token as Bearer: 401 without, 403 for another kind or
//               session, 409 dropped, 200 with the outcome
//   tokens      revoke_bot_tokens: the open socket's next frame is refused
//               (revoked) and the socket closed 4004, a reconnect with the old
//               token is closed 4004; an expired bot token is closed 4003

const crypto = require('crypto');
const http = require('http');
const L = require('./lib');
const { check, info, sql, sql1, waitFor, connected } = L;

const HOOK_PORT = Number(L.env.BOT_HOOK_PORT || L.PORT + 1);
const SECRET = 'whsec_' + crypto.randomBytes(32).toString('base64');
const ids = {};
const hooks = [];				// {headers, body, raw, ok} per request the bot server got

// ---- the bot's own HTTP server: records and verifies each webhook ------------

function verify(headers, raw, secret) {
	const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
	const want = crypto.createHmac('sha256', key)
		.update(`${headers['webhook-id']}.${headers['webhook-timestamp']}.${raw}`).digest('base64');
	return (headers['webhook-signature'] || '').split(' ').some((s) => {
		const [v, b64] = s.split(',');
		return v === 'v1' && b64 && b64.length === want.length &&
			crypto.timingSafeEqual(Buffer.from(b64), Buffer.from(want));
	});
}

function startHookServer() {
	const server = http.createServer((req, res) => {
		let raw = '';
		req.setEncoding('utf8');
		req.on('data', (d) => { raw += d; });
		req.on('end', () => {
			let body = null;
			try { body = JSON.parse(raw); } catch (e) { /* recorded as null */ }
			hooks.push({ path: req.url, headers: req.headers, raw, body, ok: verify(req.headers, raw, SECRET) });
			res.writeHead(200, { 'content-type': 'text/plain' });
			res.end('ok');
		});
	});
	return new Promise((resolve) => server.listen(HOOK_PORT, '127.0.0.1', () => resolve(server)));
}

const hookFor = (sid, body) => waitFor(() => hooks.find((h) => h.body && h.body.data &&
	h.body.data.session_id === sid && (!body || h.body.data.message.body === body)), 15000, 20);

// ---- setup ---------------------------------------------------------------------

async function setup() {
	const T = Number(await sql1(`SELECT helpdesk.upsert_tenant('bridge-bot', 'Bridge bot', bot_enabled => true) AS id`));
	const T2 = Number(await sql1(`SELECT helpdesk.upsert_tenant('bridge-bot-2', 'Bridge bot 2', bot_enabled => true) AS id`));
	const url = `http://127.0.0.1:${HOOK_PORT}/bot`;
	const one = async (q, p) => Number(await sql1(q, p));
	ids.T = T;
	ids.T2 = T2;
	ids.Q = await one(`SELECT helpdesk.upsert_queue($1, 'main', 'Main', is_default => true) AS id`, [T]);
	ids.Q2 = await one(`SELECT helpdesk.upsert_queue($1, 'main', 'Main 2', is_default => true) AS id`, [T2]);
	ids.VIP = await one(`SELECT helpdesk.upsert_queue($1, 'vip', 'VIP') AS id`, [T]);
	ids.B = await one(`SELECT helpdesk.upsert_bot($1, 'hook', 'webhook', $2, $3, timeout => '30 s') AS id`, [T, url, SECRET]);
	// the VIP queue's own bot, and the other tenant's
	ids.BV = await one(`SELECT helpdesk.upsert_bot($1, 'vip-hook', 'webhook', $2, $3, queue_id => $4, timeout => '30 s') AS id`,
		[T, url + '-vip', SECRET, ids.VIP]);
	ids.B2 = await one(`SELECT helpdesk.upsert_bot($1, 'hook', 'webhook', $2, $3, timeout => '30 s') AS id`, [T2, url + '-2', SECRET]);
	for (const [k, t, ext] of [['C1', T, 'c1'], ['C2', T, 'c2'], ['C3', T, 'c3'], ['C4', T, 'c4'], ['CO', T2, 'co']])
		ids[k] = Number(await sql1(`SELECT helpdesk.upsert_customer($1, $2) AS id`, [t, ext]));
	const up = await waitFor(async () => Number(await sql1(
		`SELECT count(*) AS n FROM helpdesk.worker_status() WHERE kind = 'http' AND pid IS NOT NULL`)) === 1, 20000, 100);
	if (!up)
		throw new Error('no HTTP worker');
}

const botMessages = async (sid) => (await sql(`SELECT body, type FROM helpdesk.message WHERE session_id = $1 AND sender_kind = 'bot' ORDER BY id`, [sid]));
const jobOf = async (sid, body) => Number(await sql1(`SELECT j.id FROM helpdesk.bot_job j JOIN helpdesk.message m
	ON m.tenant_id = j.tenant_id AND m.id = j.message_id WHERE j.session_id = $1 AND m.body = $2`, [sid, body]));

// ---- scenarios -----------------------------------------------------------------

async function scenarioAnswer(bot) {
	L.setScenario('answer');
	const { T, B, C1 } = ids;
	const c = await connected('c1', await L.issueToken(T, 'customer', C1));
	const started = await c.must({ type: 'start', text: 'hello bot', client_msg_id: 'c1-0' }, 'start');
	const S = started && Number(started.session_id);
	check(started && started.state === 'bot', 'the session starts with the bot', started);
	ids.S1 = S;

	const h = await hookFor(S, 'hello bot');
	if (!check(h, 'the bot server got the bot.message webhook', hooks.map((x) => x.raw)))
		return;
	check(h.ok, 'its Standard Webhooks signature verifies (node crypto, the bot\'s secret)', h.headers);
	check(h.headers['webhook-id'] === `bot_${T}_${h.body.data.job_id}`, 'webhook-id bot_<tenant>_<job>', h.headers['webhook-id']);
	check(h.body.type === 'bot.message' && h.body.data.tenant_id === T && h.body.data.customer.external_id === 'c1',
		'the payload: bot.message, tenant, customer', h.body);
	check(!verify(h.headers, h.raw, 'whsec_' + crypto.randomBytes(32).toString('base64')), 'a wrong secret does not verify');

	const r = await bot.request({ type: 'bot_answer', session_id: S, job_id: h.body.data.job_id,
		text: 'Hi! What do you need?', options: ['Recharge', { id: 'refund', label: 'Refund' }], conversation_id: 'conv-1' });
	check(r.type === 'ack' && r.op === 'bot_answer' && r.result.outcome === 'posted' && r.result.message_id > 0,
		'bot_answer is acked: posted', r);
	const seen = await c.waitEvent((e) => e.type === 'message.created' && e.session_id === S && e.message.sender_kind === 'bot');
	check(seen && seen.message.body === 'Hi! What do you need?' && seen.message.type === 'menu',
		'the customer sees the bot\'s answer, a menu', seen && seen.message);
	check(seen && JSON.stringify(seen.message.options) === JSON.stringify([{ id: '1', label: 'Recharge' }, { id: 'refund', label: 'Refund' }]),
		'with its options', seen && seen.message.options);
	check(await sql1(`SELECT bot_conversation_id AS c FROM helpdesk.session WHERE id = $1`, [S]) === 'conv-1',
		'the conversation id is kept on the session');

	const again = await bot.request({ type: 'bot_answer', session_id: S, text: 'answered twice' });
	check(again.type === 'error' && again.code === 'dropped', 'a second answer to the same request: error dropped', again);
	check((await botMessages(S)).length === 1, 'and it is not shown');

	// the conversation goes on: the next customer message is the next request
	await c.must({ type: 'message', session_id: S, text: 'recharge please', client_msg_id: 'c1-1' }, 'second message');
	const h2 = await hookFor(S, 'recharge please');
	check(h2 && h2.body.data.conversation_id === 'conv-1', 'the next webhook carries the conversation id', h2 && h2.body);
	const r2 = await bot.request({ type: 'bot_answer', session_id: S, text: 'Done: 100 gems.' });
	check(r2.type === 'ack' && r2.result.outcome === 'posted' && r2.result.job_id === (h2 && h2.body.data.job_id),
		'without job_id the answer goes to the request in flight', r2);
	check(await c.waitEvent((e) => e.type === 'message.created' && e.message.body === 'Done: 100 gems.'), 'the customer sees it');
	c.close();
}

async function scenarioScope(bot) {
	L.setScenario('scope');
	const { T2, CO, S1, VIP, C4, T } = ids;
	for (const f of [{ type: 'message', session_id: S1, text: 'posing as a customer' }, { type: 'history', session_id: S1 },
		{ type: 'start', text: 'x' }, { type: 'typing', session_id: S1 }, { type: 'close', session_id: S1 },
		{ type: 'list', scope: 'all' }, { type: 'takeover', session_id: S1 }, { type: 'ticket_history', ticket_id: 1 },
		{ type: 'status', status: 'online' }]) {
		const r = await bot.request(f);
		check(r.type === 'error' && r.code === 'forbidden', `frame ${f.type} is forbidden to a bot token`, r);
	}
	const bad = await bot.request({ type: 'bot_answer', session_id: S1 });
	check(bad.type === 'error' && bad.code === 'bad_frame', 'bot_answer without text is bad_frame', bad);
	const badOpts = await bot.request({ type: 'bot_answer', session_id: S1, text: 'x', options: 'Recharge' });
	check(badOpts.type === 'error' && badOpts.code === 'bad_frame' && badOpts.message === 'options', 'options must be an array', badOpts);

	// another tenant's session, with a pending request of its own bot
	const SO = Number((await sql(`SELECT session_id FROM helpdesk.start_session($1, $2, first_message => 'other tenant')`, [T2, CO]))[0].session_id);
	ids.SO = SO;
	await hookFor(SO);
	const other = await bot.request({ type: 'bot_answer', session_id: SO, text: 'not mine' });
	check(other.type === 'error' && other.code === 'db_error' && other.sqlstate === '42501', 'another tenant\'s session: 42501', other);
	const otherH = await bot.request({ type: 'bot_handoff', session_id: SO });
	check(otherH.type === 'error' && otherH.sqlstate === '42501', 'nor may it hand it off', otherH);
	check(Number(await sql1(`SELECT count(*) AS n FROM helpdesk.message WHERE session_id = $1 AND sender_kind = 'bot'`, [SO])) === 0 &&
		await sql1(`SELECT state FROM helpdesk.session WHERE id = $1`, [SO]) === 'bot', 'the other tenant\'s session is untouched');
	// a session of this tenant another bot (the VIP queue's) serves
	const SV = Number((await sql(`SELECT session_id FROM helpdesk.start_session($1, $2, queue_id => $3, first_message => 'vip here')`, [T, C4, VIP]))[0].session_id);
	await hookFor(SV);
	const vip = await bot.request({ type: 'bot_answer', session_id: SV, text: 'not mine either' });
	check(vip.type === 'error' && vip.sqlstate === '42501', 'a session another bot serves: 42501', vip);
	check(bot.events.length === 0, 'the bot socket was sent no events', bot.events.slice(0, 3).map((e) => e.type));
}

async function scenarioHandoff(bot) {
	L.setScenario('handoff');
	const { T, C2, C3, Q } = ids;
	// the bot hands off
	const c2 = await connected('c2', await L.issueToken(T, 'customer', C2));
	const st = await c2.must({ type: 'start', text: 'I want a refund', client_msg_id: 'c2-0' }, 'start');
	const S = Number(st.session_id);
	const h = await hookFor(S, 'I want a refund');
	check(h, 'webhook for the refund request');
	const r = await bot.request({ type: 'bot_handoff', session_id: S });
	check(r.type === 'ack' && r.result.queue_id === Q, 'bot_handoff is acked with the queue', r);
	const row = (await sql(`SELECT state, bot_handoff_reason FROM helpdesk.session WHERE id = $1`, [S]))[0];
	check(row.state === 'queued' && row.bot_handoff_reason === 'api', 'the session is queued, reason api', row);
	check(await c2.waitEvent((e) => e.type === 'session.state' && e.session_id === S && e.payload.to === 'queued'),
		'the customer is told it is queued', c2.events.filter((e) => e.session_id === S).map((e) => e.type));
	const late = await bot.request({ type: 'bot_answer', session_id: S, job_id: h && h.body.data.job_id, text: 'refund sent!' });
	check(late.type === 'error' && late.code === 'dropped' && /handed off: api/.test(late.message),
		'an answer after the hand-off: error dropped, saying why', late);
	const twice = await bot.request({ type: 'bot_handoff', session_id: S });
	check(twice.type === 'error' && twice.sqlstate === 'HD422', 'a second hand-off: HD422', twice);

	// 转人工 while the bot's request is in flight
	const c3 = await connected('c3', await L.issueToken(T, 'customer', C3));
	const st3 = await c3.must({ type: 'start', text: 'where is my order', client_msg_id: 'c3-0' }, 'start');
	const S3 = Number(st3.session_id);
	const h3 = await hookFor(S3, 'where is my order');
	await c3.must({ type: 'message', session_id: S3, text: '转人工', client_msg_id: 'c3-1' }, '转人工');
	check(await sql1(`SELECT bot_handoff_reason AS r FROM helpdesk.session WHERE id = $1`, [S3]) === 'keyword', '转人工 hands off at once');
	const late3 = await bot.request({ type: 'bot_answer', session_id: S3, text: 'it ships tomorrow' });
	check(late3.type === 'error' && late3.code === 'dropped' && /handed off: keyword/.test(late3.message),
		'the bot\'s late answer: dropped', late3);
	const job = (await sql(`SELECT state, error FROM helpdesk.bot_job WHERE id = $1`, [h3 ? h3.body.data.job_id : 0]))[0];
	check(job && job.state === 'dropped' && /late answer dropped/.test(job.error), 'its job notes the late answer', job);
	await L.sleep(300);
	check(!c3.events.some((e) => e.type === 'message.created' && e.message.sender_kind === 'bot'), 'the customer never sees it');
	check((await botMessages(S3)).length === 0, 'nor is it stored');
	c2.close();
	c3.close();
}

function httpPost(path, body, token) {
	return new Promise((resolve) => {
		const data = typeof body === 'string' ? body : JSON.stringify(body);
		const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) };
		if (token)
			headers.authorization = `Bearer ${token}`;
		const req = http.request({ host: '127.0.0.1', port: L.PORT, path, method: 'POST', headers, timeout: 10000 }, (res) => {
			let text = '';
			res.setEncoding('utf8');
			res.on('data', (d) => { text += d; });
			res.on('end', () => {
				let json = null;
				try { json = JSON.parse(text); } catch (e) { /* kept as text */ }
				resolve({ status: res.statusCode, json, text });
			});
		});
		req.on('error', (e) => resolve({ status: 0, text: String(e) }));
		req.end(data);
	});
}

async function scenarioHttp(token) {
	L.setScenario('http');
	const { T, C1, Q, SO } = ids;
	const C5 = Number(await sql1(`SELECT helpdesk.upsert_customer($1, 'c5') AS id`, [T]));
	const c5 = await connected('c5', await L.issueToken(T, 'customer', C5));
	const st = await c5.must({ type: 'start', text: 'over http', client_msg_id: 'c5-0' }, 'start');
	const S = Number(st.session_id);
	const h = await hookFor(S, 'over http');
	check(h && h.ok, 'the webhook for the HTTP answer arrived, signed');
	const none = await httpPost('/api/v1/bot/answer', { session_id: S, text: 'x' });
	check(none.status === 401, 'POST /api/v1/bot/answer without a token: 401', none);
	const cust = await httpPost('/api/v1/bot/answer', { session_id: S, text: 'x' }, await L.issueToken(T, 'customer', C1));
	check(cust.status === 403 && cust.json.error.code === 'forbidden', 'with a customer token: 403', cust);
	const bad = await httpPost('/api/v1/bot/answer', { text: 'x' }, token);
	check(bad.status === 400 && /session_id/.test(bad.json.error.message), 'without session_id: 400 naming it', bad);
	const r = await httpPost('/api/v1/bot/answer', { session_id: S, job_id: h && h.body.data.job_id, text: 'answered over HTTP',
		options: ['Yes', 'No'] }, token);
	check(r.status === 200 && r.json.outcome === 'posted' && r.json.message_id > 0, 'the answer over HTTP: 200 posted', r);
	const seen = await c5.waitEvent((e) => e.type === 'message.created' && e.message.body === 'answered over HTTP');
	check(seen && seen.message.sender_kind === 'bot' && seen.message.type === 'menu', 'the customer sees it, a menu', seen && seen.message);
	const again = await httpPost('/api/v1/bot/answer', { session_id: S, text: 'twice' }, token);
	check(again.status === 409 && again.json.error.code === 'dropped', 'a second answer: 409 dropped', again);
	const other = await httpPost('/api/v1/bot/answer', { session_id: SO, text: 'not mine' }, token);
	check(other.status === 403 && other.json.error.code === 'forbidden', 'another tenant\'s session: 403', other);
	const ho = await httpPost('/api/v1/bot/handoff', { session_id: S }, token);
	check(ho.status === 200 && ho.json.queue_id === Q, 'POST /api/v1/bot/handoff: 200 with the queue', ho);
	const ho2 = await httpPost('/api/v1/bot/handoff', { session_id: S }, token);
	check(ho2.status === 409 && ho2.json.error.code === 'illegal_transition', 'a second hand-off: 409 illegal_transition', ho2);
	const late = await httpPost('/api/v1/bot/answer', { session_id: S, text: 'after the hand-off' }, token);
	check(late.status === 409 && late.json.error.code === 'dropped' && /handed off: api/.test(late.json.error.message),
		'an answer after the hand-off: 409 dropped', late);
	check((await botMessages(S)).length === 1, 'only the first answer is shown');
	const up = await L.httpGet('/api/v1/uploads/1?token=' + encodeURIComponent(token));
	check(up.status === 403, 'a bot token reads no uploads', up);
	c5.close();
}

async function scenarioTokens(bot, token) {
	L.setScenario('tokens');
	const { T, B, S1 } = ids;
	const claims = L.tokenClaims(token);
	check(claims.kind === 'bot' && claims.sub === String(B) && claims.tenant === T && claims.ver === 1, 'the bot token\'s claims', claims);
	const ver = Number(await sql1('SELECT helpdesk.revoke_bot_tokens($1, $2) AS v', [T, B]));
	check(ver === 2, 'revoke_bot_tokens: version 2', ver);
	const r = await bot.request({ type: 'bot_answer', session_id: S1, text: 'after revocation' });
	check(r.type === 'error' && r.code === 'revoked' && r.sqlstate === '28000', 'the open socket\'s next frame: revoked', r);
	const closed = await bot.waitClose(5000);
	check(closed && closed.code === 4004, 'and the socket is closed 4004', closed);
	const http401 = await httpPost('/api/v1/bot/answer', { session_id: S1, text: 'after revocation' }, token);
	check(http401.status === 401 && http401.json.error.code === 'unauthorized', 'over HTTP the revoked token is 401', http401);
	const again = new L.Client('bot-old', token);
	const h = await again.connect();
	check(h.type === 'closed' && h.code === 4004, 'a reconnect with the revoked token is closed 4004', h);
	const fresh = await connected('bot-new', await sql1('SELECT helpdesk.issue_bot_token($1, $2) AS t', [T, B]));
	check(fresh.hellos[0].kind === 'bot', 'a new token connects');
	fresh.close();
	const expired = new L.Client('bot-expired', L.signToken({ tenant: T, kind: 'bot', sub: String(B), ver: 2, iat: 1, exp: 2 }));
	const he = await expired.connect();
	check(he.type === 'closed' && he.code === 4003, 'an expired bot token is closed 4003', he);
	const nover = new L.Client('bot-nover', L.signToken({ tenant: T, kind: 'bot', sub: String(B), exp: 9999999999 }));
	const hn = await nover.connect();
	check(hn.type === 'closed' && hn.code === 4002, 'a bot token without ver is invalid (4002)', hn);
	const disabled = await sql1('SELECT helpdesk.issue_bot_token($1, $2) AS t', [T, B]);
	await sql(`SELECT helpdesk.upsert_bot($1, 'hook', enabled => false)`, [T]);
	const hd = await new L.Client('bot-disabled', disabled).connect();
	check(hd.type === 'closed' && hd.code === 4004, 'a disabled bot\'s token is closed 4004', hd);
}

async function main() {
	await setup();
	const server = await startHookServer();
	const bridge = new L.Bridge();
	await bridge.start();
	try {
		const token = await sql1('SELECT helpdesk.issue_bot_token($1, $2) AS t', [ids.T, ids.B]);
		const bot = await connected('bot', token);
		check(bot.hellos[0].kind === 'bot' && bot.hellos[0].subject === ids.B && bot.hellos[0].role === null &&
			bot.hellos[0].sessions.length === 0, 'hello: kind bot, the bot as subject, no sessions', bot.hellos[0]);
		await scenarioAnswer(bot);
		await scenarioScope(bot);
		await scenarioHandoff(bot);
		await scenarioHttp(token);
		await scenarioTokens(bot, token);
		info(`${hooks.length} webhooks received, all signed: ${hooks.every((h) => h.ok)}`);
		check(hooks.every((h) => h.ok), 'every webhook the bot server got verifies');
	} finally {
		await bridge.term();
		server.close();
	}
}

L.runMain(main);
