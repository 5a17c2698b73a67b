// The D1 adapters in workerd, on the real migrations: the EK index keeps revoked machines (their TPM
// never auto-registers anew), the listing ignores stale writes, challenges are found by opaque id.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { createD1ChallengeStore, createD1MachineIndex } from '../../src/store/d1.ts';
import type { MachineView } from '../../src/store/ports.ts';

const view = (over: Partial<MachineView> = {}): MachineView => ({
  id: 'ek-machine',
  groups: null,
  labels: {},
  tokenTtlSeconds: null,
  hasEnrollmentCode: false,
  enrollmentCodeUsed: false,
  enrollmentCodeExpiresAt: null,
  jwtSubject: null,
  ekPublicKeySha256: 'e'.repeat(64),
  certificateSha256: null,
  revokedAt: null,
  createdAt: 1,
  updatedAt: 1,
  liveToken: null,
  lastEnrolledAt: null,
  ...over,
});

describe('D1 machine index', () => {
  it('a revoked machine keeps its EK in the index', async () => {
    const index = createD1MachineIndex(env.DB);
    await index.upsert(view({ id: 'ek-revoked', ekPublicKeySha256: '1'.repeat(64) }));
    await index.upsert(view({ id: 'ek-revoked', ekPublicKeySha256: '1'.repeat(64), revokedAt: 2, updatedAt: 2 }));
    expect(await index.findByEk('1'.repeat(64))).toBe('ek-revoked');
  });

  it('a stale write does not undo a revocation', async () => {
    const index = createD1MachineIndex(env.DB);
    await index.upsert(view({ id: 'ek-stale', revokedAt: 5, updatedAt: 5 }));
    await index.upsert(view({ id: 'ek-stale', revokedAt: null, updatedAt: 4 }));
    expect((await index.list({ limit: 1000 })).find((v) => v.id === 'ek-stale')?.revokedAt).toBe(5);
  });
});

describe('D1 challenge store', () => {
  it('finds a challenge by its id and drops expired ones as new ones arrive', async () => {
    const store = createD1ChallengeStore(env.DB);
    const ch = { id: crypto.randomUUID(), machineId: 'edge-1', kind: 'tpm' as const, secretSha256: 'f'.repeat(64), ekSha256: 'e'.repeat(64), akName: '000b', quoteRequired: false, issuedAt: 1_000, expiresAt: 2_000 };
    await store.put(ch);
    expect(await store.get(ch.id)).toEqual(ch);
    expect(await store.get(crypto.randomUUID())).toBeNull();
    await store.put({ ...ch, id: crypto.randomUUID(), issuedAt: 2_000, expiresAt: 3_000 });
    expect(await store.get(ch.id)).toBeNull();
  });
});
