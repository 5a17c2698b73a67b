#!/usr/bin/env node
// @ts-check
// `npm run oracle`: build the oracle if needed, start it (etcd + kube-apiserver + token cleaner,
// with docs/real-cluster.md's RBAC and admission policy applied), write the variables `npm start`
// needs to <state>/oracle.env and wait for Ctrl-C. See docs/real-cluster.md ("A real kube-apiserver
// on this machine").
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildOracle } from './build.mjs';
import { startOracle } from './harness.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const stateDir = resolve(process.env.ORACLE_STATE_DIR ?? join(root, '.dev', 'oracle'));
rmSync(stateDir, { recursive: true, force: true });
mkdirSync(stateDir, { recursive: true, mode: 0o700 });
const { path: binary, seconds, cached } = buildOracle();
console.error(cached ? `oracle: using cached ${binary}` : `oracle: cold build took ${seconds.toFixed(0)} s`);
const t0 = Date.now();
const o = await startOracle({ binary, stateDir, admissionPolicy: true, log: (l) => console.error(l) });
console.error(`oracle: running in ${Date.now() - t0} ms`);
// NODE_EXTRA_CA_CERTS: npm start hands it to wrangler dev, whose outbound fetch must trust this CA.
const env = { CLUSTER_API_URL: o.url, CLUSTER_SA_TOKEN: o.serviceAccountToken, CLUSTER_CA_PEM: o.caPem, K3S_SERVER_URL: o.url, NODE_EXTRA_CA_CERTS: o.caFile };
const envFile = join(stateDir, 'oracle.env');
writeFileSync(envFile, Object.entries(env).map(([k, v]) => `${k}='${v.replaceAll("'", "'\\''")}'`).join('\n') + '\n', { mode: 0o600 });
console.log(JSON.stringify({ url: o.url, caFile: o.caFile, kubeconfig: o.kubeconfig, envFile }));
console.error(`oracle: admin kubeconfig ${o.kubeconfig}\noracle: in another shell: set -a; . ${envFile}; set +a; npm start`);
const shutdown = async () => {
  await o.close();
  process.exit(0);
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
