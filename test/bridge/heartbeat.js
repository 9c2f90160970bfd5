'use strict';
// helpdesk-bridge and a tenant whose presence timeout (heartbeat_interval x
// heartbeat_misses = 1 s x 2) is shorter than the bridge's default heartbeat
// period (5 s). Run by test/e2e/bridge_heartbeat.sh.
//
//   warning   upsert_tenant says the timeout is shorter than three bridge
//             batches (a WARNING the caller sees)
//   follows   the bridge logs that it sends heartbeats every third of the
//             timeout, and a connected agent stays online for 8 s (before,
//             it went offline between every two 5 s batches)

const fs = require('fs');
const pg = require('pg');
const L = require('./lib');
const { check, info, sql, sql1, sleep, waitFor, connected } = L;

async function main() {
	L.setScenario('warning');
	const c = new pg.Client({ host: L.env.PGHOST, port: Number(L.env.PGPORT), user: L.env.PGUSER || 'postgres', database: L.DB });
	const notices = [];
	c.on('notice', (n) => notices.push(`${n.severity}: ${n.message}`));
	await c.connect();
	const T = Number((await c.query(`SELECT helpdesk.upsert_tenant('hb', 'Heartbeat', heartbeat_interval => '1 second', heartbeat_misses => 2) AS id`)).rows[0].id);
	await c.end();
	check(notices.some((n) => /^WARNING: tenant \d+: agents without a heartbeat for 2000 ms go offline/.test(n)),
		'upsert_tenant warns about a presence timeout shorter than three bridge batches', notices);
	const A = Number(await sql1(`SELECT helpdesk.upsert_agent($1, 'a', 'A') AS id`, [T]));

	L.setScenario('follows');
	const bridge = new L.Bridge([]);	// default --heartbeat-ms 5000
	await bridge.start();
	const agent = await connected('agent', await L.issueToken(T, 'agent', A));
	const logged = await waitFor(() => /sending heartbeats every 666 ms/.test(fs.readFileSync(L.LOG, 'utf8')), 8000, 100);
	check(logged, 'the bridge logs that it follows the tenant\'s shorter timeout');
	await sql(`SELECT helpdesk.set_agent_status($1, $2, 'online')`, [T, A]);
	const t0 = Date.now();
	let offline = 0;
	while (Date.now() - t0 < 8000) {
		if ((await sql1(`SELECT status FROM helpdesk.agent WHERE id = $1`, [A])) !== 'online')
			offline++;
		await sleep(100);
	}
	const expired = Number(await sql1(`SELECT count(*) FROM helpdesk.dispatch_audit WHERE agent_id = $1 AND action = 'presence_offline'`, [A]));
	check(offline === 0 && expired === 0, 'a connected agent stays online for 8 s with a 2 s presence timeout',
		{ samples_not_online: offline, presence_expiries: expired });
	info(`agent online for 8 s; bridge heartbeat batches: ${JSON.stringify(Object.entries((await L.metrics()) || {}).filter(([k]) => k.includes("heartbeat")))}`);
	agent.close();
	await bridge.term();
}

L.runMain(main);
