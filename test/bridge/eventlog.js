'use strict';
// helpdesk-bridge and the event log under it. Run by test/e2e/bridge_eventlog.sh
// (same environment as e2e.js).
//
//   forged notify  NOTIFY helpdesk with huge, negative and garbage payloads
//                  (any login role can send them): the bridge reads at most
//                  once per notification, its query rate stays low (counted
//                  by the database: xact_commit of its database), and it
//                  still relays real events at their positions
//   re-created     DROP EXTENSION + CREATE EXTENSION under the running
//                  bridge: its clients are closed with 4010, /metrics counts
//                  a log reset, new clients get only the new log's events
//                  and the bridge relays what the new log publishes
//   older dump     the database is replaced by a restore of an older dump of
//                  the same log (positions go back): the same reset

const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const L = require('./lib');
const { check, info, sql, sql1, waitFor, connected } = L;

const PGBIN = L.env.HD_PGBIN || '/usr/lib/postgresql/15/bin';
let ids = {};

async function setup() {
	const T = Number(await sql1(`SELECT helpdesk.upsert_tenant('bridge-log', 'Bridge log') AS id`));
	await sql1(`SELECT helpdesk.upsert_queue($1, 'main', 'Main', is_default => true) AS id`, [T]);
	ids = {
		T,
		SUP: Number(await sql1(`SELECT helpdesk.upsert_agent($1, 'sup', 'Sup', '{}'::jsonb, '{en}', 1) AS id`, [T])),
		C: Number(await sql1(`SELECT helpdesk.upsert_customer($1, 'c1') AS id`, [T])),
	};
	ids.S = Number(await sql1(`SELECT session_id AS s FROM helpdesk.start_session($1, $2)`, [T, ids.C]));
}

async function post(text) {
	return Number(await sql1(`SELECT helpdesk.post_message($1, $2, 'customer', $3, $4) AS m`,
		[ids.T, ids.S, ids.C, text]));
}

async function published() {
	return waitFor(async () => Number(await sql1('SELECT helpdesk.publisher_lag() AS l')) === 0, 20000, 50);
}

async function xacts() {
	return Number(await sql1(`SELECT xact_commit + xact_rollback AS n, pg_stat_clear_snapshot()
	                          FROM pg_stat_database WHERE datname = current_database()`));
}

// transactions per second in this database over ms (stats are flushed about once a second)
async function xactRate(ms) {
	const a = await xacts();
	await L.sleep(ms);
	const b = await xacts();
	return (b - a) * 1000 / ms;
}

const bodies = (c) => c.events.filter((e) => e.type === 'message.created').map((e) => e.message.body);

async function scenarioForgedNotify() {
	L.setScenario('forged notify');
	const sup = await connected('sup', await L.issueToken(ids.T, 'supervisor', ids.SUP));
	await post('before the forged notifications');
	check(await waitFor(() => bodies(sup).includes('before the forged notifications'), 10000), 'a real event is relayed first');
	await L.sleep(1500);
	const idle = await xactRate(2500);
	const m0 = await L.metrics();
	const forged = ['9223372036854775807', '-9223372036854775808', '-1', '99999999999999999999999', 'garbage', '',
		'1e30', '0x7fffffffffffffff', ' 42', String(Number(await sql1('SELECT helpdesk.event_position() AS p')) + 1000)];
	for (const p of forged)
		await sql('SELECT pg_notify($1, $2)', ['helpdesk', p]);
	// and many in one transaction
	await sql(`SELECT pg_notify('helpdesk', g::text) FROM generate_series(1000000, 1000500) g`);
	await L.sleep(1500);
	const after = await xactRate(2500);
	info(`transactions/s in the database: ${idle.toFixed(1)} before, ${after.toFixed(1)} after ${forged.length + 501} forged notifications`);
	check(after < idle + 20, 'forged notifications do not make the bridge read in a loop', { idle, after });
	const m1 = await L.metrics();
	if (check(m0 && m1 && m1.helpdesk_bridge_event_reads_total !== undefined, '/metrics counts event reads')) {
		const reads = m1.helpdesk_bridge_event_reads_total - m0.helpdesk_bridge_event_reads_total;
		info(`event reads for ${forged.length + 501} notifications: ${reads}`);
		check(reads <= forged.length + 2 + 4, 'at most one read per forged notification (fewer when they come together)', reads);
		check(m1.helpdesk_bridge_notifies_total - m0.helpdesk_bridge_notifies_total >= forged.length + 501,
			'/metrics counts the notifications');
	}
	// the ring's head was not moved by any payload: real events keep coming at their positions
	const m = await post('after the forged notifications');
	const e = await sup.waitEvent((x) => x.type === 'message.created' && x.message.id === m, 10000);
	check(e, 'the bridge still relays real events');
	await published();
	if (e) {
		const pos = Number(await sql1(`SELECT p.pos FROM helpdesk.event_positions p JOIN helpdesk.event ev ON ev.id = p.event_id
		                               WHERE ev.type = 'message.created' AND ev.message_id = $1`, [m]));
		check(e.pos === pos, 'at its position in the log', { relayed: e.pos, log: pos });
	}
	check((await L.httpGet('/healthz')).status === 200, '/healthz ok');
	sup.positionsOk();
	sup.close();
}

async function scenarioRecreated() {
	L.setScenario('re-created extension');
	const sup = await connected('sup-old', await L.issueToken(ids.T, 'supervisor', ids.SUP));
	for (let i = 0; i < 5; i++)
		await post(`old log ${i}`);
	check(await waitFor(() => bodies(sup).includes('old log 4'), 10000), 'old log events relayed');
	const oldLog = await sql1('SELECT helpdesk.event_log_id()::text AS l');
	const oldPos = Number(await sql1('SELECT helpdesk.event_position() AS p'));
	const m0 = await L.metrics();

	await sql('DROP EXTENSION pg_helpdesk CASCADE');
	await sql('CREATE EXTENSION pg_helpdesk');
	const newLog = await sql1('SELECT helpdesk.event_log_id()::text AS l');
	check(newLog !== oldLog, 'CREATE EXTENSION makes a new log identity', { oldLog, newLog });
	// the new log has no event yet (a tenant and a customer append none): the
	// first to notice is a client's subscriber lookup, which sees the new identity
	const T = Number(await sql1(`SELECT helpdesk.upsert_tenant('bridge-log', 'Bridge log') AS id`));
	const C = Number(await sql1(`SELECT helpdesk.upsert_customer($1, 'c1') AS id`, [T]));
	check(Number(await sql1('SELECT count(*) AS n FROM helpdesk.event')) === 0, 'the new log is still empty');
	const early = new L.Client('early', await L.issueToken(T, 'customer', C));
	const first = await early.connect();
	check(first.type === 'closed' && first.code === 1013, 'a client connecting before the bridge noticed is told to try again (1013)', first);
	const closed = await sup.waitClose(15000);
	check(closed && closed.code === 4010, 'a client of the old log is closed with 4010', closed);
	if (closed)
		check(/reset/.test(closed.reason), 'the reason says the log was reset', closed.reason);
	const m1 = await L.metrics();
	check(m0 && m1 && m1.helpdesk_bridge_log_resets_total === (m0.helpdesk_bridge_log_resets_total || 0) + 1,
		'/metrics counts one log reset', m1 && m1.helpdesk_bridge_log_resets_total);
	check(/event log changed under the bridge/.test(fs.readFileSync(L.LOG, 'utf8')), 'the bridge logs the reset');

	const retry = await connected('early-again', await L.issueToken(T, 'customer', C));
	check(retry.hellos[0].position === 0, 'its retry gets the new log\'s position', retry.hellos[0].position);
	retry.close();

	// the new log: same names, ids from 1 again
	await setup();
	const sup2 = await connected('sup-new', await L.issueToken(ids.T, 'supervisor', ids.SUP));
	check(sup2.hellos[0].position < oldPos, 'a new client starts at the new log\'s position',
		{ hello: sup2.hellos[0].position, oldPos });
	const m = await post('new log 1');
	check(await waitFor(() => bodies(sup2).includes('new log 1'), 10000), 'the bridge relays the new log');
	await L.sleep(300);
	check(!bodies(sup2).some((b) => /^old log/.test(b)), 'a new client gets no event of the dropped log', bodies(sup2));
	await published();
	const want = (await sql(`SELECT pos FROM helpdesk.event_positions WHERE pos > $1 ORDER BY pos`, [sup2.hellos[0].position]))
		.map((r) => Number(r.pos));
	const last = want[want.length - 1];
	await waitFor(() => sup2.events.some((e) => e.pos >= last), 5000);
	const got = sup2.events.map((e) => e.pos).filter((p) => p <= last);
	check(JSON.stringify(got) === JSON.stringify(want), 'it gets the new log\'s positions, each once', { got, want });
	check(m > 0, 'posted in the new log');
	check((await L.httpGet('/healthz')).status === 200, '/healthz ok');
	sup2.positionsOk();
	sup2.close();
}

function run(cmd, args) {
	const r = spawnSync(cmd, args, { env: L.env, encoding: 'utf8' });
	if (r.status !== 0)
		throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
}

async function scenarioOlderDump() {
	L.setScenario('older dump of the same log');
	const dump = path.join(L.env.HD_CLUSTER || '/tmp', 'bridge-eventlog.dump');
	await post('in the dump');
	await published();
	// a worker may publish an event while pg_dump runs: the dumped position
	// lies between the positions read before and after it
	const dumpedPos = Number(await sql1('SELECT helpdesk.event_position() AS p'));
	const log = await sql1('SELECT helpdesk.event_log_id()::text AS l');
	run(path.join(PGBIN, 'pg_dump'), ['-Fc', '-d', L.DB, '-f', dump]);
	const dumpedPosAfter = Number(await sql1('SELECT helpdesk.event_position() AS p'));
	const sup = await connected('sup-before', await L.issueToken(ids.T, 'supervisor', ids.SUP));
	for (let i = 0; i < 5; i++)
		await post(`after the dump ${i}`);
	check(await waitFor(() => bodies(sup).includes('after the dump 4'), 10000), 'events after the dump relayed');
	const m0 = await L.metrics();

	const admin = { ...L.env, PGDATABASE: 'postgres' };
	spawnSync(path.join(PGBIN, 'psql'), ['-qX', '-d', 'postgres', '-c', `DROP DATABASE ${L.DB} WITH (FORCE)`, '-c', `CREATE DATABASE ${L.DB}`],
		{ env: admin, encoding: 'utf8' });
	run(path.join(PGBIN, 'pg_restore'), ['--single-transaction', '-d', L.DB, dump]);
	check(await sql1('SELECT helpdesk.event_log_id()::text AS l') === log, 'the restored log has the dumped identity');
	const atRestore = Number(await sql1('SELECT helpdesk.event_position() AS p'));
	check(atRestore >= dumpedPos && atRestore <= dumpedPosAfter, 'and the dumped position', [dumpedPos, atRestore, dumpedPosAfter]);
	const closed = await sup.waitClose(20000);
	check(closed && closed.code === 4010, 'a client that saw positions past the dump is closed with 4010', closed);
	const m1 = await waitFor(async () => {
		const m = await L.metrics();
		return m && m.helpdesk_bridge_log_resets_total > m0.helpdesk_bridge_log_resets_total ? m : null;
	}, 20000, 200);
	check(m1, '/metrics counts the reset');
	// an event a worker committed between the position read and pg_dump is in
	// the dump unpublished, and the publisher publishes it after the restore:
	// the restored log's position is the one once the publisher has caught up
	await published();
	const restoredPos = Number(await sql1('SELECT helpdesk.event_position() AS p'));
	check(restoredPos >= atRestore, 'the restored log goes on from the dumped position', restoredPos);
	const sup2 = await connected('sup-after', await L.issueToken(ids.T, 'supervisor', ids.SUP));
	check(sup2.hellos[0].position === restoredPos, 'a new client starts at the restored position', sup2.hellos[0].position);
	const m = await post('after the restore');
	const e = await sup2.waitEvent((x) => x.type === 'message.created' && x.message.id === m, 10000);
	check(e && e.pos > restoredPos, 'the bridge relays the restored log from its position', e && e.pos);
	sup2.positionsOk();
	sup2.close();
	fs.rmSync(dump, { force: true });
}

async function main() {
	await setup();
	const bridge = new L.Bridge();
	await bridge.start();
	try {
		await scenarioForgedNotify();
		await scenarioRecreated();
		await scenarioOlderDump();
	} finally {
		await bridge.term();
	}
}

L.runMain(main);
