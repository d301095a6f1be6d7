import { describe, expect, it } from 'vitest';
import type { LivenessRecord } from '../placement/liveness.ts';
import { LeaderLivenessWatch } from './quiescence.ts';

const record = (nodeId: number, epoch: number, heartbeatTicks: number): LivenessRecord => ({
  nodeId,
  epoch,
  heartbeatTicks,
  locality: { region: 'r', zone: 'z' },
  capacityBytes: 1000,
  usedBytes: 0,
});

describe('LeaderLivenessWatch', () => {
  it('suspects a node whose record stops advancing, and clears it when the record advances again', () => {
    const watch = new LeaderLivenessWatch(3000, 0);
    watch.observe([record(2, 1, 10)], 0);
    watch.observe([record(2, 1, 20)], 1000);
    expect(watch.suspect(2, 3999)).toBe(false);
    // The same record observed again is no beat.
    watch.observe([record(2, 1, 20)], 3500);
    expect(watch.suspect(2, 4000)).toBe(true);
    watch.observe([record(2, 1, 30)], 4100);
    expect(watch.suspect(2, 4100)).toBe(false);
  });

  it('counts a new epoch (a restart) as a change, and suspects a node never seen once the period has passed', () => {
    const watch = new LeaderLivenessWatch(3000, 1000);
    expect(watch.suspect(5, 3999)).toBe(false);
    expect(watch.suspect(5, 4000)).toBe(true);
    watch.observe([record(3, 1, 50)], 1000);
    watch.observe([record(3, 2, 1)], 3500);
    expect(watch.suspect(3, 6000)).toBe(false);
    expect(watch.suspect(3, 6500)).toBe(true);
  });
});
