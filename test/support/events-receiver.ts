// An outbound-webhook receiver for tests (Node, 127.0.0.1): verifies each delivery's signature,
// fails the first `failFirst` attempts of events whose machine id starts with "flaky-", and
// reports what it received at GET /deliveries.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyWebhookSignature } from '../../src/http/webhook-signature.ts';

export async function startEventsReceiver(secret: string, failFirst = 2) {
  const attempts = new Map<string, number>();
  const delivered: Array<{ id: string; type: string; machineId: string | null; attempts: number; signatureOk: boolean }> = [];
  const server: Server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/deliveries') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(delivered));
      return;
    }
    let raw = '';
    req.on('data', (d) => (raw += d));
    req.on('end', () => {
      let event: { id: string; type: string; data: { machineId: string | null } };
      try {
        event = JSON.parse(raw);
      } catch {
        res.writeHead(400).end();
        return;
      }
      const n = (attempts.get(event.id) ?? 0) + 1;
      attempts.set(event.id, n);
      if (event.data.machineId?.startsWith('flaky-') && n <= failFirst) {
        res.writeHead(503).end('down');
        return;
      }
      let signatureOk = true;
      try {
        verifyWebhookSignature(secret, req.headers['x-enroll-signature'] as string, raw, new Date());
      } catch {
        signatureOk = false;
      }
      if (!delivered.some((d) => d.id === event.id)) delivered.push({ id: event.id, type: event.type, machineId: event.data.machineId, attempts: n, signatureOk });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
