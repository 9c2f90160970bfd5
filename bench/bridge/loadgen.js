#!/usr/bin/env node
// bench/bridge/loadgen.js — one load-generator process for bench/bridge.sh.
//
//   node loadgen.js URL TOKENS_FILE FIRST COUNT SRC_PREFIX MODE OUT [EXPECT]
//
// Opens COUNT WebSockets to URL with the tokens on lines FIRST..FIRST+COUNT-1
// of TOKENS_FILE, each from a local address SRC_PREFIX.1 .. SRC_PREFIX.250
// (spreads the ephemeral ports), at most CONCURRENCY handshakes in flight.
// When every socket has its hello (or failed), writes OUT.ready (JSON).
//
// MODE latency: every events frame is parsed; for each event "pos at_us recv_us"
//   is recorded (at: the event's created_at, microseconds; recv: wall clock via
//   performance.timeOrigin + performance.now(), microseconds). SIGUSR2 writes
//   them to OUT.lat and clears them.
// MODE fanout: events are counted without parsing (occurrences of {"pos":);
//   once every socket has EXPECT events, OUT.done gets the time of the last one.
// MODE idle: nothing but holding the sockets.
// SIGTERM: writes OUT.stats (frames, events, closes) and exits.
'use strict';
const fs = require('fs');
const path = require('path');
const { performance } = require('perf_hooks');
const WebSocket = require(path.join(__dirname, '..', '..', 'test', 'bridge', 'node_modules', 'ws'));

const [url, tokensFile, firstS, countS, srcPrefix, mode, out, expectS] = process.argv.slice(2);
const first = +firstS, count = +countS, expect = +(expectS || 0);
const CONCURRENCY = +(process.env.LOADGEN_CONCURRENCY || 200);
const nowUs = () => Math.round((performance.timeOrigin + performance.now()) * 1000);
const tokens = fs.readFileSync(tokensFile, 'utf8').split('\n').slice(first, first + count);
if (tokens.length !== count) { console.error(`only ${tokens.length} tokens from line ${first}`); process.exit(1); }

const POS = Buffer.from('{"pos":');
let next = 0, inflight = 0, hellos = 0, failed = 0, closed = 0;
let frames = 0, events = 0, done = 0, firstRecv = 0, lastRecv = 0;
const closeCodes = {};
const t0 = Date.now();
let lat = [];
const sockets = [];

function settle() {
  if (hellos + failed === count) {
    fs.writeFileSync(out + '.ready', JSON.stringify({ connected: hellos, failed, ms: Date.now() - t0 }) + '\n');
  }
}

function onEventsFrame(buf, st) {
  frames++;
  const now = nowUs();
  if (!firstRecv) firstRecv = now;
  lastRecv = now;
  if (mode === 'latency') {
    const m = JSON.parse(buf);
    for (const e of m.events) {
      const at = e.at; // YYYY-MM-DDTHH:MM:SS.uuuuuuZ
      const atUs = Date.parse(at.slice(0, 19) + 'Z') * 1000 + parseInt(at.slice(20, 26), 10);
      lat.push(e.pos + ' ' + atUs + ' ' + now);
      events++;
    }
  } else {
    let n = 0, i = 0;
    while ((i = buf.indexOf(POS, i)) >= 0) { n++; i += 7; }
    events += n;
    st.n += n;
    if (expect && st.n >= expect && !st.done) {
      st.done = true;
      if (++done === count) fs.writeFileSync(out + '.done', JSON.stringify({ last_us: now }) + '\n');
    }
  }
}

function open() {
  while (inflight < CONCURRENCY && next < count) {
    const i = next++;
    inflight++;
    const st = { hello: false, n: 0, done: false };
    const ws = new WebSocket(url + '?token=' + tokens[i], {
      localAddress: srcPrefix + '.' + (1 + (i % 250)),
      perMessageDeflate: false, skipUTF8Validation: true, handshakeTimeout: 120000,
    });
    sockets.push(ws);
    ws.on('message', (data) => {
      if (!st.hello) {
        // the first frame is hello
        st.hello = true; hellos++; inflight--; settle(); open();
        return;
      }
      if (data[9] === 0x65 /* {"type":"events" */) onEventsFrame(data, st);
    });
    ws.on('error', () => {});
    ws.on('close', (code) => {
      closeCodes[code] = (closeCodes[code] || 0) + 1;
      closed++;
      if (!st.hello) { st.hello = true; failed++; inflight--; settle(); open(); }
    });
  }
}
open();

process.on('SIGUSR2', () => {
  fs.writeFileSync(out + '.lat', lat.length ? lat.join('\n') + '\n' : '');
  lat = [];
});
process.on('SIGTERM', () => {
  fs.writeFileSync(out + '.stats', JSON.stringify({ hellos, failed, closed, closeCodes, frames, events, first_recv_us: firstRecv, last_recv_us: lastRecv }) + '\n');
  process.exit(0);
});
