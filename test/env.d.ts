declare namespace Cloudflare {
  interface Env {
    K3S_SERVER_URL: string;
    CLUSTER_API_URL: string;
    CLUSTER_SA_TOKEN: string;
    CLUSTER_CA_PEM: string;
    ADMIN_TOKEN: string;
    FLEET_WEBHOOK_SECRET: string;
    EVENTS_WEBHOOK_SECRET: string;
    JWT_ISSUERS: string;
    DEV_CLUSTER: string;
    DB: D1Database;
    MACHINES: DurableObjectNamespace<import('../src/store/durable-object.ts').MachineObject>;
    RATE_LIMITS: DurableObjectNamespace<import('../src/store/durable-object.ts').RateLimitObject>;
    NODE_WATCH: DurableObjectNamespace<import('../src/store/node-watch-object.ts').NodeWatchObject>;
    GOVERNOR: DurableObjectNamespace<import('../src/store/write-governor-object.ts').WriteGovernorObject>;
    TEST_MIGRATIONS: import('cloudflare:test').D1Migration[];
  }
}
