// String tables: zh-CN is the default, en the second. Markup carries keys
// only (data-i18n for text, data-i18n-label for aria-label and title,
// data-i18n-ph for placeholders); apply() fills them in.
import { strings } from './strings.js';

const KEY = 'hd.locale';
let locale = pick(localStorage.getItem(KEY) || new URLSearchParams(location.search).get('locale') || 'zh-CN');

function pick(l) { return strings[l] ? l : (String(l).toLowerCase().startsWith('en') ? 'en' : 'zh-CN'); }

export function getLocale() { return locale; }

export function setLocale(l, root = document) {
  locale = pick(l);
  localStorage.setItem(KEY, locale);
  document.documentElement.lang = locale;
  apply(root);
  document.dispatchEvent(new CustomEvent('hd-locale', { detail: locale }));
}

export function t(key, vars) {
  let s = strings[locale][key] ?? strings['zh-CN'][key] ?? key;
  if (vars) s = s.replace(/\{(\w+)\}/g, (_, k) => (vars[k] ?? ''));
  return s;
}

export function apply(root = document) {
  document.documentElement.lang = locale;
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-label]')) {
    el.setAttribute('aria-label', t(el.dataset.i18nLabel));
    el.title = t(el.dataset.i18nLabel);
  }
  for (const el of root.querySelectorAll('[data-i18n-ph]')) el.placeholder = t(el.dataset.i18nPh);
}

// "3 分钟" / "3 min": a duration in seconds, short
export function dur(s) {
  s = Math.max(0, Math.round(s));
  if (s < 60) return t('dur.s', { n: s });
  if (s < 3600) return t('dur.m', { n: Math.floor(s / 60) });
  return t('dur.h', { n: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60) });
}

// one formatter per locale: toLocaleTimeString builds a new one per call,
// which dominated rendering long conversations
const timeFmt = {};
export function time(iso) {
  const f = timeFmt[locale] || (timeFmt[locale] = new Intl.DateTimeFormat(locale, { hour: '2-digit', minute: '2-digit' }));
  return f.format(new Date(iso));
}
