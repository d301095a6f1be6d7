// Original file: datanode/proto/admin.proto

import type { Long } from '@grpc/proto-loader';

export interface AddLearnerRequest {
  'nodeId'?: (number | string | Long);
  /**
   * The node's gRPC address as the other nodes should dial it.
   */
  'address'?: (string);
}

export interface AddLearnerRequest__Output {
  'nodeId': (string);
  /**
   * The node's gRPC address as the other nodes should dial it.
   */
  'address': (string);
}
