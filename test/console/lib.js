// Shared by the console's browser test and its benchmark: Debian's chromium
// driven by playwright-core, the bridge as a child process, SQL through pg.
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const path = require('path');
const http = require('http');
const { chromium } = require('playwright-core');
const { Client } = require('pg');

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

async function browser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    // headless in a container as root: no sandbox, no GPU, /dev/shm may be small
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
      '--autoplay-policy=no-user-gesture-required', '--use-fake-ui-for-media-stream'],
  });
}

async function db() {
  const c = new Client({ host: process.env.PGHOST, port: Number(process.env.PGPORT), user: process.env.PGUSER || 'postgres',
    database: process.env.CONSOLE_DB });
  await c.connect();
  return c;
}

function healthy(port) {
  return new Promise((resolve) => {
    const r = http.get({ host: '127.0.0.1', port, path: '/healthz', timeout: 1000 }, (res) => { res.resume(); resolve(res.statusCode === 200); });
    r.on('error', () => resolve(false));
    r.on('timeout', () => { r.destroy(); resolve(false); });
  });
}

// the bridge as a child; start() waits for /healthz
class Bridge {
  constructor({ bin, port, webRoot, conninfo, log }) {
    Object.assign(this, { bin, port, webRoot, conninfo, log });
  }

  async start() {
    const out = fs.openSync(this.log, 'a');
    this.proc = spawn(this.bin, ['--port', String(this.port), '--web-root', this.webRoot, '--db', this.conninfo,
      '--heartbeat-ms', '1000'], { stdio: ['ignore', out, out], env: process.env });
    fs.closeSync(out);
    for (let i = 0; i < 100; i++) {
      if (await healthy(this.port)) return;
      await sleep(100);
    }
    throw new Error(`bridge on ${this.port} did not become healthy (log ${this.log})`);
  }

  kill9() {
    return new Promise((resolve) => { this.proc.once('exit', resolve); this.proc.kill('SIGKILL'); });
  }

  stop() {
    if (!this.proc || this.proc.exitCode != null) return Promise.resolve();
    return new Promise((resolve) => { this.proc.once('exit', resolve); this.proc.kill('SIGTERM'); });
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// poll fn until it returns a truthy value
async function until(what, fn, ms = 10000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try { last = await fn(); if (last) return last; } catch (e) { last = e; }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
}

let checks = 0;
function ok(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
  checks++;
  console.log(`   ok ${checks} - ${what}`);
}
function count() { return checks; }

// screenshots: one per name and locale, into dir
async function shot(page, dir, name) {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

module.exports = { browser, db, Bridge, sleep, until, ok, count, shot, healthy };
