/** @jsxImportSource hono/jsx */
// Nodes: a marked placeholder until the join watch (GET /v1/nodes) exists in this codebase.
import type { FC } from 'hono/jsx';
import { Layout } from '../layout.tsx';

export const NodesPage: FC<{ csrf: string; actor: string }> = ({ csrf, actor }) => (
  <Layout title="Nodes" nav="nodes" csrf={csrf} actor={actor}>
    <div class="notice" role="status" data-testid="nodes-stub">
      Not available yet: the Node list (every Node, unattested ones marked, quarantine state) arrives with the join watch (<span class="mono">GET /v1/nodes</span>).
    </div>
  </Layout>
);
