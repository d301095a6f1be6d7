// Original file: datanode/proto/admin.proto

import type { Long } from '@grpc/proto-loader';

export interface NodeInfoResponse {
  'nodeId'?: (number | string | Long);
  'clusterId'?: (string);
  /**
   * The gRPC address the node advertises to its peers (host:port).
   */
  'address'?: (string);
  /**
   * Whether the node belongs to a cluster yet (bootstrapped it, or has been added to one).
   */
  'initialized'?: (boolean);
  /**
   * The leader this node knows of (0 when none).
   */
  'leaderId'?: (number | string | Long);
  'version'?: (string);
  'locality'?: (string);
  /**
   * The oldest cluster version this node's binary can run (it runs up to `version`).
   */
  'clusterVersionMin'?: (string);
  /**
   * The cluster version as this node knows it (empty before it has the meta range's state).
   */
  'clusterVersion'?: (string);
}

export interface NodeInfoResponse__Output {
  'nodeId': (string);
  'clusterId': (string);
  /**
   * The gRPC address the node advertises to its peers (host:port).
   */
  'address': (string);
  /**
   * Whether the node belongs to a cluster yet (bootstrapped it, or has been added to one).
   */
  'initialized': (boolean);
  /**
   * The leader this node knows of (0 when none).
   */
  'leaderId': (string);
  'version': (string);
  'locality': (string);
  /**
   * The oldest cluster version this node's binary can run (it runs up to `version`).
   */
  'clusterVersionMin': (string);
  /**
   * The cluster version as this node knows it (empty before it has the meta range's state).
   */
  'clusterVersion': (string);
}
