// The OpenAPI 3.1 document of every route, built from the same valibot schemas that validate the
// requests (src/schemas), once per isolate at the first `GET /openapi.json`. The table below says
// only what a schema cannot: the path, who may call it, and which problem codes it can answer.
import { toJsonSchemaDefs, type ConversionConfig } from '@valibot/to-json-schema';
import type { GenericSchema } from 'valibot';
import type { ErrorCode } from '../errors.ts';
import * as S from '../schemas/index.ts';
import { PROBLEM_CONTENT_TYPE, PROBLEMS } from './problem.ts';

type Method = 'get' | 'post' | 'put' | 'delete';
type Security = 'none' | 'admin' | 'webhook' | 'dashboard';

export interface OperationSpec {
  readonly method: Method;
  /** OpenAPI path template (`/v1/machines/{id}`). */
  readonly path: string;
  readonly operationId: string;
  readonly summary: string;
  readonly tag: string;
  readonly security: Security;
  readonly body?: keyof typeof REQUEST_SCHEMAS | 'form';
  readonly query?: ReadonlyArray<{ name: string; description: string; schema: Record<string, unknown> }>;
  /** Status → response schema name, or 'html'/'css'/'js'/'redirect' for the dashboard. */
  readonly ok: Readonly<Record<number, keyof typeof RESPONSE_SCHEMAS | 'html' | 'css' | 'js' | 'redirect' | 'document'>>;
  readonly errors: readonly ErrorCode[];
}

const REQUEST_SCHEMAS = {
  MachineRegistration: S.MachineRegistrationBody,
  EnrollRequest: S.EnrollBody,
  ChallengeRequest: S.ChallengeBody,
  TokenCreateRequest: S.TokenCreateBody,
  ServerTokenRotateRequest: S.ServerTokenRotateBody,
  FleetEvent: S.FleetEvent,
} satisfies Record<string, GenericSchema>;

const RESPONSE_SCHEMAS = {
  Machine: S.Machine,
  MachineList: S.MachineList,
  MachineRevoked: S.MachineRevoked,
  EnrollResult: S.EnrollResult,
  ChallengeResult: S.ChallengeResult,
  TokenCreated: S.TokenCreated,
  TokenList: S.TokenList,
  TokenDeleted: S.TokenDeleted,
  TokenGenerated: S.TokenGenerated,
  ServerTokenRotated: S.ServerTokenRotated,
  FleetEventResult: S.FleetEventResult,
  NodeList: S.NodeList,
  ReconcileSummary: S.ReconcileSummary,
  AuditList: S.AuditList,
  Health: S.Health,
} satisfies Record<string, GenericSchema>;

// Codes every route can answer: a path that does not decode, a bad configuration, a bug.
const ANY: ErrorCode[] = ['invalid_request', 'misconfigured', 'internal'];
const BODY: ErrorCode[] = ['payload_too_large', 'unsupported_media_type'];
const ADMIN: ErrorCode[] = ['unauthorized', 'upstream_unavailable'];
const CLUSTER: ErrorCode[] = ['upstream_error', 'upstream_unavailable'];
const ENROLL: ErrorCode[] = ['rate_limited', 'attestation_rejected', 'machine_unknown', 'machine_revoked'];
const limitParam = (max: number) => ({ name: 'limit', description: `page size, 1–${max}`, schema: { type: 'string', pattern: '^\\d+$', default: '100' } });

export const OPERATIONS: readonly OperationSpec[] = [
  { method: 'get', path: '/healthz', operationId: 'health', summary: 'Liveness of this isolate with a valid configuration', tag: 'health', security: 'none', ok: { 200: 'Health' }, errors: ANY },
  { method: 'get', path: '/openapi.json', operationId: 'openapi', summary: 'This document', tag: 'health', security: 'none', ok: { 200: 'document' }, errors: ANY },
  {
    method: 'post', path: '/v1/enroll/challenge', operationId: 'enrollChallenge', summary: 'Open a TPM credential challenge or a device-certificate nonce', tag: 'enroll', security: 'none',
    body: 'ChallengeRequest', ok: { 201: 'ChallengeResult' }, errors: [...ANY, ...BODY, ...ENROLL],
  },
  {
    method: 'post', path: '/v1/enroll', operationId: 'enroll', summary: 'Enroll a machine: evidence in, the K10 join token out', tag: 'enroll', security: 'none',
    body: 'EnrollRequest', ok: { 201: 'EnrollResult' }, errors: [...ANY, ...BODY, ...ENROLL, 'code_used', 'conflict', 'cluster_busy', ...CLUSTER],
  },
  {
    method: 'get', path: '/v1/machines', operationId: 'listMachines', summary: 'One page of the fleet listing', tag: 'machines', security: 'admin',
    query: [limitParam(1000), { name: 'after', description: 'the `next` of the previous page', schema: { type: 'string' } }], ok: { 200: 'MachineList' }, errors: [...ANY, ...ADMIN],
  },
  {
    method: 'put', path: '/v1/machines/{id}', operationId: 'registerMachine', summary: 'Pre-register (201) or replace (200) a machine', tag: 'machines', security: 'admin',
    body: 'MachineRegistration', ok: { 200: 'Machine', 201: 'Machine' }, errors: [...ANY, ...BODY, ...ADMIN],
  },
  { method: 'get', path: '/v1/machines/{id}', operationId: 'getMachine', summary: 'One machine, from its own store', tag: 'machines', security: 'admin', ok: { 200: 'Machine' }, errors: [...ANY, ...ADMIN, 'machine_unknown'] },
  { method: 'delete', path: '/v1/machines/{id}', operationId: 'revokeMachine', summary: 'Revoke a machine and delete its live token now', tag: 'machines', security: 'admin', ok: { 200: 'MachineRevoked' }, errors: [...ANY, ...ADMIN, ...CLUSTER] },
  {
    method: 'get', path: '/v1/audit', operationId: 'listAudit', summary: 'Enrollment and admin events, newest first', tag: 'audit', security: 'admin',
    query: [limitParam(500), { name: 'since', description: 'RFC 3339: only events at or after', schema: { type: 'string', format: 'date-time' } }], ok: { 200: 'AuditList' }, errors: [...ANY, ...ADMIN],
  },
  { method: 'post', path: '/v1/tokens/generate', operationId: 'generateToken', summary: '`k3s token generate`: a random token, not stored', tag: 'tokens', security: 'admin', ok: { 200: 'TokenGenerated' }, errors: [...ANY, ...ADMIN] },
  { method: 'post', path: '/v1/tokens', operationId: 'createToken', summary: '`k3s token create`', tag: 'tokens', security: 'admin', body: 'TokenCreateRequest', ok: { 201: 'TokenCreated' }, errors: [...ANY, ...BODY, ...ADMIN, ...CLUSTER, 'invalid_token', 'conflict'] },
  { method: 'get', path: '/v1/tokens', operationId: 'listTokens', summary: '`k3s token list`', tag: 'tokens', security: 'admin', ok: { 200: 'TokenList' }, errors: [...ANY, ...ADMIN, ...CLUSTER] },
  {
    method: 'delete', path: '/v1/tokens/{token}', operationId: 'deleteToken', summary: '`k3s token delete`, by token id only (a full token in the path is refused, unlogged)', tag: 'tokens', security: 'admin',
    ok: { 200: 'TokenDeleted' }, errors: [...ANY, ...ADMIN, ...CLUSTER, 'invalid_token', 'not_found'],
  },
  {
    method: 'post', path: '/v1/server-token/rotate', operationId: 'rotateServerToken', summary: '`k3s token rotate`, through the k3s supervisor', tag: 'tokens', security: 'admin',
    body: 'ServerTokenRotateRequest', ok: { 200: 'ServerTokenRotated' }, errors: [...ANY, ...BODY, ...ADMIN, ...CLUSTER, 'invalid_token', 'forbidden'],
  },
  {
    method: 'post', path: '/v1/webhooks/fleet', operationId: 'fleetWebhook', summary: 'A signed event from a fleet provisioning system, applied once and in order', tag: 'webhooks', security: 'webhook',
    body: 'FleetEvent', ok: { 200: 'FleetEventResult' }, errors: [...ANY, ...BODY, ...CLUSTER, 'unauthorized', 'unsupported_event', 'not_found'],
  },
  { method: 'get', path: '/v1/nodes', operationId: 'listNodes', summary: "The cluster's Nodes, each with the machine that accounts for it", tag: 'nodes', security: 'admin', ok: { 200: 'NodeList' }, errors: [...ANY, ...ADMIN, ...CLUSTER] },
  { method: 'post', path: '/v1/nodes/reconcile', operationId: 'reconcileNodes', summary: 'Run the fleet reconciliation now', tag: 'nodes', security: 'admin', ok: { 200: 'ReconcileSummary' }, errors: [...ANY, ...ADMIN, ...CLUSTER] },
  ...dashboard(),
];

/** The dashboard (src/ui): HTML pages and form posts, documented for completeness, not for clients. */
function dashboard(): OperationSpec[] {
  const page = (path: string, summary: string, security: Security = 'dashboard'): OperationSpec => ({ method: 'get', path, operationId: `ui${opName(path)}`, summary, tag: 'dashboard', security, ok: { 200: 'html' }, errors: ANY });
  const form = (path: string, summary: string, ok: OperationSpec['ok'], security: Security = 'dashboard'): OperationSpec => ({ method: 'post', path, operationId: `uiPost${opName(path)}`, summary, tag: 'dashboard', security, body: 'form', ok, errors: [...ANY, ...BODY] });
  return [
    { method: 'get', path: '/ui/assets/app.css', operationId: 'uiCss', summary: 'Dashboard stylesheet', tag: 'dashboard', security: 'none', ok: { 200: 'css' }, errors: ANY },
    { method: 'get', path: '/ui/assets/app.js', operationId: 'uiJs', summary: 'Dashboard script', tag: 'dashboard', security: 'none', ok: { 200: 'js' }, errors: ANY },
    page('/ui/login', 'Sign-in page', 'none'),
    form('/ui/login', 'Sign in with ADMIN_TOKEN', { 303: 'redirect' }, 'none'),
    form('/ui/logout', 'Sign out', { 303: 'redirect' }),
    page('/ui', 'Overview'),
    page('/ui/machines', 'Machines'),
    page('/ui/machines/{id}', 'One machine'),
    page('/ui/machines/{id}/revoke', 'Confirm a revocation'),
    form('/ui/machines/{id}/revoke', 'Revoke a machine', { 303: 'redirect' }),
    page('/ui/register', 'Register form'),
    form('/ui/register', 'Register a machine (same rules as PUT /v1/machines/{id})', { 200: 'html', 201: 'html' }),
    page('/ui/tokens', 'Bootstrap tokens'),
    form('/ui/tokens', 'Create a token (same rules as POST /v1/tokens)', { 201: 'html' }),
    form('/ui/tokens/delete', 'Delete a token', { 303: 'redirect' }),
    page('/ui/audit', 'Audit log'),
    page('/ui/nodes', 'Nodes'),
  ];
}
function opName(path: string): string {
  const name = path.replace(/^\/ui/, '').replace(/\{[^}]+\}/g, 'One').split(/[/.-]/).filter(Boolean).map((p) => p[0]!.toUpperCase() + p.slice(1)).join('');
  return name || 'Home';
}

const TAGS: Record<string, string> = {
  health: 'Liveness and this document',
  enroll: 'Machine-facing: evidence in, a join token out (no credentials; rate-limited per address)',
  machines: 'The machine registry (admin)',
  tokens: '`k3s token` parity (admin)',
  webhooks: 'Signed events from a fleet provisioning system',
  nodes: "The cluster's Nodes and the reconciliation (admin)",
  audit: 'Enrollment and admin events (admin)',
  dashboard: 'The operator dashboard: HTML pages and form posts',
};

const componentRef = (name: string) => ({ $ref: `#/components/schemas/${name}` });

function convert(defs: Record<string, GenericSchema>, typeMode: 'input' | 'output'): Record<string, unknown> {
  const config: ConversionConfig = {
    target: 'draft-2020-12',
    typeMode,
    overrideRef: ({ referenceId }) => `#/components/schemas/${referenceId}`,
    // Refinements (checks calling the pure parsers) are described by their `metadata`; anything
    // else that cannot convert still throws. (No overrideSchema: it makes conversion ~15x slower.)
    overrideAction: ({ valibotAction, jsonSchema }) => (['check', 'raw_check', 'partial_check'].includes(valibotAction.type) ? { ...jsonSchema } : undefined),
  };
  return toJsonSchemaDefs(defs, config) as Record<string, unknown>;
}

const STATUS_TEXT: Record<number, string> = { 200: 'OK', 201: 'Created', 303: 'See Other' };

function okResponse(kind: OperationSpec['ok'][number], status: number): Record<string, unknown> {
  const description = STATUS_TEXT[status] ?? 'OK';
  switch (kind) {
    case 'html':
      return { description, content: { 'text/html': { schema: { type: 'string' } } } };
    case 'css':
      return { description, content: { 'text/css': { schema: { type: 'string' } } } };
    case 'js':
      return { description, content: { 'text/javascript': { schema: { type: 'string' } } } };
    case 'redirect':
      return { description, headers: { Location: { schema: { type: 'string' } } } };
    case 'document':
      return { description: 'OpenAPI 3.1', content: { 'application/json': { schema: { type: 'object' } } } };
    default:
      return { description, content: { 'application/json': { schema: componentRef(kind) } } };
  }
}

function errorResponses(codes: readonly ErrorCode[]): Record<string, unknown> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of new Set(codes)) {
    const { status } = PROBLEMS[code];
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const out: Record<string, unknown> = {};
  for (const [status, list] of [...byStatus].sort(([a], [b]) => a - b)) {
    out[String(status)] = {
      description: list.map((c) => `\`${c}\`: ${PROBLEMS[c].title}`).join('; '),
      content: { [PROBLEM_CONTENT_TYPE]: { schema: { allOf: [componentRef('Problem'), { properties: { code: { enum: list } } }] } } },
    };
  }
  return out;
}

const SECURITY: Record<Security, Array<Record<string, string[]>>> = {
  none: [],
  admin: [{ adminBearer: [] }, { cloudflareAccess: [] }],
  webhook: [{ webhookSignature: [] }],
  dashboard: [{ dashboardSession: [] }, { cloudflareAccess: [] }],
};

function operation(op: OperationSpec): Record<string, unknown> {
  const params = [...op.path.matchAll(/\{([^}]+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
  const query = (op.query ?? []).map((q) => ({ name: q.name, in: 'query', required: false, description: q.description, schema: q.schema }));
  const responses: Record<string, unknown> = {};
  for (const [status, kind] of Object.entries(op.ok)) responses[status] = okResponse(kind, Number(status));
  Object.assign(responses, errorResponses(op.errors));
  const body =
    op.body === undefined
      ? {}
      : op.body === 'form'
        ? { requestBody: { required: true, content: { 'application/x-www-form-urlencoded': { schema: { type: 'object', additionalProperties: { type: 'string' } } } } } }
        : { requestBody: { required: true, content: { 'application/json': { schema: componentRef(op.body) } } } };
  return {
    operationId: op.operationId,
    summary: op.summary,
    tags: [op.tag],
    security: SECURITY[op.security],
    ...(params.length + query.length > 0 ? { parameters: [...params, ...query] } : {}),
    ...body,
    responses,
  };
}

export function buildOpenApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of OPERATIONS) (paths[op.path] ??= {})[op.method] = operation(op);
  const allCodes = Object.keys(PROBLEMS) as ErrorCode[];
  return {
    openapi: '3.1.0',
    info: {
      title: 'k3s-enroll',
      version: '1',
      description: 'Enrollment service for k3s edge fleets: attest a machine, mint a bootstrap token for it alone, return the K10 secure join token. Errors are RFC 9457 problem+json with a stable `code`; a validation failure is `400 invalid_request` whose `detail` names the field path.',
      license: { name: 'Proprietary', identifier: 'LicenseRef-Proprietary' },
    },
    servers: [{ url: '/' }],
    tags: Object.entries(TAGS).map(([name, description]) => ({ name, description })),
    paths,
    components: {
      schemas: {
        ...convert(REQUEST_SCHEMAS, 'input'),
        ...convert(RESPONSE_SCHEMAS, 'output'),
        ...convert({ Problem: S.problemSchema(allCodes) }, 'output'),
      },
      securitySchemes: {
        adminBearer: { type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN' },
        cloudflareAccess: { type: 'apiKey', in: 'header', name: 'Cf-Access-Jwt-Assertion', description: 'a Cloudflare Access JWT for the configured team and AUD' },
        webhookSignature: { type: 'apiKey', in: 'header', name: 'X-Enroll-Signature', description: '`t=<unix seconds>,v1=<hex HMAC-SHA256(FLEET_WEBHOOK_SECRET, t + "." + raw body)>`, 5-minute tolerance' },
        dashboardSession: { type: 'apiKey', in: 'cookie', name: 'k3se_session', description: 'the dashboard session cookie (`__Host-` prefixed over HTTPS)' },
      },
    },
  };
}

let cached: string | null = null;
/** The document as JSON text, built once per isolate. */
export function openApiJson(): string {
  cached ??= JSON.stringify(buildOpenApiDocument());
  return cached;
}
