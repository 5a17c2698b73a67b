// @ts-check
// Label and field selectors as the API server parses them: `k=v`, `k==v`, `k!=v`, and for labels
// also `k`, `!k`, `k in (a,b)`, `k notin (a,b)`; comma = AND. Parsing only; no indexing.

/** @typedef {{ key: string, op: '=' | '!=' | 'exists' | '!exists' | 'in' | 'notin', values: string[] }} Requirement */

/** Splits on commas outside parentheses. @param {string} s */
function splitTop(s) {
  const out = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

/**
 * @param {string} s @param {boolean} [labels] set-based forms allowed (label selectors)
 * @returns {Requirement[] | null} null when it does not parse
 */
export function parseSelector(s, labels = false) {
  if (s.trim() === '') return [];
  /** @type {Requirement[]} */
  const out = [];
  for (const part of splitTop(s)) {
    let m = /^\s*([^=!\s(),]+)\s*(==|=|!=)\s*([^=!\s(),]*)\s*$/.exec(part);
    if (m) {
      out.push({ key: /** @type {string} */ (m[1]), op: m[2] === '!=' ? '!=' : '=', values: [/** @type {string} */ (m[3])] });
      continue;
    }
    if (!labels) return null;
    m = /^\s*([A-Za-z0-9][-A-Za-z0-9_./]*)\s+(in|notin)\s*\(([^()]*)\)\s*$/.exec(part);
    if (m) {
      out.push({ key: /** @type {string} */ (m[1]), op: m[2] === 'in' ? 'in' : 'notin', values: /** @type {string} */ (m[3]).split(',').map((v) => v.trim()) });
      continue;
    }
    m = /^\s*(!?)\s*([A-Za-z0-9][-A-Za-z0-9_./]*)\s*$/.exec(part);
    if (m) {
      out.push({ key: /** @type {string} */ (m[2]), op: m[1] ? '!exists' : 'exists', values: [] });
      continue;
    }
    return null;
  }
  return out;
}

/** @param {Requirement} r @param {string | undefined} v */
export function matches(r, v) {
  switch (r.op) {
    case 'exists':
      return v !== undefined;
    case '!exists':
      return v === undefined;
    case '=':
      return v === r.values[0];
    case '!=':
      return v !== r.values[0];
    case 'in':
      return v !== undefined && r.values.includes(v);
    case 'notin':
      return v === undefined || !r.values.includes(v);
  }
}
