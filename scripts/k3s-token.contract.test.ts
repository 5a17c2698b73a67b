// k3s-token against the OpenAPI document (issue 15): a stand-in server answers each operation
// with the document's own example for it and checks every request the CLI sends against the
// documented request schema (ajv). A field renamed or dropped on the server changes the document,
// and the CLI's output below stops matching: the operator's tool breaks here, not in the field.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import Ajv2020 from 'ajv/dist/2020.js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildOpenApiDocument } from '../src/http/openapi.ts';
// @ts-expect-error: plain JavaScript module
import { main } from './k3s-token.mjs';

type Op = { operationId: string; requestBody?: { content: Record<string, { schema: unknown }> }; responses: Record<string, { content?: Record<string, { schema: { $ref?: string } }> }> };
type Doc = { paths: Record<string, Record<string, Op>>; components: { schemas: Record<string, { examples?: unknown[] }> } };
const doc = buildOpenApiDocument() as unknown as Doc;
const ajv = new Ajv2020({ strict: false, validateFormats: false });
ajv.addSchema({ ...doc, $id: 'doc' });

/** The example of an operation's success response (its component's first example). */
function exampleOf(path: string, method: string): { status: number; body: unknown } {
  const op = doc.paths[path]![method]!;
  const [status, response] = Object.entries(op.responses).find(([s]) => Number(s) < 300)!;
  const ref = response.content!['application/json']!.schema.$ref!;
  const example = doc.components.schemas[ref.split('/').pop()!]!.examples?.[0];
  if (example === undefined) throw new Error(`${method} ${path}: its response schema has no example`);
  return { status: Number(status), body: example };
}

const seen: Array<{ op: string; body: unknown }> = [];
const failures: string[] = [];
let server: Server;
let url = '';
const read = (req: IncomingMessage) => new Promise<string>((r) => {
  let s = '';
  req.on('data', (c: Buffer) => (s += c.toString()));
  req.on('end', () => r(s));
});

beforeAll(async () => {
  server = createServer(async (req, res) => {
    const path = new URL(req.url!, 'http://x').pathname;
    const method = req.method!.toLowerCase();
    const template = Object.keys(doc.paths).find((p) => new RegExp(`^${p.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(path) && doc.paths[p]![method]);
    if (!template) {
      failures.push(`undocumented request ${req.method} ${path}`);
      res.writeHead(404).end();
      return;
    }
    const op = doc.paths[template]![method]!;
    const text = await read(req);
    const body = text ? (JSON.parse(text) as unknown) : undefined;
    if (op.requestBody) {
      const validate = ajv.compile({ $ref: `doc#/paths/${template.replaceAll('/', '~1')}/${method}/requestBody/content/application~1json/schema` });
      if (!validate(body)) failures.push(`${op.operationId}: request ${text} does not match the document: ${ajv.errorsText(validate.errors)}`);
    }
    seen.push({ op: op.operationId, body });
    const { status, body: example } = exampleOf(template, method);
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(example));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => new Promise((r) => server.close(r)));
beforeEach(() => {
  seen.length = 0;
  failures.length = 0;
});

const cli = async (...args: string[]) => {
  const r = (await main([...args, '--server', url, '--admin-token', 'admin'])) as { code: number; out?: string; err?: string };
  expect(failures).toEqual([]);
  expect(r.err ?? '').toBe('');
  expect(r.out).not.toContain('undefined');
  return r.out!;
};

describe('k3s-token reads the documented response shapes', () => {
  it('generate prints the token of TokenGenerated', async () => {
    const { body } = exampleOf('/v1/tokens/generate', 'post') as { body: { token: string } };
    expect(await cli('generate')).toBe(`${body.token}\n`);
  });

  it('create sends a documented TokenCreateRequest and prints the token of TokenCreated', async () => {
    const { body } = exampleOf('/v1/tokens', 'post') as { body: { token: string } };
    expect(await cli('create', '--ttl', '2h', '--description', 'rack 7', '--groups', 'system:bootstrappers:k3s:default-node-token', '--usages', 'signing,authentication')).toBe(`${body.token}\n`);
    expect(seen).toEqual([{ op: 'createToken', body: { ttl: '2h', description: 'rack 7', groups: ['system:bootstrappers:k3s:default-node-token'], usages: ['signing', 'authentication'] } }]);
  });

  it('list (text and json) shows every field of TokenList it reads', async () => {
    const { body } = exampleOf('/v1/tokens', 'get') as { body: { items: Array<{ id: string; ttl: string; expires: string; usages: string[]; description: string; groups: string[] }> } };
    const text = await cli('list');
    for (const t of body.items) for (const value of [t.id, t.ttl, t.expires, t.usages.join(','), t.description, t.groups.join(',')]) expect(text).toContain(value);
    const json = JSON.parse(await cli('list', '-o', 'json')) as unknown[];
    expect(json).toEqual(body.items.map((t) => ({ token: {}, description: t.description, expires: t.expires, usages: t.usages, groups: t.groups })));
  });

  it('delete prints the id of TokenDeleted', async () => {
    const { body } = exampleOf('/v1/tokens/{token}', 'delete') as { body: { id: string } };
    expect(await cli('delete', 'k7x2qa')).toBe(`bootstrap token "${body.id}" deleted\n`);
  });

  it('rotate sends a documented ServerTokenRotateRequest', async () => {
    expect(await cli('rotate', '--token', 'old-server-token', '--new-token', 'new-server-token')).toBe('Token rotated, restart k3s nodes with new token\n');
    expect(seen).toEqual([{ op: 'rotateServerToken', body: { token: 'old-server-token', newToken: 'new-server-token' } }]);
  });
});
