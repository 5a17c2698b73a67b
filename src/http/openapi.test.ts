// The OpenAPI document against the app and a real linter: every route the Hono app serves is
// documented and every documented operation is served; every example validates against its
// schema (ajv) and is accepted by the runtime schema; `redocly lint` finds no error; the document
// is served at GET /openapi.json without credentials.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import * as v from 'valibot';
import { afterAll, describe, expect, it } from 'vitest';
import { createApp } from '../app.ts';
import { parseConfig } from '../config.ts';
import * as S from '../schemas/index.ts';
import { silentLogger } from './logger.ts';
import { buildOpenApiDocument } from './openapi.ts';

type Doc = { paths: Record<string, Record<string, { responses: Record<string, unknown>; security: unknown[] }>>; components: { schemas: Record<string, { examples?: unknown[] }> } };
const doc = buildOpenApiDocument() as unknown as Doc;
const dir = mkdtempSync(join(tmpdir(), 'k3s-enroll-openapi-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function servedRoutes(): string[] {
  const app = createApp({ loadConfig: () => { throw new Error('route listing only'); }, logger: silentLogger });
  const seen = new Set<string>();
  for (const r of app.routes) if (r.method !== 'ALL' && !r.path.includes('*')) seen.add(`${r.method} ${r.path.replace(/:([A-Za-z]+)/g, '{$1}')}`);
  return [...seen].sort();
}

describe('the OpenAPI document', () => {
  it('documents exactly the routes the app serves', () => {
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)).sort();
    expect(servedRoutes().length).toBeGreaterThanOrEqual(30);
    expect(documented).toEqual(servedRoutes());
  });

  it('every operation has a success response, a problem response per error status, and a security requirement', () => {
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const statuses = Object.keys(op.responses).map(Number);
        expect(statuses.some((s) => s < 400), `${method} ${path}`).toBe(true);
        expect(statuses, `${method} ${path}: a bad path encoding is always possible`).toContain(400);
        expect(op.security, `${method} ${path}`).toBeInstanceOf(Array);
      }
    }
    expect(doc.paths['/v1/machines']!.get!.security).toEqual([{ adminBearer: [] }, { cloudflareAccess: [] }]);
    expect(doc.paths['/v1/webhooks/fleet']!.post!.security).toEqual([{ webhookSignature: [] }]);
    expect(doc.paths['/v1/enroll']!.post!.security).toEqual([]);
  });

  it('every example validates against its schema in the document', () => {
    const ajv = new Ajv2020({ strict: false, validateFormats: false });
    ajv.addSchema({ ...doc, $id: 'doc' });
    let checked = 0;
    for (const [name, schema] of Object.entries(doc.components.schemas)) {
      const validate = ajv.compile({ $ref: `doc#/components/schemas/${name}` });
      for (const example of schema.examples ?? []) {
        expect(validate(example), `${name}: ${ajv.errorsText(validate.errors)}`).toBe(true);
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(10);
  });

  it('request examples are accepted by the runtime schemas (the document says what the server does)', () => {
    for (const schema of [S.MachineRegistrationBody, S.EnrollBody, S.ChallengeBody, S.TokenCreateBody, S.ServerTokenRotateBody, S.FleetEvent]) {
      const examples = (v.getMetadata(schema) as { examples?: readonly unknown[] }).examples ?? [];
      expect(examples.length).toBeGreaterThan(0);
      for (const e of examples) expect(() => S.parseWith(schema, e)).not.toThrow();
    }
  });

  it('passes `redocly lint` with no error', () => {
    const file = join(dir, 'openapi.json');
    writeFileSync(file, JSON.stringify(doc));
    const r = spawnSync(join(process.cwd(), 'node_modules/.bin/redocly'), ['lint', file, '--format=stylish'], { encoding: 'utf8', env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' } });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout + r.stderr).not.toMatch(/\berror\b/);
  }, 60_000);

  it('is served at GET /openapi.json without credentials, and no-store', async () => {
    const config = parseConfig({ K3S_SERVER_URL: 'https://k3s:6443', CLUSTER_API_URL: 'https://api', CLUSTER_SA_TOKEN: 'sa', CLUSTER_CA_HASH: 'a'.repeat(64), ADMIN_TOKEN: 'admin-secret-0123456789' });
    const app = createApp({ loadConfig: () => config, logger: silentLogger });
    const res = await app.request('/openapi.json');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const served = (await res.json()) as { openapi: string };
    expect(served.openapi).toBe('3.1.0');
    expect(served).toEqual(JSON.parse(JSON.stringify(doc)));
  });
});
