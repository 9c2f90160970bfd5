#!/usr/bin/env node
// bench/peers/node_relay.js — the Node peer of helpdesk-bridge for bench/bridge.sh:
// what a backend team would write with `ws` and `pg` to relay pg_helpdesk's event
// log to WebSocket clients (read path only: no client frames, no typing).
//
// - One LISTEN connection (channel helpdesk); on a NOTIFY that moves the
//   high-water mark it reads helpdesk.bridge_events(head, 2000) — the same query
//   and the same loop as the bridge: one query per NOTIFY (more only when a read
//   came back full or a NOTIFY arrived meanwhile).
// - Every event's JSON is built once (payload and message arrive as text and are
//   copied as is, like the bridge does); each recipient gets one
//   {"type":"events","events":[...]} frame per read.
// - Recipients are found through indexes (supervisors by tenant, customers by
//   tenant+id, agents by tenant+id, session and queue), not by scanning all sockets.
// - Tokens: HS256 with HELPDESK_TOKEN_SECRET (node's crypto, constant-time compare),
//   the same claims and close codes as the bridge (4001/4002/4003/4004); at connect
//   helpdesk.bridge_subscriber() on a pool of 2 (like --db-pool 2), then hello.
//   `position` is not supported: clients start live.
// - A socket with more than MAX_BUFFERED bytes unsent is closed with 4008 (the
//   bridge's --max-lag).
//
//   node node_relay.js PORT   (PG* environment variables, HELPDESK_TOKEN_SECRET)
'use strict';
const http = require('http');
const crypto = require('crypto');
const path = require('path');
const mods = path.join(__dirname, '..', '..', 'test', 'bridge', 'node_modules');
const { WebSocketServer } = require(path.join(mods, 'ws'));
const pg = require(path.join(mods, 'pg'));

const port = parseInt(process.argv[2] || '55438', 10);
const secret = process.env.HELPDESK_TOKEN_SECRET;
if (!secret) { console.error('HELPDESK_TOKEN_SECRET is not set'); process.exit(1); }
const MAX_BUFFERED = 8 * 1024 * 1024;
const FETCH_ROWS = 2000;
const EV_SQL =
  `SELECT pos, tenant_id, type, audience, coalesce(audience_id, 0) AS audience_id,
          coalesce(session_id, 0) AS session_id, coalesce(customer_id, 0) AS customer_id,
          payload::text AS payload, message::text AS message,
          to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at
   FROM helpdesk.bridge_events($1::int8, $2::int4, NULL)`;

// int8 as JS numbers (positions and ids fit in 2^53)
pg.types.setTypeParser(20, (v) => Number(v));

// ---- tokens ----
function b64urlJson(s) {
  return JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
}
// returns claims, or a close code
function verify(token) {
  if (!token) return 4001;
  const d1 = token.indexOf('.'), d2 = token.indexOf('.', d1 + 1);
  if (d1 < 0 || d2 < 0 || token.indexOf('.', d2 + 1) >= 0) return 4002;
  const mac = crypto.createHmac('sha256', secret).update(token.slice(0, d2)).digest();
  const sig = Buffer.from(token.slice(d2 + 1), 'base64url');
  if (sig.length !== mac.length || !crypto.timingSafeEqual(sig, mac)) return 4002;
  let h, c;
  try { h = b64urlJson(token.slice(0, d1)); c = b64urlJson(token.slice(d1 + 1, d2)); } catch (e) { return 4002; }
  if (h.alg !== 'HS256' || typeof c.tenant !== 'number' || typeof c.exp !== 'number' ||
      !['agent', 'customer', 'supervisor'].includes(c.kind) || !/^[0-9]+$/.test(String(c.sub)))
    return 4002;
  if (c.exp <= Date.now() / 1000) return 4003;
  return { tenant: c.tenant, kind: c.kind, subject: Number(c.sub) };
}

// ---- recipient indexes ----
const supervisors = new Map();   // tenant -> Set(client)
const customers = new Map();     // "tenant:id" -> Set(client)
const agents = new Map();        // "tenant:id" -> Set(client)
const sessionAgents = new Map(); // "tenant:session" -> Set(client)
const queueAgents = new Map();   // "tenant:queue" -> Set(client)
function addTo(map, key, c) { let s = map.get(key); if (!s) map.set(key, s = new Set()); s.add(c); }
function delFrom(map, key, c) { const s = map.get(key); if (s) { s.delete(c); if (s.size === 0) map.delete(key); } }

function register(c) {
  const t = c.tenant;
  if (c.kind === 'supervisor') addTo(supervisors, t, c);
  else if (c.kind === 'customer') addTo(customers, t + ':' + c.subject, c);
  else {
    addTo(agents, t + ':' + c.subject, c);
    for (const s of c.sessions) addTo(sessionAgents, t + ':' + s, c);
    for (const q of c.queues) addTo(queueAgents, t + ':' + q, c);
  }
}
function unregister(c) {
  const t = c.tenant;
  if (c.kind === 'supervisor') delFrom(supervisors, t, c);
  else if (c.kind === 'customer') delFrom(customers, t + ':' + c.subject, c);
  else {
    delFrom(agents, t + ':' + c.subject, c);
    for (const s of c.sessions) delFrom(sessionAgents, t + ':' + s, c);
    for (const q of c.queues) delFrom(queueAgents, t + ':' + q, c);
  }
}

// ---- the event stream ----
let head = -1, notified = -1, fetching = false;
let listenConn;
const pool = new pg.Pool({ max: 2 });

function eventJson(r) {
  let s = '{"pos":' + r.pos + ',"type":' + JSON.stringify(r.type) + ',"audience":' + JSON.stringify(r.audience);
  if (r.audience_id) s += ',"audience_id":' + r.audience_id;
  if (r.session_id) s += ',"session_id":' + r.session_id;
  s += ',"payload":' + (r.payload === null ? '{}' : r.payload);
  if (r.message !== null) s += ',"message":' + r.message;
  return s + ',"at":"' + r.at + '"}';
}

function deliver(rows) {
  const out = new Map(); // client -> [json]
  const push = (set, j) => { if (set) for (const c of set) { const a = out.get(c); if (a) a.push(j); else out.set(c, [j]); } };
  for (const r of rows) {
    const j = eventJson(r), t = r.tenant_id;
    push(supervisors.get(t), j);
    switch (r.audience) {
      case 'session':
        if (r.customer_id) push(customers.get(t + ':' + r.customer_id), j);
        push(sessionAgents.get(t + ':' + r.session_id), j);
        break;
      case 'session_staff':
        push(sessionAgents.get(t + ':' + r.session_id), j);
        break;
      case 'customer':
        push(customers.get(t + ':' + r.audience_id), j);
        break;
      case 'queue':
        push(queueAgents.get(t + ':' + r.audience_id), j);
        break;
      case 'agent': {
        const set = agents.get(t + ':' + r.audience_id);
        push(set, j);
        if (set && r.session_id) {
          let eff = 0;
          if (r.type === 'session.released') eff = -1;
          else if (r.type === 'session.state') {
            const to = JSON.parse(r.payload || '{}').to;
            if (to === 'offered' || to === 'active') eff = 1;
          }
          for (const c of set) {
            if (eff > 0 && !c.sessions.has(r.session_id)) { c.sessions.add(r.session_id); addTo(sessionAgents, t + ':' + r.session_id, c); }
            else if (eff < 0 && c.sessions.delete(r.session_id)) delFrom(sessionAgents, t + ':' + r.session_id, c);
          }
        }
        break;
      }
    }
  }
  for (const [c, evs] of out) {
    if (c.ws.readyState !== 1) continue;
    if (c.ws.bufferedAmount > MAX_BUFFERED) { c.ws.close(4008, 'fell behind the event stream; resume with your position'); continue; }
    c.ws.send('{"type":"events","events":[' + evs.join(',') + ']}');
  }
}

async function fetch() {
  if (fetching || head < 0) return;
  fetching = true;
  try {
    for (;;) {
      const res = await listenConn.query({ text: EV_SQL, values: [head, FETCH_ROWS], name: 'ev' });
      if (res.rows.length) { head = res.rows[res.rows.length - 1].pos; deliver(res.rows); }
      if (res.rows.length < FETCH_ROWS && notified <= head) break;
    }
  } catch (e) {
    console.error('reading events failed:', e.message);
  } finally { fetching = false; }
}

async function startListen() {
  listenConn = new pg.Client();
  await listenConn.connect();
  listenConn.on('notification', (n) => {
    if (n.channel !== 'helpdesk') return;
    const hwm = Number(n.payload);
    if (hwm > notified) notified = hwm;
    if (notified > head) fetch();
  });
  await listenConn.query('LISTEN helpdesk');
  head = Number((await listenConn.query('SELECT helpdesk.event_position() AS p')).rows[0].p);
  fetch();
}

// ---- sockets ----
const server = http.createServer((req, res) => {
  if (req.url === '/healthz') { res.writeHead(head >= 0 ? 200 : 503); res.end(head >= 0 ? 'ok' : 'starting'); return; }
  res.writeHead(404); res.end();
});
const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 65536, clientTracking: false });
let nclients = 0;
wss.on('connection', (ws, req) => {
  const q = req.url.indexOf('?');
  const token = q >= 0 ? new URLSearchParams(req.url.slice(q + 1)).get('token') : null;
  const claims = verify(token);
  if (typeof claims === 'number') { ws.close(claims, claims === 4001 ? 'token missing' : claims === 4003 ? 'token expired' : 'token invalid'); return; }
  const c = { ws, tenant: claims.tenant, kind: claims.kind, subject: claims.subject, sessions: new Set(), queues: new Set(), live: false };
  nclients++;
  ws.on('close', () => { nclients--; if (c.live) unregister(c); c.live = false; });
  ws.on('message', (data, isBinary) => {
    if (isBinary) ws.close(1003, 'binary frames are not accepted');
    // client frames are not part of this peer
  });
  pool.query('SELECT helpdesk.bridge_subscriber($1, $2, $3, NULL) AS s', [c.tenant, c.kind, c.subject]).then((res) => {
    if (ws.readyState !== 1) return;
    const s = res.rows[0].s;
    if (!s) { ws.close(4004, 'subject not in tenant'); return; }
    for (const id of s.sessions) c.sessions.add(Number(id));
    for (const id of s.queues) c.queues.add(Number(id));
    ws.send(JSON.stringify({ type: 'hello', kind: c.kind, tenant: c.tenant, subject: c.subject,
                             position: head, sessions: [...c.sessions] }));
    c.live = true;
    register(c);
  }, (e) => { if (ws.readyState === 1) ws.close(1013, 'database unavailable, try again'); });
});

startListen().then(() => {
  server.listen(port, '127.0.0.1', () => console.error(`node relay listening on 127.0.0.1:${port}`));
}, (e) => { console.error('cannot start:', e.message); process.exit(1); });
process.on('SIGTERM', () => process.exit(0));
