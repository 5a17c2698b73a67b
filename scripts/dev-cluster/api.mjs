// @ts-check
// The Kubernetes API paths the dev cluster serves to an authenticated user: RBAC (authn.mjs),
// NodeRestriction admission (admission.mjs), then the registries — Secrets and kube-root-ca.crt in
// kube-system, selfsubjectreviews, Nodes (+ /status) and Leases (create/get/list/watch/update/
// patch/delete). Answers are metav1.Status bodies on refusal, as the API server writes them.
import { admitNodeRestriction } from './admission.mjs';
import { authorize, denialMessage } from './authn.mjs';
import { buildStatus, forbidden, notFound } from './status.mjs';
import { toTable } from './tables.mjs';
import { formatRFC3339Seconds } from './clock.mjs';

/** @typedef {{ status: number, body: unknown, contentType?: string } | { streamed: true }} Reply */
const OBJECT_META = ['name', 'generateName', 'namespace', 'selfLink', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'labels', 'annotations', 'ownerReferences', 'finalizers', 'managedFields'];
/** @type {Record<string, string[]>} top-level fields of the kinds accepted in a request body */
const FIELDS = { Node: ['apiVersion', 'kind', 'metadata', 'spec', 'status'], Lease: ['apiVersion', 'kind', 'metadata', 'spec'], Secret: ['apiVersion', 'kind', 'metadata', 'immutable', 'data', 'stringData', 'type'] };

/**
 * `fieldValidation=Strict` (kubectl's default for create/apply/replace): unknown top-level or
 * metadata fields → 400, worded as the strict decoder does. Nested fields are not checked.
 * @param {URL} url @param {string} kind @param {string} raw @returns {Reply | null}
 */
function strictFields(url, kind, raw) {
  if (url.searchParams.get('fieldValidation') !== 'Strict') return null;
  let obj;
  try {
    obj = JSON.parse(raw);
  } catch {
    return null; // the registry reports the parse error
  }
  if (typeof obj !== 'object' || obj === null) return null;
  const unknown = Object.keys(obj).filter((k) => !(FIELDS[kind] ?? []).includes(k));
  if (typeof obj.metadata === 'object' && obj.metadata !== null) unknown.push(...Object.keys(obj.metadata).filter((k) => !OBJECT_META.includes(k)).map((k) => `metadata.${k}`));
  if (unknown.length === 0) return null;
  return { status: 400, body: buildStatus({ message: `${kind} in version "v1" cannot be handled as a ${kind}: strict decoding error: ${unknown.map((u) => `unknown field ${JSON.stringify(u)}`).join(', ')}`, reason: 'BadRequest', code: 400 }) };
}

const PATCH_TYPES = ['application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/json-patch+json', 'application/apply-patch+yaml'];

/**
 * @param {{ namespaces: () => Record<string, any>, secrets: ReturnType<typeof import('./secrets.mjs').createSecretsApi>, nodes: ReturnType<typeof import('./objects.mjs').createObjectsApi>, leases: ReturnType<typeof import('./objects.mjs').createObjectsApi>, caPem: string, onNodeCreated: (node: any) => void, onNodeDeleted: (node: any) => void }} ctx
 */
export function createApiHandler(ctx) {
  const { secrets, nodes, leases } = ctx;
  /** @param {import('./authn.mjs').User} user @param {import('./authn.mjs').Attributes} attrs */
  const deny = (user, attrs) => ({ status: 403, body: forbidden({ group: attrs.group ?? '', resource: attrs.subresource ? `${attrs.resource}/${attrs.subresource}` : attrs.resource }, attrs.name ?? '', denialMessage(user, attrs)) });

  /**
   * @param {ReturnType<typeof import('./objects.mjs').createObjectsApi>} api
   * @param {{ ns: string, name?: string, subresource?: string }} target
   * @param {{ url: URL, method: string, raw: string, contentType: string, user: import('./authn.mjs').User, res: import('node:http').ServerResponse }} req
   * @returns {Reply}
   */
  function objectRoute(api, { ns, name, subresource = '' }, { url, method, raw, contentType, user, res }) {
    const q = url.searchParams;
    const isWatch = q.get('watch') === '1' || q.get('watch') === 'true';
    let verb = '';
    if (name === undefined) verb = method === 'GET' ? (isWatch ? 'watch' : 'list') : method === 'POST' && !subresource ? 'create' : '';
    else verb = { GET: 'get', PUT: 'update', PATCH: 'patch', DELETE: subresource ? '' : 'delete' }[method] ?? '';
    if (verb === '') return { status: 405, body: buildStatus({ message: 'the server does not allow this method on the requested resource', reason: 'MethodNotAllowed', code: 405 }) };
    const k = api.kind;
    /** @type {import('./authn.mjs').Attributes} */
    const attrs = { verb, resource: k.resource, group: k.group, namespace: ns, ...(subresource ? { subresource } : {}), ...(name !== undefined ? { name } : {}) };
    if (!authorize(user, attrs)) return deny(user, attrs);
    const admit = /** @param {'CREATE' | 'UPDATE' | 'DELETE'} operation @param {string} n @param {any} [object] @param {any} [oldObject] */ (operation, n, object, oldObject) =>
      admitNodeRestriction(user, { operation, group: k.group, resource: k.resource, subresource, namespace: ns, name: n, object, oldObject });
    switch (verb) {
      case 'watch':
        api.watch(ns, q, res, (r) => res.writeHead(r.status, { 'content-type': 'application/json' }).end(JSON.stringify(r.body)));
        return { streamed: true };
      case 'list':
        return api.list(ns, q);
      case 'get':
        return api.get(ns, /** @type {string} */ (name));
      case 'create': {
        const strict = strictFields(url, k.kind, raw);
        if (strict) return strict;
        const c = api.computeCreate(ns, raw);
        if ('reply' in c) return c.reply;
        const denied = admit('CREATE', c.obj.metadata.name, c.obj);
        if (denied) return { status: 403, body: denied };
        const r = api.commitCreate(c.obj);
        if (r.status === 201 && k.resource === 'nodes') ctx.onNodeCreated(c.obj);
        return r;
      }
      case 'update':
      case 'patch': {
        const type = (contentType.split(';')[0] ?? '').trim().toLowerCase();
        if (verb === 'patch' && !PATCH_TYPES.includes(type)) return { status: 415, body: buildStatus({ message: `the body of the request was in an unknown format - accepted media types include: ${PATCH_TYPES.join(', ')}`, reason: 'UnsupportedMediaType', code: 415 }) };
        const strict = verb === 'update' ? strictFields(url, k.kind, raw) : null;
        if (strict) return strict;
        const u = api.computeUpdate({ ns, name: /** @type {string} */ (name), raw, subresource, ...(verb === 'patch' ? { patchType: type } : {}) });
        if ('reply' in u) return u.reply;
        const denied = admit('UPDATE', /** @type {string} */ (name), u.obj, u.old);
        if (denied) return { status: 403, body: denied };
        return api.commitUpdate(u.old, u.obj);
      }
      case 'delete': {
        const old = api.lookup(ns, /** @type {string} */ (name));
        if (old) {
          const denied = admit('DELETE', /** @type {string} */ (name), undefined, old);
          if (denied) return { status: 403, body: denied };
        }
        const r = api.remove(ns, /** @type {string} */ (name), raw);
        if (r.status === 200 && k.resource === 'nodes') ctx.onNodeDeleted(old);
        return r;
      }
    }
    return { status: 405, body: buildStatus({ message: 'the server does not allow this method on the requested resource', reason: 'MethodNotAllowed', code: 405 }) };
  }

  /**
   * @param {{ url: URL, method: string, raw: string, contentType: string, accept: string, nowMs: number, user: import('./authn.mjs').User, res: import('node:http').ServerResponse }} req
   * @returns {Reply | null} null when no route matches
   */
  return function handleApi(req) {
    const r = route(req);
    // `kubectl get` asks for server-side printing; a body that is not a kind with a printer stays as is.
    if (r && !('streamed' in r) && r.status === 200 && req.method === 'GET' && /as=Table/.test(req.accept)) {
      const b = /** @type {any} */ (r.body);
      const kind = b?.kind?.endsWith('List') ? b.kind.slice(0, -4) : b?.kind;
      const t = toTable(b, kind, req.nowMs, req.url.searchParams.get('includeObject') ?? 'Metadata');
      if (t) return { status: 200, body: t };
    }
    return r;
  };

  /**
   * @param {{ url: URL, method: string, raw: string, contentType: string, nowMs: number, user: import('./authn.mjs').User, res: import('node:http').ServerResponse }} req
   * @returns {Reply | null}
   */
  function route(req) {
    const { url, method, raw, user } = req;
    const path = url.pathname;
    if (path === '/apis/authentication.k8s.io/v1/selfsubjectreviews' && method === 'POST') {
      const attrs = { verb: 'create', resource: 'selfsubjectreviews', group: 'authentication.k8s.io', namespace: '' };
      if (!authorize(user, attrs)) return deny(user, attrs);
      return { status: 201, body: { kind: 'SelfSubjectReview', apiVersion: 'authentication.k8s.io/v1', metadata: { creationTimestamp: formatRFC3339Seconds(req.nowMs) }, status: { userInfo: { username: user.username, groups: user.groups } } } };
    }

    const nsm = /^\/api\/v1\/namespaces(?:\/([^/]+))?$/.exec(path);
    if (nsm && method === 'GET') {
      const name = nsm[1];
      const attrs = { verb: name === undefined ? 'list' : 'get', resource: 'namespaces', namespace: '', ...(name !== undefined ? { name } : {}) };
      if (!authorize(user, attrs)) return deny(user, attrs);
      const all = ctx.namespaces();
      const present = (/** @type {any} */ o) => ({ kind: 'Namespace', apiVersion: 'v1', ...o });
      if (name === undefined) return { status: 200, body: { kind: 'NamespaceList', apiVersion: 'v1', metadata: { resourceVersion: String(Object.values(all).length) }, items: Object.keys(all).sort().map((k) => present(all[k])) } };
      return all[name] ? { status: 200, body: present(all[name]) } : { status: 404, body: notFound({ group: '', resource: 'namespaces' }, name) };
    }

    const cm = /^\/api\/v1\/namespaces\/([^/]+)\/configmaps\/([^/]+)$/.exec(path);
    if (cm && method === 'GET') {
      const [, ns, name] = /** @type {[string, string, string]} */ (cm);
      const attrs = { verb: 'get', resource: 'configmaps', namespace: ns, name };
      if (!authorize(user, attrs)) return deny(user, attrs);
      if (name !== 'kube-root-ca.crt') return { status: 404, body: notFound({ group: '', resource: 'configmaps' }, name) };
      return { status: 200, body: { kind: 'ConfigMap', apiVersion: 'v1', metadata: { name, namespace: ns, annotations: { 'kubernetes.io/description': 'Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.' } }, data: { 'ca.crt': ctx.caPem } } };
    }

    const sec = /^\/api\/v1\/namespaces\/([^/]+)\/secrets(?:\/([^/]+))?$/.exec(path);
    if (sec) {
      const [, ns, name] = /** @type {[string, string, string | undefined]} */ (sec);
      const verb = name === undefined ? (method === 'POST' ? 'create' : method === 'GET' ? 'list' : '') : ({ GET: 'get', DELETE: 'delete', PUT: 'update', PATCH: 'patch' }[method] ?? '');
      if (verb === '') return { status: 405, body: buildStatus({ message: `the server does not allow this method on the requested resource`, reason: 'MethodNotAllowed', code: 405 }) };
      const attrs = { verb, resource: 'secrets', namespace: ns, ...(name ? { name } : {}) };
      if (!authorize(user, attrs)) return deny(user, attrs);
      if (verb === 'create' || verb === 'update') {
        const strict = strictFields(url, 'Secret', raw);
        if (strict) return strict;
      }
      if (verb === 'create') return secrets.create(ns, raw);
      if (verb === 'list') return secrets.list(ns, url.searchParams);
      if (verb === 'get') return secrets.get(ns, /** @type {string} */ (name));
      if (verb === 'update') return secrets.update(ns, /** @type {string} */ (name), raw);
      if (verb === 'patch') {
        const type = (req.contentType.split(';')[0] ?? '').trim().toLowerCase();
        if (!PATCH_TYPES.includes(type)) return { status: 415, body: buildStatus({ message: `the body of the request was in an unknown format - accepted media types include: ${PATCH_TYPES.join(', ')}`, reason: 'UnsupportedMediaType', code: 415 }) };
        return secrets.update(ns, /** @type {string} */ (name), raw, type);
      }
      return secrets.remove(ns, /** @type {string} */ (name), raw);
    }

    const node = /^\/api\/v1\/nodes(?:\/([^/]+)(?:\/(status))?)?$/.exec(path);
    if (node) return objectRoute(nodes, { ns: '', ...(node[1] !== undefined ? { name: decodeURIComponent(node[1]) } : {}), ...(node[2] ? { subresource: node[2] } : {}) }, req);
    const lease = /^\/apis\/coordination\.k8s\.io\/v1\/(?:namespaces\/([^/]+)\/)?leases(?:\/([^/]+))?$/.exec(path);
    if (lease && (lease[1] !== undefined || lease[2] === undefined)) return objectRoute(leases, { ns: lease[1] ?? '', ...(lease[2] !== undefined ? { name: decodeURIComponent(lease[2]) } : {}) }, req);
    return null;
  }
}
