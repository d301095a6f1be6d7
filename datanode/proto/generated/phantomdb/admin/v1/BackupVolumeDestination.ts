// Original file: datanode/proto/admin.proto


export interface BackupVolumeDestination {
  /**
   * A directory every data node can reach at this path (each range's leader writes its files).
   */
  'path'?: (string);
}

export interface BackupVolumeDestination__Output {
  /**
   * A directory every data node can reach at this path (each range's leader writes its files).
   */
  'path': (string);
}
