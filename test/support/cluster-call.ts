// HTTPS calls to the dev cluster (or any API server) with a bearer token, Basic auth or a client
// certificate; a watch helper that collects the JSON lines of a chunked stream.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request, type RequestOptions } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CallOptions {
  bearer?: string;
  auth?: string;
  cert?: string;
  key?: string;
  body?: unknown;
  contentType?: string;
  headers?: Record<string, string>;
}
export interface CallResult {
  status: number;
  text: string;
  json: any;
  headers: Record<string, string | string[] | undefined>;
}

function options(base: string, caPem: string, method: string, path: string, o: CallOptions, body: Buffer | undefined): RequestOptions {
  const u = new URL(path, base);
  return {
    hostname: u.hostname,
    port: u.port,
    path: u.pathname + u.search,
    method,
    ca: caPem,
    ...(o.cert ? { cert: o.cert, key: o.key } : {}),
    headers: {
      ...(o.bearer ? { authorization: `Bearer ${o.bearer}` } : {}),
      ...(o.auth ? { authorization: o.auth } : {}),
      ...(body ? { 'content-type': o.contentType ?? 'application/json', 'content-length': String(body.length) } : {}),
      ...o.headers,
    },
  };
}

export function callCluster(base: string, caPem: string, method: string, path: string, o: CallOptions = {}): Promise<CallResult> {
  const body = o.body === undefined ? undefined : Buffer.isBuffer(o.body) ? o.body : Buffer.from(typeof o.body === 'string' ? o.body : JSON.stringify(o.body));
  return new Promise((resolve, reject) => {
    const req = request(options(base, caPem, method, path, o, body), (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => {
        let json: unknown = null;
        try {
          json = JSON.parse(text);
        } catch {}
        resolve({ status: res.statusCode ?? 0, text, json, headers: res.headers });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

export interface WatchStream {
  status: number;
  events: Array<{ type: string; object: any }>;
  /** Resolves when at least n events arrived (or rejects after timeoutMs). */
  waitFor(n: number, timeoutMs?: number): Promise<Array<{ type: string; object: any }>>;
  ended: Promise<void>;
  close(): void;
}

export function watchCluster(base: string, caPem: string, path: string, o: CallOptions = {}): Promise<WatchStream> {
  return new Promise((resolve, reject) => {
    const req = request(options(base, caPem, 'GET', path, o, undefined), (res) => {
      const events: Array<{ type: string; object: any }> = [];
      let buf = '';
      const waiters: Array<() => void> = [];
      let done: () => void = () => {};
      const ended = new Promise<void>((r) => (done = r));
      res.on('data', (d) => {
        buf += d;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (line.trim()) events.push(JSON.parse(line));
        }
        for (const w of waiters.splice(0)) w();
      });
      res.on('end', () => {
        if (buf.trim()) {
          try {
            events.push(JSON.parse(buf));
          } catch {}
        }
        done();
        for (const w of waiters.splice(0)) w();
      });
      res.on('error', () => done());
      resolve({
        status: res.statusCode ?? 0,
        events,
        ended,
        waitFor(n, timeoutMs = 5000) {
          return new Promise((ok, fail) => {
            const t = setTimeout(() => fail(new Error(`only ${events.length} events: ${JSON.stringify(events)}`)), timeoutMs);
            const check = () => {
              if (events.length >= n) {
                clearTimeout(t);
                ok(events);
              } else waiters.push(check);
            };
            check();
          });
        },
        close: () => req.destroy(),
      });
    });
    req.on('error', (e) => ((e as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(e)));
    req.end();
  });
}

/** A client certificate from the dev cluster's client CA, as the supervisor would sign it. */
export function clientCert(stateDir: string, cn: string, o?: string): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'client-cert-'));
  try {
    const ossl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    ossl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'k.pem', '-out', 'c.csr', '-subj', `${o ? `/O=${o}` : ''}/CN=${cn}`);
    writeFileSync(join(dir, 'ext'), 'extendedKeyUsage=clientAuth\n');
    ossl('x509', '-req', '-in', 'c.csr', '-CA', join(stateDir, 'tls', 'client-ca.crt'), '-CAkey', join(stateDir, 'tls', 'client-ca.key'), '-set_serial', String(Date.now()), '-out', 'c.pem', '-days', '1', '-extfile', 'ext');
    return { cert: readFileSync(join(dir, 'c.pem'), 'utf8'), key: readFileSync(join(dir, 'k.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** An EC P-256 key and a DER PKCS#10 CSR for it, as an agent sends to the supervisor. */
export function makeCsr(cn = 'agent'): { key: string; csrDer: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'csr-'));
  try {
    execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'k.pem', '-outform', 'DER', '-out', 'c.der', '-subj', `/CN=${cn}`], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    return { key: readFileSync(join(dir, 'k.pem'), 'utf8'), csrDer: readFileSync(join(dir, 'c.der')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
