// createApp(deps): the Hono app every runtime serves. Middleware order: request id → security
// headers → body limit → config check → routes; one error path (onError/notFound → problem+json).
// It knows nothing of Workers, Deno or Node: entries inject config, clock, logger and services.
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { requestId } from 'hono/request-id';
import { AppError } from './errors.ts';
import type { Config } from './config.ts';
import { toProblemResponse } from './http/problem.ts';
import type { Logger } from './http/logger.ts';
import { createHealthRoutes } from './routes/health.ts';

export const BODY_LIMIT_BYTES = 64 * 1024;

export interface AppDeps {
  /** Returns the parsed config or throws ConfigError (cached by the caller). */
  readonly loadConfig: () => Config;
  readonly logger: Logger;
  readonly now?: () => Date;
}

export type AppEnv = {
  Variables: { requestId: string; config: Config; deps: AppDeps };
};

export function createApp(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.use('*', requestId({ limitLength: 64 }));
  app.use('*', async (c, next) => {
    await next();
    c.res.headers.set('cache-control', 'no-store');
    c.res.headers.set('x-content-type-options', 'nosniff');
    c.res.headers.set('x-request-id', c.get('requestId'));
  });
  app.use(
    '*',
    bodyLimit({
      maxSize: BODY_LIMIT_BYTES,
      onError: () => {
        throw new AppError('payload_too_large', `the request body exceeds ${BODY_LIMIT_BYTES} bytes`);
      },
    }),
  );
  app.use('*', async (c, next) => {
    c.set('deps', deps);
    c.set('config', deps.loadConfig());
    await next();
  });

  app.route('/', createHealthRoutes());

  app.notFound((c) => toProblemResponse(new AppError('not_found', `no route for ${c.req.method} ${new URL(c.req.url).pathname}`), c.get('requestId') ?? 'unknown'));

  app.onError((err, c) => {
    const rid = c.get('requestId') ?? 'unknown';
    if (err instanceof AppError) {
      const level = err.code === 'misconfigured' || err.code === 'internal' || err.code.startsWith('upstream') ? 'error' : 'info';
      deps.logger.log(level, 'request.rejected', { request_id: rid, code: err.code, reason: err.reason, method: c.req.method, path: new URL(c.req.url).pathname });
      return toProblemResponse(err, rid);
    }
    deps.logger.log('error', 'request.failed', { request_id: rid, error: err instanceof Error ? `${err.name}: ${err.message}` : 'unknown' });
    return toProblemResponse(new AppError('internal', 'internal error'), rid);
  });

  return app;
}
