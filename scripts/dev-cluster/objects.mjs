// @ts-check
// A generic registry for the kinds the dev cluster keeps beyond Secrets (Nodes, Leases): create,
// get, list (label/field selectors, limit/continue), update and patch (main resource and
// /status), delete, and watch, with uid/resourceVersion/creationTimestamp kept as the API server
// keeps them. Authorization and admission are the caller's: each write is computed first
// (compute*), checked, then committed (commit/remove).
import { randomUUID } from 'node:crypto';
import { formatRFC3339Seconds } from './clock.mjs';
import { jsonPatch, mergePatch, strategicMergePatch } from './patch.mjs';
import { matches, parseSelector } from './selectors.mjs';
import { badRequest, buildStatus, conflict, invalid, notFound, alreadyExists } from './status.mjs';

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_MSG = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/**
 * @typedef {{ resource: string, group: string, version: string, kind: string, listKind: string, namespaced: boolean,
 *   patchMeta: import('./patch.mjs').PatchMeta, fieldLabels: Record<string, (o: any) => string>, hasStatus: boolean, bodyKeys: string[] }} Kind
 * @typedef {{ status: number, body: unknown }} Reply
 */

/** @type {Kind} */
export const NODES = {
  resource: 'nodes', group: '', version: 'v1', kind: 'Node', listKind: 'NodeList', namespaced: false, hasStatus: true,
  patchMeta: { 'metadata.ownerReferences': 'uid', 'metadata.finalizers': '', 'spec.podCIDRs': '', 'status.conditions': 'type', 'status.addresses': 'type' },
  fieldLabels: { 'metadata.name': (o) => o.metadata.name, 'spec.unschedulable': (o) => String(Boolean(o.spec?.unschedulable)) },
  bodyKeys: ['spec', 'status'],
};
/** @type {Kind} */
export const LEASES = {
  resource: 'leases', group: 'coordination.k8s.io', version: 'v1', kind: 'Lease', listKind: 'LeaseList', namespaced: true, hasStatus: false,
  patchMeta: { 'metadata.ownerReferences': 'uid', 'metadata.finalizers': '' },
  fieldLabels: { 'metadata.name': (o) => o.metadata.name, 'metadata.namespace': (o) => o.metadata.namespace },
  bodyKeys: ['spec'],
};

/** metav1.ObjectMeta in Go field order (JSON output follows it). @param {any} m */
function orderMeta(m) {
  const keys = ['name', 'generateName', 'namespace', 'selfLink', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'labels', 'annotations', 'ownerReferences', 'finalizers', 'managedFields'];
  /** @type {any} */
  const out = {};
  for (const k of keys) if (m[k] !== undefined && m[k] !== null && !(typeof m[k] === 'object' && Object.keys(m[k]).length === 0 && k !== 'creationTimestamp')) out[k] = m[k];
  return out;
}

/**
 * @param {{ store: ReturnType<typeof import('./store.mjs').openStore>, clock: import('./clock.mjs').Clock, hub: ReturnType<typeof import('./watch.mjs').createWatchHub>, kind: Kind, bookmarkIntervalMs?: number }} ctx
 */
export function createObjectsApi({ store, clock, hub, kind, bookmarkIntervalMs = 30_000 }) {
  const bucket = () => (store.state.objects[kind.resource] ??= {});
  const key = /** @param {string} ns @param {string} name */ (ns, name) => (kind.namespaced ? `${ns}/${name}` : name);
  const gr = { group: kind.group, resource: kind.resource };
  const apiVersion = kind.group ? `${kind.group}/${kind.version}` : kind.version;
  /** @param {any} o */
  const present = (o) => {
    /** @type {any} */
    const out = { kind: kind.kind, apiVersion, metadata: orderMeta(o.metadata) };
    for (const k of kind.bodyKeys) out[k] = o[k] ?? {};
    return out;
  };

  /** @param {any} obj @returns {import('./status.mjs').FieldError[]} */
  function validate(obj) {
    /** @type {import('./status.mjs').FieldError[]} */
    const errs = [];
    const name = obj.metadata?.name ?? '';
    if (name === '') errs.push({ type: 'FieldValueRequired', field: 'metadata.name', detail: 'name or generateName is required' });
    else if (!DNS1123_SUBDOMAIN.test(name) || name.length > 253) errs.push({ type: 'FieldValueInvalid', field: 'metadata.name', value: name, detail: DNS1123_MSG });
    for (const [k, v] of Object.entries(obj.metadata?.labels ?? {})) {
      const parts = k.split('/');
      const n = /** @type {string} */ (parts.at(-1));
      if (parts.length > 2 || !LABEL_NAME.test(n) || n.length > 63 || (parts.length === 2 && !DNS1123_SUBDOMAIN.test(/** @type {string} */ (parts[0])))) errs.push({ type: 'FieldValueInvalid', field: 'metadata.labels', value: k, detail: "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character" });
      if (typeof v !== 'string' || !LABEL_VALUE.test(v) || v.length > 63) errs.push({ type: 'FieldValueInvalid', field: 'metadata.labels', value: String(v), detail: "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character" });
    }
    return errs;
  }

  /** @param {string} raw @returns {{ obj: any } | { reply: Reply }} */
  function parseBody(raw) {
    try {
      const obj = JSON.parse(raw);
      if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new Error('not an object');
      return { obj };
    } catch (err) {
      return { reply: { status: 400, body: badRequest(`the object provided is unrecognized (must be of type ${kind.kind}): couldn't get version/kind; json parse error: ${err instanceof Error ? err.message : err}`) } };
    }
  }

  /** @param {'ADDED' | 'MODIFIED' | 'DELETED'} type @param {any} obj @param {any} [prev] */
  const emit = (type, obj, prev) => hub.emit({ rv: Number(obj.metadata.resourceVersion), resource: kind.resource, type, object: present(obj), ...(prev ? { prev: present(prev) } : {}) });

  return {
    kind,
    present,
    /** @param {string} ns @param {string} name */
    lookup(ns, name) {
      return bucket()[key(ns, name)];
    },
    /** @param {string} ns */
    all(ns) {
      return Object.values(bucket()).filter((o) => !kind.namespaced || ns === '' || o.metadata.namespace === ns);
    },

    /** @param {string} ns @param {string} raw @returns {{ obj: any } | { reply: Reply }} */
    computeCreate(ns, raw) {
      const p = parseBody(raw);
      if ('reply' in p) return p;
      const obj = p.obj;
      const meta = obj.metadata ?? {};
      if (kind.namespaced && meta.namespace && meta.namespace !== ns) return { reply: { status: 400, body: badRequest('the namespace of the provided object does not match the namespace sent on the request') } };
      if (meta.resourceVersion) return { reply: { status: 500, body: buildStatus({ message: 'resourceVersion should not be set on objects to be created', code: 500 }) } };
      const errs = validate(obj);
      if (errs.length > 0) return { reply: { status: 422, body: invalid({ group: kind.group, kind: kind.kind }, meta.name ?? '', errs) } };
      const created = {
        metadata: { ...meta, ...(kind.namespaced ? { namespace: ns } : {}), uid: randomUUID(), creationTimestamp: formatRFC3339Seconds(clock.nowMs()) },
        ...Object.fromEntries(kind.bodyKeys.map((k) => [k, obj[k] ?? {}])),
      };
      delete created.metadata.generation;
      delete created.metadata.managedFields;
      return { obj: created };
    },

    /** @param {any} obj @returns {Reply} */
    commitCreate(obj) {
      const k = key(obj.metadata.namespace ?? '', obj.metadata.name);
      if (bucket()[k]) return { status: 409, body: alreadyExists(gr, obj.metadata.name) };
      obj.metadata.resourceVersion = store.nextRv();
      bucket()[k] = obj;
      store.save();
      emit('ADDED', obj);
      return { status: 201, body: present(obj) };
    },

    /** @param {string} ns @param {string} name @returns {Reply} */
    get(ns, name) {
      const o = bucket()[key(ns, name)];
      return o ? { status: 200, body: present(o) } : { status: 404, body: notFound(gr, name) };
    },

    /** @param {URLSearchParams} q @returns {{ filter: (o: any) => boolean } | { reply: Reply }} */
    selectorFilter(q) {
      const fieldSel = parseSelector(q.get('fieldSelector') ?? '');
      if (fieldSel === null) return { reply: { status: 400, body: badRequest(`invalid field selector: ${q.get('fieldSelector')}`) } };
      for (const r of fieldSel) if (!(r.key in kind.fieldLabels)) return { reply: { status: 400, body: badRequest(`field label not supported: ${r.key}`) } };
      const labelSel = parseSelector(q.get('labelSelector') ?? '', true);
      if (labelSel === null) return { reply: { status: 400, body: badRequest(`unable to parse requirement: ${q.get('labelSelector')}`) } };
      return { filter: (o) => fieldSel.every((r) => matches(r, /** @type {(o: any) => string} */ (kind.fieldLabels[r.key])(o))) && labelSel.every((r) => matches(r, o.metadata.labels?.[r.key])) };
    },

    /** @param {string} ns @param {URLSearchParams} q @returns {Reply} */
    list(ns, q) {
      const sel = this.selectorFilter(q);
      if ('reply' in sel) return sel.reply;
      let after = '';
      const cont = q.get('continue');
      if (cont) {
        let c;
        try {
          c = JSON.parse(Buffer.from(cont, 'base64url').toString('utf8'));
        } catch {}
        if (!c || typeof c.start !== 'string' || typeof c.rv !== 'number') return { status: 400, body: badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)') };
        if (c.rv < hub.floor) return { status: 410, body: buildStatus({ message: 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue value from the response to get a consistent list.', reason: 'Expired', code: 410 }) };
        after = c.start;
      }
      const limit = Number(q.get('limit') ?? 0) || 0;
      const all = this.all(ns)
        .filter(sel.filter)
        .sort((a, b) => (key(a.metadata.namespace ?? '', a.metadata.name) < key(b.metadata.namespace ?? '', b.metadata.name) ? -1 : 1))
        .filter((o) => after === '' || key(o.metadata.namespace ?? '', o.metadata.name) > after);
      const page = limit > 0 ? all.slice(0, limit) : all;
      const rv = String(store.state.rv);
      /** @type {any} */
      const metadata = { resourceVersion: rv };
      if (limit > 0 && all.length > limit) {
        const last = /** @type {any} */ (page.at(-1));
        metadata.continue = Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv: Number(rv), start: key(last.metadata.namespace ?? '', last.metadata.name) })).toString('base64url');
        metadata.remainingItemCount = all.length - limit;
      }
      return { status: 200, body: { kind: kind.listKind, apiVersion, metadata, items: page.map(present) } };
    },

    /**
     * PUT or PATCH → the proposed object, not yet stored.
     * @param {{ ns: string, name: string, raw: string, subresource: string, patchType?: string }} r
     * @returns {{ old: any, obj: any } | { reply: Reply }}
     */
    computeUpdate({ ns, name, raw, subresource, patchType }) {
      const old = bucket()[key(ns, name)];
      if (!old) return { reply: { status: 404, body: notFound(gr, name) } };
      /** @type {any} */
      let next;
      if (patchType === undefined) {
        const p = parseBody(raw);
        if ('reply' in p) return p;
        next = p.obj;
        if (next.metadata?.name !== undefined && next.metadata.name !== name) return { reply: { status: 400, body: badRequest(`the name of the object (${next.metadata.name}) does not match the name on the URL (${name})`) } };
      } else {
        let patch;
        try {
          patch = JSON.parse(raw);
        } catch (err) {
          return { reply: { status: 400, body: badRequest(`error decoding patch: ${err instanceof Error ? err.message : err}`) } };
        }
        try {
          const base = present(old);
          if (patchType === 'application/merge-patch+json') next = mergePatch(base, patch);
          else if (patchType === 'application/strategic-merge-patch+json') next = strategicMergePatch(base, patch, kind.patchMeta);
          else if (patchType === 'application/json-patch+json') next = jsonPatch(base, patch);
          else return { reply: { status: 415, body: buildStatus({ message: `the server does not support patch type ${patchType}`, reason: 'UnsupportedMediaType', code: 415 }) } };
        } catch (err) {
          return { reply: { status: 422, body: buildStatus({ message: String(err instanceof Error ? err.message : err), reason: 'Invalid', code: 422 }) } };
        }
        if (next?.metadata?.name !== name) return { reply: { status: 400, body: badRequest('the name of the object does not match the name on the URL') } };
      }
      // A uid in a PUT body is a storage precondition (409); a patched uid fails validation (422).
      const uid = next.metadata?.uid;
      if (uid && uid !== old.metadata.uid && patchType === undefined) return { reply: { status: 409, body: conflict(gr, name, `Precondition failed: UID in precondition: ${uid}, UID in object meta: ${old.metadata.uid}`) } };
      const rv = next.metadata?.resourceVersion;
      if (rv && rv !== old.metadata.resourceVersion) return { reply: { status: 409, body: conflict(gr, name, 'the object has been modified; please apply your changes to the latest version and try again') } };
      const errs = validate(next);
      if (uid && uid !== old.metadata.uid) errs.push({ type: 'FieldValueInvalid', field: 'metadata.uid', value: uid, detail: 'field is immutable' });
      if (errs.length > 0) return { reply: { status: 422, body: invalid({ group: kind.group, kind: kind.kind }, name, errs) } };
      /** @type {any} */
      const obj = { metadata: { ...next.metadata, name, ...(kind.namespaced ? { namespace: ns } : {}), uid: old.metadata.uid, creationTimestamp: old.metadata.creationTimestamp, resourceVersion: old.metadata.resourceVersion } };
      delete obj.metadata.managedFields;
      for (const k of kind.bodyKeys) obj[k] = next[k] ?? {};
      // The status subresource writes status only; the main resource never writes status (nodeStrategy).
      if (kind.hasStatus) {
        if (subresource === 'status') {
          obj.metadata = old.metadata;
          for (const k of kind.bodyKeys) if (k !== 'status') obj[k] = old[k];
        } else obj.status = old.status;
      }
      return { old, obj };
    },

    /** @param {any} old @param {any} obj @returns {Reply} */
    commitUpdate(old, obj) {
      const k = key(obj.metadata.namespace ?? '', obj.metadata.name);
      if (bucket()[k] !== old) return { status: 409, body: conflict(gr, obj.metadata.name, 'the object has been modified; please apply your changes to the latest version and try again') };
      if (JSON.stringify(present(obj)) === JSON.stringify(present(old))) return { status: 200, body: present(old) };
      obj.metadata = { ...obj.metadata, resourceVersion: store.nextRv() };
      bucket()[k] = obj;
      store.save();
      emit('MODIFIED', obj, old);
      return { status: 200, body: present(obj) };
    },

    /** @param {string} ns @param {string} name @param {string} raw @returns {Reply} */
    remove(ns, name, raw) {
      const o = bucket()[key(ns, name)];
      if (!o) return { status: 404, body: notFound(gr, name) };
      if (raw.trim() !== '') {
        /** @type {any} */
        let opts;
        try {
          opts = JSON.parse(raw);
        } catch {
          return { status: 400, body: badRequest('invalid DeleteOptions') };
        }
        const uid = opts?.preconditions?.uid;
        if (uid && uid !== o.metadata.uid) return { status: 409, body: conflict({ group: kind.group, resource: kind.kind }, name, `the UID in the precondition (${uid}) does not match the UID in record (${o.metadata.uid}). The object might have been deleted and then recreated`) };
        const prv = opts?.preconditions?.resourceVersion;
        if (prv && prv !== o.metadata.resourceVersion) return { status: 409, body: conflict({ group: kind.group, resource: kind.kind }, name, `the ResourceVersion in the precondition (${prv}) does not match the ResourceVersion in record (${o.metadata.resourceVersion}). The object might have been modified`) };
      }
      delete bucket()[key(ns, name)];
      const gone = { ...o, metadata: { ...o.metadata, resourceVersion: store.nextRv() } };
      store.save();
      emit('DELETED', gone);
      return { status: 200, body: buildStatus({ status: 'Success', details: { name, group: kind.group, kind: kind.resource, uid: o.metadata.uid } }) };
    },

    /**
     * `?watch=1`: a chunked stream of JSON lines. resourceVersion unset or "0" starts with
     * synthetic ADDED events for what exists; a known resourceVersion replays what followed it.
     * @param {string} ns @param {URLSearchParams} q @param {import('node:http').ServerResponse} res @param {(r: Reply) => void} fail
     */
    watch(ns, q, res, fail) {
      const sel = this.selectorFilter(q);
      if ('reply' in sel) return fail(sel.reply);
      const inNs = /** @param {any} o */ (o) => !kind.namespaced || ns === '' || o.metadata.namespace === ns;
      const want = /** @param {any} o */ (o) => o !== undefined && inNs(o) && sel.filter(o);
      const rvParam = q.get('resourceVersion') ?? '';
      const sendInitial = q.get('sendInitialEvents') === 'true';
      const bookmarks = q.get('allowWatchBookmarks') === 'true' || q.get('allowWatchBookmarks') === '1';
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache, private', 'transfer-encoding': 'chunked' });
      res.flushHeaders(); // a watcher learns the stream is open before the first event
      /** @param {unknown} e */
      // Never after the end: a bookmark timer due in the same tick as the timeout must not write.
      const write = (e) => void (res.writableEnded || res.destroyed || res.write(JSON.stringify(e) + '\n'));
      /** @param {import('./watch.mjs').WatchEvent} e */
      const deliver = (e) => {
        const now = want(e.object);
        const before = e.type === 'MODIFIED' && want(e.prev);
        if (e.type === 'MODIFIED' && before && !now) return write({ type: 'DELETED', object: e.object });
        if (e.type === 'MODIFIED' && !before && now) return write({ type: 'ADDED', object: e.object });
        if (now) write({ type: e.type, object: e.object });
      };
      const bookmark = (/** @type {Record<string,string> | undefined} */ annotations) =>
        write({ type: 'BOOKMARK', object: { kind: kind.kind, apiVersion, metadata: { resourceVersion: String(store.state.rv), creationTimestamp: null, ...(annotations ? { annotations } : {}) } } });
      if (rvParam === '' || rvParam === '0' || sendInitial) {
        for (const o of this.all(ns).filter(want).sort((a, b) => Number(a.metadata.resourceVersion) - Number(b.metadata.resourceVersion))) write({ type: 'ADDED', object: present(o) });
        if (sendInitial && bookmarks) bookmark({ 'k8s.io/initial-events-end': 'true' });
      } else {
        const from = Number(rvParam);
        const past = Number.isFinite(from) ? hub.since(kind.resource, from) : null;
        if (!Number.isFinite(from)) {
          write({ type: 'ERROR', object: badRequest(`invalid resource version: ${rvParam}`) });
          return res.end();
        }
        if (past === null) {
          write({ type: 'ERROR', object: buildStatus({ message: `too old resource version: ${from} (${hub.floor})`, reason: 'Expired', code: 410 }) });
          return res.end();
        }
        for (const e of past) deliver(e);
      }
      const drop = hub.add({ resource: kind.resource, send: deliver });
      /** @type {NodeJS.Timeout[]} */
      const timers = [];
      if (bookmarks) timers.push(setInterval(() => bookmark(undefined), bookmarkIntervalMs));
      const timeout = Number(q.get('timeoutSeconds') ?? 0);
      if (timeout > 0) timers.push(setTimeout(() => res.end(), timeout * 1000));
      const stop = () => {
        drop();
        for (const t of timers) clearInterval(t);
      };
      res.on('close', stop);
      res.on('finish', stop);
    },
  };
}
