// The join watch under a boot storm: N machines enroll (real bootstrap-token Secrets in the dev
// cluster), then their Nodes appear at random times within a window, as kubelets would register
// them. Measured: the cluster requests the join watch sends (per enrolled machine) and the delay
// from a Node appearing to its token's delete. Baseline, in the same run and on the same schedule:
// one GET per awaited machine every 2 s (the design the watch replaces).
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:https';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createClusterClient, type ClusterClient } from '../src/cluster/index.ts';
import { handleNode, resetNodePassword, type JoinDeps } from '../src/enroll/join.ts';
import { createLocalJoinWatch } from '../src/store/node-watch-local.ts';
import { createMemoryAuditLog, createMemoryMachineIndex, createMemoryMachineStore } from '../src/store/memory.ts';
import { clientCert } from '../test/support/cluster-call.ts';

const N = Number(process.env.BENCH_JOINS ?? 200);
const WINDOW_MS = Number(process.env.BENCH_JOIN_WINDOW_MS ?? 10_000);
const POLL_MS = 2_000;
const dir = mkdtempSync(join(tmpdir(), 'k3s-enroll-join-bench-'));
// The dev cluster in its own process, as an API server would be (not sharing this event loop).
const child = spawn(process.execPath, ['scripts/dev-cluster/main.mjs', '--port', '0', '--state-dir', dir], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'ignore'] });
process.on('exit', () => child.kill('SIGKILL'));
const info = await new Promise<{ url: string; caFile: string; serviceAccountToken: string }>((res, rej) => {
  let out = '';
  child.stdout!.on('data', (d) => {
    out += d;
    const line = out.split('\n').find((l) => l.startsWith('{'));
    if (line) res(JSON.parse(line));
  });
  child.on('exit', (c) => rej(new Error(`dev cluster exited ${c}`)));
});
const cluster = { url: info.url, caPem: readFileSync(info.caFile, 'utf8'), serviceAccountToken: info.serviceAccountToken };
const admin = clientCert(dir, 'bench-admin', 'system:masters');

const agent = new Agent({ keepAlive: true, ca: cluster.caPem, maxSockets: 64 });
/** fetch over node:https (keep-alive) trusting the dev cluster's CA, streaming bodies (for the watch). */
function httpsFetch(input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> {
  return new Promise((resolve, reject) => {
    const headers = Object.fromEntries(new Headers(init.headers).entries());
    const req = request(String(input), { method: init.method ?? 'GET', headers, agent }, (res) => {
      const h = new Headers();
      for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') h.set(k, v);
      const status = res.statusCode ?? 0;
      resolve(new Response(status === 204 ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), { status, headers: h }));
    });
    init.signal?.addEventListener('abort', () => req.destroy(new DOMException('aborted', 'AbortError')), { once: true });
    req.on('error', reject);
    req.end(typeof init.body === 'string' ? init.body : undefined);
  });
}

type Kind = string;
function counting() {
  const counts = new Map<Kind, number>();
  const deletedAt = new Map<string, number>();
  const f = (async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const u = new URL(String(input));
    const m = init.method ?? 'GET';
    const kind = u.searchParams.get('watch') ? 'watch nodes' : `${m} ${u.pathname.startsWith('/api/v1/nodes') ? (u.pathname === '/api/v1/nodes' ? 'nodes (list)' : 'node') : u.pathname.includes('node-password') ? 'node-password secret' : u.pathname.includes('bootstrap-token') ? 'bootstrap-token secret' : u.pathname}`;
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
    const res = await httpsFetch(input, init);
    const tok = /bootstrap-token-([a-z0-9]{6})$/.exec(u.pathname)?.[1];
    if (m === 'DELETE' && tok) deletedAt.set(tok, performance.now());
    return res;
  }) as typeof fetch;
  return { f, counts, deletedAt, total: () => [...counts.values()].reduce((a, b) => a + b, 0) };
}

function client(f: typeof fetch): ClusterClient {
  return createClusterClient({ baseUrl: cluster.url, bearer: cluster.serviceAccountToken, fetch: f, now: () => new Date(), caPem: cluster.caPem, caHash: null, caHashMode: 'pem' });
}

async function enrollFleet(prefix: string, deps: JoinDeps, minter: ClusterClient) {
  const tokens = new Map<string, string>();
  for (let i = 0; i < N; i++) {
    const id = `${prefix}-${i}`;
    await deps.machines.register({ id, enrollmentCodeSha256: 'a'.repeat(64), enrollmentCodeExpiresAt: null, jwtSubject: null, ekPublicKeySha256: null, certificateSha256: null, groups: null, labels: { site: 'bench' }, tokenTtlSeconds: null }, Date.now());
    await deps.machines.reserve(id, { method: 'code', codeSha256: 'a'.repeat(64) }, `r-${id}`, Date.now());
    const minted = await minter.tokens.mint({ ttlSeconds: 600, usages: ['authentication'], groups: ['system:bootstrappers:k3s:default-node-token'], description: `bench ${id}` });
    await deps.machines.commit(id, `r-${id}`, { id: minted.token.id, uid: minted.uid, expiresAt: minted.expiresAt!.getTime(), mintedAt: minted.createdAt?.getTime() ?? Date.now(), method: 'code' }, null, Date.now());
    tokens.set(minted.token.id, id);
  }
  return tokens;
}

// Kubelets' registrations (an admin certificate here), over kept-alive connections so that the
// storm's TLS handshakes do not starve this process's event loop and distort the delays.
const kubeletAgent = new Agent({ keepAlive: true, ca: cluster.caPem, cert: admin.cert, key: admin.key, maxSockets: 32 });
function kubelets(name: string): Promise<{ status: number; text: string }> {
  const body = JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'kubernetes.io/hostname': name } } });
  return new Promise((res, rej) => {
    const req = request(`${cluster.url}/api/v1/nodes`, { method: 'POST', agent: kubeletAgent, headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } }, (r) => {
      let text = '';
      r.on('data', (d) => (text += d));
      r.on('end', () => res({ status: r.statusCode ?? 0, text }));
    });
    req.on('error', rej);
    req.end(body);
  });
}

/** Nodes appear at random times in the window, registered as a kubelet would. */
async function bootStorm(prefix: string): Promise<Map<string, number>> {
  const appeared = new Map<string, number>();
  await Promise.all(
    Array.from({ length: N }, async (_, i) => {
      await new Promise((r) => setTimeout(r, Math.random() * WINDOW_MS));
      const name = `${prefix}-${i}`;
      const r = await kubelets(name);
      if (r.status !== 201) throw new Error(`create node ${name}: ${r.status} ${r.text}`);
      appeared.set(name, performance.now());
    }),
  );
  return appeared;
}

function depsWith(f: typeof fetch): JoinDeps {
  return { machines: createMemoryMachineStore(), index: createMemoryMachineIndex(), audit: createMemoryAuditLog(), cluster: client(f), now: () => new Date() };
}

async function waitJoined(deps: JoinDeps, prefix: string) {
  const end = Date.now() + WINDOW_MS + 60_000;
  for (;;) {
    let joined = 0;
    for (let i = 0; i < N; i++) if ((await deps.machines.get(`${prefix}-${i}`))!.state === 'joined') joined++;
    if (joined === N) return;
    if (Date.now() > end) throw new Error(`${prefix}: only ${joined}/${N} joined`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const pct = (xs: number[], p: number) => xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const delays = (tokens: Map<string, string>, deletedAt: Map<string, number>, appeared: Map<string, number>) => [...tokens].filter(([tok]) => deletedAt.has(tok)).map(([tok, id]) => deletedAt.get(tok)! - appeared.get(id)!);

// 1. The join watch (the same sessions the Workers Durable Object and the Deno entry run).
const w = counting();
const wDeps = depsWith(w.f);
const wTokens = await enrollFleet('w', wDeps, client(httpsFetch));
const watch = createLocalJoinWatch(() => wDeps, { timeoutSeconds: 60 });
for (const [, id] of wTokens) {
  await resetNodePassword(id, wDeps);
  await watch.expect(id, Date.now() + 600_000);
}
const wAppeared = await bootStorm('w');
await waitJoined(wDeps, 'w');
watch.stop();
const wDelays = delays(wTokens, w.deletedAt, wAppeared);

// 2. Baseline: a poll per awaited machine every 2 s, then the same join handling.
const p = counting();
const pDeps = depsWith(p.f);
const pTokens = await enrollFleet('p', pDeps, client(httpsFetch));
for (const [, id] of pTokens) await resetNodePassword(id, pDeps);
const awaited = new Set(pTokens.values());
let pollFailures = 0;
const pollers = [...awaited].map((id, i) =>
  (async () => {
    await new Promise((r) => setTimeout(r, (i / N) * POLL_MS)); // spread, as independent machines would be
    while (awaited.has(id)) {
      try {
        const node = await pDeps.cluster.nodes.get(id);
        if (node && (await handleNode(node, pDeps)).joined) {
          awaited.delete(id);
          continue;
        }
      } catch {
        pollFailures++; // an overloaded API server: the poll simply comes again
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  })(),
);
const pAppeared = await bootStorm('p');
await Promise.all(pollers);
const pDelays = delays(pTokens, p.deletedAt, pAppeared);

const fmt = (c: ReturnType<typeof counting>) => [...c.counts].sort().map(([k, v]) => `    ${k.padEnd(32)} ${String(v).padStart(6)}  (${(v / N).toFixed(2)}/machine)`).join('\n');
console.log(`\n# join watch: ${N} machines, Nodes appearing within ${WINDOW_MS / 1000} s (dev cluster, Node)`);
console.log(`one fleet watch      ${String(w.total()).padStart(6)} cluster requests = ${(w.total() / N).toFixed(2)} per enrolled machine\n${fmt(w)}`);
console.log(`baseline: poll/2 s   ${String(p.total()).padStart(6)} cluster requests = ${(p.total() / N).toFixed(2)} per enrolled machine\n${fmt(p)}`);
// The token delete replaces the one its expiry would have cost: it is not extra.
const extra = (c: ReturnType<typeof counting>) => (c.total() - (c.counts.get('DELETE bootstrap-token secret') ?? 0)) / N;
console.log(`extra per machine    watch ${extra(w).toFixed(2)} (password reset + label patch + share of the fleet's watch/list) vs poll ${extra(p).toFixed(2)}`);
console.log(`ratio                ${(w.total() / p.total()).toFixed(2)}x the requests of polling (${(extra(w) / extra(p)).toFixed(2)}x the extra ones)`);
if (pollFailures > 0) console.log(`baseline polls that failed (timeouts under load): ${pollFailures}`);
console.log(`join → consume delay  watch p50 ${pct(wDelays, 50).toFixed(0)} ms, p95 ${pct(wDelays, 95).toFixed(0)} ms, max ${Math.max(...wDelays).toFixed(0)} ms   |   poll p50 ${pct(pDelays, 50).toFixed(0)} ms, p95 ${pct(pDelays, 95).toFixed(0)} ms`);
child.kill('SIGTERM');
rmSync(dir, { recursive: true, force: true });
process.exit(0);
