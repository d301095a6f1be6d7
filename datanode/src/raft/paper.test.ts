// One test per rule of the Raft paper (§5, §6), each driving real RaftNodes through TestCluster.
import { describe, expect, it } from 'vitest';
import { RaftNode } from './raft.ts';
import { MemoryRaftStorage } from './storage.ts';
import { bytes, TestCluster, testGroupId, zeroRng } from './testkit.ts';
import { simpleConfState, type Message } from './types.ts';

const plain = { preVote: false, checkQuorum: false, electionTimeoutTicks: 10, heartbeatTimeoutTicks: 1 };

function threeNodes(options: object = plain): TestCluster {
  const cluster = new TestCluster(options);
  cluster.addNodes([1, 2, 3], [1, 2, 3]);
  return cluster;
}

describe('Raft paper §5.1 terms', () => {
  it('§5.1: a node that sees a higher term adopts it and becomes follower', () => {
    for (const role of ['follower', 'candidate', 'leader'] as const) {
      const cluster = threeNodes();
      if (role === 'leader') cluster.elect(1);
      if (role === 'candidate') cluster.raft(1).campaign();
      const term = cluster.raft(1).status().term;
      cluster.raft(1).step({ kind: 'Append', groupId: testGroupId, from: 2, to: 1, term: term + 5, prevLogIndex: 0, prevLogTerm: 0, entries: [], commit: 0 });
      expect(cluster.raft(1).status().term).toBe(term + 5);
      expect(cluster.raft(1).status().role).toBe('follower');
      expect(cluster.raft(1).status().leaderId).toBe(2);
    }
  });

  it('§5.1: a request with a stale term is rejected', () => {
    const cluster = threeNodes();
    cluster.elect(1);
    cluster.elect(2); // term 2
    const before = cluster.raft(3).status();
    cluster.raft(3).step({ kind: 'Vote', groupId: testGroupId, from: 1, to: 3, term: 1, lastLogIndex: 100, lastLogTerm: 1, transfer: false });
    const ready = cluster.raft(3).ready();
    expect(ready.messages).toEqual([expect.objectContaining({ kind: 'VoteResponse', reject: true, term: before.term })]);
    cluster.raft(3).advance(ready);
    expect(cluster.raft(3).status().vote).toBe(before.vote);
  });
});

describe('Raft paper §5.2 leader election', () => {
  it('§5.2: a follower that hears nothing for an election timeout campaigns; a majority elects it', () => {
    const cluster = threeNodes();
    cluster.tick(1, 10);
    expect(cluster.raft(1).status().role).toBe('candidate');
    expect(cluster.raft(1).status().term).toBe(2);
    cluster.stabilize();
    expect(cluster.leaders()).toEqual([1]);
    expect(cluster.raft(2).status().leaderId).toBe(1);
  });

  it('§5.2: each node votes for at most one candidate per term, and the vote survives a restart', () => {
    const cluster = threeNodes();
    cluster.raft(1).campaign();
    cluster.raft(2).campaign();
    cluster.processReady(1);
    cluster.processReady(2);
    // Node 3 receives 1's request first, then 2's: it grants one only.
    cluster.deliver(3);
    cluster.processReady(3);
    const responses = cluster.inFlight.filter((m) => m.kind === 'VoteResponse' && m.from === 3);
    expect(responses.map((m) => (m.kind === 'VoteResponse' ? m.reject : undefined))).toEqual([false, true]);
    cluster.restart(3);
    cluster.raft(3).step({ kind: 'Vote', groupId: testGroupId, from: 2, to: 3, term: 2, lastLogIndex: 1, lastLogTerm: 1, transfer: false });
    const ready = cluster.raft(3).ready();
    expect(ready.messages[0]).toMatchObject({ kind: 'VoteResponse', reject: true });
    cluster.raft(3).advance(ready);
  });

  it('§5.2: a candidate that hears from a leader of its term steps down', () => {
    const cluster = threeNodes();
    cluster.raft(2).campaign();
    cluster.raft(2).step({ kind: 'Heartbeat', groupId: testGroupId, from: 1, to: 2, term: 2, commit: 1, context: '', sentTick: 0 });
    expect(cluster.raft(2).status()).toMatchObject({ role: 'follower', leaderId: 1, term: 2 });
  });

  it('§5.2: a split vote times out and randomized timeouts eventually elect one leader', () => {
    let seed = 7;
    const cluster = new TestCluster({ ...plain }, () => {
      const rng = { next: () => ((seed = (seed * 48271) % 2147483647) / 2147483647) };
      return rng;
    });
    cluster.addNodes([1, 2, 3, 4], [1, 2, 3, 4]);
    // Two simultaneous candidates in a 4-node cluster: 2 votes each, nobody wins term 1.
    cluster.raft(1).campaign();
    cluster.raft(3).campaign();
    cluster.partition([1, 2], [3, 4]);
    cluster.stabilize();
    cluster.heal();
    expect(cluster.leaders()).toEqual([]);
    for (let i = 0; i < 100 && cluster.leaders().length === 0; i++) {
      cluster.tickAll();
      cluster.stabilize();
    }
    expect(cluster.leaders()).toHaveLength(1);
  });
});

describe('Raft paper §5.3 log replication', () => {
  it('§5.3: the leader replicates entries; once a majority stores one it is committed and applied everywhere', () => {
    const cluster = threeNodes();
    cluster.elect(1);
    cluster.isolate(3);
    expect(cluster.raft(1).propose(bytes('x'))).toMatchObject({ ok: true, index: 3, term: 2 });
    cluster.stabilize();
    expect(cluster.raft(1).status().commit).toBe(3);
    expect(cluster.appliedData(1)).toEqual(['x']);
    expect(cluster.appliedData(2)).toEqual(['x']);
    cluster.heal();
    cluster.tick(1);
    cluster.stabilize();
    expect(cluster.appliedData(3)).toEqual(['x']);
  });

  it('§5.3: a follower refuses entries whose predecessor does not match (consistency check)', () => {
    const cluster = threeNodes();
    cluster.elect(1);
    const raft = cluster.raft(2);
    raft.step({ kind: 'Append', groupId: testGroupId, from: 1, to: 2, term: 2, prevLogIndex: 5, prevLogTerm: 2, entries: [], commit: 1 });
    const ready = raft.ready();
    expect(ready.messages).toEqual([expect.objectContaining({ kind: 'AppendResponse', reject: true, index: 5, hintIndex: 2, hintTerm: 2 })]);
    raft.advance(ready);
  });

  it('§5.3: conflicting follower entries are overwritten by the leader, skipping a term per round trip', () => {
    const cluster = new TestCluster(plain);
    cluster.addNodes([1, 2, 3], [1, 2, 3]);
    cluster.elect(1); // term 1, index 1
    cluster.partition([1], [2, 3]);
    for (let i = 0; i < 20; i++) cluster.raft(1).propose(bytes(`lost${i}`));
    cluster.stabilize();
    cluster.elect(2); // term 2 with 2,3
    cluster.raft(2).propose(bytes('kept'));
    cluster.stabilize();
    cluster.heal();
    cluster.tick(2);
    const messagesBefore: Message[] = [];
    cluster.onReady = (_id, ready) => messagesBefore.push(...ready.messages);
    cluster.stabilize();
    expect(cluster.appliedData(1)).toEqual(['kept']);
    expect(cluster.raft(1).logEntries(2, cluster.raft(1).status().lastIndex + 1).map((e) => e.term)).toEqual([2, 3, 3]);
    // The 20 divergent entries were skipped in one rejection, not one per entry.
    const rejections = messagesBefore.filter((m) => m.kind === 'AppendResponse' && m.reject);
    expect(rejections.length).toBeLessThanOrEqual(2);
  });
});

describe('Raft paper §5.4 safety', () => {
  it('§5.4.1: a voter denies its vote to a candidate whose log is less up-to-date', () => {
    const cluster = threeNodes();
    cluster.elect(1);
    cluster.raft(1).propose(bytes('a'));
    cluster.isolate(3);
    cluster.stabilize();
    cluster.heal();
    // 3 lacks entry 2: its campaign must fail; 2 must be able to win.
    cluster.raft(3).campaign();
    cluster.stabilize();
    expect(cluster.raft(3).status().role).not.toBe('leader');
    cluster.elect(2);
    expect(cluster.appliedData(2)).toEqual(['a']);
  });

  it('§5.4.2: a leader never commits an entry from a previous term by counting replicas (Figure 8)', () => {
    const cluster = threeNodes();
    cluster.elect(1); // term 2, index 2
    cluster.isolate(1);
    cluster.raft(1).propose(bytes('old')); // index 3, term 2, only on node 1
    cluster.stabilize();
    cluster.heal();
    // Node 1 loses leadership to a term-3 election it does not win, then wins term 4.
    cluster.raft(2).campaign();
    cluster.processReady(2);
    cluster.deliver(1);
    cluster.inFlight = [];
    cluster.processReady(1);
    cluster.inFlight = [];
    cluster.raft(2).step({ kind: 'VoteResponse', groupId: testGroupId, from: 3, to: 2, term: 3, reject: true });
    cluster.raft(2).step({ kind: 'VoteResponse', groupId: testGroupId, from: 1, to: 2, term: 3, reject: true });
    cluster.stabilize();
    expect(cluster.leaders()).toEqual([]);
    // Replicate only entries of term <= 2 from the new leader: the old entry reaches a majority.
    cluster.filter = (m) => (m.kind === 'Append' ? { ...m, entries: m.entries.filter((e) => e.term <= 2) } : m);
    cluster.raft(1).campaign();
    cluster.stabilize();
    expect(cluster.raft(1).status()).toMatchObject({ role: 'leader', term: 4 });
    expect(cluster.raft(2).logTerm(3)).toBe(2);
    expect(cluster.raft(1).status().commit).toBe(2);
    expect(cluster.appliedData(1)).toEqual([]);
    // Once the term-4 entry reaches a majority, it commits and the old entry with it.
    cluster.filter = undefined;
    cluster.tick(1);
    cluster.stabilize();
    expect(cluster.raft(1).status().commit).toBe(4);
    expect(cluster.appliedData(2)).toEqual(['old']);
  });
});

describe('Raft paper §5.5 follower and candidate crashes', () => {
  it('§5.5: requests to a crashed follower are retried until it restarts, then it catches up', () => {
    const cluster = threeNodes();
    cluster.elect(1);
    cluster.isolate(3);
    for (const word of ['a', 'b', 'c']) cluster.raft(1).propose(bytes(word));
    cluster.stabilize();
    cluster.restart(3);
    cluster.heal();
    for (let i = 0; i < 3; i++) {
      cluster.tick(1);
      cluster.stabilize();
    }
    expect(cluster.appliedData(3)).toEqual(['a', 'b', 'c']);
  });

  it('§5.5: a restarted node keeps its persisted term, vote and log, and loses only unpersisted state', () => {
    const cluster = threeNodes();
    cluster.elect(1);
    cluster.raft(1).propose(bytes('durable'));
    cluster.stabilize();
    cluster.raft(1).propose(bytes('volatile')); // never handed to the host
    cluster.restart(1);
    const status = cluster.raft(1).status();
    expect(status).toMatchObject({ term: 2, vote: 1, commit: 3, lastIndex: 3, role: 'follower' });
    cluster.stabilize();
    expect(cluster.appliedData(1)).toEqual(['durable']);
  });

  it('§5.5: Raft RPCs are idempotent: a duplicated Append changes nothing', () => {
    const cluster = threeNodes();
    cluster.elect(1);
    cluster.raft(1).propose(bytes('once'));
    cluster.processReady(1);
    const copy = [...cluster.inFlight];
    cluster.inFlight.push(...copy);
    cluster.stabilize();
    expect(cluster.appliedData(2)).toEqual(['once']);
    expect(cluster.raft(2).status().lastIndex).toBe(3);
  });
});

describe('Raft paper §6 cluster membership changes', () => {
  it('§6: joint consensus needs both majorities for commitment, then leaves automatically', () => {
    const cluster = threeNodes();
    cluster.elect(1);
    for (const id of [4, 5, 6]) cluster.addEmptyNode(id);
    const result = cluster.raft(1).proposeConfChange({
      transition: 'joint-auto',
      changes: [
        { op: 'remove', nodeId: 2 },
        { op: 'remove', nodeId: 3 },
        { op: 'add-voter', nodeId: 4 },
        { op: 'add-voter', nodeId: 5 },
        { op: 'add-voter', nodeId: 6 },
      ],
    });
    expect(result.ok).toBe(true);
    cluster.stabilize();
    // The joint config was entered and left: C_new alone now.
    expect(cluster.raft(1).status().config).toMatchObject({ voters: [1, 4, 5, 6], votersOutgoing: [] });
    // In C_new, 4/5/6 without 1 form a majority: cut 1 off and a proposal still commits.
    cluster.isolate(1);
    cluster.elect(4);
    cluster.raft(4).propose(bytes('new'));
    cluster.stabilize();
    expect(cluster.appliedData(5)).toEqual(['new']);
  });

  it('§6: in C_old,new neither the old nor the new majority alone can commit', () => {
    const cluster = threeNodes();
    cluster.elect(1);
    cluster.addEmptyNode(4);
    cluster.addEmptyNode(5);
    cluster.raft(1).proposeConfChange({
      transition: 'joint-explicit',
      changes: [
        { op: 'remove', nodeId: 3 },
        { op: 'add-voter', nodeId: 4 },
        { op: 'add-voter', nodeId: 5 },
      ],
    });
    cluster.stabilize();
    expect(cluster.raft(1).status().config).toMatchObject({ voters: [1, 2, 4, 5], votersOutgoing: [1, 2, 3] });
    // Old majority {1,2} present, new majority {1,2,4,5} needs 3 of 4: cut 4 and 5.
    cluster.partition([1, 2, 3], [4, 5]);
    cluster.raft(1).propose(bytes('blocked'));
    cluster.stabilize();
    const commitBefore = cluster.raft(1).status().commit;
    expect(cluster.raft(1).logTerm(commitBefore + 1)).toBe(cluster.raft(1).status().term);
    expect(cluster.appliedData(1)).toEqual([]);
    cluster.heal();
    cluster.tick(1);
    cluster.stabilize();
    expect(cluster.appliedData(1)).toEqual(['blocked']);
    // Leave explicitly.
    expect(cluster.raft(1).proposeConfChange({ transition: 'auto', changes: [] }).ok).toBe(true);
    cluster.stabilize();
    expect(cluster.raft(1).status().config).toMatchObject({ voters: [1, 2, 4, 5], votersOutgoing: [] });
  });

  it('§6: a removed leader steps down once the change commits and leadership moves', () => {
    const cluster = threeNodes({ ...plain, checkQuorum: true, preVote: true });
    cluster.elect(1);
    expect(cluster.raft(1).proposeConfChange({ transition: 'auto', changes: [{ op: 'remove', nodeId: 1 }] }).ok).toBe(true);
    cluster.stabilize();
    expect(cluster.raft(1).status().role).toBe('follower');
    const leaders = cluster.leaders();
    expect(leaders).toHaveLength(1);
    const leader = leaders[0] ?? 0;
    expect([2, 3]).toContain(leader);
    expect(cluster.raft(leader).propose(bytes('after')).ok).toBe(true);
    cluster.stabilize();
    expect(cluster.appliedData(2)).toEqual(['after']);
    expect(cluster.appliedData(3)).toEqual(['after']);
  });
});

describe('RaftNode basics', () => {
  it('rejects proposals on followers with the known leader', () => {
    const cluster = threeNodes();
    cluster.elect(1);
    expect(cluster.raft(2).propose(bytes('x'))).toEqual({ ok: false, reason: 'not-leader', leaderId: 1 });
  });

  it('a single node elects itself and commits after persisting', () => {
    const storage = new MemoryRaftStorage(simpleConfState([1]));
    const raft = new RaftNode({ id: 1, groupId: 9, storage, rng: zeroRng });
    raft.campaign();
    expect(raft.status().role).toBe('leader');
    raft.propose(bytes('solo'));
    const first = raft.ready();
    expect(first.entries).toHaveLength(2);
    expect(first.committedEntries).toHaveLength(0);
    storage.append(first.entries);
    if (first.hardState !== undefined) storage.setHardState(first.hardState);
    raft.advance(first);
    const second = raft.ready();
    expect(second.committedEntries.map((e) => e.index)).toEqual([2, 3]);
    expect(second.hardState?.commit).toBe(3);
    raft.advance(second);
    expect(raft.hasReady()).toBe(false);
  });

  it('a learner receives the log but never campaigns or counts towards commit', () => {
    const cluster = new TestCluster(plain);
    cluster.addNodes([1, 2, 3], [1, 2], [3]);
    cluster.tick(3, 50);
    expect(cluster.raft(3).status().role).toBe('follower');
    cluster.elect(1);
    cluster.isolate(2);
    cluster.raft(1).propose(bytes('needs-2'));
    cluster.stabilize();
    expect(cluster.appliedData(1)).toEqual([]);
    expect(cluster.raft(3).status().lastIndex).toBe(3);
    cluster.heal();
    cluster.tick(1);
    cluster.stabilize();
    expect(cluster.appliedData(3)).toEqual(['needs-2']);
  });

  it('compactableIndex keeps entries an active follower still needs', () => {
    const cluster = threeNodes();
    cluster.elect(1);
    cluster.isolate(3);
    cluster.raft(1).propose(bytes('a'));
    cluster.stabilize();
    // 3 still counts as recently active (no CheckQuorum round passed): keep what it lacks.
    expect(cluster.raft(1).compactableIndex()).toBe(2);
    expect(cluster.raft(2).compactableIndex()).toBe(3);
  });

  it('refuses a message for another group or node (a routing bug)', () => {
    const cluster = threeNodes();
    expect(() => cluster.raft(1).step({ kind: 'TimeoutNow', groupId: 99, from: 2, to: 1, term: 1 })).toThrow(/group/);
    expect(() => cluster.raft(1).step({ kind: 'TimeoutNow', groupId: testGroupId, from: 2, to: 3, term: 1 })).toThrow(/stepped into/);
  });

  it('refuses a second conf change while one is pending and a read without a leader', () => {
    const cluster = threeNodes();
    expect(cluster.raft(1).readIndex('r')).toEqual({ ok: false, reason: 'no-leader' });
    cluster.elect(1);
    cluster.addEmptyNode(4);
    expect(cluster.raft(1).proposeConfChange({ transition: 'auto', changes: [{ op: 'add-learner', nodeId: 4 }] }).ok).toBe(true);
    expect(cluster.raft(1).proposeConfChange({ transition: 'auto', changes: [{ op: 'add-voter', nodeId: 4 }] })).toMatchObject({ ok: false, reason: 'conf-change-pending' });
    cluster.stabilize();
    expect(cluster.raft(1).proposeConfChange({ transition: 'auto', changes: [{ op: 'add-voter', nodeId: 4 }] }).ok).toBe(true);
    expect(cluster.raft(1).transferLeadership(9)).toEqual({ ok: false, reason: 'not-a-voter' });
  });

  it('lease reads: a restarted follower grants no vote while a lease it acknowledged may still run', () => {
    // Node 1 times out after 10 ticks, the others after 15.
    const cluster = new TestCluster({ ...plain, checkQuorum: true, readOnlyOption: 'lease-based' }, (id) => ({ next: () => (id === 1 ? 0 : 0.5) }));
    cluster.addNodes([1, 2, 3, 4, 5], [1, 2, 3, 4, 5]);
    cluster.tickAll(10); // past every node's start-up hold-off; 1 campaigns
    cluster.stabilize();
    expect(cluster.leaders()).toEqual([1]);
    cluster.partition([1], [4, 5]);
    cluster.tick(1);
    cluster.stabilize(); // heartbeat acknowledged by 2 and 3: a quorum with 1 itself
    expect(cluster.raft(1).leaseValid()).toBe(true);
    cluster.isolate(1);
    cluster.restart(2);
    cluster.tick(5, 12); // 5 stops treating 1 as a live leader (but does not campaign)
    cluster.raft(4).campaign();
    cluster.stabilize();
    // 3 is sticky to 1, and 2 must not forget that it acknowledged 1's lease.
    expect(cluster.raft(4).status().role).not.toBe('leader');
    expect(cluster.raft(1).leaseValid()).toBe(true);
  });
});
