'use strict';
// test/e2e/scale_move.sh's offline client: a customer of the moving tenant
// (token argv[4], session argv[5]) connected to the old node's bridge (port
// argv[2]) goes away before the move, keeping its position and the log it
// belongs to (hello's log_id). Once MOVED_FILE exists it comes back to the new
// node's bridge (port argv[3]) with ?position=&log=: the bridge replays the
// rest of the old log from the new node's copy, sends a log frame and goes on
// in the new log. Until STOP_FILE exists (and 2 s more) it keeps every
// message.created of its session; then prints a JSON summary.
const fs = require('fs');
const { Client, connected, sleep } = require('./lib');

const waitFile = async (f) => { while (!fs.existsSync(f)) await sleep(20); };

(async () => {
	const [port0, port1, token, session] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4], Number(process.argv[5])];
	const ids = [];
	const take = (e) => {
		if (e.type === 'message.created' && e.session_id == session && e.message && e.message.client_msg_id)
			ids.push(e.message.client_msg_id);
	};
	const before = await connected('offline-before', token, { port: port0 });
	await sleep(Number(process.env.OFFLINE_AFTER_MS || 1500));
	before.close();
	await sleep(100);
	before.events.forEach(take);
	const left = { position: before.lastPos, log: before.log };
	await waitFile(process.env.MOVED_FILE);
	// a log the tenant did not move from: 4010, reload
	const bogus = new Client('offline-bogus', token, { port: port1 });
	bogus.resumeLog = '00000000-0000-4000-8000-000000000000';
	const refused = await bogus.connect(left.position);
	const after = new Client('offline-after', token, { port: port1 });
	after.resumeLog = left.log;
	const h = await after.connect(left.position);
	if (h.type !== 'hello')
		throw new Error(`no hello from the new bridge: ${JSON.stringify(h)}`);
	let stopAt = null;
	for (;;) {
		if (stopAt === null && fs.existsSync(process.env.STOP_FILE))
			stopAt = Date.now() + 2000;
		if (stopAt !== null && Date.now() > stopAt)
			break;
		await sleep(20);
	}
	after.events.forEach(take);
	after.close();
	console.log(JSON.stringify({
		ids, left, hello: h, refused, logFrames: after.logFrames,
		posErrors: before.posErrors.concat(after.posErrors), closes: after.closes,
	}));
	process.exit(0);
})().catch((e) => { console.error(e.stack || String(e)); process.exit(1); });
