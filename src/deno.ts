// Deno entry: the same createApp behind Deno.serve on 127.0.0.1 (HOST/PORT, default 8787).
// Composition root only; prints one JSON line `{"listening":"http://host:port"}` when ready.
import { createApp } from './app.ts';
import { parseConfig, type Config } from './config.ts';
import { ConfigError } from './errors.ts';
import { createConsoleLogger } from './http/logger.ts';

const env = Deno.env.toObject();
const logger = createConsoleLogger((line) => console.error(line));
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

const hostname = env.HOST ?? '127.0.0.1';
const port = Number(env.PORT ?? 8787);
const server = Deno.serve({ hostname, port, onListen: (addr) => console.log(JSON.stringify({ listening: `http://${addr.hostname}:${addr.port}` })) }, app.fetch);
const stop = () => server.shutdown();
Deno.addSignalListener('SIGINT', stop);
Deno.addSignalListener('SIGTERM', stop);
await server.finished;
