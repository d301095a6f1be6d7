// Original file: datanode/proto/admin.proto

import type { Long } from '@grpc/proto-loader';

export interface TransferLeadershipResponse {
  'leaderId'?: (number | string | Long);
}

export interface TransferLeadershipResponse__Output {
  'leaderId': (string);
}
