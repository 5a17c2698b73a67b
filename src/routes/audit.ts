// GET /v1/audit?since=<RFC 3339>&limit=<1..500>: enrollment and admin events, newest first.
import { Hono } from 'hono';
import { servicesOf, type AppEnv } from '../app.ts';
import { createAdminAuth } from '../http/admin-auth.ts';
import { AuditQuery, parseWith } from '../schemas/index.ts';
import { parseRfc3339 } from '../token/index.ts';

export function createAuditRoutes(options: { fetch?: typeof fetch } = {}): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use('/v1/audit', createAdminAuth(options));
  app.get('/v1/audit', async (c) => {
    const q = parseWith(AuditQuery, { limit: c.req.query('limit'), since: c.req.query('since') });
    const sinceMs = q.since === undefined ? undefined : parseRfc3339(q.since)!;
    const events = await servicesOf(c).audit.list({ limit: Number(q.limit), ...(sinceMs !== undefined ? { sinceMs } : {}) });
    return c.json({
      items: events.map((e) => ({ ...e, at: new Date(e.at).toISOString() })),
    });
  });
  return app;
}
