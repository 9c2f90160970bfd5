// The customer chat window (in the SDK's iframe, or opened directly in a
// game's WebView with #token=...): pre-chat issue type, live queue position
// and wait, bot menus, typing, read ticks, uploads, CSAT after close, the
// offline state (a message left becomes a ticket), resume after reconnects.
import { Conn, upload, uid } from './common/conn.js';
import { apply, setLocale, getLocale, t, dur } from './common/i18n.js';
import { h, renderMessage, ticks, stars, setViewerToken } from './common/msg.js';

const $ = (s) => document.querySelector(s);
const params = new URLSearchParams(location.search);
const embedded = params.get('embed') === '1' && window.parent !== window;
const W = { conn: null, token: null, sid: null, state: null, msgs: new Map(), order: [], open: !embedded,
  unread: 0, ticket: null, csat: 0 };

function toParent(msg) { if (embedded) window.parent.postMessage(msg, '*'); }

function show(pane) {
  for (const id of ['#w-signin', '#w-prechat', '#w-chat', '#w-ticket']) $(id).hidden = id !== pane;
}

// transient: an error that is not the connection's state goes away by itself
function banner(text, kind = 'warn', transient = false) {
  const b = $('#w-banner');
  b.hidden = !text;
  b.textContent = text || '';
  b.dataset.kind = kind;
  clearTimeout(W.bannerTimer);
  if (transient) W.bannerTimer = setTimeout(() => { if (W.conn?.state === 'open') banner(''); }, 5000);
}

async function setUser(user) {
  let token = user?.token;
  if (!token && user?.signed) {
    // the signed player API (issue 16): the game backend signs, we exchange
    try {
      const r = await fetch('/api/v1/player/ws-token', { method: 'POST', headers: { 'Content-Type': 'application/json', ...(user.signed.headers || {}) },
        body: typeof user.signed.body === 'string' ? user.signed.body : JSON.stringify(user.signed.body || {}) });
      if (!r.ok) throw new Error(String(r.status));
      token = (await r.json()).token;
    } catch (e) { banner(t('w.signin_failed'), 'error'); return; }
  }
  if (!token || token === W.token) return;
  W.token = token;
  setViewerToken(token);
  if (W.conn) W.conn.close();
  resetHistory(); W.sid = null;
  $('#w-messages').replaceChildren();
  connect();
}

function connect() {
  const conn = new Conn(W.token);
  W.conn = conn;
  conn.addEventListener('hello', (e) => onHello(e.detail));
  conn.addEventListener('event', (e) => onEvent(e.detail));
  conn.addEventListener('typing', (e) => {
    if (e.detail.session_id !== W.sid || e.detail.from === 'customer') return;
    $('#w-typing').hidden = false;
    clearTimeout(W.typingHide);
    W.typingHide = setTimeout(() => { $('#w-typing').hidden = true; }, 4000);
  });
  conn.addEventListener('state', (e) => {
    document.body.dataset.conn = e.detail.state;
    if (e.detail.state === 'offline') banner(t('conn.offline'), 'error');
    if (e.detail.state === 'closed' && e.detail.code) banner(t('conn.refused'), 'error');
  });
}

async function onHello(hello) {
  const again = W.hello != null;
  W.hello = hello;
  banner(again ? t('conn.resumed', { pos: hello.position }) : '');
  if (again) setTimeout(() => { if (W.conn.state === 'open') banner(''); }, 2500);
  document.body.dataset.ready = '1';
  if (hello.sessions.length) {
    const sid = hello.sessions[hello.sessions.length - 1];
    if (sid !== W.sid) { W.sid = sid; resetHistory(); await loadHistory(); }
    show('#w-chat');
    showQueue();
    askQueue();
  } else if (!W.sid) {
    show('#w-prechat');
  }
}

// history by pages before a message id (frame history, before_id): the
// latest page when a chat opens, the one before it each time the list is
// scrolled to its top. put() keys by id: nothing is shown twice.
const HIST = 50;
async function fetchOlder() {
  const sid = W.sid;
  if (W.complete || W.fetching || !sid) return [];
  W.fetching = true;
  try {
    const rows = await W.conn.request({ type: 'history', session_id: sid, before_id: W.oldest, limit: HIST });
    if (sid !== W.sid) return [];
    if (rows.length) W.oldest = Math.min(W.oldest, rows[0].id);
    if (rows.length < HIST) W.complete = true;
    return rows.map((m) => put(m)).filter((r) => r.isNew).map((r) => r.m);
  } finally { W.fetching = false; }
}

function resetHistory() {
  W.msgs.clear(); W.order = []; W.oldest = Number.MAX_SAFE_INTEGER; W.complete = false; W.fetching = false;
}

async function loadHistory() {
  W.oldest = Number.MAX_SAFE_INTEGER; W.complete = false;
  await fetchOlder();
  renderAll();
  receipts();
}

// scrolled to the top: the previous page goes in front, the view stays put
async function olderPage() {
  const box = $('#w-messages');
  let added;
  try { added = await fetchOlder(); } catch { return; }
  if (!added.length) return;
  const before = box.scrollHeight - box.scrollTop;
  const frag = document.createDocumentFragment();
  for (const m of added) frag.append(renderOne(m));
  box.prepend(frag);
  box.scrollTop = box.scrollHeight - before;
}

function put(m) {
  const key = m.client_msg_id && W.msgs.has(`c:${m.client_msg_id}`) ? `c:${m.client_msg_id}` : m.id && W.msgs.has(`i:${m.id}`) ? `i:${m.id}` : null;
  if (key) {
    const old = W.msgs.get(key);
    Object.assign(old, m);
    if (m.id && key.startsWith('c:')) { W.msgs.delete(key); W.msgs.set(`i:${m.id}`, old); }
    return { m: old, isNew: false };
  }
  W.msgs.set(m.id ? `i:${m.id}` : `c:${m.client_msg_id}`, m);
  W.order.push(m);
  W.order.sort((a, b) => (a.id || 1e18) - (b.id || 1e18));
  return { m, isNew: true };
}

function onOption(label) { sendText(label); }

function lastMenuId() { return [...W.order].reverse().find((m) => m.type === 'menu')?.id; }

function renderOne(m) {
  return renderMessage(m, { viewer: 'customer', onOption: m.id === lastMenuId() ? onOption : null });
}

function renderAll() {
  const box = $('#w-messages');
  box.replaceChildren(...W.order.map(renderOne));
  box.scrollTop = box.scrollHeight;
}

function updateDom(m) {
  const box = $('#w-messages');
  const el = (m.id && box.querySelector(`[data-id="${m.id}"]`)) || (m.client_msg_id && box.querySelector(`[data-cmid="${CSS.escape(m.client_msg_id)}"]`));
  if (!el) return;
  el.dataset.id = m.id || '';
  el.querySelector('.ticks')?.replaceWith(ticks(m));
}

// delivered for everything that arrived, read when the window is open and seen
function receipts() {
  const last = [...W.order].reverse().find((m) => m.id && m.sender_kind !== 'customer');
  if (!last || !W.sid) return;
  if (W.open && !document.hidden) {
    if ((W.readUpTo || 0) < last.id) { W.readUpTo = last.id; W.conn.send({ type: 'read', session_id: W.sid, up_to: last.id }); }
    W.unread = 0;
  } else if ((W.deliveredUpTo || 0) < last.id) {
    W.deliveredUpTo = last.id;
    W.conn.send({ type: 'delivered', session_id: W.sid, up_to: last.id });
  }
  toParent({ hd: 'unread', n: W.unread });
}

// The queue position is pushed: the dispatcher appends a queue.position event
// (payload {queue_id, position, estimated_wait_s}) for the session whenever
// its place or its estimate changes, and a session that leaves the queue gets
// session.state. Only when a socket (re)opens is the position asked once
// (frame queue_position): what was pushed while the page was away is not
// replayed to a socket that connected without a position. Positions are kept
// per session, so one pushed before a new chat's id is known still counts.
W.positions = new Map();     // session id -> {position, estimated_wait_s} (null: not waiting)
W.pushed = 0;                // queue.position events seen: a later answer to the ask is stale

function setQueue(sid, info) {
  W.positions.set(sid, info && info.position ? info : null);
  if (sid !== W.sid) return;
  W.queueInfo = W.positions.get(sid);
  if (W.queueInfo) W.state = 'queued';
  renderQueue();
}

async function askQueue() {
  const sid = W.sid;
  if (!sid || W.conn.state !== 'open') return;
  const seen = W.pushed;
  let r;
  try { r = await W.conn.request({ type: 'queue_position', session_id: sid }); } catch { return; /* the next hello asks again */ }
  if (W.pushed === seen) setQueue(sid, r);
}

function showQueue() {
  W.queueInfo = W.positions.get(W.sid) || null;
  renderQueue();
}

function renderQueue() {
  const box = $('#w-queue');
  const r = W.queueInfo;
  box.hidden = !r;
  box.dataset.position = r ? String(r.position) : '';
  if (r) box.textContent = r.estimated_wait_s != null ? t('w.queue_wait', { n: r.position, t: dur(r.estimated_wait_s) }) : t('w.queue', { n: r.position });
}

function onEvent(ev) {
  const p = ev.payload || {};
  if (ev.type === 'message.created' && ev.message && ev.session_id === W.sid) {
    const { m, isNew } = put(ev.message);
    const box = $('#w-messages');
    if (isNew) {
      if (m.type === 'menu') for (const b of box.querySelectorAll('.menu-opt')) b.disabled = true;
      box.append(renderOne(m));
      box.scrollTop = box.scrollHeight;
      if (m.sender_kind !== 'customer') {
        $('#w-typing').hidden = true;
        if (!W.open || document.hidden) W.unread++;
        toParent({ hd: 'message', message: { id: m.id, sender_kind: m.sender_kind, type: m.type, body: m.body } });
      }
    } else updateDom(m);
    receipts();
    return;
  }
  if ((ev.type === 'message.read' || ev.type === 'message.delivered') && ev.session_id === W.sid && p.reader_kind !== 'customer') {
    const field = ev.type === 'message.read' ? 'read_at' : 'delivered_at';
    for (const m of W.order) if (m.id && m.id <= p.up_to && m.sender_kind === 'customer' && !m[field]) {
      m[field] = ev.at;
      if (!m.delivered_at) m.delivered_at = ev.at;
      updateDom(m);
    }
    return;
  }
  if (ev.type === 'queue.position' && ev.session_id) {
    W.pushed++;
    setQueue(ev.session_id, p);
    return;
  }
  if (ev.type === 'session.state' && ev.session_id) {
    // back in a queue: its place comes as queue.position once the dispatcher has it
    if (p.to !== 'queued') setQueue(ev.session_id, null);
    if (ev.session_id !== W.sid) return;
    W.state = p.to;
    if (p.to === 'closed') showCsat();
  }
  if (ev.type.startsWith('ticket.') && W.ticket && p.ticket_id === W.ticket) loadTicket();
}

function showCsat() {
  $('#w-composer').hidden = true;
  $('#w-csat').hidden = false;
  $('#w-csat-done').hidden = true;
  $('#w-csat-send').hidden = false;
  $('#w-stars').replaceChildren(stars((n) => { W.csat = n; $('#w-csat-send').disabled = false; }));
}

async function sendText(text, extra = {}) {
  if (!W.sid || (!text && !extra.attachment)) return;
  const frame = { type: 'message', session_id: W.sid, text: text || undefined, client_msg_id: uid('c'),
    message_type: extra.message_type || 'text', attachment: extra.attachment };
  const local = { id: null, sender_kind: 'customer', type: frame.message_type, body: text || null,
    attachment: extra.attachment || null, client_msg_id: frame.client_msg_id, created_at: new Date().toISOString() };
  const { m } = put(local);
  $('#w-messages').append(renderOne(m));
  $('#w-messages').scrollTop = $('#w-messages').scrollHeight;
  try {
    const r = await W.conn.request(frame);
    if (!m.id) { put({ client_msg_id: frame.client_msg_id, id: r.message_id }); updateDom(m); }
  } catch (e) {
    if (e.code === 'unavailable' || e.code === 'timeout') W.conn.send(frame);
    else banner(e.message, 'error', true);
  }
}

async function sendFile(file) {
  if (!file) return;
  try {
    const u = await upload(W.token, file);
    const image = (u.mime || file.type || '').startsWith('image/');
    await sendText('', { message_type: image ? 'image' : 'file',
      attachment: { upload_id: u.id, url: u.url, name: file.name || 'file', mime: u.mime || file.type, size: u.size ?? file.size } });
  } catch (e) { banner(e.code === 'no_uploads' ? t('upload.unavailable') : e.message, 'error', true); }
}

async function loadTicket() {
  let rows = [];
  try { rows = await W.conn.request({ type: 'ticket_history', ticket_id: W.ticket }); } catch { return; }
  $('#w-ticket-messages').replaceChildren(...rows.map((m) => renderMessage(m, { viewer: 'customer' })));
  // a resolved ticket asks for CSAT (a csat message on its thread): stars
  // under the thread until this survey is answered
  const ask = [...rows].reverse().find((m) => m.type === 'csat');
  const box = $('#w-ticket-csat');
  if (!ask || W.ticketCsatFor === ask.id) return;
  W.ticketCsatFor = ask.id;
  W.ticketCsat = 0;
  box.hidden = false;
  $('#w-ticket-csat-done').hidden = true;
  $('#w-ticket-csat-send').hidden = false;
  $('#w-ticket-csat-send').disabled = true;
  $('#w-ticket-stars').replaceChildren(stars((n) => { W.ticketCsat = n; $('#w-ticket-csat-send').disabled = false; }));
}

function boot() {
  const types = (params.get('issue_types') || 'payment,account,bug,other').split(',');
  $('#w-issue').replaceChildren(h('option', { value: '', 'data-i18n': 'w.issue_none' }), ...types.map((x) => h('option', { value: x, 'data-i18n': `issue.${x}`, text: x })));
  // the embed's colours (sdk.js): accent, what is drawn on it, the customer's bubbles
  for (const [param, prop] of [['color', '--accent'], ['text_color', '--accent-fg'], ['bubble_color', '--mine']]) {
    const v = params.get(param);
    if (v && v.length <= 64 && CSS.supports('color', v)) document.documentElement.style.setProperty(prop, v);
  }
  apply();
  if (params.get('title')) $('#w-title').textContent = params.get('title');
  document.addEventListener('hd-locale', () => { if (params.get('title')) $('#w-title').textContent = params.get('title'); renderAll(); renderQueue(); });
  for (const b of document.querySelectorAll('[data-lang-toggle]')) b.addEventListener('click', () => setLocale(getLocale() === 'en' ? 'zh-CN' : 'en'));
  $('#w-close').hidden = !embedded;
  $('#w-close').addEventListener('click', () => toParent({ hd: 'close' }));
  $('#w-prechat').addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = e.target;
    const text = f.text.value.trim();
    if (!text) return;
    try {
      const r = await W.conn.request({ type: 'contact', issue_type: f.issue_type.value || undefined, text, client_msg_id: uid('c') });
      f.text.value = '';
      if (r.kind === 'ticket') {
        W.ticket = r.ticket_id;
        $('#w-ticket-text').textContent = t('w.offline_ticket');
        show('#w-ticket');
        loadTicket();
        return;
      }
      W.sid = r.session_id;
      resetHistory();
      show('#w-chat');
      $('#w-composer').hidden = false;
      $('#w-csat').hidden = true;
      await loadHistory();
      showQueue();
    } catch (x) { banner(x.message, 'error', true); }
  });
  const input = $('#w-input');
  let lastTyping = 0;
  input.addEventListener('input', () => {
    if (W.sid && Date.now() - lastTyping > 2500) { lastTyping = Date.now(); W.conn.send({ type: 'typing', session_id: W.sid }); }
  });
  input.addEventListener('keydown', (e) => { if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); $('#w-composer').requestSubmit(); } });
  $('#w-composer').addEventListener('submit', (e) => { e.preventDefault(); const v = input.value.trim(); input.value = ''; sendText(v); });
  $('#w-file').addEventListener('change', (e) => { sendFile(e.target.files[0]); e.target.value = ''; });
  input.addEventListener('paste', (e) => { for (const it of e.clipboardData?.items || []) if (it.kind === 'file') { e.preventDefault(); sendFile(it.getAsFile()); } });
  $('#w-csat-send').addEventListener('click', async () => {
    try {
      await W.conn.request({ type: 'csat', session_id: W.sid, score: W.csat, comment: $('#w-csat-comment').value.trim() || undefined });
      $('#w-csat-done').hidden = false;
      $('#w-csat-send').hidden = true;
    } catch (e) { banner(e.message, 'error', true); }
  });
  $('#w-ticket-csat-send').addEventListener('click', async () => {
    try {
      await W.conn.request({ type: 'csat', ticket_id: W.ticket, score: W.ticketCsat, comment: $('#w-ticket-csat-comment').value.trim() || undefined });
    } catch (e) { if (e.code !== 'conflict' && !/HD409/.test(e.message)) { banner(e.message, 'error', true); return; } }
    $('#w-ticket-csat-done').hidden = false;
    $('#w-ticket-csat-send').hidden = true;
  });
  $('#w-new').addEventListener('click', () => { W.sid = null; resetHistory(); $('#w-messages').replaceChildren(); show('#w-prechat'); });
  $('#w-ticket-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const text = $('#w-ticket-input').value.trim();
    if (!text || !W.ticket) return;
    $('#w-ticket-input').value = '';
    try { await W.conn.request({ type: 'ticket_reply', ticket_id: W.ticket, text, client_msg_id: uid('c') }); loadTicket(); } catch (x) { banner(x.message, 'error', true); }
  });
  $('#w-messages').addEventListener('scroll', () => { if ($('#w-messages').scrollTop < 40) olderPage(); });
  document.addEventListener('visibilitychange', receipts);
  window.addEventListener('message', (e) => {
    if (!embedded || e.source !== window.parent || !e.data?.hd) return;
    const d = e.data;
    if (d.hd === 'setUser') setUser(d.user);
    else if (d.hd === 'setLocale') setLocale(d.locale);
    else if (d.hd === 'open') { W.open = true; receipts(); setTimeout(() => input.focus(), 50); }
    else if (d.hd === 'closed') W.open = false;
  });
  const hash = new URLSearchParams(location.hash.slice(1));
  const tok = hash.get('token') || params.get('token');
  if (tok) setUser({ token: tok });
  toParent({ hd: 'ready' });
  show('#w-signin');
}

boot();
