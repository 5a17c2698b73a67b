// Enrollment under the cluster write governor (the in-process path: Deno, memory): the proof is
// checked first, so a replay or a wrong proof takes no write slot; a busy governor answers
// cluster_busy and releases the reservation, so nothing is minted, counted or burned and the same
// code enrolls once a slot is free.
import { describe, expect, it } from 'vitest';
import { createCodeVerifier, hashEnrollmentCode } from '../attest/code.ts';
import { ClusterBusyError, type WriteGate } from '../cluster/write-governor.ts';
import { createMemoryAuditLog, createMemoryMachineIndex, createMemoryMachineStore } from '../store/memory.ts';
import { generateBootstrapToken } from '../token/index.ts';
import { createBusyAudit } from './busy-audit.ts';
import { enroll, type EnrollDeps } from './enroll.ts';

const CODE = 'first-boot-code-0123456789';

function setup(gate: WriteGate) {
  const machines = createMemoryMachineStore();
  const audit = createMemoryAuditLog();
  const minted: string[] = [];
  const deps: EnrollDeps = {
    machines,
    index: createMemoryMachineIndex(),
    audit,
    gate,
    tokens: {
      async mint(req) {
        const token = generateBootstrapToken();
        minted.push(`${token.id}:${req.slotTaken ? 'slot-taken' : 'no-slot'}`);
        return { token, expiresAt: null, uid: `uid-${token.id}`, createdAt: null };
      },
      async remove() {
        return true;
      },
    },
    caHash: async () => 'a'.repeat(64),
    verifiers: { code: createCodeVerifier() },
    defaults: { tokenTtlSeconds: 600, tokenGroups: ['system:bootstrappers:k3s:default-node-token'], serverUrl: 'https://k3s.test:6443' },
    now: () => new Date('2026-01-01T00:00:00Z'),
    newId: () => crypto.randomUUID(),
  };
  return { machines, audit, minted, deps };
}

describe('enrollment under the write governor', () => {
  it('a 503 cluster_busy burns nothing: no reservation, no attempt counted, code unused, then the same code enrolls', async () => {
    let busy = true;
    const gate: WriteGate = { acquire: async () => (busy ? Promise.reject(new ClusterBusyError(4)) : { at: 0, giveBack: () => {} }) };
    const { machines, audit, minted, deps } = setup(gate);
    await machines.register({ id: 'm-1', enrollmentCodeSha256: hashEnrollmentCode(CODE), enrollmentCodeExpiresAt: null, jwtSubject: null, ekPublicKeySha256: null, certificateSha256: null, groups: null, labels: {}, tokenTtlSeconds: null }, 0);
    const before = machines.states.get('m-1');

    const err = await enroll({ method: 'code', machineId: 'm-1', code: CODE }, { requestId: 'r1', clientIp: null }, deps).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'cluster_busy', retryAfterSeconds: 4 });
    expect(minted).toEqual([]);
    expect(machines.states.get('m-1')).toEqual(before); // not reserved, not counted, not burned
    expect(audit.events.at(-1)).toMatchObject({ outcome: 'failure', code: 'cluster_busy', machineId: 'm-1' });

    busy = false;
    const ok = await enroll({ method: 'code', machineId: 'm-1', code: CODE }, { requestId: 'r2', clientIp: null }, deps);
    expect(ok.machineId).toBe('m-1');
    expect(minted).toHaveLength(1);
    expect(minted[0]).toMatch(/:slot-taken$/); // the slot was taken before the mint, not again by it
    expect(machines.states.get('m-1')!.codeUsedAt).not.toBeNull();
  });

  it('more enrollments in flight than the governor can serve soon: cluster_busy before the proof is checked, nothing read or reserved, the refusal audited', async () => {
    let admitted = 0;
    const gate: WriteGate = {
      acquire: async () => ({ at: 0, giveBack: () => {} }),
      admit: () => {
        if (admitted >= 1) throw new ClusterBusyError(2, 'write governor: 1 enrollments already in flight in this isolate');
        admitted++;
        return () => void admitted--;
      },
    };
    const { machines, audit, minted, deps: base } = setup(gate);
    let verified = 0;
    const code = createCodeVerifier();
    const deps: EnrollDeps = { ...base, verifiers: { code: { ...code, verify: (input: Parameters<typeof code.verify>[0], now: Date) => (verified++, code.verify(input, now)) } } };
    await machines.register({ id: 'm-1', enrollmentCodeSha256: hashEnrollmentCode(CODE), enrollmentCodeExpiresAt: null, jwtSubject: null, ekPublicKeySha256: null, certificateSha256: null, groups: null, labels: {}, tokenTtlSeconds: null }, 0);
    const before = machines.states.get('m-1');
    const release = gate.admit!(); // another enrollment holds the only place
    const err = await enroll({ method: 'code', machineId: 'm-1', code: CODE }, { requestId: 'r1', clientIp: null }, deps).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'cluster_busy', retryAfterSeconds: 2 });
    expect(verified).toBe(0);
    expect(minted).toEqual([]);
    expect(machines.states.get('m-1')).toEqual(before);
    expect(audit.events.at(-1)).toMatchObject({ outcome: 'failure', code: 'cluster_busy' });
    release();
    await enroll({ method: 'code', machineId: 'm-1', code: CODE }, { requestId: 'r2', clientIp: null }, deps);
    expect(verified).toBe(1);
    expect(admitted).toBe(0); // released once the enrollment answered
  });

  it('with a busy audit, admission refusals are counted into one enroll.busy record, while a wrong code keeps its own record', async () => {
    const gate: WriteGate = { acquire: async () => ({ at: 0, giveBack: () => {} }), admit: () => { throw new ClusterBusyError(2, 'write governor: 1 enrollments already in flight in this isolate'); } };
    const { machines, audit, deps: base } = setup(gate);
    const deferred: Promise<unknown>[] = [];
    let closeWindow = () => {};
    const busyAudit = createBusyAudit({ audit, now: () => 0, sleep: () => new Promise<void>((r) => (closeWindow = r)) });
    const deps: EnrollDeps = { ...base, busyAudit, defer: (p) => void deferred.push(p) };
    await machines.register({ id: 'm-1', enrollmentCodeSha256: hashEnrollmentCode(CODE), enrollmentCodeExpiresAt: null, jwtSubject: null, ekPublicKeySha256: null, certificateSha256: null, groups: null, labels: {}, tokenTtlSeconds: null }, 0);
    for (let i = 0; i < 5; i++) {
      const err = await enroll({ method: 'code', machineId: 'm-1', code: CODE }, { requestId: `r${i}`, clientIp: '10.0.0.1' }, deps).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'cluster_busy', retryAfterSeconds: 2 });
    }
    expect(audit.events).toEqual([]);
    expect(deferred).toHaveLength(1); // the window's record, kept alive by the first refusal's request
    closeWindow();
    await Promise.all(deferred);
    expect(audit.events).toHaveLength(1);
    expect(audit.events[0]).toMatchObject({ event: 'enroll.busy', code: 'cluster_busy', requestId: 'r0', clientIp: '10.0.0.1' });
    expect(JSON.parse(audit.events[0]!.reason!)).toMatchObject({ refused: 5 });

    // A proof that is checked and fails is still audited on its own, busy audit or not.
    const open: WriteGate = { acquire: async () => ({ at: 0, giveBack: () => {} }), admit: () => () => {} };
    const err = await enroll({ method: 'code', machineId: 'm-1', code: 'wrong-code-0123456789abcdef' }, { requestId: 'bad', clientIp: '10.0.0.1' }, { ...deps, gate: open }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'attestation_rejected' });
    expect(audit.events.at(-1)).toMatchObject({ event: 'enroll', outcome: 'failure', code: 'attestation_rejected', requestId: 'bad', machineId: 'm-1' });
  });

  it('a replay or a wrong code takes no write slot (refused requests cannot crowd honest ones out)', async () => {
    let slots = 0;
    const gate: WriteGate = { acquire: async () => (slots++, { at: 0, giveBack: () => {} }) };
    const { machines, deps } = setup(gate);
    await machines.register({ id: 'm-1', enrollmentCodeSha256: hashEnrollmentCode(CODE), enrollmentCodeExpiresAt: null, jwtSubject: null, ekPublicKeySha256: null, certificateSha256: null, groups: null, labels: {}, tokenTtlSeconds: null }, 0);
    await enroll({ method: 'code', machineId: 'm-1', code: CODE }, { requestId: 'r1', clientIp: null }, deps);
    expect(slots).toBe(1);
    for (const code of [CODE, 'wrong-code-0123456789abcdef']) {
      const err = await enroll({ method: 'code', machineId: 'm-1', code }, { requestId: 'r2', clientIp: null }, deps).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: code === CODE ? 'code_used' : 'attestation_rejected' });
    }
    expect(slots).toBe(1);
  });
});
