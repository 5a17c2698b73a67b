// Response bodies, one schema each: they type what the routes answer (presentMachine & co.) and
// describe it in the OpenAPI document; the integration tests check real answers against that
// document. Strict objects: a field added or renamed on the server must be added here too.
import * as v from 'valibot';
import type { ErrorCode } from '../errors.ts';
import { RFC3339_EXAMPLE, Timestamp } from './fields.ts';

const str = (example: string) => v.pipe(v.string(), v.metadata({ examples: [example] }));
const nullableTime = v.nullable(Timestamp);

export const MACHINE_PHASES = ['registered', 'enrolled', 'joined', 'join_expired', 'revoked'] as const;

export const Machine = v.pipe(
  v.strictObject({
    id: str('edge-0042'),
    groups: v.nullable(v.array(v.string())),
    labels: v.record(v.string(), v.string()),
    tokenTtl: v.nullable(str('10m0s')),
    hasEnrollmentCode: v.boolean(),
    enrollmentCodeUsed: v.boolean(),
    enrollmentCodeExpiresAt: nullableTime,
    jwtSubject: v.nullable(v.string()),
    ekPublicKeySha256: v.nullable(v.string()),
    certificateSha256: v.nullable(v.string()),
    revoked: v.boolean(),
    revokedAt: nullableTime,
    createdAt: Timestamp,
    updatedAt: Timestamp,
    liveToken: v.nullable(v.strictObject({ id: str('k7x2qa'), expiresAt: nullableTime, method: str('tpm') })),
    lastEnrolledAt: nullableTime,
    state: v.picklist(MACHINE_PHASES),
    node: v.nullable(v.strictObject({ name: str('edge-0042'), uid: v.string(), joinedAt: nullableTime })),
  }),
  v.metadata({
    examples: [
      {
        id: 'edge-0042', groups: null, labels: { site: 'berlin-3' }, tokenTtl: null, hasEnrollmentCode: true, enrollmentCodeUsed: false, enrollmentCodeExpiresAt: '2026-12-08T12:00:00Z',
        jwtSubject: null, ekPublicKeySha256: null, certificateSha256: null, revoked: false, revokedAt: null, createdAt: RFC3339_EXAMPLE, updatedAt: RFC3339_EXAMPLE,
        liveToken: null, lastEnrolledAt: null, state: 'registered', node: null,
      },
    ],
  }),
);
export type MachineResponse = v.InferOutput<typeof Machine>;

export const MachineList = v.pipe(v.strictObject({ items: v.array(Machine), next: v.nullable(v.string()) }), v.metadata({ examples: [{ items: [], next: null }] }));
export const MachineRevoked = v.strictObject({ ...Machine.pipe[0].entries, deletedTokens: v.array(v.string()) });

export const EnrollResult = v.pipe(
  v.strictObject({ token: v.pipe(v.string(), v.metadata({ description: 'the K10 secure join token (a secret: shown once)' })), server: v.string(), machineId: v.string(), tokenId: v.string(), expiresAt: nullableTime }),
  v.metadata({ examples: [{ token: 'K10…::k7x2qa.0123456789abcdef', server: 'https://k3s.example:6443', machineId: 'edge-0042', tokenId: 'k7x2qa', expiresAt: '2026-12-01T12:10:00Z' }] }),
);

export const TpmChallenge = v.strictObject({ challengeId: v.string(), expiresAt: Timestamp, credentialBlob: v.string(), encryptedSecret: v.string(), tpm2ToolsCredential: v.string(), nonce: v.string() });
export const X509Challenge = v.strictObject({ challengeId: v.string(), nonce: v.string(), expiresAt: Timestamp });
export const ChallengeResult = v.pipe(
  v.union([TpmChallenge, X509Challenge]),
  v.metadata({ examples: [{ challengeId: '3f1c7e0a-2b4d-4e5f-9a8b-7c6d5e4f3a2b', nonce: '5d41402abc4b2a76b9719d911017c5925d41402abc4b2a76b9719d911017c592', expiresAt: '2026-12-01T12:05:00Z' }] }),
);

export const TokenCreated = v.pipe(
  v.strictObject({ token: v.string(), id: v.string(), expiresAt: nullableTime }),
  v.metadata({ examples: [{ token: 'K10…::k7x2qa.0123456789abcdef', id: 'k7x2qa', expiresAt: '2026-12-02T12:00:00Z' }] }),
);
export type TokenCreatedResponse = v.InferOutput<typeof TokenCreated>;

export const TokenListItem = v.strictObject({ id: v.string(), description: v.string(), expires: nullableTime, ttl: v.string(), usages: v.array(v.string()), groups: v.array(v.string()) });
export type TokenListItemResponse = v.InferOutput<typeof TokenListItem>;
export const TokenList = v.pipe(
  v.strictObject({ items: v.array(TokenListItem) }),
  v.metadata({ examples: [{ items: [{ id: 'k7x2qa', description: 'rack 7 agents', expires: '2026-12-02T12:00:00Z', ttl: '23h', usages: ['signing', 'authentication'], groups: ['system:bootstrappers:k3s:default-node-token'] }] }] }),
);
export const TokenDeleted = v.pipe(v.strictObject({ id: v.string(), message: v.string() }), v.metadata({ examples: [{ id: 'k7x2qa', message: 'bootstrap token "k7x2qa" deleted' }] }));
export const TokenGenerated = v.pipe(v.strictObject({ token: v.string() }), v.metadata({ examples: [{ token: 'k7x2qa.0123456789abcdef' }] }));
export const ServerTokenRotated = v.pipe(
  v.strictObject({ message: v.string(), restart: v.string() }),
  v.metadata({ examples: [{ message: 'Token rotated, restart k3s nodes with new token', restart: 'every k3s server, and every agent that joined with the server token' }] }),
);

export const FleetEventResult = v.pipe(
  v.union([
    v.strictObject({ id: v.string(), applied: v.literal(false), duplicate: v.literal(true) }),
    v.strictObject({ id: v.string(), applied: v.boolean(), stale: v.optional(v.literal(true)), machine: v.nullable(Machine), enrollmentCode: v.optional(v.pipe(v.string(), v.metadata({ description: 'the generated one-time code, returned once' }))) }),
  ]),
  v.metadata({ examples: [{ id: 'evt-2026-12-01-0001', applied: false, duplicate: true }] }),
);

export const NodeListing = v.strictObject({ name: v.string(), uid: v.string(), machineId: v.nullable(v.string()), attested: v.boolean(), quarantined: v.boolean(), createdAt: nullableTime });
export const NodeList = v.pipe(v.strictObject({ items: v.array(NodeListing) }), v.metadata({ examples: [{ items: [{ name: 'edge-0042', uid: '6f1e…', machineId: 'edge-0042', attested: true, quarantined: false, createdAt: RFC3339_EXAMPLE }] }] }));
export const ReconcileSummary = v.pipe(
  v.strictObject({
    nodes: v.number(), accounted: v.number(), unaccounted: v.number(), joined: v.number(), labelled: v.number(), quarantined: v.number(), released: v.number(), errors: v.number(), unaccountedNodes: v.array(v.string()),
  }),
  v.metadata({ examples: [{ nodes: 3, accounted: 2, unaccounted: 1, joined: 0, labelled: 0, quarantined: 1, released: 0, errors: 0, unaccountedNodes: ['mystery-node'] }] }),
);

const nullableString = v.nullable(v.string());
export const AuditRecord = v.strictObject({
  seq: v.number(), at: Timestamp, event: v.string(), outcome: v.picklist(['success', 'failure']), machineId: nullableString, method: nullableString, code: nullableString,
  reason: nullableString, tokenId: nullableString, requestId: nullableString, actor: nullableString, clientIp: nullableString,
});
export const AuditList = v.strictObject({ items: v.array(AuditRecord) });

export const Health = v.pipe(v.strictObject({ ok: v.literal(true) }), v.metadata({ examples: [{ ok: true }] }));

/** RFC 9457 problem details; `code` is the stable machine-readable part. Extensions (`hint`, `variables`) may follow. */
export const problemSchema = (codes: readonly ErrorCode[]) =>
  v.looseObject({
    type: str('urn:k3s-enroll:problem:invalid_request'),
    title: v.string(),
    status: v.pipe(v.number(), v.integer()),
    code: v.picklist(codes),
    detail: v.optional(str('labels.site: label "site" is not a valid Kubernetes label')),
    request_id: v.string(),
  });
