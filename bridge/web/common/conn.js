// One WebSocket to helpdesk-bridge (docs/bridge-protocol.md) that survives
// reconnects: it remembers the last event position and reconnects with
// ?position=N, so nothing is missed and, since positions only grow and each
// is passed on once, nothing arrives twice. Requests carry a ref and resolve
// with their ack (or reject with the error frame).

export class Conn extends EventTarget {
  constructor(token, { base = location.origin, position = null } = {}) {
    super();
    this.token = token;
    this.base = base.replace(/^http/, 'ws');
    this.position = position;      // last event position seen
    this.log = null;               // the log it belongs to (hello's log_id, a log frame)
    this.state = 'connecting';     // connecting | open | offline | closed
    this.hello = null;
    this.pending = new Map();      // ref -> {resolve, reject}
    this.nextRef = 1;
    this.backoff = 250;
    this.queue = [];               // frames sent while offline, sent on open
    this.open();
  }

  open() {
    if (this.adopt()) return;
    const q = new URLSearchParams({ token: this.token });
    if (this.position != null) q.set('position', String(this.position));
    if (this.position != null && this.log) q.set('log', this.log);
    const ws = new WebSocket(`${this.base}/ws?${q}`);
    this.ws = ws;
    ws.onmessage = (e) => this.onFrame(JSON.parse(e.data));
    ws.onclose = (e) => this.onClose(e);
    ws.onerror = () => {};
  }

  // the socket console/early.js opened for this token while the modules
  // loaded: its frames so far are replayed once the caller has added its
  // listeners (the next task), and any that arrive meanwhile wait behind them
  adopt() {
    const early = globalThis.hdEarly;
    if (!early || early.token !== this.token || this.position != null) return false;
    globalThis.hdEarly = null;
    const ws = early.ws;
    this.ws = ws;
    let held = early.frames;
    ws.onmessage = (e) => { if (held) held.push(e.data); else this.onFrame(JSON.parse(e.data)); };
    ws.onclose = (e) => { if (held) early.closed = e; else this.onClose(e); };
    ws.onerror = () => {};
    setTimeout(() => {
      const frames = held;
      held = null;
      for (const d of frames) this.onFrame(JSON.parse(d));
      if (early.closed) this.onClose(early.closed);
    }, 0);
    return true;
  }

  setState(s, detail = {}) {
    if (this.state === s) return;
    this.state = s;
    this.dispatchEvent(new CustomEvent('state', { detail: { state: s, ...detail } }));
  }

  onFrame(f) {
    if (f.type === 'hello') {
      this.hello = f;
      if (f.log_id) this.log = f.log_id;
      this.backoff = 250;
      this.setState('open');
      this.dispatchEvent(new CustomEvent('hello', { detail: f }));
      const q = this.queue; this.queue = [];
      for (const fr of q) this.ws.send(fr);
      return;
    }
    if (f.type === 'log') {
      // a moved tenant's old log is replayed: the positions that follow are of this node's
      this.log = f.log_id;
      this.position = f.position;
      return;
    }
    if (f.type === 'events') {
      for (const ev of f.events) {
        if (this.position != null && ev.pos <= this.position) continue; // never twice
        this.position = ev.pos;
        if (ev.type === 'tenant.moved') this.follow(ev.payload);
        this.dispatchEvent(new CustomEvent('event', { detail: ev }));
      }
      return;
    }
    if (f.type === 'typing') {
      this.dispatchEvent(new CustomEvent('typing', { detail: f }));
      return;
    }
    if ((f.type === 'ack' || f.type === 'error') && f.ref && this.pending.has(f.ref)) {
      const p = this.pending.get(f.ref);
      this.pending.delete(f.ref);
      if (f.type === 'ack') p.resolve(f.result); else p.reject(Object.assign(new Error(f.message || f.code), f));
      return;
    }
    if (f.type === 'error') this.dispatchEvent(new CustomEvent('error', { detail: f }));
  }

  // the tenant moved to another node: go on at its bridge from the position
  // the event names (of that node's log)
  follow(moved) {
    if (moved.bridge_url) this.base = moved.bridge_url.replace(/\/ws$/, '');
    this.position = moved.position;
    this.log = null;
    this.ws.close(1000);   // onClose reconnects there
  }

  onClose(e) {
    if (this.state === 'closed') return;
    for (const [, p] of this.pending) p.reject(Object.assign(new Error('connection lost'), { code: 'unavailable' }));
    this.pending.clear();
    if ([4001, 4002, 4003, 4004].includes(e.code)) {
      this.setState('closed', { code: e.code, reason: e.reason });
      return;
    }
    if (e.code === 4010) { this.position = null; this.log = null; }   // log pruned or reset: start afresh
    this.setState('offline', { code: e.code });
    const wait = this.backoff;
    this.backoff = Math.min(this.backoff * 2, 5000);
    clearTimeout(this.retry);
    this.retry = setTimeout(() => this.open(), wait);
  }

  // fire and forget; queued while offline (only idempotent frames)
  send(frame) {
    const s = JSON.stringify(frame);
    if (this.state === 'open' && this.ws.readyState === 1) this.ws.send(s);
    else if (frame.client_msg_id) this.queue.push(s);
  }

  // a request whose ack resolves the promise
  request(frame, timeoutMs = 15000) {
    const ref = `r${this.nextRef++}`;
    return new Promise((resolve, reject) => {
      if (this.state !== 'open' || this.ws.readyState !== 1) {
        reject(Object.assign(new Error('offline'), { code: 'unavailable' }));
        return;
      }
      this.pending.set(ref, { resolve, reject });
      this.ws.send(JSON.stringify({ ...frame, ref }));
      setTimeout(() => {
        if (this.pending.delete(ref)) reject(Object.assign(new Error('timeout'), { code: 'timeout' }));
      }, timeoutMs);
    });
  }

  close() {
    this.setState('closed');
    clearTimeout(this.retry);
    this.ws.close(1000);
  }
}

// Uploads (POST /api/v1/uploads, COMMON contract). A bridge without the
// route answers 404 or 405: the feature is then reported as unavailable.
export async function upload(token, file) {
  const r = await fetch('/api/v1/uploads', {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${token}`,
      'Content-Type': file.type || 'application/octet-stream',
      'X-Filename': encodeURIComponent(file.name || 'file'),
    },
    body: file,
  });
  if (r.status === 404 || r.status === 405) throw Object.assign(new Error('uploads unavailable'), { code: 'no_uploads' });
  const j = await r.json().catch(() => ({}));
  if (!r.ok) throw Object.assign(new Error(j.error?.message || `upload failed (${r.status})`), { code: j.error?.code || 'upload_failed' });
  return j;   // {id, url, mime, size, sha256}
}

export function uid(prefix) {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
