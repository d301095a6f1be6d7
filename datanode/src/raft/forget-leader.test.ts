// forgetLeader: a follower with evidence that its leader failed lets a campaign through at once,
// and a live leader keeps its leadership and term when one follower forgets it by mistake.
import { describe, expect, it } from 'vitest';
import type { RaftOptions } from './raft.ts';
import { TestCluster } from './testkit.ts';

const options: Partial<RaftOptions> = { checkQuorum: true, preVote: true, quiesceAfterIdleTicks: 3, electionTimeoutTicks: 10, heartbeatTimeoutTicks: 1 };

/** Three nodes, node 1 leading, the group quiescent everywhere. */
function quiescentCluster(extra: Partial<RaftOptions> = {}): TestCluster {
  // Node 1 times out first (the others' randomized timeouts are longer).
  const c = new TestCluster({ ...options, ...extra }, (id) => ({ next: () => (id === 1 ? 0 : 0.9) }));
  c.addNodes([1, 2, 3], [1, 2, 3]);
  if (extra.readOnlyOption === 'lease-based') {
    // With lease reads a started node refuses votes for one election timeout: elect by timeout.
    c.tickAll(10);
    c.stabilize();
    expect(c.leaders()).toEqual([1]);
  } else {
    c.elect(1);
  }
  c.raft(1).propose(new TextEncoder().encode('x'));
  c.stabilize();
  for (let i = 0; i < 10 && !c.raft(1).isQuiesced(); i++) {
    c.tick(1);
    c.stabilize();
  }
  for (const id of [1, 2, 3]) expect(c.raft(id).isQuiesced(), `node ${id} quiescent`).toBe(true);
  // Much time passes in quiescence: no timer fires anywhere.
  c.tickAll(50);
  c.stabilize();
  expect(c.inFlight).toEqual([]);
  return c;
}

describe('forgetLeader', () => {
  it('without it, a quiescent follower refuses the campaign of a peer whose leader died', () => {
    const c = quiescentCluster();
    c.nodes.delete(1);
    c.raft(2).campaign();
    c.stabilize();
    // Node 3 heard from its leader "recently" as far as its stopped election clock knows.
    expect(c.raft(2).status().role).toBe('pre-candidate');
    expect(c.raft(3).status().leaderId).toBe(1);
  });

  it('lets the followers of a quiescent group whose leader died elect at once', () => {
    const c = quiescentCluster();
    const term = c.raft(2).status().term;
    c.nodes.delete(1);
    for (const id of [2, 3]) expect(c.raft(id).forgetLeader()).toBe(true);
    expect(c.raft(3).isQuiesced()).toBe(false);
    expect(c.raft(3).status().leaderId).toBe(0);
    c.raft(2).campaign();
    c.stabilize();
    expect(c.raft(2).status().role).toBe('leader');
    expect(c.raft(2).status().term).toBe(term + 1);
    expect(c.raft(3).status().leaderId).toBe(2);
  });

  it('a live leader keeps leadership and term when one follower forgets it and campaigns', () => {
    const c = quiescentCluster();
    const term = c.raft(1).status().term;
    expect(c.raft(2).forgetLeader()).toBe(true);
    c.raft(2).campaign();
    c.stabilize();
    // Node 3 (still following node 1) and node 1 itself refuse the pre-vote; the pre-vote woke
    // node 1, whose heartbeat gives node 2 its leader back.
    for (const id of [1, 2, 3]) {
      expect(c.raft(id).status().term, `node ${id} term`).toBe(term);
      expect(c.raft(id).status().leaderId, `node ${id} leader`).toBe(1);
    }
    expect(c.raft(1).status().role).toBe('leader');
  });

  it('is a no-op on leaders, candidates and followers without a leader', () => {
    const c = quiescentCluster();
    expect(c.raft(1).forgetLeader()).toBe(false);
    expect(c.raft(1).isQuiesced()).toBe(true);
    expect(c.raft(2).forgetLeader()).toBe(true);
    expect(c.raft(2).forgetLeader()).toBe(false);
  });

  it('with lease reads, waits until a lease the follower may have granted ran out', () => {
    const c = quiescentCluster({ readOnlyOption: 'lease-based' });
    // Quiescent for 50 ticks already: any lease from the quiesce heartbeat's acks is over.
    expect(c.raft(2).forgetLeader()).toBe(true);
    // A fresh heartbeat (the leader woke) is a lease this follower may have granted.
    c.raft(1).wake();
    c.stabilize();
    expect(c.raft(3).status().leaderId).toBe(1);
    expect(c.raft(3).forgetLeader()).toBe(false);
    c.tick(3, 10);
    expect(c.raft(3).forgetLeader()).toBe(true);
  });
});
