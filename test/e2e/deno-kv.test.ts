// The Deno KV adapters under the real Deno binary (npm package `deno`, offline, --cached-only):
// the EK index keeps revoked machines, the listing has an ordering guard, challenges by id.
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');

describe('Deno KV stores', () => {
  it('keeps a revoked machine’s EK, ignores stale index writes, finds challenges by id', async () => {
    const stdout = await new Promise<string>((res, rej) =>
      execFile(
        resolve(ROOT, 'node_modules/.bin/deno'),
        ['run', '--unstable-kv', '--cached-only', '--no-prompt', 'test/deno/kv-stores.ts'],
        { cwd: ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME, DENO_NO_UPDATE_CHECK: '1', DENO_DIR: resolve(ROOT, 'node_modules/.deno-cache') }, timeout: 60_000 },
        (err, out, stderr) => (err ? rej(new Error(`${err.message}\n${stderr}`)) : res(out)),
      ),
    );
    const r = JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
    expect(r).toEqual({ revokedEkOwner: 'ek-revoked', afterStaleWrite: 2, oldEkOwner: null, newEkOwner: 'ek-revoked', challengeFound: true, unknownChallenge: null, auditKept: 1, eventIdClaims: [true, false], expiringIdClaims: [true, false, true] });
  }, 90_000);
});
