// Client addresses: IP literal parsing (RFC 4291 §2.2 text forms, RFC 5952 output), TRUSTED_PROXIES
// ranges, the client behind trusted proxies, and the per-address limiter key (IPv6 by /64).
import { describe, expect, it } from 'vitest';
import { addressLimiterKey, clientAddressBehindProxies, formatIpAddress, inIpRanges, parseIpAddress, parseIpRanges } from './client-address.ts';

const fmt = (s: string) => {
  const a = parseIpAddress(s);
  return a === null ? null : formatIpAddress(a);
};

describe('parseIpAddress', () => {
  it.each([
    // RFC 4291 §2.2 examples and their RFC 5952 §4 canonical forms.
    ['2001:DB8:0:0:8:800:200C:417A', '2001:db8::8:800:200c:417a'],
    ['FF01:0:0:0:0:0:0:101', 'ff01::101'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['::ffff:129.144.52.38', '129.144.52.38'],
    ['::13.1.68.3', '::d01:4403'],
    ['2001:0db8:0000:0000:0001:0000:0000:0001', '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['192.0.2.1', '192.0.2.1'],
    [' 10.0.0.255 ', '10.0.0.255'],
  ])('%s → %s', (text, canonical) => {
    expect(fmt(text)).toBe(canonical);
  });

  it.each(['', '1.2.3', '1.2.3.4.5', '256.0.0.1', '01.2.3.4', '1.2.3.-1', 'a.b.c.d', ':', ':::', '1::2::3', '12345::', 'g::1', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7::8', '::ffff:1.2.3', '::1.2.3.4.5', '1.2.3.4::', 'fe80::1%eth0', '[::1]', 'localhost', '::ffff:999.1.1.1', `${'1:'.repeat(30)}1`])('rejects %j', (text) => {
    expect(parseIpAddress(text)).toBeNull();
  });
});

describe('parseIpRanges (TRUSTED_PROXIES)', () => {
  it('takes addresses and CIDR ranges, comma-separated, IPv4 and IPv6', () => {
    const r = parseIpRanges(' 10.0.0.0/8, 192.0.2.7 ,fd00::/8,::1,');
    expect(r.map((x) => [formatIpAddress(x), x.prefix])).toEqual([
      ['10.0.0.0', 8],
      ['192.0.2.7', 32],
      ['fd00::', 8],
      ['::1', 128],
    ]);
    expect(inIpRanges(parseIpAddress('10.200.1.1')!, r)).toBe(true);
    expect(inIpRanges(parseIpAddress('11.0.0.1')!, r)).toBe(false);
    expect(inIpRanges(parseIpAddress('192.0.2.8')!, r)).toBe(false);
    expect(inIpRanges(parseIpAddress('fdff::1')!, r)).toBe(true);
    expect(inIpRanges(parseIpAddress('fe00::1')!, r)).toBe(false);
    // An IPv4-mapped peer is its IPv4 address.
    expect(inIpRanges(parseIpAddress('::ffff:10.1.2.3')!, r)).toBe(true);
    expect(parseIpRanges('')).toEqual([]);
    expect(parseIpRanges('0.0.0.0/0').length).toBe(1);
    expect(inIpRanges(parseIpAddress('172.16.5.4')!, parseIpRanges('172.16.0.0/12'))).toBe(true);
    expect(inIpRanges(parseIpAddress('172.32.0.1')!, parseIpRanges('172.16.0.0/12'))).toBe(false);
  });

  it.each(['10.0.0.0/33', '::/129', '10.0.0.0/-1', '10.0.0.0/', '10.0.0.0/8/8', 'proxy.example.com', '10.0.0.0/x', '*', '10.0.0.0/08a'])('rejects %j', (text) => {
    expect(() => parseIpRanges(text)).toThrow(TypeError);
  });
});

describe('clientAddressBehindProxies', () => {
  const proxies = parseIpRanges('127.0.0.1, 10.0.0.0/8, fd00::/8');

  it('trusts no proxy by default: the socket peer, whatever X-Forwarded-For says', () => {
    expect(clientAddressBehindProxies('127.0.0.1', '198.51.100.7', [])).toBe('127.0.0.1');
    expect(clientAddressBehindProxies(null, '198.51.100.7', proxies)).toBeNull();
  });

  it('a peer that is not a trusted proxy is the client (its X-Forwarded-For is the client\'s own claim)', () => {
    expect(clientAddressBehindProxies('203.0.113.9', '198.51.100.7', proxies)).toBe('203.0.113.9');
  });

  it('from a trusted proxy: the rightmost hop that is not itself trusted; hops the client wrote to its left count for nothing', () => {
    expect(clientAddressBehindProxies('127.0.0.1', '198.51.100.7', proxies)).toBe('198.51.100.7');
    expect(clientAddressBehindProxies('127.0.0.1', '203.0.113.66, 198.51.100.7', proxies)).toBe('198.51.100.7');
    expect(clientAddressBehindProxies('127.0.0.1', '198.51.100.7, 10.1.1.1,10.2.2.2', proxies)).toBe('198.51.100.7');
    expect(clientAddressBehindProxies('127.0.0.1', 'not-an-ip, 198.51.100.7', proxies)).toBe('198.51.100.7');
    expect(clientAddressBehindProxies('fd00::1', '2001:db8::7', proxies)).toBe('2001:db8::7');
    expect(clientAddressBehindProxies('::ffff:127.0.0.1', '198.51.100.7', proxies)).toBe('198.51.100.7');
  });

  it('hop forms: bracketed IPv6, with or without a port; IPv4 with a port', () => {
    expect(clientAddressBehindProxies('127.0.0.1', '[2001:DB8::7]:4711', proxies)).toBe('2001:db8::7');
    expect(clientAddressBehindProxies('127.0.0.1', '[2001:db8::7]', proxies)).toBe('2001:db8::7');
    expect(clientAddressBehindProxies('127.0.0.1', '198.51.100.7:4711', proxies)).toBe('198.51.100.7');
  });

  it('no usable header from a trusted proxy: the proxy itself; every hop trusted: the leftmost', () => {
    expect(clientAddressBehindProxies('127.0.0.1', null, proxies)).toBe('127.0.0.1');
    expect(clientAddressBehindProxies('127.0.0.1', '', proxies)).toBe('127.0.0.1');
    expect(clientAddressBehindProxies('127.0.0.1', 'garbage', proxies)).toBe('127.0.0.1');
    expect(clientAddressBehindProxies('127.0.0.1', '198.51.100.7, garbage', proxies)).toBe('127.0.0.1');
    expect(clientAddressBehindProxies('127.0.0.1', '198.51.100.7, garbage, 10.0.0.2', proxies)).toBe('10.0.0.2');
    expect(clientAddressBehindProxies('127.0.0.1', '10.0.0.5, 10.0.0.2', proxies)).toBe('10.0.0.5');
  });
});

describe('addressLimiterKey', () => {
  it('IPv4 by the full address; IPv4-mapped IPv6 is IPv4', () => {
    expect(addressLimiterKey('ip', '203.0.113.7')).toBe('ip:203.0.113.7');
    expect(addressLimiterKey('ip', '::ffff:203.0.113.7')).toBe('ip:203.0.113.7');
    expect(addressLimiterKey('ip', '203.0.113.8')).not.toBe(addressLimiterKey('ip', '203.0.113.7'));
  });

  it('IPv6 by its /64: every address of one /64, however written, is one key; another /64 is another', () => {
    const key = 'ui-login:2001:db8:1:2::/64';
    for (const a of ['2001:db8:1:2::1', '2001:db8:1:2:ffff:ffff:ffff:ffff', '2001:0DB8:0001:0002:0:0:0:9', '2001:db8:1:2:a:b:c:d']) expect(addressLimiterKey('ui-login', a)).toBe(key);
    expect(addressLimiterKey('ip', '2001:db8:1:3::1')).toBe('ip:2001:db8:1:3::/64');
    expect(addressLimiterKey('ip', '::1')).toBe('ip:::/64');
  });

  it('no address: one "unknown" key; text that is no address keys as itself (capped)', () => {
    expect(addressLimiterKey('ip', null)).toBe('ip:unknown');
    expect(addressLimiterKey('ip', 'x'.repeat(200))).toBe(`ip:${'x'.repeat(64)}`);
  });
});

describe('client addresses, rule by rule', () => {
  it('the longest IPv6 text form (45 characters) parses; forms one group short or over with `::` are judged right', () => {
    const longest = 'ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255';
    expect(longest).toHaveLength(45);
    expect(fmt(longest)).toBe('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff');
    expect(fmt('1:2:3:4:5:6:7::')).toBe('1:2:3:4:5:6:7:0'); // `::` for one zero group
    expect(fmt('1:2:3:4:5:6:7:8::1::')).toBeNull(); // two `::`, eight groups before them
  });

  it('IPv4-mapped means ::ffff:0:0/96 exactly; other embedded IPv4 forms stay IPv6', () => {
    expect(parseIpAddress('::ffff:1.2.3.4')).toMatchObject({ version: 4 });
    for (const v6 of ['::1:1.2.3.4', '1::ffff:1.2.3.4', '::fffe:1.2.3.4', '::feff:1.2.3.4']) expect(parseIpAddress(v6), v6).toMatchObject({ version: 6 });
  });

  it('a mapped IPv4 range (::ffff:10.0.0.0/104) is its IPv4 range; its prefix must be 96–128', () => {
    expect(parseIpRanges('::ffff:10.0.0.0/104')).toEqual([{ version: 4, bytes: new Uint8Array([10, 0, 0, 0]), prefix: 8 }]);
    expect(parseIpRanges('::ffff:10.0.0.1')).toEqual([{ version: 4, bytes: new Uint8Array([10, 0, 0, 1]), prefix: 32 }]);
    expect(parseIpRanges('10.0.0.0/8')[0]!.prefix).toBe(8);
    expect(parseIpRanges('fd00::/104')[0]).toMatchObject({ version: 6, prefix: 104 });
    expect(() => parseIpRanges('::ffff:10.0.0.0/95')).toThrow('not an IP address or CIDR range: "::ffff:10.0.0.0/95"');
    expect(() => parseIpRanges('10.0.0.0/33')).toThrow(TypeError);
  });

  it('a bad entry is named in the error, cut at 64 characters; blank entries are skipped', () => {
    expect(() => parseIpRanges('nonsense')).toThrow(new TypeError('not an IP address or CIDR range: "nonsense"'));
    expect(() => parseIpRanges('nonsense/8')).toThrow(new TypeError('not an IP address or CIDR range: "nonsense/8"'));
    const long = `10.0.0.0/${'9'.repeat(80)}`;
    expect(() => parseIpRanges(long)).toThrow(new TypeError(`not an IP address or CIDR range: "${long.slice(0, 64)}"`));
    expect(parseIpRanges('10.0.0.1, , 10.0.0.2')).toHaveLength(2);
  });

  it('a range matches only addresses of its own version', () => {
    const v4 = parseIpAddress('10.1.2.3')!;
    expect(inIpRanges(v4, parseIpRanges('::/0'))).toBe(false);
    expect(inIpRanges(v4, parseIpRanges('0.0.0.0/0'))).toBe(true);
  });

  it('hops: spaces around them are fine; anything after a port, or before an address, makes the hop unusable', () => {
    const trusted = parseIpRanges('10.0.0.0/8');
    expect(clientAddressBehindProxies('10.0.0.1', 'x,  [2001:db8::1]:443', trusted)).toBe('2001:db8::1');
    for (const bad of ['[2001:db8::1]:443junk', 'x[2001:db8::1]', 'x198.51.100.7:80', '198.51.100.7:80x']) {
      expect(clientAddressBehindProxies('10.0.0.1', bad, trusted), bad).toBe('10.0.0.1');
    }
  });

  it('a peer that is no address, or a trusted peer without X-Forwarded-For, is the client itself', () => {
    const trusted = parseIpRanges('10.0.0.0/8');
    expect(clientAddressBehindProxies('not-an-address', '198.51.100.7', trusted)).toBe('not-an-address');
    expect(clientAddressBehindProxies('10.0.0.1', null, trusted)).toBe('10.0.0.1');
  });

  it('only the last 64 hops are read: a chain of trusted proxies longer than that ends at the leftmost of them', () => {
    const trusted = parseIpRanges('10.0.0.0/8');
    const hops = ['198.51.100.7', ...Array.from({ length: 99 }, (_, i) => `10.0.${i >> 8}.${i & 255}`)];
    expect(clientAddressBehindProxies('10.9.9.9', hops.join(','), trusted)).toBe(hops[hops.length - 64]);
  });
});
