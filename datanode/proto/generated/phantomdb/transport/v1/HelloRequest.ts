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
}

export interface HelloRequest__Output {
  'clusterId': (string);
  'nodeId': (string);
  'protocolVersions': (_phantomdb_transport_v1_ProtocolVersionRange__Output | null);
  /**
   * The node id the caller believes it is talking to (0 when unknown).
   */
  'expectedNodeId': (string);
}
