// A fake Dify server for test/e2e/bot_handoff.sh (node's own http module).
//
// POST /v1/chat-messages answers like Dify's blocking mode. What it does is
// chosen by the query text, so the test drives it from the customer's side:
//   "hang ..."          never answers (the bot's timeout must hand off)
//   "late <ms> ..."     answers after <ms> milliseconds
//   "marker ..."        the answer carries the hand-off marker [[handoff]]
//   "flag ..."          metadata.handoff = true, issue_type refund, urgency high
//   "menu ..."          metadata.options: two choices
//   "fail ..."          HTTP 500
//   "long ..."          a 6,000-byte answer (more than the engine keeps of other bodies)
//   anything else       "echo: <query>"
// A wrong Authorization header gets 401. conversation_id: "conv-<user>"
// (echoed back when the request carried one). POST /hook records a webhook
// bot's signed payload. GET /requests lists every request received (method,
// url, headers, parsed body, time); the test checks them independently.
'use strict';
const http = require('http');

const port = Number(process.argv[2]);
const key = process.argv[3] || 'app-test-key';
const requests = [];
const hung = [];

function answer(res, status, obj) {
	const body = JSON.stringify(obj);
	res.writeHead(status, {'content-type': 'application/json', 'content-length': Buffer.byteLength(body)});
	res.end(body);
}

const server = http.createServer((req, res) => {
	let raw = '';
	req.setEncoding('utf8');
	req.on('data', (c) => { raw += c; });
	req.on('end', () => {
		if (req.method === 'GET' && req.url === '/requests')
			return answer(res, 200, requests);
		let body = null;
		try { body = JSON.parse(raw); } catch (e) { body = {unparsable: raw}; }
		requests.push({method: req.method, url: req.url, headers: req.headers, body, raw, at: Date.now()});
		if (req.url === '/hook')
			return answer(res, 200, {ok: true});
		if (req.method !== 'POST' || req.url !== '/v1/chat-messages')
			return answer(res, 404, {code: 'not_found'});
		if (req.headers.authorization !== 'Bearer ' + key)
			return answer(res, 401, {code: 'unauthorized', message: 'Access token is invalid'});
		const q = String(body.query || '');
		const conv = body.conversation_id || 'conv-' + body.user;
		const reply = {event: 'message', message_id: 'm-' + requests.length, conversation_id: conv,
			mode: 'chat', answer: 'echo: ' + q, metadata: {usage: {total_tokens: 3}}, created_at: Math.floor(Date.now() / 1000)};
		if (q.startsWith('hang')) { hung.push(res); return; }
		if (q.startsWith('fail')) return answer(res, 500, {code: 'internal_error'});
		if (q.startsWith('marker')) reply.answer = 'Let me get a colleague for you. [[handoff]]';
		if (q.startsWith('flag')) Object.assign(reply.metadata, {handoff: true, issue_type: 'refund', urgency: 'high'});
		if (q.startsWith('long')) reply.answer = '长'.repeat(2000);
		if (q.startsWith('menu')) reply.metadata.options = ['Recharge', {id: 'refund', label: 'Refund'}];
		const m = /^late (\d+)/.exec(q);
		if (m) return setTimeout(() => answer(res, 200, reply), Number(m[1]));
		answer(res, 200, reply);
	});
});
server.keepAliveTimeout = 30000;
server.listen(port, '127.0.0.1', () => console.log('listening ' + port));
process.on('SIGTERM', () => { hung.forEach((r) => r.destroy()); server.close(); process.exit(0); });
