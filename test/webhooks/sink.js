// A webhook receiver for the tests and benchmarks (node http, 127.0.0.1).
//
//   node sink.js PORT [LOG.jsonl]
//
// The path decides the answer:
//   /ok, /ok-anything   200
//   /slow?ms=N          200 after N ms
//   /hang               never answers (the client must time out)
//   /fail               500
//   /gone               410
//   /busy?after=S       429 with Retry-After: S
//   /unavailable?after=S 503 with Retry-After: S
//   /flaky?n=K          500 for the first K requests of each webhook-id, then 200
//   /redirect           302 to /ok (must not be followed)
// Every request is recorded (method, path, headers, body, receive time in ms)
// as one JSON line in LOG (when given) and counted. GET /_stats answers
// {requests, in_flight, max_in_flight, by_path}; GET /_reset clears them.
'use strict';
const http = require('http');
const fs = require('fs');

const port = Number(process.argv[2]);
const logPath = process.argv[3];
// written synchronously before the answer: a test that sees the delivery
// marked delivered in the database must find its line in the log
const logFd = logPath ? fs.openSync(logPath, 'a') : null;

let stats = { requests: 0, in_flight: 0, max_in_flight: 0, by_path: {} };
const seen = new Map(); // webhook-id -> count, for /flaky

const server = http.createServer((req, res) => {
	const url = new URL(req.url, 'http://x');
	if (url.pathname === '/_stats') {
		res.writeHead(200, { 'content-type': 'application/json' });
		return res.end(JSON.stringify(stats));
	}
	if (url.pathname === '/_reset') {
		stats = { requests: 0, in_flight: 0, max_in_flight: 0, by_path: {} };
		seen.clear();
		return res.end('ok');
	}
	const chunks = [];
	stats.in_flight++;
	stats.max_in_flight = Math.max(stats.max_in_flight, stats.in_flight);
	let done = false;
	const finish = (code, headers, body) => {
		if (done) return;
		done = true;
		stats.in_flight--;
		res.writeHead(code, headers || {});
		res.end(body || '');
	};
	// the client gave up (timeout, worker killed): no longer in flight
	res.on('close', () => { if (!done) { done = true; stats.in_flight--; } });
	req.on('data', (c) => chunks.push(c));
	req.on('end', () => {
		const body = Buffer.concat(chunks).toString('utf8');
		const at = Date.now();
		stats.requests++;
		stats.by_path[url.pathname] = (stats.by_path[url.pathname] || 0) + 1;
		if (logFd !== null) fs.writeSync(logFd, JSON.stringify({ at, method: req.method, path: url.pathname, headers: req.headers, body }) + '\n');
		const id = req.headers['webhook-id'] || '';
		if (url.pathname.startsWith('/ok')) return finish(200, { 'content-type': 'text/plain' }, 'thanks');
		switch (url.pathname) {
		case '/slow': return setTimeout(() => finish(200, {}, 'slow thanks'), Number(url.searchParams.get('ms') || 100));
		case '/hang': return; // never answers
		case '/fail': return finish(500, {}, 'failing on purpose');
		case '/gone': return finish(410, {}, 'gone');
		case '/busy': return finish(429, { 'retry-after': url.searchParams.get('after') || '1' }, 'slow down');
		case '/unavailable': return finish(503, { 'retry-after': url.searchParams.get('after') || '1' }, 'later');
		case '/flaky': {
			const k = (seen.get(id) || 0) + 1;
			seen.set(id, k);
			return k <= Number(url.searchParams.get('n') || 1) ? finish(500, {}, 'flaky ' + k) : finish(200, {}, 'ok at ' + k);
		}
		case '/redirect': return finish(302, { location: '/ok' }, '');
		default: return finish(404, {}, 'no such path');
		}
	});
});
server.keepAliveTimeout = 60000;
server.headersTimeout = 65000;
server.listen(port, '127.0.0.1', () => { if (process.send) process.send('ready'); console.log('listening ' + port); });
