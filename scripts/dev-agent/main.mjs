#!/usr/bin/env node
// @ts-check
// `npm run dev-agent -- --config <k3s config.yaml> --data-dir <dir> [--once] [--server URL]
// [--token T] [--token-file F] [--node-name N] [--node-label k=v]... [--node-ip IP] [--timeout S]
// [--heartbeat-seconds S]` (also K3S_URL, K3S_TOKEN, K3S_TOKEN_FILE, K3S_NODE_NAME, K3S_CONFIG_FILE): joins a k3s
// server (or the dev cluster) as `k3s agent` does; see agent.mjs. Logs logrus-style lines to
// stderr; with --once prints one JSON line `{"node":…,"ready":true}` and exits when the Node is Ready.
// Exit codes: 0 ok · 2 usage/config · 3 CA mismatch or CA validation failed · 4 cluster unreachable
// · 5 token refused (401) · 6 node password refused (403) · 7 Node/Lease registration refused.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { AgentError, EXIT, runAgent } from './agent.mjs';
import { loadSettings } from './config.mjs';

/** @param {string} level @param {string} msg */
const log = (level, msg) => process.stderr.write(`time="${new Date().toISOString()}" level=${level} msg=${JSON.stringify(msg)}\n`);
let settings;
try {
  settings = loadSettings(process.argv.slice(2), process.env, (f) => readFileSync(f, 'utf8'));
  settings.dataDir = resolve(settings.dataDir);
} catch (err) {
  log('fatal', String(/** @type {Error} */ (err).message));
  process.exit(EXIT.USAGE);
}
const stop = new AbortController();
process.on('SIGTERM', () => stop.abort());
process.on('SIGINT', () => stop.abort());
try {
  const r = await runAgent(settings, { log, signal: stop.signal, sleep: (ms) => new Promise((ok) => { const t = setTimeout(ok, ms); stop.signal.addEventListener('abort', () => { clearTimeout(t); ok(undefined); }, { once: true }); }) });
  process.stdout.write(JSON.stringify({ node: r.node, ready: r.ready, dataDir: settings.dataDir }) + '\n');
  process.exit(r.ready ? EXIT.OK : EXIT.REGISTRATION_REFUSED);
} catch (err) {
  if (err instanceof AgentError) {
    log('fatal', err.message);
    process.exit(/** @type {number} */ (err.code));
  }
  log('fatal', String(/** @type {Error} */ (err)?.stack ?? err));
  process.exit(1);
}
