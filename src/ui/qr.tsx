/** @jsxImportSource hono/jsx */
// A QR code as one SVG path, encoded by `uqr` (3.8 KiB gzip in the bundle; `qrcode` is 9.6 KiB
// in its browser build and its default entry needs Node's fs/zlib). No inline style: CSP-safe.
import type { FC } from 'hono/jsx';
import { encode } from 'uqr';

export const QrCode: FC<{ text: string; label: string }> = ({ text, label }) => {
  const { data, size } = encode(text, { ecc: 'M', border: 4 });
  let d = '';
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) if (data[y]![x]) d += `M${x} ${y}h1v1h-1z`;
  return (
    <svg viewBox={`0 0 ${size} ${size}`} role="img" aria-label={label} shape-rendering="crispEdges">
      <rect width={size} height={size} fill="#fff" />
      <path d={d} fill="#000" />
    </svg>
  );
};
