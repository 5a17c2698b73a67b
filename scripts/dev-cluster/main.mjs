#!/usr/bin/env node
// @ts-check
// `npm run dev-cluster -- --port <port> --state-dir <dir>`: starts the dev cluster, prints one JSON
// line when ready (startDevCluster keeps <dir>/cluster.json current). SIGINT/SIGTERM stop it cleanly.
import { resolve } from 'node:path';
import { startDevCluster } from './index.mjs';

const args = process.argv.slice(2);
/** @param {string} name @param {string} dflt */
const arg = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? /** @type {string} */ (args[i + 1]) : dflt;
};
const stateDir = resolve(arg('state-dir', '.dev/cluster'));
const cluster = await startDevCluster({ host: arg('host', '127.0.0.1'), port: Number(arg('port', '6443')), stateDir, log: (l) => process.stderr.write(`${l}\n`) });
const info = { url: cluster.url, caFile: cluster.caFile, kubeconfig: cluster.kubeconfig, serviceAccountToken: cluster.serviceAccountToken, readonlyServiceAccountToken: cluster.readonlyServiceAccountToken, serverToken: cluster.serverToken, controlToken: cluster.controlToken };
process.stdout.write(JSON.stringify(info) + '\n');
const stop = () => cluster.close().then(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
