// parseMachineRegistration: the body of `PUT /v1/machines/{id}` (and a fleet webhook's
// `machine`) → a MachineRegistration with secrets hashed. The fields' rules are the schema's
// (src/schemas: strict, unknown fields refused so a typo cannot silently register a machine
// without the identity the operator meant to set); what needs the path or the clock is checked here.
import { hashEnrollmentCode } from '../attest/code.ts';
import { parseMachineId } from '../attest/evidence.ts';
import { AppError } from '../errors.ts';
import { MachineRegistrationBody, parseWith, type MachineRegistrationInput } from '../schemas/index.ts';
import { parseDuration, parseRfc3339, validateTokenGroups } from '../token/index.ts';
import type { MachineRegistration } from './machine-state.ts';

export { JWT_SUBJECT } from '../schemas/index.ts';
export const ENROLLMENT_CODE_TTL_DEFAULT_MS = 7 * 24 * 3600_000;

export function parseMachineRegistration(pathId: string, body: unknown, now: Date): MachineRegistration {
  const id = parseMachineId(pathId, 'machine id');
  return buildMachineRegistration(id, parseWith(MachineRegistrationBody, body), now);
}

/**
 * A parsed registration body → the stored registration: the path's id must match, a code's
 * expiry must be in the future. `prefix` names where the body sat (`machine.` in a webhook).
 */
export function buildMachineRegistration(id: string, body: MachineRegistrationInput, now: Date, prefix = ''): MachineRegistration {
  const bad = (msg: string): never => {
    throw new AppError('invalid_request', `${prefix}${msg}`);
  };
  if (body.id !== undefined && body.id !== id) bad('id: must match the path');
  let enrollmentCodeSha256: string | null = null;
  let enrollmentCodeExpiresAt: number | null = null;
  if (body.enrollmentCode !== undefined) {
    enrollmentCodeSha256 = hashEnrollmentCode(body.enrollmentCode);
    enrollmentCodeExpiresAt = now.getTime() + ENROLLMENT_CODE_TTL_DEFAULT_MS;
    if (body.enrollmentCodeExpiresAt !== undefined) {
      const t = parseRfc3339(body.enrollmentCodeExpiresAt)!;
      if (t <= now.getTime()) bad('enrollmentCodeExpiresAt: must be an RFC 3339 time in the future');
      enrollmentCodeExpiresAt = t;
    }
  }
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(body.labels ?? {})) labels[k] = v;
  return {
    id,
    enrollmentCodeSha256,
    enrollmentCodeExpiresAt,
    jwtSubject: body.jwtSubject ?? null,
    ekPublicKeySha256: body.ekPublicKeySha256 ?? null,
    certificateSha256: body.certificateSha256 ?? null,
    groups: body.groups === undefined ? null : validateTokenGroups(body.groups), // duplicates dropped, order kept
    labels,
    tokenTtlSeconds: body.tokenTtl === undefined ? null : Math.floor(parseDuration(body.tokenTtl) / 1000),
  };
}
