// Original file: datanode/proto/admin.proto


export interface DeleteBackupResponse {
  /**
   * How many objects were deleted (0: none were left).
   */
  'objectsDeleted'?: (number);
}

export interface DeleteBackupResponse__Output {
  /**
   * How many objects were deleted (0: none were left).
   */
  'objectsDeleted': (number);
}
