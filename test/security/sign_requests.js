// An independent signer of player API requests (node's crypto, not our C):
// prints one SQL call of e2e_try(...) per request, for psql.
//   node sign_requests.js SECRET APP COUNT [NONCE_PREFIX]
// Each request: POST /api/v1/player/sessions/<i>/messages?x=<i> with a JSON
// body, the current Unix time, a nonce of PREFIX + i.
'use strict';
const crypto = require('crypto');

const [secret, app, count, prefix = 'e2e-nonce-'] = process.argv.slice(2);
const ts = String(Math.floor(Date.now() / 1000));
const lit = (s) => "'" + String(s).replace(/'/g, "''") + "'";

for (let i = 0; i < Number(count); i++) {
	const method = 'POST';
	const path = `/api/v1/player/sessions/${i}/messages?x=${i}&lang=zh-CN`;
	const body = Buffer.from(JSON.stringify({ body: `消息 ${i}`, client_msg_id: `m-${i}` }), 'utf8');
	const nonce = (prefix + String(i).padStart(8, '0')).slice(0, 64);
	const bodyHash = crypto.createHash('sha256').update(body).digest('hex');
	const msg = [method, path, ts, nonce, bodyHash].join('\n');
	const sig = crypto.createHmac('sha256', Buffer.from(secret, 'utf8')).update(msg).digest('hex');
	console.log(`SELECT e2e_try(${lit(method)}, ${lit(path)}, ${lit(app)}, ${lit(ts)}, ${lit(nonce)}, ${lit(sig)}, '\\x${body.toString('hex')}'::bytea);`);
}
