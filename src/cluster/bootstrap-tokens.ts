// Bootstrap-token Secrets in kube-system: create (expiry from the API server's clock, fresh id
// on a 409, verified after an ambiguous failure), get, list, delete. The Secret itself is built
// and validated by src/token; this file only moves it.
import { AppError, UpstreamError } from '../errors.ts';
import {
  BOOTSTRAP_TOKEN_NAMESPACE,
  BOOTSTRAP_TOKEN_SECRET_PREFIX,
  BOOTSTRAP_TOKEN_SECRET_TYPE,
  buildBootstrapTokenSecret,
  generateBootstrapToken,
  parseRfc3339,
  type BootstrapToken,
  type SecretObject,
} from '../token/index.ts';
import { KubeApiError, KubeNetworkError, type KubeHttp } from './kube-http.ts';
import { sendOnSlot, UNGOVERNED, type WriteGate, type WriteSlot } from './write-governor.ts';

const SECRETS_PATH = `/api/v1/namespaces/${BOOTSTRAP_TOKEN_NAMESPACE}/secrets`;

/**
 * A create whose fate is unknown: it failed ambiguously (timeout, 5xx, connection lost) and the
 * read-back could not confirm it either way. The Secret may exist or appear later, so the caller
 * owes `attemptedTokenId` a delete-if-exists.
 */
export class AmbiguousCreateError extends UpstreamError {
  readonly attemptedTokenId: string;
  constructor(cause: UpstreamError, attemptedTokenId: string) {
    super(cause.message, { retryable: cause.retryable, reason: `${cause.reason} (create of token ${attemptedTokenId} unconfirmed)`, cause, ...(cause.upstreamStatus !== undefined ? { upstreamStatus: cause.upstreamStatus } : {}), ...(cause.retryAfterSeconds !== undefined ? { retryAfterSeconds: cause.retryAfterSeconds } : {}) });
    this.name = 'AmbiguousCreateError';
    this.attemptedTokenId = attemptedTokenId;
  }
}
/** Fresh ids tried after AlreadyExists before giving up (36^6 ids: a second clash is a bug). */
export const CREATE_ID_ATTEMPTS = 3;
/** Creates sent again after a connection error whose read-back showed nothing landed. */
export const CREATE_RESENDS = 2;

export interface MintRequest {
  /** Seconds until expiry on the API server's clock; null = never expires. */
  readonly ttlSeconds: number | null;
  readonly usages?: readonly string[];
  readonly groups?: readonly string[];
  readonly description?: string;
  readonly labels?: Readonly<Record<string, string>>;
  /** A caller-chosen token (`k3s token create <token>`): a clash is then a conflict, not a retry. */
  readonly token?: BootstrapToken;
  /** The caller already took a write slot for the first create (enrollment takes it before reserving). */
  readonly slotTaken?: boolean;
  /** That slot: the create is sent on it, through the gate's send window (sendOnSlot). */
  readonly slot?: WriteSlot;
}

export interface MintedToken {
  readonly token: BootstrapToken;
  readonly expiresAt: Date | null;
  readonly uid: string;
  readonly createdAt: Date | null;
}

export interface BootstrapTokenInfo {
  readonly id: string;
  readonly description: string;
  readonly expires: Date | null;
  /** Set when the expiration does not parse: the authenticator treats such a token as expired. */
  readonly invalidExpiration: boolean;
  readonly usages: readonly string[];
  readonly groups: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  readonly uid: string;
  readonly createdAt: Date | null;
}

interface StoredSecret {
  metadata?: { name?: string; uid?: string; creationTimestamp?: string; labels?: Record<string, string>; deletionTimestamp?: string };
  type?: string;
  data?: Record<string, string>;
}

export function createBootstrapTokenStore(http: KubeHttp, deps: { now: () => Date; generate?: () => BootstrapToken; gate?: WriteGate }) {
  const generate = deps.generate ?? (() => generateBootstrapToken());
  const gate = deps.gate ?? UNGOVERNED;
  let clockProbe: Promise<void> | null = null;

  async function serverNow(): Promise<Date> {
    const known = http.serverNow();
    if (known) return known;
    // No Date header seen yet: ask the API server for one with a cheap, harmless read — one probe
    // in flight at a time, however many enrollments start before the clock is known.
    clockProbe ??= http
      .request('GET', `${SECRETS_PATH}?limit=1&fieldSelector=${encodeURIComponent(`type=${BOOTSTRAP_TOKEN_SECRET_TYPE}`)}`, 'list secrets')
      .then(
        () => undefined,
        (err: unknown) => {
          if (!(err instanceof KubeApiError) || err.status >= 500 || err.status === 401) throw err;
        },
      )
      .finally(() => (clockProbe = null));
    await clockProbe;
    return http.serverNow() ?? deps.now();
  }

  async function get(id: string): Promise<StoredSecret | null> {
    try {
      return (await http.request<StoredSecret>('GET', `${SECRETS_PATH}/${BOOTSTRAP_TOKEN_SECRET_PREFIX}${id}`, 'get secrets')).body;
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return null;
      throw err;
    }
  }

  async function mint(req: MintRequest): Promise<MintedToken> {
    let token = req.token ?? generate();
    let clashes = 0;
    let resends = 0;
    // Ids whose create was sent without a definite answer: on failure they may still land (a
    // timed-out create the API server commits later), so the caller must owe them a delete.
    const unsettled = new Set<string>();
    const failWith = (err: unknown): never => {
      if (unsettled.size === 0 || typeof err !== 'object' || err === null) throw err;
      // A create whose fate is unknown: the caller owes its id(s) a delete-if-exists.
      const ids = [...unsettled];
      const e = err instanceof UpstreamError && !(err instanceof AmbiguousCreateError) ? new AmbiguousCreateError(err, ids[ids.length - 1] as string) : err;
      possiblyLanded.set(e, ids);
      throw e;
    };
    for (let send = 0; ; send++) {
      let now: Date;
      let slot: WriteSlot | null;
      try {
        // A refused slot or clock probe after a resend still leaves the earlier create owed (#7).
        slot = send === 0 && req.slotTaken ? (req.slot ?? null) : await gate.acquire('create', { wait: false });
        now = await serverNow();
      } catch (err) {
        return failWith(err);
      }
      const expiresAt = req.ttlSeconds === null ? null : new Date(Math.floor(now.getTime() / 1000) * 1000 + req.ttlSeconds * 1000);
      const secret = buildBootstrapTokenSecret({
        id: token.id,
        secret: token.secret,
        expiresAt,
        ...(req.usages ? { usages: req.usages } : {}),
        ...(req.groups ? { groups: req.groups } : {}),
        ...(req.description !== undefined ? { description: req.description } : {}),
        ...(req.labels ? { labels: req.labels } : {}),
      });
      try {
        const id = token.id;
        const res = await http.request<StoredSecret>('POST', SECRETS_PATH, 'create secrets', {
          body: JSON.stringify(secret),
          contentType: 'application/json',
          // Unsettled from the moment it leaves: a slot refused before that sent nothing.
          through: (_attempt, go) => sendOnSlot(gate, 'create', slot, () => (unsettled.add(id), go())),
        });
        return minted(token, expiresAt, res.body);
      } catch (err) {
        if (err instanceof KubeApiError && err.status === 409) {
          if (resends === 0) unsettled.delete(token.id); // someone else's Secret: never ours to delete
          // After a resend the clash may be our own earlier create landing late: same id, same secret.
          if (resends > 0) {
            const landed = await confirm(token, secret).catch(() => undefined);
            if (landed) return minted(token, expiresAt, landed);
            if (landed === null) unsettled.delete(token.id); // read back: not ours, never ours to delete
          }
          if (req.token) return failWith(new AppError('conflict', `a token with id "${token.id}" already exists`));
          if (++clashes >= CREATE_ID_ATTEMPTS) break;
          token = generate();
          continue;
        }
        if (err instanceof UpstreamError && err.retryable) {
          // The create may have landed before the failure: only a Secret we can read back counts.
          const landed = await confirm(token, secret).catch(() => undefined);
          if (landed) return minted(token, expiresAt, landed);
          // Provably not landed (read-back 404) after a connection failure, not a timeout: send again.
          if (landed === null && err instanceof KubeNetworkError && !err.timedOut && resends < CREATE_RESENDS) {
            resends++;
            continue;
          }
        }
        // A definite refusal (4xx other than 409) means nothing landed.
        if (err instanceof KubeApiError && err.status < 500 && err.status !== 429) unsettled.delete(token.id);
        return failWith(err);
      }
    }
    return failWith(new UpstreamError('the cluster API kept reporting token id collisions', { retryable: true, reason: `create secrets: ${CREATE_ID_ATTEMPTS} AlreadyExists in a row` }));
  }

  /** The Secret as stored if it is ours (same token secret); null when absent or not ours; throws when unknown. */
  async function confirm(token: BootstrapToken, sent: SecretObject): Promise<StoredSecret | null> {
    const stored = await get(token.id);
    if (!stored || stored.type !== BOOTSTRAP_TOKEN_SECRET_TYPE || !stored.data) return null;
    return stored.data['token-secret'] === sent.data['token-secret'] ? stored : null;
  }

  async function list(labelSelector?: string): Promise<BootstrapTokenInfo[]> {
    const q = new URLSearchParams({ fieldSelector: `type=${BOOTSTRAP_TOKEN_SECRET_TYPE}` });
    if (labelSelector) q.set('labelSelector', labelSelector);
    const res = await http.request<{ items?: StoredSecret[] }>('GET', `${SECRETS_PATH}?${q}`, 'list secrets');
    return (res.body.items ?? []).map(toInfo).filter((i): i is BootstrapTokenInfo => i !== null);
  }

  /** Deletes `bootstrap-token-<id>`; false when it was already gone (the cleaner may have won). */
  async function remove(id: string, options: { uid?: string } = {}): Promise<boolean> {
    const body = options.uid ? JSON.stringify({ kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { uid: options.uid } }) : undefined;
    let slot = await gate.acquire('delete', { wait: false });
    try {
      // Each try (kube-http retries a DELETE) is a write: each gets its own slot.
      const through = async <T>(attempt: number, go: () => Promise<T>) => sendOnSlot(gate, 'delete', attempt === 0 ? slot : (slot = await gate.acquire('delete', { wait: false })), go);
      await http.request('DELETE', `${SECRETS_PATH}/${BOOTSTRAP_TOKEN_SECRET_PREFIX}${id}`, 'delete secrets', { ...(body ? { body, contentType: 'application/json' } : {}), through });
      return true;
    } catch (err) {
      if (err instanceof KubeApiError && (err.status === 404 || (err.status === 409 && options.uid))) return false;
      throw err;
    }
  }

  return {
    mint,
    list,
    remove,
    async get(id: string): Promise<BootstrapTokenInfo | null> {
      const s = await get(id);
      return s ? toInfo(s) : null;
    },
  };
}

export type BootstrapTokenStore = ReturnType<typeof createBootstrapTokenStore>;

const possiblyLanded = new WeakMap<object, string[]>();

/** Token ids a failed mint sent without a definite answer: they may land later and are owed a delete. */
export function possiblyLandedTokenIds(err: unknown): string[] {
  if (typeof err !== 'object' || err === null) return [];
  return possiblyLanded.get(err) ?? (err instanceof AmbiguousCreateError ? [err.attemptedTokenId] : []);
}

function minted(token: BootstrapToken, expiresAt: Date | null, stored: StoredSecret): MintedToken {
  const created = stored.metadata?.creationTimestamp ? new Date(stored.metadata.creationTimestamp) : null;
  return { token, expiresAt, uid: stored.metadata?.uid ?? '', createdAt: created && !Number.isNaN(created.getTime()) ? created : null };
}

/** kubeadm BootstrapTokenFromSecret, lenient where list must still show a token it did not make. */
export function toInfo(s: StoredSecret): BootstrapTokenInfo | null {
  const name = s.metadata?.name ?? '';
  if (s.type !== BOOTSTRAP_TOKEN_SECRET_TYPE || !name.startsWith(BOOTSTRAP_TOKEN_SECRET_PREFIX)) return null;
  const data: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.data ?? {})) {
    try {
      data[k] = atob(v);
    } catch {
      data[k] = '';
    }
  }
  const id = data['token-id'] ?? '';
  if (!/^[a-z0-9]{6}$/.test(id) || name !== `${BOOTSTRAP_TOKEN_SECRET_PREFIX}${id}`) return null;
  const exp = data.expiration;
  let expires: Date | null = null;
  let invalidExpiration = false;
  if (exp !== undefined && exp !== '') {
    const t = parseRfc3339(exp);
    if (t === null) invalidExpiration = true;
    else expires = new Date(t);
  }
  const usages = Object.entries(data)
    .filter(([k, v]) => k.startsWith('usage-bootstrap-') && v === 'true')
    .map(([k]) => k.slice('usage-bootstrap-'.length))
    .sort();
  const groups = data['auth-extra-groups'] ? data['auth-extra-groups'].split(',') : [];
  const created = s.metadata?.creationTimestamp ? new Date(s.metadata.creationTimestamp) : null;
  return {
    id,
    description: data.description ?? '',
    expires,
    invalidExpiration,
    usages,
    groups,
    labels: s.metadata?.labels ?? {},
    uid: s.metadata?.uid ?? '',
    createdAt: created && !Number.isNaN(created.getTime()) ? created : null,
  };
}
