// Workers entry: parses env once per isolate, wires Durable Object + D1 adapters and the cluster
// client into createApp, and exports the Durable Object classes. Composition root only.
import { CHALLENGE_OPENS_PER_MINUTE, createApp, type Services } from './app.ts';
import { createCodeVerifier } from './attest/code.ts';
import { createJwtVerifier } from './attest/jwt.ts';
import { createTpmVerifier, parseEkRoots } from './attest/tpm/index.ts';
import { createX509Verifier } from './attest/x509.ts';
import { clusterClientFor, createConfigLoader } from './compose.ts';
import { parseConfig } from './config.ts';
import { createConsoleLogger } from './http/logger.ts';
import { createD1AuditLog, createD1ChallengeStore, pruneD1Audit, pruneD1FleetEvents, createD1MachineIndex, createD1WebhookEventLog } from './store/d1.ts';
import { createQueuedAuditLog, deliverEvents, type OutboundEvent } from './store/queue-events.ts';
import { createDurableAtomicEnroll, createDurableMachineStore, createDurableRateLimiter, MachineObject, RateLimitObject, workersAuditLog, workersClusterClient, type StoreEnv } from './store/durable-object.ts';
import { bindingRateLimiter } from './store/failure-limiter.ts';
import { workersWriteGate, WriteGovernorObject } from './store/write-governor-object.ts';
import { reconcileNodes } from './enroll/join-reconcile.ts';
import { createDurableJoinWatch, NodeWatchObject, type NodeWatchEnv } from './store/node-watch-object.ts';

export { MachineObject, RateLimitObject, NodeWatchObject, WriteGovernorObject };

/** ENROLL_FAILURES: the rate-limiting binding (wrangler.toml [[ratelimits]]); without it, a Durable Object counts. */
/** CHALLENGE_OPENS: the same for challenge opens (CHALLENGE_OPENS_PER_MINUTE). */
type Env = StoreEnv & NodeWatchEnv & { DB: D1Database; EVENTS?: Queue<OutboundEvent>; ENROLL_FAILURES?: RateLimit; CHALLENGE_OPENS?: RateLimit };
const ENROLL_FAILURES_PERIOD_SECONDS = 60;

const ENROLL_IP_LIMIT_PER_MINUTE = 60;

const logger = createConsoleLogger();
let cached: { env: Env; app: ReturnType<typeof createApp> } | null = null;

function appFor(env: Env) {
  if (cached?.env === env) return cached.app;
  let services: Services | null = null;
  const app = createApp({
    loadConfig: createConfigLoader(env, logger),
    services: (cfg) => {
      if (services) return services;
      const challenges = createD1ChallengeStore(env.DB);
      return (services = {
        machines: createDurableMachineStore(env.MACHINES),
        atomicEnroll: createDurableAtomicEnroll(env.MACHINES),
        index: createD1MachineIndex(env.DB),
        challenges,
        audit: cfg.eventsWebhookUrl && env.EVENTS ? createQueuedAuditLog(createD1AuditLog(env.DB), env.EVENTS, () => crypto.randomUUID()) : createD1AuditLog(env.DB),
        webhookEvents: createD1WebhookEventLog(env.DB),
        ipLimiter: env.ENROLL_FAILURES ? bindingRateLimiter(env.ENROLL_FAILURES, ENROLL_FAILURES_PERIOD_SECONDS) : createDurableRateLimiter(env.RATE_LIMITS, ENROLL_IP_LIMIT_PER_MINUTE, 60_000),
        challengeLimiter: env.CHALLENGE_OPENS ? bindingRateLimiter(env.CHALLENGE_OPENS, 60) : createDurableRateLimiter(env.RATE_LIMITS, CHALLENGE_OPENS_PER_MINUTE, 60_000),
        cluster: clusterClientFor(cfg, (input, init) => fetch(input, init), workersWriteGate(env.GOVERNOR, cfg.clusterMaxWritesPerSecond)),
        verifiers: { code: createCodeVerifier(), jwt: createJwtVerifier(cfg.jwtIssuers), tpm: createTpmVerifier(challenges, cfg.tpmPcrPolicy), x509: createX509Verifier(parseEkRoots(cfg.deviceCaPem), challenges) },
        ekTrust: parseEkRoots(cfg.tpmEkRootsPem),
        deviceTrust: parseEkRoots(cfg.deviceCaPem),
        joinWatch: createDurableJoinWatch(env.NODE_WATCH),
      });
    },
    logger,
  });
  cached = { env, app };
  return app;
}

export default {
  fetch(request: Request, env: Env, ctx: ExecutionContext): Response | Promise<Response> {
    return appFor(env).fetch(request, env, ctx);
  },
  /** Cron Trigger: the fleet reconciliation, and the watcher restarted if anything awaits a join. */
  async scheduled(_controller: ScheduledController, env: Env): Promise<void> {
    const cfg = parseConfig(env);
    const watch = createDurableJoinWatch(env.NODE_WATCH);
    await watch.kick();
    const deps = { machines: createDurableMachineStore(env.MACHINES), index: createD1MachineIndex(env.DB), audit: workersAuditLog(env, cfg), cluster: workersClusterClient(env), now: () => new Date() };
    // Audit retention (AUDIT_RETENTION_DAYS): bounded batches each run, so a backlog goes over a few runs.
    if (cfg.auditRetentionDays > 0) {
      const cutoff = Date.now() - cfg.auditRetentionDays * 86_400_000;
      const audit = await pruneD1Audit(env.DB, cutoff);
      // Fleet webhook event ids are kept as long as the audit records that name them.
      const ids = await pruneD1FleetEvents(env.DB, cutoff);
      const error = audit.error ?? ids.error;
      if (error !== null) logger.log('error', 'audit.prune_failed', { deleted: audit.deleted, fleet_event_ids: ids.deleted, error });
      if (audit.deleted > 0 || ids.deleted > 0 || error !== null) {
        const reason = `${audit.deleted} records and ${ids.deleted} fleet event ids older than ${cfg.auditRetentionDays} days${error === null ? '' : `; stopped by: ${error.slice(0, 200)}`}`;
        await deps.audit.append({ at: Date.now(), event: 'audit.pruned', outcome: error === null ? 'success' : 'failure', machineId: null, method: null, code: null, reason, tokenId: null, requestId: null, actor: 'cron', clientIp: null }).catch(() => undefined);
      }
    }
    const summary = await reconcileNodes(deps, { quarantine: cfg.quarantineUnattested });
    await deps.audit
      .append({ at: Date.now(), event: 'nodes.reconcile', outcome: 'success', machineId: null, method: null, code: null, reason: JSON.stringify({ ...summary, unaccountedNodes: summary.unaccountedNodes.slice(0, 20) }), tokenId: null, requestId: null, actor: 'cron', clientIp: null })
      .catch(() => undefined);
  },
  async queue(batch: MessageBatch<OutboundEvent>, env: Env): Promise<void> {
    const config = parseConfig(env);
    if (!config.eventsWebhookUrl || !config.eventsWebhookSecret) {
      // Nowhere to deliver: retry later rather than drop (the DLQ keeps them after max_retries).
      batch.retryAll({ delaySeconds: 60 });
      return;
    }
    await deliverEvents(batch, { url: config.eventsWebhookUrl, secret: config.eventsWebhookSecret }, (i, init) => fetch(i, init), () => new Date());
  },
} satisfies ExportedHandler<Env, OutboundEvent>;
