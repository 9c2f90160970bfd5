// The console in chromium, measured in the browser (bench/console/run.sh).
// Per round, each in a fresh browser context (cold cache):
//   - first load of /console/ until the sign-in form is shown: bytes over the
//     wire (encoded sizes: headers + compressed bodies) and time from
//     navigation start, served by the bridge and by the node peer;
//   - a reload in the same context (warm cache: immutable modules, 304 for index.html);
//   - time to interactive with a token: connected, directory and the lists of
//     300 open conversations loaded and rendered (window.hdReadyAt);
//   - the list's render (300 items, layout forced), median of 10;
//   - the 2,000-message conversation: open (the latest history page of 100 over
//     the socket, before_id; 60 rendered), each scroll page (60 more, from memory
//     or after the next page of 100 from the bridge), and a render of all 2,000.
'use strict';
const { browser } = require('../../test/console/lib');

const rounds = Number(process.env.BENCH_ROUNDS || 3);
const bridge = `http://127.0.0.1:${process.env.BRIDGE_PORT}`;
const peer = `http://127.0.0.1:${process.env.PEER_PORT}`;
const token = process.env.TOKEN;

const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor((s.length - 1) / 2)]; };
const fmt = (a, d = 0) => `${median(a).toFixed(d)} (${Math.min(...a).toFixed(d)}-${Math.max(...a).toFixed(d)})`;

// noEarly: console/early.js is refused, so the socket opens only once the
// modules have run (the console as it was before early.js: the same-run peer)
async function load(b, base, hash, ready, noEarly = false) {
  const ctx = await b.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  if (noEarly) await page.route('**/early.js', (r) => r.abort());
  let bytes = 0;
  let requests = 0;
  page.on('requestfinished', async (req) => {
    const s = await req.sizes().catch(() => null);
    if (s) { bytes += s.responseHeadersSize + s.responseBodySize; requests++; }
  });
  await page.goto(`${base}/console/${hash}`);
  await page.waitForSelector(ready, { timeout: 30000 });
  const ms = await page.evaluate(() => window.hdReadyAt ?? performance.now());
  await page.waitForTimeout(200);        // the last requestfinished events
  return { ctx, page, ms, bytes, requests };
}

async function main() {
  const b = await browser();
  const r = { bBytes: [], bMs: [], pBytes: [], pMs: [], warmBytes: [], warmMs: [], tti: [], ttiLate: [], ttiBytes: [], list: [], open: [], page: [], pageMax: [], all: [] };
  try {
    // warm-up (not counted): the browser's first renderer start would land on whoever goes first
    for (const base of [bridge, peer]) (await load(b, base, '', '#login:not([hidden])')).ctx.close();
    for (let i = 0; i < rounds; i++) {
      // first load, sign-in form: bridge and peer, the order alternating per round
      const pair = [[bridge, 'bBytes', 'bMs'], [peer, 'pBytes', 'pMs']];
      if (i % 2) pair.reverse();
      for (const [base, kb, km] of pair) {
        const x = await load(b, base, '', '#login:not([hidden])');
        r[kb].push(x.bytes); r[km].push(x.ms);
        if (base === bridge) {
          let warm = 0;
          x.page.on('requestfinished', async (req) => { const s = await req.sizes().catch(() => null); if (s) warm += s.responseHeadersSize + s.responseBodySize; });
          await x.page.reload();
          await x.page.waitForSelector('#login:not([hidden])');
          r.warmMs.push(await x.page.evaluate(() => performance.now()));
          await x.page.waitForTimeout(200);
          r.warmBytes.push(warm);
        }
        await x.ctx.close();
      }
      // time to interactive with 300 conversations: without the early socket, then with it
      const late = await load(b, bridge, `#token=${token}`, 'body[data-ready="1"]', true);
      r.ttiLate.push(late.ms);
      await late.ctx.close();
      const x = await load(b, bridge, `#token=${token}`, 'body[data-ready="1"]');
      r.tti.push(x.ms); r.ttiBytes.push(x.bytes);
      const n = await x.page.evaluate(() => document.querySelectorAll('#list li[data-session]').length);
      if (n !== 300) throw new Error(`the list shows ${n} conversations, not 300`);
      r.list.push(await x.page.evaluate(() => {
        const t = [];
        for (let k = 0; k < 10; k++) {
          const t0 = performance.now();
          window.hdConsole.renderList();
          void document.body.offsetHeight;
          t.push(performance.now() - t0);
        }
        t.sort((a, c) => a - c);
        return t[4];
      }));
      // the 2,000-message conversation
      const conv = await x.page.evaluate(async () => {
        const t0 = performance.now();
        await window.hdConsole.openSession(1);
        void document.body.offsetHeight;
        const open = performance.now() - t0;
        const box = document.querySelector('#messages');
        const pages = [];
        // what a scroll to the top does (chat.js scrolledUp): 60 more from
        // memory, or first the next history page of 100 (before_id) from the bridge
        for (let k = 0; k < 80; k++) {
          const shown = box.querySelectorAll('.msg').length;
          if (shown >= 2000) break;
          const p0 = performance.now();
          box.scrollTop = 0;
          await window.hdConsole.scrolledUp(1);
          void box.offsetHeight;
          pages.push(performance.now() - p0);
        }
        const st = window.hdConsole.S.msgs.get(1);
        const a0 = performance.now();
        st.shown = st.order.length;
        window.hdConsole.renderWindow(true);
        void box.offsetHeight;
        return { open, pages, all: performance.now() - a0, shown: box.querySelectorAll('.msg').length, total: st.order.length };
      });
      if (conv.total !== 2000) throw new Error(`the conversation holds ${conv.total} messages, not 2000`);
      r.open.push(conv.open); r.page.push(median(conv.pages)); r.pageMax.push(Math.max(...conv.pages)); r.all.push(conv.all);
      await x.ctx.close();
    }
  } finally {
    await b.close();
  }
  const kb = (a) => a.map((v) => v / 1024);
  console.log(`## Console in the browser (${rounds} rounds, median (min-max); chromium ${b.version()})\n`);
  console.log('| measure | result | target |');
  console.log('|---|---:|---:|');
  console.log(`| first load, sign-in form, served by the bridge: KB over the wire | ${fmt(kb(r.bBytes), 1)} | ≤ 300 |`);
  console.log(`| first load, served by the peer (node http, same files): KB | ${fmt(kb(r.pBytes), 1)} | |`);
  console.log(`| first load, bridge: ms from navigation start | ${fmt(r.bMs)} | ≤ 1000 |`);
  console.log(`| first load, peer: ms | ${fmt(r.pMs)} | |`);
  console.log(`| bridge / peer first-load time | ${fmt(r.bMs.map((v, k) => v / r.pMs[k]), 2)}x | |`);
  console.log(`| reload, warm cache: KB / ms | ${fmt(kb(r.warmBytes), 1)} / ${fmt(r.warmMs)} | |`);
  console.log(`| time to interactive, 300 conversations (token, socket, directory, lists): ms | ${fmt(r.tti)} | ≤ 1000 |`);
  console.log(`| same, early.js refused (socket opened after the modules ran): ms | ${fmt(r.ttiLate)} | |`);
  console.log(`| time to interactive, early socket / without it | ${fmt(r.tti.map((v, k) => v / r.ttiLate[k]), 2)}x | |`);
  console.log(`| bytes of that load (static files only; the socket's frames not counted): KB | ${fmt(kb(r.ttiBytes), 1)} | |`);
  console.log(`| list render, 300 conversations, layout forced: ms | ${fmt(r.list, 1)} | ≤ 200 |`);
  console.log(`| open a 2,000-message conversation (latest history page of 100, 60 rendered): ms | ${fmt(r.open)} | |`);
  console.log(`| scroll up one page (60 more rendered; 3 in 5 first fetch 100 by before_id), median / worst: ms | ${fmt(r.page, 1)} / ${fmt(r.pageMax, 1)} | |`);
  console.log(`| render all 2,000 messages at once: ms | ${fmt(r.all)} | |`);
}

main().catch((e) => { console.error(e.stack || e.message); process.exit(1); });
