/**
 * The operator's HTTP endpoints: `/metrics` (Prometheus text format) on the metrics port and
 * `/healthz` (the process is alive) and `/readyz` (its informers have synced; a standby that is
 * not the leader is ready too) on the health port.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface HttpEndpoint {
  readonly port: number;
  close(): Promise<void>;
}

async function listen(server: Server, port: number, host: string): Promise<HttpEndpoint> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export function serveMetrics(registry: Registry, port: number, host = '0.0.0.0'): Promise<HttpEndpoint> {
  const server = createServer((request, response) => {
    if (request.method !== 'GET' || (request.url ?? '').split('?')[0] !== '/metrics') {
      response.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
      return;
    }
    registry.metrics().then(
      (text) => response.writeHead(200, { 'Content-Type': registry.contentType }).end(text),
      (error: unknown) => response.writeHead(500, { 'Content-Type': 'text/plain' }).end(`${error instanceof Error ? error.message : String(error)}\n`),
    );
  });
  return listen(server, port, host);
}

export interface HealthChecks {
  /** Alive: the event loop runs and nothing fatal happened. */
  readonly healthy: () => boolean;
  /** Ready: the caches have synced (or the replica is a healthy standby). */
  readonly ready: () => boolean;
}

export function serveHealth(checks: HealthChecks, port: number, host = '0.0.0.0'): Promise<HttpEndpoint> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '').split('?')[0];
    const check = path === '/healthz' || path === '/livez' ? checks.healthy : path === '/readyz' ? checks.ready : undefined;
    if (check === undefined) {
      response.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
      return;
    }
    const ok = check();
    response.writeHead(ok ? 200 : 503, { 'Content-Type': 'text/plain' }).end(ok ? 'ok\n' : 'not ready\n');
  });
  return listen(server, port, host);
}
