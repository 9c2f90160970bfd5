// Chats: the conversation list (Mine, Queue, All), the conversation pane
// (paged history, every message type, typing, ticks, composer with quick
// replies, notes, uploads, transfer, close, escalate) and the customer panel.
import { upload, uid } from './common/conn.js';
import { t, dur, time } from './common/i18n.js';
import { h, renderMessage, ticks } from './common/msg.js';

export const S = { lists: { mine: [], queue: [], all: [] }, tab: 'mine', cur: null, msgs: new Map() };
// exported for the benchmark (window.hdConsole): renderList, openSession
export const $ = (sel) => document.querySelector(sel);
const PAGE = 60;            // messages added to the DOM per scroll page
const HIST = 100;           // messages asked of the bridge per history page (frame history, before_id)
const LATEST = Number.MAX_SAFE_INTEGER; // before_id of the latest page

// ---- the list
let listTimer;
export function refreshListsSoon() { clearTimeout(listTimer); listTimer = setTimeout(refreshLists, 150); }

export async function refreshLists() {
  if (!S.conn || S.conn.state !== 'open') return;
  const scopes = S.me.kind === 'supervisor' ? ['mine', 'queue', 'all'] : ['mine', 'queue'];
  const t0 = performance.now();
  await Promise.all(scopes.map(async (scope) => {
    try { S.lists[scope] = await S.conn.request({ type: 'list', scope }); } catch { /* keep the old one */ }
  }));
  renderList();
  S.listMs = performance.now() - t0;
  // offers made before this page loaded (or while it was offline) get their card too
  for (const s of S.lists.mine) if (s.state === 'offered' && S.onOffered) S.onOffered(s.id, s.queue_id, s.offer_expires_at ? new Date(s.offer_expires_at).getTime() : null);
  if (S.cur) renderHead();
}

function summary(id) {
  for (const k of ['mine', 'queue', 'all']) {
    const s = S.lists[k].find((x) => x.id === id);
    if (s) return s;
  }
  return null;
}

function badges(s) {
  const out = [];
  if (s.customer?.vip_level > 0) out.push(h('span', { class: 'badge vip', text: t('badge.vip', { n: s.customer.vip_level }) }));
  if (s.sla_breached_at) out.push(h('span', { class: 'badge sla breached', text: t('badge.sla_breached') }));
  else if (s.sla_due) {
    const left = (new Date(s.sla_due) - Date.now()) / 1000;
    out.push(h('span', { class: `badge sla ${left < 60 ? 'risk' : ''}`, text: t('badge.sla', { t: dur(left) }) }));
  }
  return out;
}

function preview(s) {
  const l = s.last;
  if (!l) return '';
  if (l.type === 'image') return t('msg.image');
  if (l.type === 'file') return t('msg.file');
  return l.body || '';
}

export function renderList() {
  const t0 = performance.now();
  for (const k of ['mine', 'queue', 'all']) {
    const c = document.querySelector(`[data-count="${k}"]`);
    if (c) c.textContent = String(S.lists[k].length);
  }
  const q = $('#search').value.trim().toLowerCase();
  const f = $('#filter').value;
  const frag = document.createDocumentFragment();
  const now = Date.now();
  for (const s of S.lists[S.tab]) {
    if (q && !(`${s.customer.name} ${s.id} ${preview(s)} ${s.issue_type || ''}`.toLowerCase().includes(q))) continue;
    if (f === 'unread' && !s.unread) continue;
    if (f === 'vip' && !(s.customer.vip_level > 0)) continue;
    if (f === 'sla' && !s.sla_due && !s.sla_breached_at) continue;
    const since = s.state === 'queued' ? s.queued_at : (s.last?.created_at || s.created_at);
    frag.append(h('li', { role: 'option', tabindex: '0', class: `item ${s.id === S.cur ? 'current' : ''}`,
      'aria-selected': String(s.id === S.cur), dataset: { session: s.id, state: s.state } },
      h('div', { class: 'row1' }, h('span', { class: 'name', text: s.customer.name }), ...badges(s),
        s.unread ? h('span', { class: 'unread', 'aria-label': t('list.unread', { n: s.unread }), text: String(s.unread) }) : null),
      h('div', { class: 'row2' }, h('span', { class: 'preview', text: preview(s) }),
        h('span', { class: 'wait', text: since ? dur((now - new Date(since)) / 1000) : '' })),
      h('div', { class: 'row3' }, h('span', { class: 'state', text: t(`state.${s.state}`) }),
        h('span', { class: 'queue', text: s.queue_name || '' }))));
  }
  const ul = $('#list');
  ul.replaceChildren(frag);
  if (!ul.children.length) ul.append(h('li', { class: 'none', text: t('list.none') }));
  S.renderMs = performance.now() - t0;
}

// ---- messages of a session
function store(sid) {
  let st = S.msgs.get(sid);
  if (!st) { st = { byKey: new Map(), order: [], loaded: false, shown: 0, oldest: LATEST, complete: false, fetching: null }; S.msgs.set(sid, st); }
  return st;
}

// one entry per message: keyed by client_msg_id while it has no id
function put(sid, m) {
  const st = store(sid);
  const key = m.client_msg_id && st.byKey.has(`c:${m.client_msg_id}`) ? `c:${m.client_msg_id}` : null;
  if (key) {
    const old = st.byKey.get(key);
    Object.assign(old, m);
    if (m.id) { st.byKey.delete(key); st.byKey.set(`i:${m.id}`, old); }
    return { m: old, isNew: false };
  }
  if (m.id && st.byKey.has(`i:${m.id}`)) {
    const old = st.byKey.get(`i:${m.id}`);
    Object.assign(old, m);
    return { m: old, isNew: false };
  }
  st.byKey.set(m.id ? `i:${m.id}` : `c:${m.client_msg_id}`, m);
  st.order.push(m);
  st.order.sort((a, b) => (a.id || 1e18) - (b.id || 1e18));
  return { m, isNew: true };
}

// one page of history before the oldest one fetched (the latest page first):
// the rest is asked for when the pane is scrolled to its top. put() keys by
// id, so a message an event already brought is not added twice.
function fetchOlder(sid) {
  const st = store(sid);
  if (st.complete) return Promise.resolve(0);
  if (!st.fetching) {
    st.fetching = S.conn.request({ type: 'history', session_id: sid, before_id: st.oldest, limit: HIST }, 30000)
      .then((rows) => {
        let added = 0;
        for (const m of rows) if (put(sid, m).isNew) added++;
        if (rows.length) st.oldest = Math.min(st.oldest, rows[0].id);
        if (rows.length < HIST) st.complete = true;
        return added;
      })
      .finally(() => { st.fetching = null; });
  }
  return st.fetching;
}

async function loadHistory(sid) {
  await fetchOlder(sid);
  store(sid).loaded = true;
}

function canRead(s) {
  return S.me.kind === 'supervisor' || (s && s.state === 'active' && s.agent_id === S.me.id);
}

function renderHead() {
  const s = summary(S.cur);
  if (!s) return;
  $('#conv-title').textContent = `${s.customer.name} · #${s.id}`;
  $('#conv-badges').replaceChildren(h('span', { class: 'badge state', text: t(`state.${s.state}`) }), ...badges(s));
  const held = s.state === 'active' && s.agent_id === S.me.id && !S.me.readOnly;
  $('#btn-claim').hidden = !(s.state === 'queued' && S.me.kind === 'agent' && !S.me.readOnly);
  for (const b of ['#btn-transfer', '#btn-close', '#btn-escalate']) {
    $(b).disabled = !held;
    $(b).hidden = S.me.readOnly;
  }
  $('#input').disabled = !held;
  $('#send').disabled = !held;
}

export function renderWindow(keepBottom = true) {
  const st = store(S.cur);
  const box = $('#messages');
  const from = Math.max(0, st.order.length - st.shown);
  const frag = document.createDocumentFragment();
  for (const m of st.order.slice(from)) frag.append(renderMessage(m, { viewer: 'agent' }));
  const before = box.scrollHeight - box.scrollTop;
  box.replaceChildren(frag);
  if (from > 0 || !st.complete) box.prepend(h('div', { class: 'older', text: t('conv.older') }));
  box.scrollTop = keepBottom ? box.scrollHeight : box.scrollHeight - before;
}

// scrolled to the top: the next PAGE older messages go in front, the rest
// of the pane stays as it is (and where it is)
function olderPage(st) {
  const box = $('#messages');
  const end = st.order.length - st.shown;
  const start = Math.max(0, end - PAGE);
  const frag = document.createDocumentFragment();
  for (const m of st.order.slice(start, end)) frag.append(renderMessage(m, { viewer: 'agent' }));
  st.shown += end - start;
  const before = box.scrollHeight - box.scrollTop;
  box.querySelector('.older')?.remove();
  box.prepend(frag);
  if (start > 0 || !st.complete) box.prepend(h('div', { class: 'older', text: t('conv.older') }));
  box.scrollTop = box.scrollHeight - before;
}

// the pane reached its top: older messages from memory, else the next page
// from the bridge (then shown, keeping the scroll position)
export async function scrolledUp(sid) {
  const st = store(sid);
  if (st.shown < st.order.length) { olderPage(st); return; }
  if (st.complete || st.fetching || !st.loaded) return;
  try { await fetchOlder(sid); } catch { return; }
  if (S.cur === sid && st.shown < st.order.length) olderPage(st);
}

export async function openSession(sid) {
  S.cur = sid;
  renderList();
  let s = summary(sid);
  // an accept or a transfer may be newer than the list: ask again before
  // showing only the preview
  if (!canRead(s)) { await refreshLists(); s = summary(sid); if (S.cur !== sid) return; }
  $('#conv-empty').hidden = true;
  $('#conv-inner').hidden = false;
  $('#typing').hidden = true;
  renderHead();
  const st = store(sid);
  $('#messages').replaceChildren();
  const t0 = performance.now();
  if (canRead(s) && !st.loaded) {
    try { await loadHistory(sid); } catch (e) { $('#messages').append(h('div', { class: 'error', text: e.message })); }
  } else if (!canRead(s) && s?.last) {
    $('#messages').append(h('div', { class: 'hint', text: t('conv.claim_to_read') }),
      renderMessage({ ...s.last, attachment: null }, { viewer: 'agent' }));
  }
  if (S.cur !== sid) return;
  st.shown = Math.min(PAGE, st.order.length);
  if (st.order.length) renderWindow(true);
  S.openMs = performance.now() - t0;
  markRead(sid);
  loadCustomer(sid);
}

function markRead(sid) {
  const st = store(sid);
  const last = [...st.order].reverse().find((m) => m.id && m.sender_kind === 'customer');
  const s = summary(sid);
  if (!last || document.hidden || !canRead(s) || S.me.kind === 'supervisor' || S.me.readOnly) return;
  if (st.readUpTo >= last.id) return;
  st.readUpTo = last.id;
  S.conn.send({ type: 'read', session_id: sid, up_to: last.id });
  if (s) { s.unread = 0; renderList(); }
}

async function loadCustomer(sid) {
  const body = $('#cust-body');
  body.replaceChildren();
  let c;
  try { c = await S.conn.request({ type: 'customer', session_id: sid }); } catch { return; }
  if (!c || S.cur !== sid) return;
  const dl = h('dl', {},
    h('dt', { text: t('cust.name') }), h('dd', { text: c.customer.name }),
    h('dt', { text: t('cust.vip') }), h('dd', { text: String(c.customer.vip_level) }),
    h('dt', { text: t('cust.language') }), h('dd', { text: c.customer.language || '—' }),
    h('dt', { text: t('cust.issue') }), h('dd', { text: c.session.issue_type || '—' }));
  for (const [k, v] of Object.entries(c.customer.attributes || {})) dl.append(h('dt', { text: k }), h('dd', { text: typeof v === 'object' ? JSON.stringify(v) : String(v) }));
  body.append(dl,
    h('h3', { text: t('cust.sessions') }),
    h('ul', { class: 'plain' }, c.sessions.length ? c.sessions.map((x) => h('li', { text: `#${x.id} ${t(`state.${x.state}`)} ${x.close_reason || ''} · ${new Date(x.created_at).toLocaleDateString()}` })) : h('li', { text: '—' })),
    h('h3', { text: t('cust.tickets') }),
    h('ul', { class: 'plain' }, c.tickets.length ? c.tickets.map((x) => h('li', { text: `#${x.number} ${x.subject || ''} · ${t(`tstatus.${x.status}`)}` })) : h('li', { text: '—' })));
}

// ---- events
export function onEvent(ev) {
  const p = ev.payload || {};
  if (ev.type === 'message.created' && ev.message) {
    const m = ev.message;
    const sid = ev.session_id;
    const st = store(sid);
    const { m: msg, isNew } = put(sid, m);
    const s = summary(sid);
    if (s && m.sender_kind !== 'note') {
      s.last = { id: m.id, sender_kind: m.sender_kind, type: m.type, body: m.body, created_at: m.created_at };
      if (m.sender_kind === 'customer' && !(S.cur === sid && !document.hidden)) s.unread = (s.unread || 0) + 1;
    }
    if (S.cur === sid) {
      if (isNew) { st.shown++; appendDom(msg); } else updateDom(msg);
      if (m.sender_kind === 'customer') { $('#typing').hidden = true; markRead(sid); }
    }
    renderList();
    return;
  }
  if (ev.type === 'message.read' || ev.type === 'message.delivered') {
    const st = S.msgs.get(ev.session_id);
    if (!st || p.reader_kind !== 'customer') return;
    const field = ev.type === 'message.read' ? 'read_at' : 'delivered_at';
    for (const m of st.order) {
      if (m.id && m.id <= p.up_to && m.sender_kind !== 'customer' && !m[field]) {
        m[field] = ev.at;
        if (field === 'read_at' && !m.delivered_at) m.delivered_at = ev.at;
        if (S.cur === ev.session_id) updateDom(m);
      }
    }
    return;
  }
  if (ev.type.startsWith('session.') || ev.type === 'queue.updated') {
    if (ev.type === 'session.state' && p.to === 'closed' && S.cur === ev.session_id) {
      $('#messages').append(h('div', { class: 'msg system', text: t('conv.closed') }));
    }
    refreshListsSoon();
  }
}

function appendDom(m) {
  const box = $('#messages');
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 60;
  box.append(renderMessage(m, { viewer: 'agent' }));
  if (atBottom || m.sender_kind === 'agent' || m.sender_kind === 'note') box.scrollTop = box.scrollHeight;
}

function updateDom(m) {
  const sel = m.id ? `[data-id="${m.id}"]` : `[data-cmid="${CSS.escape(m.client_msg_id || '')}"]`;
  const el = $('#messages').querySelector(sel) ||
    (m.client_msg_id && $('#messages').querySelector(`[data-cmid="${CSS.escape(m.client_msg_id)}"]`));
  if (!el) return;
  el.dataset.id = m.id || '';
  const old = el.querySelector('.ticks');
  if (old) old.replaceWith(ticks(m));
}

let typingHide;
export function onTyping(f) {
  if (f.session_id !== S.cur || f.from !== 'customer') return;
  $('#typing').hidden = false;
  clearTimeout(typingHide);
  typingHide = setTimeout(() => { $('#typing').hidden = true; }, 4000);
}

// ---- composer
async function send(extra = {}) {
  const sid = S.cur;
  const text = $('#input').value.trim();
  if (!sid || (!text && !extra.attachment)) return;
  const note = $('#note').checked;
  const frame = { type: 'message', session_id: sid, text: text || undefined, client_msg_id: uid('a'),
    message_type: extra.message_type || 'text', attachment: extra.attachment, note: note || undefined };
  $('#input').value = '';
  hideQr();
  const local = { id: null, session_id: sid, sender_kind: note ? 'note' : 'agent', sender_id: S.me.id,
    type: frame.message_type, body: frame.text || null, attachment: extra.attachment || null,
    client_msg_id: frame.client_msg_id, created_at: new Date().toISOString() };
  const { m, isNew } = put(sid, local);
  if (isNew) { store(sid).shown++; appendDom(m); }
  try {
    const r = await S.conn.request(frame);
    if (!m.id) { put(sid, { client_msg_id: frame.client_msg_id, id: r.message_id }); updateDom(m); }
  } catch (e) {
    if (e.code === 'unavailable' || e.code === 'timeout') S.conn.send(frame);   // idempotent by client_msg_id
    else flash(e.message);
  }
}

function flash(text) {
  const el = h('div', { class: 'toast', role: 'alert', text });
  document.body.append(el);
  setTimeout(() => el.remove(), 4000);
}

async function sendFile(file) {
  if (!S.cur || !file) return;
  try {
    const u = await upload(S.token, file);
    const image = (u.mime || file.type || '').startsWith('image/');
    await send({ message_type: image ? 'image' : 'file',
      attachment: { upload_id: u.id, url: u.url, name: file.name || 'file', mime: u.mime || file.type, size: u.size ?? file.size } });
  } catch (e) {
    flash(e.code === 'no_uploads' ? t('upload.unavailable') : e.message);
  }
}

// qrSeq: an answer to an older keystroke, or one arriving after a pick or
// an Escape, must not reopen the list (Enter would pick again, not send)
let qrItems = [], qrSel = 0, qrSeq = 0;
function hideQr() { qrSeq++; $('#qr').hidden = true; qrItems = []; }
async function showQr(prefix) {
  const seq = ++qrSeq;
  let rows = [];
  try { rows = await S.conn.request({ type: 'quick_replies', prefix }); } catch { return; }
  if (seq !== qrSeq || $('#input').value !== `/${prefix}`) return;
  qrItems = rows; qrSel = 0;
  const ul = $('#qr');
  ul.replaceChildren(...rows.map((r, i) => h('li', { role: 'option', 'aria-selected': String(i === 0), dataset: { i },
    onclick: () => pickQr(i) }, h('b', { text: `/${r.shortcode}` }), ' ', h('span', { text: r.title || r.body }))));
  ul.hidden = rows.length === 0;
}
async function pickQr(i) {
  const r = qrItems[i];
  hideQr();
  if (!r) return;
  try {
    const x = await S.conn.request({ type: 'quick_reply', quick_reply_id: r.quick_reply_id, session_id: S.cur });
    $('#input').value = x.text || r.body;
  } catch { $('#input').value = r.body; }
  hideQr();   // a list shown by a late answer while the pick was out
  $('#input').focus();
}

// ---- dialogs
function dialog(title, body, onOk) {
  const dlg = $('#dlg');
  $('#dlg-title').textContent = title;
  $('#dlg-body').replaceChildren(...body);
  dlg.onclose = () => { if (dlg.returnValue === 'ok') onOk(new FormData($('#dlg-form'))); };
  dlg.returnValue = '';
  dlg.showModal();
}

function field(labelKey, input) { return h('label', { class: 'field' }, h('span', { text: t(labelKey) }), input); }

function transferDialog() {
  const agents = (S.dir?.agents || []).filter((a) => a.id !== S.me.id);
  const target = h('select', { name: 'target', required: true },
    h('optgroup', { label: t('transfer.agents') }, agents.map((a) => h('option', { value: `a${a.id}`, text: `${a.name} (${t(`status.${a.status}`)})` }))),
    h('optgroup', { label: t('transfer.queues') }, (S.dir?.queues || []).map((q) => h('option', { value: `q${q.id}`, text: q.name }))));
  dialog(t('conv.transfer'), [field('transfer.to', target), field('transfer.note', h('textarea', { name: 'note', rows: 2 }))], async (fd) => {
    const v = String(fd.get('target'));
    const frame = { type: 'transfer', session_id: S.cur, note: fd.get('note') || undefined };
    if (v[0] === 'a') frame.to_agent_id = Number(v.slice(1)); else frame.to_queue_id = Number(v.slice(1));
    try { await S.conn.request(frame); refreshLists(); } catch (e) { flash(e.message); }
  });
}

function closeDialog() {
  const reason = h('select', { name: 'reason' }, ['resolved', 'no_response', 'duplicate', 'spam', 'other'].map((r) => h('option', { value: r, text: t(`close.${r}`) })));
  dialog(t('conv.close'), [field('close.reason', reason)], async (fd) => {
    try { await S.conn.request({ type: 'close', session_id: S.cur, reason: String(fd.get('reason')) }); refreshLists(); }
    catch (e) { flash(e.message); }
  });
}

function escalateDialog() {
  const prio = h('select', { name: 'priority' }, ['normal', 'high', 'urgent', 'low'].map((p) => h('option', { value: p, text: t(`prio.${p}`) })));
  dialog(t('conv.escalate'), [field('escalate.subject', h('input', { name: 'subject', required: true })), field('tickets.priority', prio),
    field('transfer.note', h('textarea', { name: 'note', rows: 2 }))], async (fd) => {
    try {
      const r = await S.conn.request({ type: 'escalate', session_id: S.cur, subject: String(fd.get('subject')),
        priority: String(fd.get('priority')), note: fd.get('note') || undefined });
      flash(t('escalate.done', { id: r.ticket_id }));
      refreshLists();
    } catch (e) { flash(e.message); }
  });
}

export function initChat() {
  for (const b of document.querySelectorAll('[data-tab]')) {
    b.addEventListener('click', () => {
      S.tab = b.dataset.tab;
      for (const x of document.querySelectorAll('[data-tab]')) x.setAttribute('aria-selected', String(x === b));
      renderList();
    });
  }
  $('#search').addEventListener('input', renderList);
  $('#filter').addEventListener('change', renderList);
  const pick = (e) => { const li = e.target.closest('li[data-session]'); if (li) openSession(Number(li.dataset.session)); };
  $('#list').addEventListener('click', pick);
  $('#list').addEventListener('keydown', (e) => { if (e.key === 'Enter') pick(e); });
  $('#messages').addEventListener('scroll', () => {
    if (S.cur && $('#messages').scrollTop < 40) scrolledUp(S.cur);
  });
  let lastTyping = 0;
  const input = $('#input');
  input.addEventListener('input', () => {
    const v = input.value;
    if (v.startsWith('/') && !v.includes(' ')) showQr(v.slice(1)); else hideQr();
    if (S.cur && !$('#note').checked && Date.now() - lastTyping > 2500) {
      lastTyping = Date.now();
      S.conn.send({ type: 'typing', session_id: S.cur });
    }
  });
  input.addEventListener('keydown', (e) => {
    if (!$('#qr').hidden && qrItems.length) {
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        qrSel = (qrSel + (e.key === 'ArrowDown' ? 1 : qrItems.length - 1)) % qrItems.length;
        [...$('#qr').children].forEach((li, i) => li.setAttribute('aria-selected', String(i === qrSel)));
        return;
      }
      if (e.key === 'Enter' || e.key === 'Tab') { e.preventDefault(); pickQr(qrSel); return; }
      if (e.key === 'Escape') { hideQr(); return; }
    }
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); }
  });
  $('#send').addEventListener('click', () => send());
  $('#note').addEventListener('change', () => $('#drop').classList.toggle('noting', $('#note').checked));
  $('#file').addEventListener('change', (e) => { sendFile(e.target.files[0]); e.target.value = ''; });
  const drop = $('#drop');
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => { e.preventDefault(); drop.classList.remove('over'); for (const f of e.dataTransfer.files) sendFile(f); });
  input.addEventListener('paste', (e) => {
    for (const it of e.clipboardData?.items || []) if (it.kind === 'file') { e.preventDefault(); sendFile(it.getAsFile()); }
  });
  $('#btn-claim').addEventListener('click', async () => {
    try { await S.conn.request({ type: 'claim', session_id: S.cur }); await refreshLists(); openSession(S.cur); } catch (e) { flash(e.message); }
  });
  $('#btn-transfer').addEventListener('click', transferDialog);
  $('#btn-close').addEventListener('click', closeDialog);
  $('#btn-escalate').addEventListener('click', escalateDialog);
  document.addEventListener('visibilitychange', () => { if (S.cur) markRead(S.cur); });
  document.addEventListener('hd-locale', () => { renderList(); if (S.cur) { renderHead(); renderWindow(true); loadCustomer(S.cur); } });
  setInterval(() => { if (!document.hidden && S.me) renderList(); }, 30000);   // waiting times
  void time;
}
