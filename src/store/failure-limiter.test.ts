// The per-address limit counts what an attacker does, not what an honest fleet does: successes
// and governor refusals never count; failed proofs do, and over the limit the address is refused
// locally (no round trip) until the window ends.
import { describe, expect, it } from 'vitest';
import { bindingRateLimiter, createFailureLimiter, failureLimiterFor, PENALTY_BOX_MAX_KEYS } from './failure-limiter.ts';
import { createMemoryRateLimiter } from './memory.ts';

describe('failure limiter', () => {
  it('only attacker-caused rejections count; over the limit the address is in the penalty box', async () => {
    const l = createFailureLimiter(createMemoryRateLimiter(3, 60_000));
    for (let i = 0; i < 10; i++) expect(await l.fail('ip:a', 'cluster_busy', 0)).toEqual({ limited: false, retryAfterSeconds: 0 });
    for (let i = 0; i < 10; i++) expect(await l.fail('ip:a', 'conflict', 0)).toMatchObject({ limited: false });
    expect(l.blocked('ip:a', 0)).toBeNull();
    for (let i = 0; i < 3; i++) expect(await l.fail('ip:a', 'attestation_rejected', 1000)).toMatchObject({ limited: false });
    expect(await l.fail('ip:a', 'attestation_rejected', 2000)).toMatchObject({ limited: true });
    expect(l.blocked('ip:a', 3000)).toBeGreaterThanOrEqual(1);
    expect(l.blocked('ip:b', 3000)).toBeNull(); // another address is not affected
    expect(l.blocked('ip:a', 61_000)).toBeNull(); // the window ended
  });

  it('a counter that fails open does not lock anyone out', async () => {
    const l = createFailureLimiter({ hit: async () => Promise.reject(new Error('down')) });
    expect(await l.fail('ip:a', 'attestation_rejected', 0)).toMatchObject({ limited: false });
  });
});

describe('failure limiter, rule by rule', () => {
  /** A counter that refuses every hit, telling the caller to wait `retryAfterSeconds`. */
  const refusing = (retryAfterSeconds = 60) => ({ hit: async () => ({ allowed: false, retryAfterSeconds }) });

  it('counts exactly the rejections an attacker causes', async () => {
    const counted = ['invalid_request', 'invalid_token', 'attestation_rejected', 'machine_unknown', 'machine_revoked', 'code_used', 'payload_too_large', 'unsupported_media_type'] as const;
    for (const code of counted) expect(await createFailureLimiter(refusing()).fail('ip:a', code, 0), code).toEqual({ limited: true, retryAfterSeconds: 60 });
    for (const code of ['cluster_busy', 'upstream_unavailable', 'rate_limited', 'conflict', 'not_found', 'misconfigured'] as const) {
      expect(await createFailureLimiter(refusing()).fail('ip:a', code, 0), code).toEqual({ limited: false, retryAfterSeconds: 0 });
    }
  });

  it('the penalty box answers whole seconds left, at least 1, and lets go exactly at the end', async () => {
    const l = createFailureLimiter(refusing(3));
    await l.fail('ip:a', 'invalid_token', 10_000); // boxed until 13,000
    expect(l.blocked('ip:a', 10_000)).toBe(3);
    expect(l.blocked('ip:a', 11_500)).toBe(2);
    expect(l.blocked('ip:a', 12_999)).toBe(1);
    expect(l.blocked('ip:a', 13_000)).toBeNull();
  });

  it('holds at most PENALTY_BOX_MAX_KEYS addresses: the oldest leaves first; an expired one leaves at its next look', async () => {
    const l = createFailureLimiter(refusing(60));
    for (let i = 0; i < PENALTY_BOX_MAX_KEYS; i++) await l.fail(`ip:${i}`, 'invalid_token', 0);
    expect(l.blocked('ip:0', 1)).not.toBeNull();
    await l.fail('ip:new', 'invalid_token', 0);
    expect(l.blocked('ip:0', 1)).toBeNull(); // evicted
    expect(l.blocked('ip:1', 1)).not.toBeNull();
    expect(l.blocked(`ip:${PENALTY_BOX_MAX_KEYS - 1}`, 1)).not.toBeNull();
    expect(l.blocked('ip:new', 1)).not.toBeNull();
    // ip:5000's time is up: looking at it frees its place, so the next address evicts nobody
    // (not the oldest, ip:1).
    expect(l.blocked('ip:5000', 60_000)).toBeNull();
    await l.fail('ip:newer', 'invalid_token', 0);
    expect(l.blocked('ip:1', 1)).not.toBeNull();
  });

  it('one limiter (one penalty box) per counter for the life of the isolate', async () => {
    const a = refusing();
    expect(failureLimiterFor(a)).toBe(failureLimiterFor(a));
    expect(failureLimiterFor(a)).not.toBe(failureLimiterFor(refusing()));
    await failureLimiterFor(a).fail('ip:x', 'invalid_token', 0);
    expect(failureLimiterFor(a).blocked('ip:x', 0)).toBe(60);
  });

  it('the Workers rate-limiting binding: its answer per key, and its period as the wait', async () => {
    const keys: string[] = [];
    const counter = bindingRateLimiter({ limit: async ({ key }) => (keys.push(key), { success: key === 'ok' }) }, 60);
    expect(await counter.hit('ok', 0)).toEqual({ allowed: true, retryAfterSeconds: 60 });
    expect(await counter.hit('ip:a', 0)).toEqual({ allowed: false, retryAfterSeconds: 60 });
    expect(keys).toEqual(['ok', 'ip:a']);
  });
});
