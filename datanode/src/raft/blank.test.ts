// isBlank: the cheap check the store makes on every incoming message batch must agree with what
// status() says about a replica that knows neither a log entry nor a member.
import { describe, expect, it } from 'vitest';
import type { RaftNode } from './raft.ts';
import { TestCluster } from './testkit.ts';

const blankByStatus = (raft: RaftNode): boolean => {
  const status = raft.status();
  return status.lastIndex === 0 && status.config.voters.length === 0 && status.config.learners.length === 0;
};

describe('isBlank', () => {
  it('is true for a replica created empty until it learns the group from its leader, and false for members', () => {
    const c = new TestCluster({ checkQuorum: true, preVote: true, electionTimeoutTicks: 10, heartbeatTimeoutTicks: 1 });
    c.addNodes([1, 2, 3], [1, 2, 3]);
    c.addEmptyNode(4);
    for (const id of [1, 2, 3]) expect(c.raft(id).isBlank(), `node ${id}`).toBe(false);
    expect(c.raft(4).isBlank()).toBe(true);
    expect(blankByStatus(c.raft(4))).toBe(true);
    c.elect(1);
    c.raft(1).proposeConfChange({ transition: 'auto', changes: [{ op: 'add-learner', nodeId: 4 }] });
    c.stabilize();
    expect(c.raft(4).isBlank()).toBe(false);
    for (const id of [1, 2, 3, 4]) expect(c.raft(id).isBlank(), `node ${id}`).toBe(blankByStatus(c.raft(id)));
  });
});
