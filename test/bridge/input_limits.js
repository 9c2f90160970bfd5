'use strict';
// Error frames for input the SQL API refuses (test/e2e/bridge_input_limits.sh):
// the database's message reaches the client bounded and as valid UTF-8, and
// the socket stays open. A message cut in half an 'é' made the bridge send an
// invalid text frame, and ws (like browsers) dropped the socket with 1007.

const L = require('./lib');
const { check, sql1, connected } = L;

async function main() {
	if (!L.SECRET)
		throw new Error('HELPDESK_TOKEN_SECRET is not set');
	const T = Number(await sql1(`SELECT helpdesk.upsert_tenant('bridge-limits', 'Bridge limits') AS id`));
	await sql1(`SELECT helpdesk.upsert_queue($1, 'main', 'Main', is_default => true) AS id`, [T]);
	const C = Number(await sql1(`SELECT helpdesk.upsert_customer($1, 'c1') AS id`, [T]));
	const bridge = new L.Bridge();
	await bridge.start();
	try {
		L.setScenario('error text');
		const c = await connected('limits:c1', await L.issueToken(T, 'customer', C));
		const S = (await c.must({ type: 'start', text: 'hello', client_msg_id: 'c1-0' }, 'start')).session_id;
		const cases = [
			// the SQL API's 1024-byte message buffer used to cut this one inside an 'é'
			['URL of 1,000 é', { url: 'ftp://' + 'é'.repeat(1000), name: 'a', size: 1, mime: 'text/plain' }],
			['URL without a host', { url: 'https://' + 'é'.repeat(1000) + ' x', name: 'a', size: 1, mime: 'text/plain' }],
			['size of 300 digits', { url: 'https://x.test/a', name: 'a', size: 1e300, mime: 'text/plain' }],
		];
		for (const [what, attachment] of cases) {
			const r = await c.request({ type: 'message', session_id: S, message_type: 'file', attachment });
			check(r.type === 'error' && r.code === 'db_error' && r.sqlstate === '22023', `${what}: refused with 22023`, r);
			check(typeof r.message === 'string' && Buffer.byteLength(r.message) < 300,
				`${what}: the message is short`, r.message && Buffer.byteLength(r.message));
			check(typeof r.message === 'string' && !r.message.includes('\ufffd'),
				`${what}: the message has no broken character`, r.message);
			check(c.closes.length === 0 && c.badFrames.length === 0, `${what}: the socket stays open`, c.closes);
		}
		const ok = await c.must({ type: 'message', session_id: S, text: 'still here', client_msg_id: 'c1-1' }, 'message after the errors');
		check(ok && ok.message_id > 0, 'the socket still works after the refusals', ok);
		c.close();
	} finally {
		await bridge.term();
	}
}

L.runMain(main);
