// The receiver of bench/webhooks.sh and bench/post_message.sh: real HTTP/1.1
// (node http, keep-alive) on 127.0.0.1, used by both the HTTP worker and its
// peer. It answers every POST 200 at once and logs, per request, only the
// receive time (ms), the webhook-id and the payload's "timestamp" (found in
// the body by a pattern, not by parsing it): test/webhooks/sink.js logs
// every header and body as JSON and took ~200 us of CPU per request, a core
// at 5,000 requests/s, on a machine of two cores that the sender shares.
//
//   node sink_lean.js PORT [LOG]     GET /_stats -> {"requests": N}
'use strict';
const http = require('http');
const fs = require('fs');

const port = Number(process.argv[2]);
const log = process.argv[3] ? fs.createWriteStream(process.argv[3], { flags: 'a' }) : null;
const tsPattern = /"timestamp": ?"([^"]+)"/;
let requests = 0;
let pending = [];

// one write per 10 ms, not one per request
setInterval(() => {
	if (log && pending.length > 0) {
		log.write(pending.join(''));
		pending = [];
	}
}, 10).unref();

const server = http.createServer((req, res) => {
	if (req.method === 'GET') {
		res.writeHead(200, { 'content-type': 'application/json' });
		return res.end(JSON.stringify({ requests }));
	}
	const chunks = [];
	req.on('data', (c) => chunks.push(c));
	req.on('end', () => {
		const at = Date.now();
		requests++;
		if (log) {
			const m = tsPattern.exec(Buffer.concat(chunks).toString('utf8'));
			pending.push(`${at} ${req.headers['webhook-id'] || '-'} ${m ? m[1] : '-'}\n`);
		}
		res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 6 });
		res.end('thanks');
	});
});
server.keepAliveTimeout = 60000;
server.headersTimeout = 65000;
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => {
	if (!log) process.exit(0);
	log.end(pending.join(''), () => process.exit(0));
});
