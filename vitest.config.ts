// Two projects in one run: `node` (domain unit tests, dev-cluster tests, e2e drivers of real
// binaries) and `workers` (integration tests inside workerd through the Worker entry, against a
// dev cluster started by test/global-setup.ts and trusted through the outbound TLS options).
import { defineConfig } from 'vitest/config';
import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-pool-workers';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'node',
          environment: 'node',
          include: ['src/**/*.test.ts', 'scripts/**/*.test.ts', 'bench/**/*.test.ts', 'test/e2e/**/*.test.ts', 'test/oracle/**/*.test.ts'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        plugins: [
          cloudflareTest(async ({ inject }) => {
            const cluster = inject('devCluster');
            return {
              main: './src/index.ts',
              wrangler: { configPath: './wrangler.toml' },
              miniflare: {
                bindings: {
                  K3S_SERVER_URL: 'https://k3s.example.test:6443',
                  CLUSTER_API_URL: cluster.url,
                  CLUSTER_SA_TOKEN: cluster.serviceAccountToken,
                  CLUSTER_CA_PEM: cluster.caPem,
                  ADMIN_TOKEN: 'test-admin-token-0123456789',
                  FLEET_WEBHOOK_SECRET: 'test-fleet-webhook-secret-0123456789',
                  EVENTS_WEBHOOK_SECRET: 'test-events-webhook-secret-0123456789',
                  JWT_ISSUERS: cluster.jwtIssuers,
                  EVENTS_WEBHOOK_URL: `${cluster.eventsUrl}/events`,
                  TEST_MIGRATIONS: await readD1Migrations('./migrations'),
                  DEV_CLUSTER: JSON.stringify(cluster),
                },
                outboundService: {
                  network: { allow: ['public', 'private', 'local'], tlsOptions: { trustBrowserCas: true, trustedCertificates: [cluster.caPem] } },
                },
              },
            };
          }),
        ],
        test: {
          name: 'workers',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/global-setup.ts'],
          setupFiles: ['test/integration/setup.ts'],
          testTimeout: 30_000,
        },
      },
    ],
  },
});
