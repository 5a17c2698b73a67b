// The join half of a machine's life, as pure functions over its state document: the derived
// `state` (registered → enrolled → joined | join_expired, revoked), when an observed Node counts
// as this machine's join, consume-on-join, the attested labels, and join expiry. No I/O here:
// the join handler (join.ts) performs what these functions decide, inside one atomic apply each.
import { AppError } from '../errors.ts';
import type { JoinRecord, MachineState, TokenRef } from './machine-state.ts';

/** NodeRestriction forbids a kubelet to set or change labels under this domain (k3s-join.md §7). */
export const ATTESTED_LABEL_DOMAIN = 'k3s-enroll.node-restriction.kubernetes.io';
export const ATTESTED_LABEL_PREFIX = `${ATTESTED_LABEL_DOMAIN}/`;
export const METHOD_NODE_LABEL = `${ATTESTED_LABEL_PREFIX}method`;
export const UNATTESTED_TAINT = { key: 'k3s-enroll.io/unattested', effect: 'NoSchedule' } as const;
/**
 * Our clock (mint time, ms) against the API server's (creationTimestamp, whole seconds): a Node
 * created up to this long before the mint still counts as created after it. The mint answer only
 * leaves after the Secret exists, so no agent can have used the token earlier than the mint.
 */
export const JOIN_CLOCK_SKEW_MS = 5_000;

export type MachinePhase = 'registered' | 'enrolled' | 'joined' | 'join_expired' | 'revoked';

/** The parts of a Node (and, for a rejoin, of its node-password Secret) the rules look at. */
export interface ObservedNode {
  readonly name: string;
  readonly uid: string;
  /** metadata.creationTimestamp, ms. */
  readonly createdAt: number;
  /** The Ready condition's lastHeartbeatTime, ms, or null. */
  readonly readyHeartbeatAt: number | null;
  readonly labels: Readonly<Record<string, string>>;
  /** creationTimestamp (ms) of `<name>.node-password.k3s`; undefined = not looked up, null = absent. */
  readonly passwordCreatedAt?: number | null;
}

/** The machine's `state` in the API (DESIGN.md §3). */
export function machinePhase(s: MachineState): MachinePhase {
  if (s.revokedAt !== null) return 'revoked';
  const j = s.join ?? null;
  if (s.liveToken !== null && !(j?.tokenId === s.liveToken.id && j.outcome !== null)) return 'enrolled';
  if (j?.outcome === 'joined') return 'joined';
  if (j?.outcome === 'expired') return 'join_expired';
  return 'registered';
}

/** The live token a join is awaited for, or null (nothing to watch for this machine). */
export function awaitedToken(s: MachineState | null): { id: string; mintedAt: number; expiresAt: number | null } | null {
  if (s === null || s.revokedAt !== null || s.liveToken === null) return null;
  const j = s.join ?? null;
  if (j?.tokenId === s.liveToken.id && j.outcome !== null) return null;
  return { id: s.liveToken.id, mintedAt: s.liveToken.mintedAt, expiresAt: s.liveToken.expiresAt };
}

export type JoinVerdict =
  | { readonly kind: 'join'; readonly how: 'fresh' | 'rejoin' }
  /** The machine's own Node predates the mint: only a node-password Secret made after the mint can tell. */
  | { readonly kind: 'check-password' }
  | { readonly kind: 'wait'; readonly reason: string }
  /**
   * A Node of the machine's name that predates the mint and is not the Node this machine joined
   * as: whoever registered it holds kubelet certificates for the name, so it is never adopted.
   */
  | { readonly kind: 'conflict'; readonly reason: string };

/**
 * Is `node` the join of the token minted at `mintedAt`? Nothing in the cluster links a token to
 * the node that used it (k3s-join.md §6), so:
 * - a Node of the machine's name created after the mint is its join (fresh);
 * - a Node that predates the mint is a rejoin only if it is the Node this machine was recorded on
 *   (`knownUid`, a re-imaged machine's), and only once the enrollment's password reset was
 *   followed by a new node-password Secret AND the kubelet reported Ready after it (it then holds
 *   its client certificate, so deleting the token cannot strand it). Until then the token is not
 *   consumed and the Node not labelled; if that never happens the machine reads `join_expired`;
 * - any other Node that predates the mint is a name conflict: someone registered the name before
 *   this token could be used, and the kubelet certificates k3s issued them stay valid whatever
 *   password the machine registers later, so the Node is never adopted (and never labelled).
 */
export function judgeJoin(node: ObservedNode, mintedAt: number, knownUid: string | null = null): JoinVerdict {
  if (node.createdAt >= mintedAt - JOIN_CLOCK_SKEW_MS) return { kind: 'join', how: 'fresh' };
  if (node.uid !== knownUid) return { kind: 'conflict', reason: `node ${node.name} uid ${node.uid} was created before the token was minted and is not the Node this machine joined as (${knownUid === null ? 'none recorded' : `uid ${knownUid}`})` };
  if (node.passwordCreatedAt === undefined) return { kind: 'check-password' };
  if (node.passwordCreatedAt === null || node.passwordCreatedAt < mintedAt - JOIN_CLOCK_SKEW_MS) return { kind: 'wait', reason: 'the Node predates the enrollment and its node password was not renewed since' };
  if (node.readyHeartbeatAt === null || node.readyHeartbeatAt < node.passwordCreatedAt - JOIN_CLOCK_SKEW_MS) return { kind: 'wait', reason: 'node password renewed; waiting for the kubelet to report Ready' };
  return { kind: 'join', how: 'rejoin' };
}

/**
 * The attested labels for a Node: each registered label with an unprefixed key goes under
 * ATTESTED_LABEL_PREFIX, plus `…/method`. Prefixed keys (`example.com/rack`) are left out: a
 * label outside the node-restriction domain is one the node could have set itself, so putting it
 * there would lend it a trust it does not have (they stay on the machine and its token Secret).
 */
export function attestedLabels(registered: Readonly<Record<string, string>>, method: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(registered)) if (!k.includes('/') && k.length <= 63) out[`${ATTESTED_LABEL_PREFIX}${k}`] = v;
  out[METHOD_NODE_LABEL] = method;
  return out;
}

/** A merge-patch label map from `current` to `desired` within our domain (null removes), or null if nothing differs. */
export function labelPatch(current: Readonly<Record<string, string>>, desired: Readonly<Record<string, string>>): Record<string, string | null> | null {
  const patch: Record<string, string | null> = {};
  for (const [k, v] of Object.entries(desired)) if (current[k] !== v) patch[k] = v;
  for (const k of Object.keys(current)) if (k.startsWith(ATTESTED_LABEL_PREFIX) && !(k in desired)) patch[k] = null;
  return Object.keys(patch).length > 0 ? patch : null;
}

export interface OwedLabels {
  readonly uid: string;
  readonly patch: Record<string, string | null> | null;
  readonly desired: Record<string, string>;
}

export interface JoinDecision {
  readonly state: MachineState;
  /** True when this apply recorded the join (audit + event once). */
  readonly joined: boolean;
  /** True when this apply recorded a name conflict for this Node and token (audit + event once). */
  readonly conflict: boolean;
  /** Tokens to delete now (the consumed one); they are also owed in `pendingDeletes`. */
  readonly consume: readonly TokenRef[];
  /** Labels owed to the Node: the merge patch (null: already there) and the full set to record. */
  readonly labels: OwedLabels | null;
  readonly verdict: JoinVerdict | null;
  /** Whether the watch should keep looking at this machine. */
  readonly awaiting: boolean;
}

/**
 * One observation of the Node named after the machine. Idempotent: the same Node seen again (a
 * retry, a concurrent tick, the reconciliation) records nothing new and owes only what is still
 * owed (labels not yet applied to this uid).
 */
export function applyNodeObserved(state: MachineState | null, node: ObservedNode, now: number): JoinDecision {
  if (state === null) throw new AppError('machine_unknown', 'no such machine');
  const none = (s: MachineState, verdict: JoinVerdict | null, conflict = false): JoinDecision => ({ state: s, joined: false, conflict, consume: [], labels: owedLabels(s, node), verdict, awaiting: awaitedToken(s) !== null });
  if (state.revokedAt !== null) return { state, joined: false, conflict: false, consume: [], labels: null, verdict: null, awaiting: false };
  const awaited = awaitedToken(state);
  if (awaited === null) return none(state, null);
  const prev = state.join ?? null;
  const verdict = judgeJoin(node, awaited.mintedAt, prev?.node?.uid ?? null);
  if (verdict.kind === 'conflict') {
    // Recorded once per Node and token, so the audit and the event are not repeated on every heartbeat.
    if (prev?.conflict?.uid === node.uid && prev.conflict.tokenId === awaited.id) return none(state, verdict);
    const join: JoinRecord = { ...(prev ?? { node: null, tokenId: null, outcome: null, method: null, labelledUid: null, labelsApplied: null }), conflict: { uid: node.uid, tokenId: awaited.id, at: now }, updatedAt: now };
    return none({ ...state, join, updatedAt: now }, verdict, true);
  }
  if (verdict.kind !== 'join') return none(state, verdict);
  const live = state.liveToken!;
  const consumed: TokenRef = { id: live.id, uid: live.uid };
  const join: JoinRecord = {
    node: { name: node.name, uid: node.uid, joinedAt: now },
    tokenId: live.id,
    outcome: 'joined',
    method: live.method,
    // A new Node (or a rejoin) gets the labels again.
    labelledUid: null,
    labelsApplied: prev?.labelsApplied ?? null,
    updatedAt: now,
  };
  const next: MachineState = {
    ...state,
    join,
    // Joined: a retry of the enrollment under its key would only mint a token for a machine that
    // already holds its Node (and reset that Node's password).
    idempotency: null,
    liveToken: null,
    pendingDeletes: [...state.pendingDeletes.filter((t) => t.id !== consumed.id), consumed],
    updatedAt: now,
  };
  return { state: next, joined: true, conflict: false, consume: [consumed], labels: owedLabels(next, node), verdict, awaiting: false };
}

/**
 * Labels owed to the machine's known Node: after a join until a patch succeeded for this uid, and
 * whenever the Node's labels in our domain differ from the attested set (a registration changed,
 * an operator edited them). Not while a newer token awaits its (re)join.
 */
export function owedLabels(s: MachineState, node: Pick<ObservedNode, 'uid' | 'labels'>): OwedLabels | null {
  const j = s.join ?? null;
  if (s.revokedAt !== null || j?.node?.uid !== node.uid || j.outcome !== 'joined' || awaitedToken(s) !== null) return null;
  const desired = attestedLabels(s.registration.labels, j.method ?? 'unknown');
  const patch = labelPatch(node.labels, desired);
  if (patch === null && j.labelledUid === node.uid) return null;
  return { uid: node.uid, patch, desired };
}

/** The labels are on the Node `uid` (the patch succeeded). */
export function applyLabelled(state: MachineState | null, uid: string, labels: Readonly<Record<string, string>>, now: number): MachineState | null {
  const j = state?.join ?? null;
  if (state === null || j === null || j.node?.uid !== uid) return state;
  return { ...state, join: { ...j, labelledUid: uid, labelsApplied: { ...labels }, updatedAt: now } };
}

/**
 * The live token expired with no join: the machine becomes `join_expired` (once; `expired` is
 * true on the apply that recorded it). The token itself is deleted by the expiry path.
 */
export function applyJoinExpiry(state: MachineState | null, now: number): { state: MachineState | null; expired: boolean; tokenId: string | null } {
  const awaited = awaitedToken(state);
  if (state === null || awaited === null || awaited.expiresAt === null || awaited.expiresAt > now) return { state, expired: false, tokenId: null };
  const prev = state.join ?? null;
  return {
    expired: true,
    tokenId: awaited.id,
    state: {
      ...state,
      join: { node: prev?.node ?? null, tokenId: awaited.id, outcome: 'expired', method: prev?.method ?? null, labelledUid: prev?.labelledUid ?? null, labelsApplied: prev?.labelsApplied ?? null, updatedAt: now },
      updatedAt: now,
    },
  };
}

export type JoinEvent =
  | { readonly type: 'node'; readonly node: ObservedNode }
  | { readonly type: 'labelled'; readonly uid: string; readonly labels: Readonly<Record<string, string>> }
  | { readonly type: 'expire' };

export interface JoinOutcome {
  readonly joined: boolean;
  /** A name conflict was recorded by this apply (join-state.ts judgeJoin). */
  readonly conflict: boolean;
  readonly expired: boolean;
  readonly consume: readonly TokenRef[];
  readonly labels: OwedLabels | null;
  readonly verdict: JoinVerdict | null;
  readonly awaiting: boolean;
  /** The token the outcome is about (consumed or expired). */
  readonly tokenId: string | null;
}

/** The one entry point the stores call (atomically per machine). */
export function applyJoinEvent(state: MachineState | null, event: JoinEvent, now: number): { state: MachineState | null; outcome: JoinOutcome } {
  switch (event.type) {
    case 'node': {
      const d = applyNodeObserved(state, event.node, now);
      return { state: d.state, outcome: { joined: d.joined, conflict: d.conflict, expired: false, consume: d.consume, labels: d.labels, verdict: d.verdict, awaiting: d.awaiting, tokenId: d.consume[0]?.id ?? null } };
    }
    case 'labelled': {
      const s = applyLabelled(state, event.uid, event.labels, now);
      return { state: s, outcome: { joined: false, conflict: false, expired: false, consume: [], labels: null, verdict: null, awaiting: awaitedToken(s) !== null, tokenId: null } };
    }
    case 'expire': {
      const r = applyJoinExpiry(state, now);
      return { state: r.state, outcome: { joined: false, conflict: false, expired: r.expired, consume: [], labels: null, verdict: null, awaiting: awaitedToken(r.state) !== null, tokenId: r.tokenId } };
    }
  }
}
