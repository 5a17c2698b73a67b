#!/usr/bin/env node
// `npm start`: the service for real on the embedded default — the local dev cluster (unless
// CLUSTER_API_URL points at a real one) and the Worker under `wrangler dev` on 127.0.0.1:$PORT,
// trusting the dev cluster's CA, with dev secrets generated on first run and kept in .dev/.
// Ctrl-C stops both. A second run reuses .dev/ (same CA, tokens, admin token, D1 and DO state).
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { configVariables } from './config-vars.mjs';
import { startDevCluster } from './dev-cluster/index.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const DEV = resolve(process.env.K3S_ENROLL_DEV_DIR ?? join(ROOT, '.dev'));
const PORT = Number(process.env.PORT ?? 8787);
const HOST = process.env.HOST ?? '127.0.0.1';
const CONFIG_VARS = configVariables(ROOT); // every variable src/config.ts reads

mkdirSync(DEV, { recursive: true, mode: 0o700 });
const statePath = join(DEV, 'state.json');
const previous = existsSync(statePath) ? JSON.parse(readFileSync(statePath, 'utf8')) : {};
const secret = (name, fallback) => process.env[name] ?? previous[fallback] ?? randomBytes(24).toString('base64url');

/** Values from the user's own .dev.vars, if any, below the process environment. */
function readDevVars() {
  const file = join(ROOT, '.dev.vars');
  if (!existsSync(file)) return {};
  const out = {};
  for (const m of readFileSync(file, 'utf8').matchAll(/^\s*([A-Z_][A-Z0-9_]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|(.*))\s*$/gm)) out[m[1]] = m[2] !== undefined ? m[2].replace(/\\n/g, '\n').replace(/\\"/g, '"') : m[3];
  return out;
}
const vars = { ...readDevVars() };
for (const k of CONFIG_VARS) if (process.env[k]) vars[k] = process.env[k];
for (const k of Object.keys(vars)) if (vars[k] === '') delete vars[k];

let cluster = null;
if (!vars.CLUSTER_API_URL) {
  cluster = await startDevCluster({ port: Number(process.env.DEV_CLUSTER_PORT ?? 0) || (previous.clusterPort ?? 0), stateDir: join(DEV, 'cluster'), log: (line) => process.stderr.write(`[dev-cluster] ${line}\n`) });
  vars.CLUSTER_API_URL = cluster.url;
  vars.CLUSTER_SA_TOKEN = cluster.serviceAccountToken;
  vars.CLUSTER_CA_PEM = cluster.caPem;
  vars.K3S_SERVER_URL ??= cluster.url;
}
vars.ADMIN_TOKEN ??= secret('ADMIN_TOKEN', 'adminToken');
vars.FLEET_WEBHOOK_SECRET ??= secret('FLEET_WEBHOOK_SECRET', 'fleetWebhookSecret');

// Outbound HTTPS from workerd must trust the dev cluster CA: extend whatever bundle Node already trusts.
let caFile = cluster?.caFile ?? null;
const bundle = join(DEV, 'ca-bundle.pem');
const extra = process.env.NODE_EXTRA_CA_CERTS && existsSync(process.env.NODE_EXTRA_CA_CERTS) ? readFileSync(process.env.NODE_EXTRA_CA_CERTS, 'utf8') : '';
writeFileSync(bundle, `${cluster ? cluster.caPem : ''}${extra}`);

const envFile = join(DEV, 'worker.env');
// dotenv: single quotes are literal (JSON values keep their quotes); double quotes expand \n (PEM).
const quote = (v) => {
  const t = String(v);
  if (!t.includes("'") && !t.includes('\n')) return `'${t}'`;
  if (!t.includes('"')) return `"${t.replace(/\n/g, '\\n')}"`;
  throw new Error('a configuration value holds both quotes and newlines; set it in the environment of wrangler dev instead');
};
writeFileSync(envFile, Object.entries(vars).map(([k, v]) => `${k}=${quote(v)}`).join('\n') + '\n', { mode: 0o600 });

const state = {
  enrollUrl: `http://${HOST}:${PORT}/v1/enroll`,
  adminToken: vars.ADMIN_TOKEN,
  clusterUrl: vars.CLUSTER_API_URL,
  caFile,
  serviceAccountToken: vars.CLUSTER_SA_TOKEN,
  fleetWebhookSecret: vars.FLEET_WEBHOOK_SECRET,
  clusterPort: cluster ? Number(new URL(cluster.url).port) : undefined,
  serverToken: cluster?.serverToken,
  kubeconfig: cluster?.kubeconfig,
};
writeFileSync(statePath, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });

const childEnv = { ...process.env, WRANGLER_SEND_METRICS: 'false', NODE_EXTRA_CA_CERTS: bundle };
const persist = join(DEV, 'wrangler');
const WRANGLER = join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js');
const migrate = spawnSync(process.execPath, [WRANGLER, 'd1', 'migrations', 'apply', 'k3s-enroll', '--local', '--persist-to', persist], { cwd: ROOT, env: { ...childEnv, CI: '1' }, encoding: 'utf8' });
if (migrate.status !== 0) {
  process.stderr.write(migrate.stdout + migrate.stderr);
  await cluster?.close();
  process.exit(1);
}

// Its own process group, so stopping it also stops the workerd it starts.
const worker = spawn(process.execPath, [WRANGLER, 'dev', '--ip', HOST, '--port', String(PORT), '--persist-to', persist, '--env-file', envFile, '--show-interactive-dev-session=false'], { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
const redactedLines = (show) => {
  let partial = '';
  return (d) => {
    const text = partial + d.toString();
    const cut = text.lastIndexOf('\n') + 1;
    partial = text.slice(cut);
    if (show && cut > 0) process.stderr.write(redactTokenPaths(text.slice(0, cut)));
  };
};
worker.stdout.on('data', redactedLines(Boolean(process.env.VERBOSE)));
worker.stderr.on('data', redactedLines(true));

/**
 * wrangler dev prints every request's path; under /v1/tokens/ anything but a bare id (or
 * `generate`) may be a full token a client put in the URL (the Worker refuses it with 400).
 */
function redactTokenPaths(text) {
  return text.replace(/\/v1\/tokens\/([^\s?#"']+)/g, (m, seg) => (/^(?:[a-z0-9]{6}|generate)$/.test(seg) ? m : '/v1/tokens/<redacted>'));
}

let stopping = false;
async function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  const exited = new Promise((r) => (worker.exitCode !== null ? r(undefined) : worker.once('exit', r)));
  try {
    process.kill(-worker.pid, 'SIGTERM');
  } catch {
    /* already gone */
  }
  await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  await cluster?.close();
  process.exit(code);
}
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));
worker.on('exit', (code) => {
  if (!stopping) {
    process.stderr.write(`wrangler dev exited (${code})\n`);
    stop(1);
  }
});

const base = `http://${HOST}:${PORT}`;
for (let i = 0; i < 300; i++) {
  try {
    const res = await fetch(`${base}/healthz`);
    if (res.status === 200) break;
  } catch {
    /* not up yet */
  }
  await new Promise((r) => setTimeout(r, 200));
}

console.log(`
k3s-enroll is running.
  enrollment URL   ${state.enrollUrl}
  admin token      ${state.adminToken}
  cluster API      ${state.clusterUrl}${cluster ? ' (local dev cluster)' : ''}
  state            ${statePath}

Try it:
  curl -s -X PUT ${base}/v1/machines/edge-1 -H "authorization: Bearer ${state.adminToken}" \\
       -H 'content-type: application/json' -d '{"enrollmentCode":"first-boot-code-0123456789"}'
  curl -s -X POST ${state.enrollUrl} -H 'content-type: application/json' \\
       -d '{"method":"code","machineId":"edge-1","code":"first-boot-code-0123456789"}'
${state.kubeconfig ? `  KUBECONFIG=${state.kubeconfig} kubectl -n kube-system get secrets\n` : ''}
Ctrl-C stops the worker and the dev cluster.`);
console.log(JSON.stringify({ ready: true, ...state, adminToken: undefined, serviceAccountToken: undefined, fleetWebhookSecret: undefined }));
