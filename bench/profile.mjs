// BENCH_PROFILE=<file.cpuprofile> support for the workerd suites and the Deno storm: V8's sampling
// profiler on the Worker's isolate (the Worker and its Durable Objects) through Miniflare's
// inspector port, or on the Deno process through its inspector; the
// profile is written for DevTools and the top functions by self time are printed per enrollment.
import { writeFileSync } from 'node:fs';

/**
 * Connects to the isolate's inspector and starts V8's sampling profiler: Miniflare's (inspectorPort)
 * for a Miniflare instance, or any inspector's HTTP address (Deno's `--inspect=host:port`).
 */
export async function startProfile(mfOrInspector) {
  const { WebSocket } = await import('ws');
  const base = typeof mfOrInspector === 'string' ? new URL(mfOrInspector) : await mfOrInspector.getInspectorURL();
  const targets = await (await fetch(new URL('/json', base.href.replace(/^ws/, 'http')))).json();
  const target = targets.find((t) => /k3s-enroll|core:user/.test(t.id ?? t.title ?? '')) ?? targets[0];
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((r, j) => (ws.once('open', r), ws.once('error', j)));
  let id = 0;
  const pending = new Map();
  ws.on('message', (m) => {
    const msg = JSON.parse(String(m));
    if (msg.id && pending.has(msg.id)) pending.get(msg.id)(msg);
  });
  const call = (method, params = {}) => new Promise((r) => (pending.set(++id, r), ws.send(JSON.stringify({ id, method, params }))));
  await call('Profiler.enable');
  await call('Profiler.setSamplingInterval', { interval: 200 });
  await call('Profiler.start');
  return {
    async stop(file, n) {
      const { result } = await call('Profiler.stop');
      ws.close();
      writeFileSync(file, JSON.stringify(result.profile));
      const p = result.profile;
      const dt = new Map();
      for (let i = 0; i < p.samples.length; i++) dt.set(p.samples[i], (dt.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
      const self = new Map();
      for (const node of p.nodes) {
        const f = node.callFrame;
        const k = `${f.functionName || '(anonymous)'} ${f.url.split('/').pop()}:${f.lineNumber + 1}`;
        self.set(k, (self.get(k) ?? 0) + (dt.get(node.id) ?? 0));
      }
      self.delete([...self.keys()].find((k) => k.startsWith('(idle)')));
      const total = [...self.values()].reduce((a, b) => a + b, 0);
      console.log(`\n# CPU profile of the Worker isolate (${file}): ${(total / 1000 / n).toFixed(2)} ms sampled per enrollment; top self time`);
      for (const [k, us] of [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 40)) console.log(`${(us / 1000 / n).toFixed(3).padStart(8)} ms  ${k}`);
    },
  };
}

