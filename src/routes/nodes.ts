// The fleet's Nodes (admin): GET /v1/nodes lists every Node with the machine that accounts for it
// (null: nobody attested it); POST /v1/nodes/reconcile runs the fleet reconciliation now.
import { Hono } from 'hono';
import { servicesOf, type AppEnv } from '../app.ts';
import { listNodes, reconcileNodes } from '../enroll/join-reconcile.ts';
import { createAdminAuth } from '../http/admin-auth.ts';

export function createNodeRoutes(options: { fetch?: typeof fetch } = {}): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use('/v1/nodes', createAdminAuth(options));
  app.use('/v1/nodes/*', createAdminAuth(options));
  const now = (c: { get(k: 'deps'): { now?: () => Date } }) => (c.get('deps').now ?? (() => new Date()))();

  app.get('/v1/nodes', async (c) => {
    const s = servicesOf(c);
    return c.json({ items: await listNodes({ index: s.index, cluster: s.cluster }) });
  });

  app.post('/v1/nodes/reconcile', async (c) => {
    const s = servicesOf(c);
    const summary = await reconcileNodes({ machines: s.machines, index: s.index, audit: s.audit, cluster: s.cluster, now: () => now(c) }, { quarantine: c.get('config').quarantineUnattested });
    await s.audit
      .append({ at: now(c).getTime(), event: 'nodes.reconcile', outcome: 'success', machineId: null, method: null, code: null, reason: JSON.stringify({ ...summary, unaccountedNodes: summary.unaccountedNodes.slice(0, 20) }), tokenId: null, requestId: c.get('requestId'), actor: c.get('actor'), clientIp: null })
      .catch(() => undefined);
    return c.json(summary);
  });
  return app;
}
