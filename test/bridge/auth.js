'use strict';
// helpdesk-bridge: who may see and do what (issue 13). Run by
// test/e2e/bridge_auth.sh (same environment as e2e.js).
//
//   typing      a NOTIFY helpdesk_typing from any role (old format, or the new
//               one with a wrong MAC) reaches nobody; a genuine one does
//   holds now   an agent reconnecting with an old position gets neither the
//               events nor the history of a session transferred away from it,
//               nor of one only offered to it
//   expiry      a socket is closed with 4003 when its token expires: a frame
//               after expiry is not executed, a quiet socket is closed too
//   disabled    disabling an agent closes its agent and supervisor sockets
//               with 4004 and puts its session back in the queue
//   revoked     logout_agent closes the sockets opened with the agent's login
//               token (agent_login) with 4004, not those of issue_token; the
//               old login token is refused at connect, a new login works
//   password    a new password (set_agent_password) closes the sockets of the
//               agent's login token with 4004, like logout
//   qa          a qa agent's login token (kind supervisor, hello role qa) reads
//               a chat's history, but its message, accept, claim, close,
//               takeover and ticket writes are refused (error read_only, not
//               executed); a token of issue_token (no role claim) gets the
//               role from the database at connect, with the same refusals;
//               the SQL API refuses the claim itself (42501 naming the agent)
//   rotation    a bridge with a new --token-secret and the old one in
//               --token-secret-previous-file accepts tokens of both, and of
//               no third secret
//   per subject the (default) cap of 20 sockets per subject closes the 21st
//               with 4029; two sockets of one customer share one rate bucket

const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');
const L = require('./lib');
const { check, info, sql, sql1, waitFor, connected } = L;

const ids = {};

async function setup() {
	const T = Number(await sql1(`SELECT helpdesk.upsert_tenant('bridge-auth', 'Bridge auth') AS id`));
	const agent = async (ext, skills) => Number(await sql1(
		`SELECT helpdesk.upsert_agent($1, $2, $2, $3::jsonb, '{en}', 5) AS id`, [T, ext, skills]));
	const cust = async (ext) => Number(await sql1(`SELECT helpdesk.upsert_customer($1, $2) AS id`, [T, ext]));
	Object.assign(ids, {
		T,
		Qman: Number(await sql1(`SELECT helpdesk.upsert_queue($1, 'man', 'Manual', strategy => 'manual', is_default => true) AS id`, [T])),
		Qoffer: Number(await sql1(`SELECT helpdesk.upsert_queue($1, 'offer', 'Offer', required_skills => '{offer}') AS id`, [T])),
		A1: await agent('a1', '{}'),
		A2: await agent('a2', '{}'),
		A3: await agent('a3', '{"offer": 5}'),
		A4: await agent('a4', '{}'),
		SUP: await agent('sup', '{}'),
		A5: await agent('a5', '{}'),
		QA: await agent('qa', '{}'),
		C1: await cust('c1'), C2: await cust('c2'), C3: await cust('c3'), C4: await cust('c4'),
		C5: await cust('c5'), C6: await cust('c6'), C7: await cust('c7'), C8: await cust('c8'),
	});
}

async function published() {
	return waitFor(async () => Number(await sql1('SELECT helpdesk.publisher_lag() AS l')) === 0, 10000, 50);
}

// a customer's session in the manual queue, claimed by an agent over the bridge
async function claimed(cust, agentClient, text, cmid) {
	const s = await cust.must({ type: 'start', queue_id: ids.Qman, text, client_msg_id: cmid }, `${cust.name} start`);
	await agentClient.must({ type: 'claim', session_id: s.session_id }, `${agentClient.name} claim`);
	return s.session_id;
}

const msgs = (c, s) => c.events.filter((e) => e.type === 'message.created' && e.session_id === s);

async function scenarioTyping() {
	L.setScenario('typing');
	const { T, A1, C1 } = ids;
	const a1 = await connected('a1', await L.issueToken(T, 'agent', A1));
	const c1 = await connected('c1', await L.issueToken(T, 'customer', C1));
	await a1.must({ type: 'status', status: 'online' }, 'a1 online');
	const S = await claimed(c1, a1, 'hello', 'c1-0');
	check(await c1.waitEvent((e) => e.type === 'session.state' && e.session_id === S && e.payload.to === 'active'),
		'c1 sees its session active');
	const before = await L.metrics();
	// what any login role can send: the old format, with markup, and a new-looking one with a bad MAC
	await sql(`SELECT pg_notify('helpdesk_typing', $1)`, [`${T} ${S} <img/src=x> 77`]);
	await sql(`SELECT pg_notify('helpdesk_typing', $1)`, [`${T} ${S} customer ${C1}`]);
	await sql(`SELECT pg_notify('helpdesk_typing', $1)`, [`t1 ${T} ${S} 0 77 ${Date.now()} AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`]);
	// a genuine one afterwards: when it has arrived, the forged ones would have too
	await c1.must({ type: 'typing', session_id: S }, 'c1 typing');
	check(await waitFor(() => a1.typing.find((t) => t.session_id === S && t.from === 'customer' && t.id === C1), 5000),
		'a genuine typing signal still reaches the agent', a1.typing);
	await L.sleep(300);
	check(a1.typing.length === 1 && c1.typing.length === 0,
		'no forged typing frame reaches the agent or the customer', { a1: a1.typing, c1: c1.typing });
	check(!a1.typing.concat(c1.typing).some((t) => typeof t.from !== 'string' || !['customer', 'agent'].includes(t.from)),
		'typing frames carry only a known sender kind');
	const after = await L.metrics();
	const rej = after && before ? after.helpdesk_bridge_typing_rejected_total - before.helpdesk_bridge_typing_rejected_total : NaN;
	check(rej === 3, 'the three forged notifications are counted in typing_rejected_total', rej);
	a1.stop();
	c1.stop();
}

async function scenarioHoldsNow() {
	L.setScenario('holds now');
	const { T, A1, A2, A3, C2, C3, Qman, Qoffer } = ids;
	const tokA1 = await L.issueToken(T, 'agent', A1);
	const a1 = await connected('a1', tokA1);
	const a2 = await connected('a2', await L.issueToken(T, 'agent', A2));
	const c2 = await connected('c2', await L.issueToken(T, 'customer', C2));
	await a1.must({ type: 'status', status: 'online' }, 'a1 online');
	await a2.must({ type: 'status', status: 'online' }, 'a2 online');
	const S1 = await claimed(c2, a1, 'my order', 'c2-0');
	const m0 = (await c2.must({ type: 'message', session_id: S1, text: 'before the transfer', client_msg_id: 'c2-1' })).message_id;
	check(await waitFor(() => msgs(a1, S1).some((e) => e.message.id === m0), 10000), 'a1 gets the message while it holds S1');
	await published();
	const P0 = a1.lastPos;
	a1.stop();

	// S1 goes to a2 while a1 is away; then a message and an internal note
	await L.sleep(100);
	await sql(`SELECT helpdesk.transfer_session($1, $2, $3, NULL, $4, 'over to a2')`, [T, S1, A1, Qman]);
	await a2.must({ type: 'claim', session_id: S1 }, 'a2 claim');
	const m1 = (await c2.must({ type: 'message', session_id: S1, text: 'after the transfer: private', client_msg_id: 'c2-2' })).message_id;
	const n1 = Number(await sql1(`SELECT helpdesk.post_message($1, $2, 'note', $3, 'note by a2 after the transfer') AS id`, [T, S1, A2]));
	check(await waitFor(() => msgs(a2, S1).some((e) => e.message.id === m1) && msgs(a2, S1).some((e) => e.message.id === n1), 10000),
		'a2 gets the message and the note');
	await published();

	const a1b = await connected('a1 again', tokA1, {}, P0);
	// at once, while the catch-up is still being read
	const early = a1b.request({ type: 'history', session_id: S1 });
	check(!(a1b.hellos[0].sessions || []).includes(S1), 'hello: S1 is not among a1\'s sessions any more', a1b.hellos[0]);
	const h0 = await early;
	check(h0.type === 'error' && h0.code === 'forbidden', 'a1 cannot read S1\'s history right after reconnecting',
		h0.type === 'ack' ? h0.result.map((m) => m.body) : h0);
	// let the catch-up run to the end
	const head = Number(await sql1('SELECT helpdesk.event_position() AS p'));
	await waitFor(() => a1b.lastPos >= head, 5000);
	await L.sleep(500);
	const leaked = msgs(a1b, S1).filter((e) => e.message.id === m1 || e.message.id === n1);
	check(leaked.length === 0, 'a1 resuming from its old position gets neither the message nor the note posted after the transfer',
		leaked.map((e) => e.message.body));
	const h = await a1b.request({ type: 'history', session_id: S1 });
	check(h.type === 'error' && (h.code === 'forbidden' || h.sqlstate === '42501'),
		'a1 cannot read S1\'s history any more', h.type === 'ack' ? h.result.map((m) => m.body) : h);

	// only ever offered: a3 is the only agent for Qoffer and never accepts
	const tokA3 = await L.issueToken(T, 'agent', A3);
	const a3 = await connected('a3', tokA3);
	const P3 = a3.lastPos;
	const c3 = await connected('c3', await L.issueToken(T, 'customer', C3));
	await a3.must({ type: 'status', status: 'online' }, 'a3 online');
	const S2 = (await c3.must({ type: 'start', queue_id: Qoffer, text: 'offered only', client_msg_id: 'c3-0' }, 'c3 start')).session_id;
	const offer = await a3.waitEvent((e) => e.type === 'session.state' && e.session_id === S2 && e.payload.to === 'offered', 20000);
	check(offer, 'a3 gets the offer (its own event)');
	const m2 = (await c3.must({ type: 'message', session_id: S2, text: 'while offered: private', client_msg_id: 'c3-1' })).message_id;
	await published();
	await L.sleep(500);
	check(!msgs(a3, S2).some((e) => e.message.id === m2), 'an agent only offered the session does not get its messages',
		msgs(a3, S2).map((e) => e.message.body));
	const h3 = await a3.request({ type: 'history', session_id: S2 });
	check(h3.type === 'error', 'an agent only offered the session cannot read its history',
		h3.type === 'ack' ? h3.result.map((m) => m.body) : h3);
	a3.stop();
	const a3b = await connected('a3 again', tokA3, {}, P3);
	const head3 = Number(await sql1('SELECT helpdesk.event_position() AS p'));
	await waitFor(() => a3b.lastPos >= head3, 5000);
	await L.sleep(500);
	check(!msgs(a3b, S2).length, 'nor after reconnecting from before the offer', msgs(a3b, S2).map((e) => e.message.body));
	const h3b = await a3b.request({ type: 'history', session_id: S2 });
	check(h3b.type === 'error', 'nor its history', h3b.type === 'ack' ? h3b.result.map((m) => m.body) : h3b);
	// once it accepts, it holds the session: events and history
	await a3b.must({ type: 'accept', session_id: S2 }, 'a3 accept');
	const m3 = (await c3.must({ type: 'message', session_id: S2, text: 'now yours', client_msg_id: 'c3-2' })).message_id;
	check(await waitFor(() => msgs(a3b, S2).some((e) => e.message.id === m3), 10000), 'after accepting, a3 gets the session\'s messages');
	const h3c = await a3b.must({ type: 'history', session_id: S2 }, 'a3 history after accepting');
	check(Array.isArray(h3c) && h3c.some((m) => m.id === m2), 'and its history, the earlier message included', h3c);
	for (const c of [a1b, a2, c2, a3b, c3]) {
		c.positionsOk();
		c.stop();
	}
}

async function scenarioExpiry() {
	L.setScenario('expiry');
	const { T, C4 } = ids;
	const tok = await L.issueToken(T, 'customer', C4, '3 seconds');
	const exp = L.tokenClaims(tok).exp;
	const busy = await connected('c4 busy', tok);
	const quiet = await connected('c4 quiet', tok);
	const s = await busy.must({ type: 'start', queue_id: ids.Qman, text: 'short token', client_msg_id: 'c4-0' }, 'c4 start');
	// a condition, not an assertion: past the expiry
	await waitFor(() => Date.now() / 1000 >= exp + 0.05, 6000, 5);
	const before = Number(await sql1(`SELECT count(*) AS n FROM helpdesk.message WHERE tenant_id = $1 AND session_id = $2`, [T, s.session_id]));
	const r = await busy.request({ type: 'message', session_id: s.session_id, text: 'after expiry', client_msg_id: 'c4-late' }, 3000);
	if (r.type === 'closed' && r.code === undefined)
		info('the keepalive sweep closed the busy socket before its frame went out');
	else
		check(r.type === 'closed' && r.code === 4003, 'a frame after the token expired closes the socket with 4003, unanswered', r);
	check(busy.closes.some((c) => c.code === 4003), 'the busy socket is closed with 4003', busy.closes);
	const after = Number(await sql1(`SELECT count(*) AS n FROM helpdesk.message WHERE tenant_id = $1 AND session_id = $2`, [T, s.session_id]));
	check(after === before, 'and the message was not posted', { before, after });
	// the keepalive sweep visits every socket each --ping-secs / 3 (10 s)
	const qc = await quiet.waitClose(15000);
	check(qc && qc.code === 4003, 'a quiet socket is closed with 4003 too', qc);
	check(qc && Date.now() / 1000 - exp < 12, 'within one sweep of the expiry', qc && Date.now() / 1000 - exp);
	busy.stop();
	quiet.stop();
}

async function scenarioDisabled() {
	L.setScenario('disabled');
	const { T, A4, C5, Qman } = ids;
	const a4 = await connected('a4', await L.issueToken(T, 'agent', A4));
	const a4sup = await connected('a4 as supervisor', await L.issueToken(T, 'supervisor', A4));
	const c5 = await connected('c5', await L.issueToken(T, 'customer', C5));
	await a4.must({ type: 'status', status: 'online' }, 'a4 online');
	const S = await claimed(c5, a4, 'hi a4', 'c5-0');
	await sql(`SELECT helpdesk.upsert_agent($1, 'a4', 'a4', enabled => false)`, [T]);
	const ac = await a4.waitClose(10000);
	check(ac && ac.code === 4004, 'the disabled agent\'s socket is closed with 4004', ac);
	const sc = await a4sup.waitClose(10000);
	check(sc && sc.code === 4004, 'its supervisor socket too', sc);
	check(await c5.waitEvent((e) => e.type === 'session.state' && e.session_id === S && e.payload.to === 'queued'),
		'the customer sees its session go back to the queue');
	const row = (await sql(`SELECT state, agent_id, queue_id FROM helpdesk.session WHERE tenant_id = $1 AND id = $2`, [T, S]))[0];
	check(row.state === 'queued' && row.agent_id === null && Number(row.queue_id) === Qman, 'the session is queued again, without agent', row);
	const m = await c5.must({ type: 'message', session_id: S, text: 'anyone?', client_msg_id: 'c5-1' }, 'c5 message');
	check(m, 'the customer goes on');
	c5.stop();
}

async function scenarioRevoked() {
	L.setScenario('revoked');
	const { T, A2 } = ids;
	await sql(`SELECT helpdesk.set_agent_password($1, $2, 'a2 password for the bridge')`, [T, A2]);
	const login = async () => sql1(`SELECT token AS t FROM helpdesk.agent_login('bridge-auth', 'a2', 'a2 password for the bridge')`);
	const tok1 = await login();
	check(tok1, 'agent_login gives a token');
	const viaLogin = await connected('a2 (login)', tok1);
	const viaIssue = await connected('a2 (issue_token)', await L.issueToken(T, 'agent', A2));
	const ver = await sql1(`SELECT helpdesk.logout_agent($1, $2) AS v`, [T, A2]);
	const t0 = Date.now();
	const lc = await viaLogin.waitClose(10000);
	check(lc && lc.code === 4004, 'logout closes the login token\'s socket with 4004', lc);
	info(`closed ${Date.now() - t0} ms after logout_agent (version ${ver})`);
	const hb = await viaIssue.must({ type: 'status', status: 'away' }, 'a2 (issue_token) status');
	check(hb, 'a socket of issue_token (no version) stays open');
	const again = new L.Client('a2 old login token', tok1);
	const r = await Promise.race([again.connect(), L.sleep(10000 * L.SLOW).then(() => ({ type: 'timeout' }))]);
	check(r.type === 'closed' && r.code === 4004, 'the revoked login token is refused at connect (4004)', r);
	const fresh = await connected('a2 (new login)', await login());
	check(fresh, 'a new login connects');
	fresh.stop();
	viaIssue.stop();
}

async function scenarioPassword() {
	L.setScenario('password');
	const { T, A5 } = ids;
	await sql(`SELECT helpdesk.set_agent_password($1, $2, 'a5 first password')`, [T, A5]);
	const tok = await sql1(`SELECT token AS t FROM helpdesk.agent_login('bridge-auth', 'a5', 'a5 first password')`);
	const a5 = await connected('a5 (login)', tok);
	const other = await connected('a5 (login, second socket)', tok);
	const t0 = Date.now();
	await sql(`SELECT helpdesk.set_agent_password($1, $2, 'a5 second password')`, [T, A5]);
	const c = await a5.waitClose(10000);
	check(c && c.code === 4004, 'a new password closes the login token\'s socket with 4004', c);
	const c2 = await other.waitClose(10000);
	check(c2 && c2.code === 4004, 'every socket of that token', c2);
	info(`closed ${Date.now() - t0} ms after set_agent_password`);
	const again = new L.Client('a5 old token', tok);
	const r = await Promise.race([again.connect(), L.sleep(10000 * L.SLOW).then(() => ({ type: 'timeout' }))]);
	check(r.type === 'closed' && r.code === 4004, 'the token from before the change is refused at connect (4004)', r);
	const fresh = await connected('a5 (new password)',
		await sql1(`SELECT token AS t FROM helpdesk.agent_login('bridge-auth', 'a5', 'a5 second password')`));
	check(fresh, 'a login with the new password connects');
	fresh.stop();
}

async function scenarioQa() {
	L.setScenario('qa');
	const { T, A1, QA, C7, C8, Qman } = ids;
	await sql(`SELECT helpdesk.set_agent_password($1, $2, 'qa password for the bridge')`, [T, QA]);
	await sql(`SELECT helpdesk.set_agent_role($1, $2, 'qa')`, [T, QA]);
	const tok = await sql1(`SELECT token AS t FROM helpdesk.agent_login('bridge-auth', 'qa', 'qa password for the bridge')`);
	check(L.tokenClaims(tok).role === 'qa', 'the login token carries role qa', L.tokenClaims(tok));
	const qa = await connected('qa (login)', tok);
	const hello = qa.hellos[0];
	check(hello.role === 'qa' && hello.kind === 'supervisor', 'hello tells the client kind supervisor and role qa', hello);

	// a chat between c7 and a1, which the qa agent reads
	const a1 = await connected('a1', await L.issueToken(T, 'agent', A1));
	check(a1.hellos[0].role === 'agent', 'a token of issue_token gets the agent\'s role from the database in hello', a1.hellos[0]);
	const c7 = await connected('c7', await L.issueToken(T, 'customer', C7));
	check(c7.hellos[0].role === null, 'a customer\'s hello has role null', c7.hellos[0]);
	await a1.must({ type: 'status', status: 'online' }, 'a1 online');
	const S = await claimed(c7, a1, 'please review me', 'c7-0');
	await a1.must({ type: 'message', session_id: S, text: 'reviewed answer', client_msg_id: 'a1-qa-1' }, 'a1 answers');
	const h = await qa.must({ type: 'history', session_id: S }, 'qa history');
	check(Array.isArray(h) && h.some((m) => m.body === 'please review me') && h.some((m) => m.body === 'reviewed answer'),
		'the qa agent reads the chat\'s history', h);
	check(await qa.waitEvent((e) => e.type === 'message.created' && e.session_id === S && e.message.body === 'reviewed answer'),
		'and sees the tenant\'s chats live');
	const lst = await qa.must({ type: 'list', scope: 'all' }, 'qa list all');
	check(Array.isArray(lst) && lst.some((s) => s.id === S), 'and lists every open chat', lst);

	// its writes are refused by the bridge, before anything runs
	const c8 = await connected('c8', await L.issueToken(T, 'customer', C8));
	const S2 = (await c8.must({ type: 'start', queue_id: Qman, text: 'waiting chat', client_msg_id: 'c8-0' }, 'c8 start')).session_id;
	const before = await sql1(`SELECT count(*) AS n FROM helpdesk.message WHERE tenant_id = $1`, [T]);
	const frames = [
		{ type: 'message', session_id: S, text: 'QA says hi', client_msg_id: 'qa-1' },
		{ type: 'message', session_id: S, text: 'QA note', client_msg_id: 'qa-2', note: true },
		{ type: 'accept', session_id: S2 },
		{ type: 'claim', session_id: S2 },
		{ type: 'transfer', session_id: S, to_queue_id: Qman },
		{ type: 'close', session_id: S },
		{ type: 'takeover', session_id: S2 },
		{ type: 'ticket_note', ticket_id: 1, text: 'QA ticket note', client_msg_id: 'qa-3' },
	];
	for (const f of frames) {
		const r = await qa.request(f);
		check(r.type === 'error' && r.code === 'read_only' && /has role qa and reads only/.test(r.message || '')
			&& (r.message || '').includes(`agent ${QA} `) && (r.message || '').includes(`${f.type} frames`),
			`qa: ${f.type}${f.note ? ' (note)' : ''} refused with read_only naming the agent and the frame`, r);
	}
	const st = await sql(`SELECT state, agent_id FROM helpdesk.session WHERE tenant_id = $1 AND id IN ($2, $3) ORDER BY id`, [T, S, S2]);
	check(st[0].state === 'active' && Number(st[0].agent_id) === A1 && st[1].state === 'queued' && st[1].agent_id === null,
		'nothing happened: the chat is a1\'s, the second one still queued', st);
	check(Number(await sql1(`SELECT count(*) AS n FROM helpdesk.message WHERE tenant_id = $1`, [T])) === Number(before),
		'no message of the qa agent was stored');
	const ok = await qa.must({ type: 'status', status: 'away' }, 'qa status');
	check(ok !== undefined, 'reads and its own presence stay allowed');

	// a token without a role claim (issue_token): the bridge has the role from
	// the database at connect (bridge_subscriber), the same refusals
	const qaIssued = await connected('qa (issue_token, kind agent)', await L.issueToken(T, 'agent', QA));
	check(qaIssued.hellos[0].role === 'qa', 'a qa agent\'s token of issue_token has role qa in hello', qaIssued.hellos[0]);
	const qaSup = await connected('qa (issue_token, kind supervisor)', await L.issueToken(T, 'supervisor', QA));
	for (const [cl, f] of [[qaIssued, { type: 'claim', session_id: S2 }],
		[qaIssued, { type: 'message', session_id: S, text: 'QA again', client_msg_id: 'qa-4' }],
		[qaSup, { type: 'takeover', session_id: S2 }]]) {
		const r = await cl.request(f);
		check(r.type === 'error' && r.code === 'read_only', `${cl.name}: ${f.type} refused with read_only`, r);
	}
	// the database's own refusal, whatever the path (here: the API role, as a backend would)
	const dbErr = await sql(`SELECT helpdesk.claim_session($1, $2, $3)`, [T, QA, S2]).then(() => null, (e) => e);
	check(dbErr && dbErr.code === '42501' && dbErr.message === `agent ${QA} has role qa and may not claim sessions`,
		'the SQL API refuses a qa agent\'s claim itself (42501, naming the agent and the action)', dbErr && dbErr.message);
	for (const c of [qa, a1, c7, qaIssued, qaSup, c8])
		c.stop();
}

async function scenarioRotation() {
	L.setScenario('rotation');
	const { T, A1, C1 } = ids;
	const port = L.PORT + 2;
	const prevFile = path.join(os.tmpdir(), `hd-previous-secret-${process.pid}`);
	fs.writeFileSync(prevFile, `${L.SECRET}\n`, { mode: 0o600 });
	const NEW = crypto.randomBytes(24).toString('hex');
	const b2 = new L.Bridge(['--token-secret', NEW, '--token-secret-previous-file', prevFile], port);
	await b2.start();
	try {
		const now = Math.floor(Date.now() / 1000);
		const claims = { tenant: T, kind: 'customer', sub: String(C1), iat: now, exp: now + 600 };
		const old = await connected('c1, the previous secret', await L.issueToken(T, 'customer', C1), { port });
		check(old, 'a token of the previous secret (the database\'s) is accepted');
		const fresh = await connected('c1, the new secret', L.signToken(claims, NEW), { port });
		check(fresh, 'a token of the new secret is accepted');
		const other = new L.Client('c1, a third secret', L.signToken(claims, crypto.randomBytes(24).toString('hex')), { port });
		const r = await Promise.race([other.connect(), L.sleep(10000 * L.SLOW).then(() => ({ type: 'timeout' }))]);
		check(r.type === 'closed' && r.code === 4002, 'a token of any other secret is refused (4002)', r);
		old.stop();
		fresh.stop();
		const a1 = await connected('a1 on the first bridge', await L.issueToken(T, 'agent', A1));
		a1.stop();
	} finally {
		await b2.term();
		fs.unlinkSync(prevFile);
	}
}

async function scenarioPerSubject() {
	L.setScenario('per subject');
	const { T, C6 } = ids;
	const tok = await L.issueToken(T, 'customer', C6);
	const socks = [];
	for (let i = 0; i < 20; i++)
		socks.push(await connected(`c6#${i}`, tok));
	const extra = new L.Client('c6#21', tok);
	const r = await Promise.race([extra.connect(), L.sleep(10000 * L.SLOW).then(() => ({ type: 'timeout' }))]);
	check(r.type === 'closed' && r.code === 4029, 'the 21st socket of one subject is closed with 4029', r);
	check(extra.frames.length === 0, 'with no data before the close', extra.frames);
	socks.pop().close();
	await L.sleep(300);
	const again = new L.Client('c6 again', tok);
	const r2 = await Promise.race([again.connect(), L.sleep(10000 * L.SLOW).then(() => ({ type: 'timeout' }))]);
	check(r2.type === 'hello', 'once one closed, a new socket is accepted', r2);
	again.stop();
	for (const s of socks)
		s.stop();
	await L.sleep(300);

	// one bucket for the subject: 2 x 150 frames > 200 per minute
	const [x, y] = [await connected('c6 x', tok), await connected('c6 y', tok)];
	for (let i = 0; i < 150; i++) {
		x.send({ type: 'heartbeat' });
		y.send({ type: 'heartbeat' });
	}
	const limited = await waitFor(() => x.frames.concat(y.frames).find((f) => f.type === 'error' && f.code === 'rate_limited'), 5000);
	check(limited, 'two sockets of one customer share its rate limit (300 frames in a burst of 200)', limited);
	info(`rate limited: ${limited ? limited.message : 'no'}`);
	x.stop();
	y.stop();
}

async function main() {
	const bridge = new L.Bridge();
	await bridge.start();
	try {
		await setup();
		await scenarioTyping();
		await scenarioHoldsNow();
		await scenarioExpiry();
		await scenarioDisabled();
		await scenarioRevoked();
		await scenarioPassword();
		await scenarioQa();
		await scenarioRotation();
		await scenarioPerSubject();
	} finally {
		await bridge.term();
	}
}

L.runMain(main);
