// Enrollment throughput, latency and server CPU, measured in one run: the Worker bundle in
// workerd (Miniflare: real Durable Objects, D1) against the dev cluster in its own process.
// Baseline, beside it: the unavoidable work of one enrollment done directly in Node — verify the
// same kind of JWT (jose), the same hashes, and one Secret create round trip to the same cluster.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { exportJWK, generateKeyPair, importJWK, jwtVerify, createLocalJWKSet, SignJWT } from 'jose';
import { Miniflare } from 'miniflare';
import { startProfile } from './profile.mjs';
import { cpuMsOfAll, descendsFromUs, pct, processesNamed } from './procs.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const N = Number(process.env.BENCH_ENROLLMENTS ?? 200);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
/** Enrollments (and baseline creates) sent one at a time, for unloaded latency. */
const SOLO = Number(process.env.BENCH_SOLO ?? 50);
const tmp = mkdtempSync(join(tmpdir(), 'k3s-enroll-bench-'));
// BENCH_PROFILE=<file.cpuprofile>: a V8 CPU profile of the Worker's isolate (the Worker and its
// Durable Objects) during the timed enrollments, and the top functions by self time printed.
const PROFILE = process.env.BENCH_PROFILE ?? '';

// 1. Dev cluster in its own process.
const cluster = spawn(process.execPath, ['scripts/dev-cluster/main.mjs', '--port', '0', '--state-dir', join(tmp, 'cluster')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] });
process.on('exit', () => cluster.kill('SIGKILL'));
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

// 2. Identity provider keys.
const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' };
const issuer = 'https://idp.bench.test';
const sign = (machine) => new SignJWT({ machine_id: machine }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(issuer).setAudience('k3s-enroll').setSubject(machine).setIssuedAt().setExpirationTime('5m').setJti(crypto.randomUUID()).sign(privateKey);

// 3. The Worker bundle in workerd.
const dist = join(tmp, 'dist');
const built = spawnSync('npx', ['wrangler', 'deploy', '--dry-run', '--outdir', dist], { cwd: ROOT, env: { ...process.env, WRANGLER_SEND_METRICS: 'false' }, encoding: 'utf8' });
if (built.status !== 0) throw new Error(built.stderr);
const before = new Set(processesNamed('workerd'));
const mf = new Miniflare({
  modules: true,
  scriptPath: join(dist, 'index.js'),
  modulesRoot: dist,
  compatibilityDate: '2026-04-01',
  compatibilityFlags: ['nodejs_compat'],
  bindings: {
    K3S_SERVER_URL: 'https://k3s.bench.test:6443',
    CLUSTER_API_URL: info.url,
    CLUSTER_SA_TOKEN: info.serviceAccountToken,
    CLUSTER_CA_PEM: caPem,
    ADMIN_TOKEN: 'bench-admin-token-0123456789',
    // This suite measures the hot path, not the write governor's pace (the storm suite does that).
    CLUSTER_MAX_WRITES_PER_SECOND: process.env.BENCH_CAP ?? '10000',
    JWT_ISSUERS: JSON.stringify([{ issuer, jwks: { keys: [jwk] }, audience: 'k3s-enroll', machineIdClaim: 'machine_id', algorithms: ['ES256'] }]),
  },
  durableObjects: { MACHINES: { className: 'MachineObject', useSQLite: true }, RATE_LIMITS: { className: 'RateLimitObject', useSQLite: true }, GOVERNOR: { className: 'WriteGovernorObject', useSQLite: true }, NODE_WATCH: { className: 'NodeWatchObject', useSQLite: true } },
  ratelimits: { ENROLL_FAILURES: { simple: { limit: 60, period: 60 } } },
  d1Databases: ['DB'],
  outboundService: { network: { allow: ['public', 'private', 'local'], tlsOptions: { trustBrowserCas: true, trustedCertificates: [caPem] } } },
  defaultPersistRoot: join(tmp, 'mf'),
  cf: false,
  ...(PROFILE ? { inspectorPort: 0 } : {}),
});
await mf.ready;
const workerd = processesNamed('workerd').filter((p) => !before.has(p) && descendsFromUs(p));
const db = await mf.getD1Database('DB');
for (const file of readdirSync(join(ROOT, 'migrations')).sort()) {
  const sql = readFileSync(join(ROOT, 'migrations', file), 'utf8').replace(/--.*$/gm, '');
  for (const stmt of sql.split(';').map((s) => s.trim()).filter(Boolean)) await db.prepare(stmt).run();
}

// Requests carry Content-Length, as enroll.sh's `curl --data-binary` sends them (Miniflare's
// dispatchFetch would otherwise send the body chunked, which the service reads through its
// chunked-body limit: a path real machines do not take).
const enrollInit = (ip, body) => ({ method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), 'cf-connecting-ip': ip }, body });
const floorInit = (body) => ({ method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }, body });
const admin = { authorization: 'Bearer bench-admin-token-0123456789', 'content-type': 'application/json' };
const ids = Array.from({ length: N }, (_, i) => `bench-${i}`);
// The jwt method is open only to a machine registered with `<iss>|<sub>`.
const jwtReg = (id) => JSON.stringify({ jwtSubject: `${issuer}|${id}` });
for (const id of ids) (await mf.dispatchFetch(`http://x/v1/machines/${id}`, { method: 'PUT', headers: admin, body: jwtReg(id) })).body?.cancel();
const jwts = await Promise.all(ids.map(sign));
// Warm-up: JIT, JWKS import, CA hash, connections.
for (let i = 0; i < 5; i++) {
  const w = `warm-${i}`;
  await (await mf.dispatchFetch(`http://x/v1/machines/${w}`, { method: 'PUT', headers: admin, body: jwtReg(w) })).text();
  await (await mf.dispatchFetch('http://x/v1/enroll', enrollInit('10.9.9.9', JSON.stringify({ method: 'jwt', jwt: await sign(w) })))).text();
}

const profiler = PROFILE ? await startProfile(mf) : null;
const cpu0 = cpuMsOfAll(workerd);
const latencies = [];
let next = 0;
let failures = 0;
/** Requests a baseline Worker answered with anything but 201 (a failed create would flatter it). */
let baselineFailures = 0;
const t0 = performance.now();
await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
  while (next < N) {
    const i = next++;
    const s = performance.now();
    const res = await mf.dispatchFetch('http://x/v1/enroll', enrollInit(`10.0.${i >> 8}.${i & 255}`, JSON.stringify({ method: 'jwt', jwt: jwts[i] })));
    await res.text();
    if (res.status !== 201) failures++;
    latencies.push(performance.now() - s);
  }
}));
const wall = performance.now() - t0;
// The work each enrollment leaves behind (its audit write, owed deletes: right after the answer)
// is part of its cost: give the last ones time to finish before CPU is read.
await new Promise((r) => setTimeout(r, 500));
const serverCpuPerEnroll = (cpuMsOfAll(workerd) - cpu0) / N;
if (profiler) await profiler.stop(PROFILE, N);
// Unloaded latency: one request at a time, so no request waits behind another (at concurrency 8
// on 2 cores, p50 is mostly queueing: 8 in flight / throughput).
const soloIds = Array.from({ length: SOLO }, (_, i) => `solo-${i}`);
for (const id of soloIds) (await mf.dispatchFetch(`http://x/v1/machines/${id}`, { method: 'PUT', headers: admin, body: jwtReg(id) })).body?.cancel();
const soloJwts = await Promise.all(soloIds.map(sign));
const soloLat = [];
for (let i = 0; i < SOLO; i++) {
  const s = performance.now();
  const res = await mf.dispatchFetch('http://x/v1/enroll', enrollInit(`10.1.0.${i & 255}`, JSON.stringify({ method: 'jwt', jwt: soloJwts[i] })));
  await res.text();
  if (res.status !== 201) failures++;
  soloLat.push(performance.now() - s);
}
// The service stops before the baselines run: its background work (outbox flushes, the fleet
// watcher) must not take CPU from them.
await mf.dispose();

// Baseline in Node: JWT verify + the hashes + one Secret create round trip, same cluster.
const jwks = createLocalJWKSet({ keys: [jwk] });
const baseJwts = await Promise.all(ids.map(sign));
function createSecret(i) {
  const body = JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: `bootstrap-token-b${String(i).padStart(5, '0')}`, namespace: 'kube-system' }, type: 'bootstrap.kubernetes.io/token', stringData: { 'token-id': `b${String(i).padStart(5, '0')}`, 'token-secret': '0123456789abcdef', 'usage-bootstrap-authentication': 'true' } });
  return new Promise((res, rej) => {
    const u = new URL(`${info.url}/api/v1/namespaces/kube-system/secrets`);
    const req = request({ hostname: u.hostname, port: u.port, path: u.pathname, method: 'POST', ca: caPem, headers: { authorization: `Bearer ${info.serviceAccountToken}`, 'content-type': 'application/json' } }, (r) => {
      r.resume();
      r.on('end', () => res(r.statusCode));
    });
    req.on('error', rej);
    req.end(body);
  });
}
const baseLat = [];
const c0 = process.cpuUsage();
const b0 = performance.now();
next = 0;
await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
  while (next < N) {
    const i = next++;
    const s = performance.now();
    await jwtVerify(baseJwts[i], jwks, { issuer, audience: 'k3s-enroll', algorithms: ['ES256'] });
    for (const x of [baseJwts[i], `jti:${i}`, caPem]) createHash('sha256').update(x).digest('hex');
    await createSecret(i);
    baseLat.push(performance.now() - s);
  }
}));
const baseWall = performance.now() - b0;
const cu = process.cpuUsage(c0);
const baseCpuPerOp = (cu.user + cu.system) / 1000 / N;
const soloBaseJwts = await Promise.all(soloIds.map(sign));
const soloBaseLat = [];
for (let i = 0; i < SOLO; i++) {
  const s = performance.now();
  await jwtVerify(soloBaseJwts[i], jwks, { issuer, audience: 'k3s-enroll', algorithms: ['ES256'] });
  for (const x of [soloBaseJwts[i], `jti:s${i}`, caPem]) createHash('sha256').update(x).digest('hex');
  await createSecret(N + i);
  soloBaseLat.push(performance.now() - s);
}

/**
 * A baseline Worker measured as the service is: N requests at CONCURRENCY in flight (latency and
 * the workerd CPU they cost, read after the same settling time), then SOLO one at a time.
 */
async function measureWorker(worker, procs) {
  const jwtsLoaded = await Promise.all(ids.map(sign));
  const lat = [];
  const c0 = cpuMsOfAll(procs);
  let at = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (at < N) {
      const i = at++;
      const s = performance.now();
      const res = await worker.dispatchFetch('http://x/', floorInit(JSON.stringify({ jwt: jwtsLoaded[i] })));
      await res.text();
      if (res.status !== 201) baselineFailures++;
      lat.push(performance.now() - s);
    }
  }));
  await new Promise((r) => setTimeout(r, 500)); // the same settling time as the service got
  const cpu = (cpuMsOfAll(procs) - c0) / N;
  const solo = [];
  const jwtsSolo = await Promise.all(soloIds.map(sign));
  for (let i = 0; i < SOLO; i++) {
    const s = performance.now();
    const res = await worker.dispatchFetch('http://x/', floorInit(JSON.stringify({ jwt: jwtsSolo[i] })));
    await res.text();
    if (res.status !== 201) baselineFailures++;
    solo.push(performance.now() - s);
  }
  return { cpu, lat, solo };
}

/**
 * What both baseline Workers share, as plain JavaScript: the JWT check (ES256 with WebCrypto; null
 * when the signature fails) and one Secret create to the cluster.
 */
const WORKER_COMMON = `
const b64u = (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
let key;
async function verifiedClaims(req, env) {
  const { jwt } = await req.json();
  const [h, p, sig] = jwt.split('.');
  key ??= await crypto.subtle.importKey('jwk', JSON.parse(env.JWK), { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']);
  const ok = await crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key, b64u(sig), new TextEncoder().encode(h + '.' + p));
  return ok ? JSON.parse(new TextDecoder().decode(b64u(p))) : null;
}
const tokenId = () => Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => 'abcdefghijklmnopqrstuvwxyz0123456789'[b % 36]).join('');
const createSecret = (env, id) => fetch(env.URL + '/api/v1/namespaces/kube-system/secrets', { method: 'POST', headers: { authorization: 'Bearer ' + env.TOKEN, 'content-type': 'application/json' }, body: JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'bootstrap-token-' + id, namespace: 'kube-system' }, type: 'bootstrap.kubernetes.io/token', stringData: { 'token-id': id, 'token-secret': '0123456789abcdef', 'usage-bootstrap-authentication': 'true' } }) });
`;
// The same bare work inside workerd (a second baseline: what the runtime itself costs): a Worker
// that reads the JSON body, verifies the ES256 JWT with WebCrypto, hashes, and sends one Secret
// create to the same cluster — no framework, no Durable Object, no storage, no audit.
const FLOOR_WORKER = `${WORKER_COMMON}
export default {
  async fetch(req, env) {
    const claims = await verifiedClaims(req, env);
    if (claims === null) return new Response('bad', { status: 401 });
    await crypto.subtle.digest('SHA-256', new TextEncoder().encode(claims.jti));
    const id = tokenId();
    const res = await createSecret(env, id);
    await res.text();
    return res.status === 201 ? Response.json({ id }, { status: 201 }) : new Response('create failed', { status: 502 });
  },
};`;
const beforeFloor = new Set(processesNamed('workerd'));
const floorMf = new Miniflare({
  modules: true,
  script: FLOOR_WORKER,
  compatibilityDate: '2026-04-01',
  bindings: { JWK: JSON.stringify({ kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }), URL: info.url, TOKEN: info.serviceAccountToken },
  outboundService: { network: { allow: ['public', 'private', 'local'], tlsOptions: { trustBrowserCas: true, trustedCertificates: [caPem] } } },
  cf: false,
});
await floorMf.ready;
const floorProcs = processesNamed('workerd').filter((p) => !beforeFloor.has(p) && descendsFromUs(p));
for (let i = 0; i < 5; i++) await (await floorMf.dispatchFetch('http://x/', floorInit(JSON.stringify({ jwt: await sign(`fwarm-${i}`) })))).text();
const floor = await measureWorker(floorMf, floorProcs);
await floorMf.dispose();

// A third baseline, the floor of the product's promises: the bare work above plus, with no
// framework and no logic, the storage and calls the service's guarantees require — one call into
// the machine's Durable Object (SQLite), a write-governor call per five enrollments (as the
// service makes them at this bench's pace), its state read, the reservation written and made durable
// before the create, the fleet watcher told the name (a DO→DO call and a write) and the
// node-password Secret looked up alongside the create, the commit and the audit record written
// with the alarm (the backstop) set, and after the answer the audit record and listing written to
// D1 (batched across requests per isolate, 50 ms, as the service does), the outbox record deleted
// and the alarm moved to the token's expiry. What the service costs beyond this is its own overhead.
const PROMISES_WORKER = `
import { DurableObject } from 'cloudflare:workers';
${WORKER_COMMON}
const skip = (env, part) => env.SKIP.split(',').includes(part);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// The isolate's D1 writer: records queued within 50 ms go in one batch; each request waits for its
// own record to be written (polling: no promise crosses objects) before deleting its outbox copy.
const queued = [];
const written = new Set();
let flushing = false;
async function flushD1(db) {
  flushing = true;
  try {
    await sleep(50);
    while (queued.length > 0) {
      const batch = queued.splice(0, 25);
      const stmts = [];
      for (const r of batch) {
        stmts.push(db.prepare('INSERT OR IGNORE INTO audit (record_id, at, event, outcome, machine_id) VALUES (?, ?, ?, ?, ?)').bind(r.id, r.at, 'enroll', 'success', r.machine));
        stmts.push(db.prepare('INSERT INTO machines (id, state) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET state = excluded.state').bind(r.machine, 'enrolled'));
      }
      await db.batch(stmts);
      for (const r of batch) written.add(r.id);
    }
  } finally {
    flushing = false;
  }
}
// The write governor, as the service uses it at this bench's pace: one call for five slots.
let slotsLeft = 0;
export class Governor extends DurableObject {
  allocate(n) {
    const kv = this.ctx.storage.kv;
    const s = kv.get('schedule') ?? { nextFreeMs: 0 };
    const next = Math.max(s.nextFreeMs, Date.now()) + n * 0.125;
    if (next > Date.now() + 100) kv.put('schedule', { nextFreeMs: next });
    return n;
  }
}
export class Machine extends DurableObject {
  async enroll(machine, jtiHash) {
    const kv = skip(this.env, 'storage') ? { get: () => undefined, put: () => undefined, delete: () => undefined } : this.ctx.storage.kv;
    if (!skip(this.env, 'governor') && slotsLeft-- <= 0) {
      slotsLeft = (await this.env.GOVERNOR.get(this.env.GOVERNOR.idFromName('cluster')).allocate(5)) - 1;
    }
    const prev = kv.get('state') ?? { machine, tokens: [], used: [] };
    kv.put('state', { ...prev, reserving: jtiHash });
    if (!skip(this.env, 'sync')) await this.ctx.storage.sync();
    const watch = skip(this.env, 'watch') ? null : this.env.WATCH.get(this.env.WATCH.idFromName('fleet')).expect(machine);
    const pw = skip(this.env, 'password') ? null : fetch(this.env.URL + '/api/v1/namespaces/kube-system/secrets/' + machine + '.node-password.k3s', { headers: { authorization: 'Bearer ' + this.env.TOKEN } }).then((r) => r.text());
    const alongside = Promise.allSettled([watch, pw]);
    const id = tokenId();
    const res = await createSecret(this.env, id);
    await res.text();
    await alongside;
    if (res.status !== 201) return null;
    kv.put('state', { ...prev, tokens: [{ id }], used: [...prev.used, jtiHash] });
    const rec = { id: crypto.randomUUID(), at: Date.now(), machine };
    kv.put('outbox:' + rec.id, rec);
    if (!skip(this.env, 'alarm')) await this.ctx.storage.setAlarm(Date.now() + 30_000);
    this.ctx.waitUntil((async () => {
      if (!skip(this.env, 'd1')) {
        queued.push(rec);
        for (let tries = 0; !written.has(rec.id) && tries < 100; tries++) {
          if (!flushing) await flushD1(this.env.DB).catch(() => undefined);
          else await sleep(50);
        }
        written.delete(rec.id);
      }
      kv.delete('outbox:' + rec.id);
      if (!skip(this.env, 'alarm')) await this.ctx.storage.setAlarm(Date.now() + 600_000);
    })());
    return id;
  }
  async alarm() {}
}
export class Watch extends DurableObject {
  async expect(machine) {
    this.ctx.storage.kv.put('w:' + machine, { until: Date.now() + 900_000 });
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now() + 3_600_000);
  }
  async alarm() {}
}
export default {
  async fetch(req, env) {
    const claims = await verifiedClaims(req, env);
    if (claims === null) return new Response('bad', { status: 401 });
    const jtiHash = [...new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(claims.jti)))].map((b) => b.toString(16).padStart(2, '0')).join('');
    if (skip(env, 'object')) {
      const id = tokenId();
      const res = await createSecret(env, id);
      await res.text();
      return res.status === 201 ? Response.json({ id }, { status: 201 }) : new Response('create failed', { status: 502 });
    }
    const id = await env.MACHINE.get(env.MACHINE.idFromName(claims.sub)).enroll(claims.sub, jtiHash);
    return id === null ? new Response('create failed', { status: 502 }) : Response.json({ id }, { status: 201 });
  },
};`;
// BENCH_FLOOR_SKIP=object,storage,governor,sync,watch,password,alarm,d1 (comma-separated): leaves parts out of
// this floor, to see what each costs.
const FLOOR_SKIP = process.env.BENCH_FLOOR_SKIP ?? '';
const beforePromises = new Set(processesNamed('workerd'));
const promisesMf = new Miniflare({
  modules: true,
  script: PROMISES_WORKER,
  compatibilityDate: '2026-04-01',
  bindings: { JWK: JSON.stringify({ kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }), URL: info.url, TOKEN: info.serviceAccountToken, SKIP: FLOOR_SKIP },
  durableObjects: { MACHINE: { className: 'Machine', useSQLite: true }, WATCH: { className: 'Watch', useSQLite: true }, GOVERNOR: { className: 'Governor', useSQLite: true } },
  d1Databases: ['DB'],
  outboundService: { network: { allow: ['public', 'private', 'local'], tlsOptions: { trustBrowserCas: true, trustedCertificates: [caPem] } } },
  defaultPersistRoot: join(tmp, 'mf-promises'),
  cf: false,
});
await promisesMf.ready;
const promisesProcs = processesNamed('workerd').filter((p) => !beforePromises.has(p) && descendsFromUs(p));
const pdb = await promisesMf.getD1Database('DB');
await pdb.prepare('CREATE TABLE audit (record_id TEXT PRIMARY KEY, at INTEGER, event TEXT, outcome TEXT, machine_id TEXT)').run();
await pdb.prepare('CREATE TABLE machines (id TEXT PRIMARY KEY, state TEXT)').run();
for (let i = 0; i < 5; i++) await (await promisesMf.dispatchFetch('http://x/', floorInit(JSON.stringify({ jwt: await sign(`pwarm-${i}`) })))).text();
const promises = await measureWorker(promisesMf, promisesProcs);
await promisesMf.dispose();

console.log(`\n# enrollment (jwt) against workerd + dev cluster: ${N} enrollments, concurrency ${CONCURRENCY}${failures ? `, ${failures} FAILED` : ''}`);
console.log(`${''.padEnd(34)}${'service'.padStart(12)}${'baseline'.padStart(12)}${'ratio'.padStart(9)}`);
const row = (name, a, b, unit) => console.log(`${name.padEnd(34)}${`${a.toFixed(2)}${unit}`.padStart(12)}${`${b.toFixed(2)}${unit}`.padStart(12)}${`${(a / b).toFixed(2)}x`.padStart(9)}`);
row('throughput (per second)', (N / wall) * 1000, (N / baseWall) * 1000, '');
row('latency p50', pct(latencies, 50), pct(baseLat, 50), 'ms');
row('latency p99', pct(latencies, 99), pct(baseLat, 99), 'ms');
row(`unloaded p50 (${SOLO}, one at a time)`, pct(soloLat, 50), pct(soloBaseLat, 50), 'ms');
row('CPU per enrollment', serverCpuPerEnroll, baseCpuPerOp, 'ms');
console.log('baseline = jose jwtVerify + 3 sha256 + one HTTPS Secret create, in Node, same cluster; service CPU = workerd process CPU / enrollments');
console.log(`the same bare work as a bare Worker in workerd (Miniflare): CPU ${floor.cpu.toFixed(2)} ms (${(floor.cpu / baseCpuPerOp).toFixed(2)}x the Node baseline), p50 ${pct(floor.lat, 50).toFixed(1)} ms, unloaded p50 ${pct(floor.solo, 50).toFixed(1)} ms; the service is ${(serverCpuPerEnroll / floor.cpu).toFixed(2)}x that CPU`);

console.log(`the floor of the promises${FLOOR_SKIP ? ` WITHOUT ${FLOOR_SKIP}` : ''} (the bare Worker + one Durable Object call, its storage, a governor call per five, the watcher, the node-password lookup, D1 batched; no framework, no logic): CPU ${promises.cpu.toFixed(2)} ms (${(promises.cpu / baseCpuPerOp).toFixed(2)}x the Node baseline), p50 ${pct(promises.lat, 50).toFixed(1)} ms (${(pct(promises.lat, 50) / pct(baseLat, 50)).toFixed(2)}x), unloaded p50 ${pct(promises.solo, 50).toFixed(1)} ms; the service is ${(serverCpuPerEnroll / promises.cpu).toFixed(2)}x that CPU and ${(pct(latencies, 50) / pct(promises.lat, 50)).toFixed(2)}x its p50`);

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
if (baselineFailures) console.log(`${baselineFailures} baseline requests FAILED: the baselines above are not comparable`);
if (failures || baselineFailures) process.exitCode = 1;
