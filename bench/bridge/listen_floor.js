#!/usr/bin/env node
// bench/bridge/listen_floor.js OUT — the floor under both relays' latency: a bare
// LISTEN helpdesk connection (PG* variables) that records "hwm recv_us" for every
// NOTIFY (hwm: the last position the publisher's batch announced). SIGTERM writes OUT.
'use strict';
const fs = require('fs');
const path = require('path');
const { performance } = require('perf_hooks');
const pg = require(path.join(__dirname, '..', '..', 'test', 'bridge', 'node_modules', 'pg'));
const nowUs = () => Math.round((performance.timeOrigin + performance.now()) * 1000);
const rec = [];
const c = new pg.Client();
c.connect().then(() => c.query('LISTEN helpdesk')).then(() => fs.writeFileSync(process.argv[2] + '.ready', ''));
c.on('notification', (n) => { if (n.channel === 'helpdesk') rec.push(n.payload + ' ' + nowUs()); });
process.on('SIGTERM', () => { fs.writeFileSync(process.argv[2], rec.join('\n') + (rec.length ? '\n' : '')); process.exit(0); });
