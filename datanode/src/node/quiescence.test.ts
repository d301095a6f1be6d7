import { describe, expect, it } from 'vitest';
import type { LivenessRecord } from '../placement/liveness.ts';
import { ForgottenLeaders, LeaderLivenessWatch, PeerFailures } from './quiescence.ts';

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

describe('ForgottenLeaders', () => {
  it("answers only for the replica that forgot, and prunes entries of replicas gone, replaced or led again", () => {
    const forgotten = new ForgottenLeaders<object>();
    const [a, b, c, replacement] = [{}, {}, {}, {}];
    forgotten.remember(2, a, 5);
    forgotten.remember(3, b, 5);
    forgotten.remember(4, c, 6);
    expect(forgotten.leaderOf(2, a)).toBe(5);
    // A new replica of range 2 (the old one dropped, the range added back) inherits nothing.
    expect(forgotten.leaderOf(2, replacement)).toBe(0);
    const replicas = new Map<number, { replica: object; leaderKnown: boolean }>([
      [2, { replica: replacement, leaderKnown: false }],
      [4, { replica: c, leaderKnown: false }],
    ]);
    // Range 3's replica is gone; range 2's was replaced; range 4's is still leaderless.
    forgotten.prune((rangeId) => replicas.get(rangeId));
    expect(forgotten.size).toBe(1);
    expect(forgotten.leaderOf(4, c)).toBe(6);
    replicas.set(4, { replica: c, leaderKnown: true });
    forgotten.prune((rangeId) => replicas.get(rangeId));
    expect(forgotten.size).toBe(0);
    forgotten.remember(7, a, 2);
    forgotten.forget(7);
    expect(forgotten.leaderOf(7, a)).toBe(0);
  });

  it('stays bounded by the leaderless replicas over many ranges woken and dropped', () => {
    const forgotten = new ForgottenLeaders<object>();
    const live = new Map<number, { replica: object; leaderKnown: boolean }>();
    for (let rangeId = 1; rangeId <= 10_000; rangeId++) {
      const replica = {};
      live.set(rangeId, { replica, leaderKnown: false });
      forgotten.remember(rangeId, replica, 9);
      // Ranges come and go: every replica older than 50 ranges was dropped or led again.
      live.delete(rangeId - 50);
      if (rangeId % 10 === 0) forgotten.prune((id) => live.get(id));
    }
    expect(forgotten.size).toBeLessThanOrEqual(60);
  });
});
