// Boot storm: 1,000 machines registered through signed fleet webhooks, then enrolled by a client
// with 200 requests in flight that honours Retry-After (with jitter) and keeps one Idempotency-Key
// per machine — the Worker bundle in workerd (Miniflare) against the dev cluster, which counts the
// Secret writes it receives per second. Scenarios: distinct addresses, one source address (a
// site behind NAT), and 200 clients that abort mid-request and retry. Figures beside targets.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, createHmac, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Miniflare } from 'miniflare';
import { startProfile } from './profile.mjs';
import { cpuMsOf, cpuMsOfAll, descendsFromUs, pct, processesNamed } from './procs.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const MACHINES = Number(process.env.STORM_MACHINES ?? 1000);
const IN_FLIGHT = Number(process.env.STORM_IN_FLIGHT ?? 200);
const CAP = Number(process.env.STORM_CAP ?? 50);
const ABORTING = Number(process.env.STORM_ABORTING ?? 200);
const SCENARIOS = (process.env.STORM_SCENARIOS ?? 'distinct,one-address,aborting').split(',');
const FLEET_SECRET = 'storm-fleet-webhook-secret-0123456789';
const ADMIN = 'storm-admin-token-0123456789';
const tmp = mkdtempSync(join(tmpdir(), 'k3s-enroll-storm-'));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// 1. Dev cluster in its own process.
const cluster = spawn(process.execPath, ['scripts/dev-cluster/main.mjs', '--port', '0', '--state-dir', join(tmp, 'cluster')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
process.on('exit', () => cluster.kill('SIGKILL'));
let clusterLog = '';
cluster.stderr.on('data', (d) => (clusterLog = (clusterLog + d).slice(-4000)));
let stopping = false;
cluster.on('exit', (code, signal) => {
  if (stopping) return;
  console.error(`dev cluster exited (${code ?? signal}) mid-run; its last words:\n${clusterLog}`);
  process.exit(1);
});
const info = await new Promise((res, rej) => {
  let out = '';
  cluster.stdout.on('data', (d) => {
    out += d;
    const line = out.split('\n').find((l) => l.startsWith('{'));
    if (line) res(JSON.parse(line));
  });
  cluster.on('exit', (c) => rej(new Error(`dev cluster exited ${c}`)));
});
const caPem = readFileSync(info.caFile, 'utf8');
const controlToken = JSON.parse(readFileSync(join(tmp, 'cluster', 'cluster.json'), 'utf8')).controlToken;

function clusterCall(method, path, { body, bearer = info.serviceAccountToken, headers = {} } = {}) {
  return new Promise((res, rej) => {
    const u = new URL(`${info.url}${path}`);
    const req = request({ hostname: u.hostname, port: u.port, path: `${u.pathname}${u.search}`, method, ca: caPem, headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json', ...headers } }, (r) => {
      let text = '';
      r.on('data', (d) => (text += d));
      r.on('end', () => res({ status: r.statusCode, text }));
    });
    req.on('error', rej);
    req.end(body);
  });
}
const writesSnapshot = async () => JSON.parse((await clusterCall('GET', '/__dev/writes', { headers: { 'x-dev-cluster-control': controlToken } })).text);
const resetWrites = () => clusterCall('DELETE', '/__dev/writes', { headers: { 'x-dev-cluster-control': controlToken } });
const whoAmI = async (token) => (await clusterCall('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', { bearer: token, body: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' }) })).status;

// 2. The service: the Worker bundle in workerd, or (STORM_RUNTIME=deno) the Deno entry.
const RUNTIME = process.env.STORM_RUNTIME ?? 'workerd';
/** What bench/run.mjs looks for to report the Deno storm skipped rather than failed. */
const DENO_DID_NOT_START = 'Deno did not start';
let send;
let serviceProcs = [];
let stopService = async () => {};
/** What BENCH_PROFILE profiles: Miniflare's inspector (workerd), or Deno's. */
let profileTarget = null;
if (RUNTIME === 'deno') {
  const denoInspector = process.env.BENCH_PROFILE ? `127.0.0.1:${9229 + (process.pid % 500)}` : null;
  const deno = spawn(join(ROOT, 'node_modules/.bin/deno'), ['run', ...(denoInspector ? [`--inspect=${denoInspector}`] : []), '--unstable-kv', '--allow-net=127.0.0.1', '--allow-env', '--allow-read', '--cached-only', 'src/deno.ts'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'ignore'],
    env: { PATH: process.env.PATH, HOME: process.env.HOME, DENO_NO_UPDATE_CHECK: '1', DENO_DIR: join(ROOT, 'node_modules/.deno-cache'), PORT: '0', DENO_KV_PATH: ':memory:', DENO_CERT: info.caFile, K3S_SERVER_URL: 'https://k3s.storm.test:6443', CLUSTER_API_URL: info.url, CLUSTER_SA_TOKEN: info.serviceAccountToken, CLUSTER_CA_PEM: caPem, ADMIN_TOKEN: ADMIN, FLEET_WEBHOOK_SECRET: FLEET_SECRET, CLUSTER_MAX_WRITES_PER_SECOND: String(CAP) },
  });
  process.on('exit', () => deno.kill('SIGKILL'));
  const listening = await new Promise((res, rej) => {
    let out = '';
    deno.stdout.on('data', (d) => {
      out += d;
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) res(JSON.parse(line).listening);
    });
    deno.on('exit', (c) => rej(new Error(`${DENO_DID_NOT_START}: deno exited ${c} (run the Deno e2e test once to fill node_modules/.deno-cache)`)));
  });
  send = (path, init) => fetch(`${listening}${path}`, init);
  // `deno.pid` is itself a process named deno: cpuMsOfAll counts it once (it was counted twice).
  serviceProcs = [deno.pid, ...processesNamed('deno').filter((p) => descendsFromUs(p))];
  stopService = async () => void deno.kill('SIGTERM');
  if (denoInspector) profileTarget = `http://${denoInspector}`;
}
const dist = join(tmp, 'dist');
let mf = null;
if (RUNTIME === 'workerd') {
const built = spawnSync('npx', ['wrangler', 'deploy', '--dry-run', '--outdir', dist], { cwd: ROOT, env: { ...process.env, WRANGLER_SEND_METRICS: 'false' }, encoding: 'utf8' });
if (built.status !== 0) throw new Error(built.stderr);
const before = new Set(processesNamed('workerd'));
mf = new Miniflare({
  modules: true,
  scriptPath: join(dist, 'index.js'),
  modulesRoot: dist,
  compatibilityDate: '2026-04-01',
  compatibilityFlags: ['nodejs_compat'],
  bindings: {
    K3S_SERVER_URL: 'https://k3s.storm.test:6443',
    CLUSTER_API_URL: info.url,
    CLUSTER_SA_TOKEN: info.serviceAccountToken,
    CLUSTER_CA_PEM: caPem,
    ADMIN_TOKEN: ADMIN,
    FLEET_WEBHOOK_SECRET: FLEET_SECRET,
    CLUSTER_MAX_WRITES_PER_SECOND: String(CAP),
  },
  durableObjects: { MACHINES: { className: 'MachineObject', useSQLite: true }, RATE_LIMITS: { className: 'RateLimitObject', useSQLite: true }, GOVERNOR: { className: 'WriteGovernorObject', useSQLite: true }, NODE_WATCH: { className: 'NodeWatchObject', useSQLite: true } },
  ratelimits: { ENROLL_FAILURES: { simple: { limit: 60, period: 60 } } },
  d1Databases: ['DB'],
  outboundService: { network: { allow: ['public', 'private', 'local'], tlsOptions: { trustBrowserCas: true, trustedCertificates: [caPem] } } },
  defaultPersistRoot: join(tmp, 'mf'),
  cf: false,
  ...(process.env.BENCH_PROFILE ? { inspectorPort: 0 } : {}),
});
await mf.ready;
serviceProcs = processesNamed('workerd').filter((p) => !before.has(p) && descendsFromUs(p));
const db = await mf.getD1Database('DB');
for (const file of readdirSync(join(ROOT, 'migrations')).sort()) {
  const sql = readFileSync(join(ROOT, 'migrations', file), 'utf8').replace(/--.*$/gm, '');
  for (const stmt of sql.split(';').map((s) => s.trim()).filter(Boolean)) await db.prepare(stmt).run();
}
send = (path, init) => mf.dispatchFetch(`http://storm${path}`, init);
stopService = () => mf.dispose();
}
const workerd = serviceProcs;

async function pool(n, items, fn) {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  }));
}

/** Registers machines through signed fleet webhooks; returns each machine's generated code. */
async function registerFleet(prefix, n) {
  const codes = new Map();
  await pool(20, Array.from({ length: n }, (_, i) => `${prefix}-${i}`), async (id) => {
    const body = JSON.stringify({ id: `evt-${id}`, type: 'machine.registered', machine: { id, enrollmentCode: 'generate' } });
    const t = Math.floor(Date.now() / 1000);
    const sig = `t=${t},v1=${createHmac('sha256', FLEET_SECRET).update(`${t}.${body}`).digest('hex')}`;
    const res = await send('/v1/webhooks/fleet', { method: 'POST', headers: { 'content-type': 'application/json', 'x-enroll-signature': sig }, body });
    const j = await res.json();
    if (res.status !== 200 || !j.enrollmentCode) throw new Error(`webhook for ${id}: ${res.status} ${JSON.stringify(j)}`);
    codes.set(id, j.enrollmentCode);
  });
  return codes;
}

/** One polite machine: retries 429/503 after Retry-After (+ up to 50 % jitter), same key throughout. */
async function enrollMachine(id, code, ip, stats, abortFirstAfterMs = null) {
  const key = randomUUID();
  for (let attempt = 0; attempt < 200; attempt++) {
    const t = performance.now();
    // A real machine gives up on a request after a while (enroll.sh: --max-time 60); so does this one.
    const signal = attempt === 0 && abortFirstAfterMs !== null ? AbortSignal.timeout(abortFirstAfterMs) : AbortSignal.timeout(60_000);
    let res;
    try {
      res = await send('/v1/enroll', { method: 'POST', headers: { 'content-type': 'application/json', 'cf-connecting-ip': ip, 'idempotency-key': key }, body: JSON.stringify({ method: 'code', machineId: id, code }), signal });
    } catch {
      stats.aborted++;
      stats.retries++;
      await sleep(500 + Math.random() * 1000);
      continue;
    }
    const body = await res.text();
    stats.latencies.push(performance.now() - t);
    (res.status === 201 ? stats.latOk : stats.latRefused).push(performance.now() - t);
    if (res.status === 201) {
      stats.enrolled.set(id, JSON.parse(body));
      return;
    }
    let codeName = '';
    try {
      codeName = JSON.parse(body).code;
    } catch {}
    const label = `${res.status} ${codeName}`;
    stats.statuses.set(label, (stats.statuses.get(label) ?? 0) + 1);
    if (res.status !== 429 && res.status !== 503) {
      stats.failed.set(id, label);
      return;
    }
    const ra = Number(res.headers.get('retry-after') ?? 1);
    stats.retries++;
    await sleep(ra * 1000 * (1 + Math.random() * 0.5));
  }
  stats.failed.set(id, 'gave up');
}

async function settledSecrets(ids) {
  // Owed deletes run after the answer (waitUntil / alarm): wait until each machine has one Secret.
  const want = new Set(ids);
  let byMachine = new Map();
  for (let i = 0; i < 30; i++) {
    const r = await clusterCall('GET', `/api/v1/namespaces/kube-system/secrets?labelSelector=${encodeURIComponent('app.kubernetes.io/managed-by=k3s-enroll')}`);
    byMachine = new Map();
    for (const s of JSON.parse(r.text).items) {
      const m = s.metadata.labels?.['k3s-enroll.io/machine'];
      if (want.has(m)) byMachine.set(m, [...(byMachine.get(m) ?? []), s.metadata.name.slice('bootstrap-token-'.length)]);
    }
    if ([...byMachine.values()].every((v) => v.length <= 1)) break;
    await sleep(1000);
  }
  return byMachine;
}

async function storm(name, n, ipOf, abortMs = () => null) {
  const prefix = `storm-${name}`;
  const codes = await registerFleet(prefix, n);
  const ids = [...codes.keys()];
  await sleep(1100);
  await resetWrites();
  const stats = { latencies: [], latOk: [], latRefused: [], enrolled: new Map(), failed: new Map(), statuses: new Map(), retries: 0, aborted: 0 };
  const profiler = process.env.BENCH_PROFILE && (mf || profileTarget) ? await startProfile(mf ?? profileTarget) : null;
  const cpu0 = cpuMsOfAll(workerd);
  const clusterCpu0 = cpuMsOf(cluster.pid);
  const load0 = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
  const t0 = performance.now();
  await pool(IN_FLIGHT, ids, (id, i) => enrollMachine(id, codes.get(id), ipOf(i), stats, abortMs(i)));
  const wall = (performance.now() - t0) / 1000;
  const serviceCpuMs = cpuMsOfAll(workerd) - cpu0;
  const cpu = serviceCpuMs / Math.max(1, stats.enrolled.size);
  // How much CPU the service and the dev cluster actually got: on a shared machine a starved
  // process shows as long waits with little CPU used (the cores went to other jobs).
  const share = { service: serviceCpuMs / 1000 / wall, cluster: (cpuMsOf(cluster.pid) - clusterCpu0) / 1000 / wall, load: `${load0} → ${readFileSync('/proc/loadavg', 'utf8').split(' ')[0]}` };
  if (profiler) await profiler.stop(`${process.env.BENCH_PROFILE}.${name}`, Math.max(1, stats.enrolled.size));
  const writes = await writesSnapshot();
  const secrets = await settledSecrets(ids);
  // Every machine's answer holds the one Secret it has; a Secret no machine holds is an orphan.
  let orphans = 0;
  let mismatched = 0;
  for (const id of ids) {
    const held = stats.enrolled.get(id)?.tokenId;
    for (const sid of secrets.get(id) ?? []) if (sid !== held) orphans++;
    if (held && !(secrets.get(id) ?? []).includes(held)) mismatched++;
  }
  let loggedIn = 0;
  const sample = [...stats.enrolled.values()].slice(0, 100);
  for (const e of sample) if ((await whoAmI(e.token.split('::')[1])) === 201) loggedIn++;
  return { name, n, stats, wall, cpu, share, writes, orphans, mismatched, loggedIn, sample: sample.length };
}

// Baseline: the bare work of one enrollment in Node (sha256 of the code + one Secret create).
async function bareWork(n) {
  const lat = [];
  const c0 = process.cpuUsage();
  await pool(8, Array.from({ length: n }, (_, i) => i), async (i) => {
    const t = performance.now();
    createHash('sha256').update(`code-${i}`).digest('hex');
    const id = `s${String(i).padStart(5, '0')}`;
    await clusterCall('POST', '/api/v1/namespaces/kube-system/secrets', { body: JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: `bootstrap-token-${id}`, namespace: 'kube-system' }, type: 'bootstrap.kubernetes.io/token', stringData: { 'token-id': id, 'token-secret': '0123456789abcdef', 'usage-bootstrap-authentication': 'true' } }) });
    lat.push(performance.now() - t);
  });
  const cu = process.cpuUsage(c0);
  return { p50: pct(lat, 50), cpu: (cu.user + cu.system) / 1000 / n };
}

/** Workerd CPU (ms) of `procs` spent answering `n` enrollment-shaped POSTs sent `inFlight` at a time; every answer must be `want`. */
async function cpuPerRequest(procs, sendFn, n, warm, expectCode) {
  const bad = new Map();
  const one = async (i) => {
    const res = await sendFn('/v1/enroll', { method: 'POST', headers: { 'content-type': 'application/json', 'cf-connecting-ip': `10.200.${(i >> 8) & 255}.${i & 255}`, 'idempotency-key': randomUUID() }, body: JSON.stringify({ method: 'code', machineId: `probe-${i}`, code: 'code-0123456789abcdef' }) });
    const text = await res.text();
    let code = '';
    try {
      code = JSON.parse(text).code;
    } catch {}
    if (res.status !== 503 || code !== expectCode) bad.set(`${res.status} ${code}`, (bad.get(`${res.status} ${code}`) ?? 0) + 1);
  };
  await pool(IN_FLIGHT, Array.from({ length: warm }, (_, i) => i + n), one);
  const c0 = cpuMsOfAll(procs);
  const t0 = performance.now();
  await pool(IN_FLIGHT, Array.from({ length: n }, (_, i) => i), one);
  const wall = performance.now() - t0;
  return { cpu: (cpuMsOfAll(procs) - c0) / n, perSecond: n / (wall / 1000), bad };
}

/**
 * The harness floor: a bare Worker (no Hono, no bindings) answering every POST with a small
 * problem+json 503, in its own workerd, sent the same requests at the same concurrency. What a
 * cluster_busy refusal costs above this is ours.
 */
async function harnessFloor(n) {
  const before = new Set(processesNamed('workerd'));
  const bare = new Miniflare({
    modules: true,
    script: `export default { fetch() { return new Response(JSON.stringify({ type: 'about:blank', title: 'The cluster is busy', status: 503, code: 'cluster_busy', detail: 'retry after the given time' }), { status: 503, headers: { 'content-type': 'application/problem+json', 'retry-after': '2' } }); } };`,
    compatibilityDate: '2026-04-01',
    cf: false,
  });
  await bare.ready;
  const procs = processesNamed('workerd').filter((p) => !before.has(p) && descendsFromUs(p));
  try {
    return await cpuPerRequest(procs, (path, init) => bare.dispatchFetch(`http://floor${path}`, init), n, 100, 'cluster_busy');
  } finally {
    await bare.dispose();
  }
}

/**
 * What one cluster_busy refusal costs the service: CAP enrollments are held in flight (the dev
 * cluster never answers their creates), so this isolate's admission refuses everything else;
 * then `n` enrollments for unknown machines are sent and every answer must be cluster_busy.
 */
async function refusalCost(n) {
  const codes = [...(await registerFleet('storm-hold', 3 * CAP))];
  await clusterCall('POST', '/__dev/faults', { headers: { 'x-dev-cluster-control': controlToken }, body: JSON.stringify({ mode: 'hang', method: 'POST', pathPrefix: '/api/v1/namespaces/kube-system/secrets', times: 6 * CAP }) });
  await resetWrites();
  const held = new AbortController();
  const holding = [];
  // The governor's horizon lets a batch of creates through at a time: keep sending until the
  // isolate's admission is full (admissionLimit(CAP) in src/cluster/write-governor.ts; CAP is
  // enough for any version), but no longer: a create hung for 5 s times out and is retried.
  const full = Math.min(CAP, Math.max(10, Math.ceil(CAP * 0.8 * 0.4)));
  for (let i = 0; (await writesSnapshot()).creates < full && i < codes.length; i += CAP / 2) {
    for (const [id, code] of codes.slice(i, i + CAP / 2)) holding.push(send('/v1/enroll', { method: 'POST', headers: { 'content-type': 'application/json', 'cf-connecting-ip': '10.250.0.1' }, body: JSON.stringify({ method: 'code', machineId: id, code }), signal: held.signal }).then((r) => r.text(), () => undefined));
    await sleep(700);
  }
  try {
    return await cpuPerRequest(workerd, send, n, 100, 'cluster_busy');
  } finally {
    held.abort();
    await Promise.all(holding);
    await clusterCall('DELETE', '/__dev/faults', { headers: { 'x-dev-cluster-control': controlToken } });
  }
}

const results = [];
const REFUSALS = Number(process.env.STORM_REFUSALS ?? 400);
const refusal = RUNTIME === 'workerd' && REFUSALS > 0 ? await refusalCost(REFUSALS) : null;
const floorCost = RUNTIME === 'workerd' && REFUSALS > 0 ? await harnessFloor(REFUSALS) : null;
if (SCENARIOS.includes('distinct')) results.push(await storm('distinct', MACHINES, (i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`));
if (SCENARIOS.includes('one-address')) results.push(await storm('one-address', MACHINES, () => '198.51.100.1'));
if (SCENARIOS.includes('aborting')) results.push(await storm('aborting', ABORTING, (i) => `172.16.${(i >> 8) & 255}.${i & 255}`, () => 20 + Math.floor(Math.random() * 200)));
const base = await bareWork(200);

const floor = MACHINES / CAP;
const wallTarget = 1.3 * floor + 10;
const distinctWall = results.find((r) => r.name === 'distinct')?.wall ?? wallTarget;
console.log(`\n# boot storm: ${RUNTIME === 'deno' ? 'the Deno entry (every request from 127.0.0.1)' : 'workerd (Miniflare)'} + dev cluster, CLUSTER_MAX_WRITES_PER_SECOND=${CAP}, ${IN_FLIGHT} requests in flight, Retry-After honoured with jitter`);
const row = (k, v, t) => console.log(`${k.padEnd(36)}${String(v).padStart(22)}   ${t}`);
if (refusal && floorCost) {
  console.log(`\n## one cluster_busy refusal vs the harness floor (${REFUSALS} requests, ${IN_FLIGHT} in flight)`);
  console.log(`${''.padEnd(36)}${'service'.padStart(22)}   baseline`);
  row('CPU per refusal (workerd)', `${refusal.cpu.toFixed(2)} ms`, `harness floor per request ${floorCost.cpu.toFixed(2)} ms (a bare Worker answering 503; ${(refusal.cpu / floorCost.cpu).toFixed(1)}x)`);
  row('refusals per second', `${refusal.perSecond.toFixed(0)}/s`, `floor ${floorCost.perSecond.toFixed(0)}/s`);
  const bad = [...refusal.bad, ...floorCost.bad].map(([k, v]) => `${k}×${v}`).join(', ');
  if (bad) row('answers other than cluster_busy', bad, '0');
}
for (const r of results) {
  const s = r.stats;
  const other503 = [...s.statuses.entries()].filter(([k]) => k.startsWith('503') && !k.endsWith('cluster_busy')).reduce((a, [, v]) => a + v, 0);
  const retriesPer = s.retries / r.n;
  const scenarioWallTarget = r.name === 'one-address' ? `≤ ${(2 * distinctWall).toFixed(1)} s (2 × the distinct-address storm)` : r.name === 'aborting' ? `≤ ${(1.3 * (r.n / CAP) + 10).toFixed(1)} s` : `≤ ${wallTarget.toFixed(1)} s = 1.3 × floor ${floor.toFixed(1)} s (${MACHINES}/${CAP}) + 10 s`;
  console.log(`\n## ${r.name}: ${r.n} machines${r.name === 'one-address' ? ' from one source address' : r.name === 'aborting' ? ', each aborting its first request after 20–220 ms, then retrying with its Idempotency-Key' : ' from distinct addresses'}`);
  console.log(`${''.padEnd(36)}${'service'.padStart(22)}   target / baseline`);
  row('machines enrolled', `${s.enrolled.size}/${r.n}`, `${r.n}`);
  row('wall time', `${r.wall.toFixed(1)} s`, scenarioWallTarget);
  row('p50 per request', `${pct(s.latencies, 50).toFixed(0)} ms`, `bare Secret round trip p50 ${base.p50.toFixed(1)} ms`);
  row('p99 per request', `${pct(s.latencies, 99).toFixed(0)} ms`, '< 1000 ms');
  row('  p50 / p99 of 201s, of refusals', `${pct(s.latOk, 50).toFixed(0)}/${pct(s.latOk, 99).toFixed(0)}, ${s.latRefused.length ? `${pct(s.latRefused, 50).toFixed(0)}/${pct(s.latRefused, 99).toFixed(0)}` : '-'} ms`, 'where the slow requests are');
  row('retries per machine', `${retriesPer.toFixed(2)} (${s.retries})`, 'polite clients: 503/429 + Retry-After');
  row('most writes in any second', `${r.writes.maxWritesInASecond}`, `≤ ${(CAP * 1.1).toFixed(0)} (cap ${CAP} + 10 %)`);
  row('Secret creates seen by the cluster', `${r.writes.creates}`, `${r.n} (one per machine)`);
  row('Secret deletes seen by the cluster', `${r.writes.deletes}`, 'owed deletes, node-password resets (none here: new machines)');
  row('503 other than cluster_busy', `${other503}`, '0');
  row(`CPU per enrollment (${RUNTIME})`, `${r.cpu.toFixed(2)} ms`, `bare work ${base.cpu.toFixed(2)} ms (${(r.cpu / base.cpu).toFixed(1)}x)`);
  row('CPU used / wall (cores)', `${r.share.service.toFixed(2)} service, ${r.share.cluster.toFixed(2)} cluster`, `of ${cpus().length} cores; load average ${r.share.load}`);
  row('Secrets no machine holds', `${r.orphans}`, '0');
  row('tokens that log in (sample)', `${r.loggedIn}/${r.sample}`, `${r.sample}`);
  if (s.aborted) row('aborted requests', `${s.aborted}`, '');
  const other = [...s.statuses.entries()].map(([k, v]) => `${k}×${v}`).join(', ');
  if (other) row('non-201 answers', other, '');
  if (s.failed.size) row('machines that failed', [...new Set(s.failed.values())].join(', '), '0');
}

await stopService();
stopping = true;
// The dev cluster writes its state behind (at most 25 ms later, and at exit): the directory goes
// only once it has exited, or its last write races the removal (ENOTEMPTY).
if (cluster.exitCode === null && cluster.signalCode === null) {
  await new Promise((r) => {
    const t = setTimeout(r, 5_000);
    cluster.once('exit', () => (clearTimeout(t), r()));
    cluster.kill('SIGTERM');
  });
}
rmSync(tmp, { recursive: true, force: true });
