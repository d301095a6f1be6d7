import * as net from 'node:net';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { NodeStatus } from '../http/server.ts';
import type { PeerStats } from '../transport/transport.ts';
import { collectInSlices, ExpositionRenderer, formatLabelSet } from './exposition.ts';
import { HotCounter, HotHistogram } from './hot.ts';
import { NodeMetrics } from './node-metrics.ts';
import type { NodeMetricsSources, RangeReplicaReport } from './sources.ts';
import { leaderStatus } from './status.test-support.ts';

const status: NodeStatus = leaderStatus;

const peerStats: PeerStats = {
  framesSent: 1, messagesSent: 5, bytesSent: 50, framesReceived: 1, messagesReceived: 6, bytesReceived: 60, droppedQueueFull: 2, droppedUnreachable: 0, droppedOversized: 0,
  connectAttempts: 1, reconnects: 0, connectFailures: 0, handshakeRejections: 0, protocolErrors: 0, unreachableReports: 0, state: 'ready', queueMessages: 3, queueBytes: 30,
};

/** Sources whose values stay put between reads, so that two renderings can be compared. */
function steadySources(): NodeMetricsSources {
  return {
    status: () => status,
    raftLog: () => ({ appends: 10, records: 12, bytes: 4096, fsyncs: 4, fsyncLastMs: 1, fsyncMaxMs: 3, fsyncTotalMs: 6, segments: 2, segmentsDeleted: 0, liveGroups: 1, cachedBytes: 100 }),
    transport: () => ({ peers: new Map([[1, peerStats], [3, { ...peerStats, state: 'connecting' }]]), handshakeRejections: 0, protocolErrors: {} }),
  };
}

function record(metrics: NodeMetrics, round: number): void {
  for (let i = 0; i < 20 * round; i++) {
    metrics.requestFinished('/phantomdb.kv.v1.KV/Put', 'ok', 0.0001 * i);
    metrics.requestFinished('/phantomdb.kv.v1.KV/Get', i % 3 === 0 ? 'PH_NOT_LEADER' : 'ok', 0.003 * i);
    metrics.proposalFinished('ok', 0.0002 * i);
    metrics.raftLogFsync(0.05 * i);
  }
  // A label value that needs escaping (results are PH_* codes in practice).
  metrics.proposalFinished('odd "result"\\with\nnewline', 0.001);
  metrics.roleChanged();
}

/** Line numbers and contents where two texts differ (for a readable failure). */
function differences(a: string, b: string): string[] {
  const left = a.split('\n');
  const right = b.split('\n');
  const found: string[] = [];
  for (let i = 0; i < Math.max(left.length, right.length); i++) if (left[i] !== right[i]) found.push(`${i}: ${left[i] ?? '(none)'} | ${right[i] ?? '(none)'}`);
  return found;
}

describe('the sliced exposition', () => {
  it('is the same text as prom-client renders in one pass, before and after new observations', async () => {
    const metrics = new NodeMetrics(steadySources(), { nodeId: 2, clusterId: 'c1', processMetrics: false });
    record(metrics, 1);
    const sliced = await metrics.exposition(0);
    expect(differences(sliced, await metrics.registry.metrics())).toEqual([]);
    expect(sliced).toContain('phantomdb_raft_proposals_total{result="odd \\"result\\"\\\\with\\nnewline",node="2"} 1');
    // The histogram series' text is kept between scrapes: new observations must show.
    record(metrics, 2);
    const again = await metrics.exposition();
    expect(differences(again, await metrics.registry.metrics())).toEqual([]);
    expect(again).not.toEqual(sliced);
    expect(again).toContain('phantomdb_raft_proposal_duration_seconds_count{node="2"} 60');
  });

  it('formats prom-client histograms, unlabelled and labelled families and default labels as prom-client does', async () => {
    const registry = new Registry();
    registry.setDefaultLabels({ node: '5', zone: 'a"b' });
    const histogram = new Histogram({ name: 'x_seconds', help: 'Help with \\ and\nnewline.', labelNames: ['kind'], buckets: [0.1, 1], registers: [registry] });
    histogram.observe({ kind: 'minor' }, 0.05);
    histogram.observe({ kind: 'major' }, 5);
    new Gauge({ name: 'x_gauge', help: 'g', labelNames: ['node'], registers: [registry] }).set({ node: 'own' }, Number.NaN);
    new Counter({ name: 'x_total', help: 'c', registers: [registry] }).inc(2.5);
    new Gauge({ name: 'x_infinite', help: 'i', labelNames: ['sign'], registers: [registry] }).set({ sign: 'minus' }, Number.NEGATIVE_INFINITY);
    new Gauge({ name: 'x_empty', help: 'no samples', labelNames: ['a'], registers: [registry] });
    const hot = new HotHistogram(registry, 'x_hot_seconds', 'hot', [0.5, 2]);
    hot.child({ op: 'put' }).observe(1);
    new HotCounter(registry, 'x_hot_total', 'hot counter').child().inc(3);
    const renderer = new ExpositionRenderer(registry, { node: '5', zone: 'a"b' });
    for (let round = 0; round < 2; round++) {
      expect(differences(await renderer.render({ sliceMs: 0 }), await registry.metrics())).toEqual([]);
      hot.child({ op: 'put' }).observe(0.1);
    }
    expect(formatLabelSet({ le: 0.1 }, { node: '5' }, { kind: 'minor' })).toBe('{le="0.1",node="5",kind="minor"}');
    expect(formatLabelSet(undefined, {})).toBe('');
  });

  it('lets waiting I/O run between slices: a ping-pong over a loopback socket goes on during a scrape', async () => {
    const metrics = new NodeMetrics(steadySources(), { nodeId: 2, clusterId: 'c1' });
    record(metrics, 1);
    // Errors (a reset when the client goes away at the end) are of no interest here.
    const server = net.createServer((socket) => socket.on('data', (data) => socket.write(data)).on('error', () => undefined));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const client = net.connect(port, '127.0.0.1').on('error', () => undefined);
    await new Promise<void>((resolve) => client.once('connect', resolve));
    let roundTrips = 0;
    client.on('data', () => {
      roundTrips++;
      client.write('p');
    });
    try {
      const roundTripsDuring = async (sliceMs: number): Promise<number> => {
        // Let the ping-pong run before the scrape starts, then count what happens during it.
        client.write('p');
        await new Promise((resolve) => setTimeout(resolve, 20));
        const before = roundTrips;
        await metrics.exposition(sliceMs);
        return roundTrips - before;
      };
      const sliced = await roundTripsDuring(0);
      const unbounded = await roundTripsDuring(Number.POSITIVE_INFINITY);
      // Slices of 0 ms: I/O runs after every family (~90 of them). One pass: at most the turn before it starts.
      const seen = `round trips during the scrape: sliced ${sliced}, one pass ${unbounded}`;
      expect(sliced, seen).toBeGreaterThanOrEqual(5);
      expect(unbounded, seen).toBeLessThanOrEqual(1);
    } finally {
      client.end();
      client.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('keeps each slice near its budget: the event loop is never held for a whole scrape at once', async () => {
    const registry = new Registry();
    // Ten families of 1 ms each on a fake clock: with 2.5 ms slices the renderer yields between them.
    let clockMs = 0;
    for (let i = 0; i < 10; i++) {
      new Gauge({ name: `slow_${i}`, help: 'slow', registers: [registry], collect: () => void (clockMs += 1) });
    }
    const renderer = new ExpositionRenderer(registry, {});
    const slices: number[] = [];
    let sliceStart = 0;
    const pause = (): Promise<void> => {
      slices.push(clockMs - sliceStart);
      sliceStart = clockMs;
      return Promise.resolve();
    };
    const renderSlices = async (): Promise<number[]> => {
      slices.length = 0;
      sliceStart = clockMs;
      await renderer.render({ sliceMs: 2.5, pause, nowMs: () => clockMs });
      slices.push(clockMs - sliceStart);
      return slices.filter((ms) => ms > 0);
    };
    // First scrape: a yield once a slice has run 2.5 ms, that is after every third family.
    expect(await renderSlices()).toEqual([3, 3, 3, 1]);
    // Later scrapes know each family's cost and yield before one that would overrun the slice.
    expect(await renderSlices()).toEqual([2, 2, 2, 2, 2]);
  });

  it('builds the range reports of many ranges in slices, once per scrape', async () => {
    const rangeCount = 3000;
    let pulls = 0;
    let immediateRan = false;
    let pulledAfterImmediate = 0;
    function* ranges(): Generator<RangeReplicaReport> {
      for (let rangeId = 1; rangeId <= rangeCount; rangeId++) {
        pulls++;
        if (immediateRan) pulledAfterImmediate++;
        // Each report costs a little, as a replica's Raft status does.
        const until = performance.now() + 0.002;
        while (performance.now() < until);
        yield { rangeId, role: rangeId % 3 === 0 ? 'leader' : 'follower', leaderKnown: true, commitIndex: 10, term: 2, voters: 3, liveVoters: rangeId % 3 === 0 ? 3 : undefined, laggingVoters: 0 };
      }
    }
    const metrics = new NodeMetrics({ status: () => status, ranges }, { nodeId: 2, clusterId: 'c1', processMetrics: false });
    setImmediate(() => {
      immediateRan = true;
    });
    const text = await metrics.exposition();
    expect(pulls).toBe(rangeCount);
    expect(pulledAfterImmediate).toBeGreaterThan(0);
    expect(text).toContain('phantomdb_ranges{state="replicas",node="2"} 3000');
    expect(text).toContain('phantomdb_ranges{state="leader",node="2"} 1000');
    expect(text).toContain('phantomdb_ranges_commit_index{node="2"} 30000');
  });

  it('pulls items in slices on the clock it is given, yielding to the event loop between them', async () => {
    let clockMs = 0;
    function* items(): Generator<number> {
      for (let i = 0; i < 10; i++) {
        clockMs += 1;
        yield i;
      }
    }
    // Immediates record the clock whenever the event loop gets a turn.
    const seen: number[] = [];
    let done = false;
    const tick = (): void => {
      seen.push(clockMs);
      if (!done) setImmediate(tick);
    };
    setImmediate(tick);
    const collected = await collectInSlices(items(), 3.5, () => clockMs);
    done = true;
    expect(collected).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // Slices of 3.5 ms on a clock that advances 1 ms per item: turns after items 4 and 8.
    expect(seen.filter((ms) => ms > 0 && ms < 10)).toEqual([4, 8]);
  });
});
