// Composition helpers shared by the runtime entries (Workers, Deno, the machine Durable Object):
// parse config once and log it once, and build the cluster client from a config. No runtime APIs.
import { createClusterClient, type ClusterClient, type WriteGate } from './cluster/index.ts';
import { parseConfig, type Config, type ConfigVars } from './config.ts';
import { ConfigError } from './errors.ts';
import type { Logger } from './http/logger.ts';

/** Parses `vars` now; the returned loader answers the config or throws the same ConfigError. */
export function createConfigLoader(vars: ConfigVars, logger: Logger): () => Config {
  let result: Config | ConfigError;
  try {
    result = parseConfig(vars);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    result = err;
    logger.log('error', 'config.invalid', { variables: err.variables, reason: err.reason });
  }
  return () => {
    if (result instanceof ConfigError) throw result;
    return result;
  };
}

export function clusterClientFor(cfg: Config, fetchImpl: typeof fetch, gate?: WriteGate): ClusterClient {
  return createClusterClient({
    ...(gate ? { gate } : {}),
    baseUrl: cfg.clusterApiUrl,
    bearer: cfg.clusterSaToken,
    fetch: fetchImpl,
    now: () => new Date(),
    caPem: cfg.clusterCaPem,
    caHash: cfg.clusterCaHash,
    caHashMode: cfg.caHashMode,
    accessClientId: cfg.clusterAccessClientId,
    accessClientSecret: cfg.clusterAccessClientSecret,
  });
}
