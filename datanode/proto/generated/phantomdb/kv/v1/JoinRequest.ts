// Original file: datanode/proto/kv.proto

import type { Long } from '@grpc/proto-loader';

export interface JoinRequest {
  'clusterId'?: (string);
  'nodeId'?: (number | string | Long);
  /**
   * The joining node's Raft transport address (host:port) as the other nodes should dial it.
   */
  'address'?: (string);
  /**
   * The joining node's KV API address (host:port).
   */
  'kvAddress'?: (string);
  /**
   * The joining node's binary version and the oldest cluster version it can run; the leader
   * refuses the join (PH_CLUSTER_VERSION_UNSUPPORTED) when the cluster version is outside that
   * range. Empty from builds before cluster versions: not checked.
   */
  'binaryVersion'?: (string);
  'clusterVersionMin'?: (string);
}

export interface JoinRequest__Output {
  'clusterId': (string);
  'nodeId': (string);
  /**
   * The joining node's Raft transport address (host:port) as the other nodes should dial it.
   */
  'address': (string);
  /**
   * The joining node's KV API address (host:port).
   */
  'kvAddress': (string);
  /**
   * The joining node's binary version and the oldest cluster version it can run; the leader
   * refuses the join (PH_CLUSTER_VERSION_UNSUPPORTED) when the cluster version is outside that
   * range. Empty from builds before cluster versions: not checked.
   */
  'binaryVersion': (string);
  'clusterVersionMin': (string);
}
