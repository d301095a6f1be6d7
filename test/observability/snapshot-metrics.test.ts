/**
 * The snapshot and proposal metrics of real data node processes, reported by the replicas and the
 * Store themselves (datanode/src/metrics/sink.ts): a follower is killed, the others write enough
 * to compact their logs past it, and when it comes back the leader sends it a snapshot. The
 * receiver's /metrics must count a received snapshot and some other node's a sent one.
 * A node started with --metrics off answers 404 on /metrics and still serves /status.
 */
import { describe, expect, it } from 'vitest';
import { KvClient } from '../../datanode/src/kv/client.ts';
import { TestCluster, closedAfterEachTest, eventually, surely, timeouts } from '../cluster/harness.ts';

const opened = closedAfterEachTest();

/** The sum of a metric's samples whose labels include all of `labels`, in a node's exposition. */
async function scraped(httpPort: number, name: string, labels: Record<string, string>): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${httpPort}/metrics`, { signal: AbortSignal.timeout(5000) });
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}`);
  let sum = 0;
  for (const line of (await response.text()).split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`))) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

describe('snapshot metrics of real nodes', () => {
  it('counts the snapshot a restarted follower receives and its leader sends; --metrics off answers 404', async () => {
    const active = await TestCluster.start({ size: 3, extraArgs: ['--compaction-entries', '16'] });
    opened.cluster = active;
    const kv = new KvClient({ endpoints: active.kvEndpoints(), clusterId: active.clusterId, deadlineMs: 10_000 });
    opened.clients.push(kv);
    await surely(() => kv.put('warm', 'up'));
    const leader = await active.waitForLeader();
    const victim = active.nodes.find((node) => node !== leader);
    if (victim === undefined) throw new Error('no follower');
    await victim.kill();
    // Single writes, one entry each: enough to compact the others' logs past the victim's.
    for (let i = 0; i < 60; i++) await surely(() => kv.put(`k/${i}`, `v${i}`));
    const others = active.nodes.filter((node) => node !== victim);
    const proposals = await Promise.all(others.map((node) => scraped(node.spec.httpPort, 'phantomdb_raft_proposals_total', { result: 'ok' })));
    expect(proposals.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(60);

    victim.start();
    await active.waitReady(victim, `node ${victim.spec.id} ready`);
    await eventually(`node ${victim.spec.id} counting the snapshot it received`, timeouts.snapshotInstalled, async () =>
      (await scraped(victim.spec.httpPort, 'phantomdb_raft_snapshots_total', { direction: 'received', result: 'succeeded' })) >= 1 ? true : undefined,
    ).catch(async (err: unknown) => {
      throw new Error(`${err instanceof Error ? err.message : String(err)}\nstatuses: ${await active.statusSummary()}\n${active.logs()}`);
    });
    // The sender counts once its stream is acknowledged, a moment after the receiver stored it.
    const sentBy = (result: string): Promise<number> =>
      Promise.all(others.map((node) => scraped(node.spec.httpPort, 'phantomdb_raft_snapshots_total', { direction: 'sent', result }))).then((counts) => counts.reduce((a, b) => a + b, 0));
    await eventually('a sent snapshot counted', timeouts.snapshotInstalled, async () => ((await sentBy('succeeded')) >= 1 ? true : undefined)).catch(async (err: unknown) => {
      throw new Error(`${err instanceof Error ? err.message : String(err)}; sent failed: ${await sentBy('failed')}\n${active.logs()}`);
    });

    // Metrics off (the environment fallback of --metrics): no /metrics, the node serves as before.
    await victim.kill();
    victim.start({ PHANTOMDB_METRICS: 'off' });
    await active.waitReady(victim, `node ${victim.spec.id} ready with metrics off`);
    expect((await fetch(`http://127.0.0.1:${victim.spec.httpPort}/metrics`)).status).toBe(404);
    expect((await victim.status())?.nodeId).toBe(victim.spec.id);
  });
});
