/** @jsxImportSource hono/jsx */
// Tokens: `k3s token list` as a table, create (the K10 join token shown once), delete by id.
import type { FC } from 'hono/jsx';
import type { TokenListItem } from '../../routes/tokens.ts';
import { Csrf, Layout, Notice, TableWrap } from '../layout.tsx';

export const TokensPage: FC<{ csrf: string; actor: string; once: string; items: TokenListItem[]; created?: { token: string; id: string; expiresAt: string | null }; notice?: string; error?: string }> = ({ csrf, actor, once, items, created, notice, error }) => (
  <Layout title="Tokens" nav="tokens" csrf={csrf} actor={actor}>
    {error ? <Notice kind="error">{error}</Notice> : null}
    {notice ? <Notice kind="ok">{notice}</Notice> : null}
    {created ? (
      <section aria-labelledby="created-title" class="notice ok">
        <h2 id="created-title">{`Token ${created.id} created`}</h2>
        <p>Copy it now: it is shown only once.</p>
        <p>
          <span class="secret" data-testid="join-token">
            {created.token}
          </span>
        </p>
        <p>{`Expires: ${created.expiresAt ?? 'never'}`}</p>
      </section>
    ) : null}
    <h2>Create a token</h2>
    <form method="post" action="/ui/tokens" class="filters">
      <Csrf value={csrf} />
      <input type="hidden" name="_once" value={once} />
      <div>
        <label for="t-desc">Description</label>
        <input id="t-desc" name="description" type="text" />
      </div>
      <div>
        <label for="t-ttl">TTL</label>
        <input id="t-ttl" name="ttl" type="text" value="24h" aria-describedby="t-ttl-hint" />
      </div>
      <button type="submit">Create token</button>
      <p class="hint" id="t-ttl-hint">
        A Go duration like 24h; 0 never expires.
      </p>
    </form>
    <h2>Bootstrap tokens</h2>
    <TableWrap label="Bootstrap tokens">
      <table>
        <caption>{items.length === 0 ? 'No bootstrap token.' : `${items.length} bootstrap token${items.length === 1 ? '' : 's'}`}</caption>
        <thead>
          <tr>
            <th scope="col">Token</th>
            <th scope="col">TTL</th>
            <th scope="col">Expires</th>
            <th scope="col">Usages</th>
            <th scope="col">Description</th>
            <th scope="col">Extra groups</th>
            <th scope="col">
              <span class="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {items.map((t) => (
            <tr>
              <th scope="row" class="mono">
                {t.id}
              </th>
              <td>{t.ttl}</td>
              <td>{t.expires ?? '<never>'}</td>
              <td>{t.usages.join(',') || '<none>'}</td>
              <td>{t.description || '<none>'}</td>
              <td class="mono">{t.groups.join(',')}</td>
              <td>
                <form method="post" action="/ui/tokens/delete">
                  <Csrf value={csrf} />
                  <input type="hidden" name="id" value={t.id} />
                  <button type="submit" class="secondary" aria-label={`Delete ${t.id}`}>
                    Delete
                  </button>
                </form>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </TableWrap>
  </Layout>
);
