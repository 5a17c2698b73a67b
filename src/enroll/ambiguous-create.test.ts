// Issue 14 item 15: after an ambiguous create whose read-back also failed, the attempted token id
// is owed a delete-if-exists (not left to expire); the proof stays usable for a retry; and
// a second-use proof (the same `enroll` retried) is owed nothing more.
import { describe, expect, it } from 'vitest';
import { createCodeVerifier, hashEnrollmentCode } from '../attest/code.ts';
import { AmbiguousCreateError, type MintRequest, type MintedToken } from '../cluster/index.ts';
import { UpstreamError } from '../errors.ts';
import { createMemoryAuditLog, createMemoryMachineIndex, createMemoryMachineStore } from '../store/memory.ts';
import { deleteTokens, enroll, type EnrollDeps } from './enroll.ts';
import { dueForDeletion, nextAlarmAt } from './machine-state.ts';

const CODE = 'first-boot-code-0123456789';
const NOW = Date.parse('2026-06-01T00:00:00Z');

async function setup(mint: (req: MintRequest) => Promise<MintedToken>) {
  const machines = createMemoryMachineStore();
  await machines.register({ id: 'edge-1', enrollmentCodeSha256: hashEnrollmentCode(CODE), enrollmentCodeExpiresAt: NOW + 3_600_000, jwtSubject: null, ekPublicKeySha256: null, certificateSha256: null, groups: null, labels: {}, tokenTtlSeconds: null }, NOW);
  const removed: string[] = [];
  let n = 0;
  const deps: EnrollDeps = {
    machines,
    index: createMemoryMachineIndex(),
    audit: createMemoryAuditLog(),
    tokens: { mint, remove: async (id) => (removed.push(id), true) },
    caHash: async () => 'c'.repeat(64),
    verifiers: { code: createCodeVerifier() },
    defaults: { tokenTtlSeconds: 600, tokenGroups: ['system:bootstrappers:k3s:default-node-token'], serverUrl: 'https://k3s.example.com:6443' },
    now: () => new Date(NOW),
    newId: () => `id-${++n}`,
  };
  return { machines, deps, removed };
}
const body = { method: 'code', machineId: 'edge-1', code: CODE };
const ctx = { requestId: 'rid', clientIp: null };

describe('ambiguous create (item 15)', () => {
  it('the attempted id is owed a delete-if-exists; the alarm deletes it; the proof is usable again', async () => {
    let fail = true;
    const { machines, deps, removed } = await setup(async () => {
      if (fail) throw new AmbiguousCreateError(new UpstreamError('the cluster API did not answer (create secrets)', { retryable: true }), 'zzzzzz');
      return { token: { id: 'okokok', secret: '0123456789abcdef', token: 'okokok.0123456789abcdef' }, expiresAt: new Date(NOW + 600_000), uid: 'uid-ok', createdAt: new Date(NOW) };
    });
    await expect(enroll(body, ctx, deps)).rejects.toMatchObject({ code: 'upstream_unavailable' });
    const state = machines.states.get('edge-1')!;
    expect(state.pendingDeletes).toEqual([{ id: 'zzzzzz', uid: '' }]);
    expect(state.reservation).toBeNull();
    expect(dueForDeletion(state, NOW)).toEqual([{ id: 'zzzzzz', uid: '' }]);
    expect(nextAlarmAt(state, NOW, 30_000)).toBe(NOW + 30_000);
    // The alarm's job: delete without a uid precondition (delete-if-exists), then forget it.
    expect(await deleteTokens(deps.tokens, dueForDeletion(state, NOW))).toEqual(['zzzzzz']);
    expect(removed).toEqual(['zzzzzz']);
    fail = false;
    const ok = await enroll(body, ctx, deps);
    expect(ok.tokenId).toBe('okokok');
  });

  it('a plain (unambiguous) failure owes nothing', async () => {
    const { machines, deps } = await setup(async () => {
      throw new UpstreamError('the service account is not allowed to create secrets', { retryable: false });
    });
    await expect(enroll(body, ctx, deps)).rejects.toMatchObject({ code: 'upstream_error' });
    expect(machines.states.get('edge-1')!.pendingDeletes).toEqual([]);
  });
});
