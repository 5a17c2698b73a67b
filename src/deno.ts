// Deno entry: the same createApp behind Deno.serve on 127.0.0.1 (HOST/PORT, default 8787).
// Composition root only; prints one JSON line `{"listening":"http://host:port"}` when ready.
// Storage is Deno KV (`--unstable-kv`; DENO_KV_PATH, default Deno's own location, `:memory:` for
// tests); a sweeper every 30 s does what the Durable Object alarm does on Workers.
import { CHALLENGE_OPENS_PER_MINUTE, createApp, type Services } from './app.ts';
import type { Config } from './config.ts';
import { createCodeVerifier } from './attest/code.ts';
import { createJwtVerifier } from './attest/jwt.ts';
import { createTpmVerifier, parseEkRoots } from './attest/tpm/index.ts';
import { createX509Verifier } from './attest/x509.ts';
import { clusterClientFor, createConfigLoader } from './compose.ts';
import { createBatchedWriteGate, createLocalSlotSource, type WriteGate } from './cluster/index.ts';
import { deleteTokens } from './enroll/enroll.ts';
import { dueForDeletion } from './enroll/machine-state.ts';
import { expireJoin, type JoinDeps } from './enroll/join.ts';
import { reconcileNodes } from './enroll/join-reconcile.ts';
import { awaitedToken } from './enroll/join-state.ts';
import { createLocalJoinWatch } from './store/node-watch-local.ts';
import { createKvAuditLog, createKvChallengeStore, createKvMachineIndex, createKvMachineStore, createKvQueuedAuditLog, createKvRateLimiter, createKvWebhookEventLog, listenForEvents } from './store/deno-kv.ts';
import { createConsoleLogger } from './http/logger.ts';
import { clientAddressBehindProxies } from './http/client-address.ts';

const env = Deno.env.toObject();
const logger = createConsoleLogger((line) => console.error(line));

const kv = await Deno.openKv(env.DENO_KV_PATH || undefined);
const index = createKvMachineIndex(kv);
const machines = createKvMachineStore(kv, (view) => index.upsert(view));
const challenges = createKvChallengeStore(kv);
let services: Services | null = null;
// The cluster write governor, in process: one Deno process is one schedule (no round trip).
let gate: WriteGate | null = null;
const gateFor = (cfg: Config): WriteGate => (gate ??= createBatchedWriteGate(createLocalSlotSource(cfg.clusterMaxWritesPerSecond), { now: () => Date.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)), random: () => Math.random() }, { sendWindowCap: cfg.clusterMaxWritesPerSecond }));
const loadConfig = createConfigLoader(env, logger);
const trustedProxies = () => {
  try {
    return loadConfig().trustedProxies;
  } catch {
    return []; // misconfigured: every request answers so before anything is counted
  }
};
// The fleet's one Node watcher (join watch), in this process.
const joinDeps = (): JoinDeps | null => {
  try {
    const cfg = loadConfig();
    const s = servicesFor(cfg);
    return { machines: s.machines, index: s.index, audit: s.audit, cluster: s.cluster, now: () => new Date(), quarantine: cfg.quarantineUnattested };
  } catch {
    return null; // misconfigured: requests say so
  }
};
const watchTimeout = Number(env.NODE_WATCH_TIMEOUT_SECONDS);
const joinWatch = createLocalJoinWatch(joinDeps, { ...(Number.isInteger(watchTimeout) && watchTimeout > 0 ? { timeoutSeconds: watchTimeout } : {}), log: (event, fields) => logger.log('warn', event, fields) });
const servicesFor = (cfg: Config): Services =>
  (services ??= {
    machines,
    index,
    challenges,
    audit: ((log) => (cfg.eventsWebhookUrl && cfg.eventsWebhookSecret ? createKvQueuedAuditLog(log, kv, () => crypto.randomUUID()) : log))(createKvAuditLog(kv, { retentionMs: cfg.auditRetentionDays * 86_400_000 })),
    webhookEvents: createKvWebhookEventLog(kv, { retentionMs: cfg.auditRetentionDays * 86_400_000 }),
    ipLimiter: createKvRateLimiter(kv, 60, 60_000),
    challengeLimiter: createKvRateLimiter(kv, CHALLENGE_OPENS_PER_MINUTE, 60_000),
    cluster: clusterClientFor(cfg, (input, init) => fetch(input, init), gateFor(cfg)),
    verifiers: { code: createCodeVerifier(), jwt: createJwtVerifier(cfg.jwtIssuers), tpm: createTpmVerifier(challenges, cfg.tpmPcrPolicy), x509: createX509Verifier(parseEkRoots(cfg.deviceCaPem), challenges) },
    ekTrust: parseEkRoots(cfg.tpmEkRootsPem),
    deviceTrust: parseEkRoots(cfg.deviceCaPem),
    joinWatch,
  });
const app = createApp({
  loadConfig,
  services: servicesFor,
  // The socket peer, or behind a trusted TLS proxy (TRUSTED_PROXIES) the client it forwarded for.
  clientIp: (req, info) => clientAddressBehindProxies((info as { remoteAddr?: { hostname?: string } } | undefined)?.remoteAddr?.hostname ?? null, req.headers.get('x-forwarded-for'), trustedProxies()),
  logger,
});

// Outbound events: delivered from the KV queue (EVENTS_WEBHOOK_URL, signed with EVENTS_WEBHOOK_SECRET).
try {
  const cfg = loadConfig();
  if (cfg.eventsWebhookUrl && cfg.eventsWebhookSecret) listenForEvents(kv, { url: cfg.eventsWebhookUrl, secret: cfg.eventsWebhookSecret }, (i, init) => fetch(i, init));
} catch {
  /* misconfigured: logged at start, answered on every request */
}

const hostname = env.HOST ?? '127.0.0.1';
const port = Number(env.PORT ?? 8787);
const server = Deno.serve({ hostname, port, onListen: (addr) => console.log(JSON.stringify({ listening: `http://${addr.hostname}:${addr.port}` })) }, app.fetch);
// Expiry and owed deletes (the Durable Object alarm's job on Workers).
const SWEEP_MS = Number(env.SWEEP_INTERVAL_MS) > 0 ? Number(env.SWEEP_INTERVAL_MS) : 30_000;
const sweeper = setInterval(async () => {
  let svc: Services;
  try {
    svc = servicesFor(loadConfig());
  } catch {
    return; // misconfigured: requests say so; nothing to sweep with
  }
  for await (const state of machines.all()) {
    const id = state.registration.id;
    // Join expiry before the expired token's delete (the outcome is about that token); machines
    // still awaiting a join go (back) to the watcher, e.g. after a restart.
    await expireJoin(id, { machines, index, audit: svc.audit, now: () => new Date() }).catch(() => false);
    const awaited = awaitedToken(state);
    if (awaited) await joinWatch.expect(id, awaited.expiresAt);
    const done = await deleteTokens(svc.cluster.tokens, dueForDeletion(state, Date.now()));
    if (done.length > 0) await machines.confirmDeleted(state.registration.id, done).catch(() => undefined);
  }
}, SWEEP_MS);
// Fleet reconciliation every 5 minutes (Deno.cron with --unstable-cron, else a timer).
const reconcile = async () => {
  const deps = joinDeps();
  if (!deps) return;
  try {
    const summary = await reconcileNodes(deps, { quarantine: loadConfig().quarantineUnattested });
    await deps.audit.append({ at: Date.now(), event: 'nodes.reconcile', outcome: 'success', machineId: null, method: null, code: null, reason: JSON.stringify({ ...summary, unaccountedNodes: summary.unaccountedNodes.slice(0, 20) }), tokenId: null, requestId: null, actor: 'cron', clientIp: null }).catch(() => undefined);
  } catch (err) {
    logger.log('warn', 'nodes.reconcile_failed', { error: err instanceof Error ? err.message : String(err) });
  }
};
const cron = (Deno as unknown as { cron?: (name: string, schedule: string, fn: () => Promise<void>) => Promise<void> }).cron;
const reconciler = cron ? (void cron('k3s-enroll fleet reconciliation', '*/5 * * * *', reconcile), null) : setInterval(reconcile, 5 * 60_000);
const stop = () => {
  clearInterval(sweeper);
  if (reconciler !== null) clearInterval(reconciler);
  joinWatch.stop();
  server.shutdown();
};
Deno.addSignalListener('SIGINT', stop);
Deno.addSignalListener('SIGTERM', stop);
await server.finished;
