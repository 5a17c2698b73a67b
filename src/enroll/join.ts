// The join use case: what happens when the watch (or the reconciliation) sees the Node named
// after a machine — consume the token at once, label the Node with what was attested, record,
// audit, emit — plus join expiry and the node-password reset of a re-enrollment. Each step is
// idempotent (the machine's store decides atomically, join-state.ts), so retries and concurrent
// ticks are harmless. Runtime-agnostic: every port is injected.
import type { BootstrapTokenStore, NodeClient, NodeObject, NodeTaint } from '../cluster/index.ts';
import { summarizeNode } from '../cluster/index.ts';
import { AppError } from '../errors.ts';
import type { AuditLog, MachineIndex, MachineStore } from '../store/ports.ts';
import { deleteTokens } from './enroll.ts';
import { UNATTESTED_TAINT, type ObservedNode } from './join-state.ts';

export interface JoinDeps {
  readonly machines: MachineStore;
  readonly index: MachineIndex;
  readonly audit: AuditLog;
  readonly cluster: { readonly tokens: Pick<BootstrapTokenStore, 'remove'>; readonly nodes: NodeClient };
  readonly now: () => Date;
  /** QUARANTINE_UNATTESTED: a Node found in a name conflict is tainted at once. */
  readonly quarantine?: boolean;
}

const MACHINE_ID = /^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$/;

export interface NodeHandled {
  /** The machine still waits for its (re)join: keep watching its name. */
  readonly awaiting: boolean;
  readonly joined: boolean;
  readonly labelled: boolean;
  /** Something owed failed (label patch, quarantine taint): look again later. */
  readonly retry: boolean;
  /** This observation tainted the Node (a name conflict, quarantine on). */
  readonly quarantined?: boolean;
}

const NOTHING: NodeHandled = { awaiting: false, joined: false, labelled: false, retry: false };

function audit(deps: Pick<JoinDeps, 'audit' | 'now'>, event: string, outcome: 'success' | 'failure', f: { machineId: string; reason?: string | null; tokenId?: string | null; method?: string | null; code?: string | null; actor?: string | null }) {
  return deps.audit
    .append({ at: deps.now().getTime(), event, outcome, machineId: f.machineId, method: f.method ?? null, code: f.code ?? null, reason: f.reason ?? null, tokenId: f.tokenId ?? null, requestId: null, actor: f.actor ?? 'join-watch', clientIp: null })
    .catch(() => undefined);
}

/** One observation of a Node, for the machine of the same name (if any). */
export async function handleNode(node: NodeObject, deps: JoinDeps): Promise<NodeHandled> {
  const id = node.metadata.name;
  if (!MACHINE_ID.test(id)) return NOTHING;
  const seen = summarizeNode(node);
  let observed: ObservedNode = { name: seen.name, uid: seen.uid, createdAt: seen.createdAt, readyHeartbeatAt: seen.readyHeartbeatAt, labels: seen.labels };
  const apply = (o: ObservedNode) => deps.machines.join(id, { type: 'node', node: o }, deps.now().getTime());
  let out;
  try {
    out = await apply(observed);
    if (out.verdict?.kind === 'check-password') {
      const pw = await deps.cluster.nodes.getNodePassword(id);
      observed = { ...observed, passwordCreatedAt: pw?.createdAt ?? null };
      out = await apply(observed);
    }
  } catch (err) {
    if (err instanceof AppError && err.code === 'machine_unknown') return NOTHING;
    throw err;
  }
  // Consume-on-join first: the token must stop working before anything else is done.
  if (out.consume.length > 0) {
    const done = await deleteTokens(deps.cluster.tokens, out.consume);
    if (done.length > 0) await deps.machines.confirmDeleted(id, done).catch(() => undefined);
  }
  if (out.joined) {
    const how = out.verdict?.kind === 'join' ? out.verdict.how : 'fresh';
    await audit(deps, 'machine.joined', 'success', { machineId: id, tokenId: out.tokenId, reason: `node ${seen.name} uid ${seen.uid} (${how === 'rejoin' ? 'rejoined after a password reset' : 'created after the mint'}); token consumed` });
  }
  let labelled = false;
  let retry = false;
  let quarantined = false;
  if (out.verdict?.kind === 'conflict') {
    if (out.conflict) await audit(deps, 'machine.join_conflict', 'failure', { machineId: id, tokenId: out.machine?.liveToken?.id ?? null, code: 'join_conflict', reason: `${out.verdict.reason}; token not consumed, no labels. Its kubelet certificates stay valid: delete the Node if it is not this machine's (docs/threat-model.md)` });
    if (deps.quarantine && !isUnattestedTainted(node)) {
      try {
        await setUnattestedTaint(deps, node, true, 'join-watch');
        quarantined = true;
      } catch (err) {
        retry = true;
        if (!(err instanceof AppError)) throw err;
      }
    }
  }
  if (out.labels) {
    try {
      if (out.labels.patch) await deps.cluster.nodes.patch(id, out.labels.uid, { metadata: { labels: out.labels.patch } });
      await deps.machines.join(id, { type: 'labelled', uid: out.labels.uid, labels: out.labels.desired }, deps.now().getTime());
      labelled = out.labels.patch !== null;
      if (labelled) await audit(deps, 'node.labelled', 'success', { machineId: id, reason: `attested labels on node uid ${out.labels.uid}: ${Object.keys(out.labels.desired).join(',')}` });
    } catch (err) {
      retry = true;
      await audit(deps, 'node.labelled', 'failure', { machineId: id, code: err instanceof AppError ? err.code : 'internal', reason: err instanceof AppError ? err.reason : String(err) });
    }
  }
  const view = await deps.machines.get(id).catch(() => null);
  if (view) await deps.index.upsert(view).catch(() => undefined);
  return { awaiting: out.awaiting, joined: out.joined, labelled, retry, ...(quarantined ? { quarantined } : {}) };
}

export const isUnattestedTainted = (n: NodeObject) => (n.spec?.taints ?? []).some((t) => t.key === UNATTESTED_TAINT.key && t.effect === UNATTESTED_TAINT.effect);

/** Adds or removes the unattested taint (audited); the Node's resourceVersion guards the taint list. */
export async function setUnattestedTaint(deps: Pick<JoinDeps, 'cluster' | 'audit' | 'now'>, node: NodeObject, on: boolean, actor: string): Promise<void> {
  const others: NodeTaint[] = (node.spec?.taints ?? []).filter((t) => !(t.key === UNATTESTED_TAINT.key && t.effect === UNATTESTED_TAINT.effect));
  const taints = on ? [...others, { key: UNATTESTED_TAINT.key, value: 'true', effect: UNATTESTED_TAINT.effect }] : others;
  await deps.cluster.nodes.patch(node.metadata.name, node.metadata.uid, { spec: { taints } }, node.metadata.resourceVersion);
  const s = summarizeNode(node);
  await deps.audit
    .append({ at: deps.now().getTime(), event: on ? 'node.quarantined' : 'node.released', outcome: 'success', machineId: null, method: null, code: null, reason: `node ${s.name} uid ${s.uid}: ${on ? 'no enrolled machine accounts for it' : 'now accounted for'}`, tokenId: null, requestId: null, actor, clientIp: null })
    .catch(() => undefined);
}

/** The machine's token expired with no join: `join_expired`, audited once. */
export async function expireJoin(id: string, deps: Pick<JoinDeps, 'machines' | 'index' | 'audit' | 'now'>): Promise<boolean> {
  const out = await deps.machines.join(id, { type: 'expire' }, deps.now().getTime());
  if (!out.expired) return false;
  await auditJoinExpired(deps, id, out.tokenId);
  if (out.machine) await deps.index.upsert(out.machine).catch(() => undefined);
  return true;
}

export function auditJoinExpired(deps: Pick<JoinDeps, 'audit' | 'now'>, id: string, tokenId: string | null): Promise<void> {
  return audit(deps, 'machine.join_expired', 'failure', { machineId: id, tokenId, code: 'join_expired', reason: 'the token expired before a Node of this name joined' });
}

/**
 * A successful enrollment removes the machine's node-password Secret, so a re-imaged machine
 * (new password) rejoins under its own name: the attestation, not k3s's first-come password,
 * decides who owns the name. Only a cluster write when there is something to reset: one GET
 * (a read, not paced) looks first — k3s keeps that Secret only beside a Node of the name (owner
 * reference) or for 10 minutes after a failed registration — and the DELETE, a Secret write,
 * takes a slot from the write governor. `lookup`: the GET already sent (alongside the mint).
 * A failure is audited; the machine's agent then meets k3s's "Node password rejected" until an
 * operator or a re-enrollment resets it.
 */
export async function resetNodePassword(
  id: string,
  deps: Pick<JoinDeps, 'cluster' | 'audit' | 'now'>,
  requestId: string | null = null,
  lookup: Promise<{ uid: string; createdAt: number | null } | null> = deps.cluster.nodes.getNodePassword(id),
): Promise<boolean> {
  try {
    if ((await lookup) === null) return false;
    const removed = await deps.cluster.nodes.deleteNodePassword(id);
    if (removed) await deps.audit.append({ at: deps.now().getTime(), event: 'node.password_reset', outcome: 'success', machineId: id, method: null, code: null, reason: 'node-password Secret deleted after a successful enrollment', tokenId: null, requestId, actor: null, clientIp: null }).catch(() => undefined);
    return removed;
  } catch (err) {
    await deps.audit.append({ at: deps.now().getTime(), event: 'node.password_reset', outcome: 'failure', machineId: id, method: null, code: err instanceof AppError ? err.code : 'internal', reason: err instanceof AppError ? err.reason : String(err), tokenId: null, requestId, actor: null, clientIp: null }).catch(() => undefined);
    return false;
  }
}
