// @ts-check
// What kubectl reads before it does anything: /version (a k3s git version), API discovery — the
// aggregated form (apidiscovery.k8s.io/v2) when asked for, else the legacy /api, /apis,
// /api/v1, /apis/<g>/<v> documents — and the OpenAPI v2/v3 documents for the kinds served
// (minimal schemas; enough for kubectl's validation and apply). Only the resources this cluster
// really serves are listed, with the verbs it really answers.
import { openapiV2, openapiV3Root, openapiV3Group } from './openapi.mjs';

export const GIT_VERSION = 'v1.32.4+k3s1';
const ALL = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];

/**
 * @typedef {{ resource: string, singular: string, kind: string, namespaced: boolean, verbs: string[], shortNames?: string[], subresources?: Array<{ name: string, verbs: string[] }>, categories?: string[] }} ResourceDef
 * @typedef {{ group: string, version: string, resources: ResourceDef[] }} GroupVersion
 */
/** @type {GroupVersion[]} */
export const SERVED = [
  { group: '', version: 'v1', resources: [
    { resource: 'configmaps', singular: 'configmap', kind: 'ConfigMap', namespaced: true, verbs: ['get'], shortNames: ['cm'] },
    { resource: 'namespaces', singular: 'namespace', kind: 'Namespace', namespaced: false, verbs: ['get', 'list'], shortNames: ['ns'] },
    { resource: 'nodes', singular: 'node', kind: 'Node', namespaced: false, verbs: ALL, shortNames: ['no'], subresources: [{ name: 'status', verbs: ['get', 'patch', 'update'] }] },
    { resource: 'secrets', singular: 'secret', kind: 'Secret', namespaced: true, verbs: ['create', 'delete', 'get', 'list', 'patch', 'update'] },
  ] },
  { group: 'authentication.k8s.io', version: 'v1', resources: [
    { resource: 'selfsubjectreviews', singular: 'selfsubjectreview', kind: 'SelfSubjectReview', namespaced: false, verbs: ['create'] },
  ] },
  { group: 'coordination.k8s.io', version: 'v1', resources: [
    { resource: 'leases', singular: 'lease', kind: 'Lease', namespaced: true, verbs: ALL },
  ] },
];

/** @param {GroupVersion} gv */
function resourceList(gv) {
  const resources = [];
  for (const r of gv.resources) {
    resources.push({ name: r.resource, singularName: r.singular, namespaced: r.namespaced, kind: r.kind, verbs: r.verbs, ...(r.shortNames ? { shortNames: r.shortNames } : {}) });
    for (const s of r.subresources ?? []) resources.push({ name: `${r.resource}/${s.name}`, singularName: '', namespaced: r.namespaced, kind: r.kind, verbs: s.verbs });
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: gv.group ? `${gv.group}/${gv.version}` : gv.version, resources };
}

/** @param {GroupVersion} gv */
function discoveryGroup(gv) {
  return {
    metadata: gv.group ? { name: gv.group, creationTimestamp: null } : { creationTimestamp: null },
    versions: [{
      version: gv.version,
      resources: gv.resources.map((r) => ({
        resource: r.resource,
        responseKind: { group: gv.group, version: gv.version, kind: r.kind },
        scope: r.namespaced ? 'Namespaced' : 'Cluster',
        singularResource: r.singular,
        verbs: r.verbs,
        ...(r.shortNames ? { shortNames: r.shortNames } : {}),
        ...(r.subresources ? { subresources: r.subresources.map((s) => ({ subresource: s.name, responseKind: { group: gv.group, version: gv.version, kind: r.kind }, verbs: s.verbs })) } : {}),
      })),
      freshness: 'Current',
    }],
  };
}

/** @param {GroupVersion} gv */
const apiGroup = (gv) => ({ name: gv.group, versions: [{ groupVersion: `${gv.group}/${gv.version}`, version: gv.version }], preferredVersion: { groupVersion: `${gv.group}/${gv.version}`, version: gv.version } });

/**
 * @param {{ path: string, method: string, accept: string, user: import('./authn.mjs').User, url: () => URL }} r
 * @returns {{ status: number, body: unknown, contentType?: string } | null}
 */
export function handleDiscovery({ path, method, accept, url }) {
  if (method !== 'GET') return null;
  const aggregated = /as=APIGroupDiscoveryList/.test(accept) && /v=v2(?![a-z0-9])/.test(accept);
  const AGG_TYPE = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';
  const groups = SERVED.filter((g) => g.group !== '');
  switch (path) {
    case '/version':
      return { status: 200, body: { major: '1', minor: '32', gitVersion: GIT_VERSION, gitCommit: '0000000000000000000000000000000000000000', gitTreeState: 'clean', buildDate: '2025-04-22T00:00:00Z', goVersion: 'go1.23.8', compiler: 'gc', platform: 'linux/amd64' } };
    case '/api':
      if (aggregated) return { status: 200, contentType: AGG_TYPE, body: { kind: 'APIGroupDiscoveryList', apiVersion: 'apidiscovery.k8s.io/v2', metadata: {}, items: SERVED.filter((g) => g.group === '').map(discoveryGroup) } };
      return { status: 200, body: { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: url().host }] } };
    case '/apis':
      if (aggregated) return { status: 200, contentType: AGG_TYPE, body: { kind: 'APIGroupDiscoveryList', apiVersion: 'apidiscovery.k8s.io/v2', metadata: {}, items: groups.map(discoveryGroup) } };
      return { status: 200, body: { kind: 'APIGroupList', apiVersion: 'v1', groups: groups.map(apiGroup) } };
    case '/openapi/v2':
      // Served as JSON only: a protobuf-only Accept (kubectl's) gets 406, and kubectl falls back.
      if (!/application\/json|\*\/\*/.test(accept) && accept !== '') return { status: 406, body: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'only application/json is served', reason: 'NotAcceptable', code: 406 } };
      return { status: 200, body: openapiV2(SERVED) };
    case '/openapi/v3':
      return { status: 200, body: openapiV3Root(SERVED) };
  }
  if (path === '/api/v1') return { status: 200, body: resourceList(/** @type {GroupVersion} */ (SERVED[0])) };
  const v3 = /^\/openapi\/v3\/(api\/v1|apis\/([^/]+)\/([^/]+))$/.exec(path);
  if (v3) {
    const gv = SERVED.find((g) => (v3[2] === undefined ? g.group === '' : g.group === v3[2] && g.version === v3[3]));
    if (gv) return { status: 200, body: openapiV3Group(gv) };
  }
  const g = /^\/apis\/([^/]+)(?:\/([^/]+))?$/.exec(path);
  if (g) {
    const gv = groups.find((x) => x.group === g[1] && (g[2] === undefined || x.version === g[2]));
    if (!gv) return null;
    return { status: 200, body: g[2] === undefined ? { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(gv) } : resourceList(gv) };
  }
  return null;
}
