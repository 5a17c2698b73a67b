// Field schemas shared by requests and responses: each format rule is the existing pattern
// constant or pure parser (token/, attest/), called from here, never restated. `v.metadata` only
// tells the OpenAPI document what a refinement checks; it validates nothing.
import * as v from 'valibot';
import { ENROLLMENT_CODE_MAX_LENGTH, ENROLLMENT_CODE_MIN_LENGTH, parseEnrollmentCode } from '../attest/code.ts';
import { CHALLENGE_ID_PATTERN, MACHINE_ID_PATTERN } from '../attest/evidence.ts';
import { AppError } from '../errors.ts';
import { BOOTSTRAP_GROUP_PATTERN, BOOTSTRAP_TOKEN_PATTERN, KNOWN_TOKEN_USAGES, parseBootstrapToken, parseDuration, parseRfc3339, validateTokenGroups, validateTokenUsages } from '../token/index.ts';
import { parsedBy } from './parse.ts';

export const MAX_LABELS = 32;
export const MAX_GROUPS = 16;
const LABEL_KEY_MAX_LENGTH = 317;
export const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
export const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;
/** `<iss>|<sub>`: a non-empty issuer without `|`, then a non-empty subject. */
export const JWT_SUBJECT = /^[^|]+\|.+$/s;
const HEX64 = /^[0-9a-f]{64}$/;
const CONTROL = /[\u0000-\u001f\u007f]/;
const PRINTABLE_ID = /^[\x21-\x7e]{1,200}$/;
export const RFC3339_EXAMPLE = '2026-12-01T12:00:00Z';

const MACHINE_ID_MESSAGE = 'must match [a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?';
export const MachineId = v.pipe(v.string(MACHINE_ID_MESSAGE), v.regex(MACHINE_ID_PATTERN, MACHINE_ID_MESSAGE), v.metadata({ examples: ['edge-0042'] }));

export const ChallengeId = v.pipe(v.string('is malformed'), v.regex(CHALLENGE_ID_PATTERN, 'is malformed'), v.metadata({ examples: ['3f1c7e0a-2b4d-4e5f-9a8b-7c6d5e4f3a2b'] }));

/** RFC 3339 as Go's time.Parse(time.RFC3339) reads it (token/rfc3339.ts). */
export const Rfc3339 = (message = 'must be an RFC 3339 time') =>
  v.pipe(v.string(message), v.check((s) => parseRfc3339(s) !== null, message), v.metadata({ format: 'date-time', examples: [RFC3339_EXAMPLE] }));

/** A time this service wrote (formatExpiration / toISOString). */
export const Timestamp = v.pipe(v.string(), v.metadata({ format: 'date-time', examples: [RFC3339_EXAMPLE] }));

const ENROLLMENT_CODE_MESSAGE = `must be ${ENROLLMENT_CODE_MIN_LENGTH}–${ENROLLMENT_CODE_MAX_LENGTH} printable ASCII characters`;
/** A one-time enrollment code (a secret: its value is never in a message). */
export const EnrollmentCode = v.pipe(
  v.string(ENROLLMENT_CODE_MESSAGE),
  parsedBy<string>(parseEnrollmentCode, ENROLLMENT_CODE_MESSAGE),
  v.metadata({ minLength: ENROLLMENT_CODE_MIN_LENGTH, maxLength: ENROLLMENT_CODE_MAX_LENGTH, pattern: '^[\\x21-\\x7e]+$', writeOnly: true, examples: ['code-0123456789abcdef'] }),
);

export const Hex64 = (what: string) => v.pipe(v.string(`must be ${what}`), v.regex(HEX64, `must be ${what}`), v.metadata({ examples: ['9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'] }));

export const JwtSubject = v.pipe(
  v.string('must be a non-empty string of at most 512 characters'),
  v.minLength(1, 'must be a non-empty string of at most 512 characters'),
  v.maxLength(512, 'must be a non-empty string of at most 512 characters'),
  v.check((s) => !CONTROL.test(s), 'must be a non-empty string of at most 512 characters'),
  // Issuer-scoped only: a bare subject would match the same `sub` from every configured issuer.
  v.check((s) => JWT_SUBJECT.test(s), 'must be "<iss>|<sub>": the issuer exactly as in JWT_ISSUERS, "|", then the token\'s sub'),
  v.metadata({ pattern: '^[^|]+\\|[\\s\\S]+$', examples: ['https://idp.example|device-42'] }),
);

/** Bootstrap-token groups, each as the authenticator requires (token/bootstrap-secret.ts). */
export const TokenGroups = (max = MAX_GROUPS, message = `must be a list of at most ${max} groups`) =>
  v.pipe(
    v.array(v.string(message), message),
    v.maxLength(max, message),
    parsedBy<string[]>(validateTokenGroups),
    v.metadata({ items: { type: 'string', pattern: BOOTSTRAP_GROUP_PATTERN.source }, examples: [['system:bootstrappers:k3s:default-node-token']] }),
  );

export const TokenUsages = v.pipe(
  v.array(v.string('must be a list of strings'), 'must be a list of strings'),
  v.maxLength(16, 'must be a list of strings'),
  parsedBy<string[]>(validateTokenUsages),
  v.metadata({ items: { type: 'string', enum: [...KNOWN_TOKEN_USAGES] }, examples: [['signing', 'authentication']] }),
);

/** A Go duration (time.ParseDuration) within [min, max] ms, or any when unbounded. */
export const GoDuration = (bounds: { minMs: number; maxMs: number; message: string } | null) =>
  v.pipe(
    v.string(bounds?.message ?? 'duration must be a string'),
    bounds
      ? parsedBy<string>((s) => {
          const ms = parseDuration(s);
          if (!(ms >= bounds.minMs && ms <= bounds.maxMs)) throw new AppError('invalid_request', bounds.message);
        }, bounds.message)
      : parsedBy<string>(parseDuration),
    v.metadata({ pattern: '^[-+]?(0|([0-9]*(\\.[0-9]*)?(ns|us|µs|μs|ms|s|m|h))+)$', examples: ['10m'] }),
  );

/** `<id>.<secret>` as the API server's authenticator matches a bearer (a secret: never echoed). */
export const BootstrapTokenString = v.pipe(
  v.string('bootstrap token must be a string'),
  parsedBy<string>(parseBootstrapToken),
  v.metadata({ pattern: BOOTSTRAP_TOKEN_PATTERN.source.replace('\\A', '^').replace('\\z', '$'), writeOnly: true, examples: ['abcdef.0123456789abcdef'] }),
);

const LABELS_MESSAGE = `must be an object of at most ${MAX_LABELS} string values`;
/**
 * Kubernetes labels. Own keys only, every key checked (a record schema would skip `constructor`
 * and `__proto__` silently); the output is the input object, to be copied entry by entry.
 */
export const Labels = v.pipe(
  v.unknown(),
  v.check((x) => typeof x === 'object' && x !== null && !Array.isArray(x) && Object.keys(x).length <= MAX_LABELS, LABELS_MESSAGE),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const labels = dataset.value as Record<string, unknown>;
    for (const [k, value] of Object.entries(labels)) {
      if (k.length > LABEL_KEY_MAX_LENGTH || !LABEL_KEY.test(k) || typeof value !== 'string' || !LABEL_VALUE.test(value)) {
        addIssue({ message: `label "${k.slice(0, 64)}" is not a valid Kubernetes label`, path: [{ type: 'object', origin: 'value', input: labels, key: k, value }] });
        return;
      }
    }
  }),
  v.metadata({
    type: 'object',
    maxProperties: MAX_LABELS,
    propertyNames: { maxLength: LABEL_KEY_MAX_LENGTH, pattern: LABEL_KEY.source },
    additionalProperties: { type: 'string', pattern: LABEL_VALUE.source },
    examples: [{ site: 'berlin-3', 'topology.kubernetes.io/zone': 'rack-7' }],
  }),
  // Checked above; the value is the input object itself (never a copy that dropped a key).
  v.transform((x) => x as Readonly<Record<string, string>>),
);

/** A fleet event id: 1–200 printable ASCII characters. */
export const EventId = v.pipe(v.string('must be 1–200 printable characters'), v.regex(PRINTABLE_ID, 'must be 1–200 printable characters'), v.metadata({ examples: ['evt-2026-12-01-0001'] }));

/** Base64 text of at most `maxChars` characters; decoding and meaning stay with the attest parsers. */
export const Base64 = (maxChars: number, message: string) => v.pipe(v.string(message), v.minLength(1, message), v.maxLength(maxChars, message), v.metadata({ contentEncoding: 'base64' }));
