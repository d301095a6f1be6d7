// Original file: datanode/proto/admin.proto

import type { Long } from '@grpc/proto-loader';

export interface PromoteRequest {
  'nodeId'?: (number | string | Long);
}

export interface PromoteRequest__Output {
  'nodeId': (string);
}
