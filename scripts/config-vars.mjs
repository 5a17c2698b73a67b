// @ts-check
// The names of every configuration variable src/config.ts reads, taken from its source, so
// `npm start` forwards each one from its environment to the worker with no second list to forget
// one in (scripts/config-vars.test.ts checks this against what parseConfig really reads).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** @param {string} root @returns {string[]} */
export function configVariables(root) {
  const src = readFileSync(join(root, 'src', 'config.ts'), 'utf8');
  return [...new Set([...src.matchAll(/\b(?:str|url|secret)\('([A-Z][A-Z0-9_]*)'/g)].map((m) => /** @type {string} */ (m[1])))];
}
