// Original file: datanode/proto/phantomdb.proto

import type { Long } from '@grpc/proto-loader';

export interface SnapshotHeader {
  'clusterId'?: (string);
  'fromNodeId'?: (number | string | Long);
  'toNodeId'?: (number | string | Long);
  'protocolVersion'?: (number);
  'groupId'?: (number | string | Long);
  'snapshotIndex'?: (number | string | Long);
  'snapshotTerm'?: (number | string | Long);
  /**
   * Opaque name of the snapshot on the sender (SnapshotMeta.reference).
   */
  'reference'?: (string);
}

export interface SnapshotHeader__Output {
  'clusterId': (string);
  'fromNodeId': (string);
  'toNodeId': (string);
  'protocolVersion': (number);
  'groupId': (string);
  'snapshotIndex': (string);
  'snapshotTerm': (string);
  /**
   * Opaque name of the snapshot on the sender (SnapshotMeta.reference).
   */
  'reference': (string);
}
