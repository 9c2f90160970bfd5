#!/usr/bin/env node
// A line-based WebSocket client for trying the bridge by hand (scripts/demo):
// prints every frame it receives, sends every line typed on stdin as a frame.
// Usage: node scripts/ws-client.js 'ws://127.0.0.1:55441/ws?token=...'
'use strict';
const path = require('path');
const WebSocket = require(path.join(__dirname, '..', 'test', 'bridge', 'node_modules', 'ws'));
const readline = require('readline');

const url = process.argv[2];
if (!url) {
	console.error('usage: node scripts/ws-client.js WS_URL');
	process.exit(2);
}
const ws = new WebSocket(url);
ws.on('open', () => {
	console.error('-- connected; type a JSON frame per line (Ctrl-D to quit)');
	const rl = readline.createInterface({ input: process.stdin });
	rl.on('line', (line) => { if (line.trim()) ws.send(line.trim()); });
	rl.on('close', () => ws.close(1000));
});
ws.on('message', (m) => console.log(String(m)));
ws.on('close', (code, reason) => {
	console.error(`-- closed: ${code} ${String(reason)}`);
	process.exit(code === 1000 ? 0 : 1);
});
ws.on('error', (e) => { console.error(`-- error: ${e.message}`); process.exit(1); });
