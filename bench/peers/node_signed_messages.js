'use strict';
// The peer of bench/signed_messages.sh: what a game backend would write
// without pg_helpdesk's bridge — a plain node HTTP server for
// POST /api/v1/player/sessions/<id>/messages that checks the same signature
// with node's crypto (the app's secret in memory, timestamp window, nonce
// once per app in a table under a primary key) and the session's owner,
// then calls helpdesk.post_message, in one round trip through a pg pool.
// No rate limit (the bridge's route also counts two rate-limit buckets).
//   PEER_PORT, PEER_SECRET, PEER_APP, PEER_TENANT, PEER_POOL (16); PG* for the database
const http = require('http');
const crypto = require('crypto');
const { Pool } = require(process.env.PEER_MODULES ? `${process.env.PEER_MODULES}/pg` : 'pg');

const SECRET = process.env.PEER_SECRET;
const APP = process.env.PEER_APP;
const TENANT = Number(process.env.PEER_TENANT);
const pool = new Pool({ max: Number(process.env.PEER_POOL || 16), database: process.env.PGDATABASE });
const ROUTE = /^\/api\/v1\/player\/sessions\/(\d+)\/messages$/;
const SQL = `WITH n AS (INSERT INTO peer_nonce (app_id, nonce, seen_at) VALUES ($1, $2, now())
		ON CONFLICT DO NOTHING RETURNING 1),
	s AS (SELECT s.id FROM helpdesk.session s JOIN helpdesk.customer c
		ON c.tenant_id = s.tenant_id AND c.id = s.customer_id
		WHERE s.tenant_id = $3 AND s.id = $4 AND c.external_id = $5)
	SELECT (SELECT count(*) FROM n) AS fresh, (SELECT count(*) FROM s) AS owned,
	       CASE WHEN EXISTS (SELECT 1 FROM n) AND EXISTS (SELECT 1 FROM s)
	            THEN helpdesk.post_message($3, $4, 'customer',
	                 (SELECT customer_id FROM helpdesk.session WHERE tenant_id = $3 AND id = $4),
	                 $6, 'text', $7) END AS message_id`;

function answer(res, status, obj) {
	const b = JSON.stringify(obj);
	res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(b) });
	res.end(b);
}
const fail = (res, status, code) => answer(res, status, { error: { code, message: code } });

http.createServer((req, res) => {
	const chunks = [];
	req.on('data', (d) => chunks.push(d));
	req.on('end', async () => {
		const m = req.method === 'POST' && ROUTE.exec(req.url);
		if (!m)
			return fail(res, 404, 'not_found');
		const body = Buffer.concat(chunks);
		const ts = req.headers['x-hd-timestamp'], nonce = req.headers['x-hd-nonce'];
		const sig = req.headers['x-hd-signature'];
		if (req.headers['x-hd-app'] !== APP || !ts || !nonce || !sig || !/^[A-Za-z0-9_-]{16,64}$/.test(nonce))
			return fail(res, 400, 'malformed_request');
		if (Math.abs(Math.floor(Date.now() / 1000) - Number(ts)) > 300)
			return fail(res, 401, 'stale_timestamp');
		const want = crypto.createHmac('sha256', SECRET).update(`POST\n${req.url}\n${ts}\n${nonce}\n` +
			crypto.createHash('sha256').update(body).digest('hex')).digest();
		const got = Buffer.from(sig, 'hex');
		if (got.length !== want.length || !crypto.timingSafeEqual(got, want))
			return fail(res, 401, 'bad_signature');
		let b;
		try { b = JSON.parse(body.toString()); } catch (e) { return fail(res, 400, 'bad_json'); }
		try {
			const r = (await pool.query(SQL, [APP, nonce, TENANT, m[1], b.player_id, b.text, b.client_msg_id || null])).rows[0];
			if (r.fresh === '0')
				return fail(res, 401, 'replayed_nonce');
			if (r.owned === '0')
				return fail(res, 404, 'not_found');
			answer(res, 201, { message_id: Number(r.message_id) });
		} catch (e) {
			fail(res, 500, 'db_error');
		}
	});
}).listen(Number(process.env.PEER_PORT), '127.0.0.1', () => console.log('peer listening'));
