// One enrollment inside the machine's own cell (its Durable Object on Workers): would the proof
// hold → a write slot → reserve → mint → commit, in ONE call from the worker, so the response path
// costs a single round trip to the machine's object. Every outcome becomes an audit record in the
// cell's outbox, saved with the state it describes; the owner flushes the outbox later (the
// Durable Object's alarm), so an answer whose process dies right after still leaves its audit.
import { possiblyLandedTokenIds, type BootstrapTokenStore, type MintedToken, type WriteGate } from '../cluster/index.ts';
import { AppError, UpstreamError } from '../errors.ts';
import type { AuditEvent, MachineView } from '../store/ports.ts';
import { MACHINE_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE, METHOD_LABEL } from './enroll.ts';
import { commitWithKey, reserveWithKey, type StateWithKey } from './idempotency.ts';
import { RejectionWithState, releaseEnrollment, type Proof, type TokenRef } from './machine-state.ts';

export interface AtomicEnrollInput {
  readonly machineId: string;
  readonly method: string;
  readonly proof: Proof;
  readonly usedJwt: { readonly jtiSha256: string; readonly exp: number } | null;
  readonly reservationId: string;
  readonly idempotencyKeySha256: string | null;
  readonly defaults: { readonly tokenTtlSeconds: number; readonly tokenGroups: readonly string[] };
  readonly requestId: string;
  readonly clientIp: string | null;
}

/** An audit record waiting to be written, with the machine's listing view at that moment. */
export interface OutboxRecord {
  /** Unique per record (request id + event): writing it twice stores it once. */
  readonly id: string;
  readonly audit: AuditEvent;
  readonly view: MachineView | null;
}

export interface AtomicCell {
  load(): StateWithKey | null;
  save(state: StateWithKey | null): void;
  /** Saved in the same storage as the state (a Durable Object's storage: one atomic write). */
  outbox(record: OutboxRecord): void;
  /** Resolves once saved writes are durable (a Durable Object holds outbound calls until then). */
  flush?(): Promise<void>;
  view(state: StateWithKey): MachineView;
}

export interface AtomicEnrollDeps {
  readonly tokens: Pick<BootstrapTokenStore, 'mint'>;
  readonly gate: WriteGate;
  readonly now: () => number;
  /**
   * Work started together with the create, so its latency hides behind the create's, and finished
   * before the answer (the join watch's expectation, the node-password lookup): called once the
   * proof is reserved with the token's TTL; the function it returns is awaited with whether the
   * enrollment committed. Never fails the enrollment.
   */
  readonly alongside?: (ttlSeconds: number | null) => (committed: boolean) => Promise<void>;
}

export interface AtomicEnrollResult {
  readonly minted: MintedToken;
  /** Tokens now owed a delete (the previous one); the owner deletes them off the response path. */
  readonly owed: TokenRef[];
  /** When the token was minted, on the API server's clock where known (the join watch compares it with the Node's). */
  readonly mintedAt: number;
}

export async function enrollInCell(cell: AtomicCell, input: AtomicEnrollInput, deps: AtomicEnrollDeps): Promise<AtomicEnrollResult> {
  const record = (outcome: 'success' | 'failure', fields: { code?: string; reason?: string; tokenId?: string }) => {
    const s = cell.load();
    cell.outbox({
      // Server-chosen (the reservation id): a caller-chosen X-Request-Id must not let one record replace another (review #3).
      id: `${input.reservationId}:enroll`,
      view: s ? cell.view(s) : null,
      audit: { at: deps.now(), event: 'enroll', outcome, machineId: input.machineId, method: input.method, code: fields.code ?? null, reason: fields.reason ?? null, tokenId: fields.tokenId ?? null, requestId: input.requestId, actor: null, clientIp: input.clientIp },
    });
  };
  const fail = (err: unknown): never => {
    const e = err instanceof RejectionWithState ? err.error : err;
    if (err instanceof RejectionWithState) cell.save(err.state);
    if (e instanceof AppError) record('failure', { code: e.code, reason: e.reason });
    throw e;
  };
  const key = input.idempotencyKeySha256;

  // 1. Would the proof hold? Nothing is saved: a refusal here costs no write slot.
  try {
    reserveWithKey(cell.load(), input.proof, input.reservationId, deps.now(), key);
  } catch (err) {
    return fail(err);
  }
  // 2. A write slot before anything is reserved: cluster_busy burns nothing. Its time may still
  // be ahead: the reservation below is made (and made durable) while it comes.
  let slot;
  try {
    slot = await deps.gate.acquire('create', { wait: false });
  } catch (err) {
    return fail(err);
  }
  // 3. Reserve for real, on the state as it is after the wait.
  let policy;
  try {
    const r = reserveWithKey(cell.load(), input.proof, input.reservationId, deps.now(), key);
    cell.save(r.state);
    policy = r.policy;
  } catch (err) {
    slot.giveBack();
    return fail(err);
  }
  // The reservation must be durable before the create leaves. The create itself leaves on the
  // slot's time through the gate's send window; a slot found late there is swapped for a fresh
  // one, and a refusal then (cluster_busy) is a mint failure that sent nothing: released below.
  await cell.flush?.();
  // 4. Mint (the slot covers the first create); nothing landed on failure, so the proof stays usable.
  const ttlSeconds = policy.tokenTtlSeconds ?? input.defaults.tokenTtlSeconds;
  let finish: ((committed: boolean) => Promise<void>) | null = null;
  try {
    finish = deps.alongside?.(ttlSeconds) ?? null;
  } catch {
    finish = null;
  }
  const settle = async (committed: boolean) => {
    if (finish) await finish(committed).catch(() => undefined);
  };
  let minted: MintedToken;
  try {
    minted = await deps.tokens.mint({
      ttlSeconds,
      usages: ['authentication'],
      groups: policy.groups ?? input.defaults.tokenGroups,
      description: `k3s-enroll: machine ${input.machineId} via ${input.method}`,
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [MACHINE_LABEL]: input.machineId, [METHOD_LABEL]: input.method },
      slotTaken: true,
      slot,
    });
  } catch (err) {
    // Not minted: the proof stays usable. A create sent without a definite answer may still land:
    // it is owed a delete (by name) so no Secret is left that no machine holds.
    const released = releaseEnrollment(cell.load(), input.reservationId) as StateWithKey | null;
    const maybe = possiblyLandedTokenIds(err).map((id) => ({ id, uid: '' }));
    cell.save(released && maybe.length > 0 ? { ...released, pendingDeletes: [...released.pendingDeletes, ...maybe] } : released);
    await settle(false);
    return fail(err instanceof AppError ? err : new UpstreamError('the cluster API failed', { retryable: true, reason: `mint: ${err instanceof Error ? err.message : String(err)}`, cause: err }));
  }
  // 5. Commit: revoked or superseded meanwhile → the new token is owed a delete (saved by fail()).
  let owed: TokenRef[];
  const mintedAt = minted.createdAt?.getTime() ?? deps.now();
  try {
    const now = deps.now();
    const c = commitWithKey(cell.load(), input.reservationId, { id: minted.token.id, uid: minted.uid, expiresAt: minted.expiresAt?.getTime() ?? null, mintedAt, method: input.method }, input.usedJwt, now);
    cell.save(c.state);
    owed = c.tokensToDelete;
  } catch (err) {
    await settle(false);
    return fail(err);
  }
  record('success', { tokenId: minted.token.id });
  await settle(true);
  return { minted, owed, mintedAt };
}
