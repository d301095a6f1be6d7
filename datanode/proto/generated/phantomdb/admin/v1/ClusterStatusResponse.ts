// Original file: datanode/proto/admin.proto

import type { NodeStatus as _phantomdb_admin_v1_NodeStatus, NodeStatus__Output as _phantomdb_admin_v1_NodeStatus__Output } from '../../../phantomdb/admin/v1/NodeStatus.ts';
import type { Long } from '@grpc/proto-loader';

export interface ClusterStatusResponse {
  'clusterId'?: (string);
  'leaderId'?: (number | string | Long);
  'nodes'?: (_phantomdb_admin_v1_NodeStatus)[];
  /**
   * Raft groups (one per range, plus system groups) and ranges of user data.
   */
  'groups'?: (number);
  'ranges'?: (number);
  /**
   * Ranges with fewer live replicas than the replication factor.
   */
  'underReplicatedRanges'?: (number);
  /**
   * Ranges without a live majority (no writes possible).
   */
  'unavailableRanges'?: (number);
  'replicationFactor'?: (number);
  /**
   * The highest node id the cluster has recorded (members, removed nodes, address book); a new
   * node's id must be greater (ids are never reused).
   */
  'highestNodeId'?: (number | string | Long);
  /**
   * The cluster version (replicated in the meta range): the formats every node may use.
   */
  'clusterVersion'?: (string);
}

export interface ClusterStatusResponse__Output {
  'clusterId': (string);
  'leaderId': (string);
  'nodes': (_phantomdb_admin_v1_NodeStatus__Output)[];
  /**
   * Raft groups (one per range, plus system groups) and ranges of user data.
   */
  'groups': (number);
  'ranges': (number);
  /**
   * Ranges with fewer live replicas than the replication factor.
   */
  'underReplicatedRanges': (number);
  /**
   * Ranges without a live majority (no writes possible).
   */
  'unavailableRanges': (number);
  'replicationFactor': (number);
  /**
   * The highest node id the cluster has recorded (members, removed nodes, address book); a new
   * node's id must be greater (ids are never reused).
   */
  'highestNodeId': (string);
  /**
   * The cluster version (replicated in the meta range): the formats every node may use.
   */
  'clusterVersion': (string);
}
