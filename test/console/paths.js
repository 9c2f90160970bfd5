// The console's and the widget's paths that test/console/e2e.js does not
// walk (test/e2e/console_browser.sh runs both, on the same database):
//   - history paged on scroll by before_id: a 2,000-message conversation
//     scrolled back to its first message in the console and in the widget;
//     each page keeps the scroll position, and the DOM's message ids equal
//     the database's, in order, each once;
//   - attachment upload in the console by drag and drop and by pasting an image;
//   - an incoming offer rings (an oscillator started) and shows a desktop
//     notification (the Notification constructor called, permission granted
//     in the browser context) while the console's tab is in the background;
//   - a supervisor takes over a bot session from the supervisor view;
//   - a resolved ticket asks the customer for CSAT in the widget.
'use strict';
const { until, ok, shot } = require('./lib');
const { png, main } = require('./harness');

// scrolls box to its top until it holds want messages; at each page the
// message that was on top must stay where it was on the screen (the position
// is kept), right after the page is added and again once the browser has
// rendered it (the console's messages are content-visibility: auto: a page
// laid out with placeholder heights must not jump when it is painted). A
// page may take long on a loaded machine: each wait ends on progress, not on
// a fixed count of short sleeps.
async function scrollBack(frame, boxSel, want) {
  return frame.evaluate(async ({ boxSel, want }) => {
    const box = document.querySelector(boxSel);
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    const afterFrames = async (n) => { for (let i = 0; i < n; i++) await new Promise((r) => requestAnimationFrame(r)); };
    const shown = () => box.querySelectorAll('.msg[data-id]').length;
    let pages = 0, moved = 0, stale = 0;
    const jumps = [];
    for (let k = 0; k < 400 && shown() < want && stale < 3; k++) {
      const first = box.querySelector('.msg[data-id]');
      const n = shown();
      box.scrollTop = 0;
      const top = first.getBoundingClientRect().top;    // where the user sees it, at the top
      box.dispatchEvent(new Event('scroll'));
      // wait for this page (from memory or from the bridge), up to 10 s
      const end = Date.now() + 10000;
      while (shown() === n && Date.now() < end) await sleep(20);
      if (shown() === n) { stale++; continue; }
      stale = 0;
      pages++;
      const now = first.getBoundingClientRect().top;
      await afterFrames(3);
      const painted = first.getBoundingClientRect().top;
      if (Math.abs(now - top) > 2 || Math.abs(painted - top) > 2) { moved++; jumps.push(`page ${pages}: ${Math.round(now - top)}/${Math.round(painted - top)} px`); }
    }
    return { pages, moved, jumps, ids: [...box.querySelectorAll('.msg[data-id]')].map((e) => e.dataset.id).filter(Boolean) };
  }, { boxSel, want });
}

main('console paths', async ({ BASE, q, one, bridge, b, watch }) => {
  // a tenant of its own: 2,000 messages in one session held by Pia; a bot
  // tenant for the takeover (the fake Dify of console_browser.sh)
  const T = Number(await one(`SELECT helpdesk.upsert_tenant('paging', 'Paging', heartbeat_interval => '1 hour')`));
  const Q = Number(await one('SELECT helpdesk.upsert_queue($1, \'main\', \'Main\', is_default => true)', [T]));
  const pia = Number(await one('SELECT helpdesk.upsert_agent($1, \'pia\', \'Pia\', max_sessions => 20)', [T]));
  const cust = Number(await one('SELECT helpdesk.upsert_customer($1, \'pc\', \'Pat\')', [T]));
  const cust2 = Number(await one('SELECT helpdesk.upsert_customer($1, \'pc2\', \'Pam\')', [T]));
  await q('SELECT helpdesk.set_csat($1, \'on\')', [T]);
  const sid = Number(await one('SELECT session_id FROM helpdesk.start_session($1, $2, first_message => \'第 1 条\')', [T, cust]));
  await q('SELECT helpdesk.set_agent_status($1, $2, \'online\')', [T, pia]);
  await until('Pia holds the session', async () => {
    const s = (await q('SELECT state, agent_id FROM helpdesk.session WHERE id = $1', [sid]))[0];
    if (s.state === 'queued') await q('SELECT helpdesk.claim_session($1, $2, $3)', [T, pia, sid]).catch(() => null);
    if (s.state === 'offered') await q('SELECT helpdesk.accept_offer($1, $2, $3)', [T, pia, sid]).catch(() => null);
    return s.state === 'active' && Number(s.agent_id) === pia;
  }, 15000);
  await q(`SELECT helpdesk.post_message($1, $2, CASE WHEN g % 3 = 0 THEN 'note' WHEN g % 2 = 0 THEN 'customer' ELSE 'agent' END,
    CASE WHEN g % 2 = 0 AND g % 3 <> 0 THEN $3::bigint ELSE $4::bigint END, '消息 ' || g || ' — a line of a long conversation')
    FROM generate_series(1, 2000 - (SELECT count(*) FROM helpdesk.message WHERE session_id = $2)::int) g`, [T, sid, cust, pia]);
  const dbStaff = (await q('SELECT id FROM helpdesk.message WHERE session_id = $1 ORDER BY id', [sid])).map((r) => String(r.id));
  const dbCust = (await q('SELECT id FROM helpdesk.message WHERE session_id = $1 AND sender_kind <> \'note\' ORDER BY id', [sid])).map((r) => String(r.id));
  ok(dbStaff.length === 2000, 'the paged conversation has 2,000 messages');
  const token = (kind, id, tenant = T) => one('SELECT helpdesk.issue_token($1, $2, $3, \'2 hours\')', [tenant, kind, id]);

  await bridge.start();
  // ---- the console: notification and sound spies, background-able tab
  const ctx = await b.newContext({ viewport: { width: 1280, height: 800 } });
  await ctx.grantPermissions(['notifications'], { origin: BASE });
  await ctx.addInitScript(() => {
    window.hdSpy = { notes: [], tones: 0, hidden: false };
    const N = window.Notification;
    if (N) {
      const Spy = function Notification(title, opts) { window.hdSpy.notes.push({ title, body: opts && opts.body }); return new N(title, opts); };
      Object.defineProperty(Spy, 'permission', { get: () => N.permission });
      Spy.requestPermission = N.requestPermission.bind(N);
      window.Notification = Spy;
    }
    const start = OscillatorNode.prototype.start;
    OscillatorNode.prototype.start = function (...a) { window.hdSpy.tones++; return start.apply(this, a); };
    Object.defineProperty(Document.prototype, 'hidden', { get: () => window.hdSpy.hidden, configurable: true });
  });
  const page = await ctx.newPage();
  watch(page, 'pia');
  await page.goto(`${BASE}/console/#token=${await token('agent', pia)}`);
  await page.waitForSelector('body[data-ready="1"]', { timeout: 15000 });

  // ---- history paged on scroll, console (staff: notes included)
  const frames = [];
  page.on('websocket', (ws) => ws.on('framesent', (f) => { if (String(f.payload).includes('"history"')) frames.push(JSON.parse(f.payload)); }));
  await page.reload();
  await page.waitForSelector('body[data-ready="1"]', { timeout: 15000 });
  await page.locator(`#list li[data-session="${sid}"]`).click();
  await page.locator('#messages .msg[data-id]').first().waitFor();
  const firstShown = await page.$$eval('#messages .msg[data-id]', (l) => l.length);
  ok(firstShown > 0 && firstShown <= 100, `opening shows the latest page only (${firstShown} messages, not 2,000)`);
  const c = await scrollBack(page, '#messages', dbStaff.length);
  ok(c.moved === 0, `each of the console's ${c.pages} scroll pages keeps the scroll position (${c.moved} moved${c.moved ? `: ${c.jumps.join(', ')}` : ''})`);
  ok(JSON.stringify(c.ids) === JSON.stringify(dbStaff), `console: the DOM's 2,000 message ids equal the database's, in order, each once (${c.ids.length})`);
  ok(frames.length > 1 && frames.every((f) => f.before_id && !f.after_id), `the console asked by before_id, page by page (${frames.length} history frames)`);

  // ---- history paged on scroll, widget (customer: no notes)
  const wctx = await b.newContext({ viewport: { width: 360, height: 640 }, isMobile: true, hasTouch: true });
  const wp = await wctx.newPage();
  watch(wp, 'pat');
  await wp.goto(`${BASE}/widget/#token=${await token('customer', cust)}`);
  await wp.locator('#w-chat:not([hidden]) #w-messages .msg[data-id]').first().waitFor({ timeout: 15000 });
  const wFirst = await wp.$$eval('#w-messages .msg[data-id]', (l) => l.length);
  ok(wFirst > 0 && wFirst <= 50, `the widget opens on the latest page (${wFirst} messages)`);
  const wr = await scrollBack(wp, '#w-messages', dbCust.length);
  ok(wr.moved === 0, `each of the widget's ${wr.pages} scroll pages keeps the scroll position (${wr.moved} moved${wr.moved ? `: ${wr.jumps.join(', ')}` : ''})`);
  ok(JSON.stringify(wr.ids) === JSON.stringify(dbCust), `widget: the DOM's message ids equal the database's public ones, in order, each once (${wr.ids.length})`);
  await wctx.close();

  // ---- attachments in the console: drag and drop, paste an image
  const bytes = [...png()];
  const before = Number(await one('SELECT count(*) FROM helpdesk.message WHERE session_id = $1 AND type = \'image\'', [sid]));
  await page.evaluate((bytes) => {
    const dt = new DataTransfer();
    dt.items.add(new File([new Uint8Array(bytes)], 'dropped.png', { type: 'image/png' }));
    const drop = document.querySelector('#drop');
    drop.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
    drop.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, bytes);
  const dropped = await until('the dropped image stored', async () => (await q(`SELECT id, attachment FROM helpdesk.message
    WHERE session_id = $1 AND type = 'image' AND attachment->>'name' = 'dropped.png'`, [sid]))[0]);
  ok(dropped.attachment.upload_id && dropped.attachment.mime === 'image/png', 'a file dropped on the composer is uploaded and sent as an image message');
  await until('the dropped image decoded', () => page.$eval(`.msg[data-id="${dropped.id}"] img.preview`, (i) => { i.scrollIntoView(); return i.complete && i.naturalWidth === 8; }), 15000)
    .catch(async (e) => { throw new Error(`${e.message}: ${await page.$eval(`.msg[data-id="${dropped.id}"]`, (x) => x.outerHTML).catch(() => 'no such message in the DOM')}`); });
  await page.evaluate((bytes) => {
    const dt = new DataTransfer();
    dt.items.add(new File([new Uint8Array(bytes)], 'pasted.png', { type: 'image/png' }));
    const input = document.querySelector('#input');
    input.focus();
    input.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
  }, bytes);
  const pasted = await until('the pasted image stored', async () => (await q(`SELECT id, attachment FROM helpdesk.message
    WHERE session_id = $1 AND type = 'image' AND attachment->>'name' = 'pasted.png'`, [sid]))[0]);
  await until('the pasted image decoded', () => page.$eval(`.msg[data-id="${pasted.id}"] img.preview`, (i) => { i.scrollIntoView(); return i.complete && i.naturalWidth === 8; }), 15000)
    .catch(async (e) => { throw new Error(`${e.message}: ${await page.$eval(`.msg[data-id="${pasted.id}"]`, (x) => x.outerHTML).catch(() => 'no such message in the DOM')}`); });
  ok(Number(await one('SELECT count(*) FROM helpdesk.message WHERE session_id = $1 AND type = \'image\'', [sid])) === before + 2,
    'an image pasted into the composer is uploaded and sent, shown once');

  // ---- an incoming offer while the tab is in the background: sound and notification
  ok(await page.evaluate(() => Notification.permission) === 'granted', 'the notification permission is granted in the context');
  await page.evaluate(() => { window.hdSpy.hidden = true; window.hdSpy.notes = []; window.hdSpy.tones = 0; });
  const sid2 = Number(await one('SELECT session_id FROM helpdesk.start_session($1, $2, first_message => \'有人吗\')', [T, cust2]));
  await page.locator(`.offer[data-session="${sid2}"]`).waitFor({ timeout: 15000 });
  const spy = await until('the notification', async () => { const s = await page.evaluate(() => window.hdSpy); return s.notes.length ? s : null; });
  ok(spy.notes.length === 1 && spy.notes[0].body.includes(String(sid2)), `an offer shows one desktop notification naming the session (${JSON.stringify(spy.notes)})`);
  ok(spy.tones >= 1, `an offer plays the sound (${spy.tones} tone started)`);
  await page.evaluate(() => { window.hdSpy.hidden = false; });
  await page.locator(`.offer[data-session="${sid2}"] button.accept`).click();
  await until('the offer accepted', async () => (await one('SELECT state FROM helpdesk.session WHERE id = $1', [sid2])) === 'active');

  // ---- a resolved ticket asks the customer for CSAT in the widget (tenant
  // tcsat: nobody online, so the widget's message becomes an offline ticket)
  const TT = Number(await one(`SELECT helpdesk.upsert_tenant('tcsat', 'Ticket CSAT', heartbeat_interval => '1 hour')`));
  await q('SELECT helpdesk.upsert_queue($1, \'main\', \'Main\', is_default => true)', [TT]);
  const tag = Number(await one('SELECT helpdesk.upsert_agent($1, \'tia\', \'Tia\')', [TT]));
  const tc = Number(await one('SELECT helpdesk.upsert_customer($1, \'tc\', \'Tom\')', [TT]));
  await q('SELECT helpdesk.set_csat($1, \'on\')', [TT]);
  await q('SELECT helpdesk.set_ticket_settings($1, offline_tickets => true)', [TT]);
  const tctx = await b.newContext({ viewport: { width: 360, height: 640 }, isMobile: true, hasTouch: true });
  const tp = await tctx.newPage();
  watch(tp, 'tom');
  await tp.goto(`${BASE}/widget/#token=${await token('customer', tc, TT)}`);
  await tp.locator('#w-prechat:not([hidden])').waitFor({ timeout: 15000 });
  await tp.locator('#w-prechat textarea').fill('钻石没到账');
  await tp.locator('#w-prechat button[type=submit]').click();
  await tp.locator('#w-ticket:not([hidden])').waitFor({ timeout: 15000 });
  await tp.locator('#w-ticket-messages .msg', { hasText: '钻石没到账' }).waitFor();
  const tk = Number(await one('SELECT id FROM helpdesk.ticket WHERE tenant_id = $1 AND customer_id = $2', [TT, tc]));
  ok(await tp.locator('#w-ticket-csat:not([hidden])').count() === 0, 'an open ticket asks for no CSAT in the widget');
  await q('SELECT helpdesk.set_ticket_status($1, $2, \'resolved\', \'agent\', $3)', [TT, tk, tag]);
  await tp.locator('#w-ticket-csat:not([hidden])').waitFor({ timeout: 15000 });
  await tp.locator('#w-ticket-csat .star[data-score="4"]').click();
  if (process.env.SHOTS) await shot(tp, process.env.SHOTS, 'widget-ticket-csat.zh-CN');
  await tp.locator('#w-ticket-csat-send').click();
  await tp.locator('#w-ticket-csat-done:not([hidden])').waitFor();
  ok(Number(await one('SELECT score FROM helpdesk.csat WHERE tenant_id = $1 AND ticket_id = $2', [TT, tk])) === 4,
    'a resolved ticket asks for CSAT in the widget, and the stars are stored (4)');
  await tctx.close();
  await ctx.close();

  // ---- a supervisor takes over a bot session
  const BT = Number(await one(`SELECT id FROM helpdesk.tenant WHERE slug = 'botgame'`));
  const boss = Number(await one('SELECT helpdesk.upsert_agent($1, \'boss\', \'Boss\', max_sessions => 0)', [BT]));
  await q('SELECT helpdesk.set_agent_role($1, $2, \'supervisor\')', [BT, boss]);
  const bc = Number(await one('SELECT helpdesk.upsert_customer($1, \'b9\', \'Bot Nine\')', [BT]));
  const bsid = Number(await one('SELECT session_id FROM helpdesk.start_session($1, $2, first_message => \'hello bot\')', [BT, bc]));
  await until('a bot session', async () => (await one('SELECT state FROM helpdesk.session WHERE id = $1', [bsid])) === 'bot', 15000);
  const sctx = await b.newContext({ viewport: { width: 1280, height: 800 } });
  const sp = await sctx.newPage();
  watch(sp, 'boss');
  await sp.goto(`${BASE}/console/#token=${await token('supervisor', boss, BT)}`);
  await sp.waitForSelector('body[data-ready="1"]', { timeout: 15000 });
  await sp.click('[data-view=supervisor]');
  const row = sp.locator('#sup-bots li', { hasText: `#${bsid}` });
  await row.waitFor({ timeout: 15000 });
  await row.locator('button').click();
  await until('the bot session handed to a human queue', async () => (await one('SELECT state FROM helpdesk.session WHERE id = $1', [bsid])) !== 'bot');
  ok(['queued', 'offered', 'active'].includes(await one('SELECT state FROM helpdesk.session WHERE id = $1', [bsid])),
    'the supervisor\'s takeover hands the bot session to a human queue');
  await until('the takeover leaves the bot list', async () => (await sp.locator('#sup-bots li', { hasText: `#${bsid}` }).count()) === 0);
  ok(true, 'the bot session leaves the supervisor\'s bot list');
  await sctx.close();
  void Q;
});
