// Original file: datanode/proto/admin.proto


export interface FinalizeClusterVersionRequest {
  /**
   * MAJOR.MINOR.PATCH; empty: the oldest binary version among the members.
   */
  'targetVersion'?: (string);
}

export interface FinalizeClusterVersionRequest__Output {
  /**
   * MAJOR.MINOR.PATCH; empty: the oldest binary version among the members.
   */
  'targetVersion': (string);
}
