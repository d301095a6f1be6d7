// Original file: datanode/proto/admin.proto

export const Membership = {
  MEMBERSHIP_UNSPECIFIED: 'MEMBERSHIP_UNSPECIFIED',
  /**
   * Receives the log, does not vote.
   */
  LEARNER: 'LEARNER',
  VOTER: 'VOTER',
  /**
   * Replicas and leases are being moved away.
   */
  DECOMMISSIONING: 'DECOMMISSIONING',
  /**
   * Holds nothing and is no longer a member; its process may be stopped.
   */
  DECOMMISSIONED: 'DECOMMISSIONED',
} as const;

export type Membership =
  | 'MEMBERSHIP_UNSPECIFIED'
  | 0
  /**
   * Receives the log, does not vote.
   */
  | 'LEARNER'
  | 1
  | 'VOTER'
  | 2
  /**
   * Replicas and leases are being moved away.
   */
  | 'DECOMMISSIONING'
  | 3
  /**
   * Holds nothing and is no longer a member; its process may be stopped.
   */
  | 'DECOMMISSIONED'
  | 4

export type Membership__Output = typeof Membership[keyof typeof Membership]
