// Independent Standard Webhooks verification (node crypto) of the requests a
// sink recorded. Prints one JSON line per request:
//   {id, ok, type, at, ts, path}
// node verify.js LOG.jsonl SECRET [SECRET2]  (any secret's signature counts)
'use strict';
const fs = require('fs');
const crypto = require('crypto');

const [logPath, ...secrets] = process.argv.slice(2);
const keys = secrets.map((s) => Buffer.from(s.replace(/^whsec_/, ''), 'base64'));
for (const line of fs.readFileSync(logPath, 'utf8').split('\n')) {
	if (!line) continue;
	const r = JSON.parse(line);
	const id = r.headers['webhook-id'];
	const ts = r.headers['webhook-timestamp'];
	const sigs = (r.headers['webhook-signature'] || '').split(' ');
	let ok = false;
	for (const key of keys) {
		const want = crypto.createHmac('sha256', key).update(`${id}.${ts}.${r.body}`).digest('base64');
		for (const s of sigs) {
			const [v, b64] = s.split(',');
			if (v === 'v1' && b64 && b64.length === want.length &&
				crypto.timingSafeEqual(Buffer.from(b64), Buffer.from(want))) ok = true;
		}
	}
	let type = null;
	try { type = JSON.parse(r.body).type; } catch (e) { ok = false; }
	const fresh = Math.abs(Number(ts) * 1000 - r.at) < 5 * 60 * 1000;
	console.log(JSON.stringify({ id, ok: ok && fresh, type, at: r.at, ts: Number(ts), path: r.path,
		ua: r.headers['user-agent'], ct: r.headers['content-type'], nsig: sigs.length }));
}
