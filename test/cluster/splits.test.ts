/**
 * Ranges split under load on real processes: a 3-node cluster with a small --range-max-bytes
 * under concurrent clients (the shared-key workload plus a writer of larger values) splits into
 * several ranges; the node leading the most ranges is SIGKILLed while splits keep happening and
 * restarted; afterwards every acknowledged write is readable through every node (single gets
 * and scans that cross range boundaries), and the shared keys' history is linearizable.
 */
import * as fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { AdminClient, type ClusterStatus } from '../../datanode/src/admin/index.ts';
import { KvClient } from '../../datanode/src/kv/client.ts';
import { TestCluster, eventually, timeouts } from './harness.ts';
import { finish, phase, seed } from './scenario.ts';
import { Workload } from './workload.ts';

let cluster: TestCluster | undefined;
let workload: Workload | undefined;
let admin: AdminClient | undefined;
let filler: Filler | undefined;

afterEach(async () => {
  await filler?.stop();
  await workload?.stop().catch(() => undefined);
  workload?.close();
  admin?.close();
  await cluster?.close();
  cluster = undefined;
  workload = undefined;
  admin = undefined;
  filler = undefined;
});

/** Writes keys f/<n> with ~200-byte values, one at a time, remembering what was acknowledged. */
class Filler {
  readonly acknowledged = new Map<string, string>();
  private running = true;
  private readonly loop: Promise<void>;
  private readonly client: KvClient;

  constructor(endpoints: readonly string[], clusterId: string) {
    this.client = new KvClient({ endpoints: [...endpoints], clusterId, deadlineMs: 3000, backoffMaxMs: 200 });
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    for (let n = 0; this.running; n++) {
      const key = `f/${String(n).padStart(6, '0')}`;
      const value = `${key}:${'x'.repeat(200)}`;
      try {
        await this.client.put(key, value);
        this.acknowledged.set(key, value);
      } catch {
        // Not acknowledged: it may or may not be there, and is not checked.
      }
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    this.client.close();
  }
}

async function status(client: AdminClient): Promise<ClusterStatus> {
  return client.clusterStatus();
}

describe('range splits', () => {
  it('splits a growing keyspace into ranges under load and a leader SIGKILL; nothing acknowledged is lost, histories stay linearizable', async () => {
    cluster = await TestCluster.start({ size: 3, extraArgs: ['--range-max-bytes', '8192'] });
    const active = cluster;
    await scenario(active).catch((err: unknown) => {
      if (process.env.SPLITS_FULL_LOG !== undefined) fs.writeFileSync(process.env.SPLITS_FULL_LOG, active.nodes.map((n) => n.output).join('\n=====\n'));
      throw new Error(`${err instanceof Error ? err.message : String(err)}\n${active.logs()}`);
    });
  });
});

async function scenario(active: TestCluster): Promise<void> {
  {
    const adminClient = new AdminClient({ endpoints: active.kvEndpoints(), clusterId: active.clusterId, deadlineMs: 5000 });
    admin = adminClient;
    const load = new Workload({ endpoints: active.kvEndpoints(), clusterId: active.clusterId, clients: 4, keys: 5, seed });
    workload = load;
    const writer = new Filler(active.kvEndpoints(), active.clusterId);
    filler = writer;
    await phase(load, 'steady', active);

    const split = await eventually('at least 3 user ranges, all available', timeouts.phaseProgress, async () => {
      const now = await status(adminClient);
      return now.ranges >= 3 && now.unavailableRanges === 0 ? now : undefined;
    });

    // SIGKILL the node that leads the most ranges while the writer keeps splitting ranges.
    const busiest = [...split.nodes].sort((a, b) => b.leases - a.leases)[0];
    expect(busiest).toBeDefined();
    const victim = active.nodes.find((node) => node.spec.id === busiest?.nodeId);
    expect(victim).toBeDefined();
    if (victim === undefined) return;
    await victim.kill();
    await active.waitForLeader(timeouts.leaderElected, [victim.spec.id]);
    await phase(load, 'one node down', active);
    victim.start();
    await active.waitReady(victim, `node ${victim.spec.id} ready again`);
    await phase(load, 'after restart', active);

    const grown = await eventually('more ranges after the restart, all available', timeouts.phaseProgress, async () => {
      const now = await status(adminClient);
      return now.ranges > split.ranges && now.unavailableRanges === 0 ? now : undefined;
    });
    // The ranges the meta leader lists tile the keyspace: contiguous, no gaps, no overlaps.
    await eventually('range list tiling the keyspace', timeouts.caughtUp, async () => {
      const user = (await adminClient.rangeList()).filter((range) => !range.meta).sort((a, b) => Buffer.compare(a.startKey, b.startKey));
      const tiled = user.length >= grown.ranges && user[0]?.startKey.byteLength === 0 && user.at(-1)?.endKey.byteLength === 0 && user.every((range, i) => i === 0 || user[i - 1]?.endKey.equals(range.startKey));
      return tiled && user.every((range) => range.replicas.filter((r) => r.voter).length === 3) ? user : undefined;
    });
    await writer.stop();
    await load.stop();
    expect(writer.acknowledged.size).toBeGreaterThan(50);

    // Through every node: the workload's durable puts (a scan across ranges) and the writer's keys.
    await checkEveryNode(active, load, writer);
    console.log(`ranges: ${split.ranges} before the kill, ${grown.ranges} at the end; ${writer.acknowledged.size} filler writes`);
    await finish(load, active.kvEndpoints(), seed);

    // A range leader's report reaches the meta range through any node (RecordRanges); an older
    // generation does not replace a newer copy.
    const reporter = new KvClient({ endpoints: active.kvEndpoints().slice(1), clusterId: active.clusterId, deadlineMs: 10_000 });
    try {
      const reported = { rangeId: 4242, startKey: Buffer.from('~~~'), endKey: Buffer.alloc(0), generation: 5, replicas: [{ nodeId: 1, voter: true }] };
      await reporter.recordRanges([reported]);
      await reporter.recordRanges([{ ...reported, startKey: Buffer.from('~'), generation: 4 }]);
      const listed = (await adminClient.rangeList()).find((range) => range.rangeId === 4242);
      expect(listed?.startKey.toString()).toBe('~~~');
      expect(listed?.generation).toBe(5);
    } finally {
      reporter.close();
    }
  }
}

async function checkEveryNode(active: TestCluster, load: Workload, writer: Filler): Promise<void> {
  const failures: string[] = [];
  for (const endpoint of active.kvEndpoints()) {
    const node = active.nodes.find((n) => n.kvAddress === endpoint)?.spec.id;
    await checkThrough(endpoint, active, load, writer).catch((err: unknown) => {
      failures.push(`through node ${node} (${endpoint}): ${err instanceof Error ? err.message : String(err)}`);
    });
  }
  if (failures.length > 0) throw new Error(failures.join('\n'));
}

async function checkThrough(endpoint: string, active: TestCluster, load: Workload, writer: Filler): Promise<void> {
  {
      expect(await load.lostWrites([endpoint]), `lost through ${endpoint}`).toEqual([]);
      const client = new KvClient({ endpoints: [endpoint], clusterId: active.clusterId, deadlineMs: 10_000 });
      try {
        const seen = new Map<string, string>();
        let start = 'f/';
        for (;;) {
          const page = await client.scan(start, 'f0', 97);
          for (const row of page.rows) seen.set(row.key.toString(), row.value.toString());
          const last = page.rows.at(-1);
          if (!page.more || last === undefined) break;
          start = `${last.key.toString()}\u0000`;
        }
        const keys = [...seen.keys()];
        expect(keys, 'scan rows in key order').toEqual([...keys].sort());
        for (const [key, value] of writer.acknowledged) expect(seen.get(key), `${key} through ${endpoint}`).toBe(value);
        const sample = [...writer.acknowledged.keys()].filter((_, i) => i % 25 === 0);
        for (const key of sample) expect((await client.get(key))?.toString()).toBe(writer.acknowledged.get(key));
      } finally {
        client.close();
      }
    }
}
