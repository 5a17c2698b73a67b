// The enrollment use case: verify evidence → reserve the single-use proof in the machine's store
// → mint the bootstrap token in the cluster → commit (the old token is owed a delete) → answer
// with the K10 join token. No token is returned unless the cluster holds it; every outcome is
// audited with its precise reason. Runtime-agnostic: every port is injected.
import type { EvidenceVerifier, VerifiedEvidence } from '../attest/evidence.ts';
import { AppError, UpstreamError } from '../errors.ts';
import { EnrollBody, parseWith } from '../schemas/index.ts';
import { formatExpiration, formatJoinTokenWithHash } from '../token/index.ts';
import type { AuditLog, MachineIndex, MachineStore } from '../store/ports.ts';
import { possiblyLandedTokenIds, UNGOVERNED, type BootstrapTokenStore, type WriteGate } from '../cluster/index.ts';
import type { TokenRef } from './machine-state.ts';
import type { AtomicEnrollInput } from './atomic-enroll.ts';
import type { BootstrapToken } from '../token/index.ts';
import type { BusyAudit } from './busy-audit.ts';

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'k3s-enroll';
export const MACHINE_LABEL = 'k3s-enroll.io/machine';
export const METHOD_LABEL = 'k3s-enroll.io/method';

export interface EnrollDeps {
  readonly machines: MachineStore;
  readonly index: MachineIndex;
  readonly audit: AuditLog;
  readonly tokens: Pick<BootstrapTokenStore, 'mint' | 'remove'>;
  /** The cluster write governor: a create slot is taken before the proof is reserved. */
  readonly gate?: WriteGate;
  readonly caHash: () => Promise<string>;
  readonly verifiers: Readonly<Record<string, EvidenceVerifier>>;
  readonly defaults: { readonly tokenTtlSeconds: number; readonly tokenGroups: readonly string[]; readonly serverUrl: string };
  readonly now: () => Date;
  readonly newId: () => string;
  /**
   * After the commit, before the token is answered (join watch, join.ts): reset the Node's
   * password and tell the watcher to look for this machine's Node. Never fails the enrollment.
   * Not called on the `atomic` path: the machine's store does that work itself, alongside its
   * create (src/store/durable-object.ts), so the worker makes one round trip.
   */
  readonly onEnrolled?: (machineId: string, token: { id: string; mintedAt: number; expiresAt: number | null }, requestId: string) => Promise<void>;
  /**
   * The machine's store does would-hold → slot → reserve → mint → commit in one call and audits
   * every outcome itself (Workers: the machine's Durable Object). Without it, the steps run here.
   */
  readonly atomic?: (input: AtomicEnrollInput) => Promise<{ token: BootstrapToken; uid: string; expiresAt: number | null; mintedAt: number }>;
  /**
   * Admission refusals (cluster_busy before the proof is looked at) counted into one `enroll.busy`
   * record per window (busy-audit.ts). Absent: each is audited like any failure.
   */
  readonly busyAudit?: BusyAudit;
  /** Work that may finish after the response (Workers waitUntil); awaited inline by default. */
  readonly defer?: (p: Promise<unknown>) => void;
}

export interface EnrollContext {
  readonly requestId: string;
  readonly clientIp: string | null;
  /** SHA-256 (hex) of the request's Idempotency-Key, if any (src/enroll/idempotency.ts). */
  readonly idempotencyKeySha256?: string | null;
}

export interface EnrollResult {
  readonly token: string;
  readonly server: string;
  readonly machineId: string;
  readonly tokenId: string;
  readonly expiresAt: string | null;
}

export async function enroll(body: Readonly<Record<string, unknown>>, ctx: EnrollContext, deps: EnrollDeps): Promise<EnrollResult> {
  const method = typeof body.method === 'string' ? body.method : '';
  const audit = (outcome: 'success' | 'failure', fields: { machineId?: string | null; code?: string | null; reason?: string | null; tokenId?: string | null }) =>
    deps.audit
      .append({
        at: deps.now().getTime(),
        event: 'enroll',
        outcome,
        machineId: fields.machineId ?? null,
        method: method || null,
        code: fields.code ?? null,
        reason: fields.reason ?? null,
        tokenId: fields.tokenId ?? null,
        requestId: ctx.requestId,
        actor: null,
        clientIp: ctx.clientIp,
      })
      .catch(() => undefined);

  let evidence: VerifiedEvidence | null = null;
  let auditedByStore = false;
  let release: (() => void) | null = null;
  let admitting = false;
  try {
    const input = parseWith(EnrollBody, body);
    // Own keys only: `{"method":"toString"}` must not reach Object.prototype. A method the schema
    // knows may still be disabled here (no issuer, no device CA).
    const verifier = Object.hasOwn(deps.verifiers, input.method) ? deps.verifiers[input.method] : undefined;
    if (!verifier) throw new AppError('invalid_request', `method: must be one of: ${Object.keys(deps.verifiers).join(', ')}`, { reason: `unsupported method ${JSON.stringify(method).slice(0, 40)}` });
    // More enrollments in flight here than the governor can serve soon: refused before the proof
    // is checked or anything is read or reserved (the refusal the governor would give later).
    admitting = true;
    release = deps.gate?.admit?.() ?? null;
    admitting = false;
    evidence = await verifier.verify(input, deps.now());
    if (deps.atomic) return await atomicFor(evidence, method, ctx, deps, deps.atomic, () => (auditedByStore = true));
    const result = await mintFor(evidence, method, deps, ctx);
    await audit('success', { machineId: evidence.machineId, tokenId: result.tokenId });
    return result;
  } catch (err) {
    if (admitting && err instanceof AppError && err.code === 'cluster_busy' && deps.busyAudit) {
      // Refused before any proof was looked at: counted, not written one by one (busy-audit.ts).
      const record = deps.busyAudit.refused({ requestId: ctx.requestId, clientIp: ctx.clientIp, method: method || null });
      // The record is written when its window closes; never awaited here (Deno: the process lives on).
      if (record && deps.defer) deps.defer(record);
    } else if (err instanceof AppError && !auditedByStore) await audit('failure', { machineId: evidence?.machineId ?? null, code: err.code, reason: err.reason });
    throw err;
  } finally {
    release?.();
  }
}

/** One round trip to the machine's store; it audits the outcome (outbox), so nothing is awaited here after it. */
async function atomicFor(evidence: VerifiedEvidence, method: string, ctx: EnrollContext, deps: EnrollDeps, atomic: NonNullable<EnrollDeps['atomic']>, audited: () => void): Promise<EnrollResult> {
  const caHash = await deps.caHash();
  let r;
  try {
    r = await atomic({
      machineId: evidence.machineId,
      method,
      proof: evidence.proof,
      usedJwt: evidence.usedJwt,
      reservationId: deps.newId(),
      idempotencyKeySha256: ctx.idempotencyKeySha256 ?? null,
      defaults: { tokenTtlSeconds: deps.defaults.tokenTtlSeconds, tokenGroups: deps.defaults.tokenGroups },
      requestId: ctx.requestId,
      clientIp: ctx.clientIp,
    });
  } catch (err) {
    // An AppError came back from the store, which audited it; anything else is the call itself failing.
    if (err instanceof AppError) {
      audited();
      throw err;
    }
    throw new UpstreamError('the machine store failed', { retryable: true, reason: `enroll call: ${err instanceof Error ? err.message : String(err)}`, cause: err });
  }
  return {
    token: formatJoinTokenWithHash(caHash, r.token.token),
    server: deps.defaults.serverUrl,
    machineId: evidence.machineId,
    tokenId: r.token.id,
    expiresAt: r.expiresAt !== null ? formatExpiration(new Date(r.expiresAt)) : null,
  };
}

async function mintFor(evidence: VerifiedEvidence, method: string, deps: EnrollDeps, ctx: EnrollContext): Promise<EnrollResult> {
  const { machineId } = evidence;
  // The CA hash first: if it cannot be had, nothing is reserved or minted.
  const caHash = await deps.caHash();
  // Then the proof (reserve), and only then a write slot: a replay or a wrong proof costs no slot,
  // so refused requests cannot crowd honest ones out of the cluster's write budget. A busy cluster
  // (cluster_busy) releases the reservation: nothing is burned and the proof stays usable.
  const reservationId = deps.newId();
  const policy = await deps.machines.reserve(machineId, evidence.proof, reservationId, deps.now().getTime(), ctx.idempotencyKeySha256 ?? null);
  let slot;
  try {
    slot = await (deps.gate ?? UNGOVERNED).acquire('create', { wait: false });
  } catch (err) {
    await deps.machines.release(machineId, reservationId).catch(() => undefined);
    throw err;
  }

  let minted;
  try {
    minted = await deps.tokens.mint({
      ttlSeconds: policy.tokenTtlSeconds ?? deps.defaults.tokenTtlSeconds,
      usages: ['authentication'],
      groups: policy.groups ?? deps.defaults.tokenGroups,
      description: `k3s-enroll: machine ${machineId} via ${method}`,
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [MACHINE_LABEL]: machineId, [METHOD_LABEL]: method },
      slotTaken: true,
      slot,
    });
  } catch (err) {
    // Nothing confirmed landed: the proof stays usable for a retry. A create whose fate is unknown
    // (its read-back failed too) leaves its token id owed a delete-if-exists (uid unknown: '').
    const owed = possiblyLandedTokenIds(err).map((id) => ({ id, uid: '' }));
    await deps.machines.release(machineId, reservationId, owed).catch(() => undefined);
    throw err;
  }

  let owed: TokenRef[];
  // On the API server's clock (the token Secret's creationTimestamp) where known: the join watch
  // compares it with the Node's creationTimestamp, so both sides come from the same clock.
  const mintedAt = minted.createdAt?.getTime() ?? deps.now().getTime();
  try {
    owed = await deps.machines.commit(
      machineId,
      reservationId,
      { id: minted.token.id, uid: minted.uid, expiresAt: minted.expiresAt?.getTime() ?? null, mintedAt, method },
      evidence.usedJwt,
      deps.now().getTime(),
    );
  } catch (err) {
    // Revoked or superseded while minting: the new token must not survive (the store also owes it).
    await deps.tokens.remove(minted.token.id, { uid: minted.uid }).catch(() => undefined);
    if (err instanceof AppError) throw err;
    throw new UpstreamError('the machine store failed', { retryable: true, reason: `commit: ${err instanceof Error ? err.message : String(err)}`, cause: err });
  }

  if (deps.onEnrolled) await deps.onEnrolled(machineId, { id: minted.token.id, mintedAt, expiresAt: minted.expiresAt?.getTime() ?? null }, ctx.requestId).catch(() => undefined);

  const cleanup = settleDeletes(machineId, owed, deps);
  if (deps.defer) deps.defer(cleanup);
  else await cleanup;

  return {
    token: formatJoinTokenWithHash(caHash, minted.token.token),
    server: deps.defaults.serverUrl,
    machineId,
    tokenId: minted.token.id,
    expiresAt: minted.expiresAt ? formatExpiration(minted.expiresAt) : null,
  };
}

/** Deletes each token from the cluster (gone already counts); returns the ids that are gone. */
export async function deleteTokens(tokens: Pick<BootstrapTokenStore, 'remove'>, owed: readonly TokenRef[]): Promise<string[]> {
  const done: string[] = [];
  for (const t of owed) {
    try {
      await tokens.remove(t.id, t.uid ? { uid: t.uid } : {});
      done.push(t.id);
    } catch {
      /* stays owed: the alarm (Workers) or sweeper (Deno) retries */
    }
  }
  return done;
}

/** Deletes tokens owed a delete; those that fail stay owed and the store's alarm retries them. */
export async function settleDeletes(machineId: string, owed: readonly TokenRef[], deps: Pick<EnrollDeps, 'tokens' | 'machines' | 'index'>): Promise<void> {
  const done = await deleteTokens(deps.tokens, owed);
  if (done.length > 0) await deps.machines.confirmDeleted(machineId, done).catch(() => undefined);
  const view = await deps.machines.get(machineId).catch(() => null);
  if (view) await deps.index.upsert(view).catch(() => undefined);
}
