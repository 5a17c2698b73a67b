// Property: the per-machine state machine, driven by random interleavings of register / challenge /
// reserve / mint-ok / mint-fail / commit / release / revoke / alarm / re-register / clock ticks,
// keeps the invariants of DESIGN.md §4 against a model of the cluster:
//  - nothing owed is forgotten: every token in the cluster is the live one or owed a delete;
//  - at most one live token (one cluster token not owed a delete);
//  - single use: a code (per registration of it), a JWT, a challenge commits at most once;
//  - revoked stays revoked until an explicit re-registration, and nothing commits meanwhile.
// Fixed seed and run count (test/support/property.ts); FC_RUNS=10000 for a long run.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fcParams } from '../../test/support/property.ts';
import { AppError } from '../errors.ts';
import {
  applyRegistration,
  applyRevocation,
  CHALLENGE_TTL_MS,
  commitEnrollment,
  confirmDeleted,
  dueForDeletion,
  RejectionWithState,
  releaseEnrollment,
  reserveEnrollment,
  RESERVATION_MS,
  type ChallengeRecord,
  type MachineRegistration,
  type MachineState,
  type Proof,
} from './machine-state.ts';

type Action =
  | { t: 'register'; newCode: boolean; newEk: boolean }
  | { t: 'challenge' }
  | { t: 'reserve'; proof: 'code' | 'wrongCode' | 'jwt' | 'tpm' | 'wrongTpm'; pick: number }
  | { t: 'mintOk'; pick: number }
  | { t: 'mintFail'; pick: number }
  | { t: 'commit'; pick: number; cleanupOk: boolean }
  | { t: 'release'; pick: number }
  | { t: 'revoke'; deletesOk: boolean }
  | { t: 'alarm'; deletesOk: boolean[] }
  | { t: 'tick'; ms: number };

// Weighted toward the enrollment path (reserve → mint → commit) so that runs reach commits often.
const action: fc.Arbitrary<Action> = fc.oneof(
  { arbitrary: fc.record({ t: fc.constant('register' as const), newCode: fc.boolean(), newEk: fc.boolean() }), weight: 1 },
  { arbitrary: fc.constant({ t: 'challenge' as const }), weight: 2 },
  { arbitrary: fc.record({ t: fc.constant('reserve' as const), proof: fc.constantFrom('code' as const, 'wrongCode' as const, 'jwt' as const, 'tpm' as const, 'wrongTpm' as const), pick: fc.nat(7) }), weight: 5 },
  { arbitrary: fc.record({ t: fc.constant('mintOk' as const), pick: fc.nat(3) }), weight: 4 },
  { arbitrary: fc.record({ t: fc.constant('mintFail' as const), pick: fc.nat(3) }), weight: 1 },
  { arbitrary: fc.record({ t: fc.constant('commit' as const), pick: fc.nat(3), cleanupOk: fc.boolean() }), weight: 4 },
  { arbitrary: fc.record({ t: fc.constant('release' as const), pick: fc.nat(3) }), weight: 1 },
  { arbitrary: fc.record({ t: fc.constant('revoke' as const), deletesOk: fc.boolean() }), weight: 1 },
  { arbitrary: fc.record({ t: fc.constant('alarm' as const), deletesOk: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }) }), weight: 2 },
  { arbitrary: fc.record({ t: fc.constant('tick' as const), ms: fc.constantFrom(1, 1_000, RESERVATION_MS, CHALLENGE_TTL_MS, 3_600_000) }), weight: 2 },
);

const hex = (c: string, n: number) => `${c}${n.toString(16)}`.padEnd(64, '0');

function run(actions: Action[]): void {
  let now = 1_000_000;
  let state: MachineState | null = null;
  let codeEpoch = 0;
  let codeHash = hex('a', 0);
  let ek = hex('e', 0);
  let ekEpoch = 0;
  let revoked = false;
  let nextId = 0;
  const challenges: Array<ChallengeRecord & { epoch: number }> = [];
  const jwtKeys: string[] = [];
  /** Reserved, not yet minted. */
  let reserved: Array<{ rid: string; key: string }> = [];
  /** Minted in the cluster, not yet committed. */
  let minted: Array<{ rid: string; key: string; token: string }> = [];
  const cluster = new Set<string>();
  const committed = new Map<string, number>();

  const registration = (): MachineRegistration => ({ id: 'edge-1', enrollmentCodeSha256: codeHash, enrollmentCodeExpiresAt: null, jwtSubject: 'https://i|s', ekPublicKeySha256: ek, certificateSha256: null, groups: null, labels: {}, tokenTtlSeconds: null });
  const deleteFromCluster = (ids: readonly string[], ok: (i: number) => boolean) => {
    const done: string[] = [];
    ids.forEach((id, i) => {
      if (ok(i)) {
        cluster.delete(id); // a token already gone counts as deleted
        done.push(id);
      }
    });
    state = confirmDeleted(state, done);
  };

  for (const a of actions) {
    switch (a.t) {
      case 'register': {
        if (a.newCode || state === null) {
          codeHash = hex('a', ++codeEpoch);
        }
        if (a.newEk) {
          ek = hex('e', ++ekEpoch);
        }
        state = applyRegistration(state, registration(), now).state;
        revoked = false;
        break;
      }
      case 'challenge': {
        if (state === null || state.revokedAt !== null) break; // refused at issue time
        const id = `ch-${++nextId}`;
        challenges.push({ id, machineId: 'edge-1', kind: 'tpm', secretSha256: hex('c', nextId), ekSha256: ek, issuedAt: now, expiresAt: now + CHALLENGE_TTL_MS, epoch: ekEpoch });
        break;
      }
      case 'reserve': {
        let proof: Proof;
        let key: string;
        if (a.proof === 'code' || a.proof === 'wrongCode') {
          proof = { method: 'code', codeSha256: a.proof === 'code' ? codeHash : hex('b', 1) };
          key = `code:${codeEpoch}`;
        } else if (a.proof === 'jwt') {
          // Reuse a used JWT about half the time (replays), else a fresh one.
          const j = a.pick < jwtKeys.length ? jwtKeys[a.pick]! : hex('d', jwtKeys.push(hex('d', jwtKeys.length + 1)));
          proof = { method: 'jwt', jtiSha256: j, exp: 9e15, issuer: 'https://i', subject: 's' };
          key = `jwt:${j}`;
        } else {
          const ch = challenges[challenges.length - 1 - (a.pick % Math.max(1, challenges.length))];
          if (ch === undefined) break;
          proof = { method: 'tpm', challenge: ch, secretSha256: a.proof === 'tpm' ? ch.secretSha256 : hex('f', 1) };
          key = `tpm:${ch.id}`;
        }
        const rid = `r-${++nextId}`;
        try {
          state = reserveEnrollment(state, proof, rid, now).state;
          reserved.push({ rid, key });
          // What a reservation may never let through:
          expect(revoked, 'reserved while revoked').toBe(false);
          if (a.proof === 'wrongCode' || a.proof === 'wrongTpm') throw new Error('a wrong proof was reserved');
          // A challenge sealed to an EK the machine no longer has (or had before a revocation) answers nothing.
          if (proof.method === 'tpm') expect((proof.challenge as { epoch?: number }).epoch, 'challenge of a replaced EK reserved').toBe(ekEpoch);
        } catch (err) {
          if (!(err instanceof AppError)) throw err;
        }
        break;
      }
      case 'mintOk': {
        const r = reserved[a.pick % Math.max(1, reserved.length)];
        if (!r) break;
        reserved = reserved.filter((x) => x !== r);
        const token = `tok${++nextId}`;
        cluster.add(token);
        minted.push({ ...r, token });
        break;
      }
      case 'mintFail': {
        const r = reserved[a.pick % Math.max(1, reserved.length)];
        if (!r) break;
        reserved = reserved.filter((x) => x !== r);
        state = releaseEnrollment(state, r.rid);
        break;
      }
      case 'release': {
        state = releaseEnrollment(state, `r-unknown-${a.pick}`);
        break;
      }
      case 'commit': {
        const m = minted[a.pick % Math.max(1, minted.length)];
        if (!m) break;
        minted = minted.filter((x) => x !== m);
        try {
          const r = commitEnrollment(state, m.rid, { id: m.token, uid: `uid-${m.token}`, expiresAt: now + 600_000, mintedAt: now, method: m.key.split(':')[0]! }, m.key.startsWith('jwt:') ? { jtiSha256: m.key.slice(4), exp: 9e15 } : null, now);
          state = r.state;
          expect(revoked, 'committed while revoked').toBe(false);
          committed.set(m.key, (committed.get(m.key) ?? 0) + 1);
          deleteFromCluster(r.tokensToDelete.map((t) => t.id), () => a.cleanupOk);
        } catch (err) {
          if (!(err instanceof RejectionWithState)) throw err;
          state = err.state;
          // The use case deletes the new token at once; if that fails, the state still owes it.
          if (a.cleanupOk) cluster.delete(m.token);
        }
        break;
      }
      case 'revoke': {
        if (state === null) break;
        const r = applyRevocation(state, now);
        state = r.state;
        revoked = true;
        deleteFromCluster(r.tokensToDelete.map((t) => t.id), () => a.deletesOk);
        break;
      }
      case 'alarm': {
        deleteFromCluster(dueForDeletion(state, now).map((t) => t.id), (i) => a.deletesOk[i % 8]!);
        break;
      }
      case 'tick':
        now += a.ms;
        break;
    }

    // Invariants, after every step.
    const s = state as MachineState | null;
    const owed = new Set((s?.pendingDeletes ?? []).map((t) => t.id));
    const minting = new Set(minted.map((m) => m.token));
    for (const id of cluster) {
      // A token minted but not yet committed is the use case's to commit or delete.
      if (minting.has(id)) continue;
      expect(id === s?.liveToken?.id || owed.has(id), `token ${id} in the cluster is neither live nor owed a delete`).toBe(true);
    }
    expect([...cluster].filter((id) => !owed.has(id) && !minting.has(id)).length).toBeLessThanOrEqual(1);
    for (const [key, n] of committed) expect(n, `${key} committed ${n} times`).toBe(1);
    if (revoked) {
      expect(s?.revokedAt ?? null).not.toBeNull();
      expect(s?.liveToken ?? null).toBeNull();
    }
  }
}

describe('machine state machine (property)', () => {
  it('keeps one live token, single use, nothing owed forgotten, revoked stays revoked', () => {
    fc.assert(
      fc.property(fc.array(action, { minLength: 10, maxLength: 80, size: 'max' }), (actions) => run([{ t: 'register', newCode: true, newEk: true }, ...actions])),
      fcParams(300),
    );
  });
});
