/**
 * Quiescence on real processes: an idle user range stops heartbeating on every replica; a
 * request that reaches a follower while the leader lives changes nothing (no campaign, same
 * leader); and when the leader of the quiescent range is SIGKILLed, the survivors notice the
 * broken connection at once (not node liveness, which suspects a node only after 5 s), and a
 * fresh client's first write — default deadline, no retry loop of the test's own — succeeds
 * within an election round; the writes acknowledged before are still there.
 */
import { describe, expect, it } from 'vitest';
import { AdminClient } from '../../datanode/src/admin/index.ts';
import { KvClient } from '../../datanode/src/kv/client.ts';
import { TestCluster, closedAfterEachTest, eventually, surely, timeouts, type NodeProcess } from './harness.ts';

const quiescenceTimeouts = {
  /** Every replica of an idle range quiesces (an election timeout of idleness, then one heartbeat). */
  quiesced: 20_000,
  /** The survivors see the killed node's connection fail (milliseconds; generous for a loaded machine). */
  noticed: 5_000,
} as const;
/** The first write after the kill: an election round and the write's own, far below liveness's 5 s. */
const firstWriteMaxMs = 3_000;
/** What a node logs when a request makes it campaign (store.ts campaignIfLeaderDown). */
const campaignLine = 'campaigning for a request';

const opened = closedAfterEachTest();

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
  it('quiesces an idle range; a follower leaves a live leader alone; a killed leader is replaced before a fresh client\'s first write gives up', async () => {
    const active = await TestCluster.start({ size: 3 });
    opened.cluster = active;
    await active.waitForServing();
    const kv = new KvClient({ endpoints: active.kvEndpoints(), clusterId: active.clusterId, deadlineMs: 5000 });
    const admin = new AdminClient({ endpoints: active.kvEndpoints(), clusterId: active.clusterId, deadlineMs: 5000 });
    opened.clients.push(kv, admin);
    await surely(() => kv.put('q/before', 'acknowledged'));

    const describeState = async (): Promise<string> =>
      `${await active.statusSummary()}; quiesced ranges per node: ${(await Promise.all(active.nodes.map(async (n) => `n${n.spec.id}=${String(await quiescedRanges(n))}`))).join(' ')}\n${active.logs()}`;
    try {
      // The meta range never quiesces; the one user range does, on all three replicas.
      const quiescentEverywhere = (): Promise<true> =>
        eventually('the user range quiescent on every node', quiescenceTimeouts.quiesced, async () => {
          const counts = await Promise.all(active.nodes.map((node) => quiescedRanges(node)));
          return counts.every((count) => count === 1) ? true : undefined;
        });
      await quiescentEverywhere();
      const userRange = await eventually('the user range with a leader', timeouts.leaderElected, async () => (await admin.rangeList()).find((range) => !range.meta && range.leaderId !== 0));
      const victim = active.node(userRange.leaderId);
      const survivors = active.nodes.filter((node) => node !== victim);

      // A read through a follower, range cache off: forwarded to the live leader, no campaign.
      const viaFollower = new KvClient({ endpoints: [survivors[0]?.kvAddress ?? ''], clusterId: active.clusterId, rangeCacheEntries: 0 });
      opened.clients.push(viaFollower);
      expect((await viaFollower.get('q/before'))?.toString()).toBe('acknowledged');
      expect((await admin.rangeList()).find((range) => range.rangeId === userRange.rangeId)?.leaderId).toBe(victim.spec.id);
      expect(active.nodes.filter((node) => node.output.includes(campaignLine)).map((node) => node.spec.id)).toEqual([]);
      // The read woke the range: kill its leader only once it is quiescent again.
      await quiescentEverywhere();

      const killedAt = performance.now();
      await victim.kill();
      // The broken connection, not liveness: every survivor counts the node down at once.
      await eventually(`the survivors noticing node ${victim.spec.id}'s connection fail`, quiescenceTimeouts.noticed, () =>
        survivors.every((node) => node.output.includes(`node ${victim.spec.id} unreachable`)) ? true : undefined,
      );
      const noticedMs = performance.now() - killedAt;

      // A fresh client of the survivors, default deadline (5 s): its first write must succeed.
      const fresh = new KvClient({ endpoints: survivors.map((node) => node.kvAddress), clusterId: active.clusterId });
      opened.clients.push(fresh);
      const writeStarted = performance.now();
      await fresh.put('q/after', 'written');
      const writeMs = performance.now() - writeStarted;
      const lines = survivors.flatMap((node) => node.output.split('\n').filter((line) => line.includes(campaignLine) || line.includes(`node ${victim.spec.id} unreachable`)));
      console.log(`quiescent range ${userRange.rangeId}: leader n${victim.spec.id} killed; connection failure noticed after ${noticedMs.toFixed(0)} ms; a fresh client's first write took ${writeMs.toFixed(0)} ms\n${lines.join('\n')}`);
      expect(writeMs).toBeLessThan(firstWriteMaxMs);

      const after = await eventually('the range led by a surviving node', timeouts.leaderElected, async () => {
        const range = (await admin.rangeList()).find((candidate) => candidate.rangeId === userRange.rangeId);
        return range !== undefined && range.leaderId !== 0 && range.leaderId !== victim.spec.id ? range : undefined;
      });
      expect(after.leaderId).not.toBe(victim.spec.id);
      expect((await fresh.get('q/before'))?.toString()).toBe('acknowledged');
      expect((await fresh.get('q/after'))?.toString()).toBe('written');
    } catch (err) {
      throw new Error(`${err instanceof Error ? err.message : String(err)}\n${await describeState()}`, { cause: err });
    }
  }, 90_000);
});
