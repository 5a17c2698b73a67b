// parseConfig(vars) → frozen Config, reporting every bad variable together by name (never by
// value). Runtime-agnostic: entries pass `env` (Workers) or `Deno.env.toObject()`. Secrets are
// hashed here where the service only ever compares them.
import { sha256 } from '@noble/hashes/sha2.js';
import { ConfigError } from './errors.ts';
import { parseDuration, validateTokenGroups, DEFAULT_TOKEN_GROUPS, TokenError } from './token/index.ts';
import { CLUSTER_MAX_WRITES_PER_SECOND_DEFAULT } from './cluster/write-governor.ts';
import { parseIpRanges, type IpRange } from './http/client-address.ts';

export type CaHashMode = 'pem' | 'der-root';

export interface JwtIssuerConfig {
  readonly issuer: string;
  readonly jwksUri: string | null;
  readonly jwks: { keys: unknown[] } | null;
  readonly audience: string | readonly string[];
  readonly machineIdClaim: string;
  readonly algorithms: readonly string[];
}

export interface Config {
  readonly k3sServerUrl: string;
  readonly clusterApiUrl: string;
  readonly clusterSaToken: string;
  readonly clusterCaPem: string | null;
  readonly clusterCaHash: string | null;
  readonly caHashMode: CaHashMode;
  readonly clusterAccessClientId: string | null;
  readonly clusterAccessClientSecret: string | null;
  readonly tokenTtlSeconds: number;
  readonly tokenGroups: readonly string[];
  /** SHA-256 of ADMIN_TOKEN; the token itself is not kept. */
  readonly adminTokenSha256: Uint8Array | null;
  readonly access: { readonly teamDomain: string; readonly aud: string } | null;
  readonly fleetWebhookSecret: string | null;
  readonly tpmEkRootsPem: string | null;
  /** Roots (and intermediates) for device certificates (`x509` method). */
  readonly deviceCaPem: string | null;
  readonly tpmAllowUnregistered: boolean;
  /** Taint Nodes no enrolled machine accounts for (k3s-enroll.io/unattested:NoSchedule). */
  readonly quarantineUnattested: boolean;
  /** When set, TPM enrollment needs a quote over these PCRs with one of these digests. */
  readonly tpmPcrPolicy: { readonly pcrs: readonly number[]; readonly allowedDigests: readonly string[] } | null;
  readonly jwtIssuers: readonly JwtIssuerConfig[];
  readonly eventsWebhookUrl: string | null;
  /** Signs outbound events; never the inbound fleet secret (a receiver could forge registrations). */
  readonly eventsWebhookSecret: string | null;
  /** The cluster write governor's cap on Secret creates + deletes per second, service-wide. */
  readonly clusterMaxWritesPerSecond: number;
  /**
   * TRUSTED_PROXIES (Deno entry): socket peers whose X-Forwarded-For names the client. Empty (the
   * default): the peer is the client. Workers use CF-Connecting-IP and ignore it.
   */
  readonly trustedProxies: readonly IpRange[];
  /** Audit records older than this many days are deleted (Workers: the cron; Deno: KV expiry); 0 keeps them all. */
  readonly auditRetentionDays: number;
}

/** Default audit retention: a year, so a yearly review still finds every enrollment. */
export const AUDIT_RETENTION_DAYS_DEFAULT = 365;

export type ConfigVars = Readonly<Record<string, unknown>>;

export const TOKEN_TTL_DEFAULT_SECONDS = 600;
/** Enrollment tokens only need to live until the agent has joined; a day is the ceiling. */
export const TOKEN_TTL_MAX_SECONDS = 86_400;
export const SECRET_MIN_LENGTH = 16;
const DEFAULT_JWT_ALGORITHMS = ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA'] as const;
const ALLOWED_JWT_ALGORITHMS = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']);

export function parseConfig(vars: ConfigVars): Config {
  const problems: { variable: string; problem: string }[] = [];
  const bad = (variable: string, problem: string) => problems.push({ variable, problem });
  const str = (name: string): string | null => {
    const v = vars[name];
    if (v === undefined || v === null || v === '') return null;
    if (typeof v !== 'string') {
      bad(name, 'must be a string');
      return null;
    }
    return v;
  };
  const url = (name: string, required: boolean, allowHttpLoopback = false): string => {
    const v = str(name);
    if (v === null) {
      if (required) bad(name, 'is required');
      return '';
    }
    let u: URL;
    try {
      u = new URL(v);
    } catch {
      bad(name, 'must be an absolute URL');
      return '';
    }
    const loopback = u.hostname === '127.0.0.1' || u.hostname === 'localhost' || u.hostname === '[::1]';
    if (u.protocol !== 'https:' && !(allowHttpLoopback && u.protocol === 'http:' && loopback)) bad(name, 'must be an https:// URL');
    if (u.username || u.password || u.search || u.hash) bad(name, 'must not carry credentials, a query or a fragment');
    return v.replace(/\/+$/, '');
  };
  const secret = (name: string): string | null => {
    const v = str(name);
    if (v !== null && v.length < SECRET_MIN_LENGTH) bad(name, `must be at least ${SECRET_MIN_LENGTH} characters`);
    return v;
  };

  const k3sServerUrl = url('K3S_SERVER_URL', true);
  const clusterApiUrl = url('CLUSTER_API_URL', true, true);
  const clusterSaToken = str('CLUSTER_SA_TOKEN');
  if (clusterSaToken === null) bad('CLUSTER_SA_TOKEN', 'is required');

  const clusterCaPem = normalizePemEnd(str('CLUSTER_CA_PEM'));
  const clusterCaHash = str('CLUSTER_CA_HASH');
  if (clusterCaPem === null && clusterCaHash === null) bad('CLUSTER_CA_PEM', 'CLUSTER_CA_PEM or CLUSTER_CA_HASH is required');
  if (clusterCaPem !== null && !clusterCaPem.includes('-----BEGIN CERTIFICATE-----')) bad('CLUSTER_CA_PEM', 'must hold a PEM certificate');
  if (clusterCaHash !== null && !/^[0-9a-f]{64}$/.test(clusterCaHash)) bad('CLUSTER_CA_HASH', 'must be 64 lowercase hex characters');

  const caHashModeRaw = str('CA_HASH_MODE') ?? 'pem';
  if (caHashModeRaw !== 'pem' && caHashModeRaw !== 'der-root') bad('CA_HASH_MODE', 'must be "pem" or "der-root"');
  const caHashMode: CaHashMode = caHashModeRaw === 'der-root' ? 'der-root' : 'pem';

  const clusterAccessClientId = str('CLUSTER_ACCESS_CLIENT_ID');
  const clusterAccessClientSecret = str('CLUSTER_ACCESS_CLIENT_SECRET');
  if ((clusterAccessClientId === null) !== (clusterAccessClientSecret === null)) {
    bad(clusterAccessClientId === null ? 'CLUSTER_ACCESS_CLIENT_ID' : 'CLUSTER_ACCESS_CLIENT_SECRET', 'CLUSTER_ACCESS_CLIENT_ID and CLUSTER_ACCESS_CLIENT_SECRET go together');
  }

  let tokenTtlSeconds = TOKEN_TTL_DEFAULT_SECONDS;
  const ttlRaw = str('TOKEN_TTL');
  if (ttlRaw !== null) {
    try {
      const ms = parseDuration(ttlRaw);
      if (ms < 60_000 || ms > TOKEN_TTL_MAX_SECONDS * 1000) bad('TOKEN_TTL', 'must be between 1m and 24h');
      else tokenTtlSeconds = Math.floor(ms / 1000);
    } catch {
      bad('TOKEN_TTL', 'must be a Go duration such as 10m');
    }
  }

  let tokenGroups: readonly string[] = DEFAULT_TOKEN_GROUPS;
  const groupsRaw = str('TOKEN_GROUPS');
  if (groupsRaw !== null) {
    try {
      tokenGroups = validateTokenGroups(groupsRaw.split(','));
    } catch (err) {
      if (!(err instanceof TokenError)) throw err;
      bad('TOKEN_GROUPS', 'each group must match ^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$');
    }
  }

  const adminToken = secret('ADMIN_TOKEN');
  const teamDomain = str('ACCESS_TEAM_DOMAIN');
  const aud = str('ACCESS_AUD');
  if ((teamDomain === null) !== (aud === null)) bad(teamDomain === null ? 'ACCESS_TEAM_DOMAIN' : 'ACCESS_AUD', 'ACCESS_TEAM_DOMAIN and ACCESS_AUD go together');
  if (teamDomain !== null && !/^[a-z0-9-]+\.cloudflareaccess\.com$/.test(teamDomain.replace(/^https:\/\//, ''))) {
    bad('ACCESS_TEAM_DOMAIN', 'must be <team>.cloudflareaccess.com');
  }
  if (adminToken === null && teamDomain === null) bad('ADMIN_TOKEN', 'ADMIN_TOKEN or ACCESS_TEAM_DOMAIN + ACCESS_AUD is required');

  const fleetWebhookSecret = secret('FLEET_WEBHOOK_SECRET');
  const tpmEkRootsPem = str('TPM_EK_ROOTS_PEM');
  if (tpmEkRootsPem !== null && !tpmEkRootsPem.includes('-----BEGIN CERTIFICATE-----')) bad('TPM_EK_ROOTS_PEM', 'must hold PEM certificates');
  const deviceCaPem = str('DEVICE_CA_PEM');
  if (deviceCaPem !== null && !deviceCaPem.includes('-----BEGIN CERTIFICATE-----')) bad('DEVICE_CA_PEM', 'must hold PEM certificates');
  const allowRaw = str('TPM_ALLOW_UNREGISTERED') ?? 'false';
  if (allowRaw !== 'true' && allowRaw !== 'false') bad('TPM_ALLOW_UNREGISTERED', 'must be "true" or "false"');
  const quarantineRaw = str('QUARANTINE_UNATTESTED') ?? 'false';
  if (quarantineRaw !== 'true' && quarantineRaw !== 'false') bad('QUARANTINE_UNATTESTED', 'must be "true" or "false"');
  const eventsWebhookUrl = url('EVENTS_WEBHOOK_URL', false, true) || null;
  const eventsWebhookSecret = secret('EVENTS_WEBHOOK_SECRET');
  if (eventsWebhookUrl !== null && eventsWebhookSecret === null) bad('EVENTS_WEBHOOK_SECRET', 'is required when EVENTS_WEBHOOK_URL is set');
  if (eventsWebhookSecret !== null && fleetWebhookSecret !== null && eventsWebhookSecret === fleetWebhookSecret) {
    // One secret both ways would let an events receiver sign fleet registrations.
    bad('EVENTS_WEBHOOK_SECRET', 'must differ from FLEET_WEBHOOK_SECRET');
    bad('FLEET_WEBHOOK_SECRET', 'must differ from EVENTS_WEBHOOK_SECRET');
  }
  let tpmPcrPolicy: Config['tpmPcrPolicy'] = null;
  const pcrRaw = str('TPM_PCR_POLICY');
  if (pcrRaw !== null) {
    try {
      const v = JSON.parse(pcrRaw) as { pcrs?: unknown; allowedDigests?: unknown };
      const pcrs = v.pcrs;
      const digests = v.allowedDigests;
      if (!Array.isArray(pcrs) || pcrs.length === 0 || !pcrs.every((n) => Number.isInteger(n) && n >= 0 && n < 24) || new Set(pcrs).size !== pcrs.length) throw new Error('pcrs');
      if (!Array.isArray(digests) || digests.length === 0 || !digests.every((d) => typeof d === 'string' && /^[0-9a-f]{64}$/.test(d))) throw new Error('digests');
      tpmPcrPolicy = Object.freeze({ pcrs: Object.freeze([...(pcrs as number[])].sort((a, b) => a - b)), allowedDigests: Object.freeze([...(digests as string[])]) });
    } catch {
      bad('TPM_PCR_POLICY', 'must be {"pcrs":[0..23],"allowedDigests":["<64 hex>"]}');
    }
  }
  const jwtIssuers = parseJwtIssuers(str('JWT_ISSUERS'), bad);
  const retentionRaw = str('AUDIT_RETENTION_DAYS');
  const auditRetentionDays = retentionRaw === null ? AUDIT_RETENTION_DAYS_DEFAULT : /^\d{1,5}$/.test(retentionRaw) ? Number(retentionRaw) : NaN;
  if (!(auditRetentionDays >= 0 && auditRetentionDays <= 36_500)) bad('AUDIT_RETENTION_DAYS', 'must be a whole number of days from 0 (keep everything) to 36500');
  const capRaw = str('CLUSTER_MAX_WRITES_PER_SECOND');
  const clusterMaxWritesPerSecond = capRaw === null ? CLUSTER_MAX_WRITES_PER_SECOND_DEFAULT : Number(capRaw);
  if (!Number.isInteger(clusterMaxWritesPerSecond) || clusterMaxWritesPerSecond < 1 || clusterMaxWritesPerSecond > 10_000) bad('CLUSTER_MAX_WRITES_PER_SECOND', 'must be a whole number from 1 to 10000');

  let trustedProxies: IpRange[] = [];
  const proxiesRaw = str('TRUSTED_PROXIES');
  if (proxiesRaw !== null) {
    try {
      trustedProxies = parseIpRanges(proxiesRaw);
    } catch {
      // The value is not repeated (config errors name variables, never their values).
      bad('TRUSTED_PROXIES', 'must be comma-separated IP addresses or CIDR ranges (10.0.0.0/8, fd00::/8)');
    }
  }

  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze({
    k3sServerUrl,
    clusterApiUrl,
    clusterSaToken: clusterSaToken!,
    clusterCaPem,
    clusterCaHash,
    caHashMode,
    clusterAccessClientId,
    clusterAccessClientSecret,
    tokenTtlSeconds,
    tokenGroups: Object.freeze([...tokenGroups]),
    adminTokenSha256: adminToken === null ? null : sha256(new TextEncoder().encode(adminToken)),
    access: teamDomain !== null && aud !== null ? Object.freeze({ teamDomain: teamDomain.replace(/^https:\/\//, ''), aud }) : null,
    fleetWebhookSecret,
    tpmEkRootsPem,
    deviceCaPem,
    tpmAllowUnregistered: allowRaw === 'true',
    quarantineUnattested: quarantineRaw === 'true',
    tpmPcrPolicy,
    jwtIssuers,
    eventsWebhookUrl,
    eventsWebhookSecret,
    clusterMaxWritesPerSecond,
    auditRetentionDays,
    trustedProxies: Object.freeze(trustedProxies),
  });
}

/**
 * A PEM that k3s serves at /cacerts always ends in one newline, and the K10 hash covers the bytes
 * exactly; `"$(cat server-ca.crt)"` and many secret UIs drop it. So the text after the last END
 * line becomes exactly one line ending (CRLF only if the PEM uses CRLF). Anything else that still
 * differs from /cacerts is caught by the cluster client's /cacerts comparison.
 */
export function normalizePemEnd(pem: string | null): string | null {
  if (pem === null) return null;
  const end = pem.lastIndexOf('-----END ');
  if (end < 0) return pem;
  const close = pem.indexOf('-----', end + 9);
  if (close < 0 || pem.slice(close + 5).trim() !== '') return pem;
  return pem.slice(0, close + 5) + (pem.includes('\r\n') ? '\r\n' : '\n');
}

function parseJwtIssuers(raw: string | null, bad: (v: string, p: string) => void): readonly JwtIssuerConfig[] {
  if (raw === null) return Object.freeze([]);
  let list: unknown;
  try {
    list = JSON.parse(raw);
  } catch {
    bad('JWT_ISSUERS', 'must be a JSON list');
    return [];
  }
  if (!Array.isArray(list)) {
    bad('JWT_ISSUERS', 'must be a JSON list');
    return [];
  }
  const out: JwtIssuerConfig[] = [];
  list.forEach((item: unknown, i) => {
    const where = `JWT_ISSUERS[${i}]`;
    if (typeof item !== 'object' || item === null) return bad('JWT_ISSUERS', `${where} must be an object`);
    const o = item as Record<string, unknown>;
    const isHttps = (v: unknown) => typeof v === 'string' && /^https:\/\/[^\s]+$/.test(v);
    if (!isHttps(o.issuer)) bad('JWT_ISSUERS', `${where}.issuer must be an https URL`);
    const hasUri = o.jwksUri !== undefined;
    const hasJwks = o.jwks !== undefined;
    if (hasUri === hasJwks) bad('JWT_ISSUERS', `${where} needs exactly one of jwksUri, jwks`);
    if (hasUri && !isHttps(o.jwksUri)) bad('JWT_ISSUERS', `${where}.jwksUri must be an https URL`);
    const jwks = o.jwks as { keys?: unknown } | undefined;
    if (hasJwks && (typeof jwks !== 'object' || jwks === null || !Array.isArray(jwks.keys))) bad('JWT_ISSUERS', `${where}.jwks must be a JWK set`);
    const audOk = (typeof o.audience === 'string' && o.audience !== '') || (Array.isArray(o.audience) && o.audience.length > 0 && o.audience.every((a) => typeof a === 'string' && a !== ''));
    if (!audOk) bad('JWT_ISSUERS', `${where}.audience is required`);
    const claim = o.machineIdClaim ?? 'sub';
    if (typeof claim !== 'string' || claim === '') bad('JWT_ISSUERS', `${where}.machineIdClaim must be a claim name`);
    const algs = o.algorithms ?? DEFAULT_JWT_ALGORITHMS;
    if (!Array.isArray(algs) || algs.length === 0 || !algs.every((a) => ALLOWED_JWT_ALGORITHMS.has(a as string))) {
      bad('JWT_ISSUERS', `${where}.algorithms must be asymmetric JWS algorithms`);
    }
    out.push(Object.freeze({
      issuer: o.issuer as string,
      jwksUri: hasUri ? (o.jwksUri as string) : null,
      jwks: hasJwks ? (jwks as { keys: unknown[] }) : null,
      audience: o.audience as string | string[],
      machineIdClaim: claim as string,
      algorithms: Object.freeze([...(algs as string[])]),
    }));
  });
  return Object.freeze(out);
}
