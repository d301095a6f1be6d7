/**
 * The node's placement settings: locality labels from --locality, and driver limits from the
 * flags that the placement driver accepts (checkDriverLimits) and that map to the planner.
 */
import { describe, expect, it } from 'vitest';
import { checkDriverLimits } from '../placement/driver.ts';
import { nodeConfigSchema } from './config.ts';
import type { LivenessRecord } from '../placement/liveness.ts';
import { driverLimitsOf, livenessRecordMs, livenessWriteBatch, localityFromAnnotations, newerRecord, parseLocality, placementTickMs, recordDue, withNewerBeats } from './placement-host.ts';
import { LeaderLivenessWatch } from './quiescence.ts';

describe('placement host settings', () => {
  it('parses locality labels in either order, defaulting a missing one', () => {
    expect(parseLocality('region=eu,zone=eu-a')).toEqual({ region: 'eu', zone: 'eu-a' });
    expect(parseLocality('zone=b,region=us')).toEqual({ region: 'us', zone: 'b' });
    expect(parseLocality('zone=c')).toEqual({ region: 'default', zone: 'c' });
  });

  it('reads the topology labels from a downward-API annotations file, defaulting missing or bad ones', () => {
    const file = ['phantomdb.io/config-hash="abc"', 'topology.kubernetes.io/zone="eu-west-1a"', 'topology.kubernetes.io/region="eu-\\"west\\"-1"', ''].join('\n');
    expect(localityFromAnnotations(file)).toEqual({ region: 'eu-"west"-1', zone: 'eu-west-1a' });
    expect(localityFromAnnotations('topology.kubernetes.io/zone=""\nnot a line')).toEqual({ region: 'default', zone: 'default' });
  });

  it('refuses malformed --locality values in the config', () => {
    const base = { nodeId: 1, clusterId: 'c', dataDir: '/tmp/x' };
    expect(nodeConfigSchema.safeParse({ ...base, locality: 'zone=a' }).success).toBe(true);
    expect(nodeConfigSchema.safeParse({ ...base, locality: 'zone a' }).success).toBe(false);
    expect(nodeConfigSchema.safeParse({ ...base, locality: 'rack=1' }).success).toBe(false);
  });

  it('derives valid driver limits from the flags (defaults and extremes)', () => {
    const defaults = nodeConfigSchema.parse({ nodeId: 1, clusterId: 'c', dataDir: '/tmp/x' });
    for (const flags of [defaults, { rebalanceConcurrency: 1, snapshotRateBytes: 64 * 1024, deadNodeReplaceMs: 1000 }]) {
      const limits = driverLimitsOf(flags);
      expect(() => checkDriverLimits(limits)).not.toThrow();
      expect(limits.planner.concurrentMovesMax).toBe(flags.rebalanceConcurrency);
      expect(limits.copyBytesPerSecondMax).toBe(flags.snapshotRateBytes);
      // Two copies of ranges holding four seconds' worth of the rate may be in flight at once (pipelined).
      expect(limits.planner.bytesInFlightMax).toBeGreaterThanOrEqual(2 * 4 * flags.snapshotRateBytes);
      expect(limits.planner.deadAfterTicks * placementTickMs).toBeGreaterThanOrEqual(flags.deadNodeReplaceMs);
    }
  });
});

describe('liveness records written every livenessRecordMs', () => {
  const rec = (nodeId: number, heartbeatTicks: number, extra: Partial<LivenessRecord> = {}): LivenessRecord => ({
    nodeId,
    epoch: 1,
    heartbeatTicks,
    locality: { region: 'r', zone: 'z' },
    capacityBytes: 1000,
    usedBytes: 10,
    ...extra,
  });

  it('writes a node\'s first record, then only every interval unless the epoch, locality or capacity changed', () => {
    expect(recordDue(undefined, 0, rec(1, 10), 0)).toBe(true);
    const written = rec(1, 10);
    expect(recordDue(written, 5000, rec(1, 20, { usedBytes: 99 }), 5000 + livenessRecordMs - 1)).toBe(false);
    expect(recordDue(written, 5000, rec(1, 20), 5000 + livenessRecordMs)).toBe(true);
    expect(recordDue(written, 5000, rec(1, 0, { epoch: 2 }), 5001)).toBe(true);
    expect(recordDue(written, 5000, rec(1, 20, { locality: { region: 'r', zone: 'y' } }), 5001)).toBe(true);
    expect(recordDue(written, 5000, rec(1, 20, { capacityBytes: 2000 }), 5001)).toBe(true);
  });

  it('writes the due record together with every other node whose beat advanced since its last write', () => {
    const beats = new Map([
      [1, { latest: rec(1, 30), proposed: rec(1, 10) }], // due (the caller decided)
      [2, { latest: rec(2, 25), proposed: rec(2, 15) }], // advanced: rides along
      [3, { latest: rec(3, 15), proposed: rec(3, 15) }], // written already: stays out
      [4, { latest: rec(4, 5), proposed: undefined }], // never written: rides along
      [5, { latest: rec(5, 0, { epoch: 2 }), proposed: rec(5, 90) }], // restarted: rides along
    ]);
    expect(livenessWriteBatch(beats, 1)).toEqual([1, 2, 4, 5]);
    // The due node comes first even when its own beat is not newer (a changed capacity made it due).
    expect(livenessWriteBatch(new Map([[3, { latest: rec(3, 15), proposed: rec(3, 15) }]]), 3)).toEqual([3]);
  });

  it('lets the meta leader\'s tracker see the newest beat of a recorded node, never a node without a record', () => {
    const recorded = [rec(1, 10), rec(2, 50)];
    const beats = new Map([
      [1, rec(1, 20)],
      [2, rec(2, 40)],
      [3, rec(3, 5)],
    ]);
    expect(withNewerBeats(recorded, beats)).toEqual([rec(1, 20), rec(2, 50)]);
    expect(newerRecord(rec(1, 1, { epoch: 2 }), rec(1, 99))).toBe(true);
    expect(newerRecord(rec(1, 99), rec(1, 99))).toBe(false);
  });

  it('keeps the quiescence wake-up quiet while records are written every interval, and wakes once two writes are missed', () => {
    // Kept together: the wake-up's suspicion (node.ts) is two intervals plus a second of slack.
    const suspectMs = 2 * livenessRecordMs + 1000;
    const watch = new LeaderLivenessWatch(suspectMs, 0);
    let now = 0;
    for (let beat = 1; beat <= 5; beat++) {
      now += livenessRecordMs + 400; // a write arriving late still keeps the node live
      watch.observe([rec(1, beat * 20)], now);
      expect(watch.suspect(1, now + livenessRecordMs)).toBe(false);
    }
    expect(watch.suspect(1, now + 2 * livenessRecordMs + 1000)).toBe(true);
  });
});
