// @ts-check
// Minimal but valid OpenAPI documents for the served kinds: v3 per group-version (each kind's
// schema with x-kubernetes-group-version-kind, and its paths with the `fieldValidation` query
// parameter kubectl looks for before it validates server-side) and a v2 document with the same
// definitions. Schemas are open objects: fields are not enumerated beyond metadata/spec/status.
import { createHash } from 'node:crypto';

/** @param {string} group @param {string} kind */
const defName = (group, kind) => (group === '' ? `io.k8s.api.core.v1.${kind}` : `io.k8s.api.${group.split('.')[0]}.v1.${kind}`);
/** @param {string} group @param {string} version @param {string} kind */
const gvkExt = (group, version, kind) => [{ group, kind, version }];

/** @param {import('./discovery.mjs').GroupVersion} gv @param {(name: string) => string} ref */
function schemas(gv, ref) {
  /** @type {Record<string, any>} */
  const out = {
    'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta': { type: 'object', properties: { name: { type: 'string' }, namespace: { type: 'string' }, labels: { type: 'object', additionalProperties: { type: 'string' } }, annotations: { type: 'object', additionalProperties: { type: 'string' } }, uid: { type: 'string' }, resourceVersion: { type: 'string' } }, 'x-kubernetes-preserve-unknown-fields': true },
  };
  for (const r of gv.resources) {
    out[defName(gv.group, r.kind)] = {
      type: 'object',
      properties: {
        apiVersion: { type: 'string' },
        kind: { type: 'string' },
        metadata: { allOf: [{ $ref: ref('io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta') }], default: {} },
        ...(r.kind === 'Secret' ? { data: { type: 'object', additionalProperties: { type: 'string', format: 'byte' } }, stringData: { type: 'object', additionalProperties: { type: 'string' } }, type: { type: 'string' }, immutable: { type: 'boolean' } } : {}),
        ...(r.kind === 'ConfigMap' ? { data: { type: 'object', additionalProperties: { type: 'string' } } } : {}),
        ...(['Node', 'Lease', 'SelfSubjectReview'].includes(r.kind) ? { spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true }, status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } : {}),
      },
      'x-kubernetes-group-version-kind': gvkExt(gv.group, gv.version, r.kind),
    };
  }
  return out;
}

/** @param {import('./discovery.mjs').GroupVersion} gv @param {(name: string) => string} ref @param {boolean} v3 */
function paths(gv, ref, v3) {
  const base = gv.group ? `/apis/${gv.group}/${gv.version}` : `/api/${gv.version}`;
  const fieldValidation = { name: 'fieldValidation', in: 'query', description: 'fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields.', ...(v3 ? { schema: { type: 'string', uniqueItems: true } } : { type: 'string', uniqueItems: true }) };
  /** @type {Record<string, any>} */
  const out = {};
  for (const r of gv.resources) {
    const coll = r.namespaced ? `${base}/namespaces/{namespace}/${r.resource}` : `${base}/${r.resource}`;
    const ext = { group: gv.group, version: gv.version, kind: r.kind };
    const body = v3 ? { content: { 'application/json': { schema: { $ref: ref(defName(gv.group, r.kind)) } } } } : {};
    /** @param {string} action @param {string} id */
    const op = (action, id) => ({ operationId: id, parameters: ['create', 'update', 'patch'].includes(action) ? [fieldValidation] : [], responses: { 200: { description: 'OK', ...body } }, 'x-kubernetes-action': action, 'x-kubernetes-group-version-kind': ext });
    /** @type {Record<string, any>} */
    const collOps = {};
    if (r.verbs.includes('list')) collOps.get = op('list', `list${r.kind}`);
    if (r.verbs.includes('create')) collOps.post = op('post', `create${r.kind}`);
    if (Object.keys(collOps).length) out[coll] = collOps;
    /** @type {Record<string, any>} */
    const itemOps = {};
    if (r.verbs.includes('get')) itemOps.get = op('get', `read${r.kind}`);
    if (r.verbs.includes('update')) itemOps.put = op('put', `replace${r.kind}`);
    if (r.verbs.includes('patch')) itemOps.patch = op('patch', `patch${r.kind}`);
    if (r.verbs.includes('delete')) itemOps.delete = op('delete', `delete${r.kind}`);
    if (Object.keys(itemOps).length) out[`${coll}/{name}`] = itemOps;
  }
  return out;
}

/** @param {import('./discovery.mjs').GroupVersion} gv */
export function openapiV3Group(gv) {
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: 'v1.32.4+k3s1' }, paths: paths(gv, (n) => `#/components/schemas/${n}`, true), components: { schemas: schemas(gv, (n) => `#/components/schemas/${n}`) } };
}

/** @param {import('./discovery.mjs').GroupVersion[]} served */
export function openapiV3Root(served) {
  /** @type {Record<string, { serverRelativeURL: string }>} */
  const out = {};
  for (const gv of served) {
    const key = gv.group ? `apis/${gv.group}/${gv.version}` : `api/${gv.version}`;
    const hash = createHash('sha512').update(JSON.stringify(openapiV3Group(gv))).digest('hex').slice(0, 128).toUpperCase();
    out[key] = { serverRelativeURL: `/openapi/v3/${key}?hash=${hash}` };
  }
  return { paths: out };
}

/** @param {import('./discovery.mjs').GroupVersion[]} served */
export function openapiV2(served) {
  /** @type {Record<string, any>} */
  let definitions = {};
  /** @type {Record<string, any>} */
  let p = {};
  for (const gv of served) {
    definitions = { ...definitions, ...schemas(gv, (n) => `#/definitions/${n}`) };
    p = { ...p, ...paths(gv, (n) => `#/definitions/${n}`, false) };
  }
  return { swagger: '2.0', info: { title: 'Kubernetes', version: 'v1.32.4+k3s1' }, paths: p, definitions };
}
