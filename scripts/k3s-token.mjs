#!/usr/bin/env node
// k3s-token: `k3s token` for operators, against this service's admin API instead of a
// kubeconfig. Same sub-commands, flags, defaults and outputs (text table, --output json) as the
// k3s CLI. Runs with Node 20+ (and Deno: `deno run --allow-net --allow-env --allow-read`).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const HELP = {
  '': `NAME:
   k3s-token - Manage bootstrap tokens through k3s-enroll

USAGE:
   k3s-token [global options] command [command options] [arguments...]

COMMANDS:
   create    Create bootstrap tokens on the server
   delete    Delete bootstrap tokens on the server
   generate  Generate and print a bootstrap token, but do not create it on the server
   list      List bootstrap tokens on the server
   rotate    Rotate original server token with a new server token

GLOBAL OPTIONS:
   --server value, -s value       k3s-enroll URL [$K3S_ENROLL_URL] (default: .dev/state.json or http://127.0.0.1:8787)
   --admin-token value            admin bearer token [$K3S_ENROLL_ADMIN_TOKEN] (default: .dev/state.json)
                                  (.dev/state.json is read only when neither --server nor --admin-token is given)
   --help, -h                     show help
`,
  create: `NAME:
   k3s-token create - Create bootstrap tokens on the server

USAGE:
   k3s-token create [command options] [token]

OPTIONS:
   --description value  A human friendly description of how this token is used
   --groups value       Extra groups that this token will authenticate as when used for authentication (default: "system:bootstrappers:k3s:default-node-token")
   --ttl value          The duration before the token is automatically deleted (e.g. 1s, 2m, 3h). If set to '0', the token will never expire (default: 24h0m0s)
   --usages value       Describes the ways in which this token can be used. (default: "signing", "authentication")
`,
  delete: `NAME:
   k3s-token delete - Delete bootstrap tokens on the server

USAGE:
   k3s-token delete [command options] <token-id|token> [...]
`,
  generate: `NAME:
   k3s-token generate - Generate and print a bootstrap token, but do not create it on the server

USAGE:
   k3s-token generate
`,
  list: `NAME:
   k3s-token list - List bootstrap tokens on the server

USAGE:
   k3s-token list [command options]

OPTIONS:
   --output value, -o value  Output format. Valid options: text, json (default: "text")
`,
  rotate: `NAME:
   k3s-token rotate - Rotate original server token with a new server token

USAGE:
   k3s-token rotate [command options]

OPTIONS:
   --token value, -t value  Existing token used to join a server or agent to a cluster [$K3S_TOKEN]
   --new-token value        New token that replaces existing token
`,
};

class CliError extends Error {}

function parseArgs(argv) {
  const flags = {};
  const positional = [];
  const multi = new Set(['groups', 'usages']);
  const alias = { s: 'server', o: 'output', t: 'token', h: 'help' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    const m = /^--?([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m) {
      positional.push(a);
      continue;
    }
    const name = alias[m[1]] ?? m[1];
    if (name === 'help') {
      flags.help = true;
      continue;
    }
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new CliError(`flag needs an argument: -${m[1].length > 1 ? '-' : ''}${m[1]}`);
    if (multi.has(name)) (flags[name] ??= []).push(...value.split(','));
    else flags[name] = value;
  }
  return { flags, positional };
}

function devState() {
  const file = join(process.env.K3S_ENROLL_DEV_DIR ?? join(process.cwd(), '.dev'), 'state.json');
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
}

async function api(ctx, method, path, body) {
  const res = await fetch(`${ctx.server}${path}`, {
    method,
    headers: { authorization: `Bearer ${ctx.adminToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  }).catch((err) => {
    throw new CliError(`cannot reach ${ctx.server}: ${err.cause?.code ?? err.message}`);
  });
  const text = await res.text();
  const json = text ? JSON.parse(text) : null;
  if (!res.ok) throw new CliError(json?.detail ?? json?.title ?? `HTTP ${res.status}`);
  return json;
}

/**
 * The bootstrap token id of a `token delete` argument, as k3s accepts it: an id, `<id>.<secret>`,
 * or a K10 join token holding one. Anything else fails here, before any request is made.
 */
export function tokenIdOf(arg) {
  if (/^[a-z0-9]{6}$/.test(arg)) return arg;
  const creds = arg.startsWith('K10') && arg.includes('::') ? arg.slice(arg.indexOf('::') + 2) : arg;
  const m = /^([a-z0-9]{6})\.[a-z0-9]{16}$/.exec(creds);
  if (m) return m[1];
  throw new CliError('given token didn\'t match pattern "\\A([a-z0-9]{6})\\z" or "\\A([a-z0-9]{6})\\.([a-z0-9]{16})\\z"');
}

/** Go text/tabwriter with minwidth 10, tabwidth 4, padding 3, padchar ' ', flags 0. */
export function tabwrite(rows) {
  const cols = Math.max(...rows.map((r) => r.length));
  const widths = [];
  for (let c = 0; c < cols - 1; c++) widths[c] = Math.max(10, ...rows.map((r) => (r[c] ?? '').length + 3));
  return rows.map((r) => r.map((cell, c) => (c < r.length - 1 ? cell.padEnd(widths[c]) : cell)).join('')).join('\n') + '\n';
}

const commands = {
  async generate(ctx) {
    const r = await api(ctx, 'POST', '/v1/tokens/generate');
    return `${r.token}\n`;
  },
  async create(ctx, { flags, positional }) {
    if (positional.length > 1) throw new CliError('too many arguments');
    const body = {};
    if (positional[0] !== undefined) body.token = positional[0];
    if (flags.ttl !== undefined) body.ttl = flags.ttl;
    if (flags.description !== undefined) body.description = flags.description;
    if (flags.groups) body.groups = flags.groups;
    if (flags.usages) body.usages = flags.usages;
    const r = await api(ctx, 'POST', '/v1/tokens', body);
    return `${r.token}\n`;
  },
  async delete(ctx, { positional }) {
    if (positional.length === 0) throw new CliError("missing argument; 'token delete' is missing token");
    let out = '';
    for (const t of positional) {
      // Only the id goes on the wire: a full token in a URL would land in access logs.
      const r = await api(ctx, 'DELETE', `/v1/tokens/${tokenIdOf(t)}`);
      out += `bootstrap token "${r.id}" deleted\n`;
    }
    return out;
  },
  async list(ctx, { flags }) {
    const format = flags.output ?? 'text';
    if (!['text', 'json'].includes(format)) throw new CliError(`invalid output format: ${format}`);
    const { items } = await api(ctx, 'GET', '/v1/tokens');
    if (format === 'json') {
      // k3s prints `"token":{}` (its token type has no JSON form) and omits empty description/expires.
      return `${JSON.stringify(items.map((t) => ({ token: {}, ...(t.description ? { description: t.description } : {}), ...(t.expires ? { expires: t.expires } : {}), usages: t.usages, groups: t.groups })))}\n`;
    }
    const none = (v) => (v === '' || v.length === 0 ? '<none>' : v);
    const rows = [['TOKEN', 'TTL', 'EXPIRES', 'USAGES', 'DESCRIPTION', 'EXTRA GROUPS']];
    for (const t of items) rows.push([t.id, t.ttl, t.expires ?? '<never>', none(t.usages.join(',')), none(t.description), none(t.groups.join(','))]);
    return tabwrite(rows);
  },
  async rotate(ctx, { flags }) {
    const token = flags.token ?? process.env.K3S_TOKEN;
    if (!token) throw new CliError('--token is required (the current server token)');
    process.stderr.write('\u001b[33mWARNING\u001b[0m: Recommended to keep a record of the old token. If restoring from a snapshot, you must use the token associated with that snapshot.\n');
    await api(ctx, 'POST', '/v1/server-token/rotate', { token, newToken: flags['new-token'] ?? '' });
    return 'Token rotated, restart k3s nodes with new token\n';
  },
};

export async function main(argv) {
  const [sub, ...rest] = argv;
  if (!sub || sub === '--help' || sub === '-h' || sub === 'help') return { code: 0, out: HELP[''] };
  if (!commands[sub]) return { code: 1, err: `error: unknown command "${sub}"; run 'k3s-token --help'\n` };
  try {
    const parsed = parseArgs(rest);
    if (parsed.flags.help) return { code: 0, out: HELP[sub] };
    const server = parsed.flags.server ?? process.env.K3S_ENROLL_URL;
    const adminToken = parsed.flags['admin-token'] ?? process.env.K3S_ENROLL_ADMIN_TOKEN;
    // The dev stack's state (its URL and admin token) only when neither was given: a dev admin
    // token must never be sent to a server the caller named, nor a given token to the dev stack.
    const state = server === undefined && adminToken === undefined ? devState() : {};
    const ctx = {
      server: (server ?? (state.enrollUrl ? state.enrollUrl.replace(/\/v1\/enroll$/, '') : 'http://127.0.0.1:8787')).replace(/\/+$/, ''),
      adminToken: adminToken ?? state.adminToken,
    };
    if (sub !== 'generate' && !ctx.adminToken) throw new CliError('an admin token is required (--admin-token or K3S_ENROLL_ADMIN_TOKEN)');
    if (sub === 'generate' && !ctx.adminToken) ctx.adminToken = '';
    return { code: 0, out: await commands[sub](ctx, parsed) };
  } catch (err) {
    if (err instanceof CliError) return { code: 1, err: `error: ${err.message}\n` };
    throw err;
  }
}

const invokedDirectly = process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop());
if (invokedDirectly) {
  const r = await main(process.argv.slice(2));
  if (r.out) process.stdout.write(r.out);
  if (r.err) process.stderr.write(r.err);
  process.exitCode = r.code;
}
