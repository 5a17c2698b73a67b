// @ts-check
// NodeRestriction admission (plugin/pkg/admission/noderestriction, reference/k3s-join.md §7): a
// node identity may write only its own Node and Lease, may not set or change labels in the
// node-restriction.kubernetes.io domain (or a subdomain), nor kubernetes.io/k8s.io labels outside
// the kubelet allow-list, and may not change its taints after registration.
import { forbidden, goQuote } from './status.mjs';

const KUBELET_LABELS = new Set([
  'kubernetes.io/hostname', 'kubernetes.io/arch', 'kubernetes.io/os',
  'beta.kubernetes.io/arch', 'beta.kubernetes.io/os', 'beta.kubernetes.io/instance-type', 'node.kubernetes.io/instance-type',
  'topology.kubernetes.io/region', 'topology.kubernetes.io/zone', 'failure-domain.beta.kubernetes.io/region', 'failure-domain.beta.kubernetes.io/zone',
]);
const KUBELET_LABEL_NAMESPACES = ['kubelet.kubernetes.io', 'node.kubernetes.io'];
const NODE_LEASE_NAMESPACE = 'kube-node-lease';

/** `system:node:<name>` in group system:nodes (nodeidentifier). @param {{ username: string, groups: string[] }} user */
export function nodeIdentity(user) {
  if (!user.groups.includes('system:nodes') || !user.username.startsWith('system:node:')) return null;
  const name = user.username.slice('system:node:'.length);
  return name === '' ? null : name;
}

/** @param {string} domain @param {string} ns */
const inDomain = (domain, ns) => domain === ns || domain.endsWith(`.${ns}`);

/** getForbiddenLabels: the sorted keys a node may not set. @param {string[]} keys */
export function forbiddenNodeLabels(keys) {
  const out = new Set();
  for (const k of keys) {
    const i = k.indexOf('/');
    const domain = i < 0 ? '' : k.slice(0, i);
    if (inDomain(domain, 'node-restriction.kubernetes.io')) out.add(k);
    else if ((inDomain(domain, 'kubernetes.io') || inDomain(domain, 'k8s.io')) && !KUBELET_LABELS.has(k) && !KUBELET_LABEL_NAMESPACES.some((ns) => inDomain(domain, ns))) out.add(k);
  }
  return [...out].sort();
}

/** Keys added, removed or changed. @param {Record<string,string> | undefined} a @param {Record<string,string> | undefined} b */
function modifiedLabels(a = {}, b = {}) {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].filter((k) => a[k] !== b[k]);
}

/**
 * @param {{ username: string, groups: string[] }} user
 * @param {{ operation: 'CREATE' | 'UPDATE' | 'DELETE', group: string, resource: string, subresource?: string, namespace: string, name: string, object?: any, oldObject?: any }} a
 * @returns {import('./status.mjs').Status | null} the 403 body, or null when admitted
 */
export function admitNodeRestriction(user, a) {
  const nodeName = nodeIdentity(user);
  if (nodeName === null) return null;
  const deny = /** @param {string} msg */ (msg) => forbidden({ group: a.group, resource: a.resource }, a.name, msg);
  if (a.group === '' && a.resource === 'nodes') {
    if (a.name !== nodeName) return deny(`node ${goQuote(nodeName)} is not allowed to modify node ${goQuote(a.name)}`);
    if (a.operation === 'CREATE') {
      const bad = forbiddenNodeLabels(Object.keys(a.object?.metadata?.labels ?? {}));
      if (bad.length > 0) return deny(`node ${goQuote(nodeName)} is not allowed to set the following labels: ${bad.join(', ')}`);
    }
    if (a.operation === 'UPDATE') {
      if (JSON.stringify(a.object?.spec?.taints ?? []) !== JSON.stringify(a.oldObject?.spec?.taints ?? [])) return deny(`node ${goQuote(nodeName)} is not allowed to modify taints`);
      const bad = forbiddenNodeLabels(modifiedLabels(a.object?.metadata?.labels, a.oldObject?.metadata?.labels));
      // noderestriction/admission.go words this one without the node: "is not allowed to modify labels: %s"
      // (measured on a real kube-apiserver v1.32 by test/oracle/nodes.test.ts).
      if (bad.length > 0) return deny(`is not allowed to modify labels: ${bad.join(', ')}`);
    }
    return null;
  }
  if (a.group === 'coordination.k8s.io' && a.resource === 'leases') {
    if (a.namespace !== NODE_LEASE_NAMESPACE) return deny(`can only access leases in the ${goQuote(NODE_LEASE_NAMESPACE)} system namespace`);
    if (a.name !== nodeName) return deny('can only access node lease with the same name as the requesting node');
  }
  return null;
}
