// POST /v1/enroll: the machine-facing endpoint. Per-IP rate limit, JSON body, then the use case.
import { Hono, type Context } from 'hono';
import { servicesOf, type AppEnv, type Services } from '../app.ts';
import { issueTpmChallenge } from '../attest/tpm/index.ts';
import { issueX509Challenge } from '../attest/x509.ts';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { enroll } from '../enroll/enroll.ts';
import { createBusyAudit, type BusyAudit } from '../enroll/busy-audit.ts';
import { resetNodePassword } from '../enroll/join.ts';
import { parseIdempotencyKey } from '../enroll/idempotency.ts';
import { AppError } from '../errors.ts';
import { addressLimiterKey } from '../http/client-address.ts';
import { readJsonObject } from '../http/json-body.ts';
import { ChallengeBody, parseWith } from '../schemas/index.ts';
import { failureLimiterFor } from '../store/failure-limiter.ts';

/** One admission-refusal counter per audit log (per isolate): see enroll/busy-audit.ts. */
const busyAudits = new WeakMap<object, BusyAudit>();
function busyAuditFor(audit: Services['audit'], now: () => Date): BusyAudit {
  let b = busyAudits.get(audit);
  if (!b) busyAudits.set(audit, (b = createBusyAudit({ audit, now: () => now().getTime(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) })));
  return b;
}

export function createEnrollRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const limited = async (c: Context<AppEnv>) => {
    const deps = c.get('deps');
    const s = servicesOf(c);
    const now = deps.now ?? (() => new Date());
    const clientIp = deps.clientIp ? deps.clientIp(c.req.raw, c.env) : (c.req.header('cf-connecting-ip') ?? null);
    // Only rejections an attacker causes count (src/store/failure-limiter.ts); successes cost nothing.
    const key = addressLimiterKey('ip', clientIp);
    const limiter = failureLimiterFor(s.ipLimiter);
    const tooMany = (retryAfterSeconds: number) => new AppError('rate_limited', 'too many failed enrollment requests from this address', { reason: `ip rate limit: ${clientIp}`, retryAfterSeconds });
    const blocked = limiter.blocked(key, now().getTime());
    if (blocked !== null) throw tooMany(blocked);
    const counted = async <T>(work: () => Promise<T>): Promise<T> => {
      try {
        return await work();
      } catch (err) {
        if (!(err instanceof AppError)) throw err;
        const r = await limiter.fail(key, err.code, now().getTime());
        throw r.limited ? tooMany(r.retryAfterSeconds) : err;
      }
    };
    return { deps, s, now, clientIp, counted };
  };

  app.post('/v1/enroll/challenge', async (c) => {
    const { counted, ...rest } = await limited(c);
    // Every open is charged to the address (review #11): it writes a challenge and an audit record
    // with only public material. Over the budget, neither the body is read nor a challenge or audit record written.
    if (rest.s.challengeLimiter) {
      const r = await rest.s.challengeLimiter.hit(addressLimiterKey('challenge', rest.clientIp), rest.now().getTime()).catch(() => ({ allowed: true, retryAfterSeconds: 0 }));
      if (!r.allowed) throw new AppError('rate_limited', 'too many challenges opened from this address', { reason: `challenge open limit: ${rest.clientIp}`, retryAfterSeconds: Math.max(1, r.retryAfterSeconds) });
    }
    return counted(() => challenge(c, rest));
  });
  const challenge = async (c: Context<AppEnv>, { deps, s, now, clientIp }: Omit<Awaited<ReturnType<typeof limited>>, 'counted'>) => {
    const config = c.get('config');
    const raw = await readJsonObject(c);
    const audit = (outcome: 'success' | 'failure', machineId: string | null, code: string | null, reason: string | null) =>
      s.audit.append({ at: now().getTime(), event: 'enroll.challenge', outcome, machineId, method: raw.method === 'x509' ? 'x509' : 'tpm', code, reason, tokenId: null, requestId: c.get('requestId'), actor: null, clientIp }).catch(() => undefined);
    try {
      const body = parseWith(ChallengeBody, raw);
      if (body.method === 'x509') {
        const { machineId, ...result } = await issueX509Challenge(body, { machines: s.machines, challenges: s.challenges, trust: s.deviceTrust ?? { roots: [], intermediates: [] }, now, newId: deps.newId ?? (() => crypto.randomUUID()) });
        await audit('success', machineId, null, null);
        return c.json(result, 201);
      }
      const { machineId, ...result } = await issueTpmChallenge(body, {
        machines: s.machines,
        index: s.index,
        challenges: s.challenges,
        ekTrust: s.ekTrust,
        allowUnregistered: config.tpmAllowUnregistered,
        quoteRequired: config.tpmPcrPolicy !== null,
        now,
        newId: deps.newId ?? (() => crypto.randomUUID()),
      });
      await audit('success', machineId, null, null);
      return c.json(result, 201);
    } catch (err) {
      if (err instanceof AppError) await audit('failure', null, err.code, err.reason);
      throw err;
    }
  };

  app.post('/v1/enroll', async (c) => {
    const { counted, ...rest } = await limited(c);
    return counted(() => enrollRoute(c, rest));
  });
  const enrollRoute = async (c: Context<AppEnv>, { deps, s, now, clientIp }: Omit<Awaited<ReturnType<typeof limited>>, 'counted'>) => {
    const config = c.get('config');
    const body = await readJsonObject(c);
    let waitUntil: ((p: Promise<unknown>) => void) | undefined;
    try {
      const ctx = c.executionCtx;
      waitUntil = (p) => ctx.waitUntil(p);
    } catch {
      waitUntil = undefined; // not on Workers: settle inline
    }
    const key = parseIdempotencyKey(c.req.header('idempotency-key'));
    const idempotencyKeySha256 = key === null ? null : bytesToHex(sha256(new TextEncoder().encode(key)));
    const result = await enroll(body, { requestId: c.get('requestId'), clientIp, idempotencyKeySha256 }, {
      ...(s.atomicEnroll ? { atomic: s.atomicEnroll } : {}),
      machines: s.machines,
      index: s.index,
      audit: s.audit,
      tokens: s.cluster.tokens,
      gate: s.cluster.gate,
      busyAudit: busyAuditFor(s.audit, now),
      caHash: () => s.cluster.ca.caHash(),
      verifiers: s.verifiers,
      defaults: { tokenTtlSeconds: config.tokenTtlSeconds, tokenGroups: config.tokenGroups, serverUrl: config.k3sServerUrl },
      now,
      newId: deps.newId ?? (() => crypto.randomUUID()),
      ...(waitUntil ? { defer: waitUntil } : {}),
      onEnrolled: async (machineId, token, requestId) => {
        // Before the token is answered: a re-imaged machine must find its old password gone, and
        // the watcher must know the name before the Node can appear.
        await resetNodePassword(machineId, { cluster: s.cluster, audit: s.audit, now }, requestId);
        await s.joinWatch?.expect(machineId, token.expiresAt);
      },
    });
    return c.json(result, 201);
  };
  return app;
}
