'use strict';
// Load for bench/signed_messages.sh: CONC keep-alive connections send signed
// POST /api/v1/player/sessions/<id>/messages (node crypto) for SECS seconds
// to PORT, round-robin over the sessions in SESSIONS ("id:player,..."),
// one request in flight per connection. Prints "<requests/s> <errors>".
const http = require('http');
const crypto = require('crypto');
const [port, secs, conc] = [Number(process.env.PORT), Number(process.env.SECS), Number(process.env.CONC)];
const SECRET = process.env.SECRET, APP = process.env.APP;
const sessions = process.env.SESSIONS.split(',').map((x) => x.split(':'));
const agent = new http.Agent({ keepAlive: true, maxSockets: conc });
let ok = 0, errors = 0, seq = 0;
const until = Date.now() + secs * 1000;

function one() {
	return new Promise((resolve) => {
		const [sid, player] = sessions[seq % sessions.length];
		const n = `b-${process.pid}-${++seq}-${crypto.randomBytes(6).toString('hex')}`;
		const path = `/api/v1/player/sessions/${sid}/messages`;
		const body = Buffer.from(JSON.stringify({ player_id: player, text: `bench message ${seq}`, client_msg_id: n }));
		const ts = String(Math.floor(Date.now() / 1000));
		const sig = crypto.createHmac('sha256', SECRET).update(`POST\n${path}\n${ts}\n${n}\n` +
			crypto.createHash('sha256').update(body).digest('hex')).digest('hex');
		const req = http.request({ host: '127.0.0.1', port, method: 'POST', path, agent, headers: {
			'content-type': 'application/json', 'content-length': body.length,
			'x-hd-app': APP, 'x-hd-timestamp': ts, 'x-hd-nonce': n, 'x-hd-signature': sig } }, (res) => {
			res.resume();
			res.on('end', () => { if (res.statusCode === 201) ok++; else errors++; resolve(); });
		});
		req.on('error', () => { errors++; resolve(); });
		req.end(body);
	});
}

async function worker() {
	while (Date.now() < until)
		await one();
}

const t0 = Date.now();
Promise.all(Array.from({ length: conc }, worker)).then(() => {
	console.log(`${Math.round(ok / ((Date.now() - t0) / 1000))} ${errors}`);
	process.exit(0);
});
