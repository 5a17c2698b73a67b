// Builds the kube-system `bootstrap-token-<id>` Secret, refusing anything the bootstrap token
// authenticator would later reject: the API server validates none of it on create
// (reference/k8s-bootstrap.md §1). It sends nothing; src/cluster does.
import { encodeBase64 } from '../pki/index.ts';
import { BOOTSTRAP_TOKEN_ID_PATTERN } from './bootstrap-token.ts';
import { TokenError } from './token-error.ts';

export const BOOTSTRAP_TOKEN_SECRET_TYPE = 'bootstrap.kubernetes.io/token';
export const BOOTSTRAP_TOKEN_SECRET_PREFIX = 'bootstrap-token-';
export const BOOTSTRAP_TOKEN_NAMESPACE = 'kube-system';
export const BOOTSTRAP_GROUP_PATTERN = /^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$/;
export const KNOWN_TOKEN_USAGES = ['signing', 'authentication'] as const;
export type TokenUsage = (typeof KNOWN_TOKEN_USAGES)[number];
export const DEFAULT_TOKEN_GROUPS = ['system:bootstrappers:k3s:default-node-token'] as const;
export const DESCRIPTION_MAX_LENGTH = 1024;
const SECRET_PATTERN = /^[a-z0-9]{16}$/;
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export interface BootstrapTokenSecretInput {
  readonly id: string;
  readonly secret: string;
  /** Absolute expiry (from the API server's clock); null = never expires. */
  readonly expiresAt: Date | null;
  readonly usages?: readonly string[];
  readonly groups?: readonly string[];
  readonly description?: string;
  readonly labels?: Readonly<Record<string, string>>;
}

export interface SecretObject {
  apiVersion: 'v1';
  kind: 'Secret';
  metadata: { name: string; namespace: string; labels?: Record<string, string>; [k: string]: unknown };
  type: string;
  data: Record<string, string>;
}

export function buildBootstrapTokenSecret(input: BootstrapTokenSecretInput): SecretObject {
  const { id, secret } = input;
  if (typeof id !== 'string' || !BOOTSTRAP_TOKEN_ID_PATTERN.test(id)) throw new TokenError('token id must match [a-z0-9]{6}');
  if (typeof secret !== 'string' || !SECRET_PATTERN.test(secret)) throw new TokenError('token secret must match [a-z0-9]{16}');

  const usages = validateTokenUsages(input.usages ?? KNOWN_TOKEN_USAGES);
  const groups = validateTokenGroups(input.groups ?? DEFAULT_TOKEN_GROUPS);
  if (groups.length > 0 && !usages.includes('authentication')) {
    throw new TokenError('token groups cannot be specified unless --usages includes "authentication"');
  }
  const description = input.description ?? '';
  if (typeof description !== 'string' || description.length > DESCRIPTION_MAX_LENGTH || /[\u0000-\u001f\u007f]/.test(description)) {
    throw new TokenError(`description must be at most ${DESCRIPTION_MAX_LENGTH} printable characters`);
  }

  const data: Record<string, string> = { 'token-id': id, 'token-secret': secret };
  if (description !== '') data.description = description;
  if (input.expiresAt !== null) data.expiration = formatExpiration(input.expiresAt);
  for (const usage of usages) data[`usage-bootstrap-${usage}`] = 'true';
  if (groups.length > 0) data['auth-extra-groups'] = groups.join(',');

  const metadata: SecretObject['metadata'] = { name: `${BOOTSTRAP_TOKEN_SECRET_PREFIX}${id}`, namespace: BOOTSTRAP_TOKEN_NAMESPACE };
  if (input.labels && Object.keys(input.labels).length > 0) metadata.labels = validateLabels(input.labels);

  const encoded: Record<string, string> = {};
  const enc = new TextEncoder();
  for (const [k, v] of Object.entries(data)) encoded[k] = encodeBase64(enc.encode(v));
  return { apiVersion: 'v1', kind: 'Secret', metadata, type: BOOTSTRAP_TOKEN_SECRET_TYPE, data: encoded };
}

/** RFC 3339 UTC with second precision and `Z`, as kubeadm writes (`2024-03-10T03:22:11Z`). */
export function formatExpiration(at: Date): string {
  if (!(at instanceof Date) || Number.isNaN(at.getTime())) throw new TokenError('expiration must be a valid time');
  const year = at.getUTCFullYear();
  if (year < 1 || year > 9999) throw new TokenError('expiration must be between years 0001 and 9999');
  return at.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Each group must match the authenticator's regex; duplicates dropped, order kept. */
export function validateTokenGroups(groups: readonly string[]): string[] {
  if (!Array.isArray(groups)) throw new TokenError('groups must be a list');
  const out: string[] = [];
  for (const g of groups) {
    if (typeof g !== 'string' || !BOOTSTRAP_GROUP_PATTERN.test(g)) {
      throw new TokenError(`bootstrap group "${printable(g)}" is invalid (must match ${BOOTSTRAP_GROUP_PATTERN.source})`);
    }
    if (!out.includes(g)) out.push(g);
  }
  return out;
}

export function validateTokenUsages(usages: readonly string[]): TokenUsage[] {
  if (!Array.isArray(usages)) throw new TokenError('usages must be a list');
  const out: TokenUsage[] = [];
  for (const u of usages) {
    if (!(KNOWN_TOKEN_USAGES as readonly unknown[]).includes(u)) {
      throw new TokenError(`invalid bootstrap token usage string: ${printable(u)}, valid usage options: ${KNOWN_TOKEN_USAGES.join(',')}`);
    }
    if (!out.includes(u as TokenUsage)) out.push(u as TokenUsage);
  }
  return out;
}

function validateLabels(labels: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(labels)) {
    const slash = key.lastIndexOf('/');
    const prefix = slash >= 0 ? key.slice(0, slash) : '';
    const name = slash >= 0 ? key.slice(slash + 1) : key;
    const keyOk = name.length <= 63 && LABEL_NAME.test(name) && (slash < 0 || (prefix.length <= 253 && DNS_SUBDOMAIN.test(prefix)));
    const valueOk = typeof value === 'string' && value.length <= 63 && (value === '' || LABEL_NAME.test(value));
    if (!keyOk || !valueOk) throw new TokenError(`label "${printable(key)}" is not a valid Kubernetes label`);
    out[key] = value;
  }
  return out;
}

function printable(v: unknown): string {
  return String(v).replace(/[^\x20-\x7e]/g, '?').slice(0, 300);
}
