// GET /openapi.json: the OpenAPI 3.1 document, unauthenticated (it holds no secret), built once
// per isolate from the request and response schemas (src/http/openapi.ts).
import { Hono } from 'hono';
import type { AppEnv } from '../app.ts';
import { openApiJson } from '../http/openapi.ts';

export function createOpenApiRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get('/openapi.json', (c) => c.body(openApiJson(), 200, { 'content-type': 'application/json' }));
  return app;
}
