// @ts-check
// Who is calling, and may they: bearer parsing as bearertoken.go does it, the two service
// accounts, the bootstrap token authenticator with its exact checks (reference/k8s-bootstrap.md
// §2), anonymous handling, and the small RBAC table this cluster grants.
import { timingSafeEqual } from 'node:crypto';
import { parseGoRFC3339 } from './rfc3339.mjs';

const TOKEN_RE = /^([a-z0-9]{6})\.([a-z0-9]{16})$/;
const GROUP_RE = /^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$/;
export const SA_USER = 'system:serviceaccount:k3s-enroll:k3s-enroll';
export const READONLY_USER = 'system:serviceaccount:k3s-enroll:readonly';

/** @typedef {{ username: string, groups: string[] }} User */

/**
 * The bootstrap token authenticator. Returns the user, or null (not authenticated).
 * @param {string} token @param {(name: string) => import('./store.mjs').Secret | undefined} lookup @param {bigint} nowNs
 * @returns {User | null}
 */
export function authenticateBootstrapToken(token, lookup, nowNs) {
  const m = TOKEN_RE.exec(token);
  if (!m) return null;
  const [, id, secret] = /** @type {[string, string, string]} */ (m);
  const s = lookup(`bootstrap-token-${id}`);
  if (!s) return null;
  if (s.metadata.deletionTimestamp) return null;
  if (s.type !== 'bootstrap.kubernetes.io/token' || !s.data) return null;
  const data = /** @param {string} k */ (k) => (s.data?.[k] === undefined ? undefined : Buffer.from(/** @type {string} */ (s.data[k]), 'base64').toString('utf8'));
  const stored = Buffer.from(data('token-secret') ?? '');
  const given = Buffer.from(secret);
  if (stored.length !== given.length || !timingSafeEqual(stored, given)) return null;
  if (data('token-id') !== id) return null;
  const exp = data('expiration');
  if (exp !== undefined && exp !== '') {
    const t = parseGoRFC3339(exp);
    if (t === null || t - nowNs <= 0n) return null;
  }
  if (data('usage-bootstrap-authentication') !== 'true') return null;
  const groups = new Set(['system:bootstrappers']);
  // secrets.GetGroups (cluster-bootstrap util/secrets): an absent or empty auth-extra-groups means
  // the default group only (`if extraGroupsString == "" { return groups.List(), nil }`); measured
  // on a real kube-apiserver v1.32 by test/oracle/differential.test.ts.
  const extra = data('auth-extra-groups');
  if (extra !== undefined && extra !== '') {
    for (const g of extra.split(',')) {
      if (!GROUP_RE.test(g)) return null;
      groups.add(g);
    }
  }
  return { username: `system:bootstrap:${id}`, groups: [...groups].sort() };
}

/**
 * bearertoken.go: `Bearer <token>`, scheme case-insensitive, split on single spaces.
 * @param {string | undefined} header
 * @returns {{ kind: 'none' } | { kind: 'bearer', token: string } | { kind: 'other' }}
 */
export function parseAuthorization(header) {
  const auth = (header ?? '').trim(); // bearertoken.go trims before splitting
  if (auth === '') return { kind: 'none' };
  const parts = auth.split(' ');
  if (parts.length < 2 || parts[0]?.toLowerCase() !== 'bearer') return { kind: 'other' };
  const token = parts[1] ?? '';
  if (token === '') return { kind: 'none' };
  return { kind: 'bearer', token };
}

/** subtle.ConstantTimeCompare for bearer/password checks. @param {string} a @param {string} b */
export function constantTimeEqual(a, b) {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * The x509 authenticator: a client certificate that verified against the client CA → CN is the
 * user, each O a group. @param {import('node:tls').TLSSocket} socket @returns {User | null}
 */
export function userFromClientCert(socket) {
  if (!socket.authorized) return null;
  const subject = socket.getPeerCertificate()?.subject;
  if (!subject?.CN) return null;
  const cn = Array.isArray(subject.CN) ? subject.CN[0] : subject.CN;
  const o = subject.O === undefined ? [] : Array.isArray(subject.O) ? subject.O : [subject.O];
  return { username: String(cn), groups: o.map(String) };
}

/**
 * @typedef {{ verb: string, resource: string, subresource?: string, group?: string, namespace: string, name?: string }} Attributes
 */

/**
 * RBAC: what each identity may do. `namespace` '' is the cluster scope.
 * - system:masters (the admin kubeconfig): everything.
 * - the service account: kube-system Secrets create/get/list/delete and kube-root-ca.crt; Nodes
 *   get/list/watch/patch (the join watch).
 * - system:nodes (kubelets): Nodes and their status, Leases — NodeRestriction narrows both.
 * @param {User} user @param {Attributes} attrs
 */
export function authorize(user, attrs) {
  if (user.groups.includes('system:masters')) return true;
  const group = attrs.group ?? '';
  const res = attrs.subresource ? `${attrs.resource}/${attrs.subresource}` : attrs.resource;
  if (res === 'selfsubjectreviews') return user.groups.includes('system:authenticated');
  if (user.username === SA_USER) {
    if (group === '' && res === 'nodes') return ['get', 'list', 'watch', 'patch'].includes(attrs.verb);
    if (attrs.namespace !== 'kube-system' || group !== '') return false;
    if (res === 'secrets') return ['create', 'get', 'list', 'delete'].includes(attrs.verb);
    if (res === 'configmaps') return attrs.verb === 'get';
    return false;
  }
  if (user.username === READONLY_USER) return group === '' && attrs.namespace === 'kube-system' && res === 'secrets' && ['get', 'list'].includes(attrs.verb);
  if (user.groups.includes('system:nodes')) {
    if (group === '' && res === 'nodes') return ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'].includes(attrs.verb);
    if (group === '' && res === 'nodes/status') return ['update', 'patch'].includes(attrs.verb);
    if (group === 'coordination.k8s.io' && res === 'leases') return ['get', 'create', 'update', 'patch', 'delete'].includes(attrs.verb);
  }
  return false;
}

/** The RBAC denial message: `User "u" cannot <verb> resource "<r>" in API group "<g>" …`. @param {User} user @param {Attributes} attrs */
export function denialMessage(user, attrs) {
  const res = attrs.subresource ? `${attrs.resource}/${attrs.subresource}` : attrs.resource;
  const scope = attrs.namespace ? `in the namespace ${JSON.stringify(attrs.namespace)}` : 'at the cluster scope';
  return `User ${JSON.stringify(user.username)} cannot ${attrs.verb} resource ${JSON.stringify(res)} in API group ${JSON.stringify(attrs.group ?? '')} ${scope}`;
}
