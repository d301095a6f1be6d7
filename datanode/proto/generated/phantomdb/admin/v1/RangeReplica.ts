// Original file: datanode/proto/admin.proto

import type { Long } from '@grpc/proto-loader';

export interface RangeReplica {
  'nodeId'?: (number | string | Long);
  'voter'?: (boolean);
}

export interface RangeReplica__Output {
  'nodeId': (string);
  'voter': (boolean);
}
