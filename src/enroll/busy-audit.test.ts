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

describe('createBusyAudit, rule by rule', () => {
  it('names the method only when the window saw one; counts refusals without an address or method; remembers at most 1,000 addresses', async () => {
    const { audit, busy, fire } = setup();
    const first = busy.refused({ requestId: 'a0', clientIp: null, method: null });
    busy.refused({ requestId: 'a1', clientIp: null, method: '' });
    for (let i = 0; i < 1_100; i++) busy.refused({ requestId: `b${i}`, clientIp: `10.1.${i >> 8}.${i & 255}`, method: i % 2 ? 'code' : 'jwt' }); // jwt first: the list is sorted
    await fire();
    await first;
    const e = audit.events[0]!;
    expect(e.method).toBeNull(); // two methods
    expect(JSON.parse(e.reason!)).toMatchObject({ refused: 1_102, addresses: 1_000, methods: ['code', 'jwt'] });
    expect(e.clientIp).toBeNull();
    // One method, no address at all.
    const next = busy.refused({ requestId: 'c0', clientIp: null, method: 'tpm' });
    await fire();
    await next;
    expect(audit.events[1]).toMatchObject({ method: 'tpm', clientIp: null });
    expect(JSON.parse(audit.events[1]!.reason!)).toMatchObject({ refused: 1, addresses: 0, methods: ['tpm'] });
  });

  it('a window whose record is being written is closed: the next refusal opens a new one, though the time has not passed', async () => {
    const { audit, busy, fire } = setup();
    const first = busy.refused({ requestId: 'w0', clientIp: '10.0.0.1', method: 'code' });
    await fire(); // the first window's time is up: it is written, and closed
    await first;
    const second = busy.refused({ requestId: 'w1', clientIp: '10.0.0.2', method: 'code' });
    expect(second).toBeInstanceOf(Promise);
    await fire();
    await second;
    expect(audit.events.map((e) => e.requestId)).toEqual(['w0', 'w1']);
  });

  it('a record written late does not close the window opened after it', async () => {
    const audit = createMemoryAuditLog();
    let now = 0;
    const timers: Array<() => void> = [];
    const busy = createBusyAudit({ audit, now: () => now, sleep: () => new Promise<void>((r) => timers.push(r)) });
    const first = busy.refused({ requestId: 'x0', clientIp: null, method: 'code' });
    now += BUSY_AUDIT_WINDOW_MS; // a new window opens before the first one's record is written
    const second = busy.refused({ requestId: 'x1', clientIp: null, method: 'code' });
    expect(second).toBeInstanceOf(Promise);
    timers.shift()!(); // the first record is written now
    await first;
    expect(busy.refused({ requestId: 'x2', clientIp: null, method: 'code' })).toBeNull(); // joins the open second window
    timers.shift()!();
    await second;
    expect(audit.events.map((e) => [e.requestId, JSON.parse(e.reason!).refused])).toEqual([
      ['x0', 1],
      ['x1', 2],
    ]);
  });
});
