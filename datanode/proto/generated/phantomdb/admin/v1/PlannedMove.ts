// Original file: datanode/proto/admin.proto

import type { Long } from '@grpc/proto-loader';

export interface PlannedMove {
  /**
   * AddLearner | PromoteLearner | DemoteVoter | RemoveReplica | TransferLease
   */
  'kind'?: (string);
  'rangeId'?: (number | string | Long);
  /**
   * The node the replica is added to, promoted, demoted or removed on; the lease's new holder.
   */
  'nodeId'?: (number | string | Long);
  /**
   * Bytes an AddLearner copies (0 for the other kinds).
   */
  'bytes'?: (number | string | Long);
  'reason'?: (string);
}

export interface PlannedMove__Output {
  /**
   * AddLearner | PromoteLearner | DemoteVoter | RemoveReplica | TransferLease
   */
  'kind': (string);
  'rangeId': (string);
  /**
   * The node the replica is added to, promoted, demoted or removed on; the lease's new holder.
   */
  'nodeId': (string);
  /**
   * Bytes an AddLearner copies (0 for the other kinds).
   */
  'bytes': (string);
  'reason': (string);
}
