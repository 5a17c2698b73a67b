// npm start forwards exactly the variables parseConfig reads: none is left behind in the shell.
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config.ts';
// @ts-expect-error: plain JavaScript module with JSDoc types
import { configVariables } from './config-vars.mjs';

describe('configVariables (what npm start forwards to the worker)', () => {
  it('lists every variable parseConfig reads, CLUSTER_MAX_WRITES_PER_SECOND included', () => {
    const read = new Set<string>();
    const vars = new Proxy({} as Record<string, unknown>, { get: (_t, k) => (typeof k === 'string' && read.add(k), undefined) });
    expect(() => parseConfig(vars)).toThrow();
    const listed = configVariables(resolve(import.meta.dirname, '..')) as string[];
    expect(new Set(listed)).toEqual(read);
    expect(listed).toContain('CLUSTER_MAX_WRITES_PER_SECOND');
  });
});
