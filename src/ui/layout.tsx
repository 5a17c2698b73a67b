/** @jsxImportSource hono/jsx */
// The page shell every dashboard page shares: head (external CSS/JS only, CSP-safe), the main
// navigation with the current page marked, the Sign out button, and small shared components.
import type { Child, FC } from 'hono/jsx';

export type NavKey = 'fleet' | 'machines' | 'register' | 'tokens' | 'audit' | 'nodes' | 'none';

const NAV: ReadonlyArray<{ key: NavKey; href: string; label: string }> = [
  { key: 'fleet', href: '/ui', label: 'Fleet' },
  { key: 'machines', href: '/ui/machines', label: 'Machines' },
  { key: 'register', href: '/ui/register', label: 'Register a machine' },
  { key: 'tokens', href: '/ui/tokens', label: 'Tokens' },
  { key: 'audit', href: '/ui/audit', label: 'Audit' },
  { key: 'nodes', href: '/ui/nodes', label: 'Nodes' },
];

export const Document: FC<{ title: string; children?: Child }> = ({ title, children }) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <meta name="referrer" content="same-origin" />
      <title>{`${title} · k3s-enroll`}</title>
      <link rel="stylesheet" href="/ui/assets/app.css" />
      <script src="/ui/assets/app.js" defer></script>
    </head>
    <body>{children}</body>
  </html>
);

export const Layout: FC<{ title: string; nav: NavKey; csrf: string; actor?: string; children?: Child }> = ({ title, nav, csrf, actor, children }) => (
  <Document title={title}>
    <a class="skip" href="#content">
      Skip to content
    </a>
    <header class="top">
      <a class="brand" href="/ui">
        k3s-enroll
      </a>
      <nav class="main" aria-label="Main">
        <ul>
          {NAV.map((n) => (
            <li>
              <a href={n.href} aria-current={n.key === nav ? 'page' : undefined}>
                {n.label}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <form method="post" action="/ui/logout">
        <input type="hidden" name="_csrf" value={csrf} />
        <button type="submit" class="secondary" title={actor ? `Signed in as ${actor}` : undefined}>
          Sign out
        </button>
      </form>
    </header>
    <main id="content">
      <h1>{title}</h1>
      {children}
    </main>
  </Document>
);

export const Csrf: FC<{ value: string }> = ({ value }) => <input type="hidden" name="_csrf" value={value} />;

export const Notice: FC<{ kind?: 'error' | 'ok' | 'info'; children?: Child }> = ({ kind = 'info', children }) => (
  <div class={`notice ${kind === 'info' ? '' : kind}`} role={kind === 'error' ? 'alert' : 'status'}>
    {children}
  </div>
);

export const StateBadge: FC<{ state: string }> = ({ state }) => <span class={`state state-${state}`}>{state}</span>;

/** A table that scrolls sideways on a phone; focusable so keyboard users can scroll it too. */
export const TableWrap: FC<{ label: string; children?: Child }> = ({ label, children }) => (
  <div class="table-wrap" role="region" aria-label={label} tabindex={0}>
    {children}
  </div>
);

export const Labels: FC<{ labels: Readonly<Record<string, string>> }> = ({ labels }) => {
  const entries = Object.entries(labels);
  if (entries.length === 0) return <span>—</span>;
  return (
    <>
      {entries.map(([k, v]) => (
        <span class="chip">{v === '' ? k : `${k}=${v}`}</span>
      ))}
    </>
  );
};

/** Times as RFC 3339 UTC (what the API and the audit log use), in a <time> element. */
export const Time: FC<{ ms: number | null }> = ({ ms }) => (ms === null ? <span>—</span> : <time datetime={new Date(ms).toISOString()}>{new Date(ms).toISOString().replace('.000Z', 'Z').replace('T', ' ')}</time>);
