// The join use case and one watch session over memory stores and a fake cluster: consume-on-join,
// labels, audit, idempotence under concurrent ticks, and the failure paths (cluster unreachable
// during a tick, a refused label patch, 410 Gone, a Node that predates the mint).
import { describe, expect, it } from 'vitest';
import { KubeApiError, WatchExpiredError, type NodeClient, type NodeObject, type NodeWatchEvent } from '../cluster/index.ts';
import { UpstreamError } from '../errors.ts';
import { createMemoryAuditLog, createMemoryMachineIndex, createMemoryMachineStore } from '../store/memory.ts';
import { handleNode, resetNodePassword, type JoinDeps } from './join.ts';
import { reconcileNodes, listNodes } from './join-reconcile.ts';
import { ATTESTED_LABEL_PREFIX, METHOD_NODE_LABEL, UNATTESTED_TAINT } from './join-state.ts';
import { runWatchSession } from './join-watch.ts';
import { PUBLISHED_EVENTS, toOutboundEvent } from './events.ts';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

function fakeCluster() {
  const nodes = new Map<string, NodeObject>();
  const passwords = new Map<string, number>();
  const deletedTokens: string[] = [];
  const calls: string[] = [];
  let rv = 100;
  let down = false;
  let refusePatch = false;
  const scripts: Array<() => AsyncGenerator<NodeWatchEvent>> = [];
  const guard = (what: string) => {
    calls.push(what);
    if (down) throw new UpstreamError('the cluster API did not answer', { retryable: true, reason: `${what}: network error` });
  };
  const client: NodeClient = {
    async get(name) {
      guard(`get ${name}`);
      return nodes.get(name) ?? null;
    },
    async listPage() {
      guard('list');
      return { items: [...nodes.values()], resourceVersion: String(rv), continue: null };
    },
    async listAll(o = {}) {
      guard('list');
      const items = [...nodes.values()];
      await o.onPage?.(items);
      return { items, resourceVersion: String(rv), pages: 1 };
    },
    watch(o) {
      guard(`watch ${o.resourceVersion}`);
      const s = scripts.shift();
      return s ? s() : (async function* () {})();
    },
    async patch(name, uid, body) {
      guard(`patch ${name}`);
      if (refusePatch) throw new KubeApiError(403, { kind: 'Status', reason: 'Forbidden', message: 'nodes "x" is forbidden' }, undefined, 'patch nodes');
      const n = nodes.get(name)!;
      expect(n.metadata.uid).toBe(uid);
      const labels: Record<string, string> = { ...(n.metadata.labels ?? {}) };
      for (const [k, v] of Object.entries(body.metadata?.labels ?? {})) if (v === null) delete labels[k];
      else labels[k] = v;
      const next = { ...n, metadata: { ...n.metadata, labels, resourceVersion: String(++rv) }, spec: body.spec ? { ...n.spec, taints: body.spec.taints } : n.spec };
      nodes.set(name, next);
      return next;
    },
    async getNodePassword(name) {
      guard(`get password ${name}`);
      const t = passwords.get(name);
      return t === undefined ? null : { uid: 'pw', createdAt: t };
    },
    async deleteNodePassword(name) {
      guard(`delete password ${name}`);
      return passwords.delete(name);
    },
  };
  return {
    nodes,
    passwords,
    deletedTokens,
    calls,
    scripts,
    client,
    setDown: (v: boolean) => (down = v),
    setRefusePatch: (v: boolean) => (refusePatch = v),
    addNode(name: string, createdAt: number, over: Partial<NodeObject['metadata']> = {}, heartbeat: number | null = createdAt): NodeObject {
      const n: NodeObject = {
        metadata: { name, uid: `uid-${name}-${createdAt}`, creationTimestamp: iso(createdAt), resourceVersion: String(++rv), labels: { 'kubernetes.io/hostname': name }, ...over },
        ...(heartbeat !== null ? { status: { conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: iso(heartbeat) }] } } : {}),
      };
      nodes.set(name, n);
      return n;
    },
    tokens: {
      async remove(id: string) {
        guard(`delete token ${id}`);
        deletedTokens.push(id);
        return true;
      },
    },
  };
}

async function setup(labels: Record<string, string> = { site: 'berlin' }) {
  const cluster = fakeCluster();
  const machines = createMemoryMachineStore();
  const audit = createMemoryAuditLog();
  const index = createMemoryMachineIndex();
  let now = T0;
  const deps: JoinDeps = { machines, index, audit, cluster: { tokens: cluster.tokens, nodes: cluster.client }, now: () => new Date(now) };
  const enroll = async (id: string, tokenId: string, at: number, method = 'code') => {
    await machines.register({ id, enrollmentCodeSha256: 'a'.repeat(64), enrollmentCodeExpiresAt: null, jwtSubject: `i|sub-${id}`, ekPublicKeySha256: null, certificateSha256: null, groups: null, labels, tokenTtlSeconds: null }, at);
    const proof = method === 'code' && !(await machines.get(id))?.enrollmentCodeUsed ? { method: 'code' as const, codeSha256: 'a'.repeat(64) } : { method: 'jwt' as const, jtiSha256: tokenId.padEnd(64, '0'), exp: at + 1e9, issuer: 'i', subject: `sub-${id}` };
    await machines.reserve(id, proof, `r-${tokenId}`, at);
    await machines.commit(id, `r-${tokenId}`, { id: tokenId, uid: `uid-${tokenId}`, expiresAt: at + 60_000, mintedAt: at, method }, null, at);
  };
  return { cluster, machines, audit, index, deps, enroll, setNow: (t: number) => (now = t) };
}

const joinedEvents = (a: ReturnType<typeof createMemoryAuditLog>) => a.events.filter((e) => e.event === 'machine.joined');

describe('handleNode', () => {
  it('a Node created after the mint: token deleted, labels patched, joined recorded, audited once', async () => {
    const { cluster, machines, audit, deps, enroll, setNow } = await setup();
    await enroll('edge-1', 'tok111', T0);
    const n = cluster.addNode('edge-1', T0 + 2_000);
    setNow(T0 + 2_500);
    const r = await handleNode(n, deps);
    expect(r).toEqual({ awaiting: false, joined: true, labelled: true, retry: false });
    expect(cluster.deletedTokens).toEqual(['tok111']);
    expect(cluster.nodes.get('edge-1')!.metadata.labels).toEqual({ 'kubernetes.io/hostname': 'edge-1', [`${ATTESTED_LABEL_PREFIX}site`]: 'berlin', [METHOD_NODE_LABEL]: 'code' });
    const v = (await machines.get('edge-1'))!;
    expect(v).toMatchObject({ state: 'joined', node: { name: 'edge-1', uid: n.metadata.uid, joinedAt: T0 + 2_500 }, liveToken: null });
    expect(machines.states.get('edge-1')!.pendingDeletes).toEqual([]);
    expect(joinedEvents(audit)).toHaveLength(1);
    expect(joinedEvents(audit)[0]).toMatchObject({ outcome: 'success', machineId: 'edge-1', tokenId: 'tok111' });
  });

  it('concurrent ticks (watch + reconciliation) record one join and one token delete', async () => {
    const { cluster, audit, deps, enroll } = await setup();
    await enroll('edge-1', 'tok111', T0);
    const n = cluster.addNode('edge-1', T0 + 2_000);
    await Promise.all([handleNode(n, deps), handleNode(n, deps), handleNode(n, deps)]);
    expect(cluster.deletedTokens).toEqual(['tok111']);
    expect(joinedEvents(audit)).toHaveLength(1);
  });

  it('a refused label patch is audited and retried; the join itself is not undone', async () => {
    const { cluster, machines, audit, deps, enroll } = await setup();
    await enroll('edge-1', 'tok111', T0);
    const n = cluster.addNode('edge-1', T0 + 2_000);
    cluster.setRefusePatch(true);
    expect(await handleNode(n, deps)).toMatchObject({ joined: true, retry: true, labelled: false });
    expect(cluster.deletedTokens).toEqual(['tok111']);
    expect(audit.events.find((e) => e.event === 'node.labelled')).toMatchObject({ outcome: 'failure', code: 'upstream_error', reason: expect.stringContaining('403') });
    expect((await machines.get('edge-1'))!.state).toBe('joined');
    cluster.setRefusePatch(false);
    expect(await handleNode(cluster.nodes.get('edge-1')!, deps)).toMatchObject({ joined: false, labelled: true, retry: false });
    expect(cluster.nodes.get('edge-1')!.metadata.labels?.[METHOD_NODE_LABEL]).toBe('code');
    expect(joinedEvents(audit)).toHaveLength(1);
  });

  it('a token delete that fails stays owed (the alarm retries it); the join is recorded', async () => {
    const { cluster, machines, deps, enroll } = await setup();
    await enroll('edge-1', 'tok111', T0);
    const n = cluster.addNode('edge-1', T0 + 2_000);
    const remove = cluster.tokens.remove;
    cluster.tokens.remove = async () => {
      throw new UpstreamError('down', { retryable: true });
    };
    await handleNode(n, deps);
    expect(machines.states.get('edge-1')!.pendingDeletes).toEqual([{ id: 'tok111', uid: 'uid-tok111' }]);
    expect((await machines.get('edge-1'))!.state).toBe('joined');
    cluster.tokens.remove = remove;
  });

  it('a Node of the name that predates the mint and was not re-registered: no consume, no labels; the machine stays enrolled', async () => {
    const { cluster, machines, deps, enroll } = await setup();
    const squatter = cluster.addNode('edge-1', T0 - 3_600_000);
    cluster.passwords.set('edge-1', T0 - 3_600_000);
    await enroll('edge-1', 'tok111', T0);
    expect(await handleNode(squatter, deps)).toMatchObject({ joined: false, awaiting: true });
    expect(cluster.deletedTokens).toEqual([]);
    expect(cluster.nodes.get('edge-1')!.metadata.labels?.[METHOD_NODE_LABEL]).toBeUndefined();
    expect((await machines.get('edge-1'))!.state).toBe('enrolled');
  });

  it('name conflict: a squatted Node re-registered with a new password and Ready after the mint is not adopted; audited once, tainted with quarantine on, listed unattested', async () => {
    const { cluster, machines, audit, deps, enroll, index, setNow } = await setup();
    // Someone with another join credential registered edge-1 an hour before the machine enrolled.
    cluster.addNode('edge-1', T0 - 3_600_000);
    await enroll('edge-1', 'tok111', T0);
    await index.upsert((await machines.get('edge-1'))!);
    // The enrollment reset the password; a kubelet under that name (the squatter's or the
    // machine's own, adopting the old Node) registered a new one and reported Ready.
    cluster.passwords.set('edge-1', T0 + 2_000);
    const squatted = { ...cluster.nodes.get('edge-1')!, status: { conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: iso(T0 + 3_000) }] } };
    cluster.nodes.set('edge-1', squatted);
    setNow(T0 + 4_000);
    const q: JoinDeps = { ...deps, quarantine: true };
    expect(await handleNode(squatted, q)).toEqual({ awaiting: true, joined: false, labelled: false, retry: false, quarantined: true });
    expect(cluster.deletedTokens).toEqual([]);
    expect(cluster.calls.filter((c) => c.startsWith('get password'))).toEqual([]);
    expect(cluster.nodes.get('edge-1')!.metadata.labels?.[METHOD_NODE_LABEL]).toBeUndefined();
    expect(cluster.nodes.get('edge-1')!.spec?.taints).toEqual([{ key: UNATTESTED_TAINT.key, value: 'true', effect: 'NoSchedule' }]);
    expect((await machines.get('edge-1'))!).toMatchObject({ state: 'enrolled', node: null, liveToken: { id: 'tok111' } });
    const conflicts = () => audit.events.filter((e) => e.event === 'machine.join_conflict');
    expect(conflicts()).toEqual([expect.objectContaining({ outcome: 'failure', machineId: 'edge-1', code: 'join_conflict', tokenId: 'tok111', reason: expect.stringContaining(squatted.metadata.uid) })]);
    expect(audit.events.find((e) => e.event === 'node.quarantined')).toMatchObject({ actor: 'join-watch' });
    // Later heartbeats (now tainted): no second audit, no second taint.
    expect(await handleNode(cluster.nodes.get('edge-1')!, q)).toEqual({ awaiting: true, joined: false, labelled: false, retry: false });
    expect(conflicts()).toHaveLength(1);
    // The reconciliation does not adopt it either, and the listing shows it unattested.
    expect(await reconcileNodes(deps, { quarantine: true })).toMatchObject({ joined: 0, accounted: 0, unaccounted: 1, quarantined: 0, errors: 0, unaccountedNodes: ['edge-1'] });
    expect(await listNodes(deps)).toEqual([{ name: 'edge-1', uid: squatted.metadata.uid, machineId: null, attested: false, quarantined: true, createdAt: iso(T0 - 3_600_000) }]);
    expect(conflicts()).toHaveLength(1);
  });

  it('name conflict found by the reconciliation: audited, tainted once (no second patch on the stale Node)', async () => {
    const { cluster, machines, audit, deps, enroll, index } = await setup();
    cluster.addNode('edge-1', T0 - 3_600_000);
    await enroll('edge-1', 'tok111', T0);
    await index.upsert((await machines.get('edge-1'))!);
    expect(await reconcileNodes(deps, { quarantine: true })).toMatchObject({ joined: 0, quarantined: 1, errors: 0, unaccountedNodes: ['edge-1'] });
    expect(audit.events.filter((e) => e.event === 'machine.join_conflict')).toHaveLength(1);
    expect(cluster.calls.filter((c) => c === 'patch edge-1')).toHaveLength(1);
    expect(cluster.deletedTokens).toEqual([]);
  });

  it('re-image: the enrollment resets the node password (audited); the rejoin under the old Node is consumed and relabelled', async () => {
    const { cluster, machines, audit, deps, enroll, setNow } = await setup();
    await enroll('edge-1', 'tok111', T0);
    let n = cluster.addNode('edge-1', T0 + 2_000);
    cluster.passwords.set('edge-1', T0 + 1_000);
    await handleNode(n, deps);
    // Re-imaged: a new enrollment (jwt this time), the password Secret goes.
    const T2 = T0 + 3_600_000;
    setNow(T2);
    await enroll('edge-1', 'tok222', T2, 'jwt');
    expect(await resetNodePassword('edge-1', deps)).toBe(true);
    expect(audit.events.find((e) => e.event === 'node.password_reset')).toMatchObject({ outcome: 'success', machineId: 'edge-1' });
    expect((await machines.get('edge-1'))!.state).toBe('enrolled');
    // The old kubelet's heartbeat alone is no rejoin.
    expect(await handleNode(cluster.nodes.get('edge-1')!, deps)).toMatchObject({ joined: false, awaiting: true });
    // The re-imaged agent: new password Secret, then the kubelet reports Ready.
    cluster.passwords.set('edge-1', T2 + 5_000);
    n = cluster.nodes.get('edge-1')!;
    n = { ...n, status: { conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: iso(T2 + 6_000) }] } };
    cluster.nodes.set('edge-1', n);
    setNow(T2 + 7_000);
    expect(await handleNode(n, deps)).toMatchObject({ joined: true, labelled: true });
    expect(cluster.deletedTokens).toEqual(['tok111', 'tok222']);
    expect(cluster.nodes.get('edge-1')!.metadata.labels?.[METHOD_NODE_LABEL]).toBe('jwt');
    expect((await machines.get('edge-1'))!).toMatchObject({ state: 'joined', node: { uid: n.metadata.uid, joinedAt: T2 + 7_000 } });
  });

  it('the password reset is only a cluster write when there is a password to reset: absent → one GET, no DELETE, no audit', async () => {
    const { cluster, audit, deps } = await setup();
    const before = cluster.calls.length;
    expect(await resetNodePassword('edge-1', deps)).toBe(false);
    expect(cluster.calls.slice(before)).toEqual(['get password edge-1']);
    expect(audit.events.filter((e) => e.event === 'node.password_reset')).toEqual([]);
    // A lookup already sent (alongside the mint) is used instead of a second GET.
    cluster.passwords.set('edge-1', T0);
    const mark = cluster.calls.length;
    expect(await resetNodePassword('edge-1', deps, 'req-1', Promise.resolve({ uid: 'pw', createdAt: T0 }))).toBe(true);
    expect(cluster.calls.slice(mark)).toEqual(['delete password edge-1']);
    expect(audit.events.find((e) => e.event === 'node.password_reset')).toMatchObject({ outcome: 'success', requestId: 'req-1' });
  });

  it('a failed password reset is audited as a failure and does not throw', async () => {
    const { cluster, audit, deps } = await setup();
    cluster.setDown(true);
    expect(await resetNodePassword('edge-1', deps)).toBe(false);
    expect(audit.events.find((e) => e.event === 'node.password_reset')).toMatchObject({ outcome: 'failure', code: 'upstream_unavailable' });
  });

  it('Nodes not named after a machine are ignored', async () => {
    const { cluster, deps } = await setup();
    expect(await handleNode(cluster.addNode('unknown-node', T0), deps)).toMatchObject({ joined: false, awaiting: false });
    expect(await handleNode(cluster.addNode('Not_A_Name', T0), deps)).toMatchObject({ joined: false, awaiting: false });
  });
});

describe('watch session', () => {
  const session = (deps: JoinDeps, awaited: Set<string>, rv: string | null, saved: Array<string | null>) =>
    runWatchSession(deps, {
      resourceVersion: rv,
      isAwaited: (n) => awaited.has(n),
      onHandled: (n, r) => {
        if (!r.awaiting && !r.retry) awaited.delete(n);
      },
      checkpoint: (v) => void saved.push(v),
    });

  it('lists first without a resourceVersion, then resumes the watch from it; joins arrive as events', async () => {
    const { cluster, machines, deps, enroll } = await setup();
    await enroll('edge-1', 'tok111', T0);
    await enroll('edge-2', 'tok222', T0);
    const early = cluster.addNode('edge-1', T0 + 1_000);
    const awaited = new Set(['edge-1', 'edge-2']);
    const later: NodeObject = { metadata: { name: 'edge-2', uid: 'uid-e2', creationTimestamp: iso(T0 + 3_000), resourceVersion: '200', labels: {} } };
    cluster.scripts.push(async function* () {
      yield { type: 'BOOKMARK', resourceVersion: '150' };
      cluster.nodes.set('edge-2', later); // the agent registers its Node while the watch runs
      yield { type: 'ADDED', node: later };
    });
    const saved: Array<string | null> = [];
    const r = await session(deps, awaited, null, saved);
    expect(r).toMatchObject({ relisted: true, resourceVersion: '200', handled: 2 });
    // One list, then one watch from the list's resourceVersion (the label patch moved it past edge-1's).
    const order = cluster.calls.filter((c) => c === 'list' || c.startsWith('watch'));
    expect(order).toHaveLength(2);
    expect(order[0]).toBe('list');
    expect(Number(order[1]!.slice(6))).toBeGreaterThan(Number(early.metadata.resourceVersion));
    expect(saved.at(-1)).toBe('200');
    expect((await machines.get('edge-1'))!.state).toBe('joined');
    expect((await machines.get('edge-2'))!.state).toBe('joined');
    expect(awaited.size).toBe(0);
  });

  it('cluster unreachable during a tick: the session fails, the resourceVersion is kept, the next tick loses nothing', async () => {
    const { cluster, machines, deps, enroll } = await setup();
    await enroll('edge-1', 'tok111', T0);
    const awaited = new Set(['edge-1']);
    const n = cluster.addNode('edge-1', T0 + 1_000);
    cluster.nodes.delete('edge-1');
    cluster.scripts.push(async function* () {
      yield { type: 'BOOKMARK', resourceVersion: '300' };
      throw new UpstreamError('the node watch connection broke', { retryable: true });
    });
    const saved: Array<string | null> = [];
    await expect(session(deps, awaited, '250', saved)).rejects.toBeInstanceOf(UpstreamError);
    expect(saved.at(-1)).toBe('300');
    cluster.setDown(true);
    await expect(session(deps, awaited, '300', saved)).rejects.toBeInstanceOf(UpstreamError);
    cluster.setDown(false);
    // The Node appeared while the cluster was unreachable: the resumed watch replays it.
    cluster.nodes.set('edge-1', n);
    cluster.scripts.push(async function* () {
      yield { type: 'ADDED', node: n };
    });
    await session(deps, awaited, '300', saved);
    expect((await machines.get('edge-1'))!.state).toBe('joined');
    expect(cluster.deletedTokens).toEqual(['tok111']);
  });

  it('410 Gone ends the session with no resourceVersion; the next one relists and finds the Node', async () => {
    const { cluster, machines, deps, enroll } = await setup();
    await enroll('edge-1', 'tok111', T0);
    const awaited = new Set(['edge-1']);
    cluster.scripts.push(async function* () {
      throw new WatchExpiredError('too old resource version');
    });
    const saved: Array<string | null> = [];
    expect(await session(deps, awaited, '5', saved)).toMatchObject({ resourceVersion: null });
    expect(saved.at(-1)).toBeNull();
    cluster.addNode('edge-1', T0 + 1_000);
    expect(await session(deps, awaited, null, saved)).toMatchObject({ relisted: true });
    expect((await machines.get('edge-1'))!.state).toBe('joined');
  });

  it('a Node whose handling fails is not checkpointed past: the next session sees it again', async () => {
    const { cluster, machines, deps, enroll } = await setup();
    await enroll('edge-1', 'tok111', T0);
    await enroll('edge-2', 'tok222', T0);
    const n1 = { ...cluster.addNode('edge-1', T0 + 1_000), metadata: { ...cluster.nodes.get('edge-1')!.metadata, resourceVersion: '401' } };
    const n2 = { ...cluster.addNode('edge-2', T0 + 1_000), metadata: { ...cluster.nodes.get('edge-2')!.metadata, resourceVersion: '402' } };
    let failOnce = true;
    const flaky: JoinDeps = {
      ...deps,
      machines: {
        ...machines,
        join: async (id, ev, now) => {
          if (id === 'edge-1' && failOnce) {
            failOnce = false;
            throw new UpstreamError('store unavailable', { retryable: true });
          }
          return machines.join(id, ev, now);
        },
      },
    };
    cluster.scripts.push(async function* () {
      yield { type: 'ADDED', node: n1 };
      yield { type: 'ADDED', node: n2 };
    });
    const awaited = new Set(['edge-1', 'edge-2']);
    const saved: Array<string | null> = [];
    await expect(session(flaky, awaited, '400', saved)).rejects.toBeInstanceOf(UpstreamError);
    expect(saved.at(-1)).toBe('400');
    expect((await machines.get('edge-2'))!.state).toBe('joined');
    cluster.scripts.push(async function* () {
      yield { type: 'ADDED', node: n1 };
      yield { type: 'ADDED', node: n2 };
    });
    await session(flaky, awaited, saved.at(-1)!, saved);
    expect((await machines.get('edge-1'))!.state).toBe('joined');
    expect(saved.at(-1)).toBe('402');
  });

  it('events for names nobody awaits cost nothing', async () => {
    const { cluster, deps } = await setup();
    const other = cluster.addNode('other', T0);
    cluster.scripts.push(async function* () {
      for (let i = 0; i < 50; i++) yield { type: 'MODIFIED', node: other };
    });
    const before = cluster.calls.length;
    expect(await session(deps, new Set(['edge-1']), '1', [])).toMatchObject({ events: 50, handled: 0 });
    expect(cluster.calls.length - before).toBe(1); // the watch request itself
  });
});

describe('reconciliation', () => {
  it('catches a join the watch missed, lists machineId null for unattested Nodes, quarantines and releases', async () => {
    const { cluster, machines, deps, enroll, index } = await setup();
    await enroll('edge-1', 'tok111', T0);
    await index.upsert((await machines.get('edge-1'))!);
    cluster.addNode('edge-1', T0 + 1_000);
    cluster.addNode('stranger', T0 - 10_000);
    const off = await reconcileNodes(deps, { quarantine: false });
    expect(off).toMatchObject({ nodes: 2, accounted: 1, unaccounted: 1, joined: 1, labelled: 1, quarantined: 0, unaccountedNodes: ['stranger'] });
    expect(cluster.deletedTokens).toEqual(['tok111']);
    const on = await reconcileNodes(deps, { quarantine: true });
    expect(on).toMatchObject({ joined: 0, labelled: 0, quarantined: 1 });
    expect(cluster.nodes.get('stranger')!.spec?.taints).toEqual([{ key: UNATTESTED_TAINT.key, value: 'true', effect: 'NoSchedule' }]);
    expect(await listNodes(deps)).toEqual([
      { name: 'edge-1', uid: cluster.nodes.get('edge-1')!.metadata.uid, machineId: 'edge-1', attested: true, quarantined: false, createdAt: iso(T0 + 1_000) },
      { name: 'stranger', uid: cluster.nodes.get('stranger')!.metadata.uid, machineId: null, attested: false, quarantined: true, createdAt: iso(T0 - 10_000) },
    ]);
    expect((await reconcileNodes(deps, { quarantine: true })).quarantined).toBe(0); // idempotent
  });

  it('a tainted Node loses the taint once a machine accounts for it', async () => {
    const { cluster, machines, deps, enroll, index } = await setup();
    cluster.addNode('edge-1', T0 + 1_000, {}, T0 + 1_000);
    cluster.nodes.set('edge-1', { ...cluster.nodes.get('edge-1')!, spec: { taints: [{ key: UNATTESTED_TAINT.key, value: 'true', effect: 'NoSchedule' }, { key: 'other', effect: 'NoExecute' }] } });
    await enroll('edge-1', 'tok111', T0);
    await index.upsert((await machines.get('edge-1'))!);
    expect(await reconcileNodes(deps, { quarantine: true })).toMatchObject({ joined: 1, released: 1, quarantined: 0 });
    expect(cluster.nodes.get('edge-1')!.spec?.taints).toEqual([{ key: 'other', effect: 'NoExecute' }]);
  });

  it('a revoked machine accounts for no Node: quarantined with quarantine on', async () => {
    const { cluster, machines, deps, enroll, index } = await setup();
    await enroll('edge-1', 'tok111', T0);
    await handleNode(cluster.addNode('edge-1', T0 + 1_000), deps);
    await machines.revoke('edge-1', T0 + 2_000);
    await index.upsert((await machines.get('edge-1'))!);
    expect(await reconcileNodes(deps, { quarantine: true })).toMatchObject({ accounted: 0, quarantined: 1, unaccountedNodes: ['edge-1'] });
    expect((await listNodes(deps))[0]).toMatchObject({ machineId: null, quarantined: true });
  });

  it('fixes joined-but-unlabelled Nodes', async () => {
    const { cluster, machines, deps, enroll, index } = await setup();
    await enroll('edge-1', 'tok111', T0);
    cluster.setRefusePatch(true);
    await handleNode(cluster.addNode('edge-1', T0 + 1_000), deps);
    cluster.setRefusePatch(false);
    await index.upsert((await machines.get('edge-1'))!);
    expect(await reconcileNodes(deps, { quarantine: false })).toMatchObject({ joined: 0, labelled: 1, accounted: 1 });
  });
});

describe('events', () => {
  it('machine.joined, machine.join_expired and machine.join_conflict are published under their own names', async () => {
    const { cluster, audit, deps, enroll, machines } = await setup();
    await enroll('edge-1', 'tok111', T0);
    await handleNode(cluster.addNode('edge-1', T0 + 1_000), deps);
    await enroll('edge-2', 'tok222', T0);
    const { expireJoin } = await import('./join.ts');
    await expireJoin('edge-2', { ...deps, now: () => new Date(T0 + 60_000) });
    expect((await machines.get('edge-2'))!.state).toBe('join_expired');
    cluster.addNode('edge-3', T0 - 3_600_000);
    await enroll('edge-3', 'tok333', T0);
    await handleNode(cluster.nodes.get('edge-3')!, deps);
    const types = audit.events.filter((e) => PUBLISHED_EVENTS.has(e.event)).map((e) => toOutboundEvent(e, 'id').type);
    expect(types).toEqual(['machine.joined', 'machine.join_expired', 'machine.join_conflict']);
  });
});
