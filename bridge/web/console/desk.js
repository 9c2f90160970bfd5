// Tickets (list with filters, detail with thread, reply, note, status,
// priority, assignee, SLA countdown) and the supervisor view (live queues,
// agents' load, bot sessions to take over, agent-to-agent chat).
import { uid } from './common/conn.js';
import { t, dur } from './common/i18n.js';
import { h, renderMessage } from './common/msg.js';
import { S, $, refreshLists } from './chat.js';

let view = 'chats';
let curTicket = null;

export function showView(v) {
  view = v;
  for (const b of document.querySelectorAll('[data-view]')) b.setAttribute('aria-selected', String(b.dataset.view === v));
  for (const name of ['chats', 'tickets', 'supervisor']) $(`#view-${name}`).hidden = name !== v;
  if (v === 'tickets') loadTickets();
  if (v === 'supervisor') loadSupervisor();
}

function slaDue(tk) {
  const d = [tk.sla_first_response_due, tk.sla_next_response_due, tk.sla_resolution_due].filter(Boolean).map((x) => new Date(x).getTime());
  return d.length ? Math.min(...d) : null;
}

// SLA badges and the detail's countdown carry their due time (data-due, ms)
// and data-sla (badge or countdown); tickSla() rewrites them every second
function slaText(el) {
  const left = (Number(el.dataset.due) - Date.now()) / 1000;
  if (el.dataset.sla === 'badge') {
    el.className = `badge sla ${left < 0 ? 'breached' : left < 3600 ? 'risk' : ''}`;
    el.textContent = left < 0 ? t('badge.sla_breached') : t('badge.sla', { t: dur(left) });
  } else {
    el.textContent = t('tickets.sla_due', { t: left < 0 ? t('badge.sla_breached') : dur(left) });
  }
  return el;
}

function tickSla() {
  for (const el of document.querySelectorAll('#view-tickets [data-due]')) slaText(el);
}

function slaBadge(tk) {
  const due = slaDue(tk);
  if (due == null) return null;
  return slaText(h('span', { dataset: { due, sla: 'badge' } }));
}

// the assignee filter: all, mine, unassigned, and for supervisors each agent
// of the directory (value @<id>: frame tickets with assignee_id)
function fillScope() {
  const sel = $('#t-scope');
  const want = S.me?.kind === 'supervisor' ? (S.dir?.agents || []) : [];
  let group = sel.querySelector('optgroup');
  const ids = want.map((a) => a.id).join();
  if (group && group.dataset.ids === ids) { group.label = t('tickets.by_agent'); return; }
  const keep = sel.value;
  group?.remove();
  if (!want.length) { if (!sel.value) sel.value = 'all'; return; }
  group = h('optgroup', { label: t('tickets.by_agent'), dataset: { ids } },
    want.map((a) => h('option', { value: `@${a.id}`, text: a.name })));
  sel.append(group);
  sel.value = [...sel.options].some((o) => o.value === keep) ? keep : 'all';
}

function scopeFrame() {
  const v = $('#t-scope').value;
  return v.startsWith('@') ? { scope: 'all', assignee_id: Number(v.slice(1)) } : { scope: v };
}

export async function loadTickets() {
  fillScope();
  let rows = [];
  try {
    rows = await S.conn.request({ type: 'tickets', ...scopeFrame(),
      status: $('#t-status').value || undefined, priority: $('#t-priority').value || undefined });
  } catch { return; }
  const sla = $('#t-sla').value;
  const now = Date.now();
  const ul = $('#t-list');
  ul.replaceChildren(...rows.filter((tk) => {
    const due = slaDue(tk);
    if (sla === 'breached') return due != null && due < now;
    if (sla === 'risk') return due != null && due < now + 3600e3;
    return true;
  }).map((tk) => h('li', { role: 'option', tabindex: '0', class: `item ${tk.id === curTicket ? 'current' : ''}`, dataset: { ticket: tk.id } },
    h('div', { class: 'row1' }, h('span', { class: 'name', text: `#${tk.number} ${tk.subject}` }), slaBadge(tk)),
    h('div', { class: 'row2' }, h('span', { class: `prio ${tk.priority}`, text: t(`prio.${tk.priority}`) }),
      h('span', { class: 'state', text: t(`tstatus.${tk.status}`) }),
      h('span', { class: 'queue', text: agentName(tk.assignee_id) || t('tickets.unassigned') })))));
  if (!ul.children.length) ul.append(h('li', { class: 'none', text: t('list.none') }));
}

function agentName(id) { return id ? (S.dir?.agents.find((a) => a.id === id)?.name || `#${id}`) : ''; }

function select(name, values, current, labelPrefix) {
  return h('select', { name, 'aria-label': t(`tickets.${name}`) }, values.map((v) => h('option', { value: v, selected: v === current, text: labelPrefix ? t(`${labelPrefix}.${v}`) : v })));
}

async function openTicket(id) {
  curTicket = id;
  const pane = $('#t-detail');
  let tk, thread;
  try {
    [tk, thread] = await Promise.all([S.conn.request({ type: 'ticket', ticket_id: id }),
      S.conn.request({ type: 'ticket_history', ticket_id: id })]);
  } catch (e) { pane.replaceChildren(h('div', { class: 'error', text: e.message })); return; }
  const status = select('status', ['new', 'open', 'pending', 'resolved', 'closed'], tk.status, 'tstatus');
  const prio = select('priority', ['low', 'normal', 'high', 'urgent'], tk.priority, 'prio');
  const assignee = h('select', { name: 'assignee', 'aria-label': t('tickets.assignee') },
    h('option', { value: '', text: t('tickets.unassigned') }),
    (S.dir?.agents || []).map((a) => h('option', { value: a.id, selected: a.id === tk.assignee_id, text: a.name })));
  const act = (frame, undo) => S.conn.request(frame).then(() => openTicket(id)).then(loadTickets)
    .catch((e) => { if (undo) undo(); toast(e.message); });
  status.addEventListener('change', () => act({ type: 'ticket_status', ticket_id: id, status: status.value }));
  prio.addEventListener('change', () => act({ type: 'ticket_priority', ticket_id: id, priority: prio.value }));
  assignee.addEventListener('change', () => act({ type: 'ticket_assign', ticket_id: id, agent_id: assignee.value ? Number(assignee.value) : null }));
  const input = h('textarea', { rows: 3, 'aria-label': t('composer.placeholder'), placeholder: t('composer.placeholder') });
  // a re-render of the same ticket (an event, a language switch) keeps the draft
  const same = pane.dataset.ticket === String(id);
  const draft = same ? pane.querySelector('textarea')?.value : '';
  if (draft) input.value = draft;
  const note = h('input', { type: 'checkbox' });
  note.checked = same && !!pane.querySelector('.composer input[type=checkbox]')?.checked;
  const after = select('after', ['', 'pending', 'resolved'], (same && pane.querySelector('select[name=after]')?.value) || '', null);
  after.options[0].textContent = t('tickets.keep_status');
  after.options[1].textContent = t('tstatus.pending');
  after.options[2].textContent = t('tstatus.resolved');
  const send = h('button', { type: 'button', class: 'send', text: t('tickets.reply'), onclick: () => {
    const text = input.value.trim();
    if (!text) return;
    input.value = '';
    const asNote = note.checked, next = after.value || undefined;
    after.value = '';
    act(asNote ? { type: 'ticket_note', ticket_id: id, text, client_msg_id: uid('n') }
      : { type: 'ticket_reply', ticket_id: id, text, client_msg_id: uid('t'), status: next },
      () => { if (!input.value) input.value = text; });
  } });
  const ro = S.me.readOnly;   // qa: reads the ticket, changes nothing
  for (const el of [status, prio, assignee]) el.disabled = ro;
  const due = slaDue(tk);
  pane.dataset.ticket = String(id);
  pane.replaceChildren(h('div', { class: 'conv-inner' },
    h('header', { class: 'conv-head' }, h('h2', { text: `#${tk.number} ${tk.subject}` }), slaBadge(tk),
      h('div', { class: 'conv-actions' }, h('label', {}, t('tickets.status'), ' ', status),
        h('label', {}, t('tickets.priority'), ' ', prio), h('label', {}, t('tickets.assignee'), ' ', assignee),
        tk.assignee_id || ro ? null : h('button', { type: 'button', text: t('tickets.take'), onclick: () => act({ type: 'ticket_take', ticket_id: id }) }))),
    due ? slaText(h('p', { class: 'hint sla-countdown', 'aria-live': 'off', dataset: { due, sla: 'countdown' } })) : null,
    h('div', { class: 'messages', role: 'log', tabindex: '0' }, thread.map((m) => renderMessage(m, { viewer: 'agent' }))),
    ro ? null : h('div', { class: 'composer' }, input,
      h('div', { class: 'composer-row' }, h('label', { class: 'note-toggle' }, note, ' ', t('composer.note')),
        h('label', {}, t('tickets.after'), ' ', after), send))));
  const last = thread.filter((m) => m.sender_kind === 'customer').pop();
  if (last && !ro) S.conn.send({ type: 'ticket_read', ticket_id: id, up_to: last.id });
}

// action: an optional [label, fn] button; such a toast stays longer
function toast(text, action) {
  const el = h('div', { class: 'toast', role: 'alert' }, h('span', { text }),
    action ? h('button', { type: 'button', class: 'toast-action', text: action[0], onclick: () => { el.remove(); action[1](); } }) : null);
  document.body.append(el);
  setTimeout(() => el.remove(), action ? 15000 : 4000);
}

export async function loadSupervisor() {
  let d;
  try { d = await S.conn.request({ type: 'directory' }); } catch { return; }
  S.dir = d;
  $('#sup-queues tbody').replaceChildren(...d.queues.map((q) => h('tr', {},
    h('td', { text: q.name }), h('td', { text: String(q.waiting) }),
    h('td', { text: q.longest_wait_s != null ? dur(q.longest_wait_s) : '—' }),
    h('td', { class: q.sla_at_risk ? 'risk' : '', text: String(q.sla_at_risk) }), h('td', { text: String(q.bot) }))));
  const by = { online: 0, busy: 0, away: 0, offline: 0 };
  for (const a of d.agents) by[a.status]++;
  $('#sup-summary').textContent = t('sup.summary', by);
  $('#sup-agents tbody').replaceChildren(...d.agents.map((a) => h('tr', {},
    h('td', { text: a.name }), h('td', { text: t(`status.${a.status}`) }),
    h('td', { text: `${a.active} / ${a.max_sessions}` }), h('td', { text: String(a.offered) }),
    h('td', {}, a.id === S.me.id ? null : h('button', { type: 'button', text: t('sup.chat'), onclick: () => agentChat(a) })))));
  const bots = S.lists.all.filter((s) => s.state === 'bot');
  $('#sup-bots').replaceChildren(...(bots.length ? bots.map((s) => h('li', { class: 'item' },
    h('span', { text: `#${s.id} ${s.customer.name} · ${s.last?.body || ''}` }),
    S.me.readOnly ? null : h('button', { type: 'button', text: t('sup.takeover'), onclick: async () => {
      try { await S.conn.request({ type: 'takeover', session_id: s.id }); await refreshLists(); loadSupervisor(); } catch (e) { toast(e.message); }
    } }))) : [h('li', { class: 'none', text: t('list.none') })]));
}

// agent-to-agent chat: a message to one agent (event agent.message); the
// receiver's toast has a reply button, so any agent answers whoever wrote
function agentChat(a) {
  const text = prompt(t('sup.chat_to', { name: a.name }));
  if (text) S.conn.request({ type: 'agent_message', to_agent_id: a.id, text }).then(() => toast(t('sup.sent'))).catch((e) => toast(e.message));
}

export function onDeskEvent(ev) {
  // to me only: a supervisor's socket sees every agent's messages of the tenant
  if (ev.type === 'agent.message' && ev.audience === 'agent' && ev.audience_id === S.me?.id) {
    const p = ev.payload || {};
    const name = agentName(p.from_agent_id) || '';
    toast(t('sup.from', { name, text: p.body || '' }),
      p.from_agent_id && p.from_agent_id !== S.me?.id ? [t('sup.reply'), () => agentChat({ id: p.from_agent_id, name })] : null);
  }
  if (view === 'tickets' && ev.type.startsWith('ticket.')) {
    clearTimeout(onDeskEvent.tm);
    onDeskEvent.tm = setTimeout(() => { loadTickets(); if (curTicket && ev.payload?.ticket_id === curTicket) openTicket(curTicket); }, 200);
  }
  if (view === 'supervisor' && (ev.type.startsWith('session.') || ev.type.startsWith('agent.'))) {
    clearTimeout(onDeskEvent.ts);
    onDeskEvent.ts = setTimeout(loadSupervisor, 300);
  }
}

export function initDesk() {
  for (const id of ['#t-scope', '#t-status', '#t-priority', '#t-sla']) $(id).addEventListener('change', loadTickets);
  $('#t-list').addEventListener('click', (e) => { const li = e.target.closest('li[data-ticket]'); if (li) openTicket(Number(li.dataset.ticket)); });
  $('#t-list').addEventListener('keydown', (e) => { const li = e.target.closest('li[data-ticket]'); if (li && e.key === 'Enter') openTicket(Number(li.dataset.ticket)); });
  setInterval(() => { if (view === 'supervisor' && S.conn?.state === 'open') loadSupervisor(); }, 5000);
  setInterval(() => { if (view === 'tickets' && !document.hidden) tickSla(); }, 1000);
  document.addEventListener('hd-locale', () => {
    if (view === 'tickets') { loadTickets(); if (curTicket) openTicket(curTicket); }
    if (view === 'supervisor') loadSupervisor();
  });
}
