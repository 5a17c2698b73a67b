// parseMachineRegistration: the body of `PUT /v1/machines/{id}` (and a fleet webhook's
// `machine`) → a MachineRegistration with secrets hashed. Strict: unknown fields are refused so a
// typo cannot silently register a machine without the identity the operator meant to set.
import { hashEnrollmentCode, parseEnrollmentCode } from '../attest/code.ts';
import { parseMachineId } from '../attest/evidence.ts';
import { AppError } from '../errors.ts';
import { parseDuration, parseRfc3339, TokenError, validateTokenGroups } from '../token/index.ts';
import type { MachineRegistration } from './machine-state.ts';

export const ENROLLMENT_CODE_TTL_DEFAULT_MS = 7 * 24 * 3600_000;
const KNOWN_FIELDS = new Set(['id', 'enrollmentCode', 'enrollmentCodeExpiresAt', 'jwtSubject', 'ekPublicKeySha256', 'certificateSha256', 'groups', 'labels', 'tokenTtl']);
const HEX64 = /^[0-9a-f]{64}$/;
/** `<iss>|<sub>`: a non-empty issuer without `|`, then a non-empty subject. */
export const JWT_SUBJECT = /^[^|]+\|.+$/s;
const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;
const MAX_LABELS = 32;
const MAX_GROUPS = 16;

export function parseMachineRegistration(pathId: string, body: Readonly<Record<string, unknown>>, now: Date): MachineRegistration {
  const id = parseMachineId(pathId, 'machine id');
  const bad = (msg: string): never => {
    throw new AppError('invalid_request', msg);
  };
  for (const k of Object.keys(body)) if (!KNOWN_FIELDS.has(k)) bad(`unknown field "${k.slice(0, 64)}"`);
  if (body.id !== undefined && body.id !== id) bad('id in the body must match the path');

  let enrollmentCodeSha256: string | null = null;
  let enrollmentCodeExpiresAt: number | null = null;
  if (body.enrollmentCode !== undefined) {
    enrollmentCodeSha256 = hashEnrollmentCode(parseEnrollmentCode(body.enrollmentCode, 'enrollmentCode'));
    enrollmentCodeExpiresAt = now.getTime() + ENROLLMENT_CODE_TTL_DEFAULT_MS;
    if (body.enrollmentCodeExpiresAt !== undefined) {
      const t = parseRfc3339(body.enrollmentCodeExpiresAt);
      if (t === null || t <= now.getTime()) bad('enrollmentCodeExpiresAt must be an RFC 3339 time in the future');
      enrollmentCodeExpiresAt = t;
    }
  } else if (body.enrollmentCodeExpiresAt !== undefined) {
    bad('enrollmentCodeExpiresAt needs enrollmentCode');
  }

  const optString = (field: string, max: number): string | null => {
    const v = body[field];
    if (v === undefined) return null;
    if (typeof v !== 'string' || v.length === 0 || v.length > max || /[\u0000-\u001f\u007f]/.test(v)) bad(`${field} must be a non-empty string of at most ${max} characters`);
    return v as string;
  };
  const jwtSubject = optString('jwtSubject', 512);
  // Issuer-scoped only: a bare subject would match the same `sub` from every configured issuer.
  if (jwtSubject !== null && !JWT_SUBJECT.test(jwtSubject)) bad('jwtSubject must be "<iss>|<sub>": the issuer exactly as in JWT_ISSUERS, "|", then the token\'s sub');
  const ekPublicKeySha256 = optString('ekPublicKeySha256', 64);
  if (ekPublicKeySha256 !== null && !HEX64.test(ekPublicKeySha256)) bad('ekPublicKeySha256 must be 64 lowercase hex characters');
  const certificateSha256 = optString('certificateSha256', 64);
  if (certificateSha256 !== null && !HEX64.test(certificateSha256)) bad('certificateSha256 must be 64 lowercase hex characters');

  let groups: string[] | null = null;
  if (body.groups !== undefined) {
    if (!Array.isArray(body.groups) || body.groups.length > MAX_GROUPS) bad(`groups must be a list of at most ${MAX_GROUPS} groups`);
    try {
      groups = validateTokenGroups(body.groups as string[]);
    } catch (err) {
      if (err instanceof TokenError) bad(err.message);
      throw err;
    }
  }

  const labels: Record<string, string> = {};
  if (body.labels !== undefined) {
    const l = body.labels;
    if (typeof l !== 'object' || l === null || Array.isArray(l) || Object.keys(l).length > MAX_LABELS) bad(`labels must be an object of at most ${MAX_LABELS} string values`);
    for (const [k, v] of Object.entries(l as Record<string, unknown>)) {
      if (k.length > 317 || !LABEL_KEY.test(k) || typeof v !== 'string' || !LABEL_VALUE.test(v)) bad(`label "${k.slice(0, 64)}" is not a valid Kubernetes label`);
      labels[k] = v as string;
    }
  }

  let tokenTtlSeconds: number | null = null;
  if (body.tokenTtl !== undefined) {
    let ms = Number.NaN;
    try {
      ms = parseDuration(body.tokenTtl);
    } catch {
      /* reported below */
    }
    if (!(ms >= 60_000 && ms <= 86_400_000)) bad('tokenTtl must be a Go duration between 1m and 24h');
    tokenTtlSeconds = Math.floor(ms / 1000);
  }

  return { id, enrollmentCodeSha256, enrollmentCodeExpiresAt, jwtSubject, ekPublicKeySha256, certificateSha256, groups, labels, tokenTtlSeconds };
}
