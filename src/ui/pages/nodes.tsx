/** @jsxImportSource hono/jsx */
// Nodes: every Node with the machine that accounts for it, unattested ones marked, quarantine
// state (GET /v1/nodes' use case). `nodes: null` = the cluster did not answer: a notice says so.
import type { FC } from 'hono/jsx';
import type { NodeListing } from '../../enroll/join-reconcile.ts';
import { Layout, TableWrap } from '../layout.tsx';

/** A row is GET /v1/nodes' item: one shape, owned by the reconciliation use case. */
export type NodeRow = NodeListing;

export const NodesPage: FC<{ csrf: string; actor: string; nodes: readonly NodeRow[] | null; error?: string }> = ({ csrf, actor, nodes, error }) => (
  <Layout title="Nodes" nav="nodes" csrf={csrf} actor={actor}>
    {nodes === null ? (
      <div class="notice" role="status" data-testid="nodes-stub">
        {error ?? 'The Node list is not available.'}
      </div>
    ) : (
      <TableWrap label="Nodes">
        <table>
          <caption>{nodes.length === 0 ? 'No Node in the cluster.' : `${nodes.length} Node${nodes.length === 1 ? '' : 's'}; ${nodes.filter((n) => !n.attested).length} unattested`}</caption>
          <thead>
            <tr>
              <th scope="col">Node</th>
              <th scope="col">Machine</th>
              <th scope="col">Attested</th>
              <th scope="col">Quarantined</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {nodes.map((n) => (
              <tr>
                <th scope="row" class="mono">
                  {n.name}
                </th>
                <td class="mono">{n.machineId ? <a href={`/ui/machines/${encodeURIComponent(n.machineId)}`}>{n.machineId}</a> : '—'}</td>
                <td>{n.attested ? <span class="state state-enrolled">attested</span> : <span class="state state-revoked">unattested</span>}</td>
                <td>{n.quarantined ? 'yes (NoSchedule taint)' : 'no'}</td>
                <td>{n.createdAt ?? '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableWrap>
    )}
  </Layout>
);
