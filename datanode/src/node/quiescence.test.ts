import { describe, expect, it } from 'vitest';
import type { LivenessRecord } from '../placement/liveness.ts';
import { LeaderLivenessWatch, PeerFailures } from './quiescence.ts';

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

describe('PeerFailures', () => {
  it('holds a peer down from a failed connection until a message from it arrives', () => {
    const failures = new PeerFailures(250);
    expect(failures.any).toBe(false);
    expect(failures.markDown(2, 0)).toBe(true);
    // Repeated reports (reconnection attempts) are not news.
    expect(failures.markDown(2, 100)).toBe(false);
    expect(failures.isDown(2)).toBe(true);
    expect(failures.isDown(3)).toBe(false);
    expect(failures.any).toBe(true);
    failures.heardFrom(2);
    expect(failures.isDown(2)).toBe(false);
    expect(failures.any).toBe(false);
    expect(failures.markDown(2, 200)).toBe(true);
  });

  it('lets a range campaign at most once per gap', () => {
    const failures = new PeerFailures(250);
    expect(failures.mayCampaign(7, 1000)).toBe(true);
    expect(failures.mayCampaign(7, 1249)).toBe(false);
    expect(failures.mayCampaign(8, 1249)).toBe(true);
    expect(failures.mayCampaign(7, 1250)).toBe(true);
  });
});
