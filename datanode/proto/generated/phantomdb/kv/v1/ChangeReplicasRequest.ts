// Original file: datanode/proto/kv.proto

import type { Long } from '@grpc/proto-loader';

export interface ChangeReplicasRequest {
  'rangeId'?: (number | string | Long);
  /**
   * add-learner | promote | demote | remove | transfer-lease | caught-up
   */
  'op'?: (string);
  'nodeId'?: (number | string | Long);
}

export interface ChangeReplicasRequest__Output {
  'rangeId': (string);
  /**
   * add-learner | promote | demote | remove | transfer-lease | caught-up
   */
  'op': (string);
  'nodeId': (string);
}
