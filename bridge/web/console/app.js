// The agent console: login (or a token from the studio's admin page in
// #token=...), the connection and its banner, status, offers, and the views
// (chats: chat.js; tickets and supervisor: desk.js).
import { Conn } from './common/conn.js';
import { apply, setLocale, getLocale, t, dur } from './common/i18n.js';
import { h, setViewerToken } from './common/msg.js';
import { S, $, refreshLists, renderList, renderWindow, openSession, scrolledUp, onEvent as chatEvent, onTyping, initChat } from './chat.js';
import { initDesk, onDeskEvent, showView } from './desk.js';

const TOKEN_KEY = 'hd.console.token';

function jwtClaims(tok) {
  try {
    const p = tok.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(decodeURIComponent(escape(atob(p))));
  } catch { return null; }
}

function banner(text, kind = 'warn') {
  const b = $('#banner');
  b.hidden = !text;
  b.textContent = text || '';
  b.dataset.kind = kind;
}

async function login(form) {
  const err = $('#login-error');
  err.textContent = '';
  const body = { tenant: form.tenant.value.trim(), agent: form.agent.value.trim(),
    password: form.password.value, ttl: 43200 };
  let r;
  try {
    r = await fetch('/api/v1/agent/login', { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body) });
  } catch { err.textContent = t('login.network'); return; }
  if (r.status === 404 || r.status === 405) { err.textContent = t('login.no_route'); return; }
  const j = await r.json().catch(() => ({}));
  if (r.status === 429) { err.textContent = t('login.locked', { s: r.headers.get('Retry-After') || '?' }); return; }
  if (!r.ok) { err.textContent = t('login.bad'); return; }
  start(j.token);
}

function start(token) {
  const claims = jwtClaims(token);
  if (!claims) { $('#login-error').textContent = t('login.bad_token'); return; }
  sessionStorage.setItem(TOKEN_KEY, token);
  S.token = token;
  S.claims = claims;
  setViewerToken(token);
  $('#login').hidden = true;
  $('#app').hidden = false;
  banner(t('conn.connecting'));
  const conn = new Conn(token);
  S.conn = conn;
  conn.addEventListener('hello', (e) => onHello(e.detail));
  conn.addEventListener('event', (e) => onEvent(e.detail));
  conn.addEventListener('typing', (e) => onTyping(e.detail));
  conn.addEventListener('state', (e) => {
    const { state, code } = e.detail;
    document.body.dataset.conn = state;
    if (state === 'offline') banner(t('conn.offline'), 'error');
    else if (state === 'closed' && code) {
      banner(t(code === 4003 ? 'conn.expired' : 'conn.refused'), 'error');
      sessionStorage.removeItem(TOKEN_KEY);
      setTimeout(() => location.reload(), 3000);
    }
  });
  // the agent's presence: a heartbeat frame now and then keeps a quiet socket alive
  setInterval(() => conn.send({ type: 'heartbeat' }), 20000);
}

async function onHello(hello) {
  const again = !!S.me;
  // kind: what the socket sees (its chats, or the tenant); role (agent_login's
  // tokens): what it may do. A qa agent reads only: no composer, accept,
  // claim, transfer, close, escalate, takeover or ticket changes; the bridge
  // refuses those frames to it anyway (error read_only).
  S.me = { kind: hello.kind, role: hello.role || null, tenant: hello.tenant, id: hello.subject };
  S.me.readOnly = S.me.role === 'qa';
  document.body.dataset.kind = hello.kind;
  if (S.me.role) document.body.dataset.role = S.me.role;
  else delete document.body.dataset.role;
  $('#drop').hidden = S.me.readOnly;
  banner(again ? t('conn.resumed', { pos: hello.position }) : '', 'ok');
  if (again) setTimeout(() => { if (S.conn.state === 'open') banner(''); }, 2500);
  const sup = hello.kind === 'supervisor';
  for (const el of document.querySelectorAll('[data-tab="all"], [data-view="supervisor"]')) el.hidden = !sup;
  // the directory and the lists in parallel: one round trip to interactive
  const dir = S.conn.request({ type: 'directory' }).then((d) => {
    S.dir = d;
    const mine = d.agents.find((a) => a.id === S.me.id);
    if (mine) {
      $('#me').textContent = mine.name;
      $('#status').value = mine.status;
    }
  }).catch(() => { /* shown by the banner */ });
  await Promise.all([dir, refreshLists()]);
  document.dispatchEvent(new CustomEvent('hd-ready'));
  if (!document.body.dataset.ready) window.hdReadyAt = performance.now();   // time to interactive (bench/console)
  document.body.dataset.ready = '1';
}

// ---- offers: a card with a countdown, a sound and a desktop notification
let audio;
function ding() {
  try {
    audio = audio || new AudioContext();
    const o = audio.createOscillator(), g = audio.createGain();
    o.frequency.value = 880; g.gain.value = 0.08;
    o.connect(g).connect(audio.destination);
    o.start(); o.stop(audio.currentTime + 0.25);
  } catch { /* no audio device */ }
}

// until: when the offer runs out (ms); from the list's offer_expires_at, or
// the event's time plus the queue's offer timeout
export function offerCard(sessionId, queueId, until) {
  if (S.me?.readOnly) return;   // never offered one (the dispatcher skips qa); nothing to accept
  if (document.querySelector(`.offer[data-session="${sessionId}"]`)) return;
  const q = S.dir?.queues.find((x) => x.id === queueId);
  if (!until) return;
  const left = h('span', { class: 'countdown', 'aria-live': 'off' });
  const card = h('div', { class: 'offer', role: 'alert', dataset: { session: sessionId } },
    h('strong', { text: t('offer.title', { id: sessionId, queue: q?.name || '' }) }), left,
    h('button', { type: 'button', class: 'accept', text: t('offer.accept'), onclick: async () => {
      card.remove();
      try { await S.conn.request({ type: 'accept', session_id: sessionId }); await refreshLists(); }
      catch (e) { banner(e.message, 'error'); }
    } }),
    h('button', { type: 'button', class: 'decline', text: t('offer.decline'), onclick: async () => {
      card.remove();
      try { await S.conn.request({ type: 'decline', session_id: sessionId, reason: 'declined' }); } catch { /* gone */ }
      refreshLists();
    } }));
  const tick = () => {
    const s = (until - Date.now()) / 1000;
    if (s <= 0 || !card.isConnected) { card.remove(); clearInterval(iv); return; }
    left.textContent = t('offer.left', { t: dur(s) });
  };
  $('#offers').append(card);
  const iv = setInterval(tick, 500);
  tick();
  ding();
  if ('Notification' in window && Notification.permission === 'granted' && document.hidden) {
    new Notification(t('offer.notify'), { body: t('offer.title', { id: sessionId, queue: q?.name || '' }) });
  }
}

function onEvent(ev) {
  const p = ev.payload || {};
  if (ev.type === 'session.state' && ev.audience === 'agent' && p.to === 'offered' && p.agent_id === S.me?.id) {
    const q = S.dir?.queues.find((x) => x.id === p.queue_id);
    offerCard(ev.session_id, p.queue_id, new Date(ev.at).getTime() + (q?.offer_timeout_s || 30) * 1000);
  }
  if (ev.type === 'session.state' && p.from === 'offered') {
    document.querySelector(`.offer[data-session="${ev.session_id}"]`)?.remove();
  }
  if (ev.type === 'agent.status' && (p.agent_id === S.me?.id || (ev.audience === 'agent' && ev.audience_id === S.me?.id)) && p.status) {
    $('#status').value = p.status;
  }
  chatEvent(ev);
  onDeskEvent(ev);
}

// ---- boot
function boot() {
  apply();
  for (const b of document.querySelectorAll('[data-lang-toggle]')) {
    b.addEventListener('click', () => setLocale(getLocale() === 'en' ? 'zh-CN' : 'en'));
  }
  $('#login').addEventListener('submit', (e) => { e.preventDefault(); login(e.target); });
  $('#token-login').addEventListener('click', () => start($('#login').token.value.trim()));
  $('#status').addEventListener('change', async (e) => {
    try { await S.conn.request({ type: 'status', status: e.target.value }); } catch (x) { banner(x.message, 'error'); }
  });
  $('#notify').addEventListener('click', () => { if ('Notification' in window) Notification.requestPermission(); });
  $('#logout').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    try { S.conn.request({ type: 'status', status: 'offline' }).finally(() => location.replace(location.pathname)); }
    catch { location.replace(location.pathname); }
  });
  for (const b of document.querySelectorAll('[data-view]')) b.addEventListener('click', () => showView(b.dataset.view));
  S.onOffered = offerCard;
  initChat();
  initDesk();
  const hash = new URLSearchParams(location.hash.slice(1));
  const tok = hash.get('token') || sessionStorage.getItem(TOKEN_KEY);
  if (hash.get('token')) history.replaceState(null, '', location.pathname + location.search);
  if (tok) start(tok);
  else $('#login').hidden = false;
}

// a handle for the benchmark and for debugging in the browser's console
window.hdConsole = { S, refreshLists, renderList, renderWindow, openSession, scrolledUp };
boot();
