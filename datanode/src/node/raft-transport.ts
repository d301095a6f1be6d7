/**
 * Adapts the gRPC RaftTransport (datanode/src/transport/) to the replica's PeerTransport:
 * peer addresses come from the node's address book; a snapshot is its data stream followed by
 * the Snapshot message itself, so the receiver steps the message only once the data is stored.
 * The transport's per-peer counters pass through as stats(), for the node's metrics.
 */
import { RaftTransport, type TransportLogger } from '../transport/index.ts';
import type { PeerTransport } from './interfaces.ts';
import type { TransportContext } from './node.ts';

export async function createRaftTransport(context: TransportContext): Promise<{ transport: PeerTransport; port: number }> {
  const logger: TransportLogger = {
    info: () => undefined,
    warn: (event, fields) => context.log(`transport ${event} ${JSON.stringify(fields)}`),
    error: (event, fields) => context.log(`transport ${event} ${JSON.stringify(fields)}`),
  };
  const raft = new RaftTransport({ logger });
  const { handlers } = context;
  const bound = await raft.start({
    nodeId: context.nodeId,
    clusterId: context.clusterId,
    listen: context.listen,
    resolvePeer: (nodeId) => context.resolvePeer(nodeId),
    onMessages: (messages) => handlers.onMessages(messages),
    onUnreachable: (nodeId) => handlers.onUnreachable(nodeId),
    onConnectionFailed: (nodeId) => handlers.onPeerDown?.(nodeId),
    onSnapshot: (snapshot) =>
      handlers.onSnapshotData({ fromNode: snapshot.fromNode, groupId: snapshot.groupId, snapshotIndex: snapshot.snapshotIndex, snapshotTerm: snapshot.snapshotTerm }, snapshot.data),
    ...(context.versions === undefined ? {} : { versions: context.versions }),
  });
  const transport: PeerTransport = {
    send: (messages) => raft.send(messages),
    async sendSnapshot(message, data) {
      await raft.sendSnapshot({
        toNode: message.to,
        groupId: message.groupId,
        snapshotIndex: message.snapshot.index,
        snapshotTerm: message.snapshot.term,
        reference: message.snapshot.reference,
        data,
      });
      raft.send([message]);
    },
    close: () => raft.stop(),
    stats: () => raft.stats(),
  };
  return { transport, port: bound.port };
}
