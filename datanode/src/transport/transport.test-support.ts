/**
 * Harness for transport tests: real transports on 127.0.0.1 with ephemeral ports, a shared
 * address book, recorded deliveries, unreachable reports and log events, and `eventually`.
 */
import { createServer } from 'node:net';
import type { Message, NodeId } from '../raft/types.ts';
import type { TransportLogger, TransportOptions } from './context.ts';
import { RaftTransport, type TransportStartConfig } from './transport.ts';

/** Named timeouts for waiting on asynchronous outcomes (never bare sleeps). */
export const timeouts = {
  delivery: 10_000,
  reconnect: 15_000,
  rejection: 10_000,
} as const;

export async function eventually(check: () => void, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      check();
      return;
    } catch (error) {
      if (performance.now() > deadline) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export interface LogEvent {
  readonly level: 'info' | 'warn' | 'error';
  readonly event: string;
  readonly fields: Readonly<Record<string, unknown>>;
}

export class RecordingLogger implements TransportLogger {
  readonly events: LogEvent[] = [];
  info(event: string, fields: Readonly<Record<string, unknown>>): void {
    this.events.push({ level: 'info', event, fields });
  }
  warn(event: string, fields: Readonly<Record<string, unknown>>): void {
    this.events.push({ level: 'warn', event, fields });
  }
  error(event: string, fields: Readonly<Record<string, unknown>>): void {
    this.events.push({ level: 'error', event, fields });
  }
  errors(event: string): LogEvent[] {
    return this.events.filter((e) => e.level === 'error' && e.event === event);
  }
}

/** A deterministic rng (mulberry32) so backoff jitter is reproducible. */
export function seededRng(seed: number): { next(): number } {
  let state = seed >>> 0;
  return {
    next(): number {
      state = (state + 0x6d2b79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
  };
}

export interface TestNode {
  readonly nodeId: NodeId;
  readonly transport: RaftTransport;
  readonly received: { from: NodeId; messages: Message[] }[];
  readonly unreachable: { nodeId: NodeId; groupIds: readonly number[] }[];
  /** Nodes whose connection failed, once per onConnectionFailed. */
  readonly connectionFailures: NodeId[];
  readonly logger: RecordingLogger;
  readonly port: number;
  receivedMessages(from?: NodeId): Message[];
}

export const fastTestOptions: Partial<TransportOptions> = {
  backoffBaseMs: 20,
  backoffCapMs: 200,
  handshakeTimeoutMs: 2_000,
};

/** Starts a transport whose peers are looked up in `addresses` (and registers itself there). */
export async function startTestNode(
  nodeId: NodeId,
  addresses: Map<NodeId, string>,
  options: Partial<TransportOptions> & { clusterId?: string; port?: number; onSnapshot?: TransportStartConfig['onSnapshot']; versions?: TransportStartConfig['versions'] } = {},
): Promise<TestNode> {
  const logger = new RecordingLogger();
  const { clusterId = 'cluster-test', port = 0, onSnapshot, versions, ...transportOptions } = options;
  const transport = new RaftTransport({ ...fastTestOptions, rng: seededRng(nodeId), logger, ...transportOptions });
  const received: TestNode['received'] = [];
  const unreachable: TestNode['unreachable'] = [];
  const connectionFailures: NodeId[] = [];
  const config: TransportStartConfig = {
    nodeId,
    clusterId,
    listen: { host: '127.0.0.1', port },
    resolvePeer: (peer) => addresses.get(peer),
    onMessages: (messages, from) => received.push({ from, messages }),
    onUnreachable: (peer, groupIds) => unreachable.push({ nodeId: peer, groupIds }),
    onConnectionFailed: (peer) => connectionFailures.push(peer),
    ...(onSnapshot === undefined ? {} : { onSnapshot }),
    ...(versions === undefined ? {} : { versions }),
  };
  const bound = await transport.start(config);
  addresses.set(nodeId, `127.0.0.1:${bound.port}`);
  return {
    nodeId,
    transport,
    received,
    unreachable,
    connectionFailures,
    logger,
    port: bound.port,
    receivedMessages: (from) => received.filter((r) => from === undefined || r.from === from).flatMap((r) => r.messages),
  };
}

/** A port that was free a moment ago (for a peer that starts later at a known address). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
