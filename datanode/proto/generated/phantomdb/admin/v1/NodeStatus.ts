// Original file: datanode/proto/admin.proto

import type { Membership as _phantomdb_admin_v1_Membership, Membership__Output as _phantomdb_admin_v1_Membership__Output } from '../../../phantomdb/admin/v1/Membership.ts';
import type { Liveness as _phantomdb_admin_v1_Liveness, Liveness__Output as _phantomdb_admin_v1_Liveness__Output } from '../../../phantomdb/admin/v1/Liveness.ts';
import type { RaftProgress as _phantomdb_admin_v1_RaftProgress, RaftProgress__Output as _phantomdb_admin_v1_RaftProgress__Output } from '../../../phantomdb/admin/v1/RaftProgress.ts';
import type { Long } from '@grpc/proto-loader';

export interface NodeStatus {
  'nodeId'?: (number | string | Long);
  'address'?: (string);
  'membership'?: (_phantomdb_admin_v1_Membership);
  'liveness'?: (_phantomdb_admin_v1_Liveness);
  'raft'?: (_phantomdb_admin_v1_RaftProgress | null);
  /**
   * Range replicas on the node.
   */
  'replicas'?: (number);
  /**
   * Range leases (leaderships) held by the node.
   */
  'leases'?: (number);
  /**
   * The node's binary version as the leader learned it from the transport handshake (empty:
   * not known, e.g. the node is down).
   */
  'version'?: (string);
  'locality'?: (string);
  /**
   * The oldest cluster version the node's binary can run.
   */
  'clusterVersionMin'?: (string);
}

export interface NodeStatus__Output {
  'nodeId': (string);
  'address': (string);
  'membership': (_phantomdb_admin_v1_Membership__Output);
  'liveness': (_phantomdb_admin_v1_Liveness__Output);
  'raft': (_phantomdb_admin_v1_RaftProgress__Output | null);
  /**
   * Range replicas on the node.
   */
  'replicas': (number);
  /**
   * Range leases (leaderships) held by the node.
   */
  'leases': (number);
  /**
   * The node's binary version as the leader learned it from the transport handshake (empty:
   * not known, e.g. the node is down).
   */
  'version': (string);
  'locality': (string);
  /**
   * The oldest cluster version the node's binary can run.
   */
  'clusterVersionMin': (string);
}
