'use strict';
// helpdesk-bridge end to end, against a running cluster and a bridge this
// script starts (and kills, and restarts). Run by test/e2e/bridge_e2e.sh,
// which creates the database and passes:
//   PGHOST PGPORT PGUSER  the cluster; BRIDGE_DB its database with pg_helpdesk
//   HD_CLUSTER            for hd_cluster_restart
//   HELPDESK_TOKEN_SECRET the cluster's helpdesk.token_secret
//   BRIDGE_BIN BRIDGE_PORT BRIDGE_LOG
// Prints every failed check and exits 1 if there was any.
//
// Scenarios (README "Bridge protocol" is the contract):
//   auth        close codes 4001..4004 with no data before the close
//   conversation  offer, accept, messages, receipts, typing, transfer, close;
//                 each client gets exactly the events it may see
//   limits      bad_json, bad_frame, forbidden, 1009, 1003, rate limiting
//   resilience  kill -9 of the bridge and a PostgreSQL restart mid-conversation
//   metrics     /healthz and /metrics
//   sigterm     exit 0, clients get 1001

const L = require('./lib');
const { check, info, sql, sql1, waitFor, Client, connected } = L;

const ids = {};

async function setup() {
	const T = await sql1(`SELECT helpdesk.upsert_tenant('bridge-e2e', 'Bridge e2e') AS id`);
	const T2 = await sql1(`SELECT helpdesk.upsert_tenant('bridge-e2e-other', 'Other tenant') AS id`);
	const q = (ext, skill, dflt) => sql1(
		`SELECT helpdesk.upsert_queue($1, $2, $2, required_skills => $3::text[], is_default => $4) AS id`,
		[T, ext, `{${skill}}`, dflt]);
	const agent = (ext, skills, max = 5) => sql1(
		`SELECT helpdesk.upsert_agent($1, $2, $2, $3::jsonb, '{en}', $4) AS id`, [T, ext, skills, max]);
	const cust = (t, ext) => sql1(`SELECT helpdesk.upsert_customer($1, $2) AS id`, [t, ext]);
	Object.assign(ids, {
		T, T2,
		Qmain: await q('main', 'general', true),		// A1, A2
		Qhold: await q('hold', 'unobtainium', false),	// nobody: sessions wait there
		Qres: await q('res', 'resilience', false),		// A3
		A1: await agent('a1', '{"general": 5}'),
		A2: await agent('a2', '{"general": 5}'),
		A3: await agent('a3', '{"resilience": 5}'),
		A4: await agent('a4', '{"general": 1}'),		// disabled during the auth checks
		SUP: await agent('sup', '{}'),
		C1: await cust(T, 'c1'), C2: await cust(T, 'c2'), C3: await cust(T, 'c3'),
		C4: await cust(T, 'c4'), C5: await cust(T, 'c5'),
		X1: await cust(T2, 'x1'),
	});
	for (const k of Object.keys(ids))
		ids[k] = Number(ids[k]);		// bigint comes back as text
	L.debug(JSON.stringify(ids));
}

async function published() {
	return waitFor(async () => Number(await sql1('SELECT helpdesk.publisher_lag() AS l')) === 0, 10000, 50);
}

// ---------------------------------------------------------------------------
// auth: every refusal closes with its code and sends nothing before
async function scenarioAuth() {
	L.setScenario('auth');
	const { T, T2, C1, A4 } = ids;
	const now = Math.floor(Date.now() / 1000);
	const good = await L.issueToken(T, 'customer', C1);
	const [h, p] = good.split('.');
	const tampered = L.tokenClaims(good);
	tampered.tenant = T2;
	const short = await L.issueToken(T, 'customer', C1, '1 second');
	const agentTok = await L.issueToken(T, 'agent', A4);

	const cases = [
		['no token', null, 4001],
		['empty token', '', 4001],
		['garbage token', 'not-a-jwt', 4002],
		['signed with another secret', L.signToken(L.tokenClaims(good), 'x'.repeat(40)), 4002],
		['signature of another payload', `${h}.${Buffer.from(JSON.stringify(tampered)).toString('base64url')}.${good.split('.')[2]}`, 4002],
		['signature cut short', `${h}.${p}.${good.split('.')[2].slice(0, 20)}`, 4002],
		['customer not in the tenant', L.signToken({ tenant: T, kind: 'customer', sub: '999999', iat: now, exp: now + 3600 }), 4004],
		['customer of another tenant', L.signToken({ tenant: T2, kind: 'customer', sub: String(C1), iat: now, exp: now + 3600 }), 4004],
		['tenant that does not exist', L.signToken({ tenant: 987654, kind: 'customer', sub: String(C1), iat: now, exp: now + 3600 }), 4004],
	];
	// an agent disabled after its token was issued
	await sql(`SELECT helpdesk.upsert_agent($1, 'a4', 'a4', enabled => false)`, [T]);
	cases.push(['disabled agent', agentTok, 4004]);
	// expired: wait (a condition, not an assertion) until exp has passed
	const exp = L.tokenClaims(short).exp;
	await waitFor(() => Date.now() / 1000 >= exp + 1, 5000, 100);
	cases.push(['expired token', short, 4003]);

	const before = await L.metrics();
	for (const [what, token, code] of cases) {
		const c = new Client(`auth:${what}`, token);
		const r = await Promise.race([c.connect(), L.sleep(10000 * L.SLOW).then(() => ({ type: 'timeout' }))]);
		check(r.type === 'closed' && r.code === code, `${what}: close ${code}`, r);
		check(c.frames.length === 0 && c.badFrames.length === 0, `${what}: no data frame before the close`, c.frames);
	}
	const after = await L.metrics();
	check(after.helpdesk_bridge_auth_failures_total - before.helpdesk_bridge_auth_failures_total === cases.length,
		'helpdesk_bridge_auth_failures_total counts every refusal',
		`${before.helpdesk_bridge_auth_failures_total} -> ${after.helpdesk_bridge_auth_failures_total}`);

	// and a good token still works, also with ?position
	const ok = await connected('auth:good', good);
	check(ok.hellos[0].kind === 'customer' && ok.hellos[0].tenant === T && ok.hellos[0].subject === C1,
		'hello names kind, tenant and subject', ok.hellos[0]);
	ok.close();
}

// ---------------------------------------------------------------------------
// Which of the tenant's events after `from` a client may see (README "Who sees
// what"), given the sessions it held at connect and its queues.
function expectedEvents(rows, who) {
	const held = new Set(who.sessions || []);
	const out = [];
	for (const r of rows) {
		const pos = Number(r.pos);
		const sid = r.session_id === null ? null : Number(r.session_id);
		const aid = r.audience_id === null ? null : Number(r.audience_id);
		let vis = false;
		if (who.kind === 'customer') {
			vis = (r.audience === 'session' && Number(r.customer_id) === who.id) ||
				(r.audience === 'customer' && aid === who.id);
		} else if (who.kind === 'agent') {
			if (r.audience === 'agent') {
				if (aid === who.id) {
					vis = true;
					if (r.type === 'session.released')
						held.delete(sid);
					else if (r.type === 'session.state' && sid && r.payload.to === 'active')
						held.add(sid);
				}
			} else if (r.audience === 'session' || r.audience === 'session_staff') {
				vis = held.has(sid);
			} else if (r.audience === 'queue') {
				vis = (who.queues || []).includes(aid);
			}
		} else if (who.kind === 'supervisor') {
			vis = true;
		}
		if (vis)
			out.push(pos);
	}
	return out;
}

async function tenantEvents(after, upto) {
	return (await sql(`SELECT * FROM helpdesk.bridge_events($1, 100000, $2) WHERE pos <= $3 ORDER BY pos`,
		[after, ids.T, upto]));
}

// compares what each client got with what it may see, up to upto
async function exactlyTheirEvents(clients, upto) {
	for (const [c, who] of clients) {
		const from = c.hellos[0].position;
		const rows = await tenantEvents(from, upto);
		const want = expectedEvents(rows, { ...who, sessions: c.hellos[0].sessions });
		const got = c.events.filter((e) => e.pos <= upto).map((e) => e.pos);
		const gotSet = new Set(got);
		const wantSet = new Set(want);
		const missing = want.filter((p) => !gotSet.has(p));
		const extra = got.filter((p) => !wantSet.has(p));
		const describe = (p) => {
			const r = rows.find((x) => Number(x.pos) === p);
			return r ? `${p}:${r.type}/${r.audience}:${r.audience_id}/s${r.session_id}` : String(p);
		};
		check(missing.length === 0, `${c.name}: got every event it may see`, missing.slice(0, 10).map(describe).join(' '));
		check(extra.length === 0, `${c.name}: got no event it may not see`, extra.slice(0, 10).map(describe).join(' '));
		check(got.length === gotSet.size, `${c.name}: no event twice`);
		c.positionsOk();
		info(`${c.name}: ${got.length} events, as expected: ${missing.length === 0 && extra.length === 0}`);
	}
}

const msgIds = (c, sid, pred = () => true) =>
	c.events.filter((e) => e.type === 'message.created' && e.session_id === sid && pred(e)).map((e) => e.message.id);

// ---------------------------------------------------------------------------
async function scenarioConversation() {
	L.setScenario('conversation');
	const { T, C1, C2, A1, A2, Qmain, Qhold, SUP } = ids;
	const c1 = await connected('c1', await L.issueToken(T, 'customer', C1));
	const c2 = await connected('c2', await L.issueToken(T, 'customer', C2));
	const a1 = await connected('a1', await L.issueToken(T, 'agent', A1));
	const a2 = await connected('a2', await L.issueToken(T, 'agent', A2));
	const sup = await connected('sup', await L.issueToken(T, 'supervisor', SUP));
	check(a1.hellos[0].kind === 'agent' && a1.hellos[0].subject === A1, 'agent hello', a1.hellos[0]);
	check(sup.hellos[0].kind === 'supervisor', 'supervisor hello', sup.hellos[0]);

	// another customer's session, waiting where no agent can take it
	const s2r = await c2.must({ type: 'start', queue_id: Qhold, text: 'c2 is waiting', client_msg_id: 'c2-0' }, 'c2 start');
	const S2 = s2r.session_id;

	check((await a1.must({ type: 'status', status: 'online' }, 'a1 online')) !== undefined, 'a1 online');
	const s1r = await c1.must({ type: 'start', queue_id: Qmain, text: 'my payment failed', client_msg_id: 'c1-0' }, 'c1 start');
	const S1 = s1r.session_id;
	check(s1r.created === true && s1r.message_id > 0, 'start created a session with its first message', s1r);
	const again = await c1.must({ type: 'start', queue_id: Qmain, text: 'my payment failed', client_msg_id: 'c1-0' }, 'c1 start again');
	check(again && again.session_id === S1 && again.created === false && again.message_id === s1r.message_id,
		'a second start returns the open session and the same first message', again);
	ids.S1 = S1;
	ids.S2 = S2;

	// the offer
	const offer = await a1.waitEvent((e) => e.type === 'session.state' && e.audience === 'agent' &&
		e.session_id === S1 && e.payload.to === 'offered', 20000);
	if (!check(offer, 'a1 gets the offer event'))
		throw new Error('no offer: is the dispatcher running?');
	await a1.must({ type: 'accept', session_id: S1 }, 'a1 accept');
	check(await c1.waitEvent((e) => e.type === 'session.state' && e.session_id === S1 && e.payload.to === 'active'),
		'c1 sees its session become active');
	const hist = await a1.must({ type: 'history', session_id: S1 }, 'a1 history');
	check(Array.isArray(hist) && hist.some((m) => m.id === s1r.message_id && m.body === 'my payment failed'),
		'a1 reads the first message (sent before its offer) through history', hist);

	// typing, both ways; never back to the typist, never to another customer
	await c1.must({ type: 'typing', session_id: S1 }, 'c1 typing');
	check(await waitFor(() => a1.typing.find((t) => t.session_id === S1 && t.from === 'customer' && t.id === C1), 5000),
		'a1 sees c1 typing', a1.typing);
	await a1.must({ type: 'typing', session_id: S1 }, 'a1 typing');
	check(await waitFor(() => c1.typing.find((t) => t.session_id === S1 && t.from === 'agent' && t.id === A1), 5000),
		'c1 sees a1 typing', c1.typing);
	await c2.must({ type: 'typing', session_id: S2 }, 'c2 typing');
	const t2 = await c2.request({ type: 'typing', session_id: S1 });
	check(t2.type === 'error' && t2.code === 'forbidden', 'c2 may not type in c1\'s session', t2);

	// messages and receipts
	const ma1 = (await a1.must({ type: 'message', session_id: S1, text: 'hello, how can I help?', client_msg_id: 'a1-1' }, 'a1 message')).message_id;
	const got = await c1.waitEvent((e) => e.type === 'message.created' && e.message.id === ma1);
	check(got && got.message.sender_kind === 'agent' && got.message.body === 'hello, how can I help?' && got.message.client_msg_id === 'a1-1',
		'c1 gets a1\'s message with its sender and client_msg_id', got);
	const dl = await c1.must({ type: 'delivered', session_id: S1, up_to: ma1 }, 'c1 delivered');
	check(dl === 1, 'delivered marks one message', dl);
	const rd = await c1.must({ type: 'read', session_id: S1, up_to: ma1 }, 'c1 read');
	check(rd === 1, 'read marks one message', rd);
	check(await a1.waitEvent((e) => e.type === 'message.delivered' && e.session_id === S1 &&
		e.payload.reader_kind === 'customer' && e.payload.up_to === ma1), 'a1 sees the delivered receipt');
	check(await a1.waitEvent((e) => e.type === 'message.read' && e.session_id === S1 &&
		e.payload.reader_kind === 'customer' && e.payload.up_to === ma1), 'a1 sees the read receipt');

	const mc = [];
	for (let i = 1; i <= 3; i++)
		mc.push((await c1.must({ type: 'message', session_id: S1, text: `order 552${i}`, client_msg_id: `c1-${i}` }, `c1 message ${i}`)).message_id);
	const retry = await c1.must({ type: 'message', session_id: S1, text: 'order 5521', client_msg_id: 'c1-1' }, 'c1 retry');
	check(retry && retry.message_id === mc[0], 'a retry with the same client_msg_id returns the same id', retry);
	const conflict = await c1.request({ type: 'message', session_id: S1, text: 'something else', client_msg_id: 'c1-1' });
	check(conflict.type === 'error' && conflict.code === 'db_error' && conflict.sqlstate === 'HD409',
		'the same client_msg_id with other content is refused (HD409)', conflict);
	check(await waitFor(() => mc.every((m) => msgIds(a1, S1).includes(m)), 10000), 'a1 gets c1\'s messages', msgIds(a1, S1));
	await c2.must({ type: 'message', session_id: S2, text: 'c2 still waiting', client_msg_id: 'c2-1' }, 'c2 message');
	const other = await c1.request({ type: 'message', session_id: S2, text: 'let me in', client_msg_id: 'c1-x' });
	check(other.type === 'error' && other.code === 'db_error', 'c1 cannot post into c2\'s session', other);
	const otherHist = await c1.request({ type: 'history', session_id: S2 });
	check(otherHist.type === 'error' && otherHist.code === 'forbidden', 'c1 cannot read c2\'s history', otherHist);

	await a1.must({ type: 'delivered', session_id: S1, up_to: mc[2] }, 'a1 delivered');
	const ar = await a1.must({ type: 'read', session_id: S1, up_to: mc[2] }, 'a1 read');
	check(ar === 4, 'a1 read marks c1\'s four messages (the first one included)', ar);
	check(await c1.waitEvent((e) => e.type === 'message.read' && e.payload.reader_kind === 'agent' && e.payload.up_to === mc[2]),
		'c1 sees a1\'s read receipt');
	const h1 = await c1.must({ type: 'history', session_id: S1 }, 'c1 history');
	const ma1row = h1 && h1.find((m) => m.id === ma1);
	check(ma1row && ma1row.delivered_at && ma1row.read_at, 'history shows the receipts on a1\'s message', ma1row);
	const mc3row = h1 && h1.find((m) => m.id === mc[2]);
	check(mc3row && mc3row.read_at, 'history shows a1\'s receipt on c1\'s message', mc3row);

	// a2 has seen nothing of S1 so far
	check(!a2.events.some((e) => e.session_id === S1 && e.audience !== 'queue') && !a2.typing.some((t) => t.session_id === S1),
		'a2 sees nothing of S1 before the transfer', a2.events.filter((e) => e.session_id === S1));

	// transfer to a2
	await a2.must({ type: 'status', status: 'online' }, 'a2 online');
	const tr = await a1.must({ type: 'transfer', session_id: S1, to_agent_id: A2, note: 'billing question, over to you' }, 'a1 transfer');
	check(tr === Qmain, 'transfer returns the queue', tr);
	const offer2 = await a2.waitEvent((e) => e.type === 'session.state' && e.audience === 'agent' &&
		e.session_id === S1 && e.payload.to === 'offered', 20000);
	check(offer2, 'a2 gets the offer of the transferred session');
	check(!a2.events.some((e) => e.session_id === S1 && e.audience !== 'queue' && (!offer2 || e.pos < offer2.pos)),
		'a2 saw no event of S1 before its offer');
	await a2.must({ type: 'accept', session_id: S1 }, 'a2 accept');
	const released = await a1.waitEvent((e) => e.type === 'session.released' && e.session_id === S1);
	check(released, 'a1 gets session.released');
	const a2hist = await a2.must({ type: 'history', session_id: S1 }, 'a2 history');
	check(Array.isArray(a2hist) && a2hist.some((m) => m.sender_kind === 'note' && m.body === 'billing question, over to you'),
		'a2 reads the transfer note in history', a2hist && a2hist.map((m) => m.sender_kind));
	const ma2 = (await a2.must({ type: 'message', session_id: S1, text: 'I am taking over', client_msg_id: 'a2-1' }, 'a2 message')).message_id;
	check(await c1.waitEvent((e) => e.type === 'message.created' && e.message.id === ma2), 'c1 gets a2\'s message');
	const mc4 = (await c1.must({ type: 'message', session_id: S1, text: 'thanks', client_msg_id: 'c1-4' }, 'c1 message 4')).message_id;
	check(await a2.waitEvent((e) => e.type === 'message.created' && e.message.id === mc4), 'a2 gets c1\'s message');
	await c1.must({ type: 'typing', session_id: S1 }, 'c1 typing again');
	check(await waitFor(() => a2.typing.find((t) => t.session_id === S1 && t.from === 'customer'), 5000), 'a2 sees c1 typing');
	const a1late = await a1.request({ type: 'message', session_id: S1, text: 'still here?', client_msg_id: 'a1-late' });
	check(a1late.type === 'error' && a1late.code === 'db_error', 'a1 cannot post after the transfer', a1late);
	const a1typ = await a1.request({ type: 'typing', session_id: S1 });
	check(a1typ.type === 'error' && a1typ.code === 'forbidden', 'a1 may not type in S1 after the transfer', a1typ);

	// close
	const cl = await a2.must({ type: 'close', session_id: S1, reason: 'resolved' }, 'a2 close');
	check(cl === 'active', 'close returns the previous state', cl);
	check(await c1.waitEvent((e) => e.type === 'session.state' && e.session_id === S1 && e.payload.to === 'closed'), 'c1 sees the close');
	check(await a2.waitEvent((e) => e.type === 'session.state' && e.session_id === S1 && e.payload.to === 'closed'), 'a2 sees the close');
	const late = await c1.request({ type: 'message', session_id: S1, text: 'hello?', client_msg_id: 'c1-5' });
	check(late.type === 'error' && late.sqlstate === 'HD410', 'a message to a closed session: HD410', late);

	// sentinels: one event each client sees, after everything above
	await sql(`SELECT helpdesk.set_agent_status($1, $2, 'away'), helpdesk.set_agent_status($1, $3, 'away')`, [T, A1, A2]);
	const s1b = Number(await sql1(`SELECT (helpdesk.start_session($1, $2, 'web', $3)).session_id AS s`, [T, C1, Qhold]));
	const sentMsg = Number(await sql1(`SELECT helpdesk.post_message($1, $2, 'bot', NULL, 'sentinel') AS m`, [T, S2]));
	await published();
	const upto = Number(await sql1('SELECT helpdesk.event_position() AS p'));
	const sent = await Promise.all([
		a1.waitEvent((e) => e.type === 'agent.status' && e.pos > released.pos && e.payload.status === 'away'),
		a2.waitEvent((e) => e.type === 'agent.status' && e.payload.status === 'away'),
		c1.waitEvent((e) => e.session_id === s1b),
		c2.waitEvent((e) => e.type === 'message.created' && e.message.id === sentMsg),
		sup.waitEvent((e) => e.pos >= upto),
	]);
	check(sent.every(Boolean), 'every client gets its last event', sent.map(Boolean));

	// what each side got, exactly
	check(!c1.events.some((e) => e.session_id !== S1 && e.session_id !== s1b), 'c1 sees no other customer\'s session',
		c1.events.filter((e) => e.session_id !== S1 && e.session_id !== s1b));
	check(!c2.events.some((e) => e.session_id !== S2), 'c2 sees no other customer\'s session');
	check(!c1.typing.some((t) => t.from === 'customer' || t.session_id !== S1), 'c1 gets no typing of its own or of others', c1.typing);
	check(!c2.typing.length, 'c2 gets no typing (its own is not echoed, S1 is not its)', c2.typing);
	check(!c1.events.some((e) => e.audience === 'session_staff' || (e.message && e.message.sender_kind === 'note')),
		'c1 never sees the internal note');
	check(!(h1 || []).some((m) => m.sender_kind === 'note'), 'c1 history has no notes');
	check(!a1.events.some((e) => e.session_id === S1 && e.type === 'message.created' && e.pos > released.pos),
		'a1 gets no message of S1 after its release');
	check(!a1.typing.some((t) => t.session_id === S1 && t.from === 'customer' && a1.typing.indexOf(t) > 0),
		'a1 gets no typing of S1 after the transfer', a1.typing);
	check(!a1.events.some((e) => e.session_id === S2) && !a2.events.some((e) => e.session_id === S2),
		'agents see nothing of a session in a queue they cannot serve');
	check(sup.events.some((e) => e.session_id === S1) && sup.events.some((e) => e.session_id === S2) &&
		sup.events.some((e) => e.audience === 'session_staff'), 'the supervisor sees the whole tenant');
	const dbMsgs = (await sql(`SELECT id FROM helpdesk.message WHERE session_id = $1 AND sender_kind <> 'note' ORDER BY id`, [S1])).map((r) => Number(r.id));
	const c1Msgs = msgIds(c1, S1);
	check(JSON.stringify([...c1Msgs].sort((a, b) => a - b)) === JSON.stringify(dbMsgs), 'c1 got every message of S1 once', { c1Msgs, dbMsgs });
	await exactlyTheirEvents([
		[c1, { kind: 'customer', id: C1 }],
		[c2, { kind: 'customer', id: C2 }],
		[a1, { kind: 'agent', id: A1, queues: [Qmain] }],
		[a2, { kind: 'agent', id: A2, queues: [Qmain] }],
		[sup, { kind: 'supervisor', id: SUP }],
	], upto);
	for (const c of [c1, c2, a1, a2, sup])
		check(c.closes.length === 0, `${c.name}: stayed connected`, c.closes);
	for (const c of [c1, c2, a1, a2, sup])
		c.close();
}

// ---------------------------------------------------------------------------
async function scenarioLimits() {
	L.setScenario('limits');
	const { T, C3, C5 } = ids;
	const tok5 = await L.issueToken(T, 'customer', C5);
	const c5 = await connected('c5', tok5);

	c5.send('{"type": "message", "session_id": ');
	const bj = await waitFor(() => c5.frames.find((f) => f.type === 'error' && f.code === 'bad_json'), 5000);
	check(bj && bj.ref === null, 'malformed JSON: error bad_json', c5.frames);
	const bf = await c5.request({ type: 'no-such-type' });
	check(bf.type === 'error' && bf.code === 'bad_frame', 'unknown type: error bad_frame', bf);
	const nf = await c5.request({ type: 'message', text: 'no session' });
	check(nf.type === 'error' && nf.code === 'bad_frame' && /session_id/.test(nf.message), 'missing field: bad_frame naming it', nf);
	const na = c5.send('[1, 2, 3]');
	const arr = await waitFor(() => c5.frames.filter((f) => f.type === 'error' && f.code === 'bad_frame' && f.ref === null).length, 5000);
	check(arr, 'a JSON array: bad_frame', c5.frames.slice(-3), na);
	const fb = await c5.request({ type: 'accept', session_id: 1 });
	check(fb.type === 'error' && fb.code === 'forbidden', 'an agent frame from a customer: forbidden', fb);
	const hb = await c5.request({ type: 'heartbeat' }, 500);
	check(hb.type === 'timeout', 'heartbeat gets no reply', hb);
	check(c5.closes.length === 0, 'c5 still connected after bad frames');
	const still = await c5.request({ type: 'history', session_id: 999999 });
	check(still.type === 'error' && still.code === 'forbidden', 'c5 still served', still);

	// 1009: larger than --max-frame (64 KiB)
	const big = await connected('big', tok5);
	big.send(JSON.stringify({ type: 'message', session_id: 1, text: 'x'.repeat(70 * 1024) }));
	const bc = await big.waitClose();
	check(bc && bc.code === 1009, 'a 70 KiB frame closes with 1009', bc);
	// a frame just under the limit is served (refused by the database for its size, not closed)
	const ok = await connected('under', tok5);
	const u = await ok.request({ type: 'history', session_id: 1, pad: 'y'.repeat(60 * 1024) });
	check(u.type === 'error' && u.code === 'forbidden', 'a 60 KiB frame is parsed', u);
	ok.close();
	// 1003: binary
	const bin = await connected('binary', tok5);
	bin.ws.send(Buffer.from('{"type":"heartbeat"}'), { binary: true });
	const bcl = await bin.waitClose();
	check(bcl && bcl.code === 1003, 'a binary frame closes with 1003', bcl);

	// flood: 2000 frames as fast as possible from a customer (200/min, bursts of
	// 200), in two bursts more than a second apart so that the second burst's
	// rate_limited error reports what the first one dropped after its error
	const c3 = await connected('c3', await L.issueToken(T, 'customer', C3));
	const S3 = (await c3.must({ type: 'start', queue_id: ids.Qhold, text: 'flood', client_msg_id: 'c3-0' }, 'c3 start')).session_id;
	const N = 2000;
	const limitedFrames = () => c3.frames.filter((f) => f.type === 'error' && f.code === 'rate_limited');
	const t0 = Date.now();
	for (let i = 0; i < N / 2; i++)
		c3.send({ type: 'history', session_id: S3, ref: `flood-${i}` });
	const first = await waitFor(() => limitedFrames()[0], 10000);
	check(first, 'rate_limited error during the first burst');
	const firstAt = Date.now();
	await waitFor(() => Date.now() > firstAt + 1100, 3000, 50);
	for (let i = N / 2; i < N; i++)
		c3.send({ type: 'history', session_id: S3, ref: `flood-${i}` });
	check(await waitFor(() => limitedFrames().length >= 2, 10000), 'another rate_limited error for the second burst', limitedFrames());
	// wait until the bucket lets one through again: every earlier reply is then queued
	let probe;
	await waitFor(async () => {
		probe = await c3.request({ type: 'history', session_id: S3 }, 2000);
		return probe.type === 'ack';
	}, 20000, 300);
	check(probe && probe.type === 'ack', 'the flooding client is served again once its bucket refills', probe);
	const replies = () => c3.frames.filter((f) => f.ref && f.ref.startsWith('flood-')).length;
	let n = -1;
	await waitFor(() => { const r = replies(); const same = r === n; n = r; return same; }, 10000, 500);
	const secs = (Date.now() - t0) / 1000;
	const acks = c3.frames.filter((f) => f.type === 'ack' && f.ref && f.ref.startsWith('flood-')).length;
	const limited = limitedFrames();
	const dropped = limited.reduce((s, f) => s + Number((/(\d+) frames dropped/.exec(f.message) || [0, 0])[1]), 0);
	info(`flood: ${N} frames in, ${acks} acks, ${limited.length} rate_limited errors reporting ${dropped} drops, in ${secs.toFixed(1)} s`);
	check(limited.every((f) => f.ref === null), 'rate_limited errors carry no ref');
	check(acks >= 190 && acks <= 200 + Math.ceil(secs * 200 / 60) + 2, 'acks: about the burst of 200, far fewer than the frames', acks);
	check(limited.length <= Math.ceil(secs) + 1, 'at most one rate_limited error a second', limited.length);
	check(dropped >= N / 2 - acks && dropped <= N - acks, 'the errors count the frames dropped', { dropped, acks });
	check(c3.closes.length === 0, 'the flooding client stays connected', c3.closes);
	c3.close();

	const fresh = await connected('after-flood', await L.issueToken(T, 'customer', C5));
	const fh = await fresh.request({ type: 'history', session_id: 999999 });
	check(fh.type === 'error' && fh.code === 'forbidden', 'a new client is served after the flood', fh);
	fresh.close();
	const hz = await L.httpGet('/healthz');
	check(hz.status === 200 && hz.body.trim() === 'ok', '/healthz 200 after the flood', hz);
	c5.close();
}

// ---------------------------------------------------------------------------
// Both sides keep sending with client_msg_id (re-sending what was not acked)
// while the bridge is killed and PostgreSQL restarted.
class Outbox {
	constructor(client, sessionId, prefix) {
		this.c = client;
		this.sid = sessionId;
		this.prefix = prefix;
		this.msgs = [];			// {cid, text, id, inflight, notBefore, tries}
		this.window = 4;
		this.errors = [];
		this.unexpected = [];
		this.sent = 0;
	}

	add() {
		const i = this.msgs.length + 1;
		this.msgs.push({ cid: `${this.prefix}-${i}`, text: `${this.prefix} says ${i}`, id: null, inflight: false, notBefore: 0, tries: 0 });
	}

	unacked() { return this.msgs.filter((m) => m.id === null); }

	pump() {
		if (!this.c.open)
			return;
		const now = Date.now();
		let inflight = this.msgs.filter((m) => m.inflight).length;
		for (const m of this.msgs) {
			if (inflight >= this.window)
				break;
			if (m.id !== null || m.inflight || m.notBefore > now)
				continue;
			m.inflight = true;
			m.tries++;
			this.sent++;
			inflight++;
			this.c.request({ type: 'message', session_id: this.sid, text: m.text, client_msg_id: m.cid }, 5000).then((r) => {
				m.inflight = false;
				if (r.type === 'ack') {
					if (m.id !== null && m.id !== r.result.message_id)
						this.unexpected.push(`${m.cid}: acked as ${m.id} and as ${r.result.message_id}`);
					m.id = r.result.message_id;
					this.window = 4;
					return;
				}
				// closed, timeout (dropped), unavailable, rate_limited, a concurrent retry: again later
				this.errors.push(r.code || r.type);
				if (r.type === 'error' && r.code === 'db_error' && r.sqlstate !== '23505')
					this.unexpected.push(`${m.cid}: ${JSON.stringify(r)}`);
				this.window = 1;
				m.notBefore = Date.now() + 400;
			});
		}
	}
}

async function scenarioResilience(bridge) {
	L.setScenario('resilience');
	const { T, C4, A3, Qres } = ids;
	const c4 = await connected('c4', await L.issueToken(T, 'customer', C4), { auto: true });
	const a3 = await connected('a3', await L.issueToken(T, 'agent', A3), { auto: true });
	await a3.must({ type: 'status', status: 'online' }, 'a3 online');
	const S4 = (await c4.must({ type: 'start', queue_id: Qres, text: 'resilience', client_msg_id: 'c4-0' }, 'c4 start')).session_id;
	const offer = await a3.waitEvent((e) => e.type === 'session.state' && e.audience === 'agent' && e.session_id === S4 && e.payload.to === 'offered', 20000);
	check(offer, 'a3 gets the offer');
	await a3.must({ type: 'accept', session_id: S4 }, 'a3 accept');
	check(await c4.waitEvent((e) => e.session_id === S4 && e.payload.to === 'active'), 'c4 sees the session active');

	const boxes = [new Outbox(c4, S4, 'c4'), new Outbox(a3, S4, 'a3')];
	let adding = true;
	let killArmed = null;
	const adder = setInterval(() => { if (adding) boxes.forEach((b) => b.add()); }, 120);
	// the kill comes right after both sides sent a frame, so that sends are in flight
	const pumper = setInterval(() => {
		boxes.forEach((b) => b.pump());
		if (killArmed && boxes.every((b) => b.msgs.some((m) => m.inflight))) {
			killArmed(boxes.map((b) => b.unacked().length));
			killArmed = null;
		}
	}, 10);
	const phase = async (ms) => {
		const n0 = boxes.map((b) => b.msgs.filter((m) => m.id !== null).length);
		await waitFor(() => boxes.every((b, i) => b.msgs.filter((m) => m.id !== null).length >= n0[i] + 20), ms, 50);
	};
	try {
		await phase(15000);
		const exited = bridge.exited;
		const unackedAtKill = await new Promise((resolve) => {
			killArmed = (u) => { bridge.proc.kill('SIGKILL'); resolve(u); };
		});
		await exited;
		bridge.proc = null;
		info(`killed the bridge (-9) with ${unackedAtKill} sends unacked`);
		// committed while no bridge runs: only a resume by position finds these
		const downMsgs = [];
		for (let i = 1; i <= 3; i++)
			downMsgs.push(Number(await sql1(`SELECT helpdesk.post_message($1, $2, 'system', NULL, $3, 'system') AS m`,
				[T, S4, `posted while the bridge is down (${i})`])));
		await published();
		await bridge.start();
		check(await waitFor(() => c4.open && a3.open, 15000), 'both sides reconnected after the kill');
		check(c4.closes.some((c) => c.code === 1006) && a3.closes.some((c) => c.code === 1006), 'clients saw the bridge die (1006)');
		check(c4.hellos.length >= 2 && a3.hellos.length >= 2, 'both got a new hello', [c4.hellos, a3.hellos]);
		c4.positionsOk('(hello at the position asked for)');
		a3.positionsOk('(hello at the position asked for)');
		for (const c of [c4, a3])
			check(await waitFor(() => downMsgs.every((id) => msgIds(c, S4).includes(id)), 10000),
				`${c.name}: got the messages committed while the bridge was down`, downMsgs);
		await phase(20000);

		const m0 = await L.metrics();
		info('restarting PostgreSQL');
		let saw503 = false;
		const hzPoll = setInterval(async () => { if ((await L.httpGet('/healthz', 500)).status === 503) saw503 = true; }, 50);
		await L.restartPostgres();
		const back = await waitFor(async () => (await L.httpGet('/healthz')).status === 200, 20000, 100);
		clearInterval(hzPoll);
		check(back, '/healthz 200 again after the PostgreSQL restart');
		info(`/healthz said 503 while PostgreSQL was down: ${saw503}`);
		const m1 = await waitFor(async () => {
			const m = await L.metrics();
			return m && m.helpdesk_bridge_db_reconnects_total > m0.helpdesk_bridge_db_reconnects_total ? m : null;
		}, 10000);
		check(m1, 'helpdesk_bridge_db_reconnects_total went up after the restart',
			`${m0.helpdesk_bridge_db_reconnects_total} -> ${m1 && m1.helpdesk_bridge_db_reconnects_total}`);
		check(m1 && m1.helpdesk_bridge_db_up === 1, 'helpdesk_bridge_db_up 1 again', m1 && m1.helpdesk_bridge_db_up);
		await phase(20000);
	} finally {
		adding = false;
		clearInterval(adder);
	}
	const done = await waitFor(() => boxes.every((b) => b.unacked().length === 0), 30000, 50);
	clearInterval(pumper);
	check(done, 'every send acked in the end', boxes.map((b) => b.unacked().map((m) => m.cid).slice(0, 5)));
	for (const b of boxes) {
		info(`${b.prefix}: ${b.msgs.length} messages, ${b.sent} frames sent, errors: ${JSON.stringify(countBy(b.errors))}`);
		check(b.unexpected.length === 0, `${b.prefix}: no unexpected replies`, b.unexpected.slice(0, 5));
	}

	await published();
	const db = (await sql(`SELECT id, client_msg_id FROM helpdesk.message WHERE session_id = $1 ORDER BY id`, [S4]));
	const dbIds = db.map((r) => Number(r.id));
	const dbCids = db.map((r) => r.client_msg_id).filter((x) => x !== null);	// not the system messages
	const sentCids = ['c4-0', ...boxes.flatMap((b) => b.msgs.map((m) => m.cid))];
	check(new Set(dbCids).size === dbCids.length, 'no message stored twice', dbCids.length);
	check(JSON.stringify([...dbCids].sort()) === JSON.stringify([...sentCids].sort()), 'every send stored exactly once',
		{ missing: sentCids.filter((x) => !dbCids.includes(x)), extra: dbCids.filter((x) => !sentCids.includes(x)) });
	for (const b of boxes)
		check(b.msgs.every((m) => db.find((r) => r.client_msg_id === m.cid && Number(r.id) === m.id)),
			`${b.prefix}: the acked ids are the stored ones`);

	const firstId = dbIds[0];
	for (const c of [c4, a3]) {
		const want = c === a3 ? dbIds.slice(1) : dbIds;	// the first message came before a3's offer
		const all = await waitFor(() => {
			const got = new Set(msgIds(c, S4));
			return want.every((id) => got.has(id));
		}, 20000, 50);
		const got = msgIds(c, S4);
		check(all, `${c.name}: received every message of the session`, want.filter((id) => !got.includes(id)).slice(0, 10));
		check(got.length === new Set(got).size, `${c.name}: no message twice`, got.length - new Set(got).size);
		check(JSON.stringify([...got].sort((x, y) => x - y)) === JSON.stringify(want), `${c.name}: messages received = the session's messages`,
			{ got: got.length, want: want.length, extra: got.filter((id) => !want.includes(id)) });
		c.positionsOk('across reconnects');
		info(`${c.name}: ${c.hellos.length} connections, ${c.events.length} events, ${got.length} messages`);
	}
	const c4m = msgIds(c4, S4).filter((id) => id !== firstId);
	const a3m = msgIds(a3, S4);
	check(JSON.stringify(c4m) === JSON.stringify(a3m), 'both sides received the same messages in the same order',
		{ c4: c4m.length, a3: a3m.length });
	return { c4, a3 };
}

function countBy(xs) {
	const o = {};
	for (const x of xs)
		o[x] = (o[x] || 0) + 1;
	return o;
}

// ---------------------------------------------------------------------------
// position=0: everything from the start of the log, read from the database in
// chunks (more than one), handed over to the ring while new events keep coming
async function scenarioCatchup() {
	L.setScenario('catch-up');
	const { T, C2, S2, SUP } = ids;
	await sql(`SELECT helpdesk.post_message($1, $2, 'bot', NULL, 'bulk ' || g) FROM generate_series(1, 1200) g`, [T, S2]);
	await published();
	let live = true;
	let posted = 0;
	const traffic = (async () => {
		while (live) {
			await sql(`SELECT helpdesk.post_message($1, $2, 'bot', NULL, 'live ' || $3)`, [T, S2, posted + 1]);
			posted++;
			await L.sleep(10);
		}
	})();
	const sup = await connected('sup-from-0', await L.issueToken(T, 'supervisor', SUP), {}, 0);
	const c2 = await connected('c2-from-0', await L.issueToken(T, 'customer', C2), {}, 0);
	check(sup.hellos[0].position === 0 && c2.hellos[0].position === 0, 'hello starts at position 0', [sup.hellos[0], c2.hellos[0]]);
	await waitFor(() => posted >= 100, 20000, 50);
	live = false;
	await traffic;
	const last = Number(await sql1(`SELECT helpdesk.post_message($1, $2, 'bot', NULL, 'the end') AS m`, [T, S2]));
	await published();
	const upto = Number(await sql1('SELECT helpdesk.event_position() AS p'));
	const done = await Promise.all([sup, c2].map((c) => c.waitEvent((e) => e.message && e.message.id === last, 30000)));
	check(done.every(Boolean), 'both read up to the last message', done.map(Boolean));
	info(`${upto} events in the log, ${posted} posted while catching up`);
	await exactlyTheirEvents([
		[sup, { kind: 'supervisor', id: SUP }],
		[c2, { kind: 'customer', id: C2 }],
	], upto);
	const db = (await sql(`SELECT id FROM helpdesk.message WHERE session_id = $1 AND sender_kind <> 'note' ORDER BY id`, [S2])).map((r) => Number(r.id));
	check(JSON.stringify(msgIds(c2, S2).sort((a, b) => a - b)) === JSON.stringify(db), 'c2 got every message of its session once',
		{ got: msgIds(c2, S2).length, want: db.length });
	sup.close();
	c2.close();
}

// prune the log, then a position older than what is left: 4010
async function scenarioPruned() {
	L.setScenario('pruned position');
	const { T, C2 } = ids;
	await sql(`SELECT helpdesk.post_message($1, $2, 'bot', NULL, 'before pruning')`, [T, ids.S2]);
	await published();
	const pruned = Number(await sql1(`SELECT helpdesk.prune_events('0 s') AS n`));
	const oldest = Number(await sql1('SELECT min(first_pos) AS p FROM helpdesk.event_batch'));
	info(`pruned ${pruned} events; oldest left ${oldest}`);
	const tok = await L.issueToken(T, 'customer', C2);
	const c = new Client('c2-pruned', tok);
	const r = await Promise.race([c.connect(1), L.sleep(10000 * L.SLOW).then(() => ({ type: 'timeout' }))]);
	check(pruned > 0 && r.type === 'closed' && r.code === 4010, 'a pruned position closes with 4010', r);
	check(c.frames.length === 0, 'no data before the 4010 close', c.frames);
	const ok = await connected('c2-after-prune', tok, {}, oldest - 1);
	check(ok.hellos[0].position === oldest - 1, 'the oldest retained position is still accepted', ok.hellos[0]);
	ok.close();
}

// ---------------------------------------------------------------------------
async function scenarioMetrics(label) {
	L.setScenario(`metrics (${label})`);
	const hz = await L.httpGet('/healthz');
	check(hz.status === 200 && hz.body === 'ok\n', '/healthz 200 ok', hz);
	const nf = await L.httpGet('/nope');
	check(nf.status === 404, 'another path: 404', nf.status);
	const r = await L.httpGet('/metrics');
	check(r.status === 200, '/metrics 200', r.status);
	const m = L.parseMetrics(r.body);
	for (const name of ['helpdesk_bridge_connections{kind="customer"}', 'helpdesk_bridge_connections{kind="agent"}',
		'helpdesk_bridge_connections{kind="supervisor"}', 'helpdesk_bridge_connections_total',
		'helpdesk_bridge_frames_in_total', 'helpdesk_bridge_frames_out_total',
		'helpdesk_bridge_events_relayed_total', 'helpdesk_bridge_db_reconnects_total',
		'helpdesk_bridge_commit_to_send_seconds_bucket{le="+Inf"}', 'helpdesk_bridge_commit_to_send_seconds_sum',
		'helpdesk_bridge_commit_to_send_seconds_count', 'helpdesk_bridge_db_up'])
		check(Number.isFinite(m[name]), `/metrics has ${name}`);
	check(/# TYPE helpdesk_bridge_commit_to_send_seconds histogram/.test(r.body), 'commit_to_send_seconds is a histogram');
	const buckets = Object.keys(m).filter((k) => k.startsWith('helpdesk_bridge_commit_to_send_seconds_bucket'));
	const vals = buckets.map((k) => m[k]);
	check(vals.every((v, i) => i === 0 || v >= vals[i - 1]), 'histogram buckets are cumulative', vals);
	check(m['helpdesk_bridge_commit_to_send_seconds_bucket{le="+Inf"}'] === m.helpdesk_bridge_commit_to_send_seconds_count,
		'+Inf bucket = count');
	return m;
}

// ---------------------------------------------------------------------------
// Keepalive (bridge/keepalive.c) on a bridge of its own with --ping-secs 1:
// a socket that answers PINGs stays, one that does not is dropped after about
// 2 s of silence and counted; a socket that keeps sending frames is never
// pinged.
async function scenarioKeepalive() {
	L.setScenario('keepalive');
	const WebSocket = require('ws');
	const port = L.PORT + 2;
	const b = new L.Bridge(['--ping-secs', '1', '--max-lag', '1000'], port);
	await b.start();
	try {
		const tok = await L.issueToken(ids.T, 'customer', ids.C5);
		const open = (autoPong, token = tok) => new Promise((resolve, reject) => {
			const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?token=${encodeURIComponent(token)}`, { autoPong });
			const st = { ws, pings: 0, closed: null, opened: Date.now() };
			ws.on('ping', () => { st.pings++; });
			ws.on('close', (code) => { st.closed = { code, after: Date.now() - st.opened }; });
			ws.on('error', () => {});
			ws.once('message', () => resolve(st)); // hello
			setTimeout(() => reject(new Error('no hello')), 10000 * L.SLOW);
		});
		const answering = await open(true);
		const silent = await open(false);
		const talking = await open(true);
		const talk = setInterval(() => talking.ws.send('{"type":"heartbeat"}'), 250);
		const dropped = await waitFor(() => silent.closed, 8000 * L.SLOW, 100);
		check(dropped && silent.pings >= 1, 'a socket that does not answer PINGs is pinged and then dropped', silent);
		check(dropped && silent.closed.after >= 1900 && silent.closed.after < 6000 * L.SLOW,
			'... after twice --ping-secs without a PONG', silent.closed);
		await L.sleep(3000);
		clearInterval(talk);
		check(answering.closed === null && answering.pings >= 2, 'a socket that answers PINGs stays connected', answering);
		check(talking.closed === null && talking.pings === 0, 'a socket that sends frames is not pinged', talking);
		const m = await L.metrics(port);
		check(m && m.helpdesk_bridge_keepalive_drops_total === 1, 'keepalive_drops_total counts the drop', m && m.helpdesk_bridge_keepalive_drops_total);
		answering.ws.close();
		talking.ws.close();
		await stuckPeers(port, open, m);
	} finally {
		await b.term(10000);
	}
}

// Two supervisors stop reading (their TCP sockets paused) while ~9 MB of
// events stream to them, so the bridge's send buffers fill and neither can
// be written to again. The silent one cannot even be sent its PING: it is
// dropped once the PING has waited --ping-secs. The one that keeps sending
// frames is never pinged; it is closed (4008) when it falls --max-lag
// events behind, and since the close frame cannot go out either, the socket
// is ended after --ping-secs. Before, both stayed connected for good.
async function stuckPeers(port, open, m0) {
	const supTok = await L.issueToken(ids.T, 'supervisor', ids.SUP);
	const silent = await open(true, supTok);
	const talking = await open(true, supTok);
	const talk = setInterval(() => talking.ws.send('{"type":"heartbeat"}'), 200);
	const keepSilentAlive = setInterval(() => silent.ws.send('{"type":"heartbeat"}'), 200);
	silent.ws._socket.pause();
	talking.ws._socket.pause();
	const cust = Number(await sql1(`SELECT helpdesk.upsert_customer($1, 'stuck-peers') AS c`, [ids.T]));
	const sess = Number(await sql1(`SELECT session_id FROM helpdesk.start_session($1, $2)`, [ids.T, cust]));
	const post = (n, bytes) => sql1(`SELECT count(helpdesk.post_message($1, $2, 'customer', $3, repeat('x', $4))) AS n
		FROM generate_series(1, $5)`, [ids.T, sess, cust, bytes, n]);
	await post(600, 15000);
	await L.sleep(1500);
	// both are stuck now; from here on the silent one sends nothing
	clearInterval(keepSilentAlive);
	const supervisors = async () => (await L.metrics(port))['helpdesk_bridge_connections{kind="supervisor"}'];
	const oneLeft = await waitFor(async () => (await supervisors()) === 1, 8000, 200);
	const m1 = await L.metrics(port);
	check(oneLeft && m1.helpdesk_bridge_keepalive_drops_total === m0.helpdesk_bridge_keepalive_drops_total + 1,
		'a peer that reads nothing and sends nothing is dropped though its PING cannot be written',
		{ supervisors: await supervisors(), drops: m1.helpdesk_bridge_keepalive_drops_total });
	await L.sleep(1500);
	check((await supervisors()) === 1, 'a peer that reads nothing but keeps sending stays while within --max-lag');
	await post(1500, 10);
	const noneLeft = await waitFor(async () => (await supervisors()) === 0, 8000, 200);
	const m2 = await L.metrics(port);
	check(noneLeft && m2.helpdesk_bridge_slow_disconnects_total === m1.helpdesk_bridge_slow_disconnects_total + 1,
		'... and is closed (4008, then ended) once --max-lag events behind, though nothing can be written to it',
		{ supervisors: await supervisors(), slow: m2.helpdesk_bridge_slow_disconnects_total });
	clearInterval(talk);
	silent.ws.terminate();
	talking.ws.terminate();
}

// ---------------------------------------------------------------------------
// lws's own poll() loop (--event-loop poll, the benchmark's baseline) still
// relays events and shuts down with 1001.
async function scenarioPollLoop() {
	L.setScenario('poll loop');
	const port = L.PORT + 3;
	const b = new L.Bridge(['--event-loop', 'poll'], port);
	await b.start();
	const sup = await connected('sup-poll', await L.issueToken(ids.T, 'supervisor', ids.SUP), { port });
	sup.auto = false;
	const agent = Number(await sql1(`SELECT helpdesk.upsert_agent($1, 'poll-loop', 'Poll Loop') AS a`, [ids.T]));
	const e = await sup.waitEvent((x) => x.type === 'agent.updated' && Number(x.audience_id) === agent, 10000);
	check(e, 'an event is relayed on the poll() loop', sup.events.slice(-3));
	const r = await b.term(10000);
	check(r.code === 0, 'the poll() loop bridge exits 0 on SIGTERM', r);
	const cl = await sup.waitClose(5000);
	check(cl && cl.code === 1001, 'its client gets 1001', cl);
}

// ---------------------------------------------------------------------------
async function main() {
	if (!L.SECRET)
		throw new Error('HELPDESK_TOKEN_SECRET is not set');
	await setup();
	const bridge = new L.Bridge();
	await bridge.start();
	let exitOk = false;
	try {
		const m0 = await scenarioMetrics('fresh');
		check(m0['helpdesk_bridge_connections{kind="customer"}'] === 0, 'no connections yet');
		await scenarioAuth();
		await scenarioConversation();
		await scenarioLimits();
		await scenarioKeepalive();
		await scenarioPollLoop();

		const m1 = await scenarioMetrics('after the conversation');
		check(m1.helpdesk_bridge_events_relayed_total > m0.helpdesk_bridge_events_relayed_total, 'events relayed counted');
		check(m1.helpdesk_bridge_frames_in_total >= 2000, 'frames in counted (the flood included)', m1.helpdesk_bridge_frames_in_total);
		check(m1.helpdesk_bridge_frames_out_total > 0, 'frames out counted');
		check(m1.helpdesk_bridge_commit_to_send_seconds_count > 0, 'commit-to-send latency observed');
		check(await waitFor(async () => {
			const m = await L.metrics();
			return m['helpdesk_bridge_connections{kind="customer"}'] === 0 && m['helpdesk_bridge_connections{kind="agent"}'] === 0;
		}, 5000), 'connection gauges back to 0 once the clients left');

		const { c4, a3 } = await scenarioResilience(bridge);
		await scenarioCatchup();
		await scenarioPruned();

		const m2 = await scenarioMetrics('after the restarts');
		check(m2['helpdesk_bridge_connections{kind="customer"}'] === 1 && m2['helpdesk_bridge_connections{kind="agent"}'] === 1,
			'connection gauges: one customer, one agent', [m2['helpdesk_bridge_connections{kind="customer"}'], m2['helpdesk_bridge_connections{kind="agent"}']]);
		check(m2.helpdesk_bridge_db_reconnects_total >= 1, 'db reconnects counted', m2.helpdesk_bridge_db_reconnects_total);

		// SIGTERM with clients connected
		L.setScenario('sigterm');
		const sup = await connected('sup2', await L.issueToken(ids.T, 'supervisor', ids.SUP));
		c4.auto = false;
		a3.auto = false;
		const clients = [c4, a3, sup];
		const conns = clients.map((c) => c.conn);
		const r = await bridge.term(10000);
		info(`bridge exit: ${JSON.stringify(r)}`);
		exitOk = r.code === 0;
		check(r.code === 0 && r.signal === null, 'the bridge exits 0 on SIGTERM', r);
		check(r.ms < 5000 * L.SLOW, 'within a few seconds', r.ms);
		for (const [i, c] of clients.entries()) {
			const cl = await waitFor(() => c.closes.find((x) => x.conn === conns[i]), 5000);
			check(cl && cl.code === 1001, `${c.name}: close 1001`, cl);
		}
	} finally {
		if (bridge.proc)
			await bridge.term(10000);
	}
	return exitOk;
}

L.runMain(main);
