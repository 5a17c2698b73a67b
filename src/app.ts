// createApp(deps): the Hono app every runtime serves. Middleware order: request id → security
// headers → body limit → config + services → routes; one error path (onError/notFound →
// problem+json). It knows nothing of Workers, Deno or Node: entries inject config, clock,
// logger and services (stores, cluster client, verifiers).
import { Hono } from 'hono';
import type { EvidenceVerifier } from './attest/evidence.ts';
import type { ParsedCertificate } from './pki/index.ts';
import type { ClusterClient } from './cluster/index.ts';
import type { Config } from './config.ts';
import type { EnrollDeps } from './enroll/enroll.ts';
import { AppError } from './errors.ts';
import type { Logger } from './http/logger.ts';
import { toProblemResponse } from './http/problem.ts';
import { boundedBody, safeRequestId, strictPathEncoding } from './http/request-guards.ts';
import { createAuditRoutes } from './routes/audit.ts';
import { createEnrollRoutes } from './routes/enroll.ts';
import { createHealthRoutes } from './routes/health.ts';
import { createMachineRoutes } from './routes/machines.ts';
import { createNodeRoutes } from './routes/nodes.ts';
import { createOpenApiRoutes } from './routes/openapi.ts';
import { createTokenRoutes } from './routes/tokens.ts';
import { createWebhookRoutes } from './routes/webhooks.ts';
import { createUiRoutes } from './ui/index.ts';
import type { AuditLog, ChallengeStore, MachineIndex, MachineStore, RateLimiter, WebhookEventLog } from './store/ports.ts';

export const BODY_LIMIT_BYTES = 64 * 1024;
/**
 * Challenge opens one client address may make per minute. Opening needs only public material (an
 * EK or device certificate) and costs a stored challenge and an audit record, so it is counted
 * whether it succeeds or not; the budget is large enough for a site of ~1,000 TPM machines behind
 * one NAT address to open theirs in the first minute (more come back after Retry-After).
 */
export const CHALLENGE_OPENS_PER_MINUTE = 1200;

export interface Services {
  readonly machines: MachineStore;
  readonly index: MachineIndex;
  /** Open TPM / device-certificate challenges by opaque id. */
  readonly challenges: ChallengeStore;
  readonly audit: AuditLog;
  readonly webhookEvents: WebhookEventLog;
  /** Per client IP, on enrollment endpoints. */
  readonly ipLimiter: RateLimiter;
  /**
   * Per client IP: every challenge open, answered or not (each costs the store a write). Absent: no
   * budget (tests). Default budget CHALLENGE_OPENS_PER_MINUTE.
   */
  readonly challengeLimiter?: RateLimiter;
  readonly cluster: ClusterClient;
  /** Enrollment in one call to the machine's store (Workers: its Durable Object); else step by step. */
  readonly atomicEnroll?: EnrollDeps['atomic'];
  readonly verifiers: Readonly<Record<string, EvidenceVerifier>>;
  /** TPM EK manufacturer roots (TPM_EK_ROOTS_PEM), parsed once. */
  readonly ekTrust: { roots: ParsedCertificate[]; intermediates: ParsedCertificate[] };
  /** The fleet's Node watcher (join watch): told of each enrollment. Absent: no watch. */
  readonly joinWatch?: { expect(machineId: string, until: number | null): Promise<void> };
  /** Device certificate roots (DEVICE_CA_PEM), parsed once. */
  readonly deviceTrust?: { roots: ParsedCertificate[]; intermediates: ParsedCertificate[] };
}

export interface AppDeps {
  /** Returns the parsed config or throws ConfigError (cached by the caller). */
  readonly loadConfig: () => Config;
  /** Builds (or returns cached) services for a valid config. */
  readonly services?: (config: Config) => Services;
  readonly logger: Logger;
  readonly now?: () => Date;
  readonly newId?: () => string;
  /** Client address: Workers set CF-Connecting-IP; Deno passes the socket address. */
  readonly clientIp?: (req: Request, env: unknown) => string | null;
  /** Admin auth's outbound fetch (Cloudflare Access JWKS). */
  readonly fetch?: typeof fetch;
}

export type AppEnv = {
  Variables: { requestId: string; config: Config; deps: AppDeps; actor: string };
};

export function createApp(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.use('*', safeRequestId(() => crypto.randomUUID()));
  app.use('*', async (c, next) => {
    await next();
    c.res.headers.set('cache-control', 'no-store');
    c.res.headers.set('x-content-type-options', 'nosniff');
    c.res.headers.set('x-request-id', c.get('requestId'));
  });
  app.use('*', strictPathEncoding());
  app.use('*', boundedBody(BODY_LIMIT_BYTES));
  app.use('*', async (c, next) => {
    c.set('deps', deps);
    c.set('config', deps.loadConfig());
    await next();
  });

  app.route('/', createHealthRoutes());
  app.route('/', createOpenApiRoutes());
  app.route('/', createEnrollRoutes());
  app.route('/', createMachineRoutes(deps.fetch ? { fetch: deps.fetch } : {}));
  app.route('/', createAuditRoutes(deps.fetch ? { fetch: deps.fetch } : {}));
  app.route('/', createTokenRoutes(deps.fetch ? { fetch: deps.fetch } : {}));
  app.route('/', createWebhookRoutes());
  app.route('/', createNodeRoutes(deps.fetch ? { fetch: deps.fetch } : {}));
  app.route('/', createUiRoutes(deps.fetch ? { fetch: deps.fetch } : {}));

  app.notFound((c) => toProblemResponse(new AppError('not_found', `no route for ${c.req.method} ${new URL(c.req.url).pathname}`), c.get('requestId') ?? 'unknown'));

  app.onError((err, c) => {
    const rid = c.get('requestId') ?? 'unknown';
    if (err instanceof AppError) {
      const level = err.code === 'misconfigured' || err.code === 'internal' || err.code.startsWith('upstream') ? 'error' : 'info';
      deps.logger.log(level, 'request.rejected', { request_id: rid, code: err.code, reason: err.reason, method: c.req.method, path: loggablePath(c.req.url) });
      return toProblemResponse(err, rid);
    }
    deps.logger.log('error', 'request.failed', { request_id: rid, error: err instanceof Error ? `${err.name}: ${err.message}` : 'unknown' });
    return toProblemResponse(new AppError('internal', 'internal error'), rid);
  });

  return app;
}

const withLoggedAudit = new WeakMap<Services, Services>();

/**
 * The request path for logs. Under `/v1/tokens/` only a bare token id (or `generate`) is kept:
 * anything else may be a full token that a caller put in the URL, so it is never printed.
 * No decoding here: a log line must not be able to throw.
 */
export function loggablePath(url: string): string {
  const path = new URL(url).pathname;
  if (!path.startsWith('/v1/tokens/')) return path.length > 256 ? `${path.slice(0, 256)}…` : path;
  const rest = path.slice('/v1/tokens/'.length);
  return /^(?:[a-z0-9]{6}|generate)$/.test(rest) ? path : '/v1/tokens/<redacted>';
}

/** The services for this request, or a misconfigured error if the entry wired none. */
export function servicesOf(c: { get(key: 'deps'): AppDeps; get(key: 'config'): Config }): Services {
  const deps = c.get('deps');
  if (!deps.services) throw new AppError('misconfigured', 'no storage is configured for this runtime');
  const services = deps.services(c.get('config'));
  let wrapped = withLoggedAudit.get(services);
  if (!wrapped) {
    // Callers never fail a request over the audit log, but a lost audit record must be visible.
    const audit = services.audit;
    wrapped = {
      ...services,
      audit: {
        append: (e) =>
          audit.append(e).catch((err: unknown) => {
            deps.logger.log('error', 'audit.failed', { request_id: e.requestId, audit_event: e.event, error: err instanceof Error ? err.message : String(err) });
            throw err;
          }),
        list: (q) => audit.list(q),
      },
    };
    withLoggedAudit.set(services, wrapped);
  }
  return wrapped;
}
