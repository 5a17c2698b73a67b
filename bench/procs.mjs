// Process accounting for the workerd benches (Linux /proc): CPU time of a pid, the processes of a
// name, whether one descends from this process (other jobs' workerd must not be counted), and a
// percentile. One copy, shared by enroll.bench.mjs and storm.bench.mjs.
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

const TICK_MS = 1000 / Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim() || 100);

/** utime + stime of `pid`, ms; 0 once it exited. */
export function cpuMsOf(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) * TICK_MS;
  } catch {
    return 0;
  }
}

/** utime + stime of every pid in `pids`, each pid counted once (a process listed twice is not twice the CPU). */
export function cpuMsOfAll(pids) {
  let ms = 0;
  for (const pid of new Set(pids)) ms += cpuMsOf(pid);
  return ms;
}

/** Pids whose command name is `name`. */
export function processesNamed(name) {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/comm`, 'utf8').trim() === name;
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** Is `pid` a descendant of this process? */
export function descendsFromUs(pid) {
  for (let p = pid, i = 0; p > 1 && i < 20; i++) {
    if (p === process.pid) return true;
    try {
      p = Number(readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
    } catch {
      return false;
    }
  }
  return false;
}

/** The p-th percentile of `xs` (NaN when empty). */
export const pct = (xs, p) => (xs.length === 0 ? NaN : xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]);
