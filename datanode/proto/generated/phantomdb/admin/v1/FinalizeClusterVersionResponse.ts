// Original file: datanode/proto/admin.proto


export interface FinalizeClusterVersionResponse {
  /**
   * The cluster version after the call.
   */
  'clusterVersion'?: (string);
  /**
   * The cluster version before it.
   */
  'previousVersion'?: (string);
}

export interface FinalizeClusterVersionResponse__Output {
  /**
   * The cluster version after the call.
   */
  'clusterVersion': (string);
  /**
   * The cluster version before it.
   */
  'previousVersion': (string);
}
