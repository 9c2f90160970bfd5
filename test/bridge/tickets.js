'use strict';
// helpdesk-bridge and tickets (issue 15). Run by test/e2e/bridge_tickets.sh
// (same environment as e2e.js): real WebSocket clients — a customer, two
// agents serving the ticket's queue, a supervisor and another customer.
//
//   relay       a ticket's events reach its customer (public ones only), its
//               assignee, its queue's agents and supervisors (once each);
//               another customer gets nothing
//   frames      ticket_take, ticket_reply (idempotent), ticket_note (the
//               customer never sees it, neither live nor in ticket_history),
//               ticket_status, ticket_priority, ticket_assign (the old and
//               the new assignee are told), tickets by assignee_id,
//               ticket_read, ticket_history
//   errors      as for the session frames: bad_frame naming the field,
//               forbidden for a kind the frame is not for, db_error with the
//               SQLSTATE of the SQL API's refusal
//   automatic   a ticket entering a round_robin queue is assigned by the
//               dispatcher; its assignee's socket is told at once

const L = require('./lib');
const { check, info, sql, sql1, waitFor, connected } = L;

const ids = {};

async function setup() {
	const T = Number(await sql1(`SELECT helpdesk.upsert_tenant('bridge-tickets', 'Bridge tickets') AS id`));
	const agent = async (ext, skills) => Number(await sql1(
		`SELECT helpdesk.upsert_agent($1, $2, $2, $3::jsonb, '{en}', 5) AS id`, [T, ext, skills]));
	const cust = async (ext) => Number(await sql1(`SELECT helpdesk.upsert_customer($1, $2) AS id`, [T, ext]));
	Object.assign(ids, {
		T,
		Q: Number(await sql1(`SELECT helpdesk.upsert_queue($1, 'tickets', 'Tickets', required_skills => '{support}', strategy => 'manual') AS id`, [T])),
		A1: await agent('a1', '{"support": 5}'),
		A2: await agent('a2', '{"support": 5}'),
		A3: await agent('a3', '{}'),		// serves no queue of tickets
		SUP: await agent('sup', '{}'),
		C: await cust('c'),
		C2: await cust('c2'),
	});
}

async function published() {
	return waitFor(async () => Number(await sql1('SELECT helpdesk.publisher_lag() AS l')) === 0, 10000, 50);
}

const tev = (c, K, type) => c.events.filter((e) => e.payload && e.payload.ticket_id === K && (!type || e.type === type));

async function scenarioThread() {
	L.setScenario('thread');
	const { T, Q, A1, A2, A3, SUP, C, C2 } = ids;
	const c = await connected('c', await L.issueToken(T, 'customer', C));
	const c2 = await connected('c2', await L.issueToken(T, 'customer', C2));
	const a1 = await connected('a1', await L.issueToken(T, 'agent', A1));
	const a2 = await connected('a2', await L.issueToken(T, 'agent', A2));
	const a3 = await connected('a3', await L.issueToken(T, 'agent', A3));
	const sup = await connected('sup', await L.issueToken(T, 'supervisor', SUP));

	const created = (await sql(`SELECT * FROM helpdesk.create_ticket($1, $2, 'My payment failed', 'order 5521 was charged twice',
		queue_id => $3, client_msg_id => 'c-0')`, [T, C, Q]))[0];
	const K = Number(created.ticket_id);
	const M0 = Number(created.message_id);
	check(await c.waitEvent((e) => e.type === 'ticket.created' && e.payload.ticket_id === K), 'the customer gets ticket.created');
	check(await a1.waitEvent((e) => e.type === 'ticket.created' && e.payload.ticket_id === K && e.audience === 'queue'),
		'an agent of the queue gets it (queue audience)');
	check(await a2.waitEvent((e) => e.type === 'ticket.created' && e.payload.ticket_id === K), 'so does the other one');
	check(await sup.waitEvent((e) => e.type === 'ticket.created' && e.payload.ticket_id === K), 'and the supervisor');

	// take
	const took = await a1.must({ type: 'ticket_take', ticket_id: K }, 'a1 ticket_take');
	check(took && took.changed === true, 'ticket_take: changed', took);
	const again = await a1.must({ type: 'ticket_take', ticket_id: K }, 'a1 ticket_take again');
	check(again && again.changed === false, 'taking it again: not changed', again);
	const lost = await a2.request({ type: 'ticket_take', ticket_id: K });
	check(lost.type === 'error' && lost.code === 'db_error' && lost.sqlstate === 'HD409',
		'a2 cannot take a1\'s ticket: db_error HD409', lost);
	check(await a1.waitEvent((e) => e.type === 'ticket.updated' && e.payload.ticket_id === K && e.audience === 'agent'
		&& e.payload.change === 'assignee' && e.payload.assignee_id === A1),
	'a1 is told it is the assignee (its own copy)');

	// replies
	const r1 = await c.must({ type: 'ticket_reply', ticket_id: K, text: 'any news?', client_msg_id: 'c-1' }, 'customer ticket_reply');
	const r1b = await c.must({ type: 'ticket_reply', ticket_id: K, text: 'any news?', client_msg_id: 'c-1' }, 'customer ticket_reply retried');
	check(r1 && r1b && r1.message_id === r1b.message_id, 'a retried reply with the same client_msg_id returns the same message', [r1, r1b]);
	check(await a1.waitEvent((e) => e.type === 'ticket.message' && e.payload.ticket_id === K && e.audience === 'agent'),
		'the assignee gets the customer\'s reply');
	const r2 = await a1.must({ type: 'ticket_reply', ticket_id: K, text: 'refund is on its way', client_msg_id: 'a1-1' }, 'a1 ticket_reply');
	const n1 = await a1.must({ type: 'ticket_note', ticket_id: K, text: 'INTERNAL: checked the PSP log', client_msg_id: 'a1-n1' }, 'a1 ticket_note');
	check(await a2.waitEvent((e) => e.type === 'ticket.note' && e.payload.ticket_id === K), 'a2 (the queue) gets the note');
	check(await sup.waitEvent((e) => e.type === 'ticket.note' && e.payload.ticket_id === K), 'the supervisor gets the note');
	check(await c.waitEvent((e) => e.type === 'ticket.message' && e.payload.ticket_id === K && JSON.stringify(e).includes('refund is on its way')),
		'the customer gets the agent\'s reply');

	// status and priority
	const st = await a1.must({ type: 'ticket_status', ticket_id: K, status: 'pending' }, 'a1 ticket_status pending');
	check(st && st.previous === 'open', 'ticket_status returns the status before (open after the agent\'s reply)', st);
	check(await c.waitEvent((e) => e.type === 'ticket.updated' && e.payload.ticket_id === K && e.payload.change === 'status' && e.payload.status === 'pending'),
		'the customer sees its ticket pending');
	const pr = await a1.must({ type: 'ticket_priority', ticket_id: K, priority: 'high' }, 'a1 ticket_priority high');
	check(pr && pr.previous === 'normal', 'ticket_priority returns the priority before', pr);
	const cpr = await c.request({ type: 'ticket_priority', ticket_id: K, priority: 'urgent' });
	check(cpr.type === 'error' && cpr.code === 'forbidden', 'a customer may not send ticket_priority', cpr);
	const bad = await a1.request({ type: 'ticket_status', ticket_id: K, status: 'bogus' });
	check(bad.type === 'error' && bad.code === 'db_error' && bad.sqlstate === '22023', 'an unknown status: db_error 22023', bad);
	const ill = await a1.request({ type: 'ticket_status', ticket_id: K, status: 'new' });
	check(ill.type === 'error' && ill.code === 'db_error' && ill.sqlstate === 'HD422' && /pending/.test(ill.message) && /new/.test(ill.message),
		'an illegal transition: db_error HD422 naming both statuses', ill);

	// assignment by the supervisor: old and new assignee are told
	const as = await sup.must({ type: 'ticket_assign', ticket_id: K, agent_id: A2, reason: 'a2 knows refunds' }, 'sup ticket_assign a2');
	check(as && as.changed === true, 'ticket_assign: changed', as);
	check(await a2.waitEvent((e) => e.type === 'ticket.updated' && e.payload.ticket_id === K && e.audience === 'agent'
		&& e.payload.change === 'assignee' && e.payload.assignee_id === A2),
	'the new assignee is told');
	check(await a1.waitEvent((e) => e.type === 'ticket.updated' && e.payload.ticket_id === K && e.audience === 'agent'
		&& e.payload.change === 'assignee' && e.payload.previous === A1 && e.payload.assignee_id === A2),
	'and so is the old one');
	const back = await a1.request({ type: 'ticket_assign', ticket_id: K, agent_id: A1 });
	check(back.type === 'error' && back.code === 'db_error' && back.sqlstate === '42501', 'a1 cannot take it back: db_error 42501', back);
	const un = await a2.must({ type: 'ticket_assign', ticket_id: K, agent_id: null }, 'a2 unassigns its ticket');
	check(un && un.changed === true, 'ticket_assign with agent_id null unassigns', un);
	await a2.must({ type: 'ticket_take', ticket_id: K }, 'a2 takes it again');

	// the list by assignee (frame tickets, assignee_id): one agent's tickets, as in the database
	const K2 = Number(await sql1(`SELECT (helpdesk.create_ticket($1, $2, 'Other', 'not a2''s', queue_id => $3)).ticket_id AS id`, [T, C2, Q]));
	await a1.must({ type: 'ticket_take', ticket_id: K2 }, 'a1 takes a second ticket');
	for (const [who, A] of [['a2', A2], ['a1', A1]]) {
		const got = await sup.must({ type: 'tickets', assignee_id: A }, `sup tickets assignee_id ${who}`);
		const db = (await sql(`SELECT id FROM helpdesk.ticket WHERE tenant_id = $1 AND assignee_id = $2 ORDER BY id DESC`, [T, A])).map((r) => Number(r.id));
		check(Array.isArray(got) && db.length > 0 && JSON.stringify(got.map((k) => k.id)) === JSON.stringify(db),
			`tickets with assignee_id: exactly ${who}'s tickets, as in the database`, { got: got && got.map((k) => k.id), db });
	}
	const e0 = await sup.request({ type: 'tickets', scope: 'unassigned', assignee_id: A1 });
	check(e0.type === 'error' && e0.code === 'bad_frame', 'assignee_id with scope unassigned: bad_frame', e0);

	// receipts
	const rd = await c.must({ type: 'ticket_read', ticket_id: K, up_to: r2 ? r2.message_id : 0 }, 'customer ticket_read');
	check(rd && rd.count === 1, 'the customer read one message (the agent\'s reply; never the note)', rd);
	check(await a2.waitEvent((e) => e.type === 'ticket.read' && e.payload.ticket_id === K), 'the assignee sees the read receipt');
	const dl = await a2.must({ type: 'ticket_delivered', ticket_id: K, up_to: r1 ? r1.message_id : 0 }, 'a2 ticket_delivered');
	check(dl && dl.count === 2, 'a2 marks the customer\'s two messages delivered', dl);

	// history: the customer's has no note, staff's has it
	const hc = await c.must({ type: 'ticket_history', ticket_id: K }, 'customer ticket_history');
	const ha = await a3.must({ type: 'ticket_history', ticket_id: K }, 'a3 ticket_history');
	const dbPublic = (await sql(`SELECT id FROM helpdesk.ticket_message WHERE tenant_id = $1 AND ticket_id = $2 AND sender_kind <> 'note' ORDER BY id`, [T, K])).map((r) => Number(r.id));
	check(Array.isArray(hc) && JSON.stringify(hc.map((m) => m.id)) === JSON.stringify(dbPublic),
		'the customer\'s history is the public thread, as in the database', { got: hc && hc.map((m) => m.id), db: dbPublic });
	check(Array.isArray(ha) && n1 && ha.some((m) => m.id === n1.message_id && m.sender_kind === 'note'), 'staff history includes the note');
	const h2 = await c2.request({ type: 'ticket_history', ticket_id: K });
	check(h2.type === 'error' && h2.code === 'forbidden', 'another customer cannot read the ticket', h2);
	const hx = await c.request({ type: 'ticket_history', ticket_id: K + 100000 });
	check(hx.type === 'error' && hx.code === 'forbidden', 'nor anyone a ticket that does not exist (same answer)', hx);

	// errors like the existing frames
	const e1 = await c2.request({ type: 'ticket_reply', ticket_id: K, text: 'not mine', client_msg_id: 'c2-1' });
	check(e1.type === 'error' && e1.code === 'db_error' && e1.sqlstate === '42501', 'another customer\'s reply: db_error 42501', e1);
	const e2 = await a1.request({ type: 'ticket_reply', ticket_id: K + 100000, text: 'x' });
	check(e2.type === 'error' && e2.code === 'db_error' && e2.sqlstate === 'HD404', 'a reply to an unknown ticket: db_error HD404', e2);
	const e3 = await a1.request({ type: 'ticket_reply', text: 'no ticket' });
	check(e3.type === 'error' && e3.code === 'bad_frame' && e3.message === 'ticket_id', 'ticket_reply without ticket_id: bad_frame naming it', e3);
	const e4 = await sup.request({ type: 'ticket_assign', ticket_id: K });
	check(e4.type === 'error' && e4.code === 'bad_frame' && e4.message === 'agent_id', 'ticket_assign without agent_id: bad_frame', e4);
	const e5 = await c.request({ type: 'ticket_take', ticket_id: K });
	check(e5.type === 'error' && e5.code === 'forbidden', 'a customer cannot take a ticket', e5);
	const e6 = await c.request({ type: 'ticket_note', ticket_id: K, text: 'psst' });
	check(e6.type === 'error' && e6.code === 'forbidden', 'nor write a note', e6);
	const e7 = await sup.request({ type: 'ticket_assign', ticket_id: K, agent_id: A1, force: 'yes' });
	check(e7.type === 'error' && e7.code === 'bad_frame' && e7.message === 'force', 'force must be a boolean', e7);

	// what each one saw, once everything is published
	await published();
	await L.sleep(300);
	const leaked = tev(c, K).filter((e) => e.type === 'ticket.note' || JSON.stringify(e).includes('INTERNAL'));
	check(leaked.length === 0, 'the customer never got the note, nor anything quoting it', leaked);
	check(tev(c, K).every((e) => e.audience === 'customer'), 'the customer got only its own (customer audience) copies',
		tev(c, K).map((e) => e.audience));
	check(!tev(c, K).some((e) => e.payload.change === 'assignee'), 'nor the assignment changes (staff only)');
	check(tev(c2, K).length === 0, 'another customer got nothing of the ticket', tev(c2, K).map((e) => e.type));
	check(tev(a3, K).length === 0, 'an agent serving neither the queue nor the ticket got nothing of it', tev(a3, K).map((e) => e.type));
	const dbTenantCopies = Number(await sql1(`SELECT count(*) AS n FROM helpdesk.event WHERE tenant_id = $1 AND audience = 'tenant'
		AND type LIKE 'ticket.%' AND (payload->>'ticket_id')::bigint = $2`, [T, K]));
	check(tev(sup, K).length === dbTenantCopies && tev(sup, K).every((e) => e.audience === 'tenant'),
		'the supervisor got each ticket event once (the tenant copy)', { got: tev(sup, K).length, db: dbTenantCopies });
	info(`ticket events seen: customer ${tev(c, K).length}, a1 ${tev(a1, K).length}, a2 ${tev(a2, K).length}, supervisor ${tev(sup, K).length}`);
	for (const x of [c, c2, a1, a2, a3, sup]) {
		x.positionsOk();
		x.stop();
	}
	return K;
}

async function scenarioAutomatic() {
	L.setScenario('automatic');
	const { T, Q, A1, A2, C } = ids;
	const a1 = await connected('a1 auto', await L.issueToken(T, 'agent', A1));
	const a2 = await connected('a2 auto', await L.issueToken(T, 'agent', A2));
	await a1.must({ type: 'status', status: 'online' }, 'a1 online');
	await a2.must({ type: 'status', status: 'online' }, 'a2 online');
	await sql(`SELECT helpdesk.set_queue_ticket_strategy($1, $2, 'round_robin')`, [T, Q]);
	const t0 = Date.now();
	const K = Number(await sql1(`SELECT (helpdesk.create_ticket($1, $2, 'Auto', 'please', queue_id => $3)).ticket_id AS id`, [T, C, Q]));
	const ev = await waitFor(() => a1.events.concat(a2.events).find((e) => e.type === 'ticket.updated' && e.audience === 'agent'
		&& e.payload.ticket_id === K && e.payload.actor_kind === 'dispatcher'), 10000);
	check(ev, 'the dispatcher assigns the new ticket and its assignee is told', ev);
	const assignee = Number(await sql1(`SELECT assignee_id AS a FROM helpdesk.ticket WHERE tenant_id = $1 AND id = $2`, [T, K]));
	check(ev && ev.audience_id === assignee && [A1, A2].includes(assignee), 'the event went to the agent the ticket was given to',
		{ event: ev && ev.audience_id, assignee });
	info(`assigned to agent ${assignee} and delivered in ${Date.now() - t0} ms`);
	const why = await sql1(`SELECT reason AS r FROM helpdesk.ticket_assignment_why WHERE tenant_id = $1 AND ticket_id = $2 AND action = 'auto'`, [T, K]);
	check(why && /round robin/.test(why), 'the audit says why', why);
	await sql(`SELECT helpdesk.set_queue_ticket_strategy($1, $2, 'manual')`, [T, Q]);
	for (const x of [a1, a2]) {
		x.positionsOk();
		x.stop();
	}
}

async function main() {
	const bridge = new L.Bridge();
	await bridge.start();
	try {
		await setup();
		await scenarioThread();
		await scenarioAutomatic();
	} finally {
		await bridge.term();
	}
}

L.runMain(main);
