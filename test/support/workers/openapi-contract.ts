// The contract check the integration tests run on every answer they get: the Worker's own
// GET /openapi.json is the reference; the status must be one the operation documents, and a JSON
// or problem+json body must validate (ajv, JSON Schema 2020-12) against that status's schema,
// problem codes included. A request no operation matches must answer a documented problem.
import { SELF } from 'cloudflare:test';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020.js';

type Doc = { paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, unknown> }> }>> };
const DOC_ID = 'https://enroll.test/openapi.json';

let loaded: Promise<{ doc: Doc; ajv: Ajv2020; routes: Array<{ method: string; path: string; re: RegExp }> }> | null = null;
function load() {
  loaded ??= (async () => {
    const res = await SELF.fetch(DOC_ID);
    if (res.status !== 200) throw new Error(`GET /openapi.json → ${res.status}`);
    const doc = (await res.json()) as Doc;
    // Formats are annotations here (the schemas' own checks are the server's); unknown keywords
    // (openapi, paths, …) belong to the document around the schemas.
    const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
    ajv.addSchema({ ...doc, $id: DOC_ID });
    const routes = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => ({ method: method.toUpperCase(), path, re: new RegExp(`^${path.replace(/[.]/g, '\\.').replace(/\{[^}]+\}/g, '[^/]+')}$`) })),
    );
    return { doc, ajv, routes };
  })();
  return loaded;
}

const pointer = (...parts: string[]) => `${DOC_ID}#/${parts.map((p) => p.replaceAll('~', '~0').replaceAll('/', '~1')).join('/')}`;
const compiled = new Map<string, ValidateFunction>();

/** Throws (failing the test) when `res` is not what the document says `method url` answers. */
export async function expectDocumented(method: string, url: string, res: Response): Promise<void> {
  const { doc, ajv, routes } = await load();
  const path = new URL(url).pathname;
  const route = routes.find((r) => r.method === method.toUpperCase() && r.re.test(path));
  const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
  const what = `${method} ${path} → ${res.status}`;
  let ref: string;
  if (!route) {
    if (type !== 'application/problem+json') throw new Error(`${what}: undocumented route answered ${type || 'no content type'}`);
    ref = pointer('components', 'schemas', 'Problem');
  } else {
    const response = doc.paths[route.path]![route.method.toLowerCase()]!.responses[String(res.status)];
    if (!response) throw new Error(`${what}: status not documented for ${route.method} ${route.path}`);
    if (!response.content) return;
    if (!Object.hasOwn(response.content, type)) throw new Error(`${what}: content type ${type} not documented (${Object.keys(response.content).join(', ')})`);
    if (type !== 'application/json' && type !== 'application/problem+json') return;
    ref = pointer('paths', route.path, route.method.toLowerCase(), 'responses', String(res.status), 'content', type, 'schema');
  }
  let validate = compiled.get(ref);
  if (!validate) {
    validate = ajv.compile({ $ref: ref });
    compiled.set(ref, validate);
  }
  const body = (await res.clone().json()) as unknown;
  if (!validate(body)) throw new Error(`${what}: body does not match the document: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body).slice(0, 600)}`);
}

/** SELF.fetch, then the contract check on the answer (the body stays readable). */
export async function checkedFetch(input: string, init?: RequestInit): Promise<Response> {
  const res = await SELF.fetch(input, init);
  await expectDocumented(init?.method ?? 'GET', input, res);
  return res;
}
