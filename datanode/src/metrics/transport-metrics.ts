/**
 * Raft transport metrics per peer (bounded by the cluster's size), read at scrape time from the
 * transport's own counters.
 */
import type { Registry } from 'prom-client';
import type { PeerStats } from '../transport/transport.ts';
import { mirroredCounter, scrapedGauge, type ScrapeScope, type Total } from './mirrored.ts';
import type { NodeMetricsSources } from './sources.ts';

export function registerTransportMetrics(registry: Registry, sources: NodeMetricsSources, scope: ScrapeScope): void {
  const stats = scope.shared(() => sources.transport?.());
  const perPeer = <L extends string>(read: (peer: string, s: PeerStats) => Total<L>[]): (() => Total<L>[]) => () => {
    const totals: Total<L>[] = [];
    for (const [id, peer] of stats()?.peers ?? []) totals.push(...read(String(id), peer));
    return totals;
  };
  mirroredCounter(registry, 'phantomdb_transport_messages_total', 'Raft messages exchanged with each peer, by direction (sent, received).', ['peer', 'direction'],
    perPeer((peer, s) => [{ labels: { peer, direction: 'sent' }, total: s.messagesSent }, { labels: { peer, direction: 'received' }, total: s.messagesReceived }]));
  mirroredCounter(registry, 'phantomdb_transport_frames_total', 'Raft transport frames (one gRPC stream message each, carrying the messages to one peer of one event-loop turn) exchanged with each peer, by direction (sent, received).', ['peer', 'direction'],
    perPeer((peer, s) => [{ labels: { peer, direction: 'sent' }, total: s.framesSent }, { labels: { peer, direction: 'received' }, total: s.framesReceived }]));
  mirroredCounter(registry, 'phantomdb_transport_bytes_total', 'Raft transport bytes exchanged with each peer, by direction (sent, received).', ['peer', 'direction'],
    perPeer((peer, s) => [{ labels: { peer, direction: 'sent' }, total: s.bytesSent }, { labels: { peer, direction: 'received' }, total: s.bytesReceived }]));
  mirroredCounter(registry, 'phantomdb_transport_dropped_messages_total', 'Raft messages to each peer dropped, by reason (queue_full, unreachable, oversized); Raft retries them.', ['peer', 'reason'],
    perPeer((peer, s) => [
      { labels: { peer, reason: 'queue_full' }, total: s.droppedQueueFull },
      { labels: { peer, reason: 'unreachable' }, total: s.droppedUnreachable },
      { labels: { peer, reason: 'oversized' }, total: s.droppedOversized },
    ]));
  mirroredCounter(registry, 'phantomdb_transport_reconnects_total', 'Reconnections to each peer after a stream broke.', ['peer'], perPeer((peer, s) => [{ labels: { peer }, total: s.reconnects }]));
  scrapedGauge(registry, 'phantomdb_transport_peer_connected', '1 while this node has a working outbound stream to the peer.', ['peer'], perPeer((peer, s) => [{ labels: { peer }, total: s.state === 'ready' ? 1 : 0 }]));
  scrapedGauge(registry, 'phantomdb_transport_queue_messages', 'Raft messages queued for each peer, waiting to be sent.', ['peer'], perPeer((peer, s) => [{ labels: { peer }, total: s.queueMessages }]));
}
