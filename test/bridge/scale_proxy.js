'use strict';
// test/e2e/scale_proxy.sh's conversation: for each tenant slug given, every
// SQL call goes through the PL/Proxy database (SCALE_PROXY, a conninfo); the
// customer and the agent connect to the bridge that tenant_bridge() names
// for the tenant, and that node's own dispatcher assigns the session.
const pg = require('pg');
const { check, info, setScenario, waitFor, connected, runMain, parseConninfo } = require('./lib');

async function conversation(db, slug) {
	setScenario(`conversation of ${slug} through the proxy`);
	const q1 = async (text, params = []) => (await db.query(text, params)).rows[0];
	const dir = await q1('SELECT tenant_id, part FROM helpdesk_proxy.tenant_directory WHERE slug = $1', [slug]);
	if (!check(dir, `${slug} is in the directory`))
		return;
	const t = dir.tenant_id;
	const url = (await q1('SELECT helpdesk_proxy.tenant_bridge($1) AS u', [t])).u;
	const port = Number(new URL(url).port);
	info(`${slug}: tenant ${t} on partition ${dir.part}, bridge ${url}`);
	const qid = (await q1("SELECT helpdesk.upsert_queue($1, 'main', 'Main', is_default => true) AS id", [t])).id;
	await db.query("SELECT helpdesk.set_queue_routing($1, $2, 'direct')", [t, qid]);
	const a = (await q1("SELECT helpdesk.upsert_agent($1, 'agent-1', 'Agent One', max_sessions => 3) AS id", [t])).id;
	const c = (await q1("SELECT helpdesk.upsert_customer($1, 'player-1', 'Player One') AS id", [t])).id;
	const atok = (await q1("SELECT helpdesk.issue_token($1, 'agent', $2) AS t", [t, a])).t;
	const ctok = (await q1("SELECT helpdesk.issue_token($1, 'customer', $2) AS t", [t, c])).t;
	const agent = await connected(`${slug}-agent`, atok, { port });
	await db.query("SELECT helpdesk.set_agent_status($1, $2, 'online')", [t, a]);
	const customer = await connected(`${slug}-customer`, ctok, { port });
	const s = (await q1("SELECT session_id FROM helpdesk.start_session($1, $2, 'web', first_message => $3)",
		[t, c, '我的订单没有到账'])).session_id;
	const assigned = await customer.waitEvent((e) => e.type === 'session.state' && e.session_id == s &&
		e.payload.to === 'active', 10000);
	check(assigned && assigned.payload.agent_id == a, `${slug}: the node's dispatcher assigned the session to the agent`, assigned);
	const toAgent = await agent.waitEvent((e) => e.type === 'session.state' && e.session_id == s && e.payload.to === 'active', 10000);
	check(toAgent, `${slug}: the agent saw the assignment`);
	await db.query("SELECT helpdesk.post_message($1, $2, 'customer', $3, $4)", [t, s, c, '订单号 42']);
	const seen = await agent.waitEvent((e) => e.type === 'message.created' && e.session_id == s, 10000);
	check(seen && seen.message.body === '订单号 42', `${slug}: the agent got the customer's message`, seen);
	await db.query("SELECT helpdesk.post_message($1, $2, 'agent', $3, $4)", [t, s, a, '您好，马上为您查询']);
	const reply = await customer.waitEvent((e) => e.type === 'message.created' && e.message &&
		e.message.sender_kind === 'agent', 10000);
	check(reply && reply.message.body === '您好，马上为您查询', `${slug}: the customer got the agent's reply`, reply);
	const hist = (await db.query('SELECT sender_kind, body FROM helpdesk.session_messages($1, $2) ORDER BY id', [t, s])).rows;
	check(hist.length === 3 && hist[2].sender_kind === 'agent', `${slug}: the history through the proxy has the three messages`, hist);
	await db.query("SELECT helpdesk.close_session($1, $2, 'resolved', 'agent', $3)", [t, s, a]);
	check(await waitFor(() => customer.events.find((e) => e.type === 'session.state' && e.session_id == s &&
		['closing', 'closed'].includes(e.payload.to)), 5000), `${slug}: the customer saw the close made through the proxy`);
	agent.positionsOk();
	customer.positionsOk();
	agent.close();
	customer.close();
}

runMain(async () => {
	const db = new pg.Client(parseConninfo(process.env.SCALE_PROXY));
	await db.connect();
	const parts = new Set();
	for (const slug of process.argv.slice(2)) {
		const row = (await db.query('SELECT part FROM helpdesk_proxy.tenant_directory WHERE slug = $1', [slug])).rows[0];
		if (row)
			parts.add(row.part);
		await conversation(db, slug);
	}
	check(parts.size === 2, 'the conversations ran on both nodes', [...parts]);
	await db.end();
});
