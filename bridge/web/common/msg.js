// Rendering of one chat message for the console and the widget. Text is
// always set with textContent, never parsed as HTML.
import { t, time } from './i18n.js';

export function h(tag, attrs = {}, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of kids.flat()) if (c != null && c !== false) el.append(c);
  return el;
}

function size(n) {
  if (!n && n !== 0) return '';
  return n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KB` : `${(n / 1048576).toFixed(1)} MB`;
}

// which side a message is on for a viewer ('agent' or 'customer')
export function mine(m, viewer) {
  if (viewer === 'customer') return m.sender_kind === 'customer';
  return m.sender_kind === 'agent' || m.sender_kind === 'note';
}

export function ticks(m) {
  const state = m.read_at ? 'read' : m.delivered_at ? 'delivered' : m.id ? 'sent' : 'sending';
  return h('span', { class: `ticks ${state}`, 'aria-label': t(`tick.${state}`), title: t(`tick.${state}`),
    dataset: { tick: state } }, state === 'read' || state === 'delivered' ? '✓✓' : state === 'sent' ? '✓' : '…');
}

// Where an attachment is fetched: the stable GET /api/v1/uploads/{id}
// (redirects to a fresh signed URL; the signed url in the message expires)
// with the viewer's token, else the url the message carries.
let viewerToken = null;
export function setViewerToken(tok) { viewerToken = tok; }
function fileUrl(a) {
  if (a.upload_id && viewerToken) return `/api/v1/uploads/${encodeURIComponent(a.upload_id)}?token=${encodeURIComponent(viewerToken)}`;
  return a.url || '#';
}

export function renderMessage(m, { viewer, onOption } = {}) {
  const kind = m.sender_kind;
  const cls = ['msg', `from-${kind}`, `type-${m.type}`];
  if (kind === 'system' || m.type === 'system') cls.push('system');
  else cls.push(mine(m, viewer) ? 'mine' : 'theirs');
  const body = h('div', { class: 'bubble' });
  const a = m.attachment || {};
  if (kind === 'note') body.append(h('div', { class: 'note-tag', text: t('msg.note') }));
  // a survey request (csat.c): tagged, so a transcript shows where it was asked
  if (m.type === 'csat') body.append(h('div', { class: 'csat-tag', text: `★ ${t('msg.csat')}` }));
  if (m.type === 'image' && (a.url || a.upload_id)) {
    const src = fileUrl(a);
    body.append(h('a', { href: src, target: '_blank', rel: 'noopener' },
      h('img', { src, alt: a.name || t('msg.image'), loading: 'lazy', class: 'preview' })));
  } else if (m.type === 'image' || m.type === 'file') {
    body.append(h('a', { class: 'file', href: fileUrl(a), target: '_blank', rel: 'noopener', download: a.name || true },
      h('span', { class: 'file-icon', 'aria-hidden': 'true', text: m.type === 'image' ? '▣' : '⎘' }),
      h('span', { class: 'file-name', text: a.name || t('msg.file') }),
      h('span', { class: 'file-size', text: size(a.size) })));
  }
  if (m.body) body.append(h('div', { class: 'text', text: m.body }));
  if (m.type === 'menu' && Array.isArray(m.options)) {
    const opts = h('div', { class: 'menu', role: 'group', 'aria-label': t('msg.menu') });
    for (const o of m.options) {
      const label = typeof o === 'string' ? o : o.label;
      opts.append(h('button', { type: 'button', class: 'menu-opt', disabled: !onOption,
        onclick: () => onOption && onOption(label, o) }, label));
    }
    body.append(opts);
  }
  const meta = h('div', { class: 'meta' },
    kind === 'bot' ? h('span', { class: 'who', text: t('msg.bot') }) : null,
    h('time', { datetime: m.created_at || '', text: m.created_at ? time(m.created_at) : '' }),
    !cls.includes('system') && mine(m, viewer) && kind !== 'note' ? ticks(m) : null);
  return h('div', { class: cls.join(' '), dataset: { id: m.id || '', cmid: m.client_msg_id || '' } }, body, meta);
}

// The stars of a satisfaction survey; onRate(score) when one is chosen.
export function stars(onRate) {
  const box = h('div', { class: 'csat', role: 'radiogroup', 'aria-label': t('csat.title') });
  for (let i = 1; i <= 5; i++) {
    box.append(h('button', { type: 'button', class: 'star', role: 'radio', 'aria-checked': 'false',
      'aria-label': t('csat.star', { n: i }), dataset: { score: i },
      onclick: () => {
        for (const b of box.querySelectorAll('.star')) {
          const on = Number(b.dataset.score) <= i;
          b.classList.toggle('on', on);
          b.setAttribute('aria-checked', String(Number(b.dataset.score) === i));
        }
        onRate(i);
      } }, '★'));
  }
  return box;
}
