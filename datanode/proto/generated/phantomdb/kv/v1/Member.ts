// Original file: datanode/proto/kv.proto

import type { Long } from '@grpc/proto-loader';

export interface Member {
  'nodeId'?: (number | string | Long);
  'address'?: (string);
}

export interface Member__Output {
  'nodeId': (string);
  'address': (string);
}
