/** @jsxImportSource hono/jsx */
// Enrollments and rejections per hour as an SVG bar chart drawn on the server: no script, no
// inline style (classes from app.css), with a text summary for screen readers.
import type { FC } from 'hono/jsx';
import type { HourBucket } from './fleet-data.ts';

const W = 480;
const H = 160;
const PAD_L = 28;
const PAD_B = 18;

export const HourlyChart: FC<{ buckets: readonly HourBucket[] }> = ({ buckets }) => {
  const max = Math.max(1, ...buckets.map((b) => Math.max(b.enrolled, b.rejected)));
  const plotH = H - PAD_B - 6;
  const slot = (W - PAD_L) / buckets.length;
  const bar = Math.max(1, (slot - 2) / 2);
  const y = (n: number) => H - PAD_B - (n / max) * plotH;
  const totalOk = buckets.reduce((a, b) => a + b.enrolled, 0);
  const totalBad = buckets.reduce((a, b) => a + b.rejected, 0);
  const summary = `Last 24 hours: ${totalOk} enrollments and ${totalBad} rejections; at most ${max} in one hour.`;
  return (
    <figure>
      <svg class="chart" viewBox={`0 0 ${W} ${H}`} role="img" aria-labelledby="chart-title chart-desc">
        <title id="chart-title">Enrollments and rejections per hour</title>
        <desc id="chart-desc">{summary}</desc>
        <line class="axis" x1={PAD_L} y1={H - PAD_B} x2={W} y2={H - PAD_B} />
        <line class="axis" x1={PAD_L} y1={6} x2={PAD_L} y2={H - PAD_B} />
        <text x={PAD_L - 4} y={10} text-anchor="end">
          {String(max)}
        </text>
        <text x={PAD_L - 4} y={H - PAD_B} text-anchor="end">
          0
        </text>
        {buckets.map((b, i) => {
          const x = PAD_L + i * slot + 1;
          const hour = new Date(b.start).getUTCHours();
          return (
            <g>
              {b.enrolled > 0 ? <rect class="ok" x={x} y={y(b.enrolled)} width={bar} height={H - PAD_B - y(b.enrolled)} /> : null}
              {b.rejected > 0 ? <rect class="bad" x={x + bar} y={y(b.rejected)} width={bar} height={H - PAD_B - y(b.rejected)} /> : null}
              {i % 4 === 0 ? (
                <text x={x} y={H - 4}>
                  {`${String(hour).padStart(2, '0')}h`}
                </text>
              ) : null}
            </g>
          );
        })}
      </svg>
      <figcaption class="legend">
        <span class="ok">{`Enrollments (${totalOk})`}</span>
        <span class="bad">{`Rejections (${totalBad})`}</span>
        <span>Hours in UTC</span>
      </figcaption>
    </figure>
  );
};
