// @ts-check
// The Secrets API of one namespace-scoped resource, with the API server's rules for what it
// touches: create (validation, stringData merge, type default, 409), get, list with field and
// label selectors, delete with UID preconditions. Bodies are metav1.Status from status.mjs.
import { randomUUID } from 'node:crypto';
import { formatRFC3339Seconds } from './clock.mjs';
import { decodeGoStdBase64 } from './go-base64.mjs';
import { jsonPatch, mergePatch, SECRET_PATCH_META, strategicMergePatch } from './patch.mjs';
import { matches, parseSelector } from './selectors.mjs';
import { alreadyExists, badRequest, buildStatus, conflict, invalid, notFound } from './status.mjs';

const SECRETS = { group: '', resource: 'secrets' };
const SECRET_KIND = { group: '', kind: 'Secret' };
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_MSG = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DATA_KEY = /^[-._a-zA-Z0-9]+$/;
const MAX_DATA_BYTES = 1024 * 1024;

/** @typedef {import('./store.mjs').Secret} Secret @typedef {{ status: number, body: unknown }} Reply */

/** Strips server-only fields for output; `stringData` never exists in storage. @param {Secret} s */
function present(s) {
  return { kind: 'Secret', apiVersion: 'v1', metadata: s.metadata, ...(s.immutable !== undefined ? { immutable: s.immutable } : {}), ...(s.data ? { data: s.data } : {}), type: s.type };
}

/**
 * @param {{ store: ReturnType<typeof import('./store.mjs').openStore>, clock: import('./clock.mjs').Clock }} ctx
 */
export function createSecretsApi(ctx) {
  const { store, clock } = ctx;
  const key = /** @param {string} ns @param {string} name */ (ns, name) => `${ns}/${name}`;

  return {
    /** @param {string} ns @param {string} name */
    lookup(ns, name) {
      return store.state.secrets[key(ns, name)];
    },

    /** @param {string} ns @param {string} raw @param {{ storeThen?: boolean }} [opts] @returns {Reply} */
    create(ns, raw) {
      /** @type {any} */
      let obj;
      try {
        obj = JSON.parse(raw);
      } catch (err) {
        return { status: 400, body: badRequest(`the object provided is unrecognized (must be of type Secret): couldn't get version/kind; json parse error: ${err instanceof Error ? err.message : err}`) };
      }
      if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return { status: 400, body: badRequest('the object provided is unrecognized (must be of type Secret)') };
      const meta = obj.metadata ?? {};
      if (meta.namespace && meta.namespace !== ns) return { status: 400, body: badRequest('the namespace of the provided object does not match the namespace sent on the request') };
      if (meta.resourceVersion) return { status: 500, body: buildStatus({ message: 'resourceVersion should not be set on objects to be created', code: 500 }) };
      const name = typeof meta.name === 'string' ? meta.name : '';
      /** @type {import('./status.mjs').FieldError[]} */
      const errs = [];
      if (name === '') errs.push({ type: 'FieldValueRequired', field: 'metadata.name', detail: 'name or generateName is required' });
      else {
        if (!DNS1123_SUBDOMAIN.test(name)) errs.push({ type: 'FieldValueInvalid', field: 'metadata.name', value: name, detail: DNS1123_MSG });
        if (name.length > 253) errs.push({ type: 'FieldValueInvalid', field: 'metadata.name', value: name, detail: 'must be no more than 253 characters' });
      }
      const d = parseData(obj);
      if ('reply' in d) return d.reply;
      const data = d.data;
      errs.push(...d.errs);
      if (errs.length > 0) return { status: 422, body: invalid(SECRET_KIND, name, errs) };
      if (store.state.secrets[key(ns, name)]) return { status: 409, body: alreadyExists(SECRETS, name) };
      /** @type {Secret} */
      const secret = {
        metadata: {
          name,
          namespace: ns,
          uid: randomUUID(),
          resourceVersion: store.nextRv(),
          creationTimestamp: formatRFC3339Seconds(clock.nowMs()),
          ...(meta.labels ? { labels: meta.labels } : {}),
          ...(meta.annotations ? { annotations: meta.annotations } : {}),
          ...(Array.isArray(meta.ownerReferences) && meta.ownerReferences.length > 0 ? { ownerReferences: meta.ownerReferences } : {}),
        },
        ...(typeof obj.immutable === 'boolean' ? { immutable: obj.immutable } : {}),
        type: obj.type || 'Opaque',
        ...(Object.keys(data).length > 0 ? { data } : {}),
      };
      store.state.secrets[key(ns, name)] = secret;
      store.save();
      return { status: 201, body: present(secret) };
    },

    /**
     * PUT (patchType undefined) or PATCH: labels, annotations, owner references, data and type as
     * the API server allows them; an immutable Secret keeps its data (422).
     * @param {string} ns @param {string} name @param {string} raw @param {string} [patchType] @returns {Reply}
     */
    update(ns, name, raw, patchType) {
      const old = store.state.secrets[key(ns, name)];
      if (!old) return { status: 404, body: notFound(SECRETS, name) };
      /** @type {any} */
      let next;
      try {
        const body = JSON.parse(raw);
        if (patchType === undefined) next = body;
        else if (patchType === 'application/merge-patch+json') next = mergePatch(present(old), body);
        else if (patchType === 'application/strategic-merge-patch+json') next = strategicMergePatch(present(old), body, SECRET_PATCH_META);
        else if (patchType === 'application/json-patch+json') next = jsonPatch(present(old), body);
        else return { status: 415, body: buildStatus({ message: `the server does not support patch type ${patchType}`, reason: 'UnsupportedMediaType', code: 415 }) };
      } catch (err) {
        return { status: patchType ? 422 : 400, body: patchType ? buildStatus({ message: String(err instanceof Error ? err.message : err), reason: 'Invalid', code: 422 }) : badRequest(`the object provided is unrecognized (must be of type Secret): ${err instanceof Error ? err.message : err}`) };
      }
      if (typeof next !== 'object' || next === null || Array.isArray(next)) return { status: 400, body: badRequest('the object provided is unrecognized (must be of type Secret)') };
      const meta = next.metadata ?? {};
      if (meta.name !== undefined && meta.name !== name) return { status: 400, body: badRequest(`the name of the object (${meta.name}) does not match the name on the URL (${name})`) };
      if (meta.uid && meta.uid !== old.metadata.uid && patchType === undefined) return { status: 409, body: conflict(SECRETS, name, `Precondition failed: UID in precondition: ${meta.uid}, UID in object meta: ${old.metadata.uid}`) };
      if (meta.resourceVersion && meta.resourceVersion !== old.metadata.resourceVersion) return { status: 409, body: conflict(SECRETS, name, 'the object has been modified; please apply your changes to the latest version and try again') };
      const d = parseData(next);
      if ('reply' in d) return d.reply;
      const errs = [...d.errs];
      if (meta.uid && meta.uid !== old.metadata.uid) errs.push({ type: 'FieldValueInvalid', field: 'metadata.uid', value: meta.uid, detail: 'field is immutable' });
      const type = next.type || old.type;
      if (type !== old.type) errs.push({ type: 'FieldValueInvalid', field: 'type', value: type, detail: 'field is immutable' });
      if (old.immutable === true) {
        if (JSON.stringify(d.data) !== JSON.stringify(old.data ?? {})) errs.push({ type: 'FieldValueForbidden', field: 'data', detail: 'field is immutable when `immutable` is set' });
        if (next.immutable !== true) errs.push({ type: 'FieldValueForbidden', field: 'immutable', detail: 'field is immutable when `immutable` is set' });
      }
      if (errs.length > 0) return { status: 422, body: invalid(SECRET_KIND, name, errs) };
      /** @type {Secret} */
      const secret = {
        metadata: {
          name, namespace: ns, uid: old.metadata.uid, resourceVersion: old.metadata.resourceVersion, creationTimestamp: old.metadata.creationTimestamp,
          ...(meta.labels && Object.keys(meta.labels).length ? { labels: meta.labels } : {}),
          ...(meta.annotations && Object.keys(meta.annotations).length ? { annotations: meta.annotations } : {}),
          ...(Array.isArray(meta.ownerReferences) && meta.ownerReferences.length > 0 ? { ownerReferences: meta.ownerReferences } : {}),
        },
        ...(typeof next.immutable === 'boolean' ? { immutable: next.immutable } : {}),
        type,
        ...(Object.keys(d.data).length > 0 ? { data: d.data } : {}),
      };
      if (JSON.stringify(present(secret)) === JSON.stringify(present(old))) return { status: 200, body: present(old) };
      secret.metadata.resourceVersion = store.nextRv();
      store.state.secrets[key(ns, name)] = secret;
      store.save();
      return { status: 200, body: present(secret) };
    },

    /** @param {string} ns @param {string} name @returns {Reply} */
    get(ns, name) {
      const s = store.state.secrets[key(ns, name)];
      return s ? { status: 200, body: present(s) } : { status: 404, body: notFound(SECRETS, name) };
    },

    /** @param {string} ns @param {URLSearchParams} query @returns {Reply} */
    list(ns, query) {
      const fieldSel = parseSelector(query.get('fieldSelector') ?? '');
      if (fieldSel === null) return { status: 400, body: badRequest(`invalid field selector: ${query.get('fieldSelector')}`) };
      for (const r of fieldSel) {
        if (!['metadata.name', 'metadata.namespace', 'type'].includes(r.key)) return { status: 400, body: badRequest(`field label not supported: ${r.key}`) };
      }
      const labelSel = parseSelector(query.get('labelSelector') ?? '', true);
      if (labelSel === null) return { status: 400, body: badRequest(`unable to parse requirement: ${query.get('labelSelector')}`) };
      const items = Object.values(store.state.secrets)
        .filter((s) => s.metadata.namespace === ns)
        .filter((s) => fieldSel.every((r) => matches(r, { 'metadata.name': s.metadata.name, 'metadata.namespace': s.metadata.namespace, type: s.type }[r.key])))
        .filter((s) => labelSel.every((r) => matches(r, s.metadata.labels?.[r.key])))
        // etcd returns keys in byte order; localeCompare would not.
        .sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0))
        .map((s) => ({ metadata: s.metadata, ...(s.immutable !== undefined ? { immutable: s.immutable } : {}), ...(s.data ? { data: s.data } : {}), type: s.type }));
      return { status: 200, body: { kind: 'SecretList', apiVersion: 'v1', metadata: { resourceVersion: String(store.state.rv) }, items } };
    },

    /** @param {string} ns @param {string} name @param {string} raw @returns {Reply} */
    remove(ns, name, raw) {
      const s = store.state.secrets[key(ns, name)];
      if (!s) return { status: 404, body: notFound(SECRETS, name) };
      if (raw.trim() !== '') {
        /** @type {any} */
        let opts;
        try {
          opts = JSON.parse(raw);
        } catch {
          return { status: 400, body: badRequest('invalid DeleteOptions') };
        }
        const uid = opts?.preconditions?.uid;
        if (uid && uid !== s.metadata.uid) {
          // rest.BeforeDelete checks this first and names the Kind, not the resource
          // (GroupResource{Resource: gvk.Kind}), so the message says `Secret`, not `secrets`.
          return { status: 409, body: conflict({ group: '', resource: 'Secret' }, name, `the UID in the precondition (${uid}) does not match the UID in record (${s.metadata.uid}). The object might have been deleted and then recreated`) };
        }
      }
      delete store.state.secrets[key(ns, name)];
      store.nextRv();
      store.save();
      return { status: 200, body: buildStatus({ status: 'Success', details: { name, kind: 'secrets', uid: s.metadata.uid } }) };
    },
  };
}

/**
 * data (base64 as Go decodes it) merged with stringData, with the key and size checks.
 * @param {any} obj @returns {{ data: Record<string, string>, errs: import('./status.mjs').FieldError[] } | { reply: Reply }}
 */
function parseData(obj) {
  /** @type {import('./status.mjs').FieldError[]} */
  const errs = [];
  /** @type {Record<string, string>} */
  const data = {};
  let size = 0;
  for (const [k, v] of Object.entries(obj.data ?? {})) {
    if (typeof v !== 'string') return { reply: { status: 400, body: badRequest(`Secret in version "v1" cannot be handled as a Secret: json: cannot unmarshal into Go struct field Secret.data of type []uint8`) } };
    const dec = decodeGoStdBase64(v);
    if (!dec.ok) return { reply: { status: 400, body: badRequest(`Secret in version "v1" cannot be handled as a Secret: ${dec.error}`) } };
    data[k] = v;
  }
  for (const [k, v] of Object.entries(obj.stringData ?? {})) data[k] = Buffer.from(String(v), 'utf8').toString('base64');
  for (const [k, v] of Object.entries(data)) {
    if (!DATA_KEY.test(k)) errs.push({ type: 'FieldValueInvalid', field: `data[${k}]`, value: k, detail: "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')" });
    size += Buffer.from(v, 'base64').length;
  }
  if (size > MAX_DATA_BYTES) errs.push({ type: 'FieldValueTooLong', field: 'data', detail: `may not be more than ${MAX_DATA_BYTES} bytes` });
  return { data, errs };
}
