// Original file: datanode/proto/phantomdb.proto

import type { Long } from '@grpc/proto-loader';

export interface SnapshotAck {
  'bytesReceived'?: (number | string | Long);
}

export interface SnapshotAck__Output {
  'bytesReceived': (string);
}
