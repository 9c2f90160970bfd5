'use strict';
// helpdesk-bridge behind pgbouncer in transaction pooling mode (run by
// test/e2e/bridge_pgbouncer.sh, which starts pgbouncer on PGB_PORT).
//   deaf        --db through pgbouncer only: LISTEN hears nothing in time there;
//               the position check notices (/healthz 503 "deaf", /metrics
//               helpdesk_bridge_listen_deaf 1) within 2 x --notify-check-secs
//               + 4 s of the first event, and still relays the events. The pooled
//               connections cannot pin search_path: a hostile operator in
//               public must not run anyway.
//   rotating    through a pgbouncer that spreads queries over its sessions:
//               the LISTEN connection's backend changes, deaf within two
//               checks, with nothing published
//   direct      --listen-db a direct session, --db through pgbouncer: events
//               arrive by NOTIFY (well before the position check), calls go
//               through the pooler, /healthz stays ok.

const L = require('./lib');
const { check, info, sql, sql1, sleep, waitFor, connected } = L;

const PGB = `host=127.0.0.1 port=${L.env.PGB_PORT} dbname=${L.DB} user=${L.env.PGUSER || 'postgres'}`;
const PGB_RR = `host=127.0.0.1 port=${L.env.PGB_RR_PORT} dbname=${L.DB} user=${L.env.PGUSER || 'postgres'}`;
const DIRECT = `host=${L.env.PGHOST} port=${L.env.PGPORT} dbname=${L.DB} user=${L.env.PGUSER || 'postgres'}`;

async function main() {
	const T = Number(await sql1(`SELECT helpdesk.upsert_tenant('pgb', 'Behind pgbouncer') AS id`));
	await sql1(`SELECT helpdesk.upsert_queue($1, 'main', 'Main', is_default => true) AS id`, [T]);
	const SUP = Number(await sql1(`SELECT helpdesk.upsert_agent($1, 'sup', 'Sup') AS id`, [T]));
	const C = Number(await sql1(`SELECT helpdesk.upsert_customer($1, 'c1') AS id`, [T]));
	// a trap for the pooled connections, whose search_path the bridge cannot pin
	await sql(`CREATE TABLE IF NOT EXISTS public.trap_calls (at timestamptz DEFAULT clock_timestamp());
		CREATE OR REPLACE FUNCTION public.trap_mul(numeric, integer) RETURNS numeric LANGUAGE plpgsql
		SET search_path = pg_catalog AS $$ BEGIN INSERT INTO public.trap_calls DEFAULT VALUES;
		RETURN $1 OPERATOR(pg_catalog.*) $2::numeric; END $$;
		DROP OPERATOR IF EXISTS public.* (numeric, integer);
		CREATE OPERATOR public.* (LEFTARG = numeric, RIGHTARG = integer, FUNCTION = public.trap_mul);`);
	const supTok = await L.issueToken(T, 'supervisor', SUP);
	const custTok = await L.issueToken(T, 'customer', C);
	let n = 0;
	const touch = async () => Number(await sql1(`SELECT helpdesk.upsert_agent($1, $2, $2) AS id`, [T, `pgb-${++n}`]));

	// ---- deaf: everything through pgbouncer, the bridge's defaults otherwise
	// (--notify-check-secs 5; so the old bridge runs this too, and stays "ok")
	L.setScenario('deaf');
	let b = new L.Bridge(['--db', PGB], L.PORT);
	await b.start();
	try {
		const sup = await connected('sup', supTok);
		const hz0 = await L.httpGet('/healthz');
		check(hz0.status === 200, 'healthy before anything was published', hz0);
		const t0 = Date.now();
		const ids = [];
		// events keep being published (deafness shows only when the log moves)
		const deaf = await waitFor(async () => {
			ids.push(await touch());
			const r = await L.httpGet('/healthz');
			return r.status === 503 && /deaf/.test(r.body) ? r : null;
		}, 20000, 400);
		const ms = Date.now() - t0;
		check(deaf, '/healthz says 503 deaf', await L.httpGet('/healthz'));
		check(ms <= (2 * 5 + 4 + 2) * 1000 * L.SLOW, 'within 2 x --notify-check-secs + 4 s (and 2 s of slack for the polling)', ms);
		info(`deaf reported ${ms} ms after the first event`);
		const m = await L.metrics();
		check(m && m.helpdesk_bridge_listen_deaf === 1, '/metrics helpdesk_bridge_listen_deaf 1', m && m.helpdesk_bridge_listen_deaf);
		check(m && m.helpdesk_bridge_listen_deaf_total >= 1, 'and counted', m && m.helpdesk_bridge_listen_deaf_total);
		const got = await waitFor(() => ids.every((id) => sup.events.some((e) => e.type === 'agent.updated' && Number(e.audience_id) === id)), 10000);
		check(got, 'the supervisor still gets the events (relayed by the position check)', sup.events.map((e) => e.type));
		const cust = await connected('cust', custTok);
		const r = await cust.request({ type: 'start', text: 'via pgbouncer', client_msg_id: 'pgb-1' });
		check(r.type === 'ack', 'a call through pgbouncer works', r);
		await waitFor(() => cust.events.length >= 1, 10000);
		check(cust.events.length >= 1, 'and its events arrive', cust.events.length);
		sup.positionsOk();
		sup.stop();
		cust.stop();
	} finally {
		await b.term();
	}

	// ---- a pooler that rotates sessions: deaf with no event at all
	L.setScenario('rotating');
	b = new L.Bridge(['--db', PGB_RR, '--notify-check-secs', '1'], L.PORT + 2);
	await b.start();
	try {
		const t0 = Date.now();
		const deaf = await waitFor(async () => {
			const r = await L.httpGet('/healthz', 3000, L.PORT + 2);
			return r.status === 503 && /deaf/.test(r.body) ? r : null;
		}, 8000, 100);
		check(deaf, '/healthz says 503 deaf without any event published', await L.httpGet('/healthz', 3000, L.PORT + 2));
		info(`deaf reported ${Date.now() - t0} ms after the bridge was healthy`);
		const m = await L.metrics(L.PORT + 2);
		check(m && m.helpdesk_bridge_listen_deaf === 1, '/metrics helpdesk_bridge_listen_deaf 1', m && m.helpdesk_bridge_listen_deaf);
	} finally {
		await b.term();
	}

	// ---- direct LISTEN, calls through pgbouncer
	L.setScenario('direct listen');
	b = new L.Bridge(['--db', PGB, '--listen-db', DIRECT, '--notify-check-secs', '5'], L.PORT + 1);
	await b.start();
	try {
		const sup = await connected('sup2', supTok, { port: L.PORT + 1 });
		await sleep(1500);		// past the baseline check
		const lat = [];
		for (let i = 0; i < 5; i++) {
			const t0 = Date.now();
			const id = await touch();
			const e = await waitFor(() => sup.events.find((x) => x.type === 'agent.updated' && Number(x.audience_id) === id), 10000, 5);
			check(e, `event ${i} relayed`);
			lat.push(Date.now() - t0);
			await sleep(300);
		}
		info(`NOTIFY to client: ${lat.join(', ')} ms`);
		check(lat.every((ms) => ms < 2000 * L.SLOW), 'each event within 2 s: by NOTIFY, not the 5 s position check', lat);
		await sleep(6000);		// a check or two after the events
		const hz = await L.httpGet('/healthz', 3000, L.PORT + 1);
		check(hz.status === 200 && hz.body === 'ok\n', '/healthz stays ok', hz);
		const m = await L.metrics(L.PORT + 1);
		check(m && m.helpdesk_bridge_listen_deaf === 0, 'helpdesk_bridge_listen_deaf 0', m && m.helpdesk_bridge_listen_deaf);
		const cust = new L.Client('cust2', custTok, { port: L.PORT + 1 });
		await cust.connect();
		const r = await cust.request({ type: 'start', text: 'again', client_msg_id: 'pgb-2' });
		check(r.type === 'ack', 'a call through pgbouncer works', r);
		sup.stop();
		cust.stop();
	} finally {
		await b.term();
	}
	const trapped = Number(await sql1('SELECT count(*) AS n FROM public.trap_calls'));
	check(trapped === 0, 'no bridge query ran the hostile operator over the unpinned pooled connections', trapped);
}

L.runMain(main);
