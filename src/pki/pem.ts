// PEM block scanning with Go encoding/pem's rules that matter here: `-----BEGIN T-----` lines,
// optional `Key: value` headers, base64 body. Blocks that do not decode are skipped, as Go skips
// them. It does not interpret the DER inside (certificate.ts does).

export interface PemBlock {
  readonly type: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly der: Uint8Array<ArrayBuffer>;
}

const BLOCK = /-----BEGIN ([^\r\n-]*)-----\r?\n([\s\S]*?)-----END \1-----/g;
const BASE64_BODY = /^[A-Za-z0-9+/=\s]*$/;

export function parsePemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const m of text.matchAll(BLOCK)) {
    const type = m[1]!;
    let body = m[2]!;
    const headers: Record<string, string> = {};
    // Go reads `Key: value` lines up to the first line without a colon, then requires a blank line.
    const headerEnd = /\r?\n\r?\n/.exec(body);
    if (headerEnd && body.slice(0, headerEnd.index).split(/\r?\n/).every((l) => /^[^:\s][^:]*:/.test(l))) {
      for (const line of body.slice(0, headerEnd.index).split(/\r?\n/)) {
        const i = line.indexOf(':');
        headers[line.slice(0, i).trim()] = line.slice(i + 1).trim();
      }
      body = body.slice(headerEnd.index + headerEnd[0].length);
    }
    if (!BASE64_BODY.test(body)) continue;
    const der = decodeBase64(body.replace(/\s+/g, ''));
    if (der) blocks.push({ type, headers, der });
  }
  return blocks;
}

export function encodePem(type: string, der: Uint8Array): string {
  const b64 = encodeBase64(der);
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${type}-----\n${lines.join('\n')}\n-----END ${type}-----\n`;
}

/** Standard padded base64 via the platform's atob (Workers, Deno, Node all have it). */
export function decodeBase64(b64: string): Uint8Array<ArrayBuffer> | null {
  try {
    const bin = atob(b64);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  } catch {
    return null;
  }
}

export function encodeBase64(bytes: Uint8Array): string {
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}
