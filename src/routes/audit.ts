// GET /v1/audit?since=<RFC 3339>&limit=<1..500>: enrollment and admin events, newest first.
import { Hono } from 'hono';
import { servicesOf, type AppEnv } from '../app.ts';
import { AppError } from '../errors.ts';
import { createAdminAuth } from '../http/admin-auth.ts';
import { parseRfc3339 } from '../token/index.ts';

export function createAuditRoutes(options: { fetch?: typeof fetch } = {}): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use('/v1/audit', createAdminAuth(options));
  app.get('/v1/audit', async (c) => {
    const limitRaw = c.req.query('limit') ?? '100';
    const limit = Number(limitRaw);
    if (!/^\d+$/.test(limitRaw) || limit < 1 || limit > 500) throw new AppError('invalid_request', 'limit must be an integer from 1 to 500');
    const sinceRaw = c.req.query('since');
    let sinceMs: number | undefined;
    if (sinceRaw !== undefined) {
      sinceMs = parseRfc3339(sinceRaw) ?? Number.NaN;
      if (Number.isNaN(sinceMs)) throw new AppError('invalid_request', 'since must be an RFC 3339 time');
    }
    const events = await servicesOf(c).audit.list({ limit, ...(sinceMs !== undefined ? { sinceMs } : {}) });
    return c.json({
      items: events.map((e) => ({ ...e, at: new Date(e.at).toISOString() })),
    });
  });
  return app;
}
