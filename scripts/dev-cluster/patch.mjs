// @ts-check
// The three patch types the API server takes for built-in kinds: JSON merge patch (RFC 7386),
// strategic merge patch (maps merge, lists with a patchMergeKey merge by it, `$patch` directives,
// `$setElementOrder`/`$retainKeys`/`$deleteFromPrimitiveList` honoured or dropped) and JSON patch
// (RFC 6902). Server-side apply is not served.

/** @param {unknown} v @returns {v is Record<string, any>} */
const isObj = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);
const clone = /** @type {<T>(v: T) => T} */ ((v) => (v === undefined ? v : JSON.parse(JSON.stringify(v))));

/** RFC 7386. @param {any} target @param {any} patch @returns {any} */
export function mergePatch(target, patch) {
  if (!isObj(patch)) return clone(patch);
  const out = isObj(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/**
 * Patch metadata for the served kinds: JSON paths (dot-joined, list items unnamed) of lists with a
 * merge strategy, from the Go struct tags (`patchStrategy:"merge" patchMergeKey:"…"`). A key of
 * '' marks a merged list of primitives.
 * @typedef {Record<string, string>} PatchMeta
 */
export const NODE_PATCH_META = {
  'metadata.ownerReferences': 'uid',
  'metadata.finalizers': '',
  'spec.podCIDRs': '',
  'status.conditions': 'type',
  'status.addresses': 'type',
};
export const LEASE_PATCH_META = { 'metadata.ownerReferences': 'uid', 'metadata.finalizers': '' };
export const SECRET_PATCH_META = { 'metadata.ownerReferences': 'uid', 'metadata.finalizers': '' };

/**
 * Strategic merge patch. Throws an Error with a message for a malformed patch.
 * @param {any} target @param {any} patch @param {PatchMeta} meta @param {string} [path]
 * @returns {any}
 */
export function strategicMergePatch(target, patch, meta, path = '') {
  if (!isObj(patch)) throw new Error('invalid patch: not an object');
  if (patch.$patch === 'replace') {
    const { $patch: _p, ...rest } = patch;
    return clone(rest);
  }
  if (patch.$patch === 'delete') return undefined;
  const out = isObj(target) ? { ...target } : {};
  const retain = Array.isArray(patch.$retainKeys) ? new Set(patch.$retainKeys) : null;
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k === '$retainKeys' || k.startsWith('$setElementOrder/')) continue;
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const field = k.slice('$deleteFromPrimitiveList/'.length);
      if (Array.isArray(out[field]) && Array.isArray(v)) out[field] = out[field].filter((x) => !v.includes(x));
      continue;
    }
    const p = path ? `${path}.${k}` : k;
    if (v === null) {
      delete out[k];
      continue;
    }
    if (Array.isArray(v) && p in meta) {
      out[k] = mergeList(Array.isArray(out[k]) ? out[k] : [], v, /** @type {string} */ (meta[p]), meta, p);
      continue;
    }
    if (isObj(v)) {
      const merged = strategicMergePatch(out[k], v, meta, p);
      if (merged === undefined) delete out[k];
      else out[k] = merged;
      continue;
    }
    out[k] = clone(v);
  }
  if (retain) for (const k of Object.keys(out)) if (!retain.has(k)) delete out[k];
  return out;
}

/** @param {any[]} current @param {any[]} patch @param {string} key @param {PatchMeta} meta @param {string} path */
function mergeList(current, patch, key, meta, path) {
  if (patch.some((e) => isObj(e) && e.$patch === 'replace')) return clone(patch.filter((e) => !(isObj(e) && e.$patch === 'replace')));
  if (key === '') {
    const out = [...current];
    for (const e of patch) if (!out.includes(e)) out.push(e);
    return out;
  }
  const out = current.map(clone);
  for (const e of patch) {
    if (!isObj(e) || !(key in e)) throw new Error(`map: ${JSON.stringify(e)} does not contain declared merge key: ${key}`);
    const i = out.findIndex((c) => isObj(c) && c[key] === e[key]);
    if (e.$patch === 'delete') {
      if (i >= 0) out.splice(i, 1);
      continue;
    }
    if (i >= 0) out[i] = strategicMergePatch(out[i], e, meta, path);
    else out.push(strategicMergePatch({}, e, meta, path));
  }
  return out;
}

/** RFC 6901 pointer → tokens. @param {string} ptr */
function pointer(ptr) {
  if (ptr === '') return [];
  if (!ptr.startsWith('/')) throw new Error(`invalid JSON pointer: ${ptr}`);
  return ptr.slice(1).split('/').map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** RFC 6902. Throws with a message on a failed op. @param {any} doc @param {any} ops */
export function jsonPatch(doc, ops) {
  if (!Array.isArray(ops)) throw new Error('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  let out = clone(doc);
  /** @param {string[]} toks */
  const parentOf = (toks) => {
    let cur = out;
    for (const t of toks.slice(0, -1)) {
      cur = Array.isArray(cur) ? cur[Number(t)] : cur?.[t];
      if (cur === undefined || cur === null || typeof cur !== 'object') throw new Error(`doc is missing path: /${toks.join('/')}`);
    }
    return cur;
  };
  /** @param {string} ptr */
  const get = (ptr) => {
    let cur = out;
    for (const t of pointer(ptr)) {
      cur = Array.isArray(cur) ? cur[Number(t)] : cur?.[t];
      if (cur === undefined) throw new Error(`doc is missing path: ${ptr}`);
    }
    return cur;
  };
  /** @param {string} ptr */
  const remove = (ptr) => {
    const toks = pointer(ptr);
    const parent = parentOf(toks);
    const last = /** @type {string} */ (toks.at(-1));
    if (Array.isArray(parent)) {
      const i = Number(last);
      if (!(i >= 0 && i < parent.length)) throw new Error(`doc is missing path: ${ptr}`);
      return parent.splice(i, 1)[0];
    }
    if (!(last in parent)) throw new Error(`doc is missing path: ${ptr}`);
    const v = parent[last];
    delete parent[last];
    return v;
  };
  /** @param {string} ptr @param {any} value @param {boolean} replace */
  const put = (ptr, value, replace) => {
    const toks = pointer(ptr);
    if (toks.length === 0) {
      out = clone(value);
      return;
    }
    const parent = parentOf(toks);
    const last = /** @type {string} */ (toks.at(-1));
    if (Array.isArray(parent)) {
      const i = last === '-' ? parent.length : Number(last);
      if (!(i >= 0 && i <= parent.length)) throw new Error(`add operation does not apply: doc is missing path: ${ptr}`);
      if (replace) parent[i] = clone(value);
      else parent.splice(i, 0, clone(value));
    } else {
      if (replace && !(last in parent)) throw new Error(`replace operation does not apply: doc is missing key: ${ptr}`);
      parent[last] = clone(value);
    }
  };
  for (const op of ops) {
    switch (op?.op) {
      case 'add':
        put(op.path, op.value, false);
        break;
      case 'remove':
        remove(op.path);
        break;
      case 'replace':
        put(op.path, op.value, true);
        break;
      case 'move':
        put(op.path, remove(op.from), false);
        break;
      case 'copy':
        put(op.path, get(op.from), false);
        break;
      case 'test':
        if (JSON.stringify(get(op.path)) !== JSON.stringify(op.value)) throw new Error(`testing value ${op.path} failed: test failed`);
        break;
      default:
        throw new Error(`Unexpected kind: ${op?.op}`);
    }
  }
  return out;
}
