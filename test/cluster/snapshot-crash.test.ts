/**
 * Crash safety of snapshot installation on real processes. A follower is killed, the others
 * write enough to compact their logs past it, and it restarts with PHANTOMDB_TEST_CRASH_AT set
 * so that it SIGKILLs itself right after one step of the install (marker written, old range
 * deleted, new files ingested) of the first snapshot it receives (the user range's or the meta
 * range's). Restarted without the crash point it must recover (redoing the
 * journaled install) from its own disk, cut off from the others, and then hold every acknowledged
 * write: checked by moving leadership to it and scanning everything through it alone.
 */
import { describe, expect, it } from 'vitest';
import { AdminClient } from '../../datanode/src/admin/index.ts';
import { KvClient } from '../../datanode/src/kv/client.ts';
import { ScenarioSteps, TestCluster, closedAfterEachTest, eventually, surely, timeouts } from './harness.ts';

const opened = closedAfterEachTest();

const crashPoints = ['install:after-marker', 'install:after-delete', 'install:after-ingest'] as const;
const writesPerRound = 60;

async function scanAll(client: KvClient): Promise<Map<string, string>> {
  const rows = new Map<string, string>();
  let start = '';
  for (;;) {
    const page = await client.scan(start, '', 1000);
    for (const row of page.rows) rows.set(row.key.toString(), row.value.toString());
    const last = page.rows[page.rows.length - 1];
    if (!page.more || last === undefined) return rows;
    start = `${last.key.toString()}\x00`;
  }
}

describe('snapshot install crash safety', () => {
  // Three rounds of two restarts each: about a minute on a quiet machine, 95 s beside the
  // placement suite on 2 cores; the default 120 s left too little room (a bare "timed out").
  it('recovers with the snapshot data after a crash at each install step', async () => {
    await crashAtEachInstallStep(new ScenarioSteps('snapshot install crash safety'));
  }, 240_000);
});

async function crashAtEachInstallStep(steps: ScenarioSteps): Promise<void> {
  const step = (what: string): void => steps.step(what);
  const active = await TestCluster.start({ size: 3, extraArgs: ['--compaction-entries', '16'] });
  opened.cluster = active;
  steps.watch(...active.nodes);
  step('cluster started');
  const kv = new KvClient({ endpoints: active.kvEndpoints(), clusterId: active.clusterId, deadlineMs: 10_000 });
  const admin = new AdminClient({ endpoints: active.kvEndpoints(), clusterId: active.clusterId, deadlineMs: 15_000 });
  opened.clients.push(kv, admin);
  const expected = new Map<string, string>();
  for (let i = 0; i < 20; i++) {
    await surely(() => kv.put(`base/${i}`, `b${i}`));
    expected.set(`base/${i}`, `b${i}`);
  }
  step('20 writes');
  for (const [round, point] of crashPoints.entries()) {
    const leader = await active.waitForLeader();
    // A follower of every range: the placement driver spreads range leases, so the user range
    // may be led by a node other than the meta range's leader.
    const rangeLeaders = new Set((await admin.rangeList()).map((range) => range.leaderId));
    const victim = active.nodes.find((node) => node !== leader && !rangeLeaders.has(node.spec.id)) ?? active.nodes.find((node) => node !== leader);
    if (victim === undefined) throw new Error('no follower');
    const appliedBefore = (await victim.status())?.appliedIndex ?? 0;
    await victim.kill();
    step(`${point}: node ${victim.spec.id} killed`);
    // Enough single writes (one entry each) to compact the leader's log past the victim's.
    for (let i = 0; i < writesPerRound; i++) {
      const key = `r${round}/${i}`;
      await surely(() => kv.put(key, `${point}#${i}`));
      expected.set(key, `${point}#${i}`);
    }
    await surely(() => kv.delete(`base/${round}`));
    expected.delete(`base/${round}`);
    step(`${point}: ${writesPerRound} writes done`);

    const redoneBefore = victim.output.split('redoing the snapshot install interrupted by a crash').length;
    victim.start({ PHANTOMDB_TEST_CRASH_AT: point });
    const code = await Promise.race([victim.exited(), new Promise<string>((resolve) => setTimeout(() => resolve('still running'), timeouts.snapshotInstalled))]);
    expect(code, `node ${victim.spec.id} should have crashed at ${point}\n${victim.output}`).toBeNull();
    expect(victim.output).toContain(`test crash point ${point}: SIGKILL`);
    step(`${point}: crashed in the install`);

    // Restarted cut off from the others, it must already hold the snapshot's state: the
    // journaled install is redone from its own disk, not fetched again from the leader.
    active.isolate(victim.spec.id);
    victim.start();
    const recovered = await eventually(`node ${victim.spec.id} serving status after the crash at ${point}`, timeouts.processStart, () => victim.status());
    expect(victim.output.split('redoing the snapshot install interrupted by a crash').length).toBeGreaterThan(redoneBefore);
    // The crash hits the first snapshot installed: the user range's (the 60 writes), or the meta
    // range's (its log, with a liveness record per node every second, is compacted too with
    // --compaction-entries 16). Either way the node moved forward from its own disk alone.
    expect(recovered.appliedIndex).toBeGreaterThan(appliedBefore);
    step(`${point}: recovered alone (applied ${appliedBefore} → ${recovered.appliedIndex})`);
    active.heal(victim.spec.id);
    await active.waitReady(victim, `node ${victim.spec.id} ready after the crash at ${point}`);
    step(`${point}: ready`);
    // Read everything through the recovered node alone, as the leader.
    expect(await admin.transferLeadership(victim.spec.id)).toBe(victim.spec.id);
    step(`${point}: leads`);
    const direct = new KvClient({ endpoints: [victim.kvAddress], clusterId: active.clusterId, deadlineMs: 10_000 });
    opened.clients.push(direct);
    const rows = await eventually(`reads through node ${victim.spec.id}`, timeouts.leaderElected, () => scanAll(direct));
    expect(rows).toEqual(expected);
    step(`${point}: every row read through node ${victim.spec.id}`);
  }
}
