'use strict';
// helpdesk-bridge's database connections (bridge/dbconn.c) against a TCP
// proxy in this script that either forwards to PostgreSQL, holds
// connections without ever answering (a database that accepts TCP and then
// says nothing), or freezes the connections it forwards. Run by
// test/e2e/bridge_dbconn.sh (same variables as bridge_e2e.sh; DBCONN_PORT is
// the first of the four ports used).
//
// Scenarios:
//   blackhole at start  /healthz and /metrics answer within a second (503,
//                       db_up 0), handshakes close with 1013; once the proxy
//                       forwards, the bridge goes healthy and serves
//   blackhole on reconnect  the same when the connections drop and the
//                       database stops answering (--db-connect-timeout)
//   frozen connection   a query without an answer: --db-query-timeout drops
//                       the connection, the client gets an answer, the
//                       bridge reconnects

const fs = require('fs');
const net = require('net');
const { spawn } = require('child_process');
const WebSocket = require('ws');
const L = require('./lib');
const { check, info, sql1, sleep, waitFor } = L;

const BASE = Number(L.env.DBCONN_PORT || (Number(L.env.HD_TEST_PORT || 55432) + 40));
const BRIDGE1 = BASE, BRIDGE2 = BASE + 1, PROXY = BASE + 2;

// ---- the proxy ---------------------------------------------------------------

class Proxy {
	constructor(port) {
		this.port = port;
		this.mode = 'blackhole';
		this.held = new Set();			// blackholed client sockets
		this.pairs = new Set();			// [client, server] being forwarded
		this.accepted = 0;
		this.server = net.createServer((s) => this.onConn(s));
	}

	listen() {
		return new Promise((resolve) => this.server.listen(this.port, '127.0.0.1', resolve));
	}

	onConn(s) {
		this.accepted++;
		s.on('error', () => {});
		if (this.mode === 'blackhole') {
			// read and drop what comes, never answer
			this.held.add(s);
			s.on('data', () => {});
			s.on('close', () => this.held.delete(s));
			return;
		}
		const up = net.connect(Number(L.env.PGPORT), '127.0.0.1');
		const pair = [s, up];
		up.on('error', () => s.destroy());
		s.on('close', () => { up.destroy(); this.pairs.delete(pair); });
		up.on('close', () => { s.destroy(); this.pairs.delete(pair); });
		s.pipe(up);
		up.pipe(s);
		this.pairs.add(pair);
	}

	forward() { this.mode = 'forward'; }

	// new connections are held unanswered; with drop, open ones are cut
	blackhole(drop) {
		this.mode = 'blackhole';
		if (drop)
			for (const [s, up] of this.pairs) { s.destroy(); up.destroy(); }
	}

	// what is being forwarded stays open but nothing more passes
	freeze() {
		for (const [s, up] of this.pairs) {
			s.unpipe(up); up.unpipe(s);
			s.pause(); up.pause();
		}
	}

	close() {
		for (const s of this.held) s.destroy();
		for (const [s, up] of this.pairs) { s.destroy(); up.destroy(); }
		this.server.close();
	}
}

// ---- a bridge on the proxy ---------------------------------------------------

function startBridge(port, args) {
	const out = fs.openSync(L.LOG, 'a');
	const all = ['--port', String(port),
		'--db', `host=127.0.0.1 port=${PROXY} dbname=${L.DB} user=${L.env.PGUSER || 'postgres'}`, ...args];
	fs.writeSync(out, `==== dbconn: starting ${L.env.BRIDGE_BIN} ${all.join(' ')}\n`);
	const proc = spawn(L.env.BRIDGE_BIN, all, { stdio: ['ignore', out, out], env: L.env });
	fs.closeSync(out);
	proc.exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
	return proc;
}

async function stopBridge(proc) {
	proc.kill('SIGTERM');
	const r = await Promise.race([proc.exited, sleep(10000 * L.SLOW).then(() => null)]);
	if (r === null) {
		proc.kill('SIGKILL');
		await proc.exited;
	}
	return r;
}

// GET with its duration
async function timedGet(port, path) {
	const t0 = Date.now();
	const r = await L.httpGet(path, 3000, port);
	return { ...r, ms: Date.now() - t0 };
}

// /healthz polled for ms: every answer within a second, all 503
async function unhealthyAndAnswering(port, ms, what) {
	const deadline = Date.now() + ms;
	const slow = [], statuses = new Set();
	let n = 0;
	while (Date.now() < deadline) {
		const r = await timedGet(port, '/healthz');
		n++;
		statuses.add(r.status);
		if (r.ms > 1000 * L.SLOW)
			slow.push(r.ms);
		await sleep(100);
	}
	check(slow.length === 0, `${what}: every /healthz answered within a second`, { slow, n });
	check(statuses.size === 1 && statuses.has(503), `${what}: /healthz says 503 throughout`, [...statuses]);
}

// a WebSocket handshake's outcome: {code} of the close, or {hello}
function handshake(port, token) {
	return new Promise((resolve) => {
		const t0 = Date.now();
		const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?token=${encodeURIComponent(token)}`);
		const timer = setTimeout(() => { ws.terminate(); resolve({ code: 'timeout', ms: Date.now() - t0 }); }, 5000 * L.SLOW);
		ws.on('message', (m) => {
			const f = JSON.parse(m);
			if (f.type === 'hello') {
				clearTimeout(timer);
				ws.close(1000);
				resolve({ hello: f, ms: Date.now() - t0 });
			}
		});
		ws.on('close', (code) => { clearTimeout(timer); resolve({ code, ms: Date.now() - t0 }); });
		ws.on('error', () => {});
	});
}

async function healthy(port, ms) {
	return waitFor(async () => (await L.httpGet('/healthz', 1000, port)).status === 200, ms, 100);
}

// ---- scenarios ---------------------------------------------------------------

async function main() {
	if (!L.SECRET)
		throw new Error('HELPDESK_TOKEN_SECRET is not set');
	const T = Number(await sql1(`SELECT helpdesk.upsert_tenant('dbconn', 'DB connections') AS id`));
	await sql1(`SELECT helpdesk.upsert_queue($1, 'main', 'Main', is_default => true) AS id`, [T]);
	const C = Number(await sql1(`SELECT helpdesk.upsert_customer($1, 'c1') AS id`, [T]));
	const token = await L.issueToken(T, 'customer', C);
	const proxy = new Proxy(PROXY);
	await proxy.listen();

	// 1. the database never answers from the start; the bridge has only its
	// defaults (so the same script shows the old, blocking bridge frozen)
	L.setScenario('blackhole at start');
	let b = startBridge(BRIDGE1, []);
	try {
		const first = await waitFor(async () => {
			const r = await timedGet(BRIDGE1, '/healthz');
			return r.status ? r : null;
		}, 3000, 100);
		check(first && first.status === 503, '/healthz answers 503 while the database does not answer', first);
		await unhealthyAndAnswering(BRIDGE1, 7000 * L.SLOW, 'blackhole at start');
		check(proxy.accepted >= 2, 'the bridge did try to connect (and again after the connect timeout)', proxy.accepted);
		const m = await L.metrics(BRIDGE1);
		check(m && m.helpdesk_bridge_db_up === 0, '/metrics answers, db_up 0', m && m.helpdesk_bridge_db_up);
		check(m && m.helpdesk_bridge_db_connect_timeouts_total >= 1, 'connect timeouts counted',
			m && m.helpdesk_bridge_db_connect_timeouts_total);
		const h = await handshake(BRIDGE1, token);
		check(h.code === 1013, 'a handshake meanwhile closes with 1013 (try again later)', h);

		proxy.forward();
		const t0 = Date.now();
		check(await healthy(BRIDGE1, 15000), 'healthy once the database answers');
		info(`healthy ${Date.now() - t0} ms after the proxy started forwarding`);
		const h2 = await handshake(BRIDGE1, token);
		check(h2.hello, 'then a handshake gets its hello', h2);
	} finally {
		await stopBridge(b);
	}

	// 2. connections drop and the database stops answering
	L.setScenario('blackhole on reconnect');
	b = startBridge(BRIDGE2, ['--db-connect-timeout', '1', '--db-query-timeout', '2', '--notify-check-secs', '1']);
	try {
		check(await healthy(BRIDGE2, 10000), 'healthy through the forwarding proxy');
		const before = proxy.accepted;
		proxy.blackhole(true);
		check(await waitFor(async () => (await timedGet(BRIDGE2, '/healthz')).status === 503, 2000, 50),
			'503 soon after the connections dropped');
		await unhealthyAndAnswering(BRIDGE2, 4000 * L.SLOW, 'reconnecting into a blackhole');
		check(proxy.accepted > before + 2, 'reconnect attempts went on (connect timeout 1 s)', proxy.accepted - before);
		const h = await handshake(BRIDGE2, token);
		check(h.code === 1013, 'a handshake meanwhile closes with 1013', h);
		proxy.forward();
		check(await healthy(BRIDGE2, 10000), 'healthy again once the database answers');
		const h2 = await handshake(BRIDGE2, token);
		check(h2.hello, 'a handshake gets its hello', h2);

		// 3. a connection that stops passing anything, mid-query
		L.setScenario('frozen connection');
		const c = new L.Client('frozen', token, { port: BRIDGE2 });
		const hello = await c.connect();
		check(hello.type === 'hello', 'connected', hello);
		const m0 = await L.metrics(BRIDGE2);
		proxy.freeze();
		const t0 = Date.now();
		const r = await c.request({ type: 'start', text: 'anyone there?', client_msg_id: 'frozen-1' }, 15000);
		const ms = Date.now() - t0;
		check(r.type === 'error' || r.type === 'closed', 'the request gets an answer, not silence', r);
		check(ms < 6000 * L.SLOW, 'within --db-query-timeout and a tick', ms);
		const m1 = await L.metrics(BRIDGE2);
		check(m1 && m1.helpdesk_bridge_db_query_timeouts_total > m0.helpdesk_bridge_db_query_timeouts_total,
			'query timeouts counted', m1 && m1.helpdesk_bridge_db_query_timeouts_total);
		check(await healthy(BRIDGE2, 10000), 'healthy again on fresh connections');
		c.stop();
		const h3 = await handshake(BRIDGE2, token);
		check(h3.hello, 'a handshake gets its hello after the freeze', h3);
	} finally {
		const r = await stopBridge(b);
		check(r && r.code === 0, 'the bridge exits 0 on SIGTERM', r);
		proxy.close();
	}
}

L.runMain(main);
