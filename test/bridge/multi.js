'use strict';
// helpdesk-bridge: two bridges on one database, and a slow consumer. Run by
// test/e2e/bridge_multi.sh (same environment as e2e.js; bridge B listens on
// BRIDGE_PORT + 1).
//
//   two bridges   a customer on bridge A and an agent on bridge B hold a
//                 conversation; supervisors on A and B see the same events;
//                 A is killed and the customer resumes on B with its position
//   slow consumer a supervisor that stops reading while 3,000 8 KB messages
//                 are posted is closed with 4008 once it reads again (the
//                 bridge keeps a bounded ring, not its unsent frames), while
//                 a supervisor that reads gets everything without a close;
//                 the slow one resumes with its position and misses nothing

const fs = require('fs');
const L = require('./lib');
const { check, info, sql, sql1, waitFor, connected } = L;

const PORT_B = L.PORT + 1;
const ids = {};

async function setup() {
	const T = Number(await sql1(`SELECT helpdesk.upsert_tenant('bridge-multi', 'Bridge multi') AS id`));
	Object.assign(ids, {
		T,
		Q: Number(await sql1(`SELECT helpdesk.upsert_queue($1, 'main', 'Main', required_skills => '{general}', is_default => true) AS id`, [T])),
		A1: Number(await sql1(`SELECT helpdesk.upsert_agent($1, 'a1', 'A1', '{"general": 5}'::jsonb, '{en}', 5) AS id`, [T])),
		SUP: Number(await sql1(`SELECT helpdesk.upsert_agent($1, 'sup', 'Sup', '{}'::jsonb, '{en}', 1) AS id`, [T])),
		C1: Number(await sql1(`SELECT helpdesk.upsert_customer($1, 'c1') AS id`, [T])),
		C2: Number(await sql1(`SELECT helpdesk.upsert_customer($1, 'c2') AS id`, [T])),
	});
}

async function published() {
	return waitFor(async () => Number(await sql1('SELECT helpdesk.publisher_lag() AS l')) === 0, 20000, 50);
}

const messagesOf = (c, s) => c.events.filter((e) => e.type === 'message.created' && e.session_id === s).map((e) => e.message.id);

async function storedMessages(s) {
	return (await sql(`SELECT id FROM helpdesk.message WHERE tenant_id = $1 AND session_id = $2 AND sender_kind <> 'note' ORDER BY id`,
		[ids.T, s])).map((r) => Number(r.id));
}

async function scenarioTwoBridges(bridgeA) {
	L.setScenario('two bridges');
	const { T, Q, A1, SUP, C1 } = ids;
	const supA = await connected('supA', await L.issueToken(T, 'supervisor', SUP));
	const supB = await connected('supB', await L.issueToken(T, 'supervisor', SUP), { port: PORT_B });
	const c1 = await connected('c1', await L.issueToken(T, 'customer', C1), { auto: true });
	const a1 = await connected('a1', await L.issueToken(T, 'agent', A1), { port: PORT_B });
	const start = Math.max(supA.lastPos, supB.lastPos);

	await a1.must({ type: 'status', status: 'online' }, 'a1 online (bridge B)');
	const s = await c1.must({ type: 'start', queue_id: Q, text: 'hello from bridge A', client_msg_id: 'c1-0' }, 'c1 start (bridge A)');
	const S1 = s.session_id;
	const offer = await a1.waitEvent((e) => e.type === 'session.state' && e.session_id === S1 && e.payload.to === 'offered', 20000);
	if (!check(offer, 'a1 on bridge B gets the offer'))
		throw new Error('no offer: is the dispatcher running?');
	await a1.must({ type: 'accept', session_id: S1 }, 'a1 accept (bridge B)');
	check(await c1.waitEvent((e) => e.type === 'session.state' && e.session_id === S1 && e.payload.to === 'active'),
		'c1 on bridge A sees the session become active');
	const fromAgent = (await a1.must({ type: 'message', session_id: S1, text: 'hi, agent here', client_msg_id: 'a1-1' }, 'a1 message')).message_id;
	check(await c1.waitEvent((e) => e.type === 'message.created' && e.message.id === fromAgent),
		'c1 on bridge A gets the message posted on bridge B');
	const fromCustomer = [];
	for (let i = 1; i <= 3; i++)
		fromCustomer.push((await c1.must({ type: 'message', session_id: S1, text: `question ${i}`, client_msg_id: `c1-${i}` }, `c1 message ${i}`)).message_id);
	check(await waitFor(() => fromCustomer.every((m) => messagesOf(a1, S1).includes(m)), 10000),
		'a1 on bridge B gets the messages posted on bridge A', messagesOf(a1, S1));

	// both supervisors see exactly the same tenant events, in the same order
	await published();
	const upto = Number(await sql1('SELECT helpdesk.event_position() AS p'));
	const want = (await sql(`SELECT pos FROM helpdesk.event_positions p JOIN helpdesk.event e ON e.id = p.event_id
	                         WHERE e.tenant_id = $1 AND p.pos > $2 AND p.pos <= $3 ORDER BY pos`, [T, start, upto])).map((r) => Number(r.pos));
	const seen = (c) => c.events.filter((e) => e.pos > start && e.pos <= upto).map((e) => e.pos);
	check(await waitFor(() => seen(supA).length >= want.length && seen(supB).length >= want.length, 10000),
		'both supervisors catch up', [seen(supA).length, seen(supB).length, want.length]);
	check(JSON.stringify(seen(supA)) === JSON.stringify(want), 'supervisor on A: every tenant event once, in order',
		{ got: seen(supA).length, want: want.length });
	check(JSON.stringify(seen(supB)) === JSON.stringify(want), 'supervisor on B: the same events',
		{ got: seen(supB).length, want: want.length });

	// bridge A dies; the customer resumes on bridge B with its position
	c1.port = PORT_B;
	await bridgeA.kill9();
	const missed = [];
	for (let i = 1; i <= 2; i++)
		missed.push((await a1.must({ type: 'message', session_id: S1, text: `while A is down ${i}`, client_msg_id: `a1-d${i}` }, `a1 message ${i} while A is down`)).message_id);
	check(await waitFor(() => c1.hellos.length >= 2 && c1.open, 15000), 'c1 reconnected to bridge B');
	check(await waitFor(() => missed.every((m) => messagesOf(c1, S1).includes(m)), 15000),
		'c1 gets on bridge B what was posted while bridge A was down', messagesOf(c1, S1));
	const after = (await c1.must({ type: 'message', session_id: S1, text: 'back, through B', client_msg_id: 'c1-b' }, 'c1 message through B')).message_id;
	check(await waitFor(() => messagesOf(a1, S1).includes(after), 10000), 'a1 gets it');
	const stored = await storedMessages(S1);
	check(await waitFor(() => JSON.stringify(messagesOf(c1, S1)) === JSON.stringify(stored), 10000),
		'c1\'s message list equals the stored one, each once', { got: messagesOf(c1, S1), want: stored });
	const a1Msgs = messagesOf(a1, S1);
	check(stored.filter((m) => m !== s.message_id).every((m) => a1Msgs.includes(m)) && new Set(a1Msgs).size === a1Msgs.length,
		'a1 has every message since the offer, each once', { got: a1Msgs, want: stored });
	for (const c of [supA, supB, c1, a1])
		c.positionsOk();
	for (const c of [supA, supB, c1, a1])
		c.stop();
	await bridgeA.start();
}

function bridgeRss(bridge) {
	try {
		const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${bridge.proc.pid}/status`, 'utf8'));
		return m ? Number(m[1]) * 1024 : null;
	} catch (e) {
		return null;
	}
}

async function scenarioSlowConsumer(bridge) {
	L.setScenario('slow consumer');
	const { T, SUP, C2 } = ids;
	const N = 3000;
	const S2 = Number(await sql1('SELECT session_id FROM helpdesk.start_session($1, $2) AS s', [T, C2]));
	const fast = await connected('fast', await L.issueToken(T, 'supervisor', SUP));
	const slow = await connected('slow', await L.issueToken(T, 'supervisor', SUP), { auto: true });
	const m0 = await L.metrics();
	slow.ws.pause();

	// in transactions of 50, each time until the reading supervisor has them:
	// it never falls behind, the paused one cannot read at all
	info(`posting ${N} messages of 8 KB`);
	for (let i = 0; i < N; i += 50) {
		await sql(`SELECT count(helpdesk.post_message($1, $2, 'customer', $3, repeat('x', 8000) || g, client_msg_id => 'slow-' || g))
		           FROM generate_series($4::int, $5::int) g`, [T, S2, C2, i + 1, i + 50]);
		if (!await waitFor(() => messagesOf(fast, S2).length >= i + 50, 10000))
			break;
	}
	check(await published(), 'all published');
	check(await waitFor(() => messagesOf(fast, S2).length >= N, 60000), 'the reading supervisor gets every message',
		messagesOf(fast, S2).length);
	check(fast.closes.length === 0, 'and is never closed', fast.closes);
	check(slow.closes.length === 0, 'the paused supervisor is not closed while it cannot be written to', slow.closes);

	slow.ws.resume();
	const cl = await waitFor(() => slow.closes[0], 30000);
	check(cl && cl.code === 4008, 'once it reads again it is closed with 4008', cl);
	check(cl && cl.framesBefore > 0, 'after the frames it had been sent', cl);
	const m1 = await L.metrics();
	check(m1 && m0 && m1.helpdesk_bridge_slow_disconnects_total === m0.helpdesk_bridge_slow_disconnects_total + 1,
		'slow_disconnects_total counts it', m1 && m1.helpdesk_bridge_slow_disconnects_total);
	const stored = await storedMessages(S2);
	check(await waitFor(() => messagesOf(slow, S2).length >= stored.length, 60000),
		'resumed with its position, it gets the rest', [messagesOf(slow, S2).length, stored.length]);
	check(JSON.stringify(messagesOf(slow, S2)) === JSON.stringify(stored), 'every message exactly once, in order',
		{ got: messagesOf(slow, S2).length, want: stored.length });
	slow.positionsOk('across the 4008');
	fast.positionsOk();
	const rss = bridgeRss(bridge);
	if (rss)
		info(`bridge A VmRSS after the slow consumer: ${(rss / 1048576).toFixed(1)} MB (${N} x 8 KB = ${(N * 8 / 1024).toFixed(0)} MB posted)`);
	slow.stop();
	fast.stop();
}

async function main() {
	if (!L.SECRET)
		throw new Error('HELPDESK_TOKEN_SECRET is not set');
	await setup();
	const a = new L.Bridge(['--ring-size', '1024', '--max-lag', '256']);
	const b = new L.Bridge([], PORT_B);
	await a.start();
	await b.start();
	try {
		await scenarioTwoBridges(a);
		await scenarioSlowConsumer(a);
	} finally {
		for (const x of [a, b])
			if (x.proc)
				await x.term(10000);
	}
}

L.runMain(main);
