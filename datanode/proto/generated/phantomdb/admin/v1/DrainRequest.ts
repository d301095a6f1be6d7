// Original file: datanode/proto/admin.proto

import type { Long } from '@grpc/proto-loader';

export interface DrainRequest {
  'nodeId'?: (number | string | Long);
}

export interface DrainRequest__Output {
  'nodeId': (string);
}
