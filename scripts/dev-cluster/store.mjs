// @ts-check
// The dev cluster's persistent state: Secrets by namespace/name, Nodes and Leases (objects), the resourceVersion counter,
// the bearer tokens and the supervisor's server password. Written atomically (temp + rename)
// after every change so a restart with the same state dir continues where it stopped.
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * @typedef {{ metadata: { name: string, namespace: string, uid: string, resourceVersion: string, creationTimestamp: string, labels?: Record<string,string>, annotations?: Record<string,string>, ownerReferences?: any[], deletionTimestamp?: string }, type: string, data?: Record<string,string>, immutable?: boolean }} Secret
 * @typedef {{ rv: number, secrets: Record<string, Secret>, objects: Record<string, Record<string, any>>, namespaces: Record<string, any>, serviceAccountToken: string, readonlyServiceAccountToken: string, controlToken: string, serverPassword: string }} State
 */

/** @param {string} dir */
export function openStore(dir) {
  const file = join(dir, 'state.json');
  /** @type {State} */
  const state = existsSync(file)
    ? JSON.parse(readFileSync(file, 'utf8'))
    : {
        rv: 1000,
        secrets: {},
        objects: {},
        namespaces: /** @type {any} */ (undefined),
        serviceAccountToken: `dev-sa.${randomBytes(24).toString('base64url')}`,
        readonlyServiceAccountToken: `dev-readonly-sa.${randomBytes(24).toString('base64url')}`,
        controlToken: randomBytes(24).toString('base64url'),
        serverPassword: randomBytes(16).toString('hex'),
      };
  state.objects ??= {}; // state dirs from before Nodes and Leases
  // The namespaces a k3s server starts with (kubectl looks one up to word a NotFound).
  state.namespaces ??= Object.fromEntries(['default', 'kube-node-lease', 'kube-public', 'kube-system'].map((name) => [name, {
    metadata: { name, uid: randomUUID(), resourceVersion: String(state.rv), creationTimestamp: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'), labels: { 'kubernetes.io/metadata.name': name } },
    spec: { finalizers: ['kubernetes'] },
    status: { phase: 'Active' },
  }]));
  const save = () => {
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, JSON.stringify(state), { mode: 0o600 });
    renameSync(tmp, file);
  };
  save();
  return {
    state,
    save,
    /** The next resourceVersion: opaque digits, as etcd revisions look. */
    nextRv() {
      state.rv += 1;
      return String(state.rv);
    },
  };
}
