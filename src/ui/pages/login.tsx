/** @jsxImportSource hono/jsx */
// Sign-in page: the ADMIN_TOKEN form, or, where only Cloudflare Access is configured, a note
// that Access signs operators in. The token travels in a POST body, never in a URL.
import type { FC } from 'hono/jsx';
import { Document } from '../layout.tsx';

export const LoginPage: FC<{ loginNonce: string; adminTokenEnabled: boolean; accessEnabled: boolean; error?: string; notice?: string }> = ({ loginNonce, adminTokenEnabled, accessEnabled, error, notice }) => (
  <Document title="Sign in">
    <main id="content" class="login">
      <h1>Sign in to k3s-enroll</h1>
      {notice ? (
        <div class="notice" role="status">
          {notice}
        </div>
      ) : null}
      {error ? (
        <div class="notice error" role="alert">
          {error}
        </div>
      ) : null}
      {adminTokenEnabled ? (
        <form method="post" action="/ui/login">
          <input type="hidden" name="_login" value={loginNonce} />
          <div class="field">
            <label for="admin-token">Admin token</label>
            <input id="admin-token" name="token" type="password" autocomplete="current-password" required />
            <p class="hint">The service's ADMIN_TOKEN. You stay signed in for an hour.</p>
          </div>
          <button type="submit">Sign in</button>
        </form>
      ) : null}
      {accessEnabled ? <p>{adminTokenEnabled ? 'Or open' : 'Open'} the dashboard through your Cloudflare Access application: Access signs you in.</p> : null}
    </main>
  </Document>
);
