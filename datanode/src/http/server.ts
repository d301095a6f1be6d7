/**
 * The node's HTTP endpoints (fastify): /healthz (the process is alive and serving HTTP),
 * /readyz (a leader is known and this replica's applied index is within a bound of its commit
 * index), /status (JSON: node id, role, term, commit/applied, configuration, peers) and /metrics
 * (Prometheus text format; 404 when metrics are off, see datanode/src/metrics/node-metrics.ts).
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { NodeMetrics, metricsEnabled } from '../metrics/node-metrics.ts';
import { probeNodeSources } from '../metrics/sources.ts';

export interface NodeStatus {
  readonly nodeId: number;
  readonly clusterId: string;
  /** KV API address. */
  readonly address: string;
  readonly raftAddress: string;
  readonly role: string;
  readonly term: number;
  readonly leaderId: number;
  readonly leaderAddress: string;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly lastIndex: number;
  readonly voters: readonly number[];
  readonly learners: readonly number[];
  readonly peers: readonly { readonly id: number; readonly address: string; readonly raftAddress: string; readonly match?: number; readonly state?: string; readonly learner: boolean }[];
}

export interface StatusSource {
  status(): NodeStatus;
  /** undefined when ready, else the reason it is not. */
  notReadyReason(): string | undefined;
}

/** Starts listening on host:port (port 0: any); resolves with the server and its actual port. */
export async function startHttpServer(listen: string, source: StatusSource): Promise<{ server: FastifyInstance; port: number }> {
  const server = Fastify({ logger: false, bodyLimit: 64 * 1024 });
  server.get('/healthz', async () => ({ status: 'ok' }));
  server.get('/readyz', async (_request, reply) => {
    const reason = source.notReadyReason();
    if (reason === undefined) return { status: 'ready' };
    return reply.code(503).send({ status: 'not-ready', reason });
  });
  server.get('/status', async () => source.status());
  registerMetricsRoute(server, source);
  const at = listen.lastIndexOf(':');
  const host = listen.slice(0, at).replace(/^\[|\]$/g, '');
  await server.listen({ host, port: Number(listen.slice(at + 1)) });
  const address = server.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return { server, port };
}

/** The node's id and cluster: from its status, else from its config (status may not answer yet). */
function identityOf(source: StatusSource): { nodeId: number; clusterId: string } {
  try {
    const status = source.status();
    return { nodeId: status.nodeId, clusterId: status.clusterId };
  } catch {
    const config: unknown = (source as unknown as Record<string, unknown>).config;
    const read = (name: string): unknown => (typeof config === 'object' && config !== null ? (config as Record<string, unknown>)[name] : undefined);
    const nodeId = read('nodeId');
    const clusterId = read('clusterId');
    return { nodeId: typeof nodeId === 'number' ? nodeId : 0, clusterId: typeof clusterId === 'string' ? clusterId : '' };
  }
}

/** Serves /metrics when metrics are on; the metrics' hooks are removed when the server closes. */
function registerMetricsRoute(server: FastifyInstance, source: StatusSource): void {
  if (!metricsEnabled()) return;
  const metrics = new NodeMetrics(probeNodeSources(source), identityOf(source));
  metrics.install();
  server.server.on('connection', (socket) => {
    metrics.httpConnectionOpened();
    socket.once('close', () => metrics.httpConnectionClosed());
  });
  server.addHook('onClose', async () => metrics.close());
  server.get('/metrics', async (_request, reply) => reply.type(metrics.contentType).send(await metrics.exposition()));
}
