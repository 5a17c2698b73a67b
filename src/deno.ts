// Deno entry: the same createApp behind Deno.serve on 127.0.0.1 (HOST/PORT, default 8787).
// Composition root only; prints one JSON line `{"listening":"http://host:port"}` when ready.
// Storage is in memory (one process, lost on restart) until a Deno KV adapter exists.
import { createApp, type Services } from './app.ts';
import { createCodeVerifier } from './attest/code.ts';
import { createJwtVerifier } from './attest/jwt.ts';
import { createTpmVerifier, parseEkRoots } from './attest/tpm/index.ts';
import { clusterClientFor, createConfigLoader } from './compose.ts';
import { createMemoryAuditLog, createMemoryMachineIndex, createMemoryMachineStore, createMemoryRateLimiter, createMemoryWebhookEventLog } from './store/memory.ts';
import { createConsoleLogger } from './http/logger.ts';

const env = Deno.env.toObject();
const logger = createConsoleLogger((line) => console.error(line));

let services: Services | null = null;
const app = createApp({
  loadConfig: createConfigLoader(env, logger),
  services: (cfg) =>
    (services ??= {
      machines: createMemoryMachineStore(),
      index: createMemoryMachineIndex(),
      audit: createMemoryAuditLog(),
      webhookEvents: createMemoryWebhookEventLog(),
      ipLimiter: createMemoryRateLimiter(60, 60_000),
      cluster: clusterClientFor(cfg, (input, init) => fetch(input, init)),
      verifiers: { code: createCodeVerifier(), jwt: createJwtVerifier(cfg.jwtIssuers), tpm: createTpmVerifier(cfg.tpmPcrPolicy) },
        ekTrust: parseEkRoots(cfg.tpmEkRootsPem),
    }),
  clientIp: (_req, info) => (info as { remoteAddr?: { hostname?: string } } | undefined)?.remoteAddr?.hostname ?? null,
  logger,
});

const hostname = env.HOST ?? '127.0.0.1';
const port = Number(env.PORT ?? 8787);
const server = Deno.serve({ hostname, port, onListen: (addr) => console.log(JSON.stringify({ listening: `http://${addr.hostname}:${addr.port}` })) }, app.fetch);
const stop = () => server.shutdown();
Deno.addSignalListener('SIGINT', stop);
Deno.addSignalListener('SIGTERM', stop);
await server.finished;
