// A node status the metrics tests render: node 2 leads, node 1 lags, node 3 is caught up.
import type { NodeStatus } from '../http/server.ts';

export const leaderStatus: NodeStatus = {
  nodeId: 2,
  clusterId: 'c1',
  address: '127.0.0.1:1',
  raftAddress: '127.0.0.1:2',
  role: 'leader',
  term: 7,
  leaderId: 2,
  leaderAddress: '127.0.0.1:1',
  commitIndex: 120,
  appliedIndex: 115,
  lastIndex: 130,
  voters: [1, 2, 3],
  learners: [],
  peers: [
    { id: 1, address: '', raftAddress: '', learner: false, match: 100, state: 'replicate' },
    { id: 3, address: '', raftAddress: '', learner: false, match: 130, state: 'replicate' },
  ],
};
