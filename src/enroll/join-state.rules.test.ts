// The join rules one at a time on the pure functions, to the millisecond: the label domain, the
// derived phase, when a Node is the join (and each boundary of the clock tolerance), what a
// decision says, which labels are owed, and join expiry. join-state.test.ts drives the same rules
// through the memory store.
import { describe, expect, it } from 'vitest';
import { AppError } from '../errors.ts';
import {
  applyJoinEvent,
  applyJoinExpiry,
  applyLabelled,
  applyNodeObserved,
  attestedLabels,
  ATTESTED_LABEL_DOMAIN,
  awaitedToken,
  judgeJoin,
  JOIN_CLOCK_SKEW_MS,
  machinePhase,
  METHOD_NODE_LABEL,
  owedLabels,
  type ObservedNode,
} from './join-state.ts';
import { applyRegistration, applyRevocation, commitEnrollment, reserveEnrollment, type JoinRecord, type MachineRegistration, type MachineState } from './machine-state.ts';

const MINT = 1_000_000;
const CODE = 'a'.repeat(64);
const reg: MachineRegistration = { id: 'edge-1', enrollmentCodeSha256: CODE, enrollmentCodeExpiresAt: null, jwtSubject: null, ekPublicKeySha256: null, certificateSha256: null, groups: null, labels: { site: 'berlin' }, tokenTtlSeconds: null };
const registered = (): MachineState => applyRegistration(null, reg, 0).state;
/** Registered, then enrolled with the code: live token `tok1`, minted at MINT, expiring at `expiresAt`. */
function enrolled(expiresAt: number | null = MINT + 60_000): MachineState {
  const r = reserveEnrollment(registered(), { method: 'code', codeSha256: CODE }, 'r1', MINT);
  return commitEnrollment(r.state, 'r1', { id: 'tok1', uid: 'uid-tok1', expiresAt, mintedAt: MINT, method: 'code' }, null, MINT).state;
}
const node = (over: Partial<ObservedNode> = {}): ObservedNode => ({ name: 'edge-1', uid: 'uid-n1', createdAt: MINT + 3_000, readyHeartbeatAt: MINT + 4_000, labels: {}, ...over });
const joined = (): MachineState => applyNodeObserved(enrolled(), node(), MINT + 5_000).state;
const withJoin = (s: MachineState, over: Partial<JoinRecord>): MachineState => ({ ...s, join: { node: null, tokenId: null, outcome: null, method: null, labelledUid: null, labelsApplied: null, updatedAt: 0, ...s.join, ...over } });

describe('the label domain', () => {
  it('is the node-restriction domain NodeRestriction keeps kubelets out of', () => {
    expect(ATTESTED_LABEL_DOMAIN).toBe('k3s-enroll.node-restriction.kubernetes.io');
    expect(METHOD_NODE_LABEL).toBe('k3s-enroll.node-restriction.kubernetes.io/method');
  });

  it('label keys of up to 63 characters go under it; longer ones are left out', () => {
    const k63 = 'k'.repeat(63);
    const out = attestedLabels({ [k63]: 'a', [`${k63}x`]: 'b' }, 'tpm');
    expect(out).toEqual({ [`${ATTESTED_LABEL_DOMAIN}/${k63}`]: 'a', [METHOD_NODE_LABEL]: 'tpm' });
  });
});

describe('phase and the awaited token', () => {
  it('a name conflict recorded for the live token leaves the machine enrolled, its token still awaited', () => {
    const conflicted = applyNodeObserved(enrolled(), node({ uid: 'squatter', createdAt: MINT - 60_000 }), MINT + 1_000).state;
    expect(conflicted.join).toMatchObject({ tokenId: null, outcome: null, conflict: { uid: 'squatter', tokenId: 'tok1' } });
    expect(machinePhase(conflicted)).toBe('enrolled');
    expect(awaitedToken(conflicted)).toEqual({ id: 'tok1', mintedAt: MINT, expiresAt: MINT + 60_000 });
    // A join record about the live token with an outcome of null is not an outcome either.
    expect(machinePhase(withJoin(enrolled(), { tokenId: 'tok1', outcome: null }))).toBe('enrolled');
  });

  it('nothing is awaited for no machine, a machine without a token, a revoked machine, or a token with an outcome', () => {
    expect(awaitedToken(null)).toBeNull();
    expect(awaitedToken(registered())).toBeNull();
    expect(awaitedToken(applyRevocation(enrolled(), MINT + 1).state)).toBeNull();
    expect(awaitedToken(withJoin(enrolled(), { tokenId: 'tok1', outcome: 'joined' }))).toBeNull();
    expect(awaitedToken(withJoin(enrolled(), { tokenId: 'older', outcome: 'joined' }))).not.toBeNull();
    expect(awaitedToken(withJoin(enrolled(), { tokenId: 'tok1', outcome: null }))).not.toBeNull();
  });
});

describe('judgeJoin, to the millisecond', () => {
  it('a Node created up to JOIN_CLOCK_SKEW_MS before the mint is a fresh join; a millisecond earlier it is not', () => {
    expect(judgeJoin(node({ createdAt: MINT - JOIN_CLOCK_SKEW_MS }), MINT)).toEqual({ kind: 'join', how: 'fresh' });
    expect(judgeJoin(node({ createdAt: MINT - JOIN_CLOCK_SKEW_MS - 1 }), MINT).kind).toBe('conflict');
  });

  it('an older Node that is not the recorded one is a conflict, saying which; the recorded one has its password checked', () => {
    const old = node({ createdAt: MINT - 60_000, uid: 'uid-x' });
    expect(judgeJoin(old, MINT)).toEqual({ kind: 'conflict', reason: 'node edge-1 uid uid-x was created before the token was minted and is not the Node this machine joined as (none recorded)' });
    expect(judgeJoin(old, MINT, 'uid-y')).toEqual({ kind: 'conflict', reason: 'node edge-1 uid uid-x was created before the token was minted and is not the Node this machine joined as (uid uid-y)' });
    expect(judgeJoin(old, MINT, 'uid-x')).toEqual({ kind: 'check-password' });
  });

  it('a rejoin needs a node password made at most JOIN_CLOCK_SKEW_MS before the mint, then a Ready report at most that long before the password', () => {
    const own = (passwordCreatedAt: number | null, readyHeartbeatAt: number | null) => judgeJoin(node({ createdAt: MINT - 60_000, passwordCreatedAt, readyHeartbeatAt }), MINT, 'uid-n1');
    const stale = { kind: 'wait', reason: 'the Node predates the enrollment and its node password was not renewed since' };
    const notReady = { kind: 'wait', reason: 'node password renewed; waiting for the kubelet to report Ready' };
    expect(own(null, MINT + 9_000)).toEqual(stale);
    expect(own(MINT - JOIN_CLOCK_SKEW_MS - 1, MINT + 9_000)).toEqual(stale);
    const pw = MINT - JOIN_CLOCK_SKEW_MS;
    expect(own(pw, pw - JOIN_CLOCK_SKEW_MS)).toEqual({ kind: 'join', how: 'rejoin' });
    expect(own(pw, pw - JOIN_CLOCK_SKEW_MS - 1)).toEqual(notReady);
    expect(own(pw, null)).toEqual(notReady);
  });
});

describe('applyNodeObserved', () => {
  it('an unknown machine is machine_unknown', () => {
    let err: unknown = null;
    try {
      applyNodeObserved(null, node(), 0);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: 'machine_unknown', message: 'no such machine' });
  });

  it('a revoked machine, or one with nothing awaited, decides nothing and awaits nothing', () => {
    for (const s of [applyRevocation(enrolled(), MINT + 1).state, registered()]) {
      const d = applyNodeObserved(s, node(), MINT + 5_000);
      expect(d).toMatchObject({ state: s, joined: false, conflict: false, consume: [], labels: null, verdict: null, awaiting: false });
    }
  });

  it('a conflict is recorded once per Node and token; the next observation of it records nothing', () => {
    const squatter = node({ uid: 'squatter', createdAt: MINT - 60_000 });
    const first = applyNodeObserved(enrolled(), squatter, MINT + 1_000);
    expect(first).toMatchObject({ conflict: true, joined: false, awaiting: true, verdict: { kind: 'conflict' } });
    const again = applyNodeObserved(first.state, squatter, MINT + 2_000);
    expect(again).toMatchObject({ conflict: false, joined: false, awaiting: true });
    expect(again.state).toBe(first.state);
    // The same squatter against the machine's next token is recorded again (once).
    const r = reserveEnrollment({ ...first.state, codeUsedAt: null }, { method: 'code', codeSha256: CODE }, 'r2', MINT + 10_000);
    const next = commitEnrollment(r.state, 'r2', { id: 'tok2', uid: 'uid-tok2', expiresAt: null, mintedAt: MINT + 10_000, method: 'code' }, null, MINT + 10_000).state;
    const third = applyNodeObserved(next, squatter, MINT + 11_000);
    expect(third.conflict).toBe(true);
    expect(third.state.join!.conflict).toEqual({ uid: 'squatter', tokenId: 'tok2', at: MINT + 11_000 });
  });

  it('the join consumes the live token once (owed once even if already owed), keeps the labels applied before, and awaits nothing more', () => {
    const prior = withJoin({ ...enrolled(), pendingDeletes: [{ id: 'tok1', uid: 'uid-tok1' }, { id: 'old', uid: 'uid-old' }] }, { labelsApplied: { a: 'b' } });
    const d = applyNodeObserved(prior, node(), MINT + 5_000);
    expect(d).toMatchObject({ joined: true, conflict: false, awaiting: false, consume: [{ id: 'tok1', uid: 'uid-tok1' }], verdict: { kind: 'join', how: 'fresh' } });
    expect(d.state.pendingDeletes).toEqual([{ id: 'old', uid: 'uid-old' }, { id: 'tok1', uid: 'uid-tok1' }]);
    expect(d.state.join).toMatchObject({ node: { name: 'edge-1', uid: 'uid-n1', joinedAt: MINT + 5_000 }, tokenId: 'tok1', outcome: 'joined', method: 'code', labelledUid: null, labelsApplied: { a: 'b' } });
    expect(d.state.liveToken).toBeNull();
    expect(d.state.idempotency).toBeNull();
  });
});

describe('owedLabels', () => {
  const attested = attestedLabels(reg.labels, 'code');

  it('owed to the joined Node until a patch succeeded for its uid, even when the Node already carries them', () => {
    const s = joined();
    expect(owedLabels(s, node())).toEqual({ uid: 'uid-n1', patch: attested, desired: attested });
    expect(owedLabels(s, node({ labels: attested }))).toEqual({ uid: 'uid-n1', patch: null, desired: attested });
    const labelled = applyLabelled(s, 'uid-n1', attested, MINT + 6_000)!;
    expect(owedLabels(labelled, node({ labels: attested }))).toBeNull();
    expect(owedLabels(labelled, node({ labels: {} }))).toEqual({ uid: 'uid-n1', patch: attested, desired: attested }); // edited away
  });

  it('owed to nobody: a revoked machine, another uid, an outcome other than joined, or while a newer token awaits its join', () => {
    const s = joined();
    expect(owedLabels(applyRevocation(s, MINT + 6_000).state, node())).toBeNull();
    expect(owedLabels(s, node({ uid: 'uid-other' }))).toBeNull();
    expect(owedLabels(withJoin(s, { outcome: 'expired' }), node())).toBeNull();
    const reenrolled = { ...s, liveToken: { id: 'tok2', uid: 'uid-tok2', expiresAt: null, mintedAt: MINT + 9_000, method: 'code' } };
    expect(owedLabels(reenrolled, node())).toBeNull();
  });

  it('a join recorded without a method is labelled method=unknown', () => {
    expect(owedLabels(withJoin(joined(), { method: null }), node())!.desired[METHOD_NODE_LABEL]).toBe('unknown');
  });
});

describe('applyLabelled', () => {
  it('records the labels on the joined Node\'s uid only', () => {
    const s = joined();
    const labels = { x: 'y' };
    const done = applyLabelled(s, 'uid-n1', labels, MINT + 7_000)!;
    expect(done.join).toMatchObject({ labelledUid: 'uid-n1', labelsApplied: { x: 'y' }, updatedAt: MINT + 7_000 });
    expect(done.join!.labelsApplied).not.toBe(labels);
    expect(applyLabelled(s, 'uid-other', labels, MINT + 7_000)).toBe(s);
    expect(applyLabelled(null, 'uid-n1', labels, 0)).toBeNull();
    const noJoin = enrolled();
    expect(applyLabelled(noJoin, 'uid-n1', labels, 0)).toBe(noJoin);
    const noNode = withJoin(enrolled(), { node: null, outcome: 'expired', tokenId: 'tok1' });
    expect(applyLabelled(noNode, 'uid-n1', labels, 0)).toBe(noNode);
  });
});

describe('applyJoinExpiry', () => {
  it('expires exactly at the token\'s expiry, once; a token without expiry never does; what the join knew is kept', () => {
    const s = withJoin(enrolled(MINT + 60_000), { node: { name: 'edge-1', uid: 'uid-old', joinedAt: 5 }, method: 'jwt', labelledUid: 'uid-old', labelsApplied: { a: 'b' } });
    expect(applyJoinExpiry(s, MINT + 59_999)).toEqual({ state: s, expired: false, tokenId: null });
    const r = applyJoinExpiry(s, MINT + 60_000);
    expect(r.expired).toBe(true);
    expect(r.tokenId).toBe('tok1');
    expect(r.state!.join).toEqual({ node: { name: 'edge-1', uid: 'uid-old', joinedAt: 5 }, tokenId: 'tok1', outcome: 'expired', method: 'jwt', labelledUid: 'uid-old', labelsApplied: { a: 'b' }, updatedAt: MINT + 60_000 });
    expect(applyJoinExpiry(r.state, MINT + 70_000).expired).toBe(false);
    expect(applyJoinExpiry(enrolled(null), Number.MAX_SAFE_INTEGER).expired).toBe(false);
    expect(applyJoinExpiry(null, 0)).toEqual({ state: null, expired: false, tokenId: null });
  });
});

describe('applyJoinEvent', () => {
  it('each event answers its own outcome, and whether the machine is still awaited', () => {
    const n = applyJoinEvent(enrolled(), { type: 'node', node: node() }, MINT + 5_000).outcome;
    expect(n).toEqual({ joined: true, conflict: false, expired: false, consume: [{ id: 'tok1', uid: 'uid-tok1' }], labels: expect.objectContaining({ uid: 'uid-n1' }), verdict: { kind: 'join', how: 'fresh' }, awaiting: false, tokenId: 'tok1' });
    expect(applyJoinEvent(enrolled(), { type: 'node', node: node({ uid: 'sq', createdAt: 0 }) }, MINT + 5_000).outcome.tokenId).toBeNull();
    const idle = { joined: false, conflict: false, expired: false, consume: [], labels: null, verdict: null, tokenId: null };
    expect(applyJoinEvent(enrolled(), { type: 'labelled', uid: 'uid-n1', labels: {} }, MINT).outcome).toEqual({ ...idle, awaiting: true });
    expect(applyJoinEvent(joined(), { type: 'labelled', uid: 'uid-n1', labels: {} }, MINT).outcome).toEqual({ ...idle, awaiting: false });
    expect(applyJoinEvent(enrolled(), { type: 'expire' }, MINT + 1).outcome).toEqual({ ...idle, awaiting: true });
    expect(applyJoinEvent(enrolled(), { type: 'expire' }, MINT + 60_000).outcome).toEqual({ ...idle, expired: true, tokenId: 'tok1', awaiting: false });
  });
});
