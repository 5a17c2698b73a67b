// Idempotency-Key on the step-by-step path (Deno, memory stores): the same rules as the Workers
// one-call path (src/enroll/atomic-enroll.test.ts). A machine whose answer was lost retries the same
// proof with the same key and gets a fresh token while the earlier one is deleted; the same proof
// under another key, or none, or after the window, is a replay.
import { describe, expect, it } from 'vitest';
import { createCodeVerifier, hashEnrollmentCode } from '../attest/code.ts';
import { createMemoryAuditLog, createMemoryMachineIndex, createMemoryMachineStore } from '../store/memory.ts';
import { generateBootstrapToken } from '../token/index.ts';
import { enroll, type EnrollDeps } from './enroll.ts';
import { IDEMPOTENCY_WINDOW_MS } from './idempotency.ts';

const CODE = 'first-boot-code-0123456789';
const KEY = 'a'.repeat(64);
const OTHER_KEY = 'b'.repeat(64);

async function setup() {
  const machines = createMemoryMachineStore();
  const live = new Set<string>();
  let clock = Date.parse('2026-01-01T00:00:00Z');
  const deps: EnrollDeps = {
    machines,
    index: createMemoryMachineIndex(),
    audit: createMemoryAuditLog(),
    tokens: {
      async mint() {
        const token = generateBootstrapToken();
        live.add(token.id);
        return { token, expiresAt: null, uid: `uid-${token.id}`, createdAt: null };
      },
      async remove(id) {
        return live.delete(id);
      },
    },
    caHash: async () => 'a'.repeat(64),
    verifiers: { code: createCodeVerifier() },
    defaults: { tokenTtlSeconds: 600, tokenGroups: ['system:bootstrappers:k3s:default-node-token'], serverUrl: 'https://k3s.test:6443' },
    now: () => new Date(clock),
    newId: () => crypto.randomUUID(),
  };
  await machines.register({ id: 'm-1', enrollmentCodeSha256: hashEnrollmentCode(CODE), enrollmentCodeExpiresAt: null, jwtSubject: null, ekPublicKeySha256: null, certificateSha256: null, groups: null, labels: {}, tokenTtlSeconds: null }, clock);
  const attempt = (key: string | null) => enroll({ method: 'code', machineId: 'm-1', code: CODE }, { requestId: crypto.randomUUID(), clientIp: null, idempotencyKeySha256: key }, deps);
  return { machines, live, attempt, advance: (ms: number) => (clock += ms) };
}

describe('Idempotency-Key on the step-by-step path (Deno)', () => {
  it('same proof + same key after a lost answer → a fresh token; the earlier one is deleted', async () => {
    const { machines, live, attempt, advance } = await setup();
    const first = await attempt(KEY);
    advance(30_000);
    const again = await attempt(KEY);
    expect(again.tokenId).not.toBe(first.tokenId);
    expect([...live]).toEqual([again.tokenId]);
    expect(machines.states.get('m-1')!.liveToken!.id).toBe(again.tokenId);
  });

  it('the same proof under another key, or none, is a replay; so is the same key once the window is over', async () => {
    const { live, attempt, advance } = await setup();
    const first = await attempt(KEY);
    for (const key of [OTHER_KEY, null]) await expect(attempt(key)).rejects.toMatchObject({ code: 'code_used' });
    advance(IDEMPOTENCY_WINDOW_MS + 1);
    await expect(attempt(KEY)).rejects.toMatchObject({ code: 'code_used' });
    expect([...live]).toEqual([first.tokenId]);
  });

  it('retries never extend the window: it is fixed at the first answer', async () => {
    const { attempt, advance } = await setup();
    await attempt(KEY);
    advance(IDEMPOTENCY_WINDOW_MS - 10_000);
    await attempt(KEY);
    advance(20_000);
    await expect(attempt(KEY)).rejects.toMatchObject({ code: 'code_used' });
  });
});
