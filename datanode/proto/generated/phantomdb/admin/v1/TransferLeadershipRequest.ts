// Original file: datanode/proto/admin.proto

import type { Long } from '@grpc/proto-loader';

export interface TransferLeadershipRequest {
  /**
   * 0: any caught-up voter other than the current leader.
   */
  'targetNodeId'?: (number | string | Long);
}

export interface TransferLeadershipRequest__Output {
  /**
   * 0: any caught-up voter other than the current leader.
   */
  'targetNodeId': (string);
}
