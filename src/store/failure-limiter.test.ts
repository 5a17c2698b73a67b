// The per-address limit counts what an attacker does, not what an honest fleet does: successes
// and governor refusals never count; failed proofs do, and over the limit the address is refused
// locally (no round trip) until the window ends.
import { describe, expect, it } from 'vitest';
import { createFailureLimiter } from './failure-limiter.ts';
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
