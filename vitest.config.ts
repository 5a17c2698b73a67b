// Two projects in one run: `node` (domain unit tests, dev-cluster tests, e2e drivers of real
// binaries) and `workers` (integration tests inside workerd through the Worker entry).
import { defineConfig } from 'vitest/config';
import { cloudflareTest } from '@cloudflare/vitest-pool-workers';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'node',
          environment: 'node',
          include: ['src/**/*.test.ts', 'scripts/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        plugins: [
          cloudflareTest({
            main: './src/index.ts',
            wrangler: { configPath: './wrangler.toml' },
            miniflare: {
              bindings: {
                K3S_SERVER_URL: 'https://k3s.example.test:6443',
                CLUSTER_API_URL: 'https://127.0.0.1:1',
                CLUSTER_SA_TOKEN: 'test-sa-token',
                ADMIN_TOKEN: 'test-admin-token-0123456789',
                CLUSTER_CA_HASH: '547fdc627174e0c2ccee6ad5e0ecc3eb60a2350b9e3ef882c5695e21c995412d',
              },
            },
          }),
        ],
        test: { name: 'workers', include: ['test/integration/**/*.test.ts'], testTimeout: 30_000 },
      },
    ],
  },
});
