// Original file: datanode/proto/admin.proto

import type { Long } from '@grpc/proto-loader';

export interface DrainProgress {
  'nodeId'?: (number | string | Long);
  'leasesRemaining'?: (number);
  'done'?: (boolean);
}

export interface DrainProgress__Output {
  'nodeId': (string);
  'leasesRemaining': (number);
  'done': (boolean);
}
