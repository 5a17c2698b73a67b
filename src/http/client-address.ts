// Client addresses: IPv4/IPv6 text → bytes, TRUSTED_PROXIES ranges, the client behind trusted
// proxies (X-Forwarded-For), and the key a per-address limiter counts under. Pure, no imports;
// it does not resolve names, read `Forwarded` (RFC 7239) or trust any header on its own.

export interface IpAddress {
  readonly version: 4 | 6;
  /** 4 or 16 bytes; an IPv4-mapped IPv6 address (::ffff:a.b.c.d) is its IPv4 address. */
  readonly bytes: Uint8Array;
}

export interface IpRange extends IpAddress {
  readonly prefix: number;
}

/** IPv6 addresses are counted per /64: one subscriber usually holds a whole /64 (or more). */
export const IPV6_LIMITER_PREFIX = 64;

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const HEXTET = /^[0-9a-f]{1,4}$/;

function parseIpv4(text: string): Uint8Array | null {
  return IPV4.test(text) ? Uint8Array.from(text.split('.').map(Number)) : null;
}

function parseIpv6(text: string): Uint8Array | null {
  if (text.length > 45) return null;
  let s = text;
  let tail: Uint8Array | null = null;
  const lastColon = s.lastIndexOf(':');
  if (s.includes('.')) {
    // An embedded IPv4 tail (::ffff:192.0.2.1, 64:ff9b::192.0.2.1) stands for the last two hextets.
    tail = parseIpv4(s.slice(lastColon + 1));
    if (tail === null) return null;
    s = `${s.slice(0, lastColon + 1)}0:0`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const part = (h: string) => (h === '' ? [] : h.split(':'));
  const head = part(halves[0]!);
  const rest = halves.length === 2 ? part(halves[1]!) : [];
  const groups = [...head, ...rest];
  if (!groups.every((g) => HEXTET.test(g))) return null;
  if (halves.length === 2 ? groups.length > 7 : groups.length !== 8) return null;
  const words = [...head, ...Array<string>(8 - groups.length).fill('0'), ...rest].map((g) => parseInt(g, 16));
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  if (tail !== null) out.set(tail, 12);
  return out;
}

const isV4Mapped = (b: Uint8Array) => b.length === 16 && b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;

/** An IP address literal (no brackets, no port, no zone) → its bytes, or null. */
export function parseIpAddress(text: string): IpAddress | null {
  const t = text.trim().toLowerCase();
  const v4 = parseIpv4(t);
  if (v4 !== null) return { version: 4, bytes: v4 };
  if (!t.includes(':')) return null;
  const v6 = parseIpv6(t);
  if (v6 === null) return null;
  return isV4Mapped(v6) ? { version: 4, bytes: v6.slice(12) } : { version: 6, bytes: v6 };
}

/**
 * TRUSTED_PROXIES: comma-separated addresses or CIDR ranges (`10.0.0.0/8`, `fd00::/8`, `127.0.0.1`).
 * Throws TypeError naming the first bad entry (config.ts reports the variable).
 */
export function parseIpRanges(text: string): IpRange[] {
  const out: IpRange[] = [];
  for (const raw of text.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const slash = entry.indexOf('/');
    const addr = parseIpAddress(slash === -1 ? entry : entry.slice(0, slash));
    const max = addr?.version === 4 ? 32 : 128;
    const bits = slash === -1 ? max : /^\d{1,3}$/.test(entry.slice(slash + 1)) ? Number(entry.slice(slash + 1)) : NaN;
    // A mapped IPv4 range (::ffff:10.0.0.0/104) is its IPv4 range.
    const prefix = addr !== null && slash !== -1 && addr.version === 4 && entry.slice(0, slash).includes(':') ? bits - 96 : bits;
    if (addr === null || !Number.isInteger(prefix) || prefix < 0 || prefix > max) throw new TypeError(`not an IP address or CIDR range: "${entry.slice(0, 64)}"`);
    out.push({ ...addr, prefix });
  }
  return out;
}

export function inIpRanges(addr: IpAddress, ranges: readonly IpRange[]): boolean {
  return ranges.some((r) => r.version === addr.version && samePrefix(r.bytes, addr.bytes, r.prefix));
}

function samePrefix(a: Uint8Array, b: Uint8Array, bits: number): boolean {
  for (let i = 0; i < bits >> 3; i++) if (a[i] !== b[i]) return false;
  const rem = bits & 7;
  if (rem === 0) return true;
  const mask = (0xff << (8 - rem)) & 0xff;
  return (a[bits >> 3]! & mask) === (b[bits >> 3]! & mask);
}

/** One X-Forwarded-For hop: `a.b.c.d`, `a.b.c.d:port`, `v6`, `[v6]` or `[v6]:port`. */
function parseHop(hop: string): IpAddress | null {
  const h = hop.trim();
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(h);
  if (bracketed) return parseIpAddress(bracketed[1]!);
  const v4port = /^([\d.]+):\d{1,5}$/.exec(h);
  return parseIpAddress(v4port ? v4port[1]! : h);
}

export function formatIpAddress(a: IpAddress): string {
  if (a.version === 4) return [...a.bytes].join('.');
  const words = Array.from({ length: 8 }, (_, i) => ((a.bytes[2 * i]! << 8) | a.bytes[2 * i + 1]!).toString(16));
  // RFC 5952: the longest run (≥ 2) of zero words becomes `::`.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && words[j] === '0') j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  if (best === -1) return words.join(':');
  return `${words.slice(0, best).join(':')}::${words.slice(best + bestLen).join(':')}`;
}

/**
 * The client's address. Without trusted proxies (the default) or from a peer that is not one, it
 * is the socket peer. From a trusted peer it is the rightmost X-Forwarded-For hop that is not
 * itself trusted: hops to its left were written by the client and prove nothing. A trusted
 * peer's request with no usable X-Forwarded-For (absent, or the rightmost untrusted hop garbled)
 * counts as the peer's own; if every hop is trusted, the leftmost is the client.
 */
export function clientAddressBehindProxies(peer: string | null, forwardedFor: string | null, trusted: readonly IpRange[]): string | null {
  if (peer === null || trusted.length === 0) return peer;
  const p = parseIpAddress(peer);
  if (p === null || !inIpRanges(p, trusted) || forwardedFor === null) return peer;
  const hops = forwardedFor.split(',').slice(-64);
  let last: IpAddress | null = null;
  for (let i = hops.length - 1; i >= 0; i--) {
    const a = parseHop(hops[i]!);
    if (a === null) return last === null ? peer : formatIpAddress(last);
    if (!inIpRanges(a, trusted)) return formatIpAddress(a);
    last = a;
  }
  return last === null ? peer : formatIpAddress(last);
}

/**
 * The key a per-address limiter counts `address` under, in `scope` (`ip`, `ui-login`): IPv4 by
 * the full address, IPv6 by its /64, so one subscriber's 2^64 addresses share one budget. Text
 * that is no IP address (none on Workers, where Cloudflare sets CF-Connecting-IP) keys as itself.
 */
export function addressLimiterKey(scope: string, address: string | null): string {
  if (address === null) return `${scope}:unknown`;
  const a = parseIpAddress(address);
  if (a === null) return `${scope}:${address.slice(0, 64)}`;
  if (a.version === 4) return `${scope}:${formatIpAddress(a)}`;
  const net = new Uint8Array(16);
  net.set(a.bytes.slice(0, IPV6_LIMITER_PREFIX / 8));
  return `${scope}:${formatIpAddress({ version: 6, bytes: net })}/${IPV6_LIMITER_PREFIX}`;
}
