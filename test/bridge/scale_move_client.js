'use strict';
// test/e2e/scale_move.sh's WebSocket client: a customer of the moving tenant
// connected to its node's bridge (port argv[2], token argv[3], session
// argv[4]). On tenant.moved it connects to the bridge the event names, from
// the position it names. Until STOP_FILE exists (and 2 s more) it keeps
// every message.created of its session; then prints a JSON summary: the
// client_msg_ids received (in order, with duplicates), the tenant.moved
// payload, and position errors (a position repeated or going back).
const fs = require('fs');
const { Client, connected, sleep } = require('./lib');

(async () => {
	const [port, token, session] = [Number(process.argv[2]), process.argv[3], Number(process.argv[4])];
	const ids = [];
	let moved = null;
	const first = await connected('before', token, { port });
	const take = (c) => (e) => {
		if (e.type === 'message.created' && e.session_id == session && e.message && e.message.client_msg_id)
			ids.push(e.message.client_msg_id);
	};
	let seenFirst = 0, seenSecond = 0, second = null;
	const stopFile = process.env.STOP_FILE;
	let stopAt = null;
	for (;;) {
		for (; seenFirst < first.events.length; seenFirst++) {
			const e = first.events[seenFirst];
			if (moved === null && e.type === 'tenant.moved')
				moved = e.payload;
			else if (moved === null)
				take(first)(e);
		}
		if (moved !== null && second === null) {
			first.close();
			second = new Client('after', token, { port: Number(new URL(moved.bridge_url).port) });
			const h = await second.connect(moved.position);
			if (h.type !== 'hello')
				throw new Error(`no hello from the new bridge: ${JSON.stringify(h)}`);
		}
		if (second !== null)
			for (; seenSecond < second.events.length; seenSecond++)
				take(second)(second.events[seenSecond]);
		if (stopAt === null && fs.existsSync(stopFile))
			stopAt = Date.now() + 2000;
		if (stopAt !== null && Date.now() > stopAt)
			break;
		await sleep(20);
	}
	const posErrors = first.posErrors.concat(second ? second.posErrors : []);
	if (second)
		second.close();
	console.log(JSON.stringify({ ids, moved, posErrors }));
	process.exit(0);
})().catch((e) => { console.error(e.stack || String(e)); process.exit(1); });
