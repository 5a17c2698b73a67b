// /v1/nodes and the fleet reconciliation inside workerd, against the dev cluster: admin auth, the
// listing's shape, the cron handler, and cluster refusals mapped to problem+json (never a raw 5xx).
import { createExecutionContext, createScheduledController, env } from 'cloudflare:test';
import { afterEach, describe, expect, it } from 'vitest';
import { checkedFetch } from '../support/workers/openapi-contract.ts';
import worker from '../../src/index.ts';
import { clearFaults, fault } from '../support/workers/dev-cluster.ts';

const ADMIN = { authorization: 'Bearer test-admin-token-0123456789', 'content-type': 'application/json' };
const call = (method: string, path: string, headers: Record<string, string> = ADMIN) => checkedFetch(`https://enroll.test${path}`, { method, headers });

afterEach(() => clearFaults());

describe('/v1/nodes', () => {
  it('needs the admin credential', async () => {
    for (const [m, p] of [['GET', '/v1/nodes'], ['POST', '/v1/nodes/reconcile']] as const) {
      const res = await call(m, p, {});
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
    }
  });

  it('lists every Node with machineId/attested/quarantined/createdAt; reconcile answers its summary', async () => {
    const res = await call('GET', '/v1/nodes');
    expect(res.status).toBe(200);
    const body = (await res.json()) as { items: Array<Record<string, unknown>> };
    expect(Array.isArray(body.items)).toBe(true);
    for (const n of body.items) expect(Object.keys(n).sort()).toEqual(['attested', 'createdAt', 'machineId', 'name', 'quarantined', 'uid']);
    const r = await call('POST', '/v1/nodes/reconcile');
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ nodes: body.items.length, accounted: expect.any(Number), unaccounted: expect.any(Number), joined: 0, quarantined: 0, errors: 0, unaccountedNodes: expect.any(Array) });
  });

  it('a cluster that refuses the Node list is a 502 problem with a stable code', async () => {
    await fault({ method: 'GET', pathPrefix: '/api/v1/nodes', mode: 'status', status: 403 });
    const res = await call('GET', '/v1/nodes');
    expect(res.status).toBe(502);
    expect(await res.json()).toMatchObject({ code: 'upstream_error' });
  });

  it('the Cron Trigger runs the reconciliation and audits it', async () => {
    await worker.scheduled(createScheduledController({ cron: '*/5 * * * *' }), env as never);
    const audit = (await (await call('GET', '/v1/audit?limit=50')).json()) as { items: Array<{ event: string; actor: string | null }> };
    expect(audit.items.find((e) => e.event === 'nodes.reconcile' && e.actor === 'cron')).toBeDefined();
  });
  it('the Cron Trigger forgets audit records and fleet event ids past AUDIT_RETENTION_DAYS and audits both counts', async () => {
    await env.DB.prepare("INSERT INTO audit (at, event, outcome, record_id) VALUES (1, 'enroll', 'success', 'cron-old-record')").run();
    await env.DB.prepare("INSERT INTO fleet_events (id, type, machine_id, occurred_at, claimed_at) VALUES ('cron-old-event', 'machine.registered', 'm', 1, 1)").run();
    await env.DB.prepare("INSERT INTO fleet_events (id, type, machine_id, occurred_at, claimed_at) VALUES ('cron-new-event', 'machine.registered', 'm', 1, ?)").bind(Date.now()).run();
    await worker.scheduled(createScheduledController({ cron: '*/5 * * * *' }), env as never);
    const ids = await env.DB.prepare("SELECT id FROM fleet_events WHERE id LIKE 'cron-%' ORDER BY id").all<{ id: string }>();
    expect(ids.results.map((r) => r.id)).toEqual(['cron-new-event']); // claimed now: kept, whatever its occurrence time
    expect(await env.DB.prepare("SELECT 1 FROM audit WHERE record_id = 'cron-old-record'").first()).toBeNull();
    const audit = (await (await call('GET', '/v1/audit?limit=50')).json()) as { items: Array<{ event: string; reason: string | null }> };
    expect(audit.items.find((e) => e.event === 'audit.pruned')?.reason).toMatch(/^[1-9]\d* records and [1-9]\d* fleet event ids older than 365 days$/);
  });
});
