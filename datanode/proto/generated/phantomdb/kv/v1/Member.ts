// Original file: datanode/proto/kv.proto

import type { Long } from '@grpc/proto-loader';

export interface Member {
  'nodeId'?: (number | string | Long);
  /**
   * Raft transport address.
   */
  'address'?: (string);
  /**
   * KV API address ('' when not known yet).
   */
  'kvAddress'?: (string);
}

export interface Member__Output {
  'nodeId': (string);
  /**
   * Raft transport address.
   */
  'address': (string);
  /**
   * KV API address ('' when not known yet).
   */
  'kvAddress': (string);
}
