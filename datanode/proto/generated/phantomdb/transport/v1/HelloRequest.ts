// Original file: datanode/proto/phantomdb.proto

import type { ProtocolVersionRange as _phantomdb_transport_v1_ProtocolVersionRange, ProtocolVersionRange__Output as _phantomdb_transport_v1_ProtocolVersionRange__Output } from '../../../phantomdb/transport/v1/ProtocolVersionRange.ts';
import type { Long } from '@grpc/proto-loader';

export interface HelloRequest {
  'clusterId'?: (string);
  'nodeId'?: (number | string | Long);
  'protocolVersions'?: (_phantomdb_transport_v1_ProtocolVersionRange | null);
  /**
   * The node id the caller believes it is talking to (0 when unknown).
   */
  'expectedNodeId'?: (number | string | Long);
  /**
   * The caller's binary version and the oldest cluster version it can run (empty from builds
   * before cluster versions). Refused with "cluster-version-mismatch" when the receiver knows a
   * cluster version outside that range.
   */
  'binaryVersion'?: (string);
  'clusterVersionMin'?: (string);
}

export interface HelloRequest__Output {
  'clusterId': (string);
  'nodeId': (string);
  'protocolVersions': (_phantomdb_transport_v1_ProtocolVersionRange__Output | null);
  /**
   * The node id the caller believes it is talking to (0 when unknown).
   */
  'expectedNodeId': (string);
  /**
   * The caller's binary version and the oldest cluster version it can run (empty from builds
   * before cluster versions). Refused with "cluster-version-mismatch" when the receiver knows a
   * cluster version outside that range.
   */
  'binaryVersion': (string);
  'clusterVersionMin': (string);
}
