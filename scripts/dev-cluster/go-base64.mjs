// @ts-check
// Go's base64.StdEncoding.Decode as encoding/json applies it to []byte fields (Secret.data):
// padding required, CR/LF skipped, the same "illegal base64 data at input byte N" positions.
// Encoding is plain Buffer#toString('base64'), which already matches Go's padded output.

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const DECODE = new Map([...ALPHABET].map((c, i) => [c.charCodeAt(0), i]));

/**
 * @param {string} src
 * @returns {{ ok: true, bytes: Buffer } | { ok: false, error: string }}
 */
export function decodeGoStdBase64(src) {
  const s = Buffer.from(src, 'utf8');
  const out = [];
  let si = 0;
  /** @param {number} at */
  const corrupt = (at) => ({ ok: /** @type {const} */ (false), error: `illegal base64 data at input byte ${at}` });
  /** @param {number} i */
  const isNewline = (i) => s[i] === 0x0a || s[i] === 0x0d;
  for (;;) {
    const dbuf = [0, 0, 0, 0];
    let dlen = 4;
    let trailingError = -1;
    let finished = false;
    for (let j = 0; j < 4; j++) {
      if (si === s.length) {
        if (j === 0) return { ok: true, bytes: Buffer.from(out) };
        return corrupt(si - j);
      }
      const c = /** @type {number} */ (s[si]);
      si++;
      const v = DECODE.get(c);
      if (v !== undefined) {
        dbuf[j] = v;
        continue;
      }
      if (c === 0x0a || c === 0x0d) {
        j--;
        continue;
      }
      if (c !== 0x3d) return corrupt(si - 1);
      if (j === 0 || j === 1) return corrupt(si - 1);
      if (j === 2) {
        while (si < s.length && isNewline(si)) si++;
        if (si === s.length) return corrupt(s.length);
        if (s[si] !== 0x3d) return corrupt(si - 1);
        si++;
      }
      while (si < s.length && isNewline(si)) si++;
      if (si < s.length) trailingError = si;
      dlen = j;
      finished = true;
      break;
    }
    const val = (dbuf[0] << 18) | (dbuf[1] << 12) | (dbuf[2] << 6) | dbuf[3];
    const bytes = [(val >> 16) & 0xff, (val >> 8) & 0xff, val & 0xff];
    out.push(...bytes.slice(0, dlen - 1));
    if (trailingError >= 0) return corrupt(trailingError);
    if (finished) return { ok: true, bytes: Buffer.from(out) };
  }
}
