'use strict';
// test/e2e/scale_move.sh's client: posts messages through the proxy
// (SCALE_PROXY, a conninfo) into a session of the moving tenant and of one
// that stays, until the file STOP_FILE exists. A call refused with 55000
// (the move's fence) is retried with the same client_msg_id, as a client of
// the API should; every other error is a failure. Prints a JSON summary:
// the acknowledged client_msg_ids of each tenant, how many calls were
// refused, and the longest time one post took to be acknowledged.
const fs = require('fs');
const pg = require('pg');
const { parseConninfo } = require('./lib');

const [moving, mSession, mCustomer, staying, sSession, sCustomer] = process.argv.slice(2).map(Number);
const stopFile = process.env.STOP_FILE;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function post(db, t, s, c, id, out) {
	const started = Date.now();
	for (;;) {
		try {
			await db.query("SELECT helpdesk.post_message($1, $2, 'customer', $3, $4, client_msg_id => $4)", [t, s, c, id]);
			out.acked.push(id);
			out.longestMs = Math.max(out.longestMs, Date.now() - started);
			return;
		} catch (e) {
			if (e.code !== '55000') {
				out.errors.push(`${id}: ${e.code} ${e.message.slice(0, 200)}`);
				return;
			}
			out.refused++;
			if (out.firstRefusal === null)
				out.firstRefusal = Date.now();
			out.lastRefusal = Date.now();
			await sleep(20);
		}
	}
}

// one connection and one loop per tenant, side by side: a refused post of
// the moving tenant must not hold up the other tenant's posts
async function loop(t, s, c, prefix, out) {
	const db = new pg.Client(parseConninfo(process.env.SCALE_PROXY));
	await db.connect();
	for (let i = 1; !fs.existsSync(stopFile) && i < 100000; i++) {
		await post(db, t, s, c, `${prefix}-${i}`, out);
		await sleep(5);
	}
	await db.end();
}

(async () => {
	const m = { acked: [], refused: 0, errors: [], longestMs: 0, firstRefusal: null, lastRefusal: null };
	const s = { acked: [], refused: 0, errors: [], longestMs: 0, firstRefusal: null, lastRefusal: null };
	await Promise.all([loop(moving, mSession, mCustomer, 'move', m), loop(staying, sSession, sCustomer, 'stay', s)]);
	const span = m.firstRefusal === null ? 0 : m.lastRefusal - m.firstRefusal;
	console.log(JSON.stringify({ moving: { acked: m.acked, refused: m.refused, errors: m.errors, longestMs: m.longestMs, refusedSpanMs: span },
		staying: { acked: s.acked, refused: s.refused, errors: s.errors, longestMs: s.longestMs } }));
})().catch((e) => { console.error(e.stack || String(e)); process.exit(1); });
