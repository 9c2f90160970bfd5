// The peer of bench/webhooks.sh: a webhook sender as an application would
// write it outside the database — a Node outbox poller.
//
// It drains bench_outbox (filled by the producer's own transaction, the
// outbox pattern): claim a batch with FOR UPDATE SKIP LOCKED through a
// partial index and mark it sending (one short transaction), POST every row
// of the batch concurrently over a keep-alive agent with the same Standard
// Webhooks headers and HMAC-SHA256 signature as pg_helpdesk, then write
// each result (an attempt row, the outbox row delivered or due again) in
// one transaction. When a batch comes back empty it polls again after
// POLL_MS. The same job as the HTTP worker: sign, send, record, retry.
//
//   node node_outbox.js URL SECRET [BATCH=64] [POLL_MS=5]   (PG* environment variables)
'use strict';
const http = require('http');
const crypto = require('crypto');
const path = require('path');
const mods = path.join(__dirname, '..', '..', 'test', 'bridge', 'node_modules');
const pg = require(path.join(mods, 'pg'));

const [url, secret, batchArg, pollArg] = process.argv.slice(2);
const BATCH = Number(batchArg || 64);
const POLL_MS = Number(pollArg || 5);
const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
const agent = new http.Agent({ keepAlive: true, maxSockets: BATCH });
const target = new URL(url);

function post(row) {
	const ts = Math.floor(Date.now() / 1000);
	const sig = 'v1,' + crypto.createHmac('sha256', key).update(`${row.msg_id}.${ts}.${row.body}`).digest('base64');
	const started = process.hrtime.bigint();
	return new Promise((resolve) => {
		const req = http.request({
			agent, host: target.hostname, port: target.port, path: target.pathname + target.search, method: 'POST',
			timeout: 15000,
			headers: { 'content-type': 'application/json', 'user-agent': 'node-outbox', 'webhook-id': row.msg_id,
				'webhook-timestamp': String(ts), 'webhook-signature': sig, 'content-length': Buffer.byteLength(row.body) },
		}, (res) => {
			let body = '';
			res.on('data', (c) => { if (body.length < 4096) body += c; });
			res.on('end', () => resolve({ id: row.id, status: res.statusCode, body: body.slice(0, 4096),
				us: Number((process.hrtime.bigint() - started) / 1000n), error: null }));
		});
		req.on('timeout', () => req.destroy(new Error('timeout')));
		req.on('error', (e) => resolve({ id: row.id, status: null, body: null,
			us: Number((process.hrtime.bigint() - started) / 1000n), error: String(e.message) }));
		req.end(row.body);
	});
}

async function main() {
	const db = new pg.Client();
	await db.connect();
	await db.query('SET synchronous_commit = off');
	for (;;) {
		const { rows } = await db.query(
			`UPDATE bench_outbox o SET state = 'sending', attempts = o.attempts + 1
			 FROM (SELECT id FROM bench_outbox WHERE state = 'pending' AND next_at <= now()
			       ORDER BY next_at, id LIMIT $1 FOR UPDATE SKIP LOCKED) c
			 WHERE o.id = c.id RETURNING o.id, o.msg_id, o.body, o.attempts`, [BATCH]);
		if (rows.length === 0) {
			await new Promise((r) => setTimeout(r, POLL_MS));
			continue;
		}
		const results = await Promise.all(rows.map(post));
		const ok = results.map((r) => r.status >= 200 && r.status < 300);
		await db.query('BEGIN');
		await db.query(
			`INSERT INTO bench_outbox_attempt (outbox_id, status, latency_us, error, response)
			 SELECT * FROM unnest($1::bigint[], $2::int[], $3::bigint[], $4::text[], $5::text[])`,
			[results.map((r) => r.id), results.map((r) => r.status), results.map((r) => r.us),
				results.map((r) => r.error), results.map((r) => r.body)]);
		await db.query(
			`UPDATE bench_outbox o SET state = CASE WHEN u.ok THEN 'delivered' ELSE 'pending' END,
			        next_at = CASE WHEN u.ok THEN NULL ELSE now() + interval '5 seconds' END,
			        delivered_at = CASE WHEN u.ok THEN now() END
			 FROM unnest($1::bigint[], $2::bool[]) AS u(id, ok) WHERE o.id = u.id`,
			[results.map((r) => r.id), ok]);
		await db.query('COMMIT');
	}
}
main().catch((e) => { console.error(e); process.exit(1); });
