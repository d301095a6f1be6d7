// Original file: datanode/proto/admin.proto

import type { RaftRole as _phantomdb_admin_v1_RaftRole, RaftRole__Output as _phantomdb_admin_v1_RaftRole__Output } from '../../../phantomdb/admin/v1/RaftRole.ts';
import type { Long } from '@grpc/proto-loader';

export interface RaftProgress {
  'role'?: (_phantomdb_admin_v1_RaftRole);
  'term'?: (number | string | Long);
  /**
   * The highest log index the leader knows the node has (the leader's own last index for itself).
   */
  'matchIndex'?: (number | string | Long);
  'appliedIndex'?: (number | string | Long);
  /**
   * Whether the node is close enough to the leader's log to be promoted or counted as healthy.
   */
  'caughtUp'?: (boolean);
}

export interface RaftProgress__Output {
  'role': (_phantomdb_admin_v1_RaftRole__Output);
  'term': (string);
  /**
   * The highest log index the leader knows the node has (the leader's own last index for itself).
   */
  'matchIndex': (string);
  'appliedIndex': (string);
  /**
   * Whether the node is close enough to the leader's log to be promoted or counted as healthy.
   */
  'caughtUp': (boolean);
}
