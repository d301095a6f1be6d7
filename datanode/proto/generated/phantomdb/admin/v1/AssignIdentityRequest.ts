// Original file: datanode/proto/admin.proto

import type { Long } from '@grpc/proto-loader';

export interface AssignIdentityRequest {
  'nodeId'?: (number | string | Long);
}

export interface AssignIdentityRequest__Output {
  'nodeId': (string);
}
