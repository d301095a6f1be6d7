/**
 * Range-aware routing on real processes: with the keyspace split into ranges led by different
 * nodes, the client library's range cache (datanode/src/kv/range-cache.ts) sends each write
 * straight to its range's leader, so the nodes answer about one KV request per write; a client
 * without the cache sends every write to one node, which forwards the others' (about 1.5-1.7).
 * Requests are counted by the nodes themselves (phantomdb_requests_total, a forwarded write
 * counting on both nodes it passed through).
 */
import { describe, expect, it } from 'vitest';
import { AdminClient, type ClusterStatus } from '../../datanode/src/admin/index.ts';
import { KvClient } from '../../datanode/src/kv/client.ts';
import { TestCluster, closedAfterEachTest, eventually } from './harness.ts';

const opened = closedAfterEachTest();

/** KV Put requests the nodes answered, from their /metrics. */
async function putsServed(active: TestCluster): Promise<number> {
  let sum = 0;
  for (const node of active.nodes) {
    const response = await fetch(`http://127.0.0.1:${node.spec.httpPort}/metrics`, { signal: AbortSignal.timeout(5000) });
    for (const line of (await response.text()).split('\n')) {
      if (line.startsWith('phantomdb_requests_total{') && line.includes('api="kv"') && line.includes('method="Put"')) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return sum;
}

const keyOf = (i: number): string => `r/${String((i * 7919) % 1000).padStart(4, '0')}`;

/** KV requests the nodes answered per write, over `writes` puts of keys spread over the keyspace. */
async function requestsPerWrite(active: TestCluster, client: KvClient, writes: number): Promise<number> {
  const before = await putsServed(active);
  for (let i = 0; i < writes; i++) await client.put(keyOf(i), 'v'.repeat(100));
  return ((await putsServed(active)) - before) / writes;
}

const leaseSummary = (status: ClusterStatus | undefined): string => (status === undefined ? 'no status' : `${status.ranges} ranges; leases ${status.nodes.map((n) => `n${n.nodeId} ${n.leases}`).join(', ')}`);

describe('range-aware client routing', () => {
  it('sends writes straight to their range leaders: about one KV request per write, against about 1.5 without the range cache', async () => {
    const active = await TestCluster.start({ size: 3, extraArgs: ['--range-max-bytes', '8192'] });
    opened.cluster = active;
    try {
      await active.waitForLeader();
      const admin = new AdminClient({ endpoints: active.kvEndpoints(), clusterId: active.clusterId });
      opened.clients.push(admin);
      const loader = new KvClient({ endpoints: active.kvEndpoints(), clusterId: active.clusterId, deadlineMs: 10_000 });
      opened.clients.push(loader);
      // ~100 KiB over 1,000 keys: a dozen ranges of 8 KiB; the placement driver spreads their leases.
      let last: ClusterStatus | undefined;
      await eventually('several ranges with leases on every node', 120_000, async () => {
        for (let i = 0; i < 1000; i++) await loader.put(keyOf(i), 'x'.repeat(100));
        last = await admin.clusterStatus().catch(() => last);
        const leases = last?.nodes.map((n) => n.leases) ?? [];
        return last !== undefined && last.ranges >= 6 && leases.length === 3 && Math.min(...leases) >= 2 ? true : undefined;
      }, 500).catch((err: unknown) => {
        throw new Error(`${err instanceof Error ? err.message : String(err)}; last: ${leaseSummary(last)}`, { cause: err });
      });

      const cached = new KvClient({ endpoints: active.kvEndpoints(), clusterId: active.clusterId, deadlineMs: 10_000 });
      opened.clients.push(cached);
      // The first pass fills the cache (a range's first write may be forwarded); the second is measured.
      const cold = await requestsPerWrite(active, cached, 200);
      const warm = await requestsPerWrite(active, cached, 200);
      const uncached = new KvClient({ endpoints: active.kvEndpoints(), clusterId: active.clusterId, deadlineMs: 10_000, rangeCacheEntries: 0 });
      opened.clients.push(uncached);
      const without = await requestsPerWrite(active, uncached, 200);
      const summary = `requests per write: cold cache ${cold.toFixed(2)}, warm ${warm.toFixed(2)}, without cache ${without.toFixed(2)}; ${cached.cachedRanges} spans cached; ${leaseSummary(await admin.clusterStatus().catch(() => undefined))}`;
      // A lease moved by the placement driver meanwhile costs a forward or two, not more.
      expect(warm, summary).toBeLessThanOrEqual(1.1);
      expect(cached.cachedRanges, summary).toBeGreaterThanOrEqual(6);
      // Leases on every node: without the cache, writes to the other nodes' ranges are forwarded.
      expect(without, summary).toBeGreaterThanOrEqual(1.25);
    } catch (err) {
      throw new Error(`${err instanceof Error ? err.message : String(err)}\nstatuses: ${await active.statusSummary()}\n${active.logs()}`, { cause: err });
    }
  }, 240_000);
});
