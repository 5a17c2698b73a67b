// The aggregated admission-refusal record: one `enroll.busy` per window with the count, the
// addresses and the first request id; a refusal after the window opens the next record.
import { describe, expect, it } from 'vitest';
import { createMemoryAuditLog } from '../store/memory.ts';
import { BUSY_AUDIT_WINDOW_MS, createBusyAudit } from './busy-audit.ts';

function setup() {
  const audit = createMemoryAuditLog();
  let now = 1_000_000;
  const timers: Array<() => void> = [];
  const busy = createBusyAudit({ audit, now: () => now, sleep: () => new Promise<void>((r) => timers.push(r)) });
  const fire = async () => {
    timers.splice(0).forEach((r) => r());
    await new Promise((r) => setTimeout(r, 0));
  };
  return { audit, busy, fire, advance: (ms: number) => (now += ms) };
}

describe('createBusyAudit', () => {
  it('counts a window of refusals into one record written when the window closes', async () => {
    const { audit, busy, fire, advance } = setup();
    const first = busy.refused({ requestId: 'r0', clientIp: '10.0.0.1', method: 'code' });
    expect(first).toBeInstanceOf(Promise);
    for (let i = 1; i < 300; i++) {
      advance(2);
      expect(busy.refused({ requestId: `r${i}`, clientIp: `10.0.0.${i % 7}`, method: 'code' })).toBeNull();
    }
    expect(audit.events).toEqual([]); // nothing written per refusal
    await fire();
    await first;
    expect(audit.events).toHaveLength(1);
    const e = audit.events[0]!;
    expect(e).toMatchObject({ event: 'enroll.busy', outcome: 'failure', code: 'cluster_busy', requestId: 'r0', method: 'code', machineId: null, clientIp: null, at: 1_000_000 });
    expect(JSON.parse(e.reason!)).toEqual({ refused: 300, fromMs: 1_000_000, toMs: 1_000_598, addresses: 7, methods: ['code'] });
  });

  it('a refusal after the window starts the next record; one address is named', async () => {
    const { audit, busy, fire, advance } = setup();
    const a = busy.refused({ requestId: 'a', clientIp: '198.51.100.1', method: 'jwt' });
    advance(BUSY_AUDIT_WINDOW_MS);
    const b = busy.refused({ requestId: 'b', clientIp: '198.51.100.1', method: 'code' });
    expect(b).toBeInstanceOf(Promise);
    await fire();
    await Promise.all([a, b]);
    expect(audit.events.map((e) => [e.requestId, JSON.parse(e.reason!).refused, e.clientIp, e.method])).toEqual([
      ['a', 1, '198.51.100.1', 'jwt'],
      ['b', 1, '198.51.100.1', 'code'],
    ]);
  });

  it('a failing audit write does not reject the deferred work', async () => {
    let now = 0;
    const busy = createBusyAudit({ audit: { append: () => Promise.reject(new Error('D1 down')) }, now: () => now++, sleep: async () => {} });
    await expect(busy.refused({ requestId: 'r', clientIp: null, method: null })).resolves.toBeUndefined();
  });
});
