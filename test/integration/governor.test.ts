// The write governor's Durable Object: what it takes from a caller (counts only, hostile values
// as none), the spares it grants, and when it writes its schedule to storage (only when it books
// further ahead than a restart could lose).
import { env, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { SPARE_CREATES_MAX } from '../../src/cluster/write-governor.ts';

const governor = (name: string) => env.GOVERNOR.get(env.GOVERNOR.idFromName(name));

describe('WriteGovernorObject', () => {
  it('counts only non-negative numbers, whole; anything else asks for nothing', async () => {
    const stub = governor('gov-hostile');
    const grant = await stub.allocate({ creates: Number.NaN, deletes: '3' as never, spareCreates: -5 }, 50);
    expect(grant.creates).toEqual([]);
    expect(grant.deletes).toEqual([]);
    const fractional = await stub.allocate({ creates: 1.9, deletes: 0 }, 10_000);
    expect(fractional.creates).toHaveLength(1);
    const huge = await stub.allocate({ creates: 0, deletes: 0, spareCreates: Number.POSITIVE_INFINITY }, 10_000);
    expect(huge.creates).toHaveLength(SPARE_CREATES_MAX);
  });

  it('stores its schedule only when it books more than 100 ms ahead', async () => {
    const stub = governor('gov-persist');
    const stored = () => runInDurableObject(stub, async (_o, state) => state.storage.kv.get<{ nextFreeMs: number }>('schedule') ?? null);
    // At the default cap (20: slots 62.5 ms apart) one create books 62.5 ms ahead, and no spare fits.
    const one = await stub.allocate({ creates: 1, deletes: 0, spareCreates: 4 }, 20);
    expect(one.creates).toHaveLength(1);
    expect(await stored()).toBeNull();
    await stub.allocate({ creates: 3, deletes: 0 }, 20);
    expect((await stored())!.nextFreeMs).toBeGreaterThan(Date.now() + 100);
  });
});
