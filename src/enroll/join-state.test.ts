// The pure join rules: derived machine state, when a Node counts as the join, consume-on-join,
// attested labels, expiry; each idempotent under repeated observations.
import { describe, expect, it } from 'vitest';
import { createMemoryMachineStore } from '../store/memory.ts';
import {
  applyJoinEvent,
  attestedLabels,
  ATTESTED_LABEL_PREFIX,
  judgeJoin,
  JOIN_CLOCK_SKEW_MS,
  labelPatch,
  machinePhase,
  METHOD_NODE_LABEL,
  type ObservedNode,
} from './join-state.ts';
import type { MachineRegistration } from './machine-state.ts';

const MINT = 1_000_000;
const reg = (labels: Record<string, string> = { site: 'berlin', 'example.com/rack': 'r7' }): MachineRegistration => ({
  id: 'edge-1',
  enrollmentCodeSha256: 'a'.repeat(64),
  enrollmentCodeExpiresAt: null,
  jwtSubject: 'i|s',
  ekPublicKeySha256: null,
  certificateSha256: null,
  groups: null,
  labels,
  tokenTtlSeconds: null,
});
const node = (over: Partial<ObservedNode> = {}): ObservedNode => ({ name: 'edge-1', uid: 'uid-n1', createdAt: MINT + 3_000, readyHeartbeatAt: MINT + 4_000, labels: {}, ...over });

async function enrolled(tokenId = 'tok111', mintedAt = MINT, expiresAt = MINT + 60_000) {
  const s = createMemoryMachineStore();
  await s.register(reg(), 0);
  await s.reserve('edge-1', { method: 'code', codeSha256: 'a'.repeat(64) }, 'r1', mintedAt);
  await s.commit('edge-1', 'r1', { id: tokenId, uid: `uid-${tokenId}`, expiresAt, mintedAt, method: 'code' }, null, mintedAt);
  return s;
}
const stateOf = (s: Awaited<ReturnType<typeof enrolled>>) => s.states.get('edge-1')!;

describe('machine state (derived)', () => {
  it('registered → enrolled → joined, and join_expired / revoked', async () => {
    const s = createMemoryMachineStore();
    await s.register(reg(), 0);
    expect((await s.get('edge-1'))!.state).toBe('registered');
    const e = await enrolled();
    expect((await e.get('edge-1'))!.state).toBe('enrolled');
    await e.join('edge-1', { type: 'node', node: node() }, MINT + 5_000);
    const joined = (await e.get('edge-1'))!;
    expect(joined.state).toBe('joined');
    expect(joined.node).toEqual({ name: 'edge-1', uid: 'uid-n1', joinedAt: MINT + 5_000 });
    expect(joined.liveToken).toBeNull();

    const x = await enrolled();
    await x.join('edge-1', { type: 'expire' }, MINT + 60_000);
    expect((await x.get('edge-1'))!.state).toBe('join_expired');
    await x.revoke('edge-1', MINT + 70_000);
    expect((await x.get('edge-1'))!.state).toBe('revoked');
  });

  it('a re-enrollment of a joined machine reads enrolled until it rejoins', async () => {
    const e = await enrolled();
    await e.join('edge-1', { type: 'node', node: node() }, MINT + 5_000);
    await e.reserve('edge-1', { method: 'jwt', jtiSha256: 'b'.repeat(64), exp: MINT * 10, issuer: 'i', subject: 's' }, 'r2', MINT + 100_000);
    await e.commit('edge-1', 'r2', { id: 'tok222', uid: 'uid-tok222', expiresAt: MINT + 160_000, mintedAt: MINT + 100_000, method: 'jwt' }, null, MINT + 100_000);
    expect(machinePhase(stateOf(e))).toBe('enrolled');
    expect((await e.get('edge-1'))!.node?.uid).toBe('uid-n1');
  });
});

describe('judgeJoin', () => {
  it('a Node created after the mint (within the clock tolerance) is the join', () => {
    expect(judgeJoin(node({ createdAt: MINT + 1 }), MINT)).toEqual({ kind: 'join', how: 'fresh' });
    expect(judgeJoin(node({ createdAt: MINT - JOIN_CLOCK_SKEW_MS }), MINT)).toEqual({ kind: 'join', how: 'fresh' });
  });
  it("the machine's own Node that predates the mint needs its node password renewed after the mint, then a Ready report after that", () => {
    const old = node({ createdAt: MINT - 3_600_000, readyHeartbeatAt: MINT - 60_000 });
    expect(judgeJoin(old, MINT, 'uid-n1')).toEqual({ kind: 'check-password' });
    expect(judgeJoin({ ...old, passwordCreatedAt: null }, MINT, 'uid-n1').kind).toBe('wait');
    expect(judgeJoin({ ...old, passwordCreatedAt: MINT - 3_600_000 }, MINT, 'uid-n1').kind).toBe('wait');
    expect(judgeJoin({ ...old, passwordCreatedAt: MINT + 2_000 }, MINT, 'uid-n1')).toMatchObject({ kind: 'wait', reason: expect.stringContaining('Ready') });
    expect(judgeJoin({ ...old, passwordCreatedAt: MINT + 2_000, readyHeartbeatAt: MINT + 3_000 }, MINT, 'uid-n1')).toEqual({ kind: 'join', how: 'rejoin' });
  });
  it('a Node that predates the mint and is not the Node the machine was recorded on is a name conflict, whatever its password and Ready report say', () => {
    const renewed = node({ uid: 'uid-squat', createdAt: MINT - 3_600_000, passwordCreatedAt: MINT + 2_000, readyHeartbeatAt: MINT + 3_000 });
    expect(judgeJoin(renewed, MINT, 'uid-n1')).toMatchObject({ kind: 'conflict', reason: expect.stringContaining('uid-squat') });
    expect(judgeJoin(renewed, MINT, null)).toMatchObject({ kind: 'conflict', reason: expect.stringContaining('none recorded') });
    // No password lookup is needed to tell.
    expect(judgeJoin({ ...renewed, passwordCreatedAt: undefined }, MINT, null).kind).toBe('conflict');
    // A Node created after the mint is still the fresh join (the residual race, docs/threat-model.md).
    expect(judgeJoin({ ...renewed, createdAt: MINT + 1 }, MINT, 'uid-n1')).toEqual({ kind: 'join', how: 'fresh' });
  });
});

describe('attested labels', () => {
  it('unprefixed keys go under the node-restriction domain; prefixed keys are left out; the method is added', () => {
    expect(attestedLabels({ site: 'berlin', 'example.com/rack': 'r7' }, 'tpm')).toEqual({ [`${ATTESTED_LABEL_PREFIX}site`]: 'berlin', [METHOD_NODE_LABEL]: 'tpm' });
  });
  it('the patch sets what differs and removes stale keys of our domain only', () => {
    const cur = { [`${ATTESTED_LABEL_PREFIX}old`]: 'x', [`${ATTESTED_LABEL_PREFIX}site`]: 'berlin', 'kubernetes.io/hostname': 'edge-1' };
    expect(labelPatch(cur, { [`${ATTESTED_LABEL_PREFIX}site`]: 'berlin', [METHOD_NODE_LABEL]: 'code' })).toEqual({ [`${ATTESTED_LABEL_PREFIX}old`]: null, [METHOD_NODE_LABEL]: 'code' });
    expect(labelPatch({ [METHOD_NODE_LABEL]: 'code' }, { [METHOD_NODE_LABEL]: 'code' })).toBeNull();
  });
});

describe('consume on join', () => {
  it('the join moves the live token to the owed deletes, once; a second observation changes nothing', async () => {
    const e = await enrolled();
    const first = await e.join('edge-1', { type: 'node', node: node() }, MINT + 5_000);
    expect(first.joined).toBe(true);
    expect(first.consume).toEqual([{ id: 'tok111', uid: 'uid-tok111' }]);
    expect(stateOf(e).pendingDeletes).toEqual([{ id: 'tok111', uid: 'uid-tok111' }]);
    expect(first.labels).toEqual({ uid: 'uid-n1', patch: { [`${ATTESTED_LABEL_PREFIX}site`]: 'berlin', [METHOD_NODE_LABEL]: 'code' }, desired: { [`${ATTESTED_LABEL_PREFIX}site`]: 'berlin', [METHOD_NODE_LABEL]: 'code' } });
    const again = await e.join('edge-1', { type: 'node', node: node() }, MINT + 6_000);
    expect(again).toMatchObject({ joined: false, consume: [] });
    // Labels stay owed until a patch is recorded for this uid; then nothing is owed.
    expect(again.labels?.uid).toBe('uid-n1');
    await e.join('edge-1', { type: 'labelled', uid: 'uid-n1', labels: first.labels!.desired }, MINT + 7_000);
    expect((await e.join('edge-1', { type: 'node', node: node({ labels: first.labels!.desired }) }, MINT + 8_000)).labels).toBeNull();
  });

  it('labels edited away on the Node are owed again', async () => {
    const e = await enrolled();
    const first = await e.join('edge-1', { type: 'node', node: node() }, MINT + 5_000);
    await e.join('edge-1', { type: 'labelled', uid: 'uid-n1', labels: first.labels!.desired }, MINT + 6_000);
    expect((await e.join('edge-1', { type: 'node', node: node({ labels: {} }) }, MINT + 9_000)).labels?.patch).toEqual(first.labels!.desired);
  });

  it('a Node that predates the mint is not consumed without a renewed password (the documented name rule)', async () => {
    const e = await enrolled();
    const first = await e.join('edge-1', { type: 'node', node: node() }, MINT + 5_000);
    const T2 = MINT + 1_000_000;
    await e.reserve('edge-1', { method: 'jwt', jtiSha256: 'c'.repeat(64), exp: T2 * 10, issuer: 'i', subject: 's' }, 'r2', T2);
    await e.commit('edge-1', 'r2', { id: 'tok222', uid: 'uid-tok222', expiresAt: T2 + 60_000, mintedAt: T2, method: 'jwt' }, null, T2);
    const out = await e.join('edge-1', { type: 'node', node: node({ labels: first.labels!.desired, passwordCreatedAt: MINT }) }, T2 + 5_000);
    expect(out).toMatchObject({ joined: false, conflict: false, consume: [], labels: null, awaiting: true, verdict: { kind: 'wait' } });
    expect(machinePhase(stateOf(e))).toBe('enrolled');
    // ... and the machine ends join_expired if that stays so.
    expect((await e.join('edge-1', { type: 'expire' }, T2 + 60_000)).expired).toBe(true);
    expect(machinePhase(stateOf(e))).toBe('join_expired');
  });

  it('name conflict: a squatted Node (another uid, before the mint) is never adopted, even with a renewed password and a Ready report; recorded once; the real join still counts', async () => {
    const e = await enrolled();
    const squat = node({ uid: 'uid-squat', createdAt: MINT - 86_400_000, passwordCreatedAt: MINT + 2_000, readyHeartbeatAt: MINT + 3_000 });
    const out = await e.join('edge-1', { type: 'node', node: squat }, MINT + 5_000);
    expect(out).toMatchObject({ joined: false, conflict: true, consume: [], labels: null, awaiting: true, verdict: { kind: 'conflict' } });
    expect(stateOf(e).liveToken?.id).toBe('tok111');
    expect(stateOf(e).join).toMatchObject({ node: null, outcome: null, conflict: { uid: 'uid-squat', tokenId: 'tok111', at: MINT + 5_000 } });
    expect(machinePhase(stateOf(e))).toBe('enrolled');
    // Every later heartbeat of that Node: nothing new to record.
    expect(await e.join('edge-1', { type: 'node', node: { ...squat, readyHeartbeatAt: MINT + 9_000 } }, MINT + 9_000)).toMatchObject({ joined: false, conflict: false, verdict: { kind: 'conflict' } });
    // The operator deletes the squatted Node; the machine's kubelet registers a new one.
    const real = await e.join('edge-1', { type: 'node', node: node({ uid: 'uid-real', createdAt: MINT + 20_000 }) }, MINT + 21_000);
    expect(real).toMatchObject({ joined: true, consume: [{ id: 'tok111', uid: 'uid-tok111' }] });
    expect(stateOf(e).join).toMatchObject({ node: { uid: 'uid-real' }, outcome: 'joined' });
    expect(stateOf(e).join?.conflict).toBeUndefined();
  });

  it("name conflict on a rejoin: the machine's recorded Node was replaced by another uid before the re-enrollment", async () => {
    const e = await enrolled();
    await e.join('edge-1', { type: 'node', node: node() }, MINT + 5_000);
    const T2 = MINT + 1_000_000;
    await e.reserve('edge-1', { method: 'jwt', jtiSha256: 'c'.repeat(64), exp: T2 * 10, issuer: 'i', subject: 's' }, 'r2', T2);
    await e.commit('edge-1', 'r2', { id: 'tok222', uid: 'uid-tok222', expiresAt: T2 + 60_000, mintedAt: T2, method: 'jwt' }, null, T2);
    const squat = node({ uid: 'uid-squat', createdAt: T2 - 500_000, passwordCreatedAt: T2 + 2_000, readyHeartbeatAt: T2 + 3_000 });
    expect(await e.join('edge-1', { type: 'node', node: squat }, T2 + 4_000)).toMatchObject({ joined: false, conflict: true, consume: [], labels: null });
    // The last join is kept as it was (its Node, its labels), and the new token still awaits.
    expect(stateOf(e).join).toMatchObject({ node: { uid: 'uid-n1' }, tokenId: 'tok111', outcome: 'joined', conflict: { uid: 'uid-squat', tokenId: 'tok222' } });
    expect(machinePhase(stateOf(e))).toBe('enrolled');
  });

  it('a revoked machine never joins', async () => {
    const e = await enrolled();
    await e.revoke('edge-1', MINT + 1_000);
    expect(await e.join('edge-1', { type: 'node', node: node() }, MINT + 5_000)).toMatchObject({ joined: false, consume: [], awaiting: false });
  });

  it('the rejoin of a re-imaged machine: same Node uid, new password, labels applied again', async () => {
    const e = await enrolled();
    const first = await e.join('edge-1', { type: 'node', node: node() }, MINT + 5_000);
    await e.join('edge-1', { type: 'labelled', uid: 'uid-n1', labels: first.labels!.desired }, MINT + 6_000);
    const T2 = MINT + 1_000_000;
    await e.reserve('edge-1', { method: 'jwt', jtiSha256: 'c'.repeat(64), exp: T2 * 10, issuer: 'i', subject: 's' }, 'r2', T2);
    await e.commit('edge-1', 'r2', { id: 'tok222', uid: 'uid-tok222', expiresAt: T2 + 60_000, mintedAt: T2, method: 'jwt' }, null, T2);
    const existing = node({ labels: first.labels!.desired, readyHeartbeatAt: T2 - 10_000 });
    expect((await e.join('edge-1', { type: 'node', node: { ...existing, passwordCreatedAt: null } }, T2 + 1_000)).joined).toBe(false);
    const back = await e.join('edge-1', { type: 'node', node: { ...existing, passwordCreatedAt: T2 + 2_000, readyHeartbeatAt: T2 + 3_000 } }, T2 + 4_000);
    expect(back).toMatchObject({ joined: true, consume: [{ id: 'tok222', uid: 'uid-tok222' }] });
    // The method changed (jwt): the labels are re-applied.
    expect(back.labels?.patch).toEqual({ [METHOD_NODE_LABEL]: 'jwt' });
    expect(machinePhase(stateOf(e))).toBe('joined');
  });
});

describe('join expiry', () => {
  it('an unknown machine has nothing to expire', () => {
    expect(applyJoinEvent(null, { type: 'expire' }, 0)).toEqual({ state: null, outcome: expect.objectContaining({ expired: false }) });
  });
  it('before expiry nothing; at expiry join_expired once', async () => {
    const e = await enrolled();
    expect((await e.join('edge-1', { type: 'expire' }, MINT + 59_999)).expired).toBe(false);
    expect((await e.join('edge-1', { type: 'expire' }, MINT + 60_000)).expired).toBe(true);
    expect((await e.join('edge-1', { type: 'expire' }, MINT + 61_000)).expired).toBe(false);
    const j = await enrolled();
    await j.join('edge-1', { type: 'node', node: node() }, MINT + 5_000);
    expect((await j.join('edge-1', { type: 'expire' }, MINT + 60_000)).expired).toBe(false);
  });
});
