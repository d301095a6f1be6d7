// Original file: datanode/proto/admin.proto

import type { Long } from '@grpc/proto-loader';

export interface DecommissionRequest {
  'nodeId'?: (number | string | Long);
}

export interface DecommissionRequest__Output {
  'nodeId': (string);
}
