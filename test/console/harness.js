// The set-up every browser test of the console shares (e2e.js, paths.js,
// flows.js; test/e2e/console_browser.sh exports the environment): the
// database connection and its query helpers, the bridge as a child process,
// one chromium, uncaught page errors collected (and checked at the end), and
// a real PNG to upload. run() tears everything down, whatever happened.
'use strict';
const zlib = require('zlib');
const { browser, db, Bridge, ok, count } = require('./lib');

const PORT = Number(process.env.BRIDGE_PORT);
const BASE = `http://127.0.0.1:${PORT}`;

// a real w x h PNG (red), so the browser must decode what the upload route served
function png(w = 8, h = 8) {
  const table = Array.from({ length: 256 }, (_, n) => { let c = n; for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1; return c >>> 0; });
  const crc = (buf) => { let c = 0xffffffff; for (const b of buf) c = table[(c ^ b) & 0xff] ^ (c >>> 8); return (c ^ 0xffffffff) >>> 0; };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const c = Buffer.alloc(4); c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0); ihdr.writeUInt32BE(h, 4); ihdr[8] = 8; ihdr[9] = 2;
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) raw[y * (w * 3 + 1) + 1 + x * 3] = 255;
  return Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

// run(what, async (t) => { ... }): t has PORT, BASE, sql, q (rows), one (the
// first column of the first row), bridge (not started), b (the browser),
// errors and watch(page, who). The body may return lines to print before the
// summary.
async function run(what, body) {
  const sql = await db();
  const q = async (text, params) => (await sql.query(text, params)).rows;
  const one = async (text, params) => Object.values((await q(text, params))[0] || {})[0];
  const bridge = new Bridge({ bin: process.env.BRIDGE_BIN, port: PORT, webRoot: process.env.WEB_ROOT,
    conninfo: process.env.BRIDGE_CONNINFO, log: process.env.BRIDGE_LOG });
  let b = null;
  let lines = [];
  const errors = [];
  const watch = (page, who) => page.on('pageerror', (e) => errors.push(`${who}: ${e.message}`));
  try {
    b = await browser();
    lines = (await body({ PORT, BASE, sql, q, one, bridge, b, errors, watch })) || [];
    ok(errors.length === 0, `no uncaught page errors${errors.length ? `: ${errors.join('; ')}` : ''}`);
  } finally {
    if (b) await b.close();
    await bridge.stop();
    await sql.end();
  }
  for (const l of [].concat(lines)) console.log(l);
  console.log(`${what}: ${count()} checks passed`);
}

function main(what, body) {
  run(what, body).catch((e) => { console.error(e.stack || e.message); process.exit(1); });
}

module.exports = { PORT, BASE, png, run, main };
