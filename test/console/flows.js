// The console's controls that e2e.js and paths.js do not press, each checked
// against the database (test/e2e/console_browser.sh runs it after them, on
// the same database, in a tenant of its own):
//   - the status switch: online, away, busy and back, each reaching
//     helpdesk.agent, and shown again after a reload;
//   - declining an offer: the card goes, the assignment ends as declined, the
//     session is not the agent's;
//   - claiming from the Queue tab (a manual queue): the count, the item, the
//     claim button, the session active with the agent, then in Mine;
//   - search and filters of the conversation list: for each search text and
//     filter, the sessions listed equal the database's answer, in order;
//   - the tickets' assignee filter: a supervisor picks an agent (frame
//     tickets with assignee_id) and sees exactly that agent's tickets; an
//     agent is offered no such choice;
//   - a ticket's SLA countdown runs, matching the database's due time;
//   - agent-to-agent chat both ways: the supervisor writes, the agent answers
//     from the message's toast.
'use strict';
const { sleep, until, ok } = require('./lib');
const { main } = require('./harness');

const ids = async (page, sel, attr) => page.$$eval(sel, (l, a) => l.map((e) => Number(e.getAttribute(a))), attr);
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

main('console flows', async ({ BASE, q, one, bridge, b, watch }) => {
  const T = Number(await one(`SELECT helpdesk.upsert_tenant('flows', 'Flows', heartbeat_interval => '1 hour')`));
  const Qa = Number(await one(`SELECT helpdesk.upsert_queue($1, 'main', 'Main', is_default => true)`, [T]));
  const Qm = Number(await one(`SELECT helpdesk.upsert_queue($1, 'manual', 'Manual', strategy => 'manual')`, [T]));
  const Qn = Number(await one(`SELECT helpdesk.upsert_queue($1, 'manual2', 'Manual two', strategy => 'manual')`, [T]));
  await q(`SELECT helpdesk.set_queue_sla($1, $2, '1 hour')`, [T, Qm]);   // sessions of Qm have an SLA due time, Qn's none
  const fay = Number(await one(`SELECT helpdesk.upsert_agent($1, 'fay', 'Fay', max_sessions => 20)`, [T]));
  const gus = Number(await one(`SELECT helpdesk.upsert_agent($1, 'gus', 'Gus', max_sessions => 20)`, [T]));
  const boss = Number(await one(`SELECT helpdesk.upsert_agent($1, 'boss', 'Boss', max_sessions => 0)`, [T]));
  await q(`SELECT helpdesk.set_agent_role($1, $2, 'supervisor')`, [T, boss]);
  const cust = {};
  for (const [ext, name, vip] of [['k1', 'Zhao Yi', 0], ['k2', 'Wang Wu', 0], ['k3', 'Li Lei', 3], ['k4', 'Han Meimei', 0],
    ['k5', 'Li Hua', 1], ['k6', 'Zhang San', 0]]) {
    cust[ext] = Number(await one('SELECT helpdesk.upsert_customer($1, $2, $3, $4::smallint)', [T, ext, name, vip]));
  }
  const token = (kind, id) => one(`SELECT helpdesk.issue_token($1, $2, $3, '2 hours')`, [T, kind, id]);
  const status = () => one('SELECT status FROM helpdesk.agent WHERE tenant_id = $1 AND id = $2', [T, fay]);
  const session = async (sid) => (await q('SELECT state, agent_id FROM helpdesk.session WHERE tenant_id = $1 AND id = $2', [T, sid]))[0];

  await bridge.start();
  const ctx = await b.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  watch(page, 'fay');
  await page.goto(`${BASE}/console/#token=${await token('agent', fay)}`);
  await page.waitForSelector('body[data-ready="1"]', { timeout: 15000 });

  // ---- the status switch reaches the database, and comes back from it
  for (const st of ['online', 'away', 'busy']) {
    await page.selectOption('#status', st);
    await until(`fay ${st} in the database`, async () => (await status()) === st);
    ok(true, `the status switch sets the agent ${st} in the database`);
  }
  await page.reload();
  await page.waitForSelector('body[data-ready="1"]', { timeout: 15000 });
  await until('the switch shows the stored status', async () => (await page.inputValue('#status')) === 'busy');
  ok(await status() === 'busy', 'after a reload the switch shows the status the database holds (busy)');
  await page.selectOption('#status', 'online');
  await until('fay online again', async () => (await status()) === 'online');
  ok(true, 'and back online');

  // ---- decline an offer
  const s1 = Number(await one(`SELECT session_id FROM helpdesk.start_session($1, $2, first_message => '能退款吗')`, [T, cust.k1]));
  const card = page.locator(`.offer[data-session="${s1}"]`);
  await card.waitFor({ timeout: 15000 });
  ok((await session(s1)).state === 'offered' && Number((await session(s1)).agent_id) === fay, 'the session is offered to the agent (card shown)');
  await card.locator('button.decline').click();
  const declined = await until('the offer declined in the database', async () => (await q(`SELECT end_reason FROM helpdesk.session_assignment
    WHERE tenant_id = $1 AND session_id = $2 AND agent_id = $3 AND end_reason IS NOT NULL`, [T, s1, fay]))[0]);
  ok(declined.end_reason === 'declined', 'decline on the card ends the offer as declined in the database');
  const after = await session(s1);
  ok(after.state !== 'active' && Number(after.agent_id || 0) !== fay, `the declined session is not the agent's (${after.state})`);
  ok(await card.count() === 0, 'the offer card is gone');
  await until('the declined session leaves Mine', async () => await page.locator('[data-tab=mine][aria-selected=true]').count() === 1 &&
    await page.locator(`#list li[data-session="${s1}"]`).count() === 0);
  ok(true, 'and the session is not in the agent\'s Mine list');
  await q(`SELECT helpdesk.close_session($1, $2)`, [T, s1]);   // before the cool-down offers it to her again

  // ---- claim from the Queue tab (manual queue)
  const s2 = Number(await one(`SELECT session_id FROM helpdesk.start_session($1, $2, queue_id => $3, first_message => '充值没到账')`, [T, cust.k2, Qm]));
  ok((await session(s2)).state === 'queued', 'a session waits in the manual queue');
  await until('the Queue tab has it', async () => same(await page.evaluate(() => window.hdConsole.S.lists.queue.map((x) => x.id)), [s2]));
  ok(await page.textContent('[data-count=queue]') === '1', 'the Queue tab counts the waiting session');
  await page.click('[data-tab=queue]');
  await page.locator(`#list li[data-session="${s2}"][data-state="queued"]`).click();
  await page.locator('#btn-claim:not([hidden])').waitFor();
  ok(await page.isDisabled('#input'), 'before the claim the composer is off');
  await page.click('#btn-claim');
  await until('claimed in the database', async () => { const s = await session(s2); return s.state === 'active' && Number(s.agent_id) === fay; });
  ok((await one(`SELECT kind FROM helpdesk.session_assignment WHERE tenant_id = $1 AND session_id = $2 AND agent_id = $3`, [T, s2, fay])) === 'claim',
    'claim from the Queue tab: the session is active with the agent, a claim in the database');
  // the queued conversation already showed its last message as a preview:
  // wait for the claim's reopening (composer on), then for the history
  await until('the composer is on after the claim', async () => !(await page.isDisabled('#input')));
  await page.locator('#messages .msg', { hasText: '充值没到账' }).waitFor();
  ok(!(await page.isDisabled('#input')), 'the claimed conversation opens with the composer on');
  await until('the Queue tab empties', async () => (await page.textContent('[data-count=queue]')) === '0');
  await page.click('[data-tab=mine]');
  await page.locator(`#list li[data-session="${s2}"][data-state="active"]`).waitFor();
  ok(true, 'the claimed session is in Mine');

  // ---- search and filters of the conversation list
  const held = {};
  for (const [ext, queue, text] of [['k3', Qm, '账号被封'], ['k4', Qn, '游戏闪退'], ['k5', Qn, '我要退款'], ['k6', Qm, '装备丢失']]) {
    held[ext] = Number(await one(`SELECT session_id FROM helpdesk.start_session($1, $2, queue_id => $3, first_message => $4)`, [T, cust[ext], queue, text]));
    await q('SELECT helpdesk.claim_session($1, $2, $3)', [T, fay, held[ext]]);
  }
  // read: k2 (opened above), k3, k6; unread: k4, k5
  for (const ext of ['k3', 'k6']) {
    await q(`SELECT helpdesk.mark_read($1, $2, 'agent', $3, (SELECT max(id) FROM helpdesk.message WHERE tenant_id = $1 AND session_id = $2))`, [T, held[ext], fay]);
  }
  await page.reload();
  await page.waitForSelector('body[data-ready="1"]', { timeout: 15000 });
  const mine = `SELECT s.id FROM helpdesk.session s JOIN helpdesk.customer c ON c.tenant_id = s.tenant_id AND c.id = s.customer_id
    WHERE s.tenant_id = $1 AND s.agent_id = $2 AND s.state IN ('offered', 'active')`;
  const dbList = async (where = 'true', params = []) => (await q(`${mine} AND (${where}) ORDER BY s.id`, [T, fay, ...params])).map((r) => Number(r.id));
  const shown = () => ids(page, '#list li[data-session]', 'data-session');
  const all = await dbList();
  await until('the Mine list', async () => same(await shown(), all));
  ok(all.length === 5, `Mine lists the agent's 5 sessions, as in the database (${all})`);
  const lastBody = `(SELECT m.body FROM helpdesk.message m WHERE m.tenant_id = s.tenant_id AND m.session_id = s.id AND m.sender_kind <> 'note' ORDER BY m.id DESC LIMIT 1)`;
  // what the search looks in: the customer's name, the session id, the last message, the issue type
  const hay = `lower(coalesce(c.display_name, c.external_id) || ' ' || s.id || ' ' || coalesce(${lastBody}, '') || ' ' || coalesce(s.issue_type, ''))`;
  const cases = [
    ['search "li" (customer names)', 'li', '', `${hay} LIKE $3`, ['%li%']],
    ['search "退款" (last message)', '退款', '', `${hay} LIKE $3`, ['%退款%']],
    ['filter VIP', '', 'vip', 'c.vip_level > 0', []],
    ['filter unread', '', 'unread', `EXISTS (SELECT 1 FROM helpdesk.message m WHERE m.tenant_id = s.tenant_id AND m.session_id = s.id
      AND m.sender_kind = 'customer' AND m.read_at IS NULL)`, []],
    ['filter SLA', '', 'sla', 's.sla_first_response_due IS NOT NULL OR s.sla_breached_at IS NOT NULL', []],
    ['search "li" and filter unread', 'li', 'unread', `${hay} LIKE $3 AND EXISTS (SELECT 1 FROM helpdesk.message m
      WHERE m.tenant_id = s.tenant_id AND m.session_id = s.id AND m.sender_kind = 'customer' AND m.read_at IS NULL)`, ['%li%']],
  ];
  for (const [what, text, filter, where, params] of cases) {
    await page.fill('#search', text);
    await page.selectOption('#filter', filter);
    const want = await dbList(where, params);
    const got = await shown();
    ok(want.length > 0 && want.length < all.length && same(got, want), `${what}: the list equals the database's ${JSON.stringify(want)} (shown ${JSON.stringify(got)})`);
  }
  await page.fill('#search', 'nobody-like-this');
  await page.selectOption('#filter', '');
  ok((await shown()).length === 0 && await page.locator('#list li.none').count() === 1, 'a search nothing matches shows the empty list');
  await page.fill('#search', '');
  ok(same(await shown(), all), 'clearing the search shows every session again');

  // ---- the tickets' assignee filter: an agent's tickets, for a supervisor
  const tickets = [];
  for (const [ext, who] of [['k1', fay], ['k2', gus], ['k3', fay], ['k4', null], ['k5', gus], ['k6', fay]]) {
    const k = Number(await one(`SELECT ticket_id FROM helpdesk.create_ticket($1, $2, $3, 'please help')`, [T, cust[ext], `Ticket of ${ext}`]));
    if (who) await q(`SELECT helpdesk.assign_ticket($1, $2, $3, 'supervisor', $4)`, [T, k, who, boss]);
    tickets.push(k);
  }
  await page.click('[data-view=tickets]');
  await page.locator('#t-list li[data-ticket]').first().waitFor();
  ok(await page.locator('#t-scope optgroup, #t-scope option[value^="@"]').count() === 0, 'an agent\'s assignee filter offers no other agents');
  const sctx = await b.newContext({ viewport: { width: 1280, height: 800 } });
  const sp = await sctx.newPage();
  watch(sp, 'boss');
  const frames = [];
  sp.on('websocket', (ws) => ws.on('framesent', (f) => { if (String(f.payload).includes('"tickets"')) frames.push(JSON.parse(f.payload)); }));
  await sp.goto(`${BASE}/console/#token=${await token('supervisor', boss)}`);
  await sp.waitForSelector('body[data-ready="1"]', { timeout: 15000 });
  await sp.click('[data-view=tickets]');
  await sp.locator('#t-list li[data-ticket]').first().waitFor();
  const opts = await sp.$$eval('#t-scope option[value^="@"]', (l) => l.map((o) => o.value));
  const dirAgents = (await q('SELECT id FROM helpdesk.agent WHERE tenant_id = $1 ORDER BY id', [T])).map((r) => `@${r.id}`);
  ok(same([...opts].sort(), [...dirAgents].sort()), `a supervisor's assignee filter offers every agent of the tenant (${opts})`);
  const tshown = () => ids(sp, '#t-list li[data-ticket]', 'data-ticket');
  for (const [name, id, where] of [['Fay', fay, 'assignee_id = $2'], ['Gus', gus, 'assignee_id = $2'], ['unassigned', null, 'assignee_id IS NULL']]) {
    const want = (await q(`SELECT id FROM helpdesk.ticket WHERE tenant_id = $1 AND ${where} ORDER BY id DESC`, id ? [T, id] : [T])).map((r) => Number(r.id));
    await sp.selectOption('#t-scope', id ? `@${id}` : 'unassigned');
    await until(`${name}'s tickets`, async () => same(await tshown(), want));
    ok(want.length > 0 && want.length < tickets.length, `assignee filter ${name}: the list equals the database's ${JSON.stringify(want)}`);
  }
  ok(frames.some((f) => f.assignee_id === fay && f.scope === 'all') && frames.some((f) => f.assignee_id === gus),
    'the filter asks with the documented frame (tickets, scope all, assignee_id)');
  await sp.selectOption('#t-scope', 'all');
  const everything = (await q('SELECT id FROM helpdesk.ticket WHERE tenant_id = $1 ORDER BY id DESC', [T])).map((r) => Number(r.id));
  await until('all tickets again', async () => same(await tshown(), everything));
  ok(true, 'scope all lists every ticket of the tenant again');

  // ---- the SLA countdown of a ticket runs, and says what the database says
  await q(`SELECT helpdesk.upsert_sla_policy($1, 'urgent fast', 1, first_response => '50 s', priorities => '{urgent}')`, [T]);
  const ku = Number(await one(`SELECT ticket_id FROM helpdesk.create_ticket($1, $2, 'Urgent one', 'hurry', priority => 'urgent')`, [T, cust.k6]));
  const due = new Date(await until('the ticket\'s SLA due time', () => one('SELECT sla_first_response_due FROM helpdesk.ticket WHERE tenant_id = $1 AND id = $2', [T, ku]))).getTime();
  await sp.locator(`#t-list li[data-ticket="${ku}"]`).click();
  const cd = sp.locator('#t-detail .sla-countdown');
  await cd.waitFor();
  const secs = async () => Number(((await cd.textContent()).match(/(\d+)/) || [])[1]);
  const s1t = await secs();
  const at1 = Date.now();
  await until('the countdown moves', async () => (await secs()) <= s1t - 2, 6000);
  const s2t = await secs();
  const want = (due - Date.now()) / 1000;
  ok(s2t < s1t && Math.abs(s2t - want) <= 3, `the ticket's SLA countdown runs (${s1t} s, then ${s2t} s after ${Date.now() - at1} ms) and matches the database's due time (${want.toFixed(1)} s left)`);

  // ---- agent-to-agent chat both ways: the supervisor writes, the agent replies from the toast
  await sp.click('[data-view=supervisor]');
  sp.once('dialog', (d) => d.accept('请看一下 VIP 工单'));
  await sp.locator('#sup-agents tr', { hasText: 'Fay' }).locator('button').click();
  const got = page.locator('.toast', { hasText: '请看一下 VIP 工单' });
  await got.waitFor({ timeout: 10000 });
  await sleep(500);
  ok(await sp.locator('.toast', { hasText: '请看一下 VIP 工单' }).count() === 0, 'the supervisor gets no toast of its own message (only messages to it)');
  page.once('dialog', (d) => d.accept('好的，马上处理'));
  await got.locator('button.toast-action').click();
  const reply = await until('the reply in the event log', async () => (await q(`SELECT payload FROM helpdesk.event WHERE tenant_id = $1
    AND type = 'agent.message' AND audience = 'agent' AND audience_id = $2 AND payload->>'body' = '好的，马上处理'`, [T, boss]))[0]);
  ok(Number(reply.payload.from_agent_id) === fay, 'the agent replies from the message\'s toast: an agent.message to the supervisor, from the agent');
  await sp.locator('.toast', { hasText: '好的，马上处理' }).waitFor({ timeout: 10000 });
  ok(true, 'the supervisor sees the reply');

  await sctx.close();
  await ctx.close();
  void Qa;
});
