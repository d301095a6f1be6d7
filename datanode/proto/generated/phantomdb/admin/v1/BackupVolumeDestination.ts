// Original file: datanode/proto/admin.proto


export interface BackupVolumeDestination {
  /**
   * A directory every data node can write (the coordinating node writes every object).
   */
  'path'?: (string);
}

export interface BackupVolumeDestination__Output {
  /**
   * A directory every data node can write (the coordinating node writes every object).
   */
  'path': (string);
}
