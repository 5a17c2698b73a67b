/** @jsxImportSource hono/jsx */
// Machines: the filtered, paged table; one machine (registration hashes, never secrets; live
// token; node; audit trail); and the revoke confirmation step.
import type { FC } from 'hono/jsx';
import type { AuditRecord, MachineView } from '../../store/ports.ts';
import { MACHINE_STATES, machineStateOf, nodeNameOf } from '../fleet-data.ts';
import { Csrf, Labels, Layout, Notice, StateBadge, TableWrap, Time } from '../layout.tsx';
import { AuditTable } from './audit.tsx';

export interface MachineFilter {
  readonly q: string;
  readonly label: string;
  readonly state: string;
  readonly limit: number;
}

const machineHref = (id: string) => `/ui/machines/${encodeURIComponent(id)}`;

export const MachinesPage: FC<{ csrf: string; actor: string; filter: MachineFilter; items: MachineView[]; next: string | null; error?: string }> = ({ csrf, actor, filter, items, next, error }) => {
  const qs = (after: string) => new URLSearchParams({ ...(filter.q ? { q: filter.q } : {}), ...(filter.label ? { label: filter.label } : {}), ...(filter.state ? { state: filter.state } : {}), limit: String(filter.limit), after }).toString();
  return (
    <Layout title="Machines" nav="machines" csrf={csrf} actor={actor}>
      <p>
        <a href="/ui/register">Register a machine</a>
      </p>
      <form class="filters" method="get" action="/ui/machines" role="search" aria-label="Filter machines">
        <div>
          <label for="f-q">Machine ID contains</label>
          <input id="f-q" type="search" name="q" value={filter.q} />
        </div>
        <div>
          <label for="f-label">Label</label>
          <input id="f-label" type="text" name="label" value={filter.label} placeholder="site=7" />
        </div>
        <div>
          <label for="f-state">State</label>
          <select id="f-state" name="state">
            <option value="">any</option>
            {MACHINE_STATES.map((s) => (
              <option value={s} selected={filter.state === s}>
                {s}
              </option>
            ))}
          </select>
        </div>
        <button type="submit">Filter</button>
      </form>
      {error ? <Notice kind="error">{error}</Notice> : null}
      <TableWrap label="Machines">
        <table>
          <caption>{items.length === 0 ? 'No machine matches.' : `${items.length} machine${items.length === 1 ? '' : 's'} on this page`}</caption>
          <thead>
            <tr>
              <th scope="col">Machine ID</th>
              <th scope="col">State</th>
              <th scope="col">Method</th>
              <th scope="col">Labels</th>
              <th scope="col">Last enrolled</th>
              <th scope="col">Token expires</th>
              <th scope="col">Node</th>
            </tr>
          </thead>
          <tbody>
            {items.map((m) => (
              <tr>
                <th scope="row" class="mono">
                  <a href={machineHref(m.id)}>{m.id}</a>
                </th>
                <td>
                  <StateBadge state={machineStateOf(m)} />
                </td>
                <td>{m.liveToken?.method ?? registeredMethods(m)}</td>
                <td>
                  <Labels labels={m.labels} />
                </td>
                <td>
                  <Time ms={m.lastEnrolledAt} />
                </td>
                <td>{m.liveToken ? <Time ms={m.liveToken.expiresAt} /> : '—'}</td>
                <td class="mono">{nodeNameOf(m) ?? '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableWrap>
      <nav class="pager" aria-label="Pages">
        {next ? <a href={`/ui/machines?${qs(next)}`}>Next page</a> : <span>Last page</span>}
        <a href="/ui/machines">First page</a>
      </nav>
    </Layout>
  );
};

/** The proofs a machine was registered with (what it may enroll by). */
function registeredMethods(m: MachineView): string {
  const out: string[] = [];
  if (m.hasEnrollmentCode) out.push('code');
  if (m.jwtSubject) out.push('jwt');
  if (m.ekPublicKeySha256) out.push('tpm');
  if (m.certificateSha256) out.push('x509');
  return out.length ? out.join(', ') : '—';
}

const Prop: FC<{ name: string; value: string | null | undefined; mono?: boolean }> = ({ name, value, mono }) => (
  <>
    <dt>{name}</dt>
    <dd class={mono ? 'mono' : undefined}>{value ?? '—'}</dd>
  </>
);

export const MachinePage: FC<{ csrf: string; actor: string; m: MachineView; trail: AuditRecord[]; notice?: string }> = ({ csrf, actor, m, trail, notice }) => {
  const state = machineStateOf(m);
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  const node = (m as { node?: { name?: string; uid?: string; joinedAt?: number | string | null } | null }).node ?? null;
  return (
    <Layout title={`Machine ${m.id}`} nav="machines" csrf={csrf} actor={actor}>
      {notice ? <Notice kind="ok">{notice}</Notice> : null}
      <p>
        State: <StateBadge state={state} />
      </p>
      <h2>Registration</h2>
      <dl class="props">
        <Prop name="Machine ID" value={m.id} mono />
        <Prop name="Labels" value={Object.entries(m.labels).map(([k, v]) => `${k}=${v}`).join(', ') || null} />
        <Prop name="Groups" value={m.groups?.join(', ') ?? 'service default'} />
        <Prop name="Token TTL" value={m.tokenTtlSeconds === null ? 'service default' : `${m.tokenTtlSeconds}s`} />
        <Prop name="One-time code" value={m.hasEnrollmentCode ? (m.enrollmentCodeUsed ? 'used' : `set, expires ${iso(m.enrollmentCodeExpiresAt) ?? 'never'}`) : 'none'} />
        <Prop name="JWT subject" value={m.jwtSubject} mono />
        <Prop name="EK public key SHA-256" value={m.ekPublicKeySha256} mono />
        <Prop name="Certificate SHA-256" value={m.certificateSha256} mono />
        <Prop name="Registered" value={iso(m.createdAt)} />
        <Prop name="Updated" value={iso(m.updatedAt)} />
        <Prop name="Revoked" value={iso(m.revokedAt)} />
      </dl>
      <h2>Live token</h2>
      {m.liveToken ? (
        <dl class="props">
          <Prop name="Token ID" value={m.liveToken.id} mono />
          <Prop name="Method" value={m.liveToken.method} />
          <Prop name="Expires" value={iso(m.liveToken.expiresAt) ?? 'never'} />
          <Prop name="Last enrolled" value={iso(m.lastEnrolledAt)} />
        </dl>
      ) : (
        <p>{m.lastEnrolledAt ? `No live token (last enrolled ${iso(m.lastEnrolledAt)}).` : 'No live token: never enrolled.'}</p>
      )}
      <h2>Node</h2>
      {node ? (
        <dl class="props">
          <Prop name="Name" value={node.name} mono />
          <Prop name="UID" value={node.uid} mono />
          <Prop name="Joined" value={typeof node.joinedAt === 'number' ? iso(node.joinedAt) : (node.joinedAt ?? null)} />
        </dl>
      ) : (
        <p>No Node recorded for this machine.</p>
      )}
      {m.revokedAt === null ? (
        <form method="get" action={`${machineHref(m.id)}/revoke`} class="actions">
          <button type="submit" class="danger">
            Revoke
          </button>
        </form>
      ) : null}
      <h2>Audit trail</h2>
      <AuditTable events={trail} label={`Audit trail of ${m.id}`} showMachine={false} />
      <p>
        <a href={`/ui/audit?machine=${encodeURIComponent(m.id)}`}>Open in the audit view</a>
      </p>
    </Layout>
  );
};

export const RevokeConfirmPage: FC<{ csrf: string; actor: string; m: MachineView }> = ({ csrf, actor, m }) => (
  <Layout title={`Revoke ${m.id}?`} nav="machines" csrf={csrf} actor={actor}>
    <p>
      Revoking <strong class="mono">{m.id}</strong> deletes its live token{m.liveToken ? <> (<span class="mono">{m.liveToken.id}</span>)</> : null} from the cluster at once and
      refuses every later enrollment until it is registered again.
    </p>
    <form method="post" action={`${machineHref(m.id)}/revoke`} class="actions">
      <Csrf value={csrf} />
      <button type="submit" class="danger">
        Confirm
      </button>
      <a class="button secondary" href={machineHref(m.id)}>
        Cancel
      </a>
    </form>
  </Layout>
);
