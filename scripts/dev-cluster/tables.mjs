// @ts-check
// Server-side printing (meta.k8s.io/v1 Table), which `kubectl get` asks for: the columns k3s's
// API server prints for Nodes, Secrets, ConfigMaps and Leases, ages as duration.HumanDuration.

/** apimachinery duration.HumanDuration. @param {number} ms */
export function humanDuration(ms) {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.trunc(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.trunc(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) return hours % 24 === 0 ? `${Math.trunc(hours / 24)}d` : `${Math.trunc(hours / 24)}d${hours % 24}h`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const dy = Math.trunc(hours / 24) % 365;
    return dy === 0 ? `${Math.trunc(hours / 24 / 365)}y` : `${Math.trunc(hours / 24 / 365)}y${dy}d`;
  }
  return `${Math.trunc(hours / 24 / 365)}y`;
}

const NAME = { name: 'Name', type: 'string', format: 'name', description: "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names", priority: 0 };
const AGE = { name: 'Age', type: 'string', format: '', description: "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata", priority: 0 };
/** @param {string} name @param {string} description @param {number} [priority] */
const col = (name, description, priority = 0) => ({ name, type: 'string', format: '', description, priority });

/** @type {Record<string, { columns: any[], cells: (o: any, age: string) => unknown[] }>} */
const PRINTERS = {
  Node: {
    columns: [NAME, col('Status', 'The status of the node'), col('Roles', 'The roles of the node'), AGE, col('Version', 'Kubelet Version reported by the node.'),
      col('Internal-IP', 'List of internal IPs for the node.', 1), col('External-IP', 'List of external IPs for the node.', 1), col('OS-Image', 'OS image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).', 1), col('Kernel-Version', "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).", 1), col('Container-Runtime', 'Container runtime version reported by the node through runtime remote API (e.g. containerd://1.4.2).', 1)],
    cells(o, age) {
      const ready = (o.status?.conditions ?? []).find((/** @type {any} */ c) => c.type === 'Ready');
      let status = ready ? (ready.status === 'True' ? 'Ready' : ready.status === 'False' ? 'NotReady' : 'Unknown') : 'Unknown';
      if (o.spec?.unschedulable) status += ',SchedulingDisabled';
      const roles = Object.keys(o.metadata.labels ?? {}).filter((k) => k.startsWith('node-role.kubernetes.io/')).map((k) => k.slice('node-role.kubernetes.io/'.length)).filter(Boolean).sort();
      const ip = (/** @type {string} */ t) => (o.status?.addresses ?? []).filter((/** @type {any} */ a) => a.type === t).map((/** @type {any} */ a) => a.address)[0] ?? '<none>';
      const info = o.status?.nodeInfo ?? {};
      return [o.metadata.name, status, roles.length ? roles.join(',') : '<none>', age, info.kubeletVersion ?? '', ip('InternalIP'), ip('ExternalIP'), info.osImage || '<unknown>', info.kernelVersion || '<unknown>', info.containerRuntimeVersion || '<unknown>'];
    },
  },
  Secret: {
    columns: [NAME, col('Type', 'Used to facilitate programmatic handling of secret data. More info: https://kubernetes.io/docs/concepts/configuration/secret/#secret-types'), { ...col('Data', 'Data contains the secret data. Each key must consist of alphanumeric characters, \'-\', \'_\' or \'.\'. The serialized form of the secret data is a base64 encoded string, representing the arbitrary (possibly non-string) data value here. Described in https://tools.ietf.org/html/rfc4648#section-4'), type: 'integer' }, AGE],
    cells: (o, age) => [o.metadata.name, o.type, Object.keys(o.data ?? {}).length, age],
  },
  ConfigMap: {
    columns: [NAME, { ...col('Data', 'Data contains the configuration data.'), type: 'integer' }, AGE],
    cells: (o, age) => [o.metadata.name, Object.keys(o.data ?? {}).length, age],
  },
  Namespace: {
    columns: [NAME, col('Status', 'The status of the namespace'), AGE],
    cells: (o, age) => [o.metadata.name, o.status?.phase ?? 'Active', age],
  },
  Lease: {
    columns: [NAME, col('Holder', 'holderIdentity contains the identity of the holder of a current lease.'), AGE],
    cells: (o, age) => [o.metadata.name, o.spec?.holderIdentity ?? '<unknown>', age],
  },
};

/**
 * A list or a single object as a Table; null when the kind has no printer.
 * @param {any} body @param {string} kind @param {number} nowMs @param {string} includeObject None | Metadata | Object
 */
export function toTable(body, kind, nowMs, includeObject) {
  const p = PRINTERS[kind];
  if (!p) return null;
  const items = Array.isArray(body.items) ? body.items : [body];
  const rows = items.map((/** @type {any} */ o) => {
    const created = Date.parse(o.metadata?.creationTimestamp ?? '');
    const age = Number.isFinite(created) ? humanDuration(nowMs - created) : '<unknown>';
    const object = includeObject === 'None' ? undefined : includeObject === 'Object' ? { kind, apiVersion: kind === 'Lease' ? 'coordination.k8s.io/v1' : 'v1', ...o } : { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata };
    return { cells: p.cells(o, age), ...(object ? { object } : {}) };
  });
  const metadata = Array.isArray(body.items) ? body.metadata : { resourceVersion: body.metadata?.resourceVersion };
  return { kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata, columnDefinitions: p.columns, rows };
}
