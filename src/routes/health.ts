// GET /healthz: liveness of this isolate with a valid configuration. It does not probe the cluster.
import { Hono } from 'hono';
import type { AppEnv } from '../app.ts';

export function createHealthRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get('/healthz', (c) => c.json({ ok: true }));
  return app;
}
