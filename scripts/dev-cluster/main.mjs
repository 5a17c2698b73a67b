#!/usr/bin/env node
// @ts-check
// `npm run dev-cluster -- --port <port> --state-dir <dir>`: starts the dev cluster, prints one JSON
// line when ready and writes the same to <dir>/cluster.json. SIGINT/SIGTERM stop it cleanly.
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startDevCluster } from './index.mjs';

const args = process.argv.slice(2);
/** @param {string} name @param {string} dflt */
const arg = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? /** @type {string} */ (args[i + 1]) : dflt;
};
const stateDir = resolve(arg('state-dir', '.dev/cluster'));
const cluster = await startDevCluster({ host: arg('host', '127.0.0.1'), port: Number(arg('port', '6443')), stateDir, log: (l) => process.stderr.write(`${l}\n`) });
const info = { url: cluster.url, caFile: cluster.caFile, serviceAccountToken: cluster.serviceAccountToken, readonlyServiceAccountToken: cluster.readonlyServiceAccountToken, serverToken: cluster.serverToken, controlToken: cluster.controlToken };
writeFileSync(join(stateDir, 'cluster.json'), JSON.stringify(info, null, 2) + '\n', { mode: 0o600 });
process.stdout.write(JSON.stringify(info) + '\n');
const stop = () => cluster.close().then(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
