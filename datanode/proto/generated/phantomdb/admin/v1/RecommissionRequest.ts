// Original file: datanode/proto/admin.proto

import type { Long } from '@grpc/proto-loader';

export interface RecommissionRequest {
  'nodeId'?: (number | string | Long);
}

export interface RecommissionRequest__Output {
  'nodeId': (string);
}
