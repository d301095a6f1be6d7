/**
 * Quiescence on real processes: an idle user range stops heartbeating on every replica, and when
 * the leader of a quiescent range is SIGKILLed, its followers (whose election timers are stopped)
 * are woken by node liveness (the leader's liveness record stops advancing in the meta range) and
 * elect a new leader; the writes acknowledged before are still there.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { AdminClient } from '../../datanode/src/admin/index.ts';
import { KvClient } from '../../datanode/src/kv/client.ts';
import { TestCluster, eventually, surely, timeouts, type NodeProcess } from './harness.ts';

const quiescenceTimeouts = {
  /** Every replica of an idle range quiesces (an election timeout of idleness, then one heartbeat). */
  quiesced: 20_000,
  /** A killed quiescent leader is replaced: liveness suspicion (5 s) plus an election, with room for a loaded machine. */
  replaced: 30_000,
} as const;

let cluster: TestCluster | undefined;
let client: KvClient | undefined;
let admin: AdminClient | undefined;

afterEach(async () => {
  client?.close();
  admin?.close();
  await cluster?.close();
  cluster = undefined;
  client = undefined;
  admin = undefined;
});

/** The node's count of quiescent ranges (its /metrics), or undefined when it does not answer. */
async function quiescedRanges(node: NodeProcess): Promise<number | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${node.spec.httpPort}/metrics`, { signal: AbortSignal.timeout(3000) });
    const match = /^phantomdb_ranges\{state="quiesced"[^}]*\} (\d+)$/m.exec(await response.text());
    return match === null ? undefined : Number(match[1]);
  } catch {
    return undefined;
  }
}

describe('quiescence', () => {
  it('quiesces an idle range on every replica, and replaces its killed leader through node liveness', async () => {
    cluster = await TestCluster.start({ size: 3 });
    const active = cluster;
    await active.waitForServing();
    const kv = new KvClient({ endpoints: active.kvEndpoints(), clusterId: active.clusterId, deadlineMs: 5000 });
    client = kv;
    const adminClient = new AdminClient({ endpoints: active.kvEndpoints(), clusterId: active.clusterId, deadlineMs: 5000 });
    admin = adminClient;
    await surely(() => kv.put('q/before', 'acknowledged'));

    const describeState = async (): Promise<string> =>
      `${await active.statusSummary()}; quiesced ranges per node: ${(await Promise.all(active.nodes.map(async (n) => `n${n.spec.id}=${String(await quiescedRanges(n))}`))).join(' ')}\n${active.logs()}`;
    try {
      // The meta range never quiesces; the one user range does, on all three replicas.
      await eventually('the user range quiescent on every node', quiescenceTimeouts.quiesced, async () => {
        const counts = await Promise.all(active.nodes.map((node) => quiescedRanges(node)));
        return counts.every((count) => count === 1) ? true : undefined;
      });
      const userRange = await eventually('the user range with a leader', timeouts.leaderElected, async () => (await adminClient.rangeList()).find((range) => !range.meta && range.leaderId !== 0));
      const victim = active.node(userRange.leaderId);
      const killedAt = performance.now();
      await victim.kill();

      // Its followers run no election timer: only the liveness wake-up gets the range a leader.
      await eventually('a write to the range whose quiescent leader was killed', quiescenceTimeouts.replaced, async () => {
        try {
          await kv.put('q/after', 'written', { deadlineMs: 3000 });
          return true;
        } catch {
          return undefined;
        }
      });
      console.log(`quiescent range ${userRange.rangeId}: leader n${victim.spec.id} killed, a write succeeded after ${((performance.now() - killedAt) / 1000).toFixed(1)} s`);
      const after = await eventually('the range led by a surviving node', timeouts.leaderElected, async () => {
        const range = (await adminClient.rangeList()).find((candidate) => candidate.rangeId === userRange.rangeId);
        return range !== undefined && range.leaderId !== 0 && range.leaderId !== victim.spec.id ? range : undefined;
      });
      expect(after.leaderId).not.toBe(victim.spec.id);
      expect((await kv.get('q/before'))?.toString()).toBe('acknowledged');
      expect((await kv.get('q/after'))?.toString()).toBe('written');
    } catch (err) {
      throw new Error(`${err instanceof Error ? err.message : String(err)}\n${await describeState()}`, { cause: err });
    }
  }, 120_000);
});
