'use strict';
// Helpers for the helpdesk-bridge end-to-end tests (test/bridge/e2e.js):
// checks that collect failures, the bridge process, SQL, HTTP, tokens and a
// WebSocket client that records every frame and can reconnect by itself.

const { spawn } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const path = require('path');
const WebSocket = require('ws');
const pg = require('pg');

const env = process.env;
const ROOT = path.resolve(__dirname, '..', '..');
const PORT = Number(env.BRIDGE_PORT || 55461);
const DB = env.BRIDGE_DB || 'e2e_bridge';
const BIN = path.resolve(ROOT, env.BRIDGE_BIN || 'bridge/helpdesk-bridge');
const LOG = env.BRIDGE_LOG || path.join(ROOT, 'bridge-e2e.log');
const SECRET = env.HELPDESK_TOKEN_SECRET;
const VERBOSE = !!env.BRIDGE_E2E_VERBOSE;
// the sanitizer build is several times slower
const SLOW = Number(env.BRIDGE_E2E_SLOW || 1);

// ---- checks ----------------------------------------------------------------

const failures = [];
let checks = 0;
let scenario = '';

function setScenario(name) {
	scenario = name;
	console.log(`-- ${name}`);
}

function check(cond, what, detail) {
	checks++;
	if (cond)
		return true;
	const line = `[${scenario}] ${what}` + (detail !== undefined ? `: ${typeof detail === 'string' ? detail : JSON.stringify(detail)}` : '');
	failures.push(line);
	console.log(`   FAIL ${line}`);
	return false;
}

function info(msg) { console.log(`   ${msg}`); }
function debug(msg) { if (VERBOSE) console.log(`   . ${msg}`); }

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Poll fn() (sync or async) until it returns something truthy; null on timeout.
async function waitFor(fn, ms, stepMs = 20) {
	const deadline = Date.now() + ms * SLOW;
	for (;;) {
		let v;
		try { v = await fn(); } catch (e) { v = undefined; }
		if (v)
			return v;
		if (Date.now() > deadline)
			return null;
		await sleep(stepMs);
	}
}

// ---- SQL -------------------------------------------------------------------

// A fresh connection per call: PostgreSQL is restarted under the tests.
async function sql(text, params = []) {
	const c = new pg.Client({ host: env.PGHOST, port: Number(env.PGPORT), user: env.PGUSER || 'postgres', database: DB });
	c.on('error', () => {});
	await c.connect();
	try {
		return (await c.query(text, params)).rows;
	} finally {
		await c.end().catch(() => {});
	}
}

async function sql1(text, params = []) {
	const rows = await sql(text, params);
	return rows.length ? rows[0][Object.keys(rows[0])[0]] : undefined;
}

// ---- tokens ----------------------------------------------------------------

const b64u = (buf) => Buffer.from(buf).toString('base64url');

// Signs claims the way issue_token does (HS256), for subjects issue_token refuses.
function signToken(claims, secret = SECRET) {
	const head = b64u(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
	const body = b64u(JSON.stringify(claims));
	const sig = crypto.createHmac('sha256', secret).update(`${head}.${body}`).digest();
	return `${head}.${body}.${b64u(sig)}`;
}

function tokenClaims(token) {
	return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
}

async function issueToken(tenant, kind, subject, ttl = '1 hour') {
	return sql1('SELECT helpdesk.issue_token($1, $2, $3, $4::interval) AS t', [tenant, kind, subject, ttl]);
}

// ---- HTTP ------------------------------------------------------------------

function httpGet(p, timeoutMs = 3000, port = PORT) {
	return new Promise((resolve) => {
		const req = http.get({ host: '127.0.0.1', port, path: p, timeout: timeoutMs * SLOW }, (res) => {
			let body = '';
			res.setEncoding('utf8');
			res.on('data', (d) => { body += d; });
			res.on('end', () => resolve({ status: res.statusCode, body }));
		});
		req.on('timeout', () => { req.destroy(); resolve({ status: 0, body: 'timeout' }); });
		req.on('error', (e) => resolve({ status: 0, body: String(e) }));
	});
}

// Prometheus text -> {"name{labels}": value}
function parseMetrics(text) {
	const m = {};
	for (const line of text.split('\n')) {
		if (!line || line.startsWith('#'))
			continue;
		const i = line.lastIndexOf(' ');
		m[line.slice(0, i)] = Number(line.slice(i + 1));
	}
	return m;
}

async function metrics(port = PORT) {
	const r = await httpGet('/metrics', 3000, port);
	return r.status === 200 ? parseMetrics(r.body) : null;
}

// ---- the bridge process ----------------------------------------------------

class Bridge {
	constructor(extraArgs = [], port = PORT) {
		this.extraArgs = extraArgs;
		this.port = port;
		this.proc = null;
		this.starts = 0;
	}

	async start() {
		const out = fs.openSync(LOG, 'a');
		const args = ['--port', String(this.port),
			'--db', `host=${env.PGHOST} port=${env.PGPORT} dbname=${DB} user=${env.PGUSER || 'postgres'}`,
			...this.extraArgs];
		fs.writeSync(out, `==== e2e: starting ${BIN} ${args.join(' ')}\n`);
		this.proc = spawn(BIN, args, { stdio: ['ignore', out, out], env });
		fs.closeSync(out);
		this.starts++;
		const proc = this.proc;
		this.exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
		const ok = await waitFor(async () => (await httpGet('/healthz', 1000, this.port)).status === 200, 20000, 50);
		if (!ok)
			throw new Error(`bridge did not become healthy (see ${LOG})`);
		debug(`bridge up (pid ${proc.pid})`);
	}

	async kill9() {
		const exited = this.exited;
		this.proc.kill('SIGKILL');
		await exited;
		this.proc = null;
	}

	// SIGTERM; returns {code, signal, ms}
	async term(timeoutMs = 10000) {
		const exited = this.exited;
		const t0 = Date.now();
		this.proc.kill('SIGTERM');
		const r = await Promise.race([exited, sleep(timeoutMs * SLOW).then(() => null)]);
		if (r === null) {
			this.proc.kill('SIGKILL');
			await exited;
			this.proc = null;
			return { code: null, signal: 'timeout', ms: Date.now() - t0 };
		}
		this.proc = null;
		return { ...r, ms: Date.now() - t0 };
	}
}

// restart the cluster the tests run on (scripts/lib.sh hd_cluster_restart)
function restartPostgres() {
	return new Promise((resolve, reject) => {
		const p = spawn('bash', ['-c', `source "${ROOT}/scripts/lib.sh" && hd_cluster_restart`], { stdio: 'inherit', env });
		p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`hd_cluster_restart exited ${code}`))));
	});
}

// ---- WebSocket client ------------------------------------------------------

let refSeq = 0;

// A client socket (or a series of them when auto reconnects) that keeps every
// frame it got, checks positions never repeat or go back, and answers
// request() by ref.
class Client {
	constructor(name, token, opts = {}) {
		this.name = name;
		this.token = token;
		this.auto = !!opts.auto;		// reconnect with ?position=last after a close
		this.port = opts.port || PORT;
		this.frames = [];				// every data frame, parsed, with .conn
		this.events = [];				// every event, in arrival order
		this.typing = [];
		this.closes = [];				// {code, reason, conn, framesBefore}
		this.hellos = [];
		this.lastPos = null;
		this.log = null;				// the log of lastPos (hello's log_id, then log frames)
		this.logFrames = [];
		this.conn = 0;
		this.ws = null;
		this.open = false;				// hello received on the current socket
		this.pending = new Map();
		this.stopped = false;
		this.posErrors = [];
		this.badFrames = [];
	}

	url(position) {
		let u = `ws://127.0.0.1:${this.port}/ws`;
		const q = [];
		if (this.token !== null)
			q.push(`token=${encodeURIComponent(this.token)}`);
		if (position !== null && position !== undefined)
			q.push(`position=${position}`);
		if (position !== null && position !== undefined && this.resumeLog)
			q.push(`log=${this.resumeLog}`);
		return q.length ? `${u}?${q.join('&')}` : u;
	}

	// opens a socket; resolves when hello or the close arrives
	connect(position = null) {
		const conn = ++this.conn;
		const ws = new WebSocket(this.url(position));
		this.asked = position;
		let framesThisConn = 0;
		this.ws = ws;
		this.open = false;
		return new Promise((resolve) => {
			let settled = false;
			const settle = (v) => { if (!settled) { settled = true; resolve(v); } };
			ws.on('message', (data, isBinary) => {
				framesThisConn++;
				let f;
				try { f = JSON.parse(data.toString()); } catch (e) {
					const t = String(data);
					this.badFrames.push({ len: t.length, head: t.slice(0, 120), tail: t.slice(-120) });
					return;
				}
				f.conn = conn;
				this.frames.push(f);
				this.onFrame(f, conn);
				if (f.type === 'hello')
					settle(f);
			});
			ws.on('close', (code, reason) => {
				this.closes.push({ code, reason: String(reason), conn, framesBefore: framesThisConn });
				debug(`${this.name}: closed ${code} ${reason}`);
				if (this.ws === ws) {
					this.open = false;
					for (const [, p] of this.pending)
						p.resolve({ type: 'closed', code });
					this.pending.clear();
					if (this.auto && !this.stopped)
						setTimeout(() => this.reconnect(), 150);
				}
				settle({ type: 'closed', code, reason: String(reason) });
			});
			ws.on('error', (e) => { debug(`${this.name}: ${e.message}`); });
		});
	}

	reconnect() {
		if (this.stopped)
			return;
		debug(`${this.name}: reconnecting at ${this.lastPos}`);
		this.connect(this.lastPos);
	}

	onFrame(f, conn) {
		switch (f.type) {
			case 'hello':
				this.hellos.push(f);
				// the stream starts after the position asked for (all tests ask for one that exists)
				if (this.asked !== null && this.asked !== undefined && f.position !== this.asked)
					this.posErrors.push(`hello at ${f.position}, asked for position ${this.asked}`);
				if (this.lastPos === null || f.position > this.lastPos)
					this.lastPos = f.position;
				if (this.lastPos !== null && f.position < this.lastPos)
					this.posErrors.push(`hello at ${f.position} after seeing ${this.lastPos}`);
				this.log = f.log_id;
				this.open = true;
				if (this.onHello)
					this.onHello(f);
				break;
			case 'events':
				for (const e of f.events) {
					if (this.lastPos !== null && e.pos <= this.lastPos)
						this.posErrors.push(`event ${e.pos} (${e.type}) after ${this.lastPos}`);
					this.lastPos = e.pos;
					e.conn = conn;
					this.events.push(e);
				}
				break;
			case 'log':
				// the positions that follow are of another log (a moved tenant's replay ended)
				this.logFrames.push(f);
				this.log = f.log_id;
				this.lastPos = f.position;
				break;
			case 'typing':
				this.typing.push(f);
				break;
			case 'ack':
			case 'error':
				if (f.ref && this.pending.has(f.ref)) {
					const p = this.pending.get(f.ref);
					this.pending.delete(f.ref);
					p.resolve(f);
				}
				break;
		}
	}

	send(obj) {
		if (this.ws && this.ws.readyState === WebSocket.OPEN)
			this.ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
	}

	// sends a frame with a fresh ref; resolves with its ack or error (or
	// {type:"closed"}, or {type:"timeout"})
	request(obj, timeoutMs = 10000) {
		const ref = `${this.name}-${++refSeq}`;
		return new Promise((resolve) => {
			if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
				resolve({ type: 'closed' });
				return;
			}
			const timer = setTimeout(() => {
				this.pending.delete(ref);
				resolve({ type: 'timeout', ref });
			}, timeoutMs * SLOW);
			this.pending.set(ref, { resolve: (f) => { clearTimeout(timer); resolve(f); } });
			this.ws.send(JSON.stringify({ ...obj, ref }));
		});
	}

	// a request that must be acked; returns the result (or undefined after a failed check)
	async must(obj, what) {
		const r = await this.request(obj);
		if (!check(r.type === 'ack', `${this.name}: ${what || obj.type} acked`, r))
			return undefined;
		return r.result;
	}

	async waitEvent(pred, ms = 10000) {
		return waitFor(() => this.events.find(pred), ms);
	}

	async waitClose(ms = 10000) {
		return waitFor(() => this.closes.find((c) => c.conn === this.conn), ms);
	}

	stop() {
		this.stopped = true;
		if (this.ws)
			this.ws.terminate();
	}

	close() {
		this.stopped = true;
		if (this.ws && this.ws.readyState === WebSocket.OPEN)
			this.ws.close(1000);
	}

	positionsOk(what) {
		check(this.badFrames.length === 0, `${this.name}: every frame is JSON`,
			this.badFrames.slice(0, 2).map((b) => `${b.len} bytes: ${b.head} ... ${b.tail}`));
		return check(this.posErrors.length === 0, `${this.name}: positions strictly increasing${what ? ' ' + what : ''}`, this.posErrors.slice(0, 5));
	}
}

// connect and require a hello
async function connected(name, token, opts = {}, position = null) {
	const c = new Client(name, token, opts);
	const h = await Promise.race([c.connect(position), sleep(10000 * SLOW).then(() => ({ type: 'timeout' }))]);
	if (!check(h.type === 'hello', `${name}: hello on connect`, h))
		throw new Error(`${name} could not connect`);
	return c;
}

// "host=... port=... dbname=... user=..." (a libpq conninfo) -> pg's options
function parseConninfo(conninfo) {
	const o = {};
	for (const kv of (conninfo || '').split(/\s+/).filter(Boolean)) {
		const [k, v] = kv.split('=');
		o[{ dbname: 'database' }[k] || k] = k === 'port' ? Number(v) : v;
	}
	return o;
}

// Run a test's main(), print the failed checks, exit 1 if there was any.
function runMain(main) {
	main().then(() => {
		console.log(`\n${checks} checks, ${failures.length} failed`);
		if (failures.length) {
			console.log('failed:');
			for (const f of failures)
				console.log(`  ${f}`);
			process.exit(1);
		}
		process.exit(0);
	}, (e) => {
		console.log(`\nERROR: ${e.stack || e}`);
		for (const f of failures)
			console.log(`  ${f}`);
		process.exit(1);
	});
}

module.exports = {
	env, ROOT, PORT, DB, LOG, SECRET, SLOW,
	failures, setScenario, check, info, debug, sleep, waitFor, checksCount: () => checks,
	sql, sql1, signToken, tokenClaims, issueToken,
	httpGet, metrics, parseMetrics, Bridge, restartPostgres, Client, connected, runMain, parseConninfo,
};
