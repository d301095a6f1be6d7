// Original file: datanode/proto/phantomdb.proto

import type { ProtocolVersionRange as _phantomdb_transport_v1_ProtocolVersionRange, ProtocolVersionRange__Output as _phantomdb_transport_v1_ProtocolVersionRange__Output } from '../../../phantomdb/transport/v1/ProtocolVersionRange.ts';
import type { Long } from '@grpc/proto-loader';

export interface HelloResponse {
  'accepted'?: (boolean);
  /**
   * A stable reason when refused: "cluster-mismatch", "version-mismatch", "wrong-node",
   * "cluster-version-mismatch" (the caller's binary cannot run this cluster's version).
   */
  'rejectReason'?: (string);
  'rejectDetail'?: (string);
  'clusterId'?: (string);
  'nodeId'?: (number | string | Long);
  'protocolVersions'?: (_phantomdb_transport_v1_ProtocolVersionRange | null);
  /**
   * The version both sides will use (0 when refused).
   */
  'protocolVersion'?: (number);
  /**
   * The answering node's binary version and the oldest cluster version it can run.
   */
  'binaryVersion'?: (string);
  'clusterVersionMin'?: (string);
}

export interface HelloResponse__Output {
  'accepted': (boolean);
  /**
   * A stable reason when refused: "cluster-mismatch", "version-mismatch", "wrong-node",
   * "cluster-version-mismatch" (the caller's binary cannot run this cluster's version).
   */
  'rejectReason': (string);
  'rejectDetail': (string);
  'clusterId': (string);
  'nodeId': (string);
  'protocolVersions': (_phantomdb_transport_v1_ProtocolVersionRange__Output | null);
  /**
   * The version both sides will use (0 when refused).
   */
  'protocolVersion': (number);
  /**
   * The answering node's binary version and the oldest cluster version it can run.
   */
  'binaryVersion': (string);
  'clusterVersionMin': (string);
}
