/** @jsxImportSource hono/jsx */
// The audit log, filtered by machine, event and outcome; failures show their precise reason.
import type { FC } from 'hono/jsx';
import type { AuditRecord } from '../../store/ports.ts';
import { Layout, TableWrap, Time } from '../layout.tsx';

export interface AuditFilter {
  readonly machine: string;
  readonly event: string;
  readonly outcome: string;
}

export const AuditTable: FC<{ events: readonly AuditRecord[]; label: string; showMachine?: boolean }> = ({ events, label, showMachine = true }) =>
  events.length === 0 ? (
    <p>No event.</p>
  ) : (
    <TableWrap label={label}>
      <table>
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Event</th>
            <th scope="col">Outcome</th>
            {showMachine ? <th scope="col">Machine</th> : null}
            <th scope="col">Method</th>
            <th scope="col">Code</th>
            <th scope="col">Reason</th>
            <th scope="col">Token</th>
            <th scope="col">Actor</th>
          </tr>
        </thead>
        <tbody>
          {events.map((e) => (
            <tr>
              <td>
                <Time ms={e.at} />
              </td>
              <td class="mono">{e.event}</td>
              <td class={`outcome-${e.outcome}`}>{e.outcome}</td>
              {showMachine ? <td class="mono">{e.machineId ? <a href={`/ui/machines/${encodeURIComponent(e.machineId)}`}>{e.machineId}</a> : '—'}</td> : null}
              <td>{e.method ?? '—'}</td>
              <td class="mono">{e.code ?? '—'}</td>
              <td>{e.reason ?? '—'}</td>
              <td class="mono">{e.tokenId ?? '—'}</td>
              <td>{e.actor ?? e.clientIp ?? '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </TableWrap>
  );

export const AuditPage: FC<{ csrf: string; actor: string; filter: AuditFilter; events: AuditRecord[]; eventNames: string[]; scanned: number }> = ({ csrf, actor, filter, events, eventNames, scanned }) => (
  <Layout title="Audit" nav="audit" csrf={csrf} actor={actor}>
    <form class="filters" method="get" action="/ui/audit" role="search" aria-label="Filter the audit log">
      <div>
        <label for="a-machine">Machine ID</label>
        <input id="a-machine" type="search" name="machine" value={filter.machine} />
      </div>
      <div>
        <label for="a-event">Event</label>
        <select id="a-event" name="event">
          <option value="">any</option>
          {eventNames.map((n) => (
            <option value={n} selected={filter.event === n}>
              {n}
            </option>
          ))}
        </select>
      </div>
      <div>
        <label for="a-outcome">Outcome</label>
        <select id="a-outcome" name="outcome">
          <option value="">any</option>
          <option value="success" selected={filter.outcome === 'success'}>
            success
          </option>
          <option value="failure" selected={filter.outcome === 'failure'}>
            failure
          </option>
        </select>
      </div>
      <button type="submit">Filter</button>
    </form>
    <p class="hint">{`${events.length} of the latest ${scanned} events, newest first.`}</p>
    <AuditTable events={events} label="Audit events" />
  </Layout>
);
