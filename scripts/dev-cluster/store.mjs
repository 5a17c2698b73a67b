// @ts-check
// The dev cluster's persistent state: Secrets by namespace/name, Nodes and Leases (objects), the resourceVersion counter,
// the bearer tokens and the supervisor's server password. Written atomically (temp + rename)
// at most SAVE_DELAY_MS after a change (and at close) so a restart with the same state dir
// continues where it stopped.
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * @typedef {{ metadata: { name: string, namespace: string, uid: string, resourceVersion: string, creationTimestamp: string, labels?: Record<string,string>, annotations?: Record<string,string>, ownerReferences?: any[], deletionTimestamp?: string }, type: string, data?: Record<string,string>, immutable?: boolean }} Secret
 * @typedef {{ rv: number, secrets: Record<string, Secret>, objects: Record<string, Record<string, any>>, namespaces: Record<string, any>, serviceAccountToken: string, readonlyServiceAccountToken: string, controlToken: string, serverPassword: string }} State
 */

/** How long changes may wait to be written together. */
export const SAVE_DELAY_MS = 25;

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
  const writeNow = () => {
    dirty = false;
    if (timer !== null) clearTimeout(timer);
    timer = null;
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, JSON.stringify(state), { mode: 0o600 });
    renameSync(tmp, file);
  };
  // Write-behind: changes within SAVE_DELAY_MS go to disk in one write. Writing the whole state
  // after every change made each write cost O(all objects) (a boot storm's thousandth Secret
  // serialized the 999 before it); etcd's cost per write does not grow like that. close() writes
  // what is pending; a SIGKILL may lose the last SAVE_DELAY_MS of changes.
  let dirty = false;
  /** @type {ReturnType<typeof setTimeout> | null} */
  let timer = null;
  let closed = false;
  const save = () => {
    if (closed) return; // a change after close() (a request still in flight) is not kept
    dirty = true;
    if (timer !== null) return;
    timer = setTimeout(() => {
      timer = null;
      try {
        if (dirty) writeNow();
      } catch {
        dirty = true; // e.g. the state dir was removed under a running cluster: try with the next change
      }
    }, SAVE_DELAY_MS);
    timer.unref?.();
  };
  writeNow();
  return {
    state,
    save,
    /** Writes pending changes now (close, exit). */
    flush() {
      if (dirty) writeNow();
    },
    /** Writes pending changes; later ones are dropped (the cluster is stopping). */
    close() {
      if (dirty) writeNow();
      if (timer !== null) clearTimeout(timer);
      closed = true;
    },
    /** The next resourceVersion: opaque digits, as etcd revisions look. */
    nextRv() {
      state.rv += 1;
      return String(state.rv);
    },
  };
}
