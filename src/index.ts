// Workers entry: parses env once per isolate and serves createApp. Composition root only;
// Durable Object classes are exported from here as they are added.
import { createApp } from './app.ts';
import { parseConfig, type Config } from './config.ts';
import { ConfigError } from './errors.ts';
import { createConsoleLogger } from './http/logger.ts';

type Env = Record<string, unknown>;

const logger = createConsoleLogger();
let cached: { env: Env; config: Config | ConfigError; app: ReturnType<typeof createApp> } | null = null;

function appFor(env: Env) {
  if (cached?.env === env) return cached.app;
  let config: Config | ConfigError;
  try {
    config = parseConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    config = err;
    logger.log('error', 'config.invalid', { variables: err.variables, reason: err.reason });
  }
  const app = createApp({
    loadConfig: () => {
      if (config instanceof ConfigError) throw config;
      return config;
    },
    logger,
  });
  cached = { env, config, app };
  return app;
}

export default {
  fetch(request: Request, env: Env, ctx: ExecutionContext): Response | Promise<Response> {
    return appFor(env).fetch(request, env, ctx);
  },
} satisfies ExportedHandler<Env>;
