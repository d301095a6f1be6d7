// Original file: datanode/proto/admin.proto

export const RaftRole = {
  RAFT_ROLE_UNSPECIFIED: 'RAFT_ROLE_UNSPECIFIED',
  LEADER: 'LEADER',
  FOLLOWER: 'FOLLOWER',
  CANDIDATE: 'CANDIDATE',
  LEARNER_ROLE: 'LEARNER_ROLE',
} as const;

export type RaftRole =
  | 'RAFT_ROLE_UNSPECIFIED'
  | 0
  | 'LEADER'
  | 1
  | 'FOLLOWER'
  | 2
  | 'CANDIDATE'
  | 3
  | 'LEARNER_ROLE'
  | 4

export type RaftRole__Output = typeof RaftRole[keyof typeof RaftRole]
