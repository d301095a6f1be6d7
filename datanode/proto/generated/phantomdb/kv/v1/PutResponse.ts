// Original file: datanode/proto/kv.proto

import type { Long } from '@grpc/proto-loader';

export interface PutResponse {
  /**
   * The Raft index at which the write was applied.
   */
  'appliedIndex'?: (number | string | Long);
}

export interface PutResponse__Output {
  /**
   * The Raft index at which the write was applied.
   */
  'appliedIndex': (string);
}
