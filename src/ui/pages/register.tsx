/** @jsxImportSource hono/jsx */
// Register: the form of PUT /v1/machines/{id}, and the answer page that shows a generated
// one-time code exactly once, on a printable card for the technician (with a QR code).
import type { FC } from 'hono/jsx';
import type { MachineView } from '../../store/ports.ts';
import { Csrf, Layout, Notice } from '../layout.tsx';
import { QrCode } from '../qr.tsx';

export interface RegisterValues {
  readonly id: string;
  readonly generateCode: boolean;
  readonly labels: string;
  readonly groups: string;
  readonly tokenTtl: string;
  readonly jwtSubject: string;
  readonly ekPublicKeySha256: string;
  readonly certificateSha256: string;
}

export const EMPTY_REGISTER: RegisterValues = { id: '', generateCode: true, labels: '', groups: '', tokenTtl: '', jwtSubject: '', ekPublicKeySha256: '', certificateSha256: '' };

const Text: FC<{ id: string; name: string; label: string; value: string; hint?: string; required?: boolean; mono?: boolean }> = (p) => (
  <div class="field">
    <label for={p.id}>{p.label}</label>
    <input id={p.id} name={p.name} type="text" value={p.value} required={p.required} class={p.mono ? 'mono' : undefined} aria-describedby={p.hint ? `${p.id}-hint` : undefined} autocomplete="off" spellcheck={false} />
    {p.hint ? (
      <p class="hint" id={`${p.id}-hint`}>
        {p.hint}
      </p>
    ) : null}
  </div>
);

export const RegisterPage: FC<{ csrf: string; actor: string; once: string; values: RegisterValues; error?: string }> = ({ csrf, actor, once, values, error }) => (
  <Layout title="Register a machine" nav="register" csrf={csrf} actor={actor}>
    {error ? <Notice kind="error">{error}</Notice> : null}
    <form method="post" action="/ui/register">
      <Csrf value={csrf} />
      <input type="hidden" name="_once" value={once} />
      <Text id="r-id" name="id" label="Machine ID" value={values.id} required mono hint="Lowercase letters, digits, '-' and '.'; also the Node name the machine joins as." />
      <div class="field inline">
        <input id="r-code" name="generateCode" type="checkbox" value="on" checked={values.generateCode} />
        <label for="r-code">Generate a one-time code</label>
      </div>
      <div class="field">
        <label for="r-labels">Labels</label>
        <textarea id="r-labels" name="labels" aria-describedby="r-labels-hint" spellcheck={false}>
          {values.labels}
        </textarea>
        <p class="hint" id="r-labels-hint">
          One key=value per line, e.g. site=7.
        </p>
      </div>
      <details>
        <summary>Other proofs and options</summary>
        <Text id="r-sub" name="jwtSubject" label="JWT subject" value={values.jwtSubject} mono />
        <Text id="r-ek" name="ekPublicKeySha256" label="EK public key SHA-256" value={values.ekPublicKeySha256} mono hint="Hex SHA-256 of the TPM EK's SubjectPublicKeyInfo." />
        <Text id="r-cert" name="certificateSha256" label="Certificate SHA-256" value={values.certificateSha256} mono hint="Hex SHA-256 of the device certificate (DER)." />
        <Text id="r-ttl" name="tokenTtl" label="Token TTL" value={values.tokenTtl} hint="Go duration from 1m to 24h; empty for the service default." />
        <Text id="r-groups" name="groups" label="Groups" value={values.groups} mono hint="Comma-separated system:bootstrappers:… groups; empty for the default." />
      </details>
      <p class="actions">
        <button type="submit">Register</button>
      </p>
    </form>
  </Layout>
);

export const RegisteredPage: FC<{ csrf: string; actor: string; m: MachineView; created: boolean; code: string | null; enrollUrl: string }> = ({ csrf, actor, m, created, code, enrollUrl }) => (
  <Layout title={`Machine ${m.id} ${created ? 'registered' : 'updated'}`} nav="register" csrf={csrf} actor={actor}>
    <Notice kind="ok">
      {`${m.id} is ${created ? 'registered' : 'updated'}.`} <a href={`/ui/machines/${encodeURIComponent(m.id)}`}>Open its page</a>
    </Notice>
    {code ? (
      <>
        <p class="no-print">
          <strong>This one-time code is shown only now.</strong> It is stored hashed and cannot be shown again; hand the card to the technician or register the machine again for a new code.
        </p>
        <section class="card" aria-labelledby="card-title">
          <div>
            <h2 id="card-title">Enrollment card</h2>
            <dl class="props">
              <dt>Enrollment URL</dt>
              <dd class="mono">{enrollUrl}</dd>
              <dt>Machine ID</dt>
              <dd class="mono">{m.id}</dd>
              <dt>One-time code</dt>
              <dd>
                <span class="secret" data-testid="one-time-code">
                  {code}
                </span>
              </dd>
              <dt>Valid until</dt>
              <dd>{m.enrollmentCodeExpiresAt ? new Date(m.enrollmentCodeExpiresAt).toISOString() : '—'}</dd>
            </dl>
          </div>
          <QrCode text={`ENROLL_URL=${enrollUrl.replace(/\/v1\/enroll$/, '')}\nMACHINE_ID=${m.id}\nENROLL_CODE=${code}\n`} label={`QR code of the enrollment URL, machine ID and one-time code for ${m.id}`} />
        </section>
        <p class="actions no-print">
          <button type="button" data-print hidden>
            Print card
          </button>
          <a href="/ui/register">Register another machine</a>
        </p>
      </>
    ) : (
      <p>
        No one-time code was generated. <a href="/ui/register">Register another machine</a>
      </p>
    )}
  </Layout>
);

export const AlreadySubmittedPage: FC<{ csrf: string; actor: string; what: string; back: string }> = ({ csrf, actor, what, back }) => (
  <Layout title="Already submitted" nav="none" csrf={csrf} actor={actor}>
    <Notice kind="error">{`This form was already submitted (or has expired). ${what} is shown only once and is not shown again.`}</Notice>
    <p>
      <a href={back}>Start again</a>
    </p>
  </Layout>
);
