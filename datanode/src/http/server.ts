/**
 * The node's HTTP endpoints (fastify): /healthz (the process is alive and serving HTTP),
 * /readyz (a leader is known and this replica's applied index is within a bound of its commit
 * index), /status (JSON: node id, role, term, commit/applied, configuration, peers) and /metrics
 * (Prometheus text format, from the NodeMetrics the node built from its parts; 404 when it has
 * none, that is when metrics are off: see datanode/src/metrics/node-metrics.ts).
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { NodeMetrics } from '../metrics/node-metrics.ts';

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
  readonly peers: readonly { readonly id: number; readonly address: string; readonly raftAddress: string; readonly match?: number; readonly state?: string; readonly learner: boolean; readonly version?: string }[];
  /** This node's binary version and the oldest cluster version it runs. */
  readonly version?: string;
  readonly clusterVersionMin?: string;
  /** The cluster version this node knows ('' before it has the meta range's state). */
  readonly clusterVersion?: string;
}

export interface StatusSource {
  status(): NodeStatus;
  /** undefined when ready, else the reason it is not. */
  notReadyReason(): string | undefined;
}

export interface HttpServerOptions {
  /** Served on /metrics (with the gRPC request hook installed until the server closes); absent: 404. */
  readonly metrics?: NodeMetrics;
}

/** Starts listening on host:port (port 0: any); resolves with the server and its actual port. */
export async function startHttpServer(listen: string, source: StatusSource, options: HttpServerOptions = {}): Promise<{ server: FastifyInstance; port: number }> {
  const server = Fastify({ logger: false, bodyLimit: 64 * 1024 });
  server.get('/healthz', async () => ({ status: 'ok' }));
  server.get('/readyz', async (_request, reply) => {
    const reason = source.notReadyReason();
    if (reason === undefined) return { status: 'ready' };
    return reply.code(503).send({ status: 'not-ready', reason });
  });
  server.get('/status', async () => source.status());
  if (options.metrics !== undefined) registerMetricsRoute(server, options.metrics);
  const at = listen.lastIndexOf(':');
  const host = listen.slice(0, at).replace(/^\[|\]$/g, '');
  await server.listen({ host, port: Number(listen.slice(at + 1)) });
  const address = server.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return { server, port };
}

/** Serves /metrics; the metrics' request hook is removed when the server closes. */
function registerMetricsRoute(server: FastifyInstance, metrics: NodeMetrics): void {
  metrics.install();
  server.server.on('connection', (socket) => {
    metrics.httpConnectionOpened();
    socket.once('close', () => metrics.httpConnectionClosed());
  });
  server.addHook('onClose', async () => metrics.close());
  server.get('/metrics', async (_request, reply) => reply.type(metrics.contentType).send(await metrics.exposition()));
}
