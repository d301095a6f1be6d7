/**
 * Steps shared by the cluster scenarios: a load phase that must make progress, and the final
 * checks (no acknowledged write lost, the history linearizable). CLUSTER_PHASE_MS (default 1500)
 * sets how long each phase runs under load; SEED picks the workload's operations.
 */
import { createHash } from 'node:crypto';
import { expect } from 'vitest';
import { KvClient } from '../../datanode/src/kv/client.ts';
import { timeouts, type TestCluster } from './harness.ts';
import type { Workload } from './workload.ts';

export const phaseMs = Number(process.env.CLUSTER_PHASE_MS ?? 1500);
export const seed = Number(process.env.SEED ?? Date.now() % 100_000);
const minProgressOps = 20;

/** Runs load for one phase and insists the cluster made progress in it. */
export async function phase(load: Workload, name: string, cluster: TestCluster | undefined): Promise<void> {
  const started = performance.now();
  await load.progress(minProgressOps, timeouts.phaseProgress).catch(async (err: unknown) => {
    const statuses = (await cluster?.statusSummary()) ?? '';
    throw new Error(`phase "${name}": ${err instanceof Error ? err.message : String(err)}\nstatuses: ${statuses}\n${cluster?.logs() ?? ''}`, { cause: err });
  });
  const left = phaseMs - (performance.now() - started);
  if (left > 0) await load.progress(1, left + timeouts.leaderElected).catch(() => undefined);
}

/** Stops the load, then checks every acknowledged write through `endpoints` and the history. */
export async function finish(load: Workload, endpoints: readonly string[], runSeed: number): Promise<void> {
  await load.stop();
  const lost = await load.lostWrites(endpoints);
  expect(lost, `acknowledged writes lost (seed ${runSeed})`).toEqual([]);
  expect(load.acknowledged.size).toBeGreaterThan(0);
  const result = load.check();
  if (result.verdict !== 'linearizable') console.error(`reproduce with SEED=${runSeed}\n${result.report}`);
  expect(result.verdict, `linearizability (seed ${runSeed}): ${result.report.slice(0, 2000)}`).toBe('linearizable');
  console.log(`seed ${runSeed}: ${load.counts.ok} ok, ${load.counts.failed} failed, ${load.counts.unknown} unknown; ${load.acknowledged.size} durable puts checked`);
}

/** A checksum of every row of the keyspace, read through `endpoint` in pages (crossing ranges). */
export async function fullScanChecksum(endpoint: string, clusterId: string): Promise<{ rows: number; digest: string }> {
  const client = new KvClient({ endpoints: [endpoint], clusterId, deadlineMs: 10_000 });
  const hash = createHash('sha256');
  let rows = 0;
  try {
    let start = Buffer.alloc(0);
    for (;;) {
      const page = await client.scan(start, Buffer.alloc(0), 500);
      for (const row of page.rows) {
        hash.update(`${row.key.length}:`).update(row.key).update(`${row.value.length}:`).update(row.value);
        rows++;
      }
      const last = page.rows.at(-1);
      if (!page.more || last === undefined) break;
      start = Buffer.concat([last.key, Buffer.from([0])]);
    }
  } finally {
    client.close();
  }
  return { rows, digest: hash.digest('hex') };
}
