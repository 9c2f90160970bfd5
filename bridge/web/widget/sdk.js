/*
 * The customer widget's embed script: one tag on the game's page or WebView,
 *   <script src="https://BRIDGE/widget/sdk.js" data-locale="zh-CN" data-position="right"
 *           data-color="#2463eb" data-text-color="#fff" data-bubble-color="#dbe7ff"
 *           data-title="客服" data-token="CUSTOMER_TOKEN" async></script>
 * (or window.helpdeskSettings = {locale, position, color, textColor, bubbleColor, title,
 * token, open, issueTypes} before it). Colours: color is the launcher's and the header's
 * (and the send button's), textColor what is drawn on it, bubbleColor the customer's own
 * messages; any CSS colour, anything else is ignored. It adds a launcher button and the chat window in an iframe
 * served by the same bridge, and exposes window.$helpdesk:
 *   open(), close(), toggle(), setUser(token | {token} | {signed: {body, headers}}),
 *   setLocale(locale), on('ready' | 'message' | 'open' | 'close', fn).
 */
(function () {
  if (window.$helpdesk) return;
  var me = document.currentScript;
  var base = me ? new URL(me.src, location.href) : new URL('/widget/sdk.js', location.href);
  var ds = (me && me.dataset) || {};
  var cfg = Object.assign({ locale: ds.locale, position: ds.position || 'right', color: ds.color || '#2463eb',
    textColor: ds.textColor || '#fff', bubbleColor: ds.bubbleColor, title: ds.title, token: ds.token, open: ds.open === 'true',
    issueTypes: ds.issueTypes ? ds.issueTypes.split(',') : undefined }, window.helpdeskSettings || {});
  var handlers = {};
  var ready = false, isOpen = false, queue = [];
  var frame, launcher, badge;

  function isColor(v) { return typeof v === 'string' && v.length <= 64 && window.CSS && CSS.supports('color', v); }
  function emit(name, data) { (handlers[name] || []).forEach(function (fn) { try { fn(data); } catch (e) { setTimeout(function () { throw e; }); } }); }
  function post(msg) { if (ready) frame.contentWindow.postMessage(msg, base.origin); else queue.push(msg); }

  function build() {
    var side = cfg.position === 'left' ? 'left' : 'right';
    launcher = document.createElement('button');
    launcher.type = 'button';
    launcher.setAttribute('aria-label', cfg.title || (String(cfg.locale || '').indexOf('en') === 0 ? 'Chat with support' : '联系客服'));
    launcher.setAttribute('aria-expanded', 'false');
    launcher.innerHTML = '<svg aria-hidden="true" width="28" height="28" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2"><path d="M21 12a8 8 0 0 1-11.6 7.1L4 20l1-4.6A8 8 0 1 1 21 12z"/></svg>';
    launcher.style.cssText = 'position:fixed;bottom:16px;' + side + ':16px;width:56px;height:56px;border-radius:50%;border:none;' +
      'font-size:26px;cursor:pointer;z-index:2147483646;box-shadow:0 4px 14px rgba(0,0,0,.25);color:#fff;background:#2463eb';
    // set one property at a time: a value can never add another declaration
    if (isColor(cfg.color)) launcher.style.background = cfg.color;
    if (isColor(cfg.textColor)) launcher.style.color = cfg.textColor;
    badge = document.createElement('span');
    badge.style.cssText = 'position:absolute;top:-2px;right:-2px;min-width:20px;height:20px;border-radius:10px;background:#c53030;color:#fff;font:12px/20px sans-serif;display:none';
    launcher.appendChild(badge);
    launcher.addEventListener('click', function () { api.toggle(); });
    var q = new URLSearchParams({ embed: '1' });
    if (isColor(cfg.color)) q.set('color', cfg.color);
    if (isColor(cfg.textColor)) q.set('text_color', cfg.textColor);
    if (isColor(cfg.bubbleColor)) q.set('bubble_color', cfg.bubbleColor);
    if (cfg.locale) q.set('locale', cfg.locale);
    if (cfg.title) q.set('title', cfg.title);
    if (cfg.issueTypes) q.set('issue_types', cfg.issueTypes.join(','));
    frame = document.createElement('iframe');
    frame.src = new URL('./?' + q, base).href;
    frame.title = cfg.title || 'Helpdesk';
    frame.setAttribute('allow', 'clipboard-write');
    frame.style.cssText = 'position:fixed;z-index:2147483647;border:none;background:#fff;display:none;box-shadow:0 8px 30px rgba(0,0,0,.3);' +
      'bottom:0;' + side + ':0;width:100%;height:100%;max-width:420px;max-height:100%;';
    if (window.innerWidth > 480) frame.style.cssText += 'bottom:84px;' + side + ':16px;height:640px;max-height:calc(100% - 100px);border-radius:12px;';
    document.body.appendChild(launcher);
    document.body.appendChild(frame);
  }

  window.addEventListener('message', function (e) {
    if (e.origin !== base.origin || !frame || e.source !== frame.contentWindow || !e.data || !e.data.hd) return;
    var d = e.data;
    if (d.hd === 'ready') {
      ready = true;
      queue.splice(0).forEach(post);
      emit('ready', {});
    } else if (d.hd === 'message') emit('message', d.message);
    else if (d.hd === 'close') api.close();
    else if (d.hd === 'unread') {
      badge.textContent = String(d.n);
      badge.style.display = d.n > 0 && !isOpen ? 'block' : 'none';
    }
  });

  var api = {
    open: function () { isOpen = true; frame.style.display = 'block'; launcher.setAttribute('aria-expanded', 'true'); badge.style.display = 'none'; post({ hd: 'open' }); emit('open', {}); },
    close: function () { isOpen = false; frame.style.display = 'none'; launcher.setAttribute('aria-expanded', 'false'); launcher.focus(); post({ hd: 'closed' }); emit('close', {}); },
    toggle: function () { if (isOpen) api.close(); else api.open(); },
    isOpen: function () { return isOpen; },
    setUser: function (u) { post({ hd: 'setUser', user: typeof u === 'string' ? { token: u } : u }); },
    setLocale: function (l) { cfg.locale = l; post({ hd: 'setLocale', locale: l }); },
    on: function (name, fn) { (handlers[name] = handlers[name] || []).push(fn); if (name === 'ready' && ready) fn({}); return api; }
  };
  window.$helpdesk = api;

  function init() {
    build();
    if (cfg.token) api.setUser(cfg.token);
    if (cfg.open) api.open();
  }
  if (document.body) init(); else document.addEventListener('DOMContentLoaded', init);
})();
