/** @jsxImportSource hono/jsx */
// Fleet overview: machines per state, enrollments and rejections per hour (SVG), latest rejections.
import type { FC } from 'hono/jsx';
import type { AuditRecord } from '../../store/ports.ts';
import { HourlyChart } from '../chart.tsx';
import type { HourBucket } from '../fleet-data.ts';
import { Layout, TableWrap, Time } from '../layout.tsx';

export const FleetPage: FC<{ csrf: string; actor: string; counts: Record<string, number>; total: number; truncated: boolean; buckets: HourBucket[]; rejections: AuditRecord[] }> = (p) => (
  <Layout title="Fleet" nav="fleet" csrf={p.csrf} actor={p.actor}>
    <h2 id="states">Machines by state</h2>
    <ul class="cards" aria-labelledby="states">
      <li>
        <span class="n">{String(p.total)}</span>
        <a href="/ui/machines">all machines</a>
      </li>
      {Object.entries(p.counts).map(([state, n]) => (
        <li>
          <span class="n">{String(n)}</span>
          <a href={`/ui/machines?state=${encodeURIComponent(state)}`}>{state}</a>
        </li>
      ))}
    </ul>
    {p.truncated ? <p class="hint">Counted over the first 10,000 machines of the listing.</p> : null}
    <h2>Enrollments per hour</h2>
    <HourlyChart buckets={p.buckets} />
    <h2>Latest rejections</h2>
    {p.rejections.length === 0 ? (
      <p>No rejected enrollment in the audit log.</p>
    ) : (
      <TableWrap label="Latest rejections">
        <table>
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Machine</th>
              <th scope="col">Method</th>
              <th scope="col">Code</th>
              <th scope="col">Reason</th>
            </tr>
          </thead>
          <tbody>
            {p.rejections.map((e) => (
              <tr>
                <td>
                  <Time ms={e.at} />
                </td>
                <td class="mono">{e.machineId ? <a href={`/ui/machines/${encodeURIComponent(e.machineId)}`}>{e.machineId}</a> : '—'}</td>
                <td>{e.method ?? '—'}</td>
                <td class="mono">{e.code ?? '—'}</td>
                <td>{e.reason ?? '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableWrap>
    )}
    <p>
      <a href="/ui/audit?outcome=failure">All failures in the audit log</a>
    </p>
  </Layout>
);
