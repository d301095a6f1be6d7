// Original file: datanode/proto/admin.proto

import type { Long } from '@grpc/proto-loader';

export interface NodeLoadChange {
  'nodeId'?: (number | string | Long);
  'replicasBefore'?: (number);
  'replicasAfter'?: (number);
  'leasesBefore'?: (number);
  'leasesAfter'?: (number);
  'bytesBefore'?: (number | string | Long);
  'bytesAfter'?: (number | string | Long);
}

export interface NodeLoadChange__Output {
  'nodeId': (string);
  'replicasBefore': (number);
  'replicasAfter': (number);
  'leasesBefore': (number);
  'leasesAfter': (number);
  'bytesBefore': (string);
  'bytesAfter': (string);
}
