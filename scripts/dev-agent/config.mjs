// @ts-check
// The agent's settings as k3s reads them: a config file (YAML map: scalars, quoted strings, block
// or flow lists), then CLI flags (flags win; list flags like node-label append), then K3S_* env
// defaults. Only the keys the dev agent uses are interpreted; others are kept and ignored.

/** @param {string} v */
function scalar(v) {
  const s = v.trim();
  if (s.startsWith('"')) return JSON.parse(s);
  if (s.startsWith("'")) return s.slice(1, -1).replace(/''/g, "'");
  return s;
}

/** A YAML subset: `key: value`, `key: [a, b]`, `key:` + `  - item` lines, comments. @param {string} text */
export function parseConfigYaml(text) {
  /** @type {Record<string, string | string[]>} */
  const out = {};
  let listKey = '';
  for (const [n, line0] of text.split(/\r?\n/).entries()) {
    const line = line0.replace(/\s+#.*$/, '').replace(/^#.*$/, '');
    if (line.trim() === '') continue;
    const item = /^\s+-\s+(.*)$/.exec(line) ?? /^-\s+(.*)$/.exec(line);
    if (item && listKey) {
      /** @type {string[]} */ (out[listKey]).push(scalar(/** @type {string} */ (item[1])));
      continue;
    }
    const m = /^([A-Za-z0-9_-]+)\s*:\s*(.*)$/.exec(line);
    if (!m) throw new Error(`config line ${n + 1}: cannot parse ${JSON.stringify(line0)}`);
    const [, key, value] = /** @type {[string, string, string]} */ (m);
    listKey = '';
    if (value === '') {
      out[key] = [];
      listKey = key;
    } else if (value.startsWith('[')) {
      out[key] = value.replace(/^\[|\]$/g, '').split(',').map((x) => x.trim()).filter(Boolean).map(scalar);
    } else out[key] = scalar(value);
  }
  return out;
}

const LIST_KEYS = ['node-label', 'node-ip', 'node-taint'];
const FLAGS = ['config', 'data-dir', 'server', 'token', 'token-file', 'node-name', 'node-label', 'node-ip', 'timeout', 'heartbeat-seconds'];

/**
 * @param {string[]} argv @param {Record<string, string | undefined>} env @param {(file: string) => string} read
 * @returns {{ config: string, dataDir: string, server: string, token: string, nodeName: string, nodeLabels: string[], nodeIps: string[], once: boolean, timeoutSeconds: number, heartbeatSeconds: number }}
 */
export function loadSettings(argv, env, read) {
  /** @type {Record<string, string[]>} */
  const flags = {};
  let once = false;
  for (let i = 0; i < argv.length; i++) {
    const a = /** @type {string} */ (argv[i]);
    if (a === '--once') {
      once = true;
      continue;
    }
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m || !FLAGS.includes(/** @type {string} */ (m[1]))) throw new Error(`unknown flag: ${a}`);
    const v = m[2] ?? argv[++i];
    if (v === undefined) throw new Error(`flag needs a value: ${a}`);
    (flags[/** @type {string} */ (m[1])] ??= []).push(v);
  }
  const configFile = flags.config?.at(-1) ?? env.K3S_CONFIG_FILE ?? '';
  const file = configFile ? parseConfigYaml(read(configFile)) : {};
  /** @param {string} k */
  const one = (k) => flags[k]?.at(-1) ?? (typeof file[k] === 'string' ? /** @type {string} */ (file[k]) : Array.isArray(file[k]) ? String(file[k].at(-1) ?? '') : '');
  /** @param {string} k */
  const many = (k) => [...(Array.isArray(file[k]) ? /** @type {string[]} */ (file[k]) : typeof file[k] === 'string' ? [/** @type {string} */ (file[k])] : []), ...(flags[k] ?? [])].flatMap((v) => (LIST_KEYS.includes(k) && k !== 'node-label' ? v.split(',') : [v]));
  let token = one('token') || env.K3S_TOKEN || '';
  const tokenFile = one('token-file') || env.K3S_TOKEN_FILE || '';
  if (!token && tokenFile) token = read(tokenFile).trim();
  const dataDir = one('data-dir');
  if (!dataDir) throw new Error('--data-dir is required');
  const server = one('server') || env.K3S_URL || '';
  if (!server) throw new Error('server is required (--server, `server:` in the config file, or K3S_URL)');
  if (!token) throw new Error('token is required (--token, `token:` in the config file, or K3S_TOKEN)');
  return {
    config: configFile,
    dataDir,
    server: server.replace(/\/+$/, ''),
    token,
    nodeName: (one('node-name') || env.K3S_NODE_NAME || '').toLowerCase(),
    nodeLabels: many('node-label'),
    nodeIps: many('node-ip'),
    once,
    timeoutSeconds: Number(one('timeout') || (once ? 30 : 0)),
    heartbeatSeconds: Number(one('heartbeat-seconds') || 10),
  };
}
