// The benchmarks' process accounting: a pid listed twice (the Deno storm listed the deno process
// both as the one it spawned and among the processes named deno) is counted once.
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs module without types
import { cpuMsOf, cpuMsOfAll } from './procs.mjs';

describe('cpuMsOfAll', () => {
  it('counts each process once however often it is listed', () => {
    const end = Date.now() + 150;
    while (Date.now() < end); // some CPU of our own to count
    const once = cpuMsOf(process.pid) as number;
    expect(once).toBeGreaterThan(0);
    const listedTwice = cpuMsOfAll([process.pid, process.pid]) as number;
    // Read a moment later, so at least as much; but not twice as much.
    expect(listedTwice).toBeGreaterThanOrEqual(once);
    expect(listedTwice).toBeLessThan(once * 1.5);
  });
});
