// Request bodies and queries, one schema each: they validate (parseWith), type the use cases and
// produce the OpenAPI document. Strict where the hand-written checks were (registration, token
// create: unknown fields refused); loose where they were (machine-facing bodies, rotate, the
// webhook envelope: unknown fields ignored). Rules needing the clock or the path stay in the use case.
import * as v from 'valibot';
import { JWT_MAX_LENGTH } from '../attest/jwt.ts';
import { Base64, BootstrapTokenString, ChallengeId, EnrollmentCode, EventId, GoDuration, Hex64, JwtSubject, Labels, MachineId, Rfc3339, TokenGroups, TokenUsages } from './fields.ts';

export const ENROLL_METHODS = ['code', 'jwt', 'tpm', 'x509'] as const;
export const FLEET_EVENT_TYPES = ['machine.registered', 'machine.revoked'] as const;
export const TOKEN_TTL_MIN_MS = 60_000;
export const TOKEN_TTL_MAX_MS = 86_400_000;

const registrationEntries = {
  id: v.optional(MachineId),
  enrollmentCode: v.optional(EnrollmentCode),
  enrollmentCodeExpiresAt: v.optional(Rfc3339('must be an RFC 3339 time in the future')),
  jwtSubject: v.optional(JwtSubject),
  ekPublicKeySha256: v.optional(Hex64('64 lowercase hex characters')),
  certificateSha256: v.optional(Hex64('64 lowercase hex characters')),
  groups: v.optional(TokenGroups()),
  labels: v.optional(Labels),
  tokenTtl: v.optional(GoDuration({ minMs: TOKEN_TTL_MIN_MS, maxMs: TOKEN_TTL_MAX_MS, message: 'must be a Go duration between 1m and 24h' })),
};

/** `enrollmentCodeExpiresAt` only with a code (the expiry of nothing is a mistake). */
const codeNeedsExpiry = <T extends { enrollmentCode?: string; enrollmentCodeExpiresAt?: string }>() =>
  v.rawCheck<T>(({ dataset, addIssue }) => {
    if (dataset.typed && dataset.value.enrollmentCodeExpiresAt !== undefined && dataset.value.enrollmentCode === undefined) {
      addIssue({ message: 'needs enrollmentCode', path: [{ type: 'object', origin: 'value', input: dataset.value, key: 'enrollmentCodeExpiresAt', value: dataset.value.enrollmentCodeExpiresAt }] });
    }
  });

/** `PUT /v1/machines/{id}`: every field optional; the path names the machine. */
export const MachineRegistrationBody = v.pipe(
  v.strictObject(registrationEntries),
  codeNeedsExpiry(),
  v.metadata({
    dependentRequired: { enrollmentCodeExpiresAt: ['enrollmentCode'] },
    examples: [{ enrollmentCode: 'code-0123456789abcdef', labels: { site: 'berlin-3' }, groups: ['system:bootstrappers:k3s:default-node-token'], tokenTtl: '10m' }],
  }),
);
export type MachineRegistrationInput = v.InferOutput<typeof MachineRegistrationBody>;

/** A fleet webhook's `machine` for `machine.registered`: a registration, its id required; `"generate"` asks for a code. */
export const FleetMachine = v.pipe(
  v.strictObject({ ...registrationEntries, id: MachineId, enrollmentCode: v.optional(v.union([v.literal('generate'), EnrollmentCode])) }),
  codeNeedsExpiry(),
  v.metadata({ dependentRequired: { enrollmentCodeExpiresAt: ['enrollmentCode'] } }),
);

const fleetEnvelope = { id: EventId, occurredAt: v.optional(Rfc3339()) };
/** Checked before the type, as the event id names the event in every answer. */
export const FleetEventId = v.looseObject({ id: EventId });
export const FleetEvent = v.pipe(
  v.variant(
    'type',
    [
      v.looseObject({ ...fleetEnvelope, type: v.literal('machine.registered'), machine: FleetMachine }),
      v.looseObject({ ...fleetEnvelope, type: v.literal('machine.revoked'), machine: v.looseObject({ id: MachineId }) }),
    ],
    `unknown event type; expected one of ${FLEET_EVENT_TYPES.join(', ')}`,
  ),
  v.metadata({ examples: [{ id: 'evt-2026-12-01-0001', type: 'machine.registered', occurredAt: '2026-12-01T12:00:00Z', machine: { id: 'edge-0042', enrollmentCode: 'generate', labels: { site: 'berlin-3' } } }] }),
);
export type FleetEventInput = v.InferOutput<typeof FleetEvent>;

// Machine-facing bodies: the shape and limits here; decoding and verification stay in src/attest.
const SECRET_MESSAGE = 'must be the base64 of the activated credential';
const jwtMessage = `must be a compact JWS of at most ${JWT_MAX_LENGTH} characters`;
const EnrollCode = v.looseObject({ method: v.literal('code'), machineId: MachineId, code: EnrollmentCode });
const EnrollJwt = v.looseObject({ method: v.literal('jwt'), jwt: v.pipe(v.string(jwtMessage), v.minLength(1, jwtMessage), v.maxLength(JWT_MAX_LENGTH, jwtMessage), v.metadata({ writeOnly: true })) });
const EnrollTpm = v.looseObject({
  method: v.literal('tpm'),
  challengeId: ChallengeId,
  secret: v.pipe(Base64(128, SECRET_MESSAGE), v.metadata({ writeOnly: true })),
  // Read only under a PCR policy (TPM_PCR_POLICY); its absence is then an attestation failure.
  quote: v.optional(v.pipe(v.unknown(), v.metadata({ type: 'object', description: 'tpm2_quote -m / -s output, base64 (required when the service enforces a PCR policy)', properties: { message: { type: 'string', contentEncoding: 'base64', maxLength: 2048 }, signature: { type: 'string', contentEncoding: 'base64', maxLength: 2048 } } }))),
  akPublic: v.optional(v.pipe(v.unknown(), v.metadata({ type: 'string', contentEncoding: 'base64', maxLength: 2048, description: 'the AK (TPM2B_PUBLIC), with a quote' }))),
});
const X509_CERT_MESSAGE = 'must be the base64 DER of the device certificate';
const X509_CHAIN_MESSAGE = 'must be a list of at most 4 base64 DER certificates';
const x509Chain = v.optional(v.pipe(v.array(v.pipe(v.string(X509_CHAIN_MESSAGE), v.maxLength(8192, X509_CHAIN_MESSAGE)), X509_CHAIN_MESSAGE), v.maxLength(4, X509_CHAIN_MESSAGE)));
const EnrollX509 = v.looseObject({
  method: v.literal('x509'),
  challengeId: ChallengeId,
  signature: Base64(1024, 'must be base64'),
  certificate: Base64(8192, X509_CERT_MESSAGE),
  chain: x509Chain,
});

const methodMessage = (methods: readonly string[]) => `must be one of: ${methods.join(', ')}`;

/** `POST /v1/enroll`: which evidence, by `method`. Whether a method is enabled is configuration. */
export const EnrollBody = v.pipe(
  v.variant('method', [EnrollCode, EnrollJwt, EnrollTpm, EnrollX509], methodMessage(ENROLL_METHODS)),
  v.metadata({ examples: [{ method: 'code', machineId: 'edge-0042', code: 'code-0123456789abcdef' }] }),
);
export type EnrollInput = v.InferOutput<typeof EnrollBody>;

const TpmChallengeRequest = v.pipe(
  v.looseObject({
    method: v.literal('tpm'),
    akPublic: Base64(2048, 'must be base64 of at most 1536 bytes'),
    ekCert: v.optional(Base64(8192, 'must be base64 of at most 6144 bytes')),
    ekPub: v.optional(v.pipe(v.string('must be a PEM public key'), v.maxLength(4096, 'must be a PEM public key'))),
  }),
  // Enforced by the challenge itself (src/attest/tpm/challenge.ts), documented here.
  v.metadata({ oneOf: [{ properties: { ekCert: { type: 'string' } }, required: ['ekCert'] }, { properties: { ekPub: { type: 'string' } }, required: ['ekPub'] }] }),
);
const X509ChallengeRequest = v.looseObject({ method: v.literal('x509'), machineId: MachineId, certificate: Base64(8192, X509_CERT_MESSAGE), chain: x509Chain });

/** `POST /v1/enroll/challenge`: a TPM credential challenge or a device-certificate nonce. */
export const ChallengeBody = v.pipe(v.variant('method', [TpmChallengeRequest, X509ChallengeRequest], methodMessage(['tpm', 'x509'])), v.metadata({ examples: [{ method: 'tpm', akPublic: 'ARgAAQALAAUAcgAAABAAFAALCAAAAAAAAQ==', ekPub: '-----BEGIN PUBLIC KEY-----\n…\n-----END PUBLIC KEY-----\n' }] }));
export type ChallengeInput = v.InferOutput<typeof ChallengeBody>;

/** `POST /v1/tokens` (= `k3s token create`); defaults as k3s's. */
export const TokenCreateBody = v.pipe(
  v.strictObject({
    token: v.optional(BootstrapTokenString),
    ttl: v.optional(v.pipe(GoDuration(null), v.metadata({ default: '24h', description: "0 (or less): the token never expires" }))),
    description: v.optional(v.string('must be a string')),
    groups: v.optional(v.pipe(TokenGroups(16, 'must be a list of strings'), v.metadata({ default: ['system:bootstrappers:k3s:default-node-token'] }))),
    usages: v.optional(v.pipe(TokenUsages, v.metadata({ default: ['signing', 'authentication'] }))),
  }),
  v.metadata({ examples: [{ ttl: '2h', description: 'rack 7 agents' }] }),
);
export type TokenCreateInput = v.InferOutput<typeof TokenCreateBody>;
/** Failures of these fields answer with this code instead of invalid_request. */
export const TOKEN_CREATE_CODES = { token: 'invalid_token' } as const;

const ROTATE_MESSAGE = 'token (the current server token) is required';
/** `POST /v1/server-token/rotate` (= `k3s token rotate`). */
export const ServerTokenRotateBody = v.pipe(
  v.looseObject({
    token: v.pipe(v.string(ROTATE_MESSAGE), v.minLength(1, ROTATE_MESSAGE), v.metadata({ writeOnly: true })),
    newToken: v.optional(v.pipe(v.string('must be a string'), v.metadata({ writeOnly: true, description: 'empty or absent: k3s generates one' }))),
  }),
  v.metadata({ examples: [{ token: 'K10…::server:old-server-password', newToken: 'new-server-password' }] }),
);
export type ServerTokenRotateInput = v.InferOutput<typeof ServerTokenRotateBody>;

const limit = (max: number) => {
  const message = `must be an integer from 1 to ${max}`;
  return v.optional(v.pipe(v.string(message), v.regex(/^\d+$/, message), v.check((s) => Number(s) >= 1 && Number(s) <= max, message)), '100');
};
/** `GET /v1/machines?limit&after`. */
export const MachineListQuery = v.object({ limit: limit(1000), after: v.optional(MachineId) });
/** `GET /v1/audit?limit&since`. */
export const AuditQuery = v.object({ limit: limit(500), since: v.optional(Rfc3339()) });
