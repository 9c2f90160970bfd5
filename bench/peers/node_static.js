// Peer of bench/console: the same installed console files served by node's
// own http module with the same headers (gzip when accepted, ETag, no-cache
// for index.html, immutable for versioned URLs), so the bridge's static
// serving is compared with a plain static server on the same machine.
//   node bench/peers/node_static.js PORT WEB_ROOT
'use strict';
const http = require('http');
const fs = require('fs');
const path = require('path');

const [port, root] = [Number(process.argv[2]), process.argv[3]];
const version = fs.readFileSync(path.join(root, 'VERSION'), 'utf8').trim();
const types = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };

http.createServer((req, res) => {
  let p = decodeURIComponent(req.url.split('?')[0]);
  const m = /^\/(console|widget)\/(?:v-([^/]+)\/)?(.*)$/.exec(p);
  if (!m || m[3].split('/').some((s) => s.startsWith('.'))) { res.writeHead(404); res.end(); return; }
  const rel = path.join(m[1], m[3] || 'index.html');
  const type = types[path.extname(rel)];
  const gz = /\bgzip\b/.test(req.headers['accept-encoding'] || '') && fs.existsSync(path.join(root, `${rel}.gz`));
  const file = path.join(root, gz ? `${rel}.gz` : rel);
  let st;
  try { st = fs.statSync(file); } catch { res.writeHead(404); res.end(); return; }
  const etag = `"${st.size.toString(16)}-${Math.floor(st.mtimeMs / 1000).toString(16)}${gz ? '-gz' : ''}"`;
  const headers = { 'content-type': type || 'application/octet-stream', etag, vary: 'Accept-Encoding',
    'cache-control': m[2] === version ? 'public, max-age=31536000, immutable' : 'no-cache' };
  if (gz) headers['content-encoding'] = 'gzip';
  if (req.headers['if-none-match'] === etag) { res.writeHead(304, headers); res.end(); return; }
  headers['content-length'] = st.size;
  res.writeHead(200, headers);
  fs.createReadStream(file).pipe(res);
}).listen(port, '127.0.0.1', () => console.log(`listening on ${port}`));
